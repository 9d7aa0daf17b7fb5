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

/* metered-cli: a channel from a terminal. Inbound frames are JSON lines
 * on stdout; state changes and disconnects go to stderr. */

#include "metered.h"

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  GMainLoop *loop;
  MeteredSignallingClient *client;
  char *command;
  char **args;
  int exit_code;
  guint outstanding; /* publish/send calls not answered yet */
  gboolean input_done; /* pipe: stdin reached EOF */
  GDataInputStream *input;
} Cli;

static void
out_line (GString *line)
{
  g_string_append_c (line, '\n');
  fwrite (line->str, 1, line->len, stdout);
  fflush (stdout);
}

static void
add_raw (GString *line, const char *key, const char *json)
{
  if (!json)
    return;
  g_string_append_printf (line, ",\"%s\":%s", key, json);
}

static void
add_string (GString *line, const char *key, const char *value)
{
  if (!value)
    return;
  g_string_append_printf (line, ",\"%s\":", key);
  metered_json_append_string (line, value, -1);
}

static void
on_message (MeteredSignallingClient *client, const char *channel,
    const char *from, const char *data, const char *from_metadata, Cli *cli)
{
  g_autoptr (GString) line = g_string_new ("{\"type\":\"message\"");

  add_string (line, "channel", channel);
  add_string (line, "from", from);
  add_raw (line, "data", data);
  add_raw (line, "fromMetadata", from_metadata);
  g_string_append_c (line, '}');
  out_line (line);
}

static void
on_direct (MeteredSignallingClient *client, const char *from, const char *data,
    const char *from_metadata, Cli *cli)
{
  g_autoptr (GString) line = g_string_new ("{\"type\":\"direct\"");

  add_string (line, "from", from);
  add_raw (line, "data", data);
  add_raw (line, "fromMetadata", from_metadata);
  g_string_append_c (line, '}');
  out_line (line);
}

static void
add_entries (GString *line, const char *key, GVariant *entries)
{
  GVariantIter iter;
  const char *peer_id, *metadata;
  gboolean first = TRUE;

  g_string_append_printf (line, ",\"%s\":[", key);
  g_variant_iter_init (&iter, entries);
  while (g_variant_iter_next (&iter, "(&sm&s)", &peer_id, &metadata)) {
    g_string_append (line, first ? "{\"peerId\":" : ",{\"peerId\":");
    metered_json_append_string (line, peer_id, -1);
    add_raw (line, "metadata", metadata);
    g_string_append_c (line, '}');
    first = FALSE;
  }
  g_string_append_c (line, ']');
}

static void
on_presence (MeteredSignallingClient *client, const char *channel,
    GVariant *joined, GVariant *left, Cli *cli)
{
  g_autoptr (GString) line = g_string_new ("{\"type\":\"presence\"");

  add_string (line, "channel", channel);
  add_entries (line, "joined", joined);
  add_entries (line, "left", left);
  g_string_append_c (line, '}');
  out_line (line);
}

static void
on_server_error (MeteredSignallingClient *client, const char *code,
    const char *request_id, const char *message, Cli *cli)
{
  g_autoptr (GString) line = g_string_new ("{\"type\":\"error\"");

  add_string (line, "code", code);
  add_string (line, "requestId", request_id);
  add_string (line, "message", message);
  g_string_append_c (line, '}');
  out_line (line);
}

static void
on_going_away (MeteredSignallingClient *client, gint64 retry_after_ms, Cli *cli)
{
  g_print ("{\"type\":\"going_away\",\"retryAfterMs\":%" G_GINT64_FORMAT "}\n",
      retry_after_ms);
  fflush (stdout);
}

/* Channel history (a metered-server extension): after a resubscribe,
 * whether what was published while away was replayed or lost. */
static void
on_resumed (
    MeteredSignallingClient *client, const char *channel, gint64 n, Cli *cli)
{
  g_autoptr (GString) line = g_string_new ("{\"type\":\"resumed\"");

  add_string (line, "channel", channel);
  g_string_append_printf (line, ",\"replayed\":%" G_GINT64_FORMAT "}", n);
  out_line (line);
}

static void
on_continuity_lost (
    MeteredSignallingClient *client, const char *channel, gint64 n, Cli *cli)
{
  g_autoptr (GString) line = g_string_new ("{\"type\":\"continuity_lost\"");

  add_string (line, "channel", channel);
  if (n < 0)
    g_string_append (line, ",\"missed\":null}");
  else
    g_string_append_printf (line, ",\"missed\":%" G_GINT64_FORMAT "}", n);
  out_line (line);
}

static void
on_state_changed (MeteredSignallingClient *client, MeteredClientState from,
    MeteredClientState to, Cli *cli)
{
  g_printerr ("state %s -> %s\n", metered_client_state_to_string (from),
      metered_client_state_to_string (to));
}

static void
on_connected (MeteredSignallingClient *client, const char *peer_id,
    double server_time, gint64 expires_at, gboolean is_reconnect,
    gint64 max_message_size, GVariant *ice_servers, Cli *cli)
{
  g_printerr ("connected peer-id=%s reconnect=%s expires-at=%" G_GINT64_FORMAT
              "\n",
      peer_id, is_reconnect ? "yes" : "no", expires_at);
}

static void
on_disconnected (MeteredSignallingClient *client, int code, const char *reason,
    gboolean will_reconnect, Cli *cli)
{
  g_printerr ("disconnected code=%d (%s) reason=\"%s\" will-reconnect=%s\n",
      code, metered_close_code_name (code), reason,
      will_reconnect ? "yes" : "no");
  if (!will_reconnect &&
      metered_close_code_policy (code) == METERED_RETRY_TERMINAL) {
    g_printerr ("metered-cli: terminal close %d (%s): not retrying\n", code,
        metered_close_code_name (code));
    cli->exit_code = 3;
    g_main_loop_quit (cli->loop);
  }
}

static void
on_exhausted (MeteredSignallingClient *client, guint attempts, Cli *cli)
{
  g_printerr ("metered-cli: gave up after %u reconnect attempts\n", attempts);
  cli->exit_code = 4;
  g_main_loop_quit (cli->loop);
}

static void
on_token_provider_error (
    MeteredSignallingClient *client, guint failures, GError *error, Cli *cli)
{
  g_printerr ("token provider failed %u times in a row: %s\n", failures,
      error->message);
}

static void
maybe_finish (Cli *cli)
{
  if (cli->outstanding == 0 && cli->input_done &&
      !g_str_equal (cli->command, "subscribe"))
    g_main_loop_quit (cli->loop);
}

static void
on_request_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;
  gboolean ok =
      g_task_get_source_tag (G_TASK (result)) ==
              metered_signalling_client_publish_async
          ? metered_signalling_client_publish_finish (
                cli->client, result, &error)
          : metered_signalling_client_send_finish (cli->client, result, &error);

  if (!ok) {
    g_printerr ("metered-cli: %s failed: %s\n", cli->command, error->message);
    cli->exit_code = 1;
  }
  cli->outstanding--;
  maybe_finish (cli);
}

static void
submit_as (Cli *cli, const char *command, const char *target, const char *json)
{
  cli->outstanding++;
  if (g_str_equal (command, "send"))
    metered_signalling_client_send_async (
        cli->client, target, json, NULL, on_request_done, cli);
  else
    metered_signalling_client_publish_async (
        cli->client, target, json, NULL, on_request_done, cli);
}

static void
submit (Cli *cli, const char *target, const char *json)
{
  submit_as (cli, cli->command, target, json);
}

/* subscribe mode reads commands from stdin: "publish CHANNEL JSON" or
 * "send PEER JSON", so one process can listen and talk. */
static void
run_command_line (Cli *cli, const char *line)
{
  g_auto (GStrv) parts = g_strsplit (line, " ", 3);

  if (g_strv_length (parts) == 3 &&
      (g_str_equal (parts[0], "publish") || g_str_equal (parts[0], "send")))
    submit_as (cli, parts[0], parts[1], parts[2]);
  else
    g_printerr ("metered-cli: stdin: expected \"publish CHANNEL JSON\" or "
                "\"send PEER JSON\"\n");
}

static void read_next_line (Cli *cli);

static void
on_line (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (
      G_DATA_INPUT_STREAM (source), result, NULL, &error);

  if (!line) {
    if (error)
      g_printerr ("metered-cli: stdin: %s\n", error->message);
    cli->input_done = TRUE;
    maybe_finish (cli);
    return;
  }
  g_strstrip (line);
  if (*line && g_str_equal (cli->command, "subscribe"))
    run_command_line (cli, line);
  else if (*line)
    submit (cli, cli->args[0], line);
  read_next_line (cli);
}

static void
read_next_line (Cli *cli)
{
  g_data_input_stream_read_line_async (
      cli->input, G_PRIORITY_DEFAULT, NULL, on_line, cli);
}

static void
on_subscribed (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;

  if (!metered_signalling_client_subscribe_finish (
          cli->client, result, &error)) {
    g_printerr ("metered-cli: subscribe failed: %s\n", error->message);
    cli->exit_code = 1;
    g_main_loop_quit (cli->loop);
  }
}

static void
on_connect_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Cli *cli = data;
  g_autoptr (GError) error = NULL;

  if (!metered_signalling_client_connect_finish (cli->client, result, &error)) {
    g_printerr ("metered-cli: %s\n", error->message);
    cli->exit_code = 2;
    g_main_loop_quit (cli->loop);
    return;
  }
  if (g_str_equal (cli->command, "subscribe")) {
    GInputStream *in = g_unix_input_stream_new (0, FALSE);
    for (char **c = cli->args; *c; c++)
      metered_signalling_client_subscribe_async (
          cli->client, *c, FALSE, NULL, on_subscribed, cli);
    cli->input = g_data_input_stream_new (in);
    g_object_unref (in);
    read_next_line (cli);
  } else if (cli->args[1]) {
    submit (cli, cli->args[0], cli->args[1]);
    cli->input_done = TRUE;
  } else {
    /* No JSON argument: one value per stdin line, until EOF. */
    GInputStream *in = g_unix_input_stream_new (0, FALSE);
    cli->input = g_data_input_stream_new (in);
    g_object_unref (in);
    read_next_line (cli);
  }
}

static gboolean
on_sigint (gpointer data)
{
  Cli *cli = data;

  metered_signalling_client_close (cli->client, 1000, "client requested close");
  g_main_loop_quit (cli->loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autofree char *url = NULL;
  g_autofree char *key = NULL;
  g_autofree char *token = NULL;
  g_autofree char *token_url = NULL;
  gint inactivity = METERED_INACTIVITY_TIMEOUT_MS;
  gint initial_delay = 500;
  gint64 max_attempts = -1;
  gboolean include_meta = FALSE;
  GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url,
        "Service base URL (default wss://rms.metered.ca)", "URL" },
    { "key", 0, 0, G_OPTION_ARG_STRING, &key, "Publishable key", "KEY" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, "JWT", "JWT" },
    { "token-url", 0, 0, G_OPTION_ARG_STRING, &token_url,
        "URL answering a fresh JWT", "URL" },
    { "inactivity-timeout", 0, 0, G_OPTION_ARG_INT, &inactivity,
        "Watchdog in ms (0 disables)", "MS" },
    { "reconnect-initial-delay", 0, 0, G_OPTION_ARG_INT, &initial_delay,
        "First backoff delay in ms", "MS" },
    { "max-attempts", 0, 0, G_OPTION_ARG_INT64, &max_attempts,
        "Reconnect attempts (-1 forever, the default here)", "N" },
    { "include-sender-metadata", 0, 0, G_OPTION_ARG_NONE, &include_meta,
        "Ask for fromMetadata on messages", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("subscribe CHANNEL... | publish CHANNEL [JSON] | "
                            "send PEER [JSON]");
  g_autoptr (GError) error = NULL;
  Cli cli = { 0 };

  g_option_context_set_summary (ctx,
      "Talk to a Metered Realtime Messaging channel from a terminal.\n"
      "Without JSON, publish and send read one JSON value per stdin line.\n"
      "subscribe also takes \"publish CHANNEL JSON\" and \"send PEER JSON\"\n"
      "lines on stdin.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("metered-cli: %s\n", error->message);
    return 2;
  }
  if (argc < 3 || !(g_str_equal (argv[1], "subscribe") ||
                      ((g_str_equal (argv[1], "publish") ||
                           g_str_equal (argv[1], "send")) &&
                          argc <= 4))) {
    g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);
    g_printerr ("%s", help);
    return 2;
  }

  cli.loop = g_main_loop_new (NULL, FALSE);
  cli.command = argv[1];
  cli.args = argv + 2;
  cli.client = metered_signalling_client_new (NULL, NULL);
  g_object_set (cli.client, "inactivity-timeout", inactivity,
      "reconnect-initial-delay", initial_delay, "reconnect-max-attempts",
      max_attempts, NULL);
  if (url)
    g_object_set (cli.client, "url", url, NULL);
  if (key)
    g_object_set (cli.client, "api-key", key, NULL);
  if (token)
    g_object_set (cli.client, "token", token, NULL);
  if (token_url)
    g_object_set (cli.client, "token-url", token_url, NULL);
  /* A send to a peer that is reconnecting waits for it (metered-server). */
  g_object_set (cli.client, "hold-directs", TRUE, NULL);
  (void) include_meta;

  g_signal_connect (cli.client, "message", G_CALLBACK (on_message), &cli);
  g_signal_connect (cli.client, "direct", G_CALLBACK (on_direct), &cli);
  g_signal_connect (cli.client, "presence", G_CALLBACK (on_presence), &cli);
  g_signal_connect (
      cli.client, "server-error", G_CALLBACK (on_server_error), &cli);
  g_signal_connect (cli.client, "going-away", G_CALLBACK (on_going_away), &cli);
  g_signal_connect (cli.client, "resumed", G_CALLBACK (on_resumed), &cli);
  g_signal_connect (
      cli.client, "continuity-lost", G_CALLBACK (on_continuity_lost), &cli);
  g_signal_connect (
      cli.client, "state-changed", G_CALLBACK (on_state_changed), &cli);
  g_signal_connect (cli.client, "connected", G_CALLBACK (on_connected), &cli);
  g_signal_connect (
      cli.client, "disconnected", G_CALLBACK (on_disconnected), &cli);
  g_signal_connect (cli.client, "exhausted", G_CALLBACK (on_exhausted), &cli);
  g_signal_connect (cli.client, "token-provider-error",
      G_CALLBACK (on_token_provider_error), &cli);
  g_unix_signal_add (SIGINT, on_sigint, &cli);
  g_unix_signal_add (SIGTERM, on_sigint, &cli);

  metered_signalling_client_connect_async (
      cli.client, NULL, on_connect_done, &cli);
  g_main_loop_run (cli.loop);

  g_clear_object (&cli.input);
  g_object_unref (cli.client);
  g_main_loop_unref (cli.loop);
  return cli.exit_code;
}
