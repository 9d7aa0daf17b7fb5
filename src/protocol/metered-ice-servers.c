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

#include "protocol/metered-ice-servers.h"
#include "protocol/metered-json-scan.h"
#include "protocol/metered-limits.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

void
metered_ice_server_free (MeteredIceServer *server)
{
  if (server == NULL)
    return;
  g_strfreev (server->urls);
  g_free (server->username);
  g_free (server->credential);
  g_free (server);
}

static gboolean
node_is_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING;
}

/* Non-empty, <= 512 UTF-16 units, ^(stun|stuns|turn|turns): in any
 * case. */
static gboolean
ice_url_is_valid (const char *url)
{
  static const char *const schemes[] = { "stun:", "stuns:", "turn:", "turns:" };
  guint i;

  if (url == NULL || *url == '\0')
    return FALSE;
  if (metered_utf16_length (url, -1) > METERED_ICE_URL_MAX_LEN)
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (schemes); i++)
    if (g_ascii_strncasecmp (url, schemes[i], strlen (schemes[i])) == 0)
      return TRUE;
  return FALSE;
}

/* username / credential: kept when a string of <= max units, silently
 * dropped when not a string; a string that is too long fails the list. */
static gboolean
read_optional_secret (
    JsonObject *entry, const char *name, gsize max, char **out)
{
  JsonNode *node = json_object_get_member (entry, name);
  const char *s;

  *out = NULL;
  if (!node_is_string (node))
    return TRUE;
  s = json_node_get_string (node);
  if (metered_utf16_length (s, -1) > max)
    return FALSE;
  *out = g_strdup (s);
  return TRUE;
}

static MeteredIceServer *
parse_entry (JsonNode *node, guint index, GError **error)
{
  g_autoptr (GPtrArray) urls = NULL;
  MeteredIceServer *server;
  JsonObject *entry;
  JsonNode *urls_node;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "iceServers[%u] is not an object", index);
    return NULL;
  }
  entry = json_node_get_object (node);
  urls_node = json_object_get_member (entry, "urls");

  urls = g_ptr_array_new_with_free_func (g_free);
  if (node_is_string (urls_node)) {
    const char *url = json_node_get_string (urls_node);

    if (!ice_url_is_valid (url))
      goto bad_url;
    g_ptr_array_add (urls, g_strdup (url));
  } else if (urls_node != NULL && JSON_NODE_HOLDS_ARRAY (urls_node)) {
    JsonArray *array = json_node_get_array (urls_node);
    guint i, n = json_array_get_length (array);

    if (n == 0)
      goto bad_url;
    for (i = 0; i < n; i++) {
      JsonNode *u = json_array_get_element (array, i);

      if (!node_is_string (u) || !ice_url_is_valid (json_node_get_string (u)))
        goto bad_url;
      g_ptr_array_add (urls, g_strdup (json_node_get_string (u)));
    }
  } else
    goto bad_url;
  g_ptr_array_add (urls, NULL);

  server = g_new0 (MeteredIceServer, 1);
  server->urls = (GStrv) g_ptr_array_steal (urls, NULL);
  if (!read_optional_secret (
          entry, "username", METERED_ICE_USERNAME_MAX_LEN, &server->username) ||
      !read_optional_secret (entry, "credential",
          METERED_ICE_CREDENTIAL_MAX_LEN, &server->credential)) {
    metered_ice_server_free (server);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "iceServers[%u] username or credential is too long", index);
    return NULL;
  }
  return server;

bad_url:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
      "iceServers[%u].urls is not a valid stun/turn URL or URL list", index);
  return NULL;
}

GPtrArray *
metered_ice_servers_from_metadata (const char *metadata_json, GError **error)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GPtrArray) servers = NULL;
  g_autoptr (GError) parse_error = NULL;
  JsonNode *root, *list;
  JsonArray *array;
  gsize len;
  guint i, n;

  if (metadata_json == NULL)
    return NULL;

  /* The strict scanner goes first: it bounds nesting before json-glib
   * (which recurses) ever sees the text. */
  len = strlen (metadata_json);
  if (!metered_json_validate (metadata_json, len, METERED_JSON_MAX_DEPTH)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "metadata is not valid JSON");
    return NULL;
  }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (
          parser, metadata_json, (gssize) len, &parse_error)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "metadata is not valid JSON");
    return NULL;
  }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  list = json_object_get_member (json_node_get_object (root), "iceServers");
  if (list == NULL)
    return NULL;

  if (!JSON_NODE_HOLDS_ARRAY (list)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "iceServers is not an array");
    return NULL;
  }
  array = json_node_get_array (list);
  n = json_array_get_length (array);
  if (n > METERED_ICE_SERVERS_MAX) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "iceServers has %u entries, more than %d", n, METERED_ICE_SERVERS_MAX);
    return NULL;
  }

  servers = g_ptr_array_new_full (n, (GDestroyNotify) metered_ice_server_free);
  for (i = 0; i < n; i++) {
    MeteredIceServer *server =
        parse_entry (json_array_get_element (array, i), i, error);

    if (server == NULL)
      return NULL;
    g_ptr_array_add (servers, server);
  }
  return g_steal_pointer (&servers);
}

static gboolean
has_scheme (const char *url, const char *scheme)
{
  return g_ascii_strncasecmp (url, scheme, strlen (scheme)) == 0;
}

char *
metered_ice_url_to_stun_uri (const char *url)
{
  const char *rest, *q;

  if (url == NULL || !has_scheme (url, "stun:"))
    return NULL;
  rest = url + strlen ("stun:");
  q = strchr (rest, '?');
  return g_strdup_printf (
      "stun://%.*s", (int) (q ? q - rest : (long) strlen (rest)), rest);
}

char *
metered_ice_url_to_turn_uri (
    const char *url, const char *username, const char *credential)
{
  gboolean secure;
  g_autofree char *user = NULL;
  g_autofree char *pass = NULL;

  if (url == NULL)
    return NULL;
  secure = has_scheme (url, "turns:");
  if (!secure && !has_scheme (url, "turn:"))
    return NULL;
  /* Escaped whole, reserved characters included: a ':' or '@' in a
   * credential must not move the host part. */
  user = g_uri_escape_string (username ? username : "", NULL, FALSE);
  pass = g_uri_escape_string (credential ? credential : "", NULL, FALSE);
  return g_strdup_printf ("%s://%s:%s@%s", secure ? "turns" : "turn", user,
      pass, url + (secure ? strlen ("turns:") : strlen ("turn:")));
}

void
metered_ice_servers_to_uris (
    GVariant *servers, char **stun_uri, GStrv *turn_uris)
{
  g_autoptr (GStrvBuilder) turns = g_strv_builder_new ();
  GVariantIter iter;
  GVariant *entry;

  *stun_uri = NULL;
  g_variant_iter_init (&iter, servers);
  while ((entry = g_variant_iter_next_value (&iter))) {
    g_autofree const char **urls = NULL;
    const char *user = NULL, *cred = NULL;

    g_variant_lookup (entry, "urls", "^a&s", &urls);
    g_variant_lookup (entry, "username", "&s", &user);
    g_variant_lookup (entry, "credential", "&s", &cred);
    for (guint i = 0; urls && urls[i]; i++) {
      g_autofree char *turn = NULL;

      /* webrtcbin takes one STUN server: the first one. */
      if (has_scheme (urls[i], "stun:")) {
        if (!*stun_uri)
          *stun_uri = metered_ice_url_to_stun_uri (urls[i]);
      } else if ((turn = metered_ice_url_to_turn_uri (urls[i], user, cred))) {
        g_strv_builder_add (turns, turn);
      }
    }
    g_variant_unref (entry);
  }
  *turn_uris = g_strv_builder_end (turns);
}
