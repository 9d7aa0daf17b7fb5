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

#include "metered-history.h"

#include <string.h>

typedef struct _Channel Channel;

/* One allocation per message: the record and its three strings. The
 * global link orders every stored entry by append time, so the memory
 * bound drops the oldest message of any channel in O(1). */
typedef struct
{
  GList global_link; /* data points back at the entry */
  Channel *channel;
  guint64 seq;
  gint64 expires_ms;
  gsize size;
  const char *from;
  const char *data;
  const char *from_metadata;
  char strings[];
} Entry;

/* A channel's entries are a ring, oldest at start: their sequence
 * numbers are consecutive, so a position maps to an index directly. */
struct _Channel
{
  char *key;
  char *epoch;
  guint64 last_seq;
  Entry **ring;
  guint cap;
  guint start;
  guint len;
};

struct _MeteredHistory
{
  char *server_epoch;
  guint64 max_bytes;
  guint max_channels;
  guint64 next_channel_id;
  GHashTable *channels; /* key -> Channel* */
  GQueue order; /* every Entry, oldest first */
  MeteredHistoryStats stats;
};

static gsize
slot_size (void)
{
  return sizeof (Entry *);
}

gsize
metered_history_entry_overhead (void)
{
  return sizeof (Entry) + slot_size ();
}

static Entry *
channel_head (Channel *ch)
{
  return ch->len ? ch->ring[ch->start] : NULL;
}

static void
entry_drop (MeteredHistory *history, Channel *ch, guint64 *counter)
{
  Entry *e = channel_head (ch);

  ch->ring[ch->start] = NULL;
  ch->start = (ch->start + 1) % ch->cap;
  ch->len--;
  g_queue_unlink (&history->order, &e->global_link);
  history->stats.messages--;
  history->stats.bytes -= e->size;
  (*counter)++;
  g_free (e);
}

static void
channel_expire (MeteredHistory *history, Channel *ch, gint64 now_ms)
{
  Entry *e;

  while ((e = channel_head (ch)) && e->expires_ms <= now_ms)
    entry_drop (history, ch, &history->stats.evicted_age);
}

static void
channel_free (MeteredHistory *history, Channel *ch)
{
  guint64 ignored = 0;

  while (ch->len)
    entry_drop (history, ch, &ignored);
  g_free (ch->ring);
  g_free (ch->epoch);
  g_free (ch->key);
  g_free (ch);
}

MeteredHistory *
metered_history_new (
    const char *server_epoch, guint64 max_bytes, guint max_channels)
{
  MeteredHistory *history = g_new0 (MeteredHistory, 1);

  g_return_val_if_fail (server_epoch != NULL, NULL);

  history->server_epoch = g_strdup (server_epoch);
  history->max_bytes = max_bytes;
  history->max_channels = MAX (max_channels, 1);
  history->channels = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&history->order);
  return history;
}

void
metered_history_free (MeteredHistory *history)
{
  GHashTableIter iter;
  gpointer ch;

  if (!history)
    return;
  g_hash_table_iter_init (&iter, history->channels);
  while (g_hash_table_iter_next (&iter, NULL, &ch)) {
    g_hash_table_iter_remove (&iter);
    channel_free (history, ch);
  }
  g_hash_table_unref (history->channels);
  g_free (history->server_epoch);
  g_free (history);
}

/* Beyond max_channels, records with nothing stored are dropped: their
 * numbering restarts in a new epoch, which a resuming subscriber is told
 * as a lost continuity, never as a silent gap. */
static void
drop_empty_channels (MeteredHistory *history)
{
  GHashTableIter iter;
  gpointer ch;

  g_hash_table_iter_init (&iter, history->channels);
  while (g_hash_table_iter_next (&iter, NULL, &ch)) {
    if (((Channel *) ch)->len == 0) {
      g_hash_table_iter_remove (&iter);
      channel_free (history, ch);
    }
  }
}

static Channel *
channel_get (MeteredHistory *history, const char *key)
{
  Channel *ch = g_hash_table_lookup (history->channels, key);

  if (ch)
    return ch;
  if (g_hash_table_size (history->channels) >= history->max_channels)
    drop_empty_channels (history);
  ch = g_new0 (Channel, 1);
  ch->key = g_strdup (key);
  ch->epoch = g_strdup_printf ("%s.%" G_GINT64_MODIFIER "x",
      history->server_epoch, history->next_channel_id++);
  g_hash_table_insert (history->channels, ch->key, ch);
  return ch;
}

static void
channel_push (Channel *ch, Entry *e)
{
  if (ch->len == ch->cap) {
    guint cap = ch->cap ? ch->cap * 2 : 16;
    Entry **ring = g_new0 (Entry *, cap);

    for (guint i = 0; i < ch->len; i++)
      ring[i] = ch->ring[(ch->start + i) % ch->cap];
    g_free (ch->ring);
    ch->ring = ring;
    ch->cap = cap;
    ch->start = 0;
  }
  ch->ring[(ch->start + ch->len) % ch->cap] = e;
  ch->len++;
}

static char *
copy_string (char **cursor, const char *s, gsize len)
{
  char *out = *cursor;

  memcpy (out, s, len);
  out[len] = '\0';
  *cursor += len + 1;
  return out;
}

guint64
metered_history_append (MeteredHistory *history, const char *channel,
    const MeteredHistoryLimits *limits, const char *from, const char *data_json,
    const char *from_metadata_json, gint64 now_ms)
{
  Channel *ch;
  Entry *e;
  gsize from_len, data_len, md_len, size;
  char *cursor;

  g_return_val_if_fail (history != NULL && channel != NULL, 0);
  g_return_val_if_fail (limits != NULL && from != NULL, 0);

  if (!data_json)
    data_json = "null";
  ch = channel_get (history, channel);
  ch->last_seq++;
  channel_expire (history, ch, now_ms);
  if (limits->max_messages == 0 || limits->max_age_ms <= 0)
    return ch->last_seq;

  from_len = strlen (from);
  data_len = strlen (data_json);
  md_len = from_metadata_json ? strlen (from_metadata_json) : 0;
  size = sizeof (Entry) + from_len + 1 + data_len + 1 +
         (from_metadata_json ? md_len + 1 : 0);
  e = g_malloc (size);
  e->global_link.data = e;
  e->global_link.prev = e->global_link.next = NULL;
  e->channel = ch;
  e->seq = ch->last_seq;
  e->expires_ms = now_ms + limits->max_age_ms;
  e->size = size + slot_size ();
  cursor = e->strings;
  e->from = copy_string (&cursor, from, from_len);
  e->data = copy_string (&cursor, data_json, data_len);
  e->from_metadata = from_metadata_json
                         ? copy_string (&cursor, from_metadata_json, md_len)
                         : NULL;

  while (ch->len >= limits->max_messages)
    entry_drop (history, ch, &history->stats.evicted_count);
  channel_push (ch, e);
  g_queue_push_tail_link (&history->order, &e->global_link);
  history->stats.messages++;
  history->stats.bytes += e->size;

  /* Oldest first across channels: that entry is always the head of its
   * own channel, as each channel appends in order too. */
  while (history->stats.bytes > history->max_bytes && history->order.head) {
    Entry *oldest = history->order.head->data;
    g_assert (channel_head (oldest->channel) == oldest);
    entry_drop (history, oldest->channel, &history->stats.evicted_memory);
  }
  return e->seq;
}

const char *
metered_history_position (
    MeteredHistory *history, const char *channel, guint64 *last_seq)
{
  Channel *ch = channel_get (history, channel);

  if (last_seq)
    *last_seq = ch->last_seq;
  return ch->epoch;
}

MeteredHistoryGap
metered_history_gap (MeteredHistory *history, const char *channel,
    const char *epoch, guint64 seq, gint64 now_ms, gint64 *missed)
{
  Channel *ch = channel_get (history, channel);
  Entry *head;

  channel_expire (history, ch, now_ms);
  if (!epoch || !g_str_equal (epoch, ch->epoch) || seq > ch->last_seq) {
    *missed = -1;
    return METERED_HISTORY_EPOCH_CHANGED;
  }
  *missed = (gint64) (ch->last_seq - seq);
  if (*missed == 0)
    return METERED_HISTORY_COMPLETE;
  head = channel_head (ch);
  if (!head || head->seq > seq + 1)
    return METERED_HISTORY_EXPIRED;
  return METERED_HISTORY_COMPLETE;
}

guint
metered_history_read (MeteredHistory *history, const char *channel,
    guint64 after, MeteredHistoryEntry *out, guint max)
{
  Channel *ch = g_hash_table_lookup (history->channels, channel);
  Entry *head;
  guint i, n = 0;

  if (!ch || !(head = channel_head (ch)))
    return 0;
  i = after + 1 > head->seq ? (guint) (after + 1 - head->seq) : 0;
  for (; i < ch->len && n < max; i++, n++) {
    Entry *e = ch->ring[(ch->start + i) % ch->cap];
    out[n].seq = e->seq;
    out[n].from = e->from;
    out[n].data = e->data;
    out[n].from_metadata = e->from_metadata;
  }
  return n;
}

void
metered_history_expire (MeteredHistory *history, gint64 now_ms)
{
  GHashTableIter iter;
  gpointer ch;

  g_hash_table_iter_init (&iter, history->channels);
  while (g_hash_table_iter_next (&iter, NULL, &ch))
    channel_expire (history, ch, now_ms);
}

void
metered_history_get_stats (MeteredHistory *history, MeteredHistoryStats *stats)
{
  *stats = history->stats;
  stats->channels = g_hash_table_size (history->channels);
}
