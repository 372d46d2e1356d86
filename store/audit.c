/*
 * audit.c - the MAC-chained audit log (see tv_vault.h and docs/format.md).
 *
 * Entry n's MAC is keyed BLAKE2b over entry n-1's MAC and entry n's body
 * (the first entry chains to 32 zero bytes).  The head, in the meta
 * database under a record MAC, holds the count and the last MAC, so that a
 * removed tail is noticed as surely as an altered or removed entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "vault_int.h"

/* not const: LMDB takes keys through a plain void pointer */
static char head_key[] = TV_META_HEAD;

enum tv_status
tv_audit_head_load(struct tv_vault *v, MDB_txn *txn, struct tv_audit_head *h,
                   struct tv_error *err)
{
    MDB_val k = { sizeof(head_key) - 1, head_key }, d;
    struct tv_rec_head r;
    size_t blen;
    int rc;

    memset(h, 0, sizeof(*h));
    rc = mdb_get(txn, v->meta, &k, &d);
    if (rc == MDB_NOTFOUND)
        return tv_error_set(err, TV_EINTEGRITY,
                            "vault '%s': the audit log head is missing",
                            v->dir);
    if (rc != 0)
        return tv_mdb_error(v, rc, "read audit head", err);
    if (tv_rec_head_decode(d.mv_data, d.mv_size, &r, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s': the audit log head does not parse",
                            v->dir);
    if (!tv_rec_check(TV_KEYS(v), TV_DB_META, k.mv_data, k.mv_size, d.mv_data,
                      blen))
        return tv_error_set(err, TV_EINTEGRITY,
                            "vault '%s': the audit log head was altered",
                            v->dir);
    h->count = r.count;
    memcpy(h->last, r.last, TV_MAC_LEN);
    return TV_OK;
}

enum tv_status
tv_audit_head_store(struct tv_vault *v, MDB_txn *txn,
                    const struct tv_audit_head *h, struct tv_error *err)
{
    struct tv_wbuf key = { 0 }, body = { 0 };
    struct tv_rec_head r;
    enum tv_status st;

    r.count = h->count;
    memcpy(r.last, h->last, TV_MAC_LEN);
    tv_wbuf_put(&key, head_key, sizeof(head_key) - 1);
    tv_rec_head_encode(&body, &r);
    st = tv_put_sealed(v, txn, v->meta, TV_DB_META, &key, &body, 0, err);
    tv_wbuf_free(&key);
    tv_wbuf_free(&body);
    return st;
}

/* Copies s (NULL: empty) into out of size n, truncating. */
static void
copy_str(char *out, size_t n, const char *s)
{
    snprintf(out, n, "%s", s != NULL ? s : "");
}

enum tv_status
tv_audit_append(struct tv_vault *v, MDB_txn *txn, struct tv_audit_head *h,
                const char *op, const char *service, const char *name,
                uint32_t version, const char *fp, const char *detail,
                struct tv_error *err)
{
    struct tv_wbuf body = { 0 };
    struct tv_rec_audit e;
    unsigned char kb[8], mac[TV_MAC_LEN];
    MDB_val k = { 8, kb }, d;
    enum tv_status st = TV_OK;
    int rc;

    memset(&e, 0, sizeof(e));
    e.seq = h->count + 1;
    e.time = tv_now();
    e.version = version;
    copy_str(e.actor, sizeof(e.actor), v->actor);
    copy_str(e.op, sizeof(e.op), op);
    copy_str(e.service, sizeof(e.service), service);
    copy_str(e.name, sizeof(e.name), name);
    copy_str(e.fp, sizeof(e.fp), fp);
    copy_str(e.detail, sizeof(e.detail), detail);
    tv_rec_audit_encode(&body, &e);
    if (body.oom) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto out;
    }
    tv_audit_mac(TV_KEYS(v), h->last, body.data, body.len, mac);
    tv_wbuf_put(&body, mac, TV_MAC_LEN);
    if (body.oom) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto out;
    }
    tv_put_be64(kb, e.seq);
    d.mv_data = body.data;
    d.mv_size = body.len;
    rc = mdb_put(txn, v->audit, &k, &d, MDB_NOOVERWRITE | MDB_APPEND);
    if (rc == MDB_KEYEXIST)
        st = tv_error_set(err, TV_EINTEGRITY,
                          "vault '%s': audit entry %llu already exists; the "
                          "audit log head was rolled back",
                          v->dir, (unsigned long long)e.seq);
    else if (rc != 0)
        st = tv_mdb_error(v, rc, "append audit entry", err);
    if (st == TV_OK) {
        h->count = e.seq;
        memcpy(h->last, mac, TV_MAC_LEN);
    }

out:
    tv_wbuf_free(&body);
    return st;
}

static int
op_valid(const char *op)
{
    size_t i;

    if (op == NULL || op[0] == '\0')
        return 0;
    for (i = 0; op[i] != '\0'; i++) {
        if (i >= TV_OP_MAX || !((op[i] >= 'a' && op[i] <= 'z') ||
                                (op[i] >= '0' && op[i] <= '9') || op[i] == '-'))
            return 0;
    }
    return 1;
}

static int
fp_valid(const char *fp)
{
    size_t i;

    for (i = 0; fp[i] != '\0'; i++) {
        if (i >= TV_FP_HEXLEN ||
            !((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f')))
            return 0;
    }
    return 1;
}

/*
 * 1 for the operations the vault records with a secret's write (put,
 * generate, import, rm, rollback): log verify holds the records to them.
 */
static int
mutation_op(const char *op)
{
    static const enum tv_op ops[] = { TV_OP_PUT, TV_OP_GENERATE, TV_OP_IMPORT,
                                      TV_OP_RM, TV_OP_ROLLBACK };
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(op, tv_op_name(ops[i])) == 0)
            return 1;
    }
    return 0;
}

static enum tv_status
audit_args(const char *op, const char *service, const char *name,
           const char *fp, const char *detail, struct tv_error *err)
{
    if (!op_valid(op))
        return tv_error_set(err, TV_EINPUT,
                            "audit operation '%.*s' is not [a-z0-9-]{1,%d}",
                            TV_OP_MAX + 1, op != NULL ? op : "", TV_OP_MAX);
    if (mutation_op(op))
        return tv_error_set(err, TV_EINPUT,
                            "audit operation '%s' is recorded by the vault "
                            "itself, with the write it describes",
                            op);
    if (service != NULL && service[0] != '\0' && !tv_name_valid(service))
        return tv_error_set(err, TV_EINPUT, "invalid service name '%.*s'",
                            TV_NAME_MAX + 1, service);
    if (name != NULL && name[0] != '\0' && !tv_name_valid(name))
        return tv_error_set(err, TV_EINPUT, "invalid secret name '%.*s'",
                            TV_NAME_MAX + 1, name);
    if (fp != NULL && !fp_valid(fp))
        return tv_error_set(err, TV_EINPUT,
                            "fingerprint is not %d lowercase hex digits",
                            TV_FP_HEXLEN);
    if (detail != NULL && !tv_text_valid(detail, TV_DETAIL_MAX))
        return tv_error_set(err, TV_EINPUT,
                            "audit detail is longer than %d bytes or holds "
                            "control characters",
                            TV_DETAIL_MAX);
    return TV_OK;
}

enum tv_status
tv_vault_audit(struct tv_vault *v, const char *op, const char *service,
               const char *name, uint32_t version, const char *fp,
               const char *detail, struct tv_error *err)
{
    struct tv_audit_head head;
    MDB_txn *txn = NULL;
    enum tv_status st;

    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = audit_args(op, service, name, fp, detail, err);
    if (st == TV_OK)
        st = tv_txn_write(v, 0, &txn, err);
    if (st != TV_OK)
        return st;
    st = tv_audit_head_load(v, txn, &head, err);
    if (st == TV_OK)
        st = tv_audit_append(v, txn, &head, op, service, name, version, fp,
                             detail, err);
    if (st == TV_OK)
        st = tv_audit_head_store(v, txn, &head, err);
    if (st != TV_OK) {
        mdb_txn_abort(txn);
        return st;
    }
    return tv_txn_commit(v, txn, err);
}

static void
entry_fill(struct tv_audit_entry *out, const struct tv_rec_audit *e)
{
    memset(out, 0, sizeof(*out));
    out->seq = e->seq;
    out->time = e->time;
    out->version = e->version;
    memcpy(out->actor, e->actor, sizeof(out->actor));
    memcpy(out->op, e->op, sizeof(out->op));
    memcpy(out->service, e->service, sizeof(out->service));
    memcpy(out->name, e->name, sizeof(out->name));
    memcpy(out->fp, e->fp, sizeof(out->fp));
    memcpy(out->detail, e->detail, sizeof(out->detail));
}

/* Decodes the entry at k/d; *blen is its body length. */
static int
entry_decode(const MDB_val *k, const MDB_val *d, struct tv_rec_audit *e,
             size_t *blen)
{
    if (k->mv_size != 8 ||
        tv_rec_audit_decode(d->mv_data, d->mv_size, e, blen) != 0)
        return -1;
    return e->seq == tv_be64(k->mv_data) ? 0 : -1;
}

/*
 * The last word of the audit log on each secret, for checking the records
 * against it: an open-addressing hash table keyed by "SERVICE\0NAME",
 * filled in the one pass that verifies the chain, so that the whole check
 * is linear.  SipHash under a key drawn per verification keeps a crafted
 * set of names from degrading it.
 */
struct last_word {
    char service[TV_NAME_MAX + 1];
    char name[TV_NAME_MAX + 1];
    uint64_t seq; /* 0: free slot */
    uint32_t version;
    uint8_t deleted;
    uint8_t seen; /* a record was found for it */
    char fp[TV_FP_HEXLEN + 1];
};

struct last_words {
    struct last_word *slot;
    size_t cap; /* a power of two, or 0 */
    size_t used;
    unsigned char key[crypto_shorthash_KEYBYTES];
};

static size_t
lw_hash(const struct last_words *t, const char *service, const char *name)
{
    unsigned char in[2 * (TV_NAME_MAX + 1)], out[crypto_shorthash_BYTES];
    size_t slen = strlen(service), nlen = strlen(name);

    memcpy(in, service, slen + 1);
    memcpy(in + slen + 1, name, nlen);
    crypto_shorthash(out, in, slen + 1 + nlen, t->key);
    return (size_t)tv_be64(out);
}

/* The slot of service/name: its entry, or the free slot it would take. */
static struct last_word *
lw_find(const struct last_words *t, const char *service, const char *name)
{
    size_t i = lw_hash(t, service, name) & (t->cap - 1);

    while (t->slot[i].seq != 0 && (strcmp(t->slot[i].service, service) != 0 ||
                                   strcmp(t->slot[i].name, name) != 0))
        i = (i + 1) & (t->cap - 1);
    return &t->slot[i];
}

/* Doubles the table (starting at 64 slots); -1 when out of memory. */
static int
lw_grow(struct last_words *t)
{
    struct last_words n = *t;
    size_t i;

    n.cap = t->cap ? t->cap * 2 : 64;
    if (n.cap > SIZE_MAX / sizeof(*n.slot) / 2)
        return -1;
    n.slot = calloc(n.cap, sizeof(*n.slot));
    if (n.slot == NULL)
        return -1;
    for (i = 0; i < t->cap; i++) {
        if (t->slot[i].seq != 0)
            *lw_find(&n, t->slot[i].service, t->slot[i].name) = t->slot[i];
    }
    free(t->slot);
    *t = n;
    return 0;
}

/* Records e when it is a secret's write; later entries replace earlier. */
static int
lw_note(struct last_words *t, const struct tv_rec_audit *e)
{
    struct last_word *s;

    if (e->service[0] == '\0' || e->name[0] == '\0' || !mutation_op(e->op))
        return 0;
    if (2 * (t->used + 1) > t->cap && lw_grow(t) != 0)
        return -1;
    s = lw_find(t, e->service, e->name);
    if (s->seq == 0) {
        t->used++;
        memcpy(s->service, e->service, sizeof(s->service));
        memcpy(s->name, e->name, sizeof(s->name));
    }
    s->seq = e->seq;
    s->version = e->version;
    s->deleted = strcmp(e->op, tv_op_name(TV_OP_RM)) == 0;
    memcpy(s->fp, e->fp, sizeof(s->fp));
    return 0;
}

struct log_walk {
    tv_audit_cb cb;
    void *ctx;
    uint64_t n;                     /* entries verified so far */
    unsigned char prev[TV_MAC_LEN]; /* the MAC of entry n */
    uint64_t *bad_seq;
    struct last_words *words; /* filled while verifying, or NULL */
};

static enum tv_status
log_visit(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
          struct tv_error *err)
{
    struct log_walk *w = ctx;
    struct tv_audit_entry out;
    struct tv_rec_audit e;
    size_t blen;

    if (entry_decode(k, d, &e, &blen) != 0)
        return tv_error_set(
            err, TV_EFORMAT, "vault '%s': audit entry %llu does not parse",
            v->dir,
            k->mv_size == 8 ? (unsigned long long)tv_be64(k->mv_data) : 0ULL);
    entry_fill(&out, &e);
    return (enum tv_status)w->cb(&out, w->ctx);
}

enum tv_status
tv_vault_log(struct tv_vault *v, tv_audit_cb cb, void *ctx,
             struct tv_error *err)
{
    struct log_walk w = { 0 };

    if (v == NULL || cb == NULL)
        return tv_error_set(err, TV_EINPUT, "no vault or callback given");
    w.cb = cb;
    w.ctx = ctx;
    return tv_db_each_read(v, v->audit, NULL, log_visit, &w, "read audit log",
                           err);
}

static enum tv_status
chain_broken(struct tv_vault *v, uint64_t seq, const char *why,
             uint64_t *bad_seq, struct tv_error *err)
{
    if (bad_seq != NULL)
        *bad_seq = seq;
    return tv_error_set(err, TV_EINTEGRITY, "vault '%s': audit entry %llu %s",
                        v->dir, (unsigned long long)seq, why);
}

/* Checks one entry against the chain so far and advances it. */
static enum tv_status
chain_visit(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
            struct tv_error *err)
{
    struct log_walk *w = ctx;
    unsigned char mac[TV_MAC_LEN];
    struct tv_rec_audit e;
    size_t blen;

    if (k->mv_size != 8 || tv_be64(k->mv_data) != w->n + 1)
        return chain_broken(v, w->n + 1, "is missing", w->bad_seq, err);
    if (entry_decode(k, d, &e, &blen) != 0)
        return chain_broken(v, w->n + 1, "does not parse", w->bad_seq, err);
    tv_audit_mac(TV_KEYS(v), w->prev, d->mv_data, blen, mac);
    /* constant time: the MAC must not be guessable byte by byte */
    if (!tv_ct_equal(mac, TV_MAC_LEN, (const unsigned char *)d->mv_data + blen,
                     TV_MAC_LEN))
        return chain_broken(v, w->n + 1, "was altered", w->bad_seq, err);
    if (w->words != NULL && lw_note(w->words, &e) != 0)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    memcpy(w->prev, mac, TV_MAC_LEN);
    w->n++;
    return TV_OK;
}

/* After the walk: the head must count and end where the chain does. */
static enum tv_status
chain_end(struct tv_vault *v, const struct log_walk *w,
          const struct tv_audit_head *head, struct tv_error *err)
{
    if (w->n < head->count)
        return chain_broken(v, w->n + 1, "is missing (the log was truncated)",
                            w->bad_seq, err);
    if (w->n > head->count)
        return chain_broken(v, head->count + 1,
                            "is not counted by the recorded head", w->bad_seq,
                            err);
    /* constant time, as for every MAC */
    if (!tv_ct_equal(w->prev, TV_MAC_LEN, head->last, TV_MAC_LEN))
        return chain_broken(v, w->n, "does not match the recorded head",
                            w->bad_seq, err);
    return TV_OK;
}

/* The message of a record that disagrees with the log (lw NULL: silent). */
static enum tv_status
disagree(const char *service, const char *name, const char *what,
         const struct last_word *lw, struct tv_error *err)
{
    if (lw == NULL)
        return tv_error_set(err, TV_EINTEGRITY,
                            "'%s/%s': %s but the audit log records no write "
                            "of it",
                            service, name, what);
    return tv_error_set(err, TV_EINTEGRITY,
                        "'%s/%s': %s but the audit log has version %u%s "
                        "(entry %llu)",
                        service, name, what, (unsigned)lw->version,
                        lw->deleted ? " (deleted)" : "",
                        (unsigned long long)lw->seq);
}

/* Holds one secret's record to the audit log's last entry naming it. */
static enum tv_status
record_agrees(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
              struct tv_error *err)
{
    char service[TV_NAME_MAX + 1], name[TV_NAME_MAX + 1];
    char what[64], fp[TV_FP_HEXLEN + 1] = "";
    struct last_words *t = ctx;
    struct tv_rec_secret r;
    struct last_word *lw;
    enum tv_status st;

    st = tv_secret_entry_decode(v, k, d, service, name, &r, err);
    if (st != TV_OK)
        return st;
    if (!r.deleted)
        tv_fp_hex(r.fp, fp);
    snprintf(what, sizeof(what), "record has version %u%s", (unsigned)r.version,
             r.deleted ? " (deleted)" : "");
    lw = t->cap != 0 ? lw_find(t, service, name) : NULL;
    if (lw == NULL || lw->seq == 0)
        return disagree(service, name, what, NULL, err);
    lw->seen = 1;
    if (r.version != lw->version || r.deleted != lw->deleted)
        return disagree(service, name, what, lw, err);
    /* fingerprints are public (shown by ls); no need for constant time */
    if (strcmp(fp, lw->fp) != 0) {
        snprintf(what, sizeof(what), "record has fingerprint %s", fp);
        return disagree(service, name, what, lw, err);
    }
    return TV_OK;
}

/*
 * Every secret the log names must still have a record; the one whose last
 * entry is oldest is named, so that the message does not depend on the
 * table's order.
 */
static enum tv_status
records_missing(const struct last_words *t, struct tv_error *err)
{
    const struct last_word *first = NULL;
    size_t i;

    for (i = 0; i < t->cap; i++) {
        const struct last_word *s = &t->slot[i];

        if (s->seq != 0 && !s->seen && (first == NULL || s->seq < first->seq))
            first = s;
    }
    if (first == NULL)
        return TV_OK;
    return disagree(first->service, first->name, "record missing", first, err);
}

enum tv_status
tv_vault_log_verify(struct tv_vault *v, uint64_t *count, uint64_t *bad_seq,
                    struct tv_error *err)
{
    struct last_words words = { 0 };
    struct log_walk w = { 0 };
    struct tv_audit_head head;
    MDB_txn *txn = NULL;
    enum tv_status st;

    if (bad_seq != NULL)
        *bad_seq = 0;
    w.bad_seq = bad_seq;
    w.words = &words;
    randombytes_buf(words.key, sizeof(words.key));
    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = tv_txn_read(v, &txn, err);
    if (st != TV_OK)
        return st;
    st = tv_audit_head_load(v, txn, &head, err);
    if (st == TV_OK)
        st = tv_db_each(v, txn, v->audit, NULL, chain_visit, &w,
                        "read audit log", err);
    if (st == TV_OK)
        st = chain_end(v, &w, &head, err);
    /* the same read transaction: records and log are one snapshot */
    if (st == TV_OK)
        st = tv_db_each(v, txn, v->secrets, NULL, record_agrees, &words,
                        "read secrets", err);
    if (st == TV_OK)
        st = records_missing(&words, err);
    if (st == TV_OK && count != NULL)
        *count = w.n;
    mdb_txn_abort(txn);
    free(words.slot);
    return st;
}
