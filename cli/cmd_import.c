/*
 * cmd_import.c - tiervault import: a `.dev.vars` (dotenv) file or a JSON
 * object of strings, into one service and tier or, with a policy, into
 * the places a Worker's secrets come from.  All or nothing: one parse,
 * then one tv_vault_put of every entry.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dotenv.h"
#include "tv_policy.h"

static const char usage[] =
    "usage: tiervault import FILE --service SERVICE --tier TIER\n"
    "                        [--format dotenv|json]\n"
    "       tiervault import FILE --policy POLICY --worker NAME\n"
    "                        [--format dotenv|json]\n"
    "\n"
    "Imports every NAME=value of FILE ('-': standard input), or every member\n"
    "of a JSON object of strings.  With --policy each secret goes where the\n"
    "policy's 'from' says, in the secret's tier; a name the Worker does not\n"
    "need is refused.  A bad line imports nothing; the error says FILE:LINE.\n"
    "\n"
    "  --format FORMAT   dotenv (default) or json (default for *.json)\n";

enum { O_SERVICE, O_TIER, O_FORMAT, O_POLICY, O_WORKER };

static const struct cli_opt opts[] = {
    [O_SERVICE] = { "service", 0, 1, 0 }, [O_TIER] = { "tier", 0, 1, 0 },
    [O_FORMAT] = { "format", 0, 1, 0 },   [O_POLICY] = { "policy", 0, 1, 0 },
    [O_WORKER] = { "worker", 0, 1, 0 },
};

#define IMPORT_MAX (64u << 20)

/*
 * 1 if the JSON text escapes a NUL character (\u0000), which a C string
 * from cJSON would silently cut short.
 */
static int
has_nul_escape(const unsigned char *t, size_t n)
{
    size_t slashes = 0;

    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\\') {
            slashes++;
            continue;
        }
        if (slashes % 2 == 1 && t[i] == 'u' && n - i > 4 &&
            memcmp(t + i + 1, "0000", 4) == 0)
            return 1;
        slashes = 0;
    }
    return 0;
}

/* A JSON object of strings into d. */
static enum tv_status
parse_json(const struct tv_secret *text, const char *path, struct tv_dotenv *d,
           struct tv_error *err)
{
    cJSON *root, *item;
    enum tv_status st;

    root = cJSON_ParseWithLength((const char *)text->data, text->len);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at ? (size_t)(at - (const char *)text->data) : 0;

        return tv_error_set(err, TV_EINPUT, "%s: not valid JSON (at byte %zu)",
                            path, off);
    }
    st = tv_dotenv_init(d, text->len, err);
    if (st == TV_OK && has_nul_escape(text->data, text->len))
        st = tv_error_set(err, TV_EINPUT,
                          "%s: a string holds a NUL character (\\u0000)", path);
    if (st == TV_OK && !cJSON_IsObject(root))
        st = tv_error_set(err, TV_EINPUT,
                          "%s: expected a JSON object of strings", path);
    cJSON_ArrayForEach(item, root)
    {
        if (st != TV_OK)
            break;
        if (!cJSON_IsString(item) && tv_name_valid(item->string))
            st = tv_error_set(err, TV_EINPUT,
                              "%s: the value of '%s' is not a string", path,
                              item->string);
        else if (!cJSON_IsString(item))
            st = tv_error_set(err, TV_EINPUT, "%s: a value is not a string",
                              path);
        else
            st = tv_dotenv_add(d, item->string, item->valuestring,
                               strlen(item->valuestring), 0, path, err);
    }
    if (st == TV_OK)
        st = tv_dotenv_check_unique(d, path, err);
    cJSON_Delete(root);
    if (st != TV_OK)
        tv_dotenv_free(d);
    return st;
}

static int
is_json(const struct cli_args *a, const char *path)
{
    const char *f = a->opt[O_FORMAT].value;
    size_t n = strlen(path);

    if (f != NULL)
        return strcmp(f, "json") == 0;
    return n > 5 && strcmp(path + n - 5, ".json") == 0;
}

/* Where each entry goes under the policy's worker; fills items. */
static int
map_policy(const struct tv_policy *p, const char *wname,
           const struct tv_dotenv *d, const char *path, struct tv_put *items)
{
    long w = tv_policy_worker_index(p, wname);
    const struct tv_worker *wk;

    if (w < 0) {
        cli_error("%s: no worker '%s'", p->path, wname);
        return 1;
    }
    wk = &p->workers[w];
    for (size_t i = 0; i < d->n; i++) {
        const struct tv_policy_secret *s = NULL;

        for (size_t k = 0; k < wk->nsecrets && s == NULL; k++)
            if (strcmp(wk->secrets[k].name, d->entries[i].name) == 0)
                s = &wk->secrets[k];
        if (s == NULL) {
            if (d->entries[i].line > 0)
                cli_error("%s:%zu: '%s' is not a secret of worker '%s' in "
                          "'%s'",
                          path, d->entries[i].line, d->entries[i].name, wname,
                          p->path);
            else
                cli_error("%s: '%s' is not a secret of worker '%s' in '%s'",
                          path, d->entries[i].name, wname, p->path);
            return 1;
        }
        if (cli_check_service(s->from_service, 1))
            return 1;
        items[i].service = s->from_service;
        items[i].name = s->from_name;
        items[i].tier = s->tier;
    }
    return 0;
}

static int
check_args(const struct cli_args *a)
{
    const char *f = a->opt[O_FORMAT].value;
    int by_service = a->opt[O_SERVICE].count || a->opt[O_TIER].count;
    int by_policy = a->opt[O_POLICY].count || a->opt[O_WORKER].count;

    if (a->npos != 1 || a->rest != NULL)
        return cli_misuse(usage, "import needs one FILE");
    if (f != NULL && strcmp(f, "dotenv") != 0 && strcmp(f, "json") != 0)
        return cli_misuse(usage, "unknown format '%s'", f);
    if (by_service == by_policy)
        return cli_misuse(usage, "use either --service and --tier, or "
                                 "--policy and --worker");
    if (by_service && (!a->opt[O_SERVICE].count || !a->opt[O_TIER].count))
        return cli_misuse(usage, "--service and --tier go together");
    if (by_policy && (!a->opt[O_POLICY].count || !a->opt[O_WORKER].count))
        return cli_misuse(usage, "--policy and --worker go together");
    if (by_service && (cli_check_service(a->opt[O_SERVICE].value, 1) ||
                       cli_check_tier(a->opt[O_TIER].value)))
        return 1;
    return -1;
}

/* Reads and parses FILE into d; prints the error and returns 1 if bad. */
static int
load_entries(const struct cli_args *a, struct tv_dotenv *d)
{
    struct tv_error err = { 0 };
    struct tv_secret *text = NULL;
    const char *path = a->pos[0];
    enum tv_status st;

    st = cli_read_file(path, IMPORT_MAX, &text, &err);
    if (st == TV_OK && is_json(a, path))
        st = parse_json(text, path, d, &err);
    else if (st == TV_OK)
        st = tv_dotenv_parse(text->data, text->len, path, d, &err);
    tv_secret_free(text);
    if (st == TV_OK && d->n == 0)
        st = tv_error_set(&err, TV_EINPUT, "%s: no secrets found", path);
    if (st != TV_OK) {
        tv_dotenv_free(d);
        return cli_fail(&err);
    }
    return 0;
}

static int
store_all(struct tv_cli *c, const struct cli_args *a, const struct tv_dotenv *d,
          struct tv_put *items)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;
    char note[TV_NOTE_MAX + 1];
    int rc;

    snprintf(note, sizeof(note), "imported from '%.480s'", a->pos[0]);
    for (size_t i = 0; i < d->n; i++) {
        items[i].value = &d->entries[i].value;
        items[i].note = note;
        items[i].op = TV_OP_IMPORT;
    }
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        return rc;
    if (tv_vault_put(v, items, d->n, NULL, &err) != TV_OK)
        rc = cli_fail(&err);
    else if (a->opt[O_SERVICE].count)
        cli_info(c, "imported %zu secrets from '%s' into '%s' (tier %s)", d->n,
                 a->pos[0], a->opt[O_SERVICE].value, a->opt[O_TIER].value);
    else
        cli_info(c, "imported %zu secrets from '%s' for worker '%s'", d->n,
                 a->pos[0], a->opt[O_WORKER].value);
    tv_vault_close(v);
    return rc;
}

int
cmd_import(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_dotenv d = { 0 };
    struct tv_policy *p = NULL;
    struct tv_put *items = NULL;
    struct cli_args a;
    int rc;

    rc = cli_parse(usage, opts, 5, argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = check_args(&a);
    if (rc >= 0)
        goto out;
    if (a.opt[O_POLICY].count &&
        tv_policy_load(&p, a.opt[O_POLICY].value, &err) != TV_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    rc = load_entries(&a, &d);
    if (rc != 0)
        goto out;
    items = calloc(d.n, sizeof(*items));
    if (items == NULL) {
        cli_error("out of memory");
        rc = 1;
        goto out;
    }
    for (size_t i = 0; p == NULL && i < d.n; i++)
        items[i] = (struct tv_put){ a.opt[O_SERVICE].value,
                                    d.entries[i].name,
                                    a.opt[O_TIER].value,
                                    NULL,
                                    NULL,
                                    0 };
    if (p != NULL)
        rc = map_policy(p, a.opt[O_WORKER].value, &d, a.pos[0], items);
    if (rc == 0)
        rc = store_all(c, &a, &d, items);

out:
    free(items);
    tv_dotenv_free(&d);
    if (p != NULL)
        tv_policy_free(p);
    cli_args_free(&a);
    return rc;
}
