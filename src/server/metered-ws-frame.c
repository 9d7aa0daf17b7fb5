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

#include "metered-ws-frame.h"

#include <string.h>

void
metered_ws_reader_init (MeteredWsReader *reader, gsize max_message)
{
  memset (reader, 0, sizeof *reader);
  reader->max_message = max_message;
}

void
metered_ws_reader_clear (MeteredWsReader *reader)
{
  g_clear_pointer (&reader->fragments, g_byte_array_unref);
  g_clear_pointer (&reader->delivered, g_byte_array_unref);
}

static gsize
fail (MeteredWsReader *reader, MeteredWsEvent *event, guint16 code)
{
  reader->failed = TRUE;
  g_clear_pointer (&reader->fragments, g_byte_array_unref);
  memset (event, 0, sizeof *event);
  event->type = METERED_WS_EVENT_ERROR;
  event->code = code;
  return 0;
}

gboolean
metered_ws_utf8_valid (const guint8 *s, gsize len)
{
  gsize i = 0;

  while (i < len) {
    guint8 c = s[i];
    gsize n;
    guint8 lo = 0x80, hi = 0xbf;

    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0)
        lo = 0xa0; /* overlong */
      else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0)
        lo = 0x90; /* overlong */
      else if (c == 0xf4)
        hi = 0x8f; /* past U+10FFFF */
    } else {
      return FALSE;
    }
    if (len - i - 1 < n)
      return FALSE;
    if (s[i + 1] < lo || s[i + 1] > hi)
      return FALSE;
    for (gsize k = 2; k <= n; k++)
      if ((s[i + k] & 0xc0) != 0x80)
        return FALSE;
    i += n + 1;
  }
  return TRUE;
}

gboolean
metered_ws_close_code_valid (gint64 code)
{
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
      return TRUE;
    default:
      return code >= 3000 && code < 5000;
  }
}

static gsize
control_frame (MeteredWsReader *reader, guint8 opcode, guint8 *payload,
    gsize len, gsize consumed, MeteredWsEvent *event)
{
  switch (opcode) {
    case 0x8:
      if (len == 1)
        return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
      event->code = len == 0 ? METERED_WS_CLOSE_NO_STATUS
                             : (guint16) (payload[0] << 8 | payload[1]);
      if (len >= 2 && !metered_ws_close_code_valid (event->code))
        return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
      event->data = len > 2 ? payload + 2 : payload;
      event->len = len > 2 ? len - 2 : 0;
      if (!metered_ws_utf8_valid (event->data, event->len))
        return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
      event->type = METERED_WS_EVENT_CLOSE;
      reader->failed = TRUE;
      g_clear_pointer (&reader->fragments, g_byte_array_unref);
      return consumed;
    case 0x9:
    case 0xa:
      event->type =
          opcode == 0x9 ? METERED_WS_EVENT_PING : METERED_WS_EVENT_PONG;
      event->data = payload;
      event->len = len;
      return consumed;
    default:
      return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
  }
}

gsize
metered_ws_reader_next (
    MeteredWsReader *reader, guint8 *data, gsize len, MeteredWsEvent *event)
{
  gboolean fin, control;
  guint8 opcode;
  guint64 payload_len;
  gsize at, so_far;
  guint8 *mask, *payload;

  memset (event, 0, sizeof *event);
  g_clear_pointer (&reader->delivered, g_byte_array_unref);
  if (reader->failed || len < 2)
    return 0;

  fin = (data[0] & 0x80) != 0;
  opcode = data[0] & 0x0f;
  control = (opcode & 0x08) != 0;
  if (!(data[1] & 0x80))
    return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
  if (control && (data[1] & 0x7f) > 125)
    return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);

  payload_len = data[1] & 0x7f;
  at = 2;
  if (payload_len == 126) {
    if (len < 4)
      return 0;
    payload_len = (guint64) data[2] << 8 | data[3];
    at = 4;
    /* The shortest encoding of the length is the only valid one. */
    if (payload_len <= 125)
      return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
  } else if (payload_len == 127) {
    if (len < 10)
      return 0;
    payload_len = 0;
    for (int i = 2; i < 10; i++)
      payload_len = payload_len << 8 | data[i];
    at = 10;
    if (payload_len <= G_MAXUINT16 || payload_len >> 63)
      return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
  }

  /* Refused before the payload arrives: a client cannot make us buffer
   * more than one message's worth. */
  so_far = reader->fragments && !control ? reader->fragments->len : 0;
  if (payload_len > reader->max_message ||
      payload_len > reader->max_message - so_far)
    return fail (reader, event, METERED_WS_CLOSE_TOO_BIG);

  if (len - at < 4 || len - at - 4 < payload_len)
    return 0;
  mask = data + at;
  payload = data + at + 4;
  for (gsize i = 0; i < payload_len; i++)
    payload[i] ^= mask[i & 3];

  if (data[0] & 0x70) /* no extension was negotiated */
    return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);

  if (control) {
    if (!fin)
      return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
    return control_frame (
        reader, opcode, payload, payload_len, at + 4 + payload_len, event);
  }

  if (opcode != 0x0 && opcode != 0x1 && opcode != 0x2)
    return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);
  /* A continuation needs a started message; a new message needs none. */
  if ((opcode == 0x0) != (reader->fragments != NULL))
    return fail (reader, event, METERED_WS_CLOSE_PROTOCOL_ERROR);

  if (!fin || reader->fragments) {
    if (!reader->fragments) {
      reader->fragments = g_byte_array_sized_new (payload_len);
      reader->fragments_opcode = opcode;
    }
    g_byte_array_append (reader->fragments, payload, payload_len);
    if (!fin)
      return at + 4 + payload_len;
    /* Kept until the next call: the event points into it. */
    opcode = reader->fragments_opcode;
    reader->delivered = g_steal_pointer (&reader->fragments);
    payload = reader->delivered->data;
    event->len = reader->delivered->len;
  } else {
    event->len = payload_len;
  }

  if (opcode == 0x1 && !metered_ws_utf8_valid (payload, event->len))
    return fail (reader, event, METERED_WS_CLOSE_BAD_DATA);
  event->type = METERED_WS_EVENT_MESSAGE;
  event->opcode = opcode;
  event->data = payload;
  return at + 4 + payload_len;
}

gsize
metered_ws_frame_header (
    guint8 header[METERED_WS_HEADER_MAX], guint8 opcode, guint64 len)
{
  gsize h = 0;

  header[h++] = 0x80 | opcode;
  if (len < 126) {
    header[h++] = len;
  } else if (len <= G_MAXUINT16) {
    header[h++] = 126;
    header[h++] = len >> 8;
    header[h++] = len & 0xff;
  } else {
    header[h++] = 127;
    for (int i = 7; i >= 0; i--)
      header[h++] = (len >> (8 * i)) & 0xff;
  }
  return h;
}

gsize
metered_ws_close_payload (guint8 payload[125], guint16 code, const char *reason)
{
  gsize len = reason ? strlen (reason) : 0;

  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  if (len > 123) {
    len = 123;
    /* Back off to a character boundary. */
    while (len > 0 && ((guint8) reason[len] & 0xc0) == 0x80)
      len--;
  }
  if (len)
    memcpy (payload + 2, reason, len);
  return 2 + len;
}
