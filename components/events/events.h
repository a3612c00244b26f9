/* The events server ("events"): every component's events on lw.events (The Things Stack's
 * event JSON) served per tenant by POST /api/v3/events (a stream of {"result": event} lines)
 * and by the Console's WebSocket at /api/v3/console/internal/events/, to callers with rights
 * on the entities. Runs in every process that serves the API (main_start adds it, like the
 * tenant registry). */
#ifndef EVENTS_EVENTS_H
#define EVENTS_EVENTS_H

#include "cluster/runtime.h"

extern const lw_component_t events_component;

#endif
