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

/* RFC 6455 framing for the connections metered-server serves itself
 * (plain ws://, see metered-ws-conn.c): a reader that turns the bytes a
 * client sent into messages, pings, pongs and closes, and the server's
 * (unmasked) frame headers. No I/O: the unit test and the fuzz target
 * drive it with byte strings. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The close codes of RFC 6455 §7.4.1 the reader fails with. */
#define METERED_WS_CLOSE_NORMAL 1000
#define METERED_WS_CLOSE_PROTOCOL_ERROR 1002
#define METERED_WS_CLOSE_NO_STATUS 1005
#define METERED_WS_CLOSE_ABNORMAL 1006
#define METERED_WS_CLOSE_BAD_DATA 1007
#define METERED_WS_CLOSE_TOO_BIG 1009

/* Longest server frame header: 2 bytes plus a 64-bit length. */
#define METERED_WS_HEADER_MAX 10

typedef enum
{
  METERED_WS_EVENT_NONE, /* a frame was consumed (a fragment), no event */
  METERED_WS_EVENT_MESSAGE, /* a whole text (opcode 1) or binary (2) message */
  METERED_WS_EVENT_PING,
  METERED_WS_EVENT_PONG,
  METERED_WS_EVENT_CLOSE, /* code (1005 when the frame had none), reason */
  METERED_WS_EVENT_ERROR, /* close with code; the reader reads no more */
} MeteredWsEventType;

typedef struct
{
  MeteredWsEventType type;
  guint8 opcode; /* MESSAGE: 1 text, 2 binary */
  /* MESSAGE, PING, PONG: the payload; CLOSE: the reason (UTF-8, not
   * NUL-terminated). Points into the buffer parsed, or into the reader
   * for a fragmented message: valid until the next call on the reader and
   * while the buffer is unchanged. */
  const guint8 *data;
  gsize len;
  guint16 code; /* CLOSE, ERROR */
} MeteredWsEvent;

typedef struct
{
  gsize max_message; /* payload bytes per message; over it: ERROR 1009 */
  GByteArray *fragments; /* a fragmented message so far, or NULL */
  guint8 fragments_opcode;
  GByteArray *delivered; /* the last reassembled message, until the next call */
  gboolean failed; /* an ERROR or CLOSE was returned */
} MeteredWsReader;

void metered_ws_reader_init (MeteredWsReader *reader, gsize max_message);
void metered_ws_reader_clear (MeteredWsReader *reader);

/* Parses the client frame at the start of data (masked, as RFC 6455
 * §5.1 requires of clients); unmasks it in place. Returns the number of
 * bytes consumed: 0 when data holds no whole frame yet (event->type is
 * NONE then), or when event is an ERROR. After ERROR or CLOSE the reader
 * returns 0 and NONE. */
gsize metered_ws_reader_next (
    MeteredWsReader *reader, guint8 *data, gsize len, MeteredWsEvent *event);

/* Writes the header of a final, unmasked server frame of opcode around a
 * payload of len bytes into header; returns its size. */
gsize metered_ws_frame_header (
    guint8 header[METERED_WS_HEADER_MAX], guint8 opcode, guint64 len);

/* A close frame's payload: code then reason cut to fit 125 bytes (at a
 * character boundary). Returns its size. */
gsize metered_ws_close_payload (
    guint8 payload[125], guint16 code, const char *reason);

/* The close codes a peer may send (RFC 6455 §7.4.1), as libsoup accepts
 * them: 1000-1003, 1007-1011, 3000-4999. */
gboolean metered_ws_close_code_valid (gint64 code);

/* RFC 3629 UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF; NUL is allowed, unlike g_utf8_validate_len()). */
gboolean metered_ws_utf8_valid (const guint8 *data, gsize len);

G_END_DECLS
