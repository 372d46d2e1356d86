/*
 * state.h - the agent's rollout state, one JSON document per tier kept in
 * the vault's encrypted agent state (tv_vault_state_put: one durable
 * transaction per save).  It never holds a secret value: fingerprints,
 * vault version numbers, Cloudflare version ids and times only.
 *
 * A tier's document:
 *
 *   {"format": 1, "tier": "core",
 *    "verified": {"time": T, "workers": {W: WORKER, ...}},
 *    "run": {"phase": "push" | "rollback", "started": T,
 *            "workers": {W: WORKER, ...}}}
 *
 *   WORKER = {"step": S, "version_id": ID, "prev_version_id": ID,
 *             "secrets": {NAME: {"service": SVC, "name": VNAME,
 *                                "version": N, "fp": HEX}, ...}}
 *
 * "verified" is what tiervault last pushed and verified for the tier: it
 * decides what changed and is where a rollback takes its values from.
 * "run" exists while a push or a rollback is under way; its worker steps
 * ("intent" before a remote write, the write's result after it) let a
 * killed agent resume without writing anything twice.
 */
#ifndef TV_AGENT_STATE_H
#define TV_AGENT_STATE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "tv_error.h"
#include "tv_vault.h"

#define TV_STATE_FORMAT 1

/*
 * Reads the state of tier for account (may be NULL) from v into *out, a
 * new document the caller frees with cJSON_Delete; an absent state gives
 * an empty document.  TV_EFORMAT when the stored document does not parse
 * or has another format, TV_ENOMEM, or the vault's codes.
 */
enum tv_status tv_state_load(struct tv_vault *v, const char *account,
                             const char *tier, cJSON **out,
                             struct tv_error *err);

/*
 * Writes doc as the state of tier for account, durably, replacing the
 * previous one.  TV_ENOMEM or the vault's codes.
 */
enum tv_status tv_state_save(struct tv_vault *v, const char *account,
                             const char *tier, const cJSON *doc,
                             struct tv_error *err);

/*
 * The object member key of obj, created empty when absent (or replaced
 * when it is not an object).  NULL only when out of memory.
 */
cJSON *tv_state_obj(cJSON *obj, const char *key);

/* The string member key of obj, or "" when absent or not a string. */
const char *tv_state_str(const cJSON *obj, const char *key);

/* The number member key of obj, or 0 when absent or not a number. */
double tv_state_num(const cJSON *obj, const char *key);

/* Sets the string or number member key of obj; 0, or -1 without memory. */
int tv_state_set_str(cJSON *obj, const char *key, const char *value);
int tv_state_set_num(cJSON *obj, const char *key, double value);

/*
 * Records one secret under secrets (an object): NAME -> {service, name,
 * version, fp}.  Returns 0, or -1 without memory.
 */
int tv_state_set_secret(cJSON *secrets, const char *name, const char *service,
                        const char *vname, uint32_t version, const char *fp);

#endif
