/* The Backend Interfaces listener (js.listen): JoinReq → JoinAns and AppSKeyReq →
 * AppSKeyAns. As The Things Stack's interop server, a request is a POST on any path, every
 * answer is 200 with its Result (a body that has no answerable header gets 400), and the
 * device's tenant comes from its JoinEUI/DevEUI (tenant/euis.h). A request must carry the
 * Bearer token of its SenderID (js.bi.tokens.<sender>): without it the answer is 401
 * UnknownSender and nothing is looked up, so a sniffed join-request relayed by someone else
 * neither uses the device's DevNonce nor yields its session keys.
 *
 * A join runs in one transaction: the device row is locked (FOR UPDATE), the join-request
 * checked against it, the new DevNonce/JoinNonce state and the session key written, and only
 * after COMMIT does the JoinAns leave. So a restart never reuses a JoinNonce nor accepts a
 * used DevNonce, and two copies of one join-request racing through two NS paths are
 * serialised: the second sees the first's DevNonce. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "js/js_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "tenant/euis.h"

typedef struct bi_op {
    js_t *js;
    lw_http_req_t *req;
    lw_db_tx_t *tx;
    js_bi_request_t r;
    tn_device_ref_t ref;
    char sq[2 * TN_SCHEMA_MAX + 3]; /* quoted schema */
    char sql[1024];
    char cid[64];
    js_dev_t dev;
    js_nonces_t nonces;
    js_join_ans_t ans;
    uint8_t session_key_id[16];
    char ns_label[JS_LABEL_MAX + 1];
    char as_label[JS_LABEL_MAX + 1];
    char as_id[128];
    int join_rc;
} bi_op_t;

static void op_free(bi_op_t *op)
{
    js_t *js = op->js;
    OPENSSL_cleanse(op, sizeof *op);
    free(op);
    js_inflight_add(js, -1);
}

static const char *type_name(const bi_op_t *op)
{
    static const char *const names[] = {"JoinReq", "AppSKeyReq", "HomeNSReq"};
    return names[op->r.h.type];
}

/* Answers the op with body (reference taken), counts it and frees the op. */
static void answer(bi_op_t *op, json_t *body, const char *result)
{
    lw_metric_add(op->js->m_requests, (const char *const[]){type_name(op), result, NULL}, 1);
    lw_http_respond_json(op->req, 200, body);
    op_free(op);
}

static void answer_result(bi_op_t *op, const char *result, const char *description)
{
    answer(op, js_bi_answer(&op->r, result, description), result);
}

static void rolled_back(void *arg, const lw_err_t *err)
{
    (void)arg;
    (void)err;
}

/* Ends the transaction (if open) and answers a failure. */
static void fail(bi_op_t *op, const char *result, const char *description)
{
    if (op->tx != NULL) {
        lw_db_tx_rollback(op->tx, rolled_back, NULL);
        op->tx = NULL;
    }
    answer_result(op, result, description);
}

static void fail_db(bi_op_t *op, const lw_err_t *err)
{
    lw_log(LW_LOG_WARN, "js", "request failed", "message_type", type_name(op), "tenant",
           op->ref.tenant_id, "error", err->message, NULL);
    char d[200];
    snprintf(d, sizeof d, "the Join Server could not complete the request: %s", lw_err_name(err));
    fail(op, JS_BI_OTHER, d);
}

/* ---- joins ------------------------------------------------------------------------------- */

/* Backend Interfaces result for a js_join outcome, as The Things Stack's interop server
 * maps its Join Server's errors. */
static const char *join_result(const bi_op_t *op, int rc)
{
    switch (rc) {
    case JS_JOIN_E_MIC:
        return JS_BI_MIC_FAILED;
    case JS_JOIN_E_PAYLOAD:
        return js_bi_malformed(op->r.h.v11);
    case JS_JOIN_E_NET_ID:
        return JS_BI_ACTIVATION_DISALLOWED;
    default:
        return JS_BI_JOIN_REQ_FAILED;
    }
}

static json_t *reject_data(int rc)
{
    return json_pack("{ss ss ss ss}", "@type", "type.googleapis.com/ttn.lorawan.v3.ErrorDetails",
                     "namespace", "pkg/joinserver", "name", js_join_strerror(rc), "message_format",
                     js_join_message(rc));
}

static void join_reject(bi_op_t *op, int rc)
{
    const char *name = js_join_strerror(rc);
    lw_metric_add(op->js->m_joins, (const char *const[]){name, NULL}, 1);
    lw_log(LW_LOG_INFO, "js", "join rejected", "tenant", op->ref.tenant_id, "application",
           op->ref.application_id, "device", op->ref.device_id, "reason", name, NULL);
    js_event_publish(op->js, op->ref.tenant_id, "js.join.reject", op->ref.application_id,
                     op->ref.device_id, op->r.join_eui, op->r.dev_eui, reject_data(rc), op->cid);
    fail(op, join_result(op, rc), js_join_message(rc));
}

static void join_committed(void *arg, const lw_err_t *err)
{
    bi_op_t *op = arg;
    op->tx = NULL;
    if (err != NULL) {
        fail_db(op, err);
        return;
    }
    js_t *js = op->js;
    json_t *body = js_bi_answer(&op->r, JS_BI_SUCCESS, NULL);
    char phy[2 * LORAWAN_JOIN_ACCEPT_CFLIST_LEN + 1];
    js_hex_upper(op->ans.phy, op->ans.phy_len, phy);
    json_object_set_new(body, "PHYPayload", json_string(phy));
    json_object_set_new(body, "Lifetime", json_integer(0));
    const js_kek_t *nk = op->ns_label[0] != '\0' ? js_kek_find(js, op->ns_label) : NULL;
    const js_kek_t *ak = op->as_label[0] != '\0' ? js_kek_find(js, op->as_label) : NULL;
    const uint8_t *nkey = nk != NULL ? nk->key : NULL, *akey = ak != NULL ? ak->key : NULL;
    size_t nlen = nk != NULL ? nk->len : 0, alen = ak != NULL ? ak->len : 0;
    int rc = 0;
    if (op->ans.lorawan_11) {
        rc |= js_bi_key_envelope(body, "FNwkSIntKey", op->ns_label, nkey, nlen,
                                 op->ans.f_nwk_s_int_key);
        rc |= js_bi_key_envelope(body, "SNwkSIntKey", op->ns_label, nkey, nlen,
                                 op->ans.s_nwk_s_int_key);
        rc |=
            js_bi_key_envelope(body, "NwkSEncKey", op->ns_label, nkey, nlen, op->ans.nwk_s_enc_key);
    } else {
        rc |=
            js_bi_key_envelope(body, "NwkSKey", op->ns_label, nkey, nlen, op->ans.f_nwk_s_int_key);
    }
    rc |= js_bi_key_envelope(body, "AppSKey", op->as_label, akey, alen, op->ans.app_s_key);
    char skid[33];
    js_hex_upper(op->session_key_id, sizeof op->session_key_id, skid);
    json_object_set_new(body, "SessionKeyID", json_string(skid));
    if (rc != 0) {
        json_decref(body);
        fail(op, JS_BI_OTHER, "the session keys could not be wrapped");
        return;
    }
    lw_metric_add(js->m_joins, (const char *const[]){"accepted", NULL}, 1);
    lw_log(LW_LOG_INFO, "js", "join accepted", "tenant", op->ref.tenant_id, "application",
           op->ref.application_id, "device", op->ref.device_id, "session_key_id", skid, NULL);
    char dev_addr[9];
    snprintf(dev_addr, sizeof dev_addr, "%08X", op->r.dev_addr);
    js_event_publish(js, op->ref.tenant_id, "js.join.accept", op->ref.application_id,
                     op->ref.device_id, op->r.join_eui, op->r.dev_eui,
                     json_pack("{ss ss ss}", "lorawan_version",
                               js_mac_version_name(op->r.mac_version), "dev_addr", dev_addr,
                               "session_key_id", skid),
                     op->cid);
    answer(op, body, JS_BI_SUCCESS);
}

static void join_persisted(void *arg, const PGresult *res, const lw_err_t *err)
{
    bi_op_t *op = arg;
    (void)res;
    if (err != NULL) {
        fail_db(op, err);
        return;
    }
    lw_db_tx_t *tx = op->tx;
    if (lw_db_tx_commit(tx, join_committed, op) != 0) {
        op->tx = NULL;
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot commit");
        fail_db(op, &e);
    }
}

/* The used DevNonces as a PostgreSQL array literal "{1,2,3}". */
static void nonces_array(const js_nonces_t *n, char *out, size_t cap)
{
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n->n_used && len + 8 < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%u", i ? "," : "", n->used[i]);
    out[len++] = '}';
    out[len] = '\0';
}

/* Reads "{1,2,3}" (PostgreSQL's text form of an int[]) into n->used (the newest limit). */
static void nonces_parse(const char *s, js_nonces_t *n)
{
    n->n_used = 0;
    if (s == NULL || *s != '{')
        return;
    s++;
    while (*s != '\0' && *s != '}') {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s)
            break;
        if (v <= 0xffff) {
            if (n->n_used == JS_DEV_NONCE_LIMIT_MAX) {
                memmove(n->used, n->used + 1, (n->n_used - 1) * sizeof n->used[0]);
                n->n_used--;
            }
            n->used[n->n_used++] = (uint16_t)v;
        }
        s = *end == ',' ? end + 1 : end;
    }
}

/* A wrapped root key from its stored hex (NULL: none). Returns 0 (present or not), -1 when
 * it does not unwrap. */
static int root_key_load(const js_t *js, const PGresult *res, int col, bool *has, uint8_t key[16])
{
    *has = false;
    if (PQgetisnull(res, 0, col))
        return 0;
    const char *hex = PQgetvalue(res, 0, col);
    uint8_t w[JS_WRAPPED_KEY_LEN];
    size_t n = 0;
    if (!js->has_root_kek || strlen(hex) != 2 * JS_WRAPPED_KEY_LEN ||
        lorawan_hex_decode(hex, strlen(hex), w, sizeof w, &n) != 0 ||
        js_key_unwrap(js->root_kek.key, js->root_kek.len, w, key) != 0)
        return -1;
    *has = true;
    return 0;
}

#define DEV_COLS                                                                                   \
    "app_key, nwk_key, resets_join_nonces, net_id, last_dev_nonce, used_dev_nonces::text, "        \
    "last_join_nonce, network_server_kek_label, application_server_kek_label, "                    \
    "application_server_id"

static void join_selected(void *arg, const PGresult *res, const lw_err_t *err)
{
    bi_op_t *op = arg;
    js_t *js = op->js;
    if (err != NULL) {
        fail_db(op, err);
        return;
    }
    if (PQntuples(res) != 1) {
        lw_metric_add(js->m_joins, (const char *const[]){"unknown_device", NULL}, 1);
        fail(op, JS_BI_UNKNOWN_DEV_EUI, "the end device has no Join Server part");
        return;
    }
    js_dev_t *d = &op->dev;
    if (root_key_load(js, res, 0, &d->has_app_key, d->app_key) != 0 ||
        root_key_load(js, res, 1, &d->has_nwk_key, d->nwk_key) != 0) {
        lw_log(LW_LOG_ERROR, "js", "root keys do not unwrap", "tenant", op->ref.tenant_id,
               "application", op->ref.application_id, "device", op->ref.device_id, NULL);
        lw_metric_add(js->m_joins, (const char *const[]){"root_key_unwrap", NULL}, 1);
        fail(op, JS_BI_JOIN_REQ_FAILED, "the device's root keys cannot be read");
        return;
    }
    d->resets_join_nonces = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    if (!PQgetisnull(res, 0, 3)) {
        d->has_net_id = true;
        d->net_id = (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL, 16);
    }
    d->dev_nonce_limit = js->dev_nonce_limit;
    op->nonces.last_dev_nonce = (uint32_t)strtoul(PQgetvalue(res, 0, 4), NULL, 10);
    nonces_parse(PQgetvalue(res, 0, 5), &op->nonces);
    op->nonces.last_join_nonce = (uint32_t)strtoul(PQgetvalue(res, 0, 6), NULL, 10);
    const char *nl = PQgetvalue(res, 0, 7), *al = PQgetvalue(res, 0, 8);
    snprintf(op->ns_label, sizeof op->ns_label, "%s", nl[0] != '\0' ? nl : js->ns_kek_label);
    snprintf(op->as_label, sizeof op->as_label, "%s", al[0] != '\0' ? al : js->as_kek_label);
    const char *labels[2] = {op->ns_label, op->as_label};
    for (int i = 0; i < 2; i++)
        if (labels[i][0] != '\0' && js_kek_find(js, labels[i]) == NULL) {
            char desc[160];
            snprintf(desc, sizeof desc, "KEK `%s` is not configured on this Join Server",
                     labels[i]);
            lw_metric_add(js->m_joins, (const char *const[]){"kek_not_found", NULL}, 1);
            fail(op, JS_BI_JOIN_REQ_FAILED, desc);
            return;
        }

    js_join_req_t jr = {
        .phy = op->r.phy,
        .phy_len = op->r.phy_len,
        .mac_version = op->r.mac_version,
        .net_id = op->r.net_id,
        .dev_addr = op->r.dev_addr,
        .dl_settings = op->r.dl_settings,
        .rx_delay = op->r.rx_delay,
        .cflist = op->r.has_cflist ? op->r.cflist : NULL,
    };
    int rc = js_join(&jr, d, &op->nonces, &op->ans);
    OPENSSL_cleanse(d->app_key, sizeof d->app_key);
    OPENSSL_cleanse(d->nwk_key, sizeof d->nwk_key);
    if (rc != JS_JOIN_OK) {
        join_reject(op, rc);
        return;
    }
    if (RAND_bytes(op->session_key_id, sizeof op->session_key_id) != 1 || !js->has_root_kek) {
        fail(op, JS_BI_OTHER, "the session key cannot be stored");
        return;
    }
    /* The AppSKey is kept (wrapped at rest) for the Application Server's AppSKeyReq. */
    uint8_t w[JS_WRAPPED_KEY_LEN];
    char app_s_key[2 * JS_WRAPPED_KEY_LEN + 1], skid[33], used[JS_DEV_NONCE_LIMIT_MAX * 6 + 4];
    char ldn[16], ljn[16];
    if (js_key_wrap(js->root_kek.key, js->root_kek.len, op->ans.app_s_key, w) != 0) {
        fail(op, JS_BI_OTHER, "the session key cannot be stored");
        return;
    }
    lorawan_hex_encode(w, sizeof w, app_s_key, sizeof app_s_key);
    lorawan_hex_encode(op->session_key_id, sizeof op->session_key_id, skid, sizeof skid);
    nonces_array(&op->nonces, used, sizeof used);
    snprintf(ldn, sizeof ldn, "%u", op->nonces.last_dev_nonce);
    snprintf(ljn, sizeof ljn, "%u", op->nonces.last_join_nonce);
    char keep[8];
    snprintf(keep, sizeof keep, "%d", JS_SESSION_KEYS_KEPT - 1);
    const char *p[8] = {
        op->ref.application_id, op->ref.device_id, ldn, used, ljn, skid, app_s_key, keep};
    snprintf(op->sql, sizeof op->sql,
             "WITH u AS (UPDATE %s.js_devices SET last_dev_nonce = $3, used_dev_nonces = "
             "$4::int[], last_join_nonce = $5, updated_at = now() WHERE application_id = $1 AND "
             "device_id = $2), i AS (INSERT INTO %s.js_session_keys (application_id, device_id, "
             "session_key_id, app_s_key) VALUES ($1, $2, $6, $7)) DELETE FROM %s.js_session_keys "
             "WHERE application_id = $1 AND device_id = $2 AND seq NOT IN (SELECT seq FROM "
             "%s.js_session_keys WHERE application_id = $1 AND device_id = $2 ORDER BY seq DESC "
             "LIMIT $8::int)",
             op->sq, op->sq, op->sq, op->sq);
    int qrc = lw_db_tx_query(op->tx, op->sql, 8, p, join_persisted, op);
    OPENSSL_cleanse(app_s_key, sizeof app_s_key);
    if (qrc != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot queue the update");
        fail_db(op, &e);
    }
}

static void join_began(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    bi_op_t *op = arg;
    if (err != NULL) {
        fail_db(op, err);
        return;
    }
    op->tx = tx;
    const char *p[2] = {op->ref.application_id, op->ref.device_id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT " DEV_COLS " FROM %s.js_devices WHERE application_id = $1 AND device_id = $2 "
             "FOR UPDATE",
             op->sq);
    if (lw_db_tx_query(tx, op->sql, 2, p, join_selected, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot queue the query");
        fail_db(op, &e);
    }
}

/* ---- AppSKeyReq -------------------------------------------------------------------------- */

static void app_s_key_selected(void *arg, const PGresult *res, const lw_err_t *err)
{
    bi_op_t *op = arg;
    js_t *js = op->js;
    if (err != NULL) {
        fail_db(op, err);
        return;
    }
    if (PQntuples(res) != 1) {
        fail(op, JS_BI_UNKNOWN_DEV_EUI, "no session key with this SessionKeyID");
        return;
    }
    const char *as_id = PQgetvalue(res, 0, 2);
    if (as_id[0] != '\0' && strcmp(as_id, op->r.h.sender_id) != 0) {
        fail(op, JS_BI_ACTIVATION_DISALLOWED,
             "the caller is not the device's Application Server (application_server_id)");
        return;
    }
    const char *al = PQgetvalue(res, 0, 1);
    snprintf(op->as_label, sizeof op->as_label, "%s", al[0] != '\0' ? al : js->as_kek_label);
    const js_kek_t *ak = op->as_label[0] != '\0' ? js_kek_find(js, op->as_label) : NULL;
    if (op->as_label[0] != '\0' && ak == NULL) {
        fail(op, JS_BI_OTHER, "the Application Server's KEK is not configured");
        return;
    }
    const char *hex = PQgetvalue(res, 0, 0);
    uint8_t w[JS_WRAPPED_KEY_LEN], key[LORAWAN_KEY_LEN];
    size_t n = 0;
    if (!js->has_root_kek || strlen(hex) != 2 * JS_WRAPPED_KEY_LEN ||
        lorawan_hex_decode(hex, strlen(hex), w, sizeof w, &n) != 0 ||
        js_key_unwrap(js->root_kek.key, js->root_kek.len, w, key) != 0) {
        fail(op, JS_BI_OTHER, "the stored session key cannot be read");
        return;
    }
    json_t *body = js_bi_answer(&op->r, JS_BI_SUCCESS, NULL);
    char dev_eui[17];
    snprintf(dev_eui, sizeof dev_eui, "%016llX", (unsigned long long)op->r.dev_eui);
    json_object_set_new(body, "DevEUI", json_string(dev_eui));
    int rc = js_bi_key_envelope(body, "AppSKey", op->as_label, ak != NULL ? ak->key : NULL,
                                ak != NULL ? ak->len : 0, key);
    OPENSSL_cleanse(key, sizeof key);
    char skid[2 * JS_BI_TOKEN_MAX + 1];
    js_hex_upper(op->r.session_key_id, op->r.session_key_id_len, skid);
    json_object_set_new(body, "SessionKeyID", json_string(skid));
    if (rc != 0) {
        json_decref(body);
        fail(op, JS_BI_OTHER, "the session key could not be wrapped");
        return;
    }
    answer(op, body, JS_BI_SUCCESS);
}

/* ---- HomeNSReq: the device's home NetID (its net_id) ------------------------------------------
 */

static void home_ns_selected(void *arg, const PGresult *res, const lw_err_t *err)
{
    bi_op_t *op = arg;
    if (err != NULL) {
        fail_db(op, err);
        return;
    }
    if (PQntuples(res) != 1) {
        fail(op, JS_BI_UNKNOWN_DEV_EUI, "the end device has no Join Server part");
        return;
    }
    if (PQgetisnull(res, 0, 0)) {
        /* As The Things Stack: a device without a NetID has no home network to name. */
        fail(op, JS_BI_ACTIVATION_DISALLOWED, "the end device has no home NetID (net_id)");
        return;
    }
    char net_id[7];
    snprintf(net_id, sizeof net_id, "%.6s", PQgetvalue(res, 0, 0));
    for (char *c = net_id; *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 32);
    json_t *body = js_bi_answer(&op->r, JS_BI_SUCCESS, NULL);
    json_object_set_new(body, "HNetID", json_string(net_id));
    answer(op, body, JS_BI_SUCCESS);
}

/* ---- the request ------------------------------------------------------------------------- */

static void looked_up(void *arg, const tn_device_ref_t *ref, const lw_err_t *err)
{
    bi_op_t *op = arg;
    js_t *js = op->js;
    if (err != NULL) {
        fail_db(op, err);
        return;
    }
    tn_tenant_t t;
    if (ref == NULL || !tn_get(js->tn, ref->tenant_id, &t)) {
        if (op->r.h.type == JS_BI_JOIN_REQ)
            lw_metric_add(js->m_joins, (const char *const[]){"unknown_dev_eui", NULL}, 1);
        fail(op, JS_BI_UNKNOWN_DEV_EUI, "JoinEUI and DevEUI are not registered");
        return;
    }
    op->ref = *ref;
    if (!tn_state_active(t.state)) {
        if (op->r.h.type == JS_BI_JOIN_REQ)
            lw_metric_add(js->m_joins, (const char *const[]){"tenant_not_active", NULL}, 1);
        fail(op, JS_BI_ACTIVATION_DISALLOWED, "the device's tenant is not active");
        return;
    }
    if (lw_db_quote_ident(t.schema, op->sq, sizeof op->sq) != 0) {
        fail(op, JS_BI_OTHER, "internal error");
        return;
    }
    if (op->r.h.type == JS_BI_JOIN_REQ) {
        if (lw_db_begin(js->db, join_began, op) != 0) {
            lw_err_t e;
            lw_err_set(&e, &lw_err_db_unavailable, "cannot begin");
            fail_db(op, &e);
        }
        return;
    }
    if (op->r.h.type == JS_BI_HOME_NS_REQ) {
        const char *p[2] = {ref->application_id, ref->device_id};
        snprintf(op->sql, sizeof op->sql,
                 "SELECT net_id FROM %s.js_devices WHERE application_id = $1 AND device_id = $2",
                 op->sq);
        if (lw_db_query(js->db, op->sql, 2, p, home_ns_selected, op) != 0) {
            lw_err_t e;
            lw_err_set(&e, &lw_err_db_unavailable, "cannot queue the query");
            fail_db(op, &e);
        }
        return;
    }
    char skid[2 * JS_BI_TOKEN_MAX + 1];
    lorawan_hex_encode(op->r.session_key_id, op->r.session_key_id_len, skid, sizeof skid);
    const char *p[3] = {ref->application_id, ref->device_id, skid};
    snprintf(op->sql, sizeof op->sql,
             "SELECT k.app_s_key, d.application_server_kek_label, d.application_server_id FROM "
             "%s.js_session_keys k JOIN %s.js_devices d USING (application_id, device_id) WHERE "
             "k.application_id = $1 AND k.device_id = $2 AND k.session_key_id = $3",
             op->sq, op->sq);
    if (lw_db_query(js->db, op->sql, 3, p, app_s_key_selected, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot queue the query");
        fail_db(op, &e);
    }
}

/* A caller without its sender's token: 401 with the answer a BI client reads (The Things
 * Stack answers UnknownSender), counted, logged without the token; nothing is looked up. */
static void unauthenticated(bi_op_t *op, const char *why)
{
    js_t *js = op->js;
    char key[JS_BI_ID_MAX + 1], sender[JS_BI_ID_MAX + 1];
    js_bi_sender_key(&op->r, key, sender);
    lw_log(LW_LOG_WARN, "js", "request refused: unauthenticated", "message_type", type_name(op),
           "sender", sender, "reason", why, "peer", lw_http_peer(op->req), NULL);
    if (op->r.h.type == JS_BI_JOIN_REQ)
        lw_metric_add(js->m_joins, (const char *const[]){"unauthenticated", NULL}, 1);
    lw_metric_add(js->m_requests, (const char *const[]){type_name(op), "unauthenticated", NULL}, 1);
    lw_http_add_header(op->req, "WWW-Authenticate", "Bearer");
    lw_http_respond_json(op->req, 401, js_bi_answer(&op->r, JS_BI_UNKNOWN_SENDER, why));
    op_free(op);
}

static void bi_handle(lw_http_req_t *req, void *arg)
{
    js_t *js = arg;
    bi_op_t *op = lw_calloc(1, sizeof *op);
    op->js = js;
    op->req = req;
    js_inflight_add(js, 1);
    const char *rid = lw_http_header(req, "X-Request-ID");
    snprintf(op->cid, sizeof op->cid, "interop:%.48s",
             rid != NULL ? rid : lw_http_correlation_id(req));
    lw_err_t e;
    json_t *body = lw_http_json(req, &e);
    js_bi_refusal_t why;
    if (body == NULL) {
        memset(&why, 0, sizeof why);
        why.result_code = "MalformedRequest";
        snprintf(why.description, sizeof why.description, "the body is not JSON: %.160s",
                 e.message);
    } else if (js_bi_decode(body, &op->r, &why) == 0) {
        char denied[160];
        if (js_bi_authenticate(js->senders, js->n_senders, js->allow_unauthenticated, &op->r,
                               lw_http_header(req, "Authorization"), denied,
                               sizeof denied) == JS_BI_AUTH_REFUSED) {
            unauthenticated(op, denied);
            return;
        }
        if (tn_device_euis_lookup(js->db, op->r.join_eui, op->r.dev_eui, looked_up, op) != 0) {
            lw_err_set(&e, &lw_err_db_unavailable, "cannot queue the lookup");
            fail_db(op, &e);
        }
        return;
    }
    if (op->r.h.type == JS_BI_JOIN_REQ && why.header_ok)
        lw_metric_add(js->m_joins, (const char *const[]){"malformed", NULL}, 1);
    if (!why.header_ok) {
        lw_metric_add(js->m_requests, (const char *const[]){"unknown", why.result_code, NULL}, 1);
        json_t *o = json_pack("{s{ssss}}", "Result", "ResultCode", why.result_code, "Description",
                              why.description);
        lw_http_respond_json(req, 400, o);
        op_free(op);
        return;
    }
    answer_result(op, why.result_code, why.description);
}

int js_bi_routes(js_t *js)
{
    /* The Things Stack's interop server matches every path (its clients post to the
     * configured URL, "/" by default); paths of up to three segments are served here. */
    static const char *const paths[] = {"/", "/{a}", "/{a}/{b}", "/{a}/{b}/{c}"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (lw_http_route(js->http, "POST", paths[i], bi_handle, js) != 0)
            return -1;
    return 0;
}
