/*
 * policy_int.h - what the files of the policy library share and nothing
 * outside it needs: the name checks and the dependency graph pass.
 */
#ifndef TV_POLICY_INT_H
#define TV_POLICY_INT_H

#include "tv_error.h"
#include "tv_policy.h"

/*
 * 1 if s can name a Worker script: 1 to 63 of a-z, 0-9, '-' and '_', not
 * starting with '-'.
 */
int tv_policy_worker_name_valid(const char *s);

/* 1 if s is a uuid (8-4-4-4-12 hex digits, either case). */
int tv_policy_uuid_valid(const char *s);

/* 1 if s is a Cloudflare account id: 32 hex digits, either case. */
int tv_policy_account_valid(const char *s);

/*
 * dir/rel as a new string (caller frees): rel itself when it is absolute
 * or dir is "."; leading "./" of rel dropped.  NULL when out of memory.
 */
char *tv_path_join(const char *dir, const char *rel);

/*
 * Checks that the graph of p's workers formed by bindings and after (all
 * resolved, none to itself) has no cycle, and sets each worker's wave and
 * p->nwaves.  A cycle is TV_EINPUT with the message `NAME:
 * workers[i].bindings[j]: cycle: a -> b -> a`, naming the edge that
 * closes it (name is the file name for messages).  TV_ENOMEM.
 */
enum tv_status tv_policy_graph(struct tv_policy *p, const char *name,
                               struct tv_error *err);

#endif
