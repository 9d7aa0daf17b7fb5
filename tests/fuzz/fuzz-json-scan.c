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
 * The strict scanner, the string writer and the scrubbers.
 *
 * Invariants: validate and the member/element splitters agree; every
 * member span is itself valid JSON; any byte string written with
 * metered_json_append_string is valid JSON; the scrubbers take any
 * text.
 */

#include "fuzz-common.h"

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static void
check_spans (GArray *spans, gboolean object)
{
  guint i;

  for (i = 0; i < spans->len; i++) {
    MeteredJsonMember *m = &g_array_index (spans, MeteredJsonMember, i);

    FUZZ_CHECK (
        metered_json_validate (m->value, m->value_len, METERED_JSON_MAX_DEPTH));
    FUZZ_CHECK (object == (m->key != NULL));
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  gboolean valid = metered_json_validate (text, size, METERED_JSON_MAX_DEPTH);
  GArray *spans = NULL;
  g_autoptr (GString) quoted = g_string_new (NULL);
  g_autofree char *copy = fuzz_strndup (data, size);
  g_autofree char *scrubbed = NULL;
  g_autofree char *scrubbed_url = NULL;

  if (metered_json_object_members (
          text, size, METERED_JSON_MAX_DEPTH, &spans)) {
    FUZZ_CHECK (valid);
    check_spans (spans, TRUE);
    g_array_unref (spans);
  }
  if (metered_json_array_elements (
          text, size, METERED_JSON_MAX_DEPTH, &spans)) {
    FUZZ_CHECK (valid);
    check_spans (spans, FALSE);
    g_array_unref (spans);
  }

  metered_json_append_string (quoted, text, (gssize) size);
  FUZZ_CHECK (metered_json_validate (quoted->str, quoted->len, 0));

  (void) metered_utf16_length (text, (gssize) size);

  scrubbed = metered_scrub_text (copy);
  scrubbed_url = metered_scrub_url (copy);
  FUZZ_CHECK (scrubbed != NULL && scrubbed_url != NULL);
  return 0;
}
