/*
 * test_record.c - the record encoding: every record type round-trips,
 * every truncation and every extension is refused, and a flipped byte in
 * any position either fails to parse or fails the record MAC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"
#include "record.h"

/* Decodes buf[0..len) as record type t; returns the decoder's result. */
typedef int (*decode_fn)(const void *buf, size_t len, size_t *blen);

static int
dec_header(const void *b, size_t n, size_t *bl)
{
    struct tv_rec_header r;

    return tv_rec_header_decode(b, n, &r, bl);
}

static int
dec_head(const void *b, size_t n, size_t *bl)
{
    struct tv_rec_head r;

    return tv_rec_head_decode(b, n, &r, bl);
}

static int
dec_slot(const void *b, size_t n, size_t *bl)
{
    struct tv_rec_slot r;

    return tv_rec_slot_decode(b, n, &r, bl);
}

static int
dec_secret(const void *b, size_t n, size_t *bl)
{
    struct tv_rec_secret r;

    return tv_rec_secret_decode(b, n, &r, bl);
}

static int
dec_version(const void *b, size_t n, size_t *bl)
{
    struct tv_rec_version r;

    return tv_rec_version_decode(b, n, &r, bl);
}

static int
dec_audit(const void *b, size_t n, size_t *bl)
{
    struct tv_rec_audit r;

    return tv_rec_audit_decode(b, n, &r, bl);
}

static int
dec_state(const void *b, size_t n, size_t *bl)
{
    struct tv_rec_state r;

    return tv_rec_state_decode(b, n, &r, bl);
}

static struct tv_keys keys;

static void
seal(struct tv_wbuf *w, const char *db)
{
    tv_rec_seal(&keys, w, db, "key", 3);
    assert_false(w->oom);
}

/*
 * The properties every record must have: the whole record parses with the
 * MAC where the body ends, no shorter or longer input parses, and no
 * single flipped byte goes unnoticed by parsing plus the MAC.
 */
static void
check_record(const struct tv_wbuf *w, const char *db, decode_fn dec)
{
    unsigned char *copy = malloc(w->len + 1);
    size_t i, blen = 0;
    int bit;

    assert_non_null(copy);
    assert_int_equal(dec(w->data, w->len, &blen), 0);
    assert_int_equal(blen, w->len - TV_MAC_LEN);
    assert_true(tv_rec_check(&keys, db, "key", 3, w->data, blen));
    assert_false(tv_rec_check(&keys, db, "kez", 3, w->data, blen));
    assert_false(tv_rec_check(&keys, "other", "key", 3, w->data, blen));

    for (i = 0; i < w->len; i++) {
        /* exact-size copies, so that ASan sees any read past the end */
        unsigned char *t = malloc(i ? i : 1);

        assert_non_null(t);
        memcpy(t, w->data, i);
        assert_int_equal(dec(t, i, &blen), -1);
        free(t);
    }
    memcpy(copy, w->data, w->len);
    copy[w->len] = 0;
    assert_int_equal(dec(copy, w->len + 1, &blen), -1);

    for (i = 0; i < w->len; i++) {
        for (bit = 0; bit < 8; bit += 3) {
            memcpy(copy, w->data, w->len);
            copy[i] ^= (unsigned char)(1u << bit);
            if (dec(copy, w->len, &blen) == 0)
                assert_false(tv_rec_check(&keys, db, "key", 3, copy, blen));
        }
    }
    free(copy);
}

static void
test_header(void **state)
{
    struct tv_wbuf w = { 0 };
    struct tv_rec_header in = { TV_FORMAT_VERSION, { 0 }, 1700000000 }, out;
    size_t blen;

    (void)state;
    randombytes_buf(in.vault_id, TV_ID_LEN);
    tv_rec_header_encode(&w, &in);
    seal(&w, "meta");
    assert_int_equal(tv_rec_header_decode(w.data, w.len, &out, &blen), 0);
    assert_int_equal(out.format, TV_FORMAT_VERSION);
    assert_memory_equal(out.vault_id, in.vault_id, TV_ID_LEN);
    assert_int_equal(out.created, 1700000000);
    check_record(&w, "meta", dec_header);
    tv_wbuf_free(&w);
}

static void
test_head(void **state)
{
    struct tv_wbuf w = { 0 };
    struct tv_rec_head in = { 42, { 0 } }, out;
    size_t blen;

    (void)state;
    randombytes_buf(in.last, TV_MAC_LEN);
    tv_rec_head_encode(&w, &in);
    seal(&w, "meta");
    assert_int_equal(tv_rec_head_decode(w.data, w.len, &out, &blen), 0);
    assert_int_equal(out.count, 42);
    assert_memory_equal(out.last, in.last, TV_MAC_LEN);
    check_record(&w, "meta", dec_head);
    tv_wbuf_free(&w);
}

static void
test_slot(void **state)
{
    struct tv_wbuf w = { 0 };
    struct tv_rec_slot in, out;
    size_t blen;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.kind = TV_CRED_PASSPHRASE;
    in.kdf = TV_KDF_INTERACTIVE;
    in.opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    in.memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    in.created = 1234;
    randombytes_buf(in.salt, sizeof(in.salt));
    randombytes_buf(in.nonce, sizeof(in.nonce));
    randombytes_buf(in.wrapped, sizeof(in.wrapped));
    tv_rec_slot_encode(&w, &in);
    seal(&w, "slots");
    assert_int_equal(tv_rec_slot_decode(w.data, w.len, &out, &blen), 0);
    assert_memory_equal(&out.salt, &in.salt, sizeof(in.salt));
    assert_memory_equal(&out.wrapped, &in.wrapped, sizeof(in.wrapped));
    assert_int_equal(out.opslimit, in.opslimit);
    check_record(&w, "slots", dec_slot);

    /* limits beyond the sensitive profile are refused */
    in.memlimit = (uint64_t)crypto_pwhash_MEMLIMIT_SENSITIVE * 2;
    tv_wbuf_reset(&w);
    tv_rec_slot_encode(&w, &in);
    seal(&w, "slots");
    assert_int_equal(tv_rec_slot_decode(w.data, w.len, &out, &blen), -1);
    tv_wbuf_free(&w);
}

static void
test_secret(void **state)
{
    struct tv_wbuf w = { 0 };
    struct tv_rec_secret in, out;
    size_t blen;

    (void)state;
    memset(&in, 0, sizeof(in));
    strcpy(in.tier, "payment");
    in.version = 7;
    in.created = 100;
    in.updated = 200;
    strcpy(in.actor, "alice@laptop");
    strcpy(in.note, "rotated after the incident");
    memset(in.fp, 0xab, TV_FP_LEN);
    tv_rec_secret_encode(&w, &in);
    seal(&w, "secrets");
    assert_int_equal(tv_rec_secret_decode(w.data, w.len, &out, &blen), 0);
    assert_string_equal(out.tier, "payment");
    assert_int_equal(out.version, 7);
    assert_int_equal(out.updated, 200);
    assert_string_equal(out.actor, "alice@laptop");
    assert_string_equal(out.note, in.note);
    assert_memory_equal(out.fp, in.fp, TV_FP_LEN);
    check_record(&w, "secrets", dec_secret);

    /* a tier that is not a tier is refused */
    strcpy(in.tier, "Pay");
    tv_wbuf_reset(&w);
    tv_rec_secret_encode(&w, &in);
    seal(&w, "secrets");
    assert_int_equal(tv_rec_secret_decode(w.data, w.len, &out, &blen), -1);
    tv_wbuf_free(&w);
}

static void
test_version(void **state)
{
    unsigned char ct[20 + TV_TAG_LEN];
    struct tv_wbuf w = { 0 };
    struct tv_rec_version in, out;
    size_t blen;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.op = TV_OP_ROLLBACK;
    in.source = 2;
    in.time = 300;
    strcpy(in.tier, "core");
    strcpy(in.actor, "agent");
    randombytes_buf(ct, sizeof(ct));
    in.ct = ct;
    in.ct_len = sizeof(ct);
    tv_rec_version_encode(&w, &in);
    seal(&w, "versions");
    assert_int_equal(tv_rec_version_decode(w.data, w.len, &out, &blen), 0);
    assert_int_equal(out.op, TV_OP_ROLLBACK);
    assert_int_equal(out.source, 2);
    assert_int_equal(out.ct_len, sizeof(ct));
    assert_memory_equal(out.ct, ct, sizeof(ct));
    check_record(&w, "versions", dec_version);

    /* a tombstone holds no ciphertext, and only a tombstone may not */
    in.op = TV_OP_RM;
    in.deleted = 1;
    in.source = 0;
    in.ct = NULL;
    in.ct_len = 0;
    tv_wbuf_reset(&w);
    tv_rec_version_encode(&w, &in);
    seal(&w, "versions");
    assert_int_equal(tv_rec_version_decode(w.data, w.len, &out, &blen), 0);
    assert_null(out.ct);
    check_record(&w, "versions", dec_version);
    in.op = TV_OP_PUT;
    in.deleted = 0;
    tv_wbuf_reset(&w);
    tv_rec_version_encode(&w, &in);
    seal(&w, "versions");
    assert_int_equal(tv_rec_version_decode(w.data, w.len, &out, &blen), -1);
    tv_wbuf_free(&w);
}

static void
test_audit_entry(void **state)
{
    struct tv_wbuf w = { 0 };
    struct tv_rec_audit in, out;
    size_t blen;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.seq = 5;
    in.time = 400;
    strcpy(in.actor, "bob@ci");
    strcpy(in.op, "put");
    strcpy(in.service, "node1-auth-service");
    strcpy(in.name, "JWT_SECRET");
    in.version = 3;
    strcpy(in.fp, "0123456789abcdef");
    strcpy(in.detail, "tier core");
    tv_rec_audit_encode(&w, &in);
    seal(&w, "audit");
    assert_int_equal(tv_rec_audit_decode(w.data, w.len, &out, &blen), 0);
    assert_int_equal(out.seq, 5);
    assert_string_equal(out.service, "node1-auth-service");
    assert_string_equal(out.fp, in.fp);
    assert_string_equal(out.detail, "tier core");
    check_record(&w, "audit", dec_audit);

    /* control characters in text fields are refused */
    strcpy(in.detail, "line\nbreak");
    tv_wbuf_reset(&w);
    tv_rec_audit_encode(&w, &in);
    seal(&w, "audit");
    assert_int_equal(tv_rec_audit_decode(w.data, w.len, &out, &blen), -1);
    tv_wbuf_free(&w);
}

static void
test_state_record(void **state)
{
    unsigned char ct[3 + TV_TAG_LEN];
    struct tv_wbuf w = { 0 };
    struct tv_rec_state in, out;
    size_t blen;

    (void)state;
    randombytes_buf(in.nonce, sizeof(in.nonce));
    randombytes_buf(ct, sizeof(ct));
    in.ct = ct;
    in.ct_len = sizeof(ct);
    tv_rec_state_encode(&w, &in);
    seal(&w, "state");
    assert_int_equal(tv_rec_state_decode(w.data, w.len, &out, &blen), 0);
    assert_memory_equal(out.ct, ct, sizeof(ct));
    check_record(&w, "state", dec_state);
    tv_wbuf_free(&w);
}

static void
test_keys(void **state)
{
    char s[TV_NAME_MAX + 1], n[TV_NAME_MAX + 1];
    struct tv_wbuf w = { 0 };
    uint32_t version = 0;
    size_t i;

    (void)state;
    tv_key_secret(&w, "svc", "NAME");
    assert_int_equal(tv_key_secret_decode(w.data, w.len, s, n), 0);
    assert_string_equal(s, "svc");
    assert_string_equal(n, "NAME");
    /* shorter keys may be other valid keys; those without a name are not */
    for (i = 0; i <= strlen("svc"); i++)
        assert_int_equal(tv_key_secret_decode(w.data, i, s, n), -1);

    tv_key_version(&w, "svc", "NAME", 0x01020304);
    assert_int_equal(tv_key_version_decode(w.data, w.len, s, n, &version), 0);
    assert_int_equal(version, 0x01020304);
    for (i = 0; i < w.len; i++)
        assert_int_equal(tv_key_version_decode(w.data, i, s, n, &version), -1);
    assert_int_equal(tv_key_secret_decode("a\0b\0c", 5, s, n), -1);
    assert_int_equal(tv_key_secret_decode("a b\0c", 5, s, n), -1);
    tv_wbuf_free(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),       cmocka_unit_test(test_head),
        cmocka_unit_test(test_slot),         cmocka_unit_test(test_secret),
        cmocka_unit_test(test_version),      cmocka_unit_test(test_audit_entry),
        cmocka_unit_test(test_state_record), cmocka_unit_test(test_keys),
    };

    if (sodium_init() < 0)
        return 1;
    randombytes_buf(keys.vault, TV_KEY_LEN);
    if (tv_keys_derive(&keys) != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
