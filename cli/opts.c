/*
 * opts.c - strict command line parsing (see opts.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

static long
find_long(const struct cli_opt *opts, size_t nopts, const char *name,
          size_t len)
{
    for (size_t i = 0; i < nopts; i++) {
        if (strlen(opts[i].name) == len &&
            strncmp(opts[i].name, name, len) == 0)
            return (long)i;
    }
    return -1;
}

static long
find_short(const struct cli_opt *opts, size_t nopts, char c)
{
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].short_name != 0 && opts[i].short_name == c)
            return (long)i;
    }
    return -1;
}

static int
record(const struct cli_opt *o, struct cli_optval *v, const char *value,
       char *why, size_t whylen)
{
    const char **grown;

    if (v->count > 0 && !o->repeat) {
        snprintf(why, whylen, "option '--%s' given twice", o->name);
        return -1;
    }
    if (o->repeat && o->has_arg) {
        grown = realloc(v->values, sizeof(*grown) * (size_t)(v->count + 1));
        if (grown == NULL) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        grown[v->count] = value;
        v->values = grown;
    }
    v->count++;
    v->value = value;
    return 0;
}

/* Handles argv[*i], a word starting with "--"; may consume the next. */
static int
parse_long(const struct cli_opt *opts, size_t nopts, int argc, char **argv,
           int *i, struct cli_args *out, char *why, size_t whylen)
{
    const char *word = argv[*i] + 2;
    const char *eq = strchr(word, '=');
    size_t len = eq ? (size_t)(eq - word) : strlen(word);
    const char *value = NULL;
    long k;

    if ((len == 4 && strncmp(word, "help", 4) == 0) && eq == NULL) {
        out->help = 1;
        return 0;
    }
    k = find_long(opts, nopts, word, len);
    if (k < 0) {
        snprintf(why, whylen, "unknown option '--%.*s'", (int)len, word);
        return -1;
    }
    if (opts[k].has_arg) {
        if (eq != NULL) {
            value = eq + 1;
        } else if (*i + 1 < argc) {
            value = argv[++*i];
        } else {
            snprintf(why, whylen, "option '--%s' needs a value", opts[k].name);
            return -1;
        }
    } else if (eq != NULL) {
        snprintf(why, whylen, "option '--%s' takes no value", opts[k].name);
        return -1;
    }
    return record(&opts[k], &out->opt[k], value, why, whylen);
}

/* Handles a cluster of short flags such as "-q" or "-qv". */
static int
parse_short(const struct cli_opt *opts, size_t nopts, const char *word,
            struct cli_args *out, char *why, size_t whylen)
{
    for (const char *p = word + 1; *p != '\0'; p++) {
        long k;

        if (*p == 'h') {
            out->help = 1;
            return 0;
        }
        k = find_short(opts, nopts, *p);
        if (k < 0 || opts[k].has_arg) {
            snprintf(why, whylen, "unknown option '-%c'", *p);
            return -1;
        }
        if (record(&opts[k], &out->opt[k], NULL, why, whylen) != 0)
            return -1;
    }
    return 0;
}

int
cli_args_parse(const struct cli_opt *opts, size_t nopts, int argc, char **argv,
               struct cli_args *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (nopts > CLI_OPTS_MAX || argc < 0) {
        snprintf(why, whylen, "internal error: option table too large");
        return -1;
    }
    out->pos = calloc((size_t)argc + 1, sizeof(*out->pos));
    if (out->pos == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        int rc = 0;

        if (strcmp(w, "--") == 0) {
            out->rest = argv + i + 1;
            out->nrest = argc - i - 1;
            break;
        }
        if (strncmp(w, "--", 2) == 0)
            rc = parse_long(opts, nopts, argc, argv, &i, out, why, whylen);
        else if (w[0] == '-' && w[1] != '\0')
            rc = parse_short(opts, nopts, w, out, why, whylen);
        else
            out->pos[out->npos++] = argv[i];
        if (rc != 0)
            return -1;
        if (out->help)
            return 0;
    }
    return 0;
}

void
cli_args_free(struct cli_args *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < CLI_OPTS_MAX; i++)
        free(a->opt[i].values);
    free(a->pos);
    memset(a, 0, sizeof(*a));
}

int
cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t n = 0;

    if (s == NULL || *s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return -1;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > UINT32_MAX)
            return -1;
    }
    if (n < min || n > max)
        return -1;
    *out = (uint32_t)n;
    return 0;
}
