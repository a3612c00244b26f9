/* mac_settings as The Things Stack's API spells them (api/ttn/lorawan/v3/end_device.proto
 * MACSettings): optional values wrapped as {"value": ...} (plain values are accepted too),
 * enums by name ("RX_DELAY_5", "DATA_RATE_3", "DATA_RATE_OFFSET_1", "DUTY_CYCLE_16",
 * "ADR_ACK_LIMIT_64", "DEVICE_EIRP_36"), frequencies as decimal strings, durations as
 * "600s". Pure: JSON in, struct out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns/ns_private.h"

bool ns_settings_v11(const ns_settings_t *s)
{
    unsigned minor = 0;
    return ns_version_parse(s->lorawan_version, &minor, NULL) == 0 && minor >= 1;
}

static const json_t *unwrap(const json_t *v)
{
    if (json_is_object(v) && json_object_get(v, "value") != NULL && json_object_size(v) == 1)
        return json_object_get(v, "value");
    return v;
}

static int fail(lw_err_t *err, const char *field, const char *key, const char *why)
{
    char f[128];
    snprintf(f, sizeof f, "%s.%s", field, key);
    return lw_api_invalid(err, f, "%s", why);
}

/* An unsigned number: a JSON integer, a decimal string, or an enum name ending in _<n>
 * (prefix must match, e.g. "RX_DELAY_"). */
static int get_uint(const json_t *v, const char *prefix, unsigned long long max,
                    unsigned long long *out)
{
    v = unwrap(v);
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 || (unsigned long long)json_integer_value(v) > max)
            return -1;
        *out = (unsigned long long)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    if (prefix != NULL && strncmp(s, prefix, strlen(prefix)) == 0)
        s += strlen(prefix);
    char *end = NULL;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long n = strtoull(s, &end, 10);
    if (*end != '\0' || n > max)
        return -1;
    *out = n;
    return 0;
}

static int get_bool(const json_t *v, bool *out)
{
    v = unwrap(v);
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

static int get_duration_s(const json_t *v, uint32_t *out)
{
    v = unwrap(v);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint32_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    char *end = NULL;
    double d = strtod(json_string_value(v), &end);
    if (end == json_string_value(v) || strcmp(end, "s") != 0 || d < 0 || d > 4e9)
        return -1;
    *out = (uint32_t)d;
    return 0;
}

/* DUTY_CYCLE_<1/2^n>: "DUTY_CYCLE_1" is n 0, "DUTY_CYCLE_16384" n 14. */
static int get_duty_cycle(const json_t *v, uint8_t *out)
{
    unsigned long long x = 0;
    if (get_uint(v, "DUTY_CYCLE_", 32768, &x) != 0 || x == 0)
        return -1;
    uint8_t n = 0;
    while ((1ull << n) < x)
        n++;
    if ((1ull << n) != x)
        return -1;
    *out = n;
    return 0;
}

/* ADR_ACK_LIMIT_<2^n> / ADR_ACK_DELAY_<2^n>. */
static int get_exp(const json_t *v, const char *prefix, uint8_t *out)
{
    unsigned long long x = 0;
    if (get_uint(v, prefix, 32768, &x) != 0 || x == 0)
        return -1;
    uint8_t n = 0;
    while ((1ull << n) < x)
        n++;
    if ((1ull << n) != x)
        return -1;
    *out = n;
    return 0;
}

static int parse_adr(const json_t *adr, const char *field, ns_mac_settings_t *m, lw_err_t *err)
{
    const json_t *dyn = json_object_get(adr, "dynamic");
    const json_t *sta = json_object_get(adr, "static");
    const json_t *dis = json_object_get(adr, "disabled");
    int modes = (dyn != NULL) + (sta != NULL) + (dis != NULL);
    if (!json_is_object(adr) || modes > 1)
        return fail(err, field, "adr", "one of dynamic, static or disabled");
    unsigned long long x;
    if (sta != NULL) {
        m->adr.mode = NS_ADR_MODE_STATIC;
        if (get_uint(json_object_get(sta, "data_rate_index"), "DATA_RATE_", 15, &x) != 0)
            return fail(err, field, "adr.static.data_rate_index", "a data rate index");
        m->adr.static_mode.data_rate_index = (uint8_t)x;
        x = 0;
        if (json_object_get(sta, "tx_power_index") != NULL &&
            get_uint(json_object_get(sta, "tx_power_index"), NULL, 15, &x) != 0)
            return fail(err, field, "adr.static.tx_power_index", "0..15");
        m->adr.static_mode.tx_power_index = (uint8_t)x;
        x = 1;
        if (json_object_get(sta, "nb_trans") != NULL &&
            (get_uint(json_object_get(sta, "nb_trans"), NULL, 15, &x) != 0 || x == 0))
            return fail(err, field, "adr.static.nb_trans", "1..15");
        m->adr.static_mode.nb_trans = (uint8_t)x;
    } else if (dis != NULL) {
        m->adr.mode = NS_ADR_MODE_DISABLED;
    } else if (dyn != NULL) {
        m->adr.mode = NS_ADR_MODE_DYNAMIC;
        const json_t *mg = unwrap(json_object_get(dyn, "margin"));
        if (mg != NULL) {
            if (!json_is_number(mg))
                return fail(err, field, "adr.dynamic.margin", "a number of dB");
            m->adr.dynamic.has_margin = true;
            m->adr.dynamic.margin = (float)json_number_value(mg);
        }
#define DYN_IDX(key, pfx, max, has, val)                                                           \
    if (json_object_get(dyn, key) != NULL) {                                                       \
        if (get_uint(json_object_get(dyn, key), pfx, max, &x) != 0)                                \
            return fail(err, field, "adr.dynamic." key, "out of range");                           \
        m->adr.dynamic.has = true;                                                                 \
        m->adr.dynamic.val = (uint8_t)x;                                                           \
    }
        DYN_IDX("min_data_rate_index", "DATA_RATE_", 15, has_min_data_rate_index,
                min_data_rate_index)
        DYN_IDX("max_data_rate_index", "DATA_RATE_", 15, has_max_data_rate_index,
                max_data_rate_index)
        DYN_IDX("min_tx_power_index", NULL, 15, has_min_tx_power_index, min_tx_power_index)
        DYN_IDX("max_tx_power_index", NULL, 15, has_max_tx_power_index, max_tx_power_index)
        DYN_IDX("min_nb_trans", NULL, 15, has_min_nb_trans, min_nb_trans)
        DYN_IDX("max_nb_trans", NULL, 15, has_max_nb_trans, max_nb_trans)
#undef DYN_IDX
    }
    return 0;
}

int ns_mac_settings_parse(const json_t *j, const char *field, ns_settings_t *s, lw_err_t *err)
{
    if (!json_is_object(j))
        return lw_api_invalid(err, field, "an object");
    ns_mac_settings_t *m = &s->mac;
    memset(m, 0, sizeof *m);
    s->has_resets_f_cnt = s->has_supports_32 = false;
    s->class_c_timeout_s = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        unsigned long long x = 0;
        bool b = false;
        if (json_is_null(v))
            continue;
#define U8(name, pfx, max, has, dst)                                                               \
    else if (strcmp(key, name) == 0)                                                               \
    {                                                                                              \
        if (get_uint(v, pfx, max, &x) != 0)                                                        \
            return fail(err, field, key, "out of range");                                          \
        m->has = true;                                                                             \
        m->dst = (__typeof__(m->dst))x;                                                            \
    }
        if (strcmp(key, "adr") == 0) {
            if (parse_adr(v, field, m, err) != 0)
                return -1;
        } else if (strcmp(key, "use_adr") == 0) {
            if (get_bool(v, &b) != 0)
                return fail(err, field, key, "a boolean");
            if (!b)
                m->adr.mode = NS_ADR_MODE_DISABLED;
        } else if (strcmp(key, "adr_margin") == 0) {
            const json_t *u = unwrap(v);
            if (!json_is_number(u))
                return fail(err, field, key, "a number of dB");
            m->adr.dynamic.has_margin = true;
            m->adr.dynamic.margin = (float)json_number_value(u);
        }
        U8("rx1_delay", "RX_DELAY_", 15, has_rx1_delay, rx1_delay)
        U8("rx1_data_rate_offset", "DATA_RATE_OFFSET_", 7, has_rx1_data_rate_offset,
           rx1_data_rate_offset)
        U8("rx2_data_rate_index", "DATA_RATE_", 15, has_rx2_data_rate_index, rx2_data_rate_index)
        U8("rx2_frequency", NULL, 0xffffffffull, has_rx2_frequency, rx2_frequency)
        U8("desired_rx1_delay", "RX_DELAY_", 15, has_desired_rx1_delay, desired_rx1_delay)
        U8("desired_rx1_data_rate_offset", "DATA_RATE_OFFSET_", 7, has_desired_rx1_data_rate_offset,
           desired_rx1_data_rate_offset)
        U8("desired_rx2_data_rate_index", "DATA_RATE_", 15, has_desired_rx2_data_rate_index,
           desired_rx2_data_rate_index)
        U8("desired_rx2_frequency", NULL, 0xffffffffull, has_desired_rx2_frequency,
           desired_rx2_frequency)
        U8("desired_ping_slot_frequency", NULL, 0xffffffffull, has_desired_ping_slot_frequency,
           desired_ping_slot_frequency)
        U8("desired_ping_slot_data_rate_index", "DATA_RATE_", 15,
           has_desired_ping_slot_data_rate_index, desired_ping_slot_data_rate_index)
        U8("desired_beacon_frequency", NULL, 0xffffffffull, has_desired_beacon_frequency,
           desired_beacon_frequency)
        U8("status_count_periodicity", NULL, 0xffffffffull, has_status_count_periodicity,
           status_count_periodicity)
        else if (strcmp(key, "status_time_periodicity") == 0)
        {
            if (get_duration_s(v, &m->status_time_periodicity_s) != 0)
                return fail(err, field, key, "a duration such as \"86400s\"");
            m->has_status_time_periodicity = true;
        }
        else if (strcmp(key, "class_c_timeout") == 0)
        {
            if (get_duration_s(v, &s->class_c_timeout_s) != 0)
                return fail(err, field, key, "a duration such as \"600s\"");
        }
        else if (strcmp(key, "max_duty_cycle") == 0 || strcmp(key, "desired_max_duty_cycle") == 0)
        {
            uint8_t n = 0;
            if (get_duty_cycle(v, &n) != 0)
                return fail(err, field, key, "DUTY_CYCLE_1 .. DUTY_CYCLE_32768");
            if (key[0] == 'm') {
                m->has_max_duty_cycle = true;
                m->max_duty_cycle = n;
            } else {
                m->has_desired_max_duty_cycle = true;
                m->desired_max_duty_cycle = n;
            }
        }
        else if (strcmp(key, "desired_adr_ack_limit_exponent") == 0)
        {
            if (get_exp(v, "ADR_ACK_LIMIT_", &m->desired_adr_ack_limit_exponent) != 0)
                return fail(err, field, key, "ADR_ACK_LIMIT_1 .. ADR_ACK_LIMIT_32768");
            m->has_desired_adr_ack_limit_exponent = true;
        }
        else if (strcmp(key, "desired_adr_ack_delay_exponent") == 0)
        {
            if (get_exp(v, "ADR_ACK_DELAY_", &m->desired_adr_ack_delay_exponent) != 0)
                return fail(err, field, key, "ADR_ACK_DELAY_1 .. ADR_ACK_DELAY_32768");
            m->has_desired_adr_ack_delay_exponent = true;
        }
        else if (strcmp(key, "desired_max_eirp") == 0)
        {
            if (get_uint(v, "DEVICE_EIRP_", 36, &x) != 0)
                return fail(err, field, key, "DEVICE_EIRP_8 .. DEVICE_EIRP_36");
            m->has_desired_max_eirp = true;
            m->desired_max_eirp = (float)x;
        }
        else if (strcmp(key, "uplink_dwell_time") == 0 || strcmp(key, "downlink_dwell_time") == 0)
        {
            if (get_bool(v, &b) != 0)
                return fail(err, field, key, "a boolean");
            if (key[0] == 'u') {
                m->has_uplink_dwell_time = true;
                m->uplink_dwell_time = b;
            } else {
                m->has_downlink_dwell_time = true;
                m->downlink_dwell_time = b;
            }
        }
        else if (strcmp(key, "resets_f_cnt") == 0)
        {
            if (get_bool(v, &s->resets_f_cnt) != 0)
                return fail(err, field, key, "a boolean");
            s->has_resets_f_cnt = true;
        }
        else if (strcmp(key, "supports_32_bit_f_cnt") == 0)
        {
            if (get_bool(v, &s->supports_32) != 0)
                return fail(err, field, key, "a boolean");
            s->has_supports_32 = true;
        }
        else if (strcmp(key, "factory_preset_frequencies") == 0)
        {
            if (!json_is_array(v) || json_array_size(v) > NS_MAC_MAX_FACTORY_PRESETS)
                return fail(err, field, key, "at most 16 frequencies");
            size_t i;
            json_t *f;
            json_array_foreach(v, i, f)
            {
                if (get_uint(f, NULL, 0xffffffffull, &x) != 0)
                    return fail(err, field, key, "frequencies in Hz");
                m->factory_preset_frequencies[i] = (uint32_t)x;
            }
            m->n_factory_preset_frequencies = (uint8_t)json_array_size(v);
        }
        else if (strcmp(key, "class_b_timeout") == 0 || strcmp(key, "ping_slot_periodicity") == 0 ||
                 strcmp(key, "ping_slot_data_rate_index") == 0 ||
                 strcmp(key, "ping_slot_frequency") == 0 || strcmp(key, "beacon_frequency") == 0 ||
                 strcmp(key, "schedule_downlinks") == 0 ||
                 strcmp(key, "class_b_c_downlink_interval") == 0)
        {
            /* Class B and scheduling switches: accepted and echoed, not used yet. */
        }
        else
        {
            char f[128];
            snprintf(f, sizeof f, "%s.%s", field, key);
            return lw_api_unknown(err, f);
        }
#undef U8
    }
    return 0;
}
