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

#include "metered-test-proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#define PUMP_BUFFER 16384

typedef struct _Conn Conn;

typedef struct
{
  Conn *conn;
  gboolean downstream; /* server -> client */
  guint8 buffer[PUMP_BUFFER];
} Pump;

struct _Conn
{
  gint ref;
  MeteredTestProxy *proxy; /* NULL once closed */
  GSocketConnection *client;
  GSocketConnection *server;
  GCancellable *cancellable;
  gboolean closed;
  gboolean blackhole; /* this connection only, whatever the mode */
  Pump up;
  Pump down;
};

struct _MeteredTestProxy
{
  GSocketService *service;
  GSocketClient *connector;
  guint16 port;
  guint16 upstream_port;
  MeteredTestProxyMode mode;
  GHashTable *conns; /* Conn* set, one reference each */
  guint n_accepted;
  guint64 bytes_down;
  guint64 bytes_up;
  guint64 bytes_dropped;
};

static Conn *
conn_ref (Conn *conn)
{
  g_atomic_int_inc (&conn->ref);
  return conn;
}

static void
conn_unref (Conn *conn)
{
  if (!g_atomic_int_dec_and_test (&conn->ref))
    return;
  g_clear_object (&conn->client);
  g_clear_object (&conn->server);
  g_clear_object (&conn->cancellable);
  g_free (conn);
}

/* Closes both sockets; pending reads and writes finish with errors and
 * drop their references. */
static void
conn_close (Conn *conn)
{
  MeteredTestProxy *proxy = conn->proxy;

  if (conn->closed)
    return;
  conn->closed = TRUE;
  conn->proxy = NULL;
  g_cancellable_cancel (conn->cancellable);
  if (conn->client)
    g_io_stream_close (G_IO_STREAM (conn->client), NULL, NULL);
  if (conn->server)
    g_io_stream_close (G_IO_STREAM (conn->server), NULL, NULL);
  if (proxy)
    g_hash_table_remove (proxy->conns, conn); /* drops the table's ref */
}

static void pump_read (Pump *pump);

static void
on_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Pump *pump = data;
  Conn *conn = pump->conn;
  gsize written = 0;
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (
          G_OUTPUT_STREAM (source), result, &written, &error) ||
      conn->closed) {
    conn_close (conn);
    conn_unref (conn);
    return;
  }
  if (pump->downstream)
    conn->proxy->bytes_down += written;
  else
    conn->proxy->bytes_up += written;
  pump_read (pump);
  conn_unref (conn);
}

static void
on_read (GObject *source, GAsyncResult *result, gpointer data)
{
  Pump *pump = data;
  Conn *conn = pump->conn;
  g_autoptr (GError) error = NULL;
  gssize n =
      g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  GSocketConnection *to;

  if (n <= 0 || conn->closed) {
    /* EOF or an error on one side: the other side is closed too. */
    conn_close (conn);
    conn_unref (conn);
    return;
  }
  if (conn->proxy->mode == METERED_TEST_PROXY_BLACKHOLE || conn->blackhole) {
    conn->proxy->bytes_dropped += n;
    pump_read (pump);
    conn_unref (conn);
    return;
  }
  to = pump->downstream ? conn->client : conn->server;
  g_output_stream_write_all_async (
      g_io_stream_get_output_stream (G_IO_STREAM (to)), pump->buffer, n,
      G_PRIORITY_DEFAULT, conn->cancellable, on_written, pump);
  /* the reference moves to the write */
}

static void
pump_read (Pump *pump)
{
  Conn *conn = pump->conn;
  GSocketConnection *from = pump->downstream ? conn->server : conn->client;

  conn_ref (conn);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (from)),
      pump->buffer, sizeof pump->buffer, G_PRIORITY_DEFAULT, conn->cancellable,
      on_read, pump);
}

static void
on_upstream_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Conn *conn = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *server =
      g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);

  if (!server || conn->closed) {
    /* Upstream down: the client sees its connection closed. */
    g_clear_object (&server);
    conn_close (conn);
    conn_unref (conn);
    return;
  }
  conn->server = server;
  g_socket_set_option (g_socket_connection_get_socket (server), IPPROTO_TCP,
      TCP_NODELAY, 1, NULL);
  pump_read (&conn->up);
  pump_read (&conn->down);
  conn_unref (conn);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection,
    GObject *source_object, gpointer data)
{
  MeteredTestProxy *proxy = data;
  g_autoptr (GSocketAddress) address = NULL;
  Conn *conn;

  proxy->n_accepted++;
  if (proxy->mode == METERED_TEST_PROXY_REFUSE) {
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    return TRUE;
  }
  conn = g_new0 (Conn, 1);
  conn->ref = 1; /* the table's */
  conn->proxy = proxy;
  conn->client = g_object_ref (connection);
  conn->cancellable = g_cancellable_new ();
  conn->up.conn = conn;
  conn->up.downstream = FALSE;
  conn->down.conn = conn;
  conn->down.downstream = TRUE;
  g_hash_table_add (proxy->conns, conn);
  g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP,
      TCP_NODELAY, 1, NULL);

  address =
      g_inet_socket_address_new_from_string ("127.0.0.1", proxy->upstream_port);
  g_socket_client_connect_async (proxy->connector,
      G_SOCKET_CONNECTABLE (address), conn->cancellable, on_upstream_connected,
      conn_ref (conn));
  return TRUE;
}

MeteredTestProxy *
metered_test_proxy_new (guint16 upstream_port, GError **error)
{
  MeteredTestProxy *proxy = g_new0 (MeteredTestProxy, 1);
  g_autoptr (GSocketAddress) address =
      g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr (GSocketAddress) effective = NULL;

  proxy->upstream_port = upstream_port;
  proxy->conns =
      g_hash_table_new_full (NULL, NULL, (GDestroyNotify) conn_unref, NULL);
  proxy->connector = g_socket_client_new ();
  proxy->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (proxy->service),
          address, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
          &effective, error)) {
    metered_test_proxy_free (proxy);
    return NULL;
  }
  proxy->port =
      g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (
      proxy->service, "incoming", G_CALLBACK (on_incoming), proxy);
  g_socket_service_start (proxy->service);
  return proxy;
}

guint
metered_test_proxy_cut (MeteredTestProxy *proxy)
{
  g_autoptr (GList) conns = g_hash_table_get_keys (proxy->conns);
  guint n = 0;

  for (GList *l = conns; l; l = l->next, n++)
    conn_close (l->data);
  return n;
}

void
metered_test_proxy_free (MeteredTestProxy *proxy)
{
  if (!proxy)
    return;
  if (proxy->service) {
    g_signal_handlers_disconnect_by_data (proxy->service, proxy);
    g_socket_service_stop (proxy->service);
    g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
  }
  metered_test_proxy_cut (proxy);
  g_hash_table_unref (proxy->conns);
  g_clear_object (&proxy->service);
  g_clear_object (&proxy->connector);
  g_free (proxy);
}

guint16
metered_test_proxy_get_port (MeteredTestProxy *proxy)
{
  return proxy->port;
}

void
metered_test_proxy_set_upstream_port (MeteredTestProxy *proxy, guint16 port)
{
  proxy->upstream_port = port;
}

void
metered_test_proxy_set_mode (MeteredTestProxy *proxy, MeteredTestProxyMode mode)
{
  proxy->mode = mode;
}

MeteredTestProxyMode
metered_test_proxy_get_mode (MeteredTestProxy *proxy)
{
  return proxy->mode;
}

/* A stopped service leaves its socket listening: the kernel completes
 * handshakes into the accept queue until it is full, then drops SYNs. */
void
metered_test_proxy_set_accepting (MeteredTestProxy *proxy, gboolean accepting)
{
  if (accepting)
    g_socket_service_start (proxy->service);
  else
    g_socket_service_stop (proxy->service);
}

guint
metered_test_proxy_get_n_open (MeteredTestProxy *proxy)
{
  return g_hash_table_size (proxy->conns);
}

guint
metered_test_proxy_get_n_accepted (MeteredTestProxy *proxy)
{
  return proxy->n_accepted;
}

guint64
metered_test_proxy_get_bytes_down (MeteredTestProxy *proxy)
{
  return proxy->bytes_down;
}

guint64
metered_test_proxy_get_bytes_up (MeteredTestProxy *proxy)
{
  return proxy->bytes_up;
}

guint64
metered_test_proxy_get_bytes_dropped (MeteredTestProxy *proxy)
{
  return proxy->bytes_dropped;
}

gboolean
metered_test_proxy_blackhole_upstream_port (
    MeteredTestProxy *proxy, guint16 local_port)
{
  g_autoptr (GList) conns = g_hash_table_get_keys (proxy->conns);

  for (GList *l = conns; l; l = l->next) {
    Conn *conn = l->data;
    g_autoptr (GSocketAddress) local = NULL;

    if (!conn->server)
      continue;
    local = g_socket_connection_get_local_address (conn->server, NULL);
    if (local && g_inet_socket_address_get_port (
                     G_INET_SOCKET_ADDRESS (local)) == local_port) {
      conn->blackhole = TRUE;
      return TRUE;
    }
  }
  return FALSE;
}
