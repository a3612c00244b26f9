/* The node runtime: one libuv loop, the shared services (configuration, PostgreSQL pool,
 * Kafka bus, HTTP server, metrics) and the components registered on it, each with a
 * lifecycle: init (allocate, register routes and config reads), start (open listeners,
 * subscribe), stop (flush, close; calls done when finished).
 *
 * SIGINT/SIGTERM stop every component in reverse order, then the HTTP server, the bus
 * (producer queue flushed) and the pool, and the loop ends; lw_rt_run returns 0. A second
 * signal, or 5 s without finishing, forces exit. */
#ifndef LW_RUNTIME_H
#define LW_RUNTIME_H

#include <stdbool.h>

#include <uv.h>

#include "cluster/bus.h"
#include "cluster/config.h"
#include "cluster/db.h"
#include "cluster/err.h"
#include "cluster/http.h"
#include "cluster/metrics.h"
#include "cluster/work.h"

typedef struct lw_rt lw_rt_t;

typedef struct lw_component {
    const char *name; /* "is", "gs", "tenant", ... as named on `lwstack start` */
    const char *help;
    /* Registers the component's configuration table (optional). */
    int (*config_register)(lw_config_t *cfg);
    /* Creates the component's state in *state; may register HTTP routes. */
    int (*init)(lw_rt_t *rt, void **state, lw_err_t *err);
    int (*start)(void *state, lw_err_t *err);
    /* Stops; calls done(done_arg) when everything is flushed and closed (maybe at once). */
    void (*stop)(void *state, void (*done)(void *arg), void *done_arg);
    void (*free)(void *state);
    /* Ready to serve (optional; absent: ready once started). /readyz answers 200 only
     * while PostgreSQL, the bus and every started component are ready. */
    bool (*ready)(const void *state);
} lw_component_t;

/* Registers the runtime's own configuration (log.*, db.*, http.*, bus.*). */
int lw_rt_config_register(lw_config_t *cfg);

/* Creates the runtime from a loaded configuration (cfg is borrowed and must outlive rt). */
lw_rt_t *lw_rt_new(lw_config_t *cfg, lw_err_t *err);
void lw_rt_free(lw_rt_t *rt);

/* Adds a component to run (before lw_rt_run). */
int lw_rt_add(lw_rt_t *rt, const lw_component_t *comp, lw_err_t *err);

/* Connects the pool and the bus, inits and starts every component, serves /healthz,
 * /readyz and /metrics, and runs the loop until a signal stops it. Returns 0 after a clean
 * stop, or -1 with err when start-up failed. */
int lw_rt_run(lw_rt_t *rt, lw_err_t *err);
/* Asks the runtime to stop, as a signal would. */
void lw_rt_shutdown(lw_rt_t *rt);

uv_loop_t *lw_rt_loop(lw_rt_t *rt);
lw_config_t *lw_rt_config(lw_rt_t *rt);
lw_db_t *lw_rt_db(lw_rt_t *rt);
lw_bus_t *lw_rt_bus(lw_rt_t *rt);
lw_http_t *lw_rt_http(lw_rt_t *rt);
lw_metrics_t *lw_rt_metrics(lw_rt_t *rt);
/* The runtime's worker pool (`runtime.workers` threads, `runtime.work-queue` waiting jobs),
 * created before components init and closed after they stop (queued jobs canceled). NULL
 * before lw_rt_run. */
lw_work_pool_t *lw_rt_work(lw_rt_t *rt);

/* ---- services: what one component offers the others -------------------------------------
 *
 * A component never looks another up by name. A component whose state others use (the
 * tenant registry; next, the Network Server's session index) defines one key, a static const
 * lw_rt_key_t in its own module, publishes its state under it during init, and offers one
 * typed accessor in its public header (`tn_t *tn_from_runtime(lw_rt_t *)`, tenant.h) that
 * reads it back. Keys are compared by address: the runtime knows neither names nor types,
 * and a consumer cannot reach a service its provider's header does not offer.
 *
 * Components are initialised in the order they were added, so the composition root adds a
 * provider before its consumers; a consumer's init that finds NULL fails with a message
 * naming what it needs. Services stay published until lw_rt_free. */
typedef struct lw_rt_key {
    const char *name; /* for messages only: "tenant registry" */
} lw_rt_key_t;

/* Publishes `service` under `key` (the pointer is kept, not the object's contents). Returns
 * 0, or -1 with internal when the key is already published or the table is full. */
int lw_rt_provide(lw_rt_t *rt, const lw_rt_key_t *key, void *service, lw_err_t *err);
/* The service published under `key`, or NULL when none is (yet). */
void *lw_rt_service(lw_rt_t *rt, const lw_rt_key_t *key);

#endif
