/*
 * cli.h - what the tiervault commands share: global options, the message
 * module, vault opening with the unlock sources, and the command table.
 * Each command lives in cli/cmd_<name>.c and returns the process exit code
 * (0 done, 1 failed, 2 usage, 3 unlock or integrity, 4 held at a gate).
 */
#ifndef TV_CLI_H
#define TV_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "opts.h"
#include "tv_error.h"
#include "tv_mem.h"
#include "tv_unlock.h"
#include "tv_vault.h"

struct tv_cli {
    const char *vault_dir;        /* resolved: --vault, $TIERVAULT_VAULT, XDG */
    int verbosity;                /* -1 with -q, 0, 1 with -v */
    int color;                    /* stdout is a terminal and NO_COLOR unset */
    char actor[TV_ACTOR_MAX + 1]; /* "user@host" */
};

/* Messages on stderr, prefixed "tiervault: "; never pass a secret. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const struct tv_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_info(const struct tv_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* As cli_info, shown only with -v. */
void cli_verbose(const struct tv_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Sets what the message functions need before a struct tv_cli exists:
 * the verbosity (-1, 0, 1) and whether stderr may be coloured.
 */
void cli_msg_init(int verbosity, int color);

/*
 * Prints err's message with cli_error and returns the exit code its status
 * maps to (tv_status_exit_code).
 */
int cli_fail(const struct tv_error *err);

/*
 * Reports command line misuse: prints "tiervault: WHY" and the usage text
 * on stderr, and returns 2.
 */
int cli_misuse(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Opens the vault of c and unlocks it from the first unlock source found
 * (tv_vault_open_unlocked): TIERVAULT_KEY_FILE, TIERVAULT_PASSPHRASE_FILE,
 * TIERVAULT_PASSPHRASE_COMMAND, TIERVAULT_PASSPHRASE, a terminal prompt.
 * Sets the vault's actor to c->actor; warns when the passphrase file is
 * open to others.  Returns an exit code (0 on success, *out then owned by
 * the caller; 3 when it cannot be unlocked) and prints the error otherwise.
 */
int cli_open_vault(struct tv_cli *c, struct tv_vault **out);

/*
 * Prints the usage of a command on stdout (help) or stderr (misuse) and
 * returns 0 or 2 accordingly.
 */
int cli_usage(FILE *to, const char *text);

/*
 * Prints why c has no vault directory (c->vault_dir is NULL: no --vault,
 * TIERVAULT_VAULT, XDG_DATA_HOME or HOME) and returns 1; returns 0 when
 * it has one.
 */
int cli_need_vault_dir(const struct tv_cli *c);

/*
 * Opens the vault of c without unlocking it (for commands that read no
 * secret).  Returns an exit code; on 0 *out is the caller's.
 */
int cli_open_locked(struct tv_cli *c, struct tv_vault **out);

/*
 * Reads a new passphrase, for init and `keys add --passphrase`.  With
 * use_env the sources TIERVAULT_PASSPHRASE_FILE, _COMMAND and
 * TIERVAULT_PASSPHRASE come first; then, with use_stdin, standard input
 * when it is not a terminal (one trailing newline dropped); else the
 * terminal prompts twice without echo (tv_tty_secret; a mismatch is
 * refused).  Warns when the passphrase file is open to others.  An empty
 * passphrase is refused (TV_EINPUT).  TV_EUNLOCK when there is no source,
 * saying which to use; the codes of tv_passphrase_from_env and
 * tv_tty_secret otherwise.  *out is the caller's on TV_OK.
 */
enum tv_status cli_new_passphrase(int use_env, int use_stdin,
                                  struct tv_secret **out, struct tv_error *err);

/*
 * The key of a --key-file PATH for init and keys add: a new random key
 * file when PATH does not exist (*created set to 1), else the key of the
 * existing private file.  *key is the caller's on TV_OK.
 */
enum tv_status cli_key_file(const char *path, struct tv_secret **key,
                            int *created, struct tv_error *err);

/*
 * Checks a SERVICE operand: a valid name, and, when writing, not a
 * reserved one (names starting with '_' except "_cloudflare").  Prints
 * the problem and returns 1, or returns 0.
 */
int cli_check_service(const char *service, int writing);

/*
 * Checks that a has exactly the operands SERVICE NAME plus nextra more
 * (no `--`), and that SERVICE and NAME are valid (SERVICE writable when
 * writing).  Returns -1 when they are, else the exit code after printing
 * the problem: 2 (with usage) for a wrong count, 1 for a bad name.
 */
int cli_check_target(const char *usage, const struct cli_args *a, int nextra,
                     int writing);

/* Checks a NAME operand; prints the problem and returns 1, or 0. */
int cli_check_name(const char *name);

/* Checks a --tier value; prints the problem and returns 1, or 0. */
int cli_check_tier(const char *tier);

/* Formats unix seconds t as "2026-12-03T09:10:08Z" into out. */
void cli_time(int64_t t, char out[32]);

/*
 * Prints doc as one JSON document and a newline on stdout and frees it.
 * Returns 0, or 1 (after an error message) when it cannot be printed.
 */
int cli_print_json(cJSON *doc);

/*
 * Writes n bytes at p to fd (stdout for values), retrying short writes,
 * with no copy in a stdio buffer.  Returns TV_OK or TV_EIO.
 */
enum tv_status cli_write_all(int fd, const void *p, size_t n,
                             struct tv_error *err);

/*
 * Reads the file at path ("-": standard input) into *out, in guarded
 * memory (caller frees); at most max bytes.  TV_ENOTFOUND, TV_EIO or
 * TV_EINPUT (too large), the message naming the file.
 */
enum tv_status cli_read_file(const char *path, size_t max,
                             struct tv_secret **out, struct tv_error *err);

/*
 * Makes cJSON allocate through functions that wipe every block before
 * freeing it, so values parsed from or printed to JSON do not linger in
 * freed memory.  Called once by main.
 */
void cli_json_init(void);

/*
 * Parses a command's arguments with cli_args_parse.  Returns -1 when the
 * command should go on with *a (free it with cli_args_free), else the
 * exit code to return at once: 0 after printing usage on stdout for
 * --help, 2 after a misuse message (*a already freed in both cases).
 */
int cli_parse(const char *usage, const struct cli_opt *opts, size_t nopts,
              int argc, char **argv, struct cli_args *a);

/* A secret's record, compactly, as the listing commands keep it. */
struct cli_record {
    char *service;
    char *name;
    char *actor;
    char *note;
    char tier[TV_TIER_MAX + 1];
    uint32_t version;
    int64_t created;
    int64_t updated;
    char fp[TV_FP_HEXLEN + 1];
};

struct cli_records {
    struct cli_record *r;
    size_t n;
    size_t cap;
};

/*
 * Loads the current (not deleted) records of the vault, restricted to
 * service and tier when not NULL, ordered by service then name, into
 * *out (release with cli_records_free).  Returns the vault's status.
 */
enum tv_status cli_records_load(struct tv_vault *v, const char *service,
                                const char *tier, struct cli_records *out,
                                struct tv_error *err);

/* Frees what cli_records_load filled; out may be zeroed. */
void cli_records_free(struct cli_records *out);

/*
 * A command: runs with argv[0..argc) the words after its name (global
 * options already taken), prints its results and messages, and returns
 * the process exit code.  Every command answers -h/--help.
 */
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
