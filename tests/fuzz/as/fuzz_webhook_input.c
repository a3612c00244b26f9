/* Fuzz target for what the webhook registry takes from API callers (components/as/
 * webhook_req.c): any bytes as a webhook's JSON (wh_apply, with and without a field mask), as
 * a base_url joined with a path (wh_url), and as field_mask paths applied to an
 * ApplicationUp (wh_mask_up). Nothing may crash; a webhook that wh_apply accepts must have a
 * base_url that wh_url accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "as/webhook_private.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const char UP[] = "{\"end_device_ids\":{\"device_id\":\"d\"},\"received_at\":\"t\","
                         "\"uplink_message\":{\"f_cnt\":3,\"decoded_payload\":{\"x\":{\"y\":1}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    /* a webhook */
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    if (body != NULL) {
        lw_api_mask_t none = {0}, some = {.n = 2};
        snprintf(some.paths[0], sizeof some.paths[0], "base_url");
        snprintf(some.paths[1], sizeof some.paths[1], "uplink_message.path");
        const lw_api_mask_t *masks[2] = {&none, &some};
        for (int i = 0; i < 2; i++) {
            json_t *stored = json_object();
            char key[WH_KEY_MAX + 1];
            bool key_set;
            lw_err_t e;
            lw_err_clear(&e);
            if (wh_apply(body, masks[i], true, stored, key, &key_set, &e) == 0) {
                const char *u = json_string_value(json_object_get(stored, "base_url"));
                char url[WH_URL_MAX + 1], auth[WH_URL_MAX];
                CHECK(u != NULL && wh_url(u, "", url, sizeof url, auth, sizeof auth) == 0);
            }
            json_decref(stored);
        }
        /* its strings as field_mask paths of a message */
        const char *paths[8];
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(body, k, v)
        {
            if (n < 8)
                paths[n++] = k;
        }
        json_t *up = json_loads(UP, 0, NULL);
        json_t *m = wh_mask_up(up, paths, n);
        CHECK(m != NULL);
        json_decref(m);
        json_decref(up);
        json_decref(body);
    }
    /* a base_url and a path, split at the first newline */
    char *nl = strchr(s, '\n');
    const char *path = "";
    if (nl != NULL) {
        *nl = '\0';
        path = nl + 1;
    }
    char url[WH_URL_MAX + 1], auth[WH_URL_MAX];
    if (wh_url(s, path, url, sizeof url, auth, sizeof auth) == 0) {
        /* no userinfo left in the authority */
        const char *a = strstr(url, "://");
        CHECK(strncmp(url, "http", 4) == 0 && a != NULL);
        a += 3;
        const char *at = strchr(a, '@');
        CHECK(at == NULL || at >= a + strcspn(a, "/?#"));
    }
    char dom[256];
    wh_domain(s, dom, sizeof dom);
    free(s);
    return 0;
}
