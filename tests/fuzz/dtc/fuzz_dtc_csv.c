/* Fuzz target: the-things-stack-csv (charset, separator, Go's CSV rules, columns) and the
 * same bytes through a vendor mapping with every transform. */
#include "dtc/conv_private.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char mapping[] =
    "id: fuzz\n"
    "name: fuzz\n"
    "fields:\n"
    "  - {path: ids.dev_eui, column: dev_eui, type: eui, byte_order: lsb}\n"
    "  - {path: ids.device_id, value: 'x-{dev_eui}', case: lower}\n"
    "  - {path: session.dev_addr, column: dev_addr, type: devaddr, pad: 8}\n"
    "  - {path: root_keys.app_key.key, column: app_key, type: key}\n"
    "  - {path: mac_settings.rx2_frequency, column: f, type: uint, scale: 1000000}\n"
    "  - {path: mac_settings.rx1_delay, column: d, type: uint, base: 16}\n"
    "  - {path: supports_class_c, column: c, type: bool, map: {C: 'true'}, default: 'false'}\n"
    "  - {path: lorawan_version, column: v, when: [c, 'd!=0']}\n"
    "  - {path: locations.user.latitude, column: lat, type: float}\n"
    "  - {path: name, column: name}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool loaded;
    if (!loaded) {
        lw_err_t err;
        dtc_vendor_map_t *m = dtc_vendor_map_parse(mapping, sizeof mapping - 1, "fuzz", &err);
        if (m == NULL || dtc_formats_add_vendor(m, &err) != 0)
            abort();
        loaded = true;
    }
    fz_run("the-things-stack-csv", data, size);
    fz_run("vendor-fuzz", data, size);
    return 0;
}
