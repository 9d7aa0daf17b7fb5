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

/* What the keys file declares (docs/metered-server.md): apps with their
 * publishable keys, JWT secrets and limits. Runtime changes made through
 * the admin API (suspend, revoke) live here too. */

typedef enum
{
  METERED_ACTION_PUBLISH = 1 << 0,
  METERED_ACTION_SUBSCRIBE = 1 << 1,
  METERED_ACTION_PRESENCE = 1 << 2,
  METERED_ACTION_SEND = 1 << 3,
  METERED_ACTION_ALL = 0xf,
} MeteredActions;

typedef struct _MeteredApp MeteredApp;

typedef struct
{
  char *key;
  MeteredApp *app; /* not owned */
  GStrv channels;
  guint actions;
  GStrv allowed_origins; /* NULL or contains "*" = any */
  gboolean revoked;
} MeteredPublishableKey;

typedef struct
{
  char *kid;
  MeteredApp *app; /* not owned */
  GBytes *secret;
  gboolean revoked;
} MeteredSecret;

struct _MeteredApp
{
  char *id;
  guint max_connections;
  gboolean suspended;
  guint n_connections; /* maintained by the hub */
  /* Channel history (keys file "history"; docs/metered-server.md). */
  guint history_max_messages;
  gint64 history_max_age_ms;
};

/* Defaults and bounds of an app's "history" object. */
#define METERED_HISTORY_DEFAULT_MAX_MESSAGES 1000
#define METERED_HISTORY_DEFAULT_MAX_AGE_S 120
#define METERED_HISTORY_LIMIT_MAX_MESSAGES 100000
#define METERED_HISTORY_LIMIT_MAX_AGE_S 86400

typedef struct
{
  GPtrArray *apps; /* MeteredApp* */
  GHashTable *keys; /* key -> MeteredPublishableKey* */
  GHashTable *secrets; /* kid -> MeteredSecret* */
  /* Keys file "cluster": {"redis": URL, "nodeId": ID} (the command
   * line's --cluster / --node-id win); NULL when absent. */
  char *cluster_url;
  char *cluster_node_id;
} MeteredServerConfig;

#define METERED_DEV_APP_ID "dev"
#define METERED_DEV_PUBLISHABLE_KEY "pk_dev_local"
#define METERED_DEV_SECRET "sk_dev_local"
#define METERED_DEV_KID "dev"
#define METERED_DEV_ADMIN_TOKEN "admin_dev_local"

MeteredServerConfig *metered_server_config_new (void);
void metered_server_config_free (MeteredServerConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MeteredServerConfig, metered_server_config_free)

/* Adds the apps of a keys file (JSON). Errors name the offending entry
 * but never print a key or a secret. */
gboolean metered_server_config_load_file (
    MeteredServerConfig *config, const char *path, GError **error);
gboolean metered_server_config_load_data (
    MeteredServerConfig *config, const char *json, gsize len, GError **error);
/* Adds the development app of --dev. */
void metered_server_config_add_dev_app (MeteredServerConfig *config);

MeteredApp *metered_server_config_find_app (
    MeteredServerConfig *config, const char *app_id);
/* Parses "publish,subscribe" style lists and JSON arrays of action names.
 * Returns FALSE on an unknown name. */
gboolean metered_actions_from_strv (const char *const *names, guint *out);

G_END_DECLS
