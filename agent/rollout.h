/*
 * rollout.h - internals the rollout engine shares between its files:
 * one tier's run (rollout.c drives tiers and waves, push.c sends the
 * writes, verify.c runs the probes and rolls back).
 */
#ifndef TV_AGENT_ROLLOUT_H
#define TV_AGENT_ROLLOUT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "agent.h"
#include "plan.h"

#define TV_RUN_REASON_MAX 512

/* One tier being rolled out. */
struct tv_run {
    struct tv_agent *a;
    struct tv_plan *plan;
    struct tv_plan_tier *t;         /* the tier, in plan */
    const char *tier;               /* its name */
    cJSON *workers;                 /* the report's workers of this tier */
    char reason[TV_RUN_REASON_MAX]; /* why verification failed */
};

/* The run record of worker w (state "run.workers.W"), created if absent. */
cJSON *tv_run_worker(struct tv_run *r, const struct tv_plan_worker *w);

/* The policy worker of w. */
const struct tv_worker *tv_run_pworker(const struct tv_run *r,
                                       const struct tv_plan_worker *w);

/* Saves the tier's state (durable); names the tier on failure. */
enum tv_status tv_run_save(struct tv_run *r, struct tv_error *err);

/*
 * Pushes the n workers of one wave with the policy's strategy, recording
 * an intent before and the result after every write.  Staged pushes are
 * smoke-tested before promotion (a failed smoke test is TV_EGATE with
 * r->reason set).  TV_OK, TV_EGATE, or the first write's failure.
 */
enum tv_status tv_push_wave(struct tv_run *r, struct tv_plan_worker **ws,
                            size_t n, struct tv_error *err);

/*
 * Sends the writes that undo this run on the n workers: their previously
 * verified values (bulk; secrets new in this run are deleted) or their
 * previous deployment (staged).  Intent and result saved around each.
 */
enum tv_status tv_push_restore(struct tv_run *r, struct tv_plan_worker **ws,
                               size_t n, struct tv_error *err);

/*
 * Runs the probes of the n workers for tiers up to r's: rollback 0 checks
 * the values just pushed; rollback 1 the restored ones (probes of the
 * tier itself only when it was verified before).  override_header 1 adds
 * the version override header of each worker's staged version.  *passed
 * is 1 when all held; otherwise each failure is logged and the first
 * kept in r->reason.  TV_OK when the probes ran.
 */
enum tv_status tv_verify_workers(struct tv_run *r, struct tv_plan_worker **ws,
                                 size_t n, int rollback, int override_header,
                                 int *passed, struct tv_error *err);

/*
 * Gives every worker the tier touched in this run its previous values
 * (bulk) or its previous deployment (staged), verifies again and records
 * the outcome in the state and the audit log.  TV_OK when the rollback
 * itself went through (the caller still reports the failed tier).
 */
enum tv_status tv_rollback_tier(struct tv_run *r, struct tv_error *err);

/*
 * The value of secret secret_idx of policy worker wi as deployed for
 * probes: for the run's tier the pushed (or, rolling back, the restored)
 * version, for earlier tiers their verified version.  *value is NULL when
 * there is none.  The caller frees *value.
 */
enum tv_status tv_run_value(struct tv_run *r, size_t wi, size_t secret_idx,
                            int rollback, struct tv_secret **value,
                            struct tv_error *err);

#endif
