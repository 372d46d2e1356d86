/*
 * cmd_run.c - tiervault run: run a command with secrets added to its
 * environment, either a service's (optionally some tiers) or exactly the
 * ones a policy Worker needs up to a tier.  No shell: execvp directly.
 * The child's exit status is passed through (a signal: 128 + its number).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "tv_policy.h"

extern char **environ;

static const char usage[] =
    "usage: tiervault run --service SERVICE [--tier TIER]... -- COMMAND "
    "[ARG]...\n"
    "       tiervault run --policy FILE --worker NAME [--through TIER]\n"
    "                     -- COMMAND [ARG]...\n"
    "\n"
    "Runs COMMAND (no shell) with secrets added to its environment as\n"
    "NAME=value and exits with its exit status (128 + N after signal N).\n"
    "With --service: the current secrets of SERVICE, only those of the\n"
    "tiers given when --tier is used.  With --policy: the secrets the\n"
    "Worker needs in the enabled tiers up to --through (default: all),\n"
    "read from where each one's 'from' says; if a required one is missing\n"
    "nothing runs and the exit status is 4.\n";

enum { O_SERVICE, O_TIER, O_POLICY, O_WORKER, O_THROUGH };

static const struct cli_opt opts[] = {
    [O_SERVICE] = { "service", 0, 1, 0 }, [O_TIER] = { "tier", 0, 1, 1 },
    [O_POLICY] = { "policy", 0, 1, 0 },   [O_WORKER] = { "worker", 0, 1, 0 },
    [O_THROUGH] = { "through", 0, 1, 0 },
};

/* The secrets for the child: "NAME=value" strings in guarded memory. */
struct envset {
    struct tv_secret **kv;
    size_t n;
    size_t cap;
};

static void
envset_free(struct envset *e)
{
    for (size_t i = 0; i < e->n; i++)
        tv_secret_free(e->kv[i]);
    free(e->kv);
    memset(e, 0, sizeof(*e));
}

/* Reads service/name and adds it to e as envname=value. */
static enum tv_status
envset_add(struct envset *e, struct tv_vault *v, const char *service,
           const char *name, const char *envname, struct tv_error *err)
{
    struct tv_secret *value = NULL, *kv = NULL;
    size_t nlen = strlen(envname);
    enum tv_status st;

    st = tv_vault_get(v, service, name, 0, &value, NULL, err);
    if (st != TV_OK)
        return st;
    if (memchr(value->data, '\0', value->len) != NULL)
        st = tv_error_set(err, TV_EINPUT,
                          "cannot pass '%s/%s' in the environment: its value "
                          "holds a NUL byte",
                          service, name);
    if (st == TV_OK && e->n == e->cap) {
        size_t want = e->cap ? e->cap * 2 : 16;
        struct tv_secret **grown = realloc(e->kv, want * sizeof(*grown));

        if (grown == NULL)
            st = tv_error_set(err, TV_ENOMEM, "out of memory");
        else {
            e->kv = grown;
            e->cap = want;
        }
    }
    if (st == TV_OK)
        st = tv_secret_new(&kv, nlen + 1 + value->len, err);
    if (st == TV_OK) {
        memcpy(kv->data, envname, nlen);
        kv->data[nlen] = '=';
        memcpy(kv->data + nlen + 1, value->data, value->len);
        e->kv[e->n++] = kv;
    }
    tv_secret_free(value);
    return st;
}

static int
tier_wanted(const struct cli_args *a, const char *tier)
{
    const struct cli_optval *t = &a->opt[O_TIER];

    for (int i = 0; i < t->count; i++)
        if (strcmp(t->values[i], tier) == 0)
            return 1;
    return t->count == 0;
}

static int
from_service(struct tv_vault *v, const struct cli_args *a, struct envset *e)
{
    struct tv_error err = { 0 };
    struct cli_records rs = { 0 };
    const char *service = a->opt[O_SERVICE].value;
    enum tv_status st;

    st = cli_records_load(v, service, NULL, &rs, &err);
    for (size_t i = 0; st == TV_OK && i < rs.n; i++)
        if (tier_wanted(a, rs.r[i].tier))
            st = envset_add(e, v, service, rs.r[i].name, rs.r[i].name, &err);
    cli_records_free(&rs);
    if (st == TV_OK && e->n == 0)
        st = tv_error_set(&err, TV_ENOTFOUND, "no secrets in '%s'%s", service,
                          a->opt[O_TIER].count ? " in the tiers given" : "");
    return st == TV_OK ? 0 : cli_fail(&err);
}

/* The secrets of worker w in the enabled tiers up to index through. */
static int
worker_secrets(struct tv_vault *v, const struct tv_policy *p, size_t w,
               size_t through, struct envset *e)
{
    const struct tv_worker *wk = &p->workers[w];
    struct tv_error err = { 0 };
    size_t missing = 0;

    for (size_t i = 0; i < wk->nsecrets; i++) {
        const struct tv_policy_secret *s = &wk->secrets[i];
        enum tv_status st;

        if (s->tier_idx > through || !p->tiers[s->tier_idx].enabled)
            continue;
        st = envset_add(e, v, s->from_service, s->from_name, s->name, &err);
        if (st == TV_ENOTFOUND && s->required) {
            cli_error("missing '%s/%s' for %s of worker '%s' (tier %s)",
                      s->from_service, s->from_name, s->name, wk->name,
                      s->tier);
            missing++;
        } else if (st != TV_OK && st != TV_ENOTFOUND) {
            return cli_fail(&err);
        }
    }
    if (missing > 0) {
        cli_error("held: %zu required secret%s of worker '%s' missing; "
                  "nothing was run",
                  missing, missing == 1 ? " is" : "s are", wk->name);
        return 4;
    }
    return 0;
}

static int
from_policy(struct tv_cli *c, struct tv_vault *v, const struct cli_args *a,
            struct envset *e)
{
    struct tv_error err = { 0 };
    struct tv_policy *p = NULL;
    const char *through = a->opt[O_THROUGH].value;
    long w, t;
    int rc = 1;

    if (tv_policy_load(&p, a->opt[O_POLICY].value, &err) != TV_OK)
        return cli_fail(&err);
    w = tv_policy_worker_index(p, a->opt[O_WORKER].value);
    t = through ? tv_policy_tier_index(p, through) : 0;
    if (w < 0)
        cli_error("%s: no worker '%s'", p->path, a->opt[O_WORKER].value);
    else if (t < 0)
        cli_error("%s: no tier '%s'", p->path, through);
    else
        rc = worker_secrets(v, p, (size_t)w, through ? (size_t)t : (size_t)-1,
                            e);
    if (rc == 0 && through != NULL && !p->tiers[t].enabled)
        cli_warn(c, "tier '%s' is disabled in '%s': its secrets are left out",
                 through, p->path);
    tv_policy_free(p);
    return rc;
}

/*
 * 1 if env ("NAME=value") is an unlock source: the child gets the secrets
 * asked for, not the key to all of them (nor where to find it).
 */
static int
is_unlock_source(const char *env)
{
    static const char *const names[] = {
        "TIERVAULT_KEY_FILE=",
        "TIERVAULT_PASSPHRASE_FILE=",
        "TIERVAULT_PASSPHRASE_COMMAND=",
        "TIERVAULT_PASSPHRASE=",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strncmp(env, names[i], strlen(names[i])) == 0)
            return 1;
    return 0;
}

/*
 * The child's environment: ours without the names being set and without
 * the unlock sources, then the secrets.  The array is ordinary memory;
 * the strings stay where they are.
 */
static char **
build_env(const struct envset *e)
{
    size_t n = 0, k = 0;
    char **envp;

    while (environ[n] != NULL)
        n++;
    envp = calloc(n + e->n + 1, sizeof(*envp));
    if (envp == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(environ[i], "=");
        int replaced = is_unlock_source(environ[i]);

        for (size_t j = 0; j < e->n && !replaced; j++)
            replaced =
                strncmp((const char *)e->kv[j]->data, environ[i], len + 1) == 0;
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < e->n; j++)
        envp[k++] = (char *)e->kv[j]->data;
    return envp;
}

static volatile sig_atomic_t child_pid;

static void
forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

struct saved_signals {
    struct sigaction intr, quit, term;
    sigset_t mask;
};

/*
 * While the child runs: SIGINT and SIGQUIT are the child's (the terminal
 * sends them to both), SIGTERM is passed on to it.  SIGTERM stays blocked
 * until the child's pid is known, so that none is lost.
 */
static void
signals_for_wait(struct saved_signals *s)
{
    struct sigaction ign = { 0 }, fwd = { 0 };
    sigset_t term;

    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &s->mask);
    ign.sa_handler = SIG_IGN;
    fwd.sa_handler = forward_signal;
    sigaction(SIGINT, &ign, &s->intr);
    sigaction(SIGQUIT, &ign, &s->quit);
    sigaction(SIGTERM, &fwd, &s->term);
}

static void
signals_restore(const struct saved_signals *s)
{
    sigaction(SIGINT, &s->intr, NULL);
    sigaction(SIGQUIT, &s->quit, NULL);
    sigaction(SIGTERM, &s->term, NULL);
    sigprocmask(SIG_SETMASK, &s->mask, NULL);
}

/* In the child: exec, or report errno on fd and exit. */
static void
exec_child(char **argv, char **envp, int fd, const struct saved_signals *s)
{
    int child_errno;

    signals_restore(s);
    execvpe(argv[0], argv, envp);
    child_errno = errno;
    (void)!write(fd, &child_errno, sizeof(child_errno));
    _exit(127);
}

/* The exit code of run for a child that started: its status. */
static int
wait_child(pid_t pid)
{
    int status = 0;
    pid_t got;

    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (got < 0) {
        cli_error("cannot wait for the program: %s", strerror(errno));
        return 1;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Forks and execs; returns the exit code run must exit with. */
static int
spawn(char **argv, struct envset *e)
{
    struct saved_signals saved;
    char **envp = build_env(e);
    int fds[2], child_errno = 0, rc;
    pid_t pid;

    if (envp == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        cli_error("cannot run '%s': %s", argv[0], strerror(errno));
        free(envp);
        return 1;
    }
    signals_for_wait(&saved);
    pid = fork();
    if (pid == 0)
        exec_child(argv, envp, fds[1], &saved);
    child_pid = pid;
    sigprocmask(SIG_SETMASK, &saved.mask, NULL);
    close(fds[1]);
    free(envp);
    envset_free(e);
    if (pid < 0) {
        close(fds[0]);
        cli_error("cannot fork: %s", strerror(errno));
        return 1;
    }
    while (read(fds[0], &child_errno, sizeof(child_errno)) < 0 &&
           errno == EINTR)
        ;
    close(fds[0]);
    rc = wait_child(pid);
    if (child_errno != 0) {
        cli_error("cannot run '%s': %s", argv[0], strerror(child_errno));
        return 1;
    }
    return rc;
}

static int
check_args(const struct cli_args *a)
{
    int by_service = a->opt[O_SERVICE].count || a->opt[O_TIER].count;
    int by_policy = a->opt[O_POLICY].count || a->opt[O_WORKER].count ||
                    a->opt[O_THROUGH].count;

    if (a->npos != 0 || a->rest == NULL || a->nrest == 0)
        return cli_misuse(usage, "put the command after '--'");
    if (by_service == by_policy)
        return cli_misuse(usage, "use either --service, or --policy and "
                                 "--worker");
    if (by_service && !a->opt[O_SERVICE].count)
        return cli_misuse(usage, "--tier needs --service");
    if (by_policy && (!a->opt[O_POLICY].count || !a->opt[O_WORKER].count))
        return cli_misuse(usage, "--policy and --worker go together");
    if (by_service && cli_check_service(a->opt[O_SERVICE].value, 0))
        return 1;
    for (int i = 0; i < a->opt[O_TIER].count; i++)
        if (cli_check_tier(a->opt[O_TIER].values[i]))
            return 1;
    return -1;
}

int
cmd_run(struct tv_cli *c, int argc, char **argv)
{
    struct envset e = { 0 };
    struct tv_vault *v = NULL;
    struct cli_args a;
    int rc;

    rc = cli_parse(usage, opts, 5, argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = check_args(&a);
    if (rc >= 0)
        goto out;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (a.opt[O_SERVICE].count)
        rc = from_service(v, &a, &e);
    else
        rc = from_policy(c, v, &a, &e);
    tv_vault_close(v);
    if (rc == 0) {
        cli_verbose(c, "running '%s' with %zu secrets", a.rest[0], e.n);
        rc = spawn(a.rest, &e);
    }

out:
    envset_free(&e);
    cli_args_free(&a);
    return rc;
}
