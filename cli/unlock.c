/*
 * unlock.c - opening the vault and getting the credential that unlocks
 * it: the unlock sources of the command line contract, in order, and
 * passphrase prompts on the terminal without echo.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "secbuf.h"

#define PASS_MAX 4096

/* The terminal state to restore if a signal arrives during a prompt. */
static volatile sig_atomic_t tty_saved;
static struct termios tty_orig;
static int tty_fd = -1;

static void
tty_restore_and_raise(int sig)
{
    if (tty_saved)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_orig);
    signal(sig, SIG_DFL);
    raise(sig);
}

int
cli_have_tty(void)
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
tty_puts(int fd, const char *s)
{
    struct tv_error ignored;

    (void)cli_write_all(fd, s, strlen(s), &ignored);
}

/* One no-echo line from the terminal fd into *out. */
static enum tv_status
tty_read_line(int fd, const char *prompt, struct tv_secret **out,
              struct tv_error *err)
{
    struct sigaction sa = { 0 }, old_int, old_term;
    struct termios raw;
    struct tv_secret *buf = NULL;
    size_t n = 0;
    enum tv_status st;

    st = tv_secret_new(&buf, PASS_MAX, err);
    if (st != TV_OK)
        return st;
    if (tcgetattr(fd, &tty_orig) != 0) {
        st = tv_error_set(err, TV_EIO, "cannot read the terminal: %s",
                          strerror(errno));
        goto out;
    }
    tty_fd = fd;
    sa.sa_handler = tty_restore_and_raise;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    raw = tty_orig;
    raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    tty_saved = 1;
    tcsetattr(fd, TCSAFLUSH, &raw);
    /* echo is off before the prompt shows: nothing typed after it echoes */
    tty_puts(fd, prompt);
    for (;;) {
        unsigned char ch;
        ssize_t r = read(fd, &ch, 1);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || ch == '\n')
            break;
        if (n == PASS_MAX) {
            st = tv_error_set(err, TV_EINPUT, "input longer than %d bytes",
                              PASS_MAX);
            break;
        }
        buf->data[n++] = ch;
    }
    tcsetattr(fd, TCSAFLUSH, &tty_orig);
    tty_saved = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    tty_puts(fd, "\n");
    if (st == TV_OK)
        st = tv_secret_dup(out, buf->data, n, err);

out:
    tv_secret_free(buf);
    return st;
}

enum tv_status
cli_tty_secret(const char *prompt, int confirm, struct tv_secret **out,
               struct tv_error *err)
{
    struct tv_secret *first = NULL, *again = NULL;
    enum tv_status st;
    int fd;

    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return tv_error_set(err, TV_EIO, "cannot open '/dev/tty': %s",
                            strerror(errno));
    st = tty_read_line(fd, prompt, &first, err);
    if (st == TV_OK && confirm)
        st = tty_read_line(fd, "again, to confirm: ", &again, err);
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

/* Drops one trailing newline from a secret read from a file or pipe. */
static void
chomp(struct tv_secret *s)
{
    if (s->len > 0 && s->data[s->len - 1] == '\n') {
        s->len--;
        s->data[s->len] = '\0';
    }
}

/* Runs TIERVAULT_PASSPHRASE_COMMAND with /bin/sh -c; *out its stdout. */
static enum tv_status
run_passphrase_command(const char *cmd, struct tv_secret **out,
                       struct tv_error *err)
{
    struct cli_secbuf b = { 0 };
    enum tv_status st;
    int fds[2], status;
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
        dup2(fds[1], STDOUT_FILENO);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    st = cli_secbuf_read_fd(&b, fds[0], PASS_MAX,
                            "the output of TIERVAULT_PASSPHRASE_COMMAND", err);
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (st == TV_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        st = tv_error_set(
            err, TV_EUNLOCK, "TIERVAULT_PASSPHRASE_COMMAND failed (%s %d)",
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    if (st == TV_OK)
        st = cli_secbuf_take(&b, out, err);
    cli_secbuf_free(&b);
    if (st == TV_OK)
        chomp(*out);
    return st;
}

static const char *
env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : NULL;
}

/*
 * The passphrase from the environment sources, in contract order; *found
 * is 0 when none is set.
 */
static enum tv_status
env_passphrase(int *found, struct tv_secret **out, struct tv_error *err)
{
    struct stat sb;
    const char *v;
    enum tv_status st = TV_OK;

    *found = 1;
    if ((v = env("TIERVAULT_PASSPHRASE_FILE")) != NULL) {
        if (stat(v, &sb) == 0 && (sb.st_mode & 077) != 0)
            cli_warn(NULL,
                     "the passphrase file '%s' can be read by others "
                     "(chmod 600 '%s')",
                     v, v);
        st = cli_read_file(v, PASS_MAX, out, err);
        if (st != TV_OK)
            return tv_error_prefix(err, "TIERVAULT_PASSPHRASE_FILE");
        chomp(*out);
    } else if ((v = env("TIERVAULT_PASSPHRASE_COMMAND")) != NULL) {
        st = run_passphrase_command(v, out, err);
    } else if ((v = env("TIERVAULT_PASSPHRASE")) != NULL) {
        st = tv_secret_dup(out, v, strlen(v), err);
    } else {
        *found = 0;
    }
    return st;
}

static enum tv_status
refuse_empty(struct tv_secret **s, struct tv_error *err)
{
    if ((*s)->len > 0)
        return TV_OK;
    tv_secret_free(*s);
    *s = NULL;
    return tv_error_set(err, TV_EINPUT, "an empty passphrase is refused");
}

enum tv_status
cli_new_passphrase(int use_env, int use_stdin, struct tv_secret **out,
                   struct tv_error *err)
{
    struct cli_secbuf b = { 0 };
    enum tv_status st;
    int found = 0;

    if (use_env) {
        st = env_passphrase(&found, out, err);
        if (st != TV_OK)
            return st;
    }
    if (found)
        return refuse_empty(out, err);
    if (use_stdin && !isatty(STDIN_FILENO)) {
        st = cli_secbuf_read_fd(&b, STDIN_FILENO, PASS_MAX, "standard input",
                                err);
        if (st == TV_OK)
            st = cli_secbuf_take(&b, out, err);
        cli_secbuf_free(&b);
        if (st == TV_OK)
            chomp(*out);
    } else if (cli_have_tty()) {
        st = cli_tty_secret("new passphrase: ", 1, out, err);
    } else {
        return tv_error_set(err, TV_EUNLOCK,
                            "no passphrase given: set "
                            "TIERVAULT_PASSPHRASE_FILE, "
                            "TIERVAULT_PASSPHRASE_COMMAND or "
                            "TIERVAULT_PASSPHRASE, or run on a terminal");
    }
    if (st != TV_OK)
        return st;
    return refuse_empty(out, err);
}

/* The credential of the first unlock source found. */
static enum tv_status
unlock_secret(const struct tv_cli *c, enum tv_cred_kind *kind,
              struct tv_secret **out, struct tv_error *err)
{
    const char *keyfile = env("TIERVAULT_KEY_FILE");
    char prompt[256];
    enum tv_status st;
    int found;

    if (keyfile != NULL) {
        *kind = TV_CRED_KEYFILE;
        cli_verbose(c, "unlocking with the key file '%s'", keyfile);
        st = tv_keyfile_load(keyfile, out, err);
        return st == TV_OK ? st : tv_error_prefix(err, "TIERVAULT_KEY_FILE");
    }
    *kind = TV_CRED_PASSPHRASE;
    st = env_passphrase(&found, out, err);
    if (st != TV_OK || found)
        return st;
    if (!cli_have_tty())
        return tv_error_set(err, TV_EUNLOCK,
                            "cannot unlock '%s': no terminal to ask for "
                            "the passphrase; set TIERVAULT_KEY_FILE, "
                            "TIERVAULT_PASSPHRASE_FILE, "
                            "TIERVAULT_PASSPHRASE_COMMAND or "
                            "TIERVAULT_PASSPHRASE",
                            c->vault_dir);
    snprintf(prompt, sizeof(prompt), "passphrase for '%.200s': ", c->vault_dir);
    return cli_tty_secret(prompt, 0, out, err);
}

int
cli_need_vault_dir(const struct tv_cli *c)
{
    if (c->vault_dir != NULL)
        return 0;
    cli_error("no vault location: use --vault DIR, or set TIERVAULT_VAULT, "
              "XDG_DATA_HOME or HOME");
    return 1;
}

int
cli_open_locked(struct tv_cli *c, struct tv_vault **out)
{
    struct tv_error err = { 0 };

    if (cli_need_vault_dir(c))
        return 1;
    if (tv_vault_open(out, c->vault_dir, &err) != TV_OK)
        return cli_fail(&err);
    tv_vault_set_actor(*out, c->actor);
    return 0;
}

int
cli_open_vault(struct tv_cli *c, struct tv_vault **out)
{
    struct tv_error err = { 0 };
    struct tv_secret *secret = NULL;
    struct tv_vault *v = NULL;
    struct tv_cred cred = { 0 };
    enum tv_status st;
    int rc;

    rc = cli_open_locked(c, &v);
    if (rc != 0)
        return rc;
    st = unlock_secret(c, &cred.kind, &secret, &err);
    if (st != TV_OK) {
        /* a credential that cannot be had is an unlock failure */
        if (err.code != TV_EPERM)
            err.code = TV_EUNLOCK;
        goto fail;
    }
    cred.secret = secret;
    st = tv_vault_unlock(v, &cred, &err);
    if (st != TV_OK)
        goto fail;
    tv_secret_free(secret);
    *out = v;
    return 0;

fail:
    tv_secret_free(secret);
    tv_vault_close(v);
    return cli_fail(&err);
}
