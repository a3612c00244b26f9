/* The deployment-wide registry of EUIs: lookups in lw_control.gateway_euis and
 * lw_control.end_device_euis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (found) {
            euis_copy(ref.tenant_id, sizeof ref.tenant_id, res, 0);
            euis_copy(ref.gateway_id, sizeof ref.gateway_id, res, 1);
        }
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
        db, &l, "SELECT tenant_id, gateway_id FROM lw_control.gateway_euis WHERE eui = $1", 1, p);
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
