/* The events server's error table (errors.def). */
#include "events/events_private.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "events/errors.def"
#undef LW_ERR_DEF
