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

/*
 * metered_ws_reader_next: the RFC 6455 reader of metered-server's plain
 * ws:// connections (src/server/metered-ws-frame.c), fed what a client
 * could send.
 *
 * The first byte picks the read sizes; the rest is the byte stream.
 * Invariants: a frame is never consumed past the buffer; a text message
 * is valid UTF-8; no message is over the limit; nothing follows an error
 * or a close; an error carries 1002, 1007 or 1009; and the stream read
 * whole gives the same events as read in pieces the way metered-ws-conn.c
 * reads it (an incomplete frame kept, the next read appended).
 */

#include "fuzz-common.h"

#include "metered-ws-frame.h"

#include <string.h>

#define MAX_MESSAGE 1024

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

/* One line per event, for comparing two readings. */
static void
record (GString *log, const MeteredWsEvent *ev)
{
  g_string_append_printf (
      log, "%d/%u/%u/%zu:", ev->type, ev->opcode, ev->code, ev->len);
  if (ev->len)
    g_string_append_len (log, (const char *) ev->data, ev->len);
  g_string_append_c (log, '\n');
}

static void
check_event (const MeteredWsEvent *ev, gboolean *ended)
{
  FUZZ_CHECK (!*ended || ev->type == METERED_WS_EVENT_NONE);
  switch (ev->type) {
    case METERED_WS_EVENT_MESSAGE:
      FUZZ_CHECK (ev->opcode == 1 || ev->opcode == 2);
      FUZZ_CHECK (ev->len <= MAX_MESSAGE);
      if (ev->opcode == 1)
        FUZZ_CHECK (metered_ws_utf8_valid (ev->data, ev->len));
      break;
    case METERED_WS_EVENT_PING:
    case METERED_WS_EVENT_PONG:
      FUZZ_CHECK (ev->len <= 125);
      break;
    case METERED_WS_EVENT_CLOSE:
      FUZZ_CHECK (ev->len <= 123);
      FUZZ_CHECK (metered_ws_utf8_valid (ev->data, ev->len));
      *ended = TRUE;
      break;
    case METERED_WS_EVENT_ERROR:
      FUZZ_CHECK (ev->code == 1002 || ev->code == 1007 || ev->code == 1009);
      *ended = TRUE;
      break;
    case METERED_WS_EVENT_NONE:
      break;
  }
}

/* Parses buf[0..len) as far as it goes; returns the bytes used. */
static gsize
drain (
    MeteredWsReader *r, guint8 *buf, gsize len, GString *log, gboolean *ended)
{
  gsize at = 0;

  for (;;) {
    MeteredWsEvent ev;
    gsize used = metered_ws_reader_next (r, buf + at, len - at, &ev);

    FUZZ_CHECK (used <= len - at);
    check_event (&ev, ended);
    if (used == 0 && ev.type == METERED_WS_EVENT_NONE)
      break;
    if (ev.type != METERED_WS_EVENT_NONE)
      record (log, &ev);
    if (ev.type == METERED_WS_EVENT_ERROR)
      break;
    at += used;
  }
  return at;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GString) whole_log = g_string_new (NULL);
  g_autoptr (GString) piece_log = g_string_new (NULL);
  g_autofree guint8 *copy = NULL;
  g_autoptr (GByteArray) pending = g_byte_array_new ();
  MeteredWsReader r;
  gboolean ended = FALSE;
  guint step;
  gsize at;

  if (size < 1)
    return 0;
  step = 1 + data[0] % 61;
  data++;
  size--;

  copy = g_memdup2 (data, size);
  metered_ws_reader_init (&r, MAX_MESSAGE);
  drain (&r, copy, size, whole_log, &ended);
  metered_ws_reader_clear (&r);

  ended = FALSE;
  metered_ws_reader_init (&r, MAX_MESSAGE);
  for (at = 0; at < size; at += step) {
    gsize n = MIN (step, size - at), used;
    g_byte_array_append (pending, data + at, n);
    used = drain (&r, pending->data, pending->len, piece_log, &ended);
    g_byte_array_remove_range (pending, 0, used);
    if (ended)
      break;
  }
  metered_ws_reader_clear (&r);

  FUZZ_CHECK (g_str_equal (whole_log->str, piece_log->str));
  return 0;
}
