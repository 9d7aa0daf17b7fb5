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

/* The RFC 6455 reader of the connections metered-server serves itself
 * (src/server/metered-ws-frame.c): what a client sends, byte by byte,
 * and the close codes libsoup's reader used for the same faults (1002,
 * 1007, 1009), which the SDK suite and the hostile tests expect. */

#include "metered-ws-frame.h"

#include <string.h>

#define MAX_MSG 65536

/* A client frame: first byte as given (FIN, RSV, opcode), masked unless
 * unmasked is set; len_bytes forces a longer length encoding (0: the
 * shortest). */
static GByteArray *
client_frame_full (
    guint8 b0, const void *payload, gsize len, gboolean unmasked, int len_bytes)
{
  static const guint8 mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
  GByteArray *f = g_byte_array_new ();
  guint8 h[14];
  gsize n = 0;

  h[n++] = b0;
  if (len_bytes == 0)
    len_bytes = len < 126 ? 1 : len <= G_MAXUINT16 ? 2 : 8;
  if (len_bytes == 1) {
    h[n++] = len;
  } else if (len_bytes == 2) {
    h[n++] = 126;
    h[n++] = len >> 8;
    h[n++] = len & 0xff;
  } else {
    h[n++] = 127;
    for (int i = 7; i >= 0; i--)
      h[n++] = ((guint64) len >> (8 * i)) & 0xff;
  }
  if (!unmasked) {
    h[1] |= 0x80;
    memcpy (h + n, mask, 4);
    n += 4;
  }
  g_byte_array_append (f, h, n);
  g_byte_array_append (f, payload, len);
  if (!unmasked)
    for (gsize i = 0; i < len; i++)
      f->data[n + i] ^= mask[i & 3];
  return f;
}

static GByteArray *
client_frame (guint8 b0, const void *payload, gsize len)
{
  return client_frame_full (b0, payload, len, FALSE, 0);
}

/* Parses one frame of f with a fresh reader or r. */
static gsize
parse (MeteredWsReader *r, GByteArray *f, MeteredWsEvent *ev)
{
  return metered_ws_reader_next (r, f->data, f->len, ev);
}

static void
expect_error (guint8 b0, const void *payload, gsize len, gboolean unmasked,
    int len_bytes, guint16 code)
{
  MeteredWsReader r;
  MeteredWsEvent ev;
  g_autoptr (GByteArray) f =
      client_frame_full (b0, payload, len, unmasked, len_bytes);

  metered_ws_reader_init (&r, MAX_MSG);
  g_assert_cmpuint (parse (&r, f, &ev), ==, 0);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, code);
  g_assert_null (ev.data);
  g_assert_cmpuint (ev.len, ==, 0);
  /* Nothing more is read after an error. */
  g_assert_cmpuint (parse (&r, f, &ev), ==, 0);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_NONE);
  metered_ws_reader_clear (&r);
}

static void
test_text (void)
{
  static const char *texts[] = { "", "{\"type\":\"ping\"}", NULL, NULL };
  g_autofree char *medium = g_strnfill (300, 'm');
  g_autofree char *full = g_strnfill (MAX_MSG, 'f');

  texts[2] = medium;
  texts[3] = full;
  for (guint t = 0; t < G_N_ELEMENTS (texts); t++) {
    gsize len = strlen (texts[t]);
    g_autoptr (GByteArray) f = client_frame (0x81, texts[t], len);
    g_autoptr (GByteArray) two = g_byte_array_new ();
    MeteredWsReader r;
    MeteredWsEvent ev;

    metered_ws_reader_init (&r, MAX_MSG);
    /* Every prefix is "need more", without an event. */
    for (gsize cut = 0; cut < f->len; cut += 1 + cut / 7) {
      g_autoptr (GByteArray) copy = g_byte_array_new ();
      g_byte_array_append (copy, f->data, cut);
      g_assert_cmpuint (
          metered_ws_reader_next (&r, copy->data, cut, &ev), ==, 0);
      g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_NONE);
    }
    /* Two frames back to back: one at a time. */
    g_byte_array_append (two, f->data, f->len);
    g_byte_array_append (two, f->data, f->len);
    g_assert_cmpuint (parse (&r, two, &ev), ==, f->len);
    g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_MESSAGE);
    g_assert_cmpuint (ev.opcode, ==, 1);
    g_assert_cmpuint (ev.len, ==, len);
    g_assert_true (memcmp (ev.data, texts[t], len) == 0);
    g_assert_cmpuint (
        metered_ws_reader_next (&r, two->data + f->len, f->len, &ev), ==,
        f->len);
    g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_MESSAGE);
    g_assert_true (memcmp (ev.data, texts[t], len) == 0);
    metered_ws_reader_clear (&r);
  }
}

static void
test_binary_ping_pong (void)
{
  static const guint8 bin[] = { 0, 1, 0xff, 0xfe, 0xc0 };
  MeteredWsReader r;
  MeteredWsEvent ev;
  g_autoptr (GByteArray) b = client_frame (0x82, bin, sizeof bin);
  g_autoptr (GByteArray) ping = client_frame (0x89, "hi", 2);
  g_autoptr (GByteArray) pong = client_frame (0x8a, "", 0);

  metered_ws_reader_init (&r, MAX_MSG);
  g_assert_cmpuint (parse (&r, b, &ev), ==, b->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_MESSAGE);
  g_assert_cmpuint (ev.opcode, ==, 2);
  g_assert_cmpmem (ev.data, ev.len, bin, sizeof bin);
  g_assert_cmpuint (parse (&r, ping, &ev), ==, ping->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_PING);
  g_assert_cmpmem (ev.data, ev.len, "hi", 2);
  g_assert_cmpuint (parse (&r, pong, &ev), ==, pong->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_PONG);
  g_assert_cmpuint (ev.len, ==, 0);
  metered_ws_reader_clear (&r);
}

static void
test_fragments (void)
{
  /* "é" split across the fragments: valid only as a whole. */
  MeteredWsReader r;
  MeteredWsEvent ev;
  g_autoptr (GByteArray) a = client_frame (0x01, "ab\xc3", 3);
  g_autoptr (GByteArray) ping = client_frame (0x89, "p", 1);
  g_autoptr (GByteArray) b = client_frame (0x00, "\xa9", 1);
  g_autoptr (GByteArray) c = client_frame (0x80, "cd", 2);

  metered_ws_reader_init (&r, MAX_MSG);
  g_assert_cmpuint (parse (&r, a, &ev), ==, a->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_NONE);
  /* A control frame may come between fragments. */
  g_assert_cmpuint (parse (&r, ping, &ev), ==, ping->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_PING);
  g_assert_cmpuint (parse (&r, b, &ev), ==, b->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_NONE);
  g_assert_cmpuint (parse (&r, c, &ev), ==, c->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_MESSAGE);
  g_assert_cmpuint (ev.opcode, ==, 1);
  g_assert_cmpmem (ev.data, ev.len,
      "ab\xc3\xa9"
      "cd",
      6);
  metered_ws_reader_clear (&r);
}

static void
test_fragment_order (void)
{
  MeteredWsReader r;
  MeteredWsEvent ev;
  g_autoptr (GByteArray) start = client_frame (0x01, "a", 1);
  g_autoptr (GByteArray) again = client_frame (0x81, "b", 1);

  /* A continuation with nothing started. */
  expect_error (0x80, "x", 1, FALSE, 0, 1002);
  expect_error (0x00, "x", 1, FALSE, 0, 1002);
  /* A new message while one is fragmented. */
  metered_ws_reader_init (&r, MAX_MSG);
  g_assert_cmpuint (parse (&r, start, &ev), ==, start->len);
  g_assert_cmpuint (parse (&r, again, &ev), ==, 0);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, 1002);
  metered_ws_reader_clear (&r);
}

static void
test_too_big (void)
{
  g_autofree char *big = g_strnfill (MAX_MSG + 1, 'x');
  g_autofree char *half = g_strnfill (MAX_MSG / 2 + 1, 'h');
  g_autoptr (GByteArray) f = client_frame (0x81, big, MAX_MSG + 1);
  g_autoptr (GByteArray) a = client_frame (0x01, half, MAX_MSG / 2 + 1);
  g_autoptr (GByteArray) b = client_frame (0x80, half, MAX_MSG / 2 + 1);
  MeteredWsReader r;
  MeteredWsEvent ev;

  /* Refused from the header alone, before the payload arrives. */
  metered_ws_reader_init (&r, MAX_MSG);
  g_assert_cmpuint (metered_ws_reader_next (&r, f->data, 10, &ev), ==, 0);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, 1009);
  metered_ws_reader_clear (&r);
  /* A 64-bit length past 2^63. */
  {
    guint8 huge[14] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0 };
    metered_ws_reader_init (&r, MAX_MSG);
    g_assert_cmpuint (
        metered_ws_reader_next (&r, huge, sizeof huge, &ev), ==, 0);
    g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_ERROR);
    metered_ws_reader_clear (&r);
  }
  /* Fragments adding up to more than a message may hold. */
  metered_ws_reader_init (&r, MAX_MSG);
  g_assert_cmpuint (parse (&r, a, &ev), ==, a->len);
  g_assert_cmpuint (parse (&r, b, &ev), ==, 0);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_ERROR);
  g_assert_cmpuint (ev.code, ==, 1009);
  metered_ws_reader_clear (&r);
}

static void
test_protocol_errors (void)
{
  g_autofree char *c126 = g_strnfill (126, 'c');

  expect_error (0x81, "x", 1, TRUE, 0, 1002); /* unmasked */
  expect_error (0xc1, "x", 1, FALSE, 0, 1002); /* RSV1: no extension */
  expect_error (0xa1, "x", 1, FALSE, 0, 1002); /* RSV2 */
  expect_error (0x83, "x", 1, FALSE, 0, 1002); /* reserved data opcode */
  expect_error (0x8b, "x", 1, FALSE, 0, 1002); /* reserved control opcode */
  expect_error (0x89, c126, 126, FALSE, 0, 1002); /* control over 125 */
  expect_error (0x09, "x", 1, FALSE, 0, 1002); /* fragmented control */
  expect_error (0x81, "x", 1, FALSE, 2, 1002); /* 16-bit length for 1 */
  expect_error (0x81, c126, 126, FALSE, 8, 1002); /* 64-bit length for 126 */
}

static void
test_utf8 (void)
{
  /* The invalid texts of tests/sdk/fuzz-live.test.mjs, and more. */
  static const char *bad[] = { "\xff\xfe\xfd", "\xc3\x28",
    "{\"x\":\"\xed\xa0\x80\"}", "\xe2\x82\x22", "\xf8\x88\x80\x80\x80",
    "\xc0\xaf", "\xf4\x90\x80\x80", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xc3",
    "\xe2\x82", "\x80", "\xfe" };
  static const char *good[] = { "plain", "\xc3\xa9", "\xe2\x82\xac",
    "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xee\x80\x80" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (
        metered_ws_utf8_valid ((const guint8 *) bad[i], strlen (bad[i])));
    expect_error (0x81, bad[i], strlen (bad[i]), FALSE, 0, 1007);
  }
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (
        metered_ws_utf8_valid ((const guint8 *) good[i], strlen (good[i])));
  /* NUL is a character like any other. */
  g_assert_true (metered_ws_utf8_valid ((const guint8 *) "a\0b", 3));
  /* A binary message is not checked. */
  {
    MeteredWsReader r;
    MeteredWsEvent ev;
    g_autoptr (GByteArray) f = client_frame (0x82, "\xff", 1);
    metered_ws_reader_init (&r, MAX_MSG);
    g_assert_cmpuint (parse (&r, f, &ev), ==, f->len);
    g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_MESSAGE);
    metered_ws_reader_clear (&r);
  }
}

static void
expect_close (const void *payload, gsize len, guint16 code, const char *reason)
{
  MeteredWsReader r;
  MeteredWsEvent ev;
  g_autoptr (GByteArray) f = client_frame (0x88, payload, len);
  g_autoptr (GByteArray) after = client_frame (0x81, "x", 1);

  metered_ws_reader_init (&r, MAX_MSG);
  g_assert_cmpuint (parse (&r, f, &ev), ==, f->len);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_CLOSE);
  g_assert_cmpuint (ev.code, ==, code);
  g_assert_cmpmem (ev.data, ev.len, reason, strlen (reason));
  /* Nothing is read after a close. */
  g_assert_cmpuint (parse (&r, after, &ev), ==, 0);
  g_assert_cmpint (ev.type, ==, METERED_WS_EVENT_NONE);
  metered_ws_reader_clear (&r);
}

static void
test_close (void)
{
  expect_close ("", 0, 1005, "");
  expect_close ("\x03\xe8", 2, 1000, "");
  expect_close ("\x03\xe9"
                "bye",
      5, 1001, "bye");
  expect_close ("\x0f\xa0"
                "\xc3\xa9",
      4, 4000, "\xc3\xa9");
  expect_error (0x88, "\x03", 1, FALSE, 0, 1002); /* half a code */
  expect_error (0x88, "\x03\xed", 2, FALSE, 0, 1002); /* 1005 sent */
  expect_error (0x88, "\x03\xee", 2, FALSE, 0, 1002); /* 1006 sent */
  expect_error (0x88, "\x03\xe7", 2, FALSE, 0, 1002); /* 999 */
  expect_error (0x88, "\x13\x88", 2, FALSE, 0, 1002); /* 5000 */
  expect_error (0x88, "\x03\xec", 2, FALSE, 0, 1002); /* 1004 */
  expect_error (0x88, "\x03\xf4", 2, FALSE, 0, 1002); /* 1012 */
  expect_close ("\x13\x87", 2, 4999, "");
  expect_error (0x88, "\x03\xe8\xff", 3, FALSE, 0, 1002); /* bad reason */
}

static void
test_server_frames (void)
{
  guint8 h[METERED_WS_HEADER_MAX], p[125];
  g_autofree char *long_reason = NULL;
  gsize n;

  g_assert_cmpuint (metered_ws_frame_header (h, 0x1, 5), ==, 2);
  g_assert_cmpmem (h, 2, "\x81\x05", 2);
  g_assert_cmpuint (metered_ws_frame_header (h, 0x1, 126), ==, 4);
  g_assert_cmpmem (h, 4, "\x81\x7e\x00\x7e", 4);
  g_assert_cmpuint (metered_ws_frame_header (h, 0x2, 65536), ==, 10);
  g_assert_cmpmem (h, 10, "\x82\x7f\0\0\0\0\0\x01\0\0", 10);

  n = metered_ws_close_payload (p, 4013, "send queue overflow");
  g_assert_cmpmem (p, n,
      "\x0f\xad"
      "send queue overflow",
      21);
  /* 61 two-byte characters and one more: cut at a character. */
  long_reason = g_strnfill (130, 'x');
  for (int i = 0; i < 124; i += 2)
    memcpy (long_reason + i, "\xc3\xa9", 2);
  n = metered_ws_close_payload (p, 1000, long_reason);
  g_assert_cmpuint (n, ==, 124);
  g_assert_true (metered_ws_utf8_valid (p + 2, n - 2));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ws-frame/text", test_text);
  g_test_add_func ("/ws-frame/binary-ping-pong", test_binary_ping_pong);
  g_test_add_func ("/ws-frame/fragments", test_fragments);
  g_test_add_func ("/ws-frame/fragment-order", test_fragment_order);
  g_test_add_func ("/ws-frame/too-big", test_too_big);
  g_test_add_func ("/ws-frame/protocol-errors", test_protocol_errors);
  g_test_add_func ("/ws-frame/utf8", test_utf8);
  g_test_add_func ("/ws-frame/close", test_close);
  g_test_add_func ("/ws-frame/server-frames", test_server_frames);
  return g_test_run ();
}
