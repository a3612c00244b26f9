/* The Device Template Converter's error tables (errors.def, conv_errors.def). */
#include "dtc/dtc_private.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "dtc/errors.def"
#include "dtc/conv_errors.def"
#undef LW_ERR_DEF
