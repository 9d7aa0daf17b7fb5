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

/**
 * SECTION:gstmeteredbasebin
 * @title: GstMeteredBaseBin
 * @see_also: meteredsink, meteredsrc
 *
 * The base class of meteredsink and meteredsrc: the connection to the
 * signalling service and the channel, which both elements configure,
 * report and run the same way.
 *
 * Threads: the application's thread runs the state changes and the
 * properties; the element's own `metered-signalling` thread runs the
 * signalling client, the session and everything gst_metered_base_bin_invoke
 * () queues; every signal of the element is emitted there.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmeteredbasebin.h"

#include "client/metered-client-url.h"
#include "protocol/metered-protocol.h"

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
#define DEFAULT_WATCH_NETWORK TRUE

enum
{
  PROP_0,
  PROP_URL,
  PROP_CHANNEL,
  PROP_API_KEY,
  PROP_TOKEN,
  PROP_TOKEN_URL,
  PROP_STUN_SERVER,
  PROP_TURN_SERVERS,
  PROP_RECONNECT_MAX_ATTEMPTS,
  PROP_RECONNECT_INITIAL_DELAY,
  PROP_RECONNECT_MAX_DELAY,
  PROP_INACTIVITY_TIMEOUT,
  PROP_STUCK_TIMEOUT,
  PROP_DEAD_PEER_TIMEOUT,
  PROP_STATS,
  PROP_WATCH_NETWORK,
};

enum
{
  SIGNAL_REQUEST_TOKEN,
  SIGNAL_PEER_JOINED,
  SIGNAL_PEER_LEFT,
  SIGNAL_DATA,
  SIGNAL_SEND_DATA,
  SIGNAL_NETWORK_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* What the user set: read when the element prepares. */
typedef struct
{
  char *url;
  char *channel;
  char *api_key;
  char *token;
  char *token_url;
  char *stun_server;
  char *turn_servers; /* comma separated */
  gint64 reconnect_max_attempts;
  guint reconnect_initial_delay;
  guint reconnect_max_delay;
  guint inactivity_timeout;
  guint stuck_timeout;
  guint dead_peer_timeout;
  gboolean watch_network;
} Settings;

typedef struct
{
  /* GST_METERED_BASE_BIN_LOCK guards settings, running and the pointers
   * client, session and context (the stats property, send-data and the
   * streaming threads read them from other threads). A leaf lock: nothing
   * is called and no other lock taken while holding it; a subclass may
   * take it under its own lock. */
  GMutex lock;
  Settings settings;
  gboolean running;

  /* Written by the application's thread while the signalling thread does
   * not run (prepare, stop), read by it without the lock. */
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  MeteredSignallingClient *client;
  MeteredSession *session;

  /* Signalling thread only (stuck_timeout: a copy made at prepare). */
  guint stuck_timeout;
  int last_close_code;
  gboolean errored;
  /* after a terminal error: when the thread ends even if the client's
   * close has not completed (monotonic, us) */
  gint64 terminal_close_deadline;
  GSource *terminal_wait; /* quit_when_closed's */
  /* stuck-timeout armed at start, until the first welcome (the client arms
   * its own only after one) */
  GSource *first_connect_stuck;
} GstMeteredBaseBinPrivate;

#define GET_PRIV(self)                                                         \
  ((GstMeteredBaseBinPrivate *) gst_metered_base_bin_get_instance_private (    \
      GST_METERED_BASE_BIN (self)))
#define GST_METERED_BASE_BIN_LOCK(self) g_mutex_lock (&GET_PRIV (self)->lock)
#define GST_METERED_BASE_BIN_UNLOCK(self)                                      \
  g_mutex_unlock (&GET_PRIV (self)->lock)

#define gst_metered_base_bin_parent_class parent_class
G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (
    GstMeteredBaseBin, gst_metered_base_bin, GST_TYPE_BIN);

static gboolean gst_metered_base_bin_send_data (
    GstMeteredBaseBin *self, const char *peer_id, const char *data);

/* --- properties --- */

static void
take_string (char **field, const GValue *value)
{
  const char *s = g_value_get_string (value);

  g_free (*field);
  *field = s && *s ? g_strdup (s) : NULL;
}

/* Where a string property is kept. */
static char **
string_setting (Settings *s, guint prop_id)
{
  switch (prop_id) {
    case PROP_URL:
      return &s->url;
    case PROP_CHANNEL:
      return &s->channel;
    case PROP_API_KEY:
      return &s->api_key;
    case PROP_TOKEN:
      return &s->token;
    case PROP_TOKEN_URL:
      return &s->token_url;
    case PROP_STUN_SERVER:
      return &s->stun_server;
    case PROP_TURN_SERVERS:
    default:
      return &s->turn_servers;
  }
}

static void
gst_metered_base_bin_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (object);
  Settings *s = &priv->settings;

  GST_METERED_BASE_BIN_LOCK (object);
  switch (prop_id) {
    case PROP_URL:
    case PROP_CHANNEL:
    case PROP_API_KEY:
    case PROP_TOKEN:
    case PROP_TOKEN_URL:
    case PROP_STUN_SERVER:
    case PROP_TURN_SERVERS:
      take_string (string_setting (s, prop_id), value);
      if (!s->url)
        s->url = g_strdup (DEFAULT_URL);
      break;
    case PROP_RECONNECT_MAX_ATTEMPTS:
      s->reconnect_max_attempts = g_value_get_int64 (value);
      if (s->reconnect_max_attempts == 0)
        s->reconnect_max_attempts = -1;
      break;
    case PROP_RECONNECT_INITIAL_DELAY:
      s->reconnect_initial_delay = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_MAX_DELAY:
      s->reconnect_max_delay = g_value_get_uint (value);
      break;
    case PROP_INACTIVITY_TIMEOUT:
      s->inactivity_timeout = g_value_get_uint (value);
      break;
    case PROP_STUCK_TIMEOUT:
      s->stuck_timeout = g_value_get_uint (value);
      break;
    case PROP_DEAD_PEER_TIMEOUT:
      s->dead_peer_timeout = g_value_get_uint (value);
      break;
    case PROP_WATCH_NETWORK:
      s->watch_network = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_METERED_BASE_BIN_UNLOCK (object);
}

/* The fields of a{sv} into s: the types the client and the peers report. */
static void
set_variant_fields (GstStructure *s, GVariant *dict)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, dict);
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
}

static GstStructure *
stats_structure (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  GstMeteredBaseBinClass *klass = GST_METERED_BASE_BIN_GET_CLASS (self);
  GstStructure *s = gst_structure_new_empty ("metered/stats");
  g_autoptr (MeteredSignallingClient) client = NULL;
  g_autoptr (MeteredSession) session = NULL;
  GValue list = G_VALUE_INIT;

  /* References taken under our lock, the objects asked without it. */
  GST_METERED_BASE_BIN_LOCK (self);
  client = priv->client ? g_object_ref (priv->client) : NULL;
  session = priv->session ? g_object_ref (priv->session) : NULL;
  GST_METERED_BASE_BIN_UNLOCK (self);

  if (!client) {
    gst_structure_set (
        s, "state", G_TYPE_STRING, "idle", "peers", G_TYPE_UINT, 0, NULL);
  } else {
    g_autoptr (GVariant) client_stats =
        metered_signalling_client_get_stats (client);

    set_variant_fields (s, client_stats);
    g_value_init (&list, GST_TYPE_LIST);
    if (session) {
      g_autoptr (GVariant) peers = metered_session_get_peer_stats (session);
      GVariantIter iter;
      GVariant *peer;
      const char *id;

      g_variant_iter_init (&iter, peers);
      while (g_variant_iter_next (&iter, "{&s@a{sv}}", &id, &peer)) {
        GValue v = G_VALUE_INIT;

        g_value_init (&v, GST_TYPE_STRUCTURE);
        g_value_take_boxed (&v, gst_structure_new ("metered/peer", "peer-id",
                                    G_TYPE_STRING, id, NULL));
        set_variant_fields (
            (GstStructure *) gst_value_get_structure (&v), peer);
        gst_value_list_append_and_take_value (&list, &v);
        g_variant_unref (peer);
      }
    }
    gst_structure_set (
        s, "peers", G_TYPE_UINT, gst_value_list_get_size (&list), NULL);
    gst_structure_take_value (s, "peer-stats", &list);
  }
  if (klass->add_stats)
    klass->add_stats (self, s);
  return s;
}

static void
gst_metered_base_bin_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (object);
  Settings *s = &priv->settings;

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, stats_structure (GST_METERED_BASE_BIN (object)));
    return;
  }
  GST_METERED_BASE_BIN_LOCK (object);
  switch (prop_id) {
    case PROP_URL:
      g_value_set_string (value, s->url);
      break;
    case PROP_CHANNEL:
      g_value_set_string (value, s->channel);
      break;
    case PROP_API_KEY:
      g_value_set_string (value, s->api_key ? "***" : NULL);
      break;
    case PROP_TOKEN:
      g_value_set_string (value, s->token ? "***" : NULL);
      break;
    case PROP_TOKEN_URL:
      g_value_take_string (
          value, s->token_url ? metered_scrub_url (s->token_url) : NULL);
      break;
    case PROP_STUN_SERVER:
      g_value_set_string (value, s->stun_server);
      break;
    case PROP_TURN_SERVERS:
      g_value_set_string (value, s->turn_servers ? "***" : NULL);
      break;
    case PROP_RECONNECT_MAX_ATTEMPTS:
      g_value_set_int64 (value, s->reconnect_max_attempts);
      break;
    case PROP_RECONNECT_INITIAL_DELAY:
      g_value_set_uint (value, s->reconnect_initial_delay);
      break;
    case PROP_RECONNECT_MAX_DELAY:
      g_value_set_uint (value, s->reconnect_max_delay);
      break;
    case PROP_INACTIVITY_TIMEOUT:
      g_value_set_uint (value, s->inactivity_timeout);
      break;
    case PROP_STUCK_TIMEOUT:
      g_value_set_uint (value, s->stuck_timeout);
      break;
    case PROP_DEAD_PEER_TIMEOUT:
      g_value_set_uint (value, s->dead_peer_timeout);
      break;
    case PROP_WATCH_NETWORK:
      g_value_set_boolean (value, s->watch_network);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_METERED_BASE_BIN_UNLOCK (object);
}

/* --- bus messages and errors (signalling thread) --- */

static void
post (GstMeteredBaseBin *self, GstStructure *s)
{
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static void attach_idle (GMainContext *context, GSourceFunc func, gpointer data,
    GDestroyNotify destroy);
static gboolean on_terminal_error (gpointer data);

/* Posts the element's error; the element then lets go of the service
 * (on_terminal_error). */
static void
post_terminal_error (GstMeteredBaseBin *self, int code, const char *what)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  gboolean auth = code == METERED_CLOSE_INVALID_TOKEN ||
                  code == METERED_CLOSE_CHANNEL_NOT_AUTHORIZED;

  if (priv->errored)
    return;
  priv->errored = TRUE;
  /* Not from inside the client's or the session's signal emission. */
  attach_idle (priv->context, on_terminal_error, self, NULL);
  if (auth)
    GST_ELEMENT_ERROR_WITH_DETAILS (self, RESOURCE, NOT_AUTHORIZED,
        ("Not authorized by the signalling service (close code %d, %s)", code,
            metered_close_code_name (code)),
        ("%s", what), ("close-code", G_TYPE_INT, code, NULL));
  else
    GST_ELEMENT_ERROR_WITH_DETAILS (self, RESOURCE, OPEN_READ_WRITE,
        ("Disconnected from the signalling service for good (close code "
         "%d, %s)",
            code, metered_close_code_name (code)),
        ("%s", what), ("close-code", G_TYPE_INT, code, NULL));
}

static void
on_state_changed (MeteredSignallingClient *client, MeteredClientState from,
    MeteredClientState to, GstMeteredBaseBin *self)
{
  post (self, gst_structure_new ("metered/state-changed", "from", G_TYPE_STRING,
                  metered_client_state_to_string (from), "to", G_TYPE_STRING,
                  metered_client_state_to_string (to), NULL));
}

static void
on_disconnected (MeteredSignallingClient *client, int code, const char *reason,
    gboolean will_reconnect, GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);

  priv->last_close_code = code;
  /* The client gives a failed first connect up (the SDK's connect()
   * rejects); the session retries it unless the code is terminal. The
   * message says what will happen, not what the client alone would do. */
  if (!will_reconnect && priv->session &&
      metered_session_get_state (priv->session) ==
          METERED_SESSION_STATE_JOINING &&
      metered_close_code_policy (code) != METERED_RETRY_TERMINAL)
    will_reconnect = TRUE;
  post (self, gst_structure_new ("metered/disconnected", "close-code",
                  G_TYPE_INT, code, "reason", G_TYPE_STRING, reason,
                  "will-reconnect", G_TYPE_BOOLEAN, will_reconnect, NULL));
  if (!will_reconnect &&
      metered_close_code_policy (code) == METERED_RETRY_TERMINAL)
    post_terminal_error (self, code, reason);
}

static void
cancel_first_connect_stuck (GstMeteredBaseBinPrivate *priv)
{
  if (priv->first_connect_stuck) {
    g_source_destroy (priv->first_connect_stuck);
    g_clear_pointer (&priv->first_connect_stuck, g_source_unref);
  }
}

static void
on_connected (MeteredSignallingClient *client, const char *peer_id,
    double server_time, gint64 expires_at, gboolean is_reconnect,
    gint64 max_message_size, GVariant *ice_servers, GstMeteredBaseBin *self)
{
  cancel_first_connect_stuck (GET_PRIV (self));
  post (self, gst_structure_new ("metered/connected", "peer-id", G_TYPE_STRING,
                  peer_id, "is-reconnect", G_TYPE_BOOLEAN, is_reconnect, NULL));
}

static void
post_stuck (GstMeteredBaseBin *self, gint64 ms)
{
  GST_ELEMENT_WARNING (self, RESOURCE, OPEN_READ_WRITE,
      ("Still reconnecting to the signalling service after %" G_GINT64_FORMAT
       " ms",
          ms),
      ("media to connected peers keeps flowing"));
  post (self, gst_structure_new (
                  "metered/stuck", "reconnecting-ms", G_TYPE_INT64, ms, NULL));
}

static void
on_stuck (MeteredSignallingClient *client, gint64 ms, GstMeteredBaseBin *self)
{
  post_stuck (self, ms);
}

/* Channel history (docs/elements.md, "Bus messages"): whether the
 * messages published while reconnecting were replayed (through ::data,
 * before this) or lost. */
static void
on_resumed (MeteredSignallingClient *client, const char *channel,
    gint64 replayed, GstMeteredBaseBin *self)
{
  post (self, gst_structure_new ("metered/resumed", "channel", G_TYPE_STRING,
                  channel, "replayed", G_TYPE_INT64, replayed, NULL));
}

static void
on_continuity_lost (MeteredSignallingClient *client, const char *channel,
    gint64 missed, GstMeteredBaseBin *self)
{
  post (
      self, gst_structure_new ("metered/continuity-lost", "channel",
                G_TYPE_STRING, channel, "missed", G_TYPE_INT64, missed, NULL));
}

/* A pipeline started during an outage is as stuck as one that lost its
 * server: an operator gets the same warning after stuck-timeout. */
static gboolean
on_first_connect_stuck (gpointer data)
{
  GstMeteredBaseBin *self = data;
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);

  g_clear_pointer (&priv->first_connect_stuck, g_source_unref);
  post_stuck (self, priv->stuck_timeout);
  return G_SOURCE_REMOVE;
}

static void
on_exhausted (
    MeteredSignallingClient *client, guint attempts, GstMeteredBaseBin *self)
{
  g_autofree char *what = g_strdup_printf ("gave up after %u reconnect "
                                           "attempts",
      attempts);
  post_terminal_error (self, GET_PRIV (self)->last_close_code, what);
}

static void
on_token_error (MeteredSignallingClient *client, guint failures, GError *error,
    GstMeteredBaseBin *self)
{
  post (self, gst_structure_new ("metered/token-provider-error",
                  "consecutive-failures", G_TYPE_UINT, failures, "message",
                  G_TYPE_STRING, error->message, NULL));
}

static char *
on_request_token (MeteredSignallingClient *client, GstMeteredBaseBin *self)
{
  char *token = NULL;

  g_signal_emit (self, signals[SIGNAL_REQUEST_TOKEN], 0, &token);
  return token;
}

static void
on_peer_joined (MeteredSession *session, const char *id, const char *meta,
    GstMeteredBaseBin *self)
{
  GstMeteredBaseBinClass *klass = GST_METERED_BASE_BIN_GET_CLASS (self);

  GST_INFO_OBJECT (self, "peer %s joined", id);
  post (self, gst_structure_new (
                  "metered/peer-joined", "peer-id", G_TYPE_STRING, id, NULL));
  if (klass->peer_joined)
    klass->peer_joined (self, id);
  g_signal_emit (self, signals[SIGNAL_PEER_JOINED], 0, id, meta);
}

static void
on_peer_left (MeteredSession *session, const char *id, GstMeteredBaseBin *self)
{
  GstMeteredBaseBinClass *klass = GST_METERED_BASE_BIN_GET_CLASS (self);

  GST_INFO_OBJECT (self, "peer %s left", id);
  post (self, gst_structure_new (
                  "metered/peer-left", "peer-id", G_TYPE_STRING, id, NULL));
  if (klass->peer_left)
    klass->peer_left (self, id);
  g_signal_emit (self, signals[SIGNAL_PEER_LEFT], 0, id);
}

static void
on_data (MeteredSession *session, const char *from, const char *json,
    const char *kind, GstMeteredBaseBin *self)
{
  g_signal_emit (self, signals[SIGNAL_DATA], 0, from, json, kind);
}

static void
on_fatal (MeteredSession *session, int code, const char *message,
    GstMeteredBaseBin *self)
{
  post_terminal_error (self, code, message);
}

/* The dead-media ladder is spent: media from and to this peer stopped and
 * fresh connections did not bring it back. Not fatal for the element (the
 * other peers are served; presence may still end or renew the peer), but
 * an operator must hear of it. */
static void
on_recovery_exhausted (
    MeteredSession *session, const char *id, GstMeteredBaseBin *self)
{
  GST_ELEMENT_WARNING (self, RESOURCE, READ,
      ("Gave up recovering the media of peer %s", id),
      ("the fresh connections of the recovery ladder did not bring it back"));
  post (self, gst_structure_new ("metered/peer-recovery-exhausted", "peer-id",
                  G_TYPE_STRING, id, NULL));
}

/* An error the session reports as the SDK would emit it (err.name), for
 * instance an uncorrelated account_suspended. Terminal conditions also come
 * as a close code, which is what decides the element's error. */
static void
on_session_error (MeteredSession *session, const char *name,
    const char *message, GstMeteredBaseBin *self)
{
  post (
      self, gst_structure_new ("metered/session-error", "name", G_TYPE_STRING,
                name, "message", G_TYPE_STRING, message ? message : "", NULL));
}

static void
on_swapped (MeteredSession *session, const char *id, GstMeteredBaseBin *self)
{
  post (self, gst_structure_new ("metered/connection-swapped", "peer-id",
                  G_TYPE_STRING, id, NULL));
}

/* An ICE restart on the connection to a peer: same DTLS session, pads
 * go on (the remote peer is reconnecting until its media is back). */
static void
on_ice_restart (MeteredSession *session, const char *id, const char *initiator,
    GstMeteredBaseBin *self)
{
  post (
      self, gst_structure_new ("metered/ice-restart", "peer-id", G_TYPE_STRING,
                id, "initiator", G_TYPE_STRING, initiator, NULL));
}

/* --- the signalling thread --- */

typedef struct
{
  GstMeteredBaseBin *self; /* owned */
  GstMeteredBaseBinFunc func;
  gpointer data;
  GDestroyNotify destroy;
} Invocation;

static void
invocation_free (gpointer data)
{
  Invocation *inv = data;

  if (inv->destroy)
    inv->destroy (inv->data);
  gst_object_unref (inv->self);
  g_free (inv);
}

static gboolean
invocation_run (gpointer data)
{
  Invocation *inv = data;

  /* The session only changes while this thread does not run. */
  if (gst_metered_base_bin_is_running (inv->self))
    inv->func (inv->self, GET_PRIV (inv->self)->session, inv->data);
  return G_SOURCE_REMOVE;
}

static void
attach_idle (GMainContext *context, GSourceFunc func, gpointer data,
    GDestroyNotify destroy)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, data, destroy);
  g_source_attach (source, context);
  g_source_unref (source);
}

gboolean
gst_metered_base_bin_invoke (GstMeteredBaseBin *self,
    GstMeteredBaseBinFunc func, gpointer data, GDestroyNotify destroy)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  Invocation *inv;

  GST_METERED_BASE_BIN_LOCK (self);
  if (!priv->running) {
    GST_METERED_BASE_BIN_UNLOCK (self);
    if (destroy)
      destroy (data);
    return FALSE;
  }
  inv = g_new0 (Invocation, 1);
  inv->self = gst_object_ref (self);
  inv->func = func;
  inv->data = data;
  inv->destroy = destroy;
  /* Attaching takes only the context's own lock. */
  attach_idle (priv->context, invocation_run, inv, invocation_free);
  GST_METERED_BASE_BIN_UNLOCK (self);
  return TRUE;
}

gboolean
gst_metered_base_bin_is_running (GstMeteredBaseBin *self)
{
  gboolean running;

  GST_METERED_BASE_BIN_LOCK (self);
  running = GET_PRIV (self)->running;
  GST_METERED_BASE_BIN_UNLOCK (self);
  return running;
}

MeteredSession *
gst_metered_base_bin_dup_session (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  MeteredSession *session = NULL;

  GST_METERED_BASE_BIN_LOCK (self);
  if (priv->running && priv->session)
    session = g_object_ref (priv->session);
  GST_METERED_BASE_BIN_UNLOCK (self);
  return session;
}

static gpointer
thread_main (gpointer data)
{
  GstMeteredBaseBinPrivate *priv = data;

  g_main_context_push_thread_default (priv->context);
  g_main_loop_run (priv->loop);
  g_main_context_pop_thread_default (priv->context);
  return NULL;
}

static gboolean
start_on_thread (gpointer data)
{
  GstMeteredBaseBin *self = data;
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);

  metered_session_start (priv->session);
  if (priv->stuck_timeout > 0 && metered_session_get_state (priv->session) ==
                                     METERED_SESSION_STATE_JOINING) {
    priv->first_connect_stuck = g_timeout_source_new (priv->stuck_timeout);
    g_source_set_callback (
        priv->first_connect_stuck, on_first_connect_stuck, self, NULL);
    g_source_attach (priv->first_connect_stuck, priv->context);
  }
  return G_SOURCE_REMOVE;
}

/* Starts the thread, connects and joins. Never blocks on the network. */
static void
join (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);

  if (priv->thread || !priv->session)
    return;
  GST_INFO_OBJECT (self, "joining (base time %" GST_TIME_FORMAT ")",
      GST_TIME_ARGS (gst_element_get_base_time (GST_ELEMENT (self))));
  GST_METERED_BASE_BIN_LOCK (self);
  priv->running = TRUE;
  GST_METERED_BASE_BIN_UNLOCK (self);
  priv->thread = g_thread_new ("metered-signalling", thread_main, priv);
  attach_idle (priv->context, start_on_thread, self, NULL);
}

/* Leaves the channel (closing the client) and stops reporting: the
 * signalling thread's part of stopping. A second call finds nothing to do. */
static void
leave_on_thread (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);

  cancel_first_connect_stuck (priv);
  metered_session_stop (priv->session);
  g_signal_handlers_disconnect_by_data (priv->client, self);
  g_signal_handlers_disconnect_by_data (priv->session, self);
}

static gboolean
stop_on_thread (gpointer data)
{
  GstMeteredBaseBin *self = data;

  leave_on_thread (self);
  g_main_loop_quit (GET_PRIV (self)->loop);
  return G_SOURCE_REMOVE;
}

/* After a terminal error the client waits for its close to complete (at
 * most this long) before the signalling thread ends. */
#define TERMINAL_CLOSE_WAIT_US (2 * G_USEC_PER_SEC)

static gboolean
quit_when_closed (gpointer data)
{
  GstMeteredBaseBin *self = data;
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);

  if (metered_signalling_client_get_state (priv->client) !=
          METERED_CLIENT_STATE_CLOSED &&
      g_get_monotonic_time () < priv->terminal_close_deadline)
    return G_SOURCE_CONTINUE;
  GST_INFO_OBJECT (self, "signalling thread ends after the terminal error");
  g_main_loop_quit (priv->loop);
  g_clear_pointer (&priv->terminal_wait, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* A terminal error was posted: nothing will bring the element back
 * until it is restarted, so it leaves the channel, closes its client
 * and ends its signalling thread now rather than staying connected
 * outside the channel until the application stops it. stop() joins the
 * thread as usual. */
static gboolean
on_terminal_error (gpointer data)
{
  GstMeteredBaseBin *self = data;
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);

  /* stop() is under way: it does all this itself. */
  if (!gst_metered_base_bin_is_running (self) || priv->terminal_wait)
    return G_SOURCE_REMOVE;
  leave_on_thread (self);
  priv->terminal_close_deadline =
      g_get_monotonic_time () + TERMINAL_CLOSE_WAIT_US;
  priv->terminal_wait = g_timeout_source_new (20);
  g_source_set_callback (priv->terminal_wait, quit_when_closed, self, NULL);
  g_source_attach (priv->terminal_wait, priv->context);
  return G_SOURCE_REMOVE;
}

/* Leaves the channel, stops the thread and drops the client and session. */
static void
stop (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  MeteredSession *session;
  MeteredSignallingClient *client;
  GMainLoop *loop;
  GMainContext *context;

  GST_METERED_BASE_BIN_LOCK (self);
  priv->running = FALSE;
  GST_METERED_BASE_BIN_UNLOCK (self);

  if (priv->thread) {
    GSource *source = g_idle_source_new ();

    g_source_set_callback (source, stop_on_thread, self, NULL);
    g_source_attach (source, priv->context);
    /* The thread ends when its loop quits: by stop_on_thread, or already
     * after a terminal error (the source then never runs). */
    g_thread_join (priv->thread);
    priv->thread = NULL;
    g_source_destroy (source);
    g_source_unref (source);
    /* Still waiting for the client's close when stop_on_thread came. */
    if (priv->terminal_wait) {
      g_source_destroy (priv->terminal_wait);
      g_clear_pointer (&priv->terminal_wait, g_source_unref);
    }
  }
  GST_METERED_BASE_BIN_LOCK (self);
  session = g_steal_pointer (&priv->session);
  client = g_steal_pointer (&priv->client);
  loop = g_steal_pointer (&priv->loop);
  context = g_steal_pointer (&priv->context);
  GST_METERED_BASE_BIN_UNLOCK (self);
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
     * a cycle (bench/soak.sh). Bounded: nothing here re-arms itself.
     * Invocations still queued are dropped (running is FALSE). */
    for (guint i = 0; i < 64 && g_main_context_iteration (context, FALSE); i++)
      ;
    g_main_context_pop_thread_default (context);
  }
  g_clear_pointer (&loop, g_main_loop_unref);
  g_clear_pointer (&context, g_main_context_unref);
}

/* Creates the client and the session (not started yet) and lets the
 * subclass add its media. Posts an element error and returns FALSE on a
 * configuration problem (no channel, no credential...). */
static gboolean
prepare (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  GstMeteredBaseBinClass *klass = GST_METERED_BASE_BIN_GET_CLASS (self);
  Settings *s = &priv->settings;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) turns = NULL;
  gboolean has_handler;
  guint credentials;
  MeteredSignallingClient *client;
  MeteredSession *session;

  has_handler = g_signal_has_handler_pending (
      self, signals[SIGNAL_REQUEST_TOKEN], 0, FALSE);

  GST_METERED_BASE_BIN_LOCK (self);
  if (!s->channel || !metered_channel_is_valid (s->channel)) {
    GST_METERED_BASE_BIN_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("The channel property must name a channel"), (NULL));
    return FALSE;
  }
  if (!metered_client_url_validate (s->url, &error)) {
    GST_METERED_BASE_BIN_UNLOCK (self);
    GST_ELEMENT_ERROR (
        self, RESOURCE, SETTINGS, ("Invalid url: %s", error->message), (NULL));
    return FALSE;
  }
  credentials = (s->api_key != NULL) + (s->token != NULL) +
                (s->token_url != NULL || has_handler);
  if (credentials != 1) {
    GST_METERED_BASE_BIN_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Give exactly one credential: api-key, token, token-url or a "
         "request-token handler"),
        (NULL));
    return FALSE;
  }

  priv->errored = FALSE;
  priv->stuck_timeout = s->stuck_timeout;
  priv->context = g_main_context_new ();
  priv->loop = g_main_loop_new (priv->context, FALSE);
  client = metered_signalling_client_new (priv->context, NULL);
  /* The new objects are ours alone until the thread starts: configuring
   * them under the lock calls nobody else's code. */
  g_object_set (client, "url", s->url, "reconnect-max-attempts",
      s->reconnect_max_attempts, "reconnect-initial-delay",
      s->reconnect_initial_delay, "reconnect-max-delay", s->reconnect_max_delay,
      "inactivity-timeout", s->inactivity_timeout, "stuck-timeout",
      s->stuck_timeout, NULL);
  if (s->api_key)
    g_object_set (client, "api-key", s->api_key, NULL);
  if (s->token)
    g_object_set (client, "token", s->token, NULL);
  if (s->token_url)
    g_object_set (client, "token-url", s->token_url, NULL);
  session = metered_session_new (client, s->channel);
  if (s->turn_servers)
    turns = g_strsplit (s->turn_servers, ",", -1);
  metered_session_set_ice_servers (
      session, s->stun_server, (const char *const *) turns);
  metered_session_set_dead_peer_timeout (session, s->dead_peer_timeout);
  metered_session_set_watch_network (session, s->watch_network);
  priv->client = client;
  priv->session = session;
  GST_METERED_BASE_BIN_UNLOCK (self);

  if (has_handler)
    g_signal_connect (
        client, "request-token", G_CALLBACK (on_request_token), self);
  g_signal_connect (
      client, "state-changed", G_CALLBACK (on_state_changed), self);
  g_signal_connect (client, "disconnected", G_CALLBACK (on_disconnected), self);
  g_signal_connect (client, "connected", G_CALLBACK (on_connected), self);
  g_signal_connect (client, "stuck", G_CALLBACK (on_stuck), self);
  g_signal_connect (client, "resumed", G_CALLBACK (on_resumed), self);
  g_signal_connect (
      client, "continuity-lost", G_CALLBACK (on_continuity_lost), self);
  g_signal_connect (client, "exhausted", G_CALLBACK (on_exhausted), self);
  g_signal_connect (
      client, "token-provider-error", G_CALLBACK (on_token_error), self);
  g_signal_connect (session, "peer-joined", G_CALLBACK (on_peer_joined), self);
  g_signal_connect (session, "peer-left", G_CALLBACK (on_peer_left), self);
  g_signal_connect (session, "data", G_CALLBACK (on_data), self);
  g_signal_connect (
      session, "connection-swapped", G_CALLBACK (on_swapped), self);
  g_signal_connect (session, "fatal", G_CALLBACK (on_fatal), self);
  g_signal_connect (
      session, "recovery-exhausted", G_CALLBACK (on_recovery_exhausted), self);
  g_signal_connect (session, "ice-restart", G_CALLBACK (on_ice_restart), self);
  g_signal_connect (session, "error", G_CALLBACK (on_session_error), self);

  return klass->prepare ? klass->prepare (self, session) : TRUE;
}

/* --- the pipeline clock --- */

typedef struct
{
  GstClock *clock;
  GstClockTime base_time;
} ClockShare;

static void
clock_share_free (gpointer data)
{
  ClockShare *share = data;

  gst_clear_object (&share->clock);
  g_free (share);
}

static void
set_clock_on_thread (
    GstMeteredBaseBin *self, MeteredSession *session, gpointer data)
{
  ClockShare *share = data;

  /* The session reads its clock on this thread when it builds a
   * connection: setting it here needs no lock. */
  metered_session_set_clock (session, share->clock, share->base_time);
}

/* Connections built from now on run on our clock and base time, so the
 * running times of the buffers they get or give mean the same there. */
static void
share_clock (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  ClockShare *share;

  if (!priv->session)
    return;
  share = g_new0 (ClockShare, 1);
  share->clock = gst_element_get_clock (GST_ELEMENT (self));
  share->base_time = gst_element_get_base_time (GST_ELEMENT (self));
  GST_DEBUG_OBJECT (self,
      "sharing clock %" GST_PTR_FORMAT " base time %" GST_TIME_FORMAT,
      share->clock, GST_TIME_ARGS (share->base_time));
  if (priv->thread) {
    gst_metered_base_bin_invoke (
        self, set_clock_on_thread, share, clock_share_free);
  } else {
    /* Not joined yet: nothing runs on the session. */
    metered_session_set_clock (priv->session, share->clock, share->base_time);
    clock_share_free (share);
  }
}

/* --- GstElement --- */

/* The running flag down (invoked work is dropped from now on), the
 * subclass told, then the session leaves and the thread stops. */
static void
leave (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinClass *klass = GST_METERED_BASE_BIN_GET_CLASS (self);

  GST_METERED_BASE_BIN_LOCK (self);
  GET_PRIV (self)->running = FALSE;
  GST_METERED_BASE_BIN_UNLOCK (self);
  if (klass->stopping)
    klass->stopping (self);
  stop (self);
}

static GstStateChangeReturn
gst_metered_base_bin_change_state (
    GstElement *element, GstStateChange transition)
{
  GstMeteredBaseBin *self = GST_METERED_BASE_BIN (element);
  GstMeteredBaseBinClass *klass = GST_METERED_BASE_BIN_GET_CLASS (self);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      /* Never waits for the network: the signalling thread connects. */
      if (!prepare (self)) {
        leave (self);
        return GST_STATE_CHANGE_FAILURE;
      }
      if (!klass->join_in_playing)
        join (self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      share_clock (self);
      join (self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      if (!klass->leave_after_children)
        leave (self);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
      leave (self);
    return ret;
  }

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      /* Live: nothing to preroll. */
      ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      if (klass->leave_after_children)
        leave (self);
      if (klass->stopped)
        klass->stopped (self);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      /* Connections are torn down on threads of their own (webrtcbin can
       * take a while); in NULL they are gone, so that an application may
       * exit right away (one that did during a teardown read freed memory
       * in OpenSSL's exit handler, ASan, tests/soak). Bounded: a stuck
       * webrtcbin is only logged. */
      if (!metered_connection_wait_stopped (5000))
        GST_WARNING_OBJECT (self, "connection teardowns still running");
      break;
    default:
      break;
  }
  return ret;
}

/* --- send-data --- */

static void
send_data_on_thread (
    GstMeteredBaseBin *self, MeteredSession *session, gpointer data)
{
  GPtrArray *args = data; /* json, peer id or NULL */
  g_autoptr (GError) error = NULL;

  if (!metered_session_send_data (session, g_ptr_array_index (args, 1),
          g_ptr_array_index (args, 0), &error))
    GST_WARNING_OBJECT (self, "send-data: %s", error->message);
}

static gboolean
gst_metered_base_bin_send_data (
    GstMeteredBaseBin *self, const char *peer_id, const char *data)
{
  GPtrArray *args;

  if (!data ||
      !metered_json_validate (data, strlen (data), METERED_JSON_MAX_DEPTH)) {
    GST_WARNING_OBJECT (self, "send-data: data is not valid JSON");
    return FALSE;
  }
  if (peer_id && !metered_peer_id_is_valid (peer_id)) {
    GST_WARNING_OBJECT (self, "send-data: invalid peer id");
    return FALSE;
  }
  args = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (args, g_strdup (data));
  g_ptr_array_add (args, g_strdup (peer_id));
  if (!gst_metered_base_bin_invoke (self, send_data_on_thread, args,
          (GDestroyNotify) g_ptr_array_unref)) {
    GST_WARNING_OBJECT (self, "send-data: not running (state < %s)",
        GST_METERED_BASE_BIN_GET_CLASS (self)->join_in_playing ? "PLAYING"
                                                               : "PAUSED");
    return FALSE;
  }
  return TRUE;
}

static void
network_changed_on_thread (
    GstMeteredBaseBin *self, MeteredSession *session, gpointer data)
{
  metered_session_network_changed (session, "network changed");
}

static gboolean
gst_metered_base_bin_network_changed (GstMeteredBaseBin *self)
{
  GST_INFO_OBJECT (self, "network-changed: recovering now");
  if (!gst_metered_base_bin_invoke (
          self, network_changed_on_thread, NULL, NULL)) {
    GST_INFO_OBJECT (self, "network-changed: not running, nothing to do");
    return FALSE;
  }
  return TRUE;
}

/* --- GObject --- */

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

static void
gst_metered_base_bin_dispose (GObject *object)
{
  stop (GST_METERED_BASE_BIN (object));
  G_OBJECT_CLASS (parent_class)->dispose (object);
}

static void
gst_metered_base_bin_finalize (GObject *object)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (object);
  Settings *s = &priv->settings;

  g_free (s->url);
  g_free (s->channel);
  g_free (s->api_key);
  g_free (s->token);
  g_free (s->token_url);
  g_free (s->stun_server);
  g_free (s->turn_servers);
  g_mutex_clear (&priv->lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_metered_base_bin_init (GstMeteredBaseBin *self)
{
  GstMeteredBaseBinPrivate *priv = GET_PRIV (self);
  Settings *s = &priv->settings;

  g_mutex_init (&priv->lock);
  s->url = g_strdup (DEFAULT_URL);
  s->reconnect_max_attempts = DEFAULT_RECONNECT_MAX_ATTEMPTS;
  s->reconnect_initial_delay = DEFAULT_RECONNECT_INITIAL_DELAY;
  s->reconnect_max_delay = DEFAULT_RECONNECT_MAX_DELAY;
  s->inactivity_timeout = DEFAULT_INACTIVITY_TIMEOUT;
  s->stuck_timeout = DEFAULT_STUCK_TIMEOUT;
  s->dead_peer_timeout = DEFAULT_DEAD_PEER_TIMEOUT;
  s->watch_network = DEFAULT_WATCH_NETWORK;
}

static void
gst_metered_base_bin_class_init (GstMeteredBaseBinClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GParamFlags rw =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_metered_base_bin_set_property;
  gobject_class->get_property = gst_metered_base_bin_get_property;
  gobject_class->dispose = gst_metered_base_bin_dispose;
  gobject_class->finalize = gst_metered_base_bin_finalize;
  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_metered_base_bin_change_state);

  /**
   * GstMeteredBaseBin:url:
   *
   * The signalling service, `wss://host[:port]` (the hosted service by
   * default) or `ws://` on a loopback address (`metered-server --dev`
   * listens on `ws://127.0.0.1:8080`).
   */
  g_object_class_install_property (gobject_class, PROP_URL,
      g_param_spec_string ("url", "URL",
          "Signalling service base URL: wss://host[:port], or ws:// on "
          "localhost/127.0.0.1/::1 (metered-server --dev listens on "
          "ws://127.0.0.1:8080)",
          DEFAULT_URL, rw));
  /**
   * GstMeteredBaseBin:channel:
   *
   * The channel to join (required). meteredsink sends to every member of
   * it that wants media; meteredsrc receives from every member that
   * sends.
   */
  g_object_class_install_property (gobject_class, PROP_CHANNEL,
      g_param_spec_string (
          "channel", "Channel", "Channel to join (required)", NULL, rw));
  /**
   * GstMeteredBaseBin:api-key:
   *
   * A publishable key (`pk_...`). Give exactly one credential: api-key,
   * token, token-url or a #GstMeteredBaseBin::request-token handler.
   * Reads back as `***`.
   */
  g_object_class_install_property (gobject_class, PROP_API_KEY,
      g_param_spec_string ("api-key", "API key",
          "Publishable key (pk_...). Exactly one credential: api-key, token, "
          "token-url or a request-token handler. Reads back as ***",
          NULL, rw));
  /**
   * GstMeteredBaseBin:token:
   *
   * A static JWT; its `sub` becomes our peer id. Reads back as `***`.
   * Tokens expire: prefer token-url or #GstMeteredBaseBin::request-token
   * on a box that runs for long.
   */
  g_object_class_install_property (gobject_class, PROP_TOKEN,
      g_param_spec_string ("token", "Token",
          "A static JWT (reads back as ***). Prefer token-url or "
          "request-token for tokens that expire",
          NULL, rw));
  /**
   * GstMeteredBaseBin:token-url:
   *
   * An HTTP(S) URL answering a fresh JWT (as text or as JSON `{"token":
   * ...}`), fetched before every connection attempt, so that tokens that
   * expire are refreshed.
   */
  g_object_class_install_property (gobject_class, PROP_TOKEN_URL,
      g_param_spec_string ("token-url", "Token URL",
          "HTTP(S) URL answering a fresh JWT (text or JSON {token}); "
          "fetched before every connection attempt",
          NULL, rw));
  /**
   * GstMeteredBaseBin:stun-server:
   *
   * STUN server for ICE, as `stun://host:port`. It replaces the STUN
   * entries of the server's welcome; its TURN entries are kept.
   */
  g_object_class_install_property (gobject_class, PROP_STUN_SERVER,
      g_param_spec_string ("stun-server", "STUN server",
          "STUN server as stun://host:port; replaces the STUN entries of the "
          "server's welcome (its TURN entries are kept)",
          NULL, rw));
  /**
   * GstMeteredBaseBin:turn-servers:
   *
   * Comma-separated TURN servers, `turn(s)://user:password@host:port`,
   * used in addition to the TURN entries of the server's welcome. Never
   * logged; reads back as `***`.
   */
  g_object_class_install_property (gobject_class, PROP_TURN_SERVERS,
      g_param_spec_string ("turn-servers", "TURN servers",
          "Comma-separated TURN servers as turn(s)://user:password@host:port, "
          "used in addition to the TURN entries of the server's welcome; "
          "reads back with the password as *** and is never logged",
          NULL, rw));
  /**
   * GstMeteredBaseBin:reconnect-max-attempts:
   *
   * Signalling reconnect attempts before the element posts an error.
   * -1 (and 0), the default, retries forever, which is what a box that
   * runs for months wants: media to connected peers keeps flowing while
   * the signalling socket is away, and newcomers are served once it is
   * back.
   */
  g_object_class_install_property (gobject_class, PROP_RECONNECT_MAX_ATTEMPTS,
      g_param_spec_int64 ("reconnect-max-attempts", "Reconnect attempts",
          "Signalling reconnect attempts before the element errors out; "
          "-1 (and 0) retry forever (the default: a box that runs for months "
          "should never give up)",
          -1, G_MAXINT64, DEFAULT_RECONNECT_MAX_ATTEMPTS, rw));
  /**
   * GstMeteredBaseBin:reconnect-initial-delay:
   *
   * First reconnect delay in ms; it doubles up to reconnect-max-delay,
   * with +/-20 % jitter.
   */
  g_object_class_install_property (gobject_class, PROP_RECONNECT_INITIAL_DELAY,
      g_param_spec_uint ("reconnect-initial-delay", "Initial delay",
          "First reconnect delay in ms (doubles up to reconnect-max-delay, "
          "+/-20 % jitter)",
          0, G_MAXINT, DEFAULT_RECONNECT_INITIAL_DELAY, rw));
  /**
   * GstMeteredBaseBin:reconnect-max-delay:
   *
   * Cap of the reconnect delay in ms.
   */
  g_object_class_install_property (gobject_class, PROP_RECONNECT_MAX_DELAY,
      g_param_spec_uint ("reconnect-max-delay", "Maximum delay",
          "Cap of the reconnect delay in ms", 0, G_MAXINT,
          DEFAULT_RECONNECT_MAX_DELAY, rw));
  /**
   * GstMeteredBaseBin:inactivity-timeout:
   *
   * Reconnect after this many ms without a signalling frame; a ping goes
   * out every third of it. 0 disables both.
   */
  g_object_class_install_property (gobject_class, PROP_INACTIVITY_TIMEOUT,
      g_param_spec_uint ("inactivity-timeout", "Inactivity timeout",
          "Reconnect after this many ms without a signalling frame (a ping "
          "goes out every third of it); 0 disables",
          0, G_MAXINT, DEFAULT_INACTIVITY_TIMEOUT, rw));
  /**
   * GstMeteredBaseBin:stuck-timeout:
   *
   * Post `metered/stuck` (and a warning) after this many ms of
   * reconnecting, or of failing to connect at start. 0: never.
   */
  g_object_class_install_property (gobject_class, PROP_STUCK_TIMEOUT,
      g_param_spec_uint ("stuck-timeout", "Stuck timeout",
          "Post metered/stuck (and a warning) after this many ms of "
          "reconnecting, or of failing to connect at start (0: never)",
          0, G_MAXINT, DEFAULT_STUCK_TIMEOUT, rw));
  /**
   * GstMeteredBaseBin:dead-peer-timeout:
   *
   * A connected peer whose media path stays silent this many ms gets a
   * fresh connection (webrtcbin has no consent freshness), and a peer
   * kept after leaving presence is dropped.
   */
  g_object_class_install_property (gobject_class, PROP_DEAD_PEER_TIMEOUT,
      g_param_spec_uint ("dead-peer-timeout", "Dead peer timeout",
          "A connected peer whose media stops for this many ms gets a fresh "
          "connection (webrtcbin has no consent freshness)",
          1000, G_MAXINT, DEFAULT_DEAD_PEER_TIMEOUT, rw));
  /**
   * GstMeteredBaseBin:watch-network:
   *
   * Watch GLib's network monitor (netlink on Linux) and recover by itself
   * when the local network changes under us: once a burst of changes has
   * settled (500 ms), if a peer's connection lost every local address it
   * used and the host has an address up (the same address coming back
   * needs nothing), the signalling socket reconnects at once and every
   * peer gets a fresh connection, as #GstMeteredBaseBin::network-changed
   * does; a peer whose selected path alone used an address that went
   * (another is up, and the signalling socket's address stands) restarts
   * ICE on its connection, the others left untouched; a
   * signalling reconnect waiting out its backoff tries again at once.
   * Changes that break nothing of ours (another interface, a route
   * elsewhere) are ignored. Read when the element joins.
   */
  g_object_class_install_property (gobject_class, PROP_WATCH_NETWORK,
      g_param_spec_boolean ("watch-network", "Watch network",
          "Recover at once when a local network change (GNetworkMonitor) "
          "takes away an address a connection used, and retry a pending "
          "signalling reconnect at once on any change (read when joining)",
          DEFAULT_WATCH_NETWORK, rw));
  /**
   * GstMeteredBaseBin:stats:
   *
   * A `metered/stats` structure: signalling `state`, `reconnects`,
   * `last-close-code`, queue depth, `peers` and `peer-stats` (one
   * `metered/peer` per remote peer: connection state, swaps, ICE
   * restarts and which recovery worked, packets sent and received), plus per
   * stream: meteredsink's `key-units-requested`/`key-units-sent` and
   * `track-stats` (one `metered/track` per pad: codec, chain, buffers sent, key
   * units), meteredsrc's `pad-stats` (one `metered/pad` per pad: pad name, peer
   * id, kind, role, buffers in/out, delta units dropped while waiting for
   * a key unit, GAP events, DISCONT buffers, sources, key unit requests,
   * clamped timestamps, caps changes).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "metered/stats: signalling state, reconnects, last close code, "
          "queue depth, one metered/peer per remote peer (connection "
          "state, swaps, ICE restarts, recovered by restart/swap, "
          "packets sent/received), and per stream: "
          "track-stats (meteredsink: codec, buffers sent, key units) or "
          "pad-stats (meteredsrc: buffers in/out, dropped deltas, GAPs, "
          "DISCONTs, swaps)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstMeteredBaseBin::request-token:
   * @element: the element
   *
   * Asked before every connection attempt when no api-key, token or
   * token-url is set: return a JWT (the first non-empty answer wins).
   * Runs on the element's signalling thread, which it blocks: return
   * quickly. Connect it before the element leaves READY.
   *
   * Returns: (transfer full): the JWT
   */
  signals[SIGNAL_REQUEST_TOKEN] = g_signal_new ("request-token",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, first_string_accumulator,
      NULL, NULL, G_TYPE_STRING, 0);

  /**
   * GstMeteredBaseBin::peer-joined:
   * @element: the element
   * @peer_id: the remote peer's id
   * @metadata: (nullable): its peer metadata as JSON, if the service gave
   *   any
   *
   * A peer joined the channel (or came back): meteredsink sets up a
   * connection to it. Emitted from the element's signalling thread.
   */
  signals[SIGNAL_PEER_JOINED] =
      g_signal_new ("peer-joined", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * GstMeteredBaseBin::peer-left:
   * @element: the element
   * @peer_id: the remote peer's id
   *
   * A peer left the channel for good (not a signalling blip: a peer whose
   * media still flows is kept), or the element is stopping; its
   * connection is gone. meteredsrc ends its pads unless
   * #GstMeteredSrc:keep-pads-on-leave is set. Emitted from the element's
   * signalling thread.
   */
  signals[SIGNAL_PEER_LEFT] =
      g_signal_new ("peer-left", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * GstMeteredBaseBin::data:
   * @element: the element
   * @from: the sender's peer id
   * @data: the application data, a JSON value as text
   * @kind: "broadcast" (published to the channel) or "direct"
   *
   * Application data from a peer (the SDK's peer.send / sendTo, another
   * element's send-data). Emitted from the element's signalling thread.
   */
  signals[SIGNAL_DATA] = g_signal_new ("data", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING,
      G_TYPE_STRING, G_TYPE_STRING);

  /**
   * GstMeteredBaseBin::send-data:
   * @element: the element
   * @peer_id: (nullable): the peer to send to, or %NULL for everybody in
   *   the channel
   * @data: a JSON value, as text
   *
   * Sends application data through the signalling channel: a broadcast to
   * the channel (publish) when @peer_id is %NULL, else a direct message.
   * Queued while the signalling socket reconnects. Any thread; works while
   * the element is joined (from PAUSED for meteredsink, in PLAYING for
   * meteredsrc).
   *
   * Returns: %TRUE if it was queued, %FALSE if @data is not JSON, @peer_id
   *   is not a valid peer id or the element is not running
   */
  signals[SIGNAL_SEND_DATA] = g_signal_new_class_handler ("send-data",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_metered_base_bin_send_data), NULL, NULL, NULL,
      G_TYPE_BOOLEAN, 2, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * GstMeteredBaseBin::network-changed:
   * @element: the element
   *
   * Tells the element that the local network changed (an address gone or
   * new, Wi-Fi to LTE, a DHCP renew): the application that knows
   * (NetworkManager, a modem script) emits it to start recovery at once
   * instead of waiting for timeouts. While the signalling socket's local
   * address is still configured (not loopback) and every peer has an
   * address left, only the peers whose selected path used an address that
   * is gone restart ICE. Otherwise the signalling socket, even one that
   * looks connected, is dropped and connects again at once (a
   * `disconnected` with close code 1000 and a state change on the bus,
   * subscriptions and queued messages kept), and its reconcile gives every
   * remote peer a fresh connection gathered on the addresses the host has
   * now. Any thread; works while the element is joined.
   *
   * Returns: %TRUE if the recovery was started, %FALSE if the element is
   *   not running
   */
  signals[SIGNAL_NETWORK_CHANGED] =
      g_signal_new_class_handler ("network-changed", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
          G_CALLBACK (gst_metered_base_bin_network_changed), NULL, NULL, NULL,
          G_TYPE_BOOLEAN, 0);

  gst_type_mark_as_plugin_api (GST_TYPE_METERED_BASE_BIN, 0);
}
