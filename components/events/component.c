/* The events server component: configuration, lifecycle, routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "events/events.h"
#include "events/events_private.h"

static const lw_cfg_opt_t events_config[] = {
    {.key = "events.enabled",
     .type = LW_CFG_BOOL,
     .def = "true",
     .help = "Serve POST /api/v3/events and the Console's events WebSocket in this process, "
             "reading every event of lw.events (a broadcast). Off: a process nobody streams "
             "events from (a data path only process) reads none."},
    {.key = "events.history-count",
     .type = LW_CFG_INT,
     .def = "1000",
     .min = 0,
     .max = 1000000,
     .help = "Events kept per tenant, in memory, for `tail` and `after` of POST /api/v3/events "
             "and the Console's subscriptions (0: none, live only). Each process keeps what it "
             "read of lw.events since it started."},
    {.key = "events.history-ttl",
     .type = LW_CFG_DURATION,
     .def = "10m",
     .min = 1000,
     .max = 7 * 24 * 3600 * 1000LL,
     .help = "Age beyond which a kept event is dropped (The Things Stack's events store keeps "
             "10 minutes by default)."},
    {.key = "events.heartbeat-interval",
     .type = LW_CFG_DURATION,
     .def = "15s",
     .min = 100,
     .max = 3600 * 1000LL,
     .help = "How often an open event stream gets a blank line, and a Console WebSocket a ping: "
             "keeps proxies from closing them and finds clients that left."},
    {.key = "events.max-subscriptions",
     .type = LW_CFG_INT,
     .def = "1000",
     .min = 1,
     .max = 1000000,
     .help = "Event streams and Console subscriptions open at once per tenant in one process; "
             "beyond: too_many_subscriptions (429)."},
    {.key = "events.stream-max-queued-bytes",
     .type = LW_CFG_INT,
     .def = "1048576",
     .min = 4096,
     .max = 1LL << 30,
     .help = "Bytes an event stream may have waiting for a slow client; beyond, the stream is "
             "dropped (counted in lwstack_events_dropped_total{reason=\"slow_reader\"})."},
};

static int events_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "events", events_config,
                              sizeof events_config / sizeof events_config[0]);
}

static void events_free(void *state)
{
    ev_t *ev = state;
    if (ev == NULL)
        return;
    ev_hub_free(ev);
    free(ev);
}

static int events_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the events server needs the tenant module");
    ev_t *ev = lw_calloc(1, sizeof *ev);
    lw_config_t *cfg = lw_rt_config(rt);
    ev->rt = rt;
    ev->loop = lw_rt_loop(rt);
    ev->bus = lw_rt_bus(rt);
    ev->tn = tn;
    ev->access = tn_access_from_runtime(rt);
    ev->history_count = (size_t)lw_config_int(cfg, "events.history-count");
    ev->history_ttl_ms = lw_config_duration_ms(cfg, "events.history-ttl");
    ev->heartbeat_ms = lw_config_duration_ms(cfg, "events.heartbeat-interval");
    ev->max_subs = (size_t)lw_config_int(cfg, "events.max-subscriptions");
    ev->stream_max_queued = (size_t)lw_config_int(cfg, "events.stream-max-queued-bytes");
    if (gethostname(ev->origin, sizeof ev->origin) != 0)
        snprintf(ev->origin, sizeof ev->origin, "lwstack");
    ev->origin[sizeof ev->origin - 1] = '\0';
    lw_metrics_t *m = lw_rt_metrics(rt);
    ev->m_events =
        lw_metrics_counter(m, "lwstack_events_read_total",
                           "Events read from lw.events by this process's events server.", NULL);
    ev->s_events = lw_metric_series(ev->m_events, (const char *const[]){NULL});
    ev->m_delivered =
        lw_metrics_counter(m, "lwstack_events_delivered_total",
                           "Events sent to event streams and Console subscriptions.", NULL);
    static const char *const reason[] = {"reason", NULL};
    ev->m_dropped = lw_metrics_counter(m, "lwstack_events_dropped_total",
                                       "Event streams and Console WebSockets ended by the server, "
                                       "by reason (slow_reader, rights_revoked).",
                                       reason);
    ev->enabled = lw_config_bool(cfg, "events.enabled");
    if (ev->enabled && (ev_stream_routes(ev) != 0 || ev_ws_routes(ev) != 0)) {
        events_free(ev);
        return lw_err_set(err, &lw_err_internal, "cannot register the events server's routes");
    }
    *state = ev;
    return 0;
}

static int events_start(void *state, lw_err_t *err)
{
    ev_t *ev = state;
    return ev->enabled ? ev_hub_start(ev, err) : 0;
}

static void events_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    ev_t *ev = state;
    ev_stream_stop(ev);
    ev_ws_stop(ev);
    ev_hub_stop(ev);
    done(done_arg);
}

const lw_component_t events_component = {
    .name = "events",
    .help = "Events server: POST /api/v3/events and the Console's events WebSocket",
    .config_register = events_config_register,
    .init = events_init,
    .start = events_start,
    .stop = events_stop,
    .free = events_free,
};
