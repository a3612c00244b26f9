/* NetIDs and DevAddr prefixes (LoRaWAN Backend Interfaces 1.0 §13, LoRaWAN 1.1 §6.1.1).
 * Pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns/ns_private.h"

/* Backend Interfaces 1.0 Table 3: NwkID bits per NetID type (the DevAddr prefix is the type
 * in unary, type+1 bits, then the NwkID). */
static const uint8_t nwk_id_bits[8] = {6, 6, 9, 11, 12, 13, 15, 17};

static uint32_t prefix_mask(uint8_t len)
{
    return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~(0xffffffffu >> len);
}

int ns_prefix_parse(const char *s, ns_prefix_t *out)
{
    if (s == NULL || strlen(s) < 10 || s[8] != '/')
        return -1;
    uint32_t addr = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        addr = addr << 4 | (uint32_t)v;
    }
    char *end = NULL;
    long len = strtol(s + 9, &end, 10);
    if (end == s + 9 || *end != '\0' || len < 1 || len > 32)
        return -1;
    out->len = (uint8_t)len;
    out->addr = addr & prefix_mask(out->len);
    return 0;
}

int ns_prefix_from_net_id(uint32_t net_id, ns_prefix_t *out)
{
    if (net_id > 0xffffffu)
        return -1;
    unsigned type = net_id >> 21;
    unsigned nb = nwk_id_bits[type];
    uint32_t nwk_id = net_id & ((1u << nb) - 1u);
    unsigned tlen = type + 1;
    uint32_t tbits = ((1u << type) - 1u) << 1; /* `type` ones, then a zero */
    out->len = (uint8_t)(tlen + nb);
    out->addr = tbits << (32 - tlen) | nwk_id << (32 - tlen - nb);
    return 0;
}

bool ns_prefix_match(const ns_prefix_t *p, uint32_t dev_addr)
{
    return (dev_addr & prefix_mask(p->len)) == p->addr;
}

uint32_t ns_prefix_addr(const ns_prefix_t *p, uint32_t suffix)
{
    return p->addr | (suffix & ~prefix_mask(p->len));
}

uint32_t ns_prefix_size(const ns_prefix_t *p)
{
    return p->len == 0 ? UINT32_MAX
                       : (uint32_t)((1ull << (32 - p->len)) > UINT32_MAX ? UINT32_MAX
                                                                         : (1ull << (32 - p->len)));
}
