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

#include "metered-redis.h"

#include <errno.h>
#include <gio/gio.h>
#include <hiredis/async.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* SUBSCRIBE arguments per command when subscribing again after a
 * reconnect: bounded so one command stays a few kB. */
#define SUBSCRIBE_BATCH 256

typedef struct _RedisLink RedisLink;

/* Our own GSource over a hiredis async context. hiredis's bundled
 * adapters/glib.h keeps dispatching on the context after
 * redisAsyncHandleWrite() freed it (a write error frees at once outside a
 * reply callback), so here the cleanup hook clears ac and dispatch checks
 * it between the two handlers. */
typedef struct
{
  GSource source;
  redisAsyncContext *ac; /* NULL once hiredis freed it */
  RedisLink *link;
  GPollFD poll_fd;
} LinkSource;

struct _RedisLink
{
  MeteredRedis *owner;
  const char *name; /* "command" or "subscriber", for logs */
  redisAsyncContext *ac;
  LinkSource *source;
  /* Pending (below) in send order; Redis answers in that order, so the
   * head is the oldest unanswered command. */
  GQueue pending;
};

typedef struct
{
  MeteredRedis *redis;
  RedisLink *link;
  MeteredRedisReplyFunc callback;
  gpointer user_data;
  gint64 sent_us;
  GList node;
} Pending;

struct _MeteredRedis
{
  MeteredRedisConfig config;
  MeteredRedisCallbacks callbacks;
  gpointer user_data;
  GMainContext *context;

  MeteredRedisState state;
  RedisLink cmd;
  RedisLink sub;

  char *run_id; /* of the Redis last UP with */
  char *new_run_id; /* read during the handshake */
  gboolean cmd_ready;
  guint sub_confirms_pending;

  /* channel (owned) -> GUINT_TO_POINTER (count) */
  GHashTable *wanted;
  /* channel (owned) -> GUINT_TO_POINTER (SUBSCRIBEs sent on this
   * subscriber link and not answered yet). Until the last one is
   * answered a PUBLISH may still miss us, so a snapshot read then could
   * miss an event too. */
  GHashTable *unconfirmed;
  char *probe_channel;
  guint64 probe_seq;
  gint64 probe_sent_us; /* 0: none outstanding */
  /* The previous tick and its period: a tick far later than due means
   * this process did not run (a stalled or starved host), and replies
   * may sit unread in the sockets; timeouts are judged a tick later. */
  gint64 last_tick_us;
  guint tick_ms;
  gint64 ping_sent_us;
  gint64 last_sub_rx_us;
  gint64 last_cmd_rx_us;
  gint64 connect_started_us;
  guint attempt;

  GSource *tick;
  GSource *reconnect;
  GSource *teardown;
  char *failure; /* why the current teardown happens */
  gboolean freeing;
  MeteredRedisStats stats;
};

static void start_connect (MeteredRedis *redis);
static void link_failed (MeteredRedis *redis, const char *why);

/* ------------------------------------------------------------ config -- */

void
metered_redis_config_init (MeteredRedisConfig *config)
{
  MeteredBackoffConfig backoff = { 100.0, 2.0, 1000.0, 0.5, -1 };

  memset (config, 0, sizeof *config);
  config->host = g_strdup ("127.0.0.1");
  config->port = 6379;
  config->connect_timeout_ms = 1000;
  config->command_timeout_ms = 2000;
  config->probe_interval_ms = 1000;
  config->backoff = backoff;
}

void
metered_redis_config_clear (MeteredRedisConfig *config)
{
  g_clear_pointer (&config->host, g_free);
  if (config->password)
    memset (config->password, 0, strlen (config->password));
  g_clear_pointer (&config->password, g_free);
  g_clear_pointer (&config->client_name, g_free);
}

static void
config_copy (MeteredRedisConfig *dst, const MeteredRedisConfig *src)
{
  *dst = *src;
  dst->host = g_strdup (src->host);
  dst->password = g_strdup (src->password);
  dst->client_name = g_strdup (src->client_name);
}

gboolean
metered_redis_config_parse_url (
    MeteredRedisConfig *config, const char *url, GError **error)
{
  g_autoptr (GUri) uri = NULL;
  const char *host, *path, *userinfo;
  int port;

  g_return_val_if_fail (config != NULL && url != NULL, FALSE);

  /* The URL may carry a password: errors name the part that is wrong,
   * never echo the URL. */
  uri = g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD, NULL);
  if (!uri || g_strcmp0 (g_uri_get_scheme (uri), "redis") != 0) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "cluster URL must look like redis://[:password@]host[:port]");
    return FALSE;
  }
  host = g_uri_get_host (uri);
  if (!host || !*host) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "cluster URL has no host");
    return FALSE;
  }
  port = g_uri_get_port (uri);
  if (port == -1)
    port = 6379;
  if (port <= 0 || port > 65535) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "cluster URL port must be 1..65535");
    return FALSE;
  }
  path = g_uri_get_path (uri);
  if (path && *path && strcmp (path, "/") != 0 && strcmp (path, "/0") != 0) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "cluster URL database must be 0 (the cluster keys live in db 0)");
    return FALSE;
  }
  if (g_uri_get_query (uri) || g_uri_get_fragment (uri)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "cluster URL takes no query or fragment");
    return FALSE;
  }

  g_free (config->host);
  config->host = g_strdup (host);
  config->port = port;
  g_clear_pointer (&config->password, g_free);
  userinfo = g_uri_get_password (uri);
  if (userinfo && *userinfo) {
    config->password = g_strdup (userinfo);
    if (g_uri_get_user (uri) && *g_uri_get_user (uri)) {
      /* AUTH user password (Redis ACL): kept as "user\npassword". */
      char *both =
          g_strdup_printf ("%s\n%s", g_uri_get_user (uri), config->password);
      memset (config->password, 0, strlen (config->password));
      g_free (config->password);
      config->password = both;
    }
  }
  return TRUE;
}

/* ------------------------------------------------------------ source -- */

static gboolean
link_source_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return FALSE;
}

static gboolean
link_source_check (GSource *source)
{
  LinkSource *ls = (LinkSource *) source;

  return (ls->poll_fd.revents &
             (ls->poll_fd.events | G_IO_HUP | G_IO_ERR | G_IO_NVAL)) != 0;
}

static gboolean
link_source_dispatch (GSource *source, GSourceFunc cb, gpointer data)
{
  LinkSource *ls = (LinkSource *) source;
  gushort rev = ls->poll_fd.revents;
  gboolean broken = (rev & (G_IO_HUP | G_IO_ERR | G_IO_NVAL)) != 0;

  ls->poll_fd.revents = 0;
  if (ls->ac &&
      ((rev & G_IO_OUT) || (broken && !(ls->ac->c.flags & REDIS_CONNECTED))))
    redisAsyncHandleWrite (ls->ac);
  /* The write handler may have freed the context (cleanup cleared ac). */
  if (ls->ac && ((rev & G_IO_IN) || broken))
    redisAsyncHandleRead (ls->ac);
  return ls->ac ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static GSourceFuncs link_source_funcs = {
  link_source_prepare,
  link_source_check,
  link_source_dispatch,
  NULL,
  NULL,
  NULL,
};

static void
ev_add_read (void *data)
{
  ((LinkSource *) data)->poll_fd.events |= G_IO_IN;
}

static void
ev_del_read (void *data)
{
  ((LinkSource *) data)->poll_fd.events &= ~G_IO_IN;
}

static void
ev_add_write (void *data)
{
  ((LinkSource *) data)->poll_fd.events |= G_IO_OUT;
}

static void
ev_del_write (void *data)
{
  ((LinkSource *) data)->poll_fd.events &= ~G_IO_OUT;
}

/* hiredis is freeing the context (from any path: our redisAsyncFree, a
 * read or write error, a failed connect). The GSource may be the one
 * dispatching right now: GLib holds its own reference over dispatch. */
static void
ev_cleanup (void *data)
{
  LinkSource *ls = data;

  ls->ac = NULL;
  if (ls->link) {
    ls->link->ac = NULL;
    ls->link->source = NULL;
    ls->link = NULL;
  }
  g_source_remove_poll (&ls->source, &ls->poll_fd);
  g_source_destroy (&ls->source);
  g_source_unref (&ls->source);
}

static void
link_attach (RedisLink *link, GMainContext *context)
{
  LinkSource *ls;
  redisAsyncContext *ac = link->ac;

  ls = (LinkSource *) g_source_new (&link_source_funcs, sizeof *ls);
  g_source_set_static_name (&ls->source, "metered-redis");
  ls->ac = ac;
  ls->link = link;
  ls->poll_fd.fd = ac->c.fd;
  g_source_add_poll (&ls->source, &ls->poll_fd);
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  ac->ev.data = ls;
  link->source = ls;
  g_source_attach (&ls->source, context);
}

/* ---------------------------------------------------------- commands -- */

static void
set_state (MeteredRedis *redis, MeteredRedisState state)
{
  if (redis->state == state)
    return;
  redis->state = state;
  if (redis->callbacks.state_changed)
    redis->callbacks.state_changed (redis, state, redis->user_data);
}

static void
on_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Pending *p = privdata;
  MeteredRedis *redis = p->redis;
  const redisReply *reply = r;
  g_autoptr (GError) error = NULL;

  g_queue_unlink (&p->link->pending, &p->node);
  if (reply)
    redis->last_cmd_rx_us = g_get_monotonic_time ();
  if (redis->freeing) {
    /* metered_redis_free(): the owner learns that the command is over, so
     * whatever it passed as user_data can be released. */
    error = g_error_new_literal (
        G_IO_ERROR, G_IO_ERROR_CANCELLED, "Redis link freed");
    reply = NULL;
  } else if (!reply) {
    /* The context is being freed: mark the pair failed before any owner
     * callback runs, so a command it queues from there is refused. */
    link_failed (redis, "command connection lost");
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
        "Redis connection lost (%s)",
        redis->failure ? redis->failure : "closed");
  }
  if (p->callback)
    p->callback (redis, reply, error, p->user_data);
  g_free (p);
}

static gboolean
send_on (MeteredRedis *redis, RedisLink *link, int argc,
    const char *const *argv, const gsize *argvlen,
    MeteredRedisReplyFunc callback, gpointer user_data, GError **error)
{
  Pending *p;

  G_STATIC_ASSERT (sizeof (gsize) == sizeof (size_t));

  if (!link->ac) {
    g_set_error_literal (
        error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "Redis is not connected");
    return FALSE;
  }
  p = g_new0 (Pending, 1);
  p->redis = redis;
  p->link = link;
  p->callback = callback;
  p->user_data = user_data;
  p->sent_us = g_get_monotonic_time ();
  p->node.data = p;
  if (redisAsyncCommandArgv (link->ac, on_reply, p, argc, (const char **) argv,
          (const size_t *) argvlen) != REDIS_OK) {
    g_free (p);
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
        "Redis connection is closing");
    return FALSE;
  }
  g_queue_push_tail_link (&link->pending, &p->node);
  return TRUE;
}

gboolean
metered_redis_command_argv (MeteredRedis *redis, int argc,
    const char *const *argv, const gsize *argvlen,
    MeteredRedisReplyFunc callback, gpointer user_data, GError **error)
{
  g_return_val_if_fail (redis != NULL && argc > 0 && argv != NULL, FALSE);

  if (redis->state != METERED_REDIS_UP) {
    g_set_error_literal (
        error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "Redis is not connected");
    return FALSE;
  }
  return send_on (
      redis, &redis->cmd, argc, argv, argvlen, callback, user_data, error);
}

/* ------------------------------------------------------- subscriber -- */

static void maybe_up (MeteredRedis *redis);

static gboolean
reply_is (const redisReply *r, const char *s)
{
  return r && r->type == REDIS_REPLY_STRING && r->len == strlen (s) &&
         g_ascii_strncasecmp (r->str, s, r->len) == 0;
}

/* Every command on the subscriber connection uses this one callback and
 * privdata: hiredis 0.14 reuses the previous callback for a pub/sub reply
 * it cannot match (a late message after UNSUBSCRIBE), which is then
 * harmless. */
static void
on_sub_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  RedisLink *link = privdata;
  MeteredRedis *redis = link->owner;
  const redisReply *reply = r;
  g_autofree char *channel = NULL;

  if (redis->freeing)
    return;
  if (!reply) {
    link_failed (redis, "subscriber connection lost");
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    /* AUTH refused, or a command that is invalid while subscribed. */
    link_failed (redis, "subscriber command refused");
    return;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
      reply->element[1]->type != REDIS_REPLY_STRING)
    return; /* +OK of AUTH */

  redis->last_sub_rx_us = g_get_monotonic_time ();
  redis->probe_sent_us = 0;
  channel = g_strndup (reply->element[1]->str, reply->element[1]->len);

  if (reply_is (reply->element[0], "message") && reply->elements >= 3 &&
      reply->element[2]->type == REDIS_REPLY_STRING) {
    if (redis->state == METERED_REDIS_UP &&
        g_hash_table_contains (redis->wanted, channel) &&
        redis->callbacks.message)
      redis->callbacks.message (redis, channel, reply->element[2]->str,
          reply->element[2]->len, redis->user_data);
  } else if (reply_is (reply->element[0], "subscribe")) {
    guint n =
        GPOINTER_TO_UINT (g_hash_table_lookup (redis->unconfirmed, channel));

    if (n > 1)
      g_hash_table_replace (
          redis->unconfirmed, g_strdup (channel), GUINT_TO_POINTER (n - 1));
    else
      g_hash_table_remove (redis->unconfirmed, channel);
    if (redis->state == METERED_REDIS_CONNECTING) {
      if (redis->sub_confirms_pending > 0 && --redis->sub_confirms_pending == 0)
        maybe_up (redis);
    } else if (redis->callbacks.subscribed &&
               metered_redis_is_subscribed (redis, channel)) {
      redis->callbacks.subscribed (redis, channel, redis->user_data);
    }
  }
}

static void
sub_send (
    MeteredRedis *redis, const char *verb, const char *const *channels, guint n)
{
  g_autofree const char **argv = g_new (const char *, n + 1);
  guint i;

  if (!redis->sub.ac || n == 0)
    return;
  argv[0] = verb;
  for (i = 0; i < n; i++)
    argv[i + 1] = channels[i];
  if (redisAsyncCommandArgv (redis->sub.ac, on_sub_reply, &redis->sub,
          (int) n + 1, argv, NULL) != REDIS_OK ||
      verb[0] != 'S')
    return;
  if (redis->state == METERED_REDIS_CONNECTING)
    redis->sub_confirms_pending += n;
  for (i = 0; i < n; i++) {
    guint sent = GPOINTER_TO_UINT (
        g_hash_table_lookup (redis->unconfirmed, channels[i]));

    g_hash_table_replace (redis->unconfirmed, g_strdup (channels[i]),
        GUINT_TO_POINTER (sent + 1));
  }
}

void
metered_redis_subscribe (MeteredRedis *redis, const char *channel)
{
  guint n;

  g_return_if_fail (redis != NULL && channel != NULL);

  n = GPOINTER_TO_UINT (g_hash_table_lookup (redis->wanted, channel));
  g_hash_table_replace (
      redis->wanted, g_strdup (channel), GUINT_TO_POINTER (n + 1));
  if (n == 0)
    sub_send (redis, "SUBSCRIBE", &channel, 1);
}

void
metered_redis_unsubscribe (MeteredRedis *redis, const char *channel)
{
  guint n;

  g_return_if_fail (redis != NULL && channel != NULL);

  n = GPOINTER_TO_UINT (g_hash_table_lookup (redis->wanted, channel));
  g_return_if_fail (n > 0);
  if (n > 1) {
    g_hash_table_replace (
        redis->wanted, g_strdup (channel), GUINT_TO_POINTER (n - 1));
    return;
  }
  g_hash_table_remove (redis->wanted, channel);
  sub_send (redis, "UNSUBSCRIBE", &channel, 1);
}

gboolean
metered_redis_is_subscribed (MeteredRedis *redis, const char *channel)
{
  return redis->state == METERED_REDIS_UP &&
         g_hash_table_contains (redis->wanted, channel) &&
         !g_hash_table_contains (redis->unconfirmed, channel);
}

/* ---------------------------------------------------- connect / fail -- */

static void
maybe_up (MeteredRedis *redis)
{
  MeteredRedisResync why;

  if (redis->state != METERED_REDIS_CONNECTING || !redis->cmd_ready ||
      redis->sub_confirms_pending > 0)
    return;

  if (!redis->run_id)
    why = METERED_REDIS_RESYNC_FIRST;
  else if (g_strcmp0 (redis->run_id, redis->new_run_id) == 0)
    why = METERED_REDIS_RESYNC_RECONNECTED;
  else {
    why = METERED_REDIS_RESYNC_RESTARTED;
    redis->stats.restarts_seen++;
  }
  g_free (redis->run_id);
  redis->run_id = g_steal_pointer (&redis->new_run_id);
  redis->attempt = 0;
  redis->stats.connects++;
  redis->last_sub_rx_us = redis->last_cmd_rx_us = g_get_monotonic_time ();
  redis->probe_sent_us = 0;
  g_message ("Redis %s:%d up (%s)", redis->config.host, redis->config.port,
      why == METERED_REDIS_RESYNC_FIRST         ? "first connect"
      : why == METERED_REDIS_RESYNC_RECONNECTED ? "same run_id"
                                                : "restarted: new run_id");
  set_state (redis, METERED_REDIS_UP);
  if (redis->state == METERED_REDIS_UP && redis->callbacks.resync)
    redis->callbacks.resync (redis, why, redis->user_data);
}

static void
on_info (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  const char *p;
  gsize n;

  if (!reply)
    return; /* the failure is already handled */
  if (reply->type != REDIS_REPLY_STRING ||
      !(p = g_strstr_len (reply->str, reply->len, "run_id:"))) {
    link_failed (redis, "INFO server has no run_id");
    return;
  }
  p += strlen ("run_id:");
  n = strcspn (p, "\r\n");
  g_free (redis->new_run_id);
  redis->new_run_id = g_strndup (p, n);
  redis->cmd_ready = TRUE;
  maybe_up (redis);
}

static void
on_handshake_reply (MeteredRedis *redis, const redisReply *reply,
    const GError *error, gpointer user_data)
{
  /* The text of an AUTH error never contains the password; still, say
   * only which step failed. */
  if (reply && reply->type == REDIS_REPLY_ERROR)
    link_failed (redis, user_data);
}

static void
on_connect (const redisAsyncContext *ac, int status)
{
  RedisLink *link = ac->data;

  if (status != REDIS_OK && link && !link->owner->freeing)
    link_failed (link->owner, "connect failed");
}

static void
on_disconnect (const redisAsyncContext *ac, int status)
{
  RedisLink *link = ac->data;

  if (link && !link->owner->freeing)
    link_failed (link->owner, "connection closed");
}

static gboolean
link_open (MeteredRedis *redis, RedisLink *link)
{
  redisAsyncContext *ac;

  ac = redisAsyncConnect (redis->config.host, redis->config.port);
  if (!ac)
    return FALSE;
  if (ac->err) {
    g_message ("Redis %s:%d: %s connection: %s", redis->config.host,
        redis->config.port, link->name, ac->errstr);
    redisAsyncFree (ac);
    return FALSE;
  }
  ac->data = link;
  link->ac = ac;
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
  link_attach (link, redis->context);
  return TRUE;
}

/* Splits "user\npassword" or "password" into AUTH's arguments. */
static int
auth_argv (const char *password, const char **argv, char **owned)
{
  const char *nl = strchr (password, '\n');

  argv[0] = "AUTH";
  if (!nl) {
    argv[1] = password;
    return 2;
  }
  *owned = g_strndup (password, nl - password);
  argv[1] = *owned;
  argv[2] = nl + 1;
  return 3;
}

static void
start_connect (MeteredRedis *redis)
{
  const char *argv[3];
  g_autofree char *user = NULL;
  GHashTableIter iter;
  gpointer key;
  GPtrArray *batch;
  int argc;

  redis->connect_started_us = g_get_monotonic_time ();
  redis->cmd_ready = FALSE;
  redis->sub_confirms_pending = 0;
  g_hash_table_remove_all (redis->unconfirmed);
  g_clear_pointer (&redis->new_run_id, g_free);
  g_clear_pointer (&redis->failure, g_free);
  set_state (redis, METERED_REDIS_CONNECTING);

  if (!link_open (redis, &redis->cmd) || !link_open (redis, &redis->sub)) {
    link_failed (redis, "connect failed");
    return;
  }

  if (redis->config.password) {
    argc = auth_argv (redis->config.password, argv, &user);
    send_on (redis, &redis->cmd, argc, argv, NULL, on_handshake_reply,
        (gpointer) "AUTH refused", NULL);
    redisAsyncCommandArgv (
        redis->sub.ac, on_sub_reply, &redis->sub, argc, argv, NULL);
  }
  if (redis->config.client_name) {
    argv[0] = "CLIENT";
    argv[1] = "SETNAME";
    argv[2] = redis->config.client_name;
    send_on (redis, &redis->cmd, 3, argv, NULL, on_handshake_reply,
        (gpointer) "CLIENT SETNAME refused", NULL);
  }
  argv[0] = "INFO";
  argv[1] = "server";
  send_on (redis, &redis->cmd, 2, argv, NULL, on_info, NULL, NULL);

  /* The probe channel first, then every wanted channel in batches. */
  sub_send (redis, "SUBSCRIBE", (const char *const *) &redis->probe_channel, 1);
  batch = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, redis->wanted);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    g_ptr_array_add (batch, key);
    if (batch->len == SUBSCRIBE_BATCH) {
      sub_send (
          redis, "SUBSCRIBE", (const char *const *) batch->pdata, batch->len);
      g_ptr_array_set_size (batch, 0);
    }
  }
  sub_send (redis, "SUBSCRIBE", (const char *const *) batch->pdata, batch->len);
  g_ptr_array_unref (batch);
}

static gboolean
on_reconnect (gpointer data)
{
  MeteredRedis *redis = data;

  g_clear_pointer (&redis->reconnect, g_source_unref);
  start_connect (redis);
  return G_SOURCE_REMOVE;
}

static void
links_free (MeteredRedis *redis)
{
  /* redisAsyncFree runs the pending callbacks with NULL replies and then
   * ev_cleanup, which clears link->ac. */
  if (redis->cmd.ac)
    redisAsyncFree (redis->cmd.ac);
  if (redis->sub.ac)
    redisAsyncFree (redis->sub.ac);
}

/* Runs from the main loop, never inside a hiredis callback: frees what is
 * left of both connections and arms the next attempt. */
static gboolean
on_teardown (gpointer data)
{
  MeteredRedis *redis = data;
  gint64 delay;
  GSource *s;

  /* redis->teardown stays set while the links go: their callbacks call
   * link_failed(), which must not schedule a second teardown. */
  links_free (redis);
  g_clear_pointer (&redis->teardown, g_source_unref);
  set_state (redis, METERED_REDIS_DOWN);
  if (redis->freeing || redis->reconnect || redis->state != METERED_REDIS_DOWN)
    return G_SOURCE_REMOVE;
  delay = metered_backoff_delay_ms (
      &redis->config.backoff, ++redis->attempt, 0, NULL, NULL);
  g_debug ("Redis %s:%d: next attempt in %" G_GINT64_FORMAT " ms",
      redis->config.host, redis->config.port, delay);
  s = g_timeout_source_new ((guint) MIN (delay, G_MAXUINT));
  g_source_set_static_name (s, "metered-redis-reconnect");
  g_source_set_callback (s, on_reconnect, redis, NULL);
  g_source_attach (s, redis->context);
  redis->reconnect = s;
  return G_SOURCE_REMOVE;
}

/* Marks the pair failed at once (commands are refused from here on) and
 * defers the rest: this may run inside hiredis. Idempotent. */
static void
link_failed (MeteredRedis *redis, const char *why)
{
  GSource *s;

  if (redis->freeing || redis->teardown)
    return;
  redis->stats.failures++;
  g_free (redis->failure);
  redis->failure = g_strdup (why);
  g_message ("Redis %s:%d: %s", redis->config.host, redis->config.port, why);
  /* Not DOWN yet (on_teardown says so once the links are gone), but no
   * longer UP: the command entry point checks for UP. */
  redis->state = METERED_REDIS_CONNECTING;
  s = g_idle_source_new ();
  g_source_set_priority (s, G_PRIORITY_HIGH);
  g_source_set_static_name (s, "metered-redis-teardown");
  g_source_set_callback (s, on_teardown, redis, NULL);
  g_source_attach (s, redis->context);
  redis->teardown = s;
}

void
metered_redis_reset (MeteredRedis *redis, const char *why)
{
  g_return_if_fail (redis != NULL);
  link_failed (redis, why ? why : "reset");
}

/* ------------------------------------------------------------ health -- */

static void
on_ping (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  if (reply && reply->type == REDIS_REPLY_STATUS)
    redis->stats.last_rtt_us = g_get_monotonic_time () - redis->ping_sent_us;
}

static gboolean
on_tick (gpointer data)
{
  MeteredRedis *redis = data;
  gint64 now = g_get_monotonic_time ();
  gboolean stalled =
      redis->last_tick_us &&
      now - redis->last_tick_us > (gint64) (redis->tick_ms + 250) * 1000;
  Pending *head;

  redis->last_tick_us = now;
  if (redis->teardown || redis->reconnect || stalled)
    return G_SOURCE_CONTINUE;

  if (redis->state == METERED_REDIS_CONNECTING) {
    if (now - redis->connect_started_us >
        (gint64) redis->config.connect_timeout_ms * 1000)
      link_failed (redis, "connect timeout");
    return G_SOURCE_CONTINUE;
  }
  if (redis->state != METERED_REDIS_UP)
    return G_SOURCE_CONTINUE;

  head = redis->cmd.pending.head ? redis->cmd.pending.head->data : NULL;
  if (head &&
      now - head->sent_us > (gint64) redis->config.command_timeout_ms * 1000) {
    redis->stats.command_timeouts++;
    link_failed (redis, "command timeout");
    return G_SOURCE_CONTINUE;
  }
  if (redis->probe_sent_us &&
      now - redis->probe_sent_us >
          (gint64) redis->config.command_timeout_ms * 1000) {
    redis->stats.probe_timeouts++;
    link_failed (redis, "subscriber probe timeout");
    return G_SOURCE_CONTINUE;
  }

  if (!head && now - redis->last_cmd_rx_us >
                   (gint64) redis->config.probe_interval_ms * 1000) {
    const char *argv[] = { "PING" };

    if (send_on (redis, &redis->cmd, 1, argv, NULL, on_ping, NULL, NULL))
      redis->ping_sent_us = now;
  }
  if (!redis->probe_sent_us &&
      now - redis->last_sub_rx_us >
          (gint64) redis->config.probe_interval_ms * 1000) {
    g_autofree char *seq =
        g_strdup_printf ("%" G_GUINT64_FORMAT, ++redis->probe_seq);
    const char *argv[] = { "PUBLISH", redis->probe_channel, seq };

    if (send_on (redis, &redis->cmd, 3, argv, NULL, NULL, NULL, NULL))
      redis->probe_sent_us = now;
  }
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------ public -- */

MeteredRedis *
metered_redis_new (const MeteredRedisConfig *config,
    const MeteredRedisCallbacks *callbacks, gpointer user_data)
{
  MeteredRedis *redis;
  struct sigaction sa;
  guint tick_ms;

  g_return_val_if_fail (config != NULL && config->host != NULL, NULL);

  /* hiredis writes with write(2): a peer that closed would raise SIGPIPE
   * and end the process. The server never wants SIGPIPE; only replace
   * the default action, not a handler someone installed. */
  if (sigaction (SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
    signal (SIGPIPE, SIG_IGN);

  redis = g_new0 (MeteredRedis, 1);
  config_copy (&redis->config, config);
  if (callbacks)
    redis->callbacks = *callbacks;
  redis->user_data = user_data;
  redis->context = g_main_context_ref_thread_default ();
  redis->cmd.owner = redis->sub.owner = redis;
  redis->cmd.name = "command";
  redis->sub.name = "subscriber";
  g_queue_init (&redis->cmd.pending);
  g_queue_init (&redis->sub.pending);
  redis->wanted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  redis->unconfirmed =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  redis->probe_channel = g_strdup_printf ("ms:probe:%s:%08x",
      config->client_name ? config->client_name : "node", g_random_int ());
  redis->stats.last_rtt_us = -1;

  tick_ms = MIN (config->connect_timeout_ms,
      MIN (config->command_timeout_ms, config->probe_interval_ms));
  tick_ms = CLAMP (tick_ms / 4, 10, 250);
  redis->tick_ms = tick_ms;
  redis->tick = g_timeout_source_new (tick_ms);
  g_source_set_static_name (redis->tick, "metered-redis-tick");
  g_source_set_callback (redis->tick, on_tick, redis, NULL);
  g_source_attach (redis->tick, redis->context);

  start_connect (redis);
  return redis;
}

void
metered_redis_free (MeteredRedis *redis)
{
  if (!redis)
    return;
  redis->freeing = TRUE;
  redis->state = METERED_REDIS_DOWN; /* refuse commands from callbacks */
  links_free (redis);
  if (redis->tick)
    g_source_destroy (redis->tick);
  g_clear_pointer (&redis->tick, g_source_unref);
  if (redis->reconnect)
    g_source_destroy (redis->reconnect);
  g_clear_pointer (&redis->reconnect, g_source_unref);
  if (redis->teardown)
    g_source_destroy (redis->teardown);
  g_clear_pointer (&redis->teardown, g_source_unref);
  g_hash_table_unref (redis->wanted);
  g_hash_table_unref (redis->unconfirmed);
  g_free (redis->probe_channel);
  g_free (redis->run_id);
  g_free (redis->new_run_id);
  g_free (redis->failure);
  metered_redis_config_clear (&redis->config);
  g_main_context_unref (redis->context);
  g_free (redis);
}

MeteredRedisState
metered_redis_get_state (MeteredRedis *redis)
{
  return redis->state;
}

const char *
metered_redis_get_run_id (MeteredRedis *redis)
{
  return redis->run_id;
}

void
metered_redis_get_stats (MeteredRedis *redis, MeteredRedisStats *stats)
{
  *stats = redis->stats;
  stats->pending = redis->cmd.pending.length;
}
