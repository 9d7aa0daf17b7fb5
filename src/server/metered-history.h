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

/*
 * Channel history: what was published on each channel, numbered, kept
 * for a bounded count and age so a subscriber that comes back can be
 * given what it missed (docs/protocol.md, "Channel history and resume").
 *
 * Pure: no sockets, no clock (callers pass monotonic milliseconds), no
 * main loop. The hub reaches the store only through these functions, so a
 * shared backend (Redis streams, issue 18) can replace this file without
 * the hub changing: a channel is an opaque key, a position is an epoch
 * string plus a sequence number, and entries are read forward from a
 * sequence number.
 *
 * Sequence numbers start at 1 in each epoch of a channel and grow by one
 * per append; an epoch names one unbroken numbering. A channel's epoch
 * changes when its numbering could not be continued: a new process, or
 * the channel's record dropped to bound memory.
 */

typedef struct _MeteredHistory MeteredHistory;

typedef struct
{
  guint max_messages; /* 0: nothing kept, sequence numbers still given */
  gint64 max_age_ms;
} MeteredHistoryLimits;

/* A stored message, valid until the next call that appends or expires. */
typedef struct
{
  guint64 seq;
  const char *from;
  const char *data; /* raw JSON text */
  const char *from_metadata; /* raw JSON object text or NULL */
} MeteredHistoryEntry;

typedef enum
{
  /* Every message after the position is still stored (possibly none). */
  METERED_HISTORY_COMPLETE,
  /* Same epoch, but some of the messages after it are gone. */
  METERED_HISTORY_EXPIRED,
  /* Another epoch (or a position never given): the count is unknown. */
  METERED_HISTORY_EPOCH_CHANGED,
} MeteredHistoryGap;

typedef struct
{
  guint64 messages;
  guint64 bytes; /* entries, their strings and their slots */
  guint channels;
  guint64 evicted_count; /* by a channel's max_messages */
  guint64 evicted_age;
  guint64 evicted_memory; /* by the store's max_bytes */
} MeteredHistoryStats;

/* server_epoch prefixes every channel epoch; max_bytes bounds the whole
 * store (oldest message of any channel dropped first); max_channels
 * bounds channel records (empty ones dropped beyond it). */
MeteredHistory *metered_history_new (
    const char *server_epoch, guint64 max_bytes, guint max_channels);
void metered_history_free (MeteredHistory *history);

/* Numbers and stores one message; returns its sequence number. */
guint64 metered_history_append (MeteredHistory *history, const char *channel,
    const MeteredHistoryLimits *limits, const char *from, const char *data_json,
    const char *from_metadata_json, gint64 now_ms);

/* The channel's current epoch and last sequence number (0: none yet).
 * Returns the epoch (owned by the store, valid until the channel's record
 * is dropped). */
const char *metered_history_position (
    MeteredHistory *history, const char *channel, guint64 *last_seq);

/* What a subscriber that saw everything up to (epoch, seq) missed.
 * *missed is how many messages came after it (-1 when unknown). */
MeteredHistoryGap metered_history_gap (MeteredHistory *history,
    const char *channel, const char *epoch, guint64 seq, gint64 now_ms,
    gint64 *missed);

/* Up to max stored entries with a sequence number above after, oldest
 * first. Returns how many were written to out. A first entry numbered
 * above after + 1 means the ones between are gone. */
guint metered_history_read (MeteredHistory *history, const char *channel,
    guint64 after, MeteredHistoryEntry *out, guint max);

/* Drops entries past their channel's age limit everywhere. */
void metered_history_expire (MeteredHistory *history, gint64 now_ms);

void metered_history_get_stats (
    MeteredHistory *history, MeteredHistoryStats *stats);

/* Bytes one stored entry costs besides its strings (for the bench). */
gsize metered_history_entry_overhead (void);

G_END_DECLS
