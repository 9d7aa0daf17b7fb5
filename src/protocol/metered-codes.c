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

#include "protocol/metered-codes.h"

#include <string.h>

MeteredRetryPolicy
metered_close_code_policy (int code)
{
  switch (code) {
    case METERED_CLOSE_INVALID_TOKEN:
    case METERED_CLOSE_CHANNEL_NOT_AUTHORIZED:
    case METERED_CLOSE_ACCOUNT_SUSPENDED:
    case METERED_CLOSE_ADMIN_DISCONNECT:
      return METERED_RETRY_TERMINAL;
    case METERED_CLOSE_OVER_CONCURRENT_LIMIT:
      return METERED_RETRY_SLOW;
    default:
      /* 1000, 1001, 1006, 1008, 1009, 4000, 4002, 4011 and every code
       * the SDK does not know are retried with normal backoff. */
      return METERED_RETRY_NORMAL;
  }
}

const char *
metered_close_code_name (int code)
{
  switch (code) {
    case METERED_CLOSE_NORMAL:
      return "normal";
    case METERED_CLOSE_GOING_AWAY:
      return "going_away";
    case METERED_CLOSE_ABNORMAL:
      return "abnormal";
    case METERED_CLOSE_POLICY_VIOLATION:
      return "policy_violation";
    case METERED_CLOSE_MESSAGE_TOO_BIG:
      return "message_too_big";
    case METERED_CLOSE_CLIENT_INACTIVITY:
      return "client_inactivity";
    case METERED_CLOSE_INVALID_TOKEN:
      return "invalid_token";
    case METERED_CLOSE_TOKEN_EXPIRED:
      return "token_expired";
    case METERED_CLOSE_CHANNEL_NOT_AUTHORIZED:
      return "channel_not_authorized";
    case METERED_CLOSE_OVER_CONCURRENT_LIMIT:
      return "over_concurrent_limit";
    case METERED_CLOSE_OVER_MESSAGE_RATE:
      return "over_message_rate";
    case METERED_CLOSE_ACCOUNT_SUSPENDED:
      return "account_suspended";
    case METERED_CLOSE_ADMIN_DISCONNECT:
      return "admin_disconnect";
    default:
      return "unknown";
  }
}

const char *
metered_close_code_error_name (int code)
{
  switch (code) {
    case METERED_CLOSE_INVALID_TOKEN:
      return "invalid_token";
    case METERED_CLOSE_TOKEN_EXPIRED:
      return "token_expired";
    case METERED_CLOSE_CHANNEL_NOT_AUTHORIZED:
      return "channel_not_authorized";
    case METERED_CLOSE_ACCOUNT_SUSPENDED:
      return "account_suspended";
    case METERED_CLOSE_ADMIN_DISCONNECT:
      return "admin_disconnect";
    default:
      return NULL;
  }
}

static const struct
{
  const char *code;
  MeteredErrorRetry retry;
} error_codes[] = {
  { METERED_ERR_MALFORMED_MESSAGE, METERED_ERROR_RETRY_NEVER },
  { METERED_ERR_UNKNOWN_TYPE, METERED_ERROR_RETRY_NEVER },
  { METERED_ERR_INVALID_CHANNEL, METERED_ERROR_RETRY_NEVER },
  { METERED_ERR_INVALID_PEER_ID, METERED_ERROR_RETRY_NEVER },
  { METERED_ERR_CHANNEL_NOT_AUTHORIZED, METERED_ERROR_RETRY_NOT_ON_CONNECTION },
  { METERED_ERR_CHANNEL_RESERVED, METERED_ERROR_RETRY_NEVER },
  { METERED_ERR_CHANNEL_LIMIT_EXCEEDED, METERED_ERROR_RETRY_AFTER_UNSUBSCRIBE },
  { METERED_ERR_PEER_NOT_FOUND, METERED_ERROR_RETRY_SOMETIMES },
  { METERED_ERR_MISSING_DATA, METERED_ERROR_RETRY_NEVER },
  { METERED_ERR_ACTION_NOT_PERMITTED, METERED_ERROR_RETRY_NOT_ON_CONNECTION },
  { METERED_ERR_OVER_MESSAGE_QUOTA, METERED_ERROR_RETRY_AFTER_PERIOD },
  { METERED_ERR_BACKEND_ERROR, METERED_ERROR_RETRY_BACKOFF },
  { METERED_ERR_INTERNAL_ERROR, METERED_ERROR_RETRY_BACKOFF },
};

MeteredErrorRetry
metered_error_code_retry (const char *code)
{
  guint i;

  if (code == NULL)
    return METERED_ERROR_RETRY_NEVER;
  for (i = 0; i < G_N_ELEMENTS (error_codes); i++)
    if (strcmp (code, error_codes[i].code) == 0)
      return error_codes[i].retry;
  return METERED_ERROR_RETRY_NEVER;
}

gboolean
metered_error_code_is_fatal_uncorrelated (const char *code)
{
  static const char *const fatal[] = {
    "account_suspended",
    METERED_ERR_CHANNEL_NOT_AUTHORIZED,
    METERED_ERR_ACTION_NOT_PERMITTED,
    "invalid_token",
    "token_expired",
  };
  guint i;

  if (code == NULL)
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (fatal); i++)
    if (strcmp (code, fatal[i]) == 0)
      return TRUE;
  return FALSE;
}
