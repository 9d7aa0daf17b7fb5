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

#include "protocol/metered-protocol.h"

#include <string.h>

#define EMOJI "\xf0\x9f\x98\x80"

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

/* Test messages go to TAP output, which must stay valid UTF-8. */
static void
note_len (const char *what, const char *text, gsize len)
{
  g_autofree char *copy = text ? g_strndup (text, MIN (len, 300)) : NULL;
  g_autofree char *esc = g_strescape (copy ? copy : "(null)", NULL);

  g_test_message ("%s: %s", what, esc);
}

static void
note (const char *what, const char *text)
{
  note_len (what, text, text ? strlen (text) : 0);
}

static MeteredParseResult
client_parse (const char *text, MeteredFrame **frame, const char **code)
{
  return metered_client_frame_parse (text, strlen (text), frame, code);
}

static MeteredFrame *
client_ok (const char *text)
{
  MeteredFrame *frame = NULL;
  const char *code = "unset";

  note ("client frame", text);
  g_assert_cmpint (client_parse (text, &frame, &code), ==, METERED_PARSE_OK);
  g_assert_nonnull (frame);
  g_assert_null (code);
  return frame;
}

static void
client_malformed (const char *text, gsize len)
{
  MeteredFrame *frame = (MeteredFrame *) 0x1;
  const char *code = NULL;

  note_len ("client frame (malformed)", text, len);
  g_assert_cmpint (metered_client_frame_parse (text, len, &frame, &code), ==,
      METERED_PARSE_MALFORMED);
  g_assert_null (frame);
  g_assert_cmpstr (code, ==, METERED_ERR_MALFORMED_MESSAGE);
}

/* INVALID with reject code; returns the frame for further checks. */
static MeteredFrame *
client_invalid (const char *text, const char *expected_code)
{
  MeteredFrame *frame = NULL;
  const char *code = NULL;

  note ("client frame (invalid)", text);
  g_assert_cmpint (
      client_parse (text, &frame, &code), ==, METERED_PARSE_INVALID);
  g_assert_nonnull (frame);
  g_assert_cmpstr (code, ==, expected_code);
  return frame;
}

static MeteredFrame *
server_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  MeteredFrame *frame;

  note ("server frame", text);
  frame = metered_server_frame_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_nonnull (frame);
  return frame;
}

static void
server_dropped (const char *text)
{
  g_autoptr (GError) error = NULL;

  note ("server frame (dropped)", text);
  g_assert_null (metered_server_frame_parse (text, strlen (text), &error));
  g_assert_nonnull (error);
}

static char *
repeat (const char *unit, guint n)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    g_string_append (s, unit);
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------ */
/* client frames (server side)                                        */
/* ------------------------------------------------------------------ */

static void
test_client_subscribe (void)
{
  g_autoptr (MeteredFrame) f = client_ok (
      "{\"type\":\"subscribe\",\"channel\":\"room-42\",\"requestId\":"
      "\"426965bc-d95d-4581-96c8-c404ca3cc874\"}");
  g_autoptr (MeteredFrame) with_flag = client_ok (
      "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"r\","
      "\"includeSenderMetadata\":true}");
  g_autoptr (MeteredFrame) flag_str =
      client_ok ("{\"type\":\"subscribe\",\"channel\":\"c\","
                 "\"includeSenderMetadata\":\"true\"}");
  g_autoptr (MeteredFrame) flag_one = client_ok (
      "{\"type\":\"subscribe\",\"channel\":\"c\",\"includeSenderMetadata\":1}");
  g_autoptr (MeteredFrame) flag_false =
      client_ok ("{\"type\":\"subscribe\",\"channel\":\"c\","
                 "\"includeSenderMetadata\":false}");
  g_autoptr (MeteredFrame) unsub = client_ok (
      "{\"type\":\"unsubscribe\",\"channel\":\"room-42\",\"requestId\":\"u1\","
      "\"includeSenderMetadata\":true}");

  g_assert_cmpint (f->type, ==, METERED_FRAME_SUBSCRIBE);
  g_assert_cmpstr (f->channel, ==, "room-42");
  g_assert_cmpstr (f->request_id, ==, "426965bc-d95d-4581-96c8-c404ca3cc874");
  g_assert_false (f->include_sender_metadata);
  g_assert_null (f->data);

  g_assert_true (with_flag->include_sender_metadata);
  g_assert_false (flag_str->include_sender_metadata);
  g_assert_null (flag_str->request_id);
  g_assert_false (flag_one->include_sender_metadata);
  g_assert_false (flag_false->include_sender_metadata);

  g_assert_cmpint (unsub->type, ==, METERED_FRAME_UNSUBSCRIBE);
  g_assert_cmpstr (unsub->channel, ==, "room-42");
  g_assert_cmpstr (unsub->request_id, ==, "u1");
  g_assert_false (unsub->include_sender_metadata);
}

static void
test_client_channel_rules (void)
{
  g_autofree char *a256 = repeat ("a", 256);
  g_autofree char *a257 = repeat ("a", 257);
  g_autofree char *a254 = repeat ("a", 254);
  g_autofree char *a255 = repeat ("a", 255);
  g_autofree char *ok256 =
      g_strdup_printf ("{\"type\":\"subscribe\",\"channel\":\"%s\"}", a256);
  g_autofree char *bad257 = g_strdup_printf (
      "{\"type\":\"subscribe\",\"channel\":\"%s\",\"requestId\":\"r\"}", a257);
  /* A non-BMP character counts two, as raw UTF-8 and as an escape
   * pair. */
  g_autofree char *ok_raw = g_strdup_printf (
      "{\"type\":\"subscribe\",\"channel\":\"%s" EMOJI "\"}", a254);
  g_autofree char *bad_raw = g_strdup_printf (
      "{\"type\":\"subscribe\",\"channel\":\"%s" EMOJI "\"}", a255);
  g_autofree char *ok_esc = g_strdup_printf (
      "{\"type\":\"subscribe\",\"channel\":\"%s\\ud83d\\ude00\"}", a254);
  g_autofree char *bad_esc = g_strdup_printf (
      "{\"type\":\"subscribe\",\"channel\":\"%s\\ud83d\\ude00\"}", a255);
  static const char *const bad[] = {
    "{\"type\":\"subscribe\"}",
    "{\"type\":\"subscribe\",\"channel\":\"\"}",
    "{\"type\":\"subscribe\",\"channel\":5}",
    "{\"type\":\"subscribe\",\"channel\":null}",
    "{\"type\":\"subscribe\",\"channel\":[\"a\"]}",
    "{\"type\":\"subscribe\",\"channel\":\"a\\u0001\"}",
    "{\"type\":\"subscribe\",\"channel\":\"a\\n\"}",
    "{\"type\":\"subscribe\",\"channel\":\"a\\u007f\"}",
    "{\"type\":\"subscribe\",\"channel\":\"a\x7f\"}",
    "{\"type\":\"subscribe\",\"channel\":\"a\\u0085\"}",
    "{\"type\":\"subscribe\",\"channel\":\"a\xc2\x9f\"}",
    "{\"type\":\"subscribe\",\"channel\":\"a\\u0000b\"}",
    "{\"type\":\"subscribe\",\"channel\":\"a\\ud800\"}", /* lone surrogate */
    "{\"type\":\"unsubscribe\",\"channel\":\"\"}",
    "{\"type\":\"publish\",\"channel\":\"\"}", /* channel before data */
    "{\"type\":\"publish\",\"data\":1}",
  };
  guint i;

  {
    g_autoptr (MeteredFrame) f = client_ok (ok256);
    g_autoptr (MeteredFrame) r = client_ok (ok_raw);
    g_autoptr (MeteredFrame) e = client_ok (ok_esc);

    g_assert_cmpuint (strlen (f->channel), ==, 256);
    g_assert_cmpstr (r->channel, ==, e->channel);
    g_assert_cmpuint (metered_utf16_length (e->channel, -1), ==, 256);
  }
  {
    g_autoptr (MeteredFrame) f =
        client_invalid (bad257, METERED_ERR_INVALID_CHANNEL);

    g_assert_cmpint (f->type, ==, METERED_FRAME_SUBSCRIBE);
    g_assert_cmpstr (f->request_id, ==, "r");
    g_assert_null (f->channel);
  }
  metered_frame_free (client_invalid (bad_raw, METERED_ERR_INVALID_CHANNEL));
  metered_frame_free (client_invalid (bad_esc, METERED_ERR_INVALID_CHANNEL));
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    metered_frame_free (client_invalid (bad[i], METERED_ERR_INVALID_CHANNEL));

  /* Escapes are decoded. */
  {
    g_autoptr (MeteredFrame) f = client_ok (
        "{\"type\":\"subscribe\",\"channel\":\"r\\u00e9\\/\\\"q\\\\\"}");

    g_assert_cmpstr (f->channel, ==, "r\xc3\xa9/\"q\\");
  }
}

static void
test_client_publish (void)
{
  g_autoptr (MeteredFrame) f = client_ok (
      "{\"type\":\"publish\",\"channel\":\"room\",\"data\":{\"text\":\"hi\"},"
      "\"requestId\":\"pub-2\"}");
  g_autoptr (MeteredFrame) null_data =
      client_ok ("{\"type\":\"publish\",\"channel\":\"room\",\"data\":null}");
  g_autoptr (MeteredFrame) false_data =
      client_ok ("{\"data\":false,\"channel\":\"room\",\"type\":\"publish\"}");
  g_autoptr (MeteredFrame) str_data = client_ok (
      "{\"type\":\"publish\",\"channel\":\"room\",\"data\":\"\\u00e9\\n\"}");
  g_autoptr (MeteredFrame) missing = client_invalid (
      "{\"type\":\"publish\",\"channel\":\"room\",\"requestId\":\"p9\","
      "\"dat\":1}",
      METERED_ERR_MISSING_DATA);

  g_assert_cmpint (f->type, ==, METERED_FRAME_PUBLISH);
  g_assert_cmpstr (f->channel, ==, "room");
  g_assert_cmpstr (f->data, ==, "{\"text\":\"hi\"}");
  g_assert_cmpstr (f->request_id, ==, "pub-2");
  /* "data": null is a payload, by key presence. */
  g_assert_cmpstr (null_data->data, ==, "null");
  g_assert_cmpstr (false_data->data, ==, "false");
  /* Raw: string escapes are kept as written. */
  g_assert_cmpstr (str_data->data, ==, "\"\\u00e9\\n\"");

  g_assert_cmpint (missing->type, ==, METERED_FRAME_PUBLISH);
  g_assert_cmpstr (missing->request_id, ==, "p9");
  g_assert_cmpstr (missing->channel, ==, "room");
  g_assert_null (missing->data);
}

static void
test_client_raw_data_fidelity (void)
{
  const char *data = "{\"b\":1,\"a\":123456789012345678901234567890,\"c\":1.0}";
  const char *spaced = "[ 1.50 , -0 ,\t{ \"z\" : 1e400 , \"y\":\"\\ud800\" } ]";
  g_autofree char *text =
      g_strdup_printf ("{\"type\":\"publish\",\"channel\":\"room\",\"data\":%s,"
                       "\"requestId\":\"r1\"}",
          data);
  g_autofree char *text2 = g_strdup_printf (
      "{\"type\":\"send\",\"to\":\"p-b\",\"data\" :  %s  }", spaced);
  g_autoptr (MeteredFrame) f = client_ok (text);
  g_autoptr (MeteredFrame) g = client_ok (text2);
  g_autofree char *forwarded = NULL;
  g_autoptr (MeteredFrame) received = NULL;

  /* Byte-identical: big integer, key order and 1.0 all survive. */
  g_assert_cmpuint (strlen (f->data), ==, strlen (data));
  g_assert_cmpmem (f->data, strlen (f->data), data, strlen (data));
  g_assert_cmpstr (g->data, ==, spaced);

  /* ...and through the server's message builder and the client's
   * parser. */
  forwarded = metered_frame_build_message (f->channel, "p-a", f->data, NULL);
  g_assert_cmpstr (forwarded, ==,
      "{\"type\":\"message\",\"channel\":\"room\",\"from\":\"p-a\","
      "\"data\":{\"b\":1,\"a\":123456789012345678901234567890,\"c\":1.0}}");
  received = server_ok (forwarded);
  g_assert_cmpstr (received->data, ==, data);
}

static void
test_client_send (void)
{
  g_autofree char *p128 = repeat ("p", 128);
  g_autofree char *p129 = repeat ("p", 129);
  g_autofree char *ok128 =
      g_strdup_printf ("{\"type\":\"send\",\"to\":\"%s\",\"data\":1}", p128);
  g_autofree char *bad129 = g_strdup_printf (
      "{\"type\":\"send\",\"to\":\"%s\",\"data\":1,\"requestId\":\"s\"}", p129);
  g_autoptr (MeteredFrame) f = client_ok (
      "{\"type\":\"send\",\"to\":\"p-b\",\"data\":{\"type\":\"rtc-ice\","
      "\"candidate\":null},\"requestId\":\"bc360796\"}");
  g_autoptr (MeteredFrame) null_data =
      client_ok ("{\"type\":\"send\",\"to\":\"p-b\",\"data\":null}");
  g_autoptr (MeteredFrame) f128 = client_ok (ok128);
  static const char *const bad_to[] = {
    "{\"type\":\"send\",\"data\":1}",
    "{\"type\":\"send\",\"to\":\"\",\"data\":1}",
    "{\"type\":\"send\",\"to\":7,\"data\":1}",
    "{\"type\":\"send\",\"to\":\"p\\u0001\",\"data\":1}",
    "{\"type\":\"send\",\"to\":\"p\\u009f\",\"data\":1}",
    "{\"type\":\"send\",\"to\":\"p\\udfff\",\"data\":1}",
    "{\"type\":\"send\",\"to\":\"\"}", /* to before data */
  };
  guint i;

  g_assert_cmpint (f->type, ==, METERED_FRAME_SEND);
  g_assert_cmpstr (f->to, ==, "p-b");
  g_assert_cmpstr (f->data, ==, "{\"type\":\"rtc-ice\",\"candidate\":null}");
  g_assert_cmpstr (f->request_id, ==, "bc360796");
  g_assert_null (f->channel);
  g_assert_cmpstr (null_data->data, ==, "null");
  g_assert_cmpuint (strlen (f128->to), ==, 128);

  {
    g_autoptr (MeteredFrame) b =
        client_invalid (bad129, METERED_ERR_INVALID_PEER_ID);

    g_assert_cmpstr (b->request_id, ==, "s");
  }
  for (i = 0; i < G_N_ELEMENTS (bad_to); i++)
    metered_frame_free (
        client_invalid (bad_to[i], METERED_ERR_INVALID_PEER_ID));
  {
    g_autoptr (MeteredFrame) m = client_invalid (
        "{\"type\":\"send\",\"to\":\"p-b\",\"requestId\":\"s2\"}",
        METERED_ERR_MISSING_DATA);

    g_assert_cmpstr (m->to, ==, "p-b");
    g_assert_cmpstr (m->request_id, ==, "s2");
  }
}

static void
test_client_ping (void)
{
  g_autoptr (MeteredFrame) f = client_ok ("{\"type\":\"ping\"}");
  g_autoptr (MeteredFrame) extra =
      client_ok (" {\"type\" : \"ping\", \"x\":[1,{}], \"channel\":5} ");

  g_assert_cmpint (f->type, ==, METERED_FRAME_PING);
  g_assert_null (f->request_id);
  g_assert_cmpint (extra->type, ==, METERED_FRAME_PING);
}

/* UNKNOWN_TYPE, with the frame (type UNKNOWN) for further checks. */
static MeteredFrame *
client_unknown (const char *text)
{
  MeteredFrame *frame = NULL;
  const char *code = NULL;

  note ("client frame (unknown type)", text);
  g_assert_cmpint (
      client_parse (text, &frame, &code), ==, METERED_PARSE_UNKNOWN_TYPE);
  g_assert_nonnull (frame);
  g_assert_cmpstr (code, ==, METERED_ERR_UNKNOWN_TYPE);
  return frame;
}

static void
test_client_unknown_type (void)
{
  MeteredFrame *f = client_unknown ("{\"type\":\"foo\",\"requestId\":\"r9\"}");

  g_assert_cmpint (f->type, ==, METERED_FRAME_UNKNOWN);
  g_assert_cmpstr (f->request_id, ==, "r9");
  g_clear_pointer (&f, metered_frame_free);

  f = client_unknown ("{\"type\":\"\"}");
  g_assert_null (f->request_id);
  g_clear_pointer (&f, metered_frame_free);

  /* Server-to-client types are unknown to the server; names are case
   * sensitive; a NUL makes a different string. */
  metered_frame_free (
      client_unknown ("{\"type\":\"welcome\",\"peerId\":\"x\"}"));
  metered_frame_free (
      client_unknown ("{\"type\":\"Subscribe\",\"channel\":\"c\"}"));
  metered_frame_free (client_unknown ("{\"type\":\"ping\\u0000\"}"));

  /* The reject code pointer is optional. */
  g_assert_cmpint (
      metered_client_frame_parse ("{\"type\":\"x\"}", 12, &f, NULL), ==,
      METERED_PARSE_UNKNOWN_TYPE);
  g_clear_pointer (&f, metered_frame_free);
}

static void
test_client_malformed (void)
{
  g_autofree char *r128 = repeat ("r", 128);
  g_autofree char *r129 = repeat ("r", 129);
  g_autofree char *ok128 =
      g_strdup_printf ("{\"type\":\"ping\",\"requestId\":\"%s\"}", r128);
  g_autofree char *bad129 = g_strdup_printf (
      "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"%s\"}", r129);
  static const char *const docs[] = {
    "not json",
    "",
    "[1]",
    "\"subscribe\"",
    "null",
    "{}",
    "{\"type\":1}",
    "{\"type\":null}",
    "{\"type\":[\"ping\"]}",
    "{\"Type\":\"ping\"}",
    "{\"type\":\"ping\",}",
    "{\"type\":\"ping\"} {}",
    "{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"\xff\"}",
    "{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"\xed\xa0\x80\"}",
    "{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"a\nb\"}",
    /* requestId present but not a valid one */
    "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":5}",
    "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":null}",
    "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"\"}",
    "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"a\\u0000\"}",
    "{\"type\":\"nope\",\"requestId\":7}",
    "{\"type\":\"subscribe\",\"channel\":\"\",\"requestId\":{}}",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (docs); i++)
    client_malformed (docs[i], strlen (docs[i]));
  client_malformed (bad129, strlen (bad129));
  client_malformed (NULL, 0);
  /* The length is honoured. */
  client_malformed ("{\"type\":\"ping\"}", 10);

  {
    g_autoptr (MeteredFrame) f = client_ok (ok128);
    g_autoptr (MeteredFrame) ctrl =
        client_ok ("{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":"
                   "\"a\\u0001b\"}");

    g_assert_cmpuint (strlen (f->request_id), ==, 128);
    /* No control-character check on requestIds (SDK). */
    g_assert_cmpstr (ctrl->request_id, ==, "a\001b");
  }
  {
    /* Only the given length is read. */
    const char *buf = "{\"type\":\"ping\"}GARBAGE";
    MeteredFrame *f = NULL;

    g_assert_cmpint (
        metered_client_frame_parse (buf, 15, &f, NULL), ==, METERED_PARSE_OK);
    metered_frame_free (f);
  }
}

static void
test_client_duplicate_keys (void)
{
  g_autoptr (MeteredFrame) f = client_ok (
      "{\"type\":\"publish\",\"channel\":\"a\",\"channel\":\"b\",\"data\":1,"
      "\"data\":[2],\"requestId\":\"x\",\"requestId\":\"y\"}");
  g_autoptr (MeteredFrame) g = client_ok (
      "{\"type\":\"ping\",\"type\":\"subscribe\",\"channel\":\"c\"}");
  g_autoptr (MeteredFrame) escaped_key =
      client_ok ("{\"type\":\"publish\",\"channel\":\"c\",\"d\\u0061ta\":5}");
  g_autoptr (MeteredFrame) last_bad = client_invalid (
      "{\"type\":\"subscribe\",\"channel\":\"good\",\"channel\":\"\"}",
      METERED_ERR_INVALID_CHANNEL);

  g_assert_cmpstr (f->channel, ==, "b");
  g_assert_cmpstr (f->data, ==, "[2]");
  g_assert_cmpstr (f->request_id, ==, "y");
  g_assert_cmpint (g->type, ==, METERED_FRAME_SUBSCRIBE);
  g_assert_cmpstr (escaped_key->data, ==, "5");
  g_assert_null (last_bad->channel);

  /* A valid first requestId does not rescue an invalid last one. */
  client_malformed ("{\"type\":\"ping\",\"requestId\":\"ok\",\"requestId\":1}",
      strlen ("{\"type\":\"ping\",\"requestId\":\"ok\",\"requestId\":1}"));
}

static char *
nested_publish (guint data_depth)
{
  GString *s =
      g_string_new ("{\"type\":\"publish\",\"channel\":\"c\",\"data\":");
  guint i;

  for (i = 0; i < data_depth; i++)
    g_string_append_c (s, '[');
  for (i = 0; i < data_depth; i++)
    g_string_append_c (s, ']');
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

static void
test_client_depth (void)
{
  /* The frame object is level 1: data may nest 127 more (128 total). */
  g_autofree char *ok = nested_publish (METERED_JSON_MAX_DEPTH - 1);
  g_autofree char *bad = nested_publish (METERED_JSON_MAX_DEPTH);
  g_autoptr (MeteredFrame) f = client_ok (ok);
  g_autofree char *hostile = g_malloc (65536);

  g_assert_cmpuint (strlen (f->data), ==, 2 * (METERED_JSON_MAX_DEPTH - 1));
  client_malformed (bad, strlen (bad));

  memset (hostile, '[', 65536);
  client_malformed (hostile, 65536);
}

/* ------------------------------------------------------------------ */
/* server frames (client side)                                        */
/* ------------------------------------------------------------------ */

static void
test_server_welcome (void)
{
  const char *metadata =
      "{\"iceServers\":[{\"urls\":[\"stun:stun.relay.metered.ca:80\"]},"
      "{\"urls\":[\"turn:global.relay.metered.ca:443\"],\"username\":\"u\","
      "\"credential\":\"c\"}]}";
  g_autofree char *text = g_strdup_printf (
      "{\"type\":\"welcome\",\"peerId\":\"alice\",\"expiresAt\":1715539200,"
      "\"serverTime\":1715535600,\"maxMessageSize\":65536,\"metadata\":%s}",
      metadata);
  g_autoptr (MeteredFrame) f = server_ok (text);
  g_autoptr (MeteredFrame) pk = server_ok (
      "{\"type\":\"welcome\",\"peerId\":\"3f1c-uuid\",\"expiresAt\":null,"
      "\"serverTime\":1715535600,\"maxMessageSize\":65536}");
  g_autoptr (MeteredFrame) empty_peer =
      server_ok ("{\"type\":\"welcome\",\"peerId\":\"\",\"expiresAt\":1.5,"
                 "\"serverTime\":-3e2,\"maxMessageSize\":0,\"metadata\":[1]}");
  g_autoptr (MeteredFrame) null_md =
      server_ok ("{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":null,"
                 "\"serverTime\":1,\"maxMessageSize\":1,\"metadata\":null}");

  g_assert_cmpint (f->type, ==, METERED_FRAME_WELCOME);
  g_assert_cmpstr (f->peer_id, ==, "alice");
  g_assert_false (f->expires_at_is_null);
  g_assert_cmpfloat (f->expires_at, ==, 1715539200.0);
  g_assert_cmpfloat (f->server_time, ==, 1715535600.0);
  g_assert_cmpfloat (f->max_message_size, ==, 65536.0);
  g_assert_cmpstr (f->metadata, ==, metadata);

  g_assert_true (pk->expires_at_is_null);
  g_assert_null (pk->metadata);

  /* The SDK does not check that peerId is non-empty; metadata that is
   * not a plain object is dropped, the frame is kept. */
  g_assert_cmpstr (empty_peer->peer_id, ==, "");
  g_assert_cmpfloat (empty_peer->expires_at, ==, 1.5);
  g_assert_cmpfloat (empty_peer->server_time, ==, -300.0);
  g_assert_null (empty_peer->metadata);
  g_assert_null (null_md->metadata);
}

static void
test_server_welcome_malformed (void)
{
  static const char *const docs[] = {
    /* peerId */
    "{\"type\":\"welcome\",\"expiresAt\":1,\"serverTime\":1,"
    "\"maxMessageSize\":1}",
    "{\"type\":\"welcome\",\"peerId\":5,\"expiresAt\":1,\"serverTime\":1,"
    "\"maxMessageSize\":1}",
    /* expiresAt: the key must be present */
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"serverTime\":1,"
    "\"maxMessageSize\":1}",
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":\"1\","
    "\"serverTime\":1,\"maxMessageSize\":1}",
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":1e400,"
    "\"serverTime\":1,\"maxMessageSize\":1}",
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":false,"
    "\"serverTime\":1,\"maxMessageSize\":1}",
    /* serverTime */
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":null,"
    "\"maxMessageSize\":1}",
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":null,"
    "\"serverTime\":null,\"maxMessageSize\":1}",
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":null,"
    "\"serverTime\":-1e999,\"maxMessageSize\":1}",
    /* maxMessageSize */
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":null,"
    "\"serverTime\":1}",
    "{\"type\":\"welcome\",\"peerId\":\"p\",\"expiresAt\":null,"
    "\"serverTime\":1,\"maxMessageSize\":\"65536\"}",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (docs); i++)
    server_dropped (docs[i]);
}

static void
test_server_ack_error (void)
{
  g_autoptr (MeteredFrame) ack =
      server_ok ("{\"type\":\"ack\",\"requestId\":\"6e0ce8b4-d296-4fdc-8fae-"
                 "87a1756d5092\"}");
  g_autoptr (MeteredFrame) err =
      server_ok ("{\"type\":\"error\",\"requestId\":\"pub-2\","
                 "\"code\":\"channel_not_authorized\","
                 "\"message\":\"not authorized: other-app/room-1\"}");
  g_autoptr (MeteredFrame) bare = server_ok (
      "{\"type\":\"error\",\"code\":\"some_future_code\",\"requestId\":5,"
      "\"message\":{\"m\":1}}");

  g_assert_cmpint (ack->type, ==, METERED_FRAME_ACK);
  g_assert_cmpstr (ack->request_id, ==, "6e0ce8b4-d296-4fdc-8fae-87a1756d5092");

  g_assert_cmpint (err->type, ==, METERED_FRAME_ERROR);
  g_assert_cmpstr (err->request_id, ==, "pub-2");
  g_assert_cmpstr (err->code, ==, "channel_not_authorized");
  g_assert_cmpstr (err->message, ==, "not authorized: other-app/room-1");

  /* Unknown codes are accepted; optional fields of the wrong type are
   * dropped. */
  g_assert_cmpstr (bare->code, ==, "some_future_code");
  g_assert_null (bare->request_id);
  g_assert_null (bare->message);

  server_dropped ("{\"type\":\"ack\"}");
  server_dropped ("{\"type\":\"ack\",\"requestId\":1}");
  server_dropped ("{\"type\":\"error\"}");
  server_dropped ("{\"type\":\"error\",\"code\":\"\"}");
  server_dropped ("{\"type\":\"error\",\"code\":5,\"requestId\":\"r\"}");
}

static void
test_server_message_direct (void)
{
  g_autoptr (MeteredFrame) msg = server_ok (
      "{\"type\":\"message\",\"channel\":\"room-42\",\"from\":\"p-a\","
      "\"data\":{\"text\":\"hi\"},\"fromMetadata\":{\"username\":\"Alice\"}}");
  g_autoptr (MeteredFrame) dir = server_ok (
      "{\"type\":\"direct\",\"from\":\"p-a\",\"data\":{\"type\":\"rtc-ice\","
      "\"candidate\":null}}");
  g_autoptr (MeteredFrame) null_data =
      server_ok ("{\"type\":\"direct\",\"from\":\"p-a\",\"data\":null,"
                 "\"fromMetadata\":[1]}");
  g_autoptr (MeteredFrame) md_string = server_ok (
      "{\"type\":\"message\",\"channel\":\"c\",\"from\":\"f\",\"data\":0,"
      "\"fromMetadata\":\"x\"}");

  g_assert_cmpint (msg->type, ==, METERED_FRAME_MESSAGE);
  g_assert_cmpstr (msg->channel, ==, "room-42");
  g_assert_cmpstr (msg->from, ==, "p-a");
  g_assert_cmpstr (msg->data, ==, "{\"text\":\"hi\"}");
  g_assert_cmpstr (msg->from_metadata, ==, "{\"username\":\"Alice\"}");

  g_assert_cmpint (dir->type, ==, METERED_FRAME_DIRECT);
  g_assert_cmpstr (dir->from, ==, "p-a");
  g_assert_cmpstr (dir->data, ==, "{\"type\":\"rtc-ice\",\"candidate\":null}");
  g_assert_null (dir->from_metadata);
  g_assert_null (dir->channel);

  g_assert_cmpstr (null_data->data, ==, "null");
  g_assert_null (null_data->from_metadata);
  g_assert_null (md_string->from_metadata);

  server_dropped ("{\"type\":\"message\",\"from\":\"f\",\"data\":1}");
  server_dropped ("{\"type\":\"message\",\"channel\":1,\"from\":\"f\","
                  "\"data\":1}");
  server_dropped ("{\"type\":\"message\",\"channel\":\"c\",\"data\":1}");
  server_dropped ("{\"type\":\"message\",\"channel\":\"c\",\"from\":\"f\"}");
  server_dropped ("{\"type\":\"direct\",\"data\":1}");
  server_dropped ("{\"type\":\"direct\",\"from\":null,\"data\":1}");
  server_dropped ("{\"type\":\"direct\",\"from\":\"f\"}");
}

static MeteredPresenceEntry *
entry (GPtrArray *a, guint i)
{
  return g_ptr_array_index (a, i);
}

static void
test_server_presence (void)
{
  g_autoptr (MeteredFrame) joined = server_ok (
      "{\"type\":\"presence\",\"channel\":\"room-42\",\"joined\":[{\"peerId\":"
      "\"p-b\",\"metadata\":{\"username\":\"Bob\"}}],\"left\":[]}");
  g_autoptr (MeteredFrame) left =
      server_ok ("{\"type\":\"presence\",\"channel\":\"room-42\",\"joined\":[],"
                 "\"left\":[{\"peerId\":\"p-b\"}]}");
  g_autoptr (MeteredFrame) mixed = server_ok (
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[{\"peerId\":\"a\","
      "\"metadata\":[1]},{\"peerId\":\"b\",\"metadata\":null,\"x\":1},"
      "{\"metadata\":{},\"peerId\":\"c\"}],\"left\":[]}");

  g_assert_cmpint (joined->type, ==, METERED_FRAME_PRESENCE);
  g_assert_cmpstr (joined->channel, ==, "room-42");
  g_assert_cmpuint (joined->joined->len, ==, 1);
  g_assert_cmpuint (joined->left->len, ==, 0);
  g_assert_cmpstr (entry (joined->joined, 0)->peer_id, ==, "p-b");
  g_assert_cmpstr (
      entry (joined->joined, 0)->metadata, ==, "{\"username\":\"Bob\"}");

  g_assert_cmpuint (left->joined->len, ==, 0);
  g_assert_cmpuint (left->left->len, ==, 1);
  g_assert_cmpstr (entry (left->left, 0)->peer_id, ==, "p-b");
  g_assert_null (entry (left->left, 0)->metadata);

  /* Entry metadata that is not a plain object is discarded; the entry
   * stays. */
  g_assert_cmpuint (mixed->joined->len, ==, 3);
  g_assert_null (entry (mixed->joined, 0)->metadata);
  g_assert_null (entry (mixed->joined, 1)->metadata);
  g_assert_cmpstr (entry (mixed->joined, 2)->peer_id, ==, "c");
  g_assert_cmpstr (entry (mixed->joined, 2)->metadata, ==, "{}");

  /* One bad entry drops the whole frame; both arrays are required. */
  server_dropped ("{\"type\":\"presence\",\"channel\":\"c\",\"joined\":["
                  "{\"peerId\":\"a\"},{\"peerId\":5}],\"left\":[]}");
  server_dropped ("{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],"
                  "\"left\":[{\"peerId\":\"a\"},\"b\"]}");
  server_dropped ("{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],"
                  "\"left\":[null]}");
  server_dropped ("{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[{}],"
                  "\"left\":[]}");
  server_dropped ("{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[]}");
  server_dropped ("{\"type\":\"presence\",\"channel\":\"c\",\"left\":[]}");
  server_dropped ("{\"type\":\"presence\",\"channel\":\"c\",\"joined\":{},"
                  "\"left\":[]}");
  server_dropped ("{\"type\":\"presence\",\"joined\":[],\"left\":[]}");
}

static void
test_server_going_away_pong (void)
{
  static const struct
  {
    const char *text;
    double expected;
  } cases[] = {
    { "{\"type\":\"going_away\",\"retryAfterMs\":1000}", 1000 },
    { "{\"type\":\"going_away\",\"retryAfterMs\":250}", 250 },
    { "{\"type\":\"going_away\",\"retryAfterMs\":2.5}", 2.5 },
    { "{\"type\":\"going_away\",\"retryAfterMs\":0}", 1000 },
    { "{\"type\":\"going_away\",\"retryAfterMs\":-5}", 1000 },
    { "{\"type\":\"going_away\",\"retryAfterMs\":\"500\"}", 1000 },
    { "{\"type\":\"going_away\",\"retryAfterMs\":1e400}", 1000 },
    { "{\"type\":\"going_away\",\"retryAfterMs\":null}", 1000 },
    { "{\"type\":\"going_away\"}", 1000 },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (MeteredFrame) f = server_ok (cases[i].text);

    g_assert_cmpint (f->type, ==, METERED_FRAME_GOING_AWAY);
    g_assert_cmpfloat (f->retry_after_ms, ==, cases[i].expected);
  }
  {
    g_autoptr (MeteredFrame) pong = server_ok ("{\"type\":\"pong\",\"x\":1}");

    g_assert_cmpint (pong->type, ==, METERED_FRAME_PONG);
  }
}

static void
test_server_unknown_and_malformed (void)
{
  g_autoptr (GError) error = NULL;
  const char *sub = "{\"type\":\"subscribe\",\"channel\":\"c\"}";

  g_assert_null (metered_server_frame_parse (sub, strlen (sub), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_null (
      metered_server_frame_parse ("{\"type\":\"nope\"}", 15, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  server_dropped ("not json");
  server_dropped ("[{\"type\":\"pong\"}]");
  server_dropped ("{\"type\":5}");
  server_dropped ("{}");
  server_dropped ("{\"type\":\"pong\"");
  g_assert_null (metered_server_frame_parse ("{\"type\":\"pong\"}", 14, NULL));
}

static void
test_server_duplicate_keys (void)
{
  g_autoptr (MeteredFrame) f = server_ok (
      "{\"type\":\"direct\",\"from\":\"a\",\"data\":1,\"from\":\"b\","
      "\"data\":{\"k\":2}}");

  g_assert_cmpstr (f->from, ==, "b");
  g_assert_cmpstr (f->data, ==, "{\"k\":2}");
}

/* ------------------------------------------------------------------ */
/* builders                                                           */
/* ------------------------------------------------------------------ */

static void
check_built (char *built, const char *expected)
{
  g_assert_cmpstr (built, ==, expected);
  g_assert_true (
      metered_json_validate (built, strlen (built), METERED_JSON_MAX_DEPTH));
  g_free (built);
}

static void
test_build_client_frames (void)
{
  check_built (metered_frame_build_subscribe ("room-42", "r1", FALSE),
      "{\"type\":\"subscribe\",\"channel\":\"room-42\",\"requestId\":\"r1\"}");
  check_built (metered_frame_build_subscribe ("room-42", "r1", TRUE),
      "{\"type\":\"subscribe\",\"channel\":\"room-42\",\"requestId\":\"r1\","
      "\"includeSenderMetadata\":true}");
  check_built (metered_frame_build_unsubscribe ("room-42", "r2"),
      "{\"type\":\"unsubscribe\",\"channel\":\"room-42\",\"requestId\":"
      "\"r2\"}");
  check_built (metered_frame_build_publish ("room", "{\"text\":\"hi\"}", "r3"),
      "{\"type\":\"publish\",\"channel\":\"room\",\"data\":{\"text\":\"hi\"},"
      "\"requestId\":\"r3\"}");
  check_built (metered_frame_build_publish ("room", NULL, "r4"),
      "{\"type\":\"publish\",\"channel\":\"room\",\"data\":null,"
      "\"requestId\":\"r4\"}");
  check_built (metered_frame_build_send ("p-b", "[1,2]", "r5"),
      "{\"type\":\"send\",\"to\":\"p-b\",\"data\":[1,2],\"requestId\":\"r5\"}");
  check_built (metered_frame_build_send ("p-b", NULL, "r6"),
      "{\"type\":\"send\",\"to\":\"p-b\",\"data\":null,\"requestId\":\"r6\"}");
  check_built (metered_frame_build_ping (), "{\"type\":\"ping\"}");
}

static void
test_build_server_frames (void)
{
  MeteredPresenceEntry joined[] = {
    { (char *) "p-b", (char *) "{\"username\":\"Bob\"}" },
    { (char *) "p-c", NULL },
  };
  MeteredPresenceEntry left[] = {
    { (char *) "p-d", NULL },
  };

  check_built (metered_frame_build_welcome ("alice", 1715539200, 1715535600,
                   65536, "{\"iceServers\":[]}"),
      "{\"type\":\"welcome\",\"peerId\":\"alice\",\"expiresAt\":1715539200,"
      "\"serverTime\":1715535600,\"maxMessageSize\":65536,"
      "\"metadata\":{\"iceServers\":[]}}");
  check_built (metered_frame_build_welcome ("u", -1, 1, 65536, NULL),
      "{\"type\":\"welcome\",\"peerId\":\"u\",\"expiresAt\":null,"
      "\"serverTime\":1,\"maxMessageSize\":65536}");
  check_built (metered_frame_build_welcome ("u", 0, 1, 65536, NULL),
      "{\"type\":\"welcome\",\"peerId\":\"u\",\"expiresAt\":0,"
      "\"serverTime\":1,\"maxMessageSize\":65536}");
  check_built (metered_frame_build_ack ("r1"),
      "{\"type\":\"ack\",\"requestId\":\"r1\"}");
  check_built (metered_frame_build_error ("channel_not_authorized",
                   "not authorized: other-app/room-1", "pub-2"),
      "{\"type\":\"error\",\"requestId\":\"pub-2\","
      "\"code\":\"channel_not_authorized\","
      "\"message\":\"not authorized: other-app/room-1\"}");
  check_built (metered_frame_build_error ("malformed_message", NULL, NULL),
      "{\"type\":\"error\",\"code\":\"malformed_message\"}");
  check_built (metered_frame_build_error ("unknown_type", "what", NULL),
      "{\"type\":\"error\",\"code\":\"unknown_type\",\"message\":\"what\"}");
  check_built (metered_frame_build_message ("room-42", "p-a",
                   "{\"text\":\"hi\"}", "{\"username\":\"Alice\"}"),
      "{\"type\":\"message\",\"channel\":\"room-42\",\"from\":\"p-a\","
      "\"data\":{\"text\":\"hi\"},\"fromMetadata\":{\"username\":\"Alice\"}}");
  check_built (metered_frame_build_message ("c", "f", NULL, NULL),
      "{\"type\":\"message\",\"channel\":\"c\",\"from\":\"f\",\"data\":null}");
  check_built (metered_frame_build_direct ("p-a",
                   "{\"type\":\"rtc-ice\","
                   "\"candidate\":null}",
                   NULL),
      "{\"type\":\"direct\",\"from\":\"p-a\",\"data\":{\"type\":\"rtc-ice\","
      "\"candidate\":null}}");
  check_built (metered_frame_build_direct ("p-a", "1", "{\"a\":1}"),
      "{\"type\":\"direct\",\"from\":\"p-a\",\"data\":1,"
      "\"fromMetadata\":{\"a\":1}}");
  check_built (metered_frame_build_presence ("room-42", joined, 2, NULL, 0),
      "{\"type\":\"presence\",\"channel\":\"room-42\",\"joined\":["
      "{\"peerId\":\"p-b\",\"metadata\":{\"username\":\"Bob\"}},"
      "{\"peerId\":\"p-c\"}],\"left\":[]}");
  check_built (metered_frame_build_presence ("room-42", NULL, 0, left, 1),
      "{\"type\":\"presence\",\"channel\":\"room-42\",\"joined\":[],"
      "\"left\":[{\"peerId\":\"p-d\"}]}");
  check_built (metered_frame_build_presence ("c", NULL, 0, NULL, 0),
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],\"left\":[]}");
  check_built (metered_frame_build_going_away (1000),
      "{\"type\":\"going_away\",\"retryAfterMs\":1000}");
  check_built (metered_frame_build_pong (), "{\"type\":\"pong\"}");
}

static void
test_build_escaping_round_trip (void)
{
  const char *channel = "we\"ird\\ch\xc3\xa9/\tn " EMOJI;
  g_autofree char *sub = metered_frame_build_subscribe (channel, "r\"1", TRUE);
  g_autofree char *err =
      metered_frame_build_error ("c", "line\nbreak\x01", "r\\2");
  g_autoptr (MeteredFrame) f = NULL;
  g_autoptr (MeteredFrame) e = NULL;
  MeteredFrame *tmp = NULL;

  g_assert_cmpstr (sub, ==,
      "{\"type\":\"subscribe\",\"channel\":\"we\\\"ird\\\\ch\xc3\xa9/"
      "\\tn " EMOJI
      "\",\"requestId\":\"r\\\"1\",\"includeSenderMetadata\":true}");
  /* The tab makes the channel invalid for the server, but the JSON is
   * fine and the escapes decode back exactly. */
  g_assert_cmpint (metered_client_frame_parse (sub, strlen (sub), &tmp, NULL),
      ==, METERED_PARSE_INVALID);
  g_assert_cmpstr (tmp->request_id, ==, "r\"1");
  metered_frame_free (tmp);

  e = server_ok (err);
  g_assert_cmpstr (e->message, ==, "line\nbreak\x01");
  g_assert_cmpstr (e->request_id, ==, "r\\2");

  {
    const char *ch = "r\xc3\xa9 " EMOJI "/\"x\"";
    g_autofree char *s2 = metered_frame_build_subscribe (ch, "id", FALSE);

    f = client_ok (s2);
    g_assert_cmpstr (f->channel, ==, ch);
  }
}

static void
test_round_trip_all_server_frames (void)
{
  MeteredPresenceEntry joined[] = {
    { (char *) "p-b", (char *) "{\"username\":\"Bob\"}" },
  };
  g_autofree char *w =
      metered_frame_build_welcome ("alice", 10, 20, 30, "{\"k\":[1]}");
  g_autofree char *p =
      metered_frame_build_presence ("ch", joined, 1, joined, 1);
  g_autofree char *g = metered_frame_build_going_away (750);
  g_autoptr (MeteredFrame) fw = server_ok (w);
  g_autoptr (MeteredFrame) fp = server_ok (p);
  g_autoptr (MeteredFrame) fg = server_ok (g);

  g_assert_cmpstr (fw->peer_id, ==, "alice");
  g_assert_cmpfloat (fw->expires_at, ==, 10);
  g_assert_cmpfloat (fw->server_time, ==, 20);
  g_assert_cmpfloat (fw->max_message_size, ==, 30);
  g_assert_cmpstr (fw->metadata, ==, "{\"k\":[1]}");
  g_assert_cmpstr (
      entry (fp->joined, 0)->metadata, ==, "{\"username\":\"Bob\"}");
  g_assert_cmpstr (entry (fp->left, 0)->peer_id, ==, "p-b");
  g_assert_cmpfloat (fg->retry_after_ms, ==, 750);
}

static void
test_type_names (void)
{
  g_assert_null (metered_frame_type_name (METERED_FRAME_UNKNOWN));
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_SUBSCRIBE), ==, "subscribe");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_UNSUBSCRIBE), ==, "unsubscribe");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_PUBLISH), ==, "publish");
  g_assert_cmpstr (metered_frame_type_name (METERED_FRAME_SEND), ==, "send");
  g_assert_cmpstr (metered_frame_type_name (METERED_FRAME_PING), ==, "ping");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_WELCOME), ==, "welcome");
  g_assert_cmpstr (metered_frame_type_name (METERED_FRAME_ACK), ==, "ack");
  g_assert_cmpstr (metered_frame_type_name (METERED_FRAME_ERROR), ==, "error");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_MESSAGE), ==, "message");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_DIRECT), ==, "direct");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_PRESENCE), ==, "presence");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_GOING_AWAY), ==, "going_away");
  g_assert_cmpstr (metered_frame_type_name (METERED_FRAME_PONG), ==, "pong");
  g_assert_null (metered_frame_type_name ((MeteredFrameType) 99));
  metered_frame_free (NULL);
  metered_presence_entry_free (NULL);
}

/* The channel history extension (docs/protocol.md): what our client
 * sends and reads, and what the server parses; the plain frames are
 * untouched by it. */
static void
test_history_extension (void)
{
  g_autoptr (MeteredFrame) sub = NULL;
  g_autoptr (MeteredFrame) fresh = NULL;
  g_autoptr (MeteredFrame) plain = NULL;
  g_autoptr (MeteredFrame) send = NULL;
  g_autoptr (MeteredFrame) msg = NULL;
  g_autoptr (MeteredFrame) unstamped = NULL;
  g_autoptr (MeteredFrame) resumed = NULL;
  g_autoptr (MeteredFrame) lost = NULL;
  g_autofree char *b1 = NULL, *b2 = NULL, *b3 = NULL, *b4 = NULL;
  g_autofree char *b5 = NULL, *b6 = NULL, *b7 = NULL;

  b1 = metered_frame_build_subscribe_history ("c", "r", TRUE, "e.1", 42);
  g_assert_cmpstr (b1, ==,
      "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"r\","
      "\"includeSenderMetadata\":true,\"history\":{\"epoch\":\"e.1\","
      "\"seq\":42}}");
  b2 = metered_frame_build_subscribe_history ("c", "r", FALSE, NULL, 0);
  g_assert_cmpstr (b2, ==,
      "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"r\","
      "\"history\":{}}");
  sub = client_ok (b1);
  g_assert_true (sub->history);
  g_assert_true (sub->include_sender_metadata);
  g_assert_cmpstr (sub->history_epoch, ==, "e.1");
  g_assert_cmpuint (sub->seq, ==, 42);
  fresh = client_ok (b2);
  g_assert_true (fresh->history);
  g_assert_null (fresh->history_epoch);
  plain = client_ok ("{\"type\":\"subscribe\",\"channel\":\"c\"}");
  g_assert_false (plain->history);

  b3 = metered_frame_build_send_held ("p", "{\"x\":1}", "r");
  g_assert_cmpstr (b3, ==,
      "{\"type\":\"send\",\"to\":\"p\",\"data\":{\"x\":1},\"requestId\":"
      "\"r\",\"hold\":true}");
  send = client_ok (b3);
  g_assert_true (send->hold);

  b4 = metered_frame_build_message_stamped (
      "c", "a", "[1]", "{\"m\":0}", "e.1", 43);
  g_assert_cmpstr (b4, ==,
      "{\"type\":\"message\",\"channel\":\"c\",\"from\":\"a\",\"data\":[1],"
      "\"fromMetadata\":{\"m\":0},\"epoch\":\"e.1\",\"seq\":43}");
  msg = server_ok (b4);
  g_assert_cmpstr (msg->epoch, ==, "e.1");
  g_assert_cmpuint (msg->seq, ==, 43);
  g_assert_cmpstr (msg->data, ==, "[1]");
  /* A half stamp is no stamp. */
  unstamped = server_ok ("{\"type\":\"message\",\"channel\":\"c\",\"from\":"
                         "\"a\",\"data\":1,\"seq\":5}");
  g_assert_cmpuint (unstamped->seq, ==, 0);
  g_assert_null (unstamped->epoch);

  b5 = metered_frame_build_history ("c", "resumed", "e.1", 50, 7);
  g_assert_cmpstr (b5, ==,
      "{\"type\":\"history\",\"channel\":\"c\",\"status\":\"resumed\","
      "\"epoch\":\"e.1\",\"seq\":50,\"replayed\":7}");
  resumed = server_ok (b5);
  g_assert_cmpint (resumed->type, ==, METERED_FRAME_HISTORY);
  g_assert_cmpstr (resumed->history_status, ==, "resumed");
  g_assert_cmpint (resumed->history_count, ==, 7);
  g_assert_cmpuint (resumed->seq, ==, 50);
  b6 = metered_frame_build_history ("c", "lost", "e.2", 3, -1);
  g_assert_cmpstr (b6, ==,
      "{\"type\":\"history\",\"channel\":\"c\",\"status\":\"lost\","
      "\"epoch\":\"e.2\",\"seq\":3,\"missed\":null}");
  lost = server_ok (b6);
  g_assert_cmpint (lost->history_count, ==, -1);
  b7 = metered_frame_build_history ("c", "started", "e.2", 3, 0);
  g_assert_cmpstr (b7, ==,
      "{\"type\":\"history\",\"channel\":\"c\",\"status\":\"started\","
      "\"epoch\":\"e.2\",\"seq\":3}");
  server_dropped ("{\"type\":\"history\",\"channel\":\"c\",\"status\":"
                  "\"lost\",\"seq\":3}");
  g_assert_cmpstr (
      metered_frame_type_name (METERED_FRAME_HISTORY), ==, "history");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/frame/client/subscribe", test_client_subscribe);
  g_test_add_func ("/frame/client/channel-rules", test_client_channel_rules);
  g_test_add_func ("/frame/client/publish", test_client_publish);
  g_test_add_func (
      "/frame/client/raw-data-fidelity", test_client_raw_data_fidelity);
  g_test_add_func ("/frame/client/send", test_client_send);
  g_test_add_func ("/frame/client/ping", test_client_ping);
  g_test_add_func ("/frame/client/unknown-type", test_client_unknown_type);
  g_test_add_func ("/frame/client/malformed", test_client_malformed);
  g_test_add_func ("/frame/client/duplicate-keys", test_client_duplicate_keys);
  g_test_add_func ("/frame/client/depth", test_client_depth);
  g_test_add_func ("/frame/server/welcome", test_server_welcome);
  g_test_add_func (
      "/frame/server/welcome-malformed", test_server_welcome_malformed);
  g_test_add_func ("/frame/server/ack-error", test_server_ack_error);
  g_test_add_func ("/frame/server/message-direct", test_server_message_direct);
  g_test_add_func ("/frame/server/presence", test_server_presence);
  g_test_add_func (
      "/frame/server/going-away-pong", test_server_going_away_pong);
  g_test_add_func (
      "/frame/server/unknown-malformed", test_server_unknown_and_malformed);
  g_test_add_func ("/frame/server/duplicate-keys", test_server_duplicate_keys);
  g_test_add_func ("/frame/build/client", test_build_client_frames);
  g_test_add_func ("/frame/build/server", test_build_server_frames);
  g_test_add_func ("/frame/build/escaping", test_build_escaping_round_trip);
  g_test_add_func (
      "/frame/build/round-trip", test_round_trip_all_server_frames);
  g_test_add_func ("/frame/type-names", test_type_names);
  g_test_add_func ("/frame/history-extension", test_history_extension);

  return g_test_run ();
}
