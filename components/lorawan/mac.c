/* MAC commands (LoRaWAN 1.0.4 §5, 1.1 §5, Class B commands of 1.0.4 §13 / 1.1 §14, and
 * DeviceMode of 1.1 §5.21). One table describes every command in each direction: its name,
 * payload length and where each field sits on the wire. The codec, the field accessors and
 * the JSON tools (vector runner, `lwstack lorawan decode`) all walk the same table, so a
 * layout is written down exactly once. */
#include <stddef.h>
#include <string.h>

#include "lorawan/lorawan.h"
#include "lorawan/wire_private.h"

#define MEMBER(m) offsetof(lorawan_mac_cmd_t, u.m), sizeof(((lorawan_mac_cmd_t *)0)->u.m)
#define FIELD(name, kind, off, bytes, shift, width, m)                                             \
    {                                                                                              \
        name, LORAWAN_MAC_FIELD_##kind, off, bytes, shift, width, MEMBER(m)                        \
    }

typedef struct mac_def {
    const char *name; /* NULL: no such command in this direction */
    uint8_t len;
    const lorawan_mac_field_t *fields;
    uint8_t n_fields;
} mac_def_t;

#define DEF(name, len, fields)                                                                     \
    {                                                                                              \
        name, len, fields, (uint8_t)(sizeof(fields) / sizeof(fields[0]))                           \
    }
#define DEF0(name)                                                                                 \
    {                                                                                              \
        name, 0, NULL, 0                                                                           \
    }

/* Field tables, named <command>_f. Bit positions are from the command's figure in the
 * spec; the vectors README's table lists the same layout. */
static const lorawan_mac_field_t reset_f[] = {FIELD("minor", UINT, 0, 1, 0, 4, reset.minor)};
static const lorawan_mac_field_t rekey_f[] = {FIELD("minor", UINT, 0, 1, 0, 4, rekey.minor)};
static const lorawan_mac_field_t link_check_ans_f[] = {
    FIELD("margin", UINT, 0, 1, 0, 8, link_check_ans.margin),
    FIELD("gw_cnt", UINT, 1, 1, 0, 8, link_check_ans.gw_cnt),
};
static const lorawan_mac_field_t link_adr_req_f[] = {
    FIELD("data_rate", UINT, 0, 1, 4, 4, link_adr_req.data_rate),
    FIELD("tx_power", UINT, 0, 1, 0, 4, link_adr_req.tx_power),
    FIELD("ch_mask", UINT, 1, 2, 0, 16, link_adr_req.ch_mask),
    FIELD("ch_mask_cntl", UINT, 3, 1, 4, 3, link_adr_req.ch_mask_cntl),
    FIELD("nb_trans", UINT, 3, 1, 0, 4, link_adr_req.nb_trans),
};
static const lorawan_mac_field_t link_adr_ans_f[] = {
    FIELD("power_ack", BOOL, 0, 1, 2, 1, link_adr_ans.power_ack),
    FIELD("data_rate_ack", BOOL, 0, 1, 1, 1, link_adr_ans.data_rate_ack),
    FIELD("channel_mask_ack", BOOL, 0, 1, 0, 1, link_adr_ans.channel_mask_ack),
};
static const lorawan_mac_field_t duty_cycle_req_f[] = {
    FIELD("max_duty_cycle", UINT, 0, 1, 0, 4, duty_cycle_req.max_duty_cycle),
};
static const lorawan_mac_field_t rx_param_setup_req_f[] = {
    FIELD("rx1_dr_offset", UINT, 0, 1, 4, 3, rx_param_setup_req.rx1_dr_offset),
    FIELD("rx2_data_rate", UINT, 0, 1, 0, 4, rx_param_setup_req.rx2_data_rate),
    FIELD("frequency_hz", FREQ, 1, 3, 0, 24, rx_param_setup_req.frequency_hz),
};
static const lorawan_mac_field_t rx_param_setup_ans_f[] = {
    FIELD("rx1_dr_offset_ack", BOOL, 0, 1, 2, 1, rx_param_setup_ans.rx1_dr_offset_ack),
    FIELD("rx2_data_rate_ack", BOOL, 0, 1, 1, 1, rx_param_setup_ans.rx2_data_rate_ack),
    FIELD("channel_ack", BOOL, 0, 1, 0, 1, rx_param_setup_ans.channel_ack),
};
static const lorawan_mac_field_t dev_status_ans_f[] = {
    FIELD("battery", UINT, 0, 1, 0, 8, dev_status_ans.battery),
    /* LoRaWAN 1.0.4 §5.5: "signed integer of 6 bits" (two's complement, README caveat 2). */
    FIELD("margin", INT, 1, 1, 0, 6, dev_status_ans.margin),
};
static const lorawan_mac_field_t new_channel_req_f[] = {
    FIELD("ch_index", UINT, 0, 1, 0, 8, new_channel_req.ch_index),
    FIELD("frequency_hz", FREQ, 1, 3, 0, 24, new_channel_req.frequency_hz),
    FIELD("max_dr", UINT, 4, 1, 4, 4, new_channel_req.max_dr),
    FIELD("min_dr", UINT, 4, 1, 0, 4, new_channel_req.min_dr),
};
static const lorawan_mac_field_t new_channel_ans_f[] = {
    FIELD("data_rate_range_ok", BOOL, 0, 1, 1, 1, new_channel_ans.data_rate_range_ok),
    FIELD("channel_frequency_ok", BOOL, 0, 1, 0, 1, new_channel_ans.channel_frequency_ok),
};
static const lorawan_mac_field_t rx_timing_setup_req_f[] = {
    FIELD("delay", UINT, 0, 1, 0, 4, rx_timing_setup_req.delay),
};
static const lorawan_mac_field_t tx_param_setup_req_f[] = {
    FIELD("downlink_dwell_time", BOOL, 0, 1, 5, 1, tx_param_setup_req.downlink_dwell_time),
    FIELD("uplink_dwell_time", BOOL, 0, 1, 4, 1, tx_param_setup_req.uplink_dwell_time),
    FIELD("max_eirp_index", UINT, 0, 1, 0, 4, tx_param_setup_req.max_eirp_index),
};
static const lorawan_mac_field_t dl_channel_req_f[] = {
    FIELD("ch_index", UINT, 0, 1, 0, 8, dl_channel_req.ch_index),
    FIELD("frequency_hz", FREQ, 1, 3, 0, 24, dl_channel_req.frequency_hz),
};
static const lorawan_mac_field_t dl_channel_ans_f[] = {
    FIELD("uplink_frequency_exists", BOOL, 0, 1, 1, 1, dl_channel_ans.uplink_frequency_exists),
    FIELD("channel_frequency_ok", BOOL, 0, 1, 0, 1, dl_channel_ans.channel_frequency_ok),
};
static const lorawan_mac_field_t adr_param_setup_req_f[] = {
    FIELD("limit_exp", UINT, 0, 1, 4, 4, adr_param_setup_req.limit_exp),
    FIELD("delay_exp", UINT, 0, 1, 0, 4, adr_param_setup_req.delay_exp),
};
static const lorawan_mac_field_t device_time_ans_f[] = {
    FIELD("gps_seconds", UINT, 0, 4, 0, 32, device_time_ans.gps_seconds),
    FIELD("fractional_256ths", UINT, 4, 1, 0, 8, device_time_ans.fractional_256ths),
};
/* LoRaWAN 1.1 §5.13: a 16-bit field sent little-endian (README caveat 3). */
static const lorawan_mac_field_t force_rejoin_req_f[] = {
    FIELD("period", UINT, 0, 2, 11, 3, force_rejoin_req.period),
    FIELD("max_retries", UINT, 0, 2, 8, 3, force_rejoin_req.max_retries),
    FIELD("rejoin_type", UINT, 0, 2, 4, 3, force_rejoin_req.rejoin_type),
    FIELD("data_rate", UINT, 0, 2, 0, 4, force_rejoin_req.data_rate),
};
static const lorawan_mac_field_t rejoin_param_setup_req_f[] = {
    FIELD("max_time_n", UINT, 0, 1, 4, 4, rejoin_param_setup_req.max_time_n),
    FIELD("max_count_n", UINT, 0, 1, 0, 4, rejoin_param_setup_req.max_count_n),
};
static const lorawan_mac_field_t rejoin_param_setup_ans_f[] = {
    FIELD("time_ok", BOOL, 0, 1, 0, 1, rejoin_param_setup_ans.time_ok),
};
static const lorawan_mac_field_t ping_slot_info_req_f[] = {
    FIELD("periodicity", UINT, 0, 1, 0, 3, ping_slot_info_req.periodicity),
};
static const lorawan_mac_field_t ping_slot_channel_req_f[] = {
    FIELD("frequency_hz", FREQ, 0, 3, 0, 24, ping_slot_channel_req.frequency_hz),
    FIELD("data_rate", UINT, 3, 1, 0, 4, ping_slot_channel_req.data_rate),
};
static const lorawan_mac_field_t ping_slot_channel_ans_f[] = {
    FIELD("data_rate_ok", BOOL, 0, 1, 1, 1, ping_slot_channel_ans.data_rate_ok),
    FIELD("channel_frequency_ok", BOOL, 0, 1, 0, 1, ping_slot_channel_ans.channel_frequency_ok),
};
static const lorawan_mac_field_t beacon_timing_ans_f[] = {
    FIELD("delay", UINT, 0, 2, 0, 16, beacon_timing_ans.delay),
    FIELD("channel", UINT, 2, 1, 0, 8, beacon_timing_ans.channel),
};
static const lorawan_mac_field_t beacon_freq_req_f[] = {
    FIELD("frequency_hz", FREQ, 0, 3, 0, 24, beacon_freq_req.frequency_hz),
};
static const lorawan_mac_field_t beacon_freq_ans_f[] = {
    FIELD("beacon_frequency_ok", BOOL, 0, 1, 0, 1, beacon_freq_ans.beacon_frequency_ok),
};
static const lorawan_mac_field_t device_mode_f[] = {
    FIELD("class", CLASS, 0, 1, 0, 8, device_mode.device_class),
};

#define MAC_MAX_CID 0x20
enum { DIR_DOWN = 0, DIR_UP = 1 };

/* [cid][direction]: direction 0 = network to device, 1 = device to network. */
static const mac_def_t mac_defs[MAC_MAX_CID + 1][2] = {
    [0x01] = {DEF("ResetConf", 1, reset_f), DEF("ResetInd", 1, reset_f)},
    [0x02] = {DEF("LinkCheckAns", 2, link_check_ans_f), DEF0("LinkCheckReq")},
    [0x03] = {DEF("LinkADRReq", 4, link_adr_req_f), DEF("LinkADRAns", 1, link_adr_ans_f)},
    [0x04] = {DEF("DutyCycleReq", 1, duty_cycle_req_f), DEF0("DutyCycleAns")},
    [0x05] = {DEF("RxParamSetupReq", 4, rx_param_setup_req_f),
              DEF("RxParamSetupAns", 1, rx_param_setup_ans_f)},
    [0x06] = {DEF0("DevStatusReq"), DEF("DevStatusAns", 2, dev_status_ans_f)},
    [0x07] = {DEF("NewChannelReq", 5, new_channel_req_f),
              DEF("NewChannelAns", 1, new_channel_ans_f)},
    [0x08] = {DEF("RxTimingSetupReq", 1, rx_timing_setup_req_f), DEF0("RxTimingSetupAns")},
    [0x09] = {DEF("TxParamSetupReq", 1, tx_param_setup_req_f), DEF0("TxParamSetupAns")},
    [0x0a] = {DEF("DlChannelReq", 4, dl_channel_req_f), DEF("DlChannelAns", 1, dl_channel_ans_f)},
    [0x0b] = {DEF("RekeyConf", 1, rekey_f), DEF("RekeyInd", 1, rekey_f)},
    [0x0c] = {DEF("ADRParamSetupReq", 1, adr_param_setup_req_f), DEF0("ADRParamSetupAns")},
    [0x0d] = {DEF("DeviceTimeAns", 5, device_time_ans_f), DEF0("DeviceTimeReq")},
    [0x0e] = {DEF("ForceRejoinReq", 2, force_rejoin_req_f), {NULL, 0, NULL, 0}},
    [0x0f] = {DEF("RejoinParamSetupReq", 1, rejoin_param_setup_req_f),
              DEF("RejoinParamSetupAns", 1, rejoin_param_setup_ans_f)},
    [0x10] = {DEF0("PingSlotInfoAns"), DEF("PingSlotInfoReq", 1, ping_slot_info_req_f)},
    [0x11] = {DEF("PingSlotChannelReq", 4, ping_slot_channel_req_f),
              DEF("PingSlotChannelAns", 1, ping_slot_channel_ans_f)},
    [0x12] = {DEF("BeaconTimingAns", 3, beacon_timing_ans_f), DEF0("BeaconTimingReq")},
    [0x13] = {DEF("BeaconFreqReq", 3, beacon_freq_req_f),
              DEF("BeaconFreqAns", 1, beacon_freq_ans_f)},
    [0x20] = {DEF("DeviceModeConf", 1, device_mode_f), DEF("DeviceModeInd", 1, device_mode_f)},
};

static const mac_def_t *mac_def(uint8_t cid, bool uplink)
{
    if (cid > MAC_MAX_CID)
        return NULL;
    const mac_def_t *d = &mac_defs[cid][uplink ? DIR_UP : DIR_DOWN];
    return d->name != NULL ? d : NULL;
}

int lorawan_mac_cmd_info(uint8_t cid, bool uplink, const char **name, size_t *payload_len,
                         const lorawan_mac_field_t **fields, size_t *n_fields)
{
    const mac_def_t *d = mac_def(cid, uplink);
    if (d == NULL)
        return LORAWAN_E_CID;
    if (name != NULL)
        *name = d->name;
    if (payload_len != NULL)
        *payload_len = d->len;
    if (fields != NULL)
        *fields = d->fields;
    if (n_fields != NULL)
        *n_fields = d->n_fields;
    return 0;
}

int lorawan_mac_cmd_by_name(const char *name, uint8_t *cid, bool *uplink)
{
    if (name == NULL || cid == NULL || uplink == NULL)
        return LORAWAN_E_PARAM;
    for (unsigned c = 0; c <= MAC_MAX_CID; c++) {
        for (unsigned dir = 0; dir < 2; dir++) {
            const char *n = mac_defs[c][dir].name;
            if (n != NULL && strcmp(n, name) == 0) {
                *cid = (uint8_t)c;
                *uplink = dir == DIR_UP;
                return 0;
            }
        }
    }
    return LORAWAN_E_CID;
}

int64_t lorawan_mac_field_get(const lorawan_mac_cmd_t *cmd, const lorawan_mac_field_t *f)
{
    const uint8_t *p = (const uint8_t *)cmd + f->member_off;
    if (f->kind == LORAWAN_MAC_FIELD_BOOL)
        return *(const bool *)(const void *)p ? 1 : 0;
    if (f->kind == LORAWAN_MAC_FIELD_INT)
        return *(const int8_t *)(const void *)p;
    switch (f->member_size) {
    case 1:
        return *p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    default: {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    }
}

static void field_store(lorawan_mac_cmd_t *cmd, const lorawan_mac_field_t *f, int64_t v)
{
    uint8_t *p = (uint8_t *)cmd + f->member_off;
    if (f->kind == LORAWAN_MAC_FIELD_BOOL) {
        *(bool *)(void *)p = v != 0;
    } else if (f->kind == LORAWAN_MAC_FIELD_INT) {
        *(int8_t *)(void *)p = (int8_t)v;
    } else if (f->member_size == 1) {
        *p = (uint8_t)v;
    } else if (f->member_size == 2) {
        uint16_t w = (uint16_t)v;
        memcpy(p, &w, sizeof(w));
    } else {
        uint32_t w = (uint32_t)v;
        memcpy(p, &w, sizeof(w));
    }
}

/* Maps a host value to the raw wire bits of field f, checking it fits. */
static int field_to_wire(const lorawan_mac_field_t *f, int64_t v, uint32_t *raw)
{
    int64_t max = ((int64_t)1 << f->width) - 1;
    switch (f->kind) {
    case LORAWAN_MAC_FIELD_BOOL:
        if (v != 0 && v != 1)
            return LORAWAN_E_RANGE;
        break;
    case LORAWAN_MAC_FIELD_INT: {
        int64_t half = (int64_t)1 << (f->width - 1);
        if (v < -half || v >= half)
            return LORAWAN_E_RANGE;
        *raw = (uint32_t)(v & max);
        return 0;
    }
    case LORAWAN_MAC_FIELD_FREQ:
        /* LoRaWAN 1.0.4 §5.6: frequencies travel as a 24-bit count of 100 Hz steps. */
        if (v < 0 || v % 100 != 0 || v / 100 > max)
            return LORAWAN_E_RANGE;
        *raw = (uint32_t)(v / 100);
        return 0;
    case LORAWAN_MAC_FIELD_CLASS:
        /* LoRaWAN 1.1 §5.21: 0x00 class A, 0x02 class C; 0x01 (class B) is RFU there. */
        if (v != 0 && v != 2)
            return LORAWAN_E_RANGE;
        break;
    default:
        if (v < 0 || v > max)
            return LORAWAN_E_RANGE;
        break;
    }
    *raw = (uint32_t)v;
    return 0;
}

int lorawan_mac_field_set(lorawan_mac_cmd_t *cmd, const lorawan_mac_field_t *f, int64_t v)
{
    uint32_t raw;
    if (cmd == NULL || f == NULL)
        return LORAWAN_E_PARAM;
    int rc = field_to_wire(f, v, &raw);
    if (rc != 0)
        return rc;
    field_store(cmd, f, v);
    return 0;
}

int lorawan_mac_cmds_encode(const lorawan_mac_cmd_t *cmds, size_t n, uint8_t *out, size_t cap,
                            size_t *out_len)
{
    if (out_len == NULL)
        return LORAWAN_E_PARAM;
    *out_len = 0;
    if ((cmds == NULL && n > 0) || (out == NULL && cap > 0))
        return LORAWAN_E_PARAM;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const mac_def_t *d = mac_def(cmds[i].cid, cmds[i].uplink);
        if (d == NULL)
            return LORAWAN_E_CID;
        if (cap - off < 1u + d->len)
            return LORAWAN_E_BUF;
        uint8_t payload[8] = {0};
        for (size_t j = 0; j < d->n_fields; j++) {
            const lorawan_mac_field_t *f = &d->fields[j];
            uint32_t raw = 0;
            int rc = field_to_wire(f, lorawan_mac_field_get(&cmds[i], f), &raw);
            if (rc != 0)
                return rc;
            uint32_t word = lorawan__get_le(payload + f->wire_off, f->wire_bytes);
            word |= (uint32_t)((uint64_t)raw << f->shift);
            lorawan__put_le(payload + f->wire_off, word, f->wire_bytes);
        }
        out[off] = cmds[i].cid;
        memcpy(out + off + 1, payload, d->len);
        off += 1u + d->len;
        *out_len = off;
    }
    return 0;
}

int lorawan_mac_cmds_decode(const uint8_t *buf, size_t len, bool uplink, lorawan_mac_cmd_t *out,
                            size_t cap, size_t *n_out, size_t *consumed)
{
    if (n_out == NULL || consumed == NULL)
        return LORAWAN_E_PARAM;
    *n_out = 0;
    *consumed = 0;
    if ((buf == NULL && len > 0) || (out == NULL && cap > 0))
        return LORAWAN_E_PARAM;
    size_t off = 0, n = 0;
    while (off < len) {
        const mac_def_t *d = mac_def(buf[off], uplink);
        if (d == NULL)
            return LORAWAN_E_CID;
        if (len - off - 1 < d->len)
            return LORAWAN_E_MAC_SHORT;
        if (n == cap)
            return LORAWAN_E_MAC_COUNT;
        lorawan_mac_cmd_t *c = &out[n];
        memset(c, 0, sizeof(*c));
        c->cid = buf[off];
        c->uplink = uplink;
        const uint8_t *payload = buf + off + 1;
        for (size_t j = 0; j < d->n_fields; j++) {
            const lorawan_mac_field_t *f = &d->fields[j];
            uint32_t word = lorawan__get_le(payload + f->wire_off, f->wire_bytes);
            uint64_t mask = ((uint64_t)1 << f->width) - 1;
            int64_t v = (int64_t)(((uint64_t)word >> f->shift) & mask);
            if (f->kind == LORAWAN_MAC_FIELD_INT && (v >> (f->width - 1)) != 0)
                v -= (int64_t)1 << f->width;
            else if (f->kind == LORAWAN_MAC_FIELD_FREQ)
                v *= 100;
            field_store(c, f, v);
        }
        off += 1u + d->len;
        n++;
        *n_out = n;
        *consumed = off;
    }
    return 0;
}
