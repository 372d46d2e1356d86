/*
 * cmd_status.c - tiervault status --policy FILE: which policy secrets are
 * filled, missing or stale, by tier.  Shows fingerprints, never values.
 * Exit 0 when every required secret of every enabled tier is filled, 4
 * (held at a gate) otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "tv_policy.h"

static const char usage[] =
    "usage: tiervault status --policy FILE [--json]\n"
    "\n"
    "Checks every secret the policy lists against the vault and prints, by\n"
    "tier, each one's worker, name, state (filled, missing, or stale: older\n"
    "than its max_age_days or deleted), version, age and fingerprint, then\n"
    "a summary per tier.  Exit status 0 when every required secret of every\n"
    "enabled tier is filled, 4 otherwise.  --json prints one document:\n"
    "{\"secrets\":[...],\"tiers\":[...],\"ready\":BOOL}.\n";

enum { O_POLICY, O_JSON };

static const struct cli_opt opts[] = {
    [O_POLICY] = { "policy", 0, 1, 0 },
    [O_JSON] = { "json", 0, 0, 0 },
};

struct status {
    const struct tv_policy *p;
    const struct tv_fill *f;
    size_t n;
    struct tv_tier_fill *tiers;
    int ready;
};

static const struct tv_policy_secret *
secret_of(const struct status *s, const struct tv_fill *f)
{
    return &s->p->workers[f->worker_idx].secrets[f->secret_idx];
}

static cJSON *
secret_json(const struct status *s, const struct tv_fill *f)
{
    const struct tv_policy_secret *ps = secret_of(s, f);
    char source[2 * TV_NAME_MAX + 2];
    cJSON *o = cJSON_CreateObject();
    int have = f->state != TV_FILL_MISSING;

    if (o == NULL)
        return NULL;
    snprintf(source, sizeof(source), "%s/%s", ps->from_service, ps->from_name);
    cJSON_AddStringToObject(o, "worker", s->p->workers[f->worker_idx].name);
    cJSON_AddStringToObject(o, "name", ps->name);
    cJSON_AddStringToObject(o, "tier", ps->tier);
    cJSON_AddBoolToObject(o, "required", ps->required);
    cJSON_AddStringToObject(o, "state", tv_fill_state_name(f->state));
    if (have)
        cJSON_AddNumberToObject(o, "version", f->version);
    else
        cJSON_AddNullToObject(o, "version");
    if (have)
        cJSON_AddNumberToObject(o, "age_days", (double)f->age_days);
    else
        cJSON_AddNullToObject(o, "age_days");
    if (f->fp[0] != '\0')
        cJSON_AddStringToObject(o, "fingerprint", f->fp);
    else
        cJSON_AddNullToObject(o, "fingerprint");
    cJSON_AddStringToObject(o, "source", source);
    if (f->state != TV_FILL_FILLED)
        cJSON_AddStringToObject(o, "reason", f->reason);
    return o;
}

static int
print_json(const struct status *s)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *secrets = cJSON_AddArrayToObject(doc, "secrets");
    cJSON *tiers = cJSON_AddArrayToObject(doc, "tiers");
    cJSON *o;
    size_t i;

    if (secrets == NULL || tiers == NULL) {
        cJSON_Delete(doc);
        cli_error("cannot format the JSON output: out of memory");
        return 1;
    }
    for (i = 0; i < s->n; i++)
        cJSON_AddItemToArray(secrets, secret_json(s, &s->f[i]));
    for (i = 0; i < s->p->ntiers; i++) {
        o = cJSON_CreateObject();
        cJSON_AddItemToArray(tiers, o);
        cJSON_AddStringToObject(o, "name", s->p->tiers[i].name);
        cJSON_AddBoolToObject(o, "enabled", s->p->tiers[i].enabled);
        cJSON_AddNumberToObject(o, "required", (double)s->tiers[i].required);
        cJSON_AddNumberToObject(o, "filled",
                                (double)s->tiers[i].required_filled);
        cJSON_AddBoolToObject(o, "ready", s->tiers[i].ready);
    }
    cJSON_AddBoolToObject(doc, "ready", s->ready);
    return cli_print_json(doc);
}

/* Column widths of the table: worker, secret. */
static void
widths(const struct status *s, int *ww, int *wn)
{
    size_t i;
    int l;

    *ww = 6;
    *wn = 6;
    for (i = 0; i < s->n; i++) {
        l = (int)strlen(s->p->workers[s->f[i].worker_idx].name);
        *ww = l > *ww ? l : *ww;
        l = (int)strlen(secret_of(s, &s->f[i])->name);
        *wn = l > *wn ? l : *wn;
    }
}

static const char *
state_colour(enum tv_fill_state st)
{
    switch (st) {
    case TV_FILL_FILLED:
        return "\033[32m";
    case TV_FILL_MISSING:
        return "\033[31m";
    case TV_FILL_STALE:
        return "\033[33m";
    }
    return "";
}

static void
print_row(const struct tv_cli *c, const struct status *s,
          const struct tv_fill *f, int ww, int wn)
{
    const struct tv_policy_secret *ps = secret_of(s, f);
    char ver[16] = "-", age[24] = "-";

    if (f->state != TV_FILL_MISSING) {
        snprintf(ver, sizeof(ver), "v%u", (unsigned)f->version);
        snprintf(age, sizeof(age), "%lldd", (long long)f->age_days);
    }
    printf("  %-*s  %-*s  %-3s  %s%-7s%s  %-7s  %-6s  %-16s  %s/%s%s%s%s\n", ww,
           s->p->workers[f->worker_idx].name, wn, ps->name,
           ps->required ? "yes" : "no", c->color ? state_colour(f->state) : "",
           tv_fill_state_name(f->state), c->color ? "\033[0m" : "", ver, age,
           f->fp[0] ? f->fp : "-", ps->from_service, ps->from_name,
           f->state != TV_FILL_FILLED ? " (" : "",
           f->state != TV_FILL_FILLED ? f->reason : "",
           f->state != TV_FILL_FILLED ? ")" : "");
}

static void
print_text(const struct tv_cli *c, const struct status *s)
{
    const struct tv_tier_fill *t;
    const char *bold = c->color ? "\033[1m" : "",
               *off = c->color ? "\033[0m" : "";
    size_t i, k;
    int ww, wn;

    widths(s, &ww, &wn);
    for (k = 0; k < s->p->ntiers; k++) {
        t = &s->tiers[k];
        printf("%stier %s%s: %s, %zu/%zu required filled\n", bold,
               s->p->tiers[k].name, off,
               !s->p->tiers[k].enabled ? "disabled"
               : t->ready              ? "ready"
                                       : "not ready",
               t->required_filled, t->required);
        if (t->total == 0)
            continue;
        printf("  %-*s  %-*s  %-3s  %-7s  %-7s  %-6s  %-16s  %s\n", ww,
               "WORKER", wn, "SECRET", "REQ", "STATE", "VERSION", "AGE",
               "FINGERPRINT", "SOURCE");
        for (i = 0; i < s->n; i++) {
            if (secret_of(s, &s->f[i])->tier_idx == k)
                print_row(c, s, &s->f[i], ww, wn);
        }
    }
    printf("%soverall: %s%s\n", bold, s->ready ? "ready" : "not ready", off);
}

static int
report(struct tv_cli *c, const struct tv_policy *p, struct tv_vault *v,
       int json)
{
    struct status s = { p, NULL, 0, NULL, 0 };
    struct tv_fill *f = NULL;
    struct tv_error err = { 0 };
    int rc;

    if (tv_policy_fill(p, v, tv_now(), &f, &s.n, &err) != TV_OK)
        return cli_fail(&err);
    s.f = f;
    s.tiers = calloc(p->ntiers, sizeof(*s.tiers));
    if (s.tiers == NULL) {
        free(f);
        cli_error("out of memory");
        return 1;
    }
    s.ready = tv_policy_fill_summary(p, f, s.n, s.tiers);
    if (json) {
        rc = print_json(&s);
    } else {
        print_text(c, &s);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    if (rc == 0 && !s.ready)
        rc = tv_status_exit_code(TV_EGATE);
    free(s.tiers);
    free(f);
    return rc;
}

int
cmd_status(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_policy *p = NULL;
    struct tv_vault *v = NULL;
    struct cli_args a;
    int rc;

    rc = cli_parse(usage, opts, 2, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.npos > 0 || a.rest != NULL)
        rc = cli_misuse(usage, "status takes no operands");
    else if (a.opt[O_POLICY].value == NULL)
        rc = cli_misuse(usage, "status needs --policy FILE");
    if (rc >= 0)
        goto out;
    if (tv_policy_load(&p, a.opt[O_POLICY].value, &err) != TV_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = cli_open_vault(c, &v);
    if (rc == 0)
        rc = report(c, p, v, a.opt[O_JSON].count > 0);
out:
    tv_vault_close(v);
    tv_policy_free(p);
    cli_args_free(&a);
    return rc;
}
