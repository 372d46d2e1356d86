/*
 * main.c - the tiervault program: hardening, global options, the vault
 * location, and the command table.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tv_config.h"

struct command {
    const char *name;
    cli_cmd_fn fn;
};

static const struct command commands[] = {
    { "init", cmd_init },         { "put", cmd_put },
    { "get", cmd_get },           { "ls", cmd_ls },
    { "history", cmd_history },   { "rm", cmd_rm },
    { "rollback", cmd_rollback }, { "import", cmd_import },
    { "export", cmd_export },     { "run", cmd_run },
    { "status", cmd_status },     { "policy", cmd_policy },
    { "log", cmd_log },           { "keys", cmd_keys },
    { "backup", cmd_backup },
};

static const char usage[] =
    "usage: tiervault [--vault DIR] [-q|-v] COMMAND [ARG]...\n"
    "\n"
    "  init [--kdf interactive|moderate|sensitive]\n"
    "       [--key-file PATH [--no-passphrase]]  create a vault\n"
    "  put SERVICE NAME --tier TIER [--generate BYTES] [--note TEXT]\n"
    "                                 store a value read from stdin\n"
    "  get SERVICE NAME [--version N]   print a value\n"
    "  ls [SERVICE] [--tier TIER] [--json]   list secrets\n"
    "  history SERVICE NAME [--json]  list the versions of a secret\n"
    "  rm SERVICE NAME                delete a secret (kept in history)\n"
    "  rollback SERVICE NAME VERSION  make an old value current again\n"
    "  import FILE (--service S --tier T | --policy P --worker W)\n"
    "         [--format dotenv|json]  import a .dev.vars or JSON file\n"
    "  export --service S [--tier T] [--format dotenv|json|wrangler]\n"
    "  run (--service S [--tier T]... | --policy P --worker W\n"
    "      [--through TIER]) -- COMMAND [ARG]...   run with secrets\n"
    "  status --policy FILE [--json]  which secrets are filled\n"
    "  policy check FILE | policy init --from PATH...\n"
    "  log [--json] | log verify      the audit log\n"
    "  keys ls | keys add (--passphrase | --key-file PATH) | keys rm SLOT\n"
    "  backup PATH                    write a compacted copy\n"
    "\n"
    "options:\n"
    "  --vault DIR   the vault (default $TIERVAULT_VAULT, else\n"
    "                $XDG_DATA_HOME/tiervault or ~/.local/share/tiervault)\n"
    "  -q            only errors on stderr\n"
    "  -v            say more\n"
    "  --version     print the version\n"
    "  -h, --help    this text; 'tiervault COMMAND --help' for a command\n"
    "\n"
    "unlock: TIERVAULT_KEY_FILE, TIERVAULT_PASSPHRASE_FILE,\n"
    "TIERVAULT_PASSPHRASE_COMMAND, TIERVAULT_PASSPHRASE, else a prompt.\n"
    "exit: 0 done, 1 failed, 2 usage, 3 unlock or integrity, 4 held.\n";

static const char *
nonempty_env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : NULL;
}

/*
 * The vault location (tv_vault_dir_resolve); NULL when there is none
 * (cli_open_locked and init say so).
 */
static const char *
resolve_vault(const char *opt, char *out, size_t len)
{
    struct tv_error ignored;

    if (tv_vault_dir_resolve(opt, out, len, &ignored) != TV_OK)
        return NULL;
    return out;
}

static void
set_actor(struct tv_cli *c)
{
    struct passwd *pw = getpwuid(geteuid());
    const char *user = pw ? pw->pw_name : nonempty_env("USER");
    char host[64] = "localhost";

    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    if (user != NULL)
        snprintf(c->actor, sizeof(c->actor), "%.60s@%s", user, host);
    else
        snprintf(c->actor, sizeof(c->actor), "uid%lu@%s",
                 (unsigned long)geteuid(), host);
}

/* Global options before the command; returns the command's index or -1. */
static int
parse_global(int argc, char **argv, struct tv_cli *c, const char **vault,
             int *rc)
{
    int i, q = 0, v = 0;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *rc = cli_usage(stdout, usage);
            return -1;
        } else if (strcmp(a, "--version") == 0) {
            printf("tiervault %s\n", TV_VERSION);
            *rc = 0;
            return -1;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "-v") == 0) {
            if ((a[1] == 'q' ? q++ : v++) > 0 || (q && v)) {
                *rc = cli_misuse(usage,
                                 "option '%s' given twice or with "
                                 "its opposite",
                                 a);
                return -1;
            }
        } else if (strcmp(a, "--vault") == 0 ||
                   strncmp(a, "--vault=", 8) == 0) {
            const char *dir = a[7] == '=' ? a + 8 : argv[++i];

            if (*vault != NULL || dir == NULL) {
                *rc = cli_misuse(usage, "option '--vault' %s",
                                 dir ? "given twice" : "needs a value");
                return -1;
            }
            *vault = dir;
        } else {
            *rc = cli_misuse(usage, "unknown option '%s'", a);
            return -1;
        }
    }
    c->verbosity = q ? -1 : v;
    if (i == argc) {
        *rc = cli_misuse(usage, "no command given");
        return -1;
    }
    return i;
}

int
main(int argc, char **argv)
{
    static char dir[4096];
    struct tv_cli c = { 0 };
    struct tv_error err = { 0 };
    const char *vault = NULL, *nc = getenv("NO_COLOR");
    int color = nc == NULL || *nc == '\0';
    int rc = 2, i;

    if (tv_harden(&err) != TV_OK) {
        fprintf(stderr, "tiervault: %s\n", err.msg);
        return 1;
    }
    /*
     * SIGCHLD inherited as ignored makes the kernel reap our children:
     * the exit status of TIERVAULT_PASSPHRASE_COMMAND and of run's
     * program would be lost.
     */
    signal(SIGCHLD, SIG_DFL);
    cli_json_init();
    cli_msg_init(0, color && isatty(STDERR_FILENO));
    i = parse_global(argc, argv, &c, &vault, &rc);
    if (i < 0)
        return rc;
    cli_msg_init(c.verbosity, color && isatty(STDERR_FILENO));
    c.color = color && isatty(STDOUT_FILENO);
    set_actor(&c);
    c.vault_dir = resolve_vault(vault, dir, sizeof(dir));
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
        if (strcmp(argv[i], commands[k].name) == 0) {
            rc = commands[k].fn(&c, argc - i - 1, argv + i + 1);
            if (fflush(stdout) == EOF && rc == 0) {
                cli_error("cannot write to standard output: %s",
                          strerror(errno));
                rc = 1;
            }
            return rc;
        }
    }
    return cli_misuse(usage, "unknown command '%s'", argv[i]);
}
