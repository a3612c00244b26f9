/* The API operation pipeline (api.h): transactions, statements and their continuations,
 * work off the loop, one answer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/api.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* ---- the operation ----------------------------------------------------------------------- */

void *lw_api_op_new(size_t size, const lw_api_env_t *env, lw_http_req_t *req)
{
    lw_api_op_t *op = lw_calloc(1, size);
    op->env = *env;
    op->req = req;
    return op;
}

static void op_free(lw_api_op_t *op)
{
    json_decref(op->result);
    if (op->destroy != NULL)
        op->destroy(op);
    free(op);
}

void lw_api_fail(lw_api_op_t *op, const lw_err_t *err)
{
    if (op->tx != NULL) {
        lw_db_tx_rollback(op->tx, NULL, NULL);
        op->tx = NULL;
    }
    if (err->def == NULL || err->def->http_status >= 500)
        lw_log(LW_LOG_WARN, op->env.module, "request failed", "tenant",
               op->tenant_id != NULL ? op->tenant_id : "", "path", lw_http_path(op->req), "error",
               lw_err_name(err), "message", err->message, NULL);
    lw_http_respond_err(op->req, err);
    op_free(op);
}

void lw_api_fail_with(lw_api_op_t *op, const lw_err_def_t *def, const char *fmt, ...)
{
    lw_err_t e;
    va_list ap;
    va_start(ap, fmt);
    lw_err_vset(&e, def, fmt, ap);
    va_end(ap);
    lw_api_fail(op, &e);
}

void lw_api_fail_invalid(lw_api_op_t *op, const char *field, const char *why)
{
    lw_err_t e;
    lw_api_invalid(&e, field, "%s", why);
    lw_api_fail(op, &e);
}

void lw_api_fail_not_found(lw_api_op_t *op, const char *what, const char *id)
{
    lw_err_t e;
    lw_err_set(&e, &lw_err_not_found, "%s `%s` not found", what, id);
    lw_err_attr(&e, "id", id);
    lw_api_fail(op, &e);
}

static void op_answer(lw_api_op_t *op)
{
    if (op->succeeded != NULL)
        op->succeeded(op);
    lw_http_respond_json(op->req, op->status, op->result);
    op->result = NULL;
    op_free(op);
}

static void op_committed(void *arg, const lw_err_t *err)
{
    lw_api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        json_decref(op->result);
        op->result = NULL;
        lw_api_fail(op, err);
        return;
    }
    op_answer(op);
}

void lw_api_reply(lw_api_op_t *op, int status, json_t *body)
{
    json_decref(op->result);
    op->result = body;
    op->status = status;
    lw_db_tx_t *tx = op->tx;
    op->tx = NULL;
    if (tx == NULL) {
        op_answer(op);
        return;
    }
    if (lw_db_tx_commit(tx, op_committed, op) != 0) {
        json_decref(op->result);
        op->result = NULL;
        lw_api_fail_with(op, &lw_err_db_unavailable, "cannot commit: database unavailable");
    }
}

static void op_result(void *arg, const PGresult *res, const lw_err_t *err)
{
    lw_api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        if (err->def == &lw_err_db_query)
            lw_log(LW_LOG_ERROR, op->env.module, "query failed", "tenant",
                   op->tenant_id != NULL ? op->tenant_id : "", "error", err->message, NULL);
        lw_err_t e;
        lw_api_conflict_map(op->conflicts, op->nconflicts, err, &e);
        lw_api_fail(op, &e);
        return;
    }
    op->next(op, res);
}

void lw_api_query(lw_api_op_t *op, const char *sql, int nparams, const char *const *params,
                  lw_api_step_fn next)
{
    op->next = next;
    int rc = op->tx != NULL ? lw_db_tx_query(op->tx, sql, nparams, params, op_result, op)
                            : lw_db_query(op->env.db, sql, nparams, params, op_result, op);
    if (rc != 0)
        lw_api_fail_with(op, &lw_err_db_unavailable, "database unavailable");
}

static void op_begun(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    lw_api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        lw_api_fail(op, err);
        return;
    }
    op->tx = tx;
    op->next(op, NULL);
}

void lw_api_begin(lw_api_op_t *op, lw_api_step_fn next)
{
    op->next = next;
    if (lw_db_begin(op->env.db, op_begun, op) != 0)
        lw_api_fail_with(op, &lw_err_db_unavailable, "database unavailable");
}

static void op_done(void *arg, const lw_err_t *err)
{
    lw_api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        lw_err_t e;
        lw_api_conflict_map(op->conflicts, op->nconflicts, err, &e);
        lw_api_fail(op, &e);
        return;
    }
    op->cont(op);
}

lw_db_done_cb lw_api_then(lw_api_op_t *op, lw_api_cont_fn next)
{
    op->cont = next;
    return op_done;
}

void lw_api_on_conflict(lw_api_op_t *op, const char *constraint, const char *id, const char *fmt,
                        ...)
{
    const char *c = constraint != NULL ? constraint : "";
    int slot = op->nconflicts;
    for (int i = 0; i < op->nconflicts; i++)
        if (strcmp(op->conflicts[i].constraint, c) == 0)
            slot = i;
    if (slot >= LW_API_CONFLICTS)
        return;
    lw_api_conflict_t *k = &op->conflicts[slot];
    snprintf(k->constraint, sizeof k->constraint, "%s", c);
    snprintf(k->id, sizeof k->id, "%s", id != NULL ? id : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->message, sizeof k->message, fmt, ap);
    va_end(ap);
    if (slot == op->nconflicts)
        op->nconflicts++;
}

/* ---- work off the loop ------------------------------------------------------------------- */

/* A job: the work and its completion, as lw_work_submit carries one argument. */
typedef struct offload {
    void (*fn)(void *arg);
    void (*done)(void *arg, bool canceled);
    void *arg;
} offload_t;

static void offload_run(void *arg)
{
    offload_t *o = arg;
    o->fn(o->arg);
}

static void offload_done(void *arg, lw_work_status_t status)
{
    offload_t *o = arg;
    void (*done)(void *, bool) = o->done;
    void *darg = o->arg;
    free(o);
    done(darg, status != LW_WORK_DONE);
}

/* The one place that knows how work leaves the loop: the runtime's worker pool
 * (cluster/work.h: bounded queue, results on the loop). */
int lw_api_offload(const lw_api_env_t *env, void (*fn)(void *arg),
                   void (*done)(void *arg, bool canceled), void *arg, lw_err_t *err)
{
    if (env->work == NULL)
        return lw_err_set(err, &lw_err_internal, "no worker pool");
    offload_t *o = lw_calloc(1, sizeof *o);
    o->fn = fn;
    o->done = done;
    o->arg = arg;
    if (lw_work_submit(env->work, offload_run, offload_done, o, NULL, err) != 0) {
        free(o);
        return -1;
    }
    return 0;
}

static void work_run(void *arg)
{
    lw_api_op_t *op = arg;
    op->work_rc = op->work_fn(op);
}

static void work_done(void *arg, bool canceled)
{
    lw_api_op_t *op = arg;
    if (canceled) {
        lw_api_fail_with(op, &lw_err_unavailable, "request cancelled");
        return;
    }
    op->worked(op, op->work_rc);
}

void lw_api_work(lw_api_op_t *op, lw_api_work_fn fn, lw_api_worked_fn worked)
{
    op->work_fn = fn;
    op->worked = worked;
    lw_err_t e;
    lw_err_clear(&e);
    if (lw_api_offload(&op->env, work_run, work_done, op, &e) != 0) {
        if (e.def == NULL || e.def->http_status < 500)
            lw_err_set(&e, &lw_err_unavailable, "cannot queue work");
        lw_api_fail(op, &e);
    }
}

/* ---- pages ------------------------------------------------------------------------------- */

void lw_api_reply_page(lw_api_op_t *op, const PGresult *res, const char *key,
                       lw_api_render_fn render, bool keep_empty)
{
    lw_http_add_header(op->req, "X-Total-Count", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "0");
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        if (!PQgetisnull(res, i, 1))
            json_array_append_new(arr, render(op, res, i));
    json_t *o = json_object();
    if (keep_empty || json_array_size(arr) > 0)
        json_object_set_new(o, key, arr);
    else
        json_decref(arr);
    lw_api_reply(op, 200, o);
}
