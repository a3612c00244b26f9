/* The simulated fleet: devices and gateways derived from a seed or read from a keys file,
 * and the API requests that provision them on a stack (The Things Stack's paths and JSON
 * names: the Identity Server's end device, then its Network Server and Join Server parts). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "sim_private.h"

void sim_hex16(const uint8_t k[LORAWAN_KEY_LEN], char out[33])
{
    (void)lorawan_hex_encode(k, LORAWAN_KEY_LEN, out, 33);
}

void sim_eui_hex(uint64_t eui, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, eui);
}

/* SHA-256(seed "/" label "/" index): the fleet's one source of keys and identifiers. */
static void derive(const char *seed, const char *label, uint32_t index, uint8_t out[32])
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s/%s/%" PRIu32, seed, label, index);
    SHA256((const unsigned char *)buf, n < 0 ? 0 : (size_t)n, out);
}

static uint64_t derive_u64(const char *seed, const char *label)
{
    uint8_t h[32];
    derive(seed, label, 0, h);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    return v;
}

static void derive_key(const char *seed, const char *label, uint32_t index, uint8_t out[16])
{
    uint8_t h[32];
    derive(seed, label, index, h);
    memcpy(out, h, 16);
}

void sim_fleet_device(const sim_fleet_opts_t *o, uint32_t index, sim_dev_t *d)
{
    memset(d, 0, sizeof *d);
    d->version = o->version;
    d->otaa = o->otaa;
    /* DevEUIs count up from a seed-chosen prefix (the low 32 bits start at 1). */
    d->dev_eui = o->has_dev_eui_start
                     ? o->dev_eui_start + index
                     : (derive_u64(o->seed, "dev_eui") & ~0xffffffffull) + index + 1;
    d->join_eui = o->has_join_eui ? o->join_eui : derive_u64(o->seed, "join_eui");
    derive_key(o->seed, "app_key", index, d->app_key);
    if (o->version == SIM_MAC_1_1)
        derive_key(o->seed, "nwk_key", index, d->nwk_key);
    else
        memcpy(d->nwk_key, d->app_key, LORAWAN_KEY_LEN);
    d->dev_nonce = o->dev_nonce_start;
    if (o->otaa)
        return;
    /* ABP: DevAddr 26xxxxxx unless given, and a session of the device's version. */
    uint32_t base =
        o->has_dev_addr_start
            ? o->dev_addr_start
            : 0x26000000u | ((uint32_t)(derive_u64(o->seed, "dev_addr") >> 40) & 0x00ff0000u);
    d->dev_addr = base + index;
    derive_key(o->seed, "f_nwk_s_int_key", index, d->f_nwk_s_int_key);
    if (o->version == SIM_MAC_1_1) {
        derive_key(o->seed, "s_nwk_s_int_key", index, d->s_nwk_s_int_key);
        derive_key(o->seed, "nwk_s_enc_key", index, d->nwk_s_enc_key);
        d->opt_neg = true;
        d->reset_ind = true; /* LoRaWAN 1.1 §5.1: ABP devices send ResetInd until ResetConf */
    } else {
        memcpy(d->s_nwk_s_int_key, d->f_nwk_s_int_key, LORAWAN_KEY_LEN);
        memcpy(d->nwk_s_enc_key, d->f_nwk_s_int_key, LORAWAN_KEY_LEN);
    }
    derive_key(o->seed, "app_s_key", index, d->app_s_key);
    d->active = true;
    d->f_cnt_up = o->f_cnt_start;
}

uint64_t sim_fleet_gateway_eui(const sim_fleet_opts_t *o, uint32_t index)
{
    if (o->has_gw_eui_start)
        return o->gw_eui_start + index;
    return (derive_u64(o->seed, "gateway_eui") & ~0xffffffffull) + index + 1;
}

void sim_fleet_device_id(const sim_dev_t *d, char *buf, size_t len)
{
    snprintf(buf, len, "sim-%016" PRIx64, d->dev_eui);
}

void sim_fleet_gateway_id(uint64_t eui, char *buf, size_t len)
{
    snprintf(buf, len, "sim-gw-%016" PRIx64, eui);
}

/* ---- keys files --------------------------------------------------------------------------- */

static int get_hex(json_t *o, const char *name, uint8_t *out, size_t n, bool *found, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, name);
    *found = false;
    if (v == NULL)
        return 0;
    size_t got = 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != 2 * n ||
        lorawan_hex_decode(json_string_value(v), 2 * n, out, n, &got) != 0 || got != n) {
        snprintf(err, errlen, "`%s` must be %zu hex digits", name, 2 * n);
        return -1;
    }
    *found = true;
    return 0;
}

static int get_u64(json_t *o, const char *name, uint64_t *out, size_t bytes, char *err,
                   size_t errlen)
{
    uint8_t b[8];
    bool found;
    if (get_hex(o, name, b, bytes, &found, err, errlen) != 0)
        return -1;
    if (found) {
        uint64_t v = 0;
        for (size_t i = 0; i < bytes; i++)
            v = v << 8 | b[i];
        *out = v;
    }
    return 0;
}

/* An optional unsigned integer field 0..max into *out. */
static int get_uint(json_t *o, const char *name, uint64_t max, uint64_t *out, bool *found,
                    char *err, size_t errlen)
{
    json_t *v = json_object_get(o, name);
    *found = v != NULL;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        snprintf(err, errlen, "`%s` must be an integer 0..%llu", name, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_flag(json_t *o, const char *name, bool *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "`%s` must be true or false", name);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int sim_fleet_parse_line(const char *line, sim_dev_t *d, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    int rc = -1;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object: %s", jerr.text);
        goto out;
    }
    json_t *v = json_object_get(o, "lorawan_version");
    if (v != NULL &&
        (!json_is_string(v) || sim_mac_version_parse(json_string_value(v), &d->version) != 0)) {
        snprintf(err, errlen, "`lorawan_version` must be 1.0.2, 1.0.3, 1.0.4 or 1.1");
        goto out;
    }
    uint64_t addr = d->dev_addr;
    bool app_key, nwk_key, nwk_s_key, f_key;
    if (get_u64(o, "dev_eui", &d->dev_eui, 8, err, errlen) != 0 ||
        get_u64(o, "join_eui", &d->join_eui, 8, err, errlen) != 0 ||
        get_u64(o, "dev_addr", &addr, 4, err, errlen) != 0 ||
        get_hex(o, "app_key", d->app_key, 16, &app_key, err, errlen) != 0 ||
        get_hex(o, "nwk_key", d->nwk_key, 16, &nwk_key, err, errlen) != 0 ||
        get_hex(o, "nwk_s_key", d->f_nwk_s_int_key, 16, &nwk_s_key, err, errlen) != 0 ||
        get_hex(o, "f_nwk_s_int_key", d->f_nwk_s_int_key, 16, &f_key, err, errlen) != 0)
        goto out;
    d->dev_addr = (uint32_t)addr;
    if (app_key && !nwk_key && d->version != SIM_MAC_1_1)
        memcpy(d->nwk_key, d->app_key, 16);
    /* OTAA when it has root keys (a joined OTAA device also has a session), unless the line
     * says "activation". */
    d->otaa = app_key || nwk_key;
    v = json_object_get(o, "activation");
    if (v != NULL) {
        const char *a = json_string_value(v);
        if (a == NULL || (strcmp(a, "otaa") != 0 && strcmp(a, "abp") != 0)) {
            snprintf(err, errlen, "`activation` must be \"otaa\" or \"abp\"");
            goto out;
        }
        d->otaa = strcmp(a, "otaa") == 0;
    }
    if (nwk_s_key) {
        memcpy(d->s_nwk_s_int_key, d->f_nwk_s_int_key, 16);
        memcpy(d->nwk_s_enc_key, d->f_nwk_s_int_key, 16);
        d->active = true;
        d->opt_neg = false;
    }
    if (f_key) {
        bool sk, ek;
        if (get_hex(o, "s_nwk_s_int_key", d->s_nwk_s_int_key, 16, &sk, err, errlen) != 0 ||
            get_hex(o, "nwk_s_enc_key", d->nwk_s_enc_key, 16, &ek, err, errlen) != 0)
            goto out;
        if (!sk || !ek) {
            snprintf(err, errlen, "`f_nwk_s_int_key` needs `s_nwk_s_int_key` and `nwk_s_enc_key`");
            goto out;
        }
        d->active = true;
        d->opt_neg = true;
        d->reset_ind = !d->otaa; /* LoRaWAN 1.1 §5.1: an ABP device's ResetInd */
    }
    bool found;
    if (get_hex(o, "app_s_key", d->app_s_key, 16, &found, err, errlen) != 0)
        goto out;
    /* The session's state, as --keys-out writes it at the end of a run. */
    struct {
        const char *name;
        uint64_t max;
        void *dst;
        int size;
        bool *has;
    } ints[] = {
        {"f_cnt_up", UINT32_MAX, &d->f_cnt_up, 4, NULL},
        {"dev_nonce", 65535, &d->dev_nonce, 2, NULL},
        {"n_f_cnt_down", UINT32_MAX, &d->n_f_cnt_down, 4, &d->has_n_f_cnt_down},
        {"a_f_cnt_down", UINT32_MAX, &d->a_f_cnt_down, 4, &d->has_a_f_cnt_down},
        {"rx1_delay", 15, &d->rx1_delay_s, 1, NULL},
        {"rx1_dr_offset", 7, &d->rx1_dr_offset, 1, NULL},
        {"rx2_dr", 15, &d->rx2_dr, 1, NULL},
        {"rx2_freq_hz", UINT32_MAX, &d->rx2_freq_hz, 4, NULL},
        {"dr", 15, &d->dr, 1, NULL},
        {"tx_power", 15, &d->tx_power, 1, NULL},
        {"nb_trans", 15, &d->nb_trans, 1, NULL},
        {"ack_f_cnt_down", UINT32_MAX, &d->ack_f_cnt_down, 4, NULL},
        {"last_conf_f_cnt_up", UINT32_MAX, &d->last_conf_f_cnt_up, 4, NULL},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        uint64_t x = 0;
        if (get_uint(o, ints[i].name, ints[i].max, &x, &found, err, errlen) != 0)
            goto out;
        if (!found)
            continue;
        if (ints[i].size == 4)
            *(uint32_t *)ints[i].dst = (uint32_t)x;
        else if (ints[i].size == 2)
            *(uint16_t *)ints[i].dst = (uint16_t)x;
        else
            *(uint8_t *)ints[i].dst = (uint8_t)x;
        if (ints[i].has != NULL)
            *ints[i].has = true;
    }
    if (get_flag(o, "ack_next", &d->ack_next, err, errlen) != 0 ||
        get_flag(o, "rekey_ind", &d->rekey_ind, err, errlen) != 0 ||
        get_flag(o, "reset_ind", &d->reset_ind, err, errlen) != 0)
        goto out;
    v = json_object_get(o, "mac_out");
    if (v != NULL) {
        size_t n = 0;
        const char *h = json_string_value(v);
        if (h == NULL || strlen(h) > 2 * LORAWAN_FOPTS_MAX_LEN ||
            lorawan_hex_decode(h, strlen(h), d->mac_out, sizeof d->mac_out, &n) != 0) {
            snprintf(err, errlen, "`mac_out` must be hex, at most 15 bytes");
            goto out;
        }
        d->mac_out_len = (uint8_t)n;
    }
    if (!d->otaa && !d->active) {
        snprintf(err, errlen, "a device needs `app_key` (OTAA) or session keys (ABP)");
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

json_t *sim_fleet_line(const sim_dev_t *d)
{
    char deveui[17], joineui[17], hex[33];
    sim_eui_hex(d->dev_eui, deveui);
    sim_eui_hex(d->join_eui, joineui);
    json_t *o = json_pack("{sssssssssI}", "dev_eui", deveui, "join_eui", joineui, "lorawan_version",
                          sim_versions_name(d->version), "activation", d->otaa ? "otaa" : "abp",
                          "dev_nonce", (json_int_t)d->dev_nonce);
    if (d->otaa) {
        sim_hex16(d->app_key, hex);
        json_object_set_new(o, "app_key", json_string(hex));
        if (d->version == SIM_MAC_1_1) {
            sim_hex16(d->nwk_key, hex);
            json_object_set_new(o, "nwk_key", json_string(hex));
        }
    }
    if (!d->active)
        return o;
    char addr[9];
    snprintf(addr, sizeof addr, "%08" PRIx32, d->dev_addr);
    json_object_set_new(o, "dev_addr", json_string(addr));
    if (d->opt_neg) {
        sim_hex16(d->f_nwk_s_int_key, hex);
        json_object_set_new(o, "f_nwk_s_int_key", json_string(hex));
        sim_hex16(d->s_nwk_s_int_key, hex);
        json_object_set_new(o, "s_nwk_s_int_key", json_string(hex));
        sim_hex16(d->nwk_s_enc_key, hex);
        json_object_set_new(o, "nwk_s_enc_key", json_string(hex));
    } else {
        sim_hex16(d->f_nwk_s_int_key, hex);
        json_object_set_new(o, "nwk_s_key", json_string(hex));
    }
    sim_hex16(d->app_s_key, hex);
    json_object_set_new(o, "app_s_key", json_string(hex));
    json_object_set_new(o, "f_cnt_up", json_integer(d->f_cnt_up));
    if (d->has_n_f_cnt_down)
        json_object_set_new(o, "n_f_cnt_down", json_integer(d->n_f_cnt_down));
    if (d->has_a_f_cnt_down)
        json_object_set_new(o, "a_f_cnt_down", json_integer(d->a_f_cnt_down));
    json_object_set_new(o, "rx1_delay", json_integer(d->rx1_delay_s));
    json_object_set_new(o, "rx1_dr_offset", json_integer(d->rx1_dr_offset));
    json_object_set_new(o, "rx2_dr", json_integer(d->rx2_dr));
    json_object_set_new(o, "rx2_freq_hz", json_integer(d->rx2_freq_hz));
    json_object_set_new(o, "dr", json_integer(d->dr));
    json_object_set_new(o, "tx_power", json_integer(d->tx_power));
    json_object_set_new(o, "nb_trans", json_integer(d->nb_trans));
    json_object_set_new(o, "ack_next", json_boolean(d->ack_next));
    json_object_set_new(o, "ack_f_cnt_down", json_integer(d->ack_f_cnt_down));
    json_object_set_new(o, "last_conf_f_cnt_up", json_integer(d->last_conf_f_cnt_up));
    json_object_set_new(o, "rekey_ind", json_boolean(d->rekey_ind));
    json_object_set_new(o, "reset_ind", json_boolean(d->reset_ind));
    char mac[2 * LORAWAN_FOPTS_MAX_LEN + 1];
    (void)lorawan_hex_encode(d->mac_out, d->mac_out_len, mac, sizeof mac);
    json_object_set_new(o, "mac_out", json_string(mac));
    return o;
}

/* ---- provisioning ------------------------------------------------------------------------- */

/* "user:admin" → "users/admin"; "org:x" → "organizations/x". */
static void owner_path(const char *owner, char *buf, size_t len)
{
    if (strncmp(owner, "org:", 4) == 0)
        snprintf(buf, len, "organizations/%s", owner + 4);
    else
        snprintf(buf, len, "users/%s", strncmp(owner, "user:", 5) == 0 ? owner + 5 : owner);
}

static bool has_part(const sim_prov_opts_t *o, unsigned part)
{
    return ((o->parts == 0 ? (unsigned)SIM_PART_ALL : o->parts) & part) != 0;
}

size_t sim_prov_application(const sim_prov_opts_t *o, sim_prov_req_t *out)
{
    if (!has_part(o, SIM_PART_IS))
        return 0;
    char own[160];
    owner_path(o->owner, own, sizeof own);
    out->method = "POST";
    snprintf(out->path, sizeof out->path, "/%s/applications", own);
    out->body = json_pack("{s{s{ss}}}", "application", "ids", "application_id", o->application_id);
    out->conflict_ok = true;
    return 1;
}

size_t sim_prov_gateway(const sim_prov_opts_t *o, uint64_t eui, sim_prov_req_t *out)
{
    if (!has_part(o, SIM_PART_IS))
        return 0;
    char own[160], id[40], hex[17];
    owner_path(o->owner, own, sizeof own);
    sim_fleet_gateway_id(eui, id, sizeof id);
    sim_eui_hex(eui, hex);
    out->method = "POST";
    snprintf(out->path, sizeof out->path, "/%s/gateways", own);
    out->body = json_pack("{s{s{ssss}s[s]sbsb}}", "gateway", "ids", "gateway_id", id, "eui", hex,
                          "frequency_plan_ids", o->frequency_plan_id, "enforce_duty_cycle",
                          !o->no_duty_cycle, "schedule_downlink_late", 0);
    out->conflict_ok = true;
    return 1;
}

static json_t *ids_json(const sim_prov_opts_t *o, const sim_dev_t *d, bool with_addr)
{
    char id[40], deveui[17], joineui[17], addr[9];
    sim_fleet_device_id(d, id, sizeof id);
    sim_eui_hex(d->dev_eui, deveui);
    sim_eui_hex(d->join_eui, joineui);
    json_t *ids = json_pack("{sss{ss}ssss}", "device_id", id, "application_ids", "application_id",
                            o->application_id, "dev_eui", deveui, "join_eui", joineui);
    if (with_addr) {
        snprintf(addr, sizeof addr, "%08" PRIx32, d->dev_addr);
        json_object_set_new(ids, "dev_addr", json_string(addr));
    }
    return ids;
}

static json_t *key_json(const uint8_t k[16])
{
    char hex[33];
    sim_hex16(k, hex);
    return json_pack("{ss}", "key", hex);
}

static json_t *paths_json(const char *const *paths)
{
    json_t *a = json_array();
    for (size_t i = 0; paths[i] != NULL; i++)
        json_array_append_new(a, json_string(paths[i]));
    return json_pack("{so}", "paths", a);
}

/* --configured: mac_settings of an ABP device set up already (sim_prov_opts_t.configured),
 * added to dev's mac_settings. Returns 0, or -1 when the plan is unknown (then unchanged). */
static int configured_settings(const sim_prov_opts_t *o, lorawan_rp_rev_t rev, const char *delay,
                               json_t *dev)
{
    const lorawan_freqplan_t *fp = lorawan_freqplan_find(o->frequency_plan_id);
    if (fp == NULL)
        return -1;
    const lorawan_band_t *band = lorawan_band_get(fp->band);
    lorawan_rx2_t rx2 = fp->rx2;
    if (band != NULL)
        (void)lorawan_band_rx2_default(band, rev, &rx2);
    json_t *ms = json_object_get(dev, "mac_settings");
    json_t *f = json_array();
    for (unsigned k = 0; k < fp->n_uplink; k++)
        json_array_append_new(f, json_integer((json_int_t)fp->uplink[k].freq_hz));
    json_object_set_new(ms, "factory_preset_frequencies", f);
    json_object_set_new(ms, "desired_rx1_delay", json_pack("{ss}", "value", delay));
    char dr[24];
    snprintf(dr, sizeof dr, "DATA_RATE_%u", (unsigned)rx2.dr);
    json_object_set_new(ms, "rx2_data_rate_index", json_pack("{ss}", "value", dr));
    json_object_set_new(ms, "desired_rx2_data_rate_index", json_pack("{ss}", "value", dr));
    json_object_set_new(ms, "rx2_frequency", json_pack("{sI}", "value", (json_int_t)rx2.freq_hz));
    json_object_set_new(ms, "desired_rx2_frequency",
                        json_pack("{sI}", "value", (json_int_t)rx2.freq_hz));
    /* No DevStatus polling either: its first request alone would be a MAC-only downlink
     * for every device at its first uplink. */
    json_object_set_new(ms, "status_count_periodicity", json_integer(0));
    json_object_set_new(ms, "status_time_periodicity", json_string("0s"));
    return 0;
}

/* The session key ID of an ABP device's session, the same on the NS and the AS (as
 * ttn-lw-cli sets one for both, and TTS's AS matches uplinks to sessions by it): its
 * DevEUI, DevAddr and "ABP!", base64. */
static json_t *abp_session_key_id(const sim_dev_t *d)
{
    unsigned char raw[16], b64[32];
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)(d->dev_eui >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        raw[8 + i] = (unsigned char)(d->dev_addr >> (24 - 8 * i));
    memcpy(raw + 12, "ABP!", 4);
    EVP_EncodeBlock(b64, raw, sizeof raw);
    return json_string((const char *)b64);
}

size_t sim_prov_device(const sim_prov_opts_t *o, const sim_dev_t *d, sim_prov_req_t *out,
                       size_t cap)
{
    if (cap < 4)
        return 0;
    char id[40];
    sim_fleet_device_id(d, id, sizeof id);
    size_t n = 0;

    sim_prov_req_t *r;
    if (has_part(o, SIM_PART_IS)) {
        r = &out[n++];
        r->method = "POST";
        snprintf(r->path, sizeof r->path, "/applications/%s/devices", o->application_id);
        r->body = json_pack("{s{so}}", "end_device", "ids", ids_json(o, d, false));
        r->conflict_ok = true;
    }
    if (!has_part(o, SIM_PART_NS))
        goto js;

    /* The Network Server part (TTS's ns.EndDevice fields, with a field mask of what is set). */
    r = &out[n++];
    r->method = "PUT";
    snprintf(r->path, sizeof r->path, "/ns/applications/%s/devices/%s", o->application_id, id);
    char delay[16];
    snprintf(delay, sizeof delay, "RX_DELAY_%u", o->rx1_delay_s == 0 ? 1u : o->rx1_delay_s);
    json_t *dev = json_pack(
        "{sosssssssbsbs{s{ss}}}", "ids", ids_json(o, d, !d->otaa), "lorawan_version",
        sim_mac_version_tts(d->version), "lorawan_phy_version", sim_phy_version_tts(d->version),
        "frequency_plan_id", o->frequency_plan_id, "supports_join", d->otaa, "supports_class_c",
        o->supports_class_c, "mac_settings", "rx1_delay", "value", delay);
    bool configured = o->configured && !d->otaa &&
                      configured_settings(o, sim_phy_rev(d->version), delay, dev) == 0;
    /* Field mask: what the body sets (the identifiers come with the Identity Server's part). */
    static const char *const ns_common[] = {"lorawan_version",
                                            "lorawan_phy_version",
                                            "frequency_plan_id",
                                            "supports_join",
                                            "supports_class_c",
                                            "mac_settings.rx1_delay",
                                            NULL};
    json_t *paths = json_array();
    for (size_t i = 0; ns_common[i] != NULL; i++)
        json_array_append_new(paths, json_string(ns_common[i]));
    if (configured) {
        static const char *const more[] = {"mac_settings.factory_preset_frequencies",
                                           "mac_settings.desired_rx1_delay",
                                           "mac_settings.rx2_data_rate_index",
                                           "mac_settings.desired_rx2_data_rate_index",
                                           "mac_settings.rx2_frequency",
                                           "mac_settings.desired_rx2_frequency",
                                           "mac_settings.status_count_periodicity",
                                           "mac_settings.status_time_periodicity",
                                           NULL};
        for (size_t i = 0; more[i] != NULL; i++)
            json_array_append_new(paths, json_string(more[i]));
    }
    if (!d->otaa) {
        char addr[9];
        snprintf(addr, sizeof addr, "%08" PRIx32, d->dev_addr);
        json_t *keys = json_pack("{soso}", "f_nwk_s_int_key", key_json(d->f_nwk_s_int_key),
                                 "session_key_id", abp_session_key_id(d));
        json_array_append_new(paths, json_string("session.dev_addr"));
        json_array_append_new(paths, json_string("session.keys.session_key_id"));
        json_array_append_new(paths, json_string("session.keys.f_nwk_s_int_key.key"));
        if (d->opt_neg) {
            json_object_set_new(keys, "s_nwk_s_int_key", key_json(d->s_nwk_s_int_key));
            json_object_set_new(keys, "nwk_s_enc_key", key_json(d->nwk_s_enc_key));
            json_array_append_new(paths, json_string("session.keys.s_nwk_s_int_key.key"));
            json_array_append_new(paths, json_string("session.keys.nwk_s_enc_key.key"));
        }
        json_t *sess = json_pack("{ssso}", "dev_addr", addr, "keys", keys);
        /* A run that starts above 0 (--f-cnt-start) must not look like a replay. */
        if (d->f_cnt_up > 0) {
            json_object_set_new(sess, "last_f_cnt_up", json_integer(d->f_cnt_up - 1));
            json_array_append_new(paths, json_string("session.last_f_cnt_up"));
        }
        json_object_set_new(dev, "session", sess);
    }
    r->body = json_pack("{sos{so}}", "end_device", dev, "field_mask", "paths", paths);
    r->conflict_ok = false;

js:
    /* The Application Server part of an ABP device: its session's AppSKey. */
    if (!d->otaa && has_part(o, SIM_PART_AS)) {
        r = &out[n++];
        r->method = "PUT";
        snprintf(r->path, sizeof r->path, "/as/applications/%s/devices/%s", o->application_id, id);
        char addr[9];
        snprintf(addr, sizeof addr, "%08" PRIx32, d->dev_addr);
        static const char *const as_paths[] = {"session.dev_addr", "session.keys.session_key_id",
                                               "session.keys.app_s_key.key", NULL};
        r->body =
            json_pack("{s{sos{sss{soso}}}so}", "end_device", "ids", ids_json(o, d, true), "session",
                      "dev_addr", addr, "keys", "session_key_id", abp_session_key_id(d),
                      "app_s_key", key_json(d->app_s_key), "field_mask", paths_json(as_paths));
        r->conflict_ok = false;
    }
    if (d->otaa && has_part(o, SIM_PART_JS)) {
        r = &out[n++];
        r->method = "PUT";
        snprintf(r->path, sizeof r->path, "/js/applications/%s/devices/%s", o->application_id, id);
        json_t *root = json_pack("{so}", "app_key", key_json(d->app_key));
        static const char *const js_10[] = {"root_keys.app_key.key", NULL};
        static const char *const js_11[] = {"root_keys.app_key.key", "root_keys.nwk_key.key", NULL};
        if (d->version == SIM_MAC_1_1)
            json_object_set_new(root, "nwk_key", key_json(d->nwk_key));
        r->body =
            json_pack("{s{soso}so}", "end_device", "ids", ids_json(o, d, false), "root_keys", root,
                      "field_mask", paths_json(d->version == SIM_MAC_1_1 ? js_11 : js_10));
        r->conflict_ok = false;
    }
    return n;
}
