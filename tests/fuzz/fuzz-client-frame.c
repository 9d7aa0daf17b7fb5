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
 * Server side: metered_client_frame_parse on arbitrary bytes.
 *
 * Invariants: the result agrees with the strict scanner; every accepted
 * field passes its validator; "data" is valid JSON; rebuilding a frame
 * with the builders and parsing it again gives the same fields (escaping
 * and raw data fidelity).
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
check_round_trip (const MeteredFrame *f)
{
  g_autofree char *built = NULL;
  MeteredFrame *g = NULL;
  const char *code = NULL;

  switch (f->type) {
    case METERED_FRAME_SUBSCRIBE:
      built = metered_frame_build_subscribe (
          f->channel, f->request_id, f->include_sender_metadata);
      break;
    case METERED_FRAME_UNSUBSCRIBE:
      built = metered_frame_build_unsubscribe (f->channel, f->request_id);
      break;
    case METERED_FRAME_PUBLISH:
      built = metered_frame_build_publish (f->channel, f->data, f->request_id);
      break;
    case METERED_FRAME_SEND:
      built = metered_frame_build_send (f->to, f->data, f->request_id);
      break;
    case METERED_FRAME_PING:
      built = metered_frame_build_ping ();
      break;
    default:
      FUZZ_CHECK (FALSE);
  }

  FUZZ_CHECK (metered_client_frame_parse (built, strlen (built), &g, &code) ==
              METERED_PARSE_OK);
  FUZZ_CHECK (g->type == f->type);
  FUZZ_CHECK (g_strcmp0 (g->channel, f->channel) == 0);
  FUZZ_CHECK (g_strcmp0 (g->to, f->to) == 0);
  FUZZ_CHECK (g_strcmp0 (g->data, f->data) == 0);
  FUZZ_CHECK (g->include_sender_metadata == f->include_sender_metadata);
  if (f->type != METERED_FRAME_PING)
    FUZZ_CHECK (g_strcmp0 (g->request_id, f->request_id) == 0);
  metered_frame_free (g);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  MeteredFrame *f = (MeteredFrame *) 0x1;
  const char *code = NULL;
  MeteredParseResult r;
  gboolean valid;

  r = metered_client_frame_parse (text, size, &f, &code);
  valid = metered_json_validate (text, size, METERED_JSON_MAX_DEPTH);

  if (r == METERED_PARSE_MALFORMED) {
    FUZZ_CHECK (f == NULL);
    FUZZ_CHECK (g_strcmp0 (code, METERED_ERR_MALFORMED_MESSAGE) == 0);
    return 0;
  }

  FUZZ_CHECK (valid);
  FUZZ_CHECK (f != NULL);
  if (f->request_id)
    FUZZ_CHECK (metered_request_id_is_valid (f->request_id));

  switch (r) {
    case METERED_PARSE_OK:
      FUZZ_CHECK (code == NULL);
      if (f->channel)
        FUZZ_CHECK (metered_channel_is_valid (f->channel));
      if (f->to)
        FUZZ_CHECK (metered_peer_id_is_valid (f->to));
      if (f->type == METERED_FRAME_PUBLISH || f->type == METERED_FRAME_SEND) {
        FUZZ_CHECK (f->data != NULL);
        FUZZ_CHECK (metered_json_validate (
            f->data, strlen (f->data), METERED_JSON_MAX_DEPTH));
      }
      check_round_trip (f);
      break;
    case METERED_PARSE_UNKNOWN_TYPE:
      FUZZ_CHECK (f->type == METERED_FRAME_UNKNOWN);
      FUZZ_CHECK (g_strcmp0 (code, METERED_ERR_UNKNOWN_TYPE) == 0);
      break;
    case METERED_PARSE_INVALID:
      FUZZ_CHECK (g_strcmp0 (code, METERED_ERR_INVALID_CHANNEL) == 0 ||
                  g_strcmp0 (code, METERED_ERR_INVALID_PEER_ID) == 0 ||
                  g_strcmp0 (code, METERED_ERR_MISSING_DATA) == 0 ||
                  /* a subscribe's history request that is not one
                   * (docs/protocol.md, channel history) */
                  (f->type == METERED_FRAME_SUBSCRIBE &&
                      g_strcmp0 (code, METERED_ERR_MALFORMED_MESSAGE) == 0));
      break;
    default:
      FUZZ_CHECK (FALSE);
  }

  metered_frame_free (f);
  return 0;
}
