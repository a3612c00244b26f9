/* The deployment-wide registry of EUIs: which tenant, and which of its entities, owns a
 * gateway EUI or a (JoinEUI, DevEUI) pair. An EUI belongs to at most one tenant across the
 * deployment, so the indexes live in lw_control (migrations/control/0002_entity_indexes.sql),
 * not in a tenant schema. The Gateway Server asks it which tenant a connecting gateway
 * belongs to, the Join Server which device a join-request is for; neither links the server
 * that registers the entities.
 *
 * Writers: the Identity Server inserts and deletes the rows in the same transaction as the
 * tenant's own gateway and device rows (DESIGN.md §4), and they go with their tenant
 * (ON DELETE CASCADE). This header is the read side.
 *
 * Every lookup is one query on the pool: there is no cache yet. The Gateway Server, which
 * looks a gateway up at every connection, will add one here (invalidated by the entity
 * events on lw.events), with the same callbacks.
 *
 * Next here: DevAddr → candidate sessions, the Network Server matcher's index (DESIGN.md
 * §3), with the same contract. */
#ifndef TN_EUIS_H
#define TN_EUIS_H

#include <stdint.h>

#include "cluster/db.h"
#include "cluster/err.h"
#include "tenant/ids.h"

typedef struct tn_gateway_ref {
    char tenant_id[TN_ID_MAX + 1];
    char gateway_id[TN_ID_MAX + 1];
} tn_gateway_ref_t;

typedef struct tn_device_ref {
    char tenant_id[TN_ID_MAX + 1];
    char application_id[TN_ID_MAX + 1];
    char device_id[TN_ID_MAX + 1];
} tn_device_ref_t;

/* Answers of a lookup, called exactly once, on the loop. ref is NULL when the EUI is not
 * registered (err is NULL then); on a database error ref is NULL and err is set (e.g.
 * db_unavailable). Both are valid during the call only. */
typedef void (*tn_gateway_lookup_cb)(void *arg, const tn_gateway_ref_t *ref, const lw_err_t *err);
typedef void (*tn_device_lookup_cb)(void *arg, const tn_device_ref_t *ref, const lw_err_t *err);

/* Which tenant and gateway own gateway EUI `eui`? Returns 0 and calls cb once later, or -1
 * (cb never called) when the query cannot be issued (pool stopped). */
int tn_gateway_eui_lookup(lw_db_t *db, uint64_t eui, tn_gateway_lookup_cb cb, void *arg);

/* Which tenant, application and device own the (JoinEUI, DevEUI) pair? Same contract. */
int tn_device_euis_lookup(lw_db_t *db, uint64_t join_eui, uint64_t dev_eui, tn_device_lookup_cb cb,
                          void *arg);

#endif
