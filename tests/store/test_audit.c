/*
 * test_audit.c - the audit chain: entries for every mutation, a verified
 * chain, and an altered entry, a deleted entry, a truncated tail and an
 * altered head each named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "helpers.h"

static const char canary[] = "CANARY-audit-7f3e9a1c";

struct entries {
    struct tv_audit_entry e[16];
    int n;
};

static int
collect(const struct tv_audit_entry *e, void *ctx)
{
    struct entries *l = ctx;

    if (l->n < 16)
        l->e[l->n++] = *e;
    return 0;
}

/* A vault whose log holds: init, put, put, rm, rollback, a custom entry. */
static void
make_log(struct fixture *f)
{
    struct tv_error err = { 0 };
    uint32_t version;

    fixture_vault(f);
    put_str(f->v, "svc", "TOKEN", "core", canary);
    put_str(f->v, "svc", "TOKEN", "core", "second");
    assert_int_equal(tv_vault_rm(f->v, "svc", "TOKEN", &version, &err), TV_OK);
    assert_int_equal(tv_vault_rollback(f->v, "svc", "TOKEN", 1, &version, &err),
                     TV_OK);
    assert_int_equal(tv_vault_audit(f->v, "tier-verified", "svc", NULL, 0, NULL,
                                    "tier core", &err),
                     TV_OK);
}

static void
test_entries(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct entries l = { 0 };
    uint64_t count = 0, bad = 99;
    int i;

    (void)state;
    make_log(&f);
    assert_int_equal(tv_vault_log(f.v, collect, &l, &err), TV_OK);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.e[0].op, "init");
    assert_string_equal(l.e[1].op, "put");
    assert_string_equal(l.e[1].service, "svc");
    assert_string_equal(l.e[1].name, "TOKEN");
    assert_string_equal(l.e[1].actor, "tester@host");
    assert_int_equal(l.e[1].version, 1);
    assert_int_equal(strlen(l.e[1].fp), TV_FP_HEXLEN);
    assert_string_equal(l.e[3].op, "rm");
    assert_string_equal(l.e[3].fp, "");
    assert_string_equal(l.e[4].op, "rollback");
    assert_string_equal(l.e[4].fp, l.e[1].fp);
    assert_string_equal(l.e[5].op, "tier-verified");
    for (i = 0; i < l.n; i++) {
        assert_int_equal(l.e[i].seq, (uint64_t)i + 1);
        assert_null(strstr(l.e[i].detail, canary));
    }
    assert_int_equal(tv_vault_log_verify(f.v, &count, &bad, &err), TV_OK);
    assert_int_equal(count, 6);
    assert_int_equal(bad, 0);

    assert_int_equal(
        tv_vault_audit(f.v, "Bad Op", NULL, NULL, 0, NULL, NULL, &err),
        TV_EINPUT);
    assert_int_equal(tv_vault_audit(f.v, "x", NULL, NULL, 0, "XYZ", NULL, &err),
                     TV_EINPUT);
    assert_int_equal(
        tv_vault_audit(f.v, "x", NULL, NULL, 0, NULL, "a\nb", &err), TV_EINPUT);
    fixture_free(&f);
}

static void
seq_key(unsigned char k[8], uint64_t seq)
{
    int i;

    for (i = 7; i >= 0; i--) {
        k[i] = (unsigned char)seq;
        seq >>= 8;
    }
}

/* Reopens and verifies, expecting the chain to break at seq. */
static void
expect_broken(struct fixture *f, uint64_t seq)
{
    struct tv_error err = { 0 };
    uint64_t bad = 0;
    char want[64];

    fixture_reopen(f);
    assert_int_equal(tv_vault_log_verify(f->v, NULL, &bad, &err),
                     TV_EINTEGRITY);
    assert_int_equal(bad, seq);
    snprintf(want, sizeof(want), "audit entry %llu", (unsigned long long)seq);
    assert_non_null(strstr(err.msg, want));
    fixture_close_vault(f);
}

static void
test_altered_entry(void **state)
{
    struct fixture f;
    unsigned char k[8], *rec;
    size_t len;

    (void)state;
    make_log(&f);
    fixture_close_vault(&f);
    seq_key(k, 3);
    rec = raw_get(f.vault, "audit", k, 8, &len);
    assert_non_null(rec);
    /* the time field: the entry still parses, its MAC no longer holds */
    rec[1 + 8 + 7] ^= 0x01;
    raw_put(f.vault, "audit", k, 8, rec, len);
    expect_broken(&f, 3);
    free(rec);
    fixture_free(&f);
}

static void
test_deleted_entry(void **state)
{
    struct fixture f;
    unsigned char k[8];

    (void)state;
    make_log(&f);
    fixture_close_vault(&f);
    seq_key(k, 2);
    raw_del(f.vault, "audit", k, 8);
    expect_broken(&f, 2);
    fixture_free(&f);
}

static void
test_truncated_tail(void **state)
{
    struct fixture f;
    unsigned char k[8];

    (void)state;
    make_log(&f);
    fixture_close_vault(&f);
    seq_key(k, 6);
    raw_del(f.vault, "audit", k, 8);
    expect_broken(&f, 6);
    seq_key(k, 5);
    raw_del(f.vault, "audit", k, 8);
    expect_broken(&f, 5);
    fixture_free(&f);
}

/* An old head put back (to hide entries) fails its MAC only if altered;
 * a rolled-back head is caught by the count. */
static void
test_head_rolled_back(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    unsigned char *old, *rec;
    size_t olen;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "A", "core", "a");
    fixture_close_vault(&f);
    old = raw_get(f.vault, "meta", "audit-head", 10, &olen);
    assert_non_null(old);
    fixture_reopen(&f);
    put_str(f.v, "svc", "B", "core", "b");
    fixture_close_vault(&f);

    raw_put(f.vault, "meta", "audit-head", 10, old, olen);
    expect_broken(&f, 3);

    rec = malloc(olen);
    assert_non_null(rec);
    memcpy(rec, old, olen);
    rec[8] ^= 0x01; /* the count */
    raw_put(f.vault, "meta", "audit-head", 10, rec, olen);
    fixture_reopen(&f);
    assert_int_equal(tv_vault_log_verify(f.v, NULL, NULL, &err), TV_EINTEGRITY);
    assert_non_null(strstr(err.msg, "head"));
    /* and no mutation is accepted on top of an altered head */
    assert_int_equal(tv_vault_audit(f.v, "x", NULL, NULL, 0, NULL, NULL, &err),
                     TV_EINTEGRITY);
    free(rec);
    free(old);
    fixture_free(&f);
}

/* Reopens and verifies, expecting a record to disagree with the log. */
static void
expect_disagree(struct fixture *f, const char *msg)
{
    struct tv_error err = { 0 };
    uint64_t bad = 7;

    fixture_reopen(f);
    assert_int_equal(tv_vault_log_verify(f->v, NULL, &bad, &err),
                     TV_EINTEGRITY);
    /* the chain itself verifies: no entry is named as bad */
    assert_int_equal(bad, 0);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
    fixture_close_vault(f);
}

/* A secret's record removed together with all its versions is noticed. */
static void
test_record_and_versions_deleted(void **state)
{
    struct fixture f;
    unsigned char key[300];
    size_t klen;
    uint32_t i;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "OTHER", "core", "o");
    for (i = 0; i < 3; i++)
        put_str(f.v, "svc", "TOKEN", "core", "t");
    put_str(f.v, "web", "KEY", "core", "k");
    fixture_close_vault(&f);

    raw_del(f.vault, "secrets", "svc\0TOKEN", 9);
    for (i = 1; i <= 3; i++) {
        klen = version_key(key, "svc", "TOKEN", i);
        raw_del(f.vault, "versions", key, klen);
    }
    expect_disagree(&f, "'svc/TOKEN': record missing but the audit log has "
                        "version 3 (entry 5)");
    fixture_free(&f);
}

/* An older copy of a record (its MAC still valid) put back is noticed. */
static void
test_record_rolled_back(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    unsigned char *old, *live;
    size_t olen, llen;
    uint32_t version;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "A", "core", "a1");
    fixture_close_vault(&f);
    old = raw_get(f.vault, "secrets", "svc\0A", 5, &olen);
    assert_non_null(old);
    fixture_reopen(&f);
    put_str(f.v, "svc", "A", "core", "a2");
    fixture_close_vault(&f);
    live = raw_get(f.vault, "secrets", "svc\0A", 5, &llen);
    assert_non_null(live);

    raw_put(f.vault, "secrets", "svc\0A", 5, old, olen);
    expect_disagree(&f, "'svc/A': record has version 1 but the audit log has "
                        "version 2");

    /* a deleted secret's record brought back to life */
    raw_put(f.vault, "secrets", "svc\0A", 5, live, llen);
    fixture_reopen(&f);
    assert_int_equal(tv_vault_rm(f.v, "svc", "A", &version, &err), TV_OK);
    assert_int_equal(tv_vault_log_verify(f.v, NULL, NULL, &err), TV_OK);
    fixture_close_vault(&f);
    raw_put(f.vault, "secrets", "svc\0A", 5, live, llen);
    expect_disagree(&f, "'svc/A': record has version 2 but the audit log has "
                        "version 3 (deleted)");
    free(old);
    free(live);
    fixture_free(&f);
}

/* The operations log verify holds records to cannot be forged. */
static void
test_mutation_ops_reserved(void **state)
{
    static const char *const ops[] = { "put", "generate", "import", "rm",
                                       "rollback" };
    struct fixture f;
    struct tv_error err = { 0 };
    size_t i;

    (void)state;
    fixture_vault(&f);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        assert_int_equal(
            tv_vault_audit(f.v, ops[i], "svc", "A", 1, NULL, NULL, &err),
            TV_EINPUT);
        assert_non_null(strstr(err.msg, "recorded by the vault itself"));
    }
    assert_int_equal(tv_vault_log_verify(f.v, NULL, NULL, &err), TV_OK);
    fixture_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_altered_entry),
        cmocka_unit_test(test_deleted_entry),
        cmocka_unit_test(test_truncated_tail),
        cmocka_unit_test(test_head_rolled_back),
        cmocka_unit_test(test_record_and_versions_deleted),
        cmocka_unit_test(test_record_rolled_back),
        cmocka_unit_test(test_mutation_ops_reserved),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
