/* The framed protocol between the formatter pool and its workers, and the scripts' inputs as
 * JSON text (fmt_private.h). Pure: no I/O, clock or allocation; every length read from a
 * frame is checked before it is used. */
#include <stdio.h>
#include <string.h>

#include "as/fmt_private.h"

/* TTS's wrappers (pkg/messageprocessors/javascript: wrapUplinkDecoderScript,
 * wrapDownlinkEncoderScript, wrapDownlinkDecoderScript), one entry point each, appended to
 * the script. recvTime is a Date as TTS documents it for decodeUplink. Typed arrays returned
 * as bytes become plain arrays (TTS's goja exports them to []uint8 the same way). */
const char fmt_wrapper_suffix[] =
    "\n;\n"
    "function __lw_decode_uplink(input) {\n"
    "  const bytes = input.bytes.slice();\n"
    "  const fPort = input.fPort;\n"
    "  const recvTime = new Date(input.recvTime !== undefined ? input.recvTime : 0);\n"
    "  if (typeof decodeUplink === 'function') {\n"
    "    const decoded = decodeUplink({ bytes, fPort, recvTime });\n"
    "    let normalized;\n"
    "    const { data, errors } = decoded;\n"
    "    if ((!errors || !errors.length) && data && typeof normalizeUplink === 'function') {\n"
    "      normalized = normalizeUplink({ data });\n"
    "    }\n"
    "    return { decoded, normalized };\n"
    "  }\n"
    "  return { decoded: { data: Decoder(bytes, fPort) } };\n"
    "}\n"
    "function __lw_bytes(b) { return (b && ArrayBuffer.isView(b)) ? Array.from(b) : b; }\n"
    "function __lw_encode_downlink(input) {\n"
    "  const { data, fPort } = input;\n"
    "  if (typeof encodeDownlink === 'function') {\n"
    "    const r = encodeDownlink({ data, fPort });\n"
    "    if (r && typeof r === 'object') r.bytes = __lw_bytes(r.bytes);\n"
    "    return r;\n"
    "  }\n"
    "  return { bytes: __lw_bytes(Encoder(data, fPort)), fPort: input.fPort };\n"
    "}\n"
    "function __lw_decode_downlink(input) {\n"
    "  const bytes = input.bytes.slice();\n"
    "  const fPort = input.fPort;\n"
    "  return decodeDownlink({ bytes, fPort });\n"
    "}\n";

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

int fmt_request_encode(const fmt_request_t *r, uint8_t *buf, size_t cap)
{
    if (r->script_len > FMT_SCRIPT_MAX || r->input_len > FMT_FRAME_MAX)
        return FMT_E_TOO_BIG;
    size_t n = FMT_REQUEST_FIXED + r->script_len + r->input_len;
    if (n > FMT_FRAME_MAX || 4 + n > cap)
        return FMT_E_TOO_BIG;
    uint8_t *p = buf;
    put_u32(p, (uint32_t)n);
    p += 4;
    *p++ = FMT_MSG_REQUEST;
    put_u64(p, r->id);
    p += 8;
    *p++ = (uint8_t)r->op;
    put_u32(p, r->timeout_ms);
    p += 4;
    memcpy(p, r->hash, FMT_HASH_LEN);
    p += FMT_HASH_LEN;
    put_u32(p, (uint32_t)r->script_len);
    p += 4;
    if (r->script_len > 0)
        memcpy(p, r->script, r->script_len);
    p += r->script_len;
    put_u32(p, (uint32_t)r->input_len);
    p += 4;
    if (r->input_len > 0)
        memcpy(p, r->input, r->input_len);
    p += r->input_len;
    return (int)(p - buf);
}

int fmt_response_encode(const fmt_response_t *r, uint8_t *buf, size_t cap)
{
    size_t n = FMT_RESPONSE_FIXED + r->body_len;
    if (r->body_len > FMT_FRAME_MAX || n > FMT_FRAME_MAX || 4 + n > cap)
        return FMT_E_TOO_BIG;
    uint8_t *p = buf;
    put_u32(p, (uint32_t)n);
    p += 4;
    *p++ = FMT_MSG_RESPONSE;
    put_u64(p, r->id);
    p += 8;
    *p++ = (uint8_t)r->status;
    put_u32(p, r->run_us);
    p += 4;
    put_u32(p, (uint32_t)r->body_len);
    p += 4;
    if (r->body_len > 0)
        memcpy(p, r->body, r->body_len);
    p += r->body_len;
    return (int)(p - buf);
}

int fmt_frame_next(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *payload_len,
                   size_t *frame_len)
{
    if (len < 4)
        return FMT_E_SHORT;
    uint32_t n = get_u32(buf);
    if (n > FMT_FRAME_MAX)
        return FMT_E_TOO_BIG;
    if (len - 4 < n)
        return FMT_E_SHORT;
    *payload = buf + 4;
    *payload_len = n;
    *frame_len = 4 + (size_t)n;
    return 0;
}

int fmt_request_decode(const uint8_t *p, size_t len, fmt_request_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < FMT_REQUEST_FIXED)
        return FMT_E_SHORT;
    if (p[0] != FMT_MSG_REQUEST)
        return FMT_E_KIND;
    out->id = get_u64(p + 1);
    uint8_t op = p[9];
    if (op < FMT_OP_DECODE_UPLINK || op > FMT_OP_DECODE_DOWNLINK)
        return FMT_E_OP;
    out->op = (fmt_op_t)op;
    out->timeout_ms = get_u32(p + 10);
    memcpy(out->hash, p + 14, FMT_HASH_LEN);
    size_t off = 14 + FMT_HASH_LEN;
    uint32_t script_len = get_u32(p + off);
    off += 4;
    if (script_len > FMT_SCRIPT_MAX)
        return FMT_E_TOO_BIG;
    /* off + script_len + 4 <= len, written so that nothing can wrap */
    if (len - off < 4 || len - off - 4 < script_len)
        return FMT_E_LENGTH;
    out->script = script_len > 0 ? (const char *)(p + off) : NULL;
    out->script_len = script_len;
    off += script_len;
    uint32_t input_len = get_u32(p + off);
    off += 4;
    if (len - off != input_len)
        return FMT_E_LENGTH;
    out->input = (const char *)(p + off);
    out->input_len = input_len;
    return 0;
}

int fmt_response_decode(const uint8_t *p, size_t len, fmt_response_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < FMT_RESPONSE_FIXED)
        return FMT_E_SHORT;
    if (p[0] != FMT_MSG_RESPONSE)
        return FMT_E_KIND;
    out->id = get_u64(p + 1);
    if (p[9] > FMT_STATUS_MAX)
        return FMT_E_STATUS;
    out->status = (fmt_status_t)p[9];
    out->run_us = get_u32(p + 10);
    uint32_t body_len = get_u32(p + 14);
    if (len - FMT_RESPONSE_FIXED != body_len)
        return FMT_E_LENGTH;
    out->body = (const char *)(p + FMT_RESPONSE_FIXED);
    out->body_len = body_len;
    return 0;
}

/* ---- inputs -------------------------------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t cap, len;
    int overflow;
} out_t;

static void out_mem(out_t *o, const char *s, size_t n)
{
    if (o->overflow || o->cap - o->len <= n) { /* keep room for the NUL */
        o->overflow = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(out_t *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

static void out_uint(out_t *o, unsigned v)
{
    char tmp[16];
    int n = snprintf(tmp, sizeof tmp, "%u", v);
    out_mem(o, tmp, (size_t)n);
}

static void out_bytes(out_t *o, const uint8_t *bytes, size_t len)
{
    out_str(o, "[");
    for (size_t i = 0; i < len; i++) {
        if (i > 0)
            out_str(o, ",");
        out_uint(o, bytes[i]);
    }
    out_str(o, "]");
}

static int out_done(out_t *o)
{
    if (o->overflow || o->len > (size_t)FMT_FRAME_MAX)
        return FMT_E_TOO_BIG;
    return (int)o->len;
}

/* An RFC 3339 time as the core writes it: digits and "-:.TZ+" only, so that it needs no
 * escaping inside a JSON string. */
static int time_plain(const char *t)
{
    if (t == NULL || t[0] == '\0' || strlen(t) > 40)
        return 0;
    for (const char *c = t; *c != '\0'; c++)
        if (!((*c >= '0' && *c <= '9') || strchr("-:.TZ+", *c) != NULL))
            return 0;
    return 1;
}

int fmt_input_uplink(const uint8_t *bytes, size_t len, uint8_t f_port, const char *recv_time,
                     char *buf, size_t cap)
{
    if (cap == 0)
        return FMT_E_TOO_BIG;
    out_t o = {buf, cap, 0, 0};
    buf[0] = '\0';
    out_str(&o, "{\"bytes\":");
    out_bytes(&o, bytes, len);
    out_str(&o, ",\"fPort\":");
    out_uint(&o, f_port);
    if (time_plain(recv_time)) {
        out_str(&o, ",\"recvTime\":\"");
        out_str(&o, recv_time);
        out_str(&o, "\"");
    }
    out_str(&o, "}");
    return out_done(&o);
}

int fmt_input_downlink_decode(const uint8_t *bytes, size_t len, uint8_t f_port, char *buf,
                              size_t cap)
{
    if (cap == 0)
        return FMT_E_TOO_BIG;
    out_t o = {buf, cap, 0, 0};
    buf[0] = '\0';
    out_str(&o, "{\"bytes\":");
    out_bytes(&o, bytes, len);
    out_str(&o, ",\"fPort\":");
    out_uint(&o, f_port);
    out_str(&o, "}");
    return out_done(&o);
}

int fmt_input_downlink_encode(const char *data_json, size_t data_len, uint8_t f_port, char *buf,
                              size_t cap)
{
    if (cap == 0)
        return FMT_E_TOO_BIG;
    out_t o = {buf, cap, 0, 0};
    buf[0] = '\0';
    out_str(&o, "{\"data\":");
    out_mem(&o, data_json, data_len);
    out_str(&o, ",\"fPort\":");
    out_uint(&o, f_port);
    out_str(&o, "}");
    return out_done(&o);
}
