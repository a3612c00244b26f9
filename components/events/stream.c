/* POST /api/v3/events (TTS's Events.Stream through grpc-gateway): the body is a
 * StreamEventsRequest {identifiers, names, tail, after}; the caller needs some right on every
 * identifier (a device's: on its application), else TTS's no_<type>_rights before anything is
 * streamed. The answer is 200 with one {"result": event} line per event: first TTS's
 * `events.stream.start`, then the history tail/after ask for, then events as they come,
 * those the caller's rights make visible. A line "\n" every events.heartbeat-interval keeps
 * proxies from closing it and finds a client gone. When a recheck finds the rights gone the
 * stream ends with an {"error": ...} line, as grpc-gateway ends a failed stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/api_codec.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/uid.h"
#include "events/events_private.h"

struct ev_stream {
    ev_t *ev;
    ev_stream_t *prev, *next;
    lw_http_req_t *req;     /* until the stream starts */
    lw_http_stream_t *http; /* once started */
    ev_sub_t *sub;
    char cid[48];
};

static void stream_free(ev_stream_t *es)
{
    ev_t *ev = es->ev;
    if (es->prev)
        es->prev->next = es->next;
    else if (ev->streams == es)
        ev->streams = es->next;
    if (es->next)
        es->next->prev = es->prev;
    if (es->sub != NULL)
        ev_sub_close(es->sub);
    free(es);
}

static void on_http_close(lw_http_stream_t *s, const char *reason, void *arg)
{
    (void)s;
    (void)reason;
    ev_stream_t *es = arg;
    es->http = NULL;
    stream_free(es);
}

/* Sends one line; -1 when the stream was dropped (slow reader): es is freed then. */
static int send_line(ev_stream_t *es, const char *pre, const char *text, size_t len)
{
    size_t plen = strlen(pre), n = plen + len + 2;
    char small[2048];
    char *b = n <= sizeof small ? small : lw_malloc(n);
    memcpy(b, pre, plen);
    memcpy(b + plen, text, len);
    b[plen + len] = '}';
    b[plen + len + 1] = '\n';
    lw_err_t err;
    int rc = lw_http_stream_send(es->http, b, n, &err);
    if (b != small)
        free(b);
    if (rc != 0) {
        lw_metric_add(es->ev->m_dropped, (const char *const[]){"slow_reader", NULL}, 1);
        es->http = NULL;
        stream_free(es);
        return -1;
    }
    return 0;
}

static int deliver(ev_sub_t *s, const char *text, size_t len)
{
    return send_line(s->owner, "{\"result\":", text, len);
}

/* TTS's first event of a stream. */
static char *start_event(ev_stream_t *es)
{
    const ev_filter_t *f = &es->sub->filter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[LW_API_TIME_LEN];
    lw_api_time_format(&ts, when);
    uint8_t raw[LW_UID_LEN];
    lw_uid(raw);
    char uid[2 * LW_UID_LEN + 1];
    lw_hex_encode(raw, sizeof raw, uid);
    json_t *ev = json_pack("{ss ss so ss s[s] ss}", "name", "events.stream.start", "time", when,
                           "identifiers", ev_filter_ids_json(f), "origin", es->ev->origin,
                           "correlation_ids", es->cid, "unique_id", uid);
    if (f->n_names > 0) {
        json_t *names = json_array();
        for (size_t i = 0; i < f->n_names; i++)
            json_array_append_new(names, json_string(f->names[i]));
        json_object_set_new(ev, "data",
                            json_pack("{ss so}", "@type",
                                      "type.googleapis.com/google.protobuf.Value", "value", names));
    }
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

static void ready(ev_sub_t *s, const lw_err_t *err)
{
    ev_stream_t *es = s->owner;
    lw_http_req_t *req = es->req;
    es->req = NULL;
    if (err != NULL) {
        lw_http_respond_err(req, err);
        stream_free(es);
        return;
    }
    lw_err_t e;
    es->http = lw_http_stream_start(req, 200, "application/json", es->ev->stream_max_queued,
                                    on_http_close, es, &e);
    if (es->http == NULL) {
        stream_free(es);
        return;
    }
    char *start = start_event(es);
    int rc = start != NULL ? send_line(es, "{\"result\":", start, strlen(start)) : 0;
    free(start);
    if (rc == 0)
        ev_sub_start(s);
}

static void revoked(ev_sub_t *s, const lw_err_t *err)
{
    ev_stream_t *es = s->owner;
    json_t *j = lw_http_err_json(err, es->cid);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    lw_metric_add(es->ev->m_dropped, (const char *const[]){"rights_revoked", NULL}, 1);
    int rc = text != NULL ? send_line(es, "{\"error\":", text, strlen(text)) : 0;
    free(text);
    if (rc != 0)
        return;
    lw_http_stream_end(es->http);
    es->http = NULL;
    stream_free(es);
}

static const ev_sub_ops_t stream_ops = {.ready = ready, .deliver = deliver, .revoked = revoked};

static void on_stream(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    ev_t *ev = arg;
    lw_err_t err;
    lw_err_clear(&err);
    json_t *body = lw_http_json(req, &err);
    if (body == NULL) {
        lw_http_respond_err(req, &err);
        return;
    }
    ev_stream_t *es = lw_calloc(1, sizeof *es);
    es->ev = ev;
    snprintf(es->cid, sizeof es->cid, "%s", lw_http_correlation_id(req));
    es->sub = ev_sub_new(ev, t, lw_http_header(req, "authorization"), &stream_ops, es, &err);
    if (es->sub == NULL || ev_filter_parse(body, NULL, &es->sub->filter, &err) != 0) {
        lw_http_respond_err(req, &err);
        stream_free(es);
        return;
    }
    es->req = req;
    es->next = ev->streams;
    if (ev->streams)
        ev->streams->prev = es;
    ev->streams = es;
    ev_sub_check(es->sub);
}

void ev_stream_heartbeat(ev_t *ev)
{
    ev_stream_t *es = ev->streams;
    while (es != NULL) {
        ev_stream_t *next = es->next;
        if (es->http != NULL && lw_http_stream_queued(es->http) == 0) {
            lw_err_t err;
            if (lw_http_stream_send(es->http, "\n", 1, &err) != 0) {
                es->http = NULL;
                stream_free(es);
            }
        }
        es = next;
    }
}

void ev_stream_stop(ev_t *ev)
{
    /* The HTTP server's stop ends every stream (on_http_close); what still waits for its
     * rights checks is answered by the server's stop too. Nothing is left here but memory. */
    while (ev->streams != NULL) {
        ev_stream_t *es = ev->streams;
        if (es->http != NULL) {
            lw_http_stream_end(es->http);
            es->http = NULL;
        }
        if (es->req != NULL)
            lw_http_respond_errorf(es->req, &lw_err_unavailable, "server stopping");
        stream_free(es);
    }
}

int ev_stream_routes(ev_t *ev)
{
    return tn_route(ev->tn, "POST", "/api/v3/events", on_stream, ev);
}
