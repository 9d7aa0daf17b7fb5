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

/* How much of what a connection sends may be retransmissions, and what
 * to do about a resend refused: pure, no clock, no I/O, no lock (the
 * caller's).
 *
 * Retransmissions ride at most share of what the connection sends as
 * media. A viewer behind a link slower than our rate loses most packets
 * and asks for each again and again: answered in full, the resends
 * multiplied the traffic toward it 25-fold (bench/impair.sh, fan-out
 * profile), on an uplink every viewer shares. Isolated losses cost far
 * less than this (5 % loss: about 5 %).
 *
 * A refused resend leaves the viewer waiting for a packet that never
 * comes: Chromium NACKs it again and again and asks for a key frame only
 * after seconds (cap1m-q100: a 2.5 s freeze ended by the periodic key
 * frame, no PLI). So a refusal asks for a key frame itself, at most once
 * per key_interval_us (the key-frame broker merges it with the others). */

typedef struct
{
  double share;
  double credit_max; /* bytes: a few packets of a burst */
  gint64 key_interval_us;
} MeteredRtxBudgetConfig;

#define METERED_RTX_BUDGET_CONFIG_DEFAULT                                      \
  {                                                                            \
    0.25, 32 * 1200, G_USEC_PER_SEC                                            \
  }

typedef struct
{
  MeteredRtxBudgetConfig config;
  double credit; /* bytes */
  gint64 last_key_us; /* -1: none asked */
} MeteredRtxBudget;

void metered_rtx_budget_init (
    MeteredRtxBudget *b, const MeteredRtxBudgetConfig *config);
/* A packet of size bytes about to go: media earns credit (and always
 * goes), a resend spends it. FALSE: drop the resend; *want_key_unit is
 * then TRUE when a key frame should be asked for the viewer now. */
gboolean metered_rtx_budget_pass (MeteredRtxBudget *b, gboolean is_media,
    gsize size, gint64 now_us, gboolean *want_key_unit);

G_END_DECLS
