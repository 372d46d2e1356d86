/*
 * test_opts.c - unit tests of the strict option parser (cli/opts.c):
 * long options with and without '=', short flag clusters, repeats, `--`,
 * and the checked number parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "opts.h"

enum { O_TIER, O_JSON, O_QUIET, O_NOTE };

static const struct cli_opt opts[] = {
    [O_TIER] = { "tier", 0, 1, 1 },
    [O_JSON] = { "json", 0, 0, 0 },
    [O_QUIET] = { "quiet", 'q', 0, 0 },
    [O_NOTE] = { "note", 0, 1, 0 },
};

/* Writable copies of a test's words, as a real argv is. */
struct words {
    char *v[16];
    int n;
};

static int
parse(const char *const *src, struct words *w, struct cli_args *a, char *why)
{
    for (w->n = 0; src[w->n] != NULL; w->n++)
        assert_non_null(w->v[w->n] = strdup(src[w->n]));
    w->v[w->n] = NULL;
    return cli_args_parse(opts, 4, w->n, w->v, a, why, 128);
}

static void
words_free(struct words *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->v[i]);
    w->n = 0;
}

static void
test_values_and_operands(void **state)
{
    const char *argv[] = { "svc",  "--tier", "core",   "--tier=ai",
                           "NAME", "--json", "-q",     "--note=",
                           "--",   "cmd",    "--tier", NULL };
    struct words w;
    struct cli_args a;
    char why[128] = "";

    (void)state;
    assert_int_equal(parse(argv, &w, &a, why), 0);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[0], "svc");
    assert_string_equal(a.pos[1], "NAME");
    assert_int_equal(a.opt[O_TIER].count, 2);
    assert_string_equal(a.opt[O_TIER].values[0], "core");
    assert_string_equal(a.opt[O_TIER].values[1], "ai");
    assert_int_equal(a.opt[O_JSON].count, 1);
    assert_int_equal(a.opt[O_QUIET].count, 1);
    assert_string_equal(a.opt[O_NOTE].value, "");
    assert_int_equal(a.nrest, 2);
    assert_string_equal(a.rest[0], "cmd");
    assert_string_equal(a.rest[1], "--tier");
    assert_int_equal(a.help, 0);
    cli_args_free(&a);
    words_free(&w);
}

static void
expect_refused(const char *const *argv, const char *why_expected)
{
    struct words w;
    struct cli_args a;
    char why[128] = "";

    assert_int_equal(parse(argv, &w, &a, why), -1);
    assert_string_equal(why, why_expected);
    cli_args_free(&a);
    words_free(&w);
}

static void
test_refusals(void **state)
{
    const char *twice[] = { "--json", "--json", NULL };
    const char *note_twice[] = { "--note", "a", "--note=b", NULL };
    const char *unknown[] = { "--jsn", NULL };
    const char *unknown_short[] = { "-x", NULL };
    const char *no_value[] = { "--note", NULL };
    const char *flag_value[] = { "--json=1", NULL };

    (void)state;
    expect_refused(twice, "option '--json' given twice");
    expect_refused(note_twice, "option '--note' given twice");
    expect_refused(unknown, "unknown option '--jsn'");
    expect_refused(unknown_short, "unknown option '-x'");
    expect_refused(no_value, "option '--note' needs a value");
    expect_refused(flag_value, "option '--json' takes no value");
}

static void
test_help_and_dash(void **state)
{
    const char *bogus[] = { "--bogus", NULL };
    const char *h[] = { "x", "-h", "--bogus", NULL };
    const char *dash[] = { "-", NULL };
    struct words w;
    struct cli_args a;
    char why[128];

    (void)state;
    assert_int_equal(parse(bogus, &w, &a, why), -1);
    cli_args_free(&a);
    words_free(&w);
    assert_int_equal(parse(h, &w, &a, why), 0);
    assert_int_equal(a.help, 1);
    cli_args_free(&a);
    words_free(&w);
    assert_int_equal(parse(dash, &w, &a, why), 0);
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "-");
    cli_args_free(&a);
    words_free(&w);
}

static void
test_u32(void **state)
{
    uint32_t n = 7;

    (void)state;
    assert_int_equal(cli_parse_u32("0", 0, 10, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cli_parse_u32("4294967295", 1, UINT32_MAX, &n), 0);
    assert_int_equal(n, UINT32_MAX);
    assert_int_equal(cli_parse_u32("4294967296", 1, UINT32_MAX, &n), -1);
    assert_int_equal(cli_parse_u32("99999999999999999999", 0, UINT32_MAX, &n),
                     -1);
    assert_int_equal(cli_parse_u32("", 0, 10, &n), -1);
    assert_int_equal(cli_parse_u32("01", 0, 10, &n), -1);
    assert_int_equal(cli_parse_u32("+1", 0, 10, &n), -1);
    assert_int_equal(cli_parse_u32("-1", 0, 10, &n), -1);
    assert_int_equal(cli_parse_u32(" 1", 0, 10, &n), -1);
    assert_int_equal(cli_parse_u32("1 ", 0, 10, &n), -1);
    assert_int_equal(cli_parse_u32("11", 0, 10, &n), -1);
    assert_int_equal(cli_parse_u32("0", 1, 10, &n), -1);
    assert_int_equal(n, UINT32_MAX);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_operands),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_help_and_dash),
        cmocka_unit_test(test_u32),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
