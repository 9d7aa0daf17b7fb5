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

#include "gstmeteredruntime.h"

#include "client/metered-client-url.h"
#include "protocol/metered-protocol.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (metered_runtime_debug);
#define GST_CAT_DEFAULT metered_runtime_debug

#define DEFAULT_URL METERED_DEFAULT_URL
/* An ingest box retries forever; -1 is the right default for elements. */
#define DEFAULT_RECONNECT_MAX_ATTEMPTS -1
#define DEFAULT_RECONNECT_INITIAL_DELAY 500
#define DEFAULT_RECONNECT_MAX_DELAY 30000
#define DEFAULT_INACTIVITY_TIMEOUT METERED_INACTIVITY_TIMEOUT_MS
#define DEFAULT_STUCK_TIMEOUT 30000
#define DEFAULT_DEAD_PEER_TIMEOUT 10000

static guint request_token_signal;

static gboolean
first_string_accumulator (GSignalInvocationHint *hint, GValue *acc,
    const GValue *handler_return, gpointer data)
{
  const char *s = g_value_get_string (handler_return);

  if (s && *s) {
    g_value_set_string (acc, s);
    return FALSE;
  }
  return TRUE;
}

void
metered_runtime_install_properties (GObjectClass *klass, guint first_id)
{
  GParamFlags rw =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;

  g_object_class_install_property (klass, first_id + METERED_RUNTIME_PROP_URL,
      g_param_spec_string ("url", "URL",
          "Signalling service base URL: wss://host[:port], or ws:// on "
          "localhost/127.0.0.1/::1 (metered-server --dev listens on "
          "ws://127.0.0.1:8080)",
          DEFAULT_URL, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_CHANNEL,
      g_param_spec_string (
          "channel", "Channel", "Channel to join (required)", NULL, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_API_KEY,
      g_param_spec_string ("api-key", "API key",
          "Publishable key (pk_...). Exactly one credential: api-key, token, "
          "token-url or a request-token handler. Reads back as ***",
          NULL, rw));
  g_object_class_install_property (klass, first_id + METERED_RUNTIME_PROP_TOKEN,
      g_param_spec_string ("token", "Token",
          "A static JWT (reads back as ***). Prefer token-url or "
          "request-token for tokens that expire",
          NULL, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_TOKEN_URL,
      g_param_spec_string ("token-url", "Token URL",
          "HTTP(S) URL answering a fresh JWT (text or JSON {token}); "
          "fetched before every connection attempt",
          NULL, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_STUN_SERVER,
      g_param_spec_string ("stun-server", "STUN server",
          "STUN server as stun://host:port; replaces the STUN entries of the "
          "server's welcome (its TURN entries are kept)",
          NULL, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_TURN_SERVERS,
      g_param_spec_string ("turn-servers", "TURN servers",
          "Comma-separated TURN servers as turn(s)://user:password@host:port, "
          "used in addition to the TURN entries of the server's welcome; "
          "reads back with the password as *** and is never logged",
          NULL, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_RECONNECT_MAX_ATTEMPTS,
      g_param_spec_int64 ("reconnect-max-attempts", "Reconnect attempts",
          "Signalling reconnect attempts before the element errors out; "
          "-1 (and 0) retry forever (the default: a box that runs for months "
          "should never give up)",
          -1, G_MAXINT64, DEFAULT_RECONNECT_MAX_ATTEMPTS, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_RECONNECT_INITIAL_DELAY,
      g_param_spec_uint ("reconnect-initial-delay", "Initial delay",
          "First reconnect delay in ms (doubles up to reconnect-max-delay, "
          "+/-20 % jitter)",
          0, G_MAXINT, DEFAULT_RECONNECT_INITIAL_DELAY, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_RECONNECT_MAX_DELAY,
      g_param_spec_uint ("reconnect-max-delay", "Maximum delay",
          "Cap of the reconnect delay in ms", 0, G_MAXINT,
          DEFAULT_RECONNECT_MAX_DELAY, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_INACTIVITY_TIMEOUT,
      g_param_spec_uint ("inactivity-timeout", "Inactivity timeout",
          "Reconnect after this many ms without a signalling frame (a ping "
          "goes out every third of it); 0 disables",
          0, G_MAXINT, DEFAULT_INACTIVITY_TIMEOUT, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_STUCK_TIMEOUT,
      g_param_spec_uint ("stuck-timeout", "Stuck timeout",
          "Post metered/stuck (and a warning) after this many ms of "
          "reconnecting, or of failing to connect at start (0: never)",
          0, G_MAXINT, DEFAULT_STUCK_TIMEOUT, rw));
  g_object_class_install_property (klass,
      first_id + METERED_RUNTIME_PROP_DEAD_PEER_TIMEOUT,
      g_param_spec_uint ("dead-peer-timeout", "Dead peer timeout",
          "A connected peer whose media stops for this many ms gets a fresh "
          "connection (webrtcbin has no consent freshness)",
          1000, G_MAXINT, DEFAULT_DEAD_PEER_TIMEOUT, rw));
  g_object_class_install_property (klass, first_id + METERED_RUNTIME_PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "metered/stats: signalling state, reconnects, last close code, "
          "queue depth, one metered/peer per remote peer (connection "
          "state, swaps, packets sent/received), and per stream: "
          "track-stats (meteredsink: codec, buffers sent, key units) or "
          "pad-stats (meteredsrc: buffers in/out, dropped deltas, GAPs, "
          "DISCONTs, swaps)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstMeteredSink::request-token:
   * @element: the element
   *
   * Asked before every connection attempt when no api-key, token or
   * token-url is set: return a JWT. Runs on the element's signalling
   * thread; may block briefly (token-provider-timeout is 10 s).
   *
   * Returns: (transfer full): the JWT
   */
  request_token_signal = g_signal_new ("request-token",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, first_string_accumulator,
      NULL, NULL, G_TYPE_STRING, 0);
}

void
metered_runtime_init (MeteredRuntime *rt, GstElement *element)
{
  memset (rt, 0, sizeof *rt);
  rt->element = element;
  g_mutex_init (&rt->lock);
  rt->url = g_strdup (DEFAULT_URL);
  rt->reconnect_max_attempts = DEFAULT_RECONNECT_MAX_ATTEMPTS;
  rt->reconnect_initial_delay = DEFAULT_RECONNECT_INITIAL_DELAY;
  rt->reconnect_max_delay = DEFAULT_RECONNECT_MAX_DELAY;
  rt->inactivity_timeout = DEFAULT_INACTIVITY_TIMEOUT;
  rt->stuck_timeout = DEFAULT_STUCK_TIMEOUT;
  rt->dead_peer_timeout = DEFAULT_DEAD_PEER_TIMEOUT;
}

void
metered_runtime_clear (MeteredRuntime *rt)
{
  metered_runtime_stop (rt);
  g_free (rt->url);
  g_free (rt->channel);
  g_free (rt->api_key);
  g_free (rt->token);
  g_free (rt->token_url);
  g_free (rt->stun_server);
  g_free (rt->turn_servers);
  g_mutex_clear (&rt->lock);
}

static void
take_string (char **field, const GValue *value)
{
  const char *s = g_value_get_string (value);

  g_free (*field);
  *field = s && *s ? g_strdup (s) : NULL;
}

gboolean
metered_runtime_set_property (
    MeteredRuntime *rt, guint prop_id, const GValue *value)
{
  gboolean handled = TRUE;

  g_mutex_lock (&rt->lock);
  switch (prop_id) {
    case METERED_RUNTIME_PROP_URL:
      take_string (&rt->url, value);
      if (!rt->url)
        rt->url = g_strdup (DEFAULT_URL);
      break;
    case METERED_RUNTIME_PROP_CHANNEL:
      take_string (&rt->channel, value);
      break;
    case METERED_RUNTIME_PROP_API_KEY:
      take_string (&rt->api_key, value);
      break;
    case METERED_RUNTIME_PROP_TOKEN:
      take_string (&rt->token, value);
      break;
    case METERED_RUNTIME_PROP_TOKEN_URL:
      take_string (&rt->token_url, value);
      break;
    case METERED_RUNTIME_PROP_STUN_SERVER:
      take_string (&rt->stun_server, value);
      break;
    case METERED_RUNTIME_PROP_TURN_SERVERS:
      take_string (&rt->turn_servers, value);
      break;
    case METERED_RUNTIME_PROP_RECONNECT_MAX_ATTEMPTS:
      rt->reconnect_max_attempts = g_value_get_int64 (value);
      if (rt->reconnect_max_attempts == 0)
        rt->reconnect_max_attempts = -1;
      break;
    case METERED_RUNTIME_PROP_RECONNECT_INITIAL_DELAY:
      rt->reconnect_initial_delay = g_value_get_uint (value);
      break;
    case METERED_RUNTIME_PROP_RECONNECT_MAX_DELAY:
      rt->reconnect_max_delay = g_value_get_uint (value);
      break;
    case METERED_RUNTIME_PROP_INACTIVITY_TIMEOUT:
      rt->inactivity_timeout = g_value_get_uint (value);
      break;
    case METERED_RUNTIME_PROP_STUCK_TIMEOUT:
      rt->stuck_timeout = g_value_get_uint (value);
      break;
    case METERED_RUNTIME_PROP_DEAD_PEER_TIMEOUT:
      rt->dead_peer_timeout = g_value_get_uint (value);
      break;
    default:
      handled = FALSE;
  }
  g_mutex_unlock (&rt->lock);
  return handled;
}

static GstStructure *
stats_structure (MeteredRuntime *rt)
{
  GstStructure *s = gst_structure_new_empty ("metered/stats");
  g_autoptr (GVariant) client_stats = NULL;
  g_autoptr (GVariant) peers = NULL;
  GValue list = G_VALUE_INIT;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (!rt->client) {
    gst_structure_set (
        s, "state", G_TYPE_STRING, "idle", "peers", G_TYPE_UINT, 0, NULL);
    return s;
  }
  client_stats = metered_signalling_client_get_stats (rt->client);
  g_variant_iter_init (&iter, client_stats);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value)) {
    if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
      gst_structure_set (
          s, key, G_TYPE_STRING, g_variant_get_string (value, NULL), NULL);
    else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
      gst_structure_set (
          s, key, G_TYPE_UINT64, g_variant_get_uint64 (value), NULL);
    else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
      gst_structure_set (
          s, key, G_TYPE_UINT, g_variant_get_uint32 (value), NULL);
    else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
      gst_structure_set (s, key, G_TYPE_INT, g_variant_get_int32 (value), NULL);
    else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
      gst_structure_set (
          s, key, G_TYPE_INT64, g_variant_get_int64 (value), NULL);
    g_variant_unref (value);
  }

  g_value_init (&list, GST_TYPE_LIST);
  if (rt->session) {
    GVariant *peer;
    const char *id;
    peers = metered_session_get_peer_stats (rt->session);
    g_variant_iter_init (&iter, peers);
    while (g_variant_iter_next (&iter, "{&s@a{sv}}", &id, &peer)) {
      GstStructure *p = gst_structure_new (
          "metered/peer", "peer-id", G_TYPE_STRING, id, NULL);
      GValue v = G_VALUE_INIT;
      GVariantIter pi;
      const char *k;
      GVariant *pv;

      g_variant_iter_init (&pi, peer);
      while (g_variant_iter_next (&pi, "{&sv}", &k, &pv)) {
        if (g_variant_is_of_type (pv, G_VARIANT_TYPE_UINT32))
          gst_structure_set (
              p, k, G_TYPE_UINT, g_variant_get_uint32 (pv), NULL);
        else if (g_variant_is_of_type (pv, G_VARIANT_TYPE_INT32))
          gst_structure_set (p, k, G_TYPE_INT, g_variant_get_int32 (pv), NULL);
        else if (g_variant_is_of_type (pv, G_VARIANT_TYPE_UINT64))
          gst_structure_set (
              p, k, G_TYPE_UINT64, g_variant_get_uint64 (pv), NULL);
        g_variant_unref (pv);
      }
      g_value_init (&v, GST_TYPE_STRUCTURE);
      g_value_take_boxed (&v, p);
      gst_value_list_append_and_take_value (&list, &v);
      g_variant_unref (peer);
    }
  }
  gst_structure_set (
      s, "peers", G_TYPE_UINT, gst_value_list_get_size (&list), NULL);
  gst_structure_take_value (s, "peer-stats", &list);
  return s;
}

gboolean
metered_runtime_get_property (MeteredRuntime *rt, guint prop_id, GValue *value)
{
  gboolean handled = TRUE;

  g_mutex_lock (&rt->lock);
  switch (prop_id) {
    case METERED_RUNTIME_PROP_URL:
      g_value_set_string (value, rt->url);
      break;
    case METERED_RUNTIME_PROP_CHANNEL:
      g_value_set_string (value, rt->channel);
      break;
    case METERED_RUNTIME_PROP_API_KEY:
      g_value_set_string (value, rt->api_key ? "***" : NULL);
      break;
    case METERED_RUNTIME_PROP_TOKEN:
      g_value_set_string (value, rt->token ? "***" : NULL);
      break;
    case METERED_RUNTIME_PROP_TOKEN_URL:
      g_value_take_string (
          value, rt->token_url ? metered_scrub_url (rt->token_url) : NULL);
      break;
    case METERED_RUNTIME_PROP_STUN_SERVER:
      g_value_set_string (value, rt->stun_server);
      break;
    case METERED_RUNTIME_PROP_TURN_SERVERS:
      g_value_set_string (value, rt->turn_servers ? "***" : NULL);
      break;
    case METERED_RUNTIME_PROP_RECONNECT_MAX_ATTEMPTS:
      g_value_set_int64 (value, rt->reconnect_max_attempts);
      break;
    case METERED_RUNTIME_PROP_RECONNECT_INITIAL_DELAY:
      g_value_set_uint (value, rt->reconnect_initial_delay);
      break;
    case METERED_RUNTIME_PROP_RECONNECT_MAX_DELAY:
      g_value_set_uint (value, rt->reconnect_max_delay);
      break;
    case METERED_RUNTIME_PROP_INACTIVITY_TIMEOUT:
      g_value_set_uint (value, rt->inactivity_timeout);
      break;
    case METERED_RUNTIME_PROP_STUCK_TIMEOUT:
      g_value_set_uint (value, rt->stuck_timeout);
      break;
    case METERED_RUNTIME_PROP_DEAD_PEER_TIMEOUT:
      g_value_set_uint (value, rt->dead_peer_timeout);
      break;
    case METERED_RUNTIME_PROP_STATS:
      g_value_take_boxed (value, stats_structure (rt));
      break;
    default:
      handled = FALSE;
  }
  g_mutex_unlock (&rt->lock);
  return handled;
}

/* --- bus messages and errors --- */

static void
post (MeteredRuntime *rt, GstStructure *s)
{
  gst_element_post_message (
      rt->element, gst_message_new_element (GST_OBJECT (rt->element), s));
}

static void
post_terminal_error (MeteredRuntime *rt, int code, const char *what)
{
  gboolean auth = code == METERED_CLOSE_INVALID_TOKEN ||
                  code == METERED_CLOSE_CHANNEL_NOT_AUTHORIZED;

  if (rt->errored)
    return;
  rt->errored = TRUE;
  if (auth)
    GST_ELEMENT_ERROR_WITH_DETAILS (rt->element, RESOURCE, NOT_AUTHORIZED,
        ("Not authorized by the signalling service (close code %d, %s)", code,
            metered_close_code_name (code)),
        ("%s", what), ("close-code", G_TYPE_INT, code, NULL));
  else
    GST_ELEMENT_ERROR_WITH_DETAILS (rt->element, RESOURCE, OPEN_READ_WRITE,
        ("Disconnected from the signalling service for good (close code "
         "%d, %s)",
            code, metered_close_code_name (code)),
        ("%s", what), ("close-code", G_TYPE_INT, code, NULL));
}

static void
on_state_changed (MeteredSignallingClient *client, MeteredClientState from,
    MeteredClientState to, MeteredRuntime *rt)
{
  post (rt, gst_structure_new ("metered/state-changed", "from", G_TYPE_STRING,
                metered_client_state_to_string (from), "to", G_TYPE_STRING,
                metered_client_state_to_string (to), NULL));
}

static void
on_disconnected (MeteredSignallingClient *client, int code, const char *reason,
    gboolean will_reconnect, MeteredRuntime *rt)
{
  rt->last_close_code = code;
  /* The client gives a failed first connect up (the SDK's connect()
   * rejects); the session retries it unless the code is terminal. The
   * message says what will happen, not what the client alone would do. */
  if (!will_reconnect && rt->session &&
      metered_session_get_state (rt->session) ==
          METERED_SESSION_STATE_JOINING &&
      metered_close_code_policy (code) != METERED_RETRY_TERMINAL)
    will_reconnect = TRUE;
  post (rt, gst_structure_new ("metered/disconnected", "close-code", G_TYPE_INT,
                code, "reason", G_TYPE_STRING, reason, "will-reconnect",
                G_TYPE_BOOLEAN, will_reconnect, NULL));
  if (!will_reconnect &&
      metered_close_code_policy (code) == METERED_RETRY_TERMINAL)
    post_terminal_error (rt, code, reason);
}

static void
cancel_first_connect_stuck (MeteredRuntime *rt)
{
  if (rt->first_connect_stuck) {
    g_source_destroy (rt->first_connect_stuck);
    g_clear_pointer (&rt->first_connect_stuck, g_source_unref);
  }
}

static void
on_connected (MeteredSignallingClient *client, const char *peer_id,
    double server_time, gint64 expires_at, gboolean is_reconnect,
    gint64 max_message_size, GVariant *ice_servers, MeteredRuntime *rt)
{
  cancel_first_connect_stuck (rt);
  if (is_reconnect)
    rt->reconnects++;
  post (rt, gst_structure_new ("metered/connected", "peer-id", G_TYPE_STRING,
                peer_id, "is-reconnect", G_TYPE_BOOLEAN, is_reconnect, NULL));
}

static void
post_stuck (MeteredRuntime *rt, gint64 ms)
{
  GST_ELEMENT_WARNING (rt->element, RESOURCE, OPEN_READ_WRITE,
      ("Still reconnecting to the signalling service after %" G_GINT64_FORMAT
       " ms",
          ms),
      ("media to connected peers keeps flowing"));
  post (rt, gst_structure_new (
                "metered/stuck", "reconnecting-ms", G_TYPE_INT64, ms, NULL));
}

static void
on_stuck (MeteredSignallingClient *client, gint64 ms, MeteredRuntime *rt)
{
  post_stuck (rt, ms);
}

/* A pipeline started during an outage is as stuck as one that lost its
 * server: an operator gets the same warning after stuck-timeout. */
static gboolean
on_first_connect_stuck (gpointer data)
{
  MeteredRuntime *rt = data;

  g_clear_pointer (&rt->first_connect_stuck, g_source_unref);
  post_stuck (rt, rt->stuck_timeout);
  return G_SOURCE_REMOVE;
}

static void
on_exhausted (
    MeteredSignallingClient *client, guint attempts, MeteredRuntime *rt)
{
  g_autofree char *what = g_strdup_printf ("gave up after %u reconnect "
                                           "attempts",
      attempts);
  post_terminal_error (rt, rt->last_close_code, what);
}

static void
on_token_error (MeteredSignallingClient *client, guint failures, GError *error,
    MeteredRuntime *rt)
{
  post (rt, gst_structure_new ("metered/token-provider-error",
                "consecutive-failures", G_TYPE_UINT, failures, "message",
                G_TYPE_STRING, error->message, NULL));
}

static char *
on_request_token (MeteredSignallingClient *client, MeteredRuntime *rt)
{
  char *token = NULL;

  g_signal_emit (rt->element, request_token_signal, 0, &token);
  return token;
}

static void
on_peer_joined (MeteredSession *session, const char *id, const char *meta,
    MeteredRuntime *rt)
{
  post (rt, gst_structure_new (
                "metered/peer-joined", "peer-id", G_TYPE_STRING, id, NULL));
}

static void
on_peer_left (MeteredSession *session, const char *id, MeteredRuntime *rt)
{
  post (rt, gst_structure_new (
                "metered/peer-left", "peer-id", G_TYPE_STRING, id, NULL));
}

static void
on_fatal (
    MeteredSession *session, int code, const char *message, MeteredRuntime *rt)
{
  post_terminal_error (rt, code, message);
}

/* The dead-media ladder is spent: media from and to this peer stopped and
 * fresh connections did not bring it back. Not fatal for the element (the
 * other peers are served; presence may still end or renew the peer), but
 * an operator must hear of it. */
static void
on_recovery_exhausted (
    MeteredSession *session, const char *id, MeteredRuntime *rt)
{
  GST_ELEMENT_WARNING (rt->element, RESOURCE, READ,
      ("Gave up recovering the media of peer %s", id),
      ("the fresh connections of the recovery ladder did not bring it back"));
  post (rt, gst_structure_new ("metered/peer-recovery-exhausted", "peer-id",
                G_TYPE_STRING, id, NULL));
}

/* An error the session reports as the SDK would emit it (err.name), for
 * instance an uncorrelated account_suspended. Terminal conditions also come
 * as a close code, which is what decides the element's error. */
static void
on_session_error (MeteredSession *session, const char *name,
    const char *message, MeteredRuntime *rt)
{
  post (rt, gst_structure_new ("metered/session-error", "name", G_TYPE_STRING,
                name, "message", G_TYPE_STRING, message ? message : "", NULL));
}

static void
on_swapped (MeteredSession *session, const char *id, MeteredRuntime *rt)
{
  post (rt, gst_structure_new ("metered/connection-swapped", "peer-id",
                G_TYPE_STRING, id, NULL));
}

/* --- life cycle --- */

gboolean
metered_runtime_prepare (MeteredRuntime *rt)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) turns = NULL;
  gboolean has_handler;

  g_mutex_lock (&rt->lock);
  if (!rt->channel || !metered_channel_is_valid (rt->channel)) {
    g_mutex_unlock (&rt->lock);
    GST_ELEMENT_ERROR (rt->element, RESOURCE, SETTINGS,
        ("The channel property must name a channel"), (NULL));
    return FALSE;
  }
  if (!metered_client_url_validate (rt->url, &error)) {
    g_mutex_unlock (&rt->lock);
    GST_ELEMENT_ERROR (rt->element, RESOURCE, SETTINGS,
        ("Invalid url: %s", error->message), (NULL));
    return FALSE;
  }

  rt->errored = FALSE;
  rt->context = g_main_context_new ();
  rt->loop = g_main_loop_new (rt->context, FALSE);
  rt->client = metered_signalling_client_new (rt->context, NULL);
  g_object_set (rt->client, "url", rt->url, "reconnect-max-attempts",
      rt->reconnect_max_attempts, "reconnect-initial-delay",
      rt->reconnect_initial_delay, "reconnect-max-delay",
      rt->reconnect_max_delay, "inactivity-timeout", rt->inactivity_timeout,
      "stuck-timeout", rt->stuck_timeout, NULL);
  if (rt->api_key)
    g_object_set (rt->client, "api-key", rt->api_key, NULL);
  if (rt->token)
    g_object_set (rt->client, "token", rt->token, NULL);
  if (rt->token_url)
    g_object_set (rt->client, "token-url", rt->token_url, NULL);
  has_handler = g_signal_has_handler_pending (
      rt->element, request_token_signal, 0, FALSE);
  if (has_handler)
    g_signal_connect (
        rt->client, "request-token", G_CALLBACK (on_request_token), rt);

  rt->session = metered_session_new (rt->client, rt->channel);
  if (rt->turn_servers)
    turns = g_strsplit (rt->turn_servers, ",", -1);
  metered_session_set_ice_servers (
      rt->session, rt->stun_server, (const char *const *) turns);
  metered_session_set_dead_peer_timeout (rt->session, rt->dead_peer_timeout);
  g_mutex_unlock (&rt->lock);

  if ((rt->api_key != NULL) + (rt->token != NULL) +
          (rt->token_url != NULL || has_handler) !=
      1) {
    GST_ELEMENT_ERROR (rt->element, RESOURCE, SETTINGS,
        ("Give exactly one credential: api-key, token, token-url or a "
         "request-token handler"),
        (NULL));
    return FALSE;
  }

  g_signal_connect (
      rt->client, "state-changed", G_CALLBACK (on_state_changed), rt);
  g_signal_connect (
      rt->client, "disconnected", G_CALLBACK (on_disconnected), rt);
  g_signal_connect (rt->client, "connected", G_CALLBACK (on_connected), rt);
  g_signal_connect (rt->client, "stuck", G_CALLBACK (on_stuck), rt);
  g_signal_connect (rt->client, "exhausted", G_CALLBACK (on_exhausted), rt);
  g_signal_connect (
      rt->client, "token-provider-error", G_CALLBACK (on_token_error), rt);
  g_signal_connect (
      rt->session, "peer-joined", G_CALLBACK (on_peer_joined), rt);
  g_signal_connect (rt->session, "peer-left", G_CALLBACK (on_peer_left), rt);
  g_signal_connect (
      rt->session, "connection-swapped", G_CALLBACK (on_swapped), rt);
  g_signal_connect (rt->session, "fatal", G_CALLBACK (on_fatal), rt);
  g_signal_connect (rt->session, "recovery-exhausted",
      G_CALLBACK (on_recovery_exhausted), rt);
  g_signal_connect (rt->session, "error", G_CALLBACK (on_session_error), rt);
  return TRUE;
}

static gpointer
thread_main (gpointer data)
{
  MeteredRuntime *rt = data;

  g_main_context_push_thread_default (rt->context);
  g_main_loop_run (rt->loop);
  g_main_context_pop_thread_default (rt->context);
  return NULL;
}

static gboolean
start_on_thread (gpointer data)
{
  MeteredRuntime *rt = data;

  metered_session_start (rt->session);
  if (rt->stuck_timeout > 0 && metered_session_get_state (rt->session) ==
                                   METERED_SESSION_STATE_JOINING) {
    rt->first_connect_stuck = g_timeout_source_new (rt->stuck_timeout);
    g_source_set_callback (
        rt->first_connect_stuck, on_first_connect_stuck, rt, NULL);
    g_source_attach (rt->first_connect_stuck, rt->context);
  }
  return G_SOURCE_REMOVE;
}

void
metered_runtime_start (MeteredRuntime *rt)
{
  if (rt->thread || !rt->session)
    return;
  rt->thread = g_thread_new ("metered-signalling", thread_main, rt);
  metered_runtime_invoke (rt, start_on_thread, rt, NULL);
}

void
metered_runtime_invoke (
    MeteredRuntime *rt, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, data, destroy);
  g_source_attach (source, rt->context);
  g_source_unref (source);
}

typedef struct
{
  MeteredRuntime *rt;
  GMutex lock;
  GCond cond;
  gboolean done;
} StopJob;

static gboolean
stop_on_thread (gpointer data)
{
  StopJob *job = data;

  cancel_first_connect_stuck (job->rt);
  metered_session_stop (job->rt->session);
  g_signal_handlers_disconnect_by_data (job->rt->client, job->rt);
  g_signal_handlers_disconnect_by_data (job->rt->session, job->rt);
  g_main_loop_quit (job->rt->loop);
  g_mutex_lock (&job->lock);
  job->done = TRUE;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  return G_SOURCE_REMOVE;
}

void
metered_runtime_stop (MeteredRuntime *rt)
{
  MeteredSession *session;
  MeteredSignallingClient *client;
  GMainLoop *loop;
  GMainContext *context;

  if (rt->thread) {
    StopJob job = { rt };
    g_mutex_init (&job.lock);
    g_cond_init (&job.cond);
    metered_runtime_invoke (rt, stop_on_thread, &job, NULL);
    g_mutex_lock (&job.lock);
    while (!job.done)
      g_cond_wait (&job.cond, &job.lock);
    g_mutex_unlock (&job.lock);
    g_thread_join (rt->thread);
    rt->thread = NULL;
    g_mutex_clear (&job.lock);
    g_cond_clear (&job.cond);
  }
  /* Taken under the lock: the stats property and send-data read them
   * from other threads. */
  g_mutex_lock (&rt->lock);
  session = g_steal_pointer (&rt->session);
  client = g_steal_pointer (&rt->client);
  loop = g_steal_pointer (&rt->loop);
  context = g_steal_pointer (&rt->context);
  g_mutex_unlock (&rt->lock);
  if (session || client) {
    /* The client's and session's sockets and timers belong to the
     * context: drop them while owning it. */
    g_main_context_push_thread_default (context);
    g_clear_object (&session);
    g_clear_object (&client);
    /* Dropping the socket closes its stream asynchronously, from an idle
     * source on this context (GIO's g_io_stream_close_async): dispatch
     * what is pending, or that source, the task in it (which holds the
     * context) and the websocket connection are never freed, about 2 KB
     * a cycle (bench/soak.sh). Bounded: nothing here re-arms itself. */
    for (guint i = 0; i < 64 && g_main_context_iteration (context, FALSE); i++)
      ;
    g_main_context_pop_thread_default (context);
  }
  g_clear_pointer (&loop, g_main_loop_unref);
  g_clear_pointer (&context, g_main_context_unref);
}

/* --- metadata: a GstStructure as the SDK's JSON metadata bag --- */

static void add_structure (JsonBuilder *b, const GstStructure *s);

static void
add_value (JsonBuilder *b, const GValue *v)
{
  GType type = G_VALUE_TYPE (v);

  if (type == G_TYPE_STRING) {
    const char *s = g_value_get_string (v);
    if (s)
      json_builder_add_string_value (b, s);
    else
      json_builder_add_null_value (b);
  } else if (type == G_TYPE_BOOLEAN) {
    json_builder_add_boolean_value (b, g_value_get_boolean (v));
  } else if (type == G_TYPE_INT) {
    json_builder_add_int_value (b, g_value_get_int (v));
  } else if (type == G_TYPE_UINT) {
    json_builder_add_int_value (b, g_value_get_uint (v));
  } else if (type == G_TYPE_INT64) {
    json_builder_add_int_value (b, g_value_get_int64 (v));
  } else if (type == G_TYPE_UINT64) {
    guint64 u = g_value_get_uint64 (v);
    if (u <= G_MAXINT64)
      json_builder_add_int_value (b, (gint64) u);
    else
      json_builder_add_double_value (b, (double) u);
  } else if (type == G_TYPE_DOUBLE || type == G_TYPE_FLOAT) {
    double d =
        type == G_TYPE_DOUBLE ? g_value_get_double (v) : g_value_get_float (v);
    if (isfinite (d))
      json_builder_add_double_value (b, d);
    else
      json_builder_add_null_value (b);
  } else if (type == GST_TYPE_STRUCTURE) {
    const GstStructure *s = gst_value_get_structure (v);
    if (s)
      add_structure (b, s);
    else
      json_builder_add_null_value (b);
  } else if (GST_VALUE_HOLDS_LIST (v) || GST_VALUE_HOLDS_ARRAY (v)) {
    gboolean list = GST_VALUE_HOLDS_LIST (v);
    guint n = list ? gst_value_list_get_size (v) : gst_value_array_get_size (v);
    json_builder_begin_array (b);
    for (guint i = 0; i < n; i++)
      add_value (b, list ? gst_value_list_get_value (v, i)
                         : gst_value_array_get_value (v, i));
    json_builder_end_array (b);
  } else {
    /* Anything else (fractions, enums, ...) as GStreamer writes it. */
    g_autofree char *text = gst_value_serialize (v);
    if (text)
      json_builder_add_string_value (b, text);
    else
      json_builder_add_null_value (b);
  }
}

static gboolean
add_field (GQuark field, const GValue *value, gpointer data)
{
  JsonBuilder *b = data;

  json_builder_set_member_name (b, g_quark_to_string (field));
  add_value (b, value);
  return TRUE;
}

static void
add_structure (JsonBuilder *b, const GstStructure *s)
{
  json_builder_begin_object (b);
  gst_structure_foreach (s, add_field, b);
  json_builder_end_object (b);
}

char *
metered_runtime_structure_to_json (const GstStructure *s)
{
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;

  if (!s)
    return NULL;
  b = json_builder_new ();
  add_structure (b, s);
  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}
