/*
 * tv_cf.h - the Cloudflare API client the agent uses, on top of tv_http.
 *
 * Every operation is a struct tv_cf_call: a tv_cf_prep_* function fills
 * one, tv_cf_run sends any number of them concurrently and parses each
 * answer, and the caller then reads each call's status, result and
 * Cloudflare error code.  A single call is tv_cf_run with n = 1.  So the
 * rollout engine can prepare the secrets-bulk writes of a whole
 * dependency wave, run them at once, and read one result per Worker.
 *
 * Answers are judged from the JSON envelope: `success` decides, then
 * errors[0].code and message; the HTTP status alone never makes a call
 * succeed.  An empty 204 is a success with no result.  A body that is not
 * JSON (an HTML error page, a WAF challenge) is an error of its own:
 * "expected JSON from cloudflare, got text/html (HTTP 403, cf-mitigated:
 * challenge)".
 *
 * Messages name the Worker when there is one, the method and the API
 * path, the Cloudflare code and message, and for the codes tiervault
 * knows (tv_cf_explain) what they mean in plain words.  The token is held
 * in guarded memory and never appears in a message or log line; secret
 * values travel only in guarded request bodies.
 *
 * tiervault never creates a Worker: no function here can.
 */
#ifndef TV_CF_H
#define TV_CF_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "tv_error.h"
#include "tv_http.h"
#include "tv_mem.h"

#define TV_CF_DEFAULT_BASE "https://api.cloudflare.com/client/v4"
#define TV_CF_BULK_MAX     100 /* keys in one secrets-bulk or version patch */

/* Cloudflare error codes tiervault reacts to. */
#define TV_CF_ERR_TOKEN_ACCOUNT 1000   /* account token on /user/... */
#define TV_CF_ERR_AUTH          10000  /* authentication error */
#define TV_CF_ERR_NO_WORKER     10007  /* the Worker does not exist */
#define TV_CF_ERR_STAGED        10215  /* latest version is not deployed */
#define TV_CF_ERR_NO_VERSION    10222  /* the Worker has no version yet */
#define TV_CF_ERR_TOO_MANY      100160 /* more than 100 secrets at once */

struct tv_cf;
struct tv_cf_priv;

struct tv_cf_call {
    /* Filled by tv_cf_run. */
    enum tv_status status; /* TV_OK, or as listed at tv_cf_run */
    struct tv_error err;   /* the message when status is not TV_OK */
    long cf_code;          /* errors[0].code of a failed answer, else 0 */
    long http_code;        /* HTTP status of the answer; 0: none */
    cJSON *result;         /* the envelope's result (NULL for a 204 or a
                              null result); owned by the call: a caller
                              that keeps it sets the field to NULL */
    cJSON *result_info;    /* the envelope's result_info, or NULL; same */
    int account_token;     /* verify: the token is account-owned (the
                              answer came from /accounts/{a}/tokens/verify)
                            */

    /* Private to tv_cf.c. */
    struct tv_cf_priv *priv;
};

/* One secret of a secrets-bulk write or a staged version. */
struct tv_cf_secret {
    const char *name;              /* the name the Worker sees */
    const struct tv_secret *value; /* NULL: delete the secret */
};

/* One version of a deployment and its share of traffic. */
struct tv_cf_share {
    const char *version_id;
    unsigned percentage; /* 0..100; the shares add up to 100 */
};

/*
 * Creates a client for base_url (NULL: TV_CF_DEFAULT_BASE; a trailing /
 * is dropped) sending the API token token through http.  token is copied
 * into guarded memory; it must be 1..4096 printable ASCII bytes, else
 * TV_EINPUT ("the api token must be printable ascii") before anything is
 * sent.  base_url must pass tv_http_check_url (TV_EINPUT).  http is
 * borrowed and must outlive the client.  The caller owns *out
 * (tv_cf_free).  TV_ENOMEM.
 */
enum tv_status tv_cf_new(struct tv_cf **out, struct tv_http *http,
                         const char *base_url, const struct tv_secret *token,
                         struct tv_error *err);

/* Wipes the token and frees cf.  NULL is accepted. */
void tv_cf_free(struct tv_cf *cf);

/*
 * Every tv_cf_prep_* function below overwrites *c (release an earlier
 * use with tv_cf_call_release first), checks its arguments and builds
 * the request; it sends nothing.  On failure it returns, and also stores
 * in c, TV_EINPUT (an account id that is not 32 hex digits, a script,
 * version or database id with characters outside [A-Za-z0-9_.-], a
 * secret name outside [A-Za-z0-9_.-], more than TV_CF_BULK_MAX secrets,
 * shares that do not add up to 100, SQL that is not a single SELECT) or
 * TV_ENOMEM; tv_cf_run then leaves the call alone.  Strings passed in
 * are copied; secret values are copied at once into the call's
 * guarded body (and nowhere else), so the caller may free them after
 * the prep.  The result each call gives is listed with it.
 */

/*
 * Token verification: GET /user/tokens/verify; when that answers error
 * 1000 (an account-owned token) and account_id is not NULL, tv_cf_run
 * goes on with GET /accounts/{account_id}/tokens/verify and sets
 * c->account_token.  result: {id, status: "active"|"disabled"|"expired"};
 * the caller judges status.
 */
enum tv_status tv_cf_prep_verify_token(struct tv_cf *cf, struct tv_cf_call *c,
                                       const char *account_id,
                                       struct tv_error *err);

/*
 * GET /accounts, every page: tv_cf_run fetches the first page, then the
 * others concurrently.  result: one array of every account {id, name};
 * result_info: the first page's.
 */
enum tv_status tv_cf_prep_accounts(struct tv_cf *cf, struct tv_cf_call *c,
                                   struct tv_error *err);

/* GET /accounts/{a}/workers/scripts.  result: array, `id` is the name. */
enum tv_status tv_cf_prep_scripts(struct tv_cf *cf, struct tv_cf_call *c,
                                  const char *account_id, struct tv_error *err);

/*
 * GET .../workers/scripts/{script}/settings.  result: {bindings: [...]}.
 * An unknown Worker is TV_ENOTFOUND with cf_code 10007.
 */
enum tv_status tv_cf_prep_settings(struct tv_cf *cf, struct tv_cf_call *c,
                                   const char *account_id, const char *script,
                                   struct tv_error *err);

/* GET .../workers/scripts/{script}/secrets.  result: [{name, type}]. */
enum tv_status tv_cf_prep_secrets(struct tv_cf *cf, struct tv_cf_call *c,
                                  const char *account_id, const char *script,
                                  struct tv_error *err);

/*
 * PATCH .../workers/scripts/{script}/secrets-bulk with
 * application/merge-patch+json: each of the n secrets is set (value) or
 * deleted (NULL value); secrets not listed stay.  n is 1..TV_CF_BULK_MAX:
 * splitting a larger set is the caller's job, because each request makes
 * one new deployed version.  The body is built in guarded memory and
 * wiped.  result: as Cloudflare gives it.  10215 (a staged version is
 * pending) and 100160 come back as TV_EAPI with the plain explanation.
 */
enum tv_status tv_cf_prep_secrets_bulk(struct tv_cf *cf, struct tv_cf_call *c,
                                       const char *account_id,
                                       const char *script,
                                       const struct tv_cf_secret *secrets,
                                       size_t n, struct tv_error *err);

/*
 * PATCH /accounts/{a}/workers/workers/{script}/versions/latest with a
 * merge-patch of env (the n secrets, 1..TV_CF_BULK_MAX, set or deleted)
 * and the annotation workers/message (message, may be NULL): a new
 * version that is not deployed.  Body in guarded memory.  result: the
 * version, result.id its id.  10222: the Worker has no version yet.
 */
enum tv_status tv_cf_prep_version_patch(struct tv_cf *cf, struct tv_cf_call *c,
                                        const char *account_id,
                                        const char *script,
                                        const struct tv_cf_secret *secrets,
                                        size_t n, const char *message,
                                        struct tv_error *err);

/* GET .../scripts/{script}/versions.  result: {items: [...]}, newest first. */
enum tv_status tv_cf_prep_versions(struct tv_cf *cf, struct tv_cf_call *c,
                                   const char *account_id, const char *script,
                                   struct tv_error *err);

/* GET .../scripts/{script}/versions/{id}.  result: {id, resources, ...}. */
enum tv_status tv_cf_prep_version(struct tv_cf *cf, struct tv_cf_call *c,
                                  const char *account_id, const char *script,
                                  const char *version_id, struct tv_error *err);

/*
 * GET .../scripts/{script}/deployments.  result: {deployments: [{id,
 * versions: [{version_id, percentage}]}]}, newest first.
 */
enum tv_status tv_cf_prep_deployments(struct tv_cf *cf, struct tv_cf_call *c,
                                      const char *account_id,
                                      const char *script, struct tv_error *err);

/*
 * POST .../scripts/{script}/deployments with strategy "percentage" and
 * the n shares (1..2, adding up to 100; a version at 0 is part of the
 * deployment and reachable with the version override header) and the
 * annotation workers/message (may be NULL).  result: the deployment.
 */
enum tv_status tv_cf_prep_deploy(struct tv_cf *cf, struct tv_cf_call *c,
                                 const char *account_id, const char *script,
                                 const struct tv_cf_share *shares, size_t n,
                                 const char *message, struct tv_error *err);

/* GET /accounts/{a}/workers/subdomain.  result: {subdomain}. */
enum tv_status tv_cf_prep_subdomain(struct tv_cf *cf, struct tv_cf_call *c,
                                    const char *account_id,
                                    struct tv_error *err);

/*
 * GET .../scripts/{script}/subdomain.  result: {enabled, previews_enabled}:
 * whether the Worker answers on its workers.dev URL (where probes go).
 */
enum tv_status tv_cf_prep_script_subdomain(struct tv_cf *cf,
                                           struct tv_cf_call *c,
                                           const char *account_id,
                                           const char *script,
                                           struct tv_error *err);

/*
 * POST /accounts/{a}/d1/database/{database_id}/query with sql and the
 * nparams string params.  Read-only by construction: sql must start with
 * SELECT (any case, after blanks) and hold no `;` except at its end, else
 * TV_EINPUT and nothing is sent.  result: array, one {results: [rows],
 * success, meta} per statement.  A missing table is TV_EAPI with
 * Cloudflare's message.
 */
enum tv_status tv_cf_prep_d1_select(struct tv_cf *cf, struct tv_cf_call *c,
                                    const char *account_id,
                                    const char *database_id, const char *sql,
                                    const char *const *params, size_t nparams,
                                    struct tv_error *err);

/*
 * Runs the n prepared calls concurrently, at most max_parallel requests
 * in flight (0: all), with tv_http's retries, then the follow-up requests
 * some calls need (token verify fallback, further pages of accounts).
 * Fills each call's status, err, cf_code, http_code, result and
 * result_info.  Per call, status is TV_OK, or:
 *   TV_ENOTFOUND  Cloudflare answered 10007 (the Worker does not exist)
 *   TV_EAPI       any other failed envelope (cf_code set), a non-JSON or
 *                 malformed answer, a response too large
 *   TV_ENET       the network failed after the allowed attempts
 *   TV_EINPUT / TV_ENOMEM  from the call's preparation
 * A zeroed call (never prepared, or released) is left alone, so that an
 * array may have gaps.  Returns TV_OK when every call succeeded, otherwise
 * the status of the first failed call, with its message in err.
 */
enum tv_status tv_cf_run(struct tv_cf *cf, struct tv_cf_call *calls, size_t n,
                         size_t max_parallel, struct tv_error *err);

/*
 * Frees what the call holds (result and result_info unless taken, the
 * request, the guarded body) and zeroes it.  NULL is accepted, and so is
 * a zeroed call.
 */
void tv_cf_call_release(struct tv_cf_call *c);

/*
 * A plain explanation of a Cloudflare error code tiervault knows (1000,
 * 10000, 10007, 10215, 10222, 100160), or NULL.  Static text.
 */
const char *tv_cf_explain(long cf_code);

#endif
