/*
 * test_wrangler.c - policy init's pieces: tier rules, configuration
 * lookup, the .dev.vars name reader, and whole policies built from the
 * example Wrangler tree and from broken configurations.
 * Usage: test_wrangler SOURCE_ROOT (the test runs from there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tv_jsonc.h"
#include "tv_policy.h"
#include "tv_wrangler.h"

#define EX "policies/examples/wrangler/"
#define FX "tests/policies/wrangler/"

struct warnings {
    char msg[8][TV_ERROR_MSG_MAX];
    int n;
};

static void
collect(void *ctx, const char *msg)
{
    struct warnings *w = ctx;

    if (w->n < 8)
        snprintf(w->msg[w->n++], TV_ERROR_MSG_MAX, "%s", msg);
}

static void
test_tier_rules(void **state)
{
    struct tv_tier_rule r[2];
    struct tv_error err;

    (void)state;
    assert_string_equal(tv_tier_for(NULL, 0, "STRIPE_SECRET_KEY"), "payment");
    assert_string_equal(tv_tier_for(NULL, 0, "CREEM_API_KEY"), "payment");
    assert_string_equal(tv_tier_for(NULL, 0, "OPENAI_API_KEY"), "ai");
    assert_string_equal(tv_tier_for(NULL, 0, "JWT_SECRET"), "core");
    assert_string_equal(tv_tier_for(NULL, 0, "MY_STRIPE_KEY"), "core");

    assert_int_equal(tv_tier_rule_parse("STRIPE_PRICE_*=catalog", &r[0], &err),
                     TV_OK);
    assert_string_equal(r[0].glob, "STRIPE_PRICE_*");
    assert_string_equal(r[0].tier, "catalog");
    assert_int_equal(tv_tier_rule_parse("*_[0-9]=numbered", &r[1], &err),
                     TV_OK);
    /* user rules come before the built-in ones */
    assert_string_equal(tv_tier_for(r, 2, "STRIPE_PRICE_ID"), "catalog");
    assert_string_equal(tv_tier_for(r, 2, "STRIPE_SECRET_KEY"), "payment");
    assert_string_equal(tv_tier_for(r, 2, "KEY_7"), "numbered");

    assert_int_equal(tv_tier_rule_parse("=core", &r[0], &err), TV_EINPUT);
    assert_string_equal(err.msg, "tier rule '=core' is not GLOB=TIER");
    assert_int_equal(tv_tier_rule_parse("STRIPE_*", &r[0], &err), TV_EINPUT);
    assert_int_equal(tv_tier_rule_parse("X=Payment", &r[0], &err), TV_EINPUT);
    assert_string_equal(err.msg, "tier rule 'X=Payment': invalid tier "
                                 "'Payment' ([a-z][a-z0-9_-]{0,31})");
    assert_int_equal(tv_tier_rule_parse("X=", &r[0], &err), TV_EINPUT);
}

static void
expect_find(const char *from, const char *want)
{
    struct tv_error err;
    char *path = NULL;

    assert_int_equal(tv_wrangler_find(from, &path, &err), TV_OK);
    assert_string_equal(path, want);
    free(path);
}

static void
test_find(void **state)
{
    struct tv_error err;
    char *path = NULL;

    (void)state;
    expect_find(FX "order/json", FX "order/json/wrangler.json");
    expect_find(FX "order/json/", FX "order/json/wrangler.json");
    expect_find(FX "order/jsonc", FX "order/jsonc/wrangler.jsonc");
    expect_find(EX "auth", EX "auth/wrangler.toml");
    expect_find(FX "order/json/wrangler.toml", FX "order/json/wrangler.toml");
    assert_int_equal(tv_wrangler_find(FX "dotenv", &path, &err), TV_ENOTFOUND);
    assert_string_equal(err.msg, "no wrangler.json, wrangler.jsonc or "
                                 "wrangler.toml in '" FX "dotenv'");
    assert_int_equal(tv_wrangler_find(FX "nope", &path, &err), TV_ENOTFOUND);
}

static void
test_dotenv_names(void **state)
{
    static const char *const want[] = { "ALPHA", "BETA",    "GAMMA",
                                        "DELTA", "EPSILON", "ZETA" };
    struct tv_error err;
    cJSON *names = NULL;
    size_t i;

    (void)state;
    assert_int_equal(tv_dotenv_names(FX "dotenv/ok.env", &names, &err), TV_OK);
    assert_int_equal(cJSON_GetArraySize(names), 6);
    for (i = 0; i < 6; i++)
        assert_string_equal(cJSON_GetArrayItem(names, (int)i)->valuestring,
                            want[i]);
    cJSON_Delete(names);

    assert_int_equal(
        tv_dotenv_names(FX "dotenv/unterminated.env", &names, &err), TV_EINPUT);
    assert_string_equal(err.msg, FX "dotenv/unterminated.env:3: "
                                    "unterminated quoted value");
    assert_int_equal(tv_dotenv_names(FX "dotenv/bad-line.env", &names, &err),
                     TV_EINPUT);
    assert_string_equal(err.msg, FX "dotenv/bad-line.env:2: expected "
                                    "NAME=value");
    assert_int_equal(tv_dotenv_names(FX "dotenv/no-name.env", &names, &err),
                     TV_EINPUT);
    assert_string_equal(err.msg, FX "dotenv/no-name.env:2: expected "
                                    "NAME=value");
    assert_int_equal(tv_dotenv_names(FX "dotenv/none.env", &names, &err),
                     TV_ENOTFOUND);
}

static enum tv_status
build(const char *const *from, size_t n, const char *env,
      const struct tv_tier_rule *rules, size_t nrules, struct warnings *w,
      cJSON **out, struct tv_error *err)
{
    struct tv_wrangler_opts o = { from, n, env, rules, nrules, collect, w };

    return tv_wrangler_policy(&o, out, err);
}

static const cJSON *
worker(const cJSON *doc, const char *name)
{
    const cJSON *w;

    cJSON_ArrayForEach(w, cJSON_GetObjectItem(doc, "workers"))
    {
        if (strcmp(cJSON_GetObjectItem(w, "name")->valuestring, name) == 0)
            return w;
    }
    fail_msg("no worker %s", name);
    return NULL;
}

/* "NAME:tier:req NAME:tier:req ..." of a worker's secrets. */
static void
secrets_of(const cJSON *w, char *buf, size_t cap)
{
    const cJSON *s;
    size_t o = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(w, "secrets"))
    {
        o += (size_t)snprintf(
            buf + o, cap - o, "%s%s:%s:%s", o ? " " : "",
            cJSON_GetObjectItem(s, "name")->valuestring,
            cJSON_GetObjectItem(s, "tier")->valuestring,
            cJSON_IsTrue(cJSON_GetObjectItem(s, "required")) ? "req" : "opt");
    }
}

static char *
bindings_of(const cJSON *w)
{
    const cJSON *b = cJSON_GetObjectItem(w, "bindings");

    return b ? cJSON_PrintUnformatted(b) : strdup("none");
}

static void
check_bindings(const cJSON *w, const char *want)
{
    char *got = bindings_of(w);

    assert_string_equal(got, want);
    free(got);
}

static void
test_example_tree(void **state)
{
    static const char *const from[] = { EX "auth", EX "gateway",
                                        EX "payments" };
    struct warnings w = { 0 };
    struct tv_error err;
    cJSON *doc = NULL;
    char buf[1024], *text;

    (void)state;
    assert_int_equal(build(from, 3, NULL, NULL, 0, &w, &doc, &err), TV_OK);
    assert_string_equal(cJSON_GetObjectItem(doc, "account_id")->valuestring,
                        "8d4f0c1e2b3a49567890abcdef123456");
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "tiers"));
    assert_string_equal(text, "[{\"name\":\"core\"},{\"name\":\"payment\"},"
                              "{\"name\":\"ai\"}]");
    free(text);

    secrets_of(worker(doc, "node1-auth-service"), buf, sizeof(buf));
    /* SESSION_TTL is a plain var in wrangler.toml, not a secret */
    assert_string_equal(buf, "JWT_SECRET:core:req INTERNAL_TOKEN:core:req");
    check_bindings(worker(doc, "node1-auth-service"), "none");

    secrets_of(worker(doc, "node2-gateway"), buf, sizeof(buf));
    assert_string_equal(buf, "INTERNAL_TOKEN:core:req");
    check_bindings(worker(doc, "node2-gateway"),
                   "[\"node1-auth-service\",\"node9-payment-service\","
                   "\"node3-users-service\"]");

    secrets_of(worker(doc, "node9-payment-service"), buf, sizeof(buf));
    assert_string_equal(
        buf, "STRIPE_SECRET_KEY:payment:req STRIPE_WEBHOOK_SECRET:payment:req "
             "CREEM_API_KEY:payment:req CREEM_WEBHOOK_SECRET:payment:req "
             "INTERNAL_TOKEN:core:req RECEIPT_SIGNING_KEY:core:opt "
             "OPENAI_API_KEY:ai:opt");

    /* the binding target no configuration defines is added, with a word */
    assert_null(
        cJSON_GetObjectItem(worker(doc, "node3-users-service"), "secrets"));
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "'node2-gateway' binds to "
                                  "'node3-users-service', which no given "
                                  "configuration defines: added it without "
                                  "secrets");

    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "d1"));
    assert_string_equal(
        text, "[{\"database_id\":\"3b9e2c71-5a0d-4f6e-9c8b-1d2e3f4a5b6c\","
              "\"name\":\"auth\",\"migrations_dir\":\"" EX "auth/migrations\"},"
              "{\"database_id\":\"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\","
              "\"name\":\"payments\",\"migrations_dir\":\"" EX
              "payments/migrations\"}]");
    free(text);

    /* names only: no value of a .dev.vars reaches the policy */
    text = cJSON_PrintUnformatted(doc);
    assert_null(strstr(text, "placeholder"));
    assert_null(strstr(text, "NOT_A_NAME"));
    free(text);
    cJSON_Delete(doc);
}

static void
test_example_env(void **state)
{
    static const char *const from[] = { EX "auth/wrangler.toml", EX "gateway",
                                        EX "payments/wrangler.json" };
    struct tv_tier_rule rule;
    struct warnings w = { 0 };
    struct tv_error err;
    cJSON *doc = NULL;
    char buf[1024], *text;

    (void)state;
    assert_int_equal(tv_tier_rule_parse("INTERNAL_*=internal", &rule, &err),
                     TV_OK);
    assert_int_equal(build(from, 3, "staging", &rule, 1, &w, &doc, &err),
                     TV_OK);
    assert_int_equal(w.n, 0);
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "tiers"));
    assert_string_equal(text, "[{\"name\":\"core\"},{\"name\":\"internal\"},"
                              "{\"name\":\"payment\"},{\"name\":\"ai\"}]");
    free(text);
    /* the auth worker reads .dev.vars.staging, which has no SESSION_TTL */
    secrets_of(worker(doc, "node1-auth-service-staging"), buf, sizeof(buf));
    assert_string_equal(buf, "JWT_SECRET:core:req INTERNAL_TOKEN:internal:req");
    check_bindings(worker(doc, "node2-gateway-staging"),
                   "[\"node1-auth-service-staging\","
                   "\"node9-payment-service-staging\"]");
    /* payments has no .dev.vars.staging: .dev.vars, names not required */
    secrets_of(worker(doc, "node9-payment-service-staging"), buf, sizeof(buf));
    assert_string_equal(
        buf, "STRIPE_SECRET_KEY:payment:req STRIPE_WEBHOOK_SECRET:payment:req "
             "CREEM_API_KEY:payment:opt CREEM_WEBHOOK_SECRET:payment:opt "
             "INTERNAL_TOKEN:internal:opt RECEIPT_SIGNING_KEY:core:opt "
             "OPENAI_API_KEY:ai:opt");
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "d1"));
    assert_string_equal(
        text, "[{\"database_id\":\"7c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5\","
              "\"name\":\"auth-staging\",\"migrations_dir\":\"" EX
              "auth/migrations\"}]");
    free(text);
    cJSON_Delete(doc);
}

static void
expect_fail(const char *const *from, size_t n, const char *env, const char *msg)
{
    struct warnings w = { 0 };
    struct tv_error err;
    cJSON *doc = NULL;

    assert_int_equal(build(from, n, env, NULL, 0, &w, &doc, &err), TV_EINPUT);
    assert_null(doc);
    assert_string_equal(err.msg, msg);
}

static void
test_refused(void **state)
{
    static const char *const bad_toml[] = { FX "bad-toml" };
    static const char *const no_name[] = { FX "no-name" };
    static const char *const accounts[] = { EX "auth", FX "other-account" };
    static const char *const twice[] = { EX "auth", EX "auth/wrangler.toml" };
    static const char *const cycle[] = { FX "cycle-a", FX "cycle-b" };
    static const char *const auth[] = { EX "auth" };
    struct tv_error err;
    cJSON *doc = NULL;

    (void)state;
    {
        struct warnings w = { 0 };

        assert_int_equal(build(bad_toml, 1, NULL, NULL, 0, &w, &doc, &err),
                         TV_EINPUT);
        assert_non_null(strstr(err.msg, FX "bad-toml/wrangler.toml:3:"));
    }
    expect_fail(no_name, 1, NULL, FX "no-name/wrangler.json: no \"name\"");
    expect_fail(accounts, 2, NULL,
                "account_id differs: '" EX "auth/wrangler.toml' has "
                "8d4f0c1e2b3a49567890abcdef123456, '" FX
                "other-account/wrangler.json' has "
                "ffffffffffffffffffffffffffffffff");
    expect_fail(twice, 2, NULL,
                "worker 'node1-auth-service' is defined by both '" EX
                "auth/wrangler.toml' and '" EX "auth/wrangler.toml'");
    expect_fail(cycle, 2, NULL,
                "generated policy: workers[1].bindings[0]: cycle: cycle-a -> "
                "cycle-b -> cycle-a");
    expect_fail(auth, 1, "prod",
                EX "auth/wrangler.toml: no environment \"prod\" (env.prod)");
}

static void
test_self_binding(void **state)
{
    static const char *const from[] = { FX "self" };
    struct warnings w = { 0 };
    struct tv_error err;
    cJSON *doc = NULL;

    (void)state;
    assert_int_equal(build(from, 1, NULL, NULL, 0, &w, &doc, &err), TV_OK);
    check_bindings(worker(doc, "self"), "none");
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "'" FX "self/wrangler.json': services[0] "
                                  "binds 'self' to itself: left out");
    cJSON_Delete(doc);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tier_rules),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_dotenv_names),
        cmocka_unit_test(test_example_tree),
        cmocka_unit_test(test_example_env),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_self_binding),
    };

    if (argc != 2 || chdir(argv[1]) != 0) {
        fprintf(stderr, "usage: test_wrangler SOURCE_ROOT\n");
        return 2;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
