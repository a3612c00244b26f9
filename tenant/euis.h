/* The deployment-wide registry of EUIs: which tenant, and which of its entities, owns a
 * gateway EUI or a (JoinEUI, DevEUI) pair. An EUI belongs to at most one tenant across the
 * deployment, so the indexes live in lw_control (migrations/control/0002_entity_indexes.sql),
 * not in a tenant schema. The Gateway Server asks it which tenant a connecting gateway
 * belongs to, the Join Server which device a join-request is for; neither links the server
 * that registers the entities.
 *
 * Writers: the Identity Server inserts and deletes the rows in the same transaction as the
 * tenant's own gateway and device rows (DESIGN.md §4), and they go with their tenant
 * (ON DELETE CASCADE). This header is the read side. For gateways the index also carries
 * what the Gateway Server needs to serve one (frequency plans, scheduling and location
 * settings, the antenna's location: lw_control.gateways), so that the GS reads no IS table.
 *
 * Every lookup is one query on the pool: there is no cache yet. The Gateway Server, which
 * looks a gateway up at every connection, will add one here (invalidated by the entity
 * events on lw.events), with the same callbacks.
 *
 * Next here: DevAddr → candidate sessions, the Network Server matcher's index (DESIGN.md
 * §3), with the same contract. */
#ifndef TN_EUIS_H
#define TN_EUIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/db.h"
#include "cluster/err.h"
#include "tenant/ids.h"

/* The Things Stack's frequency plan IDs ("EU_863_870_TTN") a gateway may list. */
#define TN_GATEWAY_MAX_FREQUENCY_PLANS 8
#define TN_FREQUENCY_PLAN_ID_MAX       64

/* A gateway antenna's location (The Things Stack's Location). */
typedef struct tn_gateway_location {
    double latitude, longitude; /* degrees */
    int32_t altitude;           /* metres */
    int32_t accuracy;           /* metres; 0: unknown */
    char source[40];            /* "SOURCE_REGISTRY", "SOURCE_GPS", ... */
} tn_gateway_location_t;

/* A registered gateway as the Gateway Server needs it: who owns it, and its settings as the
 * Identity Server stores them (The Things Stack's Gateway fields of the same names),
 * indexed in lw_control.gateways (control migration 0005) in the same transaction. */
typedef struct tn_gateway_ref {
    char tenant_id[TN_ID_MAX + 1];
    char gateway_id[TN_ID_MAX + 1];
    bool has_eui;
    uint64_t eui;
    /* frequency_plan_ids (or the deprecated frequency_plan_id): the first is the gateway's
     * plan, others are for its further concentrators. n_frequency_plans 0: none set. */
    size_t n_frequency_plans;
    char frequency_plan_ids[TN_GATEWAY_MAX_FREQUENCY_PLANS][TN_FREQUENCY_PLAN_ID_MAX + 1];
    bool schedule_downlink_late;
    bool enforce_duty_cycle;
    int64_t schedule_anytime_delay_ms; /* 0: not set (TTS then uses its default) */
    bool update_location_from_status;
    bool location_public;
    bool status_public;
    bool require_authenticated_connection;
    bool has_antenna_gain; /* antennas[0].gain, dBi */
    float antenna_gain;
    bool has_location; /* antennas[0].location */
    tn_gateway_location_t location;
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

/* Which tenant and gateway own gateway EUI `eui`, with the gateway's settings? Returns 0 and
 * calls cb once later, or -1 (cb never called) when the query cannot be issued (pool
 * stopped). */
int tn_gateway_eui_lookup(lw_db_t *db, uint64_t eui, tn_gateway_lookup_cb cb, void *arg);

/* The same answer for gateway `gateway_id` of tenant `tenant_id` (registered with or without
 * an EUI; ref NULL when there is no such live gateway). Same contract. */
int tn_gateway_id_lookup(lw_db_t *db, const char *tenant_id, const char *gateway_id,
                         tn_gateway_lookup_cb cb, void *arg);

/* Which tenant, application and device own the (JoinEUI, DevEUI) pair? Same contract. */
int tn_device_euis_lookup(lw_db_t *db, uint64_t join_eui, uint64_t dev_eui, tn_device_lookup_cb cb,
                          void *arg);

#endif
