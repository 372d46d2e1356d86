/*
 * secbuf.h - a growable buffer in guarded memory, for assembling or
 * reading bytes that may be secret (a file to import, a value from stdin,
 * an export) without ever holding them in ordinary memory.
 */
#ifndef TV_CLI_SECBUF_H
#define TV_CLI_SECBUF_H

#include <stddef.h>

#include "tv_error.h"
#include "tv_mem.h"

struct cli_secbuf {
    struct tv_secret *s; /* capacity s->len; NULL until the first append */
    size_t len;          /* bytes used; s->data[len] is kept NUL */
};

/*
 * Appends n bytes from p, growing the buffer (the old one is wiped and
 * freed).  Returns TV_OK or TV_ENOMEM; on failure the buffer is unchanged.
 */
enum tv_status cli_secbuf_append(struct cli_secbuf *b, const void *p, size_t n,
                                 struct tv_error *err);

/*
 * Reads fd to its end into b, refusing more than max bytes (TV_EINPUT,
 * "more than MAX bytes").  what names the source in messages.  TV_EIO
 * on a read error.  b holds what was read either way.
 */
enum tv_status cli_secbuf_read_fd(struct cli_secbuf *b, int fd, size_t max,
                                  const char *what, struct tv_error *err);

/*
 * Moves the contents into a tv_secret of exactly the used length (*out,
 * caller frees) and empties b.  TV_ENOMEM on failure.
 */
enum tv_status cli_secbuf_take(struct cli_secbuf *b, struct tv_secret **out,
                               struct tv_error *err);

/* Wipes and frees the buffer; b may be empty. */
void cli_secbuf_free(struct cli_secbuf *b);

#endif
