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

/* Credential scrubbing for log lines and error strings: what a person
 * reading a log needs stays, what would let them impersonate goes. */

/* Replaces the values of key=, token=, access_token=, secret= and
 * password= query parameters with "***". */
char *metered_scrub_url (const char *url);

/* Replaces credentials in free text (SDP, JSON, headers): a=ice-pwd: and
 * a=ice-ufrag: values, JSON "credential", "password", "token", "key",
 * "secret" string values, Authorization: Bearer values, and URL query
 * credentials as metered_scrub_url does. */
char *metered_scrub_text (const char *text);

G_END_DECLS
