/*
 * audit.c - the MAC-chained audit log (see tv_vault.h and docs/format.md).
 *
 * Entry n's MAC is keyed BLAKE2b over entry n-1's MAC and entry n's body
 * (the first entry chains to 32 zero bytes).  The head, in the meta
 * database under a record MAC, holds the count and the last MAC, so that a
 * removed tail is noticed as surely as an altered or removed entry.
 */
#include <stdio.h>
#include <string.h>

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

static enum tv_status
audit_args(const char *op, const char *service, const char *name,
           const char *fp, const char *detail, struct tv_error *err)
{
    if (!op_valid(op))
        return tv_error_set(err, TV_EINPUT,
                            "audit operation '%.*s' is not [a-z0-9-]{1,%d}",
                            TV_OP_MAX + 1, op != NULL ? op : "", TV_OP_MAX);
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

struct log_walk {
    tv_audit_cb cb;
    void *ctx;
    uint64_t n;                     /* entries verified so far */
    unsigned char prev[TV_MAC_LEN]; /* the MAC of entry n */
    uint64_t *bad_seq;
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

enum tv_status
tv_vault_log_verify(struct tv_vault *v, uint64_t *count, uint64_t *bad_seq,
                    struct tv_error *err)
{
    struct log_walk w = { 0 };
    struct tv_audit_head head;
    MDB_txn *txn = NULL;
    enum tv_status st;

    if (bad_seq != NULL)
        *bad_seq = 0;
    w.bad_seq = bad_seq;
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
    if (st == TV_OK && count != NULL)
        *count = w.n;
    mdb_txn_abort(txn);
    return st;
}
