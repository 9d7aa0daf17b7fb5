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

#include "metered-redis.h"

G_BEGIN_DECLS

/*
 * The cluster's Lua scripts. Every multi-key change and the event that
 * announces it happen in one script, so Redis (single-threaded) gives one
 * order to every node. Times come from Redis's own clock (TIME), so the
 * nodes' clocks do not need to agree.
 *
 * Every script takes the key prefix as ARGV[1]; the keys are built inside
 * (one Redis instance, not Redis Cluster: see docs/metered-server.md).
 */

typedef enum
{
  /* node, inc, expiry_ms, info -> {now_ms, expires_ms} */
  METERED_CLUSTER_SCRIPT_REGISTER,
  /* node, inc, expiry_ms -> {"ok"|"lost"|"expired", ms} */
  METERED_CLUSTER_SCRIPT_RENEW,
  /* node, inc -> 1 */
  METERED_CLUSTER_SCRIPT_DEREGISTER,
  /* me, lock_ms, budget -> {expired_nodes, reaped, skipped, more} or {-1} */
  METERED_CLUSTER_SCRIPT_REAP,
  /* peer, node, inc, conn -> gen */
  METERED_CLUSTER_SCRIPT_CLAIM,
  /* channel, peer, gen, info, new_epoch -> {1 joined|0 present|-1 stale,
   * seq, epoch} */
  METERED_CLUSTER_SCRIPT_JOIN,
  /* channel, peer, gen -> {1 left|0 absent or newer claim, seq} */
  METERED_CLUSTER_SCRIPT_LEAVE,
  /* peer, gen, node, inc -> number of channels left */
  METERED_CLUSTER_SCRIPT_RELEASE,
  /* channel -> {seq, epoch, peer1, info1, ...} */
  METERED_CLUSTER_SCRIPT_SNAPSHOT,
  /* channel, from, dedupe_key|"", ttl_ms, payload, node, inc,
   * max_messages, max_age_ms, new_epoch, run_id -> receivers | -1 dup |
   * -2 fenced
   * (numbers the message and keeps it in the channel's stream) */
  METERED_CLUSTER_SCRIPT_PUBLISH,
  /* to, from, dedupe_key|"", ttl_ms, payload -> receivers | -1 dup */
  METERED_CLUSTER_SCRIPT_SEND,
  /* channel, epoch|"", after, max_age_ms, count, new_epoch, run_id ->
   * {last_seq, epoch, seq1, from1, body1, ...} (entries only when epoch
   * is the channel's) */
  METERED_CLUSTER_SCRIPT_HISTORY,
  METERED_CLUSTER_SCRIPT_N
} MeteredClusterScript;

const char *metered_cluster_script_source (MeteredClusterScript script);
/* Lower-case hex SHA1 of the source, as EVALSHA wants it. */
const char *metered_cluster_script_sha (MeteredClusterScript script);

/* EVALSHA with no keys and ARGV = {prefix, args...}; a NOSCRIPT reply
 * (Redis restarted, or SCRIPT FLUSH) is retried once as EVAL, so the
 * callback sees one answer. Same contract as metered_redis_command_argv. */
/* SCRIPT LOAD of every script; call first thing on each resync. A
 * NOSCRIPT retry (EVAL) can be overtaken by a later EVALSHA that found
 * the script loaded by the retry, which reorders two publishes of one
 * sender; loaded before anything else, EVALSHA never misses. */
void metered_cluster_scripts_load (MeteredRedis *redis);

gboolean metered_cluster_eval (MeteredRedis *redis, MeteredClusterScript script,
    const char *prefix, int argc, const char *const *argv, const gsize *argvlen,
    MeteredRedisReplyFunc callback, gpointer user_data, GError **error);

G_END_DECLS
