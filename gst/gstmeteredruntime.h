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

#include <gst/gst.h>

#include "client/metered-signalling-client.h"
#include "peer/metered-session.h"

G_BEGIN_DECLS

/*
 * What meteredsink and meteredsrc share: the connection properties, a
 * thread of their own running the signalling client and the session (the
 * application's main loop is never needed), the bus messages of every
 * signalling event, and the error policy (only terminal conditions become
 * errors).
 */

/* The common properties, installed from first_id on. */
enum
{
  METERED_RUNTIME_PROP_URL,
  METERED_RUNTIME_PROP_CHANNEL,
  METERED_RUNTIME_PROP_API_KEY,
  METERED_RUNTIME_PROP_TOKEN,
  METERED_RUNTIME_PROP_TOKEN_URL,
  METERED_RUNTIME_PROP_STUN_SERVER,
  METERED_RUNTIME_PROP_TURN_SERVERS,
  METERED_RUNTIME_PROP_RECONNECT_MAX_ATTEMPTS,
  METERED_RUNTIME_PROP_RECONNECT_INITIAL_DELAY,
  METERED_RUNTIME_PROP_RECONNECT_MAX_DELAY,
  METERED_RUNTIME_PROP_INACTIVITY_TIMEOUT,
  METERED_RUNTIME_PROP_STUCK_TIMEOUT,
  METERED_RUNTIME_PROP_DEAD_PEER_TIMEOUT,
  METERED_RUNTIME_PROP_STATS,
  METERED_RUNTIME_N_PROPS
};

typedef struct
{
  GstElement *element; /* not owned */
  GMutex lock;

  /* settings */
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

  /* running */
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  MeteredSignallingClient *client;
  MeteredSession *session;
  guint64 reconnects;
  int last_close_code;
  gboolean errored;
  /* stuck-timeout armed at start, until the first welcome (the client arms
   * its own only after one) */
  GSource *first_connect_stuck;
} MeteredRuntime;

/* For the class_init of an element: installs the common properties with
 * ids first_id + METERED_RUNTIME_PROP_*, and the request-token signal. */
void metered_runtime_install_properties (GObjectClass *klass, guint first_id);

void metered_runtime_init (MeteredRuntime *rt, GstElement *element);
void metered_runtime_clear (MeteredRuntime *rt);

/* TRUE if prop_id (already minus first_id) is a common property. */
gboolean metered_runtime_set_property (
    MeteredRuntime *rt, guint prop_id, const GValue *value);
gboolean metered_runtime_get_property (
    MeteredRuntime *rt, guint prop_id, GValue *value);

/* Creates the client and the session (not started yet) so the element
 * can add its tracks and callbacks. Posts an element error and returns
 * FALSE on a configuration problem (no channel, no credential...). */
gboolean metered_runtime_prepare (MeteredRuntime *rt);
/* Starts the thread, connects and joins. Never blocks on the network. */
void metered_runtime_start (MeteredRuntime *rt);
/* Leaves the channel and stops the thread. */
void metered_runtime_stop (MeteredRuntime *rt);

/* Runs func on the runtime's thread (e.g. to talk to the session). */
void metered_runtime_invoke (MeteredRuntime *rt, GSourceFunc func,
    gpointer data, GDestroyNotify destroy);

/* The fields of s as a JSON object, the metadata bag the SDK carries with
 * a track (the structure's name is not part of it; nested structures
 * become objects, lists and arrays become arrays, other types their
 * serialized text); NULL for NULL. Caller frees. */
char *metered_runtime_structure_to_json (const GstStructure *s);

G_END_DECLS
