/*
 * report.c - the documents of `plan` and `status`: what a rollout would
 * do and what the rollout state says, fingerprints only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "plan.h"
#include "state.h"

void
tv_agent_time(long long t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(buf, size, "never");
        return;
    }
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *
plan_secret_doc(const struct tv_plan_secret *s)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    tv_state_set_str(o, "name", s->ps->name);
    tv_state_set_str(o, "action", tv_plan_action_name(s->action));
    tv_state_set_str(o, "service", s->ps->from_service);
    tv_state_set_str(o, "from", s->ps->from_name);
    tv_state_set_num(o, "version", s->version);
    tv_state_set_str(o, "fp", s->fp);
    tv_state_set_str(o, "previous_fp", s->old_fp);
    cJSON_AddBoolToObject(o, "required", s->ps->required);
    return o;
}

static cJSON *
plan_tier_doc(const struct tv_agent *a, const struct tv_plan_tier *t)
{
    cJSON *o = cJSON_CreateObject(), *ws;
    char when[32];

    if (o == NULL)
        return NULL;
    tv_agent_time(t->verified_time, when, sizeof(when));
    tv_state_set_str(o, "tier", a->policy->tiers[t->tier_idx].name);
    tv_state_set_str(o, "status",
                     t->nmissing     ? "held"
                     : t->up_to_date ? "up-to-date"
                                     : "changes");
    tv_state_set_str(o, "verified_at", t->verified ? when : "");
    ws = cJSON_AddArrayToObject(o, "workers");
    for (size_t i = 0; ws != NULL && i < t->nworkers; i++) {
        const struct tv_plan_worker *w = &t->workers[i];
        cJSON *wo = cJSON_CreateObject(), *ss;

        if (wo == NULL || !cJSON_AddItemToArray(ws, wo))
            break;
        tv_state_set_str(wo, "worker", a->policy->workers[w->worker_idx].name);
        cJSON_AddBoolToObject(wo, "touched", w->touched);
        ss = cJSON_AddArrayToObject(wo, "secrets");
        for (size_t j = 0; ss != NULL && j < w->nsecrets; j++)
            cJSON_AddItemToArray(ss, plan_secret_doc(&w->secrets[j]));
    }
    return o;
}

static int
policy_knows(const struct tv_worker *pw, const char *name)
{
    for (size_t i = 0; i < pw->nsecrets; i++) {
        if (strcmp(pw->secrets[i].name, name) == 0)
            return 1;
    }
    return 0;
}

/* Per worker: the secret names on Cloudflare the policy does not know. */
static enum tv_status
unknown_names(struct tv_agent *a, cJSON *doc, struct tv_error *err)
{
    const struct tv_policy *p = a->policy;
    struct tv_cf_call *calls;
    enum tv_status st = TV_OK;
    cJSON *list = cJSON_AddArrayToObject(doc, "workers");

    calls = calloc(p->nworkers ? p->nworkers : 1, sizeof(*calls));
    if (calls == NULL || list == NULL) {
        free(calls);
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->nworkers && st == TV_OK; i++)
        st = tv_cf_prep_secrets(a->cf, &calls[i], a->account,
                                p->workers[i].name, err);
    if (st == TV_OK) {
        tv_cf_run(a->cf, calls, p->nworkers, TV_AGENT_READS, err);
        tv_error_clear(err);
    }
    for (size_t i = 0; i < p->nworkers && st == TV_OK; i++) {
        cJSON *o = cJSON_CreateObject(), *names, *item;

        if (o == NULL || !cJSON_AddItemToArray(list, o))
            break;
        tv_state_set_str(o, "worker", p->workers[i].name);
        cJSON_AddBoolToObject(o, "exists", calls[i].status != TV_ENOTFOUND);
        if (calls[i].status != TV_OK && calls[i].status != TV_ENOTFOUND) {
            st = tv_error_set(err, calls[i].status, "%s", calls[i].err.msg);
            break;
        }
        names = cJSON_AddArrayToObject(o, "unknown");
        cJSON_ArrayForEach(item, calls[i].result)
        {
            const char *n = tv_state_str(item, "name");

            if (!policy_knows(&p->workers[i], n))
                cJSON_AddItemToArray(names, cJSON_CreateString(n));
        }
    }
    for (size_t i = 0; i < p->nworkers; i++)
        tv_cf_call_release(&calls[i]);
    free(calls);
    return st;
}

/* Builds one tier's document of a report. */
typedef cJSON *(*tier_doc_fn)(const struct tv_agent *a,
                              const struct tv_plan_tier *t);

/*
 * Builds the plan and a report {"tiers": [...]} with one tier_doc per
 * tier into *report (the caller frees it, also on failure).
 */
static enum tv_status
tiers_report(struct tv_agent *a, tier_doc_fn tier_doc, cJSON **report,
             struct tv_error *err)
{
    struct tv_plan *plan = NULL;
    enum tv_status st;
    cJSON *tiers;

    *report = cJSON_CreateObject();
    tiers = *report != NULL ? cJSON_AddArrayToObject(*report, "tiers") : NULL;
    if (tiers == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    st = tv_plan_build(a->policy, a->vault, a->account, NULL, &plan, err);
    for (size_t i = 0; st == TV_OK && i < plan->ntiers; i++)
        cJSON_AddItemToArray(tiers, tier_doc(a, &plan->tiers[i]));
    tv_plan_free(plan);
    return st;
}

enum tv_status
tv_agent_plan(struct tv_agent *a, cJSON **report, struct tv_error *err)
{
    enum tv_status st;

    st = tiers_report(a, plan_tier_doc, report, err);
    if (st == TV_OK)
        st = unknown_names(a, *report, err);
    return st;
}

static cJSON *
status_tier_doc(const struct tv_agent *a, const struct tv_plan_tier *t)
{
    const cJSON *fail =
        cJSON_GetObjectItemCaseSensitive(t->state, "last_failure");
    cJSON *o = cJSON_CreateObject();
    size_t changed = 0;
    char when[32];

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < t->nworkers; i++) {
        for (size_t j = 0; j < t->workers[i].nsecrets; j++)
            changed += tv_plan_action_writes(t->workers[i].secrets[j].action);
    }
    tv_agent_time(t->verified_time, when, sizeof(when));
    tv_state_set_str(o, "tier", a->policy->tiers[t->tier_idx].name);
    cJSON_AddBoolToObject(o, "verified", t->verified);
    tv_state_set_str(o, "verified_at", t->verified ? when : "");
    cJSON_AddBoolToObject(o, "current", t->up_to_date);
    tv_state_set_num(o, "changed", (double)changed);
    tv_state_set_num(o, "missing", (double)t->nmissing);
    cJSON_AddBoolToObject(o, "unfinished",
                          cJSON_GetObjectItemCaseSensitive(t->state, "run") !=
                              NULL);
    if (cJSON_IsObject(fail)) {
        tv_agent_time((long long)tv_state_num(fail, "time"), when,
                      sizeof(when));
        tv_state_set_str(o, "last_failure_at", when);
        tv_state_set_str(o, "last_failure", tv_state_str(fail, "reason"));
    }
    return o;
}

enum tv_status
tv_agent_status(struct tv_agent *a, cJSON **report, struct tv_error *err)
{
    return tiers_report(a, status_tier_doc, report, err);
}
