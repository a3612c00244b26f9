/* A loaded vendor column mapping (vendor_map.c), as vendor_csv.c applies it. */
#ifndef DTC_VENDOR_PRIVATE_H
#define DTC_VENDOR_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtc/conv.h"

typedef enum dtc_vtype {
    DTC_VT_STRING = 0,
    DTC_VT_EUI,
    DTC_VT_DEVADDR,
    DTC_VT_KEY,
    DTC_VT_UINT,
    DTC_VT_INT,
    DTC_VT_FLOAT,
    DTC_VT_BOOL,
} dtc_vtype_t;

typedef enum { DTC_VW_SET = 0, DTC_VW_EQ, DTC_VW_NE } dtc_vwop_t;

typedef struct dtc_vwhen {
    size_t col; /* index into the mapping's cols */
    dtc_vwop_t op;
    char *value;
} dtc_vwhen_t;

typedef struct dtc_vfield {
    char *path;
    char *value; /* template "{col}..." (a column is "{col}") */
    char *konst;
    dtc_vtype_t type;
    bool lower, upper, lsb;
    int pad, base;
    double scale;
    char **map_from, **map_to;
    size_t nmap;
    char *def;
    dtc_vwhen_t *when;
    size_t nwhen;
} dtc_vfield_t;

struct dtc_vendor_map {
    dtc_format_t format;
    char *format_id, *name, *description;
    char *ext[5];
    uint8_t separator;
    char *mapping_key; /* template */
    dtc_vfield_t *fields;
    size_t nfields;
    char **cols; /* every column the mapping refers to */
    size_t ncols;
};

#endif
