/* Fuzz target: lw.usage messages (tenant/usage.c tn_usage_batch_decode), what the billing
 * server's ledger reads from the bus. Whatever decodes must hold what the contract says
 * (a 16-byte id, a valid tenant ID, interval_end after interval_start, at most
 * TN_USAGE_BATCH_DEVICES_MAX devices each "<application_id>/<device_id>"), and encode and
 * decode again to the same fields; whatever does not must name why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tenant/usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tn_usage_batch_t b;
    const char *why = NULL;
    if (tn_usage_batch_decode(data, size, &b, &why) != 0) {
        if (why == NULL || b.n_active_devices != 0)
            abort();
        tn_usage_batch_destroy(&b);
        return 0;
    }
    if (b.tenant_id[0] == '\0' || b.interval_end_ms <= b.interval_start_ms ||
        b.n_active_devices > TN_USAGE_BATCH_DEVICES_MAX)
        abort();
    for (size_t i = 0; i < b.n_active_devices; i++)
        if (strchr(b.active_devices[i], '/') == NULL)
            abort();
    size_t need = tn_usage_batch_size(&b);
    uint8_t *buf = malloc(need > 0 ? need : 1);
    size_t len = tn_usage_batch_encode(&b, buf, need);
    tn_usage_batch_t again;
    if (len != need || tn_usage_batch_decode(buf, len, &again, &why) != 0 ||
        memcmp(again.id, b.id, sizeof b.id) != 0 || strcmp(again.tenant_id, b.tenant_id) != 0 ||
        again.uplinks != b.uplinks || again.downlinks != b.downlinks ||
        again.join_accepts != b.join_accepts || again.n_active_devices != b.n_active_devices)
        abort();
    for (size_t i = 0; i < b.n_active_devices; i++)
        if (strcmp(again.active_devices[i], b.active_devices[i]) != 0)
            abort();
    tn_usage_batch_destroy(&again);
    tn_usage_batch_destroy(&b);
    free(buf);
    return 0;
}
