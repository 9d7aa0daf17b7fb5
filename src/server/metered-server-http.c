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

#include "metered-server-private.h"
#include "metered-ws-frame.h"

#include "protocol/metered-protocol.h"

#include <string.h>

/* Plain HTTP: the admin API (bearer token), health, metrics and the
 * optional static web root. */

/* libsoup 3.2 removes Content-Length from a 204 as it writes the headers,
 * which makes the response read as ended by EOF: it then closes the
 * connection after every 204 without saying so, and a keep-alive
 * client's next request on it gets a reset. A 204 has no body by
 * definition; saying so once the headers are out keeps the connection. */
static void
on_no_content_headers_written (SoupServerMessage *msg, gpointer user_data)
{
  soup_message_headers_set_encoding (
      soup_server_message_get_response_headers (msg), SOUP_ENCODING_NONE);
}

static void
reply_text (SoupServerMessage *msg, guint status, const char *text)
{
  soup_server_message_set_status (msg, status, NULL);
  if (text)
    soup_server_message_set_response (msg, "text/plain; charset=utf-8",
        SOUP_MEMORY_COPY, text, strlen (text));
  if (status == SOUP_STATUS_NO_CONTENT)
    g_signal_connect (
        msg, "wrote-headers", G_CALLBACK (on_no_content_headers_written), NULL);
}

static gboolean
constant_time_equal (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;

  for (gsize i = 0; i < la; i++)
    diff |= (guint8) a[i] ^ (guint8) b[i % (lb ? lb : 1)];
  return diff == 0;
}

/* FALSE (and a 401 or 404 answer) unless the request carries the admin
 * bearer token. */
static gboolean
admin_authorized (MeteredServer *server, SoupServerMessage *msg)
{
  const char *auth = soup_message_headers_get_one (
      soup_server_message_get_request_headers (msg), "Authorization");

  if (!server->admin_token) {
    reply_text (msg, SOUP_STATUS_NOT_FOUND, "admin API disabled\n");
    return FALSE;
  }
  if (!auth || !g_str_has_prefix (auth, "Bearer ") ||
      !constant_time_equal (auth + 7, server->admin_token)) {
    soup_message_headers_replace (
        soup_server_message_get_response_headers (msg), "WWW-Authenticate",
        "Bearer");
    reply_text (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized\n");
    return FALSE;
  }
  return TRUE;
}

/* Splits "/v1/peers/a%2Fb/drop" after prefix into decoded segments. */
static GStrv
path_segments (const char *path, const char *prefix)
{
  g_auto (GStrv) raw = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  path += strlen (prefix);
  if (*path == '/')
    path++;
  if (!*path)
    return g_strv_builder_end (builder);
  raw = g_strsplit (path, "/", -1);
  for (GStrv s = raw; *s; s++) {
    g_autofree char *decoded = g_uri_unescape_string (*s, NULL);
    if (!decoded)
      return NULL;
    g_strv_builder_add (builder, decoded);
  }
  return g_strv_builder_end (builder);
}

static void
list_peers (MeteredServer *server, SoupServerMessage *msg)
{
  g_autoptr (GPtrArray) conns = metered_hub_list_conns (server->hub);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_array (b);
  for (guint i = 0; i < conns->len; i++) {
    MeteredHubConn *conn = g_ptr_array_index (conns, i);
    g_autoptr (GPtrArray) channels = metered_hub_conn_list_channels (conn);

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "peerId");
    json_builder_add_string_value (b, metered_hub_conn_get_peer_id (conn));
    json_builder_set_member_name (b, "app");
    json_builder_add_string_value (b, metered_hub_conn_get_app (conn)->id);
    json_builder_set_member_name (b, "channels");
    json_builder_begin_array (b);
    for (guint j = 0; j < channels->len; j++)
      json_builder_add_string_value (b, g_ptr_array_index (channels, j));
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  root = json_builder_get_root (b);
  text = json_to_string (root, FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (
      msg, "application/json", SOUP_MEMORY_COPY, text, strlen (text));
}

static void
peers_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer user_data)
{
  MeteredServer *server = user_data;
  const char *method = soup_server_message_get_method (msg);
  g_auto (GStrv) seg = NULL;
  guint n;

  if (!admin_authorized (server, msg))
    return;
  seg = path_segments (path, "/v1/peers");
  n = seg ? g_strv_length (seg) : 0;

  if (seg && n == 0 && g_str_equal (method, "GET")) {
    list_peers (server, msg);
  } else if (seg && n == 1 && g_str_equal (method, "DELETE")) {
    n = metered_server_close_peer (server, seg[0],
        METERED_CLOSE_ADMIN_DISCONNECT, "disconnected by administrator");
    reply_text (msg, n ? SOUP_STATUS_NO_CONTENT : SOUP_STATUS_NOT_FOUND,
        n ? NULL : "peer not connected\n");
  } else if (seg && n == 2 && g_str_equal (seg[1], "drop") &&
             g_str_equal (method, "POST")) {
    const char *code_text = query ? g_hash_table_lookup (query, "code") : NULL;
    gint64 code = code_text ? g_ascii_strtoll (code_text, NULL, 10)
                            : METERED_CLOSE_GOING_AWAY;

    /* Only codes the SDK retries (a "drop" must never look terminal), and
     * only codes libsoup 3.2 puts on the wire as given: below 3000 it
     * sends its own list only and turns 1012-1014 into 1002. */
    if (!metered_ws_close_code_valid (code) ||
        metered_close_code_policy ((int) code) == METERED_RETRY_TERMINAL) {
      reply_text (msg, SOUP_STATUS_BAD_REQUEST,
          "code must be a retryable close code: 1000-1003, 1007-1011 or "
          "3000-4999 but not 4001, 4003, 4012, 4020\n");
      return;
    }
    n = metered_server_close_peer (
        server, seg[0], (int) code, "dropped by administrator");
    reply_text (msg, n ? SOUP_STATUS_NO_CONTENT : SOUP_STATUS_NOT_FOUND,
        n ? NULL : "peer not connected\n");
  } else {
    reply_text (msg, SOUP_STATUS_NOT_FOUND, "no such admin call\n");
  }
}

static gboolean
conn_in_app (MeteredHubConn *conn, gpointer app)
{
  return metered_hub_conn_get_app (conn) == app;
}

static gboolean
conn_with_credential (MeteredHubConn *conn, gpointer credential)
{
  return g_strcmp0 (metered_hub_conn_get_credential_id (conn), credential) == 0;
}

static void
apps_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer user_data)
{
  MeteredServer *server = user_data;
  g_auto (GStrv) seg = NULL;
  MeteredApp *app;

  if (!admin_authorized (server, msg))
    return;
  seg = path_segments (path, "/v1/apps");
  if (!seg || g_strv_length (seg) != 2 ||
      !g_str_equal (soup_server_message_get_method (msg), "POST") ||
      !(g_str_equal (seg[1], "suspend") || g_str_equal (seg[1], "unsuspend"))) {
    reply_text (msg, SOUP_STATUS_NOT_FOUND, "no such admin call\n");
    return;
  }
  app = metered_server_config_find_app (server->config, seg[0]);
  if (!app) {
    reply_text (msg, SOUP_STATUS_NOT_FOUND, "no such app\n");
    return;
  }
  app->suspended = g_str_equal (seg[1], "suspend");
  if (app->suspended)
    metered_hub_close_matching (server->hub, conn_in_app, app,
        METERED_CLOSE_ACCOUNT_SUSPENDED, "account suspended");
  reply_text (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void
keys_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer user_data)
{
  MeteredServer *server = user_data;
  g_auto (GStrv) seg = NULL;
  MeteredPublishableKey *key;
  MeteredSecret *secret;

  if (!admin_authorized (server, msg))
    return;
  seg = path_segments (path, "/v1/keys");
  if (!seg || g_strv_length (seg) != 2 || !g_str_equal (seg[1], "revoke") ||
      !g_str_equal (soup_server_message_get_method (msg), "POST")) {
    reply_text (msg, SOUP_STATUS_NOT_FOUND, "no such admin call\n");
    return;
  }
  key = g_hash_table_lookup (server->config->keys, seg[0]);
  secret = g_hash_table_lookup (server->config->secrets, seg[0]);
  if (!key && !secret) {
    reply_text (msg, SOUP_STATUS_NOT_FOUND, "no such key\n");
    return;
  }
  if (key)
    key->revoked = TRUE;
  if (secret)
    secret->revoked = TRUE;
  metered_hub_close_matching (server->hub, conn_with_credential, seg[0],
      METERED_CLOSE_INVALID_TOKEN, "credential revoked");
  reply_text (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void
healthz_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer user_data)
{
  reply_text (msg, SOUP_STATUS_OK, "ok\n");
}

static void
metrics_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer user_data)
{
  MeteredServer *server = user_data;
  char *text = metered_metrics_render (server->metrics,
      metered_hub_count_conns (server->hub),
      metered_hub_count_channels (server->hub));

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (
      msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE, text, strlen (text));
}

static const char *
content_type_for (const char *path)
{
  static const struct
  {
    const char *ext, *type;
  } types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "application/javascript" },
    { ".mjs", "application/javascript" },
    { ".css", "text/css" },
    { ".json", "application/json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_has_suffix (path, types[i].ext))
      return types[i].type;
  return "application/octet-stream";
}

static void
static_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer user_data)
{
  MeteredServer *server = user_data;
  g_autofree char *file = NULL;
  g_autofree char *real_root = NULL;
  g_autofree char *real_file = NULL;
  g_autoptr (GMappedFile) mapped = NULL;
  const char *method = soup_server_message_get_method (msg);

  if (!server->web_root ||
      !(g_str_equal (method, "GET") || g_str_equal (method, "HEAD"))) {
    reply_text (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
    return;
  }
  if (strstr (path, ".."))
    goto not_found;
  file = g_build_filename (server->web_root,
      g_str_equal (path, "/") ? "index.html" : path + 1, NULL);
  /* Symlinks inside the root are followed (tests link the SDK bundle in);
   * the request path itself can never climb out. */
  real_root = g_canonicalize_filename (server->web_root, NULL);
  real_file = g_canonicalize_filename (file, NULL);
  if (!g_str_has_prefix (real_file, real_root) ||
      !g_file_test (file, G_FILE_TEST_IS_REGULAR))
    goto not_found;
  mapped = g_mapped_file_new (file, FALSE, NULL);
  if (!mapped)
    goto not_found;
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, content_type_for (file),
      SOUP_MEMORY_COPY, g_mapped_file_get_contents (mapped),
      g_mapped_file_get_length (mapped));
  return;

not_found:
  reply_text (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
}

void
metered_server_add_http_handlers (MeteredServer *server)
{
  soup_server_add_handler (
      server->soup, "/v1/peers", peers_handler, server, NULL);
  soup_server_add_handler (
      server->soup, "/v1/apps", apps_handler, server, NULL);
  soup_server_add_handler (
      server->soup, "/v1/keys", keys_handler, server, NULL);
  soup_server_add_handler (
      server->soup, "/healthz", healthz_handler, server, NULL);
  soup_server_add_handler (
      server->soup, "/metrics", metrics_handler, server, NULL);
  soup_server_add_handler (server->soup, NULL, static_handler, server, NULL);
}
