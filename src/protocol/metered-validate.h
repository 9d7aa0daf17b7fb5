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

/* Identifier rules, as the SDK 1.2.0 checks them (protocol doc §5):
 * non-empty, length in UTF-16 units, no C0 (U+0000-001F), DEL, C1
 * (U+0080-009F). */
gboolean metered_channel_is_valid (const char *channel);
gboolean metered_peer_id_is_valid (const char *peer_id);
/* requestId: non-empty, <= 128 units; no control character check (SDK). */
gboolean metered_request_id_is_valid (const char *request_id);
/* _metered/, _internal/, _system/ prefixes, ASCII case-insensitive. */
gboolean metered_channel_is_reserved (const char *channel);

/* Channel patterns of publishable keys and JWT "channels" claims:
 * "*" matches any run of characters except '/', "**" matches any run,
 * everything else matches itself. "room-*" matches "room-1" but not
 * "room-1/x"; "**" matches every channel. */
gboolean metered_channel_pattern_match (
    const char *pattern, const char *channel);

G_END_DECLS
