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
 * Client side: metered_server_frame_parse on arbitrary bytes.
 *
 * Invariants: an accepted frame was valid JSON; raw spans (data,
 * metadata, fromMetadata, entry metadata) are valid JSON, objects where
 * the SDK requires objects; rebuilding with the server builders and
 * parsing again gives the same fields.
 */

#include "fuzz-common.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static gboolean
is_json_object (const char *s)
{
  return s != NULL && s[0] == '{' &&
         metered_json_object_members (
             s, strlen (s), METERED_JSON_MAX_DEPTH, NULL);
}

static MeteredFrame *
reparse (const char *built)
{
  g_autoptr (GError) error = NULL;
  MeteredFrame *g = metered_server_frame_parse (built, strlen (built), &error);

  FUZZ_CHECK (g != NULL);
  return g;
}

static gboolean
as_int (double v, gint64 *out)
{
  if (!isfinite (v) || v != floor (v) || fabs (v) > 1e15)
    return FALSE;
  *out = (gint64) v;
  return TRUE;
}

static void
check_entries (GPtrArray *a, GPtrArray *b)
{
  guint i;

  FUZZ_CHECK (a->len == b->len);
  for (i = 0; i < a->len; i++) {
    MeteredPresenceEntry *x = g_ptr_array_index (a, i);
    MeteredPresenceEntry *y = g_ptr_array_index (b, i);

    FUZZ_CHECK (g_strcmp0 (x->peer_id, y->peer_id) == 0);
    FUZZ_CHECK (g_strcmp0 (x->metadata, y->metadata) == 0);
    if (x->metadata)
      FUZZ_CHECK (is_json_object (x->metadata));
  }
}

static MeteredPresenceEntry *
flatten (GPtrArray *a)
{
  MeteredPresenceEntry *out = g_new0 (MeteredPresenceEntry, a->len + 1);
  guint i;

  for (i = 0; i < a->len; i++)
    out[i] = *(MeteredPresenceEntry *) g_ptr_array_index (a, i);
  return out;
}

static void
check_round_trip (const MeteredFrame *f)
{
  g_autofree char *built = NULL;
  MeteredFrame *g = NULL;
  gint64 e, s, m;

  switch (f->type) {
    case METERED_FRAME_WELCOME:
      if (!as_int (f->server_time, &s) || !as_int (f->max_message_size, &m))
        return;
      if (f->expires_at_is_null)
        e = -1;
      else if (!as_int (f->expires_at, &e) || e < 0)
        return;
      built = metered_frame_build_welcome (f->peer_id, e, s, m, f->metadata);
      g = reparse (built);
      FUZZ_CHECK (g_strcmp0 (g->peer_id, f->peer_id) == 0);
      FUZZ_CHECK (g->expires_at_is_null == f->expires_at_is_null);
      FUZZ_CHECK (g->expires_at == f->expires_at);
      FUZZ_CHECK (g->server_time == f->server_time);
      FUZZ_CHECK (g->max_message_size == f->max_message_size);
      FUZZ_CHECK (g_strcmp0 (g->metadata, f->metadata) == 0);
      break;
    case METERED_FRAME_ACK:
      built = metered_frame_build_ack (f->request_id);
      g = reparse (built);
      FUZZ_CHECK (g_strcmp0 (g->request_id, f->request_id) == 0);
      break;
    case METERED_FRAME_ERROR:
      built = metered_frame_build_error (f->code, f->message, f->request_id);
      g = reparse (built);
      FUZZ_CHECK (g_strcmp0 (g->code, f->code) == 0);
      FUZZ_CHECK (g_strcmp0 (g->message, f->message) == 0);
      FUZZ_CHECK (g_strcmp0 (g->request_id, f->request_id) == 0);
      break;
    case METERED_FRAME_MESSAGE:
      built = metered_frame_build_message (
          f->channel, f->from, f->data, f->from_metadata);
      g = reparse (built);
      FUZZ_CHECK (g_strcmp0 (g->channel, f->channel) == 0);
      break;
    case METERED_FRAME_DIRECT:
      built = metered_frame_build_direct (f->from, f->data, f->from_metadata);
      g = reparse (built);
      break;
    case METERED_FRAME_PRESENCE: {
      g_autofree MeteredPresenceEntry *j = flatten (f->joined);
      g_autofree MeteredPresenceEntry *l = flatten (f->left);

      built = metered_frame_build_presence (
          f->channel, j, f->joined->len, l, f->left->len);
      g = reparse (built);
      FUZZ_CHECK (g_strcmp0 (g->channel, f->channel) == 0);
      check_entries (f->joined, g->joined);
      check_entries (f->left, g->left);
    } break;
    case METERED_FRAME_GOING_AWAY:
      if (!as_int (f->retry_after_ms, &m))
        return;
      built = metered_frame_build_going_away (m);
      g = reparse (built);
      FUZZ_CHECK (g->retry_after_ms == f->retry_after_ms);
      break;
    case METERED_FRAME_PONG:
      built = metered_frame_build_pong ();
      g = reparse (built);
      break;
    default:
      FUZZ_CHECK (FALSE);
  }

  FUZZ_CHECK (g->type == f->type);
  FUZZ_CHECK (g_strcmp0 (g->from, f->from) == 0);
  FUZZ_CHECK (g_strcmp0 (g->data, f->data) == 0);
  FUZZ_CHECK (g_strcmp0 (g->from_metadata, f->from_metadata) == 0);
  metered_frame_free (g);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  g_autoptr (GError) error = NULL;
  MeteredFrame *f = metered_server_frame_parse (text, size, &error);

  if (f == NULL) {
    FUZZ_CHECK (error != NULL);
    return 0;
  }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (metered_json_validate (text, size, METERED_JSON_MAX_DEPTH));

  if (f->data)
    FUZZ_CHECK (metered_json_validate (
        f->data, strlen (f->data), METERED_JSON_MAX_DEPTH));
  if (f->metadata)
    FUZZ_CHECK (is_json_object (f->metadata));
  if (f->from_metadata)
    FUZZ_CHECK (is_json_object (f->from_metadata));
  if (f->type == METERED_FRAME_GOING_AWAY)
    FUZZ_CHECK (isfinite (f->retry_after_ms) && f->retry_after_ms > 0);
  if (f->type == METERED_FRAME_PRESENCE)
    FUZZ_CHECK (f->joined != NULL && f->left != NULL);
  if (f->type == METERED_FRAME_WELCOME) {
    g_autoptr (GError) ice_error = NULL;
    GPtrArray *ice =
        metered_ice_servers_from_metadata (f->metadata, &ice_error);

    FUZZ_CHECK (ice == NULL || ice_error == NULL);
    if (ice)
      g_ptr_array_unref (ice);
  }

  check_round_trip (f);
  metered_frame_free (f);
  return 0;
}
