/*
 * test_vault.c - the vault API: put, get, versions, rm, rollback, list,
 * history, stat, batches, agent state, backup and concurrent writers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "helpers.h"

static char *
get_str(struct tv_vault *v, const char *service, const char *name,
        uint32_t version, enum tv_status want)
{
    struct tv_error err = { 0 };
    struct tv_secret *s = NULL;
    char *copy;

    assert_int_equal(tv_vault_get(v, service, name, version, &s, NULL, &err),
                     want);
    if (want != TV_OK) {
        assert_null(s);
        return NULL;
    }
    copy = strdup((char *)s->data);
    tv_secret_free(s);
    return copy;
}

static void
check_value(struct tv_vault *v, const char *service, const char *name,
            uint32_t version, const char *want)
{
    char *got = get_str(v, service, name, version, TV_OK);

    assert_string_equal(got, want);
    free(got);
}

static void
test_put_get_versions(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_version_info info;
    struct tv_record_info rec;
    struct tv_secret *s = NULL;

    (void)state;
    setenv("TIERVAULT_TEST_NOW", "1000", 1);
    fixture_vault(&f);
    assert_int_equal(put_str(f.v, "svc", "KEY", "core", "one"), 1);
    setenv("TIERVAULT_TEST_NOW", "2000", 1);
    assert_int_equal(put_str(f.v, "svc", "KEY", "payment", "two"), 2);
    check_value(f.v, "svc", "KEY", 0, "two");
    check_value(f.v, "svc", "KEY", 1, "one");
    check_value(f.v, "svc", "KEY", 2, "two");
    get_str(f.v, "svc", "KEY", 3, TV_ENOTFOUND);
    get_str(f.v, "svc", "NOPE", 0, TV_ENOTFOUND);
    get_str(f.v, "bad/svc", "KEY", 0, TV_EINPUT);

    assert_int_equal(tv_vault_get(f.v, "svc", "KEY", 1, &s, &info, &err),
                     TV_OK);
    assert_int_equal(info.version, 1);
    assert_string_equal(info.tier, "core");
    assert_int_equal(info.time, 1000);
    assert_string_equal(info.actor, "tester@host");
    tv_secret_free(s);

    assert_int_equal(tv_vault_stat(f.v, "svc", "KEY", &rec, &err), TV_OK);
    assert_int_equal(rec.version, 2);
    assert_string_equal(rec.tier, "payment");
    assert_int_equal(rec.created, 1000);
    assert_int_equal(rec.updated, 2000);
    assert_false(rec.deleted);
    assert_int_equal(strlen(rec.fp), TV_FP_HEXLEN);
    assert_int_equal(tv_vault_stat(f.v, "svc", "NOPE", &rec, &err),
                     TV_ENOTFOUND);
    unsetenv("TIERVAULT_TEST_NOW");
    fixture_free(&f);
}

static void
test_empty_and_binary_values(void **state)
{
    static const unsigned char bin[5] = { 0, 1, 0, 255, 10 };
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *in = NULL, *out = NULL;
    struct tv_put p = { "svc", "BIN", "core", NULL, NULL, TV_OP_IMPORT };

    (void)state;
    fixture_vault(&f);
    assert_int_equal(put_str(f.v, "svc", "EMPTY", "core", ""), 1);
    check_value(f.v, "svc", "EMPTY", 0, "");
    assert_int_equal(tv_secret_dup(&in, bin, sizeof(bin), &err), TV_OK);
    p.value = in;
    assert_int_equal(tv_vault_put(f.v, &p, 1, NULL, &err), TV_OK);
    assert_int_equal(tv_vault_get(f.v, "svc", "BIN", 0, &out, NULL, &err),
                     TV_OK);
    assert_int_equal(out->len, sizeof(bin));
    assert_memory_equal(out->data, bin, sizeof(bin));
    tv_secret_free(in);
    tv_secret_free(out);

    assert_int_equal(tv_secret_new(&in, TV_VALUE_MAX + 1, &err), TV_OK);
    p.value = in;
    assert_int_equal(tv_vault_put(f.v, &p, 1, NULL, &err), TV_EINPUT);
    assert_non_null(strstr(err.msg, "svc/BIN"));
    in->len = TV_VALUE_MAX;
    assert_int_equal(tv_vault_put(f.v, &p, 1, NULL, &err), TV_OK);
    tv_secret_free(in);
    fixture_free(&f);
}

struct names {
    char s[64][2 * TV_NAME_MAX + 4];
    int n;
};

static int
collect_record(const struct tv_record_info *r, void *ctx)
{
    struct names *l = ctx;

    if (l->n < 64)
        snprintf(l->s[l->n++], sizeof(l->s[0]), "%s/%s%s", r->service, r->name,
                 r->deleted ? "-" : "");
    return 0;
}

static int
stop_at_two(const struct tv_record_info *r, void *ctx)
{
    int *n = ctx;

    (void)r;
    return ++*n == 2 ? TV_EGATE : 0; /* a code the vault never returns */
}

static void
test_rm_rollback_list(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct names l = { 0 };
    uint32_t version = 0;
    int n = 0;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "b-svc", "Z", "core", "z");
    put_str(f.v, "a", "X", "core", "x");
    put_str(f.v, "a-b", "Y", "ai", "y");
    put_str(f.v, "a", "W", "payment", "w1");
    put_str(f.v, "a", "W", "payment", "w2");

    assert_int_equal(tv_vault_rm(f.v, "a", "W", &version, &err), TV_OK);
    assert_int_equal(version, 3);
    assert_int_equal(tv_vault_rm(f.v, "a", "W", &version, &err), TV_ENOTFOUND);
    assert_non_null(strstr(err.msg, "already deleted"));
    assert_int_equal(tv_vault_rm(f.v, "a", "NONE", &version, &err),
                     TV_ENOTFOUND);
    get_str(f.v, "a", "W", 0, TV_ENOTFOUND);
    get_str(f.v, "a", "W", 3, TV_ENOTFOUND);
    check_value(f.v, "a", "W", 1, "w1");

    /* ordered by service then name; "a" sorts before "a-b" */
    assert_int_equal(
        tv_vault_list(f.v, NULL, NULL, 0, collect_record, &l, &err), TV_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.s[0], "a/X");
    assert_string_equal(l.s[1], "a-b/Y");
    assert_string_equal(l.s[2], "b-svc/Z");
    l.n = 0;
    assert_int_equal(tv_vault_list(f.v, "a", NULL, 1, collect_record, &l, &err),
                     TV_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.s[0], "a/W-");
    assert_string_equal(l.s[1], "a/X");
    l.n = 0;
    assert_int_equal(
        tv_vault_list(f.v, NULL, "ai", 1, collect_record, &l, &err), TV_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.s[0], "a-b/Y");
    assert_int_equal(tv_vault_list(f.v, NULL, NULL, 0, stop_at_two, &n, &err),
                     TV_EGATE);

    /* rollback brings a deleted secret back with an old value */
    assert_int_equal(tv_vault_rollback(f.v, "a", "W", 1, &version, &err),
                     TV_OK);
    assert_int_equal(version, 4);
    check_value(f.v, "a", "W", 0, "w1");
    assert_int_equal(tv_vault_rollback(f.v, "a", "W", 3, &version, &err),
                     TV_ENOTFOUND);
    assert_int_equal(tv_vault_rollback(f.v, "a", "W", 9, &version, &err),
                     TV_ENOTFOUND);
    assert_int_equal(tv_vault_rollback(f.v, "a", "W", 0, &version, &err),
                     TV_ENOTFOUND);
    /* a put after rm starts a new live version */
    assert_int_equal(tv_vault_rm(f.v, "a", "X", &version, &err), TV_OK);
    assert_int_equal(put_str(f.v, "a", "X", "core", "x2"), 3);
    check_value(f.v, "a", "X", 0, "x2");
    fixture_free(&f);
}

struct versions {
    struct tv_version_info v[16];
    int n;
};

static int
collect_version(const struct tv_version_info *v, void *ctx)
{
    struct versions *l = ctx;

    if (l->n < 16)
        l->v[l->n++] = *v;
    return 0;
}

static void
test_history(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct versions l = { 0 };
    uint32_t version;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "K", "core", "one");
    put_str(f.v, "svc", "K2", "core", "other secret, same prefix");
    put_str(f.v, "svc", "K", "core", "two");
    assert_int_equal(tv_vault_rm(f.v, "svc", "K", &version, &err), TV_OK);
    assert_int_equal(tv_vault_rollback(f.v, "svc", "K", 1, &version, &err),
                     TV_OK);
    assert_int_equal(
        tv_vault_history(f.v, "svc", "K", collect_version, &l, &err), TV_OK);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.v[0].op, TV_OP_PUT);
    assert_int_equal(l.v[2].op, TV_OP_RM);
    assert_true(l.v[2].deleted);
    assert_string_equal(l.v[2].fp, "");
    assert_int_equal(l.v[3].op, TV_OP_ROLLBACK);
    assert_int_equal(l.v[3].source, 1);
    assert_string_equal(l.v[3].fp, l.v[0].fp);
    assert_string_not_equal(l.v[1].fp, l.v[0].fp);
    assert_int_equal(
        tv_vault_history(f.v, "svc", "NONE", collect_version, &l, &err),
        TV_ENOTFOUND);
    fixture_free(&f);
}

static void
test_batch(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *s = NULL;
    struct tv_record_info rec;
    struct tv_put p[4];
    uint32_t versions[4] = { 0 };
    char fp[TV_FP_HEXLEN + 1];

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "C", "core", "old");
    assert_int_equal(tv_secret_dup(&s, "batch", 5, &err), TV_OK);
    p[0] = (struct tv_put){ "svc", "D", "core", s, "n", TV_OP_IMPORT };
    p[1] = (struct tv_put){ "svc", "C", "core", s, NULL, TV_OP_IMPORT };
    p[2] = (struct tv_put){ "svc", "A", "core", s, NULL, TV_OP_GENERATE };
    assert_int_equal(tv_vault_put(f.v, p, 3, versions, &err), TV_OK);
    assert_int_equal(versions[0], 1);
    assert_int_equal(versions[1], 2);
    assert_int_equal(versions[2], 1);

    /* one bad item writes nothing */
    p[3] = (struct tv_put){ "svc", "D", "core", s, NULL, TV_OP_IMPORT };
    assert_int_equal(tv_vault_put(f.v, p, 4, versions, &err), TV_EINPUT);
    assert_non_null(strstr(err.msg, "'svc/D' is given twice (items 1 and 4)"));
    p[3] = (struct tv_put){ "svc", "E", "Core", s, NULL, TV_OP_IMPORT };
    assert_int_equal(tv_vault_put(f.v, p, 4, versions, &err), TV_EINPUT);
    p[3] = (struct tv_put){ "svc", "E", "core", s, "a\tb", TV_OP_IMPORT };
    assert_int_equal(tv_vault_put(f.v, p, 4, versions, &err), TV_EINPUT);
    p[3] = (struct tv_put){ "svc", "E", "core", s, NULL, TV_OP_RM };
    assert_int_equal(tv_vault_put(f.v, p, 4, versions, &err), TV_EINPUT);
    assert_int_equal(tv_vault_stat(f.v, "svc", "D", &rec, &err), TV_OK);
    assert_int_equal(rec.version, 1);
    assert_string_equal(rec.note, "n");
    assert_int_equal(tv_vault_stat(f.v, "svc", "E", &rec, &err), TV_ENOTFOUND);

    assert_int_equal(tv_vault_fingerprint(f.v, s, fp, &err), TV_OK);
    assert_int_equal(tv_vault_stat(f.v, "svc", "A", &rec, &err), TV_OK);
    assert_string_equal(fp, rec.fp);
    tv_secret_free(s);
    fixture_free(&f);
}

static void
test_locked(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *s = NULL;
    struct tv_put p = { "svc", "A", "core", NULL, NULL, TV_OP_PUT };
    struct names l = { 0 };

    (void)state;
    fixture_vault(&f);
    fixture_close_vault(&f);
    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(strlen(tv_vault_id(f.v)), TV_VAULT_ID_HEXLEN);
    assert_int_equal(tv_secret_dup(&s, "x", 1, &err), TV_OK);
    p.value = s;
    assert_int_equal(tv_vault_put(f.v, &p, 1, NULL, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "locked"));
    assert_int_equal(
        tv_vault_list(f.v, NULL, NULL, 0, collect_record, &l, &err),
        TV_EUNLOCK);
    assert_int_equal(tv_vault_state_put(f.v, "k", "d", 1, &err), TV_EUNLOCK);
    tv_secret_free(s);
    fixture_free(&f);
}

static void
test_state(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *d = NULL;

    (void)state;
    fixture_vault(&f);
    assert_int_equal(tv_vault_state_get(f.v, "rollout/core", &d, &err),
                     TV_ENOTFOUND);
    assert_int_equal(
        tv_vault_state_put(f.v, "rollout/core", "{\"a\":1}", 7, &err), TV_OK);
    assert_int_equal(
        tv_vault_state_put(f.v, "rollout/core", "{\"a\":2}", 7, &err), TV_OK);
    assert_int_equal(tv_vault_state_get(f.v, "rollout/core", &d, &err), TV_OK);
    assert_int_equal(d->len, 7);
    assert_memory_equal(d->data, "{\"a\":2}", 7);
    tv_secret_free(d);
    assert_int_equal(tv_vault_state_put(f.v, "empty", NULL, 0, &err), TV_OK);
    assert_int_equal(tv_vault_state_get(f.v, "empty", &d, &err), TV_OK);
    assert_int_equal(d->len, 0);
    tv_secret_free(d);
    assert_int_equal(tv_vault_state_del(f.v, "rollout/core", &err), TV_OK);
    assert_int_equal(tv_vault_state_del(f.v, "rollout/core", &err),
                     TV_ENOTFOUND);
    assert_int_equal(tv_vault_state_get(f.v, "", &d, &err), TV_EINPUT);
    fixture_free(&f);
}

static void
test_backup(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *d = NULL;
    struct tv_vault *b = NULL;
    struct stat sb;
    char path[320], file[340];
    uint64_t count = 0;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "A", "core", "alpha");
    put_str(f.v, "svc", "A", "core", "beta");
    assert_int_equal(tv_vault_state_put(f.v, "s", "state", 5, &err), TV_OK);
    snprintf(path, sizeof(path), "%s/backup", f.root);
    assert_int_equal(tv_vault_backup(f.v, path, &err), TV_OK);
    assert_int_equal(tv_vault_backup(f.v, path, &err), TV_EEXIST);
    assert_int_equal(lstat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    snprintf(file, sizeof(file), "%s/data.mdb", path);
    assert_int_equal(lstat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);

    assert_int_equal(tv_vault_open(&b, path, &err), TV_OK);
    assert_string_equal(tv_vault_id(b), tv_vault_id(f.v));
    assert_int_equal(tv_vault_unlock(b, &f.cred, &err), TV_OK);
    check_value(b, "svc", "A", 0, "beta");
    check_value(b, "svc", "A", 1, "alpha");
    assert_int_equal(tv_vault_state_get(b, "s", &d, &err), TV_OK);
    assert_memory_equal(d->data, "state", 5);
    tv_secret_free(d);
    /* init, put, put, backup: the copy records its own backup */
    assert_int_equal(tv_vault_log_verify(b, &count, NULL, &err), TV_OK);
    assert_int_equal(count, 4);
    tv_vault_close(b);
    fixture_free(&f);
}

/* Two processes writing at once: every write lands. */
static void
test_concurrent_writers(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct names l = { 0 };
    struct tv_record_info rec;
    pid_t pid[2];
    int i, j, status;

    (void)state;
    fixture_vault(&f);
    fixture_close_vault(&f);
    for (i = 0; i < 2; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            char name[16];

            fixture_reopen(&f);
            for (j = 0; j < 20; j++) {
                snprintf(name, sizeof(name), "P%d_%02d", i, j);
                put_str(f.v, "svc", name, "core", "v");
                put_str(f.v, "svc", "SHARED", "core", name);
            }
            fixture_close_vault(&f);
            tv_secret_free(f.key);
            _exit(0);
        }
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    fixture_reopen(&f);
    assert_int_equal(
        tv_vault_list(f.v, NULL, NULL, 0, collect_record, &l, &err), TV_OK);
    assert_int_equal(l.n, 41);
    assert_int_equal(tv_vault_stat(f.v, "svc", "SHARED", &rec, &err), TV_OK);
    assert_int_equal(rec.version, 40);
    assert_int_equal(tv_vault_log_verify(f.v, NULL, NULL, &err), TV_OK);
    fixture_free(&f);
}

/* Two inits racing into one directory: one vault, the other refused. */
static void
test_racing_init(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    int i, status, ok = 0, exist = 0;
    pid_t pid[2];

    (void)state;
    fixture_new(&f);
    for (i = 0; i < 2; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            enum tv_status st =
                tv_vault_init(f.vault, &f.cred, 1, "racer", &err);

            tv_secret_free(f.key);
            _exit(st == TV_OK ? 0 : st == TV_EEXIST ? 2 : 1);
        }
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status));
        ok += WEXITSTATUS(status) == 0;
        exist += WEXITSTATUS(status) == 2;
    }
    assert_int_equal(ok + exist, 2);
    assert_int_equal(ok, 1);
    fixture_reopen(&f);
    assert_int_equal(tv_vault_log_verify(f.v, NULL, NULL, &err), TV_OK);
    fixture_free(&f);
}

/*
 * A write larger than the map grows it; a process whose map is smaller
 * than what another process wrote adopts the new size.
 */
static void
test_map_growth(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *s = NULL;
    struct tv_record_info rec;
    int n = 0, status;
    pid_t pid;

    (void)state;
    fixture_vault(&f);
    assert_int_equal(tv_vault_stat(f.v, "svc", "X", &rec, &err), TV_ENOTFOUND);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static struct tv_put p[700];
        static char names[700][16];
        int i;

        /* the parent's environment is closed, never used, in the child */
        fixture_close_vault(&f);
        fixture_reopen(&f);
        assert_int_equal(tv_secret_new(&s, 60000, &err), TV_OK);
        randombytes_buf(s->data, s->len);
        for (i = 0; i < 700; i++) {
            snprintf(names[i], sizeof(names[i]), "BIG_%03d", i);
            p[i] = (struct tv_put){ "svc", names[i], "core",
                                    s,     NULL,     TV_OP_IMPORT };
        }
        if (tv_vault_put(f.v, p, 700, NULL, &err) != TV_OK) {
            fprintf(stderr, "put: %s\n", err.msg);
            _exit(1);
        }
        tv_secret_free(s);
        fixture_close_vault(&f);
        tv_secret_free(f.key);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tv_vault_list(f.v, NULL, NULL, 0, stop_at_two, &n, &err),
                     TV_EGATE);
    assert_int_equal(tv_vault_get(f.v, "svc", "BIG_699", 0, &s, NULL, &err),
                     TV_OK);
    assert_int_equal(s->len, 60000);
    tv_secret_free(s);
    put_str(f.v, "svc", "AFTER", "core", "after");
    assert_int_equal(tv_vault_log_verify(f.v, NULL, NULL, &err), TV_OK);
    fixture_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_versions),
        cmocka_unit_test(test_empty_and_binary_values),
        cmocka_unit_test(test_rm_rollback_list),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_locked),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_backup),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_map_growth),
        cmocka_unit_test(test_racing_init),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
