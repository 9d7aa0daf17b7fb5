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

#include "metered-server-private.h"

#include "metered-ws-conn.h"
#include "metered-ws-frame.h"
#include "protocol/metered-protocol.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

/* The handshake's verdict, carried from the HTTP handler (which runs
 * before the upgrade) to the WebSocket callback. */
typedef struct
{
  int close_code; /* != 0: upgrade, then close with this code */
  const char *close_reason;
  MeteredApp *app;
  char *peer_id;
  guint actions;
  GStrv channel_patterns;
  char *peer_metadata;
  char *welcome_metadata;
  char *credential_id;
  gint64 expires_at;
  gboolean peer_id_is_stable;
} MeteredHandshake;

/* One open WebSocket: served by libsoup (ws, TLS) or by our own loop
 * (raw, plain ws://); the hub sees the same MeteredHubIo either way. */
typedef struct
{
  MeteredServer *server;
  SoupWebsocketConnection *ws; /* or NULL */
  MeteredWsConn *raw; /* or NULL */
  MeteredHubConn *conn; /* NULL for a connection refused after upgrade */
  MeteredWsTimer expiry;
  gint64 last_rx_us;
  int close_code_sent;

  /* The TCP socket under ws (NULL if libsoup did not say), corked while
   * a batch of frames is handed to libsoup so that they leave in few
   * segments instead of one segment and one wakeup of the reader each. */
  GSocket *socket;
  /* Frames (GBytes*) not yet written or handed to libsoup: out->pdata
   * [out_head, out->len), oldest first (an array, not a list: no
   * allocation per frame), and their size; bounded by
   * server->max_queued_bytes. */
  GPtrArray *out;
  guint out_head;
  gsize out_bytes;
  gboolean dirty; /* in server->dirty */
  gboolean overflowed; /* to be closed as a slow consumer at the flush */
  /* Set while the kernel's send buffer is full: frames wait in out
   * (room_source for ws, room_wait for raw). */
  GSource *room_source;
  gboolean room_wait;

  /* raw: the frames in out are whole RFC 6455 frames, many per
   * writev(). ws: out holds JSON texts handed to libsoup one by one. */
  gsize head_sent; /* bytes of out's head frame already written */
  /* A close waits for the frames queued before it (going_away), at most
   * CLOSE_DRAIN_MS. */
  MeteredWsTimer close_drain;
  int drain_close_code;
  char *drain_close_reason;
} MeteredServerSocket;

/* At most this much is handed to libsoup per socket per flush; the rest
 * waits until the socket has room again. */
#define FLUSH_BUDGET_BYTES (64 * 1024)
#define CLOSE_DRAIN_MS 1000

#define HANDSHAKE_KEY "metered-handshake"

static void
handshake_free (MeteredHandshake *hs)
{
  g_free (hs->peer_id);
  g_strfreev (hs->channel_patterns);
  g_free (hs->peer_metadata);
  g_free (hs->welcome_metadata);
  g_free (hs->credential_id);
  g_free (hs);
}

static void
refuse_http (MeteredServer *server, SoupServerMessage *msg, guint status,
    const char *body, const char *reason)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (
      msg, "text/plain", SOUP_MEMORY_STATIC, body, strlen (body));
  metered_metrics_inc (
      server->metrics, METERED_METRIC_HANDSHAKE_REFUSALS, reason);
  if (server->options.verbose)
    g_info ("refused upgrade from %s: HTTP %u %s",
        soup_server_message_get_remote_host (msg), status, reason);
}

static GBytes *
lookup_secret (const char *kid, gpointer user_data)
{
  MeteredServer *server = user_data;
  MeteredSecret *secret = g_hash_table_lookup (server->config->secrets, kid);

  return secret ? g_bytes_ref (secret->secret) : NULL;
}

/* A JSON object member as its serialised text, or NULL. Returns FALSE
 * when present with the wrong type or over max bytes. */
static gboolean
object_member_text (
    JsonObject *claims, const char *member, gsize max, char **out)
{
  JsonNode *node = json_object_get_member (claims, member);
  g_autofree char *text = NULL;

  *out = NULL;
  if (!node)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  text = json_to_string (node, FALSE);
  if (strlen (text) > max)
    return FALSE;
  *out = g_steal_pointer (&text);
  return TRUE;
}

static GStrv
claim_strv (JsonObject *claims, const char *member, gboolean *ok)
{
  JsonNode *node = json_object_get_member (claims, member);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array;

  *ok = TRUE;
  if (!node)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    *ok = FALSE;
    return NULL;
  }
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *item = json_array_get_element (array, i);
    if (!JSON_NODE_HOLDS_VALUE (item) ||
        json_node_get_value_type (item) != G_TYPE_STRING) {
      *ok = FALSE;
      return NULL;
    }
    g_strv_builder_add (builder, json_node_get_string (item));
  }
  return g_strv_builder_end (builder);
}

/* Fills hs from a verified token's claims; FALSE if a claim is unusable
 * (the credential is then treated as invalid: close 4001). */
static gboolean
handshake_from_claims (MeteredHandshake *hs, JsonObject *claims)
{
  const char *sub;
  gboolean ok;
  g_auto (GStrv) permissions = NULL;

  if (!json_object_has_member (claims, "sub"))
    return FALSE;
  sub = json_object_get_string_member_with_default (claims, "sub", NULL);
  if (!sub || !metered_peer_id_is_valid (sub))
    return FALSE;
  hs->peer_id = g_strdup (sub);

  if (json_object_has_member (claims, "exp"))
    hs->expires_at =
        json_object_get_int_member_with_default (claims, "exp", -1);

  hs->channel_patterns = claim_strv (claims, "channels", &ok);
  if (!ok)
    return FALSE;
  permissions = claim_strv (claims, "permissions", &ok);
  if (!ok)
    return FALSE;
  hs->actions = METERED_ACTION_ALL;
  if (permissions && !metered_actions_from_strv (
                         (const char *const *) permissions, &hs->actions))
    return FALSE;

  if (!object_member_text (claims, "peerMetadata", METERED_PEER_METADATA_MAX,
          &hs->peer_metadata))
    return FALSE;
  /* metadata is opaque, but only an object is passed on (§10 rule 2). */
  if (!object_member_text (
          claims, "metadata", METERED_METADATA_MAX, &hs->welcome_metadata)) {
    JsonNode *node = json_object_get_member (claims, "metadata");
    if (JSON_NODE_HOLDS_OBJECT (node))
      return FALSE; /* an object, but too large */
  }
  return TRUE;
}

static void
handshake_with_token (
    MeteredServer *server, SoupServerMessage *msg, const char *token)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) claims = NULL;
  g_autofree char *kid = NULL;
  MeteredHandshake *hs;
  MeteredSecret *secret;

  claims = metered_jwt_verify_hs256 (token, lookup_secret, server,
      g_get_real_time () / G_USEC_PER_SEC, 0, &kid, &error);
  if (error && (g_error_matches (
                    error, METERED_JWT_ERROR, METERED_JWT_ERROR_MALFORMED) ||
                   g_error_matches (
                       error, METERED_JWT_ERROR, METERED_JWT_ERROR_NO_KID))) {
    refuse_http (server, msg, SOUP_STATUS_UNAUTHORIZED, "invalid_token",
        "invalid_token");
    return;
  }

  hs = g_new0 (MeteredHandshake, 1);
  hs->expires_at = -1;
  g_object_set_data_full (
      G_OBJECT (msg), HANDSHAKE_KEY, hs, (GDestroyNotify) handshake_free);

  if (error) {
    gboolean expired =
        g_error_matches (error, METERED_JWT_ERROR, METERED_JWT_ERROR_EXPIRED);
    hs->close_code =
        expired ? METERED_CLOSE_TOKEN_EXPIRED : METERED_CLOSE_INVALID_TOKEN;
    hs->close_reason = expired ? "token expired" : "invalid token";
    if (server->options.verbose)
      g_info ("token refused after upgrade: %s", error->message);
    return;
  }

  secret = g_hash_table_lookup (server->config->secrets, kid);
  if (!secret || secret->revoked || !handshake_from_claims (hs, claims)) {
    hs->close_code = METERED_CLOSE_INVALID_TOKEN;
    hs->close_reason = "invalid token";
    return;
  }
  hs->app = secret->app;
  hs->credential_id = g_strdup (kid);
  hs->peer_id_is_stable = TRUE;
}

static gboolean
origin_allowed (MeteredPublishableKey *key, const char *origin)
{
  if (!origin || !key->allowed_origins)
    return TRUE;
  for (GStrv o = key->allowed_origins; *o; o++)
    if (g_str_equal (*o, "*") || g_ascii_strcasecmp (*o, origin) == 0)
      return TRUE;
  return FALSE;
}

static void
handshake_with_key (
    MeteredServer *server, SoupServerMessage *msg, const char *key_text)
{
  MeteredPublishableKey *key =
      g_hash_table_lookup (server->config->keys, key_text);
  const char *origin = soup_message_headers_get_one (
      soup_server_message_get_request_headers (msg), "Origin");
  MeteredHandshake *hs;

  if (key && !origin_allowed (key, origin)) {
    refuse_http (server, msg, SOUP_STATUS_UNAUTHORIZED, "origin_not_allowed",
        "origin_not_allowed");
    return;
  }

  hs = g_new0 (MeteredHandshake, 1);
  hs->expires_at = -1;
  g_object_set_data_full (
      G_OBJECT (msg), HANDSHAKE_KEY, hs, (GDestroyNotify) handshake_free);

  if (!key || key->revoked) {
    hs->close_code = METERED_CLOSE_INVALID_TOKEN;
    hs->close_reason = "invalid key";
    return;
  }
  hs->app = key->app;
  hs->peer_id = g_uuid_string_random ();
  hs->actions = key->actions;
  hs->channel_patterns = g_strdupv (key->channels);
  hs->credential_id = g_strdup (key->key);
}

static gboolean
ip_allowed (MeteredServer *server, const char *host)
{
  MeteredRateWindow *window;

  if (server->options.ip_connect_limit == 0)
    return TRUE;
  window = g_hash_table_lookup (server->ip_windows, host ? host : "");
  if (!window) {
    window = metered_rate_window_new (
        server->options.ip_connect_limit, METERED_SERVER_IP_WINDOW_MS);
    g_hash_table_insert (
        server->ip_windows, g_strdup (host ? host : ""), window);
  }
  return metered_rate_window_hit (window, g_get_monotonic_time () / 1000);
}

static void on_upgraded (SoupServerMessage *msg, gpointer user_data);

/* Runs before libsoup's WebSocket handshake: every refusal that must be an
 * HTTP answer happens here (protocol doc §1.4, §10 rule 1). */
static void
v1_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer user_data)
{
  MeteredServer *server = user_data;
  const char *key, *token;

  if (!g_str_equal (path, "/v1")) {
    soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
    return;
  }
  if (server->shutting_down) {
    soup_server_message_set_status (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
    return;
  }
  if (!ip_allowed (server, soup_server_message_get_remote_host (msg))) {
    refuse_http (server, msg, 429 /* Too Many Requests */, "too_many_requests",
        "rate_limited");
    return;
  }

  /* libsoup has already percent-decoded the query values. */
  key = query ? g_hash_table_lookup (query, "key") : NULL;
  token = query ? g_hash_table_lookup (query, "token") : NULL;
  if ((key && token) || (!key && !token) || (key && !*key) ||
      (token && !*token)) {
    refuse_http (server, msg, SOUP_STATUS_UNAUTHORIZED, "invalid_token",
        "invalid_token");
    return;
  }
  if (token)
    handshake_with_token (server, msg, token);
  else
    handshake_with_key (server, msg, key);

  /* Plain connections are upgraded here rather than by libsoup's
   * WebSocket handler (it then leaves the message alone: it has a
   * status), to be served by server->loop; no extension is offered, so
   * client frames are never compressed. TLS goes on to ws_handler. */
  if (!server->tls &&
      soup_server_message_get_status (msg) == 0 /* not refused */ &&
      soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    g_signal_connect (
        msg, "wrote-informational", G_CALLBACK (on_upgraded), server);
}

static guint
out_length (MeteredServerSocket *sock)
{
  return sock->out->len - sock->out_head;
}

static GBytes *
out_peek (MeteredServerSocket *sock)
{
  return out_length (sock) ? g_ptr_array_index (sock->out, sock->out_head)
                           : NULL;
}

/* Takes the oldest frame out (the caller owns it), or NULL. */
static GBytes *
out_pop (MeteredServerSocket *sock)
{
  GBytes *frame = out_peek (sock);

  if (!frame)
    return NULL;
  sock->out_bytes -= g_bytes_get_size (frame);
  if (++sock->out_head == sock->out->len) {
    g_ptr_array_set_size (sock->out, 0);
    sock->out_head = 0;
  } else if (sock->out_head >= 64 && sock->out_head * 2 >= sock->out->len) {
    g_ptr_array_remove_range (sock->out, 0, sock->out_head);
    sock->out_head = 0;
  }
  return frame;
}

static void
out_push (MeteredServerSocket *sock, GBytes *frame)
{
  g_ptr_array_add (sock->out, frame);
  sock->out_bytes += g_bytes_get_size (frame);
}

static void
out_clear (MeteredServerSocket *sock)
{
  GBytes *frame;

  while ((frame = out_pop (sock)))
    g_bytes_unref (frame);
  sock->head_sent = 0;
}

/* Drops what is queued except a frame already partly written: its rest
 * must still go out or the stream is no longer WebSocket. */
static void
out_drop_unsent (MeteredServerSocket *sock)
{
  GBytes *head = NULL;

  gsize head_sent = sock->head_sent;

  if (head_sent > 0)
    head = out_pop (sock);
  out_clear (sock);
  if (head) {
    out_push (sock, head);
    sock->head_sent = head_sent;
  }
}

/* An unmasked server frame (RFC 6455 §5.2) of one opcode around payload. */
static GBytes *
ws_frame_new (guint8 opcode, const guint8 *payload, gsize len)
{
  guint8 *buf = g_malloc (len + METERED_WS_HEADER_MAX);
  gsize h = metered_ws_frame_header (buf, opcode, len);

  memcpy (buf + h, payload, len);
  return g_bytes_new_take (buf, h + len);
}

/* The text frame of payload. A fan-out hands the same payload to every
 * recipient in a row, so the last one is remembered (with a reference,
 * so its address cannot be reused meanwhile) and framed once. */
static GBytes *
text_frame (MeteredServer *server, GBytes *payload)
{
  if (server->frame_cache_payload != payload) {
    gsize len;
    const guint8 *data = g_bytes_get_data (payload, &len);

    g_clear_pointer (&server->frame_cache_payload, g_bytes_unref);
    g_clear_pointer (&server->frame_cache_frame, g_bytes_unref);
    server->frame_cache_payload = g_bytes_ref (payload);
    server->frame_cache_frame = ws_frame_new (0x1, data, len);
  }
  return g_bytes_ref (server->frame_cache_frame);
}

static void
set_cork (MeteredServerSocket *sock, gboolean on)
{
  if (sock->socket)
    g_socket_set_option (sock->socket, IPPROTO_TCP, TCP_CORK, on, NULL);
}

static gboolean on_room (GSocket *socket, GIOCondition cond, gpointer data);
static void socket_close_now (MeteredServerSocket *sock);

static gboolean
socket_is_open (MeteredServerSocket *sock)
{
  return sock->raw ? metered_ws_conn_is_open (sock->raw)
                   : soup_websocket_connection_get_state (sock->ws) ==
                         SOUP_WEBSOCKET_STATE_OPEN;
}

static gboolean
socket_waits_room (MeteredServerSocket *sock)
{
  return sock->room_source || sock->room_wait;
}

/* Fills job with the head of out, up to METERED_WS_WRITE_VECTORS
 * frames. */
static void
socket_fill_write (MeteredServerSocket *sock, MeteredWsWrite *job)
{
  job->n = 0;
  job->total = 0;
  for (guint i = sock->out_head;
       i < sock->out->len && job->n < METERED_WS_WRITE_VECTORS; i++) {
    gsize len;
    const guint8 *data =
        g_bytes_get_data (g_ptr_array_index (sock->out, i), &len);
    gsize skip = job->n == 0 ? sock->head_sent : 0;

    job->v[job->n].iov_base = (guint8 *) data + skip;
    job->v[job->n].iov_len = len - skip;
    job->total += len - skip;
    job->n++;
  }
}

/* Takes the ret bytes a write of job wrote off out; FALSE when the
 * kernel took less than all of it. */
static gboolean
socket_wrote (MeteredServerSocket *sock, const MeteredWsWrite *job, gsize ret)
{
  for (gsize left = ret; left > 0;) {
    GBytes *head = out_peek (sock);
    gsize len = g_bytes_get_size (head);
    gsize rest = len - sock->head_sent;

    if (left < rest) {
      sock->head_sent += left;
      break;
    }
    left -= rest;
    sock->head_sent = 0;
    g_bytes_unref (out_pop (sock));
  }
  return ret == job->total;
}

/* After the last write: a short one armed the connection's writable
 * callback; a drained queue lets a pending close go. */
static void
socket_write_done (MeteredServerSocket *sock)
{
  if (out_length (sock))
    sock->room_wait = TRUE;
  else if (sock->close_drain.active)
    socket_close_now (sock);
}

/* Writes queued frames, METERED_WS_WRITE_VECTORS per writev(), until the
 * kernel takes no more; then waits for room. */
static void
socket_write (MeteredServerSocket *sock)
{
  MeteredWsWrite job;

  while (out_length (sock)) {
    gssize ret;

    socket_fill_write (sock, &job);
    ret = metered_ws_conn_writev (sock->raw, job.v, job.n);
    if (ret < 0) {
      /* The peer is gone; the connection reports its close. */
      out_clear (sock);
      return;
    }
    if (!socket_wrote (sock, &job, ret))
      break;
  }
  socket_write_done (sock);
}

/* Hands queued frames to libsoup: all of them when all is TRUE (before a
 * close), else up to FLUSH_BUDGET_BYTES, then waits for room. */
static void
socket_flush (MeteredServerSocket *sock, gboolean all)
{
  gsize budget = all ? G_MAXSIZE : FLUSH_BUDGET_BYTES;
  gboolean cork;
  GBytes *frame;

  if (!socket_is_open (sock)) {
    out_clear (sock);
    return;
  }
  if (sock->raw) {
    socket_write (sock);
    return;
  }
  /* libsoup's own queue is unbounded and not observable: frames go to
   * it only while the kernel has room, else they wait in ours, which is
   * bounded. */
  if (!all && sock->socket &&
      !(g_socket_condition_check (sock->socket, G_IO_OUT) & G_IO_OUT))
    budget = 0;
  cork = budget > 0 && out_length (sock) > 1;
  if (cork)
    set_cork (sock, TRUE);
  while (budget > 0 && (frame = out_pop (sock))) {
    gsize len = g_bytes_get_size (frame);
    soup_websocket_connection_send_message (
        sock->ws, SOUP_WEBSOCKET_DATA_TEXT, frame);
    budget -= MIN (budget, len);
    g_bytes_unref (frame);
  }
  if (cork)
    set_cork (sock, FALSE);

  if (out_length (sock) && !sock->room_source && sock->socket) {
    sock->room_source = g_socket_create_source (sock->socket, G_IO_OUT, NULL);
    g_source_set_callback (
        sock->room_source, G_SOURCE_FUNC (on_room), sock, NULL);
    g_source_attach (sock->room_source, g_main_context_get_thread_default ());
  }
}

static void
room_source_clear (MeteredServerSocket *sock)
{
  if (sock->room_source) {
    g_source_destroy (sock->room_source);
    g_clear_pointer (&sock->room_source, g_source_unref);
  }
}

static gboolean
on_room (GSocket *socket, GIOCondition cond, gpointer data)
{
  MeteredServerSocket *sock = data;

  room_source_clear (sock);
  socket_flush (sock, FALSE);
  return G_SOURCE_REMOVE;
}

static void
mark_dirty (MeteredServerSocket *sock)
{
  if (!sock->dirty) {
    sock->dirty = TRUE;
    g_ptr_array_add (sock->server->dirty, sock);
  }
}

/* Queues one frame; the flush source writes it at the next main-loop
 * iteration together with everything else queued meanwhile. */
static gboolean
socket_accepts (MeteredServerSocket *sock)
{
  return !sock->overflowed && !sock->close_drain.active &&
         socket_is_open (sock);
}

/* Queues one item of out: a whole frame (sock->output set) or a JSON
 * text for libsoup. */
static void
socket_queue_frame (MeteredServerSocket *sock, GBytes *frame)
{
  gsize len = g_bytes_get_size (frame);

  if (!socket_accepts (sock))
    return;
  /* A burst (one iteration read many publishes at once) can pass the
   * bound while the kernel still has room: only what it cannot take
   * counts against a slow consumer. */
  if (sock->raw && !sock->room_wait &&
      sock->out_bytes + len > sock->server->max_queued_bytes)
    socket_write (sock);
  if (sock->conn && sock->out_bytes + len > sock->server->max_queued_bytes) {
    /* Closed at the flush, not here: the hub may be iterating the
     * channel this connection is a member of. */
    sock->overflowed = TRUE;
    out_drop_unsent (sock);
    mark_dirty (sock);
    return;
  }
  out_push (sock, g_bytes_ref (frame));
  mark_dirty (sock);
}

static void
socket_queue (MeteredServerSocket *sock, GBytes *text)
{
  g_autoptr (GBytes) frame = NULL;

  if (!socket_accepts (sock))
    return;
  frame = sock->raw ? text_frame (sock->server, text) : g_bytes_ref (text);
  socket_queue_frame (sock, frame);
}

static void
socket_io_send (gpointer io_data, const char *text)
{
  g_autoptr (GBytes) frame = g_bytes_new (text, strlen (text));

  socket_queue (io_data, frame);
}

static void
socket_io_send_bytes (gpointer io_data, GBytes *text)
{
  socket_queue (io_data, text);
}

/* The close of a plain connection, once its queue is written (or the
 * drain timed out: the peer does not read, its queue is dropped). */
static void
socket_close_now (MeteredServerSocket *sock)
{
  g_autofree char *reason = g_steal_pointer (&sock->drain_close_reason);
  /* Half a frame is out and the peer does not read the rest: a close
   * frame now would land inside it. The byte stream ends instead (the
   * peer reads what is buffered, then EOF). */
  gboolean at_boundary = sock->head_sent == 0;

  metered_ws_timer_stop (sock->server->loop, &sock->close_drain);
  sock->room_wait = FALSE;
  out_clear (sock);
  metered_ws_conn_close (
      sock->raw, sock->drain_close_code, reason, at_boundary);
}

static void
on_close_drain_timeout (gpointer data)
{
  socket_close_now (data);
}

static void
socket_io_close (gpointer io_data, int code, const char *reason)
{
  MeteredServerSocket *sock = io_data;

  metered_ws_timer_stop (sock->server->loop, &sock->expiry);
  if (!socket_is_open (sock) || sock->close_drain.active)
    return;
  sock->close_code_sent = code;
  if (sock->raw) {
    /* What was queued before the close goes first; libsoup writes the
     * close frame, which must not land inside one of our frames. */
    sock->drain_close_code = code;
    sock->drain_close_reason = g_strdup (reason);
    metered_ws_timer_start (sock->server->loop, &sock->close_drain,
        CLOSE_DRAIN_MS, on_close_drain_timeout, sock);
    if (!sock->room_wait)
      socket_write (sock);
    return;
  }
  /* What was queued before the close goes first. */
  room_source_clear (sock);
  socket_flush (sock, TRUE);
  soup_websocket_connection_close (sock->ws, code, reason);
}

static const MeteredHubIo socket_io = {
  socket_io_send,
  socket_io_close,
  socket_io_send_bytes,
};

static gboolean
flush_prepare (GSource *source, gint *timeout)
{
  MeteredServer *server = *(MeteredServer **) (source + 1);

  *timeout = -1;
  return server->dirty->len > 0;
}

static gboolean
flush_check (GSource *source)
{
  MeteredServer *server = *(MeteredServer **) (source + 1);

  return server->dirty->len > 0;
}

/* The plain connections of batch that have frames to write: one
 * writev() each, spread over the writer's threads, then the rest as
 * socket_write() would. Nothing else runs on the main thread between the
 * jobs' filling and their results, so the queues stay as filled. */
static void
flush_raw (MeteredServer *server, GPtrArray *batch)
{
  guint n = 0;

  if (server->write_jobs_len < batch->len) {
    server->write_jobs_len = MAX (batch->len, 2 * server->write_jobs_len);
    server->write_jobs =
        g_renew (MeteredWsWrite, server->write_jobs, server->write_jobs_len);
  }
  for (guint i = 0; i < batch->len; i++) {
    MeteredServerSocket *sock = g_ptr_array_index (batch, i);
    MeteredWsWrite *job = &server->write_jobs[n];

    if (!sock || !sock->raw || sock->overflowed || socket_waits_room (sock))
      continue;
    if (!socket_is_open (sock)) {
      out_clear (sock);
      continue;
    }
    if (!out_length (sock)) {
      socket_write_done (sock);
      continue;
    }
    job->fd = metered_ws_conn_get_fd (sock->raw);
    job->data = sock;
    socket_fill_write (sock, job);
    n++;
  }

  metered_ws_writer_run (server->writer, server->write_jobs, n);

  for (guint i = 0; i < n; i++) {
    MeteredWsWrite *job = &server->write_jobs[i];
    MeteredServerSocket *sock = job->data;
    gssize ret = metered_ws_conn_wrote (sock->raw, job->result, job->total);

    if (ret < 0)
      out_clear (sock); /* the connection reports its close */
    else if (socket_wrote (sock, job, ret))
      socket_write (sock); /* more than one writev() held, or none left */
    else
      socket_write_done (sock);
  }
}

/* Writes what was queued since the last flush. */
static void
flush_now (MeteredServer *server)
{
  g_autoptr (GPtrArray) dirty = server->dirty;

  server->dirty = g_ptr_array_new ();
  server->flushing = dirty;
  for (guint i = 0; i < dirty->len; i++) {
    MeteredServerSocket *sock = g_ptr_array_index (dirty, i);
    if (sock)
      sock->dirty = FALSE;
  }
  for (guint i = 0; i < dirty->len; i++) {
    MeteredServerSocket *sock = g_ptr_array_index (dirty, i);
    /* A close earlier in this loop may have freed a later entry: it then
     * took itself out of this array (see socket_free). */
    if (!sock)
      continue;
    if (sock->overflowed) {
      if (sock->conn && !metered_hub_conn_is_closing (sock->conn)) {
        if (server->options.verbose)
          g_info ("connection %s: send queue overflow, closing",
              metered_hub_conn_get_peer_id (sock->conn));
        metered_hub_conn_close (sock->conn, METERED_SERVER_CLOSE_SLOW_CONSUMER,
            "send queue overflow");
      }
    } else if (!sock->raw && !socket_waits_room (sock)) {
      socket_flush (sock, FALSE);
    }
  }
  flush_raw (server, dirty);
  server->flushing = NULL;
}

static gboolean
flush_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  flush_now (*(MeteredServer **) (source + 1));
  return G_SOURCE_CONTINUE;
}

/* The end of a batch of plain connections' reads: what they queued (a
 * fan-out) goes out now rather than at the next iteration. */
static void
on_loop_batch_done (gpointer data)
{
  MeteredServer *server = data;

  if (server->dirty->len > 0 && !server->flushing)
    flush_now (server);
}

static GSourceFuncs flush_funcs = {
  flush_prepare,
  flush_check,
  flush_dispatch,
  NULL,
};

static void
socket_message (
    MeteredServerSocket *sock, gboolean text, const char *data, gsize len)
{
  gint64 now_us = g_get_monotonic_time ();

  sock->last_rx_us = now_us;
  if (!sock->conn)
    return;
  if (!text)
    metered_hub_conn_handle_binary (sock->conn, now_us / 1000);
  else
    metered_hub_conn_handle_text (sock->conn, data, len, now_us / 1000);
}

static void
on_ws_message (
    SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  socket_message (user_data, type == SOUP_WEBSOCKET_DATA_TEXT, data, len);
}

static void
on_ws_pong (SoupWebsocketConnection *ws, GBytes *message, gpointer user_data)
{
  MeteredServerSocket *sock = user_data;

  sock->last_rx_us = g_get_monotonic_time ();
}

static void
maybe_finish_shutdown (MeteredServer *server)
{
  GSourceFunc done;

  if (!server->shutting_down || g_hash_table_size (server->sockets) > 0 ||
      !server->shutdown_done)
    return;
  g_clear_handle_id (&server->shutdown_timeout_id, g_source_remove);
  done = g_steal_pointer (&server->shutdown_done);
  done (server->shutdown_data);
}

/* Frees what socket_new made; the caller has unhooked it from the hub. */
static void
socket_free (MeteredServerSocket *sock)
{
  GPtrArray *lists[] = { sock->server->dirty, sock->server->flushing };

  /* Left in place as NULL: flush_dispatch may be walking the array. */
  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; lists[l] && i < lists[l]->len; i++)
      if (g_ptr_array_index (lists[l], i) == sock)
        lists[l]->pdata[i] = NULL;
  room_source_clear (sock);
  out_clear (sock);
  g_ptr_array_unref (sock->out);
  metered_ws_timer_stop (sock->server->loop, &sock->close_drain);
  metered_ws_timer_stop (sock->server->loop, &sock->expiry);
  g_free (sock->drain_close_reason);
  g_clear_pointer (&sock->raw, metered_ws_conn_free);
  g_clear_object (&sock->socket);
  g_clear_object (&sock->ws);
  g_free (sock);
}

/* The end of a connection, with the code it closed with (ours if we
 * closed, else the peer's, else 0). */
static void
socket_closed (MeteredServerSocket *sock, int peer_code)
{
  MeteredServer *server = sock->server;
  int code = sock->close_code_sent;
  char label[16];

  if (!code)
    code = peer_code;
  if (!code)
    code = METERED_CLOSE_ABNORMAL;
  g_snprintf (label, sizeof label, "%d", code);
  metered_metrics_inc (server->metrics, METERED_METRIC_CLOSES, label);
  if (server->options.verbose)
    g_info ("connection %s closed: %d",
        sock->conn ? metered_hub_conn_get_peer_id (sock->conn) : "(refused)",
        code);

  metered_ws_timer_stop (server->loop, &sock->expiry);
  if (sock->conn)
    metered_hub_conn_remove (sock->conn);
  if (sock->ws)
    g_signal_handlers_disconnect_by_data (sock->ws, sock);
  g_hash_table_remove (server->sockets, sock);
  socket_free (sock);

  maybe_finish_shutdown (server);
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  socket_closed (user_data, soup_websocket_connection_get_close_code (ws));
}

static void
on_token_expiry (gpointer user_data)
{
  MeteredServerSocket *sock = user_data;

  if (sock->conn)
    metered_hub_conn_close (
        sock->conn, METERED_CLOSE_TOKEN_EXPIRED, "token expired");
}

static void
raw_message (gpointer data, guint8 opcode, const guint8 *payload, gsize len)
{
  socket_message (data, opcode == 0x1, (const char *) payload, len);
}

static void
raw_ping (gpointer data, const guint8 *payload, gsize len)
{
  MeteredServerSocket *sock = data;
  g_autoptr (GBytes) pong = ws_frame_new (0xa, payload, len);

  sock->last_rx_us = g_get_monotonic_time ();
  socket_queue_frame (sock, pong);
}

static void
raw_pong (gpointer data)
{
  MeteredServerSocket *sock = data;

  sock->last_rx_us = g_get_monotonic_time ();
}

/* The peer closed or broke the protocol: what is still queued is of no
 * use to it; the close answers at once. */
static void
raw_closing (gpointer data, guint16 code)
{
  MeteredServerSocket *sock = data;
  gboolean at_boundary = sock->head_sent == 0;

  metered_ws_timer_stop (sock->server->loop, &sock->close_drain);
  metered_ws_timer_stop (sock->server->loop, &sock->expiry);
  sock->room_wait = FALSE;
  out_clear (sock);
  metered_ws_conn_close (sock->raw, code, NULL, at_boundary);
}

static void
raw_writable (gpointer data)
{
  MeteredServerSocket *sock = data;

  sock->room_wait = FALSE;
  socket_flush (sock, FALSE);
}

static void
raw_closed (gpointer data, int code)
{
  socket_closed (data, code);
}

static const MeteredWsConnFuncs raw_funcs = {
  raw_message,
  raw_ping,
  raw_pong,
  raw_closing,
  raw_writable,
  raw_closed,
};

static MeteredServerSocket *
socket_new (MeteredServer *server, GSocket *socket)
{
  MeteredServerSocket *sock = g_new0 (MeteredServerSocket, 1);

  sock->server = server;
  sock->last_rx_us = g_get_monotonic_time ();
  sock->out = g_ptr_array_new ();
  sock->socket = socket ? g_object_ref (socket) : NULL;
  if (sock->socket) {
    /* Frames are batched by the flush source (and corked when there are
     * several); one alone must not wait for the previous one's ACK. */
    g_socket_set_option (sock->socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    /* The kernel's buffer is bounded like our queue, instead of growing
     * to tcp_wmem's 4 MB for a client that stopped reading. */
    g_socket_set_option (sock->socket, SOL_SOCKET, SO_SNDBUF,
        MIN (server->max_queued_bytes, 256 * 1024), NULL);
  }
  g_hash_table_add (server->sockets, sock);
  return sock;
}

/* The handshake's verdict for a new connection: into the hub, or
 * closed with the code it earned. */
static void
socket_open (
    MeteredServer *server, MeteredServerSocket *sock, SoupServerMessage *msg)
{
  MeteredHandshake *hs = g_object_get_data (G_OBJECT (msg), HANDSHAKE_KEY);
  int close_code = hs ? hs->close_code : METERED_CLOSE_INVALID_TOKEN;
  const char *close_reason = hs ? hs->close_reason : "invalid credential";
  MeteredHubAuth auth = { 0 };

  /* Plan checks happen here, not in the HTTP handler, so that two
   * handshakes racing for the last slot cannot both win. */
  if (!close_code && hs->app->suspended) {
    close_code = METERED_CLOSE_ACCOUNT_SUSPENDED;
    close_reason = "account suspended";
  } else if (!close_code &&
             hs->app->n_connections >= hs->app->max_connections) {
    close_code = METERED_CLOSE_OVER_CONCURRENT_LIMIT;
    close_reason = "over concurrent connection limit";
  }
  if (close_code) {
    if (server->options.verbose)
      g_info ("closing new connection: %d %s", close_code, close_reason);
    socket_io_close (sock, close_code, close_reason);
    return;
  }

  auth.app = hs->app;
  auth.peer_id = hs->peer_id;
  auth.actions = hs->actions;
  auth.channel_patterns = (const char *const *) hs->channel_patterns;
  auth.peer_metadata = hs->peer_metadata;
  auth.welcome_metadata = hs->welcome_metadata;
  auth.credential_id = hs->credential_id;
  auth.expires_at = hs->expires_at;
  auth.peer_id_is_stable = hs->peer_id_is_stable;
  sock->conn = metered_hub_conn_add (server->hub, &auth, &socket_io, sock);
  if (server->options.verbose)
    g_info ("connection %s open (app %s)", hs->peer_id, hs->app->id);

  if (hs->expires_at >= 0) {
    gint64 due_ms = hs->expires_at * 1000 - METERED_JWT_EXPIRY_LEAD_MS -
                    g_get_real_time () / 1000;
    metered_ws_timer_start (server->loop, &sock->expiry,
        CLAMP (due_ms, 0, G_MAXINT32), on_token_expiry, sock);
  }
}

/* TLS connections: libsoup serves them. */
static void
ws_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    SoupWebsocketConnection *ws, gpointer user_data)
{
  MeteredServer *server = user_data;
  MeteredServerSocket *sock =
      socket_new (server, soup_server_message_get_socket (msg));

  sock->ws = g_object_ref (ws);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), sock);
  g_signal_connect (ws, "pong", G_CALLBACK (on_ws_pong), sock);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), sock);
  /* Frames over 64 KB make libsoup close with 1009 itself. */
  soup_websocket_connection_set_max_incoming_payload_size (
      ws, METERED_SERVER_MAX_FRAME);
  soup_websocket_connection_set_keepalive_interval (
      ws, server->options.ws_ping_interval_s);
  socket_open (server, sock, msg);
}

/* Plain connections: once libsoup has written the 101, the connection is
 * ours (metered-ws-conn.c), served from server->loop. */
static void
on_upgraded (SoupServerMessage *msg, gpointer user_data)
{
  MeteredServer *server = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);
  g_autoptr (GIOStream) stream = NULL;
  MeteredServerSocket *sock;

  g_signal_handlers_disconnect_by_func (msg, on_upgraded, user_data);
  if (!socket)
    return;
  g_object_ref (socket);
  stream = soup_server_message_steal_connection (msg);
  sock = socket_new (server, socket);
  g_object_unref (socket);
  sock->raw = metered_ws_conn_new (server->loop, stream, sock->socket,
      METERED_SERVER_MAX_FRAME, &raw_funcs, sock);
  socket_open (server, sock, msg);
  metered_ws_conn_start (sock->raw);
}

/* Sockets silent for three ping intervals are dead: end their presence
 * now rather than when TCP finally notices (§10 rule 13). */
static gboolean
sweep (gpointer user_data)
{
  MeteredServer *server = user_data;
  gint64 now_us = g_get_monotonic_time ();
  gint64 limit_us =
      3 * (gint64) server->options.ws_ping_interval_s * G_USEC_PER_SEC;
  g_autoptr (GList) socks = g_hash_table_get_keys (server->sockets);
  GHashTableIter iter;
  gpointer window;

  for (GList *l = socks; l; l = l->next) {
    MeteredServerSocket *sock = l->data;
    if (sock->raw) {
      static const guint8 ping[] = { 0x89, 0x00 };
      g_autoptr (GBytes) frame = g_bytes_new_static (ping, sizeof ping);
      socket_queue_frame (sock, frame);
    }
    if (sock->conn && !metered_hub_conn_is_closing (sock->conn) &&
        now_us - sock->last_rx_us > limit_us) {
      if (server->options.verbose)
        g_info ("connection %s silent for %" G_GINT64_FORMAT " s, dropping",
            metered_hub_conn_get_peer_id (sock->conn),
            (now_us - sock->last_rx_us) / G_USEC_PER_SEC);
      metered_hub_conn_close (
          sock->conn, METERED_CLOSE_GOING_AWAY, "ping timeout");
    }
  }

  g_hash_table_iter_init (&iter, server->ip_windows);
  while (g_hash_table_iter_next (&iter, NULL, &window))
    if (metered_rate_window_is_idle (window, now_us / 1000))
      g_hash_table_iter_remove (&iter);
  return G_SOURCE_CONTINUE;
}

MeteredServer *
metered_server_new (
    MeteredServerConfig *config, const MeteredServerOptions *options)
{
  MeteredServer *server = g_new0 (MeteredServer, 1);

  server->config = config;
  server->options = *options;
  server->host = g_strdup (options->host ? options->host : "127.0.0.1");
  server->admin_token = g_strdup (options->admin_token);
  server->cert_file = g_strdup (options->cert_file);
  server->key_file = g_strdup (options->key_file);
  server->web_root = g_strdup (options->web_root);
  server->options.host = server->host;
  server->options.admin_token = server->admin_token;
  server->options.cert_file = server->cert_file;
  server->options.key_file = server->key_file;
  server->options.web_root = server->web_root;
  if (server->options.ws_ping_interval_s == 0)
    server->options.ws_ping_interval_s = METERED_SERVER_WS_PING_S;

  server->metrics = metered_metrics_new ();
  server->hub = metered_hub_new (server->metrics, options->presence_gap_ms);
  server->sockets = g_hash_table_new (NULL, NULL);
  server->dirty = g_ptr_array_new ();
  server->max_queued_bytes =
      (gsize) (options->max_queued_kb ? options->max_queued_kb
                                      : METERED_SERVER_MAX_QUEUED_KB) *
      1024;
  server->ip_windows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) metered_rate_window_free);
  return server;
}

void
metered_server_free (MeteredServer *server)
{
  GHashTableIter iter;
  gpointer sock;

  if (!server)
    return;
  g_clear_handle_id (&server->sweep_id, g_source_remove);
  g_clear_handle_id (&server->shutdown_timeout_id, g_source_remove);
  if (server->flush_source) {
    g_source_destroy (server->flush_source);
    g_clear_pointer (&server->flush_source, g_source_unref);
    g_clear_pointer (&server->writer, metered_ws_writer_free);
    g_clear_pointer (&server->write_jobs, g_free);
    server->write_jobs_len = 0;
  }
  if (server->soup)
    soup_server_disconnect (server->soup);

  g_hash_table_iter_init (&iter, server->sockets);
  while (g_hash_table_iter_next (&iter, &sock, NULL)) {
    MeteredServerSocket *s = sock;
    if (s->ws)
      g_signal_handlers_disconnect_by_data (s->ws, s);
    if (s->conn)
      metered_hub_conn_remove (s->conn);
    socket_free (s);
    g_hash_table_iter_remove (&iter);
  }
  g_hash_table_unref (server->sockets);
  metered_ws_loop_free (server->loop);
  g_ptr_array_unref (server->dirty);
  g_clear_pointer (&server->frame_cache_payload, g_bytes_unref);
  g_clear_pointer (&server->frame_cache_frame, g_bytes_unref);
  metered_hub_free (server->hub);
  metered_metrics_free (server->metrics);
  g_hash_table_unref (server->ip_windows);
  g_clear_object (&server->soup);
  metered_server_config_free (server->config);
  g_free (server->host);
  g_free (server->admin_token);
  g_free (server->cert_file);
  g_free (server->key_file);
  g_free (server->web_root);
  g_free (server);
}

static GSocketAddress *
bind_address (const char *host, guint port, GError **error)
{
  g_autoptr (GInetAddress) addr = NULL;

  if (g_str_equal (host, "localhost"))
    host = "127.0.0.1";
  addr = g_inet_address_new_from_string (host);
  if (!addr) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "--host must be a numeric IPv4/IPv6 address or localhost, not "
        "\"%s\"",
        host);
    return NULL;
  }
  return g_inet_socket_address_new (addr, port);
}

gboolean
metered_server_listen (MeteredServer *server, GError **error)
{
  g_autoptr (GSocketAddress) address = NULL;
  g_autoptr (GSocket) listener = NULL;
  SoupServerListenOptions listen_options = 0;
  GSList *uris;

  server->soup = soup_server_new ("server-header", "metered-server", NULL);

  if (server->cert_file || server->key_file) {
    g_autoptr (GTlsCertificate) cert = NULL;
    if (!server->cert_file || !server->key_file) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
          "--cert and --key go together");
      return FALSE;
    }
    cert = g_tls_certificate_new_from_files (
        server->cert_file, server->key_file, error);
    if (!cert)
      return FALSE;
    soup_server_set_tls_certificate (server->soup, cert);
    listen_options |= SOUP_SERVER_LISTEN_HTTPS;
    server->tls = TRUE;
  }

  server->loop = metered_ws_loop_new (g_main_context_get_thread_default ());
  if (!server->loop) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
        "epoll_create1: %s", g_strerror (errno));
    return FALSE;
  }
  metered_ws_loop_set_batch_done (server->loop, on_loop_batch_done, server);
  /* No helpers by default: on the 2-core bench box they took the load
   * client's core and did not bring p99 down (docs/metered-server.md,
   * "Performance"). */
  server->writer = metered_ws_writer_new (server->options.write_threads);
  server->flush_source =
      g_source_new (&flush_funcs, sizeof (GSource) + sizeof (MeteredServer *));
  *(MeteredServer **) (server->flush_source + 1) = server;
  g_source_set_name (server->flush_source, "metered-server output flush");
  g_source_attach (server->flush_source, g_main_context_get_thread_default ());

  soup_server_add_handler (server->soup, "/v1", v1_handler, server, NULL);
  soup_server_add_websocket_handler (
      server->soup, "/v1", NULL, NULL, ws_handler, server, NULL);
  metered_server_add_http_handlers (server);

  address = bind_address (server->host, server->options.port, error);
  if (!address)
    return FALSE;
  /* Our own socket for its backlog: soup_server_listen() leaves GLib's
   * default of 10, and a burst of reconnects overflows it; every dropped
   * SYN then costs its client a 1 s retransmission. */
  listener = g_socket_new (g_socket_address_get_family (address),
      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (!listener)
    return FALSE;
  g_socket_set_listen_backlog (listener, METERED_SERVER_LISTEN_BACKLOG);
  if (!g_socket_bind (listener, address, TRUE, error) ||
      !g_socket_listen (listener, error) ||
      !soup_server_listen_socket (
          server->soup, listener, listen_options, error))
    return FALSE;

  uris = soup_server_get_uris (server->soup);
  if (uris)
    server->port = g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  server->sweep_id =
      g_timeout_add_seconds (server->options.ws_ping_interval_s, sweep, server);
  return TRUE;
}

guint
metered_server_get_port (MeteredServer *server)
{
  return server->port;
}

MeteredHub *
metered_server_get_hub (MeteredServer *server)
{
  return server->hub;
}

char *
metered_server_get_url (MeteredServer *server)
{
  gboolean v6 = strchr (server->host, ':') != NULL;

  return g_strdup_printf ("%s://%s%s%s:%u", server->tls ? "wss" : "ws",
      v6 ? "[" : "", server->host, v6 ? "]" : "", server->port);
}

guint
metered_server_close_peer (
    MeteredServer *server, const char *peer_id, int code, const char *reason)
{
  g_autoptr (GPtrArray) conns = metered_hub_list_conns (server->hub);
  guint n = 0;

  for (guint i = 0; i < conns->len; i++) {
    MeteredHubConn *conn = g_ptr_array_index (conns, i);
    if (g_str_equal (metered_hub_conn_get_peer_id (conn), peer_id)) {
      metered_hub_conn_close (conn, code, reason);
      n++;
    }
  }
  return n;
}

static gboolean
on_shutdown_timeout (gpointer user_data)
{
  MeteredServer *server = user_data;
  GSourceFunc done = g_steal_pointer (&server->shutdown_done);

  server->shutdown_timeout_id = 0;
  if (done)
    done (server->shutdown_data);
  return G_SOURCE_REMOVE;
}

void
metered_server_shutdown (MeteredServer *server, guint timeout_ms,
    GSourceFunc done, gpointer user_data)
{
  g_autofree char *going_away =
      metered_frame_build_going_away (METERED_GOING_AWAY_RETRY_MS);
  g_autoptr (GList) socks = g_hash_table_get_keys (server->sockets);

  server->shutting_down = TRUE;
  server->shutdown_done = done;
  server->shutdown_data = user_data;

  for (GList *l = socks; l; l = l->next) {
    MeteredServerSocket *sock = l->data;
    if (sock->conn && !metered_hub_conn_is_closing (sock->conn)) {
      socket_io_send (sock, going_away);
      metered_metrics_inc (
          server->metrics, METERED_METRIC_FRAMES_OUT, "going_away");
      metered_hub_conn_close (
          sock->conn, METERED_CLOSE_GOING_AWAY, "server shutting down");
    } else {
      socket_io_close (sock, METERED_CLOSE_GOING_AWAY, "server shutting down");
    }
  }
  server->shutdown_timeout_id =
      g_timeout_add (timeout_ms, on_shutdown_timeout, server);
  maybe_finish_shutdown (server);
}
