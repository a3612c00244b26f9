/* Fuzz target: the Identity Server's decoders of untrusted input. The first byte picks the
 * entity kind and the create flag; the rest is split at the first newline into a request
 * body (JSON) and a query-like line (field mask, token, limit/page/order), and everything
 * that decodes is rendered and applied as an update would be. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "is/is_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    static const is_kind_t *const kinds[] = {&is_kind_user, &is_kind_org, &is_kind_app, &is_kind_gw,
                                             &is_kind_dev};
    const is_kind_t *k = kinds[data[0] % 5];
    bool create = (data[0] & 0x80) != 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(rest, '\n', n);
    size_t jlen = nl ? (size_t)(nl - rest) : n;
    char *line = NULL;
    if (nl != NULL) {
        size_t llen = n - jlen - 1;
        line = malloc(llen + 1);
        memcpy(line, nl + 1, llen);
        line[llen] = '\0';
    }

    lw_err_t err;
    json_t *body = json_loadb(rest, jlen, JSON_REJECT_DUPLICATES, NULL);
    is_mask_t mask;
    mask.n = 0;
    if (line != NULL) {
        is_mask_parse_csv(k, line, "field_mask", &mask, &err);
        is_token_t tok;
        is_token_parse(line, &tok);
        is_page_t page;
        is_page_parse(k, line, line, line, &page, &err);
        uint64_t eui;
        is_eui_parse(line, &eui);
        lw_api_time_valid(line);
    }
    if (body != NULL) {
        is_ids_t ids;
        json_t *d = NULL;
        json_t *entity = json_object_get(body, k->key);
        if (is_entity_decode(k, entity != NULL ? entity : body, k->key, create, &ids, &d, &err) ==
            0) {
            is_mask_t fm;
            if (is_mask_parse_json(k, json_object_get(body, "field_mask"), "field_mask", &fm,
                                   &err) == 0) {
                json_t *cur = json_deep_copy(d);
                is_entity_apply(k, cur, d, &fm, &err);
                json_t *out = is_entity_render(k, json_object(), "c", "u", NULL, cur, &fm);
                json_decref(out);
                json_decref(cur);
            }
            json_t *out = is_entity_render(k, json_object(), NULL, NULL, NULL, d, &mask);
            json_decref(out);
            json_decref(d);
        }
        is_rights_t r;
        is_rights_from_json(json_object_get(body, "rights"), "rights", &r, &err);
        char pg[1024];
        is_rights_to_pg(r, pg, sizeof pg);
        is_rights_from_pg(pg);
        json_decref(body);
    }
    free(line);
    return 0;
}
