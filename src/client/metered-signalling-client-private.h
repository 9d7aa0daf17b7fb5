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

/* What the files of MeteredSignallingClient share and nobody else sees:
 * the instance struct, the request and subscription records and the
 * functions one file calls in another. Not installed, not scanned for the
 * GIR: the public header stays the whole API.
 *
 *   metered-signalling-client.c           the connection state machine,
 *                                         GObject glue, public connect/close
 *   metered-signalling-client-requests.c  requests, outbound queue, replay
 *   metered-signalling-client-token.c     credentials and token providers
 *   metered-signalling-client-frames.c    inbound frame dispatch
 *   metered-signalling-client-liveness.c  heartbeat and inactivity watchdog
 *
 * Everything here runs on the client's context unless a comment says
 * otherwise (docs/peer-layer.md, "Threads and locks").
 */

#pragma once

#include "client/metered-signalling-client.h"
#include "protocol/metered-protocol.h"

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* The client logs under its own domain, and never a credential. */
#define LOG_DEBUG(...) g_log ("metered-client", G_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) g_log ("metered-client", G_LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) g_log ("metered-client", G_LOG_LEVEL_WARNING, __VA_ARGS__)

typedef enum
{
  SIGNAL_STATE_CHANGED,
  SIGNAL_CONNECTED,
  SIGNAL_DISCONNECTED,
  SIGNAL_GOING_AWAY,
  SIGNAL_SERVER_ERROR,
  SIGNAL_TOKEN_PROVIDER_ERROR,
  SIGNAL_MESSAGE,
  SIGNAL_DIRECT,
  SIGNAL_PRESENCE,
  SIGNAL_STUCK,
  SIGNAL_EXHAUSTED,
  SIGNAL_REQUEST_TOKEN,
  SIGNAL_REQUEST_TOKEN_ASYNC,
  SIGNAL_RESUMED,
  SIGNAL_CONTINUITY_LOST,
  N_SIGNALS
} MeteredClientSignal;

G_GNUC_INTERNAL extern guint metered_client_signals[N_SIGNALS];

typedef enum
{
  METERED_REQUEST_SUBSCRIBE,
  METERED_REQUEST_UNSUBSCRIBE,
  METERED_REQUEST_PUBLISH,
  METERED_REQUEST_SEND,
} MeteredClientRequestKind;

/* One outbound request: queued (self->queue) or sent and waiting for its
 * answer (self->pending), never both. */
typedef struct
{
  MeteredSignallingClient *client;
  MeteredClientRequestKind kind;
  guint64 seq; /* orders the queue: the order of the calls */
  char *request_id;
  char *frame;
  char *channel; /* or the peer id of a send */
  GTask *task; /* NULL for a subscription replay */
  gboolean replay; /* a resubscribe after a reconnect */
  guint ack_timer;
} MeteredClientRequest;

/* A channel the owner subscribed to: replayed after every reconnect. */
typedef struct
{
  MeteredSignallingClient *client;
  char *channel;
  gboolean include_sender_metadata;
  GList *waiting; /* GTask*: resolved by the next ack of this channel */
  guint retries; /* replay retries used on this connection */
  guint retry_timer;
  /* Channel history position (docs/protocol.md): the epoch and sequence
   * number of the last message seen; NULL epoch until the server gave
   * one. Sent with every resubscribe. */
  char *epoch;
  guint64 seq;
  gboolean resuming; /* a resubscribe after a reconnect carried it */
  gint64 own_skipped; /* of this resume's replay: ours, left out */
} MeteredClientSubscription;

/* Peer ids this client had before the current one, newest last: a replay
 * can hold what we published under them (a publishable key gets a new id
 * per connection, and the server leaves out only the current id's). */
#define METERED_CLIENT_PAST_PEER_IDS 8

/* METERED_CLIENT_LOCK guards what threads other than the client's context
 * read or write: state, peer_id, max_message_size, next_seq (public
 * publish/send take a sequence number on the caller's thread) and the
 * time-in-state counters. The context is the only writer of everything
 * else. A leaf lock: nothing is called out to while holding it (no
 * signal, no notify, no soup, no clock, no other lock).
 *
 * get_stats() reads the other counters (attempt, reconnects, queue depth,
 * ...) under it from any thread while the context writes them without
 * it: word-sized reads of a snapshot that may be a moment old. */
#define METERED_CLIENT_GET_LOCK(client) (&(client)->lock)
#define METERED_CLIENT_LOCK(client)                                            \
  g_mutex_lock (METERED_CLIENT_GET_LOCK (client))
#define METERED_CLIENT_UNLOCK(client)                                          \
  g_mutex_unlock (METERED_CLIENT_GET_LOCK (client))

struct _MeteredSignallingClient
{
  GObject parent;

  GMainContext *context; /* immutable after construction */
  MeteredClock *clock; /* immutable after construction */
  SoupSession *session; /* created on first use: metered_client_session () */
  GMutex lock; /* METERED_CLIENT_LOCK */

  /* settings: written by set_property, read on the context; owners set
   * them before connect() */
  char *url;
  char *api_key;
  char *token;
  char *token_url;
  char *token_url_method;
  guint token_provider_timeout_ms;
  gboolean reconnect;
  MeteredBackoffConfig backoff;
  guint slow_floor_ms;
  guint inactivity_timeout_ms;
  guint welcome_timeout_ms;
  guint ack_timeout_ms;
  guint stuck_timeout_ms;
  guint queue_size;
  guint max_message_rate; /* msg/s, 0: unpaced */
  gboolean resume;
  gboolean hold_directs;

  /* state machine */
  MeteredClientState state; /* LOCK for writes and off-context reads */
  gint64 state_since_ms; /* LOCK */
  gint64 ms_in_state[METERED_CLIENT_STATE_CLOSED + 1]; /* LOCK */
  guint illegal_transitions;
  gboolean ever_welcomed;
  gboolean closed_explicitly;
  GTask *connect_task;
  guint attempt;
  guint64 reconnects;
  int last_close_code;
  gboolean slow_floor_pending;
  double going_away_ms;
  guint token_failures;
  char *peer_id; /* LOCK */
  GPtrArray *past_peer_ids; /* char*, at most METERED_CLIENT_PAST_PEER_IDS */
  gint64 max_message_size; /* LOCK */
  guint generation; /* bumped by every attempt: stale callbacks see it */

  /* the current socket */
  SoupWebsocketConnection *ws;
  GCancellable *attempt_cancellable;
  gboolean welcomed;

  /* timers */
  guint backoff_timer;
  guint welcome_timer;
  guint watchdog_timer;
  guint heartbeat_timer;
  guint stuck_timer;
  guint token_timer;

  /* liveness probe (metered_signalling_client_probe), on the context */
  gint64 last_rx_ms; /* the last inbound text frame, or the socket's open */
  gint64 ping_unanswered_ms; /* the oldest ping since then, 0: none */
  gint64 attempt_started_ms;
  /* The probe dropped the socket: attempts are replaced at the probe's
   * pace instead of waiting out their backoff, until a welcome. */
  gboolean probe_reconnecting;
  /* The attempt's TCP handshake: when it began, whether it completed;
   * the last completed one's duration (-1: none yet) paces the probe's
   * replacement of an attempt whose SYN went unanswered (syn_timer). */
  gint64 tcp_connecting_ms;
  gboolean attempt_tcp_up;
  gint64 tcp_handshake_ms;
  guint syn_timer;

  /* requests */
  GHashTable *pending; /* request_id -> MeteredClientRequest*, on this socket */
  GQueue queue; /* MeteredClientRequest*, waiting for a socket or a token */
  /* Paces what this socket sends under the server's message rate: a
   * request without a token waits in the queue until pace_timer. */
  MeteredTokenBucket send_bucket;
  guint send_bucket_rate; /* the max-message-rate it was filled for */
  guint pace_timer;
  guint64 next_seq; /* LOCK */
  GHashTable *subscriptions; /* channel -> MeteredClientSubscription* */
  MeteredTokenRequest *token_request;
};

/* GTask's return functions take no reference: these return through a
 * task pointer we own and drop our reference with it. */
static inline void
metered_task_return_error (GTask **task, GError *error)
{
  GTask *t = g_steal_pointer (task);

  g_task_return_error (t, error);
  g_object_unref (t);
}

static inline void
metered_task_return_true (GTask **task)
{
  GTask *t = g_steal_pointer (task);

  g_task_return_boolean (t, TRUE);
  g_object_unref (t);
}

/* Completes with a copy of error, or TRUE when error is NULL. */
static inline void
metered_task_return_result (GTask **task, const GError *error)
{
  if (error)
    metered_task_return_error (task, g_error_copy (error));
  else
    metered_task_return_true (task);
}

#define metered_task_return_new_error(task, domain, code, ...)                 \
  metered_task_return_error (                                                  \
      (task), g_error_new ((domain), (code), __VA_ARGS__))

/* --- metered-signalling-client.c: the state machine --- */

/* Identifies one connection attempt across an asynchronous call: the
 * client (weakly) and the generation the attempt started in. */
typedef struct
{
  GWeakRef client;
  guint generation;
} MeteredAttemptRef;

G_GNUC_INTERNAL MeteredAttemptRef *metered_attempt_ref_new (
    MeteredSignallingClient *self);
G_GNUC_INTERNAL void metered_attempt_ref_free (MeteredAttemptRef *ref);
G_GNUC_INTERNAL MeteredSignallingClient *metered_attempt_ref_get (
    MeteredAttemptRef *ref);

typedef void (*MeteredClientFunc) (
    MeteredSignallingClient *self, gpointer data);
G_GNUC_INTERNAL void metered_client_invoke (MeteredSignallingClient *self,
    MeteredClientFunc func, gpointer data, GDestroyNotify destroy);

G_GNUC_INTERNAL SoupSession *metered_client_session (
    MeteredSignallingClient *self);
G_GNUC_INTERNAL void metered_client_open_socket (
    MeteredSignallingClient *self, const char *param, const char *credential);
G_GNUC_INTERNAL void metered_client_socket_lost (
    MeteredSignallingClient *self, int code, const char *reason);
G_GNUC_INTERNAL void metered_client_welcomed (
    MeteredSignallingClient *self, MeteredFrame *frame, GVariant *ice_servers);
G_GNUC_INTERNAL void metered_client_schedule_reconnect (
    MeteredSignallingClient *self);
G_GNUC_INTERNAL void metered_client_go_closed (
    MeteredSignallingClient *self, const GError *error);

/* --- metered-signalling-client-requests.c --- */

G_GNUC_INTERNAL void metered_client_subscription_free (
    MeteredClientSubscription *sub);
G_GNUC_INTERNAL void metered_client_request_answered (
    MeteredSignallingClient *self, MeteredClientRequest *req,
    const GError *error);
G_GNUC_INTERNAL void metered_client_reset_send_budget (
    MeteredSignallingClient *self);
G_GNUC_INTERNAL MeteredClientRequest *metered_client_take_pending (
    MeteredSignallingClient *self, const char *request_id);
G_GNUC_INTERNAL void metered_client_requests_socket_lost (
    MeteredSignallingClient *self, gboolean will_reconnect, int code);
G_GNUC_INTERNAL GList *metered_client_replay_list (
    MeteredSignallingClient *self);
G_GNUC_INTERNAL void metered_client_replay (
    MeteredSignallingClient *self, GList *channels);
G_GNUC_INTERNAL void metered_client_fail_all_requests (
    MeteredSignallingClient *self, const GError *error);
G_GNUC_INTERNAL gboolean metered_client_task_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error);

/* --- metered-signalling-client-token.c --- */

G_GNUC_INTERNAL gboolean metered_client_credentials_valid (
    MeteredSignallingClient *self, GError **error);
G_GNUC_INTERNAL void metered_client_token_begin (MeteredSignallingClient *self);
G_GNUC_INTERNAL void metered_client_token_cancel (
    MeteredSignallingClient *self);

/* --- metered-signalling-client-frames.c --- */

G_GNUC_INTERNAL void metered_client_on_ws_message (
    SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data);

/* --- metered-signalling-client-liveness.c --- */

G_GNUC_INTERNAL void metered_client_liveness_arm (
    MeteredSignallingClient *self);
G_GNUC_INTERNAL void metered_client_liveness_stop (
    MeteredSignallingClient *self);

/* Whether metered_signalling_client_probe () reconnects now: a ping
 * unanswered past dead_ms, or the probe's reconnect stuck. */
G_GNUC_INTERNAL gboolean metered_client_liveness_probe (
    MeteredSignallingClient *self, guint dead_ms, guint attempt_ms);

/* Watches an attempt's TCP handshake (msg: its upgrade request). */
G_GNUC_INTERNAL void metered_client_liveness_watch_attempt (
    MeteredSignallingClient *self, SoupMessage *msg);

G_END_DECLS
