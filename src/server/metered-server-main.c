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

/* metered-server: a Metered-compatible signalling server
 * (docs/metered-server.md). */

#include "metered-server.h"
#ifdef METERED_HAVE_CLUSTER
#include "metered-cluster.h"
#endif

#include "protocol/metered-protocol.h"

#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  char *host;
  int port;
  char *port_file;
  char **keys_files;
  gboolean dev;
  char *admin_token;
  char *cert;
  char *key;
  char *web_root;
  int ip_connect_limit;
  int ws_ping_interval;
  int presence_gap_ms;
  int write_threads;
  int max_queued_kb;
  gboolean verbose;
  char *cluster;
  char *node_id;
  int cluster_lease_ms;
  /* --mint-token */
  gboolean mint;
  char *kid;
  char *sub;
  char *channels;
  char *permissions;
  char *peer_metadata;
  char *metadata;
  gint64 ttl;
  gint64 nbf_offset;
} Options;

static void
options_clear (Options *o)
{
  g_free (o->host);
  g_free (o->port_file);
  g_strfreev (o->keys_files);
  g_free (o->admin_token);
  g_free (o->cert);
  g_free (o->key);
  g_free (o->web_root);
  g_free (o->cluster);
  g_free (o->node_id);
  g_free (o->kid);
  g_free (o->sub);
  g_free (o->channels);
  g_free (o->permissions);
  g_free (o->peer_metadata);
  g_free (o->metadata);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Options, options_clear)

static GMainLoop *loop;
static int exit_status;

static gboolean
on_shutdown_done (gpointer user_data)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer user_data)
{
  MeteredServer *server = user_data;
  static gboolean once;

  if (once) {
    /* A second signal: stop waiting for clients. */
    g_main_loop_quit (loop);
    return G_SOURCE_CONTINUE;
  }
  once = TRUE;
  g_printerr ("metered-server: shutting down (going_away, close 1001)\n");
  metered_server_shutdown (server, 2000, on_shutdown_done, NULL);
  return G_SOURCE_CONTINUE;
}

static void
log_writer_init (gboolean verbose)
{
  /* --verbose shows the server's own info lines and nothing of GLib's
   * debug chatter. */
  if (verbose)
    g_setenv ("G_MESSAGES_DEBUG", "metered-server", FALSE);
}

static gboolean
add_json_member (
    JsonObject *claims, const char *name, const char *text, GError **error)
{
  g_autoptr (JsonNode) node = json_from_string (text, error);

  if (!node)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--%s must be a JSON object", name);
    return FALSE;
  }
  json_object_set_member (claims, name, g_steal_pointer (&node));
  return TRUE;
}

static JsonArray *
csv_array (const char *csv)
{
  JsonArray *array = json_array_new ();
  g_auto (GStrv) items = g_strsplit (csv, ",", -1);

  for (GStrv i = items; *i; i++) {
    g_strstrip (*i);
    if (**i)
      json_array_add_string_element (array, *i);
  }
  return array;
}

static int
mint_token (Options *o, MeteredServerConfig *config)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) claims = json_object_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *claims_text = NULL;
  g_autofree char *token = NULL;
  const char *kid = o->kid ? o->kid : (o->dev ? METERED_DEV_KID : NULL);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  MeteredSecret *secret;
  gsize secret_len;
  const guint8 *secret_data;

  /* The mint arguments are taken as bytes (no locale conversion, so a
   * C-locale shell can pass UTF-8 JSON) and must be UTF-8. */
  const char *const args[] = { o->kid, o->sub, o->channels, o->permissions,
    o->peer_metadata, o->metadata };

  for (guint i = 0; i < G_N_ELEMENTS (args); i++) {
    if (args[i] && !g_utf8_validate (args[i], -1, NULL)) {
      g_printerr ("metered-server: --mint-token arguments must be UTF-8\n");
      return 2;
    }
  }
  if (!kid || !o->sub) {
    g_printerr ("metered-server --mint-token needs --sub and --kid (or "
                "--dev)\n");
    return 2;
  }
  secret = g_hash_table_lookup (config->secrets, kid);
  if (!secret) {
    g_printerr ("metered-server: no secret with kid \"%s\" in the keys\n", kid);
    return 2;
  }

  json_object_set_string_member (claims, "sub", o->sub);
  json_object_set_int_member (claims, "iat", now);
  json_object_set_int_member (claims, "exp", now + o->ttl);
  if (o->nbf_offset)
    json_object_set_int_member (claims, "nbf", now + o->nbf_offset);
  json_object_set_array_member (
      claims, "channels", csv_array (o->channels ? o->channels : "**"));
  json_object_set_array_member (claims, "permissions",
      csv_array (
          o->permissions ? o->permissions : "publish,subscribe,presence,send"));
  if (o->peer_metadata &&
      !add_json_member (claims, "peerMetadata", o->peer_metadata, &error))
    goto fail;
  if (o->metadata && !add_json_member (claims, "metadata", o->metadata, &error))
    goto fail;

  json_node_set_object (root, claims);
  claims_text = json_to_string (root, FALSE);
  secret_data = g_bytes_get_data (secret->secret, &secret_len);
  token = metered_jwt_sign_hs256 (kid, secret_data, secret_len, claims_text);
  printf ("%s\n", token);
  return 0;

fail:
  g_printerr ("metered-server: %s\n", error->message);
  return 2;
}

static gboolean
write_port_file (const char *path, guint port, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  g_autofree char *text = g_strdup_printf ("%u\n", port);

  /* Written then renamed, so a reader never sees half a number. */
  if (!g_file_set_contents (tmp, text, -1, error))
    return FALSE;
  if (rename (tmp, path) != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write %s", path);
    return FALSE;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_auto (Options) o = { .port = 8080,
    .ip_connect_limit = METERED_SERVER_IP_CONNECTS,
    .ws_ping_interval = METERED_SERVER_WS_PING_S,
    .presence_gap_ms = 20,
    .max_queued_kb = METERED_SERVER_MAX_QUEUED_KB,
    .ttl = 3600 };
  GOptionEntry entries[] = { { "host", 0, 0, G_OPTION_ARG_STRING, &o.host,
                                 "Address to bind (default 127.0.0.1)",
                                 "ADDR" },
    { "port", 0, 0, G_OPTION_ARG_INT, &o.port,
        "Port (default 8080; 0 picks a free one)", "N" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &o.port_file,
        "Write the bound port to FILE", "FILE" },
    { "keys", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.keys_files,
        "Keys file (JSON; see docs/metered-server.md)", "FILE" },
    { "dev", 0, 0, G_OPTION_ARG_NONE, &o.dev,
        "Serve the development app (pk_dev_local, kid dev)", NULL },
    { "admin-token", 0, 0, G_OPTION_ARG_STRING, &o.admin_token,
        "Bearer token of the admin API", "T" },
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &o.cert,
        "TLS certificate (PEM): serve wss://", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &o.key, "TLS private key (PEM)",
        "FILE" },
    { "web-root", 0, 0, G_OPTION_ARG_FILENAME, &o.web_root,
        "Serve static files from DIR at /", "DIR" },
    { "ip-connect-limit", 0, 0, G_OPTION_ARG_INT, &o.ip_connect_limit,
        "Upgrades per client IP per 60 s before HTTP 429 (0 = off)", "N" },
    { "ws-ping-interval", 0, 0, G_OPTION_ARG_INT, &o.ws_ping_interval,
        "RFC 6455 ping interval in seconds (default 30)", "S" },
    { "write-threads", 0, 0, G_OPTION_ARG_INT, &o.write_threads,
        "Threads writing a ws:// fan-out beside the main loop, 0..4 "
        "(default 0)",
        "N" },
    { "presence-gap-ms", 0, 0, G_OPTION_ARG_INT, &o.presence_gap_ms,
        "Gap between a subscribe ack and its presence snapshot (>= 5)", "MS" },
    { "max-queued-kb", 0, 0, G_OPTION_ARG_INT, &o.max_queued_kb,
        "Outgoing queue of one connection before it is closed 4013 as a "
        "slow consumer (default 1024)",
        "KB" },
    { "cluster", 0, 0, G_OPTION_ARG_STRING, &o.cluster,
        "Run as one node of a cluster sharing this Redis "
        "(redis://[:PASSWORD@]HOST[:PORT]; see docs/metered-server.md)",
        "URL" },
    { "node-id", 0, 0, G_OPTION_ARG_STRING, &o.node_id,
        "With --cluster: this node's id, unique among live nodes "
        "([A-Za-z0-9._-], at most 64)",
        "ID" },
    { "cluster-lease-ms", 0, 0, G_OPTION_ARG_INT, &o.cluster_lease_ms,
        "With --cluster: lease expiry (default 3000, 1500..60000): a dead "
        "node's peers leave about this long plus 1 s after it died; a node "
        "fences itself after two thirds of it without a renewal",
        "MS" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
        "Log connection events (credentials are never logged)", NULL },
    { "mint-token", 0, 0, G_OPTION_ARG_NONE, &o.mint,
        "Print a signed JWT and exit", NULL },
    { "kid", 0, 0, G_OPTION_ARG_FILENAME, &o.kid, "mint: secret id", "KID" },
    { "sub", 0, 0, G_OPTION_ARG_FILENAME, &o.sub, "mint: peer id", "ID" },
    { "channels", 0, 0, G_OPTION_ARG_FILENAME, &o.channels,
        "mint: comma-separated channel patterns (default **)", "LIST" },
    { "permissions", 0, 0, G_OPTION_ARG_FILENAME, &o.permissions,
        "mint: comma-separated actions (default all four)", "LIST" },
    { "peer-metadata", 0, 0, G_OPTION_ARG_FILENAME, &o.peer_metadata,
        "mint: peerMetadata JSON object", "JSON" },
    { "metadata", 0, 0, G_OPTION_ARG_FILENAME, &o.metadata,
        "mint: metadata JSON object (welcome.metadata)", "JSON" },
    { "ttl", 0, 0, G_OPTION_ARG_INT64, &o.ttl,
        "mint: lifetime in seconds (default 3600)", "S" },
    { "nbf-offset", 0, 0, G_OPTION_ARG_INT64, &o.nbf_offset,
        "mint: set nbf this many seconds from now", "S" },
    { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredServerConfig) config = metered_server_config_new ();
  MeteredServerOptions options = { 0 };
  MeteredServer *server;
  g_autofree char *url = NULL;
#ifdef METERED_HAVE_CLUSTER
  MeteredCluster *cluster = NULL;
#endif

  g_option_context_set_summary (
      ctx, "A Metered Realtime Messaging compatible signalling server.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("metered-server: %s\n", error->message);
    return 2;
  }
  if (!o.dev && !o.keys_files) {
    g_printerr ("metered-server: give --keys FILE or --dev\n");
    return 2;
  }
  if (o.dev)
    metered_server_config_add_dev_app (config);
  for (char **f = o.keys_files; f && *f; f++) {
    if (!metered_server_config_load_file (config, *f, &error)) {
      g_printerr ("metered-server: %s\n", error->message);
      return 2;
    }
  }
  if (o.mint)
    return mint_token (&o, config);

  if (o.port < 0 || o.port > 65535 || o.ip_connect_limit < 0 ||
      o.ws_ping_interval < 1 || o.presence_gap_ms < 5) {
    g_printerr ("metered-server: --port 0..65535, --ip-connect-limit >= 0, "
                "--ws-ping-interval >= 1, --presence-gap-ms >= 5\n");
    return 2;
  }
  if (o.write_threads < 0 || o.write_threads > 4) {
    g_printerr ("metered-server: --write-threads 0..4\n");
    return 2;
  }
  if (o.max_queued_kb < 16 || o.max_queued_kb > 1024 * 1024) {
    g_printerr ("metered-server: --max-queued-kb 16..1048576\n");
    return 2;
  }
  /* The keys file's "cluster" object; the command line wins. */
  if (!o.cluster && config->cluster_url)
    o.cluster = g_strdup (config->cluster_url);
  if (!o.node_id && config->cluster_node_id)
    o.node_id = g_strdup (config->cluster_node_id);
  if (o.cluster_lease_ms &&
      (o.cluster_lease_ms < 1500 || o.cluster_lease_ms > 60000)) {
    g_printerr ("metered-server: --cluster-lease-ms 1500..60000\n");
    return 2;
  }
  if (o.node_id && !o.cluster) {
    g_printerr ("metered-server: --node-id needs --cluster\n");
    return 2;
  }
#ifndef METERED_HAVE_CLUSTER
  if (o.cluster) {
    g_printerr ("metered-server: built without cluster support "
                "(needs libhiredis-dev at build time)\n");
    return 2;
  }
#endif
  if (!o.admin_token && o.dev)
    o.admin_token = g_strdup (METERED_DEV_ADMIN_TOKEN);
  log_writer_init (o.verbose);

  options.host = o.host ? o.host : "127.0.0.1";
  options.port = o.port;
  options.admin_token = o.admin_token;
  options.cert_file = o.cert;
  options.key_file = o.key;
  options.web_root = o.web_root;
  options.ip_connect_limit = o.ip_connect_limit;
  options.ws_ping_interval_s = o.ws_ping_interval;
  options.presence_gap_ms = o.presence_gap_ms;
  options.write_threads = o.write_threads;
  options.verbose = o.verbose;
  options.max_queued_kb = o.max_queued_kb;

  server = metered_server_new (g_steal_pointer (&config), &options);
  if (!metered_server_listen (server, &error)) {
    g_printerr ("metered-server: %s\n", error->message);
    metered_server_free (server);
    return 1;
  }
#ifdef METERED_HAVE_CLUSTER
  if (o.cluster) {
    MeteredClusterOptions copts = { o.cluster, o.node_id, NULL,
      (guint) o.cluster_lease_ms };

    cluster =
        metered_cluster_new (metered_server_get_hub (server), &copts, &error);
    if (!cluster) {
      g_printerr ("metered-server: %s\n", error->message);
      metered_server_free (server);
      return 2;
    }
  }
#endif
  url = metered_server_get_url (server);
  printf ("metered-server listening on %s/v1\n", url);
  if (o.dev)
    printf ("development app: publishable key %s, JWT secret %s (kid %s), "
            "admin token %s\n",
        METERED_DEV_PUBLISHABLE_KEY, METERED_DEV_SECRET, METERED_DEV_KID,
        o.admin_token);
  fflush (stdout);
  if (o.port_file && !write_port_file (o.port_file,
                         metered_server_get_port (server), &error)) {
    g_printerr ("metered-server: %s\n", error->message);
    metered_server_free (server);
    return 1;
  }

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_signal, server);
  g_unix_signal_add (SIGINT, on_signal, server);
  g_main_loop_run (loop);

#ifdef METERED_HAVE_CLUSTER
  if (cluster) {
    MeteredClusterStats st;
    gint64 until = g_get_monotonic_time () + 500 * 1000;

    /* The clients' releases and the deregistration go out before the
     * link closes (bounded: Redis may be away). */
    metered_cluster_deregister (cluster);
    do
      metered_cluster_get_stats (cluster, &st);
    while (st.redis_pending > 0 && g_get_monotonic_time () < until &&
           g_main_context_iteration (NULL, TRUE));
    metered_cluster_free (cluster);
  }
#endif
  metered_server_free (server);
  g_main_loop_unref (loop);
  return exit_status;
}
