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

/* The client's requests: subscribe, unsubscribe, publish and send, from
 * the public call to the ack, error or timeout that answers them. Holds
 * the exactly-once promise the state machine does not care about: a
 * publish or send made while reconnecting, or unanswered when the socket
 * dropped, waits in a bounded queue and is resent with its original
 * requestId after the next welcome, and subscriptions are replayed first.
 * The state machine tells this file when a socket is lost or welcomed;
 * it never looks inside the queue.
 */

#include "client/metered-signalling-client-private.h"

#include <string.h>

static void send_request (
    MeteredSignallingClient *self, MeteredClientRequest *req);

static void
request_free (MeteredClientRequest *req)
{
  g_free (req->request_id);
  g_free (req->frame);
  g_free (req->channel);
  g_clear_object (&req->task);
  g_free (req);
}

static void
request_fail (
    MeteredSignallingClient *self, MeteredClientRequest *req, GError *error)
{
  metered_clock_clear (self->clock, &req->ack_timer);
  if (req->task)
    metered_task_return_error (&req->task, error);
  else
    g_error_free (error);
  request_free (req);
}

/* A new request with a fresh requestId and the next sequence number; the
 * caller adds the frame and the task. */
static MeteredClientRequest *
request_new (MeteredSignallingClient *self, MeteredClientRequestKind kind,
    const char *channel)
{
  MeteredClientRequest *req = g_new0 (MeteredClientRequest, 1);

  req->client = self;
  req->kind = kind;
  req->request_id = g_uuid_string_random ();
  req->channel = g_strdup (channel);
  /* publish and send take theirs on the caller's thread */
  METERED_CLIENT_LOCK (self);
  req->seq = self->next_seq++;
  METERED_CLIENT_UNLOCK (self);
  return req;
}

static gint
request_seq_compare (gconstpointer a, gconstpointer b)
{
  const MeteredClientRequest *ra = a, *rb = b;

  return ra->seq < rb->seq ? -1 : (ra->seq > rb->seq);
}

static gint
queue_seq_compare (gconstpointer a, gconstpointer b, gpointer data)
{
  return request_seq_compare (a, b);
}

static MeteredClientSubscription *
subscription_get (MeteredSignallingClient *self, const char *channel)
{
  return g_hash_table_lookup (self->subscriptions, channel);
}

void
metered_client_subscription_free (MeteredClientSubscription *sub)
{
  metered_clock_clear (sub->client->clock, &sub->retry_timer);
  g_free (sub->channel);
  g_free (sub->epoch);
  g_list_free_full (sub->waiting, g_object_unref);
  g_free (sub);
}

static void
subscription_resolve (MeteredSignallingClient *self,
    MeteredClientSubscription *sub, const GError *error)
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

static MeteredClientRequest *
new_subscribe_request (MeteredSignallingClient *self,
    MeteredClientSubscription *sub, gboolean replay)
{
  MeteredClientRequest *req =
      request_new (self, METERED_REQUEST_SUBSCRIBE, sub->channel);

  req->replay = replay;
  if (self->resume) {
    sub->resuming = replay && sub->epoch != NULL;
    sub->own_skipped = 0;
    req->frame = metered_frame_build_subscribe_history (sub->channel,
        req->request_id, sub->include_sender_metadata, sub->epoch, sub->seq);
  } else {
    req->frame = metered_frame_build_subscribe (
        sub->channel, req->request_id, sub->include_sender_metadata);
  }
  return req;
}

/* --- answers --- */

static void on_replay_retry (gpointer data);

static void
subscribe_answered (MeteredSignallingClient *self, MeteredClientRequest *req,
    const GError *error)
{
  MeteredClientSubscription *sub = subscription_get (self, req->channel);

  if (req->task) {
    /* A first subscribe answered directly. */
    if (error && sub && !sub->waiting) {
      /* The table owns sub: nothing below may touch it once removed. */
      g_hash_table_remove (self->subscriptions, req->channel);
      sub = NULL;
    }
    metered_task_return_result (&req->task, error);
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
  MeteredClientSubscription *sub = data;
  MeteredSignallingClient *self = sub->client;

  sub->retry_timer = 0;
  if (self->state == METERED_CLIENT_STATE_CONNECTED)
    send_request (self, new_subscribe_request (self, sub, TRUE));
}

void
metered_client_request_answered (MeteredSignallingClient *self,
    MeteredClientRequest *req, const GError *error)
{
  metered_clock_clear (self->clock, &req->ack_timer);
  if (req->kind == METERED_REQUEST_SUBSCRIBE)
    subscribe_answered (self, req, error);
  else if (req->task)
    metered_task_return_result (&req->task, error);
  request_free (req);
}

/* The request sent on this socket with that requestId, now the caller's;
 * NULL when none waits. */
MeteredClientRequest *
metered_client_take_pending (
    MeteredSignallingClient *self, const char *request_id)
{
  MeteredClientRequest *req = NULL;

  if (request_id && *request_id)
    g_hash_table_steal_extended (
        self->pending, request_id, NULL, (gpointer *) &req);
  return req;
}

static void
on_ack_timeout (gpointer data)
{
  MeteredClientRequest *req = data;
  MeteredSignallingClient *self = req->client;
  g_autoptr (GError) error = NULL;

  req->ack_timer = 0;
  if (!g_hash_table_steal (self->pending, req->request_id))
    return;
  error = g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TIMEOUT,
      "no ack within %u ms", self->ack_timeout_ms);
  metered_client_request_answered (self, req, error);
}

/* --- the queue --- */

/* The server's budget is per socket: a new one starts full. */
void
metered_client_reset_send_budget (MeteredSignallingClient *self)
{
  guint rate = self->max_message_rate;

  self->send_bucket_rate = rate;
  metered_token_bucket_init (&self->send_bucket,
      METERED_CLIENT_RATE_BURST ((double) rate), rate,
      metered_clock_now_ms (self->clock));
}

/* Takes this socket's token for one more frame; FALSE when the frame must
 * wait (max-message-rate). */
static gboolean
take_send_token (MeteredSignallingClient *self)
{
  if (self->max_message_rate == 0)
    return TRUE;
  /* set while connected: the new rate from now on */
  if (self->send_bucket_rate != self->max_message_rate)
    metered_client_reset_send_budget (self);
  return metered_token_bucket_take (
      &self->send_bucket, metered_clock_now_ms (self->clock));
}

static void
send_now (MeteredSignallingClient *self, MeteredClientRequest *req)
{
  req->client = self;
  g_hash_table_insert (self->pending, req->request_id, req);
  soup_websocket_connection_send_text (self->ws, req->frame);
  req->ack_timer = metered_clock_schedule (
      self->clock, self->ack_timeout_ms, on_ack_timeout, req);
}

/* Subscribes and unsubscribes are not held back: few, and a replay's
 * subscribes must go before the queue they precede. They still use up
 * the budget the queue is paced by. */
static void
send_request (MeteredSignallingClient *self, MeteredClientRequest *req)
{
  if (self->state != METERED_CLIENT_STATE_CONNECTED || !self->ws) {
    g_queue_insert_sorted (&self->queue, req, queue_seq_compare, NULL);
    return;
  }
  take_send_token (self);
  send_now (self, req);
}

static void flush_queue (MeteredSignallingClient *self);

static void
on_pace_due (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->pace_timer = 0;
  flush_queue (self);
}

/* A flush once the next token is there; at the earliest after the
 * current dispatch, so a request made in a ::connected handler waits for
 * the replay like the queue it joins. */
static void
schedule_flush (MeteredSignallingClient *self)
{
  gint64 wait_ms = 0;

  if (self->pace_timer)
    return;
  if (self->max_message_rate > 0 &&
      self->send_bucket_rate == self->max_message_rate)
    wait_ms = metered_token_bucket_wait_ms (
        &self->send_bucket, metered_clock_now_ms (self->clock));
  self->pace_timer =
      metered_clock_schedule (self->clock, wait_ms, on_pace_due, self);
}

/* Sends what waited, in call order, as fast as max-message-rate allows: a
 * reconnect with a full queue must not earn a 4011 close and go round
 * again. */
static void
flush_queue (MeteredSignallingClient *self)
{
  MeteredClientRequest *req;

  while (self->state == METERED_CLIENT_STATE_CONNECTED && self->ws &&
         (req = g_queue_peek_head (&self->queue))) {
    if (!take_send_token (self)) {
      schedule_flush (self);
      return;
    }
    g_queue_pop_head (&self->queue);
    send_now (self, req);
  }
}

/* Unanswered requests of the dead socket: publish/send go back to the
 * head of the queue in their original order (same requestId, so our
 * server dedupes); subscribes wait for the replay. */
void
metered_client_requests_socket_lost (
    MeteredSignallingClient *self, gboolean will_reconnect, int code)
{
  GList *pending = g_list_sort (
      g_hash_table_get_values (self->pending), request_seq_compare);

  g_hash_table_steal_all (self->pending);
  for (GList *l = pending; l; l = l->next) {
    MeteredClientRequest *req = l->data;

    metered_clock_clear (self->clock, &req->ack_timer);
    if (!will_reconnect) {
      request_fail (self, req,
          g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_DISCONNECTED,
              "socket closed (code %d) before the answer", code));
    } else if (req->kind == METERED_REQUEST_PUBLISH ||
               req->kind == METERED_REQUEST_SEND) {
      g_queue_insert_sorted (&self->queue, req, queue_seq_compare, NULL);
    } else if (req->kind == METERED_REQUEST_SUBSCRIBE) {
      MeteredClientSubscription *sub = subscription_get (self, req->channel);
      if (sub && req->task)
        sub->waiting =
            g_list_append (sub->waiting, g_steal_pointer (&req->task));
      else if (req->task)
        metered_task_return_new_error (&req->task, METERED_CLIENT_ERROR,
            METERED_CLIENT_ERROR_DISCONNECTED,
            "socket closed before the answer");
      request_free (req);
    } else {
      /* The server forgets subscriptions with the socket anyway. */
      if (req->task)
        metered_task_return_true (&req->task);
      request_free (req);
    }
  }
  g_list_free (pending);
}

/* The channels to replay after a welcome, copied: taken before
 * ::connected, so a handler that subscribes sends its own subscribe. */
GList *
metered_client_replay_list (MeteredSignallingClient *self)
{
  GList *channels = g_hash_table_get_keys (self->subscriptions);

  for (GList *l = channels; l; l = l->next)
    l->data = g_strdup (l->data);
  return channels;
}

/* Resubscribes channels (freed here), then sends what waited: the server
 * handles one socket's frames in order, so a queued publish follows its
 * channel's subscribe. */
void
metered_client_replay (MeteredSignallingClient *self, GList *channels)
{
  for (GList *l = channels; l; l = l->next) {
    MeteredClientSubscription *sub = subscription_get (self, l->data);
    if (sub && self->state == METERED_CLIENT_STATE_CONNECTED) {
      sub->retries = 0;
      metered_clock_clear (self->clock, &sub->retry_timer);
      send_request (self, new_subscribe_request (self, sub, TRUE));
    }
  }
  g_list_free_full (channels, g_free);
  flush_queue (self);
}

/* Fails everything waiting: queue, in flight, subscriptions' waiters. */
void
metered_client_fail_all_requests (
    MeteredSignallingClient *self, const GError *error)
{
  GHashTableIter iter;
  gpointer value;
  MeteredClientRequest *req;
  g_autoptr (GList) pending = g_hash_table_get_values (self->pending);

  g_hash_table_steal_all (self->pending);
  for (GList *l = pending; l; l = l->next)
    request_fail (self, l->data, g_error_copy (error));
  while ((req = g_queue_pop_head (&self->queue)))
    request_fail (self, req, g_error_copy (error));
  g_hash_table_iter_init (&iter, self->subscriptions);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    MeteredClientSubscription *sub = value;
    metered_clock_clear (self->clock, &sub->retry_timer);
    subscription_resolve (self, sub, error);
  }
}

/* --- public API --- */

/* Every request completes with a boolean. */
gboolean
metered_client_task_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

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

static GError *
not_connected_error (MeteredSignallingClient *self)
{
  return g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_NOT_CONNECTED,
      "the client is %s", metered_client_state_to_string (self->state));
}

/* Channel requests are taken while connected or reconnecting; otherwise
 * task fails and FALSE is returned. */
static gboolean
channel_request_allowed (MeteredSignallingClient *self, GTask *task)
{
  if (self->state == METERED_CLIENT_STATE_CONNECTED ||
      self->state == METERED_CLIENT_STATE_RECONNECTING)
    return TRUE;
  g_task_return_error (task, not_connected_error (self));
  return FALSE;
}

static void
do_subscribe (MeteredSignallingClient *self, gpointer data)
{
  GTask *task = data;
  const char *channel = g_task_get_task_data (task);
  MeteredClientSubscription *sub = subscription_get (self, channel);
  gboolean include = GPOINTER_TO_INT (
      g_object_get_data (G_OBJECT (task), "include-sender-metadata"));
  MeteredClientRequest *req;

  if (!channel_request_allowed (self, task))
    return;
  /* Tracked before sending, so a drop before the ack still replays it. */
  if (!sub) {
    sub = g_new0 (MeteredClientSubscription, 1);
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
  metered_client_invoke (self, do_subscribe, task, g_object_unref);
}

gboolean
metered_signalling_client_subscribe_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return metered_client_task_finish (self, result, error);
}

static void
do_unsubscribe (MeteredSignallingClient *self, gpointer data)
{
  GTask *task = data;
  const char *channel = g_task_get_task_data (task);
  MeteredClientRequest *req;
  MeteredClientSubscription *sub = subscription_get (self, channel);

  if (!channel_request_allowed (self, task))
    return;
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
  req = request_new (self, METERED_REQUEST_UNSUBSCRIBE, channel);
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
    metered_client_invoke (self, do_unsubscribe, task, g_object_unref);
}

gboolean
metered_signalling_client_unsubscribe_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return metered_client_task_finish (self, result, error);
}

/* publish and send share everything but the frame. */
static void
do_data_request (MeteredSignallingClient *self, gpointer data)
{
  MeteredClientRequest *req = data;
  gsize size = strlen (g_object_get_data (G_OBJECT (req->task), "data-json"));
  gint64 cap;

  METERED_CLIENT_LOCK (self);
  cap = self->max_message_size > 0 ? self->max_message_size
                                   : METERED_DEFAULT_MAX_MESSAGE_SIZE;
  METERED_CLIENT_UNLOCK (self);

  if ((gint64) size > cap) {
    request_fail (self, req,
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_OVERSIZED,
            "payload of %" G_GSIZE_FORMAT
            " bytes exceeds maxMessageSize %" G_GINT64_FORMAT,
            size, cap));
    return;
  }
  if (self->state == METERED_CLIENT_STATE_CONNECTED &&
      g_queue_is_empty (&self->queue) && take_send_token (self)) {
    send_now (self, req);
  } else if (self->state == METERED_CLIENT_STATE_CONNECTED ||
             self->state == METERED_CLIENT_STATE_RECONNECTING) {
    if (g_queue_get_length (&self->queue) >= self->queue_size) {
      request_fail (self, req,
          g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_QUEUE_FULL,
              "outbound queue full (%u requests waiting for a %s)",
              self->queue_size,
              self->state == METERED_CLIENT_STATE_CONNECTED
                  ? "slot under max-message-rate"
                  : "reconnect"));
      return;
    }
    g_queue_insert_sorted (&self->queue, req, queue_seq_compare, NULL);
    if (self->state == METERED_CLIENT_STATE_CONNECTED)
      schedule_flush (self);
  } else {
    request_fail (self, req, not_connected_error (self));
  }
}

/* Runs on the caller's thread: validates, builds the frame and takes the
 * sequence number that orders the call among the others. */
static void
data_request_async (MeteredSignallingClient *self,
    MeteredClientRequestKind kind, const char *target, const char *data_json,
    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
    gpointer tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  gboolean publish = kind == METERED_REQUEST_PUBLISH;
  gboolean target_ok;
  MeteredClientRequest *req;

  g_task_set_source_tag (task, tag);
  target_ok = target && (publish ? metered_channel_is_valid (target)
                                 : metered_peer_id_is_valid (target));
  if (!target_ok || !data_json ||
      !metered_json_validate (
          data_json, strlen (data_json), METERED_JSON_MAX_DEPTH)) {
    g_task_return_new_error (task, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT, "%s",
        !target_ok ? (publish ? "invalid channel name" : "invalid peer id")
                   : "data is not valid JSON");
    g_object_unref (task);
    return;
  }
  g_object_set_data_full (
      G_OBJECT (task), "data-json", g_strdup (data_json), g_free);

  req = request_new (self, kind, target);
  req->frame =
      publish ? metered_frame_build_publish (target, data_json, req->request_id)
      : self->hold_directs
          ? metered_frame_build_send_held (target, data_json, req->request_id)
          : metered_frame_build_send (target, data_json, req->request_id);
  req->task = task;
  metered_client_invoke (self, do_data_request, req, NULL);
}

void
metered_signalling_client_publish_async (MeteredSignallingClient *self,
    const char *channel, const char *data_json, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  data_request_async (self, METERED_REQUEST_PUBLISH, channel, data_json,
      cancellable, callback, user_data,
      metered_signalling_client_publish_async);
}

gboolean
metered_signalling_client_publish_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return metered_client_task_finish (self, result, error);
}

void
metered_signalling_client_send_async (MeteredSignallingClient *self,
    const char *to, const char *data_json, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (METERED_IS_SIGNALLING_CLIENT (self));
  data_request_async (self, METERED_REQUEST_SEND, to, data_json, cancellable,
      callback, user_data, metered_signalling_client_send_async);
}

gboolean
metered_signalling_client_send_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error)
{
  return metered_client_task_finish (self, result, error);
}
