/*
 * tv_wrangler.h - a first policy from Wrangler configuration: one worker
 * per wrangler.json, wrangler.jsonc or wrangler.toml, with its service
 * bindings, D1 databases, `secrets.required` and the names (never the
 * values) of its .dev.vars, each secret put in a tier by name rules.
 */
#ifndef TV_WRANGLER_H
#define TV_WRANGLER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "tv_error.h"
#include "tv_vault.h"

#define TV_GLOB_MAX 128

/* A tier rule: secrets whose name matches glob (fnmatch) go to tier. */
struct tv_tier_rule {
    char glob[TV_GLOB_MAX + 1];
    char tier[TV_TIER_MAX + 1];
};

/* Receives each warning (one line, lowercase, no value in it). */
typedef void (*tv_warn_fn)(void *ctx, const char *msg);

struct tv_wrangler_opts {
    const char *const *from; /* directories or configuration files */
    size_t nfrom;
    const char *env;                  /* Wrangler environment, or NULL */
    const struct tv_tier_rule *rules; /* tried before the built-in ones */
    size_t nrules;
    tv_warn_fn warn; /* may be NULL */
    void *warn_ctx;
};

/*
 * Parses "GLOB=TIER" into *out: GLOB non-empty and at most TV_GLOB_MAX
 * bytes, TIER a valid tier name.  TV_EINPUT naming arg otherwise.
 */
enum tv_status tv_tier_rule_parse(const char *arg, struct tv_tier_rule *out,
                                  struct tv_error *err);

/*
 * The tier of a secret called name: the first of rules (n entries) whose
 * glob matches, else the first built-in rule that does (STRIPE_* and
 * CREEM_* are "payment", OPENAI_* is "ai"), else "core".  Never NULL; the
 * result points into rules or to static text.
 */
const char *tv_tier_for(const struct tv_tier_rule *rules, size_t n,
                        const char *name);

/*
 * Finds the Wrangler configuration of a --from argument: path itself
 * when it is a file, else the first of wrangler.json, wrangler.jsonc and
 * wrangler.toml in the directory path.  *out (malloc'd, caller frees) is
 * the file's path.  TV_ENOTFOUND naming path when there is none; TV_EIO,
 * TV_ENOMEM.
 */
enum tv_status tv_wrangler_find(const char *path, char **out,
                                struct tv_error *err);

/*
 * Reads the names defined in the dotenv file at path (`NAME=value`
 * lines, `export ` prefixes, `#` comments, quoted values that may span
 * lines) into *names, a cJSON array of strings in file order without
 * repeats (caller frees).  Values are skipped, never kept or quoted in a
 * message.  TV_EINPUT "PATH:LINE: ..." for a line that is not NAME=value
 * or an unterminated quote; TV_ENOTFOUND, TV_EIO, TV_ENOMEM.
 */
enum tv_status tv_dotenv_names(const char *path, cJSON **names,
                               struct tv_error *err);

/*
 * Builds a format-1 policy from the configurations o->from (see
 * docs/policy.md, "policy init") into *out (caller frees with
 * cJSON_Delete) and checks it with tv_policy_parse before returning it:
 * what it returns always passes `policy check`.  Service bindings to a
 * worker that no given configuration defines add that worker without
 * secrets (a warning says so); a self-binding is dropped with a warning.
 * TV_EINPUT names the file and field at fault (a missing name, an
 * unknown environment, conflicting account ids, a worker defined twice,
 * a cycle of bindings); TV_ENOTFOUND, TV_EIO, TV_ENOMEM.
 */
enum tv_status tv_wrangler_policy(const struct tv_wrangler_opts *o, cJSON **out,
                                  struct tv_error *err);

#endif
