/*
 * test_agent_unit.c - cmocka tests of the agent's pure parts: the
 * rollout state in a real vault, and the plan's decisions (what is
 * added, changed, the same, removed, missing or absent).  Where the vault
 * is: tests/store/test_unlock.c.
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

#include "plan.h"
#include "state.h"
#include "tv_mem.h"
#include "tv_policy.h"
#include "tv_vault.h"

#define ACCOUNT "0123456789abcdef0123456789abcdef"

static const char policy_text[] =
    "{\"policy\": 1, \"account_id\": \"" ACCOUNT "\","
    " \"tiers\": [{\"name\": \"core\"}, {\"name\": \"payment\"},"
    "            {\"name\": \"ai\", \"enabled\": false}],"
    " \"workers\": [{\"name\": \"w1\", \"secrets\": ["
    "   {\"name\": \"A\", \"tier\": \"core\"},"
    "   {\"name\": \"B\", \"tier\": \"core\", \"required\": false},"
    "   {\"name\": \"C\", \"tier\": \"core\"},"
    "   {\"name\": \"D\", \"tier\": \"core\", \"required\": false},"
    "   {\"name\": \"E\", \"tier\": \"payment\"},"
    "   {\"name\": \"F\", \"tier\": \"ai\"}]}]}";

struct fixture {
    char dir[256];
    struct tv_vault *v;
    struct tv_policy *p;
};

static void
put(struct tv_vault *v, const char *name, const char *value)
{
    struct tv_secret *s = NULL;
    struct tv_error err;
    struct tv_put item = { "w1", name, "core", NULL, NULL, TV_OP_PUT };

    assert_int_equal(tv_secret_dup(&s, value, strlen(value), &err), TV_OK);
    item.value = s;
    assert_int_equal(tv_vault_put(v, &item, 1, NULL, &err), TV_OK);
    tv_secret_free(s);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct tv_secret *key = NULL;
    struct tv_error err;
    struct tv_cred cred = { TV_CRED_KEYFILE, NULL, TV_KDF_INTERACTIVE };
    char keyfile[300], vault[300];
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/agent-unit-XXXXXX",
             tmp != NULL ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(keyfile, sizeof(keyfile), "%s/key", f->dir);
    snprintf(vault, sizeof(vault), "%s/vault", f->dir);
    assert_int_equal(tv_keyfile_create(keyfile, &key, &err), TV_OK);
    cred.secret = key;
    assert_int_equal(tv_vault_init(vault, &cred, 1, "test", &err), TV_OK);
    assert_int_equal(tv_vault_open(&f->v, vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f->v, &cred, &err), TV_OK);
    tv_secret_free(key);
    assert_int_equal(tv_policy_parse(&f->p, policy_text,
                                     sizeof(policy_text) - 1, "unit.json",
                                     &err),
                     TV_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[400];

    tv_vault_close(f->v);
    tv_policy_free(f->p);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void
state_round_trip(void **state)
{
    struct fixture *f = *state;
    cJSON *doc = NULL, *again = NULL, *secrets;
    struct tv_error err;

    assert_int_equal(tv_state_load(f->v, ACCOUNT, "core", &doc, &err), TV_OK);
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "verified"));
    assert_string_equal(tv_state_str(doc, "tier"), "core");
    secrets = tv_state_obj(tv_state_obj(doc, "verified"), "secrets");
    assert_int_equal(
        tv_state_set_secret(secrets, "A", "w1", "A", 3, "00112233aabbccdd"), 0);
    assert_int_equal(tv_state_save(f->v, ACCOUNT, "core", doc, &err), TV_OK);
    assert_int_equal(tv_state_load(f->v, ACCOUNT, "core", &again, &err), TV_OK);
    secrets = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(again, "verified"), "secrets");
    assert_string_equal(
        tv_state_str(cJSON_GetObjectItemCaseSensitive(secrets, "A"), "fp"),
        "00112233aabbccdd");
    assert_int_equal(
        tv_state_num(cJSON_GetObjectItemCaseSensitive(secrets, "A"), "version"),
        3);
    /* Another account's state is another document. */
    cJSON_Delete(again);
    assert_int_equal(tv_state_load(f->v, "ffffffffffffffffffffffffffffffff",
                                   "core", &again, &err),
                     TV_OK);
    assert_null(cJSON_GetObjectItemCaseSensitive(again, "verified"));
    cJSON_Delete(again);
    cJSON_Delete(doc);
}

static void
state_refuses_unknown_format(void **state)
{
    struct fixture *f = *state;
    const char blob[] = "{\"format\": 2, \"tier\": \"core\"}";
    struct tv_error err;
    cJSON *doc = NULL;

    assert_int_equal(tv_vault_state_put(f->v, "rollout/" ACCOUNT "/core", blob,
                                        sizeof(blob) - 1, &err),
                     TV_OK);
    assert_int_equal(tv_state_load(f->v, ACCOUNT, "core", &doc, &err),
                     TV_EFORMAT);
    assert_null(doc);
}

/* Records what a rollout verified: A as now, C and D with old values. */
static void
record_verified(struct fixture *f, const char *a_fp)
{
    cJSON *doc = NULL, *secrets;
    struct tv_error err;

    assert_int_equal(tv_state_load(f->v, ACCOUNT, "core", &doc, &err), TV_OK);
    secrets = tv_state_obj(
        tv_state_obj(tv_state_obj(tv_state_obj(doc, "verified"), "workers"),
                     "w1"),
        "secrets");
    tv_state_set_num(tv_state_obj(doc, "verified"), "time", 1000);
    tv_state_set_secret(secrets, "A", "w1", "A", 1, a_fp);
    tv_state_set_secret(secrets, "C", "w1", "C", 1, "0000000000000000");
    tv_state_set_secret(secrets, "D", "w1", "D", 1, "1111111111111111");
    assert_int_equal(tv_state_save(f->v, ACCOUNT, "core", doc, &err), TV_OK);
    cJSON_Delete(doc);
}

static const struct tv_plan_secret *
find(const struct tv_plan_tier *t, const char *name)
{
    for (size_t i = 0; i < t->workers[0].nsecrets; i++) {
        if (strcmp(t->workers[0].secrets[i].ps->name, name) == 0)
            return &t->workers[0].secrets[i];
    }
    fail_msg("no secret '%s' in the plan", name);
    return NULL;
}

static void
plan_actions(void **state)
{
    struct fixture *f = *state;
    struct tv_record_info rec;
    struct tv_plan *plan = NULL;
    struct tv_error err;
    const struct tv_plan_tier *core;

    put(f->v, "A", "alpha");
    put(f->v, "C", "gamma");
    assert_int_equal(tv_vault_stat(f->v, "w1", "A", &rec, &err), TV_OK);
    record_verified(f, rec.fp);

    assert_int_equal(tv_plan_build(f->p, f->v, ACCOUNT, NULL, &plan, &err),
                     TV_OK);
    /* The disabled tier is left out. */
    assert_int_equal(plan->ntiers, 2);
    core = &plan->tiers[0];
    assert_true(core->verified);
    assert_int_equal(core->verified_time, 1000);
    assert_int_equal(find(core, "A")->action, TV_PLAN_SAME);
    assert_int_equal(find(core, "B")->action, TV_PLAN_ABSENT);
    assert_int_equal(find(core, "C")->action, TV_PLAN_CHANGE);
    assert_string_equal(find(core, "C")->old_fp, "0000000000000000");
    assert_int_equal(find(core, "D")->action, TV_PLAN_REMOVE);
    assert_true(core->workers[0].touched);
    assert_false(core->up_to_date);
    assert_int_equal(core->nmissing, 0);
    /* The payment tier: E is required and not in the vault. */
    assert_int_equal(plan->tiers[1].nmissing, 1);
    assert_int_equal(find(&plan->tiers[1], "E")->action, TV_PLAN_MISSING);
    tv_plan_free(plan);
}

static void
plan_up_to_date_and_through(void **state)
{
    struct fixture *f = *state;
    struct tv_record_info rec;
    struct tv_plan *plan = NULL;
    struct tv_error err;
    static const char *const names[] = { "A", "C" };
    cJSON *doc = NULL, *secrets;

    assert_int_equal(tv_state_load(f->v, ACCOUNT, "core", &doc, &err), TV_OK);
    secrets = tv_state_obj(
        tv_state_obj(tv_state_obj(tv_state_obj(doc, "verified"), "workers"),
                     "w1"),
        "secrets");
    /* Every required secret of the tier verified as it is now. */
    for (size_t i = 0; i < 2; i++) {
        put(f->v, names[i], "value");
        assert_int_equal(tv_vault_stat(f->v, "w1", names[i], &rec, &err),
                         TV_OK);
        tv_state_set_secret(secrets, names[i], "w1", names[i], rec.version,
                            rec.fp);
    }
    assert_int_equal(tv_state_save(f->v, ACCOUNT, "core", doc, &err), TV_OK);

    assert_int_equal(tv_plan_build(f->p, f->v, ACCOUNT, "core", &plan, &err),
                     TV_OK);
    assert_int_equal(plan->ntiers, 1);
    assert_true(plan->tiers[0].up_to_date);
    tv_plan_free(plan);

    /* An unfinished run makes the worker touched again. */
    tv_state_set_str(tv_state_obj(doc, "run"), "phase", "push");
    tv_state_obj(tv_state_obj(tv_state_obj(doc, "run"), "workers"), "w1");
    assert_int_equal(tv_state_save(f->v, ACCOUNT, "core", doc, &err), TV_OK);
    assert_int_equal(tv_plan_build(f->p, f->v, ACCOUNT, "core", &plan, &err),
                     TV_OK);
    assert_false(plan->tiers[0].up_to_date);
    assert_true(plan->tiers[0].workers[0].touched);
    assert_false(plan->tiers[0].workers[0].pushed);
    tv_plan_free(plan);
    cJSON_Delete(doc);

    assert_int_equal(tv_plan_build(f->p, f->v, ACCOUNT, "ai", &plan, &err),
                     TV_EUSAGE);
    assert_int_equal(tv_plan_build(f->p, f->v, ACCOUNT, "nope", &plan, &err),
                     TV_EUSAGE);
    assert_null(plan);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(state_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(state_refuses_unknown_format, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(plan_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(plan_up_to_date_and_through, setup,
                                        teardown),
    };
    struct tv_error err;

    if (tv_harden(&err) != TV_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
