/*
 * cmd_init.c - tiervault init: create a vault with a passphrase slot, a
 * key-file slot, or both.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: tiervault init [--kdf interactive|moderate|sensitive]\n"
    "                      [--key-file PATH [--no-passphrase]]\n"
    "\n"
    "Creates the vault (mode 0700, parents too).  The passphrase comes from\n"
    "TIERVAULT_PASSPHRASE_FILE, TIERVAULT_PASSPHRASE_COMMAND,\n"
    "TIERVAULT_PASSPHRASE or a double prompt on the terminal.\n"
    "\n"
    "  --kdf PROFILE     Argon2id cost of the passphrase slot (moderate)\n"
    "  --key-file PATH   also add a key-file slot: PATH is created with a\n"
    "                    new random key, or its existing key is enrolled\n"
    "  --no-passphrase   with --key-file: no passphrase slot\n";

enum { O_KDF, O_KEYFILE, O_NOPASS };

static const struct cli_opt opts[] = {
    [O_KDF] = { "kdf", 0, 1, 0 },
    [O_KEYFILE] = { "key-file", 0, 1, 0 },
    [O_NOPASS] = { "no-passphrase", 0, 0, 0 },
};

/* Creates the missing parent directories of dir, mode 0700. */
static int
make_parents(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);

    if (len >= sizeof(path)) {
        cli_error("vault path too long");
        return 1;
    }
    memcpy(path, dir, len + 1);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            cli_error("cannot create '%s': %s", path, strerror(errno));
            return 1;
        }
        *p = '/';
    }
    return 0;
}

int
cmd_init(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_secret *key = NULL, *pass = NULL;
    struct tv_cred creds[2];
    struct cli_args a;
    const char *keyfile;
    size_t ncreds = 0;
    int kdf = TV_KDF_MODERATE, created = 0, rc;

    rc = cli_parse(usage, opts, 3, argc, argv, &a);
    if (rc >= 0)
        return rc;
    keyfile = a.opt[O_KEYFILE].value;
    if (a.npos > 0 || a.rest != NULL)
        rc = cli_misuse(usage, "init takes no operands");
    else if (a.opt[O_NOPASS].count && keyfile == NULL)
        rc = cli_misuse(usage, "'--no-passphrase' needs '--key-file PATH'");
    else if (a.opt[O_KDF].count && (kdf = tv_kdf_parse(a.opt[O_KDF].value)) < 0)
        rc = cli_misuse(usage, "unknown kdf profile '%s'", a.opt[O_KDF].value);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (cli_need_vault_dir(c) || make_parents(c->vault_dir) != 0)
        goto out;
    if (!a.opt[O_NOPASS].count) {
        if (cli_new_passphrase(1, 0, &pass, &err) != TV_OK)
            goto fail;
        creds[ncreds++] =
            (struct tv_cred){ TV_CRED_PASSPHRASE, pass, (enum tv_kdf)kdf };
    }
    if (keyfile != NULL) {
        if (cli_key_file(keyfile, &key, &created, &err) != TV_OK)
            goto fail;
        creds[ncreds++] =
            (struct tv_cred){ TV_CRED_KEYFILE, key, (enum tv_kdf)kdf };
    }
    if (tv_vault_init(c->vault_dir, creds, ncreds, c->actor, &err) != TV_OK)
        goto fail;
    cli_info(c, "created the vault '%s'", c->vault_dir);
    if (created)
        cli_info(c,
                 "created the key file '%s': keep it private and backed "
                 "up",
                 keyfile);
    rc = 0;
    goto out;

fail:
    if (created)
        unlink(keyfile);
    rc = cli_fail(&err);
out:
    tv_secret_free(pass);
    tv_secret_free(key);
    cli_args_free(&a);
    return rc;
}
