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

#include <gst/gst.h>

G_BEGIN_DECLS

/*
 * meteredsrc's stream table, without pads: which remote tracks exist, under
 * which keys, with which pad names, which a filter drops, which ended.
 * The element keeps its pad, bridge and decoder of a stream in its media
 * pointer. Not thread-safe: meteredsrc's GST_METERED_SRC_LOCK guards the
 * table and every stream's fields.
 */

typedef struct
{
  gint refcount;
  char *key;
  char *peer_id;
  char *kind; /* "video" or "audio" */
  char *track_id; /* of the source feeding it now */
  char *metadata; /* JSON or NULL */
  char *role;
  char *pad_name;
  GstCaps *caps; /* the first caps: the codec the pad was made for */
  gboolean meta_known; /* remote-track said who it is */
  gboolean filtered; /* peer-id / stream-role say no */
  gboolean exposing;
  gboolean exposed;
  gboolean decoded; /* a decoder follows the bridge */
  gboolean fed; /* got data from its current source */
  gboolean ended; /* out of the table, EOS on its way */
  gboolean removed;
  /* Its peer left: it ends unless a newcomer claims its track within
   * dead-peer-timeout. left_serial tells a stale timer from the current
   * one. */
  gboolean left;
  guint left_serial;
  /* Peer ids that fed it before a newcomer claimed it: their media for
   * this track is stale (an old connection still draining). */
  GPtrArray *former_peers;
  GPtrArray *former_keys; /* their table keys (char*) */

  /* The element's (pad, bridge, elements), freed with the stream. */
  gpointer media;
  GDestroyNotify media_free;
} GstMeteredSrcStream;

typedef struct
{
  GHashTable *live; /* key -> GstMeteredSrcStream* (live streams) */
  GPtrArray *all; /* every stream whose pad or elements may exist */
  GHashTable *pad_names; /* names in use */
  GHashTable *counters; /* "peer\nkind" -> next index */
  /* Role mode: one pad per kind and role (video_<role>), fed by the newest
   * peer sending that role. */
  gboolean by_role;
} GstMeteredSrcStreams;

GstMeteredSrcStream *gst_metered_src_stream_ref (GstMeteredSrcStream *st);
void gst_metered_src_stream_unref (GstMeteredSrcStream *st);

/* The key of a remote track: the SDK keeps its MediaStreamTracks (and so
 * the a=msid ids) across its reconciles, so a track has the same key on
 * every connection. */
char *gst_metered_src_stream_key (const char *peer_id, const char *kind,
    const char *stream_id, const char *track_id);
/* The string `role` of track metadata (a JSON object), or NULL. */
char *gst_metered_src_role_from_metadata (const char *metadata);
/* Whether the peer-id and stream-role filters (NULL: any) let st through. */
gboolean gst_metered_src_stream_accepted (const GstMeteredSrcStream *st,
    const char *peer_filter, const char *role_filter);

void gst_metered_src_streams_init (GstMeteredSrcStreams *streams);
void gst_metered_src_streams_clear (GstMeteredSrcStreams *streams);

GstMeteredSrcStream *gst_metered_src_streams_lookup (
    GstMeteredSrcStreams *streams, const char *key);
/* A new live stream under key (the table holds it: borrowed). */
GstMeteredSrcStream *gst_metered_src_streams_add (GstMeteredSrcStreams *streams,
    const char *key, const char *peer_id, const char *kind,
    const char *track_id);
/* How a remote track (peer_id, kind, track_id; key its table key) maps to
 * the table. A src pad stands for the sender's track: its a=msid track id
 * and kind, not the peer id, which a publishable-key sender changes on
 * every reconnect. */
typedef enum
{
  /* No stream carries it: the caller adds one. */
  GST_METERED_SRC_TRACK_NEW,
  /* The stream of key. */
  GST_METERED_SRC_TRACK_KNOWN,
  /* Another peer's live stream with that kind and track id, now
   * continued by peer_id under key; its former peer's media is stale. */
  GST_METERED_SRC_TRACK_CLAIMED,
  /* peer_id fed that stream before a newcomer claimed it: drop. */
  GST_METERED_SRC_TRACK_STALE,
} GstMeteredSrcTrackMatch;

/* Finds (and claims, see above) the stream of a remote track; *st is set
 * (borrowed) unless NEW. */
GstMeteredSrcTrackMatch gst_metered_src_streams_match (
    GstMeteredSrcStreams *streams, const char *key, const char *peer_id,
    const char *kind, const char *track_id, GstMeteredSrcStream **st);
/* Role mode: st (a new stream whose metadata just named role) is dropped
 * (transfer full: a reference for the caller, to end it) and the live
 * stream of its kind and role, if any, continues under st's key, peer and
 * track id: returned in *holder (borrowed), NULL if none (st stays). */
GstMeteredSrcStream *gst_metered_src_streams_claim_role (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st, const char *role,
    GstMeteredSrcStream **holder);

/* st's peer left: st waits for a claim (returns the serial its timer
 * must present to gst_metered_src_streams_left_expired()). */
guint gst_metered_src_streams_peer_left (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st);
/* The timer of serial ran out: TRUE if st is still unclaimed (end it). */
gboolean gst_metered_src_streams_left_expired (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st, guint serial);

/* st continues under key too (an orphan adopted by a track's new ids). */
void gst_metered_src_streams_alias (
    GstMeteredSrcStreams *streams, const char *key, GstMeteredSrcStream *st);
/* Ends st: out of the live table under every key (transfer full: a
 * reference for the caller). It stays in all until forgotten. */
GstMeteredSrcStream *gst_metered_src_streams_take (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st);
/* A pad of st's peer and kind with that role waiting for a source (its
 * track came back under new ids: a reloaded page, a re-added track), the
 * oldest first; NULL if none. */
GstMeteredSrcStream *gst_metered_src_streams_find_orphan (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st, const char *role);
/* The live streams of a peer (transfer full: references). */
GPtrArray *gst_metered_src_streams_of_peer (
    GstMeteredSrcStreams *streams, const char *peer_id);
/* Every stream of all (transfer full: references). */
GPtrArray *gst_metered_src_streams_dup_all (GstMeteredSrcStreams *streams);

/* Names st's pad by the rule of the element documentation and reserves
 * the name (st->pad_name; returned, borrowed). */
const char *gst_metered_src_streams_name_pad (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st);
/* st's pad and elements are gone: its name is free again. FALSE if it was
 * removed already. */
gboolean gst_metered_src_streams_mark_removed (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st);
/* Drops st from all (after mark_removed). */
void gst_metered_src_streams_forget (
    GstMeteredSrcStreams *streams, GstMeteredSrcStream *st);
/* Stopping: no live stream, the name counters start again (all keeps the
 * streams still to be removed). */
void gst_metered_src_streams_reset (GstMeteredSrcStreams *streams);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (
    GstMeteredSrcStream, gst_metered_src_stream_unref)

G_END_DECLS
