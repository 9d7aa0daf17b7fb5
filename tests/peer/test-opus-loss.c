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

/* The loss the shared Opus encoder's in-band FEC is sized for, from the
 * viewers' receiver reports (metered-opus-loss.h). */

#include "peer/metered-opus-loss.h"

static const MeteredOpusLossConfig config = METERED_OPUS_LOSS_CONFIG_DEFAULT;

/* Before any report: the standing guess (what opusenc starts with). */
static void
test_no_report_keeps_the_guess (void)
{
  MeteredLossAverage v[2] = { { 0 } };

  g_assert_cmpuint (metered_opus_loss_percent (&config, NULL, 0), ==, 5);
  g_assert_cmpuint (metered_opus_loss_percent (&config, v, 2), ==, 5);
}

/* The worst viewer decides: the clean ones pay a little audio rate, the
 * lossy one hears no gap. */
static void
test_worst_viewer_decides (void)
{
  MeteredLossAverage v[3] = { { 0 } };

  metered_loss_average_feed (&v[0], &config, 0.0);
  metered_loss_average_feed (&v[1], &config, 0.08);
  metered_loss_average_feed (&v[2], &config, 0.02);
  g_assert_cmpuint (metered_opus_loss_percent (&config, v, 3), ==, 8);
}

/* Clamped: a clean link still gets a minimum of cover, a terrible one no
 * more than a quarter. */
static void
test_clamped (void)
{
  MeteredLossAverage v = { 0 };

  metered_loss_average_feed (&v, &config, 0.0);
  g_assert_cmpuint (metered_opus_loss_percent (&config, &v, 1), ==, 1);
  v = (MeteredLossAverage){ 0 };
  metered_loss_average_feed (&v, &config, 0.6);
  g_assert_cmpuint (metered_opus_loss_percent (&config, &v, 1), ==, 25);
  v = (MeteredLossAverage){ 0 };
  /* out of range input is taken as its bound */
  metered_loss_average_feed (&v, &config, 7.0);
  g_assert_cmpfloat (v.smoothed, ==, 1.0);
}

/* One lossy second moves it by alpha of the step, not all the way; a
 * steady loss is reached after a few reports. */
static void
test_smoothed (void)
{
  MeteredLossAverage v = { 0 };

  metered_loss_average_feed (&v, &config, 0.05);
  g_assert_cmpuint (metered_opus_loss_percent (&config, &v, 1), ==, 5);
  metered_loss_average_feed (&v, &config, 0.35);
  /* 0.05 + 0.3 x 0.30 = 0.14 */
  g_assert_cmpuint (metered_opus_loss_percent (&config, &v, 1), ==, 14);
  metered_loss_average_feed (&v, &config, 0.05);
  metered_loss_average_feed (&v, &config, 0.05);
  metered_loss_average_feed (&v, &config, 0.05);
  metered_loss_average_feed (&v, &config, 0.05);
  metered_loss_average_feed (&v, &config, 0.05);
  metered_loss_average_feed (&v, &config, 0.05);
  /* 6.06 %: rounded up, cover at least the loss */
  g_assert_cmpuint (metered_opus_loss_percent (&config, &v, 1), ==, 7);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func (
      "/opus-loss/no-report-keeps-the-guess", test_no_report_keeps_the_guess);
  g_test_add_func (
      "/opus-loss/worst-viewer-decides", test_worst_viewer_decides);
  g_test_add_func ("/opus-loss/clamped", test_clamped);
  g_test_add_func ("/opus-loss/smoothed", test_smoothed);
  return g_test_run ();
}
