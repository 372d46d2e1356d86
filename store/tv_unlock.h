/*
 * tv_unlock.h - where the vault is and where the credential that unlocks
 * it comes from: the contract both tiervault programs follow.
 *
 * Location: --vault DIR, else $TIERVAULT_VAULT, else
 * $XDG_DATA_HOME/tiervault, else ~/.local/share/tiervault.
 * Unlock, first found: TIERVAULT_KEY_FILE, TIERVAULT_PASSPHRASE_FILE,
 * TIERVAULT_PASSPHRASE_COMMAND, TIERVAULT_PASSPHRASE, a terminal prompt.
 * An environment variable that is set but empty counts as unset.
 */
#ifndef TV_UNLOCK_H
#define TV_UNLOCK_H

#include <stddef.h>

#include "tv_error.h"
#include "tv_mem.h"
#include "tv_vault.h"

#define TV_PASS_MAX 4096 /* bytes of a passphrase, from any source */

enum tv_unlock_source {
    TV_SRC_NONE,
    TV_SRC_KEY_FILE,
    TV_SRC_PASSPHRASE_FILE,
    TV_SRC_PASSPHRASE_COMMAND,
    TV_SRC_PASSPHRASE,
    TV_SRC_TERMINAL,
};

/*
 * What a caller may want to tell the user about the source used; filled
 * as soon as the source is chosen, so also when reading it fails.
 */
struct tv_unlock_info {
    enum tv_unlock_source source;
    enum tv_cred_kind kind;
    const char *path; /* the key or passphrase file (the environment's
                         string, valid while it is unchanged), else NULL */
    int exposed;      /* the passphrase file is open to group or others */
};

/*
 * Resolves the vault directory into buf (size bytes): opt (--vault) when
 * not NULL, else $TIERVAULT_VAULT, else $XDG_DATA_HOME/tiervault when
 * XDG_DATA_HOME is an absolute path, else $HOME/.local/share/tiervault.
 * TV_EUSAGE when no source gives a path or it does not fit (the message
 * says which); buf is then unspecified.
 */
enum tv_status tv_vault_dir_resolve(const char *opt, char *buf, size_t size,
                                    struct tv_error *err);

/*
 * 1 when the user is at a terminal to prompt on: standard input or
 * standard error is a terminal and /dev/tty, the controlling terminal,
 * can be opened.  0 otherwise (a daemon, a pipeline, a test).
 */
int tv_tty_present(void);

/*
 * Shows prompt on /dev/tty and reads one line there with echo off (a
 * SIGINT, SIGTERM, SIGHUP or SIGQUIT meanwhile restores echo before the
 * signal takes effect); with confirm prompts "again, to confirm: " and
 * compares in constant time.  The one function of the library that
 * writes outside the vault: the prompt and a newline, to the terminal
 * only.  On TV_OK *out is the line without its newline (caller frees).
 * TV_EIO when there is no terminal or it cannot be read, TV_EINPUT for a
 * line longer than TV_PASS_MAX bytes or a mismatch ("the two entries do
 * not match"), TV_ENOMEM.
 */
enum tv_status tv_tty_secret(const char *prompt, int confirm,
                             struct tv_secret **out, struct tv_error *err);

/*
 * The passphrase from the first of TIERVAULT_PASSPHRASE_FILE (the file's
 * contents; opened without following a symlink), TIERVAULT_PASSPHRASE_COMMAND
 * (what `/bin/sh -c COMMAND` prints on its standard output; it must exit
 * with status 0) and TIERVAULT_PASSPHRASE that is set; one trailing newline
 * of a file or of the output is dropped.  info (not NULL) says which; its
 * source is TV_SRC_NONE, *out NULL and the result TV_OK when none is set.
 * An empty passphrase is returned as is.  On failure *out is NULL and:
 * TV_ENOTFOUND (no such file), TV_EPERM (a symlink), TV_EINPUT (more than
 * TV_PASS_MAX bytes), TV_EUNLOCK (the command failed, naming its exit
 * status or signal), TV_EIO, TV_ENOMEM; messages name the variable.
 */
enum tv_status tv_passphrase_from_env(struct tv_unlock_info *info,
                                      struct tv_secret **out,
                                      struct tv_error *err);

/*
 * The credential of the first unlock source found: TIERVAULT_KEY_FILE
 * (its key, see tv_keyfile_load; info->kind TV_CRED_KEYFILE), else a
 * passphrase from tv_passphrase_from_env, else, when prompt is not NULL
 * and tv_tty_present(), a line typed at prompt (tv_tty_secret).  info
 * (not NULL) says which source.  On TV_OK *out is the caller's.  Any
 * failure to get a credential is TV_EUNLOCK, the message saying why (no
 * source: which variables to set; an empty passphrase is refused),
 * except TV_EPERM for a key file open to others or a passphrase file
 * that is a symlink.
 */
enum tv_status tv_unlock_secret(const char *prompt, struct tv_unlock_info *info,
                                struct tv_secret **out, struct tv_error *err);

/*
 * Opens the vault in dir (tv_vault_open), gets a credential with
 * tv_unlock_secret, prompting "passphrase for 'DIR': " on a terminal, and
 * unlocks it (tv_vault_unlock); sets the actor to actor.  info may be
 * NULL.  On TV_OK *out is the caller's (tv_vault_close); on failure *out
 * is NULL and the result is tv_vault_open's, tv_unlock_secret's (the
 * message prefixed "cannot unlock 'DIR'") or tv_vault_unlock's code:
 * TV_EUNLOCK, TV_EINTEGRITY, TV_EPERM, TV_ENOTFOUND, TV_EFORMAT, TV_EIO.
 * Every copy of the credential is wiped before returning.
 */
enum tv_status tv_vault_open_unlocked(const char *dir, const char *actor,
                                      struct tv_unlock_info *info,
                                      struct tv_vault **out,
                                      struct tv_error *err);

#endif
