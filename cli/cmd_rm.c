/*
 * cmd_rm.c - tiervault rm and tiervault rollback: the two mutations that
 * make a new version out of history (a tombstone, or an old value).
 */
#include "cli.h"

static const char rm_usage[] =
    "usage: tiervault rm SERVICE NAME\n"
    "\n"
    "Deletes SERVICE/NAME: a tombstone version is added, every earlier\n"
    "version stays in the history and 'tiervault rollback' brings it back.\n";

static const char rollback_usage[] =
    "usage: tiervault rollback SERVICE NAME VERSION\n"
    "\n"
    "Makes the value of VERSION current again, as a new version.\n";

/* Parses SERVICE NAME [VERSION] for rm (nver 0) and rollback (nver 1). */
static int
parse_target(const char *usage, int nver, int argc, char **argv,
             struct cli_args *a, uint32_t *version)
{
    int rc = cli_parse(usage, NULL, 0, argc, argv, a);

    if (rc >= 0)
        return rc;
    rc = cli_check_target(usage, a, nver, 1);
    if (rc < 0 && nver && cli_parse_u32(a->pos[2], 1, UINT32_MAX, version))
        rc = cli_misuse(usage, "VERSION: expected a version number");
    if (rc >= 0)
        cli_args_free(a);
    return rc;
}

static int
mutate(struct tv_cli *c, const char *usage, int nver, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;
    struct cli_args a;
    uint32_t old = 0, version = 0;
    enum tv_status st;
    int rc;

    rc = parse_target(usage, nver, argc, argv, &a, &old);
    if (rc >= 0)
        return rc;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (nver)
        st = tv_vault_rollback(v, a.pos[0], a.pos[1], old, &version, &err);
    else
        st = tv_vault_rm(v, a.pos[0], a.pos[1], &version, &err);
    if (st != TV_OK)
        rc = cli_fail(&err);
    else if (nver)
        cli_info(c, "'%s/%s' is now version %u, with the value of version %u",
                 a.pos[0], a.pos[1], version, old);
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

int
cmd_rm(struct tv_cli *c, int argc, char **argv)
{
    return mutate(c, rm_usage, 0, argc, argv);
}

int
cmd_rollback(struct tv_cli *c, int argc, char **argv)
{
    return mutate(c, rollback_usage, 1, argc, argv);
}
