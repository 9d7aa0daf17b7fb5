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

/* The channel history store (src/server/metered-history.c): numbering,
 * count, age and memory limits, gaps and epochs. */

#include "metered-history.h"

static const MeteredHistoryLimits roomy = { 1000, 60000 };

static void
append_n (MeteredHistory *h, const char *ch, const MeteredHistoryLimits *l,
    guint n, gint64 now)
{
  for (guint i = 0; i < n; i++) {
    g_autofree char *data = g_strdup_printf ("{\"i\":%u}", i);
    metered_history_append (h, ch, l, "p", data, NULL, now);
  }
}

static void
test_numbering_and_read (void)
{
  MeteredHistory *h = metered_history_new ("e", 1 << 20, 10);
  MeteredHistoryEntry out[8];
  guint64 last;
  const char *epoch;

  g_assert_cmpuint (
      metered_history_append (h, "a", &roomy, "p1", "1", "{\"m\":1}", 0), ==,
      1);
  g_assert_cmpuint (
      metered_history_append (h, "a", &roomy, "p2", NULL, NULL, 0), ==, 2);
  g_assert_cmpuint (
      metered_history_append (h, "b", &roomy, "p1", "3", NULL, 0), ==, 1);
  epoch = metered_history_position (h, "a", &last);
  g_assert_cmpuint (last, ==, 2);
  g_assert_cmpstr (epoch, !=, metered_history_position (h, "b", NULL));
  g_assert_true (g_str_has_prefix (epoch, "e."));

  g_assert_cmpuint (metered_history_read (h, "a", 0, out, 8), ==, 2);
  g_assert_cmpuint (out[0].seq, ==, 1);
  g_assert_cmpstr (out[0].from, ==, "p1");
  g_assert_cmpstr (out[0].data, ==, "1");
  g_assert_cmpstr (out[0].from_metadata, ==, "{\"m\":1}");
  g_assert_cmpstr (out[1].data, ==, "null");
  g_assert_null (out[1].from_metadata);
  g_assert_cmpuint (metered_history_read (h, "a", 1, out, 8), ==, 1);
  g_assert_cmpuint (out[0].seq, ==, 2);
  g_assert_cmpuint (metered_history_read (h, "a", 2, out, 8), ==, 0);
  g_assert_cmpuint (metered_history_read (h, "none", 0, out, 8), ==, 0);
  metered_history_free (h);
}

static void
test_gaps (void)
{
  MeteredHistory *h = metered_history_new ("e", 1 << 20, 10);
  MeteredHistoryLimits ten = { 10, 60000 };
  g_autofree char *epoch = NULL;
  gint64 missed;

  append_n (h, "c", &ten, 25, 0);
  epoch = g_strdup (metered_history_position (h, "c", NULL));
  /* 16..25 kept: after 15 is complete, after 14 misses 15 */
  g_assert_cmpint (metered_history_gap (h, "c", epoch, 15, 0, &missed), ==,
      METERED_HISTORY_COMPLETE);
  g_assert_cmpint (missed, ==, 10);
  g_assert_cmpint (metered_history_gap (h, "c", epoch, 14, 0, &missed), ==,
      METERED_HISTORY_EXPIRED);
  g_assert_cmpint (missed, ==, 11);
  g_assert_cmpint (metered_history_gap (h, "c", epoch, 25, 0, &missed), ==,
      METERED_HISTORY_COMPLETE);
  g_assert_cmpint (missed, ==, 0);
  g_assert_cmpint (metered_history_gap (h, "c", "other", 25, 0, &missed), ==,
      METERED_HISTORY_EPOCH_CHANGED);
  g_assert_cmpint (missed, ==, -1);
  /* a position ahead of the channel is not ours */
  g_assert_cmpint (metered_history_gap (h, "c", epoch, 26, 0, &missed), ==,
      METERED_HISTORY_EPOCH_CHANGED);
  metered_history_free (h);
}

static void
test_age_and_zero (void)
{
  MeteredHistory *h = metered_history_new ("e", 1 << 20, 10);
  MeteredHistoryLimits short_age = { 100, 1000 };
  MeteredHistoryLimits off = { 0, 1000 };
  MeteredHistoryStats st;
  g_autofree char *epoch = NULL;
  gint64 missed;

  append_n (h, "c", &short_age, 3, 0);
  append_n (h, "c", &short_age, 2, 600);
  epoch = g_strdup (metered_history_position (h, "c", NULL));
  metered_history_expire (h, 1000);
  metered_history_get_stats (h, &st);
  g_assert_cmpuint (st.messages, ==, 2);
  g_assert_cmpuint (st.evicted_age, ==, 3);
  g_assert_cmpint (metered_history_gap (h, "c", epoch, 3, 1000, &missed), ==,
      METERED_HISTORY_COMPLETE);
  g_assert_cmpint (metered_history_gap (h, "c", epoch, 3, 1600, &missed), ==,
      METERED_HISTORY_EXPIRED);
  g_assert_cmpint (missed, ==, 2);

  /* history off: still numbered, nothing kept */
  append_n (h, "z", &off, 4, 0);
  g_assert_cmpuint (
      metered_history_append (h, "z", &off, "p", "1", NULL, 0), ==, 5);
  metered_history_get_stats (h, &st);
  g_assert_cmpuint (st.messages, ==, 0);
  metered_history_free (h);
}

static void
test_memory_bound (void)
{
  gsize per = metered_history_entry_overhead () + 2 + 9;
  MeteredHistory *h = metered_history_new ("e", per * 50, 10);
  MeteredHistoryEntry out[4];
  MeteredHistoryStats st;

  /* 40 in a, then 40 in b: the oldest of a go first */
  append_n (h, "a", &roomy, 40, 0);
  append_n (h, "b", &roomy, 40, 0);
  metered_history_get_stats (h, &st);
  g_assert_cmpuint (st.bytes, <=, per * 50);
  g_assert_cmpuint (st.messages, >=, 45);
  g_assert_cmpuint (st.messages, <=, 50);
  g_assert_cmpuint (st.evicted_memory, ==, 80 - st.messages);
  g_assert_cmpuint (metered_history_read (h, "a", 0, out, 4), ==, 4);
  g_assert_cmpuint (out[0].seq, ==, 1 + 80 - st.messages);
  g_assert_cmpuint (metered_history_read (h, "b", 0, out, 4), ==, 4);
  g_assert_cmpuint (out[0].seq, ==, 1);
  metered_history_free (h);
}

static void
test_channel_bound (void)
{
  MeteredHistory *h = metered_history_new ("e", 1 << 20, 2);
  MeteredHistoryLimits off = { 0, 1000 };
  MeteredHistoryStats st;
  g_autofree char *epoch = NULL;
  gint64 missed;

  append_n (h, "a", &off, 3, 0);
  epoch = g_strdup (metered_history_position (h, "a", NULL));
  append_n (h, "b", &roomy, 1, 0);
  append_n (h, "c", &roomy, 1, 0); /* "a" is empty: dropped */
  metered_history_get_stats (h, &st);
  g_assert_cmpuint (st.channels, ==, 2);
  /* its numbering restarted in a new epoch: reported, never silent */
  g_assert_cmpint (metered_history_gap (h, "a", epoch, 3, 0, &missed), ==,
      METERED_HISTORY_EPOCH_CHANGED);
  metered_history_free (h);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/history/numbering-and-read", test_numbering_and_read);
  g_test_add_func ("/history/gaps", test_gaps);
  g_test_add_func ("/history/age-and-zero", test_age_and_zero);
  g_test_add_func ("/history/memory-bound", test_memory_bound);
  g_test_add_func ("/history/channel-bound", test_channel_bound);
  return g_test_run ();
}
