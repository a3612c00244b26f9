/* The MQTT server inside the Application Server: its configuration (as.mqtt.*), the auth
 * callback on tenant/access.h, lw.as.up fanned out to the server, client downlinks into the
 * AS's one downlink entry point, tenant suspensions closing connections, and
 * GET /api/v3/as/applications/{application_id}/mqtt-connection-info. The server itself is
 * mqtt_server.c (contract in mqtt_private.h).
 *
 * lw.as.up is read as a broadcast (a private consumer group per process, from the end):
 * every AS process serves its own MQTT clients every application's messages. A message
 * delivered twice by the bus (a replay after an AS crash publishes the same envelope id) is
 * dropped by id: the last AS_MQTT_SEEN_MAX ids are remembered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as/as_private.h"
#include "as/mqtt_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#define RIGHT_INFO       "RIGHT_APPLICATION_INFO"
#define RIGHT_READ       "RIGHT_APPLICATION_TRAFFIC_READ"
#define RIGHT_DOWN_WRITE "RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"
#define AS_MQTT_SEEN_MAX 8192u /* envelope ids remembered (a power of two) */

const lw_cfg_opt_t as_mqtt_config[] = {
    {.key = "as.mqtt.listen",
     .type = LW_CFG_STRING,
     .def = ":1883",
     .help = "Address of the MQTT server (MQTT 3.1.1 and 5.0, The Things Stack's topics; user "
             "name `<app>@<tenant>`, password an API key). Empty: no MQTT server."},
    {.key = "as.mqtt.listen-tls",
     .type = LW_CFG_STRING,
     .def = ":8883",
     .help = "Address of MQTT over TLS, when as.mqtt.tls.certificate is set (the same "
             "server: sessions and subscriptions are shared)."},
    {.key = "as.mqtt.tls.certificate",
     .type = LW_CFG_STRING,
     .def = "",
     .help = "PEM certificate chain of MQTT over TLS. Empty: no TLS listener."},
    {.key = "as.mqtt.tls.key",
     .type = LW_CFG_STRING,
     .def = "",
     .help = "PEM private key of as.mqtt.tls.certificate (a file path)."},
    {.key = "as.mqtt.public-address",
     .type = LW_CFG_STRING,
     .def = "",
     .help = "The MQTT address applications are told (mqtt-connection-info). Empty: "
             "localhost:<the listening port>."},
    {.key = "as.mqtt.public-tls-address",
     .type = LW_CFG_STRING,
     .def = "",
     .help = "The MQTT over TLS address applications are told. Empty: none."},
    {.key = "as.mqtt.session-queue",
     .type = LW_CFG_INT,
     .def = "1000",
     .min = 1,
     .max = 1000000,
     .help = "Messages kept per MQTT session: QoS 1 messages while a persistent session's "
             "client is away (then new ones are dropped), and messages a connected client "
             "has not taken yet (beyond it the client is disconnected as a slow subscriber)."},
    {.key = "as.mqtt.inflight",
     .type = LW_CFG_INT,
     .def = "32",
     .min = 1,
     .max = 65535,
     .help = "Unacknowledged QoS 1 messages per client (a 5.0 client's Receive Maximum may "
             "lower it)."},
    {.key = "as.mqtt.session-expiry-max",
     .type = LW_CFG_DURATION,
     .def = "24h",
     .min = 0,
     .max = 30LL * 24 * 3600 * 1000,
     .help = "Longest a persistent session waits for its client (3.1.1 clean session 0, or a "
             "5.0 Session Expiry, capped to this)."},
    {.key = "as.mqtt.max-connections",
     .type = LW_CFG_INT,
     .def = "10000",
     .min = 1,
     .max = 1000000,
     .help = "Open MQTT connections; beyond, new ones are closed at once."},
    {.key = "as.mqtt.max-packet-size",
     .type = LW_CFG_INT,
     .def = "65536",
     .min = 1024,
     .max = 16777216,
     .help = "Largest MQTT packet a client may send (bytes); larger ones close the "
             "connection (5.0: DISCONNECT 0x95)."},
    {.key = "as.mqtt.output-buffer",
     .type = LW_CFG_INT,
     .def = "1048576",
     .min = 8192,
     .max = 268435456,
     .help = "Bytes queued for one MQTT client before its messages wait in its session "
             "queue."},
    {.key = "as.mqtt.connect-timeout",
     .type = LW_CFG_DURATION,
     .def = "10s",
     .min = 100,
     .max = 600000,
     .help = "A connection that sends no CONNECT within this is closed."},
};
const size_t as_mqtt_config_len = sizeof as_mqtt_config / sizeof as_mqtt_config[0];

struct as_mqtt {
    as_t *as;
    as_mqtt_srv_t *srv;
    lw_bus_consumer_t *up;
    char listen[128], listen_tls[128], public_address[256], public_tls_address[256];
    char tls_certificate[512], tls_key[512];
    uint64_t seen[AS_MQTT_SEEN_MAX]; /* open addressing: hashes of envelope ids, 0 empty */
    uint64_t ring[AS_MQTT_SEEN_MAX]; /* insertion order, for eviction */
    size_t ring_next, n_seen;
    bool stopping, stopped;
};

/* ---- auth: tenant/access.h ---- */

typedef struct auth_ctx {
    as_mqtt_auth_t *a;
    char authorization[1100];
} auth_ctx_t;

static void auth_checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    auth_ctx_t *x = arg;
    as_mqtt_auth_result_t r = {.status = AS_MQTT_AUTH_DENIED};
    if (held != NULL) {
        r.can_read = tn_rights_have(held, RIGHT_READ);
        r.can_write = tn_rights_have(held, RIGHT_DOWN_WRITE);
        r.status = AS_MQTT_AUTH_OK;
    } else if (err != NULL && err->def == &lw_err_unavailable) {
        r.status = AS_MQTT_AUTH_UNAVAILABLE;
    }
    memset(x->authorization, 0, sizeof x->authorization);
    as_mqtt_auth_done(x->a, &r);
    free(x);
}

static void on_auth(void *arg, as_mqtt_auth_t *a)
{
    struct as_mqtt *q = arg;
    as_t *as = q->as;
    as_mqtt_auth_result_t denied = {.status = AS_MQTT_AUTH_DENIED};
    tn_tenant_t t;
    /* A suspended or unknown tenant: refused without asking (tn_get answers the state of
     * the last change already). */
    if (!tn_get(as->tn, a->tenant_id, &t) || t.deleted || !tn_state_active(t.state) ||
        as->access == NULL || a->key_len == 0 || a->key_len > 1024) {
        as_mqtt_auth_done(a, &denied);
        return;
    }
    auth_ctx_t *x = lw_calloc(1, sizeof *x);
    x->a = a;
    snprintf(x->authorization, sizeof x->authorization, "Bearer %.*s", (int)a->key_len, a->key);
    /* No right required here: the answer lists them all, and read / down-write decide. */
    if (tn_access_check(as->access, &t, x->authorization, "application", a->app_id, NULL, 0,
                        auth_checked, x) != 0) {
        memset(x->authorization, 0, sizeof x->authorization);
        free(x);
        as_mqtt_auth_result_t un = {.status = AS_MQTT_AUTH_UNAVAILABLE};
        as_mqtt_auth_done(a, &un);
    }
}

/* ---- client downlinks → as_downlink_request ---- */

typedef struct down_ctx {
    as_t *as;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
} down_ctx_t;

static void down_done(void *arg, const lw_err_t *err, const json_t *result)
{
    (void)result;
    down_ctx_t *x = arg;
    if (err != NULL && err->def != NULL) {
        as_count_drop(x->as, "mqtt_downlink_refused");
        lw_log_kv(LW_LOG_INFO, "as", "mqtt downlink refused", LW_LOG_STR("tenant_id", x->tenant),
                  LW_LOG_STR("application_id", x->app), LW_LOG_STR("device_id", x->dev),
                  LW_LOG_STR("error", lw_err_name(err)), LW_LOG_STR("message", err->message));
    }
    free(x);
}

static void on_downlink(void *arg, const char *tenant, const char *app, const char *dev,
                        bool replace, const uint8_t *payload, size_t len)
{
    struct as_mqtt *q = arg;
    json_error_t je;
    json_t *body = json_loadb((const char *)payload, len, 0, &je);
    if (!json_is_object(body)) {
        json_decref(body);
        as_count_drop(q->as, "mqtt_downlink_invalid_json");
        lw_log_kv(LW_LOG_INFO, "as", "mqtt downlink refused", LW_LOG_STR("tenant_id", tenant),
                  LW_LOG_STR("application_id", app), LW_LOG_STR("device_id", dev),
                  LW_LOG_STR("error", "invalid_json"));
        return;
    }
    down_ctx_t *x = lw_calloc(1, sizeof *x);
    x->as = q->as;
    snprintf(x->tenant, sizeof x->tenant, "%s", tenant);
    snprintf(x->app, sizeof x->app, "%s", app);
    snprintf(x->dev, sizeof x->dev, "%s", dev);
    as_down_req_t req = {.tenant_id = x->tenant,
                         .app_id = x->app,
                         .dev_id = x->dev,
                         .op = replace ? AS_DOWN_REPLACE : AS_DOWN_PUSH,
                         .body = body,
                         .origin = "mqtt"};
    as_downlink_request(q->as, &req, down_done, x);
    json_decref(body);
}

/* ---- lw.as.up → subscribers ---- */

static const char *up_suffix(Lw__Msg__AsUpType t)
{
    switch (t) {
    case LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_MESSAGE:
        return "up";
    case LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_NORMALIZED:
        return "up/normalized";
    case LW__MSG__AS_UP_TYPE__AS_UP_JOIN_ACCEPT:
        return "join";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUED:
        return "down/queued";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_SENT:
        return "down/sent";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_ACK:
        return "down/ack";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_NACK:
        return "down/nack";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_FAILED:
        return "down/failed";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUE_INVALIDATED:
        return "down/invalidated";
    case LW__MSG__AS_UP_TYPE__AS_UP_SERVICE_DATA:
        return "service/data";
    case LW__MSG__AS_UP_TYPE__AS_UP_LOCATION_SOLVED:
        return "location/solved";
    default:
        return NULL;
    }
}

/* True when id was seen among the last AS_MQTT_SEEN_MAX; remembers it otherwise. */
static bool seen_before(struct as_mqtt *q, const uint8_t *id, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211ull;
    if (h == 0)
        h = 1;
    size_t mask = AS_MQTT_SEEN_MAX - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (q->seen[i] == h)
            return true;
        if (q->seen[i] == 0)
            break;
    }
    /* Keep the table at most half full: forget the oldest. */
    if (q->n_seen == AS_MQTT_SEEN_MAX / 2) {
        uint64_t old = q->ring[q->ring_next];
        size_t i = old & mask;
        while (q->seen[i] != old)
            i = (i + 1) & mask;
        q->seen[i] = 0;
        /* Re-insert the run after the hole (linear probing deletion). */
        for (size_t j = (i + 1) & mask; q->seen[j] != 0; j = (j + 1) & mask) {
            uint64_t v = q->seen[j];
            q->seen[j] = 0;
            size_t k = v & mask;
            while (q->seen[k] != 0)
                k = (k + 1) & mask;
            q->seen[k] = v;
        }
        q->n_seen--;
    }
    size_t i = h & mask;
    while (q->seen[i] != 0)
        i = (i + 1) & mask;
    q->seen[i] = h;
    q->ring[q->ring_next] = h;
    q->ring_next = (q->ring_next + 1) % (AS_MQTT_SEEN_MAX / 2);
    q->n_seen++;
    return false;
}

static void on_up(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    struct as_mqtt *q = arg;
    if (q->stopping || q->srv == NULL)
        return;
    Lw__Msg__AsUp *up = NULL;
    if (lw_msg_as_up_decode(msg->value, msg->value_len, &up) != 0) {
        as_count_drop(q->as, "mqtt_as_up_invalid");
        return;
    }
    const char *suffix = up_suffix(up->type);
    if (suffix == NULL || up->application_id == NULL || up->device_id == NULL) {
        as_count_drop(q->as, "mqtt_as_up_type");
    } else if (!seen_before(q, up->envelope->id.data, up->envelope->id.len)) {
        as_mqtt_publish(q->srv, up->envelope->tenant_id, up->application_id, up->device_id, suffix,
                        up->json.data, up->json.len);
    }
    lw_msg_as_up_free(up);
}

/* ---- tenant changes ---- */

static void on_tenant_change(void *arg, const tn_tenant_t *t)
{
    struct as_mqtt *q = arg;
    if (q->srv == NULL || (!t->deleted && tn_state_active(t->state)))
        return;
    size_t n = as_mqtt_close_tenant(q->srv, t->id);
    if (n > 0)
        lw_log_kv(LW_LOG_INFO, "as", "mqtt connections of a tenant closed",
                  LW_LOG_STR("tenant_id", t->id), LW_LOG_UINT("connections", n),
                  LW_LOG_STR("state", t->deleted ? "deleted" : tn_state_name(t->state)));
}

/* ---- lifecycle ---- */

int as_mqtt_component_init(as_t *as, lw_err_t *err)
{
    lw_config_t *cfg = lw_rt_config(as->rt);
    const char *listen = lw_config_str(cfg, "as.mqtt.listen");
    if (listen == NULL || listen[0] == '\0')
        return 0;
    struct as_mqtt *q = lw_calloc(1, sizeof *q);
    q->as = as;
    /* ":1883" listens on every address. */
    snprintf(q->listen, sizeof q->listen, "%s%s", listen[0] == ':' ? "0.0.0.0" : "", listen);
    const char *cert = lw_config_str(cfg, "as.mqtt.tls.certificate");
    const char *key = lw_config_str(cfg, "as.mqtt.tls.key");
    const char *ltls = lw_config_str(cfg, "as.mqtt.listen-tls");
    if (cert != NULL && cert[0] != '\0' && ltls != NULL && ltls[0] != '\0') {
        snprintf(q->listen_tls, sizeof q->listen_tls, "%s%s", ltls[0] == ':' ? "0.0.0.0" : "",
                 ltls);
        snprintf(q->tls_certificate, sizeof q->tls_certificate, "%s", cert);
        snprintf(q->tls_key, sizeof q->tls_key, "%s", key != NULL ? key : "");
    }
    const char *pa = lw_config_str(cfg, "as.mqtt.public-address");
    const char *pt = lw_config_str(cfg, "as.mqtt.public-tls-address");
    snprintf(q->public_address, sizeof q->public_address, "%s", pa != NULL ? pa : "");
    snprintf(q->public_tls_address, sizeof q->public_tls_address, "%s", pt != NULL ? pt : "");
    as->mqtt = q;
    if (tn_changes_subscribe(as->tn, on_tenant_change, q, err) != 0)
        return -1;
    return 0;
}

int as_mqtt_component_start(as_t *as, lw_err_t *err)
{
    struct as_mqtt *q = as->mqtt;
    if (q == NULL)
        return 0;
    lw_config_t *cfg = lw_rt_config(as->rt);
    as_mqtt_opts_t o = {
        .listen = q->listen,
        .listen_tls = q->listen_tls,
        .tls_certificate = q->tls_certificate,
        .tls_key = q->tls_key,
        .max_connections = (size_t)lw_config_int(cfg, "as.mqtt.max-connections"),
        .max_packet = (size_t)lw_config_int(cfg, "as.mqtt.max-packet-size"),
        .output_cap = (size_t)lw_config_int(cfg, "as.mqtt.output-buffer"),
        .session_queue = (size_t)lw_config_int(cfg, "as.mqtt.session-queue"),
        .inflight = (uint16_t)lw_config_int(cfg, "as.mqtt.inflight"),
        .session_expiry_max_s =
            (uint32_t)(lw_config_duration_ms(cfg, "as.mqtt.session-expiry-max") / 1000),
        .connect_timeout_ms = (uint32_t)lw_config_duration_ms(cfg, "as.mqtt.connect-timeout"),
    };
    as_mqtt_callbacks_t cb = {.arg = q, .auth = on_auth, .downlink = on_downlink};
    q->srv = as_mqtt_new(as->loop, as->metrics, &o, &cb, err);
    if (q->srv == NULL) {
        lw_err_prefix(err, "as.mqtt.listen %s", q->listen);
        return -1;
    }
    static const lw_bus_handler_t h = {.on_message = on_up};
    const char *topics[] = {"as.up"};
    q->up = lw_bus_subscribe_opts(as->bus, NULL, topics, 1, &h, q, NULL, err);
    if (q->up == NULL)
        return -1;
    lw_log_kv(LW_LOG_INFO, "as", "mqtt listening", LW_LOG_STR("address", q->listen),
              LW_LOG_INT("port", as_mqtt_port(q->srv)));
    if (q->listen_tls[0] != '\0')
        lw_log_kv(LW_LOG_INFO, "as", "mqtt tls listening", LW_LOG_STR("address", q->listen_tls),
                  LW_LOG_INT("port", as_mqtt_port_tls(q->srv)));
    return 0;
}

static void srv_stopped(void *arg)
{
    struct as_mqtt *q = arg;
    q->stopped = true;
}

void as_mqtt_component_stop(as_t *as)
{
    struct as_mqtt *q = as->mqtt;
    if (q == NULL || q->srv == NULL || q->stopping)
        return;
    /* The lw.as.up consumer closes with the bus (lw_bus_stop); nothing is published to the
     * server once it is stopping. */
    q->stopping = true;
    as_mqtt_stop(q->srv, srv_stopped, q);
}

bool as_mqtt_component_stopped(const as_t *as)
{
    const struct as_mqtt *q = as->mqtt;
    return q == NULL || q->srv == NULL || q->stopped;
}

void as_mqtt_component_free(as_t *as)
{
    struct as_mqtt *q = as->mqtt;
    if (q == NULL)
        return;
    as_mqtt_free(q->srv);
    free(q);
    as->mqtt = NULL;
}

/* ---- GET /api/v3/as/applications/{application_id}/mqtt-connection-info ---- */

typedef struct info_op {
    lw_api_op_t api;
    as_t *as;
    tn_tenant_t t;
    char app_id[TN_ID_MAX + 1];
} info_op_t;

static void info_destroy(lw_api_op_t *a)
{
    info_op_t *op = (info_op_t *)a;
    op->as->inflight--;
}

static void info_authorized(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    info_op_t *op = arg;
    if (held == NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    struct as_mqtt *q = op->as->mqtt;
    if (q == NULL || q->srv == NULL) {
        /* TTS answers no_configuration_provider when there is no MQTT frontend. */
        lw_api_fail_with(&op->api, &lw_err_unavailable, "no MQTT server is configured");
        return;
    }
    char addr[300], user[2 * TN_ID_MAX + 2];
    if (q->public_address[0] != '\0')
        snprintf(addr, sizeof addr, "%s", q->public_address);
    else
        snprintf(addr, sizeof addr, "localhost:%d", as_mqtt_port(q->srv));
    snprintf(user, sizeof user, "%s@%s", op->app_id, op->t.id);
    json_t *out = json_pack("{s:s, s:s}", "public_address", addr, "username", user);
    if (q->public_tls_address[0] != '\0')
        json_object_set_new(out, "public_tls_address", json_string(q->public_tls_address));
    else if (q->listen_tls[0] != '\0') {
        snprintf(addr, sizeof addr, "localhost:%d", as_mqtt_port_tls(q->srv));
        json_object_set_new(out, "public_tls_address", json_string(addr));
    }
    lw_api_reply(&op->api, 200, out);
}

static void h_info(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    as_t *as = arg;
    info_op_t *op = lw_api_op_new(sizeof *op, &as->env, req);
    op->as = as;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->api.destroy = info_destroy;
    as->inflight++;
    const char *app = lw_http_param(req, "application_id");
    lw_err_t e;
    if (tn_id_validate(app, 3, "application_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    snprintf(op->app_id, sizeof op->app_id, "%s", app);
    const char *auth = lw_http_header(req, "Authorization");
    if (auth == NULL || auth[0] == '\0') {
        lw_api_fail_with(&op->api, &lw_err_unauthenticated, "no Authorization header");
        return;
    }
    const char *need[1] = {RIGHT_INFO};
    if (as->access == NULL || tn_access_check(as->access, &op->t, auth, "application", op->app_id,
                                              need, 1, info_authorized, op) != 0)
        lw_api_fail_with(&op->api, &lw_err_unavailable, "the access check could not start");
}

int as_mqtt_api_routes(as_t *as)
{
    return tn_route(as->tn, "GET", "/api/v3/as/applications/{application_id}/mqtt-connection-info",
                    h_info, as);
}
