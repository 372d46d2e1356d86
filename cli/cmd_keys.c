/*
 * cmd_keys.c - tiervault keys ls|add|rm: the keyslots that each wrap the
 * vault key.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: tiervault keys ls\n"
    "       tiervault keys add (--passphrase [--kdf PROFILE] | --key-file "
    "PATH)\n"
    "       tiervault keys rm SLOT\n"
    "\n"
    "Lists, adds or removes keyslots.  Each slot opens the vault on its\n"
    "own; the last one cannot be removed.\n"
    "\n"
    "  --passphrase      a new passphrase slot: asked twice on a terminal,\n"
    "                    else read from standard input\n"
    "  --kdf PROFILE     interactive, moderate (default) or sensitive\n"
    "  --key-file PATH   a key-file slot: PATH is created with a new random\n"
    "                    key, or its existing key is enrolled\n";

enum { O_PASS, O_KEYFILE, O_KDF };

static const struct cli_opt add_opts[] = {
    [O_PASS] = { "passphrase", 0, 0, 0 },
    [O_KEYFILE] = { "key-file", 0, 1, 0 },
    [O_KDF] = { "kdf", 0, 1, 0 },
};

static int
print_slot(const struct tv_slot_info *s, void *ctx)
{
    char when[32];

    (void)ctx;
    cli_time(s->created, when);
    if (s->kind == TV_CRED_PASSPHRASE)
        printf("%-4u  passphrase  argon2id %s (ops %llu, memory %llu MiB)"
               "  created %s\n",
               s->id, tv_kdf_name(s->kdf), (unsigned long long)s->opslimit,
               (unsigned long long)(s->memlimit >> 20), when);
    else
        printf("%-4u  key-file    key id %s  created %s\n", s->id, s->key_id,
               when);
    return 0;
}

/*
 * The new credential of `keys add`; *secret is the caller's.  A
 * passphrase already read into *secret is used as it is.
 */
static int
new_cred(const struct tv_cli *c, const struct cli_args *a, struct tv_cred *cred,
         struct tv_secret **secret, int *created)
{
    struct tv_error err = { 0 };
    const char *path = a->opt[O_KEYFILE].value;
    int kdf = TV_KDF_MODERATE;

    if (a->opt[O_KDF].count && (kdf = tv_kdf_parse(a->opt[O_KDF].value)) < 0)
        return cli_misuse(usage, "unknown kdf profile '%s'",
                          a->opt[O_KDF].value);
    cred->kdf = (enum tv_kdf)kdf;
    if (path != NULL) {
        cred->kind = TV_CRED_KEYFILE;
        if (cli_key_file(path, secret, created, &err) != TV_OK)
            return cli_fail(&err);
        if (*created)
            cli_info(c, "created the key file '%s'", path);
    } else {
        cred->kind = TV_CRED_PASSPHRASE;
        if (*secret == NULL && cli_new_passphrase(0, 1, secret, &err) != TV_OK)
            return cli_fail(&err);
    }
    cred->secret = *secret;
    return 0;
}

/*
 * Adds the slot of `keys add`; takes over pass, a passphrase read before
 * unlocking (or NULL).
 */
static int
keys_add(struct tv_cli *c, struct tv_vault *v, const struct cli_args *a,
         struct tv_secret *pass)
{
    struct tv_error err = { 0 };
    struct tv_secret *secret = pass;
    struct tv_cred cred = { 0 };
    uint32_t id = 0;
    int rc, created = 0;

    rc = new_cred(c, a, &cred, &secret, &created);
    if (rc != 0) {
        tv_secret_free(secret);
        return rc;
    }
    if (tv_vault_slot_add(v, &cred, &id, &err) != TV_OK) {
        if (created)
            unlink(a->opt[O_KEYFILE].value);
        rc = cli_fail(&err);
    } else {
        cli_info(c, "added keyslot %u (%s)", id,
                 cred.kind == TV_CRED_KEYFILE ? "key file" : "passphrase");
    }
    tv_secret_free(secret);
    return rc;
}

/* Checks the operands of each subcommand before the vault is opened. */
static int
check_sub(const char *sub, const struct cli_args *a, uint32_t *slot)
{
    int is_add = strcmp(sub, "add") == 0;

    if (a->rest != NULL)
        return cli_misuse(usage, "unexpected '--'");
    if (strcmp(sub, "ls") == 0 || is_add) {
        if (a->npos > 0)
            return cli_misuse(usage, "'keys %s' takes no operands", sub);
        if (is_add && !!a->opt[O_PASS].count == !!a->opt[O_KEYFILE].count)
            return cli_misuse(usage, "'keys add' needs one of '--passphrase' "
                                     "or '--key-file PATH'");
        if (is_add && a->opt[O_KEYFILE].count && a->opt[O_KDF].count)
            return cli_misuse(usage, "'--kdf' goes with '--passphrase'");
        return -1;
    }
    if (strcmp(sub, "rm") == 0) {
        if (a->npos != 1 || cli_parse_u32(a->pos[0], 0, UINT32_MAX, slot) != 0)
            return cli_misuse(usage, "'keys rm' needs a SLOT number");
        return -1;
    }
    return cli_misuse(usage, "unknown 'keys' command '%s'", sub);
}

int
cmd_keys(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_secret *pass = NULL;
    struct tv_vault *v = NULL;
    struct cli_args a;
    const char *sub;
    uint32_t slot = 0;
    enum tv_status st = TV_OK;
    int rc;

    if (argc < 1 || argv[0][0] == '-') {
        rc = cli_parse(usage, NULL, 0, argc, argv, &a);
        if (rc >= 0)
            return rc;
        cli_args_free(&a);
        return cli_misuse(usage, "keys needs ls, add or rm");
    }
    sub = argv[0];
    rc = cli_parse(usage, add_opts, strcmp(sub, "add") == 0 ? 3 : 0, argc - 1,
                   argv + 1, &a);
    if (rc >= 0)
        return rc;
    rc = check_sub(sub, &a, &slot);
    if (rc >= 0)
        goto out;
    /*
     * A piped passphrase is read before unlocking:
     * TIERVAULT_PASSPHRASE_COMMAND inherits standard input, and must
     * neither see nor swallow it.
     */
    if (strcmp(sub, "add") == 0 && a.opt[O_PASS].count &&
        !isatty(STDIN_FILENO) &&
        cli_new_passphrase(0, 1, &pass, &err) != TV_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (strcmp(sub, "ls") == 0)
        st = tv_vault_slots(v, print_slot, NULL, &err);
    else if (strcmp(sub, "add") == 0) {
        rc = keys_add(c, v, &a, pass);
        pass = NULL;
    } else if ((st = tv_vault_slot_rm(v, slot, &err)) == TV_OK)
        cli_info(c, "removed keyslot %u", slot);
    if (st != TV_OK)
        rc = cli_fail(&err);

out:
    tv_secret_free(pass);
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
