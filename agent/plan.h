/*
 * plan.h - what a rollout would do: per enabled tier and Worker, each
 * policy secret compared, by fingerprint, with what tiervault last pushed
 * and verified (the tier's rollout state).  Pure: reads the vault's
 * records and state, never a value, never the network.
 */
#ifndef TV_AGENT_PLAN_H
#define TV_AGENT_PLAN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "tv_error.h"
#include "tv_policy.h"
#include "tv_vault.h"

enum tv_plan_action {
    TV_PLAN_SAME,    /* pushed and verified with this fingerprint */
    TV_PLAN_ADD,     /* never pushed (verified) before */
    TV_PLAN_CHANGE,  /* pushed before with another fingerprint */
    TV_PLAN_REMOVE,  /* pushed before, now deleted from the vault */
    TV_PLAN_MISSING, /* required, absent from the vault: holds the tier */
    TV_PLAN_ABSENT,  /* optional and absent from the vault: left out */
};

struct tv_plan_secret {
    const struct tv_policy_secret *ps;
    enum tv_plan_action action;
    uint32_t version;              /* current vault version; 0: none */
    char fp[TV_FP_HEXLEN + 1];     /* current; "" when absent */
    uint32_t old_version;          /* last verified; 0: none */
    char old_fp[TV_FP_HEXLEN + 1]; /* last verified; "" when none */
};

struct tv_plan_worker {
    size_t worker_idx;              /* into policy->workers */
    struct tv_plan_secret *secrets; /* the worker's secrets of this tier */
    size_t nsecrets;
    int touched; /* gets a write in this tier (a change, or an unfinished
                    write of a killed run) */
    int pushed;  /* touched, and the current values already went out in
                    the unfinished run (only verification is left) */
};

struct tv_plan_tier {
    size_t tier_idx;                /* into policy->tiers */
    struct tv_plan_worker *workers; /* workers with secrets in this tier */
    size_t nworkers;
    size_t nmissing; /* TV_PLAN_MISSING secrets */
    size_t ntouched;
    int verified; /* the state has a verified record */
    int64_t verified_time;
    int up_to_date; /* verified, nothing touched, no run */
    cJSON *state;   /* the tier's state (owned) */
};

struct tv_plan {
    const struct tv_policy *policy;
    const char *account;        /* state key part; may be NULL */
    struct tv_plan_tier *tiers; /* enabled tiers up to `through` */
    size_t ntiers;
};

/*
 * Builds the plan of policy p against the unlocked vault v for the
 * enabled tiers up to and including through (NULL: all).  account names
 * the rollout state (tv_state_load).  The caller owns *out
 * (tv_plan_free).  TV_EUSAGE when through is not an enabled tier of p;
 * the vault's and tv_state_load's codes otherwise.
 */
enum tv_status tv_plan_build(const struct tv_policy *p, struct tv_vault *v,
                             const char *account, const char *through,
                             struct tv_plan **out, struct tv_error *err);

/* Frees plan and the tiers' state documents; NULL is accepted. */
void tv_plan_free(struct tv_plan *plan);

/* "same", "add", "change", "remove", "missing", "absent". */
const char *tv_plan_action_name(enum tv_plan_action a);

/* 1 when the action writes to Cloudflare (add, change, remove). */
int tv_plan_action_writes(enum tv_plan_action a);

#endif
