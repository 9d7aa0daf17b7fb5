/* gst-metered
 * Copyright (C) 2026 gst-metered authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * This library is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Library General Public License for more details.
 *
 * You should have received a copy of the GNU Library General Public
 * License along with this library; if not, see <https://www.gnu.org/licenses/>.
 */

/*
 * metered_ice_servers_from_metadata on arbitrary text.
 *
 * Invariants: a list is returned only when every rule of protocol doc §5
 * holds for it; a NULL result with no error means "no iceServers key";
 * every URL of a valid list converts to a webrtcbin URI of its scheme,
 * with the credentials escaped (no raw '@' or ':' past the scheme's).
 */

#include "fuzz-common.h"

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static gboolean
has_ice_scheme (const char *url)
{
  return g_ascii_strncasecmp (url, "stun:", 5) == 0 ||
         g_ascii_strncasecmp (url, "stuns:", 6) == 0 ||
         g_ascii_strncasecmp (url, "turn:", 5) == 0 ||
         g_ascii_strncasecmp (url, "turns:", 6) == 0;
}

/* The webrtcbin form of a URL the validator accepted. */
static void
check_uri (const MeteredIceServer *s, const char *url)
{
  g_autofree char *stun = metered_ice_url_to_stun_uri (url);
  g_autofree char *turn =
      metered_ice_url_to_turn_uri (url, s->username, s->credential);

  if (g_ascii_strncasecmp (url, "stun:", 5) == 0) {
    FUZZ_CHECK (stun != NULL && turn == NULL);
    FUZZ_CHECK (g_str_has_prefix (stun, "stun://"));
  } else if (g_ascii_strncasecmp (url, "turn", 4) == 0) {
    const char *userinfo;
    FUZZ_CHECK (turn != NULL && stun == NULL);
    FUZZ_CHECK (g_str_has_prefix (turn, "turn://") ||
                g_str_has_prefix (turn, "turns://"));
    /* the credentials are escaped: the first '@' ends them, and one ':'
     * separates user from password */
    userinfo = strstr (turn, "://") + 3;
    FUZZ_CHECK (strchr (userinfo, '@') != NULL);
    {
      g_autofree char *ui =
          g_strndup (userinfo, strchr (userinfo, '@') - userinfo);
      FUZZ_CHECK (strchr (ui, ':') == strrchr (ui, ':'));
    }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) servers = NULL;
  guint i, j;

  servers = metered_ice_servers_from_metadata (text, &error);
  if (servers == NULL)
    return 0;

  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (servers->len <= METERED_ICE_SERVERS_MAX);
  for (i = 0; i < servers->len; i++) {
    MeteredIceServer *s = g_ptr_array_index (servers, i);

    FUZZ_CHECK (s->urls != NULL && s->urls[0] != NULL);
    for (j = 0; s->urls[j]; j++) {
      FUZZ_CHECK (s->urls[j][0] != '\0');
      FUZZ_CHECK (
          metered_utf16_length (s->urls[j], -1) <= METERED_ICE_URL_MAX_LEN);
      FUZZ_CHECK (has_ice_scheme (s->urls[j]));
      check_uri (s, s->urls[j]);
    }
    if (s->username)
      FUZZ_CHECK (metered_utf16_length (s->username, -1) <=
                  METERED_ICE_USERNAME_MAX_LEN);
    if (s->credential)
      FUZZ_CHECK (metered_utf16_length (s->credential, -1) <=
                  METERED_ICE_CREDENTIAL_MAX_LEN);
  }
  return 0;
}
