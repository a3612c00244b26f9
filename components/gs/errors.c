/* The Gateway Server's error table (errors.def). */
#include "gs/gs_private.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "gs/errors.def"
#undef LW_ERR_DEF
