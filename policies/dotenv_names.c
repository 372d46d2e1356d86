/*
 * dotenv_names.c - the names a .dev.vars file defines, for policy init.
 * Only names are taken; a value is stepped over (quotes that span lines
 * included) and never copied anywhere.
 */
#include <stdlib.h>
#include <string.h>

#include "tv_jsonc.h"
#include "tv_wrangler.h"

static int
name_start(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

static int
name_char(char ch)
{
    return name_start(ch) || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
}

static const char *
skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Steps over a quoted value starting at *p (the quote); 0 if unclosed. */
static int
skip_quoted(const char **p, unsigned long *line)
{
    const char *s = *p;
    char q = *s++;

    while (*s != '\0' && *s != q) {
        if (q == '"' && *s == '\\' && s[1] != '\0')
            s++;
        if (*s == '\n')
            (*line)++;
        s++;
    }
    if (*s == '\0')
        return 0;
    *p = s + 1;
    return 1;
}

static int
add_name(cJSON *names, const char *start, size_t len)
{
    const cJSON *it;
    cJSON *s;
    char *name;

    name = strndup(start, len);
    if (name == NULL)
        return -1;
    cJSON_ArrayForEach(it, names)
    {
        if (strcmp(it->valuestring, name) == 0) {
            free(name);
            return 0;
        }
    }
    s = cJSON_CreateString(name);
    free(name);
    if (s == NULL || !cJSON_AddItemToArray(names, s)) {
        cJSON_Delete(s);
        return -1;
    }
    return 0;
}

static enum tv_status
parse_names(const char *path, const char *text, cJSON *names,
            struct tv_error *err)
{
    const char *p = text, *start;
    unsigned long line = 1, first;

    while (*p != '\0') {
        first = line;
        p = skip_blanks(p);
        if (*p == '#') {
            p += strcspn(p, "\n");
        } else if (*p != '\n' && *p != '\r' && *p != '\0') {
            if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
                p = skip_blanks(p + 6);
            start = p;
            if (!name_start(*p))
                return tv_error_set(err, TV_EINPUT,
                                    "%s:%lu: expected NAME=value", path, line);
            while (name_char(*p))
                p++;
            if ((size_t)(p - start) > TV_NAME_MAX)
                return tv_error_set(err, TV_EINPUT, "%s:%lu: name too long",
                                    path, line);
            if (add_name(names, start, (size_t)(p - start)) != 0)
                return tv_error_set(err, TV_ENOMEM, "out of memory");
            p = skip_blanks(p);
            if (*p != '=')
                return tv_error_set(err, TV_EINPUT,
                                    "%s:%lu: expected NAME=value", path, line);
            p = skip_blanks(p + 1);
            if ((*p == '"' || *p == '\'' || *p == '`') &&
                !skip_quoted(&p, &line))
                return tv_error_set(err, TV_EINPUT,
                                    "%s:%lu: unterminated quoted value", path,
                                    first);
            p += strcspn(p, "\n");
        }
        if (*p == '\r')
            p++;
        if (*p == '\n') {
            p++;
            line++;
        }
    }
    return TV_OK;
}

enum tv_status
tv_dotenv_names(const char *path, cJSON **names, struct tv_error *err)
{
    cJSON *list = NULL;
    enum tv_status rc;
    char *text = NULL;
    size_t len;

    if (path == NULL || names == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_dotenv_names: bad argument");
    rc = tv_file_read(path, TV_CONFIG_MAX, &text, &len, err);
    if (rc != TV_OK)
        return rc;
    list = cJSON_CreateArray();
    if (list == NULL) {
        rc = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto out;
    }
    rc = parse_names(path, text, list, err);
    if (rc != TV_OK)
        goto out;
    *names = list;
    list = NULL;
out:
    cJSON_Delete(list);
    if (text != NULL)
        tv_wipe(text, len);
    free(text);
    return rc;
}
