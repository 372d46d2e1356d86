/*
 * names.c - name and tier validation, profile and operation names, and the
 * clock (see tv_vault.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tv_vault.h"

static int
name_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int
tv_name_valid(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0')
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= TV_NAME_MAX || !name_char((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

int
tv_tier_valid(const char *s)
{
    size_t i;

    if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (i = 1; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (i >= TV_TIER_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

static const char *const kdf_names[] = { "interactive", "moderate",
                                         "sensitive" };

int
tv_kdf_parse(const char *s)
{
    size_t i;

    if (s == NULL)
        return -1;
    for (i = 0; i < sizeof(kdf_names) / sizeof(kdf_names[0]); i++) {
        if (strcmp(s, kdf_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

const char *
tv_kdf_name(enum tv_kdf kdf)
{
    if ((unsigned)kdf < sizeof(kdf_names) / sizeof(kdf_names[0]))
        return kdf_names[kdf];
    return "unknown";
}

const char *
tv_op_name(enum tv_op op)
{
    switch (op) {
    case TV_OP_PUT:
        return "put";
    case TV_OP_GENERATE:
        return "generate";
    case TV_OP_IMPORT:
        return "import";
    case TV_OP_RM:
        return "rm";
    case TV_OP_ROLLBACK:
        return "rollback";
    }
    return "unknown";
}

int64_t
tv_now(void)
{
    const char *s = getenv("TIERVAULT_TEST_NOW");
    char *end;
    long long n;

    if (s != NULL && s[0] >= '0' && s[0] <= '9') {
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0')
            return (int64_t)n;
    }
    return (int64_t)time(NULL);
}
