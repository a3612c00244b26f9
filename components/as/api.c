/* /api/v3/as/...: the Application Server's API routes. This file holds the traffic routes;
 * the registry is device.c, the formatter test endpoints fmt_api.c.
 *
 *   POST .../devices/{dev}/down/push     RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE
 *   POST .../devices/{dev}/down/replace  RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE
 *   GET  .../devices/{dev}/down          RIGHT_APPLICATION_TRAFFIC_READ
 *   POST .../devices/{dev}/up/simulate   RIGHT_APPLICATION_TRAFFIC_UP_WRITE
 * (... is /api/v3/as/applications/{app})
 *
 * push/replace take TTS's DownlinkQueueRequest {"downlinks": [...]} and go through
 * as_downlink_request, as MQTT does; they answer {} once the AsDown is on lw.as.down. up/simulate
 * takes TTS's ApplicationUp with an uplink_message (frm_payload in clear) and puts it on
 * lw.ns.up keyed by the device (NsUp.simulated): the worker runs it through the same pipeline
 * (formatter, ApplicationUp with "simulated": true, lw.as.up). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as/as_private.h"
#include "as/fmt_private.h"
#include "as/mqtt_private.h"
#include "as/webhook_private.h"
#include "as/storage_private.h"
#include "cluster/mem.h"
#include "cluster/uid.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

enum { T_PUSH, T_REPLACE, T_LIST, T_SIMULATE };

typedef struct traffic_op {
    lw_api_op_t api;
    as_t *as;
    tn_tenant_t t;
    int kind;
    char app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    json_t *body;
} traffic_op_t;

#define TOP(a) ((traffic_op_t *)(a))

static void op_destroy(lw_api_op_t *a)
{
    json_decref(TOP(a)->body);
}

static void down_done(void *arg, const lw_err_t *err, const json_t *result)
{
    traffic_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    lw_api_reply(&op->api, 200, result != NULL ? json_deep_copy(result) : json_object());
}

static int simulate_publish(traffic_op_t *op, lw_err_t *err)
{
    const json_t *um = json_object_get(op->body, "uplink_message");
    if (!json_is_object(um))
        return lw_api_invalid(err, "uplink_message", "an object is required");
    long long port = 0, fcnt = 0;
    const json_t *v = json_object_get(um, "f_port");
    if (v != NULL && lw_api_uint_decode(v, "uplink_message.f_port", 255, &port, err) != 0)
        return -1;
    if (port == 0 || port == 224)
        return lw_api_invalid(err, "uplink_message.f_port", "1 to 255 expected, not 224");
    v = json_object_get(um, "f_cnt");
    if (v != NULL && lw_api_uint_decode(v, "uplink_message.f_cnt", UINT32_MAX, &fcnt, err) != 0)
        return -1;
    uint8_t pl[256];
    int n = 0;
    v = json_object_get(um, "frm_payload");
    if (v != NULL &&
        (!json_is_string(v) || (n = as_b64_decode(json_string_value(v), pl, sizeof pl)) < 0))
        return lw_api_invalid(err, "uplink_message.frm_payload", "base64 of at most 256 bytes");
    Lw__Msg__UplinkMessage m = LW__MSG__UPLINK_MESSAGE__INIT;
    m.f_port = (uint32_t)port;
    m.f_cnt = (uint32_t)fcnt;
    m.frm_payload.data = pl;
    m.frm_payload.len = (size_t)n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m.received_at = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    Lw__Msg__Envelope env;
    uint8_t id[LW_UID_LEN];
    as_envelope_new(&env, id, op->t.id);
    const char *cid = lw_http_correlation_id(op->api.req);
    char *cids[1] = {(char *)cid};
    if (cid != NULL) {
        env.correlation_ids = cids;
        env.n_correlation_ids = 1;
    }
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers app = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    app.application_id = op->app;
    ids.device_id = op->dev;
    ids.application_ids = &app;
    up.envelope = &env;
    up.end_device_ids = &ids;
    up.received_at = m.received_at;
    up.up_case = LW__MSG__NS_UP__UP_UPLINK_MESSAGE;
    up.uplink_message = &m;
    up.simulated = true;
    uint8_t buf[2048];
    size_t len = 0;
    char key[AS_DEV_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s/%s/%s", op->t.id, op->app, op->dev);
    if (lw_msg_ns_up_encode(&up, buf, sizeof buf, &len) != 0)
        return lw_err_set(err, &lw_err_internal, "the simulated uplink cannot be encoded");
    return lw_bus_publish(op->as->bus, "ns.up", key, strlen(key), buf, len, err);
}

static void checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    (void)held;
    traffic_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    if (op->kind == T_SIMULATE) {
        lw_err_t e;
        lw_err_clear(&e);
        if (simulate_publish(op, &e) != 0)
            lw_api_fail(&op->api, &e);
        else
            lw_api_reply(&op->api, 200, json_object());
        return;
    }
    as_down_req_t r = {
        .tenant_id = op->t.id,
        .app_id = op->app,
        .dev_id = op->dev,
        .op = op->kind == T_PUSH      ? AS_DOWN_PUSH
              : op->kind == T_REPLACE ? AS_DOWN_REPLACE
                                      : AS_DOWN_LIST,
        .body = op->body,
        .origin = "api",
    };
    as_downlink_request(op->as, &r, down_done, op);
}

static void handle(lw_http_req_t *req, const tn_tenant_t *t, void *arg, int kind)
{
    as_t *as = arg;
    traffic_op_t *op = lw_api_op_new(sizeof *op, &as->env, req);
    op->api.destroy = op_destroy;
    op->as = as;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->kind = kind;
    snprintf(op->app, sizeof op->app, "%s", lw_http_param(req, "application_id"));
    snprintf(op->dev, sizeof op->dev, "%s", lw_http_param(req, "device_id"));
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_id_validate(op->app, 2, "end_device_ids.application_ids.application_id", &e) != 0 ||
        tn_id_validate(op->dev, 2, "end_device_ids.device_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (kind != T_LIST) {
        json_t *body = lw_http_json(req, &e);
        if (body == NULL) {
            lw_api_fail(&op->api, &e);
            return;
        }
        static const char *const dkeys[] = {"end_device_ids", "downlinks", NULL};
        static const char *const skeys[] = {"end_device_ids", "correlation_ids", "received_at",
                                            "uplink_message", "simulated",       NULL};
        if (lw_api_check_keys(body, kind == T_SIMULATE ? skeys : dkeys, NULL, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        op->body = json_incref(body);
    }
    const char *need = kind == T_LIST       ? "RIGHT_APPLICATION_TRAFFIC_READ"
                       : kind == T_SIMULATE ? "RIGHT_APPLICATION_TRAFFIC_UP_WRITE"
                                            : "RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE";
    if (as->access == NULL ||
        tn_access_check(as->access, &op->t, lw_http_header(req, "authorization"), "application",
                        op->app, &need, 1, checked, op) != 0)
        lw_api_fail_with(&op->api, &lw_err_unavailable, "access checks unavailable");
}

static void on_push(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, T_PUSH);
}

static void on_replace(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, T_REPLACE);
}

static void on_list(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, T_LIST);
}

static void on_simulate(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, T_SIMULATE);
}

int as_api_routes(as_t *as)
{
    static const char base[] = "/api/v3/as/applications/{application_id}/devices/{device_id}";
    char p[160];
    tn_t *tn = as->tn;
    snprintf(p, sizeof p, "%s/down/push", base);
    if (tn_route(tn, "POST", p, on_push, as) != 0)
        return -1;
    snprintf(p, sizeof p, "%s/down/replace", base);
    if (tn_route(tn, "POST", p, on_replace, as) != 0)
        return -1;
    snprintf(p, sizeof p, "%s/down", base);
    if (tn_route(tn, "GET", p, on_list, as) != 0)
        return -1;
    snprintf(p, sizeof p, "%s/up/simulate", base);
    if (tn_route(tn, "POST", p, on_simulate, as) != 0)
        return -1;
    if (as_device_routes(as) != 0)
        return -1;
    /* the formatter test endpoints (fmt_api.c) */
    if (as_fmt_api_routes(as) != 0)
        return -1;
    /* the Storage Integration (storage_api.c) */
    if (as_storage_routes(as) != 0)
        return -1;
    /* mqtt-connection-info (mqtt_as.c) */
    if (as_mqtt_api_routes(as) != 0)
        return -1;
    /* the webhook registry, dead letters, webhook downlinks (webhook_api.c) */
    if (as_webhook_routes(as) != 0)
        return -1;
    return 0;
}
