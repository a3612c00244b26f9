/* PostgreSQL: an asynchronous libpq connection pool driven from the libuv loop.
 *
 * No query blocks the loop: connections are non-blocking, their sockets are polled with
 * uv_poll, and results arrive in callbacks on the loop thread. Queries are parameterised
 * only (text parameters); identifiers are quoted with lw_db_quote_ident. When the server
 * goes away the pool reconnects with exponential backoff (100 ms doubling to 5 s) and logs
 * one line per state change (connecting, connected, lost). Queries issued while no
 * connection is up wait in a bounded queue; those still waiting after `db.query-timeout`
 * fail with db_unavailable.
 *
 * Callback contract: every lw_db_query / lw_db_begin / lw_db_tx_* call that returns 0
 * invokes its callback exactly once, later, on the loop; one that returns -1 never does.
 * A PGresult passed to a callback is owned by the pool and valid only during the call. */
#ifndef LW_DB_H
#define LW_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>
#include <uv.h>

#include "cluster/err.h"

typedef struct lw_db lw_db_t;
typedef struct lw_db_tx lw_db_tx_t;

typedef struct lw_db_opts {
    const char *uri;            /* libpq connection string or URI */
    int pool_size;              /* connections, >= 1 */
    long long query_timeout_ms; /* how long a query may wait for a connection */
} lw_db_opts_t;

/* res is NULL when err is set. For a statement that returns no rows res is the command
 * result (PGRES_COMMAND_OK). A unique violation maps to db_unique_violation, with the
 * constraint name in attribute "constraint"; other SQL errors to db_query with the
 * server's message; connection loss to db_unavailable. */
typedef void (*lw_db_result_cb)(void *arg, const PGresult *res, const lw_err_t *err);
typedef void (*lw_db_tx_cb)(void *arg, lw_db_tx_t *tx, const lw_err_t *err);
typedef void (*lw_db_done_cb)(void *arg, const lw_err_t *err);

lw_db_t *lw_db_new(uv_loop_t *loop, const lw_db_opts_t *opts, lw_err_t *err);
/* Starts connecting. Returns at once; readiness shows in lw_db_ready. */
int lw_db_start(lw_db_t *db, lw_err_t *err);
/* Closes every connection; pending queries fail with db_unavailable. `done` runs when all
 * handles are closed; the pool may then be freed. */
void lw_db_stop(lw_db_t *db, void (*done)(void *arg), void *arg);
void lw_db_free(lw_db_t *db);

/* True while at least one connection is up and answered its last health check. Idle
 * connections run `SELECT 1` every second; a connection whose request (health check or not)
 * has gone unanswered for 2 s stops counting until it answers (a hung or cut-off server),
 * and one whose health check is unanswered for 10 s is reset. A server that closes its
 * sockets (stopped, restarted) turns this false at once. */
bool lw_db_ready(const lw_db_t *db);

/* Figures for metrics: gauges (now) and counters (since lw_db_new). */
typedef struct lw_db_stats {
    int connections;                /* pool size */
    int connections_up;             /* connected */
    int busy;                       /* running a statement */
    int in_transaction;             /* checked out by a transaction */
    size_t waiting;                 /* queries waiting for a connection */
    unsigned long long requests;    /* queries, transaction steps, begins, commits, rollbacks */
    unsigned long long failures;    /* of which failed, whatever the error */
    unsigned long long unavailable; /* of which failed with db_unavailable */
    unsigned long long connects;    /* connections established (the first ones included) */
} lw_db_stats_t;
void lw_db_stats(const lw_db_t *db, lw_db_stats_t *out);

/* One statement, outside a transaction. params: nparams text values (NULL = SQL NULL),
 * copied before return. */
int lw_db_query(lw_db_t *db, const char *sql, int nparams, const char *const *params,
                lw_db_result_cb cb, void *arg);

/* Checks out a connection for a transaction and runs BEGIN; cb receives the transaction
 * (or an error and tx == NULL). The transaction holds its connection until commit or
 * rollback completes. */
int lw_db_begin(lw_db_t *db, lw_db_tx_cb cb, void *arg);
int lw_db_tx_query(lw_db_tx_t *tx, const char *sql, int nparams, const char *const *params,
                   lw_db_result_cb cb, void *arg);
/* A script of one or more statements without parameters (simple query protocol), e.g. a
 * migration file. */
int lw_db_tx_exec(lw_db_tx_t *tx, const char *script, lw_db_result_cb cb, void *arg);
/* Commits (cb gets the commit's error, e.g. a deferred constraint) or rolls back; either
 * way tx is invalid afterwards. lw_db_tx_rollback(NULL, ...) is a no-op that does not call
 * cb. A transaction whose statement failed can only be rolled back. */
int lw_db_tx_commit(lw_db_tx_t *tx, lw_db_done_cb cb, void *arg);
void lw_db_tx_rollback(lw_db_tx_t *tx, lw_db_done_cb cb, void *arg);

/* Quotes an identifier ("t_acme") into buf. Returns 0, or -1 when it does not fit. */
int lw_db_quote_ident(const char *ident, char *buf, size_t len);

/* Writes `uri` as a keyword/value connection string without its password (shown as
 * <redacted>), for log lines. Returns 0, or -1 when it is not a valid connection string
 * (buf then says so) or does not fit (buf truncated). */
int lw_db_uri_redact(const char *uri, char *buf, size_t len);

/* Blocking helpers for command-line tools that run without a loop (`lwstack migrate`).
 * Never call them from the loop. */
PGconn *lw_db_connect_blocking(const char *uri, lw_err_t *err);
/* Runs one statement on a blocking connection (a pool thread's, a tool's): its result
 * (PGRES_TUPLES_OK or PGRES_COMMAND_OK; the caller PQclear()s it), or NULL with err as the
 * loop's queries answer: db_unique_violation with "constraint", db_unavailable when the
 * connection is gone, db_query otherwise ("sqlstate" attribute when the server sent one). */
PGresult *lw_db_query_blocking(PGconn *c, const char *sql, int nparams, const char *const *params,
                               lw_err_t *err);

#endif
