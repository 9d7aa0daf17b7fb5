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

#include "metered-client-types.h"

#include "protocol/metered-codes.h"

G_DEFINE_QUARK (metered - client - error - quark, metered_client_error)
G_DEFINE_QUARK (metered - server - error - quark, metered_server_error)

GType
metered_client_state_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { METERED_CLIENT_STATE_IDLE, "METERED_CLIENT_STATE_IDLE", "idle" },
    { METERED_CLIENT_STATE_CONNECTING, "METERED_CLIENT_STATE_CONNECTING",
        "connecting" },
    { METERED_CLIENT_STATE_CONNECTED, "METERED_CLIENT_STATE_CONNECTED",
        "connected" },
    { METERED_CLIENT_STATE_RECONNECTING, "METERED_CLIENT_STATE_RECONNECTING",
        "reconnecting" },
    { METERED_CLIENT_STATE_CLOSED, "METERED_CLIENT_STATE_CLOSED", "closed" },
    { 0, NULL, NULL }
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (
        &type, g_enum_register_static ("MeteredClientState", values));
  return type;
}

const char *
metered_client_state_to_string (MeteredClientState state)
{
  static const char *const names[] = { "idle", "connecting", "connected",
    "reconnecting", "closed" };

  return state < G_N_ELEMENTS (names) ? names[state] : "invalid";
}

gboolean
metered_client_state_transition_is_valid (
    MeteredClientState from, MeteredClientState to)
{
  switch (from) {
    case METERED_CLIENT_STATE_IDLE:
      return to == METERED_CLIENT_STATE_CONNECTING ||
             to == METERED_CLIENT_STATE_CLOSED;
    case METERED_CLIENT_STATE_CONNECTING:
      return to == METERED_CLIENT_STATE_CONNECTED ||
             to == METERED_CLIENT_STATE_CLOSED;
    case METERED_CLIENT_STATE_CONNECTED:
      return to == METERED_CLIENT_STATE_RECONNECTING ||
             to == METERED_CLIENT_STATE_CLOSED;
    case METERED_CLIENT_STATE_RECONNECTING:
      return to == METERED_CLIENT_STATE_CONNECTED ||
             to == METERED_CLIENT_STATE_CLOSED;
    case METERED_CLIENT_STATE_CLOSED:
      return to == METERED_CLIENT_STATE_CONNECTING;
  }
  return FALSE;
}

static const char *const server_codes[] = {
  NULL,
  METERED_ERR_MALFORMED_MESSAGE,
  METERED_ERR_UNKNOWN_TYPE,
  METERED_ERR_INVALID_CHANNEL,
  METERED_ERR_INVALID_PEER_ID,
  METERED_ERR_CHANNEL_NOT_AUTHORIZED,
  METERED_ERR_CHANNEL_RESERVED,
  METERED_ERR_CHANNEL_LIMIT_EXCEEDED,
  METERED_ERR_PEER_NOT_FOUND,
  METERED_ERR_MISSING_DATA,
  METERED_ERR_ACTION_NOT_PERMITTED,
  METERED_ERR_OVER_MESSAGE_QUOTA,
  METERED_ERR_BACKEND_ERROR,
  METERED_ERR_INTERNAL_ERROR,
};

MeteredServerError
metered_server_error_from_code (const char *code)
{
  for (guint i = 1; i < G_N_ELEMENTS (server_codes); i++)
    if (g_strcmp0 (server_codes[i], code) == 0)
      return (MeteredServerError) i;
  return METERED_SERVER_ERROR_UNKNOWN;
}

const char *
metered_server_error_to_code (MeteredServerError error)
{
  return (guint) error < G_N_ELEMENTS (server_codes) ? server_codes[error]
                                                     : NULL;
}
