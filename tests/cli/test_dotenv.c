/*
 * test_dotenv.c - unit tests of the `.dev.vars` parser (cli/dotenv.c):
 * what each syntax decodes to, the line of every error, and that a
 * failed parse keeps nothing and never quotes a value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dotenv.h"

static enum tv_status
parse(const char *text, struct tv_dotenv *d, struct tv_error *err)
{
    return tv_dotenv_parse((const unsigned char *)text, strlen(text), "t.env",
                           d, err);
}

static void
expect(const struct tv_dotenv *d, size_t i, const char *name, const char *value,
       size_t line)
{
    assert_true(i < d->n);
    assert_string_equal(d->entries[i].name, name);
    assert_int_equal(d->entries[i].value.len, strlen(value));
    assert_memory_equal(d->entries[i].value.data, value, strlen(value));
    assert_int_equal(d->entries[i].value.data[strlen(value)], 0);
    assert_int_equal(d->entries[i].line, line);
}

static void
expect_error(const char *text, size_t line, const char *problem)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };
    char prefix[32];

    assert_int_equal(parse(text, &d, &err), TV_EINPUT);
    assert_int_equal(err.code, TV_EINPUT);
    snprintf(prefix, sizeof(prefix), "t.env:%zu: ", line);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    assert_non_null(strstr(err.msg, problem));
    assert_int_equal(d.error_line, line);
    assert_int_equal(d.n, 0);
    assert_null(d.entries);
    assert_null(d.arena);
    /* no error ever quotes the value */
    assert_null(strstr(err.msg, "s3cr3t"));
}

static void
test_basic(void **state)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    (void)state;
    assert_int_equal(parse("# comment\n\nA=1\n  B=two\n\t# indented\n"
                           "export C=3\nexport=4\n",
                           &d, &err),
                     TV_OK);
    assert_int_equal(d.n, 4);
    expect(&d, 0, "A", "1", 3);
    expect(&d, 1, "B", "two", 4);
    expect(&d, 2, "C", "3", 6);
    expect(&d, 3, "export", "4", 7);
    tv_dotenv_free(&d);
    assert_int_equal(d.n, 0);
}

static void
test_unquoted(void **state)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    (void)state;
    assert_int_equal(parse("A =  spaced out  \nB=x # comment\nC=a#b\n"
                           "D=\nE= # only a comment\nF=a=b=c\n"
                           "G=url?x=1&y=\"q\"\n",
                           &d, &err),
                     TV_OK);
    assert_int_equal(d.n, 7);
    expect(&d, 0, "A", "spaced out", 1);
    expect(&d, 1, "B", "x", 2);
    expect(&d, 2, "C", "a#b", 3);
    expect(&d, 3, "D", "", 4);
    expect(&d, 4, "E", "", 5);
    expect(&d, 5, "F", "a=b=c", 6);
    expect(&d, 6, "G", "url?x=1&y=\"q\"", 7);
    tv_dotenv_free(&d);
}

static void
test_quoted(void **state)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    (void)state;
    assert_int_equal(parse("S='lit \\n $X # not a comment'\n"
                           "D=\"a\\nb\\\"c\\\\d\\te\\rf\\qg\"  # trailing\n"
                           "E=\"\"\nQ='say \"hi\"'\n",
                           &d, &err),
                     TV_OK);
    assert_int_equal(d.n, 4);
    expect(&d, 0, "S", "lit \\n $X # not a comment", 1);
    expect(&d, 1, "D", "a\nb\"c\\d\te\rf\\qg", 2);
    expect(&d, 2, "E", "", 3);
    expect(&d, 3, "Q", "say \"hi\"", 4);
    tv_dotenv_free(&d);
}

static void
test_multiline_and_crlf(void **state)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    (void)state;
    assert_int_equal(parse("KEY=\"-----BEGIN-----\r\nabc\r\n-----END-----\"\r\n"
                           "NEXT=plain\r\n"
                           "S='one\ntwo'\nLAST=1",
                           &d, &err),
                     TV_OK);
    assert_int_equal(d.n, 4);
    expect(&d, 0, "KEY", "-----BEGIN-----\nabc\n-----END-----", 1);
    expect(&d, 1, "NEXT", "plain", 4);
    expect(&d, 2, "S", "one\ntwo", 5);
    expect(&d, 3, "LAST", "1", 7);
    tv_dotenv_free(&d);
}

static void
test_byte_order_mark(void **state)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    (void)state;
    assert_int_equal(parse("\xef\xbb\xbf"
                           "A=1\n",
                           &d, &err),
                     TV_OK);
    assert_int_equal(d.n, 1);
    expect(&d, 0, "A", "1", 1);
    tv_dotenv_free(&d);
    expect_error("A=1\n\xef\xbb\xbf"
                 "B=s3cr3t\n",
                 2, "invalid name");
}

static void
test_errors(void **state)
{
    (void)state;
    expect_error("A=1\ns3cr3t\n", 2, "expected NAME=VALUE");
    expect_error("A=1\nB=2\nA=s3cr3t\n", 3,
                 "duplicate name 'A' (first on line 1)");
    expect_error("A=1\n\nB=\"s3cr3t\nmore\n", 3,
                 "unterminated double-quoted value");
    expect_error("B='s3cr3t\n", 1, "unterminated single-quoted value");
    expect_error("X=\"s3cr3t\" tail\n", 1, "unexpected text after");
    expect_error("OK=1\nBAD$NAME=s3cr3t\n", 2, "invalid name");
    expect_error("=s3cr3t\n", 1, "invalid name");
    expect_error("FOO BAR=s3cr3t\n", 1, "expected NAME=VALUE");
    expect_error("export \n", 1, "expected NAME=VALUE");
}

static void
test_nul_and_size(void **state)
{
    static const unsigned char nul[] = "A=1\nB=s3\0cr3t\n";
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };
    size_t big = TV_VALUE_MAX + 1;
    unsigned char *text = malloc(big + 8);

    (void)state;
    assert_int_equal(tv_dotenv_parse(nul, sizeof(nul) - 1, "t.env", &d, &err),
                     TV_EINPUT);
    assert_string_equal(err.msg, "t.env:2: NUL byte in the input");
    assert_int_equal(d.n, 0);

    assert_non_null(text);
    memcpy(text, "A=", 2);
    memset(text + 2, 'x', big);
    assert_int_equal(tv_dotenv_parse(text, big + 2, "t.env", &d, &err),
                     TV_EINPUT);
    assert_non_null(strstr(err.msg, "longer than"));
    assert_int_equal(tv_dotenv_parse(text, big + 1, "t.env", &d, &err), TV_OK);
    assert_int_equal(d.entries[0].value.len, TV_VALUE_MAX);
    tv_dotenv_free(&d);
    free(text);
}

static void
test_empty_input(void **state)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    (void)state;
    assert_int_equal(parse("", &d, &err), TV_OK);
    assert_int_equal(d.n, 0);
    tv_dotenv_free(&d);
    assert_int_equal(parse("\n# only comments\r\n   \n", &d, &err), TV_OK);
    assert_int_equal(d.n, 0);
    tv_dotenv_free(&d);
}

static void
test_add_and_unique(void **state)
{
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    (void)state;
    assert_int_equal(tv_dotenv_init(&d, 16, &err), TV_OK);
    assert_int_equal(tv_dotenv_add(&d, "A", "one", 3, 0, "x.json", &err),
                     TV_OK);
    assert_int_equal(tv_dotenv_add(&d, "bad name", "v", 1, 0, "x.json", &err),
                     TV_EINPUT);
    assert_int_equal(
        tv_dotenv_add(&d, "B", "0123456789abcdef", 16, 0, "x.json", &err),
        TV_EINPUT);
    assert_int_equal(tv_dotenv_check_unique(&d, "x.json", &err), TV_OK);
    assert_int_equal(tv_dotenv_add(&d, "A", "two", 3, 0, "x.json", &err),
                     TV_OK);
    assert_int_equal(tv_dotenv_check_unique(&d, "x.json", &err), TV_EINPUT);
    assert_string_equal(err.msg, "x.json: duplicate name 'A'");
    expect(&d, 0, "A", "one", 0);
    tv_dotenv_free(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_unquoted),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_multiline_and_crlf),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nul_and_size),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_add_and_unique),
    };
    struct tv_error err = { 0 };

    if (tv_harden(&err) != TV_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
