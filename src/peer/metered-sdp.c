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

#include "metered-sdp.h"

#include "protocol/metered-protocol.h"

#include <gst/sdp/sdp.h>
#include <string.h>

void
metered_sdp_info_clear (MeteredSdpInfo *info)
{
  g_clear_pointer (&info->session_id, g_free);
  g_clear_pointer (&info->fingerprint, g_free);
  g_clear_pointer (&info->ice_ufrag, g_free);
  info->n_media = 0;
}

static GstSDPMessage *
parse (const char *sdp)
{
  GstSDPMessage *msg = NULL;

  /* GstSDP is critical on empty text. */
  if (!sdp || !*sdp || gst_sdp_message_new (&msg) != GST_SDP_OK)
    return NULL;
  if (gst_sdp_message_parse_buffer ((const guint8 *) sdp, strlen (sdp), msg) !=
      GST_SDP_OK) {
    gst_sdp_message_free (msg);
    return NULL;
  }
  return msg;
}

static const char *
first_attribute (const GstSDPMessage *msg, const char *key)
{
  const char *value = gst_sdp_message_get_attribute_val (msg, key);

  for (guint i = 0; !value && i < gst_sdp_message_medias_len (msg); i++)
    value = gst_sdp_media_get_attribute_val (
        gst_sdp_message_get_media (msg, i), key);
  return value;
}

gboolean
metered_sdp_info_parse (const char *sdp, MeteredSdpInfo *info)
{
  GstSDPMessage *msg = parse (sdp);
  const GstSDPOrigin *origin;

  memset (info, 0, sizeof *info);
  if (!msg)
    return FALSE;
  origin = gst_sdp_message_get_origin (msg);
  info->session_id = g_strdup (origin ? origin->sess_id : NULL);
  info->fingerprint = g_strdup (first_attribute (msg, "fingerprint"));
  info->ice_ufrag = g_strdup (first_attribute (msg, "ice-ufrag"));
  info->n_media = gst_sdp_message_medias_len (msg);
  gst_sdp_message_free (msg);
  return TRUE;
}

MeteredSdpChange
metered_sdp_compare (const char *previous, const char *incoming)
{
  g_auto (MeteredSdpInfo) a = { 0 };
  g_auto (MeteredSdpInfo) b = { 0 };

  if (!previous || !metered_sdp_info_parse (previous, &a) ||
      !metered_sdp_info_parse (incoming, &b))
    return METERED_SDP_CHANGE_NONE;
  /* A browser that rebuilt its RTCPeerConnection (the SDK's reconcile)
   * has a new session id and a new DTLS fingerprint. */
  if (g_strcmp0 (a.session_id, b.session_id) != 0 ||
      g_strcmp0 (a.fingerprint, b.fingerprint) != 0)
    return METERED_SDP_CHANGE_NEW_SESSION;
  if (g_strcmp0 (a.ice_ufrag, b.ice_ufrag) != 0)
    return METERED_SDP_CHANGE_ICE_RESTART;
  return METERED_SDP_CHANGE_NONE;
}

gint
metered_sdp_mline_for_mid (const char *sdp, const char *mid)
{
  GstSDPMessage *msg = parse (sdp);
  gint found = -1;

  if (!msg || !mid)
    goto out;
  for (guint i = 0; i < gst_sdp_message_medias_len (msg); i++) {
    const char *m = gst_sdp_media_get_attribute_val (
        gst_sdp_message_get_media (msg, i), "mid");
    if (g_strcmp0 (m, mid) == 0) {
      found = (gint) i;
      break;
    }
  }
out:
  if (msg)
    gst_sdp_message_free (msg);
  return found;
}

GArray *
metered_sdp_sending_mlines (const char *sdp)
{
  GstSDPMessage *msg = parse (sdp);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; msg && i < gst_sdp_message_medias_len (msg); i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (msg, i);
    if (gst_sdp_media_get_attribute_val (media, "sendrecv") ||
        gst_sdp_media_get_attribute_val (media, "sendonly"))
      g_array_append_val (out, i);
  }
  if (msg)
    gst_sdp_message_free (msg);
  return out;
}

/* GstSDP 1.22 writes a media-level "i=" line without its CRLF, gluing the
 * next line onto it (found by fuzz-sdp): give the value its own. */
static void
fix_media_information (GstSDPMessage *msg)
{
  for (guint i = 0; i < gst_sdp_message_medias_len (msg); i++) {
    GstSDPMedia *media = (GstSDPMedia *) gst_sdp_message_get_media (msg, i);
    const char *info = gst_sdp_media_get_information (media);
    if (info && !g_str_has_suffix (info, "\r\n")) {
      g_autofree char *fixed = g_strconcat (info, "\r\n", NULL);
      gst_sdp_media_set_information (media, fixed);
    }
  }
}

char *
metered_sdp_set_msid (
    const char *sdp, guint mline, const char *stream_id, const char *track_id)
{
  GstSDPMessage *msg = parse (sdp);
  GstSDPMedia *media;
  g_autofree char *value = NULL;
  char *text;

  if (!msg)
    return NULL;
  if (mline >= gst_sdp_message_medias_len (msg)) {
    gst_sdp_message_free (msg);
    return NULL;
  }
  media = (GstSDPMedia *) gst_sdp_message_get_media (msg, mline);
  for (guint i = gst_sdp_media_attributes_len (media); i > 0; i--) {
    const GstSDPAttribute *attr = gst_sdp_media_get_attribute (media, i - 1);
    /* webrtcbin also writes "a=ssrc:N msid:<stream> <transceiver name>";
     * a browser may take its track id from there, so only ours stays. */
    if (g_strcmp0 (attr->key, "msid") == 0 ||
        (g_strcmp0 (attr->key, "ssrc") == 0 && attr->value &&
            strstr (attr->value, " msid:")))
      gst_sdp_media_remove_attribute (media, i - 1);
  }
  value = g_strdup_printf ("%s %s", stream_id, track_id);
  gst_sdp_media_add_attribute (media, "msid", value);
  fix_media_information (msg);
  text = gst_sdp_message_as_text (msg);
  gst_sdp_message_free (msg);
  return text;
}

/* The payload type an a=rtpmap or a=fmtp value is about ("97 rtx/90000"). */
static gboolean
attribute_is_for (const GstSDPAttribute *attr, const char *pt)
{
  gsize len = strlen (pt);

  return (g_strcmp0 (attr->key, "rtpmap") == 0 ||
             g_strcmp0 (attr->key, "fmtp") == 0) &&
         attr->value && strncmp (attr->value, pt, len) == 0 &&
         attr->value[len] == ' ';
}

char *
metered_sdp_drop_duplicate_formats (const char *sdp)
{
  GstSDPMessage *msg = parse (sdp);
  gboolean changed = FALSE;
  char *text = NULL;

  for (guint m = 0; msg && m < gst_sdp_message_medias_len (msg); m++) {
    GstSDPMedia *media = (GstSDPMedia *) gst_sdp_message_get_media (msg, m);
    g_autoptr (GHashTable) seen =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

    for (guint f = 0; f < gst_sdp_media_formats_len (media);) {
      g_autofree char *pt = g_strdup (gst_sdp_media_get_format (media, f));
      g_autoptr (GHashTable) kept = NULL;

      if (!g_hash_table_contains (seen, pt)) {
        g_hash_table_add (seen, g_strdup (pt));
        f++;
        continue;
      }
      gst_sdp_media_remove_format (media, f);
      changed = TRUE;
      /* the first a=rtpmap and a=fmtp of that payload type stay */
      kept = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint a = 0; a < gst_sdp_media_attributes_len (media);) {
        const GstSDPAttribute *attr = gst_sdp_media_get_attribute (media, a);
        if (attribute_is_for (attr, pt)) {
          if (g_hash_table_contains (kept, attr->key)) {
            gst_sdp_media_remove_attribute (media, a);
            continue;
          }
          g_hash_table_add (kept, attr->key);
        }
        a++;
      }
    }
  }
  if (changed) {
    fix_media_information (msg);
    text = gst_sdp_message_as_text (msg);
  }
  if (msg)
    gst_sdp_message_free (msg);
  return text;
}

gboolean
metered_sdp_is_rtc_signal (JsonObject *obj)
{
  MeteredPeerPayload payload;

  switch (metered_peer_payload_parse (obj, &payload)) {
    case METERED_PEER_PAYLOAD_DESCRIPTION:
    case METERED_PEER_PAYLOAD_CANDIDATE:
      return TRUE;
    default:
      return FALSE;
  }
}

MeteredCandidateCheck
metered_sdp_check_candidate (
    JsonObject *cand, const char *remote_sdp, const char **text, guint *mline)
{
  const char *mid = NULL;
  gint found = -1;
  MeteredCandidateCheck check =
      metered_peer_payload_check_candidate (cand, text, &found, &mid);

  if (check != METERED_CANDIDATE_OK)
    return check;
  if (found < 0 && mid)
    found = metered_sdp_mline_for_mid (remote_sdp, mid);
  if (found < 0 || found > METERED_SDP_MAX_MLINE)
    return METERED_CANDIDATE_NO_MLINE;
  *mline = (guint) found;
  return METERED_CANDIDATE_OK;
}

/* --- ICE restarts (metered-ice-restart.c) --- */

gboolean
metered_sdp_get_ice_credentials (const char *sdp, char **ufrag, char **pwd)
{
  GstSDPMessage *msg = parse (sdp);

  *ufrag = *pwd = NULL;
  if (!msg)
    return FALSE;
  *ufrag = g_strdup (first_attribute (msg, "ice-ufrag"));
  *pwd = g_strdup (first_attribute (msg, "ice-pwd"));
  gst_sdp_message_free (msg);
  if (!*ufrag || !*pwd) {
    g_clear_pointer (ufrag, g_free);
    g_clear_pointer (pwd, g_free);
    return FALSE;
  }
  return TRUE;
}

gboolean
metered_sdp_is_ice_restart (const char *previous, const char *incoming)
{
  g_autofree char *ufrag_a = NULL, *pwd_a = NULL;
  g_autofree char *ufrag_b = NULL, *pwd_b = NULL;

  if (metered_sdp_compare (previous, incoming) !=
          METERED_SDP_CHANGE_ICE_RESTART &&
      metered_sdp_compare (previous, incoming) != METERED_SDP_CHANGE_NONE)
    return FALSE;
  if (!metered_sdp_get_ice_credentials (previous, &ufrag_a, &pwd_a) ||
      !metered_sdp_get_ice_credentials (incoming, &ufrag_b, &pwd_b))
    return FALSE;
  /* Browsers restart on a change of either (RFC 8839 §4.4.1.1.1). */
  return !g_str_equal (ufrag_a, ufrag_b) || !g_str_equal (pwd_a, pwd_b);
}

/* Sets every attribute key of media (of the session when media is NULL)
 * to value. */
static void
replace_all (
    GstSDPMessage *msg, GstSDPMedia *media, const char *key, const char *value)
{
  guint n = media ? gst_sdp_media_attributes_len (media)
                  : gst_sdp_message_attributes_len (msg);

  for (guint i = 0; i < n; i++) {
    const GstSDPAttribute *attr = media
                                      ? gst_sdp_media_get_attribute (media, i)
                                      : gst_sdp_message_get_attribute (msg, i);
    GstSDPAttribute copy;

    if (g_strcmp0 (attr->key, key) != 0)
      continue;
    gst_sdp_attribute_set (&copy, key, value);
    if (media)
      gst_sdp_media_replace_attribute (media, i, &copy);
    else
      gst_sdp_message_replace_attribute (msg, i, &copy);
  }
}

char *
metered_sdp_rewrite_ice (
    const char *sdp, const char *ufrag, const char *pwd, const char *setup)
{
  GstSDPMessage *msg = parse (sdp);
  char *text;

  if (!msg)
    return NULL;
  for (gint m = -1; m < (gint) gst_sdp_message_medias_len (msg); m++) {
    GstSDPMedia *media =
        m < 0 ? NULL : (GstSDPMedia *) gst_sdp_message_get_media (msg, m);
    if (ufrag)
      replace_all (msg, media, "ice-ufrag", ufrag);
    if (pwd)
      replace_all (msg, media, "ice-pwd", pwd);
    if (setup)
      replace_all (msg, media, "setup", setup);
  }
  text = gst_sdp_message_as_text (msg);
  gst_sdp_message_free (msg);
  return text;
}

/* "<id>[/<direction>] <uri> [<attributes>]": the id if the uri is uri,
 * else -1. */
static gint
extmap_value_id (const char *value, const char *uri)
{
  g_auto (GStrv) tokens = NULL;
  char *slash;
  guint64 id;

  if (!value)
    return -1;
  tokens = g_strsplit (value, " ", 3);
  if (g_strv_length (tokens) < 2 || !g_str_equal (tokens[1], uri))
    return -1;
  if ((slash = strchr (tokens[0], '/')))
    *slash = '\0';
  /* RFC 8285: 1-14 one-byte, up to 255 two-byte */
  if (!g_ascii_string_to_unsigned (tokens[0], 10, 1, 255, &id, NULL))
    return -1;
  return (gint) id;
}

gint
metered_sdp_extmap_id (const char *sdp, const char *uri)
{
  GstSDPMessage *msg = parse (sdp);
  gint id = -1;

  if (!msg || !uri)
    goto out;
  for (guint i = 0; id < 0; i++) {
    const char *v = gst_sdp_message_get_attribute_val_n (msg, "extmap", i);
    if (!v)
      break;
    id = extmap_value_id (v, uri);
  }
  for (guint m = 0; id < 0 && m < gst_sdp_message_medias_len (msg); m++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (msg, m);
    for (guint i = 0; id < 0; i++) {
      const char *v = gst_sdp_media_get_attribute_val_n (media, "extmap", i);
      if (!v)
        break;
      id = extmap_value_id (v, uri);
    }
  }
out:
  if (msg)
    gst_sdp_message_free (msg);
  return id;
}
