/*
 * helpers.c - fixtures for the store unit tests (see helpers.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "helpers.h"

static void
check_ok(enum tv_status st, const struct tv_error *err, const char *what)
{
    if (st != TV_OK)
        fail_msg("%s: %s (%s)", what, err->msg, tv_status_name(st));
}

void
fixture_new(struct fixture *f)
{
    struct tv_error err = { 0 };
    const char *base = getenv("TMPDIR");

    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "%s/tvstore-XXXXXX",
             base != NULL ? base : "/tmp");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->vault, sizeof(f->vault), "%s/vault", f->root);
    snprintf(f->keyfile, sizeof(f->keyfile), "%s/key", f->root);
    check_ok(tv_keyfile_create(f->keyfile, &f->key, &err), &err,
             "create key file");
    f->cred.kind = TV_CRED_KEYFILE;
    f->cred.secret = f->key;
    f->cred.kdf = TV_KDF_INTERACTIVE;
}

void
fixture_reopen(struct fixture *f)
{
    struct tv_error err = { 0 };

    check_ok(tv_vault_open(&f->v, f->vault, &err), &err, "open");
    check_ok(tv_vault_unlock(f->v, &f->cred, &err), &err, "unlock");
    tv_vault_set_actor(f->v, "tester@host");
}

void
fixture_close_vault(struct fixture *f)
{
    tv_vault_close(f->v);
    f->v = NULL;
}

void
fixture_vault(struct fixture *f)
{
    struct tv_error err = { 0 };

    fixture_new(f);
    check_ok(tv_vault_init(f->vault, &f->cred, 1, "tester@host", &err), &err,
             "init");
    fixture_reopen(f);
}

void
fixture_free(struct fixture *f)
{
    char cmd[600];

    fixture_close_vault(f);
    tv_secret_free(f->key);
    f->key = NULL;
    if (f->root[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
        assert_int_equal(system(cmd), 0);
    }
}

uint32_t
put_str(struct tv_vault *v, const char *service, const char *name,
        const char *tier, const char *value)
{
    struct tv_error err = { 0 };
    struct tv_secret *s = NULL;
    struct tv_put p;
    uint32_t version = 0;

    check_ok(tv_secret_dup(&s, value, strlen(value), &err), &err, "dup");
    p.service = service;
    p.name = name;
    p.tier = tier;
    p.value = s;
    p.note = NULL;
    p.op = TV_OP_PUT;
    check_ok(tv_vault_put(v, &p, 1, &version, &err), &err, "put");
    tv_secret_free(s);
    return version;
}

static void
raw_open(const char *dir, const char *db, MDB_env **env, MDB_txn **txn,
         MDB_dbi *dbi, unsigned flags)
{
    assert_int_equal(mdb_env_create(env), 0);
    assert_int_equal(mdb_env_set_maxdbs(*env, 8), 0);
    /* LMDB rounds a small map up to the data's size */
    assert_int_equal(mdb_env_set_mapsize(*env, (size_t)1 << 20), 0);
    assert_int_equal(mdb_env_open(*env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(*env, NULL, flags, txn), 0);
    assert_int_equal(mdb_dbi_open(*txn, db, 0, dbi), 0);
}

unsigned char *
raw_get(const char *dir, const char *db, const void *key, size_t klen,
        size_t *len)
{
    unsigned char *copy = NULL;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { klen, (void *)(uintptr_t)key }, d;
    int rc;

    raw_open(dir, db, &env, &txn, &dbi, MDB_RDONLY);
    rc = mdb_get(txn, dbi, &k, &d);
    if (rc == 0) {
        copy = malloc(d.mv_size);
        assert_non_null(copy);
        memcpy(copy, d.mv_data, d.mv_size);
        *len = d.mv_size;
    } else {
        assert_int_equal(rc, MDB_NOTFOUND);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return copy;
}

void
raw_put(const char *dir, const char *db, const void *key, size_t klen,
        const void *val, size_t len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { klen, (void *)(uintptr_t)key };
    MDB_val d = { len, (void *)(uintptr_t)val };

    raw_open(dir, db, &env, &txn, &dbi, 0);
    assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

void
raw_del(const char *dir, const char *db, const void *key, size_t klen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { klen, (void *)(uintptr_t)key };

    raw_open(dir, db, &env, &txn, &dbi, 0);
    assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

size_t
version_key(unsigned char *out, const char *service, const char *name,
            uint32_t version)
{
    size_t s = strlen(service), n = strlen(name);

    memcpy(out, service, s + 1);
    memcpy(out + s + 1, name, n + 1);
    out[s + n + 2] = (unsigned char)(version >> 24);
    out[s + n + 3] = (unsigned char)(version >> 16);
    out[s + n + 4] = (unsigned char)(version >> 8);
    out[s + n + 5] = (unsigned char)version;
    return s + n + 6;
}

int
file_contains(const char *path, const void *needle, size_t n)
{
    unsigned char *buf;
    FILE *fp = fopen(path, "rb");
    long size;
    int found = 0;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    size = ftell(fp);
    assert_true(size >= 0);
    rewind(fp);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    found = memmem(buf, (size_t)size, needle, n) != NULL;
    free(buf);
    return found;
}
