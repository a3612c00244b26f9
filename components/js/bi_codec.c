/* LoRaWAN Backend Interfaces 1.0/1.1 JSON (TS002 §10 and §17; field names and encodings
 * as The Things Stack's pkg/interop): requests decoded into structs, every field checked,
 * answers built. Hex fields ("Buffer", EUIs, NetID, DevAddr) may carry a 0x prefix and
 * either case; answers are uppercase hex. Also who may call: the Bearer token of the
 * Authorization header against the sender's configured one (js.bi.tokens.<sender>). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "js/js_private.h"

void js_hex_upper(const uint8_t *buf, size_t len, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[buf[i] >> 4];
        out[2 * i + 1] = digits[buf[i] & 0xf];
    }
    out[2 * len] = '\0';
}

const char *js_bi_malformed(bool v11)
{
    return v11 ? "MalformedMessage" : "MalformedRequest";
}

static int refuse(js_bi_refusal_t *why, bool header_ok, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(js_bi_refusal_t *why, bool header_ok, const char *code, const char *fmt, ...)
{
    why->header_ok = header_ok;
    why->result_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->description, sizeof why->description, fmt, ap);
    va_end(ap);
    return -1;
}

/* Hex text (optional 0x) into out: exactly `want` bytes when want > 0, else 0..cap. */
static int hex_field(const char *s, uint8_t *out, size_t cap, size_t want, size_t *got)
{
    if (s == NULL)
        return -1;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > cap || (want > 0 && n / 2 != want))
        return -1;
    size_t len = 0;
    if (n > 0 && lorawan_hex_decode(s, n, out, cap, &len) != 0)
        return -1;
    if (got != NULL)
        *got = len;
    return 0;
}

static int be_uint(const char *s, size_t bytes, uint64_t *out)
{
    uint8_t b[8];
    if (hex_field(s, b, sizeof b, bytes, NULL) != 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v = v << 8 | b[i];
    *out = v;
    return 0;
}

static const char *str_of(const json_t *body, const char *key)
{
    return json_string_value(json_object_get(body, key));
}

static int header_decode(const json_t *body, js_bi_header_t *h, js_bi_refusal_t *why)
{
    const char *mt = str_of(body, "MessageType");
    if (mt == NULL)
        return refuse(why, false, "MalformedRequest", "missing `%s`", "MessageType");
    if (strcmp(mt, "JoinReq") == 0) {
        h->type = JS_BI_JOIN_REQ;
    } else if (strcmp(mt, "AppSKeyReq") == 0) {
        h->type = JS_BI_APP_S_KEY_REQ;
    } else if (strcmp(mt, "HomeNSReq") == 0) {
        h->type = JS_BI_HOME_NS_REQ;
    } else {
        /* Only a request type this JS answers can have an answer header. */
        return refuse(why, false, "MalformedRequest",
                      "`%s` must be JoinReq, AppSKeyReq or HomeNSReq", "MessageType");
    }
    const char *pv = str_of(body, "ProtocolVersion");
    if (pv != NULL && strcmp(pv, "1.1") == 0)
        h->v11 = true;
    else if (pv == NULL || strcmp(pv, "1.0") != 0)
        return refuse(why, false, "InvalidProtocolVersion", "`%s` must be \"1.0\" or \"1.1\"",
                      "ProtocolVersion");
    const json_t *tid = json_object_get(body, "TransactionID");
    if (tid != NULL) {
        if (!json_is_integer(tid) || json_integer_value(tid) < 0 ||
            json_integer_value(tid) > 0xffffffffLL)
            return refuse(why, false, js_bi_malformed(h->v11),
                          "`%s` must be an integer 0..4294967295", "TransactionID");
        h->transaction_id = (uint32_t)json_integer_value(tid);
    }
    const char *sid = str_of(body, "SenderID"), *rid = str_of(body, "ReceiverID");
    if (sid == NULL || strlen(sid) > JS_BI_ID_MAX)
        return refuse(why, false, js_bi_malformed(h->v11), "missing or too long `%s`", "SenderID");
    if (rid == NULL || strlen(rid) > JS_BI_ID_MAX)
        return refuse(why, false, js_bi_malformed(h->v11), "missing or too long `%s`",
                      "ReceiverID");
    snprintf(h->sender_id, sizeof h->sender_id, "%s", sid);
    snprintf(h->receiver_id, sizeof h->receiver_id, "%s", rid);
    /* From here on the answer can carry a header. */
    const json_t *ns = json_object_get(body, "SenderNSID");
    if (ns != NULL && !json_is_null(ns)) {
        if (be_uint(json_string_value(ns), 8, &h->sender_nsid) != 0)
            return refuse(why, true, js_bi_malformed(h->v11), "`%s` must be an EUI-64",
                          "SenderNSID");
        h->has_sender_nsid = true;
    }
    const char *st = str_of(body, "SenderToken"), *rt = str_of(body, "ReceiverToken");
    if (st != NULL) {
        if (hex_field(st, h->sender_token, sizeof h->sender_token, 0, &h->sender_token_len) != 0)
            return refuse(why, true, js_bi_malformed(h->v11),
                          "`%s` must be hex of at most 64 bytes", "SenderToken");
        h->has_sender_token = h->sender_token_len > 0;
    }
    if (rt != NULL) {
        if (hex_field(rt, h->receiver_token, sizeof h->receiver_token, 0, &h->receiver_token_len) !=
            0)
            return refuse(why, true, js_bi_malformed(h->v11),
                          "`%s` must be hex of at most 64 bytes", "ReceiverToken");
        h->has_receiver_token = h->receiver_token_len > 0;
    }
    return 0;
}

static int join_req_decode(const json_t *body, js_bi_request_t *out, js_bi_refusal_t *why)
{
    const char *bad = js_bi_malformed(out->h.v11);
    uint64_t v;
    if (be_uint(out->h.sender_id, 3, &v) != 0)
        return refuse(why, true, bad, "`%s` must be a NetID (3 bytes hex)", "SenderID");
    out->net_id = (uint32_t)v;
    if (be_uint(out->h.receiver_id, 8, &out->join_eui) != 0)
        return refuse(why, true, bad, "`%s` must be a JoinEUI (8 bytes hex)", "ReceiverID");
    if (js_mac_version_parse(str_of(body, "MACVersion"), &out->mac_version) != 0)
        return refuse(why, true, bad, "`%s` must be 1.0, 1.0.1, 1.0.2, 1.0.3, 1.0.4 or 1.1",
                      "MACVersion");
    if (hex_field(str_of(body, "PHYPayload"), out->phy, sizeof out->phy, 0, &out->phy_len) != 0)
        return refuse(why, true, bad, "`%s` must be hex of at most 255 bytes", "PHYPayload");
    if (be_uint(str_of(body, "DevEUI"), 8, &out->dev_eui) != 0)
        return refuse(why, true, bad, "`%s` must be an EUI-64", "DevEUI");
    if (be_uint(str_of(body, "DevAddr"), 4, &v) != 0)
        return refuse(why, true, bad, "`%s` must be 4 bytes hex", "DevAddr");
    out->dev_addr = (uint32_t)v;
    if (hex_field(str_of(body, "DLSettings"), &out->dl_settings, 1, 1, NULL) != 0)
        return refuse(why, true, bad, "`%s` must be 1 byte hex", "DLSettings");
    const json_t *rx = json_object_get(body, "RxDelay");
    /* TTS sends a JSON number; an integral real (5.0) is the same value. */
    double d = json_is_integer(rx) ? (double)json_integer_value(rx)
               : json_is_real(rx)  ? json_real_value(rx)
                                   : -1;
    if (d < 0 || d > 15 || d != (double)(int)d)
        return refuse(why, true, bad, "`%s` must be an integer 0..15", "RxDelay");
    out->rx_delay = (uint8_t)d;
    const char *cf = str_of(body, "CFList");
    if (cf != NULL && cf[0] != '\0') {
        if (hex_field(cf, out->cflist, sizeof out->cflist, LORAWAN_CFLIST_LEN, NULL) != 0)
            return refuse(why, true, bad, "`%s` must be 16 bytes hex", "CFList");
        out->has_cflist = true;
    }
    lorawan_join_request_t jr;
    if (js_join_request_peek(out->phy, out->phy_len, &jr) != 0)
        return refuse(why, true, bad, "`%s` is not a join-request", "PHYPayload");
    if (jr.dev_eui != out->dev_eui)
        return refuse(why, true, bad, "`%s` does not match the join-request's DevEUI", "DevEUI");
    out->join_eui = jr.join_eui;
    return 0;
}

static int app_s_key_req_decode(const json_t *body, js_bi_request_t *out, js_bi_refusal_t *why)
{
    const char *bad = js_bi_malformed(out->h.v11);
    if (be_uint(out->h.receiver_id, 8, &out->join_eui) != 0)
        return refuse(why, true, bad, "`%s` must be a JoinEUI (8 bytes hex)", "ReceiverID");
    if (be_uint(str_of(body, "DevEUI"), 8, &out->dev_eui) != 0)
        return refuse(why, true, bad, "`%s` must be an EUI-64", "DevEUI");
    if (hex_field(str_of(body, "SessionKeyID"), out->session_key_id, sizeof out->session_key_id, 0,
                  &out->session_key_id_len) != 0 ||
        out->session_key_id_len == 0)
        return refuse(why, true, bad, "`%s` must be hex of 1 to 64 bytes", "SessionKeyID");
    return 0;
}

static int home_ns_req_decode(const json_t *body, js_bi_request_t *out, js_bi_refusal_t *why)
{
    const char *bad = js_bi_malformed(out->h.v11);
    uint64_t v;
    if (be_uint(out->h.sender_id, 3, &v) != 0)
        return refuse(why, true, bad, "`%s` must be a NetID (3 bytes hex)", "SenderID");
    out->net_id = (uint32_t)v;
    if (be_uint(out->h.receiver_id, 8, &out->join_eui) != 0)
        return refuse(why, true, bad, "`%s` must be a JoinEUI (8 bytes hex)", "ReceiverID");
    if (be_uint(str_of(body, "DevEUI"), 8, &out->dev_eui) != 0)
        return refuse(why, true, bad, "`%s` must be an EUI-64", "DevEUI");
    return 0;
}

int js_bi_decode(const json_t *body, js_bi_request_t *out, js_bi_refusal_t *why)
{
    memset(out, 0, sizeof *out);
    memset(why, 0, sizeof *why);
    if (!json_is_object(body))
        return refuse(why, false, "MalformedRequest", "the body must be a JSON %s", "object");
    if (header_decode(body, &out->h, why) != 0)
        return -1;
    switch (out->h.type) {
    case JS_BI_JOIN_REQ:
        return join_req_decode(body, out, why);
    case JS_BI_HOME_NS_REQ:
        return home_ns_req_decode(body, out, why);
    default:
        return app_s_key_req_decode(body, out, why);
    }
}

/* An ID as the answer echoes it: hex IDs in uppercase, others as sent. */
static json_t *id_echo(const char *id, bool hex)
{
    char up[JS_BI_ID_MAX + 1];
    size_t i = 0;
    const char *s = id;
    if (hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    for (; s[i] != '\0' && i < JS_BI_ID_MAX; i++)
        up[i] = hex ? (char)toupper((unsigned char)s[i]) : s[i];
    up[i] = '\0';
    return json_string(up);
}

static void set_hex(json_t *o, const char *key, const uint8_t *buf, size_t len)
{
    char hex[2 * LORAWAN_PHY_MAX_LEN + 1];
    if (len > LORAWAN_PHY_MAX_LEN)
        return;
    js_hex_upper(buf, len, hex);
    json_object_set_new(o, key, json_string(hex));
}

json_t *js_bi_answer(const js_bi_request_t *req, const char *result_code, const char *description)
{
    const js_bi_header_t *h = &req->h;
    /* Answers to a network server name it by its NetID (hex); an AS keeps its AS-ID. */
    bool join = h->type != JS_BI_APP_S_KEY_REQ;
    static const char *const answers[] = {"JoinAns", "AppSKeyAns", "HomeNSAns"};
    json_t *o = json_object();
    json_object_set_new(o, "ProtocolVersion", json_string(h->v11 ? "1.1" : "1.0"));
    json_object_set_new(o, "TransactionID", json_integer(h->transaction_id));
    json_object_set_new(o, "MessageType", json_string(answers[h->type]));
    json_object_set_new(o, "SenderID", id_echo(h->receiver_id, true));
    json_object_set_new(o, "ReceiverID", id_echo(h->sender_id, join));
    if (h->has_sender_nsid) {
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(h->sender_nsid >> (56 - 8 * i));
        set_hex(o, "ReceiverNSID", b, 8);
    }
    if (h->has_receiver_token)
        set_hex(o, "SenderToken", h->receiver_token, h->receiver_token_len);
    if (h->has_sender_token)
        set_hex(o, "ReceiverToken", h->sender_token, h->sender_token_len);
    json_t *res = json_object();
    json_object_set_new(res, "ResultCode", json_string(result_code));
    if (description != NULL && description[0] != '\0')
        json_object_set_new(res, "Description", json_string(description));
    json_object_set_new(o, "Result", res);
    return o;
}

int js_bi_key_envelope(json_t *obj, const char *name, const char *label, const uint8_t *kek,
                       size_t kek_len, const uint8_t key[LORAWAN_KEY_LEN])
{
    uint8_t wrapped[JS_WRAPPED_KEY_LEN];
    char hex[2 * JS_WRAPPED_KEY_LEN + 1];
    bool clear = label == NULL || label[0] == '\0';
    if (clear)
        js_hex_upper(key, LORAWAN_KEY_LEN, hex);
    else if (js_key_wrap(kek, kek_len, key, wrapped) != 0)
        return -1;
    else
        js_hex_upper(wrapped, sizeof wrapped, hex);
    json_t *env = json_pack("{ss ss}", "KEKLabel", clear ? "" : label, "AESKey", hex);
    OPENSSL_cleanse(hex, sizeof hex);
    if (env == NULL)
        return -1;
    json_object_set_new(obj, name, env);
    return 0;
}

/* ---- who may call ------------------------------------------------------------------------ */

/* RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool b64token_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
           c == '/';
}

static bool b64token(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && b64token_char(s[i]))
        i++;
    if (i == 0)
        return false;
    while (i < len && s[i] == '=')
        i++;
    return i == len;
}

int js_bi_token_check(const char *token, char *why, size_t why_len)
{
    size_t len = token != NULL ? strlen(token) : 0;
    if (len == 0 || len > JS_BI_BEARER_MAX || !b64token(token, len)) {
        snprintf(why, why_len,
                 "must be 1 to %u characters of a Bearer token (letters, digits, -._~+/, "
                 "then =)",
                 JS_BI_BEARER_MAX);
        return -1;
    }
    return 0;
}

static void token_sha256(const char *token, size_t len, uint8_t out[JS_BI_SHA256_LEN])
{
    SHA256((const unsigned char *)token, len, out);
}

int js_bi_sender_init(js_bi_sender_t *out, const char *id, const char *token)
{
    char why[160];
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > JS_BI_ID_MAX || js_bi_token_check(token, why, sizeof why) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out->id[i] = (char)tolower((unsigned char)id[i]);
    token_sha256(token, strlen(token), out->token_sha256);
    return 0;
}

int js_bi_bearer_parse(const char *value, const char **token, size_t *len)
{
    static const char scheme[] = "bearer";
    const size_t slen = sizeof scheme - 1;
    if (value == NULL || strncasecmp(value, scheme, slen) != 0 || value[slen] != ' ')
        return -1;
    const char *t = value + slen;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
        n--;
    if (n == 0 || n > JS_BI_BEARER_MAX || !b64token(t, n))
        return -1;
    *token = t;
    *len = n;
    return 0;
}

void js_bi_sender_key(const js_bi_request_t *r, char key[JS_BI_ID_MAX + 1],
                      char shown[JS_BI_ID_MAX + 1])
{
    if (r->h.type == JS_BI_APP_S_KEY_REQ) {
        size_t i = 0;
        for (; r->h.sender_id[i] != '\0' && i < JS_BI_ID_MAX; i++)
            key[i] = (char)tolower((unsigned char)r->h.sender_id[i]);
        key[i] = '\0';
        snprintf(shown, JS_BI_ID_MAX + 1, "%s", r->h.sender_id);
        return;
    }
    snprintf(key, JS_BI_ID_MAX + 1, "%06x", (unsigned)(r->net_id & 0xffffffu));
    snprintf(shown, JS_BI_ID_MAX + 1, "%06X", (unsigned)(r->net_id & 0xffffffu));
}

int js_bi_authenticate(const js_bi_sender_t *senders, size_t n, bool allow_unauthenticated,
                       const js_bi_request_t *r, const char *authorization, char *why,
                       size_t why_len)
{
    char key[JS_BI_ID_MAX + 1], shown[JS_BI_ID_MAX + 1];
    js_bi_sender_key(r, key, shown);
    const js_bi_sender_t *s = NULL;
    for (size_t i = 0; i < n && s == NULL; i++)
        if (strcmp(senders[i].id, key) == 0)
            s = &senders[i];
    const char *token = NULL;
    size_t len = 0;
    bool bearer = js_bi_bearer_parse(authorization, &token, &len) == 0;
    if (bearer && s != NULL) {
        uint8_t digest[JS_BI_SHA256_LEN];
        token_sha256(token, len, digest);
        int diff = CRYPTO_memcmp(digest, s->token_sha256, sizeof digest);
        OPENSSL_cleanse(digest, sizeof digest);
        if (diff == 0)
            return JS_BI_AUTH_OK;
        snprintf(why, why_len, "wrong token for sender %s", shown);
        return JS_BI_AUTH_REFUSED;
    }
    if (allow_unauthenticated)
        return JS_BI_AUTH_ANONYMOUS;
    if (authorization == NULL)
        snprintf(why, why_len, "no Authorization");
    else if (!bearer)
        snprintf(why, why_len, "Authorization is not a Bearer token");
    else
        snprintf(why, why_len, "unknown sender %s", shown);
    return JS_BI_AUTH_REFUSED;
}
