/*
 * jsonc.c - JSON with comments and trailing commas, strict about the rest
 * (see tv_jsonc.h).  Comments and trailing commas are blanked out in a
 * copy of the text, byte for byte, so that an offset cJSON reports is an
 * offset in the original and gives the right line and column.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tv_jsonc.h"

struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

static void
where(const char *text, size_t off, unsigned long *line, unsigned long *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < off; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static enum tv_status
syntax(struct tv_error *err, const char *name, const char *text, size_t off,
       const char *what)
{
    unsigned long line, col;

    where(text, off, &line, &col);
    return tv_error_set(err, TV_EINPUT, "%s:%lu:%lu: %s", name, line, col,
                        what);
}

enum tv_status
tv_file_read(const char *path, size_t max, char **buf, size_t *len,
             struct tv_error *err)
{
    struct stat st;
    char *data = NULL;
    size_t got = 0;
    ssize_t r;
    enum tv_status rc;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return tv_error_set(err, errno == ENOENT ? TV_ENOTFOUND : TV_EIO,
                            "cannot open '%s': %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc = tv_error_set(err, TV_EIO, "cannot stat '%s': %s", path,
                          strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = tv_error_set(err, TV_EINPUT, "'%s' is not a regular file", path);
        goto out;
    }
    if ((unsigned long long)st.st_size > max) {
        rc = tv_error_set(err, TV_EINPUT, "'%s' is larger than %zu bytes", path,
                          max);
        goto out;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data == NULL) {
        rc = tv_error_set(err, TV_ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    /* Read to the size stat gave; a file that grows meanwhile is cut. */
    while (got < (size_t)st.st_size) {
        r = read(fd, data + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = tv_error_set(err, TV_EIO, "cannot read '%s': %s", path,
                              strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    data[got] = '\0';
    if (memchr(data, '\0', got) != NULL) {
        rc = tv_error_set(err, TV_EINPUT, "'%s' contains a NUL byte", path);
        goto out;
    }
    *buf = data;
    *len = got;
    data = NULL;
    rc = TV_OK;
out:
    free(data);
    close(fd);
    return rc;
}

/* Blanks comments in buf (a copy of the text), keeping line breaks. */
static enum tv_status
strip_comments(char *buf, size_t len, const char *name, struct tv_error *err)
{
    size_t i = 0, start;
    int in_string = 0;

    while (i < len) {
        if (buf[i] == '\0')
            return syntax(err, name, buf, i, "NUL byte");
        if (in_string) {
            if (buf[i] == '\\' && i + 1 < len) {
                if (len - i >= 6 && memcmp(buf + i, "\\u0000", 6) == 0)
                    return syntax(err, name, buf, i,
                                  "\\u0000 is not allowed in a string");
                i += 2;
                continue;
            }
            if (buf[i] == '"')
                in_string = 0;
            i++;
            continue;
        }
        if (buf[i] == '"') {
            in_string = 1;
            i++;
        } else if (buf[i] == '/' && i + 1 < len && buf[i + 1] == '/') {
            while (i < len && buf[i] != '\n')
                buf[i++] = ' ';
        } else if (buf[i] == '/' && i + 1 < len && buf[i + 1] == '*') {
            start = i;
            buf[i++] = ' ';
            buf[i++] = ' ';
            while (i < len &&
                   !(buf[i] == '*' && i + 1 < len && buf[i + 1] == '/')) {
                if (buf[i] != '\n')
                    buf[i] = ' ';
                i++;
            }
            if (i >= len)
                return syntax(err, name, buf, start, "unterminated comment");
            buf[i++] = ' ';
            buf[i++] = ' ';
        } else {
            i++;
        }
    }
    return TV_OK;
}

static int
is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/*
 * Blanks a comma that closes a list (`[1, 2,]`, `{"a": 1,}`).  A comma
 * right after an opening bracket or another comma stays, so that cJSON
 * refuses `[,]` and `[1,,]`.
 */
static void
strip_trailing_commas(char *buf, size_t len)
{
    size_t i, j;
    int in_string = 0;
    char prev = '\0';

    for (i = 0; i < len; i++) {
        if (in_string) {
            if (buf[i] == '\\')
                i++;
            else if (buf[i] == '"')
                in_string = 0;
            continue;
        }
        if (buf[i] == '"') {
            in_string = 1;
            prev = '"';
            continue;
        }
        if (is_space(buf[i]))
            continue;
        if (buf[i] == ',' && prev != '[' && prev != '{' && prev != ',') {
            j = i + 1;
            while (j < len && is_space(buf[j]))
                j++;
            if (j < len && (buf[j] == ']' || buf[j] == '}')) {
                buf[i] = ' ';
                continue;
            }
        }
        prev = buf[i];
    }
}

struct keyref {
    const char *key;
    size_t idx;
};

static int
keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The first key of obj (in document order) that repeats an earlier one. */
static const char *
first_duplicate(const cJSON *obj, struct tv_error *err, int *nomem)
{
    const cJSON *it;
    struct keyref *refs;
    const char *dup = NULL;
    size_t n = 0, i, best = (size_t)-1;

    *nomem = 0;
    for (it = obj->child; it != NULL; it = it->next)
        n++;
    if (n < 2)
        return NULL;
    refs = calloc(n, sizeof(*refs));
    if (refs == NULL) {
        *nomem = 1;
        tv_error_set(err, TV_ENOMEM, "out of memory");
        return NULL;
    }
    n = 0;
    for (it = obj->child; it != NULL; it = it->next) {
        refs[n].key = it->string;
        refs[n].idx = n;
        n++;
    }
    qsort(refs, n, sizeof(*refs), keyref_cmp);
    for (i = 1; i < n; i++) {
        if (strcmp(refs[i - 1].key, refs[i].key) == 0 && refs[i].idx < best) {
            best = refs[i].idx;
            dup = refs[i].key;
        }
    }
    free(refs);
    return dup;
}

static enum tv_status
check_duplicates(const cJSON *item, const char *path, const char *name,
                 struct tv_error *err)
{
    char sub[TV_JSON_PATH_MAX], q[96];
    const cJSON *it;
    const char *dup;
    enum tv_status rc;
    size_t i = 0;
    int nomem;

    if (cJSON_IsObject(item)) {
        dup = first_duplicate(item, err, &nomem);
        if (nomem)
            return TV_ENOMEM;
        if (dup != NULL)
            return tv_error_set(err, TV_EINPUT, "%s: %s%sduplicate key %s",
                                name, path, *path ? ": " : "",
                                tv_json_quote(q, sizeof(q), dup));
    }
    if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
        return TV_OK;
    for (it = item->child; it != NULL; it = it->next, i++) {
        if (cJSON_IsObject(item))
            tv_json_path(sub, sizeof(sub), path, it->string, 0);
        else
            tv_json_path(sub, sizeof(sub), path, NULL, i);
        rc = check_duplicates(it, sub, name, err);
        if (rc != TV_OK)
            return rc;
    }
    return TV_OK;
}

static enum tv_status
parse_failed(const char *text, size_t len, const char *name, size_t off,
             struct tv_error *err)
{
    char what[64];
    unsigned char ch;

    if (off >= len)
        return syntax(err, name, text, len, "invalid JSON: unexpected end");
    ch = (unsigned char)text[off];
    if (ch > 0x20 && ch < 0x7f)
        snprintf(what, sizeof(what), "invalid JSON near '%c'", ch);
    else
        snprintf(what, sizeof(what), "invalid JSON near byte 0x%02x", ch);
    return syntax(err, name, text, off, what);
}

enum tv_status
tv_jsonc_parse(const char *text, size_t len, const char *name, cJSON **out,
               struct tv_error *err)
{
    const char *end = NULL;
    cJSON *root = NULL;
    enum tv_status rc;
    char *buf;

    if (text == NULL || name == NULL || out == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_jsonc_parse: bad argument");
    buf = malloc(len + 1);
    if (buf == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory parsing '%s'", name);
    memcpy(buf, text, len);
    buf[len] = '\0';
    /* a UTF-8 byte order mark, as some editors write, is whitespace */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        memset(buf, ' ', 3);

    rc = strip_comments(buf, len, name, err);
    if (rc != TV_OK)
        goto out;
    strip_trailing_commas(buf, len);
    root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
    if (root == NULL) {
        rc = parse_failed(text, len, name,
                          end != NULL && end >= buf ? (size_t)(end - buf) : len,
                          err);
        goto out;
    }
    rc = check_duplicates(root, "", name, err);
    if (rc != TV_OK)
        goto out;
    *out = root;
    root = NULL;
out:
    cJSON_Delete(root);
    free(buf);
    return rc;
}

static int
is_ident(const char *s)
{
    const char *p;

    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    }
    return 1;
}

void
tv_json_path(char *buf, size_t cap, const char *parent, const char *key,
             size_t idx)
{
    char q[96];
    int n;

    if (key == NULL)
        n = snprintf(buf, cap, "%s[%zu]", parent, idx);
    else if (is_ident(key))
        n = snprintf(buf, cap, "%s%s%s", parent, *parent ? "." : "", key);
    else
        n = snprintf(buf, cap, "%s[%s]", parent,
                     tv_json_quote(q, sizeof(q), key));
    if (n < 0 || (size_t)n >= cap) {
        if (cap >= 4)
            memcpy(buf + cap - 4, "...", 4);
    }
}

char *
tv_json_quote(char *buf, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;
    unsigned char ch;

    if (cap < 8) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (i = 0; s[i] != '\0'; i++) {
        /* room for one escaped byte, "...", the quote and the NUL */
        if (i >= 64 || o + 4 + 5 >= cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (ch < 0x20 || ch >= 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

char *
tv_json_describe(char *buf, size_t cap, const cJSON *item)
{
    char q[96];

    if (cJSON_IsString(item))
        snprintf(buf, cap, "string %s",
                 tv_json_quote(q, sizeof(q), item->valuestring));
    else if (cJSON_IsNumber(item))
        snprintf(buf, cap, "number %.15g", item->valuedouble);
    else if (cJSON_IsTrue(item))
        snprintf(buf, cap, "true");
    else if (cJSON_IsFalse(item))
        snprintf(buf, cap, "false");
    else if (cJSON_IsNull(item))
        snprintf(buf, cap, "null");
    else if (cJSON_IsArray(item))
        snprintf(buf, cap, "an array");
    else if (cJSON_IsObject(item))
        snprintf(buf, cap, "an object");
    else
        snprintf(buf, cap, "an invalid value");
    return buf;
}

static void
sb_add(struct strbuf *sb, const char *s, size_t n)
{
    size_t cap;
    char *p;

    if (sb->failed)
        return;
    if (sb->len + n + 1 > sb->cap) {
        cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        p = realloc(sb->data, cap);
        if (p == NULL) {
            sb->failed = 1;
            return;
        }
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void
sb_str(struct strbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

static void
sb_indent(struct strbuf *sb, int depth)
{
    int i;

    for (i = 0; i < depth; i++)
        sb_add(sb, "  ", 2);
}

static void
sb_json_string(struct strbuf *sb, const char *s)
{
    char esc[8];
    const unsigned char *p;

    sb_add(sb, "\"", 1);
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_add(sb, esc, 2);
        } else if (*p == '\n') {
            sb_add(sb, "\\n", 2);
        } else if (*p == '\t') {
            sb_add(sb, "\\t", 2);
        } else if (*p == '\r') {
            sb_add(sb, "\\r", 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            sb_add(sb, esc, 6);
        } else {
            sb_add(sb, (const char *)p, 1);
        }
    }
    sb_add(sb, "\"", 1);
}

static void
sb_number(struct strbuf *sb, double d)
{
    char num[40];

    if (!isfinite(d))
        snprintf(num, sizeof(num), "null");
    else if (d == floor(d) && fabs(d) < 1e15)
        snprintf(num, sizeof(num), "%.0f", d);
    else
        snprintf(num, sizeof(num), "%.17g", d);
    sb_str(sb, num);
}

static int
is_scalar(const cJSON *item)
{
    return !cJSON_IsObject(item) && !cJSON_IsArray(item);
}

static void sb_json(struct strbuf *sb, const cJSON *item, int depth,
                    size_t col);

/*
 * A container of scalars on one line, `{"name": "core"}`, when it fits in
 * 80 columns from col; returns 0 (nothing written) when it does not.
 */
static int
sb_inline(struct strbuf *sb, const cJSON *item, size_t col)
{
    struct strbuf line = { NULL, 0, 0, 0 };
    int object = cJSON_IsObject(item), fits;
    const cJSON *it;

    for (it = item->child; it != NULL; it = it->next) {
        if (!is_scalar(it))
            return 0;
    }
    sb_str(&line, object ? "{" : "[");
    for (it = item->child; it != NULL; it = it->next) {
        if (object) {
            sb_json_string(&line, it->string);
            sb_str(&line, ": ");
        }
        sb_json(&line, it, 0, 0);
        sb_str(&line, it->next != NULL ? ", " : "");
    }
    sb_str(&line, object ? "}" : "]");
    /* room for a comma after it */
    fits = !line.failed && col + line.len + 1 <= 80;
    if (fits)
        sb_add(sb, line.data, line.len);
    free(line.data);
    return fits;
}

/* item, starting at column col of a line indented by depth levels. */
static void
sb_json(struct strbuf *sb, const cJSON *item, int depth, size_t col)
{
    const cJSON *it;
    int object = cJSON_IsObject(item);

    if (cJSON_IsString(item)) {
        sb_json_string(sb, item->valuestring);
    } else if (cJSON_IsNumber(item)) {
        sb_number(sb, item->valuedouble);
    } else if (cJSON_IsBool(item)) {
        sb_str(sb, cJSON_IsTrue(item) ? "true" : "false");
    } else if (object || cJSON_IsArray(item)) {
        if (item->child == NULL) {
            sb_str(sb, object ? "{}" : "[]");
            return;
        }
        if (sb_inline(sb, item, col))
            return;
        sb_str(sb, object ? "{\n" : "[\n");
        for (it = item->child; it != NULL; it = it->next) {
            sb_indent(sb, depth + 1);
            col = 2 * (size_t)(depth + 1);
            if (object) {
                sb_json_string(sb, it->string);
                sb_str(sb, ": ");
                col += strlen(it->string) + 4;
            }
            sb_json(sb, it, depth + 1, col);
            sb_str(sb, it->next != NULL ? ",\n" : "\n");
        }
        sb_indent(sb, depth);
        sb_str(sb, object ? "}" : "]");
    } else {
        sb_str(sb, "null");
    }
}

char *
tv_json_pretty(const cJSON *item)
{
    struct strbuf sb = { NULL, 0, 0, 0 };

    sb_json(&sb, item, 0, 0);
    sb_add(&sb, "\n", 1);
    if (sb.failed) {
        free(sb.data);
        return NULL;
    }
    return sb.data;
}
