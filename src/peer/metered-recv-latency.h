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

#include <gst/gst.h>

G_BEGIN_DECLS

/*
 * A receiving connection's jitter buffers (webrtcbin's rtpjitterbuffer,
 * one per remote stream) and their latency: fixed, or every second from
 * what they measure (metered-jitter-latency.h), never below the 100 ms
 * webrtcbin starts with nor above 1000 ms. The owner reads the latency in
 * force with every buffer (MeteredRemoteTrack.latency_ms) and reports it
 * downstream.
 *
 * Threads: attach, detach and the timer on the connection's context;
 * jitter buffers are added from webrtcbin's threads (deep-element-added),
 * under `lock`; get_ms from any thread (atomic).
 */

typedef struct _MeteredRecvLatency MeteredRecvLatency;

/* Floor and ceiling of the automatic latency (ms). */
#define METERED_RECV_LATENCY_FLOOR_MS 100
#define METERED_RECV_LATENCY_CEILING_MS 1000

/* fixed_ms: the latency to keep, 0: from the measured round trip. */
MeteredRecvLatency *metered_recv_latency_new (guint fixed_ms);
/* Watches pipeline for jitter buffers, sets webrtc's latency and (not
 * fixed) polls on context every second. */
void metered_recv_latency_attach (MeteredRecvLatency *rl, GstElement *pipeline,
    GstElement *webrtc, GMainContext *context);
/* Stops the polling and drops the jitter buffers; before the pipeline
 * goes (context thread). */
void metered_recv_latency_detach (MeteredRecvLatency *rl);
/* After the pipeline is gone (no deep-element-added can run), detached
 * unless the pipeline never started. */
void metered_recv_latency_free (MeteredRecvLatency *rl);
/* The latency in force (ms). Any thread. */
guint metered_recv_latency_get_ms (MeteredRecvLatency *rl);

G_END_DECLS
