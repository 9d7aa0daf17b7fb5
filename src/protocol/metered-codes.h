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

G_BEGIN_DECLS

/* WebSocket close codes the service and the SDK use (protocol doc §6.1). */
typedef enum
{
  METERED_CLOSE_NORMAL = 1000,
  METERED_CLOSE_GOING_AWAY = 1001,
  METERED_CLOSE_ABNORMAL = 1006,
  METERED_CLOSE_POLICY_VIOLATION = 1008,
  METERED_CLOSE_MESSAGE_TOO_BIG = 1009,
  METERED_CLOSE_CLIENT_INACTIVITY = 4000,
  METERED_CLOSE_INVALID_TOKEN = 4001,
  METERED_CLOSE_TOKEN_EXPIRED = 4002,
  METERED_CLOSE_CHANNEL_NOT_AUTHORIZED = 4003,
  METERED_CLOSE_OVER_CONCURRENT_LIMIT = 4010,
  METERED_CLOSE_OVER_MESSAGE_RATE = 4011,
  METERED_CLOSE_ACCOUNT_SUSPENDED = 4012,
  METERED_CLOSE_ADMIN_DISCONNECT = 4020,
} MeteredCloseCode;

typedef enum
{
  METERED_RETRY_NORMAL, /* normal backoff */
  METERED_RETRY_SLOW, /* normal backoff with the 30 s floor (4010) */
  METERED_RETRY_TERMINAL, /* never reconnect */
} MeteredRetryPolicy;

#define METERED_SLOW_BACKOFF_FLOOR_MS 30000

/* Policy for any close code; unknown codes retry, as the SDK does. */
MeteredRetryPolicy metered_close_code_policy (int code);
/* Short stable name ("invalid_token", "going_away", ...) or "unknown". */
const char *metered_close_code_name (int code);
/* The MeteredPeer err.name for a terminal/fatal close (4001 ->
 * "invalid_token", 4002 -> "token_expired", 4003, 4012, 4020) or NULL. */
const char *metered_close_code_error_name (int code);

/* Server error codes (protocol doc §6.2). */
#define METERED_ERR_MALFORMED_MESSAGE "malformed_message"
#define METERED_ERR_UNKNOWN_TYPE "unknown_type"
#define METERED_ERR_INVALID_CHANNEL "invalid_channel"
#define METERED_ERR_INVALID_PEER_ID "invalid_peer_id"
#define METERED_ERR_CHANNEL_NOT_AUTHORIZED "channel_not_authorized"
#define METERED_ERR_CHANNEL_RESERVED "channel_reserved"
#define METERED_ERR_CHANNEL_LIMIT_EXCEEDED "channel_limit_exceeded"
#define METERED_ERR_PEER_NOT_FOUND "peer_not_found"
#define METERED_ERR_MISSING_DATA "missing_data"
#define METERED_ERR_ACTION_NOT_PERMITTED "action_not_permitted"
#define METERED_ERR_OVER_MESSAGE_QUOTA "over_message_quota"
#define METERED_ERR_BACKEND_ERROR "backend_error"
#define METERED_ERR_INTERNAL_ERROR "internal_error"

typedef enum
{
  METERED_ERROR_RETRY_NEVER,
  METERED_ERROR_RETRY_NOT_ON_CONNECTION,
  METERED_ERROR_RETRY_AFTER_UNSUBSCRIBE,
  METERED_ERROR_RETRY_SOMETIMES,
  METERED_ERROR_RETRY_AFTER_PERIOD,
  METERED_ERROR_RETRY_BACKOFF,
} MeteredErrorRetry;

/* Retry advice for a server error code; unknown codes -> NEVER. */
MeteredErrorRetry metered_error_code_retry (const char *code);
/* TRUE for codes MeteredPeer escalates to a fatal error when they arrive
 * uncorrelated (§8.11). */
gboolean metered_error_code_is_fatal_uncorrelated (const char *code);

G_END_DECLS
