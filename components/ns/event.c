/* Events on lw.events (The Things Stack's shape), metrics, and publishing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/event.h"
#include "cluster/uid.h"
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
    lw_event_t e = {
        .module = "ns",
        .tenant = tenant,
        .name = name,
        .identifiers = app != NULL && dev != NULL ? lw_event_device_ids(app, dev) : NULL,
        .data = data,
        .correlation_id = correlation_id,
    };
    if (lw_event_publish(ns->bus, &e) != 0)
        ns_count_drop(ns, "publish_failed");
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
