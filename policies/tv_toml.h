/*
 * tv_toml.h - TOML files as cJSON trees, for wrangler.toml.  The one C++
 * translation unit of the project (toml.cpp) does the parsing with
 * toml++; nothing else needs to know.
 */
#ifndef TV_TOML_H
#define TV_TOML_H

#include <cjson/cJSON.h>

#include "tv_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Reads the TOML file at path (at most TV_CONFIG_MAX bytes) into *out, a
 * cJSON tree (caller frees with cJSON_Delete): tables become objects,
 * arrays arrays, strings strings, integers and floats numbers, booleans
 * booleans, and dates and times their TOML text as strings.  A syntax
 * error is TV_EINPUT with a message "PATH:LINE:COL: what"; TV_ENOTFOUND,
 * TV_EIO and TV_EINPUT (not a regular file, too large) as tv_file_read;
 * TV_ENOMEM.
 */
enum tv_status tv_toml_load(const char *path, cJSON **out,
                            struct tv_error *err);

#ifdef __cplusplus
}
#endif

#endif
