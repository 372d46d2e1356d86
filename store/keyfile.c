/*
 * keyfile.c - creating and loading key files (see tv_vault.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tv_vault.h"

static enum tv_status
write_all(int fd, const unsigned char *p, size_t n, const char *path,
          struct tv_error *err)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return tv_error_set(err, errno == ENOSPC ? TV_EFULL : TV_EIO,
                                "cannot write key file '%s': %s", path,
                                strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return TV_OK;
}

enum tv_status
tv_keyfile_create(const char *path, struct tv_secret **key,
                  struct tv_error *err)
{
    struct tv_secret *k = NULL;
    enum tv_status st;
    int fd;

    *key = NULL;
    if (path == NULL || path[0] == '\0')
        return tv_error_set(err, TV_EINPUT, "empty key file path");
    st = tv_secret_new(&k, TV_KEYFILE_LEN, err);
    if (st != TV_OK)
        return st;
    randombytes_buf(k->data, TV_KEYFILE_LEN);

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1) {
        st = tv_error_set(err, errno == EEXIST ? TV_EEXIST : TV_EIO,
                          "cannot create key file '%s': %s", path,
                          strerror(errno));
        goto fail;
    }
    st = write_all(fd, k->data, TV_KEYFILE_LEN, path, err);
    if (st == TV_OK && fsync(fd) == -1)
        st = tv_error_set(err, TV_EIO, "cannot sync key file '%s': %s", path,
                          strerror(errno));
    if (close(fd) == -1 && st == TV_OK)
        st = tv_error_set(err, TV_EIO, "cannot close key file '%s': %s", path,
                          strerror(errno));
    if (st != TV_OK) {
        unlink(path);
        goto fail;
    }
    *key = k;
    return TV_OK;

fail:
    tv_secret_free(k);
    return st;
}

static enum tv_status
check_keyfile(int fd, const char *path, struct tv_error *err)
{
    struct stat sb;

    if (fstat(fd, &sb) == -1)
        return tv_error_set(err, TV_EIO, "cannot stat key file '%s': %s", path,
                            strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return tv_error_set(err, TV_EPERM,
                            "key file '%s' is not a regular file", path);
    if (sb.st_mode & 077)
        return tv_error_set(err, TV_EPERM,
                            "key file '%s' is readable or writable by group "
                            "or others; run: chmod 600 '%s'",
                            path, path);
    if (sb.st_uid != geteuid())
        return tv_error_set(err, TV_EPERM,
                            "key file '%s' is owned by uid %u, not by you",
                            path, (unsigned)sb.st_uid);
    if (sb.st_size != TV_KEYFILE_LEN)
        return tv_error_set(err, TV_EFORMAT,
                            "key file '%s' is %lld bytes, expected %d", path,
                            (long long)sb.st_size, TV_KEYFILE_LEN);
    return TV_OK;
}

enum tv_status
tv_keyfile_load(const char *path, struct tv_secret **key, struct tv_error *err)
{
    struct tv_secret *k = NULL;
    enum tv_status st;
    size_t got = 0;
    ssize_t r;
    int fd;

    *key = NULL;
    if (path == NULL || path[0] == '\0')
        return tv_error_set(err, TV_EINPUT, "empty key file path");
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        if (errno == ENOENT)
            return tv_error_set(err, TV_ENOTFOUND, "no key file '%s'", path);
        if (errno == ELOOP)
            return tv_error_set(err, TV_EPERM,
                                "key file '%s' is a symbolic link", path);
        return tv_error_set(err, TV_EIO, "cannot open key file '%s': %s", path,
                            strerror(errno));
    }
    st = check_keyfile(fd, path, err);
    if (st != TV_OK)
        goto out;
    /* one byte more than needed, to notice a file that grew meanwhile */
    st = tv_secret_new(&k, TV_KEYFILE_LEN + 1, err);
    if (st != TV_OK)
        goto out;
    while (got < TV_KEYFILE_LEN + 1) {
        r = read(fd, k->data + got, TV_KEYFILE_LEN + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = tv_error_set(err, TV_EIO, "cannot read key file '%s': %s",
                              path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got != TV_KEYFILE_LEN) {
        st = tv_error_set(err, TV_EFORMAT, "key file '%s' is not %d bytes long",
                          path, TV_KEYFILE_LEN);
        goto out;
    }
    k->data[TV_KEYFILE_LEN] = '\0';
    k->len = TV_KEYFILE_LEN;
    *key = k;
    k = NULL;

out:
    tv_secret_free(k);
    close(fd);
    return st;
}
