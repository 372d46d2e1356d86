/*
 * unlock.c - the vault location and the unlock sources, in contract
 * order, and passphrase prompts on the terminal without echo.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tv_unlock.h"

/* The terminal state to restore if a signal arrives during a prompt. */
static volatile sig_atomic_t tty_saved;
static struct termios tty_orig;
static int tty_fd = -1;

static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NSIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

static const char *
env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

enum tv_status
tv_vault_dir_resolve(const char *opt, char *buf, size_t size,
                     struct tv_error *err)
{
    const char *v;
    int n;

    if (buf == NULL || size == 0)
        return tv_error_set(err, TV_EINPUT, "no buffer for the vault path");
    if (opt != NULL)
        n = snprintf(buf, size, "%s", opt);
    else if ((v = env_nonempty("TIERVAULT_VAULT")) != NULL)
        n = snprintf(buf, size, "%s", v);
    else if ((v = env_nonempty("XDG_DATA_HOME")) != NULL && v[0] == '/')
        n = snprintf(buf, size, "%s/tiervault", v);
    else if ((v = env_nonempty("HOME")) != NULL)
        n = snprintf(buf, size, "%s/.local/share/tiervault", v);
    else
        return tv_error_set(err, TV_EUSAGE,
                            "no vault location: use --vault DIR, or set "
                            "TIERVAULT_VAULT, XDG_DATA_HOME or HOME");
    if (n <= 0 || (size_t)n >= size)
        return tv_error_set(err, TV_EUSAGE, "the vault path is too long");
    return TV_OK;
}

int
tv_tty_present(void)
{
    int fd;

    /* a terminal the user is at: not a daemon's or a test's stray one */
    if (!isatty(STDIN_FILENO) && !isatty(STDERR_FILENO))
        return 0;
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static void
tty_restore_and_raise(int sig)
{
    if (tty_saved)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_orig);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Writes s to the terminal; a lost prompt only makes the line bare. */
static void
tty_puts(int fd, const char *s)
{
    size_t n = strlen(s);
    ssize_t w;

    while (n > 0) {
        w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads one line from fd into buf (TV_PASS_MAX bytes); *n its length. */
static enum tv_status
tty_read_chars(int fd, struct tv_secret *buf, size_t *n, struct tv_error *err)
{
    unsigned char ch;
    ssize_t r;

    for (;;) {
        r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return tv_error_set(err, TV_EIO, "cannot read the terminal: %s",
                                strerror(errno));
        if (r == 0 || ch == '\n')
            return TV_OK;
        if (*n == TV_PASS_MAX)
            return tv_error_set(err, TV_EINPUT, "input longer than %d bytes",
                                TV_PASS_MAX);
        buf->data[(*n)++] = ch;
    }
}

/* One no-echo line from the terminal fd into *out. */
static enum tv_status
tty_read_line(int fd, const char *prompt, struct tv_secret **out,
              struct tv_error *err)
{
    struct sigaction sa = { 0 }, old[NSIGNALS];
    struct termios quiet;
    struct tv_secret *buf = NULL;
    size_t n = 0, i;
    enum tv_status st;

    st = tv_secret_new(&buf, TV_PASS_MAX, err);
    if (st != TV_OK)
        return st;
    if (tcgetattr(fd, &tty_orig) != 0) {
        st = tv_error_set(err, TV_EIO, "cannot read the terminal: %s",
                          strerror(errno));
        goto out;
    }
    tty_fd = fd;
    sa.sa_handler = tty_restore_and_raise;
    for (i = 0; i < NSIGNALS; i++)
        sigaction(tty_signals[i], &sa, &old[i]);
    quiet = tty_orig;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    tty_saved = 1;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        st = tv_error_set(err, TV_EIO, "cannot turn off echo: %s",
                          strerror(errno));
        goto restore;
    }
    /* echo is off before the prompt shows: nothing typed after it echoes */
    tty_puts(fd, prompt);
    st = tty_read_chars(fd, buf, &n, err);
    tty_puts(fd, "\n");

restore:
    tcsetattr(fd, TCSAFLUSH, &tty_orig);
    tty_saved = 0;
    for (i = 0; i < NSIGNALS; i++)
        sigaction(tty_signals[i], &old[i], NULL);
    if (st == TV_OK)
        st = tv_secret_dup(out, buf->data, n, err);

out:
    tv_secret_free(buf);
    return st;
}

enum tv_status
tv_tty_secret(const char *prompt, int confirm, struct tv_secret **out,
              struct tv_error *err)
{
    struct tv_secret *first = NULL, *again = NULL;
    enum tv_status st;
    int fd;

    if (prompt == NULL || out == NULL)
        return tv_error_set(err, TV_EINPUT, "no prompt or result given");
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return tv_error_set(err, TV_EIO, "cannot open '/dev/tty': %s",
                            strerror(errno));
    st = tty_read_line(fd, prompt, &first, err);
    if (st == TV_OK && confirm)
        st = tty_read_line(fd, "again, to confirm: ", &again, err);
    /* constant time: how much of the two entries matched is not shown */
    if (st == TV_OK && confirm &&
        !tv_ct_equal(first->data, first->len, again->data, again->len))
        st = tv_error_set(err, TV_EINPUT, "the two entries do not match");
    if (st == TV_OK) {
        *out = first;
        first = NULL;
    }
    tv_secret_free(first);
    tv_secret_free(again);
    close(fd);
    return st;
}

/*
 * Reads fd to its end into *out, without one trailing newline.  More
 * than TV_PASS_MAX bytes: TV_EINPUT.  what names the source.
 */
static enum tv_status
read_pass_fd(int fd, const char *what, struct tv_secret **out,
             struct tv_error *err)
{
    struct tv_secret *buf = NULL;
    enum tv_status st;
    size_t len = 0;
    ssize_t n;

    st = tv_secret_new(&buf, TV_PASS_MAX + 1, err);
    if (st != TV_OK)
        return st;
    for (;;) {
        n = read(fd, buf->data + len, TV_PASS_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = tv_error_set(err, TV_EIO, "cannot read %s: %s", what,
                              strerror(errno));
            goto out;
        }
        len += (size_t)n;
        if (n == 0 || len > TV_PASS_MAX)
            break;
    }
    if (len > TV_PASS_MAX) {
        st = tv_error_set(err, TV_EINPUT, "%s is longer than %d bytes", what,
                          TV_PASS_MAX);
        goto out;
    }
    if (len > 0 && buf->data[len - 1] == '\n')
        len--;
    st = tv_secret_dup(out, buf->data, len, err);

out:
    tv_secret_free(buf);
    return st;
}

static enum tv_status
pass_from_file(const char *path, struct tv_unlock_info *info,
               struct tv_secret **out, struct tv_error *err)
{
    struct stat sb;
    enum tv_status st;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP)
        return tv_error_set(err, TV_EPERM,
                            "TIERVAULT_PASSPHRASE_FILE: '%s' is a symlink",
                            path);
    if (fd < 0)
        return tv_error_set(err, errno == ENOENT ? TV_ENOTFOUND : TV_EIO,
                            "TIERVAULT_PASSPHRASE_FILE: cannot open '%s': %s",
                            path, strerror(errno));
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0)
        info->exposed = 1;
    st = read_pass_fd(fd, "the passphrase file", out, err);
    close(fd);
    if (st != TV_OK)
        return tv_error_prefix(err, "TIERVAULT_PASSPHRASE_FILE: '%s'", path);
    return TV_OK;
}

/* Waits for the command; TV_EUNLOCK unless it exited with status 0. */
static enum tv_status
reap_command(pid_t pid, struct tv_error *err)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return tv_error_set(err, TV_EUNLOCK,
                                "TIERVAULT_PASSPHRASE_COMMAND failed "
                                "(its exit status is lost: %s)",
                                strerror(errno));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return TV_OK;
    return tv_error_set(
        err, TV_EUNLOCK, "TIERVAULT_PASSPHRASE_COMMAND failed (%s %d)",
        WIFEXITED(status) ? "exit status" : "signal",
        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static enum tv_status
pass_from_command(const char *cmd, struct tv_secret **out, struct tv_error *err)
{
    enum tv_status st, wst;
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return tv_error_set(err, TV_EIO, "cannot create a pipe: %s",
                            strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return tv_error_set(err, TV_EIO, "cannot fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /*
         * Standard input may carry a secret piped to tiervault: the
         * command gets /dev/null instead (a pinentry uses the terminal).
         */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

        if (null < 0 || dup2(null, STDIN_FILENO) < 0 ||
            dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    st = read_pass_fd(fds[0], "the output of TIERVAULT_PASSPHRASE_COMMAND", out,
                      err);
    close(fds[0]);
    wst = reap_command(pid, st == TV_OK ? err : NULL);
    if (st == TV_OK && wst != TV_OK) {
        tv_secret_free(*out);
        *out = NULL;
        st = wst;
    }
    return st;
}

enum tv_status
tv_passphrase_from_env(struct tv_unlock_info *info, struct tv_secret **out,
                       struct tv_error *err)
{
    const char *v;

    if (info == NULL || out == NULL)
        return tv_error_set(err, TV_EINPUT, "no result given");
    memset(info, 0, sizeof(*info));
    info->kind = TV_CRED_PASSPHRASE;
    *out = NULL;
    if ((v = env_nonempty("TIERVAULT_PASSPHRASE_FILE")) != NULL) {
        info->source = TV_SRC_PASSPHRASE_FILE;
        info->path = v;
        return pass_from_file(v, info, out, err);
    }
    if ((v = env_nonempty("TIERVAULT_PASSPHRASE_COMMAND")) != NULL) {
        info->source = TV_SRC_PASSPHRASE_COMMAND;
        return pass_from_command(v, out, err);
    }
    if ((v = env_nonempty("TIERVAULT_PASSPHRASE")) != NULL) {
        info->source = TV_SRC_PASSPHRASE;
        return tv_secret_dup(out, v, strlen(v), err);
    }
    return TV_OK;
}

/* The credential of the first source found; codes as the lower layers. */
static enum tv_status
first_source(const char *prompt, struct tv_unlock_info *info,
             struct tv_secret **out, struct tv_error *err)
{
    const char *v = env_nonempty("TIERVAULT_KEY_FILE");
    enum tv_status st;

    if (v != NULL) {
        memset(info, 0, sizeof(*info));
        info->source = TV_SRC_KEY_FILE;
        info->kind = TV_CRED_KEYFILE;
        info->path = v;
        st = tv_keyfile_load(v, out, err);
        return st == TV_OK ? st : tv_error_prefix(err, "TIERVAULT_KEY_FILE");
    }
    st = tv_passphrase_from_env(info, out, err);
    if (st != TV_OK || info->source != TV_SRC_NONE)
        return st;
    if (prompt == NULL || !tv_tty_present())
        return tv_error_set(err, TV_EUNLOCK,
                            "no unlock source: set TIERVAULT_KEY_FILE, "
                            "TIERVAULT_PASSPHRASE_FILE, "
                            "TIERVAULT_PASSPHRASE_COMMAND or "
                            "TIERVAULT_PASSPHRASE, or run on a terminal");
    info->source = TV_SRC_TERMINAL;
    return tv_tty_secret(prompt, 0, out, err);
}

enum tv_status
tv_unlock_secret(const char *prompt, struct tv_unlock_info *info,
                 struct tv_secret **out, struct tv_error *err)
{
    enum tv_status st;

    if (info == NULL || out == NULL)
        return tv_error_set(err, TV_EINPUT, "no result given");
    *out = NULL;
    st = first_source(prompt, info, out, err);
    if (st == TV_OK && info->kind == TV_CRED_PASSPHRASE && (*out)->len == 0)
        st = tv_error_set(err, TV_EUNLOCK, "an empty passphrase is refused");
    if (st == TV_OK)
        return TV_OK;
    tv_secret_free(*out);
    *out = NULL;
    /* a credential that cannot be had is an unlock failure */
    if (err != NULL && st != TV_EPERM)
        err->code = TV_EUNLOCK;
    return st == TV_EPERM ? st : TV_EUNLOCK;
}

enum tv_status
tv_vault_open_unlocked(const char *dir, const char *actor,
                       struct tv_unlock_info *info, struct tv_vault **out,
                       struct tv_error *err)
{
    struct tv_unlock_info mine;
    struct tv_secret *secret = NULL;
    struct tv_vault *v = NULL;
    struct tv_cred cred = { 0 };
    char prompt[256];
    enum tv_status st;

    if (dir == NULL || actor == NULL || out == NULL)
        return tv_error_set(err, TV_EINPUT, "no vault, actor or result");
    *out = NULL;
    if (info == NULL)
        info = &mine;
    memset(info, 0, sizeof(*info));
    st = tv_vault_open(&v, dir, err);
    if (st != TV_OK)
        goto fail;
    snprintf(prompt, sizeof(prompt), "passphrase for '%.200s': ", dir);
    st = tv_unlock_secret(prompt, info, &secret, err);
    if (st != TV_OK) {
        tv_error_prefix(err, "cannot unlock '%s'", dir);
        goto fail;
    }
    cred.kind = info->kind;
    cred.secret = secret;
    cred.kdf = TV_KDF_MODERATE;
    st = tv_vault_unlock(v, &cred, err);
    if (st != TV_OK)
        goto fail;
    tv_vault_set_actor(v, actor);
    tv_secret_free(secret);
    *out = v;
    return TV_OK;

fail:
    tv_secret_free(secret);
    tv_vault_close(v);
    return st;
}
