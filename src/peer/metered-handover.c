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

#include "peer/metered-handover.h"

#include <string.h>

void
metered_handover_init (MeteredHandover *h)
{
  memset (h, 0, sizeof *h);
}

/* Is the current connection worth keeping while its replacement
 * connects? Connected, and the one whose media goes out (not a
 * replacement that never took over from one still draining). */
static gboolean
current_keeps_media (const MeteredHandover *h, gboolean current_connected)
{
  if (!h->current || !current_connected)
    return FALSE;
  if (!h->draining)
    return TRUE;
  return h->active[METERED_HANDOVER_VIDEO] == h->current ||
         h->active[METERED_HANDOVER_AUDIO] == h->current;
}

MeteredHandoverSwap
metered_handover_swap (
    MeteredHandover *h, gboolean current_connected, gint64 now_ms)
{
  gboolean keep = current_keeps_media (h, current_connected);
  guint old = h->current;

  h->current = ++h->last;
  h->connected_ms = 0;
  if (!old)
    return METERED_HANDOVER_SWAP_FIRST;
  if (!keep)
    return METERED_HANDOVER_SWAP_STOP_OLD;
  /* One drains at a time: the one whose media is forwarded. */
  h->draining = old;
  h->draining_since_ms = h->draining_rx_ms = now_ms;
  memset (h->overlap, 0, sizeof h->overlap);
  return METERED_HANDOVER_SWAP_DRAIN_OLD;
}

void
metered_handover_connected (MeteredHandover *h, gint64 now_ms)
{
  h->connected_ms = now_ms;
}

static gboolean
recent_has (const MeteredHandover *h, MeteredHandoverKind kind, guint64 hash)
{
  for (guint i = 0; hash && i < METERED_HANDOVER_RECENT; i++)
    if (h->recent[kind][i] == hash)
      return TRUE;
  return FALSE;
}

/* A frame from the current connection while another one's (or nobody's)
 * frames of that kind go out. */
static MeteredHandoverRoute
route_from_new (MeteredHandover *h, MeteredHandoverKind kind, guint64 hash,
    gboolean delta_unit)
{
  guint *active = &h->active[kind];
  gboolean old_flows = h->draining && *active == h->draining;
  guint was = *active;

  if (old_flows && recent_has (h, kind, hash)) {
    h->overlap[kind] = TRUE;
    return METERED_HANDOVER_DROP_DUPLICATE;
  }
  if (old_flows && h->overlap[kind]) {
    *active = h->current;
    return METERED_HANDOVER_FORWARD_CONTINUE;
  }
  if (old_flows && kind == METERED_HANDOVER_VIDEO && delta_unit)
    return METERED_HANDOVER_DROP_WAIT_KEY;
  *active = h->current;
  return was ? METERED_HANDOVER_FORWARD_SWITCH : METERED_HANDOVER_FORWARD_FIRST;
}

MeteredHandoverRoute
metered_handover_route (MeteredHandover *h, guint gen, MeteredHandoverKind kind,
    guint64 hash, gboolean delta_unit, gint64 now_ms)
{
  MeteredHandoverRoute route;

  g_return_val_if_fail (
      kind < METERED_HANDOVER_N_KINDS, METERED_HANDOVER_DROP_STALE);

  if (gen && gen == h->draining) {
    h->draining_rx_ms = now_ms;
    route = h->active[kind] == h->draining ? METERED_HANDOVER_FORWARD
                                           : METERED_HANDOVER_DROP_SUPERSEDED;
  } else if (gen && gen == h->current) {
    route = h->active[kind] == h->current
                ? METERED_HANDOVER_FORWARD
                : route_from_new (h, kind, hash, delta_unit);
  } else {
    route = METERED_HANDOVER_DROP_STALE;
  }
  if (metered_handover_route_forwards (route))
    h->recent[kind][h->recent_pos[kind]++ % METERED_HANDOVER_RECENT] = hash;
  return route;
}

gboolean
metered_handover_route_forwards (MeteredHandoverRoute route)
{
  return route >= METERED_HANDOVER_FORWARD;
}

MeteredHandoverCheck
metered_handover_check (MeteredHandover *h, gint64 now_ms)
{
  gboolean carries, idle, settled;

  if (!h->draining)
    return METERED_HANDOVER_KEEP;
  /* The remote had a second to switch to the new one (we send it a key
   * unit on connected). */
  carries = h->active[METERED_HANDOVER_VIDEO] == h->draining ||
            h->active[METERED_HANDOVER_AUDIO] == h->draining;
  idle = now_ms - h->draining_rx_ms > METERED_HANDOVER_IDLE_MS;
  settled = h->connected_ms &&
            now_ms - h->connected_ms >= METERED_HANDOVER_SETTLE_MS &&
            (!carries || idle);
  if (settled) {
    h->draining = 0;
    return METERED_HANDOVER_STOP_SETTLED;
  }
  if (now_ms - h->draining_since_ms > METERED_HANDOVER_MAX_DRAIN_MS) {
    h->draining = 0;
    return METERED_HANDOVER_STOP_TIMEOUT;
  }
  return METERED_HANDOVER_KEEP;
}

guint64
metered_handover_hash (const guint8 *data, gsize size)
{
  guint64 h = 14695981039346656037ull;

  for (gsize i = 0; i < size; i++)
    h = (h ^ data[i]) * 1099511628211ull;
  return h ^ size;
}

MeteredRecovery
metered_handover_recovery (const MeteredRecoveryFacts *f)
{
  MeteredRecovery r;

  if (!f->established || f->address_gone || !f->restart_possible)
    r = METERED_RECOVERY_SWAP;
  else if (f->polite && !f->path_gone)
    r = f->attempt < METERED_RECOVERY_POLITE_WAIT ? METERED_RECOVERY_WAIT
                                                  : METERED_RECOVERY_SWAP;
  else if (f->attempt < METERED_RECOVERY_MAX_RESTARTS)
    /* Without rollback a second offer cannot start over the one under
     * way: that one's answer may still come. */
    r = f->negotiating ? METERED_RECOVERY_WAIT : METERED_RECOVERY_RESTART;
  else
    r = METERED_RECOVERY_SWAP;
  /* Only a dead path is worth a new DTLS session, which a browser whose
   * RTCPeerConnection is alive refuses: a silent one may come back by
   * itself or through the remote's restart, and an address removed may
   * be put back (a swap then would have cost the working connection). */
  if (r == METERED_RECOVERY_SWAP && !f->dead)
    r = METERED_RECOVERY_WAIT;
  return r;
}

const char *
metered_recovery_to_string (MeteredRecovery r)
{
  static const char *const names[] = { "wait", "restart", "swap" };

  return r <= METERED_RECOVERY_SWAP ? names[r] : "unknown";
}
