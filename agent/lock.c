/*
 * lock.c - the rollout lock (see lock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock.h"

#define LOCK_NAME "agent.lock"

/* Refuses a lock file someone else could replace or hold open. */
static enum tv_status
check_lock_file(int fd, const char *path, struct tv_error *err)
{
    struct stat sb;

    if (fstat(fd, &sb) != 0)
        return tv_error_set(err, TV_EIO, "cannot read '%s': %s", path,
                            strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return tv_error_set(err, TV_EPERM, "'%s' is not a regular file", path);
    if (sb.st_uid != geteuid())
        return tv_error_set(err, TV_EPERM, "'%s' belongs to another user",
                            path);
    if ((sb.st_mode & 077) != 0)
        return tv_error_set(
            err, TV_EPERM, "'%s' is accessible to others (chmod 600 it)", path);
    return TV_OK;
}

enum tv_status
tv_agent_lock(const char *dir, int *fd, struct tv_error *err)
{
    char path[4200];
    enum tv_status st;
    int n;

    *fd = -1;
    n = snprintf(path, sizeof(path), "%s/%s", dir, LOCK_NAME);
    if (n < 0 || (size_t)n >= sizeof(path))
        return tv_error_set(err, TV_ENOMEM, "vault path too long");
    /* O_NONBLOCK: a FIFO planted under the name must not hang the open. */
    *fd = open(
        path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
        0600);
    if (*fd < 0)
        return tv_error_set(err, TV_EIO, "cannot open the lock file '%s': %s",
                            path, strerror(errno));
    st = check_lock_file(*fd, path, err);
    if (st == TV_OK && flock(*fd, LOCK_EX | LOCK_NB) != 0)
        st = errno == EWOULDBLOCK
                 ? tv_error_set(err, TV_EIO,
                                "another rollout is running on vault '%s'", dir)
                 : tv_error_set(err, TV_EIO, "cannot lock '%s': %s", path,
                                strerror(errno));
    if (st != TV_OK) {
        close(*fd);
        *fd = -1;
    }
    return st;
}

void
tv_agent_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
