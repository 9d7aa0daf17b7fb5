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

/* libcheck (gst-check) has a TestResult of its own. */
#define TestResult MeteredTestUtilResult
#include "test-util.h"
#undef TestResult

#include <gst/gst.h>

G_BEGIN_DECLS

/* Helpers of the meteredsink tests (tests/client's test-util runs the
 * metered-server subprocess and the bounded waits). */

/* A signalling-only member of a channel: it joins, records what it is
 * sent and leaves; it never answers an offer. */
typedef struct
{
  MeteredSignallingClient *client;
  char *peer_id;
  GPtrArray *directs; /* char*: "FROM DATA" */
  GPtrArray *messages; /* char*: "FROM DATA" */
} SinkFakePeer;

SinkFakePeer *sink_fake_peer_join (TestServer *server, const char *channel);
void sink_fake_peer_leave (SinkFakePeer *peer);
/* The data of the first direct from `from` whose data contains needle. */
const char *sink_fake_peer_find_direct (
    SinkFakePeer *peer, const char *from, const char *needle);

/* Element messages and errors of one element, collected from its bus by a
 * sync handler (any thread). */
typedef struct
{
  GMutex lock;
  GstBus *bus;
  GPtrArray *names; /* char*: structure names of element messages, in
                       order; "error", "warning" for those */
  GPtrArray *structures; /* GstStructure*, parallel to names (errors: the
                            details structure or an empty one) */
  GError *error; /* the first error */
  gint64 error_time_us;
} SinkBusLog;

SinkBusLog *sink_bus_log_new (GstElement *element);
void sink_bus_log_free (SinkBusLog *log);
/* How many messages named name were posted (after index from). */
guint sink_bus_log_count (SinkBusLog *log, const char *name, guint from);
guint sink_bus_log_length (SinkBusLog *log);
/* Messages named name whose string field equals value (after from). */
guint sink_bus_log_count_with (SinkBusLog *log, const char *name,
    const char *field, const char *value, guint from);
/* The index of the first error, or -1. */
gint sink_bus_log_error_index (SinkBusLog *log);
/* A copy of the string field of the latest message named name, or NULL. */
char *sink_bus_log_dup_string (
    SinkBusLog *log, const char *name, const char *field);
/* A copy of the latest message named name, or NULL. */
GstStructure *sink_bus_log_dup_structure (SinkBusLog *log, const char *name);
gboolean sink_bus_log_has_error (SinkBusLog *log);

/* n VP8 frames of a small test pattern (key frame every 30), as an array of
 * GstBuffer* without timestamps. */
GPtrArray *sink_make_vp8_frames (guint n);

/* A field of the element's stats: a uint64 of the first metered/track
 * entry (track_field) or of the top level. */
guint64 sink_stats_track_u64 (GstElement *sink, guint index, const char *field);
char *sink_stats_track_string (
    GstElement *sink, guint index, const char *field);
guint sink_stats_peers (GstElement *sink);

G_END_DECLS
