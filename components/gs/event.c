/* The Gateway Server's events on lw.events, in The Things Stack's shape (cluster/event.h):
 * identifiers [{"gateway_ids":{"gateway_id","eui"}}], keyed by the gateway's tenant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/api_codec.h"
#include "cluster/event.h"
#include "cluster/uid.h"
#include "cluster/hex.h"
#include "cluster/log.h"

#include "gs/core_private.h"

void gs_time_format(int64_t ns, char out[40])
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
    char buf[LW_API_TIME_LEN];
    lw_api_time_format(&ts, buf);
    snprintf(out, 40, "%s", buf);
}

int gs_time_parse(const char *s, int64_t *ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int n = 0;
    char sep = 0;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &sep,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 7 ||
        (sep != 'T' && sep != ' ') || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    const char *p = s + n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (digits++ < 9)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (!(strcmp(p, "Z") == 0 || strcmp(p, " GMT") == 0 || strcmp(p, " UTC") == 0))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ns = (int64_t)t * 1000000000 + frac;
    return 0;
}

/* Protobuf JSON of a Duration: seconds with 0, 3, 6 or 9 fraction digits ("0.012s"). */
char *gs_duration_format(int64_t ns, char out[32])
{
    int64_t s = ns / 1000000000, f = ns % 1000000000;
    if (f == 0)
        snprintf(out, 32, "%llds", (long long)s);
    else if (f % 1000000 == 0)
        snprintf(out, 32, "%lld.%03llds", (long long)s, (long long)(f / 1000000));
    else if (f % 1000 == 0)
        snprintf(out, 32, "%lld.%06llds", (long long)s, (long long)(f / 1000));
    else
        snprintf(out, 32, "%lld.%09llds", (long long)s, (long long)f);
    return out;
}

void gs_event_gateway(gs_t *gs, const gs_gw_t *gw, const gs_gw_info_t *info, const char *name,
                      json_t *data, const char *correlation_id)
{
    (void)gw;
    char eui[17];
    snprintf(eui, sizeof eui, "%016llX", (unsigned long long)info->eui);
    uint8_t rnd[16];
    lw_uid(rnd);
    char unique[33];
    lw_hex_encode(rnd, sizeof rnd, unique);
    char cid[64];
    if (correlation_id == NULL) {
        snprintf(cid, sizeof cid, "gs:event:%s", unique);
        correlation_id = cid;
    }
    lw_event_t e = {
        .module = "gs",
        .tenant = info->tenant_id,
        .name = name,
        .identifiers =
            json_pack("[{s{ss ss}}]", "gateway_ids", "gateway_id", info->gateway_id, "eui", eui),
        .data = data,
        .correlation_id = correlation_id,
        .unique_id = unique,
    };
    lw_event_publish(gs->bus, &e);
}
