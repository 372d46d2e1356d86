/*
 * lock.h - the rollout lock: one rollout at a time per vault.
 */
#ifndef TV_AGENT_LOCK_H
#define TV_AGENT_LOCK_H

#include "tv_error.h"

/*
 * Takes an exclusive, non-blocking flock(2) on DIR/agent.lock, creating
 * the file (mode 0600, O_NOFOLLOW, close-on-exec) when it is missing.
 * The lock lasts while *fd is open: release it with tv_agent_unlock (or
 * by exiting).  An existing lock file must be a regular file of ours with
 * no group or other permission bit.  On success *fd is the caller's; on
 * failure it is -1.  TV_EIO when another process holds the lock ("another
 * rollout is running on vault 'DIR'") or the file cannot be opened,
 * TV_EPERM for a lock file that is not private, TV_ENOMEM.
 */
enum tv_status tv_agent_lock(const char *dir, int *fd, struct tv_error *err);

/* Releases a lock taken by tv_agent_lock; fd may be -1. */
void tv_agent_unlock(int fd);

#endif
