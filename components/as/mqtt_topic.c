/* Topic filters and the Application Server's topic rules (contract in
 * mqtt_codec_private.h). Pure. */
#include <stdio.h>
#include <string.h>

#include "as/mqtt_codec_private.h"
#include "tenant/ids.h"

bool mqtt_topic_match(const char *filter, size_t filter_len, const char *topic, size_t topic_len)
{
    /* §4.7.2: topics starting with '$' are not matched by a filter starting with a
     * wildcard. */
    if (topic_len > 0 && topic[0] == '$' && filter_len > 0 &&
        (filter[0] == '+' || filter[0] == '#'))
        return false;
    size_t f = 0, t = 0;
    for (;;) {
        /* At the start of a level in both. */
        if (f < filter_len && filter[f] == '#')
            return true;
        if (f < filter_len && filter[f] == '+') {
            f++;
            while (t < topic_len && topic[t] != '/')
                t++;
        } else {
            while (f < filter_len && t < topic_len && filter[f] != '/' && topic[t] != '/') {
                if (filter[f] != topic[t])
                    return false;
                f++, t++;
            }
            if ((f < filter_len && filter[f] != '/') || (t < topic_len && topic[t] != '/'))
                return false;
        }
        bool f_end = f == filter_len, t_end = t == topic_len;
        if (f_end && t_end)
            return true;
        if (t_end) {
            /* "a/#" matches "a": the filter's rest is exactly "/#". */
            return filter_len - f == 2 && filter[f] == '/' && filter[f + 1] == '#';
        }
        if (f_end)
            return false;
        f++, t++; /* both at '/' */
    }
}

static int put(char *out, size_t cap, const char *a, size_t alen, const char *b, size_t blen,
               const char *c, size_t clen)
{
    size_t n = alen + blen + clen;
    if (n + 1 > cap)
        return -1;
    memcpy(out, a, alen);
    memcpy(out + alen, b, blen);
    memcpy(out + alen + blen, c, clen);
    out[n] = '\0';
    return (int)n;
}

int mqtt_topic_accept_filter(const char *uid, const char *filter, size_t filter_len, char *out,
                             size_t cap)
{
    size_t ul = strlen(uid);
    /* "#" and "v3/#" → "v3/{uid}/#". */
    if ((filter_len == 1 && filter[0] == '#') ||
        (filter_len == 4 && memcmp(filter, "v3/#", 4) == 0))
        return put(out, cap, "v3/", 3, uid, ul, "/#", 2);
    if (filter_len < 4 || memcmp(filter, "v3/", 3) != 0)
        return -1;
    const char *rest = filter + 3;
    size_t rl = filter_len - 3;
    const char *slash = memchr(rest, '/', rl);
    size_t first = slash != NULL ? (size_t)(slash - rest) : rl;
    const char *tail = rest + first; /* "" or "/..." */
    size_t tl = rl - first;
    /* "v3/+/..." → "v3/{uid}/...". */
    if (first == 1 && rest[0] == '+')
        return put(out, cap, "v3/", 3, uid, ul, tail, tl);
    if (first == ul && memcmp(rest, uid, ul) == 0)
        return put(out, cap, "v3/", 3, uid, ul, tail, tl);
    return -1;
}

static const char *const readable_suffixes[] = {
    "up",           "up/normalized",   "join",
    "down/queued",  "down/sent",       "down/ack",
    "down/nack",    "down/failed",     "down/invalidated",
    "service/data", "location/solved",
};

bool mqtt_topic_suffix_readable(const char *suffix)
{
    for (size_t i = 0; i < sizeof(readable_suffixes) / sizeof(readable_suffixes[0]); i++)
        if (strcmp(suffix, readable_suffixes[i]) == 0)
            return true;
    return false;
}

int mqtt_topic_parse_downlink(const char *uid, const char *topic, size_t topic_len, char *dev,
                              size_t dev_cap, bool *replace)
{
    size_t ul = strlen(uid);
    static const char devices[] = "/devices/";
    const size_t dl = sizeof(devices) - 1;
    if (topic_len < 3 + ul + dl || memcmp(topic, "v3/", 3) != 0 ||
        memcmp(topic + 3, uid, ul) != 0 || memcmp(topic + 3 + ul, devices, dl) != 0)
        return -1;
    const char *d = topic + 3 + ul + dl;
    size_t left = topic_len - (3 + ul + dl);
    const char *slash = memchr(d, '/', left);
    if (slash == NULL)
        return -1;
    size_t idl = (size_t)(slash - d);
    const char *op = slash + 1;
    size_t opl = left - idl - 1;
    if (opl == 9 && memcmp(op, "down/push", 9) == 0)
        *replace = false;
    else if (opl == 12 && memcmp(op, "down/replace", 12) == 0)
        *replace = true;
    else
        return -1;
    char id[TN_ID_MAX + 1];
    if (idl == 0 || idl > TN_ID_MAX || idl + 1 > dev_cap)
        return -1;
    memcpy(id, d, idl);
    id[idl] = '\0';
    if (tn_id_validate(id, 2, "device_id", NULL) != 0)
        return -1;
    memcpy(dev, id, idl + 1);
    return 0;
}

int mqtt_topic_build(const char *tenant, const char *app, const char *dev, const char *suffix,
                     char *out, size_t cap)
{
    int n = snprintf(out, cap, "v3/%s@%s/devices/%s/%s", app, tenant, dev, suffix);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return n;
}
