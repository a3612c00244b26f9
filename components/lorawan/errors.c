/* Stable names for the LORAWAN_E_* codes of errors.def. */
#include "lorawan.h"

const char *lorawan_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
#define LORAWAN_ERR(sym, val, name, msg)                                                           \
    case sym:                                                                                      \
        return name;
#include "errors.def"
#undef LORAWAN_ERR
    default:
        return "unknown";
    }
}

const char *lorawan_error_message(int err)
{
    switch (err) {
    case 0:
        return "success";
#define LORAWAN_ERR(sym, val, name, msg)                                                           \
    case sym:                                                                                      \
        return msg;
#include "errors.def"
#undef LORAWAN_ERR
    default:
        return "unknown error";
    }
}
