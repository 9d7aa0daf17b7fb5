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

G_BEGIN_DECLS

/*
 * A loopback TCP proxy for tests: listens on 127.0.0.1 (a free port) and
 * forwards every accepted connection to 127.0.0.1:<upstream port>. It runs
 * on the thread-default main context of the thread that created it.
 *
 * It can cut every connection (both sides closed at once, so a WebSocket
 * client sees an abnormal 1006 close), blackhole (keep every socket open
 * but forward nothing in either direction: what a dead NAT or a frozen
 * peer looks like), or refuse (accept new connections and close them at
 * once, like a server that is down).
 */

typedef enum
{
  METERED_TEST_PROXY_FORWARD,
  /* Bytes read from either side are discarded; nothing is closed. New
   * connections are accepted and blackholed too. */
  METERED_TEST_PROXY_BLACKHOLE,
  /* New connections are closed as soon as they are accepted; existing
   * ones keep forwarding. */
  METERED_TEST_PROXY_REFUSE,
} MeteredTestProxyMode;

typedef struct _MeteredTestProxy MeteredTestProxy;

MeteredTestProxy *metered_test_proxy_new (
    guint16 upstream_port, GError **error);
/* Closes every connection and stops listening. */
void metered_test_proxy_free (MeteredTestProxy *proxy);

guint16 metered_test_proxy_get_port (MeteredTestProxy *proxy);
void metered_test_proxy_set_upstream_port (
    MeteredTestProxy *proxy, guint16 port);
void metered_test_proxy_set_mode (
    MeteredTestProxy *proxy, MeteredTestProxyMode mode);
MeteredTestProxyMode metered_test_proxy_get_mode (MeteredTestProxy *proxy);

/* Closes both sides of every open connection now; returns how many. */
/* FALSE: connections are no longer accepted (the socket stays
 * listening, so the kernel queues them up to its backlog). */
void metered_test_proxy_set_accepting (
    MeteredTestProxy *proxy, gboolean accepting);

guint metered_test_proxy_cut (MeteredTestProxy *proxy);

/* Connections open now (forwarding or blackholed). */
guint metered_test_proxy_get_n_open (MeteredTestProxy *proxy);
/* Connections accepted since creation (refused ones included). */
guint metered_test_proxy_get_n_accepted (MeteredTestProxy *proxy);
/* Bytes forwarded server -> client (downstream) or client -> server. */
guint64 metered_test_proxy_get_bytes_down (MeteredTestProxy *proxy);
guint64 metered_test_proxy_get_bytes_up (MeteredTestProxy *proxy);
/* Bytes read and dropped while blackholing, both directions. */
guint64 metered_test_proxy_get_bytes_dropped (MeteredTestProxy *proxy);

/* Blackholes the one connection whose upstream socket has local port
 * local_port (what the upstream server sees as the client's port, for
 * instance in Redis's CLIENT LIST); FALSE when there is none. */
gboolean metered_test_proxy_blackhole_upstream_port (
    MeteredTestProxy *proxy, guint16 local_port);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeteredTestProxy, metered_test_proxy_free)

G_END_DECLS
