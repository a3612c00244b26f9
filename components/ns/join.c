/* Joins: the Network Server's side of LoRaWAN Backend Interfaces 1.1 (§6.1 JoinReq /
 * JoinAns), as The Things Stack's interop client speaks it: one JSON POST to the Join
 * Server of the JoinEUI (ns.join-servers: JoinEUI prefix → URI; the cluster's own JS by
 * default), answered in the same HTTP exchange.
 *
 * The NS chooses the DevAddr (ns.dev-addr-prefixes, or the tenant's), the DLSettings,
 * RxDelay and CFList; the JS checks the join-request, derives the keys and builds the
 * encrypted join-accept. The network session keys come back in clear or wrapped under a KEK
 * the NS holds (ns.keks.<label>); the AppSKey stays wrapped for the AS and is passed on
 * with the join_accept result. The new session is pending until its first uplink. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cluster/clock.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"

const ns_kek_t *ns_kek_find(void *arg, const char *label)
{
    ns_t *ns = arg;
    if (label == NULL)
        return NULL;
    if (ns->at_rest.len > 0 && strcmp(ns->at_rest.label, label) == 0)
        return &ns->at_rest;
    for (size_t i = 0; i < ns->nkeks; i++)
        if (strcmp(ns->keks[i].label, label) == 0)
            return &ns->keks[i];
    return NULL;
}

const ns_join_server_t *ns_join_server_for(const ns_t *ns, uint64_t join_eui)
{
    const ns_join_server_t *best = NULL;
    for (size_t i = 0; i < ns->njs; i++) {
        const ns_join_server_t *j = &ns->js[i];
        uint64_t mask = j->len == 0 ? 0 : ~0ull << (64 - j->len);
        if ((join_eui & mask) == j->prefix && (best == NULL || j->len > best->len))
            best = j;
    }
    return best;
}

uint32_t ns_devaddr_assign(ns_t *ns, const char *tenant_id, const ns_prefix_t *tp, size_t n)
{
    (void)tenant_id;
    const ns_prefix_t *ps = n > 0 ? tp : ns->prefixes;
    size_t np = n > 0 ? n : ns->nprefixes;
    uint32_t r = 0;
    RAND_bytes((unsigned char *)&r, sizeof r);
    const ns_prefix_t *p = &ps[r % np];
    uint32_t size = ns_prefix_size(p);
    uint32_t addr = 0;
    /* Unique among the index's sessions where the space allows: random tries, then a walk
     * from a random point for a small space. */
    for (int i = 0; i < 32; i++) {
        RAND_bytes((unsigned char *)&r, sizeof r);
        addr = ns_prefix_addr(p, r);
        if (!ns_matcher_addr_used(ns->matcher, addr))
            return addr;
    }
    if (size <= (1u << 20))
        for (uint32_t i = 0; i < size; i++) {
            uint32_t a = ns_prefix_addr(p, r + i);
            if (!ns_matcher_addr_used(ns->matcher, a))
                return a;
        }
    return addr; /* full: DevAddrs are shared, the MIC tells the devices apart */
}

typedef struct join_op {
    ns_t *ns;
    char key[NS_DEV_KEY_MAX + 1];
    ns_up_t *u;
    uint32_t dev_addr;
    uint8_t dl_settings;
    uint8_t rx_delay;
    uint64_t join_eui, dev_eui;
    ns_mac_state_t *mac; /* of the session the join-accept starts */
} join_op_t;

static void hex_upper(const uint8_t *in, size_t n, char *out)
{
    lw_hex_encode(in, n, out);
    for (size_t i = 0; out[i] != '\0'; i++)
        if (out[i] >= 'a' && out[i] <= 'f')
            out[i] = (char)(out[i] - 'a' + 'A');
}

static int key_of(ns_t *ns, json_t *env, uint8_t out[LORAWAN_KEY_LEN])
{
    if (!json_is_object(env))
        return -1;
    const char *label = json_string_value(json_object_get(env, "KEKLabel"));
    const char *hex = json_string_value(json_object_get(env, "AESKey"));
    if (hex == NULL)
        return -1;
    uint8_t raw[40];
    int n = lw_hex_decode(hex, raw, sizeof raw);
    if (label == NULL || label[0] == '\0') {
        if (n != LORAWAN_KEY_LEN)
            return -1;
        memcpy(out, raw, LORAWAN_KEY_LEN);
        return 0;
    }
    const ns_kek_t *kek = ns_kek_find(ns, label);
    size_t got = 0;
    uint8_t plain[32];
    if (kek == NULL || n < 24 ||
        lorawan_key_unwrap(kek->key, kek->len, raw, (size_t)n, plain, sizeof plain, &got) != 0 ||
        got != LORAWAN_KEY_LEN)
        return -1;
    memcpy(out, plain, LORAWAN_KEY_LEN);
    memset(plain, 0, sizeof plain);
    return 0;
}

static void join_finish(join_op_t *op, ns_dev_t *d)
{
    ns_t *ns = op->ns;
    if (d != NULL) {
        d->busy = false;
        d->up = NULL;
        /* Copies of the join-request that waited behind the join are late copies: the
         * cooldown runs from now, not from when the window closed (a slow Join Server would
         * otherwise see the DevNonce twice). */
        d->cooldown_until_ms = lw_clock_mono_ms() + ns->cooldown_ms;
    }
    if (op->u != NULL) {
        if (d != NULL)
            ns_uplink_window_finish(ns, op->u);
        else
            ns_uplink_window_drop(ns, op->u);
    }
    ns->inflight--;
    free(op->mac);
    free(op);
    if (d != NULL)
        ns_dev_drain(ns, d);
}

/* A join-request that ends without a join-accept: counted by `counted` (one of the NS's own
 * reasons, a bounded set), and an ns.up.join.drop event with `reason` (the NS's, or the
 * Join Server's ResultCode) and the join-request's correlation id, so that every
 * join-request has one outcome an operator can find. */
static void join_dropped(join_op_t *op, ns_dev_t *d, const char *counted, const char *reason,
                         const char *desc)
{
    ns_count_drop(op->ns, counted);
    const Lw__Msg__Envelope *env = op->u != NULL ? op->u->first->envelope : NULL;
    const char *cid = env != NULL && env->n_correlation_ids > 0 ? env->correlation_ids[0] : NULL;
    ns_event(op->ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.up.join.drop",
             json_pack("{ss ss}", "reason", reason, "description", desc != NULL ? desc : ""), cid);
}

static void join_rejected(join_op_t *op, ns_dev_t *d, const char *reason, const char *desc)
{
    join_dropped(op, d, reason, reason, desc);
}

static void join_answered(void *arg, lw_http_client_req_t *req,
                          const lw_http_client_response_t *res, const lw_err_t *err)
{
    (void)req;
    join_op_t *op = arg;
    ns_t *ns = op->ns;
    ns_dev_t *d = ns_dev_find(ns, op->key);
    if (d == NULL) {
        join_finish(op, NULL);
        return;
    }
    if (err != NULL) {
        join_rejected(op, d, "join_server_unavailable", err->message);
        join_finish(op, d);
        return;
    }
    json_t *ans = json_loadb((const char *)res->body, res->body_len, 0, NULL);
    const char *code =
        json_string_value(json_object_get(json_object_get(ans, "Result"), "ResultCode"));
    if (res->status != 200 || code == NULL || strcmp(code, "Success") != 0) {
        const char *desc =
            json_string_value(json_object_get(json_object_get(ans, "Result"), "Description"));
        join_dropped(op, d, "join_rejected", code != NULL ? code : "join_server_error", desc);
        json_decref(ans);
        join_finish(op, d);
        return;
    }
    unsigned minor = 0;
    ns_version_parse(d->set->lorawan_version, &minor, NULL);
    ns_session_t s;
    memset(&s, 0, sizeof s);
    s.valid = true;
    s.dev_addr = op->dev_addr;
    s.started_at_ns = ns_now_ns();
    uint8_t phy[LORAWAN_JOIN_ACCEPT_CFLIST_LEN + 1];
    const char *phy_hex = json_string_value(json_object_get(ans, "PHYPayload"));
    int phy_len = phy_hex != NULL ? lw_hex_decode(phy_hex, phy, sizeof phy) : -1;
    int krc;
    if (minor >= 1)
        krc = key_of(ns, json_object_get(ans, "FNwkSIntKey"), s.f_nwk_s_int_key) |
              key_of(ns, json_object_get(ans, "SNwkSIntKey"), s.s_nwk_s_int_key) |
              key_of(ns, json_object_get(ans, "NwkSEncKey"), s.nwk_s_enc_key);
    else {
        krc = key_of(ns, json_object_get(ans, "NwkSKey"), s.f_nwk_s_int_key);
        memcpy(s.s_nwk_s_int_key, s.f_nwk_s_int_key, LORAWAN_KEY_LEN);
        memcpy(s.nwk_s_enc_key, s.f_nwk_s_int_key, LORAWAN_KEY_LEN);
    }
    const char *skid = json_string_value(json_object_get(ans, "SessionKeyID"));
    if (skid != NULL) {
        int n = lw_hex_decode(skid, s.key_id, sizeof s.key_id);
        s.key_id_len = n > 0 ? (uint8_t)n : 0;
    }
    if (s.key_id_len == 0) {
        ns_random_id(s.key_id);
        s.key_id_len = LW_MSG_ID_LEN;
    }
    /* The AppSKey envelope, as the JS gave it, for the AS. */
    json_t *ask = json_object_get(ans, "AppSKey");
    const char *ask_label = json_string_value(json_object_get(ask, "KEKLabel"));
    const char *ask_hex = json_string_value(json_object_get(ask, "AESKey"));
    uint8_t ask_key[40];
    size_t ask_len = 0;
    if (ask_hex != NULL) {
        int n = lw_hex_decode(ask_hex, ask_key, sizeof ask_key);
        ask_len = n > 0 ? (size_t)n : 0;
    }
    if (phy_len != (int)LORAWAN_JOIN_ACCEPT_LEN && phy_len != (int)LORAWAN_JOIN_ACCEPT_CFLIST_LEN) {
        join_rejected(op, d, "invalid_join_answer", "PHYPayload is not a join-accept");
    } else if (krc != 0) {
        join_rejected(op, d, "invalid_join_answer", "session keys unusable (unknown KEK?)");
    } else {
        /* The pending session, with the MAC state of the parameters the join-accept gave. */
        ns_state_set_pending(&d->st, &s);
        d->st.last_join_at_ns = s.started_at_ns;
        free(d->st.pending_mac);
        d->st.pending_mac = op->mac;
        op->mac = NULL;
        ns_uplink_radio(d, op->u->first->settings);
        ns_downlink_join_accept(ns, d, op->u, phy, (size_t)phy_len);
        Lw__Msg__KeyEnvelope kenv = LW__MSG__KEY_ENVELOPE__INIT;
        kenv.kek_label = (char *)(ask_label != NULL && ask_hex != NULL ? ask_label : "");
        kenv.encrypted_key.data = ask_key;
        kenv.encrypted_key.len = ask_len;
        Lw__Msg__JoinAccept ja = LW__MSG__JOIN_ACCEPT__INIT;
        ja.session_key_id.data = s.key_id;
        ja.session_key_id.len = s.key_id_len;
        ja.app_s_key = &kenv;
        ja.received_at = op->u->first->received_at;
        ja.pending_session = true;
        ja.dev_addr = s.dev_addr;
        ja.dev_eui = op->dev_eui;
        ja.join_eui = op->join_eui;
        ja.lorawan_version = (char *)d->set->lorawan_version;
        Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
        Lw__Msg__ApplicationIdentifiers app = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
        app.application_id = ns_dev_app(d);
        ids.device_id = ns_dev_dev(d);
        ids.application_ids = &app;
        ids.dev_addr = s.dev_addr;
        ids.dev_eui = op->dev_eui;
        ids.join_eui = op->join_eui;
        Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
        Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
        env.id = op->u->first->envelope->id;
        env.tenant_id = ns_dev_tenant(d);
        env.correlation_ids = op->u->first->envelope->correlation_ids;
        env.n_correlation_ids = op->u->first->envelope->n_correlation_ids;
        env.schema_version = LW_MSG_SCHEMA_VERSION;
        up.envelope = &env;
        up.end_device_ids = &ids;
        up.up_case = LW__MSG__NS_UP__UP_JOIN_ACCEPT;
        up.join_accept = &ja;
        ns_publish_ns_up(ns, d, &up);
        for (size_t i = 0; i < op->u->ncopies; i++)
            if (op->u->copies[i]->envelope->id.len == LW_MSG_ID_LEN)
                ns_state_recent_add(&d->st, op->u->copies[i]->envelope->id.data);
        char addr[9];
        snprintf(addr, sizeof addr, "%08" PRIx32, s.dev_addr);
        ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.up.join.process",
                 json_pack("{ss}", "dev_addr", addr), NULL);
        ns_count(ns, ns->m_join, "accepted");
        ns_dev_mark_dirty(ns, d);
        /* The matchers learn of the pending session once it is durable. */
        ns_after_durable_sessions(ns, d);
        ns_worker_flush(ns);
    }
    memset(&s, 0, sizeof s);
    json_decref(ans);
    join_finish(op, d);
}

typedef struct prefixes_op {
    join_op_t *op;
} prefixes_op_t;

static void join_send(join_op_t *op, const ns_prefix_t *tp, size_t ntp);

static void prefixes_loaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    join_op_t *op = arg;
    ns_prefix_t tp[NS_MAX_PREFIXES];
    size_t n = 0;
    if (err == NULL && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        json_t *a = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v)
        {
            if (n < NS_MAX_PREFIXES && json_is_string(v) &&
                ns_prefix_parse(json_string_value(v), &tp[n]) == 0)
                n++;
        }
        json_decref(a);
    }
    join_send(op, tp, n);
}

static void join_send(join_op_t *op, const ns_prefix_t *tp, size_t ntp)
{
    ns_t *ns = op->ns;
    ns_dev_t *d = ns_dev_find(ns, op->key);
    if (d == NULL) {
        join_finish(op, NULL);
        return;
    }
    if (ntp == 0 && ns->nprefixes == 0) {
        join_rejected(op, d, "no_dev_addr_prefix", "no DevAddr prefix configured");
        join_finish(op, d);
        return;
    }
    const ns_join_server_t *js = ns_join_server_for(ns, op->join_eui);
    if (js == NULL) {
        join_rejected(op, d, "no_join_server", "no Join Server for the JoinEUI");
        join_finish(op, d);
        return;
    }
    op->dev_addr = ns_devaddr_assign(ns, ns_dev_tenant(d), tp, ntp);
    ns_mac_ctx_t ctx;
    lorawan_rp_rev_t rev;
    ns_mac_version_t ver;
    ns_mac_join_params_t jp;
    op->mac = ns_dev_mac_new(d);
    if (op->mac == NULL || ns_dev_mac_ctx(d, &ctx, &rev, &ver) != 0 ||
        ns_mac_join_accept_params(op->mac, &ctx, &jp) != 0) {
        join_rejected(op, d, "unknown_frequency_plan", "the device's frequency plan is not known");
        join_finish(op, d);
        return;
    }
    op->dl_settings = jp.dl_settings;
    op->rx_delay = jp.rx_delay;
    const ProtobufCBinaryData *raw = &op->u->first->raw_payload;
    char phy[2 * LORAWAN_PHY_MAX_LEN + 1], deveui[17], joineui[17], addr[9], dls[3], sender[7];
    hex_upper(raw->data, raw->len, phy);
    snprintf(deveui, sizeof deveui, "%016" PRIX64, op->dev_eui);
    snprintf(joineui, sizeof joineui, "%016" PRIX64, op->join_eui);
    snprintf(addr, sizeof addr, "%08" PRIX32, op->dev_addr);
    snprintf(dls, sizeof dls, "%02X", op->dl_settings);
    snprintf(sender, sizeof sender, "%06" PRIX32, ns->net_id);
    uint32_t tid = 0;
    RAND_bytes((unsigned char *)&tid, sizeof tid);
    json_t *body = json_pack(
        "{ss ss ss sI ss ss ss ss ss ss si}", "ProtocolVersion", "1.1", "SenderID", sender,
        "ReceiverID", joineui, "TransactionID", (json_int_t)(tid & 0x7fffffffu), "MessageType",
        "JoinReq", "MACVersion", ns_mac_version_bi(d->set->lorawan_version), "PHYPayload", phy,
        "DevEUI", deveui, "DevAddr", addr, "DLSettings", dls, "RxDelay", (int)op->rx_delay);
    if (jp.has_cf_list) {
        char cfh[2 * LORAWAN_CFLIST_LEN + 1];
        hex_upper(jp.cf_list, sizeof jp.cf_list, cfh);
        json_object_set_new(body, "CFList", json_string(cfh));
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const lw_http_client_header_t hdr[] = {{"Content-Type", "application/json"},
                                           {"Authorization", ns->js_authorization}};
    lw_http_client_req_opts_t o = {.method = "POST",
                                   .url = js->uri,
                                   .headers = hdr,
                                   .nheaders =
                                       js->cluster && ns->js_authorization[0] != '\0' ? 2 : 1,
                                   .body = text,
                                   .body_len = text != NULL ? strlen(text) : 0,
                                   .timeout_ms = 10000};
    lw_err_t e;
    lw_err_clear(&e);
    lw_http_client_req_t *r = lw_http_client_send(ns->http, &o, join_answered, op, &e);
    free(text);
    if (r == NULL) {
        join_rejected(op, d, "join_server_unavailable", e.message);
        join_finish(op, d);
    }
}

void ns_join_request(ns_t *ns, ns_dev_t *d, ns_up_t *u)
{
    lorawan_phy_t phy;
    lorawan_phy_decode(u->first->raw_payload.data, u->first->raw_payload.len, &phy);
    join_op_t *op = lw_calloc(1, sizeof *op);
    op->ns = ns;
    snprintf(op->key, sizeof op->key, "%s", d->key);
    op->u = u;
    op->join_eui = phy.u.join_request.join_eui;
    op->dev_eui = phy.u.join_request.dev_eui;
    if (!d->has_dev_eui) {
        d->dev_eui = op->dev_eui;
        d->join_eui = op->join_eui;
    }
    d->busy = true;
    d->up = NULL;
    ns->inflight++;
    /* The tenant's own DevAddr prefixes (tenant configuration, TTS Enterprise's
     * default_cluster.ns.dev_addr_prefixes), else the deployment's. */
    const char *params[1] = {ns_dev_tenant(d)};
    if (lw_db_query(ns->db,
                    "SELECT configuration->'default_cluster'->'ns'->'dev_addr_prefixes' FROM "
                    "lw_control.tenants WHERE tenant_id = $1",
                    1, params, prefixes_loaded, op) != 0)
        join_send(op, NULL, 0);
}
