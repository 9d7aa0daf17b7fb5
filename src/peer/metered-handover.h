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
 * Make-before-break between a remote peer's connections, as plain state
 * and decisions: no GStreamer, no clock (times are passed in, in ms of any
 * monotonic base), so that tests/peer/test-handover.c covers every branch.
 *
 * Connections are named by generations (1, 2, ...; 0 is none) so that
 * nothing points at a stopped one. When a connected connection that
 * carries media is replaced, it drains: it goes on carrying media both
 * ways while the new one connects. The receiving side keeps forwarding the
 * old one's frames, per kind of media, until the new one delivers either a
 * frame already forwarded (both carry the same bytes from the one encoder:
 * the stream then continues seamlessly one frame on) or, with no such
 * overlap, a key unit (video) or any frame (audio). The old one stops once
 * the new one has been connected for a second and carries what the old
 * one carried, or after 10 s whatever happens.
 */

typedef enum
{
  METERED_HANDOVER_VIDEO,
  METERED_HANDOVER_AUDIO,
  METERED_HANDOVER_N_KINDS,
} MeteredHandoverKind;

/* How many forwarded frames per kind are remembered to recognise the new
 * connection's copies. */
#define METERED_HANDOVER_RECENT 64
/* The new connection is connected this long before the old one stops. */
#define METERED_HANDOVER_SETTLE_MS 1000
/* The old one counts as idle when nothing came from it for this long. */
#define METERED_HANDOVER_IDLE_MS 1000
/* The old one stops after this long whatever happens. */
#define METERED_HANDOVER_MAX_DRAIN_MS 10000

typedef struct
{
  guint current; /* the newest connection */
  guint draining; /* the replaced one still carrying media, or 0 */
  guint last; /* the last generation handed out */
  /* Whose frames go out, per kind (0: none yet). */
  guint active[METERED_HANDOVER_N_KINDS];
  gint64 draining_since_ms;
  gint64 draining_rx_ms; /* the last frame from the draining one */
  gint64 connected_ms; /* when current reached connected (0: not yet) */
  /* Content hashes of the last frames forwarded, per kind. */
  guint64 recent[METERED_HANDOVER_N_KINDS][METERED_HANDOVER_RECENT];
  guint recent_pos[METERED_HANDOVER_N_KINDS];
  /* The new connection repeated one of them: it carries the same stream. */
  gboolean overlap[METERED_HANDOVER_N_KINDS];
} MeteredHandover;

/* What becomes of the replaced connection when a new one starts. */
typedef enum
{
  METERED_HANDOVER_SWAP_FIRST, /* there was none */
  /* It stops now: not connected, or a replacement that never took over
   * from one still draining (which goes on draining). */
  METERED_HANDOVER_SWAP_STOP_OLD,
  /* It drains; the one that drained before, if any, stops now. */
  METERED_HANDOVER_SWAP_DRAIN_OLD,
} MeteredHandoverSwap;

/* What to do with one frame received on a connection. */
typedef enum
{
  /* From a connection that is neither the current nor the draining one. */
  METERED_HANDOVER_DROP_STALE,
  /* From the draining one, for a kind the new one has taken over. */
  METERED_HANDOVER_DROP_SUPERSEDED,
  /* From the new one: a frame the old one delivered already. */
  METERED_HANDOVER_DROP_DUPLICATE,
  /* From the new one, no overlap yet, a video delta unit: the old one
   * carries on until the new one has a key unit. */
  METERED_HANDOVER_DROP_WAIT_KEY,
  /* From the connection whose frames of that kind go out. */
  METERED_HANDOVER_FORWARD,
  /* The new one takes over one frame on after an overlap: the same
   * stream continues, with no discontinuity. */
  METERED_HANDOVER_FORWARD_CONTINUE,
  /* The new one takes over without overlap (a key unit, audio, or the old
   * one no longer flowing): a new stream, announced first. */
  METERED_HANDOVER_FORWARD_SWITCH,
  /* The first frame of that kind from anyone: nothing to switch from. */
  METERED_HANDOVER_FORWARD_FIRST,
} MeteredHandoverRoute;

/* When the draining connection stops. */
typedef enum
{
  METERED_HANDOVER_KEEP, /* none drains, or it still has to */
  /* The new one has been connected for a second and carries every kind
   * the old one carried (or the old one is idle). */
  METERED_HANDOVER_STOP_SETTLED,
  METERED_HANDOVER_STOP_TIMEOUT, /* 10 s of draining */
} MeteredHandoverCheck;

void metered_handover_init (MeteredHandover *h);

/* A new connection replaces the current one (if any); current_connected:
 * the current one is connected. Returns what becomes of it; h->current is
 * the new one's generation. */
MeteredHandoverSwap metered_handover_swap (
    MeteredHandover *h, gboolean current_connected, gint64 now_ms);

/* The current connection reached connected. */
void metered_handover_connected (MeteredHandover *h, gint64 now_ms);

/* A frame of kind received on connection gen, with its content hash (0:
 * unknown, never matches) and whether it is a delta unit. Records what
 * is forwarded. */
MeteredHandoverRoute metered_handover_route (MeteredHandover *h, guint gen,
    MeteredHandoverKind kind, guint64 hash, gboolean delta_unit, gint64 now_ms);

/* TRUE for the FORWARD_* routes. */
gboolean metered_handover_route_forwards (MeteredHandoverRoute route);

/* Once a second: whether the draining connection stops now (then h no
 * longer has one). */
MeteredHandoverCheck metered_handover_check (MeteredHandover *h, gint64 now_ms);

/* FNV-1a over data, its size mixed in. */
guint64 metered_handover_hash (const guint8 *data, gsize size);

/*
 * Recovering a dead media path: an ICE restart on the current connection
 * (same DTLS session, metered-ice-restart.h) or a swap to a fresh one,
 * one decision per rung of the SDK's ladder (0, 1, 2, 4, 8, 16, 30, 30,
 * 30 s). webrtcbin 1.22 cannot roll back, so only one side may start a
 * restart: the impolite one (the SDK's politeness, strcmp (local, remote)
 * > 0), whose offer wins a collision. The polite side waits a few rungs
 * for the remote's restart offer, which it answers. A swap is kept for
 * what a restart cannot fix: a connection that never connected, a remote
 * that is not there any more (lingering), our own address gone (libnice
 * cannot gather again), or a path still dead once the restarts are spent;
 * and only once the path is dead (failed, or no media for
 * dead-peer-timeout), never while it is merely silent.
 */

typedef enum
{
  METERED_RECOVERY_WAIT, /* nothing this rung: the next one decides */
  METERED_RECOVERY_RESTART, /* an ICE restart on the current connection */
  METERED_RECOVERY_SWAP, /* a fresh connection */
} MeteredRecovery;

typedef struct
{
  guint attempt; /* this rung, from 0 */
  /* The current connection reached connected and the remote is present:
   * its RTCPeerConnection is alive and refuses a new DTLS session. */
  gboolean established;
  gboolean polite;
  gboolean address_gone; /* a local address the connection used is gone */
  /* The selected pair's local address is gone while another is up (or
   * libnice dropped the selected pair of a connection webrtcbin still
   * calls connected): we know before the remote can (its checks fail
   * only after its consent timeout), so ours is the restart, polite or
   * not. */
  gboolean path_gone;
  gboolean restart_possible; /* libnice, and no restart failed before */
  gboolean negotiating; /* an offer/answer exchange is under way */
  /* The path is dead for good (failed, or no media for
   * dead-peer-timeout), not only silent: only then may it swap. */
  gboolean dead;
} MeteredRecoveryFacts;

/* Restarts the impolite side tries before a swap (rungs 0-4: 15 s). */
#define METERED_RECOVERY_MAX_RESTARTS 5
/* Rungs the polite side leaves to the remote's restart (0-2: 3 s). */
#define METERED_RECOVERY_POLITE_WAIT 3
/* No media from a sending peer for this long starts the ladder (restarts
 * only: a swap waits for dead-peer-timeout). */
#define METERED_RECOVERY_SILENCE_MS 2000

MeteredRecovery metered_handover_recovery (const MeteredRecoveryFacts *f);

/* The signalling probe while peers exist (metered_signalling_client_probe):
 * a ping unanswered this long means a dead socket, and the signalling
 * reconnects at once. Not shorter: the reconnect's left and joined make a
 * browser rebuild its RTCPeerConnection, which a cut the connection
 * survives by itself must not cost, and TCP resumes a socket up to 25.4 s
 * after a 13-25 s cut began (retransmissions backing off from 200 ms).
 * Not longer: Chromium's consent to the media path expires 30 s into a
 * cut, and from then on only a restart offer brings it back, which needs
 * the signalling. */
#define METERED_LIVENESS_DEAD_MS 28000
/* The probe's reconnect replaces an attempt not welcomed after this long:
 * a SYN goes out at least every second until the path is back. */
#define METERED_LIVENESS_ATTEMPT_MS 2000

const char *metered_recovery_to_string (MeteredRecovery r);

G_END_DECLS
