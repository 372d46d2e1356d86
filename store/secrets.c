/*
 * secrets.c - writing, reading and listing secrets and their versions (see
 * tv_vault.h).  A secret's record (in "secrets") says which version is
 * current; every version (in "versions") holds its own metadata, keyed
 * fingerprint and ciphertext.  Listing reads records only and decrypts
 * nothing.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "vault_int.h"

/* Everything a write needs besides the transaction. */
struct wctx {
    struct tv_vault *v;
    MDB_txn *txn;
    struct tv_audit_head head;
    struct tv_wbuf skey, vkey, body;
    unsigned char *ct; /* ciphertext scratch (not secret) */
};

static void
wctx_free(struct wctx *w)
{
    if (w->txn != NULL)
        mdb_txn_abort(w->txn);
    w->txn = NULL;
    tv_wbuf_free(&w->skey);
    tv_wbuf_free(&w->vkey);
    tv_wbuf_free(&w->body);
    free(w->ct);
    w->ct = NULL;
}

/* Starts a write of up to grow new bytes. */
static enum tv_status
wctx_begin(struct wctx *w, struct tv_vault *v, size_t grow,
           struct tv_error *err)
{
    enum tv_status st;

    memset(w, 0, sizeof(*w));
    w->v = v;
    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = tv_txn_write(v, grow, &w->txn, err);
    if (st == TV_OK)
        st = tv_audit_head_load(v, w->txn, &w->head, err);
    return st;
}

static enum tv_status
wctx_commit(struct wctx *w, struct tv_error *err)
{
    enum tv_status st;

    st = tv_audit_head_store(w->v, w->txn, &w->head, err);
    if (st != TV_OK)
        return st;
    st = tv_txn_commit(w->v, w->txn, err);
    w->txn = NULL;
    return st;
}

static enum tv_status
check_names(const char *service, const char *name, struct tv_error *err)
{
    if (!tv_name_valid(service))
        return tv_error_set(err, TV_EINPUT,
                            "invalid service name '%.*s': use 1 to %d of "
                            "[A-Za-z0-9_.-]",
                            TV_NAME_MAX + 1, service ? service : "",
                            TV_NAME_MAX);
    if (!tv_name_valid(name))
        return tv_error_set(err, TV_EINPUT,
                            "invalid secret name '%.*s': use 1 to %d of "
                            "[A-Za-z0-9_.-]",
                            TV_NAME_MAX + 1, name ? name : "", TV_NAME_MAX);
    return TV_OK;
}

/*
 * Reads and checks the record of service/name (key in skey).  *found is 0
 * and TV_OK returned when there is none.
 */
static enum tv_status
record_load(struct tv_vault *v, MDB_txn *txn, const struct tv_wbuf *skey,
            const char *service, const char *name, struct tv_rec_secret *r,
            int *found, struct tv_error *err)
{
    MDB_val k = { skey->len, skey->data }, d;
    size_t blen;
    int rc;

    *found = 0;
    rc = mdb_get(txn, v->secrets, &k, &d);
    if (rc == MDB_NOTFOUND)
        return TV_OK;
    if (rc != 0)
        return tv_mdb_error(v, rc, "read secret", err);
    if (tv_rec_secret_decode(d.mv_data, d.mv_size, r, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "'%s/%s': stored record does not parse", service,
                            name);
    if (!tv_rec_check(TV_KEYS(v), TV_DB_SECRETS, k.mv_data, k.mv_size,
                      d.mv_data, blen))
        return tv_error_set(err, TV_EINTEGRITY,
                            "'%s/%s': stored record was altered", service,
                            name);
    *found = 1;
    return TV_OK;
}

/* Reads and checks version `version` (key in vkey); pointers stay valid
 * for the transaction. */
static enum tv_status
version_load(struct tv_vault *v, MDB_txn *txn, const struct tv_wbuf *vkey,
             const char *service, const char *name, uint32_t version,
             struct tv_rec_version *r, struct tv_error *err)
{
    MDB_val k = { vkey->len, vkey->data }, d;
    size_t blen;
    int rc;

    rc = mdb_get(txn, v->versions, &k, &d);
    if (rc == MDB_NOTFOUND)
        return tv_error_set(err, TV_EINTEGRITY,
                            "'%s/%s' version %u: stored record is missing",
                            service, name, (unsigned)version);
    if (rc != 0)
        return tv_mdb_error(v, rc, "read version", err);
    if (tv_rec_version_decode(d.mv_data, d.mv_size, r, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "'%s/%s' version %u: stored record does not parse",
                            service, name, (unsigned)version);
    if (!tv_rec_check(TV_KEYS(v), TV_DB_VERSIONS, k.mv_data, k.mv_size,
                      d.mv_data, blen))
        return tv_error_set(err, TV_EINTEGRITY,
                            "'%s/%s' version %u: stored record was altered",
                            service, name, (unsigned)version);
    return TV_OK;
}

/* One new version to write. */
struct newver {
    const char *service;
    const char *name;
    const char *tier; /* NULL: keep the record's */
    const char *note; /* NULL: empty */
    enum tv_op op;
    uint32_t source;
    const unsigned char *value; /* NULL for a tombstone */
    size_t len;
};

static void
version_fill(struct tv_rec_version *rv, const struct newver *nv,
             const struct tv_rec_secret *rec, const char *actor)
{
    memset(rv, 0, sizeof(*rv));
    rv->op = (uint8_t)nv->op;
    rv->deleted = nv->op == TV_OP_RM;
    rv->source = nv->source;
    rv->time = rec->updated;
    memcpy(rv->tier, rec->tier, sizeof(rv->tier));
    snprintf(rv->actor, sizeof(rv->actor), "%s", actor);
    memcpy(rv->note, rec->note, sizeof(rv->note));
    memcpy(rv->fp, rec->fp, TV_FP_LEN);
}

/* The record after writing nv over rec (found says rec exists). */
static void
record_next(struct tv_rec_secret *rec, int found, const struct newver *nv,
            const struct tv_keys *keys, const char *actor, int64_t now)
{
    if (!found) {
        memset(rec, 0, sizeof(*rec));
        rec->created = now;
    }
    rec->version++;
    rec->updated = now;
    rec->deleted = nv->value == NULL;
    if (nv->tier != NULL)
        snprintf(rec->tier, sizeof(rec->tier), "%s", nv->tier);
    snprintf(rec->actor, sizeof(rec->actor), "%s", actor);
    snprintf(rec->note, sizeof(rec->note), "%s", nv->note ? nv->note : "");
    memset(rec->fp, 0, TV_FP_LEN);
    if (nv->value != NULL)
        tv_fp_raw(keys, nv->value, nv->len, rec->fp);
}

static enum tv_status
store_version(struct wctx *w, const struct newver *nv,
              const struct tv_rec_secret *rec, struct tv_error *err)
{
    struct tv_vault *v = w->v;
    struct tv_rec_version rv;
    enum tv_status st;

    version_fill(&rv, nv, rec, v->actor);
    if (nv->value != NULL) {
        tv_value_seal(TV_KEYS(v), v->id, nv->service, nv->name, rec->version,
                      nv->value, nv->len, rv.nonce, w->ct);
        rv.ct = w->ct;
        rv.ct_len = (uint32_t)(nv->len + TV_TAG_LEN);
    }
    tv_key_version(&w->vkey, nv->service, nv->name, rec->version);
    tv_wbuf_reset(&w->body);
    tv_rec_version_encode(&w->body, &rv);
    st = tv_put_sealed(v, w->txn, v->versions, TV_DB_VERSIONS, &w->vkey,
                       &w->body, MDB_NOOVERWRITE, err);
    if (st == TV_EEXIST)
        st = tv_error_set(err, TV_EINTEGRITY,
                          "'%s/%s' version %u: already stored; the record "
                          "was rolled back",
                          nv->service, nv->name, (unsigned)rec->version);
    return st;
}

/* Writes nv as the next version of its secret; *version gets its number. */
static enum tv_status
write_version(struct wctx *w, const struct newver *nv, uint32_t *version,
              struct tv_error *err)
{
    struct tv_vault *v = w->v;
    struct tv_rec_secret rec;
    char fp[TV_FP_HEXLEN + 1] = "";
    char detail[TV_DETAIL_MAX + 1];
    enum tv_status st;
    int found;

    tv_key_secret(&w->skey, nv->service, nv->name);
    st = record_load(v, w->txn, &w->skey, nv->service, nv->name, &rec, &found,
                     err);
    if (st != TV_OK)
        return st;
    if (found && rec.version == UINT32_MAX)
        return tv_error_set(err, TV_EFULL, "'%s/%s' has no version number left",
                            nv->service, nv->name);
    record_next(&rec, found, nv, TV_KEYS(v), v->actor, tv_now());
    st = store_version(w, nv, &rec, err);
    if (st != TV_OK)
        return st;
    tv_wbuf_reset(&w->body);
    tv_rec_secret_encode(&w->body, &rec);
    st = tv_put_sealed(v, w->txn, v->secrets, TV_DB_SECRETS, &w->skey, &w->body,
                       0, err);
    if (st != TV_OK)
        return st;
    if (nv->value != NULL)
        tv_fp_hex(rec.fp, fp);
    if (nv->op == TV_OP_ROLLBACK)
        snprintf(detail, sizeof(detail), "tier %s, from version %u", rec.tier,
                 (unsigned)nv->source);
    else
        snprintf(detail, sizeof(detail), "tier %s", rec.tier);
    st = tv_audit_append(v, w->txn, &w->head, tv_op_name(nv->op), nv->service,
                         nv->name, rec.version, fp, detail, err);
    if (st == TV_OK && version != NULL)
        *version = rec.version;
    return st;
}

static enum tv_status
put_item_check(const struct tv_put *p, size_t i, struct tv_error *err)
{
    enum tv_status st;

    st = check_names(p->service, p->name, err);
    if (st != TV_OK)
        return tv_error_prefix(err, "item %zu", i + 1);
    if (!tv_tier_valid(p->tier))
        return tv_error_set(err, TV_EINPUT,
                            "'%s/%s': invalid tier '%.*s': use "
                            "[a-z][a-z0-9_-]{0,%d}",
                            p->service, p->name, TV_TIER_MAX + 1,
                            p->tier ? p->tier : "", TV_TIER_MAX - 1);
    if (p->value == NULL || p->value->data == NULL)
        return tv_error_set(err, TV_EINPUT, "'%s/%s': no value given",
                            p->service, p->name);
    if (p->value->len > TV_VALUE_MAX)
        return tv_error_set(err, TV_EINPUT,
                            "'%s/%s': value is %zu bytes, at most %d allowed",
                            p->service, p->name, p->value->len, TV_VALUE_MAX);
    if (p->note != NULL && !tv_text_valid(p->note, TV_NOTE_MAX))
        return tv_error_set(err, TV_EINPUT,
                            "'%s/%s': note is longer than %d bytes or holds "
                            "control characters",
                            p->service, p->name, TV_NOTE_MAX);
    if (p->op != TV_OP_PUT && p->op != TV_OP_GENERATE && p->op != TV_OP_IMPORT)
        return tv_error_set(err, TV_EINPUT,
                            "'%s/%s': operation must be put, generate or "
                            "import",
                            p->service, p->name);
    return TV_OK;
}

static int
item_cmp(const void *a, const void *b)
{
    const struct tv_put *x = *(const struct tv_put *const *)a;
    const struct tv_put *y = *(const struct tv_put *const *)b;
    int c = strcmp(x->service, y->service);

    if (c == 0)
        c = strcmp(x->name, y->name);
    /* equal keys in item order, so that duplicates are named in order */
    return c != 0 ? c : (x > y) - (x < y);
}

/*
 * The order to write items in: sorted by key, which LMDB inserts fastest
 * and which makes duplicates adjacent.  The caller frees *order.
 */
static enum tv_status
put_order(const struct tv_put *items, size_t n, const struct tv_put ***order,
          struct tv_error *err)
{
    const struct tv_put **o;
    size_t i;

    o = malloc(n * sizeof(*o));
    if (o == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (i = 0; i < n; i++)
        o[i] = &items[i];
    qsort(o, n, sizeof(*o), item_cmp);
    for (i = 1; i < n; i++) {
        const struct tv_put *a = o[i - 1], *b = o[i];

        if (strcmp(a->service, b->service) == 0 &&
            strcmp(a->name, b->name) == 0) {
            free(o);
            return tv_error_set(err, TV_EINPUT,
                                "'%s/%s' is given twice (items %zu and %zu)",
                                a->service, a->name, (size_t)(a - items) + 1,
                                (size_t)(b - items) + 1);
        }
    }
    *order = o;
    return TV_OK;
}

enum tv_status
tv_vault_put(struct tv_vault *v, const struct tv_put *items, size_t n,
             uint32_t *versions, struct tv_error *err)
{
    struct wctx w;
    const struct tv_put **order = NULL;
    size_t i, grow = 0;
    enum tv_status st;

    if (v == NULL || (items == NULL && n > 0))
        return tv_error_set(err, TV_EINPUT, "no vault or items given");
    for (i = 0; i < n; i++) {
        st = put_item_check(&items[i], i, err);
        if (st != TV_OK)
            return st;
        /* checked above: each value is at most TV_VALUE_MAX bytes */
        if (grow < SIZE_MAX / 2)
            grow += items[i].value->len + TV_TAG_LEN + TV_REC_SLACK;
    }
    if (n == 0)
        return TV_OK;
    st = put_order(items, n, &order, err);
    if (st != TV_OK)
        return st;
    st = wctx_begin(&w, v, grow, err);
    if (st == TV_OK) {
        w.ct = malloc(TV_VALUE_MAX + TV_TAG_LEN);
        if (w.ct == NULL)
            st = tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    for (i = 0; i < n && st == TV_OK; i++) {
        const struct tv_put *p = order[i];
        struct newver nv = { .service = p->service,
                             .name = p->name,
                             .tier = p->tier,
                             .note = p->note,
                             .op = p->op,
                             .value = p->value->data,
                             .len = p->value->len };

        st =
            write_version(&w, &nv, versions ? &versions[p - items] : NULL, err);
    }
    if (st == TV_OK)
        st = wctx_commit(&w, err);
    wctx_free(&w);
    free(order);
    return st;
}

static void
version_info_fill(struct tv_version_info *out, uint32_t version,
                  const struct tv_rec_version *r)
{
    memset(out, 0, sizeof(*out));
    out->version = version;
    out->op = (enum tv_op)r->op;
    out->deleted = r->deleted;
    out->source = r->source;
    out->time = r->time;
    memcpy(out->tier, r->tier, sizeof(out->tier));
    memcpy(out->actor, r->actor, sizeof(out->actor));
    memcpy(out->note, r->note, sizeof(out->note));
    if (!r->deleted)
        tv_fp_hex(r->fp, out->fp);
}

static void
record_info_fill(struct tv_record_info *out, const char *service,
                 const char *name, const struct tv_rec_secret *r)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->service, sizeof(out->service), "%s", service);
    snprintf(out->name, sizeof(out->name), "%s", name);
    memcpy(out->tier, r->tier, sizeof(out->tier));
    out->version = r->version;
    out->deleted = r->deleted;
    out->created = r->created;
    out->updated = r->updated;
    memcpy(out->actor, r->actor, sizeof(out->actor));
    memcpy(out->note, r->note, sizeof(out->note));
    if (!r->deleted)
        tv_fp_hex(r->fp, out->fp);
}

/* Decrypts r (version of service/name) into a new guarded *value. */
static enum tv_status
version_decrypt(struct tv_vault *v, const char *service, const char *name,
                uint32_t version, const struct tv_rec_version *r,
                struct tv_secret **value, struct tv_error *err)
{
    unsigned char fp[TV_FP_LEN];
    struct tv_secret *s = NULL;
    enum tv_status st;

    st = tv_secret_new(&s, r->ct_len - TV_TAG_LEN, err);
    if (st != TV_OK)
        return st;
    if (tv_value_open(TV_KEYS(v), v->id, service, name, version, r->nonce,
                      r->ct, r->ct_len, s->data) != 0)
        goto altered;
    tv_fp_raw(TV_KEYS(v), s->data, s->len, fp);
    /* constant time: the fingerprint is keyed and must stay unguessable */
    if (!tv_ct_equal(fp, TV_FP_LEN, r->fp, TV_FP_LEN))
        goto altered;
    *value = s;
    return TV_OK;

altered:
    tv_secret_free(s);
    return tv_error_set(err, TV_EINTEGRITY,
                        "'%s/%s' version %u: stored record was altered",
                        service, name, (unsigned)version);
}

/* Resolves the version to read: 0 is the current one. */
static enum tv_status
pick_version(const char *service, const char *name,
             const struct tv_rec_secret *rec, uint32_t *version,
             struct tv_error *err)
{
    if (*version == 0) {
        if (rec->deleted)
            return tv_error_set(err, TV_ENOTFOUND,
                                "'%s/%s' was deleted (version %u)", service,
                                name, (unsigned)rec->version);
        *version = rec->version;
    }
    if (*version > rec->version)
        return tv_error_set(err, TV_ENOTFOUND,
                            "'%s/%s' has no version %u (latest is %u)", service,
                            name, (unsigned)*version, (unsigned)rec->version);
    return TV_OK;
}

/* Loads the record and version `*version` of service/name in txn. */
static enum tv_status
load_pair(struct tv_vault *v, MDB_txn *txn, const char *service,
          const char *name, uint32_t *version, struct tv_rec_secret *rec,
          struct tv_rec_version *rv, struct tv_error *err)
{
    struct tv_wbuf key = { 0 };
    enum tv_status st;
    int found;

    tv_key_secret(&key, service, name);
    st = key.oom ? tv_error_set(err, TV_ENOMEM, "out of memory") : TV_OK;
    if (st == TV_OK)
        st = record_load(v, txn, &key, service, name, rec, &found, err);
    if (st == TV_OK && !found)
        st =
            tv_error_set(err, TV_ENOTFOUND, "no secret '%s/%s'", service, name);
    if (st == TV_OK)
        st = pick_version(service, name, rec, version, err);
    if (st == TV_OK) {
        tv_key_version(&key, service, name, *version);
        st = version_load(v, txn, &key, service, name, *version, rv, err);
    }
    if (st == TV_OK && rv->deleted)
        st = tv_error_set(err, TV_ENOTFOUND, "'%s/%s' version %u was deleted",
                          service, name, (unsigned)*version);
    tv_wbuf_free(&key);
    return st;
}

enum tv_status
tv_vault_get(struct tv_vault *v, const char *service, const char *name,
             uint32_t version, struct tv_secret **value,
             struct tv_version_info *info, struct tv_error *err)
{
    struct tv_rec_secret rec;
    struct tv_rec_version rv;
    MDB_txn *txn = NULL;
    enum tv_status st;

    if (value != NULL)
        *value = NULL;
    if (value == NULL)
        return tv_error_set(err, TV_EINPUT, "no value destination given");
    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = check_names(service, name, err);
    if (st == TV_OK)
        st = tv_txn_read(v, &txn, err);
    if (st != TV_OK)
        return st;
    st = load_pair(v, txn, service, name, &version, &rec, &rv, err);
    if (st == TV_OK)
        st = version_decrypt(v, service, name, version, &rv, value, err);
    if (st == TV_OK && info != NULL)
        version_info_fill(info, version, &rv);
    mdb_txn_abort(txn);
    return st;
}

struct list_walk {
    const char *tier;
    int include_deleted;
    tv_record_cb cb;
    void *ctx;
};

enum tv_status
tv_secret_entry_decode(struct tv_vault *v, const MDB_val *k, const MDB_val *d,
                       char service[TV_NAME_MAX + 1],
                       char name[TV_NAME_MAX + 1], struct tv_rec_secret *rec,
                       struct tv_error *err)
{
    size_t blen;

    if (tv_key_secret_decode(k->mv_data, k->mv_size, service, name) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s': a secret's key does not parse",
                            v->dir);
    if (tv_rec_secret_decode(d->mv_data, d->mv_size, rec, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "'%s/%s': stored record does not parse", service,
                            name);
    if (!tv_rec_check(TV_KEYS(v), TV_DB_SECRETS, k->mv_data, k->mv_size,
                      d->mv_data, blen))
        return tv_error_set(err, TV_EINTEGRITY,
                            "'%s/%s': stored record was altered", service,
                            name);
    return TV_OK;
}

/* Checks one listed record and passes it to cb when it matches. */
static enum tv_status
list_one(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
         struct tv_error *err)
{
    char service[TV_NAME_MAX + 1], name[TV_NAME_MAX + 1];
    const struct list_walk *w = ctx;
    struct tv_record_info info;
    struct tv_rec_secret rec;
    enum tv_status st;

    st = tv_secret_entry_decode(v, k, d, service, name, &rec, err);
    if (st != TV_OK)
        return st;
    if ((w->tier != NULL && strcmp(w->tier, rec.tier) != 0) ||
        (rec.deleted && !w->include_deleted))
        return TV_OK;
    record_info_fill(&info, service, name, &rec);
    return (enum tv_status)w->cb(&info, w->ctx);
}

enum tv_status
tv_vault_list(struct tv_vault *v, const char *service, const char *tier,
              int include_deleted, tv_record_cb cb, void *ctx,
              struct tv_error *err)
{
    struct list_walk w = { tier, include_deleted, cb, ctx };
    struct tv_wbuf prefix = { 0 };
    enum tv_status st;

    if (cb == NULL)
        return tv_error_set(err, TV_EINPUT, "no callback given");
    st = tv_need_unlocked(v, err);
    if (st != TV_OK)
        return st;
    if (service != NULL && !tv_name_valid(service))
        return tv_error_set(err, TV_EINPUT, "invalid service name '%.*s'",
                            TV_NAME_MAX + 1, service);
    if (tier != NULL && !tv_tier_valid(tier))
        return tv_error_set(err, TV_EINPUT, "invalid tier '%.*s'",
                            TV_TIER_MAX + 1, tier);
    if (service != NULL) {
        tv_wbuf_put(&prefix, service, strlen(service));
        tv_wbuf_u8(&prefix, 0);
    }
    st = tv_db_each_read(v, v->secrets, service != NULL ? &prefix : NULL,
                         list_one, &w, "list secrets", err);
    tv_wbuf_free(&prefix);
    return st;
}

struct history_walk {
    const char *service;
    const char *name;
    tv_version_cb cb;
    void *ctx;
};

/* Checks one version entry of the history of service/name. */
static enum tv_status
history_one(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
            struct tv_error *err)
{
    char s[TV_NAME_MAX + 1], n[TV_NAME_MAX + 1];
    const struct history_walk *w = ctx;
    struct tv_version_info info;
    struct tv_rec_version r;
    uint32_t version;
    size_t blen;

    if (tv_key_version_decode(k->mv_data, k->mv_size, s, n, &version) != 0 ||
        strcmp(s, w->service) != 0 || strcmp(n, w->name) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "'%s/%s': a version key does not parse", w->service,
                            w->name);
    if (tv_rec_version_decode(d->mv_data, d->mv_size, &r, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "'%s/%s' version %u: stored record does not parse",
                            w->service, w->name, (unsigned)version);
    if (!tv_rec_check(TV_KEYS(v), TV_DB_VERSIONS, k->mv_data, k->mv_size,
                      d->mv_data, blen))
        return tv_error_set(err, TV_EINTEGRITY,
                            "'%s/%s' version %u: stored record was altered",
                            w->service, w->name, (unsigned)version);
    version_info_fill(&info, version, &r);
    return (enum tv_status)w->cb(&info, w->ctx);
}

/*
 * Opens a read transaction and loads the record of service/name (its key
 * left in key): TV_ENOTFOUND when there is none.  On success the caller
 * aborts *txn.
 */
static enum tv_status
read_record(struct tv_vault *v, const char *service, const char *name,
            MDB_txn **txn, struct tv_wbuf *key, struct tv_rec_secret *rec,
            struct tv_error *err)
{
    enum tv_status st;
    int found = 0;

    *txn = NULL;
    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = check_names(service, name, err);
    if (st == TV_OK)
        st = tv_txn_read(v, txn, err);
    if (st != TV_OK)
        return st;
    tv_key_secret(key, service, name);
    st = record_load(v, *txn, key, service, name, rec, &found, err);
    if (st == TV_OK && !found)
        st =
            tv_error_set(err, TV_ENOTFOUND, "no secret '%s/%s'", service, name);
    if (st != TV_OK) {
        mdb_txn_abort(*txn);
        *txn = NULL;
    }
    return st;
}

enum tv_status
tv_vault_stat(struct tv_vault *v, const char *service, const char *name,
              struct tv_record_info *out, struct tv_error *err)
{
    struct tv_wbuf key = { 0 };
    struct tv_rec_secret rec;
    MDB_txn *txn = NULL;
    enum tv_status st;

    if (out == NULL)
        return tv_error_set(err, TV_EINPUT, "no destination given");
    st = read_record(v, service, name, &txn, &key, &rec, err);
    if (st == TV_OK) {
        record_info_fill(out, service, name, &rec);
        mdb_txn_abort(txn);
    }
    tv_wbuf_free(&key);
    return st;
}

enum tv_status
tv_vault_history(struct tv_vault *v, const char *service, const char *name,
                 tv_version_cb cb, void *ctx, struct tv_error *err)
{
    struct history_walk w = { service, name, cb, ctx };
    struct tv_wbuf key = { 0 };
    struct tv_rec_secret rec;
    MDB_txn *txn = NULL;
    enum tv_status st;

    if (cb == NULL)
        return tv_error_set(err, TV_EINPUT, "no callback given");
    st = read_record(v, service, name, &txn, &key, &rec, err);
    if (st != TV_OK)
        goto out;
    /* "svc\0name\0" prefixes exactly this secret's versions */
    tv_wbuf_u8(&key, 0);
    st = tv_db_each(v, txn, v->versions, &key, history_one, &w, "read history",
                    err);
    mdb_txn_abort(txn);

out:
    tv_wbuf_free(&key);
    return st;
}

enum tv_status
tv_vault_rm(struct tv_vault *v, const char *service, const char *name,
            uint32_t *version, struct tv_error *err)
{
    struct tv_rec_secret rec;
    struct newver nv = { .service = service, .name = name, .op = TV_OP_RM };
    enum tv_status st;
    struct wctx w;
    int found = 0;

    st = check_names(service, name, err);
    if (st != TV_OK)
        return st;
    st = wctx_begin(&w, v, TV_REC_SLACK, err);
    if (st == TV_OK) {
        tv_key_secret(&w.skey, service, name);
        st = record_load(v, w.txn, &w.skey, service, name, &rec, &found, err);
    }
    if (st == TV_OK && !found)
        st =
            tv_error_set(err, TV_ENOTFOUND, "no secret '%s/%s'", service, name);
    if (st == TV_OK && rec.deleted)
        st = tv_error_set(err, TV_ENOTFOUND, "'%s/%s' is already deleted",
                          service, name);
    if (st == TV_OK)
        st = write_version(&w, &nv, version, err);
    if (st == TV_OK)
        st = wctx_commit(&w, err);
    wctx_free(&w);
    return st;
}

static enum tv_status
rollback_txn(struct wctx *w, const char *service, const char *name,
             uint32_t version, uint32_t *new_version, struct tv_error *err)
{
    struct tv_secret *old = NULL;
    struct tv_rec_secret rec;
    struct tv_rec_version rv;
    char note[TV_NOTE_MAX + 1];
    struct newver nv = { .service = service,
                         .name = name,
                         .note = note,
                         .op = TV_OP_ROLLBACK,
                         .source = version };
    enum tv_status st;

    if (version == 0)
        return tv_error_set(err, TV_ENOTFOUND,
                            "'%s/%s' has no version 0; versions start at 1",
                            service, name);
    st = load_pair(w->v, w->txn, service, name, &version, &rec, &rv, err);
    if (st == TV_OK)
        st = version_decrypt(w->v, service, name, version, &rv, &old, err);
    if (st != TV_OK)
        return st;
    snprintf(note, sizeof(note), "rollback to version %u", (unsigned)version);
    nv.value = old->data;
    nv.len = old->len;
    w->ct = malloc(old->len + TV_TAG_LEN);
    if (w->ct == NULL)
        st = tv_error_set(err, TV_ENOMEM, "out of memory");
    if (st == TV_OK)
        st = write_version(w, &nv, new_version, err);
    tv_secret_free(old);
    return st;
}

enum tv_status
tv_vault_rollback(struct tv_vault *v, const char *service, const char *name,
                  uint32_t version, uint32_t *new_version, struct tv_error *err)
{
    enum tv_status st;
    struct wctx w;

    st = check_names(service, name, err);
    if (st != TV_OK)
        return st;
    st = wctx_begin(&w, v, TV_VALUE_MAX + TV_TAG_LEN + TV_REC_SLACK, err);
    if (st == TV_OK)
        st = rollback_txn(&w, service, name, version, new_version, err);
    if (st == TV_OK)
        st = wctx_commit(&w, err);
    wctx_free(&w);
    return st;
}

enum tv_status
tv_vault_fingerprint(struct tv_vault *v, const struct tv_secret *value,
                     char out[TV_FP_HEXLEN + 1], struct tv_error *err)
{
    unsigned char fp[TV_FP_LEN];
    enum tv_status st;

    out[0] = '\0';
    st = tv_need_unlocked(v, err);
    if (st != TV_OK)
        return st;
    if (value == NULL || (value->data == NULL && value->len > 0))
        return tv_error_set(err, TV_EINPUT, "no value given");
    tv_fp_raw(TV_KEYS(v), value->data, value->len, fp);
    tv_fp_hex(fp, out);
    return TV_OK;
}
