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

#define MAXD METERED_JSON_MAX_DEPTH

/* Test messages go to TAP output, which must stay valid UTF-8. */
static void
note (guint i, const char *doc)
{
  g_autofree char *esc = g_strescape (doc, NULL);

  g_test_message ("doc %u: %s", i, esc);
}

static gboolean
valid (const char *s)
{
  return metered_json_validate (s, strlen (s), MAXD);
}

static void
test_valid_documents (void)
{
  static const char *const docs[] = {
    "{}",
    "[]",
    "0",
    "-0",
    "1.5e10",
    "-12.25E-3",
    "1e+2",
    "123456789012345678901234567890",
    "\"x\"",
    "\"\"",
    "true",
    "false",
    "null",
    " \t\n\r{\"a\":[1,2,{\"b\":null}],\"c\":\"\"} \r\n",
    "\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
    "\"\\ud800\"", /* lone surrogate escapes: JSON.parse accepts */
    "\"\\udc00\\ud800\"",
    "\"\xc3\xa9\"", /* U+00E9 */
    "\"\xe2\x82\xac\"", /* U+20AC */
    "\"\xef\xbf\xbf\"", /* U+FFFF */
    "\"\xf0\x9f\x98\x80\"", /* U+1F600 */
    "\"\xf4\x8f\xbf\xbf\"", /* U+10FFFF */
    "\"\x7f\"", /* DEL is not a JSON control character */
    "[1,\"a\",{\"x\":[]},null,true,false,-1]",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (docs); i++) {
    note (i, docs[i]);
    g_assert_true (valid (docs[i]));
  }
}

static void
test_invalid_documents (void)
{
  static const char *const docs[] = {
    "",
    " ",
    "{",
    "}",
    "[1,]",
    "[,1]",
    "{\"a\":1,}",
    "{a:1}",
    "{\"a\" 1}",
    "{\"a\":}",
    "{1:2}",
    "'x'",
    "01",
    "-01",
    "1.",
    ".5",
    "1e",
    "1e+",
    "+1",
    "-",
    "NaN",
    "Infinity",
    "-Infinity",
    "tru",
    "nulll",
    "True",
    "[1 2]",
    "1 2",
    "{} {}",
    "\"\\x\"",
    "\"\\u12\"",
    "\"\\u12g4\"",
    "\"\\U0041\"",
    "\"abc",
    "\"a\nb\"", /* raw control characters */
    "\"a\tb\"",
    "\"\x01\"",
    "\"\x1f\"",
    "\xef\xbb\xbf{}", /* BOM */
    "/* c */ {}",
    "[1]]",
    "[[1]",
    "{\"a\":1}}",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (docs); i++) {
    note (i, docs[i]);
    g_assert_false (valid (docs[i]));
  }

  /* The length is honoured: a NUL inside the text is not JSON. */
  g_assert_false (metered_json_validate ("1\0", 2, MAXD));
  g_assert_true (metered_json_validate ("12345", 2, MAXD));
  g_assert_false (metered_json_validate (NULL, 0, MAXD));
}

static void
test_invalid_utf8 (void)
{
  static const char *const docs[] = {
    "\"\xc0\x80\"", /* overlong NUL */
    "\"\xc1\xbf\"", /* overlong 2-byte */
    "\"\xe0\x80\x80\"", /* overlong 3-byte */
    "\"\xe0\x9f\xbf\"", /* overlong 3-byte (U+07FF) */
    "\"\xf0\x80\x80\x80\"", /* overlong 4-byte */
    "\"\xf0\x8f\xbf\xbf\"", /* overlong 4-byte (U+FFFF) */
    "\"\xed\xa0\x80\"", /* U+D800 encoded in UTF-8 */
    "\"\xed\xbf\xbf\"", /* U+DFFF encoded in UTF-8 */
    "\"\xf4\x90\x80\x80\"", /* U+110000 */
    "\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"\xfe\"",
    "\"\x80\"", /* lone continuation byte */
    "\"\xc3\"", /* truncated */
    "\"\xe2\x82\"", "\"\xf0\x9f\x98\"", "\"\xc3\x28\"", /* bad continuation */
    "\xc3\xa9", /* non-ASCII outside a string */
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (docs); i++) {
    note (i, docs[i]);
    g_assert_false (valid (docs[i]));
  }
  /* Truncated at the very end of the buffer. */
  g_assert_false (metered_json_validate ("\"\xf0\x9f", 3, MAXD));
}

static char *
nest (const char *open, const char *inner, const char *close, guint depth)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < depth; i++)
    g_string_append (s, open);
  g_string_append (s, inner);
  for (i = 0; i < depth; i++)
    g_string_append (s, close);
  return g_string_free (s, FALSE);
}

static void
test_depth (void)
{
  g_autofree char *a128 = nest ("[", "", "]", 128);
  g_autofree char *a129 = nest ("[", "", "]", 129);
  g_autofree char *o128 = nest ("{\"a\":", "1", "}", 128);
  g_autofree char *o129 = nest ("{\"a\":", "1", "}", 129);
  /* 64 x [{ is 128 levels; the innermost [] makes 129. */
  g_autofree char *m128 = nest ("[{\"k\":", "1", "}]", 64);
  g_autofree char *m129 = nest ("[{\"k\":", "[]", "}]", 64);
  GArray *members = NULL;

  g_assert_true (valid (a128));
  g_assert_false (valid (a129));
  g_assert_true (valid (o128));
  g_assert_false (valid (o129));
  g_assert_true (valid (m128));
  g_assert_false (valid (m129));

  /* max_depth is the caller's: scalars need none, containers one each. */
  g_assert_true (metered_json_validate ("1", 1, 0));
  g_assert_false (metered_json_validate ("[]", 2, 0));
  g_assert_true (metered_json_validate ("[]", 2, 1));
  g_assert_false (metered_json_validate ("[[]]", 4, 1));

  /* The same limit holds when the top level is split into members. */
  g_assert_true (
      metered_json_object_members (o128, strlen (o128), MAXD, &members));
  g_assert_cmpuint (members->len, ==, 1);
  g_clear_pointer (&members, g_array_unref);
  g_assert_false (
      metered_json_object_members (o129, strlen (o129), MAXD, &members));
  g_assert_null (members);
  g_assert_false (metered_json_object_members ("{}", 2, 0, &members));
  g_assert_true (metered_json_object_members ("{}", 2, 1, &members));
  g_clear_pointer (&members, g_array_unref);
}

static void
test_hostile_nesting (void)
{
  gsize n = 64 * 1024;
  g_autofree char *open = g_malloc (n);
  g_autofree char *deep = NULL;
  GArray *members = NULL;

  memset (open, '[', n);
  g_assert_false (metered_json_validate (open, n, MAXD));
  /* Even with a limit beyond the input size nothing recurses. */
  g_assert_false (metered_json_validate (open, n, G_MAXUINT));
  memset (open, '{', n);
  g_assert_false (metered_json_validate (open, n, G_MAXUINT));
  g_assert_false (metered_json_object_members (open, n, MAXD, &members));
  g_assert_null (members);

  /* Balanced and deep, with an unbounded limit: accepted, iteratively. */
  deep = nest ("[", "0", "]", 100000);
  g_assert_true (metered_json_validate (deep, strlen (deep), G_MAXUINT));
  g_assert_false (metered_json_validate (deep, strlen (deep), MAXD));
}

static const MeteredJsonMember *
member (GArray *a, guint i)
{
  return &g_array_index (a, MeteredJsonMember, i);
}

static void
assert_span (const char *p, gsize len, const char *expected)
{
  g_assert_cmpuint (len, ==, strlen (expected));
  g_assert_cmpint (memcmp (p, expected, len), ==, 0);
}

static void
test_object_members (void)
{
  const char *text = " { \"type\" : \"x\" , \"data\":{ \"b\" : 1 },"
                     "\"n\":-1.5e3,\"a\\u0062\":[1, 2] ,\"data\":null } ";
  g_autoptr (GArray) members = NULL;

  g_assert_true (
      metered_json_object_members (text, strlen (text), MAXD, &members));
  g_assert_cmpuint (members->len, ==, 5);
  assert_span (member (members, 0)->key, member (members, 0)->key_len, "type");
  assert_span (
      member (members, 0)->value, member (members, 0)->value_len, "\"x\"");
  assert_span (member (members, 1)->key, member (members, 1)->key_len, "data");
  assert_span (member (members, 1)->value, member (members, 1)->value_len,
      "{ \"b\" : 1 }");
  assert_span (
      member (members, 2)->value, member (members, 2)->value_len, "-1.5e3");
  /* Keys are raw: escapes are left for the caller. */
  assert_span (
      member (members, 3)->key, member (members, 3)->key_len, "a\\u0062");
  assert_span (
      member (members, 3)->value, member (members, 3)->value_len, "[1, 2]");
  /* Duplicates are reported as they are. */
  assert_span (member (members, 4)->key, member (members, 4)->key_len, "data");
  assert_span (
      member (members, 4)->value, member (members, 4)->value_len, "null");
}

static void
test_object_members_refused (void)
{
  static const char *const docs[] = {
    "[1]",
    "\"x\"",
    "1",
    "{\"a\":1} x",
    "{\"a\":1,}",
    "{\"a\":\"\xff\"}",
    "",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (docs); i++) {
    GArray *members = (GArray *) 0x1;

    g_assert_false (metered_json_object_members (
        docs[i], strlen (docs[i]), MAXD, &members));
    g_assert_null (members);
  }
  /* out may be NULL: then it only checks. */
  g_assert_true (metered_json_object_members ("{\"a\":1}", 7, MAXD, NULL));
  g_assert_true (metered_json_object_members ("{}", 2, MAXD, NULL));
}

static void
test_array_elements (void)
{
  const char *text = "[1, \"a\" ,{\"x\":[]},null]";
  g_autoptr (GArray) elements = NULL;
  GArray *none = NULL;

  g_assert_true (
      metered_json_array_elements (text, strlen (text), MAXD, &elements));
  g_assert_cmpuint (elements->len, ==, 4);
  g_assert_null (member (elements, 0)->key);
  g_assert_cmpuint (member (elements, 0)->key_len, ==, 0);
  assert_span (
      member (elements, 0)->value, member (elements, 0)->value_len, "1");
  assert_span (
      member (elements, 1)->value, member (elements, 1)->value_len, "\"a\"");
  assert_span (member (elements, 2)->value, member (elements, 2)->value_len,
      "{\"x\":[]}");
  assert_span (
      member (elements, 3)->value, member (elements, 3)->value_len, "null");

  g_assert_true (metered_json_array_elements ("[ ]", 3, MAXD, &none));
  g_assert_cmpuint (none->len, ==, 0);
  g_clear_pointer (&none, g_array_unref);
  g_assert_false (metered_json_array_elements ("{}", 2, MAXD, &none));
  g_assert_null (none);
  g_assert_false (metered_json_array_elements ("[1,]", 4, MAXD, &none));
  g_assert_null (none);
}

static char *
quote (const char *s, gssize len)
{
  GString *out = g_string_new (NULL);

  metered_json_append_string (out, s, len);
  return g_string_free (out, FALSE);
}

static void
test_append_string (void)
{
  g_autofree char *a = quote ("a\"b\\c\n\r\t\b\f\x01\x1f\x7f/\xc3\xa9"
                              "\xf0\x9f\x98\x80",
      -1);
  g_autofree char *b = quote ("x\0y", 3);
  g_autofree char *c = quote ("ok\xff\xc3", -1);
  g_autofree char *d = quote ("", -1);
  g_autofree char *e = quote ("abcdef", 3);
  g_autoptr (GString) appended = g_string_new ("[");

  g_assert_cmpstr (a, ==,
      "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/\xc3\xa9"
      "\xf0\x9f\x98\x80\"");
  g_assert_cmpstr (b, ==, "\"x\\u0000y\"");
  /* Invalid UTF-8 never leaks into the output: it stays valid JSON. */
  g_assert_cmpstr (c, ==, "\"ok\\ufffd\\ufffd\"");
  g_assert_cmpstr (d, ==, "\"\"");
  g_assert_cmpstr (e, ==, "\"abc\"");

  g_assert_true (valid (a));
  g_assert_true (valid (b));
  g_assert_true (valid (c));

  metered_json_append_string (appended, "q", -1);
  g_assert_cmpstr (appended->str, ==, "[\"q\"");
}

static void
test_append_string_all_controls (void)
{
  guint c;

  for (c = 0; c < 0x20; c++) {
    char in[2] = { (char) c, 0 };
    g_autofree char *out = quote (in, 1);

    g_assert_true (valid (out));
    g_assert_cmpuint (strlen (out), >=, 4);
    g_assert_cmpint (out[1], ==, '\\');
  }
}

static void
test_utf16_length (void)
{
  g_assert_cmpuint (metered_utf16_length ("", -1), ==, 0);
  g_assert_cmpuint (metered_utf16_length ("abc", -1), ==, 3);
  g_assert_cmpuint (metered_utf16_length ("\xc3\xa9", -1), ==, 1);
  g_assert_cmpuint (metered_utf16_length ("\xe2\x82\xac", -1), ==, 1);
  g_assert_cmpuint (metered_utf16_length ("\xef\xbf\xbf", -1), ==, 1);
  g_assert_cmpuint (metered_utf16_length ("\xf0\x9f\x98\x80", -1), ==, 2);
  g_assert_cmpuint (metered_utf16_length ("\xf4\x8f\xbf\xbf", -1), ==, 2);
  g_assert_cmpuint (
      metered_utf16_length ("a\xf0\x9f\x98\x80z\xc3\xa9", -1), ==, 5);
  g_assert_cmpuint (metered_utf16_length ("abcdef", 2), ==, 2);
  g_assert_cmpuint (metered_utf16_length ("a\0b", 3), ==, 3);
  /* Invalid bytes count as one replacement character each. */
  g_assert_cmpuint (metered_utf16_length ("a\xff\xc3", -1), ==, 3);
  g_assert_cmpuint (metered_utf16_length (NULL, -1), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/json-scan/valid", test_valid_documents);
  g_test_add_func ("/json-scan/invalid", test_invalid_documents);
  g_test_add_func ("/json-scan/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/json-scan/depth", test_depth);
  g_test_add_func ("/json-scan/hostile-nesting", test_hostile_nesting);
  g_test_add_func ("/json-scan/object-members", test_object_members);
  g_test_add_func (
      "/json-scan/object-members-refused", test_object_members_refused);
  g_test_add_func ("/json-scan/array-elements", test_array_elements);
  g_test_add_func ("/json-scan/append-string", test_append_string);
  g_test_add_func (
      "/json-scan/append-string-controls", test_append_string_all_controls);
  g_test_add_func ("/json-scan/utf16-length", test_utf16_length);

  return g_test_run ();
}
