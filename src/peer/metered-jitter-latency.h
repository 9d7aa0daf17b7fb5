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

#include <glib.h>

G_BEGIN_DECLS

/*
 * The receive side's jitter-buffer latency from what the jitter buffers
 * measure, pure (no I/O, the caller passes the time).
 *
 * A lost packet is repaired only if its retransmission arrives before the
 * jitter buffer gives up on it, `latency` after the packet was due: the
 * NACK and the resend take a round trip, and the loss is noticed a little
 * after the packet was due (2 jitter). On a lossy link the NACK or the
 * resend is lost too now and then: rtpjitterbuffer asks again after
 * RTT + 2 jitter, so two attempts need
 *
 *   target = 2 RTT + 4 jitter + 30 ms, between floor and ceiling
 *
 * (measured at 5 % loss each way and 200 ms RTT, bench/impair.sh sender
 * c: 1.5 RTT, one attempt, left twice the output gaps). On a clean link
 * nothing needs repairing and the latency stays at the floor. The RTT is the
 * jitter buffers' own measure (NACK to retransmission), so it exists only
 * once something was retransmitted; until then, and once nothing was
 * asked for during METERED_JITTER_LATENCY_QUIET_US, the floor holds.
 * Rises at once; falls only after the target stayed below three quarters
 * of the current latency for METERED_JITTER_LATENCY_FALL_US, so a
 * downstream that re-computes its latency is not churned.
 */

/* No retransmission asked for during this long: back to the floor. */
#define METERED_JITTER_LATENCY_QUIET_US (30 * G_USEC_PER_SEC)
/* A lower target must hold this long before the latency follows. */
#define METERED_JITTER_LATENCY_FALL_US (10 * G_USEC_PER_SEC)

typedef struct
{
  guint floor_ms;
  guint ceiling_ms;
  guint current_ms;
  guint64 rtx_requests; /* last count seen */
  gint64 last_request_us; /* when the count last grew, 0: never */
  gint64 lower_since_us; /* the target first stayed low, 0: not low */
} MeteredJitterLatency;

void metered_jitter_latency_init (
    MeteredJitterLatency *jl, guint floor_ms, guint ceiling_ms);

/* The latency (ms) a round trip and jitter (ms) ask for, unbounded. */
guint metered_jitter_latency_target (guint rtt_ms, guint jitter_ms);

/* One reading of the jitter buffers at now_us (monotonic): their
 * round-trip (0: not measured yet) and jitter estimates, and how many
 * retransmissions they asked for so far. Returns the latency to use. */
guint metered_jitter_latency_update (MeteredJitterLatency *jl, guint rtt_ms,
    guint jitter_ms, guint64 rtx_requests, gint64 now_us);

G_END_DECLS
