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

/* A direct that reaches a session before the presence that makes its
 * sender known (issue 13, defect 2): an offer sent by a member before it
 * joins the channel. The session keeps it (bounded in count and age) and
 * answers as soon as the member's presence arrives, instead of dropping it
 * and leaving the two without a connection until the offerer gives up. */

#include "peer/metered-session.h"
#include "test-util.h"

#include <gst/gst.h>
#include <string.h>

#define CHANNEL "early-offer"

/* A sender's offer: one VP8 video track, as a browser on a camera sends. */
static const char offer_sdp[] =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=msid-semantic: WMS s\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:eArL\r\n"
    "a=ice-pwd:kD8q3ZpR0pXh5mW2sV1yT7uB\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "4F:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:"
    "09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendonly\r\n"
    "a=msid:s t\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtcp-fb:96 nack pli\r\n"
    "a=ssrc:1111 cname:early\r\n";

typedef struct
{
  MeteredSignallingClient *client;
  char *peer_id;
  GPtrArray *directs; /* char*: data of directs from the session */
  gboolean sent;
} Sender;

static void
on_sender_direct (MeteredSignallingClient *client, const char *from,
    const char *data, const char *from_metadata, Sender *sender)
{
  g_ptr_array_add (sender->directs, g_strdup (data));
}

static void
on_sent (GObject *source, GAsyncResult *result, gpointer data)
{
  Sender *sender = data;
  g_autoptr (GError) error = NULL;

  if (!metered_signalling_client_send_finish (
          METERED_SIGNALLING_CLIENT (source), result, &error))
    g_error ("the offer was not delivered: %s", error->message);
  sender->sent = TRUE;
}

static gboolean
sender_got (Sender *sender, const char *needle)
{
  for (guint i = 0; i < sender->directs->len; i++)
    if (strstr (g_ptr_array_index (sender->directs, i), needle))
      return TRUE;
  return FALSE;
}

/* A member that sends its offer to to_id, waits delay_ms, and only then
 * joins the channel (directs need no common channel; presence does). */
static Sender *
sender_offer_then_join (TestServer *srv, const char *to_id, guint delay_ms)
{
  Sender *sender = g_new0 (Sender, 1);
  g_autofree char *url = test_server_url (srv);
  g_autofree char *payload = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GError) error = NULL;

  sender->directs = g_ptr_array_new_with_free_func (g_free);
  sender->client = metered_signalling_client_new (NULL, NULL);
  g_object_set (sender->client, "url", url, "api-key", "pk_dev_local",
      "reconnect-max-attempts", (gint64) 1, NULL);
  g_signal_connect (
      sender->client, "direct", G_CALLBACK (on_sender_direct), sender);
  if (!test_client_connect (sender->client, 5000, &error))
    g_error ("sender cannot connect: %s", error->message);
  sender->peer_id = metered_signalling_client_dup_peer_id (sender->client);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "rtc-description");
  json_builder_set_member_name (b, "description");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "offer");
  json_builder_set_member_name (b, "sdp");
  json_builder_add_string_value (b, offer_sdp);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  payload = json_to_string (root, FALSE);
  metered_signalling_client_send_async (
      sender->client, to_id, payload, NULL, on_sent, sender);
  test_assert_wait (sender->sent, 5000);
  /* The direct is in the session's hands (the server acked it after
   * writing it); presence comes later. */
  test_wait_until (FALSE, delay_ms);
  if (!test_client_subscribe (sender->client, CHANNEL, 5000, &error))
    g_error ("sender cannot join: %s", error->message);
  return sender;
}

static void
sender_free (Sender *sender)
{
  g_signal_handlers_disconnect_by_data (sender->client, sender);
  metered_signalling_client_close (sender->client, 1000, "bye");
  test_drain ();
  g_object_unref (sender->client);
  test_drain ();
  g_ptr_array_unref (sender->directs);
  g_free (sender->peer_id);
  g_free (sender);
}

typedef struct
{
  TestServer *srv;
  MeteredSignallingClient *client;
  MeteredSession *session;
  char *id;
} Receiver;

static void
receiver_start (Receiver *r)
{
  g_autofree char *url = NULL;

  r->srv = test_server_start (0, NULL);
  g_assert_nonnull (r->srv);
  url = test_server_url (r->srv);
  r->client = metered_signalling_client_new (NULL, NULL);
  g_object_set (r->client, "url", url, "api-key", "pk_dev_local", NULL);
  r->session = metered_session_new (r->client, CHANNEL);
  metered_session_set_receive (r->session, TRUE);
  metered_session_start (r->session);
  test_assert_wait (
      metered_session_get_state (r->session) == METERED_SESSION_STATE_JOINED,
      10000);
  r->id = metered_signalling_client_dup_peer_id (r->client);
}

static void
receiver_stop (Receiver *r)
{
  metered_session_stop (r->session);
  test_drain ();
  g_object_unref (r->session);
  g_object_unref (r->client);
  test_drain ();
  test_server_free (r->srv);
  g_free (r->id);
}

/* Bounded: a few senders, each answered within ANSWER_MS of its join. */
#define ROUNDS 3
#define ANSWER_MS 5000

static void
test_offer_before_presence (void)
{
  Receiver r = { 0 };

  receiver_start (&r);
  for (guint i = 0; i < ROUNDS; i++) {
    Sender *sender = sender_offer_then_join (r.srv, r.id, 300);
    gint64 joined = test_now_ms ();

    if (!test_wait_until (sender_got (sender, "\"answer\""), ANSWER_MS))
      g_error ("round %u: no answer to the offer sent before the join within "
               "%d ms (got %u directs)",
          i, ANSWER_MS, sender->directs->len);
    g_test_message ("round %u: answered %" G_GINT64_FORMAT " ms after the join",
        i, test_now_ms () - joined);
    sender_free (sender);
  }
  receiver_stop (&r);
}

/* An offer older than the buffer's age limit (5 s) is not answered: its
 * sender gave up on it long ago. */
static void
test_stale_offer_dropped (void)
{
  Receiver r = { 0 };
  Sender *sender;

  receiver_start (&r);
  sender = sender_offer_then_join (r.srv, r.id, 5500);
  g_assert_false (test_wait_until (sender_got (sender, "\"answer\""), 1500));
  sender_free (sender);
  receiver_stop (&r);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func (
      "/session/offer-before-presence", test_offer_before_presence);
  g_test_add_func ("/session/stale-offer-dropped", test_stale_offer_dropped);
  return g_test_run ();
}
