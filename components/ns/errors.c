/* The Network Server's error table (errors.def). */
#include "ns/ns_private.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "ns/errors.def"
#undef LW_ERR_DEF
