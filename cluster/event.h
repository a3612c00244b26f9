/* Events on lw.events in The Things Stack's event JSON, built in one place for every
 * component (gs, ns, js, is, as):
 *
 *   {"name", "time" (RFC 3339 UTC, now), "identifiers": [EntityIdentifiers...], "data"?,
 *    "correlation_ids": [...], "context": {"tenant-id"}, "visibility"?: {"rights": [...]},
 *    "unique_id"}
 *
 * keyed by the tenant, so that the events server (components/events/) reads them per tenant
 * and one tenant's events stay in order. Publishing is best effort, as in The Things Stack:
 * a failure is logged (module, tenant, event name), never returned to the request or message
 * that caused it. */
#ifndef LW_EVENT_H
#define LW_EVENT_H

#include <jansson.h>

#include "cluster/bus.h"

typedef struct lw_event {
    const char *module;         /* for the log line when not published: "ns" */
    const char *tenant;         /* the bus key and context["tenant-id"]; NULL or "": dropped */
    const char *name;           /* "as.up.data.forward" */
    json_t *identifiers;        /* an array of EntityIdentifiers (taken); NULL: [] */
    json_t *data;               /* taken; NULL: no data */
    const char *correlation_id; /* NULL: [] */
    const char *visibility;     /* a right ("RIGHT_APPLICATION_TRAFFIC_READ"); NULL: none */
    const char *unique_id;      /* NULL: 32 random hex digits */
} lw_event_t;

/* Builds the event and publishes it on lw.events. Takes identifiers and data whatever
 * happens. Returns 0 when queued, -1 when not (bus or tenant missing: silently; the bus
 * refused: logged), for a caller that counts its drops. */
int lw_event_publish(lw_bus_t *bus, const lw_event_t *ev);

/* [{"device_ids": {"device_id", "application_ids": {"application_id"}}}], new reference. */
json_t *lw_event_device_ids(const char *application_id, const char *device_id);

#endif
