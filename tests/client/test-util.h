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

#include "metered.h"

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Shared helpers of the client tests: bounded waits that iterate the
 * default main context, a recorder of every client signal, async-call
 * results, and (integration) a metered-server subprocess. */

guint test_tick_start (void);
void test_tick_stop (guint id);

/* Iterates the default main context until expr holds or timeout_ms of
 * real time have passed; evaluates to the final truth of expr. A 10 ms
 * tick keeps the loop waking up, so conditions on plain fields work. */
#define test_wait_until(expr, timeout_ms)                                      \
  ({                                                                           \
    gint64 _deadline = g_get_monotonic_time () + 1000 * (gint64) (timeout_ms); \
    guint _tick = test_tick_start ();                                          \
    while (!(expr) && g_get_monotonic_time () < _deadline)                     \
      g_main_context_iteration (NULL, TRUE);                                   \
    test_tick_stop (_tick);                                                    \
    (expr) ? TRUE : FALSE;                                                     \
  })

/* Fails the test when expr does not hold within timeout_ms. */
#define test_assert_wait(expr, timeout_ms)                                     \
  G_STMT_START                                                                 \
  {                                                                            \
    if (!test_wait_until (expr, timeout_ms))                                   \
      g_assertion_message_expr (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC,   \
          "timed out (" #timeout_ms " ms) waiting for: " #expr);               \
  }                                                                            \
  G_STMT_END

/* Dispatches whatever is ready now, without blocking. */
void test_drain (void);

/* Milliseconds of real (monotonic) time. */
gint64 test_now_ms (void);

typedef struct
{
  int code;
  char *reason;
  gboolean will_reconnect;
  gint64 t_ms; /* real time */
  gint64 clock_ms; /* the client's clock */
} TestDisconnect;

typedef struct
{
  char *channel;
  char *from;
  char *data;
  gint64 t_ms;
} TestMessage;

/* Everything a client emitted, in order. */
typedef struct
{
  MeteredSignallingClient *client;
  MeteredClock *clock;
  GArray *states; /* MeteredClientState pairs: from0, to0, from1, to1, ... */
  GArray *state_t_ms; /* gint64: real time of each pair */
  GArray *disconnects; /* TestDisconnect */
  GPtrArray *messages; /* TestMessage* */
  GPtrArray *log; /* char*: "state connecting>connected", "disconnected 1001 1",
                     "going-away 1000", "connected 1", "exhausted 3", ... */
  guint n_connected;
  guint n_reconnected; /* connected with is_reconnect TRUE */
  gint64 t_connected_ms; /* real time of the latest ::connected */
  guint n_exhausted;
  guint exhausted_attempts;
  GArray *going_away; /* gint64 retryAfterMs */
  GArray *token_errors; /* guint consecutive failures */
  GArray *presence_t_ms; /* gint64: real time of each ::presence */
} TestRecorder;

TestRecorder *test_recorder_new (MeteredSignallingClient *client);
void test_recorder_free (TestRecorder *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestRecorder, test_recorder_free)
const TestDisconnect *test_recorder_last_disconnect (TestRecorder *rec);
/* Real time of the nth (0-based) transition into state to, or 0. */
gint64 test_recorder_state_time (
    TestRecorder *rec, MeteredClientState to, guint nth);
/* TRUE if the log holds these entries in this order (others between). */
gboolean test_recorder_log_has_sequence (
    TestRecorder *rec, ...) G_GNUC_NULL_TERMINATED;

/* The result of one async call. */
typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
  gint64 t_ms; /* real time of completion */
  guint *order_counter; /* when set, completion order is recorded */
  guint order;
} TestResult;

void test_result_clear (TestResult *r);
void test_on_connect (GObject *source, GAsyncResult *result, gpointer data);
void test_on_subscribe (GObject *source, GAsyncResult *result, gpointer data);
void test_on_publish (GObject *source, GAsyncResult *result, gpointer data);

/* connect_async + bounded wait. */
gboolean test_client_connect (
    MeteredSignallingClient *client, guint timeout_ms, GError **error);
gboolean test_client_subscribe (MeteredSignallingClient *client,
    const char *channel, guint timeout_ms, GError **error);
gboolean test_client_publish (MeteredSignallingClient *client,
    const char *channel, const char *data, guint timeout_ms, GError **error);

guint test_stats_uint (MeteredSignallingClient *client, const char *key);

/* VmRSS of this process in KiB (0 if unknown). */
gsize test_rss_kib (void);

/* --- metered-server as a subprocess (integration) --- */

typedef struct
{
  GSubprocess *proc;
  guint16 port;
  char *dir;
  char *port_file;
  gboolean exited;
  int status;
} TestServer;

/* The METERED_SERVER binary with --dev --port PORT --port-file F
 * --ip-connect-limit 0 [--keys FILE with keys_json], waiting (bounded)
 * until it listens. NULL and a test failure if it does not come up. */
TestServer *test_server_start (guint16 port, const char *keys_json);
void test_server_signal (TestServer *server, int signum);
/* Waits (bounded) for the process to exit. */
gboolean test_server_wait_exit (TestServer *server, guint timeout_ms);
/* SIGKILLs it if still running. */
void test_server_free (TestServer *server);
char *test_server_url (TestServer *server);

/* An admin API call with the dev admin token; returns the HTTP status and,
 * if body is not NULL, the response body. */
guint test_admin_call (guint16 port, const char *method, const char *path);
guint test_admin_call_full (
    guint16 port, const char *method, const char *path, char **body);
/* Connections the server lists at GET /v1/peers. */
guint test_admin_count_peers (guint16 port);

/* metered-server --mint-token --dev --sub SUB --ttl TTL (synchronous). */
char *test_mint_token (const char *sub, int ttl_s);
const char *test_server_binary (void);

G_END_DECLS
