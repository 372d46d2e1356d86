/*
 * unlock.h - where the vault is and how the agent unlocks it: the same
 * sources, in the same order, as the tiervault CLI.
 */
#ifndef TV_AGENT_UNLOCK_H
#define TV_AGENT_UNLOCK_H

#include <stddef.h>

#include "tv_error.h"
#include "tv_vault.h"

/*
 * Resolves the vault directory into buf: opt (--vault) when not NULL,
 * else $TIERVAULT_VAULT, else $XDG_DATA_HOME/tiervault, else
 * $HOME/.local/share/tiervault.  TV_EUSAGE when no source gives a path or
 * the path does not fit in size bytes.
 */
enum tv_status tv_agent_vault_dir(const char *opt, char *buf, size_t size,
                                  struct tv_error *err);

/*
 * Opens the vault in dir and unlocks it from the first source found:
 * TIERVAULT_KEY_FILE (a key file), TIERVAULT_PASSPHRASE_FILE (a file's
 * contents) or TIERVAULT_PASSPHRASE_COMMAND (what a shell command prints),
 * each without one trailing newline, TIERVAULT_PASSPHRASE, or a line
 * typed at a prompt on the controlling terminal.  Sets the actor to "agent". On
 * success the caller owns *out (tv_vault_close).  TV_EUNLOCK when no source
 * exists or none opens it, TV_EINTEGRITY for an altered vault, the vault's
 * codes otherwise.  Every copy of the credential is wiped before returning.
 */
enum tv_status tv_agent_open_vault(const char *dir, struct tv_vault **out,
                                   struct tv_error *err);

#endif
