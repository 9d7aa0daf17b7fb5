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
 * Credential scrubbing for log lines.
 *
 * One left-to-right pass; at each position a few anchored matchers are
 * tried and the first that recognises a credential copies its prefix and
 * writes "***" in place of the value. When a value has no clear end the
 * rest of the text is scrubbed: leaking less is the safe failure.
 */

#include "protocol/metered-scrub.h"

#include <string.h>

#define MASK "***"

static const char *const query_names[] = {
  "key",
  "token",
  "access_token",
  "secret",
  "password",
};

static const char *const json_names[] = {
  "credential",
  "password",
  "token",
  "key",
  "secret",
};

static const char *const sdp_attributes[] = {
  "a=ice-pwd:",
  "a=ice-ufrag:",
};

static const char *const auth_schemes[] = {
  "Bearer",
  "Basic",
};

/* g_ascii_strncasecmp stops at the NUL of either string, so no length
 * is needed (and none is computed: that would make a pass quadratic). */
static gboolean
has_prefix_ci (const char *s, const char *prefix, gsize n)
{
  return g_ascii_strncasecmp (s, prefix, n) == 0;
}

/* End of a query value starting at p: '&', '#' or the end of the string;
 * in free text also white space, quotes, angle brackets and backslashes
 * (the start of a JSON escape). */
static const char *
query_value_end (const char *p, gboolean free_text)
{
  for (; *p; p++) {
    if (*p == '&' || *p == '#')
      break;
    if (free_text && (g_ascii_isspace (*p) || *p == '"' || *p == '\'' ||
                         *p == '<' || *p == '>' || *p == '\\'))
      break;
  }
  return p;
}

/* At p (a position where a query parameter may start): name= with a
 * credential name. Returns the end of what was consumed, or NULL. */
static const char *
match_query (GString *out, const char *p, gboolean free_text)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (query_names); i++) {
    gsize n = strlen (query_names[i]);
    const char *v, *end;

    if (!has_prefix_ci (p, query_names[i], n) || p[n] != '=')
      continue;
    v = p + n + 1;
    end = query_value_end (v, free_text);
    g_string_append_len (out, p, v - p);
    if (end > v)
      g_string_append (out, MASK);
    return end;
  }
  return NULL;
}

static gboolean
is_query_boundary (const char *start, const char *p, gboolean free_text)
{
  if (p == start)
    return TRUE;
  if (p[-1] == '?' || p[-1] == '&')
    return TRUE;
  return free_text && g_ascii_isspace (p[-1]);
}

char *
metered_scrub_url (const char *url)
{
  GString *out;
  const char *p;

  if (url == NULL)
    return NULL;

  out = g_string_sized_new (strlen (url));
  p = url;
  /* scheme://user:password@host: the userinfo is a credential too. */
  {
    const char *authority = strstr (url, "://");
    if (authority) {
      const char *end = authority + 3 + strcspn (authority + 3, "/?#");
      const char *at = memchr (authority + 3, '@', end - (authority + 3));
      if (at) {
        g_string_append_len (out, url, authority + 3 - url);
        g_string_append (out, "***");
        p = at;
      }
    }
  }
  while (*p) {
    const char *next = NULL;

    if (is_query_boundary (url, p, FALSE))
      next = match_query (out, p, FALSE);
    if (next)
      p = next;
    else
      g_string_append_c (out, *p++);
  }
  return g_string_free (out, FALSE);
}

/* a=ice-pwd:<value> / a=ice-ufrag:<value>, the value ending at a line
 * break, white space, a quote or a backslash (the SDP may be a JSON
 * string with "\r\n" escaped). */
static const char *
match_sdp (GString *out, const char *p)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (sdp_attributes); i++) {
    gsize n = strlen (sdp_attributes[i]);
    const char *v, *end;

    if (!has_prefix_ci (p, sdp_attributes[i], n))
      continue;
    v = p + n;
    for (end = v; *end; end++)
      if (g_ascii_isspace (*end) || *end == '"' || *end == '\'' || *end == '\\')
        break;
    g_string_append_len (out, p, v - p);
    if (end > v)
      g_string_append (out, MASK);
    return end;
  }
  return NULL;
}

/* End of a JSON string value whose contents start at p. Plain: up to the
 * first unescaped '"'. Escaped (the JSON sits inside another JSON string,
 * so its quotes are \"): up to the first \" that is not itself escaped
 * (an inner escape shows up as \\ followed by the escaped character). */
static const char *
json_value_end (const char *p, gboolean escaped)
{
  while (*p) {
    if (!escaped) {
      if (*p == '"')
        return p;
      if (*p == '\\' && p[1])
        p += 2;
      else
        p++;
      continue;
    }
    if (*p == '\\' && p[1] == '"')
      return p;
    if (*p == '\\' && p[1] == '\\') {
      p += 2;
      if (*p == '\\' && p[1])
        p += 2;
      else if (*p)
        p++;
      continue;
    }
    if (*p == '"')
      return p; /* the enclosing string ends: stop here */
    if (*p == '\\' && p[1])
      p += 2;
    else
      p++;
  }
  return p;
}

/* At p: "name" : "value" (or \"name\" : \"value\" inside a JSON string)
 * with a credential name. */
static const char *
match_json (GString *out, const char *p)
{
  gboolean escaped;
  gsize q;
  guint i;

  if (p[0] == '"')
    escaped = FALSE;
  else if (p[0] == '\\' && p[1] == '"')
    escaped = TRUE;
  else
    return NULL;
  q = escaped ? 2 : 1;

  for (i = 0; i < G_N_ELEMENTS (json_names); i++) {
    gsize n = strlen (json_names[i]);
    const char *c, *v, *end;

    if (!has_prefix_ci (p + q, json_names[i], n))
      continue;
    c = p + q + n;
    if (strncmp (c, p, q) != 0) /* the closing quote of the key */
      continue;
    c += q;
    while (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
      c++;
    if (*c != ':')
      continue;
    c++;
    while (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
      c++;
    if (strncmp (c, p, q) != 0) /* not a string value: leave it */
      continue;
    v = c + q;
    end = json_value_end (v, escaped);
    g_string_append_len (out, p, v - p);
    if (end > v)
      g_string_append (out, MASK);
    return end;
  }
  return NULL;
}

/* At p: Bearer <token> / Basic <credentials> as a word of its own. */
static const char *
match_auth (GString *out, const char *start, const char *p)
{
  guint i;

  if (p > start && g_ascii_isalnum (p[-1]))
    return NULL;
  for (i = 0; i < G_N_ELEMENTS (auth_schemes); i++) {
    gsize n = strlen (auth_schemes[i]);
    const char *v, *end;

    if (!has_prefix_ci (p, auth_schemes[i], n) || p[n] != ' ')
      continue;
    v = p + n;
    while (*v == ' ')
      v++;
    for (end = v; *end; end++)
      if (g_ascii_isspace (*end) || *end == '"' || *end == '\'' ||
          *end == '\\' || *end == ',')
        break;
    if (end == v)
      continue;
    g_string_append_len (out, p, v - p);
    g_string_append (out, MASK);
    return end;
  }
  return NULL;
}

char *
metered_scrub_text (const char *text)
{
  GString *out;
  const char *p;

  if (text == NULL)
    return NULL;

  out = g_string_sized_new (strlen (text));
  for (p = text; *p;) {
    const char *next = NULL;

    if (*p == 'a' || *p == 'A')
      next = match_sdp (out, p);
    if (!next && (*p == '"' || *p == '\\'))
      next = match_json (out, p);
    if (!next && is_query_boundary (text, p, TRUE))
      next = match_query (out, p, TRUE);
    if (!next && (*p == 'B' || *p == 'b'))
      next = match_auth (out, text, p);

    if (next)
      p = next;
    else
      g_string_append_c (out, *p++);
  }
  return g_string_free (out, FALSE);
}
