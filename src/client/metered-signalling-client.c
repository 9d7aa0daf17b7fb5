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

/* This file is the connection state machine (idle, connecting,
 * connected, reconnecting, closed: protocol doc §4-§6): one attempt at a
 * time, the socket's open and close, backoff, the public connect, close
 * and reconnect-now calls, and the GObject glue (properties, signals,
 * stats). What the states carry lives beside it, sharing
 * metered-signalling-client-private.h: requests and the outbound queue in
 * -requests.c, credentials in -token.c, inbound frames in -frames.c,
 * heartbeat and watchdog in -liveness.c.
 */

#include "client/metered-signalling-client-private.h"

#include "client/metered-client-url.h"

#include <ifaddrs.h>
#include <netinet/in.h>
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
  PROP_MAX_MESSAGE_RATE,
  PROP_STATE,
  PROP_PEER_ID,
  PROP_MAX_MESSAGE_SIZE,
  PROP_RESUME,
  PROP_HOLD_DIRECTS,
  N_PROPS
};

static GParamSpec *props[N_PROPS];
guint metered_client_signals[N_SIGNALS];

#define DEFAULT_TOKEN_URL_METHOD "GET"
#define DEFAULT_QUEUE_SIZE 1000
#define DEFAULT_STUCK_TIMEOUT_MS 30000
/* Our own inbound cap in bytes; the SDK's cap in UTF-16 units is checked
 * after (a frame of 1 Mi units is at most 3 MiB of UTF-8). */
#define INBOUND_BYTES_CAP (4 * 1024 * 1024)

G_DEFINE_FINAL_TYPE (
    MeteredSignallingClient, metered_signalling_client, G_TYPE_OBJECT)

static void start_attempt (MeteredSignallingClient *self);

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
  METERED_CLIENT_LOCK (self);
  self->ms_in_state[from] += now - self->state_since_ms;
  self->state_since_ms = now;
  self->state = to;
  METERED_CLIENT_UNLOCK (self);
  LOG_INFO ("state %s -> %s", metered_client_state_to_string (from),
      metered_client_state_to_string (to));
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
  g_signal_emit (
      self, metered_client_signals[SIGNAL_STATE_CHANGED], 0, from, to);
}

static void
drop_socket (MeteredSignallingClient *self, int code, const char *reason)
{
  metered_clock_clear (self->clock, &self->welcome_timer);
  metered_clock_clear (self->clock, &self->pace_timer);
  metered_client_liveness_stop (self);
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

/* Stops every timer of the state machine and the attempt under way;
 * close, dispose and a give-up all begin with it. */
static void
stop_connecting (MeteredSignallingClient *self, int code, const char *reason)
{
  metered_clock_clear (self->clock, &self->backoff_timer);
  metered_clock_clear (self->clock, &self->stuck_timer);
  metered_client_token_cancel (self);
  drop_socket (self, code, reason);
}

/* Fails every request and a connect() still waiting. */
static void
fail_waiting (MeteredSignallingClient *self, const GError *error)
{
  metered_client_fail_all_requests (self, error);
  if (self->connect_task)
    metered_task_return_error (&self->connect_task, g_error_copy (error));
}

void
metered_client_go_closed (MeteredSignallingClient *self, const GError *error)
{
  stop_connecting (self, METERED_CLOSE_NORMAL, "client requested close");
  set_state (self, METERED_CLIENT_STATE_CLOSED);
  fail_waiting (self, error);
}

static void
on_stuck (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->stuck_timer = 0;
  LOG_WARN ("reconnecting for %u ms: stuck", self->stuck_timeout_ms);
  g_signal_emit (self, metered_client_signals[SIGNAL_STUCK], 0,
      (gint64) self->stuck_timeout_ms);
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

/* Schedules the next attempt, or closes when none is left. */
void
metered_client_schedule_reconnect (MeteredSignallingClient *self)
{
  gint64 delay;
  double floor_ms = 0;

  if (!metered_backoff_may_retry (&self->backoff, self->attempt)) {
    g_autoptr (GError) error =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CLOSED,
            "gave up after %u reconnect attempts (last close code %d)",
            self->attempt, self->last_close_code);
    LOG_WARN ("%s", error->message);
    metered_client_go_closed (self, error);
    g_signal_emit (
        self, metered_client_signals[SIGNAL_EXHAUSTED], 0, self->attempt);
    return;
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
}

/* The first welcome of a socket (frames.c drops the others): connected,
 * ::connected, then the replay, then connect() completes. */
void
metered_client_welcomed (
    MeteredSignallingClient *self, MeteredFrame *frame, GVariant *ice_servers)
{
  gboolean is_reconnect = self->ever_welcomed;
  GList *to_replay;

  self->welcomed = TRUE;
  self->ever_welcomed = TRUE;
  self->probe_reconnecting = FALSE;
  self->attempt = 0;
  metered_clock_clear (self->clock, &self->welcome_timer);
  metered_clock_clear (self->clock, &self->stuck_timer);

  if (self->peer_id && g_strcmp0 (self->peer_id, frame->peer_id) != 0) {
    if (self->past_peer_ids->len == METERED_CLIENT_PAST_PEER_IDS)
      g_ptr_array_remove_index (self->past_peer_ids, 0);
    g_ptr_array_add (self->past_peer_ids, g_strdup (self->peer_id));
  }
  METERED_CLIENT_LOCK (self);
  g_free (self->peer_id);
  self->peer_id = g_strdup (frame->peer_id);
  self->max_message_size = (gint64) frame->max_message_size;
  METERED_CLIENT_UNLOCK (self);

  if (is_reconnect)
    self->reconnects++;
  metered_client_reset_send_budget (self);
  to_replay = is_reconnect ? metered_client_replay_list (self) : NULL;

  set_state (self, METERED_CLIENT_STATE_CONNECTED);
  LOG_INFO ("welcome: connected%s", is_reconnect ? " (reconnect)" : "");
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_PEER_ID]);
  g_signal_emit (self, metered_client_signals[SIGNAL_CONNECTED], 0,
      frame->peer_id, frame->server_time,
      frame->expires_at_is_null ? (gint64) -1 : (gint64) frame->expires_at,
      is_reconnect, (gint64) frame->max_message_size, ice_servers);

  metered_client_replay (self, to_replay);
  if (is_reconnect)
    LOG_INFO ("resubscribed %u channel(s), flushed the queue",
        g_hash_table_size (self->subscriptions));

  /* Last, so a callback running synchronously sees the replay done. */
  if (self->connect_task)
    metered_task_return_true (&self->connect_task);
}

/* --- socket lost: the policy of protocol doc §6.1 --- */

static void socket_lost_held (
    MeteredSignallingClient *self, int code, const char *reason);

/* Handlers of the signals socket_lost emits may drop the last outside
 * reference: hold one for its duration. */
void
metered_client_socket_lost (
    MeteredSignallingClient *self, int code, const char *reason)
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
    g_signal_emit (self, metered_client_signals[SIGNAL_DISCONNECTED], 0, code,
        reason_copy, FALSE);
    metered_client_go_closed (self, error);
    return;
  }

  will_reconnect = self->reconnect && !self->closed_explicitly &&
                   policy != METERED_RETRY_TERMINAL &&
                   metered_backoff_may_retry (&self->backoff, self->attempt);
  if (policy == METERED_RETRY_SLOW)
    self->slow_floor_pending = TRUE;

  metered_client_requests_socket_lost (self, will_reconnect, code);

  g_signal_emit (self, metered_client_signals[SIGNAL_DISCONNECTED], 0, code,
      reason_copy, will_reconnect);
  /* A handler may have called close() (or close() and connect()): that
   * call decided what happens next (the SDK checks explicitlyClosed). */
  if (self->closed_explicitly || self->generation != generation)
    return;

  if (will_reconnect) {
    metered_client_schedule_reconnect (self);
  } else if (policy == METERED_RETRY_TERMINAL || !self->reconnect ||
             self->closed_explicitly) {
    g_autoptr (GError) error =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CLOSED,
            "closed: code %d (%s)", code, metered_close_code_name (code));
    metered_client_go_closed (self, error);
  } else {
    metered_client_schedule_reconnect (self); /* reports exhaustion, closes */
  }
}

/* --- one connection attempt: credential (token.c), then socket --- */

MeteredAttemptRef *
metered_attempt_ref_new (MeteredSignallingClient *self)
{
  MeteredAttemptRef *ref = g_new0 (MeteredAttemptRef, 1);

  g_weak_ref_init (&ref->client, self);
  ref->generation = self->generation;
  return ref;
}

void
metered_attempt_ref_free (MeteredAttemptRef *ref)
{
  g_weak_ref_clear (&ref->client);
  g_free (ref);
}

/* The client if the attempt is still the current one, else NULL. */
MeteredSignallingClient *
metered_attempt_ref_get (MeteredAttemptRef *ref)
{
  MeteredSignallingClient *self = g_weak_ref_get (&ref->client);

  if (self && self->generation != ref->generation)
    g_clear_object (&self);
  return self;
}

SoupSession *
metered_client_session (MeteredSignallingClient *self)
{
  if (!self->session)
    self->session = soup_session_new ();
  return self->session;
}

static void
on_welcome_timeout (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->welcome_timer = 0;
  LOG_WARN ("no welcome within %u ms: closing 4000", self->welcome_timeout_ms);
  metered_client_socket_lost (
      self, METERED_CLOSE_CLIENT_INACTIVITY, "welcome timeout");
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer data)
{
  MeteredSignallingClient *self = data;
  int code = soup_websocket_connection_get_close_code (ws);
  const char *reason = soup_websocket_connection_get_close_data (ws);

  metered_client_socket_lost (
      self, code ? code : METERED_CLOSE_ABNORMAL, reason);
}

static void
on_ws_error (SoupWebsocketConnection *ws, GError *error, gpointer data)
{
  LOG_DEBUG ("websocket error: %s", error->message);
}

static void
on_ws_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  MeteredAttemptRef *ref = data;
  g_autoptr (MeteredSignallingClient) self = metered_attempt_ref_get (ref);
  g_autoptr (GError) error = NULL;
  SoupWebsocketConnection *ws;

  ws = soup_session_websocket_connect_finish (
      SOUP_SESSION (source), result, &error);
  metered_attempt_ref_free (ref);
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
    metered_client_socket_lost (self, METERED_CLOSE_ABNORMAL, "");
    return;
  }

  g_clear_object (&self->attempt_cancellable);
  self->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (
      ws, INBOUND_BYTES_CAP);
  soup_websocket_connection_set_keepalive_interval (ws, 0);
  g_signal_connect (
      ws, "message", G_CALLBACK (metered_client_on_ws_message), self);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), self);
  g_signal_connect (ws, "error", G_CALLBACK (on_ws_error), self);
  metered_client_liveness_arm (self);
}

/* Opens the attempt's socket with its credential as the query parameter
 * param ("key" or "token"). */
void
metered_client_open_socket (
    MeteredSignallingClient *self, const char *param, const char *credential)
{
  g_autofree char *url =
      metered_client_url_build (self->url, param, credential);
  g_autoptr (SoupMessage) msg = soup_message_new (SOUP_METHOD_GET, url);

  if (!msg) {
    metered_client_socket_lost (
        self, METERED_CLOSE_ABNORMAL, "websocket construction failed");
    return;
  }
  self->attempt_cancellable = g_cancellable_new ();
  metered_client_liveness_watch_attempt (self, msg);
  soup_session_websocket_connect_async (metered_client_session (self), msg,
      NULL, NULL, G_PRIORITY_DEFAULT, self->attempt_cancellable,
      on_ws_connected, metered_attempt_ref_new (self));
  /* Armed with the socket, as the SDK does: it also bounds a handshake
   * that never completes. */
  self->welcome_timer = metered_clock_schedule (
      self->clock, self->welcome_timeout_ms, on_welcome_timeout, self);
}

static void
start_attempt (MeteredSignallingClient *self)
{
  self->generation++;
  self->attempt_started_ms = metered_clock_now_ms (self->clock);
  drop_socket (self, METERED_CLOSE_NORMAL, "");
  metered_client_token_cancel (self);
  metered_client_token_begin (self);
}

/* --- marshalling public calls onto the client's context --- */

typedef struct
{
  MeteredSignallingClient *self;
  MeteredClientFunc func;
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
void
metered_client_invoke (MeteredSignallingClient *self, MeteredClientFunc func,
    gpointer data, GDestroyNotify destroy)
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
  if (!metered_client_credentials_valid (self, &error) ||
      !metered_client_url_validate (self->url, &error)) {
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
  metered_client_invoke (self, do_connect, task, g_object_unref);
}

gboolean
metered_signalling_client_connect_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return metered_client_task_finish (self, result, error);
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
  stop_connecting (self, args->code, args->reason);
  set_state (self, METERED_CLIENT_STATE_CLOSED);
  if (had_socket)
    g_signal_emit (self, metered_client_signals[SIGNAL_DISCONNECTED], 0,
        args->code, args->reason, FALSE);
  fail_waiting (self, error);
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
  metered_client_invoke (self, do_close, args, close_args_free);
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
  metered_client_invoke (self, do_reconnect_now, NULL, NULL);
}

static gboolean
inet_address_configured (GInetAddress *addr)
{
  struct ifaddrs *ifs = NULL;
  gboolean found = FALSE;

  if (getifaddrs (&ifs) != 0)
    return TRUE; /* cannot tell: not gone */
  for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
    g_autoptr (GSocketAddress) sa = NULL;

    if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
                            i->ifa_addr->sa_family != AF_INET6))
      continue;
    sa = g_socket_address_new_from_native (i->ifa_addr,
        i->ifa_addr->sa_family == AF_INET ? sizeof (struct sockaddr_in)
                                          : sizeof (struct sockaddr_in6));
    found = sa &&
            g_inet_address_equal (addr,
                g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa)));
  }
  freeifaddrs (ifs);
  return found;
}

/* The connected socket's local address, or NULL (no socket, not TCP/IP). */
static GInetAddress *
dup_local_address (MeteredSignallingClient *self)
{
  GIOStream *stream;
  GSocket *sock;
  g_autoptr (GSocketAddress) local = NULL;

  if (self->state != METERED_CLIENT_STATE_CONNECTED || !self->ws)
    return NULL;
  stream = soup_websocket_connection_get_io_stream (self->ws);
  /* libsoup 3 hands the websocket a wrapper of the connection's stream,
   * tagged with its socket. */
  sock = G_IS_SOCKET_CONNECTION (stream)
             ? g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream))
             : g_object_get_data (G_OBJECT (stream), "GSocket");
  if (!G_IS_SOCKET (sock))
    return NULL;
  local = g_socket_get_local_address (sock, NULL);
  if (!G_IS_INET_SOCKET_ADDRESS (local))
    return NULL;
  return g_object_ref (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
}

/* Whether the socket's local address is configured: 1, 0, or -1 when
 * that cannot be told (no socket, or loopback: a local relay). */
static int
local_address_configured (MeteredSignallingClient *self)
{
  g_autoptr (GInetAddress) addr = dup_local_address (self);

  if (!addr || g_inet_address_get_is_loopback (addr))
    return -1;
  return inet_address_configured (addr) ? 1 : 0;
}

gboolean
metered_signalling_client_local_address_gone (MeteredSignallingClient *self)
{
  g_return_val_if_fail (METERED_IS_SIGNALLING_CLIENT (self), FALSE);
  return local_address_configured (self) == 0;
}

gboolean
metered_signalling_client_local_address_stands (MeteredSignallingClient *self)
{
  g_return_val_if_fail (METERED_IS_SIGNALLING_CLIENT (self), FALSE);
  return local_address_configured (self) == 1;
}

/* A close frame's reason is at most 123 bytes (RFC 6455 §5.5). */
#define RECONNECT_REASON_MAX 100

static void
do_reconnect (MeteredSignallingClient *self, gpointer data)
{
  const char *reason = data;

  switch (self->state) {
    case METERED_CLIENT_STATE_IDLE:
    case METERED_CLIENT_STATE_CLOSED:
      LOG_DEBUG ("reconnect (%s) while %s: nothing to do", reason,
          metered_client_state_to_string (self->state));
      return;
    case METERED_CLIENT_STATE_CONNECTING:
    case METERED_CLIENT_STATE_RECONNECTING:
      /* The attempt under way may be stuck on the address that went:
       * a new one, at once; connect() keeps waiting for its welcome. */
      LOG_INFO ("reconnect (%s): new attempt at once", reason);
      metered_clock_clear (self->clock, &self->backoff_timer);
      start_attempt (self);
      return;
    case METERED_CLIENT_STATE_CONNECTED:
    default:
      break;
  }
  /* A socket that looks open may be dead (its address gone): it goes
   * through the ordinary loss, so subscriptions, history resume, the
   * queue and the close-code bookkeeping are those of any drop... */
  LOG_INFO ("reconnect (%s): dropping the socket", reason);
  metered_client_socket_lost (self, METERED_CLOSE_NORMAL, reason);
  /* ...then without the backoff a network change makes pointless. */
  if (self->state == METERED_CLIENT_STATE_RECONNECTING && self->backoff_timer) {
    metered_clock_clear (self->clock, &self->backoff_timer);
    start_attempt (self);
  }
}

/**
 * metered_signalling_client_reconnect:
 * @self: the client
 * @reason: (nullable): why, sent as the close reason; NULL for
 *   "reconnect requested"
 *
 * Drops the current socket, even one that looks connected, and connects
 * again at once: see the header.
 */
void
metered_signalling_client_reconnect (
    MeteredSignallingClient *self, const char *reason)
{
  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  if (!reason || !*reason || strlen (reason) > RECONNECT_REASON_MAX ||
      !g_utf8_validate (reason, -1, NULL))
    reason = "reconnect requested";
  metered_client_invoke (self, do_reconnect, g_strdup (reason), g_free);
}

typedef struct
{
  guint dead_ms;
  guint attempt_ms;
} ProbeArgs;

/* Connected, the socket goes; reconnecting, a new attempt at once. */
static void
do_probe (MeteredSignallingClient *self, gpointer data)
{
  ProbeArgs *args = data;

  if (metered_client_liveness_probe (self, args->dead_ms, args->attempt_ms))
    do_reconnect (self, (gpointer) "liveness probe unanswered");
}

/**
 * metered_signalling_client_probe:
 * @self: the client
 * @dead_ms: how long a ping may stay unanswered
 * @attempt_ms: how long the probe's reconnect attempt may take
 *
 * Proves the socket alive while the media path is in doubt: see the
 * header.
 */
void
metered_signalling_client_probe (
    MeteredSignallingClient *self, guint dead_ms, guint attempt_ms)
{
  ProbeArgs *args;

  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  g_return_if_fail (dead_ms > 0 && attempt_ms > 0);
  args = g_new (ProbeArgs, 1);
  args->dead_ms = dead_ms;
  args->attempt_ms = attempt_ms;
  metered_client_invoke (self, do_probe, args, g_free);
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

  METERED_CLIENT_LOCK (self);
  state = self->state;
  METERED_CLIENT_UNLOCK (self);
  return state;
}

char *
metered_signalling_client_dup_peer_id (MeteredSignallingClient *self)
{
  char *peer_id;

  METERED_CLIENT_LOCK (self);
  peer_id = g_strdup (self->peer_id);
  METERED_CLIENT_UNLOCK (self);
  return peer_id;
}

GVariant *
metered_signalling_client_get_stats (MeteredSignallingClient *self)
{
  GVariantBuilder b;
  gint64 now = metered_clock_now_ms (self->clock);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  METERED_CLIENT_LOCK (self);
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
  METERED_CLIENT_UNLOCK (self);
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
    case PROP_MAX_MESSAGE_RATE:
      self->max_message_rate = g_value_get_uint (value);
      break;
    case PROP_RESUME:
      self->resume = g_value_get_boolean (value);
      break;
    case PROP_HOLD_DIRECTS:
      self->hold_directs = g_value_get_boolean (value);
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
    case PROP_MAX_MESSAGE_RATE:
      g_value_set_uint (value, self->max_message_rate);
      break;
    case PROP_RESUME:
      g_value_set_boolean (value, self->resume);
      break;
    case PROP_HOLD_DIRECTS:
      g_value_set_boolean (value, self->hold_directs);
      break;
    case PROP_STATE:
      g_value_set_enum (value, metered_signalling_client_get_state (self));
      break;
    case PROP_PEER_ID:
      g_value_take_string (value, metered_signalling_client_dup_peer_id (self));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      METERED_CLIENT_LOCK (self);
      g_value_set_int64 (value, self->max_message_size);
      METERED_CLIENT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
teardown (MeteredSignallingClient *self)
{
  g_autoptr (GError) error = g_error_new_literal (METERED_CLIENT_ERROR,
      METERED_CLIENT_ERROR_CLOSED, "the client was disposed");

  self->closed_explicitly = TRUE;
  stop_connecting (self, METERED_CLOSE_NORMAL, "client requested close");
  fail_waiting (self, error);
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
    teardown (self);
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
  g_ptr_array_unref (self->past_peer_ids);
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
          "Publish/send calls kept while reconnecting or paced; one more "
          "fails at once",
          0, G_MAXINT, DEFAULT_QUEUE_SIZE, rw);
  props[PROP_MAX_MESSAGE_RATE] =
      g_param_spec_uint ("max-message-rate", "Max message rate",
          "Publish/send/subscribe frames per second this client sends at most "
          "(bursts of 1.5 s worth); more wait in the outbound queue instead of "
          "exceeding the server's limit (100/s, bursts of 200, else close "
          "4011). 0 = unpaced",
          0, G_MAXINT, METERED_CLIENT_RATE_PER_SEC, rw);
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
  props[PROP_RESUME] = g_param_spec_boolean ("resume", "Resume",
      "Ask for channel history on every subscribe (a metered-server "
      "extension): messages published while reconnecting are replayed, or "
      "::continuity-lost says how many were missed. Servers without it "
      "ignore the request and nothing is replayed",
      TRUE, rw);
  props[PROP_HOLD_DIRECTS] = g_param_spec_boolean ("hold-directs",
      "Hold directs",
      "Ask metered-server to hold each send to a peer that is reconnecting "
      "(same stable peer id, left less than 10 s ago) and deliver it on its "
      "return, instead of answering peer_not_found at once. Off by default: "
      "a held signalling message may be stale when it arrives",
      FALSE, rw);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * MeteredSignallingClient::state-changed:
   * @client: the #MeteredSignallingClient
   * @from: previous #MeteredClientState
   * @to: new #MeteredClientState
   */
  metered_client_signals[SIGNAL_STATE_CHANGED] = g_signal_new ("state-changed",
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
  metered_client_signals[SIGNAL_CONNECTED] =
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
  metered_client_signals[SIGNAL_DISCONNECTED] = g_signal_new ("disconnected",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_STRING, G_TYPE_BOOLEAN);
  metered_client_signals[SIGNAL_GOING_AWAY] =
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
  metered_client_signals[SIGNAL_SERVER_ERROR] = g_signal_new ("server-error",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MeteredSignallingClient::token-provider-error:
   * @client: the #MeteredSignallingClient
   * @consecutive_failures: failures in a row (3 or more)
   * @error: the last failure
   */
  metered_client_signals[SIGNAL_TOKEN_PROVIDER_ERROR] = g_signal_new (
      "token-provider-error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
      NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_ERROR);
  /**
   * MeteredSignallingClient::message:
   * @client: the #MeteredSignallingClient
   * @channel: the channel
   * @from: the sender's peerId
   * @data: the payload as JSON text, exactly as the sender wrote it
   * @from_metadata: (nullable): the sender's metadata as JSON text
   */
  metered_client_signals[SIGNAL_MESSAGE] =
      g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
          NULL, NULL, NULL, G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING,
          G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MeteredSignallingClient::direct:
   * @client: the #MeteredSignallingClient
   * @from: the sender's peerId
   * @data: the payload as JSON text
   * @from_metadata: (nullable): the sender's metadata as JSON text
   */
  metered_client_signals[SIGNAL_DIRECT] = g_signal_new ("direct",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * MeteredSignallingClient::presence:
   * @client: the #MeteredSignallingClient
   * @channel: the channel
   * @joined: a(sms): peerId and metadata JSON of peers that joined
   * @left: a(sms): the same for peers that left
   */
  metered_client_signals[SIGNAL_PRESENCE] = g_signal_new ("presence",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_VARIANT, G_TYPE_VARIANT);
  /**
   * MeteredSignallingClient::stuck:
   * @client: the #MeteredSignallingClient
   * @reconnecting_ms: how long the client has been reconnecting
   */
  /**
   * MeteredSignallingClient::resumed:
   * @client: the #MeteredSignallingClient
   * @channel: the channel resubscribed
   * @replayed: messages published while away, delivered through ::message
   *   before this signal (in order, exactly once)
   *
   * Emitted after a resubscribe when nothing published on the channel
   * while away was lost (needs #MeteredSignallingClient:resume and
   * metered-server).
   */
  metered_client_signals[SIGNAL_RESUMED] =
      g_signal_new ("resumed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
          NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT64);
  /**
   * MeteredSignallingClient::continuity-lost:
   * @client: the #MeteredSignallingClient
   * @channel: the channel resubscribed
   * @missed: messages published while away that will never be delivered,
   *   or -1 when unknown (the server restarted: its epoch changed)
   *
   * Emitted after a resubscribe when the server could not replay the gap
   * (history expired or trimmed, or a new server epoch). Nothing of the
   * gap is replayed; live messages follow.
   */
  metered_client_signals[SIGNAL_CONTINUITY_LOST] = g_signal_new (
      "continuity-lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT64);
  metered_client_signals[SIGNAL_STUCK] =
      g_signal_new ("stuck", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
          NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /**
   * MeteredSignallingClient::exhausted:
   * @client: the #MeteredSignallingClient
   * @attempts: reconnect attempts made
   */
  metered_client_signals[SIGNAL_EXHAUSTED] =
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
  metered_client_signals[SIGNAL_REQUEST_TOKEN] = g_signal_new ("request-token",
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
  metered_client_signals[SIGNAL_REQUEST_TOKEN_ASYNC] =
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
  self->tcp_handshake_ms = -1;
  self->ack_timeout_ms = METERED_ACK_TIMEOUT_MS;
  self->stuck_timeout_ms = DEFAULT_STUCK_TIMEOUT_MS;
  self->queue_size = DEFAULT_QUEUE_SIZE;
  self->max_message_rate = METERED_CLIENT_RATE_PER_SEC;
  self->resume = TRUE;
  self->max_message_size = METERED_DEFAULT_MAX_MESSAGE_SIZE;
  self->pending = g_hash_table_new (g_str_hash, g_str_equal);
  self->past_peer_ids = g_ptr_array_new_with_free_func (g_free);
  self->subscriptions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
      (GDestroyNotify) metered_client_subscription_free);
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
