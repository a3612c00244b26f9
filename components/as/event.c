/* AS events on lw.events, in The Things Stack's event shape (cluster/event.h), and the
 * envelope of the AS's other bus messages. */
#include <string.h>

#include "as/as_private.h"
#include "cluster/event.h"
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
    lw_event_t e = {
        .module = "as",
        .tenant = tenant,
        .name = name,
        .identifiers = app != NULL && dev != NULL ? lw_event_device_ids(app, dev) : NULL,
        .data = data,
        .correlation_id = correlation_id,
        /* The Things Stack's definitions: the registry's events need DEVICES_READ. */
        .visibility = strncmp(name, "as.end_device.", 14) == 0 ? "RIGHT_APPLICATION_DEVICES_READ"
                                                               : "RIGHT_APPLICATION_TRAFFIC_READ",
    };
    lw_event_publish(as->bus, &e);
}
