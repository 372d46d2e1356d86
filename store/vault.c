/*
 * vault.c - creating, opening and unlocking a vault, the LMDB environment
 * and transaction helpers (see tv_vault.h and vault_int.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sodium.h>

#include "vault_int.h"

/*
 * LMDB reports a short write as EIO; on a file system with (almost) no
 * space left that is a full disk, and is said so.
 */
static int
fs_full(const char *dir)
{
    struct statvfs sv;

    if (dir == NULL || statvfs(dir, &sv) != 0)
        return 0;
    return (unsigned long long)sv.f_bavail * sv.f_frsize < 256 * 1024;
}

enum tv_status
tv_mdb_error(struct tv_vault *v, int rc, const char *what, struct tv_error *err)
{
    const char *dir = v != NULL && v->dir != NULL ? v->dir : "?";

    if (rc == EIO && fs_full(v != NULL ? v->dir : NULL))
        rc = ENOSPC;
    switch (rc) {
    case MDB_MAP_FULL:
        return tv_error_set(err, TV_EFULL,
                            "vault '%s' is full: %s failed, nothing written",
                            dir, what);
    case ENOSPC:
    case EDQUOT:
        return tv_error_set(err, TV_EFULL,
                            "no space left for vault '%s': %s failed, "
                            "nothing written",
                            dir, what);
    case EROFS:
    case EACCES:
        return tv_error_set(err, TV_ERDONLY, "vault '%s' is read-only", dir);
    case ENOMEM:
        return tv_error_set(err, TV_ENOMEM, "vault '%s': %s: out of memory",
                            dir, what);
    default:
        return tv_error_set(err, TV_EIO, "vault '%s': %s: %s", dir, what,
                            mdb_strerror(rc));
    }
}

enum tv_status
tv_need_unlocked(struct tv_vault *v, struct tv_error *err)
{
    if (v == NULL)
        return tv_error_set(err, TV_EINPUT, "no vault given");
    if (v->keys == NULL)
        return tv_error_set(err, TV_EUNLOCK, "vault '%s' is locked", v->dir);
    return TV_OK;
}

/* Grows the map so that grow more bytes (twice, for copied pages) fit. */
static int
map_reserve(struct tv_vault *v, size_t grow)
{
    MDB_envinfo info;
    MDB_stat ms;
    size_t used, need, size;
    int rc;

    rc = mdb_env_info(v->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(v->env, &ms);
    if (rc != 0)
        return rc;
    used = (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
    if (grow > (SIZE_MAX - used - TV_MAP_SLACK) / 4)
        return MDB_MAP_FULL;
    need = used + 2 * grow + TV_MAP_SLACK;
    if (need <= info.me_mapsize)
        return 0;
    for (size = info.me_mapsize; size < need; size *= 2)
        ;
    return mdb_env_set_mapsize(v->env, size);
}

/*
 * Begins a transaction; when another process grew the vault past this
 * process's map, adopts the new size (no transaction of ours is open) and
 * tries once more.
 */
static int
txn_begin(struct tv_vault *v, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(v->env, NULL, flags, txn);

    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(v->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(v->env, NULL, flags, txn);
    }
    return rc;
}

enum tv_status
tv_txn_write(struct tv_vault *v, size_t grow, MDB_txn **txn,
             struct tv_error *err)
{
    int rc;

    *txn = NULL;
    if (v->rdonly)
        return tv_error_set(err, TV_ERDONLY, "vault '%s' is read-only", v->dir);
    rc = map_reserve(v, grow);
    if (rc != 0)
        return tv_mdb_error(v, rc, "grow map", err);
    rc = txn_begin(v, 0, txn);
    if (rc != 0)
        return tv_mdb_error(v, rc, "begin write", err);
    return TV_OK;
}

enum tv_status
tv_txn_read(struct tv_vault *v, MDB_txn **txn, struct tv_error *err)
{
    int rc;

    *txn = NULL;
    rc = txn_begin(v, MDB_RDONLY, txn);
    if (rc != 0)
        return tv_mdb_error(v, rc, "begin read", err);
    return TV_OK;
}

enum tv_status
tv_txn_commit(struct tv_vault *v, MDB_txn *txn, struct tv_error *err)
{
    int rc = mdb_txn_commit(txn);

    if (rc != 0)
        return tv_mdb_error(v, rc, "commit", err);
    return TV_OK;
}

enum tv_status
tv_put_sealed(struct tv_vault *v, MDB_txn *txn, MDB_dbi dbi, const char *db,
              const struct tv_wbuf *key, struct tv_wbuf *body, unsigned flags,
              struct tv_error *err)
{
    MDB_val k, d;
    int rc;

    tv_rec_seal(TV_KEYS(v), body, db, key->data, key->len);
    if (key->oom || body->oom)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    k.mv_data = key->data;
    k.mv_size = key->len;
    d.mv_data = body->data;
    d.mv_size = body->len;
    rc = mdb_put(txn, dbi, &k, &d, flags);
    if (rc == MDB_KEYEXIST)
        return tv_error_set(err, TV_EEXIST, "record already stored");
    if (rc != 0)
        return tv_mdb_error(v, rc, "write", err);
    return TV_OK;
}

static int
has_prefix(const MDB_val *k, const struct tv_wbuf *prefix)
{
    return k->mv_size >= prefix->len &&
           memcmp(k->mv_data, prefix->data, prefix->len) == 0;
}

enum tv_status
tv_db_each(struct tv_vault *v, MDB_txn *txn, MDB_dbi dbi,
           const struct tv_wbuf *prefix, tv_entry_fn fn, void *ctx,
           const char *what, struct tv_error *err)
{
    MDB_cursor_op op = MDB_FIRST;
    MDB_cursor *cur = NULL;
    enum tv_status st = TV_OK;
    MDB_val k = { 0, NULL }, d;
    int rc;

    if (prefix != NULL) {
        if (prefix->oom)
            return tv_error_set(err, TV_ENOMEM, "out of memory");
        k.mv_data = prefix->data;
        k.mv_size = prefix->len;
        op = MDB_SET_RANGE;
    }
    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return tv_mdb_error(v, rc, what, err);
    for (rc = mdb_cursor_get(cur, &k, &d, op); rc == 0;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (prefix != NULL && !has_prefix(&k, prefix))
            break;
        st = fn(v, &k, &d, ctx, err);
        if (st != TV_OK)
            break;
    }
    if (st == TV_OK && rc != 0 && rc != MDB_NOTFOUND)
        st = tv_mdb_error(v, rc, what, err);
    mdb_cursor_close(cur);
    return st;
}

enum tv_status
tv_db_each_read(struct tv_vault *v, MDB_dbi dbi, const struct tv_wbuf *prefix,
                tv_entry_fn fn, void *ctx, const char *what,
                struct tv_error *err)
{
    MDB_txn *txn = NULL;
    enum tv_status st;

    st = tv_txn_read(v, &txn, err);
    if (st != TV_OK)
        return st;
    st = tv_db_each(v, txn, dbi, prefix, fn, ctx, what, err);
    mdb_txn_abort(txn);
    return st;
}

/* Why a mode is refused: the broadest access it grants. */
static const char *
mode_word(mode_t mode)
{
    if (mode & 044)
        return "readable";
    if (mode & 022)
        return "writable";
    return "accessible";
}

/*
 * Checks that path (a directory when is_dir) is no symlink, of the right
 * type, ours, and private.  *missing is set (and TV_OK returned) when it
 * does not exist and missing is not NULL.
 */
static enum tv_status
check_private(const char *path, int is_dir, int *missing, struct tv_error *err)
{
    const char *what = is_dir ? "vault" : "vault file";
    struct stat sb;

    if (missing != NULL)
        *missing = 0;
    if (lstat(path, &sb) == -1) {
        if (errno == ENOENT && missing != NULL) {
            *missing = 1;
            return TV_OK;
        }
        if (errno == ENOENT || errno == ENOTDIR)
            return tv_error_set(err, TV_ENOTFOUND, "no vault at '%s'", path);
        return tv_error_set(err, TV_EIO, "cannot inspect '%s': %s", path,
                            strerror(errno));
    }
    if (S_ISLNK(sb.st_mode))
        return tv_error_set(err, TV_EPERM,
                            "%s '%s' is a symbolic link; refusing to follow "
                            "it",
                            what, path);
    if (is_dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
        return tv_error_set(err, TV_EPERM, "%s '%s' is not a %s", what, path,
                            is_dir ? "directory" : "regular file");
    if (sb.st_uid != geteuid())
        return tv_error_set(err, TV_EPERM,
                            "%s '%s' is owned by uid %u, not by you", what,
                            path, (unsigned)sb.st_uid);
    if (sb.st_mode & 077)
        return tv_error_set(err, TV_EPERM,
                            "%s '%s' is %s by group or others; run: chmod %s "
                            "'%s'",
                            what, path, mode_word(sb.st_mode),
                            is_dir ? "700" : "600", path);
    return TV_OK;
}

/* dir/name into a fresh string, or NULL. */
static char *
path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/*
 * A copy of dir without trailing slashes and "/." components, so that
 * lstat sees a symlink: "link/" and "link/." resolve through it.
 */
static char *
dir_copy(const char *dir)
{
    char *d = strdup(dir);
    size_t n;

    if (d == NULL)
        return NULL;
    n = strlen(d);
    for (;;) {
        if (n > 1 && d[n - 1] == '/')
            d[--n] = '\0';
        else if (n > 2 && d[n - 1] == '.' && d[n - 2] == '/')
            d[n -= 2] = '\0';
        else
            break;
    }
    return d;
}

static enum tv_status
check_files(const char *dir, struct tv_error *err)
{
    static const char *const files[] = { "data.mdb", "lock.mdb" };
    enum tv_status st = TV_OK;
    size_t i;
    int missing;

    for (i = 0; i < 2 && st == TV_OK; i++) {
        char *p = path_join(dir, files[i]);

        if (p == NULL)
            return tv_error_set(err, TV_ENOMEM, "out of memory");
        st = check_private(p, 0, &missing, err);
        if (st == TV_OK && missing && i == 0)
            st = tv_error_set(err, TV_ENOTFOUND,
                              "no vault at '%s' (create one with 'tiervault "
                              "init')",
                              dir);
        free(p);
    }
    return st;
}

static enum tv_status
env_open(struct tv_vault *v, unsigned flags, struct tv_error *err)
{
    int rc;

    rc = mdb_env_create(&v->env);
    if (rc != 0)
        return tv_mdb_error(v, rc, "create environment", err);
    rc = mdb_env_set_maxdbs(v->env, 8);
    if (rc == 0)
        rc = mdb_env_set_mapsize(v->env, TV_MAP_MIN);
    /* never MDB_WRITEMAP: a full disk must fail a write, not fault a page;
     * never MDB_NOMEMINIT: unused page bytes are zeroed, not leaked;
     * MDB_NOTLS: read transactions belong to the call, not the thread */
    if (rc == 0)
        rc = mdb_env_open(v->env, v->dir, flags | MDB_NOTLS, 0600);
    if (rc != 0) {
        mdb_env_close(v->env);
        v->env = NULL;
        return tv_mdb_error(v, rc, "open", err);
    }
    return TV_OK;
}

/*
 * A data.mdb shorter than the pages its newest meta page counts (a
 * truncated copy or disk) would fault with SIGBUS on the first read of a
 * missing page: LMDB maps the file and never checks.  mdb_env_open reads
 * only the two meta pages, so the size is checked right after it, before
 * any transaction touches the map.
 */
static enum tv_status
env_check_size(struct tv_vault *v, struct tv_error *err)
{
    MDB_envinfo info;
    MDB_stat ms;
    struct stat sb;
    mdb_filehandle_t fd;
    int rc;

    rc = mdb_env_info(v->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(v->env, &ms);
    if (rc == 0)
        rc = mdb_env_get_fd(v->env, &fd);
    if (rc == 0 && fstat(fd, &sb) == -1)
        rc = errno;
    if (rc != 0)
        return tv_mdb_error(v, rc, "inspect data.mdb", err);
    if (ms.ms_psize == 0 || info.me_last_pgno >= SIZE_MAX / ms.ms_psize ||
        (unsigned long long)sb.st_size <
            (unsigned long long)(info.me_last_pgno + 1) * ms.ms_psize)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s': data.mdb is truncated (%lld bytes, "
                            "its pages need %llu); restore it from a backup",
                            v->dir, (long long)sb.st_size,
                            (unsigned long long)(info.me_last_pgno + 1) *
                                ms.ms_psize);
    return TV_OK;
}

/* Opens read-write, else read-only (a read-only mount or file). */
static enum tv_status
env_open_existing(struct tv_vault *v, struct tv_error *err)
{
    enum tv_status st;

    st = env_open(v, 0, err);
    if (st == TV_ERDONLY) {
        v->rdonly = 1;
        st = env_open(v, MDB_RDONLY, err);
    }
    /* the lock file cannot be opened for writing either: read without
     * reader locks, which is safe as long as nobody writes meanwhile */
    if (st == TV_ERDONLY)
        st = env_open(v, MDB_RDONLY | MDB_NOLOCK, err);
    if (st == TV_OK)
        st = env_check_size(v, err);
    return st;
}

static enum tv_status
open_dbis(struct tv_vault *v, MDB_txn *txn, unsigned flags,
          struct tv_error *err)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        { TV_DB_META, &v->meta },       { TV_DB_SLOTS, &v->slots },
        { TV_DB_SECRETS, &v->secrets }, { TV_DB_VERSIONS, &v->versions },
        { TV_DB_AUDIT, &v->audit },     { TV_DB_STATE, &v->state },
    };
    size_t i;
    int rc;

    for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
            return tv_error_set(err, TV_EFORMAT,
                                "'%s' is not a tiervault vault (no '%s' "
                                "database)",
                                v->dir, dbs[i].name);
        if (rc != 0)
            return tv_mdb_error(v, rc, "open database", err);
    }
    return TV_OK;
}

static struct tv_vault *
vault_new(const char *dir)
{
    struct tv_vault *v = calloc(1, sizeof(*v));

    if (v == NULL)
        return NULL;
    v->dir = dir_copy(dir);
    if (v->dir == NULL) {
        free(v);
        return NULL;
    }
    snprintf(v->actor, sizeof(v->actor), "unknown");
    return v;
}

void
tv_vault_close(struct tv_vault *v)
{
    if (v == NULL)
        return;
    tv_secret_free(v->keys);
    if (v->env != NULL)
        mdb_env_close(v->env);
    free(v->dir);
    free(v);
}

void
tv_vault_set_actor(struct tv_vault *v, const char *actor)
{
    size_t i;

    if (v == NULL)
        return;
    snprintf(v->actor, sizeof(v->actor), "%s",
             actor != NULL && actor[0] != '\0' ? actor : "unknown");
    /* the actor is shown in logs: no control characters */
    for (i = 0; v->actor[i] != '\0'; i++) {
        unsigned char c = (unsigned char)v->actor[i];

        if (c < 0x20 || c == 0x7f)
            v->actor[i] = '?';
    }
}

const char *
tv_vault_id(const struct tv_vault *v)
{
    return v != NULL ? v->id_hex : "";
}

/* Reads the header; with keys, also checks its MAC. */
static enum tv_status
read_header(struct tv_vault *v, MDB_txn *txn, const struct tv_keys *keys,
            struct tv_error *err)
{
    static char hkey[] = TV_META_HEADER;
    struct tv_rec_header h;
    MDB_val k = { sizeof(hkey) - 1, hkey }, d;
    size_t blen;
    int rc;

    rc = mdb_get(txn, v->meta, &k, &d);
    if (rc == MDB_NOTFOUND)
        return tv_error_set(err, TV_EFORMAT, "vault '%s' has no header",
                            v->dir);
    if (rc != 0)
        return tv_mdb_error(v, rc, "read header", err);
    if (tv_rec_header_decode(d.mv_data, d.mv_size, &h, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s': header does not parse", v->dir);
    if (h.format != TV_FORMAT_VERSION)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s' has format %u; this tiervault reads "
                            "format %d",
                            v->dir, (unsigned)h.format, TV_FORMAT_VERSION);
    if (keys != NULL) {
        if (!tv_rec_check(keys, TV_DB_META, k.mv_data, k.mv_size, d.mv_data,
                          blen) ||
            memcmp(h.vault_id, v->id, TV_ID_LEN) != 0)
            return tv_error_set(err, TV_EINTEGRITY,
                                "vault '%s': header was altered", v->dir);
        return TV_OK;
    }
    memcpy(v->id, h.vault_id, TV_ID_LEN);
    tv_hex(v->id, TV_ID_LEN, v->id_hex);
    v->created = h.created;
    return TV_OK;
}

enum tv_status
tv_vault_open(struct tv_vault **out, const char *dir, struct tv_error *err)
{
    struct tv_vault *v = NULL;
    MDB_txn *txn = NULL;
    enum tv_status st;
    int missing;

    *out = NULL;
    if (dir == NULL || dir[0] == '\0')
        return tv_error_set(err, TV_EINPUT, "empty vault path");
    v = vault_new(dir);
    if (v == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    st = check_private(v->dir, 1, &missing, err);
    if (st == TV_OK && missing)
        st = tv_error_set(err, TV_ENOTFOUND,
                          "no vault at '%s' (create one with 'tiervault "
                          "init')",
                          v->dir);
    if (st == TV_OK)
        st = check_files(v->dir, err);
    if (st == TV_OK)
        st = env_open_existing(v, err);
    if (st == TV_OK)
        st = tv_txn_read(v, &txn, err);
    if (st != TV_OK)
        goto fail;
    st = open_dbis(v, txn, 0, err);
    if (st == TV_OK)
        st = read_header(v, txn, NULL, err);
    if (st != TV_OK)
        goto fail;
    st = tv_txn_commit(v, txn, err);
    txn = NULL;
    if (st != TV_OK)
        goto fail;
    *out = v;
    return TV_OK;

fail:
    if (txn != NULL)
        mdb_txn_abort(txn);
    tv_vault_close(v);
    return st;
}

static enum tv_status
cred_check(const struct tv_cred *c, struct tv_error *err)
{
    if (c == NULL || c->secret == NULL || c->secret->data == NULL)
        return tv_error_set(err, TV_EINPUT, "no credential given");
    if (c->kind == TV_CRED_PASSPHRASE) {
        if (c->secret->len == 0)
            return tv_error_set(err, TV_EINPUT, "empty passphrase");
        if ((unsigned)c->kdf > TV_KDF_SENSITIVE)
            return tv_error_set(err, TV_EINPUT, "unknown kdf profile %d",
                                (int)c->kdf);
        return TV_OK;
    }
    if (c->kind == TV_CRED_KEYFILE) {
        if (c->secret->len != TV_KEYFILE_LEN)
            return tv_error_set(err, TV_EINPUT,
                                "a key file key is %d bytes, not %zu",
                                TV_KEYFILE_LEN, c->secret->len);
        return TV_OK;
    }
    return tv_error_set(err, TV_EINPUT, "unknown credential kind %d",
                        (int)c->kind);
}

/* A new slot's parameters for cred (without id, nonce, wrapped key). */
static void
slot_template(struct tv_rec_slot *s, const struct tv_cred *c)
{
    static const struct {
        uint64_t ops, mem;
    } prof[] = {
        { crypto_pwhash_OPSLIMIT_INTERACTIVE,
          crypto_pwhash_MEMLIMIT_INTERACTIVE },
        { crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE },
        { crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE },
    };

    memset(s, 0, sizeof(*s));
    s->kind = (uint8_t)c->kind;
    s->created = tv_now();
    randombytes_buf(s->salt, TV_SALT_LEN);
    if (c->kind == TV_CRED_PASSPHRASE) {
        s->kdf = (uint8_t)c->kdf;
        s->opslimit = prof[c->kdf].ops;
        s->memlimit = prof[c->kdf].mem;
    } else {
        tv_keyfile_id(c->secret, s->key_id);
    }
}

static enum tv_status
kek_for(const struct tv_rec_slot *s, const struct tv_cred *c,
        struct tv_secret *kek, uint32_t id, struct tv_error *err)
{
    if (tv_kek_derive(s, c->secret, kek->data) != 0)
        return tv_error_set(err, TV_ENOMEM,
                            "cannot derive the key of keyslot %u: Argon2 "
                            "needs %llu MiB of memory",
                            (unsigned)id,
                            (unsigned long long)(s->memlimit >> 20));
    return TV_OK;
}

/* Writes slot s (id) wrapping the vault key under kek. */
static enum tv_status
slot_store(struct tv_vault *v, MDB_txn *txn, struct tv_rec_slot *s, uint32_t id,
           const struct tv_secret *kek, struct tv_error *err)
{
    struct tv_wbuf key = { 0 }, body = { 0 };
    unsigned char kb[4];
    enum tv_status st;

    tv_slot_wrap(s, v->id, id, kek->data, TV_KEYS(v)->vault);
    tv_put_be32(kb, id);
    tv_wbuf_put(&key, kb, 4);
    tv_rec_slot_encode(&body, s);
    st = tv_put_sealed(v, txn, v->slots, TV_DB_SLOTS, &key, &body,
                       MDB_NOOVERWRITE, err);
    if (st == TV_EEXIST)
        st = tv_error_set(err, TV_EINTEGRITY,
                          "vault '%s': keyslot %u already exists", v->dir,
                          (unsigned)id);
    tv_wbuf_free(&key);
    tv_wbuf_free(&body);
    return st;
}

static enum tv_status
store_header(struct tv_vault *v, MDB_txn *txn, struct tv_error *err)
{
    struct tv_wbuf key = { 0 }, body = { 0 };
    struct tv_rec_header h;
    enum tv_status st;

    h.format = TV_FORMAT_VERSION;
    memcpy(h.vault_id, v->id, TV_ID_LEN);
    h.created = v->created;
    tv_wbuf_put(&key, TV_META_HEADER, strlen(TV_META_HEADER));
    tv_rec_header_encode(&body, &h);
    /* a second init racing into the same empty directory finds the first
     * one's header here, under LMDB's write lock */
    st = tv_put_sealed(v, txn, v->meta, TV_DB_META, &key, &body,
                       MDB_NOOVERWRITE, err);
    if (st == TV_EEXIST)
        st = tv_error_set(err, TV_EEXIST, "a vault already exists at '%s'",
                          v->dir);
    tv_wbuf_free(&key);
    tv_wbuf_free(&body);
    return st;
}

/* Creates dir 0700 (and missing parents, also 0700); *created says so. */
static enum tv_status
make_dir(const char *dir, int *created, struct tv_error *err)
{
    char *parent, *slash;
    enum tv_status st;
    int dummy;

    *created = 0;
    if (mkdir(dir, 0700) == 0) {
        *created = 1;
        return TV_OK;
    }
    if (errno == EEXIST)
        return TV_OK;
    if (errno != ENOENT)
        return tv_error_set(err, errno == EROFS ? TV_ERDONLY : TV_EIO,
                            "cannot create vault directory '%s': %s", dir,
                            strerror(errno));
    parent = strdup(dir);
    if (parent == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    slash = strrchr(parent, '/');
    if (slash == NULL || slash == parent) {
        free(parent);
        return tv_error_set(err, TV_EIO,
                            "cannot create vault directory '%s': %s", dir,
                            strerror(ENOENT));
    }
    *slash = '\0';
    st = make_dir(parent, &dummy, err);
    free(parent);
    if (st != TV_OK)
        return st;
    if (mkdir(dir, 0700) == -1)
        return tv_error_set(err, TV_EIO,
                            "cannot create vault directory '%s': %s", dir,
                            strerror(errno));
    *created = 1;
    return TV_OK;
}

static enum tv_status
dir_empty(const char *dir, struct tv_error *err)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    int found = 0;

    if (d == NULL)
        return tv_error_set(err, TV_EIO, "cannot read '%s': %s", dir,
                            strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            found = 1;
            break;
        }
    }
    closedir(d);
    if (found)
        return tv_error_set(err, TV_EEXIST,
                            "'%s' is not empty; a new vault needs an empty "
                            "directory",
                            dir);
    return TV_OK;
}

/* An existing directory may hold a new vault only when empty and ours. */
static enum tv_status
check_empty_dir(const char *dir, struct tv_error *err)
{
    enum tv_status st;
    char *p;
    int missing;

    st = check_private(dir, 1, NULL, err);
    if (st != TV_OK)
        return st;
    p = path_join(dir, "data.mdb");
    if (p == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    st = check_private(p, 0, &missing, err);
    free(p);
    if (st == TV_OK && !missing)
        return tv_error_set(err, TV_EEXIST, "a vault already exists at '%s'",
                            dir);
    if (st != TV_OK)
        return tv_error_prefix(err, "cannot create a vault at '%s'", dir);
    return dir_empty(dir, err);
}

static void
remove_vault_files(const char *dir, int rm_dir)
{
    char *p;

    p = path_join(dir, "data.mdb");
    if (p != NULL)
        unlink(p);
    free(p);
    p = path_join(dir, "lock.mdb");
    if (p != NULL)
        unlink(p);
    free(p);
    if (rm_dir)
        rmdir(dir);
}

/* Everything init writes, in one transaction. */
static enum tv_status
init_write(struct tv_vault *v, struct tv_rec_slot *slots,
           struct tv_secret **keks, size_t n, struct tv_error *err)
{
    struct tv_audit_head head = { 0 };
    char detail[64];
    MDB_txn *txn = NULL;
    enum tv_status st;
    size_t i;

    st = tv_txn_write(v, 0, &txn, err);
    if (st != TV_OK)
        return st;
    st = open_dbis(v, txn, MDB_CREATE, err);
    if (st == TV_OK)
        st = store_header(v, txn, err);
    for (i = 0; i < n && st == TV_OK; i++)
        st = slot_store(v, txn, &slots[i], (uint32_t)(i + 1), keks[i], err);
    snprintf(detail, sizeof(detail), "format %d, %zu keyslot%s",
             TV_FORMAT_VERSION, n, n == 1 ? "" : "s");
    if (st == TV_OK)
        st = tv_audit_append(v, txn, &head, "init", NULL, NULL, 0, NULL, detail,
                             err);
    if (st == TV_OK)
        st = tv_audit_head_store(v, txn, &head, err);
    if (st != TV_OK) {
        mdb_txn_abort(txn);
        return st;
    }
    return tv_txn_commit(v, txn, err);
}

/* Fresh keys for a new vault. */
static enum tv_status
init_keys(struct tv_vault *v, struct tv_error *err)
{
    struct tv_keys *k;
    enum tv_status st;

    st = tv_secret_new(&v->keys, sizeof(struct tv_keys), err);
    if (st != TV_OK)
        return st;
    k = (struct tv_keys *)v->keys->data;
    crypto_kdf_keygen(k->vault);
    if (tv_keys_derive(k) != 0)
        return tv_error_set(err, TV_EIO, "cannot derive vault subkeys");
    randombytes_buf(v->id, TV_ID_LEN);
    tv_hex(v->id, TV_ID_LEN, v->id_hex);
    v->created = tv_now();
    return TV_OK;
}

enum tv_status
tv_vault_init(const char *dir, const struct tv_cred *creds, size_t ncreds,
              const char *actor, struct tv_error *err)
{
    struct tv_secret *keks[16] = { 0 };
    struct tv_rec_slot slots[16];
    struct tv_vault *v = NULL;
    enum tv_status st;
    int created = 0, files = 0;
    size_t i;

    if (dir == NULL || dir[0] == '\0')
        return tv_error_set(err, TV_EINPUT, "empty vault path");
    if (creds == NULL || ncreds == 0)
        return tv_error_set(err, TV_EINPUT, "a vault needs a credential");
    if (ncreds > 16)
        return tv_error_set(err, TV_EINPUT, "at most 16 keyslots at init");
    for (i = 0; i < ncreds; i++) {
        st = cred_check(&creds[i], err);
        if (st != TV_OK)
            return st;
    }
    v = vault_new(dir);
    if (v == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    tv_vault_set_actor(v, actor);

    st = init_keys(v, err);
    for (i = 0; i < ncreds && st == TV_OK; i++) {
        slot_template(&slots[i], &creds[i]);
        st = tv_secret_new(&keks[i], TV_KEY_LEN, err);
        if (st == TV_OK)
            st = kek_for(&slots[i], &creds[i], keks[i], (uint32_t)(i + 1), err);
    }
    if (st != TV_OK)
        goto out;

    st = make_dir(v->dir, &created, err);
    if (st == TV_OK && !created)
        st = check_empty_dir(v->dir, err);
    if (st != TV_OK)
        goto out;
    files = 1;
    st = env_open(v, 0, err);
    if (st == TV_OK)
        st = init_write(v, slots, keks, ncreds, err);
    if (st == TV_OK && mdb_env_sync(v->env, 1) != 0)
        st = tv_error_set(err, TV_EIO, "cannot sync vault '%s'", v->dir);

out:
    for (i = 0; i < ncreds; i++)
        tv_secret_free(keks[i]);
    /* TV_EEXIST: the files are another init's, not ours to remove */
    if (st != TV_OK && st != TV_EEXIST && files) {
        if (v->env != NULL)
            mdb_env_close(v->env);
        v->env = NULL;
        remove_vault_files(v->dir, created);
    }
    tv_vault_close(v);
    return st;
}

/* What one pass over the slots found for a credential. */
struct unlock_try {
    const struct tv_cred *cred;
    unsigned char my_id[TV_KEYID_LEN]; /* of a key file */
    struct tv_secret *kek;
    struct tv_keys *keys;
    uint32_t opened;   /* the slot that opened, or 0 */
    uint32_t altered;  /* a key-file slot whose id matched but did not open */
    uint32_t unparsed; /* a slot that does not parse */
    MDB_val slot_key;  /* of the opened slot, for its MAC check */
    MDB_val slot_val;
    size_t slot_blen;
};

static enum tv_status
try_slot(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
         struct tv_error *err)
{
    struct unlock_try *t = ctx;
    struct tv_rec_slot s;
    enum tv_status st;
    uint32_t id;
    size_t blen;

    if (t->opened != 0)
        return TV_OK;
    if (k->mv_size != 4 ||
        tv_rec_slot_decode(d->mv_data, d->mv_size, &s, &blen) != 0) {
        if (t->unparsed == 0)
            t->unparsed = k->mv_size == 4 ? tv_be32(k->mv_data) : UINT32_MAX;
        return TV_OK;
    }
    id = tv_be32(k->mv_data);
    if (s.kind != (uint8_t)t->cred->kind)
        return TV_OK;
    if (t->cred->kind == TV_CRED_KEYFILE &&
        memcmp(s.key_id, t->my_id, TV_KEYID_LEN) != 0)
        return TV_OK;
    st = kek_for(&s, t->cred, t->kek, id, err);
    if (st != TV_OK)
        return st;
    if (tv_slot_unwrap(&s, v->id, id, t->kek->data, t->keys->vault) != 0) {
        if (t->cred->kind == TV_CRED_KEYFILE && t->altered == 0)
            t->altered = id;
        return TV_OK;
    }
    t->opened = id;
    t->slot_key = *k;
    t->slot_val = *d;
    t->slot_blen = blen;
    return TV_OK;
}

static enum tv_status
unlock_result(struct tv_vault *v, const struct unlock_try *t,
              struct tv_error *err)
{
    if (t->opened != 0)
        return TV_OK;
    if (t->altered != 0)
        return tv_error_set(err, TV_EINTEGRITY,
                            "vault '%s': keyslot %u matches this key file "
                            "but was altered",
                            v->dir, (unsigned)t->altered);
    if (t->unparsed != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s': keyslot %u does not parse and no "
                            "other keyslot opens",
                            v->dir, (unsigned)t->unparsed);
    return tv_error_set(
        err, TV_EUNLOCK, "no keyslot of vault '%s' opens with this %s", v->dir,
        t->cred->kind == TV_CRED_KEYFILE ? "key file" : "passphrase");
}

/* Finds the slot that opens with t->cred and checks what it vouches for. */
static enum tv_status
unlock_txn(struct tv_vault *v, MDB_txn *txn, struct unlock_try *t,
           struct tv_error *err)
{
    enum tv_status st;

    st = tv_db_each(v, txn, v->slots, NULL, try_slot, t, "read keyslots", err);
    if (st == TV_OK)
        st = unlock_result(v, t, err);
    if (st == TV_OK && tv_keys_derive(t->keys) != 0)
        st = tv_error_set(err, TV_EIO, "cannot derive vault subkeys");
    if (st == TV_OK)
        st = read_header(v, txn, t->keys, err);
    if (st == TV_OK &&
        !tv_rec_check(t->keys, TV_DB_SLOTS, t->slot_key.mv_data,
                      t->slot_key.mv_size, t->slot_val.mv_data, t->slot_blen))
        st = tv_error_set(err, TV_EINTEGRITY,
                          "vault '%s': keyslot %u was altered", v->dir,
                          (unsigned)t->opened);
    return st;
}

enum tv_status
tv_vault_unlock(struct tv_vault *v, const struct tv_cred *cred,
                struct tv_error *err)
{
    struct tv_secret *keys = NULL;
    struct unlock_try t = { 0 };
    MDB_txn *txn = NULL;
    enum tv_status st;

    if (v == NULL)
        return tv_error_set(err, TV_EINPUT, "no vault given");
    st = cred_check(cred, err);
    if (st != TV_OK || v->keys != NULL)
        return st;
    t.cred = cred;
    if (cred->kind == TV_CRED_KEYFILE)
        tv_keyfile_id(cred->secret, t.my_id);
    st = tv_secret_new(&keys, sizeof(struct tv_keys), err);
    if (st == TV_OK)
        st = tv_secret_new(&t.kek, TV_KEY_LEN, err);
    if (st == TV_OK)
        st = tv_txn_read(v, &txn, err);
    if (st != TV_OK)
        goto out;
    t.keys = (struct tv_keys *)keys->data;
    st = unlock_txn(v, txn, &t, err);
    if (st != TV_OK)
        goto out;
    v->keys = keys;
    keys = NULL;

out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    tv_secret_free(t.kek);
    tv_secret_free(keys);
    return st;
}

void
tv_slot_info_fill(struct tv_slot_info *out, uint32_t id,
                  const struct tv_rec_slot *s)
{
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->kind = (enum tv_cred_kind)s->kind;
    out->created = s->created;
    if (s->kind == TV_CRED_PASSPHRASE) {
        out->kdf = (enum tv_kdf)s->kdf;
        out->opslimit = s->opslimit;
        out->memlimit = s->memlimit;
    } else {
        tv_hex(s->key_id, TV_KEYID_LEN, out->key_id);
    }
}

/* Decodes one slot entry; with keys, also checks its MAC. */
static enum tv_status
slot_decode(struct tv_vault *v, const MDB_val *k, const MDB_val *d,
            struct tv_rec_slot *s, uint32_t *id, struct tv_error *err)
{
    size_t blen;

    if (k->mv_size != 4)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s': a keyslot key does not parse", v->dir);
    *id = tv_be32(k->mv_data);
    if (tv_rec_slot_decode(d->mv_data, d->mv_size, s, &blen) != 0)
        return tv_error_set(err, TV_EFORMAT,
                            "vault '%s': keyslot %u does not parse", v->dir,
                            (unsigned)*id);
    if (v->keys != NULL && !tv_rec_check(TV_KEYS(v), TV_DB_SLOTS, k->mv_data,
                                         k->mv_size, d->mv_data, blen))
        return tv_error_set(err, TV_EINTEGRITY,
                            "vault '%s': keyslot %u was altered", v->dir,
                            (unsigned)*id);
    return TV_OK;
}

struct slots_walk {
    tv_slot_cb cb;
    void *ctx;
};

static enum tv_status
slot_visit(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
           struct tv_error *err)
{
    struct slots_walk *w = ctx;
    struct tv_slot_info info;
    struct tv_rec_slot s;
    enum tv_status st;
    uint32_t id;

    st = slot_decode(v, k, d, &s, &id, err);
    if (st != TV_OK)
        return st;
    tv_slot_info_fill(&info, id, &s);
    return (enum tv_status)w->cb(&info, w->ctx);
}

enum tv_status
tv_vault_slots(struct tv_vault *v, tv_slot_cb cb, void *ctx,
               struct tv_error *err)
{
    struct slots_walk w = { cb, ctx };

    if (v == NULL || cb == NULL)
        return tv_error_set(err, TV_EINPUT, "no vault or callback given");
    return tv_db_each_read(v, v->slots, NULL, slot_visit, &w, "read keyslots",
                           err);
}

/* What the slots say about a slot to add. */
struct next_id {
    const struct tv_rec_slot *add;
    uint32_t last;
};

static enum tv_status
slot_last(struct tv_vault *v, const MDB_val *k, const MDB_val *d, void *ctx,
          struct tv_error *err)
{
    struct next_id *n = ctx;
    struct tv_rec_slot s;
    enum tv_status st;
    uint32_t id;

    st = slot_decode(v, k, d, &s, &id, err);
    if (st != TV_OK)
        return st;
    n->last = id;
    if (n->add->kind == TV_CRED_KEYFILE && s.kind == TV_CRED_KEYFILE &&
        memcmp(s.key_id, n->add->key_id, TV_KEYID_LEN) == 0)
        return tv_error_set(err, TV_EEXIST,
                            "this key file is already enrolled in keyslot %u",
                            (unsigned)id);
    return TV_OK;
}

/* The next slot id, refusing a key file that is already enrolled. */
static enum tv_status
slot_next_id(struct tv_vault *v, MDB_txn *txn, const struct tv_rec_slot *ns,
             uint32_t *id, struct tv_error *err)
{
    struct next_id n = { ns, 0 };
    enum tv_status st;

    st =
        tv_db_each(v, txn, v->slots, NULL, slot_last, &n, "read keyslots", err);
    if (st != TV_OK)
        return st;
    if (n.last == UINT32_MAX)
        return tv_error_set(err, TV_EFULL, "no keyslot id left");
    *id = n.last + 1;
    return TV_OK;
}

enum tv_status
tv_vault_slot_add(struct tv_vault *v, const struct tv_cred *cred, uint32_t *id,
                  struct tv_error *err)
{
    struct tv_audit_head head;
    struct tv_secret *kek = NULL;
    struct tv_rec_slot s;
    char detail[TV_DETAIL_MAX + 1];
    char kid[TV_FP_HEXLEN + 1];
    MDB_txn *txn = NULL;
    enum tv_status st;
    uint32_t nid = 0;

    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = cred_check(cred, err);
    if (st != TV_OK)
        return st;
    slot_template(&s, cred);
    st = tv_secret_new(&kek, TV_KEY_LEN, err);
    /* Argon2 runs before the write lock is taken */
    if (st == TV_OK)
        st = kek_for(&s, cred, kek, 0, err);
    if (st == TV_OK)
        st = tv_txn_write(v, 0, &txn, err);
    if (st == TV_OK)
        st = slot_next_id(v, txn, &s, &nid, err);
    if (st == TV_OK)
        st = slot_store(v, txn, &s, nid, kek, err);
    if (st != TV_OK)
        goto out;
    tv_hex(s.key_id, TV_KEYID_LEN, kid);
    if (s.kind == TV_CRED_PASSPHRASE)
        snprintf(detail, sizeof(detail), "slot %u: passphrase (%s)",
                 (unsigned)nid, tv_kdf_name((enum tv_kdf)s.kdf));
    else
        snprintf(detail, sizeof(detail), "slot %u: key file %s", (unsigned)nid,
                 kid);
    st = tv_audit_head_load(v, txn, &head, err);
    if (st == TV_OK)
        st = tv_audit_append(v, txn, &head, "keys-add", NULL, NULL, 0, NULL,
                             detail, err);
    if (st == TV_OK)
        st = tv_audit_head_store(v, txn, &head, err);
    if (st != TV_OK)
        goto out;
    st = tv_txn_commit(v, txn, err);
    txn = NULL;
    if (st == TV_OK && id != NULL)
        *id = nid;

out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    tv_secret_free(kek);
    return st;
}

static enum tv_status
slot_rm_txn(struct tv_vault *v, MDB_txn *txn, uint32_t id, struct tv_error *err)
{
    struct tv_audit_head head;
    char detail[64];
    unsigned char kb[4];
    MDB_val k = { 4, kb }, d;
    MDB_stat ms;
    int rc;
    enum tv_status st;

    tv_put_be32(kb, id);
    rc = mdb_get(txn, v->slots, &k, &d);
    if (rc == MDB_NOTFOUND)
        return tv_error_set(err, TV_ENOTFOUND, "vault '%s' has no keyslot %u",
                            v->dir, (unsigned)id);
    if (rc == 0)
        rc = mdb_stat(txn, v->slots, &ms);
    if (rc != 0)
        return tv_mdb_error(v, rc, "read keyslots", err);
    if (ms.ms_entries <= 1)
        return tv_error_set(err, TV_ELAST,
                            "keyslot %u is the last keyslot of vault '%s'; "
                            "add another before removing it",
                            (unsigned)id, v->dir);
    rc = mdb_del(txn, v->slots, &k, NULL);
    if (rc != 0)
        return tv_mdb_error(v, rc, "remove keyslot", err);
    snprintf(detail, sizeof(detail), "slot %u", (unsigned)id);
    st = tv_audit_head_load(v, txn, &head, err);
    if (st == TV_OK)
        st = tv_audit_append(v, txn, &head, "keys-rm", NULL, NULL, 0, NULL,
                             detail, err);
    if (st == TV_OK)
        st = tv_audit_head_store(v, txn, &head, err);
    return st;
}

enum tv_status
tv_vault_slot_rm(struct tv_vault *v, uint32_t id, struct tv_error *err)
{
    MDB_txn *txn = NULL;
    enum tv_status st;

    st = tv_need_unlocked(v, err);
    if (st == TV_OK)
        st = tv_txn_write(v, 0, &txn, err);
    if (st != TV_OK)
        return st;
    st = slot_rm_txn(v, txn, id, err);
    if (st != TV_OK) {
        mdb_txn_abort(txn);
        return st;
    }
    return tv_txn_commit(v, txn, err);
}

/* Writes the compacted copy into a new file dir/data.mdb. */
static enum tv_status
backup_copy(struct tv_vault *v, const char *dir, struct tv_error *err)
{
    enum tv_status st = TV_OK;
    char *file = path_join(dir, "data.mdb");
    int fd, rc;

    if (file == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1) {
        st = tv_error_set(err, TV_EIO, "cannot create '%s': %s", file,
                          strerror(errno));
        goto out;
    }
    rc = mdb_env_copyfd2(v->env, fd, MDB_CP_COMPACT);
    if (rc == 0 && fsync(fd) == -1)
        rc = errno;
    if (close(fd) == -1 && rc == 0)
        rc = errno;
    if (rc != 0) {
        st = tv_mdb_error(v, rc, "backup", err);
        if (st == TV_ERDONLY)
            st = tv_error_set(err, TV_EIO, "cannot write '%s': %s", file,
                              strerror(rc));
        tv_error_prefix(err, "backup to '%s'", dir);
        unlink(file);
    }

out:
    free(file);
    return st;
}

enum tv_status
tv_vault_backup(struct tv_vault *v, const char *path, struct tv_error *err)
{
    char detail[TV_DETAIL_MAX + 1];
    enum tv_status st;
    char *dir;

    st = tv_need_unlocked(v, err);
    if (st != TV_OK)
        return st;
    if (path == NULL || path[0] == '\0')
        return tv_error_set(err, TV_EINPUT, "empty backup path");
    dir = dir_copy(path);
    if (dir == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    if (mkdir(dir, 0700) == -1) {
        st = tv_error_set(err, errno == EEXIST ? TV_EEXIST : TV_EIO,
                          "cannot create backup directory '%s': %s", dir,
                          strerror(errno));
        goto out;
    }
    /* recorded first, so that the copy holds its own backup entry */
    snprintf(detail, sizeof(detail), "to '%.*s'", TV_DETAIL_MAX - 8, dir);
    if (!tv_text_valid(detail, TV_DETAIL_MAX))
        snprintf(detail, sizeof(detail), "to a path with control characters");
    st = tv_vault_audit(v, "backup", NULL, NULL, 0, NULL, detail, err);
    if (st == TV_OK)
        st = backup_copy(v, dir, err);
    if (st != TV_OK)
        rmdir(dir);

out:
    free(dir);
    return st;
}
