/* The Device Template Converter's private interface: its state and what each file of the
 * folder provides to component.c.
 *
 *   conv.h, conv*.c, tts_*.c, csv_*.c, json_*.c, vendor_*.c   converters (pure where named)
 *   edtc_api.c     GET /api/v3/edtc/formats, POST /api/v3/edtc/convert
 *   import*.c      the import jobs and their API
 *   export.c       GET .../devices/export */
#ifndef DTC_PRIVATE_H
#define DTC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/bus.h"
#include "cluster/db.h"
#include "cluster/err.h"
#include "cluster/metrics.h"
#include "cluster/runtime.h"
#include "cluster/work.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

typedef struct dtc_import_jobs dtc_import_jobs_t;

typedef struct dtc {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_config_t *cfg;
    lw_db_t *db;
    lw_bus_t *bus;
    lw_work_pool_t *work;
    tn_t *tn;
    tn_access_t *access;
    dtc_import_jobs_t *jobs;                             /* import*.c */
    lw_metric_t *m_convert_templates, *m_convert_errors; /* edtc_api.c */
} dtc_t;

/* The errors of errors.def (import, export) and conv_errors.def (converters). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "dtc/errors.def"
#include "dtc/conv_errors.def"
#undef LW_ERR_DEF

/* Route registration, each from its own file (0, or -1 logged). */
int dtc_edtc_routes(dtc_t *dtc);
int dtc_import_routes(dtc_t *dtc);
int dtc_export_routes(dtc_t *dtc);

#endif
