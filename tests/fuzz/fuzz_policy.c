/*
 * fuzz_policy.c - feeds arbitrary bytes to the policy reader: it must
 * refuse or accept without crashing, leaking or reading out of bounds,
 * and an accepted policy must hold together (every index in range).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tv_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct tv_policy *p)
{
    const struct tv_worker *w;
    size_t i, j;

    for (i = 0; i < p->nworkers; i++) {
        w = &p->workers[i];
        if (w->wave >= p->nwaves)
            abort();
        for (j = 0; j < w->nbindings; j++) {
            if (w->binding_idx[j] >= p->nworkers ||
                p->workers[w->binding_idx[j]].wave >= w->wave)
                abort();
        }
        for (j = 0; j < w->nafter; j++) {
            if (w->after_idx[j] >= p->nworkers ||
                p->workers[w->after_idx[j]].wave >= w->wave)
                abort();
        }
        for (j = 0; j < w->nsecrets; j++) {
            if (w->secrets[j].tier_idx >= p->ntiers)
                abort();
        }
        for (j = 0; j < w->nprobes; j++) {
            if (w->probes[j].tier_idx >= p->ntiers ||
                (w->probes[j].kind != TV_PROBE_HTTP &&
                 w->probes[j].secret_idx >= w->nsecrets))
                abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tv_policy *p = NULL;
    struct tv_error err;

    if (tv_policy_parse(&p, (const char *)data, size, "fuzz.json", &err) ==
        TV_OK) {
        check(p);
        tv_policy_free(p);
    }
    return 0;
}
