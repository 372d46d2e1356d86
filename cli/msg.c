/*
 * msg.c - every message the tiervault program prints on stderr goes
 * through here: the "tiervault: " prefix, -q and -v, colour only when
 * stderr is a terminal and NO_COLOR is unset.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

static int msg_verbosity;
static int msg_color;

void
cli_msg_init(int verbosity, int color)
{
    msg_verbosity = verbosity;
    msg_color = color;
}

static void
vsay(const char *color, const char *label, const char *fmt, va_list ap)
{
    fflush(stdout);
    if (msg_color && color != NULL)
        fputs(color, stderr);
    fputs("tiervault: ", stderr);
    if (label != NULL)
        fputs(label, stderr);
    vfprintf(stderr, fmt, ap);
    if (msg_color && color != NULL)
        fputs("\033[0m", stderr);
    fputc('\n', stderr);
}

void
cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay("\033[31m", NULL, fmt, ap);
    va_end(ap);
}

void
cli_warn(const struct tv_cli *c, const char *fmt, ...)
{
    va_list ap;

    if ((c != NULL ? c->verbosity : msg_verbosity) < 0)
        return;
    va_start(ap, fmt);
    vsay("\033[33m", "warning: ", fmt, ap);
    va_end(ap);
}

void
cli_info(const struct tv_cli *c, const char *fmt, ...)
{
    va_list ap;

    if ((c != NULL ? c->verbosity : msg_verbosity) < 0)
        return;
    va_start(ap, fmt);
    vsay(NULL, NULL, fmt, ap);
    va_end(ap);
}

void
cli_verbose(const struct tv_cli *c, const char *fmt, ...)
{
    va_list ap;

    if ((c != NULL ? c->verbosity : msg_verbosity) < 1)
        return;
    va_start(ap, fmt);
    vsay(NULL, NULL, fmt, ap);
    va_end(ap);
}

int
cli_fail(const struct tv_error *err)
{
    cli_error("%s", err->msg[0] ? err->msg : tv_status_name(err->code));
    return tv_status_exit_code(err->code);
}

int
cli_misuse(const char *usage, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay("\033[31m", NULL, fmt, ap);
    va_end(ap);
    return cli_usage(stderr, usage);
}

int
cli_usage(FILE *to, const char *text)
{
    fputs(text, to);
    fflush(to);
    return to == stdout ? 0 : 2;
}
