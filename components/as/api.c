/* /api/v3/as/...: the Application Server's API routes. */
#include "as/as_private.h"

int as_api_routes(as_t *as)
{
    (void)as;
    return 0;
}
