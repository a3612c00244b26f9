/* The Things Stack's EndDeviceTemplateConverter HTTP API (its grpc-gateway routes):
 *
 *   GET  /api/v3/edtc/formats  → {"formats": {"<id>": {"name", "description",
 *                                 "file_extensions": [...]}, ...}}
 *   POST /api/v3/edtc/convert  {"format_id", "data": <base64>, "end_device_version_ids"}
 *        → {"result": {"end_device", "field_mask": {"paths"}, "mapping_key"}} per template,
 *          in input order, one per line (application/json), or separated by a blank line
 *          with Accept: text/event-stream (The Things Stack's event-stream marshaler)
 *
 * As The Things Stack, neither asks for rights (the converter keeps nothing); the tenant must
 * resolve to an active one (tn_route). An error before the first template is its 4xx with
 * one {"error": ...} body (converter: 404 for an unknown format_id); after k templates the
 * answer is 200 with the k templates and then the {"error": ...} chunk, as grpc-gateway ends
 * a failed server stream. The data is decoded and converted a slice at a time on the loop,
 * each slice's templates sent before the next is read, and the next slice waits while the
 * client has not taken what was sent: memory stays bounded by the slice and the stream's
 * queue, whatever the number of devices. Metrics: lwstack_dtc_convert_templates_total{format},
 * lwstack_dtc_convert_errors_total{error}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"

#define EDTC_SLICE      (48u * 1024u) /* base64 characters per loop turn (36 KiB of file) */
#define EDTC_HIGH_WATER (512u * 1024u)
#define EDTC_MAX_QUEUED (4u * 1024u * 1024u)
#define EDTC_WAIT_MS    10u

typedef struct edtc_op {
    dtc_t *dtc;
    lw_http_req_t *req;     /* until answered or streaming */
    lw_http_stream_t *http; /* once streaming */
    json_t *data;           /* the base64 text (a reference) */
    size_t pos, len;
    EVP_ENCODE_CTX *b64;
    dtc_conv_t *conv;
    const char *format_id; /* the format's, static while the process runs */
    bool sse;
    bool done;   /* the conversion ended (well or not): nothing more to read */
    bool closed; /* the stream is gone (client left, dropped): free at the next turn */
    char *out;   /* lines not yet sent */
    size_t nout, cap;
    uint64_t templates;
    uv_timer_t timer;
    char cid[64];
} edtc_op_t;

static const char *delim(const edtc_op_t *op)
{
    return op->sse ? "\n\n" : "\n";
}

static void put(edtc_op_t *op, const char *pre, const char *text, size_t n)
{
    size_t pl = strlen(pre), dl = strlen(delim(op));
    if (op->cap - op->nout < pl + n + dl + 1) {
        op->cap = 2 * (op->nout + pl + n + dl + 1);
        op->out = lw_realloc(op->out, op->cap);
    }
    memcpy(op->out + op->nout, pre, pl);
    memcpy(op->out + op->nout + pl, text, n);
    op->out[op->nout + pl + n] = '}';
    memcpy(op->out + op->nout + pl + n + 1, delim(op), dl);
    op->nout += pl + n + 1 + dl;
}

static void op_closed(uv_handle_t *h)
{
    edtc_op_t *op = h->data;
    json_decref(op->data);
    EVP_ENCODE_CTX_free(op->b64);
    dtc_conv_free(op->conv);
    free(op->out);
    free(op);
}

/* Frees op once its timer is closed; answers nothing (the caller did or the client left). */
static void op_free(edtc_op_t *op)
{
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, op_closed);
}

static void on_stream_close(lw_http_stream_t *s, const char *reason, void *arg)
{
    (void)s;
    (void)reason;
    edtc_op_t *op = arg;
    op->http = NULL;
    op->closed = true;
    if (op->done)
        op_free(op); /* no turn is pending */
}

static int emit(void *arg, const dtc_template_t *t, lw_err_t *err)
{
    (void)err;
    edtc_op_t *op = arg;
    json_t *paths = json_array();
    for (size_t i = 0; i < t->npaths; i++)
        json_array_append_new(paths, json_string(t->paths[i]));
    json_t *res = json_pack("{sOs{so}}", "end_device", t->end_device, "field_mask", "paths", paths);
    if (t->mapping_key != NULL && t->mapping_key[0] != '\0')
        json_object_set_new(res, "mapping_key", json_string(t->mapping_key));
    char *text = lw_json_dumps(res, JSON_COMPACT);
    json_decref(res);
    if (text == NULL)
        return lw_err_set(err, &lw_err_internal, "a template could not be encoded");
    put(op, "{\"result\":", text, strlen(text));
    free(text);
    op->templates++;
    return 0;
}

/* Sends what is waiting, starting the stream (200) when needed. -1: the stream is gone. */
static int flush(edtc_op_t *op)
{
    lw_err_t e;
    if (op->nout == 0)
        return 0;
    if (op->http == NULL) {
        lw_http_req_t *req = op->req;
        op->req = NULL;
        op->http =
            lw_http_stream_start(req, 200, op->sse ? "text/event-stream" : "application/json",
                                 EDTC_MAX_QUEUED, on_stream_close, op, &e);
        if (op->http == NULL) {
            op->closed = true;
            return -1;
        }
    }
    int rc = lw_http_stream_send(op->http, op->out, op->nout, &e);
    op->nout = 0;
    if (rc != 0) { /* dropped: a slow reader */
        op->http = NULL;
        op->closed = true;
        return -1;
    }
    return 0;
}

static void count_error(edtc_op_t *op, const lw_err_t *err)
{
    if (op->dtc->m_convert_errors != NULL)
        lw_metric_add(op->dtc->m_convert_errors, (const char *const[]){lw_err_name(err), NULL}, 1);
}

/* The end: an error (or none). Answers or ends the stream, then frees op. */
static void finish(edtc_op_t *op, const lw_err_t *err)
{
    op->done = true;
    if (op->dtc->m_convert_templates != NULL && op->templates > 0)
        lw_metric_add(op->dtc->m_convert_templates, (const char *const[]){op->format_id, NULL},
                      (double)op->templates);
    if (err != NULL && err->def != NULL) {
        count_error(op, err);
        json_t *j = lw_http_err_json(err, op->cid);
        char *text = lw_json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (op->http == NULL && op->nout == 0 && op->req != NULL) {
            /* nothing sent yet: the error's own status, one {"error": ...} body */
            size_t n = strlen(text) + 16;
            char *body = lw_malloc(n);
            int bl = snprintf(body, n, "{\"error\":%s}", text);
            lw_http_respond(op->req, err->def->http_status,
                            op->sse ? "text/event-stream" : "application/json", body, (size_t)bl);
            op->req = NULL;
            free(body);
            free(text);
            op_free(op);
            return;
        }
        put(op, "{\"error\":", text, strlen(text));
        free(text);
    }
    if (flush(op) != 0) {
        if (op->http == NULL)
            op_free(op);
        return;
    }
    if (op->http != NULL) {
        lw_http_stream_end(op->http);
        op->http = NULL;
    } else if (op->req != NULL) { /* no template, no error: an empty 200 */
        lw_http_respond(op->req, 200, op->sse ? "text/event-stream" : "application/json", "", 0);
        op->req = NULL;
    }
    op_free(op);
}

static void turn(uv_timer_t *t);

/* One slice: decode, convert, send; then the next turn, or the end. */
static void slice(edtc_op_t *op)
{
    if (op->closed) {
        op->done = true;
        op_free(op);
        return;
    }
    if (op->http != NULL && lw_http_stream_queued(op->http) > EDTC_HIGH_WATER) {
        uv_timer_start(&op->timer, turn, EDTC_WAIT_MS, 0); /* the client has not taken it yet */
        return;
    }
    lw_err_t err;
    lw_err_clear(&err);
    const char *b64 = json_string_value(op->data);
    size_t take = op->len - op->pos > EDTC_SLICE ? EDTC_SLICE : op->len - op->pos;
    unsigned char in[EDTC_SLICE + 4];
    unsigned char bin[EDTC_SLICE];
    int nbin = 0;
    memcpy(in, b64 + op->pos, take);
    /* protobuf's JSON takes the URL-safe alphabet and unpadded text too */
    for (size_t i = 0; i < take; i++) {
        if (in[i] == '-')
            in[i] = '+';
        else if (in[i] == '_')
            in[i] = '/';
    }
    op->pos += take;
    size_t nin = take;
    if (op->pos == op->len) {
        size_t total = op->len;
        for (size_t i = 0; i < op->len; i++)
            if (b64[i] == '=' || b64[i] == '\n' || b64[i] == '\r' || b64[i] == ' ')
                total--;
        static const char pad[] = "==";
        if (total % 4 == 2 || total % 4 == 3) {
            size_t k = 4 - total % 4;
            bool padded = op->len > 0 && b64[op->len - 1] == '=';
            if (!padded) {
                memcpy(in + nin, pad, k);
                nin += k;
            }
        }
    }
    if (nin > 0 && EVP_DecodeUpdate(op->b64, bin, &nbin, in, (int)nin) < 0) {
        lw_err_set(&err, &lw_err_invalid_field, "invalid `data`: not base64");
        lw_err_attr(&err, "field", "data");
        finish(op, &err);
        return;
    }
    if (nbin > 0 && dtc_conv_feed(op->conv, bin, (size_t)nbin, emit, op, &err) != 0) {
        finish(op, &err);
        return;
    }
    if (op->pos == op->len) {
        int nfin = 0;
        if (EVP_DecodeFinal(op->b64, bin, &nfin) < 0) {
            lw_err_set(&err, &lw_err_invalid_field, "invalid `data`: not base64");
            lw_err_attr(&err, "field", "data");
            finish(op, &err);
            return;
        }
        if ((nfin > 0 && dtc_conv_feed(op->conv, bin, (size_t)nfin, emit, op, &err) != 0) ||
            dtc_conv_finish(op->conv, emit, op, &err) != 0) {
            finish(op, &err);
            return;
        }
        finish(op, NULL);
        return;
    }
    if (flush(op) != 0) {
        op->done = true;
        op_free(op);
        return;
    }
    uv_timer_start(&op->timer, turn, 0, 0);
}

static void turn(uv_timer_t *t)
{
    slice(t->data);
}

/* The base64 alphabets protobuf's JSON reads (standard and URL-safe, '=' padding). */
static bool b64_text(const json_t *s)
{
    const char *p = json_string_value(s);
    for (size_t i = 0, n = json_string_length(s); i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '-' || c == '_' || c == '=' || c == '\r' || c == '\n'))
            return false;
    }
    return true;
}

static void on_convert(lw_http_req_t *req, const tn_tenant_t *tenant, void *arg)
{
    (void)tenant;
    dtc_t *dtc = arg;
    lw_err_t err;
    json_t *body = lw_http_json(req, &err);
    if (body == NULL) {
        lw_http_respond_err(req, &err);
        return;
    }
    const char *id = json_string_value(json_object_get(body, "format_id"));
    const dtc_format_t *f = dtc_format_find(id);
    json_t *data = json_object_get(body, "data");
    json_t *vids = json_object_get(body, "end_device_version_ids");
    if (data != NULL && !json_is_null(data) && (!json_is_string(data) || !b64_text(data))) {
        lw_http_respond_errorf(req, &lw_err_invalid_field, "invalid `data`: not base64");
        return;
    }
    if (vids != NULL && !json_is_null(vids) && !json_is_object(vids)) {
        lw_http_respond_errorf(req, &lw_err_invalid_field,
                               "invalid `end_device_version_ids`: not an object");
        return;
    }
    dtc_conv_opts_t opts = {.end_device_version_ids = json_is_object(vids) ? vids : NULL};
    dtc_conv_t *conv = dtc_conv_new(f, &opts, &err);
    if (conv == NULL) {
        if (f == NULL) { /* name the id asked for */
            lw_err_set(&err, &lw_err_converter, "converter `%s` not found", id != NULL ? id : "");
            lw_err_attr(&err, "id", id != NULL ? id : "");
        }
        if (dtc->m_convert_errors != NULL)
            lw_metric_add(dtc->m_convert_errors, (const char *const[]){lw_err_name(&err), NULL}, 1);
        json_t *j = lw_http_err_json(&err, lw_http_correlation_id(req));
        json_t *wrapped = json_pack("{so}", "error", j);
        lw_http_respond_json(req, err.def->http_status, wrapped);
        return;
    }
    edtc_op_t *op = lw_calloc(1, sizeof *op);
    op->dtc = dtc;
    op->req = req;
    op->conv = conv;
    op->format_id = f->id;
    op->data = json_is_string(data) ? json_incref(data) : json_string("");
    op->len = json_string_length(op->data);
    op->b64 = EVP_ENCODE_CTX_new();
    EVP_DecodeInit(op->b64);
    const char *accept = lw_http_header(req, "accept");
    op->sse = accept != NULL && strstr(accept, "text/event-stream") != NULL;
    snprintf(op->cid, sizeof op->cid, "%s", lw_http_correlation_id(req));
    uv_timer_init(dtc->loop, &op->timer);
    op->timer.data = op;
    slice(op);
}

static void on_formats(lw_http_req_t *req, const tn_tenant_t *tenant, void *arg)
{
    (void)tenant;
    (void)arg;
    size_t n = 0;
    const dtc_format_t *const *f = dtc_formats(&n);
    json_t *formats = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *ext = json_array();
        for (size_t k = 0; f[i]->file_extensions != NULL && f[i]->file_extensions[k] != NULL; k++)
            json_array_append_new(ext, json_string(f[i]->file_extensions[k]));
        json_object_set_new(formats, f[i]->id,
                            json_pack("{ss ss so}", "name", f[i]->name, "description",
                                      f[i]->description, "file_extensions", ext));
    }
    lw_http_respond_json(req, 200, json_pack("{so}", "formats", formats));
}

int dtc_edtc_routes(dtc_t *dtc)
{
    lw_metrics_t *m = lw_rt_metrics(dtc->rt);
    if (m != NULL) {
        dtc->m_convert_templates =
            lw_metrics_counter(m, "lwstack_dtc_convert_templates_total",
                               "Templates answered by POST /api/v3/edtc/convert, by format.",
                               (const char *const[]){"format", NULL});
        dtc->m_convert_errors = lw_metrics_counter(
            m, "lwstack_dtc_convert_errors_total",
            "Conversions of POST /api/v3/edtc/convert that ended with an error, by its name.",
            (const char *const[]){"error", NULL});
    }
    if (tn_route(dtc->tn, "GET", "/api/v3/edtc/formats", on_formats, dtc) != 0 ||
        tn_route(dtc->tn, "POST", "/api/v3/edtc/convert", on_convert, dtc) != 0)
        return -1;
    return 0;
}
