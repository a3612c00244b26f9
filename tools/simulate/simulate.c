/* `lwstack simulate`: N Semtech UDP gateways and M devices on one libuv loop.
 *
 * Each gateway has its own UDP socket (so the Gateway Server sees one peer per gateway), sends
 * PULL_DATA keepalives and a stat now and then, and forwards the uplinks of the devices it
 * hears. Device i is heard by gateways i, i+1, ..., i+K-1 (mod N), each with its own
 * concentrator clock (an offset from the simulator's µs clock), RSSI and SNR. Uplinks (and
 * OTAA join-requests) go out at --rate a second, round robin over the devices.
 *
 * A PULL_RESP is answered with TX_ACK (TOO_LATE when it arrived after its transmission time)
 * and handed to the device whose uplink it answers: its concentrator time, less the gateway's
 * offset and a whole number of seconds, is that uplink's reception time (sim_private.h,
 * match.c). That gives the receive window, the timing relative to the uplink and the radio
 * settings to check against RX1 / RX2; join-accepts are decrypted and checked, and the
 * device continues with data uplinks in its new session. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/mem.h"
#include "simulate/simulate.h"
#include "sim_run.h"

#define SIM_EXIT_USAGE 2
/* Downlinks are looked for up to this many seconds after their uplink (RX2 of RxDelay 15). */
#define SIM_MAX_DELAY_S 16u

/* The simulator's clock in µs: the wall clock at start, then monotonic. The gateways'
 * concentrator counters derive from it, so a later run (a gateway that kept running) goes on
 * where the last one stopped instead of jumping back as a rebooted concentrator would. */
uint64_t sim_now_us(const sim_t *s)
{
    return s->t0_wall_us + (uv_hrtime() - s->t0_ns) / 1000u + 1u; /* never 0: 0 is no key */
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- options ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: lwstack simulate --udp HOST:PORT [options]\n"
           "\n"
           "Drives simulated Semtech UDP gateways and LoRaWAN devices against a running stack\n"
           "and prints what came back.\n"
           "\n"
           "traffic:\n"
           "  --gateways N            gateways (default 1)\n"
           "  --devices M             devices (default 1)\n"
           "  --copies K              gateways that hear each uplink (default 1, <= N)\n"
           "  --rate R[/s]            uplinks and join-requests a second, all devices (10)\n"
           "  --duration S            seconds of sending (10; 0: until --uplinks-per-device)\n"
           "  --uplinks-per-device U  data uplinks each device sends, then stops (0: no limit)\n"
           "  --drain S               seconds to listen after the last uplink (default: RX2\n"
           "                          of the slowest window + 1 s)\n"
           "  --udp HOST:PORT         the Gateway Server's Semtech UDP port\n"
           "  --abp | --otaa          activation (default ABP)\n"
           "  --lorawan-version V     1.0.2, 1.0.3 (default), 1.0.4 or 1.1\n"
           "  --frequency-plan ID     EU_863_870_TTN (default), US_902_928_FSB_2, ...\n"
           "  --dr N                  uplink data rate (default SF7 125 kHz)\n"
           "  --confirmed             confirmed uplinks\n"
           "  --adr                   set FCtrl.ADR\n"
           "  --fport P               FPort (default 1)\n"
           "  --payload HEX           FRMPayload (default: 4 bytes, the FCnt)\n"
           "  --link-check            LinkCheckReq in every uplink\n"
           "  --device-time           DeviceTimeReq in every uplink\n"
           "  --rssi DBM --snr DB     of the first gateway's copy (each next one 3 dB / 1 dB\n"
           "                          lower; defaults -50 and 9)\n"
           "  --late-copy-ms MS       send the last gateway copy MS ms after the others\n"
           "  --rx1-delay S           ABP devices' RX1 delay, also provisioned (default 1)\n"
           "  --class-c               provision devices as class C\n"
           "  --keepalive S           PULL_DATA period (5)  --stat-interval S  stat period (30)\n"
           "  --join-timeout S        a join-request unanswered this long is sent again (8)\n"
           "\n"
           "fleet (keys and EUIs):\n"
           "  --seed X                derive keys and EUIs from X (default \"lwsim\")\n"
           "  --keys-file F           devices as JSON lines (dev_eui, join_eui, app_key, nwk_key,\n"
           "                          dev_addr, nwk_s_key | f_nwk_s_int_key + s_nwk_s_int_key +\n"
           "                          nwk_s_enc_key, app_s_key, lorawan_version, f_cnt_up)\n"
           "  --dev-eui-start HEX --join-eui HEX --dev-addr-start HEX --gateway-eui-start HEX\n"
           "  --f-cnt-start N         ABP devices' first FCntUp  --dev-nonce-start N\n"
           "\n"
           "provisioning:\n"
           "  --api URL               create gateways and devices through the stack's API first\n"
           "  --tenant T              X-Tenant-ID\n"
           "  --api-key K | --admin-key K   Bearer API key, or the tenant admin key\n"
           "  --owner user:ID|org:ID  collection of the application and gateways (user:admin)\n"
           "  --application ID        application of the devices (default \"sim\")\n"
           "  --configured            ABP devices provisioned as set up already: the plan's\n"
           "                          channels as factory presets, RX2 and RX1 delay desired\n"
           "                          as they are, no DevStatus polling (no set-up MAC\n"
           "                          commands: a fleet in its steady state; ops/bench)\n"
           "  --parts LIST            what to provision of each device, of is,ns,js,as\n"
           "                          (default is,ns,js; as: the ABP AppSKey on the AS)\n"
           "  --provision-json        print the provisioning requests as JSON lines\n"
           "  --provision-only        provision (or print), then exit\n"
           "\n"
           "output:\n"
           "  --json                  the summary as one JSON object\n"
           "  --events FILE           JSON lines: every uplink, downlink and join (- stdout)\n"
           "  --keys-out FILE         the fleet as a keys file (JSON lines, keys included)\n");
}

static int bad(const char *flag, const char *what)
{
    fprintf(stderr, "simulate: %s: %s\n\n", flag, what);
    usage(stderr);
    return SIM_EXIT_USAGE;
}

static bool parse_u64(const char *v, uint64_t max, uint64_t *out, int base)
{
    if (v == NULL || *v == '\0')
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, base);
    if (errno != 0 || *end != '\0' || x > max || v[0] == '-')
        return false;
    *out = x;
    return true;
}

static bool parse_double(const char *v, double min, double *out)
{
    if (v == NULL || *v == '\0')
        return false;
    char *end;
    double x = strtod(v, &end);
    if (strcmp(end, "/s") == 0)
        end += 2;
    if (*end != '\0' || !isfinite(x) || x < min)
        return false;
    *out = x;
    return true;
}

/* "is,ns,js,as" → SIM_PART_* bits. */
static int parse_parts(const char *v, unsigned *out)
{
    unsigned bits = 0;
    const char *p = v;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n == 2 && strncmp(p, "is", 2) == 0)
            bits |= SIM_PART_IS;
        else if (n == 2 && strncmp(p, "ns", 2) == 0)
            bits |= SIM_PART_NS;
        else if (n == 2 && strncmp(p, "js", 2) == 0)
            bits |= SIM_PART_JS;
        else if (n == 2 && strncmp(p, "as", 2) == 0)
            bits |= SIM_PART_AS;
        else
            return -1;
        p += n;
        if (*p == ',')
            p++;
    }
    if (bits == 0)
        return -1;
    *out = bits;
    return 0;
}

static int parse_opts(sim_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->n_gateways = 1;
    o->n_devices = 1;
    o->copies = 1;
    o->rate = 10;
    o->duration_s = 10;
    o->drain_s = -1;
    o->fleet.seed = "lwsim";
    o->fleet.version = SIM_MAC_1_0_3;
    o->fleet.dev_nonce_start = 1;
    o->frequency_plan_id = "EU_863_870_TTN";
    o->dr = -1;
    o->fport = 1;
    o->rssi = -50;
    o->snr = 9;
    o->rx1_delay_s = 1;
    o->keepalive_s = 5;
    o->stat_interval_s = 30;
    o->join_timeout_s = 8;
    o->owner = "user:admin";
    o->application_id = "sim";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u = 0;
        double x = 0;
#define FLAG(name) (strcmp(a, name) == 0)
#define TAKE()     (i++, v)
        if (FLAG("--help") || FLAG("-h")) {
            usage(stdout);
            return -1;
        } else if (FLAG("--gateways") || FLAG("--devices") || FLAG("--copies")) {
            if (!parse_u64(TAKE(), 10000000, &u, 10) || u == 0)
                return bad(a, "a positive integer");
            *(FLAG("--gateways")  ? &o->n_gateways
              : FLAG("--devices") ? &o->n_devices
                                  : &o->copies) = (uint32_t)u;
        } else if (FLAG("--rate")) {
            if (!parse_double(TAKE(), 0.001, &o->rate))
                return bad(a, "a rate above 0, as R or R/s");
        } else if (FLAG("--duration")) {
            if (!parse_double(TAKE(), 0, &o->duration_s))
                return bad(a, "seconds, 0 or more");
        } else if (FLAG("--max-duration")) {
            if (!parse_double(TAKE(), 0.001, &o->max_duration_s))
                return bad(a, "seconds above 0");
        } else if (FLAG("--drain")) {
            if (!parse_double(TAKE(), 0, &o->drain_s))
                return bad(a, "seconds, 0 or more");
        } else if (FLAG("--uplinks-per-device")) {
            if (!parse_u64(TAKE(), UINT32_MAX, &u, 10))
                return bad(a, "an integer");
            o->uplinks_per_device = (uint32_t)u;
        } else if (FLAG("--udp")) {
            o->udp = TAKE();
        } else if (FLAG("--abp")) {
            o->fleet.otaa = false;
        } else if (FLAG("--otaa")) {
            o->fleet.otaa = true;
        } else if (FLAG("--lorawan-version")) {
            if (v == NULL || sim_mac_version_parse(TAKE(), &o->fleet.version) != 0)
                return bad(a, "1.0.2, 1.0.3, 1.0.4 or 1.1");
        } else if (FLAG("--frequency-plan")) {
            o->frequency_plan_id = TAKE();
            if (v == NULL || lorawan_freqplan_find(v) == NULL)
                return bad(a, "a known frequency plan ID (EU_863_870_TTN, US_902_928_FSB_2, ...)");
        } else if (FLAG("--dr")) {
            if (!parse_u64(TAKE(), 15, &u, 10))
                return bad(a, "a data rate index 0..15");
            o->dr = (int)u;
        } else if (FLAG("--confirmed")) {
            o->confirmed = true;
        } else if (FLAG("--adr")) {
            o->adr = true;
        } else if (FLAG("--no-duty-cycle")) {
            o->no_duty_cycle = true;
        } else if (FLAG("--configured")) {
            o->configured = true;
        } else if (FLAG("--class-c")) {
            o->class_c = true;
        } else if (FLAG("--link-check")) {
            o->link_check = true;
        } else if (FLAG("--device-time")) {
            o->device_time = true;
        } else if (FLAG("--json")) {
            o->json = true;
        } else if (FLAG("--fport")) {
            if (!parse_u64(TAKE(), 223, &u, 10) || u == 0)
                return bad(a, "1..223");
            o->fport = (uint8_t)u;
        } else if (FLAG("--payload")) {
            size_t n = 0;
            if (v == NULL || strlen(v) > 2 * SIM_MAX_PAYLOAD ||
                lorawan_hex_decode(v, strlen(v), o->payload, sizeof o->payload, &n) != 0)
                return bad(a, "hex, at most 242 bytes");
            i++;
            o->payload_len = n;
            o->has_payload = true;
        } else if (FLAG("--rssi")) {
            if (v == NULL)
                return bad(a, "dBm");
            o->rssi = atoi(TAKE());
        } else if (FLAG("--snr")) {
            if (!parse_double(TAKE(), -40, &o->snr))
                return bad(a, "dB, -40 or more");
        } else if (FLAG("--late-copy-ms")) {
            if (!parse_double(TAKE(), 0, &o->late_copy_ms))
                return bad(a, "milliseconds");
        } else if (FLAG("--rx1-delay")) {
            if (!parse_u64(TAKE(), 15, &u, 10) || u == 0)
                return bad(a, "1..15 seconds");
            o->rx1_delay_s = (uint8_t)u;
        } else if (FLAG("--keepalive") || FLAG("--stat-interval") || FLAG("--join-timeout")) {
            if (!parse_double(TAKE(), 0.01, &x))
                return bad(a, "seconds");
            *(FLAG("--keepalive")       ? &o->keepalive_s
              : FLAG("--stat-interval") ? &o->stat_interval_s
                                        : &o->join_timeout_s) = x;
        } else if (FLAG("--seed")) {
            o->fleet.seed = TAKE();
        } else if (FLAG("--keys-file")) {
            o->keys_file = TAKE();
        } else if (FLAG("--dev-eui-start") || FLAG("--join-eui") || FLAG("--gateway-eui-start")) {
            if (v == NULL || strlen(v) != 16 || !parse_u64(TAKE(), UINT64_MAX, &u, 16))
                return bad(a, "16 hex digits");
            if (FLAG("--dev-eui-start")) {
                o->fleet.dev_eui_start = u;
                o->fleet.has_dev_eui_start = true;
            } else if (FLAG("--join-eui")) {
                o->fleet.join_eui = u;
                o->fleet.has_join_eui = true;
            } else {
                o->fleet.gw_eui_start = u;
                o->fleet.has_gw_eui_start = true;
            }
        } else if (FLAG("--dev-addr-start")) {
            if (v == NULL || strlen(v) != 8 || !parse_u64(TAKE(), UINT32_MAX, &u, 16))
                return bad(a, "8 hex digits");
            o->fleet.dev_addr_start = (uint32_t)u;
            o->fleet.has_dev_addr_start = true;
        } else if (FLAG("--f-cnt-start")) {
            if (!parse_u64(TAKE(), UINT32_MAX, &u, 0))
                return bad(a, "0..4294967295");
            o->fleet.f_cnt_start = (uint32_t)u;
        } else if (FLAG("--dev-nonce-start")) {
            if (!parse_u64(TAKE(), 65535, &u, 0))
                return bad(a, "0..65535");
            o->fleet.dev_nonce_start = (uint16_t)u;
        } else if (FLAG("--keys-out")) {
            o->keys_out = TAKE();
        } else if (FLAG("--events")) {
            o->events_path = TAKE();
        } else if (FLAG("--api")) {
            o->api = TAKE();
        } else if (FLAG("--ns-api")) {
            o->ns_api = TAKE();
        } else if (FLAG("--js-api")) {
            o->js_api = TAKE();
        } else if (FLAG("--tenant")) {
            o->tenant = TAKE();
        } else if (FLAG("--api-key")) {
            o->api_key = TAKE();
        } else if (FLAG("--admin-key")) {
            o->admin_key = TAKE();
        } else if (FLAG("--owner")) {
            o->owner = TAKE();
        } else if (FLAG("--application")) {
            o->application_id = TAKE();
        } else if (FLAG("--provision-json")) {
            o->provision_json = true;
        } else if (FLAG("--parts")) {
            if (v == NULL || parse_parts(TAKE(), &o->parts) != 0)
                return bad(a, "a list of is, ns, js (e.g. is,js)");
        } else if (FLAG("--provision-only")) {
            o->provision_only = true;
        } else {
            return bad(a, "unknown option");
        }
        if (i >= argc)
            return bad(a, "needs a value");
#undef FLAG
#undef TAKE
    }
    if (o->copies > o->n_gateways)
        return bad("--copies", "at most --gateways");
    if (o->api != NULL && (o->tenant == NULL || (o->api_key == NULL && o->admin_key == NULL)))
        return bad("--api", "needs --tenant and --api-key (or --admin-key)");
    if (o->udp == NULL &&
        !(o->provision_only && (o->api != NULL || o->provision_json || o->keys_out != NULL)))
        return bad("--udp", "HOST:PORT of the Gateway Server is required");
    if (o->duration_s == 0 && o->uplinks_per_device == 0)
        return bad("--duration", "0 needs --uplinks-per-device");
    /* Devices that never join (or a stack that never answers) must not keep a
     * --duration 0 run going for ever. */
    if (o->duration_s == 0 && o->max_duration_s == 0)
        o->max_duration_s = 60 + 3 * (double)o->n_devices * (double)o->uplinks_per_device / o->rate;
    return 0;
}

/* ---- events ------------------------------------------------------------------------------- */

static void event_emit(sim_t *s, json_t *ev)
{
    if (s->events == NULL) {
        json_decref(ev);
        return;
    }
    char *txt = json_dumps(ev, JSON_COMPACT);
    fprintf(s->events, "%s\n", txt);
    free(txt);
    json_decref(ev);
}

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char buf[2 * LORAWAN_PHY_MAX_LEN + 1];
    (void)lorawan_hex_encode(b, n, buf, sizeof buf);
    return json_string(buf);
}

static json_t *eui_json(uint64_t eui)
{
    char h[17];
    sim_eui_hex(eui, h);
    return json_string(h);
}

static json_t *addr_json(uint32_t a)
{
    char h[9];
    snprintf(h, sizeof h, "%08" PRIx32, a);
    return json_string(h);
}

/* ---- sending ------------------------------------------------------------------------------ */

static void gw_send(sim_t *s, sim_gw_t *g, const uint8_t *data, size_t len)
{
    lw_err_t err;
    lw_err_clear(&err);
    if (lw_udp_send(g->udp, (const struct sockaddr *)&s->server, data, len, &err) != 0)
        s->c.send_failed++;
}

static void gw_pull(sim_t *s, sim_gw_t *g)
{
    uint8_t b[SIM_UDP_HEADER_LEN];
    sim_udp_pull_data(++g->token, g->eui, b);
    gw_send(s, g, b, sizeof b);
    s->c.pull_data++;
}

static void gw_stat(sim_t *s, sim_gw_t *g)
{
    sim_stat_t st = {.time_unix_ns = wall_ns(),
                     .rxnb = (uint32_t)g->rx_packets,
                     .rxok = (uint32_t)g->rx_packets,
                     .rxfw = (uint32_t)g->rx_packets,
                     .ackr_pct = 100,
                     .dwnb = (uint32_t)g->tx_packets,
                     .txnb = (uint32_t)g->tx_packets};
    uint8_t b[512];
    size_t len = 0;
    uint16_t tok = ++g->token;
    /* Its PUSH_ACK is not counted: uplinks' are (push_sent stays 0 for this token). */
    if (sim_udp_push_stat(tok, g->eui, &st, b, sizeof b, &len) == 0) {
        g->push_sent[tok & SIM_PUSH_MASK] = 0;
        gw_send(s, g, b, len);
        s->c.stats++;
    }
}

/* Records the uplink sent at reception time `key` so that its downlinks find it. */
static void rec_add(sim_t *s, uint32_t key, uint32_t dev, uint8_t ch, uint8_t dr, bool join)
{
    sim_up_rec_t *r = &s->recs[s->rec_next & (s->rec_cap - 1)];
    if (r->key != 0) {
        uint32_t v;
        if (sim_match_get(&s->by_time, r->key, &v) && v == (s->rec_next & (s->rec_cap - 1)))
            sim_match_del(&s->by_time, r->key);
    }
    *r = (sim_up_rec_t){
        .key = key, .dev = dev, .sent_us = sim_now_us(s), .ch = ch, .dr = dr, .join = join};
    (void)sim_match_put(&s->by_time, key, s->rec_next & (s->rec_cap - 1));
    s->rec_next++;
}

static void late_push(sim_t *s, uint32_t gw, const uint8_t *data, size_t len, uint64_t due)
{
    if (s->late_tail - s->late_head >= s->late_cap) {
        s->c.send_failed++;
        return;
    }
    sim_late_t *l = &s->late[s->late_tail++ % s->late_cap];
    l->gw = gw;
    l->due_us = due;
    l->len = (uint16_t)len;
    memcpy(l->data, data, len);
}

static void late_flush(sim_t *s, uint64_t now)
{
    while (s->late_head != s->late_tail) {
        sim_late_t *l = &s->late[s->late_head % s->late_cap];
        if (l->due_us > now)
            break;
        sim_gw_t *g = &s->gws[l->gw];
        /* A fresh token: the copy is its own PUSH_DATA. */
        uint16_t tok = ++g->token;
        l->data[1] = (uint8_t)(tok & 0xff);
        l->data[2] = (uint8_t)(tok >> 8);
        g->push_sent[tok & SIM_PUSH_MASK] = now;
        g->push_token[tok & SIM_PUSH_MASK] = tok;
        gw_send(s, g, l->data, l->len);
        s->c.push_data++;
        s->late_head++;
    }
}

/* Sends device i's next frame (a join-request while it has no session). */
static void dev_send(sim_t *s, uint32_t i)
{
    sim_dev_t *d = &s->devs[i];
    uint64_t now = sim_now_us(s);
    if (d->otaa && !d->active && d->join_pending &&
        now - s->join_sent_us[i] < (uint64_t)(s->o.join_timeout_s * 1e6)) {
        s->c.skipped_waiting++;
        return;
    }
    if (d->otaa && !d->active && d->join_pending)
        s->c.join_timeouts++;
    /* A join-accept reaches the device in its RX1/RX2 window, not when the gateway is handed
     * it: no uplink of the new session before then. */
    if (d->otaa && d->active && now < s->joined_us[i]) {
        s->c.skipped_waiting++;
        return;
    }
    uint8_t ch_i =
        (uint8_t)((i + s->dev_ups[i] + (d->active ? 0u : d->dev_nonce)) % s->radio.n_channels);
    const sim_channel_t *ch = &s->radio.channels[ch_i];
    uint8_t dr = d->dr;
    uint8_t sf = 7;
    uint16_t bw = 125;
    if (sim_radio_dr_lora(&s->radio, dr, true, &sf, &bw) != 0) {
        dr = sim_radio_default_dr(&s->radio);
        (void)sim_radio_dr_lora(&s->radio, dr, true, &sf, &bw);
    }

    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    int rc;
    bool join = d->otaa && !d->active;
    uint32_t f_cnt = d->f_cnt_up;
    if (join) {
        rc = sim_join_request_build(d, phy, sizeof phy, &len);
    } else {
        if (s->o.link_check) {
            lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_LINK_CHECK, .uplink = true};
            (void)sim_dev_queue_mac(d, &c);
        }
        if (s->o.device_time) {
            lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_DEVICE_TIME, .uplink = true};
            (void)sim_dev_queue_mac(d, &c);
        }
        uint8_t pl[SIM_MAX_PAYLOAD];
        size_t pl_len = 4;
        if (s->o.has_payload) {
            memcpy(pl, s->o.payload, s->o.payload_len);
            pl_len = s->o.payload_len;
        } else {
            for (int k = 0; k < 4; k++)
                pl[k] = (uint8_t)(f_cnt >> (24 - 8 * k));
        }
        sim_uplink_t up = {.confirmed = s->o.confirmed,
                           .has_fport = true,
                           .fport = s->o.fport,
                           .payload = pl,
                           .payload_len = pl_len,
                           .tx_dr = dr,
                           .tx_ch = ch->index,
                           .adr = s->o.adr};
        rc = sim_uplink_build(d, &up, phy, sizeof phy, &len);
    }
    if (rc != 0) {
        fprintf(stderr, "simulate: device %016" PRIx64 ": %s\n", d->dev_eui, sim_strerror(rc));
        s->c.send_failed++;
        return;
    }
    if (join) {
        s->c.joins_sent++;
        s->join_sent_us[i] = now;
    } else {
        s->c.uplinks++;
        s->dev_ups[i]++;
        if (s->o.confirmed)
            s->c.confirmed_sent++;
    }

    /* Its reception time: unique among uplinks in flight, so that a downlink's time finds it. */
    uint64_t u = now <= s->last_key_us ? s->last_key_us + 1 : now;
    s->last_key_us = u;
    if ((uint32_t)u == 0)
        u = ++s->last_key_us;
    rec_add(s, (uint32_t)u, i, ch_i, dr, join);

    int64_t wall = wall_ns();
    for (uint32_t j = 0; j < s->o.copies; j++) {
        sim_gw_t *g = &s->gws[(i + j) % s->o.n_gateways];
        sim_rxpk_t rx = {.tmst = (uint32_t)(u + g->tmst_offset),
                         .time_unix_ns = wall,
                         .chan = (uint8_t)(ch_i % 8),
                         .freq_hz = ch->freq_hz,
                         .sf = sf,
                         .bw_khz = bw,
                         .rssi = (int16_t)(s->o.rssi - 3 * (int)j),
                         .lsnr = (float)(s->o.snr - (double)j),
                         .phy = phy,
                         .len = len};
        uint8_t b[SIM_UDP_MAX_DATAGRAM];
        size_t blen = 0;
        uint16_t tok = ++g->token;
        if (sim_udp_push_data(tok, g->eui, &rx, b, sizeof b, &blen) != 0) {
            s->c.send_failed++;
            continue;
        }
        g->rx_packets++;
        if (j > 0 && j == s->o.copies - 1 && s->o.late_copy_ms > 0) {
            late_push(s, (i + j) % s->o.n_gateways, b, blen,
                      now + (uint64_t)(s->o.late_copy_ms * 1000));
            continue;
        }
        g->push_sent[tok & SIM_PUSH_MASK] = now;
        g->push_token[tok & SIM_PUSH_MASK] = tok;
        gw_send(s, g, b, blen);
        s->c.push_data++;
    }
    if (s->events != NULL) {
        json_t *ev =
            json_pack("{sssosIsosIsIsisI}", "event", join ? "join_request" : "uplink", "dev_eui",
                      eui_json(d->dev_eui), "f_cnt", (json_int_t)(join ? 0 : f_cnt), "phy",
                      hex_json(phy, len), "freq_hz", (json_int_t)ch->freq_hz, "dr", (json_int_t)dr,
                      "copies", (int)s->o.copies, "t_us", (json_int_t)now);
        if (!join)
            json_object_set_new(ev, "dev_addr", addr_json(d->dev_addr));
        else
            json_object_set_new(ev, "dev_nonce", json_integer(d->join_dev_nonce));
        event_emit(s, ev);
    }
}

/* ---- receiving ---------------------------------------------------------------------------- */

/* Which uplink a scheduled downlink answers: the record of the uplink received k whole seconds
 * before the downlink's time (1 <= k <= SIM_MAX_DELAY_S), preferring the kind of frame. */
static sim_up_rec_t *rec_for(sim_t *s, uint32_t down_key, bool join_accept, uint32_t *delay_s)
{
    for (uint32_t k = 1; k <= SIM_MAX_DELAY_S; k++) {
        uint32_t v;
        if (sim_match_get(&s->by_time, down_key - k * 1000000u, &v)) {
            sim_up_rec_t *r = &s->recs[v];
            if (r->join == join_accept) {
                *delay_s = k;
                return r;
            }
        }
    }
    return NULL;
}

static void on_pull_resp(sim_t *s, sim_gw_t *g, const sim_udp_msg_t *m)
{
    const sim_txpk_t *tx = &m->txpk;
    uint64_t now = sim_now_us(s);
    s->c.downlinks++;
    g->tx_packets++;
    bool join_accept = tx->len > 0 && (tx->phy[0] >> 5) == LORAWAN_MTYPE_JOIN_ACCEPT;
    sim_window_t win = SIM_WIN_IMMEDIATE;
    sim_up_rec_t *rec = NULL;
    uint32_t delay_s = 0;
    int64_t lead_us = 0;
    uint32_t dev = UINT32_MAX;
    if (!tx->imme) {
        uint32_t down_key = tx->tmst - g->tmst_offset;
        lead_us = (int32_t)(down_key - (uint32_t)now);
        rec = rec_for(s, down_key, join_accept, &delay_s);
        if (rec != NULL) {
            dev = rec->dev;
            win = sim_window_classify(join_accept, s->devs[dev].rx1_delay_s, delay_s * 1000000u);
        } else {
            win = SIM_WIN_NONE;
        }
    }
    const char *txack = lead_us < 0 ? "TOO_LATE" : NULL;
    uint8_t b[128];
    size_t blen = 0;
    if (m->version >= 2 && sim_udp_tx_ack(m->token, g->eui, txack, b, sizeof b, &blen) == 0) {
        gw_send(s, g, b, blen);
        s->c.tx_ack++;
    }

    lorawan_phy_t phy;
    if (dev == UINT32_MAX && !join_accept && lorawan_phy_decode(tx->phy, tx->len, &phy) == 0 &&
        lorawan_mtype_is_data(phy.mtype, NULL)) {
        uint32_t v;
        if (sim_match_get(&s->by_addr, phy.u.data.dev_addr, &v)) {
            dev = v;
            /* A data downlink at a time that answers none of its uplinks: class C (or B),
             * scheduled on the gateway's clock as The Things Stack does. */
            if (win == SIM_WIN_NONE && rec == NULL)
                win = SIM_WIN_SCHEDULED;
        }
    }

    json_t *ev =
        json_pack("{sssosssssIsI}", "event", "downlink", "gateway_eui", eui_json(g->eui), "type",
                  join_accept ? "join_accept" : "data", "window", sim_window_name(win), "freq_hz",
                  (json_int_t)tx->freq_hz, "powe", (json_int_t)tx->powe);
    json_object_set_new(ev, "phy", hex_json(tx->phy, tx->len));
    char datr[16];
    snprintf(datr, sizeof datr, "SF%uBW%u", tx->sf, tx->bw_khz);
    json_object_set_new(ev, "datr", json_string(datr));
    uint8_t got_dr = 0;
    bool has_dr = sim_radio_dr_index(&s->radio, tx->sf, tx->bw_khz, false, &got_dr) == 0;
    if (has_dr)
        json_object_set_new(ev, "dr", json_integer(got_dr));
    json_object_set_new(ev, "ipol", json_boolean(tx->ipol));
    if (!tx->imme) {
        json_object_set_new(ev, "lead_us", json_integer(lead_us));
        sim_lat_add(&s->dl_lead, lead_us);
    }
    if (rec != NULL)
        json_object_set_new(ev, "delay_us", json_integer((json_int_t)delay_s * 1000000));
    if (lead_us < 0)
        s->c.dl_late++;

    const char *result = "ok";
    if (dev == UINT32_MAX) {
        s->c.dl_unmatched++;
        result = "unmatched";
    } else {
        sim_dev_t *d = &s->devs[dev];
        json_object_set_new(ev, "dev_eui", eui_json(d->dev_eui));
        /* The radio settings the device listens with in that window. */
        uint32_t want_freq = 0;
        uint8_t want_dr = 0;
        bool checkable = false;
        if (rec != NULL && win == SIM_WIN_RX1) {
            checkable =
                sim_radio_rx1(&s->radio, &s->radio.channels[rec->ch], rec->dr,
                              join_accept ? 0 : d->rx1_dr_offset, &want_freq, &want_dr) == 0;
        } else if (win == SIM_WIN_RX2 || win == SIM_WIN_IMMEDIATE || win == SIM_WIN_SCHEDULED) {
            want_freq = join_accept ? s->radio.rx2_band.freq_hz : d->rx2_freq_hz;
            want_dr = join_accept ? s->radio.rx2_band.dr : d->rx2_dr;
            checkable = true;
        }
        if (checkable) {
            bool ok = want_freq == tx->freq_hz && has_dr && want_dr == got_dr && tx->ipol;
            json_object_set_new(ev, "expected_freq_hz", json_integer(want_freq));
            json_object_set_new(ev, "expected_dr", json_integer(want_dr));
            json_object_set_new(ev, "radio_ok", json_boolean(ok));
            if (!ok)
                s->c.dl_radio_mismatch++;
        }
        if (win != SIM_WIN_NONE)
            s->c.dl_win[win]++;
        if (lead_us < 0) {
            result = "too_late";
        } else if (join_accept) {
            sim_join_result_t jr;
            uint16_t nonce = d->join_dev_nonce;
            int rc = sim_join_accept_handle(d, tx->phy, tx->len, &jr);
            if (rc != 0) {
                result = sim_strerror(rc);
                s->c.join_failed++;
            } else {
                s->c.joins_accepted++;
                s->joined_us[dev] = now + (tx->imme ? 0 : (uint64_t)lead_us);
                sim_lat_add(&s->join_lat, (int64_t)(now - s->join_sent_us[dev]));
                (void)sim_match_put(&s->by_addr, d->dev_addr, dev);
                json_object_set_new(ev, "dev_addr", addr_json(d->dev_addr));
                json_object_set_new(ev, "dev_nonce", json_integer(nonce));
                json_object_set_new(ev, "join_nonce", json_integer(jr.join_nonce));
                json_object_set_new(ev, "net_id", json_integer(jr.net_id));
                json_object_set_new(ev, "opt_neg", json_boolean(jr.opt_neg));
                json_object_set_new(ev, "rx_delay", json_integer(jr.rx_delay));
                json_object_set_new(ev, "rx1_dr_offset", json_integer(jr.rx1_dr_offset));
                json_object_set_new(ev, "rx2_dr", json_integer(jr.rx2_dr));
                json_object_set_new(ev, "cflist",
                                    jr.has_cflist ? hex_json(jr.cflist, LORAWAN_CFLIST_LEN)
                                                  : json_null());
            }
        } else {
            sim_downlink_t dl;
            int rc = sim_downlink_handle(d, tx->phy, tx->len, &dl);
            if (rc != 0) {
                result = sim_strerror(rc);
                if (rc == SIM_E_FCNT)
                    s->c.dl_replayed++;
                else
                    s->c.dl_failed++;
            } else {
                if (tx->imme)
                    s->c.dl_class_c++;
                if (dl.ack)
                    s->c.confirmed_acked++;
                json_object_set_new(ev, "dev_addr", addr_json(d->dev_addr));
                json_object_set_new(ev, "f_cnt", json_integer(dl.f_cnt));
                json_object_set_new(ev, "confirmed", json_boolean(dl.confirmed));
                json_object_set_new(ev, "ack", json_boolean(dl.ack));
                json_object_set_new(ev, "f_pending", json_boolean(dl.f_pending));
                if (dl.has_fport) {
                    json_object_set_new(ev, "fport", json_integer(dl.fport));
                    json_object_set_new(ev, "payload", hex_json(dl.payload, dl.payload_len));
                }
                json_t *mac = json_array();
                for (size_t k = 0; k < dl.n_mac; k++) {
                    const char *name = "?";
                    (void)lorawan_mac_cmd_info(dl.mac[k].cid, false, &name, NULL, NULL, NULL);
                    json_array_append_new(mac, json_string(name));
                }
                json_object_set_new(ev, "mac", mac);
                if (d->has_link_check) {
                    json_object_set_new(ev, "link_check",
                                        json_pack("{sisi}", "margin", d->link_check_margin,
                                                  "gw_cnt", d->link_check_gw_cnt));
                    d->has_link_check = false;
                }
                if (d->has_device_time) {
                    json_object_set_new(ev, "device_time_gps_s",
                                        json_integer(d->device_time_gps_s));
                    d->has_device_time = false;
                }
                json_object_set_new(ev, "dr_after", json_integer(d->dr));
            }
        }
    }
    json_object_set_new(ev, "result", json_string(result));
    json_object_set_new(ev, "tx_ack", json_string(txack != NULL ? txack : "NONE"));
    json_object_set_new(ev, "t_us", json_integer((json_int_t)now));
    event_emit(s, ev);
}

static void on_datagram(void *arg, lw_udp_t *u, const uint8_t *data, size_t len,
                        const struct sockaddr *peer)
{
    (void)u;
    (void)peer;
    sim_gw_t *g = arg;
    sim_t *s = g->s;
    sim_udp_msg_t *m = lw_malloc(sizeof *m);
    if (sim_udp_parse(data, len, m) != 0) {
        s->c.malformed++;
        free(m);
        return;
    }
    switch (m->type) {
    case SIM_UDP_PUSH_ACK:
        if (g->push_token[m->token & SIM_PUSH_MASK] == m->token &&
            g->push_sent[m->token & SIM_PUSH_MASK] != 0) {
            s->c.push_ack++;
            sim_lat_add(&s->push_rtt,
                        (int64_t)(sim_now_us(s) - g->push_sent[m->token & SIM_PUSH_MASK]));
            g->push_sent[m->token & SIM_PUSH_MASK] = 0;
        }
        break;
    case SIM_UDP_PULL_ACK:
        s->c.pull_ack++;
        break;
    case SIM_UDP_PULL_RESP:
        on_pull_resp(s, g, m);
        break;
    default:
        s->c.malformed++;
        break;
    }
    free(m);
}

/* ---- the run ------------------------------------------------------------------------------ */

static void sim_stop(sim_t *s);

static void on_keepalive(uv_timer_t *t)
{
    sim_t *s = t->data;
    s->keepalive_ticks++;
    bool stat = s->o.stat_interval_s > 0 && fmod((double)s->keepalive_ticks * s->o.keepalive_s,
                                                 s->o.stat_interval_s) < s->o.keepalive_s;
    for (uint32_t g = 0; g < s->o.n_gateways; g++) {
        gw_pull(s, &s->gws[g]);
        if (stat)
            gw_stat(s, &s->gws[g]);
    }
}

static bool dev_done(const sim_t *s, uint32_t i)
{
    return s->o.uplinks_per_device > 0 && s->dev_ups[i] >= s->o.uplinks_per_device;
}

static void on_tick(uv_timer_t *t)
{
    sim_t *s = t->data;
    uint64_t now = sim_now_us(s);
    late_flush(s, now);
    if (s->sending) {
        double elapsed = (double)(now - s->start_us) / 1e6;
        uint64_t due = (uint64_t)(elapsed * s->o.rate) + 1;
        /* At most one round over the fleet per tick: a stalled loop does not burst. */
        uint64_t budget = s->o.n_devices;
        while (s->scheduled < due && budget-- > 0) {
            uint32_t i = s->next_dev;
            s->next_dev = (s->next_dev + 1) % s->o.n_devices;
            s->scheduled++;
            if (dev_done(s, i))
                continue;
            dev_send(s, i);
        }
        if (s->scheduled < due)
            s->scheduled = due;
        bool all_done = s->o.uplinks_per_device > 0;
        for (uint32_t i = 0; all_done && i < s->o.n_devices; i++)
            all_done = dev_done(s, i);
        if (all_done || now >= s->stop_sending_us) {
            s->sending = false;
            s->send_end_us = now;
            double drain = s->o.drain_s;
            if (drain < 0) {
                /* Long enough for the RX2 of the slowest window in play. */
                unsigned rx1 = s->o.fleet.otaa ? SIM_JOIN_ACCEPT_DELAY1_S : s->o.rx1_delay_s;
                for (uint32_t i = 0; i < s->o.n_devices; i++)
                    if (s->devs[i].rx1_delay_s > rx1)
                        rx1 = s->devs[i].rx1_delay_s;
                drain = rx1 + 2;
            }
            s->end_us = now + (uint64_t)(drain * 1e6);
        }
    } else if (s->end_us != 0 && now >= s->end_us && s->late_head == s->late_tail) {
        sim_stop(s);
    }
}

static void on_start(uv_timer_t *t)
{
    sim_t *s = t->data;
    s->start_us = sim_now_us(s);
    s->stop_sending_us =
        s->start_us +
        (uint64_t)((s->o.duration_s > 0 ? s->o.duration_s : s->o.max_duration_s) * 1e6);
    s->sending = true;
    uv_timer_start(&s->tick, on_tick, 1, 1);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void udp_closed(void *arg)
{
    (void)arg;
}

static void sim_stop(sim_t *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    uv_timer_stop(&s->tick);
    uv_timer_stop(&s->keepalive);
    uv_close((uv_handle_t *)&s->tick, on_closed);
    uv_close((uv_handle_t *)&s->keepalive, on_closed);
    uv_close((uv_handle_t *)&s->sigint, on_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_closed);
    for (uint32_t g = 0; g < s->o.n_gateways; g++)
        if (s->gws[g].udp != NULL)
            lw_udp_close(s->gws[g].udp, udp_closed, NULL);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    sim_stop(h->data);
}

static int resolve(const char *hostport, struct sockaddr_storage *out)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL || colon == hostport || (size_t)(colon - hostport) >= sizeof host)
        return -1;
    size_t hl = (size_t)(colon - hostport);
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL)
        return -1;
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

/* elapsed_s: the sending time (rates are per second of it). */
static json_t *summary_json(sim_t *s, double elapsed_s)
{
    sim_counts_t *c = &s->c;
    json_t *o = json_pack("{sIsIsIsfsf}", "gateways", (json_int_t)s->o.n_gateways, "devices",
                          (json_int_t)s->o.n_devices, "copies", (json_int_t)s->o.copies, "rate",
                          s->o.rate, "sending_s", elapsed_s);
    json_object_set_new(o, "uplinks",
                        json_pack("{sIsIsIsIsIsf}", "sent", (json_int_t)c->uplinks, "push_data",
                                  (json_int_t)c->push_data, "push_ack", (json_int_t)c->push_ack,
                                  "confirmed", (json_int_t)c->confirmed_sent, "confirmed_acked",
                                  (json_int_t)c->confirmed_acked, "per_s",
                                  elapsed_s > 0 ? (double)c->uplinks / elapsed_s : 0.0));
    json_object_set_new(o, "push_ack_rtt_us", sim_lat_json(&s->push_rtt));
    json_object_set_new(
        o, "joins",
        json_pack("{sIsIsIsIso}", "sent", (json_int_t)c->joins_sent, "accepted",
                  (json_int_t)c->joins_accepted, "failed", (json_int_t)c->join_failed, "timeouts",
                  (json_int_t)c->join_timeouts, "latency_us", sim_lat_json(&s->join_lat)));
    json_object_set_new(
        o, "downlinks",
        json_pack("{sIsIsIsIsIsIsIsIsIsIsIsIso}", "received", (json_int_t)c->downlinks, "rx1",
                  (json_int_t)c->dl_win[SIM_WIN_RX1], "rx2", (json_int_t)c->dl_win[SIM_WIN_RX2],
                  "immediate", (json_int_t)c->dl_win[SIM_WIN_IMMEDIATE], "scheduled",
                  (json_int_t)c->dl_win[SIM_WIN_SCHEDULED], "outside_windows",
                  (json_int_t)c->dl_win[SIM_WIN_NONE], "too_late", (json_int_t)c->dl_late,
                  "unmatched", (json_int_t)c->dl_unmatched, "failed", (json_int_t)c->dl_failed,
                  "replayed", (json_int_t)c->dl_replayed, "radio_mismatch",
                  (json_int_t)c->dl_radio_mismatch, "tx_ack", (json_int_t)c->tx_ack, "lead_us",
                  sim_lat_json(&s->dl_lead)));
    json_object_set_new(o, "gateway",
                        json_pack("{sIsIsIsIsIsI}", "pull_data", (json_int_t)c->pull_data,
                                  "pull_ack", (json_int_t)c->pull_ack, "stat", (json_int_t)c->stats,
                                  "malformed", (json_int_t)c->malformed, "send_failed",
                                  (json_int_t)c->send_failed, "skipped_waiting",
                                  (json_int_t)c->skipped_waiting));
    return o;
}

static void print_lat(const char *what, sim_lat_t *l, double scale, const char *unit)
{
    if (l->count == 0) {
        printf("  %-22s -\n", what);
        return;
    }
    printf("  %-22s p50 %.1f %s, p99 %.1f %s, min %.1f, max %.1f (%llu)\n", what,
           (double)sim_lat_pct(l, 50) / scale, unit, (double)sim_lat_pct(l, 99) / scale, unit,
           (double)l->min / scale, (double)l->max / scale, (unsigned long long)l->count);
}

static void summary_text(sim_t *s, double elapsed_s)
{
    sim_counts_t *c = &s->c;
    printf("simulate: %u gateways, %u devices, %u copies each, %.1f s of sending\n",
           s->o.n_gateways, s->o.n_devices, s->o.copies, elapsed_s);
    printf("  uplinks                %llu sent (%.1f/s), %llu PUSH_DATA, %llu PUSH_ACK\n",
           (unsigned long long)c->uplinks, elapsed_s > 0 ? (double)c->uplinks / elapsed_s : 0.0,
           (unsigned long long)c->push_data, (unsigned long long)c->push_ack);
    if (c->confirmed_sent > 0)
        printf("  confirmed              %llu sent, %llu acknowledged\n",
               (unsigned long long)c->confirmed_sent, (unsigned long long)c->confirmed_acked);
    if (c->joins_sent > 0)
        printf("  joins                  %llu sent, %llu accepted, %llu failed, %llu timed out\n",
               (unsigned long long)c->joins_sent, (unsigned long long)c->joins_accepted,
               (unsigned long long)c->join_failed, (unsigned long long)c->join_timeouts);
    printf("  downlinks              %llu: %llu RX1, %llu RX2, %llu immediate, %llu outside a "
           "window; %llu too late, %llu unmatched, %llu failed, %llu radio mismatch\n",
           (unsigned long long)c->downlinks, (unsigned long long)c->dl_win[SIM_WIN_RX1],
           (unsigned long long)c->dl_win[SIM_WIN_RX2],
           (unsigned long long)c->dl_win[SIM_WIN_IMMEDIATE],
           (unsigned long long)c->dl_win[SIM_WIN_NONE], (unsigned long long)c->dl_late,
           (unsigned long long)c->dl_unmatched, (unsigned long long)c->dl_failed,
           (unsigned long long)c->dl_radio_mismatch);
    print_lat("PUSH_ACK round trip", &s->push_rtt, 1000, "ms");
    print_lat("join-accept latency", &s->join_lat, 1000, "ms");
    print_lat("downlink lead time", &s->dl_lead, 1000, "ms");
    printf("  gateways               %llu PULL_DATA, %llu PULL_ACK, %llu stat, %llu TX_ACK; %llu "
           "malformed, %llu send failures\n",
           (unsigned long long)c->pull_data, (unsigned long long)c->pull_ack,
           (unsigned long long)c->stats, (unsigned long long)c->tx_ack,
           (unsigned long long)c->malformed, (unsigned long long)c->send_failed);
}

static int load_keys_file(sim_t *s, uint8_t dr)
{
    FILE *f = fopen(s->o.keys_file, "r");
    if (f == NULL) {
        fprintf(stderr, "simulate: --keys-file %s: %s\n", s->o.keys_file, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    uint32_t n = 0, lineno = 0;
    int rc = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        s->devs = lw_realloc(s->devs, (size_t)(n + 1) * sizeof s->devs[0]);
        sim_dev_t *d = &s->devs[n];
        memset(d, 0, sizeof *d);
        d->version = s->o.fleet.version;
        d->dev_nonce = s->o.fleet.dev_nonce_start;
        d->f_cnt_up = s->o.fleet.f_cnt_start;
        sim_dev_session_defaults(d, s->o.rx1_delay_s, s->radio.rx2_band.freq_hz,
                                 s->radio.rx2_band.dr);
        d->dr = dr;
        char err[160];
        if (sim_fleet_parse_line(line, d, err, sizeof err) != 0) {
            fprintf(stderr, "simulate: %s:%u: %s\n", s->o.keys_file, lineno, err);
            rc = -1;
            break;
        }
        n++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && n == 0) {
        fprintf(stderr, "simulate: %s: no devices\n", s->o.keys_file);
        rc = -1;
    }
    s->o.n_devices = n;
    return rc;
}

static int write_keys(sim_t *s)
{
    FILE *f = fopen(s->o.keys_out, "w");
    if (f == NULL) {
        fprintf(stderr, "simulate: --keys-out %s: %s\n", s->o.keys_out, strerror(errno));
        return -1;
    }
    for (uint32_t i = 0; i < s->o.n_devices; i++) {
        json_t *line = sim_fleet_line(&s->devs[i]);
        char *txt = json_dumps(line, JSON_COMPACT);
        fprintf(f, "%s\n", txt);
        free(txt);
        json_decref(line);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t p = 1024;
    while (p < n && p < (1u << 24))
        p <<= 1;
    return p;
}

int lw_simulate_main(lw_config_t *cfg, int argc, char **argv)
{
    (void)cfg;
    sim_t *s = lw_calloc(1, sizeof *s);
    int rc = parse_opts(&s->o, argc, argv);
    if (rc != 0) {
        free(s);
        return rc < 0 ? 0 : rc;
    }
    rc = 1;
    s->loop = lw_malloc(sizeof *s->loop);
    uv_loop_init(s->loop);
    s->t0_ns = uv_hrtime();
    s->t0_wall_us = (uint64_t)(wall_ns() / 1000);
    if (sim_radio_init(&s->radio, s->o.frequency_plan_id, sim_phy_rev(s->o.fleet.version)) != 0) {
        fprintf(stderr, "simulate: frequency plan %s has no usable uplink channels\n",
                s->o.frequency_plan_id);
        goto out;
    }
    uint8_t dr = s->o.dr >= 0 ? (uint8_t)s->o.dr : sim_radio_default_dr(&s->radio);
    uint8_t sf;
    uint16_t bw;
    if (sim_radio_dr_lora(&s->radio, dr, true, &sf, &bw) != 0) {
        fprintf(stderr, "simulate: --dr %u is no LoRa uplink data rate of %s\n", dr,
                s->o.frequency_plan_id);
        rc = SIM_EXIT_USAGE;
        goto out;
    }

    /* The fleet. */
    if (s->o.keys_file != NULL) {
        if (load_keys_file(s, dr) != 0)
            goto out;
    } else {
        s->devs = lw_calloc(s->o.n_devices, sizeof s->devs[0]);
        for (uint32_t i = 0; i < s->o.n_devices; i++)
            sim_fleet_device(&s->o.fleet, i, &s->devs[i]);
    }
    /* A keys file's devices got these before their line (which may say otherwise). */
    for (uint32_t i = 0; s->o.keys_file == NULL && i < s->o.n_devices; i++) {
        sim_dev_session_defaults(&s->devs[i], s->o.rx1_delay_s, s->radio.rx2_band.freq_hz,
                                 s->radio.rx2_band.dr);
        s->devs[i].dr = dr;
    }
    s->gws = lw_calloc(s->o.n_gateways, sizeof s->gws[0]);
    for (uint32_t g = 0; g < s->o.n_gateways; g++) {
        sim_gw_t *gw = &s->gws[g];
        gw->s = s;
        gw->index = g;
        gw->eui = sim_fleet_gateway_eui(&s->o.fleet, g);
        gw->tmst_offset = (uint32_t)(gw->eui * 2654435761u) ^ 0x5a5a5a5au;
        gw->token = (uint16_t)(gw->eui * 40503u);
    }

    if (s->o.keys_out != NULL && write_keys(s) != 0)
        goto out;
    if ((s->o.api != NULL || s->o.provision_json) && sim_provision(s) != 0)
        goto out;
    if (s->o.provision_only) {
        rc = 0;
        goto out;
    }

    if (resolve(s->o.udp, &s->server) != 0) {
        fprintf(stderr, "simulate: --udp %s: not a reachable HOST:PORT\n", s->o.udp);
        rc = SIM_EXIT_USAGE;
        goto out;
    }
    /* Uplinks in flight: room for the last ~20 s at the rate, for the RX2 of RxDelay 15. */
    s->rec_cap = pow2_at_least((uint64_t)(s->o.rate * 20) + 1024);
    s->recs = lw_calloc(s->rec_cap, sizeof s->recs[0]);
    s->by_time_keys = lw_malloc((size_t)s->rec_cap * 2 * sizeof(uint32_t));
    s->by_time_vals = lw_malloc((size_t)s->rec_cap * 2 * sizeof(uint32_t));
    sim_match_init(&s->by_time, s->by_time_keys, s->by_time_vals, s->rec_cap * 2);
    uint32_t addr_cap = pow2_at_least((uint64_t)s->o.n_devices * 2);
    s->by_addr_keys = lw_malloc((size_t)addr_cap * sizeof(uint32_t));
    s->by_addr_vals = lw_malloc((size_t)addr_cap * sizeof(uint32_t));
    sim_match_init(&s->by_addr, s->by_addr_keys, s->by_addr_vals, addr_cap);
    for (uint32_t i = 0; i < s->o.n_devices; i++)
        if (s->devs[i].active)
            (void)sim_match_put(&s->by_addr, s->devs[i].dev_addr, i);
    s->dev_ups = lw_calloc(s->o.n_devices, sizeof s->dev_ups[0]);
    s->join_sent_us = lw_calloc(s->o.n_devices, sizeof s->join_sent_us[0]);
    s->joined_us = lw_calloc(s->o.n_devices, sizeof s->joined_us[0]);
    s->late_cap = s->o.late_copy_ms > 0
                      ? pow2_at_least((uint64_t)(s->o.rate * s->o.late_copy_ms / 1000.0 * 2) + 64)
                      : 1;
    s->late = lw_malloc((size_t)s->late_cap * sizeof s->late[0]);

    if (s->o.events_path != NULL) {
        s->events = strcmp(s->o.events_path, "-") == 0 ? stdout : fopen(s->o.events_path, "w");
        if (s->events == NULL) {
            fprintf(stderr, "simulate: --events %s: %s\n", s->o.events_path, strerror(errno));
            goto out;
        }
        setvbuf(s->events, NULL, _IOLBF, 0);
    }

    uv_timer_init(s->loop, &s->tick);
    uv_timer_init(s->loop, &s->keepalive);
    s->tick.data = s->keepalive.data = s;
    uv_signal_init(s->loop, &s->sigint);
    uv_signal_init(s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    const char *bind = s->server.ss_family == AF_INET6 ? "[::]:0" : "0.0.0.0:0";
    for (uint32_t g = 0; g < s->o.n_gateways; g++) {
        lw_udp_opts_t uo = {.addr = bind,
                            .recv_buf = 4096,
                            .send_queue_count = 8192,
                            .send_queue_bytes = 8u << 20,
                            .peers_max = 4};
        lw_err_t err;
        lw_err_clear(&err);
        s->gws[g].udp = lw_udp_new(s->loop, &uo, on_datagram, &s->gws[g], &err);
        if (s->gws[g].udp == NULL) {
            fprintf(stderr, "simulate: gateway socket: %s\n", err.message);
            s->o.n_gateways = g;
            sim_stop(s);
            uv_run(s->loop, UV_RUN_DEFAULT);
            goto out;
        }
    }

    /* PULL_DATA first, so that the Gateway Server has every downlink path, and a stat; the
     * traffic starts once the PULL_ACKs had time to come back. */
    for (uint32_t g = 0; g < s->o.n_gateways; g++) {
        gw_pull(s, &s->gws[g]);
        if (s->o.stat_interval_s > 0)
            gw_stat(s, &s->gws[g]);
    }
    uint64_t ka = (uint64_t)(s->o.keepalive_s * 1000);
    uv_timer_start(&s->keepalive, on_keepalive, ka, ka);
    uv_timer_start(&s->tick, on_start, 300, 0);
    uv_run(s->loop, UV_RUN_DEFAULT);

    uint64_t end = s->send_end_us != 0 ? s->send_end_us : sim_now_us(s);
    double elapsed = s->start_us == 0 ? 0 : (double)(end - s->start_us) / 1e6;
    if (s->o.json) {
        json_t *j = summary_json(s, elapsed);
        char *txt = json_dumps(j, JSON_COMPACT);
        printf("%s\n", txt);
        free(txt);
        json_decref(j);
    } else {
        summary_text(s, elapsed);
    }
    fflush(stdout);
    /* The keys file again, with each device's state at the end (counters, RX settings, MAC
     * answers still due): --keys-file continues from there, as a device does after a pause. */
    rc = s->o.keys_out != NULL && write_keys(s) != 0 ? 1 : 0;
out:
    if (s->gws != NULL)
        for (uint32_t g = 0; g < s->o.n_gateways; g++)
            lw_udp_free(s->gws[g].udp);
    uv_loop_close(s->loop);
    free(s->loop);
    if (s->events != NULL && s->events != stdout)
        fclose(s->events);
    /* Keys leave memory with the fleet. */
    if (s->devs != NULL)
        memset(s->devs, 0, (size_t)s->o.n_devices * sizeof s->devs[0]);
    free(s->devs);
    free(s->gws);
    free(s->recs);
    free(s->by_time_keys);
    free(s->by_time_vals);
    free(s->by_addr_keys);
    free(s->by_addr_vals);
    free(s->dev_ups);
    free(s->join_sent_us);
    free(s->joined_us);
    free(s->late);
    sim_lat_free(&s->push_rtt);
    sim_lat_free(&s->join_lat);
    sim_lat_free(&s->dl_lead);
    free(s);
    return rc;
}
