/*
 * tv_mem.h - guarded memory for keys and plaintext, and process hardening.
 *
 * Every buffer that holds a key, a passphrase or a secret value is a
 * struct tv_secret: libsodium guarded memory (guard pages, mlock, no core
 * dump) that is wiped when freed.  Nothing else in tiervault may copy a
 * secret into ordinary memory, except transiently into a buffer handed to
 * a library that needs it (libcurl request bodies, execve's environment),
 * which the caller wipes right after use.
 */
#ifndef TV_MEM_H
#define TV_MEM_H

#include <stddef.h>

#include "tv_error.h"

struct tv_secret {
    unsigned char *data; /* len bytes plus a NUL, guarded */
    size_t len;
};

/*
 * Initialises libsodium and hardens the process: fds 0, 1 and 2 are made
 * to exist (opened on /dev/null when closed), core dumps are disabled
 * (RLIMIT_CORE 0) and the process is made non-dumpable, which also refuses
 * ptrace attach by other unprivileged processes.  Call first in main().
 * Returns TV_OK, or TV_EIO when libsodium cannot start or a step fails.
 */
enum tv_status tv_harden(struct tv_error *err);

/*
 * Allocates a guarded buffer of len bytes (plus one NUL byte past the end,
 * so a value can be used as a C string), zero-filled.  The caller owns
 * *out and releases it with tv_secret_free.  Returns TV_OK or TV_ENOMEM.
 */
enum tv_status tv_secret_new(struct tv_secret **out, size_t len,
                             struct tv_error *err);

/* As tv_secret_new, then copies len bytes from src. */
enum tv_status tv_secret_dup(struct tv_secret **out, const void *src,
                             size_t len, struct tv_error *err);

/* Wipes and frees s; NULL is accepted. */
void tv_secret_free(struct tv_secret *s);

/* Wipes len bytes at p (sodium_memzero); for transient ordinary copies. */
void tv_wipe(void *p, size_t len);

/*
 * Compares two byte strings in constant time for their length; returns 1
 * when equal (same length and bytes), 0 otherwise.  Used for MACs and
 * signatures, where an early exit would leak how many bytes matched.
 */
int tv_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
