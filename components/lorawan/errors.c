/* Stable names for the LORAWAN_E_* codes of codes.def. */
#include "lorawan/lorawan.h"

const char *lorawan_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
#define LORAWAN_ERR(sym, val, name, msg)                                                           \
    case sym:                                                                                      \
        return name;
#include "lorawan/codes.def"
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
#include "lorawan/codes.def"
#undef LORAWAN_ERR
    default:
        return "unknown error";
    }
}
