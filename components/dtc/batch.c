/* One batch of an import (batch.h): every part of every device in one transaction.
 *
 * A row a part refuses while writing (the registry's EUI and limit checks) after an earlier
 * part wrote it would leave that earlier part's row behind; the transaction is then rolled
 * back and run again without the refused rows, so a failed row writes nothing anywhere. A
 * write that fails as a whole (an SQL error) is retried one row a transaction: the row at
 * fault fails alone with that error. */
#include <stdlib.h>
#include <string.h>

#include "cluster/api_codec.h"
#include "cluster/db.h"
#include "cluster/mem.h"
#include "dtc/batch.h"

/* A row failed with err before any part wrote it. */
static void row_fail(dtc_row_t *r, const lw_err_t *err)
{
    r->outcome = TN_DEVPART_FAILED;
    r->err = *err;
}

/* Every path must have an owner, and every part prepares its row. */
static void prepare(const tn_devpart_env_t *env, const tn_devpart_t *const *parts, size_t np,
                    dtc_row_t *r)
{
    lw_err_t e;
    lw_err_clear(&e);
    for (size_t k = 0; k < r->dev.npaths; k++)
        if (tn_devparts_owner(r->dev.paths[k]) == NULL) {
            lw_api_unknown(&e, r->dev.paths[k]);
            row_fail(r, &e);
            return;
        }
    for (size_t p = 0; p < np; p++) {
        r->part_rows[p] = parts[p]->prepare(env, &r->dev, &e);
        if (r->part_rows[p] == NULL) {
            row_fail(r, &e);
            return;
        }
    }
}

static int exec(PGconn *c, const char *sql, lw_err_t *err)
{
    PGresult *res = lw_db_query_blocking(c, sql, 0, NULL, err);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

/* The scratch arrays of one transaction. */
typedef struct scratch {
    size_t *idx; /* rows of this transaction */
    tn_devpart_dev_t *devs;
    void **prow;
    tn_devpart_result_t *res;
    size_t *back; /* the position in idx of each entry of devs */
} scratch_t;

/* One transaction over the live rows idx[0..n). Returns 1 when a part refused a row an
 * earlier part had written (rolled back; that row is now FAILED: run again), 0 when done
 * (every row's part_res set), -1 with err on an SQL error (rolled back). */
static int run_tx(const tn_devpart_env_t *env, PGconn *c, const tn_devpart_t *const *parts,
                  size_t np, dtc_row_t *rows, const size_t *idx, size_t n, scratch_t *s,
                  lw_err_t *err)
{
    if (exec(c, "BEGIN", err) != 0)
        return -1;
    /* failed_at[i]: the part that refused row idx[i] (np: none). */
    size_t *failed_at = lw_calloc(n ? n : 1, sizeof *failed_at);
    for (size_t i = 0; i < n; i++)
        failed_at[i] = np;
    int rc = 0;
    for (size_t p = 0; p < np && rc == 0; p++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (failed_at[i] < p)
                continue;
            dtc_row_t *r = &rows[idx[i]];
            s->devs[m] = r->dev;
            s->prow[m] = r->part_rows[p];
            memset(&s->res[m], 0, sizeof s->res[m]);
            s->back[m] = i;
            m++;
        }
        if (m == 0)
            break;
        if (parts[p]->write(env, c, s->devs, s->prow, m, s->res, err) != 0) {
            rc = -1;
            break;
        }
        for (size_t j = 0; j < m; j++) {
            dtc_row_t *r = &rows[idx[s->back[j]]];
            r->part_res[p] = s->res[j];
            if (s->res[j].outcome == TN_DEVPART_FAILED) {
                failed_at[s->back[j]] = p;
                if (p > 0) {
                    row_fail(r, &s->res[j].err);
                    rc = 1;
                }
            }
        }
    }
    if (rc == 0)
        for (size_t i = 0; i < n; i++) {
            dtc_row_t *r = &rows[idx[i]];
            for (size_t p = failed_at[i] + 1; p < np; p++) {
                r->part_res[p].outcome = TN_DEVPART_FAILED;
                r->part_res[p].err = r->part_res[failed_at[i]].err;
            }
        }
    free(failed_at);
    lw_err_t e2;
    lw_err_clear(&e2);
    if (rc != 0 || env->dry_run) {
        if (exec(c, "ROLLBACK", &e2) != 0 && rc == 0) {
            *err = e2;
            return -1;
        }
        return rc;
    }
    if (exec(c, "COMMIT", err) != 0)
        return -1;
    return 0;
}

/* Runs the live rows idx[0..n) until no late refusal is left. */
static int run_rows(const tn_devpart_env_t *env, PGconn *c, const tn_devpart_t *const *parts,
                    size_t np, dtc_row_t *rows, size_t *idx, size_t n, scratch_t *s, lw_err_t *err)
{
    for (;;) {
        int rc = run_tx(env, c, parts, np, rows, idx, n, s, err);
        if (rc <= 0)
            return rc;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (rows[idx[i]].outcome != TN_DEVPART_FAILED)
                idx[m++] = idx[i];
        n = m;
    }
}

static void outcome(dtc_row_t *r, size_t np)
{
    if (r->outcome == TN_DEVPART_FAILED)
        return;
    r->outcome = TN_DEVPART_UNCHANGED;
    for (size_t p = 0; p < np; p++) {
        const tn_devpart_result_t *x = &r->part_res[p];
        if (x->outcome == TN_DEVPART_FAILED) {
            row_fail(r, &x->err);
            return;
        }
        if (p == 0 && x->outcome == TN_DEVPART_CREATED)
            r->outcome = TN_DEVPART_CREATED;
        else if (x->outcome != TN_DEVPART_UNCHANGED && r->outcome == TN_DEVPART_UNCHANGED)
            r->outcome = TN_DEVPART_UPDATED;
    }
}

int dtc_batch_run(const tn_devpart_env_t *env, PGconn *c, dtc_row_t *rows, size_t n, lw_err_t *err)
{
    size_t np;
    const tn_devpart_t *const *parts = tn_devparts(&np);
    scratch_t s = {
        .idx = lw_calloc(n ? n : 1, sizeof *s.idx),
        .devs = lw_calloc(n ? n : 1, sizeof *s.devs),
        .prow = lw_calloc(n ? n : 1, sizeof *s.prow),
        .res = lw_calloc(n ? n : 1, sizeof *s.res),
        .back = lw_calloc(n ? n : 1, sizeof *s.back),
    };
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        dtc_row_t *r = &rows[i];
        r->outcome = TN_DEVPART_UNCHANGED;
        lw_err_clear(&r->err);
        memset(r->part_rows, 0, sizeof r->part_rows);
        memset(r->part_res, 0, sizeof r->part_res);
        prepare(env, parts, np, r);
        if (r->outcome != TN_DEVPART_FAILED)
            s.idx[live++] = i;
    }
    int rc = live > 0 ? run_rows(env, c, parts, np, rows, s.idx, live, &s, err) : 0;
    if (rc != 0) {
        if (PQstatus(c) != CONNECTION_OK) {
            free(s.idx);
            free(s.devs);
            free(s.prow);
            free(s.res);
            free(s.back);
            return -1;
        }
        /* One row a transaction: the row at fault fails with its error. */
        rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            dtc_row_t *r = &rows[i];
            if (r->outcome == TN_DEVPART_FAILED)
                continue;
            memset(r->part_res, 0, sizeof r->part_res);
            size_t one = i;
            lw_err_t e;
            lw_err_clear(&e);
            if (run_rows(env, c, parts, np, rows, &one, 1, &s, &e) != 0) {
                if (PQstatus(c) != CONNECTION_OK) {
                    *err = e;
                    rc = -1;
                } else {
                    row_fail(r, &e);
                }
            }
        }
    }
    free(s.idx);
    free(s.devs);
    free(s.prow);
    free(s.res);
    free(s.back);
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        outcome(&rows[i], np);
    return 0;
}

void dtc_batch_committed(lw_rt_t *rt, const tn_devpart_env_t *env, dtc_row_t *rows, size_t n)
{
    size_t np;
    const tn_devpart_t *const *parts = tn_devparts(&np);
    tn_devpart_dev_t *devs = lw_calloc(n ? n : 1, sizeof *devs);
    void **prow = lw_calloc(n ? n : 1, sizeof *prow);
    tn_devpart_result_t *res = lw_calloc(n ? n : 1, sizeof *res);
    for (size_t p = 0; p < np; p++) {
        if (parts[p]->committed == NULL)
            continue;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (rows[i].outcome == TN_DEVPART_FAILED)
                continue;
            devs[m] = rows[i].dev;
            prow[m] = rows[i].part_rows[p];
            res[m] = rows[i].part_res[p];
            m++;
        }
        if (m > 0)
            parts[p]->committed(rt, env, devs, prow, res, m);
    }
    free(devs);
    free(prow);
    free(res);
}

void dtc_batch_release(dtc_row_t *rows, size_t n)
{
    size_t np;
    const tn_devpart_t *const *parts = tn_devparts(&np);
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < np; p++) {
            if (rows[i].part_rows[p] != NULL && parts[p]->row_free != NULL)
                parts[p]->row_free(rows[i].part_rows[p]);
            rows[i].part_rows[p] = NULL;
        }
}
