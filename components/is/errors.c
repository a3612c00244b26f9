/* The Identity Server's error table (errors.def). */
#include "is/is.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "is/errors.def"
#undef LW_ERR_DEF
