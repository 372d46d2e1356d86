/*
 * crypto.c - every cryptographic operation of the vault, in one place so
 * that docs/format.md can be checked against it (see crypto.h).
 */
#include <string.h>

#include <sodium.h>

#include "crypto.h"

/* crypto_kdf contexts are exactly 8 bytes. */
static const char kdf_ctx[crypto_kdf_CONTEXTBYTES + 1] = "tvault01";

enum subkey_id {
    SUBKEY_VALUE = 1,
    SUBKEY_FP = 2,
    SUBKEY_AUDIT = 3,
    SUBKEY_RECORD = 4,
    SUBKEY_STATE = 5,
};

int
tv_keys_derive(struct tv_keys *k)
{
    if (crypto_kdf_derive_from_key(k->value, TV_KEY_LEN, SUBKEY_VALUE, kdf_ctx,
                                   k->vault) != 0 ||
        crypto_kdf_derive_from_key(k->fp, TV_KEY_LEN, SUBKEY_FP, kdf_ctx,
                                   k->vault) != 0 ||
        crypto_kdf_derive_from_key(k->audit, TV_KEY_LEN, SUBKEY_AUDIT, kdf_ctx,
                                   k->vault) != 0 ||
        crypto_kdf_derive_from_key(k->record, TV_KEY_LEN, SUBKEY_RECORD,
                                   kdf_ctx, k->vault) != 0 ||
        crypto_kdf_derive_from_key(k->state, TV_KEY_LEN, SUBKEY_STATE, kdf_ctx,
                                   k->vault) != 0)
        return -1;
    return 0;
}

void
tv_rec_mac(const struct tv_keys *k, const char *db, const void *key,
           size_t klen, const void *body, size_t blen,
           unsigned char out[TV_MAC_LEN])
{
    crypto_generichash_state h;
    unsigned char len[4];
    size_t dlen = strlen(db);

    crypto_generichash_init(&h, k->record, TV_KEY_LEN, TV_MAC_LEN);
    len[0] = (unsigned char)dlen;
    crypto_generichash_update(&h, len, 1);
    crypto_generichash_update(&h, (const unsigned char *)db, dlen);
    tv_put_be32(len, (uint32_t)klen);
    crypto_generichash_update(&h, len, 4);
    crypto_generichash_update(&h, key, klen);
    crypto_generichash_update(&h, body, blen);
    crypto_generichash_final(&h, out, TV_MAC_LEN);
    sodium_memzero(&h, sizeof(h));
}

void
tv_rec_seal(const struct tv_keys *k, struct tv_wbuf *w, const char *db,
            const void *key, size_t klen)
{
    unsigned char mac[TV_MAC_LEN];

    if (w->oom)
        return;
    tv_rec_mac(k, db, key, klen, w->data, w->len, mac);
    tv_wbuf_put(w, mac, TV_MAC_LEN);
}

int
tv_rec_check(const struct tv_keys *k, const char *db, const void *key,
             size_t klen, const void *rec, size_t blen)
{
    unsigned char mac[TV_MAC_LEN];

    tv_rec_mac(k, db, key, klen, rec, blen, mac);
    /* constant time: a forger must not learn how much of a MAC matched */
    return tv_ct_equal(mac, TV_MAC_LEN, (const unsigned char *)rec + blen,
                       TV_MAC_LEN);
}

void
tv_fp_raw(const struct tv_keys *k, const void *value, size_t len,
          unsigned char out[TV_FP_LEN])
{
    unsigned char h[crypto_generichash_BYTES_MIN];

    crypto_generichash(h, sizeof(h), value, len, k->fp, TV_KEY_LEN);
    memcpy(out, h, TV_FP_LEN);
}

void
tv_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void
tv_fp_hex(const unsigned char fp[TV_FP_LEN], char out[TV_FP_HEXLEN + 1])
{
    tv_hex(fp, TV_FP_LEN, out);
}

static const char keyfile_kek_label[] = "tiervault keyfile kek v1";
static const char keyfile_id_label[] = "tiervault keyfile id v1";

int
tv_kek_derive(const struct tv_rec_slot *slot, const struct tv_secret *cred,
              unsigned char *kek)
{
    crypto_generichash_state h;

    if (slot->kind == TV_CRED_PASSPHRASE)
        return crypto_pwhash(
                   kek, TV_KEY_LEN, (const char *)cred->data, cred->len,
                   slot->salt, (unsigned long long)slot->opslimit,
                   (size_t)slot->memlimit, crypto_pwhash_ALG_ARGON2ID13) == 0
                   ? 0
                   : -1;
    /* a key file already holds 256 random bits: no stretching needed */
    crypto_generichash_init(&h, cred->data, TV_KEYFILE_LEN, TV_KEY_LEN);
    crypto_generichash_update(&h, (const unsigned char *)keyfile_kek_label,
                              sizeof(keyfile_kek_label) - 1);
    crypto_generichash_update(&h, slot->salt, TV_SALT_LEN);
    crypto_generichash_final(&h, kek, TV_KEY_LEN);
    sodium_memzero(&h, sizeof(h));
    return 0;
}

void
tv_keyfile_id(const struct tv_secret *key, unsigned char out[])
{
    unsigned char h[crypto_generichash_BYTES_MIN];

    crypto_generichash(h, sizeof(h), (const unsigned char *)keyfile_id_label,
                       sizeof(keyfile_id_label) - 1, key->data, TV_KEYFILE_LEN);
    memcpy(out, h, TV_KEYID_LEN);
}

#define SLOT_AD_LEN (16 + TV_ID_LEN + 4)

static void
slot_ad(unsigned char ad[SLOT_AD_LEN], const unsigned char *vault_id,
        uint32_t slot_id)
{
    memcpy(ad, "tiervault slot\0\0", 16);
    memcpy(ad + 16, vault_id, TV_ID_LEN);
    tv_put_be32(ad + 16 + TV_ID_LEN, slot_id);
}

void
tv_slot_wrap(struct tv_rec_slot *slot, const unsigned char *vault_id,
             uint32_t slot_id, const unsigned char *kek,
             const unsigned char *vault_key)
{
    unsigned char ad[SLOT_AD_LEN];

    slot_ad(ad, vault_id, slot_id);
    randombytes_buf(slot->nonce, TV_NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(slot->wrapped, NULL, vault_key,
                                               TV_KEY_LEN, ad, sizeof(ad), NULL,
                                               slot->nonce, kek);
}

int
tv_slot_unwrap(const struct tv_rec_slot *slot, const unsigned char *vault_id,
               uint32_t slot_id, const unsigned char *kek,
               unsigned char *vault_key)
{
    unsigned char ad[SLOT_AD_LEN];

    slot_ad(ad, vault_id, slot_id);
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
               vault_key, NULL, NULL, slot->wrapped, TV_WRAPPED_LEN, ad,
               sizeof(ad), slot->nonce, kek) == 0
               ? 0
               : -1;
}

/* AD of a value: label, vault id, service NUL name NUL version. */
#define VALUE_AD_MAX (16 + TV_ID_LEN + 2 * (TV_NAME_MAX + 1) + 4)

static size_t
value_ad(unsigned char *ad, const unsigned char *vault_id, const char *service,
         const char *name, uint32_t version)
{
    size_t slen = strlen(service), nlen = strlen(name), n = 0;

    memcpy(ad, "tiervault value\0", 16);
    n += 16;
    memcpy(ad + n, vault_id, TV_ID_LEN);
    n += TV_ID_LEN;
    memcpy(ad + n, service, slen + 1);
    n += slen + 1;
    memcpy(ad + n, name, nlen + 1);
    n += nlen + 1;
    tv_put_be32(ad + n, version);
    return n + 4;
}

void
tv_value_seal(const struct tv_keys *k, const unsigned char *vault_id,
              const char *service, const char *name, uint32_t version,
              const void *value, size_t len, unsigned char nonce[TV_NONCE_LEN],
              unsigned char *ct)
{
    unsigned char ad[VALUE_AD_MAX];
    size_t adlen = value_ad(ad, vault_id, service, name, version);

    randombytes_buf(nonce, TV_NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, value, len, ad, adlen,
                                               NULL, nonce, k->value);
}

int
tv_value_open(const struct tv_keys *k, const unsigned char *vault_id,
              const char *service, const char *name, uint32_t version,
              const unsigned char nonce[TV_NONCE_LEN], const unsigned char *ct,
              size_t ct_len, unsigned char *out)
{
    unsigned char ad[VALUE_AD_MAX];
    size_t adlen = value_ad(ad, vault_id, service, name, version);

    return crypto_aead_xchacha20poly1305_ietf_decrypt(
               out, NULL, NULL, ct, ct_len, ad, adlen, nonce, k->value) == 0
               ? 0
               : -1;
}

#define STATE_AD_MAX (16 + TV_ID_LEN + TV_STATE_KEYMAX)

static size_t
state_ad(unsigned char *ad, const unsigned char *vault_id, const char *key)
{
    size_t klen = strlen(key);

    memcpy(ad, "tiervault state\0", 16);
    memcpy(ad + 16, vault_id, TV_ID_LEN);
    memcpy(ad + 16 + TV_ID_LEN, key, klen);
    return 16 + TV_ID_LEN + klen;
}

void
tv_state_seal(const struct tv_keys *k, const unsigned char *vault_id,
              const char *key, const void *data, size_t len,
              unsigned char nonce[TV_NONCE_LEN], unsigned char *ct)
{
    unsigned char ad[STATE_AD_MAX];
    size_t adlen = state_ad(ad, vault_id, key);

    randombytes_buf(nonce, TV_NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, data, len, ad, adlen,
                                               NULL, nonce, k->state);
}

int
tv_state_open(const struct tv_keys *k, const unsigned char *vault_id,
              const char *key, const unsigned char nonce[TV_NONCE_LEN],
              const unsigned char *ct, size_t ct_len, unsigned char *out)
{
    unsigned char ad[STATE_AD_MAX];
    size_t adlen = state_ad(ad, vault_id, key);

    return crypto_aead_xchacha20poly1305_ietf_decrypt(
               out, NULL, NULL, ct, ct_len, ad, adlen, nonce, k->state) == 0
               ? 0
               : -1;
}

void
tv_audit_mac(const struct tv_keys *k, const unsigned char prev[TV_MAC_LEN],
             const void *body, size_t len, unsigned char out[TV_MAC_LEN])
{
    crypto_generichash_state h;

    crypto_generichash_init(&h, k->audit, TV_KEY_LEN, TV_MAC_LEN);
    crypto_generichash_update(&h, prev, TV_MAC_LEN);
    crypto_generichash_update(&h, body, len);
    crypto_generichash_final(&h, out, TV_MAC_LEN);
    sodium_memzero(&h, sizeof(h));
}
