/* /api/v3/as/...: the Application Server's API routes. */
#include "as/as_private.h"
#include "as/fmt_private.h"
#include "as/mqtt_private.h"

int as_api_routes(as_t *as)
{
    /* the formatter test endpoints (fmt_api.c) */
    if (as_fmt_api_routes(as) != 0)
        return -1;
    /* mqtt-connection-info (mqtt_as.c) */
    if (as_mqtt_api_routes(as) != 0)
        return -1;
    return 0;
}
