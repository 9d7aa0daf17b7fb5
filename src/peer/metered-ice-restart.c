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
 * NiceAgent glue for ICE restarts (what and why: metered-ice-restart.h).
 * webrtcbin -> a transceiver's receiver -> its DTLS transport (our DTLS
 * role: "client") -> its ICE transport (GstWebRTCNiceTransport) ->
 * "stream" -> "stream-id"; webrtcbin -> "ice-agent" (GstWebRTCNice) ->
 * "agent" (the NiceAgent). With max-bundle there is one stream.
 */

#include "peer/metered-ice-restart.h"

#include "peer/metered-sdp.h"

#include <gst/webrtc/webrtc.h>
#include <nice/agent.h>
#include <ifaddrs.h>
#include <string.h>
#include <sys/socket.h>

GST_DEBUG_CATEGORY_EXTERN (metered_peer_debug);
#define GST_CAT_DEFAULT metered_peer_debug

/* webrtcbin's credential length and alphabet (webrtcsdp.c,
 * _generate_ice_credentials): 32 characters, far above the 4/22 minimum,
 * and the one an agent's validator compares a prefix of. */
#define METERED_ICE_CREDENTIAL_LEN 32

typedef struct
{
  NiceAgent *agent;
  guint stream_id;
  gboolean dtls_client;
} IceStream;

static void
ice_stream_clear (IceStream *s)
{
  g_clear_object (&s->agent);
}

/* The DTLS transport webrtcbin's first transceiver uses (max-bundle: the
 * only one), or NULL before negotiation made it. */
static GstWebRTCDTLSTransport *
bundle_dtls_transport (GstElement *webrtc)
{
  GArray *transceivers = NULL;
  GstWebRTCDTLSTransport *dtls = NULL;

  g_signal_emit_by_name (webrtc, "get-transceivers", &transceivers);
  for (guint i = 0; transceivers && !dtls && i < transceivers->len; i++) {
    GstWebRTCRTPTransceiver *t =
        g_array_index (transceivers, GstWebRTCRTPTransceiver *, i);
    GstWebRTCRTPReceiver *receiver = NULL;

    g_object_get (t, "receiver", &receiver, NULL);
    if (receiver) {
      g_object_get (receiver, "transport", &dtls, NULL);
      gst_object_unref (receiver);
    }
  }
  if (transceivers)
    g_array_unref (transceivers);
  return dtls;
}

static gboolean
find_stream (GstElement *webrtc, IceStream *out, GError **error)
{
  GstWebRTCDTLSTransport *dtls = bundle_dtls_transport (webrtc);
  GObject *ice_transport = NULL, *stream = NULL, *ice = NULL;
  gboolean ok = FALSE;

  memset (out, 0, sizeof *out);
  if (!dtls) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "no transport negotiated yet");
    return FALSE;
  }
  g_object_get (
      dtls, "client", &out->dtls_client, "transport", &ice_transport, NULL);
  if (ice_transport && g_object_class_find_property (
                           G_OBJECT_GET_CLASS (ice_transport), "stream"))
    g_object_get (ice_transport, "stream", &stream, NULL);
  if (stream)
    g_object_get (stream, "stream-id", &out->stream_id, NULL);
  g_object_get (webrtc, "ice-agent", &ice, NULL);
  if (ice && g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
    g_object_get (ice, "agent", &out->agent, NULL);
  ok = out->agent && NICE_IS_AGENT (out->agent) && out->stream_id > 0;
  if (!ok) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NOT_IMPLEMENTED,
        "webrtcbin's ICE is not libnice: cannot restart it");
    ice_stream_clear (out);
  }
  g_clear_object (&ice);
  g_clear_object (&stream);
  g_clear_object (&ice_transport);
  gst_object_unref (dtls);
  return ok;
}

static char *
random_credential (void)
{
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *s = g_malloc (METERED_ICE_CREDENTIAL_LEN + 1);

  for (guint i = 0; i < METERED_ICE_CREDENTIAL_LEN; i++)
    s[i] = alphabet[g_random_int_range (0, sizeof alphabet - 1)];
  s[METERED_ICE_CREDENTIAL_LEN] = '\0';
  return s;
}

/* Our restart until its answer, kept on the webrtcbin (qdata: it lives
 * as long as the agent). Set, changed and dropped on the connection's
 * context thread; metered_ice_restart_rewrite_local (webrtcbin's
 * thread) copies the credentials under the qdata lock
 * (g_object_dup_data), which a drop waits for. ufrag and pwd never
 * change once set. */
typedef struct
{
  char *old_ufrag, *old_pwd; /* the ones the remote still uses */
  char *ufrag, *pwd; /* the restart's, in our descriptions */
  /* The offer left: the agent was put back on the old ones. */
  gboolean held;
} PendingRestart;

#define PENDING_RESTART "metered-ice-restart-pending"

static void
pending_restart_free (gpointer data)
{
  PendingRestart *p = data;

  g_free (p->old_ufrag);
  g_free (p->old_pwd);
  g_free (p->ufrag);
  g_free (p->pwd);
  g_free (p);
}

static PendingRestart *
pending_restart (GstElement *webrtc)
{
  return g_object_get_data (G_OBJECT (webrtc), PENDING_RESTART);
}

static void
pending_restart_drop (GstElement *webrtc)
{
  g_object_set_data (G_OBJECT (webrtc), PENDING_RESTART, NULL);
}

/* Resets the check list and the selected pair's priority (so that any
 * working pair can replace it), keeps sending on that pair until one is
 * nominated, and clears the remote credentials: the remote description
 * applied next brings them. */
static gboolean
restart_agent (IceStream *s, const char *ufrag, const char *pwd, GError **error)
{
  if (nice_agent_restart_stream (s->agent, s->stream_id) &&
      nice_agent_set_local_credentials (s->agent, s->stream_id, ufrag, pwd))
    return TRUE;
  g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
      "libnice refused to restart stream %u", s->stream_id);
  return FALSE;
}

gboolean
metered_ice_restart_stream (GstElement *webrtc, GError **error)
{
  IceStream s;
  g_autofree char *ufrag = random_credential ();
  g_autofree char *pwd = random_credential ();
  gboolean ok;

  if (!find_stream (webrtc, &s, error))
    return FALSE;
  pending_restart_drop (webrtc);
  ok = restart_agent (&s, ufrag, pwd, error);
  ice_stream_clear (&s);
  return ok;
}

gboolean
metered_ice_restart_prepare (GstElement *webrtc, GError **error)
{
  IceStream s;
  PendingRestart *p;
  gboolean ok;

  /* The behaviour before (bench/ice-restart.sh's baseline): the agent
   * restarts at once and stops answering on the old pair. */
  if (g_getenv ("METERED_NO_HELD_CREDENTIALS"))
    return metered_ice_restart_stream (webrtc, error);
  if (!find_stream (webrtc, &s, error))
    return FALSE;
  p = g_new0 (PendingRestart, 1);
  ok = nice_agent_get_local_credentials (
      s.agent, s.stream_id, &p->old_ufrag, &p->old_pwd);
  ice_stream_clear (&s);
  if (!ok) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
        "libnice has no credentials for stream %u", s.stream_id);
    pending_restart_free (p);
    return FALSE;
  }
  p->ufrag = random_credential ();
  p->pwd = random_credential ();
  g_object_set_data_full (
      G_OBJECT (webrtc), PENDING_RESTART, p, pending_restart_free);
  return TRUE;
}

void
metered_ice_restart_hold (GstElement *webrtc)
{
  PendingRestart *p = pending_restart (webrtc);
  IceStream s;

  if (!p || p->held || !find_stream (webrtc, &s, NULL))
    return;
  /* set-local-description gave the agent the offer's credentials: back
   * to the ones the remote's consent checks on the old pair carry. */
  p->held = nice_agent_set_local_credentials (
      s.agent, s.stream_id, p->old_ufrag, p->old_pwd);
  ice_stream_clear (&s);
  GST_INFO_OBJECT (webrtc, "ICE restart offered; the old pair answers %s",
      p->held ? "until the answer" : "no more: libnice refused");
}

void
metered_ice_restart_remote_description (GstElement *webrtc, gboolean offer)
{
  PendingRestart *p = pending_restart (webrtc);
  g_autoptr (GError) error = NULL;
  IceStream s;

  if (!p)
    return;
  /* A remote offer applied instead of our unsent one: no restart. */
  if (offer || !find_stream (webrtc, &s, NULL)) {
    pending_restart_drop (webrtc);
    return;
  }
  if (!restart_agent (&s, p->ufrag, p->pwd, &error))
    GST_WARNING_OBJECT (webrtc, "%s", error->message);
  ice_stream_clear (&s);
  pending_restart_drop (webrtc);
}

char *
metered_ice_restart_agent_ufrag (GstElement *webrtc)
{
  IceStream s;
  gchar *ufrag = NULL, *pwd = NULL;

  if (!find_stream (webrtc, &s, NULL))
    return NULL;
  nice_agent_get_local_credentials (s.agent, s.stream_id, &ufrag, &pwd);
  g_free (pwd);
  ice_stream_clear (&s);
  return ufrag;
}

/* GDuplicateFunc: a prepared restart's credentials into out. */
static gpointer
copy_credentials (gpointer data, gpointer out)
{
  PendingRestart *p = data;
  char **creds = out;

  if (p) {
    creds[0] = g_strdup (p->ufrag);
    creds[1] = g_strdup (p->pwd);
  }
  return NULL;
}

char *
metered_ice_restart_rewrite_local (
    GstElement *webrtc, const char *sdp, gboolean offer)
{
  IceStream s;
  gchar *creds[2] = { NULL, NULL };
  gchar *ufrag, *pwd;
  char *text = NULL;

  if (!find_stream (webrtc, &s, NULL))
    return NULL;
  g_object_dup_data (
      G_OBJECT (webrtc), PENDING_RESTART, copy_credentials, creds);
  ufrag = creds[0];
  pwd = creds[1];
  if (ufrag ||
      nice_agent_get_local_credentials (s.agent, s.stream_id, &ufrag, &pwd))
    text = metered_sdp_rewrite_ice (sdp, ufrag, pwd,
        offer ? "actpass" : (s.dtls_client ? "active" : "passive"));
  g_free (ufrag);
  g_free (pwd);
  ice_stream_clear (&s);
  return text;
}

GPtrArray *
metered_ice_restart_local_candidates (GstElement *webrtc)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  IceStream s;
  GSList *cands;

  if (!find_stream (webrtc, &s, NULL))
    return out;
  cands = nice_agent_get_local_candidates (
      s.agent, s.stream_id, NICE_COMPONENT_TYPE_RTP);
  for (GSList *l = cands; l; l = l->next) {
    NiceCandidate *c = l->data;
    char *line;

    if (c->type == NICE_CANDIDATE_TYPE_PEER_REFLEXIVE)
      continue;
    line = nice_agent_generate_local_candidate_sdp (s.agent, c);
    if (line && g_str_has_prefix (line, "a="))
      g_ptr_array_add (out, g_strdup (line + 2));
    g_free (line);
  }
  g_slist_free_full (cands, (GDestroyNotify) nice_candidate_free);
  ice_stream_clear (&s);
  return out;
}

/* Whether addr is configured on any interface, up or not: a cable pulled
 * (no carrier) leaves the address, and a restart then helps once it is
 * back; nice_interfaces_get_local_ips () would skip such an interface. */
static gboolean
address_configured (const NiceAddress *addr)
{
  struct ifaddrs *ifs = NULL;
  gboolean found = FALSE;

  if (getifaddrs (&ifs) != 0)
    return TRUE; /* cannot tell: not gone */
  for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
    NiceAddress a;

    if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
                            i->ifa_addr->sa_family != AF_INET6))
      continue;
    nice_address_init (&a);
    nice_address_set_from_sockaddr (&a, i->ifa_addr);
    found = nice_address_equal_no_port (&a, addr);
  }
  freeifaddrs (ifs);
  return found;
}

gboolean
metered_ice_restart_selected_address_gone (GstElement *webrtc)
{
  IceStream s;
  NiceCandidate *local = NULL, *remote = NULL;
  GstWebRTCICEConnectionState ice_state;
  gboolean gone = FALSE;

  if (!find_stream (webrtc, &s, NULL))
    return FALSE;
  /* The pair's candidates stay the agent's: not freed here. */
  if (nice_agent_get_selected_pair (
          s.agent, s.stream_id, NICE_COMPONENT_TYPE_RTP, &local, &remote) &&
      local) {
    gone = !address_configured (&local->base_addr);
  } else {
    /* libnice may drop a socket whose sends fail (its address went), and
     * the selected pair with it, with no state change: a connection
     * still called connected without a pair has lost its path. */
    g_object_get (webrtc, "ice-connection-state", &ice_state, NULL);
    gone = ice_state == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED ||
           ice_state == GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED;
  }
  ice_stream_clear (&s);
  return gone;
}

gboolean
metered_ice_restart_local_address_gone (GstElement *webrtc)
{
  IceStream s;
  GSList *cands;
  gboolean any_host = FALSE, found = FALSE;

  if (!find_stream (webrtc, &s, NULL))
    return FALSE;
  cands = nice_agent_get_local_candidates (
      s.agent, s.stream_id, NICE_COMPONENT_TYPE_RTP);
  for (GSList *l = cands; l && !found; l = l->next) {
    NiceCandidate *c = l->data;

    if (c->type != NICE_CANDIDATE_TYPE_HOST)
      continue;
    any_host = TRUE;
    found = address_configured (&c->base_addr);
  }
  g_slist_free_full (cands, (GDestroyNotify) nice_candidate_free);
  ice_stream_clear (&s);
  return any_host && !found;
}
