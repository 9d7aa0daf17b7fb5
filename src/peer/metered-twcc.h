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

#include "metered-rate-estimator.h"

G_BEGIN_DECLS

#define METERED_TWCC_URI                                                       \
  "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

/* The id our offers give the transport-wide-cc extension when the remote
 * has not numbered it: Chromium's own in an offer with audio and video
 * (a video-only one numbers it 4; answering it first, we take that). */
#define METERED_TWCC_DEFAULT_ID 3

/*
 * Transport-wide congestion control on a send branch. The payloader
 * carries the extension (rtpsession stamps its session-wide sequence
 * number into that slot, and learns the id from the caps' extmap-N),
 * the caps ask for a=rtcp-fb transport-cc; the viewer's feedback comes
 * back up the branch as rtpsession's RTPTWCCPackets upstream event, one
 * per RTCP feedback message, which a probe turns into
 * MeteredRatePacket arrays for the rate estimator.
 */

/* Adds the extension with id to pay and its extmap-<id> and
 * rtcp-fb-transport-cc fields to caps (the payloader's output caps).
 * FALSE when this GStreamer has no rtphdrexttwcc. */
gboolean metered_twcc_add_extension (GstElement *pay, GstCaps *caps, guint id);

/* One feedback message. */
typedef struct
{
  gint64 now_us; /* g_get_monotonic_time () when it arrived */
  GArray *packets; /* MeteredRatePacket, in transport-wide order */
} MeteredTwccFeedback;

void metered_twcc_feedback_free (MeteredTwccFeedback *feedback);

/* An RTPTWCCPackets structure as a feedback message received at now_us;
 * NULL when s is not one or lists no packet we sent. */
MeteredTwccFeedback *metered_twcc_feedback_parse (
    const GstStructure *s, gint64 now_us);

/* The feedback not yet taken, from the probe's thread (rtpsession's
 * RTCP, any) to the owner's (the sink's rate round). lock guards every
 * field; a leaf: nothing else is locked or called under it. */
typedef struct
{
  GMutex lock;
  GPtrArray *pending; /* MeteredTwccFeedback*, oldest first */
  guint64 received; /* messages parsed since the branch was made */
} MeteredTwccQueue;

MeteredTwccQueue *metered_twcc_queue_new (void);
void metered_twcc_queue_free (MeteredTwccQueue *queue);

/* Catches the RTPTWCCPackets events going upstream through pad into
 * queue (which must outlive the pad). */
void metered_twcc_queue_attach (MeteredTwccQueue *queue, GstPad *pad);

/* The messages pending, oldest first (a new array, free func set), and
 * how many were received in all. */
GPtrArray *metered_twcc_queue_take (MeteredTwccQueue *queue, guint64 *received);

/* One peer's part of metered_session_take_twcc_feedback (). */
typedef struct
{
  GPtrArray *feedback; /* MeteredTwccFeedback*, NULL: no connection */
  guint64 received; /* messages its connection received in all */
} MeteredTwccTake;

void metered_twcc_feedback_take_free (MeteredTwccTake *take);

G_END_DECLS
