/*
 * verify.c - verification of a tier (the policy's probes) and the
 * rollback of a tier whose verification failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rollout.h"
#include "state.h"
#include "tv_probe.h"

/* The plan tier of policy tier ti, or NULL (disabled, or past it). */
static struct tv_plan_tier *
plan_tier_of(struct tv_run *r, size_t ti)
{
    for (size_t i = 0; i < r->plan->ntiers; i++) {
        if (r->plan->tiers[i].tier_idx == ti)
            return &r->plan->tiers[i];
    }
    return NULL;
}

static const struct tv_plan_secret *
plan_secret_of(const struct tv_plan_tier *t, size_t wi,
               const struct tv_policy_secret *ps)
{
    for (size_t i = 0; i < t->nworkers; i++) {
        if (t->workers[i].worker_idx != wi)
            continue;
        for (size_t j = 0; j < t->workers[i].nsecrets; j++) {
            if (t->workers[i].secrets[j].ps == ps)
                return &t->workers[i].secrets[j];
        }
    }
    return NULL;
}

enum tv_status
tv_run_value(struct tv_run *r, size_t wi, size_t secret_idx, int rollback,
             struct tv_secret **value, struct tv_error *err)
{
    const struct tv_policy_secret *ps;
    const struct tv_plan_secret *s = NULL;
    struct tv_plan_tier *t;
    uint32_t version = 0;
    enum tv_status st;

    *value = NULL;
    ps = &r->a->policy->workers[wi].secrets[secret_idx];
    t = plan_tier_of(r, ps->tier_idx);
    if (t != NULL)
        s = plan_secret_of(t, wi, ps);
    if (t != NULL && s != NULL) {
        /* Earlier tiers, and a rollback, probe what was last verified. */
        version = (t == r->t && !rollback) ? s->version : s->old_version;
        if (version == 0)
            return TV_OK; /* never deployed */
    }
    st = tv_vault_get(r->a->vault, ps->from_service, ps->from_name, version,
                      value, NULL, err);
    if (st == TV_ENOTFOUND) {
        tv_error_clear(err);
        return TV_OK;
    }
    return st;
}

/* 1 when probe pr of worker wi is to run when verifying r's tier. */
static int
probe_wanted(const struct tv_run *r, const struct tv_probe *pr, int rollback)
{
    const struct tv_policy *p = r->a->policy;

    if (pr->tier_idx > r->t->tier_idx || !p->tiers[pr->tier_idx].enabled)
        return 0;
    /* Restored values of a tier never verified before prove nothing. */
    return !(rollback && pr->tier_idx == r->t->tier_idx && !r->t->verified);
}

struct jobs {
    struct tv_probe_job *job;
    size_t *worker; /* policy worker of each job */
    char (*hdr)[TV_NAME_MAX + TV_AGENT_ID_MAX + 64];
    struct tv_secret **values;
    size_t n;
};

static void
jobs_free(struct jobs *j)
{
    for (size_t i = 0; i < j->n; i++)
        tv_secret_free(j->values[i]);
    free(j->job);
    free(j->worker);
    free(j->hdr);
    free(j->values);
}

static enum tv_status
job_add(struct tv_run *r, struct jobs *j, size_t wi, const struct tv_probe *pr,
        int rollback, const char *override, struct tv_error *err)
{
    struct tv_probe_job *job = &j->job[j->n];
    enum tv_status st;

    if (pr->kind != TV_PROBE_HTTP) {
        st = tv_run_value(r, wi, pr->secret_idx, rollback, &j->values[j->n],
                          err);
        if (st != TV_OK)
            return st;
        if (j->values[j->n] == NULL)
            return TV_OK; /* no signing secret deployed: nothing to test */
    }
    job->probe = pr;
    job->secret = j->values[j->n];
    if (override != NULL && override[0] != '\0') {
        snprintf(j->hdr[j->n], sizeof(j->hdr[j->n]),
                 "Cloudflare-Workers-Version-Overrides: %s=\"%s\"",
                 r->a->policy->workers[wi].name, override);
        job->extra_header = j->hdr[j->n];
    }
    j->worker[j->n++] = wi;
    return TV_OK;
}

static enum tv_status
jobs_build(struct tv_run *r, struct tv_plan_worker **ws, size_t n, int rollback,
           int override_header, struct jobs *j, struct tv_error *err)
{
    enum tv_status st = TV_OK;
    size_t cap = 0;

    memset(j, 0, sizeof(*j));
    for (size_t i = 0; i < n; i++)
        cap += r->a->policy->workers[ws[i]->worker_idx].nprobes;
    cap = cap ? cap : 1;
    j->job = calloc(cap, sizeof(*j->job));
    j->worker = calloc(cap, sizeof(*j->worker));
    j->hdr = calloc(cap, sizeof(*j->hdr));
    j->values = calloc(cap, sizeof(*j->values));
    if (j->job == NULL || j->worker == NULL || j->hdr == NULL ||
        j->values == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && st == TV_OK; i++) {
        const struct tv_worker *pw = tv_run_pworker(r, ws[i]);
        const char *ov = NULL;

        if (override_header)
            ov = tv_state_str(tv_run_worker(r, ws[i]), "version_id");
        for (size_t k = 0; k < pw->nprobes && st == TV_OK; k++) {
            if (probe_wanted(r, &pw->probes[k], rollback))
                st = job_add(r, j, ws[i]->worker_idx, &pw->probes[k], rollback,
                             ov, err);
        }
    }
    return st;
}

static const char *
probe_kind(const struct tv_probe *pr)
{
    switch (pr->kind) {
    case TV_PROBE_HTTP:
        return "http";
    case TV_PROBE_STRIPE_WEBHOOK:
        return "stripe-webhook";
    case TV_PROBE_CREEM_WEBHOOK:
        return "creem-webhook";
    }
    return "probe";
}

enum tv_status
tv_verify_workers(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
                  int rollback, int override_header, int *passed,
                  struct tv_error *err)
{
    const char *what = override_header ? "smoke test" : "verify";
    struct jobs j;
    enum tv_status st;
    long long t0 = tv_log_ms();

    *passed = 0;
    st = jobs_build(r, ws, n, rollback, override_header, &j, err);
    if (st == TV_OK && j.n > 0)
        st = tv_probe_run(r->a->http, j.job, j.n, 0, err);
    if (st != TV_OK)
        goto out;
    *passed = 1;
    for (size_t i = 0; i < j.n; i++) {
        const char *name = r->a->policy->workers[j.worker[i]].name;

        char action[TV_RUN_REASON_MAX];

        snprintf(action, sizeof(action), "%s %s %s", what,
                 probe_kind(j.job[i].probe), j.job[i].probe->url);
        if (j.job[i].passed) {
            tv_log_step(r->tier, name, action, "passed", t0);
            continue;
        }
        tv_log(TV_LOG_ERROR, r->tier, name, "%s failed: %s", what,
               j.job[i].reason);
        if (*passed)
            snprintf(r->reason, sizeof(r->reason), "worker '%s': %s", name,
                     j.job[i].reason);
        *passed = 0;
    }

out:
    jobs_free(&j);
    return st;
}

enum tv_status
tv_rollback_tier(struct tv_run *r, struct tv_error *err)
{
    struct tv_plan_worker **ws;
    cJSON *run, *rws, *fail;
    enum tv_status st;
    char detail[TV_DETAIL_MAX + 1];
    size_t n = 0;
    int passed = 1;

    run = tv_state_obj(r->t->state, "run");
    rws = tv_state_obj(run, "workers");
    ws = calloc(r->t->nworkers ? r->t->nworkers : 1, sizeof(*ws));
    if (run == NULL || rws == NULL || ws == NULL) {
        free(ws);
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->t->nworkers; i++) {
        if (cJSON_GetObjectItemCaseSensitive(
                rws, tv_run_pworker(r, &r->t->workers[i])->name) != NULL)
            ws[n++] = &r->t->workers[i];
    }
    tv_log(TV_LOG_WARN, r->tier, NULL, "rolling back %zu worker%s", n,
           n == 1 ? "" : "s");
    st = tv_state_set_str(run, "phase", "rollback") < 0
             ? tv_error_set(err, TV_ENOMEM, "out of memory")
             : tv_run_save(r, err);
    if (st == TV_OK)
        st = tv_push_restore(r, ws, n, err);
    if (st == TV_OK)
        st = tv_verify_workers(r, ws, n, 1, 0, &passed, err);
    if (st != TV_OK)
        goto out;

    cJSON_DeleteItemFromObjectCaseSensitive(r->t->state, "run");
    fail = tv_state_obj(r->t->state, "last_failure");
    if (fail == NULL || tv_state_set_num(fail, "time", (double)tv_now()) < 0 ||
        tv_state_set_str(fail, "reason", r->reason) < 0 ||
        cJSON_AddBoolToObject(fail, "restored_verified", passed) == NULL) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto out;
    }
    st = tv_run_save(r, err);
    if (st != TV_OK)
        goto out;
    snprintf(detail, sizeof(detail),
             "tier '%s': %zu workers restored, %s after rollback", r->tier, n,
             passed ? "verified" : "not verified");
    st = tv_vault_audit(r->a->vault, "tier-rolled-back", NULL, NULL, 0, NULL,
                        detail, err);
    tv_log(passed ? TV_LOG_WARN : TV_LOG_ERROR, r->tier, NULL,
           "rolled back %zu worker%s; the restored values %s", n,
           n == 1 ? "" : "s", passed ? "verify" : "do not verify");

out:
    free(ws);
    return st;
}
