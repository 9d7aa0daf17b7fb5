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

#include "metered-server-config.h"

G_BEGIN_DECLS

/* Close code for a subscriber whose outgoing queue overflowed because it
 * does not read fast enough (docs/metered-server.md). Not one of the
 * hosted service's codes: the SDK retries it with its normal backoff. */
#define METERED_SERVER_CLOSE_SLOW_CONSUMER 4013
/* Default bound of a connection's queue of frames not yet handed to the
 * socket (--max-queued-kb). */
#define METERED_SERVER_MAX_QUEUED_KB 1024

typedef struct
{
  const char *host; /* bind address, default 127.0.0.1 */
  guint port; /* 0 = any free port */
  const char *admin_token; /* NULL = admin API off */
  const char *cert_file; /* with key_file: TLS */
  const char *key_file;
  const char *web_root; /* NULL = no static files */
  guint ip_connect_limit; /* per 60 s; 0 = off */
  guint ws_ping_interval_s;
  /* Threads that write a fan-out beside the main loop (ws:// only),
   * 0..4; 0 (the default): none. */
  guint write_threads;
  guint presence_gap_ms;
  gboolean verbose;
  guint max_queued_kb; /* per-connection outgoing queue; 0 = default */
} MeteredServerOptions;

typedef struct _MeteredServer MeteredServer;

/* Takes ownership of config. */
MeteredServer *metered_server_new (
    MeteredServerConfig *config, const MeteredServerOptions *options);
void metered_server_free (MeteredServer *server);

/* Binds and starts serving on the thread-default main context. */
gboolean metered_server_listen (MeteredServer *server, GError **error);
/* The bound port and the ws:// or wss:// base URL. */
guint metered_server_get_port (MeteredServer *server);
/* The channel logic, for the cluster mode's hooks. */
struct _MeteredHub *metered_server_get_hub (MeteredServer *server);
char *metered_server_get_url (MeteredServer *server);

/* Graceful shutdown: going_away + close 1001 to every client; done is
 * called once every socket has closed or after timeout_ms. */
void metered_server_shutdown (MeteredServer *server, guint timeout_ms,
    GSourceFunc done, gpointer user_data);

G_END_DECLS
