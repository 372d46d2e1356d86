/*
 * unlock.h - how the agent unlocks the vault: the same sources, in the
 * same order, as the tiervault CLI (store/tv_unlock.h, which also
 * resolves the vault location: tv_vault_dir_resolve).
 */
#ifndef TV_AGENT_UNLOCK_H
#define TV_AGENT_UNLOCK_H

#include "tv_error.h"
#include "tv_unlock.h"
#include "tv_vault.h"

/*
 * Opens the vault in dir and unlocks it from the first source found, as
 * tv_vault_open_unlocked does: TIERVAULT_KEY_FILE, TIERVAULT_PASSPHRASE_FILE,
 * TIERVAULT_PASSPHRASE_COMMAND, TIERVAULT_PASSPHRASE, or a prompt on the
 * terminal when standard input or standard error is one.  Sets the actor
 * to "agent" and logs a warning when the passphrase file is open to
 * others.  On success the caller owns *out (tv_vault_close).  TV_EUNLOCK
 * when no source exists or none opens it, TV_EPERM for a key file open to
 * others, TV_EINTEGRITY for an altered vault, the vault's codes otherwise.
 * Every copy of the credential is wiped before returning.
 */
enum tv_status tv_agent_open_vault(const char *dir, struct tv_vault **out,
                                   struct tv_error *err);

#endif
