/* Events on lw.events (The Things Stack's shape), metrics, and publishing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/uid.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "ns/ns_private.h"

_Static_assert(LW_MSG_ID_LEN == LW_UID_LEN, "a message id is a cluster uid");

void ns_random_id(uint8_t id[LW_MSG_ID_LEN])
{
    lw_uid(id);
}

int ns_publish(ns_t *ns, const char *topic, const char *key, const uint8_t *buf, size_t len)
{
    lw_err_t e;
    lw_err_clear(&e);
    if (ns->bus == NULL || lw_bus_publish(ns->bus, topic, key, strlen(key), buf, len, &e) != 0) {
        lw_log(LW_LOG_WARN, "ns", "not published", "topic", topic, "error", e.message, NULL);
        ns_count_drop(ns, "publish_failed");
        return -1;
    }
    return 0;
}

void ns_event(ns_t *ns, const char *tenant, const char *app, const char *dev, const char *name,
              json_t *data, const char *correlation_id)
{
    if (tenant == NULL || tenant[0] == '\0') {
        json_decref(data);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[LW_API_TIME_LEN];
    lw_api_time_format(&ts, when);
    uint8_t raw[LW_MSG_ID_LEN];
    ns_random_id(raw);
    char uid[2 * LW_MSG_ID_LEN + 1];
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
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (text != NULL)
        ns_publish(ns, "events", tenant, (const uint8_t *)text, strlen(text));
    free(text);
}

void ns_count(ns_t *ns, lw_metric_t *m, const char *label)
{
    (void)ns;
    const char *v[2] = {label, NULL};
    lw_metric_add(m, v, 1);
}

void ns_count_drop(ns_t *ns, const char *reason)
{
    ns_count(ns, ns->m_drop, reason);
}
