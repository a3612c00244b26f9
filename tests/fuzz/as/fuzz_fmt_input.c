/* Fuzz target for the formatter input path (components/as/fmt_proto.c): any bytes as the
 * stream a worker reads (frames, requests) and as the stream the pool reads (responses); a
 * decoded request or response must encode back to the same bytes. The payload bytes of the
 * input become an uplink's and a downlink's script input, which must be valid JSON text of
 * the expected shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "as/fmt_private.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static uint8_t out[4 + FMT_FRAME_MAX];

static void frames(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        const uint8_t *p;
        size_t plen, flen;
        if (fmt_frame_next(data + off, size - off, &p, &plen, &flen) != 0)
            return;
        fmt_request_t rq;
        if (fmt_request_decode(p, plen, &rq) == 0) {
            int n = fmt_request_encode(&rq, out, sizeof out);
            CHECK(n == (int)flen && memcmp(out, data + off, flen) == 0);
        }
        fmt_response_t rs;
        if (fmt_response_decode(p, plen, &rs) == 0) {
            int n = fmt_response_encode(&rs, out, sizeof out);
            CHECK(n == (int)flen && memcmp(out, data + off, flen) == 0);
        }
        off += flen;
    }
}

static void inputs(const uint8_t *data, size_t size)
{
    static char buf[8192];
    size_t len = size > FMT_PAYLOAD_MAX ? FMT_PAYLOAD_MAX : size;
    uint8_t port = size > 0 ? data[0] : 0;
    /* the tail as a time text: anything that is not plain RFC 3339 characters is left out */
    char t[48];
    size_t tl = size > 40 ? 40 : size;
    memcpy(t, data + size - tl, tl);
    t[tl] = '\0';
    int n = fmt_input_uplink(data, len, port, t, buf, sizeof buf);
    CHECK(n > 0);
    json_t *j = json_loadb(buf, (size_t)n, 0, NULL);
    CHECK(json_is_object(j) && json_array_size(json_object_get(j, "bytes")) == len);
    CHECK(json_integer_value(json_object_get(j, "fPort")) == port);
    json_decref(j);
    n = fmt_input_downlink_decode(data, len, port, buf, sizeof buf);
    CHECK(n > 0);
    j = json_loadb(buf, (size_t)n, 0, NULL);
    CHECK(json_is_object(j));
    json_decref(j);
    cayenne_value_t v[CAYENNE_MAX_VALUES];
    int nv = cayenne_decode_uplink(data, len, v, CAYENNE_MAX_VALUES);
    CHECK(nv >= CAYENNE_E_FULL);
    nv = cayenne_decode_downlink(data, len, v, CAYENNE_MAX_VALUES);
    if (nv > 0) {
        uint8_t b[3 * CAYENNE_MAX_VALUES];
        CHECK(cayenne_encode_downlink(v, (size_t)nv, b, sizeof b) == 3 * nv);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frames(data, size);
    inputs(data, size);
    return 0;
}
