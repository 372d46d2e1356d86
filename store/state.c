/*
 * state.c - the agent's opaque state blobs, encrypted with the state
 * subkey under associated data that binds the vault id and the key, and
 * sealed with a record MAC like every other record (see tv_vault.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "vault_int.h"

static enum tv_status
state_key_check(const char *key, struct tv_error *err)
{
    if (key == NULL || key[0] == '\0')
        return tv_error_set(err, TV_EINPUT, "empty state key");
    if (!tv_text_valid(key, TV_STATE_KEYMAX))
        return tv_error_set(err, TV_EINPUT,
                            "state key '%.32s' is longer than %d bytes or "
                            "holds control characters",
                            key, TV_STATE_KEYMAX);
    return TV_OK;
}

static enum tv_status
state_begin(struct tv_vault *v, const char *key, MDB_txn **txn, int write,
            size_t grow, struct tv_error *err)
{
    enum tv_status st;

    *txn = NULL;
    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = state_key_check(key, err);
    if (st == TV_OK)
        st = write ? tv_txn_write(v, grow, txn, err) : tv_txn_read(v, txn, err);
    return st;
}

enum tv_status
tv_vault_state_put(struct tv_vault *v, const char *key, const void *data,
                   size_t len, struct tv_error *err)
{
    struct tv_wbuf k = { 0 }, body = { 0 };
    struct tv_rec_state r;
    unsigned char *ct = NULL;
    MDB_txn *txn = NULL;
    enum tv_status st;

    if (len > TV_STATE_MAX || (data == NULL && len > 0))
        return tv_error_set(err, TV_EINPUT,
                            "state '%.32s' is missing or larger than %d bytes",
                            key ? key : "", TV_STATE_MAX);
    st = state_begin(v, key, &txn, 1, len + TV_REC_SLACK, err);
    if (st != TV_OK)
        return st;
    ct = malloc(len + TV_TAG_LEN);
    if (ct == NULL) {
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
        goto out;
    }
    tv_state_seal(TV_KEYS(v), v->id, key, data, len, r.nonce, ct);
    r.ct = ct;
    r.ct_len = (uint32_t)(len + TV_TAG_LEN);
    tv_rec_state_encode(&body, &r);
    tv_wbuf_put(&k, key, strlen(key));
    st = tv_put_sealed(v, txn, v->state, TV_DB_STATE, &k, &body, 0, err);
    if (st != TV_OK)
        goto out;
    st = tv_txn_commit(v, txn, err);
    txn = NULL;

out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    tv_wbuf_free(&k);
    tv_wbuf_free(&body);
    free(ct);
    return st;
}

static enum tv_status
state_open(struct tv_vault *v, const char *key, const MDB_val *k,
           const MDB_val *d, struct tv_secret **data, struct tv_error *err)
{
    struct tv_secret *s = NULL;
    struct tv_rec_state r;
    enum tv_status st;
    size_t blen;

    if (tv_rec_state_decode(d->mv_data, d->mv_size, &r, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "state '%s': stored record does not parse", key);
    if (!tv_rec_check(TV_KEYS(v), TV_DB_STATE, k->mv_data, k->mv_size,
                      d->mv_data, blen))
        return tv_error_set(err, TV_EINTEGRITY,
                            "state '%s': stored record was altered", key);
    st = tv_secret_new(&s, r.ct_len - TV_TAG_LEN, err);
    if (st != TV_OK)
        return st;
    if (tv_state_open(TV_KEYS(v), v->id, key, r.nonce, r.ct, r.ct_len,
                      s->data) != 0) {
        tv_secret_free(s);
        return tv_error_set(err, TV_EINTEGRITY,
                            "state '%s': stored record was altered", key);
    }
    *data = s;
    return TV_OK;
}

enum tv_status
tv_vault_state_get(struct tv_vault *v, const char *key, struct tv_secret **data,
                   struct tv_error *err)
{
    struct tv_wbuf kb = { 0 };
    MDB_txn *txn = NULL;
    enum tv_status st;
    MDB_val k, d;
    int rc;

    if (data == NULL)
        return tv_error_set(err, TV_EINPUT, "no destination given");
    *data = NULL;
    st = state_begin(v, key, &txn, 0, 0, err);
    if (st != TV_OK)
        return st;
    tv_wbuf_put(&kb, key, strlen(key));
    k.mv_data = kb.data;
    k.mv_size = kb.len;
    rc = kb.oom ? ENOMEM : mdb_get(txn, v->state, &k, &d);
    if (rc == MDB_NOTFOUND)
        st = tv_error_set(err, TV_ENOTFOUND, "no state '%s'", key);
    else if (rc != 0)
        st = tv_mdb_error(v, rc, "read state", err);
    else
        st = state_open(v, key, &k, &d, data, err);
    mdb_txn_abort(txn);
    tv_wbuf_free(&kb);
    return st;
}

enum tv_status
tv_vault_state_del(struct tv_vault *v, const char *key, struct tv_error *err)
{
    struct tv_wbuf kb = { 0 };
    MDB_txn *txn = NULL;
    enum tv_status st;
    MDB_val k;
    int rc;

    st = state_begin(v, key, &txn, 1, 0, err);
    if (st != TV_OK)
        return st;
    tv_wbuf_put(&kb, key, strlen(key));
    k.mv_data = kb.data;
    k.mv_size = kb.len;
    rc = kb.oom ? ENOMEM : mdb_del(txn, v->state, &k, NULL);
    tv_wbuf_free(&kb);
    if (rc != 0) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return tv_error_set(err, TV_ENOTFOUND, "no state '%s'", key);
        return tv_mdb_error(v, rc, "delete state", err);
    }
    return tv_txn_commit(v, txn, err);
}
