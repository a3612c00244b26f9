/* The Gateway Server tests' driver (tests/integration/test_gs_*.sh): a simulated Semtech UDP
 * gateway and a reader/writer of the GS's bus messages, so the shell tests need no python.
 *
 *   gs_driver udp --to HOST:PORT [--rate PER_S]
 *       One UDP socket (an ephemeral local port, like a packet forwarder's). Reads commands
 *       from stdin, one per line:
 *         send HEX                         the bytes as given
 *         push V TOKEN EUI JSON            PUSH_DATA: version V, token (4 hex), EUI (16 hex),
 *                                          then the JSON text (rest of the line)
 *         pull V TOKEN EUI                 PULL_DATA
 *         txack V TOKEN EUI [JSON]         TX_ACK
 *         mark TEXT                        sends nothing; prints "mark TEXT" once every
 *                                          command before it is sent (a test's sync point)
 *       and prints every datagram received as "recv HEX" (and, when one carries JSON after
 *       the 4-byte header, "json TEXT"), flushed per line. Ends at EOF of stdin + 1 s.
 *       --rate: at most PER_S commands a second (a load test's pace; default: no limit).
 *   gs_driver consume --brokers B --topic NAME --out FILE
 *       A private group from the beginning of the topic. Appends one line per message:
 *       gs.up and gs.txack decoded to a JSON object of their fields (bytes as hex), other
 *       topics their value as text. Until SIGTERM.
 *   gs_driver down --brokers B --key KEY --json SPEC
 *       Publishes one GsDown on lw.gs.down built from SPEC (a JSON object with the field names
 *       of messages.proto; bytes as hex; rx1/rx2 {frequency, sf, bw, dr_index}), then stops
 *       (flushed). Exit 0 when delivered. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/config.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "messages/messages.h"

static void usage(void)
{
    fprintf(stderr, "usage: gs_driver udp --to HOST:PORT | consume --brokers B --topic T --out F | "
                    "down --brokers B --key K --json SPEC\n");
    exit(2);
}

static size_t hex_bytes(const char *hex, uint8_t *out, size_t cap)
{
    int n = lw_hex_decode(hex, out, cap);
    if (n < 0) {
        fprintf(stderr, "gs_driver: bad hex `%s`\n", hex);
        exit(2);
    }
    return (size_t)n;
}

/* ---- udp -------------------------------------------------------------------------------- */

static void print_hex(const char *tag, const uint8_t *b, size_t n)
{
    char *h = malloc(2 * n + 1);
    lw_hex_encode(b, n, h);
    printf("%s %s\n", tag, h);
    free(h);
}

static int udp_cmd(int fd, char *line)
{
    uint8_t buf[65536];
    size_t n = 0;
    char *save = NULL;
    char *cmd = strtok_r(line, " \n", &save);
    if (cmd == NULL)
        return 0;
    if (strcmp(cmd, "mark") == 0) {
        printf("mark %s\n", save != NULL ? save : "");
        return 0;
    }
    if (strcmp(cmd, "send") == 0) {
        char *hex = strtok_r(NULL, " \n", &save);
        if (hex == NULL)
            return -1;
        n = hex_bytes(hex, buf, sizeof buf);
    } else {
        char *v = strtok_r(NULL, " \n", &save);
        char *tok = strtok_r(NULL, " \n", &save);
        char *eui = strtok_r(NULL, " \n", &save);
        if (v == NULL || tok == NULL || eui == NULL || strlen(tok) != 4 || strlen(eui) != 16)
            return -1;
        buf[0] = (uint8_t)atoi(v);
        hex_bytes(tok, buf + 1, 2);
        if (strcmp(cmd, "push") == 0)
            buf[3] = 0x00;
        else if (strcmp(cmd, "pull") == 0)
            buf[3] = 0x02;
        else if (strcmp(cmd, "txack") == 0)
            buf[3] = 0x05;
        else
            return -1;
        hex_bytes(eui, buf + 4, 8);
        n = 12;
        char *json = save != NULL ? save : NULL;
        if (json != NULL) {
            size_t jl = strcspn(json, "\n");
            memcpy(buf + n, json, jl);
            n += jl;
        }
    }
    if (send(fd, buf, n, 0) < 0) {
        perror("send");
        return -1;
    }
    return 0;
}

static int run_udp(const char *to, long rate)
{
    char host[256];
    const char *colon = strrchr(to, ':');
    if (colon == NULL)
        usage();
    snprintf(host, sizeof host, "%.*s", (int)(colon - to), to);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
        fprintf(stderr, "gs_driver: cannot resolve %s\n", to);
        return 2;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        perror("socket");
        return 1;
    }
    freeaddrinfo(ai);
    setvbuf(stdout, NULL, _IOLBF, 0);
    bool eof = false;
    int linger_ms = 1000;
    char line[70000];
    size_t have = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        int rc = poll(p, eof ? 1 : 2, eof ? linger_ms : -1);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents & POLLIN) {
            uint8_t buf[65536];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                print_hex("recv", buf, (size_t)n);
                if (n > 4 && buf[4] == '{')
                    printf("json %.*s\n", (int)(n - 4), (const char *)buf + 4);
            }
        }
        if (!eof && (p[1].revents & (POLLIN | POLLHUP))) {
            ssize_t n = read(0, line + have, sizeof line - 1 - have);
            if (n <= 0) {
                eof = true;
                continue;
            }
            have += (size_t)n;
            line[have] = '\0';
            char *nl;
            while ((nl = memchr(line, '\n', have)) != NULL) {
                *nl = '\0';
                char one[70000];
                snprintf(one, sizeof one, "%s", line);
                if (udp_cmd(fd, one) != 0)
                    fprintf(stderr, "gs_driver: bad command `%s`\n", line);
                if (rate > 0) {
                    struct timespec ts = {0, 1000000000L / rate};
                    nanosleep(&ts, NULL);
                }
                size_t used = (size_t)(nl + 1 - line);
                memmove(line, nl + 1, have - used);
                have -= used;
                line[have] = '\0';
            }
        }
    }
    close(fd);
    return 0;
}

/* ---- bus -------------------------------------------------------------------------------- */

typedef struct bus_drv {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    lw_config_t *cfg;
    lw_bus_t *bus;
    FILE *out;
    const char *topic;
    bool stopping;
} bus_drv_t;

static json_t *hexj(ProtobufCBinaryData b)
{
    char *h = malloc(2 * b.len + 1);
    lw_hex_encode(b.data, b.len, h);
    json_t *s = json_string(h);
    free(h);
    return s;
}

static json_t *euij(uint64_t v)
{
    char s[17];
    snprintf(s, sizeof s, "%016llx", (unsigned long long)v);
    return json_string(s);
}

static json_t *env_json(const Lw__Msg__Envelope *e)
{
    json_t *cids = json_array();
    for (size_t i = 0; i < e->n_correlation_ids; i++)
        json_array_append_new(cids, json_string(e->correlation_ids[i]));
    return json_pack("{so ss so si}", "id", hexj(e->id), "tenant_id", e->tenant_id,
                     "correlation_ids", cids, "schema_version", (json_int_t)e->schema_version);
}

static json_t *gw_ids_json(const Lw__Msg__GatewayIdentifiers *g)
{
    if (g == NULL)
        return json_null();
    return json_pack("{ss so ss}", "gateway_id", g->gateway_id, "eui", euij(g->eui), "tenant_id",
                     g->tenant_id);
}

static json_t *dr_json(const Lw__Msg__DataRate *d)
{
    if (d == NULL)
        return json_null();
    if (d->modulation_case == LW__MSG__DATA_RATE__MODULATION_LORA)
        return json_pack("{s{si si ss}}", "lora", "bandwidth", (json_int_t)d->lora->bandwidth,
                         "spreading_factor", (json_int_t)d->lora->spreading_factor, "coding_rate",
                         d->lora->coding_rate);
    if (d->modulation_case == LW__MSG__DATA_RATE__MODULATION_FSK)
        return json_pack("{s{si}}", "fsk", "bit_rate", (json_int_t)d->fsk->bit_rate);
    return json_object();
}

static json_t *loc_json(const Lw__Msg__Location *l)
{
    return l == NULL ? json_null()
                     : json_pack("{sf sf si ss}", "latitude", l->latitude, "longitude",
                                 l->longitude, "altitude", (int)l->altitude, "source",
                                 l->source != NULL ? l->source : "");
}

static json_t *rx_json(const Lw__Msg__RxMetadata *m)
{
    return m == NULL
               ? json_null()
               : json_pack("{so si si sI sI sf sf sf si so sI so}", "gateway_ids",
                           gw_ids_json(m->gateway_ids), "antenna_index",
                           (json_int_t)m->antenna_index, "timestamp", (json_int_t)m->timestamp,
                           "time", (json_int_t)m->time, "gps_time", (json_int_t)m->gps_time, "rssi",
                           (double)m->rssi, "channel_rssi", (double)m->channel_rssi, "snr",
                           (double)m->snr, "channel_index", (json_int_t)m->channel_index,
                           "uplink_token", hexj(m->uplink_token), "received_at",
                           (json_int_t)m->received_at, "location", loc_json(m->location));
}

static json_t *gs_up_json(const Lw__Msg__GsUp *u)
{
    const Lw__Msg__TxSettings *s = u->settings;
    json_t *md = rx_json(u->rx_metadata);
    json_t *more = json_array();
    for (size_t i = 0; i < u->n_more_rx_metadata; i++)
        json_array_append_new(more, rx_json(u->more_rx_metadata[i]));
    json_t *st = s == NULL ? json_null()
                           : json_pack("{so sI si sb}", "data_rate", dr_json(s->data_rate),
                                       "frequency", (json_int_t)s->frequency, "timestamp",
                                       (json_int_t)s->timestamp, "enable_crc", s->enable_crc);
    return json_pack("{so so so so so sI}", "envelope", env_json(u->envelope), "raw_payload",
                     hexj(u->raw_payload), "rx_metadata", md, "more_rx_metadata", more, "settings",
                     st, "received_at", (json_int_t)u->received_at);
}

static json_t *gs_txack_json(const Lw__Msg__GsTxAck *a)
{
    const Lw__Msg__EndDeviceIdentifiers *d = a->end_device_ids;
    json_t *dev =
        d == NULL ? json_null()
                  : json_pack("{ss ss}", "device_id", d->device_id, "application_id",
                              d->application_ids != NULL ? d->application_ids->application_id : "");
    const ProtobufCEnumValue *r =
        protobuf_c_enum_descriptor_get_value(&lw__msg__tx_ack_result__descriptor, (int)a->result);
    return json_pack(
        "{so so so so ss ss ss sI sI si si}", "envelope", env_json(a->envelope), "downlink_id",
        hexj(a->downlink_id), "gateway_ids", gw_ids_json(a->gateway_ids), "end_device_ids", dev,
        "result", r != NULL ? r->name : "?", "error_name", a->error_name, "raw_error", a->raw_error,
        "raw_code", (json_int_t)a->raw_code, "transmitted_at", (json_int_t)a->transmitted_at,
        "rx_window", (json_int_t)a->rx_window, "timestamp", (json_int_t)a->timestamp);
}

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    bus_drv_t *d = arg;
    json_t *j = NULL;
    if (strcmp(d->topic, "gs.up") == 0) {
        Lw__Msg__GsUp *u = NULL;
        if (lw_msg_gs_up_decode(m->value, m->value_len, &u) == 0)
            j = gs_up_json(u);
        lw_msg_gs_up_free(u);
    } else if (strcmp(d->topic, "gs.txack") == 0) {
        Lw__Msg__GsTxAck *a = NULL;
        if (lw_msg_gs_txack_decode(m->value, m->value_len, &a) == 0)
            j = gs_txack_json(a);
        lw_msg_gs_txack_free(a);
    } else {
        fprintf(d->out, "%.*s\n", (int)m->value_len, (const char *)m->value);
        fflush(d->out);
        return;
    }
    if (j == NULL) {
        fprintf(d->out, "{\"undecodable\":true}\n");
    } else {
        json_object_set_new(j, "key", json_stringn(m->key, m->key_len));
        char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(d->out, "%s\n", t);
        free(t);
        json_decref(j);
    }
    fflush(d->out);
}

static void bus_closed(void *arg)
{
    bus_drv_t *d = arg;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void bus_drv_stop(bus_drv_t *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    lw_bus_stop(d->bus, bus_closed, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    bus_drv_stop(s->data);
}

static bool window_json(json_t *w, Lw__Msg__TxWindow *out, Lw__Msg__DataRate *dr,
                        Lw__Msg__LoRaDataRate *lora)
{
    if (w == NULL)
        return false;
    out->frequency = (uint64_t)json_integer_value(json_object_get(w, "frequency"));
    out->data_rate_index = (uint32_t)json_integer_value(json_object_get(w, "dr_index"));
    lora->spreading_factor = (uint32_t)json_integer_value(json_object_get(w, "sf"));
    lora->bandwidth = (uint32_t)json_integer_value(json_object_get(w, "bw"));
    lora->coding_rate = "4/5";
    dr->modulation_case = LW__MSG__DATA_RATE__MODULATION_LORA;
    dr->lora = lora;
    out->data_rate = dr;
    return true;
}

static const char *js(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static int publish_down(bus_drv_t *d, const char *key, const char *spec_text)
{
    json_error_t je;
    json_t *spec = json_loads(spec_text, 0, &je);
    if (spec == NULL) {
        fprintf(stderr, "gs_driver: spec: %s\n", je.text);
        return 2;
    }
    static uint8_t id[16], dlid[16], payload[256], token[128];
    RAND_bytes(id, sizeof id);
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id = (ProtobufCBinaryData){16, id};
    env.tenant_id = (char *)js(spec, "tenant_id");
    char *cids[1] = {"test:down"};
    env.n_correlation_ids = 1;
    env.correlation_ids = cids;
    env.schema_version = 1;
    Lw__Msg__GatewayIdentifiers gids = LW__MSG__GATEWAY_IDENTIFIERS__INIT;
    json_t *g = json_object_get(spec, "gateway_ids");
    gids.gateway_id = (char *)js(g, "gateway_id");
    gids.tenant_id = (char *)js(g, "tenant_id");
    Lw__Msg__ApplicationIdentifiers aids = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    Lw__Msg__EndDeviceIdentifiers dids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    json_t *dev = json_object_get(spec, "end_device_ids");
    aids.application_id = (char *)js(dev, "application_id");
    dids.application_ids = &aids;
    dids.device_id = (char *)js(dev, "device_id");
    Lw__Msg__GsDown m = LW__MSG__GS_DOWN__INIT;
    m.envelope = &env;
    m.gateway_ids = &gids;
    m.end_device_ids = dev != NULL ? &dids : NULL;
    m.downlink_id.len = hex_bytes(js(spec, "downlink_id"), dlid, sizeof dlid);
    m.downlink_id.data = dlid;
    m.raw_payload.len = hex_bytes(js(spec, "raw_payload"), payload, sizeof payload);
    m.raw_payload.data = payload;
    m.uplink_token.len = hex_bytes(js(spec, "uplink_token"), token, sizeof token);
    m.uplink_token.data = token;
    const char *timing = js(spec, "timing");
    m.timing = strcmp(timing, "IMMEDIATE") == 0  ? LW__MSG__TX_TIMING__IMMEDIATE
               : strcmp(timing, "ABSOLUTE") == 0 ? LW__MSG__TX_TIMING__ABSOLUTE
                                                 : LW__MSG__TX_TIMING__TIMESTAMP;
    m.timestamp = (uint32_t)json_integer_value(json_object_get(spec, "timestamp"));
    m.rx1_delay = (uint32_t)json_integer_value(json_object_get(spec, "rx1_delay"));
    m.join_accept = json_is_true(json_object_get(spec, "join_accept"));
    m.priority = (Lw__Msg__TxSchedulePriority)json_integer_value(json_object_get(spec, "priority"));
    m.tx_power = (float)json_number_value(json_object_get(spec, "tx_power"));
    m.invert_polarization = true;
    m.frequency_plan_id = (char *)js(spec, "frequency_plan_id");
    Lw__Msg__TxWindow rx1 = LW__MSG__TX_WINDOW__INIT, rx2 = LW__MSG__TX_WINDOW__INIT;
    Lw__Msg__DataRate dr1 = LW__MSG__DATA_RATE__INIT, dr2 = LW__MSG__DATA_RATE__INIT;
    Lw__Msg__LoRaDataRate l1 = LW__MSG__LO_RA_DATA_RATE__INIT, l2 = LW__MSG__LO_RA_DATA_RATE__INIT;
    if (window_json(json_object_get(spec, "rx1"), &rx1, &dr1, &l1))
        m.rx1 = &rx1;
    if (window_json(json_object_get(spec, "rx2"), &rx2, &dr2, &l2))
        m.rx2 = &rx2;
    static uint8_t buf[65536];
    size_t n = 0;
    int rc = lw_msg_gs_down_encode(&m, buf, sizeof buf, &n);
    if (rc != 0) {
        fprintf(stderr, "gs_driver: encode: %s\n", lw_msg_strerror(rc));
        json_decref(spec);
        return 1;
    }
    lw_err_t err;
    if (lw_bus_publish(d->bus, "gs.down", key, strlen(key), buf, n, &err) != 0) {
        fprintf(stderr, "gs_driver: publish: %s\n", err.message);
        json_decref(spec);
        return 1;
    }
    json_decref(spec);
    bus_drv_stop(d);
    return 0;
}

static int run_bus(const char *mode, int argc, char **argv)
{
    bus_drv_t d;
    memset(&d, 0, sizeof d);
    const char *brokers = NULL, *out = NULL, *key = NULL, *spec = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--brokers") == 0)
            brokers = argv[i + 1];
        else if (strcmp(argv[i], "--topic") == 0)
            d.topic = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[i + 1];
        else if (strcmp(argv[i], "--key") == 0)
            key = argv[i + 1];
        else if (strcmp(argv[i], "--json") == 0)
            spec = argv[i + 1];
        else
            usage();
    }
    if (brokers == NULL)
        usage();
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    lw_err_t err;
    lw_err_clear(&err);
    d.cfg = lw_config_new();
    lw_bus_config_register(d.cfg);
    if (lw_config_set(d.cfg, "bus.brokers", brokers, "flag", &err) != 0) {
        fprintf(stderr, "gs_driver: %s\n", err.message);
        return 2;
    }
    uv_loop_init(&d.loop);
    d.bus = lw_bus_new(&d.loop, d.cfg, &err);
    if (d.bus == NULL) {
        fprintf(stderr, "gs_driver: %s\n", err.message);
        return 1;
    }
    uv_signal_init(&d.loop, &d.sigterm);
    uv_signal_init(&d.loop, &d.sigint);
    d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    int rc = 0;
    if (strcmp(mode, "consume") == 0) {
        if (d.topic == NULL || out == NULL)
            usage();
        d.out = fopen(out, "a");
        if (d.out == NULL) {
            perror(out);
            return 1;
        }
        const char *names[] = {d.topic};
        lw_bus_handler_t h = {.on_message = on_message};
        lw_bus_sub_opts_t o = {.from_beginning = true};
        if (lw_bus_subscribe_opts(d.bus, NULL, names, 1, &h, &d, &o, &err) == NULL) {
            fprintf(stderr, "gs_driver: %s\n", err.message);
            return 1;
        }
    } else {
        if (key == NULL || spec == NULL)
            usage();
        rc = publish_down(&d, key, spec);
        if (rc != 0)
            bus_drv_stop(&d);
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
    lw_bus_stats_t st;
    lw_bus_stats(d.bus, &st);
    lw_bus_free(d.bus);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    lw_config_free(d.cfg);
    if (d.out != NULL)
        fclose(d.out);
    if (rc == 0 && strcmp(mode, "down") == 0 && st.delivered != 1)
        rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "udp") == 0) {
        if ((argc != 4 && argc != 6) || strcmp(argv[2], "--to") != 0 ||
            (argc == 6 && strcmp(argv[4], "--rate") != 0))
            usage();
        return run_udp(argv[3], argc == 6 ? atol(argv[5]) : 0);
    }
    if (strcmp(argv[1], "consume") == 0 || strcmp(argv[1], "down") == 0)
        return run_bus(argv[1], argc, argv);
    usage();
    return 2;
}
