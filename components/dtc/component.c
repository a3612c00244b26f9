/* The Device Template Converter component: configuration, lifecycle, routes. */
#include <stdlib.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "dtc/dtc.h"
#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"
#include "dtc/import_private.h"

static const lw_cfg_opt_t dtc_config[] = {
    {.key = "dtc.enabled",
     .type = LW_CFG_BOOL,
     .def = "true",
     .help = "Serve the template converter (/api/v3/edtc), device import and export in this "
             "process."},
    {.key = "dtc.vendor-mappings-dir",
     .type = LW_CFG_STRING,
     .def = NULL,
     .help = "Folder of vendor CSV column mappings (*.yaml): each is the converter format "
             "vendor-<id> (README \"Vendor CSV mappings\"). Unset: the checkout's "
             "ops/dtc/mappings when it exists; \"\": none."},
    {.key = "dtc.export.page-size",
     .type = LW_CFG_INT,
     .def = "500",
     .min = 1,
     .max = 10000,
     .help = "Devices read per page of GET .../devices/export (all parts of each, one "
             "transaction a page)."},
    {.key = "dtc.import.spool-dir",
     .type = LW_CFG_STRING,
     .help = "Folder of the import jobs' spool files (unlinked at once; empty: $TMPDIR, else "
             "/tmp)"},
    {.key = "dtc.import.batch-size",
     .type = LW_CFG_INT,
     .def = "500",
     .help = "Devices an import writes in one transaction (every part of each)",
     .min = 1,
     .max = 10000},
    {.key = "dtc.import.max-jobs",
     .type = LW_CFG_INT,
     .def = "4",
     .help = "Import jobs one process runs at a time (each holds a database connection)",
     .min = 1,
     .max = 64},
    {.key = "dtc.import.idle-timeout",
     .type = LW_CFG_DURATION,
     .def = "10m",
     .help = "How long an import job waits for its next part before it stops (0: forever)",
     .min = 0,
     .max = 86400000},
    {.key = "dtc.import.retention",
     .type = LW_CFG_DURATION,
     .def = "168h",
     .help = "How long a finished import job and its rows' results are kept",
     .min = 60000,
     .max = 31536000000LL},
};

static int dtc_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "dtc", dtc_config, sizeof dtc_config / sizeof dtc_config[0]);
}

static void dtc_free(void *state)
{
    dtc_formats_clear_vendor();
    dtc_t *dtc = state;
    if (dtc != NULL)
        dtc_import_jobs_free(dtc);
    free(state);
}

/* The vendor formats: every mapping of dtc.vendor-mappings-dir (a bad file stops start-up,
 * naming it and its line). */
static int dtc_load_mappings(dtc_t *dtc, lw_err_t *err)
{
    const char *dir = lw_config_str(dtc->cfg, "dtc.vendor-mappings-dir");
    if (dir == NULL)
        dir = LW_DTC_MAPPINGS_DIR;
    if (dir[0] == '\0')
        return 0;
    int n = dtc_formats_load_vendor_dir(dir, err);
    if (n < 0)
        return -1;
    lw_log_kv(LW_LOG_INFO, "dtc", "vendor mappings loaded", LW_LOG_STR("dir", dir),
              LW_LOG_INT("formats", n));
    return 0;
}

static int dtc_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the template converter needs the tenant module");
    dtc_t *dtc = lw_calloc(1, sizeof *dtc);
    dtc->rt = rt;
    dtc->loop = lw_rt_loop(rt);
    dtc->cfg = lw_rt_config(rt);
    dtc->db = lw_rt_db(rt);
    dtc->bus = lw_rt_bus(rt);
    dtc->work = lw_rt_work(rt);
    dtc->tn = tn;
    dtc->access = tn_access_from_runtime(rt);
    *state = dtc;
    if (!lw_config_bool(dtc->cfg, "dtc.enabled"))
        return 0;
    if (dtc_load_mappings(dtc, err) != 0)
        return -1;
    if (dtc_edtc_routes(dtc) != 0)
        return lw_err_set(err, &lw_err_internal, "the template converter's routes");
    /* Each file's routes, as they land: dtc_edtc_routes, dtc_import_routes,
     * dtc_export_routes. */
    if (dtc_export_routes(dtc) != 0)
        return lw_err_set(err, &lw_err_internal, "cannot register the export route");
    if (dtc_import_jobs_init(dtc, err) != 0 || dtc_import_routes(dtc) != 0)
        return lw_err_set(err, &lw_err_internal, "the import routes cannot be registered");
    return 0;
}

static int dtc_start(void *state, lw_err_t *err)
{
    (void)state;
    (void)err;
    return 0;
}

static void dtc_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    dtc_import_jobs_stop(state, done, done_arg); /* cancels the running imports */
}

const lw_component_t dtc_component = {
    .name = "dtc",
    .help = "Device Template Converter: /api/v3/edtc, device import and export",
    .config_register = dtc_config_register,
    .init = dtc_init,
    .start = dtc_start,
    .stop = dtc_stop,
    .free = dtc_free,
};
