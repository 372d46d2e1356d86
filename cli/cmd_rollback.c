/*
 * cmd_rollback.c - tiervault rollback: make an old value current again.
 */
#include "cli.h"

static const char usage[] =
    "usage: tiervault rollback SERVICE NAME VERSION\n"
    "\n"
    "Makes the value of VERSION current again, as a new version; the\n"
    "history keeps every version.\n";

int
cmd_rollback(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;
    struct cli_args a;
    uint32_t old = 0, version = 0;
    int rc;

    rc = cli_parse(usage, NULL, 0, argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = cli_check_target(usage, &a, 1, 1);
    if (rc < 0 && cli_parse_u32(a.pos[2], 1, UINT32_MAX, &old) != 0)
        rc = cli_misuse(usage, "VERSION: expected a version number");
    if (rc < 0)
        rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (tv_vault_rollback(v, a.pos[0], a.pos[1], old, &version, &err) != TV_OK)
        rc = cli_fail(&err);
    else
        cli_info(c, "'%s/%s' is now version %u, with the value of version %u",
                 a.pos[0], a.pos[1], version, old);

out:
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
