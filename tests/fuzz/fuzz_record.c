/*
 * fuzz_record.c - feeds arbitrary bytes to every record and key decoder of
 * the vault.  A decoder must refuse or accept without reading past the
 * input; an accepted record must re-encode to the same body bytes, so that
 * the MAC a reader checks covers exactly what was parsed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless w's bytes equal the first n bytes of data. */
static void
same_body(struct tv_wbuf *w, const uint8_t *data, size_t n)
{
    if (w->oom)
        return;
    if (w->len != n || memcmp(w->data, data, n) != 0)
        abort();
}

static void
fuzz_records(const uint8_t *data, size_t size, struct tv_wbuf *w)
{
    struct tv_rec_header h;
    struct tv_rec_head hd;
    struct tv_rec_slot sl;
    struct tv_rec_secret se;
    struct tv_rec_version ve;
    struct tv_rec_audit au;
    struct tv_rec_state st;
    size_t n;

    tv_wbuf_reset(w);
    if (tv_rec_header_decode(data, size, &h, &n) == 0) {
        tv_rec_header_encode(w, &h);
        same_body(w, data, n);
    }
    tv_wbuf_reset(w);
    if (tv_rec_head_decode(data, size, &hd, &n) == 0) {
        tv_rec_head_encode(w, &hd);
        same_body(w, data, n);
    }
    tv_wbuf_reset(w);
    if (tv_rec_slot_decode(data, size, &sl, &n) == 0) {
        tv_rec_slot_encode(w, &sl);
        same_body(w, data, n);
    }
    tv_wbuf_reset(w);
    if (tv_rec_secret_decode(data, size, &se, &n) == 0) {
        tv_rec_secret_encode(w, &se);
        same_body(w, data, n);
    }
    tv_wbuf_reset(w);
    if (tv_rec_version_decode(data, size, &ve, &n) == 0) {
        tv_rec_version_encode(w, &ve);
        same_body(w, data, n);
    }
    tv_wbuf_reset(w);
    if (tv_rec_audit_decode(data, size, &au, &n) == 0) {
        tv_rec_audit_encode(w, &au);
        same_body(w, data, n);
    }
    tv_wbuf_reset(w);
    if (tv_rec_state_decode(data, size, &st, &n) == 0) {
        tv_rec_state_encode(w, &st);
        same_body(w, data, n);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char service[TV_NAME_MAX + 1], name[TV_NAME_MAX + 1];
    struct tv_wbuf w = { 0 };
    uint8_t *copy;
    uint32_t version;

    /* an exact-size copy, so that a sanitizer sees any overread */
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    fuzz_records(copy, size, &w);
    if (tv_key_secret_decode(copy, size, service, name) == 0) {
        tv_key_secret(&w, service, name);
        same_body(&w, copy, size);
    }
    if (tv_key_version_decode(copy, size, service, name, &version) == 0) {
        tv_key_version(&w, service, name, version);
        same_body(&w, copy, size);
    }
    tv_wbuf_free(&w);
    free(copy);
    return 0;
}
