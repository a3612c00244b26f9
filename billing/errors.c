/* The billing module's error table (errors.def). */
#include "billing/billing.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "billing/errors.def"
#undef LW_ERR_DEF
