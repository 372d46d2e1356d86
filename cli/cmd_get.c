/*
 * cmd_get.c - tiervault get: print one value on standard output.
 */
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: tiervault get SERVICE NAME [--version N]\n"
    "\n"
    "Prints the current value of SERVICE/NAME, or version N, and a newline\n"
    "on standard output.\n";

static const struct cli_opt opts[] = {
    { "version", 0, 1, 0 },
};

int
cmd_get(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_secret *value = NULL;
    struct tv_vault *v = NULL;
    struct cli_args a;
    uint32_t version = 0;
    int rc;

    rc = cli_parse(usage, opts, 1, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.opt[0].count &&
        cli_parse_u32(a.opt[0].value, 1, UINT32_MAX, &version) != 0)
        rc = cli_misuse(usage, "--version: expected a version number");
    else
        rc = cli_check_target(usage, &a, 0, 0);
    if (rc >= 0)
        goto out;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (tv_vault_get(v, a.pos[0], a.pos[1], version, &value, NULL, &err) !=
            TV_OK ||
        cli_write_all(STDOUT_FILENO, value->data, value->len, &err) != TV_OK ||
        cli_write_all(STDOUT_FILENO, "\n", 1, &err) != TV_OK)
        rc = cli_fail(&err);

out:
    tv_secret_free(value);
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
