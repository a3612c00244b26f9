/* LoRa Basics Station LNS codec: see bs_codec_private.h. Decoding: jsmn (strict) tokens on
 * the stack, the top-level keys of a message looked up once into a small table, values read
 * from the token text in place (integers through strtoll, so that 64-bit xtimes keep every
 * bit). Encoding: snprintf into the caller's buffer through a bounded writer. */
#include "bs_codec_private.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_tok_private.h"

#include "cluster/hex.h"

/* ---- JSON reading -------------------------------------------------------------------- */

static bool tok_null(const gs_json_t *j, int i)
{
    const jsmntok_t *t = &j->t[i];
    return t->type == JSMN_PRIMITIVE && t->end - t->start == 4 &&
           memcmp(j->js + t->start, "null", 4) == 0;
}

/* An unsigned 64-bit integer (router EUIs as numbers). */
static bool tok_u64(const gs_json_t *j, int i, uint64_t *out)
{
    char tmp[24];
    if (!gs_json_numeric_text(j, i, tmp, sizeof tmp) || tmp[0] == '-')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(tmp, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Copies a string (escapes kept as sent), cut to cap - 1; null or absent → "". */
static bool tok_text(const gs_json_t *j, int i, char *out, size_t cap)
{
    out[0] = '\0';
    if (i < 0 || tok_null(j, i))
        return true;
    const jsmntok_t *t = &j->t[i];
    if (t->type != JSMN_STRING)
        return false;
    size_t len = (size_t)(t->end - t->start);
    if (len >= cap)
        len = cap - 1;
    memcpy(out, j->js + t->start, len);
    out[len] = '\0';
    return true;
}

/* Hex string token (either case) into out; false on odd length, bad digit or > cap bytes. */
static bool tok_hex(const gs_json_t *j, int i, uint8_t *out, size_t cap, size_t *out_len)
{
    const jsmntok_t *t = &j->t[i];
    size_t len = (size_t)(t->end - t->start);
    const char *s = j->js + t->start;
    if (t->type != JSMN_STRING || len % 2 != 0 || len / 2 > cap)
        return false;
    for (size_t k = 0; k < len; k += 2) {
        int hi = lw_hex_digit(s[k]), lo = lw_hex_digit(s[k + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[k / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = len / 2;
    return true;
}

/* ---- EUIs and id6 -------------------------------------------------------------------- */

/* One id6 fragment "a:b:c" (groups of 1..4 hex digits): value and number of groups. */
static bool id6_fragment(const char *p, size_t n, uint64_t *val, int *groups)
{
    uint64_t v = 0;
    int g = 0;
    size_t k = 0;
    while (k < n) {
        size_t digits = 0;
        uint64_t group = 0;
        while (k < n && p[k] != ':') {
            int x = lw_hex_digit(p[k]);
            if (x < 0 || ++digits > 4)
                return false;
            group = group << 4 | (uint64_t)x;
            k++;
        }
        if (digits == 0)
            return false;
        v = v << 16 | group;
        g++;
        if (k < n) {
            k++; /* ':' */
            if (k == n)
                return false; /* trailing single colon */
        }
    }
    *val = v;
    *groups = g;
    return true;
}

int gs_bs_eui_parse(const char *text, size_t len, uint64_t *eui)
{
    const char *p = text;
    size_t n = len;
    /* An id6 prefix such as "router-": lower-case letters, at least one of them not a hex
     * digit (so that "aa-bb-..." stays an EUI), and a dash. */
    size_t letters = 0;
    bool word = false;
    while (letters < n && p[letters] >= 'a' && p[letters] <= 'z') {
        word = word || p[letters] > 'f';
        letters++;
    }
    if (word && letters < n && p[letters] == '-') {
        p += letters + 1;
        n -= letters + 1;
    }
    size_t dashes = 0, colons = 0, digits = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] == '-')
            dashes++;
        else if (p[k] == ':')
            colons++;
        else if (lw_hex_digit(p[k]) >= 0)
            digits++;
        else
            return GS_BS_E_FIELD;
    }
    if (digits == 0 || digits > 16 || (dashes && colons) || dashes > 7 || colons > 7)
        return GS_BS_E_FIELD;
    if (colons >= 1 && colons <= 3) {
        /* id6 (rt_readEui reads 2 or 3 colons as id6; "a:b" is id6 too: two groups) */
        const char *dc = NULL;
        for (size_t k = 1; k < n; k++)
            if (p[k] == ':' && p[k - 1] == ':') {
                if (dc != NULL)
                    return GS_BS_E_FIELD; /* two "::" */
                dc = p + k - 1;
            }
        uint64_t hi = 0, lo = 0;
        int ghi = 0, glo = 0;
        if (dc == NULL) {
            if (!id6_fragment(p, n, &lo, &glo) || glo != 4)
                return GS_BS_E_FIELD;
            *eui = lo;
            return 0;
        }
        size_t nhi = (size_t)(dc - p), nlo = n - nhi - 2;
        if ((nhi > 0 && !id6_fragment(p, nhi, &hi, &ghi)) ||
            (nlo > 0 && !id6_fragment(dc + 2, nlo, &lo, &glo)) || ghi + glo > 3)
            return GS_BS_E_FIELD;
        *eui = (ghi > 0 ? hi << (16 * (4 - ghi)) : 0) | lo;
        return 0;
    }
    /* Hex digits, separated by - or : ; 16 digits, or byte pairs between separators. */
    if (dashes + colons > 0 && (digits != 16 || dashes + colons != 7))
        return GS_BS_E_FIELD;
    if (dashes + colons > 0)
        for (size_t k = 2; k < n; k += 3)
            if (p[k] != '-' && p[k] != ':')
                return GS_BS_E_FIELD;
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        int x = lw_hex_digit(p[k]);
        if (x >= 0)
            v = v << 4 | (uint64_t)x;
    }
    *eui = v;
    return 0;
}

size_t gs_bs_id6_format(uint64_t eui, char *out)
{
    unsigned g[4] = {(unsigned)(eui >> 48) & 0xffff, (unsigned)(eui >> 32) & 0xffff,
                     (unsigned)(eui >> 16) & 0xffff, (unsigned)eui & 0xffff};
    int n;
    if (!g[0] && !g[1])
        n = g[2] ? sprintf(out, "::%x:%x", g[2], g[3]) : sprintf(out, "::%x", g[3]);
    else if (!g[2] && !g[3])
        n = g[1] ? sprintf(out, "%x:%x::", g[0], g[1]) : sprintf(out, "%x::", g[0]);
    else if (!g[1] && !g[2])
        n = sprintf(out, "%x::%x", g[0], g[3]);
    else
        n = sprintf(out, "%x:%x:%x:%x", g[0], g[1], g[2], g[3]);
    return (size_t)n;
}

static bool tok_eui(const gs_json_t *j, int i, uint64_t *eui)
{
    const jsmntok_t *t = &j->t[i];
    return t->type == JSMN_STRING &&
           gs_bs_eui_parse(j->js + t->start, (size_t)(t->end - t->start), eui) == 0;
}

/* ---- Decoding ------------------------------------------------------------------------ */

static int tokenize(const char *json, size_t len, jsmntok_t *toks, gs_json_t *j)
{
    if (len > GS_BS_JSON_MAX)
        return GS_BS_E_JSON_LARGE;
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, json, len, toks, GS_BS_TOKENS_MAX);
    if (n == JSMN_ERROR_NOMEM)
        return GS_BS_E_JSON_LARGE;
    if (n < 1 || toks[0].type != JSMN_OBJECT)
        return GS_BS_E_JSON;
    /* jsmn stops at the end of the first value; anything but whitespace after it is not one
     * message. */
    for (size_t k = (size_t)toks[0].end; k < len; k++)
        if (json[k] != ' ' && json[k] != '\t' && json[k] != '\r' && json[k] != '\n')
            return GS_BS_E_JSON;
    j->js = json;
    j->t = toks;
    j->n = n;
    return GS_BS_OK;
}

/* The keys a message's object may carry, looked up once. */
enum {
    K_MSGTYPE,
    K_MHDR,
    K_DEVADDR,
    K_FCTRL,
    K_FCNT,
    K_FOPTS,
    K_FPORT,
    K_FRMPAYLOAD,
    K_MIC,
    K_JOINEUI,
    K_DEVEUI,
    K_DEVNONCE,
    K_REFTIME,
    K_DR,
    K_FREQ,
    K_UPINFO,
    K_DIID,
    K_SEQNO,
    K_RCTX,
    K_XTIME,
    K_TXTIME,
    K_GPSTIME,
    K_STATION,
    K_FIRMWARE,
    K_PACKAGE,
    K_MODEL,
    K_PROTOCOL,
    K_FEATURES,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    [K_MSGTYPE] = "msgtype",   [K_MHDR] = "MHdr",
    [K_DEVADDR] = "DevAddr",   [K_FCTRL] = "FCtrl",
    [K_FCNT] = "FCnt",         [K_FOPTS] = "FOpts",
    [K_FPORT] = "FPort",       [K_FRMPAYLOAD] = "FRMPayload",
    [K_MIC] = "MIC",           [K_JOINEUI] = "JoinEui",
    [K_DEVEUI] = "DevEui",     [K_DEVNONCE] = "DevNonce",
    [K_REFTIME] = "RefTime",   [K_DR] = "DR",
    [K_FREQ] = "Freq",         [K_UPINFO] = "upinfo",
    [K_DIID] = "diid",         [K_SEQNO] = "seqno",
    [K_RCTX] = "rctx",         [K_XTIME] = "xtime",
    [K_TXTIME] = "txtime",     [K_GPSTIME] = "gpstime",
    [K_STATION] = "station",   [K_FIRMWARE] = "firmware",
    [K_PACKAGE] = "package",   [K_MODEL] = "model",
    [K_PROTOCOL] = "protocol", [K_FEATURES] = "features",
};

/* Fills at[k] with the value token of key k of the object at obj (-1 when absent). A
 * repeated key is an error (which value would the station have meant?). The station's
 * alternative spellings are accepted: JoinEUI/DevEUI (router_config "JoinEUI" switches it
 * to them) and Fcnt (TTS's own struct tag). */
static int index_object(const gs_json_t *j, int obj, int at[K_COUNT], const char **dup)
{
    for (int k = 0; k < K_COUNT; k++)
        at[k] = -1;
    int pairs = j->t[obj].size;
    int i = obj + 1;
    for (int p = 0; p < pairs; p++) {
        if (i + 1 >= j->n || j->t[i].type != JSMN_STRING)
            return GS_BS_E_JSON;
        int k;
        for (k = 0; k < K_COUNT; k++)
            if (gs_json_key_is(j, i, key_names[k]))
                break;
        if (k == K_COUNT) {
            if (gs_json_key_is(j, i, "JoinEUI"))
                k = K_JOINEUI;
            else if (gs_json_key_is(j, i, "DevEUI"))
                k = K_DEVEUI;
            else if (gs_json_key_is(j, i, "Fcnt"))
                k = K_FCNT;
        }
        if (k < K_COUNT) {
            if (at[k] >= 0) {
                *dup = key_names[k];
                return GS_BS_E_FIELD;
            }
            at[k] = i + 1;
        }
        i = gs_json_skip(j, i + 1);
    }
    return GS_BS_OK;
}

#define FAIL(code, name)                                                                           \
    do {                                                                                           \
        out->field = (name);                                                                       \
        return (code);                                                                             \
    } while (0)

#define NEED(k)                                                                                    \
    do {                                                                                           \
        if (at[k] < 0)                                                                             \
            FAIL(GS_BS_E_MISSING, key_names[k]);                                                   \
    } while (0)

static int get_int(const gs_json_t *j, const int at[K_COUNT], int k, long long lo, long long hi,
                   long long *v, gs_bs_msg_t *out)
{
    if (at[k] < 0)
        FAIL(GS_BS_E_MISSING, key_names[k]);
    if (!gs_json_int(j, at[k], lo, hi, v))
        FAIL(GS_BS_E_FIELD, key_names[k]);
    return GS_BS_OK;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

/* DR, Freq, RefTime and upinfo of an uplink. */
static int parse_radio(const gs_json_t *j, const int at[K_COUNT], gs_bs_uplink_t *up,
                       gs_bs_msg_t *out)
{
    long long v = 0;
    int rc = get_int(j, at, K_DR, 0, GS_BS_DR_COUNT - 1, &v, out);
    if (rc != 0)
        return rc;
    up->dr = (uint8_t)v;
    if ((rc = get_int(j, at, K_FREQ, 1, UINT32_MAX, &v, out)) != 0)
        return rc;
    up->freq_hz = (uint32_t)v;
    up->ref_time_s = 0;
    if (at[K_REFTIME] >= 0 && !gs_json_double(j, at[K_REFTIME], &up->ref_time_s))
        FAIL(GS_BS_E_FIELD, "RefTime");
    NEED(K_UPINFO);
    int obj = at[K_UPINFO];
    if (j->t[obj].type != JSMN_OBJECT)
        FAIL(GS_BS_E_FIELD, "upinfo");
    gs_bs_upinfo_t *in = &up->info;
    memset(in, 0, sizeof(*in));
    in->fts = -1;
    bool has_xtime = false;
    int pairs = j->t[obj].size;
    int i = obj + 1;
    for (int p = 0; p < pairs; p++) {
        int val = i + 1;
        if (val >= j->n || j->t[i].type != JSMN_STRING)
            return GS_BS_E_JSON;
        long long n = 0;
        if (gs_json_key_is(j, i, "xtime")) {
            if (!gs_json_int(j, val, 1, INT64_MAX, &n))
                FAIL(GS_BS_E_FIELD, "upinfo.xtime");
            in->xtime = n;
            has_xtime = true;
        } else if (gs_json_key_is(j, i, "rctx")) {
            if (!gs_json_int(j, val, 0, INT64_MAX, &n))
                FAIL(GS_BS_E_FIELD, "upinfo.rctx");
            in->rctx = n;
        } else if (gs_json_key_is(j, i, "gpstime")) {
            if (!gs_json_int(j, val, 0, INT64_MAX, &n))
                FAIL(GS_BS_E_FIELD, "upinfo.gpstime");
            in->gpstime_us = n;
        } else if (gs_json_key_is(j, i, "fts")) {
            if (!gs_json_int(j, val, -1, INT64_MAX, &n))
                FAIL(GS_BS_E_FIELD, "upinfo.fts");
            in->fts = n;
        } else if (gs_json_key_is(j, i, "rxtime")) {
            if (!gs_json_double(j, val, &in->rxtime_s) || in->rxtime_s < 0)
                FAIL(GS_BS_E_FIELD, "upinfo.rxtime");
        } else if (gs_json_key_is(j, i, "rssi")) {
            if (!gs_json_double(j, val, &in->rssi) || in->rssi < -200 || in->rssi > 50)
                FAIL(GS_BS_E_FIELD, "upinfo.rssi");
        } else if (gs_json_key_is(j, i, "snr")) {
            if (!gs_json_double(j, val, &in->snr) || in->snr < -50 || in->snr > 50)
                FAIL(GS_BS_E_FIELD, "upinfo.snr");
        }
        i = gs_json_skip(j, val);
    }
    if (!has_xtime)
        FAIL(GS_BS_E_MISSING, "upinfo.xtime");
    return GS_BS_OK;
}

static int parse_updf(const gs_json_t *j, const int at[K_COUNT], gs_bs_msg_t *out)
{
    gs_bs_uplink_t *up = &out->u.up;
    long long mhdr = 0, dev_addr = 0, fctrl = 0, fcnt = 0, fport = 0, mic = 0;
    int rc;
    if ((rc = get_int(j, at, K_MHDR, 0, 255, &mhdr, out)) != 0)
        return rc;
    /* LoRaWAN 1.0.4 §4.2: MType 010 / 100 (unconfirmed / confirmed data up), Major 00. */
    if (((mhdr & 0xe0) != 0x40 && (mhdr & 0xe0) != 0x80) || (mhdr & 0x03) != 0)
        FAIL(GS_BS_E_FIELD, "MHdr");
    if ((rc = get_int(j, at, K_DEVADDR, INT32_MIN, UINT32_MAX, &dev_addr, out)) != 0 ||
        (rc = get_int(j, at, K_FCTRL, 0, 255, &fctrl, out)) != 0 ||
        (rc = get_int(j, at, K_FCNT, 0, 65535, &fcnt, out)) != 0 ||
        (rc = get_int(j, at, K_FPORT, -1, 255, &fport, out)) != 0 ||
        (rc = get_int(j, at, K_MIC, INT32_MIN, UINT32_MAX, &mic, out)) != 0)
        return rc;
    uint8_t fopts[15], frm[GS_BS_PHY_MAX];
    size_t n_fopts = 0, n_frm = 0;
    NEED(K_FOPTS);
    if (!tok_hex(j, at[K_FOPTS], fopts, sizeof fopts, &n_fopts) ||
        n_fopts != ((size_t)fctrl & 0x0f))
        FAIL(GS_BS_E_FIELD, "FOpts");
    NEED(K_FRMPAYLOAD);
    if (!tok_hex(j, at[K_FRMPAYLOAD], frm, sizeof frm, &n_frm) || (fport < 0 && n_frm > 0))
        FAIL(GS_BS_E_FIELD, "FRMPayload");
    /* MHDR + FHDR (7 + FOpts) + FPort + FRMPayload + MIC */
    size_t total = 1 + 7 + n_fopts + (fport >= 0 ? 1 : 0) + n_frm + 4;
    if (total > GS_BS_PHY_MAX)
        FAIL(GS_BS_E_FIELD, "FRMPayload");
    if ((rc = parse_radio(j, at, up, out)) != 0)
        return rc;
    uint8_t *p = up->phy;
    *p++ = (uint8_t)mhdr;
    put_le32(p, (uint32_t)dev_addr);
    p += 4;
    *p++ = (uint8_t)fctrl;
    *p++ = (uint8_t)fcnt;
    *p++ = (uint8_t)(fcnt >> 8);
    memcpy(p, fopts, n_fopts);
    p += n_fopts;
    if (fport >= 0)
        *p++ = (uint8_t)fport;
    memcpy(p, frm, n_frm);
    p += n_frm;
    put_le32(p, (uint32_t)mic);
    p += 4;
    up->phy_len = (size_t)(p - up->phy);
    up->dev_addr = (uint32_t)dev_addr;
    up->fcnt = (uint16_t)fcnt;
    return GS_BS_OK;
}

static int parse_jreq(const gs_json_t *j, const int at[K_COUNT], bool rejoin, gs_bs_msg_t *out)
{
    gs_bs_uplink_t *up = &out->u.up;
    long long mhdr = 0, nonce = 0, mic = 0;
    int rc;
    if ((rc = get_int(j, at, K_MHDR, 0, 255, &mhdr, out)) != 0)
        return rc;
    /* MType 000 (join-request) or 110 (rejoin-request, forwarded only at 23 bytes), Major 00. */
    if (mhdr != (rejoin ? 0xc0 : 0x00))
        FAIL(GS_BS_E_FIELD, "MHdr");
    NEED(K_JOINEUI);
    if (!tok_eui(j, at[K_JOINEUI], &up->join_eui))
        FAIL(GS_BS_E_FIELD, "JoinEui");
    NEED(K_DEVEUI);
    if (!tok_eui(j, at[K_DEVEUI], &up->dev_eui))
        FAIL(GS_BS_E_FIELD, "DevEui");
    if ((rc = get_int(j, at, K_DEVNONCE, 0, 65535, &nonce, out)) != 0 ||
        (rc = get_int(j, at, K_MIC, INT32_MIN, UINT32_MAX, &mic, out)) != 0)
        return rc;
    if ((rc = parse_radio(j, at, up, out)) != 0)
        return rc;
    uint8_t *p = up->phy;
    *p++ = (uint8_t)mhdr;
    put_le64(p, up->join_eui);
    p += 8;
    put_le64(p, up->dev_eui);
    p += 8;
    *p++ = (uint8_t)nonce;
    *p++ = (uint8_t)(nonce >> 8);
    put_le32(p, (uint32_t)mic);
    up->phy_len = 23;
    up->dev_nonce = (uint16_t)nonce;
    return GS_BS_OK;
}

static int parse_propdf(const gs_json_t *j, const int at[K_COUNT], gs_bs_msg_t *out)
{
    gs_bs_uplink_t *up = &out->u.up;
    NEED(K_FRMPAYLOAD);
    if (!tok_hex(j, at[K_FRMPAYLOAD], up->phy, sizeof up->phy, &up->phy_len) || up->phy_len == 0 ||
        (up->phy[0] & 0xe0) != 0xe0)
        FAIL(GS_BS_E_FIELD, "FRMPayload");
    return parse_radio(j, at, up, out);
}

static int parse_dntxed(const gs_json_t *j, const int at[K_COUNT], gs_bs_msg_t *out)
{
    gs_bs_dntxed_t *d = &out->u.dntxed;
    memset(d, 0, sizeof(*d));
    long long v = 0;
    int rc;
    if ((rc = get_int(j, at, K_DIID, 0, INT64_MAX, &v, out)) != 0)
        return rc;
    d->diid = v;
    d->seqno = v;
    if (at[K_SEQNO] >= 0) {
        if (!gs_json_int(j, at[K_SEQNO], 0, INT64_MAX, &v))
            FAIL(GS_BS_E_FIELD, "seqno");
        d->seqno = v;
    }
    if (at[K_DR] >= 0) {
        if (!gs_json_int(j, at[K_DR], 0, GS_BS_DR_COUNT - 1, &v))
            FAIL(GS_BS_E_FIELD, "DR");
        d->has_dr = true;
        d->dr = (uint8_t)v;
    }
    if (at[K_FREQ] >= 0) {
        if (!gs_json_int(j, at[K_FREQ], 1, UINT32_MAX, &v))
            FAIL(GS_BS_E_FIELD, "Freq");
        d->freq_hz = (uint32_t)v;
    }
    if (at[K_DEVEUI] >= 0 && !tok_eui(j, at[K_DEVEUI], &d->dev_eui))
        FAIL(GS_BS_E_FIELD, "DevEui");
    if (at[K_RCTX] >= 0) {
        if (!gs_json_int(j, at[K_RCTX], 0, INT64_MAX, &v))
            FAIL(GS_BS_E_FIELD, "rctx");
        d->rctx = v;
    }
    if (at[K_XTIME] >= 0) {
        if (!gs_json_int(j, at[K_XTIME], 0, INT64_MAX, &v))
            FAIL(GS_BS_E_FIELD, "xtime");
        d->xtime = v;
    }
    if (at[K_TXTIME] >= 0 && !gs_json_double(j, at[K_TXTIME], &d->txtime_s))
        FAIL(GS_BS_E_FIELD, "txtime");
    if (at[K_GPSTIME] >= 0) {
        if (!gs_json_int(j, at[K_GPSTIME], 0, INT64_MAX, &v))
            FAIL(GS_BS_E_FIELD, "gpstime");
        d->gpstime_us = v;
    }
    return GS_BS_OK;
}

static bool has_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = s; (p = strstr(p, word)) != NULL; p += n)
        if ((p == s || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    return false;
}

static int parse_version(const gs_json_t *j, const int at[K_COUNT], gs_bs_msg_t *out)
{
    gs_bs_version_t *v = &out->u.version;
    memset(v, 0, sizeof(*v));
    static const struct {
        int key;
        size_t off, cap;
    } texts[] = {
        {K_STATION, offsetof(gs_bs_version_t, station), sizeof v->station},
        {K_FIRMWARE, offsetof(gs_bs_version_t, firmware), sizeof v->firmware},
        {K_PACKAGE, offsetof(gs_bs_version_t, package), sizeof v->package},
        {K_MODEL, offsetof(gs_bs_version_t, model), sizeof v->model},
        {K_FEATURES, offsetof(gs_bs_version_t, features), sizeof v->features},
    };
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        if (!tok_text(j, at[texts[k].key], (char *)v + texts[k].off, texts[k].cap))
            FAIL(GS_BS_E_FIELD, key_names[texts[k].key]);
    if (at[K_PROTOCOL] >= 0 && !tok_null(j, at[K_PROTOCOL])) {
        long long p = 0;
        if (!gs_json_int(j, at[K_PROTOCOL], 0, INT32_MAX, &p))
            FAIL(GS_BS_E_FIELD, "protocol");
        v->protocol = p;
    }
    v->production = has_word(v->features, "prod");
    return GS_BS_OK;
}

static const struct {
    const char *name;
    gs_bs_msgtype_t type;
} msgtypes[] = {
    {"version", GS_BS_MSG_VERSION},   {"jreq", GS_BS_MSG_JREQ},     {"rejoin", GS_BS_MSG_REJOIN},
    {"updf", GS_BS_MSG_UPDF},         {"propdf", GS_BS_MSG_PROPDF}, {"dntxed", GS_BS_MSG_DNTXED},
    {"timesync", GS_BS_MSG_TIMESYNC}, {"dndf", GS_BS_MSG_IGNORED},  {"jacc", GS_BS_MSG_IGNORED},
    {"getxtime", GS_BS_MSG_IGNORED},  {"rmtsh", GS_BS_MSG_IGNORED}, {"event", GS_BS_MSG_IGNORED},
};

int gs_bs_decode(const char *json, size_t len, gs_bs_msg_t *out)
{
    jsmntok_t toks[GS_BS_TOKENS_MAX];
    gs_json_t j;
    out->type = 0;
    out->msgtype[0] = '\0';
    out->field = NULL;
    int rc = tokenize(json, len, toks, &j);
    if (rc != 0)
        return rc;
    int at[K_COUNT];
    if ((rc = index_object(&j, 0, at, &out->field)) != 0)
        return rc;
    if (at[K_MSGTYPE] < 0)
        FAIL(GS_BS_E_MSGTYPE, "msgtype");
    if (!tok_text(&j, at[K_MSGTYPE], out->msgtype, sizeof out->msgtype) ||
        j.t[at[K_MSGTYPE]].type != JSMN_STRING)
        FAIL(GS_BS_E_MSGTYPE, "msgtype");
    size_t k;
    for (k = 0; k < sizeof msgtypes / sizeof msgtypes[0]; k++)
        if (gs_json_key_is(&j, at[K_MSGTYPE], msgtypes[k].name))
            break;
    if (k == sizeof msgtypes / sizeof msgtypes[0])
        FAIL(GS_BS_E_MSGTYPE, "msgtype");
    out->type = msgtypes[k].type;
    switch (out->type) {
    case GS_BS_MSG_VERSION:
        return parse_version(&j, at, out);
    case GS_BS_MSG_JREQ:
        return parse_jreq(&j, at, false, out);
    case GS_BS_MSG_REJOIN:
        return parse_jreq(&j, at, true, out);
    case GS_BS_MSG_UPDF:
        return parse_updf(&j, at, out);
    case GS_BS_MSG_PROPDF:
        return parse_propdf(&j, at, out);
    case GS_BS_MSG_DNTXED:
        return parse_dntxed(&j, at, out);
    case GS_BS_MSG_TIMESYNC:
        NEED(K_TXTIME);
        if (!gs_json_double(&j, at[K_TXTIME], &out->u.timesync.txtime))
            FAIL(GS_BS_E_FIELD, "txtime");
        return GS_BS_OK;
    case GS_BS_MSG_IGNORED:
        return GS_BS_OK;
    }
    return GS_BS_E_MSGTYPE;
}

int gs_bs_decode_router_info(const char *json, size_t len, uint64_t *eui)
{
    jsmntok_t toks[GS_BS_TOKENS_MAX];
    gs_json_t j;
    int rc = tokenize(json, len, toks, &j);
    if (rc != 0)
        return rc;
    int pairs = toks[0].size, i = 1, at = -1;
    for (int p = 0; p < pairs; p++) {
        if (i + 1 >= j.n || toks[i].type != JSMN_STRING)
            return GS_BS_E_JSON;
        if (gs_json_key_is(&j, i, "router")) {
            if (at >= 0)
                return GS_BS_E_FIELD;
            at = i + 1;
        }
        i = gs_json_skip(&j, i + 1);
    }
    if (at < 0)
        return GS_BS_E_MISSING;
    uint64_t v = 0;
    bool ok = toks[at].type == JSMN_STRING ? tok_eui(&j, at, &v) : tok_u64(&j, at, &v);
    if (!ok || v == 0)
        return GS_BS_E_FIELD;
    *eui = v;
    return GS_BS_OK;
}

/* ---- Encoding ------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t cap, len;
    bool over;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    if (o->over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->over = true;
        return;
    }
    o->len += (size_t)n;
}

/* A JSON string of s (quotes, backslashes and control characters escaped). */
static void put_str(out_t *o, const char *s)
{
    put(o, "\"");
    for (; *s != '\0' && !o->over; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c < 0x20)
            put(o, "\\u%04x", c);
        else
            put(o, "%c", c);
    }
    put(o, "\"");
}

/* Lower-case hex of b[0..n), written directly (no printf per byte). */
static void put_hex(out_t *o, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    if (o->over || o->cap - o->len <= 2 * n) {
        o->over = true;
        return;
    }
    for (size_t k = 0; k < n; k++) {
        o->buf[o->len++] = digits[b[k] >> 4];
        o->buf[o->len++] = digits[b[k] & 0x0f];
    }
    o->buf[o->len] = '\0';
}

static int finish(out_t *o, size_t *out_len)
{
    if (o->over)
        return GS_BS_E_BUF;
    *out_len = o->len;
    return GS_BS_OK;
}

static void out_init(out_t *o, char *buf, size_t cap)
{
    o->buf = buf;
    o->cap = cap;
    o->len = 0;
    o->over = cap == 0;
    if (cap > 0)
        buf[0] = '\0';
}

/* "ws://host:port/path" or "wss://...": an explicit numeric port and a non-empty path. */
static bool uri_ok(const char *uri)
{
    const char *p;
    if (strncmp(uri, "ws://", 5) == 0)
        p = uri + 5;
    else if (strncmp(uri, "wss://", 6) == 0)
        p = uri + 6;
    else
        return false;
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash[1] == '\0' || slash == p)
        return false;
    const char *colon = NULL;
    for (const char *q = p; q < slash; q++) {
        if (*q == ']')
            colon = NULL; /* [v6]:port: the port follows the bracket */
        else if (*q == ':')
            colon = q;
        else if ((unsigned char)*q <= ' ' || *q == '"' || *q == '\\')
            return false;
    }
    if (colon == NULL || colon == p || colon + 1 == slash || slash - colon > 6)
        return false;
    long port = 0;
    for (const char *q = colon + 1; q < slash; q++) {
        if (*q < '0' || *q > '9')
            return false;
        port = port * 10 + (*q - '0');
    }
    return port > 0 && port <= 65535;
}

int gs_bs_encode_router_info(uint64_t eui, const char *uri, char *buf, size_t cap, size_t *out_len)
{
    if (uri == NULL || !uri_ok(uri))
        return GS_BS_E_ARG;
    char id6[24];
    gs_bs_id6_format(eui, id6);
    out_t o;
    out_init(&o, buf, cap);
    put(&o, "{\"router\":\"%s\",\"muxs\":\"muxs-::0\",\"uri\":", id6);
    put_str(&o, uri);
    put(&o, "}");
    return finish(&o, out_len);
}

int gs_bs_encode_router_info_error(uint64_t eui, const char *message, char *buf, size_t cap,
                                   size_t *out_len)
{
    out_t o;
    out_init(&o, buf, cap);
    put(&o, "{");
    if (eui != 0) {
        char id6[24];
        gs_bs_id6_format(eui, id6);
        put(&o, "\"router\":\"%s\",", id6);
    }
    put(&o, "\"error\":");
    put_str(&o, message != NULL ? message : "");
    put(&o, "}");
    return finish(&o, out_len);
}

void gs_bs_drs(const lorawan_band_t *band, gs_bs_dr_t out[GS_BS_DR_COUNT])
{
    for (uint8_t dr = 0; dr < GS_BS_DR_COUNT; dr++) {
        gs_bs_dr_t *e = &out[dr];
        memset(e, 0, sizeof(*e));
        e->sf = -1;
        lorawan_dr_t d;
        if (band == NULL || lorawan_band_datarate(band, GS_BS_RP_REV, dr, false, &d) != 0)
            continue;
        if (d.modulation == LORAWAN_MOD_LORA) {
            e->sf = (int8_t)d.spreading_factor;
            e->bw_khz = (uint16_t)(d.bandwidth_hz / 1000);
        } else if (d.modulation == LORAWAN_MOD_FSK) {
            e->sf = 0;
        } else {
            continue; /* LR-FHSS: no SX1301 demodulator */
        }
        e->up = d.uplink;
        e->down = d.downlink;
        e->dn_only = d.downlink && !d.uplink;
    }
}

const char *gs_bs_region(const lorawan_band_t *band)
{
    switch (lorawan_band_id(band)) {
    case LORAWAN_BAND_EU868:
        return "EU868";
    case LORAWAN_BAND_US915:
        return "US915";
    case LORAWAN_BAND_AU915:
        return "AU915";
    case LORAWAN_BAND_AS923_1:
    case LORAWAN_BAND_AS923_2:
    case LORAWAN_BAND_AS923_3:
        return "AS923-1";
    case LORAWAN_BAND_AS923_4:
        return "IL915";
    case LORAWAN_BAND_KR920:
        return "KR920";
    default:
        return lorawan_band_name(band);
    }
}

int gs_bs_limits(const lorawan_freqplan_t *plan, gs_bs_limits_t *out)
{
    const lorawan_band_t *band = plan != NULL ? lorawan_band_get(plan->band) : NULL;
    if (band == NULL)
        return GS_BS_E_ARG;
    const lorawan_sub_band_t *sb = NULL;
    size_t n = lorawan_freqplan_sub_bands(plan, &sb);
    if (n == 0)
        return GS_BS_E_ARG;
    out->min_freq_hz = UINT32_MAX;
    out->max_freq_hz = 0;
    for (size_t k = 0; k < n; k++) {
        if (sb[k].min_freq_hz < out->min_freq_hz)
            out->min_freq_hz = sb[k].min_freq_hz;
        if (sb[k].max_freq_hz > out->max_freq_hz)
            out->max_freq_hz = sb[k].max_freq_hz;
    }
    gs_bs_drs(band, out->drs);
    return GS_BS_OK;
}

/* ---- router_config: channels and the SX1301's two radios ---- */

/* SX1301 HAL (loragw_hal.c lgw_rxif_setconf): a channel's IF offset plus half its bandwidth
 * must stay within half the radio's receive bandwidth: 925 kHz for 125 kHz channels and the
 * FSK channel, 1000 kHz with a 250 kHz and 1100 kHz with a 500 kHz LoRa standard channel. */
#define IF_MAX_125 400000
#define IF_MAX_250 375000
#define IF_MAX_500 300000

typedef struct {
    uint32_t freq_hz;
    uint8_t min_dr, max_dr;
} upch_t;

typedef struct {
    uint32_t freq_hz;
    int32_t if_max;
    int kind; /* 0 multi-SF (index idx), 1 LoRa standard, 2 FSK */
    int idx;
    int radio; /* chosen */
} modem_t;

#define UPCH_MAX (8 + 2)

/* Splits the sorted modems into radio 0 (the lower ones) and radio 1, maximising the smaller
 * of the two margins (how far each radio centre could move), the lower split on a tie; each
 * radio's centre is the middle of its feasible interval (for 125 kHz channels alone: the
 * middle of their span, as the station's own allocation computes it). */
static bool place_radios(modem_t *m, int n, uint32_t radio_hz[2])
{
    int best_k = -1;
    int64_t best_margin = -1, best_c[2] = {0, 0};
    for (int k = (n >= 2 ? 1 : n); k <= (n >= 2 ? n - 1 : n); k++) {
        int64_t c[2] = {0, 0}, margin = INT64_MAX;
        bool ok = true;
        for (int r = 0; r < 2 && ok; r++) {
            int from = r == 0 ? 0 : k, to = r == 0 ? k : n;
            if (from == to)
                continue;
            int64_t lo = INT64_MIN, hi = INT64_MAX;
            for (int q = from; q < to; q++) {
                int64_t a = (int64_t)m[q].freq_hz - m[q].if_max,
                        b = (int64_t)m[q].freq_hz + m[q].if_max;
                lo = a > lo ? a : lo;
                hi = b < hi ? b : hi;
            }
            if (lo > hi)
                ok = false;
            c[r] = (lo + hi) / 2;
            margin = hi - lo < margin ? hi - lo : margin;
        }
        if (ok && margin > best_margin) {
            best_margin = margin;
            best_k = k;
            best_c[0] = c[0];
            best_c[1] = c[1];
        }
    }
    if (best_k < 0)
        return false;
    if (best_k == n) /* one modem: both radios on it */
        best_c[1] = best_c[0];
    for (int q = 0; q < n; q++)
        m[q].radio = q < best_k ? 0 : 1;
    /* Whole 100 Hz steps keep the centres readable; the IF margins allow it. */
    radio_hz[0] = (uint32_t)(best_c[0] / 100 * 100);
    radio_hz[1] = (uint32_t)(best_c[1] / 100 * 100);
    for (int q = 0; q < n; q++) {
        int64_t off = (int64_t)m[q].freq_hz - radio_hz[m[q].radio];
        if (off > m[q].if_max || off < -m[q].if_max)
            return false;
    }
    return true;
}

static void sort_modems(modem_t *m, int n)
{
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && m[b].freq_hz < m[b - 1].freq_hz; b--) {
            modem_t t = m[b];
            m[b] = m[b - 1];
            m[b - 1] = t;
        }
}

static void put_eui_ranges(out_t *o, const gs_bs_router_config_t *rc)
{
    if (rc->join_eui == NULL) {
        put(o, "null");
        return;
    }
    put(o, "[");
    for (size_t k = 0; k < rc->n_join_eui; k++)
        put(o, "%s[%" PRIu64 ",%" PRIu64 "]", k ? "," : "", rc->join_eui[k][0], rc->join_eui[k][1]);
    put(o, "]");
}

int gs_bs_encode_router_config(const gs_bs_router_config_t *rc, char *buf, size_t cap,
                               size_t *out_len)
{
    const lorawan_freqplan_t *fp = rc != NULL ? rc->plan : NULL;
    gs_bs_limits_t lim;
    if (fp == NULL || gs_bs_limits(fp, &lim) != 0)
        return GS_BS_E_ARG;
    const lorawan_band_t *band = lorawan_band_get(fp->band);

    /* Modems: up to 8 multi-SF 125 kHz channels, the LoRa standard and the FSK channel. */
    modem_t m[UPCH_MAX];
    int n_m = 0, n_multi = 0;
    for (uint8_t k = 0; k < fp->n_uplink; k++) {
        if (n_multi == 8)
            return GS_BS_E_PLAN;
        m[n_m++] = (modem_t){
            .freq_hz = fp->uplink[k].freq_hz, .if_max = IF_MAX_125, .kind = 0, .idx = n_multi++};
    }
    if (fp->lora_std.freq_hz != 0) {
        const gs_bs_dr_t *d = &lim.drs[fp->lora_std.dr < GS_BS_DR_COUNT ? fp->lora_std.dr : 0];
        if (fp->lora_std.dr >= GS_BS_DR_COUNT || d->sf <= 0 ||
            (d->bw_khz != 250 && d->bw_khz != 500))
            return GS_BS_E_PLAN;
        m[n_m++] = (modem_t){.freq_hz = fp->lora_std.freq_hz,
                             .if_max = d->bw_khz == 250 ? IF_MAX_250 : IF_MAX_500,
                             .kind = 1};
    }
    if (fp->fsk.freq_hz != 0) {
        if (fp->fsk.dr >= GS_BS_DR_COUNT || lim.drs[fp->fsk.dr].sf != 0)
            return GS_BS_E_PLAN;
        m[n_m++] = (modem_t){.freq_hz = fp->fsk.freq_hz, .if_max = IF_MAX_125, .kind = 2};
    }
    if (n_m == 0)
        return GS_BS_E_PLAN;
    modem_t sorted[UPCH_MAX];
    memcpy(sorted, m, sizeof(modem_t) * (size_t)n_m);
    sort_modems(sorted, n_m);
    uint32_t radio_hz[2];
    if (!place_radios(sorted, n_m, radio_hz))
        return GS_BS_E_PLAN;
    for (int q = 0; q < n_m; q++)
        for (int r = 0; r < n_m; r++)
            if (m[r].kind == sorted[q].kind && m[r].idx == sorted[q].idx &&
                m[r].freq_hz == sorted[q].freq_hz)
                m[r].radio = sorted[q].radio;

    /* upchannels: the uplink channels in plan order, DRs cut to 0..7; the LoRa standard
     * channel widens a 125 kHz channel of its frequency, else is its own entry; then FSK. */
    upch_t up[UPCH_MAX];
    int n_up = 0;
    for (uint8_t k = 0; k < fp->n_uplink; k++) {
        const lorawan_fp_channel_t *c = &fp->uplink[k];
        uint8_t lo = c->min_dr,
                hi = c->max_dr > GS_BS_UPCHANNEL_DR_MAX ? GS_BS_UPCHANNEL_DR_MAX : c->max_dr;
        if (lo > hi)
            return GS_BS_E_PLAN;
        up[n_up++] = (upch_t){c->freq_hz, lo, hi};
    }
    const lorawan_fp_single_t *extra[2] = {&fp->lora_std, &fp->fsk};
    for (int e = 0; e < 2; e++) {
        const lorawan_fp_single_t *s = extra[e];
        if (s->freq_hz == 0)
            continue;
        if (s->dr > GS_BS_UPCHANNEL_DR_MAX)
            return GS_BS_E_PLAN;
        int k;
        for (k = 0; k < n_up; k++)
            if (e == 0 && up[k].freq_hz == s->freq_hz && up[k].max_dr + 1 == s->dr)
                break;
        if (k < n_up)
            up[k].max_dr = s->dr;
        else
            up[n_up++] = (upch_t){s->freq_hz, s->dr, s->dr};
    }

    out_t o;
    out_init(&o, buf, cap);
    put(&o, "{\"msgtype\":\"router_config\",\"NetID\":");
    if (rc->net_id == NULL) {
        put(&o, "null");
    } else {
        put(&o, "[");
        for (size_t k = 0; k < rc->n_net_id; k++)
            put(&o, "%s%" PRIu32, k ? "," : "", rc->net_id[k]);
        put(&o, "]");
    }
    put(&o, ",\"JoinEui\":");
    put_eui_ranges(&o, rc);
    put(&o, ",\"region\":");
    put_str(&o, gs_bs_region(band));
    put(&o, ",\"hwspec\":\"sx1301/1\",\"freq_range\":[%" PRIu32 ",%" PRIu32 "],\"DRs\":[",
        lim.min_freq_hz, lim.max_freq_hz);
    for (int dr = 0; dr < GS_BS_DR_COUNT; dr++)
        put(&o, "%s[%d,%u,%d]", dr ? "," : "", lim.drs[dr].sf,
            lim.drs[dr].sf > 0 ? lim.drs[dr].bw_khz : 0u, lim.drs[dr].dn_only ? 1 : 0);
    put(&o, "],\"upchannels\":[");
    for (int k = 0; k < n_up; k++)
        put(&o, "%s[%" PRIu32 ",%u,%u]", k ? "," : "", up[k].freq_hz, up[k].min_dr, up[k].max_dr);
    put(&o, "],\"sx1301_conf\":[{");
    put(&o, "\"radio_0\":{\"enable\":true,\"freq\":%" PRIu32 "},", radio_hz[0]);
    put(&o, "\"radio_1\":{\"enable\":true,\"freq\":%" PRIu32 "}", radio_hz[1]);
    for (int c = 0; c < 8; c++) {
        int q;
        for (q = 0; q < n_m; q++)
            if (m[q].kind == 0 && m[q].idx == c)
                break;
        if (q == n_m) {
            put(&o, ",\"chan_multiSF_%d\":{\"enable\":false}", c);
            continue;
        }
        put(&o, ",\"chan_multiSF_%d\":{\"enable\":true,\"radio\":%d,\"if\":%" PRId64 "}", c,
            m[q].radio, (int64_t)m[q].freq_hz - radio_hz[m[q].radio]);
    }
    const modem_t *std = NULL, *fsk = NULL;
    for (int q = 0; q < n_m; q++) {
        if (m[q].kind == 1)
            std = &m[q];
        else if (m[q].kind == 2)
            fsk = &m[q];
    }
    if (std != NULL) {
        const gs_bs_dr_t *d = &lim.drs[fp->lora_std.dr];
        put(&o,
            ",\"chan_Lora_std\":{\"enable\":true,\"radio\":%d,\"if\":%" PRId64
            ",\"bandwidth\":%u,\"spread_factor\":%d}",
            std->radio, (int64_t)std->freq_hz - radio_hz[std->radio], d->bw_khz * 1000u, d->sf);
    } else {
        put(&o, ",\"chan_Lora_std\":{\"enable\":false}");
    }
    if (fsk != NULL) {
        lorawan_dr_t d;
        uint32_t rate = lorawan_band_datarate(band, GS_BS_RP_REV, fp->fsk.dr, false, &d) == 0
                            ? d.bit_rate_bps
                            : 50000u;
        put(&o, ",\"chan_FSK\":{\"enable\":true,\"radio\":%d,\"if\":%" PRId64 ",\"datarate\":%u}",
            fsk->radio, (int64_t)fsk->freq_hz - radio_hz[fsk->radio], rate);
    } else {
        put(&o, ",\"chan_FSK\":{\"enable\":false}");
    }
    put(&o, "}]");
    /* max_eirp: the plan's override, else its highest sub-band limit. Station 2.0.6 only
     * lowers its regional defaults with it, so the upper bound never raises a power. */
    double eirp = fp->max_eirp_dbm;
    if (eirp == 0) {
        const lorawan_sub_band_t *sb = NULL;
        size_t n_sb = lorawan_freqplan_sub_bands(fp, &sb);
        int32_t top = INT32_MIN;
        for (size_t k = 0; k < n_sb; k++)
            top = sb[k].max_eirp_cdbm > top ? sb[k].max_eirp_cdbm : top;
        eirp = top / 100.0;
    }
    put(&o, ",\"max_eirp\":%.2f", eirp);
    if (!rc->production)
        put(&o, ",\"nocca\":true,\"nodc\":true,\"nodwell\":true");
    put(&o, ",\"MuxTime\":%.6f,\"bcning\":null}", rc->mux_time_s);
    return finish(&o, out_len);
}

/* ---- dnmsg ---- */

static bool freq_ok(const gs_bs_limits_t *lim, uint32_t freq_hz)
{
    return freq_hz >= lim->min_freq_hz && freq_hz <= lim->max_freq_hz;
}

/* The station refuses an undefined DR (s2e.c check_dr); a defined uplink-only one it would
 * send, but no device listens there (RP002: e.g. US915 DR4). */
static bool dr_ok(const gs_bs_limits_t *lim, uint8_t dr)
{
    return dr < GS_BS_DR_COUNT && lim->drs[dr].sf >= 0 && lim->drs[dr].down;
}

int gs_bs_dnmsg_check(const gs_bs_dnmsg_t *m, const gs_bs_limits_t *lim, const char **field)
{
    const char *f = NULL;
    if (m->dev_eui == 0)
        f = "DevEui";
    else if (m->dclass != 0 && m->dclass != 2)
        f = "dC";
    else if (m->diid < 0)
        f = "diid";
    else if (m->pdu == NULL || m->pdu_len == 0 || m->pdu_len > GS_BS_PHY_MAX)
        f = "pdu";
    else if (m->dclass == 0 && m->xtime <= 0)
        f = "xtime";
    else if (m->dclass == 0 && (m->rx_delay_s < 1 || m->rx_delay_s > 15))
        f = "RxDelay";
    else if (m->dclass == 2 && m->has_rx1)
        f = "RX1DR";
    else if (!m->has_rx1 && !m->has_rx2)
        f = m->dclass == 2 ? "RX2DR" : "RX1DR";
    else if (m->has_rx1 && !dr_ok(lim, m->rx1_dr))
        f = "RX1DR";
    else if (m->has_rx1 && !freq_ok(lim, m->rx1_freq_hz))
        f = "RX1Freq";
    else if (m->has_rx2 && !dr_ok(lim, m->rx2_dr))
        f = "RX2DR";
    else if (m->has_rx2 && !freq_ok(lim, m->rx2_freq_hz))
        f = "RX2Freq";
    else if (m->rctx < 0)
        f = "rctx";
    else if (!isfinite(m->mux_time_s) || m->mux_time_s < 0)
        f = "MuxTime";
    if (field != NULL)
        *field = f;
    return f != NULL ? GS_BS_E_ARG : GS_BS_OK;
}

int gs_bs_encode_dnmsg(const gs_bs_dnmsg_t *m, const gs_bs_limits_t *lim, char *buf, size_t cap,
                       size_t *out_len, const char **field)
{
    int rc = gs_bs_dnmsg_check(m, lim, field);
    if (rc != 0)
        return rc;
    out_t o;
    out_init(&o, buf, cap);
    uint64_t e = m->dev_eui;
    put(&o,
        "{\"msgtype\":\"dnmsg\",\"DevEui\":\"%02X-%02X-%02X-%02X-%02X-%02X-%02X-%02X\",\"dC\":%u,"
        "\"diid\":%" PRId64 ",\"pdu\":\"",
        (unsigned)(e >> 56) & 0xff, (unsigned)(e >> 48) & 0xff, (unsigned)(e >> 40) & 0xff,
        (unsigned)(e >> 32) & 0xff, (unsigned)(e >> 24) & 0xff, (unsigned)(e >> 16) & 0xff,
        (unsigned)(e >> 8) & 0xff, (unsigned)e & 0xff, m->dclass, m->diid);
    put_hex(&o, m->pdu, m->pdu_len);
    put(&o, "\",\"RxDelay\":%u", m->dclass == 0 ? m->rx_delay_s : 1u);
    if (m->has_rx1)
        put(&o, ",\"RX1DR\":%u,\"RX1Freq\":%" PRIu32, m->rx1_dr, m->rx1_freq_hz);
    if (m->has_rx2)
        put(&o, ",\"RX2DR\":%u,\"RX2Freq\":%" PRIu32, m->rx2_dr, m->rx2_freq_hz);
    put(&o, ",\"priority\":%u", m->priority);
    if (m->dclass == 0)
        put(&o, ",\"xtime\":%" PRId64, m->xtime);
    put(&o, ",\"rctx\":%" PRId64 ",\"MuxTime\":%.6f}", m->rctx, m->mux_time_s);
    return finish(&o, out_len);
}

int gs_bs_encode_timesync(double txtime, int64_t gpstime_us, double mux_time_s, char *buf,
                          size_t cap, size_t *out_len)
{
    if (!isfinite(txtime) || !isfinite(mux_time_s))
        return GS_BS_E_ARG;
    out_t o;
    out_init(&o, buf, cap);
    /* txtime echoed as sent: station local µs, an integer in practice (%.17g round-trips any
     * double and prints integers without a fraction). */
    put(&o, "{\"msgtype\":\"timesync\",\"txtime\":%.17g,\"gpstime\":%" PRId64 ",\"MuxTime\":%.6f}",
        txtime, gpstime_us, mux_time_s);
    return finish(&o, out_len);
}

int64_t gs_bs_gps_us_from_unix_ns(int64_t unix_ns)
{
    return unix_ns / 1000 - (GS_BS_GPS_EPOCH_UNIX_S - GS_BS_GPS_LEAP_S) * 1000000LL;
}

const char *gs_bs_strerror(int err)
{
    switch (err) {
    case GS_BS_OK:
        return "ok";
    case GS_BS_E_JSON:
        return "json";
    case GS_BS_E_JSON_LARGE:
        return "json_too_large";
    case GS_BS_E_MSGTYPE:
        return "msgtype";
    case GS_BS_E_FIELD:
        return "field";
    case GS_BS_E_MISSING:
        return "missing_field";
    case GS_BS_E_BUF:
        return "buffer";
    case GS_BS_E_ARG:
        return "invalid_argument";
    case GS_BS_E_PLAN:
        return "frequency_plan";
    default:
        return "unknown";
    }
}

const char *gs_bs_msgtype_name(gs_bs_msgtype_t t)
{
    for (size_t k = 0; k < sizeof msgtypes / sizeof msgtypes[0]; k++)
        if (msgtypes[k].type == t && t != GS_BS_MSG_IGNORED)
            return msgtypes[k].name;
    return t == GS_BS_MSG_IGNORED ? "ignored" : "?";
}
