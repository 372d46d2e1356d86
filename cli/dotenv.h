/*
 * dotenv.h - the parser of `.dev.vars` / `.env` files, as Wrangler and the
 * dotenv tools write them: comments, blank lines, an `export ` prefix,
 * `NAME=value` with unquoted values (trimmed, ` #` starts a comment),
 * single-quoted values (literal), double-quoted values with `\n` `\r` `\t`
 * `\"` `\\` escapes, values spanning lines inside quotes, CRLF line ends,
 * a leading UTF-8 byte order mark.
 *
 * A pure function over a buffer: no I/O, no printing.  Values are decoded
 * into one guarded arena; names are not secret and live in ordinary memory.
 */
#ifndef TV_CLI_DOTENV_H
#define TV_CLI_DOTENV_H

#include <stddef.h>

#include "tv_error.h"
#include "tv_mem.h"
#include "tv_vault.h"

struct tv_dotenv_entry {
    char name[TV_NAME_MAX + 1];
    /*
     * A view into the parse's arena (data points there, NUL-terminated):
     * pass it where a const struct tv_secret * is wanted, never free it.
     */
    struct tv_secret value;
    size_t line; /* 1-based line the entry starts on; 0 when not a file */
};

struct tv_dotenv {
    struct tv_dotenv_entry *entries; /* n of them, in file order */
    size_t n;
    size_t cap;              /* entries allocated */
    struct tv_secret *arena; /* holds every value; owned */
    size_t arena_used;       /* bytes of the arena in use */
    size_t error_line;       /* after a TV_EINPUT failure: the bad line */
};

/*
 * Parses len bytes at buf.  source names the input in messages.  On
 * success *out holds the entries (release with tv_dotenv_free).  On
 * failure nothing is kept: TV_EINPUT with a message
 * "SOURCE:LINE: problem" that never quotes a value (bad syntax, invalid
 * or duplicate name, unterminated quote, a NUL byte, a value over
 * TV_VALUE_MAX bytes) and out->error_line set, or TV_ENOMEM.
 */
enum tv_status tv_dotenv_parse(const unsigned char *buf, size_t len,
                               const char *source, struct tv_dotenv *out,
                               struct tv_error *err);

/*
 * Prepares d to receive up to cap bytes of values (plus a NUL each)
 * through tv_dotenv_add, for inputs other than dotenv text (a JSON
 * object).  TV_ENOMEM on failure.
 */
enum tv_status tv_dotenv_init(struct tv_dotenv *d, size_t cap,
                              struct tv_error *err);

/*
 * Appends an entry name=value (copied into the arena) from line.  Refuses
 * an invalid name, a value over TV_VALUE_MAX bytes or one that does not
 * fit the arena (TV_EINPUT, message "SOURCE[:LINE]: problem" without the
 * value); TV_ENOMEM.  Duplicates are found by tv_dotenv_check_unique.
 */
enum tv_status tv_dotenv_add(struct tv_dotenv *d, const char *name,
                             const void *value, size_t len, size_t line,
                             const char *source, struct tv_error *err);

/*
 * Refuses (TV_EINPUT, setting d->error_line) a name given twice, naming
 * it and both lines; the earliest second occurrence is reported.
 */
enum tv_status tv_dotenv_check_unique(struct tv_dotenv *d, const char *source,
                                      struct tv_error *err);

/* Wipes and frees every value and the entries; d may be zeroed. */
void tv_dotenv_free(struct tv_dotenv *d);

#endif
