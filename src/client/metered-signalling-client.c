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

/**
 * SECTION:metered-signalling-client
 * @short_description: the Metered Realtime Messaging signalling client
 *
 * A libsoup 3 WebSocket client that behaves like the SDK's
 * SignallingClient (protocol doc §1, §4-§7): the same URL rules, token
 * resolution, state machine, backoff, liveness and subscription replay.
 * Beyond the SDK it keeps publish/send calls made while reconnecting (or
 * unacknowledged when the socket dropped) in a bounded queue and resends
 * them with their original requestId after the next welcome, honours
 * going_away's retryAfterMs, and can cut a backoff short.
 *
 * Everything runs on the #GMainContext given at construction; public
 * calls from other threads are marshalled there.
 */

#include "metered-signalling-client.h"

#include "client/metered-client-url.h"
#include "protocol/metered-protocol.h"

#include <libsoup/soup.h>
#include <string.h>

enum
{
  PROP_0,
  PROP_URL,
  PROP_API_KEY,
  PROP_TOKEN,
  PROP_TOKEN_URL,
  PROP_TOKEN_URL_METHOD,
  PROP_TOKEN_PROVIDER_TIMEOUT,
  PROP_RECONNECT,
  PROP_RECONNECT_INITIAL_DELAY,
  PROP_RECONNECT_MULTIPLIER,
  PROP_RECONNECT_MAX_DELAY,
  PROP_RECONNECT_JITTER,
  PROP_RECONNECT_MAX_ATTEMPTS,
  PROP_SLOW_BACKOFF_FLOOR,
  PROP_INACTIVITY_TIMEOUT,
  PROP_WELCOME_TIMEOUT,
  PROP_ACK_TIMEOUT,
  PROP_STUCK_TIMEOUT,
  PROP_OUTBOUND_QUEUE_SIZE,
  PROP_STATE,
  PROP_PEER_ID,
  PROP_MAX_MESSAGE_SIZE,
  N_PROPS
};

enum
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
  N_SIGNALS
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

#define DEFAULT_TOKEN_URL_METHOD "GET"
#define DEFAULT_QUEUE_SIZE 1000
#define DEFAULT_STUCK_TIMEOUT_MS 30000
/* Our own inbound cap in bytes; the SDK's cap in UTF-16 units is checked
 * after (a frame of 1 Mi units is at most 3 MiB of UTF-8). */
#define INBOUND_BYTES_CAP (4 * 1024 * 1024)

typedef enum
{
  REQ_SUBSCRIBE,
  REQ_UNSUBSCRIBE,
  REQ_PUBLISH,
  REQ_SEND,
} RequestKind;

typedef struct
{
  MeteredSignallingClient *client;
  RequestKind kind;
  guint64 seq;
  char *request_id;
  char *frame;
  char *channel;
  GTask *task; /* NULL for a subscription replay */
  gboolean replay; /* a resubscribe after a reconnect */
  guint ack_timer;
} Request;

typedef struct
{
  MeteredSignallingClient *client;
  char *channel;
  gboolean include_sender_metadata;
  GList *waiting; /* GTask*: resolved by the next ack of this channel */
  guint retries; /* replay retries used on this connection */
  guint retry_timer;
} Subscription;

struct _MeteredSignallingClient
{
  GObject parent;

  GMainContext *context;
  MeteredClock *clock;
  SoupSession *session;
  GMutex lock; /* guards the fields read by other threads: state, peer_id */

  /* properties */
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

  /* state machine */
  MeteredClientState state;
  gint64 state_since_ms;
  gint64 ms_in_state[METERED_CLIENT_STATE_CLOSED + 1];
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
  char *peer_id;
  gint64 max_message_size;
  guint generation;

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

  /* requests */
  GHashTable *pending; /* request_id -> Request*, sent on this socket */
  GQueue queue; /* Request*, waiting for a socket */
  guint64 next_seq;
  GHashTable *subscriptions; /* channel -> Subscription* */
  MeteredTokenRequest *token_request;
};

G_DEFINE_FINAL_TYPE (
    MeteredSignallingClient, metered_signalling_client, G_TYPE_OBJECT)

static void start_attempt (MeteredSignallingClient *self);
static void socket_lost (
    MeteredSignallingClient *self, int code, const char *reason);
static void send_request (MeteredSignallingClient *self, Request *req);

/* --- logging: never a credential --- */

#define LOG_DEBUG(...) g_log ("metered-client", G_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) g_log ("metered-client", G_LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) g_log ("metered-client", G_LOG_LEVEL_WARNING, __VA_ARGS__)

/* GTask's return functions take no reference: these return through a
 * task pointer we own and drop our reference with it. */
static void
task_return_error (GTask **task, GError *error)
{
  GTask *t = g_steal_pointer (task);

  g_task_return_error (t, error);
  g_object_unref (t);
}

static void
task_return_true (GTask **task)
{
  GTask *t = g_steal_pointer (task);

  g_task_return_boolean (t, TRUE);
  g_object_unref (t);
}

#define task_return_new_error(task, domain, code, ...)                         \
  task_return_error ((task), g_error_new ((domain), (code), __VA_ARGS__))

/* --- requests --- */

static void
request_free (Request *req)
{
  g_free (req->request_id);
  g_free (req->frame);
  g_free (req->channel);
  g_clear_object (&req->task);
  g_free (req);
}

static void
request_fail (MeteredSignallingClient *self, Request *req, GError *error)
{
  metered_clock_clear (self->clock, &req->ack_timer);
  if (req->task)
    task_return_error (&req->task, error);
  else
    g_error_free (error);
  request_free (req);
}

static gint
request_seq_compare (gconstpointer a, gconstpointer b)
{
  const Request *ra = a, *rb = b;

  return ra->seq < rb->seq ? -1 : (ra->seq > rb->seq);
}

static gint
queue_seq_compare (gconstpointer a, gconstpointer b, gpointer data)
{
  return request_seq_compare (a, b);
}

static Subscription *
subscription_get (MeteredSignallingClient *self, const char *channel)
{
  return g_hash_table_lookup (self->subscriptions, channel);
}

static void
subscription_free (Subscription *sub)
{
  metered_clock_clear (sub->client->clock, &sub->retry_timer);
  g_free (sub->channel);
  g_list_free_full (sub->waiting, g_object_unref);
  g_free (sub);
}

static void
subscription_resolve (
    MeteredSignallingClient *self, Subscription *sub, const GError *error)
{
  GList *waiting = g_steal_pointer (&sub->waiting);

  for (GList *l = waiting; l; l = l->next) {
    if (error)
      g_task_return_error (l->data, g_error_copy (error));
    else
      g_task_return_boolean (l->data, TRUE);
  }
  g_list_free_full (waiting, g_object_unref);
}

/* --- state machine --- */

static void
set_state (MeteredSignallingClient *self, MeteredClientState to)
{
  MeteredClientState from = self->state;
  gint64 now = metered_clock_now_ms (self->clock);

  if (from == to)
    return;
  if (!metered_client_state_transition_is_valid (from, to)) {
    /* A bug of ours: counted, loud in debug builds, but carried out so
     * the client never wedges. */
    self->illegal_transitions++;
#ifndef G_DISABLE_CHECKS
    g_critical ("metered-client: illegal transition %s -> %s",
        metered_client_state_to_string (from),
        metered_client_state_to_string (to));
#endif
  }
  self->ms_in_state[from] += now - self->state_since_ms;
  self->state_since_ms = now;
  g_mutex_lock (&self->lock);
  self->state = to;
  g_mutex_unlock (&self->lock);
  LOG_INFO ("state %s -> %s", metered_client_state_to_string (from),
      metered_client_state_to_string (to));
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
  g_signal_emit (self, signals[SIGNAL_STATE_CHANGED], 0, from, to);
}

static void
clear_socket_timers (MeteredSignallingClient *self)
{
  metered_clock_clear (self->clock, &self->welcome_timer);
  metered_clock_clear (self->clock, &self->watchdog_timer);
  metered_clock_clear (self->clock, &self->heartbeat_timer);
}

static void
drop_socket (MeteredSignallingClient *self, int code, const char *reason)
{
  clear_socket_timers (self);
  if (self->attempt_cancellable) {
    g_cancellable_cancel (self->attempt_cancellable);
    g_clear_object (&self->attempt_cancellable);
  }
  if (self->ws) {
    g_signal_handlers_disconnect_by_data (self->ws, self);
    if (soup_websocket_connection_get_state (self->ws) ==
        SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (self->ws, code, reason);
    g_clear_object (&self->ws);
  }
  self->welcomed = FALSE;
}

static void
cancel_token_request (MeteredSignallingClient *self)
{
  metered_clock_clear (self->clock, &self->token_timer);
  if (self->token_request) {
    g_cancellable_cancel (
        metered_token_request_get_cancellable (self->token_request));
    g_clear_object (&self->token_request);
  }
}

/* Fails everything waiting: queue, in flight, subscriptions' waiters. */
static void
fail_all_requests (MeteredSignallingClient *self, const GError *error)
{
  GHashTableIter iter;
  gpointer value;
  Request *req;
  g_autoptr (GList) pending = g_hash_table_get_values (self->pending);

  g_hash_table_steal_all (self->pending);
  for (GList *l = pending; l; l = l->next)
    request_fail (self, l->data, g_error_copy (error));
  while ((req = g_queue_pop_head (&self->queue)))
    request_fail (self, req, g_error_copy (error));
  g_hash_table_iter_init (&iter, self->subscriptions);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Subscription *sub = value;
    metered_clock_clear (self->clock, &sub->retry_timer);
    subscription_resolve (self, sub, error);
  }
}

static void
go_closed (MeteredSignallingClient *self, const GError *error)
{
  metered_clock_clear (self->clock, &self->backoff_timer);
  metered_clock_clear (self->clock, &self->stuck_timer);
  cancel_token_request (self);
  drop_socket (self, METERED_CLOSE_NORMAL, "client requested close");
  set_state (self, METERED_CLIENT_STATE_CLOSED);
  fail_all_requests (self, error);
  if (self->connect_task)
    task_return_error (&self->connect_task, g_error_copy (error));
}

static void
on_stuck (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->stuck_timer = 0;
  LOG_WARN ("reconnecting for %u ms: stuck", self->stuck_timeout_ms);
  g_signal_emit (
      self, signals[SIGNAL_STUCK], 0, (gint64) self->stuck_timeout_ms);
}

static void
on_backoff_due (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->backoff_timer = 0;
  start_attempt (self);
}

static double
jitter_random (gpointer data)
{
  return g_random_double ();
}

/* Schedules the next attempt, or closes when none is left. Returns FALSE
 * when the client went to closed. */
static gboolean
schedule_reconnect (MeteredSignallingClient *self)
{
  gint64 delay;
  double floor_ms = 0;

  if (!metered_backoff_may_retry (&self->backoff, self->attempt)) {
    g_autoptr (GError) error =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CLOSED,
            "gave up after %u reconnect attempts (last close code %d)",
            self->attempt, self->last_close_code);
    LOG_WARN ("%s", error->message);
    go_closed (self, error);
    g_signal_emit (self, signals[SIGNAL_EXHAUSTED], 0, self->attempt);
    return FALSE;
  }

  self->attempt++;
  if (self->slow_floor_pending) {
    floor_ms = self->slow_floor_ms;
    self->slow_floor_pending = FALSE;
  }
  delay = metered_backoff_delay_ms (
      &self->backoff, self->attempt, floor_ms, jitter_random, NULL);
  if (self->going_away_ms > 0) {
    /* The server asked for at least this long; spread the herd. */
    double spread = self->going_away_ms *
                    (1.0 + self->backoff.jitter_ratio * g_random_double ());
    delay = MAX (delay, (gint64) spread);
    self->going_away_ms = 0;
  }

  if (self->state != METERED_CLIENT_STATE_RECONNECTING) {
    set_state (self, METERED_CLIENT_STATE_RECONNECTING);
    metered_clock_clear (self->clock, &self->stuck_timer);
    if (self->stuck_timeout_ms)
      self->stuck_timer = metered_clock_schedule (
          self->clock, self->stuck_timeout_ms, on_stuck, self);
  }
  LOG_INFO (
      "reconnect attempt %u in %" G_GINT64_FORMAT " ms", self->attempt, delay);
  metered_clock_clear (self->clock, &self->backoff_timer);
  self->backoff_timer =
      metered_clock_schedule (self->clock, delay, on_backoff_due, self);
  return TRUE;
}

/* --- liveness --- */

static void arm_liveness (MeteredSignallingClient *self);

static void
on_heartbeat (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->heartbeat_timer = 0;
  if (self->state == METERED_CLIENT_STATE_CONNECTED && self->ws &&
      soup_websocket_connection_get_state (self->ws) ==
          SOUP_WEBSOCKET_STATE_OPEN) {
    g_autofree char *ping = metered_frame_build_ping ();
    soup_websocket_connection_send_text (self->ws, ping);
  }
  if (self->ws)
    self->heartbeat_timer = metered_clock_schedule (self->clock,
        MAX (METERED_HEARTBEAT_MIN_MS, self->inactivity_timeout_ms / 3),
        on_heartbeat, self);
}

static void
on_watchdog (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->watchdog_timer = 0;
  LOG_WARN ("no frame for %u ms: closing 4000", self->inactivity_timeout_ms);
  socket_lost (self, METERED_CLOSE_CLIENT_INACTIVITY, "inactivity timeout");
}

static void
arm_liveness (MeteredSignallingClient *self)
{
  metered_clock_clear (self->clock, &self->watchdog_timer);
  metered_clock_clear (self->clock, &self->heartbeat_timer);
  if (self->inactivity_timeout_ms == 0)
    return;
  self->watchdog_timer = metered_clock_schedule (
      self->clock, self->inactivity_timeout_ms, on_watchdog, self);
  self->heartbeat_timer = metered_clock_schedule (self->clock,
      MAX (METERED_HEARTBEAT_MIN_MS, self->inactivity_timeout_ms / 3),
      on_heartbeat, self);
}

/* --- inbound frames --- */

static GVariant *
ice_servers_variant (GPtrArray *servers)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < servers->len; i++) {
    MeteredIceServer *s = g_ptr_array_index (servers, i);
    g_variant_builder_open (&builder, G_VARIANT_TYPE ("a{sv}"));
    g_variant_builder_add (&builder, "{sv}", "urls",
        g_variant_new_strv ((const char *const *) s->urls, -1));
    if (s->username)
      g_variant_builder_add (
          &builder, "{sv}", "username", g_variant_new_string (s->username));
    if (s->credential)
      g_variant_builder_add (
          &builder, "{sv}", "credential", g_variant_new_string (s->credential));
    g_variant_builder_close (&builder);
  }
  return g_variant_builder_end (&builder);
}

static GVariant *
presence_variant (GPtrArray *entries)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sms)"));
  for (guint i = 0; entries && i < entries->len; i++) {
    MeteredPresenceEntry *e = g_ptr_array_index (entries, i);
    g_variant_builder_add (&builder, "(sms)", e->peer_id, e->metadata);
  }
  return g_variant_builder_end (&builder);
}

static void
flush_queue (MeteredSignallingClient *self)
{
  Request *req;

  while (self->state == METERED_CLIENT_STATE_CONNECTED &&
         (req = g_queue_pop_head (&self->queue)))
    send_request (self, req);
}

static Request *
new_subscribe_request (
    MeteredSignallingClient *self, Subscription *sub, gboolean replay)
{
  Request *req = g_new0 (Request, 1);

  req->client = self;
  req->kind = REQ_SUBSCRIBE;
  req->seq = self->next_seq++;
  req->request_id = g_uuid_string_random ();
  req->channel = g_strdup (sub->channel);
  req->replay = replay;
  req->frame = metered_frame_build_subscribe (
      sub->channel, req->request_id, sub->include_sender_metadata);
  return req;
}

static void
handle_welcome (MeteredSignallingClient *self, MeteredFrame *frame)
{
  gboolean is_reconnect = self->ever_welcomed;
  g_autoptr (GPtrArray) ice = NULL;
  g_autoptr (GError) ice_error = NULL;
  GVariant *ice_variant = NULL;
  GList *to_replay;

  if (self->welcomed)
    return; /* only the first welcome of a socket counts */
  self->welcomed = TRUE;
  self->ever_welcomed = TRUE;
  self->attempt = 0;
  metered_clock_clear (self->clock, &self->welcome_timer);
  metered_clock_clear (self->clock, &self->stuck_timer);

  g_mutex_lock (&self->lock);
  g_free (self->peer_id);
  self->peer_id = g_strdup (frame->peer_id);
  self->max_message_size = (gint64) frame->max_message_size;
  g_mutex_unlock (&self->lock);

  ice = metered_ice_servers_from_metadata (frame->metadata, &ice_error);
  if (ice_error)
    LOG_WARN ("welcome.metadata.iceServers dropped: %s", ice_error->message);
  if (ice)
    ice_variant = g_variant_ref_sink (ice_servers_variant (ice));

  if (is_reconnect)
    self->reconnects++;
  /* The channels to replay are those tracked now: a ::connected handler
   * that subscribes sends its own subscribe. */
  to_replay = is_reconnect ? g_hash_table_get_keys (self->subscriptions) : NULL;
  for (GList *l = to_replay; l; l = l->next)
    l->data = g_strdup (l->data);

  set_state (self, METERED_CLIENT_STATE_CONNECTED);
  LOG_INFO ("welcome: connected%s", is_reconnect ? " (reconnect)" : "");
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_PEER_ID]);
  g_signal_emit (self, signals[SIGNAL_CONNECTED], 0, frame->peer_id,
      frame->server_time,
      frame->expires_at_is_null ? (gint64) -1 : (gint64) frame->expires_at,
      is_reconnect, (gint64) frame->max_message_size, ice_variant);
  g_clear_pointer (&ice_variant, g_variant_unref);

  /* Resubscribe first, then what waited: the server handles one socket's
   * frames in order, so a queued publish follows its channel's
   * subscribe. */
  for (GList *l = to_replay; l; l = l->next) {
    Subscription *sub = subscription_get (self, l->data);
    if (sub && self->state == METERED_CLIENT_STATE_CONNECTED) {
      sub->retries = 0;
      metered_clock_clear (self->clock, &sub->retry_timer);
      send_request (self, new_subscribe_request (self, sub, TRUE));
    }
  }
  g_list_free_full (to_replay, g_free);
  flush_queue (self);
  if (is_reconnect)
    LOG_INFO ("resubscribed %u channel(s), flushed the queue",
        g_hash_table_size (self->subscriptions));

  /* Last, so a callback running synchronously sees the replay done. */
  if (self->connect_task)
    task_return_true (&self->connect_task);
}

static void on_replay_retry (gpointer data);

static void
subscribe_answered (
    MeteredSignallingClient *self, Request *req, const GError *error)
{
  Subscription *sub = subscription_get (self, req->channel);

  if (req->task) {
    /* A first subscribe answered directly. */
    if (error) {
      if (sub && !sub->waiting) {
        /* The table owns sub: nothing below may touch it once removed. */
        g_hash_table_remove (self->subscriptions, req->channel);
        sub = NULL;
      }
      task_return_error (&req->task, g_error_copy (error));
    } else {
      task_return_true (&req->task);
    }
  }
  if (!sub)
    return;
  if (!error) {
    subscription_resolve (self, sub, NULL);
    return;
  }
  if (req->replay && sub->retries < METERED_RESUBSCRIBE_RETRIES &&
      self->state == METERED_CLIENT_STATE_CONNECTED) {
    sub->retries++;
    LOG_WARN ("resubscribe failed (%s), retry %u in %u ms", error->message,
        sub->retries, METERED_RESUBSCRIBE_RETRY_MS);
    metered_clock_clear (self->clock, &sub->retry_timer);
    sub->retry_timer = metered_clock_schedule (
        self->clock, METERED_RESUBSCRIBE_RETRY_MS, on_replay_retry, sub);
    return;
  }
  subscription_resolve (self, sub, error);
}

static void
on_replay_retry (gpointer data)
{
  Subscription *sub = data;
  MeteredSignallingClient *self = sub->client;

  sub->retry_timer = 0;
  if (self->state == METERED_CLIENT_STATE_CONNECTED)
    send_request (self, new_subscribe_request (self, sub, TRUE));
}

static void
request_answered (
    MeteredSignallingClient *self, Request *req, const GError *error)
{
  metered_clock_clear (self->clock, &req->ack_timer);
  if (req->kind == REQ_SUBSCRIBE) {
    subscribe_answered (self, req, error);
  } else if (req->task) {
    if (error)
      task_return_error (&req->task, g_error_copy (error));
    else
      task_return_true (&req->task);
  }
  request_free (req);
}

static void
handle_error_frame (MeteredSignallingClient *self, MeteredFrame *frame)
{
  Request *req = NULL;

  if (frame->request_id && *frame->request_id)
    g_hash_table_steal_extended (
        self->pending, frame->request_id, NULL, (gpointer *) &req);
  if (req) {
    g_autoptr (GError) error = g_error_new_literal (METERED_SERVER_ERROR,
        metered_server_error_from_code (frame->code),
        frame->message ? frame->message : frame->code);
    if (metered_server_error_from_code (frame->code) ==
        METERED_SERVER_ERROR_UNKNOWN) {
      g_clear_error (&error);
      error = g_error_new (METERED_SERVER_ERROR, METERED_SERVER_ERROR_UNKNOWN,
          "%s: %s", frame->code, frame->message ? frame->message : "");
    }
    request_answered (self, req, error);
    return;
  }
  /* Old servers answer our ping with unknown_type: swallowed (§3.2). */
  if (g_str_equal (frame->code, METERED_ERR_UNKNOWN_TYPE) && !frame->request_id)
    return;
  g_signal_emit (self, signals[SIGNAL_SERVER_ERROR], 0, frame->code,
      frame->request_id, frame->message);
}

static void
handle_frame (MeteredSignallingClient *self, MeteredFrame *frame)
{
  Request *req = NULL;

  switch (frame->type) {
    case METERED_FRAME_WELCOME:
      handle_welcome (self, frame);
      break;
    case METERED_FRAME_ACK:
      if (g_hash_table_steal_extended (
              self->pending, frame->request_id, NULL, (gpointer *) &req))
        request_answered (self, req, NULL);
      break;
    case METERED_FRAME_ERROR:
      handle_error_frame (self, frame);
      break;
    case METERED_FRAME_MESSAGE:
      g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, frame->channel,
          frame->from, frame->data, frame->from_metadata);
      break;
    case METERED_FRAME_DIRECT:
      g_signal_emit (self, signals[SIGNAL_DIRECT], 0, frame->from, frame->data,
          frame->from_metadata);
      break;
    case METERED_FRAME_PRESENCE: {
      GVariant *joined = g_variant_ref_sink (presence_variant (frame->joined));
      GVariant *left = g_variant_ref_sink (presence_variant (frame->left));
      g_signal_emit (
          self, signals[SIGNAL_PRESENCE], 0, frame->channel, joined, left);
      g_variant_unref (joined);
      g_variant_unref (left);
      break;
    }
    case METERED_FRAME_GOING_AWAY:
      self->going_away_ms = frame->retry_after_ms;
      LOG_INFO (
          "going_away: next attempt waits >= %.0f ms", frame->retry_after_ms);
      g_signal_emit (
          self, signals[SIGNAL_GOING_AWAY], 0, (gint64) frame->retry_after_ms);
      break;
    default:
      break;
  }
}

static void
on_ws_message (
    SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
  MeteredSignallingClient *self = g_object_ref (data);
  g_autoptr (MeteredFrame) frame = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    goto out; /* binary frames are dropped and are not liveness */
  if (metered_utf16_length (text, len) > METERED_CLIENT_INBOUND_FRAME_CAP) {
    socket_lost (
        self, METERED_CLOSE_MESSAGE_TOO_BIG, "frame exceeded client cap");
    goto out;
  }
  arm_liveness (self);
  frame = metered_server_frame_parse (text, len, &error);
  if (!frame) {
    LOG_WARN ("dropped an inbound frame: %s", error->message);
    goto out;
  }
  handle_frame (self, frame);
out:
  g_object_unref (self);
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer data)
{
  MeteredSignallingClient *self = data;
  int code = soup_websocket_connection_get_close_code (ws);
  const char *reason = soup_websocket_connection_get_close_data (ws);

  socket_lost (self, code ? code : METERED_CLOSE_ABNORMAL, reason);
}

static void
on_ws_error (SoupWebsocketConnection *ws, GError *error, gpointer data)
{
  LOG_DEBUG ("websocket error: %s", error->message);
}

/* --- socket lost: the policy of protocol doc §6.1 --- */

static void socket_lost_held (
    MeteredSignallingClient *self, int code, const char *reason);

/* Handlers of the signals socket_lost emits may drop the last outside
 * reference: hold one for its duration. */
static void
socket_lost (MeteredSignallingClient *self, int code, const char *reason)
{
  g_object_ref (self);
  socket_lost_held (self, code, reason);
  g_object_unref (self);
}

static void
socket_lost_held (MeteredSignallingClient *self, int code, const char *reason)
{
  MeteredRetryPolicy policy = metered_close_code_policy (code);
  gboolean will_reconnect;
  g_autofree char *reason_copy = g_strdup (reason ? reason : "");
  GList *pending;
  guint generation = self->generation;

  drop_socket (self, code, reason_copy);
  self->last_close_code = code;
  LOG_INFO ("socket closed: code %d (%s) reason \"%s\"", code,
      metered_close_code_name (code), reason_copy);

  if (!self->ever_welcomed) {
    /* Before the first welcome every close ends connect(). */
    g_autoptr (GError) error =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CONNECT_FAILED,
            "connect failed: close code %d (%s)", code,
            metered_close_code_name (code));
    g_signal_emit (
        self, signals[SIGNAL_DISCONNECTED], 0, code, reason_copy, FALSE);
    go_closed (self, error);
    return;
  }

  will_reconnect = self->reconnect && !self->closed_explicitly &&
                   policy != METERED_RETRY_TERMINAL &&
                   metered_backoff_may_retry (&self->backoff, self->attempt);
  if (policy == METERED_RETRY_SLOW)
    self->slow_floor_pending = TRUE;

  /* Unanswered requests of the dead socket: publish/send go back to the
   * head of the queue in their original order (same requestId, so our
   * server dedupes); subscribes wait for the replay. */
  pending = g_list_sort (
      g_hash_table_get_values (self->pending), request_seq_compare);
  g_hash_table_steal_all (self->pending);
  for (GList *l = pending; l; l = l->next) {
    Request *req = l->data;

    metered_clock_clear (self->clock, &req->ack_timer);
    if (!will_reconnect) {
      request_fail (self, req,
          g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_DISCONNECTED,
              "socket closed (code %d) before the answer", code));
    } else if (req->kind == REQ_PUBLISH || req->kind == REQ_SEND) {
      g_queue_insert_sorted (&self->queue, req, queue_seq_compare, NULL);
    } else if (req->kind == REQ_SUBSCRIBE) {
      Subscription *sub = subscription_get (self, req->channel);
      if (sub && req->task)
        sub->waiting =
            g_list_append (sub->waiting, g_steal_pointer (&req->task));
      else if (req->task)
        task_return_new_error (&req->task, METERED_CLIENT_ERROR,
            METERED_CLIENT_ERROR_DISCONNECTED,
            "socket closed before the answer");
      request_free (req);
    } else {
      /* The server forgets subscriptions with the socket anyway. */
      if (req->task)
        task_return_true (&req->task);
      request_free (req);
    }
  }
  g_list_free (pending);

  g_signal_emit (
      self, signals[SIGNAL_DISCONNECTED], 0, code, reason_copy, will_reconnect);
  /* A handler may have called close() (or close() and connect()): that
   * call decided what happens next (the SDK checks explicitlyClosed). */
  if (self->closed_explicitly || self->generation != generation)
    return;

  if (will_reconnect) {
    schedule_reconnect (self);
  } else if (policy == METERED_RETRY_TERMINAL || !self->reconnect ||
             self->closed_explicitly) {
    g_autoptr (GError) error =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CLOSED,
            "closed: code %d (%s)", code, metered_close_code_name (code));
    go_closed (self, error);
  } else {
    schedule_reconnect (self); /* reports exhaustion and closes */
  }
}

/* --- outbound requests --- */

static void
on_ack_timeout (gpointer data)
{
  Request *req = data;
  MeteredSignallingClient *self = req->client;
  g_autoptr (GError) error = NULL;

  req->ack_timer = 0;
  if (!g_hash_table_steal (self->pending, req->request_id))
    return;
  error = g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TIMEOUT,
      "no ack within %u ms", self->ack_timeout_ms);
  request_answered (self, req, error);
}

static void
send_request (MeteredSignallingClient *self, Request *req)
{
  if (self->state != METERED_CLIENT_STATE_CONNECTED || !self->ws) {
    g_queue_insert_sorted (&self->queue, req, queue_seq_compare, NULL);
    return;
  }
  req->client = self;
  g_hash_table_insert (self->pending, req->request_id, req);
  soup_websocket_connection_send_text (self->ws, req->frame);
  req->ack_timer = metered_clock_schedule (
      self->clock, self->ack_timeout_ms, on_ack_timeout, req);
}

/* --- one connection attempt: credential, then socket --- */

typedef struct
{
  GWeakRef client;
  guint generation;
} AttemptRef;

static AttemptRef *
attempt_ref_new (MeteredSignallingClient *self)
{
  AttemptRef *ref = g_new0 (AttemptRef, 1);

  g_weak_ref_init (&ref->client, self);
  ref->generation = self->generation;
  return ref;
}

static void
attempt_ref_free (AttemptRef *ref)
{
  g_weak_ref_clear (&ref->client);
  g_free (ref);
}

/* The client if the attempt is still the current one, else NULL. */
static MeteredSignallingClient *
attempt_ref_get (AttemptRef *ref)
{
  MeteredSignallingClient *self = g_weak_ref_get (&ref->client);

  if (self && self->generation != ref->generation)
    g_clear_object (&self);
  return self;
}

static void
on_welcome_timeout (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->welcome_timer = 0;
  LOG_WARN ("no welcome within %u ms: closing 4000", self->welcome_timeout_ms);
  socket_lost (self, METERED_CLOSE_CLIENT_INACTIVITY, "welcome timeout");
}

static void
on_ws_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  AttemptRef *ref = data;
  g_autoptr (MeteredSignallingClient) self = attempt_ref_get (ref);
  g_autoptr (GError) error = NULL;
  SoupWebsocketConnection *ws;

  ws = soup_session_websocket_connect_finish (
      SOUP_SESSION (source), result, &error);
  attempt_ref_free (ref);
  if (!self) {
    g_clear_object (&ws);
    return;
  }
  if (!ws && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* drop_socket() abandoned it; its caller handled the state */
  if (!ws) {
    /* An HTTP refusal (401, 429) or no route: the SDK sees 1006 and
     * retries (protocol doc §1.4). */
    LOG_INFO ("websocket handshake failed: %s", error->message);
    socket_lost (self, METERED_CLOSE_ABNORMAL, "");
    return;
  }

  g_clear_object (&self->attempt_cancellable);
  self->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (
      ws, INBOUND_BYTES_CAP);
  soup_websocket_connection_set_keepalive_interval (ws, 0);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), self);
  g_signal_connect (ws, "error", G_CALLBACK (on_ws_error), self);
  arm_liveness (self);
}

static void
open_socket (
    MeteredSignallingClient *self, const char *param, const char *credential)
{
  g_autofree char *url =
      metered_client_url_build (self->url, param, credential);
  g_autoptr (SoupMessage) msg = soup_message_new (SOUP_METHOD_GET, url);

  if (!msg) {
    socket_lost (self, METERED_CLOSE_ABNORMAL, "websocket construction failed");
    return;
  }
  if (!self->session)
    self->session = soup_session_new ();
  self->attempt_cancellable = g_cancellable_new ();
  soup_session_websocket_connect_async (self->session, msg, NULL, NULL,
      G_PRIORITY_DEFAULT, self->attempt_cancellable, on_ws_connected,
      attempt_ref_new (self));
  /* Armed with the socket, as the SDK does: it also bounds a handshake
   * that never completes. */
  self->welcome_timer = metered_clock_schedule (
      self->clock, self->welcome_timeout_ms, on_welcome_timeout, self);
}

static void
token_failed (MeteredSignallingClient *self, const GError *error)
{
  self->token_failures++;
  LOG_WARN ("token provider failed (%u in a row): %s", self->token_failures,
      error->message);
  if (!self->ever_welcomed) {
    g_autoptr (GError) e =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER,
            "token provider failed: %s", error->message);
    /* An owner that retries connect() (the elements do) counts the same
     * consecutive failures as a reconnect would. */
    if (self->token_failures >= METERED_TOKEN_PROVIDER_ERROR_THRESHOLD) {
      guint generation = self->generation;

      g_signal_emit (self, signals[SIGNAL_TOKEN_PROVIDER_ERROR], 0,
          self->token_failures, error);
      if (self->closed_explicitly || self->generation != generation)
        return; /* the handler closed the client */
    }
    go_closed (self, e);
    return;
  }
  if (self->token_failures >= METERED_TOKEN_PROVIDER_ERROR_THRESHOLD) {
    guint generation = self->generation;

    g_signal_emit (self, signals[SIGNAL_TOKEN_PROVIDER_ERROR], 0,
        self->token_failures, error);
    if (self->closed_explicitly || self->generation != generation)
      return; /* the handler closed the client */
  }
  /* No socket, no disconnected: just the next attempt (§1.2). */
  schedule_reconnect (self);
}

static void
token_resolved (
    MeteredSignallingClient *self, const char *token, const GError *error)
{
  cancel_token_request (self);
  if (!error && (!token || !*token)) {
    g_autoptr (GError) e = g_error_new_literal (METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_TOKEN_PROVIDER, "the token is empty");
    token_failed (self, e);
    return;
  }
  if (error) {
    token_failed (self, error);
    return;
  }
  self->token_failures = 0;
  open_socket (self, "token", token);
}

static void
on_token_timeout (gpointer data)
{
  MeteredSignallingClient *self = data;
  g_autoptr (GError) error =
      g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TIMEOUT,
          "no token within %u ms", self->token_provider_timeout_ms);

  self->token_timer = 0;
  token_resolved (self, NULL, error);
}

/* Token URL: the body is the JWT as text, or JSON {"token": "..."}. */
static char *
token_from_body (GBytes *body, GError **error)
{
  gsize len;
  const char *data = g_bytes_get_data (body, &len);
  g_autofree char *text = g_strndup (data, len);
  g_autoptr (JsonParser) parser = NULL;
  JsonNode *root;

  g_strstrip (text);
  if (text[0] != '{')
    return g_steal_pointer (&text);
  parser = json_parser_new ();
  if (json_parser_load_from_data (parser, text, -1, NULL) &&
      (root = json_parser_get_root (parser)) && JSON_NODE_HOLDS_OBJECT (root)) {
    const char *token = json_object_get_string_member_with_default (
        json_node_get_object (root), "token", NULL);
    if (token)
      return g_strdup (token);
  }
  g_set_error (error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER,
      "token URL answered JSON without a string \"token\"");
  return NULL;
}

typedef struct
{
  AttemptRef *ref;
  SoupMessage *msg;
} TokenFetch;

static void
on_token_fetched (GObject *source, GAsyncResult *result, gpointer data)
{
  TokenFetch *fetch = data;
  g_autoptr (MeteredSignallingClient) self = attempt_ref_get (fetch->ref);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autofree char *token = NULL;
  guint status;

  body =
      soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  status = soup_message_get_status (fetch->msg);
  g_object_unref (fetch->msg);
  attempt_ref_free (fetch->ref);
  g_free (fetch);
  if (!self || !self->token_timer)
    return; /* timed out or superseded */

  if (body && !SOUP_STATUS_IS_SUCCESSFUL (status)) {
    g_clear_error (&error);
    error =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER,
            "token URL answered HTTP %u", status);
  }
  if (!error)
    token = token_from_body (body, &error);
  token_resolved (self, token, error);
}

static void
fetch_token_url (MeteredSignallingClient *self)
{
  TokenFetch *fetch = g_new0 (TokenFetch, 1);

  fetch->msg = soup_message_new (self->token_url_method, self->token_url);
  if (!fetch->msg) {
    g_autoptr (GError) error = g_error_new_literal (METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_TOKEN_PROVIDER, "token-url is not a valid URL");
    g_free (fetch);
    token_resolved (self, NULL, error);
    return;
  }
  fetch->ref = attempt_ref_new (self);
  if (!self->session)
    self->session = soup_session_new ();
  /* The request object carries the cancellable the timeout cancels. */
  self->token_request = g_object_new (METERED_TYPE_TOKEN_REQUEST, NULL);
  soup_session_send_and_read_async (self->session, fetch->msg,
      G_PRIORITY_DEFAULT,
      metered_token_request_get_cancellable (self->token_request),
      on_token_fetched, fetch);
}

static void
start_attempt (MeteredSignallingClient *self)
{
  gboolean has_provider = self->token_url ||
                          g_signal_has_handler_pending (
                              self, signals[SIGNAL_REQUEST_TOKEN], 0, TRUE) ||
                          g_signal_has_handler_pending (self,
                              signals[SIGNAL_REQUEST_TOKEN_ASYNC], 0, TRUE);

  self->generation++;
  drop_socket (self, METERED_CLOSE_NORMAL, "");
  cancel_token_request (self);

  if (self->api_key) {
    open_socket (self, "key", self->api_key);
    return;
  }
  if (self->token) {
    open_socket (self, "token", self->token);
    return;
  }
  g_assert (has_provider);

  self->token_timer = metered_clock_schedule (
      self->clock, self->token_provider_timeout_ms, on_token_timeout, self);
  if (self->token_url) {
    fetch_token_url (self);
  } else if (g_signal_has_handler_pending (
                 self, signals[SIGNAL_REQUEST_TOKEN_ASYNC], 0, TRUE)) {
    MeteredTokenRequest *request =
        g_object_new (METERED_TYPE_TOKEN_REQUEST, NULL);
    gboolean handled = FALSE;

    self->token_request = g_object_ref (request);
    g_object_set_data_full (G_OBJECT (request), "metered-attempt",
        attempt_ref_new (self), (GDestroyNotify) attempt_ref_free);
    g_signal_emit (
        self, signals[SIGNAL_REQUEST_TOKEN_ASYNC], 0, request, &handled);
    g_object_unref (request);
    if (!handled && self->token_request == request) {
      g_autoptr (GError) e = g_error_new_literal (METERED_CLIENT_ERROR,
          METERED_CLIENT_ERROR_TOKEN_PROVIDER,
          "no request-token-async handler took the request");
      token_resolved (self, NULL, e);
    }
  } else {
    g_autofree char *token = NULL;
    g_signal_emit (self, signals[SIGNAL_REQUEST_TOKEN], 0, &token);
    if (self->token_timer) {
      g_autoptr (GError) e = token ? NULL
                                   : g_error_new_literal (METERED_CLIENT_ERROR,
                                         METERED_CLIENT_ERROR_TOKEN_PROVIDER,
                                         "request-token returned no token");
      token_resolved (self, token, e);
    }
  }
}

/* --- MeteredTokenRequest --- */

struct _MeteredTokenRequest
{
  GObject parent;
  GCancellable *cancellable;
  gboolean completed;
};

G_DEFINE_FINAL_TYPE (MeteredTokenRequest, metered_token_request, G_TYPE_OBJECT)

static void
metered_token_request_finalize (GObject *object)
{
  MeteredTokenRequest *self = METERED_TOKEN_REQUEST (object);

  g_object_unref (self->cancellable);
  G_OBJECT_CLASS (metered_token_request_parent_class)->finalize (object);
}

static void
metered_token_request_class_init (MeteredTokenRequestClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = metered_token_request_finalize;
}

static void
metered_token_request_init (MeteredTokenRequest *self)
{
  self->cancellable = g_cancellable_new ();
}

GCancellable *
metered_token_request_get_cancellable (MeteredTokenRequest *request)
{
  return request->cancellable;
}

typedef struct
{
  MeteredTokenRequest *request;
  char *token;
  GError *error;
} TokenAnswer;

static gboolean
token_answer_apply (gpointer data)
{
  TokenAnswer *answer = data;
  AttemptRef *ref =
      g_object_get_data (G_OBJECT (answer->request), "metered-attempt");
  g_autoptr (MeteredSignallingClient) self = ref ? attempt_ref_get (ref) : NULL;

  if (self && self->token_request == answer->request && self->token_timer)
    token_resolved (self, answer->token, answer->error);
  return G_SOURCE_REMOVE;
}

static void
token_answer_free (gpointer data)
{
  TokenAnswer *answer = data;

  g_object_unref (answer->request);
  g_free (answer->token);
  g_clear_error (&answer->error);
  g_free (answer);
}

static void
token_request_complete (
    MeteredTokenRequest *request, const char *token, const GError *error)
{
  AttemptRef *ref = g_object_get_data (G_OBJECT (request), "metered-attempt");
  g_autoptr (MeteredSignallingClient) self =
      ref ? g_weak_ref_get (&ref->client) : NULL;
  TokenAnswer *answer;

  if (request->completed || !self)
    return;
  request->completed = TRUE;
  answer = g_new0 (TokenAnswer, 1);
  answer->request = g_object_ref (request);
  answer->token = g_strdup (token);
  answer->error = error ? g_error_copy (error) : NULL;
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT,
      token_answer_apply, answer, token_answer_free);
}

void
metered_token_request_return_token (
    MeteredTokenRequest *request, const char *token)
{
  g_return_if_fail (METERED_IS_TOKEN_REQUEST (request));
  token_request_complete (request, token, NULL);
}

void
metered_token_request_return_error (
    MeteredTokenRequest *request, const GError *error)
{
  g_return_if_fail (METERED_IS_TOKEN_REQUEST (request));
  g_return_if_fail (error != NULL);
  token_request_complete (request, NULL, error);
}

/* --- marshalling public calls onto the client's context --- */

typedef void (*ClientFunc) (MeteredSignallingClient *self, gpointer data);

typedef struct
{
  MeteredSignallingClient *self;
  ClientFunc func;
  gpointer data;
  GDestroyNotify destroy;
} Invocation;

static gboolean
invocation_run (gpointer data)
{
  Invocation *inv = data;

  g_main_context_push_thread_default (inv->self->context);
  inv->func (inv->self, inv->data);
  g_main_context_pop_thread_default (inv->self->context);
  return G_SOURCE_REMOVE;
}

static void
invocation_free (gpointer data)
{
  Invocation *inv = data;

  if (inv->destroy && inv->data)
    inv->destroy (inv->data);
  g_object_unref (inv->self);
  g_free (inv);
}

/* Runs func on the client's context: at once when this thread can own
 * it, else from that context's loop. */
static void
client_invoke (MeteredSignallingClient *self, ClientFunc func, gpointer data,
    GDestroyNotify destroy)
{
  Invocation *inv = g_new0 (Invocation, 1);

  inv->self = g_object_ref (self);
  inv->func = func;
  inv->data = data;
  inv->destroy = destroy;
  g_main_context_invoke_full (
      self->context, G_PRIORITY_DEFAULT, invocation_run, inv, invocation_free);
}

/* --- public API --- */

/* A task for a channel request; NULL (and the task completed with
 * INVALID_ARGUMENT) when the channel name breaks the SDK's rules. */
static GTask *
channel_task_new (MeteredSignallingClient *self, const char *channel,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
    gpointer source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  if (!channel || !metered_channel_is_valid (channel)) {
    g_task_return_new_error (task, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT, "invalid channel name");
    g_object_unref (task);
    return NULL;
  }
  g_task_set_task_data (task, g_strdup (channel), g_free);
  return task;
}

/* Every request completes with a boolean. */
static gboolean
request_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
credentials_valid (MeteredSignallingClient *self, GError **error)
{
  guint n = (self->api_key != NULL) + (self->token != NULL) +
            (self->token_url != NULL ||
                g_signal_has_handler_pending (
                    self, signals[SIGNAL_REQUEST_TOKEN], 0, TRUE) ||
                g_signal_has_handler_pending (
                    self, signals[SIGNAL_REQUEST_TOKEN_ASYNC], 0, TRUE));

  if (n != 1) {
    g_set_error (error, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT,
        "exactly one credential is needed: api-key, token, or a token "
        "provider (token-url or a request-token handler); %u given",
        n);
    return FALSE;
  }
  return metered_client_url_validate (self->url, error);
}

static void
do_connect (MeteredSignallingClient *self, gpointer data)
{
  GTask *task = data;
  GError *error = NULL;

  if (self->state != METERED_CLIENT_STATE_IDLE &&
      self->state != METERED_CLIENT_STATE_CLOSED) {
    g_task_return_new_error (task, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_STATE, "connect() while %s",
        metered_client_state_to_string (self->state));
    return;
  }
  if (!credentials_valid (self, &error)) {
    g_task_return_error (task, error);
    return;
  }
  self->attempt = 0;
  self->ever_welcomed = FALSE;
  self->closed_explicitly = FALSE;
  /* token_failures is reset only by a token that resolves (§1.2). */
  self->slow_floor_pending = FALSE;
  self->going_away_ms = 0;
  self->connect_task = g_object_ref (task);
  set_state (self, METERED_CLIENT_STATE_CONNECTING);
  start_attempt (self);
}

void
metered_signalling_client_connect_async (MeteredSignallingClient *self,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, metered_signalling_client_connect_async);
  client_invoke (self, do_connect, task, g_object_unref);
}

gboolean
metered_signalling_client_connect_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return request_finish (self, result, error);
}

typedef struct
{
  int code;
  char *reason;
} CloseArgs;

static void
close_args_free (gpointer data)
{
  CloseArgs *args = data;

  g_free (args->reason);
  g_free (args);
}

static void
do_close (MeteredSignallingClient *self, gpointer data)
{
  CloseArgs *args = data;
  g_autoptr (GError) error = g_error_new_literal (METERED_CLIENT_ERROR,
      METERED_CLIENT_ERROR_CLOSED, "the client was closed");
  gboolean had_socket = self->ws != NULL || self->attempt_cancellable != NULL;

  if (self->state == METERED_CLIENT_STATE_CLOSED)
    return;
  self->closed_explicitly = TRUE;
  metered_clock_clear (self->clock, &self->backoff_timer);
  metered_clock_clear (self->clock, &self->stuck_timer);
  cancel_token_request (self);
  drop_socket (self, args->code, args->reason);
  set_state (self, METERED_CLIENT_STATE_CLOSED);
  if (had_socket)
    g_signal_emit (
        self, signals[SIGNAL_DISCONNECTED], 0, args->code, args->reason, FALSE);
  fail_all_requests (self, error);
  if (self->connect_task)
    task_return_error (&self->connect_task, g_error_copy (error));
}

/**
 * metered_signalling_client_close:
 * @self: the client
 * @code: the close code; 0 (or less) for 1000
 * @reason: (nullable): the close reason; NULL for "client requested close"
 *
 * Terminal close: see the header.
 */
void
metered_signalling_client_close (
    MeteredSignallingClient *self, int code, const char *reason)
{
  CloseArgs *args;

  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  args = g_new0 (CloseArgs, 1);
  args->code = code > 0 ? code : METERED_CLOSE_NORMAL;
  args->reason = g_strdup (reason ? reason : "client requested close");
  client_invoke (self, do_close, args, close_args_free);
}

static void
do_reconnect_now (MeteredSignallingClient *self, gpointer data)
{
  if (self->state == METERED_CLIENT_STATE_RECONNECTING && self->backoff_timer) {
    LOG_INFO ("reconnect-now: skipping the rest of the backoff");
    metered_clock_clear (self->clock, &self->backoff_timer);
    start_attempt (self);
  }
}

void
metered_signalling_client_reconnect_now (MeteredSignallingClient *self)
{
  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  client_invoke (self, do_reconnect_now, NULL, NULL);
}

static GError *
not_connected_error (MeteredSignallingClient *self)
{
  return g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_NOT_CONNECTED,
      "the client is %s", metered_client_state_to_string (self->state));
}

static void
do_subscribe (MeteredSignallingClient *self, gpointer data)
{
  GTask *task = data;
  const char *channel = g_task_get_task_data (task);
  Subscription *sub = subscription_get (self, channel);
  gboolean include = GPOINTER_TO_INT (
      g_object_get_data (G_OBJECT (task), "include-sender-metadata"));
  Request *req;

  if (self->state != METERED_CLIENT_STATE_CONNECTED &&
      self->state != METERED_CLIENT_STATE_RECONNECTING) {
    g_task_return_error (task, not_connected_error (self));
    return;
  }
  /* Tracked before sending, so a drop before the ack still replays it. */
  if (!sub) {
    sub = g_new0 (Subscription, 1);
    sub->client = self;
    sub->channel = g_strdup (channel);
    g_hash_table_insert (self->subscriptions, sub->channel, sub);
  }
  sub->include_sender_metadata = include;

  if (self->state == METERED_CLIENT_STATE_RECONNECTING) {
    sub->waiting = g_list_append (sub->waiting, g_object_ref (task));
    return;
  }
  req = new_subscribe_request (self, sub, FALSE);
  req->task = g_object_ref (task);
  send_request (self, req);
}

void
metered_signalling_client_subscribe_async (MeteredSignallingClient *self,
    const char *channel, gboolean include_sender_metadata,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  task = channel_task_new (self, channel, cancellable, callback, user_data,
      metered_signalling_client_subscribe_async);
  if (!task)
    return;
  g_object_set_data (G_OBJECT (task), "include-sender-metadata",
      GINT_TO_POINTER (include_sender_metadata));
  client_invoke (self, do_subscribe, task, g_object_unref);
}

gboolean
metered_signalling_client_subscribe_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return request_finish (self, result, error);
}

static void
do_unsubscribe (MeteredSignallingClient *self, gpointer data)
{
  GTask *task = data;
  const char *channel = g_task_get_task_data (task);
  Request *req;
  Subscription *sub = subscription_get (self, channel);

  if (self->state != METERED_CLIENT_STATE_CONNECTED &&
      self->state != METERED_CLIENT_STATE_RECONNECTING) {
    g_task_return_error (task, not_connected_error (self));
    return;
  }
  if (sub) {
    g_autoptr (GError) error =
        g_error_new_literal (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CLOSED,
            "unsubscribed before the subscribe "
            "completed");
    subscription_resolve (self, sub, error);
    g_hash_table_remove (self->subscriptions, channel);
  }
  if (self->state == METERED_CLIENT_STATE_RECONNECTING) {
    /* The server dropped the subscription with the socket. */
    g_task_return_boolean (task, TRUE);
    return;
  }
  req = g_new0 (Request, 1);
  req->client = self;
  req->kind = REQ_UNSUBSCRIBE;
  req->seq = self->next_seq++;
  req->request_id = g_uuid_string_random ();
  req->channel = g_strdup (channel);
  req->frame = metered_frame_build_unsubscribe (channel, req->request_id);
  req->task = g_object_ref (task);
  send_request (self, req);
}

void
metered_signalling_client_unsubscribe_async (MeteredSignallingClient *self,
    const char *channel, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  task = channel_task_new (self, channel, cancellable, callback, user_data,
      metered_signalling_client_unsubscribe_async);
  if (task)
    client_invoke (self, do_unsubscribe, task, g_object_unref);
}

gboolean
metered_signalling_client_unsubscribe_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return request_finish (self, result, error);
}

/* publish and send share everything but the frame. */
static void
do_data_request (MeteredSignallingClient *self, gpointer data)
{
  Request *req = data;
  gsize size = strlen (g_object_get_data (G_OBJECT (req->task), "data-json"));
  gint64 cap;

  g_mutex_lock (&self->lock);
  cap = self->max_message_size > 0 ? self->max_message_size
                                   : METERED_DEFAULT_MAX_MESSAGE_SIZE;
  g_mutex_unlock (&self->lock);

  if ((gint64) size > cap) {
    request_fail (self, req,
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_OVERSIZED,
            "payload of %" G_GSIZE_FORMAT
            " bytes exceeds maxMessageSize %" G_GINT64_FORMAT,
            size, cap));
    return;
  }
  if (self->state == METERED_CLIENT_STATE_CONNECTED) {
    send_request (self, req);
  } else if (self->state == METERED_CLIENT_STATE_RECONNECTING) {
    if (g_queue_get_length (&self->queue) >= self->queue_size) {
      request_fail (self, req,
          g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_QUEUE_FULL,
              "outbound queue full (%u requests waiting for a reconnect)",
              self->queue_size));
      return;
    }
    g_queue_push_tail (&self->queue, req);
  } else {
    request_fail (self, req, not_connected_error (self));
  }
}

static void
data_request_async (MeteredSignallingClient *self, RequestKind kind,
    const char *target, const char *data_json, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  gboolean target_ok;
  Request *req;

  g_task_set_source_tag (task, tag);
  target_ok =
      target && (kind == REQ_PUBLISH ? metered_channel_is_valid (target)
                                     : metered_peer_id_is_valid (target));
  if (!target_ok || !data_json ||
      !metered_json_validate (
          data_json, strlen (data_json), METERED_JSON_MAX_DEPTH)) {
    g_task_return_new_error (task, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT, "%s",
        !target_ok
            ? (kind == REQ_PUBLISH ? "invalid channel name" : "invalid peer id")
            : "data is not valid JSON");
    g_object_unref (task);
    return;
  }
  g_object_set_data_full (
      G_OBJECT (task), "data-json", g_strdup (data_json), g_free);

  req = g_new0 (Request, 1);
  req->client = self;
  req->kind = kind;
  req->request_id = g_uuid_string_random ();
  req->channel = g_strdup (target);
  req->frame =
      kind == REQ_PUBLISH
          ? metered_frame_build_publish (target, data_json, req->request_id)
          : metered_frame_build_send (target, data_json, req->request_id);
  req->task = task;
  /* Sequence numbers order the queue; taken under the lock because
   * callers may be on any thread. */
  g_mutex_lock (&self->lock);
  req->seq = self->next_seq++;
  g_mutex_unlock (&self->lock);
  client_invoke (self, do_data_request, req, NULL);
}

void
metered_signalling_client_publish_async (MeteredSignallingClient *self,
    const char *channel, const char *data_json, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  data_request_async (self, REQ_PUBLISH, channel, data_json, cancellable,
      callback, user_data, metered_signalling_client_publish_async);
}

gboolean
metered_signalling_client_publish_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return request_finish (self, result, error);
}

void
metered_signalling_client_send_async (MeteredSignallingClient *self,
    const char *to, const char *data_json, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  data_request_async (self, REQ_SEND, to, data_json, cancellable, callback,
      user_data, metered_signalling_client_send_async);
}

gboolean
metered_signalling_client_send_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return request_finish (self, result, error);
}

GMainContext *
metered_signalling_client_get_context (MeteredSignallingClient *self)
{
  return self->context;
}

MeteredClientState
metered_signalling_client_get_state (MeteredSignallingClient *self)
{
  MeteredClientState state;

  g_mutex_lock (&self->lock);
  state = self->state;
  g_mutex_unlock (&self->lock);
  return state;
}

char *
metered_signalling_client_dup_peer_id (MeteredSignallingClient *self)
{
  char *peer_id;

  g_mutex_lock (&self->lock);
  peer_id = g_strdup (self->peer_id);
  g_mutex_unlock (&self->lock);
  return peer_id;
}

GVariant *
metered_signalling_client_get_stats (MeteredSignallingClient *self)
{
  GVariantBuilder b;
  gint64 now = metered_clock_now_ms (self->clock);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_mutex_lock (&self->lock);
  g_variant_builder_add (&b, "{sv}", "state",
      g_variant_new_string (metered_client_state_to_string (self->state)));
  g_variant_builder_add (
      &b, "{sv}", "reconnects", g_variant_new_uint64 (self->reconnects));
  g_variant_builder_add (
      &b, "{sv}", "reconnect-attempt", g_variant_new_uint32 (self->attempt));
  g_variant_builder_add (&b, "{sv}", "last-close-code",
      g_variant_new_int32 (self->last_close_code));
  g_variant_builder_add (&b, "{sv}", "queue-depth",
      g_variant_new_uint32 (g_queue_get_length (&self->queue)));
  g_variant_builder_add (&b, "{sv}", "pending-requests",
      g_variant_new_uint32 (g_hash_table_size (self->pending)));
  g_variant_builder_add (&b, "{sv}", "token-failures",
      g_variant_new_uint32 (self->token_failures));
  g_variant_builder_add (&b, "{sv}", "illegal-transitions",
      g_variant_new_uint32 (self->illegal_transitions));
  for (guint s = 0; s <= METERED_CLIENT_STATE_CLOSED; s++) {
    g_autofree char *key =
        g_strdup_printf ("ms-in-%s", metered_client_state_to_string (s));
    gint64 ms = self->ms_in_state[s] +
                (s == self->state ? now - self->state_since_ms : 0);
    g_variant_builder_add (&b, "{sv}", key, g_variant_new_int64 (ms));
  }
  g_mutex_unlock (&self->lock);
  return g_variant_builder_end (&b);
}

/* --- GObject --- */

static void
set_string (char **field, const GValue *value)
{
  const char *s = g_value_get_string (value);

  g_free (*field);
  *field = s && *s ? g_strdup (s) : NULL;
}

static void
metered_signalling_client_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  MeteredSignallingClient *self = METERED_SIGNALLING_CLIENT (object);

  switch (prop_id) {
    case PROP_URL:
      set_string (&self->url, value);
      if (!self->url)
        self->url = g_strdup (METERED_DEFAULT_URL);
      break;
    case PROP_API_KEY:
      set_string (&self->api_key, value);
      break;
    case PROP_TOKEN:
      set_string (&self->token, value);
      break;
    case PROP_TOKEN_URL:
      set_string (&self->token_url, value);
      break;
    case PROP_TOKEN_URL_METHOD:
      set_string (&self->token_url_method, value);
      if (!self->token_url_method ||
          !(g_str_equal (self->token_url_method, "GET") ||
              g_str_equal (self->token_url_method, "POST"))) {
        g_warning ("token-url-method must be GET or POST; using GET");
        g_free (self->token_url_method);
        self->token_url_method = g_strdup (DEFAULT_TOKEN_URL_METHOD);
      }
      break;
    case PROP_TOKEN_PROVIDER_TIMEOUT:
      self->token_provider_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_RECONNECT:
      self->reconnect = g_value_get_boolean (value);
      break;
    case PROP_RECONNECT_INITIAL_DELAY:
      self->backoff.initial_delay_ms = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_MULTIPLIER:
      self->backoff.multiplier = g_value_get_double (value);
      break;
    case PROP_RECONNECT_MAX_DELAY:
      self->backoff.max_delay_ms = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_JITTER:
      self->backoff.jitter_ratio = g_value_get_double (value);
      break;
    case PROP_RECONNECT_MAX_ATTEMPTS: {
      gint64 max = g_value_get_int64 (value);
      if (max == 0)
        g_warning ("reconnect-max-attempts must be > 0 or -1 (forever); "
                   "keeping %" G_GINT64_FORMAT,
            self->backoff.max_attempts);
      else
        self->backoff.max_attempts = max;
      break;
    }
    case PROP_SLOW_BACKOFF_FLOOR:
      self->slow_floor_ms = g_value_get_uint (value);
      break;
    case PROP_INACTIVITY_TIMEOUT:
      self->inactivity_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_WELCOME_TIMEOUT:
      self->welcome_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_ACK_TIMEOUT:
      self->ack_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_STUCK_TIMEOUT:
      self->stuck_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_OUTBOUND_QUEUE_SIZE:
      self->queue_size = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
metered_signalling_client_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MeteredSignallingClient *self = METERED_SIGNALLING_CLIENT (object);

  switch (prop_id) {
    case PROP_URL:
      g_value_set_string (value, self->url);
      break;
    case PROP_API_KEY:
      /* Write-only in spirit: say whether one is set, never its value. */
      g_value_set_string (value, self->api_key ? "***" : NULL);
      break;
    case PROP_TOKEN:
      g_value_set_string (value, self->token ? "***" : NULL);
      break;
    case PROP_TOKEN_URL:
      g_value_take_string (
          value, self->token_url ? metered_scrub_url (self->token_url) : NULL);
      break;
    case PROP_TOKEN_URL_METHOD:
      g_value_set_string (value, self->token_url_method);
      break;
    case PROP_TOKEN_PROVIDER_TIMEOUT:
      g_value_set_uint (value, self->token_provider_timeout_ms);
      break;
    case PROP_RECONNECT:
      g_value_set_boolean (value, self->reconnect);
      break;
    case PROP_RECONNECT_INITIAL_DELAY:
      g_value_set_uint (value, (guint) self->backoff.initial_delay_ms);
      break;
    case PROP_RECONNECT_MULTIPLIER:
      g_value_set_double (value, self->backoff.multiplier);
      break;
    case PROP_RECONNECT_MAX_DELAY:
      g_value_set_uint (value, (guint) self->backoff.max_delay_ms);
      break;
    case PROP_RECONNECT_JITTER:
      g_value_set_double (value, self->backoff.jitter_ratio);
      break;
    case PROP_RECONNECT_MAX_ATTEMPTS:
      g_value_set_int64 (value, self->backoff.max_attempts);
      break;
    case PROP_SLOW_BACKOFF_FLOOR:
      g_value_set_uint (value, self->slow_floor_ms);
      break;
    case PROP_INACTIVITY_TIMEOUT:
      g_value_set_uint (value, self->inactivity_timeout_ms);
      break;
    case PROP_WELCOME_TIMEOUT:
      g_value_set_uint (value, self->welcome_timeout_ms);
      break;
    case PROP_ACK_TIMEOUT:
      g_value_set_uint (value, self->ack_timeout_ms);
      break;
    case PROP_STUCK_TIMEOUT:
      g_value_set_uint (value, self->stuck_timeout_ms);
      break;
    case PROP_OUTBOUND_QUEUE_SIZE:
      g_value_set_uint (value, self->queue_size);
      break;
    case PROP_STATE:
      g_value_set_enum (value, metered_signalling_client_get_state (self));
      break;
    case PROP_PEER_ID:
      g_value_take_string (value, metered_signalling_client_dup_peer_id (self));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_mutex_lock (&self->lock);
      g_value_set_int64 (value, self->max_message_size);
      g_mutex_unlock (&self->lock);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
teardown (MeteredSignallingClient *self, gpointer data)
{
  g_autoptr (GError) error = g_error_new_literal (METERED_CLIENT_ERROR,
      METERED_CLIENT_ERROR_CLOSED, "the client was disposed");

  self->closed_explicitly = TRUE;
  metered_clock_clear (self->clock, &self->backoff_timer);
  metered_clock_clear (self->clock, &self->stuck_timer);
  metered_clock_clear (self->clock, &self->token_timer);
  cancel_token_request (self);
  drop_socket (self, METERED_CLOSE_NORMAL, "client requested close");
  fail_all_requests (self, error);
  if (self->connect_task)
    task_return_error (&self->connect_task, g_error_copy (error));
}

static void
metered_signalling_client_dispose (GObject *object)
{
  MeteredSignallingClient *self = METERED_SIGNALLING_CLIENT (object);

  /* Timers and the socket belong to the client's context: tear down while
   * owning it. A context another thread is iterating right now cannot be
   * acquired; owners stop their thread before the last unref. */
  if (self->context) {
    gboolean acquired = g_main_context_acquire (self->context);
    if (!acquired)
      g_critical ("metered-client disposed while another thread runs its "
                  "context");
    g_main_context_push_thread_default (self->context);
    teardown (self, NULL);
    g_hash_table_remove_all (self->subscriptions);
    g_clear_object (&self->session);
    g_main_context_pop_thread_default (self->context);
    if (acquired)
      g_main_context_release (self->context);
  }
  G_OBJECT_CLASS (metered_signalling_client_parent_class)->dispose (object);
}

static void
metered_signalling_client_finalize (GObject *object)
{
  MeteredSignallingClient *self = METERED_SIGNALLING_CLIENT (object);

  g_hash_table_unref (self->pending);
  g_hash_table_unref (self->subscriptions);
  g_clear_object (&self->clock);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->url);
  g_free (self->api_key);
  g_free (self->token);
  g_free (self->token_url);
  g_free (self->token_url_method);
  g_free (self->peer_id);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (metered_signalling_client_parent_class)->finalize (object);
}

static gboolean
first_token_accumulator (GSignalInvocationHint *hint, GValue *acc,
    const GValue *handler_return, gpointer data)
{
  const char *token = g_value_get_string (handler_return);

  if (token && *token) {
    g_value_set_string (acc, token);
    return FALSE; /* the first handler with a token wins */
  }
  return TRUE;
}

static void
metered_signalling_client_class_init (MeteredSignallingClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags rw =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->set_property = metered_signalling_client_set_property;
  object_class->get_property = metered_signalling_client_get_property;
  object_class->dispose = metered_signalling_client_dispose;
  object_class->finalize = metered_signalling_client_finalize;

  /**
   * MeteredSignallingClient:url:
   *
   * Base URL of the service: wss://host[:port] (ws:// only for localhost,
   * 127.0.0.1 and ::1), no path, query or fragment.
   */
  props[PROP_URL] = g_param_spec_string ("url", "URL",
      "Base URL of the signalling service (wss://, or ws:// on loopback)",
      METERED_DEFAULT_URL, rw);
  /**
   * MeteredSignallingClient:api-key:
   *
   * A publishable key (pk_...). Reads back as "***" when set.
   */
  props[PROP_API_KEY] = g_param_spec_string ("api-key", "API key",
      "Publishable key (exactly one credential: api-key, token or a token "
      "provider)",
      NULL, rw);
  props[PROP_TOKEN] = g_param_spec_string (
      "token", "Token", "A static JWT (reads back as ***)", NULL, rw);
  props[PROP_TOKEN_URL] = g_param_spec_string ("token-url", "Token URL",
      "HTTP(S) endpoint answering a JWT as text or JSON {token}; called "
      "before every connection attempt",
      NULL, rw);
  props[PROP_TOKEN_URL_METHOD] = g_param_spec_string ("token-url-method",
      "Token URL method", "GET or POST", DEFAULT_TOKEN_URL_METHOD, rw);
  props[PROP_TOKEN_PROVIDER_TIMEOUT] =
      g_param_spec_uint ("token-provider-timeout", "Token provider timeout",
          "Milliseconds a token provider may take before the attempt fails", 1,
          G_MAXUINT, METERED_TOKEN_PROVIDER_TIMEOUT_MS, rw);
  props[PROP_RECONNECT] = g_param_spec_boolean ("reconnect", "Reconnect",
      "Reconnect after a non-terminal close", TRUE, rw);
  props[PROP_RECONNECT_INITIAL_DELAY] =
      g_param_spec_uint ("reconnect-initial-delay", "Initial delay",
          "First backoff delay in ms", 0, G_MAXINT, 500, rw);
  props[PROP_RECONNECT_MULTIPLIER] =
      g_param_spec_double ("reconnect-multiplier", "Multiplier",
          "Backoff growth factor", 1.0, 100.0, 2.0, rw);
  props[PROP_RECONNECT_MAX_DELAY] = g_param_spec_uint ("reconnect-max-delay",
      "Maximum delay", "Backoff cap in ms (jitter applies after the cap)", 0,
      G_MAXINT, 30000, rw);
  props[PROP_RECONNECT_JITTER] = g_param_spec_double ("reconnect-jitter",
      "Jitter", "Symmetric jitter ratio of every delay", 0.0, 1.0, 0.2, rw);
  props[PROP_RECONNECT_MAX_ATTEMPTS] =
      g_param_spec_int64 ("reconnect-max-attempts", "Maximum attempts",
          "Reconnect attempts before giving up; -1 retries forever", -1,
          G_MAXINT64, 100, rw);
  props[PROP_SLOW_BACKOFF_FLOOR] =
      g_param_spec_uint ("slow-backoff-floor", "Slow backoff floor",
          "Minimum delay in ms (before jitter) after a 4010 close", 0, G_MAXINT,
          METERED_SLOW_BACKOFF_FLOOR_MS, rw);
  props[PROP_INACTIVITY_TIMEOUT] =
      g_param_spec_uint ("inactivity-timeout", "Inactivity timeout",
          "Close 4000 and reconnect after this many ms without a frame; a ping "
          "goes out every third of it; 0 disables both",
          0, G_MAXINT, METERED_INACTIVITY_TIMEOUT_MS, rw);
  props[PROP_WELCOME_TIMEOUT] = g_param_spec_uint ("welcome-timeout",
      "Welcome timeout", "Milliseconds to wait for the welcome frame", 1,
      G_MAXINT, METERED_WELCOME_TIMEOUT_MS, rw);
  props[PROP_ACK_TIMEOUT] = g_param_spec_uint ("ack-timeout", "Ack timeout",
      "Milliseconds to wait for an ack", 1, G_MAXINT, METERED_ACK_TIMEOUT_MS,
      rw);
  props[PROP_STUCK_TIMEOUT] =
      g_param_spec_uint ("stuck-timeout", "Stuck timeout",
          "Emit ::stuck after this many ms of reconnecting "
          "(0 = never)",
          0, G_MAXINT, DEFAULT_STUCK_TIMEOUT_MS, rw);
  props[PROP_OUTBOUND_QUEUE_SIZE] =
      g_param_spec_uint ("outbound-queue-size", "Outbound queue size",
          "Publish/send calls kept while reconnecting; one more fails at once",
          0, G_MAXINT, DEFAULT_QUEUE_SIZE, rw);
  props[PROP_STATE] = g_param_spec_enum ("state", "State", "Connection state",
      METERED_TYPE_CLIENT_STATE, METERED_CLIENT_STATE_IDLE,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_PEER_ID] =
      g_param_spec_string ("peer-id", "Peer id", "peerId of the latest welcome",
          NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_MAX_MESSAGE_SIZE] = g_param_spec_int64 ("max-message-size",
      "Max message size", "maxMessageSize of the latest welcome", 0, G_MAXINT64,
      METERED_DEFAULT_MAX_MESSAGE_SIZE,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * MeteredSignallingClient::state-changed:
   * @client: the #MeteredSignallingClient
   * @from: previous #MeteredClientState
   * @to: new #MeteredClientState
   */
  signals[SIGNAL_STATE_CHANGED] = g_signal_new ("state-changed",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 2, METERED_TYPE_CLIENT_STATE, METERED_TYPE_CLIENT_STATE);
  /**
   * MeteredSignallingClient::connected:
   * @client: the #MeteredSignallingClient
   * @peer_id: the peerId
   * @server_time: the server's clock (Unix seconds)
   * @expires_at: token expiry (Unix seconds) or -1
   * @is_reconnect: FALSE for the first welcome after connect
   * @max_message_size: payload cap in bytes
   * @ice_servers: (nullable): validated iceServers, aa{sv}
   */
  signals[SIGNAL_CONNECTED] =
      g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 6, G_TYPE_STRING, G_TYPE_DOUBLE,
          G_TYPE_INT64, G_TYPE_BOOLEAN, G_TYPE_INT64, G_TYPE_VARIANT);
  /**
   * MeteredSignallingClient::disconnected:
   * @client: the #MeteredSignallingClient
   * @code: the close code
   * @reason: the close reason
   * @will_reconnect: whether a reconnect follows
   */
  signals[SIGNAL_DISCONNECTED] = g_signal_new ("disconnected",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_STRING, G_TYPE_BOOLEAN);
  signals[SIGNAL_GOING_AWAY] =
      g_signal_new ("going-away", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /**
   * MeteredSignallingClient::server-error:
   * @client: the #MeteredSignallingClient
   * @code: the server's error code
   * @request_id: (nullable): the requestId it names, if any
   * @message: (nullable): the server's message
   *
   * An error frame that answers no pending request.
   */
  signals[SIGNAL_SERVER_ERROR] = g_signal_new ("server-error",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MeteredSignallingClient::token-provider-error:
   * @client: the #MeteredSignallingClient
   * @consecutive_failures: failures in a row (3 or more)
   * @error: the last failure
   */
  signals[SIGNAL_TOKEN_PROVIDER_ERROR] = g_signal_new ("token-provider-error",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_ERROR);
  /**
   * MeteredSignallingClient::message:
   * @client: the #MeteredSignallingClient
   * @channel: the channel
   * @from: the sender's peerId
   * @data: the payload as JSON text, exactly as the sender wrote it
   * @from_metadata: (nullable): the sender's metadata as JSON text
   */
  signals[SIGNAL_MESSAGE] = g_signal_new ("message", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 4, G_TYPE_STRING,
      G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MeteredSignallingClient::direct:
   * @client: the #MeteredSignallingClient
   * @from: the sender's peerId
   * @data: the payload as JSON text
   * @from_metadata: (nullable): the sender's metadata as JSON text
   */
  signals[SIGNAL_DIRECT] = g_signal_new ("direct", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING,
      G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MeteredSignallingClient::presence:
   * @client: the #MeteredSignallingClient
   * @channel: the channel
   * @joined: a(sms): peerId and metadata JSON of peers that joined
   * @left: a(sms): the same for peers that left
   */
  signals[SIGNAL_PRESENCE] = g_signal_new ("presence",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_VARIANT, G_TYPE_VARIANT);
  /**
   * MeteredSignallingClient::stuck:
   * @client: the #MeteredSignallingClient
   * @reconnecting_ms: how long the client has been reconnecting
   */
  signals[SIGNAL_STUCK] = g_signal_new ("stuck", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /**
   * MeteredSignallingClient::exhausted:
   * @client: the #MeteredSignallingClient
   * @attempts: reconnect attempts made
   */
  signals[SIGNAL_EXHAUSTED] =
      g_signal_new ("exhausted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  /**
   * MeteredSignallingClient::request-token:
   * @client: the #MeteredSignallingClient
   *
   * Called before every connection attempt when no api-key, token or
   * token-url is set. Return a JWT (the first non-empty answer wins).
   *
   * Returns: (transfer full) (nullable): the JWT
   */
  signals[SIGNAL_REQUEST_TOKEN] = g_signal_new ("request-token",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, first_token_accumulator,
      NULL, NULL, G_TYPE_STRING, 0);
  /**
   * MeteredSignallingClient::request-token-async:
   * @client: the #MeteredSignallingClient
   * @request: complete it with metered_token_request_return_token()
   *
   * The asynchronous token provider: take @request (return TRUE) and
   * complete it later from any thread, within token-provider-timeout.
   *
   * Returns: TRUE if the handler will complete @request
   */
  signals[SIGNAL_REQUEST_TOKEN_ASYNC] =
      g_signal_new ("request-token-async", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST, 0, g_signal_accumulator_true_handled, NULL, NULL,
          G_TYPE_BOOLEAN, 1, METERED_TYPE_TOKEN_REQUEST);
}

static void
metered_signalling_client_init (MeteredSignallingClient *self)
{
  MeteredBackoffConfig defaults = METERED_BACKOFF_CONFIG_DEFAULT;

  g_mutex_init (&self->lock);
  self->url = g_strdup (METERED_DEFAULT_URL);
  self->token_url_method = g_strdup (DEFAULT_TOKEN_URL_METHOD);
  self->token_provider_timeout_ms = METERED_TOKEN_PROVIDER_TIMEOUT_MS;
  self->reconnect = TRUE;
  self->backoff = defaults;
  self->slow_floor_ms = METERED_SLOW_BACKOFF_FLOOR_MS;
  self->inactivity_timeout_ms = METERED_INACTIVITY_TIMEOUT_MS;
  self->welcome_timeout_ms = METERED_WELCOME_TIMEOUT_MS;
  self->ack_timeout_ms = METERED_ACK_TIMEOUT_MS;
  self->stuck_timeout_ms = DEFAULT_STUCK_TIMEOUT_MS;
  self->queue_size = DEFAULT_QUEUE_SIZE;
  self->max_message_size = METERED_DEFAULT_MAX_MESSAGE_SIZE;
  self->pending = g_hash_table_new (g_str_hash, g_str_equal);
  self->subscriptions = g_hash_table_new_full (
      g_str_hash, g_str_equal, NULL, (GDestroyNotify) subscription_free);
  g_queue_init (&self->queue);
}

MeteredSignallingClient *
metered_signalling_client_new (GMainContext *context, MeteredClock *clock)
{
  MeteredSignallingClient *self =
      g_object_new (METERED_TYPE_SIGNALLING_CLIENT, NULL);

  self->context = context ? g_main_context_ref (context)
                          : g_main_context_ref_thread_default ();
  self->clock =
      clock ? g_object_ref (clock) : metered_system_clock_new (self->context);
  self->state_since_ms = metered_clock_now_ms (self->clock);
  return self;
}
