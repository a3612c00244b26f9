/* The Device Template Converter component (issue 12): The Things Stack's template converter
 * API (/api/v3/edtc/formats, /api/v3/edtc/convert), and lwstack's server-side import
 * (/api/v3/applications/{application_id}/devices/import) and export (.../devices/export) of
 * whole devices through the device parts of tenant/devparts.h. */
#ifndef DTC_H
#define DTC_H

#include "cluster/runtime.h"

extern const lw_component_t dtc_component;

#endif
