/*
 * vault_int.h - the vault handle and helpers shared by the files of the
 * vault library (internal to store/).
 */
#ifndef TV_VAULT_INT_H
#define TV_VAULT_INT_H

#include <lmdb.h>

#include "crypto.h"
#include "record.h"
#include "tv_vault.h"

/* Database names; they are also MAC'd into every record. */
#define TV_DB_META     "meta"
#define TV_DB_SLOTS    "slots"
#define TV_DB_SECRETS  "secrets"
#define TV_DB_VERSIONS "versions"
#define TV_DB_AUDIT    "audit"
#define TV_DB_STATE    "state"

#define TV_META_HEADER "header"
#define TV_META_HEAD   "audit-head"

/*
 * The memory map starts at TV_MAP_MIN and grows before a write that may
 * need more (tv_txn_write), to twice what the write could add plus
 * TV_MAP_SLACK: address space only, but a small map keeps opening cheap.
 */
#define TV_MAP_MIN   ((size_t)32 << 20)
#define TV_MAP_SLACK ((size_t)8 << 20)
#define TV_REC_SLACK 1024 /* bytes of metadata a written item may add */

struct tv_vault {
    char *dir;
    MDB_env *env;
    MDB_dbi meta, slots, secrets, versions, audit, state;
    int rdonly;
    unsigned char id[TV_ID_LEN];
    char id_hex[TV_VAULT_ID_HEXLEN + 1];
    int64_t created;
    struct tv_secret *keys; /* a struct tv_keys; NULL while locked */
    char actor[TV_ACTOR_MAX + 1];
};

/* The unlocked keys of v (v->keys must be set). */
#define TV_KEYS(v) ((const struct tv_keys *)(v)->keys->data)

/* Maps an LMDB or errno code to a status with a message naming what. */
enum tv_status tv_mdb_error(struct tv_vault *v, int rc, const char *what,
                            struct tv_error *err);

/* TV_EUNLOCK when v is locked. */
enum tv_status tv_need_unlocked(struct tv_vault *v, struct tv_error *err);

/*
 * Begins a write transaction (TV_ERDONLY on a read-only vault) after
 * growing the map for a write of up to grow bytes of new data.  Must not
 * be called while this process has another transaction of v open.
 */
enum tv_status tv_txn_write(struct tv_vault *v, size_t grow, MDB_txn **txn,
                            struct tv_error *err);

/* Begins a read transaction; the caller aborts it when done. */
enum tv_status tv_txn_read(struct tv_vault *v, MDB_txn **txn,
                           struct tv_error *err);

/* Commits txn (always consumed). */
enum tv_status tv_txn_commit(struct tv_vault *v, MDB_txn *txn,
                             struct tv_error *err);

/*
 * Appends the record MAC to body and stores it under key in dbi (named db).
 * flags are mdb_put's; MDB_KEYEXIST is returned as TV_EEXIST.
 */
enum tv_status tv_put_sealed(struct tv_vault *v, MDB_txn *txn, MDB_dbi dbi,
                             const char *db, const struct tv_wbuf *key,
                             struct tv_wbuf *body, unsigned flags,
                             struct tv_error *err);

/*
 * Called by tv_db_each for one entry (valid for the transaction).  TV_OK
 * goes on; any other status stops the walk and is returned.
 */
typedef enum tv_status (*tv_entry_fn)(struct tv_vault *v, const MDB_val *k,
                                      const MDB_val *d, void *ctx,
                                      struct tv_error *err);

/*
 * Calls fn for each entry of dbi in key order: all of them, or (prefix not
 * NULL) those whose key starts with prefix.  what names the walk in LMDB
 * error messages ("read keyslots").
 */
enum tv_status tv_db_each(struct tv_vault *v, MDB_txn *txn, MDB_dbi dbi,
                          const struct tv_wbuf *prefix, tv_entry_fn fn,
                          void *ctx, const char *what, struct tv_error *err);

/* As tv_db_each in a read transaction of its own. */
enum tv_status tv_db_each_read(struct tv_vault *v, MDB_dbi dbi,
                               const struct tv_wbuf *prefix, tv_entry_fn fn,
                               void *ctx, const char *what,
                               struct tv_error *err);

/* The audit head held while a write transaction appends entries. */
struct tv_audit_head {
    uint64_t count;
    unsigned char last[TV_MAC_LEN];
};

/* Reads and checks the head (a vault without one yet has count 0). */
enum tv_status tv_audit_head_load(struct tv_vault *v, MDB_txn *txn,
                                  struct tv_audit_head *h,
                                  struct tv_error *err);
enum tv_status tv_audit_head_store(struct tv_vault *v, MDB_txn *txn,
                                   const struct tv_audit_head *h,
                                   struct tv_error *err);

/* Appends one entry in txn and advances h; NULL strings are empty. */
enum tv_status tv_audit_append(struct tv_vault *v, MDB_txn *txn,
                               struct tv_audit_head *h, const char *op,
                               const char *service, const char *name,
                               uint32_t version, const char *fp,
                               const char *detail, struct tv_error *err);

/*
 * Decodes the "secrets" entry k/d into service, name and rec and checks
 * its MAC: TV_EFORMAT when the key or record does not parse,
 * TV_EINTEGRITY when the MAC does not hold, each naming the secret.
 */
enum tv_status tv_secret_entry_decode(struct tv_vault *v, const MDB_val *k,
                                      const MDB_val *d,
                                      char service[TV_NAME_MAX + 1],
                                      char name[TV_NAME_MAX + 1],
                                      struct tv_rec_secret *rec,
                                      struct tv_error *err);

/* Fills the caller-visible slot info from a decoded slot. */
void tv_slot_info_fill(struct tv_slot_info *out, uint32_t id,
                       const struct tv_rec_slot *s);

#endif
