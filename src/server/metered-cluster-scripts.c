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

#include "metered-cluster-scripts.h"

#include <gio/gio.h>
#include <string.h>

/* Key layout (P = prefix, "ms:" by default); docs/metered-server.md has
 * the same table:
 *   P nodes                 ZSET node -> lease expiry (Redis ms)
 *   P node:<node>           HASH inc, info
 *   P node:<node>:<inc>:peers  SET "<gen>:<peer>" claimed by that life
 *   P dead                  ZSET "<node>/<inc>" -> reap not before (ms)
 *   P reaper                STRING lock holder, PX
 *   P gen                   counter of peer claims
 *   P peer:<peer>           HASH node, inc, gen, conn
 *   P peer:<peer>:chans     HASH channel -> gen of the join
 *   P ch:<ch>:m             HASH peer -> presence info (raw JSON)
 *   P ch:<ch>:meta          HASH seq, epoch
 *   P rq:<scope>:<reqId>    STRING, PX 300000 (dedupe)
 *   P h:<ch>                STREAM id "<seq>-0": t (Redis ms), f, b;
 *                           MAXLEN maxMessages, PX maxAge
 *   P h:<ch>:meta           HASH seq, epoch; PX maxAge + 1 day
 *   pub/sub P c:<ch>        presence events and publishes, in one order
 *   pub/sub P p:<peer>      direct sends and supersede kicks
 * An event is a JSON header line, "\n", then the body (presence info or
 * the publish payload, untouched). */

#define PRELUDE                                                                \
  "local P = ARGV[1]\n"                                                        \
  "local function now_ms()\n"                                                  \
  "  local t = redis.call('TIME')\n"                                           \
  "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"       \
  "end\n"                                                                      \
  "local function ev(ch, hdr, body)\n"                                         \
  "  return redis.call('PUBLISH', P .. 'c:' .. ch,\n"                          \
  "      cjson.encode(hdr) .. '\\n' .. (body or ''))\n"                        \
  "end\n"                                                                      \
  "local function leave(ch, peer)\n"                                           \
  "  local meta = P .. 'ch:' .. ch .. ':meta'\n"                               \
  "  redis.call('HDEL', P .. 'peer:' .. peer .. ':chans', ch)\n"               \
  "  if redis.call('HDEL', P .. 'ch:' .. ch .. ':m', peer) == 0 then\n"        \
  "    return false\n"                                                         \
  "  end\n"                                                                    \
  "  local seq = redis.call('HINCRBY', meta, 'seq', 1)\n"                      \
  "  local epoch = redis.call('HGET', meta, 'epoch')\n"                        \
  "  ev(ch, {t = 'left', ch = ch, peer = peer, seq = seq, epoch = epoch})\n"   \
  "  return seq\n"                                                             \
  "end\n" /* Leaves every channel joined under claim gen; drops the claim when \
           * it is still that one. Joins of a newer claim (the peer re-homed)  \
           * carry another gen and stay. */                                    \
  "local function release(peer, gen)\n"                                        \
  "  local pk = P .. 'peer:' .. peer\n"                                        \
  "  local n = 0\n"                                                            \
  "  local chans = redis.call('HGETALL', pk .. ':chans')\n"                    \
  "  for i = 1, #chans, 2 do\n"                                                \
  "    if chans[i + 1] == gen and leave(chans[i], peer) then n = n + 1 end\n"  \
  "  end\n"                                                                    \
  "  if redis.call('HGET', pk, 'gen') == gen then\n"                           \
  "    redis.call('DEL', pk)\n"                                                \
  "  end\n"                                                                    \
  "  return n\n"                                                               \
  "end\n" /* The fencing token of publish and send: a command of a life        \
           * that is not the node's current one, or whose lease expired,       \
           * comes from a node the others may have reaped (it sat in a cut     \
           * link or a stopped process): refused. No node: not checked. */     \
  "local function live(node, inc)\n"                                           \
  "  if node == '' then return true end\n"                                     \
  "  if redis.call('HGET', P .. 'node:' .. node, 'inc') ~= inc then\n"         \
  "    return false\n"                                                         \
  "  end\n"                                                                    \
  "  local s = redis.call('ZSCORE', P .. 'nodes', node)\n"                     \
  "  return s ~= false and tonumber(s) >= now_ms()\n"                          \
  "end\n"

/* Channel history (docs/metered-server.md, "Cluster"): the publish
 * script numbers the message and stores it in the same step as its
 * fan-out event, so a replay read on any node has what every receiver
 * got, in that order, with those numbers. The numbering belongs to one
 * Redis process (its run_id, passed by the node from the link it sends
 * on): no meta (first use, expired, a restart without persistence) or a
 * meta of another run (a restart from a snapshot that may predate
 * numbers already given) starts a new epoch and drops the old stream,
 * so a resuming client is told, never handed reused numbers. Reads trim
 * by age (h_trim, bounded per call: what is left is skipped by the
 * read); a publish trims by count only (MAXLEN) and a quiet stream
 * expires whole (PX maxAge), which keeps it to one stream command. */
#define HISTORY                                                                \
  "local DAY_MS = 86400000\n"                                                  \
  "local function h_meta(ch, new_epoch, age, run)\n"                           \
  "  local hk = P .. 'h:' .. ch\n"                                             \
  "  local meta = hk .. ':meta'\n"                                             \
  "  local m = redis.call('HMGET', meta, 'run', 'epoch')\n"                    \
  "  if m[1] ~= run then\n"                                                    \
  "    redis.call('DEL', hk)\n"                                                \
  "    redis.call('HSET', meta, 'epoch', new_epoch, 'seq', 0, 'run', run)\n"   \
  "    m[2] = new_epoch\n"                                                     \
  "  end\n"                                                                    \
  "  redis.call('PEXPIRE', meta, math.max(age, 0) + DAY_MS)\n"                 \
  "  return hk, meta, m[2]\n"                                                  \
  "end\n"                                                                      \
  "local function h_trim(hk, cutoff)\n"                                        \
  "  local old\n"                                                              \
  "  for _, e in ipairs(redis.call('XRANGE', hk, '-', '+', 'COUNT', 8)) do\n"  \
  "    if tonumber(e[2][2]) > cutoff then break end\n"                         \
  "    old = tonumber(string.match(e[1], '^%d+'))\n"                           \
  "  end\n"                                                                    \
  "  if old then redis.call('XTRIM', hk, 'MINID', (old + 1) .. '-0') end\n"    \
  "end\n"

static const char *const sources[METERED_CLUSTER_SCRIPT_N] = {
  [METERED_CLUSTER_SCRIPT_REGISTER] = PRELUDE
  "local node, inc, exp = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
  "local now = now_ms()\n"
  "local nk = P .. 'node:' .. node\n"
  "local old = redis.call('HGET', nk, 'inc')\n"
  /* A previous life of this node id: reaped once a lease has passed, so
   * that the peers this life claims again in the meantime are skipped. */
  "if old and old ~= inc then\n"
  "  redis.call('ZADD', P .. 'dead', now + exp, node .. '/' .. old)\n"
  "end\n"
  "redis.call('HSET', nk, 'inc', inc, 'info', ARGV[5])\n"
  "redis.call('ZADD', P .. 'nodes', now + exp, node)\n"
  "return {now, now + exp}\n",

  [METERED_CLUSTER_SCRIPT_RENEW] =
      PRELUDE "local node, inc, exp = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
              "local now = now_ms()\n"
              "if redis.call('HGET', P .. 'node:' .. node, 'inc') ~= inc then\n"
              "  return {'lost', now}\n"
              "end\n"
              "local s = redis.call('ZSCORE', P .. 'nodes', node)\n"
              "if not s then return {'lost', now} end\n"
              /* Expired but not reaped yet: the reaper may run any moment; do
               * not extend, the node fences and registers a new life. */
              "if tonumber(s) < now then return {'expired', now} end\n"
              "redis.call('ZADD', P .. 'nodes', now + exp, node)\n"
              "return {'ok', now + exp}\n",

  [METERED_CLUSTER_SCRIPT_DEREGISTER] =
      PRELUDE "local node, inc = ARGV[2], ARGV[3]\n"
              "local nk = P .. 'node:' .. node\n"
              "if redis.call('HGET', nk, 'inc') == inc then\n"
              "  redis.call('ZREM', P .. 'nodes', node)\n"
              "  redis.call('DEL', nk)\n"
              "end\n"
              "redis.call('ZADD', P .. 'dead', 0, node .. '/' .. inc)\n"
              "return 1\n",

  [METERED_CLUSTER_SCRIPT_REAP] = PRELUDE
  "local me, lock, budget = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
  "if not redis.call('SET', P .. 'reaper', me, 'NX', 'PX', lock) then\n"
  "  return {-1}\n"
  "end\n"
  "local now = now_ms()\n"
  "local expired = redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf',\n"
  "    '(' .. now)\n"
  "for _, n in ipairs(expired) do\n"
  "  local nk = P .. 'node:' .. n\n"
  "  local inc = redis.call('HGET', nk, 'inc')\n"
  "  redis.call('ZREM', P .. 'nodes', n)\n"
  "  redis.call('DEL', nk)\n"
  "  if inc then redis.call('ZADD', P .. 'dead', now, n .. '/' .. inc) end\n"
  "end\n"
  "local reaped, skipped = 0, 0\n"
  "local dead = redis.call('ZRANGEBYSCORE', P .. 'dead', '-inf', now,\n"
  "    'LIMIT', 0, 16)\n"
  "for _, d in ipairs(dead) do\n"
  "  if budget <= 0 then break end\n"
  "  local slash = string.find(d, '/[^/]*$')\n"
  "  local set = P .. 'node:' .. string.sub(d, 1, slash - 1) .. ':' ..\n"
  "      string.sub(d, slash + 1) .. ':peers'\n"
  "  local members = redis.call('SPOP', set, budget)\n"
  "  for _, m in ipairs(members) do\n"
  "    local colon = string.find(m, ':', 1, true)\n"
  "    local peer, gen = string.sub(m, colon + 1), string.sub(m, 1, colon - "
  "1)\n"
  "    local cur = redis.call('HGET', P .. 'peer:' .. peer, 'gen')\n"
  "    release(peer, gen)\n"
  "    if cur == gen then\n"
  "      reaped = reaped + 1\n"
  "    else\n"
  "      skipped = skipped + 1\n"
  "    end\n"
  "    budget = budget - 1\n"
  "  end\n"
  "  if redis.call('SCARD', set) == 0 then\n"
  "    redis.call('ZREM', P .. 'dead', d)\n"
  "  end\n"
  "end\n"
  "local more = redis.call('ZCOUNT', P .. 'dead', '-inf', now)\n"
  "return {#expired, reaped, skipped, more}\n",

  [METERED_CLUSTER_SCRIPT_CLAIM] = PRELUDE
  "local peer, node, inc, conn = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
  /* The fencing token as for publish: a claim that sat in a cut link
   * and arrives after the heal must not supersede the live connection
   * the peer has made elsewhere meanwhile. */
  "if not live(node, inc) then return -2 end\n"
  "local pk = P .. 'peer:' .. peer\n"
  "local gen = redis.call('INCR', P .. 'gen')\n"
  "local had = redis.call('EXISTS', pk)\n"
  "redis.call('HSET', pk, 'node', node, 'inc', inc, 'gen', gen,\n"
  "    'conn', conn)\n"
  "redis.call('SADD', P .. 'node:' .. node .. ':' .. inc .. ':peers',\n"
  "    gen .. ':' .. peer)\n"
  /* The node holding an older connection of this peer closes it. */
  "if had == 1 then\n"
  "  redis.call('PUBLISH', P .. 'p:' .. peer, cjson.encode({t = 'kick',\n"
  "      peer = peer, gen = gen, node = node, conn = conn}) .. '\\n')\n"
  "end\n"
  "return gen\n",

  [METERED_CLUSTER_SCRIPT_JOIN] = PRELUDE
  "local ch, peer, gen, info = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
  "local pk = P .. 'peer:' .. peer\n"
  "local meta = P .. 'ch:' .. ch .. ':meta'\n"
  "if redis.call('HGET', pk, 'gen') ~= gen then return {-1, 0, ''} end\n"
  "redis.call('HSETNX', meta, 'epoch', ARGV[6])\n"
  "local epoch = redis.call('HGET', meta, 'epoch')\n"
  "local m = P .. 'ch:' .. ch .. ':m'\n"
  "local present = redis.call('HEXISTS', m, peer)\n"
  "redis.call('HSET', m, peer, info)\n"
  "redis.call('HSET', pk .. ':chans', ch, gen)\n"
  /* Already a member (it re-homed from another node): no left/joined
   * pair, the membership just moves to the new claim. */
  "if present == 1 then\n"
  "  return {0, tonumber(redis.call('HGET', meta, 'seq') or '0'), epoch}\n"
  "end\n"
  "local seq = redis.call('HINCRBY', meta, 'seq', 1)\n"
  "ev(ch, {t = 'joined', ch = ch, peer = peer, seq = seq, epoch = epoch},\n"
  "    info)\n"
  "return {1, seq, epoch}\n",

  [METERED_CLUSTER_SCRIPT_LEAVE] = PRELUDE
  "local ch, peer, gen = ARGV[2], ARGV[3], ARGV[4]\n"
  "if redis.call('HGET', P .. 'peer:' .. peer .. ':chans', ch) ~= gen then\n"
  "  return {0, 0}\n"
  "end\n"
  "local seq = leave(ch, peer)\n"
  "if not seq then return {0, 0} end\n"
  "return {1, seq}\n",

  [METERED_CLUSTER_SCRIPT_RELEASE] = PRELUDE
  "local peer, gen, node, inc = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
  "redis.call('SREM', P .. 'node:' .. node .. ':' .. inc .. ':peers',\n"
  "    gen .. ':' .. peer)\n"
  "return release(peer, gen)\n",

  [METERED_CLUSTER_SCRIPT_SNAPSHOT] = PRELUDE
  "local ch = ARGV[2]\n"
  "local meta = redis.call('HMGET', P .. 'ch:' .. ch .. ':meta', 'seq',\n"
  "    'epoch')\n"
  "local out = {tonumber(meta[1] or '0'), meta[2] or ''}\n"
  "local m = redis.call('HGETALL', P .. 'ch:' .. ch .. ':m')\n"
  "for i = 1, #m do out[#out + 1] = m[i] end\n"
  "return out\n",

  [METERED_CLUSTER_SCRIPT_PUBLISH] = PRELUDE HISTORY
  "local ch, from, key, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
  "local maxn, age = tonumber(ARGV[9]), tonumber(ARGV[10])\n"
  "if not live(ARGV[7], ARGV[8]) then return -2 end\n"
  "if key ~= '' and not redis.call('SET', key, '1', 'NX', 'PX', ttl) then\n"
  "  return -1\n"
  "end\n"
  "local hk, meta, epoch = h_meta(ch, ARGV[11], age, ARGV[12])\n"
  "local seq = redis.call('HINCRBY', meta, 'seq', 1)\n"
  /* Limit 0: numbered, not kept (as on a single node). */
  "if maxn > 0 and age > 0 then\n"
  "  redis.call('XADD', hk, 'MAXLEN', maxn, seq .. '-0', 't', now_ms(),\n"
  "      'f', from, 'b', ARGV[6])\n"
  "  redis.call('PEXPIRE', hk, age)\n"
  "end\n"
  "return ev(ch, {t = 'msg', ch = ch, from = from, seq = seq,\n"
  "    epoch = epoch}, ARGV[6])\n",

  [METERED_CLUSTER_SCRIPT_SEND] = PRELUDE
  "local to, from, key, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
  "if not live(ARGV[7], ARGV[8]) then return -2 end\n"
  "if key ~= '' and not redis.call('SET', key, '1', 'NX', 'PX', ttl) then\n"
  "  return -1\n"
  "end\n"
  "local n = redis.call('PUBLISH', P .. 'p:' .. to,\n"
  "    cjson.encode({t = 'send', to = to, from = from}) .. '\\n' .. ARGV[6])\n"
  /* Nobody got it (peer_not_found): a resend later must not count as a
   * duplicate. */
  "if n == 0 and key ~= '' then redis.call('DEL', key) end\n"
  "return n\n",

  [METERED_CLUSTER_SCRIPT_HISTORY] = PRELUDE HISTORY
  "local ch, asked, after = ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
  "local age, count = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
  "local hk, meta = h_meta(ch, ARGV[7], age, ARGV[8])\n"
  "local m = redis.call('HMGET', meta, 'seq', 'epoch')\n"
  "local last = tonumber(m[1] or '0')\n"
  "local out = {last, m[2]}\n"
  "if asked ~= m[2] or after >= last or count <= 0 or age <= 0 then\n"
  "  return out\n"
  "end\n"
  "local cutoff = now_ms() - age\n"
  "h_trim(hk, cutoff)\n"
  "for _, e in ipairs(redis.call('XRANGE', hk, (after + 1) .. '-0', '+',\n"
  "    'COUNT', count)) do\n"
  "  if tonumber(e[2][2]) > cutoff then\n"
  "    out[#out + 1] = string.match(e[1], '^%d+')\n"
  "    out[#out + 1] = e[2][4]\n"
  "    out[#out + 1] = e[2][6]\n"
  "  end\n"
  "end\n"
  "return out\n",
};

static char *shas[METERED_CLUSTER_SCRIPT_N];

const char *
metered_cluster_script_source (MeteredClusterScript script)
{
  g_return_val_if_fail (script < METERED_CLUSTER_SCRIPT_N, NULL);
  return sources[script];
}

const char *
metered_cluster_script_sha (MeteredClusterScript script)
{
  g_return_val_if_fail (script < METERED_CLUSTER_SCRIPT_N, NULL);

  /* Main-context code only (like every caller of this file), so no once
   * guard is needed; the strings live for the process. */
  if (!shas[script])
    shas[script] =
        g_compute_checksum_for_string (G_CHECKSUM_SHA1, sources[script], -1);
  return shas[script];
}

typedef struct
{
  MeteredClusterScript script;
  GPtrArray *args; /* owned copies: {prefix, args...} */
  GArray *lens;
  MeteredRedisReplyFunc callback;
  gpointer user_data;
  gboolean retried;
} EvalCall;

static void
eval_call_free (EvalCall *call)
{
  g_ptr_array_unref (call->args);
  g_array_unref (call->lens);
  g_free (call);
}

static gboolean eval_send (
    MeteredRedis *redis, EvalCall *call, gboolean by_sha, GError **error);

static void
on_eval (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  EvalCall *call = user_data;
  g_autoptr (GError) resend_error = NULL;

  if (reply && reply->type == REDIS_REPLY_ERROR && !call->retried &&
      g_str_has_prefix (reply->str, "NOSCRIPT")) {
    call->retried = TRUE;
    if (eval_send (redis, call, FALSE, &resend_error))
      return;
    if (call->callback)
      call->callback (redis, NULL, resend_error, call->user_data);
    eval_call_free (call);
    return;
  }
  if (call->callback)
    call->callback (redis, reply, error, call->user_data);
  eval_call_free (call);
}

static gboolean
eval_send (MeteredRedis *redis, EvalCall *call, gboolean by_sha, GError **error)
{
  guint n = call->args->len;
  g_autofree const char **argv = g_new (const char *, n + 3);
  g_autofree gsize *lens = g_new (gsize, n + 3);
  guint i;

  argv[0] = by_sha ? "EVALSHA" : "EVAL";
  argv[1] = by_sha ? metered_cluster_script_sha (call->script)
                   : metered_cluster_script_source (call->script);
  argv[2] = "0";
  lens[0] = strlen (argv[0]);
  lens[1] = strlen (argv[1]);
  lens[2] = 1;
  for (i = 0; i < n; i++) {
    argv[i + 3] = call->args->pdata[i];
    lens[i + 3] = g_array_index (call->lens, gsize, i);
  }
  return metered_redis_command_argv (
      redis, (int) n + 3, argv, lens, on_eval, call, error);
}

gboolean
metered_cluster_eval (MeteredRedis *redis, MeteredClusterScript script,
    const char *prefix, int argc, const char *const *argv, const gsize *argvlen,
    MeteredRedisReplyFunc callback, gpointer user_data, GError **error)
{
  EvalCall *call;
  gsize len;
  int i;

  g_return_val_if_fail (script < METERED_CLUSTER_SCRIPT_N, FALSE);
  g_return_val_if_fail (prefix != NULL && argc >= 0, FALSE);

  call = g_new0 (EvalCall, 1);
  call->script = script;
  call->callback = callback;
  call->user_data = user_data;
  call->args = g_ptr_array_new_with_free_func (g_free);
  call->lens = g_array_new (FALSE, FALSE, sizeof (gsize));
  len = strlen (prefix);
  g_ptr_array_add (call->args, g_strndup (prefix, len));
  g_array_append_val (call->lens, len);
  for (i = 0; i < argc; i++) {
    len = argvlen ? argvlen[i] : strlen (argv[i]);
    char *copy = g_malloc (len + 1);

    memcpy (copy, argv[i], len);
    copy[len] = '\0';
    g_ptr_array_add (call->args, copy);
    g_array_append_val (call->lens, len);
  }
  if (!eval_send (redis, call, TRUE, error)) {
    eval_call_free (call);
    return FALSE;
  }
  return TRUE;
}

void
metered_cluster_scripts_load (MeteredRedis *redis)
{
  for (guint i = 0; i < METERED_CLUSTER_SCRIPT_N; i++) {
    const char *argv[] = { "SCRIPT", "LOAD", sources[i] };

    metered_redis_command_argv (redis, 3, argv, NULL, NULL, NULL, NULL);
  }
}
