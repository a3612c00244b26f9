/* lorawan-vectors FILE: evaluates every case of a LoRaWAN vector file (format:
 * ../shared/vectors/README.md) against components/lorawan.
 *
 * For each case the runner computes, from `input` and the README's rules, a JSON object of
 * actual values, then compares only the keys present in `expected` (recursively: nested
 * objects by their expected keys, arrays element by element). It prints one line per failing
 * case, `<id>: <what differed>`, and last `N passed, M failed`. Exit status 0 only when no
 * case failed; a case of an unknown kind fails. Exit 2 when the file cannot be read. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lorawan/cli/cli.h"
#include "lorawan/lorawan.h"

#define MAX_KEYS 6
#define MSG_CAP  512

/* Per-case state: the keys initialised for it (destroyed afterwards) and the first error. */
typedef struct vcase {
    const json_t *in;
    lorawan_key_t keys[MAX_KEYS];
    int n_keys;
    char msg[MSG_CAP];
} vcase_t;

static int fail(vcase_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(vcase_t *c, const char *fmt, ...)
{
    if (c->msg[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *in_str(vcase_t *c, const char *name)
{
    const char *s = json_string_value(json_object_get(c->in, name));
    if (s == NULL)
        fail(c, "input.%s missing or not a string", name);
    return s;
}

static int in_hex(vcase_t *c, const char *name, uint8_t *out, size_t cap, size_t *len)
{
    const char *s = in_str(c, name);
    if (s == NULL)
        return -1;
    int rc = lorawan_hex_decode(s, strlen(s), out, cap, len);
    if (rc != 0)
        return fail(c, "input.%s: %s", name, lorawan_strerror(rc));
    return 0;
}

static int in_uint(vcase_t *c, const char *name, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(c->in, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return fail(c, "input.%s missing or not an integer in 0..%" PRIu64, name, max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* As in_uint, but an absent field reads as 0. */
static int in_opt_uint(vcase_t *c, const char *name, uint64_t max, uint64_t *out)
{
    *out = 0;
    if (json_object_get(c->in, name) == NULL)
        return 0;
    return in_uint(c, name, max, out);
}

static int in_bool(vcase_t *c, const char *name, bool *out)
{
    const json_t *v = json_object_get(c->in, name);
    if (!json_is_boolean(v))
        return fail(c, "input.%s missing or not a boolean", name);
    *out = json_is_true(v);
    return 0;
}

/* A `*_be` field: human order hex of exactly `bytes` bytes, as a host integer. */
static int in_be(vcase_t *c, const char *name, size_t bytes, uint64_t *out)
{
    uint8_t b[8];
    size_t len = 0;
    if (in_hex(c, name, b, sizeof(b), &len) != 0)
        return -1;
    if (len != bytes)
        return fail(c, "input.%s: want %zu bytes, got %zu", name, bytes, len);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v << 8 | b[i];
    *out = v;
    return 0;
}

static lorawan_key_t *in_key(vcase_t *c, const char *name)
{
    uint8_t raw[LORAWAN_KEY_LEN];
    size_t len = 0;
    if (in_hex(c, name, raw, sizeof(raw), &len) != 0)
        return NULL;
    if (len != LORAWAN_KEY_LEN) {
        fail(c, "input.%s: want 16 bytes, got %zu", name, len);
        return NULL;
    }
    if (c->n_keys == MAX_KEYS || lorawan_key_init(&c->keys[c->n_keys], raw) != 0) {
        fail(c, "input.%s: cannot initialise key", name);
        return NULL;
    }
    return &c->keys[c->n_keys++];
}

static int version_11(vcase_t *c, bool *is_11)
{
    const char *v = in_str(c, "lorawan_version");
    if (v == NULL)
        return -1;
    if (strncmp(v, "1.0", 3) == 0)
        *is_11 = false;
    else if (strncmp(v, "1.1", 3) == 0)
        *is_11 = true;
    else
        return fail(c, "input.lorawan_version: unknown \"%s\"", v);
    return 0;
}

static int lib(vcase_t *c, const char *what, int rc)
{
    if (rc != 0)
        return fail(c, "%s: %s", what, lorawan_strerror(rc));
    return 0;
}

/* ---- kinds ------------------------------------------------------------------------------ */

static int run_mic_data(vcase_t *c, json_t *act, bool uplink)
{
    uint8_t phy[LORAWAN_PHY_MAX_LEN], mic[LORAWAN_MIC_LEN];
    size_t len = 0;
    uint64_t fcnt = 0, conf = 0, tx_dr = 0, tx_ch = 0;
    bool is_11 = false;
    if (version_11(c, &is_11) != 0 || in_hex(c, "phy_payload_hex", phy, sizeof(phy), &len) != 0 ||
        in_uint(c, "fcnt", UINT32_MAX, &fcnt) != 0)
        return -1;
    if (len < LORAWAN_MIC_LEN)
        return fail(c, "phy_payload_hex: %s", lorawan_strerror(LORAWAN_E_SHORT));
    size_t msg_len = len - LORAWAN_MIC_LEN;
    int rc;
    if (!is_11) {
        const lorawan_key_t *k = in_key(c, "nwk_s_key");
        if (k == NULL)
            return -1;
        rc = uplink ? lorawan_mic_data_up_10(k, phy, msg_len, (uint32_t)fcnt, mic)
                    : lorawan_mic_data_down(k, phy, msg_len, (uint32_t)fcnt, 0, mic);
    } else if (uplink) {
        const lorawan_key_t *f = in_key(c, "f_nwk_s_int_key");
        const lorawan_key_t *s = in_key(c, "s_nwk_s_int_key");
        if (f == NULL || s == NULL || in_opt_uint(c, "conf_fcnt", UINT32_MAX, &conf) != 0 ||
            in_opt_uint(c, "tx_dr", 255, &tx_dr) != 0 || in_opt_uint(c, "tx_ch", 255, &tx_ch) != 0)
            return -1;
        rc = lorawan_mic_data_up_11(f, s, phy, msg_len, (uint32_t)fcnt, (uint32_t)conf,
                                    (uint8_t)tx_dr, (uint8_t)tx_ch, mic);
    } else {
        const lorawan_key_t *s = in_key(c, "s_nwk_s_int_key");
        if (s == NULL || in_opt_uint(c, "conf_fcnt", UINT32_MAX, &conf) != 0)
            return -1;
        rc = lorawan_mic_data_down(s, phy, msg_len, (uint32_t)fcnt, (uint32_t)conf, mic);
    }
    if (lib(c, "mic", rc) != 0)
        return -1;
    lorawan_cli_json_hex(act, "mic", mic, sizeof(mic));
    return 0;
}

static int run_mic_data_up(vcase_t *c, json_t *act)
{
    return run_mic_data(c, act, true);
}

static int run_mic_data_down(vcase_t *c, json_t *act)
{
    return run_mic_data(c, act, false);
}

static int run_mic_join_request(vcase_t *c, json_t *act)
{
    uint8_t phy[LORAWAN_PHY_MAX_LEN], mic[LORAWAN_MIC_LEN];
    size_t len = 0;
    const char *kn = in_str(c, "key_name");
    if (kn == NULL || in_hex(c, "phy_payload_hex", phy, sizeof(phy), &len) != 0)
        return -1;
    const lorawan_key_t *k = in_key(c, "key");
    if (k == NULL)
        return -1;
    if (len < LORAWAN_MIC_LEN)
        return fail(c, "phy_payload_hex: %s", lorawan_strerror(LORAWAN_E_SHORT));
    if (lib(c, "mic", lorawan_mic_join_request(k, phy, len - LORAWAN_MIC_LEN, mic)) != 0)
        return -1;
    lorawan_cli_json_hex(act, "mic", mic, sizeof(mic));
    return 0;
}

static int run_mic_join_accept(vcase_t *c, json_t *act)
{
    uint8_t plain[LORAWAN_PHY_MAX_LEN], mic[LORAWAN_MIC_LEN];
    size_t len = 0;
    bool is_11 = false;
    if (version_11(c, &is_11) != 0 ||
        in_hex(c, "join_accept_plain_hex", plain, sizeof(plain), &len) != 0)
        return -1;
    const lorawan_key_t *k = in_key(c, "key");
    if (k == NULL)
        return -1;
    int rc;
    /* README: lorawan_version selects the formula; a 1.1 server answering with OptNeg = 0
     * uses the 1.0 formula, recognisable by the absence of join_req_type. */
    if (is_11 && json_object_get(c->in, "join_req_type") != NULL) {
        uint64_t jrt = 0, eui = 0, nonce = 0;
        if (in_uint(c, "join_req_type", 255, &jrt) != 0 || in_be(c, "join_eui_be", 8, &eui) != 0 ||
            in_uint(c, "dev_nonce", 65535, &nonce) != 0)
            return -1;
        rc = lorawan_mic_join_accept_11(k, (uint8_t)jrt, eui, (uint16_t)nonce, plain, len, mic);
    } else {
        rc = lorawan_mic_join_accept_10(k, plain, len, mic);
    }
    if (lib(c, "mic", rc) != 0)
        return -1;
    lorawan_cli_json_hex(act, "mic", mic, sizeof(mic));
    return 0;
}

static void join_accept_json(json_t *act, const lorawan_join_accept_t *ja)
{
    json_object_set_new(act, "join_nonce", json_integer(ja->join_nonce));
    lorawan_cli_json_be(act, "net_id_be", ja->net_id, 3);
    lorawan_cli_json_be(act, "dev_addr_be", ja->dev_addr, 4);
    json_object_set_new(act, "dl_settings",
                        json_pack("{s:b,s:i,s:i}", "opt_neg", ja->opt_neg, "rx1_dr_offset",
                                  ja->rx1_dr_offset, "rx2_data_rate", ja->rx2_data_rate));
    json_object_set_new(act, "rx_delay", json_integer(ja->rx_delay));
    if (ja->cflist != NULL)
        lorawan_cli_json_hex(act, "cflist_hex", ja->cflist, LORAWAN_CFLIST_LEN);
    else
        json_object_set_new(act, "cflist_hex", json_null());
    lorawan_cli_json_hex(act, "mic", ja->mic, LORAWAN_MIC_LEN);
}

static int run_decrypt_join_accept(vcase_t *c, json_t *act)
{
    uint8_t phy[LORAWAN_PHY_MAX_LEN], plain[LORAWAN_JOIN_ACCEPT_CFLIST_LEN];
    size_t len = 0;
    if (in_hex(c, "phy_payload_hex", phy, sizeof(phy), &len) != 0)
        return -1;
    const lorawan_key_t *k = in_key(c, "key");
    if (k == NULL)
        return -1;
    if (lib(c, "decrypt", lorawan_join_accept_decrypt(k, phy, len, plain, sizeof(plain))) != 0)
        return -1;
    lorawan_cli_json_hex(act, "decrypted_phy_payload_hex", plain, len);
    lorawan_join_accept_t ja;
    if (lib(c, "parse", lorawan_join_accept_parse(plain, len, &ja)) != 0)
        return -1;
    join_accept_json(act, &ja);
    return 0;
}

static int run_encrypt_frmpayload(vcase_t *c, json_t *act)
{
    uint8_t pt[LORAWAN_PHY_MAX_LEN], ct[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    uint64_t addr = 0, fcnt = 0;
    const char *field = in_str(c, "field");
    const char *dir = in_str(c, "direction");
    if (field == NULL || dir == NULL || in_be(c, "dev_addr_be", 4, &addr) != 0 ||
        in_uint(c, "fcnt", UINT32_MAX, &fcnt) != 0 ||
        in_hex(c, "plaintext_hex", pt, sizeof(pt), &len) != 0)
        return -1;
    bool down;
    if (strcmp(dir, "up") == 0)
        down = false;
    else if (strcmp(dir, "down") == 0)
        down = true;
    else
        return fail(c, "input.direction: unknown \"%s\"", dir);
    const lorawan_key_t *k = in_key(c, "key");
    if (k == NULL)
        return -1;
    if (strcmp(field, "FRMPayload") == 0) {
        lorawan_payload_encrypt(k, down, (uint32_t)addr, (uint32_t)fcnt, pt, len, ct);
    } else if (strcmp(field, "FOpts") == 0) {
        bool afcnt = false;
        if (json_object_get(c->in, "a_fcnt_down") != NULL && in_bool(c, "a_fcnt_down", &afcnt))
            return -1;
        if (lib(c, "fopts",
                lorawan_fopts_encrypt(k, down, afcnt, (uint32_t)addr, (uint32_t)fcnt, pt, len,
                                      ct)) != 0)
            return -1;
    } else {
        return fail(c, "input.field: unknown \"%s\"", field);
    }
    lorawan_cli_json_hex(act, "ciphertext_hex", ct, len);
    return 0;
}

static int run_derive_keys_1_0(vcase_t *c, json_t *act)
{
    uint64_t jn = 0, net = 0, dn = 0;
    uint8_t nwk[16], app[16];
    const lorawan_key_t *k = in_key(c, "app_key");
    if (k == NULL || in_uint(c, "join_nonce", 0xffffff, &jn) != 0 ||
        in_be(c, "net_id_be", 3, &net) != 0 || in_uint(c, "dev_nonce", 65535, &dn) != 0)
        return -1;
    if (lib(c, "derive",
            lorawan_derive_keys_10(k, (uint32_t)jn, (uint32_t)net, (uint16_t)dn, nwk, app)) != 0)
        return -1;
    lorawan_cli_json_hex(act, "nwk_s_key", nwk, 16);
    lorawan_cli_json_hex(act, "app_s_key", app, 16);
    return 0;
}

static int run_derive_keys_1_1(vcase_t *c, json_t *act)
{
    const char *how = in_str(c, "derivation");
    if (how == NULL)
        return -1;
    const lorawan_key_t *nwk = in_key(c, "nwk_key");
    if (nwk == NULL)
        return -1;
    if (strcmp(how, "js_keys") == 0) {
        uint64_t dev_eui = 0;
        uint8_t ji[16], je[16];
        if (in_be(c, "dev_eui_be", 8, &dev_eui) != 0 ||
            lib(c, "derive", lorawan_derive_js_keys(nwk, dev_eui, ji, je)) != 0)
            return -1;
        lorawan_cli_json_hex(act, "js_int_key", ji, 16);
        lorawan_cli_json_hex(act, "js_enc_key", je, 16);
        return 0;
    }
    if (strcmp(how, "session_keys") != 0)
        return fail(c, "input.derivation: unknown \"%s\"", how);
    uint64_t jn = 0, eui = 0, dn = 0;
    lorawan_keys_11_t ks;
    const lorawan_key_t *app = in_key(c, "app_key");
    if (app == NULL || in_uint(c, "join_nonce", 0xffffff, &jn) != 0 ||
        in_be(c, "join_eui_be", 8, &eui) != 0 || in_uint(c, "dev_nonce", 65535, &dn) != 0)
        return -1;
    if (lib(c, "derive", lorawan_derive_keys_11(nwk, app, (uint32_t)jn, eui, (uint16_t)dn, &ks)) !=
        0)
        return -1;
    lorawan_cli_json_hex(act, "f_nwk_s_int_key", ks.f_nwk_s_int_key, 16);
    lorawan_cli_json_hex(act, "s_nwk_s_int_key", ks.s_nwk_s_int_key, 16);
    lorawan_cli_json_hex(act, "nwk_s_enc_key", ks.nwk_s_enc_key, 16);
    lorawan_cli_json_hex(act, "app_s_key", ks.app_s_key, 16);
    return 0;
}

static int run_decode_phypayload(vcase_t *c, json_t *act)
{
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    lorawan_phy_t p;
    if (in_hex(c, "phy_payload_hex", phy, sizeof(phy), &len) != 0)
        return -1;
    int rc = lorawan_phy_decode(phy, len, &p);
    if (rc == LORAWAN_E_MAJOR) {
        /* An RFU Major makes the rest of the frame undefined (LoRaWAN 1.0.4 §4.2.2): report
         * what MHDR says and the raw bytes, so an expected mtype/major can still compare. */
        json_object_set_new(act, "mtype",
                            json_string(lorawan_mtype_name((lorawan_mtype_t)(phy[0] >> 5))));
        json_object_set_new(act, "major", json_integer(phy[0] & 0x03));
        lorawan_cli_json_hex(act, "payload_after_mhdr_hex", phy + 1, len - 1);
        return 0;
    }
    if (lib(c, "decode", rc) != 0)
        return -1;
    json_object_set_new(act, "mtype", json_string(lorawan_mtype_name(p.mtype)));
    json_object_set_new(act, "major", json_integer(p.major));
    if (lorawan_mtype_is_data(p.mtype, NULL)) {
        const lorawan_data_t *d = &p.u.data;
        lorawan_cli_json_be(act, "dev_addr_be", d->dev_addr, 4);
        json_t *fc = json_object();
        /* The bits of the other direction do not exist there and read as false. */
        json_object_set_new(fc, "adr", json_boolean(d->fctrl.adr));
        json_object_set_new(fc, "adr_ack_req", json_boolean(d->fctrl.adr_ack_req));
        json_object_set_new(fc, "class_b", json_boolean(d->fctrl.class_b));
        json_object_set_new(fc, "f_pending", json_boolean(d->fctrl.f_pending));
        json_object_set_new(fc, "ack", json_boolean(d->fctrl.ack));
        json_object_set_new(fc, "fopts_len", json_integer(d->fctrl.fopts_len));
        json_object_set_new(act, "fctrl", fc);
        json_object_set_new(act, "fcnt16", json_integer(d->fcnt16));
        lorawan_cli_json_hex(act, "fopts_hex", d->fopts, d->fopts_len);
        json_object_set_new(act, "fport", d->has_fport ? json_integer(d->fport) : json_null());
        lorawan_cli_json_hex(act, "frm_payload_hex", d->frm_payload, d->frm_payload_len);
        lorawan_cli_json_hex(act, "mic", p.mic, LORAWAN_MIC_LEN);
    } else if (p.mtype == LORAWAN_MTYPE_JOIN_REQUEST) {
        lorawan_cli_json_be(act, "join_eui_be", p.u.join_request.join_eui, 8);
        lorawan_cli_json_be(act, "dev_eui_be", p.u.join_request.dev_eui, 8);
        json_object_set_new(act, "dev_nonce", json_integer(p.u.join_request.dev_nonce));
        lorawan_cli_json_hex(act, "mic", p.mic, LORAWAN_MIC_LEN);
    } else if (p.mtype == LORAWAN_MTYPE_REJOIN_REQUEST) {
        const lorawan_rejoin_request_t *r = &p.u.rejoin;
        json_object_set_new(act, "rejoin_type", json_integer(r->rejoin_type));
        if (r->rejoin_type == 1)
            lorawan_cli_json_be(act, "join_eui_be", r->join_eui, 8);
        else
            lorawan_cli_json_be(act, "net_id_be", r->net_id, 3);
        lorawan_cli_json_be(act, "dev_eui_be", r->dev_eui, 8);
        json_object_set_new(act, "rj_count", json_integer(r->rj_count));
        lorawan_cli_json_hex(act, "mic", p.mic, LORAWAN_MIC_LEN);
    } else {
        /* Proprietary (README caveat 6) and the still encrypted join-accept. */
        lorawan_cli_json_hex(act, "payload_after_mhdr_hex", p.mac_payload, p.mac_payload_len);
    }
    return 0;
}

static int direction_uplink(vcase_t *c, bool *uplink)
{
    const char *dir = in_str(c, "direction");
    if (dir == NULL)
        return -1;
    if (strcmp(dir, "uplink") == 0)
        *uplink = true;
    else if (strcmp(dir, "downlink") == 0)
        *uplink = false;
    else
        return fail(c, "input.direction: unknown \"%s\"", dir);
    return 0;
}

static json_t *mac_field_json(const lorawan_mac_field_t *f, int64_t v)
{
    switch (f->kind) {
    case LORAWAN_MAC_FIELD_BOOL:
        return json_boolean(v != 0);
    case LORAWAN_MAC_FIELD_CLASS:
        if (v >= 0 && v <= 2)
            return json_string((const char[][2]){"A", "B", "C"}[v]);
        return json_integer(v);
    default:
        return json_integer(v);
    }
}

static int run_encode_mac_commands(vcase_t *c, json_t *act)
{
    bool uplink = false;
    const json_t *cmds = json_object_get(c->in, "commands");
    if (direction_uplink(c, &uplink) != 0)
        return -1;
    if (!json_is_array(cmds))
        return fail(c, "input.commands missing or not an array");
    lorawan_mac_cmd_t list[64];
    size_t n = json_array_size(cmds);
    if (n > 64)
        return fail(c, "input.commands: more than 64");
    for (size_t i = 0; i < n; i++) {
        const json_t *jc = json_array_get(cmds, i);
        const json_t *jcid = json_object_get(jc, "cid");
        const char *name = json_string_value(json_object_get(jc, "name"));
        lorawan_mac_cmd_t *m = &list[i];
        memset(m, 0, sizeof(*m));
        m->uplink = uplink;
        if (json_is_integer(jcid) && json_integer_value(jcid) >= 0 &&
            json_integer_value(jcid) <= 255) {
            m->cid = (uint8_t)json_integer_value(jcid);
        } else {
            bool up = false;
            if (name == NULL || lorawan_mac_cmd_by_name(name, &m->cid, &up) != 0 || up != uplink)
                return fail(c, "commands[%zu]: no usable cid or name", i);
        }
        const char *def_name = NULL;
        const lorawan_mac_field_t *fields = NULL;
        size_t nf = 0;
        if (lorawan_mac_cmd_info(m->cid, uplink, &def_name, NULL, &fields, &nf) != 0)
            return fail(c, "commands[%zu]: cid 0x%02x unknown in this direction", i, m->cid);
        if (name != NULL && strcmp(name, def_name) != 0)
            return fail(c, "commands[%zu]: name %s does not match cid 0x%02x (%s)", i, name, m->cid,
                        def_name);
        const json_t *jf = json_object_get(jc, "fields");
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)jf, key, val)
        {
            const lorawan_mac_field_t *f = NULL;
            for (size_t j = 0; j < nf; j++)
                if (strcmp(fields[j].name, key) == 0)
                    f = &fields[j];
            if (f == NULL)
                return fail(c, "commands[%zu]: %s has no field %s", i, def_name, key);
            int64_t v;
            if (json_is_boolean(val)) {
                v = json_is_true(val);
            } else if (json_is_integer(val)) {
                v = json_integer_value(val);
            } else if (f->kind == LORAWAN_MAC_FIELD_CLASS && json_is_string(val) &&
                       strlen(json_string_value(val)) == 1 &&
                       strchr("ABC", json_string_value(val)[0]) != NULL) {
                v = json_string_value(val)[0] - 'A';
            } else {
                return fail(c, "commands[%zu].%s: bad value", i, key);
            }
            int rc = lorawan_mac_field_set(m, f, v);
            if (rc != 0)
                return fail(c, "commands[%zu].%s: %s", i, key, lorawan_strerror(rc));
        }
    }
    uint8_t out[LORAWAN_PHY_MAX_LEN * 2];
    size_t len = 0;
    if (lib(c, "encode", lorawan_mac_cmds_encode(list, n, out, sizeof(out), &len)) != 0)
        return -1;
    lorawan_cli_json_hex(act, "bytes_hex", out, len);
    return 0;
}

static int run_decode_mac_commands(vcase_t *c, json_t *act)
{
    bool uplink = false;
    uint8_t buf[LORAWAN_PHY_MAX_LEN];
    size_t len = 0, n = 0, used = 0;
    lorawan_mac_cmd_t list[LORAWAN_PHY_MAX_LEN];
    if (direction_uplink(c, &uplink) != 0 || in_hex(c, "bytes_hex", buf, sizeof(buf), &len) != 0)
        return -1;
    int rc = lorawan_mac_cmds_decode(buf, len, uplink, list, LORAWAN_PHY_MAX_LEN, &n, &used);
    if (rc != 0)
        return fail(c, "decode: %s at byte %zu after %zu commands", lorawan_strerror(rc), used, n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        const lorawan_mac_field_t *fields = NULL;
        size_t nf = 0;
        (void)lorawan_mac_cmd_info(list[i].cid, uplink, &name, NULL, &fields, &nf);
        json_t *jc = json_pack("{s:i,s:s}", "cid", list[i].cid, "name", name);
        if (nf > 0) {
            json_t *jf = json_object();
            for (size_t j = 0; j < nf; j++)
                json_object_set_new(
                    jf, fields[j].name,
                    mac_field_json(&fields[j], lorawan_mac_field_get(&list[i], &fields[j])));
            json_object_set_new(jc, "fields", jf);
        }
        json_array_append_new(arr, jc);
    }
    json_object_set_new(act, "commands", arr);
    return 0;
}

static int run_band_datarate(vcase_t *c, json_t *act)
{
    const char *region = in_str(c, "region");
    const char *rp = in_str(c, "regional_parameters");
    uint64_t dr = 0;
    bool rep = false;
    if (region == NULL || rp == NULL || in_uint(c, "data_rate", 255, &dr) != 0)
        return -1;
    if (json_object_get(c->in, "repeater_compatible") != NULL &&
        in_bool(c, "repeater_compatible", &rep) != 0)
        return -1;
    const lorawan_band_t *band = lorawan_band_find(region);
    if (band == NULL)
        return fail(c, "input.region: unknown band \"%s\"", region);
    lorawan_rp_rev_t rev;
    if (lib(c, "regional_parameters", lorawan_rp_rev_parse(rp, &rev)) != 0)
        return -1;
    lorawan_dr_t d;
    if (lib(c, "datarate", lorawan_band_datarate(band, rev, (uint8_t)dr, rep, &d)) != 0)
        return -1;
    switch (d.modulation) {
    case LORAWAN_MOD_LORA:
        json_object_set_new(act, "modulation", json_string("LORA"));
        json_object_set_new(act, "spreading_factor", json_integer(d.spreading_factor));
        json_object_set_new(act, "bandwidth_hz", json_integer(d.bandwidth_hz));
        break;
    case LORAWAN_MOD_FSK:
        json_object_set_new(act, "modulation", json_string("FSK"));
        json_object_set_new(act, "bit_rate_bps", json_integer(d.bit_rate_bps));
        break;
    case LORAWAN_MOD_LR_FHSS:
        json_object_set_new(act, "modulation", json_string("LR_FHSS"));
        json_object_set_new(act, "occupied_channel_width_hz",
                            json_integer(d.occupied_channel_width_hz));
        break;
    }
    if (d.coding_rate != NULL)
        json_object_set_new(act, "coding_rate", json_string(d.coding_rate));
    json_object_set_new(act, "max_mac_payload_m", json_integer(d.max_mac_payload_m));
    json_object_set_new(act, "max_frm_payload_n", json_integer(d.max_frm_payload_n));
    const char *link = d.uplink && d.downlink ? "uplink+downlink"
                       : d.uplink             ? "uplink"
                       : d.downlink           ? "downlink"
                                              : "none";
    json_object_set_new(act, "link", json_string(link));
    return 0;
}

typedef struct kind {
    const char *name;
    int (*run)(vcase_t *c, json_t *act);
} kind_t;

static const kind_t kinds[] = {
    {"mic_data_up", run_mic_data_up},
    {"mic_data_down", run_mic_data_down},
    {"mic_join_request", run_mic_join_request},
    {"mic_join_accept", run_mic_join_accept},
    {"decrypt_join_accept", run_decrypt_join_accept},
    {"encrypt_frmpayload", run_encrypt_frmpayload},
    {"derive_keys_1_0", run_derive_keys_1_0},
    {"derive_keys_1_1", run_derive_keys_1_1},
    {"decode_phypayload", run_decode_phypayload},
    {"encode_mac_commands", run_encode_mac_commands},
    {"decode_mac_commands", run_decode_mac_commands},
    {"band_datarate", run_band_datarate},
};

/* ---- comparison ------------------------------------------------------------------------- */

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static bool same_scalar(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

/* Compares `exp` against `act` on the keys `exp` has; records the first difference. */
static bool compare(vcase_t *c, const char *path, const json_t *exp, const json_t *act)
{
    char sub[256];
    if (json_is_object(exp)) {
        if (!json_is_object(act)) {
            fail(c, "%s: expected an object", path);
            return false;
        }
        const char *key;
        const json_t *ev;
        json_object_foreach((json_t *)exp, key, ev)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
            const json_t *av = json_object_get(act, key);
            if (av == NULL) {
                char *e = dump(ev);
                fail(c, "%s: expected %s, not produced", sub, e ? e : "?");
                free(e);
                return false;
            }
            if (!compare(c, sub, ev, av))
                return false;
        }
        return true;
    }
    if (json_is_array(exp)) {
        if (!json_is_array(act) || json_array_size(act) != json_array_size(exp)) {
            char *a = dump(act);
            fail(c, "%s: expected %zu elements, got %s", path, json_array_size(exp), a ? a : "?");
            free(a);
            return false;
        }
        for (size_t i = 0; i < json_array_size(exp); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (!compare(c, sub, json_array_get(exp, i), json_array_get(act, i)))
                return false;
        }
        return true;
    }
    if (!same_scalar(exp, act)) {
        char *e = dump(exp), *a = dump(act);
        fail(c, "%s: expected %s, got %s", path, e ? e : "?", a ? a : "?");
        free(e);
        free(a);
        return false;
    }
    return true;
}

static bool run_case(const json_t *jc, vcase_t *c)
{
    memset(c, 0, sizeof(*c));
    const char *kind = json_string_value(json_object_get(jc, "kind"));
    const json_t *exp = json_object_get(jc, "expected");
    c->in = json_object_get(jc, "input");
    if (kind == NULL || !json_is_object(c->in) || !json_is_object(exp)) {
        fail(c, "malformed case (kind, input or expected missing)");
        return false;
    }
    const kind_t *k = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, kind) == 0)
            k = &kinds[i];
    if (k == NULL) {
        fail(c, "unknown kind \"%s\"", kind);
        return false;
    }
    json_t *act = json_object();
    bool ok = k->run(c, act) == 0 && compare(c, "", exp, act);
    json_decref(act);
    for (int i = 0; i < c->n_keys; i++)
        lorawan_key_destroy(&c->keys[i]);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: lorawan-vectors FILE\n");
        return 2;
    }
    json_error_t err;
    json_t *root = json_load_file(argv[1], 0, &err);
    if (root == NULL || !json_is_array(root)) {
        fprintf(stderr, "lorawan-vectors: %s: %s (line %d)\n", argv[1],
                root ? "not a JSON array" : err.text, root ? 0 : err.line);
        json_decref(root);
        return 2;
    }
    size_t passed = 0, failed = 0;
    static vcase_t c;
    for (size_t i = 0; i < json_array_size(root); i++) {
        const json_t *jc = json_array_get(root, i);
        if (run_case(jc, &c)) {
            passed++;
        } else {
            const char *id = json_string_value(json_object_get(jc, "id"));
            printf("%s: %s\n", id ? id : "(no id)", c.msg);
            failed++;
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    json_decref(root);
    return failed == 0 ? 0 : 1;
}
