/* The tenant component: configuration, the in-memory registry kept in step with PostgreSQL
 * and the lw.tenant topic, request resolution, and tenant admin keys. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cluster/log.h"
#include "tenant.pb-c.h"
#include "tenant/tenant_private.h"

/* ---- configuration --------------------------------------------------------------------- */

int tn_hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t len = strlen(hex);
    if (len % 2 != 0 || len / 2 > cap)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = (char)tolower((unsigned char)hex[i + (size_t)j]);
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i / 2] = (uint8_t)v;
    }
    return (int)(len / 2);
}

static int tn_check_admin_key(const char *value, char *why, size_t why_len)
{
    uint8_t buf[32];
    int n = tn_hex_decode(value, buf, sizeof buf);
    OPENSSL_cleanse(buf, sizeof buf);
    if (n != 16 && n != 24 && n != 32) {
        snprintf(why, why_len, "a tenant admin key is 16, 24 or 32 bytes in hex");
        return -1;
    }
    return 0;
}

static int tn_check_id(const char *value, char *why, size_t why_len)
{
    lw_err_t err;
    if (tn_id_validate(value, 3, "tenancy.default-id", &err) != 0) {
        snprintf(why, why_len, "%s", err.message);
        return -1;
    }
    return 0;
}

static int tn_check_domain(const char *value, char *why, size_t why_len)
{
    for (const char *p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
            snprintf(why, why_len, "not a host name");
            return -1;
        }
    }
    return 0;
}

static const lw_cfg_opt_t tn_config[] = {
    {.key = "tenancy.admin-keys",
     .type = LW_CFG_LIST,
     .flags = LW_CFG_SECRET,
     .check = tn_check_admin_key,
     .help = "Tenant admin keys (hex, 16/24/32 bytes) for `Authorization: TenantAdminKey`."},
    {.key = "tenancy.base-domains",
     .type = LW_CFG_LIST,
     .check = tn_check_domain,
     .help = "Base domains: a request to <tenant>.<base domain> belongs to <tenant>."},
    {.key = "tenancy.default-id",
     .type = LW_CFG_STRING,
     .check = tn_check_id,
     .help = "Tenant of requests that name none (no tenant host name, no X-Tenant-ID)."},
    {.key = "tenancy.refresh-interval",
     .type = LW_CFG_DURATION,
     .def = "30s",
     .min = 100,
     .max = 86400000,
     .help = "How often the registry is reloaded from PostgreSQL besides lw.tenant updates."},
};

static int tn_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "tenant", tn_config, sizeof tn_config / sizeof tn_config[0]);
}

/* ---- the table ------------------------------------------------------------------------- */

static uint64_t tn_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void tn_table_grow(tn_table_t *tab)
{
    size_t ncap = tab->cap ? tab->cap * 2 : 64;
    tn_entry_t *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        abort();
    for (size_t i = 0; i < tab->cap; i++) {
        if (!tab->slots[i].used)
            continue;
        size_t j = tn_hash(tab->slots[i].t.id) & (ncap - 1);
        while (ns[j].used)
            j = (j + 1) & (ncap - 1);
        ns[j] = tab->slots[i];
    }
    free(tab->slots);
    tab->slots = ns;
    tab->cap = ncap;
}

void tn_table_put(tn_table_t *tab, const tn_tenant_t *t, int64_t updated_at_ms)
{
    if ((tab->n + 1) * 4 >= tab->cap * 3)
        tn_table_grow(tab);
    size_t j = tn_hash(t->id) & (tab->cap - 1);
    while (tab->slots[j].used && strcmp(tab->slots[j].t.id, t->id) != 0)
        j = (j + 1) & (tab->cap - 1);
    if (!tab->slots[j].used)
        tab->n++;
    tab->slots[j] = (tn_entry_t){.t = *t, .updated_at_ms = updated_at_ms, .used = true};
}

const tn_entry_t *tn_table_get(const tn_table_t *tab, const char *id)
{
    if (tab->cap == 0)
        return NULL;
    size_t j = tn_hash(id) & (tab->cap - 1);
    while (tab->slots[j].used) {
        if (strcmp(tab->slots[j].t.id, id) == 0)
            return &tab->slots[j];
        j = (j + 1) & (tab->cap - 1);
    }
    return NULL;
}

void tn_table_free(tn_table_t *tab)
{
    free(tab->slots);
    *tab = (tn_table_t){0};
}

bool tn_get(const tn_t *tn, const char *id, tn_tenant_t *out)
{
    const tn_entry_t *e = tn_table_get(&tn->table, id);
    if (e == NULL || e->t.deleted)
        return false;
    if (out != NULL)
        *out = e->t;
    return true;
}

/* ---- reload from PostgreSQL -------------------------------------------------------------- */

static int64_t tn_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void tn_on_refresh(uv_timer_t *t);

typedef struct tn_reload {
    tn_t *tn;
    int64_t started_ms;
} tn_reload_t;

static const char *const tn_limit_columns =
    "max_applications, max_clients, max_end_devices, max_gateways, max_organizations, "
    "max_users";

static void tn_row_to_tenant(const PGresult *res, int row, tn_tenant_t *t, int64_t *updated_ms)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", PQgetvalue(res, row, 0));
    tn_schema_name(t->id, t->schema);
    t->state = (tn_state_t)atoi(PQgetvalue(res, row, 1));
    t->deleted = !PQgetisnull(res, row, 2);
    *updated_ms = strtoll(PQgetvalue(res, row, 3), NULL, 10);
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t->limits[k] = PQgetisnull(res, row, 4 + k)
                           ? TN_UNLIMITED
                           : strtoll(PQgetvalue(res, row, 4 + k), NULL, 10);
}

static void tn_reload_done(void *arg, const PGresult *res, const lw_err_t *err)
{
    tn_reload_t *rl = arg;
    tn_t *tn = rl->tn;
    tn->reloading = false;
    if (err != NULL && err->def != NULL) {
        lw_log(LW_LOG_WARN, "tenant", "registry reload failed", "error", lw_err_name(err),
               "message", err->message, NULL);
        /* Until the first read succeeds the process is not ready: try again in a second. */
        if (!tn->loaded && !tn->stopping)
            uv_timer_start(&tn->refresh, tn_on_refresh, 1000, (uint64_t)tn->refresh_ms);
        free(rl);
        return;
    }
    tn_table_t fresh = {0};
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        tn_tenant_t t;
        int64_t updated_ms;
        tn_row_to_tenant(res, i, &t, &updated_ms);
        const tn_entry_t *cur = tn_table_get(&tn->table, t.id);
        /* A bus update newer than this snapshot wins. */
        if (cur != NULL && cur->updated_at_ms > updated_ms)
            tn_table_put(&fresh, &cur->t, cur->updated_at_ms);
        else
            tn_table_put(&fresh, &t, updated_ms);
    }
    /* Tenants that arrived over the bus after the snapshot was taken are kept too. */
    for (size_t i = 0; i < tn->table.cap; i++) {
        const tn_entry_t *e = &tn->table.slots[i];
        if (e->used && e->updated_at_ms > rl->started_ms && tn_table_get(&fresh, e->t.id) == NULL)
            tn_table_put(&fresh, &e->t, e->updated_at_ms);
    }
    tn_table_free(&tn->table);
    tn->table = fresh;
    if (!tn->loaded) {
        char count[16];
        snprintf(count, sizeof count, "%d", rows);
        lw_log(LW_LOG_INFO, "tenant", "registry loaded", "tenants", count, NULL);
    }
    tn->loaded = true;
    free(rl);
}

static void tn_reload(tn_t *tn)
{
    if (tn->reloading || tn->stopping)
        return;
    tn_reload_t *rl = malloc(sizeof *rl);
    if (rl == NULL)
        return;
    rl->tn = tn;
    rl->started_ms = tn_now_ms();
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT tenant_id, state, deleted_at, "
             "(extract(epoch FROM updated_at) * 1000)::bigint, %s FROM lw_control.tenants",
             tn_limit_columns);
    if (lw_db_query(tn->db, sql, 0, NULL, tn_reload_done, rl) != 0) {
        free(rl);
        return;
    }
    tn->reloading = true;
}

static void tn_on_refresh(uv_timer_t *t)
{
    tn_reload(t->data);
}

/* ---- lw.tenant ------------------------------------------------------------------------- */

void tn_registry_changed(tn_t *tn, const tn_tenant_t *t, int64_t updated_at_ms, bool purged)
{
    tn_tenant_t copy = *t;
    if (purged)
        copy.deleted = true;
    tn_table_put(&tn->table, &copy, updated_at_ms);
    lw_metric_add(tn->m_changes, NULL, 1);

    Lwstack__Tenant__TenantState msg = LWSTACK__TENANT__TENANT_STATE__INIT;
    int64_t limits[TN_LIMIT_COUNT];
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        limits[k] = t->limits[k] == TN_UNLIMITED ? -1 : t->limits[k];
    msg.tenant_id = copy.id;
    msg.state = (uint32_t)t->state;
    msg.n_limits = TN_LIMIT_COUNT;
    msg.limits = limits;
    msg.deleted = copy.deleted;
    msg.purged = purged;
    msg.updated_at_ms = updated_at_ms;
    msg.origin.data = tn->origin;
    msg.origin.len = sizeof tn->origin;
    uint8_t buf[256];
    size_t len = lwstack__tenant__tenant_state__get_packed_size(&msg);
    if (len > sizeof buf)
        return;
    lwstack__tenant__tenant_state__pack(&msg, buf);
    lw_err_t err;
    if (lw_bus_publish(tn->bus, "tenant", copy.id, strlen(copy.id), buf, len, &err) != 0)
        /* Other processes still converge at their next reload. */
        lw_log(LW_LOG_ERROR, "tenant", "cannot publish tenant change", "tenant", copy.id, "error",
               err.message, NULL);
}

static void tn_on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    tn_t *tn = arg;
    Lwstack__Tenant__TenantState *msg =
        lwstack__tenant__tenant_state__unpack(NULL, m->value_len, m->value);
    if (msg == NULL) {
        lw_log(LW_LOG_WARN, "tenant", "undecodable lw.tenant message dropped", "id", m->id, NULL);
        return;
    }
    tn_tenant_t t;
    lw_err_t err;
    if (msg->origin.len == sizeof tn->origin &&
        memcmp(msg->origin.data, tn->origin, sizeof tn->origin) == 0)
        goto out; /* our own change, applied when made */
    if (tn_id_validate(msg->tenant_id, 3, "tenant_id", &err) != 0 || msg->state > 4)
        goto out;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", msg->tenant_id);
    tn_schema_name(t.id, t.schema);
    t.state = (tn_state_t)msg->state;
    t.deleted = msg->deleted || msg->purged;
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t.limits[k] =
            (size_t)k < msg->n_limits && msg->limits[k] >= 0 ? msg->limits[k] : TN_UNLIMITED;
    const tn_entry_t *cur = tn_table_get(&tn->table, t.id);
    if (cur == NULL || cur->updated_at_ms <= msg->updated_at_ms) {
        /* History read at start-up is not news: log only changes to what we held. */
        bool news = cur != NULL && (cur->t.state != t.state || cur->t.deleted != t.deleted);
        tn_table_put(&tn->table, &t, msg->updated_at_ms);
        lw_log(news ? LW_LOG_INFO : LW_LOG_DEBUG, "tenant", "tenant change applied", "tenant", t.id,
               "state", tn_state_name(t.state), "deleted", t.deleted ? "true" : "false", NULL);
    }
out:
    lwstack__tenant__tenant_state__free_unpacked(msg, NULL);
}

static void tn_on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    (void)parts;
    (void)n;
    /* Changes published before our partitions were assigned are not delivered to a new
     * private group: read them from PostgreSQL instead. */
    tn_reload(arg);
}

/* ---- resolution ------------------------------------------------------------------------- */

int tn_resolve_id(const char *const *base_domains, size_t n_base_domains, const char *default_id,
                  const char *host, const char *header_tenant_id, char out[TN_ID_MAX + 1],
                  lw_err_t *err)
{
    const char *found = NULL;
    size_t found_len = 0, best = 0;
    bool bare = false;
    size_t hlen = host != NULL ? strlen(host) : 0;
    /* The longest base domain that the host ends in wins. */
    for (size_t i = 0; i < n_base_domains; i++) {
        size_t dlen = strlen(base_domains[i]);
        if (dlen <= best || hlen < dlen || strcasecmp(host + hlen - dlen, base_domains[i]) != 0)
            continue;
        if (hlen == dlen) {
            bare = true;
            best = dlen;
            found = NULL;
            continue;
        }
        if (host[hlen - dlen - 1] != '.')
            continue;
        /* <tenant>.<base domain>: the label right before the base domain. */
        const char *end = host + hlen - dlen - 1;
        const char *start = end;
        while (start > host && start[-1] != '.')
            start--;
        best = dlen;
        bare = false;
        found = start;
        found_len = (size_t)(end - start);
    }
    if (found != NULL) {
        if (found_len == 0 || found_len > TN_ID_MAX) {
            lw_err_set(err, &lw_err_tenant_not_found, "tenant `%.*s` not found",
                       (int)(found_len > 64 ? 64 : found_len), found);
            return -1;
        }
        memcpy(out, found, found_len);
        out[found_len] = '\0';
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else if (!bare && header_tenant_id != NULL && *header_tenant_id != '\0') {
        if (strlen(header_tenant_id) > TN_ID_MAX) {
            lw_err_set(err, &lw_err_tenant_not_found, "tenant `%.36s...` not found",
                       header_tenant_id);
            return -1;
        }
        snprintf(out, TN_ID_MAX + 1, "%s", header_tenant_id);
    } else if (default_id != NULL && *default_id != '\0') {
        snprintf(out, TN_ID_MAX + 1, "%s", default_id);
    } else {
        return lw_err_set(err, &lw_err_missing_tenant_id,
                          "missing tenant ID: use a tenant host name, the X-Tenant-ID header, "
                          "or configure tenancy.default-id");
    }
    lw_err_t id_err;
    if (tn_id_validate(out, 3, "tenant_id", &id_err) != 0) {
        lw_err_set(err, &lw_err_tenant_not_found, "tenant `%s` not found", out);
        lw_err_attr(err, "tenant_id", out);
        return -1;
    }
    return 0;
}

int tn_resolve(const tn_t *tn, const lw_http_req_t *req, tn_tenant_t *out, lw_err_t *err)
{
    char id[TN_ID_MAX + 1];
    if (tn_resolve_id(tn->base_domains, tn->n_base_domains, tn->default_id, lw_http_host(req),
                      lw_http_header(req, "x-tenant-id"), id, err) != 0)
        return -1;
    if (!tn_get(tn, id, out)) {
        lw_err_set(err, &lw_err_tenant_not_found, "tenant `%s` not found", id);
        lw_err_attr(err, "tenant_id", id);
        return -1;
    }
    if (!tn_state_active(out->state)) {
        lw_err_set(err, &lw_err_tenant_not_active, "tenant `%s` is not active (%s)", id,
                   tn_state_name(out->state));
        lw_err_attr(err, "tenant_id", id);
        lw_err_attr(err, "state", tn_state_name(out->state));
        return -1;
    }
    return 0;
}

static void tn_route_trampoline(lw_http_req_t *req, void *arg)
{
    tn_route_ctx_t *rc = arg;
    tn_tenant_t t;
    lw_err_t err;
    lw_err_clear(&err);
    if (tn_resolve(rc->tn, req, &t, &err) != 0) {
        lw_http_respond_err(req, &err);
        return;
    }
    rc->handler(req, &t, rc->arg);
}

int tn_route(tn_t *tn, const char *method, const char *pattern, tn_handler_t handler, void *arg)
{
    tn_route_ctx_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL)
        return -1;
    *rc = (tn_route_ctx_t){.next = tn->routes, .tn = tn, .handler = handler, .arg = arg};
    tn->routes = rc;
    return lw_http_route(tn->http, method, pattern, tn_route_trampoline, rc);
}

/* ---- admin keys ------------------------------------------------------------------------- */

bool tn_admin_key_valid(const tn_t *tn, const char *authorization)
{
    static const char scheme[] = "TenantAdminKey ";
    if (authorization == NULL || strncasecmp(authorization, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *hex = authorization + sizeof scheme - 1;
    while (*hex == ' ')
        hex++;
    uint8_t given[32];
    int n = tn_hex_decode(hex, given, sizeof given);
    bool ok = false;
    /* Every configured key is compared, in constant time, whatever matched before. */
    for (size_t i = 0; i < tn->n_admin_keys; i++) {
        uint8_t a[32] = {0};
        if (n > 0)
            memcpy(a, given, (size_t)n);
        int same =
            CRYPTO_memcmp(a, tn->admin_keys[i], 32) == 0 && (size_t)n == tn->admin_key_len[i];
        ok = ok || same;
        OPENSSL_cleanse(a, sizeof a);
    }
    OPENSSL_cleanse(given, sizeof given);
    return ok;
}

int tn_admin_auth(const tn_t *tn, const lw_http_req_t *req, lw_err_t *err)
{
    const char *auth = lw_http_header(req, "authorization");
    if (auth == NULL || *auth == '\0')
        return lw_err_set(err, &lw_err_unauthenticated,
                          "missing `Authorization: TenantAdminKey <key>` header");
    if (strncasecmp(auth, "TenantAdminKey ", 15) != 0)
        return lw_err_set(err, &lw_err_permission_denied,
                          "the tenant registry needs a tenant admin key");
    if (!tn_admin_key_valid(tn, auth))
        return lw_err_set(err, &lw_err_invalid_tenant_admin_key, "invalid tenant admin key");
    return 0;
}

/* ---- component -------------------------------------------------------------------------- */

tn_t *tn_from_runtime(lw_rt_t *rt)
{
    return lw_rt_component(rt, "tenant");
}

void tn_set_create_hook(tn_t *tn, const tn_create_hook_t *hook)
{
    tn->hook = *hook;
    tn->have_hook = true;
}

const lw_migration_set_t *tn_migrations(const tn_t *tn)
{
    return tn->migrations;
}

static int tn_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = calloc(1, sizeof *tn);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "out of memory");
    *state = tn;
    tn->rt = rt;
    tn->db = lw_rt_db(rt);
    tn->bus = lw_rt_bus(rt);
    tn->http = lw_rt_http(rt);
    const lw_config_t *cfg = lw_rt_config(rt);

    size_t n;
    const char *const *keys = lw_config_list(cfg, "tenancy.admin-keys", &n);
    for (size_t i = 0; i < n && i < TN_MAX_ADMIN_KEYS; i++) {
        int len = tn_hex_decode(keys[i], tn->admin_keys[i], 32);
        if (len > 0)
            tn->admin_key_len[tn->n_admin_keys++] = (size_t)len;
    }
    const char *const *domains = lw_config_list(cfg, "tenancy.base-domains", &n);
    for (size_t i = 0; i < n && i < TN_MAX_BASE_DOMAINS; i++)
        tn->base_domains[tn->n_base_domains++] = domains[i];
    tn->default_id = lw_config_str(cfg, "tenancy.default-id");
    tn->refresh_ms = lw_config_duration_ms(cfg, "tenancy.refresh-interval");

    const char *dir = lw_config_str(cfg, "db.migrations-dir");
    if (dir != NULL) {
        if (lw_migrations_load(dir, &tn->loaded_migrations, err) != 0)
            return -1;
        tn->migrations = &tn->loaded_migrations;
    } else {
        tn->migrations = lw_migrations_embedded();
    }
    RAND_bytes(tn->origin, sizeof tn->origin);
    tn->m_changes = lw_metrics_counter(lw_rt_metrics(rt), "lwstack_tenant_changes_total",
                                       "Tenant changes made by this process", NULL);
    uv_timer_init(lw_rt_loop(rt), &tn->refresh);
    tn->refresh.data = tn;
    tn_api_register(tn);
    return 0;
}

static int tn_start(void *state, lw_err_t *err)
{
    tn_t *tn = state;
    char topic[128];
    const char *topics[] = {lw_bus_topic(tn->bus, "tenant", topic, sizeof topic)};
    if (lw_bus_ensure_topics(tn->bus, topics, 1, err) != 0)
        return -1;
    static const lw_bus_handler_t handler = {.on_message = tn_on_message,
                                             .on_assign = tn_on_assign};
    const char *names[] = {"tenant"};
    /* Every process reads lw.tenant from the start: changes older than what the registry
     * holds are ignored (updated_at_ms), and none published around the assignment is
     * missed. */
    static const lw_bus_sub_opts_t opts = {.from_beginning = true};
    tn->consumer = lw_bus_subscribe_opts(tn->bus, NULL, names, 1, &handler, tn, &opts, err);
    if (tn->consumer == NULL)
        return -1;
    tn_reload(tn);
    uv_timer_start(&tn->refresh, tn_on_refresh, (uint64_t)tn->refresh_ms, (uint64_t)tn->refresh_ms);
    return 0;
}

static void tn_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    tn_t *tn = state;
    tn->stopping = true;
    uv_timer_stop(&tn->refresh);
    if (!uv_is_closing((uv_handle_t *)&tn->refresh))
        uv_close((uv_handle_t *)&tn->refresh, NULL);
    done(done_arg);
}

static void tn_free(void *state)
{
    tn_t *tn = state;
    if (tn == NULL)
        return;
    while (tn->routes != NULL) {
        tn_route_ctx_t *next = tn->routes->next;
        free(tn->routes);
        tn->routes = next;
    }
    if (tn->migrations == &tn->loaded_migrations)
        lw_migrations_free(&tn->loaded_migrations);
    tn_table_free(&tn->table);
    OPENSSL_cleanse(tn->admin_keys, sizeof tn->admin_keys);
    free(tn);
}

/* Not ready until the registry has been read once: before that every tenant would be
 * `tenant_not_found`. A failed first read is retried soon rather than at the next refresh. */
static bool tn_ready(const void *state)
{
    const tn_t *tn = state;
    return tn->loaded;
}

const lw_component_t tn_component = {
    .name = "tenant",
    .help = "tenant registry, /api/v3/tenants, request resolution",
    .config_register = tn_config_register,
    .init = tn_init,
    .start = tn_start,
    .stop = tn_stop,
    .free = tn_free,
    .ready = tn_ready,
};
