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

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The local network changing (an address gone or added, a route, a link),
 * as GLib's GNetworkMonitor sees it, debounced: a burst of changes (an
 * address removed, then a new one a second later; DHCP renewing routes
 * one by one) calls func once, debounce_ms after the last of them, on
 * context.
 *
 * GLib's default monitor is a singleton that signals in the context it
 * was first made in, which the application may never run; the watch makes
 * its own instance of the best implementation GLib has, in context.
 */

typedef struct _MeteredNetworkWatch MeteredNetworkWatch;

/* NULL (and a debug message) when GLib has no working monitor here. */
MeteredNetworkWatch *metered_network_watch_new (
    GMainContext *context, guint debounce_ms, GSourceFunc func, gpointer data);
/* Stops the watch and a pending call. On context's thread. */
void metered_network_watch_free (MeteredNetworkWatch *watch);

/* Whether the host has an address a new connection could gather on: an
 * IPv4 address, or an IPv6 one that is not link-local, on an interface
 * that is up and not loopback. */
gboolean metered_network_host_has_address (void);

G_END_DECLS
