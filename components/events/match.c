/* Pure parts of the events server (events_private.h): requests into filters, events into
 * what matching needs, matching and visibility. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/api_codec.h"
#include "events/events_private.h"

/* ---- identifiers -------------------------------------------------------------------------- */

static const struct {
    const char *key, *id_key;
    ev_ent_t type;
} ent_keys[] = {
    {"application_ids", "application_id", EV_APPLICATION},
    {"device_ids", "device_id", EV_DEVICE},
    {"gateway_ids", "gateway_id", EV_GATEWAY},
    {"organization_ids", "organization_id", EV_ORGANIZATION},
    {"user_ids", "user_id", EV_USER},
    {"client_ids", "client_id", EV_CLIENT},
};
#define N_ENT_KEYS (sizeof ent_keys / sizeof ent_keys[0])

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > TN_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

/* One EntityIdentifiers object: {"<type>_ids": {...}}. Returns 0, -1 when malformed. */
static int ids_read(json_t *j, ev_ids_t *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(j) || json_object_size(j) != 1)
        return -1;
    for (size_t k = 0; k < N_ENT_KEYS; k++) {
        json_t *o = json_object_get(j, ent_keys[k].key);
        if (o == NULL)
            continue;
        const char *id = json_string_value(json_object_get(o, ent_keys[k].id_key));
        if (id == NULL || !id_ok(id))
            return -1;
        out->type = ent_keys[k].type;
        snprintf(out->id, sizeof out->id, "%s", id);
        if (out->type == EV_DEVICE) {
            const char *app = json_string_value(
                json_object_get(json_object_get(o, "application_ids"), "application_id"));
            if (app == NULL || !id_ok(app))
                return -1;
            snprintf(out->app, sizeof out->app, "%s", app);
        }
        return 0;
    }
    return -1;
}

const char *ev_access_type(const ev_ids_t *ids)
{
    switch (ids->type) {
    case EV_APPLICATION:
    case EV_DEVICE:
        return "application";
    case EV_GATEWAY:
        return "gateway";
    case EV_ORGANIZATION:
        return "organization";
    case EV_USER:
        return "user";
    default:
        return NULL;
    }
}

const char *ev_access_id(const ev_ids_t *ids)
{
    return ids->type == EV_DEVICE ? ids->app : ids->id;
}

/* ---- filters ------------------------------------------------------------------------------ */

void ev_filter_free(ev_filter_t *f)
{
    for (size_t i = 0; i < f->n_names; i++)
        if (f->regex[i])
            pcre2_code_free(f->re[i]);
    pcre2_match_data_free(f->md);
    pcre2_match_context_free(f->mctx);
    f->md = NULL;
    f->mctx = NULL;
    f->n_names = 0;
}

/* Compiles a caller's regex with bounds (pattern, nesting) so that neither compiling nor
 * matching a short event name can take long: a match gives up after EV_RE_MATCH_LIMIT
 * steps (no match). */
#define EV_RE_MATCH_LIMIT 20000
static pcre2_code *re_compile(ev_filter_t *f, const char *re)
{
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    pcre2_set_max_pattern_length(cc, EV_NAME_MAX);
    pcre2_set_parens_nest_limit(cc, 16);
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_NEVER_BACKSLASH_C,
                                  &code, &off, cc);
    pcre2_compile_context_free(cc);
    if (c == NULL)
        return NULL;
    if (f->mctx == NULL) {
        f->mctx = pcre2_match_context_create(NULL);
        pcre2_set_match_limit(f->mctx, EV_RE_MATCH_LIMIT);
        pcre2_set_depth_limit(f->mctx, 200);
        f->md = pcre2_match_data_create(1, NULL);
    }
    return c;
}

static bool key_allowed(const char *key, const char *const *extra)
{
    static const char *const keys[] = {"identifiers", "names", "tail", "after"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        if (strcmp(key, extra[i]) == 0)
            return true;
    return false;
}

static int field_err(lw_err_t *err, const char *field, const char *why)
{
    lw_err_set(err, &lw_err_invalid_field, "invalid `%s`: %s", field, why);
    lw_err_attr(err, "field", field);
    return -1;
}

int ev_filter_parse(json_t *body, const char *const *extra, ev_filter_t *f, lw_err_t *err)
{
    memset(f, 0, sizeof *f);
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (!key_allowed(key, extra)) {
            lw_err_set(err, &lw_err_unknown_field, "unknown field `%s`", key);
            lw_err_attr(err, "field", key);
            return -1;
        }
    }
    json_t *ids = json_object_get(body, "identifiers");
    if (ids != NULL && !json_is_array(ids) && !json_is_null(ids))
        return field_err(err, "identifiers", "not a list");
    if (json_array_size(ids) == 0)
        return lw_err_set(err, &lw_err_no_identifiers, "no identifiers");
    if (json_array_size(ids) > EV_MAX_IDS)
        return field_err(err, "identifiers", "more than 16 identifiers");
    for (size_t i = 0; i < json_array_size(ids); i++)
        if (ids_read(json_array_get(ids, i), &f->ids[f->n_ids++]) != 0) {
            char field[48];
            snprintf(field, sizeof field, "identifiers[%zu]", i);
            return field_err(err, field, "not an entity's identifiers");
        }
    json_t *tail = json_object_get(body, "tail");
    if (tail != NULL && !json_is_null(tail)) {
        json_int_t n = -1;
        if (json_is_integer(tail))
            n = json_integer_value(tail);
        else if (json_is_string(tail)) /* uint32 may come as a string in proto JSON */
            n = strspn(json_string_value(tail), "0123456789") == strlen(json_string_value(tail)) &&
                        strlen(json_string_value(tail)) < 10
                    ? atoll(json_string_value(tail))
                    : -1;
        if (n < 0 || n > UINT32_MAX)
            return field_err(err, "tail", "not an unsigned 32-bit integer");
        f->tail = (uint32_t)(n > EV_MAX_TAIL ? EV_MAX_TAIL : n);
    }
    json_t *after = json_object_get(body, "after");
    if (after != NULL && !json_is_null(after)) {
        int64_t t = lw_api_time_parse(json_string_value(after));
        if (t < 0)
            return field_err(err, "after", "not an RFC 3339 time");
        f->has_after = true;
        f->after_ns = t;
    }
    json_t *names = json_object_get(body, "names");
    if (names != NULL && !json_is_array(names) && !json_is_null(names))
        return field_err(err, "names", "not a list");
    if (json_array_size(names) > EV_MAX_NAMES)
        return field_err(err, "names", "more than 32 names");
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        size_t len = n ? strlen(n) : 0;
        if (len == 0 || len >= EV_NAME_MAX) {
            ev_filter_free(f);
            return field_err(err, "names", "a name is empty or too long");
        }
        size_t k = f->n_names;
        snprintf(f->names[k], EV_NAME_MAX, "%s", n);
        if (len >= 2 && n[0] == '/' && n[len - 1] == '/') {
            char re[EV_NAME_MAX];
            snprintf(re, sizeof re, "%.*s", (int)(len - 2), n + 1);
            f->re[k] = re_compile(f, re);
            if (f->re[k] == NULL) {
                ev_filter_free(f);
                lw_err_set(err, &lw_err_invalid_regexp, "invalid regexp `%s`", re);
                lw_err_attr(err, "regexp", re);
                return -1;
            }
            f->regex[k] = true;
        }
        f->n_names++;
    }
    return 0;
}

bool ev_names_match(const ev_filter_t *f, const char *name)
{
    if (f->n_names == 0)
        return true;
    for (size_t i = 0; i < f->n_names; i++) {
        if (f->regex[i]
                ? pcre2_match(f->re[i], (PCRE2_SPTR)name, strlen(name), 0, 0, f->md, f->mctx) >= 0
                : strcmp(f->names[i], name) == 0)
            return true;
    }
    return false;
}

/* ---- events ------------------------------------------------------------------------------- */

static bool prefixed(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

size_t ev_default_visibility(const char *name, ev_ent_t type, char out[][EV_RIGHT_MAX])
{
    static const struct {
        const char *prefix, *right;
    } by_name[] = {
        {"gs.status.", "RIGHT_GATEWAY_STATUS_READ"},
        {"gs.gateway.", "RIGHT_GATEWAY_STATUS_READ"},
        {"gs.txack.drop", "RIGHT_GATEWAY_STATUS_READ"},
        {"gs.", "RIGHT_GATEWAY_TRAFFIC_READ"},
        {"js.end_device.", "RIGHT_APPLICATION_DEVICES_READ"},
        {"ns.end_device.", "RIGHT_APPLICATION_DEVICES_READ"},
        {"as.end_device.", "RIGHT_APPLICATION_DEVICES_READ"},
        {"end_device.", "RIGHT_APPLICATION_DEVICES_READ"},
        {"ns.", "RIGHT_APPLICATION_TRAFFIC_READ"},
        {"as.", "RIGHT_APPLICATION_TRAFFIC_READ"},
        {"js.", "RIGHT_APPLICATION_TRAFFIC_READ"},
        {"application.", "RIGHT_APPLICATION_INFO"},
        {"gateway.", "RIGHT_GATEWAY_INFO"},
        {"organization.", "RIGHT_ORGANIZATION_INFO"},
        {"user.", "RIGHT_USER_INFO"},
        {"client.", "RIGHT_CLIENT_ALL"},
    };
    for (size_t i = 0; i < sizeof by_name / sizeof by_name[0]; i++)
        if (prefixed(name, by_name[i].prefix)) {
            snprintf(out[0], EV_RIGHT_MAX, "%s", by_name[i].right);
            return 1;
        }
    /* An event The Things Stack does not define: RIGHT_ALL's default, the entity's _ALL. */
    static const char *const all[] = {"RIGHT_APPLICATION_ALL", "RIGHT_APPLICATION_ALL",
                                      "RIGHT_GATEWAY_ALL",     "RIGHT_ORGANIZATION_ALL",
                                      "RIGHT_USER_ALL",        "RIGHT_CLIENT_ALL"};
    snprintf(out[0], EV_RIGHT_MAX, "%s", all[type]);
    return 1;
}

int ev_meta_parse(const char *json, size_t len, ev_meta_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    const char *name = json_string_value(json_object_get(j, "name"));
    if (name == NULL || strlen(name) >= EV_NAME_MAX) {
        json_decref(j);
        return -1;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    int64_t t = lw_api_time_parse(json_string_value(json_object_get(j, "time")));
    out->time_ns = t > 0 ? t : 0;
    json_t *ids = json_object_get(j, "identifiers");
    for (size_t i = 0; i < json_array_size(ids) && out->n_ids < EV_EVENT_IDS; i++)
        if (ids_read(json_array_get(ids, i), &out->ids[out->n_ids]) == 0)
            out->n_ids++;
    json_t *rights = json_object_get(json_object_get(j, "visibility"), "rights");
    for (size_t i = 0; i < json_array_size(rights) && out->n_vis < EV_VIS_MAX; i++) {
        const char *r = json_string_value(json_array_get(rights, i));
        if (r != NULL && strlen(r) < EV_RIGHT_MAX)
            snprintf(out->vis[out->n_vis++], EV_RIGHT_MAX, "%s", r);
    }
    if (out->n_vis == 0)
        out->n_vis = ev_default_visibility(
            out->name, out->n_ids ? out->ids[0].type : EV_APPLICATION, out->vis);
    json_decref(j);
    return 0;
}

int ev_match_ids(const ev_filter_t *f, const ev_meta_t *m)
{
    for (size_t e = 0; e < m->n_ids; e++) {
        const ev_ids_t *ev = &m->ids[e];
        for (size_t i = 0; i < f->n_ids; i++) {
            const ev_ids_t *s = &f->ids[i];
            if (s->type == ev->type && strcmp(s->id, ev->id) == 0 &&
                (s->type != EV_DEVICE || strcmp(s->app, ev->app) == 0))
                return (int)i;
            if (ev->type == EV_DEVICE && s->type == EV_APPLICATION && strcmp(s->id, ev->app) == 0)
                return (int)i;
        }
    }
    return -1;
}

bool ev_visible(const ev_meta_t *m, const char *const *rights, size_t n)
{
    for (size_t v = 0; v < m->n_vis; v++)
        for (size_t i = 0; i < n; i++)
            if (strcmp(m->vis[v], rights[i]) == 0)
                return true;
    return false;
}

json_t *ev_filter_ids_json(const ev_filter_t *f)
{
    static const char *const keys[] = {"application_ids",  "device_ids", "gateway_ids",
                                       "organization_ids", "user_ids",   "client_ids"};
    static const char *const id_keys[] = {"application_id",  "device_id", "gateway_id",
                                          "organization_id", "user_id",   "client_id"};
    json_t *a = json_array();
    for (size_t i = 0; i < f->n_ids; i++) {
        const ev_ids_t *ids = &f->ids[i];
        json_t *o = json_pack("{ss}", id_keys[ids->type], ids->id);
        if (ids->type == EV_DEVICE)
            json_object_set_new(o, "application_ids",
                                json_pack("{ss}", "application_id", ids->app));
        json_array_append_new(a, json_pack("{so}", keys[ids->type], o));
    }
    return a;
}
