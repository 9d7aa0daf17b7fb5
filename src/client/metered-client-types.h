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

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * MeteredClientState:
 * @METERED_CLIENT_STATE_IDLE: never connected
 * @METERED_CLIENT_STATE_CONNECTING: first connect in progress
 * @METERED_CLIENT_STATE_CONNECTED: welcome received, socket open
 * @METERED_CLIENT_STATE_RECONNECTING: lost the socket, trying again
 * @METERED_CLIENT_STATE_CLOSED: closed for good (close(), a terminal
 *   code, or attempts exhausted); connect() may start again
 *
 * The signalling client's states, as the SDK's SignallingClient has them.
 */
typedef enum
{
  METERED_CLIENT_STATE_IDLE,
  METERED_CLIENT_STATE_CONNECTING,
  METERED_CLIENT_STATE_CONNECTED,
  METERED_CLIENT_STATE_RECONNECTING,
  METERED_CLIENT_STATE_CLOSED,
} MeteredClientState;

GType metered_client_state_get_type (void);
#define METERED_TYPE_CLIENT_STATE (metered_client_state_get_type ())

/* "idle", "connecting", ... */
const char *metered_client_state_to_string (MeteredClientState state);
/* TRUE if the state machine allows from -> to. */
gboolean metered_client_state_transition_is_valid (
    MeteredClientState from, MeteredClientState to);

/**
 * MeteredClientError:
 * @METERED_CLIENT_ERROR_NOT_CONNECTED: the call needs a connected client
 *   (the SDK's NotConnectedError)
 * @METERED_CLIENT_ERROR_DISCONNECTED: the socket closed before the answer
 *   and the request cannot be kept (the SDK's DisconnectedError)
 * @METERED_CLIENT_ERROR_TIMEOUT: no ack within ack-timeout
 * @METERED_CLIENT_ERROR_OVERSIZED: the payload exceeds maxMessageSize
 * @METERED_CLIENT_ERROR_QUEUE_FULL: the outbound queue is full
 * @METERED_CLIENT_ERROR_CLOSED: the client was closed (or hit a terminal
 *   close code) before the request completed
 * @METERED_CLIENT_ERROR_INVALID_ARGUMENT: bad channel, peer id or JSON
 * @METERED_CLIENT_ERROR_CONNECT_FAILED: the first connect failed; the
 *   message says how (close code, HTTP refusal, timeout)
 * @METERED_CLIENT_ERROR_TOKEN_PROVIDER: no usable token was obtained
 * @METERED_CLIENT_ERROR_INVALID_STATE: the call is not allowed now
 */
typedef enum
{
  METERED_CLIENT_ERROR_NOT_CONNECTED,
  METERED_CLIENT_ERROR_DISCONNECTED,
  METERED_CLIENT_ERROR_TIMEOUT,
  METERED_CLIENT_ERROR_OVERSIZED,
  METERED_CLIENT_ERROR_QUEUE_FULL,
  METERED_CLIENT_ERROR_CLOSED,
  METERED_CLIENT_ERROR_INVALID_ARGUMENT,
  METERED_CLIENT_ERROR_CONNECT_FAILED,
  METERED_CLIENT_ERROR_TOKEN_PROVIDER,
  METERED_CLIENT_ERROR_INVALID_STATE,
} MeteredClientError;

#define METERED_CLIENT_ERROR (metered_client_error_quark ())
GQuark metered_client_error_quark (void);

/**
 * MeteredServerError:
 * @METERED_SERVER_ERROR_UNKNOWN: a code this version does not know (the
 *   message starts with the code)
 *
 * A correlated error frame from the server: the code of the GError is
 * the server's code. The GError message is the server's message.
 */
typedef enum
{
  METERED_SERVER_ERROR_UNKNOWN,
  METERED_SERVER_ERROR_MALFORMED_MESSAGE,
  METERED_SERVER_ERROR_UNKNOWN_TYPE,
  METERED_SERVER_ERROR_INVALID_CHANNEL,
  METERED_SERVER_ERROR_INVALID_PEER_ID,
  METERED_SERVER_ERROR_CHANNEL_NOT_AUTHORIZED,
  METERED_SERVER_ERROR_CHANNEL_RESERVED,
  METERED_SERVER_ERROR_CHANNEL_LIMIT_EXCEEDED,
  METERED_SERVER_ERROR_PEER_NOT_FOUND,
  METERED_SERVER_ERROR_MISSING_DATA,
  METERED_SERVER_ERROR_ACTION_NOT_PERMITTED,
  METERED_SERVER_ERROR_OVER_MESSAGE_QUOTA,
  METERED_SERVER_ERROR_BACKEND_ERROR,
  METERED_SERVER_ERROR_INTERNAL_ERROR,
} MeteredServerError;

#define METERED_SERVER_ERROR (metered_server_error_quark ())
GQuark metered_server_error_quark (void);

/* The enum value of a server code string; UNKNOWN for others. */
MeteredServerError metered_server_error_from_code (const char *code);
/* The wire code of an enum value ("peer_not_found"), NULL for UNKNOWN. */
const char *metered_server_error_to_code (MeteredServerError error);

G_END_DECLS
