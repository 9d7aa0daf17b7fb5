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

/* The pure checks of metered-sdp.c on what a remote peer controls (the
 * regressions fuzz-sdp and the hostile-peer test found), no webrtcbin. */

#include "peer/metered-sdp.h"
#include "protocol/metered-protocol.h"

#include <gst/gst.h>
#include <string.h>

static const char offer[] = "v=0\r\n"
                            "o=- 7705585275567730684 2 IN IP4 127.0.0.1\r\n"
                            "s=-\r\n"
                            "t=0 0\r\n"
                            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                            "c=IN IP4 0.0.0.0\r\n"
                            "a=mid:0\r\n"
                            "a=sendrecv\r\n"
                            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                            "c=IN IP4 0.0.0.0\r\n"
                            "a=mid:1\r\n"
                            "a=recvonly\r\n";

static JsonObject *
object (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static MeteredCandidateCheck
check (const char *json, const char *sdp, guint *mline)
{
  g_autoptr (JsonObject) cand = object (json);
  const char *text = NULL;

  *mline = 999;
  return metered_sdp_check_candidate (cand, sdp, &text, mline);
}

static void
test_candidate (void)
{
  g_autofree char *long_cand = NULL;
  g_autofree char *json = NULL;
  guint mline;

  g_assert_cmpint (check ("{\"candidate\":\"candidate:1 1 udp 1 192.0.2.1 9 "
                          "typ host\",\"sdpMLineIndex\":1}",
                       offer, &mline),
      ==, METERED_CANDIDATE_OK);
  g_assert_cmpuint (mline, ==, 1);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMid\":\"1\"}", offer, &mline), ==,
      METERED_CANDIDATE_OK);
  g_assert_cmpuint (mline, ==, 1);
  /* 2^32 + 1 is not m-line 1 */
  g_assert_cmpint (check ("{\"candidate\":\"c\",\"sdpMLineIndex\":4294967297}",
                       offer, &mline),
      ==, METERED_CANDIDATE_NO_MLINE);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMLineIndex\":-1}", offer, &mline), ==,
      METERED_CANDIDATE_NO_MLINE);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMid\":\"9\"}", offer, &mline), ==,
      METERED_CANDIDATE_NO_MLINE);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMid\":\"0\"}", NULL, &mline), ==,
      METERED_CANDIDATE_NO_MLINE);
  /* wrong types are not critical, just unusable */
  g_assert_cmpint (check ("{\"candidate\":{},\"sdpMid\":[]}", offer, &mline),
      ==, METERED_CANDIDATE_END);
  g_assert_cmpint (check ("{\"candidate\":\"c\",\"sdpMid\":{}}", offer, &mline),
      ==, METERED_CANDIDATE_NO_MLINE);
  g_assert_cmpint (
      check ("{\"candidate\":\"\"}", offer, &mline), ==, METERED_CANDIDATE_END);

  long_cand = g_strnfill (METERED_ICE_CANDIDATE_MAX_LEN + 1, 'x');
  json =
      g_strdup_printf ("{\"candidate\":\"%s\",\"sdpMLineIndex\":0}", long_cand);
  g_assert_cmpint (check (json, offer, &mline), ==, METERED_CANDIDATE_TOO_LONG);
  long_cand[METERED_ICE_CANDIDATE_MAX_LEN] = '\0';
  g_free (json);
  json =
      g_strdup_printf ("{\"candidate\":\"%s\",\"sdpMLineIndex\":0}", long_cand);
  g_assert_cmpint (check (json, offer, &mline), ==, METERED_CANDIDATE_OK);
}

static gboolean
is_signal (const char *json)
{
  g_autoptr (JsonObject) obj = object (json);
  return metered_sdp_is_rtc_signal (obj);
}

static void
test_classifier (void)
{
  g_assert_true (is_signal ("{\"type\":\"rtc-description\",\"description\":"
                            "{\"type\":\"offer\",\"sdp\":\"v=0\"}}"));
  g_assert_true (is_signal ("{\"type\":\"rtc-ice\",\"candidate\":null}"));
  g_assert_true (is_signal ("{\"type\":\"rtc-ice\",\"candidate\":{}}"));
  g_assert_false (is_signal ("{\"type\":\"rtc-ice\",\"candidate\":\"c\"}"));
  g_assert_false (is_signal ("{\"type\":\"rtc-description\",\"description\":"
                             "{\"type\":\"pranswer\",\"sdp\":\"v=0\"}}"));
  g_assert_false (is_signal ("{\"type\":\"rtc-description\",\"description\":"
                             "{\"type\":\"offer\",\"sdp\":1}}"));
  /* json-glib's getters are critical on these; ours say no */
  g_assert_false (is_signal ("{\"type\":{}}"));
  g_assert_false (is_signal ("{\"type\":\"rtc-description\",\"description\":"
                             "{\"type\":[\"offer\"],\"sdp\":\"v=0\"}}"));
}

static void
test_sdp_text (void)
{
  /* GstSDP is critical on empty text */
  g_auto (MeteredSdpInfo) info = { 0 };
  g_autoptr (GArray) sending = NULL;
  g_autofree char *msid = NULL;
  g_autofree char *with_info = NULL;

  g_assert_false (metered_sdp_info_parse ("", &info));
  g_assert_cmpint (metered_sdp_mline_for_mid ("", "0"), ==, -1);
  g_assert_null (metered_sdp_set_msid ("", 0, "s", "t"));
  sending = metered_sdp_sending_mlines (offer);
  g_assert_cmpuint (sending->len, ==, 1);

  /* a media-level i= line keeps its own line through the msid rewrite */
  with_info = g_strconcat (offer, "i=camera\r\n", NULL);
  msid = metered_sdp_set_msid (with_info, 1, "stream", "track");
  g_assert_nonnull (strstr (msid, "i=camera\r\n"));
  g_assert_nonnull (strstr (msid, "\r\na=msid:stream track\r\n"));
}

/* webrtcbin 1.22's re-offer on a remote offer's transceiver, do-nack on */
static void
test_duplicate_formats (void)
{
  const char *reoffer =
      "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96 97 97\r\n"
      "c=IN IP4 0.0.0.0\r\na=recvonly\r\n"
      "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n"
      "a=rtpmap:97 RTX/90000\r\na=rtcp-fb:97 nack\r\na=fmtp:97 apt=96\r\n"
      "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=mid:0\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\n"
      "c=IN IP4 0.0.0.0\r\na=sendonly\r\n"
      "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n"
      "a=fmtp:97 apt=96\r\na=mid:1\r\n";
  g_autofree char *fixed = metered_sdp_drop_duplicate_formats (reoffer);
  const char *second;

  g_assert_nonnull (fixed);
  g_assert_nonnull (strstr (fixed, "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"));
  g_assert_nonnull (strstr (fixed, "a=rtpmap:97 RTX/90000\r\n"));
  g_assert_null (
      strstr (fixed, "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=mid:0"));
  /* one a=fmtp:97 left on the first m-line, the second m-line as it was */
  second = strstr (fixed, "m=video 0");
  g_assert_nonnull (second);
  g_assert_true (strstr (fixed, "a=fmtp:97") < second);
  g_assert_true (
      strstr (strstr (fixed, "a=fmtp:97") + 1, "a=fmtp:97") > second);
  g_assert_nonnull (
      strstr (second, "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96"));
  g_assert_nonnull (strstr (fixed, "a=rtcp-fb:97 nack\r\n"));
  /* nothing listed twice: nothing to do; not SDP: NULL */
  g_assert_null (metered_sdp_drop_duplicate_formats (fixed));
  g_assert_null (metered_sdp_drop_duplicate_formats ("not sdp"));
}

/* An offer with ICE credentials and a DTLS role, as a browser sends. */
static char *
ice_offer (const char *session, const char *ufrag, const char *pwd)
{
  return g_strdup_printf ("v=0\r\n"
                          "o=- %s 2 IN IP4 127.0.0.1\r\n"
                          "s=-\r\n"
                          "t=0 0\r\n"
                          "a=group:BUNDLE 0 1\r\n"
                          "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                          "c=IN IP4 0.0.0.0\r\n"
                          "a=ice-ufrag:%s\r\n"
                          "a=ice-pwd:%s\r\n"
                          "a=fingerprint:sha-256 AA:BB\r\n"
                          "a=setup:actpass\r\n"
                          "a=mid:0\r\n"
                          "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                          "c=IN IP4 0.0.0.0\r\n"
                          "a=ice-ufrag:%s\r\n"
                          "a=ice-pwd:%s\r\n"
                          "a=fingerprint:sha-256 AA:BB\r\n"
                          "a=setup:actpass\r\n"
                          "a=mid:1\r\n",
      session, ufrag, pwd, ufrag, pwd);
}

static void
test_ice_restart (void)
{
  g_autofree char *first = ice_offer ("1", "abcd", "pwd0pwd0pwd0pwd0pwd0pwd0");
  g_autofree char *same = ice_offer ("1", "abcd", "pwd0pwd0pwd0pwd0pwd0pwd0");
  g_autofree char *new_ufrag =
      ice_offer ("1", "efgh", "pwd0pwd0pwd0pwd0pwd0pwd0");
  g_autofree char *new_pwd =
      ice_offer ("1", "abcd", "pwd1pwd1pwd1pwd1pwd1pwd1");
  g_autofree char *new_pc = ice_offer ("2", "efgh", "pwd1pwd1pwd1pwd1pwd1pwd1");
  g_autofree char *ufrag = NULL, *pwd = NULL;
  g_autofree char *rewritten = NULL, *setup_only = NULL;

  g_assert_true (metered_sdp_get_ice_credentials (first, &ufrag, &pwd));
  g_assert_cmpstr (ufrag, ==, "abcd");
  g_assert_cmpstr (pwd, ==, "pwd0pwd0pwd0pwd0pwd0pwd0");
  g_clear_pointer (&ufrag, g_free);
  g_clear_pointer (&pwd, g_free);
  g_assert_false (metered_sdp_get_ice_credentials (offer, &ufrag, &pwd));
  g_assert_null (ufrag);
  g_assert_false (metered_sdp_get_ice_credentials ("", &ufrag, &pwd));

  /* either credential changing is a restart; a new session is not one */
  g_assert_false (metered_sdp_is_ice_restart (first, same));
  g_assert_true (metered_sdp_is_ice_restart (first, new_ufrag));
  g_assert_true (metered_sdp_is_ice_restart (first, new_pwd));
  g_assert_false (metered_sdp_is_ice_restart (first, new_pc));
  g_assert_false (metered_sdp_is_ice_restart (NULL, first));
  g_assert_false (metered_sdp_is_ice_restart (first, ""));

  /* every m-line gets the agent's credentials and our DTLS role */
  rewritten = metered_sdp_rewrite_ice (
      first, "wxyz", "newnewnewnewnewnewnew1", "passive");
  g_assert_nonnull (rewritten);
  g_assert_null (strstr (rewritten, "abcd"));
  g_assert_null (strstr (rewritten, "actpass"));
  g_assert_null (strstr (rewritten, "pwd0"));
  g_assert_nonnull (
      strstr (strstr (rewritten, "a=mid:0"), "a=ice-ufrag:wxyz\r\n"));
  g_assert_nonnull (strstr (
      strstr (rewritten, "m=video"), "a=ice-pwd:newnewnewnewnewnewnew1\r\n"));
  g_assert_nonnull (
      strstr (strstr (rewritten, "m=video"), "a=setup:passive\r\n"));
  g_assert_true (metered_sdp_get_ice_credentials (rewritten, &ufrag, &pwd));
  g_assert_cmpstr (ufrag, ==, "wxyz");

  /* NULL leaves a value alone */
  setup_only = metered_sdp_rewrite_ice (first, NULL, NULL, "active");
  g_assert_nonnull (strstr (setup_only, "a=ice-ufrag:abcd\r\n"));
  g_assert_nonnull (strstr (setup_only, "a=setup:active\r\n"));
  g_assert_null (metered_sdp_rewrite_ice ("", "a", "b", NULL));
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  /* A critical anywhere is a failure. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  g_test_add_func ("/sdp/candidate", test_candidate);
  g_test_add_func ("/sdp/classifier", test_classifier);
  g_test_add_func ("/sdp/text", test_sdp_text);
  g_test_add_func ("/sdp/duplicate-formats", test_duplicate_formats);
  g_test_add_func ("/sdp/ice-restart", test_ice_restart);
  return g_test_run ();
}
