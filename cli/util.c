/*
 * util.c - small helpers the commands share: operand checks, time and
 * JSON output, whole writes, reading files into guarded memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "secbuf.h"

int
cli_check_service(const char *service, int writing)
{
    if (!tv_name_valid(service)) {
        cli_error("invalid service name: use 1 to %d letters, digits, "
                  "'_', '.' or '-'",
                  TV_NAME_MAX);
        return 1;
    }
    if (writing && service[0] == '_' && strcmp(service, "_cloudflare") != 0) {
        cli_error("service '%s' is reserved: names starting with '_' "
                  "belong to tiervault (only '_cloudflare' may be written)",
                  service);
        return 1;
    }
    return 0;
}

int
cli_check_name(const char *name)
{
    if (!tv_name_valid(name)) {
        cli_error("invalid secret name: use 1 to %d letters, digits, "
                  "'_', '.' or '-'",
                  TV_NAME_MAX);
        return 1;
    }
    return 0;
}

int
cli_check_target(const char *usage, const struct cli_args *a, int nextra,
                 int writing)
{
    if (a->npos != 2 + nextra || a->rest != NULL)
        return cli_misuse(usage, "expected SERVICE NAME%s",
                          nextra ? " VERSION" : "");
    if (cli_check_service(a->pos[0], writing) || cli_check_name(a->pos[1]))
        return 1;
    return -1;
}

int
cli_check_tier(const char *tier)
{
    if (!tv_tier_valid(tier)) {
        cli_error("invalid tier '%.40s': use a lowercase letter, then up to "
                  "%d lowercase letters, digits, '_' or '-'",
                  tier, TV_TIER_MAX - 1);
        return 1;
    }
    return 0;
}

void
cli_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

int
cli_print_json(cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    int rc = 0;

    if (text == NULL) {
        cli_error("cannot format the JSON output: out of memory");
        rc = 1;
    } else if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF ||
               fflush(stdout) == EOF) {
        cli_error("cannot write to standard output: %s", strerror(errno));
        rc = 1;
    }
    cJSON_free(text);
    cJSON_Delete(doc);
    return rc;
}

enum tv_status
cli_write_all(int fd, const void *p, size_t n, struct tv_error *err)
{
    const unsigned char *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return tv_error_set(err, TV_EIO, "cannot write to %s: %s",
                                fd == STDOUT_FILENO ? "standard output"
                                                    : "a file",
                                strerror(errno));
        b += w;
        n -= (size_t)w;
    }
    return TV_OK;
}

enum tv_status
cli_read_file(const char *path, size_t max, struct tv_secret **out,
              struct tv_error *err)
{
    struct cli_secbuf b = { 0 };
    char what[4200];
    int fd = STDIN_FILENO;
    enum tv_status st;

    snprintf(what, sizeof(what), "'%s'", path);
    if (strcmp(path, "-") != 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return tv_error_set(err, errno == ENOENT ? TV_ENOTFOUND : TV_EIO,
                                "cannot open '%s': %s", path, strerror(errno));
    } else {
        snprintf(what, sizeof(what), "standard input");
    }
    st = cli_secbuf_read_fd(&b, fd, max, what, err);
    if (st == TV_OK)
        st = cli_secbuf_take(&b, out, err);
    cli_secbuf_free(&b);
    if (fd != STDIN_FILENO)
        close(fd);
    return st;
}

static void *
json_malloc(size_t n)
{
    return malloc(n);
}

static void
json_free(void *p)
{
    if (p != NULL)
        tv_wipe(p, malloc_usable_size(p));
    free(p);
}

void
cli_json_init(void)
{
    cJSON_Hooks hooks = { json_malloc, json_free };

    cJSON_InitHooks(&hooks);
}

enum tv_status
cli_key_file(const char *path, struct tv_secret **key, int *created,
             struct tv_error *err)
{
    struct stat sb;

    *created = 0;
    if (lstat(path, &sb) != 0 && errno == ENOENT) {
        enum tv_status st = tv_keyfile_create(path, key, err);

        if (st == TV_OK)
            *created = 1;
        return st;
    }
    return tv_keyfile_load(path, key, err);
}

int
cli_parse(const char *usage, const struct cli_opt *opts, size_t nopts, int argc,
          char **argv, struct cli_args *a)
{
    char why[256];

    if (cli_args_parse(opts, nopts, argc, argv, a, why, sizeof(why)) != 0) {
        cli_args_free(a);
        return cli_misuse(usage, "%s", why);
    }
    if (a->help) {
        cli_args_free(a);
        return cli_usage(stdout, usage);
    }
    return -1;
}

static char *
dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

static int
collect_record(const struct tv_record_info *ri, void *ctx)
{
    struct cli_records *out = ctx;
    struct cli_record *r;

    if (out->n == out->cap) {
        size_t want = out->cap ? out->cap * 2 : 64;
        struct cli_record *grown = realloc(out->r, want * sizeof(*grown));

        if (grown == NULL)
            return -1;
        out->r = grown;
        out->cap = want;
    }
    r = &out->r[out->n];
    memset(r, 0, sizeof(*r));
    r->service = dup_or_empty(ri->service);
    r->name = dup_or_empty(ri->name);
    r->actor = dup_or_empty(ri->actor);
    r->note = dup_or_empty(ri->note);
    out->n++;
    if (!r->service || !r->name || !r->actor || !r->note)
        return -1;
    snprintf(r->tier, sizeof(r->tier), "%s", ri->tier);
    snprintf(r->fp, sizeof(r->fp), "%s", ri->fp);
    r->version = ri->version;
    r->created = ri->created;
    r->updated = ri->updated;
    return 0;
}

enum tv_status
cli_records_load(struct tv_vault *v, const char *service, const char *tier,
                 struct cli_records *out, struct tv_error *err)
{
    enum tv_status st;

    memset(out, 0, sizeof(*out));
    st = tv_vault_list(v, service, tier, 0, collect_record, out, err);
    if (st != TV_OK && err->code == TV_OK)
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
    if (st != TV_OK)
        cli_records_free(out);
    return st;
}

void
cli_records_free(struct cli_records *out)
{
    for (size_t i = 0; i < out->n; i++) {
        free(out->r[i].service);
        free(out->r[i].name);
        free(out->r[i].actor);
        free(out->r[i].note);
    }
    free(out->r);
    memset(out, 0, sizeof(*out));
}
