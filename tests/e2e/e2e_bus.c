/* The e2e tests' window on the bus (tests/e2e/test_*.sh): consumes data-path topics and
 * writes each message as one JSON line, and publishes lw.as.down downlinks as the AS would.
 *
 *   e2e_bus consume --brokers B --topics ns.up[,gs.up,...] --out FILE [--ready FILE]
 *       A private group from the beginning of every partition. Each message becomes
 *       {"_topic","_key","_id","_partition","_offset","_consumed_at_ns", <message fields>}:
 *       the protobuf message (components/messages) rendered from its descriptor, field
 *       names as in messages.proto, bytes as hex, enums by name, EUIs (uint64 fields named
 *       *eui) as 16 hex digits and DevAddrs as 8; a message that does not decode is
 *       {"_error": "<lw_msg error name>"}; lw.events lines are {"value": <the event>}.
 *       --ready is written once partitions are assigned.
 *       Runs until SIGTERM/SIGINT.
 *   e2e_bus count --brokers B --topics ns.up --out FILE [--ready FILE] [--window-ms W]
 *       For ops/bench: from the end of every partition, counts lw.ns.up results (uplinks,
 *       distinct envelope ids, join accepts) and the latency of each uplink result beyond
 *       the deduplication window (consumed - first gateway reception - W); on SIGTERM writes
 *       {"uplinks","distinct","join_accepts","first_ns","last_ns","latency_us":{...}}, and
 *       the same every second while it runs.
 *   e2e_bus as-down --brokers B --tenant T --app A --dev D [--operation push|replace]
 *       [--f-port P --f-cnt N (--frm-payload HEX | --plain HEX --app-s-key HEX --dev-addr HEX)]
 *       [--confirmed] [--priority NAME] [--session-key-id HEX] [--correlation-id C]
 *       [--count K]
 *       Publishes one AsDown keyed "<T>/<A>/<D>" (the payload encrypted with AppSKey for
 *       FCnt N when given --plain), waits for its delivery, prints its envelope id.
 *       --count K: K downlinks in that AsDown, for FCnt N, N+1, ..., N+K-1 (each encrypted
 *       for its own FCnt), as an AS pushes a batch.
 *   e2e_bus usage-publish --brokers B --tenant T[,T2,...] [--batches N] [--uplinks U]
 *       [--devices K] [--interval-start MS] [--interval-ms I] [--repeat R]
 *       Publishes N UsageBatch messages per tenant on lw.usage (tenant/usage.h) as a
 *       producer would: batch i of interval I starting at MS + i*I (default: the current
 *       10 s interval, all batches in it), U uplinks, 1 downlink, 0 join-accepts and K
 *       devices "app/dev-<j>"; each batch R times with the same id (a redelivery). Waits
 *       for the deliveries, prints {"batches","events","elapsed_ms"}.
 *   lw.usage lines (consume) are the UsageBatch fields with the id in hex.
 *
 * Common: --prefix P (bus.topic-prefix). */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/config.h"
#include "cluster/log.h"
#include "lorawan/lorawan.h"
#include "messages/messages.h"
#include "tenant/usage.h"
#include "sim_private.h"

typedef struct e2e {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t flush; /* count: the summary written every second */
    lw_config_t *cfg;
    lw_bus_t *bus;
    int out_fd;
    const char *ready_path;
    bool ready_written, stopping;
    /* count */
    const char *count_path;
    int64_t window_ns;
    uint64_t uplinks, join_accepts, distinct;
    int64_t first_ns, last_ns;
    sim_lat_t lat;
    sim_match_t ids; /* first 4 id bytes → seen (distinct ids, approximately exact) */
    uint32_t *id_keys, *id_vals;
} e2e_t;

static void usage(void)
{
    fprintf(stderr, "usage: e2e_bus consume --brokers B --topics T[,T...] --out FILE [--ready F]\n"
                    "       e2e_bus as-down --brokers B --tenant T --app A --dev D [options]\n");
    exit(2);
}

/* ---- protobuf → JSON ----------------------------------------------------------------------- */

static json_t *msg_json(const ProtobufCMessage *m);

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (strcmp(f->name, "dev_addr") == 0) {
            snprintf(buf, sizeof buf, "%08" PRIx32, *(const uint32_t *)p);
            return json_string(buf);
        }
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (ends_with(f->name, "eui") || strcmp(f->name, "ns_id") == 0) {
            snprintf(buf, sizeof buf, "%016" PRIx64, *(const uint64_t *)p);
            return json_string(buf);
        }
        return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        return ev != NULL ? json_string(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING:
        return json_string(*(char *const *)p != NULL ? *(char *const *)p : "");
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *h = malloc(2 * b->len + 1);
        (void)lorawan_hex_encode(b->data, b->len, h, 2 * b->len + 1);
        json_t *s = json_string(h);
        free(h);
        return s;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p != NULL ? msg_json(*(ProtobufCMessage *const *)p)
                                                     : json_null();
    }
    return json_null();
}

static size_t type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* Every field that is set (proto3: non-default scalars, present messages, the chosen oneof
 * member, non-empty repeated fields). */
static json_t *msg_json(const ProtobufCMessage *m)
{
    json_t *o = json_object();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if (n == 0)
                continue;
            const char *arr = *(char *const *)(base + f->offset);
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(a, value_json(f, arr + k * type_size(f->type)));
            json_object_set_new(o, f->name, a);
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        const void *p = base + f->offset;
        json_t *v = value_json(f, p);
        /* proto3 defaults are "unset": leave them out, except inside a chosen oneof. */
        bool keep = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
        if (!keep) {
            if (json_is_integer(v))
                keep = json_integer_value(v) != 0;
            else if (json_is_real(v))
                keep = json_real_value(v) != 0;
            else if (json_is_boolean(v))
                keep = json_is_true(v);
            else if (json_is_string(v))
                keep = json_string_length(v) > 0 &&
                       !(f->type == PROTOBUF_C_TYPE_ENUM && *(const int *)p == 0) &&
                       strcmp(json_string_value(v), "00000000") != 0 &&
                       strcmp(json_string_value(v), "0000000000000000") != 0;
            else
                keep = !json_is_null(v);
        }
        if (keep)
            json_object_set_new(o, f->name, v);
        else
            json_decref(v);
    }
    return o;
}

/* ---- consume ------------------------------------------------------------------------------- */

static json_t *decode(const char *short_topic, const uint8_t *buf, size_t len)
{
    int rc = LW_MSG_E_MALFORMED;
    json_t *o = NULL;
#define DECODE(kind, Kind, desc)                                                                   \
    if (strcmp(short_topic, #kind) == 0) {                                                         \
        Kind *m = NULL;                                                                            \
        rc = lw_msg_##kind##_decode(buf, len, &m);                                                 \
        if (rc == 0) {                                                                             \
            o = msg_json(&m->base);                                                                \
            lw_msg_##kind##_free(m);                                                               \
        }                                                                                          \
    }
    /* Topic "ns.up" ↔ kind ns_up. */
    char kind[32];
    snprintf(kind, sizeof kind, "%s", short_topic);
    for (char *c = kind; *c != '\0'; c++)
        if (*c == '.')
            *c = '_';
    short_topic = kind;
    LW_MSG_KINDS(DECODE)
#undef DECODE
    if (strcmp(kind, "usage") == 0) {
        tn_usage_batch_t b;
        const char *why = NULL;
        if (tn_usage_batch_decode(buf, len, &b, &why) == 0) {
            char hex[2 * TN_USAGE_ID_LEN + 1];
            (void)lorawan_hex_encode(b.id, sizeof b.id, hex, sizeof hex);
            json_t *devs = json_array();
            for (size_t i = 0; i < b.n_active_devices; i++)
                json_array_append_new(devs, json_string(b.active_devices[i]));
            o = json_pack("{ss ss ss sI sI sI sI sI so}", "id", hex, "tenant_id", b.tenant_id,
                          "producer", b.producer, "interval_start", (json_int_t)b.interval_start_ms,
                          "interval_end", (json_int_t)b.interval_end_ms, "uplinks",
                          (json_int_t)b.uplinks, "downlinks", (json_int_t)b.downlinks,
                          "join_accepts", (json_int_t)b.join_accepts, "active_devices", devs);
        } else {
            o = json_pack("{ss}", "_error", why);
        }
        tn_usage_batch_destroy(&b);
        return o;
    }
    /* lw.events (and other JSON topics): the value as it is. */
    if (o == NULL && rc == LW_MSG_E_MALFORMED && strcmp(kind, "events") == 0) {
        json_t *v = json_loadb((const char *)buf, len, 0, NULL);
        if (v != NULL)
            o = json_pack("{so}", "value", v);
    }
    if (o == NULL)
        o = json_pack("{ss}", "_error", lw_msg_strerror(rc));
    return o;
}

static const char *prefix = "lw.";

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    e2e_t *e = arg;
    const char *short_topic = m->topic;
    if (strncmp(short_topic, prefix, strlen(prefix)) == 0)
        short_topic += strlen(prefix);
    json_t *o = decode(short_topic, m->value, m->value_len);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_object_set_new(o, "_topic", json_string(short_topic));
    json_object_set_new(o, "_key", json_stringn(m->key != NULL ? m->key : "", m->key_len));
    json_object_set_new(o, "_id", json_string(m->id));
    json_object_set_new(o, "_partition", json_integer(m->partition));
    json_object_set_new(o, "_offset", json_integer(m->offset));
    json_object_set_new(o, "_consumed_at_ns",
                        json_integer((json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec));
    char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    size_t n = strlen(txt);
    txt[n] = '\n';
    if (write(e->out_fd, txt, n + 1) != (ssize_t)(n + 1)) {
        perror("write");
        exit(1);
    }
    free(txt);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_count(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    e2e_t *e = arg;
    Lw__Msg__NsUp *up = NULL;
    if (lw_msg_ns_up_decode(m->value, m->value_len, &up) != 0)
        return;
    int64_t now = now_ns();
    if (up->up_case == LW__MSG__NS_UP__UP_JOIN_ACCEPT)
        e->join_accepts++;
    if (up->up_case == LW__MSG__NS_UP__UP_UPLINK_MESSAGE) {
        const Lw__Msg__UplinkMessage *u = up->uplink_message;
        e->uplinks++;
        if (e->first_ns == 0)
            e->first_ns = now;
        e->last_ns = now;
        int64_t first = 0;
        for (size_t i = 0; i < u->n_rx_metadata; i++)
            if (u->rx_metadata[i]->received_at != 0 &&
                (first == 0 || u->rx_metadata[i]->received_at < first))
                first = u->rx_metadata[i]->received_at;
        if (first == 0)
            first = u->received_at;
        if (first != 0)
            sim_lat_add(&e->lat, (now - first - e->window_ns) / 1000);
        uint32_t key = 0, v;
        memcpy(&key, up->envelope->id.data, sizeof key);
        key |= 1; /* never 0 */
        if (!sim_match_get(&e->ids, key, &v)) {
            e->distinct++;
            (void)sim_match_put(&e->ids, key, 1);
        }
    }
    lw_msg_ns_up_free(up);
}

static void count_write(e2e_t *e)
{
    json_t *o = json_pack("{sIsIsIsIsIso}", "uplinks", (json_int_t)e->uplinks, "distinct",
                          (json_int_t)e->distinct, "join_accepts", (json_int_t)e->join_accepts,
                          "first_ns", (json_int_t)e->first_ns, "last_ns", (json_int_t)e->last_ns,
                          "latency_us", sim_lat_json(&e->lat));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", e->count_path);
    if (json_dump_file(o, tmp, JSON_COMPACT) == 0)
        rename(tmp, e->count_path); /* a reader never sees half of it */
    json_decref(o);
}

static void on_flush(uv_timer_t *t)
{
    count_write(t->data);
}

static void on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *p, size_t n)
{
    (void)c;
    (void)p;
    (void)n;
    e2e_t *e = arg;
    if (e->ready_path != NULL && !e->ready_written) {
        FILE *f = fopen(e->ready_path, "w");
        if (f != NULL) {
            fputs("ready\n", f);
            fclose(f);
        }
        e->ready_written = true;
    }
}

static void stopped(void *arg)
{
    e2e_t *e = arg;
    if (e->count_path != NULL)
        uv_close((uv_handle_t *)&e->flush, NULL);
    uv_close((uv_handle_t *)&e->sigint, NULL);
    uv_close((uv_handle_t *)&e->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    e2e_t *e = s->data;
    if (e->stopping)
        return;
    e->stopping = true;
    lw_bus_stop(e->bus, stopped, e);
}

/* ---- as-down ------------------------------------------------------------------------------- */

static int hex_arg(const char *flag, const char *v, uint8_t *out, size_t cap, size_t *len)
{
    if (lorawan_hex_decode(v, strlen(v), out, cap, len) != 0) {
        fprintf(stderr, "e2e_bus: %s: not hex (at most %zu bytes)\n", flag, cap);
        return -1;
    }
    return 0;
}

typedef struct as_down_args {
    const char *tenant, *app, *dev, *operation, *priority, *correlation_id;
    const char *frm_payload, *plain, *app_s_key, *dev_addr, *session_key_id;
    long f_port;
    unsigned long f_cnt, count;
    bool confirmed, has_downlink;
} as_down_args_t;

#define AS_DOWN_MAX 64 /* --count at most */

/* The FRMPayload of downlink i of the AsDown (FCnt f_cnt + i) into frm. */
static int as_down_payload(const as_down_args_t *a, unsigned long i, uint8_t *frm, size_t cap,
                           size_t *frm_len)
{
    *frm_len = 0;
    if (a->frm_payload != NULL)
        return hex_arg("--frm-payload", a->frm_payload, frm, cap, frm_len);
    if (a->plain == NULL)
        return 0;
    uint8_t key[16];
    size_t kl = 0;
    uint32_t addr = (uint32_t)strtoul(a->dev_addr != NULL ? a->dev_addr : "0", NULL, 16);
    if (a->app_s_key == NULL || a->dev_addr == NULL ||
        hex_arg("--plain", a->plain, frm, cap, frm_len) != 0 ||
        hex_arg("--app-s-key", a->app_s_key, key, sizeof key, &kl) != 0 || kl != 16) {
        fprintf(stderr, "e2e_bus: --plain needs --app-s-key (16 bytes) and --dev-addr\n");
        return 2;
    }
    lorawan_key_t k;
    if (lorawan_key_init(&k, key) != 0)
        return 1;
    lorawan_payload_encrypt(&k, true, addr, (uint32_t)(a->f_cnt + i), frm, *frm_len, frm);
    lorawan_key_destroy(&k);
    return 0;
}

static int as_down(e2e_t *e, const as_down_args_t *a)
{
    static uint8_t frm[AS_DOWN_MAX][256];
    uint8_t skid[64], id[LW_MSG_ID_LEN];
    size_t frm_len[AS_DOWN_MAX], skid_len = 0;
    unsigned long n = a->count == 0 ? 1 : a->count;
    if (n > AS_DOWN_MAX) {
        fprintf(stderr, "e2e_bus: --count: at most %d\n", AS_DOWN_MAX);
        return 2;
    }
    for (unsigned long i = 0; i < n; i++) {
        int rc = as_down_payload(a, i, frm[i], sizeof frm[i], &frm_len[i]);
        if (rc != 0)
            return rc;
    }
    if (a->session_key_id != NULL &&
        hex_arg("--session-key-id", a->session_key_id, skid, sizeof skid, &skid_len) != 0)
        return 2;
    RAND_bytes(id, sizeof id);

    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id.data = id;
    env.id.len = sizeof id;
    env.tenant_id = (char *)a->tenant;
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    char *corr[1] = {(char *)(a->correlation_id != NULL ? a->correlation_id : "e2e")};
    env.n_correlation_ids = 1;
    env.correlation_ids = corr;
    Lw__Msg__ApplicationIdentifiers app = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    app.application_id = (char *)a->app;
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    ids.device_id = (char *)a->dev;
    ids.application_ids = &app;
    Lw__Msg__TxSchedulePriority prio = LW__MSG__TX_SCHEDULE_PRIORITY__NORMAL;
    if (a->priority != NULL) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
            &lw__msg__tx_schedule_priority__descriptor, a->priority);
        if (v == NULL) {
            fprintf(stderr, "e2e_bus: --priority: LOWEST .. HIGHEST\n");
            return 2;
        }
        prio = (Lw__Msg__TxSchedulePriority)v->value;
    }
    Lw__Msg__ApplicationDownlink dl[AS_DOWN_MAX];
    Lw__Msg__ApplicationDownlink *dls[AS_DOWN_MAX];
    for (unsigned long i = 0; i < n; i++) {
        lw__msg__application_downlink__init(&dl[i]);
        dl[i].f_port = (uint32_t)a->f_port;
        dl[i].f_cnt = (uint32_t)(a->f_cnt + i);
        dl[i].frm_payload.data = frm[i];
        dl[i].frm_payload.len = frm_len[i];
        dl[i].confirmed = a->confirmed;
        dl[i].session_key_id.data = skid;
        dl[i].session_key_id.len = skid_len;
        dl[i].priority = prio;
        dls[i] = &dl[i];
    }
    Lw__Msg__AsDown m = LW__MSG__AS_DOWN__INIT;
    m.envelope = &env;
    m.end_device_ids = &ids;
    m.operation = a->operation != NULL && strcmp(a->operation, "replace") == 0
                      ? LW__MSG__DOWNLINK_QUEUE_OPERATION__REPLACE
                      : LW__MSG__DOWNLINK_QUEUE_OPERATION__PUSH;
    m.n_downlinks = a->has_downlink ? n : 0;
    m.downlinks = dls;
    static uint8_t buf[AS_DOWN_MAX * 320];
    size_t len = 0;
    int rc = lw_msg_as_down_encode(&m, buf, sizeof buf, &len);
    if (rc != 0) {
        fprintf(stderr, "e2e_bus: encode: %s\n", lw_msg_strerror(rc));
        return 1;
    }
    char key[300];
    int kl = snprintf(key, sizeof key, "%s/%s/%s", a->tenant, a->app, a->dev);
    lw_err_t err;
    lw_err_clear(&err);
    if (lw_bus_publish(e->bus, "as.down", key, (size_t)kl, buf, len, &err) != 0) {
        fprintf(stderr, "e2e_bus: publish: %s\n", err.message);
        return 1;
    }
    char hex[2 * LW_MSG_ID_LEN + 1];
    (void)lorawan_hex_encode(id, sizeof id, hex, sizeof hex);
    printf("%s\n", hex);
    e->stopping = true;
    lw_bus_stop(e->bus, stopped, e); /* flushes: returns once delivered */
    return 0;
}

typedef struct usage_args {
    const char *tenants;
    unsigned long batches, uplinks, devices, repeat;
    long long interval_start, interval_ms;
} usage_args_t;

static uint64_t usage_started_ms;

static int usage_publish(e2e_t *e, const usage_args_t *a)
{
    char *list = strdup(a->tenants);
    char *names[256];
    size_t nt = 0;
    for (char *t = strtok(list, ","); t != NULL && nt < 256; t = strtok(NULL, ","))
        names[nt++] = t;
    unsigned long ndev =
        a->devices > TN_USAGE_BATCH_DEVICES_MAX ? TN_USAGE_BATCH_DEVICES_MAX : a->devices;
    char **devs = calloc(ndev > 0 ? ndev : 1, sizeof *devs);
    for (unsigned long j = 0; j < ndev; j++) {
        devs[j] = malloc(32);
        snprintf(devs[j], 32, "app/dev-%lu", j);
    }
    long long iv = a->interval_ms > 0 ? a->interval_ms : 10000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    long long start = a->interval_start > 0 ? a->interval_start : now - now % iv;
    size_t cap = 64 + ndev * 40;
    uint8_t *buf = malloc(cap);
    unsigned long repeat = a->repeat > 0 ? a->repeat : 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    usage_started_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    int rc = 0;
    unsigned long published = 0;
    for (unsigned long i = 0; i < a->batches && rc == 0; i++) {
        for (size_t t = 0; t < nt && rc == 0; t++) {
            tn_usage_batch_t b;
            memset(&b, 0, sizeof b);
            RAND_bytes(b.id, sizeof b.id);
            snprintf(b.tenant_id, sizeof b.tenant_id, "%s", names[t]);
            snprintf(b.producer, sizeof b.producer, "e2e_bus@%ld", (long)getpid());
            b.interval_start_ms = a->interval_start > 0 ? start + (long long)i * iv : start;
            b.interval_end_ms = b.interval_start_ms + iv;
            b.uplinks = a->uplinks;
            b.downlinks = 1;
            b.n_active_devices = ndev;
            b.active_devices = devs;
            size_t len = tn_usage_batch_encode(&b, buf, cap);
            for (unsigned long r = 0; r < repeat && rc == 0; r++) {
                lw_err_t err;
                lw_err_clear(&err);
                /* A full producer queue: let the loop deliver, then try again. */
                while (lw_bus_publish(e->bus, TN_USAGE_TOPIC, b.tenant_id, strlen(b.tenant_id), buf,
                                      len, &err) != 0) {
                    if (uv_run(&e->loop, UV_RUN_NOWAIT) == 0)
                        usleep(1000);
                    if (++published > 100000000ul) {
                        fprintf(stderr, "e2e_bus: publish: %s\n", err.message);
                        rc = 1;
                        break;
                    }
                }
            }
        }
    }
    for (unsigned long j = 0; j < ndev; j++)
        free(devs[j]);
    free(devs);
    free(buf);
    free(list);
    e->stopping = true;
    lw_bus_stop(e->bus, stopped, e); /* flushes: returns once delivered */
    return rc;
}

int main(int argc, char **argv)
{
    e2e_t e;
    memset(&e, 0, sizeof e);
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    const char *brokers = NULL, *topics = NULL, *out = NULL;
    as_down_args_t ad = {.f_port = 1};
    usage_args_t ua = {.batches = 1, .uplinks = 1, .devices = 1, .repeat = 1};
    lw_err_t err;
    lw_err_clear(&err);
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    e.cfg = lw_config_new();
    lw_bus_config_register(e.cfg);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--confirmed") == 0) {
            ad.confirmed = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (v == NULL)
            usage();
#define ARG(name, dst) else if (strcmp(a, name) == 0) dst = v
        if (strcmp(a, "--brokers") == 0)
            brokers = v;
        ARG("--topics", topics);
        ARG("--out", out);
        ARG("--ready", e.ready_path);
        else if (strcmp(a, "--window-ms") == 0) e.window_ns = strtoll(v, NULL, 10) * 1000000;
        ARG("--tenant", ad.tenant);
        ARG("--app", ad.app);
        ARG("--dev", ad.dev);
        ARG("--operation", ad.operation);
        ARG("--priority", ad.priority);
        ARG("--correlation-id", ad.correlation_id);
        ARG("--frm-payload", ad.frm_payload);
        ARG("--plain", ad.plain);
        ARG("--app-s-key", ad.app_s_key);
        ARG("--dev-addr", ad.dev_addr);
        ARG("--session-key-id", ad.session_key_id);
        else if (strcmp(a, "--f-port") == 0) ad.f_port = strtol(v, NULL, 10);
        else if (strcmp(a, "--f-cnt") == 0) ad.f_cnt = strtoul(v, NULL, 0);
        else if (strcmp(a, "--count") == 0) ad.count = strtoul(v, NULL, 10);
        else if (strcmp(a, "--batches") == 0) ua.batches = strtoul(v, NULL, 10);
        else if (strcmp(a, "--uplinks") == 0) ua.uplinks = strtoul(v, NULL, 10);
        else if (strcmp(a, "--devices") == 0) ua.devices = strtoul(v, NULL, 10);
        else if (strcmp(a, "--repeat") == 0) ua.repeat = strtoul(v, NULL, 10);
        else if (strcmp(a, "--interval-start") == 0) ua.interval_start = strtoll(v, NULL, 10);
        else if (strcmp(a, "--interval-ms") == 0) ua.interval_ms = strtoll(v, NULL, 10);
        else if (strcmp(a, "--prefix") == 0)
        {
            prefix = v;
            if (lw_config_set(e.cfg, "bus.topic-prefix", v, "flag", &err) != 0)
                goto cfg_fail;
        }
        else usage();
#undef ARG
    }
    ad.has_downlink = ad.frm_payload != NULL || ad.plain != NULL;
    if (brokers == NULL || lw_config_set(e.cfg, "bus.brokers", brokers, "flag", &err) != 0)
        goto cfg_fail;
    uv_loop_init(&e.loop);
    e.bus = lw_bus_new(&e.loop, e.cfg, &err);
    if (e.bus == NULL) {
        fprintf(stderr, "e2e_bus: %s: %s\n", lw_err_name(&err), err.message);
        return 1;
    }
    uv_signal_init(&e.loop, &e.sigint);
    uv_signal_init(&e.loop, &e.sigterm);
    e.sigint.data = e.sigterm.data = &e;
    uv_signal_start(&e.sigint, on_signal, SIGINT);
    uv_signal_start(&e.sigterm, on_signal, SIGTERM);

    int rc = 0;
    if (strcmp(mode, "count") == 0) {
        if (topics == NULL || out == NULL)
            usage();
        e.count_path = out;
        /* 2^23 slots: distinct ids of up to ~6 million results */
        uint32_t cap = 1u << 23;
        e.id_keys = malloc((size_t)cap * sizeof(uint32_t));
        e.id_vals = malloc((size_t)cap * sizeof(uint32_t));
        sim_match_init(&e.ids, e.id_keys, e.id_vals, cap);
        const char *names[] = {topics};
        lw_bus_handler_t h = {.on_message = on_count, .on_assign = on_assign};
        uv_timer_init(&e.loop, &e.flush);
        e.flush.data = &e;
        uv_timer_start(&e.flush, on_flush, 1000, 1000);
        if (lw_bus_subscribe_opts(e.bus, NULL, names, 1, &h, &e, NULL, &err) == NULL) {
            fprintf(stderr, "e2e_bus: %s: %s\n", lw_err_name(&err), err.message);
            return 1;
        }
        uv_run(&e.loop, UV_RUN_DEFAULT);
        count_write(&e);
        sim_lat_free(&e.lat);
        free(e.id_keys);
        free(e.id_vals);
    } else if (strcmp(mode, "consume") == 0) {
        if (topics == NULL || out == NULL)
            usage();
        e.out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (e.out_fd < 0) {
            perror(out);
            return 1;
        }
        char *list = strdup(topics);
        const char *names[16];
        size_t n = 0;
        for (char *t = strtok(list, ","); t != NULL && n < 16; t = strtok(NULL, ","))
            names[n++] = t;
        lw_bus_handler_t h = {.on_message = on_message, .on_assign = on_assign};
        lw_bus_sub_opts_t so = {.from_beginning = true};
        if (lw_bus_subscribe_opts(e.bus, NULL, names, n, &h, &e, &so, &err) == NULL) {
            fprintf(stderr, "e2e_bus: %s: %s\n", lw_err_name(&err), err.message);
            return 1;
        }
        uv_run(&e.loop, UV_RUN_DEFAULT);
        free(list);
        close(e.out_fd);
    } else if (strcmp(mode, "as-down") == 0) {
        if (ad.tenant == NULL || ad.app == NULL || ad.dev == NULL)
            usage();
        rc = as_down(&e, &ad);
        if (rc != 0)
            on_signal(&e.sigint, SIGINT);
        uv_run(&e.loop, UV_RUN_DEFAULT);
        lw_bus_stats_t st;
        lw_bus_stats(e.bus, &st);
        if (rc == 0 && st.delivered != 1) {
            fprintf(stderr, "e2e_bus: the AsDown was not delivered\n");
            rc = 1;
        }
    } else if (strcmp(mode, "usage-publish") == 0) {
        ua.tenants = ad.tenant;
        if (ua.tenants == NULL)
            usage();
        rc = usage_publish(&e, &ua);
        uv_run(&e.loop, UV_RUN_DEFAULT);
        lw_bus_stats_t st;
        lw_bus_stats(e.bus, &st);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t end = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        if (rc == 0 && st.delivered != st.published) {
            fprintf(stderr, "e2e_bus: %" PRIu64 " of %" PRIu64 " usage batches delivered\n",
                    st.delivered, st.published);
            rc = 1;
        }
        printf("{\"batches\":%" PRIu64 ",\"events\":%" PRIu64 ",\"elapsed_ms\":%" PRIu64 "}\n",
               st.delivered, st.delivered * (ua.uplinks + 1), end - usage_started_ms);
    } else {
        usage();
    }
    lw_bus_free(e.bus);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    uv_loop_close(&e.loop);
    lw_config_free(e.cfg);
    return rc;

cfg_fail:
    fprintf(stderr, "e2e_bus: %s: %s\n", lw_err_name(&err), err.message);
    return 2;
}
