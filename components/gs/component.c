/* The Gateway Server component: configuration, lifecycle, metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cluster/log.h"
#include "cluster/mem.h"

#include "gs/bs_private.h"
#include "gs/core_private.h"

static const lw_cfg_opt_t gs_config[] = {
    {.key = "gs.udp.listen",
     .type = LW_CFG_STRING,
     .def = ":1700",
     .help = "Semtech UDP packet forwarder address (host:port; empty: no UDP front-end)."},
    /* The Things Stack's gs.udp.* defaults. */
    {.key = "gs.udp.connection-expires",
     .type = LW_CFG_DURATION,
     .def = "1m",
     .min = 1000,
     .max = 86400000,
     .help = "A UDP gateway that sent nothing for this long is disconnected."},
    {.key = "gs.udp.downlink-path-expires",
     .type = LW_CFG_DURATION,
     .def = "15s",
     .min = 1000,
     .max = 86400000,
     .help = "The downlink path (the address of the latest PULL_DATA) is forgotten after this "
             "long without a PULL_DATA: downlinks are refused with no_downlink_path."},
    {.key = "gs.udp.schedule-late-time",
     .type = LW_CFG_DURATION,
     .def = "800ms",
     .min = 0,
     .max = 10000,
     .help = "For gateways with schedule_downlink_late: hand a downlink over this long before "
             "its transmission time."},
    {.key = "gs.udp.socket-receive-buffer",
     .type = LW_CFG_INT,
     .def = "4194304",
     .min = 0,
     .max = 1073741824,
     .help = "SO_RCVBUF of the UDP socket in bytes (0: the system's). Datagrams that arrive "
             "while the loop is busy wait here; the kernel caps it at net.core.rmem_max."},
    {.key = "gs.udp.addr-change-block",
     .type = LW_CFG_DURATION,
     .def = "1m",
     .min = 0,
     .max = 86400000,
     .help = "Datagrams of a connected UDP gateway from another address are dropped for this "
             "long after its last datagram (spoofing; 0: follow every address change)."},
    {.key = "gs.registry-cache-ttl",
     .type = LW_CFG_DURATION,
     .def = "1m",
     .min = 0,
     .max = 86400000,
     .help = "How long a gateway EUI lookup (found or not) is cached; gateway.* events and "
             "tenant changes drop entries at once (0: no cache)."},
    {.key = "gs.registry-cache-size",
     .type = LW_CFG_INT,
     .def = "100000",
     .min = 1,
     .max = 10000000,
     .help = "Gateway EUI lookups cached at most."},
    {.key = "gs.max-gateways",
     .type = LW_CFG_INT,
     .def = "100000",
     .min = 1,
     .max = 10000000,
     .help = "Gateways connected to this process at most (over it: refused, counted)."},
    {.key = "gs.tx-ack-timeout",
     .type = LW_CFG_DURATION,
     .def = "5s",
     .min = 100,
     .max = 600000,
     .help = "A downlink handed to a gateway that acknowledges transmissions (Semtech v2, "
             "Basics Station) and not acknowledged within this (counted from its transmission "
             "time when that is later: a Basics Station acknowledges when the TX starts) is "
             "answered tx_ack_timeout."},
    {.key = "gs.default-frequency-plan",
     .type = LW_CFG_STRING,
     .def = "EU_863_870_TTN",
     .help = "Frequency plan of a gateway whose registry entry names none."},
    {.key = "gs.rate-limit.uplinks-per-gateway",
     .type = LW_CFG_STRING,
     .def = "100/1s burst 200",
     .check = lw_rate_check,
     .help = "Uplinks accepted per gateway (over it: dropped, counted as rate_limited). 0: no "
             "limit."},
    {.key = "gs.events.uplinks",
     .type = LW_CFG_BOOL,
     .def = "true",
     .help = "Publish a gs.up.receive event per uplink (one bus message per gateway copy)."},
    {.key = "gs.events.uplinks-per-gateway",
     .type = LW_CFG_STRING,
     .def = "10/1s",
     .check = lw_rate_check,
     .help = "gs.up.receive events per gateway at most (the uplinks beyond it are published, "
             "only their event is not: a live view does not need 200 a second, and the event "
             "bus is not the data path). 0: every uplink."},
    {.key = "gs.downlink.answer-not-connected",
     .type = LW_CFG_BOOL,
     .def = "true",
     .help = "Answer a downlink for a gateway this process does not hold with "
             "gateway_not_connected. Turn off when several GS processes run: each sees every "
             "downlink and the one holding the gateway answers."},
};

static int gs_config_register(lw_config_t *cfg)
{
    if (lw_config_register(cfg, "gs", gs_config, sizeof gs_config / sizeof gs_config[0]) != 0)
        return -1;
    return gs_bs_config_register(cfg);
}

static void gs_free(void *state)
{
    gs_t *gs = state;
    if (gs == NULL)
        return;
    gs_bs_free(gs->bs);
    gs_udp_free(gs);
    gs_registry_free(gs);
    lw_ratelimit_free(gs->up_limit);
    lw_ratelimit_free(gs->event_limit);
    free(gs->ups);
    free(gs);
}

static void deliver_closed(uv_handle_t *h)
{
    free(h);
}

static int gs_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the gateway server needs the tenant module");
    lw_config_t *cfg = lw_rt_config(rt);
    gs_t *gs = lw_calloc(1, sizeof *gs);
    gs->rt = rt;
    gs->loop = lw_rt_loop(rt);
    gs->bus = lw_rt_bus(rt);
    gs->db = lw_rt_db(rt);
    gs->tn = tn;
    gs->metrics = lw_rt_metrics(rt);
    const char *listen = lw_config_str(cfg, "gs.udp.listen");
    snprintf(gs->udp_listen, sizeof gs->udp_listen, "%s", listen != NULL ? listen : "");
    gs->timeouts.connection_expiry_ms =
        (uint64_t)lw_config_duration_ms(cfg, "gs.udp.connection-expires");
    gs->timeouts.downlink_path_expiry_ms =
        (uint64_t)lw_config_duration_ms(cfg, "gs.udp.downlink-path-expires");
    gs->timeouts.schedule_late_ms =
        (uint64_t)lw_config_duration_ms(cfg, "gs.udp.schedule-late-time");
    gs->addr_change_block_ms = (uint64_t)lw_config_duration_ms(cfg, "gs.udp.addr-change-block");
    gs->udp_rcvbuf = (int)lw_config_int(cfg, "gs.udp.socket-receive-buffer");
    gs->registry_ttl_ms = (uint64_t)lw_config_duration_ms(cfg, "gs.registry-cache-ttl");
    gs->registry_max = (size_t)lw_config_int(cfg, "gs.registry-cache-size");
    gs->gateways_max = (size_t)lw_config_int(cfg, "gs.max-gateways");
    gs->tx_ack_timeout_ms = (uint64_t)lw_config_duration_ms(cfg, "gs.tx-ack-timeout");
    const char *fp = lw_config_str(cfg, "gs.default-frequency-plan");
    snprintf(gs->default_freq_plan, sizeof gs->default_freq_plan, "%s", fp != NULL ? fp : "");
    gs->events_uplinks = lw_config_bool(cfg, "gs.events.uplinks");
    gs->answer_not_connected = lw_config_bool(cfg, "gs.downlink.answer-not-connected");
    lw_rate_t rate;
    char why[128];
    if (lw_rate_parse(lw_config_str(cfg, "gs.rate-limit.uplinks-per-gateway"), &rate, why,
                      sizeof why) != 0) {
        free(gs);
        return lw_err_set(err, &lw_err_config_invalid, "gs.rate-limit.uplinks-per-gateway: %s",
                          why);
    }
    uint64_t seed;
    RAND_bytes((uint8_t *)&seed, sizeof seed);
    gs->up_limit = lw_ratelimit_new(&rate, gs->gateways_max, seed);
    if (lw_rate_parse(lw_config_str(cfg, "gs.events.uplinks-per-gateway"), &rate, why,
                      sizeof why) != 0) {
        lw_ratelimit_free(gs->up_limit);
        free(gs);
        return lw_err_set(err, &lw_err_config_invalid, "gs.events.uplinks-per-gateway: %s", why);
    }
    gs->event_limit = lw_ratelimit_new(&rate, gs->gateways_max, seed ^ 0x5bd1e995u);
    for (size_t i = 0; i < GS_UP_BUCKETS; i++)
        gs->up_buckets[i] = -1;

    lw_metrics_t *m = gs->metrics;
    gs->m_up = lw_metrics_counter(m, "lwstack_gs_uplinks_total",
                                  "Uplinks published on lw.gs.up, per protocol.",
                                  (const char *const[]){"protocol", NULL});
    gs->m_drop = lw_metrics_counter(m, "lwstack_gs_dropped_total",
                                    "Datagrams, messages and uplinks dropped, per protocol and "
                                    "reason.",
                                    (const char *const[]){"protocol", "reason", NULL});
    gs->m_down = lw_metrics_counter(m, "lwstack_gs_downlinks_total",
                                    "Downlinks handed to front-ends, per protocol and result.",
                                    (const char *const[]){"protocol", "result", NULL});
    gs->m_txack = lw_metrics_counter(m, "lwstack_gs_txacks_total",
                                     "Answers published on lw.gs.txack, per result.",
                                     (const char *const[]){"result", NULL});
    gs->m_connect =
        lw_metrics_counter(m, "lwstack_gs_connections_total", "Gateway connections, per protocol.",
                           (const char *const[]){"protocol", NULL});
    gs->m_connected = lw_metrics_gauge(m, "lwstack_gs_gateways_connected",
                                       "Gateways connected now, per protocol.",
                                       (const char *const[]){"protocol", NULL});
    gs->m_lookup = lw_metrics_counter(m, "lwstack_gs_registry_lookups_total",
                                      "Gateway EUI lookups in the registry, per result.",
                                      (const char *const[]){"result", NULL});
    gs->deliver = lw_calloc(1, sizeof *gs->deliver);
    uv_timer_init(gs->loop, gs->deliver);
    gs->deliver->data = gs;
    gs->up_check = lw_calloc(1, sizeof *gs->up_check);
    uv_check_init(gs->loop, gs->up_check);
    gs->up_check->data = gs;
    if (tn_changes_subscribe(tn, gs_tenant_changed, gs, err) != 0 || gs_api_routes(gs, err) != 0 ||
        (gs->bs = gs_bs_new(gs, err)) == NULL) {
        uv_close((uv_handle_t *)gs->deliver, deliver_closed);
        gs->deliver = NULL;
        uv_close((uv_handle_t *)gs->up_check, deliver_closed);
        gs->up_check = NULL;
        gs_free(gs);
        return -1;
    }
    *state = gs;
    return 0;
}

static int gs_start(void *state, lw_err_t *err)
{
    gs_t *gs = state;
    if (gs_registry_start(gs, err) != 0 || gs_down_start(gs, err) != 0)
        return -1;
    if (gs->udp_listen[0] != '\0' && gs_udp_start(gs, err) != 0)
        return -1;
    if (gs_bs_start(gs->bs, err) != 0)
        return -1;
    gs->started = true;
    lw_log(LW_LOG_INFO, "gs", "gateway server started", "udp", gs->udp_listen, NULL);
    return 0;
}

typedef struct stop_ctx {
    gs_t *gs;
    void (*done)(void *arg);
    void *arg;
} stop_ctx_t;

static void bs_stopped(void *arg)
{
    stop_ctx_t *s = arg;
    gs_t *gs = s->gs;
    /* Now, not in gs_free: the runtime closes every handle left on the loop before it frees
     * the components, h2o's timers of the front-end's listeners included. */
    gs_bs_free(gs->bs);
    gs->bs = NULL;
    /* Connections of other front-ends the core still holds. */
    while (gs->gateways != NULL)
        gs_gw_close(gs->gateways, "stopping");
    gs_up_flush(gs);
    if (gs->up_check != NULL) {
        uv_close((uv_handle_t *)gs->up_check, deliver_closed);
        gs->up_check = NULL;
    }
    if (gs->deliver != NULL) {
        uv_close((uv_handle_t *)gs->deliver, deliver_closed);
        gs->deliver = NULL;
    }
    void (*done)(void *) = s->done;
    void *done_arg = s->arg;
    free(s);
    done(done_arg);
}

static void udp_stopped(void *arg)
{
    stop_ctx_t *s = arg;
    gs_bs_stop(s->gs->bs, bs_stopped, s);
}

static void gs_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    gs_t *gs = state;
    gs->stopping = true;
    stop_ctx_t *s = lw_calloc(1, sizeof *s);
    s->gs = gs;
    s->done = done;
    s->arg = done_arg;
    gs_udp_stop(gs, udp_stopped, s);
}

const lw_component_t gs_component = {
    .name = "gs",
    .help = "Gateway Server: Semtech UDP (and LoRa Basics Station) gateways, uplinks to "
            "lw.gs.up, downlinks from lw.gs.down, TX results to lw.gs.txack",
    .config_register = gs_config_register,
    .init = gs_init,
    .start = gs_start,
    .stop = gs_stop,
    .free = gs_free,
};
