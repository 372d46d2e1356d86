/*
 * policy.c - reads policy format 1 into struct tv_policy and validates
 * every field, naming the JSON path and the value of the first violation.
 * The dependency graph (cycles, waves) is checked in graph.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"
#include "tv_jsonc.h"
#include "tv_policy.h"

/* The longest worker name Cloudflare accepts for a script. */
#define WORKER_NAME_MAX 63

struct pctx {
    const char *name; /* for messages */
    struct tv_error *err;
    struct tv_policy *p;
};

static const char *const top_keys[] = { "policy",  "account_id", "tiers",
                                        "workers", "d1",         "rollout",
                                        NULL };
static const char *const tier_keys[] = { "name", "enabled", NULL };
static const char *const worker_keys[] = { "name",  "service", "bindings",
                                           "after", "secrets", "verify",
                                           NULL };
static const char *const secret_keys[] = { "name",     "tier",         "from",
                                           "required", "max_age_days", NULL };
static const char *const probe_keys[] = {
    "kind",          "tier",        "url",        "method",
    "expect_status", "expect_body", "timeout_ms", "attempts",
    "interval_ms",   "secret",      NULL
};
static const char *const d1_keys[] = { "database_id",      "name",
                                       "migrations",       "migrations_dir",
                                       "migrations_table", NULL };
static const char *const rollout_keys[] = { "strategy", "on_failure",
                                            "concurrency", NULL };
static const char *const methods[] = { "GET",   "HEAD",   "POST",    "PUT",
                                       "PATCH", "DELETE", "OPTIONS", NULL };

static enum tv_status bad(struct pctx *c, const char *path, const char *fmt,
                          ...) __attribute__((format(printf, 3, 4)));

static enum tv_status
bad(struct pctx *c, const char *path, const char *fmt, ...)
{
    char msg[TV_ERROR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tv_error_set(c->err, TV_EINPUT, "%s: %s%s%s", c->name, path,
                        *path ? ": " : "", msg);
}

static enum tv_status
nomem(struct pctx *c)
{
    return tv_error_set(c->err, TV_ENOMEM, "%s: out of memory", c->name);
}

static char *
dup_str(struct pctx *c, const char *s)
{
    char *d = strdup(s);

    if (d == NULL)
        nomem(c);
    return d;
}

static void *
alloc_array(struct pctx *c, size_t n, size_t size)
{
    void *a = calloc(n ? n : 1, size);

    if (a == NULL)
        nomem(c);
    return a;
}

static enum tv_status
got(struct pctx *c, const char *path, const char *want, const cJSON *it)
{
    char d[128];

    return bad(c, path, "expected %s, got %s", want,
               tv_json_describe(d, sizeof(d), it));
}

static enum tv_status
only_keys(struct pctx *c, const cJSON *obj, const char *path,
          const char *const *keys)
{
    const cJSON *it;
    char q[96];
    size_t i;

    for (it = obj->child; it != NULL; it = it->next) {
        for (i = 0; keys[i] != NULL; i++) {
            if (strcmp(keys[i], it->string) == 0)
                break;
        }
        if (keys[i] == NULL)
            return bad(c, path, "unknown key %s",
                       tv_json_quote(q, sizeof(q), it->string));
    }
    return TV_OK;
}

/* obj's member key as an object; path gets its path.  Absent: NULL. */
static enum tv_status
member(struct pctx *c, const cJSON *obj, const char *path, const char *key,
       int type, int required, const cJSON **out, char *sub)
{
    static const struct {
        int type;
        const char *name;
    } names[] = {
        { cJSON_String, "a string" }, { cJSON_Number, "a number" },
        { cJSON_Array, "an array" },  { cJSON_Object, "an object" },
        { cJSON_True, "a boolean" },
    };
    const cJSON *it;
    const char *want = "a value";
    size_t i;
    int t;

    tv_json_path(sub, TV_JSON_PATH_MAX, path, key, 0);
    *out = NULL;
    it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (it == NULL) {
        if (required)
            return bad(c, path, "missing required key \"%s\"", key);
        return TV_OK;
    }
    t = it->type & 0xff;
    if (t == cJSON_False)
        t = cJSON_True;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].type == type)
            want = names[i].name;
    }
    if (t != type)
        return got(c, sub, want, it);
    if (type == cJSON_String && it->valuestring[0] == '\0')
        return bad(c, sub, "empty string");
    *out = it;
    return TV_OK;
}

static enum tv_status
get_str(struct pctx *c, const cJSON *obj, const char *path, const char *key,
        int required, const char **out, char *sub)
{
    const cJSON *it;
    enum tv_status rc;

    *out = NULL;
    rc = member(c, obj, path, key, cJSON_String, required, &it, sub);
    if (rc == TV_OK && it != NULL)
        *out = it->valuestring;
    return rc;
}

static enum tv_status
get_bool(struct pctx *c, const cJSON *obj, const char *path, const char *key,
         int *out)
{
    char sub[TV_JSON_PATH_MAX];
    const cJSON *it;
    enum tv_status rc;

    rc = member(c, obj, path, key, cJSON_True, 0, &it, sub);
    if (rc == TV_OK && it != NULL)
        *out = cJSON_IsTrue(it);
    return rc;
}

/* An integer member in min..max; *out is kept when the key is absent. */
static enum tv_status
get_int(struct pctx *c, const cJSON *obj, const char *path, const char *key,
        long min, long max, long *out)
{
    char sub[TV_JSON_PATH_MAX];
    const cJSON *it;
    enum tv_status rc;
    double d;

    rc = member(c, obj, path, key, cJSON_Number, 0, &it, sub);
    if (rc != TV_OK || it == NULL)
        return rc;
    d = it->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return got(c, sub, "an integer", it);
    if (d < (double)min || d > (double)max)
        return bad(c, sub, "%.15g is out of range %ld..%ld", d, min, max);
    *out = (long)d;
    return TV_OK;
}

static int
in_list(const char *const *list, const char *s)
{
    size_t i;

    for (i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

int
tv_policy_worker_name_valid(const char *s)
{
    size_t n;

    if (s == NULL || s[0] == '\0' || s[0] == '-')
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
              s[n] == '-' || s[n] == '_'))
            return 0;
    }
    return n <= WORKER_NAME_MAX;
}

static int
is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F');
}

int
tv_policy_uuid_valid(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}

int
tv_policy_account_valid(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 32)
        return 0;
    for (i = 0; i < 32; i++) {
        if (!is_hex(s[i]))
            return 0;
    }
    return 1;
}

static void
lower(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
}

/*
 * An http:// or https:// URL with a host, no credentials (they would end
 * up in logs) and nothing a request line could be split on.
 */
static const char *
url_problem(const char *u)
{
    const char *host, *end, *p;

    if (strncmp(u, "https://", 8) == 0)
        host = u + 8;
    else if (strncmp(u, "http://", 7) == 0)
        host = u + 7;
    else
        return "not an http:// or https:// URL";
    for (p = u; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "space or control character in URL";
    }
    end = host + strcspn(host, "/?#");
    if (end == host)
        return "URL has no host";
    for (p = host; p < end; p++) {
        if (*p == '@')
            return "credentials in a URL are not allowed";
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':' ||
              *p == '[' || *p == ']' || *p == '_'))
            return "invalid character in the URL's host";
    }
    return NULL;
}

/* "SERVICE/NAME" into two new strings; NULL problem text when valid. */
static const char *
split_from(const char *s, char **svc, char **name)
{
    const char *slash = strchr(s, '/');
    char *a;

    *svc = *name = NULL;
    if (slash == NULL || strchr(slash + 1, '/') != NULL)
        return "is not SERVICE/NAME";
    a = strndup(s, (size_t)(slash - s));
    if (a == NULL)
        return "out of memory";
    if (!tv_name_valid(a) || !tv_name_valid(slash + 1)) {
        free(a);
        return "is not SERVICE/NAME with valid names ([A-Za-z0-9_.-])";
    }
    if (a[0] == '_') {
        free(a);
        return "names a reserved service (starting with '_')";
    }
    *name = strdup(slash + 1);
    if (*name == NULL) {
        free(a);
        return "out of memory";
    }
    *svc = a;
    return NULL;
}

/* Parses element i of a list, an object at path, into slot i. */
typedef enum tv_status (*elem_fn)(struct pctx *c, const cJSON *it,
                                  const char *path, void *ctx, size_t i);

/*
 * Calls fn for each element of list (at path), which must be objects.
 * *n counts the slots begun before each call, so that tv_policy_free
 * releases a list cut short by an error.
 */
static enum tv_status
each_object(struct pctx *c, const cJSON *list, const char *path, size_t *n,
            elem_fn fn, void *ctx)
{
    char elem[TV_JSON_PATH_MAX];
    const cJSON *it;
    enum tv_status rc;
    size_t i = 0;

    for (it = list->child; it != NULL; it = it->next, i++) {
        tv_json_path(elem, sizeof(elem), path, NULL, i);
        if (!cJSON_IsObject(it))
            return got(c, elem, "an object", it);
        *n = i + 1;
        rc = fn(c, it, elem, ctx, i);
        if (rc != TV_OK)
            return rc;
    }
    return TV_OK;
}

static size_t
count(const cJSON *list)
{
    return (size_t)cJSON_GetArraySize(list);
}

static enum tv_status
parse_tier(struct pctx *c, const cJSON *it, const char *path, void *ctx,
           size_t i)
{
    char sub[TV_JSON_PATH_MAX], q[96];
    struct tv_tier *t = &c->p->tiers[i];
    const char *name;
    enum tv_status rc;
    size_t j;

    (void)ctx;
    rc = only_keys(c, it, path, tier_keys);
    if (rc == TV_OK)
        rc = get_str(c, it, path, "name", 1, &name, sub);
    if (rc != TV_OK)
        return rc;
    if (!tv_tier_valid(name))
        return bad(c, sub, "invalid tier name %s ([a-z][a-z0-9_-]{0,31})",
                   tv_json_quote(q, sizeof(q), name));
    for (j = 0; j < i; j++) {
        if (strcmp(c->p->tiers[j].name, name) == 0)
            return bad(c, sub, "duplicate tier %s",
                       tv_json_quote(q, sizeof(q), name));
    }
    t->enabled = 1;
    t->name = dup_str(c, name);
    if (t->name == NULL)
        return TV_ENOMEM;
    return get_bool(c, it, path, "enabled", &t->enabled);
}

static enum tv_status
parse_tiers(struct pctx *c, const cJSON *root)
{
    char path[TV_JSON_PATH_MAX];
    const cJSON *arr;
    enum tv_status rc;

    rc = member(c, root, "", "tiers", cJSON_Array, 1, &arr, path);
    if (rc != TV_OK)
        return rc;
    if (count(arr) == 0)
        return bad(c, path, "at least one tier is needed");
    c->p->tiers = alloc_array(c, count(arr), sizeof(*c->p->tiers));
    if (c->p->tiers == NULL)
        return TV_ENOMEM;
    return each_object(c, arr, path, &c->p->ntiers, parse_tier, NULL);
}

static enum tv_status
tier_ref(struct pctx *c, const char *path, const char *name, size_t *idx)
{
    char q[96];
    long t = tv_policy_tier_index(c->p, name);

    if (t < 0)
        return bad(c, path, "unknown tier %s",
                   tv_json_quote(q, sizeof(q), name));
    *idx = (size_t)t;
    return TV_OK;
}

static enum tv_status
parse_secret(struct pctx *c, const cJSON *it, const char *path, void *ctx,
             size_t i)
{
    struct tv_worker *w = ctx;
    struct tv_policy_secret *s = &w->secrets[i];
    char sub[TV_JSON_PATH_MAX], q[96];
    const char *name, *tier, *from, *why;
    long age = 0;
    enum tv_status rc;
    size_t j;

    rc = only_keys(c, it, path, secret_keys);
    if (rc == TV_OK)
        rc = get_str(c, it, path, "name", 1, &name, sub);
    if (rc != TV_OK)
        return rc;
    if (!tv_name_valid(name))
        return bad(c, sub, "invalid secret name %s ([A-Za-z0-9_.-]{1,128})",
                   tv_json_quote(q, sizeof(q), name));
    for (j = 0; j < i; j++) {
        if (strcmp(w->secrets[j].name, name) == 0)
            return bad(c, sub, "duplicate secret %s in worker \"%s\"",
                       tv_json_quote(q, sizeof(q), name), w->name);
    }
    s->required = 1;
    s->name = dup_str(c, name);
    if (s->name == NULL)
        return TV_ENOMEM;

    rc = get_str(c, it, path, "tier", 1, &tier, sub);
    if (rc == TV_OK)
        rc = tier_ref(c, sub, tier, &s->tier_idx);
    if (rc != TV_OK)
        return rc;
    s->tier = c->p->tiers[s->tier_idx].name;

    rc = get_str(c, it, path, "from", 0, &from, sub);
    if (rc != TV_OK)
        return rc;
    if (from != NULL) {
        why = split_from(from, &s->from_service, &s->from_name);
        if (why != NULL)
            return bad(c, sub, "%s %s", tv_json_quote(q, sizeof(q), from), why);
    } else {
        s->from_service = dup_str(c, w->service);
        s->from_name = dup_str(c, name);
        if (s->from_service == NULL || s->from_name == NULL)
            return TV_ENOMEM;
    }

    rc = get_bool(c, it, path, "required", &s->required);
    if (rc == TV_OK)
        rc = get_int(c, it, path, "max_age_days", 1, 36500, &age);
    s->max_age_days = (uint32_t)age;
    return rc;
}

static enum tv_status
probe_kind(struct pctx *c, const char *path, const char *kind,
           enum tv_probe_kind *out)
{
    char q[96];

    if (strcmp(kind, "http") == 0)
        *out = TV_PROBE_HTTP;
    else if (strcmp(kind, "stripe-webhook") == 0)
        *out = TV_PROBE_STRIPE_WEBHOOK;
    else if (strcmp(kind, "creem-webhook") == 0)
        *out = TV_PROBE_CREEM_WEBHOOK;
    else
        return bad(c, path,
                   "unknown probe kind %s (http, stripe-webhook, "
                   "creem-webhook)",
                   tv_json_quote(q, sizeof(q), kind));
    return TV_OK;
}

static enum tv_status
parse_probe_http(struct pctx *c, const cJSON *it, const char *path,
                 struct tv_probe *pr)
{
    char sub[TV_JSON_PATH_MAX], q[96];
    const char *method, *body;
    enum tv_status rc;

    if (cJSON_GetObjectItemCaseSensitive(it, "secret") != NULL)
        return bad(c, path, "\"secret\" applies to webhook probes only");
    rc = get_str(c, it, path, "method", 0, &method, sub);
    if (rc != TV_OK)
        return rc;
    if (method != NULL && !in_list(methods, method))
        return bad(c, sub, "unknown method %s",
                   tv_json_quote(q, sizeof(q), method));
    pr->method = dup_str(c, method != NULL ? method : "GET");
    if (pr->method == NULL)
        return TV_ENOMEM;
    rc = get_str(c, it, path, "expect_body", 0, &body, sub);
    if (rc != TV_OK)
        return rc;
    if (body != NULL) {
        pr->expect_body = dup_str(c, body);
        if (pr->expect_body == NULL)
            return TV_ENOMEM;
    }
    return get_int(c, it, path, "expect_status", 100, 599, &pr->expect_status);
}

static enum tv_status
parse_probe_webhook(struct pctx *c, const cJSON *it, const char *path,
                    const struct tv_worker *w, struct tv_probe *pr)
{
    static const char *const http_only[] = { "method", "expect_status",
                                             "expect_body", NULL };
    char sub[TV_JSON_PATH_MAX], q[96];
    const struct tv_policy_secret *s;
    const char *secret;
    enum tv_status rc;
    size_t i;

    for (i = 0; http_only[i] != NULL; i++) {
        if (cJSON_GetObjectItemCaseSensitive(it, http_only[i]) != NULL)
            return bad(c, path, "\"%s\" applies to http probes only",
                       http_only[i]);
    }
    rc = get_str(c, it, path, "secret", 0, &secret, sub);
    if (rc != TV_OK)
        return rc;
    if (secret == NULL)
        return bad(c, path, "a %s probe needs \"secret\"",
                   tv_probe_kind_name(pr->kind));
    for (i = 0; i < w->nsecrets; i++) {
        if (strcmp(w->secrets[i].name, secret) == 0)
            break;
    }
    if (i == w->nsecrets)
        return bad(c, sub, "worker \"%s\" has no secret %s", w->name,
                   tv_json_quote(q, sizeof(q), secret));
    s = &w->secrets[i];
    /* The probe would run before its signing secret is pushed. */
    if (s->tier_idx > pr->tier_idx)
        return bad(c, path,
                   "probe runs in tier \"%s\" but secret \"%s\" is in the "
                   "later tier \"%s\" (set \"tier\")",
                   c->p->tiers[pr->tier_idx].name, s->name, s->tier);
    pr->secret_idx = i;
    pr->secret = dup_str(c, secret);
    return pr->secret == NULL ? TV_ENOMEM : TV_OK;
}

static enum tv_status
parse_probe(struct pctx *c, const cJSON *it, const char *path, void *ctx,
            size_t i)
{
    const struct tv_worker *w = ctx;
    struct tv_probe *pr = &w->probes[i];
    char sub[TV_JSON_PATH_MAX], q[96];
    const char *kind, *tier, *url, *why;
    enum tv_status rc;

    rc = only_keys(c, it, path, probe_keys);
    if (rc == TV_OK)
        rc = get_str(c, it, path, "kind", 1, &kind, sub);
    if (rc == TV_OK)
        rc = probe_kind(c, sub, kind, &pr->kind);
    if (rc != TV_OK)
        return rc;
    pr->expect_status = 200;
    pr->timeout_ms = 5000;
    pr->attempts = 5;
    pr->interval_ms = 1000;

    rc = get_str(c, it, path, "tier", 0, &tier, sub);
    if (rc == TV_OK && tier != NULL)
        rc = tier_ref(c, sub, tier, &pr->tier_idx);
    if (rc == TV_OK)
        rc = get_str(c, it, path, "url", 1, &url, sub);
    if (rc != TV_OK)
        return rc;
    why = url_problem(url);
    if (why != NULL)
        return bad(c, sub, "%s: %s", why, tv_json_quote(q, sizeof(q), url));
    pr->url = dup_str(c, url);
    if (pr->url == NULL)
        return TV_ENOMEM;

    if (pr->kind == TV_PROBE_HTTP)
        rc = parse_probe_http(c, it, path, pr);
    else
        rc = parse_probe_webhook(c, it, path, w, pr);
    if (rc == TV_OK)
        rc = get_int(c, it, path, "timeout_ms", 1, 600000, &pr->timeout_ms);
    if (rc == TV_OK)
        rc = get_int(c, it, path, "attempts", 1, 100, &pr->attempts);
    if (rc == TV_OK)
        rc = get_int(c, it, path, "interval_ms", 0, 600000, &pr->interval_ms);
    return rc;
}

/* A worker name list ("bindings", "after"); resolved in resolve_refs. */
static enum tv_status
parse_names(struct pctx *c, const cJSON *obj, const char *path, const char *key,
            char ***names, size_t **idx, size_t *n)
{
    char sub[TV_JSON_PATH_MAX], elem[TV_JSON_PATH_MAX], q[96];
    const cJSON *arr, *it;
    enum tv_status rc;
    size_t i = 0, j;
    int count;

    rc = member(c, obj, path, key, cJSON_Array, 0, &arr, sub);
    if (rc != TV_OK || arr == NULL)
        return rc;
    count = cJSON_GetArraySize(arr);
    *names = alloc_array(c, (size_t)count, sizeof(**names));
    *idx = alloc_array(c, (size_t)count, sizeof(**idx));
    if (*names == NULL || *idx == NULL)
        return TV_ENOMEM;
    for (it = arr->child; it != NULL; it = it->next, i++) {
        tv_json_path(elem, sizeof(elem), sub, NULL, i);
        if (!cJSON_IsString(it))
            return got(c, elem, "a worker name", it);
        for (j = 0; j < i; j++) {
            if (strcmp((*names)[j], it->valuestring) == 0)
                return bad(c, elem, "%s is listed twice",
                           tv_json_quote(q, sizeof(q), it->valuestring));
        }
        (*names)[i] = dup_str(c, it->valuestring);
        *n = i + 1;
        if ((*names)[i] == NULL)
            return TV_ENOMEM;
    }
    return TV_OK;
}

static enum tv_status
parse_worker_secrets(struct pctx *c, const cJSON *it, const char *path,
                     struct tv_worker *w)
{
    char sub[TV_JSON_PATH_MAX];
    const cJSON *arr;
    enum tv_status rc;

    rc = member(c, it, path, "secrets", cJSON_Array, 0, &arr, sub);
    if (rc != TV_OK || arr == NULL)
        return rc;
    w->secrets = alloc_array(c, count(arr), sizeof(*w->secrets));
    if (w->secrets == NULL)
        return TV_ENOMEM;
    return each_object(c, arr, sub, &w->nsecrets, parse_secret, w);
}

static enum tv_status
parse_worker_probes(struct pctx *c, const cJSON *it, const char *path,
                    struct tv_worker *w)
{
    char sub[TV_JSON_PATH_MAX];
    const cJSON *arr;
    enum tv_status rc;

    rc = member(c, it, path, "verify", cJSON_Array, 0, &arr, sub);
    if (rc != TV_OK || arr == NULL)
        return rc;
    w->probes = alloc_array(c, count(arr), sizeof(*w->probes));
    if (w->probes == NULL)
        return TV_ENOMEM;
    return each_object(c, arr, sub, &w->nprobes, parse_probe, w);
}

static enum tv_status
parse_worker(struct pctx *c, const cJSON *it, const char *path, void *ctx,
             size_t i)
{
    char sub[TV_JSON_PATH_MAX], q[96];
    struct tv_worker *w = &c->p->workers[i];
    const char *name, *service;
    enum tv_status rc;
    size_t j;

    (void)ctx;
    rc = only_keys(c, it, path, worker_keys);
    if (rc == TV_OK)
        rc = get_str(c, it, path, "name", 1, &name, sub);
    if (rc != TV_OK)
        return rc;
    if (!tv_policy_worker_name_valid(name))
        return bad(c, sub,
                   "invalid worker name %s (a-z, 0-9, '-' and '_', at most "
                   "63, not starting with '-')",
                   tv_json_quote(q, sizeof(q), name));
    for (j = 0; j < i; j++) {
        if (strcmp(c->p->workers[j].name, name) == 0)
            return bad(c, sub, "duplicate worker %s",
                       tv_json_quote(q, sizeof(q), name));
    }
    w->name = dup_str(c, name);
    if (w->name == NULL)
        return TV_ENOMEM;

    rc = get_str(c, it, path, "service", 0, &service, sub);
    if (rc != TV_OK)
        return rc;
    if (service != NULL && (!tv_name_valid(service) || service[0] == '_'))
        return bad(c, sub,
                   "invalid service %s ([A-Za-z0-9_.-]{1,128}, not "
                   "starting with '_')",
                   tv_json_quote(q, sizeof(q), service));
    w->service = dup_str(c, service != NULL ? service : name);
    if (w->service == NULL)
        return TV_ENOMEM;

    rc = parse_names(c, it, path, "bindings", &w->bindings, &w->binding_idx,
                     &w->nbindings);
    if (rc == TV_OK)
        rc = parse_names(c, it, path, "after", &w->after, &w->after_idx,
                         &w->nafter);
    if (rc == TV_OK)
        rc = parse_worker_secrets(c, it, path, w);
    if (rc == TV_OK)
        rc = parse_worker_probes(c, it, path, w);
    return rc;
}

static enum tv_status
parse_workers(struct pctx *c, const cJSON *root)
{
    char path[TV_JSON_PATH_MAX];
    const cJSON *arr;
    enum tv_status rc;

    rc = member(c, root, "", "workers", cJSON_Array, 1, &arr, path);
    if (rc != TV_OK)
        return rc;
    if (count(arr) == 0)
        return bad(c, path, "at least one worker is needed");
    c->p->workers = alloc_array(c, count(arr), sizeof(*c->p->workers));
    if (c->p->workers == NULL)
        return TV_ENOMEM;
    return each_object(c, arr, path, &c->p->nworkers, parse_worker, NULL);
}

/* Resolves one list of worker names (bindings or after) of worker i. */
static enum tv_status
resolve_list(struct pctx *c, size_t i, const char *key, char **names,
             size_t *idx, size_t n)
{
    char wpath[TV_JSON_PATH_MAX], path[TV_JSON_PATH_MAX];
    char elem[TV_JSON_PATH_MAX], q[96];
    const char *self = c->p->workers[i].name;
    size_t j;
    long k;

    tv_json_path(wpath, sizeof(wpath), "workers", NULL, i);
    tv_json_path(path, sizeof(path), wpath, key, 0);
    for (j = 0; j < n; j++) {
        tv_json_path(elem, sizeof(elem), path, NULL, j);
        k = tv_policy_worker_index(c->p, names[j]);
        if (k < 0)
            return bad(c, elem, "unknown worker %s",
                       tv_json_quote(q, sizeof(q), names[j]));
        if ((size_t)k == i)
            return bad(c, elem, "worker \"%s\" %s itself", self,
                       strcmp(key, "bindings") == 0 ? "binds to"
                                                    : "comes after");
        idx[j] = (size_t)k;
    }
    return TV_OK;
}

static enum tv_status
resolve_refs(struct pctx *c)
{
    struct tv_worker *w;
    enum tv_status rc;
    size_t i;

    for (i = 0; i < c->p->nworkers; i++) {
        w = &c->p->workers[i];
        rc = resolve_list(c, i, "bindings", w->bindings, w->binding_idx,
                          w->nbindings);
        if (rc == TV_OK)
            rc = resolve_list(c, i, "after", w->after, w->after_idx, w->nafter);
        if (rc != TV_OK)
            return rc;
    }
    return TV_OK;
}

char *
tv_path_join(const char *dir, const char *rel)
{
    size_t n;
    char *out;

    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    if (rel[0] == '/' || strcmp(dir, ".") == 0)
        return strdup(rel[0] != '\0' ? rel : ".");
    n = strlen(dir) + strlen(rel) + 2;
    out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s%s%s", dir,
                 dir[0] != '\0' && dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
    return out;
}

/* migrations_dir relative to the policy file's directory. */
static char *
resolve_dir(struct pctx *c, const char *rel)
{
    char *out = tv_path_join(c->p->dir, rel);

    if (out == NULL)
        nomem(c);
    return out;
}

static int
file_name_valid(const char *s)
{
    return tv_name_valid(s) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int
sql_ident_valid(const char *s)
{
    size_t n;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          s[0] == '_'))
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return 0;
    }
    return n <= 64;
}

static enum tv_status
parse_migrations(struct pctx *c, const cJSON *arr, const char *path,
                 struct tv_d1 *d)
{
    char elem[TV_JSON_PATH_MAX], q[96];
    const cJSON *it;
    size_t i = 0, j;

    d->migrations =
        alloc_array(c, (size_t)cJSON_GetArraySize(arr), sizeof(*d->migrations));
    if (d->migrations == NULL)
        return TV_ENOMEM;
    for (it = arr->child; it != NULL; it = it->next, i++) {
        tv_json_path(elem, sizeof(elem), path, NULL, i);
        if (!cJSON_IsString(it))
            return got(c, elem, "a migration file name", it);
        if (!file_name_valid(it->valuestring))
            return bad(c, elem, "invalid migration name %s",
                       tv_json_quote(q, sizeof(q), it->valuestring));
        for (j = 0; j < i; j++) {
            if (strcmp(d->migrations[j], it->valuestring) == 0)
                return bad(c, elem, "%s is listed twice",
                           tv_json_quote(q, sizeof(q), it->valuestring));
        }
        d->migrations[i] = dup_str(c, it->valuestring);
        d->nmigrations = i + 1;
        if (d->migrations[i] == NULL)
            return TV_ENOMEM;
    }
    return TV_OK;
}

static enum tv_status
parse_d1_entry(struct pctx *c, const cJSON *it, const char *path, void *ctx,
               size_t i)
{
    char sub[TV_JSON_PATH_MAX], q[96];
    struct tv_d1 *d = &c->p->d1[i];
    const char *id, *name, *dir, *table;
    const cJSON *list;
    enum tv_status rc;
    size_t j;

    (void)ctx;
    rc = only_keys(c, it, path, d1_keys);
    if (rc == TV_OK)
        rc = get_str(c, it, path, "database_id", 1, &id, sub);
    if (rc != TV_OK)
        return rc;
    if (!tv_policy_uuid_valid(id))
        return bad(c, sub, "%s is not a uuid", tv_json_quote(q, sizeof(q), id));
    for (j = 0; j < i; j++) {
        if (strcasecmp(c->p->d1[j].database_id, id) == 0)
            return bad(c, sub, "duplicate database %s",
                       tv_json_quote(q, sizeof(q), id));
    }
    d->database_id = dup_str(c, id);
    if (d->database_id == NULL)
        return TV_ENOMEM;
    lower(d->database_id);

    rc = get_str(c, it, path, "name", 0, &name, sub);
    if (rc == TV_OK && name != NULL && (d->name = dup_str(c, name)) == NULL)
        return TV_ENOMEM;
    if (rc == TV_OK)
        rc = get_str(c, it, path, "migrations_table", 0, &table, sub);
    if (rc != TV_OK)
        return rc;
    if (table != NULL && !sql_ident_valid(table))
        return bad(c, sub, "invalid table name %s",
                   tv_json_quote(q, sizeof(q), table));
    d->migrations_table = dup_str(c, table != NULL ? table : "d1_migrations");
    if (d->migrations_table == NULL)
        return TV_ENOMEM;

    rc = member(c, it, path, "migrations", cJSON_Array, 0, &list, sub);
    if (rc == TV_OK)
        rc = get_str(c, it, path, "migrations_dir", 0, &dir, sub);
    if (rc != TV_OK)
        return rc;
    if ((list != NULL) == (dir != NULL))
        return bad(c, path,
                   "give exactly one of \"migrations\" and "
                   "\"migrations_dir\"");
    if (dir != NULL) {
        d->migrations_dir = resolve_dir(c, dir);
        return d->migrations_dir == NULL ? TV_ENOMEM : TV_OK;
    }
    tv_json_path(sub, sizeof(sub), path, "migrations", 0);
    return parse_migrations(c, list, sub, d);
}

static enum tv_status
parse_d1(struct pctx *c, const cJSON *root)
{
    char path[TV_JSON_PATH_MAX];
    const cJSON *arr;
    enum tv_status rc;

    rc = member(c, root, "", "d1", cJSON_Array, 0, &arr, path);
    if (rc != TV_OK || arr == NULL)
        return rc;
    c->p->d1 = alloc_array(c, count(arr), sizeof(*c->p->d1));
    if (c->p->d1 == NULL)
        return TV_ENOMEM;
    return each_object(c, arr, path, &c->p->nd1, parse_d1_entry, NULL);
}

static enum tv_status
parse_rollout(struct pctx *c, const cJSON *root)
{
    char sub[TV_JSON_PATH_MAX], q[96];
    const cJSON *obj;
    const char *s;
    long conc = 4;
    enum tv_status rc;

    rc = member(c, root, "", "rollout", cJSON_Object, 0, &obj, sub);
    if (rc != TV_OK || obj == NULL)
        return rc;
    rc = only_keys(c, obj, "rollout", rollout_keys);
    if (rc == TV_OK)
        rc = get_str(c, obj, "rollout", "strategy", 0, &s, sub);
    if (rc != TV_OK)
        return rc;
    if (s != NULL && strcmp(s, "bulk") == 0)
        c->p->strategy = TV_STRATEGY_BULK;
    else if (s != NULL && strcmp(s, "staged") == 0)
        c->p->strategy = TV_STRATEGY_STAGED;
    else if (s != NULL)
        return bad(c, sub, "unknown strategy %s (bulk, staged)",
                   tv_json_quote(q, sizeof(q), s));

    rc = get_str(c, obj, "rollout", "on_failure", 0, &s, sub);
    if (rc != TV_OK)
        return rc;
    if (s != NULL && strcmp(s, "rollback") == 0)
        c->p->on_failure = TV_ON_FAILURE_ROLLBACK;
    else if (s != NULL && strcmp(s, "stop") == 0)
        c->p->on_failure = TV_ON_FAILURE_STOP;
    else if (s != NULL)
        return bad(c, sub, "unknown on_failure %s (rollback, stop)",
                   tv_json_quote(q, sizeof(q), s));

    rc = get_int(c, obj, "rollout", "concurrency", 1, 64, &conc);
    c->p->concurrency = (unsigned)conc;
    return rc;
}

static enum tv_status
parse_top(struct pctx *c, const cJSON *root)
{
    char sub[TV_JSON_PATH_MAX], q[96];
    const char *account;
    long format = 0;
    enum tv_status rc;

    if (!cJSON_IsObject(root))
        return got(c, "", "an object at the top level", root);
    rc = only_keys(c, root, "", top_keys);
    if (rc != TV_OK)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(root, "policy") == NULL)
        return bad(c, "", "missing required key \"policy\"");
    rc = get_int(c, root, "", "policy", 0, 1000000, &format);
    if (rc != TV_OK)
        return rc;
    if (format != TV_POLICY_FORMAT)
        return bad(c, "policy", "unsupported format %ld (expected %d)", format,
                   TV_POLICY_FORMAT);
    c->p->format = TV_POLICY_FORMAT;

    rc = get_str(c, root, "", "account_id", 0, &account, sub);
    if (rc != TV_OK)
        return rc;
    if (account != NULL) {
        if (!tv_policy_account_valid(account))
            return bad(c, sub, "%s is not 32 hex digits",
                       tv_json_quote(q, sizeof(q), account));
        c->p->account_id = dup_str(c, account);
        if (c->p->account_id == NULL)
            return TV_ENOMEM;
        lower(c->p->account_id);
    }

    rc = parse_tiers(c, root);
    if (rc == TV_OK)
        rc = parse_workers(c, root);
    if (rc == TV_OK)
        rc = resolve_refs(c);
    if (rc == TV_OK)
        rc = parse_d1(c, root);
    if (rc == TV_OK)
        rc = parse_rollout(c, root);
    if (rc == TV_OK)
        rc = tv_policy_graph(c->p, c->name, c->err);
    return rc;
}

static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

enum tv_status
tv_policy_parse(struct tv_policy **out, const char *text, size_t len,
                const char *name, struct tv_error *err)
{
    struct pctx c = { name, err, NULL };
    cJSON *root = NULL;
    enum tv_status rc;

    if (out == NULL || text == NULL || name == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_policy_parse: bad argument");
    *out = NULL;
    rc = tv_jsonc_parse(text, len, name, &root, err);
    if (rc != TV_OK)
        return rc;
    c.p = calloc(1, sizeof(*c.p));
    if (c.p == NULL) {
        rc = nomem(&c);
        goto out;
    }
    c.p->strategy = TV_STRATEGY_BULK;
    c.p->on_failure = TV_ON_FAILURE_ROLLBACK;
    c.p->concurrency = 4;
    c.p->path = strdup(name);
    c.p->dir = dir_of(name);
    if (c.p->path == NULL || c.p->dir == NULL) {
        rc = nomem(&c);
        goto out;
    }
    rc = parse_top(&c, root);
    if (rc != TV_OK)
        goto out;
    *out = c.p;
    c.p = NULL;
out:
    tv_policy_free(c.p);
    cJSON_Delete(root);
    return rc;
}

enum tv_status
tv_policy_load(struct tv_policy **out, const char *path, struct tv_error *err)
{
    enum tv_status rc;
    size_t len;
    char *text;

    if (out == NULL || path == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_policy_load: bad argument");
    *out = NULL;
    rc = tv_file_read(path, TV_CONFIG_MAX, &text, &len, err);
    if (rc != TV_OK)
        return rc;
    rc = tv_policy_parse(out, text, len, path, err);
    free(text);
    return rc;
}

static void
free_worker(struct tv_worker *w)
{
    size_t i;

    for (i = 0; i < w->nbindings; i++)
        free(w->bindings[i]);
    for (i = 0; i < w->nafter; i++)
        free(w->after[i]);
    for (i = 0; i < w->nsecrets; i++) {
        free(w->secrets[i].name);
        free(w->secrets[i].from_service);
        free(w->secrets[i].from_name);
    }
    for (i = 0; i < w->nprobes; i++) {
        free(w->probes[i].url);
        free(w->probes[i].method);
        free(w->probes[i].expect_body);
        free(w->probes[i].secret);
    }
    free(w->bindings);
    free(w->binding_idx);
    free(w->after);
    free(w->after_idx);
    free(w->secrets);
    free(w->probes);
    free(w->name);
    free(w->service);
}

void
tv_policy_free(struct tv_policy *p)
{
    size_t i, j;

    if (p == NULL)
        return;
    for (i = 0; i < p->ntiers; i++)
        free(p->tiers[i].name);
    for (i = 0; i < p->nworkers; i++)
        free_worker(&p->workers[i]);
    for (i = 0; i < p->nd1; i++) {
        for (j = 0; j < p->d1[i].nmigrations; j++)
            free(p->d1[i].migrations[j]);
        free(p->d1[i].migrations);
        free(p->d1[i].database_id);
        free(p->d1[i].name);
        free(p->d1[i].migrations_dir);
        free(p->d1[i].migrations_table);
    }
    free(p->tiers);
    free(p->workers);
    free(p->d1);
    free(p->path);
    free(p->dir);
    free(p->account_id);
    free(p);
}

long
tv_policy_tier_index(const struct tv_policy *p, const char *name)
{
    size_t i;

    if (p == NULL || name == NULL)
        return -1;
    for (i = 0; i < p->ntiers; i++) {
        if (p->tiers[i].name != NULL && strcmp(p->tiers[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

long
tv_policy_worker_index(const struct tv_policy *p, const char *name)
{
    size_t i;

    if (p == NULL || name == NULL)
        return -1;
    for (i = 0; i < p->nworkers; i++) {
        if (p->workers[i].name != NULL && strcmp(p->workers[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

const char *
tv_probe_kind_name(enum tv_probe_kind k)
{
    switch (k) {
    case TV_PROBE_HTTP:
        return "http";
    case TV_PROBE_STRIPE_WEBHOOK:
        return "stripe-webhook";
    case TV_PROBE_CREEM_WEBHOOK:
        return "creem-webhook";
    }
    return "unknown";
}

const char *
tv_strategy_name(enum tv_strategy s)
{
    return s == TV_STRATEGY_STAGED ? "staged" : "bulk";
}

const char *
tv_on_failure_name(enum tv_on_failure f)
{
    return f == TV_ON_FAILURE_STOP ? "stop" : "rollback";
}
