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
 * The server's per-frame handler (metered-hub.c) driven in-process, as
 * metered-server drives it, by five members: two on the dev publishable
 * key, two holding verified HS256 JWTs (one restricted to some channels
 * and actions, one without presence) and one in another app.
 *
 * The input is a script, one step per line:
 *   a..e<frame>  text frame <frame> from member 0..4
 *   A..E         member reconnects (same peerId: supersedes the old one)
 *   0..4         member's socket goes away
 *   #            binary frame from member 0
 *   t            the presence-snapshot timers fire now
 *   w            one second passes (the rate tokens refill)
 * Each line also moves the clock by 1 ms, so a flood hits the rate cap.
 *
 * Invariants: every frame the hub sends parses as a server frame; no
 * frame reaches a closed socket; nothing crosses from one app to the
 * other; presence never lists a peer of another app or the member
 * itself; a publish is never echoed; every connection and channel is
 * accounted for when the members leave.
 */

#include "fuzz-common.h"

#include "metered-hub.h"
#include "metered-metrics.h"
#include "metered-server-config.h"

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define N_MEMBERS 5

typedef struct _Member Member;

/* One WebSocket of a member. */
typedef struct
{
  Member *member;
  MeteredHubConn *conn;
  gboolean closed; /* close requested, socket not yet gone */
} Socket;

struct _Member
{
  const char *peer_id;
  MeteredApp *app;
  MeteredHubAuth auth;
  Socket *sock; /* NULL: not connected */
};

static MeteredApp dev_app = { (char *) "dev", 1000, FALSE, 0 };
static MeteredApp other_app = { (char *) "other", 1000, FALSE, 0 };
static Member members[N_MEMBERS];
static const char *const all_channels[] = { "*", NULL };
static GBytes *jwt_secret;

static GBytes *
lookup_secret (const char *kid, gpointer user_data)
{
  return g_str_equal (kid, "dev") ? g_bytes_ref (jwt_secret) : NULL;
}

static GStrv
claim_strv (JsonObject *claims, const char *name)
{
  JsonArray *array = json_object_get_array_member (claims, name);
  GStrvBuilder *builder = g_strv_builder_new ();
  GStrv out;

  for (guint i = 0; i < json_array_get_length (array); i++)
    g_strv_builder_add (builder, json_array_get_string_element (array, i));
  out = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return out;
}

/* A member whose identity comes from a token the way the server's
 * handshake reads it: sub, channels, permissions, peerMetadata, exp. */
static void
member_from_jwt (Member *m, const char *claims_json)
{
  g_autoptr (GError) error = NULL;
  gsize secret_len;
  const guint8 *secret = g_bytes_get_data (jwt_secret, &secret_len);
  g_autofree char *token =
      metered_jwt_sign_hs256 ("dev", secret, secret_len, claims_json);
  g_autofree char *kid = NULL;
  JsonObject *claims = metered_jwt_verify_hs256 (token, lookup_secret, NULL,
      g_get_real_time () / G_USEC_PER_SEC, 30, &kid, &error);
  GStrv permissions;
  JsonNode *meta;

  FUZZ_CHECK (claims != NULL);
  m->app = &dev_app;
  m->peer_id = g_strdup (json_object_get_string_member (claims, "sub"));
  m->auth.channel_patterns =
      (const char *const *) claim_strv (claims, "channels");
  permissions = claim_strv (claims, "permissions");
  FUZZ_CHECK (metered_actions_from_strv (
      (const char *const *) permissions, &m->auth.actions));
  g_strfreev (permissions);
  meta = json_object_get_member (claims, "peerMetadata");
  m->auth.peer_metadata = meta ? json_to_string (meta, FALSE) : NULL;
  m->auth.expires_at = json_object_get_int_member (claims, "exp");
  m->auth.credential_id = g_strdup (kid);
  m->auth.peer_id_is_stable = TRUE;
  json_object_unref (claims);
}

static void
member_from_key (
    Member *m, MeteredApp *app, const char *peer_id, const char *peer_metadata)
{
  m->app = app;
  m->peer_id = peer_id;
  m->auth.actions = METERED_ACTION_ALL;
  m->auth.channel_patterns = all_channels;
  m->auth.peer_metadata = peer_metadata;
  m->auth.welcome_metadata =
      "{\"iceServers\":[{\"urls\":\"turn:10.99.0.1:3478\",\"username\":\"u\","
      "\"credential\":\"turn-secret\"}]}";
  m->auth.credential_id = "pk_dev_local";
  m->auth.expires_at = -1;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  gint64 exp = g_get_real_time () / G_USEC_PER_SEC + 365 * 24 * 3600;
  g_autofree char *carol = g_strdup_printf (
      "{\"sub\":\"carol\",\"channels\":[\"room-*\",\"lobby\"],"
      "\"permissions\":[\"publish\",\"subscribe\",\"presence\"],"
      "\"peerMetadata\":{\"name\":\"Carol\"},\"exp\":%" G_GINT64_FORMAT "}",
      exp);
  g_autofree char *dave = g_strdup_printf (
      "{\"sub\":\"dave\",\"channels\":[\"*\"],"
      "\"permissions\":[\"subscribe\",\"send\"],\"exp\":%" G_GINT64_FORMAT "}",
      exp);

  fuzz_init_glib ();
  jwt_secret = g_bytes_new_static ("sk_dev_local", strlen ("sk_dev_local"));
  member_from_key (&members[0], &dev_app, "alice", "{\"name\":\"Alice\"}");
  member_from_key (&members[1], &dev_app, "bob", NULL);
  member_from_jwt (&members[2], carol);
  member_from_jwt (&members[3], dave);
  member_from_key (&members[4], &other_app, "eve", "{\"app\":\"other\"}");
  for (guint i = 0; i < N_MEMBERS; i++)
    members[i].auth.app = members[i].app,
    members[i].auth.peer_id = members[i].peer_id;
  return 0;
}

static MeteredApp *
app_of_peer (const char *peer_id)
{
  for (guint i = 0; i < N_MEMBERS; i++)
    if (g_strcmp0 (members[i].peer_id, peer_id) == 0)
      return members[i].app;
  return NULL;
}

static void
check_entries (Member *m, GPtrArray *entries)
{
  for (guint i = 0; entries && i < entries->len; i++) {
    MeteredPresenceEntry *e = g_ptr_array_index (entries, i);
    FUZZ_CHECK (app_of_peer (e->peer_id) == m->app);
    FUZZ_CHECK (g_strcmp0 (e->peer_id, m->peer_id) != 0);
  }
}

static void
io_send (gpointer io_data, const char *text)
{
  Socket *sock = io_data;
  Member *m = sock->member;
  g_autoptr (GError) error = NULL;
  MeteredFrame *f;

  FUZZ_CHECK (!sock->closed);
  f = metered_server_frame_parse (text, strlen (text), &error);
  if (f == NULL)
    g_printerr ("hub sent an unparsable frame: %s\n", error->message);
  FUZZ_CHECK (f != NULL);
  if (f->type == METERED_FRAME_MESSAGE || f->type == METERED_FRAME_DIRECT)
    FUZZ_CHECK (app_of_peer (f->from) == m->app);
  /* A publish is never echoed; a send to oneself is delivered (protocol
   * doc §10 rule 7 has no exception for it, the SDK refuses it itself). */
  if (f->type == METERED_FRAME_MESSAGE)
    FUZZ_CHECK (g_strcmp0 (f->from, m->peer_id) != 0);
  if (f->type == METERED_FRAME_PRESENCE) {
    check_entries (m, f->joined);
    check_entries (m, f->left);
  }
  metered_frame_free (f);
}

static void
io_close (gpointer io_data, int code, const char *reason)
{
  Socket *sock = io_data;

  FUZZ_CHECK (!sock->closed);
  FUZZ_CHECK (code >= 1000 && code < 5000);
  sock->closed = TRUE;
}

static const MeteredHubIo io = { io_send, io_close };

static void
socket_gone (Socket *sock)
{
  metered_hub_conn_remove (sock->conn);
  if (sock->member->sock == sock)
    sock->member->sock = NULL;
  g_free (sock);
}

/* The socket layer learns of a close later and then removes the conn. */
static void
reap (void)
{
  for (guint i = 0; i < N_MEMBERS; i++)
    if (members[i].sock && members[i].sock->closed)
      socket_gone (members[i].sock);
}

static void
connect_member (MeteredHub *hub, Member *m)
{
  Socket *old = m->sock;
  Socket *sock = g_new0 (Socket, 1);

  sock->member = m;
  m->sock = sock;
  sock->conn = metered_hub_conn_add (hub, &m->auth, &io, sock);
  /* The hub closed the superseded socket before welcoming the new one;
   * it goes away afterwards, as a real socket would. */
  if (old) {
    FUZZ_CHECK (old->closed && metered_hub_conn_is_closing (old->conn));
    socket_gone (old);
  }
}

static gboolean
never (gpointer data)
{
  return G_SOURCE_REMOVE;
}

/* Fires every timer the hub has armed (presence snapshots) now, instead
 * of waiting presence_gap_ms: sources created since first_id get a ready
 * time in the past. */
static void
fire_timers (guint first_id)
{
  guint last_id = g_idle_add (never, NULL);

  g_source_remove (last_id);
  for (guint id = first_id; id < last_id; id++) {
    GSource *s = g_main_context_find_source_by_id (NULL, id);
    if (s && !g_source_is_destroyed (s))
      g_source_set_ready_time (s, 0);
  }
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  MeteredMetrics *metrics = metered_metrics_new ();
  MeteredHub *hub = metered_hub_new (metrics, 5);
  guint first_id = g_idle_add (never, NULL);
  const char *p = (const char *) data, *end = p + size;
  gint64 now_ms = 1000;

  g_source_remove (first_id);
  dev_app.n_connections = other_app.n_connections = 0;
  for (guint i = 0; i < N_MEMBERS; i++)
    connect_member (hub, &members[i]);

  while (p < end) {
    const char *nl = memchr (p, '\n', end - p);
    const char *line_end = nl ? nl : end;
    char op = *p;
    Member *m;

    now_ms += 1;
    if (op >= 'a' && op < 'a' + N_MEMBERS) {
      m = &members[op - 'a'];
      if (m->sock)
        metered_hub_conn_handle_text (
            m->sock->conn, p + 1, line_end - (p + 1), now_ms);
    } else if (op >= 'A' && op < 'A' + N_MEMBERS) {
      connect_member (hub, &members[op - 'A']);
    } else if (op >= '0' && op < '0' + N_MEMBERS) {
      m = &members[op - '0'];
      if (m->sock)
        socket_gone (m->sock);
    } else if (op == '#') {
      if (members[0].sock)
        metered_hub_conn_handle_binary (members[0].sock->conn, now_ms);
    } else if (op == 't') {
      fire_timers (first_id);
    } else if (op == 'w') {
      now_ms += 1000;
    }
    reap ();
    p = nl ? nl + 1 : end;
  }
  fire_timers (first_id);

  FUZZ_CHECK (dev_app.n_connections + other_app.n_connections ==
              metered_hub_count_conns (hub));
  for (guint i = 0; i < N_MEMBERS; i++)
    if (members[i].sock)
      socket_gone (members[i].sock);
  FUZZ_CHECK (metered_hub_count_channels (hub) == 0);
  FUZZ_CHECK (dev_app.n_connections == 0 && other_app.n_connections == 0);
  metered_hub_free (hub);
  metered_metrics_free (metrics);
  return 0;
}
