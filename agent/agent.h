/*
 * agent.h - what the agent's commands share: the open vault, the policy,
 * the Cloudflare client, and what preflight learned about each Worker.
 */
#ifndef TV_AGENT_H
#define TV_AGENT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "tv_cf.h"
#include "tv_error.h"
#include "tv_http.h"
#include "tv_policy.h"
#include "tv_vault.h"

#define TV_AGENT_ID_MAX 64 /* Cloudflare version ids (uuid) */
#define TV_AGENT_READS  32 /* read requests in flight at once */

/* What the agent knows about one policy Worker on Cloudflare. */
struct tv_remote {
    int exists;                     /* in the account's scripts list */
    char latest[TV_AGENT_ID_MAX];   /* newest version id; "" unknown */
    char deployed[TV_AGENT_ID_MAX]; /* version serving most traffic in
                                       the newest deployment; "" unknown */
    char latest_message[96];        /* the newest version's annotation */
    long latest_number; /* the newest version's number; -1 unknown */
};

struct tv_agent {
    const struct tv_policy *policy;
    struct tv_vault *vault;
    struct tv_http *http;
    struct tv_cf *cf;
    char account[TV_AGENT_ID_MAX]; /* the policy's account id */
    struct tv_remote *remote;      /* one per policy worker */
    int json;                      /* --json: one document on stdout */
};

/*
 * Checks the account read-only (see DESIGN: token, account, workers,
 * bindings, D1 migrations) and fills a->remote.  Each problem is logged
 * as an error naming its subject.  report, when not NULL, receives the
 * checks for --json: {"ok": bool, "checks": [{"check", "subject", "ok",
 * "message"}...]} (owned by the caller).  Returns TV_OK when everything
 * holds, TV_EGATE when a check failed (the message counts the problems),
 * TV_ENET/TV_EAPI when the account could not be read at all, TV_ENOMEM.
 */
enum tv_status tv_preflight(struct tv_agent *a, cJSON **report,
                            struct tv_error *err);

/*
 * Reads the newest version and deployment of the n policy workers in
 * idx (one batch) into a->remote.  TV_OK, or the first failure.
 */
enum tv_status tv_agent_read_versions(struct tv_agent *a, const size_t *idx,
                                      size_t n, struct tv_error *err);

/*
 * Rolls the policy out through tier `through` (NULL: every enabled tier):
 * preflight first, then each tier in order as DESIGN §6 says.  report
 * receives the result document for --json (owned by the caller, may be
 * set on failure too).  TV_OK when every tier is verified, TV_EGATE when
 * held (preflight, missing secrets, failed verification), other codes
 * for failures.
 */
enum tv_status tv_rollout(struct tv_agent *a, const char *through,
                          cJSON **report, struct tv_error *err);

/*
 * The plan document for `plan`: per tier and worker what a rollout would
 * do, and the names on Cloudflare the policy does not know (one read
 * batch).  The caller owns *report.
 */
enum tv_status tv_agent_plan(struct tv_agent *a, cJSON **report,
                             struct tv_error *err);

/* The status document for `status`: what the state says per tier. */
enum tv_status tv_agent_status(struct tv_agent *a, cJSON **report,
                               struct tv_error *err);

/* An ISO 8601 UTC time ("2026-12-03T09:14:25Z") in buf (>= 21 bytes). */
void tv_agent_time(long long t, char *buf, size_t size);

#endif
