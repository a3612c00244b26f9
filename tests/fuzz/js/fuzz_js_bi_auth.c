/* Fuzz target for the Backend Interfaces caller check (components/js/bi_codec.c): the
 * bytes are an Authorization header value (the first byte, when odd, turns on
 * allow-unauthenticated) against a JoinReq of NetID 000013 whose token is "ns-token". Only
 * that token, behind "Bearer" in any case and spaces, may pass as the sender; a refusal
 * always says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "js/js_private.h"

/* assert() is compiled out in the fuzzing build (NDEBUG): a failed check must still crash. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static js_bi_request_t req;
static js_bi_sender_t senders[2];

static void setup(void)
{
    static const char body[] =
        "{\"ProtocolVersion\":\"1.0\",\"MessageType\":\"JoinReq\",\"SenderID\":\"000013\","
        "\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.3\",\"PHYPayload\":"
        "\"00000000D07ED5B370080706050403020100003851F0B6\",\"DevEUI\":\"0102030405060708\","
        "\"DevAddr\":\"01020304\",\"DLSettings\":\"00\",\"RxDelay\":5}";
    json_t *j = json_loads(body, 0, NULL);
    js_bi_refusal_t why;
    CHECK(j != NULL && js_bi_decode(j, &req, &why) == 0);
    json_decref(j);
    CHECK(js_bi_sender_init(&senders[0], "000013", "ns-token") == 0);
    CHECK(js_bi_sender_init(&senders[1], "as.local", "as-token") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size == 0 || size > 1024)
        return 0;
    bool allow = data[0] & 1;
    char header[1025];
    memcpy(header, data + 1, size - 1);
    header[size - 1] = '\0';
    char why[160] = "";
    int rc = js_bi_authenticate(senders, 2, allow, &req, header, why, sizeof why);
    const char *token = NULL;
    size_t len = 0;
    bool bearer = js_bi_bearer_parse(header, &token, &len) == 0;
    if (bearer)
        CHECK(token >= header && token + len <= header + strlen(header) && len > 0 &&
              len <= JS_BI_BEARER_MAX);
    if (rc == JS_BI_AUTH_OK)
        CHECK(bearer && len == 8 && memcmp(token, "ns-token", 8) == 0 &&
              strncasecmp(header, "bearer ", 7) == 0);
    else if (rc == JS_BI_AUTH_REFUSED)
        CHECK(why[0] != '\0' && !(bearer && len == 8 && memcmp(token, "ns-token", 8) == 0));
    else
        CHECK(rc == JS_BI_AUTH_ANONYMOUS && allow && !bearer);
    return 0;
}
