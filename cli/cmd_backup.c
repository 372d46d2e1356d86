/*
 * cmd_backup.c - tiervault backup: a consistent, compacted copy.
 */
#include "cli.h"

static const char usage[] =
    "usage: tiervault backup PATH\n"
    "\n"
    "Writes a consistent, compacted copy of the vault to PATH, a new\n"
    "directory (never overwritten) that opens with the same keys.\n";

int
cmd_backup(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;
    struct cli_args a;
    int rc;

    rc = cli_parse(usage, NULL, 0, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.npos != 1 || a.rest != NULL) {
        rc = cli_misuse(usage, "backup needs PATH");
        goto out;
    }
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (tv_vault_backup(v, a.pos[0], &err) != TV_OK)
        rc = cli_fail(&err);
    else
        cli_info(c, "wrote the backup '%s'", a.pos[0]);

out:
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
