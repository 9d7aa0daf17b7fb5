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

/* The credential of each connection attempt (protocol doc §1.2): an
 * api-key or a static token at once, or a token from a provider asked
 * before every attempt (token-url fetched over HTTP, a ::request-token
 * handler, or a ::request-token-async handler completing a
 * MeteredTokenRequest from any thread), bounded by token-provider-timeout
 * and counted toward ::token-provider-error. Separate from the state
 * machine because a provider is its own asynchronous conversation with
 * its own timer, cancellation and threads; the state machine only hears
 * "open the socket with this" or "the provider failed".
 */

#include "client/metered-signalling-client-private.h"

/* --- resolution --- */

static void
token_failed (MeteredSignallingClient *self, const GError *error)
{
  guint generation = self->generation;

  self->token_failures++;
  LOG_WARN ("token provider failed (%u in a row): %s", self->token_failures,
      error->message);
  /* An owner that retries connect() (the elements do) counts the same
   * consecutive failures as a reconnect would. */
  if (self->token_failures >= METERED_TOKEN_PROVIDER_ERROR_THRESHOLD) {
    g_signal_emit (self, metered_client_signals[SIGNAL_TOKEN_PROVIDER_ERROR], 0,
        self->token_failures, error);
    if (self->closed_explicitly || self->generation != generation)
      return; /* the handler closed the client */
  }
  if (!self->ever_welcomed) {
    g_autoptr (GError) e =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER,
            "token provider failed: %s", error->message);
    metered_client_go_closed (self, e);
    return;
  }
  /* No socket, no disconnected: just the next attempt (§1.2). */
  metered_client_schedule_reconnect (self);
}

static void
token_resolved (
    MeteredSignallingClient *self, const char *token, const GError *error)
{
  metered_client_token_cancel (self);
  if (!error && (!token || !*token)) {
    g_autoptr (GError) e = g_error_new_literal (METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_TOKEN_PROVIDER, "the token is empty");
    token_failed (self, e);
    return;
  }
  if (error) {
    token_failed (self, error);
    return;
  }
  self->token_failures = 0;
  metered_client_open_socket (self, "token", token);
}

static void
token_resolved_with_error (MeteredSignallingClient *self, const char *message)
{
  g_autoptr (GError) error = g_error_new_literal (
      METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER, message);

  token_resolved (self, NULL, error);
}

static void
on_token_timeout (gpointer data)
{
  MeteredSignallingClient *self = data;
  g_autoptr (GError) error =
      g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TIMEOUT,
          "no token within %u ms", self->token_provider_timeout_ms);

  self->token_timer = 0;
  token_resolved (self, NULL, error);
}

/* Stops waiting for a provider: its timer, and the request it may still
 * complete (cancelled, so a token-url fetch stops too). */
void
metered_client_token_cancel (MeteredSignallingClient *self)
{
  metered_clock_clear (self->clock, &self->token_timer);
  if (self->token_request) {
    g_cancellable_cancel (
        metered_token_request_get_cancellable (self->token_request));
    g_clear_object (&self->token_request);
  }
}

static gboolean
has_token_provider (MeteredSignallingClient *self)
{
  return self->token_url ||
         g_signal_has_handler_pending (
             self, metered_client_signals[SIGNAL_REQUEST_TOKEN], 0, TRUE) ||
         g_signal_has_handler_pending (
             self, metered_client_signals[SIGNAL_REQUEST_TOKEN_ASYNC], 0, TRUE);
}

gboolean
metered_client_credentials_valid (MeteredSignallingClient *self, GError **error)
{
  guint n = (self->api_key != NULL) + (self->token != NULL) +
            has_token_provider (self);

  if (n != 1) {
    g_set_error (error, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT,
        "exactly one credential is needed: api-key, token, or a token "
        "provider (token-url or a request-token handler); %u given",
        n);
    return FALSE;
  }
  return TRUE;
}

/* --- token-url --- */

/* The body is the JWT as text, or JSON {"token": "..."}. */
static char *
token_from_body (GBytes *body, GError **error)
{
  gsize len;
  const char *data = g_bytes_get_data (body, &len);
  g_autofree char *text = g_strndup (data, len);
  g_autoptr (JsonParser) parser = NULL;
  JsonNode *root;

  g_strstrip (text);
  if (text[0] != '{')
    return g_steal_pointer (&text);
  parser = json_parser_new ();
  if (json_parser_load_from_data (parser, text, -1, NULL) &&
      (root = json_parser_get_root (parser)) && JSON_NODE_HOLDS_OBJECT (root)) {
    const char *token = json_object_get_string_member_with_default (
        json_node_get_object (root), "token", NULL);
    if (token)
      return g_strdup (token);
  }
  g_set_error (error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER,
      "token URL answered JSON without a string \"token\"");
  return NULL;
}

typedef struct
{
  MeteredAttemptRef *ref;
  SoupMessage *msg;
} TokenFetch;

static void
on_token_fetched (GObject *source, GAsyncResult *result, gpointer data)
{
  TokenFetch *fetch = data;
  g_autoptr (MeteredSignallingClient) self =
      metered_attempt_ref_get (fetch->ref);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autofree char *token = NULL;
  guint status;

  body =
      soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  status = soup_message_get_status (fetch->msg);
  g_object_unref (fetch->msg);
  metered_attempt_ref_free (fetch->ref);
  g_free (fetch);
  if (!self || !self->token_timer)
    return; /* timed out or superseded */

  if (body && !SOUP_STATUS_IS_SUCCESSFUL (status)) {
    g_clear_error (&error);
    error =
        g_error_new (METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER,
            "token URL answered HTTP %u", status);
  }
  if (!error)
    token = token_from_body (body, &error);
  token_resolved (self, token, error);
}

static void
fetch_token_url (MeteredSignallingClient *self)
{
  TokenFetch *fetch = g_new0 (TokenFetch, 1);

  fetch->msg = soup_message_new (self->token_url_method, self->token_url);
  if (!fetch->msg) {
    g_free (fetch);
    token_resolved_with_error (self, "token-url is not a valid URL");
    return;
  }
  fetch->ref = metered_attempt_ref_new (self);
  /* The request object carries the cancellable the timeout cancels. */
  self->token_request = g_object_new (METERED_TYPE_TOKEN_REQUEST, NULL);
  soup_session_send_and_read_async (metered_client_session (self), fetch->msg,
      G_PRIORITY_DEFAULT,
      metered_token_request_get_cancellable (self->token_request),
      on_token_fetched, fetch);
}

/* --- the signal providers --- */

static void
ask_async_provider (MeteredSignallingClient *self)
{
  MeteredTokenRequest *request =
      g_object_new (METERED_TYPE_TOKEN_REQUEST, NULL);
  gboolean handled = FALSE;

  self->token_request = g_object_ref (request);
  g_object_set_data_full (G_OBJECT (request), "metered-attempt",
      metered_attempt_ref_new (self),
      (GDestroyNotify) metered_attempt_ref_free);
  g_signal_emit (self, metered_client_signals[SIGNAL_REQUEST_TOKEN_ASYNC], 0,
      request, &handled);
  g_object_unref (request);
  if (!handled && self->token_request == request)
    token_resolved_with_error (
        self, "no request-token-async handler took the request");
}

static void
ask_sync_provider (MeteredSignallingClient *self)
{
  g_autofree char *token = NULL;

  g_signal_emit (self, metered_client_signals[SIGNAL_REQUEST_TOKEN], 0, &token);
  if (!self->token_timer)
    return; /* a handler closed or restarted the client */
  if (token)
    token_resolved (self, token, NULL);
  else
    token_resolved_with_error (self, "request-token returned no token");
}

/* Resolves the credential of a new attempt, then opens its socket. */
void
metered_client_token_begin (MeteredSignallingClient *self)
{
  if (self->api_key) {
    metered_client_open_socket (self, "key", self->api_key);
    return;
  }
  if (self->token) {
    metered_client_open_socket (self, "token", self->token);
    return;
  }
  g_assert (has_token_provider (self));

  self->token_timer = metered_clock_schedule (
      self->clock, self->token_provider_timeout_ms, on_token_timeout, self);
  if (self->token_url)
    fetch_token_url (self);
  else if (g_signal_has_handler_pending (self,
               metered_client_signals[SIGNAL_REQUEST_TOKEN_ASYNC], 0, TRUE))
    ask_async_provider (self);
  else
    ask_sync_provider (self);
}

/* --- MeteredTokenRequest --- */

struct _MeteredTokenRequest
{
  GObject parent;
  GCancellable *cancellable;
  gboolean completed;
};

G_DEFINE_FINAL_TYPE (MeteredTokenRequest, metered_token_request, G_TYPE_OBJECT)

static void
metered_token_request_finalize (GObject *object)
{
  MeteredTokenRequest *self = METERED_TOKEN_REQUEST (object);

  g_object_unref (self->cancellable);
  G_OBJECT_CLASS (metered_token_request_parent_class)->finalize (object);
}

static void
metered_token_request_class_init (MeteredTokenRequestClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = metered_token_request_finalize;
}

static void
metered_token_request_init (MeteredTokenRequest *self)
{
  self->cancellable = g_cancellable_new ();
}

GCancellable *
metered_token_request_get_cancellable (MeteredTokenRequest *request)
{
  return request->cancellable;
}

typedef struct
{
  MeteredTokenRequest *request;
  char *token;
  GError *error;
} TokenAnswer;

static gboolean
token_answer_apply (gpointer data)
{
  TokenAnswer *answer = data;
  MeteredAttemptRef *ref =
      g_object_get_data (G_OBJECT (answer->request), "metered-attempt");
  g_autoptr (MeteredSignallingClient) self =
      ref ? metered_attempt_ref_get (ref) : NULL;

  if (self && self->token_request == answer->request && self->token_timer)
    token_resolved (self, answer->token, answer->error);
  return G_SOURCE_REMOVE;
}

static void
token_answer_free (gpointer data)
{
  TokenAnswer *answer = data;

  g_object_unref (answer->request);
  g_free (answer->token);
  g_clear_error (&answer->error);
  g_free (answer);
}

/* Any thread: the answer is carried to the client's context, where
 * token_answer_apply drops it if the attempt has moved on. */
static void
token_request_complete (
    MeteredTokenRequest *request, const char *token, const GError *error)
{
  MeteredAttemptRef *ref =
      g_object_get_data (G_OBJECT (request), "metered-attempt");
  g_autoptr (MeteredSignallingClient) self =
      ref ? g_weak_ref_get (&ref->client) : NULL;
  TokenAnswer *answer;

  if (request->completed || !self)
    return;
  request->completed = TRUE;
  answer = g_new0 (TokenAnswer, 1);
  answer->request = g_object_ref (request);
  answer->token = g_strdup (token);
  answer->error = error ? g_error_copy (error) : NULL;
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT,
      token_answer_apply, answer, token_answer_free);
}

void
metered_token_request_return_token (
    MeteredTokenRequest *request, const char *token)
{
  g_return_if_fail (METERED_IS_TOKEN_REQUEST (request));
  token_request_complete (request, token, NULL);
}

void
metered_token_request_return_error (
    MeteredTokenRequest *request, const GError *error)
{
  g_return_if_fail (METERED_IS_TOKEN_REQUEST (request));
  g_return_if_fail (error != NULL);
  token_request_complete (request, NULL, error);
}
