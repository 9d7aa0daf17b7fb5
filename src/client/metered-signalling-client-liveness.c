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

/* A socket is only quiet for this long before the probe pings it: the
 * heartbeat's third of inactivity-timeout (20 s by default) would leave a
 * dead socket unnoticed for that long. */
#define PROBE_QUIET_MS 5000

/* While the probe reconnects, an attempt whose SYN is unanswered for four
 * of the path's last TCP handshakes (at least this long) is replaced:
 * the kernel would retransmit that SYN only 1 s on, so the first one
 * after the path comes back would wait up to that long. A path whose
 * handshake took longer than a quarter of that keeps the kernel's pace
 * (and the probe's attempt_ms). */
#define PROBE_SYN_MIN_MS 250
#define PROBE_SYN_MAX_MS 1000

static void
send_ping (MeteredSignallingClient *self)
{
  g_autofree char *ping = metered_frame_build_ping ();

  if (!self->ping_unanswered_ms)
    self->ping_unanswered_ms = metered_clock_now_ms (self->clock);
  soup_websocket_connection_send_text (self->ws, ping);
}

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
          SOUP_WEBSOCKET_STATE_OPEN)
    send_ping (self);
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
  metered_clock_clear (self->clock, &self->syn_timer);
  self->ping_unanswered_ms = 0;
}

/* (Re)starts both timers: a socket opened or a frame arrived. */
void
metered_client_liveness_arm (MeteredSignallingClient *self)
{
  metered_client_liveness_stop (self);
  self->last_rx_ms = metered_clock_now_ms (self->clock);
  if (self->inactivity_timeout_ms == 0)
    return;
  self->watchdog_timer = metered_clock_schedule (
      self->clock, self->inactivity_timeout_ms, on_watchdog, self);
  schedule_heartbeat (self);
}

/* A socket is proven alive by any frame after a ping: one unanswered for
 * dead_ms is dead (TCP may hold it for minutes after a long cut, its
 * retransmissions backing off). While the probe's own reconnect is under
 * way, an attempt that has not been welcomed within attempt_ms is
 * replaced, so that the first one after the path comes back is at most
 * that far away. */
gboolean
metered_client_liveness_probe (
    MeteredSignallingClient *self, guint dead_ms, guint attempt_ms)
{
  gint64 now = metered_clock_now_ms (self->clock);

  if (self->state == METERED_CLIENT_STATE_CONNECTED && self->ws &&
      soup_websocket_connection_get_state (self->ws) ==
          SOUP_WEBSOCKET_STATE_OPEN) {
    if (self->ping_unanswered_ms && now - self->ping_unanswered_ms >= dead_ms) {
      LOG_WARN ("a ping unanswered for %" G_GINT64_FORMAT " ms: reconnecting",
          now - self->ping_unanswered_ms);
      self->probe_reconnecting = TRUE;
      return TRUE;
    }
    if (!self->ping_unanswered_ms && now - self->last_rx_ms >= PROBE_QUIET_MS)
      send_ping (self);
    return FALSE;
  }
  if (self->state == METERED_CLIENT_STATE_RECONNECTING &&
      self->probe_reconnecting &&
      (self->backoff_timer || now - self->attempt_started_ms >= attempt_ms)) {
    LOG_INFO ("probe: a new attempt at once");
    return TRUE;
  }
  return FALSE;
}

static void
on_syn_due (gpointer data)
{
  MeteredSignallingClient *self = data;

  self->syn_timer = 0;
  if (self->state == METERED_CLIENT_STATE_RECONNECTING &&
      self->probe_reconnecting && !self->attempt_tcp_up)
    metered_signalling_client_reconnect (self, "probe: SYN unanswered");
}

static void
on_network_event (SoupMessage *msg, GSocketClientEvent event,
    GIOStream *connection, gpointer data)
{
  g_autoptr (MeteredSignallingClient) self = metered_attempt_ref_get (data);
  gint64 now;
  guint syn_ms;

  if (!self)
    return;
  now = metered_clock_now_ms (self->clock);
  if (event == G_SOCKET_CLIENT_CONNECTING) {
    self->tcp_connecting_ms = now;
    syn_ms = MAX (PROBE_SYN_MIN_MS, 4 * self->tcp_handshake_ms);
    metered_clock_clear (self->clock, &self->syn_timer);
    /* METERED_NO_SYN_BOUND: the behaviour before, for bench/. */
    if (self->probe_reconnecting && self->tcp_handshake_ms >= 0 &&
        syn_ms < PROBE_SYN_MAX_MS && !g_getenv ("METERED_NO_SYN_BOUND"))
      self->syn_timer =
          metered_clock_schedule (self->clock, syn_ms, on_syn_due, self);
  } else if (event == G_SOCKET_CLIENT_CONNECTED) {
    self->attempt_tcp_up = TRUE;
    self->tcp_handshake_ms = now - self->tcp_connecting_ms;
    metered_clock_clear (self->clock, &self->syn_timer);
  }
}

static void
attempt_ref_closure_free (gpointer data, GClosure *closure)
{
  metered_attempt_ref_free (data);
}

void
metered_client_liveness_watch_attempt (
    MeteredSignallingClient *self, SoupMessage *msg)
{
  self->attempt_tcp_up = FALSE;
  g_signal_connect_data (msg, "network-event", G_CALLBACK (on_network_event),
      metered_attempt_ref_new (self), attempt_ref_closure_free, 0);
}
