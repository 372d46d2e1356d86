/*
 * preflight.c - the read-only account check before any write: token,
 * account, Workers, service bindings, D1 migrations.  Two batches of
 * reads: the token, accounts and scripts first, then every Worker's
 * settings, versions and deployments and every D1 query at once.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "state.h"

struct checks {
    cJSON *list; /* the report's "checks" array */
    size_t failed;
    int oom;
};

/* Records one check; a failed one is also logged as an error. */
static void check(struct checks *c, const char *what, const char *subject,
                  int ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
check(struct checks *c, const char *what, const char *subject, int ok,
      const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    cJSON *item;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!ok) {
        c->failed++;
        tv_log(TV_LOG_ERROR, NULL, NULL, "%s", msg);
    } else {
        tv_log(TV_LOG_DEBUG, NULL, NULL, "preflight: %s", msg);
    }
    item = cJSON_CreateObject();
    if (item == NULL || tv_state_set_str(item, "check", what) < 0 ||
        tv_state_set_str(item, "subject", subject) < 0 ||
        cJSON_AddBoolToObject(item, "ok", ok) == NULL ||
        tv_state_set_str(item, "message", msg) < 0 ||
        !cJSON_AddItemToArray(c->list, item)) {
        c->oom = 1;
        return;
    }
}

static const char *
call_msg(const struct tv_cf_call *c)
{
    return c->err.msg[0] != '\0' ? c->err.msg : tv_status_name(c->status);
}

static void
check_token(struct checks *c, const struct tv_cf_call *verify)
{
    const char *status, *kind;

    if (verify->status != TV_OK) {
        check(c, "token", "token", 0, "the api token was refused: %s",
              call_msg(verify));
        return;
    }
    status = tv_state_str(verify->result, "status");
    kind = verify->account_token ? "account" : "user";
    check(c, "token", "token", strcmp(status, "active") == 0,
          strcmp(status, "active") == 0 ? "the api token is active (%s token)"
                                        : "the api token is not active "
                                          "(%s token, status '%s')",
          kind, status);
}

static void
check_account(struct checks *c, const char *account,
              const struct tv_cf_call *accounts)
{
    char reach[512] = "";
    const cJSON *acc;
    size_t len = 0;
    int found = 0;

    if (accounts->status != TV_OK) {
        check(c, "account", account, 0,
              "cannot list the accounts the token reaches: %s",
              call_msg(accounts));
        return;
    }
    cJSON_ArrayForEach(acc, accounts->result)
    {
        const char *id = tv_state_str(acc, "id");
        int n;

        if (strcmp(id, account) == 0)
            found = 1;
        if (len < sizeof(reach)) {
            n = snprintf(reach + len, sizeof(reach) - len, "%s'%s' (%s)",
                         len ? ", " : "", id, tv_state_str(acc, "name"));
            len += n > 0 ? (size_t)n : 0;
        }
    }
    if (found)
        check(c, "account", account, 1, "account '%s' is reachable", account);
    else
        check(c, "account", account, 0,
              "wrong account: the token cannot reach account '%s' named in "
              "the policy; it reaches %s",
              account, len ? reach : "no account");
}

static int
script_listed(const cJSON *scripts, const char *name)
{
    const cJSON *s;

    cJSON_ArrayForEach(s, scripts)
    {
        if (strcmp(tv_state_str(s, "id"), name) == 0)
            return 1;
    }
    return 0;
}

static void
check_workers(struct tv_agent *a, struct checks *c,
              const struct tv_cf_call *scripts)
{
    const struct tv_policy *p = a->policy;
    size_t missing = 0;

    if (scripts->status != TV_OK) {
        check(c, "workers", a->account, 0, "cannot list the workers: %s",
              call_msg(scripts));
        return;
    }
    for (size_t i = 0; i < p->nworkers; i++) {
        const char *name = p->workers[i].name;

        a->remote[i].exists = script_listed(scripts->result, name);
        if (!a->remote[i].exists)
            missing++;
        check(c, "worker", name, a->remote[i].exists,
              a->remote[i].exists ? "worker '%s' exists"
                                  : "worker '%s' does not exist in account "
                                    "'%s'",
              name, a->account);
    }
    if (missing > 0)
        check(c, "workers", a->account, 0,
              "%zu of %zu workers are missing: all must be created (wrangler "
              "deploy) before any secret is pushed; tiervault never creates "
              "a worker",
              missing, p->nworkers);
}

static int
has_service_binding(const cJSON *settings, const char *target)
{
    const cJSON *b, *bindings;

    bindings = cJSON_GetObjectItemCaseSensitive(settings, "bindings");
    cJSON_ArrayForEach(b, bindings)
    {
        if (strcmp(tv_state_str(b, "type"), "service") == 0 &&
            strcmp(tv_state_str(b, "service"), target) == 0)
            return 1;
    }
    return 0;
}

static void
check_bindings(struct tv_agent *a, struct checks *c, size_t w,
               const struct tv_cf_call *settings)
{
    const struct tv_worker *pw = &a->policy->workers[w];

    if (pw->nbindings > 0 && settings->status != TV_OK) {
        check(c, "bindings", pw->name, 0,
              "worker '%s': cannot read its settings: %s", pw->name,
              call_msg(settings));
        return;
    }
    for (size_t i = 0; i < pw->nbindings; i++) {
        const char *t = pw->bindings[i];

        if (!a->remote[pw->binding_idx[i]].exists)
            check(c, "binding", pw->name, 0,
                  "worker '%s' binds to '%s', which does not exist", pw->name,
                  t);
        else if (!has_service_binding(settings->result, t))
            check(c, "binding", pw->name, 0,
                  "worker '%s': its remote settings hold no service "
                  "binding to '%s' (deploy it with its wrangler config)",
                  pw->name, t);
        else
            check(c, "binding", pw->name, 1, "worker '%s' binds to '%s'",
                  pw->name, t);
    }
}

static void
copy_id(char dst[TV_AGENT_ID_MAX], const char *src)
{
    snprintf(dst, TV_AGENT_ID_MAX, "%s", src);
}

static void
read_versions(struct tv_remote *r, const struct tv_cf_call *versions,
              const struct tv_cf_call *deployments)
{
    const cJSON *items, *deps, *v;
    double best = -1;

    r->latest[0] = r->deployed[0] = r->latest_message[0] = '\0';
    r->latest_number = -1;
    if (versions->status == TV_OK) {
        items = cJSON_GetObjectItemCaseSensitive(versions->result, "items");
        v = cJSON_GetArrayItem(items, 0);
        copy_id(r->latest, tv_state_str(v, "id"));
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(v, "number")))
            r->latest_number = (long)tv_state_num(v, "number");
        snprintf(
            r->latest_message, sizeof(r->latest_message), "%s",
            tv_state_str(cJSON_GetObjectItemCaseSensitive(v, "annotations"),
                         "workers/message"));
    }
    if (deployments->status != TV_OK)
        return;
    deps = cJSON_GetObjectItemCaseSensitive(deployments->result, "deployments");
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetArrayItem(deps, 0), "versions"))
    {
        if (tv_state_num(v, "percentage") > best) {
            best = tv_state_num(v, "percentage");
            copy_id(r->deployed, tv_state_str(v, "version_id"));
        }
    }
}

enum tv_status
tv_agent_read_versions(struct tv_agent *a, const size_t *idx, size_t n,
                       struct tv_error *err)
{
    struct tv_cf_call *calls;
    enum tv_status st = TV_OK;

    if (n == 0)
        return TV_OK;
    calls = calloc(2 * n, sizeof(*calls));
    if (calls == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && st == TV_OK; i++) {
        const char *name = a->policy->workers[idx[i]].name;

        st = tv_cf_prep_versions(a->cf, &calls[2 * i], a->account, name, err);
        if (st == TV_OK)
            st = tv_cf_prep_deployments(a->cf, &calls[2 * i + 1], a->account,
                                        name, err);
    }
    if (st == TV_OK)
        st = tv_cf_run(a->cf, calls, 2 * n, TV_AGENT_READS, err);
    for (size_t i = 0; i < n && st == TV_OK; i++)
        read_versions(&a->remote[idx[i]], &calls[2 * i], &calls[2 * i + 1]);
    for (size_t i = 0; i < 2 * n; i++)
        tv_cf_call_release(&calls[i]);
    free(calls);
    return st;
}

static void
check_staged_pending(struct tv_agent *a, struct checks *c, size_t w)
{
    const struct tv_remote *r = &a->remote[w];
    const char *name = a->policy->workers[w].name;

    if (a->policy->strategy != TV_STRATEGY_BULK || r->latest[0] == '\0' ||
        r->deployed[0] == '\0' || strcmp(r->latest, r->deployed) == 0)
        return;
    check(c, "versions", name, 0,
          "worker '%s': its newest version '%s' is not the deployed one "
          "('%s'), so cloudflare refuses secret edits (error 10215): "
          "deploy or discard the staged version first, or use strategy "
          "'staged'",
          name, r->latest, r->deployed);
}

static int
cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The *.sql names of dir, sorted; *out is NULL-terminated (free both). */
static int
list_sql(const char *dir, char ***out, size_t *n)
{
    struct dirent *de;
    char **names = NULL;
    size_t cap = 0;
    DIR *d;

    *n = 0;
    d = opendir(dir);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char **grown;

        if (len < 5 || strcmp(de->d_name + len - 4, ".sql") != 0)
            continue;
        if (*n + 1 >= cap) {
            cap = cap ? cap * 2 : 16;
            grown = realloc(names, cap * sizeof(*names));
            if (grown == NULL)
                break;
            names = grown;
        }
        names[*n] = strdup(de->d_name);
        if (names[*n] == NULL)
            break;
        (*n)++;
    }
    closedir(d);
    if (names != NULL)
        qsort(names, *n, sizeof(*names), cmp_str);
    *out = names;
    return 0;
}

static void
free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int
row_named(const cJSON *result, const char *name)
{
    const cJSON *rows, *row;

    rows = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(result, 0),
                                            "results");
    cJSON_ArrayForEach(row, rows)
    {
        if (strcmp(tv_state_str(row, "name"), name) == 0)
            return 1;
    }
    return 0;
}

static void
check_migration_names(struct checks *c, const char *db, char *const *names,
                      size_t n, const struct tv_cf_call *q)
{
    size_t pending = 0;

    for (size_t i = 0; i < n; i++) {
        int ok = row_named(q->result, names[i]);

        pending += !ok;
        check(c, "migration", db, ok,
              ok ? "d1 database '%s': migration '%s' is applied"
                 : "d1 database '%s': migration '%s' is not applied (run "
                   "wrangler d1 migrations apply --remote)",
              db, names[i]);
    }
    if (pending == 0)
        check(c, "migrations", db, 1,
              "d1 database '%s': %zu migration%s applied", db, n,
              n == 1 ? "" : "s");
}

static const char *
d1_table(const struct tv_d1 *d)
{
    return d->migrations_table != NULL ? d->migrations_table : "d1_migrations";
}

static void
check_d1(struct checks *c, const struct tv_d1 *d, const struct tv_cf_call *q)
{
    const char *db = d->name != NULL ? d->name : d->database_id;
    char **names = NULL, dir[4096];
    size_t n = 0;

    if (q->status != TV_OK) {
        check(c, "migrations", db, 0,
              "d1 database '%s': cannot read table '%s' (no migration "
              "applied yet?): %s",
              db, d1_table(d), call_msg(q));
        return;
    }
    if (d->migrations_dir == NULL) {
        check_migration_names(c, db, d->migrations, d->nmigrations, q);
        return;
    }
    /* The policy loader resolved it relative to the policy file. */
    snprintf(dir, sizeof(dir), "%s", d->migrations_dir);
    if (list_sql(dir, &names, &n) < 0) {
        check(c, "migrations", db, 0,
              "d1 database '%s': cannot read migrations folder '%s'", db, dir);
        return;
    }
    check_migration_names(c, db, names, n, q);
    free_names(names, n);
}

static int
table_name_ok(const char *t)
{
    if (t == NULL || *t == '\0')
        return 0;
    for (; *t; t++) {
        if (!(*t == '_' || (*t >= 'a' && *t <= 'z') ||
              (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9')))
            return 0;
    }
    return 1;
}

static enum tv_status
prep_d1(struct tv_agent *a, const struct tv_d1 *d, struct tv_cf_call *c,
        struct tv_error *err)
{
    const char *table = d1_table(d);
    char sql[160];

    if (!table_name_ok(table))
        return tv_error_set(err, TV_EINPUT, "bad migrations table '%s'", table);
    snprintf(sql, sizeof(sql), "SELECT name FROM %s ORDER BY id", table);
    return tv_cf_prep_d1_select(a->cf, c, a->account, d->database_id, sql, NULL,
                                0, err);
}

/* Batch 2: per worker settings, versions, deployments; per D1 a query. */
static enum tv_status
preflight_workers(struct tv_agent *a, struct checks *c, struct tv_error *err)
{
    const struct tv_policy *p = a->policy;
    size_t n = 3 * p->nworkers + p->nd1, k;
    struct tv_cf_call *calls;
    enum tv_status st = TV_OK;

    calls = calloc(n ? n : 1, sizeof(*calls));
    if (calls == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->nworkers && st == TV_OK; i++) {
        const char *name = p->workers[i].name;

        if (!a->remote[i].exists)
            continue;
        st = tv_cf_prep_settings(a->cf, &calls[3 * i], a->account, name, err);
        if (st == TV_OK)
            st = tv_cf_prep_versions(a->cf, &calls[3 * i + 1], a->account, name,
                                     err);
        if (st == TV_OK)
            st = tv_cf_prep_deployments(a->cf, &calls[3 * i + 2], a->account,
                                        name, err);
    }
    for (k = 0; k < p->nd1 && st == TV_OK; k++)
        st = prep_d1(a, &p->d1[k], &calls[3 * p->nworkers + k], err);
    if (st != TV_OK)
        goto out;

    /* Failed calls are judged one by one below. */
    tv_cf_run(a->cf, calls, n, TV_AGENT_READS, err);
    tv_error_clear(err);
    for (size_t i = 0; i < p->nworkers; i++) {
        if (!a->remote[i].exists)
            continue;
        read_versions(&a->remote[i], &calls[3 * i + 1], &calls[3 * i + 2]);
        check_bindings(a, c, i, &calls[3 * i]);
        check_staged_pending(a, c, i);
    }
    for (k = 0; k < p->nd1; k++)
        check_d1(c, &p->d1[k], &calls[3 * p->nworkers + k]);

out:
    for (size_t i = 0; i < n; i++)
        tv_cf_call_release(&calls[i]);
    free(calls);
    return st;
}

/* Batch 1: the token, the accounts it reaches, the account's scripts. */
static enum tv_status
preflight_account(struct tv_agent *a, struct checks *c, int *go_on,
                  struct tv_error *err)
{
    struct tv_cf_call calls[3];
    const char *env = getenv("CLOUDFLARE_ACCOUNT_ID");
    enum tv_status st;

    memset(calls, 0, sizeof(calls));
    *go_on = 0;
    if (env != NULL && env[0] != '\0' && strcmp(env, a->account) != 0) {
        check(c, "account", a->account, 0,
              "wrong account: CLOUDFLARE_ACCOUNT_ID is '%s' but the policy "
              "names account '%s'",
              env, a->account);
        return TV_OK;
    }
    st = tv_cf_prep_verify_token(a->cf, &calls[0], a->account, err);
    if (st == TV_OK)
        st = tv_cf_prep_accounts(a->cf, &calls[1], err);
    if (st == TV_OK)
        st = tv_cf_prep_scripts(a->cf, &calls[2], a->account, err);
    if (st != TV_OK)
        goto out;
    tv_cf_run(a->cf, calls, 3, 0, err);
    tv_error_clear(err);
    if (calls[0].status == TV_ENET) {
        st = tv_error_set(err, TV_ENET, "%s", calls[0].err.msg);
        goto out;
    }
    check_token(c, &calls[0]);
    if (c->failed == 0)
        check_account(c, a->account, &calls[1]);
    if (c->failed == 0)
        check_workers(a, c, &calls[2]);
    *go_on = c->failed == 0 || calls[2].status == TV_OK;

out:
    for (size_t i = 0; i < 3; i++)
        tv_cf_call_release(&calls[i]);
    return st;
}

enum tv_status
tv_preflight(struct tv_agent *a, cJSON **report, struct tv_error *err)
{
    struct checks c = { 0 };
    enum tv_status st;
    int go_on;

    c.list = cJSON_CreateArray();
    if (c.list == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    st = preflight_account(a, &c, &go_on, err);
    if (st == TV_OK && go_on)
        st = preflight_workers(a, &c, err);
    if (st == TV_OK && c.oom)
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
    if (st == TV_OK && c.failed > 0)
        st = tv_error_set(err, TV_EGATE,
                          "preflight failed: %zu problem%s, nothing pushed",
                          c.failed, c.failed == 1 ? "" : "s");
    if (report != NULL) {
        *report = cJSON_CreateObject();
        if (*report != NULL) {
            cJSON_AddBoolToObject(*report, "ok", st == TV_OK);
            cJSON_AddItemToObject(*report, "checks", c.list);
            return st;
        }
    }
    cJSON_Delete(c.list);
    return st;
}
