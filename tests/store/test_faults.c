/*
 * test_faults.c - a full disk and a read-only file system, each on a small
 * tmpfs mounted in a private mount namespace of a child process (skipped
 * where the system does not allow that).  Nothing may be half-written and
 * reads must keep working.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "helpers.h"

#define SKIP_CODE 77

/* In the child: report a failed check and end it. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

/* Mounts a tmpfs of opts on dir, visible to this process only. */
static int
private_tmpfs(const char *dir, const char *opts)
{
    if (unshare(CLONE_NEWNS) != 0)
        return -1;
    /* type and source are ignored here; named for valgrind's sake */
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    return mount("tmpfs", dir, "tmpfs", 0, opts);
}

/* Runs fn(f, mnt) in a child with a private tmpfs on mnt. */
static void
in_child(struct fixture *f, const char *opts,
         void (*fn)(struct fixture *f, const char *mnt))
{
    char mnt[320];
    pid_t pid;
    int status;

    snprintf(mnt, sizeof(mnt), "%s/mnt", f->root);
    assert_int_equal(mkdir(mnt, 0700), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (private_tmpfs(mnt, opts) != 0) {
            fprintf(stderr, "cannot mount a private tmpfs: %s\n",
                    strerror(errno));
            _exit(SKIP_CODE);
        }
        fn(f, mnt);
        fixture_close_vault(f);
        tv_secret_free(f->key);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == SKIP_CODE)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int
count_cb(const struct tv_record_info *r, void *ctx)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static int
count_secrets(struct tv_vault *v)
{
    struct tv_error err = { 0 };
    int n = 0;

    CHECK(tv_vault_list(v, NULL, NULL, 1, count_cb, &n, &err) == TV_OK);
    return n;
}

static enum tv_status
put_batch(struct tv_vault *v, int batch, const struct tv_secret *value,
          struct tv_error *err)
{
    struct tv_put p[8];
    char names[8][32];
    int i;

    for (i = 0; i < 8; i++) {
        snprintf(names[i], sizeof(names[i]), "B%03d_%d", batch, i);
        p[i] = (struct tv_put){ "svc", names[i], "core",
                                value, NULL,     TV_OP_IMPORT };
    }
    return tv_vault_put(v, p, 8, NULL, err);
}

static void
fill_disk(struct fixture *f, const char *mnt)
{
    struct tv_error err = { 0 };
    struct tv_secret *big = NULL, *got = NULL;
    enum tv_status st = TV_OK;
    uint64_t count = 0;
    int batch, before;

    snprintf(f->vault, sizeof(f->vault), "%s/vault", mnt);
    CHECK(tv_vault_init(f->vault, &f->cred, 1, "t", &err) == TV_OK);
    fixture_reopen(f);
    put_str(f->v, "svc", "KEEP", "core", "kept-value");
    CHECK(tv_secret_new(&big, 60000, &err) == TV_OK);
    randombytes_buf(big->data, big->len);
    for (batch = 0; batch < 100; batch++) {
        before = count_secrets(f->v);
        st = put_batch(f->v, batch, big, &err);
        if (st != TV_OK)
            break;
    }
    if (st != TV_EFULL)
        fprintf(stderr, "batch %d: %s\n", batch, err.msg);
    CHECK(st == TV_EFULL);
    CHECK(strstr(err.msg, "no space left") != NULL);
    CHECK(strstr(err.msg, "nothing written") != NULL);
    /* the failed batch left nothing behind; everything else still reads */
    CHECK(count_secrets(f->v) == before);
    CHECK(tv_vault_get(f->v, "svc", "KEEP", 0, &got, NULL, &err) == TV_OK);
    CHECK(strcmp((char *)got->data, "kept-value") == 0);
    tv_secret_free(got);
    CHECK(tv_vault_log_verify(f->v, &count, NULL, &err) == TV_OK);
    fixture_close_vault(f);
    fixture_reopen(f);
    CHECK(count_secrets(f->v) == before);
    CHECK(tv_vault_log_verify(f->v, NULL, NULL, &err) == TV_OK);
    tv_secret_free(big);
    fixture_close_vault(f);
}

static void
test_full_disk(void **state)
{
    struct fixture f;

    (void)state;
    fixture_new(&f);
    in_child(&f, "size=1m,mode=0700", fill_disk);
    fixture_free(&f);
}

static void
read_only(struct fixture *f, const char *mnt)
{
    struct tv_error err = { 0 };
    struct tv_secret *got = NULL;
    char backup[400];

    snprintf(f->vault, sizeof(f->vault), "%s/vault", mnt);
    CHECK(tv_vault_init(f->vault, &f->cred, 1, "t", &err) == TV_OK);
    fixture_reopen(f);
    put_str(f->v, "svc", "A", "core", "a-value");
    fixture_close_vault(f);
    CHECK(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) == 0);

    fixture_reopen(f);
    CHECK(tv_vault_get(f->v, "svc", "A", 0, &got, NULL, &err) == TV_OK);
    CHECK(strcmp((char *)got->data, "a-value") == 0);
    CHECK(count_secrets(f->v) == 1);
    CHECK(tv_vault_log_verify(f->v, NULL, NULL, &err) == TV_OK);
    CHECK(tv_vault_put(
              f->v,
              &(struct tv_put){ "svc", "B", "core", got, NULL, TV_OP_PUT }, 1,
              NULL, &err) == TV_ERDONLY);
    CHECK(strstr(err.msg, "is read-only") != NULL);
    CHECK(tv_vault_rm(f->v, "svc", "A", NULL, &err) == TV_ERDONLY);
    CHECK(tv_vault_state_put(f->v, "k", "v", 1, &err) == TV_ERDONLY);
    snprintf(backup, sizeof(backup), "%s/../backup", mnt);
    CHECK(tv_vault_backup(f->v, backup, &err) == TV_ERDONLY);
    tv_secret_free(got);
    fixture_close_vault(f);
}

static void
test_read_only(void **state)
{
    struct fixture f;

    (void)state;
    fixture_new(&f);
    in_child(&f, "size=4m,mode=0700", read_only);
    fixture_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_read_only),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
