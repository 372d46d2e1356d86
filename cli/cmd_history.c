/*
 * cmd_history.c - tiervault history: every version of one secret.
 */
#include "cli.h"

static const char usage[] =
    "usage: tiervault history SERVICE NAME [--json]\n"
    "\n"
    "Lists every version of SERVICE/NAME, oldest first: number, time, how\n"
    "it was made (put, generate, import, rm, rollback), tier, actor,\n"
    "fingerprint and note.  Values are never shown.\n";

static const struct cli_opt opts[] = {
    { "json", 0, 0, 0 },
};

struct hist {
    const struct tv_cli *c;
    cJSON *list; /* NULL for text output */
};

static int
print_version(const struct tv_version_info *vi, void *ctx)
{
    struct hist *h = ctx;
    char when[32], how[48];
    cJSON *o;

    cli_time(vi->time, when);
    if (h->list == NULL) {
        if (vi->op == TV_OP_ROLLBACK)
            snprintf(how, sizeof(how), "rollback (to v%u)", vi->source);
        else
            snprintf(how, sizeof(how), "%s", tv_op_name(vi->op));
        printf("v%-5u  %s  %-18s  %-8s  %-20s  %s%s%s\n", vi->version, when,
               how, vi->tier, vi->actor, vi->deleted ? "(deleted)" : vi->fp,
               vi->note[0] ? "  " : "", vi->note);
        return 0;
    }
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "version", vi->version);
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "op", tv_op_name(vi->op));
    cJSON_AddBoolToObject(o, "deleted", vi->deleted);
    if (vi->op == TV_OP_ROLLBACK)
        cJSON_AddNumberToObject(o, "source", vi->source);
    cJSON_AddStringToObject(o, "tier", vi->tier);
    cJSON_AddStringToObject(o, "actor", vi->actor);
    cJSON_AddStringToObject(o, "note", vi->note);
    cJSON_AddStringToObject(o, "fingerprint", vi->fp);
    cJSON_AddItemToArray(h->list, o);
    return 0;
}

int
cmd_history(struct tv_cli *c, int argc, char **argv)
{
    struct tv_error err = { 0 };
    struct tv_vault *v = NULL;
    struct hist h = { c, NULL };
    cJSON *doc = NULL;
    struct cli_args a;
    int rc;

    rc = cli_parse(usage, opts, 1, argc, argv, &a);
    if (rc >= 0)
        return rc;
    rc = cli_check_target(usage, &a, 0, 0);
    if (rc >= 0)
        goto out;
    rc = cli_open_vault(c, &v);
    if (rc != 0)
        goto out;
    if (a.opt[0].count) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "service", a.pos[0]);
        cJSON_AddStringToObject(doc, "name", a.pos[1]);
        h.list = cJSON_AddArrayToObject(doc, "versions");
    }
    if (tv_vault_history(v, a.pos[0], a.pos[1], print_version, &h, &err) !=
        TV_OK)
        rc = cli_fail(&err);
    else if (doc != NULL) {
        rc = cli_print_json(doc);
        doc = NULL;
    }

out:
    cJSON_Delete(doc);
    tv_vault_close(v);
    cli_args_free(&a);
    return rc;
}
