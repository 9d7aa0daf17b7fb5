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

/* The pure half of metered-cluster-presence.h: topic and key names, and
 * the parser of what the scripts publish. */

#include "metered-cluster-presence.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

char *
metered_cluster_channel_topic (const char *prefix, const char *channel)
{
  return g_strconcat (prefix, "c:", channel, NULL);
}

char *
metered_cluster_peer_topic (const char *prefix, const char *peer)
{
  return g_strconcat (prefix, "p:", peer, NULL);
}

char *
metered_cluster_dedupe_key (
    const char *prefix, const char *scope, const char *request_id)
{
  return g_strconcat (prefix, "rq:", scope, ":", request_id, NULL);
}

static char *
member_dup (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (!n || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (n));
}

static gint64
member_int (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (!n || !JSON_NODE_HOLDS_VALUE (n))
    return -1;
  if (json_node_get_value_type (n) == G_TYPE_INT64)
    return json_node_get_int (n);
  if (json_node_get_value_type (n) == G_TYPE_DOUBLE)
    return (gint64) json_node_get_double (n);
  return -1;
}

gboolean
metered_cluster_event_parse (
    const char *data, gsize len, MeteredClusterEvent *event, GError **error)
{
  static const struct
  {
    const char *name;
    MeteredClusterEventType type;
  } types[] = {
    { "joined", METERED_CLUSTER_EVENT_JOINED },
    { "left", METERED_CLUSTER_EVENT_LEFT },
    { "msg", METERED_CLUSTER_EVENT_MSG },
    { "send", METERED_CLUSTER_EVENT_SEND },
    { "kick", METERED_CLUSTER_EVENT_KICK },
  };
  g_autoptr (JsonParser) parser = NULL;
  g_autofree char *t = NULL;
  const char *nl;
  JsonObject *o;
  JsonNode *root;
  gsize i;
  gboolean known = FALSE, ok;

  g_return_val_if_fail (event != NULL, FALSE);
  memset (event, 0, sizeof *event);

  nl = data ? memchr (data, '\n', len) : NULL;
  if (!nl) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "cluster event has no header line");
    return FALSE;
  }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, nl - data, error))
    return FALSE;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "cluster event header is not a JSON object");
    return FALSE;
  }
  o = json_node_get_object (root);
  t = member_dup (o, "t");
  for (i = 0; t && i < G_N_ELEMENTS (types); i++) {
    if (strcmp (t, types[i].name) == 0) {
      event->type = types[i].type;
      known = TRUE;
    }
  }
  if (!known) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "cluster event has an unknown type");
    return FALSE;
  }
  event->channel = member_dup (o, "ch");
  event->to = member_dup (o, "to");
  event->node = member_dup (o, "node");
  event->conn = member_dup (o, "conn");
  event->epoch = member_dup (o, "epoch");
  event->seq = member_int (o, "seq");
  event->gen = member_int (o, "gen");
  event->peer = member_dup (o, event->type == METERED_CLUSTER_EVENT_MSG ||
                                       event->type == METERED_CLUSTER_EVENT_SEND
                                   ? "from"
                                   : "peer");
  event->body = nl + 1;
  event->body_len = len - (gsize) (nl + 1 - data);

  switch (event->type) {
    case METERED_CLUSTER_EVENT_JOINED:
    case METERED_CLUSTER_EVENT_LEFT:
      ok = event->channel && event->peer && event->epoch && event->seq > 0;
      break;
    case METERED_CLUSTER_EVENT_MSG:
      ok = event->channel && event->peer;
      break;
    case METERED_CLUSTER_EVENT_SEND:
      ok = event->to && event->peer;
      break;
    case METERED_CLUSTER_EVENT_KICK:
    default:
      ok = event->peer && event->gen > 0;
      break;
  }
  if (!ok) {
    metered_cluster_event_clear (event);
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "cluster event lacks a field its type needs");
    return FALSE;
  }
  return TRUE;
}

void
metered_cluster_event_clear (MeteredClusterEvent *event)
{
  g_clear_pointer (&event->channel, g_free);
  g_clear_pointer (&event->peer, g_free);
  g_clear_pointer (&event->to, g_free);
  g_clear_pointer (&event->node, g_free);
  g_clear_pointer (&event->conn, g_free);
  g_clear_pointer (&event->epoch, g_free);
}

char *
metered_cluster_body_pack (const char *metadata, const char *data, gsize *len)
{
  char *out = g_strdup_printf ("%" G_GSIZE_FORMAT ":%s%s",
      metadata ? strlen (metadata) : 0, metadata ? metadata : "", data);

  *len = strlen (out);
  return out;
}

gboolean
metered_cluster_body_unpack (
    const char *body, gsize len, char **metadata, char **data, GError **error)
{
  const char *colon = memchr (body, ':', MIN (len, 21));
  char digits[21];
  guint64 md_len = 0;

  *metadata = NULL;
  *data = NULL;
  if (colon) {
    memcpy (digits, body, colon - body);
    digits[colon - body] = '\0';
  }
  if (!colon || colon == body ||
      !g_ascii_string_to_unsigned (digits, 10, 0, len, &md_len, NULL) ||
      md_len > len - (gsize) (colon + 1 - body)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "cluster message body without a valid metadata length");
    return FALSE;
  }
  if (md_len > 0)
    *metadata = g_strndup (colon + 1, md_len);
  *data =
      g_strndup (colon + 1 + md_len, len - (gsize) (colon + 1 - body) - md_len);
  return TRUE;
}
