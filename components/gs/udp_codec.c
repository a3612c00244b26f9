/* Semtech UDP codec: see udp_codec_private.h. JSON is tokenised by jsmn (strict mode) into a
 * token array on the stack; values are read from the token text in place; numbers go through
 * strtod/strtoll on a small local copy; base64 through OpenSSL's EVP_Decode/EncodeBlock. */
#include "udp_codec_private.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "json_tok_private.h"

/* A string without escapes, copied NUL-terminated into out[cap]. */
static bool tok_str(const gs_json_t *j, int i, char *out, size_t cap)
{
    const jsmntok_t *t = &j->t[i];
    size_t len = (size_t)(t->end - t->start);
    const char *s = j->js + t->start;
    if (t->type != JSMN_STRING || len >= cap || memchr(s, '\\', len) != NULL)
        return false;
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

static bool tok_eq(const gs_json_t *j, int i, const char *lit)
{
    return gs_json_key_is(j, i, lit);
}

/* "SF7BW125" */
static bool parse_lora_datr(const char *s, uint8_t *sf, uint16_t *bw)
{
    char *end = NULL;
    if (s[0] != 'S' || s[1] != 'F' || s[2] < '0' || s[2] > '9')
        return false;
    long v = strtol(s + 2, &end, 10);
    if (v < 5 || v > 12 || end[0] != 'B' || end[1] != 'W' || end[2] < '0' || end[2] > '9')
        return false;
    const char *b = end + 2;
    long w = strtol(b, &end, 10);
    if (*end != '\0' || end - b > 3 ||
        (w != 125 && w != 250 && w != 500 && w != 62 && w != 31 && w != 41 && w != 20 && w != 15 &&
         w != 10 && w != 7))
        return false;
    *sf = (uint8_t)v;
    *bw = (uint16_t)w;
    return true;
}

/* Base64 text of a string token into out (cap >= 258); true length from the '=' count. */
static bool decode_b64(const gs_json_t *j, int i, uint8_t *out, size_t *out_len)
{
    const jsmntok_t *t = &j->t[i];
    size_t len = (size_t)(t->end - t->start);
    const char *s = j->js + t->start;
    if (t->type != JSMN_STRING || len % 4 != 0 || len > 4 * ((GS_UDP_PHY_MAX + 2) / 3))
        return false;
    if (len == 0) {
        *out_len = 0;
        return true;
    }
    size_t pad = (s[len - 1] == '=') + (s[len - 2] == '=');
    for (size_t k = 0; k < len - pad; k++)
        if (s[k] == '=')
            return false;
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (n < 0 || (size_t)n != len / 4 * 3)
        return false;
    *out_len = (size_t)n - pad;
    return true;
}

#define FIELD_ERR(name)                                                                            \
    do {                                                                                           \
        out->field = (name);                                                                       \
        return GS_UDP_E_FIELD;                                                                     \
    } while (0)

static int parse_rxpk(const gs_json_t *j, int i, gs_udp_rxpk_t *r, gs_udp_packet_t *out)
{
    if (i >= j->n)
        return GS_UDP_E_JSON;
    if (j->t[i].type != JSMN_OBJECT) {
        out->field = "rxpk";
        return GS_UDP_E_FIELD;
    }
    memset(r, 0, sizeof(*r));
    int pairs = j->t[i].size;
    bool has_tmst = false, has_freq = false, has_stat = false, has_modu = false, has_datr = false,
         has_rssi = false, has_size = false, has_data = false;
    int datr_tok = -1;
    i++;
    for (int p = 0; p < pairs; p++) {
        int k = i, v = i + 1;
        if (v >= j->n || j->t[k].type != JSMN_STRING)
            return GS_UDP_E_JSON;
        long long n = 0;
        double d = 0;
        if (gs_json_key_is(j, k, "time")) {
            if (!tok_str(j, v, r->time, sizeof(r->time)))
                FIELD_ERR("time");
            r->has_time = true;
        } else if (gs_json_key_is(j, k, "tmms")) {
            if (!gs_json_int(j, v, 0, INT64_MAX, &n))
                FIELD_ERR("tmms");
            r->has_tmms = true;
            r->tmms = (uint64_t)n;
        } else if (gs_json_key_is(j, k, "tmst")) {
            if (!gs_json_int(j, v, 0, UINT32_MAX, &n))
                FIELD_ERR("tmst");
            r->tmst = (uint32_t)n;
            has_tmst = true;
        } else if (gs_json_key_is(j, k, "chan")) {
            if (!gs_json_int(j, v, 0, 255, &n))
                FIELD_ERR("chan");
            r->chan = (uint8_t)n;
        } else if (gs_json_key_is(j, k, "rfch")) {
            if (!gs_json_int(j, v, 0, 1, &n))
                FIELD_ERR("rfch");
            r->rfch = (uint8_t)n;
        } else if (gs_json_key_is(j, k, "freq")) {
            if (!gs_json_double(j, v, &d) || d < 100.0 || d > 1000.0)
                FIELD_ERR("freq");
            r->freq_mhz = d;
            has_freq = true;
        } else if (gs_json_key_is(j, k, "stat")) {
            if (!gs_json_int(j, v, -1, 1, &n))
                FIELD_ERR("stat");
            r->stat = (int)n;
            has_stat = true;
        } else if (gs_json_key_is(j, k, "modu")) {
            if (tok_eq(j, v, "LORA"))
                r->modu = GS_UDP_MODU_LORA;
            else if (tok_eq(j, v, "FSK"))
                r->modu = GS_UDP_MODU_FSK;
            else
                FIELD_ERR("modu");
            has_modu = true;
        } else if (gs_json_key_is(j, k, "datr")) {
            datr_tok = v;
            has_datr = true;
        } else if (gs_json_key_is(j, k, "codr")) {
            if (!tok_str(j, v, r->codr, sizeof(r->codr)))
                FIELD_ERR("codr");
        } else if (gs_json_key_is(j, k, "rssi")) {
            if (!gs_json_double(j, v, &d) || d < -200.0 || d > 50.0)
                FIELD_ERR("rssi");
            r->rssi = d;
            has_rssi = true;
        } else if (gs_json_key_is(j, k, "lsnr")) {
            if (!gs_json_double(j, v, &d) || d < -50.0 || d > 50.0)
                FIELD_ERR("lsnr");
            r->lsnr = d;
            r->has_lsnr = true;
        } else if (gs_json_key_is(j, k, "size")) {
            if (!gs_json_int(j, v, 0, GS_UDP_PHY_MAX, &n))
                FIELD_ERR("size");
            r->size = (uint16_t)n;
            has_size = true;
        } else if (gs_json_key_is(j, k, "data")) {
            if (!decode_b64(j, v, r->data, &r->data_len))
                FIELD_ERR("data");
            has_data = true;
        }
        i = gs_json_skip(j, v);
    }
    out->field = !has_tmst   ? "tmst"
                 : !has_freq ? "freq"
                 : !has_stat ? "stat"
                 : !has_modu ? "modu"
                 : !has_datr ? "datr"
                 : !has_rssi ? "rssi"
                 : !has_size ? "size"
                 : !has_data ? "data"
                             : NULL;
    if (out->field != NULL)
        return GS_UDP_E_MISSING;
    if (r->modu == GS_UDP_MODU_LORA) {
        char datr[16];
        if (!tok_str(j, datr_tok, datr, sizeof(datr)) || !parse_lora_datr(datr, &r->sf, &r->bw_khz))
            FIELD_ERR("datr");
    } else {
        long long n = 0;
        if (!gs_json_int(j, datr_tok, 500, 300000, &n))
            FIELD_ERR("datr");
        r->fsk_bitrate = (uint32_t)n;
    }
    if (r->size != r->data_len)
        FIELD_ERR("size");
    out->field = NULL;
    return i;
}

static int parse_stat(const gs_json_t *j, int i, gs_udp_stat_t *s, gs_udp_packet_t *out)
{
    if (j->t[i].type != JSMN_OBJECT)
        FIELD_ERR("stat");
    memset(s, 0, sizeof(*s));
    int pairs = j->t[i].size;
    bool has_lati = false, has_long = false;
    i++;
    static const char *const counters[] = {"rxnb", "rxok", "rxfw", "dwnb", "txnb"};
    uint32_t *const slots[] = {&s->rxnb, &s->rxok, &s->rxfw, &s->dwnb, &s->txnb};
    for (int p = 0; p < pairs; p++) {
        int k = i, v = i + 1;
        if (v >= j->n || j->t[k].type != JSMN_STRING)
            return GS_UDP_E_JSON;
        long long n = 0;
        double d = 0;
        if (gs_json_key_is(j, k, "time")) {
            if (!tok_str(j, v, s->time, sizeof(s->time)))
                FIELD_ERR("time");
            s->has_time = true;
        } else if (gs_json_key_is(j, k, "lati")) {
            if (!gs_json_double(j, v, &d) || d < -90.0 || d > 90.0)
                FIELD_ERR("lati");
            s->lati = d;
            has_lati = true;
        } else if (gs_json_key_is(j, k, "long")) {
            if (!gs_json_double(j, v, &d) || d < -180.0 || d > 180.0)
                FIELD_ERR("long");
            s->lon = d;
            has_long = true;
        } else if (gs_json_key_is(j, k, "alti")) {
            if (!gs_json_double(j, v, &d) || d < -10000.0 || d > 100000.0)
                FIELD_ERR("alti");
            s->alti = (int32_t)lround(d);
            s->has_alti = true;
        } else if (gs_json_key_is(j, k, "ackr")) {
            if (!gs_json_double(j, v, &d) || d < 0.0 || d > 100.0)
                FIELD_ERR("ackr");
            s->ackr = d;
            s->has_ackr = true;
        } else {
            for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
                if (gs_json_key_is(j, k, counters[c])) {
                    if (!gs_json_int(j, v, 0, UINT32_MAX, &n))
                        FIELD_ERR(counters[c]);
                    *slots[c] = (uint32_t)n;
                }
            }
        }
        i = gs_json_skip(j, v);
    }
    if (has_lati != has_long)
        FIELD_ERR(has_lati ? "long" : "lati");
    s->has_location = has_lati && has_long;
    return i;
}

static const char *const txack_names[] = {
    [GS_UDP_TXACK_NONE] = "NONE",
    [GS_UDP_TXACK_TOO_LATE] = "TOO_LATE",
    [GS_UDP_TXACK_TOO_EARLY] = "TOO_EARLY",
    [GS_UDP_TXACK_COLLISION_PACKET] = "COLLISION_PACKET",
    [GS_UDP_TXACK_COLLISION_BEACON] = "COLLISION_BEACON",
    [GS_UDP_TXACK_TX_FREQ] = "TX_FREQ",
    [GS_UDP_TXACK_TX_POWER] = "TX_POWER",
    [GS_UDP_TXACK_GPS_UNLOCKED] = "GPS_UNLOCKED",
};

const char *gs_udp_txack_name(gs_udp_txack_code_t code)
{
    if ((size_t)code >= sizeof(txack_names) / sizeof(txack_names[0]))
        return "?";
    return txack_names[code];
}

static bool txack_code(const gs_json_t *j, int i, gs_udp_txack_code_t *out)
{
    for (size_t c = 0; c < sizeof(txack_names) / sizeof(txack_names[0]); c++) {
        if (tok_eq(j, i, txack_names[c])) {
            *out = (gs_udp_txack_code_t)c;
            return true;
        }
    }
    return false;
}

static int parse_txpk_ack(const gs_json_t *j, int i, gs_udp_txack_t *a, gs_udp_packet_t *out)
{
    if (j->t[i].type != JSMN_OBJECT)
        FIELD_ERR("txpk_ack");
    memset(a, 0, sizeof(*a));
    int pairs = j->t[i].size;
    i++;
    for (int p = 0; p < pairs; p++) {
        int k = i, v = i + 1;
        if (v >= j->n || j->t[k].type != JSMN_STRING)
            return GS_UDP_E_JSON;
        long long n = 0;
        if (gs_json_key_is(j, k, "error")) {
            if (!txack_code(j, v, &a->error))
                FIELD_ERR("error");
            a->has_error = true;
        } else if (gs_json_key_is(j, k, "warn")) {
            if (!txack_code(j, v, &a->warn))
                FIELD_ERR("warn");
            a->has_warn = true;
        } else if (gs_json_key_is(j, k, "value")) {
            if (!gs_json_int(j, v, INT32_MIN, INT32_MAX, &n))
                FIELD_ERR("value");
            a->value = (int32_t)n;
            a->has_value = true;
        }
        i = gs_json_skip(j, v);
    }
    return i;
}

static int parse_json(const uint8_t *buf, size_t len, gs_udp_packet_t *out)
{
    if (len > GS_UDP_JSON_MAX)
        return GS_UDP_E_JSON_LARGE;
    jsmntok_t toks[GS_UDP_TOKENS_MAX];
    jsmn_parser parser;
    jsmn_init(&parser);
    int n = jsmn_parse(&parser, (const char *)buf, len, toks, GS_UDP_TOKENS_MAX);
    if (n == JSMN_ERROR_NOMEM)
        return GS_UDP_E_JSON_LARGE;
    if (n < 1 || toks[0].type != JSMN_OBJECT)
        return GS_UDP_E_JSON;
    /* Nothing but whitespace may follow the object (jsmn stops at its end only in
     * strict mode when the input ends; a second value would be a second token tree). */
    if (gs_json_skip(&(gs_json_t){(const char *)buf, toks, n}, 0) != n)
        return GS_UDP_E_JSON;
    for (size_t k = (size_t)toks[0].end; k < len; k++)
        if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r' && buf[k] != '\n' && buf[k] != 0)
            return GS_UDP_E_JSON;
    if (out->ident == GS_UDP_PULL_RESP)
        return GS_UDP_OK;
    gs_json_t j = {(const char *)buf, toks, n};
    int pairs = toks[0].size, i = 1;
    for (int p = 0; p < pairs; p++) {
        int k = i, v = i + 1;
        if (v >= n || toks[k].type != JSMN_STRING)
            return GS_UDP_E_JSON;
        if (out->ident == GS_UDP_PUSH_DATA && gs_json_key_is(&j, k, "rxpk")) {
            if (toks[v].type != JSMN_ARRAY) {
                out->field = "rxpk";
                return GS_UDP_E_FIELD;
            }
            if (toks[v].size > GS_UDP_RXPK_MAX)
                return GS_UDP_E_TOO_MANY_RXPK;
            int e = v + 1;
            out->n_rxpk = 0;
            for (int r = 0; r < toks[v].size; r++) {
                out->field_index = (size_t)r;
                e = parse_rxpk(&j, e, &out->rxpk[r], out);
                if (e < 0)
                    return e;
                out->n_rxpk = (size_t)r + 1;
            }
            out->field_index = 0;
        } else if (out->ident == GS_UDP_PUSH_DATA && gs_json_key_is(&j, k, "stat")) {
            int e = parse_stat(&j, v, &out->stat, out);
            if (e < 0)
                return e;
            out->has_stat = true;
        } else if (out->ident == GS_UDP_TX_ACK && gs_json_key_is(&j, k, "txpk_ack")) {
            int e = parse_txpk_ack(&j, v, &out->txpk_ack, out);
            if (e < 0)
                return e;
            out->has_txpk_ack = true;
        }
        i = gs_json_skip(&j, v);
    }
    return GS_UDP_OK;
}

int gs_udp_decode(const uint8_t *buf, size_t len, gs_udp_packet_t *out)
{
    out->version = 0;
    out->token = 0;
    out->ident = 0;
    out->has_eui = false;
    out->eui = 0;
    out->json = NULL;
    out->json_len = 0;
    out->n_rxpk = 0;
    out->has_stat = false;
    out->has_txpk_ack = false;
    out->field = NULL;
    out->field_index = 0;
    if (len < GS_UDP_HEADER_LEN)
        return GS_UDP_E_SHORT;
    if (buf[0] != 1 && buf[0] != 2)
        return GS_UDP_E_VERSION;
    out->version = buf[0];
    out->token = (uint16_t)((buf[1] << 8) | buf[2]);
    out->ident = buf[3];
    size_t off = GS_UDP_HEADER_LEN;
    switch (buf[3]) {
    case GS_UDP_PUSH_DATA:
    case GS_UDP_PULL_DATA:
    case GS_UDP_TX_ACK:
        if (len < GS_UDP_HEADER_EUI_LEN)
            return GS_UDP_E_NO_EUI;
        for (int k = 0; k < 8; k++)
            out->eui = (out->eui << 8) | buf[4 + k];
        out->has_eui = true;
        off = GS_UDP_HEADER_EUI_LEN;
        break;
    case GS_UDP_PUSH_ACK:
    case GS_UDP_PULL_ACK:
    case GS_UDP_PULL_RESP:
        break;
    default:
        return GS_UDP_E_IDENT;
    }
    const uint8_t *json = buf + off;
    size_t json_len = len - off;
    switch (out->ident) {
    case GS_UDP_PUSH_ACK:
    case GS_UDP_PULL_ACK:
    case GS_UDP_PULL_DATA:
        return GS_UDP_OK; /* anything after the header is ignored, as the forwarder does */
    case GS_UDP_TX_ACK:
        /* v1 and v2 forwarders without an error send no JSON, or only NUL padding. */
        while (json_len > 0 &&
               (json[json_len - 1] == 0 || json[json_len - 1] == ' ' || json[json_len - 1] == '\n'))
            json_len--;
        if (json_len == 0)
            return GS_UDP_OK;
        break;
    default: /* PUSH_DATA, PULL_RESP: JSON required */
        break;
    }
    out->json = json;
    out->json_len = json_len;
    return parse_json(json, json_len, out);
}

int gs_udp_encode_ack(uint8_t version, uint16_t token, uint8_t ident, uint8_t *buf, size_t cap,
                      size_t *out_len)
{
    if ((version != 1 && version != 2) || (ident != GS_UDP_PUSH_ACK && ident != GS_UDP_PULL_ACK))
        return GS_UDP_E_ARG;
    if (cap < GS_UDP_HEADER_LEN)
        return GS_UDP_E_BUF;
    buf[0] = version;
    buf[1] = (uint8_t)(token >> 8);
    buf[2] = (uint8_t)token;
    buf[3] = ident;
    *out_len = GS_UDP_HEADER_LEN;
    return GS_UDP_OK;
}

typedef struct {
    char *p;
    size_t cap, len;
    bool over;
} sbuf_t;

static void put(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf_t *b, const char *fmt, ...)
{
    if (b->over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->over = true;
        return;
    }
    b->len += (size_t)n;
}

int gs_udp_encode_pull_resp(uint8_t version, uint16_t token, const gs_udp_txpk_t *t, uint8_t *buf,
                            size_t cap, size_t *out_len)
{
    if (version != 1 && version != 2)
        return GS_UDP_E_ARG;
    if (!t->imme && !t->has_tmst && !t->has_tmms)
        return GS_UDP_E_ARG;
    if (!(t->freq_mhz >= 100.0 && t->freq_mhz <= 1000.0) || t->rfch > 1 ||
        t->data_len > GS_UDP_PHY_MAX || (t->data_len > 0 && t->data == NULL))
        return GS_UDP_E_ARG;
    if (t->modu == GS_UDP_MODU_LORA) {
        if (t->sf < 5 || t->sf > 12 || t->bw_khz == 0 || t->bw_khz > 500)
            return GS_UDP_E_ARG;
        if (t->codr != NULL && (strlen(t->codr) > 7 || strpbrk(t->codr, "\"\\") != NULL))
            return GS_UDP_E_ARG;
    } else if (t->modu == GS_UDP_MODU_FSK) {
        if (t->fsk_bitrate < 500 || t->fsk_bitrate > 300000)
            return GS_UDP_E_ARG;
    } else {
        return GS_UDP_E_ARG;
    }
    if (cap < GS_UDP_HEADER_LEN + 1)
        return GS_UDP_E_BUF;
    buf[0] = version;
    buf[1] = (uint8_t)(token >> 8);
    buf[2] = (uint8_t)token;
    buf[3] = GS_UDP_PULL_RESP;
    /* The JSON is written after the header; vsnprintf needs room for its NUL, which is not
     * part of the datagram. */
    sbuf_t b = {(char *)buf + GS_UDP_HEADER_LEN, cap - GS_UDP_HEADER_LEN, 0, false};
    put(&b, "{\"txpk\":{");
    if (t->imme)
        put(&b, "\"imme\":true");
    else if (t->has_tmst)
        put(&b, "\"imme\":false,\"tmst\":%lu", (unsigned long)t->tmst);
    else
        put(&b, "\"imme\":false");
    if (!t->imme && t->has_tmms)
        put(&b, ",\"tmms\":%llu", (unsigned long long)t->tmms);
    put(&b, ",\"freq\":%.6f,\"rfch\":%u,\"powe\":%d", t->freq_mhz, (unsigned)t->rfch, (int)t->powe);
    if (t->modu == GS_UDP_MODU_LORA)
        put(&b, ",\"modu\":\"LORA\",\"datr\":\"SF%uBW%u\",\"codr\":\"%s\",\"ipol\":%s",
            (unsigned)t->sf, (unsigned)t->bw_khz, t->codr != NULL ? t->codr : "4/5",
            t->ipol ? "true" : "false");
    else
        put(&b, ",\"modu\":\"FSK\",\"datr\":%lu,\"fdev\":%lu", (unsigned long)t->fsk_bitrate,
            (unsigned long)t->fdev);
    if (t->has_prea)
        put(&b, ",\"prea\":%u", (unsigned)t->prea);
    put(&b, ",\"size\":%u", (unsigned)t->data_len);
    if (t->ncrc)
        put(&b, ",\"ncrc\":true");
    char b64[4 * ((GS_UDP_PHY_MAX + 2) / 3) + 1];
    int n = t->data_len > 0 ? EVP_EncodeBlock((unsigned char *)b64, t->data, (int)t->data_len) : 0;
    b64[n] = '\0';
    put(&b, ",\"data\":\"%s\"}}", b64);
    if (b.over)
        return GS_UDP_E_BUF;
    *out_len = GS_UDP_HEADER_LEN + b.len;
    return GS_UDP_OK;
}

const char *gs_udp_strerror(int err)
{
    switch (err) {
    case GS_UDP_OK:
        return "ok";
    case GS_UDP_E_SHORT:
        return "short";
    case GS_UDP_E_VERSION:
        return "bad_version";
    case GS_UDP_E_IDENT:
        return "unknown_identifier";
    case GS_UDP_E_NO_EUI:
        return "missing_eui";
    case GS_UDP_E_JSON_LARGE:
        return "json_too_large";
    case GS_UDP_E_JSON:
        return "bad_json";
    case GS_UDP_E_TOO_MANY_RXPK:
        return "too_many_rxpk";
    case GS_UDP_E_FIELD:
        return "bad_field";
    case GS_UDP_E_MISSING:
        return "missing_field";
    case GS_UDP_E_BUF:
        return "buffer_too_small";
    case GS_UDP_E_ARG:
        return "bad_argument";
    default:
        return "unknown";
    }
}
