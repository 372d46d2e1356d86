/*
 * fill.c - the fill audit: for each policy secret, is its source in the
 * vault, current and young enough.  Reads records only; no value is
 * decrypted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tv_policy.h"

#define DAY 86400

const char *
tv_fill_state_name(enum tv_fill_state s)
{
    switch (s) {
    case TV_FILL_FILLED:
        return "filled";
    case TV_FILL_MISSING:
        return "missing";
    case TV_FILL_STALE:
        return "stale";
    }
    return "unknown";
}

static enum tv_status
fill_one(const struct tv_policy_secret *s, struct tv_vault *v, int64_t now,
         struct tv_fill *f, struct tv_error *err)
{
    struct tv_record_info rec;
    enum tv_status rc;
    int64_t age;

    rc = tv_vault_stat(v, s->from_service, s->from_name, &rec, err);
    if (rc == TV_ENOTFOUND) {
        f->state = TV_FILL_MISSING;
        snprintf(f->reason, sizeof(f->reason), "not in the vault");
        tv_error_clear(err);
        return TV_OK;
    }
    if (rc != TV_OK)
        return rc;
    f->version = rec.version;
    f->updated = rec.updated;
    age = now > rec.updated ? now - rec.updated : 0;
    f->age_days = age / DAY;
    if (rec.deleted) {
        f->state = TV_FILL_STALE;
        snprintf(f->reason, sizeof(f->reason), "deleted from the vault");
        return TV_OK;
    }
    memcpy(f->fp, rec.fp, sizeof(f->fp));
    f->fp[TV_FP_HEXLEN] = '\0';
    if (s->max_age_days > 0 && age > (int64_t)s->max_age_days * DAY) {
        f->state = TV_FILL_STALE;
        snprintf(f->reason, sizeof(f->reason), "older than %u days",
                 (unsigned)s->max_age_days);
        return TV_OK;
    }
    f->state = TV_FILL_FILLED;
    return TV_OK;
}

enum tv_status
tv_policy_fill(const struct tv_policy *p, struct tv_vault *v, int64_t now,
               struct tv_fill **out, size_t *n, struct tv_error *err)
{
    const struct tv_worker *w;
    struct tv_fill *f = NULL;
    size_t total = 0, i, j, k = 0;
    enum tv_status rc;

    if (p == NULL || v == NULL || out == NULL || n == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_policy_fill: bad argument");
    for (i = 0; i < p->nworkers; i++)
        total += p->workers[i].nsecrets;
    f = calloc(total ? total : 1, sizeof(*f));
    if (f == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (i = 0; i < p->nworkers; i++) {
        w = &p->workers[i];
        for (j = 0; j < w->nsecrets; j++, k++) {
            f[k].worker_idx = i;
            f[k].secret_idx = j;
            rc = fill_one(&w->secrets[j], v, now, &f[k], err);
            if (rc != TV_OK) {
                tv_error_prefix(err, "worker '%s' secret '%s'", w->name,
                                w->secrets[j].name);
                free(f);
                return rc;
            }
        }
    }
    *out = f;
    *n = total;
    return TV_OK;
}

int
tv_policy_fill_summary(const struct tv_policy *p, const struct tv_fill *f,
                       size_t n, struct tv_tier_fill *tiers)
{
    const struct tv_policy_secret *s;
    struct tv_tier_fill *t;
    int ready = 1;
    size_t i;

    memset(tiers, 0, p->ntiers * sizeof(*tiers));
    for (i = 0; i < n; i++) {
        s = &p->workers[f[i].worker_idx].secrets[f[i].secret_idx];
        t = &tiers[s->tier_idx];
        t->total++;
        t->filled += f[i].state == TV_FILL_FILLED;
        if (s->required) {
            t->required++;
            t->required_filled += f[i].state == TV_FILL_FILLED;
        }
    }
    for (i = 0; i < p->ntiers; i++) {
        tiers[i].ready = tiers[i].required_filled == tiers[i].required;
        if (p->tiers[i].enabled && !tiers[i].ready)
            ready = 0;
    }
    return ready;
}
