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

/* How much may be resent, and the key frame asked when a resend is
 * refused (metered-rtx-budget.h). */

#include "peer/metered-rtx-budget.h"

#define S G_USEC_PER_SEC

static MeteredRtxBudget
make (void)
{
  const MeteredRtxBudgetConfig config = METERED_RTX_BUDGET_CONFIG_DEFAULT;
  MeteredRtxBudget b;

  metered_rtx_budget_init (&b, &config);
  return b;
}

/* Media always goes and earns a quarter of its size; resends spend it. */
static void
test_share_of_the_media (void)
{
  MeteredRtxBudget b = make ();
  gboolean key;

  /* nothing earned yet: the first resend is refused */
  g_assert_false (metered_rtx_budget_pass (&b, FALSE, 1200, 0, &key));
  for (guint i = 0; i < 4; i++)
    g_assert_true (metered_rtx_budget_pass (&b, TRUE, 1200, 0, &key));
  g_assert_false (key);
  /* 4 x 1200 x 0.25 = one packet's worth */
  g_assert_true (metered_rtx_budget_pass (&b, FALSE, 1200, 0, &key));
  g_assert_false (key);
  g_assert_false (metered_rtx_budget_pass (&b, FALSE, 1200, 0, &key));
}

/* Credit does not pile up past a burst's worth. */
static void
test_credit_capped (void)
{
  MeteredRtxBudget b = make ();
  gboolean key;
  guint passed = 0;

  for (guint i = 0; i < 10000; i++)
    metered_rtx_budget_pass (&b, TRUE, 1200, 0, &key);
  while (metered_rtx_budget_pass (&b, FALSE, 1200, 0, &key))
    passed++;
  g_assert_cmpuint (passed, ==, 32);
}

/* A refused resend leaves the viewer waiting: it asks for a key frame,
 * then no more than once a second however many are refused. */
static void
test_refusal_asks_key_frame (void)
{
  MeteredRtxBudget b = make ();
  gboolean key;

  g_assert_false (metered_rtx_budget_pass (&b, FALSE, 1200, 1 * S, &key));
  g_assert_true (key);
  for (guint i = 0; i < 20; i++) {
    g_assert_false (
        metered_rtx_budget_pass (&b, FALSE, 1200, 1 * S + i * (S / 25), &key));
    g_assert_false (key);
  }
  g_assert_false (metered_rtx_budget_pass (&b, FALSE, 1200, 2 * S, &key));
  g_assert_true (key);
  /* a resend that goes asks nothing */
  metered_rtx_budget_pass (&b, TRUE, 12000, 3 * S, &key);
  g_assert_true (metered_rtx_budget_pass (&b, FALSE, 1200, 3 * S, &key));
  g_assert_false (key);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rtx-budget/share-of-the-media", test_share_of_the_media);
  g_test_add_func ("/rtx-budget/credit-capped", test_credit_capped);
  g_test_add_func (
      "/rtx-budget/refusal-asks-key-frame", test_refusal_asks_key_frame);
  return g_test_run ();
}
