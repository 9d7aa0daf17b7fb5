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

/* The pure protocol core: no sockets, no timers, no GStreamer. */
#include "protocol/metered-limits.h"
#include "protocol/metered-json-scan.h"
#include "protocol/metered-validate.h"
#include "protocol/metered-codes.h"
#include "protocol/metered-backoff.h"
#include "protocol/metered-frame.h"
#include "protocol/metered-ice-servers.h"
#include "protocol/metered-jwt.h"
#include "protocol/metered-scrub.h"
#include "protocol/metered-rate.h"
