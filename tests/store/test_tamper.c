/*
 * test_tamper.c - refusals: altered and moved records, unsafe permissions,
 * symlinks, unknown formats, and a canary value that must never reach the
 * vault's files or an error message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "helpers.h"

static const char canary[] = "CANARY-9d2b71e0-never-stored-in-clear";

static void
expect_get(struct fixture *f, const char *service, const char *name,
           uint32_t version, enum tv_status want, const char *msg)
{
    struct tv_error err = { 0 };
    struct tv_secret *s = NULL;

    assert_int_equal(tv_vault_get(f->v, service, name, version, &s, NULL, &err),
                     want);
    if (want == TV_OK) {
        assert_non_null(s);
        tv_secret_free(s);
        return;
    }
    assert_null(s);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
    assert_null(strstr(err.msg, canary));
}

/* Flips one byte of the version record at offset from its end. */
static void
flip_version(struct fixture *f, const char *service, const char *name,
             uint32_t version, size_t from_end)
{
    unsigned char key[300], *rec;
    size_t klen, len;

    klen = version_key(key, service, name, version);
    rec = raw_get(f->vault, "versions", key, klen, &len);
    assert_non_null(rec);
    assert_true(from_end < len);
    rec[len - 1 - from_end] ^= 0x20;
    raw_put(f->vault, "versions", key, klen, rec, len);
    free(rec);
}

static void
test_flipped_version_byte(void **state)
{
    struct fixture f;
    size_t off;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "TOKEN", "core", canary);
    put_str(f.v, "svc", "TOKEN", "core", "v2");
    put_str(f.v, "svc", "TOKEN", "core", "v3");
    fixture_close_vault(&f);

    /* the MAC (32 bytes from the end), the ciphertext of "v3" (18), the
     * length (4) and the nonce (24): each flip is an integrity failure;
     * every byte is covered by the record tests, a sample suffices here */
    for (off = 0; off < 32 + 18 + 4 + 24; off += 3) {
        if (off >= 50 && off < 54)
            continue;
        flip_version(&f, "svc", "TOKEN", 3, off);
        fixture_reopen(&f);
        expect_get(&f, "svc", "TOKEN", 0, TV_EINTEGRITY,
                   "'svc/TOKEN' version 3: stored record was altered");
        fixture_close_vault(&f);
        flip_version(&f, "svc", "TOKEN", 3, off);
    }
    /* anywhere else: altered, or no longer parsing, and named either way */
    for (off = 50; off < 120; off += 2) { /* the record is 120 bytes */
        struct tv_error err = { 0 };
        struct tv_secret *s = NULL;
        enum tv_status st;

        flip_version(&f, "svc", "TOKEN", 3, off);
        fixture_reopen(&f);
        st = tv_vault_get(f.v, "svc", "TOKEN", 0, &s, NULL, &err);
        assert_true(st == TV_EINTEGRITY || st == TV_EFORMAT);
        assert_non_null(strstr(err.msg, "'svc/TOKEN' version 3: stored"));
        fixture_close_vault(&f);
        flip_version(&f, "svc", "TOKEN", 3, off);
    }
    fixture_reopen(&f);
    expect_get(&f, "svc", "TOKEN", 1, TV_OK, "");
    fixture_free(&f);
}

static void
test_truncated_version(void **state)
{
    struct fixture f;
    unsigned char key[300], *rec;
    size_t klen, len;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "TOKEN", "core", canary);
    fixture_close_vault(&f);
    klen = version_key(key, "svc", "TOKEN", 1);
    rec = raw_get(f.vault, "versions", key, klen, &len);
    assert_non_null(rec);
    raw_put(f.vault, "versions", key, klen, rec, len - 40);
    fixture_reopen(&f);
    expect_get(&f, "svc", "TOKEN", 0, TV_EFORMAT,
               "'svc/TOKEN' version 1: stored record does not parse");
    fixture_close_vault(&f);
    raw_del(f.vault, "versions", key, klen);
    fixture_reopen(&f);
    expect_get(&f, "svc", "TOKEN", 0, TV_EINTEGRITY, "missing");
    free(rec);
    fixture_free(&f);
}

/* A record copied under another secret's key fails, whichever part. */
static void
test_moved_records(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_record_info info;
    unsigned char ka[300], kb[300], *rec;
    size_t kalen, kblen, len;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "A", "core", canary);
    put_str(f.v, "svc", "B", "core", "b-value");
    fixture_close_vault(&f);

    kalen = version_key(ka, "svc", "A", 1);
    kblen = version_key(kb, "svc", "B", 1);
    rec = raw_get(f.vault, "versions", ka, kalen, &len);
    raw_put(f.vault, "versions", kb, kblen, rec, len);
    free(rec);
    fixture_reopen(&f);
    expect_get(&f, "svc", "B", 0, TV_EINTEGRITY, "'svc/B' version 1");
    expect_get(&f, "svc", "A", 0, TV_OK, "");
    fixture_close_vault(&f);

    /* the secret record (tier, current version) moved the same way */
    rec = raw_get(f.vault, "secrets", "svc\0A", 5, &len);
    raw_put(f.vault, "secrets", "svc\0B", 5, rec, len);
    free(rec);
    fixture_reopen(&f);
    assert_int_equal(tv_vault_stat(f.v, "svc", "B", &info, &err),
                     TV_EINTEGRITY);
    assert_non_null(strstr(err.msg, "'svc/B': stored record was altered"));
    fixture_free(&f);
}

static int
count_cb(const struct tv_record_info *r, void *ctx)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static void
test_altered_secret_record(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    unsigned char *rec;
    size_t len;
    int n = 0;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "A", "core", "a");
    put_str(f.v, "svc", "B", "core", "b");
    fixture_close_vault(&f);
    rec = raw_get(f.vault, "secrets", "svc\0B", 5, &len);
    rec[2] ^= 0x01; /* "core" becomes "bore": still a tier */
    raw_put(f.vault, "secrets", "svc\0B", 5, rec, len);
    fixture_reopen(&f);
    assert_int_equal(tv_vault_list(f.v, NULL, NULL, 0, count_cb, &n, &err),
                     TV_EINTEGRITY);
    assert_non_null(strstr(err.msg, "'svc/B'"));
    assert_int_equal(tv_vault_list(f.v, NULL, NULL, 0, count_cb, &n, &err),
                     TV_EINTEGRITY);
    /* no write lands on top of an altered record */
    put_str(f.v, "svc", "A", "core", "a2");
    {
        struct tv_secret *s = NULL;
        struct tv_put p = { "svc", "B", "core", NULL, NULL, TV_OP_PUT };

        assert_int_equal(tv_secret_dup(&s, "x", 1, &err), TV_OK);
        p.value = s;
        assert_int_equal(tv_vault_put(f.v, &p, 1, NULL, &err), TV_EINTEGRITY);
        tv_secret_free(s);
    }
    free(rec);
    fixture_free(&f);
}

static void
expect_open(const char *dir, enum tv_status want, const char *msg)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;

    assert_int_equal(tv_vault_open(&v, dir, &err), want);
    assert_null(v);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
}

static void
test_permissions(void **state)
{
    struct fixture f;
    char file[340], lock[340], want[800];
    struct stat sb;

    (void)state;
    umask(0);
    fixture_vault(&f);
    umask(022);
    fixture_close_vault(&f);
    snprintf(file, sizeof(file), "%s/data.mdb", f.vault);
    snprintf(lock, sizeof(lock), "%s/lock.mdb", f.vault);
    assert_int_equal(lstat(f.vault, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    assert_int_equal(lstat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(lstat(lock, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);

    assert_int_equal(chmod(f.vault, 0755), 0);
    snprintf(want, sizeof(want),
             "vault '%s' is readable by group or others; "
             "run: chmod 700 '%s'",
             f.vault, f.vault);
    expect_open(f.vault, TV_EPERM, want);
    assert_int_equal(chmod(f.vault, 0720), 0);
    expect_open(f.vault, TV_EPERM, "writable by group or others");
    assert_int_equal(chmod(f.vault, 0700), 0);

    assert_int_equal(chmod(file, 0644), 0);
    snprintf(want, sizeof(want), "run: chmod 600 '%s'", file);
    expect_open(f.vault, TV_EPERM, want);
    assert_int_equal(chmod(file, 0600), 0);
    assert_int_equal(chmod(lock, 0660), 0);
    expect_open(f.vault, TV_EPERM, "lock.mdb");
    assert_int_equal(chmod(lock, 0600), 0);
    fixture_reopen(&f);
    fixture_free(&f);
}

static void
test_symlinks_and_missing(void **state)
{
    struct fixture f;
    char link[320], file[340], moved[340], want[700];

    (void)state;
    fixture_vault(&f);
    fixture_close_vault(&f);
    snprintf(link, sizeof(link), "%s/link", f.root);
    assert_int_equal(symlink(f.vault, link), 0);
    expect_open(link, TV_EPERM, "symbolic link");
    snprintf(want, sizeof(want), "%s/", link);
    expect_open(want, TV_EPERM, "symbolic link");
    snprintf(want, sizeof(want), "%s/./", link);
    expect_open(want, TV_EPERM, "symbolic link");
    snprintf(want, sizeof(want), "%s/.//.", link);
    expect_open(want, TV_EPERM, "symbolic link");

    snprintf(file, sizeof(file), "%s/data.mdb", f.vault);
    snprintf(moved, sizeof(moved), "%s/elsewhere.mdb", f.root);
    assert_int_equal(rename(file, moved), 0);
    assert_int_equal(symlink(moved, file), 0);
    expect_open(f.vault, TV_EPERM, "symbolic link");
    assert_int_equal(unlink(file), 0);
    snprintf(want, sizeof(want),
             "no vault at '%s' (create one with 'tiervault init')", f.vault);
    expect_open(f.vault, TV_ENOTFOUND, want);
    assert_int_equal(rename(moved, file), 0);

    snprintf(moved, sizeof(moved), "%s/none", f.root);
    snprintf(want, sizeof(want),
             "no vault at '%s' (create one with 'tiervault init')", moved);
    expect_open(moved, TV_ENOTFOUND, want);
    fixture_reopen(&f);
    fixture_free(&f);
}

static void
test_init_refusals(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    char dir[320], path[340];
    FILE *fp;

    (void)state;
    fixture_vault(&f);
    assert_int_equal(tv_vault_init(f.vault, &f.cred, 1, "t", &err), TV_EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(tv_vault_init(f.vault, NULL, 0, "t", &err), TV_EINPUT);

    snprintf(dir, sizeof(dir), "%s/full", f.root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/other", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(tv_vault_init(dir, &f.cred, 1, "t", &err), TV_EEXIST);
    assert_non_null(strstr(err.msg, "not empty"));

    /* an empty private directory is fine; a shared one is not */
    snprintf(dir, sizeof(dir), "%s/empty", f.root);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(tv_vault_init(dir, &f.cred, 1, "t", &err), TV_EPERM);
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(tv_vault_init(dir, &f.cred, 1, "t", &err), TV_OK);

    /* missing parents are created private */
    snprintf(dir, sizeof(dir), "%s/a/b/vault", f.root);
    assert_int_equal(tv_vault_init(dir, &f.cred, 1, "t", &err), TV_OK);
    fixture_free(&f);
}

static void
test_unknown_format(void **state)
{
    struct fixture f;
    unsigned char *rec;
    size_t len;

    (void)state;
    fixture_vault(&f);
    fixture_close_vault(&f);
    rec = raw_get(f.vault, "meta", "header", 6, &len);
    assert_non_null(rec);
    rec[2] = 2; /* format 2 */
    raw_put(f.vault, "meta", "header", 6, rec, len);
    expect_open(f.vault, TV_EFORMAT, "has format 2");
    rec[2] = 1;
    rec[len - 1] ^= 1; /* its MAC */
    raw_put(f.vault, "meta", "header", 6, rec, len);
    {
        struct tv_error err = { 0 };

        assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
        assert_int_equal(tv_vault_unlock(f.v, &f.cred, &err), TV_EINTEGRITY);
        assert_non_null(strstr(err.msg, "header was altered"));
    }
    free(rec);
    fixture_free(&f);
}

/*
 * A data.mdb cut short of the pages its meta page counts is refused at
 * open with a message, instead of faulting (SIGBUS) on the first read of
 * a page past the end of the file.
 */
static void
test_truncated_file(void **state)
{
    struct fixture f;
    char file[340];
    struct stat sb;
    off_t cut;
    int i;

    (void)state;
    fixture_vault(&f);
    for (i = 0; i < 40; i++) {
        char name[16];

        snprintf(name, sizeof(name), "K%d", i);
        put_str(f.v, "svc", name, "core", "a value of some length");
    }
    fixture_close_vault(&f);
    snprintf(file, sizeof(file), "%s/data.mdb", f.vault);
    assert_int_equal(stat(file, &sb), 0);
    assert_true(sb.st_size > 4 * 4096);
    for (cut = sb.st_size - 1; cut >= 2 * 4096; cut -= 4096 + 1) {
        assert_int_equal(truncate(file, cut), 0);
        expect_open(f.vault, TV_EFORMAT, "data.mdb is truncated");
    }
    fixture_free(&f);
}

/* The value is never written in clear, in any version or in a backup. */
static void
test_canary_not_stored(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    uint32_t version;
    char file[340], backup[320];

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "TOKEN", "core", canary);
    put_str(f.v, "svc", "TOKEN", "core", "other");
    assert_int_equal(tv_vault_rollback(f.v, "svc", "TOKEN", 1, &version, &err),
                     TV_OK);
    assert_int_equal(tv_vault_rm(f.v, "svc", "TOKEN", &version, &err), TV_OK);
    assert_int_equal(
        tv_vault_state_put(f.v, "agent", canary, strlen(canary), &err), TV_OK);
    snprintf(backup, sizeof(backup), "%s/backup", f.root);
    assert_int_equal(tv_vault_backup(f.v, backup, &err), TV_OK);
    fixture_close_vault(&f);

    snprintf(file, sizeof(file), "%s/data.mdb", f.vault);
    assert_true(file_contains(file, "TOKEN", 5));
    assert_false(file_contains(file, canary, strlen(canary)));
    assert_false(file_contains(file, canary + 10, 12));
    snprintf(file, sizeof(file), "%s/lock.mdb", f.vault);
    assert_false(file_contains(file, canary, strlen(canary)));
    snprintf(file, sizeof(file), "%s/data.mdb", backup);
    assert_false(file_contains(file, canary, strlen(canary)));
    fixture_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flipped_version_byte),
        cmocka_unit_test(test_truncated_version),
        cmocka_unit_test(test_moved_records),
        cmocka_unit_test(test_altered_secret_record),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_symlinks_and_missing),
        cmocka_unit_test(test_init_refusals),
        cmocka_unit_test(test_unknown_format),
        cmocka_unit_test(test_canary_not_stored),
        cmocka_unit_test(test_truncated_file),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
