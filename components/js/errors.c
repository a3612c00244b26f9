/* The Join Server's error table (errors.def). */
#include "js/js_private.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "js/errors.def"
#undef LW_ERR_DEF
