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

#include "peer/metered-network-watch.h"

#include <gst/gst.h>

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

GST_DEBUG_CATEGORY_STATIC (metered_network_watch_debug);
#define GST_CAT_DEFAULT metered_network_watch_debug

struct _MeteredNetworkWatch
{
  GMainContext *context;
  GNetworkMonitor *monitor;
  gulong handler;
  guint debounce_ms;
  GSource *debounce; /* the pending call, or NULL */
  GSourceFunc func;
  gpointer data;
};

static gboolean
debounce_due (gpointer data)
{
  MeteredNetworkWatch *watch = data;

  g_clear_pointer (&watch->debounce, g_source_unref);
  watch->func (watch->data);
  return G_SOURCE_REMOVE;
}

static void
on_network_changed (
    GNetworkMonitor *monitor, gboolean available, MeteredNetworkWatch *watch)
{
  GST_DEBUG ("network changed (available %d)", available);
  if (watch->debounce) {
    g_source_destroy (watch->debounce);
    g_clear_pointer (&watch->debounce, g_source_unref);
  }
  watch->debounce = g_timeout_source_new (watch->debounce_ms);
  g_source_set_callback (watch->debounce, debounce_due, watch, NULL);
  g_source_attach (watch->debounce, watch->context);
}

/* An instance of the highest-priority implementation that initialises
 * (the NetworkManager and portal ones fail without their D-Bus service;
 * netlink then; the base one, which never signals, is left out). */
static GNetworkMonitor *
monitor_new (void)
{
  GIOExtensionPoint *ep;

  /* Registers the extension point and loads GIO's modules. */
  (void) g_network_monitor_get_default ();
  ep = g_io_extension_point_lookup (G_NETWORK_MONITOR_EXTENSION_POINT_NAME);
  for (GList *l = ep ? g_io_extension_point_get_extensions (ep) : NULL; l;
       l = l->next) {
    GType type = g_io_extension_get_type (l->data);
    g_autoptr (GError) error = NULL;
    gpointer monitor;

    if (g_str_equal (g_io_extension_get_name (l->data), "base"))
      continue;
    monitor = g_initable_new (type, NULL, &error, NULL);
    if (monitor)
      return monitor;
    GST_DEBUG ("network monitor %s: %s", g_io_extension_get_name (l->data),
        error->message);
  }
  return NULL;
}

MeteredNetworkWatch *
metered_network_watch_new (
    GMainContext *context, guint debounce_ms, GSourceFunc func, gpointer data)
{
  MeteredNetworkWatch *watch;
  GNetworkMonitor *monitor;

  GST_DEBUG_CATEGORY_INIT (metered_network_watch_debug, "meterednetwatch", 0,
      "gst-metered local network changes");
  /* The monitor signals in the thread-default context it is made in. */
  g_main_context_push_thread_default (context);
  monitor = monitor_new ();
  g_main_context_pop_thread_default (context);
  if (!monitor) {
    GST_DEBUG ("no network monitor: network changes are not watched");
    return NULL;
  }
  watch = g_new0 (MeteredNetworkWatch, 1);
  watch->context = g_main_context_ref (context);
  watch->monitor = monitor;
  watch->debounce_ms = debounce_ms;
  watch->func = func;
  watch->data = data;
  watch->handler = g_signal_connect (
      monitor, "network-changed", G_CALLBACK (on_network_changed), watch);
  GST_DEBUG ("watching network changes with %s", G_OBJECT_TYPE_NAME (monitor));
  return watch;
}

void
metered_network_watch_free (MeteredNetworkWatch *watch)
{
  if (!watch)
    return;
  g_signal_handler_disconnect (watch->monitor, watch->handler);
  if (watch->debounce) {
    g_source_destroy (watch->debounce);
    g_source_unref (watch->debounce);
  }
  g_object_unref (watch->monitor);
  g_main_context_unref (watch->context);
  g_free (watch);
}

gboolean
metered_network_host_has_address (void)
{
  struct ifaddrs *ifs = NULL;
  gboolean found = FALSE;

  if (getifaddrs (&ifs) != 0)
    return TRUE; /* cannot tell: do not hold recovery back */
  for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) ||
        (i->ifa_flags & IFF_LOOPBACK))
      continue;
    if (i->ifa_addr->sa_family == AF_INET)
      found = TRUE;
    else if (i->ifa_addr->sa_family == AF_INET6)
      found = !IN6_IS_ADDR_LINKLOCAL (
          &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr);
  }
  freeifaddrs (ifs);
  return found;
}
