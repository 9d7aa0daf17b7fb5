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

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmeteredsrcstreams.h"

#include <json-glib/json-glib.h>

GstMeteredSrcStream *
gst_metered_src_stream_ref (GstMeteredSrcStream *st)
{
  g_atomic_int_inc (&st->refcount);
  return st;
}

void
gst_metered_src_stream_unref (GstMeteredSrcStream *st)
{
  if (!g_atomic_int_dec_and_test (&st->refcount))
    return;
  if (st->media_free)
    st->media_free (st->media);
  g_free (st->key);
  g_free (st->peer_id);
  g_free (st->kind);
  g_free (st->track_id);
  g_free (st->metadata);
  g_free (st->role);
  g_free (st->pad_name);
  gst_clear_caps (&st->caps);
  g_clear_pointer (&st->former_peers, g_ptr_array_unref);
  g_clear_pointer (&st->former_keys, g_ptr_array_unref);
  g_free (st);
}

static gpointer
stream_copy (gconstpointer st, gpointer data)
{
  return gst_metered_src_stream_ref ((GstMeteredSrcStream *) st);
}

char *
gst_metered_src_stream_key (const char *peer_id, const char *kind,
    const char *stream_id, const char *track_id)
{
  return g_strdup_printf ("%s\n%s\n%s\n%s", peer_id, kind ? kind : "",
      track_id ? track_id : "", stream_id ? stream_id : "");
}

char *
gst_metered_src_role_from_metadata (const char *metadata)
{
  g_autoptr (JsonParser) parser = NULL;
  JsonNode *root;
  const char *role;

  if (!metadata)
    return NULL;
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, metadata, -1, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  role = json_object_get_string_member_with_default (
      json_node_get_object (root), "role", NULL);
  return role && *role ? g_strdup (role) : NULL;
}

gboolean
gst_metered_src_stream_accepted (const GstMeteredSrcStream *st,
    const char *peer_filter, const char *role_filter)
{
  if (peer_filter && g_strcmp0 (peer_filter, st->peer_id) != 0)
    return FALSE;
  if (role_filter && g_strcmp0 (role_filter, st->role) != 0)
    return FALSE;
  return TRUE;
}

void
gst_metered_src_streams_init (GstMeteredSrcStreams *streams)
{
  streams->live = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) gst_metered_src_stream_unref);
  streams->all = g_ptr_array_new ();
  streams->pad_names =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  streams->counters =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
gst_metered_src_streams_clear (GstMeteredSrcStreams *streams)
{
  g_clear_pointer (&streams->live, g_hash_table_unref);
  if (streams->all) {
    g_ptr_array_set_free_func (
        streams->all, (GDestroyNotify) gst_metered_src_stream_unref);
    g_clear_pointer (&streams->all, g_ptr_array_unref);
  }
  g_clear_pointer (&streams->pad_names, g_hash_table_unref);
  g_clear_pointer (&streams->counters, g_hash_table_unref);
}

GstMeteredSrcStream *
gst_metered_src_streams_lookup (GstMeteredSrcStreams *streams, const char *key)
{
  return g_hash_table_lookup (streams->live, key);
}

GstMeteredSrcStream *
gst_metered_src_streams_add (GstMeteredSrcStreams *streams, const char *key,
    const char *peer_id, const char *kind, const char *track_id)
{
  GstMeteredSrcStream *st = g_new0 (GstMeteredSrcStream, 1);

  st->refcount = 1;
  st->key = g_strdup (key);
  st->peer_id = g_strdup (peer_id);
  st->kind = g_strdup (kind);
  st->track_id = g_strdup (track_id);
  g_hash_table_insert (streams->live, g_strdup (key), st);
  g_ptr_array_add (streams->all, gst_metered_src_stream_ref (st));
  return st;
}

void
gst_metered_src_streams_alias (
    GstMeteredSrcStreams *streams, const char *key, GstMeteredSrcStream *st)
{
  g_hash_table_insert (
      streams->live, g_strdup (key), gst_metered_src_stream_ref (st));
}

static gboolean
is_stream (gpointer key, gpointer value, gpointer st)
{
  return value == st;
}

static gboolean
is_former_peer (const GstMeteredSrcStream *st, const char *peer_id)
{
  return st->former_peers && g_ptr_array_find_with_equal_func (
                                 st->former_peers, peer_id, g_str_equal, NULL);
}

/* Under its track id, another peer's stream: the oldest live one. */
static GstMeteredSrcStream *
find_track (GstMeteredSrcStreams *streams, const char *peer_id,
    const char *kind, const char *track_id)
{
  for (guint i = 0; i < streams->all->len; i++) {
    GstMeteredSrcStream *o = g_ptr_array_index (streams->all, i);
    if (!o->ended && !o->removed && !o->filtered &&
        g_strcmp0 (o->kind, kind) == 0 &&
        g_strcmp0 (o->track_id, track_id) == 0 &&
        (!g_str_equal (o->peer_id, peer_id) || is_former_peer (o, peer_id)))
      return o;
  }
  return NULL;
}

/* A key that fed a live stream before a takeover. */
static GstMeteredSrcStream *
find_former_key (GstMeteredSrcStreams *streams, const char *key)
{
  for (guint i = 0; i < streams->all->len; i++) {
    GstMeteredSrcStream *o = g_ptr_array_index (streams->all, i);
    if (!o->ended && o->former_keys &&
        g_ptr_array_find_with_equal_func (
            o->former_keys, key, g_str_equal, NULL))
      return o;
  }
  return NULL;
}

static gboolean
collect_key (gpointer key, gpointer value, gpointer st)
{
  GstMeteredSrcStream *o = st;

  if (value != st)
    return FALSE;
  g_ptr_array_add (o->former_keys, g_strdup (key));
  return TRUE;
}

/* o continues under key, for peer_id: the keys and peer that fed it so
 * far are stale. */
static void
take_over (GstMeteredSrcStreams *streams, GstMeteredSrcStream *o,
    const char *key, const char *peer_id)
{
  gst_metered_src_stream_ref (o);
  if (!o->former_keys)
    o->former_keys = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_foreach_remove (streams->live, collect_key, o);
  g_hash_table_insert (streams->live, g_strdup (key), o);
  if (!o->former_peers)
    o->former_peers = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (o->former_peers, g_steal_pointer (&o->peer_id));
  o->peer_id = g_strdup (peer_id);
  o->fed = FALSE;
  o->left = FALSE;
  o->left_serial++;
}

GstMeteredSrcTrackMatch
gst_metered_src_streams_match (GstMeteredSrcStreams *streams, const char *key,
    const char *peer_id, const char *kind, const char *track_id,
    GstMeteredSrcStream **st)
{
  GstMeteredSrcStream *o;

  *st = g_hash_table_lookup (streams->live, key);
  if (*st) {
    /* Its peer is back (a stable peer id): no end pending. */
    if ((*st)->left) {
      (*st)->left = FALSE;
      (*st)->left_serial++;
    }
    return GST_METERED_SRC_TRACK_KNOWN;
  }
  if ((o = find_former_key (streams, key))) {
    *st = o;
    return GST_METERED_SRC_TRACK_STALE;
  }
  if (!track_id || !*track_id ||
      !(o = find_track (streams, peer_id, kind, track_id)))
    return GST_METERED_SRC_TRACK_NEW;
  *st = o;
  if (is_former_peer (o, peer_id))
    return GST_METERED_SRC_TRACK_STALE;

  /* The newcomer takes over: the old peer's keys no longer lead here. */
  take_over (streams, o, key, peer_id);
  return GST_METERED_SRC_TRACK_CLAIMED;
}

GstMeteredSrcStream *
gst_metered_src_streams_claim_role (GstMeteredSrcStreams *streams,
    GstMeteredSrcStream *st, const char *role, GstMeteredSrcStream **holder)
{
  GstMeteredSrcStream *taken;

  *holder = NULL;
  if (!streams->by_role || !role)
    return NULL;
  for (guint i = 0; i < streams->all->len && !*holder; i++) {
    GstMeteredSrcStream *o = g_ptr_array_index (streams->all, i);
    if (o != st && !o->ended && !o->removed && !o->filtered && o->meta_known &&
        g_strcmp0 (o->kind, st->kind) == 0 && g_strcmp0 (o->role, role) == 0)
      *holder = o;
  }
  if (!*holder)
    return NULL;
  taken = gst_metered_src_streams_take (streams, st);
  take_over (streams, *holder, st->key, st->peer_id);
  g_free ((*holder)->track_id);
  (*holder)->track_id = g_strdup (st->track_id);
  return taken;
}

guint
gst_metered_src_streams_peer_left (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st)
{
  st->left = TRUE;
  st->fed = FALSE;
  return ++st->left_serial;
}

gboolean
gst_metered_src_streams_left_expired (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st, guint serial)
{
  return st->left && !st->ended && st->left_serial == serial;
}

GstMeteredSrcStream *
gst_metered_src_streams_take (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st)
{
  st->ended = TRUE;
  gst_metered_src_stream_ref (st);
  g_hash_table_foreach_remove (streams->live, is_stream, st);
  return st;
}

GstMeteredSrcStream *
gst_metered_src_streams_find_orphan (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st, const char *role)
{
  for (guint i = 0; i < streams->all->len; i++) {
    GstMeteredSrcStream *o = g_ptr_array_index (streams->all, i);
    if (o != st && !o->ended && !o->filtered && !o->fed && o->meta_known &&
        (o->exposed || o->exposing) && g_str_equal (o->peer_id, st->peer_id) &&
        g_strcmp0 (o->kind, st->kind) == 0 && g_strcmp0 (o->role, role) == 0)
      return o;
  }
  return NULL;
}

GPtrArray *
gst_metered_src_streams_of_peer (
    GstMeteredSrcStreams *streams, const char *peer_id)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < streams->all->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (streams->all, i);
    if (!st->ended && g_str_equal (st->peer_id, peer_id))
      g_ptr_array_add (out, gst_metered_src_stream_ref (st));
  }
  return out;
}

GPtrArray *
gst_metered_src_streams_dup_all (GstMeteredSrcStreams *streams)
{
  return g_ptr_array_copy (streams->all, stream_copy, NULL);
}

static char *
sanitize (const char *text)
{
  char *out = g_strdup (text && *text ? text : "-");

  for (char *p = out; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      *p = '-';
  return out;
}

const char *
gst_metered_src_streams_name_pad (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st)
{
  g_autofree char *peer = sanitize (st->peer_id);
  char *name;

  if (st->role && streams->by_role) {
    g_autofree char *role = sanitize (st->role);
    g_autofree char *base = g_strdup_printf ("%s_%s", st->kind, role);
    name = g_strdup (base);
    for (guint i = 1; g_hash_table_contains (streams->pad_names, name); i++) {
      g_free (name);
      name = g_strdup_printf ("%s_%u", base, i);
    }
  } else if (st->role) {
    g_autofree char *role = sanitize (st->role);
    g_autofree char *base = g_strdup_printf ("%s_%s_%s", st->kind, peer, role);
    name = g_strdup (base);
    for (guint i = 1; g_hash_table_contains (streams->pad_names, name); i++) {
      g_free (name);
      name = g_strdup_printf ("%s_%u", base, i);
    }
  } else {
    g_autofree char *counter =
        g_strdup_printf ("%s\n%s", st->peer_id, st->kind);
    guint n =
        GPOINTER_TO_UINT (g_hash_table_lookup (streams->counters, counter));

    name = NULL;
    do {
      g_free (name);
      name = g_strdup_printf ("%s_%s_%u", st->kind, peer, n++);
    } while (g_hash_table_contains (streams->pad_names, name));
    g_hash_table_insert (
        streams->counters, g_steal_pointer (&counter), GUINT_TO_POINTER (n));
  }
  g_hash_table_add (streams->pad_names, g_strdup (name));
  g_free (st->pad_name);
  st->pad_name = name;
  return name;
}

gboolean
gst_metered_src_streams_mark_removed (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st)
{
  if (st->removed)
    return FALSE;
  st->removed = TRUE;
  if (st->pad_name)
    g_hash_table_remove (streams->pad_names, st->pad_name);
  return TRUE;
}

void
gst_metered_src_streams_forget (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st)
{
  if (g_ptr_array_remove (streams->all, st))
    gst_metered_src_stream_unref (st);
}

void
gst_metered_src_streams_reset (GstMeteredSrcStreams *streams)
{
  g_hash_table_remove_all (streams->live);
  g_hash_table_remove_all (streams->counters);
}
