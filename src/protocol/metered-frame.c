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
 * Frames of the Metered Realtime Messaging protocol.
 *
 * Parsing validates the whole frame with the strict scanner first and
 * then reads fields from the top-level member spans, so "data",
 * "metadata" and "fromMetadata" are kept as the exact bytes the sender
 * wrote. Duplicate keys resolve as JSON.parse does: the last one wins.
 */

#include "protocol/metered-frame.h"
#include "protocol/metered-codes.h"
#include "protocol/metered-json-scan.h"
#include "protocol/metered-limits.h"
#include "protocol/metered-validate.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

static const char *const frame_type_names[] = {
  [METERED_FRAME_UNKNOWN] = NULL,
  [METERED_FRAME_SUBSCRIBE] = "subscribe",
  [METERED_FRAME_UNSUBSCRIBE] = "unsubscribe",
  [METERED_FRAME_PUBLISH] = "publish",
  [METERED_FRAME_SEND] = "send",
  [METERED_FRAME_PING] = "ping",
  [METERED_FRAME_WELCOME] = "welcome",
  [METERED_FRAME_ACK] = "ack",
  [METERED_FRAME_ERROR] = "error",
  [METERED_FRAME_MESSAGE] = "message",
  [METERED_FRAME_DIRECT] = "direct",
  [METERED_FRAME_PRESENCE] = "presence",
  [METERED_FRAME_GOING_AWAY] = "going_away",
  [METERED_FRAME_PONG] = "pong",
  [METERED_FRAME_HISTORY] = "history",
};

const char *
metered_frame_type_name (MeteredFrameType type)
{
  if ((guint) type >= G_N_ELEMENTS (frame_type_names))
    return NULL;
  return frame_type_names[type];
}

/* The frame type named s among [first, last], or UNKNOWN. */
static MeteredFrameType
frame_type_lookup (const char *s, MeteredFrameType first, MeteredFrameType last)
{
  guint t;

  if (s == NULL)
    return METERED_FRAME_UNKNOWN;
  for (t = first; t <= last; t++)
    if (strcmp (s, frame_type_names[t]) == 0)
      return (MeteredFrameType) t;
  return METERED_FRAME_UNKNOWN;
}

void
metered_presence_entry_free (MeteredPresenceEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->peer_id);
  g_free (entry->metadata);
  g_free (entry);
}

void
metered_frame_free (MeteredFrame *frame)
{
  if (frame == NULL)
    return;
  g_free (frame->request_id);
  g_free (frame->channel);
  g_free (frame->to);
  g_free (frame->from);
  g_free (frame->data);
  g_free (frame->history_epoch);
  g_free (frame->epoch);
  g_free (frame->history_status);
  g_free (frame->peer_id);
  g_free (frame->metadata);
  g_free (frame->from_metadata);
  g_free (frame->code);
  g_free (frame->message);
  g_clear_pointer (&frame->joined, g_ptr_array_unref);
  g_clear_pointer (&frame->left, g_ptr_array_unref);
  g_free (frame);
}

/* ------------------------------------------------------------------ */
/* Reading member spans                                               */
/* ------------------------------------------------------------------ */

static inline int
hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return c - 'A' + 10; /* validated by the scanner */
}

static gunichar
read_u_escape (const char *p)
{
  return (hex_digit (p[0]) << 12) | (hex_digit (p[1]) << 8) |
         (hex_digit (p[2]) << 4) | hex_digit (p[3]);
}

/* Decodes the (already validated) contents of a JSON string literal,
 * raw[0..raw_len) between the quotes, to UTF-8. An escaped lone surrogate
 * becomes U+FFFD and sets *lone_surrogate. Returns NULL when the string
 * contains U+0000, which a C string cannot carry. */
static char *
json_string_decode (const char *raw, gsize raw_len, gboolean *lone_surrogate)
{
  GString *out;
  gsize i = 0, run = 0;

  if (lone_surrogate)
    *lone_surrogate = FALSE;
  if (memchr (raw, '\\', raw_len) == NULL)
    return g_strndup (raw, raw_len);

  out = g_string_sized_new (raw_len);
  while (i < raw_len) {
    gunichar c;

    if (raw[i] != '\\') {
      i++;
      continue;
    }
    g_string_append_len (out, raw + run, i - run);
    switch (raw[i + 1]) {
      case 'b':
        g_string_append_c (out, '\b');
        i += 2;
        break;
      case 'f':
        g_string_append_c (out, '\f');
        i += 2;
        break;
      case 'n':
        g_string_append_c (out, '\n');
        i += 2;
        break;
      case 'r':
        g_string_append_c (out, '\r');
        i += 2;
        break;
      case 't':
        g_string_append_c (out, '\t');
        i += 2;
        break;
      case 'u':
        c = read_u_escape (raw + i + 2);
        i += 6;
        if (c >= 0xd800 && c <= 0xdbff && i + 6 <= raw_len && raw[i] == '\\' &&
            raw[i + 1] == 'u') {
          gunichar lo = read_u_escape (raw + i + 2);

          if (lo >= 0xdc00 && lo <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
          }
        }
        if (c >= 0xd800 && c <= 0xdfff) {
          c = 0xfffd;
          if (lone_surrogate)
            *lone_surrogate = TRUE;
        }
        if (c == 0) {
          g_string_free (out, TRUE);
          return NULL;
        }
        g_string_append_unichar (out, c);
        break;
      default: /* '"', '\\', '/' */
        g_string_append_c (out, raw[i + 1]);
        i += 2;
        break;
    }
    run = i;
  }
  g_string_append_len (out, raw + run, raw_len - run);
  return g_string_free (out, FALSE);
}

static gboolean
key_equals (const MeteredJsonMember *m, const char *name)
{
  gsize n = strlen (name);
  g_autofree char *decoded = NULL;

  if (memchr (m->key, '\\', m->key_len) == NULL)
    return m->key_len == n && memcmp (m->key, name, n) == 0;

  decoded = json_string_decode (m->key, m->key_len, NULL);
  return decoded != NULL && strcmp (decoded, name) == 0;
}

/* The last member called name (JSON.parse semantics), or NULL. */
static const MeteredJsonMember *
find_member (GArray *members, const char *name)
{
  guint i;

  for (i = members->len; i > 0; i--) {
    const MeteredJsonMember *m =
        &g_array_index (members, MeteredJsonMember, i - 1);

    if (key_equals (m, name))
      return m;
  }
  return NULL;
}

static inline gboolean
value_is_string (const MeteredJsonMember *m)
{
  return m != NULL && m->value[0] == '"';
}

static inline gboolean
value_is_object (const MeteredJsonMember *m)
{
  return m != NULL && m->value[0] == '{';
}

static inline gboolean
value_is_array (const MeteredJsonMember *m)
{
  return m != NULL && m->value[0] == '[';
}

static inline gboolean
value_is_null (const MeteredJsonMember *m)
{
  return m != NULL && m->value_len == 4 && memcmp (m->value, "null", 4) == 0;
}

static inline gboolean
value_is_true (const MeteredJsonMember *m)
{
  return m != NULL && m->value_len == 4 && memcmp (m->value, "true", 4) == 0;
}

/* The decoded string value of m, or NULL if m is not a string (or holds
 * U+0000). */
static char *
value_dup_string (const MeteredJsonMember *m, gboolean *lone_surrogate)
{
  if (lone_surrogate)
    *lone_surrogate = FALSE;
  if (!value_is_string (m))
    return NULL;
  return json_string_decode (m->value + 1, m->value_len - 2, lone_surrogate);
}

/* A JSON number as JSON.parse reads it: the nearest double, +-Infinity on
 * overflow. FALSE if m is not a number. */
static gboolean
value_get_number (const MeteredJsonMember *m, double *out)
{
  g_autofree char *copy = NULL;

  if (m == NULL || !(m->value[0] == '-' || g_ascii_isdigit (m->value[0])))
    return FALSE;
  copy = g_strndup (m->value, m->value_len);
  *out = g_ascii_strtod (copy, NULL);
  return TRUE;
}

static inline char *
value_dup_raw (const MeteredJsonMember *m)
{
  return g_strndup (m->value, m->value_len);
}

/* ------------------------------------------------------------------ */
/* Client frames, parsed by the server                                */
/* ------------------------------------------------------------------ */

/* A sequence number: a JSON integer in [0, 2^53]. */
static gboolean
value_get_seq (const MeteredJsonMember *m, guint64 *out)
{
  double d;

  if (!value_get_number (m, &d) || !(d >= 0 && d <= 9007199254740992.0) ||
      d != (double) (guint64) d)
    return FALSE;
  *out = (guint64) d;
  return TRUE;
}

/* subscribe.history: {} or {"epoch": string, "seq": integer}. */
static gboolean
parse_history_request (const MeteredJsonMember *m, MeteredFrame *f)
{
  g_autoptr (GArray) fields = NULL;
  const MeteredJsonMember *epoch, *seq;

  if (!value_is_object (m) ||
      !metered_json_object_members (
          m->value, m->value_len, METERED_JSON_MAX_DEPTH, &fields))
    return FALSE;
  f->history = TRUE;
  epoch = find_member (fields, "epoch");
  seq = find_member (fields, "seq");
  if (epoch == NULL && seq == NULL)
    return TRUE;
  f->history_epoch = value_dup_string (epoch, NULL);
  if (f->history_epoch == NULL || f->history_epoch[0] == '\0' ||
      strlen (f->history_epoch) > METERED_HISTORY_EPOCH_MAX_LEN ||
      !value_get_seq (seq, &f->seq))
    return FALSE;
  return TRUE;
}

/* A decoded identifier that passes check(), or NULL. Identifiers that
 * held an escaped lone surrogate are refused: UTF-8 cannot carry them,
 * and folding them into U+FFFD would make two different JS strings the
 * same channel or peer. */
static char *
value_dup_identifier (
    const MeteredJsonMember *m, gboolean (*check) (const char *))
{
  gboolean lone;
  char *s = value_dup_string (m, &lone);

  if (s != NULL && (lone || !check (s)))
    g_clear_pointer (&s, g_free);
  return s;
}

static MeteredParseResult
client_frame_invalid (MeteredFrame *f, MeteredFrame **frame,
    const char **reject_code, const char *code)
{
  *frame = f;
  if (reject_code)
    *reject_code = code;
  return METERED_PARSE_INVALID;
}

MeteredParseResult
metered_client_frame_parse (
    const char *text, gsize len, MeteredFrame **frame, const char **reject_code)
{
  g_autoptr (GArray) members = NULL;
  const MeteredJsonMember *m_type, *m_rid, *m;
  g_autofree char *type = NULL;
  char *request_id = NULL;
  MeteredFrame *f;

  g_return_val_if_fail (frame != NULL, METERED_PARSE_MALFORMED);

  *frame = NULL;
  if (reject_code)
    *reject_code = METERED_ERR_MALFORMED_MESSAGE;

  if (text == NULL || !metered_json_object_members (
                          text, len, METERED_JSON_MAX_DEPTH, &members))
    return METERED_PARSE_MALFORMED;

  m_type = find_member (members, "type");
  if (!value_is_string (m_type))
    return METERED_PARSE_MALFORMED;
  /* A type holding U+0000 is a string we know nothing about. */
  type = value_dup_string (m_type, NULL);

  m_rid = find_member (members, "requestId");
  if (m_rid != NULL) {
    request_id = value_dup_identifier (m_rid, metered_request_id_is_valid);
    if (request_id == NULL)
      return METERED_PARSE_MALFORMED;
  }

  f = g_new0 (MeteredFrame, 1);
  f->request_id = request_id;
  f->type =
      frame_type_lookup (type, METERED_FRAME_SUBSCRIBE, METERED_FRAME_PING);

  switch (f->type) {
    case METERED_FRAME_SUBSCRIBE:
    case METERED_FRAME_UNSUBSCRIBE:
      f->channel = value_dup_identifier (
          find_member (members, "channel"), metered_channel_is_valid);
      if (f->channel == NULL)
        return client_frame_invalid (
            f, frame, reject_code, METERED_ERR_INVALID_CHANNEL);
      if (f->type == METERED_FRAME_SUBSCRIBE) {
        f->include_sender_metadata =
            value_is_true (find_member (members, "includeSenderMetadata"));
        m = find_member (members, "history");
        if (m != NULL && !parse_history_request (m, f))
          return client_frame_invalid (
              f, frame, reject_code, METERED_ERR_MALFORMED_MESSAGE);
      }
      break;

    case METERED_FRAME_PUBLISH:
      f->channel = value_dup_identifier (
          find_member (members, "channel"), metered_channel_is_valid);
      if (f->channel == NULL)
        return client_frame_invalid (
            f, frame, reject_code, METERED_ERR_INVALID_CHANNEL);
      m = find_member (members, "data");
      if (m == NULL)
        return client_frame_invalid (
            f, frame, reject_code, METERED_ERR_MISSING_DATA);
      f->data = value_dup_raw (m);
      break;

    case METERED_FRAME_SEND:
      f->to = value_dup_identifier (
          find_member (members, "to"), metered_peer_id_is_valid);
      if (f->to == NULL)
        return client_frame_invalid (
            f, frame, reject_code, METERED_ERR_INVALID_PEER_ID);
      f->hold = value_is_true (find_member (members, "hold"));
      m = find_member (members, "data");
      if (m == NULL)
        return client_frame_invalid (
            f, frame, reject_code, METERED_ERR_MISSING_DATA);
      f->data = value_dup_raw (m);
      break;

    case METERED_FRAME_PING:
      break;

    default:
      *frame = f;
      if (reject_code)
        *reject_code = METERED_ERR_UNKNOWN_TYPE;
      return METERED_PARSE_UNKNOWN_TYPE;
  }

  *frame = f;
  if (reject_code)
    *reject_code = NULL;
  return METERED_PARSE_OK;
}

/* ------------------------------------------------------------------ */
/* Server frames, parsed by the client (SDK 1.2.0 rules, doc §3)       */
/* ------------------------------------------------------------------ */

static MeteredFrame *
server_frame_malformed (MeteredFrame *f, GError **error, const char *why)
{
  metered_frame_free (f);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
      "malformed server frame: %s", why);
  return NULL;
}

static gboolean
finite_number (const MeteredJsonMember *m, double *out)
{
  return value_get_number (m, out) && isfinite (*out);
}

/* joined/left: an array whose every entry is an object with a string
 * peerId; entry metadata kept only when it is an object. */
static GPtrArray *
parse_presence_list (const MeteredJsonMember *m)
{
  g_autoptr (GArray) elements = NULL;
  GPtrArray *list;
  guint i;

  if (!value_is_array (m) ||
      !metered_json_array_elements (
          m->value, m->value_len, METERED_JSON_MAX_DEPTH, &elements))
    return NULL;

  list = g_ptr_array_new_full (
      elements->len, (GDestroyNotify) metered_presence_entry_free);
  for (i = 0; i < elements->len; i++) {
    const MeteredJsonMember *e =
        &g_array_index (elements, MeteredJsonMember, i);
    g_autoptr (GArray) fields = NULL;
    const MeteredJsonMember *md;
    MeteredPresenceEntry *entry;
    char *peer_id;

    if (!value_is_object (e) ||
        !metered_json_object_members (
            e->value, e->value_len, METERED_JSON_MAX_DEPTH, &fields))
      goto bad;
    peer_id = value_dup_string (find_member (fields, "peerId"), NULL);
    if (peer_id == NULL)
      goto bad;
    entry = g_new0 (MeteredPresenceEntry, 1);
    entry->peer_id = peer_id;
    md = find_member (fields, "metadata");
    if (value_is_object (md))
      entry->metadata = value_dup_raw (md);
    g_ptr_array_add (list, entry);
  }
  return list;

bad:
  g_ptr_array_unref (list);
  return NULL;
}

MeteredFrame *
metered_server_frame_parse (const char *text, gsize len, GError **error)
{
  g_autoptr (GArray) members = NULL;
  g_autofree char *type = NULL;
  const MeteredJsonMember *m;
  MeteredFrame *f;

  if (text == NULL || !metered_json_object_members (
                          text, len, METERED_JSON_MAX_DEPTH, &members))
    return server_frame_malformed (NULL, error, "not a JSON object");

  type = value_dup_string (find_member (members, "type"), NULL);
  if (type == NULL)
    return server_frame_malformed (NULL, error, "no string type");

  f = g_new0 (MeteredFrame, 1);
  f->type =
      frame_type_lookup (type, METERED_FRAME_WELCOME, METERED_FRAME_HISTORY);

  switch (f->type) {
    case METERED_FRAME_WELCOME:
      f->peer_id = value_dup_string (find_member (members, "peerId"), NULL);
      if (f->peer_id == NULL)
        return server_frame_malformed (f, error, "welcome.peerId");
      m = find_member (members, "expiresAt");
      if (value_is_null (m))
        f->expires_at_is_null = TRUE;
      else if (!finite_number (m, &f->expires_at))
        return server_frame_malformed (f, error, "welcome.expiresAt");
      if (!finite_number (find_member (members, "serverTime"), &f->server_time))
        return server_frame_malformed (f, error, "welcome.serverTime");
      if (!finite_number (
              find_member (members, "maxMessageSize"), &f->max_message_size))
        return server_frame_malformed (f, error, "welcome.maxMessageSize");
      m = find_member (members, "metadata");
      if (value_is_object (m))
        f->metadata = value_dup_raw (m);
      break;

    case METERED_FRAME_ACK:
      f->request_id =
          value_dup_string (find_member (members, "requestId"), NULL);
      if (f->request_id == NULL)
        return server_frame_malformed (f, error, "ack.requestId");
      break;

    case METERED_FRAME_ERROR:
      f->code = value_dup_string (find_member (members, "code"), NULL);
      if (f->code == NULL || f->code[0] == '\0')
        return server_frame_malformed (f, error, "error.code");
      f->request_id =
          value_dup_string (find_member (members, "requestId"), NULL);
      f->message = value_dup_string (find_member (members, "message"), NULL);
      break;

    case METERED_FRAME_MESSAGE:
    case METERED_FRAME_DIRECT:
      if (f->type == METERED_FRAME_MESSAGE) {
        f->channel = value_dup_string (find_member (members, "channel"), NULL);
        if (f->channel == NULL)
          return server_frame_malformed (f, error, "message.channel");
      }
      f->from = value_dup_string (find_member (members, "from"), NULL);
      if (f->from == NULL)
        return server_frame_malformed (f, error, "from");
      m = find_member (members, "data");
      if (m == NULL)
        return server_frame_malformed (f, error, "data");
      f->data = value_dup_raw (m);
      m = find_member (members, "fromMetadata");
      if (value_is_object (m))
        f->from_metadata = value_dup_raw (m);
      /* The history stamp is kept only whole; SDK rules ignore it. */
      if (f->type == METERED_FRAME_MESSAGE) {
        g_autofree char *epoch =
            value_dup_string (find_member (members, "epoch"), NULL);
        guint64 seq;
        if (epoch && value_get_seq (find_member (members, "seq"), &seq) &&
            seq > 0) {
          f->epoch = g_steal_pointer (&epoch);
          f->seq = seq;
        }
      }
      break;

    case METERED_FRAME_HISTORY:
      f->channel = value_dup_string (find_member (members, "channel"), NULL);
      f->history_status =
          value_dup_string (find_member (members, "status"), NULL);
      f->epoch = value_dup_string (find_member (members, "epoch"), NULL);
      if (f->channel == NULL || f->history_status == NULL || f->epoch == NULL ||
          !value_get_seq (find_member (members, "seq"), &f->seq))
        return server_frame_malformed (f, error, "history");
      m = find_member (
          members, g_str_equal (f->history_status, METERED_HISTORY_STATUS_LOST)
                       ? "missed"
                       : "replayed");
      {
        guint64 count;
        f->history_count =
            value_get_seq (m, &count) ? (gint64) count : (gint64) -1;
      }
      break;

    case METERED_FRAME_PRESENCE:
      f->channel = value_dup_string (find_member (members, "channel"), NULL);
      if (f->channel == NULL)
        return server_frame_malformed (f, error, "presence.channel");
      f->joined = parse_presence_list (find_member (members, "joined"));
      if (f->joined == NULL)
        return server_frame_malformed (f, error, "presence.joined");
      f->left = parse_presence_list (find_member (members, "left"));
      if (f->left == NULL)
        return server_frame_malformed (f, error, "presence.left");
      break;

    case METERED_FRAME_GOING_AWAY:
      if (!finite_number (
              find_member (members, "retryAfterMs"), &f->retry_after_ms) ||
          f->retry_after_ms <= 0)
        f->retry_after_ms = METERED_GOING_AWAY_RETRY_MS;
      break;

    case METERED_FRAME_PONG:
      break;

    default:
      metered_frame_free (f);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
          "unknown server frame type");
      return NULL;
  }

  return f;
}

/* ------------------------------------------------------------------ */
/* Builders                                                           */
/* ------------------------------------------------------------------ */

static GString *
frame_begin (const char *type)
{
  GString *s = g_string_sized_new (128);

  g_string_append (s, "{\"type\":\"");
  g_string_append (s, type);
  g_string_append_c (s, '"');
  return s;
}

static void
add_string (GString *s, const char *key, const char *value)
{
  g_string_append_printf (s, ",\"%s\":", key);
  metered_json_append_string (s, value, -1);
}

static void
add_raw (GString *s, const char *key, const char *json)
{
  g_string_append_printf (s, ",\"%s\":", key);
  g_string_append (s, json);
}

static void
add_int (GString *s, const char *key, gint64 value)
{
  g_string_append_printf (s, ",\"%s\":%" G_GINT64_FORMAT, key, value);
}

static char *
frame_end (GString *s)
{
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

char *
metered_frame_build_subscribe (const char *channel, const char *request_id,
    gboolean include_sender_metadata)
{
  GString *s;

  g_return_val_if_fail (channel != NULL, NULL);

  s = frame_begin ("subscribe");
  add_string (s, "channel", channel);
  if (request_id)
    add_string (s, "requestId", request_id);
  if (include_sender_metadata)
    add_raw (s, "includeSenderMetadata", "true");
  return frame_end (s);
}

char *
metered_frame_build_unsubscribe (const char *channel, const char *request_id)
{
  GString *s;

  g_return_val_if_fail (channel != NULL, NULL);

  s = frame_begin ("unsubscribe");
  add_string (s, "channel", channel);
  if (request_id)
    add_string (s, "requestId", request_id);
  return frame_end (s);
}

/* publish and send: type, target, data, requestId, in the SDK's order. */
static char *
build_data_request (const char *type, const char *target_key,
    const char *target, const char *data_json, const char *request_id)
{
  GString *s;

  g_return_val_if_fail (target != NULL, NULL);

  s = frame_begin (type);
  add_string (s, target_key, target);
  add_raw (s, "data", data_json ? data_json : "null");
  if (request_id)
    add_string (s, "requestId", request_id);
  return frame_end (s);
}

char *
metered_frame_build_publish (
    const char *channel, const char *data_json, const char *request_id)
{
  return build_data_request (
      "publish", "channel", channel, data_json, request_id);
}

char *
metered_frame_build_send (
    const char *to, const char *data_json, const char *request_id)
{
  return build_data_request ("send", "to", to, data_json, request_id);
}

char *
metered_frame_build_ping (void)
{
  return g_strdup ("{\"type\":\"ping\"}");
}

char *
metered_frame_build_welcome (const char *peer_id, gint64 expires_at,
    gint64 server_time, gint64 max_message_size, const char *metadata_json)
{
  GString *s;

  g_return_val_if_fail (peer_id != NULL, NULL);

  s = frame_begin ("welcome");
  add_string (s, "peerId", peer_id);
  if (expires_at < 0)
    add_raw (s, "expiresAt", "null");
  else
    add_int (s, "expiresAt", expires_at);
  add_int (s, "serverTime", server_time);
  add_int (s, "maxMessageSize", max_message_size);
  if (metadata_json)
    add_raw (s, "metadata", metadata_json);
  return frame_end (s);
}

char *
metered_frame_build_ack (const char *request_id)
{
  GString *s;

  g_return_val_if_fail (request_id != NULL, NULL);

  s = frame_begin ("ack");
  add_string (s, "requestId", request_id);
  return frame_end (s);
}

char *
metered_frame_build_error (
    const char *code, const char *message, const char *request_id)
{
  GString *s;

  g_return_val_if_fail (code != NULL, NULL);

  s = frame_begin ("error");
  if (request_id)
    add_string (s, "requestId", request_id);
  add_string (s, "code", code);
  if (message)
    add_string (s, "message", message);
  return frame_end (s);
}

char *
metered_frame_build_message (const char *channel, const char *from,
    const char *data_json, const char *from_metadata_json)
{
  GString *s;

  g_return_val_if_fail (channel != NULL, NULL);
  g_return_val_if_fail (from != NULL, NULL);

  s = frame_begin ("message");
  add_string (s, "channel", channel);
  add_string (s, "from", from);
  add_raw (s, "data", data_json ? data_json : "null");
  if (from_metadata_json)
    add_raw (s, "fromMetadata", from_metadata_json);
  return frame_end (s);
}

char *
metered_frame_build_direct (
    const char *from, const char *data_json, const char *from_metadata_json)
{
  GString *s;

  g_return_val_if_fail (from != NULL, NULL);

  s = frame_begin ("direct");
  add_string (s, "from", from);
  add_raw (s, "data", data_json ? data_json : "null");
  if (from_metadata_json)
    add_raw (s, "fromMetadata", from_metadata_json);
  return frame_end (s);
}

static void
add_presence_list (
    GString *s, const char *key, const MeteredPresenceEntry *entries, guint n)
{
  guint i;

  g_string_append_printf (s, ",\"%s\":[", key);
  for (i = 0; i < n; i++) {
    if (i > 0)
      g_string_append_c (s, ',');
    g_string_append (s, "{\"peerId\":");
    metered_json_append_string (s, entries[i].peer_id, -1);
    if (entries[i].metadata)
      add_raw (s, "metadata", entries[i].metadata);
    g_string_append_c (s, '}');
  }
  g_string_append_c (s, ']');
}

char *
metered_frame_build_presence (const char *channel,
    const MeteredPresenceEntry *joined, guint n_joined,
    const MeteredPresenceEntry *left, guint n_left)
{
  GString *s;

  g_return_val_if_fail (channel != NULL, NULL);
  g_return_val_if_fail (joined != NULL || n_joined == 0, NULL);
  g_return_val_if_fail (left != NULL || n_left == 0, NULL);

  s = frame_begin ("presence");
  add_string (s, "channel", channel);
  add_presence_list (s, "joined", joined, n_joined);
  add_presence_list (s, "left", left, n_left);
  return frame_end (s);
}

char *
metered_frame_build_going_away (gint64 retry_after_ms)
{
  GString *s = frame_begin ("going_away");

  add_int (s, "retryAfterMs", retry_after_ms);
  return frame_end (s);
}

char *
metered_frame_build_pong (void)
{
  return g_strdup ("{\"type\":\"pong\"}");
}

/* ------------------------------------------------------------------ */
/* Channel history extension (docs/protocol.md)                       */
/* ------------------------------------------------------------------ */

static void
add_uint (GString *s, const char *key, guint64 value)
{
  g_string_append_printf (s, ",\"%s\":%" G_GUINT64_FORMAT, key, value);
}

char *
metered_frame_build_subscribe_history (const char *channel,
    const char *request_id, gboolean include_sender_metadata, const char *epoch,
    guint64 seq)
{
  char *plain = metered_frame_build_subscribe (
      channel, request_id, include_sender_metadata);
  GString *s;

  g_return_val_if_fail (plain != NULL, NULL);

  /* The plain frame minus its closing brace, then the extension. */
  s = g_string_new (plain);
  g_free (plain);
  g_string_truncate (s, s->len - 1);
  g_string_append (s, ",\"history\":{");
  if (epoch) {
    g_string_append (s, "\"epoch\":");
    metered_json_append_string (s, epoch, -1);
    g_string_append_printf (s, ",\"seq\":%" G_GUINT64_FORMAT, seq);
  }
  g_string_append_c (s, '}');
  return frame_end (s);
}

char *
metered_frame_build_send_held (
    const char *to, const char *data_json, const char *request_id)
{
  char *plain = metered_frame_build_send (to, data_json, request_id);
  GString *s;

  g_return_val_if_fail (plain != NULL, NULL);

  s = g_string_new (plain);
  g_free (plain);
  g_string_truncate (s, s->len - 1);
  add_raw (s, "hold", "true");
  return frame_end (s);
}

char *
metered_frame_build_message_stamped (const char *channel, const char *from,
    const char *data_json, const char *from_metadata_json, const char *epoch,
    guint64 seq)
{
  char *plain = metered_frame_build_message (
      channel, from, data_json, from_metadata_json);
  GString *s;

  g_return_val_if_fail (plain != NULL && epoch != NULL, NULL);

  s = g_string_new (plain);
  g_free (plain);
  g_string_truncate (s, s->len - 1);
  add_string (s, "epoch", epoch);
  add_uint (s, "seq", seq);
  return frame_end (s);
}

char *
metered_frame_build_history (const char *channel, const char *status,
    const char *epoch, guint64 seq, gint64 count)
{
  GString *s;

  g_return_val_if_fail (channel != NULL && status != NULL, NULL);
  g_return_val_if_fail (epoch != NULL, NULL);

  s = frame_begin ("history");
  add_string (s, "channel", channel);
  add_string (s, "status", status);
  add_string (s, "epoch", epoch);
  add_uint (s, "seq", seq);
  if (g_str_equal (status, METERED_HISTORY_STATUS_LOST)) {
    if (count < 0)
      add_raw (s, "missed", "null");
    else
      add_int (s, "missed", count);
  } else if (g_str_equal (status, METERED_HISTORY_STATUS_RESUMED)) {
    add_int (s, "replayed", MAX (count, 0));
  }
  return frame_end (s);
}
