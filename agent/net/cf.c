/*
 * cf.c - the Cloudflare API client (see tv_cf.h): request building,
 * envelope judging, the follow-up requests of token verification and
 * paged account lists.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tv_cf.h"

#define TOKEN_MAX      4096
#define SEGMENT_MAX    255
#define CF_MSG_MAX     160 /* bytes of Cloudflare's message we quote */
#define ACCOUNTS_PER   50
#define PAGES_MAX      200
#define CT_JSON        "Content-Type: application/json"
#define CT_MERGE_PATCH "Content-Type: application/merge-patch+json"
#define ACCEPT_JSON    "Accept: application/json"

struct tv_cf {
    struct tv_http *http;
    char *base;
    struct tv_secret *token;
};

enum call_kind {
    CALL_PLAIN,
    CALL_VERIFY,
    CALL_ACCOUNTS,
};

struct tv_cf_priv {
    enum call_kind kind;
    const char *method;
    char *url;
    char *path;       /* url after the base, for messages */
    char *worker;     /* for messages, or NULL */
    char *account_id; /* verify fallback */
    const char *headers[2];
    size_t nheaders;
    char *body;
    struct tv_secret *sbody;
    unsigned flags;
    int stage;     /* verify: 1 after the fallback; accounts: 1 paging */
    int pending;   /* requests to send in the next round */
    int sent;      /* tv_cf_run has run it */
    size_t npages; /* accounts: total pages */
    cJSON **pages; /* accounts: each page's result array */
};

/* One request of a round, and whom it answers. */
struct slot {
    struct tv_cf_call *call;
    size_t page; /* accounts: 1-based page; else 0 */
    char *url;   /* owned when page > 1 */
};

const char *
tv_cf_explain(long cf_code)
{
    switch (cf_code) {
    case TV_CF_ERR_TOKEN_ACCOUNT:
        return "the token is not a user token; an account-owned token is "
               "verified through /accounts/{account_id}/tokens/verify";
    case TV_CF_ERR_AUTH:
        return "authentication error: the token lacks a permission this "
               "call needs, or the account id is not one it can reach";
    case TV_CF_ERR_NO_WORKER:
        return "the worker does not exist on this account; tiervault never "
               "creates workers: create it first (wrangler deploy)";
    case TV_CF_ERR_STAGED:
        return "a staged version is pending: the worker's latest version "
               "is not the deployed one, so cloudflare refuses secret "
               "edits; deploy that version or discard it first";
    case TV_CF_ERR_NO_VERSION:
        return "the worker has no version yet: deploy it once first";
    case TV_CF_ERR_TOO_MANY:
        return "more than 100 secrets in one request: split the write";
    default:
        return NULL;
    }
}

static int
is_hex32(const char *s)
{
    size_t i;

    for (i = 0; s != NULL && i < 32; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return s != NULL && s[32] == '\0';
}

static int
is_segment(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || strcmp(s, ".") == 0 ||
        strcmp(s, "..") == 0)
        return 0;
    for (i = 0; s[i] != '\0'; i++)
        if (i >= SEGMENT_MAX ||
            !(isalnum((unsigned char)s[i]) || strchr("_.-", s[i])))
            return 0;
    return 1;
}

enum tv_status
tv_cf_new(struct tv_cf **out, struct tv_http *http, const char *base_url,
          const struct tv_secret *token, struct tv_error *err)
{
    struct tv_cf *cf;
    enum tv_status st;
    size_t i, len;

    if (out == NULL || http == NULL || token == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_cf_new: missing argument");
    *out = NULL;
    if (token->len == 0 || token->len > TOKEN_MAX)
        return tv_error_set(err, TV_EINPUT,
                            "the api token is empty or too long");
    for (i = 0; i < token->len; i++)
        if (token->data[i] <= 0x20 || token->data[i] >= 0x7f)
            return tv_error_set(err, TV_EINPUT,
                                "the api token must be printable ascii");
    if (base_url == NULL)
        base_url = TV_CF_DEFAULT_BASE;
    st = tv_http_check_url(base_url, err);
    if (st != TV_OK)
        return tv_error_prefix(err, "api base url");

    cf = calloc(1, sizeof(*cf));
    if (cf == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    cf->http = http;
    cf->base = strdup(base_url);
    if (cf->base == NULL) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto fail;
    }
    len = strlen(cf->base);
    while (len > 0 && cf->base[len - 1] == '/')
        cf->base[--len] = '\0';
    st = tv_secret_dup(&cf->token, token->data, token->len, err);
    if (st != TV_OK)
        goto fail;
    *out = cf;
    return TV_OK;

fail:
    tv_cf_free(cf);
    return st;
}

void
tv_cf_free(struct tv_cf *cf)
{
    if (cf == NULL)
        return;
    tv_secret_free(cf->token);
    free(cf->base);
    free(cf);
}

void
tv_cf_call_release(struct tv_cf_call *c)
{
    struct tv_cf_priv *p;
    size_t i;

    if (c == NULL)
        return;
    p = c->priv;
    if (p != NULL) {
        free(p->url);
        free(p->path);
        free(p->worker);
        free(p->account_id);
        free(p->body);
        tv_secret_free(p->sbody);
        for (i = 0; p->pages != NULL && i < p->npages; i++)
            cJSON_Delete(p->pages[i]);
        free(p->pages);
        free(p);
    }
    cJSON_Delete(c->result);
    cJSON_Delete(c->result_info);
    memset(c, 0, sizeof(*c));
}

/* Records a preparation failure in c too, so that tv_cf_run skips it. */
static enum tv_status
prep_fail(struct tv_cf_call *c, enum tv_status code, const char *msg,
          struct tv_error *err)
{
    c->status = tv_error_set(&c->err, code, "%s", msg);
    return tv_error_set(err, code, "%s", msg);
}

/*
 * Starts a call: resets c, checks account and script (either may be
 * NULL: not part of this path) and sets the url to base + path.
 */
static enum tv_status
prep_begin(struct tv_cf *cf, struct tv_cf_call *c, const char *method,
           const char *account_id, const char *script, const char *path,
           struct tv_error *err)
{
    char msg[TV_ERROR_MSG_MAX];
    struct tv_cf_priv *p;
    size_t len;

    memset(c, 0, sizeof(*c));
    if (cf == NULL)
        return prep_fail(c, TV_EINPUT, "no cloudflare client", err);
    if (account_id != NULL && !is_hex32(account_id)) {
        snprintf(msg, sizeof(msg), "account id '%.40s' is not 32 hex digits",
                 account_id);
        return prep_fail(c, TV_EINPUT, msg, err);
    }
    if (script != NULL && !is_segment(script)) {
        snprintf(msg, sizeof(msg),
                 "worker name '%.80s' has characters cloudflare does not "
                 "allow",
                 script);
        return prep_fail(c, TV_EINPUT, msg, err);
    }
    p = c->priv = calloc(1, sizeof(*p));
    len = strlen(cf->base) + strlen(path) + 1;
    if (p == NULL || (p->url = malloc(len)) == NULL ||
        (p->path = strdup(path)) == NULL ||
        (script != NULL && (p->worker = strdup(script)) == NULL))
        return prep_fail(c, TV_ENOMEM, "out of memory", err);
    snprintf(p->url, len, "%s%s", cf->base, path);
    p->method = method;
    p->headers[p->nheaders++] = ACCEPT_JSON;
    return TV_OK;
}

/*
 * A GET under /accounts/{account_id}: [/workers/scripts/{script}] then
 * suffix, then [/{id}].
 */
static enum tv_status
prep_get(struct tv_cf *cf, struct tv_cf_call *c, const char *account_id,
         const char *script, const char *suffix, const char *id,
         struct tv_error *err)
{
    char path[1024];

    if (id != NULL && !is_segment(id)) {
        memset(c, 0, sizeof(*c));
        return prep_fail(c, TV_EINPUT,
                         "version id has characters outside [A-Za-z0-9_.-]",
                         err);
    }
    snprintf(path, sizeof(path), "/accounts/%s%s%s%s%s%s", account_id,
             script ? "/workers/scripts/" : "", script ? script : "", suffix,
             id ? "/" : "", id ? id : "");
    return prep_begin(cf, c, "GET", account_id, script, path, err);
}

enum tv_status
tv_cf_prep_verify_token(struct tv_cf *cf, struct tv_cf_call *c,
                        const char *account_id, struct tv_error *err)
{
    enum tv_status st;

    if (c == NULL)
        return tv_error_set(err, TV_EINPUT, "no call");
    st = prep_begin(cf, c, "GET", account_id, NULL, "/user/tokens/verify", err);
    if (st != TV_OK)
        return st;
    c->priv->kind = CALL_VERIFY;
    if (account_id != NULL &&
        (c->priv->account_id = strdup(account_id)) == NULL)
        return prep_fail(c, TV_ENOMEM, "out of memory", err);
    return TV_OK;
}

enum tv_status
tv_cf_prep_accounts(struct tv_cf *cf, struct tv_cf_call *c,
                    struct tv_error *err)
{
    char path[64];
    enum tv_status st;

    if (c == NULL)
        return tv_error_set(err, TV_EINPUT, "no call");
    snprintf(path, sizeof(path), "/accounts?page=1&per_page=%d", ACCOUNTS_PER);
    st = prep_begin(cf, c, "GET", NULL, NULL, path, err);
    if (st == TV_OK)
        c->priv->kind = CALL_ACCOUNTS;
    return st;
}

enum tv_status
tv_cf_prep_scripts(struct tv_cf *cf, struct tv_cf_call *c,
                   const char *account_id, struct tv_error *err)
{
    if (c == NULL || account_id == NULL)
        return tv_error_set(err, TV_EINPUT, "no call or account id");
    return prep_get(cf, c, account_id, NULL, "/workers/scripts", NULL, err);
}

#define SCRIPT_PATH "/accounts/%s/workers/scripts/%s"

enum tv_status
tv_cf_prep_settings(struct tv_cf *cf, struct tv_cf_call *c,
                    const char *account_id, const char *script,
                    struct tv_error *err)
{
    if (c == NULL || account_id == NULL || script == NULL)
        return tv_error_set(err, TV_EINPUT, "no call, account or worker");
    return prep_get(cf, c, account_id, script, "/settings", NULL, err);
}

enum tv_status
tv_cf_prep_secrets(struct tv_cf *cf, struct tv_cf_call *c,
                   const char *account_id, const char *script,
                   struct tv_error *err)
{
    if (c == NULL || account_id == NULL || script == NULL)
        return tv_error_set(err, TV_EINPUT, "no call, account or worker");
    return prep_get(cf, c, account_id, script, "/secrets", NULL, err);
}

enum tv_status
tv_cf_prep_versions(struct tv_cf *cf, struct tv_cf_call *c,
                    const char *account_id, const char *script,
                    struct tv_error *err)
{
    if (c == NULL || account_id == NULL || script == NULL)
        return tv_error_set(err, TV_EINPUT, "no call, account or worker");
    return prep_get(cf, c, account_id, script, "/versions", NULL, err);
}

enum tv_status
tv_cf_prep_version(struct tv_cf *cf, struct tv_cf_call *c,
                   const char *account_id, const char *script,
                   const char *version_id, struct tv_error *err)
{
    if (c == NULL || account_id == NULL || script == NULL || version_id == NULL)
        return tv_error_set(err, TV_EINPUT,
                            "no call, account, worker or "
                            "version");
    return prep_get(cf, c, account_id, script, "/versions", version_id, err);
}

enum tv_status
tv_cf_prep_deployments(struct tv_cf *cf, struct tv_cf_call *c,
                       const char *account_id, const char *script,
                       struct tv_error *err)
{
    if (c == NULL || account_id == NULL || script == NULL)
        return tv_error_set(err, TV_EINPUT, "no call, account or worker");
    return prep_get(cf, c, account_id, script, "/deployments", NULL, err);
}

enum tv_status
tv_cf_prep_subdomain(struct tv_cf *cf, struct tv_cf_call *c,
                     const char *account_id, struct tv_error *err)
{
    if (c == NULL || account_id == NULL)
        return tv_error_set(err, TV_EINPUT, "no call or account id");
    return prep_get(cf, c, account_id, NULL, "/workers/subdomain", NULL, err);
}

enum tv_status
tv_cf_prep_script_subdomain(struct tv_cf *cf, struct tv_cf_call *c,
                            const char *account_id, const char *script,
                            struct tv_error *err)
{
    if (c == NULL || account_id == NULL || script == NULL)
        return tv_error_set(err, TV_EINPUT, "no call, account or worker");
    return prep_get(cf, c, account_id, script, "/subdomain", NULL, err);
}

/*
 * A JSON writer that either counts (p == NULL) or writes into a buffer
 * sized by an earlier counting pass; used to build bodies that hold
 * secret values directly in guarded memory.
 */
struct jw {
    unsigned char *p;
    size_t len;
};

static void
jw_raw(struct jw *w, const void *s, size_t n)
{
    if (w->p != NULL)
        memcpy(w->p + w->len, s, n);
    w->len += n;
}

/* A literal, its length counted by the compiler. */
#define JW_LIT(w, lit) jw_raw((w), (lit), sizeof(lit) - 1)

static void
jw_str(struct jw *w, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char esc[6];
    size_t i;

    JW_LIT(w, "\"");
    for (i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            esc[0] = '\\';
            esc[1] = s[i];
            jw_raw(w, esc, 2);
        } else if (s[i] < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = (unsigned char)hex[s[i] >> 4];
            esc[5] = (unsigned char)hex[s[i] & 0xf];
            jw_raw(w, esc, 6);
        } else {
            jw_raw(w, s + i, 1);
        }
    }
    JW_LIT(w, "\"");
}

static void
jw_cstr(struct jw *w, const char *s)
{
    jw_str(w, (const unsigned char *)s, strlen(s));
}

/* The secrets object of either body; bulk bodies repeat the name. */
static void
jw_secrets(struct jw *w, const struct tv_cf_secret *s, size_t n, int bulk)
{
    size_t i;

    JW_LIT(w, "{");
    for (i = 0; i < n; i++) {
        if (i > 0)
            JW_LIT(w, ",");
        jw_cstr(w, s[i].name);
        JW_LIT(w, ":");
        if (s[i].value == NULL) {
            JW_LIT(w, "null");
            continue;
        }
        JW_LIT(w, "{");
        if (bulk) {
            JW_LIT(w, "\"name\":");
            jw_cstr(w, s[i].name);
            JW_LIT(w, ",");
        }
        JW_LIT(w, "\"type\":\"secret_text\",\"text\":");
        jw_str(w, s[i].value->data, s[i].value->len);
        JW_LIT(w, "}");
    }
    JW_LIT(w, "}");
}

static void
jw_body(struct jw *w, const struct tv_cf_secret *s, size_t n,
        const char *message, int bulk)
{
    if (bulk) {
        JW_LIT(w, "{\"secrets\":");
        jw_secrets(w, s, n, 1);
        JW_LIT(w, "}");
        return;
    }
    JW_LIT(w, "{\"env\":");
    jw_secrets(w, s, n, 0);
    if (message != NULL) {
        JW_LIT(w, ",\"annotations\":{\"workers/message\":");
        jw_cstr(w, message);
        JW_LIT(w, "}");
    }
    JW_LIT(w, "}");
}

static enum tv_status
check_secrets(struct tv_cf_call *c, const struct tv_cf_secret *s, size_t n,
              struct tv_error *err)
{
    char msg[TV_ERROR_MSG_MAX];
    size_t i, j;

    if (s == NULL || n == 0 || n > TV_CF_BULK_MAX) {
        snprintf(msg, sizeof(msg),
                 "%zu secrets in one write: 1 to %d allowed, split larger "
                 "sets",
                 n, TV_CF_BULK_MAX);
        return prep_fail(c, TV_EINPUT, msg, err);
    }
    for (i = 0; i < n; i++) {
        if (!is_segment(s[i].name)) {
            snprintf(msg, sizeof(msg), "secret name '%.80s' is not valid",
                     s[i].name ? s[i].name : "(null)");
            return prep_fail(c, TV_EINPUT, msg, err);
        }
        for (j = 0; j < i; j++)
            if (strcmp(s[i].name, s[j].name) == 0) {
                snprintf(msg, sizeof(msg), "secret '%s' listed twice",
                         s[i].name);
                return prep_fail(c, TV_EINPUT, msg, err);
            }
    }
    return TV_OK;
}

static enum tv_status
prep_secret_write(struct tv_cf *cf, struct tv_cf_call *c,
                  const char *account_id, const char *script,
                  const struct tv_cf_secret *s, size_t n, const char *message,
                  int bulk, struct tv_error *err)
{
    char path[512];
    struct jw w = { NULL, 0 };
    enum tv_status st;

    if (c == NULL || account_id == NULL || script == NULL)
        return tv_error_set(err, TV_EINPUT, "no call, account or worker");
    if (bulk)
        snprintf(path, sizeof(path), SCRIPT_PATH "/secrets-bulk", account_id,
                 script);
    else
        snprintf(path, sizeof(path),
                 "/accounts/%s/workers/workers/%s/versions/latest", account_id,
                 script);
    st = prep_begin(cf, c, "PATCH", account_id, script, path, err);
    if (st != TV_OK)
        return st;
    st = check_secrets(c, s, n, err);
    if (st != TV_OK)
        return st;
    jw_body(&w, s, n, message, bulk);
    st = tv_secret_new(&c->priv->sbody, w.len, &c->err);
    if (st != TV_OK)
        return tv_error_set(err, c->status = st, "%s", c->err.msg);
    w.p = c->priv->sbody->data;
    w.len = 0;
    jw_body(&w, s, n, message, bulk);
    c->priv->headers[c->priv->nheaders++] = CT_MERGE_PATCH;
    return TV_OK;
}

enum tv_status
tv_cf_prep_secrets_bulk(struct tv_cf *cf, struct tv_cf_call *c,
                        const char *account_id, const char *script,
                        const struct tv_cf_secret *secrets, size_t n,
                        struct tv_error *err)
{
    return prep_secret_write(cf, c, account_id, script, secrets, n, NULL, 1,
                             err);
}

enum tv_status
tv_cf_prep_version_patch(struct tv_cf *cf, struct tv_cf_call *c,
                         const char *account_id, const char *script,
                         const struct tv_cf_secret *secrets, size_t n,
                         const char *message, struct tv_error *err)
{
    return prep_secret_write(cf, c, account_id, script, secrets, n, message, 0,
                             err);
}

static enum tv_status
set_json_body(struct tv_cf_call *c, cJSON *doc, struct tv_error *err)
{
    if (doc == NULL)
        return prep_fail(c, TV_ENOMEM, "out of memory", err);
    c->priv->body = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (c->priv->body == NULL)
        return prep_fail(c, TV_ENOMEM, "out of memory", err);
    c->priv->headers[c->priv->nheaders++] = CT_JSON;
    return TV_OK;
}

static cJSON *
deploy_doc(const struct tv_cf_share *shares, size_t n, const char *message)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *vs = cJSON_AddArrayToObject(doc, "versions");
    cJSON *v, *ann;
    size_t i;

    if (cJSON_AddStringToObject(doc, "strategy", "percentage") == NULL ||
        vs == NULL)
        goto fail;
    for (i = 0; i < n; i++) {
        v = cJSON_CreateObject();
        if (v == NULL)
            goto fail;
        cJSON_AddItemToArray(vs, v);
        if (cJSON_AddStringToObject(v, "version_id", shares[i].version_id) ==
                NULL ||
            cJSON_AddNumberToObject(v, "percentage", shares[i].percentage) ==
                NULL)
            goto fail;
    }
    if (message != NULL) {
        ann = cJSON_AddObjectToObject(doc, "annotations");
        if (ann == NULL ||
            cJSON_AddStringToObject(ann, "workers/message", message) == NULL)
            goto fail;
    }
    return doc;

fail:
    cJSON_Delete(doc);
    return NULL;
}

enum tv_status
tv_cf_prep_deploy(struct tv_cf *cf, struct tv_cf_call *c,
                  const char *account_id, const char *script,
                  const struct tv_cf_share *shares, size_t n,
                  const char *message, struct tv_error *err)
{
    char path[512];
    unsigned sum = 0;
    enum tv_status st;
    size_t i;

    if (c == NULL || account_id == NULL || script == NULL)
        return tv_error_set(err, TV_EINPUT, "no call, account or worker");
    snprintf(path, sizeof(path), SCRIPT_PATH "/deployments", account_id,
             script);
    st = prep_begin(cf, c, "POST", account_id, script, path, err);
    if (st != TV_OK)
        return st;
    for (i = 0; shares != NULL && i < n; i++) {
        if (!is_segment(shares[i].version_id) || shares[i].percentage > 100)
            return prep_fail(c, TV_EINPUT,
                             "deployment share with a bad "
                             "version id or percentage",
                             err);
        sum += shares[i].percentage;
    }
    if (shares == NULL || n == 0 || n > 2 || sum != 100)
        return prep_fail(c, TV_EINPUT,
                         "a deployment needs 1 or 2 versions "
                         "whose percentages add up to 100",
                         err);
    return set_json_body(c, deploy_doc(shares, n, message), err);
}

/* 1 when sql is one SELECT statement (a trailing `;` allowed). */
static int
is_single_select(const char *sql)
{
    const char *p = sql, *semi;

    while (isspace((unsigned char)*p))
        p++;
    if (strncasecmp(p, "SELECT", 6) != 0 ||
        !(isspace((unsigned char)p[6]) || p[6] == '*' || p[6] == '('))
        return 0;
    semi = strchr(p, ';');
    if (semi == NULL)
        return 1;
    for (p = semi + 1; *p != '\0'; p++)
        if (!isspace((unsigned char)*p))
            return 0;
    return 1;
}

enum tv_status
tv_cf_prep_d1_select(struct tv_cf *cf, struct tv_cf_call *c,
                     const char *account_id, const char *database_id,
                     const char *sql, const char *const *params, size_t nparams,
                     struct tv_error *err)
{
    char path[512];
    enum tv_status st;
    cJSON *doc, *arr;
    size_t i;

    if (c == NULL || account_id == NULL || database_id == NULL || sql == NULL)
        return tv_error_set(err, TV_EINPUT,
                            "no call, account, database or "
                            "sql");
    if (!is_segment(database_id)) {
        memset(c, 0, sizeof(*c));
        return prep_fail(c, TV_EINPUT,
                         "d1 database id has characters "
                         "outside [A-Za-z0-9_.-]",
                         err);
    }
    snprintf(path, sizeof(path), "/accounts/%s/d1/database/%s/query",
             account_id, database_id);
    st = prep_begin(cf, c, "POST", account_id, NULL, path, err);
    if (st != TV_OK)
        return st;
    /* The checker only reads: anything but one SELECT is never sent. */
    if (!is_single_select(sql))
        return prep_fail(c, TV_EINPUT,
                         "d1 query refused: only a single "
                         "SELECT statement may be sent",
                         err);
    c->priv->flags |= TV_HTTP_READ;
    doc = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(doc, "params");
    if (cJSON_AddStringToObject(doc, "sql", sql) == NULL || arr == NULL) {
        cJSON_Delete(doc);
        return prep_fail(c, TV_ENOMEM, "out of memory", err);
    }
    for (i = 0; i < nparams; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(params[i]));
    return set_json_body(c, doc, err);
}

/* Copies Cloudflare's message for quoting: printable, bounded. */
static void
quote_cf(char *out, size_t outlen, const char *msg)
{
    size_t i, j = 0;

    for (i = 0; msg != NULL && msg[i] != '\0' && j + 1 < outlen; i++)
        out[j++] = isprint((unsigned char)msg[i]) ? msg[i] : ' ';
    out[j] = '\0';
}

/* Sets c's error: "[worker 'W': ]METHOD PATH: TEXT". */
static void
call_error(struct tv_cf_call *c, enum tv_status code, const char *text)
{
    const struct tv_cf_priv *p = c->priv;

    if (p->worker != NULL)
        c->status = tv_error_set(&c->err, code, "worker '%s': %s %s: %s",
                                 p->worker, p->method, p->path, text);
    else
        c->status =
            tv_error_set(&c->err, code, "%s %s: %s", p->method, p->path, text);
}

static void
envelope_error(struct tv_cf_call *c, cJSON *doc)
{
    cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "errors"), 0);
    cJSON *code = cJSON_GetObjectItem(e0, "code");
    cJSON *msg = cJSON_GetObjectItem(e0, "message");
    char quoted[CF_MSG_MAX];
    char text[TV_ERROR_MSG_MAX];
    const char *why;

    if (!cJSON_IsNumber(code)) {
        snprintf(text, sizeof(text),
                 "cloudflare reported failure without an error code "
                 "(HTTP %ld)",
                 c->http_code);
        call_error(c, TV_EAPI, text);
        return;
    }
    c->cf_code = (long)code->valuedouble;
    quote_cf(quoted, sizeof(quoted),
             cJSON_IsString(msg) ? msg->valuestring : "");
    why = tv_cf_explain(c->cf_code);
    if (why == NULL && c->http_code == 429)
        why = "rate limited: cloudflare allows 1200 requests per 5 minutes "
              "per user; wait before running again";
    snprintf(text, sizeof(text), "cloudflare error %ld \"%s\" (HTTP %ld)%s%s",
             c->cf_code, quoted, c->http_code, why ? ": " : "", why ? why : "");
    call_error(c, c->cf_code == TV_CF_ERR_NO_WORKER ? TV_ENOTFOUND : TV_EAPI,
               text);
}

static int
body_is_blank(const struct tv_http_response *r)
{
    size_t i;

    for (i = 0; i < r->body_len; i++)
        if (!isspace((unsigned char)r->body[i]))
            return 0;
    return 1;
}

static void
not_json(struct tv_cf_call *c, const struct tv_http_response *r)
{
    char text[TV_ERROR_MSG_MAX];
    char ct[64];
    char mit[32];

    quote_cf(ct, sizeof(ct), r->content_type ? r->content_type : "no type");
    quote_cf(mit, sizeof(mit), r->cf_mitigated);
    if (r->cf_mitigated == NULL && r->content_type != NULL &&
        strstr(r->content_type, "json") != NULL) {
        snprintf(text, sizeof(text),
                 "malformed JSON from cloudflare (%s, HTTP %ld, %zu bytes)", ct,
                 r->code, r->body_len);
        call_error(c, TV_EAPI, text);
        return;
    }
    snprintf(text, sizeof(text),
             "expected JSON from cloudflare, got %s (HTTP %ld%s%s)", ct,
             r->code, r->cf_mitigated ? ", cf-mitigated: " : "",
             r->cf_mitigated ? mit : "");
    call_error(c, TV_EAPI, text);
}

/*
 * Judges one answer from its envelope.  On success *doc is the parsed
 * envelope (NULL for an empty 204), owned by the caller.
 */
static enum tv_status
judge(struct tv_cf_call *c, const struct tv_http_response *r, cJSON **doc)
{
    char text[TV_ERROR_MSG_MAX];
    cJSON *d, *ok;

    *doc = NULL;
    c->http_code = r->code;
    if (r->status != TV_OK) {
        if (c->priv->worker != NULL)
            c->status = tv_error_set(&c->err, r->status, "worker '%s': %s",
                                     c->priv->worker, r->err.msg);
        else
            c->status = tv_error_set(&c->err, r->status, "%s", r->err.msg);
        return c->status;
    }
    if (body_is_blank(r) && r->code == 204 && r->cf_mitigated == NULL)
        return TV_OK;
    d = r->cf_mitigated ? NULL : cJSON_ParseWithLength(r->body, r->body_len);
    if (d == NULL) {
        not_json(c, r);
        return c->status;
    }
    ok = cJSON_GetObjectItem(d, "success");
    if (!cJSON_IsBool(ok)) {
        snprintf(text, sizeof(text),
                 "malformed answer from cloudflare: no 'success' field "
                 "(HTTP %ld)",
                 r->code);
        call_error(c, TV_EAPI, text);
    } else if (!cJSON_IsTrue(ok)) {
        envelope_error(c, d);
    } else {
        *doc = d;
        return TV_OK;
    }
    cJSON_Delete(d);
    return c->status;
}

static void
take_result(struct tv_cf_call *c, cJSON *doc)
{
    cJSON_Delete(c->result);
    cJSON_Delete(c->result_info);
    c->result = cJSON_DetachItemFromObject(doc, "result");
    c->result_info = cJSON_DetachItemFromObject(doc, "result_info");
    if (cJSON_IsNull(c->result)) {
        cJSON_Delete(c->result);
        c->result = NULL;
    }
    cJSON_Delete(doc);
}

static void
after_verify(struct tv_cf *cf, struct tv_cf_call *c, cJSON *doc)
{
    struct tv_cf_priv *p = c->priv;
    size_t len;

    if (c->status == TV_OK) {
        take_result(c, doc);
        return;
    }
    if (c->cf_code != TV_CF_ERR_TOKEN_ACCOUNT || p->stage != 0 ||
        p->account_id == NULL)
        return;
    /* An account-owned token: ask the account's own endpoint. */
    free(p->url);
    free(p->path);
    len = strlen(p->account_id) + 32;
    p->path = malloc(len);
    p->url = malloc(strlen(cf->base) + len);
    if (p->path == NULL || p->url == NULL) {
        c->status = tv_error_set(&c->err, TV_ENOMEM, "out of memory");
        return;
    }
    snprintf(p->path, len, "/accounts/%s/tokens/verify", p->account_id);
    snprintf(p->url, strlen(cf->base) + len, "%s%s", cf->base, p->path);
    p->stage = 1;
    p->pending = 1;
    c->account_token = 1;
    c->status = TV_OK;
    c->cf_code = 0;
    tv_error_clear(&c->err);
}

static void
accounts_first_page(struct tv_cf_call *c, cJSON *doc)
{
    struct tv_cf_priv *p = c->priv;
    cJSON *tp;
    size_t n = 1;

    take_result(c, doc);
    if (!cJSON_IsArray(c->result)) {
        call_error(c, TV_EAPI, "malformed answer: result is not a list");
        return;
    }
    tp = cJSON_GetObjectItem(c->result_info, "total_pages");
    if (cJSON_IsNumber(tp) && tp->valuedouble > 1)
        n = tp->valuedouble > PAGES_MAX ? PAGES_MAX : (size_t)tp->valuedouble;
    if (n == 1)
        return;
    p->pages = calloc(n + 1, sizeof(*p->pages));
    if (p->pages == NULL) {
        c->status = tv_error_set(&c->err, TV_ENOMEM, "out of memory");
        return;
    }
    p->npages = n;
    p->stage = 1;
    p->pending = 1;
}

/* Appends the pages fetched in the second round to the first page's list. */
static void
accounts_merge(struct tv_cf_call *c)
{
    struct tv_cf_priv *p = c->priv;
    cJSON *item;
    size_t i;

    for (i = 2; c->status == TV_OK && i <= p->npages; i++) {
        while (p->pages[i - 1] != NULL &&
               (item = cJSON_DetachItemFromArray(p->pages[i - 1], 0)) != NULL)
            cJSON_AddItemToArray(c->result, item);
    }
}

static void
handle(struct tv_cf *cf, struct slot *s, const struct tv_http_response *r)
{
    struct tv_cf_call *c = s->call;
    struct tv_cf_priv *p = c->priv;
    cJSON *doc = NULL;

    if (c->status != TV_OK)
        return;
    judge(c, r, &doc);
    if (p->kind == CALL_VERIFY) {
        after_verify(cf, c, doc);
        return;
    }
    if (c->status != TV_OK)
        return;
    if (p->kind == CALL_ACCOUNTS && s->page == 0) {
        accounts_first_page(c, doc);
        return;
    }
    if (p->kind == CALL_ACCOUNTS) {
        p->pages[s->page - 1] = cJSON_DetachItemFromObject(doc, "result");
        cJSON_Delete(doc);
        if (!cJSON_IsArray(p->pages[s->page - 1]))
            call_error(c, TV_EAPI, "malformed answer: result is not a list");
        return;
    }
    take_result(c, doc);
}

static void
fill_request(struct tv_cf *cf, struct tv_http_request *q, struct slot *s)
{
    const struct tv_cf_priv *p = s->call->priv;

    memset(q, 0, sizeof(*q));
    q->method = p->method;
    q->url = s->url ? s->url : p->url;
    q->headers = p->headers;
    q->nheaders = p->nheaders;
    q->bearer = cf->token;
    q->body = p->body;
    q->body_len = p->body ? strlen(p->body) : 0;
    q->secret_body = p->sbody;
    q->flags = p->flags;
}

/* Collects the requests of this round into slots; returns their count. */
static size_t
gather(struct tv_cf *cf, struct tv_cf_call *calls, size_t n, struct slot *slots,
       size_t max)
{
    struct tv_cf_priv *p;
    size_t i, k, count = 0;
    size_t len;

    for (i = 0; i < n; i++) {
        p = calls[i].priv;
        if (p == NULL || calls[i].status != TV_OK || !p->pending)
            continue;
        p->pending = 0;
        p->sent = 1;
        if (!(p->kind == CALL_ACCOUNTS && p->stage == 1)) {
            if (count < max)
                slots[count++] = (struct slot){ &calls[i], 0, NULL };
            continue;
        }
        for (k = 2; k <= p->npages && count < max; k++) {
            len = strlen(cf->base) + 64;
            slots[count] = (struct slot){ &calls[i], k, malloc(len) };
            if (slots[count].url == NULL) {
                calls[i].status =
                    tv_error_set(&calls[i].err, TV_ENOMEM, "out of memory");
                break;
            }
            snprintf(slots[count].url, len, "%s/accounts?page=%zu&per_page=%d",
                     cf->base, k, ACCOUNTS_PER);
            count++;
        }
    }
    return count;
}

static size_t
slots_needed(const struct tv_cf_call *calls, size_t n)
{
    size_t i, need = 0;

    for (i = 0; i < n; i++) {
        if (calls[i].priv == NULL || calls[i].status != TV_OK ||
            !calls[i].priv->pending)
            continue;
        if (calls[i].priv->kind == CALL_ACCOUNTS && calls[i].priv->stage)
            need += calls[i].priv->npages;
        else
            need++;
    }
    return need;
}

static enum tv_status
run_round(struct tv_cf *cf, struct tv_cf_call *calls, size_t n,
          size_t max_parallel, size_t need, struct tv_error *err)
{
    struct tv_http_request *reqs;
    struct slot *slots;
    size_t i, count;
    enum tv_status st = TV_OK;

    reqs = calloc(need, sizeof(*reqs));
    slots = calloc(need, sizeof(*slots));
    if (reqs == NULL || slots == NULL) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto out;
    }
    count = gather(cf, calls, n, slots, need);
    for (i = 0; i < count; i++)
        fill_request(cf, &reqs[i], &slots[i]);
    /* Per-request failures are judged below, call by call. */
    tv_http_run(cf->http, reqs, count, max_parallel, NULL);
    for (i = 0; i < count; i++) {
        handle(cf, &slots[i], &reqs[i].resp);
        tv_http_response_free(&reqs[i].resp);
        free(slots[i].url);
    }

out:
    free(slots);
    free(reqs);
    return st;
}

enum tv_status
tv_cf_run(struct tv_cf *cf, struct tv_cf_call *calls, size_t n,
          size_t max_parallel, struct tv_error *err)
{
    enum tv_status st;
    size_t i, need;

    if (cf == NULL || (calls == NULL && n > 0))
        return tv_error_set(err, TV_EINPUT, "tv_cf_run: no calls");
    for (i = 0; i < n; i++)
        if (calls[i].priv != NULL && calls[i].status == TV_OK &&
            !calls[i].priv->sent)
            calls[i].priv->pending = 1;
    while ((need = slots_needed(calls, n)) > 0) {
        st = run_round(cf, calls, n, max_parallel, need, err);
        if (st != TV_OK)
            return st;
    }
    for (i = 0; i < n; i++)
        if (calls[i].priv != NULL && calls[i].priv->kind == CALL_ACCOUNTS &&
            calls[i].priv->stage == 1)
            accounts_merge(&calls[i]);
    for (i = 0; i < n; i++)
        if (calls[i].status != TV_OK)
            return tv_error_set(err, calls[i].status, "%s", calls[i].err.msg);
    return TV_OK;
}
