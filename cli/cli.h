/*
 * cli.h - what the tiervault commands share: global options, the message
 * module, vault opening with the unlock sources, and the command table.
 * Each command lives in cli/cmd_<name>.c and returns the process exit code
 * (0 done, 1 failed, 2 usage, 3 unlock or integrity, 4 held at a gate).
 */
#ifndef TV_CLI_H
#define TV_CLI_H

#include <stdio.h>

#include "tv_error.h"
#include "tv_vault.h"

struct tv_cli {
    const char *vault_dir; /* resolved: --vault, $TIERVAULT_VAULT, XDG */
    int verbosity;         /* -1 with -q, 0, 1 with -v */
    int color;             /* stdout is a terminal and NO_COLOR unset */
    char actor[TV_ACTOR_MAX + 1]; /* "user@host" */
};

/* Messages on stderr, prefixed "tiervault: "; never pass a secret. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const struct tv_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_info(const struct tv_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Prints err's message with cli_error and returns the exit code its status
 * maps to (tv_status_exit_code).
 */
int cli_fail(const struct tv_error *err);

/*
 * Opens the vault of c and unlocks it from the first unlock source found:
 * TIERVAULT_KEY_FILE, TIERVAULT_PASSPHRASE_FILE,
 * TIERVAULT_PASSPHRASE_COMMAND, TIERVAULT_PASSPHRASE, a terminal prompt.
 * Sets the vault's actor to c->actor.  Returns an exit code (0 on success,
 * *out then owned by the caller) and prints the error otherwise.
 */
int cli_open_vault(struct tv_cli *c, struct tv_vault **out);

/*
 * Prints the usage of a command on stdout (help) or stderr (misuse) and
 * returns 0 or 2 accordingly.
 */
int cli_usage(FILE *to, const char *text);

typedef int (*cli_cmd_fn)(struct tv_cli *c, int argc, char **argv);

int cmd_init(struct tv_cli *c, int argc, char **argv);
int cmd_put(struct tv_cli *c, int argc, char **argv);
int cmd_get(struct tv_cli *c, int argc, char **argv);
int cmd_ls(struct tv_cli *c, int argc, char **argv);
int cmd_history(struct tv_cli *c, int argc, char **argv);
int cmd_rm(struct tv_cli *c, int argc, char **argv);
int cmd_rollback(struct tv_cli *c, int argc, char **argv);
int cmd_import(struct tv_cli *c, int argc, char **argv);
int cmd_export(struct tv_cli *c, int argc, char **argv);
int cmd_run(struct tv_cli *c, int argc, char **argv);
int cmd_log(struct tv_cli *c, int argc, char **argv);
int cmd_keys(struct tv_cli *c, int argc, char **argv);
int cmd_backup(struct tv_cli *c, int argc, char **argv);
/* cli/cmd_status.c and cli/cmd_policy.c (the policies work) */
int cmd_status(struct tv_cli *c, int argc, char **argv);
int cmd_policy(struct tv_cli *c, int argc, char **argv);

#endif
