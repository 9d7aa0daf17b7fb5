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

/* A plain (ws://) WebSocket connection served from a MeteredWsLoop once
 * libsoup has answered the handshake and given the connection up: it
 * reads and parses the client's frames (metered-ws-frame.c), writes what
 * its owner gives it with writev(), and runs the closing handshake.
 * Queueing and batching of outgoing frames stay with the owner
 * (metered-server.c), which serves TLS connections through libsoup with
 * the same queue. Main thread only. */

#pragma once

#include <gio/gio.h>
#include <sys/uio.h>

#include "metered-ws-loop.h"

G_BEGIN_DECLS

typedef struct _MeteredWsConn MeteredWsConn;

typedef struct
{
  /* A whole text (opcode 1, valid UTF-8) or binary (2) message. */
  void (*message) (
      gpointer data, guint8 opcode, const guint8 *payload, gsize len);
  /* The owner queues the pong, so that it cannot land inside one of its
   * frames. */
  void (*ping) (gpointer data, const guint8 *payload, gsize len);
  void (*pong) (gpointer data);
  /* The peer sent a close (code: its code, 1005 if none) or broke the
   * protocol (code: 1002, 1007, 1009): the owner answers with
   * metered_ws_conn_close(). */
  void (*closing) (gpointer data, guint16 code);
  /* The kernel has room again after a short metered_ws_conn_writev(). */
  void (*writable) (gpointer data);
  /* The socket is closed (code: the close code this connection ended
   * with, 1006 if none); the owner may now free the connection. Called
   * from the loop, never from inside another call on this connection. */
  void (*closed) (gpointer data, int code);
} MeteredWsConnFuncs;

/* Takes over stream (what soup_server_message_steal_connection() gave)
 * and its socket; reads what libsoup had already buffered first. */
MeteredWsConn *metered_ws_conn_new (MeteredWsLoop *loop, GIOStream *stream,
    GSocket *socket, gsize max_message, const MeteredWsConnFuncs *funcs,
    gpointer data);
/* Parses what libsoup had buffered; call once the owner is ready for
 * callbacks. */
void metered_ws_conn_start (MeteredWsConn *conn);
void metered_ws_conn_free (MeteredWsConn *conn);

/* Neither a close sent nor one received. */
gboolean metered_ws_conn_is_open (MeteredWsConn *conn);

/* Writes what the kernel takes; returns the count (short: funcs->writable
 * follows when there is room), or -1 when the peer is gone (the
 * connection then closes itself: funcs->closed follows). */
gssize metered_ws_conn_writev (
    MeteredWsConn *conn, const struct iovec *vectors, int n);

/* The socket, for a write from another thread (metered-ws-writer.h),
 * or -1 once closed. */
int metered_ws_conn_get_fd (MeteredWsConn *conn);
/* Applies the result of such a write of total bytes (bytes written, or
 * -errno) as metered_ws_conn_writev() would have; returns the same. */
gssize metered_ws_conn_wrote (MeteredWsConn *conn, gssize result, gsize total);

/* Sends a close frame (unless at_boundary is FALSE: the owner's last
 * frame is partly written, and the write side is shut instead), then
 * waits at most 5 s for the peer's close (or, after a protocol error,
 * its EOF); at once if the peer closed first. */
void metered_ws_conn_close (MeteredWsConn *conn, guint16 code,
    const char *reason, gboolean at_boundary);

G_END_DECLS
