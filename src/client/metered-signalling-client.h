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

#include <gio/gio.h>

#include "client/metered-clock.h"
#include "client/metered-client-types.h"

G_BEGIN_DECLS

#define METERED_TYPE_SIGNALLING_CLIENT (metered_signalling_client_get_type ())
G_DECLARE_FINAL_TYPE (MeteredSignallingClient, metered_signalling_client,
    METERED, SIGNALLING_CLIENT, GObject)

/**
 * MeteredTokenRequest:
 *
 * One pending token request of the client, handed to
 * #MeteredSignallingClient::request-token-async handlers. Complete it once,
 * now or later, from any thread.
 */
#define METERED_TYPE_TOKEN_REQUEST (metered_token_request_get_type ())
G_DECLARE_FINAL_TYPE (
    MeteredTokenRequest, metered_token_request, METERED, TOKEN_REQUEST, GObject)

void metered_token_request_return_token (
    MeteredTokenRequest *request, const char *token);
void metered_token_request_return_error (
    MeteredTokenRequest *request, const GError *error);
/**
 * metered_token_request_get_cancellable:
 *
 * Returns: (transfer none): cancelled when the client stops waiting
 *   (timeout, close)
 */
GCancellable *metered_token_request_get_cancellable (
    MeteredTokenRequest *request);

/**
 * metered_signalling_client_new:
 * @context: (nullable): the main context the client runs on; NULL for the
 *   thread-default context of the calling thread
 * @clock: (nullable): the clock of every timer; NULL for the system clock
 *   on @context
 */
MeteredSignallingClient *metered_signalling_client_new (
    GMainContext *context, MeteredClock *clock);

GMainContext *metered_signalling_client_get_context (
    MeteredSignallingClient *self);
MeteredClientState metered_signalling_client_get_state (
    MeteredSignallingClient *self);
/* The peerId of the latest welcome, or NULL. Caller frees. */
char *metered_signalling_client_dup_peer_id (MeteredSignallingClient *self);

/* Starts connecting (allowed from idle and closed); completes with the
 * first welcome or fails with METERED_CLIENT_ERROR_CONNECT_FAILED /
 * TOKEN_PROVIDER. */
void metered_signalling_client_connect_async (MeteredSignallingClient *self,
    GCancellable *cancellable, GAsyncReadyCallback callback,
    gpointer user_data);
gboolean metered_signalling_client_connect_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error);

/* Terminal close (code 1000, "client requested close" by default): state
 * becomes closed at once, every queued or pending request fails with
 * METERED_CLIENT_ERROR_CLOSED. */
void metered_signalling_client_close (
    MeteredSignallingClient *self, int code, const char *reason);

/* Cuts a pending reconnect backoff short (a network-change hint). */
void metered_signalling_client_reconnect_now (MeteredSignallingClient *self);

/* TRUE when the connected socket's local address is no longer configured
 * on any interface (the network changed under it): only a reconnect can
 * help it. FALSE when it stands, is on loopback (a local relay: its path
 * beyond cannot be judged from here) or there is no socket. Call on the
 * client's context thread. */
gboolean metered_signalling_client_local_address_gone (
    MeteredSignallingClient *self);

/* TRUE when connected on a socket whose local address is still configured
 * (loopback excluded: a local relay's path cannot be judged from here).
 * Call on the client's context thread. */
gboolean metered_signalling_client_local_address_stands (
    MeteredSignallingClient *self);

/* Drops the current socket, even one that looks connected (its local
 * address may be gone), and reconnects at once through the ordinary
 * reconnect path: `disconnected` (code 1000, @reason, will-reconnect),
 * connected -> reconnecting -> connected, one new welcome, resubscribe
 * with history resume, the queue flushed. While connecting or reconnecting
 * it starts a new attempt at once; idle or closed, it does nothing. A
 * @reason over 100 bytes or not UTF-8 is sent as "reconnect requested". */
void metered_signalling_client_reconnect (
    MeteredSignallingClient *self, const char *reason);

/* Proves the socket alive; call it repeatedly (each second) while the
 * path is in doubt. Connected, it pings when nothing arrived for 5 s and
 * no ping is unanswered (the ordinary `{"type":"ping"}`, answered by
 * `pong`); once a ping (the heartbeat's too) is unanswered for @dead_ms,
 * it drops the socket and reconnects at once as
 * metered_signalling_client_reconnect () does ("liveness probe
 * unanswered"). Until that reconnect is welcomed, each call cuts the
 * backoff short or replaces an attempt older than @attempt_ms. Any frame
 * from the server ends the probe. Idle, connecting or closed: nothing. */
void metered_signalling_client_probe (
    MeteredSignallingClient *self, guint dead_ms, guint attempt_ms);

void metered_signalling_client_subscribe_async (MeteredSignallingClient *self,
    const char *channel, gboolean include_sender_metadata,
    GCancellable *cancellable, GAsyncReadyCallback callback,
    gpointer user_data);
gboolean metered_signalling_client_subscribe_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error);

void metered_signalling_client_unsubscribe_async (MeteredSignallingClient *self,
    const char *channel, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean metered_signalling_client_unsubscribe_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error);

/* data_json: any JSON value as text (sent verbatim after validation). */
void metered_signalling_client_publish_async (MeteredSignallingClient *self,
    const char *channel, const char *data_json, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean metered_signalling_client_publish_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error);

void metered_signalling_client_send_async (MeteredSignallingClient *self,
    const char *to, const char *data_json, GCancellable *cancellable,
    GAsyncReadyCallback callback, gpointer user_data);
gboolean metered_signalling_client_send_finish (
    MeteredSignallingClient *self, GAsyncResult *result, GError **error);

/**
 * metered_signalling_client_get_stats:
 *
 * Returns: (transfer full): a{sv} with state, reconnects,
 *   reconnect-attempt, last-close-code, queue-depth, pending-requests,
 *   token-failures, illegal-transitions and ms-in-<state> for each state.
 */
GVariant *metered_signalling_client_get_stats (MeteredSignallingClient *self);

G_END_DECLS
