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

#include "protocol/metered-protocol.h"

#include <string.h>

#define KID "sk_id_test"
#define SECRET "0123456789abcdef0123456789abcdef"
#define NOW 1700000000

/* Computed independently (Python hmac/hashlib) for
 * header {"alg":"HS256","typ":"JWT","kid":"sk_id_test"},
 * claims {"sub":"alice","exp":2000000000}, secret SECRET. */
#define REFERENCE_TOKEN                                                        \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InNrX2lkX3Rlc3QifQ."            \
  "eyJzdWIiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMH0."                               \
  "RMVjf8MUddBC3iNeBDGnaJEO6j1e4sBV48NoPtTMoaQ"

static GBytes *
lookup (const char *kid, gpointer user_data)
{
  if (g_strcmp0 (kid, KID) == 0)
    return g_bytes_new_static (SECRET, strlen (SECRET));
  if (g_strcmp0 (kid, "sk_id_other") == 0)
    return g_bytes_new_static ("another secret", 14);
  return NULL;
}

/* A token with an arbitrary header, signed with secret (or with an
 * arbitrary signature segment when sig is not NULL). */
static char *
make_token (
    const char *header, const char *claims, const char *secret, const char *sig)
{
  g_autofree char *h =
      metered_base64url_encode ((const guint8 *) header, strlen (header));
  g_autofree char *p =
      metered_base64url_encode ((const guint8 *) claims, strlen (claims));
  g_autofree char *input = g_strconcat (h, ".", p, NULL);
  g_autofree char *s = NULL;
  const char *key = secret ? secret : "";

  if (sig == NULL) {
    g_autoptr (GHmac) hmac =
        g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) key, strlen (key));
    guint8 digest[32];
    gsize len = sizeof (digest);

    g_hmac_update (hmac, (const guchar *) input, -1);
    g_hmac_get_digest (hmac, digest, &len);
    s = metered_base64url_encode (digest, len);
  } else
    s = g_strdup (sig);
  return g_strconcat (input, ".", s, NULL);
}

static JsonObject *
verify (
    const char *token, gint64 now, gint64 leeway, char **kid, GError **error)
{
  return metered_jwt_verify_hs256 (
      token, lookup, NULL, now, leeway, kid, error);
}

/* Fails with code, and the message carries neither the token, nor any of
 * its segments, nor the secret, nor the kid. */
static void
assert_fails (const char *token, gint64 now, gint64 leeway, int code)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *kid = (char *) 0x1;
  JsonObject *claims;

  g_test_message ("token %s, expect %d", token, code);
  claims = verify (token, now, leeway, &kid, &error);
  g_assert_null (claims);
  g_assert_null (kid);
  g_assert_error (error, METERED_JWT_ERROR, code);
  g_assert_null (strstr (error->message, SECRET));
  g_assert_null (strstr (error->message, KID));
  if (token && *token) {
    g_auto (GStrv) parts = g_strsplit (token, ".", -1);
    guint i;

    g_assert_null (strstr (error->message, token));
    for (i = 0; parts[i]; i++)
      if (strlen (parts[i]) >= 4)
        g_assert_null (strstr (error->message, parts[i]));
  }
}

#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"" KID "\"}"

static void
test_base64url (void)
{
  static const struct
  {
    const char *plain;
    const char *encoded;
  } vectors[] = {
    { "", "" },
    { "f", "Zg" },
    { "fo", "Zm8" },
    { "foo", "Zm9v" },
    { "foob", "Zm9vYg" },
    { "fooba", "Zm9vYmE" },
    { "foobar", "Zm9vYmFy" },
  };
  const guint8 high[] = { 0xfb, 0xff, 0xbf };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (vectors); i++) {
    g_autofree char *enc = metered_base64url_encode (
        (const guint8 *) vectors[i].plain, strlen (vectors[i].plain));
    gsize len = 99;
    g_autofree guint8 *dec = metered_base64url_decode (
        vectors[i].encoded, strlen (vectors[i].encoded), &len);

    g_assert_cmpstr (enc, ==, vectors[i].encoded);
    g_assert_nonnull (dec);
    g_assert_cmpmem (dec, len, vectors[i].plain, strlen (vectors[i].plain));
  }

  {
    /* The URL-safe alphabet: '-' and '_' where base64 has '+' and '/'. */
    g_autofree char *enc = metered_base64url_encode (high, sizeof (high));
    gsize len = 0;
    g_autofree guint8 *dec = metered_base64url_decode ("-_-_", 4, &len);

    g_assert_cmpstr (enc, ==, "-_-_");
    g_assert_cmpmem (dec, len, high, sizeof (high));
  }
}

static void
test_base64url_refused (void)
{
  static const char *const bad[] = {
    "Zm9v=", /* padding */
    "Zg==",
    "Zm+v", /* standard alphabet */
    "Zm/v",
    "Z", /* impossible length */
    "Zm9vY",
    "Zm9 v", /* white space */
    "Zm9v\n",
    "Zh", /* non-zero unused bits */
    "Zm9",
    "Zm*v",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++) {
    gsize len = 99;

    g_test_message ("%s", bad[i]);
    g_assert_null (metered_base64url_decode (bad[i], strlen (bad[i]), &len));
  }
  /* An embedded NUL is not part of the alphabet either. */
  g_assert_null (metered_base64url_decode ("Zm\0v", 4, NULL));
}

static void
test_sign_reference (void)
{
  g_autofree char *token = metered_jwt_sign_hs256 (KID, (const guint8 *) SECRET,
      strlen (SECRET), "{\"sub\":\"alice\",\"exp\":2000000000}");

  g_assert_cmpstr (token, ==, REFERENCE_TOKEN);
}

static void
test_verify_good (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *kid = NULL;
  g_autoptr (JsonObject) claims =
      verify (REFERENCE_TOKEN, NOW, 0, &kid, &error);
  g_autofree char *token = metered_jwt_sign_hs256 ("sk_id_other",
      (const guint8 *) "another secret", 14,
      "{\"sub\":\"bob\",\"exp\":1700000100,\"nbf\":1699999000,"
      "\"iat\":1699999000.5,\"channels\":[\"room-*\"],"
      "\"metadata\":{\"iceServers\":[]}}");
  g_autoptr (JsonObject) claims2 = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (claims);
  g_assert_cmpstr (kid, ==, KID);
  g_assert_cmpstr (json_object_get_string_member (claims, "sub"), ==, "alice");
  g_assert_cmpint (json_object_get_int_member (claims, "exp"), ==, 2000000000);

  claims2 = verify (token, NOW, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (claims2);
  g_assert_cmpstr (json_object_get_string_member (claims2, "sub"), ==, "bob");
  g_assert_true (json_object_has_member (claims2, "channels"));

  /* No exp, no nbf: nothing to check in time. */
  {
    g_autofree char *t = make_token (HDR, "{\"sub\":\"x\"}", SECRET, NULL);
    g_autoptr (JsonObject) c = verify (t, G_MAXINT64 / 2, 0, NULL, &error);

    g_assert_no_error (error);
    g_assert_nonnull (c);
  }
}

static void
test_expired (void)
{
  g_autofree char *t =
      make_token (HDR, "{\"sub\":\"a\",\"exp\":1700000000}", SECRET, NULL);
  g_autofree char *tf =
      make_token (HDR, "{\"sub\":\"a\",\"exp\":1700000000.5}", SECRET, NULL);
  g_autoptr (JsonObject) ok = verify (t, NOW - 1, 0, NULL, NULL);
  g_autoptr (JsonObject) okf = verify (tf, NOW, 0, NULL, NULL);

  g_assert_nonnull (ok);
  g_assert_nonnull (okf);
  /* now >= exp is expired; the nbf leeway does not apply to exp. */
  assert_fails (t, NOW, 0, METERED_JWT_ERROR_EXPIRED);
  assert_fails (t, NOW, 3600, METERED_JWT_ERROR_EXPIRED);
  assert_fails (t, NOW + 1, 0, METERED_JWT_ERROR_EXPIRED);
  assert_fails (tf, NOW + 1, 0, METERED_JWT_ERROR_EXPIRED);
}

static void
test_not_yet_valid (void)
{
  g_autofree char *t = make_token (HDR,
      "{\"sub\":\"a\",\"nbf\":1700000100,\"exp\":1800000000}", SECRET, NULL);
  g_autoptr (JsonObject) at_nbf = verify (t, NOW + 100, 0, NULL, NULL);
  g_autoptr (JsonObject) leeway = verify (t, NOW, 100, NULL, NULL);

  g_assert_nonnull (at_nbf);
  g_assert_nonnull (leeway);
  assert_fails (t, NOW, 0, METERED_JWT_ERROR_NOT_YET_VALID);
  assert_fails (t, NOW + 99, 0, METERED_JWT_ERROR_NOT_YET_VALID);
  assert_fails (t, NOW, 99, METERED_JWT_ERROR_NOT_YET_VALID);
}

static void
test_bad_signature (void)
{
  g_autofree char *wrong_secret =
      make_token (HDR, "{\"sub\":\"a\"}", "not the secret", NULL);
  g_autofree char *flipped = g_strdup (REFERENCE_TOKEN);
  g_autofree char *tampered = NULL;
  /* 40 characters: a canonical 30-byte signature. */
  g_autofree char *short_sig =
      g_strndup (REFERENCE_TOKEN, strlen (REFERENCE_TOKEN) - 3);
  g_autofree char *no_sig = make_token (HDR, "{\"sub\":\"a\"}", NULL, "");
  char *sig = strrchr (flipped, '.') + 1;

  /* The first character of a segment carries six whole bits, so any
   * change stays canonical base64url. */
  sig[0] = sig[0] == 'R' ? 'S' : 'R';
  tampered = make_token (HDR, "{\"sub\":\"mallory\",\"exp\":2000000000}", NULL,
      strrchr (REFERENCE_TOKEN, '.') + 1);

  assert_fails (wrong_secret, NOW, 0, METERED_JWT_ERROR_BAD_SIGNATURE);
  assert_fails (flipped, NOW, 0, METERED_JWT_ERROR_BAD_SIGNATURE);
  assert_fails (tampered, NOW, 0, METERED_JWT_ERROR_BAD_SIGNATURE);
  assert_fails (short_sig, NOW, 0, METERED_JWT_ERROR_BAD_SIGNATURE);
  assert_fails (no_sig, NOW, 0, METERED_JWT_ERROR_BAD_SIGNATURE);
}

static void
test_unknown_kid (void)
{
  g_autofree char *t = make_token (
      "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"sk_id_nobody\"}",
      "{\"sub\":\"a\"}", SECRET, NULL);

  assert_fails (t, NOW, 0, METERED_JWT_ERROR_UNKNOWN_KID);
}

static void
test_bad_alg (void)
{
  static const char *const headers[] = {
    "{\"alg\":\"none\",\"kid\":\"" KID "\"}",
    "{\"alg\":\"HS512\",\"kid\":\"" KID "\"}",
    "{\"alg\":\"RS256\",\"kid\":\"" KID "\"}",
    "{\"alg\":\"hs256\",\"kid\":\"" KID "\"}",
    "{\"alg\":\"HS256 \",\"kid\":\"" KID "\"}",
    "{\"alg\":null,\"kid\":\"" KID "\"}",
    "{\"alg\":[\"HS256\"],\"kid\":\"" KID "\"}",
    "{\"kid\":\"" KID "\"}",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (headers); i++) {
    /* Properly HS256-signed or not, the algorithm is refused first. */
    g_autofree char *signed_tok =
        make_token (headers[i], "{\"sub\":\"a\"}", SECRET, NULL);
    g_autofree char *unsigned_tok =
        make_token (headers[i], "{\"sub\":\"a\"}", NULL, "");

    assert_fails (signed_tok, NOW, 0, METERED_JWT_ERROR_BAD_ALG);
    assert_fails (unsigned_tok, NOW, 0, METERED_JWT_ERROR_BAD_ALG);
  }
}

static void
test_no_kid (void)
{
  static const char *const headers[] = {
    "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"alg\":\"HS256\",\"kid\":5}",
    "{\"alg\":\"HS256\",\"kid\":null}", "{\"alg\":\"HS256\",\"kid\":\"\"}",
    "{\"alg\":\"none\"}", /* NO_KID comes before BAD_ALG */
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (headers); i++) {
    g_autofree char *t =
        make_token (headers[i], "{\"sub\":\"a\"}", SECRET, NULL);

    assert_fails (t, NOW, 0, METERED_JWT_ERROR_NO_KID);
  }
}

static void
test_malformed (void)
{
  g_autofree char *good_h =
      metered_base64url_encode ((const guint8 *) HDR, strlen (HDR));
  g_autofree char *good_p =
      metered_base64url_encode ((const guint8 *) "{\"sub\":\"a\"}", 11);
  g_autofree char *t_array_header = make_token ("[1]", "{}", SECRET, NULL);
  g_autofree char *t_text_header = make_token ("hello", "{}", SECRET, NULL);
  g_autofree char *t_text_payload = make_token (HDR, "sub=a", SECRET, NULL);
  g_autofree char *t_bad_utf8 =
      make_token (HDR, "{\"sub\":\"\xff\"}", SECRET, NULL);
  g_autofree char *t_dup =
      make_token ("{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"" KID "\"}",
          "{\"sub\":\"a\"}", SECRET, NULL);
  g_autofree char *t_plus_sig = g_strdup_printf ("%s.%s.ab+d", good_h, good_p);
  g_autofree char *t_pad_sig = g_strdup_printf ("%s.%s.abc=", good_h, good_p);
  g_autofree char *t_bad_h = g_strdup_printf ("a*b.%s.abcd", good_p);
  g_autofree char *t_four = g_strdup_printf ("%s.%s.abcd.efgh", good_h, good_p);
  g_autofree char *t_empty_h = g_strdup_printf (".%s.abcd", good_p);
  g_autofree char *t_empty_p = g_strdup_printf ("%s..abcd", good_h);
  g_autofree char *t_deep = NULL;
  GString *deep =
      g_string_new ("{\"alg\":\"HS256\",\"kid\":\"" KID "\",\"x\":");
  guint i;

  for (i = 0; i < 200; i++)
    g_string_append_c (deep, '[');
  for (i = 0; i < 200; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, '}');
  t_deep = make_token (deep->str, "{}", SECRET, NULL);
  g_string_free (deep, TRUE);

  assert_fails (NULL, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails ("", NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails ("abc", NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails ("a.b", NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails ("..", NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_four, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_empty_h, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_empty_p, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_bad_h, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_plus_sig, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_pad_sig, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_array_header, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_text_header, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_text_payload, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_bad_utf8, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_dup, NOW, 0, METERED_JWT_ERROR_MALFORMED);
  assert_fails (t_deep, NOW, 0, METERED_JWT_ERROR_MALFORMED);
}

static void
test_bad_claims (void)
{
  static const char *const payloads[] = {
    "[1]",
    "\"alice\"",
    "null",
    "{\"exp\":\"2000000000\"}",
    "{\"exp\":null}",
    "{\"nbf\":true}",
    "{\"iat\":{}}",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (payloads); i++) {
    g_autofree char *t = make_token (HDR, payloads[i], SECRET, NULL);

    assert_fails (t, NOW, 0, METERED_JWT_ERROR_BAD_CLAIMS);
  }
}

static void
test_check_order (void)
{
  /* Expired and badly signed: the signature is checked first. */
  g_autofree char *t1 = make_token (HDR, "{\"exp\":1}", "wrong", NULL);
  /* Claims not an object and expired-looking: only after a good
   * signature, and before time. */
  g_autofree char *t2 = make_token (HDR, "[{\"exp\":1}]", SECRET, NULL);
  /* Unknown kid with alg none: alg first. */
  g_autofree char *t3 =
      make_token ("{\"alg\":\"none\",\"kid\":\"nobody\"}", "{}", NULL, "");
  /* Unknown kid and bad signature: kid first. */
  g_autofree char *t4 = make_token (
      "{\"alg\":\"HS256\",\"kid\":\"nobody\"}", "{}", "wrong", NULL);
  /* Expired and not yet valid: EXPIRED first. */
  g_autofree char *t5 =
      make_token (HDR, "{\"exp\":1,\"nbf\":1800000000}", SECRET, NULL);
  /* Bad claims types and expired: BAD_CLAIMS first. */
  g_autofree char *t6 =
      make_token (HDR, "{\"exp\":1,\"nbf\":\"x\"}", SECRET, NULL);

  assert_fails (t1, NOW, 0, METERED_JWT_ERROR_BAD_SIGNATURE);
  assert_fails (t2, NOW, 0, METERED_JWT_ERROR_BAD_CLAIMS);
  assert_fails (t3, NOW, 0, METERED_JWT_ERROR_BAD_ALG);
  assert_fails (t4, NOW, 0, METERED_JWT_ERROR_UNKNOWN_KID);
  assert_fails (t5, NOW, 0, METERED_JWT_ERROR_EXPIRED);
  assert_fails (t6, NOW, 0, METERED_JWT_ERROR_BAD_CLAIMS);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/jwt/base64url", test_base64url);
  g_test_add_func ("/jwt/base64url-refused", test_base64url_refused);
  g_test_add_func ("/jwt/sign-reference", test_sign_reference);
  g_test_add_func ("/jwt/verify-good", test_verify_good);
  g_test_add_func ("/jwt/expired", test_expired);
  g_test_add_func ("/jwt/not-yet-valid", test_not_yet_valid);
  g_test_add_func ("/jwt/bad-signature", test_bad_signature);
  g_test_add_func ("/jwt/unknown-kid", test_unknown_kid);
  g_test_add_func ("/jwt/bad-alg", test_bad_alg);
  g_test_add_func ("/jwt/no-kid", test_no_kid);
  g_test_add_func ("/jwt/malformed", test_malformed);
  g_test_add_func ("/jwt/bad-claims", test_bad_claims);
  g_test_add_func ("/jwt/check-order", test_check_order);

  return g_test_run ();
}
