/*
 * opts.h - strict command line parsing for the tiervault commands: long
 * options with or without a value (`--tier core`, `--tier=core`), a few
 * short flags, `--` ending the options, every option at most once unless
 * it is declared repeatable, and checked number parsing.
 */
#ifndef TV_CLI_OPTS_H
#define TV_CLI_OPTS_H

#include <stddef.h>
#include <stdint.h>

#define CLI_OPTS_MAX 16

struct cli_opt {
    const char *name; /* long name without the dashes: "tier" */
    char short_name;  /* 'q', or 0 for none */
    int has_arg;      /* takes a value */
    int repeat;       /* may be given more than once */
};

struct cli_optval {
    int count;           /* times given */
    const char *value;   /* the last value (has_arg), else NULL */
    const char **values; /* every value in order (repeatable), count long */
};

struct cli_args {
    struct cli_optval opt[CLI_OPTS_MAX]; /* by index into the table */
    char **pos;                          /* operands before `--` */
    int npos;
    char **rest; /* what follows `--`, or NULL when there is none */
    int nrest;
    int help; /* -h or --help was given */
};

/*
 * Parses argv[0..argc) (argv[0] is the first word after the command) with
 * the table opts of nopts entries (at most CLI_OPTS_MAX).  Operands and
 * options may be mixed; `--` ends the options.  On success *out holds the
 * result (release it with cli_args_free, also after a failure) and 0 is
 * returned.  On misuse a message naming the problem ("unknown option
 * '--x'", "option '--tier' given twice", "option '--tier' needs a value")
 * is written to why and -1 is returned.  -h/--help sets out->help and
 * stops parsing with success.
 */
int cli_args_parse(const struct cli_opt *opts, size_t nopts, int argc,
                   char **argv, struct cli_args *out, char *why, size_t whylen);

/* Releases what cli_args_parse allocated; out may be partly filled. */
void cli_args_free(struct cli_args *a);

/*
 * Parses s as a decimal number in [min, max]: digits only, no sign, no
 * spaces, no leading zero unless it is "0", no overflow.  Returns 0 and
 * sets *out, or -1.
 */
int cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

#endif
