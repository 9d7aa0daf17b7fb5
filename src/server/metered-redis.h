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

#include <glib.h>
#include <hiredis/hiredis.h>

#include "protocol/metered-backoff.h"

G_BEGIN_DECLS

/*
 * A Redis link for the cluster mode, on the GMainContext that is the
 * thread-default when metered_redis_new() is called; every callback runs
 * there, no thread is started.
 *
 * hiredis 0.14.1 gives an async context per TCP connection and nothing
 * else: no reconnect, no timeouts, and PING on a subscribed context is
 * dropped. This file adds them:
 *  - two connections, one for commands and one for SUBSCRIBE, handled as
 *    one unit: when either fails both are dropped and reconnected after a
 *    jittered exponential backoff (metered-backoff);
 *  - a connect timeout that covers the handshake (AUTH, CLIENT SETNAME,
 *    INFO server, the SUBSCRIBE confirmations);
 *  - a command timeout: replies come in order, so an unanswered oldest
 *    command means the connection is wedged and both are dropped;
 *  - liveness when idle: PING on the command connection, and a probe
 *    PUBLISHed to a private channel that the subscriber connection must
 *    receive (the subscriber cannot PING);
 *  - Redis restart detection by INFO server run_id, then every wanted
 *    channel is subscribed again and the resync callback tells the owner
 *    to register again what it holds.
 * The password of the URL is sent with AUTH and never logged.
 */

typedef struct _MeteredRedis MeteredRedis;

typedef enum
{
  METERED_REDIS_DOWN, /* waiting for the next connect attempt */
  METERED_REDIS_CONNECTING, /* handshake in progress */
  METERED_REDIS_UP, /* commands accepted */
} MeteredRedisState;

typedef enum
{
  /* The first time UP. */
  METERED_REDIS_RESYNC_FIRST,
  /* UP again on the same Redis process (same run_id): its data is there,
   * but what was published while down is lost. */
  METERED_REDIS_RESYNC_RECONNECTED,
  /* UP on a restarted Redis (new run_id): its data is gone or is an old
   * snapshot; the owner registers everything it holds again. */
  METERED_REDIS_RESYNC_RESTARTED,
} MeteredRedisResync;

typedef struct
{
  char *host;
  int port;
  char *password; /* NULL: no AUTH */
  guint connect_timeout_ms;
  guint command_timeout_ms;
  /* When nothing was received for this long, a probe is sent. */
  guint probe_interval_ms;
  MeteredBackoffConfig backoff;
  /* CLIENT SETNAME, also the probe channel's suffix; may be NULL. */
  char *client_name;
} MeteredRedisConfig;

/* Fills defaults: 127.0.0.1:6379, connect 1000 ms, command 2000 ms, probe
 * 1000 ms, backoff 100 ms x2 up to 1000 ms with 50 % jitter, infinite. */
void metered_redis_config_init (MeteredRedisConfig *config);
void metered_redis_config_clear (MeteredRedisConfig *config);
/* redis://[[user]:password@]host[:port][/db]; db must be 0 or absent (the
 * cluster keys live in db 0). A clear error on anything else. */
gboolean metered_redis_config_parse_url (
    MeteredRedisConfig *config, const char *url, GError **error);

typedef struct
{
  /* Every state change. */
  void (*state_changed) (
      MeteredRedis *redis, MeteredRedisState state, gpointer user_data);
  /* Entering UP, after every wanted channel is subscribed again. */
  void (*resync) (
      MeteredRedis *redis, MeteredRedisResync why, gpointer user_data);
  /* A SUBSCRIBE of channel was confirmed: from now on its messages
   * arrive (an owner reads a snapshot only after this). */
  void (*subscribed) (
      MeteredRedis *redis, const char *channel, gpointer user_data);
  /* A message on a wanted channel; data is not NUL-terminated. */
  void (*message) (MeteredRedis *redis, const char *channel, const char *data,
      gsize len, gpointer user_data);
} MeteredRedisCallbacks;

/* error is NULL on a reply (which may be a Redis error reply, type
 * REDIS_REPLY_ERROR); reply is NULL on error (timeout, connection lost).
 * reply belongs to hiredis and is only valid during the call. */
typedef void (*MeteredRedisReplyFunc) (MeteredRedis *redis,
    const redisReply *reply, const GError *error, gpointer user_data);

/* Starts connecting at once. Copies config and callbacks. */
MeteredRedis *metered_redis_new (const MeteredRedisConfig *config,
    const MeteredRedisCallbacks *callbacks, gpointer user_data);
/* Closes both connections. The reply callback of every command still
 * pending is called from inside it with G_IO_ERROR_CANCELLED (so its
 * user_data can be released; a new command is refused there); no other
 * callback is called from or after it. Not from inside a callback. */
void metered_redis_free (MeteredRedis *redis);

MeteredRedisState metered_redis_get_state (MeteredRedis *redis);
/* The run_id of the Redis process last connected to, or NULL. */
const char *metered_redis_get_run_id (MeteredRedis *redis);
/* Drops both connections now and reconnects as after a failure (tests,
 * and an owner that saw a reply it cannot trust). */
void metered_redis_reset (MeteredRedis *redis, const char *why);

typedef struct
{
  guint64 connects; /* times UP was entered */
  guint64 failures; /* times a connection was dropped */
  guint64 restarts_seen; /* new run_id detected */
  guint64 command_timeouts;
  guint64 probe_timeouts;
  gint64 last_rtt_us; /* of the last liveness PING, -1 if none yet */
  guint pending; /* commands waiting for a reply */
} MeteredRedisStats;

void metered_redis_get_stats (MeteredRedis *redis, MeteredRedisStats *stats);

/* Queues one command. FALSE with error when not UP (the callback is then
 * never called); else TRUE and callback (may be NULL) is called exactly
 * once (at the latest from metered_redis_free). argvlen NULL: strlen. */
gboolean metered_redis_command_argv (MeteredRedis *redis, int argc,
    const char *const *argv, const gsize *argvlen,
    MeteredRedisReplyFunc callback, gpointer user_data, GError **error);

/* Wanted channels are counted: subscribe twice, unsubscribe twice. They
 * are kept across reconnects and subscribed again on each. */
void metered_redis_subscribe (MeteredRedis *redis, const char *channel);
void metered_redis_unsubscribe (MeteredRedis *redis, const char *channel);
/* TRUE once Redis answered the channel's latest SUBSCRIBE on the live
 * subscriber link: from then on every PUBLISH to it reaches us. Wanted
 * alone is not enough: a message published before the answer is lost. */
gboolean metered_redis_is_subscribed (MeteredRedis *redis, const char *channel);

G_END_DECLS
