/* The import API (lwstack's own; the README's "Importing devices"):
 *
 *   POST   /api/v3/applications/{application_id}/devices/import                DEVICES_WRITE
 *          {"format_id", "data": <base64>, "more", "templates": [...], "dry_run",
 *           "fallbacks": {...}, "end_device_version_ids"}        → the job
 *   POST   .../devices/import/{job_id}/data {"data": <base64>, "more"}          DEVICES_WRITE
 *   GET    .../devices/import[?limit=&page=]                     the jobs       DEVICES_READ
 *   GET    .../devices/import/{job_id}[?result=&limit=&page=]    the job and its rows' results
 *   DELETE .../devices/import/{job_id}   a running job: canceled; a finished one: forgotten
 *
 * Keys in templates are written only with RIGHT_APPLICATION_DEVICES_WRITE_KEYS (the parts
 * fail a row with a key otherwise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "dtc/import_private.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#define R_READ        "RIGHT_APPLICATION_DEVICES_READ"
#define R_WRITE       "RIGHT_APPLICATION_DEVICES_WRITE"
#define R_WRITE_KEYS  "RIGHT_APPLICATION_DEVICES_WRITE_KEYS"
#define LOST_GRACE_MS 60000LL

enum { I_CREATE, I_DATA, I_GET, I_LIST, I_DELETE };

typedef struct imp_op {
    lw_api_op_t api;
    dtc_t *dtc;
    tn_tenant_t t;
    int kind;
    char app[TN_ID_MAX + 1];
    char job_id[DTC_JOB_ID_LEN + 1];
    char schema[TN_SCHEMA_MAX + 8];
    json_t *body;
    /* I_DATA */
    dtc_job_t *job;
    int fd;
    uint64_t off, written;
    bool more;
    lw_err_t err;
    /* I_GET */
    json_t *job_json;
    lw_api_page_t page;
    int result; /* -1: every result */
} imp_op_t;

#define OP(a) ((imp_op_t *)(a))

static void op_destroy(lw_api_op_t *a)
{
    json_decref(OP(a)->body);
    json_decref(OP(a)->job_json);
}

static bool job_id_valid(const char *s)
{
    if (strlen(s) != DTC_JOB_ID_LEN)
        return false;
    for (int i = 0; i < DTC_JOB_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static void fail_not_found(imp_op_t *op)
{
    lw_err_t e;
    lw_err_set(&e, &lw_err_import_job_not_found, "import job `%s` of application `%s` not found",
               op->job_id, op->app);
    lw_err_attr(&e, "job_id", op->job_id);
    lw_err_attr(&e, "application_id", op->app);
    lw_api_fail(&op->api, &e);
}

static void fail_finished(imp_op_t *op, const char *state)
{
    lw_err_t e;
    lw_err_set(&e, &lw_err_import_job_finished, "import job `%s` takes no more data (it is %s)",
               op->job_id, state);
    lw_err_attr(&e, "job_id", op->job_id);
    lw_err_attr(&e, "state", state);
    lw_api_fail(&op->api, &e);
}

static dtc_job_t *live_job(imp_op_t *op)
{
    return dtc_job_find(op->dtc->jobs, op->t.id, op->app, op->job_id);
}

/* ---- rendering a job from its row ---------------------------------------------------------- */

#define JOB_COLS                                                                                   \
    "job_id::text, application_id, format_id, dry_run, state, bytes_received, bytes_converted, "   \
    "created, updated, unchanged, failed, error, " LW_API_SQL_TIME(                                \
        "created_at") ", " LW_API_SQL_TIME("updated_at") ", " LW_API_SQL_TIME("finished_at") ", "  \
                                                                                             "(st" \
                                                                                             "ate" \
                                                                                             " IN" \
                                                                                             " ('" \
                                                                                             "RUN" \
                                                                                             "NIN" \
                                                                                             "G'," \
                                                                                             " '"  \
                                                                                             "WAI" \
                                                                                             "TIN" \
                                                                                             "G')" \
                                                                                             " AN" \
                                                                                             "D "  \
                                                                                             "upd" \
                                                                                             "ate" \
                                                                                             "d_"  \
                                                                                             "at " \
                                                                                             "< "  \
                                                                                             "now" \
                                                                                             "() " \
                                                                                             "- "  \
                                                                                             "$3:" \
                                                                                             ":bi" \
                                                                                             "gin" \
                                                                                             "t "  \
                                                                                             "* "  \
                                                                                             "int" \
                                                                                             "erv" \
                                                                                             "al " \
                                                                                             "'1 " \
                                                                                             "mil" \
                                                                                             "lis" \
                                                                                             "eco" \
                                                                                             "nd'" \
                                                                                             ")"

static json_int_t col_int(const PGresult *r, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The job of row `row` (columns from `c`), with what this process knows of a live one. */
static json_t *render_job(imp_op_t *op, const PGresult *r, int row, int c)
{
    const char *id = PQgetvalue(r, row, c);
    json_int_t cr = col_int(r, row, c + 7), up = col_int(r, row, c + 8),
               un = col_int(r, row, c + 9), fa = col_int(r, row, c + 10);
    json_t *o = json_pack(
        "{ss s{ss} ss sb ss sI sI sI sI sI sI sI ss ss}", "job_id", id, "application_ids",
        "application_id", PQgetvalue(r, row, c + 1), "format_id", PQgetvalue(r, row, c + 2),
        "dry_run", PQgetvalue(r, row, c + 3)[0] == 't', "state", PQgetvalue(r, row, c + 4),
        "bytes_received", col_int(r, row, c + 5), "bytes_converted", col_int(r, row, c + 6),
        "total", cr + up + un + fa, "created", cr, "updated", up, "unchanged", un, "failed", fa,
        "created_at", PQgetvalue(r, row, c + 12), "updated_at", PQgetvalue(r, row, c + 13));
    if (!PQgetisnull(r, row, c + 14))
        json_object_set_new(o, "finished_at", json_string(PQgetvalue(r, row, c + 14)));
    if (!PQgetisnull(r, row, c + 11)) {
        json_t *e = json_loads(PQgetvalue(r, row, c + 11), 0, NULL);
        if (e != NULL)
            json_object_set_new(o, "error", e);
    }
    dtc_job_t *job = dtc_job_find(op->dtc->jobs, op->t.id, PQgetvalue(r, row, c + 1), id);
    if (job != NULL && !job->closed) {
        json_object_set_new(o, "state", json_string(dtc_job_state_name(job->state)));
        json_object_set_new(o, "more", json_boolean(job->more));
        json_object_set_new(o, "bytes_received", json_integer((json_int_t)job->received));
        json_object_set_new(o, "bytes_converted", json_integer((json_int_t)job->shown_converted));
    } else if (PQgetvalue(r, row, c + 15)[0] == 't') {
        /* running, yet not heard of for longer than a waiting job may be: its process is gone */
        lw_err_t e;
        lw_err_set(&e, &lw_err_import_job_lost,
                   "import job `%s` stopped with the process that "
                   "ran it",
                   id);
        lw_err_attr(&e, "job_id", id);
        json_object_set_new(o, "state", json_string("FAILED"));
        json_object_set_new(o, "error", lw_http_err_json(&e, NULL));
    }
    return o;
}

static const char *lost_ms(imp_op_t *op, char *buf, size_t len)
{
    snprintf(buf, len, "%lld", op->dtc->jobs->idle_ms + LOST_GRACE_MS);
    return buf;
}

/* ---- GET ------------------------------------------------------------------------------------ */

static void got_rows(lw_api_op_t *a, const PGresult *res)
{
    imp_op_t *op = OP(a);
    json_t *o = op->job_json;
    op->job_json = NULL;
    json_t *arr = json_array();
    long long total = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        total = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (PQgetisnull(res, i, 1))
            continue;
        json_t *row = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        if (row != NULL)
            json_array_append_new(arr, row);
    }
    json_object_set_new(o, "results", arr);
    char t[24];
    snprintf(t, sizeof t, "%lld", total);
    lw_http_add_header(a->req, "X-Total-Count", t);
    lw_api_reply(a, 200, o);
}

static void got_job(lw_api_op_t *a, const PGresult *res)
{
    imp_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        fail_not_found(op);
        return;
    }
    op->job_json = render_job(op, res, 0, 0);
    char sql[900], from[300];
    snprintf(from, sizeof from, "%s.dtc_import_rows WHERE job_id = $1::uuid%s", op->schema,
             op->result >= 0 ? " AND result = $2" : "");
    if (lw_api_page_sql(sql, sizeof sql, "row::text", from, "seq", &op->page) != 0) {
        lw_api_fail_with(a, &lw_err_internal, "rows statement too long");
        return;
    }
    const char *p[2] = {op->job_id, op->result >= 0
                                        ? dtc_import_outcome_name((tn_devpart_outcome_t)op->result)
                                        : NULL};
    lw_api_query(a, sql, op->result >= 0 ? 2 : 1, p, got_rows);
}

static json_t *render_listed(lw_api_op_t *a, const PGresult *res, int row)
{
    return render_job(OP(a), res, row, 1);
}

static void listed(lw_api_op_t *a, const PGresult *res)
{
    lw_api_reply_page(a, res, "jobs", render_listed, true);
}

/* ---- POST data ------------------------------------------------------------------------------- */

static int append_work(lw_api_op_t *a)
{
    imp_op_t *op = OP(a);
    lw_err_clear(&op->err);
    return dtc_spool_write(op->fd, op->off, json_object_get(op->body, "data"), &op->written,
                           &op->err);
}

static void append_worked(lw_api_op_t *a, int rc)
{
    imp_op_t *op = OP(a);
    dtc_job_t *job = op->job;
    if (rc != 0) {
        dtc_job_appended(job, 0, job->more);
        lw_api_fail(a, &op->err);
        return;
    }
    if (job->closed) {
        fail_finished(op, dtc_job_state_name(job->state));
        dtc_job_appended(job, op->written, op->more);
        return;
    }
    dtc_job_appended(job, op->written, op->more);
    lw_api_reply(a, 200, dtc_job_json(job));
}

static void data_elsewhere(lw_api_op_t *a, const PGresult *res)
{
    imp_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        fail_not_found(op);
        return;
    }
    const char *state = PQgetvalue(res, 0, 0);
    if (strcmp(state, "RUNNING") != 0 && strcmp(state, "WAITING") != 0) {
        fail_finished(op, state);
        return;
    }
    lw_err_t e;
    lw_err_set(&e, &lw_err_import_job_elsewhere,
               "import job `%s` runs in another lwstack process (%s): send its parts to that one",
               op->job_id, PQgetvalue(res, 0, 1));
    lw_err_attr(&e, "job_id", op->job_id);
    lw_api_fail(a, &e);
}

static void data_checked(imp_op_t *op)
{
    dtc_job_t *job = live_job(op);
    if (job == NULL) {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "SELECT state, node FROM %s.dtc_import_jobs WHERE job_id = $1::uuid AND "
                 "application_id = $2",
                 op->schema);
        const char *p[2] = {op->job_id, op->app};
        lw_api_query(&op->api, sql, 2, p, data_elsewhere);
        return;
    }
    if (job->closed || job->cancel || job->state == DTC_JOB_DONE || job->state == DTC_JOB_FAILED ||
        job->state == DTC_JOB_CANCELED || job->failed || !job->more || job->format == NULL) {
        fail_finished(op, job->cancel ? "CANCELED" : dtc_job_state_name(job->state));
        return;
    }
    if (job->appending || job->busy) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_import_job_busy,
                   "import job `%s` is still writing the previous part: send the next once it "
                   "is answered",
                   op->job_id);
        lw_err_attr(&e, "job_id", op->job_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    job->appending = true;
    op->job = job;
    op->fd = job->fd;
    op->off = job->received;
    lw_api_work(&op->api, append_work, append_worked);
}

/* ---- DELETE ---------------------------------------------------------------------------------- */

static void forgot(lw_api_op_t *a, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        fail_not_found(OP(a));
        return;
    }
    lw_api_reply(a, 200, json_object());
}

static void canceled_elsewhere(lw_api_op_t *a, const PGresult *res)
{
    imp_op_t *op = OP(a);
    char sql[400];
    const char *p[2] = {op->job_id, op->app};
    if (PQntuples(res) == 0) {
        /* not running: a finished job is forgotten, with its rows */
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s.dtc_import_jobs WHERE job_id = $1::uuid AND application_id = $2 "
                 "RETURNING 1",
                 op->schema);
        lw_api_query(a, sql, 2, p, forgot);
        return;
    }
    lw_api_reply(a, 200, render_job(op, res, 0, 0));
}

static void delete_checked(imp_op_t *op)
{
    dtc_job_t *job = live_job(op);
    if (job != NULL && !job->closed) {
        lw_api_op_t *a = &op->api;
        dtc_job_cancel(job, a); /* answered once the job has stopped */
        return;
    }
    /* a job of another process (or of none): its process sees CANCELED at its next batch */
    lw_err_t e;
    lw_err_set(&e, &lw_err_import_canceled, "import job `%s` was canceled", op->job_id);
    lw_err_attr(&e, "job_id", op->job_id);
    json_t *ej = lw_http_err_json(&e, NULL);
    char *es = json_dumps(ej, JSON_COMPACT);
    json_decref(ej);
    char sql[900], lost[24];
    snprintf(sql, sizeof sql,
             "UPDATE %s.dtc_import_jobs SET state = 'CANCELED', error = $4::jsonb, finished_at = "
             "now(), updated_at = now() WHERE job_id = $1::uuid AND application_id = $2 AND "
             "state IN ('RUNNING', 'WAITING') AND $3::bigint >= 0 RETURNING " JOB_COLS,
             op->schema);
    const char *p[4] = {op->job_id, op->app, lost_ms(op, lost, sizeof lost), es};
    lw_api_query(&op->api, sql, 4, p, canceled_elsewhere);
    free(es);
}

/* ---- POST (create) -----------------------------------------------------------------------------
 */

static void create_checked(imp_op_t *op, const tn_rights_t *held)
{
    dtc_import_jobs_t *jobs = op->dtc->jobs;
    if (jobs->n >= jobs->max_jobs) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_import_too_many_jobs,
                   "%zu import jobs are running in this process, the most "
                   "`dtc.import.max-jobs` allows",
                   jobs->n);
        lw_err_attr_num(&e, "jobs", (long long)jobs->n);
        lw_api_fail(&op->api, &e);
        return;
    }
    const json_t *b = op->body;
    dtc_job_t *job = dtc_job_new(jobs);
    job->tenant = op->t;
    snprintf(job->schema, sizeof job->schema, "%s", op->schema);
    snprintf(job->app, sizeof job->app, "%s", op->app);
    const char *fid = json_string_value(json_object_get(b, "format_id"));
    const json_t *data = json_object_get(b, "data");
    if (json_is_string(data)) {
        job->format = dtc_format_find(fid);
        snprintf(job->format_id, sizeof job->format_id, "%s", fid);
        job->first_data = json_incref((json_t *)data);
        job->more = json_is_true(json_object_get(b, "more"));
    } else {
        job->templates = json_incref(json_object_get(b, "templates"));
    }
    const json_t *fb = json_object_get(b, "fallbacks");
    if (json_is_object(fb))
        job->fallbacks = json_incref((json_t *)fb);
    const json_t *vids = json_object_get(b, "end_device_version_ids");
    if (json_is_object(vids))
        job->version_ids = json_incref((json_t *)vids);
    job->env = (tn_devpart_env_t){
        .cfg = op->dtc->cfg,
        .tenant = &job->tenant,
        .schema = job->schema,
        .application_id = job->app,
        .keys = tn_rights_have(held, R_WRITE_KEYS),
        .dry_run = json_is_true(json_object_get(b, "dry_run")),
    };
    dtc_job_start(job, &op->api);
}

static int create_parse(imp_op_t *op, lw_err_t *e)
{
    json_t *body = lw_http_json(op->api.req, e);
    if (body == NULL)
        return -1;
    static const char *const keys[] = {
        "format_id", "data", "templates", "more", "dry_run", "fallbacks", "end_device_version_ids",
        NULL};
    if (lw_api_check_keys(body, keys, NULL, e) != 0)
        return -1;
    op->body = json_incref(body);
    const json_t *data = json_object_get(body, "data");
    const json_t *tpl = json_object_get(body, "templates");
    const json_t *fid = json_object_get(body, "format_id");
    bool has_data = data != NULL && !json_is_null(data);
    bool has_tpl = tpl != NULL && !json_is_null(tpl);
    if (has_data == has_tpl) {
        lw_err_set(e, &lw_err_import_input, "give either `data` with `format_id` or `templates`");
        return -1;
    }
    if (has_data) {
        if (!json_is_string(data))
            return lw_api_invalid(e, "data", "base64 text expected");
        if (dtc_base64_decoded_len(json_string_value(data), json_string_length(data)) < 0)
            return lw_api_invalid(e, "data", "base64 expected");
        if (!json_is_string(fid) || json_string_length(fid) == 0)
            return lw_api_invalid(e, "format_id", "required with `data`");
        if (json_string_length(fid) >= sizeof((dtc_job_t *)0)->format_id ||
            dtc_format_find(json_string_value(fid)) == NULL) {
            lw_err_set(e, &lw_err_converter, "converter `%s` not found", json_string_value(fid));
            lw_err_attr(e, "id", json_string_value(fid));
            return -1;
        }
    } else {
        if (!json_is_array(tpl))
            return lw_api_invalid(e, "templates", "an array expected");
        if (fid != NULL && !json_is_null(fid))
            return lw_api_invalid(e, "format_id", "not with `templates`");
        if (json_is_true(json_object_get(body, "more")))
            return lw_api_invalid(e, "more", "only with `data`");
    }
    const json_t *more = json_object_get(body, "more");
    if (more != NULL && !json_is_boolean(more) && !json_is_null(more))
        return lw_api_invalid(e, "more", "a boolean expected");
    const json_t *dry = json_object_get(body, "dry_run");
    if (dry != NULL && !json_is_boolean(dry) && !json_is_null(dry))
        return lw_api_invalid(e, "dry_run", "a boolean expected");
    const json_t *vids = json_object_get(body, "end_device_version_ids");
    if (vids != NULL && !json_is_null(vids) && !json_is_object(vids))
        return lw_api_invalid(e, "end_device_version_ids", "an object expected");
    return dtc_import_fallbacks_check(json_object_get(body, "fallbacks"), e);
}

/* ---- requests ----------------------------------------------------------------------------------
 */

static void checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    imp_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    char sql[1400], lost[24];
    switch (op->kind) {
    case I_CREATE:
        create_checked(op, held);
        break;
    case I_DATA:
        data_checked(op);
        break;
    case I_GET: {
        snprintf(sql, sizeof sql,
                 "SELECT " JOB_COLS " FROM %s.dtc_import_jobs WHERE job_id = $1::uuid AND "
                 "application_id = $2",
                 op->schema);
        const char *p[3] = {op->job_id, op->app, lost_ms(op, lost, sizeof lost)};
        lw_api_query(&op->api, sql, 3, p, got_job);
        break;
    }
    case I_LIST: {
        char from[300];
        snprintf(from, sizeof from,
                 "%s.dtc_import_jobs WHERE application_id = $1 AND $2 = $2 AND $3::bigint >= 0",
                 op->schema);
        if (lw_api_page_sql(sql, sizeof sql, JOB_COLS, from, "created_at DESC, job_id",
                            &op->page) != 0) {
            lw_api_fail_with(&op->api, &lw_err_internal, "list statement too long");
            return;
        }
        const char *p[3] = {op->app, op->app, lost_ms(op, lost, sizeof lost)};
        lw_api_query(&op->api, sql, 3, p, listed);
        break;
    }
    default:
        delete_checked(op);
        break;
    }
}

static void handle(lw_http_req_t *req, const tn_tenant_t *t, void *arg, int kind)
{
    dtc_t *dtc = arg;
    imp_op_t *op = lw_api_op_new(sizeof *op, &dtc->jobs->env, req);
    op->api.destroy = op_destroy;
    op->dtc = dtc;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->kind = kind;
    op->result = -1;
    snprintf(op->app, sizeof op->app, "%s", lw_http_param(req, "application_id"));
    const char *jid = lw_http_param(req, "job_id");
    snprintf(op->job_id, sizeof op->job_id, "%s", jid != NULL ? jid : "");
    char schema[TN_SCHEMA_MAX + 1];
    tn_schema_name(op->t.id, schema);
    lw_db_quote_ident(schema, op->schema, sizeof op->schema);
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_id_validate(op->app, 3, "application_ids.application_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (kind != I_CREATE && kind != I_LIST && (jid == NULL || !job_id_valid(jid))) {
        fail_not_found(op);
        return;
    }
    const char *need = R_WRITE;
    switch (kind) {
    case I_CREATE:
        if (create_parse(op, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        break;
    case I_DATA: {
        json_t *body = lw_http_json(req, &e);
        static const char *const keys[] = {"data", "more", NULL};
        if (body == NULL || lw_api_check_keys(body, keys, NULL, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        const json_t *data = json_object_get(body, "data");
        if (!json_is_string(data) ||
            dtc_base64_decoded_len(json_string_value(data), json_string_length(data)) < 0) {
            lw_api_fail_invalid(&op->api, "data", "base64 expected");
            return;
        }
        const json_t *more = json_object_get(body, "more");
        if (more != NULL && !json_is_boolean(more) && !json_is_null(more)) {
            lw_api_fail_invalid(&op->api, "more", "a boolean expected");
            return;
        }
        op->body = json_incref(body);
        op->more = json_is_true(more);
        break;
    }
    case I_GET:
    case I_LIST: {
        need = R_READ;
        if (lw_api_page_parse(lw_http_query(req, "limit"), lw_http_query(req, "page"),
                              LW_API_LIMIT_MAX, &op->page, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        const char *r = lw_http_query(req, "result");
        if (kind == I_GET && r != NULL && r[0] != '\0' &&
            (op->result = dtc_import_outcome_parse(r)) < 0) {
            lw_api_fail_invalid(&op->api, "result",
                                "one of CREATED, UPDATED, UNCHANGED, FAILED expected");
            return;
        }
        break;
    }
    default:
        break;
    }
    const char *needs[1] = {need};
    if (dtc->access == NULL ||
        tn_access_check(dtc->access, &op->t, lw_http_header(req, "authorization"), "application",
                        op->app, needs, 1, checked, op) != 0)
        lw_api_fail_with(&op->api, &lw_err_unavailable, "access checks unavailable");
}

#define H(name, kind)                                                                              \
    static void name(lw_http_req_t *req, const tn_tenant_t *t, void *arg)                          \
    {                                                                                              \
        handle(req, t, arg, kind);                                                                 \
    }
H(on_create, I_CREATE)
H(on_data, I_DATA)
H(on_get, I_GET)
H(on_list, I_LIST)
H(on_delete, I_DELETE)
#undef H

int dtc_import_routes(dtc_t *dtc)
{
    static const char base[] = "/api/v3/applications/{application_id}/devices/import";
    static const char one[] = "/api/v3/applications/{application_id}/devices/import/{job_id}";
    static const char data[] = "/api/v3/applications/{application_id}/devices/import/{job_id}/data";
    if (tn_route(dtc->tn, "POST", base, on_create, dtc) != 0 ||
        tn_route(dtc->tn, "GET", base, on_list, dtc) != 0 ||
        tn_route(dtc->tn, "GET", one, on_get, dtc) != 0 ||
        tn_route(dtc->tn, "DELETE", one, on_delete, dtc) != 0 ||
        tn_route(dtc->tn, "POST", data, on_data, dtc) != 0) {
        lw_log(LW_LOG_ERROR, "dtc", "import routes not registered", NULL);
        return -1;
    }
    return 0;
}
