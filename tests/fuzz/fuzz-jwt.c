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
 * metered_jwt_verify_hs256 and base64url.
 *
 * The first byte picks a mode:
 *   even: the rest is a token, verified against a fixed key table;
 *   odd:  the rest is a claims text, signed with a known key and then
 *         verified, so the fuzzer reaches the claim checks behind a good
 *         signature.
 * Invariants: errors never echo the token or the secret; a decoded
 * base64url segment re-encodes to the same text (one spelling per byte
 * string); a token we signed never fails on its signature.
 */

#include "fuzz-common.h"

#include <string.h>

#define KID "sk_id_fuzz"
#define SECRET "fuzzing-secret-0123456789abcdef!"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static GBytes *
lookup (const char *kid, gpointer user_data)
{
  if (strcmp (kid, KID) == 0)
    return g_bytes_new_static (SECRET, strlen (SECRET));
  if (strcmp (kid, "k") == 0)
    return g_bytes_new_static ("k", 1);
  return NULL;
}

static void
check_base64url (const char *text, gsize len)
{
  gsize out_len = 0;
  g_autofree guint8 *raw = metered_base64url_decode (text, len, &out_len);
  g_autofree char *again = NULL;

  if (raw == NULL)
    return;
  again = metered_base64url_encode (raw, out_len);
  FUZZ_CHECK (strlen (again) == len && memcmp (again, text, len) == 0);
}

static void
check_error (const GError *error, const char *token)
{
  FUZZ_CHECK (error != NULL);
  FUZZ_CHECK (error->domain == METERED_JWT_ERROR);
  FUZZ_CHECK (strstr (error->message, SECRET) == NULL);
  if (strlen (token) >= 8)
    FUZZ_CHECK (strstr (error->message, token) == NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = NULL;
  g_autofree char *token = NULL;
  g_autofree char *kid = NULL;
  g_autoptr (GError) error = NULL;
  JsonObject *claims;

  if (size == 0)
    return 0;
  text = fuzz_strndup (data + 1, size - 1);

  if ((data[0] & 1) == 0) {
    const char *dot;

    check_base64url (text, strlen (text));
    dot = strchr (text, '.');
    if (dot)
      check_base64url (text, dot - text);

    token = g_strdup (text);
    claims = metered_jwt_verify_hs256 (
        token, lookup, NULL, 1700000000, 30, &kid, &error);
  } else {
    token = metered_jwt_sign_hs256 (
        KID, (const guint8 *) SECRET, strlen (SECRET), text);
    claims = metered_jwt_verify_hs256 (
        token, lookup, NULL, 1700000000, 30, &kid, &error);
    if (claims == NULL)
      FUZZ_CHECK (error->code != METERED_JWT_ERROR_BAD_SIGNATURE &&
                  error->code != METERED_JWT_ERROR_UNKNOWN_KID &&
                  error->code != METERED_JWT_ERROR_NO_KID &&
                  error->code != METERED_JWT_ERROR_BAD_ALG);
  }

  if (claims) {
    FUZZ_CHECK (error == NULL);
    FUZZ_CHECK (kid != NULL);
    json_object_unref (claims);
  } else {
    FUZZ_CHECK (kid == NULL);
    check_error (error, token);
  }
  return 0;
}
