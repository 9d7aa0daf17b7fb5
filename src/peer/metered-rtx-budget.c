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
#include "metered-rtx-budget.h"

void
metered_rtx_budget_init (
    MeteredRtxBudget *b, const MeteredRtxBudgetConfig *config)
{
  b->config = *config;
  b->credit = 0;
  b->last_key_us = -1;
}

gboolean
metered_rtx_budget_pass (MeteredRtxBudget *b, gboolean is_media, gsize size,
    gint64 now_us, gboolean *want_key_unit)
{
  *want_key_unit = FALSE;
  if (is_media) {
    b->credit = MIN (b->credit + size * b->config.share, b->config.credit_max);
    return TRUE;
  }
  if (b->credit >= size) {
    b->credit -= size;
    return TRUE;
  }
  if (b->last_key_us < 0 ||
      now_us - b->last_key_us >= b->config.key_interval_us) {
    b->last_key_us = now_us;
    *want_key_unit = TRUE;
  }
  return FALSE;
}
