/*
 * push.c - the remote writes of one wave: strategy bulk (secrets-bulk,
 * one request per Worker and 100 secrets) and strategy staged (a new
 * version, deployed at 0%, smoke-tested, promoted).  Every write is
 * preceded by an intent and followed by its result in the tier's state,
 * each saved durably, so that a killed agent resumes exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rollout.h"
#include "state.h"

/* The secrets one worker sends in this tier, values in guarded memory. */
struct payload {
    struct tv_cf_secret *items;
    struct tv_secret **values;
    size_t n;
};

/* What a round of writes does to one worker. */
struct step_ops {
    const char *action; /* for messages: "push", "stage", ... */
    const char *intent; /* the step recorded before the write */
    /* Prepares w's call; *skip 1 when w has nothing to send. */
    enum tv_status (*prep)(struct tv_run *r, size_t i, struct tv_plan_worker *w,
                           cJSON *rw, struct tv_cf_call *c, int *skip,
                           void *ctx, struct tv_error *err);
    /* Records a successful answer in rw. */
    void (*done)(struct tv_run *r, size_t i, struct tv_plan_worker *w,
                 cJSON *rw, struct tv_cf_call *c, void *ctx);
};

static void
payload_free(struct payload *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        tv_secret_free(pl->values[i]);
    free(pl->values);
    free(pl->items);
    memset(pl, 0, sizeof(*pl));
}

static int
present(const struct tv_plan_secret *s)
{
    return s->action == TV_PLAN_SAME || s->action == TV_PLAN_ADD ||
           s->action == TV_PLAN_CHANGE;
}

/*
 * The secrets w sends in this tier: restore 0, the current vault values
 * (a secret deleted from the vault is deleted with null); restore 1, the
 * values last verified, from the versions the tier's state recorded (a
 * secret added by this run, never verified, is deleted with null).
 */
static enum tv_status
payload_build(struct tv_run *r, const struct tv_plan_worker *w, int restore,
              struct payload *pl, struct tv_error *err)
{
    enum tv_status st;

    memset(pl, 0, sizeof(*pl));
    pl->items = calloc(w->nsecrets ? w->nsecrets : 1, sizeof(*pl->items));
    pl->values = calloc(w->nsecrets ? w->nsecrets : 1, sizeof(*pl->values));
    if (pl->items == NULL || pl->values == NULL) {
        payload_free(pl);
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < w->nsecrets; i++) {
        const struct tv_plan_secret *s = &w->secrets[i];
        uint32_t version = restore ? s->old_version : s->version;
        struct tv_secret *value = NULL;

        if (s->action == TV_PLAN_ABSENT || s->action == TV_PLAN_MISSING ||
            (restore && s->action == TV_PLAN_SAME))
            continue;
        if (version != 0 && (restore || present(s))) {
            st = tv_vault_get(r->a->vault, s->ps->from_service,
                              s->ps->from_name, version, &value, NULL, err);
            if (st != TV_OK) {
                payload_free(pl);
                return st;
            }
        }
        pl->items[pl->n].name = s->ps->name;
        pl->items[pl->n].value = value;
        pl->values[pl->n++] = value;
    }
    return TV_OK;
}

/* Records in rw the values about to go out (the current vault ones). */
static int
record_secrets(const struct tv_plan_worker *w, cJSON *rw)
{
    cJSON *secrets;

    cJSON_DeleteItemFromObjectCaseSensitive(rw, "secrets");
    secrets = tv_state_obj(rw, "secrets");
    if (secrets == NULL)
        return -1;
    for (size_t i = 0; i < w->nsecrets; i++) {
        const struct tv_plan_secret *s = &w->secrets[i];

        if (present(s) &&
            tv_state_set_secret(secrets, s->ps->name, s->ps->from_service,
                                s->ps->from_name, s->version, s->fp) < 0)
            return -1;
    }
    return 0;
}

/* 1 when rw records exactly the values w holds now. */
static int
same_secrets(const cJSON *rw, const struct tv_plan_worker *w)
{
    const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(rw, "secrets");
    size_t n = 0;

    for (size_t i = 0; i < w->nsecrets; i++) {
        const struct tv_plan_secret *s = &w->secrets[i];
        const cJSON *rs;

        if (!present(s))
            continue;
        n++;
        rs = cJSON_GetObjectItemCaseSensitive(secrets, s->ps->name);
        if (strcmp(tv_state_str(rs, "fp"), s->fp) != 0)
            return 0;
    }
    return (size_t)cJSON_GetArraySize(secrets) == n;
}

/*
 * Prepares the run record of each worker about to be pushed: the values
 * it gets, the version it had (to tell, after a crash, whether a write
 * landed) and the deployment to return to.  Kept from an unfinished
 * earlier run where one exists.
 */
static enum tv_status
begin_workers(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
              struct tv_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct tv_remote *rem = &r->a->remote[ws[i]->worker_idx];
        cJSON *rw = tv_run_worker(r, ws[i]);
        const char *step;

        if (rw == NULL)
            return tv_error_set(err, TV_ENOMEM, "out of memory");
        /* Values changed since an unfinished run: start this one over. */
        if (!same_secrets(rw, ws[i]) && tv_state_set_str(rw, "step", "") < 0)
            return tv_error_set(err, TV_ENOMEM, "out of memory");
        if (record_secrets(ws[i], rw) < 0)
            return tv_error_set(err, TV_ENOMEM, "out of memory");
        step = tv_state_str(rw, "step");
        if (step[0] == '\0' &&
            (tv_state_set_str(rw, "step", "") < 0 ||
             tv_state_set_str(rw, "base_version_id", rem->latest) < 0 ||
             tv_state_set_num(rw, "base_version_number",
                              (double)rem->latest_number) < 0))
            return tv_error_set(err, TV_ENOMEM, "out of memory");
        if (tv_state_str(rw, "prev_version_id")[0] == '\0' &&
            tv_state_set_str(rw, "prev_version_id", rem->deployed) < 0)
            return tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    return TV_OK;
}

static int
step_is(cJSON *rw, const char *step)
{
    return strcmp(tv_state_str(rw, "step"), step) == 0;
}

/*
 * Records the answers of a round: each success through ops->done, each
 * failure logged.  Returns the first failure (its message in err).
 */
static enum tv_status
judge_round(struct tv_run *r, struct tv_plan_worker **ws,
            const struct step_ops *ops, void *ctx, struct tv_cf_call *calls,
            const size_t *map, size_t k, long long t0, struct tv_error *err)
{
    enum tv_status first = TV_OK;

    for (size_t j = 0; j < k; j++) {
        struct tv_plan_worker *w = ws[map[j]];
        const char *name = r->a->policy->workers[w->worker_idx].name;

        if (calls[j].status == TV_OK) {
            ops->done(r, map[j], w, tv_run_worker(r, w), &calls[j], ctx);
            tv_log_step(r->tier, name, ops->action, "ok", t0);
            continue;
        }
        tv_log(TV_LOG_ERROR, r->tier, name, "%s failed: %s", ops->action,
               calls[j].err.msg);
        if (first == TV_OK)
            first =
                tv_error_set(err, calls[j].status, "tier '%s': worker '%s': %s",
                             r->tier, name, calls[j].err.msg);
    }
    return first;
}

/*
 * One round of writes: the intent of every worker that has something to
 * send is saved, the calls run concurrently (up to the policy's
 * concurrency), and every answer is saved.  Returns the first failure.
 */
static enum tv_status
write_round(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
            const struct step_ops *ops, void *ctx, size_t *sent,
            struct tv_error *err)
{
    struct tv_cf_call *calls;
    enum tv_status st = TV_OK;
    size_t *map, k = 0;
    struct tv_error ignored;
    long long t0;

    *sent = 0;
    calls = calloc(n ? n : 1, sizeof(*calls));
    map = calloc(n ? n : 1, sizeof(*map));
    if (calls == NULL || map == NULL) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && st == TV_OK; i++) {
        cJSON *rw = tv_run_worker(r, ws[i]);
        int skip = 1;

        st = ops->prep(r, i, ws[i], rw, &calls[k], &skip, ctx, err);
        if (st != TV_OK || skip)
            continue;
        map[k++] = i;
        if (tv_state_set_str(rw, "step", ops->intent) < 0)
            st = tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    *sent = k;
    if (st != TV_OK || k == 0)
        goto out;
    st = tv_run_save(r, err);
    if (st != TV_OK)
        goto out;

    t0 = tv_log_ms();
    tv_cf_run(r->a->cf, calls, k, r->a->policy->concurrency, err);
    tv_error_clear(err);
    st = judge_round(r, ws, ops, ctx, calls, map, k, t0, err);
    /* The answers are saved at once, failed ones too. */
    if (st != TV_OK)
        tv_run_save(r, &ignored);
    else
        st = tv_run_save(r, err);

out:
    for (size_t i = 0; i < n && calls != NULL; i++)
        tv_cf_call_release(&calls[i]);
    free(calls);
    free(map);
    return st;
}

/* Bulk: round k sends the k-th 100 secrets of each worker. */
struct bulk_ctx {
    struct payload *pl;
    size_t round;
};

static enum tv_status
bulk_prep(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
          struct tv_cf_call *c, int *skip, void *ctx, struct tv_error *err)
{
    struct bulk_ctx *b = ctx;
    const struct payload *pl = &b->pl[i];
    size_t from = b->round * TV_CF_BULK_MAX, k;

    (void)rw;
    *skip = from >= pl->n;
    if (*skip)
        return TV_OK;
    k = pl->n - from < TV_CF_BULK_MAX ? pl->n - from : TV_CF_BULK_MAX;
    return tv_cf_prep_secrets_bulk(r->a->cf, c, r->a->account,
                                   r->a->policy->workers[w->worker_idx].name,
                                   pl->items + from, k, err);
}

static void
bulk_done(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
          struct tv_cf_call *c, void *ctx)
{
    struct bulk_ctx *b = ctx;
    struct tv_remote *rem = &r->a->remote[w->worker_idx];
    const char *id = tv_state_str(c->result, "id");

    /*
     * Each write deploys one new version; the answer does not say which,
     * but its number is one more than the last one seen.
     */
    snprintf(rem->latest, sizeof(rem->latest), "%s", id);
    snprintf(rem->deployed, sizeof(rem->deployed), "%s", id);
    if (rem->latest_number >= 0)
        rem->latest_number++;
    if ((b->round + 1) * TV_CF_BULK_MAX >= b->pl[i].n) {
        tv_state_set_str(rw, "step", "done");
        tv_state_set_str(rw, "version_id", id);
        w->pushed = 1;
    }
}

static const struct step_ops bulk_ops = {
    .action = "push",
    .intent = "intent",
    .prep = bulk_prep,
    .done = bulk_done,
};

static void
payloads_free(struct bulk_ctx *b, size_t n)
{
    for (size_t i = 0; b->pl != NULL && i < n; i++)
        payload_free(&b->pl[i]);
    free(b->pl);
    b->pl = NULL;
}

static enum tv_status
payloads_build(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
               int restore, struct bulk_ctx *b, struct tv_error *err)
{
    enum tv_status st = TV_OK;

    b->round = 0;
    b->pl = calloc(n ? n : 1, sizeof(*b->pl));
    if (b->pl == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && st == TV_OK; i++)
        st = payload_build(r, ws[i], restore, &b->pl[i], err);
    return st;
}

/* Rounds of writes until no worker has another 100 secrets to send. */
static enum tv_status
write_rounds(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
             const struct step_ops *ops, struct bulk_ctx *b,
             struct tv_error *err)
{
    enum tv_status st = TV_OK;
    size_t sent = 1;

    for (b->round = 0; st == TV_OK && sent > 0; b->round++)
        st = write_round(r, ws, n, ops, b, &sent, err);
    return st;
}

static enum tv_status
push_bulk(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
          struct tv_error *err)
{
    struct bulk_ctx b = { 0 };
    enum tv_status st;

    st = payloads_build(r, ws, n, 0, &b, err);
    if (st == TV_OK)
        st = write_rounds(r, ws, n, &bulk_ops, &b, err);
    payloads_free(&b, n);
    return st;
}

/* Staged, step 1: a new version from versions/latest with the values. */
static enum tv_status
version_prep(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
             struct tv_cf_call *c, int *skip, void *ctx, struct tv_error *err)
{
    struct bulk_ctx *b = ctx;
    const struct payload *pl = &b->pl[i];
    size_t from = b->round * TV_CF_BULK_MAX, k;
    char msg[96];

    *skip = from >= pl->n || !(step_is(rw, "") || step_is(rw, "intent"));
    if (*skip)
        return TV_OK;
    k = pl->n - from < TV_CF_BULK_MAX ? pl->n - from : TV_CF_BULK_MAX;
    snprintf(msg, sizeof(msg), "tiervault: tier '%s'", r->tier);
    return tv_cf_prep_version_patch(r->a->cf, c, r->a->account,
                                    r->a->policy->workers[w->worker_idx].name,
                                    pl->items + from, k, msg, err);
}

static void
version_done(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
             struct tv_cf_call *c, void *ctx)
{
    struct bulk_ctx *b = ctx;
    const char *id = tv_state_str(c->result, "id");
    struct tv_remote *rem = &r->a->remote[w->worker_idx];

    snprintf(rem->latest, sizeof(rem->latest), "%s", id);
    rem->latest_number =
        cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c->result, "number"))
            ? (long)tv_state_num(c->result, "number")
            : -1;
    tv_state_set_str(rw, "version_id", id);
    /* More than 100 secrets: later rounds patch on top of this version. */
    if ((b->round + 1) * TV_CF_BULK_MAX >= b->pl[i].n)
        tv_state_set_str(rw, "step", "versioned");
}

static const struct step_ops version_ops = {
    .action = "new version",
    .intent = "intent",
    .prep = version_prep,
    .done = version_done,
};

/* Staged, steps 2 and 4: deploy beside the current one, then promote. */
static enum tv_status
deploy_prep(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
            struct tv_cf_call *c, int *skip, void *ctx, struct tv_error *err)
{
    const int promote = *(const int *)ctx;
    const char *name = r->a->policy->workers[w->worker_idx].name;
    const char *prev = tv_state_str(rw, "prev_version_id");
    struct tv_cf_share shares[2];
    char msg[96];

    (void)i;
    if (promote)
        *skip = !(step_is(rw, "staged") || step_is(rw, "promoting"));
    else
        *skip = !(step_is(rw, "versioned") || step_is(rw, "staging"));
    if (*skip)
        return TV_OK;
    if (!promote && prev[0] == '\0')
        return tv_error_set(err, TV_EAPI,
                            "tier '%s': worker '%s' has no deployment to "
                            "stage a version beside",
                            r->tier, name);
    shares[0].version_id = tv_state_str(rw, "version_id");
    shares[0].percentage = promote ? 100 : 0;
    shares[1].version_id = prev;
    shares[1].percentage = 100;
    snprintf(msg, sizeof(msg), "tiervault: tier '%s' %s", r->tier,
             promote ? "promoted" : "staged at 0%");
    return tv_cf_prep_deploy(r->a->cf, c, r->a->account, name, shares,
                             promote ? 1 : 2, msg, err);
}

static void
deploy_done(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
            struct tv_cf_call *c, void *ctx)
{
    const int promote = *(const int *)ctx;
    struct tv_remote *rem = &r->a->remote[w->worker_idx];

    (void)i;
    (void)c;
    if (!promote) {
        tv_state_set_str(rw, "step", "staged");
        return;
    }
    tv_state_set_str(rw, "step", "done");
    snprintf(rem->deployed, sizeof(rem->deployed), "%s",
             tv_state_str(rw, "version_id"));
    w->pushed = 1;
}

static const struct step_ops stage_ops = {
    .action = "deploy at 0%",
    .intent = "staging",
    .prep = deploy_prep,
    .done = deploy_done,
};

static const struct step_ops promote_ops = {
    .action = "promote to 100%",
    .intent = "promoting",
    .prep = deploy_prep,
    .done = deploy_done,
};

static enum tv_status
push_staged(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
            struct tv_error *err)
{
    struct bulk_ctx b = { 0 };
    enum tv_status st;
    int promote = 0, passed = 0;
    size_t sent;

    st = payloads_build(r, ws, n, 0, &b, err);
    if (st == TV_OK)
        st = write_rounds(r, ws, n, &version_ops, &b, err);
    if (st == TV_OK)
        st = write_round(r, ws, n, &stage_ops, &promote, &sent, err);
    if (st == TV_OK)
        st = tv_verify_workers(r, ws, n, 0, 1, &passed, err);
    if (st == TV_OK && !passed)
        st = tv_error_set(err, TV_EGATE,
                          "tier '%s': smoke test of the staged versions "
                          "failed: %s",
                          r->tier, r->reason);
    promote = 1;
    if (st == TV_OK)
        st = write_round(r, ws, n, &promote_ops, &promote, &sent, err);
    payloads_free(&b, n);
    return st;
}

static enum tv_status
restore_prep(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
             struct tv_cf_call *c, int *skip, void *ctx, struct tv_error *err)
{
    struct bulk_ctx *b = ctx;
    const char *name = r->a->policy->workers[w->worker_idx].name;
    size_t from = b->round * TV_CF_BULK_MAX, k;
    struct tv_cf_share share;
    char msg[96];

    if (r->a->policy->strategy == TV_STRATEGY_STAGED) {
        /* Only a deployment that served the new version needs undoing. */
        *skip =
            b->round > 0 || !(step_is(rw, "staging") || step_is(rw, "staged") ||
                              step_is(rw, "promoting") || step_is(rw, "done") ||
                              step_is(rw, "restoring"));
        share.version_id = tv_state_str(rw, "prev_version_id");
        share.percentage = 100;
        if (*skip)
            return TV_OK;
        snprintf(msg, sizeof(msg), "tiervault: tier '%s' rolled back", r->tier);
        return tv_cf_prep_deploy(r->a->cf, c, r->a->account, name, &share, 1,
                                 msg, err);
    }
    *skip = from >= b->pl[i].n;
    if (*skip)
        return TV_OK;
    k = b->pl[i].n - from < TV_CF_BULK_MAX ? b->pl[i].n - from : TV_CF_BULK_MAX;
    return tv_cf_prep_secrets_bulk(r->a->cf, c, r->a->account, name,
                                   b->pl[i].items + from, k, err);
}

static void
restore_done(struct tv_run *r, size_t i, struct tv_plan_worker *w, cJSON *rw,
             struct tv_cf_call *c, void *ctx)
{
    struct bulk_ctx *b = ctx;
    struct tv_remote *rem = &r->a->remote[w->worker_idx];

    (void)c;
    if (r->a->policy->strategy == TV_STRATEGY_STAGED) {
        snprintf(rem->deployed, sizeof(rem->deployed), "%s",
                 tv_state_str(rw, "prev_version_id"));
    } else {
        rem->latest[0] = rem->deployed[0] = '\0';
        if (rem->latest_number >= 0)
            rem->latest_number++;
        if ((b->round + 1) * TV_CF_BULK_MAX < b->pl[i].n)
            return;
    }
    tv_state_set_str(rw, "step", "restored");
}

static const struct step_ops restore_ops = {
    .action = "roll back",
    .intent = "restoring",
    .prep = restore_prep,
    .done = restore_done,
};

enum tv_status
tv_push_restore(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
                struct tv_error *err)
{
    struct bulk_ctx b = { 0 };
    enum tv_status st;

    st = payloads_build(r, ws, n, 1, &b, err);
    if (st == TV_OK)
        st = write_rounds(r, ws, n, &restore_ops, &b, err);
    payloads_free(&b, n);
    return st;
}

/*
 * After a crash: a write recorded as intent may have landed.  The
 * newest version tells: when it is no longer the one seen before the
 * write, and (staged) carries tiervault's annotation for this tier, the
 * write went through and is not sent again.
 */
/* The newest version known before rw's write: -1 when nothing is. */
static int
base_known(cJSON *rw)
{
    const cJSON *num =
        cJSON_GetObjectItemCaseSensitive(rw, "base_version_number");

    return tv_state_str(rw, "base_version_id")[0] != '\0' ||
           (cJSON_IsNumber(num) && num->valuedouble >= 0);
}

/* 1 when the Worker's newest version is newer than the one before rw. */
static int
landed(cJSON *rw, const struct tv_remote *rem)
{
    const char *base = tv_state_str(rw, "base_version_id");

    if (base[0] != '\0')
        return rem->latest[0] != '\0' && strcmp(rem->latest, base) != 0;
    return rem->latest_number >= 0 &&
           rem->latest_number > (long)tv_state_num(rw, "base_version_number");
}

static enum tv_status
resume_landed(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
              struct tv_error *err)
{
    size_t *idx, k = 0;
    enum tv_status st;
    char msg[96];

    idx = calloc(n ? n : 1, sizeof(*idx));
    if (idx == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        cJSON *rw = tv_run_worker(r, ws[i]);

        if (step_is(rw, "intent") && base_known(rw))
            idx[k++] = ws[i]->worker_idx;
    }
    st = tv_agent_read_versions(r->a, idx, k, err);
    free(idx);
    if (st != TV_OK || k == 0)
        return st;
    snprintf(msg, sizeof(msg), "tiervault: tier '%s'", r->tier);
    for (size_t i = 0; i < n; i++) {
        const struct tv_remote *rem = &r->a->remote[ws[i]->worker_idx];
        cJSON *rw = tv_run_worker(r, ws[i]);

        if (!step_is(rw, "intent") || !base_known(rw) || !landed(rw, rem))
            continue;
        if (r->a->policy->strategy == TV_STRATEGY_STAGED) {
            if (strcmp(rem->latest_message, msg) != 0)
                continue;
            tv_state_set_str(rw, "step", "versioned");
        } else {
            tv_state_set_str(rw, "step", "done");
            ws[i]->pushed = 1;
        }
        tv_state_set_str(rw, "version_id", rem->latest);
        tv_log(TV_LOG_STEP, r->tier,
               r->a->policy->workers[ws[i]->worker_idx].name,
               "resume: the interrupted write had landed");
    }
    return tv_run_save(r, err);
}

enum tv_status
tv_push_wave(struct tv_run *r, struct tv_plan_worker **ws, size_t n,
             struct tv_error *err)
{
    struct tv_plan_worker **todo;
    enum tv_status st;
    size_t k = 0;

    st = begin_workers(r, ws, n, err);
    if (st == TV_OK)
        st = resume_landed(r, ws, n, err);
    if (st != TV_OK)
        return st;
    todo = calloc(n ? n : 1, sizeof(*todo));
    if (todo == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!step_is(tv_run_worker(r, ws[i]), "done"))
            todo[k++] = ws[i];
    }
    if (k > 0 && r->a->policy->strategy == TV_STRATEGY_STAGED)
        st = push_staged(r, todo, k, err);
    else if (k > 0)
        st = push_bulk(r, todo, k, err);
    free(todo);
    return st;
}
