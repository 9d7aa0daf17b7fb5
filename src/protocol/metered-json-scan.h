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

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A strict RFC 8259 scanner that works on the frame text itself, so that
 * values can be forwarded as the exact bytes the sender wrote (large
 * integers, key order and number spelling survive) and so that hostile
 * input (deep nesting, invalid UTF-8, raw control characters) is refused
 * before any tree is built.
 */

typedef struct
{
  const char *key; /* points into a caller-owned buffer, NOT terminated */
  gsize key_len; /* raw (still escaped) key bytes between the quotes */
  const char *value; /* first byte of the value */
  gsize value_len; /* bytes of the value, no surrounding white space */
} MeteredJsonMember;

/* TRUE if text[0..len) is exactly one valid JSON value (surrounding
 * white space allowed), valid UTF-8, nesting <= max_depth. */
gboolean metered_json_validate (const char *text, gsize len, guint max_depth);

/* If text is a valid JSON object, fills out with its top-level members in
 * order (a GArray of MeteredJsonMember) and returns TRUE. Duplicate keys
 * are reported as they are (callers decide). */
gboolean metered_json_object_members (
    const char *text, gsize len, guint max_depth, GArray **out);

/* Same for a JSON array: fills out with its top-level elements in order
 * (key is NULL and key_len 0 in every MeteredJsonMember). */
gboolean metered_json_array_elements (
    const char *text, gsize len, guint max_depth, GArray **out);

/* Appends s (UTF-8, len bytes, or -1 for NUL-terminated) as a JSON string
 * literal with quotes, escaping what JSON requires. */
void metered_json_append_string (GString *out, const char *s, gssize len);

/* Length of a UTF-8 string in UTF-16 code units (how JS measures). */
gsize metered_utf16_length (const char *s, gssize len);

G_END_DECLS
