/* lorawan-crosscheck: the C half of the lora-packet cross-check (see lorapacket.js for the
 * JSON schema shared by both halves).
 *
 *   lorawan-crosscheck check IN.json        decode, MIC-verify and decrypt frames that
 *                                           lora-packet built; compare with their fields
 *   lorawan-crosscheck gen N SEED OUT.json  encode N random frames with components/lorawan
 *                                           for lora-packet to check
 *
 * `check` prints one line per frame that differs and last "N passed, M failed"; both exit
 * 0 only on success. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lorawan/lorawan.h"

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct frame {
    const json_t *j;
    const json_t *fields;
    char diff[512];
    size_t diff_len;
} frame_t;

static void differ(frame_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void differ(frame_t *f, const char *fmt, ...)
{
    if (f->diff_len >= sizeof(f->diff) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->diff + f->diff_len, sizeof(f->diff) - f->diff_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        f->diff_len += (size_t)n;
    if (f->diff_len > sizeof(f->diff) - 1)
        f->diff_len = sizeof(f->diff) - 1;
    else if (f->diff_len < sizeof(f->diff) - 2)
        f->diff[f->diff_len++] = ';', f->diff[f->diff_len++] = ' ', f->diff[f->diff_len] = '\0';
}

static size_t hex_of(const char *s, uint8_t *out, size_t cap, bool *ok)
{
    size_t len = 0;
    if (s == NULL || lorawan_hex_decode(s, strlen(s), out, cap, &len) != 0)
        *ok = false;
    return len;
}

static uint64_t be_of(const char *s, bool *ok)
{
    uint8_t b[8];
    size_t len = hex_of(s, b, sizeof(b), ok);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v << 8 | b[i];
    return v;
}

static const char *fstr(const frame_t *f, const char *name)
{
    return json_string_value(json_object_get(f->fields, name));
}

static int64_t fint(const frame_t *f, const char *name)
{
    return json_integer_value(json_object_get(f->fields, name));
}

static bool fbool(const frame_t *f, const char *name)
{
    return json_is_true(json_object_get(f->fields, name));
}

static int64_t jint(const frame_t *f, const char *name)
{
    return json_integer_value(json_object_get(f->j, name));
}

/* Initialises *k from keys.<name>; false when absent or malformed. */
static bool key_of(const frame_t *f, const char *name, lorawan_key_t *k)
{
    uint8_t raw[16];
    bool ok = true;
    const char *s = json_string_value(json_object_get(json_object_get(f->j, "keys"), name));
    if (hex_of(s, raw, sizeof(raw), &ok) != 16 || !ok || lorawan_key_init(k, raw) != 0)
        return false;
    return true;
}

static void hex_str(const uint8_t *b, size_t len, char *out, size_t cap)
{
    if (lorawan_hex_encode(b, len, out, cap) != 0)
        out[0] = '\0';
}

static void cmp_hex(frame_t *f, const char *what, const uint8_t *b, size_t len, const char *want)
{
    char got[2 * LORAWAN_PHY_MAX_LEN + 1];
    hex_str(b, len, got, sizeof(got));
    if (want == NULL || strcmp(got, want) != 0)
        differ(f, "%s: library %s, lora-packet %s", what, got, want ? want : "(none)");
}

static void cmp_int(frame_t *f, const char *what, int64_t got, int64_t want)
{
    if (got != want)
        differ(f, "%s: library %" PRId64 ", lora-packet %" PRId64, what, got, want);
}

static void cmp_be(frame_t *f, const char *what, uint64_t got, const char *want)
{
    bool ok = true;
    uint64_t w = be_of(want, &ok);
    if (!ok || got != w)
        differ(f, "%s: library %" PRIx64 ", lora-packet %s", what, got, want ? want : "(none)");
}

/* ---- check: frames built by lora-packet ------------------------------------------------- */

static void check_data(frame_t *f, const uint8_t *phy, size_t len, const lorawan_phy_t *p, bool v11)
{
    bool uplink = false;
    (void)lorawan_mtype_is_data(p->mtype, &uplink);
    const lorawan_data_t *d = &p->u.data;
    uint32_t fcnt = (uint32_t)jint(f, "fcnt");
    cmp_be(f, "dev_addr", d->dev_addr, fstr(f, "dev_addr_be"));
    cmp_int(f, "adr", d->fctrl.adr, fbool(f, "adr"));
    cmp_int(f, "ack", d->fctrl.ack, fbool(f, "ack"));
    cmp_int(f, "adr_ack_req", d->fctrl.adr_ack_req, fbool(f, "adr_ack_req"));
    cmp_int(f, "fctrl_bit4", uplink ? d->fctrl.class_b : d->fctrl.f_pending,
            fbool(f, "fctrl_bit4"));
    cmp_int(f, "fcnt16", d->fcnt16, fint(f, "fcnt16"));
    const json_t *jport = json_object_get(f->fields, "fport");
    if (json_is_null(jport) ? d->has_fport : (!d->has_fport || d->fport != fint(f, "fport")))
        differ(f, "fport: library %s%d", d->has_fport ? "" : "absent ", d->fport);
    /* 32-bit counter reconstruction from a recent last value. */
    uint32_t expanded = 0, last = fcnt - (fcnt < 1000 ? fcnt : 1000);
    if (lorawan_fcnt_expand(last, d->fcnt16, &expanded) != 0 || expanded != fcnt)
        differ(f, "fcnt_expand(%" PRIu32 ", %u) gave %" PRIu32, last, d->fcnt16, expanded);

    lorawan_key_t k1 = {0}, k2 = {0}, kenc = {0}, kapp = {0};
    uint8_t mic[4], plain[LORAWAN_PHY_MAX_LEN];
    int rc;
    uint32_t conf = (uint32_t)jint(f, "conf_fcnt");
    if (!v11) {
        if (!key_of(f, "nwk_s_key", &k1) || !key_of(f, "app_s_key", &kapp)) {
            differ(f, "bad keys");
            goto out;
        }
        rc = uplink ? lorawan_mic_data_up_10(&k1, phy, len - 4, fcnt, mic)
                    : lorawan_mic_data_down(&k1, phy, len - 4, fcnt, 0, mic);
        cmp_hex(f, "fopts", d->fopts, d->fopts_len, fstr(f, "fopts_plain_hex"));
    } else {
        if (!key_of(f, "f_nwk_s_int_key", &k1) || !key_of(f, "s_nwk_s_int_key", &k2) ||
            !key_of(f, "nwk_s_enc_key", &kenc) || !key_of(f, "app_s_key", &kapp)) {
            differ(f, "bad keys");
            goto out;
        }
        rc = uplink
                 ? lorawan_mic_data_up_11(&k1, &k2, phy, len - 4, fcnt, conf,
                                          (uint8_t)jint(f, "tx_dr"), (uint8_t)jint(f, "tx_ch"), mic)
                 : lorawan_mic_data_down(&k2, phy, len - 4, fcnt, conf, mic);
        bool a_fcnt = !uplink && d->has_fport && d->fport > 0;
        if (lorawan_fopts_encrypt(&kenc, !uplink, a_fcnt, d->dev_addr, fcnt, d->fopts, d->fopts_len,
                                  plain) != 0)
            differ(f, "fopts decrypt failed");
        else
            cmp_hex(f, "fopts (decrypted)", plain, d->fopts_len, fstr(f, "fopts_plain_hex"));
    }
    if (rc != 0 || lorawan_mic_check(mic, phy, len) != 0)
        differ(f, "mic: library says invalid%s%s", rc ? ": " : "", rc ? lorawan_strerror(rc) : "");
    const lorawan_key_t *pk = d->fport > 0 ? &kapp : v11 ? &kenc : &k1;
    if (d->has_fport) {
        lorawan_payload_encrypt(pk, !uplink, d->dev_addr, fcnt, d->frm_payload, d->frm_payload_len,
                                plain);
        cmp_hex(f, "frm_payload (decrypted)", plain, d->frm_payload_len,
                fstr(f, "frm_payload_plain_hex"));
    } else {
        cmp_hex(f, "frm_payload", d->frm_payload, d->frm_payload_len,
                fstr(f, "frm_payload_plain_hex"));
    }
out:
    lorawan_key_destroy(&k1);
    lorawan_key_destroy(&k2);
    lorawan_key_destroy(&kenc);
    lorawan_key_destroy(&kapp);
}

static void check_join_accept(frame_t *f, const uint8_t *phy, size_t len, bool v11)
{
    lorawan_key_t k = {0}, mk = {0};
    uint8_t plain[LORAWAN_JOIN_ACCEPT_CFLIST_LEN], mic[4];
    lorawan_join_accept_t ja;
    int rc;
    if (!key_of(f, "key", &k) || !key_of(f, "mic_key", &mk)) {
        differ(f, "bad keys");
        goto out;
    }
    rc = lorawan_join_accept_decrypt(&k, phy, len, plain, sizeof(plain));
    if (rc == 0)
        rc = lorawan_join_accept_parse(plain, len, &ja);
    if (rc != 0) {
        differ(f, "decrypt/parse: %s", lorawan_strerror(rc));
        goto out;
    }
    cmp_int(f, "join_nonce", ja.join_nonce, fint(f, "join_nonce"));
    cmp_be(f, "net_id", ja.net_id, fstr(f, "net_id_be"));
    cmp_be(f, "dev_addr", ja.dev_addr, fstr(f, "dev_addr_be"));
    cmp_int(f, "opt_neg", ja.opt_neg, fbool(f, "opt_neg"));
    cmp_int(f, "rx1_dr_offset", ja.rx1_dr_offset, fint(f, "rx1_dr_offset"));
    cmp_int(f, "rx2_data_rate", ja.rx2_data_rate, fint(f, "rx2_data_rate"));
    cmp_int(f, "rx_delay", ja.rx_delay, fint(f, "rx_delay"));
    if (ja.cflist != NULL)
        cmp_hex(f, "cflist", ja.cflist, LORAWAN_CFLIST_LEN, fstr(f, "cflist_hex"));
    else if (!json_is_null(json_object_get(f->fields, "cflist_hex")))
        differ(f, "cflist: library none");
    if (v11) {
        bool ok = true;
        uint64_t eui = be_of(json_string_value(json_object_get(f->j, "join_eui_be")), &ok);
        rc = lorawan_mic_join_accept_11(&mk, (uint8_t)jint(f, "join_req_type"), eui,
                                        (uint16_t)jint(f, "dev_nonce"), plain, len - 4, mic);
    } else {
        rc = lorawan_mic_join_accept_10(&mk, plain, len - 4, mic);
    }
    if (rc != 0 || lorawan_mic_check(mic, plain, len) != 0)
        differ(f, "mic: library says invalid");
out:
    lorawan_key_destroy(&k);
    lorawan_key_destroy(&mk);
}

static void check_mic_plain(frame_t *f, const uint8_t *phy, size_t len)
{
    lorawan_key_t k = {0};
    uint8_t mic[4];
    if (!key_of(f, "key", &k)) {
        differ(f, "bad keys");
        return;
    }
    if (lorawan_mic_join_request(&k, phy, len - 4, mic) != 0 ||
        lorawan_mic_check(mic, phy, len) != 0)
        differ(f, "mic: library says invalid");
    lorawan_key_destroy(&k);
}

static void check_frame(frame_t *f)
{
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    bool ok = true;
    const char *kind = json_string_value(json_object_get(f->j, "kind"));
    const char *ver = json_string_value(json_object_get(f->j, "lorawan_version"));
    size_t len = hex_of(json_string_value(json_object_get(f->j, "phy_hex")), phy, sizeof(phy), &ok);
    if (!ok || kind == NULL || ver == NULL) {
        differ(f, "malformed frame record");
        return;
    }
    bool v11 = strcmp(ver, "1.1") == 0;
    lorawan_phy_t p;
    int rc = lorawan_phy_decode(phy, len, &p);
    if (rc != 0) {
        differ(f, "decode: %s", lorawan_strerror(rc));
        return;
    }
    if (strcmp(kind, "data") == 0) {
        const char *mt = fstr(f, "mtype");
        if (mt == NULL || strcmp(lorawan_mtype_name(p.mtype), mt) != 0)
            differ(f, "mtype: library %s", lorawan_mtype_name(p.mtype));
        else
            check_data(f, phy, len, &p, v11);
    } else if (strcmp(kind, "join_request") == 0) {
        cmp_int(f, "mtype", p.mtype, LORAWAN_MTYPE_JOIN_REQUEST);
        cmp_be(f, "join_eui", p.u.join_request.join_eui, fstr(f, "join_eui_be"));
        cmp_be(f, "dev_eui", p.u.join_request.dev_eui, fstr(f, "dev_eui_be"));
        cmp_int(f, "dev_nonce", p.u.join_request.dev_nonce, fint(f, "dev_nonce"));
        check_mic_plain(f, phy, len);
    } else if (strcmp(kind, "join_accept") == 0) {
        cmp_int(f, "mtype", p.mtype, LORAWAN_MTYPE_JOIN_ACCEPT);
        check_join_accept(f, phy, len, v11);
    } else if (strcmp(kind, "rejoin_request") == 0) {
        const lorawan_rejoin_request_t *r = &p.u.rejoin;
        cmp_int(f, "mtype", p.mtype, LORAWAN_MTYPE_REJOIN_REQUEST);
        cmp_int(f, "rejoin_type", r->rejoin_type, fint(f, "rejoin_type"));
        if (r->rejoin_type == 1)
            cmp_be(f, "join_eui", r->join_eui, fstr(f, "join_eui_be"));
        else
            cmp_be(f, "net_id", r->net_id, fstr(f, "net_id_be"));
        cmp_be(f, "dev_eui", r->dev_eui, fstr(f, "dev_eui_be"));
        cmp_int(f, "rj_count", r->rj_count, fint(f, "rj_count"));
        check_mic_plain(f, phy, len);
    } else if (strcmp(kind, "proprietary") == 0) {
        cmp_int(f, "mtype", p.mtype, LORAWAN_MTYPE_PROPRIETARY);
        cmp_hex(f, "payload", p.mac_payload, p.mac_payload_len, fstr(f, "payload_hex"));
    } else {
        differ(f, "unknown kind %s", kind);
    }
}

static int cmd_check(const char *path)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!json_is_array(root)) {
        fprintf(stderr, "lorawan-crosscheck: %s: %s\n", path, root ? "not an array" : err.text);
        json_decref(root);
        return 2;
    }
    size_t failed = 0, n = json_array_size(root);
    static frame_t f;
    for (size_t i = 0; i < n; i++) {
        memset(&f, 0, sizeof(f));
        f.j = json_array_get(root, i);
        f.fields = json_object_get(f.j, "fields");
        check_frame(&f);
        if (f.diff_len > 0) {
            failed++;
            printf("%s (%s): %s\n", json_string_value(json_object_get(f.j, "id")),
                   json_string_value(json_object_get(f.j, "phy_hex")), f.diff);
        }
    }
    printf("components/lorawan checked %zu frames built by lora-packet: %zu passed, %zu failed\n",
           n, n - failed, failed);
    json_decref(root);
    return failed == 0 && n > 0 ? 0 : 1;
}

/* ---- gen: frames encoded by the library ------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n) /* 0..n-1 (n > 0) */
{
    /* xorshift64*: test data only. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t v = (rng_state * 0x2545f4914f6cdd1dull) >> 32;
    return (uint32_t)(v % n);
}

static uint32_t rnd32(void)
{
    return rnd(65536) << 16 | rnd(65536);
}

static void rnd_bytes(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rnd(256);
}

static void put_hex(json_t *o, const char *name, const uint8_t *b, size_t len)
{
    char s[2 * LORAWAN_PHY_MAX_LEN + 1];
    hex_str(b, len, s, sizeof(s));
    json_object_set_new(o, name, json_string(s));
}

static void put_be(json_t *o, const char *name, uint64_t v, size_t bytes)
{
    uint8_t b[8];
    for (size_t i = 0; i < bytes; i++)
        b[bytes - 1 - i] = (uint8_t)(v >> (8 * i));
    put_hex(o, name, b, bytes);
}

/* A random key: raw bytes into keys.<name> and an initialised context. */
static void new_key(json_t *keys, const char *name, uint8_t raw[16], lorawan_key_t *k)
{
    rnd_bytes(raw, 16);
    put_hex(keys, name, raw, 16);
    if (lorawan_key_init(k, raw) != 0)
        abort();
}

static uint32_t rnd_fcnt(void)
{
    switch (rnd(4)) {
    case 0:
        return rnd(65536);
    case 1:
        return 65536 + rnd(65536 * 4);
    case 2:
        return 0xffff0000u + rnd(65536);
    default:
        return rnd32();
    }
}

static json_t *gen_data(bool v11)
{
    json_t *o = json_object(), *keys = json_object(), *fl = json_object();
    uint8_t raw[16], fopts[16], fopts_wire[16], payload[64], payload_wire[64], buf[256];
    lorawan_key_t k1, k2, kenc, kapp;
    lorawan_phy_t p;
    memset(&p, 0, sizeof(p));
    p.mtype = (lorawan_mtype_t)(2 + rnd(4));
    bool uplink = false;
    (void)lorawan_mtype_is_data(p.mtype, &uplink);
    lorawan_data_t *d = &p.u.data;
    uint32_t fcnt = rnd_fcnt();
    d->dev_addr = rnd32();
    d->fctrl.adr = rnd(2);
    d->fctrl.ack = rnd(2);
    d->fctrl.adr_ack_req = uplink && rnd(2);
    bool bit4 = rnd(2);
    d->fctrl.class_b = uplink && bit4;
    d->fctrl.f_pending = !uplink && bit4;
    d->fcnt16 = (uint16_t)fcnt;
    uint32_t port_kind = rnd(6);
    d->has_fport = port_kind != 0;
    d->fport = port_kind == 1 ? 0 : (uint8_t)(1 + rnd(255));
    d->frm_payload_len = d->has_fport ? rnd(d->fport == 0 ? 16 : 60) : 0;
    d->fopts_len = (d->has_fport && d->fport == 0) || rnd(4) == 0 ? 0 : rnd(16);
    rnd_bytes(fopts, d->fopts_len);
    rnd_bytes(payload, d->frm_payload_len);
    memcpy(fopts_wire, fopts, d->fopts_len);
    if (!v11) {
        new_key(keys, "nwk_s_key", raw, &k1);
        new_key(keys, "app_s_key", raw, &kapp);
    } else {
        new_key(keys, "f_nwk_s_int_key", raw, &k1);
        new_key(keys, "s_nwk_s_int_key", raw, &k2);
        new_key(keys, "nwk_s_enc_key", raw, &kenc);
        new_key(keys, "app_s_key", raw, &kapp);
        bool a_fcnt = !uplink && d->has_fport && d->fport > 0;
        if (lorawan_fopts_encrypt(&kenc, !uplink, a_fcnt, d->dev_addr, fcnt, fopts, d->fopts_len,
                                  fopts_wire) != 0)
            abort();
    }
    const lorawan_key_t *pk = d->fport > 0 ? &kapp : v11 ? &kenc : &k1;
    lorawan_payload_encrypt(pk, !uplink, d->dev_addr, fcnt, payload, d->frm_payload_len,
                            payload_wire);
    d->fopts = fopts_wire;
    d->frm_payload = payload_wire;
    size_t len = 0;
    if (lorawan_phy_encode(&p, buf, sizeof(buf), &len) != 0)
        abort();
    uint8_t mic[4];
    uint32_t conf = rnd(65536);
    if (!v11) {
        if (uplink)
            lorawan_mic_data_up_10(&k1, buf, len - 4, fcnt, mic);
        else
            lorawan_mic_data_down(&k1, buf, len - 4, fcnt, 0, mic);
    } else if (uplink) {
        /* lora-packet applies ConfFCnt to FPort-0 uplinks even without ACK (lorapacket.js). */
        if (!d->fctrl.ack && d->has_fport && d->fport == 0)
            conf = 0;
        uint8_t tx_dr = (uint8_t)rnd(16), tx_ch = (uint8_t)rnd(256);
        lorawan_mic_data_up_11(&k1, &k2, buf, len - 4, fcnt, conf, tx_dr, tx_ch, mic);
        json_object_set_new(o, "tx_dr", json_integer(tx_dr));
        json_object_set_new(o, "tx_ch", json_integer(tx_ch));
    } else {
        lorawan_mic_data_down(&k2, buf, len - 4, fcnt, conf, mic);
    }
    memcpy(buf + len - 4, mic, 4);
    json_object_set_new(o, "kind", json_string("data"));
    json_object_set_new(o, "lorawan_version", json_string(v11 ? "1.1" : "1.0"));
    json_object_set_new(o, "fcnt", json_integer(fcnt));
    if (v11)
        json_object_set_new(o, "conf_fcnt", json_integer(conf));
    put_hex(o, "phy_hex", buf, len);
    json_object_set_new(o, "keys", keys);
    json_object_set_new(fl, "mtype", json_string(lorawan_mtype_name(p.mtype)));
    put_be(fl, "dev_addr_be", d->dev_addr, 4);
    json_object_set_new(fl, "adr", json_boolean(d->fctrl.adr));
    json_object_set_new(fl, "ack", json_boolean(d->fctrl.ack));
    json_object_set_new(fl, "adr_ack_req", json_boolean(d->fctrl.adr_ack_req));
    json_object_set_new(fl, "fctrl_bit4", json_boolean(bit4));
    json_object_set_new(fl, "fcnt16", json_integer(d->fcnt16));
    put_hex(fl, "fopts_plain_hex", fopts, d->fopts_len);
    json_object_set_new(fl, "fport", d->has_fport ? json_integer(d->fport) : json_null());
    put_hex(fl, "frm_payload_plain_hex", payload, d->frm_payload_len);
    json_object_set_new(o, "fields", fl);
    lorawan_key_destroy(&k1);
    if (v11) {
        lorawan_key_destroy(&k2);
        lorawan_key_destroy(&kenc);
    }
    lorawan_key_destroy(&kapp);
    return o;
}

static json_t *gen_join_request(void)
{
    json_t *o = json_object(), *keys = json_object(), *fl = json_object();
    uint8_t raw[16], buf[64], mic[4];
    lorawan_key_t k;
    lorawan_phy_t p;
    memset(&p, 0, sizeof(p));
    p.mtype = LORAWAN_MTYPE_JOIN_REQUEST;
    p.u.join_request.join_eui = (uint64_t)rnd32() << 32 | rnd32();
    p.u.join_request.dev_eui = (uint64_t)rnd32() << 32 | rnd32();
    p.u.join_request.dev_nonce = (uint16_t)rnd(65536);
    new_key(keys, "key", raw, &k);
    size_t len = 0;
    if (lorawan_phy_encode(&p, buf, sizeof(buf), &len) != 0 ||
        lorawan_mic_join_request(&k, buf, len - 4, mic) != 0)
        abort();
    memcpy(buf + len - 4, mic, 4);
    json_object_set_new(o, "kind", json_string("join_request"));
    json_object_set_new(o, "lorawan_version", json_string(rnd(2) ? "1.1" : "1.0"));
    put_hex(o, "phy_hex", buf, len);
    json_object_set_new(o, "keys", keys);
    put_be(fl, "join_eui_be", p.u.join_request.join_eui, 8);
    put_be(fl, "dev_eui_be", p.u.join_request.dev_eui, 8);
    json_object_set_new(fl, "dev_nonce", json_integer(p.u.join_request.dev_nonce));
    json_object_set_new(o, "fields", fl);
    lorawan_key_destroy(&k);
    return o;
}

static json_t *gen_join_accept(bool v11)
{
    json_t *o = json_object(), *keys = json_object(), *fl = json_object();
    uint8_t raw[16], mic_raw[16], cflist[16], plain[64], wire[64], mic[4];
    lorawan_key_t k, mk;
    lorawan_join_accept_t ja;
    memset(&ja, 0, sizeof(ja));
    ja.join_nonce = rnd(1u << 24);
    ja.net_id = rnd(1u << 24);
    ja.dev_addr = rnd32();
    ja.opt_neg = v11;
    ja.rx1_dr_offset = (uint8_t)rnd(8);
    ja.rx2_data_rate = (uint8_t)rnd(16);
    ja.rx_delay = (uint8_t)rnd(16);
    rnd_bytes(cflist, sizeof(cflist));
    ja.cflist = rnd(2) ? cflist : NULL;
    new_key(keys, "key", raw, &k);
    if (v11) {
        new_key(keys, "mic_key", mic_raw, &mk);
    } else {
        memcpy(mic_raw, raw, 16);
        put_hex(keys, "mic_key", mic_raw, 16);
        if (lorawan_key_init(&mk, mic_raw) != 0)
            abort();
    }
    size_t len = 0;
    if (lorawan_join_accept_encode(&ja, plain, sizeof(plain), &len) != 0)
        abort();
    if (v11) {
        static const uint8_t types[] = {0xff, 0xff, 0, 1, 2};
        uint8_t jrt = types[rnd(5)];
        uint64_t eui = (uint64_t)rnd32() << 32 | rnd32();
        uint16_t nonce = (uint16_t)rnd(65536);
        lorawan_mic_join_accept_11(&mk, jrt, eui, nonce, plain, len - 4, mic);
        json_object_set_new(o, "join_req_type", json_integer(jrt));
        put_be(o, "join_eui_be", eui, 8);
        json_object_set_new(o, "dev_nonce", json_integer(nonce));
    } else {
        lorawan_mic_join_accept_10(&mk, plain, len - 4, mic);
    }
    memcpy(plain + len - 4, mic, 4);
    if (lorawan_join_accept_encrypt(raw, plain, len, wire, sizeof(wire)) != 0)
        abort();
    json_object_set_new(o, "kind", json_string("join_accept"));
    json_object_set_new(o, "lorawan_version", json_string(v11 ? "1.1" : "1.0"));
    put_hex(o, "phy_hex", wire, len);
    json_object_set_new(o, "keys", keys);
    json_object_set_new(fl, "join_nonce", json_integer(ja.join_nonce));
    put_be(fl, "net_id_be", ja.net_id, 3);
    put_be(fl, "dev_addr_be", ja.dev_addr, 4);
    json_object_set_new(fl, "opt_neg", json_boolean(ja.opt_neg));
    json_object_set_new(fl, "rx1_dr_offset", json_integer(ja.rx1_dr_offset));
    json_object_set_new(fl, "rx2_data_rate", json_integer(ja.rx2_data_rate));
    json_object_set_new(fl, "rx_delay", json_integer(ja.rx_delay));
    if (ja.cflist != NULL)
        put_hex(fl, "cflist_hex", cflist, 16);
    else
        json_object_set_new(fl, "cflist_hex", json_null());
    json_object_set_new(o, "fields", fl);
    lorawan_key_destroy(&k);
    lorawan_key_destroy(&mk);
    return o;
}

static json_t *gen_rejoin(void)
{
    json_t *o = json_object(), *keys = json_object(), *fl = json_object();
    uint8_t raw[16], buf[64], mic[4];
    lorawan_key_t k;
    lorawan_phy_t p;
    memset(&p, 0, sizeof(p));
    p.mtype = LORAWAN_MTYPE_REJOIN_REQUEST;
    lorawan_rejoin_request_t *r = &p.u.rejoin;
    r->rejoin_type = (uint8_t)rnd(3);
    r->net_id = rnd(1u << 24);
    r->join_eui = (uint64_t)rnd32() << 32 | rnd32();
    r->dev_eui = (uint64_t)rnd32() << 32 | rnd32();
    r->rj_count = (uint16_t)rnd(65536);
    new_key(keys, "key", raw, &k);
    size_t len = 0;
    if (lorawan_phy_encode(&p, buf, sizeof(buf), &len) != 0 ||
        lorawan_mic_join_request(&k, buf, len - 4, mic) != 0)
        abort();
    memcpy(buf + len - 4, mic, 4);
    json_object_set_new(o, "kind", json_string("rejoin_request"));
    json_object_set_new(o, "lorawan_version", json_string("1.1"));
    put_hex(o, "phy_hex", buf, len);
    json_object_set_new(o, "keys", keys);
    json_object_set_new(fl, "rejoin_type", json_integer(r->rejoin_type));
    if (r->rejoin_type == 1)
        put_be(fl, "join_eui_be", r->join_eui, 8);
    else
        put_be(fl, "net_id_be", r->net_id, 3);
    put_be(fl, "dev_eui_be", r->dev_eui, 8);
    json_object_set_new(fl, "rj_count", json_integer(r->rj_count));
    json_object_set_new(o, "fields", fl);
    lorawan_key_destroy(&k);
    return o;
}

static json_t *gen_proprietary(void)
{
    json_t *o = json_object(), *fl = json_object();
    uint8_t body[64], buf[64];
    lorawan_phy_t p;
    memset(&p, 0, sizeof(p));
    p.mtype = LORAWAN_MTYPE_PROPRIETARY;
    p.mac_payload_len = 1 + rnd(40);
    rnd_bytes(body, p.mac_payload_len);
    p.mac_payload = body;
    size_t len = 0;
    if (lorawan_phy_encode(&p, buf, sizeof(buf), &len) != 0)
        abort();
    json_object_set_new(o, "kind", json_string("proprietary"));
    json_object_set_new(o, "lorawan_version", json_string("1.0"));
    put_hex(o, "phy_hex", buf, len);
    json_object_set_new(o, "keys", json_object());
    put_hex(fl, "payload_hex", body, p.mac_payload_len);
    json_object_set_new(o, "fields", fl);
    return o;
}

static int cmd_gen(unsigned long n, unsigned long seed, const char *path)
{
    rng_state = 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed * 0xbf58476d1ce4e5b9ull);
    if (rng_state == 0)
        rng_state = 1;
    json_t *arr = json_array();
    for (unsigned long i = 0; i < n; i++) {
        uint32_t k = rnd(20);
        json_t *o = k < 7    ? gen_data(false)
                    : k < 14 ? gen_data(true)
                    : k < 16 ? gen_join_request()
                    : k < 18 ? gen_join_accept(k == 17)
                    : k < 19 ? gen_rejoin()
                             : gen_proprietary();
        char id[64];
        snprintf(id, sizeof(id), "c-%lu-%lu", seed, i);
        json_object_set_new(o, "id", json_string(id));
        json_array_append_new(arr, o);
    }
    int rc = json_dump_file(arr, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (rc != 0) {
        fprintf(stderr, "lorawan-crosscheck: cannot write %s\n", path);
        return 2;
    }
    printf("components/lorawan encoded %lu frames\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return cmd_check(argv[2]);
    if (argc == 5 && strcmp(argv[1], "gen") == 0)
        return cmd_gen(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10), argv[4]);
    fprintf(stderr, "usage: lorawan-crosscheck check IN.json | gen N SEED OUT.json\n");
    return 2;
}
