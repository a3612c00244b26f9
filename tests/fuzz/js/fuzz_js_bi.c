/* Fuzz target for the Join Server's Backend Interfaces decoder (components/js/bi_codec.c):
 * any bytes as a request body; a decoded request must round-trip into an answer header and
 * a refusal must name its result code and field. The join rules then run on whatever
 * join-request the body carried, against a fixed device, so the pure join path sees
 * attacker-chosen frames and NS parameters too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "js/js_private.h"

/* assert() is compiled out in the fuzzing build (NDEBUG): a failed check must still crash. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (body == NULL)
        return 0;
    static js_bi_request_t r;
    js_bi_refusal_t why;
    if (js_bi_decode(body, &r, &why) != 0) {
        CHECK(why.result_code != NULL && why.description[0] != '\0');
        if (why.header_ok) {
            json_t *a = js_bi_answer(&r, why.result_code, why.description);
            CHECK(a != NULL);
            json_decref(a);
        }
        json_decref(body);
        return 0;
    }
    json_t *a = js_bi_answer(&r, JS_BI_SUCCESS, NULL);
    CHECK(a != NULL && json_object_get(a, "MessageType") != NULL);
    json_decref(a);
    if (r.h.type == JS_BI_JOIN_REQ) {
        static js_dev_t dev;
        static js_nonces_t nonces;
        static js_join_ans_t ans;
        memset(&dev, 0, sizeof dev);
        dev.has_app_key = dev.has_nwk_key = true;
        memset(dev.nwk_key, 0x42, sizeof dev.nwk_key);
        dev.dev_nonce_limit = 4;
        js_join_req_t jr = {.phy = r.phy,
                            .phy_len = r.phy_len,
                            .mac_version = r.mac_version,
                            .net_id = r.net_id,
                            .dev_addr = r.dev_addr,
                            .dl_settings = r.dl_settings,
                            .rx_delay = r.rx_delay,
                            .cflist = r.has_cflist ? r.cflist : NULL};
        int rc = js_join(&jr, &dev, &nonces, &ans);
        CHECK(rc == JS_JOIN_OK || strcmp(js_join_strerror(rc), "unknown") != 0);
        CHECK(nonces.n_used <= dev.dev_nonce_limit);
    }
    json_decref(body);
    return 0;
}
