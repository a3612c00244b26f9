/* One builder of The Things Stack's event JSON for every component (event.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/api_codec.h"
#include "cluster/event.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/uid.h"

json_t *lw_event_device_ids(const char *application_id, const char *device_id)
{
    return json_pack("[{s{ss s{ss}}}]", "device_ids", "device_id", device_id, "application_ids",
                     "application_id", application_id);
}

int lw_event_publish(lw_bus_t *bus, const lw_event_t *e)
{
    json_t *ids = e->identifiers ? e->identifiers : json_array();
    if (bus == NULL || e->tenant == NULL || e->tenant[0] == '\0' || e->name == NULL) {
        json_decref(ids);
        json_decref(e->data);
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[LW_API_TIME_LEN];
    lw_api_time_format(&ts, when);
    char unique[2 * LW_UID_LEN + 1];
    if (e->unique_id == NULL) {
        uint8_t raw[LW_UID_LEN];
        lw_uid(raw);
        lw_hex_encode(raw, sizeof raw, unique);
    }
    json_t *ev = json_pack("{ss ss so}", "name", e->name, "time", when, "identifiers", ids);
    if (ev != NULL && e->data != NULL)
        json_object_set(ev, "data", e->data);
    json_decref(e->data);
    char *text = NULL;
    if (ev != NULL) {
        json_t *cids = json_array();
        if (e->correlation_id != NULL)
            json_array_append_new(cids, json_string(e->correlation_id));
        json_object_set_new(ev, "correlation_ids", cids);
        json_object_set_new(ev, "context", json_pack("{ss}", "tenant-id", e->tenant));
        if (e->visibility != NULL)
            json_object_set_new(ev, "visibility", json_pack("{s[s]}", "rights", e->visibility));
        json_object_set_new(ev, "unique_id",
                            json_string(e->unique_id != NULL ? e->unique_id : unique));
        text = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
    }
    lw_err_t err;
    lw_err_clear(&err);
    int rc = 0;
    if (text == NULL || lw_bus_publish(bus, "events", e->tenant, strlen(e->tenant), text,
                                       strlen(text), &err) != 0) {
        lw_log(LW_LOG_WARN, e->module ? e->module : "event", "event not published", "tenant",
               e->tenant, "event", e->name, "error", text == NULL ? "cannot encode" : err.message,
               NULL);
        rc = -1;
    }
    free(text);
    return rc;
}
