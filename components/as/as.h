/* components/as: the Application Server (DESIGN.md §3, issue 10).
 *
 * One consumer in group "as" over lw.ns.up (the Network Server's results, keyed
 * "<tenant>/<application_id>/<device_id>"): it owns the devices of its partitions, unwraps
 * the AppSKey of each join (as.keks.<label>), decrypts FRMPayloads, runs the payload
 * formatter, builds The Things Stack's ApplicationUp JSON once and publishes it as AsUp on
 * lw.as.up, where the front ends (MQTT server, webhooks, storage) read it. Offsets of lw.ns.up
 * are committed only once the AsUp is delivered. Downlinks from the API and MQTT are
 * encrypted for the device's next AFCntDown and queued at the NS on lw.as.down.
 *
 * API: /api/v3/as/applications/{application_id}/devices/{device_id} (GET/PUT/DELETE),
 * .../link, .../devices/{device_id}/down/push|replace (POST), .../down (GET),
 * .../devices/{device_id}/up/simulate (POST). Configuration: as.* (`lwstack config --docs`). */
#ifndef AS_AS_H
#define AS_AS_H

#include "cluster/runtime.h"
#include "tenant/devparts.h"

extern const lw_component_t as_component;

/* The AS's part of end devices (tenant/devparts.h; devpart.c): the as_devices row: formatters and
 * the AppSKey of the session. */
extern const tn_devpart_t as_devpart;

/* `lwstack formatter-worker`: the process the Application Server runs payload formatter
 * scripts in (components/as/fmt_worker.c); started by the AS itself, not by people. */
int as_formatter_worker_main(lw_config_t *cfg, int argc, char **argv);

#endif
