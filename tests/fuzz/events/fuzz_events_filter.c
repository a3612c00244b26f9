/* Fuzz target for the events server's pure parts (components/events/match.c): the input
 * split at its first NUL is a request body (POST /api/v3/events or a Console subscribe) and
 * an event as read from lw.events. A filter that parses must match the event without
 * reading past what it holds; an event that parses must name itself within bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events/events_private.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t rlen = nul ? (size_t)(nul - data) : size;
    const char *evtext = nul ? (const char *)nul + 1 : "";
    size_t evlen = nul ? size - rlen - 1 : 0;

    ev_meta_t m;
    int have_meta = ev_meta_parse(evtext, evlen, &m) == 0;
    if (have_meta) {
        CHECK(strlen(m.name) < EV_NAME_MAX && m.n_ids <= EV_EVENT_IDS);
        CHECK(m.n_vis >= 1 && m.n_vis <= EV_VIS_MAX);
    }
    json_t *body = json_loadb((const char *)data, rlen, 0, NULL);
    if (json_is_object(body)) {
        static const char *const extra[] = {"type", "id", NULL};
        ev_filter_t f;
        lw_err_t err;
        if (ev_filter_parse(body, extra, &f, &err) == 0) {
            CHECK(f.n_ids >= 1 && f.n_ids <= EV_MAX_IDS && f.tail <= EV_MAX_TAIL);
            json_t *ids = ev_filter_ids_json(&f);
            CHECK(json_array_size(ids) == f.n_ids);
            json_decref(ids);
            if (have_meta) {
                int i = ev_match_ids(&f, &m);
                CHECK(i >= -1 && i < (int)f.n_ids);
                (void)ev_names_match(&f, m.name);
                static const char *const rights[] = {"RIGHT_APPLICATION_TRAFFIC_READ"};
                (void)ev_visible(&m, rights, 1);
            }
            ev_filter_free(&f);
        }
    }
    json_decref(body);
    return 0;
}
