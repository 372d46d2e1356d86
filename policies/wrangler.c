/*
 * wrangler.c - policy init: a format-1 policy from Wrangler configuration
 * files (see tv_wrangler.h and docs/policy.md).  Bindings and secrets are
 * not inherited by Wrangler environments, so with an environment they are
 * read from env.<NAME> only; account_id is inherited.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_int.h"
#include "tv_jsonc.h"
#include "tv_policy.h"
#include "tv_toml.h"
#include "tv_wrangler.h"

static const struct {
    const char *glob;
    const char *tier;
} builtin_rules[] = {
    { "STRIPE_*", "payment" },
    { "CREEM_*", "payment" },
    { "OPENAI_*", "ai" },
};
#define NBUILTIN (sizeof(builtin_rules) / sizeof(builtin_rules[0]))

static const char *const config_names[] = { "wrangler.json", "wrangler.jsonc",
                                            "wrangler.toml" };

/* One configuration file, read. */
struct config {
    char *path;
    char *dir;
    char *worker;
    char section_path[TV_JSON_PATH_MAX]; /* "" or "env.NAME" */
    cJSON *root;
    const cJSON *section; /* root, or env.NAME */
};

struct init {
    const struct tv_wrangler_opts *o;
    struct tv_error *err;
    struct config *cfg;
    size_t ncfg;
    cJSON *workers; /* the policy's workers array */
    cJSON *d1;      /* the policy's d1 array */
};

static void warn(const struct init *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warn(const struct init *in, const char *fmt, ...)
{
    char msg[TV_ERROR_MSG_MAX];
    va_list ap;

    if (in->o->warn == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    in->o->warn(in->o->warn_ctx, msg);
}

static enum tv_status
nomem(struct tv_error *err)
{
    return tv_error_set(err, TV_ENOMEM, "out of memory");
}

enum tv_status
tv_tier_rule_parse(const char *arg, struct tv_tier_rule *out,
                   struct tv_error *err)
{
    const char *eq = arg != NULL ? strchr(arg, '=') : NULL;
    size_t glen;

    if (eq == NULL || eq == arg)
        return tv_error_set(err, TV_EINPUT, "tier rule '%s' is not GLOB=TIER",
                            arg ? arg : "");
    glen = (size_t)(eq - arg);
    if (glen > TV_GLOB_MAX)
        return tv_error_set(err, TV_EINPUT, "tier rule '%s': glob too long",
                            arg);
    if (!tv_tier_valid(eq + 1))
        return tv_error_set(err, TV_EINPUT,
                            "tier rule '%s': invalid tier '%s' "
                            "([a-z][a-z0-9_-]{0,31})",
                            arg, eq + 1);
    memcpy(out->glob, arg, glen);
    out->glob[glen] = '\0';
    snprintf(out->tier, sizeof(out->tier), "%s", eq + 1);
    return TV_OK;
}

const char *
tv_tier_for(const struct tv_tier_rule *rules, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (fnmatch(rules[i].glob, name, 0) == 0)
            return rules[i].tier;
    }
    for (i = 0; i < NBUILTIN; i++) {
        if (fnmatch(builtin_rules[i].glob, name, 0) == 0)
            return builtin_rules[i].tier;
    }
    return "core";
}

static int
is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

enum tv_status
tv_wrangler_find(const char *path, char **out, struct tv_error *err)
{
    struct stat st;
    size_t i;
    char *p;

    if (stat(path, &st) != 0)
        return tv_error_set(err, errno == ENOENT ? TV_ENOTFOUND : TV_EIO,
                            "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        *out = strdup(path);
        return *out == NULL ? nomem(err) : TV_OK;
    }
    for (i = 0; i < sizeof(config_names) / sizeof(config_names[0]); i++) {
        p = tv_path_join(path, config_names[i]);
        if (p == NULL)
            return nomem(err);
        if (is_file(p)) {
            *out = p;
            return TV_OK;
        }
        free(p);
    }
    return tv_error_set(err, TV_ENOTFOUND,
                        "no wrangler.json, wrangler.jsonc or wrangler.toml "
                        "in '%s'",
                        path);
}

static int
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static enum tv_status
read_config(const char *path, cJSON **root, struct tv_error *err)
{
    enum tv_status rc;
    size_t len;
    char *text;

    if (has_suffix(path, ".toml"))
        return tv_toml_load(path, root, err);
    rc = tv_file_read(path, TV_CONFIG_MAX, &text, &len, err);
    if (rc != TV_OK)
        return rc;
    rc = tv_jsonc_parse(text, len, path, root, err);
    free(text);
    return rc;
}

/* A member of cfg's section that must be of type, or absent (NULL). */
static enum tv_status
field(struct init *in, const struct config *c, const cJSON *obj,
      const char *path, const char *key, int type, const cJSON **out)
{
    char sub[TV_JSON_PATH_MAX], d[128];
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = NULL;
    if (it == NULL)
        return TV_OK;
    if ((it->type & 0xff) != type) {
        tv_json_path(sub, sizeof(sub), path, key, 0);
        return tv_error_set(in->err, TV_EINPUT, "%s: %s: expected %s, got %s",
                            c->path, sub,
                            type == cJSON_String  ? "a string"
                            : type == cJSON_Array ? "an array"
                                                  : "an object",
                            tv_json_describe(d, sizeof(d), it));
    }
    *out = it;
    return TV_OK;
}

static enum tv_status
load_config(struct init *in, const char *from, struct config *c)
{
    const char *env = in->o->env;
    const cJSON *name, *envs, *sect;
    enum tv_status rc;
    char q[96];
    size_t n;

    rc = tv_wrangler_find(from, &c->path, in->err);
    if (rc == TV_OK)
        rc = read_config(c->path, &c->root, in->err);
    if (rc != TV_OK)
        return rc;
    c->dir = strrchr(c->path, '/') == NULL
                 ? strdup(".")
                 : strndup(c->path, (size_t)(strrchr(c->path, '/') - c->path));
    if (c->dir == NULL)
        return nomem(in->err);
    if (!cJSON_IsObject(c->root))
        return tv_error_set(in->err, TV_EINPUT, "%s: expected an object",
                            c->path);
    c->section = c->root;
    rc = field(in, c, c->root, "", "name", cJSON_String, &name);
    if (rc != TV_OK)
        return rc;
    if (name == NULL)
        return tv_error_set(in->err, TV_EINPUT, "%s: no \"name\"", c->path);
    if (env != NULL) {
        rc = field(in, c, c->root, "", "env", cJSON_Object, &envs);
        sect =
            envs != NULL ? cJSON_GetObjectItemCaseSensitive(envs, env) : NULL;
        if (rc != TV_OK)
            return rc;
        if (!cJSON_IsObject(sect))
            return tv_error_set(in->err, TV_EINPUT,
                                "%s: no environment %s (env.%s)", c->path,
                                tv_json_quote(q, sizeof(q), env), env);
        c->section = sect;
        tv_json_path(c->section_path, sizeof(c->section_path), "env", env, 0);
    }
    n = strlen(name->valuestring) + (env ? strlen(env) + 1 : 0) + 1;
    c->worker = malloc(n);
    if (c->worker == NULL)
        return nomem(in->err);
    snprintf(c->worker, n, "%s%s%s", name->valuestring, env ? "-" : "",
             env ? env : "");
    if (!tv_policy_worker_name_valid(c->worker))
        return tv_error_set(in->err, TV_EINPUT,
                            "%s: name: invalid worker name %s", c->path,
                            tv_json_quote(q, sizeof(q), c->worker));
    return TV_OK;
}

/* The account_id every configuration agrees on, or NULL. */
static enum tv_status
account_of(struct init *in, const char **out)
{
    const struct config *c, *first = NULL;
    const cJSON *a, *top;
    enum tv_status rc;
    char q[96];
    size_t i;

    *out = NULL;
    for (i = 0; i < in->ncfg; i++) {
        c = &in->cfg[i];
        rc = field(in, c, c->section, c->section_path, "account_id",
                   cJSON_String, &a);
        if (rc != TV_OK)
            return rc;
        /* account_id is inherited by environments */
        if (a == NULL && c->section != c->root) {
            rc = field(in, c, c->root, "", "account_id", cJSON_String, &top);
            if (rc != TV_OK)
                return rc;
            a = top;
        }
        if (a == NULL)
            continue;
        if (!tv_policy_account_valid(a->valuestring))
            return tv_error_set(
                in->err, TV_EINPUT, "%s: account_id: %s is not 32 hex digits",
                c->path, tv_json_quote(q, sizeof(q), a->valuestring));
        if (*out != NULL && strcasecmp(*out, a->valuestring) != 0)
            return tv_error_set(in->err, TV_EINPUT,
                                "account_id differs: '%s' has %s, '%s' has "
                                "%s",
                                first->path, *out, c->path, a->valuestring);
        if (*out == NULL) {
            *out = a->valuestring;
            first = c;
        }
    }
    return TV_OK;
}

/* The object of list whose "name" is name, or NULL. */
static cJSON *
find_named(cJSON *list, const char *name)
{
    cJSON *w;

    cJSON_ArrayForEach(w, list)
    {
        if (strcmp(cJSON_GetObjectItem(w, "name")->valuestring, name) == 0)
            return w;
    }
    return NULL;
}

static int
list_has(const cJSON *list, const char *s)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

static enum tv_status
add_bindings(struct init *in, const struct config *c, cJSON *w)
{
    char path[TV_JSON_PATH_MAX], elem[TV_JSON_PATH_MAX], target[160];
    const cJSON *svcs, *it, *svc, *envname;
    cJSON *list = NULL;
    enum tv_status rc;
    size_t i = 0;

    rc = field(in, c, c->section, c->section_path, "services", cJSON_Array,
               &svcs);
    if (rc != TV_OK || svcs == NULL)
        return rc;
    tv_json_path(path, sizeof(path), c->section_path, "services", 0);
    for (it = svcs->child; it != NULL; it = it->next, i++) {
        tv_json_path(elem, sizeof(elem), path, NULL, i);
        svc = cJSON_GetObjectItemCaseSensitive(it, "service");
        envname = cJSON_GetObjectItemCaseSensitive(it, "environment");
        if (!cJSON_IsString(svc) ||
            (envname != NULL && !cJSON_IsString(envname)))
            return tv_error_set(in->err, TV_EINPUT,
                                "%s: %s: expected {\"binding\", \"service\"}",
                                c->path, elem);
        snprintf(target, sizeof(target), "%s%s%s", svc->valuestring,
                 envname ? "-" : "", envname ? envname->valuestring : "");
        if (strcmp(target, c->worker) == 0) {
            warn(in, "'%s': %s binds '%s' to itself: left out", c->path, elem,
                 target);
            continue;
        }
        if (!tv_policy_worker_name_valid(target))
            return tv_error_set(in->err, TV_EINPUT,
                                "%s: %s: invalid worker name '%s'", c->path,
                                elem, target);
        if (list == NULL &&
            (list = cJSON_AddArrayToObject(w, "bindings")) == NULL)
            return nomem(in->err);
        if (!list_has(list, target) &&
            !cJSON_AddItemToArray(list, cJSON_CreateString(target)))
            return nomem(in->err);
    }
    return TV_OK;
}

static enum tv_status
add_secret(struct init *in, cJSON *secrets, const char *name, int required)
{
    cJSON *s;

    if (find_named(secrets, name) != NULL)
        return TV_OK;
    s = cJSON_CreateObject();
    if (s == NULL || !cJSON_AddItemToArray(secrets, s) ||
        cJSON_AddStringToObject(s, "name", name) == NULL ||
        cJSON_AddStringToObject(
            s, "tier", tv_tier_for(in->o->rules, in->o->nrules, name)) ==
            NULL ||
        cJSON_AddBoolToObject(s, "required", required) == NULL)
        return nomem(in->err);
    return TV_OK;
}

/* secrets.required: the names `wrangler deploy` insists on. */
static enum tv_status
add_required(struct init *in, const struct config *c, cJSON *secrets,
             int *declared)
{
    char path[TV_JSON_PATH_MAX], elem[TV_JSON_PATH_MAX], d[128];
    const cJSON *sec, *req, *it;
    enum tv_status rc;
    size_t i = 0;

    *declared = 0;
    rc = field(in, c, c->section, c->section_path, "secrets", cJSON_Object,
               &sec);
    if (rc != TV_OK || sec == NULL)
        return rc;
    tv_json_path(path, sizeof(path), c->section_path, "secrets", 0);
    rc = field(in, c, sec, path, "required", cJSON_Array, &req);
    if (rc != TV_OK || req == NULL)
        return rc;
    *declared = 1;
    tv_json_path(path, sizeof(path), path, "required", 0);
    for (it = req->child; it != NULL; it = it->next, i++) {
        tv_json_path(elem, sizeof(elem), path, NULL, i);
        if (!cJSON_IsString(it) || !tv_name_valid(it->valuestring))
            return tv_error_set(
                in->err, TV_EINPUT, "%s: %s: expected a secret name, got %s",
                c->path, elem, tv_json_describe(d, sizeof(d), it));
        rc = add_secret(in, secrets, it->valuestring, 1);
        if (rc != TV_OK)
            return rc;
    }
    return TV_OK;
}

/* The names in .dev.vars.<env> (or .dev.vars) beside the config. */
static enum tv_status
add_dev_vars(struct init *in, const struct config *c, cJSON *secrets,
             int declared)
{
    char base[64];
    const cJSON *vars, *it;
    cJSON *names = NULL;
    enum tv_status rc = TV_OK;
    char *path;

    snprintf(base, sizeof(base), ".dev.vars.%s", in->o->env ? in->o->env : "");
    path = tv_path_join(c->dir, base);
    if (path != NULL && (in->o->env == NULL || !is_file(path))) {
        free(path);
        path = tv_path_join(c->dir, ".dev.vars");
    }
    if (path == NULL)
        return nomem(in->err);
    if (!is_file(path))
        goto out;
    rc = field(in, c, c->section, c->section_path, "vars", cJSON_Object, &vars);
    if (rc == TV_OK)
        rc = tv_dotenv_names(path, &names, in->err);
    if (rc != TV_OK)
        goto out;
    cJSON_ArrayForEach(it, names)
    {
        /* A plain var overridden for local development, not a secret. */
        if (vars != NULL &&
            cJSON_GetObjectItemCaseSensitive(vars, it->valuestring) != NULL)
            continue;
        if (!tv_name_valid(it->valuestring)) {
            warn(in, "'%s': name '%s' cannot be a secret name: left out", path,
                 it->valuestring);
            continue;
        }
        rc = add_secret(in, secrets, it->valuestring, !declared);
        if (rc != TV_OK)
            goto out;
    }
out:
    cJSON_Delete(names);
    free(path);
    return rc;
}

static enum tv_status
add_d1(struct init *in, const struct config *c)
{
    char path[TV_JSON_PATH_MAX], elem[TV_JSON_PATH_MAX], q[96];
    const cJSON *dbs, *it, *id, *name, *dir, *table;
    const cJSON *e;
    enum tv_status rc;
    cJSON *entry;
    size_t i = 0;
    char *resolved;

    rc = field(in, c, c->section, c->section_path, "d1_databases", cJSON_Array,
               &dbs);
    if (rc != TV_OK || dbs == NULL)
        return rc;
    tv_json_path(path, sizeof(path), c->section_path, "d1_databases", 0);
    for (it = dbs->child; it != NULL; it = it->next, i++) {
        tv_json_path(elem, sizeof(elem), path, NULL, i);
        id = cJSON_GetObjectItemCaseSensitive(it, "database_id");
        name = cJSON_GetObjectItemCaseSensitive(it, "database_name");
        dir = cJSON_GetObjectItemCaseSensitive(it, "migrations_dir");
        table = cJSON_GetObjectItemCaseSensitive(it, "migrations_table");
        if (id == NULL) {
            warn(in, "'%s': %s has no database_id: left out", c->path, elem);
            continue;
        }
        if (!cJSON_IsString(id) || !tv_policy_uuid_valid(id->valuestring))
            return tv_error_set(in->err, TV_EINPUT,
                                "%s: %s.database_id: not a uuid", c->path,
                                elem);
        if ((name != NULL && !cJSON_IsString(name)) ||
            (dir != NULL && !cJSON_IsString(dir)) ||
            (table != NULL && !cJSON_IsString(table)))
            return tv_error_set(in->err, TV_EINPUT,
                                "%s: %s: database_name, migrations_dir and "
                                "migrations_table must be strings",
                                c->path, elem);
        resolved =
            tv_path_join(c->dir, dir != NULL ? dir->valuestring : "migrations");
        if (resolved == NULL)
            return nomem(in->err);
        cJSON_ArrayForEach(e, in->d1)
        {
            if (strcasecmp(cJSON_GetObjectItem(e, "database_id")->valuestring,
                           id->valuestring) == 0)
                break;
        }
        if (e != NULL) {
            if (strcmp(cJSON_GetObjectItem(e, "migrations_dir")->valuestring,
                       resolved) != 0)
                warn(in,
                     "'%s': database %s is also used with migrations in "
                     "'%s': kept those",
                     c->path, tv_json_quote(q, sizeof(q), id->valuestring),
                     cJSON_GetObjectItem(e, "migrations_dir")->valuestring);
            free(resolved);
            continue;
        }
        entry = cJSON_CreateObject();
        if (entry == NULL || !cJSON_AddItemToArray(in->d1, entry) ||
            !cJSON_AddStringToObject(entry, "database_id", id->valuestring) ||
            (name != NULL &&
             !cJSON_AddStringToObject(entry, "name", name->valuestring)) ||
            !cJSON_AddStringToObject(entry, "migrations_dir", resolved) ||
            (table != NULL &&
             !cJSON_AddStringToObject(entry, "migrations_table",
                                      table->valuestring))) {
            free(resolved);
            return nomem(in->err);
        }
        free(resolved);
    }
    return TV_OK;
}

static enum tv_status
add_worker(struct init *in, const struct config *c)
{
    cJSON *w, *secrets;
    enum tv_status rc;
    int declared;

    w = cJSON_CreateObject();
    if (w == NULL || !cJSON_AddItemToArray(in->workers, w) ||
        cJSON_AddStringToObject(w, "name", c->worker) == NULL)
        return nomem(in->err);
    rc = add_bindings(in, c, w);
    if (rc != TV_OK)
        return rc;
    secrets = cJSON_AddArrayToObject(w, "secrets");
    if (secrets == NULL)
        return nomem(in->err);
    rc = add_required(in, c, secrets, &declared);
    if (rc == TV_OK)
        rc = add_dev_vars(in, c, secrets, declared);
    if (rc == TV_OK)
        rc = add_d1(in, c);
    return rc;
}

/* Workers some binding names but no given configuration defines. */
static enum tv_status
add_binding_targets(struct init *in)
{
    const cJSON *b, *list;
    cJSON *w, *nw;
    size_t n = (size_t)cJSON_GetArraySize(in->workers), i;

    for (i = 0; i < n; i++) {
        w = cJSON_GetArrayItem(in->workers, (int)i);
        list = cJSON_GetObjectItem(w, "bindings");
        cJSON_ArrayForEach(b, list)
        {
            if (find_named(in->workers, b->valuestring) != NULL)
                continue;
            warn(in,
                 "'%s' binds to '%s', which no given configuration defines: "
                 "added it without secrets",
                 cJSON_GetObjectItem(w, "name")->valuestring, b->valuestring);
            nw = cJSON_CreateObject();
            if (nw == NULL || !cJSON_AddItemToArray(in->workers, nw) ||
                !cJSON_AddStringToObject(nw, "name", b->valuestring))
                return nomem(in->err);
        }
    }
    return TV_OK;
}

static int
tier_used(const cJSON *workers, const char *tier)
{
    const cJSON *w, *s;

    cJSON_ArrayForEach(w, workers)
    {
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(w, "secrets"))
        {
            if (strcmp(cJSON_GetObjectItem(s, "tier")->valuestring, tier) == 0)
                return 1;
        }
    }
    return 0;
}

/* core, then the rules' tiers in rule order, each only when used. */
static enum tv_status
add_tiers(struct init *in, cJSON *tiers)
{
    const char **cand;
    size_t n = 0, i, j;
    enum tv_status rc = TV_OK;
    cJSON *t;

    cand = calloc(in->o->nrules + NBUILTIN + 1, sizeof(*cand));
    if (cand == NULL)
        return nomem(in->err);
    cand[n++] = "core";
    for (i = 0; i < in->o->nrules; i++)
        cand[n++] = in->o->rules[i].tier;
    for (i = 0; i < NBUILTIN; i++)
        cand[n++] = builtin_rules[i].tier;
    for (i = 0; i < n; i++) {
        for (j = 0; j < i && strcmp(cand[j], cand[i]) != 0; j++)
            ;
        if (j < i || (i > 0 && !tier_used(in->workers, cand[i])))
            continue;
        t = cJSON_CreateObject();
        if (t == NULL || !cJSON_AddItemToArray(tiers, t) ||
            !cJSON_AddStringToObject(t, "name", cand[i])) {
            rc = nomem(in->err);
            break;
        }
    }
    free(cand);
    return rc;
}

static enum tv_status
assemble(struct init *in, cJSON *root, const char *account)
{
    cJSON *tiers, *rollout;
    enum tv_status rc;

    if (cJSON_AddNumberToObject(root, "policy", TV_POLICY_FORMAT) == NULL ||
        (account != NULL &&
         cJSON_AddStringToObject(root, "account_id", account) == NULL) ||
        (tiers = cJSON_AddArrayToObject(root, "tiers")) == NULL)
        return nomem(in->err);
    rc = add_tiers(in, tiers);
    if (rc != TV_OK)
        return rc;
    cJSON_AddItemToObject(root, "workers", in->workers);
    in->workers = NULL;
    if (cJSON_GetArraySize(in->d1) > 0) {
        cJSON_AddItemToObject(root, "d1", in->d1);
        in->d1 = NULL;
    }
    rollout = cJSON_AddObjectToObject(root, "rollout");
    if (rollout == NULL ||
        !cJSON_AddStringToObject(rollout, "strategy", "bulk") ||
        !cJSON_AddStringToObject(rollout, "on_failure", "rollback") ||
        !cJSON_AddNumberToObject(rollout, "concurrency", 4))
        return nomem(in->err);
    return TV_OK;
}

/* What we print must pass `policy check`: run the same reader on it. */
static enum tv_status
validate(struct init *in, const cJSON *root)
{
    struct tv_policy *p = NULL;
    enum tv_status rc;
    char *text;

    text = cJSON_PrintUnformatted(root);
    if (text == NULL)
        return nomem(in->err);
    rc = tv_policy_parse(&p, text, strlen(text), "generated policy", in->err);
    cJSON_free(text);
    tv_policy_free(p);
    return rc;
}

static enum tv_status
build(struct init *in, cJSON **out)
{
    const char *account;
    cJSON *root = NULL;
    enum tv_status rc;
    size_t i, j;

    for (i = 0; i < in->ncfg; i++) {
        rc = load_config(in, in->o->from[i], &in->cfg[i]);
        if (rc != TV_OK)
            return rc;
        for (j = 0; j < i; j++) {
            if (strcmp(in->cfg[j].worker, in->cfg[i].worker) == 0)
                return tv_error_set(in->err, TV_EINPUT,
                                    "worker '%s' is defined by both '%s' and "
                                    "'%s'",
                                    in->cfg[i].worker, in->cfg[j].path,
                                    in->cfg[i].path);
        }
    }
    rc = account_of(in, &account);
    if (rc != TV_OK)
        return rc;
    for (i = 0; i < in->ncfg; i++) {
        rc = add_worker(in, &in->cfg[i]);
        if (rc != TV_OK)
            return rc;
    }
    rc = add_binding_targets(in);
    if (rc != TV_OK)
        return rc;
    root = cJSON_CreateObject();
    if (root == NULL)
        return nomem(in->err);
    rc = assemble(in, root, account);
    if (rc == TV_OK)
        rc = validate(in, root);
    if (rc != TV_OK) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return TV_OK;
}

enum tv_status
tv_wrangler_policy(const struct tv_wrangler_opts *o, cJSON **out,
                   struct tv_error *err)
{
    struct init in = { o, err, NULL, 0, NULL, NULL };
    enum tv_status rc;
    size_t i;

    if (o == NULL || out == NULL || o->nfrom == 0 || o->from == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_wrangler_policy: bad argument");
    if (o->env != NULL && !tv_policy_worker_name_valid(o->env))
        return tv_error_set(err, TV_EINPUT, "invalid environment name '%s'",
                            o->env);
    in.cfg = calloc(o->nfrom, sizeof(*in.cfg));
    in.workers = cJSON_CreateArray();
    in.d1 = cJSON_CreateArray();
    in.ncfg = o->nfrom;
    if (in.cfg == NULL || in.workers == NULL || in.d1 == NULL) {
        rc = nomem(err);
        goto out;
    }
    rc = build(&in, out);
out:
    for (i = 0; in.cfg != NULL && i < in.ncfg; i++) {
        free(in.cfg[i].path);
        free(in.cfg[i].dir);
        free(in.cfg[i].worker);
        cJSON_Delete(in.cfg[i].root);
    }
    free(in.cfg);
    cJSON_Delete(in.workers);
    cJSON_Delete(in.d1);
    return rc;
}
