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

/* Shared helpers for the libFuzzer targets (header-only). */

#pragma once

#include "protocol/metered-protocol.h"

#include <stdint.h>
#include <stdlib.h>

/* A broken invariant is a crash libFuzzer records, in every build type
 * (g_assert may be compiled out with G_DISABLE_ASSERT). */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (G_UNLIKELY (!(cond))) {                                                \
      g_printerr ("%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      abort ();                                                                \
    }                                                                          \
  } while (0)

/* Criticals (g_return_if_fail) and warnings are bugs too. */
static inline void
fuzz_init_glib (void)
{
  g_log_set_always_fatal (
      G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_FATAL_MASK);
}

static inline char *
fuzz_strndup (const uint8_t *data, size_t size)
{
  return g_strndup ((const char *) data, size);
}
