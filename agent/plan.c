/*
 * plan.c - compares the vault with the rollout state (see plan.h).
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "state.h"

const char *
tv_plan_action_name(enum tv_plan_action a)
{
    switch (a) {
    case TV_PLAN_SAME:
        return "same";
    case TV_PLAN_ADD:
        return "add";
    case TV_PLAN_CHANGE:
        return "change";
    case TV_PLAN_REMOVE:
        return "remove";
    case TV_PLAN_MISSING:
        return "missing";
    case TV_PLAN_ABSENT:
        return "absent";
    }
    return "unknown";
}

int
tv_plan_action_writes(enum tv_plan_action a)
{
    return a == TV_PLAN_ADD || a == TV_PLAN_CHANGE || a == TV_PLAN_REMOVE;
}

static void
plan_tier_free(struct tv_plan_tier *t)
{
    for (size_t i = 0; i < t->nworkers; i++)
        free(t->workers[i].secrets);
    free(t->workers);
    cJSON_Delete(t->state);
}

void
tv_plan_free(struct tv_plan *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->ntiers; i++)
        plan_tier_free(&plan->tiers[i]);
    free(plan->tiers);
    free(plan);
}

static void
fill_old(struct tv_plan_secret *s, const cJSON *wstate)
{
    const cJSON *secrets, *old;

    secrets = cJSON_GetObjectItemCaseSensitive(wstate, "secrets");
    old = cJSON_GetObjectItemCaseSensitive(secrets, s->ps->name);
    if (!cJSON_IsObject(old))
        return;
    s->old_version = (uint32_t)tv_state_num(old, "version");
    strncpy(s->old_fp, tv_state_str(old, "fp"), TV_FP_HEXLEN);
}

static enum tv_plan_action
decide(const struct tv_plan_secret *s, int present)
{
    if (!present && s->ps->required)
        return TV_PLAN_MISSING;
    if (!present)
        return s->old_fp[0] != '\0' ? TV_PLAN_REMOVE : TV_PLAN_ABSENT;
    if (s->old_fp[0] == '\0')
        return TV_PLAN_ADD;
    return strcmp(s->old_fp, s->fp) == 0 ? TV_PLAN_SAME : TV_PLAN_CHANGE;
}

static enum tv_status
plan_secret(struct tv_vault *v, struct tv_plan_secret *s, const cJSON *wstate,
            struct tv_error *err)
{
    struct tv_record_info rec;
    enum tv_status st;
    int present = 0;

    fill_old(s, wstate);
    st = tv_vault_stat(v, s->ps->from_service, s->ps->from_name, &rec, err);
    if (st == TV_OK && !rec.deleted) {
        present = 1;
        s->version = rec.version;
        memcpy(s->fp, rec.fp, sizeof(s->fp));
    } else if (st == TV_ENOTFOUND || st == TV_OK) {
        tv_error_clear(err);
    } else {
        return st;
    }
    s->action = decide(s, present);
    return TV_OK;
}

/* 1 when the run's record of the worker holds exactly the plan's values. */
static int
run_has_current(const cJSON *rw, const struct tv_plan_worker *w)
{
    const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(rw, "secrets");

    if (strcmp(tv_state_str(rw, "step"), "done") != 0)
        return 0;
    for (size_t i = 0; i < w->nsecrets; i++) {
        const struct tv_plan_secret *s = &w->secrets[i];
        const cJSON *rs;

        rs = cJSON_GetObjectItemCaseSensitive(secrets, s->ps->name);
        if (strcmp(rs != NULL ? tv_state_str(rs, "fp") : "", s->fp) != 0)
            return 0;
    }
    return 1;
}

static enum tv_status
plan_worker(struct tv_vault *v, const struct tv_worker *pw, size_t tier_idx,
            struct tv_plan_tier *t, struct tv_plan_worker *w,
            struct tv_error *err)
{
    const cJSON *verified, *run, *vw, *rw;
    enum tv_status st;

    verified = cJSON_GetObjectItemCaseSensitive(t->state, "verified");
    vw = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(verified, "workers"), pw->name);
    run = cJSON_GetObjectItemCaseSensitive(t->state, "run");
    rw = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(run, "workers"), pw->name);

    for (size_t i = 0; i < pw->nsecrets; i++) {
        struct tv_plan_secret *s;

        if (pw->secrets[i].tier_idx != tier_idx)
            continue;
        s = &w->secrets[w->nsecrets++];
        s->ps = &pw->secrets[i];
        st = plan_secret(v, s, vw, err);
        if (st != TV_OK)
            return tv_error_prefix(err, "worker '%s'", pw->name);
        if (s->action == TV_PLAN_MISSING)
            t->nmissing++;
        if (tv_plan_action_writes(s->action))
            w->touched = 1;
    }
    if (rw != NULL) {
        w->touched = 1;
        w->pushed = strcmp(tv_state_str(run, "phase"), "push") == 0 &&
                    run_has_current(rw, w);
    }
    return TV_OK;
}

static size_t
tier_secret_count(const struct tv_worker *pw, size_t tier_idx)
{
    size_t n = 0;

    for (size_t i = 0; i < pw->nsecrets; i++)
        n += pw->secrets[i].tier_idx == tier_idx;
    return n;
}

static enum tv_status
plan_tier(const struct tv_policy *p, struct tv_vault *v, const char *account,
          size_t tier_idx, struct tv_plan_tier *t, struct tv_error *err)
{
    const cJSON *verified;
    enum tv_status st;

    t->tier_idx = tier_idx;
    st = tv_state_load(v, account, p->tiers[tier_idx].name, &t->state, err);
    if (st != TV_OK)
        return st;
    verified = cJSON_GetObjectItemCaseSensitive(t->state, "verified");
    t->verified = cJSON_IsObject(verified);
    t->verified_time = (int64_t)tv_state_num(verified, "time");

    t->workers = calloc(p->nworkers ? p->nworkers : 1, sizeof(*t->workers));
    if (t->workers == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->nworkers; i++) {
        size_t n = tier_secret_count(&p->workers[i], tier_idx);
        struct tv_plan_worker *w = &t->workers[t->nworkers];

        if (n == 0)
            continue;
        w->worker_idx = i;
        w->secrets = calloc(n, sizeof(*w->secrets));
        if (w->secrets == NULL)
            return tv_error_set(err, TV_ENOMEM, "out of memory");
        t->nworkers++;
        st = plan_worker(v, &p->workers[i], tier_idx, t, w, err);
        if (st != TV_OK)
            return st;
        t->ntouched += w->touched;
    }
    t->up_to_date = t->verified && t->ntouched == 0 && t->nmissing == 0 &&
                    cJSON_GetObjectItemCaseSensitive(t->state, "run") == NULL;
    return TV_OK;
}

enum tv_status
tv_plan_build(const struct tv_policy *p, struct tv_vault *v,
              const char *account, const char *through, struct tv_plan **out,
              struct tv_error *err)
{
    struct tv_plan *plan;
    enum tv_status st;
    long last = (long)p->ntiers - 1;

    *out = NULL;
    if (through != NULL) {
        last = tv_policy_tier_index(p, through);
        if (last < 0 || !p->tiers[last].enabled)
            return tv_error_set(err, TV_EUSAGE,
                                "--through: '%s' is not an enabled tier of "
                                "the policy",
                                through);
    }
    plan = calloc(1, sizeof(*plan));
    if (plan == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    plan->policy = p;
    plan->account = account;
    plan->tiers = calloc(p->ntiers ? p->ntiers : 1, sizeof(*plan->tiers));
    if (plan->tiers == NULL) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto fail;
    }
    for (long i = 0; i <= last; i++) {
        if (!p->tiers[i].enabled)
            continue;
        st = plan_tier(p, v, account, (size_t)i, &plan->tiers[plan->ntiers++],
                       err);
        if (st != TV_OK)
            goto fail;
    }
    *out = plan;
    return TV_OK;

fail:
    tv_plan_free(plan);
    return st;
}
