/*
 * main.c - the tiervault-agent program: options, setup, output and exit
 * codes.  Only this file prints results (stdout) and decides the exit
 * code; everything else reports through enum tv_status and log.h.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "lock.h"
#include "log.h"
#include "state.h"
#include "tv_config.h"
#include "tv_mem.h"
#include "unlock.h"

#define USAGE                                                                  \
    "usage: tiervault-agent [--vault DIR] [--cacert FILE] [-q|-v] COMMAND\n"   \
    "                       --policy FILE [OPTIONS]\n"                         \
    "commands:\n"                                                              \
    "  preflight [--json]            check the account, read-only\n"           \
    "  plan [--json]                 what a rollout would change\n"            \
    "  rollout [--through TIER] [--json]\n"                                    \
    "                                push tier by tier, verifying each\n"      \
    "  status [--json]               what the rollout state says\n"            \
    "environment: CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID,\n"              \
    "  CLOUDFLARE_API_BASE_URL, TIERVAULT_VAULT, TIERVAULT_CA_BUNDLE,\n"       \
    "  TIERVAULT_KEY_FILE, TIERVAULT_PASSPHRASE_FILE,\n"                       \
    "  TIERVAULT_PASSPHRASE_COMMAND, TIERVAULT_PASSPHRASE\n"

enum command { CMD_NONE, CMD_PREFLIGHT, CMD_PLAN, CMD_ROLLOUT, CMD_STATUS };

struct options {
    enum command cmd;
    const char *vault;
    const char *cacert;
    const char *policy;
    const char *through;
    int verbosity;
    int json;
    int quiet_seen, verbose_seen;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tv_log(TV_LOG_ERROR, NULL, NULL, "%s", msg);
    fputs(USAGE, stderr);
    return 2;
}

/* Stores the value of a --name VALUE option once; -1 on misuse. */
static int
take_value(int argc, char **argv, int *i, const char **slot)
{
    if (*slot != NULL) {
        usage_error("option '%s' given twice", argv[*i]);
        return -1;
    }
    if (*i + 1 >= argc) {
        usage_error("option '%s' needs a value", argv[*i]);
        return -1;
    }
    *slot = argv[++*i];
    return 0;
}

static enum command
command_named(const char *s)
{
    if (strcmp(s, "preflight") == 0)
        return CMD_PREFLIGHT;
    if (strcmp(s, "plan") == 0)
        return CMD_PLAN;
    if (strcmp(s, "rollout") == 0)
        return CMD_ROLLOUT;
    if (strcmp(s, "status") == 0)
        return CMD_STATUS;
    return CMD_NONE;
}

/* Returns -1 to go on, else the exit code. */
static int
parse_one(int argc, char **argv, int *i, struct options *o)
{
    const char *a = argv[*i];

    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (strcmp(a, "--version") == 0) {
        printf("tiervault-agent %s\n", TV_VERSION);
        return 0;
    }
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        if (o->quiet_seen++ || o->verbose_seen)
            return usage_error("'%s': -q once, and not with -v", a);
        o->verbosity = -1;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        if (o->verbose_seen++ || o->quiet_seen)
            return usage_error("'%s': -v once, and not with -q", a);
        o->verbosity = 1;
    } else if (strcmp(a, "--vault") == 0) {
        return take_value(argc, argv, i, &o->vault) < 0 ? 2 : -1;
    } else if (strcmp(a, "--cacert") == 0) {
        return take_value(argc, argv, i, &o->cacert) < 0 ? 2 : -1;
    } else if (strcmp(a, "--policy") == 0 && o->cmd != CMD_NONE) {
        return take_value(argc, argv, i, &o->policy) < 0 ? 2 : -1;
    } else if (strcmp(a, "--through") == 0 && o->cmd == CMD_ROLLOUT) {
        return take_value(argc, argv, i, &o->through) < 0 ? 2 : -1;
    } else if (strcmp(a, "--json") == 0 && o->cmd != CMD_NONE) {
        if (o->json++)
            return usage_error("option '%s' given twice", a);
    } else if (a[0] != '-' && o->cmd == CMD_NONE) {
        o->cmd = command_named(a);
        if (o->cmd == CMD_NONE)
            return usage_error("unknown command '%s'", a);
    } else {
        return usage_error("unknown option or argument '%s'", a);
    }
    return -1;
}

static int
parse_args(int argc, char **argv, struct options *o)
{
    int rc;

    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        rc = parse_one(argc, argv, &i, o);
        if (rc >= 0)
            return rc;
    }
    if (o->cmd == CMD_NONE)
        return usage_error("%s", "no command given");
    if (o->policy == NULL)
        return usage_error("%s", "--policy FILE is required");
    return -1;
}

/* Network events go to the agent's log; the token is never in them. */
static void
http_log(void *ctx, enum tv_http_log_level level, const char *msg)
{
    (void)ctx;
    tv_log(level == TV_HTTP_LOG_WARN ? TV_LOG_WARN : TV_LOG_DEBUG, NULL, NULL,
           "%s", msg);
}

/*
 * Moves CLOUDFLARE_API_TOKEN into guarded memory (*out, NULL when unset or
 * empty), then wipes and removes the environment copy.  Called before
 * the vault is unlocked, so that TIERVAULT_PASSPHRASE_COMMAND's shell
 * (and /proc/PID/environ) never sees the token.  TV_OK or TV_ENOMEM.
 */
static enum tv_status
take_env_token(struct tv_secret **out, struct tv_error *err)
{
    char *env = getenv("CLOUDFLARE_API_TOKEN");
    enum tv_status st = TV_OK;

    *out = NULL;
    if (env == NULL)
        return TV_OK;
    if (env[0] != '\0')
        st = tv_secret_dup(out, env, strlen(env), err);
    tv_wipe(env, strlen(env));
    unsetenv("CLOUDFLARE_API_TOKEN");
    return st;
}

/*
 * The API token: a copy of env_token (taken from CLOUDFLARE_API_TOKEN at
 * start) when there is one, else the vault's _cloudflare/API_TOKEN.
 */
static enum tv_status
get_token(struct tv_vault *v, const struct tv_secret *env_token,
          struct tv_secret **token, struct tv_error *err)
{
    enum tv_status st;

    if (env_token != NULL)
        return tv_secret_dup(token, env_token->data, env_token->len, err);
    st = tv_vault_get(v, "_cloudflare", "API_TOKEN", 0, token, NULL, err);
    if (st == TV_ENOTFOUND)
        return tv_error_set(err, TV_EUSAGE,
                            "no api token: set CLOUDFLARE_API_TOKEN or store "
                            "it in the vault as '_cloudflare/API_TOKEN'");
    return st;
}

static enum tv_status
connect_cf(struct tv_agent *a, const struct options *o,
           const struct tv_secret *env_token, struct tv_error *err)
{
    struct tv_http_options ho;
    struct tv_secret *token = NULL;
    const char *base = getenv("CLOUDFLARE_API_BASE_URL");
    enum tv_status st;

    memset(&ho, 0, sizeof(ho));
    ho.ca_bundle =
        o->cacert != NULL ? o->cacert : getenv("TIERVAULT_CA_BUNDLE");
    if (ho.ca_bundle != NULL && ho.ca_bundle[0] == '\0')
        ho.ca_bundle = NULL;
    ho.max_retries = -1;
    ho.log = http_log;
    ho.log_level =
        tv_log_enabled(TV_LOG_DEBUG) ? TV_HTTP_LOG_DEBUG : TV_HTTP_LOG_WARN;
    st = tv_http_new(&a->http, &ho, err);
    if (st == TV_OK)
        st = get_token(a->vault, env_token, &token, err);
    if (st == TV_OK)
        st = tv_cf_new(&a->cf, a->http,
                       base != NULL && base[0] != '\0' ? base : NULL, token,
                       err);
    tv_secret_free(token);
    return st;
}

static enum tv_status
pick_account(struct tv_agent *a, struct tv_error *err)
{
    const char *env = getenv("CLOUDFLARE_ACCOUNT_ID");
    const char *id = a->policy->account_id;

    if (id == NULL || id[0] == '\0')
        id = env;
    if (id == NULL || id[0] == '\0')
        return tv_error_set(err, TV_EUSAGE,
                            "no account: set account_id in the policy or "
                            "CLOUDFLARE_ACCOUNT_ID");
    if (strlen(id) >= sizeof(a->account))
        return tv_error_set(err, TV_EINPUT, "bad account id '%.40s'", id);
    snprintf(a->account, sizeof(a->account), "%s", id);
    return TV_OK;
}

static void
print_preflight(const cJSON *doc)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "checks"))
    {
        printf("%-4s %s\n",
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ok")) ? "ok"
                                                                       : "FAIL",
               tv_state_str(c, "message"));
    }
}

static void
print_plan(const cJSON *doc)
{
    const cJSON *t, *w, *s, *n;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tiers"))
    {
        printf("tier '%s': %s%s%s\n", tv_state_str(t, "tier"),
               tv_state_str(t, "status"),
               tv_state_str(t, "verified_at")[0] ? ", verified " : "",
               tv_state_str(t, "verified_at"));
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(t, "workers"))
        {
            cJSON_ArrayForEach(s,
                               cJSON_GetObjectItemCaseSensitive(w, "secrets"))
            {
                const char *fp = tv_state_str(s, "fp");
                const char *was = tv_state_str(s, "previous_fp");

                printf("  %-8s %-24s %-24s %s%s%s%s\n",
                       tv_state_str(s, "action"), tv_state_str(w, "worker"),
                       tv_state_str(s, "name"), fp[0] ? fp : "-",
                       was[0] && strcmp(was, fp) != 0 ? " (was " : "",
                       was[0] && strcmp(was, fp) != 0 ? was : "",
                       was[0] && strcmp(was, fp) != 0 ? ")" : "");
            }
        }
    }
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(doc, "workers"))
    {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "exists")))
            printf("worker '%s': does not exist\n", tv_state_str(w, "worker"));
        cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(w, "unknown"))
        {
            printf("worker '%s': '%s' is on cloudflare, not in the policy\n",
                   tv_state_str(w, "worker"), n->valuestring);
        }
    }
}

static void
print_rollout(const cJSON *doc)
{
    const cJSON *t, *w;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tiers"))
    {
        const char *result = tv_state_str(t, "result");
        size_t n = 0;

        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(t, "workers"))
        {
            n++;
        }
        if (strcmp(result, "verified") == 0)
            printf("tier '%s': verified (%zu worker%s pushed)\n",
                   tv_state_str(t, "tier"), n, n == 1 ? "" : "s");
        else
            printf("tier '%s': %s\n", tv_state_str(t, "tier"), result);
    }
    printf("rollout %s\n", tv_state_str(doc, "result"));
}

static void
print_status(const cJSON *doc)
{
    const cJSON *t;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tiers"))
    {
        int verified =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "verified"));
        int current =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "current"));

        printf("tier '%s': %s%s, %s", tv_state_str(t, "tier"),
               verified ? "verified " : "never verified",
               verified ? tv_state_str(t, "verified_at") : "",
               current ? "current"
                       : (verified ? "vault changed since" : "not pushed"));
        if (tv_state_num(t, "missing") > 0)
            printf(", %.0f required missing", tv_state_num(t, "missing"));
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "unfinished")))
            printf(", unfinished run");
        if (tv_state_str(t, "last_failure")[0])
            printf(", last failure %s: %s", tv_state_str(t, "last_failure_at"),
                   tv_state_str(t, "last_failure"));
        printf("\n");
    }
}

static void
print_doc(const struct options *o, const cJSON *doc)
{
    char *text;

    if (doc == NULL)
        return;
    if (o->json) {
        text = cJSON_Print(doc);
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        return;
    }
    if (o->cmd == CMD_PREFLIGHT)
        print_preflight(doc);
    else if (o->cmd == CMD_PLAN)
        print_plan(doc);
    else if (o->cmd == CMD_ROLLOUT)
        print_rollout(doc);
    else
        print_status(doc);
}

static enum tv_status
run_command(struct tv_agent *a, const struct options *o,
            const struct tv_secret *env_token, cJSON **doc,
            struct tv_error *err)
{
    enum tv_status st;

    if (o->cmd == CMD_STATUS)
        return tv_agent_status(a, doc, err);
    st = connect_cf(a, o, env_token, err);
    if (st != TV_OK)
        return st;
    if (o->cmd == CMD_PREFLIGHT)
        return tv_preflight(a, doc, err);
    if (o->cmd == CMD_PLAN)
        return tv_agent_plan(a, doc, err);
    return tv_rollout(a, o->through, doc, err);
}

/*
 * Takes the rollout lock of the vault in dir into *lock_fd before the
 * vault is unlocked, so that a second rollout is refused before it asks
 * for a passphrase.  The vault is opened locked first, so the lock file is
 * only ever made in a real, private vault directory.
 */
static enum tv_status
lock_vault(const char *dir, int *lock_fd, struct tv_error *err)
{
    struct tv_vault *v = NULL;
    enum tv_status st;

    st = tv_vault_open(&v, dir, err);
    tv_vault_close(v);
    if (st == TV_OK)
        st = tv_agent_lock(dir, lock_fd, err);
    return st;
}

/*
 * Loads the policy, takes the rollout lock into *lock_fd for rollout
 * (stays -1 otherwise), then opens and unlocks the vault.
 */
static enum tv_status
setup(struct tv_agent *a, struct tv_policy **policy, const struct options *o,
      int *lock_fd, struct tv_error *err)
{
    char dir[4096];
    enum tv_status st;

    st = tv_policy_load(policy, o->policy, err);
    if (st != TV_OK)
        return st;
    a->policy = *policy;
    st = pick_account(a, err);
    if (st == TV_OK)
        st = tv_vault_dir_resolve(o->vault, dir, sizeof(dir), err);
    if (st == TV_OK && o->cmd == CMD_ROLLOUT)
        st = lock_vault(dir, lock_fd, err);
    if (st == TV_OK)
        st = tv_agent_open_vault(dir, &a->vault, err);
    if (st != TV_OK)
        return st;
    a->remote = calloc(a->policy->nworkers ? a->policy->nworkers : 1,
                       sizeof(*a->remote));
    if (a->remote == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    return TV_OK;
}

int
main(int argc, char **argv)
{
    struct tv_policy *policy = NULL;
    struct tv_agent a;
    struct tv_error err = { 0 };
    struct tv_secret *env_token = NULL;
    struct options o;
    enum tv_status st;
    cJSON *doc = NULL;
    int rc, lock_fd = -1;

    st = tv_harden(&err);
    if (st != TV_OK) {
        fprintf(stderr, "tiervault-agent: %s\n", err.msg);
        return 1;
    }
    /*
     * SIGCHLD inherited as ignored makes the kernel reap our children: the
     * exit status of TIERVAULT_PASSPHRASE_COMMAND would be lost.
     */
    signal(SIGCHLD, SIG_DFL);
    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    tv_log_init(o.verbosity);
    memset(&a, 0, sizeof(a));
    a.json = o.json;

    st = take_env_token(&env_token, &err);
    if (st == TV_OK)
        st = setup(&a, &policy, &o, &lock_fd, &err);
    if (st == TV_OK)
        st = run_command(&a, &o, env_token, &doc, &err);
    print_doc(&o, doc);
    if (st != TV_OK)
        tv_log(TV_LOG_ERROR, NULL, NULL, "%s", err.msg);
    rc = tv_status_exit_code(st);
    /* A result that did not reach stdout is a failure, not success. */
    if ((fflush(stdout) == EOF || ferror(stdout)) && rc == 0) {
        tv_log(TV_LOG_ERROR, NULL, NULL, "cannot write to standard output");
        rc = 1;
    }

    cJSON_Delete(doc);
    tv_cf_free(a.cf);
    tv_http_free(a.http);
    free(a.remote);
    tv_vault_close(a.vault);
    tv_agent_unlock(lock_fd);
    tv_policy_free(policy);
    tv_secret_free(env_token);
    return rc;
}
