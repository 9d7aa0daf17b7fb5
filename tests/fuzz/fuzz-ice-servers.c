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
 * holds for it; a NULL result with no error means "no iceServers key".
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
