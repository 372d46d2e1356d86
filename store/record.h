/*
 * record.h - encoding and decoding of the records stored in the vault's
 * LMDB databases (internal to store/; docs/format.md is the reference).
 *
 * Encoders append a record body to a growable buffer; the caller appends
 * the record MAC.  Decoders check every length against the input, accept
 * exactly one body followed by a TV_MAC_LEN MAC, validate every field and
 * return 0, or -1 when the bytes do not parse (nothing is read past len).
 * Pointers a decoder returns (ciphertext, MAC) point into the input.
 */
#ifndef TV_RECORD_H
#define TV_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "tv_vault.h"

#define TV_ID_LEN       16
#define TV_KEY_LEN      32
#define TV_MAC_LEN      32
#define TV_FP_LEN       8
#define TV_SALT_LEN     16
#define TV_NONCE_LEN    24
#define TV_TAG_LEN      16
#define TV_WRAPPED_LEN  (TV_KEY_LEN + TV_TAG_LEN)
#define TV_KEYID_LEN    8
#define TV_STATE_KEYMAX (TV_NAME_MAX * 2)
#define TV_STATE_MAX    (1024 * 1024)

/* Record tags: the first byte of every body. */
#define TV_TAG_HEADER  'H'
#define TV_TAG_HEAD    'P'
#define TV_TAG_SLOT    'K'
#define TV_TAG_SECRET  'S'
#define TV_TAG_VERSION 'V'
#define TV_TAG_AUDIT   'A'
#define TV_TAG_STATE   'T'

/* A growable byte buffer for non-secret bytes; oom is sticky. */
struct tv_wbuf {
    unsigned char *data;
    size_t len;
    size_t cap;
    int oom;
};

/* Empties w (keeping its memory) and clears oom. */
void tv_wbuf_reset(struct tv_wbuf *w);

/* Frees w's memory; w is then empty and may be used again. */
void tv_wbuf_free(struct tv_wbuf *w);

/*
 * Append n bytes, or one big-endian integer.  On allocation failure oom is
 * set and later appends do nothing; callers check oom once at the end.
 */
void tv_wbuf_put(struct tv_wbuf *w, const void *p, size_t n);
void tv_wbuf_u8(struct tv_wbuf *w, unsigned v);
void tv_wbuf_u16(struct tv_wbuf *w, unsigned v);
void tv_wbuf_u32(struct tv_wbuf *w, uint32_t v);
void tv_wbuf_u64(struct tv_wbuf *w, uint64_t v);

/* meta "header": readable before unlock, MAC checked after. */
struct tv_rec_header {
    uint16_t format;
    unsigned char vault_id[TV_ID_LEN];
    int64_t created;
};

/* meta "audit-head": how many audit entries there are and the last MAC. */
struct tv_rec_head {
    uint64_t count;
    unsigned char last[TV_MAC_LEN];
};

struct tv_rec_slot {
    uint8_t kind; /* enum tv_cred_kind */
    uint8_t kdf;  /* enum tv_kdf, passphrase slots */
    uint64_t opslimit;
    uint64_t memlimit;
    int64_t created;
    unsigned char salt[TV_SALT_LEN];
    unsigned char key_id[TV_KEYID_LEN]; /* key-file slots; zero otherwise */
    unsigned char nonce[TV_NONCE_LEN];
    unsigned char wrapped[TV_WRAPPED_LEN];
};

struct tv_rec_secret {
    char tier[TV_TIER_MAX + 1];
    uint32_t version;
    uint8_t deleted;
    int64_t created;
    int64_t updated;
    char actor[TV_ACTOR_MAX + 1];
    char note[TV_NOTE_MAX + 1];
    unsigned char fp[TV_FP_LEN]; /* zero when deleted */
};

struct tv_rec_version {
    uint8_t op; /* enum tv_op */
    uint8_t deleted;
    uint32_t source;
    int64_t time;
    char tier[TV_TIER_MAX + 1];
    char actor[TV_ACTOR_MAX + 1];
    char note[TV_NOTE_MAX + 1];
    unsigned char fp[TV_FP_LEN];
    unsigned char nonce[TV_NONCE_LEN];
    const unsigned char *ct; /* ciphertext and tag; NULL for a tombstone */
    uint32_t ct_len;
};

struct tv_rec_audit {
    uint64_t seq;
    int64_t time;
    char actor[TV_ACTOR_MAX + 1];
    char op[TV_OP_MAX + 1];
    char service[TV_NAME_MAX + 1];
    char name[TV_NAME_MAX + 1];
    uint32_t version;
    char fp[TV_FP_HEXLEN + 1];
    char detail[TV_DETAIL_MAX + 1];
};

struct tv_rec_state {
    unsigned char nonce[TV_NONCE_LEN];
    const unsigned char *ct;
    uint32_t ct_len;
};

/* Encoders: append the body (without MAC) to w. */
void tv_rec_header_encode(struct tv_wbuf *w, const struct tv_rec_header *r);
void tv_rec_head_encode(struct tv_wbuf *w, const struct tv_rec_head *r);
void tv_rec_slot_encode(struct tv_wbuf *w, const struct tv_rec_slot *r);
void tv_rec_secret_encode(struct tv_wbuf *w, const struct tv_rec_secret *r);
void tv_rec_version_encode(struct tv_wbuf *w, const struct tv_rec_version *r);
void tv_rec_audit_encode(struct tv_wbuf *w, const struct tv_rec_audit *r);
void tv_rec_state_encode(struct tv_wbuf *w, const struct tv_rec_state *r);

/*
 * Decoders: parse buf[0..len) as a body followed by a MAC.  On success
 * *body_len is the length the MAC covers and the MAC is at buf + *body_len.
 * The header decoder accepts any format number (the caller checks it).
 */
int tv_rec_header_decode(const void *buf, size_t len, struct tv_rec_header *r,
                         size_t *body_len);
int tv_rec_head_decode(const void *buf, size_t len, struct tv_rec_head *r,
                       size_t *body_len);
int tv_rec_slot_decode(const void *buf, size_t len, struct tv_rec_slot *r,
                       size_t *body_len);
int tv_rec_secret_decode(const void *buf, size_t len, struct tv_rec_secret *r,
                         size_t *body_len);
int tv_rec_version_decode(const void *buf, size_t len, struct tv_rec_version *r,
                          size_t *body_len);
int tv_rec_audit_decode(const void *buf, size_t len, struct tv_rec_audit *r,
                        size_t *body_len);
int tv_rec_state_decode(const void *buf, size_t len, struct tv_rec_state *r,
                        size_t *body_len);

/*
 * Database keys.  A secret is "SERVICE\0NAME", a version "SERVICE\0NAME\0"
 * followed by the version as 4 big-endian bytes, a slot or audit entry its
 * number big-endian (4 and 8 bytes).
 */
void tv_key_secret(struct tv_wbuf *w, const char *service, const char *name);
void tv_key_version(struct tv_wbuf *w, const char *service, const char *name,
                    uint32_t version);
int tv_key_secret_decode(const void *buf, size_t len,
                         char service[TV_NAME_MAX + 1],
                         char name[TV_NAME_MAX + 1]);
int tv_key_version_decode(const void *buf, size_t len,
                          char service[TV_NAME_MAX + 1],
                          char name[TV_NAME_MAX + 1], uint32_t *version);

/* Big-endian integers at p (4 or 8 bytes, no bounds: callers check). */
uint32_t tv_be32(const unsigned char *p);
uint64_t tv_be64(const unsigned char *p);
void tv_put_be32(unsigned char *p, uint32_t v);
void tv_put_be64(unsigned char *p, uint64_t v);

/* 1 when s is printable text for actor, note and detail fields. */
int tv_text_valid(const char *s, size_t max);

#endif
