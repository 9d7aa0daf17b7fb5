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

#include "protocol/metered-validate.h"
#include "protocol/metered-limits.h"

#include <string.h>

/* Non-empty, well-formed UTF-8, at most max_units UTF-16 code units and,
 * when no_controls, no C0, DEL or C1 character. */
static gboolean
identifier_is_valid (const char *s, gsize max_units, gboolean no_controls)
{
  const char *p;
  gsize units = 0;

  if (s == NULL || *s == '\0')
    return FALSE;
  if (!g_utf8_validate (s, -1, NULL))
    return FALSE;

  for (p = s; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (no_controls && (c < 0x20 || (c >= 0x7f && c <= 0x9f)))
      return FALSE;
    units += c >= 0x10000 ? 2 : 1;
    if (units > max_units)
      return FALSE;
  }
  return TRUE;
}

gboolean
metered_channel_is_valid (const char *channel)
{
  return identifier_is_valid (channel, METERED_CHANNEL_MAX_LEN, TRUE);
}

gboolean
metered_peer_id_is_valid (const char *peer_id)
{
  return identifier_is_valid (peer_id, METERED_PEER_ID_MAX_LEN, TRUE);
}

gboolean
metered_request_id_is_valid (const char *request_id)
{
  return identifier_is_valid (request_id, METERED_REQUEST_ID_MAX_LEN, FALSE);
}

gboolean
metered_channel_is_reserved (const char *channel)
{
  static const char *const prefixes[] = {
    "_metered/",
    "_internal/",
    "_system/",
  };
  guint i;

  if (channel == NULL)
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (prefixes); i++)
    if (g_ascii_strncasecmp (channel, prefixes[i], strlen (prefixes[i])) == 0)
      return TRUE;
  return FALSE;
}

typedef enum
{
  TOK_LITERAL,
  TOK_STAR, /* any run without '/' */
  TOK_DOUBLESTAR, /* any run */
} PatternToken;

/*
 * Dynamic programming over (pattern token, channel prefix): row[j] tells
 * whether the tokens seen so far match the first j bytes of the channel.
 * Time is O(tokens * bytes) whatever the pattern, so "*a*a*a*a*b" against
 * a long channel cannot explode the way naive backtracking does.
 *
 * Matching bytes is matching characters here: '/' and '*' are ASCII, and
 * in well-formed UTF-8 no literal byte of a pattern can line up with the
 * middle of a multi-byte character of the channel.
 */
gboolean
metered_channel_pattern_match (const char *pattern, const char *channel)
{
  gsize plen, n, i, j;
  gboolean *row;
  gboolean result;

  if (pattern == NULL || channel == NULL)
    return FALSE;

  /* Common fast paths. */
  if (strcmp (pattern, "**") == 0)
    return TRUE;
  if (strchr (pattern, '*') == NULL)
    return strcmp (pattern, channel) == 0;

  plen = strlen (pattern);
  n = strlen (channel);
  row = g_new0 (gboolean, n + 1);
  row[0] = TRUE;

  for (i = 0; i < plen;) {
    PatternToken tok;
    guchar lit = 0;

    if (pattern[i] == '*') {
      gsize stars = 0;

      while (i < plen && pattern[i] == '*') {
        stars++;
        i++;
      }
      tok = stars >= 2 ? TOK_DOUBLESTAR : TOK_STAR;
    } else {
      tok = TOK_LITERAL;
      lit = (guchar) pattern[i++];
    }

    switch (tok) {
      case TOK_LITERAL:
        /* row[j] = row[j-1] && channel[j-1] == lit, updated right to
         * left so row[j-1] is still the previous token's value. */
        for (j = n; j > 0; j--)
          row[j] = row[j - 1] && (guchar) channel[j - 1] == lit;
        row[0] = FALSE;
        break;
      case TOK_STAR:
        for (j = 1; j <= n; j++)
          if (!row[j] && row[j - 1] && channel[j - 1] != '/')
            row[j] = TRUE;
        break;
      case TOK_DOUBLESTAR:
        for (j = 1; j <= n; j++)
          if (!row[j] && row[j - 1])
            row[j] = TRUE;
        break;
    }
  }

  result = row[n];
  g_free (row);
  return result;
}
