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

#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* HS256 JSON Web Tokens as the service uses them (protocol doc §1.3). */

#define METERED_JWT_ERROR (metered_jwt_error_quark ())
GQuark metered_jwt_error_quark (void);

typedef enum
{
  METERED_JWT_ERROR_MALFORMED, /* not three base64url segments of JSON */
  METERED_JWT_ERROR_NO_KID, /* header has no string kid */
  METERED_JWT_ERROR_BAD_ALG, /* alg is not exactly HS256 (incl. none) */
  METERED_JWT_ERROR_UNKNOWN_KID, /* lookup found no secret */
  METERED_JWT_ERROR_BAD_SIGNATURE, /* HMAC mismatch */
  METERED_JWT_ERROR_EXPIRED, /* now >= exp */
  METERED_JWT_ERROR_NOT_YET_VALID, /* now < nbf - leeway */
  METERED_JWT_ERROR_BAD_CLAIMS, /* claims not an object / wrong types */
} MeteredJwtError;

/* Signs claims_json (a JSON object text) with header
 * {"alg":"HS256","typ":"JWT","kid":kid}. */
char *metered_jwt_sign_hs256 (const char *kid, const guint8 *secret,
    gsize secret_len, const char *claims_json);

/* Returns the secret for kid as a new GBytes reference, or NULL. */
typedef GBytes *(*MeteredJwtSecretLookup) (const char *kid, gpointer user_data);

/* Verifies token: structure, alg == HS256, kid present and known,
 * constant-time signature compare, exp (number, if present) and nbf
 * (number, if present, with leeway_s). Checks are made in that order so
 * the error code tells a server whether to refuse at HTTP level
 * (MALFORMED, NO_KID) or after the upgrade. On success returns the claims
 * object (caller unrefs) and sets *kid_out if non-NULL. */
JsonObject *metered_jwt_verify_hs256 (const char *token,
    MeteredJwtSecretLookup lookup, gpointer user_data, gint64 now_s,
    gint64 leeway_s, char **kid_out, GError **error);

/* base64url without padding, exposed for tests. */
char *metered_base64url_encode (const guint8 *data, gsize len);
guint8 *metered_base64url_decode (const char *text, gsize len, gsize *out_len);

G_END_DECLS
