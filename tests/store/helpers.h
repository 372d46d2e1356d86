/*
 * helpers.h - fixtures shared by the store unit tests: scratch
 * directories, key-file vaults, and raw LMDB access for tampering.
 */
#ifndef TV_TEST_HELPERS_H
#define TV_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "tv_vault.h"

/* A scratch directory with a key file and a vault path inside. */
struct fixture {
    char root[256];
    char vault[300];
    char keyfile[300];
    struct tv_secret *key;
    struct tv_cred cred;
    struct tv_vault *v; /* open and unlocked after fixture_vault */
};

/* Creates the scratch directory and the key file; aborts on failure. */
void fixture_new(struct fixture *f);

/* fixture_new, then tv_vault_init with the key file, open and unlock. */
void fixture_vault(struct fixture *f);

/* Opens and unlocks f->vault again (after fixture_close_vault). */
void fixture_reopen(struct fixture *f);
void fixture_close_vault(struct fixture *f);

/* Closes everything and removes the scratch directory. */
void fixture_free(struct fixture *f);

/* Puts one secret (value as a C string); returns the new version. */
uint32_t put_str(struct tv_vault *v, const char *service, const char *name,
                 const char *tier, const char *value);

/*
 * Raw access to the vault's LMDB file, with the vault closed: reads the
 * record under key in database db into a malloc'd copy (*len bytes), or
 * NULL when absent; writes or deletes one.  Abort on LMDB errors.
 */
unsigned char *raw_get(const char *dir, const char *db, const void *key,
                       size_t klen, size_t *len);
void raw_put(const char *dir, const char *db, const void *key, size_t klen,
             const void *val, size_t len);
void raw_del(const char *dir, const char *db, const void *key, size_t klen);

/* The key of a version record ("svc\0name\0" + be32) into out; its size. */
size_t version_key(unsigned char *out, const char *service, const char *name,
                   uint32_t version);

/* 1 when needle (n bytes) occurs in the file at path. */
int file_contains(const char *path, const void *needle, size_t n);

#endif
