/*
 * unlock.c - opening the vault for a command, and new passphrases for
 * init and keys add.  The location and the unlock sources themselves are
 * the store's (tv_unlock.h); this file says what happened on stderr.
 */
#include <unistd.h>

#include "cli.h"
#include "secbuf.h"
#include "tv_unlock.h"

/* Tells the user about the source used, before any error about it. */
static void
report_source(const struct tv_cli *c, const struct tv_unlock_info *info)
{
    if (info->source == TV_SRC_KEY_FILE)
        cli_verbose(c, "unlocking with the key file '%s'", info->path);
    if (info->exposed)
        cli_warn(c,
                 "the passphrase file '%s' can be read by others "
                 "(chmod 600 '%s')",
                 info->path, info->path);
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

/* Standard input to its end, without one trailing newline. */
static enum tv_status
stdin_passphrase(struct tv_secret **out, struct tv_error *err)
{
    struct cli_secbuf b = { 0 };
    enum tv_status st;

    st = cli_secbuf_read_fd(&b, STDIN_FILENO, TV_PASS_MAX, "standard input",
                            err);
    if (st == TV_OK && b.len > 0 && b.s->data[b.len - 1] == '\n')
        b.s->data[--b.len] = '\0';
    if (st == TV_OK)
        st = cli_secbuf_take(&b, out, err);
    cli_secbuf_free(&b);
    return st;
}

enum tv_status
cli_new_passphrase(int use_env, int use_stdin, struct tv_secret **out,
                   struct tv_error *err)
{
    struct tv_unlock_info info = { 0 };
    enum tv_status st;

    if (use_env) {
        st = tv_passphrase_from_env(&info, out, err);
        report_source(NULL, &info);
        if (st != TV_OK)
            return st;
    }
    if (info.source != TV_SRC_NONE)
        return refuse_empty(out, err);
    if (use_stdin && !isatty(STDIN_FILENO))
        st = stdin_passphrase(out, err);
    else if (tv_tty_present())
        st = tv_tty_secret("new passphrase: ", 1, out, err);
    else
        return tv_error_set(err, TV_EUNLOCK,
                            "no passphrase given: set "
                            "TIERVAULT_PASSPHRASE_FILE, "
                            "TIERVAULT_PASSPHRASE_COMMAND or "
                            "TIERVAULT_PASSPHRASE, or run on a terminal");
    if (st != TV_OK)
        return st;
    return refuse_empty(out, err);
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
    struct tv_unlock_info info = { 0 };
    enum tv_status st;

    if (cli_need_vault_dir(c))
        return 1;
    st = tv_vault_open_unlocked(c->vault_dir, c->actor, &info, out, &err);
    report_source(c, &info);
    return st == TV_OK ? 0 : cli_fail(&err);
}
