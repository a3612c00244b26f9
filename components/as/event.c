/* AS events on lw.events, in The Things Stack's event shape (as components/ns/event.c), and
 * the envelope of the AS's other bus messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as/as_private.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/uid.h"

void as_envelope_new(Lw__Msg__Envelope *env, uint8_t id[LW_UID_LEN], const char *tenant)
{
    lw__msg__envelope__init(env);
    lw_uid(id);
    env->id.data = id;
    env->id.len = LW_UID_LEN;
    env->tenant_id = (char *)tenant;
    env->schema_version = LW_MSG_SCHEMA_VERSION;
}

void as_event(as_t *as, const char *tenant, const char *app, const char *dev, const char *name,
              json_t *data, const char *correlation_id)
{
    if (as->bus == NULL || tenant == NULL || tenant[0] == '\0') {
        json_decref(data);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[LW_API_TIME_LEN];
    lw_api_time_format(&ts, when);
    uint8_t raw[LW_UID_LEN];
    lw_uid(raw);
    char uid[2 * LW_UID_LEN + 1];
    lw_hex_encode(raw, sizeof raw, uid);
    json_t *ids = json_array();
    if (app != NULL && dev != NULL)
        json_array_append_new(ids, json_pack("{s{ss s{ss}}}", "device_ids", "device_id", dev,
                                             "application_ids", "application_id", app));
    json_t *ev = json_pack("{ss ss so s{ss} ss}", "name", name, "time", when, "identifiers", ids,
                           "context", "tenant-id", tenant, "unique_id", uid);
    if (ev == NULL) {
        json_decref(data);
        return;
    }
    if (data != NULL)
        json_object_set_new(ev, "data", data);
    json_t *cids = json_array();
    if (correlation_id != NULL)
        json_array_append_new(cids, json_string(correlation_id));
    json_object_set_new(ev, "correlation_ids", cids);
    json_object_set_new(ev, "visibility",
                        json_pack("{s[s]}", "rights", "RIGHT_APPLICATION_TRAFFIC_READ"));
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    lw_err_t e;
    lw_err_clear(&e);
    if (text == NULL ||
        lw_bus_publish(as->bus, "events", tenant, strlen(tenant), text, strlen(text), &e) != 0)
        lw_log(LW_LOG_WARN, "as", "event not published", "tenant", tenant, "event", name, "error",
               e.message, NULL);
    free(text);
}
