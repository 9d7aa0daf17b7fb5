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

#include "metered-cluster-presence.h"

#include <gio/gio.h>
#include <string.h>

#include "metered-cluster-scripts.h"

typedef enum
{
  SHAPE_INT, /* an integer reply */
  SHAPE_TRIPLE, /* {value, seq, epoch} */
  SHAPE_PAIR, /* {value, seq} */
  SHAPE_SNAPSHOT,
  SHAPE_SET_NX, /* +OK or nil */
  SHAPE_HISTORY, /* {last, epoch, seq, from, body, ...} */
} Shape;

typedef struct
{
  Shape shape;
  MeteredClusterResultFunc callback;
  gpointer user_data;
} Call;

static gboolean
element_int (const redisReply *r, gint64 *out)
{
  if (r->type == REDIS_REPLY_INTEGER) {
    *out = r->integer;
    return TRUE;
  }
  if (r->type == REDIS_REPLY_STRING) {
    char *end = NULL;

    *out = g_ascii_strtoll (r->str, &end, 10);
    return end && end != r->str && *end == '\0';
  }
  return FALSE;
}

static void
on_reply (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  Call *call = user_data;
  MeteredClusterResult result = { 0 };
  g_autoptr (GError) local = NULL;
  g_autofree const char **members = NULL;
  gboolean ok = FALSE;
  gsize i, group;

  if (!reply) {
    ok = FALSE;
  } else if (reply->type == REDIS_REPLY_ERROR) {
    /* A script error names the script line, never an argument value. */
    local = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
        "Redis refused a cluster script: %.200s", reply->str);
  } else {
    switch (call->shape) {
      case SHAPE_INT:
        ok = element_int (reply, &result.value);
        break;
      case SHAPE_SET_NX:
        ok =
            reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_NIL;
        result.value = reply->type == REDIS_REPLY_STATUS;
        break;
      case SHAPE_PAIR:
      case SHAPE_TRIPLE:
        ok = reply->type == REDIS_REPLY_ARRAY &&
             reply->elements >= (call->shape == SHAPE_PAIR ? 2u : 3u) &&
             element_int (reply->element[0], &result.value) &&
             element_int (reply->element[1], &result.seq);
        if (ok && call->shape == SHAPE_TRIPLE) {
          ok = reply->element[2]->type == REDIS_REPLY_STRING;
          result.epoch = ok ? reply->element[2]->str : NULL;
        }
        break;
      case SHAPE_HISTORY:
      case SHAPE_SNAPSHOT:
      default:
        /* {seq, epoch, strings in groups: snapshot peer, info; history
         * seq, from, body} */
        group = call->shape == SHAPE_HISTORY ? 3 : 2;
        ok = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
             (reply->elements - 2) % group == 0 &&
             element_int (reply->element[0], &result.seq) &&
             reply->element[1]->type == REDIS_REPLY_STRING;
        if (!ok)
          break;
        result.epoch = reply->element[1]->str;
        members = g_new0 (const char *, reply->elements - 2 + 1);
        for (i = 2; ok && i < reply->elements; i++) {
          ok = reply->element[i]->type == REDIS_REPLY_STRING;
          members[i - 2] = reply->element[i]->str;
        }
        if (call->shape == SHAPE_HISTORY) {
          result.n_entries = (reply->elements - 2) / 3;
          result.entries = members;
        } else {
          result.n_members = (reply->elements - 2) / 2;
          result.members = members;
          result.value = result.n_members;
        }
        break;
    }
    if (!ok)
      local = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "unexpected reply shape from a cluster script");
  }
  if (call->callback)
    call->callback (ok ? &result : NULL, ok ? NULL : (local ? local : error),
        call->user_data);
  g_free (call);
}

static Call *
call_new (Shape shape, MeteredClusterResultFunc callback, gpointer user_data)
{
  Call *call = g_new0 (Call, 1);

  call->shape = shape;
  call->callback = callback;
  call->user_data = user_data;
  return call;
}

static gboolean
run (MeteredRedis *redis, MeteredClusterScript script, const char *prefix,
    int argc, const char *const *argv, const gsize *argvlen, Shape shape,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  Call *call = call_new (shape, callback, user_data);

  if (!metered_cluster_eval (
          redis, script, prefix, argc, argv, argvlen, on_reply, call, error)) {
    g_free (call);
    return FALSE;
  }
  return TRUE;
}

gboolean
metered_cluster_claim (MeteredRedis *redis, const char *prefix,
    const char *peer, const char *node, const char *inc, const char *conn,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  const char *argv[] = { peer, node, inc, conn };

  return run (redis, METERED_CLUSTER_SCRIPT_CLAIM, prefix, 4, argv, NULL,
      SHAPE_INT, callback, user_data, error);
}

gboolean
metered_cluster_join (MeteredRedis *redis, const char *prefix,
    const char *channel, const char *peer, gint64 gen, const char *info,
    const char *new_epoch, MeteredClusterResultFunc callback,
    gpointer user_data, GError **error)
{
  g_autofree char *g = g_strdup_printf ("%" G_GINT64_FORMAT, gen);
  const char *argv[] = { channel, peer, g, info ? info : "{}", new_epoch };

  return run (redis, METERED_CLUSTER_SCRIPT_JOIN, prefix, 5, argv, NULL,
      SHAPE_TRIPLE, callback, user_data, error);
}

gboolean
metered_cluster_leave (MeteredRedis *redis, const char *prefix,
    const char *channel, const char *peer, gint64 gen,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  g_autofree char *g = g_strdup_printf ("%" G_GINT64_FORMAT, gen);
  const char *argv[] = { channel, peer, g };

  return run (redis, METERED_CLUSTER_SCRIPT_LEAVE, prefix, 3, argv, NULL,
      SHAPE_PAIR, callback, user_data, error);
}

gboolean
metered_cluster_release (MeteredRedis *redis, const char *prefix,
    const char *peer, gint64 gen, const char *node, const char *inc,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  g_autofree char *g = g_strdup_printf ("%" G_GINT64_FORMAT, gen);
  const char *argv[] = { peer, g, node, inc };

  return run (redis, METERED_CLUSTER_SCRIPT_RELEASE, prefix, 4, argv, NULL,
      SHAPE_INT, callback, user_data, error);
}

gboolean
metered_cluster_snapshot (MeteredRedis *redis, const char *prefix,
    const char *channel, MeteredClusterResultFunc callback, gpointer user_data,
    GError **error)
{
  const char *argv[] = { channel };

  return run (redis, METERED_CLUSTER_SCRIPT_SNAPSHOT, prefix, 1, argv, NULL,
      SHAPE_SNAPSHOT, callback, user_data, error);
}

/* extra: up to 4 more arguments after the common 7 (publish's history
 * limits and new epoch). */
static gboolean
route (MeteredRedis *redis, MeteredClusterScript script, const char *prefix,
    const char *node, const char *inc, const char *target, const char *from,
    const char *scope, const char *request_id, const char *payload, gsize len,
    const char *const *extra, int n_extra, MeteredClusterResultFunc callback,
    gpointer user_data, GError **error)
{
  g_autofree char *key = NULL;
  g_autofree char *ttl =
      g_strdup_printf ("%u", (guint) METERED_CLUSTER_DEDUPE_TTL_MS);
  const char *argv[11];
  gsize lens[11];
  int i;

  g_return_val_if_fail (n_extra >= 0 && n_extra <= 4, FALSE);
  g_return_val_if_fail (!request_id || scope, FALSE);
  g_return_val_if_fail (!node == !inc, FALSE);

  if (request_id)
    key = metered_cluster_dedupe_key (prefix, scope, request_id);
  argv[0] = target;
  argv[1] = from;
  argv[2] = key ? key : "";
  argv[3] = ttl;
  argv[4] = payload;
  argv[5] = node ? node : "";
  argv[6] = inc ? inc : "";
  for (i = 0; i < n_extra; i++)
    argv[7 + i] = extra[i];
  for (i = 0; i < 7 + n_extra; i++)
    lens[i] = strlen (argv[i]);
  lens[4] = len;
  return run (redis, script, prefix, 7 + n_extra, argv, lens, SHAPE_INT,
      callback, user_data, error);
}

gboolean
metered_cluster_publish (MeteredRedis *redis, const char *prefix,
    const char *node, const char *inc, const char *channel, const char *from,
    const char *scope, const char *request_id, const char *payload, gsize len,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  const MeteredHistoryLimits none = { 0, 0 };
  g_autofree char *epoch = metered_cluster_epoch_new ();

  return metered_cluster_publish_numbered (redis, prefix, node, inc, channel,
      from, scope, request_id, payload, len, &none, epoch, callback, user_data,
      error);
}

char *
metered_cluster_epoch_new (void)
{
  return g_strdup_printf ("%08x%08x", g_random_int (),
      (guint) (g_get_real_time () / G_USEC_PER_SEC));
}

gboolean
metered_cluster_publish_numbered (MeteredRedis *redis, const char *prefix,
    const char *node, const char *inc, const char *channel, const char *from,
    const char *scope, const char *request_id, const char *payload, gsize len,
    const MeteredHistoryLimits *limits, const char *new_epoch,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  g_autofree char *maxn = g_strdup_printf ("%u", limits->max_messages);
  g_autofree char *age =
      g_strdup_printf ("%" G_GINT64_FORMAT, MAX (limits->max_age_ms, 0));
  const char *run = metered_redis_get_run_id (redis);
  const char *extra[] = { maxn, age, new_epoch, run ? run : "" };

  return route (redis, METERED_CLUSTER_SCRIPT_PUBLISH, prefix, node, inc,
      channel, from, scope, request_id, payload, len, extra, 4, callback,
      user_data, error);
}

gboolean
metered_cluster_history_read (MeteredRedis *redis, const char *prefix,
    const char *channel, const char *epoch, guint64 after, gint64 max_age_ms,
    guint count, const char *new_epoch, MeteredClusterResultFunc callback,
    gpointer user_data, GError **error)
{
  g_autofree char *a = g_strdup_printf ("%" G_GUINT64_FORMAT, after);
  g_autofree char *age =
      g_strdup_printf ("%" G_GINT64_FORMAT, MAX (max_age_ms, 0));
  g_autofree char *n = g_strdup_printf ("%u", count);
  const char *run_id = metered_redis_get_run_id (redis);
  const char *argv[] = { channel, epoch ? epoch : "", a, age, n, new_epoch,
    run_id ? run_id : "" };

  return run (redis, METERED_CLUSTER_SCRIPT_HISTORY, prefix, 7, argv, NULL,
      SHAPE_HISTORY, callback, user_data, error);
}

gboolean
metered_cluster_send (MeteredRedis *redis, const char *prefix, const char *node,
    const char *inc, const char *to, const char *from, const char *scope,
    const char *request_id, const char *payload, gsize len,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  return route (redis, METERED_CLUSTER_SCRIPT_SEND, prefix, node, inc, to, from,
      scope, request_id, payload, len, NULL, 0, callback, user_data, error);
}

gboolean
metered_cluster_dedupe (MeteredRedis *redis, const char *prefix,
    const char *scope, const char *request_id, guint ttl_ms,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error)
{
  g_autofree char *key = metered_cluster_dedupe_key (prefix, scope, request_id);
  g_autofree char *ttl = g_strdup_printf ("%u", ttl_ms);
  const char *argv[] = { "SET", key, "1", "NX", "PX", ttl };
  Call *call = call_new (SHAPE_SET_NX, callback, user_data);

  if (!metered_redis_command_argv (
          redis, 6, argv, NULL, on_reply, call, error)) {
    g_free (call);
    return FALSE;
  }
  return TRUE;
}
