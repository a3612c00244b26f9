/* Device parts: each server's part of an end device, written and read inside a transaction
 * that someone else holds. This is how the Device Template Converter (components/dtc/)
 * imports and exports whole devices (registry, JS root keys, NS settings and session, AS
 * session and formatters) in one transaction per batch without including any server.
 *
 * Each server that stores a part of end devices defines one tn_devpart_t in its own folder
 * (is/devpart.c, js/devpart.c, ns/devpart.c, as/devpart.c) and the composition root
 * (cluster/main/main.c) registers them all with tn_devparts_register before any component is
 * initialised, in every process, whether that server runs in it or not: a part reads what it
 * needs from the configuration (lw_config_t, read-only once loaded) and never from a running
 * component's state.
 *
 * The input of a part is a template as The Things Stack's EndDevice JSON (snake_case names,
 * as GET /api/v3/ns/... answers; hex EUIs and keys; enumerations by name) and the field mask
 * that goes with it: dotted leaf paths ("ids.dev_eui", "root_keys.app_key.key",
 * "session.keys.app_s_key.key", "mac_settings.rx2_data_rate_index"). A part writes only the
 * paths it owns (its `paths` prefixes, the longest prefix wins: "session.keys.app_s_key" is
 * the AS's although "session" is the NS's); it may read others' values it needs (the AS
 * reads session.dev_addr). A path nobody owns is refused by the caller with
 * `unknown_field`.
 *
 * The order of registration is the order of writing: is first (the registry row every other
 * part references, the deployment-wide EUI index in lw_control and the tenant's limits), then
 * js, ns, as. A batch:
 *   1. prepare each row for each part (pool thread, no database): field errors come out here,
 *      with the error's "field" attribute naming the path;
 *   2. BEGIN; write the batch to each part in order, each part given only the rows every
 *      earlier part wrote (a row the registry refused, for its EUI or the tenant's limit, is
 *      written by nobody); COMMIT;
 *   3. committed (loop thread): each part tells its owners (the NS device worker's RELOAD on
 *      lw.ns.dev and the matchers' lw.ns.sessions, the AS's NsUp.as_device_changed).
 * A write that fails as a whole (an SQL error) returns -1 and the caller rolls the batch
 * back; nothing of any row stays.
 *
 * Threads: prepare, write, read and row_free run on a worker-pool thread with a blocking
 * PGconn (lw_db_connect_blocking) the caller owns; they must not touch the loop or anything
 * the loop thread uses. committed runs on the loop thread, after COMMIT, once per batch.
 * Keys are never logged and never put in an error message. */
#ifndef TN_DEVPARTS_H
#define TN_DEVPARTS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cluster/config.h"
#include "cluster/err.h"
#include "cluster/runtime.h"
#include "tenant/tenant.h"

/* What a batch is about: one application of one tenant. */
typedef struct tn_devpart_env {
    const lw_config_t *cfg; /* the process's configuration */
    const tn_tenant_t *tenant;
    const char *schema; /* the tenant's schema, quoted for SQL ("\"t_acme\"") */
    const char *application_id;
    bool keys;    /* the caller holds RIGHT_APPLICATION_DEVICES_WRITE_KEYS (import)
                     or ..._READ_KEYS and asked for keys (export) */
    bool dry_run; /* write checks everything it can and writes nothing */
} tn_devpart_env_t;

/* One device of a batch, as the caller hands it to every part. */
typedef struct tn_devpart_dev {
    const char *device_id;
    const json_t *end_device; /* the template merged with the import's fallbacks */
    const char *const *paths; /* its field mask */
    size_t npaths;
} tn_devpart_dev_t;

/* A part's answer for one row of a batch. */
typedef enum tn_devpart_outcome {
    TN_DEVPART_CREATED = 0,   /* the part had no row for this device; it has now */
    TN_DEVPART_UPDATED = 1,   /* the part's row changed */
    TN_DEVPART_UNCHANGED = 2, /* the part's row already held exactly this */
    TN_DEVPART_FAILED = 3,    /* refused (err says why); written by no later part */
} tn_devpart_outcome_t;

typedef struct tn_devpart_result {
    tn_devpart_outcome_t outcome;
    lw_err_t err; /* FAILED: the error the IS's create answers for a JoinEUI/DevEUI pair
                     registered in any tenant, tenant_entity_limit (max_end_devices), a key
                     the caller may not write, ...; "field" attribute naming the path */
} tn_devpart_result_t;

typedef struct tn_devpart {
    const char *name;         /* "is", "js", "ns", "as" */
    const char *const *paths; /* the field-mask prefixes this part owns, NULL-terminated
                                 ("ids", "name", "root_keys", "session", ...); a prefix
                                 owns itself and every path under it */
    /* Validates dev's paths of this part and returns the part's row, ready to write, or NULL
     * with err (a part with nothing to do for dev returns a row that writes nothing). */
    void *(*prepare)(const tn_devpart_env_t *env, const tn_devpart_dev_t *dev, lw_err_t *err);
    /* Writes rows[0..n) (of devs[0..n)) inside c's open transaction and fills res[0..n).
     * Returns 0, or -1 with err when the batch as a whole cannot be written. */
    int (*write)(const tn_devpart_env_t *env, PGconn *c, const tn_devpart_dev_t *devs,
                 void *const *rows, size_t n, tn_devpart_result_t *res, lw_err_t *err);
    /* After COMMIT, on the loop: tells this part's owners about the rows written (res[i] not
     * FAILED and not UNCHANGED). May be NULL. */
    void (*committed)(lw_rt_t *rt, const tn_devpart_env_t *env, const tn_devpart_dev_t *devs,
                      void *const *rows, const tn_devpart_result_t *res, size_t n);
    void (*row_free)(void *row);
    /* Export: adds this part's fields of devices ids[0..n) to out[i] (JSON objects, as
     * The Things Stack's EndDevice), keys only when env->keys; a device this part has no row
     * for is left alone. Returns 0, or -1 with err. */
    int (*read)(const tn_devpart_env_t *env, PGconn *c, const char *const *ids, size_t n,
                json_t *const *out, lw_err_t *err);
} tn_devpart_t;

/* Pool thread: runs sql on c with $1 = application_id and $2 = rows as compact JSON (the
 * batch as a json_to_recordset input); the JSON text, which may carry keys, is wiped before
 * it is freed. Returns the result (PQclear it), or NULL with err. */
PGresult *tn_devpart_query_rows(PGconn *c, const char *sql, const char *application_id,
                                const json_t *rows, lw_err_t *err);

#define TN_DEVPARTS_MAX 8

/* Registers a part (composition root, before components start). Returns -1 when full or
 * when a part of that name is there already. */
int tn_devparts_register(const tn_devpart_t *part);
/* The registered parts in order of registration; *n of them. */
const tn_devpart_t *const *tn_devparts(size_t *n);
/* The part that owns path (the longest prefix match), or NULL. */
const tn_devpart_t *tn_devparts_owner(const char *path);

/* Helpers for the parts (pure). */
/* Does dev's mask name `prefix` itself or a path under it ("session" for "session.dev_addr")? */
bool tn_devpart_masked(const tn_devpart_dev_t *dev, const char *prefix);
/* The value at a dotted path of an end device; NULL when absent or null. */
const json_t *tn_devpart_get(const json_t *end_device, const char *path);
/* Sets the value at dotted `path` of dst to src's (objects made on the way), or removes it
 * when src has none there. */
void tn_devpart_copy(json_t *dst, const json_t *src, const char *path);
/* A PostgreSQL text[] literal "{a,b}" of n ID-like strings (device IDs, EUIs: nothing to
 * quote); malloc'd. */
char *tn_devpart_pg_array(const char *const *v, size_t n);
/* Looking rows up by device ID: ids[0..n) → their positions (a new JSON object), and the
 * position of id in it (-1: none). */
json_t *tn_devpart_positions(const char *const *ids, size_t n);
long tn_devpart_position(const json_t *positions, const char *id);
/* Merges src's members into dst, objects member by member (export: each part's fields). */
void tn_devpart_merge(json_t *dst, const json_t *src);
/* Drops a leading "end_device." from err's "field" attribute: a part's errors name the path
 * of the template ("session.dev_addr"), as the API's name it in the request's body. */
void tn_devpart_err_path(lw_err_t *err);

#endif
