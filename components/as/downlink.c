/* The one downlink entry point (API, MQTT, webhooks) and the worker's re-pushes.
 *
 * push/replace: the body is validated item by item (errors name "downlinks[i].<field>"),
 * decoded_payload goes through the formatter's encodeDownlink, then one transaction on the
 * device's row (SELECT ... FOR UPDATE) takes the counters: item i is encrypted with the
 * session's AppSKey for last_a_f_cnt_down + 1 + i (0 for the first downlink of a session),
 * the new last_a_f_cnt_down is written, and after the commit the AsDown goes to lw.as.down.
 * Processes never hand out a counter twice since they all take it under the row lock. An
 * item whose counter the NS finds behind its own comes back as downlink_queue_invalidated
 * with the NS's last_f_cnt_down: as_downlink_requeue encrypts it again from there (TTS's
 * handleDownlinkQueueInvalidated). A nacked confirmed downlink is pushed again for a new
 * counter with confirmed_retry.attempt + 1 (LoRaWAN 1.0.4 §4.3.1.3 forbids reusing one).
 *
 * list: an AsDown LIST; the NS answers NsUp.downlink_queue_list on lw.ns.up, which reaches the
 * AS worker owning the device. The worker decrypts the items; when the request is not this
 * process's, it publishes the answer as AsListReply on lw.as.replies, which every AS process
 * reads as a broadcast, and the process holding the request answers it. No answer in time:
 * as_downlink_list_timeout (as.downlink-list-timeout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "as/as_private.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/uid.h"

#define AS_FRM_MAX 250u

typedef struct down_item {
    uint8_t f_port;
    uint8_t payload[AS_FRM_MAX];
    size_t len;
    bool has_payload;
    json_t *decoded; /* to encode; NULL: payload given */
    bool confirmed;
    int priority;
    json_t *corr; /* array of strings */
    bool has_retry;
    uint32_t attempt, max_attempts;
    json_t *class_b_c;
} down_item_t;

typedef struct down_op {
    as_t *as;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    as_down_op_t op;
    char origin[16];
    as_down_cb cb;
    void *arg;
    down_item_t items[AS_DOWNLINKS_MAX];
    size_t n;
    size_t encoding; /* next item to encode */
    as_formatter_t down_fmt;
    char *down_param;
    json_t *version_ids;
    bool skip_crypto;
    bool set_counter; /* requeue: start from counter + 1 */
    uint32_t counter;
    bool has_counter;
    lw_db_tx_t *tx;
    lw_err_t err;
    bool failed;
    uv_timer_t timer; /* the deferred answer, the LIST timeout */
    uint8_t list_id[LW_UID_LEN];
    struct down_op *list_next;
    json_t *result;
} down_op_t;

static down_op_t *lists; /* LIST requests waiting for their answer (loop thread only) */

static void item_destroy(down_item_t *it)
{
    json_decref(it->decoded);
    json_decref(it->corr);
    json_decref(it->class_b_c);
    OPENSSL_cleanse(it->payload, sizeof it->payload);
}

static void op_closed(uv_handle_t *h)
{
    down_op_t *op = h->data;
    for (size_t i = 0; i < op->n; i++)
        item_destroy(&op->items[i]);
    free(op->down_param);
    json_decref(op->version_ids);
    json_decref(op->result);
    free(op);
}

static void answer_fire(uv_timer_t *t)
{
    down_op_t *op = t->data;
    as_t *as = op->as;
    const char *const v[] = {op->failed ? op->err.def->name : "ok", NULL};
    lw_metric_add(as->m_down, v, 1);
    if (op->cb != NULL)
        op->cb(op->arg, op->failed ? &op->err : NULL, op->result);
    as->inflight--;
    uv_close((uv_handle_t *)&op->timer, op_closed);
}

/* Answers on the next loop turn (never from inside as_downlink_request). */
static void op_answer(down_op_t *op)
{
    uv_timer_stop(&op->timer);
    uv_timer_start(&op->timer, answer_fire, 0, 0);
}

static void op_fail(down_op_t *op, const lw_err_t *err)
{
    op->err = *err;
    op->failed = true;
    if (op->tx != NULL) {
        lw_db_tx_rollback(op->tx, NULL, NULL);
        op->tx = NULL;
    }
    op_answer(op);
}

static down_op_t *op_new(as_t *as, const char *tenant, const char *app, const char *dev,
                         as_down_op_t kind, const char *origin, as_down_cb cb, void *arg)
{
    down_op_t *op = lw_calloc(1, sizeof *op);
    op->as = as;
    snprintf(op->tenant, sizeof op->tenant, "%s", tenant);
    snprintf(op->app, sizeof op->app, "%s", app);
    snprintf(op->dev, sizeof op->dev, "%s", dev);
    op->op = kind;
    snprintf(op->origin, sizeof op->origin, "%s", origin != NULL ? origin : "api");
    op->cb = cb;
    op->arg = arg;
    uv_timer_init(as->loop, &op->timer);
    op->timer.data = op;
    as->inflight++;
    return op;
}

/* ---- validation ---------------------------------------------------------------------------- */

static const char *const priority_names[] = {"LOWEST",       "LOW",  "BELOW_NORMAL", "NORMAL",
                                             "ABOVE_NORMAL", "HIGH", "HIGHEST"};

static int item_parse(const json_t *j, size_t i, down_item_t *it, lw_err_t *err)
{
    char f[64];
    static const char *const keys[] = {
        "session_key_id",           "f_port",    "f_cnt",     "frm_payload", "decoded_payload",
        "decoded_payload_warnings", "confirmed", "class_b_c", "priority",    "correlation_ids",
        "confirmed_retry",          NULL};
    snprintf(f, sizeof f, "downlinks[%zu]", i);
    if (!json_is_object(j))
        return lw_api_invalid(err, f, "an object expected");
    if (lw_api_check_keys(j, keys, NULL, err) != 0)
        return -1;
    const json_t *fp = json_object_get(j, "f_port");
    long long port = 0;
    snprintf(f, sizeof f, "downlinks[%zu].f_port", i);
    if (fp != NULL && lw_api_uint_decode(fp, f, 255, &port, err) != 0)
        return -1;
    if (port < 1 || port > AS_FPORT_MAX) {
        lw_err_set(err, &lw_err_as_invalid_f_port,
                   "invalid FPort `%lld` of `%s`: between 1 and 223 expected", port, f);
        lw_err_attr_num(err, "f_port", port);
        lw_err_attr(err, "field", f);
        return -1;
    }
    it->f_port = (uint8_t)port;
    const json_t *pl = json_object_get(j, "frm_payload");
    if (pl != NULL && !json_is_null(pl)) {
        snprintf(f, sizeof f, "downlinks[%zu].frm_payload", i);
        int n = json_is_string(pl)
                    ? as_b64_decode(json_string_value(pl), it->payload, sizeof it->payload)
                    : -1;
        if (n < 0)
            return lw_api_invalid(err, f, "base64 of at most 250 bytes expected");
        it->len = (size_t)n;
        it->has_payload = true;
    }
    const json_t *dp = json_object_get(j, "decoded_payload");
    if (!it->has_payload && dp != NULL && !json_is_null(dp)) {
        if (!json_is_object(dp)) {
            snprintf(f, sizeof f, "downlinks[%zu].decoded_payload", i);
            return lw_api_invalid(err, f, "an object expected");
        }
        it->decoded = json_incref((json_t *)dp);
    }
    if (!it->has_payload && it->decoded == NULL) {
        snprintf(f, sizeof f, "downlinks[%zu]", i);
        lw_err_set(err, &lw_err_as_no_payload,
                   "neither `frm_payload` nor `decoded_payload` is set in `%s`", f);
        lw_err_attr(err, "field", f);
        return -1;
    }
    const json_t *c = json_object_get(j, "confirmed");
    if (c != NULL && !json_is_boolean(c)) {
        snprintf(f, sizeof f, "downlinks[%zu].confirmed", i);
        return lw_api_invalid(err, f, "a boolean expected");
    }
    it->confirmed = json_is_true(c);
    const json_t *p = json_object_get(j, "priority");
    it->priority = 0;
    if (p != NULL && !json_is_null(p)) {
        int found = -1;
        for (int k = 0; k < 7; k++)
            if ((json_is_string(p) && strcmp(json_string_value(p), priority_names[k]) == 0) ||
                (json_is_integer(p) && json_integer_value(p) == k))
                found = k;
        if (found < 0) {
            snprintf(f, sizeof f, "downlinks[%zu].priority", i);
            return lw_api_invalid(err, f,
                                  "LOWEST, LOW, BELOW_NORMAL, NORMAL, ABOVE_NORMAL, HIGH or "
                                  "HIGHEST expected");
        }
        it->priority = found;
    }
    const json_t *cids = json_object_get(j, "correlation_ids");
    it->corr = json_array();
    if (cids != NULL && !json_is_null(cids)) {
        size_t k;
        const json_t *v;
        snprintf(f, sizeof f, "downlinks[%zu].correlation_ids", i);
        if (!json_is_array(cids) || json_array_size(cids) > 16)
            return lw_api_invalid(err, f, "an array of at most 16 strings expected");
        json_array_foreach(cids, k, v)
        {
            if (!json_is_string(v) || json_string_length(v) > 100)
                return lw_api_invalid(err, f, "strings of at most 100 characters expected");
            json_array_append(it->corr, (json_t *)v);
        }
    }
    const json_t *bc = json_object_get(j, "class_b_c");
    if (bc != NULL && !json_is_null(bc)) {
        snprintf(f, sizeof f, "downlinks[%zu].class_b_c", i);
        if (!json_is_object(bc))
            return lw_api_invalid(err, f, "an object expected");
        const json_t *at = json_object_get(bc, "absolute_time");
        if (at != NULL && (!json_is_string(at) || !lw_api_time_valid(json_string_value(at))))
            return lw_api_invalid(err, f, "`absolute_time`: an RFC 3339 time expected");
        it->class_b_c = json_incref((json_t *)bc);
    }
    const json_t *cr = json_object_get(j, "confirmed_retry");
    if (json_is_object(cr)) {
        long long a = 0, m = 0;
        snprintf(f, sizeof f, "downlinks[%zu].confirmed_retry", i);
        const json_t *x = json_object_get(cr, "attempt");
        if (x != NULL && lw_api_uint_decode(x, f, 100, &a, err) != 0)
            return -1;
        x = json_object_get(cr, "max_attempts");
        if (x != NULL && lw_api_uint_decode(x, f, 100, &m, err) != 0)
            return -1;
        it->has_retry = true;
        it->attempt = (uint32_t)a;
        it->max_attempts = (uint32_t)m;
    }
    return 0;
}

/* ---- the transaction ------------------------------------------------------------------------- */

static void down_publish(down_op_t *op, const as_session_t *s);

static void committed(void *arg, const lw_err_t *err)
{
    down_op_t *op = arg;
    op->tx = NULL;
    if (err != NULL) {
        op_fail(op, err);
        return;
    }
    op_answer(op);
}

static void session_written(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    down_op_t *op = arg;
    if (err != NULL) {
        op_fail(op, err);
        return;
    }
    lw_db_tx_t *tx = op->tx;
    if (lw_db_tx_commit(tx, committed, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "the downlink counter cannot be committed");
        op->tx = NULL;
        op_fail(op, &e);
    }
}

typedef struct sess_hold {
    as_session_t s;
} sess_hold_t;

static void locked(void *arg, const PGresult *res, const lw_err_t *err)
{
    down_op_t *op = arg;
    as_t *as = op->as;
    lw_err_t e;
    if (err != NULL) {
        op_fail(op, err);
        return;
    }
    if (PQntuples(res) != 1) {
        char uid[3 * TN_ID_MAX + 3];
        snprintf(uid, sizeof uid, "%s.%s@%s", op->app, op->dev, op->tenant);
        lw_err_set(&e, &lw_err_as_device_not_found,
                   "end device `%s` not found in the Application Server", uid);
        lw_err_attr(&e, "device_uid", uid);
        op_fail(op, &e);
        return;
    }
    sess_hold_t h;
    memset(&h, 0, sizeof h);
    json_t *sj = NULL;
    int col = -1;
    for (int c = 0; c < 2 && col < 0; c++)
        if (!PQgetisnull(res, 0, c)) {
            sj = json_loads(PQgetvalue(res, 0, c), 0, NULL);
            if (sj != NULL && as_session_from_json(as, sj, "session", &h.s, &e) == 0)
                col = c;
            else
                json_decref(sj);
        }
    if (col < 0) {
        char uid[3 * TN_ID_MAX + 3];
        snprintf(uid, sizeof uid, "%s.%s@%s", op->app, op->dev, op->tenant);
        lw_err_set(&e, &lw_err_as_no_session, "end device `%s` has no session", uid);
        lw_err_attr(&e, "device_uid", uid);
        op_fail(op, &e);
        return;
    }
    if (!h.s.has_key && !op->skip_crypto) {
        json_decref(sj);
        lw_err_set(&e, &lw_err_as_no_app_s_key, "no AppSKey");
        op_fail(op, &e);
        return;
    }
    uint32_t next = h.s.has_f_cnt ? h.s.last_a_f_cnt_down + 1 : 0;
    if (op->set_counter)
        next = op->has_counter ? op->counter + 1 : 0;
    if (op->n > 0) {
        h.s.has_f_cnt = true;
        h.s.last_a_f_cnt_down = next + (uint32_t)op->n - 1;
    }
    /* Encrypt each item for its counter (in place: the items are ours). */
    for (size_t i = 0; i < op->n; i++) {
        down_item_t *it = &op->items[i];
        if (!op->skip_crypto)
            as_frm_crypt(h.s.app_s_key, true, h.s.dev_addr, next + (uint32_t)i, it->payload,
                         it->len);
    }
    as_session_t used = h.s;
    used.last_a_f_cnt_down = next; /* down_publish numbers from here */
    down_publish(op, &used);
    json_t *rest = as_session_to_rest(as, &h.s);
    char *text = json_dumps(rest, JSON_COMPACT);
    json_decref(rest);
    json_decref(sj);
    OPENSSL_cleanse(&h, sizeof h);
    OPENSSL_cleanse(&used, sizeof used);
    char q[TN_SCHEMA_MAX + 8], sql[320];
    as_store_schema(op->tenant, q, sizeof q);
    snprintf(sql, sizeof sql,
             "UPDATE %s.as_devices SET %s = $3::jsonb, updated_at = now() WHERE "
             "application_id = $1 AND device_id = $2",
             q, col == 0 ? "session" : "pending_session");
    const char *params[3] = {op->app, op->dev, text};
    int rc = lw_db_tx_query(op->tx, sql, 3, params, session_written, op);
    free(text);
    if (rc != 0) {
        lw_err_set(&e, &lw_err_db_unavailable, "the downlink counter cannot be stored");
        op_fail(op, &e);
    }
}

static void began(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    down_op_t *op = arg;
    if (err != NULL) {
        op_fail(op, err);
        return;
    }
    op->tx = tx;
    char q[TN_SCHEMA_MAX + 8], sql[320];
    as_store_schema(op->tenant, q, sizeof q);
    snprintf(sql, sizeof sql,
             "SELECT session, pending_session FROM %s.as_devices WHERE application_id = $1 AND "
             "device_id = $2 FOR UPDATE",
             q);
    const char *params[2] = {op->app, op->dev};
    if (lw_db_tx_query(tx, sql, 2, params, locked, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "the device cannot be locked");
        op_fail(op, &e);
    }
}

static void counters_take(down_op_t *op)
{
    if (lw_db_begin(op->as->db, began, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "no database connection for the downlink");
        op_fail(op, &e);
    }
}

/* ---- AsDown ---------------------------------------------------------------------------------- */

static int publish_as_down(as_t *as, const char *tenant, const char *app, const char *dev,
                           Lw__Msg__DownlinkQueueOperation kind, Lw__Msg__ApplicationDownlink **dls,
                           size_t n, uint8_t id[LW_UID_LEN], lw_err_t *err)
{
    Lw__Msg__AsDown m = LW__MSG__AS_DOWN__INIT;
    Lw__Msg__Envelope env;
    as_envelope_new(&env, id, tenant);
    char hex[2 * LW_UID_LEN + 1], corr[64];
    lw_hex_encode(id, LW_UID_LEN, hex);
    snprintf(corr, sizeof corr, "as:downlink:%s", hex);
    char *cp = corr;
    env.correlation_ids = &cp;
    env.n_correlation_ids = 1;
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers aids = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    aids.application_id = (char *)app;
    ids.application_ids = &aids;
    ids.device_id = (char *)dev;
    m.envelope = &env;
    m.end_device_ids = &ids;
    m.operation = kind;
    m.downlinks = dls;
    m.n_downlinks = n;
    uint8_t buf[16384];
    size_t len = 0;
    int rc = lw_msg_as_down_encode(&m, buf, sizeof buf, &len);
    if (rc != 0)
        return lw_err_set(err, &lw_err_internal, "AsDown not encoded: %s", lw_msg_strerror(rc));
    char key[AS_DEV_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s/%s/%s", tenant, app, dev);
    return lw_bus_publish(as->bus, "as.down", key, strlen(key), buf, len, err);
}

static void down_publish(down_op_t *op, const as_session_t *s)
{
    as_t *as = op->as;
    Lw__Msg__ApplicationDownlink dl[AS_DOWNLINKS_MAX], *p[AS_DOWNLINKS_MAX];
    Lw__Msg__ConfirmedRetry cr[AS_DOWNLINKS_MAX];
    char *corr[AS_DOWNLINKS_MAX][17];
    for (size_t i = 0; i < op->n; i++) {
        down_item_t *it = &op->items[i];
        lw__msg__application_downlink__init(&dl[i]);
        dl[i].session_key_id.data = (uint8_t *)s->key_id;
        dl[i].session_key_id.len = s->key_id_len;
        dl[i].f_port = it->f_port;
        dl[i].f_cnt = s->last_a_f_cnt_down + (uint32_t)i;
        dl[i].frm_payload.data = it->payload;
        dl[i].frm_payload.len = it->len;
        dl[i].confirmed = it->confirmed;
        dl[i].priority = (Lw__Msg__TxSchedulePriority)it->priority;
        size_t nc = 0;
        for (size_t k = 0; k < json_array_size(it->corr) && nc < 16; k++)
            corr[i][nc++] = (char *)json_string_value(json_array_get(it->corr, k));
        dl[i].correlation_ids = corr[i];
        dl[i].n_correlation_ids = nc;
        if (it->confirmed) {
            lw__msg__confirmed_retry__init(&cr[i]);
            cr[i].attempt = it->has_retry ? it->attempt : 0;
            cr[i].max_attempts = it->has_retry && it->max_attempts > 0 ? it->max_attempts : 0;
            dl[i].confirmed_retry = &cr[i];
        }
        p[i] = &dl[i];
    }
    uint8_t id[LW_UID_LEN];
    lw_err_t e;
    lw_err_clear(&e);
    Lw__Msg__DownlinkQueueOperation kind = op->op == AS_DOWN_REPLACE
                                               ? LW__MSG__DOWNLINK_QUEUE_OPERATION__REPLACE
                                               : LW__MSG__DOWNLINK_QUEUE_OPERATION__PUSH;
    if (publish_as_down(as, op->tenant, op->app, op->dev, kind, p, op->n, id, &e) != 0) {
        op->err = e;
        op->failed = true;
        return;
    }
    as_event(as, op->tenant, op->app, op->dev, "as.down.data.forward", NULL, NULL);
}

/* ---- encoding -------------------------------------------------------------------------------- */

static void encode_next(down_op_t *op);

static void encoded(void *arg, const as_fmt_downlink_result_t *r)
{
    down_op_t *op = arg;
    down_item_t *it = &op->items[op->encoding];
    if (r->err != NULL) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_as_encode_downlink, "downlink payload formatter failed: %s",
                   r->err->message);
        lw_err_attr(&e, "cause", r->err->def->name);
        op_fail(op, &e);
        return;
    }
    if (r->frm_payload_len > sizeof it->payload) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_as_encode_downlink,
                   "downlink payload formatter failed: %zu bytes, at most 250", r->frm_payload_len);
        op_fail(op, &e);
        return;
    }
    memcpy(it->payload, r->frm_payload, r->frm_payload_len);
    it->len = r->frm_payload_len;
    it->has_payload = true;
    if (r->f_port >= 1 && r->f_port <= AS_FPORT_MAX)
        it->f_port = r->f_port;
    op->encoding++;
    encode_next(op);
}

static void encode_next(down_op_t *op)
{
    as_t *as = op->as;
    while (op->encoding < op->n && op->items[op->encoding].has_payload)
        op->encoding++;
    if (op->encoding >= op->n) {
        counters_take(op);
        return;
    }
    down_item_t *it = &op->items[op->encoding];
    if (as->fmt_ops.encode_downlink == NULL || op->down_fmt.type == AS_FMT_NONE) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_as_no_encoder,
                   "`decoded_payload` of `downlinks[%zu]` needs a downlink payload formatter",
                   op->encoding);
        op_fail(op, &e);
        return;
    }
    as_fmt_downlink_t in = {
        .tenant_id = op->tenant,
        .app_id = op->app,
        .dev_id = op->dev,
        .formatter = op->down_fmt,
        .version_ids = op->version_ids,
        .decoded_payload = it->decoded,
        .f_port = it->f_port,
    };
    as->fmt_ops.encode_downlink(as->fmt_ops.impl, &in, encoded, op);
}

static void row_loaded(void *arg, const as_row_t *row, const lw_err_t *err)
{
    down_op_t *op = arg;
    if (err != NULL) {
        op_fail(op, err);
        return;
    }
    if (!row->found) {
        lw_err_t e;
        char uid[3 * TN_ID_MAX + 3];
        snprintf(uid, sizeof uid, "%s.%s@%s", op->app, op->dev, op->tenant);
        lw_err_set(&e, &lw_err_as_device_not_found,
                   "end device `%s` not found in the Application Server", uid);
        lw_err_attr(&e, "device_uid", uid);
        op_fail(op, &e);
        return;
    }
    const json_t *skip = json_object_get(row->device, "skip_payload_crypto_override");
    if (json_is_object(skip))
        skip = json_object_get(skip, "value");
    op->skip_crypto =
        json_is_true(skip) ||
        (skip == NULL && json_is_true(json_object_get(row->link, "skip_payload_crypto")));
    const json_t *src[2] = {json_object_get(row->device, "formatters"),
                            json_object_get(row->link, "default_formatters")};
    for (int i = 0; i < 2 && op->down_fmt.type == AS_FMT_NONE; i++) {
        as_fmt_type_t t = AS_FMT_NONE;
        if (as_fmt_type_parse(json_string_value(json_object_get(src[i], "down_formatter")), &t) ==
                0 &&
            t != AS_FMT_NONE) {
            const char *p = json_string_value(json_object_get(src[i], "down_formatter_parameter"));
            op->down_param = lw_strdup(p != NULL ? p : "");
            op->down_fmt.type = t;
            op->down_fmt.parameter = op->down_param;
        }
    }
    json_t *v = json_object_get(row->device, "version_ids");
    if (json_object_size(v) > 0)
        op->version_ids = json_incref(v);
    encode_next(op);
}

static void list_unlink(down_op_t *op)
{
    for (down_op_t **pp = &lists; *pp != NULL; pp = &(*pp)->list_next)
        if (*pp == op) {
            *pp = op->list_next;
            return;
        }
}

static void list_timeout(uv_timer_t *t)
{
    down_op_t *op = t->data;
    list_unlink(op);
    lw_err_t e;
    lw_err_set(&e, &lw_err_as_downlink_list_timeout,
               "the Network Server did not answer the downlink queue list in time");
    op_fail(op, &e);
}

static bool key_is(const as_session_t *s, const ProtobufCBinaryData *id)
{
    return s != NULL && s->valid && s->key_id_len == id->len &&
           memcmp(s->key_id, id->data, id->len) == 0;
}

static down_op_t *list_find(const uint8_t *id, size_t len)
{
    down_op_t *op = lists;
    while (op != NULL && (len != LW_UID_LEN || memcmp(op->list_id, id, LW_UID_LEN) != 0))
        op = op->list_next;
    return op;
}

/* Answers a LIST: result (stolen) is {"downlinks": [...]}; NULL: the NS has no such device. */
static void list_finish(down_op_t *op, json_t *result)
{
    list_unlink(op);
    if (result == NULL) {
        lw_err_t e;
        char uid[3 * TN_ID_MAX + 3];
        snprintf(uid, sizeof uid, "%s.%s@%s", op->app, op->dev, op->tenant);
        lw_err_set(&e, &lw_err_as_device_not_found,
                   "end device `%s` not found in the Application Server", uid);
        lw_err_attr(&e, "device_uid", uid);
        op_fail(op, &e);
        return;
    }
    op->result = result;
    op_answer(op);
}

/* The NS's list as TTS's JSON: the items of the current session (else the pending one),
 * decrypted. */
static json_t *list_render(const Lw__Msg__ApplicationDownlinks *list, const as_session_t *session,
                           const as_session_t *pending)
{
    const as_session_t *s = session != NULL && session->valid ? session : pending;
    json_t *arr = json_array();
    for (size_t i = 0; i < list->n_downlinks; i++) {
        Lw__Msg__ApplicationDownlink *d = list->downlinks[i];
        if (session != NULL && !key_is(s, &d->session_key_id))
            continue;
        Lw__Msg__ApplicationDownlink c = *d;
        uint8_t plain[AS_FRM_MAX];
        if (session != NULL && s->has_key && d->frm_payload.len <= sizeof plain) {
            memcpy(plain, d->frm_payload.data, d->frm_payload.len);
            as_frm_crypt(s->app_s_key, true, s->dev_addr, d->f_cnt, plain, d->frm_payload.len);
            c.frm_payload.data = plain;
        }
        json_array_append_new(arr, as_downlink_json(&c));
        OPENSSL_cleanse(plain, sizeof plain);
    }
    json_t *result = json_object();
    if (json_array_size(arr) > 0)
        json_object_set_new(result, "downlinks", arr);
    else
        json_decref(arr);
    return result;
}

static void list_reply_publish(as_t *as, const char *tenant, const char *app, const char *dev,
                               const ProtobufCBinaryData *request_id, const json_t *result)
{
    char *text = result != NULL ? json_dumps(result, JSON_COMPACT) : NULL;
    Lw__Msg__AsListReply m = LW__MSG__AS_LIST_REPLY__INIT;
    Lw__Msg__Envelope env;
    uint8_t id[LW_UID_LEN];
    as_envelope_new(&env, id, tenant);
    m.envelope = &env;
    m.request_id = *request_id;
    m.not_found = result == NULL;
    if (text != NULL) {
        m.json.data = (uint8_t *)text;
        m.json.len = strlen(text);
    }
    size_t cap = m.json.len + 256, len = 0;
    uint8_t *buf = lw_malloc(cap);
    char key[AS_DEV_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s/%s/%s", tenant, app, dev);
    lw_err_t e;
    lw_err_clear(&e);
    int rc = lw_msg_as_reply_encode(&m, buf, cap, &len);
    if (rc == 0)
        rc = lw_bus_publish(as->bus, "as.replies", key, strlen(key), buf, len, &e);
    else
        lw_err_set(&e, &lw_err_internal, "AsListReply not encoded: %s", lw_msg_strerror(rc));
    if (rc != 0)
        lw_log(LW_LOG_WARN, "as", "downlink list answer not published", "tenant", tenant, "device",
               dev, "error", e.message, NULL);
    if (text != NULL)
        OPENSSL_cleanse(text, strlen(text));
    free(text);
    free(buf);
}

void as_downlink_list_answer(as_t *as, const char *tenant, const char *app, const char *dev,
                             const Lw__Msg__ApplicationDownlinks *list, const as_session_t *session,
                             const as_session_t *pending)
{
    bool not_found =
        list->error != NULL && list->error->name != NULL && list->error->name[0] != '\0';
    json_t *result = not_found ? NULL : list_render(list, session, pending);
    down_op_t *op = list_find(list->request_id.data, list->request_id.len);
    if (op != NULL)
        list_finish(op, result); /* asked here */
    else {
        list_reply_publish(as, tenant, app, dev, &list->request_id, result);
        json_decref(result);
    }
}

static void on_reply(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    as_t *as = arg;
    Lw__Msg__AsListReply *m = NULL;
    if (lw_msg_as_reply_decode(msg->value, msg->value_len, &m) != 0) {
        as_count_drop(as, "malformed");
        return;
    }
    down_op_t *op = list_find(m->request_id.data, m->request_id.len);
    if (op != NULL) { /* else another process's request, or timed out */
        json_t *result = NULL;
        if (!m->not_found) {
            result = json_loadb((const char *)m->json.data, m->json.len, 0, NULL);
            if (!json_is_object(result)) {
                json_decref(result);
                result = json_object();
            }
        }
        list_finish(op, result);
    }
    lw_msg_as_reply_free(m);
}

int as_downlink_start(as_t *as, lw_err_t *err)
{
    static const char *const topics[] = {"as.replies"};
    static const lw_bus_handler_t h = {.on_message = on_reply};
    return lw_bus_subscribe_opts(as->bus, NULL, topics, 1, &h, as, NULL, err) != NULL ? 0 : -1;
}

/* An item from a result the NS handed back (payload in clear). */
static void item_from(down_item_t *it, const Lw__Msg__ApplicationDownlink *d)
{
    memset(it, 0, sizeof *it);
    it->f_port = (uint8_t)d->f_port;
    it->len = d->frm_payload.len <= sizeof it->payload ? d->frm_payload.len : 0;
    memcpy(it->payload, d->frm_payload.data, it->len);
    it->has_payload = true;
    it->confirmed = d->confirmed;
    it->priority = (int)d->priority;
    it->corr = json_array();
    for (size_t i = 0; i < d->n_correlation_ids && i < 16; i++)
        json_array_append_new(it->corr, json_string(d->correlation_ids[i]));
    if (d->confirmed_retry != NULL) {
        it->has_retry = true;
        it->attempt = d->confirmed_retry->attempt;
        it->max_attempts = d->confirmed_retry->max_attempts;
    }
}

void as_downlink_retry(as_t *as, const char *tenant, const char *app, const char *dev,
                       const Lw__Msg__ApplicationDownlink *dl)
{
    if (!dl->confirmed)
        return;
    uint32_t attempt = dl->confirmed_retry != NULL ? dl->confirmed_retry->attempt : 0;
    uint32_t max = dl->confirmed_retry != NULL && dl->confirmed_retry->max_attempts > 0
                       ? dl->confirmed_retry->max_attempts
                       : as->retry_default;
    if (max > as->retry_max)
        max = as->retry_max;
    if (attempt + 1 >= max)
        return; /* its attempts are used up: the nack was the last word */
    down_op_t *op = op_new(as, tenant, app, dev, AS_DOWN_PUSH, "retry", NULL, NULL);
    item_from(&op->items[0], dl);
    op->items[0].has_retry = true;
    op->items[0].attempt = attempt + 1;
    op->items[0].max_attempts = max;
    op->n = 1;
    counters_take(op);
}

void as_downlink_requeue(as_t *as, const char *tenant, const char *app, const char *dev,
                         const Lw__Msg__ApplicationInvalidatedDownlinks *inv)
{
    down_op_t *op = op_new(as, tenant, app, dev, AS_DOWN_PUSH, "requeue", NULL, NULL);
    for (size_t i = 0; i < inv->n_downlinks && op->n < AS_DOWNLINKS_MAX; i++)
        item_from(&op->items[op->n++], inv->downlinks[i]);
    op->set_counter = true;
    op->has_counter = true;
    op->counter = inv->last_f_cnt_down;
    counters_take(op);
}

void as_downlink_request(as_t *as, const as_down_req_t *req, as_down_cb cb, void *arg)
{
    down_op_t *op =
        op_new(as, req->tenant_id, req->app_id, req->dev_id, req->op, req->origin, cb, arg);
    lw_err_t e;
    lw_err_clear(&e);
    if (req->op == AS_DOWN_LIST) {
        Lw__Msg__ApplicationDownlink **none = NULL;
        if (publish_as_down(as, op->tenant, op->app, op->dev,
                            LW__MSG__DOWNLINK_QUEUE_OPERATION__LIST, none, 0, op->list_id,
                            &e) != 0) {
            op_fail(op, &e);
            return;
        }
        op->list_next = lists;
        lists = op;
        uv_timer_start(&op->timer, list_timeout, as->list_timeout_ms, 0);
        return;
    }
    as_event(as, op->tenant, op->app, op->dev, "as.down.data.receive", NULL, NULL);
    const json_t *dls = json_object_get(req->body, "downlinks");
    if (!json_is_object(req->body) || (dls != NULL && !json_is_array(dls))) {
        lw_api_invalid(&e, "downlinks", "an array expected");
        op_fail(op, &e);
        return;
    }
    if (json_array_size(dls) > AS_DOWNLINKS_MAX) {
        lw_api_invalid(&e, "downlinks", "at most 16 items");
        op_fail(op, &e);
        return;
    }
    for (size_t i = 0; i < json_array_size(dls); i++) {
        op->n = i + 1;
        if (item_parse(json_array_get(dls, i), i, &op->items[i], &e) != 0) {
            op_fail(op, &e);
            return;
        }
    }
    if (as_store_load(as, op->tenant, op->app, op->dev, row_loaded, op) != 0) {
        lw_err_set(&e, &lw_err_db_unavailable, "the device cannot be read");
        op_fail(op, &e);
    }
}
