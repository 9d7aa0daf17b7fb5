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
 * Strict RFC 8259 scanner.
 *
 * The scanner never recurses: nesting is tracked on an explicit stack that
 * can never grow past max_depth, so a hostile frame made of 64 KB of '['
 * costs a bounded amount of memory and no C stack.
 *
 * Strings are checked for well-formed UTF-8 (Unicode 15, table 3-7: no
 * overlong forms, no surrogates encoded in UTF-8, nothing above U+10FFFF)
 * and for raw control characters. \u escapes must have four hex digits;
 * an escaped lone surrogate ("\ud800") is accepted, as JSON.parse does.
 */

#include "protocol/metered-json-scan.h"

#include <string.h>

typedef struct
{
  const guchar *p;
  gsize len;
  gsize pos;
} Scan;

/* Length of the well-formed UTF-8 sequence at p (at most avail bytes),
 * or 0 if it is not one. *cp receives the code point. */
static gsize
utf8_sequence (const guchar *p, gsize avail, gunichar *cp)
{
  guchar c = p[0];
  gunichar v;
  gsize n, i;
  guchar lo = 0x80, hi = 0xbf;

  if (c < 0x80) {
    if (cp)
      *cp = c;
    return 1;
  } else if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    v = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    v = c & 0x0f;
    if (c == 0xe0)
      lo = 0xa0; /* overlong */
    else if (c == 0xed)
      hi = 0x9f; /* UTF-16 surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    v = c & 0x07;
    if (c == 0xf0)
      lo = 0x90; /* overlong */
    else if (c == 0xf4)
      hi = 0x8f; /* above U+10FFFF */
  } else
    return 0;

  if (avail < n)
    return 0;
  for (i = 1; i < n; i++) {
    guchar t = p[i];

    if (t < lo || t > hi)
      return 0;
    lo = 0x80;
    hi = 0xbf;
    v = (v << 6) | (t & 0x3f);
  }
  if (cp)
    *cp = v;
  return n;
}

static inline gboolean
is_ws (guchar c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void
skip_ws (Scan *s)
{
  while (s->pos < s->len && is_ws (s->p[s->pos]))
    s->pos++;
}

static inline gboolean
peek_is (const Scan *s, guchar c)
{
  return s->pos < s->len && s->p[s->pos] == c;
}

static inline gboolean
is_digit (guchar c)
{
  return c >= '0' && c <= '9';
}

/* s->p[s->pos] is the opening quote. */
static gboolean
scan_string (Scan *s)
{
  s->pos++;
  while (s->pos < s->len) {
    guchar c = s->p[s->pos];

    if (c == '"') {
      s->pos++;
      return TRUE;
    }
    if (c == '\\') {
      guint i;

      if (s->len - s->pos < 2)
        return FALSE;
      switch (s->p[s->pos + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          s->pos += 2;
          break;
        case 'u':
          if (s->len - s->pos < 6)
            return FALSE;
          for (i = 2; i < 6; i++)
            if (!g_ascii_isxdigit (s->p[s->pos + i]))
              return FALSE;
          s->pos += 6;
          break;
        default:
          return FALSE;
      }
    } else if (c < 0x20)
      return FALSE;
    else if (c < 0x80)
      s->pos++;
    else {
      gsize n = utf8_sequence (s->p + s->pos, s->len - s->pos, NULL);

      if (n == 0)
        return FALSE;
      s->pos += n;
    }
  }
  return FALSE;
}

static gboolean
scan_number (Scan *s)
{
  gsize i = s->pos;

  if (i < s->len && s->p[i] == '-')
    i++;
  if (i >= s->len)
    return FALSE;
  if (s->p[i] == '0')
    i++;
  else if (s->p[i] >= '1' && s->p[i] <= '9') {
    while (i < s->len && is_digit (s->p[i]))
      i++;
  } else
    return FALSE;

  if (i < s->len && s->p[i] == '.') {
    i++;
    if (i >= s->len || !is_digit (s->p[i]))
      return FALSE;
    while (i < s->len && is_digit (s->p[i]))
      i++;
  }
  if (i < s->len && (s->p[i] == 'e' || s->p[i] == 'E')) {
    i++;
    if (i < s->len && (s->p[i] == '+' || s->p[i] == '-'))
      i++;
    if (i >= s->len || !is_digit (s->p[i]))
      return FALSE;
    while (i < s->len && is_digit (s->p[i]))
      i++;
  }
  s->pos = i;
  return TRUE;
}

static gboolean
scan_literal (Scan *s, const char *word, gsize n)
{
  if (s->len - s->pos < n || memcmp (s->p + s->pos, word, n) != 0)
    return FALSE;
  s->pos += n;
  return TRUE;
}

typedef enum
{
  EXPECT_VALUE,
  AFTER_VALUE,
  EXPECT_KEY,
} ScanState;

/* Scans one value at s->pos (leading white space allowed), nesting at
 * most max_depth containers deep, without recursion. */
static gboolean
scan_value (Scan *s, guint max_depth)
{
  guchar stack_buf[64];
  guchar *stack = stack_buf;
  gsize cap = sizeof (stack_buf);
  gsize depth = 0;
  ScanState state = EXPECT_VALUE;
  gboolean ok = FALSE;

  for (;;) {
    guchar c;

    if (state == EXPECT_VALUE) {
      skip_ws (s);
      if (s->pos >= s->len)
        goto out;
      c = s->p[s->pos];
      switch (c) {
        case '{':
        case '[':
          if (depth >= max_depth)
            goto out;
          if (depth == cap) {
            gsize ncap = cap * 2;

            if (stack == stack_buf) {
              stack = g_malloc (ncap);
              memcpy (stack, stack_buf, cap);
            } else
              stack = g_realloc (stack, ncap);
            cap = ncap;
          }
          stack[depth++] = c;
          s->pos++;
          skip_ws (s);
          if (peek_is (s, c == '{' ? '}' : ']')) {
            s->pos++;
            depth--;
            state = AFTER_VALUE;
          } else
            state = c == '{' ? EXPECT_KEY : EXPECT_VALUE;
          continue;
        case '"':
          if (!scan_string (s))
            goto out;
          break;
        case 't':
          if (!scan_literal (s, "true", 4))
            goto out;
          break;
        case 'f':
          if (!scan_literal (s, "false", 5))
            goto out;
          break;
        case 'n':
          if (!scan_literal (s, "null", 4))
            goto out;
          break;
        default:
          if (c != '-' && !is_digit (c))
            goto out;
          if (!scan_number (s))
            goto out;
          break;
      }
      state = AFTER_VALUE;
    } else if (state == AFTER_VALUE) {
      guchar top;

      if (depth == 0) {
        ok = TRUE;
        goto out;
      }
      skip_ws (s);
      if (s->pos >= s->len)
        goto out;
      c = s->p[s->pos];
      top = stack[depth - 1];
      if (c == ',') {
        s->pos++;
        state = top == '{' ? EXPECT_KEY : EXPECT_VALUE;
      } else if ((top == '{' && c == '}') || (top == '[' && c == ']')) {
        s->pos++;
        depth--;
      } else
        goto out;
    } else /* EXPECT_KEY */
    {
      skip_ws (s);
      if (!peek_is (s, '"') || !scan_string (s))
        goto out;
      skip_ws (s);
      if (!peek_is (s, ':'))
        goto out;
      s->pos++;
      state = EXPECT_VALUE;
    }
  }

out:
  if (stack != stack_buf)
    g_free (stack);
  return ok;
}

gboolean
metered_json_validate (const char *text, gsize len, guint max_depth)
{
  Scan s = { (const guchar *) text, len, 0 };

  if (text == NULL)
    return FALSE;
  if (!scan_value (&s, max_depth))
    return FALSE;
  skip_ws (&s);
  return s.pos == s.len;
}

/* The top-level container's children; its own nesting level counts
 * against max_depth like any other. */
static gboolean
scan_children (
    const char *text, gsize len, guint max_depth, gboolean object, GArray **out)
{
  Scan s = { (const guchar *) text, len, 0 };
  GArray *members = NULL;
  guchar close = object ? '}' : ']';

  if (out)
    *out = NULL;
  if (text == NULL || max_depth == 0)
    return FALSE;

  skip_ws (&s);
  if (!peek_is (&s, object ? '{' : '['))
    return FALSE;
  s.pos++;

  members = g_array_new (FALSE, TRUE, sizeof (MeteredJsonMember));
  skip_ws (&s);
  if (peek_is (&s, close))
    s.pos++;
  else {
    for (;;) {
      MeteredJsonMember m = { NULL, 0, NULL, 0 };
      gsize start;

      skip_ws (&s);
      if (object) {
        start = s.pos;
        if (!peek_is (&s, '"') || !scan_string (&s))
          goto fail;
        m.key = text + start + 1;
        m.key_len = s.pos - start - 2;
        skip_ws (&s);
        if (!peek_is (&s, ':'))
          goto fail;
        s.pos++;
        skip_ws (&s);
      }
      start = s.pos;
      if (!scan_value (&s, max_depth - 1))
        goto fail;
      m.value = text + start;
      m.value_len = s.pos - start;
      g_array_append_val (members, m);

      skip_ws (&s);
      if (peek_is (&s, ',')) {
        s.pos++;
        continue;
      }
      if (peek_is (&s, close)) {
        s.pos++;
        break;
      }
      goto fail;
    }
  }

  skip_ws (&s);
  if (s.pos != s.len)
    goto fail;

  if (out)
    *out = members;
  else
    g_array_unref (members);
  return TRUE;

fail:
  g_array_unref (members);
  return FALSE;
}

gboolean
metered_json_object_members (
    const char *text, gsize len, guint max_depth, GArray **out)
{
  return scan_children (text, len, max_depth, TRUE, out);
}

gboolean
metered_json_array_elements (
    const char *text, gsize len, guint max_depth, GArray **out)
{
  return scan_children (text, len, max_depth, FALSE, out);
}

void
metered_json_append_string (GString *out, const char *s, gssize len)
{
  static const char hex[] = "0123456789abcdef";
  const guchar *p = (const guchar *) s;
  gsize n, i = 0, run = 0;

  g_return_if_fail (out != NULL);

  if (s == NULL)
    n = 0;
  else if (len < 0)
    n = strlen (s);
  else
    n = (gsize) len;

  g_string_append_c (out, '"');
  while (i < n) {
    guchar c = p[i];
    gsize seq;
    const char *esc = NULL;

    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      i++;
      continue;
    }
    if (c >= 0x80) {
      seq = utf8_sequence (p + i, n - i, NULL);
      if (seq > 0) {
        i += seq;
        continue;
      }
    }

    /* Something to escape: flush the literal run first. */
    g_string_append_len (out, (const char *) p + run, i - run);
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\b':
        esc = "\\b";
        break;
      case '\f':
        esc = "\\f";
        break;
      default:
        break;
    }
    if (esc)
      g_string_append (out, esc);
    else if (c < 0x20) {
      g_string_append (out, "\\u00");
      g_string_append_c (out, hex[c >> 4]);
      g_string_append_c (out, hex[c & 0xf]);
    } else /* invalid UTF-8 byte: the output stays valid JSON */
      g_string_append (out, "\\ufffd");
    i++;
    run = i;
  }
  g_string_append_len (out, (const char *) p + run, n - run);
  g_string_append_c (out, '"');
}

gsize
metered_utf16_length (const char *s, gssize len)
{
  const guchar *p = (const guchar *) s;
  gsize n, i = 0, units = 0;

  if (s == NULL)
    return 0;
  n = len < 0 ? strlen (s) : (gsize) len;

  while (i < n) {
    gunichar cp;
    gsize seq = utf8_sequence (p + i, n - i, &cp);

    if (seq == 0) {
      /* An invalid byte counts as one U+FFFD. */
      units++;
      i++;
      continue;
    }
    units += cp >= 0x10000 ? 2 : 1;
    i += seq;
  }
  return units;
}
