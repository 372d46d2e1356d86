/*
 * cmd_put.c - tiervault put: store a new version of a secret, its value
 * read from standard input, a no-echo prompt, or generated.
 */
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "secbuf.h"

static const char usage[] =
    "usage: tiervault put SERVICE NAME --tier TIER [--generate BYTES]\n"
    "                     [--note TEXT]\n"
    "\n"
    "Stores a new version of SERVICE/NAME.  The value is read from standard\n"
    "input (one trailing newline dropped); on a terminal it is asked twice\n"
    "without echo.  Values never come from the command line.\n"
    "\n"
    "  --tier TIER        the tier tag (core, payment, ai, ...)\n"
    "  --generate BYTES   a random value: BYTES (1-4096) random bytes,\n"
    "                     base64url without padding; not printed\n"
    "  --note TEXT        a note kept with the version (not secret)\n";

enum { O_TIER, O_GENERATE, O_NOTE };

static const struct cli_opt opts[] = {
    [O_TIER] = { "tier", 0, 1, 0 },
    [O_GENERATE] = { "generate", 0, 1, 0 },
    [O_NOTE] = { "note", 0, 1, 0 },
};

#define GENERATE_MAX 4096

static enum tv_status
generate(uint32_t nbytes, struct tv_secret **out, struct tv_error *err)
{
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    struct tv_secret *raw = NULL, *text = NULL;
    enum tv_status st;

    st = tv_secret_new(&raw, nbytes, err);
    if (st == TV_OK)
        st = tv_secret_new(&text, sodium_base64_ENCODED_LEN(nbytes, variant),
                           err);
    if (st == TV_OK) {
        randombytes_buf(raw->data, raw->len);
        sodium_bin2base64((char *)text->data, text->len + 1, raw->data,
                          raw->len, variant);
        text->len = strlen((char *)text->data);
        *out = text;
        text = NULL;
    }
    tv_secret_free(raw);
    tv_secret_free(text);
    return st;
}

static enum tv_status
read_value(const char *service, const char *name, struct tv_secret **out,
           struct tv_error *err)
{
    struct cli_secbuf b = { 0 };
    char prompt[320];
    enum tv_status st;

    if (isatty(STDIN_FILENO)) {
        snprintf(prompt, sizeof(prompt), "value for '%s/%s': ", service, name);
        st = tv_tty_secret(prompt, 1, out, err);
        if (st == TV_OK && (*out)->len == 0) {
            tv_secret_free(*out);
            *out = NULL;
            st = tv_error_set(err, TV_EINPUT, "an empty value is refused");
        }
        return st;
    }
    st = cli_secbuf_read_fd(&b, STDIN_FILENO, TV_VALUE_MAX + 1,
                            "standard input", err);
    if (st == TV_OK && b.len > 0 && b.s->data[b.len - 1] == '\n')
        b.s->data[--b.len] = '\0';
    if (st == TV_OK && b.len > TV_VALUE_MAX)
        st = tv_error_set(err, TV_EINPUT, "the value is longer than %d bytes",
                          TV_VALUE_MAX);
    if (st == TV_OK && b.len == 0)
        st = tv_error_set(err, TV_EINPUT,
                          "no value on standard input: pipe it in, or use "
                          "--generate BYTES");
    if (st == TV_OK)
        st = cli_secbuf_take(&b, out, err);
    cli_secbuf_free(&b);
    return st;
}

static int
check_args(const struct cli_args *a, uint32_t *gen)
{
    const char *note = a->opt[O_NOTE].value;

    if (a->npos != 2 || a->rest != NULL)
        return cli_misuse(usage, "expected SERVICE NAME");
    if (a->opt[O_TIER].value == NULL)
        return cli_misuse(usage, "option '--tier' is required");
    if (a->opt[O_GENERATE].count &&
        cli_parse_u32(a->opt[O_GENERATE].value, 1, GENERATE_MAX, gen) != 0)
        return cli_misuse(usage,
                          "--generate: expected a number of bytes "
                          "from 1 to %d",
                          GENERATE_MAX);
    if (note != NULL && strlen(note) > TV_NOTE_MAX)
        return cli_misuse(usage, "--note: longer than %d bytes", TV_NOTE_MAX);
    if (cli_check_tier(a->opt[O_TIER].value))
        return 1;
    return cli_check_target(usage, a, 0, 1);
}

int
cmd_put(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_secret *value = NULL;
    struct tv_vault *v = NULL;
    struct tv_put item = { 0 };
    struct cli_args a;
    char fp[TV_FP_HEXLEN + 1] = "";
    uint32_t gen = 0, version = 0;
    int rc;

    rc = cli_parse(usage, opts, 3, argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = check_args(&a, &gen);
    if (rc >= 0)
        goto out;
    /*
     * A piped value is read before unlocking: TIERVAULT_PASSPHRASE_COMMAND
     * inherits standard input, and must neither see nor swallow it.
     */
    if (gen == 0 && !isatty(STDIN_FILENO) &&
        read_value(a.pos[0], a.pos[1], &value, &err) != TV_OK)
        goto fail;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (gen > 0 ? generate(gen, &value, &err) != TV_OK
                : value == NULL &&
                      read_value(a.pos[0], a.pos[1], &value, &err) != TV_OK)
        goto fail;
    item = (struct tv_put){ a.pos[0],
                            a.pos[1],
                            a.opt[O_TIER].value,
                            value,
                            a.opt[O_NOTE].value,
                            gen > 0 ? TV_OP_GENERATE : TV_OP_PUT };
    if (tv_vault_put(v, &item, 1, &version, &err) != TV_OK ||
        tv_vault_fingerprint(v, value, fp, &err) != TV_OK)
        goto fail;
    cli_info(c, "stored '%s/%s' version %u (tier %s, fingerprint %s)", a.pos[0],
             a.pos[1], version, a.opt[O_TIER].value, fp);
    rc = 0;
    goto out;

fail:
    rc = cli_fail(&err);
out:
    tv_secret_free(value);
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
