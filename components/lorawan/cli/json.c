/* JSON helpers of the LoRaWAN tools (cli.h). */
#include "lorawan/cli/cli.h"

#include "lorawan/lorawan.h"

void lorawan_cli_json_hex(json_t *obj, const char *name, const uint8_t *b, size_t len)
{
    char hex[2 * LORAWAN_PHY_MAX_LEN + 1];
    if (lorawan_hex_encode(b, len, hex, sizeof(hex)) == 0)
        json_object_set_new(obj, name, json_string(hex));
}

void lorawan_cli_json_be(json_t *obj, const char *name, uint64_t v, size_t bytes)
{
    uint8_t b[8];
    for (size_t i = 0; i < bytes && i < sizeof b; i++)
        b[bytes - 1 - i] = (uint8_t)(v >> (8 * i));
    lorawan_cli_json_hex(obj, name, b, bytes < sizeof b ? bytes : sizeof b);
}
