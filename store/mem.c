/*
 * mem.c - guarded memory, constant-time comparison and process hardening
 * (see tv_mem.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "tv_mem.h"

/* Opens /dev/null on fd when fd is closed, so that later opens never land
 * on 0, 1 or 2 and a stray write cannot reach a vault file. */
static enum tv_status
ensure_fd(int fd, struct tv_error *err)
{
    int nfd;

    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
        return TV_OK;
    nfd = open("/dev/null", O_RDWR);
    if (nfd == -1)
        return tv_error_set(err, TV_EIO, "cannot open '/dev/null': %s",
                            strerror(errno));
    if (nfd != fd) {
        /* a lower fd was also closed; it gets fixed on its own turn */
        if (dup2(nfd, fd) == -1) {
            close(nfd);
            return tv_error_set(err, TV_EIO, "cannot reopen fd %d: %s", fd,
                                strerror(errno));
        }
        close(nfd);
    }
    return TV_OK;
}

enum tv_status
tv_harden(struct tv_error *err)
{
    struct rlimit rl = { 0, 0 };
    enum tv_status st;
    int fd;

    for (fd = 0; fd <= 2; fd++) {
        st = ensure_fd(fd, err);
        if (st != TV_OK)
            return st;
    }
    if (sodium_init() < 0)
        return tv_error_set(err, TV_EIO, "cannot initialise libsodium");
    if (setrlimit(RLIMIT_CORE, &rl) == -1)
        return tv_error_set(err, TV_EIO, "cannot disable core dumps: %s",
                            strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
        return tv_error_set(err, TV_EIO, "cannot make process non-dumpable: %s",
                            strerror(errno));
    return TV_OK;
}

enum tv_status
tv_secret_new(struct tv_secret **out, size_t len, struct tv_error *err)
{
    struct tv_secret *s;

    *out = NULL;
    if (len > SIZE_MAX / 2)
        return tv_error_set(err, TV_ENOMEM, "secret buffer too large");
    if (sodium_init() < 0)
        return tv_error_set(err, TV_EIO, "cannot initialise libsodium");
    s = malloc(sizeof(*s));
    if (s == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    s->data = sodium_malloc(len + 1);
    if (s->data == NULL) {
        free(s);
        return tv_error_set(err, TV_ENOMEM,
                            "cannot allocate %zu bytes of guarded memory",
                            len + 1);
    }
    sodium_memzero(s->data, len + 1);
    s->len = len;
    *out = s;
    return TV_OK;
}

enum tv_status
tv_secret_dup(struct tv_secret **out, const void *src, size_t len,
              struct tv_error *err)
{
    enum tv_status st;

    st = tv_secret_new(out, len, err);
    if (st != TV_OK)
        return st;
    if (len > 0)
        memcpy((*out)->data, src, len);
    return TV_OK;
}

void
tv_secret_free(struct tv_secret *s)
{
    if (s == NULL)
        return;
    /* sodium_free wipes the whole allocation before unmapping it */
    sodium_free(s->data);
    s->data = NULL;
    s->len = 0;
    free(s);
}

void
tv_wipe(void *p, size_t len)
{
    if (p != NULL && len > 0)
        sodium_memzero(p, len);
}

int
tv_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Lengths of MACs and tags are public; only the bytes must be compared
     * without an early exit, so that timing reveals no matching prefix. */
    if (alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return sodium_memcmp(a, b, alen) == 0;
}
