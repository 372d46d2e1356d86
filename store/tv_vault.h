/*
 * tv_vault.h - the encrypted vault: an LMDB environment directory holding
 * per-service secrets tagged by tier, every version of each, keyslots that
 * wrap one random vault key, a MAC-chained audit log and opaque encrypted
 * state for the agent.  docs/format.md describes the bytes on disk.
 *
 * Conventions: every function returns TV_OK or a failure status and then
 * fills err (see tv_error.h).  Names are validated by the vault itself
 * (tv_name_valid, tv_tier_valid); a bad one is TV_EINPUT.  Every mutation
 * is one LMDB write transaction that also appends its audit entry: it
 * lands whole or not at all.  Functions that read or write secrets need an
 * unlocked vault; on a locked one they return TV_EUNLOCK.  A struct
 * tv_vault is used by one thread at a time; processes may share a vault
 * (LMDB serialises their writes).
 */
#ifndef TV_VAULT_H
#define TV_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "tv_error.h"
#include "tv_mem.h"

#define TV_FORMAT_VERSION  1
#define TV_NAME_MAX        128   /* service and secret names, in bytes */
#define TV_TIER_MAX        32    /* tier tags */
#define TV_ACTOR_MAX       128   /* "user@host" or "agent" */
#define TV_NOTE_MAX        512   /* free text attached to a version */
#define TV_OP_MAX          24    /* audit operation names */
#define TV_DETAIL_MAX      256   /* audit detail text */
#define TV_VALUE_MAX       65536 /* bytes of one secret value */
#define TV_FP_HEXLEN       16    /* fingerprint shown as 16 hex digits */
#define TV_KEYFILE_LEN     32    /* bytes of a key file */
#define TV_VAULT_ID_HEXLEN 32

struct tv_vault;

enum tv_kdf {
    TV_KDF_INTERACTIVE, /* Argon2id, libsodium's interactive limits */
    TV_KDF_MODERATE,    /* the default */
    TV_KDF_SENSITIVE,
};

enum tv_cred_kind {
    TV_CRED_PASSPHRASE,
    TV_CRED_KEYFILE,
};

/* A credential that opens (or, for a new slot, will open) the vault. */
struct tv_cred {
    enum tv_cred_kind kind;
    const struct tv_secret *secret; /* passphrase bytes, or the 32-byte key */
    enum tv_kdf kdf;                /* new passphrase slots only */
};

/* How a version came to be; recorded in the version and the audit log. */
enum tv_op {
    TV_OP_PUT,
    TV_OP_GENERATE,
    TV_OP_IMPORT,
    TV_OP_RM,       /* a tombstone version */
    TV_OP_ROLLBACK, /* an old value made current again */
};

/* One secret to write with tv_vault_put. */
struct tv_put {
    const char *service;
    const char *name;
    const char *tier;
    const struct tv_secret *value; /* at most TV_VALUE_MAX bytes */
    const char *note;              /* NULL or at most TV_NOTE_MAX bytes */
    enum tv_op op;                 /* TV_OP_PUT, _GENERATE or _IMPORT */
};

/* A secret's record: its current state. */
struct tv_record_info {
    char service[TV_NAME_MAX + 1];
    char name[TV_NAME_MAX + 1];
    char tier[TV_TIER_MAX + 1];
    uint32_t version; /* current version, 1-based */
    int deleted;      /* the current version is a tombstone */
    int64_t created;  /* unix seconds of version 1 */
    int64_t updated;  /* unix seconds of the current version */
    char actor[TV_ACTOR_MAX + 1];
    char note[TV_NOTE_MAX + 1];
    char fp[TV_FP_HEXLEN + 1]; /* of the current value; "" if deleted */
};

/* One version of a secret. */
struct tv_version_info {
    uint32_t version;
    enum tv_op op;
    int deleted;
    uint32_t source; /* for TV_OP_ROLLBACK, the version copied; else 0 */
    int64_t time;
    char tier[TV_TIER_MAX + 1];
    char actor[TV_ACTOR_MAX + 1];
    char note[TV_NOTE_MAX + 1];
    char fp[TV_FP_HEXLEN + 1]; /* "" for a tombstone */
};

struct tv_audit_entry {
    uint64_t seq; /* 1-based, dense */
    int64_t time;
    char actor[TV_ACTOR_MAX + 1];
    char op[TV_OP_MAX + 1]; /* "init", "put", "rm", "keys-add", ... */
    char service[TV_NAME_MAX + 1];
    char name[TV_NAME_MAX + 1];
    uint32_t version;
    char fp[TV_FP_HEXLEN + 1];
    char detail[TV_DETAIL_MAX + 1]; /* never a value */
};

struct tv_slot_info {
    uint32_t id;
    enum tv_cred_kind kind;
    enum tv_kdf kdf;   /* passphrase slots */
    uint64_t opslimit; /* passphrase slots */
    uint64_t memlimit; /* passphrase slots, bytes */
    int64_t created;
    char key_id[TV_FP_HEXLEN + 1]; /* key-file slots: a short id of the key */
};

/*
 * Callbacks for iteration; a nonzero return stops it and is returned as the
 * function's status (so return an enum tv_status), with err left as the
 * callback left it.  The pointer is valid during the call only.
 */
typedef int (*tv_record_cb)(const struct tv_record_info *r, void *ctx);
typedef int (*tv_version_cb)(const struct tv_version_info *v, void *ctx);
typedef int (*tv_audit_cb)(const struct tv_audit_entry *e, void *ctx);
typedef int (*tv_slot_cb)(const struct tv_slot_info *s, void *ctx);

/* 1 if s is a valid service or secret name: [A-Za-z0-9_.-]{1,128}. */
int tv_name_valid(const char *s);

/* 1 if s is a valid tier tag: [a-z][a-z0-9_-]{0,31}. */
int tv_tier_valid(const char *s);

/* The kdf profile named s ("interactive", ...); -1 if unknown. */
int tv_kdf_parse(const char *s);
const char *tv_kdf_name(enum tv_kdf kdf);
const char *tv_op_name(enum tv_op op);

/*
 * The current time in unix seconds.  TIERVAULT_TEST_NOW, when set to a
 * decimal number, replaces the clock: the tests use it to age secrets.
 */
int64_t tv_now(void);

/*
 * Creates a new random key file at path with mode 0600 (O_EXCL, never
 * overwriting, no symlink followed) and returns its key in *key (guarded,
 * caller frees).  TV_EEXIST if path exists, TV_EIO otherwise.
 */
enum tv_status tv_keyfile_create(const char *path, struct tv_secret **key,
                                 struct tv_error *err);

/*
 * Reads the key of an existing key file: a regular file, not a symlink,
 * not readable or writable by group or others, exactly TV_KEYFILE_LEN
 * bytes.  TV_ENOTFOUND, TV_EPERM (with how to fix it), TV_EFORMAT (wrong
 * size) or TV_EIO.
 */
enum tv_status tv_keyfile_load(const char *path, struct tv_secret **key,
                               struct tv_error *err);

/*
 * Creates a vault in dir: the directory (mode 0700; it may exist only if
 * empty and private), a random vault key and id, one keyslot per entry of
 * creds (at least one), and the audit entry "init".  The vault is left
 * closed.  Missing parent directories are created with mode 0700.
 * TV_EEXIST if dir already holds a vault or is not empty, TV_EPERM if it is
 * a symlink or not private, TV_EINPUT for a bad credential, TV_ENOMEM when
 * Argon2 cannot get its memory, TV_EIO/TV_EFULL otherwise; on failure
 * nothing is left behind (a directory init created is removed again).
 */
enum tv_status tv_vault_init(const char *dir, const struct tv_cred *creds,
                             size_t ncreds, const char *actor,
                             struct tv_error *err);

/*
 * Opens the vault in dir, locked.  Refuses symlinks and a directory or
 * file that group or others can read or write (TV_EPERM, saying which
 * chmod fixes it), a missing vault (TV_ENOTFOUND) and an unknown format
 * version (TV_EFORMAT).  A vault whose files cannot be written (a
 * read-only file system) opens read-only: reads work and every mutation
 * returns TV_ERDONLY.  The caller owns *out (tv_vault_close).
 */
enum tv_status tv_vault_open(struct tv_vault **out, const char *dir,
                             struct tv_error *err);

/*
 * Unwraps the vault key with cred, trying each slot of its kind.  A
 * credential that opens no slot is TV_EUNLOCK and changes nothing; an
 * altered slot or vault header is TV_EINTEGRITY (an altered vault id or
 * passphrase slot cannot be told from a wrong credential: TV_EUNLOCK); a
 * slot that does not parse, when no other opens, TV_EFORMAT.  Unlocking an
 * unlocked vault is TV_OK.  Passphrase slots each cost one Argon2id run.
 */
enum tv_status tv_vault_unlock(struct tv_vault *v, const struct tv_cred *cred,
                               struct tv_error *err);

/* Wipes every key and closes the environment.  NULL is accepted.  An
 * environment may be open only once per process: close before opening the
 * same vault again. */
void tv_vault_close(struct tv_vault *v);

/* Sets the actor recorded by later mutations (copied; default "unknown"). */
void tv_vault_set_actor(struct tv_vault *v, const char *actor);

/* The vault id as 32 lowercase hex digits (valid until close). */
const char *tv_vault_id(const struct tv_vault *v);

/*
 * Writes n secrets in one transaction: each becomes a new current version
 * (version 1 for a new secret; a deleted secret comes back as a new
 * version).  Two items naming the same secret are TV_EINPUT.  On success
 * versions (may be NULL) receives each item's new version number.
 * Every item is validated before anything is written (TV_EINPUT naming
 * the item); an altered record of an item's secret is TV_EINTEGRITY.
 * TV_EFULL, TV_ERDONLY, TV_EIO: nothing was written.  One audit entry is
 * appended per item (op put, generate or import).
 */
enum tv_status tv_vault_put(struct tv_vault *v, const struct tv_put *items,
                            size_t n, uint32_t *versions, struct tv_error *err);

/*
 * Decrypts version `version` of service/name (0: the current one) into
 * *value (guarded; caller frees).  info, when not NULL, receives that
 * version's metadata.  TV_ENOTFOUND when there is no such secret or
 * version, or when it is a tombstone (the message says it was deleted);
 * TV_EINTEGRITY (naming the secret) when the stored bytes were altered.
 */
enum tv_status tv_vault_get(struct tv_vault *v, const char *service,
                            const char *name, uint32_t version,
                            struct tv_secret **value,
                            struct tv_version_info *info, struct tv_error *err);

/* The current record of service/name, without decrypting the value. */
enum tv_status tv_vault_stat(struct tv_vault *v, const char *service,
                             const char *name, struct tv_record_info *out,
                             struct tv_error *err);

/*
 * Calls cb for each secret, ordered by service then name, restricted to
 * service and tier when they are not NULL; deleted secrets only when
 * include_deleted.  Each record's MAC is checked (TV_EINTEGRITY names the
 * first altered one).
 */
enum tv_status tv_vault_list(struct tv_vault *v, const char *service,
                             const char *tier, int include_deleted,
                             tv_record_cb cb, void *ctx, struct tv_error *err);

/*
 * Calls cb for every version of service/name, oldest first; each version's
 * MAC is checked.  TV_ENOTFOUND when there is no such secret.
 */
enum tv_status tv_vault_history(struct tv_vault *v, const char *service,
                                const char *name, tv_version_cb cb, void *ctx,
                                struct tv_error *err);

/*
 * Deletes service/name by appending a tombstone version (kept in history).
 * TV_ENOTFOUND if absent or already deleted.
 */
enum tv_status tv_vault_rm(struct tv_vault *v, const char *service,
                           const char *name, uint32_t *version,
                           struct tv_error *err);

/*
 * Makes the value of `version` current again as a new version (op
 * TV_OP_ROLLBACK, source = version, the record's current tier), also when
 * the secret is deleted.  TV_ENOTFOUND for an unknown version or a
 * tombstone; TV_EINTEGRITY when the old version was altered.
 */
enum tv_status tv_vault_rollback(struct tv_vault *v, const char *service,
                                 const char *name, uint32_t version,
                                 uint32_t *new_version, struct tv_error *err);

/*
 * The fingerprint of a value: keyed BLAKE2b with a subkey of the vault
 * key, as TV_FP_HEXLEN lowercase hex digits plus NUL in out.
 */
enum tv_status tv_vault_fingerprint(struct tv_vault *v,
                                    const struct tv_secret *value,
                                    char out[TV_FP_HEXLEN + 1],
                                    struct tv_error *err);

/*
 * Calls cb for each audit entry, oldest first (no MAC verification; an
 * entry that does not parse is TV_EFORMAT).  Works on a locked vault.
 */
enum tv_status tv_vault_log(struct tv_vault *v, tv_audit_cb cb, void *ctx,
                            struct tv_error *err);

/*
 * Verifies the whole audit chain and its recorded head, then checks every
 * secret's record against the last put/generate/import/rm/rollback entry
 * naming it (version, fingerprint, deleted or not; a record the log says
 * exists must exist).  On success *count (may be NULL) is the number of
 * entries.  A broken chain is TV_EINTEGRITY with *bad_seq (may be NULL)
 * the first entry that does not verify, named in the message as well; a
 * record that disagrees with the log is TV_EINTEGRITY naming the secret,
 * *bad_seq 0.  TV_EFORMAT for an entry or record that does not parse,
 * TV_EUNLOCK when locked, TV_ENOMEM.
 */
enum tv_status tv_vault_log_verify(struct tv_vault *v, uint64_t *count,
                                   uint64_t *bad_seq, struct tv_error *err);

/*
 * Appends an audit entry that records something other than a secret
 * mutation (the agent's "tier-verified", "tier-rolled-back", ...).  Any
 * string argument may be NULL.  Never pass a value as detail.  The ops
 * the vault records itself (put, generate, import, rm, rollback) are
 * TV_EINPUT: tv_vault_log_verify holds the records to them.
 */
enum tv_status tv_vault_audit(struct tv_vault *v, const char *op,
                              const char *service, const char *name,
                              uint32_t version, const char *fp,
                              const char *detail, struct tv_error *err);

/* Calls cb for each keyslot, by id; unlocked, each slot's MAC is checked
 * (TV_EINTEGRITY naming the slot). */
enum tv_status tv_vault_slots(struct tv_vault *v, tv_slot_cb cb, void *ctx,
                              struct tv_error *err);

/*
 * Adds a keyslot wrapping the vault key with cred; *id (may be NULL) gets
 * its id (ids are never reused).  TV_EEXIST when a key file is already
 * enrolled.  Audited as "keys-add".  Needs an unlocked vault.
 */
enum tv_status tv_vault_slot_add(struct tv_vault *v, const struct tv_cred *cred,
                                 uint32_t *id, struct tv_error *err);

/* Removes a keyslot (audited as "keys-rm").  TV_ENOTFOUND, or TV_ELAST
 * for the last one.  Needs an unlocked vault. */
enum tv_status tv_vault_slot_rm(struct tv_vault *v, uint32_t id,
                                struct tv_error *err);

/*
 * Writes a consistent, compacted copy of the vault to path, a new
 * directory (mode 0700, file 0600; TV_EEXIST if path exists) that opens
 * with the same keys.  Appends the audit entry "backup" first, so the copy
 * records it too.
 */
enum tv_status tv_vault_backup(struct tv_vault *v, const char *path,
                               struct tv_error *err);

/*
 * Agent state: opaque blobs under a key (at most TV_NAME_MAX * 2 bytes),
 * encrypted and authenticated with a subkey of the vault key, each put a
 * durable transaction of its own.  tv_vault_state_get returns TV_ENOTFOUND
 * for an absent key.
 */
enum tv_status tv_vault_state_put(struct tv_vault *v, const char *key,
                                  const void *data, size_t len,
                                  struct tv_error *err);
enum tv_status tv_vault_state_get(struct tv_vault *v, const char *key,
                                  struct tv_secret **data,
                                  struct tv_error *err);
enum tv_status tv_vault_state_del(struct tv_vault *v, const char *key,
                                  struct tv_error *err);

#endif
