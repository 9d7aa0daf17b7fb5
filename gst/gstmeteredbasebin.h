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

#include "client/metered-signalling-client.h"
#include "peer/metered-session.h"

G_BEGIN_DECLS

/*
 * What meteredsink and meteredsrc share, as an abstract GstBin: the
 * connection properties and the common signals, a thread of the element's
 * own running the signalling client and the session (the application's
 * main loop is never needed), the bus messages of every signalling event,
 * the error policy (only terminal conditions become errors), the state
 * changes and the sharing of the pipeline clock with the connections.
 *
 * A subclass adds its media: it gets the session in prepare (before
 * anything is sent) and talks to it afterwards only through
 * gst_metered_base_bin_invoke (), on the signalling thread.
 */

#define GST_TYPE_METERED_BASE_BIN (gst_metered_base_bin_get_type ())
G_DECLARE_DERIVABLE_TYPE (
    GstMeteredBaseBin, gst_metered_base_bin, GST, METERED_BASE_BIN, GstBin)

struct _GstMeteredBaseBinClass
{
  GstBinClass parent_class;

  /* FALSE: connect and join at READY -> PAUSED (meteredsink); TRUE: at
   * PAUSED -> PLAYING, once the pipeline's clock and base time are known,
   * so that the first connection already runs on them (meteredsrc). */
  gboolean join_in_playing;
  /* At PAUSED -> READY, FALSE: leave the channel before the children stop
   * (meteredsrc: the session's threads feed them; callbacks in flight see
   * the element stopped); TRUE: once they stopped (meteredsink: its
   * streaming threads push into the session until then). */
  gboolean leave_after_children;

  /* READY -> PAUSED, the session made but not started, the signalling
   * thread not running yet: add tracks, callbacks and signal handlers
   * (with the element as their data: they are disconnected when it
   * stops). FALSE fails the state change (post an error first). */
  gboolean (*prepare) (GstMeteredBaseBin *self, MeteredSession *session);
  /* Signalling thread, before the element's peer-joined / peer-left. */
  void (*peer_joined) (GstMeteredBaseBin *self, const char *peer_id);
  void (*peer_left) (GstMeteredBaseBin *self, const char *peer_id);
  /* PAUSED -> READY, the running flag just went down (invoked work is
   * dropped from now on), before the session leaves. */
  void (*stopping) (GstMeteredBaseBin *self);
  /* PAUSED -> READY, after the session left and the children went to
   * READY. */
  void (*stopped) (GstMeteredBaseBin *self);
  /* The stats property: add the subclass's fields to stats. */
  void (*add_stats) (GstMeteredBaseBin *self, GstStructure *stats);
};

/* Work for the signalling thread, where the session lives. */
typedef void (*GstMeteredBaseBinFunc) (
    GstMeteredBaseBin *self, MeteredSession *session, gpointer data);

/* Runs func on the signalling thread with a reference on the element, if
 * the element is running, and again only if it still is when the thread
 * gets to it (a stopping element drops it). destroy (data) is called in
 * every case. Any thread; TRUE if it was queued. */
gboolean gst_metered_base_bin_invoke (GstMeteredBaseBin *self,
    GstMeteredBaseBinFunc func, gpointer data, GDestroyNotify destroy);

/* TRUE from the join to the start of the PAUSED -> READY change. */
gboolean gst_metered_base_bin_is_running (GstMeteredBaseBin *self);

/* The session while the element runs (a new reference), else NULL. For
 * the streaming threads: metered_session_push () is thread-safe. */
MeteredSession *gst_metered_base_bin_dup_session (GstMeteredBaseBin *self);

G_END_DECLS
