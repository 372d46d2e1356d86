/*
 * cmd_policy.c - tiervault policy check FILE, and policy init: a first
 * policy from Wrangler configuration.  Neither opens the vault.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "tv_jsonc.h"
#include "tv_policy.h"
#include "tv_wrangler.h"

static const char usage[] =
    "usage: tiervault policy check FILE\n"
    "       tiervault policy init --from PATH [--from PATH]... [--env NAME]\n"
    "                             [--tier-rule GLOB=TIER]...\n"
    "\n"
    "check validates a policy file and prints a one-line summary.\n"
    "init prints a policy built from Wrangler configuration.\n"
    "`tiervault policy check -h` and `tiervault policy init -h` say more.\n";

static const char check_usage[] =
    "usage: tiervault policy check FILE\n"
    "\n"
    "Reads and validates the policy FILE (format 1) without opening the\n"
    "vault.  Prints a one-line summary and exits 0 when it is valid;\n"
    "prints the first problem, naming its JSON path and value, and exits 1\n"
    "otherwise.\n";

static const char init_usage[] =
    "usage: tiervault policy init --from PATH [--from PATH]... [--env NAME]\n"
    "                             [--tier-rule GLOB=TIER]...\n"
    "\n"
    "Prints on stdout a policy with one worker per Wrangler configuration:\n"
    "PATH is a wrangler.json, wrangler.jsonc or wrangler.toml file, or a\n"
    "directory holding one (looked for in that order).  Each worker gets\n"
    "its service bindings, its D1 databases and migrations folders, its\n"
    "secrets.required as required secrets and the names (never the values)\n"
    "in the .dev.vars beside the configuration.  With --env NAME the\n"
    "worker is NAME-ENV, read from env.NAME, with .dev.vars.NAME when it\n"
    "exists.  Each secret's tier comes from the first matching --tier-rule\n"
    "(fnmatch GLOB), then STRIPE_*=payment, CREEM_*=payment, OPENAI_*=ai,\n"
    "else core.  Paths in the output are relative to the current directory.\n";

enum { O_FROM, O_ENV, O_RULE };

static const struct cli_opt init_opts[] = {
    [O_FROM] = { "from", 0, 1, 1 },
    [O_ENV] = { "env", 0, 1, 0 },
    [O_RULE] = { "tier-rule", 0, 1, 1 },
};

static size_t
count_secrets(const struct tv_policy *p)
{
    size_t i, n = 0;

    for (i = 0; i < p->nworkers; i++)
        n += p->workers[i].nsecrets;
    return n;
}

static int
policy_check(int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_policy *p = NULL;
    struct cli_args a;
    int rc;

    rc = cli_parse(check_usage, NULL, 0, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.npos != 1 || a.rest != NULL) {
        rc = cli_misuse(check_usage, "policy check takes one FILE");
        goto out;
    }
    if (tv_policy_load(&p, a.pos[0], &err) != TV_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    printf("%s: valid: %zu tiers, %zu workers in %zu waves, %zu secrets, "
           "%zu d1 databases\n",
           a.pos[0], p->ntiers, p->nworkers, p->nwaves, count_secrets(p),
           p->nd1);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    tv_policy_free(p);
    cli_args_free(&a);
    return rc;
}

static void
warn_cb(void *ctx, const char *msg)
{
    cli_warn(ctx, "%s", msg);
}

static int
print_policy(const cJSON *doc)
{
    char *text = tv_json_pretty(doc);
    int rc = 0;

    if (text == NULL) {
        cli_error("cannot format the policy: out of memory");
        return 1;
    }
    if (fputs(text, stdout) == EOF || fflush(stdout) == EOF) {
        cli_error("cannot write to standard output");
        rc = 1;
    }
    free(text);
    return rc;
}

static int
policy_init(struct tv_cli *c, int argc, char **argv)
{
    struct tv_wrangler_opts o = { 0 };
    struct tv_tier_rule *rules = NULL;
    struct tv_error err = { 0 };
    cJSON *doc = NULL;
    struct cli_args a;
    int rc, i;

    rc = cli_parse(init_usage, init_opts, 3, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.npos > 0 || a.rest != NULL)
        rc = cli_misuse(init_usage, "policy init takes no operands");
    else if (a.opt[O_FROM].count == 0)
        rc = cli_misuse(init_usage, "policy init needs --from PATH");
    if (rc >= 0)
        goto out;
    rules = calloc((size_t)a.opt[O_RULE].count + 1, sizeof(*rules));
    if (rules == NULL) {
        cli_error("out of memory");
        rc = 1;
        goto out;
    }
    for (i = 0; i < a.opt[O_RULE].count; i++) {
        if (tv_tier_rule_parse(a.opt[O_RULE].values[i], &rules[i], &err) !=
            TV_OK) {
            rc = cli_misuse(init_usage, "%s", err.msg);
            goto out;
        }
    }
    o.from = a.opt[O_FROM].values;
    o.nfrom = (size_t)a.opt[O_FROM].count;
    o.env = a.opt[O_ENV].value;
    o.rules = rules;
    o.nrules = (size_t)a.opt[O_RULE].count;
    o.warn = warn_cb;
    o.warn_ctx = c;
    if (tv_wrangler_policy(&o, &doc, &err) != TV_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = print_policy(doc);
out:
    cJSON_Delete(doc);
    free(rules);
    cli_args_free(&a);
    return rc;
}

int
cmd_policy(struct tv_cli *c, int argc, char **argv)
{
    if (argc < 1)
        return cli_misuse(usage, "policy needs a subcommand: check or init");
    if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)
        return cli_usage(stdout, usage);
    if (strcmp(argv[0], "check") == 0)
        return policy_check(argc - 1, argv + 1);
    if (strcmp(argv[0], "init") == 0)
        return policy_init(c, argc - 1, argv + 1);
    return cli_misuse(usage, "unknown policy subcommand '%s'", argv[0]);
}
