/* The gateway side of the Semtech UDP packet forwarder protocol (PROTOCOL.TXT of
 * Lora-net/packet_forwarder, version 2): what a forwarder sends (PUSH_DATA with rxpk or stat,
 * PULL_DATA, TX_ACK) and reads (PUSH_ACK, PULL_ACK, PULL_RESP with txpk). Pure: the time
 * and tokens are arguments; base64 by OpenSSL, JSON read with jansson. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "sim_private.h"

static void udp_header(uint8_t *out, uint16_t token, uint8_t type, uint64_t gw_eui)
{
    out[0] = SIM_UDP_VERSION;
    out[1] = (uint8_t)(token & 0xffu);
    out[2] = (uint8_t)(token >> 8);
    out[3] = type;
    for (int i = 0; i < 8; i++) /* the gateway EUI, most significant byte first */
        out[4 + i] = (uint8_t)(gw_eui >> (56 - 8 * i));
}

/* "2026-12-01T11:00:00.123456Z" (ISO 8601 compact, UTC, µs) into out[32]. */
static void udp_time(int64_t unix_ns, char out[32])
{
    time_t s = (time_t)(unix_ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned us = (unsigned)((unix_ns % 1000000000) / 1000) % 1000000u;
    snprintf(out + n, 32 - n, ".%06uZ", us);
}

/* Appends to out[*pos..cap) with snprintf; LORAWAN_E_BUF when it does not fit. */
static int put(uint8_t *out, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(uint8_t *out, size_t cap, size_t *pos, const char *fmt, ...)
{
    if (*pos >= cap)
        return LORAWAN_E_BUF;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf((char *)out + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *pos)
        return LORAWAN_E_BUF;
    *pos += (size_t)n;
    return 0;
}

int sim_udp_push_data(uint16_t token, uint64_t gw_eui, const sim_rxpk_t *rx, uint8_t *out,
                      size_t cap, size_t *len)
{
    if (rx->phy == NULL || rx->len == 0 || rx->len > LORAWAN_PHY_MAX_LEN)
        return LORAWAN_E_PARAM;
    if (cap < SIM_UDP_HEADER_LEN)
        return LORAWAN_E_BUF;
    udp_header(out, token, SIM_UDP_PUSH_DATA, gw_eui);
    size_t pos = SIM_UDP_HEADER_LEN;
    char b64[4 * ((LORAWAN_PHY_MAX_LEN + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)b64, rx->phy, (int)rx->len);
    int rc = put(out, cap, &pos, "{\"rxpk\":[{\"tmst\":%" PRIu32, rx->tmst);
    if (rc == 0 && rx->time_unix_ns != 0) {
        char t[32];
        udp_time(rx->time_unix_ns, t);
        rc = put(out, cap, &pos, ",\"time\":\"%s\"", t);
    }
    if (rc == 0)
        rc = put(out, cap, &pos,
                 ",\"chan\":%u,\"rfch\":0,\"freq\":%" PRIu32 ".%06" PRIu32
                 ",\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF%uBW%u\",\"codr\":\"4/5\","
                 "\"rssi\":%d,\"lsnr\":%.1f,\"size\":%zu,\"data\":\"%s\"}]}",
                 rx->chan, rx->freq_hz / 1000000u, rx->freq_hz % 1000000u, rx->sf, rx->bw_khz,
                 rx->rssi, (double)rx->lsnr, rx->len, b64);
    if (rc != 0)
        return rc;
    *len = pos;
    return 0;
}

int sim_udp_push_stat(uint16_t token, uint64_t gw_eui, const sim_stat_t *st, uint8_t *out,
                      size_t cap, size_t *len)
{
    if (cap < SIM_UDP_HEADER_LEN)
        return LORAWAN_E_BUF;
    udp_header(out, token, SIM_UDP_PUSH_DATA, gw_eui);
    size_t pos = SIM_UDP_HEADER_LEN;
    /* The forwarder's own "time" format in stat: "2026-12-01 11:00:00 GMT". */
    time_t s = (time_t)(st->time_unix_ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[32];
    strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S GMT", &tm);
    int rc =
        put(out, cap, &pos,
            "{\"stat\":{\"time\":\"%s\",\"rxnb\":%" PRIu32 ",\"rxok\":%" PRIu32 ",\"rxfw\":%" PRIu32
            ",\"ackr\":%" PRIu32 ".0,\"dwnb\":%" PRIu32 ",\"txnb\":%" PRIu32 "}}",
            t, st->rxnb, st->rxok, st->rxfw, st->ackr_pct, st->dwnb, st->txnb);
    if (rc != 0)
        return rc;
    *len = pos;
    return 0;
}

void sim_udp_pull_data(uint16_t token, uint64_t gw_eui, uint8_t out[SIM_UDP_HEADER_LEN])
{
    udp_header(out, token, SIM_UDP_PULL_DATA, gw_eui);
}

int sim_udp_tx_ack(uint16_t token, uint64_t gw_eui, const char *error, uint8_t *out, size_t cap,
                   size_t *len)
{
    if (cap < SIM_UDP_HEADER_LEN)
        return LORAWAN_E_BUF;
    udp_header(out, token, SIM_UDP_TX_ACK, gw_eui);
    size_t pos = SIM_UDP_HEADER_LEN;
    int rc =
        put(out, cap, &pos, "{\"txpk_ack\":{\"error\":\"%s\"}}", error != NULL ? error : "NONE");
    if (rc != 0)
        return rc;
    *len = pos;
    return 0;
}

/* "SF7BW125" → 7, 125. */
static int parse_datr(const char *s, uint8_t *sf, uint16_t *bw)
{
    unsigned a = 0, b = 0;
    char tail = 0;
    if (sscanf(s, "SF%uBW%u%c", &a, &b, &tail) != 2 || a < 5 || a > 12 ||
        (b != 125 && b != 250 && b != 500))
        return SIM_E_MALFORMED;
    *sf = (uint8_t)a;
    *bw = (uint16_t)b;
    return 0;
}

static int parse_txpk(const json_t *o, sim_txpk_t *tx)
{
    memset(tx, 0, sizeof *tx);
    if (!json_is_object(o))
        return SIM_E_MALFORMED;
    const json_t *v = json_object_get(o, "imme");
    tx->imme = json_is_true(v);
    v = json_object_get(o, "tmst");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (json_int_t)UINT32_MAX)
            return SIM_E_MALFORMED;
        tx->has_tmst = true;
        tx->tmst = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "freq");
    if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 4000)
        return SIM_E_MALFORMED;
    /* MHz with up to 6 decimals: round to the Hz. */
    tx->freq_hz = (uint32_t)(json_number_value(v) * 1e6 + 0.5);
    v = json_object_get(o, "datr");
    if (!json_is_string(v) || parse_datr(json_string_value(v), &tx->sf, &tx->bw_khz) != 0)
        return SIM_E_MALFORMED;
    v = json_object_get(o, "powe");
    tx->powe = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    tx->ipol = json_is_true(json_object_get(o, "ipol"));
    v = json_object_get(o, "data");
    const json_t *size = json_object_get(o, "size");
    if (!json_is_string(v) || !json_is_integer(size))
        return SIM_E_MALFORMED;
    const char *b64 = json_string_value(v);
    size_t n = strlen(b64);
    if (n == 0 || n % 4 != 0 || n > 4 * ((LORAWAN_PHY_MAX_LEN + 2) / 3))
        return SIM_E_MALFORMED;
    uint8_t tmp[4 * ((LORAWAN_PHY_MAX_LEN + 2) / 3)];
    int got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
    if (got < 0)
        return SIM_E_MALFORMED;
    /* EVP_DecodeBlock counts the padding as data bytes. */
    size_t pad = (b64[n - 1] == '=') + (b64[n - 2] == '=');
    size_t len = (size_t)got - pad;
    if (len == 0 || len > LORAWAN_PHY_MAX_LEN || json_integer_value(size) != (json_int_t)len)
        return SIM_E_MALFORMED;
    memcpy(tx->phy, tmp, len);
    tx->len = len;
    if (!tx->imme && !tx->has_tmst)
        return SIM_E_MALFORMED; /* class B "tmms" timing is not simulated */
    return 0;
}

int sim_udp_parse(const uint8_t *buf, size_t len, sim_udp_msg_t *out)
{
    if (len < 4 || (buf[0] != 1 && buf[0] != 2))
        return SIM_E_MALFORMED;
    memset(out, 0, sizeof *out);
    out->version = buf[0];
    out->token = (uint16_t)(buf[1] | (buf[2] << 8));
    out->type = buf[3];
    switch (out->type) {
    case SIM_UDP_PUSH_ACK:
    case SIM_UDP_PULL_ACK:
        return len == 4 ? 0 : SIM_E_MALFORMED;
    case SIM_UDP_PULL_RESP: {
        json_error_t jerr;
        json_t *root = json_loadb((const char *)buf + 4, len - 4, 0, &jerr);
        if (root == NULL)
            return SIM_E_MALFORMED;
        int rc = parse_txpk(json_object_get(root, "txpk"), &out->txpk);
        json_decref(root);
        return rc;
    }
    default:
        return SIM_E_MALFORMED;
    }
}
