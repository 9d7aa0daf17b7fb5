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

static void
check_url (const char *in, const char *expected)
{
  g_autofree char *out = metered_scrub_url (in);

  g_assert_cmpstr (out, ==, expected);
}

static void
check_text (const char *in, const char *expected)
{
  g_autofree char *out = metered_scrub_text (in);

  g_assert_cmpstr (out, ==, expected);
}

static void
test_url (void)
{
  check_url ("wss://rms.metered.ca/v1?key=pk_live_abc123",
      "wss://rms.metered.ca/v1?key=***");
  check_url ("ws://127.0.0.1:8080/v1?token=eyJh.eyJz.sig&x=1",
      "ws://127.0.0.1:8080/v1?token=***&x=1");
  check_url ("https://h/p?x=1&access_token=zz#frag",
      "https://h/p?x=1&access_token=***#frag");
  check_url ("https://h/p?secret=1&password=2&keep=3",
      "https://h/p?secret=***&password=***&keep=3");
  check_url ("https://h/p?KEY=abc&Token=def", "https://h/p?KEY=***&Token=***");
  /* userinfo in the authority is a credential; an @ in the path is not. */
  check_url ("https://user:s3cret@mint.example/token?x=1",
      "https://***@mint.example/token?x=1");
  check_url ("https://mint.example/a@b", "https://mint.example/a@b");
  /* Names are matched whole: these are not credentials. */
  check_url ("https://h/p?monkey=1&tokens=2&key2=3",
      "https://h/p?monkey=1&tokens=2&key2=3");
  check_url ("https://h/key=x", "https://h/key=x");
  /* Empty values stay empty. */
  check_url ("wss://h/v1?key=", "wss://h/v1?key=");
  check_url ("wss://h/v1?key=&token=t", "wss://h/v1?key=&token=***");
  check_url ("wss://rms.metered.ca/v1", "wss://rms.metered.ca/v1");
  check_url ("", "");
  g_assert_null (metered_scrub_url (NULL));
}

static void
test_sdp (void)
{
  check_text ("v=0\r\n"
              "o=- 107595115228384069 2 IN IP4 127.0.0.1\r\n"
              "a=ice-ufrag:g3Hd\r\n"
              "a=ice-pwd:abcdEFGH1234+/xyzXYZ0987654\r\n"
              "a=fingerprint:sha-256 AA:BB:CC\r\n"
              "a=setup:actpass\r\n",
      "v=0\r\n"
      "o=- 107595115228384069 2 IN IP4 127.0.0.1\r\n"
      "a=ice-ufrag:***\r\n"
      "a=ice-pwd:***\r\n"
      "a=fingerprint:sha-256 AA:BB:CC\r\n"
      "a=setup:actpass\r\n");
  /* The last line without a line break. */
  check_text ("a=ice-pwd:secret", "a=ice-pwd:***");
  check_text ("a=ice-pwd:\r\n", "a=ice-pwd:\r\n");
}

static void
test_sdp_in_json (void)
{
  /* The SDP inside a JSON string: line breaks are the escapes \r\n. */
  check_text ("{\"type\":\"rtc-description\",\"description\":{\"type\":"
              "\"offer\",\"sdp\":\"v=0\\r\\na=ice-ufrag:uF1\\r\\n"
              "a=ice-pwd:PwD2pwd2PWD2pwd2PWD2pw\\r\\na=mid:0\\r\\n\"}}",
      "{\"type\":\"rtc-description\",\"description\":{\"type\":"
      "\"offer\",\"sdp\":\"v=0\\r\\na=ice-ufrag:***\\r\\n"
      "a=ice-pwd:***\\r\\na=mid:0\\r\\n\"}}");
  /* ...and at the very end of the string. */
  check_text ("{\"sdp\":\"a=ice-pwd:xyz\"}", "{\"sdp\":\"a=ice-pwd:***\"}");
}

static void
test_json (void)
{
  check_text (
      "{\"urls\":\"turn:x\",\"username\":\"u\",\"credential\":\"s3cr3t\"}",
      "{\"urls\":\"turn:x\",\"username\":\"u\",\"credential\":\"***\"}");
  check_text ("{\"password\" : \"p w\", \"token\":\"t\",\"key\":\"k\","
              "\"secret\":\"s\"}",
      "{\"password\" : \"***\", \"token\":\"***\",\"key\":\"***\","
      "\"secret\":\"***\"}");
  /* Escaped quotes inside the value do not end it early. */
  check_text ("{\"credential\":\"a\\\"b\\\\\",\"n\":1}",
      "{\"credential\":\"***\",\"n\":1}");
  /* Whole key names only, and only string values. */
  check_text ("{\"keyframe\":\"x\",\"apikey\":\"y\",\"token\":123}",
      "{\"keyframe\":\"x\",\"apikey\":\"y\",\"token\":123}");
  check_text ("{\"credential\":\"\"}", "{\"credential\":\"\"}");
  /* A value that never ends is scrubbed to the end. */
  check_text ("{\"token\":\"abc", "{\"token\":\"***");
}

static void
test_json_in_json (void)
{
  /* JSON carried as a string inside JSON: quotes are \". */
  check_text ("{\"data\":\"{\\\"credential\\\":\\\"xyz\\\",\\\"a\\\":1}\"}",
      "{\"data\":\"{\\\"credential\\\":\\\"***\\\",\\\"a\\\":1}\"}");
  /* An escaped quote inside the inner value (\\\" on the outside). */
  check_text ("\"{\\\"token\\\":\\\"a\\\\\\\"b\\\"}\"",
      "\"{\\\"token\\\":\\\"***\\\"}\"");
}

static void
test_auth_header (void)
{
  check_text ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln\r\nHost: x",
      "Authorization: Bearer ***\r\nHost: x");
  check_text (
      "authorization: bearer abc, other", "authorization: bearer ***, other");
  check_text ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***");
  /* Words that merely contain the scheme are left alone. */
  check_text ("unbearable Bearers", "unbearable Bearers");
}

static void
test_url_in_text (void)
{
  check_text ("connecting to wss://h/v1?token=abc.def.ghi (attempt 3)",
      "connecting to wss://h/v1?token=*** (attempt 3)");
  check_text ("{\"url\":\"wss://h/v1?key=pk_abc\"}",
      "{\"url\":\"wss://h/v1?key=***\"}");
  check_text ("token=abc key=def", "token=*** key=***");
}

static void
test_identity (void)
{
  const char *texts[] = {
    "",
    "plain log line with nothing secret",
    "{\"type\":\"subscribe\",\"channel\":\"room-42\",\"requestId\":\"r\"}",
    "a=candidate:1 1 udp 2122194687 192.0.2.2 41596 typ host",
    "\\",
    "\\\"",
    "\"",
    "a=",
    "?",
    "B",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (texts); i++)
    check_text (texts[i], texts[i]);
  g_assert_null (metered_scrub_text (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/scrub/url", test_url);
  g_test_add_func ("/scrub/sdp", test_sdp);
  g_test_add_func ("/scrub/sdp-in-json", test_sdp_in_json);
  g_test_add_func ("/scrub/json", test_json);
  g_test_add_func ("/scrub/json-in-json", test_json_in_json);
  g_test_add_func ("/scrub/auth-header", test_auth_header);
  g_test_add_func ("/scrub/url-in-text", test_url_in_text);
  g_test_add_func ("/scrub/identity", test_identity);

  return g_test_run ();
}
