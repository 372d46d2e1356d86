/*
 * cmd_rm.c - tiervault rm: delete a secret by adding a tombstone version.
 */
#include "cli.h"

static const char usage[] =
    "usage: tiervault rm SERVICE NAME\n"
    "\n"
    "Deletes SERVICE/NAME: a tombstone version is added, every earlier\n"
    "version stays in the history and 'tiervault rollback' brings it back.\n";

int
cmd_rm(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;
    struct cli_args a;
    uint32_t version = 0;
    int rc;

    rc = cli_parse(usage, NULL, 0, argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = cli_check_target(usage, &a, 0, 1);
    if (rc < 0)
        rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (tv_vault_rm(v, a.pos[0], a.pos[1], &version, &err) != TV_OK)
        rc = cli_fail(&err);
    else
        cli_info(c,
                 "deleted '%s/%s' (version %u is a tombstone; 'tiervault "
                 "rollback' restores an earlier one)",
                 a.pos[0], a.pos[1], version);

out:
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
