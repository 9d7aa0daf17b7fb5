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

#include "metered-ws-conn.h"

#include "metered-ws-frame.h"
#include "metered-ws-writer.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* What libsoup waits for the peer's close after sending its own. */
#define CLOSE_WAIT_MS 5000
#define READ_CHUNK (64 * 1024)
/* Reads per readiness event, so that one busy client cannot hold the
 * loop; level-triggered epoll brings the rest at the next iteration. */
#define READS_PER_EVENT 4

typedef enum
{
  CONN_OPEN,
  CONN_CLOSING, /* our close frame is out: waiting for the peer's */
  CONN_CLOSED,
} ConnState;

struct _MeteredWsConn
{
  MeteredWsLoop *loop;
  GIOStream *stream;
  GSocket *socket;
  int fd;
  MeteredWsWatch watch;
  MeteredWsTimer close_timer;
  const MeteredWsConnFuncs *funcs;
  gpointer data;

  MeteredWsReader reader;
  /* Bytes of an incomplete frame, kept between reads (NULL when none:
   * an idle connection holds no buffer). */
  guint8 *pending;
  gsize pending_len;

  ConnState state;
  gboolean close_received;
  gboolean failed; /* we broke off for a protocol error */
  gboolean want_out;
  int close_code; /* reported to funcs->closed */
};

/* Reads land here first; only an incomplete frame is copied out to the
 * connection. Main thread only. */
/* Room for an incomplete frame (at most max_message plus a header)
 * followed by one read. */
static guint8 scratch[2 * READ_CHUNK + 64];

static void conn_ready (gpointer data, guint32 events);

static void
conn_update_watch (MeteredWsConn *conn)
{
  if (conn->state == CONN_CLOSED)
    return;
  metered_ws_loop_watch (conn->loop, &conn->watch, conn->fd,
      EPOLLIN | EPOLLRDHUP | (conn->want_out ? EPOLLOUT : 0), conn_ready, conn);
}

/* Ends the connection now; funcs->closed follows from the loop. */
static void
conn_finish (MeteredWsConn *conn, int code)
{
  if (conn->state == CONN_CLOSED)
    return;
  if (!conn->close_code)
    conn->close_code = code;
  conn->state = CONN_CLOSED;
  metered_ws_loop_unwatch (conn->loop, &conn->watch);
  metered_ws_timer_stop (conn->loop, &conn->close_timer);
  g_socket_close (conn->socket, NULL);
  g_clear_pointer (&conn->pending, g_free);
  conn->pending_len = 0;
  metered_ws_reader_clear (&conn->reader);
  metered_ws_loop_defer (conn->loop, &conn->watch);
}

static void
on_close_timeout (gpointer data)
{
  MeteredWsConn *conn = data;

  conn_finish (conn, conn->close_code);
}

/* Handles one parsed event; FALSE when reading must stop. */
static gboolean
conn_event (MeteredWsConn *conn, const MeteredWsEvent *ev)
{
  switch (ev->type) {
    case METERED_WS_EVENT_NONE:
      return TRUE;
    case METERED_WS_EVENT_MESSAGE:
      /* libsoup delivered messages after its own close too; the hub
       * ignores a closing connection's frames either way. */
      if (conn->state == CONN_OPEN)
        conn->funcs->message (conn->data, ev->opcode, ev->data, ev->len);
      return TRUE;
    case METERED_WS_EVENT_PING:
      if (conn->state == CONN_OPEN)
        conn->funcs->ping (conn->data, ev->data, ev->len);
      return TRUE;
    case METERED_WS_EVENT_PONG:
      conn->funcs->pong (conn->data);
      return TRUE;
    case METERED_WS_EVENT_CLOSE:
    case METERED_WS_EVENT_ERROR:
      if (ev->type == METERED_WS_EVENT_CLOSE)
        conn->close_received = TRUE;
      else
        conn->failed = TRUE;
      if (conn->state == CONN_CLOSING) {
        conn_finish (conn, conn->close_code);
      } else {
        conn->close_code = ev->code;
        conn->funcs->closing (conn->data, ev->code);
      }
      return FALSE;
  }
  return FALSE;
}

/* Parses what buf holds; keeps an incomplete frame in conn->pending.
 * FALSE when reading must stop. */
static gboolean
conn_parse (MeteredWsConn *conn, guint8 *buf, gsize len)
{
  gsize at = 0;

  while (conn->state != CONN_CLOSED) {
    MeteredWsEvent ev;
    gsize used =
        metered_ws_reader_next (&conn->reader, buf + at, len - at, &ev);

    if (ev.type == METERED_WS_EVENT_NONE && used == 0)
      break;
    at += used;
    if (!conn_event (conn, &ev))
      return FALSE;
  }
  if (conn->state == CONN_CLOSED)
    return FALSE;
  if (at < len) {
    guint8 *rest = g_malloc (len - at);
    memcpy (rest, buf + at, len - at);
    g_free (conn->pending);
    conn->pending = rest;
    conn->pending_len = len - at;
  } else {
    g_clear_pointer (&conn->pending, g_free);
    conn->pending_len = 0;
  }
  return TRUE;
}

/* Reads into scratch after what is pending; returns the byte count of
 * scratch to parse, 0 at EOF, -1 on would-block, -2 on error. */
static gssize
conn_read (MeteredWsConn *conn)
{
  gsize kept = conn->pending_len;
  gssize n;

  if (kept)
    memcpy (scratch, conn->pending, kept);
  do
    n = recv (conn->fd, scratch + kept, READ_CHUNK, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
  if (n == 0)
    return 0;
  return kept + n;
}

static void
conn_read_ready (MeteredWsConn *conn)
{
  for (int i = 0; i < READS_PER_EVENT && conn->state != CONN_CLOSED; i++) {
    gssize n = conn_read (conn);

    if (n == -1)
      return;
    if (n <= 0) {
      /* EOF or reset: a clean end only after both closes. */
      conn_finish (conn, METERED_WS_CLOSE_ABNORMAL);
      return;
    }
    if (conn->failed) {
      /* The rest of what the client sends is dropped, until its EOF: a
       * close() with unread bytes would reset the connection, and the
       * reset can destroy our close frame before the client reads it. */
      g_clear_pointer (&conn->pending, g_free);
      conn->pending_len = 0;
      continue;
    }
    if (!conn_parse (conn, scratch, n))
      return;
    if ((gsize) n - conn->pending_len < READ_CHUNK / 2)
      return; /* the socket is most likely drained */
  }
}

static void
conn_ready (gpointer data, guint32 events)
{
  MeteredWsConn *conn = data;

  if (events == 0) {
    conn->funcs->closed (conn->data, conn->close_code);
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    conn_read_ready (conn);
  if (conn->state != CONN_CLOSED && conn->want_out &&
      (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    conn->want_out = FALSE;
    conn_update_watch (conn);
    conn->funcs->writable (conn->data);
  }
}

MeteredWsConn *
metered_ws_conn_new (MeteredWsLoop *loop, GIOStream *stream, GSocket *socket,
    gsize max_message, const MeteredWsConnFuncs *funcs, gpointer data)
{
  MeteredWsConn *conn = g_new0 (MeteredWsConn, 1);
  GInputStream *input = g_io_stream_get_input_stream (stream);

  g_return_val_if_fail (max_message <= READ_CHUNK, NULL);
  conn->loop = loop;
  conn->stream = g_object_ref (stream);
  conn->socket = g_object_ref (socket);
  conn->fd = g_socket_get_fd (socket);
  conn->watch.fd = -1;
  conn->funcs = funcs;
  conn->data = data;
  metered_ws_reader_init (&conn->reader, max_message);

  /* libsoup's HTTP reader may hold bytes the client sent right behind
   * its request; they come before anything read from the socket. */
  if (G_IS_POLLABLE_INPUT_STREAM (input)) {
    GByteArray *early = g_byte_array_new ();
    guint8 buf[4096];
    gssize n;

    while (
        early->len < READ_CHUNK &&
        (n = g_pollable_input_stream_read_nonblocking (
             G_POLLABLE_INPUT_STREAM (input), buf, sizeof buf, NULL, NULL)) > 0)
      g_byte_array_append (early, buf, n);
    if (early->len > 0) {
      conn->pending_len = early->len;
      conn->pending = g_byte_array_free (early, FALSE);
    } else {
      g_byte_array_unref (early);
    }
  }
  conn_update_watch (conn);
  return conn;
}

/* Parses what was read before the connection was handed over; its owner
 * must be set up first, so this runs from the loop. */
void
metered_ws_conn_start (MeteredWsConn *conn)
{
  if (conn->pending_len > 0) {
    gsize len = conn->pending_len;
    memcpy (scratch, conn->pending, len);
    conn_parse (conn, scratch, len);
  }
}

void
metered_ws_conn_free (MeteredWsConn *conn)
{
  if (!conn)
    return;
  metered_ws_loop_unwatch (conn->loop, &conn->watch);
  metered_ws_timer_stop (conn->loop, &conn->close_timer);
  g_socket_close (conn->socket, NULL);
  g_object_unref (conn->socket);
  g_object_unref (conn->stream);
  g_free (conn->pending);
  metered_ws_reader_clear (&conn->reader);
  g_free (conn);
}

gboolean
metered_ws_conn_is_open (MeteredWsConn *conn)
{
  return conn->state == CONN_OPEN && !conn->close_received && !conn->failed;
}

int
metered_ws_conn_get_fd (MeteredWsConn *conn)
{
  return conn->state == CONN_CLOSED ? -1 : conn->fd;
}

gssize
metered_ws_conn_wrote (MeteredWsConn *conn, gssize result, gsize total)
{
  if (conn->state == CONN_CLOSED)
    return -1;
  if (result < 0) {
    conn_finish (conn, METERED_WS_CLOSE_ABNORMAL);
    return -1;
  }
  if ((gsize) result < total && !conn->want_out) {
    conn->want_out = TRUE;
    conn_update_watch (conn);
  }
  return result;
}

gssize
metered_ws_conn_writev (MeteredWsConn *conn, const struct iovec *v, int n)
{
  gsize total = 0;

  if (conn->state == CONN_CLOSED)
    return -1;
  for (int i = 0; i < n; i++)
    total += v[i].iov_len;
  return metered_ws_conn_wrote (
      conn, metered_ws_write_once (conn->fd, v, n), total);
}

void
metered_ws_conn_close (
    MeteredWsConn *conn, guint16 code, const char *reason, gboolean at_boundary)
{
  guint8 frame[METERED_WS_HEADER_MAX + 125];
  gsize h, len;
  gssize written;

  if (conn->state != CONN_OPEN)
    return;
  if (!conn->close_received && !conn->failed)
    conn->close_code = code;
  if (at_boundary) {
    /* 1005 is what a peer's empty close reads as; the answer is 1000. */
    if (code == METERED_WS_CLOSE_NO_STATUS)
      code = METERED_WS_CLOSE_NORMAL;
    len = metered_ws_close_payload (frame + 4, code, reason);
    h = metered_ws_frame_header (frame, 0x8, len);
    memmove (frame + h, frame + 4, len);
    do
      written = send (conn->fd, frame, h + len, MSG_NOSIGNAL);
    while (written < 0 && errno == EINTR);
    at_boundary = written == (gssize) (h + len);
  }
  /* After a protocol error nothing the client sends is read: the end of
   * our stream tells it not to wait for more. */
  if (!at_boundary || conn->failed)
    shutdown (conn->fd, SHUT_WR);
  if (conn->close_received) {
    conn_finish (conn, conn->close_code);
    return;
  }
  conn->state = CONN_CLOSING;
  conn->want_out = FALSE;
  conn_update_watch (conn);
  metered_ws_timer_start (
      conn->loop, &conn->close_timer, CLOSE_WAIT_MS, on_close_timeout, conn);
}
