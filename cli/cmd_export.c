/*
 * cmd_export.c - tiervault export: a service's secrets as dotenv (which
 * imports back losslessly), a JSON object, or the flat JSON object of
 * name -> value that `wrangler secret bulk` reads.  The output is built in
 * guarded memory and written once.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "secbuf.h"

static const char usage[] =
    "usage: tiervault export --service SERVICE [--tier TIER]\n"
    "                        [--format dotenv|json|wrangler]\n"
    "\n"
    "Prints the current values of SERVICE (only TIER's with --tier) on\n"
    "standard output: dotenv lines (default; quoted where needed, so that\n"
    "'tiervault import' reads them back unchanged), a JSON object, or\n"
    "wrangler: the JSON object 'wrangler secret bulk' accepts.\n";

enum { O_SERVICE, O_TIER, O_FORMAT };

static const struct cli_opt opts[] = {
    [O_SERVICE] = { "service", 0, 1, 0 },
    [O_TIER] = { "tier", 0, 1, 0 },
    [O_FORMAT] = { "format", 0, 1, 0 },
};

enum format { F_DOTENV, F_JSON, F_WRANGLER };

/* 1 if the value can be written unquoted and read back the same. */
static int
plain_ok(const struct tv_secret *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_-./:@%+,=^~";

    for (size_t i = 0; i < s->len; i++)
        if (s->data[i] == '\0' || strchr(safe, s->data[i]) == NULL)
            return 0;
    return 1;
}

/* 1 if s is well-formed UTF-8 (what a JSON string must hold). */
static int
utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            k = 1;
        else if ((c & 0xf0) == 0xe0)
            k = 2;
        else if ((c & 0xf8) == 0xf0)
            k = 3;
        else
            return 0;
        if (n - i <= k)
            return 0;
        cp = c & (0x3fu >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

static enum tv_status
put_str(struct cli_secbuf *b, const char *s, struct tv_error *err)
{
    return cli_secbuf_append(b, s, strlen(s), err);
}

/* Appends the value, escaped for a double-quoted dotenv or JSON string. */
static enum tv_status
put_quoted(struct cli_secbuf *b, const struct tv_secret *s, int json,
           struct tv_error *err)
{
    enum tv_status st = cli_secbuf_append(b, "\"", 1, err);
    char esc[8];

    for (size_t i = 0; st == TV_OK && i < s->len; i++) {
        unsigned char ch = s->data[i];
        const char *e = ch == '"'            ? "\\\""
                        : ch == '\\'         ? "\\\\"
                        : ch == '\n'         ? "\\n"
                        : ch == '\r'         ? "\\r"
                        : ch == '\t' && json ? "\\t"
                                             : NULL;

        if (e == NULL && json && ch < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            e = esc;
        }
        if (e != NULL)
            st = put_str(b, e, err);
        else
            st = cli_secbuf_append(b, &ch, 1, err);
    }
    if (st == TV_OK)
        st = cli_secbuf_append(b, "\"", 1, err);
    return st;
}

static enum tv_status
put_entry(struct cli_secbuf *b, enum format f, size_t i, const char *name,
          const struct tv_secret *value, struct tv_error *err)
{
    enum tv_status st;

    if (memchr(value->data, '\0', value->len) != NULL)
        return tv_error_set(err, TV_EINPUT,
                            "cannot export '%s': its value holds a NUL byte",
                            name);
    if (f == F_DOTENV) {
        st = put_str(b, name, err);
        if (st == TV_OK)
            st = put_str(b, "=", err);
        if (st == TV_OK && plain_ok(value))
            st = cli_secbuf_append(b, value->data, value->len, err);
        else if (st == TV_OK)
            st = put_quoted(b, value, 0, err);
        return st == TV_OK ? put_str(b, "\n", err) : st;
    }
    if (!utf8_ok(value->data, value->len))
        return tv_error_set(err, TV_EINPUT,
                            "cannot export '%s' as JSON: its value is not "
                            "UTF-8 text (use --format dotenv)",
                            name);
    st = put_str(b,
                 i == 0 ? (f == F_JSON ? "{\n  \"" : "{\"")
                        : (f == F_JSON ? ",\n  \"" : ",\""),
                 err);
    if (st == TV_OK)
        st = put_str(b, name, err);
    if (st == TV_OK)
        st = put_str(b, f == F_JSON ? "\": " : "\":", err);
    if (st == TV_OK)
        st = put_quoted(b, value, 1, err);
    return st;
}

static enum tv_status
export_all(struct tv_vault *v, const struct cli_records *rs, enum format f,
           struct cli_secbuf *b, struct tv_error *err)
{
    enum tv_status st = TV_OK;

    for (size_t i = 0; st == TV_OK && i < rs->n; i++) {
        struct tv_secret *value = NULL;

        st = tv_vault_get(v, rs->r[i].service, rs->r[i].name, 0, &value, NULL,
                          err);
        if (st == TV_OK)
            st = put_entry(b, f, i, rs->r[i].name, value, err);
        tv_secret_free(value);
    }
    if (st == TV_OK && f != F_DOTENV)
        st = put_str(b, f == F_JSON ? "\n}\n" : "}\n", err);
    return st;
}

static int
check_args(const struct cli_args *a, enum format *f)
{
    const char *fmt = a->opt[O_FORMAT].value;

    if (a->npos != 0 || a->rest != NULL)
        return cli_misuse(usage, "export takes no operands");
    if (a->opt[O_SERVICE].value == NULL)
        return cli_misuse(usage, "option '--service' is required");
    if (fmt == NULL || strcmp(fmt, "dotenv") == 0)
        *f = F_DOTENV;
    else if (strcmp(fmt, "json") == 0)
        *f = F_JSON;
    else if (strcmp(fmt, "wrangler") == 0)
        *f = F_WRANGLER;
    else
        return cli_misuse(usage, "unknown format '%s'", fmt);
    if (cli_check_service(a->opt[O_SERVICE].value, 0) ||
        (a->opt[O_TIER].value && cli_check_tier(a->opt[O_TIER].value)))
        return 1;
    return -1;
}

int
cmd_export(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct cli_records rs = { 0 };
    struct cli_secbuf b = { 0 };
    struct tv_vault *v = NULL;
    struct cli_args a;
    enum format f = F_DOTENV;
    int rc;

    rc = cli_parse(usage, opts, 3, argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = check_args(&a, &f);
    if (rc >= 0)
        goto out;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (cli_records_load(v, a.opt[O_SERVICE].value, a.opt[O_TIER].value, &rs,
                         &err) != TV_OK)
        goto fail;
    if (rs.n == 0) {
        tv_error_set(&err, TV_ENOTFOUND, "no secrets in '%s'%s%s",
                     a.opt[O_SERVICE].value,
                     a.opt[O_TIER].value ? " in tier " : "",
                     a.opt[O_TIER].value ? a.opt[O_TIER].value : "");
        goto fail;
    }
    if (export_all(v, &rs, f, &b, &err) != TV_OK ||
        cli_write_all(STDOUT_FILENO, b.s->data, b.len, &err) != TV_OK)
        goto fail;
    rc = 0;
    goto out;

fail:
    rc = cli_fail(&err);
out:
    cli_secbuf_free(&b);
    cli_records_free(&rs);
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
