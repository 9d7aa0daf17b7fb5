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

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Frames of the Metered Realtime Messaging wire protocol (protocol doc
 * §2-§4). Parsing keeps "data", "metadata" and "fromMetadata" as the raw
 * JSON text the sender wrote, so forwarding never re-serialises them. */

typedef enum
{
  METERED_FRAME_UNKNOWN = 0,
  /* client -> server */
  METERED_FRAME_SUBSCRIBE,
  METERED_FRAME_UNSUBSCRIBE,
  METERED_FRAME_PUBLISH,
  METERED_FRAME_SEND,
  METERED_FRAME_PING,
  /* server -> client */
  METERED_FRAME_WELCOME,
  METERED_FRAME_ACK,
  METERED_FRAME_ERROR,
  METERED_FRAME_MESSAGE,
  METERED_FRAME_DIRECT,
  METERED_FRAME_PRESENCE,
  METERED_FRAME_GOING_AWAY,
  METERED_FRAME_PONG,
  /* server -> client, only to a client that asked for history (an
   * extension of this project: docs/protocol.md) */
  METERED_FRAME_HISTORY,
} MeteredFrameType;

/* The wire name ("subscribe", "going_away", ...) or NULL. */
const char *metered_frame_type_name (MeteredFrameType type);

typedef struct
{
  char *peer_id;
  char *metadata; /* raw JSON object text, or NULL */
} MeteredPresenceEntry;

typedef struct
{
  MeteredFrameType type;
  char *request_id; /* subscribe/unsubscribe/publish/send, ack, error */
  char *channel; /* subscribe/unsubscribe/publish, message, presence */
  char *to; /* send */
  char *from; /* message, direct */
  char *data; /* raw JSON text of "data"; NULL when the key is absent */
  gboolean include_sender_metadata; /* subscribe */
  /* welcome */
  char *peer_id;
  gboolean expires_at_is_null;
  double expires_at;
  double server_time;
  double max_message_size;
  char *metadata; /* welcome.metadata: raw JSON object text or NULL */
  char *from_metadata; /* message/direct: raw JSON object text or NULL */
  /* error */
  char *code;
  char *message;
  /* presence: arrays of MeteredPresenceEntry*, never NULL for presence */
  GPtrArray *joined;
  GPtrArray *left;
  /* going_away: finite and > 0, else 1000 */
  double retry_after_ms;
  /* Channel history extension (docs/protocol.md). subscribe: history is
   * TRUE when the object is there; history_epoch NULL for a fresh start,
   * else the position (history_epoch, seq) to resume after. message:
   * epoch and seq when stamped (seq 0: not stamped). history: channel,
   * epoch, seq (the channel's last), history_status and history_count
   * (replayed or missed; -1 unknown). */
  gboolean history;
  char *history_epoch;
  char *epoch;
  guint64 seq;
  char *history_status;
  gint64 history_count;
  gboolean hold; /* send: "hold":true (held sends, docs/protocol.md) */
} MeteredFrame;

void metered_presence_entry_free (MeteredPresenceEntry *entry);
void metered_frame_free (MeteredFrame *frame);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeteredFrame, metered_frame_free)

typedef enum
{
  METERED_PARSE_OK,
  /* Not JSON, not an object, or no string "type" (or a requestId that is
   * present but not a valid one): answer error malformed_message, no
   * requestId. *frame is NULL. */
  METERED_PARSE_MALFORMED,
  /* "type" is a string the server does not know: answer unknown_type,
   * echoing frame->request_id if set. */
  METERED_PARSE_UNKNOWN_TYPE,
  /* A field failed validation: answer error *reject_code echoing
   * frame->request_id if set. */
  METERED_PARSE_INVALID,
} MeteredParseResult;

/* Server side: parse and validate one client frame (text, len bytes).
 * On OK, UNKNOWN_TYPE and INVALID *frame is set (caller frees). On
 * INVALID *reject_code is one of METERED_ERR_* (static). */
MeteredParseResult metered_client_frame_parse (const char *text, gsize len,
    MeteredFrame **frame, const char **reject_code);

/* Client side: parse one server frame with the SDK 1.2.0 validation (§3).
 * Returns NULL (and sets error with a reason fit for a warning log) when
 * the SDK would drop the frame as malformed or of unknown type. */
MeteredFrame *metered_server_frame_parse (
    const char *text, gsize len, GError **error);

/* Builders. JSON arguments (data_json, *metadata_json) are inserted
 * verbatim and must already be valid JSON; NULL means "omit the key"
 * (for data_json NULL is written as the JSON literal null). Field order
 * is the SDK's. Every result is a newly allocated NUL-terminated string. */
char *metered_frame_build_subscribe (const char *channel,
    const char *request_id, gboolean include_sender_metadata);
char *metered_frame_build_unsubscribe (
    const char *channel, const char *request_id);
char *metered_frame_build_publish (
    const char *channel, const char *data_json, const char *request_id);
char *metered_frame_build_send (
    const char *to, const char *data_json, const char *request_id);
char *metered_frame_build_ping (void);

/* expires_at < 0 writes "expiresAt":null. */
char *metered_frame_build_welcome (const char *peer_id, gint64 expires_at,
    gint64 server_time, gint64 max_message_size, const char *metadata_json);
char *metered_frame_build_ack (const char *request_id);
char *metered_frame_build_error (
    const char *code, const char *message, const char *request_id);
char *metered_frame_build_message (const char *channel, const char *from,
    const char *data_json, const char *from_metadata_json);
char *metered_frame_build_direct (
    const char *from, const char *data_json, const char *from_metadata_json);
char *metered_frame_build_presence (const char *channel,
    const MeteredPresenceEntry *joined, guint n_joined,
    const MeteredPresenceEntry *left, guint n_left);
char *metered_frame_build_going_away (gint64 retry_after_ms);
char *metered_frame_build_pong (void);

/* Channel history extension (docs/protocol.md). epoch NULL asks for a
 * fresh start: "history":{}. */
char *metered_frame_build_subscribe_history (const char *channel,
    const char *request_id, gboolean include_sender_metadata, const char *epoch,
    guint64 seq);
/* A message stamped with its channel position. */
char *metered_frame_build_message_stamped (const char *channel,
    const char *from, const char *data_json, const char *from_metadata_json,
    const char *epoch, guint64 seq);

/* A send asking to be held while its target reconnects. */
char *metered_frame_build_send_held (
    const char *to, const char *data_json, const char *request_id);

#define METERED_HISTORY_STATUS_STARTED "started"
#define METERED_HISTORY_STATUS_RESUMED "resumed"
#define METERED_HISTORY_STATUS_LOST "lost"
/* status one of the above; count: replayed (resumed) or missed (lost,
 * -1 written as null), not written for started. */
char *metered_frame_build_history (const char *channel, const char *status,
    const char *epoch, guint64 seq, gint64 count);

G_END_DECLS
