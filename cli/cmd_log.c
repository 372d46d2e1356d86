/*
 * cmd_log.c - tiervault log and log verify: the audit log, and the check
 * of its MAC chain.
 */
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: tiervault log [--json]\n"
    "       tiervault log verify\n"
    "\n"
    "Prints the audit log, oldest first: sequence number, time, actor,\n"
    "operation, secret, version, fingerprint and detail (never a value).\n"
    "'log verify' checks the whole MAC chain and names the first entry that\n"
    "does not verify (exit 3).\n";

static const struct cli_opt opts[] = {
    { "json", 0, 0, 0 },
};

static int
print_entry(const struct tv_audit_entry *e, void *ctx)
{
    cJSON *list = ctx, *o;
    char when[32], what[2 * TV_NAME_MAX + 2] = "-";

    cli_time(e->time, when);
    if (list == NULL) {
        if (e->service[0] != '\0')
            snprintf(what, sizeof(what), "%s%s%s", e->service,
                     e->name[0] ? "/" : "", e->name);
        printf("%-6llu  %s  %-20s  %-14s  %s", (unsigned long long)e->seq, when,
               e->actor, e->op, what);
        if (e->version > 0)
            printf(" v%u", e->version);
        if (e->fp[0] != '\0')
            printf("  %s", e->fp);
        if (e->detail[0] != '\0')
            printf("  %s", e->detail);
        putchar('\n');
        return 0;
    }
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", (double)e->seq);
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "actor", e->actor);
    cJSON_AddStringToObject(o, "op", e->op);
    cJSON_AddStringToObject(o, "service", e->service);
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddNumberToObject(o, "version", e->version);
    cJSON_AddStringToObject(o, "fingerprint", e->fp);
    cJSON_AddStringToObject(o, "detail", e->detail);
    cJSON_AddItemToArray(list, o);
    return 0;
}

static int
verify(struct tv_vault *v)
{
    struct tv_error err = { 0 };
    uint64_t count = 0, bad = 0;

    if (tv_vault_log_verify(v, &count, &bad, &err) != TV_OK)
        return cli_fail(&err);
    printf("audit log verified: %llu entries\n", (unsigned long long)count);
    return 0;
}

int
cmd_log(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;
    cJSON *doc = NULL, *list = NULL;
    struct cli_args a;
    int rc, check;

    rc = cli_parse(usage, opts, 1, argc, argv, &a);
    if (rc >= 0)
        return rc;
    check = a.npos == 1 && strcmp(a.pos[0], "verify") == 0;
    if ((a.npos > 0 && !check) || a.rest != NULL)
        rc = cli_misuse(usage, "unknown 'log' operand '%s'",
                        a.npos > 0 ? a.pos[0] : "--");
    else if (check && a.opt[0].count)
        rc = cli_misuse(usage, "'log verify' takes no '--json'");
    if (rc >= 0)
        goto out;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (check) {
        rc = verify(v);
        goto out;
    }
    if (a.opt[0].count) {
        doc = cJSON_CreateObject();
        list = cJSON_AddArrayToObject(doc, "entries");
    }
    if (tv_vault_log(v, print_entry, list, &err) != TV_OK) {
        rc = cli_fail(&err);
    } else if (doc != NULL) {
        rc = cli_print_json(doc);
        doc = NULL;
    }

out:
    cJSON_Delete(doc);
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
