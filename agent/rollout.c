/*
 * rollout.c - the rollout engine: preflight, then each enabled tier in
 * order through --through; in each tier the touched Workers in
 * dependency waves, each wave pushed concurrently and verified before
 * the next; a failed verification rolls the tier back and holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rollout.h"
#include "state.h"

const struct tv_worker *
tv_run_pworker(const struct tv_run *r, const struct tv_plan_worker *w)
{
    return &r->a->policy->workers[w->worker_idx];
}

cJSON *
tv_run_worker(struct tv_run *r, const struct tv_plan_worker *w)
{
    cJSON *run = tv_state_obj(r->t->state, "run");
    cJSON *ws = run != NULL ? tv_state_obj(run, "workers") : NULL;

    return ws != NULL ? tv_state_obj(ws, tv_run_pworker(r, w)->name) : NULL;
}

enum tv_status
tv_run_save(struct tv_run *r, struct tv_error *err)
{
    return tv_state_save(r->a->vault, r->plan->account, r->tier, r->t->state,
                         err);
}

static enum tv_status
oom(struct tv_error *err)
{
    return tv_error_set(err, TV_ENOMEM, "out of memory");
}

/* Opens the tier's run; one cut short during a rollback starts over. */
static enum tv_status
run_start(struct tv_run *r, struct tv_error *err)
{
    cJSON *run = tv_state_obj(r->t->state, "run"), *w;

    if (run == NULL)
        return oom(err);
    if (strcmp(tv_state_str(run, "phase"), "rollback") == 0) {
        cJSON_ArrayForEach(w, tv_state_obj(run, "workers"))
        {
            if (tv_state_set_str(w, "step", "") < 0)
                return oom(err);
        }
        tv_log(TV_LOG_WARN, r->tier, NULL,
               "an earlier rollback was interrupted: pushing again");
    } else if (tv_state_str(run, "phase")[0] != '\0') {
        tv_log(TV_LOG_WARN, r->tier, NULL, "resuming an interrupted rollout");
    }
    if (tv_state_set_str(run, "phase", "push") < 0)
        return oom(err);
    if (tv_state_num(run, "started") == 0 &&
        tv_state_set_num(run, "started", (double)tv_now()) < 0)
        return oom(err);
    return TV_OK;
}

static size_t
count_present(const struct tv_plan_worker *w)
{
    size_t n = 0;

    for (size_t i = 0; i < w->nsecrets; i++)
        n += w->secrets[i].action == TV_PLAN_SAME ||
             w->secrets[i].action == TV_PLAN_ADD ||
             w->secrets[i].action == TV_PLAN_CHANGE;
    return n;
}

/* The verified record of w after success. */
static cJSON *
verified_worker(struct tv_run *r, struct tv_plan_worker *w, const cJSON *old)
{
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(r->t->state, "run");
    const cJSON *rw = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(run, "workers"),
        tv_run_pworker(r, w)->name);
    cJSON *o = cJSON_CreateObject(), *secrets;
    const char *vid = rw != NULL ? tv_state_str(rw, "version_id")
                                 : tv_state_str(old, "version_id");

    secrets = o != NULL ? tv_state_obj(o, "secrets") : NULL;
    if (secrets == NULL || tv_state_set_str(o, "version_id", vid) < 0)
        goto fail;
    for (size_t i = 0; i < w->nsecrets; i++) {
        struct tv_plan_secret *s = &w->secrets[i];

        if (s->fp[0] != '\0' &&
            tv_state_set_secret(secrets, s->ps->name, s->ps->from_service,
                                s->ps->from_name, s->version, s->fp) < 0)
            goto fail;
    }
    return o;

fail:
    cJSON_Delete(o);
    return NULL;
}

/* Records the tier as verified: state, audit entry, and the plan. */
static enum tv_status
finalize(struct tv_run *r, size_t pushed, struct tv_error *err)
{
    cJSON *ver = cJSON_CreateObject(), *old, *ws;
    char detail[TV_DETAIL_MAX + 1];
    enum tv_status st;
    size_t nsecrets = 0;

    old = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r->t->state, "verified"), "workers");
    ws = ver != NULL ? tv_state_obj(ver, "workers") : NULL;
    if (ws == NULL || tv_state_set_num(ver, "time", (double)tv_now()) < 0)
        goto fail;
    for (size_t i = 0; i < r->t->nworkers; i++) {
        struct tv_plan_worker *w = &r->t->workers[i];
        const char *name = tv_run_pworker(r, w)->name;
        cJSON *o =
            verified_worker(r, w, cJSON_GetObjectItemCaseSensitive(old, name));

        if (o == NULL || !cJSON_AddItemToObject(ws, name, o)) {
            cJSON_Delete(o);
            goto fail;
        }
        nsecrets += count_present(w);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(r->t->state, "verified");
    cJSON_DeleteItemFromObjectCaseSensitive(r->t->state, "run");
    cJSON_DeleteItemFromObjectCaseSensitive(r->t->state, "last_failure");
    if (!cJSON_AddItemToObject(r->t->state, "verified", ver))
        goto fail;
    st = tv_run_save(r, err);
    if (st != TV_OK)
        return st;

    for (size_t i = 0; i < r->t->nworkers; i++) {
        struct tv_plan_worker *w = &r->t->workers[i];

        for (size_t j = 0; j < w->nsecrets; j++) {
            struct tv_plan_secret *s = &w->secrets[j];

            s->old_version = s->version;
            memcpy(s->old_fp, s->fp, sizeof(s->old_fp));
        }
    }
    r->t->verified = 1;
    snprintf(detail, sizeof(detail),
             "tier '%s': %zu of %zu workers pushed, %zu secrets verified",
             r->tier, pushed, r->t->nworkers, nsecrets);
    return tv_vault_audit(r->a->vault, "tier-verified", NULL, NULL, 0, NULL,
                          detail, err);

fail:
    cJSON_Delete(ver);
    return oom(err);
}

static void
report_worker(struct tv_run *r, const struct tv_plan_worker *w,
              const char *action)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return;
    tv_state_set_str(o, "worker", tv_run_pworker(r, w)->name);
    tv_state_set_str(o, "action", action);
    tv_state_set_num(o, "secrets", (double)count_present(w));
    tv_state_set_str(o, "version_id",
                     tv_state_str(tv_run_worker(r, w), "version_id"));
    cJSON_AddItemToArray(r->workers, o);
}

/* Holds the tier when required secrets are missing from the vault. */
static enum tv_status
hold_missing(struct tv_run *r, cJSON *rep, struct tv_error *err)
{
    cJSON *list = cJSON_AddArrayToObject(rep, "missing");

    for (size_t i = 0; i < r->t->nworkers; i++) {
        const struct tv_plan_worker *w = &r->t->workers[i];
        const char *name = tv_run_pworker(r, w)->name;

        for (size_t j = 0; j < w->nsecrets; j++) {
            const struct tv_policy_secret *ps = w->secrets[j].ps;
            cJSON *o;

            if (w->secrets[j].action != TV_PLAN_MISSING)
                continue;
            tv_log(TV_LOG_ERROR, r->tier, name,
                   "required secret '%s' is missing from the vault "
                   "('%s/%s')",
                   ps->name, ps->from_service, ps->from_name);
            o = cJSON_CreateObject();
            if (o == NULL)
                continue;
            tv_state_set_str(o, "worker", name);
            tv_state_set_str(o, "name", ps->name);
            tv_state_set_str(o, "from", ps->from_name);
            tv_state_set_str(o, "service", ps->from_service);
            cJSON_AddItemToArray(list, o);
        }
    }
    return tv_error_set(err, TV_EGATE,
                        "held before tier '%s': %zu required secret%s "
                        "missing from the vault, nothing pushed for it",
                        r->tier, r->t->nmissing,
                        r->t->nmissing == 1 ? " is" : "s are");
}

/* Verification failed (or a smoke test): roll back if the policy says. */
static enum tv_status
fail_tier(struct tv_run *r, cJSON *rep, struct tv_error *err)
{
    char reason[TV_RUN_REASON_MAX];
    enum tv_status st;

    snprintf(reason, sizeof(reason), "%s", r->reason);
    tv_state_set_str(rep, "reason", reason);
    if (r->a->policy->on_failure == TV_ON_FAILURE_ROLLBACK) {
        st = tv_rollback_tier(r, err);
        if (st != TV_OK) {
            tv_state_set_str(rep, "result", "failed");
            return tv_error_prefix(err, "tier '%s': rollback failed", r->tier);
        }
        tv_state_set_str(rep, "result", "rolled-back");
    } else {
        tv_state_set_str(rep, "result", "failed-verification");
    }
    return tv_error_set(
        err, TV_EGATE, "held at tier '%s': verification failed (%s)%s", r->tier,
        reason,
        r->a->policy->on_failure == TV_ON_FAILURE_ROLLBACK ? "; rolled back"
                                                           : "");
}

/*
 * A write failed for good (after the client's retries): the tier is
 * partly pushed and not verified.  With on_failure rollback, what this
 * run wrote is undone as for a failed verification; the failure itself
 * is what is reported (exit 1), and a rerun starts the tier again.
 */
static enum tv_status
write_failed(struct tv_run *r, cJSON *rep, enum tv_status st,
             struct tv_error *err)
{
    struct tv_error rb;

    tv_state_set_str(rep, "result", "failed");
    tv_state_set_str(rep, "reason", err->msg);
    if (r->a->policy->on_failure != TV_ON_FAILURE_ROLLBACK)
        return st;
    snprintf(r->reason, sizeof(r->reason), "%s", err->msg);
    if (tv_rollback_tier(r, &rb) != TV_OK)
        tv_log(TV_LOG_ERROR, r->tier, NULL, "rollback failed: %s", rb.msg);
    else
        tv_state_set_str(rep, "result", "rolled-back");
    return st;
}

/* One wave: push what is not pushed yet, then verify all of it. */
static enum tv_status
run_wave(struct tv_run *r, struct tv_plan_worker **ws, size_t n, cJSON *rep,
         struct tv_error *err)
{
    enum tv_status st;
    int passed = 0;

    st = tv_push_wave(r, ws, n, err);
    if (st == TV_EGATE)
        return fail_tier(r, rep, err);
    if (st == TV_EAPI || st == TV_ENET)
        return write_failed(r, rep, st, err);
    if (st != TV_OK)
        return st;
    st = tv_verify_workers(r, ws, n, 0, 0, &passed, err);
    if (st != TV_OK)
        return st;
    return passed ? TV_OK : fail_tier(r, rep, err);
}

static enum tv_status
run_waves(struct tv_run *r, cJSON *rep, size_t *pushed, struct tv_error *err)
{
    const struct tv_policy *p = r->a->policy;
    struct tv_plan_worker **ws;
    enum tv_status st = TV_OK;

    ws = calloc(r->t->nworkers ? r->t->nworkers : 1, sizeof(*ws));
    if (ws == NULL)
        return oom(err);
    for (size_t wave = 0; wave < p->nwaves && st == TV_OK; wave++) {
        size_t n = 0;

        for (size_t i = 0; i < r->t->nworkers; i++) {
            struct tv_plan_worker *w = &r->t->workers[i];

            if (w->touched && tv_run_pworker(r, w)->wave == wave)
                ws[n++] = w;
        }
        if (n == 0)
            continue;
        tv_log(TV_LOG_DEBUG, r->tier, NULL, "wave %zu: %zu workers", wave, n);
        st = run_wave(r, ws, n, rep, err);
        for (size_t i = 0; i < n && st == TV_OK; i++) {
            report_worker(r, ws[i], "pushed");
            (*pushed)++;
        }
    }
    free(ws);
    return st;
}

static enum tv_status
rollout_tier(struct tv_agent *a, struct tv_plan *plan, size_t k, cJSON *rep,
             struct tv_error *err)
{
    struct tv_run r = { 0 };
    enum tv_status st;
    size_t pushed = 0;
    long long t0 = tv_log_ms();

    r.a = a;
    r.plan = plan;
    r.t = &plan->tiers[k];
    r.tier = a->policy->tiers[r.t->tier_idx].name;
    r.workers = cJSON_AddArrayToObject(rep, "workers");
    if (r.workers == NULL)
        return oom(err);
    if (r.t->up_to_date) {
        tv_state_set_str(rep, "result", "skipped");
        tv_log_step(r.tier, NULL, "tier", "already verified, no change", t0);
        return TV_OK;
    }
    if (r.t->nmissing > 0) {
        tv_state_set_str(rep, "result", "held");
        return hold_missing(&r, rep, err);
    }
    st = run_start(&r, err);
    if (st == TV_OK)
        st = run_waves(&r, rep, &pushed, err);
    if (st == TV_OK)
        st = finalize(&r, pushed, err);
    if (st == TV_OK) {
        tv_state_set_str(rep, "result", "verified");
        tv_log_step(r.tier, NULL, "tier", "verified", t0);
    } else if (tv_state_str(rep, "result")[0] == '\0') {
        tv_state_set_str(rep, "result", "failed");
    }
    return st;
}

static void
add_stats(struct tv_agent *a, cJSON *doc)
{
    struct tv_http_stats s;
    cJSON *o = cJSON_AddObjectToObject(doc, "requests");

    tv_http_get_stats(a->http, &s);
    if (o == NULL)
        return;
    tv_state_set_num(o, "total", (double)s.requests);
    tv_state_set_num(o, "writes", (double)s.writes);
    tv_state_set_num(o, "retries", (double)s.retries);
}

static const char *
result_name(enum tv_status st)
{
    if (st == TV_OK)
        return "done";
    return st == TV_EGATE ? "held" : "failed";
}

enum tv_status
tv_rollout(struct tv_agent *a, const char *through, cJSON **report,
           struct tv_error *err)
{
    struct tv_plan *plan = NULL;
    cJSON *doc, *pre = NULL, *tiers;
    enum tv_status st;
    size_t k = 0;

    *report = doc = cJSON_CreateObject();
    if (doc == NULL)
        return oom(err);
    if (through != NULL &&
        (tv_policy_tier_index(a->policy, through) < 0 ||
         !a->policy->tiers[tv_policy_tier_index(a->policy, through)].enabled))
        return tv_error_set(err, TV_EUSAGE,
                            "--through: '%s' is not an enabled tier of the "
                            "policy",
                            through);
    st = tv_preflight(a, &pre, err);
    if (pre != NULL)
        cJSON_AddItemToObject(doc, "preflight", pre);
    if (st == TV_OK)
        st =
            tv_plan_build(a->policy, a->vault, a->account, through, &plan, err);
    tiers = cJSON_AddArrayToObject(doc, "tiers");
    for (; st == TV_OK && plan != NULL && k < plan->ntiers; k++) {
        cJSON *rep = cJSON_CreateObject();

        if (rep == NULL || !cJSON_AddItemToArray(tiers, rep)) {
            cJSON_Delete(rep);
            st = oom(err);
            break;
        }
        tv_state_set_str(rep, "tier",
                         a->policy->tiers[plan->tiers[k].tier_idx].name);
        st = rollout_tier(a, plan, k, rep, err);
    }
    for (; plan != NULL && k < plan->ntiers; k++) {
        cJSON *rep = cJSON_CreateObject();

        tv_state_set_str(rep, "tier",
                         a->policy->tiers[plan->tiers[k].tier_idx].name);
        tv_state_set_str(rep, "result", "not-reached");
        cJSON_AddItemToArray(tiers, rep);
    }
    tv_state_set_str(doc, "result", result_name(st));
    add_stats(a, doc);
    tv_plan_free(plan);
    return st;
}
