/* PostgreSQL for the AS worker: one row read when a device is first needed (never per
 * uplink), and the few writes the data path makes (a join's pending session, its switch to
 * active), each one statement, atomic on its row. Keys inside the session JSON are wrapped
 * with as.key-encryption-key (session.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as/as_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"

int as_store_schema(const char *tenant, char *out, size_t len)
{
    char schema[TN_SCHEMA_MAX + 1];
    tn_schema_name(tenant, schema);
    return lw_db_quote_ident(schema, out, len);
}

typedef struct load_op {
    as_row_cb cb;
    void *arg;
} load_op_t;

static json_t *col_json(const PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col))
        return NULL;
    return json_loads(PQgetvalue(res, 0, col), 0, NULL);
}

static void loaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    load_op_t *op = arg;
    as_row_t row;
    memset(&row, 0, sizeof row);
    if (err == NULL && PQntuples(res) == 1) {
        row.found = !PQgetisnull(res, 0, 0);
        row.device = col_json(res, 0);
        row.session = col_json(res, 1);
        row.pending_session = col_json(res, 2);
        row.link = col_json(res, 3);
    }
    op->cb(op->arg, err != NULL ? NULL : &row, err);
    json_decref(row.device);
    json_decref(row.session);
    json_decref(row.pending_session);
    json_decref(row.link);
    free(op);
}

int as_store_load(as_t *as, const char *tenant, const char *app, const char *dev, as_row_cb cb,
                  void *arg)
{
    char q[TN_SCHEMA_MAX + 8], sql[512];
    if (as_store_schema(tenant, q, sizeof q) != 0)
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT d.device, d.session, d.pending_session, l.link FROM (SELECT 1) x "
             "LEFT JOIN %s.as_devices d ON d.application_id = $1 AND d.device_id = $2 "
             "LEFT JOIN %s.as_links l ON l.application_id = $1",
             q, q);
    load_op_t *op = lw_calloc(1, sizeof *op);
    op->cb = cb;
    op->arg = arg;
    const char *params[2] = {app, dev};
    if (lw_db_query(as->db, sql, 2, params, loaded, op) != 0) {
        free(op);
        return -1;
    }
    return 0;
}

typedef struct write_op {
    as_done_cb cb;
    void *arg;
} write_op_t;

static void written(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    write_op_t *op = arg;
    op->cb(op->arg, err);
    free(op);
}

static int run(as_t *as, const char *sql, int n, const char *const *params, as_done_cb cb,
               void *arg)
{
    write_op_t *op = lw_calloc(1, sizeof *op);
    op->cb = cb;
    op->arg = arg;
    if (lw_db_query(as->db, sql, n, params, written, op) != 0) {
        free(op);
        return -1;
    }
    return 0;
}

int as_store_pending_session(as_t *as, const char *tenant, const char *app, const char *dev,
                             const json_t *pending, as_done_cb cb, void *arg)
{
    char q[TN_SCHEMA_MAX + 8], sql[320];
    if (as_store_schema(tenant, q, sizeof q) != 0)
        return -1;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.as_devices (application_id, device_id, pending_session) VALUES "
             "($1, $2, $3::jsonb) ON CONFLICT (application_id, device_id) DO UPDATE SET "
             "pending_session = EXCLUDED.pending_session, gen = as_devices.gen + 1, "
             "updated_at = now()",
             q);
    char *text = json_dumps(pending, JSON_COMPACT);
    const char *params[3] = {app, dev, text};
    int rc = run(as, sql, 3, params, cb, arg);
    free(text);
    return rc;
}

int as_store_activate(as_t *as, const char *tenant, const char *app, const char *dev,
                      const char *key_id_b64, as_done_cb cb, void *arg)
{
    char q[TN_SCHEMA_MAX + 8], sql[400];
    if (as_store_schema(tenant, q, sizeof q) != 0)
        return -1;
    snprintf(sql, sizeof sql,
             "UPDATE %s.as_devices SET session = pending_session, pending_session = NULL, "
             "gen = gen + 1, updated_at = now() WHERE application_id = $1 AND device_id = $2 "
             "AND pending_session->'keys'->>'session_key_id' = $3",
             q);
    const char *params[3] = {app, dev, key_id_b64};
    return run(as, sql, 3, params, cb, arg);
}

void as_store_ignore(void *arg, const lw_err_t *err)
{
    (void)arg;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "as", "session switch not stored (the next load repeats it)", "error",
               err->message, NULL);
}
