/* Names shared by the AS's JSON codecs (pure): formatter types, ApplicationUp message types. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "as/as_private.h"
#include "cluster/hex.h"
#include "cluster/mem.h"

json_t *as_b64_json(const uint8_t *b, size_t n)
{
    char *text = lw_malloc(4 * ((n + 2) / 3) + 1);
    int len = n > 0 ? EVP_EncodeBlock((unsigned char *)text, b, (int)n) : 0;
    text[len] = '\0';
    json_t *j = json_string(text);
    free(text);
    return j;
}

int as_b64_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t len = s != NULL ? strlen(s) : 0;
    if (len == 0)
        return 0;
    if (len % 4 != 0 || len / 4 * 3 > cap + 2 || len > 1u << 20)
        return -1;
    uint8_t *tmp = lw_malloc(len / 4 * 3 + 1);
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
    if (n >= 0 && s[len - 1] == '=')
        n -= s[len - 2] == '=' ? 2 : 1;
    if (n < 0 || (size_t)n > cap) {
        free(tmp);
        return -1;
    }
    memcpy(out, tmp, (size_t)n);
    free(tmp);
    return n;
}

void as_eui_text(uint64_t eui, char out[17])
{
    snprintf(out, 17, "%016" PRIX64, eui);
}

void as_addr_text(uint32_t addr, char out[9])
{
    snprintf(out, 9, "%08" PRIX32, addr);
}

static int hex_parse(const char *s, size_t digits, uint64_t *out)
{
    if (s == NULL || strlen(s) != digits)
        return -1;
    uint8_t b[8];
    if (lw_hex_decode(s, b, sizeof b) != (int)digits / 2)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < digits / 2; i++)
        v = v << 8 | b[i];
    *out = v;
    return 0;
}

int as_eui_parse(const char *s, uint64_t *out)
{
    return hex_parse(s, 16, out);
}

int as_addr_parse(const char *s, uint32_t *out)
{
    uint64_t v;
    if (hex_parse(s, 8, &v) != 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static const char *const fmt_names[] = {
    "FORMATTER_NONE",       "FORMATTER_REPOSITORY", "FORMATTER_GRPC_SERVICE",
    "FORMATTER_JAVASCRIPT", "FORMATTER_CAYENNELPP",
};

const char *as_fmt_type_name(as_fmt_type_t t)
{
    if ((unsigned)t >= sizeof fmt_names / sizeof fmt_names[0])
        return fmt_names[0];
    return fmt_names[t];
}

int as_fmt_type_parse(const char *s, as_fmt_type_t *out)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
        if (strcmp(s, fmt_names[i]) == 0 || (s[0] == (char)('0' + i) && s[1] == '\0')) {
            *out = (as_fmt_type_t)i;
            return 0;
        }
    return -1;
}

const char *as_up_type_name(Lw__Msg__AsUpType t)
{
    switch (t) {
    case LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_MESSAGE:
        return "uplink_message";
    case LW__MSG__AS_UP_TYPE__AS_UP_JOIN_ACCEPT:
        return "join_accept";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUED:
        return "downlink_queued";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_SENT:
        return "downlink_sent";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_ACK:
        return "downlink_ack";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_NACK:
        return "downlink_nack";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_FAILED:
        return "downlink_failed";
    case LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUE_INVALIDATED:
        return "downlink_queue_invalidated";
    case LW__MSG__AS_UP_TYPE__AS_UP_SERVICE_DATA:
        return "service_data";
    case LW__MSG__AS_UP_TYPE__AS_UP_LOCATION_SOLVED:
        return "location_solved";
    case LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_NORMALIZED:
        return "uplink_normalized";
    default:
        return NULL;
    }
}
