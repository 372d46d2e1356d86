/*
 * unlock.c - vault location and unlock sources for the agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tv_mem.h"
#include "tv_vault.h"
#include "unlock.h"

#define PASS_MAX 4096

static const char *
env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return (v != NULL && v[0] != '\0') ? v : NULL;
}

enum tv_status
tv_agent_vault_dir(const char *opt, char *buf, size_t size,
                   struct tv_error *err)
{
    const char *v;
    int n;

    if (opt != NULL)
        n = snprintf(buf, size, "%s", opt);
    else if ((v = env_nonempty("TIERVAULT_VAULT")) != NULL)
        n = snprintf(buf, size, "%s", v);
    else if ((v = env_nonempty("XDG_DATA_HOME")) != NULL)
        n = snprintf(buf, size, "%s/tiervault", v);
    else if ((v = env_nonempty("HOME")) != NULL)
        n = snprintf(buf, size, "%s/.local/share/tiervault", v);
    else
        return tv_error_set(err, TV_EUSAGE,
                            "no vault: use --vault or set TIERVAULT_VAULT");
    if (n < 0 || (size_t)n >= size)
        return tv_error_set(err, TV_EUSAGE, "vault path too long");
    return TV_OK;
}

/*
 * Reads a passphrase from fd into guarded memory, as the CLI does: a file
 * or a command's output whole, without one trailing newline (line 0); a
 * terminal up to the end of the line (line 1).  Longer than PASS_MAX or
 * empty: TV_EUNLOCK.
 */
static enum tv_status
read_pass_fd(int fd, const char *what, int line, struct tv_secret **out,
             struct tv_error *err)
{
    struct tv_secret *buf = NULL;
    enum tv_status st;
    size_t len = 0;
    ssize_t n;

    st = tv_secret_new(&buf, PASS_MAX + 1, err);
    if (st != TV_OK)
        return st;
    for (;;) {
        n = read(fd, buf->data + len, line ? 1 : PASS_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = tv_error_set(err, TV_EIO, "cannot read %s: %s", what,
                              strerror(errno));
            goto out;
        }
        len += (size_t)n;
        if (n == 0 || len > PASS_MAX || (line && buf->data[len - 1] == '\n'))
            break;
    }
    if (len > PASS_MAX) {
        st = tv_error_set(err, TV_EUNLOCK,
                          "the passphrase from %s is longer "
                          "than %d bytes",
                          what, PASS_MAX);
        goto out;
    }
    if (len > 0 && buf->data[len - 1] == '\n')
        len--;
    if (len == 0) {
        st = tv_error_set(err, TV_EUNLOCK, "empty passphrase from %s", what);
        goto out;
    }
    st = tv_secret_dup(out, buf->data, len, err);

out:
    tv_secret_free(buf);
    return st;
}

static enum tv_status
pass_from_file(const char *path, struct tv_secret **out, struct tv_error *err)
{
    enum tv_status st;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return tv_error_set(err, TV_EUNLOCK, "cannot open '%s': %s", path,
                            strerror(errno));
    st = read_pass_fd(fd, "the passphrase file", 0, out, err);
    close(fd);
    return st;
}

static enum tv_status
pass_from_command(const char *cmd, struct tv_secret **out, struct tv_error *err)
{
    enum tv_status st;
    int fds[2], status;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return tv_error_set(err, TV_EIO, "cannot create a pipe: %s",
                            strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return tv_error_set(err, TV_EIO, "cannot fork: %s", strerror(errno));
    }
    if (pid == 0) {
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    st = read_pass_fd(fds[0], "TIERVAULT_PASSPHRASE_COMMAND", 0, out, err);
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (st == TV_OK && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        tv_secret_free(*out);
        *out = NULL;
        st = tv_error_set(err, TV_EUNLOCK,
                          "TIERVAULT_PASSPHRASE_COMMAND failed");
    }
    return st;
}

static enum tv_status
pass_from_tty(struct tv_secret **out, struct tv_error *err)
{
    struct termios old, quiet;
    enum tv_status st;
    const char prompt[] = "tiervault-agent: vault passphrase: ";
    int fd, echo_off = 0;

    fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return tv_error_set(err, TV_EUNLOCK,
                            "no unlock source: set TIERVAULT_KEY_FILE or "
                            "TIERVAULT_PASSPHRASE_FILE");
    if (tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    if (write(fd, prompt, sizeof(prompt) - 1) < 0)
        st = tv_error_set(err, TV_EIO, "cannot write to the terminal");
    else
        st = read_pass_fd(fd, "the terminal", 1, out, err);
    if (echo_off)
        tcsetattr(fd, TCSAFLUSH, &old);
    /* The newline only tidies the terminal; losing it is harmless. */
    if (write(fd, "\n", 1) < 0)
        echo_off = 0;
    close(fd);
    return st;
}

static enum tv_status
get_cred(struct tv_cred *cred, struct tv_secret **secret, struct tv_error *err)
{
    const char *v;

    cred->kdf = TV_KDF_MODERATE;
    cred->kind = TV_CRED_PASSPHRASE;
    if ((v = env_nonempty("TIERVAULT_KEY_FILE")) != NULL) {
        cred->kind = TV_CRED_KEYFILE;
        return tv_keyfile_load(v, secret, err);
    }
    if ((v = env_nonempty("TIERVAULT_PASSPHRASE_FILE")) != NULL)
        return pass_from_file(v, secret, err);
    if ((v = env_nonempty("TIERVAULT_PASSPHRASE_COMMAND")) != NULL)
        return pass_from_command(v, secret, err);
    if ((v = env_nonempty("TIERVAULT_PASSPHRASE")) != NULL)
        return tv_secret_dup(secret, v, strlen(v), err);
    return pass_from_tty(secret, err);
}

enum tv_status
tv_agent_open_vault(const char *dir, struct tv_vault **out,
                    struct tv_error *err)
{
    struct tv_secret *secret = NULL;
    struct tv_vault *v = NULL;
    struct tv_cred cred;
    enum tv_status st;

    *out = NULL;
    st = tv_vault_open(&v, dir, err);
    if (st != TV_OK)
        goto fail;
    st = get_cred(&cred, &secret, err);
    if (st != TV_OK)
        goto fail;
    cred.secret = secret;
    st = tv_vault_unlock(v, &cred, err);
    if (st != TV_OK)
        goto fail;
    tv_vault_set_actor(v, "agent");
    tv_secret_free(secret);
    *out = v;
    return TV_OK;

fail:
    tv_secret_free(secret);
    tv_vault_close(v);
    return st;
}
