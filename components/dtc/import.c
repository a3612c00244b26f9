/* Import jobs: each a chain of steps on the worker pool with its own blocking connection
 * (import_private.h). The loop owns the job between steps: it runs the parts' committed
 * hooks, publishes the events and chooses the next step. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cluster/event.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "dtc/import_private.h"

#define CHUNK_BYTES      (64 * 1024)
#define BATCH_ATTEMPTS   3
#define RETRY_SUBMIT_MS  200
#define EVENT_READ_RIGHT "RIGHT_APPLICATION_DEVICES_READ"

static void pump(dtc_job_t *job);

/* ---- the registry of this process's jobs --------------------------------------------------- */

int dtc_import_jobs_init(dtc_t *dtc, lw_err_t *err)
{
    (void)err;
    dtc_import_jobs_t *jobs = lw_calloc(1, sizeof *jobs);
    jobs->dtc = dtc;
    jobs->env = (lw_api_env_t){.db = dtc->db, .work = dtc->work, .module = "dtc"};
    const char *dir = lw_config_str(dtc->cfg, "dtc.import.spool-dir");
    if (dir == NULL || dir[0] == '\0')
        dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    snprintf(jobs->spool_dir, sizeof jobs->spool_dir, "%s", dir);
    jobs->batch_size = (size_t)lw_config_int(dtc->cfg, "dtc.import.batch-size");
    jobs->max_jobs = (size_t)lw_config_int(dtc->cfg, "dtc.import.max-jobs");
    jobs->idle_ms = lw_config_duration_ms(dtc->cfg, "dtc.import.idle-timeout");
    jobs->retention_ms = lw_config_duration_ms(dtc->cfg, "dtc.import.retention");
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(jobs->node, sizeof jobs->node, "%s:%ld", host, (long)getpid());
    lw_metrics_t *m = lw_rt_metrics(dtc->rt);
    if (m != NULL) {
        jobs->m_rows = lw_metrics_counter(m, "lwstack_dtc_import_rows_total",
                                          "Rows of import jobs by their result (CREATED, UPDATED, "
                                          "UNCHANGED, FAILED; dry runs included).",
                                          (const char *const[]){"result", NULL});
        jobs->m_jobs = lw_metrics_counter(m, "lwstack_dtc_import_jobs_total",
                                          "Import jobs ended, by their state (DONE, FAILED, "
                                          "CANCELED).",
                                          (const char *const[]){"state", NULL});
        jobs->m_running = lw_metrics_gauge(m, "lwstack_dtc_import_jobs_running",
                                           "Import jobs of this process not ended yet.", NULL);
    }
    dtc->jobs = jobs;
    return 0;
}

static void running_set(dtc_import_jobs_t *jobs)
{
    if (jobs->m_running != NULL)
        lw_metric_set(jobs->m_running, NULL, (double)jobs->n);
}

void dtc_import_jobs_free(dtc_t *dtc)
{
    free(dtc->jobs);
    dtc->jobs = NULL;
}

dtc_job_t *dtc_job_find(dtc_import_jobs_t *jobs, const char *tenant_id, const char *app,
                        const char *job_id)
{
    for (dtc_job_t *j = jobs != NULL ? jobs->list : NULL; j != NULL; j = j->next)
        if (strcmp(j->id, job_id) == 0 && strcmp(j->tenant.id, tenant_id) == 0 &&
            strcmp(j->app, app) == 0)
            return j;
    return NULL;
}

dtc_job_t *dtc_job_new(dtc_import_jobs_t *jobs)
{
    dtc_job_t *job = lw_calloc(1, sizeof *job);
    job->jobs = jobs;
    job->fd = -1;
    job->batch_size = jobs->batch_size;
    unsigned char u[16];
    if (RAND_bytes(u, sizeof u) != 1)
        abort(); /* no randomness: nothing else would work either */
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(job->id, sizeof job->id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    return job;
}

static void job_unlink(dtc_job_t *job)
{
    dtc_import_jobs_t *jobs = job->jobs;
    for (dtc_job_t **p = &jobs->list; *p != NULL; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            jobs->n--;
            break;
        }
}

static void job_free(dtc_job_t *job)
{
    for (size_t i = 0; i < job->npend; i++)
        dtc_pend_destroy(&job->pend[i]);
    free(job->pend);
    for (size_t i = 0; i < job->nwpend; i++)
        dtc_pend_destroy(&job->wpend[i]);
    free(job->wpend);
    if (job->rows != NULL) {
        dtc_batch_release(job->rows, job->nrows);
        free(job->rows);
    }
    dtc_conv_free(job->conv);
    if (job->pg != NULL)
        PQfinish(job->pg);
    if (job->fd >= 0)
        close(job->fd);
    json_decref(job->fallbacks);
    json_decref(job->templates);
    json_decref(job->version_ids);
    json_decref(job->first_data);
    free(job);
}

static void job_closed(uv_handle_t *h)
{
    job_free(h->data);
}

/* The job is over and nothing refers to it: gone once its timer is closed. */
static void job_release(dtc_job_t *job)
{
    dtc_import_jobs_t *jobs = job->jobs;
    job_unlink(job);
    running_set(jobs);
    if (job->idle_open)
        uv_close((uv_handle_t *)&job->idle, job_closed);
    else
        job_free(job);
    if (jobs->stopping && jobs->n == 0 && jobs->stopped != NULL) {
        void (*done)(void *) = jobs->stopped;
        jobs->stopped = NULL;
        done(jobs->stopped_arg);
    }
}

/* ---- JSON --------------------------------------------------------------------------------- */

json_t *dtc_job_json(const dtc_job_t *job)
{
    json_t *o = json_pack(
        "{ss s{ss} ss sb ss sb sI sI sI sI sI sI sI}", "job_id", job->id, "application_ids",
        "application_id", job->app, "format_id", job->format_id, "dry_run", job->env.dry_run,
        "state", dtc_job_state_name(job->state), "more", job->more, "bytes_received",
        (json_int_t)job->received, "bytes_converted", (json_int_t)job->shown_converted, "total",
        (json_int_t)(job->shown[0] + job->shown[1] + job->shown[2] + job->shown[3]), "created",
        (json_int_t)job->shown[TN_DEVPART_CREATED], "updated",
        (json_int_t)job->shown[TN_DEVPART_UPDATED], "unchanged",
        (json_int_t)job->shown[TN_DEVPART_UNCHANGED], "failed",
        (json_int_t)job->shown[TN_DEVPART_FAILED]);
    if (job->shown_failed)
        json_object_set_new(o, "error", lw_http_err_json(&job->shown_error, NULL));
    return o;
}

/* ---- spooling ----------------------------------------------------------------------------- */

static int spool_open(dtc_job_t *job, lw_err_t *err)
{
    char path[600];
    snprintf(path, sizeof path, "%s/lwstack-dtc-import-XXXXXX", job->jobs->spool_dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        lw_err_set(err, &lw_err_import_spool, "the import's spool file cannot be made in `%s`: %s",
                   job->jobs->spool_dir, strerror(errno));
        return -1;
    }
    unlink(path); /* nothing stays behind, whatever happens to the process */
    job->fd = fd;
    return 0;
}

int dtc_spool_write(int fd, uint64_t off, const json_t *data, uint64_t *written, lw_err_t *err)
{
    const char *text = json_string_value(data);
    size_t len = json_string_length(data);
    long long n = dtc_base64_decoded_len(text, len);
    if (n < 0)
        return lw_api_invalid(err, "data", "base64 expected");
    unsigned char *buf = lw_malloc((size_t)n + 3);
    long long got = dtc_base64_decode(text, len, buf);
    int rc = -1;
    if (got < 0) {
        lw_api_invalid(err, "data", "base64 expected");
        goto out;
    }
    for (long long done = 0; done < got;) {
        ssize_t w = pwrite(fd, buf + done, (size_t)(got - done), (off_t)(off + (uint64_t)done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            lw_err_set(err, &lw_err_import_spool, "the import's spool file cannot be written: %s",
                       w < 0 ? strerror(errno) : "no room");
            goto out;
        }
        done += w;
    }
    *written = (uint64_t)got;
    rc = 0;
out:
    free(buf);
    return rc;
}

/* ---- templates ---------------------------------------------------------------------------- */

static void pend_push(dtc_job_t *job, const json_t *end_device, const char *const *paths,
                      size_t npaths, uint64_t line)
{
    if (job->npend == job->cappend) {
        job->cappend = job->cappend == 0 ? job->batch_size + 16 : job->cappend * 2;
        job->pend = lw_realloc(job->pend, job->cappend * sizeof *job->pend);
    }
    dtc_import_merge(end_device, paths, npaths, line, job->app, job->fallbacks,
                     &job->pend[job->npend++]);
}

/* A row that failed before it became a template (the converter's error). */
static void pend_push_err(dtc_job_t *job, uint64_t line, const lw_err_t *err)
{
    pend_push(job, NULL, NULL, 0, line);
    dtc_pend_t *p = &job->pend[job->npend - 1];
    p->err = *err;
    p->device_id[0] = '\0';
}

static int on_template(void *arg, const dtc_template_t *t, lw_err_t *err)
{
    (void)err;
    pend_push(arg, t->end_device, t->paths, t->npaths, t->line);
    return 0;
}

/* The leaf paths of the non-zero values of v (a template given without a field mask). */
static void leaf_paths(const json_t *v, char *prefix, size_t plen, size_t cap, char ***out,
                       size_t *n, size_t *capn)
{
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        int w = snprintf(prefix + plen, cap - plen, "%s%s", plen > 0 ? "." : "", k);
        if (w < 0 || (size_t)w >= cap - plen)
            continue;
        if (json_is_object(x) && json_object_size(x) > 0) {
            leaf_paths(x, prefix, plen + (size_t)w, cap, out, n, capn);
        } else if (!json_is_null(x) && !json_is_false(x) &&
                   !(json_is_string(x) && json_string_length(x) == 0) &&
                   !(json_is_integer(x) && json_integer_value(x) == 0) &&
                   !(json_is_array(x) && json_array_size(x) == 0) && !json_is_object(x)) {
            if (*n == *capn) {
                *capn = *capn == 0 ? 16 : *capn * 2;
                *out = lw_realloc(*out, *capn * sizeof **out);
            }
            (*out)[(*n)++] = lw_strdup(prefix);
        }
        prefix[plen] = '\0';
    }
}

/* The next request template: {"end_device", "field_mask": {"paths"}}. */
static void take_template(dtc_job_t *job)
{
    size_t i = job->next_template++;
    const json_t *t = json_array_get(job->templates, i);
    const json_t *dev = json_object_get(t, "end_device");
    const json_t *fm = json_object_get(json_object_get(t, "field_mask"), "paths");
    char field[64];
    lw_err_t e;
    lw_err_clear(&e);
    if (!json_is_object(dev)) {
        snprintf(field, sizeof field, "templates[%zu].end_device", i);
        lw_api_invalid(&e, field, "an object expected");
        pend_push_err(job, i + 1, &e);
        return;
    }
    char **paths = NULL;
    size_t n = 0, cap = 0;
    if (fm != NULL) {
        size_t k;
        const json_t *p;
        json_array_foreach(fm, k, p)
        {
            if (!json_is_string(p))
                continue;
            if (n == cap) {
                cap = cap == 0 ? 16 : cap * 2;
                paths = lw_realloc(paths, cap * sizeof *paths);
            }
            paths[n++] = lw_strdup(json_string_value(p));
        }
    } else {
        char prefix[256] = "";
        leaf_paths(dev, prefix, 0, sizeof prefix, &paths, &n, &cap);
    }
    pend_push(job, dev, (const char *const *)paths, n, i + 1);
    for (size_t k = 0; k < n; k++)
        free(paths[k]);
    free(paths);
}

/* Feeds what is spooled (or takes the request's templates) until a batch is full or the
 * input so far is used up. Pool thread. */
static void fill(dtc_job_t *job)
{
    if (job->templates != NULL) {
        while (job->npend < job->batch_size && job->next_template < json_array_size(job->templates))
            take_template(job);
        if (job->next_template >= json_array_size(job->templates))
            job->input_done = true;
        return;
    }
    lw_err_t e;
    lw_err_clear(&e);
    unsigned char *buf = NULL;
    while (!job->input_done && job->npend < job->batch_size) {
        int rc;
        if (job->converted < job->snap_received) {
            if (buf == NULL)
                buf = lw_malloc(CHUNK_BYTES);
            uint64_t want = job->snap_received - job->converted;
            ssize_t r = pread(job->fd, buf, want < CHUNK_BYTES ? (size_t)want : CHUNK_BYTES,
                              (off_t)job->converted);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                lw_err_set(&e, &lw_err_import_spool, "the import's spool file cannot be read: %s",
                           r < 0 ? strerror(errno) : "short");
                job->conv_failed = true;
                job->conv_err = e;
                job->input_done = true;
                break;
            }
            job->converted += (uint64_t)r;
            rc = dtc_conv_feed(job->conv, buf, (size_t)r, on_template, job, &e);
        } else if (!job->snap_more) {
            rc = dtc_conv_finish(job->conv, on_template, job, &e);
            job->input_done = true;
        } else {
            break; /* the next part is to come */
        }
        if (rc != 0) {
            const char *line = NULL;
            for (int i = 0; i < e.nattrs; i++)
                if (strcmp(e.attrs[i].key, "line") == 0)
                    line = e.attrs[i].value;
            pend_push_err(job, line != NULL ? strtoull(line, NULL, 10) : 0, &e);
            job->conv_failed = true;
            job->conv_err = e;
            job->input_done = true;
        }
    }
    free(buf);
}

/* ---- the steps (pool thread) ---------------------------------------------------------------- */

static const char *db_uri(const dtc_job_t *job)
{
    return lw_config_str(job->jobs->dtc->cfg, "db.uri");
}

static int exec_params(dtc_job_t *job, const char *sql, int n, const char *const *p, char *out,
                       size_t outlen, lw_err_t *err)
{
    PGresult *r = PQexecParams(job->pg, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        bool gone = PQstatus(job->pg) != CONNECTION_OK;
        lw_err_set(err, gone ? &lw_err_db_unavailable : &lw_err_db_query, "%s",
                   gone ? "database unavailable" : PQresultErrorMessage(r));
        rc = -1;
    } else if (out != NULL) {
        snprintf(out, outlen, "%s",
                 PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    }
    PQclear(r);
    return rc;
}

static void step_open(dtc_job_t *job)
{
    lw_err_t *e = &job->step_err;
    job->pg = lw_db_connect_blocking(db_uri(job), e);
    if (job->pg == NULL)
        goto fail;
    char sql[900], ms[32];
    snprintf(ms, sizeof ms, "%lld", job->jobs->retention_ms);
    snprintf(sql, sizeof sql,
             "DELETE FROM %s.dtc_import_jobs WHERE finished_at < now() - $1::bigint * "
             "interval '1 millisecond'",
             job->schema);
    const char *p1[1] = {ms};
    if (exec_params(job, sql, 1, p1, NULL, 0, e) != 0)
        goto fail;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.dtc_import_jobs (job_id, application_id, format_id, dry_run, node, "
             "state) VALUES ($1::uuid, $2, $3, $4::boolean, $5, 'RUNNING')",
             job->schema);
    const char *p[5] = {job->id, job->app, job->format_id, job->env.dry_run ? "true" : "false",
                        job->jobs->node};
    if (exec_params(job, sql, 5, p, NULL, 0, e) != 0)
        goto fail;
    if (job->format != NULL) {
        if (spool_open(job, e) != 0)
            goto fail;
        if (job->first_data != NULL &&
            dtc_spool_write(job->fd, 0, job->first_data, &job->snap_received, e) != 0)
            goto fail;
    }
    job->step_rc = 0;
    return;
fail:
    job->step_rc = -1;
}

/* The batch: the first rows of pend with distinct device IDs (a device twice in one
 * transaction would be written twice); rows that failed before are not given to the parts. */
static size_t batch_take(dtc_job_t *job)
{
    size_t n = 0;
    while (n < job->npend && n < job->batch_size) {
        const dtc_pend_t *p = &job->pend[n];
        bool dup = false;
        for (size_t i = 0; i < n && p->err.def == NULL; i++)
            if (job->pend[i].err.def == NULL && strcmp(job->pend[i].device_id, p->device_id) == 0)
                dup = true;
        if (dup)
            break;
        n++;
    }
    return n;
}

/* Writer: the batch's results and the job's progress, in one statement. */
static int record(dtc_job_t *job, size_t n, const tn_devpart_outcome_t *out,
                  const lw_err_t *const *errs, lw_err_t *err)
{
    json_t *arr = json_array();
    uint64_t delta[4] = {0};
    for (size_t i = 0; i < n; i++) {
        const dtc_pend_t *p = &job->wpend[i];
        json_t *r = dtc_import_row_json(job->seq + 1 + i, p->line, p->device_id, out[i], errs[i]);
        json_array_append_new(arr, r);
        delta[out[i]]++;
    }
    char *rows = lw_json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    char d[6][24], sql[1600], state[16];
    for (int i = 0; i < 4; i++)
        snprintf(d[i], sizeof d[i], "%llu", (unsigned long long)delta[i]);
    snprintf(d[4], sizeof d[4], "%llu", (unsigned long long)job->w_received);
    snprintf(d[5], sizeof d[5], "%llu", (unsigned long long)job->w_converted);
    snprintf(sql, sizeof sql,
             "WITH r AS (INSERT INTO %s.dtc_import_rows (job_id, seq, line, device_id, result, "
             "row) SELECT $1::uuid, (x->>'index')::bigint, (x->>'line')::bigint, "
             "coalesce(x->>'device_id', ''), x->>'result', x FROM jsonb_array_elements($2::jsonb) "
             "x ON CONFLICT DO NOTHING) UPDATE %s.dtc_import_jobs SET created = created + "
             "$3::bigint, updated = updated + $4::bigint, unchanged = unchanged + $5::bigint, "
             "failed = failed + $6::bigint, bytes_received = $7::bigint, bytes_converted = "
             "$8::bigint, updated_at = now() WHERE job_id = $1::uuid RETURNING state",
             job->schema, job->schema);
    const char *p[8] = {job->id, rows, d[0], d[1], d[2], d[3], d[4], d[5]};
    int rc = exec_params(job, sql, 8, p, state, sizeof state, err);
    free(rows);
    if (rc == 0) {
        memcpy(job->w_delta, delta, sizeof delta);
        if (strcmp(state, "CANCELED") == 0)
            job->db_canceled = true;
    }
    return rc;
}

/* Writer: the batch of wpend through every part, then its results. */
static void step_write(dtc_job_t *job)
{
    lw_err_t *e = &job->write_err;
    lw_err_clear(e);
    job->write_rc = 0;
    job->batch_ok = false;
    memset(job->w_delta, 0, sizeof job->w_delta);
    size_t n = job->nwpend;
    job->rows = lw_calloc(n, sizeof *job->rows);
    size_t *map = lw_malloc(n * sizeof *map);
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        const dtc_pend_t *p = &job->wpend[i];
        if (p->err.def != NULL)
            continue;
        dtc_row_t *r = &job->rows[nr];
        r->dev = (tn_devpart_dev_t){.device_id = p->device_id,
                                    .end_device = p->end_device,
                                    .paths = (const char *const *)p->paths,
                                    .npaths = p->npaths};
        r->line = p->line;
        map[nr++] = i;
    }
    job->nrows = nr;
    int rc = nr > 0 ? -1 : 0;
    for (int attempt = 0; nr > 0 && attempt < BATCH_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            sleep((unsigned)attempt);
            PQreset(job->pg);
        }
        rc = dtc_batch_run(&job->env, job->pg, job->rows, nr, e);
        if (rc == 0)
            break;
    }
    job->batch_ok = rc == 0;
    if (rc == 0) {
        tn_devpart_outcome_t *out = lw_malloc(n * sizeof *out);
        const lw_err_t **errs = lw_malloc(n * sizeof *errs);
        for (size_t i = 0; i < n; i++) {
            out[i] = TN_DEVPART_FAILED;
            errs[i] = &job->wpend[i].err;
        }
        for (size_t k = 0; k < nr; k++) {
            out[map[k]] = job->rows[k].outcome;
            errs[map[k]] = &job->rows[k].err;
        }
        rc = record(job, n, out, errs, e);
        free(out);
        free(errs);
    }
    free(map);
    job->write_rc = rc;
}

static void step_close(dtc_job_t *job)
{
    job->step_rc = 0;
    if (job->pg == NULL || PQstatus(job->pg) != CONNECTION_OK)
        return;
    char *error = NULL;
    if (job->final_state == DTC_JOB_FAILED || job->final_state == DTC_JOB_CANCELED) {
        json_t *ej = lw_http_err_json(&job->error, NULL);
        error = lw_json_dumps(ej, JSON_COMPACT);
        json_decref(ej);
    }
    char sql[700], rcv[24], cnv[24];
    snprintf(rcv, sizeof rcv, "%llu", (unsigned long long)job->w_received);
    snprintf(cnv, sizeof cnv, "%llu", (unsigned long long)job->converted);
    snprintf(sql, sizeof sql,
             "UPDATE %s.dtc_import_jobs SET state = $2, error = $3::jsonb, bytes_received = "
             "$4::bigint, bytes_converted = $5::bigint, updated_at = now(), finished_at = now() "
             "WHERE job_id = $1::uuid",
             job->schema);
    const char *p[5] = {job->id, dtc_job_state_name(job->final_state), error, rcv, cnv};
    job->step_rc = exec_params(job, sql, 5, p, NULL, 0, &job->step_err);
    free(error);
    PQfinish(job->pg);
    job->pg = NULL;
}

static void step_work(void *arg)
{
    dtc_task_t *t = arg;
    dtc_job_t *job = t->job;
    t->ran = true;
    switch (t->step) {
    case DTC_STEP_OPEN:
        lw_err_clear(&job->step_err);
        step_open(job);
        break;
    case DTC_STEP_CONVERT:
        fill(job);
        break;
    case DTC_STEP_WRITE:
        step_write(job);
        break;
    case DTC_STEP_CLOSE:
        lw_err_clear(&job->step_err);
        step_close(job);
        break;
    }
}

/* ---- the loop's side ---------------------------------------------------------------------- */

static void publish(dtc_job_t *job, const char *name, const char *device_id, json_t *data)
{
    lw_event_t ev = {
        .module = "dtc",
        .tenant = job->tenant.id,
        .name = name,
        .identifiers = device_id != NULL && device_id[0] != '\0'
                           ? lw_event_device_ids(job->app, device_id)
                           : json_pack("[{s{ss}}]", "application_ids", "application_id", job->app),
        .data = data,
        .visibility = EVENT_READ_RIGHT,
    };
    lw_event_publish(job->jobs->dtc->bus, &ev);
}

static json_t *summary(const dtc_job_t *job)
{
    json_t *o = dtc_job_json(job);
    json_object_del(o, "application_ids");
    json_object_del(o, "more");
    return o;
}

static bool submit(dtc_job_t *job, dtc_step_t step);

static void retry_cb(uv_timer_t *t)
{
    dtc_job_t *job = t->data;
    pump(job);
}

static void idle_cb(uv_timer_t *t)
{
    dtc_job_t *job = t->data;
    if (job->busy || job->state != DTC_JOB_WAITING)
        return;
    lw_err_set(&job->error, &lw_err_import_idle,
               "import job `%s` waited %lld s for its next part: "
               "stopped",
               job->id, job->jobs->idle_ms / 1000);
    lw_err_attr(&job->error, "job_id", job->id);
    lw_err_attr_num(&job->error, "seconds", job->jobs->idle_ms / 1000);
    job->failed = true;
    job->halted = true;
    pump(job);
}

static void timer_start(dtc_job_t *job, uv_timer_cb cb, uint64_t ms)
{
    if (!job->idle_open) {
        uv_timer_init(job->jobs->dtc->loop, &job->idle);
        job->idle.data = job;
        job->idle_open = true;
    }
    uv_timer_start(&job->idle, cb, ms, 0);
}

static void show(dtc_job_t *job)
{
    memcpy(job->shown, job->counts, sizeof job->shown);
    if (!job->conv_busy)
        job->shown_converted = job->converted;
    if (job->failed) {
        job->shown_failed = true;
        job->shown_error = job->error;
    }
}

/* The job's first error stays its error. */
static void job_fail(dtc_job_t *job, const lw_err_t *err)
{
    if (!job->failed) {
        job->failed = true;
        job->error = *err;
    }
}

static void open_done(dtc_job_t *job)
{
    lw_api_op_t *op = job->waiting_op;
    job->waiting_op = NULL;
    json_decref(job->first_data);
    job->first_data = NULL;
    if (job->step_rc != 0) {
        lw_api_fail(op, &job->step_err);
        job_release(job);
        return;
    }
    job->received = job->snap_received;
    json_t *d = json_pack("{ss ss sb}", "job_id", job->id, "format_id", job->format_id, "dry_run",
                          job->env.dry_run);
    publish(job, "dtc.import.start", NULL, d);
    lw_log_kv(LW_LOG_INFO, "dtc", "import started", LW_LOG_STR("tenant", job->tenant.id),
              LW_LOG_STR("application", job->app), LW_LOG_STR("job", job->id),
              LW_LOG_STR("format", job->format_id), LW_LOG_BOOL("dry_run", job->env.dry_run));
    lw_api_reply(op, 200, dtc_job_json(job));
    pump(job);
}

static void convert_done(dtc_job_t *job)
{
    if (job->conv_failed)
        job_fail(job, &job->conv_err);
    show(job);
    pump(job);
}

static void write_done(dtc_job_t *job)
{
    size_t n = job->nwpend;
    if (job->batch_ok && n > 0) {
        if (!job->env.dry_run && job->nrows > 0)
            dtc_batch_committed(job->jobs->dtc->rt, &job->env, job->rows, job->nrows);
        /* the events of the rows that failed, in order */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const dtc_pend_t *p = &job->wpend[i];
            const lw_err_t *err = &p->err;
            tn_devpart_outcome_t o = TN_DEVPART_FAILED;
            if (p->err.def == NULL) {
                o = job->rows[k].outcome;
                err = &job->rows[k].err;
                k++;
            }
            if (o != TN_DEVPART_FAILED)
                continue;
            json_t *d = dtc_import_row_json(job->seq + 1 + i, p->line, p->device_id, o, err);
            json_object_set_new(d, "job_id", json_string(job->id));
            publish(job, "dtc.import.row.fail", p->device_id, d);
        }
    }
    if (job->write_rc == 0) {
        job->seq += n;
        for (int i = 0; i < 4; i++) {
            job->counts[i] += job->w_delta[i];
            if (job->jobs->m_rows != NULL && job->w_delta[i] > 0)
                lw_metric_add(
                    job->jobs->m_rows,
                    (const char *const[]){dtc_import_outcome_name((tn_devpart_outcome_t)i), NULL},
                    (double)job->w_delta[i]);
        }
    } else {
        job_fail(job, &job->write_err); /* the database, after BATCH_ATTEMPTS */
        job->halted = true;
    }
    if (job->rows != NULL) {
        dtc_batch_release(job->rows, job->nrows);
        free(job->rows);
        job->rows = NULL;
        job->nrows = 0;
    }
    for (size_t i = 0; i < n; i++)
        dtc_pend_destroy(&job->wpend[i]);
    free(job->wpend);
    job->wpend = NULL;
    job->nwpend = 0;
    if (job->db_canceled)
        job->cancel = true;
    show(job);
    pump(job);
}

static void close_done(dtc_job_t *job)
{
    job->state = job->final_state;
    if (job->jobs->m_jobs != NULL)
        lw_metric_add(job->jobs->m_jobs,
                      (const char *const[]){dtc_job_state_name(job->state), NULL}, 1);
    show(job);
    publish(job, "dtc.import.done", NULL, summary(job));
    lw_log_kv(LW_LOG_INFO, "dtc", "import done", LW_LOG_STR("tenant", job->tenant.id),
              LW_LOG_STR("application", job->app), LW_LOG_STR("job", job->id),
              LW_LOG_STR("state", dtc_job_state_name(job->state)),
              LW_LOG_UINT("created", job->counts[TN_DEVPART_CREATED]),
              LW_LOG_UINT("updated", job->counts[TN_DEVPART_UPDATED]),
              LW_LOG_UINT("unchanged", job->counts[TN_DEVPART_UNCHANGED]),
              LW_LOG_UINT("failed", job->counts[TN_DEVPART_FAILED]),
              LW_LOG_STR("error", job->failed ? lw_err_name(&job->error) : NULL));
    if (job->waiting_op != NULL) {
        lw_api_op_t *op = job->waiting_op;
        job->waiting_op = NULL;
        lw_api_reply(op, 200, dtc_job_json(job));
    }
    job->closed = true;
    if (!job->appending)
        job_release(job);
}

static void step_done(void *arg, lw_work_status_t status)
{
    dtc_task_t *t = arg;
    dtc_job_t *job = t->job;
    if (t->step == DTC_STEP_CONVERT)
        job->conv_busy = false;
    else if (t->step == DTC_STEP_WRITE)
        job->write_busy = false;
    else
        job->busy = false;
    if (status == LW_WORK_CANCELED && !t->ran) {
        /* the pool is closing: nothing more will run */
        lw_err_t e;
        lw_err_set(&e, &lw_err_unavailable, "the worker pool is closing");
        switch (t->step) {
        case DTC_STEP_OPEN:
            job->step_rc = -1;
            job->step_err = e;
            open_done(job);
            return;
        case DTC_STEP_CLOSE:
            close_done(job);
            return;
        default:
            /* the batch was not written: its rows stay unreported */
            if (t->step == DTC_STEP_WRITE) {
                for (size_t i = 0; i < job->nwpend; i++)
                    dtc_pend_destroy(&job->wpend[i]);
                free(job->wpend);
                job->wpend = NULL;
                job->nwpend = 0;
            }
            job_fail(job, &e);
            job->halted = true;
            pump(job);
            return;
        }
    }
    switch (t->step) {
    case DTC_STEP_OPEN:
        open_done(job);
        break;
    case DTC_STEP_CONVERT:
        convert_done(job);
        break;
    case DTC_STEP_WRITE:
        write_done(job);
        break;
    case DTC_STEP_CLOSE:
        close_done(job);
        break;
    }
}

static bool submit(dtc_job_t *job, dtc_step_t step)
{
    dtc_task_t *t = step == DTC_STEP_CONVERT ? &job->t_conv
                    : step == DTC_STEP_WRITE ? &job->t_write
                                             : &job->t_main;
    t->job = job;
    t->step = step;
    t->ran = false;
    if (step == DTC_STEP_CONVERT) {
        job->snap_received = job->received;
        job->snap_more = job->more;
    } else if (step == DTC_STEP_WRITE) {
        job->w_received = job->received;
        job->w_converted = job->shown_converted;
    } else {
        job->step = step;
        job->w_received = job->received;
    }
    lw_err_t e;
    if (lw_work_submit(job->jobs->dtc->work, step_work, step_done, t, NULL, &e) == 0) {
        if (step == DTC_STEP_CONVERT)
            job->conv_busy = true;
        else if (step == DTC_STEP_WRITE)
            job->write_busy = true;
        else
            job->busy = true;
        return true;
    }
    if (step == DTC_STEP_OPEN) {
        job->step_rc = -1;
        job->step_err = e;
        open_done(job);
    } else if (job->jobs->stopping || e.def == &lw_err_work_pool_closed) {
        if (step == DTC_STEP_CLOSE) {
            close_done(job);
        } else {
            job_fail(job, &e);
            job->halted = true;
        }
    } else {
        timer_start(job, retry_cb, RETRY_SUBMIT_MS); /* the queue is full: soon again */
    }
    return false;
}

/* Moves the next batch from pend to wpend (converter idle). */
static void batch_move(dtc_job_t *job)
{
    size_t n = batch_take(job);
    job->wpend = lw_malloc(n * sizeof *job->wpend);
    memcpy(job->wpend, job->pend, n * sizeof *job->pend);
    job->nwpend = n;
    if (job->npend > n)
        memmove(job->pend, job->pend + n, (job->npend - n) * sizeof *job->pend);
    job->npend -= n;
}

/* Chooses the next steps: the writer takes a full batch while the converter makes the next.
 * Loop thread. The converter's fields are read only while it is idle. */
static void pump(dtc_job_t *job)
{
    if (job->busy || job->closed)
        return;
    if (job->idle_open)
        uv_timer_stop(&job->idle);
    bool idle = !job->conv_busy && !job->write_busy;
    if (job->cancel || job->halted) {
        if (!idle)
            return; /* the steps in flight end first */
        if (job->cancel) {
            lw_err_t e;
            lw_err_set(&e, &lw_err_import_canceled, "import job `%s` was canceled", job->id);
            lw_err_attr(&e, "job_id", job->id);
            job_fail(job, &e);
        }
        job->final_state = job->cancel ? DTC_JOB_CANCELED : DTC_JOB_FAILED;
        submit(job, DTC_STEP_CLOSE);
        return;
    }
    if (!job->write_busy && !job->conv_busy &&
        (job->npend >= job->batch_size || (job->input_done && job->npend > 0))) {
        batch_move(job);
        if (!submit(job, DTC_STEP_WRITE)) {
            /* not queued: the rows go back to the front of pend */
            job->pend = lw_realloc(job->pend, (job->npend + job->nwpend + 1) * sizeof *job->pend);
            memmove(job->pend + job->nwpend, job->pend, job->npend * sizeof *job->pend);
            memcpy(job->pend, job->wpend, job->nwpend * sizeof *job->pend);
            job->npend += job->nwpend;
            job->cappend = job->npend + 1;
            free(job->wpend);
            job->wpend = NULL;
            job->nwpend = 0;
            return;
        }
    }
    if (!job->conv_busy && !job->input_done && job->npend < job->batch_size) {
        bool input = job->templates != NULL || job->converted < job->received || !job->more;
        if (input && !submit(job, DTC_STEP_CONVERT))
            return;
    }
    if (job->conv_busy || job->write_busy) {
        job->state = DTC_JOB_RUNNING;
        return;
    }
    if (job->input_done && job->npend == 0) {
        job->final_state = job->failed ? DTC_JOB_FAILED : DTC_JOB_DONE;
        submit(job, DTC_STEP_CLOSE);
        return;
    }
    job->state = DTC_JOB_WAITING;
    if (job->jobs->idle_ms > 0)
        timer_start(job, idle_cb, (uint64_t)job->jobs->idle_ms);
}

void dtc_job_start(dtc_job_t *job, lw_api_op_t *op)
{
    dtc_import_jobs_t *jobs = job->jobs;
    job->next = jobs->list;
    jobs->list = job;
    jobs->n++;
    running_set(jobs);
    job->waiting_op = op;
    job->state = DTC_JOB_RUNNING;
    if (job->format != NULL) {
        dtc_conv_opts_t o = {.end_device_version_ids = job->version_ids};
        lw_err_t e;
        job->conv = dtc_conv_new(job->format, &o, &e);
        if (job->conv == NULL) {
            job->waiting_op = NULL;
            lw_api_fail(op, &e);
            job_release(job);
            return;
        }
    }
    submit(job, DTC_STEP_OPEN);
}

void dtc_job_appended(dtc_job_t *job, uint64_t n, bool more)
{
    job->appending = false;
    if (job->closed) {
        job_release(job);
        return;
    }
    job->received += n;
    job->more = more;
    pump(job);
}

void dtc_job_cancel(dtc_job_t *job, lw_api_op_t *op)
{
    job->cancel = true;
    if (job->waiting_op == NULL)
        job->waiting_op = op;
    else
        lw_api_reply(op, 200, dtc_job_json(job)); /* a second DELETE while the first waits */
    pump(job);
}

void dtc_import_jobs_stop(dtc_t *dtc, void (*done)(void *arg), void *arg)
{
    dtc_import_jobs_t *jobs = dtc->jobs;
    if (jobs == NULL || jobs->n == 0) {
        done(arg);
        return;
    }
    jobs->stopping = true;
    jobs->stopped = done;
    jobs->stopped_arg = arg;
    for (dtc_job_t *j = jobs->list, *next; j != NULL; j = next) {
        next = j->next;
        j->cancel = true;
        pump(j);
    }
}
