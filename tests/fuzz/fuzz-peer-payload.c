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
 * The peer payload parser of src/protocol/metered-peer-payload.c on
 * arbitrary text, as a remote peer's direct.data reaches it: the
 * classifier, the candidate checks, and our builders on what it parsed.
 *
 * Invariants: a description is an offer or answer with a string sdp; a
 * candidate accepted is non-empty, at most 1000 characters and names an
 * m-line in 0..64 or leaves it to its mid; track metadata has a
 * non-empty id and an object or nothing; whatever we parse, the builders
 * write back as a payload that parses to the same thing (and a builder's
 * output passes the depth-capped validator).
 */

#include "fuzz-common.h"

#include "protocol/metered-peer-payload.h"

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

/* Parses our own output; it must come back as type. */
static void
reparse (const char *built, MeteredPeerPayloadType type, JsonParser *parser,
    MeteredPeerPayload *out)
{
  FUZZ_CHECK (metered_peer_payload_parse_text (parser, built, out) == type);
}

static void
check_description (const MeteredPeerPayload *p)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *built = NULL;
  MeteredPeerPayload again;

  FUZZ_CHECK (g_strcmp0 (p->sdp_type, "offer") == 0 ||
              g_strcmp0 (p->sdp_type, "answer") == 0);
  FUZZ_CHECK (p->sdp != NULL);
  /* json-glib hands back what a \u escape decodes to; only UTF-8 is
   * ours to write again */
  if (!g_utf8_validate (p->sdp, -1, NULL))
    return;
  built = metered_peer_payload_build_description (p->sdp_type, p->sdp);
  reparse (built, METERED_PEER_PAYLOAD_DESCRIPTION, parser, &again);
  FUZZ_CHECK (g_str_equal (again.sdp_type, p->sdp_type));
  FUZZ_CHECK (g_str_equal (again.sdp, p->sdp));
}

static void
check_candidate (const MeteredPeerPayload *p)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *built = NULL;
  MeteredPeerPayload again;
  const char *text = NULL, *mid = NULL, *text2 = NULL, *mid2 = NULL;
  gint mline = -2, mline2 = -2;

  if (!p->candidate) {
    built = metered_peer_payload_build_candidate (0, NULL);
    reparse (built, METERED_PEER_PAYLOAD_CANDIDATE, parser, &again);
    FUZZ_CHECK (again.candidate == NULL);
    return;
  }
  if (metered_peer_payload_check_candidate (
          p->candidate, &text, &mline, &mid) != METERED_CANDIDATE_OK)
    return;
  FUZZ_CHECK (text && *text);
  FUZZ_CHECK (strlen (text) <= METERED_ICE_CANDIDATE_MAX_LEN);
  FUZZ_CHECK (mline >= -1 && mline <= METERED_PEER_PAYLOAD_MAX_MLINE);
  FUZZ_CHECK (mline == -1 || mid == NULL);
  if (mline < 0 || !g_utf8_validate (text, -1, NULL))
    return;
  built = metered_peer_payload_build_candidate ((guint) mline, text);
  reparse (built, METERED_PEER_PAYLOAD_CANDIDATE, parser, &again);
  FUZZ_CHECK (again.candidate != NULL);
  FUZZ_CHECK (metered_peer_payload_check_candidate (again.candidate, &text2,
                  &mline2, &mid2) == METERED_CANDIDATE_OK);
  FUZZ_CHECK (g_str_equal (text, text2));
  FUZZ_CHECK (mline == mline2 && mid2 == NULL);
}

static void
check_track_meta (const MeteredPeerPayload *p)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *meta = NULL;
  g_autofree char *built = NULL;
  g_autofree char *meta2 = NULL;
  MeteredPeerPayload again;

  FUZZ_CHECK (p->track_id && *p->track_id);
  FUZZ_CHECK (p->metadata == NULL || JSON_NODE_HOLDS_OBJECT (p->metadata));
  if (!p->metadata || !g_utf8_validate (p->track_id, -1, NULL))
    return;
  meta = json_to_string (p->metadata, FALSE);
  FUZZ_CHECK (meta[0] == '{');
  if (!g_utf8_validate (meta, -1, NULL))
    return;
  built = metered_peer_payload_build_track_meta (p->track_id, meta);
  reparse (built, METERED_PEER_PAYLOAD_TRACK_META, parser, &again);
  FUZZ_CHECK (g_str_equal (again.track_id, p->track_id));
  meta2 = json_to_string (again.metadata, FALSE);
  FUZZ_CHECK (g_str_equal (meta, meta2));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr (JsonParser) parser = json_parser_new ();
  MeteredPeerPayload p;

  /* Text with a NUL is cut there, as the C string it would become. */
  switch (metered_peer_payload_parse_text (parser, text, &p)) {
    case METERED_PEER_PAYLOAD_APP:
      FUZZ_CHECK (!p.sdp && !p.candidate && !p.track_id && !p.metadata);
      break;
    case METERED_PEER_PAYLOAD_DESCRIPTION:
      check_description (&p);
      break;
    case METERED_PEER_PAYLOAD_CANDIDATE:
      check_candidate (&p);
      break;
    case METERED_PEER_PAYLOAD_TRACK_META:
      check_track_meta (&p);
      break;
  }
  return 0;
}
