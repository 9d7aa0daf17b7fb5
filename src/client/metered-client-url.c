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

#include "metered-client-url.h"

#include "client/metered-client-types.h"

#include <string.h>

static gboolean
is_loopback_host (const char *host)
{
  return g_ascii_strcasecmp (host, "localhost") == 0 ||
         g_str_equal (host, "127.0.0.1") || g_str_equal (host, "::1") ||
         g_str_equal (host, "[::1]");
}

gboolean
metered_client_url_validate (const char *base_url, GError **error)
{
  g_autoptr (GUri) uri = NULL;
  const char *scheme, *host, *path;

  if (!base_url || !(uri = g_uri_parse (base_url, G_URI_FLAGS_NONE, NULL))) {
    g_set_error (error, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT, "url does not parse");
    return FALSE;
  }
  scheme = g_uri_get_scheme (uri);
  host = g_uri_get_host (uri);
  path = g_uri_get_path (uri);
  if (!host || !*host) {
    g_set_error (error, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT, "url has no host");
    return FALSE;
  }
  if (g_ascii_strcasecmp (scheme, "wss") != 0 &&
      !(g_ascii_strcasecmp (scheme, "ws") == 0 && is_loopback_host (host))) {
    g_set_error (error, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT,
        "url must be wss:// (ws:// is allowed only for localhost, "
        "127.0.0.1 and ::1)");
    return FALSE;
  }
  if ((path && *path && !g_str_equal (path, "/")) || g_uri_get_query (uri) ||
      g_uri_get_fragment (uri)) {
    g_set_error (error, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT,
        "url must have no path, query or fragment");
    return FALSE;
  }
  return TRUE;
}

char *
metered_encode_uri_component (const char *value)
{
  return g_uri_escape_string (value, "!*'()", FALSE);
}

char *
metered_client_url_build (
    const char *base_url, const char *param, const char *value)
{
  g_autoptr (GUri) uri = g_uri_parse (base_url, G_URI_FLAGS_NONE, NULL);
  g_autofree char *scheme = NULL;
  g_autofree char *host = NULL;
  g_autofree char *encoded = metered_encode_uri_component (value);
  g_autofree char *port_text = NULL;
  int port;
  gboolean secure;

  g_return_val_if_fail (uri != NULL, NULL);
  scheme = g_ascii_strdown (g_uri_get_scheme (uri), -1);
  host = g_ascii_strdown (g_uri_get_host (uri), -1);
  secure = g_str_equal (scheme, "wss");
  port = g_uri_get_port (uri);
  port_text = port > 0 && port != (secure ? 443 : 80)
                  ? g_strdup_printf (":%d", port)
                  : g_strdup ("");
  /* libsoup opens WebSockets from http(s) URLs. */
  return g_strdup_printf ("%s://%s%s%s%s/v1?%s=%s", secure ? "https" : "http",
      strchr (host, ':') ? "[" : "", host, strchr (host, ':') ? "]" : "",
      port_text, param, encoded);
}
