/*
 * graph.c - the order of workers: a worker depends on the workers it
 * binds to and the ones it comes after.  Refuses cycles, naming them, and
 * gives each worker its wave (0 without dependencies, else one more than
 * the highest wave it depends on).  The walk keeps its own stack, so a
 * long chain of workers cannot exhaust the C stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

enum { WHITE, GREY, BLACK };

struct frame {
    size_t worker;
    size_t edge; /* next dependency to follow */
};

static size_t
ndeps(const struct tv_worker *w)
{
    return w->nbindings + w->nafter;
}

static size_t
dep(const struct tv_worker *w, size_t e)
{
    return e < w->nbindings ? w->binding_idx[e]
                            : w->after_idx[e - w->nbindings];
}

static enum tv_status
cycle_error(const struct tv_policy *p, const struct frame *stack, size_t depth,
            size_t closing, const char *name, struct tv_error *err)
{
    const struct tv_worker *w = &p->workers[stack[depth - 1].worker];
    char msg[TV_ERROR_MSG_MAX];
    size_t e = stack[depth - 1].edge - 1, from, i, o = 0;
    int n;

    for (from = 0; from < depth; from++) {
        if (stack[from].worker == closing)
            break;
    }
    msg[0] = '\0';
    for (i = from; i < depth && o < sizeof(msg); i++) {
        n = snprintf(msg + o, sizeof(msg) - o, "%s -> ",
                     p->workers[stack[i].worker].name);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (o < sizeof(msg))
        snprintf(msg + o, sizeof(msg) - o, "%s", p->workers[closing].name);
    if (e < w->nbindings)
        return tv_error_set(err, TV_EINPUT,
                            "%s: workers[%zu].bindings[%zu]: cycle: %s", name,
                            stack[depth - 1].worker, e, msg);
    return tv_error_set(err, TV_EINPUT,
                        "%s: workers[%zu].after[%zu]: cycle: %s", name,
                        stack[depth - 1].worker, e - w->nbindings, msg);
}

static void
finish(struct tv_policy *p, size_t u)
{
    struct tv_worker *w = &p->workers[u];
    size_t e, wave = 0, d;

    for (e = 0; e < ndeps(w); e++) {
        d = p->workers[dep(w, e)].wave + 1;
        if (d > wave)
            wave = d;
    }
    w->wave = wave;
    if (wave + 1 > p->nwaves)
        p->nwaves = wave + 1;
}

enum tv_status
tv_policy_graph(struct tv_policy *p, const char *name, struct tv_error *err)
{
    struct frame *stack = NULL;
    unsigned char *color = NULL;
    enum tv_status rc = TV_OK;
    size_t r, depth, u, v;

    p->nwaves = 0;
    if (p->nworkers == 0)
        return TV_OK;
    color = calloc(p->nworkers, 1);
    stack = calloc(p->nworkers, sizeof(*stack));
    if (color == NULL || stack == NULL) {
        rc = tv_error_set(err, TV_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    for (r = 0; r < p->nworkers; r++) {
        if (color[r] != WHITE)
            continue;
        depth = 0;
        stack[depth].worker = r;
        stack[depth++].edge = 0;
        color[r] = GREY;
        while (depth > 0) {
            u = stack[depth - 1].worker;
            if (stack[depth - 1].edge == ndeps(&p->workers[u])) {
                finish(p, u);
                color[u] = BLACK;
                depth--;
                continue;
            }
            v = dep(&p->workers[u], stack[depth - 1].edge++);
            if (color[v] == GREY) {
                rc = cycle_error(p, stack, depth, v, name, err);
                goto out;
            }
            if (color[v] == WHITE) {
                color[v] = GREY;
                stack[depth].worker = v;
                stack[depth++].edge = 0;
            }
        }
    }
out:
    free(stack);
    free(color);
    return rc;
}
