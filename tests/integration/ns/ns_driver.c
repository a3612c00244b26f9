/* The Network Server's test driver (tests/integration/test_ns_*.sh): it plays the Gateway
 * Server and the Application Server on the bus, and builds the devices' frames.
 *
 *   ns_driver frame --dev-addr 26000001 --nwk-s-key HEX --app-s-key HEX --f-cnt N
 *                   [--f-port P] [--payload HEX] [--confirmed] [--ack] [--fopts HEX]
 *                   [--adr] [--adr-ack-req]
 *       Prints the PHYPayload (hex) of a LoRaWAN 1.0.x data uplink: FRMPayload encrypted
 *       with the AppSKey (FPort > 0) or NwkSKey (FPort 0), MIC with the NwkSKey.
 *   ns_driver join --join-eui HEX --dev-eui HEX --dev-nonce N --app-key HEX
 *       Prints a join-request PHYPayload (LoRaWAN 1.0.x, MIC with the AppKey).
 *   ns_driver accept --app-key HEX --phy HEX --dev-nonce N
 *       Decrypts and checks a join-accept (1.0.x) and prints its fields and the session keys.
 *   ns_driver send --brokers B < commands
 *       Publishes one message per line of stdin, then flushes:
 *         up GWTENANT GWID GWEUI PHYHEX FREQ_HZ SF SNR RSSI TIMESTAMP [IDHEX]
 *             a GsUp on lw.gs.up (key: DevAddr, or JoinEUI+DevEUI), bandwidth 125 kHz
 *         push TENANT/APP/DEV SESSION_KEY_ID_HEX FPORT FCNT PAYLOAD_HEX [confirmed]
 *         replace TENANT/APP/DEV (clears the queue)
 *         list TENANT/APP/DEV IDHEX (the AsDown's envelope id: the answer's request_id)
 *             an AsDown on lw.as.down
 *         txack TENANT/APP/DEV DOWNLINK_ID_HEX RESULT [ERROR_NAME] [RX_WINDOW]
 *             a GsTxAck on lw.gs.txack (RESULT: 0 success, 9 schedule failed, ...)
 *         sleep MS
 *   ns_driver consume --brokers B --topic ns.up|ns.dev|gs.down|events --out FILE
 *       Appends one JSON line per message of the topic (from its beginning) to FILE (events
 *       as published, with "key" added).
 * Common: --prefix P (bus.topic-prefix). */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/config.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "lorawan/lorawan.h"
#include "messages/messages.h"

typedef struct driver {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;
    lw_config_t *cfg;
    lw_bus_t *bus;
    const char *topic;
    int out_fd;
    bool stopping;
    bool gs_down;
    bool ns_dev;
    bool raw; /* lw.events: JSON already */
} driver_t;

static void usage(void)
{
    fprintf(stderr, "usage: ns_driver frame|join|send|consume [options] (see the source)\n");
    exit(2);
}

static int hexarg(const char *s, uint8_t *out, size_t cap)
{
    int n = lw_hex_decode(s, out, cap);
    if (n < 0) {
        fprintf(stderr, "ns_driver: bad hex `%s`\n", s);
        exit(2);
    }
    return n;
}

static uint64_t eui_of(const char *s)
{
    uint8_t b[8];
    if (hexarg(s, b, 8) != 8)
        usage();
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static void print_hex(const uint8_t *b, size_t n)
{
    char h[2 * LORAWAN_PHY_MAX_LEN + 1];
    lw_hex_encode(b, n, h);
    printf("%s\n", h);
}

static int cmd_frame(int argc, char **argv)
{
    uint32_t addr = 0, fcnt = 0;
    uint8_t nwk[16] = {0}, app[16] = {0}, payload[242], fopts[15];
    size_t plen = 0, flen = 0;
    int fport = -1;
    bool confirmed = false, ack = false, adr = false, adr_ack_req = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--confirmed") == 0) {
            confirmed = true;
            continue;
        }
        if (strcmp(a, "--ack") == 0) {
            ack = true;
            continue;
        }
        if (strcmp(a, "--adr") == 0) {
            adr = true;
            continue;
        }
        if (strcmp(a, "--adr-ack-req") == 0) {
            adr_ack_req = true;
            continue;
        }
        i++;
        if (strcmp(a, "--dev-addr") == 0)
            addr = (uint32_t)strtoul(v, NULL, 16);
        else if (strcmp(a, "--nwk-s-key") == 0)
            hexarg(v, nwk, 16);
        else if (strcmp(a, "--app-s-key") == 0)
            hexarg(v, app, 16);
        else if (strcmp(a, "--f-cnt") == 0)
            fcnt = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--f-port") == 0)
            fport = atoi(v);
        else if (strcmp(a, "--payload") == 0)
            plen = (size_t)hexarg(v, payload, sizeof payload);
        else if (strcmp(a, "--fopts") == 0)
            flen = (size_t)hexarg(v, fopts, sizeof fopts);
        else
            usage();
    }
    lorawan_key_t kn, ka;
    if (lorawan_key_init(&kn, nwk) != 0 || lorawan_key_init(&ka, app) != 0)
        return 1;
    uint8_t enc[242];
    lorawan_phy_t p;
    memset(&p, 0, sizeof p);
    p.mtype = confirmed ? LORAWAN_MTYPE_CONFIRMED_DATA_UP : LORAWAN_MTYPE_UNCONFIRMED_DATA_UP;
    p.u.data.dev_addr = addr;
    p.u.data.fctrl.ack = ack;
    p.u.data.fctrl.adr = adr;
    p.u.data.fctrl.adr_ack_req = adr_ack_req;
    p.u.data.fcnt16 = (uint16_t)fcnt;
    p.u.data.fopts = fopts;
    p.u.data.fopts_len = flen;
    if (fport >= 0) {
        lorawan_payload_encrypt(fport == 0 ? &kn : &ka, false, addr, fcnt, payload, plen, enc);
        p.u.data.has_fport = true;
        p.u.data.fport = (uint8_t)fport;
        p.u.data.frm_payload = enc;
        p.u.data.frm_payload_len = plen;
    }
    uint8_t out[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    if (lorawan_phy_encode(&p, out, sizeof out, &len) != 0)
        return 1;
    uint8_t mic[4];
    lorawan_mic_data_up_10(&kn, out, len - 4, fcnt, mic);
    memcpy(out + len - 4, mic, 4);
    print_hex(out, len);
    lorawan_key_destroy(&kn);
    lorawan_key_destroy(&ka);
    return 0;
}

static int cmd_join(int argc, char **argv)
{
    uint64_t je = 0, de = 0;
    unsigned nonce = 0;
    uint8_t key[16] = {0};
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--join-eui") == 0)
            je = eui_of(v);
        else if (strcmp(a, "--dev-eui") == 0)
            de = eui_of(v);
        else if (strcmp(a, "--dev-nonce") == 0)
            nonce = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--app-key") == 0)
            hexarg(v, key, 16);
        else
            usage();
    }
    lorawan_phy_t p;
    memset(&p, 0, sizeof p);
    p.mtype = LORAWAN_MTYPE_JOIN_REQUEST;
    p.u.join_request.join_eui = je;
    p.u.join_request.dev_eui = de;
    p.u.join_request.dev_nonce = (uint16_t)nonce;
    uint8_t out[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    if (lorawan_phy_encode(&p, out, sizeof out, &len) != 0)
        return 1;
    lorawan_key_t k;
    lorawan_key_init(&k, key);
    uint8_t mic[4];
    lorawan_mic_join_request(&k, out, len - 4, mic);
    memcpy(out + len - 4, mic, 4);
    lorawan_key_destroy(&k);
    print_hex(out, len);
    return 0;
}

/* A join-accept as the device sees it: decrypted with the AppKey, MIC checked, session keys
 * derived (LoRaWAN 1.0.x). Prints "dev_addr=.. dl_settings=.. rx_delay=.. cflist=.. mic=ok
 * nwk_s_key=.. app_s_key=..". */
static int cmd_accept(int argc, char **argv)
{
    uint8_t key[16] = {0}, phy[64];
    size_t len = 0;
    unsigned nonce = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--app-key") == 0)
            hexarg(argv[i + 1], key, 16);
        else if (strcmp(argv[i], "--phy") == 0)
            len = (size_t)hexarg(argv[i + 1], phy, sizeof phy);
        else if (strcmp(argv[i], "--dev-nonce") == 0)
            nonce = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else
            usage();
    }
    lorawan_key_t k;
    lorawan_key_init(&k, key);
    uint8_t plain[64];
    lorawan_join_accept_t ja;
    if (lorawan_join_accept_decrypt(&k, phy, len, plain, sizeof plain) != 0 ||
        lorawan_join_accept_parse(plain, len, &ja) != 0) {
        printf("undecodable\n");
        return 1;
    }
    uint8_t mic[4];
    lorawan_mic_join_accept_10(&k, plain, len - 4, mic);
    bool ok = memcmp(mic, plain + len - 4, 4) == 0;
    uint8_t nwk[16], app[16];
    lorawan_derive_keys_10(&k, ja.join_nonce, ja.net_id, (uint16_t)nonce, nwk, app);
    char hn[33], ha[33], cf[33] = "";
    lw_hex_encode(nwk, 16, hn);
    lw_hex_encode(app, 16, ha);
    if (ja.cflist != NULL)
        lw_hex_encode(ja.cflist, 16, cf);
    printf("dev_addr=%08" PRIx32 " net_id=%06" PRIx32 " dl_settings=%02x rx_delay=%u cflist=%s "
           "mic=%s nwk_s_key=%s app_s_key=%s\n",
           ja.dev_addr, ja.net_id,
           (unsigned)((ja.opt_neg ? 0x80 : 0) | ja.rx1_dr_offset << 4 | ja.rx2_data_rate),
           ja.rx_delay, cf[0] != '\0' ? cf : "-", ok ? "ok" : "bad", hn, ha);
    lorawan_key_destroy(&k);
    return 0;
}

/* ---- send ------------------------------------------------------------------------------- */

static void publish(driver_t *d, const char *topic, const char *key, const uint8_t *buf, size_t len)
{
    lw_err_t e;
    lw_err_clear(&e);
    if (lw_bus_publish(d->bus, topic, key, strlen(key), buf, len, &e) != 0) {
        fprintf(stderr, "ns_driver: publish: %s\n", e.message);
        exit(1);
    }
}

static void envelope(Lw__Msg__Envelope *env, uint8_t id[16], const char *tenant, const char *idhex)
{
    lw__msg__envelope__init(env);
    if (idhex != NULL && strlen(idhex) == 32)
        hexarg(idhex, id, 16);
    else
        RAND_bytes(id, 16);
    env->id.data = id;
    env->id.len = 16;
    env->tenant_id = (char *)tenant;
    env->schema_version = LW_MSG_SCHEMA_VERSION;
}

static int send_up(driver_t *d, char **f, int n)
{
    if (n < 10)
        return -1;
    uint8_t phy[LORAWAN_PHY_MAX_LEN], id[16];
    int plen = hexarg(f[4], phy, sizeof phy);
    Lw__Msg__GsUp up = LW__MSG__GS_UP__INIT;
    Lw__Msg__Envelope env;
    envelope(&env, id, f[1], n > 10 ? f[10] : NULL);
    up.envelope = &env;
    up.raw_payload.data = phy;
    up.raw_payload.len = (size_t)plen;
    Lw__Msg__GatewayIdentifiers gw = LW__MSG__GATEWAY_IDENTIFIERS__INIT;
    gw.gateway_id = f[2];
    gw.eui = eui_of(f[3]);
    gw.tenant_id = f[1];
    Lw__Msg__RxMetadata rx = LW__MSG__RX_METADATA__INIT;
    rx.gateway_ids = &gw;
    rx.snr = strtof(f[7], NULL);
    rx.rssi = strtof(f[8], NULL);
    rx.channel_rssi = rx.rssi;
    rx.timestamp = (uint32_t)strtoul(f[9], NULL, 10);
    uint8_t token[8];
    memcpy(token, &rx.timestamp, 4);
    memcpy(token + 4, "tokn", 4);
    rx.uplink_token.data = token;
    rx.uplink_token.len = sizeof token;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
    rx.received_at = now;
    up.rx_metadata = &rx;
    Lw__Msg__LoRaDataRate lora = LW__MSG__LO_RA_DATA_RATE__INIT;
    lora.bandwidth = 125000;
    lora.spreading_factor = (uint32_t)atoi(f[6]);
    lora.coding_rate = "4/5";
    Lw__Msg__DataRate dr = LW__MSG__DATA_RATE__INIT;
    dr.modulation_case = LW__MSG__DATA_RATE__MODULATION_LORA;
    dr.lora = &lora;
    Lw__Msg__TxSettings set = LW__MSG__TX_SETTINGS__INIT;
    set.data_rate = &dr;
    set.frequency = strtoull(f[5], NULL, 10);
    set.timestamp = rx.timestamp;
    up.settings = &set;
    up.received_at = now;
    uint8_t buf[2048];
    size_t len = 0;
    if (lw_msg_gs_up_encode(&up, buf, sizeof buf, &len) != 0)
        return -1;
    char key[40];
    lorawan_phy_t p;
    if (lorawan_phy_decode(phy, (size_t)plen, &p) == 0 && p.mtype == LORAWAN_MTYPE_JOIN_REQUEST)
        snprintf(key, sizeof key, "%016" PRIx64 "%016" PRIx64, p.u.join_request.join_eui,
                 p.u.join_request.dev_eui);
    else if (plen >= 5)
        snprintf(key, sizeof key, "%02x%02x%02x%02x", phy[4], phy[3], phy[2], phy[1]);
    else
        snprintf(key, sizeof key, "short");
    publish(d, "gs.up", key, buf, len);
    return 0;
}

static int split_key(char *key, char **tenant, char **app, char **dev)
{
    *tenant = key;
    char *a = strchr(key, '/');
    if (a == NULL)
        return -1;
    *a++ = '\0';
    char *b = strchr(a, '/');
    if (b == NULL)
        return -1;
    *b++ = '\0';
    *app = a;
    *dev = b;
    return 0;
}

static int send_down(driver_t *d, char **f, int n, Lw__Msg__DownlinkQueueOperation op)
{
    bool replace = op == LW__MSG__DOWNLINK_QUEUE_OPERATION__REPLACE;
    bool list = op == LW__MSG__DOWNLINK_QUEUE_OPERATION__LIST;
    if (n < 2 || (!replace && !list && n < 6) || (list && n < 3))
        return -1;
    char key[160];
    snprintf(key, sizeof key, "%s", f[1]);
    char copy[160];
    snprintf(copy, sizeof copy, "%s", f[1]);
    char *tenant, *app, *dev;
    if (split_key(copy, &tenant, &app, &dev) != 0)
        return -1;
    uint8_t id[16], skid[16], payload[242];
    Lw__Msg__AsDown m = LW__MSG__AS_DOWN__INIT;
    Lw__Msg__Envelope env;
    envelope(&env, id, tenant, list ? f[2] : NULL);
    m.envelope = &env;
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers aids = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    aids.application_id = app;
    ids.device_id = dev;
    ids.application_ids = &aids;
    m.end_device_ids = &ids;
    Lw__Msg__ApplicationDownlink dl = LW__MSG__APPLICATION_DOWNLINK__INIT;
    Lw__Msg__ApplicationDownlink *dls[1] = {&dl};
    Lw__Msg__ConfirmedRetry retry = LW__MSG__CONFIRMED_RETRY__INIT;
    if (replace || list) {
        m.operation = op;
    } else {
        m.operation = LW__MSG__DOWNLINK_QUEUE_OPERATION__PUSH;
        dl.session_key_id.len = (size_t)hexarg(f[2], skid, sizeof skid);
        dl.session_key_id.data = skid;
        dl.f_port = (uint32_t)atoi(f[3]);
        dl.f_cnt = (uint32_t)strtoul(f[4], NULL, 10);
        dl.frm_payload.len = (size_t)hexarg(f[5], payload, sizeof payload);
        dl.frm_payload.data = payload;
        for (int i = 6; i < n; i++) {
            if (strcmp(f[i], "confirmed") == 0)
                dl.confirmed = true;
            else if (strncmp(f[i], "attempt=", 8) == 0) {
                retry.attempt = (uint32_t)atoi(f[i] + 8);
                dl.confirmed_retry = &retry;
            }
        }
        dl.priority = LW__MSG__TX_SCHEDULE_PRIORITY__NORMAL;
        m.downlinks = dls;
        m.n_downlinks = 1;
    }
    uint8_t buf[1024];
    size_t len = 0;
    if (lw_msg_as_down_encode(&m, buf, sizeof buf, &len) != 0)
        return -1;
    publish(d, "as.down", key, buf, len);
    return 0;
}

static int send_txack(driver_t *d, char **f, int n)
{
    if (n < 4)
        return -1;
    char key[160], copy[160];
    snprintf(key, sizeof key, "%s", f[1]);
    snprintf(copy, sizeof copy, "%s", f[1]);
    char *tenant, *app, *dev;
    if (split_key(copy, &tenant, &app, &dev) != 0)
        return -1;
    uint8_t id[16], did[16];
    Lw__Msg__GsTxAck m = LW__MSG__GS_TX_ACK__INIT;
    Lw__Msg__Envelope env;
    envelope(&env, id, tenant, NULL);
    m.envelope = &env;
    m.downlink_id.len = (size_t)hexarg(f[2], did, sizeof did);
    m.downlink_id.data = did;
    m.result = (Lw__Msg__TxAckResult)atoi(f[3]);
    m.error_name = n > 4 ? f[4] : "";
    m.rx_window = n > 5 ? (uint32_t)atoi(f[5]) : 1;
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers aids = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    aids.application_id = app;
    ids.device_id = dev;
    ids.application_ids = &aids;
    m.end_device_ids = &ids;
    uint8_t buf[1024];
    size_t len = 0;
    if (lw_msg_gs_txack_encode(&m, buf, sizeof buf, &len) != 0)
        return -1;
    publish(d, "gs.txack", key, buf, len);
    return 0;
}

static void driver_stopped(void *arg)
{
    driver_t *d = arg;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->tick, NULL);
}

static void driver_stop(driver_t *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    uv_timer_stop(&d->tick);
    lw_bus_stop(d->bus, driver_stopped, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    driver_stop(s->data);
}

/* Reads and sends stdin's commands, one per tick; `sleep` waits. */
static void send_tick(uv_timer_t *t)
{
    driver_t *d = t->data;
    char line[2048];
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *f[16];
        int n = 0;
        for (char *tok = strtok(line, " \t\r\n"); tok != NULL && n < 16;
             tok = strtok(NULL, " \t\r\n"))
            f[n++] = tok;
        if (n == 0 || f[0][0] == '#')
            continue;
        int rc = -1;
        if (strcmp(f[0], "up") == 0)
            rc = send_up(d, f, n);
        else if (strcmp(f[0], "push") == 0)
            rc = send_down(d, f, n, LW__MSG__DOWNLINK_QUEUE_OPERATION__PUSH);
        else if (strcmp(f[0], "replace") == 0)
            rc = send_down(d, f, n, LW__MSG__DOWNLINK_QUEUE_OPERATION__REPLACE);
        else if (strcmp(f[0], "list") == 0)
            rc = send_down(d, f, n, LW__MSG__DOWNLINK_QUEUE_OPERATION__LIST);
        else if (strcmp(f[0], "txack") == 0)
            rc = send_txack(d, f, n);
        else if (strcmp(f[0], "sleep") == 0 && n == 2) {
            uv_timer_start(&d->tick, send_tick, strtoull(f[1], NULL, 10), 0);
            return;
        }
        if (rc != 0) {
            fprintf(stderr, "ns_driver: bad command `%s`\n", f[0]);
            exit(2);
        }
    }
    driver_stop(d);
}

/* ---- consume ---------------------------------------------------------------------------- */

static json_t *hexj(const ProtobufCBinaryData *b)
{
    char h[2 * 512 + 1];
    if (b->len > 512)
        return json_string("");
    lw_hex_encode(b->data, b->len, h);
    return json_string(h);
}

static json_t *dl_json(const Lw__Msg__ApplicationDownlink *dl)
{
    if (dl == NULL)
        return json_null();
    return json_pack("{sI sI so sb sI}", "f_port", (json_int_t)dl->f_port, "f_cnt",
                     (json_int_t)dl->f_cnt, "frm_payload", hexj(&dl->frm_payload), "confirmed",
                     dl->confirmed, "attempt",
                     (json_int_t)(dl->confirmed_retry != NULL ? dl->confirmed_retry->attempt : 0));
}

static json_t *window_json(const Lw__Msg__TxWindow *w)
{
    if (w == NULL)
        return json_null();
    json_t *o = json_pack("{sI sI}", "frequency", (json_int_t)w->frequency, "dr",
                          (json_int_t)w->data_rate_index);
    if (w->data_rate != NULL && w->data_rate->lora != NULL)
        json_object_set_new(o, "sf", json_integer(w->data_rate->lora->spreading_factor));
    return o;
}

static json_t *ns_up_json(const Lw__Msg__NsUp *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", hexj(&m->envelope->id));
    json_object_set_new(o, "tenant", json_string(m->envelope->tenant_id));
    if (m->end_device_ids != NULL) {
        json_object_set_new(o, "device", json_string(m->end_device_ids->device_id));
        if (m->end_device_ids->application_ids != NULL)
            json_object_set_new(o, "app",
                                json_string(m->end_device_ids->application_ids->application_id));
    }
    switch (m->up_case) {
    case LW__MSG__NS_UP__UP_UPLINK_MESSAGE: {
        const Lw__Msg__UplinkMessage *u = m->uplink_message;
        json_object_set_new(o, "type", json_string("uplink_message"));
        json_object_set_new(o, "f_cnt", json_integer(u->f_cnt));
        json_object_set_new(o, "f_port", json_integer(u->f_port));
        json_object_set_new(o, "frm_payload", hexj(&u->frm_payload));
        json_object_set_new(o, "confirmed", json_boolean(u->confirmed));
        json_object_set_new(o, "session_key_id", hexj(&u->session_key_id));
        json_t *gws = json_array();
        for (size_t i = 0; i < u->n_rx_metadata; i++)
            if (u->rx_metadata[i]->gateway_ids != NULL)
                json_array_append_new(gws, json_string(u->rx_metadata[i]->gateway_ids->gateway_id));
        json_object_set_new(o, "gateways", gws);
        break;
    }
    case LW__MSG__NS_UP__UP_JOIN_ACCEPT:
        json_object_set_new(o, "type", json_string("join_accept"));
        json_object_set_new(o, "session_key_id", hexj(&m->join_accept->session_key_id));
        {
            char a[9];
            snprintf(a, sizeof a, "%08" PRIx32, m->join_accept->dev_addr);
            json_object_set_new(o, "dev_addr", json_string(a));
        }
        if (m->join_accept->app_s_key != NULL)
            json_object_set_new(o, "app_s_key", hexj(&m->join_accept->app_s_key->encrypted_key));
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUED:
        json_object_set_new(o, "type", json_string("downlink_queued"));
        json_object_set_new(o, "downlink", dl_json(m->downlink_queued));
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_SENT:
        json_object_set_new(o, "type", json_string("downlink_sent"));
        json_object_set_new(o, "downlink", dl_json(m->downlink_sent));
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_ACK:
        json_object_set_new(o, "type", json_string("downlink_ack"));
        json_object_set_new(o, "downlink", dl_json(m->downlink_ack));
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_NACK:
        json_object_set_new(o, "type", json_string("downlink_nack"));
        json_object_set_new(o, "downlink", dl_json(m->downlink_nack));
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_FAILED:
        json_object_set_new(o, "type", json_string("downlink_failed"));
        json_object_set_new(o, "downlink", dl_json(m->downlink_failed->downlink));
        json_object_set_new(
            o, "error",
            json_string(m->downlink_failed->error != NULL ? m->downlink_failed->error->name : ""));
        if (m->downlink_failed->error != NULL) {
            json_object_set_new(o, "error_namespace",
                                json_string(m->downlink_failed->error->namespace_));
            json_object_set_new(o, "error_message",
                                json_string(m->downlink_failed->error->message_format));
        }
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_INVALIDATED:
        json_object_set_new(o, "type", json_string("downlink_queue_invalidated"));
        json_object_set_new(o, "count",
                            json_integer((json_int_t)m->downlink_queue_invalidated->n_downlinks));
        json_object_set_new(o, "last_f_cnt_down",
                            json_integer(m->downlink_queue_invalidated->last_f_cnt_down));
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_LIST: {
        const Lw__Msg__ApplicationDownlinks *l = m->downlink_queue_list;
        json_object_set_new(o, "type", json_string("downlink_queue_list"));
        json_object_set_new(o, "request_id", hexj(&l->request_id));
        json_t *a = json_array();
        for (size_t i = 0; i < l->n_downlinks; i++)
            json_array_append_new(a, dl_json(l->downlinks[i]));
        json_object_set_new(o, "downlinks", a);
        json_object_set_new(o, "error",
                            l->error != NULL ? json_string(l->error->name) : json_null());
        break;
    }
    default:
        json_object_set_new(o, "type", json_string("unknown"));
    }
    return o;
}

static json_t *gs_down_json(const Lw__Msg__GsDown *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "tenant", json_string(m->envelope->tenant_id));
    if (m->gateway_ids != NULL) {
        json_object_set_new(o, "gateway_id", json_string(m->gateway_ids->gateway_id));
        json_object_set_new(o, "gateway_tenant", json_string(m->gateway_ids->tenant_id));
    }
    if (m->end_device_ids != NULL)
        json_object_set_new(o, "device", json_string(m->end_device_ids->device_id));
    json_object_set_new(o, "downlink_id", hexj(&m->downlink_id));
    json_object_set_new(o, "raw", hexj(&m->raw_payload));
    static const char *const timings[] = {"TIMESTAMP", "ABSOLUTE", "IMMEDIATE"};
    json_object_set_new(o, "timing", json_string(m->timing <= 2 ? timings[m->timing] : "?"));
    json_object_set_new(o, "timestamp", json_integer(m->timestamp));
    json_object_set_new(o, "rx1_delay", json_integer(m->rx1_delay));
    json_object_set_new(o, "rx1", window_json(m->rx1));
    json_object_set_new(o, "rx2", window_json(m->rx2));
    json_object_set_new(o, "join_accept", json_boolean(m->join_accept));
    json_object_set_new(o, "uplink_token", hexj(&m->uplink_token));
    lorawan_phy_t p;
    if (lorawan_phy_decode(m->raw_payload.data, m->raw_payload.len, &p) == 0) {
        json_object_set_new(o, "mtype", json_string(lorawan_mtype_name(p.mtype)));
        if (lorawan_mtype_is_data(p.mtype, NULL)) {
            json_object_set_new(o, "f_cnt", json_integer(p.u.data.fcnt16));
            json_object_set_new(o, "ack", json_boolean(p.u.data.fctrl.ack));
            json_object_set_new(o, "f_pending", json_boolean(p.u.data.fctrl.f_pending));
            json_object_set_new(o, "fopts_len", json_integer((json_int_t)p.u.data.fopts_len));
            char fo[2 * 15 + 1];
            lw_hex_encode(p.u.data.fopts, p.u.data.fopts_len, fo);
            json_object_set_new(o, "fopts", json_string(fo));
            json_object_set_new(o, "f_port",
                                p.u.data.has_fport ? json_integer(p.u.data.fport) : json_null());
            char h[512];
            lw_hex_encode(p.u.data.frm_payload, p.u.data.frm_payload_len, h);
            json_object_set_new(o, "frm_payload", json_string(h));
        }
    }
    return o;
}

/* lw.ns.dev (the matcher's output): its id, device, counter, the gateways of its copies and
 * the ids of the lw.gs.up copies merged into it. */
static json_t *ns_dev_json(const Lw__Msg__NsDev *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", hexj(&m->envelope->id));
    json_object_set_new(o, "tenant", json_string(m->envelope->tenant_id));
    if (m->end_device_ids != NULL)
        json_object_set_new(o, "device", json_string(m->end_device_ids->device_id));
    json_object_set_new(o, "f_cnt", json_integer(m->f_cnt));
    json_object_set_new(o, "raw", hexj(&m->raw_payload));
    json_t *gws = json_array();
    for (size_t i = 0; i < m->n_rx_metadata; i++)
        json_array_append_new(gws, m->rx_metadata[i]->gateway_ids != NULL
                                       ? json_pack("{ss ss}", "gateway_id",
                                                   m->rx_metadata[i]->gateway_ids->gateway_id,
                                                   "tenant_id",
                                                   m->rx_metadata[i]->gateway_ids->tenant_id)
                                       : json_null());
    json_object_set_new(o, "rx_metadata", gws);
    json_t *ids = json_array();
    for (size_t i = 0; i < m->n_copy_ids; i++)
        json_array_append_new(ids, hexj(&m->copy_ids[i]));
    json_object_set_new(o, "copy_ids", ids);
    return o;
}

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    driver_t *d = arg;
    json_t *o = NULL;
    if (d->raw) {
        o = json_loadb(msg->value, msg->value_len, 0, NULL);
    } else if (d->gs_down) {
        Lw__Msg__GsDown *m = NULL;
        if (lw_msg_gs_down_decode(msg->value, msg->value_len, &m) == 0)
            o = gs_down_json(m);
        lw_msg_gs_down_free(m);
    } else if (d->ns_dev) {
        Lw__Msg__NsDev *m = NULL;
        if (lw_msg_ns_dev_decode(msg->value, msg->value_len, &m) == 0)
            o = ns_dev_json(m);
        lw_msg_ns_dev_free(m);
    } else {
        Lw__Msg__NsUp *m = NULL;
        if (lw_msg_ns_up_decode(msg->value, msg->value_len, &m) == 0)
            o = ns_up_json(m);
        lw_msg_ns_up_free(m);
    }
    if (o == NULL)
        o = json_pack("{ss}", "type", "undecodable");
    json_object_set_new(o, "key", json_stringn(msg->key, msg->key_len));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t n = strlen(text);
    text[n] = '\n';
    if (write(d->out_fd, text, n + 1) != (ssize_t)(n + 1)) {
        perror("write");
        exit(1);
    }
    free(text);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    if (strcmp(mode, "frame") == 0)
        return cmd_frame(argc, argv);
    if (strcmp(mode, "join") == 0)
        return cmd_join(argc, argv);
    if (strcmp(mode, "accept") == 0)
        return cmd_accept(argc, argv);
    driver_t d;
    memset(&d, 0, sizeof d);
    const char *brokers = NULL, *out = NULL;
    lw_err_t err;
    lw_err_clear(&err);
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    d.cfg = lw_config_new();
    lw_bus_config_register(d.cfg);
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--brokers") == 0)
            brokers = v;
        else if (strcmp(a, "--topic") == 0)
            d.topic = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--prefix") == 0)
            lw_config_set(d.cfg, "bus.topic-prefix", v, "flag", &err);
        else
            usage();
    }
    if (brokers == NULL || lw_config_set(d.cfg, "bus.brokers", brokers, "flag", &err) != 0)
        usage();
    uv_loop_init(&d.loop);
    d.bus = lw_bus_new(&d.loop, d.cfg, &err);
    if (d.bus == NULL) {
        fprintf(stderr, "ns_driver: %s\n", err.message);
        return 1;
    }
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_timer_init(&d.loop, &d.tick);
    d.tick.data = &d;
    if (strcmp(mode, "send") == 0) {
        uv_timer_start(&d.tick, send_tick, 0, 0);
    } else if (strcmp(mode, "consume") == 0) {
        if (d.topic == NULL || out == NULL)
            usage();
        d.gs_down = strcmp(d.topic, "gs.down") == 0;
        d.ns_dev = strcmp(d.topic, "ns.dev") == 0;
        d.raw = strcmp(d.topic, "events") == 0;
        d.out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (d.out_fd < 0) {
            perror(out);
            return 1;
        }
        const char *names[] = {d.topic};
        lw_bus_handler_t h = {.on_message = on_message};
        lw_bus_sub_opts_t o = {.from_beginning = true};
        if (lw_bus_subscribe_opts(d.bus, NULL, names, 1, &h, &d, &o, &err) == NULL) {
            fprintf(stderr, "ns_driver: %s\n", err.message);
            return 1;
        }
    } else {
        usage();
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
    lw_bus_stats_t st;
    lw_bus_stats(d.bus, &st);
    lw_bus_free(d.bus);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    lw_config_free(d.cfg);
    if (d.out_fd > 0)
        close(d.out_fd);
    return st.failed == 0 ? 0 : 1;
}
