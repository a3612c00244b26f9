/* The asynchronous PostgreSQL pool (db.h).
 *
 * Each connection is a small state machine driven by uv_poll on its libpq socket:
 *
 *   RETRY --timer--> CONNECTING --PQconnectPoll OK--> READY --error/EOF--> RETRY
 *
 * A READY connection runs one request at a time (c->cur). It is either free (taking requests
 * from the pool queue), checked out by a transaction (c->tx, taking that transaction's
 * requests in order), or running an internal health check. Requests that cannot start yet
 * wait in the pool queue (bounded, each with a deadline) or in their transaction's queue.
 *
 * Callbacks for failures detected inside an API call (connection already lost, transaction
 * aborted, queue full) are deferred to a zero-delay timer, so that an API call never calls
 * back before it returns. Results are delivered straight from the poll callback.
 *
 * Readiness: the pool is ready while at least one connection is READY and healthy. A
 * connection is healthy after connecting and after each successful round trip; idle
 * connections run `SELECT 1` every second, and one whose check is unanswered for 2 s stops
 * counting as healthy (after 10 s it is reset). A server that goes away closes its sockets,
 * which the idle connections see at once. */
#include "cluster/db.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/config.h"
#include "cluster/log.h"
#include "cluster/mem.h"

#define DB_QUEUE_MAX           10000
#define DB_BACKOFF_MIN_MS      100
#define DB_BACKOFF_MAX_MS      5000
#define DB_HEALTH_EVERY_MS     1000
#define DB_HEALTH_UNHEALTHY_MS 2000
#define DB_HEALTH_RESET_MS     10000
/* libpq leaves connection timeouts to applications that drive PQconnectPoll themselves. */
#define DB_CONNECT_TIMEOUT_MS 10000
#define DB_MAX_PARAMS         65535 /* the protocol's limit (Bind carries an int16 count) */

typedef enum db_req_kind {
    DB_REQ_QUERY = 0,
    DB_REQ_BEGIN,
    DB_REQ_TX_QUERY,
    DB_REQ_TX_EXEC,
    DB_REQ_COMMIT,
    DB_REQ_ROLLBACK,
    DB_REQ_HEALTH,
} db_req_kind_t;

typedef struct db_req db_req_t;
struct db_req {
    db_req_t *next;
    db_req_kind_t kind;
    lw_db_t *db;
    lw_db_tx_t *tx;
    union {
        lw_db_result_cb result;
        lw_db_tx_cb tx;
        lw_db_done_cb done;
    } cb;
    void *arg;
    uint64_t deadline_ms;
    /* A COMMIT of a transaction whose statement failed is sent as ROLLBACK and reports
     * this error. */
    bool commit_of_failed;
    const char *sql;
    int nparams;
    const char **params;
    lw_err_t *err; /* set when the request is failed through the deferred list */
};

typedef struct db_queue {
    db_req_t *head, *tail;
    size_t n;
} db_queue_t;

typedef enum db_conn_state {
    DB_CONN_RETRY = 0, /* waiting for the backoff timer (or not started) */
    DB_CONN_CONNECTING,
    DB_CONN_READY,
    DB_CONN_CLOSED, /* pool stopping */
} db_conn_state_t;

typedef struct db_conn db_conn_t;

/* Poll handles are allocated per socket: libpq may change sockets while connecting, and a
 * closing uv_poll_t cannot be reused before its close callback. */
typedef struct db_poll {
    uv_poll_t h;
    db_conn_t *conn; /* NULL once closing */
    int fd;
    int events;
} db_poll_t;

struct db_conn {
    lw_db_t *db;
    int index;
    db_conn_state_t state;
    PGconn *pg;
    db_poll_t *poll;
    uv_timer_t timer;
    bool timer_open;
    uint64_t backoff_ms;
    db_req_t *cur;
    PGresult *res; /* result accumulated for cur */
    lw_db_tx_t *tx;
    bool healthy;
    uint64_t last_ok_ms;
    uint64_t sent_ms; /* when cur was sent */
};

struct lw_db_tx {
    lw_db_t *db;
    db_conn_t *conn;
    db_queue_t pending;
    bool begun;
    bool failed;       /* a statement failed: only rollback remains */
    bool lost;         /* its connection went away */
    bool ending;       /* commit or rollback requested */
    db_req_t *end_req; /* allocated at begin, so that rollback never fails */
    lw_db_tx_t *prev_live, *next_live;
};

struct lw_db {
    uv_loop_t *loop;
    char *uri;
    char *uri_redacted;
    int pool_size;
    uint64_t query_timeout_ms;
    db_conn_t *conns;
    db_queue_t queue;
    db_queue_t deferred;
    uv_timer_t queue_timer;
    uv_timer_t health_timer;
    uv_timer_t defer_timer;
    bool started, stopping, closed;
    int nhandles; /* open uv handles, each released in on_handle_closed */
    bool defer_closing;
    void (*stop_done)(void *arg);
    void *stop_arg;
    bool ready;
    bool ever_ready;
    char last_error[256]; /* last connect error logged, to log each distinct one once */
    lw_db_tx_t *live_txs;
    lw_db_stats_t stats; /* counters; the gauges are computed in lw_db_stats */
};

static void db_pump(lw_db_t *db);
static void db_tx_pump(lw_db_tx_t *tx);
static void db_conn_connect(db_conn_t *c);
static void db_conn_lost(db_conn_t *c, const char *why);
static void db_conn_on_poll(uv_poll_t *h, int status, int events);

/* ---- small helpers ------------------------------------------------------------------- */

static void db_queue_push(db_queue_t *q, db_req_t *r)
{
    r->next = NULL;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
}

static db_req_t *db_queue_pop(db_queue_t *q)
{
    db_req_t *r = q->head;
    if (r == NULL)
        return NULL;
    q->head = r->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->n--;
    r->next = NULL;
    return r;
}

/* Copies a libpq message into buf on one line. libpq messages end with newlines and may
 * hold several lines: all of them are joined with "; ", or only the first is kept
 * (first_only: a lost connection adds lines of advice). */
static void db_msg_line(const char *msg, bool first_only, char *buf, size_t len)
{
    size_t j = 0;
    bool space = false;
    if (msg == NULL)
        msg = "";
    msg += strspn(msg, " \n\r\t");
    for (size_t i = 0; msg[i] != '\0' && j + 1 < len; i++) {
        char ch = msg[i];
        if (ch == '\n' && first_only)
            break;
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            space = j > 0;
            continue;
        }
        if (space) {
            if (j + 2 >= len)
                break;
            buf[j++] = ';';
            buf[j++] = ' ';
            space = false;
        }
        buf[j++] = ch;
    }
    while (j > 0 && buf[j - 1] == ' ')
        j--;
    buf[j] = '\0';
}

/* Connection defaults, placed before dbname so that the URI (expanded from dbname) can
 * override each of them: libpq keeps the last value of a repeated keyword. TCP keepalives
 * and tcp_user_timeout find a peer that vanished without closing the connection (a network
 * partition) in about 30 s, where the kernel's defaults take hours; Unix sockets ignore
 * them. */
static const char *const db_conn_keys[] = {
    "fallback_application_name", "keepalives",       "keepalives_idle", "keepalives_interval",
    "keepalives_count",          "tcp_user_timeout", "dbname",          NULL,
};

#define DB_CONN_NKEYS 8

static void db_conn_values(const char *uri, const char *vals[DB_CONN_NKEYS])
{
    static const char *const defaults[DB_CONN_NKEYS] = {"lwstack", "1",     "15", "5",
                                                        "3",       "30000", NULL, NULL};
    memcpy(vals, defaults, sizeof defaults);
    vals[6] = uri != NULL ? uri : "";
}

static void db_notice_ignore(void *arg, const char *message)
{
    (void)arg;
    char line[256];
    db_msg_line(message, false, line, sizeof line);
    lw_log(LW_LOG_DEBUG, "db", "server notice", "notice", line, NULL);
}

int lw_db_quote_ident(const char *ident, char *buf, size_t len)
{
    if (ident == NULL || buf == NULL || len == 0)
        return -1;
    size_t j = 0;
    if (j + 1 >= len)
        return -1;
    buf[j++] = '"';
    for (const char *p = ident; *p != '\0'; p++) {
        size_t need = *p == '"' ? 2 : 1;
        if (j + need + 1 >= len)
            return -1;
        if (*p == '"')
            buf[j++] = '"';
        buf[j++] = *p;
    }
    if (j + 2 > len)
        return -1;
    buf[j++] = '"';
    buf[j] = '\0';
    return 0;
}

int lw_db_uri_redact(const char *uri, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return -1;
    buf[0] = '\0';
    /* The passwords go first, by the one redaction every printer uses; libpq's parser then
     * only lays the rest out as keyword=value. */
    size_t cap = 2 * strlen(uri != NULL ? uri : "") + 64;
    char *red = lw_malloc(cap);
    int red_rc = lw_config_redact_uri(uri, red, cap);
    char *errmsg = NULL;
    PQconninfoOption *opts = red_rc == 0 ? PQconninfoParse(red, &errmsg) : NULL;
    free(red);
    if (opts == NULL) {
        PQfreemem(errmsg);
        snprintf(buf, len, "(invalid connection string)");
        return -1;
    }
    size_t pos = 0;
    int rc = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        /* Already redacted; libpq marks its secret fields "*" should one be added. */
        const char *val = o->dispchar[0] == '*' ? LW_CONFIG_REDACTED : o->val;
        bool quote = strpbrk(val, " '\\") != NULL;
        int n = snprintf(buf + pos, len - pos, "%s%s=%s", pos > 0 ? " " : "", o->keyword,
                         quote ? "'" : "");
        if (n < 0 || (size_t)n >= len - pos) {
            rc = -1;
            break;
        }
        pos += (size_t)n;
        for (const char *p = val; *p != '\0'; p++) {
            if (pos + 3 >= len) {
                rc = -1;
                break;
            }
            if (quote && (*p == '\'' || *p == '\\'))
                buf[pos++] = '\\';
            buf[pos++] = *p;
        }
        if (rc != 0)
            break;
        if (quote) {
            if (pos + 2 >= len) {
                rc = -1;
                break;
            }
            buf[pos++] = '\'';
        }
        buf[pos] = '\0';
    }
    PQconninfoFree(opts);
    if (rc != 0)
        buf[pos < len ? pos : len - 1] = '\0';
    return rc;
}

/* Refuses a connection string libpq cannot parse with config_invalid showing it redacted:
 * libpq's own message quotes the string, password included, so it is never shown. */
static int db_uri_check(const char *uri, lw_err_t *err)
{
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(uri, &perr);
    if (parsed != NULL) {
        PQconninfoFree(parsed);
        return 0;
    }
    PQfreemem(perr);
    char red[256];
    lw_config_redact_uri(uri, red, sizeof red);
    lw_err_set(err, &lw_err_config_invalid,
               "invalid value `%s` for `db.uri`: not a valid PostgreSQL connection string", red);
    lw_err_attr(err, "key", "db.uri");
    lw_err_attr(err, "value", red);
    return -1;
}

/* Maps a failed result to an lw_err_t. `lost` tells that the connection is gone. */
static void db_result_err(const PGresult *res, bool lost, const char *conn_msg, lw_err_t *err)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[200];
    if (primary != NULL)
        db_msg_line(primary, false, line, sizeof line);
    else if (res != NULL && PQresultErrorMessage(res)[0] != '\0')
        db_msg_line(PQresultErrorMessage(res), false, line, sizeof line);
    else
        db_msg_line(conn_msg, false, line, sizeof line);
    bool conn_class =
        state != NULL && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                          strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0);
    if (lost || conn_class) {
        lw_err_set(err, &lw_err_db_unavailable, "database unavailable: %s", line);
    } else if (state != NULL && strcmp(state, "23505") == 0) {
        lw_err_set(err, &lw_err_db_unique_violation, "%s", line);
        const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        lw_err_attr(err, "constraint", constraint != NULL ? constraint : "");
    } else {
        lw_err_set(err, &lw_err_db_query, "database query failed: %s", line);
    }
    if (state != NULL)
        lw_err_attr(err, "sqlstate", state);
}

/* ---- requests ------------------------------------------------------------------------ */

static db_req_t *db_req_new(lw_db_t *db, db_req_kind_t kind, const char *sql, int nparams,
                            const char *const *params)
{
    size_t size = sizeof(db_req_t);
    size_t sql_len = sql != NULL ? strlen(sql) + 1 : 0;
    size_t ptrs = (size_t)nparams * sizeof(char *);
    size_t strs = 0;
    for (int i = 0; i < nparams; i++)
        if (params[i] != NULL)
            strs += strlen(params[i]) + 1;
    db_req_t *r = lw_calloc(1, size + ptrs + sql_len + strs);
    r->kind = kind;
    r->db = db;
    char *p = (char *)(r + 1);
    if (nparams > 0) {
        r->params = (const char **)(void *)p;
        p += ptrs;
    }
    if (sql != NULL) {
        memcpy(p, sql, sql_len);
        r->sql = p;
        p += sql_len;
    }
    r->nparams = nparams;
    for (int i = 0; i < nparams; i++) {
        if (params[i] == NULL) {
            r->params[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(p, params[i], n);
        r->params[i] = p;
        p += n;
    }
    return r;
}

static void db_req_free(db_req_t *r)
{
    if (r == NULL)
        return;
    free(r->err);
    free(r);
}

static void db_tx_free(lw_db_tx_t *tx)
{
    lw_db_t *db = tx->db;
    if (db != NULL) {
        if (tx->prev_live != NULL)
            tx->prev_live->next_live = tx->next_live;
        else
            db->live_txs = tx->next_live;
        if (tx->next_live != NULL)
            tx->next_live->prev_live = tx->prev_live;
    }
    db_req_free(tx->end_req);
    free(tx);
}

/* Detaches a transaction from its connection, which becomes free for the pool. */
static void db_tx_release(lw_db_tx_t *tx)
{
    if (tx->conn != NULL) {
        tx->conn->tx = NULL;
        tx->conn = NULL;
    }
}

/* Delivers a request's outcome and frees it. Exactly one call per request. */
/* What a COMMIT or ROLLBACK tells its caller: a commit of a failed transaction, or one the
 * server answered with ROLLBACK, failed; a rollback on a lost connection succeeded (the
 * server rolls back what a lost connection left open). Returns err, NULL or own. */
static const lw_err_t *db_tx_end_err(const db_req_t *r, const PGresult *res, const lw_err_t *err,
                                     lw_err_t *own)
{
    lw_err_clear(own);
    if (err == NULL && r->commit_of_failed) {
        lw_err_set(own, &lw_err_db_query,
                   "database query failed: transaction rolled back because an earlier "
                   "statement failed");
        return own;
    }
    if (err == NULL && r->kind == DB_REQ_COMMIT && res != NULL &&
        strcmp(PQcmdStatus((PGresult *)res), "ROLLBACK") == 0) {
        lw_err_set(own, &lw_err_db_query,
                   "database query failed: transaction rolled back by the server");
        return own;
    }
    if (r->kind == DB_REQ_ROLLBACK && err != NULL && err->def == &lw_err_db_unavailable)
        return NULL;
    return err;
}

static void db_req_complete(db_req_t *r, const PGresult *res, const lw_err_t *err)
{
    lw_db_tx_t *tx = r->tx;
    lw_db_t *db = r->db;
    if (db != NULL && r->kind != DB_REQ_HEALTH) {
        db->stats.requests++;
        if (err != NULL)
            db->stats.failures++;
        if (err != NULL && err->def == &lw_err_db_unavailable)
            db->stats.unavailable++;
    }
    switch (r->kind) {
    case DB_REQ_QUERY:
        if (r->cb.result != NULL)
            r->cb.result(r->arg, err != NULL ? NULL : res, err);
        break;
    case DB_REQ_TX_QUERY:
    case DB_REQ_TX_EXEC:
        if (err != NULL)
            tx->failed = true;
        if (r->cb.result != NULL)
            r->cb.result(r->arg, err != NULL ? NULL : res, err);
        break;
    case DB_REQ_BEGIN:
        if (err != NULL) {
            db_tx_release(tx);
            db_tx_free(tx);
            r->cb.tx(r->arg, NULL, err);
            if (db != NULL && !db->closed)
                db_pump(db);
        } else {
            tx->begun = true;
            r->cb.tx(r->arg, tx, NULL);
        }
        break;
    case DB_REQ_COMMIT:
    case DB_REQ_ROLLBACK: {
        lw_err_t own;
        err = db_tx_end_err(r, res, err, &own);
        db_tx_release(tx);
        db_tx_free(tx);
        if (r->cb.done != NULL)
            r->cb.done(r->arg, err);
        if (db != NULL && !db->closed)
            db_pump(db);
        break;
    }
    case DB_REQ_HEALTH:
        break;
    }
    db_req_free(r);
}

static void db_defer_run(lw_db_t *db)
{
    db_queue_t q = db->deferred;
    memset(&db->deferred, 0, sizeof db->deferred);
    db_req_t *r;
    while ((r = db_queue_pop(&q)) != NULL)
        db_req_complete(r, NULL, r->err);
}

static void db_on_defer(uv_timer_t *t)
{
    lw_db_t *db = t->data;
    /* Completions may defer more; they run on the next turn. */
    db_defer_run(db);
}

/* Fails r later (next loop turn), or now when the pool's loop is gone. */
static void db_req_fail_later(lw_db_t *db, db_req_t *r, const lw_err_def_t *def, const char *msg)
{
    if (def != NULL) {
        r->err = lw_malloc(sizeof *r->err);
        lw_err_set(r->err, def, "%s", msg);
    }
    if (db == NULL || db->closed || db->defer_closing) {
        db_req_complete(r, NULL, r->err);
        return;
    }
    db_queue_push(&db->deferred, r);
    if (db->deferred.n == 1)
        uv_timer_start(&db->defer_timer, db_on_defer, 0, 0);
}

/* ---- readiness and logging ------------------------------------------------------------ */

static void db_update_ready(lw_db_t *db, const char *why)
{
    bool ready = false;
    int up = 0;
    for (int i = 0; i < db->pool_size; i++) {
        db_conn_t *c = &db->conns[i];
        if (c->state == DB_CONN_READY && c->healthy) {
            ready = true;
            up++;
        }
    }
    if (ready == db->ready)
        return;
    db->ready = ready;
    if (ready) {
        lw_log_kv(LW_LOG_INFO, "db", "connected", LW_LOG_STR("state", "connected"),
                  LW_LOG_STR("uri", db->uri_redacted), LW_LOG_INT("connections", up));
        db->ever_ready = true;
        db->last_error[0] = '\0';
    } else if (!db->stopping) {
        lw_log(LW_LOG_WARN, "db", "connection lost", "state", "lost", "uri", db->uri_redacted,
               "error", why != NULL ? why : "unknown", NULL);
        snprintf(db->last_error, sizeof db->last_error, "%s", why != NULL ? why : "");
    }
}

/* ---- connections ---------------------------------------------------------------------- */

static void db_handle_gone(lw_db_t *db);

static void db_poll_on_close(uv_handle_t *h)
{
    lw_db_t *db = h->data;
    free(h); /* the db_poll_t, whose first member h is */
    db_handle_gone(db);
}

static void db_conn_unwatch(db_conn_t *c)
{
    if (c->poll == NULL)
        return;
    c->poll->conn = NULL;
    c->poll->h.data = c->db;
    uv_close((uv_handle_t *)&c->poll->h, db_poll_on_close);
    c->poll = NULL;
}

/* Polls the connection's current socket for `events`. Returns 0 or -1. */
static int db_conn_watch(db_conn_t *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return -1;
    if (c->poll != NULL && c->poll->fd != fd)
        db_conn_unwatch(c);
    if (c->poll == NULL) {
        db_poll_t *p = lw_calloc(1, sizeof *p);
        if (uv_poll_init(c->db->loop, &p->h, fd) != 0) {
            free(p);
            return -1;
        }
        c->db->nhandles++;
        p->conn = c;
        p->fd = fd;
        p->h.data = p;
        c->poll = p;
    }
    if (c->poll->events == events && uv_is_active((uv_handle_t *)&c->poll->h))
        return 0;
    c->poll->events = events;
    return uv_poll_start(&c->poll->h, events, db_conn_on_poll) == 0 ? 0 : -1;
}

static void db_conn_finish(db_conn_t *c)
{
    db_conn_unwatch(c);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    if (c->res != NULL) {
        PQclear(c->res);
        c->res = NULL;
    }
}

static void db_conn_connect_failed(db_conn_t *c, const char *why);

static void db_conn_on_timer(uv_timer_t *t)
{
    db_conn_t *c = t->data;
    lw_db_t *db = c->db;
    if (db->stopping)
        return;
    if (c->state == DB_CONN_RETRY) {
        db_conn_connect(c);
        return;
    }
    if (c->state == DB_CONN_CONNECTING)
        db_conn_connect_failed(c, "connection attempt timed out after 10 s");
}

static void db_conn_schedule_retry(db_conn_t *c)
{
    c->state = DB_CONN_RETRY;
    c->healthy = false;
    uint64_t delay = c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : c->backoff_ms * 2;
    uv_timer_start(&c->timer, db_conn_on_timer, delay, 0);
}

/* Puts why (a libpq message) on one line and logs it at debug level with the connection's
 * index under `what`. */
static void db_conn_why(const db_conn_t *c, const char *what, const char *why, bool first_only,
                        char *line, size_t len)
{
    db_msg_line(why, first_only, line, len);
    lw_log_kv(LW_LOG_DEBUG, "db", what, LW_LOG_INT("conn", c->index), LW_LOG_STR("error", line));
}

static void db_conn_connect_failed(db_conn_t *c, const char *why)
{
    lw_db_t *db = c->db;
    char line[256];
    db_conn_why(c, "connect failed", why, false, line, sizeof line);
    /* Log each distinct failure once, so an operator sees why (wrong password, no such
     * database, too many clients) without a line per retry. */
    if (strcmp(db->last_error, line) != 0) {
        snprintf(db->last_error, sizeof db->last_error, "%s", line);
        lw_log(LW_LOG_WARN, "db", "connect failed", "state", "connecting", "uri", db->uri_redacted,
               "error", line, NULL);
    }
    db_conn_finish(c);
    db_conn_schedule_retry(c);
    db_update_ready(db, line);
}

static void db_conn_connected(db_conn_t *c)
{
    lw_db_t *db = c->db;
    uv_timer_stop(&c->timer);
    PQsetnonblocking(c->pg, 1);
    PQsetNoticeProcessor(c->pg, db_notice_ignore, NULL);
    c->state = DB_CONN_READY;
    c->healthy = true;
    db->stats.connects++;
    c->backoff_ms = DB_BACKOFF_MIN_MS;
    c->last_ok_ms = uv_now(db->loop);
    lw_log_kv(LW_LOG_DEBUG, "db", "connection up", LW_LOG_INT("conn", c->index));
    if (db_conn_watch(c, UV_READABLE) != 0) {
        db_conn_lost(c, "cannot poll the connection socket");
        return;
    }
    db_update_ready(db, NULL);
    db_pump(db);
}

/* Advances the connection handshake. */
static void db_conn_connect_step(db_conn_t *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    switch (st) {
    case PGRES_POLLING_OK:
        db_conn_connected(c);
        return;
    case PGRES_POLLING_READING:
        if (db_conn_watch(c, UV_READABLE) != 0)
            db_conn_connect_failed(c, "cannot poll the connection socket");
        return;
    case PGRES_POLLING_WRITING:
        if (db_conn_watch(c, UV_WRITABLE) != 0)
            db_conn_connect_failed(c, "cannot poll the connection socket");
        return;
    default:
        db_conn_connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
}

static void db_conn_connect(db_conn_t *c)
{
    lw_db_t *db = c->db;
    c->state = DB_CONN_CONNECTING;
    const char *vals[DB_CONN_NKEYS];
    db_conn_values(db->uri, vals);
    c->pg = PQconnectStartParams(db_conn_keys, vals, 1);
    if (c->pg == NULL) {
        db_conn_connect_failed(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        db_conn_connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
    uv_timer_start(&c->timer, db_conn_on_timer, DB_CONNECT_TIMEOUT_MS, 0);
    /* libpq: after PQconnectStart, wait until the socket is writable, then poll. */
    if (db_conn_watch(c, UV_WRITABLE) != 0)
        db_conn_connect_failed(c, "cannot poll the connection socket");
}

/* Closes c's libpq connection and takes its request and transaction away (the transaction
 * marked lost and released from c): the caller fails them. */
static void db_conn_drop(db_conn_t *c, db_req_t **r, lw_db_tx_t **tx)
{
    *r = c->cur;
    c->cur = NULL;
    *tx = c->tx;
    if (*tx != NULL) {
        (*tx)->lost = true;
        db_tx_release(*tx);
    }
    db_conn_finish(c);
}

/* The connection died: its request fails with db_unavailable (it may have run: never
 * retried), its transaction is lost, and it reconnects after the backoff. */
static void db_conn_lost(db_conn_t *c, const char *why)
{
    lw_db_t *db = c->db;
    char line[256];
    db_conn_why(c, "connection lost", why, true, line, sizeof line);
    db_req_t *r;
    lw_db_tx_t *tx;
    db_conn_drop(c, &r, &tx);
    if (db->stopping) {
        c->state = DB_CONN_CLOSED;
    } else {
        c->backoff_ms = DB_BACKOFF_MIN_MS;
        db_conn_schedule_retry(c);
    }
    db_update_ready(db, line);
    char msg[320];
    snprintf(msg, sizeof msg, "database unavailable: connection lost (%s)", line);
    if (r != NULL) {
        if (r->kind == DB_REQ_HEALTH)
            db_req_free(r);
        else
            db_req_fail_later(db, r, &lw_err_db_unavailable, msg);
    }
    if (tx != NULL)
        db_tx_pump(tx);
}

/* Sends r on c (READY, idle). On failure the connection is treated as lost. */
static void db_conn_send(db_conn_t *c, db_req_t *r)
{
    int ok;
    c->cur = r;
    c->sent_ms = uv_now(c->db->loop);
    if (r->kind == DB_REQ_QUERY || r->kind == DB_REQ_TX_QUERY) {
        ok = PQsendQueryParams(c->pg, r->sql, r->nparams, NULL, r->params, NULL, NULL, 0);
    } else {
        const char *sql = r->sql;
        if (r->kind == DB_REQ_BEGIN)
            sql = "BEGIN";
        else if (r->kind == DB_REQ_COMMIT)
            sql = r->commit_of_failed ? "ROLLBACK" : "COMMIT";
        else if (r->kind == DB_REQ_ROLLBACK)
            sql = "ROLLBACK";
        else if (r->kind == DB_REQ_HEALTH)
            sql = "SELECT 1";
        ok = PQsendQuery(c->pg, sql);
    }
    if (!ok) {
        db_conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    int fl = PQflush(c->pg);
    if (fl < 0) {
        db_conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    if (db_conn_watch(c, fl == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
        db_conn_lost(c, "cannot poll the connection socket");
}

/* The current request finished (PQgetResult returned NULL). */
static void db_conn_request_done(db_conn_t *c)
{
    lw_db_t *db = c->db;
    db_req_t *r = c->cur;
    PGresult *res = c->res;
    c->cur = NULL;
    c->res = NULL;
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    bool lost = PQstatus(c->pg) == CONNECTION_BAD;
    lw_err_t err;
    lw_err_clear(&err);
    if (!ok)
        db_result_err(res, lost, PQerrorMessage(c->pg), &err);
    if (lost) {
        /* Before the callback runs, so that nothing new is sent on a dead connection. */
        db_conn_lost(c, PQerrorMessage(c->pg));
    } else if (ok) {
        c->healthy = true;
        c->last_ok_ms = uv_now(db->loop);
    }
    if (r->kind == DB_REQ_HEALTH) {
        db_req_free(r);
        db_update_ready(db, NULL);
    } else {
        lw_db_tx_t *tx = r->tx;
        bool tx_step = r->kind == DB_REQ_TX_QUERY || r->kind == DB_REQ_TX_EXEC;
        if (r->kind == DB_REQ_BEGIN && !ok)
            db_tx_release(tx);
        db_req_complete(r, ok ? res : NULL, ok ? NULL : &err);
        /* c may have been reset or the pool stopped by the callback; a transaction is
         * freed only by its commit or rollback, which cannot have completed here. */
        if (tx_step && !lost && c->state == DB_CONN_READY && c->tx == tx && c->cur == NULL)
            db_tx_pump(tx);
    }
    if (res != NULL)
        PQclear(res);
    if (!db->stopping && c->state == DB_CONN_READY && c->cur == NULL)
        db_pump(db);
}

static void db_conn_on_poll(uv_poll_t *h, int status, int events)
{
    db_poll_t *p = (db_poll_t *)h;
    db_conn_t *c = p->conn;
    if (c == NULL)
        return;
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE; /* let libpq find out what is wrong */
    if (c->state == DB_CONN_CONNECTING) {
        db_conn_connect_step(c);
        return;
    }
    if (c->state != DB_CONN_READY)
        return;
    if (events & UV_WRITABLE) {
        int fl = PQflush(c->pg);
        if (fl < 0) {
            db_conn_lost(c, PQerrorMessage(c->pg));
            return;
        }
        if (fl == 0 && db_conn_watch(c, UV_READABLE) != 0) {
            db_conn_lost(c, "cannot poll the connection socket");
            return;
        }
    }
    if (!(events & UV_READABLE))
        return;
    if (!PQconsumeInput(c->pg)) {
        db_conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL)
        PQfreemem(n);
    while (c->cur != NULL && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (res == NULL) {
            db_conn_request_done(c);
            /* A new request may have been sent on c; its results come with later events. */
            return;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(res);
            db_conn_lost(c, "COPY is not supported by the pool");
            return;
        }
        bool have_err = c->res != NULL && (PQresultStatus(c->res) == PGRES_FATAL_ERROR ||
                                           PQresultStatus(c->res) == PGRES_BAD_RESPONSE);
        /* Keep the first error, else the last result (a script's last statement). */
        if (have_err) {
            PQclear(res);
        } else {
            if (c->res != NULL)
                PQclear(c->res);
            c->res = res;
        }
    }
    if (c->cur == NULL && PQstatus(c->pg) == CONNECTION_BAD)
        db_conn_lost(c, PQerrorMessage(c->pg));
}

/* ---- dispatch -------------------------------------------------------------------------- */

static db_conn_t *db_idle_conn(lw_db_t *db)
{
    for (int i = 0; i < db->pool_size; i++) {
        db_conn_t *c = &db->conns[i];
        if (c->state == DB_CONN_READY && c->cur == NULL && c->tx == NULL)
            return c;
    }
    return NULL;
}

static void db_on_queue_timer(uv_timer_t *t);

static void db_arm_queue_timer(lw_db_t *db)
{
    if (db->stopping)
        return;
    if (db->queue.head == NULL) {
        uv_timer_stop(&db->queue_timer);
        return;
    }
    uint64_t now = uv_now(db->loop);
    uint64_t at = db->queue.head->deadline_ms;
    uv_timer_start(&db->queue_timer, db_on_queue_timer, at > now ? at - now : 0, 0);
}

/* Fails the requests that waited longer than db.query-timeout for a connection. All share
 * one timeout, so the queue is in deadline order. */
static void db_on_queue_timer(uv_timer_t *t)
{
    lw_db_t *db = t->data;
    uint64_t now = uv_now(db->loop);
    char msg[128];
    snprintf(msg, sizeof msg, "database unavailable: no connection within %llu ms",
             (unsigned long long)db->query_timeout_ms);
    while (!db->stopping && db->queue.head != NULL && db->queue.head->deadline_ms <= now) {
        db_req_t *r = db_queue_pop(&db->queue);
        lw_err_t err;
        lw_err_set(&err, &lw_err_db_unavailable, "%s", msg);
        db_req_complete(r, NULL, &err);
    }
    db_arm_queue_timer(db);
}

static void db_pump(lw_db_t *db)
{
    if (db->stopping)
        return;
    db_conn_t *c;
    while (db->queue.head != NULL && (c = db_idle_conn(db)) != NULL) {
        db_req_t *r = db_queue_pop(&db->queue);
        if (r->kind == DB_REQ_BEGIN) {
            c->tx = r->tx;
            r->tx->conn = c;
        }
        db_conn_send(c, r);
    }
    db_arm_queue_timer(db);
}

static void db_tx_pump(lw_db_tx_t *tx)
{
    db_req_t *r;
    while ((r = tx->pending.head) != NULL) {
        lw_db_t *db = tx->db;
        if (tx->lost || tx->conn == NULL) {
            db_queue_pop(&tx->pending);
            db_req_fail_later(db, r, &lw_err_db_unavailable,
                              "database unavailable: the transaction's connection was lost");
            continue;
        }
        if (tx->failed && (r->kind == DB_REQ_TX_QUERY || r->kind == DB_REQ_TX_EXEC)) {
            db_queue_pop(&tx->pending);
            db_req_fail_later(db, r, &lw_err_db_query,
                              "database query failed: transaction aborted by an earlier error");
            continue;
        }
        db_conn_t *c = tx->conn;
        if (c->state != DB_CONN_READY || c->cur != NULL)
            return;
        db_queue_pop(&tx->pending);
        if (r->kind == DB_REQ_COMMIT && tx->failed)
            r->commit_of_failed = true;
        db_conn_send(c, r);
        return;
    }
}

/* ---- health checks --------------------------------------------------------------------- */

static void db_on_health(uv_timer_t *t)
{
    lw_db_t *db = t->data;
    uint64_t now = uv_now(db->loop);
    for (int i = 0; i < db->pool_size && !db->stopping; i++) {
        db_conn_t *c = &db->conns[i];
        if (c->state != DB_CONN_READY)
            continue;
        if (c->cur != NULL) {
            /* A request unanswered for 2 s, a health check or not, means a server that
             * may be hung or cut off: the connection stops counting for readiness until
             * an answer comes. Only a health check is given up on (nothing else runs on
             * that connection); a user's query may legitimately take long. */
            uint64_t waited = now - c->sent_ms;
            if (c->cur->kind == DB_REQ_HEALTH && waited >= DB_HEALTH_RESET_MS) {
                db_conn_lost(c, "health check unanswered for 10 s");
            } else if (waited >= DB_HEALTH_UNHEALTHY_MS && c->healthy) {
                c->healthy = false;
                db_update_ready(db, "no answer from the server for 2 s");
            }
            continue;
        }
        if (c->tx != NULL)
            continue; /* its socket is watched for the server closing it */
        if (now - c->last_ok_ms + 50 < DB_HEALTH_EVERY_MS)
            continue;
        db_conn_send(c, db_req_new(db, DB_REQ_HEALTH, NULL, 0, NULL));
    }
}

/* ---- lifecycle ------------------------------------------------------------------------- */

lw_db_t *lw_db_new(uv_loop_t *loop, const lw_db_opts_t *opts, lw_err_t *err)
{
    if (loop == NULL || opts == NULL) {
        lw_err_set(err, &lw_err_invalid_argument, "db: no loop or options");
        return NULL;
    }
    if (opts->pool_size < 1 || opts->pool_size > 1000) {
        lw_err_set(err, &lw_err_config_invalid, "invalid value `%d` for `db.pool-size`: %s",
                   opts->pool_size, "must be from 1 to 1000");
        lw_err_attr(err, "key", "db.pool-size");
        return NULL;
    }
    if (opts->query_timeout_ms < 1) {
        lw_err_set(err, &lw_err_config_invalid,
                   "invalid value `%lldms` for `db.query-timeout`: must be positive",
                   opts->query_timeout_ms);
        lw_err_attr(err, "key", "db.query-timeout");
        return NULL;
    }
    const char *uri = opts->uri != NULL ? opts->uri : "";
    if (db_uri_check(uri, err) != 0)
        return NULL;
    lw_db_t *db = lw_calloc(1, sizeof *db);
    char red[512];
    lw_db_uri_redact(uri, red, sizeof red);
    db->conns = lw_calloc((size_t)opts->pool_size, sizeof *db->conns);
    db->uri = lw_strdup(uri);
    db->uri_redacted = lw_strdup(red);
    db->loop = loop;
    db->pool_size = opts->pool_size;
    db->query_timeout_ms = (uint64_t)opts->query_timeout_ms;
    for (int i = 0; i < db->pool_size; i++) {
        db->conns[i].db = db;
        db->conns[i].index = i;
        db->conns[i].backoff_ms = DB_BACKOFF_MIN_MS;
    }
    return db;
}

int lw_db_start(lw_db_t *db, lw_err_t *err)
{
    if (db == NULL || db->started) {
        lw_err_set(err, &lw_err_invalid_argument, "db: pool already started");
        return -1;
    }
    uv_timer_init(db->loop, &db->queue_timer);
    uv_timer_init(db->loop, &db->health_timer);
    uv_timer_init(db->loop, &db->defer_timer);
    db->queue_timer.data = db;
    db->health_timer.data = db;
    db->defer_timer.data = db;
    db->nhandles = 3;
    for (int i = 0; i < db->pool_size; i++) {
        db_conn_t *c = &db->conns[i];
        uv_timer_init(db->loop, &c->timer);
        c->timer.data = c;
        c->timer_open = true;
        db->nhandles++;
    }
    db->started = true;
    lw_log_kv(LW_LOG_INFO, "db", "connecting", LW_LOG_STR("state", "connecting"),
              LW_LOG_STR("uri", db->uri_redacted), LW_LOG_INT("pool_size", db->pool_size));
    uv_timer_start(&db->health_timer, db_on_health, DB_HEALTH_EVERY_MS, DB_HEALTH_EVERY_MS);
    for (int i = 0; i < db->pool_size; i++)
        db_conn_connect(&db->conns[i]);
    return 0;
}

static void db_on_timer_closed(uv_handle_t *h)
{
    lw_db_t *db = h->data;
    db_handle_gone(db);
}

static void db_on_conn_timer_closed(uv_handle_t *h)
{
    db_conn_t *c = h->data;
    db_handle_gone(c->db);
}

static void db_handle_gone(lw_db_t *db)
{
    db->nhandles--;
    if (!db->stopping)
        return;
    if (db->nhandles == 1 && !db->defer_closing) {
        /* Only the deferral timer is left: run what it holds, then close it. */
        db->defer_closing = true;
        db_defer_run(db);
        uv_close((uv_handle_t *)&db->defer_timer, db_on_timer_closed);
        return;
    }
    if (db->nhandles == 0) {
        db->closed = true;
        lw_log(LW_LOG_INFO, "db", "stopped", "state", "stopped", NULL);
        if (db->stop_done != NULL)
            db->stop_done(db->stop_arg);
    }
}

void lw_db_stop(lw_db_t *db, void (*done)(void *arg), void *arg)
{
    if (db == NULL || !db->started || db->closed) {
        if (done != NULL)
            done(arg);
        return;
    }
    if (db->stopping)
        return;
    db->stopping = true;
    db->stop_done = done;
    db->stop_arg = arg;
    lw_err_t err;
    lw_err_set(&err, &lw_err_db_unavailable, "database unavailable: the pool is stopping");
    uv_close((uv_handle_t *)&db->queue_timer, db_on_timer_closed);
    uv_close((uv_handle_t *)&db->health_timer, db_on_timer_closed);
    db_req_t *r;
    while ((r = db_queue_pop(&db->queue)) != NULL)
        db_req_complete(r, NULL, &err);
    for (int i = 0; i < db->pool_size; i++) {
        db_conn_t *c = &db->conns[i];
        lw_db_tx_t *tx;
        db_conn_drop(c, &r, &tx);
        c->state = DB_CONN_CLOSED;
        c->healthy = false;
        if (c->timer_open) {
            c->timer_open = false;
            uv_close((uv_handle_t *)&c->timer, db_on_conn_timer_closed);
        }
        if (r != NULL && r->kind == DB_REQ_HEALTH)
            db_req_free(r);
        else if (r != NULL)
            db_req_complete(r, NULL, &err);
        if (tx != NULL)
            db_tx_pump(tx);
    }
    db->ready = false;
}

void lw_db_free(lw_db_t *db)
{
    if (db == NULL)
        return;
    if (db->started && !db->closed) {
        /* Its handles are still on the loop: freeing would leave them dangling. */
        lw_log(LW_LOG_ERROR, "db", "lw_db_free before lw_db_stop finished; pool leaked", NULL);
        return;
    }
    for (lw_db_tx_t *tx = db->live_txs; tx != NULL; tx = tx->next_live)
        tx->db = NULL;
    free(db->conns);
    free(db->uri);
    free(db->uri_redacted);
    free(db);
}

void lw_db_stats(const lw_db_t *db, lw_db_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (db == NULL)
        return;
    *out = db->stats;
    out->connections = db->pool_size;
    for (int i = 0; i < db->pool_size; i++) {
        const db_conn_t *c = &db->conns[i];
        if (c->state == DB_CONN_READY)
            out->connections_up++;
        if (c->tx != NULL)
            out->in_transaction++;
        if (c->cur != NULL && c->cur->kind != DB_REQ_HEALTH)
            out->busy++;
    }
    out->waiting = db->queue.n;
}

bool lw_db_ready(const lw_db_t *db)
{
    return db != NULL && db->ready;
}

/* ---- queries --------------------------------------------------------------------------- */

static bool db_params_ok(const char *sql, int nparams, const char *const *params)
{
    return sql != NULL && nparams >= 0 && nparams <= DB_MAX_PARAMS &&
           (nparams == 0 || params != NULL);
}

/* Queues r on the pool. Returns 0 (r's callback will run) or -1 (r freed, no callback). */
static int db_enqueue(lw_db_t *db, db_req_t *r)
{
    if (db->queue.n >= DB_QUEUE_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "database unavailable: %d queries already waiting", DB_QUEUE_MAX);
        db_req_fail_later(db, r, &lw_err_db_unavailable, msg);
        return 0;
    }
    r->deadline_ms = uv_now(db->loop) + db->query_timeout_ms;
    db_queue_push(&db->queue, r);
    db_pump(db);
    return 0;
}

int lw_db_query(lw_db_t *db, const char *sql, int nparams, const char *const *params,
                lw_db_result_cb cb, void *arg)
{
    if (db == NULL || !db->started || db->stopping || !db_params_ok(sql, nparams, params))
        return -1;
    db_req_t *r = db_req_new(db, DB_REQ_QUERY, sql, nparams, params);
    r->cb.result = cb;
    r->arg = arg;
    return db_enqueue(db, r);
}

int lw_db_begin(lw_db_t *db, lw_db_tx_cb cb, void *arg)
{
    if (db == NULL || !db->started || db->stopping || cb == NULL)
        return -1;
    lw_db_tx_t *tx = lw_calloc(1, sizeof *tx);
    db_req_t *r = db_req_new(db, DB_REQ_BEGIN, NULL, 0, NULL);
    db_req_t *end = db_req_new(db, DB_REQ_ROLLBACK, NULL, 0, NULL);
    tx->db = db;
    tx->end_req = end;
    tx->next_live = db->live_txs;
    if (db->live_txs != NULL)
        db->live_txs->prev_live = tx;
    db->live_txs = tx;
    r->tx = tx;
    r->cb.tx = cb;
    r->arg = arg;
    return db_enqueue(db, r);
}

static int db_tx_add(lw_db_tx_t *tx, db_req_kind_t kind, const char *sql, int nparams,
                     const char *const *params, lw_db_result_cb cb, void *arg)
{
    if (tx == NULL || tx->ending || !tx->begun || !db_params_ok(sql, nparams, params))
        return -1;
    db_req_t *r = db_req_new(tx->db, kind, sql, nparams, params);
    r->tx = tx;
    r->cb.result = cb;
    r->arg = arg;
    db_queue_push(&tx->pending, r);
    db_tx_pump(tx);
    return 0;
}

int lw_db_tx_query(lw_db_tx_t *tx, const char *sql, int nparams, const char *const *params,
                   lw_db_result_cb cb, void *arg)
{
    return db_tx_add(tx, DB_REQ_TX_QUERY, sql, nparams, params, cb, arg);
}

int lw_db_tx_exec(lw_db_tx_t *tx, const char *script, lw_db_result_cb cb, void *arg)
{
    return db_tx_add(tx, DB_REQ_TX_EXEC, script, 0, NULL, cb, arg);
}

static int db_tx_end(lw_db_tx_t *tx, db_req_kind_t kind, lw_db_done_cb cb, void *arg)
{
    if (tx == NULL || tx->ending || !tx->begun || tx->end_req == NULL)
        return -1;
    db_req_t *r = tx->end_req;
    tx->end_req = NULL;
    tx->ending = true;
    r->kind = kind;
    r->db = tx->db; /* NULL once the pool was freed: then it completes at once */
    r->tx = tx;
    r->cb.done = cb;
    r->arg = arg;
    db_queue_push(&tx->pending, r);
    db_tx_pump(tx);
    return 0;
}

int lw_db_tx_commit(lw_db_tx_t *tx, lw_db_done_cb cb, void *arg)
{
    return db_tx_end(tx, DB_REQ_COMMIT, cb, arg);
}

void lw_db_tx_rollback(lw_db_tx_t *tx, lw_db_done_cb cb, void *arg)
{
    (void)db_tx_end(tx, DB_REQ_ROLLBACK, cb, arg);
}

/* ---- blocking ---------------------------------------------------------------------------- */

PGconn *lw_db_connect_blocking(const char *uri, lw_err_t *err)
{
    if (db_uri_check(uri != NULL ? uri : "", err) != 0)
        return NULL;
    const char *vals[DB_CONN_NKEYS];
    db_conn_values(uri, vals);
    PGconn *pg = PQconnectdbParams(db_conn_keys, vals, 1);
    if (pg == NULL) {
        lw_err_set(err, &lw_err_internal, "db: out of memory");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        char line[200];
        db_msg_line(PQerrorMessage(pg), false, line, sizeof line);
        lw_err_set(err, &lw_err_db_unavailable, "database unavailable: %s", line);
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, db_notice_ignore, NULL);
    return pg;
}

PGresult *lw_db_query_blocking(PGconn *c, const char *sql, int nparams, const char *const *params,
                               lw_err_t *err)
{
    PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    db_result_err(res, PQstatus(c) != CONNECTION_OK, PQerrorMessage(c), err);
    PQclear(res);
    return NULL;
}
