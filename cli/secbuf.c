/*
 * secbuf.c - growable guarded buffers (see secbuf.h).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "secbuf.h"

enum tv_status
cli_secbuf_append(struct cli_secbuf *b, const void *p, size_t n,
                  struct tv_error *err)
{
    struct tv_secret *grown = NULL;
    size_t cap = b->s ? b->s->len : 0;
    enum tv_status st;

    if (n > ((size_t)-1) / 4 - b->len)
        return tv_error_set(err, TV_ENOMEM, "buffer too large");
    if (b->len + n > cap) {
        size_t want = cap ? cap : 256;

        while (want < b->len + n)
            want *= 2;
        st = tv_secret_new(&grown, want, err);
        if (st != TV_OK)
            return st;
        if (b->s != NULL)
            memcpy(grown->data, b->s->data, b->len);
        tv_secret_free(b->s);
        b->s = grown;
    }
    memcpy(b->s->data + b->len, p, n);
    b->len += n;
    b->s->data[b->len] = '\0';
    return TV_OK;
}

enum tv_status
cli_secbuf_read_fd(struct cli_secbuf *b, int fd, size_t max, const char *what,
                   struct tv_error *err)
{
    struct tv_secret *chunk = NULL;
    enum tv_status st;

    st = tv_secret_new(&chunk, 4096, err);
    if (st != TV_OK)
        return st;
    for (;;) {
        ssize_t n = read(fd, chunk->data, chunk->len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = tv_error_set(err, TV_EIO, "cannot read %s: %s", what,
                              strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (b->len + (size_t)n > max) {
            st = tv_error_set(err, TV_EINPUT, "%s: more than %zu bytes", what,
                              max);
            break;
        }
        st = cli_secbuf_append(b, chunk->data, (size_t)n, err);
        if (st != TV_OK)
            break;
    }
    tv_secret_free(chunk);
    return st;
}

enum tv_status
cli_secbuf_take(struct cli_secbuf *b, struct tv_secret **out,
                struct tv_error *err)
{
    enum tv_status st;

    st = tv_secret_dup(out, b->s ? b->s->data : (const unsigned char *)"",
                       b->len, err);
    if (st != TV_OK)
        return st;
    cli_secbuf_free(b);
    return TV_OK;
}

void
cli_secbuf_free(struct cli_secbuf *b)
{
    tv_secret_free(b->s);
    b->s = NULL;
    b->len = 0;
}
