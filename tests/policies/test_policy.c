/*
 * test_policy.c - the policy reader: the corpus of valid and invalid
 * policies (each invalid one with its exact expected message in a .err
 * file beside it), the defaults, the waves and the JSON-with-comments
 * reader.  Usage: test_policy CORPUS_DIR
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tv_jsonc.h"
#include "tv_policy.h"

static const char *corpus;

static char *
slurp(const char *path, size_t *len)
{
    struct tv_error err;
    char *buf = NULL;

    if (tv_file_read(path, TV_CONFIG_MAX, &buf, len, &err) != TV_OK)
        fail_msg("%s", err.msg);
    return buf;
}

static int
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void
test_corpus_valid(void **state)
{
    char dir[1024], path[1200];
    struct tv_policy *p;
    struct tv_error err;
    struct dirent *de;
    int count = 0, bad = 0;
    DIR *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/valid", corpus);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (!has_suffix(de->d_name, ".json"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (tv_policy_load(&p, path, &err) != TV_OK) {
            print_error("valid policy refused: %s\n", err.msg);
            bad++;
        } else {
            tv_policy_free(p);
        }
        count++;
    }
    closedir(d);
    assert_true(count >= 5);
    assert_int_equal(bad, 0);
}

/* Runs one invalid policy; 1 when it fails with exactly its .err text. */
static int
check_invalid(const char *dir, const char *file)
{
    char path[1200], want[TV_ERROR_MSG_MAX + 2];
    struct tv_policy *p = NULL;
    struct tv_error err;
    enum tv_status rc;
    size_t len, wlen;
    char *text, *expect;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    text = slurp(path, &len);
    snprintf(path + strlen(path) - 5, 5, ".err");
    expect = slurp(path, &wlen);
    snprintf(want, sizeof(want), "%s", expect);
    want[strcspn(want, "\n")] = '\0';
    rc = tv_policy_parse(&p, text, len, "policy.json", &err);
    free(text);
    free(expect);
    if (rc == TV_OK) {
        print_error("%s: accepted, expected: %s\n", file, want);
        tv_policy_free(p);
        return 0;
    }
    if (rc != TV_EINPUT || strcmp(err.msg, want) != 0) {
        print_error("%s:\n  got:  %s\n  want: %s\n", file, err.msg, want);
        return 0;
    }
    return 1;
}

static void
test_corpus_invalid(void **state)
{
    struct dirent *de;
    char dir[1024];
    int count = 0, bad = 0;
    DIR *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/invalid", corpus);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (!has_suffix(de->d_name, ".json"))
            continue;
        bad += !check_invalid(dir, de->d_name);
        count++;
    }
    closedir(d);
    assert_true(count >= 90);
    assert_int_equal(bad, 0);
}

static struct tv_policy *
parse_ok(const char *text)
{
    struct tv_policy *p = NULL;
    struct tv_error err;

    if (tv_policy_parse(&p, text, strlen(text), "dir/p.json", &err) != TV_OK)
        fail_msg("refused: %s", err.msg);
    return p;
}

static void
test_defaults(void **state)
{
    struct tv_policy *p;
    const struct tv_worker *w;
    const struct tv_probe *pr;

    (void)state;
    p = parse_ok("{\"policy\": 1, \"tiers\": [{\"name\": \"core\"}, "
                 "{\"name\": \"pay\"}], \"workers\": [{\"name\": \"w\", "
                 "\"secrets\": [{\"name\": \"K\", \"tier\": \"pay\"}], "
                 "\"verify\": [{\"kind\": \"http\", \"url\": "
                 "\"https://w.example/\"}]}]}");
    assert_int_equal(p->format, 1);
    assert_null(p->account_id);
    assert_int_equal(p->ntiers, 2);
    assert_true(p->tiers[0].enabled && p->tiers[1].enabled);
    assert_int_equal(p->strategy, TV_STRATEGY_BULK);
    assert_int_equal(p->on_failure, TV_ON_FAILURE_ROLLBACK);
    assert_int_equal(p->concurrency, 4);
    assert_string_equal(p->path, "dir/p.json");
    assert_string_equal(p->dir, "dir");
    w = &p->workers[0];
    assert_string_equal(w->service, "w");
    assert_int_equal(w->nbindings + w->nafter, 0);
    assert_int_equal(w->wave, 0);
    assert_int_equal(p->nwaves, 1);
    assert_string_equal(w->secrets[0].from_service, "w");
    assert_string_equal(w->secrets[0].from_name, "K");
    assert_string_equal(w->secrets[0].tier, "pay");
    assert_int_equal(w->secrets[0].tier_idx, 1);
    assert_int_equal(w->secrets[0].required, 1);
    assert_int_equal(w->secrets[0].max_age_days, 0);
    pr = &w->probes[0];
    assert_int_equal(pr->kind, TV_PROBE_HTTP);
    assert_int_equal(pr->tier_idx, 0);
    assert_string_equal(pr->method, "GET");
    assert_int_equal(pr->expect_status, 200);
    assert_null(pr->expect_body);
    assert_int_equal(pr->timeout_ms, 5000);
    assert_int_equal(pr->attempts, 5);
    assert_int_equal(pr->interval_ms, 1000);
    assert_null(pr->secret);
    tv_policy_free(p);
}

static void
test_explicit_values(void **state)
{
    char path[1200];
    struct tv_policy *p;
    struct tv_error err;
    const struct tv_worker *w;

    (void)state;
    snprintf(path, sizeof(path), "%s/valid/design.json", corpus);
    assert_int_equal(tv_policy_load(&p, path, &err), TV_OK);
    assert_string_equal(p->account_id, "0123456789abcdef0123456789abcdef");
    assert_false(p->tiers[2].enabled);
    w = &p->workers[tv_policy_worker_index(p, "node9-payment-service")];
    assert_string_equal(w->secrets[0].from_service, "shared");
    assert_string_equal(w->secrets[0].from_name, "INTERNAL_TOKEN");
    assert_int_equal(w->secrets[1].max_age_days, 90);
    assert_int_equal(w->secrets[2].required, 0);
    assert_int_equal(w->probes[1].kind, TV_PROBE_STRIPE_WEBHOOK);
    assert_int_equal(w->probes[1].tier_idx, 1);
    assert_int_equal(w->probes[1].secret_idx, 1);
    assert_int_equal(w->binding_idx[0], 0);
    assert_int_equal(w->wave, 1);
    assert_int_equal(p->nd1, 1);
    assert_string_equal(p->d1[0].migrations[0], "0001_init.sql");
    assert_null(p->d1[0].migrations_dir);
    assert_string_equal(p->d1[0].migrations_table, "d1_migrations");
    assert_int_equal(tv_policy_tier_index(p, "payment"), 1);
    assert_int_equal(tv_policy_tier_index(p, "paymnet"), -1);
    assert_int_equal(tv_policy_worker_index(p, "nope"), -1);
    tv_policy_free(p);
}

static void
test_waves(void **state)
{
    static const struct {
        const char *worker;
        size_t wave;
    } want[] = {
        { "db-proxy", 0 }, { "auth", 1 }, { "api", 2 },
        { "edge", 3 },     { "cron", 4 }, { "solo", 0 },
    };
    char path[1200], dir[1200];
    struct tv_policy *p;
    struct tv_error err;
    size_t i;

    (void)state;
    snprintf(path, sizeof(path), "%s/valid/chain.json", corpus);
    assert_int_equal(tv_policy_load(&p, path, &err), TV_OK);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        long k = tv_policy_worker_index(p, want[i].worker);
        assert_true(k >= 0);
        assert_int_equal(p->workers[k].wave, want[i].wave);
    }
    assert_int_equal(p->nwaves, 5);
    assert_int_equal(p->strategy, TV_STRATEGY_STAGED);
    assert_int_equal(p->on_failure, TV_ON_FAILURE_STOP);
    assert_int_equal(p->concurrency, 64);
    snprintf(dir, sizeof(dir), "%s/valid/migrations", corpus);
    assert_string_equal(p->d1[0].migrations_dir, dir);
    assert_string_equal(p->d1[0].database_id,
                        "a1b2c3d4-0000-4000-8000-000000000001");
    assert_string_equal(p->d1[0].name, "main");
    assert_string_equal(p->d1[0].migrations_table, "schema_migrations");
    assert_int_equal(p->d1[1].nmigrations, 0);
    tv_policy_free(p);
}

static void
test_strings_keep_comment_markers(void **state)
{
    char path[1200];
    struct tv_policy *p;
    struct tv_error err;

    (void)state;
    snprintf(path, sizeof(path), "%s/valid/strings.json", corpus);
    assert_int_equal(tv_policy_load(&p, path, &err), TV_OK);
    assert_string_equal(p->workers[0].probes[0].url,
                        "https://web.acme.workers.dev/health?q=//x/*y*/");
    assert_string_equal(p->workers[0].probes[0].expect_body,
                        "say \"ok\", // not a comment, /* nor this */ ,]");
    tv_policy_free(p);
}

static void
test_migrations_dir_resolution(void **state)
{
    static const char *const cases[][3] = {
        { "p.json", "./db/migrations", "db/migrations" },
        { "conf/p.json", "migrations", "conf/migrations" },
        { "conf/p.json", "/srv/m", "/srv/m" },
        { "/etc/tv/p.json", "./m", "/etc/tv/m" },
    };
    char text[512];
    struct tv_policy *p;
    struct tv_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"policy\":1,\"tiers\":[{\"name\":\"core\"}],"
                 "\"workers\":[{\"name\":\"w\"}],\"d1\":[{\"database_id\":"
                 "\"6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\","
                 "\"migrations_dir\":\"%s\"}]}",
                 cases[i][1]);
        assert_int_equal(
            tv_policy_parse(&p, text, strlen(text), cases[i][0], &err), TV_OK);
        assert_string_equal(p->d1[0].migrations_dir, cases[i][2]);
        tv_policy_free(p);
    }
}

static void
expect_jsonc_error(const char *text, const char *msg)
{
    struct tv_error err;
    cJSON *j = NULL;

    assert_int_equal(tv_jsonc_parse(text, strlen(text), "f", &j, &err),
                     TV_EINPUT);
    assert_null(j);
    assert_string_equal(err.msg, msg);
}

static void
test_jsonc(void **state)
{
    struct tv_error err;
    cJSON *j = NULL;
    const char *text = "// head\n{\"a\": [1, 2,], /* x */ \"b\": "
                       "{\"c\": \"/*\",},}\n";

    (void)state;
    assert_int_equal(tv_jsonc_parse(text, strlen(text), "f", &j, &err), TV_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "a")), 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "b"), "c")->valuestring,
        "/*");
    cJSON_Delete(j);

    expect_jsonc_error("{\n  // ok\n  \"a\": 1 2\n}",
                       "f:3:10: invalid JSON near "
                       "'2'");
    text = "\xef\xbb\xbf{\"a\": 1}";
    assert_int_equal(tv_jsonc_parse(text, strlen(text), "f", &j, &err), TV_OK);
    cJSON_Delete(j);
    expect_jsonc_error("\xef\xbb\xbf{\"a\" 1}", "f:1:9: invalid JSON near '1'");
    expect_jsonc_error("[1,,]", "f:1:4: invalid JSON near ','");
    expect_jsonc_error("{,}", "f:1:3: invalid JSON near '}'");
    expect_jsonc_error("", "f:1:1: invalid JSON: unexpected end");
    expect_jsonc_error("{} /", "f:1:4: invalid JSON near '/'");
    expect_jsonc_error("\n\n  /* never closed", "f:3:3: unterminated comment");
    expect_jsonc_error("{\"a\": {\"b\": 1, \"b\": 2}}",
                       "f: a: duplicate key \"b\"");
    expect_jsonc_error("{\"x y\": [{\"k\": 1, \"k\": 1}]}",
                       "f: [\"x y\"][0]: duplicate key \"k\"");
    expect_jsonc_error("{\"a\": 1, \"b\": 2, \"a\": 3, \"b\": 4}",
                       "f: duplicate key \"a\"");
}

static void
test_jsonc_nul_byte(void **state)
{
    static const char text[] = "{\"a\":\0 1}";

    (void)state;
    {
        struct tv_error err;
        cJSON *j = NULL;

        assert_int_equal(tv_jsonc_parse(text, sizeof(text) - 1, "f", &j, &err),
                         TV_EINPUT);
        assert_string_equal(err.msg, "f:1:6: NUL byte");
    }
}

static void
test_quote(void **state)
{
    char buf[96], big[200];

    (void)state;
    assert_string_equal(tv_json_quote(buf, sizeof(buf), "a\"b\\c\n\x01\xc3"),
                        "\"a\\\"b\\\\c\\n\\x01\\xc3\"");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    tv_json_quote(buf, sizeof(buf), big);
    assert_int_equal(strlen(buf), 1 + 64 + 3 + 1);
    assert_string_equal(buf + 65, "...\"");
}

static void
test_pretty(void **state)
{
    const char *text =
        "{\"a\":[1,2.5,\"x\\\"\\n\"],\"b\":{},\"c\":[],\"d\":true,"
        "\"e\":null,\"f\":{\"g\":{\"h\":1}},\"long\":[\"aaaaaaaaaaaaaaaa\","
        "\"bbbbbbbbbbbbbbbb\",\"cccccccccccccccc\",\"dddddddddddddddd\"]}";
    cJSON *j = cJSON_Parse(text);
    char *s;

    (void)state;
    assert_non_null(j);
    s = tv_json_pretty(j);
    assert_string_equal(s, "{\n"
                           "  \"a\": [1, 2.5, \"x\\\"\\n\"],\n"
                           "  \"b\": {},\n"
                           "  \"c\": [],\n"
                           "  \"d\": true,\n"
                           "  \"e\": null,\n"
                           "  \"f\": {\n"
                           "    \"g\": {\"h\": 1}\n"
                           "  },\n"
                           "  \"long\": [\n"
                           "    \"aaaaaaaaaaaaaaaa\",\n"
                           "    \"bbbbbbbbbbbbbbbb\",\n"
                           "    \"cccccccccccccccc\",\n"
                           "    \"dddddddddddddddd\"\n"
                           "  ]\n"
                           "}\n");
    free(s);
    cJSON_Delete(j);
}

static void
test_fill_summary(void **state)
{
    struct tv_tier_fill t[3];
    struct tv_fill f[4];
    struct tv_policy *p;

    (void)state;
    p = parse_ok("{\"policy\":1,\"tiers\":[{\"name\":\"core\"},{\"name\":"
                 "\"pay\"},{\"name\":\"ai\",\"enabled\":false}],\"workers\":"
                 "[{\"name\":\"w\",\"secrets\":[{\"name\":\"A\",\"tier\":"
                 "\"core\"},{\"name\":\"B\",\"tier\":\"pay\"},{\"name\":\"C\","
                 "\"tier\":\"pay\",\"required\":false},{\"name\":\"D\","
                 "\"tier\":\"ai\"}]}]}");
    memset(f, 0, sizeof(f));
    for (size_t i = 0; i < 4; i++)
        f[i].secret_idx = i;
    f[0].state = TV_FILL_FILLED;
    f[1].state = TV_FILL_STALE;
    f[2].state = TV_FILL_FILLED;
    f[3].state = TV_FILL_MISSING;
    assert_int_equal(tv_policy_fill_summary(p, f, 4, t), 0);
    assert_int_equal(t[0].required, 1);
    assert_int_equal(t[0].required_filled, 1);
    assert_true(t[0].ready);
    assert_int_equal(t[1].total, 2);
    assert_int_equal(t[1].filled, 1);
    assert_int_equal(t[1].required, 1);
    assert_int_equal(t[1].required_filled, 0);
    assert_false(t[1].ready);
    assert_false(t[2].ready);

    /* A disabled tier does not hold the whole policy back. */
    f[1].state = TV_FILL_FILLED;
    assert_int_equal(tv_policy_fill_summary(p, f, 4, t), 1);
    assert_false(t[2].ready);
    tv_policy_free(p);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_valid),
        cmocka_unit_test(test_corpus_invalid),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_explicit_values),
        cmocka_unit_test(test_waves),
        cmocka_unit_test(test_strings_keep_comment_markers),
        cmocka_unit_test(test_migrations_dir_resolution),
        cmocka_unit_test(test_jsonc),
        cmocka_unit_test(test_jsonc_nul_byte),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_pretty),
        cmocka_unit_test(test_fill_summary),
    };

    if (argc != 2) {
        fprintf(stderr, "usage: test_policy CORPUS_DIR\n");
        return 2;
    }
    corpus = argv[1];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
