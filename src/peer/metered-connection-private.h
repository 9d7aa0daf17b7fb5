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

/*
 * What metered-connection.c and metered-negotiation.c share, and nobody
 * else: the connection's fields and the calls each file makes into the
 * other.
 *
 *   metered-connection.c   the object, its pipeline and webrtcbin, the
 *                          send and receive branches, connection state,
 *                          the owner's context (metered_connection_invoke)
 *                          and the teardown
 *   metered-negotiation.c  perfect negotiation over the SDK's payloads:
 *                          promises, local and remote descriptions, msid
 *                          munging, local and remote candidates
 *
 * Threads: the owner's context thread (config->context) runs the
 * public calls, every *_on_context function and the bus watch; webrtcbin
 * runs its signal handlers and promise callbacks on its own threads, which
 * only read what they were handed and post the rest to the context; the
 * pipeline's streaming threads run the appsink callback and the pad
 * probes. See docs/peer-layer.md, "Threads and locks".
 */

#include "peer/metered-connection.h"
#include "peer/metered-recv-latency.h"

#include <gst/webrtc/webrtc.h>

#include "metered-layer-probe.h"
#include "metered-playout-delay-ext.h"
#include "metered-playout-delay.h"
#include "metered-rtx-budget.h"
#include "metered-twcc.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (metered_peer_debug);

/* A local track's branch inside this connection. */
typedef struct
{
  MeteredLocalTrack *track;
  GstElement *appsrc;
  /* Video: the viewer's temporal-layer gate on the appsrc's src pad
   * (lives as long as the pad). */
  MeteredLayerProbe *layers;
  /* Video: the playout-delay extension on its payloader (owned). */
  MeteredPlayoutDelayExt *playout;
} SendBranch;

/* A remote track's branch: webrtcbin src pad -> depayloader -> appsink. */
typedef struct
{
  MeteredConnection *conn; /* not owned */
  MeteredRemoteTrack *track;
  GstElement *appsink;
} RecvBranch;

struct _MeteredConnection
{
  GstObject parent;

  /* Configuration: set by metered_connection_new(), read-only after. */
  GMainContext *context;
  char *remote_peer_id;
  gboolean polite;
  char *stun_server;
  GStrv turn_servers;
  gboolean receive;
  GstClock *clock;
  GstClockTime base_time;
  gboolean answer_first; /* add our tracks only after answering */
  GStrv receive_codecs; /* preference order, NULL: vp8, h264, opus */
  GPtrArray *pending_tracks; /* MeteredLocalTrack*, the tracks to send */
  /* Receiving: the jitter buffers' latency (metered-recv-latency.h);
   * NULL when not receiving. */
  MeteredRecvLatency *recv_latency;

  /* Media (metered-connection.c). pipeline and webrtc: context thread
   * (start, stop). send and recv are added to from the context thread
   * (send) and webrtcbin's (recv, pad-added) and read from any thread:
   * their array under METERED_CONNECTION_LOCK; a branch, once added,
   * lives as long as the connection. */
  GstElement *pipeline;
  GstElement *webrtc;
  GPtrArray *send; /* SendBranch*, METERED_CONNECTION_LOCK */
  GPtrArray *recv; /* RecvBranch*, METERED_CONNECTION_LOCK */
  gboolean send_added; /* context thread */
  gboolean started; /* context thread */
  GstWebRTCPeerConnectionState state; /* context thread */
  /* Atomic: webrtcbin's connection is CONNECTED. Until then the send
   * branches drop their packets, see drop_stale_count_sent (). */
  gint media_ready;
  /* Written under METERED_CONNECTION_LOCK, on the context thread; read
   * without it as a hint anywhere (a stopped connection only drops work). */
  gboolean stopped;

  /* The owner's sample callback: METERED_CONNECTION_SAMPLE_LOCK, held
   * while it runs so that stop() never returns with one still running. */
  GMutex sample_lock;
  MeteredSampleFunc sample_func;
  gpointer sample_data;
  GDestroyNotify sample_destroy;

  /* The minimum playout delay asked of the viewer, from its NACKs and
   * round trip (metered-playout-delay.h): METERED_CONNECTION_LOCK. */
  MeteredPlayoutDelay playout_delay;

  gssize packets_received; /* atomic */
  gssize packets_sent; /* atomic */

  /* The viewer's TWCC feedback (metered-twcc.h; its own leaf lock),
   * caught on the first video send branch: rtpsession is shared by the
   * bundle, so every branch sees each message. twcc_attached: context
   * thread. */
  MeteredTwccQueue *twcc;
  gboolean twcc_attached;

  /* Negotiation (metered-negotiation.c): context thread only, except
   * promises (METERED_CONNECTION_LOCK). */
  GPtrArray *promises; /* GstPromise* still pending */
  gboolean making_offer;
  gboolean setting_remote_answer_pending;
  gboolean negotiation_wanted;
  gboolean tracks_negotiated; /* a remote answer covered our offer */
  guint generation; /* bumped by every remote description */
  char *remote_sdp; /* last applied remote description */
  gboolean remote_description_set;
  GQueue pending_remote_candidates; /* JsonObject* */
  guint candidates_this_generation;
  gboolean local_description_sent;
  GQueue pending_local_candidates; /* char* payloads */
  /* ICE restarts (metered-ice-restart.h): context thread. Once restarted,
   * every local description carries the agent's credentials. */
  gboolean ice_restarted;
  gboolean ice_announce_pending; /* re-announce candidates after the SDP */
  guint ice_restarts;
};

/*
 * METERED_CONNECTION_LOCK: the connection's object lock. Guards the
 * send, recv and promises arrays and the write of stopped. Held for a
 * few pointer operations only; the one call out made under it is
 * g_source_attach() in metered_connection_invoke() (the owner's
 * GMainContext lock, which calls nothing back), kept there so that no
 * call is posted after stop() set stopped. The owners hold none of their
 * locks when they call in (a remote peer references its connections
 * under its lock and pushes after releasing it).
 */
#define METERED_CONNECTION_LOCK(conn) GST_OBJECT_LOCK (conn)
#define METERED_CONNECTION_UNLOCK(conn) GST_OBJECT_UNLOCK (conn)

/*
 * METERED_CONNECTION_SAMPLE_LOCK: guards sample_func/data/destroy and is
 * held, on a receive branch's streaming thread, while the owner's sample
 * callback runs: stop() and set_sample_func() take it, so they return
 * with no callback running. This is the one call into another object
 * under a lock of ours, by design; so the callback must not call back
 * into this connection's stop() or set_sample_func(), and the owner must
 * never take a lock it holds in the callback (the remote peer's
 * METERED_REMOTE_PEER_LOCK) around those two. Order: SAMPLE_LOCK ->
 * METERED_REMOTE_PEER_LOCK.
 * Never taken together with METERED_CONNECTION_LOCK.
 */
#define METERED_CONNECTION_SAMPLE_LOCK(conn) g_mutex_lock (&(conn)->sample_lock)
#define METERED_CONNECTION_SAMPLE_UNLOCK(conn)                                 \
  g_mutex_unlock (&(conn)->sample_lock)

typedef void (*MeteredConnectionFunc) (MeteredConnection *conn, gpointer data);

/* --- metered-connection.c, for metered-negotiation.c --- */

/* Runs func on the owner's context (webrtcbin calls us from its own
 * threads; the state lives on the context). Dropped, data destroyed, once
 * the connection is stopped. Any thread. */
void metered_connection_invoke (MeteredConnection *conn,
    MeteredConnectionFunc func, gpointer data, GDestroyNotify destroy);
/* Emits ::outgoing (context thread). */
void metered_connection_emit_outgoing (
    MeteredConnection *conn, const char *payload);
/* Adds the receive-only m-lines and a send branch per pending track
 * (context thread). */
gboolean metered_connection_add_send_branches (
    MeteredConnection *conn, GError **error);

/* --- metered-negotiation.c, for metered-connection.c --- */

void metered_negotiation_init (MeteredConnection *conn);
/* Connects the negotiation's webrtcbin signals (start). */
void metered_negotiation_attach (MeteredConnection *conn);
/* Interrupts every pending promise (teardown: a pending promise must not
 * be freed). Any thread. */
void metered_negotiation_interrupt_promises (MeteredConnection *conn);
/* Frees the negotiation state (finalize). */
void metered_negotiation_clear (MeteredConnection *conn);

G_END_DECLS
