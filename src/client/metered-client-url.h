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

/* The SDK's base-URL rules (protocol doc §1.1): it parses; scheme wss, or
 * ws only for localhost, 127.0.0.1 and ::1; path empty or "/"; no query,
 * no fragment. Error messages never contain a credential (the base URL
 * carries none). */
gboolean metered_client_url_validate (const char *base_url, GError **error);

/* <origin>/v1?<param>=<value> with value percent-encoded as JS
 * encodeURIComponent does. The origin is lower-cased and loses a default
 * port, as URL.origin does. */
char *metered_client_url_build (
    const char *base_url, const char *param, const char *value);

/* encodeURIComponent: everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ). */
char *metered_encode_uri_component (const char *value);

G_END_DECLS
