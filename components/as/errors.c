/* The Application Server's error table (errors.def). */
#include "as/as_private.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "as/errors.def"
#undef LW_ERR_DEF
