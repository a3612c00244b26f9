/* components/js: the Join Server (DESIGN.md §2, issue 9 items 8 and 10).
 *
 * Serves LoRaWAN Backend Interfaces 1.0/1.1 JSON on its own listener (js.listen, default
 * :1886): JoinReq → JoinAns, AppSKeyReq → AppSKeyAns and HomeNSReq → HomeNSAns, with their
 * error results, as The Things Stack's interop server (any path, POST). The tenant of a request is
 * found by its JoinEUI/DevEUI (tenant/euis.h). Root keys are kept wrapped under
 * js.key-encryption-key (RFC 3394); DevNonce and JoinNonce are persisted in the transaction that
 * produces the JoinAns. Session keys leave wrapped under the KEKs of js.keks.<label>.
 *
 * On the API listener (tenant-scoped):
 *   GET|PUT|DELETE /api/v3/js/applications/{application_id}/devices/{device_id}
 *   POST           /api/v3/js/applications/{application_id}/devices
 * with The Things Stack's JSON (root_keys, resets_join_nonces, net_id, last_dev_nonce,
 * used_dev_nonces, last_join_nonce, ...). Events js.join.accept, js.join.reject,
 * js.dev_nonce.reset on lw.events. */
#ifndef JS_JS_H
#define JS_JS_H

#include "cluster/runtime.h"
#include "tenant/devparts.h"

/* The Join Server component ("js"). Needs the tenant component (added before it). */
extern const lw_component_t js_component;

/* The JS's part of end devices (tenant/devparts.h; devpart.c): the js_devices row: root keys and
 * the JS settings. */
extern const tn_devpart_t js_devpart;

#endif
