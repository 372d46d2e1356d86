/*
 * unlock.c - opening the vault for the agent, with the store's unlock
 * sources (tv_unlock.h), and a warning in the agent's log.
 */
#include "log.h"
#include "tv_unlock.h"
#include "unlock.h"

enum tv_status
tv_agent_open_vault(const char *dir, struct tv_vault **out,
                    struct tv_error *err)
{
    struct tv_unlock_info info = { 0 };
    enum tv_status st;

    st = tv_vault_open_unlocked(dir, "agent", &info, out, err);
    if (info.exposed)
        tv_log(TV_LOG_WARN, NULL, NULL,
               "the passphrase file '%s' can be read by others "
               "(chmod 600 '%s')",
               info.path, info.path);
    return st;
}
