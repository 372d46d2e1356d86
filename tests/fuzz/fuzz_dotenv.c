/*
 * fuzz_dotenv.c - feeds arbitrary bytes to the `.dev.vars` parser: it must
 * accept or refuse without crashing or reading out of bounds; an accepted
 * file must hold valid, unique names in line order with values that fit
 * the input, and a refused one must keep nothing and name a line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_accepted(const struct tv_dotenv *d, size_t size)
{
    size_t total = 0;

    for (size_t i = 0; i < d->n; i++) {
        const struct tv_dotenv_entry *e = &d->entries[i];

        if (!tv_name_valid(e->name) || e->value.len > TV_VALUE_MAX ||
            e->value.data[e->value.len] != '\0' || e->line == 0 ||
            (i > 0 && e->line <= d->entries[i - 1].line))
            abort();
        for (size_t k = 0; k < i; k++)
            if (strcmp(d->entries[k].name, e->name) == 0)
                abort();
        total += e->value.len;
    }
    if (total > size)
        abort();
}

static void
check_refused(const struct tv_dotenv *d, const struct tv_error *err)
{
    if (d->n != 0 || d->entries != NULL || d->arena != NULL)
        abort();
    if (err->code == TV_EINPUT &&
        (d->error_line == 0 || strncmp(err->msg, "fuzz:", 5) != 0))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct tv_dotenv d = { 0 };
    struct tv_error err = { 0 };

    if (!ready) {
        if (tv_harden(&err) != TV_OK)
            abort();
        ready = 1;
    }
    if (tv_dotenv_parse(data, size, "fuzz", &d, &err) == TV_OK)
        check_accepted(&d, size);
    else
        check_refused(&d, &err);
    tv_dotenv_free(&d);
    return 0;
}
