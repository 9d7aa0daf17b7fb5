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

/* GTest of meteredsrc's stream table (gst/gstmeteredsrcstreams.c), pure
 * logic without pads or network: keys, pad names, filters, orphans, the
 * ended and removed states. */

#include "gstmeteredsrcstreams.h"

static GstMeteredSrcStream *
add (GstMeteredSrcStreams *t, const char *peer, const char *kind,
    const char *stream_id, const char *track_id)
{
  g_autofree char *key =
      gst_metered_src_stream_key (peer, kind, stream_id, track_id);

  return gst_metered_src_streams_add (t, key, peer, kind, track_id);
}

static void
test_key_and_lookup (void)
{
  GstMeteredSrcStreams t;
  g_autofree char *key =
      gst_metered_src_stream_key ("alice", "video", "s", "t");
  g_autofree char *other =
      gst_metered_src_stream_key ("alice", "audio", "s", "t");
  g_autofree char *none = gst_metered_src_stream_key ("bob", NULL, NULL, NULL);
  GstMeteredSrcStream *st;

  g_assert_cmpstr (key, !=, other);
  g_assert_cmpstr (none, ==, "bob\n\n\n");

  gst_metered_src_streams_init (&t);
  g_assert_null (gst_metered_src_streams_lookup (&t, key));
  st = add (&t, "alice", "video", "s", "t");
  g_assert_true (gst_metered_src_streams_lookup (&t, key) == st);
  g_assert_null (gst_metered_src_streams_lookup (&t, other));
  g_assert_cmpstr (st->peer_id, ==, "alice");
  g_assert_cmpstr (st->kind, ==, "video");
  g_assert_cmpstr (st->track_id, ==, "t");
  g_assert_false (st->ended);
  /* the live table and all */
  g_assert_cmpint (st->refcount, ==, 2);
  gst_metered_src_streams_clear (&t);
}

static void
test_pad_names (void)
{
  GstMeteredSrcStreams t;
  GstMeteredSrcStream *a, *b, *c, *d, *e;

  gst_metered_src_streams_init (&t);
  /* With a role: kind_peer_role, then _1, _2 for the same role. */
  a = add (&t, "alice", "video", "s1", "t1");
  a->role = g_strdup ("camera");
  b = add (&t, "alice", "video", "s2", "t2");
  b->role = g_strdup ("camera");
  g_assert_cmpstr (
      gst_metered_src_streams_name_pad (&t, a), ==, "video_alice_camera");
  g_assert_cmpstr (
      gst_metered_src_streams_name_pad (&t, b), ==, "video_alice_camera_1");
  g_assert_cmpstr (a->pad_name, ==, "video_alice_camera");

  /* Without: a counter per peer and kind. */
  c = add (&t, "alice", "audio", "s3", "t3");
  d = add (&t, "alice", "audio", "s4", "t4");
  g_assert_cmpstr (
      gst_metered_src_streams_name_pad (&t, c), ==, "audio_alice_0");
  g_assert_cmpstr (
      gst_metered_src_streams_name_pad (&t, d), ==, "audio_alice_1");

  /* Characters other than letters, digits, - and _ become -. */
  e = add (&t, "bob@example.com", "video", "s5", "t5");
  e->role = g_strdup ("screen share");
  g_assert_cmpstr (gst_metered_src_streams_name_pad (&t, e), ==,
      "video_bob-example-com_screen-share");

  /* A removed pad's name is free again; the counter goes on. */
  g_assert_true (gst_metered_src_streams_mark_removed (&t, a));
  g_assert_false (gst_metered_src_streams_mark_removed (&t, a));
  g_assert_true (gst_metered_src_streams_mark_removed (&t, d));
  {
    GstMeteredSrcStream *f = add (&t, "alice", "video", "s6", "t6");
    GstMeteredSrcStream *g = add (&t, "alice", "audio", "s7", "t7");
    f->role = g_strdup ("camera");
    g_assert_cmpstr (
        gst_metered_src_streams_name_pad (&t, f), ==, "video_alice_camera");
    g_assert_cmpstr (
        gst_metered_src_streams_name_pad (&t, g), ==, "audio_alice_2");
  }

  /* After a reset (the element stopped) the counters start again. */
  gst_metered_src_streams_reset (&t);
  {
    GstMeteredSrcStream *h = add (&t, "carol", "audio", "s8", "t8");
    g_assert_cmpstr (
        gst_metered_src_streams_name_pad (&t, h), ==, "audio_carol_0");
  }
  gst_metered_src_streams_clear (&t);
}

static void
test_role_and_filters (void)
{
  GstMeteredSrcStreams t;
  GstMeteredSrcStream *st;
  char *role;

  role = gst_metered_src_role_from_metadata ("{\"role\":\"camera\",\"x\":1}");
  g_assert_cmpstr (role, ==, "camera");
  g_free (role);
  g_assert_null (gst_metered_src_role_from_metadata (NULL));
  g_assert_null (gst_metered_src_role_from_metadata ("not json"));
  g_assert_null (gst_metered_src_role_from_metadata ("[\"role\"]"));
  g_assert_null (gst_metered_src_role_from_metadata ("{\"role\":\"\"}"));
  g_assert_null (gst_metered_src_role_from_metadata ("{\"other\":1}"));

  gst_metered_src_streams_init (&t);
  st = add (&t, "alice", "video", "s", "t");
  st->role = g_strdup ("camera");
  g_assert_true (gst_metered_src_stream_accepted (st, NULL, NULL));
  g_assert_true (gst_metered_src_stream_accepted (st, "alice", NULL));
  g_assert_true (gst_metered_src_stream_accepted (st, "alice", "camera"));
  g_assert_false (gst_metered_src_stream_accepted (st, "bob", NULL));
  g_assert_false (gst_metered_src_stream_accepted (st, NULL, "screen"));
  g_clear_pointer (&st->role, g_free);
  g_assert_false (gst_metered_src_stream_accepted (st, NULL, "camera"));
  gst_metered_src_streams_clear (&t);
}

static void
test_take_and_forget (void)
{
  GstMeteredSrcStreams t;
  g_autofree char *key =
      gst_metered_src_stream_key ("alice", "video", "s", "t");
  GstMeteredSrcStream *st, *taken;
  g_autoptr (GPtrArray) peers = NULL;
  g_autoptr (GPtrArray) all = NULL;

  gst_metered_src_streams_init (&t);
  st = add (&t, "alice", "video", "s", "t");
  add (&t, "alice", "audio", "s", "a");
  add (&t, "bob", "video", "s", "b");

  peers = gst_metered_src_streams_of_peer (&t, "alice");
  g_assert_cmpuint (peers->len, ==, 2);
  g_ptr_array_set_free_func (
      peers, (GDestroyNotify) gst_metered_src_stream_unref);

  /* An ended stream leaves the live table but not all (its pad is still
   * to be removed), and is no longer the peer's. */
  taken = gst_metered_src_streams_take (&t, st);
  g_assert_true (taken == st);
  g_assert_true (st->ended);
  g_assert_null (gst_metered_src_streams_lookup (&t, key));
  g_clear_pointer (&peers, g_ptr_array_unref);
  peers = gst_metered_src_streams_of_peer (&t, "alice");
  g_assert_cmpuint (peers->len, ==, 1);
  g_ptr_array_set_free_func (
      peers, (GDestroyNotify) gst_metered_src_stream_unref);
  all = gst_metered_src_streams_dup_all (&t);
  g_assert_cmpuint (all->len, ==, 3);
  g_ptr_array_set_free_func (
      all, (GDestroyNotify) gst_metered_src_stream_unref);

  /* Removed and forgotten: only our reference is left. */
  g_assert_true (gst_metered_src_streams_mark_removed (&t, st));
  gst_metered_src_streams_forget (&t, st);
  gst_metered_src_streams_forget (&t, st);
  g_clear_pointer (&all, g_ptr_array_unref);
  all = gst_metered_src_streams_dup_all (&t);
  g_assert_cmpuint (all->len, ==, 2);
  g_assert_cmpint (st->refcount, ==, 1);
  gst_metered_src_stream_unref (taken);
  g_ptr_array_set_free_func (
      all, (GDestroyNotify) gst_metered_src_stream_unref);
  gst_metered_src_streams_clear (&t);
}

static void
count_free (gpointer data)
{
  (*(guint *) data)++;
}

static void
test_orphan_and_alias (void)
{
  GstMeteredSrcStreams t;
  g_autofree char *new_key =
      gst_metered_src_stream_key ("alice", "video", "s2", "t2");
  GstMeteredSrcStream *old, *other, *st, *taken;
  guint freed = 0;

  gst_metered_src_streams_init (&t);
  /* A camera pad, exposed, fed by a connection that went away. */
  old = add (&t, "alice", "video", "s1", "t1");
  old->role = g_strdup ("camera");
  old->meta_known = TRUE;
  old->exposed = TRUE;
  old->media = &freed;
  old->media_free = count_free;
  /* Another role, and another peer's camera: never orphans of ours. */
  other = add (&t, "alice", "video", "s3", "t3");
  other->role = g_strdup ("screen");
  other->meta_known = TRUE;
  other->exposed = TRUE;
  st = add (&t, "bob", "video", "s4", "t4");
  st->role = g_strdup ("camera");
  st->meta_known = TRUE;
  st->exposed = TRUE;

  /* The same track under new ids. */
  st = gst_metered_src_streams_add (&t, new_key, "alice", "video", "t2");
  g_assert_true (gst_metered_src_streams_find_orphan (&t, st, "camera") == old);
  g_assert_null (gst_metered_src_streams_find_orphan (&t, st, "mic"));
  g_assert_null (gst_metered_src_streams_find_orphan (&t, st, NULL));

  /* Still fed, ended, filtered or never shown: not an orphan. */
  old->fed = TRUE;
  g_assert_null (gst_metered_src_streams_find_orphan (&t, st, "camera"));
  old->fed = FALSE;
  old->filtered = TRUE;
  g_assert_null (gst_metered_src_streams_find_orphan (&t, st, "camera"));
  old->filtered = FALSE;
  old->exposed = FALSE;
  g_assert_null (gst_metered_src_streams_find_orphan (&t, st, "camera"));
  old->exposing = TRUE;
  g_assert_true (gst_metered_src_streams_find_orphan (&t, st, "camera") == old);

  /* The new key's stream is dropped, the orphan continues under it. */
  taken = gst_metered_src_streams_take (&t, st);
  gst_metered_src_streams_alias (&t, new_key, old);
  g_assert_true (gst_metered_src_streams_lookup (&t, new_key) == old);
  g_assert_true (gst_metered_src_streams_mark_removed (&t, taken));
  gst_metered_src_streams_forget (&t, taken);
  gst_metered_src_stream_unref (taken);

  /* Taking the orphan removes it under both keys. */
  taken = gst_metered_src_streams_take (&t, old);
  g_assert_null (gst_metered_src_streams_lookup (&t, new_key));
  g_assert_null (gst_metered_src_streams_lookup (&t, old->key));
  gst_metered_src_stream_unref (taken);
  g_assert_cmpuint (freed, ==, 0);
  /* The media goes with the last reference. */
  gst_metered_src_streams_clear (&t);
  g_assert_cmpuint (freed, ==, 1);
}

static GstMeteredSrcTrackMatch
match (GstMeteredSrcStreams *t, const char *peer, const char *kind,
    const char *stream_id, const char *track_id, GstMeteredSrcStream **st)
{
  g_autofree char *key =
      gst_metered_src_stream_key (peer, kind, stream_id, track_id);

  return gst_metered_src_streams_match (t, key, peer, kind, track_id, st);
}

/* A publishable-key sender comes back under a new peer id (server
 * restart, socket drop): its track continues on the same stream. */
static void
test_new_peer_claims_track (void)
{
  GstMeteredSrcStreams t;
  GstMeteredSrcStream *old, *st = NULL;
  g_autofree char *old_key =
      gst_metered_src_stream_key ("p1", "video", "s", "cam");
  g_autofree char *new_key =
      gst_metered_src_stream_key ("p2", "video", "s", "cam");

  gst_metered_src_streams_init (&t);
  g_assert_cmpint (match (&t, "p1", "video", "s", "cam", &st), ==,
      GST_METERED_SRC_TRACK_NEW);
  old = add (&t, "p1", "video", "s", "cam");
  old->fed = TRUE;
  g_assert_cmpstr (
      gst_metered_src_streams_name_pad (&t, old), ==, "video_p1_0");
  g_assert_cmpint (match (&t, "p1", "video", "s", "cam", &st), ==,
      GST_METERED_SRC_TRACK_KNOWN);
  g_assert_true (st == old);

  /* p2 sends the same track (p1 may still be draining): p2 takes it. */
  st = NULL;
  g_assert_cmpint (match (&t, "p2", "video", "s", "cam", &st), ==,
      GST_METERED_SRC_TRACK_CLAIMED);
  g_assert_true (st == old);
  g_assert_cmpstr (old->peer_id, ==, "p2");
  g_assert_cmpstr (old->pad_name, ==, "video_p1_0");
  g_assert_false (old->fed);
  g_assert_true (gst_metered_src_streams_lookup (&t, new_key) == old);
  g_assert_null (gst_metered_src_streams_lookup (&t, old_key));
  /* From now on it is p2's. */
  g_assert_cmpint (match (&t, "p2", "video", "s", "cam", &st), ==,
      GST_METERED_SRC_TRACK_KNOWN);
  {
    g_autoptr (GPtrArray) of_p1 = gst_metered_src_streams_of_peer (&t, "p1");
    g_autoptr (GPtrArray) of_p2 = gst_metered_src_streams_of_peer (&t, "p2");
    g_assert_cmpuint (of_p1->len, ==, 0);
    g_assert_cmpuint (of_p2->len, ==, 1);
    gst_metered_src_stream_unref (g_ptr_array_index (of_p2, 0));
  }
  /* p1's late media is stale, and p1 never takes it back. */
  st = NULL;
  g_assert_cmpint (match (&t, "p1", "video", "s", "cam", &st), ==,
      GST_METERED_SRC_TRACK_STALE);
  g_assert_true (st == old);
  g_assert_cmpstr (old->peer_id, ==, "p2");
  /* A third id (another restart) claims it again. */
  g_assert_cmpint (match (&t, "p3", "video", "s2", "cam", &st), ==,
      GST_METERED_SRC_TRACK_CLAIMED);
  g_assert_true (st == old);
  g_assert_cmpint (match (&t, "p2", "video", "s", "cam", &st), ==,
      GST_METERED_SRC_TRACK_STALE);
  gst_metered_src_streams_clear (&t);
}

/* Another track id, or another kind under the same id: a new stream. */
static void
test_other_track_is_new (void)
{
  GstMeteredSrcStreams t;
  GstMeteredSrcStream *video, *audio, *st = NULL;

  gst_metered_src_streams_init (&t);
  video = add (&t, "p1", "video", "s", "t1");
  audio = add (&t, "p1", "audio", "s", "t1");
  g_assert_cmpint (
      match (&t, "p2", "video", "s", "t2", &st), ==, GST_METERED_SRC_TRACK_NEW);
  g_assert_null (st);
  g_assert_cmpint (
      match (&t, "p2", NULL, "s", NULL, &st), ==, GST_METERED_SRC_TRACK_NEW);

  /* Two kinds: each claims its own. */
  g_assert_cmpint (match (&t, "p2", "audio", "s", "t1", &st), ==,
      GST_METERED_SRC_TRACK_CLAIMED);
  g_assert_true (st == audio);
  g_assert_cmpstr (video->peer_id, ==, "p1");
  g_assert_cmpint (match (&t, "p2", "video", "s", "t1", &st), ==,
      GST_METERED_SRC_TRACK_CLAIMED);
  g_assert_true (st == video);
  g_assert_cmpstr (video->peer_id, ==, "p2");

  /* A filtered stream is never continued (the newcomer is judged anew). */
  st = add (&t, "p4", "video", "s", "t9");
  st->filtered = TRUE;
  g_assert_cmpint (
      match (&t, "p5", "video", "s", "t9", &st), ==, GST_METERED_SRC_TRACK_NEW);
  gst_metered_src_streams_clear (&t);
}

/* The peer left: a claim within dead-peer-timeout continues the stream;
 * after it, the stream ended and a newcomer gets a new one. */
static void
test_claim_after_leave (void)
{
  GstMeteredSrcStreams t;
  GstMeteredSrcStream *a, *b, *st = NULL, *taken;
  guint serial, stale;

  gst_metered_src_streams_init (&t);
  a = add (&t, "p1", "video", "s", "t1");
  serial = gst_metered_src_streams_peer_left (&t, a);
  g_assert_true (a->left);
  g_assert_cmpint (match (&t, "p2", "video", "s", "t1", &st), ==,
      GST_METERED_SRC_TRACK_CLAIMED);
  g_assert_false (a->left);
  g_assert_false (gst_metered_src_streams_left_expired (&t, a, serial));

  /* Left again (p2), its own peer back in time: no end either. */
  serial = gst_metered_src_streams_peer_left (&t, a);
  g_assert_cmpint (match (&t, "p2", "video", "s", "t1", &st), ==,
      GST_METERED_SRC_TRACK_KNOWN);
  g_assert_false (gst_metered_src_streams_left_expired (&t, a, serial));

  /* Left, an older timer fires late, then the current one: it ends. */
  stale = serial;
  serial = gst_metered_src_streams_peer_left (&t, a);
  g_assert_false (gst_metered_src_streams_left_expired (&t, a, stale));
  g_assert_true (gst_metered_src_streams_left_expired (&t, a, serial));
  taken = gst_metered_src_streams_take (&t, a);
  g_assert_false (gst_metered_src_streams_left_expired (&t, a, serial));

  /* A claim after the timeout: a new stream, a new pad. */
  g_assert_cmpint (
      match (&t, "p3", "video", "s", "t1", &st), ==, GST_METERED_SRC_TRACK_NEW);
  b = add (&t, "p3", "video", "s", "t1");
  g_assert_true (b != a);
  g_assert_cmpint (match (&t, "p3", "video", "s", "t1", &st), ==,
      GST_METERED_SRC_TRACK_KNOWN);
  g_assert_true (st == b);
  gst_metered_src_stream_unref (taken);
  gst_metered_src_streams_clear (&t);
}

/* Role mode: one stream per kind and role, the newest sender feeds it. */
static void
test_role_mode (void)
{
  GstMeteredSrcStreams t;
  GstMeteredSrcStream *cam, *st, *holder = NULL, *taken;
  g_autofree char *old_key =
      gst_metered_src_stream_key ("p1", "video", "s1", "t1");
  g_autofree char *new_key =
      gst_metered_src_stream_key ("p2", "video", "s2", "t2");

  gst_metered_src_streams_init (&t);
  t.by_role = TRUE;
  cam = add (&t, "p1", "video", "s1", "t1");
  cam->role = g_strdup ("camera");
  cam->meta_known = TRUE;
  g_assert_cmpstr (
      gst_metered_src_streams_name_pad (&t, cam), ==, "video_camera");

  /* No holder for another role, or without a role: nothing taken. */
  st = add (&t, "p2", "video", "s2", "t2");
  g_assert_null (
      gst_metered_src_streams_claim_role (&t, st, "screen", &holder));
  g_assert_null (holder);
  g_assert_null (gst_metered_src_streams_claim_role (&t, st, NULL, &holder));
  /* Not in role mode: nothing either. */
  t.by_role = FALSE;
  g_assert_null (
      gst_metered_src_streams_claim_role (&t, st, "camera", &holder));
  t.by_role = TRUE;

  /* A reloaded page (new peer, new track ids) takes the camera pad. */
  taken = gst_metered_src_streams_claim_role (&t, st, "camera", &holder);
  g_assert_true (taken == st);
  g_assert_true (holder == cam);
  g_assert_true (st->ended);
  g_assert_cmpstr (cam->peer_id, ==, "p2");
  g_assert_cmpstr (cam->track_id, ==, "t2");
  g_assert_cmpstr (cam->pad_name, ==, "video_camera");
  g_assert_cmpstr (g_ptr_array_index (cam->former_peers, 0), ==, "p1");
  g_assert_true (gst_metered_src_streams_lookup (&t, new_key) == cam);
  g_assert_null (gst_metered_src_streams_lookup (&t, old_key));
  /* The old sender's media is stale from now on. */
  g_assert_cmpint (match (&t, "p1", "video", "s1", "t1", &st), ==,
      GST_METERED_SRC_TRACK_STALE);
  g_assert_true (st == cam);
  g_assert_cmpint (match (&t, "p2", "video", "s2", "t2", &st), ==,
      GST_METERED_SRC_TRACK_KNOWN);
  gst_metered_src_stream_unref (taken);

  /* Audio of that role is a pad of its own. */
  st = add (&t, "p2", "audio", "s2", "a2");
  g_assert_null (
      gst_metered_src_streams_claim_role (&t, st, "camera", &holder));
  st->role = g_strdup ("camera");
  g_assert_cmpstr (
      gst_metered_src_streams_name_pad (&t, st), ==, "audio_camera");
  gst_metered_src_streams_clear (&t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_test_add_func ("/src-streams/key-and-lookup", test_key_and_lookup);
  g_test_add_func ("/src-streams/pad-names", test_pad_names);
  g_test_add_func ("/src-streams/role-and-filters", test_role_and_filters);
  g_test_add_func ("/src-streams/take-and-forget", test_take_and_forget);
  g_test_add_func ("/src-streams/orphan-and-alias", test_orphan_and_alias);
  g_test_add_func (
      "/src-streams/new-peer-claims-track", test_new_peer_claims_track);
  g_test_add_func ("/src-streams/other-track-is-new", test_other_track_is_new);
  g_test_add_func ("/src-streams/claim-after-leave", test_claim_after_leave);
  g_test_add_func ("/src-streams/role-mode", test_role_mode);
  return g_test_run ();
}
