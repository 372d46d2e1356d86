/*
 * tv_jsonc.h - JSON as people keep configuration: `//` and block comments
 * and trailing commas accepted, duplicate keys refused, syntax errors
 * reported with line and column.  Shared by the policy reader and the
 * Wrangler configuration reader (wrangler.json and wrangler.jsonc).
 */
#ifndef TV_JSONC_H
#define TV_JSONC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "tv_error.h"

/* Largest file tv_file_read accepts for configuration (4 MiB). */
#define TV_CONFIG_MAX (4u << 20)

/* Longest JSON path kept for messages ("workers[3].secrets[0].tier"). */
#define TV_JSON_PATH_MAX 256

/*
 * Reads the regular file at path, at most max bytes, into *buf (malloc'd,
 * NUL-terminated, caller frees) and its length into *len.  Returns
 * TV_ENOTFOUND when it does not exist, TV_EINPUT when it is not a regular
 * file, holds more than max bytes or contains a NUL byte, TV_EIO on a read
 * error, TV_ENOMEM.  Messages name path.
 */
enum tv_status tv_file_read(const char *path, size_t max, char **buf,
                            size_t *len, struct tv_error *err);

/*
 * Parses len bytes of text as JSON with comments and trailing commas (not
 * inside strings) into *out (caller frees with cJSON_Delete).  Refuses,
 * with TV_EINPUT and a message starting "NAME:LINE:COL: ", a syntax
 * error, an unterminated comment, a NUL byte or a "\u0000" escape; and,
 * with "NAME: PATH: ", a key repeated within one object.  TV_ENOMEM.
 */
enum tv_status tv_jsonc_parse(const char *text, size_t len, const char *name,
                              cJSON **out, struct tv_error *err);

/*
 * Writes into buf (cap bytes, always NUL-terminated) the JSON path of
 * parent's member key ("a.b", or `a["odd key"]` for keys that are not
 * identifiers) or, when key is NULL, of parent's element idx ("a[3]").
 * parent "" is the root.  A path too long for buf is cut and ends "...".
 */
void tv_json_path(char *buf, size_t cap, const char *parent, const char *key,
                  size_t idx);

/*
 * Writes s into buf (cap bytes, always NUL-terminated) as a double-quoted
 * string for a message: control characters, quotes and backslashes
 * escaped, non-ASCII bytes as \xNN, cut after 64 bytes with "...".
 * Returns buf.
 */
char *tv_json_quote(char *buf, size_t cap, const char *s);

/*
 * Describes item for a "got ..." message into buf: `string "x"`,
 * `number 1.5`, `true`, `null`, `an array`, `an object`.  Returns buf.
 */
char *tv_json_describe(char *buf, size_t cap, const cJSON *item);

/*
 * Prints item as JSON indented by two spaces a level, an object or array
 * of scalars on one line when it fits in 80 columns, with a final
 * newline, into a malloc'd string (caller frees); NULL when out of memory.
 */
char *tv_json_pretty(const cJSON *item);

#endif
