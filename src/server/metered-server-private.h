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

#include <libsoup/soup.h>

#include "metered-hub.h"
#include "metered-metrics.h"
#include "metered-server.h"
#include "metered-ws-loop.h"
#include "metered-ws-writer.h"

G_BEGIN_DECLS

G_GNUC_INTERNAL extern const char *metered_server_log_domain;

/* listen(2) backlog; the kernel caps it at net.core.somaxconn. */
#define METERED_SERVER_LISTEN_BACKLOG 4096

struct _MeteredServer
{
  MeteredServerConfig *config;
  MeteredServerOptions options;
  char *host;
  char *admin_token;
  char *cert_file;
  char *key_file;
  char *web_root;

  SoupServer *soup;
  /* Serves every plain ws:// connection once upgraded (metered-ws-conn.c)
   * and the connections' timers. */
  MeteredWsLoop *loop;
  MeteredMetrics *metrics;
  MeteredHub *hub;
  GHashTable *sockets; /* MeteredServerSocket* set, every open ws */
  GHashTable *ip_windows; /* remote host -> MeteredRateWindow* */
  guint sweep_id;
  guint port;

  /* Output batching: sockets with frames queued during this main-loop
   * iteration (MeteredServerSocket*), written out by flush_source at the
   * next one, several frames per syscall burst. Main thread only. */
  GPtrArray *dirty;
  GPtrArray *flushing; /* the batch flush_source is walking, or NULL */
  GSource *flush_source;
  /* Writes the flush's plain connections, shared with its helper
   * threads (metered-ws-writer.h); write_jobs is its scratch, one job
   * per connection, main thread only. */
  MeteredWsWriter *writer;
  MeteredWsWrite *write_jobs;
  guint write_jobs_len;
  gsize max_queued_bytes;
  /* The last text framed for a plain connection and its frame (see
   * text_frame()). Main thread only. */
  GBytes *frame_cache_payload;
  GBytes *frame_cache_frame;
  gboolean tls;

  /* shutdown */
  gboolean shutting_down;
  GSourceFunc shutdown_done;
  gpointer shutdown_data;
  guint shutdown_timeout_id;
};

/* Admin API, health, metrics and static files (metered-server-http.c). */
G_GNUC_INTERNAL void metered_server_add_http_handlers (MeteredServer *server);
/* Closes every live connection of the matching kind; returns the count. */
G_GNUC_INTERNAL guint metered_server_close_peer (
    MeteredServer *server, const char *peer_id, int code, const char *reason);

G_END_DECLS
