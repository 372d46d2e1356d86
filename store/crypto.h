/*
 * crypto.h - key derivation, key wrapping, value encryption and MACs of
 * the vault (internal to store/; docs/format.md gives every input).
 */
#ifndef TV_CRYPTO_H
#define TV_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* The unlocked keys; always lives inside a struct tv_secret. */
struct tv_keys {
    unsigned char vault[TV_KEY_LEN];
    unsigned char value[TV_KEY_LEN];  /* AEAD of secret values */
    unsigned char fp[TV_KEY_LEN];     /* fingerprints */
    unsigned char audit[TV_KEY_LEN];  /* audit chain MAC */
    unsigned char record[TV_KEY_LEN]; /* record MACs */
    unsigned char state[TV_KEY_LEN];  /* AEAD of agent state */
};

/* Fills k's subkeys from k->vault.  Returns 0, or -1 on failure. */
int tv_keys_derive(struct tv_keys *k);

/*
 * The record MAC: keyed BLAKE2b-256 (record subkey) over the database name,
 * the LMDB key and the body, each but the body preceded by its length.
 */
void tv_rec_mac(const struct tv_keys *k, const char *db, const void *key,
                size_t klen, const void *body, size_t blen,
                unsigned char out[TV_MAC_LEN]);

/* Appends the record MAC of w's body (stored under db/key) to w. */
void tv_rec_seal(const struct tv_keys *k, struct tv_wbuf *w, const char *db,
                 const void *key, size_t klen);

/* 1 when rec (body of blen bytes, then the MAC) carries a valid MAC. */
int tv_rec_check(const struct tv_keys *k, const char *db, const void *key,
                 size_t klen, const void *rec, size_t blen);

/* The raw fingerprint (TV_FP_LEN bytes) and its hex form. */
void tv_fp_raw(const struct tv_keys *k, const void *value, size_t len,
               unsigned char out[TV_FP_LEN]);
void tv_fp_hex(const unsigned char fp[TV_FP_LEN], char out[TV_FP_HEXLEN + 1]);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void tv_hex(const unsigned char *p, size_t n, char *out);

/*
 * The key-encryption key of a slot into kek (TV_KEY_LEN bytes, guarded by
 * the caller): Argon2id over the passphrase, or keyed BLAKE2b of the salt
 * under the key file's key.  Returns 0, or -1 when Argon2 fails (memory).
 */
int tv_kek_derive(const struct tv_rec_slot *slot, const struct tv_secret *cred,
                  unsigned char *kek);

/* The short id of a key file's key (TV_KEYID_LEN bytes). */
void tv_keyfile_id(const struct tv_secret *key, unsigned char out[]);

/* Wraps vault_key into slot->wrapped (fresh nonce); AD binds id and slot. */
void tv_slot_wrap(struct tv_rec_slot *slot, const unsigned char *vault_id,
                  uint32_t slot_id, const unsigned char *kek,
                  const unsigned char *vault_key);

/* Unwraps into vault_key (guarded); 0 on success, -1 when it fails. */
int tv_slot_unwrap(const struct tv_rec_slot *slot,
                   const unsigned char *vault_id, uint32_t slot_id,
                   const unsigned char *kek, unsigned char *vault_key);

/*
 * Encrypts a value for service/name/version into ct (len + TV_TAG_LEN
 * bytes) with a fresh nonce; decryption returns 0 or -1 (altered).
 */
void tv_value_seal(const struct tv_keys *k, const unsigned char *vault_id,
                   const char *service, const char *name, uint32_t version,
                   const void *value, size_t len,
                   unsigned char nonce[TV_NONCE_LEN], unsigned char *ct);
int tv_value_open(const struct tv_keys *k, const unsigned char *vault_id,
                  const char *service, const char *name, uint32_t version,
                  const unsigned char nonce[TV_NONCE_LEN],
                  const unsigned char *ct, size_t ct_len, unsigned char *out);

/* As tv_value_seal/open for agent state under key. */
void tv_state_seal(const struct tv_keys *k, const unsigned char *vault_id,
                   const char *key, const void *data, size_t len,
                   unsigned char nonce[TV_NONCE_LEN], unsigned char *ct);
int tv_state_open(const struct tv_keys *k, const unsigned char *vault_id,
                  const char *key, const unsigned char nonce[TV_NONCE_LEN],
                  const unsigned char *ct, size_t ct_len, unsigned char *out);

/* The chain MAC of an audit entry body: BLAKE2b-256(audit, prev || body). */
void tv_audit_mac(const struct tv_keys *k, const unsigned char prev[TV_MAC_LEN],
                  const void *body, size_t len, unsigned char out[TV_MAC_LEN]);

#endif
