/* Placeholder until the policies work lands; replaced, never shipped. */
#include "cli.h"

int
cmd_status(struct tv_cli *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    cli_error("'status' is not built yet");
    return 1;
}
