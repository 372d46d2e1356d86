/*
 * tv_error.h - the error convention shared by every tiervault library.
 *
 * A library function returns an enum tv_status (TV_OK on success) and, on
 * failure, fills a caller-provided struct tv_error with the same code and a
 * one-line message that names the problem and where it is.  Messages are
 * lowercase, have no trailing period, quote the subject, and never contain
 * a secret value.  Only the programs' main() decide what to print and which
 * exit code to use (see tv_status_exit_code).
 */
#ifndef TV_ERROR_H
#define TV_ERROR_H

#include <stddef.h>

enum tv_status {
    TV_OK = 0,
    TV_EIO,        /* I/O or system call failure */
    TV_ENOTFOUND,  /* no such vault, secret, version, slot or worker */
    TV_EINPUT,     /* malformed input or invalid argument */
    TV_EUSAGE,     /* command line misuse */
    TV_EEXIST,     /* the thing to create already exists */
    TV_EPERM,      /* unsafe permissions, symlink, not owned by us */
    TV_EUNLOCK,    /* no keyslot opens with the given credential */
    TV_EINTEGRITY, /* a MAC or AEAD check failed: data was altered */
    TV_EFORMAT,    /* stored data does not parse, or unknown format */
    TV_ENOMEM,     /* out of memory (guarded or ordinary) */
    TV_EFULL,      /* disk full or the vault map is full */
    TV_ERDONLY,    /* the vault or its file system is read-only */
    TV_ELAST,      /* refused: would remove the last keyslot */
    TV_EAPI,       /* a remote API answered with an error */
    TV_ENET,       /* network failure after the allowed retries */
    TV_EGATE,      /* held at a gate: preflight, missing secrets, verify */
};

#define TV_ERROR_MSG_MAX 512

struct tv_error {
    enum tv_status code;
    char msg[TV_ERROR_MSG_MAX];
};

/*
 * Records code and a printf-style message in err (which may be NULL, then
 * nothing is recorded).  Returns code, so that callers can write
 * `return tv_error_set(err, TV_EIO, "cannot open '%s': %s", p, why);`.
 * An earlier message is replaced.
 */
enum tv_status tv_error_set(struct tv_error *err, enum tv_status code,
                            const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prefixes the message already in err with "PREFIX: " (printf-style),
 * keeping its code, to add where a lower layer could not know it (a file
 * name, a secret's name).  Returns err->code; TV_OK when err is NULL.
 */
enum tv_status tv_error_prefix(struct tv_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to TV_OK with an empty message.  err may be NULL. */
void tv_error_clear(struct tv_error *err);

/* A short fixed name for a status ("integrity failure"); never NULL. */
const char *tv_status_name(enum tv_status code);

/*
 * The process exit code the command line contract gives a status: 0 for
 * TV_OK, 2 for TV_EUSAGE, 3 for TV_EUNLOCK and TV_EINTEGRITY, 4 for
 * TV_EGATE, 1 for everything else.
 */
int tv_status_exit_code(enum tv_status code);

#endif
