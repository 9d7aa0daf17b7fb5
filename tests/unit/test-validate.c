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

#include "protocol/metered-protocol.h"

#include <string.h>

/* n copies of unit (a UTF-8 string), then tail. */
static char *
repeat (const char *unit, guint n, const char *tail)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    g_string_append (s, unit);
  g_string_append (s, tail);
  return g_string_free (s, FALSE);
}

#define EMOJI "\xf0\x9f\x98\x80" /* U+1F600: two UTF-16 units */

static void
test_channel_length (void)
{
  g_autofree char *c256 = repeat ("a", 256, "");
  g_autofree char *c257 = repeat ("a", 257, "");
  g_autofree char *e256 = repeat ("a", 254, EMOJI);
  g_autofree char *e257 = repeat ("a", 255, EMOJI);
  g_autofree char *wide256 = repeat ("\xc3\xa9", 256, ""); /* 512 bytes */
  g_autofree char *wide257 = repeat ("\xc3\xa9", 257, "");

  g_assert_true (metered_channel_is_valid ("room-42"));
  g_assert_true (metered_channel_is_valid ("a"));
  g_assert_false (metered_channel_is_valid (""));
  g_assert_false (metered_channel_is_valid (NULL));
  g_assert_true (metered_channel_is_valid (c256));
  g_assert_false (metered_channel_is_valid (c257));
  g_assert_true (metered_channel_is_valid (e256));
  g_assert_false (metered_channel_is_valid (e257));
  /* Units, not bytes: 256 two-byte characters fit. */
  g_assert_true (metered_channel_is_valid (wide256));
  g_assert_false (metered_channel_is_valid (wide257));
}

static void
test_channel_characters (void)
{
  g_assert_false (metered_channel_is_valid ("a\x01"));
  g_assert_false (metered_channel_is_valid ("\x1f"));
  g_assert_false (metered_channel_is_valid ("a\tb"));
  g_assert_false (metered_channel_is_valid ("a\nb"));
  g_assert_false (metered_channel_is_valid ("a\x7f")); /* DEL */
  g_assert_false (metered_channel_is_valid ("a\xc2\x80")); /* U+0080 */
  g_assert_false (metered_channel_is_valid ("a\xc2\x85")); /* NEL */
  g_assert_false (metered_channel_is_valid ("a\xc2\x9f")); /* U+009F */
  g_assert_true (metered_channel_is_valid ("a\xc2\xa0")); /* U+00A0 */
  g_assert_true (metered_channel_is_valid ("a b"));
  g_assert_true (metered_channel_is_valid ("~/!@#$%^&*()"));
  g_assert_true (metered_channel_is_valid ("room/" EMOJI));
  /* Not UTF-8 at all. */
  g_assert_false (metered_channel_is_valid ("a\xff"));
  g_assert_false (metered_channel_is_valid ("a\xed\xa0\x80"));
  g_assert_false (metered_channel_is_valid ("a\xc0\x80"));
}

static void
test_peer_id (void)
{
  g_autofree char *p128 = repeat ("p", 128, "");
  g_autofree char *p129 = repeat ("p", 129, "");
  g_autofree char *e128 = repeat ("p", 126, EMOJI);
  g_autofree char *e129 = repeat ("p", 127, EMOJI);

  g_assert_true (metered_peer_id_is_valid ("p-a"));
  g_assert_true (
      metered_peer_id_is_valid ("3f1c2f5e-1b2a-4c3d-9e8f-0123456789ab"));
  g_assert_false (metered_peer_id_is_valid (""));
  g_assert_false (metered_peer_id_is_valid (NULL));
  g_assert_true (metered_peer_id_is_valid (p128));
  g_assert_false (metered_peer_id_is_valid (p129));
  g_assert_true (metered_peer_id_is_valid (e128));
  g_assert_false (metered_peer_id_is_valid (e129));
  g_assert_false (metered_peer_id_is_valid ("p\x01"));
  g_assert_false (metered_peer_id_is_valid ("p\x7f"));
  g_assert_false (metered_peer_id_is_valid ("p\xc2\x90"));
  g_assert_false (metered_peer_id_is_valid ("p\xfe"));
}

static void
test_request_id (void)
{
  g_autofree char *r128 = repeat ("r", 128, "");
  g_autofree char *r129 = repeat ("r", 129, "");
  g_autofree char *e128 = repeat ("r", 126, EMOJI);
  g_autofree char *e129 = repeat ("r", 127, EMOJI);

  g_assert_true (
      metered_request_id_is_valid ("6e0ce8b4-d296-4fdc-8fae-87a1756d5092"));
  g_assert_true (metered_request_id_is_valid ("pub-2"));
  g_assert_false (metered_request_id_is_valid (""));
  g_assert_false (metered_request_id_is_valid (NULL));
  g_assert_true (metered_request_id_is_valid (r128));
  g_assert_false (metered_request_id_is_valid (r129));
  g_assert_true (metered_request_id_is_valid (e128));
  g_assert_false (metered_request_id_is_valid (e129));
  /* The SDK applies no control-character check to requestIds. */
  g_assert_true (metered_request_id_is_valid ("r\x01\x7f\xc2\x85"));
  g_assert_false (metered_request_id_is_valid ("r\xff"));
}

static void
test_reserved (void)
{
  g_assert_true (metered_channel_is_reserved ("_metered/x"));
  g_assert_true (metered_channel_is_reserved ("_METERED/x"));
  g_assert_true (metered_channel_is_reserved ("_Internal/a/b"));
  g_assert_true (metered_channel_is_reserved ("_system/"));
  g_assert_true (metered_channel_is_reserved ("_SyStEm/room"));
  g_assert_false (metered_channel_is_reserved ("_metered"));
  g_assert_false (metered_channel_is_reserved ("_metered-x/"));
  g_assert_false (metered_channel_is_reserved ("x_metered/"));
  g_assert_false (metered_channel_is_reserved (" _metered/x"));
  g_assert_false (metered_channel_is_reserved ("room-1"));
  g_assert_false (metered_channel_is_reserved (""));
  g_assert_false (metered_channel_is_reserved (NULL));
}

static void
test_pattern_match (void)
{
  static const struct
  {
    const char *pattern;
    const char *channel;
    gboolean match;
  } cases[] = {
    { "room-*", "room-1", TRUE },
    { "room-*", "room-", TRUE },
    { "room-*", "room-1/x", FALSE },
    { "room-*", "room", FALSE },
    { "room-*", "xroom-1", FALSE },
    { "**", "anything/at/all", TRUE },
    { "**", "", TRUE },
    { "*", "abc", TRUE },
    { "*", "a/b", FALSE },
    { "room-**", "room-1/x/y", TRUE },
    { "a/*/c", "a/b/c", TRUE },
    { "a/*/c", "a/b/x/c", FALSE },
    { "a/**/c", "a/b/x/c", TRUE },
    { "a/**/c", "a//c", TRUE },
    { "a/**", "a/", TRUE },
    { "a/**", "a", FALSE },
    { "*-*", "x-y", TRUE },
    { "*-*", "x/y-z", FALSE },
    { "*/*", "x/y", TRUE },
    { "***", "a/b", TRUE },
    { "exact", "exact", TRUE },
    { "exact", "exact2", FALSE },
    { "exact", "Exact", FALSE },
    { "", "", TRUE },
    { "", "a", FALSE },
    { "r\xc3\xa9-*", "r\xc3\xa9-" EMOJI, TRUE },
    { "*\xc3\xa9", "\xc3\xa9\xc3\xa9", TRUE },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_test_message ("%s ~ %s", cases[i].pattern, cases[i].channel);
    g_assert_cmpint (
        metered_channel_pattern_match (cases[i].pattern, cases[i].channel), ==,
        cases[i].match);
  }
  g_assert_false (metered_channel_pattern_match (NULL, "a"));
  g_assert_false (metered_channel_pattern_match ("a", NULL));
}

static void
test_pattern_match_hostile (void)
{
  g_autofree char *pattern = repeat ("*a", 200, "*b");
  g_autofree char *dpattern = repeat ("**a", 200, "**b");
  g_autofree char *channel = repeat ("a", 4096, "");
  g_autoptr (GTimer) timer = g_timer_new ();

  /* Exponential backtracking would never finish these. */
  g_assert_false (metered_channel_pattern_match (pattern, channel));
  g_assert_false (metered_channel_pattern_match (dpattern, channel));
  g_assert_false (
      metered_channel_pattern_match ("*a*a*a*a*a*a*a*a*a*a*b", channel));
  g_assert_cmpfloat (g_timer_elapsed (timer, NULL), <, 5.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/validate/channel-length", test_channel_length);
  g_test_add_func ("/validate/channel-characters", test_channel_characters);
  g_test_add_func ("/validate/peer-id", test_peer_id);
  g_test_add_func ("/validate/request-id", test_request_id);
  g_test_add_func ("/validate/reserved", test_reserved);
  g_test_add_func ("/validate/pattern-match", test_pattern_match);
  g_test_add_func (
      "/validate/pattern-match-hostile", test_pattern_match_hostile);

  return g_test_run ();
}
