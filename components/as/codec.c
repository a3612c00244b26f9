/* Names shared by the AS's JSON codecs (pure): formatter types, ApplicationUp message types. */
#include <stdlib.h>
#include <string.h>

#include "as/as_private.h"

static const char *const fmt_names[] = {
    "FORMATTER_NONE",       "FORMATTER_REPOSITORY", "FORMATTER_GRPC_SERVICE",
    "FORMATTER_JAVASCRIPT", "FORMATTER_CAYENNELPP",
};

const char *as_fmt_type_name(as_fmt_type_t t)
{
    if ((unsigned)t >= sizeof fmt_names / sizeof fmt_names[0])
        return fmt_names[0];
    return fmt_names[t];
}

int as_fmt_type_parse(const char *s, as_fmt_type_t *out)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
        if (strcmp(s, fmt_names[i]) == 0 || (s[0] == (char)('0' + i) && s[1] == '\0')) {
            *out = (as_fmt_type_t)i;
            return 0;
        }
    return -1;
}

const char *as_up_type_name(Lw__Msg__AsUpType t)
{
    switch (t) {
    case LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_MESSAGE:
        return "uplink_message";
    case LW__MSG__AS_UP_TYPE__AS_UP_JOIN_ACCEPT:
        return "join_accept";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUED:
        return "downlink_queued";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_SENT:
        return "downlink_sent";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_ACK:
        return "downlink_ack";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_NACK:
        return "downlink_nack";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_FAILED:
        return "downlink_failed";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUE_INVALIDATED:
        return "downlink_queue_invalidated";
    case LW__MSG__AS_UP_TYPE__AS_UP_SERVICE_DATA:
        return "service_data";
    case LW__MSG__AS_UP_TYPE__AS_UP_LOCATION_SOLVED:
        return "location_solved";
    case LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_NORMALIZED:
        return "uplink_normalized";
    default:
        return NULL;
    }
}
