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

/* Spreads the writes of one flush over the caller and a few helper
 * threads. A loopback TCP send runs the receiver's side (and the wakeup
 * of the reading process) in the sender's thread, about 10 µs each, so
 * a 100-way fan-out written by one thread reaches its last subscriber
 * 1 ms after its first; written by two it takes half that.
 *
 * Only the syscalls run on the helpers: the caller fills the jobs (one
 * per connection, so that a connection's bytes keep their order), runs
 * them, and applies the results once metered_ws_writer_run() returns.
 * The helpers touch nothing but the jobs. */

#pragma once

#include <glib.h>
#include <sys/uio.h>

G_BEGIN_DECLS

/* Frames per writev(). */
#define METERED_WS_WRITE_VECTORS 64

typedef struct
{
  int fd;
  int n;
  struct iovec v[METERED_WS_WRITE_VECTORS];
  gsize total;
  /* Set by metered_ws_writer_run(): bytes written (0 when the kernel
   * took none), or -errno. */
  gssize result;
  gpointer data; /* the caller's */
} MeteredWsWrite;

typedef struct _MeteredWsWriter MeteredWsWriter;

/* threads: helper threads besides the caller (0: the caller writes
 * everything). */
MeteredWsWriter *metered_ws_writer_new (guint threads);
void metered_ws_writer_free (MeteredWsWriter *writer);

/* One sendmsg() of what v[] holds on fd, without SIGPIPE; any thread.
 * Returns the bytes written, 0 on would-block, or -errno. */
gssize metered_ws_write_once (int fd, const struct iovec *v, int n);

/* Writes every job (each with one metered_ws_write_once()) and returns
 * when all are done; the caller writes too. Small batches are written by
 * the caller alone: waking a helper costs more than it saves. Called
 * from one thread only. */
void metered_ws_writer_run (
    MeteredWsWriter *writer, MeteredWsWrite *jobs, guint n);

/* Jobs the helper threads have written so far (the rest: the caller). */
guint64 metered_ws_writer_get_shared (MeteredWsWriter *writer);

G_END_DECLS
