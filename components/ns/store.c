/* PostgreSQL for the device worker: one row read when a device is first needed (never per
 * uplink), and batched writes behind the hot path: every device changed since the last
 * batch, one UPDATE per tenant over unnest()ed arrays, all in one transaction. A write
 * touches only rows whose gen is the one the worker loaded: a row the API rewrote meanwhile
 * is left to the RELOAD that the API published after its commit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"

uint8_t *ns_bytea_parse(const char *text, size_t *len)
{
    if (text == NULL || text[0] != '\\' || text[1] != 'x')
        return NULL;
    size_t n = strlen(text + 2) / 2;
    uint8_t *buf = lw_malloc(n + 1);
    int got = lw_hex_decode(text + 2, buf, n + 1);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    *len = (size_t)got;
    return buf;
}

char *ns_bytea_text(const uint8_t *buf, size_t len)
{
    char *t = lw_malloc(2 * len + 3);
    t[0] = '\\';
    t[1] = 'x';
    lw_hex_encode(buf, len, t + 2);
    return t;
}

/* ---- one row -------------------------------------------------------------------------------- */

typedef struct load_op {
    ns_t *ns;
    ns_row_cb cb;
    void *arg;
} load_op_t;

static void loaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    load_op_t *op = arg;
    ns_row_t row;
    memset(&row, 0, sizeof row);
    lw_err_t e;
    lw_err_clear(&e);
    if (err != NULL) {
        op->cb(op->arg, NULL, err);
        free(op);
        return;
    }
    if (PQntuples(res) == 0) {
        op->cb(op->arg, &row, NULL);
        free(op);
        return;
    }
    size_t slen = 0, tlen = 0;
    uint8_t *s = ns_bytea_parse(PQgetvalue(res, 0, 0), &slen);
    uint8_t *t = ns_bytea_parse(PQgetvalue(res, 0, 1), &tlen);
    if (s == NULL || t == NULL || ns_settings_decode(s, slen, &row.set) != 0 ||
        ns_state_decode(t, tlen, ns_kek_find, op->ns, &row.st) != 0) {
        lw_err_set(&e, &lw_err_internal, "the stored NS record cannot be read (unknown KEK?)");
        ns_settings_destroy(&row.set);
        free(s);
        free(t);
        op->cb(op->arg, NULL, &e);
        free(op);
        return;
    }
    free(s);
    free(t);
    row.found = true;
    row.gen = atoll(PQgetvalue(res, 0, 2));
    row.state_gen = atoll(PQgetvalue(res, 0, 3));
    op->cb(op->arg, &row, NULL);
    free(op);
}

int ns_store_load(ns_t *ns, const char *tenant, const char *app, const char *dev, ns_row_cb cb,
                  void *arg)
{
    char schema[TN_SCHEMA_MAX + 1], q[TN_SCHEMA_MAX + 8], sql[320];
    tn_schema_name(tenant, schema);
    if (lw_db_quote_ident(schema, q, sizeof q) != 0)
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT settings, state, gen, state_gen FROM %s.ns_devices WHERE application_id = $1 "
             "AND device_id = $2",
             q);
    load_op_t *op = lw_calloc(1, sizeof *op);
    op->ns = ns;
    op->cb = cb;
    op->arg = arg;
    const char *params[2] = {app, dev};
    if (lw_db_query(ns->db, sql, 2, params, loaded, op) != 0) {
        free(op);
        return -1;
    }
    return 0;
}

/* ---- batches ----------------------------------------------------------------------------------
 */

/* An array literal being built: {"a","b",NULL}. Elements are IDs, hex and numbers: nothing
 * that needs escaping but the bytea backslash. */
typedef struct arr {
    char *buf;
    size_t len, cap;
    size_t n;
} arr_t;

static void arr_put(arr_t *a, const char *s, size_t n)
{
    if (a->len + n + 1 > a->cap) {
        a->cap = (a->len + n + 1) * 2 + 64;
        a->buf = lw_realloc(a->buf, a->cap);
    }
    memcpy(a->buf + a->len, s, n);
    a->len += n;
    a->buf[a->len] = '\0';
}

static void arr_item(arr_t *a, const char *s, bool quote)
{
    arr_put(a, a->n == 0 ? "{" : ",", 1);
    a->n++;
    if (s == NULL) {
        arr_put(a, "NULL", 4);
        return;
    }
    if (quote)
        arr_put(a, "\"", 1);
    arr_put(a, s, strlen(s));
    if (quote)
        arr_put(a, "\"", 1);
}

static const char *arr_end(arr_t *a)
{
    if (a->n == 0)
        arr_put(a, "{", 1);
    arr_put(a, "}", 1);
    return a->buf;
}

enum { COL_APP, COL_DEV, COL_STATE, COL_ADDR, COL_PADDR, COL_SEEN, COL_GEN, NCOLS };

typedef struct tenant_batch {
    struct tenant_batch *next;
    char tenant[TN_ID_MAX + 1];
    arr_t cols[NCOLS];
} tenant_batch_t;

typedef struct flush_op {
    ns_t *ns;
    void (*done)(ns_t *ns, bool ok);
    tenant_batch_t *batches, *cur;
    lw_db_tx_t *tx;
    /* the devices written, to mark dirty again when the batch fails */
    char (*keys)[NS_DEV_KEY_MAX + 1];
    size_t nkeys;
} flush_op_t;

static void flush_free(flush_op_t *op)
{
    tenant_batch_t *b = op->batches;
    while (b != NULL) {
        tenant_batch_t *next = b->next;
        for (int i = 0; i < NCOLS; i++)
            free(b->cols[i].buf);
        free(b);
        b = next;
    }
    free(op->keys);
    free(op);
}

static void flush_end(flush_op_t *op, bool ok)
{
    ns_t *ns = op->ns;
    if (!ok)
        for (size_t i = 0; i < op->nkeys; i++) {
            ns_dev_t *d = ns_dev_find(ns, op->keys[i]);
            if (d != NULL)
                ns_dev_mark_dirty(ns, d);
        }
    void (*done)(ns_t *, bool) = op->done;
    flush_free(op);
    done(ns, ok);
}

static void flush_committed(void *arg, const lw_err_t *err)
{
    flush_op_t *op = arg;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "ns", "state batch not committed", "error", err->message, NULL);
    flush_end(op, err == NULL);
}

static void flush_next(flush_op_t *op);

static void flush_stepped(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    flush_op_t *op = arg;
    if (err != NULL) {
        lw_log(LW_LOG_WARN, "ns", "state batch failed", "tenant", op->cur->tenant, "error",
               err->message, NULL);
        lw_db_tx_rollback(op->tx, NULL, NULL);
        op->tx = NULL;
        flush_end(op, false);
        return;
    }
    op->cur = op->cur->next;
    flush_next(op);
}

static void flush_next(flush_op_t *op)
{
    if (op->cur == NULL) {
        lw_db_tx_t *tx = op->tx;
        op->tx = NULL;
        if (lw_db_tx_commit(tx, flush_committed, op) != 0)
            flush_end(op, false);
        return;
    }
    char schema[TN_SCHEMA_MAX + 1], q[TN_SCHEMA_MAX + 8], sql[900];
    tn_schema_name(op->cur->tenant, schema);
    lw_db_quote_ident(schema, q, sizeof q);
    snprintf(sql, sizeof sql,
             "UPDATE %s.ns_devices AS d SET state = v.state, dev_addr = v.dev_addr, "
             "pending_dev_addr = v.pending_dev_addr, last_seen_at = CASE WHEN v.seen = 0 THEN "
             "d.last_seen_at ELSE to_timestamp(v.seen / 1e9) END, updated_at = now() "
             "FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], "
             "$6::bigint[], $7::bigint[]) AS v(app, dev, state, dev_addr, pending_dev_addr, seen, "
             "gen) WHERE d.application_id = v.app AND d.device_id = v.dev AND d.gen = v.gen",
             q);
    const char *params[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        params[i] = arr_end(&op->cur->cols[i]);
    if (lw_db_tx_query(op->tx, sql, NCOLS, params, flush_stepped, op) != 0) {
        lw_db_tx_rollback(op->tx, NULL, NULL);
        op->tx = NULL;
        flush_end(op, false);
    }
}

static void flush_begun(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    flush_op_t *op = arg;
    if (err != NULL) {
        flush_end(op, false);
        return;
    }
    op->tx = tx;
    op->cur = op->batches;
    flush_next(op);
}

/* Rows in one UPDATE statement. A statement's text is built whole (its state column as hex,
 * about 2.5 KB per device) and then copied by the request and by libpq, whose output buffer
 * keeps the size of the largest statement it ever sent: one statement per tenant for a
 * batch of 5,000 devices held ~100 MB at the peak of a burst and kept a third of it. A
 * transaction carries as many statements as the batch needs. */
#define STORE_ROWS_MAX 256u

static tenant_batch_t *batch_for(flush_op_t *op, const char *tenant)
{
    for (tenant_batch_t *b = op->batches; b != NULL; b = b->next)
        if (strcmp(b->tenant, tenant) == 0 && b->cols[COL_APP].n < STORE_ROWS_MAX)
            return b;
    tenant_batch_t *b = lw_calloc(1, sizeof *b);
    snprintf(b->tenant, sizeof b->tenant, "%s", tenant);
    b->next = op->batches;
    op->batches = b;
    return b;
}

ns_batch_t *ns_store_cut(ns_t *ns, void (*done)(ns_t *ns, bool ok))
{
    flush_op_t *op = lw_calloc(1, sizeof *op);
    op->ns = ns;
    op->done = done;
    size_t cap = 0;
    for (ns_dev_t *d = ns->dirty_head; d != NULL; d = d->dirty_next)
        cap++;
    op->keys = lw_calloc(cap > 0 ? cap : 1, sizeof *op->keys);
    ns_dev_t *d = ns->dirty_head;
    ns->dirty_head = NULL;
    while (d != NULL) {
        ns_dev_t *next = d->dirty_next;
        d->dirty_next = NULL;
        d->dirty = false;
        uint8_t *buf = NULL;
        size_t len = 0;
        ns_dev_mac_sync(ns, d);
        if (d->phase == NS_DEV_READY &&
            ns_state_encode(&d->st, ns->at_rest.len > 0 ? &ns->at_rest : NULL, &buf, &len) == 0) {
            tenant_batch_t *b = batch_for(op, ns_dev_tenant(d));
            char *state = lw_malloc(2 * len + 4);
            state[0] = '\\';
            state[1] = '\\';
            state[2] = 'x';
            lw_hex_encode(buf, len, state + 3);
            char addr[9], paddr[9], seen[24], gen[24];
            snprintf(addr, sizeof addr, "%08" PRIx32, d->st.session.dev_addr);
            snprintf(paddr, sizeof paddr, "%08" PRIx32, ns_state_pending(&d->st)->dev_addr);
            snprintf(seen, sizeof seen, "%" PRId64, d->st.last_seen_at_ns);
            snprintf(gen, sizeof gen, "%" PRId64, d->gen);
            arr_item(&b->cols[COL_APP], ns_dev_app(d), true);
            arr_item(&b->cols[COL_DEV], ns_dev_dev(d), true);
            arr_item(&b->cols[COL_STATE], state, true);
            arr_item(&b->cols[COL_ADDR], d->st.session.valid ? addr : NULL, true);
            arr_item(&b->cols[COL_PADDR], ns_state_pending(&d->st)->valid ? paddr : NULL, true);
            arr_item(&b->cols[COL_SEEN], seen, false);
            arr_item(&b->cols[COL_GEN], gen, false);
            snprintf(op->keys[op->nkeys++], sizeof op->keys[0], "%s", d->key);
            free(state);
        }
        free(buf);
        d = next;
    }
    return (ns_batch_t *)op;
}

void ns_store_write(ns_batch_t *b)
{
    flush_op_t *op = (flush_op_t *)b;
    if (op->batches == NULL) {
        flush_end(op, true);
        return;
    }
    if (lw_db_begin(op->ns->db, flush_begun, op) != 0)
        flush_end(op, false);
}
