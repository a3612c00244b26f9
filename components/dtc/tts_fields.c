/* The Things Stack's EndDevice as JSON (api/ttn/lorawan/v3/end_device.proto and the JSON
 * its generated code reads and writes), for the-things-stack converter: which names exist
 * (snake_case, and lowerCamelCase as protojson's json_name), their kinds, how each is
 * written back (EUIs and keys as upper-case hex, 64-bit integers and frequencies as decimal
 * strings, enums by name except DataRateIndex, DataRateOffset and RxDelay, which are written
 * as numbers, wrapper values bare), and when a field counts as set for the field mask:
 *   - a scalar when it is not its zero value (an EUI, DevAddr, NetID or key of zero bytes
 *     is zero);
 *   - a message when present (not null), even empty; session.keys only when one of its own
 *     fields is set (Session.FieldIsZero("keys"));
 *   - a wrapper (BoolValue, RxDelayValue, FrequencyValue, ...) when present, whatever its
 *     value;
 *   - a map when present; a repeated field when not empty.
 * The mask is then the set's bottom-level paths (ttnpb.BottomLevelFields of NonZeroFields),
 * with ADRSettings' oneof written mac_settings.adr.mode.<static|dynamic|disabled> as the
 * EndDevice field paths spell it. Subtrees this table does not spell out (mac_state,
 * pending_mac_state, relay settings, ADR channel steering and overrides, picture) are kept
 * as given and their leaves found generically. Pure (allocates only the JSON it returns). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/hex.h"
#include "cluster/mem.h"
#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"

/* ---- enumerations ----------------------------------------------------------------------- */

static const char *const mac_names[] = {"MAC_UNKNOWN", "MAC_V1_0",   "MAC_V1_0_1", "MAC_V1_0_2",
                                        "MAC_V1_1",    "MAC_V1_0_3", "MAC_V1_0_4"};
static const char *const mac_aliases[] = {
    "UNKNOWN", "0", "unknown", "0", "V1_0",   "1", "1.0",   "1", "1.0.0", "1", "V1_0_1", "2",
    "1.0.1",   "2", "V1_0_2",  "3", "1.0.2",  "3", "V1_1",  "4", "1.1",   "4", "1.1.0",  "4",
    "V1_0_3",  "5", "1.0.3",   "5", "V1_0_4", "6", "1.0.4", "6", NULL};
const dtc_enum_t dtc_enum_mac_version = {mac_names, 7, mac_aliases, false};

static const char *const phy_names[] = {
    "PHY_UNKNOWN",    "PHY_V1_0",       "PHY_V1_0_1",       "PHY_V1_0_2_REV_A", "PHY_V1_0_2_REV_B",
    "PHY_V1_1_REV_A", "PHY_V1_1_REV_B", "PHY_V1_0_3_REV_A", "RP002_V1_0_0",     "RP002_V1_0_1",
    "RP002_V1_0_2",   "RP002_V1_0_3",   "RP002_V1_0_4"};
static const char *const phy_aliases[] = {"TS001_V1_0",
                                          "1",
                                          "TS001_V1_0_1",
                                          "2",
                                          "RP001_V1_0_2",
                                          "3",
                                          "RP001_V1_0_2_REV_B",
                                          "4",
                                          "RP001_V1_1_REV_A",
                                          "5",
                                          "RP001_V1_1_REV_B",
                                          "6",
                                          "RP001_V1_0_3_REV_A",
                                          "7",
                                          "unknown",
                                          "0",
                                          "1.0",
                                          "1",
                                          "1.0.0",
                                          "1",
                                          "V1_0",
                                          "1",
                                          "1.0.1",
                                          "2",
                                          "V1_0_1",
                                          "2",
                                          "1.0.2",
                                          "3",
                                          "1.0.2-a",
                                          "3",
                                          "V1_0_2",
                                          "3",
                                          "V1_0_2_REV_A",
                                          "3",
                                          "1.0.2-b",
                                          "4",
                                          "V1_0_2_REV_B",
                                          "4",
                                          "1.1-a",
                                          "5",
                                          "1.1.0-a",
                                          "5",
                                          "V1_1_REV_A",
                                          "5",
                                          "1.1-b",
                                          "6",
                                          "1.1.0-b",
                                          "6",
                                          "V1_1_REV_B",
                                          "6",
                                          "1.0.3-a",
                                          "7",
                                          "V1_0_3_REV_A",
                                          "7",
                                          NULL};
const dtc_enum_t dtc_enum_phy_version = {phy_names, 13, phy_aliases, false};

static const char *const rx_delay_names[] = {
    "RX_DELAY_0",  "RX_DELAY_1",  "RX_DELAY_2",  "RX_DELAY_3", "RX_DELAY_4",  "RX_DELAY_5",
    "RX_DELAY_6",  "RX_DELAY_7",  "RX_DELAY_8",  "RX_DELAY_9", "RX_DELAY_10", "RX_DELAY_11",
    "RX_DELAY_12", "RX_DELAY_13", "RX_DELAY_14", "RX_DELAY_15"};
const dtc_enum_t dtc_enum_rx_delay = {rx_delay_names, 16, NULL, true};

static const char *const dr_names[] = {
    "DATA_RATE_0",  "DATA_RATE_1",  "DATA_RATE_2",  "DATA_RATE_3", "DATA_RATE_4",  "DATA_RATE_5",
    "DATA_RATE_6",  "DATA_RATE_7",  "DATA_RATE_8",  "DATA_RATE_9", "DATA_RATE_10", "DATA_RATE_11",
    "DATA_RATE_12", "DATA_RATE_13", "DATA_RATE_14", "DATA_RATE_15"};
const dtc_enum_t dtc_enum_data_rate_index = {dr_names, 16, NULL, true};

static const char *const dro_names[] = {
    "DATA_RATE_OFFSET_0", "DATA_RATE_OFFSET_1", "DATA_RATE_OFFSET_2", "DATA_RATE_OFFSET_3",
    "DATA_RATE_OFFSET_4", "DATA_RATE_OFFSET_5", "DATA_RATE_OFFSET_6", "DATA_RATE_OFFSET_7"};
const dtc_enum_t dtc_enum_data_rate_offset = {dro_names, 8, NULL, true};

static const char *const ping_names[] = {"PING_EVERY_1S",  "PING_EVERY_2S",  "PING_EVERY_4S",
                                         "PING_EVERY_8S",  "PING_EVERY_16S", "PING_EVERY_32S",
                                         "PING_EVERY_64S", "PING_EVERY_128S"};
static const char *const ping_aliases[] = {"1S", "0",   "2S", "1",   "4S", "2",    "8S", "3", "16S",
                                           "4",  "32S", "5",  "64S", "6",  "128S", "7",  NULL};
static const dtc_enum_t ping_period = {ping_names, 8, ping_aliases, false};

/* DUTY_CYCLE_<2^n>, ADR_ACK_LIMIT_<2^n>, ADR_ACK_DELAY_<2^n>: aliases "<2^n>". */
#define POW2_NAMES(p)                                                                              \
    {                                                                                              \
        p "1", p "2", p "4", p "8", p "16", p "32", p "64", p "128", p "256", p "512", p "1024",   \
            p "2048", p "4096", p "8192", p "16384", p "32768"                                     \
    }
static const char *const pow2_aliases[] = {
    "1",    "0",  "2",    "1",   "4",    "2",   "8",     "3",   "16",    "4",    "32",
    "5",    "64", "6",    "128", "7",    "256", "8",     "512", "9",     "1024", "10",
    "2048", "11", "4096", "12",  "8192", "13",  "16384", "14",  "32768", "15",   NULL};
static const char *const duty_names[] = POW2_NAMES("DUTY_CYCLE_");
static const dtc_enum_t duty_cycle = {duty_names, 16, pow2_aliases, false};
static const char *const ack_limit_names[] = POW2_NAMES("ADR_ACK_LIMIT_");
static const dtc_enum_t ack_limit = {ack_limit_names, 16, pow2_aliases, false};
static const char *const ack_delay_names[] = POW2_NAMES("ADR_ACK_DELAY_");
static const dtc_enum_t ack_delay = {ack_delay_names, 16, pow2_aliases, false};

static const char *const eirp_names[] = {
    "DEVICE_EIRP_8",  "DEVICE_EIRP_10", "DEVICE_EIRP_12", "DEVICE_EIRP_13",
    "DEVICE_EIRP_14", "DEVICE_EIRP_16", "DEVICE_EIRP_18", "DEVICE_EIRP_20",
    "DEVICE_EIRP_21", "DEVICE_EIRP_24", "DEVICE_EIRP_26", "DEVICE_EIRP_27",
    "DEVICE_EIRP_29", "DEVICE_EIRP_30", "DEVICE_EIRP_33", "DEVICE_EIRP_36"};
static const char *const eirp_aliases[] = {"8",  "0",  "10", "1",  "12", "2",  "13", "3",  "14",
                                           "4",  "16", "5",  "18", "6",  "20", "7",  "21", "8",
                                           "24", "9",  "26", "10", "27", "11", "29", "12", "30",
                                           "13", "33", "14", "36", "15", NULL};
static const dtc_enum_t device_eirp = {eirp_names, 16, eirp_aliases, false};

static const char *const power_names[] = {"POWER_UNKNOWN", "POWER_BATTERY", "POWER_EXTERNAL"};
static const char *const power_aliases[] = {"UNKNOWN", "0", "BATTERY", "1", "EXTERNAL", "2", NULL};
static const dtc_enum_t power_state = {power_names, 3, power_aliases, false};

static const char *const fmt_names[] = {"FORMATTER_NONE", "FORMATTER_REPOSITORY",
                                        "FORMATTER_GRPC_SERVICE", "FORMATTER_JAVASCRIPT",
                                        "FORMATTER_CAYENNELPP"};
static const char *const fmt_aliases[] = {"NONE",         "0", "REPOSITORY", "1",
                                          "GRPC_SERVICE", "2", "JAVASCRIPT", "3",
                                          "CAYENNELPP",   "4", NULL};
const dtc_enum_t dtc_enum_payload_formatter = {fmt_names, 5, fmt_aliases, false};

int dtc_enum_parse(const dtc_enum_t *e, const char *s, int *out)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(s, e->names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    for (size_t i = 0; e->aliases != NULL && e->aliases[i] != NULL; i += 2)
        if (strcmp(s, e->aliases[i]) == 0) {
            *out = atoi(e->aliases[i + 1]);
            return 0;
        }
    if (*s >= '0' && *s <= '9' && strlen(s) <= 3) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v >= 0 && (size_t)v < e->n) {
            *out = (int)v;
            return 0;
        }
    }
    return -1;
}

json_t *dtc_enum_json(const dtc_enum_t *e, int v)
{
    if (e->as_number || v < 0 || (size_t)v >= e->n)
        return json_integer(v);
    return json_string(e->names[v]);
}

/* ---- hex, strings, paths --------------------------------------------------------------- */

int dtc_hex_parse(const char *s, size_t len, uint8_t *out, size_t n)
{
    memset(out, 0, n);
    if (len == 0)
        return 0;
    if (len != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int h = lw_hex_digit(s[2 * i]), l = lw_hex_digit(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return -1;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return 0;
}

void dtc_hex_upper(const uint8_t *b, size_t n, char *out)
{
    lw_hex_encode(b, n, out);
    for (size_t i = 0; i < 2 * n; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

json_t *dtc_json_stringn_lossy(const uint8_t *s, size_t n)
{
    json_t *j = json_stringn((const char *)s, n);
    if (j != NULL)
        return j;
    /* invalid UTF-8 (or a NUL): each bad byte becomes U+FFFD */
    char *o = lw_malloc(n * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int l = s[i] == 0 ? 0 : dtc_utf8_seq(s + i, n - i);
        if (l > 0) {
            memcpy(o + k, s + i, (size_t)l);
            k += (size_t)l;
            i += (size_t)l;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    j = json_stringn(o, k);
    free(o);
    return j != NULL ? j : json_string("");
}

void dtc_paths_add(dtc_paths_t *p, const char *path)
{
    if (dtc_paths_has(p, path))
        return;
    if (p->n == p->cap) {
        p->cap = p->cap == 0 ? 16 : p->cap * 2;
        p->v = lw_realloc(p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = lw_strdup(path);
}

bool dtc_paths_has(const dtc_paths_t *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i], path) == 0)
            return true;
    return false;
}

void dtc_paths_remove(dtc_paths_t *p, const char *path)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i], path) == 0) {
            free(p->v[i]);
            continue;
        }
        p->v[k++] = p->v[i];
    }
    p->n = k;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dtc_paths_sort(dtc_paths_t *p)
{
    if (p->n > 1)
        qsort(p->v, p->n, sizeof *p->v, cmp_str);
}

void dtc_paths_clear(dtc_paths_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    p->n = 0;
}

void dtc_paths_free(dtc_paths_t *p)
{
    dtc_paths_clear(p);
    free(p->v);
    p->v = NULL;
    p->cap = 0;
}

void dtc_json_set_path(json_t *root, const char *path, json_t *v)
{
    char seg[128];
    json_t *o = root;
    for (;;) {
        const char *dot = strchr(path, '.');
        if (dot == NULL) {
            json_object_set_new(o, path, v);
            return;
        }
        size_t n = (size_t)(dot - path);
        if (n >= sizeof seg)
            n = sizeof seg - 1;
        memcpy(seg, path, n);
        seg[n] = '\0';
        json_t *c = json_object_get(o, seg);
        if (!json_is_object(c)) {
            c = json_object();
            json_object_set_new(o, seg, c);
        }
        o = c;
        path = dot + 1;
    }
}

/* ---- the schema ------------------------------------------------------------------------- */

typedef enum {
    K_MSG,
    K_STR,
    K_BOOL,
    K_U32,
    K_I32,
    K_U64,
    K_FLOAT,
    K_ENUM,
    K_HEX,
    K_BYTES,
    K_TIME,
    K_DUR,
    K_STRMAP,
    K_U32ARR,
    K_U64ARR,
    K_OPAQUE,     /* kept as given; a leaf (maps, structs, repeated messages) */
    K_OPAQUE_MSG, /* kept as given; leaves found generically */
} kind_t;

typedef struct field {
    const char *name;
    const char *path; /* the path segment when it differs from name (oneofs) */
    kind_t kind;
    bool wrap;          /* a wrapper value: set when present */
    bool zero_if_empty; /* a message that counts only when one of its fields is set */
    size_t hexlen;
    const dtc_enum_t *en;
    const struct field *sub;
    size_t nsub;
} field_t;

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(n)                                                                                     \
    {                                                                                              \
        .name = n, .kind = K_STR                                                                   \
    }
#define BOOL(n)                                                                                    \
    {                                                                                              \
        .name = n, .kind = K_BOOL                                                                  \
    }
#define U32(n)                                                                                     \
    {                                                                                              \
        .name = n, .kind = K_U32                                                                   \
    }
#define U64(n)                                                                                     \
    {                                                                                              \
        .name = n, .kind = K_U64                                                                   \
    }
#define TIME(n)                                                                                    \
    {                                                                                              \
        .name = n, .kind = K_TIME                                                                  \
    }
#define DUR(n)                                                                                     \
    {                                                                                              \
        .name = n, .kind = K_DUR                                                                   \
    }
#define HEX(n, l)                                                                                  \
    {                                                                                              \
        .name = n, .kind = K_HEX, .hexlen = l                                                      \
    }
#define ENUM(n, e)                                                                                 \
    {                                                                                              \
        .name = n, .kind = K_ENUM, .en = &(e)                                                      \
    }
#define MSG(n, s)                                                                                  \
    {                                                                                              \
        .name = n, .kind = K_MSG, .sub = s, .nsub = N(s)                                           \
    }
#define OPAQUE(n)                                                                                  \
    {                                                                                              \
        .name = n, .kind = K_OPAQUE                                                                \
    }
#define OMSG(n)                                                                                    \
    {                                                                                              \
        .name = n, .kind = K_OPAQUE_MSG                                                            \
    }
#define W_BOOL(n)                                                                                  \
    {                                                                                              \
        .name = n, .kind = K_BOOL, .wrap = true                                                    \
    }
#define W_U32(n)                                                                                   \
    {                                                                                              \
        .name = n, .kind = K_U32, .wrap = true                                                     \
    }
#define W_U64(n)                                                                                   \
    {                                                                                              \
        .name = n, .kind = K_U64, .wrap = true                                                     \
    }
#define W_FLOAT(n)                                                                                 \
    {                                                                                              \
        .name = n, .kind = K_FLOAT, .wrap = true                                                   \
    }
#define W_ENUM(n, e)                                                                               \
    {                                                                                              \
        .name = n, .kind = K_ENUM, .wrap = true, .en = &(e)                                        \
    }
#define W_DUR(n)                                                                                   \
    {                                                                                              \
        .name = n, .kind = K_DUR, .wrap = true                                                     \
    }

static const field_t app_ids[] = {STR("application_id")};
static const field_t ids[] = {STR("device_id"), MSG("application_ids", app_ids), HEX("dev_eui", 8),
                              HEX("join_eui", 8), HEX("dev_addr", 4)};
static const field_t key_envelope[] = {
    HEX("key", 16), STR("kek_label"), {.name = "encrypted_key", .kind = K_BYTES}};
static const field_t root_keys[] = {STR("root_key_id"), MSG("app_key", key_envelope),
                                    MSG("nwk_key", key_envelope)};
static const field_t session_keys[] = {{.name = "session_key_id", .kind = K_BYTES},
                                       MSG("f_nwk_s_int_key", key_envelope),
                                       MSG("s_nwk_s_int_key", key_envelope),
                                       MSG("nwk_s_enc_key", key_envelope),
                                       MSG("app_s_key", key_envelope)};
static const field_t session[] = {HEX("dev_addr", 4),
                                  {.name = "keys",
                                   .kind = K_MSG,
                                   .zero_if_empty = true,
                                   .sub = session_keys,
                                   .nsub = N(session_keys)},
                                  U32("last_f_cnt_up"),
                                  U32("last_n_f_cnt_down"),
                                  U32("last_a_f_cnt_down"),
                                  U32("last_conf_f_cnt_down"),
                                  TIME("started_at"),
                                  OPAQUE("queued_application_downlinks")};
static const field_t version_ids[] = {STR("brand_id"), STR("model_id"), STR("hardware_version"),
                                      STR("firmware_version"), STR("band_id")};
static const field_t lora_alliance_ids[] = {U32("vendor_id"), U32("vendor_profile_id")};
static const field_t formatters[] = {
    ENUM("up_formatter", dtc_enum_payload_formatter), STR("up_formatter_parameter"),
    ENUM("down_formatter", dtc_enum_payload_formatter), STR("down_formatter_parameter")};
static const field_t cac[] = {TIME("valid_from"), TIME("valid_to"), STR("value")};
static const field_t adr_static[] = {ENUM("data_rate_index", dtc_enum_data_rate_index),
                                     U32("tx_power_index"), U32("nb_trans")};
static const field_t adr_dynamic[] = {W_FLOAT("margin"),
                                      W_ENUM("min_data_rate_index", dtc_enum_data_rate_index),
                                      W_ENUM("max_data_rate_index", dtc_enum_data_rate_index),
                                      W_U32("min_tx_power_index"),
                                      W_U32("max_tx_power_index"),
                                      W_U32("min_nb_trans"),
                                      W_U32("max_nb_trans"),
                                      OMSG("channel_steering"),
                                      OMSG("overrides")};
static const field_t empty[] = {{.name = NULL}};
static const field_t adr[] = {
    {.name = "static",
     .path = "mode.static",
     .kind = K_MSG,
     .sub = adr_static,
     .nsub = N(adr_static)},
    {.name = "dynamic",
     .path = "mode.dynamic",
     .kind = K_MSG,
     .sub = adr_dynamic,
     .nsub = N(adr_dynamic)},
    {.name = "disabled", .path = "mode.disabled", .kind = K_MSG, .sub = empty, .nsub = 0}};
static const field_t mac_settings[] = {
    W_DUR("class_b_timeout"),
    W_ENUM("ping_slot_periodicity", ping_period),
    W_ENUM("ping_slot_data_rate_index", dtc_enum_data_rate_index),
    W_U64("ping_slot_frequency"),
    W_U64("beacon_frequency"),
    W_DUR("class_c_timeout"),
    W_ENUM("rx1_delay", dtc_enum_rx_delay),
    W_ENUM("rx1_data_rate_offset", dtc_enum_data_rate_offset),
    W_ENUM("rx2_data_rate_index", dtc_enum_data_rate_index),
    W_U64("rx2_frequency"),
    {.name = "factory_preset_frequencies", .kind = K_U64ARR},
    W_ENUM("max_duty_cycle", duty_cycle),
    W_BOOL("supports_32_bit_f_cnt"),
    W_BOOL("use_adr"),
    W_FLOAT("adr_margin"),
    W_BOOL("resets_f_cnt"),
    W_DUR("status_time_periodicity"),
    W_U32("status_count_periodicity"),
    W_ENUM("desired_rx1_delay", dtc_enum_rx_delay),
    W_ENUM("desired_rx1_data_rate_offset", dtc_enum_data_rate_offset),
    W_ENUM("desired_rx2_data_rate_index", dtc_enum_data_rate_index),
    W_U64("desired_rx2_frequency"),
    W_ENUM("desired_max_duty_cycle", duty_cycle),
    W_ENUM("desired_adr_ack_limit_exponent", ack_limit),
    W_ENUM("desired_adr_ack_delay_exponent", ack_delay),
    W_ENUM("desired_ping_slot_data_rate_index", dtc_enum_data_rate_index),
    W_U64("desired_ping_slot_frequency"),
    W_U64("desired_beacon_frequency"),
    W_ENUM("desired_max_eirp", device_eirp),
    W_DUR("class_b_c_downlink_interval"),
    W_BOOL("uplink_dwell_time"),
    W_BOOL("downlink_dwell_time"),
    MSG("adr", adr),
    W_BOOL("schedule_downlinks"),
    OMSG("relay"),
    OMSG("desired_relay")};
static const field_t end_device[] = {MSG("ids", ids),
                                     TIME("created_at"),
                                     TIME("updated_at"),
                                     STR("name"),
                                     STR("description"),
                                     {.name = "attributes", .kind = K_STRMAP},
                                     MSG("version_ids", version_ids),
                                     STR("service_profile_id"),
                                     STR("network_server_address"),
                                     STR("network_server_kek_label"),
                                     STR("application_server_address"),
                                     STR("application_server_kek_label"),
                                     STR("application_server_id"),
                                     STR("join_server_address"),
                                     OPAQUE("locations"),
                                     OMSG("picture"),
                                     BOOL("supports_class_b"),
                                     BOOL("supports_class_c"),
                                     ENUM("lorawan_version", dtc_enum_mac_version),
                                     ENUM("lorawan_phy_version", dtc_enum_phy_version),
                                     STR("frequency_plan_id"),
                                     U64("min_frequency"),
                                     U64("max_frequency"),
                                     BOOL("supports_join"),
                                     BOOL("resets_join_nonces"),
                                     MSG("root_keys", root_keys),
                                     HEX("net_id", 3),
                                     MSG("mac_settings", mac_settings),
                                     OMSG("mac_state"),
                                     OMSG("pending_mac_state"),
                                     MSG("session", session),
                                     MSG("pending_session", session),
                                     U32("last_dev_nonce"),
                                     {.name = "used_dev_nonces", .kind = K_U32ARR},
                                     U32("last_join_nonce"),
                                     U32("last_rj_count_0"),
                                     U32("last_rj_count_1"),
                                     TIME("last_dev_status_received_at"),
                                     ENUM("power_state", power_state),
                                     W_FLOAT("battery_percentage"),
                                     {.name = "downlink_margin", .kind = K_I32},
                                     OPAQUE("queued_application_downlinks"),
                                     MSG("formatters", formatters),
                                     STR("provisioner_id"),
                                     OPAQUE("provisioning_data"),
                                     BOOL("multicast"),
                                     MSG("claim_authentication_code", cac),
                                     BOOL("skip_payload_crypto"),
                                     W_BOOL("skip_payload_crypto_override"),
                                     TIME("activated_at"),
                                     TIME("last_seen_at"),
                                     STR("serial_number"),
                                     MSG("lora_alliance_profile_ids", lora_alliance_ids)};

/* protojson's json_name: "supports_32_bit_f_cnt" is also "supports32BitFCnt". */
static bool key_is(const char *name, const char *key)
{
    if (strcmp(name, key) == 0)
        return true;
    const char *n = name, *k = key;
    while (*n != '\0' && *k != '\0') {
        if (*n == '_') {
            n++;
            if (*n == '\0' || toupper((unsigned char)*n) != *k)
                return false;
            n++;
            k++;
            continue;
        }
        if (*n != *k)
            return false;
        n++;
        k++;
    }
    return *n == '\0' && *k == '\0';
}

static const field_t *lookup(const field_t *f, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].name != NULL && key_is(f[i].name, key))
            return &f[i];
    return NULL;
}

typedef struct walk {
    dtc_paths_t *paths;
    lw_err_t *err;
} walk_t;

static int bad(walk_t *w, const char *path, const char *why)
{
    lw_err_set(w->err, &lw_err_parse_json_field, "parse JSON field `%s`: %s", path, why);
    lw_err_attr(w->err, "field", path);
    return -1;
}

static void join(char *out, size_t cap, const char *base, const char *seg)
{
    if (base[0] == '\0')
        snprintf(out, cap, "%s", seg);
    else
        snprintf(out, cap, "%s.%s", base, seg);
}

/* An unsigned number as JSON integer or decimal string. */
static int get_uint(const json_t *v, unsigned long long max, unsigned long long *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 || (unsigned long long)json_integer_value(v) > max)
            return -1;
        *out = (unsigned long long)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || x > max)
        return -1;
    *out = x;
    return 0;
}

static bool b64_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/' && *s != '-' && *s != '_' &&
            *s != '=')
            return false;
    return true;
}

static bool dur_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != 's')
        return false;
    char *end = NULL;
    strtod(s, &end);
    return end == s + n - 1;
}

/* Generic leaves of a subtree this table does not spell out. Returns the copy; *set when any
 * leaf below is set. */
static json_t *opaque(walk_t *w, const json_t *v, const char *path, bool *set)
{
    *set = false;
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *c;
        bool any = false;
        json_object_foreach((json_t *)v, k, c)
        {
            if (json_is_null(c))
                continue;
            char p[512];
            join(p, sizeof p, path, k);
            bool cs = false;
            json_t *cc = opaque(w, c, p, &cs);
            if (cc != NULL)
                json_object_set_new(o, k, cc);
            any = any || cs;
        }
        if (!any)
            dtc_paths_add(w->paths, path);
        *set = true;
        return o;
    }
    bool nz = (json_is_string(v) && json_string_length(v) > 0) ||
              (json_is_integer(v) && json_integer_value(v) != 0) ||
              (json_is_real(v) && json_real_value(v) != 0) || json_is_true(v) ||
              (json_is_array(v) && json_array_size(v) > 0);
    if (!nz)
        return NULL;
    dtc_paths_add(w->paths, path);
    *set = true;
    return json_deep_copy(v);
}

static int walk_msg(walk_t *w, const field_t *fields, size_t nf, const json_t *in, json_t *out,
                    const char *base, bool *any);

/* One field: *v_out the value to keep (NULL: dropped), *set when it counts for the mask. */
static int walk_field(walk_t *w, const field_t *f, const json_t *v, const char *path,
                      json_t **v_out, bool *set)
{
    *v_out = NULL;
    *set = false;
    switch (f->kind) {
    case K_MSG: {
        if (!json_is_object(v))
            return bad(w, path, "not an object");
        json_t *o = json_object();
        bool any = false;
        if (walk_msg(w, f->sub, f->nsub, v, o, path, &any) != 0) {
            json_decref(o);
            return -1;
        }
        if (!any && f->zero_if_empty) {
            json_decref(o);
            return 0;
        }
        if (!any)
            dtc_paths_add(w->paths, path);
        *v_out = o;
        *set = true;
        return 0;
    }
    case K_OPAQUE_MSG:
        if (!json_is_object(v))
            return bad(w, path, "not an object");
        *v_out = opaque(w, v, path, set);
        return 0;
    case K_OPAQUE:
        if (json_is_array(v) && json_array_size(v) == 0)
            return 0;
        *v_out = json_deep_copy(v);
        *set = true;
        break;
    case K_STR:
        if (!json_is_string(v))
            return bad(w, path, "not a string");
        if (json_string_length(v) > 0) {
            *v_out = json_deep_copy(v);
            *set = true;
        }
        break;
    case K_BOOL:
        if (!json_is_boolean(v))
            return bad(w, path, "not a boolean");
        if (json_is_true(v) || f->wrap) {
            *v_out = json_deep_copy(v);
            *set = true;
        }
        break;
    case K_U32:
    case K_U64: {
        unsigned long long x = 0;
        if (get_uint(v, f->kind == K_U32 ? 0xFFFFFFFFull : ~0ull, &x) != 0)
            return bad(w, path, "not an unsigned integer in range");
        if (x != 0 || f->wrap) {
            if (f->kind == K_U64) {
                char s[24];
                snprintf(s, sizeof s, "%llu", x);
                *v_out = json_string(s);
            } else {
                *v_out = json_integer((json_int_t)x);
            }
            *set = true;
        }
        break;
    }
    case K_I32: {
        long long x = 0;
        if (json_is_integer(v))
            x = json_integer_value(v);
        else if (json_is_string(v)) {
            char *end = NULL;
            errno = 0;
            x = strtoll(json_string_value(v), &end, 10);
            if (*end != '\0' || end == json_string_value(v) || errno != 0)
                return bad(w, path, "not an integer");
        } else
            return bad(w, path, "not an integer");
        if (x < -2147483648LL || x > 2147483647LL)
            return bad(w, path, "not an integer in range");
        if (x != 0) {
            *v_out = json_integer(x);
            *set = true;
        }
        break;
    }
    case K_FLOAT: {
        double x = 0;
        if (json_is_number(v))
            x = json_number_value(v);
        else if (json_is_string(v)) {
            char *end = NULL;
            x = strtod(json_string_value(v), &end);
            if (*end != '\0' || end == json_string_value(v))
                return bad(w, path, "not a number");
        } else
            return bad(w, path, "not a number");
        if (x != 0 || f->wrap) {
            *v_out = json_real(x);
            *set = true;
        }
        break;
    }
    case K_ENUM: {
        int x = -1;
        if (json_is_integer(v)) {
            if (json_integer_value(v) < 0 || (size_t)json_integer_value(v) >= f->en->n)
                return bad(w, path, "not a value of its enumeration");
            x = (int)json_integer_value(v);
        } else if (!json_is_string(v) || dtc_enum_parse(f->en, json_string_value(v), &x) != 0)
            return bad(w, path, "not a value of its enumeration");
        if (x != 0 || f->wrap) {
            *v_out = dtc_enum_json(f->en, x);
            *set = true;
        }
        break;
    }
    case K_HEX: {
        uint8_t b[16];
        if (!json_is_string(v) ||
            dtc_hex_parse(json_string_value(v), json_string_length(v), b, f->hexlen) != 0)
            return bad(w, path, "not hexadecimal of the right length");
        bool zero = true;
        for (size_t i = 0; i < f->hexlen; i++)
            zero = zero && b[i] == 0;
        if (!zero) {
            char h[33];
            dtc_hex_upper(b, f->hexlen, h);
            *v_out = json_string(h);
            *set = true;
        }
        break;
    }
    case K_BYTES:
        if (!json_is_string(v) || !b64_ok(json_string_value(v)))
            return bad(w, path, "not base64");
        if (json_string_length(v) > 0) {
            *v_out = json_deep_copy(v);
            *set = true;
        }
        break;
    case K_TIME:
        if (!json_is_string(v) || json_string_length(v) < 10)
            return bad(w, path, "not an RFC 3339 time");
        *v_out = json_deep_copy(v);
        *set = true;
        break;
    case K_DUR:
        if (!json_is_string(v) || !dur_ok(json_string_value(v)))
            return bad(w, path, "not a duration (\"1.5s\")");
        *v_out = json_deep_copy(v);
        *set = true;
        break;
    case K_STRMAP: {
        if (!json_is_object(v))
            return bad(w, path, "not an object");
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            if (!json_is_string(c))
                return bad(w, path, "a value is not a string");
        }
        if (json_object_size(v) > 0)
            *v_out = json_deep_copy(v);
        *set = true;
        break;
    }
    case K_U32ARR:
    case K_U64ARR: {
        if (!json_is_array(v))
            return bad(w, path, "not an array");
        if (json_array_size(v) == 0)
            return 0;
        json_t *a = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            unsigned long long x = 0;
            if (get_uint(c, f->kind == K_U32ARR ? 0xFFFFFFFFull : ~0ull, &x) != 0) {
                json_decref(a);
                return bad(w, path, "an element is not an unsigned integer in range");
            }
            if (f->kind == K_U64ARR) {
                char s[24];
                snprintf(s, sizeof s, "%llu", x);
                json_array_append_new(a, json_string(s));
            } else {
                json_array_append_new(a, json_integer((json_int_t)x));
            }
        }
        *v_out = a;
        *set = true;
        break;
    }
    }
    if (*set)
        dtc_paths_add(w->paths, path);
    return 0;
}

static int walk_msg(walk_t *w, const field_t *fields, size_t nf, const json_t *in, json_t *out,
                    const char *base, bool *any)
{
    *any = false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        const field_t *f = lookup(fields, nf, k);
        if (f == NULL || json_is_null(v))
            continue; /* unknown fields are ignored; null is unset */
        char path[512];
        join(path, sizeof path, base, f->path != NULL ? f->path : f->name);
        json_t *vo = NULL;
        bool set = false;
        if (walk_field(w, f, v, path, &vo, &set) != 0)
            return -1;
        if (vo != NULL)
            json_object_set_new(out, f->name, vo);
        *any = *any || set;
    }
    return 0;
}

json_t *dtc_tts_device_normalize(const json_t *in, dtc_paths_t *paths, lw_err_t *err)
{
    walk_t w = {.paths = paths, .err = err};
    json_t *out = json_object();
    if (in != NULL && !json_is_null(in)) {
        if (!json_is_object(in)) {
            json_decref(out);
            bad(&w, "", "an end device is a JSON object");
            return NULL;
        }
        bool any = false;
        if (walk_msg(&w, end_device, N(end_device), in, out, "", &any) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    /* The Things Stack decodes into an EndDevice whose ids are always there. */
    if (json_object_get(out, "ids") == NULL) {
        json_object_set_new(out, "ids", json_object());
        dtc_paths_add(paths, "ids");
    }
    json_object_del(json_object_get(out, "ids"), "dev_addr");
    dtc_paths_remove(paths, "ids.dev_addr");
    dtc_paths_sort(paths);
    return out;
}
