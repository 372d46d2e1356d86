/*
 * error.c - the shared error convention (see tv_error.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tv_error.h"

enum tv_status
tv_error_set(struct tv_error *err, enum tv_status code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

enum tv_status
tv_error_prefix(struct tv_error *err, const char *fmt, ...)
{
    char msg[TV_ERROR_MSG_MAX];
    size_t used, rest;
    va_list ap;
    int n;

    if (err == NULL)
        return TV_OK;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    used = n < 0 ? 0 : (size_t)n;
    if (used > sizeof(msg) - 3)
        used = sizeof(msg) - 3;
    memcpy(msg + used, ": ", 2);
    used += 2;
    /* The old message goes after the prefix, cut to what still fits. */
    rest = strnlen(err->msg, sizeof(err->msg));
    if (rest > sizeof(msg) - 1 - used)
        rest = sizeof(msg) - 1 - used;
    memcpy(msg + used, err->msg, rest);
    msg[used + rest] = '\0';
    memcpy(err->msg, msg, used + rest + 1);
    return err->code;
}

void
tv_error_clear(struct tv_error *err)
{
    if (err == NULL)
        return;
    err->code = TV_OK;
    err->msg[0] = '\0';
}

const char *
tv_status_name(enum tv_status code)
{
    switch (code) {
    case TV_OK:
        return "ok";
    case TV_EIO:
        return "i/o error";
    case TV_ENOTFOUND:
        return "not found";
    case TV_EINPUT:
        return "bad input";
    case TV_EUSAGE:
        return "usage error";
    case TV_EEXIST:
        return "already exists";
    case TV_EPERM:
        return "unsafe permissions";
    case TV_EUNLOCK:
        return "cannot unlock";
    case TV_EINTEGRITY:
        return "integrity failure";
    case TV_EFORMAT:
        return "bad format";
    case TV_ENOMEM:
        return "out of memory";
    case TV_EFULL:
        return "no space left";
    case TV_ERDONLY:
        return "read-only";
    case TV_ELAST:
        return "last keyslot";
    case TV_EAPI:
        return "api error";
    case TV_ENET:
        return "network error";
    case TV_EGATE:
        return "held at a gate";
    }
    return "unknown error";
}

int
tv_status_exit_code(enum tv_status code)
{
    switch (code) {
    case TV_OK:
        return 0;
    case TV_EUSAGE:
        return 2;
    case TV_EUNLOCK:
    case TV_EINTEGRITY:
        return 3;
    case TV_EGATE:
        return 4;
    default:
        return 1;
    }
}
