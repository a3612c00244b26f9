/* The Gateway Server's API, as The Things Stack's:
 *   GET /api/v3/gs/gateways/{gateway_id}/connection/stats   (RIGHT_GATEWAY_STATUS_READ)
 * The caller's rights come from the Identity Server through tenant/access.h. A gateway that
 * is not connected to this process is 404 not_connected, as TTS answers. */
#include <stdlib.h>
#include <string.h>

#include "cluster/http.h"
#include "cluster/mem.h"
#include "tenant/access.h"

#include "gs/core_private.h"

typedef struct stats_req {
    gs_t *gs;
    lw_http_req_t *req;
    char tenant_id[TN_ID_MAX + 1];
    char gateway_id[TN_ID_MAX + 1];
} stats_req_t;

static void set_time(json_t *o, const char *key, int64_t ns)
{
    if (ns == 0)
        return;
    char t[40];
    gs_time_format(ns, t);
    json_object_set_new(o, key, json_string(t));
}

/* uint64 as The Things Stack's JSON writes it: a decimal string; omitted when 0. */
static void set_u64(json_t *o, const char *key, uint64_t v)
{
    if (v == 0)
        return;
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    json_object_set_new(o, key, json_string(s));
}

static json_t *stats_json(const gs_gw_t *gw)
{
    json_t *o = json_object();
    set_time(o, "connected_at", gw->connected_at_ns);
    json_object_set_new(o, "protocol", json_string(gw->protocol));
    set_time(o, "last_status_received_at", gw->last_status_received_at_ns);
    if (gw->last_status != NULL) {
        json_t *st = json_deep_copy(gw->last_status);
        json_object_del(st, "@type");
        json_object_set_new(o, "last_status", st);
    }
    set_time(o, "last_uplink_received_at", gw->last_uplink_received_at_ns);
    set_u64(o, "uplink_count", gw->uplink_count);
    set_time(o, "last_downlink_received_at", gw->last_downlink_received_at_ns);
    set_u64(o, "downlink_count", gw->downlink_count);
    set_time(o, "last_tx_acknowledgment_received_at", gw->last_tx_ack_received_at_ns);
    set_u64(o, "tx_acknowledgment_count", gw->tx_ack_count);
    if (gw->rtt_n > 0) {
        int64_t v[GS_RTT_WINDOW];
        memcpy(v, gw->rtt_ns, gw->rtt_n * sizeof v[0]);
        int64_t mn = v[0], mx = v[0];
        for (size_t i = 1; i < gw->rtt_n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
        char a[32], b[32], c[32];
        json_object_set_new(o, "round_trip_times",
                            json_pack("{ss ss ss si}", "min", gs_duration_format(mn, a), "max",
                                      gs_duration_format(mx, b), "median",
                                      gs_duration_format(gs_gw_rtt_median(gw), c), "count",
                                      (json_int_t)gw->rtt_n));
    }
    if (gw->sched_ok) {
        gs_sched_sub_band_stats_t sb[GS_SCHED_MAX_SUB_BANDS];
        int64_t now_us = 0;
        if (!gs_gw_now_us(gw, gs_now_ns(), &now_us))
            now_us = 0;
        size_t n = gs_sched_sub_band_stats(&gw->sched, now_us, sb, GS_SCHED_MAX_SUB_BANDS);
        if (n > GS_SCHED_MAX_SUB_BANDS)
            n = GS_SCHED_MAX_SUB_BANDS;
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *s = json_object();
            set_u64(s, "min_frequency", sb[i].min_freq_hz);
            set_u64(s, "max_frequency", sb[i].max_freq_hz);
            json_object_set_new(s, "downlink_utilization_limit",
                                json_real(sb[i].downlink_utilization_limit));
            json_object_set_new(s, "downlink_utilization", json_real(sb[i].downlink_utilization));
            json_array_append_new(arr, s);
        }
        json_object_set_new(o, "sub_bands", arr);
    }
    if (gw->remote_ip[0] != '\0')
        json_object_set_new(o, "gateway_remote_address", json_pack("{ss}", "ip", gw->remote_ip));
    return o;
}

static void stats_authorized(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    stats_req_t *r = arg;
    if (held == NULL) {
        lw_http_respond_err(r->req, err);
        free(r);
        return;
    }
    gs_gw_t *gw = gs_gw_by_uid(r->gs, r->tenant_id, r->gateway_id);
    if (gw == NULL) {
        lw_err_t e;
        char uid[2 * TN_ID_MAX + 2];
        snprintf(uid, sizeof uid, "%s@%s", r->gateway_id, r->tenant_id);
        lw_err_set(&e, &lw_err_not_connected, "gateway `%s` not connected", uid);
        lw_err_attr(&e, "gateway_uid", uid);
        lw_http_respond_err(r->req, &e);
    } else {
        lw_http_respond_json(r->req, 200, stats_json(gw));
    }
    free(r);
}

static void stats_handler(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    gs_t *gs = arg;
    const char *id = lw_http_param(req, "gateway_id");
    lw_err_t e;
    if (tn_id_validate(id, 3, "gateway_ids.gateway_id", &e) != 0) {
        lw_http_respond_err(req, &e);
        return;
    }
    stats_req_t *r = lw_calloc(1, sizeof *r);
    r->gs = gs;
    r->req = req;
    snprintf(r->tenant_id, sizeof r->tenant_id, "%s", t->id);
    snprintf(r->gateway_id, sizeof r->gateway_id, "%s", id);
    static const char *const need[] = {"RIGHT_GATEWAY_STATUS_READ"};
    if (tn_access_check(tn_access_from_runtime(gs->rt), t, lw_http_header(req, "Authorization"),
                        "gateway", id, need, 1, stats_authorized, r) != 0) {
        free(r);
        lw_http_respond_errorf(req, &lw_err_unavailable, "rights cannot be checked");
    }
}

int gs_api_routes(gs_t *gs, lw_err_t *err)
{
    if (tn_access_from_runtime(gs->rt) == NULL)
        return lw_err_set(err, &lw_err_internal, "the gateway server needs the access checker");
    if (tn_route(gs->tn, "GET", "/api/v3/gs/gateways/{gateway_id}/connection/stats", stats_handler,
                 gs) != 0)
        return lw_err_set(err, &lw_err_internal, "cannot register the gateway server's routes");
    return 0;
}
