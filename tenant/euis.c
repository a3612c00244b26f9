/* The deployment-wide registry of EUIs: lookups in lw_control.gateway_euis and
 * lw_control.end_device_euis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tenant/euis.h"

#include "cluster/mem.h"

typedef struct euis_lookup {
    tn_gateway_lookup_cb gw_cb; /* one of the two is set */
    tn_device_lookup_cb dev_cb;
    void *arg;
} euis_lookup_t;

/* The indexes hold EUIs as 16 uppercase hex digits. */
static void euis_format(uint64_t eui, char out[17])
{
    snprintf(out, 17, "%016llX", (unsigned long long)eui);
}

static void euis_copy(char *dst, size_t cap, const PGresult *res, int col)
{
    snprintf(dst, cap, "%s", PQgetvalue(res, 0, col));
}

/* The columns of a gateway lookup, owner first, then lw_control.gateways' settings (NULL
 * when an EUI has no index row yet: the defaults). */
#define GW_COLS(owner)                                                                             \
    owner ".tenant_id, " owner ".gateway_id, " owner ".eui, "                                      \
          "array_to_json(g.frequency_plan_ids)::text, g.schedule_downlink_late, "                  \
          "g.enforce_duty_cycle, g.schedule_anytime_delay_ms, g.update_location_from_status, "     \
          "g.location_public, g.status_public, g.require_authenticated_connection, "               \
          "g.antenna_gain, g.latitude, g.longitude, g.altitude, g.accuracy, g.location_source"

static bool euis_bool(const PGresult *res, int col)
{
    return !PQgetisnull(res, 0, col) && PQgetvalue(res, 0, col)[0] == 't';
}

static void euis_gateway_row(tn_gateway_ref_t *ref, const PGresult *res)
{
    euis_copy(ref->tenant_id, sizeof ref->tenant_id, res, 0);
    euis_copy(ref->gateway_id, sizeof ref->gateway_id, res, 1);
    if (!PQgetisnull(res, 0, 2)) {
        char *end;
        const char *e = PQgetvalue(res, 0, 2);
        unsigned long long v = strtoull(e, &end, 16);
        if (end != e && *end == '\0') {
            ref->has_eui = true;
            ref->eui = (uint64_t)v;
        }
    }
    if (!PQgetisnull(res, 0, 3)) {
        json_t *a = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
        for (size_t i = 0;
             i < json_array_size(a) && ref->n_frequency_plans < TN_GATEWAY_MAX_FREQUENCY_PLANS;
             i++) {
            const char *fp = json_string_value(json_array_get(a, i));
            if (fp != NULL && strlen(fp) <= TN_FREQUENCY_PLAN_ID_MAX)
                snprintf(ref->frequency_plan_ids[ref->n_frequency_plans++],
                         sizeof ref->frequency_plan_ids[0], "%s", fp);
        }
        json_decref(a);
    }
    ref->schedule_downlink_late = euis_bool(res, 4);
    ref->enforce_duty_cycle = euis_bool(res, 5);
    if (!PQgetisnull(res, 0, 6))
        ref->schedule_anytime_delay_ms = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    ref->update_location_from_status = euis_bool(res, 7);
    ref->location_public = euis_bool(res, 8);
    ref->status_public = euis_bool(res, 9);
    ref->require_authenticated_connection = euis_bool(res, 10);
    if (!PQgetisnull(res, 0, 11)) {
        ref->has_antenna_gain = true;
        ref->antenna_gain = strtof(PQgetvalue(res, 0, 11), NULL);
    }
    if (!PQgetisnull(res, 0, 12)) {
        ref->has_location = true;
        ref->location.latitude = strtod(PQgetvalue(res, 0, 12), NULL);
        ref->location.longitude = strtod(PQgetvalue(res, 0, 13), NULL);
        ref->location.altitude = (int32_t)strtol(PQgetvalue(res, 0, 14), NULL, 10);
        ref->location.accuracy = (int32_t)strtol(PQgetvalue(res, 0, 15), NULL, 10);
        euis_copy(ref->location.source, sizeof ref->location.source, res, 16);
    }
}

static void euis_lookup_done(void *arg, const PGresult *res, const lw_err_t *err)
{
    euis_lookup_t *l = arg;
    bool failed = err != NULL && err->def != NULL;
    bool found = !failed && PQntuples(res) == 1;
    if (l->dev_cb != NULL) {
        tn_device_ref_t ref;
        memset(&ref, 0, sizeof ref);
        if (found) {
            euis_copy(ref.tenant_id, sizeof ref.tenant_id, res, 0);
            euis_copy(ref.application_id, sizeof ref.application_id, res, 1);
            euis_copy(ref.device_id, sizeof ref.device_id, res, 2);
        }
        l->dev_cb(l->arg, found ? &ref : NULL, failed ? err : NULL);
    } else {
        tn_gateway_ref_t ref;
        memset(&ref, 0, sizeof ref);
        if (found)
            euis_gateway_row(&ref, res);
        l->gw_cb(l->arg, found ? &ref : NULL, failed ? err : NULL);
    }
    free(l);
}

static int euis_query(lw_db_t *db, euis_lookup_t *proto, const char *sql, int n,
                      const char *const *params)
{
    euis_lookup_t *l = lw_malloc(sizeof *l);
    *l = *proto;
    if (lw_db_query(db, sql, n, params, euis_lookup_done, l) != 0) {
        free(l);
        return -1;
    }
    return 0;
}

int tn_gateway_eui_lookup(lw_db_t *db, uint64_t eui, tn_gateway_lookup_cb cb, void *arg)
{
    char e[17];
    euis_format(eui, e);
    const char *p[1] = {e};
    euis_lookup_t l = {.gw_cb = cb, .arg = arg};
    return euis_query(
        db, &l,
        "SELECT " GW_COLS("e") " FROM lw_control.gateway_euis e "
                               "LEFT JOIN lw_control.gateways g ON g.tenant_id = e.tenant_id AND "
                               "g.gateway_id = e.gateway_id WHERE e.eui = $1",
        1, p);
}

int tn_gateway_id_lookup(lw_db_t *db, const char *tenant_id, const char *gateway_id,
                         tn_gateway_lookup_cb cb, void *arg)
{
    const char *p[2] = {tenant_id, gateway_id};
    euis_lookup_t l = {.gw_cb = cb, .arg = arg};
    return euis_query(db, &l,
                      "SELECT " GW_COLS("g") " FROM lw_control.gateways g "
                                             "WHERE g.tenant_id = $1 AND g.gateway_id = $2",
                      2, p);
}

int tn_device_euis_lookup(lw_db_t *db, uint64_t join_eui, uint64_t dev_eui, tn_device_lookup_cb cb,
                          void *arg)
{
    char j[17], d[17];
    euis_format(join_eui, j);
    euis_format(dev_eui, d);
    const char *p[2] = {j, d};
    euis_lookup_t l = {.dev_cb = cb, .arg = arg};
    return euis_query(db, &l,
                      "SELECT tenant_id, application_id, device_id FROM lw_control.end_device_euis "
                      "WHERE join_eui = $1 AND dev_eui = $2",
                      2, p);
}
