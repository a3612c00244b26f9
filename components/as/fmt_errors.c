/* The payload formatters' errors (fmt_errors.def). */
#include "as/fmt_private.h"

#define FMT_ERR_DEF(cname, ns, name, http, grpc, fmt)                                              \
    const lw_err_def_t fmt_err_##cname = {ns, name, http, grpc, fmt};
#include "as/fmt_errors.def"
#undef FMT_ERR_DEF
