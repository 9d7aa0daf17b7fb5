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

/* Liveness of an open socket (protocol doc §3.2): a ping every third of
 * inactivity-timeout while connected, and a watchdog that every inbound
 * frame re-arms and that closes 4000 when it fires. Two timers with their
 * own rule, kept apart so the state machine reads as transitions; it only
 * arms them when a socket opens or a frame arrives and stops them when
 * the socket goes.
 */

#include "client/metered-signalling-client-private.h"

static void on_heartbeat (gpointer data);

static void
schedule_heartbeat (MeteredSignallingClient *self)
{
  self->heartbeat_timer = metered_clock_schedule (self->clock,
      MAX (METERED_HEARTBEAT_MIN_MS, self->inactivity_timeout_ms / 3),
      on_heartbeat, self);
}

static void
on_heartbeat (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->heartbeat_timer = 0;
  if (self->state == METERED_CLIENT_STATE_CONNECTED && self->ws &&
      soup_websocket_connection_get_state (self->ws) ==
          SOUP_WEBSOCKET_STATE_OPEN) {
    g_autofree char *ping = metered_frame_build_ping ();
    soup_websocket_connection_send_text (self->ws, ping);
  }
  if (self->ws)
    schedule_heartbeat (self);
}

static void
on_watchdog (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->watchdog_timer = 0;
  LOG_WARN ("no frame for %u ms: closing 4000", self->inactivity_timeout_ms);
  metered_client_socket_lost (
      self, METERED_CLOSE_CLIENT_INACTIVITY, "inactivity timeout");
}

void
metered_client_liveness_stop (MeteredSignallingClient *self)
{
  metered_clock_clear (self->clock, &self->watchdog_timer);
  metered_clock_clear (self->clock, &self->heartbeat_timer);
}

/* (Re)starts both timers: a socket opened or a frame arrived. */
void
metered_client_liveness_arm (MeteredSignallingClient *self)
{
  metered_client_liveness_stop (self);
  if (self->inactivity_timeout_ms == 0)
    return;
  self->watchdog_timer = metered_clock_schedule (
      self->clock, self->inactivity_timeout_ms, on_watchdog, self);
  schedule_heartbeat (self);
}
