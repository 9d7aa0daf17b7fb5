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
 * HS256 JSON Web Tokens.
 *
 * Error messages name the check that failed and nothing else: never the
 * token, a segment of it, the kid or the secret.
 */

#include "protocol/metered-jwt.h"
#include "protocol/metered-json-scan.h"
#include "protocol/metered-limits.h"

#include <string.h>

#define HS256_LEN 32

G_DEFINE_QUARK (metered - jwt - error - quark, metered_jwt_error)

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
metered_base64url_encode (const guint8 *data, gsize len)
{
  GString *out = g_string_sized_new ((len + 2) / 3 * 4 + 1);
  gsize i;

  g_return_val_if_fail (data != NULL || len == 0, NULL);

  for (i = 0; i + 3 <= len; i += 3) {
    guint32 v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];

    g_string_append_c (out, b64url_alphabet[(v >> 18) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 6) & 63]);
    g_string_append_c (out, b64url_alphabet[v & 63]);
  }
  if (len - i == 1) {
    guint32 v = data[i] << 16;

    g_string_append_c (out, b64url_alphabet[(v >> 18) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
  } else if (len - i == 2) {
    guint32 v = (data[i] << 16) | (data[i + 1] << 8);

    g_string_append_c (out, b64url_alphabet[(v >> 18) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
    g_string_append_c (out, b64url_alphabet[(v >> 6) & 63]);
  }
  return g_string_free (out, FALSE);
}

static int
b64url_value (guchar c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/* Strict: only the base64url alphabet, no padding, no white space, and
 * the unused low bits of the last character must be zero, so every byte
 * string has exactly one accepted spelling. */
guint8 *
metered_base64url_decode (const char *text, gsize len, gsize *out_len)
{
  guint8 *out;
  guint32 acc = 0;
  guint bits = 0;
  gsize i, o = 0;

  if (out_len)
    *out_len = 0;
  if (text == NULL && len > 0)
    return NULL;
  if (len % 4 == 1)
    return NULL;

  out = g_malloc (len / 4 * 3 + 3);
  for (i = 0; i < len; i++) {
    int v = b64url_value ((guchar) text[i]);

    if (v < 0) {
      g_free (out);
      return NULL;
    }
    acc = (acc << 6) | (guint32) v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (guint8) (acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) {
    g_free (out);
    return NULL;
  }
  if (out_len)
    *out_len = o;
  return out;
}

static void
hmac_sha256 (const guint8 *key, gsize key_len, const char *data, gsize data_len,
    guint8 digest[HS256_LEN])
{
  g_autoptr (GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, key, key_len);
  gsize digest_len = HS256_LEN;

  g_hmac_update (hmac, (const guchar *) data, (gssize) data_len);
  g_hmac_get_digest (hmac, digest, &digest_len);
  g_assert (digest_len == HS256_LEN);
}

char *
metered_jwt_sign_hs256 (const char *kid, const guint8 *secret, gsize secret_len,
    const char *claims_json)
{
  g_autoptr (GString) header =
      g_string_new ("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":");
  g_autofree char *h64 = NULL;
  g_autofree char *p64 = NULL;
  g_autofree char *s64 = NULL;
  g_autofree char *signing_input = NULL;
  guint8 digest[HS256_LEN];

  g_return_val_if_fail (kid != NULL, NULL);
  g_return_val_if_fail (secret != NULL || secret_len == 0, NULL);
  g_return_val_if_fail (claims_json != NULL, NULL);

  metered_json_append_string (header, kid, -1);
  g_string_append_c (header, '}');

  h64 = metered_base64url_encode ((const guint8 *) header->str, header->len);
  p64 = metered_base64url_encode (
      (const guint8 *) claims_json, strlen (claims_json));
  signing_input = g_strconcat (h64, ".", p64, NULL);
  hmac_sha256 (
      secret, secret_len, signing_input, strlen (signing_input), digest);
  s64 = metered_base64url_encode (digest, sizeof (digest));
  memset (digest, 0, sizeof (digest));
  return g_strconcat (signing_input, ".", s64, NULL);
}

static gboolean
constant_time_equal (const guint8 *a, const guint8 *b, gsize len)
{
  volatile guint8 diff = 0;
  gsize i;

  for (i = 0; i < len; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

/* A JSON number member (integer or not) of obj. FALSE if present and not
 * a number; *present says whether it was there. */
static gboolean
read_number_claim (
    JsonObject *obj, const char *name, gboolean *present, double *value)
{
  JsonNode *node = json_object_get_member (obj, name);
  GType type;

  *present = node != NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *value = (double) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *value = json_node_get_double (node);
  else
    return FALSE;
  return TRUE;
}

/* Parses decoded JSON (after the strict scan) into a root node. */
static JsonNode *
parse_json (const guint8 *data, gsize len)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonNode *root;

  if (!metered_json_validate ((const char *) data, len, METERED_JSON_MAX_DEPTH))
    return NULL;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (
          parser, (const char *) data, (gssize) len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  return root ? json_node_copy (root) : NULL;
}

static JsonObject *
fail (GError **error, MeteredJwtError code, const char *message)
{
  g_set_error_literal (error, METERED_JWT_ERROR, code, message);
  return NULL;
}

JsonObject *
metered_jwt_verify_hs256 (const char *token, MeteredJwtSecretLookup lookup,
    gpointer user_data, gint64 now_s, gint64 leeway_s, char **kid_out,
    GError **error)
{
  const char *dot1, *dot2;
  g_autofree guint8 *header_raw = NULL;
  g_autofree guint8 *payload_raw = NULL;
  g_autofree guint8 *sig = NULL;
  gsize header_len, payload_len, sig_len;
  g_autoptr (JsonNode) header = NULL;
  g_autoptr (JsonNode) payload = NULL;
  g_autoptr (GArray) header_members = NULL;
  g_autoptr (GBytes) secret = NULL;
  JsonObject *hobj, *claims;
  JsonNode *kid_node, *alg_node;
  const char *kid, *alg;
  guint8 digest[HS256_LEN];
  gboolean has_exp, has_nbf, has_iat, sig_ok;
  double exp = 0, nbf = 0, iat = 0;
  guint i, j;

  if (kid_out)
    *kid_out = NULL;
  g_return_val_if_fail (lookup != NULL, NULL);

  /* 1. Structure: three base64url segments, the first two JSON. */
  if (token == NULL || (dot1 = strchr (token, '.')) == NULL ||
      (dot2 = strchr (dot1 + 1, '.')) == NULL || strchr (dot2 + 1, '.') != NULL)
    return fail (error, METERED_JWT_ERROR_MALFORMED,
        "token is not three dot-separated segments");
  if (dot1 == token || dot2 == dot1 + 1)
    return fail (error, METERED_JWT_ERROR_MALFORMED,
        "token has an empty header or payload segment");

  header_raw = metered_base64url_decode (token, dot1 - token, &header_len);
  payload_raw =
      metered_base64url_decode (dot1 + 1, dot2 - dot1 - 1, &payload_len);
  sig = metered_base64url_decode (dot2 + 1, strlen (dot2 + 1), &sig_len);
  if (header_raw == NULL || payload_raw == NULL || sig == NULL)
    return fail (
        error, METERED_JWT_ERROR_MALFORMED, "token segment is not base64url");

  header = parse_json (header_raw, header_len);
  if (header == NULL || !JSON_NODE_HOLDS_OBJECT (header))
    return fail (error, METERED_JWT_ERROR_MALFORMED,
        "token header is not a JSON object");
  /* A header with a key twice is ambiguous between verifiers. */
  if (!metered_json_object_members ((const char *) header_raw, header_len,
          METERED_JSON_MAX_DEPTH, &header_members))
    return fail (error, METERED_JWT_ERROR_MALFORMED,
        "token header is not a JSON object");
  for (i = 0; i < header_members->len; i++)
    for (j = i + 1; j < header_members->len; j++) {
      MeteredJsonMember *a =
          &g_array_index (header_members, MeteredJsonMember, i);
      MeteredJsonMember *b =
          &g_array_index (header_members, MeteredJsonMember, j);

      if (a->key_len == b->key_len && memcmp (a->key, b->key, a->key_len) == 0)
        return fail (error, METERED_JWT_ERROR_MALFORMED,
            "token header has a duplicate key");
    }

  payload = parse_json (payload_raw, payload_len);
  if (payload == NULL)
    return fail (
        error, METERED_JWT_ERROR_MALFORMED, "token payload is not JSON");

  /* 2. kid: a non-empty string. */
  hobj = json_node_get_object (header);
  kid_node = json_object_get_member (hobj, "kid");
  if (kid_node == NULL || !JSON_NODE_HOLDS_VALUE (kid_node) ||
      json_node_get_value_type (kid_node) != G_TYPE_STRING ||
      *(kid = json_node_get_string (kid_node)) == '\0')
    return fail (error, METERED_JWT_ERROR_NO_KID, "token header has no kid");

  /* 3. alg: exactly HS256 (never none, never another algorithm). */
  alg_node = json_object_get_member (hobj, "alg");
  if (alg_node == NULL || !JSON_NODE_HOLDS_VALUE (alg_node) ||
      json_node_get_value_type (alg_node) != G_TYPE_STRING ||
      (alg = json_node_get_string (alg_node)) == NULL ||
      strcmp (alg, "HS256") != 0)
    return fail (
        error, METERED_JWT_ERROR_BAD_ALG, "token algorithm is not HS256");

  /* 4. A secret for that kid. */
  secret = lookup (kid, user_data);
  if (secret == NULL)
    return fail (
        error, METERED_JWT_ERROR_UNKNOWN_KID, "token key id is not known");

  /* 5. Signature over the first two segments as they were sent. */
  {
    gsize secret_len;
    const guint8 *key = g_bytes_get_data (secret, &secret_len);

    hmac_sha256 (key, secret_len, token, (gsize) (dot2 - token), digest);
  }
  sig_ok = sig_len == HS256_LEN && constant_time_equal (digest, sig, HS256_LEN);
  memset (digest, 0, sizeof (digest));
  if (!sig_ok)
    return fail (error, METERED_JWT_ERROR_BAD_SIGNATURE,
        "token signature does not match");

  /* 6. Claims: an object; exp, nbf and iat numbers when present. */
  if (!JSON_NODE_HOLDS_OBJECT (payload))
    return fail (error, METERED_JWT_ERROR_BAD_CLAIMS,
        "token claims are not a JSON object");
  claims = json_node_get_object (payload);
  if (!read_number_claim (claims, "exp", &has_exp, &exp) ||
      !read_number_claim (claims, "nbf", &has_nbf, &nbf) ||
      !read_number_claim (claims, "iat", &has_iat, &iat))
    return fail (error, METERED_JWT_ERROR_BAD_CLAIMS,
        "token exp, nbf or iat claim is not a number");

  /* 7. Time. */
  if (has_exp && (double) now_s >= exp)
    return fail (error, METERED_JWT_ERROR_EXPIRED, "token has expired");
  if (has_nbf && (double) now_s < nbf - (double) leeway_s)
    return fail (
        error, METERED_JWT_ERROR_NOT_YET_VALID, "token is not valid yet");

  if (kid_out)
    *kid_out = g_strdup (kid);
  return json_object_ref (claims);
}
