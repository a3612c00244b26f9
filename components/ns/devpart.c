/* The Network Server's part of end devices (tenant/devparts.h): the ns_devices row, its
 * settings and state decoded, changed and encoded exactly as PUT /api/v3/ns/... does
 * (devset.c's ns_dev_apply; session keys wrapped with ns.key-encryption-key), with the
 * API's gen/state_gen protocol: every write bumps gen, a write of the state sets state_gen
 * to the new gen, and after the commit the device's owner is told (NsDev RELOAD on
 * lw.ns.dev) and every matcher (lw.ns.sessions), so that an imported session is matched and
 * accepted at the next uplink without a join.
 *
 * The import's differences from the API: session keys equal to the stored ones make no new
 * session (the same file twice changes nothing), and the MAC state, the pending session and
 * last_seen_at of a template are left out: the MAC state starts from the settings, as with
 * a new session set through the API; session.last_a_f_cnt_down is the AS's. The registry's
 * lorawan_version, lorawan_phy_version, frequency_plan_id, supports_join and supports_class_c are
 * read from the template too.
 *
 * Per batch: one statement reads the existing rows (locked), one writes the changed ones. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster/db.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns.h"
#include "ns/ns_private.h"

static const char *const ns_part_paths[] = {
    "mac_settings",      "session",      "pending_session", "mac_state",
    "pending_mac_state", "last_seen_at", "multicast",       NULL};

/* The registry's paths the NS keeps a copy of. */
static const char *const shared_paths[] = {"lorawan_version",   "lorawan_phy_version",
                                           "frequency_plan_id", "supports_join",
                                           "supports_class_c",  NULL};

typedef struct ns_dp_row {
    bool write; /* the device has an NS part */
    lw_api_mask_t mask;
    const json_t *body; /* the caller's template */
} ns_dp_row_t;

/* The configuration's keys in an ns_t of their own, loaded once per configuration. */
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static const lw_config_t *keys_cfg;
static ns_t *keys_ns;

static ns_t *ns_dp_keys(const lw_config_t *cfg)
{
    pthread_mutex_lock(&keys_lock);
    if (keys_cfg != cfg) {
        if (keys_ns != NULL)
            OPENSSL_cleanse(keys_ns, sizeof *keys_ns);
        free(keys_ns);
        keys_ns = lw_calloc(1, sizeof *keys_ns);
        ns_keys_load(keys_ns, cfg);
        keys_cfg = cfg;
    }
    ns_t *ns = keys_ns;
    pthread_mutex_unlock(&keys_lock);
    return ns;
}

static bool in_list(const char *const *l, const char *p)
{
    for (; *l != NULL; l++)
        if (strcmp(*l, p) == 0)
            return true;
    return false;
}

static bool under(const char *p, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(p, prefix, n) == 0 && (p[n] == '\0' || p[n] == '.');
}

static void ns_dp_free(void *row)
{
    free(row);
}

static void *ns_dp_prepare(const tn_devpart_env_t *env, const tn_devpart_dev_t *dev, lw_err_t *err)
{
    ns_dp_row_t *r = lw_calloc(1, sizeof *r);
    r->body = dev->end_device;
    bool keys = false;
    for (size_t i = 0; i < dev->npaths; i++) {
        const char *p = dev->paths[i];
        bool own = tn_devparts_owner(p) == &ns_devpart;
        bool shared = in_list(shared_paths, p);
        if (!own && !shared && !under(p, "session"))
            continue;
        if (strstr(p, "app_s_key") != NULL || under(p, "session.last_a_f_cnt_down") ||
            under(p, "mac_state") || under(p, "pending_mac_state") || under(p, "pending_session") ||
            under(p, "last_seen_at") || under(p, "multicast") ||
            under(p, "queued_application_downlinks"))
            continue;
        /* An NS part for what names the NS's kept fields, the plan or the versions. */
        if (own || (shared && strncmp(p, "supports_", 9) != 0))
            r->write = true;
        if (under(p, "session.keys") && strstr(p, "session_key_id") == NULL &&
            tn_devpart_get(dev->end_device, p) != NULL)
            keys = true;
        char m[LW_API_PATH_MAX];
        snprintf(m, sizeof m, "%s", p);
        if (under(m, "mac_settings")) { /* "mac_settings.<key>" is what the API applies */
            char *dot = strchr(m + 13, '.');
            if (dot != NULL)
                *dot = '\0';
        }
        if (lw_api_mask_has(&r->mask, m))
            continue;
        if (r->mask.n >= LW_API_MASK_MAX) {
            lw_api_invalid(err, p, "too many paths of the Network Server");
            free(r);
            return NULL;
        }
        snprintf(r->mask.paths[r->mask.n++], LW_API_PATH_MAX, "%s", m);
    }
    if (keys && !env->keys) {
        lw_err_set(err, &lw_err_permission_denied,
                   "writing session keys needs RIGHT_APPLICATION_DEVICES_WRITE_KEYS");
        lw_err_attr(err, "field", "session.keys");
        free(r);
        return NULL;
    }
    /* A device described whole (plan and versions) is checked now against an empty record,
     * so that a bad value fails before any part is written; what depends on the stored
     * session is checked when writing. */
    if (r->write && lw_api_mask_has(&r->mask, "frequency_plan_id") &&
        lw_api_mask_has(&r->mask, "lorawan_version") &&
        lw_api_mask_has(&r->mask, "lorawan_phy_version")) {
        ns_settings_t set;
        ns_state_t st;
        memset(&set, 0, sizeof set);
        memset(&st, 0, sizeof st);
        ns_dev_edit_t e = {
            .mask = &r->mask, .body = r->body, .idempotent = true, .set = &set, .st = &st};
        bool sw = true;
        lw_err_t te;
        lw_err_clear(&te);
        int rc = ns_dev_apply(&e, &sw, &te);
        ns_settings_destroy(&set);
        ns_state_destroy(&st);
        if (rc != 0) {
            tn_devpart_err_path(&te);
            const char *f = NULL;
            for (int i = 0; i < te.nattrs; i++)
                if (strcmp(te.attrs[i].key, "field") == 0)
                    f = te.attrs[i].value;
            if (f == NULL || !under(f, "session")) {
                *err = te;
                free(r);
                return NULL;
            }
        }
    }
    return r;
}

/* One row's new record: hex of settings and state. Returns 1 changed, 0 unchanged, -1 err. */
static int row_build(ns_t *keys, const ns_dp_row_t *r, const PGresult *q, int qi, json_t **out,
                     const char *dev_id, lw_err_t *err)
{
    ns_settings_t set;
    ns_state_t st;
    memset(&set, 0, sizeof set);
    memset(&st, 0, sizeof st);
    uint8_t *b0s = NULL, *b0t = NULL, *b1s = NULL, *b1t = NULL;
    size_t l0s = 0, l0t = 0, l1s = 0, l1t = 0;
    int rc = -1;
    bool found = qi >= 0;
    const ns_kek_t *at_rest = keys->at_rest.len > 0 ? &keys->at_rest : NULL;
    if (found) {
        size_t sl = 0, tl = 0;
        uint8_t *s = ns_bytea_parse(PQgetvalue(q, qi, 1), &sl);
        uint8_t *t = ns_bytea_parse(PQgetvalue(q, qi, 2), &tl);
        bool ok = s != NULL && t != NULL && ns_settings_decode(s, sl, &set) == 0 &&
                  ns_state_decode(t, tl, ns_kek_find, keys, &st) == 0;
        free(s);
        free(t);
        if (!ok || ns_settings_encode(&set, &b0s, &l0s) != 0 ||
            ns_state_encode(&st, at_rest, &b0t, &l0t) != 0) {
            lw_err_set(err, &lw_err_internal,
                       "the stored NS record of `%s` cannot be read (unknown KEK?)", dev_id);
            goto out;
        }
    }
    bool state_written = !found;
    ns_dev_edit_t e = {
        .mask = &r->mask, .body = r->body, .idempotent = true, .set = &set, .st = &st};
    if (ns_dev_apply(&e, &state_written, err) != 0) {
        tn_devpart_err_path(err);
        goto out;
    }
    if (ns_settings_encode(&set, &b1s, &l1s) != 0 ||
        ns_state_encode(&st, at_rest, &b1t, &l1t) != 0) {
        lw_err_set(err, &lw_err_internal, "the NS record of `%s` cannot be encoded", dev_id);
        goto out;
    }
    if (found && l0s == l1s && memcmp(b0s, b1s, l0s) == 0 && l0t == l1t &&
        memcmp(b0t, b1t, l0t) == 0) {
        rc = 0;
        goto out;
    }
    char *hs = lw_malloc(2 * l1s + 1), *ht = lw_malloc(2 * l1t + 1);
    lw_hex_encode(b1s, l1s, hs);
    lw_hex_encode(b1t, l1t, ht);
    char addr[9], paddr[9];
    const ns_session_t *pend = ns_state_pending(&st);
    snprintf(addr, sizeof addr, "%08" PRIx32, st.session.dev_addr);
    snprintf(paddr, sizeof paddr, "%08" PRIx32, pend->dev_addr);
    *out = json_pack("{ss ss ss ss? ss? sb}", "device_id", dev_id, "settings", hs, "state", ht,
                     "dev_addr", st.session.valid ? addr : NULL, "pending_dev_addr",
                     pend->valid ? paddr : NULL, "sw", state_written);
    OPENSSL_cleanse(ht, strlen(ht));
    free(hs);
    free(ht);
    rc = 1;
out:
    free(b0s);
    free(b0t);
    free(b1s);
    if (b1t != NULL)
        OPENSSL_cleanse(b1t, l1t);
    free(b1t);
    ns_settings_destroy(&set);
    ns_state_destroy(&st);
    return rc;
}

static int ns_dp_write(const tn_devpart_env_t *env, PGconn *c, const tn_devpart_dev_t *devs,
                       void *const *rows, size_t n, tn_devpart_result_t *res, lw_err_t *err)
{
    const char **ids = lw_calloc(n, sizeof *ids);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        res[i].outcome = TN_DEVPART_UNCHANGED;
        if (((const ns_dp_row_t *)rows[i])->write)
            ids[m++] = devs[i].device_id;
    }
    if (m == 0) {
        free(ids);
        return 0;
    }
    char *arr = tn_devpart_pg_array(ids, m);
    free(ids);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT device_id, settings, state FROM %s.ns_devices WHERE application_id = $1 "
             "AND device_id = ANY($2::text[]) FOR UPDATE",
             env->schema);
    const char *p[2] = {env->application_id, arr};
    PGresult *q = lw_db_query_blocking(c, sql, 2, p, err);
    free(arr);
    if (q == NULL)
        return -1;
    json_t *found = json_object();
    for (int k = 0; k < PQntuples(q); k++)
        json_object_set_new(found, PQgetvalue(q, k, 0), json_integer(k));
    ns_t *keys = ns_dp_keys(env->cfg);
    json_t *x = json_array();
    for (size_t i = 0; i < n; i++) {
        const ns_dp_row_t *r = rows[i];
        if (!r->write)
            continue;
        long qi = tn_devpart_position(found, devs[i].device_id);
        json_t *o = NULL;
        lw_err_t e;
        lw_err_clear(&e);
        int rc = row_build(keys, r, q, (int)qi, &o, devs[i].device_id, &e);
        if (rc < 0) {
            res[i].outcome = TN_DEVPART_FAILED;
            res[i].err = e;
        } else if (rc > 0) {
            res[i].outcome = qi >= 0 ? TN_DEVPART_UPDATED : TN_DEVPART_CREATED;
            json_array_append_new(x, o);
        }
    }
    PQclear(q);
    json_decref(found);
    int rc = 0;
    if (json_array_size(x) > 0) {
        snprintf(
            sql, sizeof sql,
            "WITH x AS (SELECT * FROM json_to_recordset($2::json) AS x(device_id text, settings "
            "text, state text, dev_addr text, pending_dev_addr text, sw boolean)), "
            "u AS (UPDATE %s.ns_devices n SET settings = decode(x.settings, 'hex'), state = CASE "
            "WHEN x.sw THEN decode(x.state, 'hex') ELSE n.state END, dev_addr = CASE WHEN x.sw "
            "THEN x.dev_addr ELSE n.dev_addr END, pending_dev_addr = CASE WHEN x.sw THEN "
            "x.pending_dev_addr ELSE n.pending_dev_addr END, gen = n.gen + 1, state_gen = CASE "
            "WHEN x.sw THEN n.gen + 1 ELSE n.state_gen END, updated_at = now() FROM x WHERE "
            "n.application_id = $1 AND n.device_id = x.device_id) "
            "INSERT INTO %s.ns_devices (application_id, device_id, settings, state, dev_addr, "
            "pending_dev_addr) SELECT $1, device_id, decode(settings, 'hex'), decode(state, "
            "'hex'), dev_addr, pending_dev_addr FROM x ON CONFLICT (application_id, device_id) "
            "DO NOTHING",
            env->schema, env->schema);
        q = tn_devpart_query_rows(c, sql, env->application_id, x, err);
        if (q == NULL)
            rc = -1;
        PQclear(q);
    }
    json_decref(x);
    return rc;
}

static void ns_dp_committed(lw_rt_t *rt, const tn_devpart_env_t *env, const tn_devpart_dev_t *devs,
                            void *const *rows, const tn_devpart_result_t *res, size_t n)
{
    (void)rows;
    lw_bus_t *bus = lw_rt_bus(rt);
    const char *tenant = env->tenant->id;
    for (size_t i = 0; bus != NULL && i < n; i++) {
        if (res[i].outcome != TN_DEVPART_CREATED && res[i].outcome != TN_DEVPART_UPDATED)
            continue;
        uint8_t buf[512];
        size_t len = 0;
        char key[NS_DEV_KEY_MAX + 1];
        snprintf(key, sizeof key, "%s/%s/%s", tenant, env->application_id, devs[i].device_id);
        lw_err_t e;
        lw_err_clear(&e);
        if (ns_dev_control_encode(tenant, env->application_id, devs[i].device_id,
                                  LW__MSG__NS_DEV_CONTROL__RELOAD, NULL, buf, sizeof buf,
                                  &len) != 0 ||
            lw_bus_publish(bus, "ns.dev", key, strlen(key), buf, len, &e) != 0 ||
            ns_session_change_encode(tenant, env->application_id, devs[i].device_id, buf,
                                     sizeof buf, &len) != 0 ||
            lw_bus_publish(bus, "ns.sessions", tenant, strlen(tenant), buf, len, &e) != 0)
            lw_log(LW_LOG_WARN, "ns", "device change not announced (the worker reloads it later)",
                   "tenant", tenant, "device", devs[i].device_id, "error", e.message, NULL);
    }
}

static int ns_dp_read(const tn_devpart_env_t *env, PGconn *c, const char *const *ids, size_t n,
                      json_t *const *out, lw_err_t *err)
{
    char *arr = tn_devpart_pg_array(ids, n);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT device_id, settings, state FROM %s.ns_devices WHERE application_id = $1 "
             "AND device_id = ANY($2::text[])",
             env->schema);
    const char *p[2] = {env->application_id, arr};
    PGresult *q = lw_db_query_blocking(c, sql, 2, p, err);
    free(arr);
    if (q == NULL)
        return -1;
    ns_t *keys = ns_dp_keys(env->cfg);
    json_t *pos = tn_devpart_positions(ids, n);
    /* The NS's own fields, and the registry's it keeps a copy of (where the registry has
     * none: a device set up through the NS only). */
    static const char *const shown[] = {
        "mac_settings",        "session",           "pending_session", "lorawan_version",
        "lorawan_phy_version", "frequency_plan_id", "supports_join",   "supports_class_c"};
    lw_api_mask_t mask = {.n = 0};
    for (size_t k = 0; k < sizeof shown / sizeof shown[0]; k++)
        snprintf(mask.paths[mask.n++], LW_API_PATH_MAX, "%s", shown[k]);
    int rc = 0;
    for (int r = 0; r < PQntuples(q) && rc == 0; r++) {
        long ix = tn_devpart_position(pos, PQgetvalue(q, r, 0));
        if (ix < 0)
            continue;
        ns_settings_t set;
        ns_state_t st;
        memset(&set, 0, sizeof set);
        memset(&st, 0, sizeof st);
        size_t sl = 0, tl = 0;
        uint8_t *s = ns_bytea_parse(PQgetvalue(q, r, 1), &sl);
        uint8_t *t = ns_bytea_parse(PQgetvalue(q, r, 2), &tl);
        if (s == NULL || t == NULL || ns_settings_decode(s, sl, &set) != 0 ||
            ns_state_decode(t, tl, ns_kek_find, keys, &st) != 0) {
            rc = lw_err_set(err, &lw_err_internal,
                            "the stored NS record of `%s` cannot be read (unknown KEK?)",
                            PQgetvalue(q, r, 0));
        } else {
            ns_dev_edit_t e = {.mask = &mask,
                               .keys = env->keys,
                               .set = &set,
                               .st = &st,
                               .app = env->application_id,
                               .dev = PQgetvalue(q, r, 0),
                               .created = "",
                               .updated = ""};
            json_t *o = ns_dev_render(&e);
            const char *k;
            json_t *v;
            json_object_foreach(o, k, v)
            {
                if (strcmp(k, "ids") != 0 &&
                    (!in_list(shared_paths, k) || json_object_get(out[ix], k) == NULL))
                    json_object_set(out[ix], k, v);
            }
            json_decref(o);
        }
        free(s);
        free(t);
        ns_settings_destroy(&set);
        ns_state_destroy(&st);
    }
    json_decref(pos);
    PQclear(q);
    return rc;
}

const tn_devpart_t ns_devpart = {
    .name = "ns",
    .paths = ns_part_paths,
    .prepare = ns_dp_prepare,
    .write = ns_dp_write,
    .committed = ns_dp_committed,
    .row_free = ns_dp_free,
    .read = ns_dp_read,
};
