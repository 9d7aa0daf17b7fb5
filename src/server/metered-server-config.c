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

#include "metered-server-config.h"

#include <json-glib/json-glib.h>

static void
app_free (MeteredApp *app)
{
  g_free (app->id);
  g_free (app);
}

static void
key_free (MeteredPublishableKey *key)
{
  g_free (key->key);
  g_strfreev (key->channels);
  g_strfreev (key->allowed_origins);
  g_free (key);
}

static void
secret_free (MeteredSecret *secret)
{
  g_free (secret->kid);
  g_bytes_unref (secret->secret);
  g_free (secret);
}

MeteredServerConfig *
metered_server_config_new (void)
{
  MeteredServerConfig *config = g_new0 (MeteredServerConfig, 1);

  config->apps = g_ptr_array_new_with_free_func ((GDestroyNotify) app_free);
  config->keys = g_hash_table_new_full (
      g_str_hash, g_str_equal, NULL, (GDestroyNotify) key_free);
  config->secrets = g_hash_table_new_full (
      g_str_hash, g_str_equal, NULL, (GDestroyNotify) secret_free);
  return config;
}

void
metered_server_config_free (MeteredServerConfig *config)
{
  if (!config)
    return;
  g_hash_table_unref (config->keys);
  g_hash_table_unref (config->secrets);
  g_ptr_array_unref (config->apps);
  g_free (config->cluster_url);
  g_free (config->cluster_node_id);
  g_free (config);
}

MeteredApp *
metered_server_config_find_app (MeteredServerConfig *config, const char *app_id)
{
  for (guint i = 0; i < config->apps->len; i++) {
    MeteredApp *app = g_ptr_array_index (config->apps, i);
    if (g_strcmp0 (app->id, app_id) == 0)
      return app;
  }
  return NULL;
}

gboolean
metered_actions_from_strv (const char *const *names, guint *out)
{
  guint actions = 0;

  for (; names && *names; names++) {
    if (g_str_equal (*names, "publish"))
      actions |= METERED_ACTION_PUBLISH;
    else if (g_str_equal (*names, "subscribe"))
      actions |= METERED_ACTION_SUBSCRIBE;
    else if (g_str_equal (*names, "presence"))
      actions |= METERED_ACTION_PRESENCE;
    else if (g_str_equal (*names, "send"))
      actions |= METERED_ACTION_SEND;
    else
      return FALSE;
  }
  *out = actions;
  return TRUE;
}

/* A JSON array of strings as a GStrv; NULL with error otherwise. */
static GStrv
strv_member (
    JsonObject *obj, const char *member, const char *where, GError **error)
{
  JsonNode *node = json_object_get_member (obj, member);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array;

  if (!node || !JSON_NODE_HOLDS_ARRAY (node))
    goto bad;
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *item = json_array_get_element (array, i);
    if (!JSON_NODE_HOLDS_VALUE (item) ||
        json_node_get_value_type (item) != G_TYPE_STRING)
      goto bad;
    g_strv_builder_add (builder, json_node_get_string (item));
  }
  return g_strv_builder_end (builder);

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
      "%s: \"%s\" must be an array of strings", where, member);
  return NULL;
}

static gboolean
load_key (MeteredServerConfig *config, MeteredApp *app, JsonNode *node,
    guint index, GError **error)
{
  g_autofree char *where =
      g_strdup_printf ("app \"%s\" publishableKeys[%u]", app->id, index);
  MeteredPublishableKey *key;
  JsonObject *obj;
  const char *value;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    goto bad;
  obj = json_node_get_object (node);
  value = json_object_get_string_member_with_default (obj, "key", NULL);
  if (!value || !g_str_has_prefix (value, "pk_"))
    goto bad;
  if (g_hash_table_contains (config->keys, value)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "%s: the key is declared twice", where);
    return FALSE;
  }

  key = g_new0 (MeteredPublishableKey, 1);
  key->key = g_strdup (value);
  key->app = app;
  key->actions = METERED_ACTION_ALL;
  g_hash_table_insert (config->keys, key->key, key);

  if (!(key->channels = strv_member (obj, "channels", where, error)))
    return FALSE;
  if (json_object_has_member (obj, "actions")) {
    g_auto (GStrv) names = strv_member (obj, "actions", where, error);
    if (!names)
      return FALSE;
    if (!metered_actions_from_strv (
            (const char *const *) names, &key->actions)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "%s: unknown action (publish, subscribe, presence, send)", where);
      return FALSE;
    }
  }
  if (json_object_has_member (obj, "allowedOrigins")) {
    key->allowed_origins = strv_member (obj, "allowedOrigins", where, error);
    if (!key->allowed_origins)
      return FALSE;
  }
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
      "%s: needs a string \"key\" starting with pk_", where);
  return FALSE;
}

static gboolean
load_secret (MeteredServerConfig *config, MeteredApp *app, JsonNode *node,
    guint index, GError **error)
{
  MeteredSecret *secret;
  JsonObject *obj;
  const char *kid, *value;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    goto bad;
  obj = json_node_get_object (node);
  kid = json_object_get_string_member_with_default (obj, "kid", NULL);
  value = json_object_get_string_member_with_default (obj, "secret", NULL);
  if (!kid || !*kid || !value || !*value)
    goto bad;
  if (g_hash_table_contains (config->secrets, kid)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "app \"%s\": kid \"%s\" is declared twice", app->id, kid);
    return FALSE;
  }
  secret = g_new0 (MeteredSecret, 1);
  secret->kid = g_strdup (kid);
  secret->app = app;
  secret->secret = g_bytes_new (value, strlen (value));
  g_hash_table_insert (config->secrets, secret->kid, secret);
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
      "app \"%s\" secrets[%u]: needs non-empty strings \"kid\" and "
      "\"secret\"",
      app->id, index);
  return FALSE;
}

/* "history": {"maxMessages": N, "maxAgeSeconds": S}, both optional. */
static gboolean
load_history (MeteredApp *app, JsonObject *obj, GError **error)
{
  JsonNode *node = json_object_get_member (obj, "history");
  JsonObject *h;
  gint64 v;

  app->history_max_messages = METERED_HISTORY_DEFAULT_MAX_MESSAGES;
  app->history_max_age_ms = METERED_HISTORY_DEFAULT_MAX_AGE_S * 1000;
  if (!node)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    goto bad;
  h = json_node_get_object (node);
  if (json_object_has_member (h, "maxMessages")) {
    v = json_object_get_int_member_with_default (h, "maxMessages", -1);
    if (v < 0 || v > METERED_HISTORY_LIMIT_MAX_MESSAGES)
      goto bad;
    app->history_max_messages = (guint) v;
  }
  if (json_object_has_member (h, "maxAgeSeconds")) {
    v = json_object_get_int_member_with_default (h, "maxAgeSeconds", -1);
    if (v < 1 || v > METERED_HISTORY_LIMIT_MAX_AGE_S)
      goto bad;
    app->history_max_age_ms = v * 1000;
  }
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
      "app \"%s\": history must be an object with maxMessages 0..%d and "
      "maxAgeSeconds 1..%d",
      app->id, METERED_HISTORY_LIMIT_MAX_MESSAGES,
      METERED_HISTORY_LIMIT_MAX_AGE_S);
  return FALSE;
}

static gboolean
load_app (
    MeteredServerConfig *config, JsonNode *node, guint index, GError **error)
{
  MeteredApp *app;
  JsonObject *obj;
  const char *id;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "apps[%u] must be an object", index);
    return FALSE;
  }
  obj = json_node_get_object (node);
  id = json_object_get_string_member_with_default (obj, "id", NULL);
  if (!id || !*id) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "apps[%u] needs a non-empty string \"id\"", index);
    return FALSE;
  }
  if (metered_server_config_find_app (config, id)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "app \"%s\" is declared twice", id);
    return FALSE;
  }

  app = g_new0 (MeteredApp, 1);
  app->id = g_strdup (id);
  app->max_connections = 1000;
  g_ptr_array_add (config->apps, app);

  if (json_object_has_member (obj, "maxConnections")) {
    gint64 max =
        json_object_get_int_member_with_default (obj, "maxConnections", -1);
    if (max < 0 || max > G_MAXUINT32) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "app \"%s\": maxConnections must be a non-negative integer", id);
      return FALSE;
    }
    app->max_connections = (guint) max;
  }
  app->suspended =
      json_object_get_boolean_member_with_default (obj, "suspended", FALSE);
  if (!load_history (app, obj, error))
    return FALSE;

  if (json_object_has_member (obj, "publishableKeys")) {
    JsonArray *keys = json_object_get_array_member (obj, "publishableKeys");
    for (guint i = 0; keys && i < json_array_get_length (keys); i++)
      if (!load_key (config, app, json_array_get_element (keys, i), i, error))
        return FALSE;
  }
  if (json_object_has_member (obj, "secrets")) {
    JsonArray *secrets = json_object_get_array_member (obj, "secrets");
    for (guint i = 0; secrets && i < json_array_get_length (secrets); i++)
      if (!load_secret (
              config, app, json_array_get_element (secrets, i), i, error))
        return FALSE;
  }
  return TRUE;
}

/* "cluster": {"redis": "redis://…", "nodeId": "n1"}. The URL may hold a
 * password: errors never quote it. */
static gboolean
load_cluster (MeteredServerConfig *config, JsonObject *root, GError **error)
{
  JsonNode *node = json_object_get_member (root, "cluster");
  JsonObject *c;
  const char *names[] = { "redis", "nodeId" };
  char **slots[] = { &config->cluster_url, &config->cluster_node_id };

  if (!node)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "\"cluster\" must be an object with \"redis\" and \"nodeId\"");
    return FALSE;
  }
  c = json_node_get_object (node);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    JsonNode *v = json_object_get_member (c, names[i]);
    if (!v || !JSON_NODE_HOLDS_VALUE (v) ||
        json_node_get_value_type (v) != G_TYPE_STRING ||
        !*json_node_get_string (v)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "\"cluster\".\"%s\" must be a non-empty string", names[i]);
      return FALSE;
    }
    g_free (*slots[i]);
    *slots[i] = g_strdup (json_node_get_string (v));
  }
  return TRUE;
}

gboolean
metered_server_config_load_data (
    MeteredServerConfig *config, const char *json, gsize len, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonArray *apps;
  JsonNode *apps_node;

  if (!json_parser_load_from_data (parser, json, len, error))
    return FALSE;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root) ||
      !(apps_node =
              json_object_get_member (json_node_get_object (root), "apps")) ||
      !JSON_NODE_HOLDS_ARRAY (apps_node)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "the keys file must be an object with an \"apps\" array");
    return FALSE;
  }
  apps = json_node_get_array (apps_node);
  for (guint i = 0; i < json_array_get_length (apps); i++)
    if (!load_app (config, json_array_get_element (apps, i), i, error))
      return FALSE;
  return load_cluster (config, json_node_get_object (root), error);
}

gboolean
metered_server_config_load_file (
    MeteredServerConfig *config, const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len;
  g_autoptr (GError) local = NULL;

  if (!g_file_get_contents (path, &contents, &len, error))
    return FALSE;
  if (!metered_server_config_load_data (config, contents, len, &local)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path,
        local->message);
    return FALSE;
  }
  return TRUE;
}

void
metered_server_config_add_dev_app (MeteredServerConfig *config)
{
  static const char dev[] =
      "{\"apps\":[{\"id\":\"" METERED_DEV_APP_ID "\","
      "\"maxConnections\":1000,"
      "\"publishableKeys\":[{\"key\":\"" METERED_DEV_PUBLISHABLE_KEY "\","
      "\"channels\":[\"**\"],\"allowedOrigins\":[\"*\"]}],"
      "\"secrets\":[{\"kid\":\"" METERED_DEV_KID
      "\",\"secret\":\"" METERED_DEV_SECRET "\"}]}]}";

  if (!metered_server_config_load_data (config, dev, sizeof dev - 1, NULL))
    g_error ("the built-in development app does not load");
}
