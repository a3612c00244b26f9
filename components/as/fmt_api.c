/* The Things Stack's formatter test endpoints (AppAs in api/ttn/lorawan/v3/
 * applicationserver.proto): a payload decoded or encoded with the formatter the request
 * names, without traffic, nothing stored.
 *
 *   POST /api/v3/as/applications/{application_id}/devices/{device_id}/up/decode
 *        {"version_ids", "uplink": {"f_port", "frm_payload", "received_at", ...},
 *         "formatter": "FORMATTER_JAVASCRIPT", "parameter": "<script>"}
 *        -> {"uplink": the uplink with decoded_payload (+ decoded_payload_warnings,
 *            normalized_payload)}
 *   POST .../down/encode  {"downlink": {"f_port", "decoded_payload"}, ...}
 *        -> {"downlink": with frm_payload, f_port, decoded_payload_warnings}
 *   POST .../down/decode  {"downlink": {"f_port", "frm_payload"}, ...}
 *        -> {"downlink": with decoded_payload, decoded_payload_warnings}
 *
 * Rights: RIGHT_APPLICATION_TRAFFIC_READ on the application, as TTS. A failing formatter
 * answers its error (script, script_timeout, output_errors, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "as/as_private.h"
#include "as/fmt_private.h"
#include "cluster/mem.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#define RIGHT_TRAFFIC_READ "RIGHT_APPLICATION_TRAFFIC_READ"

enum { FMT_API_UP_DECODE, FMT_API_DOWN_ENCODE, FMT_API_DOWN_DECODE };

typedef struct fmt_api_op {
    lw_api_op_t api;
    as_t *as;
    int kind;
    tn_tenant_t t;
    char app_id[TN_ID_MAX + 1], dev_id[TN_ID_MAX + 1];
    char authorization[1024];
    json_t *body; /* borrowed from the request */
    json_t *msg;  /* the request's uplink / downlink object (a copy), answered back */
} fmt_api_op_t;

static void op_destroy(lw_api_op_t *a)
{
    fmt_api_op_t *op = (fmt_api_op_t *)a;
    json_decref(op->msg); /* op->body is the request's (lw_http_json) */
    op->as->inflight--;
}

/* Standard base64 with padding (TTS's bytes in JSON). Returns the length or -1. */
static int b64_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);
    if (n == 0)
        return 0;
    if (n % 4 != 0 || n / 4 * 3 > cap + 2)
        return -1;
    uint8_t tmp[(FMT_PAYLOAD_MAX + 3) / 3 * 3 + 3];
    if (n / 4 * 3 > sizeof tmp)
        return -1;
    int len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
    if (len < 0)
        return -1;
    if (s[n - 1] == '=')
        len--;
    if (s[n - 2] == '=')
        len--;
    if ((size_t)len > cap)
        return -1;
    memcpy(out, tmp, (size_t)len);
    return len;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
    char out[4 * ((FMT_PAYLOAD_MAX + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return json_string(out);
}

/* The request's formatter: "formatter" (name or number) and "parameter". */
static int req_formatter(fmt_api_op_t *op, as_formatter_t *f)
{
    json_t *jf = json_object_get(op->body, "formatter");
    f->type = AS_FMT_NONE;
    f->parameter = json_string_value(json_object_get(op->body, "parameter"));
    if (f->parameter == NULL)
        f->parameter = "";
    if (jf == NULL)
        return 0;
    char num[16];
    const char *s = json_string_value(jf);
    if (json_is_integer(jf)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(jf));
        s = num;
    }
    if (s == NULL || as_fmt_type_parse(s, &f->type) != 0) {
        lw_api_fail_invalid(&op->api, "formatter", "not a PayloadFormatter");
        return -1;
    }
    return 0;
}

static void up_decoded(void *arg, const as_fmt_uplink_result_t *r)
{
    fmt_api_op_t *op = arg;
    if (r->err != NULL) {
        lw_api_fail(&op->api, r->err);
        return;
    }
    if (r->decoded_payload != NULL)
        json_object_set(op->msg, "decoded_payload", r->decoded_payload);
    if (r->warnings != NULL)
        json_object_set(op->msg, "decoded_payload_warnings", r->warnings);
    if (r->normalized_payload != NULL)
        json_object_set(op->msg, "normalized_payload", r->normalized_payload);
    json_t *out = json_pack("{s:O}", "uplink", op->msg);
    lw_api_reply(&op->api, 200, out); /* takes out */
}

static void down_encoded(void *arg, const as_fmt_downlink_result_t *r)
{
    fmt_api_op_t *op = arg;
    if (r->err != NULL) {
        lw_api_fail(&op->api, r->err);
        return;
    }
    json_object_set_new(op->msg, "frm_payload", b64_json(r->frm_payload, r->frm_payload_len));
    /* TTS: the encoder's fPort, else the request's, else 1 */
    json_int_t port = json_integer_value(json_object_get(op->msg, "f_port"));
    if (r->f_port != 0)
        port = r->f_port;
    else if (port == 0)
        port = 1;
    json_object_set_new(op->msg, "f_port", json_integer(port));
    if (r->warnings != NULL)
        json_object_set(op->msg, "decoded_payload_warnings", r->warnings);
    json_t *out = json_pack("{s:O}", "downlink", op->msg);
    lw_api_reply(&op->api, 200, out); /* takes out */
}

static void down_decoded(void *arg, const as_fmt_uplink_result_t *r)
{
    fmt_api_op_t *op = arg;
    if (r->err != NULL) {
        lw_api_fail(&op->api, r->err);
        return;
    }
    if (r->decoded_payload != NULL)
        json_object_set(op->msg, "decoded_payload", r->decoded_payload);
    if (r->warnings != NULL)
        json_object_set(op->msg, "decoded_payload_warnings", r->warnings);
    json_t *out = json_pack("{s:O}", "downlink", op->msg);
    lw_api_reply(&op->api, 200, out); /* takes out */
}

static void authorized(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    fmt_api_op_t *op = arg;
    if (held == NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    as_t *as = op->as;
    if (as->fmt == NULL) {
        lw_api_fail_with(&op->api, &lw_err_unavailable, "payload formatters are not running");
        return;
    }
    as_formatter_t f;
    if (req_formatter(op, &f) != 0)
        return;
    const json_t *version_ids = json_object_get(op->body, "version_ids");
    const char *key = op->kind == FMT_API_UP_DECODE ? "uplink" : "downlink";
    json_t *msg = json_object_get(op->body, key);
    if (!json_is_object(msg)) {
        lw_api_fail_invalid(&op->api, key, "an object is required");
        return;
    }
    op->msg = json_deep_copy(msg);
    json_int_t port = json_integer_value(json_object_get(msg, "f_port"));
    if (port < 0 || port > 255) {
        lw_api_fail_invalid(&op->api, "f_port", "between 0 and 255");
        return;
    }
    uint8_t payload[FMT_PAYLOAD_MAX];
    int len = 0;
    if (op->kind != FMT_API_DOWN_ENCODE) {
        const char *b64 = json_string_value(json_object_get(msg, "frm_payload"));
        len = b64 != NULL ? b64_decode(b64, payload, sizeof payload) : 0;
        if (len < 0) {
            lw_api_fail_invalid(&op->api, "frm_payload", "not base64 of at most 255 bytes");
            return;
        }
    }
    if (op->kind == FMT_API_UP_DECODE) {
        as_fmt_uplink_t in = {
            .tenant_id = op->t.id,
            .app_id = op->app_id,
            .dev_id = op->dev_id,
            .formatter = f,
            .version_ids = version_ids,
            .f_port = (uint8_t)port,
            .frm_payload = payload,
            .frm_payload_len = (size_t)len,
            .recv_time = json_string_value(json_object_get(msg, "received_at")),
        };
        as_fmt_decode_uplink(as->fmt, &in, up_decoded, op);
    } else if (op->kind == FMT_API_DOWN_ENCODE) {
        json_t *data = json_object_get(msg, "decoded_payload");
        if (!json_is_object(data)) {
            lw_api_fail_invalid(&op->api, "downlink.decoded_payload", "an object is required");
            return;
        }
        as_fmt_downlink_t in = {
            .tenant_id = op->t.id,
            .app_id = op->app_id,
            .dev_id = op->dev_id,
            .formatter = f,
            .version_ids = version_ids,
            .decoded_payload = data,
            .f_port = (uint8_t)port,
        };
        as_fmt_encode_downlink(as->fmt, &in, down_encoded, op);
    } else {
        fmt_downlink_decode_t in = {
            .tenant_id = op->t.id,
            .app_id = op->app_id,
            .dev_id = op->dev_id,
            .formatter = f,
            .version_ids = version_ids,
            .f_port = (uint8_t)port,
            .frm_payload = payload,
            .frm_payload_len = (size_t)len,
        };
        as_fmt_decode_downlink(as->fmt, &in, down_decoded, op);
    }
}

static void fmt_api_handle(lw_http_req_t *req, const tn_tenant_t *t, as_t *as, int kind)
{
    fmt_api_op_t *op = lw_api_op_new(sizeof *op, &as->env, req);
    op->as = as;
    op->kind = kind;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->api.destroy = op_destroy;
    as->inflight++;
    const char *auth = lw_http_header(req, "Authorization");
    snprintf(op->authorization, sizeof op->authorization, "%s", auth != NULL ? auth : "");
    const char *app = lw_http_param(req, "application_id");
    const char *dev = lw_http_param(req, "device_id");
    lw_err_t e;
    if (tn_id_validate(app, 3, "application_id", &e) != 0 ||
        tn_id_validate(dev, 3, "device_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    snprintf(op->app_id, sizeof op->app_id, "%s", app);
    snprintf(op->dev_id, sizeof op->dev_id, "%s", dev);
    if (op->authorization[0] == '\0') {
        lw_api_fail_with(&op->api, &lw_err_unauthenticated, "no Authorization header");
        return;
    }
    op->body = lw_http_json(req, &e);
    if (op->body == NULL) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (!json_is_object(op->body)) {
        lw_api_fail_invalid(&op->api, "body", "an object is required");
        return;
    }
    const char *need[1] = {RIGHT_TRAFFIC_READ};
    if (as->access == NULL || tn_access_check(as->access, &op->t, op->authorization, "application",
                                              op->app_id, need, 1, authorized, op) != 0)
        lw_api_fail_with(&op->api, &lw_err_unavailable, "the access check could not start");
}

static void h_up_decode(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    fmt_api_handle(req, t, arg, FMT_API_UP_DECODE);
}

static void h_down_encode(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    fmt_api_handle(req, t, arg, FMT_API_DOWN_ENCODE);
}

static void h_down_decode(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    fmt_api_handle(req, t, arg, FMT_API_DOWN_DECODE);
}

int as_fmt_api_routes(as_t *as)
{
    const char *base = "/api/v3/as/applications/{application_id}/devices/{device_id}";
    char p[3][160];
    snprintf(p[0], sizeof p[0], "%s/up/decode", base);
    snprintf(p[1], sizeof p[1], "%s/down/encode", base);
    snprintf(p[2], sizeof p[2], "%s/down/decode", base);
    if (tn_route(as->tn, "POST", p[0], h_up_decode, as) != 0 ||
        tn_route(as->tn, "POST", p[1], h_down_encode, as) != 0 ||
        tn_route(as->tn, "POST", p[2], h_down_decode, as) != 0)
        return -1;
    return 0;
}
