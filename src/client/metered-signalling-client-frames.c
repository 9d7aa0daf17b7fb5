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

/* Inbound frames: the socket's "message" handler checks the client's
 * size cap, feeds the watchdog, parses (src/protocol) and hands each
 * frame to whoever owns its meaning: a welcome to the state machine, an
 * ack or error to the request it answers, the rest to the owner as
 * signals with GVariant payloads. Kept apart so neither the state machine
 * nor the requests know the wire's frame types.
 */

#include "client/metered-signalling-client-private.h"

static GVariant *
ice_servers_variant (GPtrArray *servers)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < servers->len; i++) {
    MeteredIceServer *s = g_ptr_array_index (servers, i);
    g_variant_builder_open (&builder, G_VARIANT_TYPE ("a{sv}"));
    g_variant_builder_add (&builder, "{sv}", "urls",
        g_variant_new_strv ((const char *const *) s->urls, -1));
    if (s->username)
      g_variant_builder_add (
          &builder, "{sv}", "username", g_variant_new_string (s->username));
    if (s->credential)
      g_variant_builder_add (
          &builder, "{sv}", "credential", g_variant_new_string (s->credential));
    g_variant_builder_close (&builder);
  }
  return g_variant_builder_end (&builder);
}

static GVariant *
presence_variant (GPtrArray *entries)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sms)"));
  for (guint i = 0; entries && i < entries->len; i++) {
    MeteredPresenceEntry *e = g_ptr_array_index (entries, i);
    g_variant_builder_add (&builder, "(sms)", e->peer_id, e->metadata);
  }
  return g_variant_builder_end (&builder);
}

static void
handle_welcome (MeteredSignallingClient *self, MeteredFrame *frame)
{
  g_autoptr (GPtrArray) ice = NULL;
  g_autoptr (GError) ice_error = NULL;
  g_autoptr (GVariant) ice_variant = NULL;

  if (self->welcomed)
    return; /* only the first welcome of a socket counts */
  ice = metered_ice_servers_from_metadata (frame->metadata, &ice_error);
  if (ice_error)
    LOG_WARN ("welcome.metadata.iceServers dropped: %s", ice_error->message);
  if (ice)
    ice_variant = g_variant_ref_sink (ice_servers_variant (ice));
  metered_client_welcomed (self, frame, ice_variant);
}

static void
handle_error_frame (MeteredSignallingClient *self, MeteredFrame *frame)
{
  MeteredClientRequest *req =
      metered_client_take_pending (self, frame->request_id);

  if (req) {
    MeteredServerError code = metered_server_error_from_code (frame->code);
    g_autoptr (GError) error =
        code == METERED_SERVER_ERROR_UNKNOWN
            ? g_error_new (METERED_SERVER_ERROR, code, "%s: %s", frame->code,
                  frame->message ? frame->message : "")
            : g_error_new_literal (METERED_SERVER_ERROR, code,
                  frame->message ? frame->message : frame->code);

    metered_client_request_answered (self, req, error);
    return;
  }
  /* Old servers answer our ping with unknown_type: swallowed (§3.2). */
  if (g_str_equal (frame->code, METERED_ERR_UNKNOWN_TYPE) && !frame->request_id)
    return;
  g_signal_emit (self, metered_client_signals[SIGNAL_SERVER_ERROR], 0,
      frame->code, frame->request_id, frame->message);
}

/* A stamped message moves the channel's position; one at or before it in
 * the same epoch was delivered already (a live message in flight when a
 * resubscribe asked from an older position) and is dropped. */
static gboolean
message_is_new (MeteredSignallingClient *self, MeteredFrame *frame)
{
  MeteredClientSubscription *sub;

  if (frame->seq == 0 ||
      !(sub = g_hash_table_lookup (self->subscriptions, frame->channel)))
    return TRUE;
  if (sub->epoch && g_str_equal (sub->epoch, frame->epoch) &&
      frame->seq <= sub->seq)
    return FALSE;
  g_free (sub->epoch);
  sub->epoch = g_strdup (frame->epoch);
  sub->seq = frame->seq;
  return TRUE;
}

/* A replayed message we published ourselves under an earlier peer id:
 * never echoed live, so not echoed by a resume either. */
static gboolean
message_is_own_replay (MeteredSignallingClient *self, MeteredFrame *frame)
{
  MeteredClientSubscription *sub;

  if (frame->seq == 0 || !frame->from ||
      !(sub = g_hash_table_lookup (self->subscriptions, frame->channel)) ||
      !sub->resuming)
    return FALSE;
  for (guint i = 0; i < self->past_peer_ids->len; i++) {
    if (g_str_equal (g_ptr_array_index (self->past_peer_ids, i), frame->from)) {
      sub->own_skipped++;
      return TRUE;
    }
  }
  return FALSE;
}

static void
handle_history (MeteredSignallingClient *self, MeteredFrame *frame)
{
  MeteredClientSubscription *sub =
      g_hash_table_lookup (self->subscriptions, frame->channel);
  gboolean resuming;

  if (!sub)
    return;
  resuming = sub->resuming;
  sub->resuming = FALSE;
  g_free (sub->epoch);
  sub->epoch = g_strdup (frame->epoch);
  sub->seq = MAX (sub->seq, frame->seq);
  if (g_str_equal (frame->history_status, METERED_HISTORY_STATUS_RESUMED)) {
    if (resuming) {
      LOG_INFO ("resumed %s: %" G_GINT64_FORMAT " replayed", frame->channel,
          frame->history_count - sub->own_skipped);
      g_signal_emit (self, metered_client_signals[SIGNAL_RESUMED], 0,
          frame->channel, frame->history_count - sub->own_skipped);
    }
  } else if (g_str_equal (frame->history_status, METERED_HISTORY_STATUS_LOST)) {
    sub->seq = frame->seq;
    LOG_WARN ("continuity lost on %s: %" G_GINT64_FORMAT " missed",
        frame->channel, frame->history_count);
    g_signal_emit (self, metered_client_signals[SIGNAL_CONTINUITY_LOST], 0,
        frame->channel, frame->history_count);
  } else {
    sub->seq = frame->seq;
  }
}

static void
handle_frame (MeteredSignallingClient *self, MeteredFrame *frame)
{
  MeteredClientRequest *req;

  switch (frame->type) {
    case METERED_FRAME_WELCOME:
      handle_welcome (self, frame);
      break;
    case METERED_FRAME_ACK:
      if ((req = metered_client_take_pending (self, frame->request_id)))
        metered_client_request_answered (self, req, NULL);
      break;
    case METERED_FRAME_ERROR:
      handle_error_frame (self, frame);
      break;
    case METERED_FRAME_MESSAGE:
      if (!message_is_new (self, frame) ||
          message_is_own_replay (self, frame)) {
        LOG_DEBUG ("dropped a message seen before or published by us (%s "
                   "#%" G_GUINT64_FORMAT ")",
            frame->channel, frame->seq);
        break;
      }
      g_signal_emit (self, metered_client_signals[SIGNAL_MESSAGE], 0,
          frame->channel, frame->from, frame->data, frame->from_metadata);
      break;
    case METERED_FRAME_DIRECT:
      g_signal_emit (self, metered_client_signals[SIGNAL_DIRECT], 0,
          frame->from, frame->data, frame->from_metadata);
      break;
    case METERED_FRAME_PRESENCE: {
      g_autoptr (GVariant) joined =
          g_variant_ref_sink (presence_variant (frame->joined));
      g_autoptr (GVariant) left =
          g_variant_ref_sink (presence_variant (frame->left));

      g_signal_emit (self, metered_client_signals[SIGNAL_PRESENCE], 0,
          frame->channel, joined, left);
      break;
    }
    case METERED_FRAME_GOING_AWAY:
      self->going_away_ms = frame->retry_after_ms;
      LOG_INFO (
          "going_away: next attempt waits >= %.0f ms", frame->retry_after_ms);
      g_signal_emit (self, metered_client_signals[SIGNAL_GOING_AWAY], 0,
          (gint64) frame->retry_after_ms);
      break;
    case METERED_FRAME_HISTORY:
      handle_history (self, frame);
      break;
    default:
      break;
  }
}

void
metered_client_on_ws_message (
    SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
  MeteredSignallingClient *self = g_object_ref (data);
  g_autoptr (MeteredFrame) frame = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    goto out; /* binary frames are dropped and are not liveness */
  if (metered_utf16_length (text, len) > METERED_CLIENT_INBOUND_FRAME_CAP) {
    metered_client_socket_lost (
        self, METERED_CLOSE_MESSAGE_TOO_BIG, "frame exceeded client cap");
    goto out;
  }
  metered_client_liveness_arm (self);
  frame = metered_server_frame_parse (text, len, &error);
  if (!frame) {
    LOG_WARN ("dropped an inbound frame: %s", error->message);
    goto out;
  }
  handle_frame (self, frame);
out:
  g_object_unref (self);
}
