/*
 * state.c - the agent's rollout state in the vault (see state.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "tv_mem.h"

static enum tv_status
state_key(char *buf, size_t size, const char *account, const char *tier,
          struct tv_error *err)
{
    int n;

    n = snprintf(buf, size, "rollout/%s/%s", account != NULL ? account : "-",
                 tier);
    if (n < 0 || (size_t)n >= size)
        return tv_error_set(err, TV_EINPUT,
                            "state key for tier '%s' too "
                            "long",
                            tier);
    return TV_OK;
}

static enum tv_status
state_new(const char *tier, cJSON **out, struct tv_error *err)
{
    cJSON *doc = cJSON_CreateObject();

    if (doc == NULL || tv_state_set_num(doc, "format", TV_STATE_FORMAT) < 0 ||
        tv_state_set_str(doc, "tier", tier) < 0) {
        cJSON_Delete(doc);
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    *out = doc;
    return TV_OK;
}

enum tv_status
tv_state_load(struct tv_vault *v, const char *account, const char *tier,
              cJSON **out, struct tv_error *err)
{
    struct tv_secret *blob = NULL;
    char key[TV_NAME_MAX * 2];
    enum tv_status st;
    cJSON *doc;

    *out = NULL;
    st = state_key(key, sizeof(key), account, tier, err);
    if (st != TV_OK)
        return st;
    st = tv_vault_state_get(v, key, &blob, err);
    if (st == TV_ENOTFOUND) {
        tv_error_clear(err);
        return state_new(tier, out, err);
    }
    if (st != TV_OK)
        return st;
    doc = cJSON_ParseWithLength((const char *)blob->data, blob->len);
    tv_secret_free(blob);
    if (doc == NULL || !cJSON_IsObject(doc) ||
        tv_state_num(doc, "format") != TV_STATE_FORMAT) {
        cJSON_Delete(doc);
        return tv_error_set(err, TV_EFORMAT,
                            "rollout state of tier '%s' does not parse", tier);
    }
    *out = doc;
    return TV_OK;
}

enum tv_status
tv_state_save(struct tv_vault *v, const char *account, const char *tier,
              const cJSON *doc, struct tv_error *err)
{
    char key[TV_NAME_MAX * 2];
    enum tv_status st;
    char *text;

    st = state_key(key, sizeof(key), account, tier, err);
    if (st != TV_OK)
        return st;
    text = cJSON_PrintUnformatted(doc);
    if (text == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    st = tv_vault_state_put(v, key, text, strlen(text), err);
    free(text);
    if (st != TV_OK)
        tv_error_prefix(err, "cannot save the state of tier '%s'", tier);
    return st;
}

cJSON *
tv_state_obj(cJSON *obj, const char *key)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (cJSON_IsObject(item))
        return item;
    if (item != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    return cJSON_AddObjectToObject(obj, key);
}

const char *
tv_state_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(item) ? item->valuestring : "";
}

double
tv_state_num(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsNumber(item) ? item->valuedouble : 0;
}

/* Sets obj.key to item (consumed), replacing an earlier member. */
static int
set_item(cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item) ? 0 : -1;
    if (cJSON_AddItemToObject(obj, key, item))
        return 0;
    cJSON_Delete(item);
    return -1;
}

int
tv_state_set_str(cJSON *obj, const char *key, const char *value)
{
    return set_item(obj, key, cJSON_CreateString(value != NULL ? value : ""));
}

int
tv_state_set_num(cJSON *obj, const char *key, double value)
{
    return set_item(obj, key, cJSON_CreateNumber(value));
}

int
tv_state_set_secret(cJSON *secrets, const char *name, const char *service,
                    const char *vname, uint32_t version, const char *fp)
{
    cJSON *s = tv_state_obj(secrets, name);

    if (s == NULL || tv_state_set_str(s, "service", service) < 0 ||
        tv_state_set_str(s, "name", vname) < 0 ||
        tv_state_set_num(s, "version", version) < 0 ||
        tv_state_set_str(s, "fp", fp) < 0)
        return -1;
    return 0;
}
