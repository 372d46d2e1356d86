/*
 * tv_policy.h - policy files (format 1): which Worker needs which secret in
 * which tier, how each Worker is verified, and the D1 migrations that must
 * be applied first.  docs/policy.md is the reference of the file format.
 *
 * A loaded policy is fully validated: names are unique, every tier and
 * worker reference resolves (the *_idx fields), and the graph formed by
 * `bindings` and `after` has no cycle.  A struct tv_policy is read-only
 * after load and owned by the caller (tv_policy_free).
 */
#ifndef TV_POLICY_H
#define TV_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "tv_error.h"
#include "tv_vault.h"

#define TV_POLICY_FORMAT 1

struct tv_tier {
    char *name;
    int enabled; /* default 1 */
};

struct tv_policy_secret {
    char *name;            /* the name the Worker sees */
    char *tier;            /* the tier's name */
    size_t tier_idx;       /* index into policy->tiers */
    char *from_service;    /* vault service; default the worker's service */
    char *from_name;       /* vault name; default name */
    int required;          /* default 1 */
    uint32_t max_age_days; /* 0: never stale by age */
};

enum tv_probe_kind {
    TV_PROBE_HTTP,
    TV_PROBE_STRIPE_WEBHOOK,
    TV_PROBE_CREEM_WEBHOOK,
};

struct tv_probe {
    enum tv_probe_kind kind;
    size_t tier_idx; /* default: the first tier */
    char *url;
    char *method;       /* http: default "GET" */
    long expect_status; /* http: default 200 */
    char *expect_body;  /* http: substring, or NULL */
    long timeout_ms;    /* default 5000 */
    long attempts;      /* default 5 */
    long interval_ms;   /* default 1000 */
    char *secret;       /* webhooks: the Worker's secret name */
    size_t secret_idx;  /* webhooks: index into the worker's secrets */
};

struct tv_worker {
    char *name;
    char *service;       /* default: name */
    char **bindings;     /* workers this one binds to */
    size_t *binding_idx; /* their indexes into policy->workers */
    size_t nbindings;
    char **after; /* workers to push before this one */
    size_t *after_idx;
    size_t nafter;
    struct tv_policy_secret *secrets;
    size_t nsecrets;
    struct tv_probe *probes;
    size_t nprobes;
    size_t wave; /* dependency wave: 0 for workers with no deps */
};

struct tv_d1 {
    char *database_id; /* uuid */
    char *name;        /* optional, for messages */
    char **migrations; /* names that must be in d1_migrations */
    size_t nmigrations;
    char *migrations_dir;   /* or a folder whose *.sql must be, or NULL;
                               already joined with the policy file's
                               directory: use it as it is */
    char *migrations_table; /* default "d1_migrations" */
};

enum tv_strategy {
    TV_STRATEGY_BULK,
    TV_STRATEGY_STAGED,
};

enum tv_on_failure {
    TV_ON_FAILURE_ROLLBACK,
    TV_ON_FAILURE_STOP,
};

struct tv_policy {
    int format;       /* TV_POLICY_FORMAT */
    char *path;       /* the file it was read from, for messages */
    char *account_id; /* 32 lowercase hex digits, or NULL */
    struct tv_tier *tiers;
    size_t ntiers;
    struct tv_worker *workers;
    size_t nworkers;
    size_t nwaves;
    struct tv_d1 *d1;
    size_t nd1;
    enum tv_strategy strategy;     /* default bulk */
    enum tv_on_failure on_failure; /* default rollback */
    unsigned concurrency;          /* default 4, 1..64 */
    char *dir;                     /* the directory of path ("." when none) */
};

/*
 * Reads and validates the policy file at path (JSON with // and block
 * comments and trailing commas allowed; docs/policy.md has every rule)
 * into *out, which the caller owns (tv_policy_free).  On any violation
 * returns TV_EINPUT with a message naming the file, the JSON path and the
 * value, e.g. `policy.json: workers[3].secrets[0].tier: unknown tier
 * "paymnet"`, or "FILE:LINE:COL: ..." for a syntax error;
 * TV_ENOTFOUND/TV_EIO when the file cannot be read, TV_EINPUT when it is
 * not a regular file or larger than 4 MiB, TV_ENOMEM.  *out is NULL on
 * failure.
 */
enum tv_status tv_policy_load(struct tv_policy **out, const char *path,
                              struct tv_error *err);

/*
 * As tv_policy_load, from len bytes of text (NUL bytes refused); name is
 * used in messages and its directory resolves relative migrations_dir.
 */
enum tv_status tv_policy_parse(struct tv_policy **out, const char *text,
                               size_t len, const char *name,
                               struct tv_error *err);

/* Frees p and everything it owns.  NULL is accepted. */
void tv_policy_free(struct tv_policy *p);

/* Index of the tier or worker called name, or -1. */
long tv_policy_tier_index(const struct tv_policy *p, const char *name);
long tv_policy_worker_index(const struct tv_policy *p, const char *name);

/* Fill audit: the state of one policy secret in a vault. */
enum tv_fill_state {
    TV_FILL_FILLED,
    TV_FILL_MISSING,
    TV_FILL_STALE,
};

struct tv_fill {
    size_t worker_idx;
    size_t secret_idx;
    enum tv_fill_state state;
    char reason[48];  /* "older than 90 days", "deleted", ... */
    uint32_t version; /* 0 when missing */
    int64_t updated;  /* unix seconds, 0 when missing */
    int64_t age_days;
    char fp[TV_FP_HEXLEN + 1];
};

/*
 * Computes the state of every secret of every worker, in policy order,
 * against the unlocked vault v at time now (unix seconds), reading
 * records only (no value is decrypted).  A secret is missing when its
 * source (from_service/from_name) is not in the vault, stale when the
 * source was deleted or is older than max_age_days days, else filled.
 * *out (caller frees with free()) gets *n entries.  Returns TV_EINPUT
 * for a NULL argument, TV_ENOMEM, or the vault's failure (TV_EUNLOCK,
 * TV_EINTEGRITY naming the record, TV_EIO) prefixed with the worker and
 * secret; *out is then untouched.
 */
enum tv_status tv_policy_fill(const struct tv_policy *p, struct tv_vault *v,
                              int64_t now, struct tv_fill **out, size_t *n,
                              struct tv_error *err);

/* "filled", "missing" or "stale"; never NULL. */
const char *tv_fill_state_name(enum tv_fill_state s);

/* The counts of one tier in a fill audit. */
struct tv_tier_fill {
    size_t total;           /* policy secrets in the tier */
    size_t filled;          /* of those, filled */
    size_t required;        /* required secrets in the tier */
    size_t required_filled; /* of those, filled (stale is not filled) */
    int ready;              /* required_filled == required */
};

/*
 * Sums the n fill entries f of p by tier into tiers (p->ntiers entries,
 * in tier order).  Returns 1 when every enabled tier is ready, else 0.
 */
int tv_policy_fill_summary(const struct tv_policy *p, const struct tv_fill *f,
                           size_t n, struct tv_tier_fill *tiers);

/* Names used in policy files: "http", "bulk", "rollback", ...; never NULL. */
const char *tv_probe_kind_name(enum tv_probe_kind k);
const char *tv_strategy_name(enum tv_strategy s);
const char *tv_on_failure_name(enum tv_on_failure f);

#endif
