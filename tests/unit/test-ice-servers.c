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

#define EMOJI "\xf0\x9f\x98\x80"

static char *
repeat (const char *unit, guint n)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    g_string_append (s, unit);
  return g_string_free (s, FALSE);
}

static GPtrArray *
parse_ok (const char *json)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *servers = metered_ice_servers_from_metadata (json, &error);

  g_assert_no_error (error);
  g_assert_nonnull (servers);
  return servers;
}

static void
assert_dropped (const char *json)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *servers;

  g_test_message ("expect drop: %.200s", json);
  servers = metered_ice_servers_from_metadata (json, &error);
  g_assert_null (servers);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
assert_absent (const char *json)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (metered_ice_servers_from_metadata (json, &error));
  g_assert_no_error (error);
}

static MeteredIceServer *
server (GPtrArray *a, guint i)
{
  return g_ptr_array_index (a, i);
}

static void
test_doc_example (void)
{
  g_autoptr (GPtrArray) servers = parse_ok (
      "{\"iceServers\":[{\"urls\":[\"stun:stun.relay.metered.ca:80\"]},"
      "{\"urls\":[\"turn:global.relay.metered.ca:443\"],\"username\":\"u\","
      "\"credential\":\"c\"}]}");

  g_assert_cmpuint (servers->len, ==, 2);
  g_assert_cmpuint (g_strv_length (server (servers, 0)->urls), ==, 1);
  g_assert_cmpstr (
      server (servers, 0)->urls[0], ==, "stun:stun.relay.metered.ca:80");
  g_assert_null (server (servers, 0)->username);
  g_assert_null (server (servers, 0)->credential);
  g_assert_cmpstr (
      server (servers, 1)->urls[0], ==, "turn:global.relay.metered.ca:443");
  g_assert_cmpstr (server (servers, 1)->username, ==, "u");
  g_assert_cmpstr (server (servers, 1)->credential, ==, "c");
}

static void
test_shapes (void)
{
  g_autoptr (GPtrArray) one = parse_ok (
      "{\"iceServers\":[{\"urls\":\"turns:relay.example:443?transport=tcp\"}],"
      "\"other\":1}");
  g_autoptr (GPtrArray) many =
      parse_ok ("{\"iceServers\":[{\"urls\":[\"STUN:a\",\"Stuns:b\",\"TURN:c\","
                "\"tUrNs:d\"]}]}");
  g_autoptr (GPtrArray) empty = parse_ok ("{\"iceServers\":[]}");
  g_autoptr (GPtrArray) dropped_fields = parse_ok (
      "{\"iceServers\":[{\"urls\":\"turn:x\",\"username\":5,"
      "\"credential\":null,\"extra\":{}},"
      "{\"urls\":\"turn:y\",\"username\":{\"a\":1},\"credential\":[\"c\"]}]}");

  g_assert_cmpuint (one->len, ==, 1);
  g_assert_cmpuint (g_strv_length (server (one, 0)->urls), ==, 1);
  g_assert_cmpstr (
      server (one, 0)->urls[0], ==, "turns:relay.example:443?transport=tcp");

  g_assert_cmpuint (g_strv_length (server (many, 0)->urls), ==, 4);
  g_assert_cmpstr (server (many, 0)->urls[3], ==, "tUrNs:d");

  g_assert_cmpuint (empty->len, ==, 0);

  /* Non-string username/credential are silently dropped; the entry is
   * kept. */
  g_assert_cmpuint (dropped_fields->len, ==, 2);
  g_assert_null (server (dropped_fields, 0)->username);
  g_assert_null (server (dropped_fields, 0)->credential);
  g_assert_null (server (dropped_fields, 1)->username);
  g_assert_null (server (dropped_fields, 1)->credential);
}

static void
test_absent (void)
{
  assert_absent (NULL);
  assert_absent ("{}");
  assert_absent ("{\"ice\":[]}");
  /* metadata that is not an object cannot carry iceServers */
  assert_absent ("[1]");
  assert_absent ("null");
}

static char *
entries (guint n)
{
  GString *s = g_string_new ("{\"iceServers\":[");
  guint i;

  for (i = 0; i < n; i++)
    g_string_append_printf (s, "%s{\"urls\":\"stun:s%u\"}", i ? "," : "", i);
  g_string_append (s, "]}");
  return g_string_free (s, FALSE);
}

static void
test_entry_count (void)
{
  g_autofree char *e16 = entries (16);
  g_autofree char *e17 = entries (17);
  g_autoptr (GPtrArray) ok = parse_ok (e16);

  g_assert_cmpuint (ok->len, ==, 16);
  g_assert_cmpstr (server (ok, 15)->urls[0], ==, "stun:s15");
  assert_dropped (e17);
}

static void
test_url_length (void)
{
  g_autofree char *a507 = repeat ("a", 507);
  g_autofree char *a508 = repeat ("a", 508);
  g_autofree char *a505 = repeat ("a", 505);
  g_autofree char *a506 = repeat ("a", 506);
  g_autofree char *ok =
      g_strdup_printf ("{\"iceServers\":[{\"urls\":\"turn:%s\"}]}", a507);
  g_autofree char *too_long = g_strdup_printf (
      "{\"iceServers\":[{\"urls\":[\"stun:x\",\"turn:%s\"]}]}", a508);
  g_autofree char *ok_wide = g_strdup_printf (
      "{\"iceServers\":[{\"urls\":\"turn:%s" EMOJI "\"}]}", a505);
  g_autofree char *long_wide = g_strdup_printf (
      "{\"iceServers\":[{\"urls\":\"turn:%s" EMOJI "\"}]}", a506);
  g_autoptr (GPtrArray) servers = parse_ok (ok);
  g_autoptr (GPtrArray) wide = parse_ok (ok_wide);

  g_assert_cmpuint (strlen (server (servers, 0)->urls[0]), ==, 512);
  g_assert_cmpuint (wide->len, ==, 1);
  assert_dropped (too_long);
  assert_dropped (long_wide);
}

static void
test_secret_length (void)
{
  g_autofree char *s1024 = repeat ("u", 1024);
  g_autofree char *s1025 = repeat ("u", 1025);
  g_autofree char *u_ok = g_strdup_printf (
      "{\"iceServers\":[{\"urls\":\"turn:x\",\"username\":\"%s\","
      "\"credential\":\"%s\"}]}",
      s1024, s1024);
  g_autofree char *u_long = g_strdup_printf (
      "{\"iceServers\":[{\"urls\":\"turn:x\",\"username\":\"%s\"}]}", s1025);
  g_autofree char *c_long = g_strdup_printf (
      "{\"iceServers\":[{\"urls\":\"turn:x\",\"credential\":\"%s\"}]}", s1025);
  g_autoptr (GPtrArray) servers = parse_ok (u_ok);

  g_assert_cmpuint (strlen (server (servers, 0)->username), ==, 1024);
  g_assert_cmpuint (strlen (server (servers, 0)->credential), ==, 1024);
  assert_dropped (u_long);
  assert_dropped (c_long);
}

static void
test_fail_closed (void)
{
  static const char *const bad[] = {
    /* bad scheme */
    "{\"iceServers\":[{\"urls\":\"http://stun.example\"}]}",
    "{\"iceServers\":[{\"urls\":\"stunx:a\"}]}",
    "{\"iceServers\":[{\"urls\":\"stun\"}]}",
    "{\"iceServers\":[{\"urls\":\" stun:a\"}]}",
    "{\"iceServers\":[{\"urls\":[\"stun:a\",\"udp:b\"]}]}",
    /* empty urls */
    "{\"iceServers\":[{\"urls\":[]}]}",
    "{\"iceServers\":[{\"urls\":\"\"}]}",
    "{\"iceServers\":[{\"urls\":[\"\"]}]}",
    /* urls of the wrong type or missing */
    "{\"iceServers\":[{\"urls\":5}]}",
    "{\"iceServers\":[{\"urls\":null}]}",
    "{\"iceServers\":[{\"urls\":{\"a\":\"stun:x\"}}]}",
    "{\"iceServers\":[{\"urls\":[\"stun:a\",5]}]}",
    "{\"iceServers\":[{\"username\":\"u\"}]}",
    /* entries that are not objects */
    "{\"iceServers\":[null]}",
    "{\"iceServers\":[\"stun:a\"]}",
    "{\"iceServers\":[[{\"urls\":\"stun:a\"}]]}",
    /* one bad entry among good ones drops the whole list */
    ("{\"iceServers\":[{\"urls\":\"stun:a\"},{\"urls\":\"ftp:b\"},"
     "{\"urls\":\"turn:c\"}]}"),
    /* iceServers not an array */
    "{\"iceServers\":{\"urls\":\"stun:a\"}}",
    "{\"iceServers\":null}",
    "{\"iceServers\":\"stun:a\"}",
    /* not JSON */
    "{\"iceServers\":[",
    "{'iceServers':[]}",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_dropped (bad[i]);
}

static void
test_error_message_has_no_secret (void)
{
  g_autofree char *long_cred = repeat ("S", 1025);
  g_autofree char *json = g_strdup_printf (
      "{\"iceServers\":[{\"urls\":\"turn:x\",\"username\":\"ALICEUSER\","
      "\"credential\":\"%s\"}]}",
      long_cred);
  g_autoptr (GError) error = NULL;

  g_assert_null (metered_ice_servers_from_metadata (json, &error));
  g_assert_nonnull (error);
  g_assert_null (strstr (error->message, "SSSS"));
  g_assert_null (strstr (error->message, "ALICEUSER"));
}

static void
test_stun_uri (void)
{
  static const char *const cases[][2] = {
    { "stun:stun.relay.metered.ca:80", "stun://stun.relay.metered.ca:80" },
    { "STUN:a.example:3478", "stun://a.example:3478" },
    /* webrtcbin takes no query: it goes */
    { "stun:a.example:3478?transport=udp", "stun://a.example:3478" },
    { "stun:a.example", "stun://a.example" },
    { "stun:[2001:db8::1]:3478", "stun://[2001:db8::1]:3478" },
    { "stun:", "stun://" },
  };
  static const char *const not_stun[] = {
    "stuns:a.example:5349",
    "turn:a.example",
    "turns:a.example",
    "http://a.example",
    "stu",
    "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *uri = metered_ice_url_to_stun_uri (cases[i][0]);
    g_assert_cmpstr (uri, ==, cases[i][1]);
  }
  for (guint i = 0; i < G_N_ELEMENTS (not_stun); i++)
    g_assert_null (metered_ice_url_to_stun_uri (not_stun[i]));
  g_assert_null (metered_ice_url_to_stun_uri (NULL));
}

static void
test_turn_uri (void)
{
  static const struct
  {
    const char *url, *user, *cred, *uri;
  } cases[] = {
    { "turn:global.relay.metered.ca:80", "u", "c",
        "turn://u:c@global.relay.metered.ca:80" },
    /* the transport query is webrtcbin's too: kept */
    { "turn:r.example:443?transport=tcp", "u", "c",
        "turn://u:c@r.example:443?transport=tcp" },
    { "turns:r.example:443?transport=tcp", "u", "c",
        "turns://u:c@r.example:443?transport=tcp" },
    { "TURNS:r.example:443", "u", "c", "turns://u:c@r.example:443" },
    { "Turn:r.example", "u", "c", "turn://u:c@r.example" },
    /* credentials escaped whole: ':' '@' '/' '%' '+' and non-ASCII
     * cannot move the host part */
    { "turn:r.example:3478", "us:er@x", "p@ss/w:rd%+ =",
        "turn://us%3Aer%40x:p%40ss%2Fw%3Ard%25%2B%20%3D@r.example:3478" },
    { "turn:r.example", "\xc3\xa9", "a?b#c",
        "turn://%C3%A9:a%3Fb%23c@r.example" },
    /* unreserved characters stay */
    { "turn:r.example", "A-z_0.9~", "x", "turn://A-z_0.9~:x@r.example" },
    /* missing credentials are empty, not "(null)" */
    { "turn:r.example", NULL, NULL, "turn://:@r.example" },
    { "turn:r.example", "u", NULL, "turn://u:@r.example" },
  };
  static const char *const not_turn[] = {
    "stun:r.example",
    "stuns:r.example",
    "turnx:r.example",
    "turn",
    "tur:r.example",
    "http://r.example",
    "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *uri = metered_ice_url_to_turn_uri (
        cases[i].url, cases[i].user, cases[i].cred);
    g_assert_cmpstr (uri, ==, cases[i].uri);
  }
  for (guint i = 0; i < G_N_ELEMENTS (not_turn); i++)
    g_assert_null (metered_ice_url_to_turn_uri (not_turn[i], "u", "c"));
  g_assert_null (metered_ice_url_to_turn_uri (NULL, "u", "c"));
}

static void
assert_uris (
    const char *variant_text, const char *stun, const char *const *turns)
{
  g_autoptr (GVariant) servers = g_variant_new_parsed (variant_text);
  g_autofree char *stun_uri = NULL;
  g_auto (GStrv) turn_uris = NULL;

  metered_ice_servers_to_uris (servers, &stun_uri, &turn_uris);
  g_assert_cmpstr (stun_uri, ==, stun);
  g_assert_nonnull (turn_uris);
  g_assert_cmpstrv (turn_uris, turns);
}

static void
test_to_uris (void)
{
  static const char *const none[] = { NULL };
  static const char *const doc[] = {
    "turn://u:c@global.relay.metered.ca:80",
    "turn://u:c@global.relay.metered.ca:80?transport=tcp",
    "turns://u:c@global.relay.metered.ca:443?transport=tcp",
    NULL,
  };
  static const char *const per_entry[] = {
    "turn://a:1@one.example",
    "turn://:@two.example",
    "turns://b%40x:2%3A@three.example",
    NULL,
  };

  /* The service's welcome: one STUN, three TURN sharing credentials. */
  assert_uris ("[{'urls': <['stun:stun.relay.metered.ca:80']>},"
               " {'urls': <['turn:global.relay.metered.ca:80',"
               " 'turn:global.relay.metered.ca:80?transport=tcp',"
               " 'turns:global.relay.metered.ca:443?transport=tcp']>,"
               " 'username': <'u'>, 'credential': <'c'>}]",
      "stun://stun.relay.metered.ca:80", doc);
  /* Only the first STUN URL is kept; stuns: is not used; credentials
   * are those of each URL's own entry. */
  assert_uris ("[{'urls': <['stuns:s0.example', 'stun:s1.example?x=1',"
               " 'stun:s2.example']>},"
               " {'urls': <['turn:one.example']>, 'username': <'a'>,"
               " 'credential': <'1'>},"
               " {'urls': <['stun:s3.example', 'turn:two.example']>},"
               " {'urls': <['turns:three.example']>, 'username': <'b@x'>,"
               " 'credential': <'2:'>}]",
      "stun://s1.example", per_entry);
  /* An empty list: no STUN, an empty (not NULL) TURN list. */
  assert_uris ("@aa{sv} []", NULL, none);
  assert_uris ("[{'urls': <['stuns:only.example']>}]", NULL, none);
  /* An entry without urls contributes nothing. */
  assert_uris ("[{'username': <'u'>}, {'urls': <['stun:s.example']>}]",
      "stun://s.example", none);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ice-servers/doc-example", test_doc_example);
  g_test_add_func ("/ice-servers/shapes", test_shapes);
  g_test_add_func ("/ice-servers/absent", test_absent);
  g_test_add_func ("/ice-servers/entry-count", test_entry_count);
  g_test_add_func ("/ice-servers/url-length", test_url_length);
  g_test_add_func ("/ice-servers/secret-length", test_secret_length);
  g_test_add_func ("/ice-servers/fail-closed", test_fail_closed);
  g_test_add_func (
      "/ice-servers/no-secret-in-error", test_error_message_has_no_secret);

  g_test_add_func ("/ice-servers/stun-uri", test_stun_uri);
  g_test_add_func ("/ice-servers/turn-uri", test_turn_uri);
  g_test_add_func ("/ice-servers/to-uris", test_to_uris);

  return g_test_run ();
}
