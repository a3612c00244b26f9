/* One way to write an API operation: a request carried through its statements on the loop.
 *
 * An operation declares its own state struct whose first member is an lw_api_op_t, and
 * allocates it with lw_api_op_new(sizeof(struct my_op), ...). The helpers below then run
 * it: a transaction (lw_api_begin), a chain of statements each with its continuation
 * (lw_api_query), blocking or CPU-heavy work off the loop (lw_api_work), and exactly one
 * answer (lw_api_reply commits first; lw_api_fail rolls back first). Whichever answers also
 * frees the state: after lw_api_reply or lw_api_fail the op is gone.
 *
 *     typedef struct get_op {
 *         lw_api_op_t api;
 *         char id[40];
 *     } get_op_t;
 *
 *     static void got(lw_api_op_t *op, const PGresult *res)
 *     {
 *         if (PQntuples(res) == 0)
 *             lw_api_fail_not_found(op, "thing", ((get_op_t *)op)->id);
 *         else
 *             lw_api_reply(op, 200, render(res));
 *     }
 *
 * tenant/api.c is a small complete example; components/is/ one with authentication.
 *
 * Errors: a statement that cannot be queued fails the op with db_unavailable; a failed
 * statement with its error, a unique violation mapped to already_exists by the messages
 * the op registered with lw_api_on_conflict. An answer to a client that went away is
 * dropped by the HTTP server; the op runs to its end and is freed the same way.
 *
 * The pure helpers (field masks, paging, ordering, RFC 3339 times, body keys, conflict
 * mapping) are in api_codec.h; both are unit tested in tests/unit/cluster/test_api.c. */
#ifndef LW_API_H
#define LW_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cluster/api_codec.h"
#include "cluster/db.h"
#include "cluster/err.h"
#include "cluster/http.h"
#include "cluster/work.h"

/* ---- the operation ----------------------------------------------------------------------- */

typedef struct lw_api_op lw_api_op_t;

/* A statement's continuation: res is the statement's result (NULL after lw_api_begin). */
typedef void (*lw_api_step_fn)(lw_api_op_t *op, const PGresult *res);
typedef void (*lw_api_cont_fn)(lw_api_op_t *op);
/* Runs off the loop: touches only the op's own state (no loop, no db, no request). */
typedef int (*lw_api_work_fn)(lw_api_op_t *op);
/* Back on the loop with what the work function returned. */
typedef void (*lw_api_worked_fn)(lw_api_op_t *op, int rc);

/* What the operations of one component share (copied into each op; the pointers are
 * borrowed and must outlive it). */
typedef struct lw_api_env {
    lw_db_t *db;
    lw_work_pool_t *work; /* lw_rt_work(rt): where lw_api_work runs (NULL: no work) */
    const char *module;   /* log lines: "is", "tenant" */
} lw_api_env_t;

struct lw_api_op {
    lw_api_env_t env;
    lw_http_req_t *req;
    lw_db_tx_t *tx; /* the open transaction, NULL outside one */
    /* Optional, set by the operation: */
    void (*destroy)(lw_api_op_t *op);   /* releases what the state owns (not the state) */
    void (*succeeded)(lw_api_op_t *op); /* after a successful commit, before the answer */
    const char *tenant_id;              /* for log lines */
    /* The pipeline's own: */
    lw_api_step_fn next;
    lw_api_cont_fn cont;
    lw_api_work_fn work_fn;
    lw_api_worked_fn worked;
    int work_rc;
    int status;
    json_t *result;
    int nconflicts;
    lw_api_conflict_t conflicts[LW_API_CONFLICTS];
};

/* Allocates a zeroed state of `size` bytes (>= sizeof(lw_api_op_t)) for req. Never NULL
 * (allocation failure is fatal, cluster/mem.h). */
void *lw_api_op_new(size_t size, const lw_api_env_t *env, lw_http_req_t *req);

/* Answers err (rolling back an open transaction first) and frees the op. Server errors
 * (5xx) are logged. */
void lw_api_fail(lw_api_op_t *op, const lw_err_t *err);
/* lw_api_fail with invalid_field "invalid `<field>`: <why>". */
void lw_api_fail_invalid(lw_api_op_t *op, const char *field, const char *why);
/* lw_api_fail with not_found "<what> `<id>` not found" (attribute "id"). */
void lw_api_fail_not_found(lw_api_op_t *op, const char *what, const char *id);
/* lw_api_fail with `def` and a message. */
void lw_api_fail_with(lw_api_op_t *op, const lw_err_def_t *def, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Commits the open transaction, if any; then op->succeeded, then answers status with body
 * (reference taken) and frees the op. A failed commit answers its error instead. */
void lw_api_reply(lw_api_op_t *op, int status, json_t *body);

/* One statement (in the op's transaction when one is open); next(op, res) on success. */
void lw_api_query(lw_api_op_t *op, const char *sql, int nparams, const char *const *params,
                  lw_api_step_fn next);
/* BEGIN; then next(op, NULL). */
void lw_api_begin(lw_api_op_t *op, lw_api_step_fn next);
/* For a transaction step that is not a statement (a migration, a hook): returns the
 * lw_db_done_cb to give it (with op as its argument), which fails the op on error and calls
 * next(op) on success. */
lw_db_done_cb lw_api_then(lw_api_op_t *op, lw_api_cont_fn next);
/* Answers the registered conflicts for a unique violation (see lw_api_conflict_t). The
 * message is formatted; id may be NULL. At most LW_API_CONFLICTS; a later registration
 * with the same constraint replaces the earlier one. */
void lw_api_on_conflict(lw_api_op_t *op, const char *constraint, const char *id, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Runs fn(op) off the loop (the env's worker pool), then worked(op, rc) on the loop. A job
 * that cannot be queued fails the op with the pool's error (work_queue_full: 503), one that
 * is canceled (the pool closing) with unavailable. */
void lw_api_work(lw_api_op_t *op, lw_api_work_fn fn, lw_api_worked_fn worked);

/* Runs fn(arg) off the loop (the env's worker pool), then done(arg, canceled) on the loop.
 * Returns 0 (done runs exactly once, later) or -1 with err (work_queue_full,
 * work_pool_closed; internal without a pool; done never runs). For work that belongs to
 * no request (a tenant creation hook); requests use lw_api_work. */
int lw_api_offload(const lw_api_env_t *env, void (*fn)(void *arg),
                   void (*done)(void *arg, bool canceled), void *arg, lw_err_t *err);

/* Answers one page: X-Total-Count from column 0 of res (a lw_api_page_sql result) and
 * {"<key>": [render(op, res, row) for rows whose column 1 is not NULL]}. The Things Stack
 * omits an empty list; keep_empty answers "<key>": [] instead. */
typedef json_t *(*lw_api_render_fn)(lw_api_op_t *op, const PGresult *res, int row);
void lw_api_reply_page(lw_api_op_t *op, const PGresult *res, const char *key,
                       lw_api_render_fn render, bool keep_empty);

#endif
