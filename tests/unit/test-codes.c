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

#include "protocol/metered-protocol.h"

static void
test_close_policy (void)
{
  static const int terminal[] = { 4001, 4003, 4012, 4020 };
  static const int normal[] = { 1000, 1001, 1006, 1008, 1009, 1011, 1012, 4000,
    4002, 4011, 4004, 4999, 3000, 0, -1 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (terminal); i++)
    g_assert_cmpint (
        metered_close_code_policy (terminal[i]), ==, METERED_RETRY_TERMINAL);
  for (i = 0; i < G_N_ELEMENTS (normal); i++)
    g_assert_cmpint (
        metered_close_code_policy (normal[i]), ==, METERED_RETRY_NORMAL);
  g_assert_cmpint (metered_close_code_policy (4010), ==, METERED_RETRY_SLOW);
  g_assert_cmpint (METERED_SLOW_BACKOFF_FLOOR_MS, ==, 30000);
}

static void
test_close_names (void)
{
  g_assert_cmpstr (metered_close_code_name (1000), ==, "normal");
  g_assert_cmpstr (metered_close_code_name (1001), ==, "going_away");
  g_assert_cmpstr (metered_close_code_name (1006), ==, "abnormal");
  g_assert_cmpstr (metered_close_code_name (1008), ==, "policy_violation");
  g_assert_cmpstr (metered_close_code_name (1009), ==, "message_too_big");
  g_assert_cmpstr (metered_close_code_name (4000), ==, "client_inactivity");
  g_assert_cmpstr (metered_close_code_name (4001), ==, "invalid_token");
  g_assert_cmpstr (metered_close_code_name (4002), ==, "token_expired");
  g_assert_cmpstr (
      metered_close_code_name (4003), ==, "channel_not_authorized");
  g_assert_cmpstr (metered_close_code_name (4010), ==, "over_concurrent_limit");
  g_assert_cmpstr (metered_close_code_name (4011), ==, "over_message_rate");
  g_assert_cmpstr (metered_close_code_name (4012), ==, "account_suspended");
  g_assert_cmpstr (metered_close_code_name (4020), ==, "admin_disconnect");
  g_assert_cmpstr (metered_close_code_name (1011), ==, "unknown");
  g_assert_cmpstr (metered_close_code_name (4999), ==, "unknown");
}

static void
test_close_error_names (void)
{
  g_assert_cmpstr (metered_close_code_error_name (4001), ==, "invalid_token");
  g_assert_cmpstr (metered_close_code_error_name (4002), ==, "token_expired");
  g_assert_cmpstr (
      metered_close_code_error_name (4003), ==, "channel_not_authorized");
  g_assert_cmpstr (
      metered_close_code_error_name (4012), ==, "account_suspended");
  g_assert_cmpstr (
      metered_close_code_error_name (4020), ==, "admin_disconnect");
  g_assert_null (metered_close_code_error_name (1000));
  g_assert_null (metered_close_code_error_name (4000));
  g_assert_null (metered_close_code_error_name (4010));
  g_assert_null (metered_close_code_error_name (4011));
}

static void
test_error_codes (void)
{
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_MALFORMED_MESSAGE), ==,
      METERED_ERROR_RETRY_NEVER);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_UNKNOWN_TYPE), ==,
      METERED_ERROR_RETRY_NEVER);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_INVALID_CHANNEL), ==,
      METERED_ERROR_RETRY_NEVER);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_INVALID_PEER_ID), ==,
      METERED_ERROR_RETRY_NEVER);
  g_assert_cmpint (
      metered_error_code_retry (METERED_ERR_CHANNEL_NOT_AUTHORIZED), ==,
      METERED_ERROR_RETRY_NOT_ON_CONNECTION);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_CHANNEL_RESERVED), ==,
      METERED_ERROR_RETRY_NEVER);
  g_assert_cmpint (
      metered_error_code_retry (METERED_ERR_CHANNEL_LIMIT_EXCEEDED), ==,
      METERED_ERROR_RETRY_AFTER_UNSUBSCRIBE);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_PEER_NOT_FOUND), ==,
      METERED_ERROR_RETRY_SOMETIMES);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_MISSING_DATA), ==,
      METERED_ERROR_RETRY_NEVER);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_ACTION_NOT_PERMITTED),
      ==, METERED_ERROR_RETRY_NOT_ON_CONNECTION);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_OVER_MESSAGE_QUOTA),
      ==, METERED_ERROR_RETRY_AFTER_PERIOD);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_BACKEND_ERROR), ==,
      METERED_ERROR_RETRY_BACKOFF);
  g_assert_cmpint (metered_error_code_retry (METERED_ERR_INTERNAL_ERROR), ==,
      METERED_ERROR_RETRY_BACKOFF);
  g_assert_cmpint (
      metered_error_code_retry ("made_up"), ==, METERED_ERROR_RETRY_NEVER);
  g_assert_cmpint (
      metered_error_code_retry (NULL), ==, METERED_ERROR_RETRY_NEVER);
}

static void
test_fatal_uncorrelated (void)
{
  g_assert_true (
      metered_error_code_is_fatal_uncorrelated ("account_suspended"));
  g_assert_true (
      metered_error_code_is_fatal_uncorrelated ("channel_not_authorized"));
  g_assert_true (
      metered_error_code_is_fatal_uncorrelated ("action_not_permitted"));
  g_assert_true (metered_error_code_is_fatal_uncorrelated ("invalid_token"));
  g_assert_true (metered_error_code_is_fatal_uncorrelated ("token_expired"));
  g_assert_false (
      metered_error_code_is_fatal_uncorrelated ("over_message_quota"));
  g_assert_false (metered_error_code_is_fatal_uncorrelated ("peer_not_found"));
  g_assert_false (metered_error_code_is_fatal_uncorrelated ("unknown_type"));
  g_assert_false (metered_error_code_is_fatal_uncorrelated (""));
  g_assert_false (metered_error_code_is_fatal_uncorrelated (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/codes/close-policy", test_close_policy);
  g_test_add_func ("/codes/close-names", test_close_names);
  g_test_add_func ("/codes/close-error-names", test_close_error_names);
  g_test_add_func ("/codes/error-codes", test_error_codes);
  g_test_add_func ("/codes/fatal-uncorrelated", test_fatal_uncorrelated);

  return g_test_run ();
}
