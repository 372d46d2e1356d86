/*
 * record.c - the byte layout of every stored record (see record.h and
 * docs/format.md).  Integers are big-endian; strings are a length (one
 * byte, or two for notes and details) followed by that many bytes without
 * a NUL.  Every read is checked against the remaining input.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "record.h"

void
tv_wbuf_reset(struct tv_wbuf *w)
{
    w->len = 0;
    w->oom = 0;
}

void
tv_wbuf_free(struct tv_wbuf *w)
{
    free(w->data);
    w->data = NULL;
    w->len = 0;
    w->cap = 0;
    w->oom = 0;
}

void
tv_wbuf_put(struct tv_wbuf *w, const void *p, size_t n)
{
    size_t cap;
    unsigned char *d;

    if (w->oom || n == 0)
        return;
    if (n > SIZE_MAX / 4 - w->len) {
        w->oom = 1;
        return;
    }
    if (w->len + n > w->cap) {
        cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        d = realloc(w->data, cap);
        if (d == NULL) {
            w->oom = 1;
            return;
        }
        w->data = d;
        w->cap = cap;
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void
tv_wbuf_u8(struct tv_wbuf *w, unsigned v)
{
    unsigned char b = (unsigned char)v;

    tv_wbuf_put(w, &b, 1);
}

void
tv_wbuf_u16(struct tv_wbuf *w, unsigned v)
{
    unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

    tv_wbuf_put(w, b, 2);
}

void
tv_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void
tv_put_be64(unsigned char *p, uint64_t v)
{
    tv_put_be32(p, (uint32_t)(v >> 32));
    tv_put_be32(p + 4, (uint32_t)v);
}

uint32_t
tv_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

uint64_t
tv_be64(const unsigned char *p)
{
    return (uint64_t)tv_be32(p) << 32 | tv_be32(p + 4);
}

void
tv_wbuf_u32(struct tv_wbuf *w, uint32_t v)
{
    unsigned char b[4];

    tv_put_be32(b, v);
    tv_wbuf_put(w, b, 4);
}

void
tv_wbuf_u64(struct tv_wbuf *w, uint64_t v)
{
    unsigned char b[8];

    tv_put_be64(b, v);
    tv_wbuf_put(w, b, 8);
}

/* A string with a one-byte (wide == 0) or two-byte length. */
static void
wbuf_str(struct tv_wbuf *w, const char *s, int wide)
{
    size_t n = strlen(s);

    if (wide)
        tv_wbuf_u16(w, (unsigned)n);
    else
        tv_wbuf_u8(w, (unsigned)n);
    tv_wbuf_put(w, s, n);
}

int
tv_text_valid(const char *s, size_t max)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (i >= max || c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

struct rbuf {
    const unsigned char *p;
    size_t len;
    size_t off;
    int bad;
};

static const unsigned char *
rbuf_take(struct rbuf *r, size_t n)
{
    const unsigned char *p;

    if (r->bad || n > r->len - r->off) {
        r->bad = 1;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

static unsigned
rbuf_u8(struct rbuf *r)
{
    const unsigned char *p = rbuf_take(r, 1);

    return p ? p[0] : 0;
}

static unsigned
rbuf_u16(struct rbuf *r)
{
    const unsigned char *p = rbuf_take(r, 2);

    return p ? (unsigned)p[0] << 8 | p[1] : 0;
}

static uint32_t
rbuf_u32(struct rbuf *r)
{
    const unsigned char *p = rbuf_take(r, 4);

    return p ? tv_be32(p) : 0;
}

static uint64_t
rbuf_u64(struct rbuf *r)
{
    const unsigned char *p = rbuf_take(r, 8);

    return p ? tv_be64(p) : 0;
}

static void
rbuf_fixed(struct rbuf *r, void *out, size_t n)
{
    const unsigned char *p = rbuf_take(r, n);

    if (p != NULL)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

/* Kinds of string content a field may hold. */
enum str_kind {
    STR_TEXT, /* printable, no control characters */
    STR_NAME, /* tv_name_valid, possibly empty */
    STR_TIER, /* tv_tier_valid */
    STR_HEX,  /* lowercase hex digits */
};

static int
str_ok(const char *s, enum str_kind kind, size_t max)
{
    size_t i;

    switch (kind) {
    case STR_TEXT:
        return tv_text_valid(s, max);
    case STR_NAME:
        return s[0] == '\0' || tv_name_valid(s);
    case STR_TIER:
        return tv_tier_valid(s);
    case STR_HEX:
        for (i = 0; s[i] != '\0'; i++) {
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* Reads a string of at most max bytes into out (max + 1 bytes). */
static void
rbuf_str(struct rbuf *r, char *out, size_t max, int wide, enum str_kind kind)
{
    size_t n = wide ? rbuf_u16(r) : rbuf_u8(r);
    const unsigned char *p;

    out[0] = '\0';
    if (r->bad)
        return;
    if (n > max) {
        r->bad = 1;
        return;
    }
    p = rbuf_take(r, n);
    if (p == NULL)
        return;
    if (memchr(p, '\0', n) != NULL) {
        r->bad = 1;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    if (!str_ok(out, kind, max))
        r->bad = 1;
}

static void
rbuf_begin(struct rbuf *r, const void *buf, size_t len, unsigned tag)
{
    r->p = buf;
    r->len = len;
    r->off = 0;
    r->bad = buf == NULL;
    if (rbuf_u8(r) != tag)
        r->bad = 1;
}

/* The body must be followed by exactly one MAC. */
static int
rbuf_end(struct rbuf *r, size_t *body_len)
{
    if (r->bad || r->len - r->off != TV_MAC_LEN)
        return -1;
    *body_len = r->off;
    return 0;
}

void
tv_rec_header_encode(struct tv_wbuf *w, const struct tv_rec_header *r)
{
    tv_wbuf_u8(w, TV_TAG_HEADER);
    tv_wbuf_u16(w, r->format);
    tv_wbuf_put(w, r->vault_id, TV_ID_LEN);
    tv_wbuf_u64(w, (uint64_t)r->created);
}

int
tv_rec_header_decode(const void *buf, size_t len, struct tv_rec_header *r,
                     size_t *body_len)
{
    struct rbuf rb;

    rbuf_begin(&rb, buf, len, TV_TAG_HEADER);
    r->format = (uint16_t)rbuf_u16(&rb);
    rbuf_fixed(&rb, r->vault_id, TV_ID_LEN);
    r->created = (int64_t)rbuf_u64(&rb);
    return rbuf_end(&rb, body_len);
}

void
tv_rec_head_encode(struct tv_wbuf *w, const struct tv_rec_head *r)
{
    tv_wbuf_u8(w, TV_TAG_HEAD);
    tv_wbuf_u64(w, r->count);
    tv_wbuf_put(w, r->last, TV_MAC_LEN);
}

int
tv_rec_head_decode(const void *buf, size_t len, struct tv_rec_head *r,
                   size_t *body_len)
{
    struct rbuf rb;

    rbuf_begin(&rb, buf, len, TV_TAG_HEAD);
    r->count = rbuf_u64(&rb);
    rbuf_fixed(&rb, r->last, TV_MAC_LEN);
    return rbuf_end(&rb, body_len);
}

void
tv_rec_slot_encode(struct tv_wbuf *w, const struct tv_rec_slot *r)
{
    tv_wbuf_u8(w, TV_TAG_SLOT);
    tv_wbuf_u8(w, r->kind);
    tv_wbuf_u8(w, r->kdf);
    tv_wbuf_u64(w, r->opslimit);
    tv_wbuf_u64(w, r->memlimit);
    tv_wbuf_u64(w, (uint64_t)r->created);
    tv_wbuf_put(w, r->salt, TV_SALT_LEN);
    tv_wbuf_put(w, r->key_id, TV_KEYID_LEN);
    tv_wbuf_put(w, r->nonce, TV_NONCE_LEN);
    tv_wbuf_put(w, r->wrapped, TV_WRAPPED_LEN);
}

int
tv_rec_slot_decode(const void *buf, size_t len, struct tv_rec_slot *r,
                   size_t *body_len)
{
    struct rbuf rb;

    rbuf_begin(&rb, buf, len, TV_TAG_SLOT);
    r->kind = (uint8_t)rbuf_u8(&rb);
    r->kdf = (uint8_t)rbuf_u8(&rb);
    r->opslimit = rbuf_u64(&rb);
    r->memlimit = rbuf_u64(&rb);
    r->created = (int64_t)rbuf_u64(&rb);
    rbuf_fixed(&rb, r->salt, TV_SALT_LEN);
    rbuf_fixed(&rb, r->key_id, TV_KEYID_LEN);
    rbuf_fixed(&rb, r->nonce, TV_NONCE_LEN);
    rbuf_fixed(&rb, r->wrapped, TV_WRAPPED_LEN);
    if (r->kind > TV_CRED_KEYFILE || r->kdf > TV_KDF_SENSITIVE)
        rb.bad = 1;
    /* bounded so that an altered slot cannot make unlock run for hours or
     * ask for more memory than the sensitive profile */
    if (r->kind == TV_CRED_PASSPHRASE &&
        (r->opslimit < crypto_pwhash_OPSLIMIT_MIN ||
         r->opslimit > 4 * (uint64_t)crypto_pwhash_OPSLIMIT_SENSITIVE ||
         r->memlimit < crypto_pwhash_MEMLIMIT_MIN ||
         r->memlimit > crypto_pwhash_MEMLIMIT_SENSITIVE))
        rb.bad = 1;
    return rbuf_end(&rb, body_len);
}

void
tv_rec_secret_encode(struct tv_wbuf *w, const struct tv_rec_secret *r)
{
    tv_wbuf_u8(w, TV_TAG_SECRET);
    wbuf_str(w, r->tier, 0);
    tv_wbuf_u32(w, r->version);
    tv_wbuf_u8(w, r->deleted);
    tv_wbuf_u64(w, (uint64_t)r->created);
    tv_wbuf_u64(w, (uint64_t)r->updated);
    wbuf_str(w, r->actor, 0);
    wbuf_str(w, r->note, 1);
    tv_wbuf_put(w, r->fp, TV_FP_LEN);
}

int
tv_rec_secret_decode(const void *buf, size_t len, struct tv_rec_secret *r,
                     size_t *body_len)
{
    struct rbuf rb;

    rbuf_begin(&rb, buf, len, TV_TAG_SECRET);
    rbuf_str(&rb, r->tier, TV_TIER_MAX, 0, STR_TIER);
    r->version = rbuf_u32(&rb);
    r->deleted = (uint8_t)rbuf_u8(&rb);
    r->created = (int64_t)rbuf_u64(&rb);
    r->updated = (int64_t)rbuf_u64(&rb);
    rbuf_str(&rb, r->actor, TV_ACTOR_MAX, 0, STR_TEXT);
    rbuf_str(&rb, r->note, TV_NOTE_MAX, 1, STR_TEXT);
    rbuf_fixed(&rb, r->fp, TV_FP_LEN);
    if (r->version == 0 || r->deleted > 1)
        rb.bad = 1;
    return rbuf_end(&rb, body_len);
}

void
tv_rec_version_encode(struct tv_wbuf *w, const struct tv_rec_version *r)
{
    tv_wbuf_u8(w, TV_TAG_VERSION);
    tv_wbuf_u8(w, r->op);
    tv_wbuf_u8(w, r->deleted);
    tv_wbuf_u32(w, r->source);
    tv_wbuf_u64(w, (uint64_t)r->time);
    wbuf_str(w, r->tier, 0);
    wbuf_str(w, r->actor, 0);
    wbuf_str(w, r->note, 1);
    tv_wbuf_put(w, r->fp, TV_FP_LEN);
    tv_wbuf_put(w, r->nonce, TV_NONCE_LEN);
    tv_wbuf_u32(w, r->ct_len);
    tv_wbuf_put(w, r->ct, r->ct_len);
}

int
tv_rec_version_decode(const void *buf, size_t len, struct tv_rec_version *r,
                      size_t *body_len)
{
    struct rbuf rb;

    rbuf_begin(&rb, buf, len, TV_TAG_VERSION);
    r->op = (uint8_t)rbuf_u8(&rb);
    r->deleted = (uint8_t)rbuf_u8(&rb);
    r->source = rbuf_u32(&rb);
    r->time = (int64_t)rbuf_u64(&rb);
    rbuf_str(&rb, r->tier, TV_TIER_MAX, 0, STR_TIER);
    rbuf_str(&rb, r->actor, TV_ACTOR_MAX, 0, STR_TEXT);
    rbuf_str(&rb, r->note, TV_NOTE_MAX, 1, STR_TEXT);
    rbuf_fixed(&rb, r->fp, TV_FP_LEN);
    rbuf_fixed(&rb, r->nonce, TV_NONCE_LEN);
    r->ct_len = rbuf_u32(&rb);
    r->ct = NULL;
    if (!rb.bad && r->ct_len > TV_VALUE_MAX + TV_TAG_LEN)
        rb.bad = 1;
    if (!rb.bad && r->ct_len > 0)
        r->ct = rbuf_take(&rb, r->ct_len);
    if (r->op > TV_OP_ROLLBACK || r->deleted > 1)
        rb.bad = 1;
    /* a tombstone holds no value; every other version exactly one */
    if (r->deleted != (r->op == TV_OP_RM))
        rb.bad = 1;
    if (r->deleted ? r->ct_len != 0 : r->ct_len < TV_TAG_LEN)
        rb.bad = 1;
    if ((r->op == TV_OP_ROLLBACK) != (r->source != 0))
        rb.bad = 1;
    return rbuf_end(&rb, body_len);
}

void
tv_rec_audit_encode(struct tv_wbuf *w, const struct tv_rec_audit *r)
{
    tv_wbuf_u8(w, TV_TAG_AUDIT);
    tv_wbuf_u64(w, r->seq);
    tv_wbuf_u64(w, (uint64_t)r->time);
    wbuf_str(w, r->actor, 0);
    wbuf_str(w, r->op, 0);
    wbuf_str(w, r->service, 0);
    wbuf_str(w, r->name, 0);
    tv_wbuf_u32(w, r->version);
    wbuf_str(w, r->fp, 0);
    wbuf_str(w, r->detail, 1);
}

int
tv_rec_audit_decode(const void *buf, size_t len, struct tv_rec_audit *r,
                    size_t *body_len)
{
    struct rbuf rb;

    rbuf_begin(&rb, buf, len, TV_TAG_AUDIT);
    r->seq = rbuf_u64(&rb);
    r->time = (int64_t)rbuf_u64(&rb);
    rbuf_str(&rb, r->actor, TV_ACTOR_MAX, 0, STR_TEXT);
    rbuf_str(&rb, r->op, TV_OP_MAX, 0, STR_TEXT);
    rbuf_str(&rb, r->service, TV_NAME_MAX, 0, STR_NAME);
    rbuf_str(&rb, r->name, TV_NAME_MAX, 0, STR_NAME);
    r->version = rbuf_u32(&rb);
    rbuf_str(&rb, r->fp, TV_FP_HEXLEN, 0, STR_HEX);
    rbuf_str(&rb, r->detail, TV_DETAIL_MAX, 1, STR_TEXT);
    if (r->seq == 0 || r->op[0] == '\0')
        rb.bad = 1;
    return rbuf_end(&rb, body_len);
}

void
tv_rec_state_encode(struct tv_wbuf *w, const struct tv_rec_state *r)
{
    tv_wbuf_u8(w, TV_TAG_STATE);
    tv_wbuf_put(w, r->nonce, TV_NONCE_LEN);
    tv_wbuf_u32(w, r->ct_len);
    tv_wbuf_put(w, r->ct, r->ct_len);
}

int
tv_rec_state_decode(const void *buf, size_t len, struct tv_rec_state *r,
                    size_t *body_len)
{
    struct rbuf rb;

    rbuf_begin(&rb, buf, len, TV_TAG_STATE);
    rbuf_fixed(&rb, r->nonce, TV_NONCE_LEN);
    r->ct_len = rbuf_u32(&rb);
    r->ct = NULL;
    if (!rb.bad &&
        (r->ct_len < TV_TAG_LEN || r->ct_len > TV_STATE_MAX + TV_TAG_LEN))
        rb.bad = 1;
    if (!rb.bad)
        r->ct = rbuf_take(&rb, r->ct_len);
    return rbuf_end(&rb, body_len);
}

void
tv_key_secret(struct tv_wbuf *w, const char *service, const char *name)
{
    tv_wbuf_reset(w);
    tv_wbuf_put(w, service, strlen(service));
    tv_wbuf_u8(w, 0);
    tv_wbuf_put(w, name, strlen(name));
}

void
tv_key_version(struct tv_wbuf *w, const char *service, const char *name,
               uint32_t version)
{
    tv_key_secret(w, service, name);
    tv_wbuf_u8(w, 0);
    tv_wbuf_u32(w, version);
}

/* Copies a name of n bytes at p into out when it is a valid name. */
static int
key_name(const unsigned char *p, size_t n, char out[TV_NAME_MAX + 1])
{
    if (n == 0 || n > TV_NAME_MAX || memchr(p, '\0', n) != NULL)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return tv_name_valid(out) ? 0 : -1;
}

int
tv_key_secret_decode(const void *buf, size_t len, char service[TV_NAME_MAX + 1],
                     char name[TV_NAME_MAX + 1])
{
    const unsigned char *p = buf;
    const unsigned char *sep;

    if (p == NULL || len == 0)
        return -1;
    sep = memchr(p, '\0', len);
    if (sep == NULL)
        return -1;
    if (key_name(p, (size_t)(sep - p), service) != 0)
        return -1;
    return key_name(sep + 1, len - (size_t)(sep - p) - 1, name);
}

int
tv_key_version_decode(const void *buf, size_t len,
                      char service[TV_NAME_MAX + 1], char name[TV_NAME_MAX + 1],
                      uint32_t *version)
{
    const unsigned char *p = buf;

    if (p == NULL || len < 6 || p[len - 5] != '\0')
        return -1;
    *version = tv_be32(p + len - 4);
    if (*version == 0)
        return -1;
    return tv_key_secret_decode(buf, len - 5, service, name);
}
