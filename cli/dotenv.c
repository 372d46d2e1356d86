/*
 * dotenv.c - the `.dev.vars` parser (see dotenv.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

struct parser {
    const unsigned char *buf;
    size_t len;
    size_t pos;
    size_t line; /* of pos, 1-based */
    const char *source;
    struct tv_dotenv *out;
    struct tv_error *err;
};

static enum tv_status
failv(struct tv_dotenv *d, const char *source, size_t line,
      struct tv_error *err, const char *fmt, va_list ap)
{
    char what[TV_ERROR_MSG_MAX];

    vsnprintf(what, sizeof(what), fmt, ap);
    d->error_line = line;
    if (line > 0)
        return tv_error_set(err, TV_EINPUT, "%s:%zu: %s", source, line, what);
    return tv_error_set(err, TV_EINPUT, "%s: %s", source, what);
}

static enum tv_status fail(struct parser *p, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum tv_status
fail(struct parser *p, size_t line, const char *fmt, ...)
{
    enum tv_status st;
    va_list ap;

    va_start(ap, fmt);
    st = failv(p->out, p->source, line, p->err, fmt, ap);
    va_end(ap);
    return st;
}

static int
is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int
at_eol(const struct parser *p)
{
    if (p->pos >= p->len || p->buf[p->pos] == '\n')
        return 1;
    return p->buf[p->pos] == '\r' &&
           (p->pos + 1 == p->len || p->buf[p->pos + 1] == '\n');
}

static void
skip_eol(struct parser *p)
{
    if (p->pos < p->len && p->buf[p->pos] == '\r')
        p->pos++;
    if (p->pos < p->len && p->buf[p->pos] == '\n') {
        p->pos++;
        p->line++;
    }
}

static void
skip_blanks(struct parser *p)
{
    while (p->pos < p->len && is_blank(p->buf[p->pos]))
        p->pos++;
}

static void
skip_to_eol(struct parser *p)
{
    while (!at_eol(p))
        p->pos++;
}

enum tv_status
tv_dotenv_init(struct tv_dotenv *d, size_t cap, struct tv_error *err)
{
    memset(d, 0, sizeof(*d));
    return tv_secret_new(&d->arena, cap + 1, err);
}

/* Makes room for one more entry and returns it, zeroed; NULL: no memory. */
static struct tv_dotenv_entry *
new_entry(struct tv_dotenv *d)
{
    struct tv_dotenv_entry *grown;

    if (d->n == d->cap) {
        size_t want = d->cap ? d->cap * 2 : 16;

        grown = realloc(d->entries, want * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        d->entries = grown;
        d->cap = want;
    }
    memset(&d->entries[d->n], 0, sizeof(d->entries[d->n]));
    return &d->entries[d->n];
}

enum tv_status
tv_dotenv_add(struct tv_dotenv *d, const char *name, const void *value,
              size_t len, size_t line, const char *source, struct tv_error *err)
{
    struct tv_dotenv_entry *e;

    if (!tv_name_valid(name))
        return tv_error_set(err, TV_EINPUT,
                            "%s: invalid name: use 1 to %d letters, digits, "
                            "'_', '.' or '-'",
                            source, TV_NAME_MAX);
    if (len > TV_VALUE_MAX)
        return tv_error_set(err, TV_EINPUT,
                            "%s: value of '%s' is longer than %d bytes", source,
                            name, TV_VALUE_MAX);
    if (d->arena == NULL || d->arena_used + len + 1 > d->arena->len)
        return tv_error_set(err, TV_EINPUT, "%s: values too large", source);
    e = new_entry(d);
    if (e == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->value.data = d->arena->data + d->arena_used;
    e->value.len = len;
    memcpy(e->value.data, value, len);
    e->value.data[len] = '\0';
    e->line = line;
    d->arena_used += len + 1;
    d->n++;
    return TV_OK;
}

static int
cmp_entry(const void *a, const void *b)
{
    const struct tv_dotenv_entry *x = *(const struct tv_dotenv_entry *const *)a;
    const struct tv_dotenv_entry *y = *(const struct tv_dotenv_entry *const *)b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return (x > y) - (x < y);
}

enum tv_status
tv_dotenv_check_unique(struct tv_dotenv *d, const char *source,
                       struct tv_error *err)
{
    const struct tv_dotenv_entry **v;
    const struct tv_dotenv_entry *first = NULL, *second = NULL;
    enum tv_status st = TV_OK;

    if (d->n < 2)
        return TV_OK;
    v = malloc(d->n * sizeof(*v));
    if (v == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (size_t i = 0; i < d->n; i++)
        v[i] = &d->entries[i];
    qsort(v, d->n, sizeof(*v), cmp_entry);
    for (size_t i = 1, head = 0; i < d->n; i++) {
        if (strcmp(v[i]->name, v[head]->name) != 0) {
            head = i;
            continue;
        }
        if (i == head + 1 && (second == NULL || v[i] < second)) {
            first = v[head];
            second = v[i];
        }
    }
    if (second != NULL && second->line > 0) {
        d->error_line = second->line;
        st = tv_error_set(err, TV_EINPUT,
                          "%s:%zu: duplicate name '%s' (first on line %zu)",
                          source, second->line, second->name, first->line);
    } else if (second != NULL) {
        st = tv_error_set(err, TV_EINPUT, "%s: duplicate name '%s'", source,
                          second->name);
    }
    free(v);
    return st;
}

/*
 * Decodes a quoted value starting at the opening quote q into dst (room
 * for cap bytes); *n gets its length.  CRLF inside becomes LF.
 */
static enum tv_status
read_quoted(struct parser *p, unsigned char *dst, size_t cap, size_t *n)
{
    unsigned char q = p->buf[p->pos];
    size_t start = p->line, k = 0;

    p->pos++;
    while (p->pos < p->len) {
        unsigned char c = p->buf[p->pos];
        const char *esc = "n\nr\rt\t\"\"\\\\";
        const char *hit;

        if (c == q) {
            p->pos++;
            *n = k;
            return TV_OK;
        }
        if (k == cap)
            return fail(p, start, "value does not fit");
        if (c == '\r' && p->pos + 1 < p->len && p->buf[p->pos + 1] == '\n') {
            p->pos++;
            continue;
        }
        if (c == '\n')
            p->line++;
        if (c == '\\' && q == '"' && p->pos + 1 < p->len &&
            p->buf[p->pos + 1] != '\0' &&
            (hit = strchr(esc, p->buf[p->pos + 1])) != NULL &&
            (hit - esc) % 2 == 0) {
            dst[k++] = (unsigned char)hit[1];
            p->pos += 2;
            continue;
        }
        dst[k++] = c;
        p->pos++;
    }
    return fail(p, start, "unterminated %s-quoted value",
                q == '"' ? "double" : "single");
}

/* An unquoted value: to the end of the line or a ` #` comment, trimmed. */
static enum tv_status
read_plain(struct parser *p, unsigned char *dst, size_t cap, size_t *n)
{
    size_t start = p->pos, end;

    while (!at_eol(p)) {
        if (p->buf[p->pos] == '#' && is_blank(p->buf[p->pos - 1]))
            break;
        p->pos++;
    }
    end = p->pos;
    skip_to_eol(p);
    while (end > start && is_blank(p->buf[end - 1]))
        end--;
    if (end - start > cap)
        return fail(p, p->line, "value does not fit");
    memcpy(dst, p->buf + start, end - start);
    *n = end - start;
    return TV_OK;
}

/* Reads NAME and '=' at pos into name; a leading `export ` is skipped. */
static enum tv_status
read_name(struct parser *p, char name[TV_NAME_MAX + 1])
{
    size_t start, end;

    if (p->len - p->pos >= 7 && memcmp(p->buf + p->pos, "export", 6) == 0 &&
        is_blank(p->buf[p->pos + 6])) {
        p->pos += 6;
        skip_blanks(p);
    }
    start = p->pos;
    while (!at_eol(p) && p->buf[p->pos] != '=' && !is_blank(p->buf[p->pos]))
        p->pos++;
    end = p->pos;
    skip_blanks(p);
    if (at_eol(p) || p->buf[p->pos] != '=')
        return fail(p, p->line, "expected NAME=VALUE");
    if (end - start > TV_NAME_MAX || end == start)
        goto invalid;
    memcpy(name, p->buf + start, end - start);
    name[end - start] = '\0';
    if (!tv_name_valid(name))
        goto invalid;
    p->pos++;
    return TV_OK;

invalid:
    return fail(p, p->line,
                "invalid name: use 1 to %d letters, digits, '_', '.' or '-'",
                TV_NAME_MAX);
}

static enum tv_status
read_entry(struct parser *p)
{
    struct tv_dotenv *d = p->out;
    struct tv_dotenv_entry *e;
    unsigned char *dst = d->arena->data + d->arena_used;
    size_t room = d->arena->len - d->arena_used - 1, n = 0, line = p->line;
    char name[TV_NAME_MAX + 1];
    enum tv_status st;

    st = read_name(p, name);
    if (st != TV_OK)
        return st;
    skip_blanks(p);
    if (p->pos < p->len && (p->buf[p->pos] == '"' || p->buf[p->pos] == '\''))
        st = read_quoted(p, dst, room, &n);
    else
        st = read_plain(p, dst, room, &n);
    if (st != TV_OK)
        return st;
    skip_blanks(p);
    if (!at_eol(p) && p->buf[p->pos] != '#')
        return fail(p, p->line, "unexpected text after the closing quote");
    skip_to_eol(p);
    if (n > TV_VALUE_MAX)
        return fail(p, line, "value of '%s' is longer than %d bytes", name,
                    TV_VALUE_MAX);
    e = new_entry(d);
    if (e == NULL)
        return tv_error_set(p->err, TV_ENOMEM, "out of memory");
    memcpy(e->name, name, sizeof(e->name));
    e->value.data = dst;
    e->value.len = n;
    dst[n] = '\0';
    e->line = line;
    d->arena_used += n + 1;
    d->n++;
    return TV_OK;
}

enum tv_status
tv_dotenv_parse(const unsigned char *buf, size_t len, const char *source,
                struct tv_dotenv *out, struct tv_error *err)
{
    struct parser p = { buf, len, 0, 1, source, out, err };
    const unsigned char *nul;
    size_t line = 1;
    enum tv_status st;

    st = tv_dotenv_init(out, len, err);
    if (st != TV_OK)
        return st;
    nul = memchr(buf, '\0', len);
    if (nul != NULL) {
        for (const unsigned char *c = buf; c < nul; c++)
            line += *c == '\n';
        st = fail(&p, line, "NUL byte in the input");
        goto fail;
    }
    /* editors on Windows may start the file with a UTF-8 byte order mark */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        p.pos = 3;
    while (p.pos < p.len) {
        skip_blanks(&p);
        if (!at_eol(&p) && p.buf[p.pos] == '#')
            skip_to_eol(&p);
        if (!at_eol(&p)) {
            st = read_entry(&p);
            if (st != TV_OK)
                goto fail;
        }
        skip_eol(&p);
    }
    st = tv_dotenv_check_unique(out, source, err);
    if (st != TV_OK)
        goto fail;
    return TV_OK;

fail:
    line = out->error_line;
    tv_dotenv_free(out);
    out->error_line = line;
    return st;
}

void
tv_dotenv_free(struct tv_dotenv *d)
{
    if (d == NULL)
        return;
    free(d->entries);
    tv_secret_free(d->arena);
    memset(d, 0, sizeof(*d));
}
