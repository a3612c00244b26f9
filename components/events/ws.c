/* The Console's events WebSocket, /api/v3/console/internal/events/ (TTS's
 * pkg/console/internal/events/protocol/PROTOCOL.md): subscriptions multiplexed over one
 * connection, each named by an unsigned ID the client picks. The token comes in the
 * Authorization header or as the subprotocol `ttn.lorawan.v3.header.authorization.bearer.<t>`
 * next to `ttn.lorawan.v3.console.internal.events.v1` (echoed in the 101). Messages are JSON
 * objects {type, id}: subscribe (identifiers, tail, after, names) → subscribe or error;
 * unsubscribe → unsubscribe or error; the server's publish {id, event}. Rights are checked
 * per subscription; when a recheck finds them gone the connection is closed, as TTS does. A
 * client that does not read (ws_max_queued messages waiting) is disconnected, counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "events/events_private.h"

#define PROTOCOL_V1   "ttn.lorawan.v3.console.internal.events.v1"
#define BEARER_PREFIX "ttn.lorawan.v3.header.authorization.bearer."

struct ev_ws {
    ev_t *ev;
    ev_ws_t *prev, *next;
    lw_ws_t *ws;
    tn_tenant_t t;
    char *authorization;
    ev_sub_t *subs; /* through owner_next */
    bool closing;
    uint64_t errors; /* correlation ids of our errors */
};

static void ws_send_json(ev_ws_t *w, json_t *j);

static void subs_close_all(ev_ws_t *w)
{
    while (w->subs != NULL) {
        ev_sub_t *s = w->subs;
        w->subs = s->owner_next;
        ev_sub_close(s);
    }
}

static void sub_remove(ev_ws_t *w, ev_sub_t *s)
{
    for (ev_sub_t **p = &w->subs; *p != NULL; p = &(*p)->owner_next)
        if (*p == s) {
            *p = s->owner_next;
            break;
        }
    ev_sub_close(s);
}

static ev_sub_t *sub_find(ev_ws_t *w, uint64_t id)
{
    for (ev_sub_t *s = w->subs; s != NULL; s = s->owner_next)
        if (s->ws_id == id)
            return s;
    return NULL;
}

/* Drops the connection (a slow client, rights gone): every subscription ends now. */
static void ws_drop(ev_ws_t *w, int code, const char *reason)
{
    if (w->closing)
        return;
    w->closing = true;
    lw_metric_add(w->ev->m_dropped, (const char *const[]){reason, NULL}, 1);
    subs_close_all(w);
    lw_ws_close(w->ws, code);
}

static void ws_send_json(ev_ws_t *w, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    lw_err_t err;
    if (text != NULL && !w->closing && lw_ws_send(w->ws, false, text, strlen(text), &err) != 0)
        ws_drop(w, 1008, "slow_reader");
    free(text);
}

static void send_error(ev_ws_t *w, uint64_t id, const lw_err_t *err)
{
    char cid[48];
    snprintf(cid, sizeof cid, "ws:%016llx", (unsigned long long)++w->errors);
    ws_send_json(w, json_pack("{ss sI so}", "type", "error", "id", (json_int_t)id, "error",
                              lw_http_err_json(err, cid)));
}

static int deliver(ev_sub_t *s, const char *text, size_t len)
{
    ev_ws_t *w = s->owner;
    if (w->closing)
        return -1;
    char head[64];
    int hl = snprintf(head, sizeof head,
                      "{\"type\":\"publish\",\"id\":%llu,\"event\":", (unsigned long long)s->ws_id);
    size_t n = (size_t)hl + len + 1;
    char small[2048];
    char *b = n <= sizeof small ? small : lw_malloc(n);
    memcpy(b, head, (size_t)hl);
    memcpy(b + hl, text, len);
    b[n - 1] = '}';
    lw_err_t err;
    int rc = lw_ws_send(w->ws, false, b, n, &err);
    if (b != small)
        free(b);
    if (rc != 0) {
        ws_drop(w, 1008, "slow_reader");
        return -1;
    }
    return 0;
}

static void ready(ev_sub_t *s, const lw_err_t *err)
{
    ev_ws_t *w = s->owner;
    uint64_t id = s->ws_id;
    if (err != NULL) {
        sub_remove(w, s);
        send_error(w, id, err);
        return;
    }
    ws_send_json(w, json_pack("{ss sI}", "type", "subscribe", "id", (json_int_t)id));
    if (!w->closing)
        ev_sub_start(s);
}

static void revoked(ev_sub_t *s, const lw_err_t *err)
{
    (void)err;
    ws_drop(s->owner, 1008, "rights_revoked");
}

static const ev_sub_ops_t ws_ops = {.ready = ready, .deliver = deliver, .revoked = revoked};

/* The subscription ID: an unsigned integer (or its decimal string, as proto JSON allows). */
static int read_id(json_t *j, uint64_t *out)
{
    json_t *id = json_object_get(j, "id");
    if (json_is_integer(id) && json_integer_value(id) >= 0) {
        *out = (uint64_t)json_integer_value(id);
        return 0;
    }
    const char *s = json_string_value(id);
    if (s != NULL && s[0] != '\0' && strspn(s, "0123456789") == strlen(s) && strlen(s) < 20) {
        *out = strtoull(s, NULL, 10);
        return 0;
    }
    return -1;
}

static void on_subscribe(ev_ws_t *w, json_t *msg, uint64_t id)
{
    lw_err_t err;
    lw_err_clear(&err);
    if (sub_find(w, id) != NULL) {
        char v[24];
        snprintf(v, sizeof v, "%llu", (unsigned long long)id);
        lw_err_set(&err, &lw_err_already_subscribed, "already subscribed with ID `%s`", v);
        lw_err_attr(&err, "id", v);
        send_error(w, id, &err);
        return;
    }
    ev_sub_t *s = ev_sub_new(w->ev, &w->t, w->authorization, &ws_ops, w, &err);
    static const char *const extra[] = {"type", "id", NULL};
    if (s == NULL || ev_filter_parse(msg, extra, &s->filter, &err) != 0) {
        if (s != NULL)
            ev_sub_close(s);
        send_error(w, id, &err);
        return;
    }
    s->ws_id = id;
    s->owner_next = w->subs;
    w->subs = s;
    ev_sub_check(s);
}

static void on_message(lw_ws_t *ws, bool binary, const void *data, size_t len, void *arg)
{
    (void)ws;
    (void)binary;
    ev_ws_t *w = arg;
    if (w->closing)
        return;
    json_t *msg = json_loadb(data, len, 0, NULL);
    uint64_t id = 0;
    const char *type = json_string_value(json_object_get(msg, "type"));
    lw_err_t err;
    if (!json_is_object(msg) || read_id(msg, &id) != 0) {
        lw_err_set(&err, &lw_err_invalid_field, "invalid `id`: not an unsigned integer");
        lw_err_attr(&err, "field", "id");
        send_error(w, id, &err);
    } else if (type != NULL && strcmp(type, "subscribe") == 0) {
        on_subscribe(w, msg, id);
    } else if (type != NULL && strcmp(type, "unsubscribe") == 0) {
        ev_sub_t *s = sub_find(w, id);
        if (s == NULL) {
            char v[24];
            snprintf(v, sizeof v, "%llu", (unsigned long long)id);
            lw_err_set(&err, &lw_err_not_subscribed, "not subscribed with ID `%s`", v);
            lw_err_attr(&err, "id", v);
            send_error(w, id, &err);
        } else {
            sub_remove(w, s);
            ws_send_json(w, json_pack("{ss sI}", "type", "unsubscribe", "id", (json_int_t)id));
        }
    } else {
        char t[64];
        snprintf(t, sizeof t, "%s", type ? type : "");
        lw_err_set(&err, &lw_err_message_type, "invalid message type `%s`", t);
        lw_err_attr(&err, "type", t);
        send_error(w, id, &err);
    }
    json_decref(msg);
}

static void on_close(lw_ws_t *ws, void *arg)
{
    (void)ws;
    ev_ws_t *w = arg;
    ev_t *ev = w->ev;
    subs_close_all(w);
    if (w->prev)
        w->prev->next = w->next;
    else if (ev->wss == w)
        ev->wss = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->authorization != NULL) {
        memset(w->authorization, 0, strlen(w->authorization));
        free(w->authorization);
    }
    free(w);
}

/* Finds the token among the offered subprotocols; notes whether v1 was offered. */
static char *protocol_token(const char *header, bool *v1)
{
    *v1 = false;
    char *token = NULL;
    if (header == NULL)
        return NULL;
    const char *p = header;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == strlen(PROTOCOL_V1) && strncmp(p, PROTOCOL_V1, n) == 0)
            *v1 = true;
        size_t pl = strlen(BEARER_PREFIX);
        if (n > pl && strncmp(p, BEARER_PREFIX, pl) == 0 && token == NULL) {
            token = lw_malloc(n - pl + 8);
            snprintf(token, n - pl + 8, "Bearer %.*s", (int)(n - pl), p + pl);
        }
        p += n;
    }
    return token;
}

static void on_ws(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    ev_t *ev = arg;
    if (!lw_http_is_websocket(req)) {
        lw_http_respond_errorf(req, &lw_err_bad_request,
                               "malformed request: not a WebSocket "
                               "handshake");
        return;
    }
    bool v1 = false;
    char *auth = protocol_token(lw_http_header(req, "sec-websocket-protocol"), &v1);
    const char *header = lw_http_header(req, "authorization");
    if (header != NULL) {
        free(auth);
        auth = lw_strdup(header);
    }
    if (auth == NULL) {
        lw_http_respond_errorf(req, &lw_err_unauthenticated, "unauthenticated");
        return;
    }
    if (v1)
        lw_http_add_header(req, "Sec-WebSocket-Protocol", PROTOCOL_V1);
    ev_ws_t *w = lw_calloc(1, sizeof *w);
    w->ev = ev;
    w->t = *t;
    w->authorization = auth;
    lw_ws_callbacks_t cb = {.on_message = on_message, .on_close = on_close};
    lw_err_t err;
    w->ws = lw_http_websocket_accept(req, &cb, w, &err);
    if (w->ws == NULL) {
        lw_http_respond_err(req, &err);
        memset(auth, 0, strlen(auth));
        free(auth);
        free(w);
        return;
    }
    w->next = ev->wss;
    if (ev->wss)
        ev->wss->prev = w;
    ev->wss = w;
}

void ev_ws_heartbeat(ev_t *ev)
{
    for (ev_ws_t *w = ev->wss; w != NULL; w = w->next) {
        lw_err_t err;
        if (!w->closing)
            lw_ws_ping(w->ws, &err);
    }
}

void ev_ws_stop(ev_t *ev)
{
    /* The HTTP server's stop closes every WebSocket (on_close). */
    (void)ev;
}

int ev_ws_routes(ev_t *ev)
{
    return tn_route(ev->tn, "GET", "/api/v3/console/internal/events/", on_ws, ev);
}
