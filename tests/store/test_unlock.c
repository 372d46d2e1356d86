/*
 * test_unlock.c - the vault location and the unlock sources: their order,
 * and the key file, passphrase file, passphrase command and variable
 * sources (the terminal prompt is tested on a pseudo-terminal by
 * tests/cli/test_tty.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "tv_unlock.h"

static const char *const sources[] = {
    "TIERVAULT_KEY_FILE",
    "TIERVAULT_PASSPHRASE_FILE",
    "TIERVAULT_PASSPHRASE_COMMAND",
    "TIERVAULT_PASSPHRASE",
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    fixture_new(f);
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        unsetenv(sources[i]);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    fixture_free(f);
    free(f);
    return 0;
}

/* Writes text to root/name with mode; returns the path (static). */
static const char *
write_file(const struct fixture *f, const char *name, const char *text,
           mode_t mode)
{
    static char path[400];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", f->root, name);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static void
assert_secret(const struct tv_secret *s, const char *text)
{
    assert_non_null(s);
    assert_int_equal(s->len, strlen(text));
    assert_memory_equal(s->data, text, s->len);
}

static void
vault_dir_order(void **state)
{
    struct tv_error err = { 0 };
    char buf[256];

    (void)state;
    setenv("TIERVAULT_VAULT", "/env/vault", 1);
    setenv("XDG_DATA_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(tv_vault_dir_resolve("/opt", buf, sizeof(buf), &err),
                     TV_OK);
    assert_string_equal(buf, "/opt");
    assert_int_equal(tv_vault_dir_resolve(NULL, buf, sizeof(buf), &err), TV_OK);
    assert_string_equal(buf, "/env/vault");
    setenv("TIERVAULT_VAULT", "", 1); /* empty is unset */
    assert_int_equal(tv_vault_dir_resolve(NULL, buf, sizeof(buf), &err), TV_OK);
    assert_string_equal(buf, "/xdg/tiervault");
    setenv("XDG_DATA_HOME", "relative", 1); /* ignored, as XDG says */
    assert_int_equal(tv_vault_dir_resolve(NULL, buf, sizeof(buf), &err), TV_OK);
    assert_string_equal(buf, "/home/u/.local/share/tiervault");
    unsetenv("TIERVAULT_VAULT");
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    assert_int_equal(tv_vault_dir_resolve(NULL, buf, sizeof(buf), &err),
                     TV_EUSAGE);
    assert_non_null(strstr(err.msg, "no vault location"));
    assert_int_equal(tv_vault_dir_resolve("/x", buf, 2, &err), TV_EUSAGE);
}

static void
source_order(void **state)
{
    struct fixture *f = *state;
    struct tv_error err = { 0 };
    struct tv_unlock_info info;
    struct tv_secret *s = NULL;
    const char *path = write_file(f, "pw", "from-file\n", 0600);

    setenv("TIERVAULT_KEY_FILE", f->keyfile, 1);
    setenv("TIERVAULT_PASSPHRASE_FILE", path, 1);
    setenv("TIERVAULT_PASSPHRASE_COMMAND", "echo from-command", 1);
    setenv("TIERVAULT_PASSPHRASE", "from-env", 1);

    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_OK);
    assert_int_equal(info.source, TV_SRC_KEY_FILE);
    assert_int_equal(info.kind, TV_CRED_KEYFILE);
    assert_string_equal(info.path, f->keyfile);
    assert_int_equal(s->len, TV_KEYFILE_LEN);
    assert_memory_equal(s->data, f->key->data, TV_KEYFILE_LEN);
    tv_secret_free(s);

    setenv("TIERVAULT_KEY_FILE", "", 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_OK);
    assert_int_equal(info.source, TV_SRC_PASSPHRASE_FILE);
    assert_int_equal(info.kind, TV_CRED_PASSPHRASE);
    assert_int_equal(info.exposed, 0);
    assert_secret(s, "from-file");
    tv_secret_free(s);

    unsetenv("TIERVAULT_PASSPHRASE_FILE");
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_OK);
    assert_int_equal(info.source, TV_SRC_PASSPHRASE_COMMAND);
    assert_secret(s, "from-command");
    tv_secret_free(s);

    unsetenv("TIERVAULT_PASSPHRASE_COMMAND");
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_OK);
    assert_int_equal(info.source, TV_SRC_PASSPHRASE);
    assert_secret(s, "from-env");
    tv_secret_free(s);

    unsetenv("TIERVAULT_PASSPHRASE");
    assert_int_equal(tv_passphrase_from_env(&info, &s, &err), TV_OK);
    assert_int_equal(info.source, TV_SRC_NONE);
    assert_null(s);
    /* no source and no prompt allowed: say how to unlock */
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EUNLOCK);
    assert_int_equal(err.code, TV_EUNLOCK);
    assert_null(s);
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        assert_non_null(strstr(err.msg, sources[i]));
}

static void
passphrase_file(void **state)
{
    struct fixture *f = *state;
    struct tv_error err = { 0 };
    struct tv_unlock_info info;
    struct tv_secret *s = NULL;
    char link[400];
    const char *path;

    /* one trailing newline is dropped, inner ones are kept */
    path = write_file(f, "pw", "two\nlines\n\n", 0644);
    setenv("TIERVAULT_PASSPHRASE_FILE", path, 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_OK);
    assert_int_equal(info.exposed, 1);
    assert_string_equal(info.path, path);
    assert_secret(s, "two\nlines\n");
    tv_secret_free(s);

    snprintf(link, sizeof(link), "%s/link", f->root);
    assert_int_equal(symlink(path, link), 0);
    setenv("TIERVAULT_PASSPHRASE_FILE", link, 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EPERM);
    assert_non_null(strstr(err.msg, "symlink"));
    assert_null(s);

    setenv("TIERVAULT_PASSPHRASE_FILE", "/nonexistent/pw", 1);
    assert_int_equal(tv_passphrase_from_env(&info, &s, &err), TV_ENOTFOUND);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "/nonexistent/pw"));

    /* an empty passphrase never reaches Argon2 */
    path = write_file(f, "empty", "\n", 0600);
    setenv("TIERVAULT_PASSPHRASE_FILE", path, 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "empty passphrase"));
    assert_null(s);
    unsetenv("TIERVAULT_PASSPHRASE_FILE");
}

static void
passphrase_command(void **state)
{
    struct tv_error err = { 0 };
    struct tv_unlock_info info;
    struct tv_secret *s = NULL;

    (void)state;
    setenv("TIERVAULT_PASSPHRASE_COMMAND", "printf 'a b\\n\\n'", 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_OK);
    assert_secret(s, "a b\n");
    tv_secret_free(s);

    /* the right output from a failing command is refused */
    setenv("TIERVAULT_PASSPHRASE_COMMAND", "echo pw; exit 5", 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "TIERVAULT_PASSPHRASE_COMMAND failed"));
    assert_non_null(strstr(err.msg, "exit status 5"));
    assert_null(s);

    setenv("TIERVAULT_PASSPHRASE_COMMAND", "kill -TERM $$", 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "signal 15"));

    setenv("TIERVAULT_PASSPHRASE_COMMAND", "head -c 5000 /dev/zero", 1);
    assert_int_equal(tv_passphrase_from_env(&info, &s, &err), TV_EINPUT);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EUNLOCK);
    assert_null(s);
    unsetenv("TIERVAULT_PASSPHRASE_COMMAND");
}

static void
bad_key_file(void **state)
{
    struct fixture *f = *state;
    struct tv_error err = { 0 };
    struct tv_unlock_info info;
    struct tv_secret *s = NULL;
    const char *path;

    /* the key file is first even when a passphrase is set */
    setenv("TIERVAULT_PASSPHRASE", "pw", 1);
    path = write_file(f, "short.key", "0123456789", 0600);
    setenv("TIERVAULT_KEY_FILE", path, 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "TIERVAULT_KEY_FILE"));
    assert_null(s);
    assert_int_equal(chmod(f->keyfile, 0644), 0);
    setenv("TIERVAULT_KEY_FILE", f->keyfile, 1);
    assert_int_equal(tv_unlock_secret(NULL, &info, &s, &err), TV_EPERM);
    assert_null(s);
    unsetenv("TIERVAULT_KEY_FILE");
    unsetenv("TIERVAULT_PASSPHRASE");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vault_dir_order),
        cmocka_unit_test_setup_teardown(source_order, setup, teardown),
        cmocka_unit_test_setup_teardown(passphrase_file, setup, teardown),
        cmocka_unit_test_setup_teardown(passphrase_command, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_key_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
