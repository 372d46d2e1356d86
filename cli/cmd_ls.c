/*
 * cmd_ls.c - tiervault ls: the secrets, never their values.
 */
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: tiervault ls [SERVICE] [--tier TIER] [--json]\n"
    "\n"
    "Lists the secrets (deleted ones left out): service, name, tier, current\n"
    "version, time of the last change and fingerprint.  Values are never\n"
    "shown.  --json prints {\"secrets\":[...]} instead.\n";

enum { O_TIER, O_JSON };

static const struct cli_opt opts[] = {
    [O_TIER] = { "tier", 0, 1, 0 },
    [O_JSON] = { "json", 0, 0, 0 },
};

static int
print_json(const struct cli_records *rs)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(doc, "secrets");
    char created[32], updated[32];

    for (size_t i = 0; list != NULL && i < rs->n; i++) {
        const struct cli_record *r = &rs->r[i];
        cJSON *o = cJSON_CreateObject();

        cli_time(r->created, created);
        cli_time(r->updated, updated);
        cJSON_AddStringToObject(o, "service", r->service);
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "tier", r->tier);
        cJSON_AddNumberToObject(o, "version", r->version);
        cJSON_AddStringToObject(o, "created", created);
        cJSON_AddStringToObject(o, "updated", updated);
        cJSON_AddStringToObject(o, "actor", r->actor);
        cJSON_AddStringToObject(o, "note", r->note);
        cJSON_AddStringToObject(o, "fingerprint", r->fp);
        cJSON_AddItemToArray(list, o);
    }
    return cli_print_json(doc);
}

static void
print_text(const struct tv_cli *c, const struct cli_records *rs)
{
    int ws = 7, wn = 4, wt = 4;
    char updated[32];

    for (size_t i = 0; i < rs->n; i++) {
        int ls = (int)strlen(rs->r[i].service), ln = (int)strlen(rs->r[i].name);
        int lt = (int)strlen(rs->r[i].tier);

        ws = ls > ws ? ls : ws;
        wn = ln > wn ? ln : wn;
        wt = lt > wt ? lt : wt;
    }
    if (isatty(STDOUT_FILENO))
        printf("%s%-*s  %-*s  %-*s  %-7s  %-20s  %s%s\n",
               c->color ? "\033[1m" : "", ws, "SERVICE", wn, "NAME", wt, "TIER",
               "VERSION", "UPDATED", "FINGERPRINT", c->color ? "\033[0m" : "");
    for (size_t i = 0; i < rs->n; i++) {
        const struct cli_record *r = &rs->r[i];

        cli_time(r->updated, updated);
        printf("%-*s  %-*s  %-*s  v%-6u  %-20s  %s\n", ws, r->service, wn,
               r->name, wt, r->tier, r->version, updated, r->fp);
    }
}

int
cmd_ls(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct cli_records rs = { 0 };
    struct tv_vault *v = NULL;
    const char *service, *tier;
    struct cli_args a;
    int rc;

    rc = cli_parse(usage, opts, 2, argc, argv, &a);
    if (rc >= 0)
        return rc;
    service = a.npos > 0 ? a.pos[0] : NULL;
    tier = a.opt[O_TIER].value;
    if (a.npos > 1 || a.rest != NULL)
        rc = cli_misuse(usage, "ls takes at most one SERVICE");
    else if ((service && cli_check_service(service, 0)) ||
             (tier && cli_check_tier(tier)))
        rc = 1;
    if (rc >= 0)
        goto out;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (cli_records_load(v, service, tier, &rs, &err) != TV_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    if (a.opt[O_JSON].count)
        rc = print_json(&rs);
    else
        print_text(c, &rs);
    if (rs.n == 0 && !a.opt[O_JSON].count)
        cli_info(c, "no secrets%s%s", service ? " in " : "",
                 service ? service : "");

out:
    cli_records_free(&rs);
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
