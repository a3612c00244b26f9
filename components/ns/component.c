/* The Network Server component: configuration, lifecycle. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

static int check_net_id(const char *v, char *why, size_t n)
{
    uint8_t b[3];
    if (strlen(v) != 6 || lw_hex_decode(v, b, sizeof b) != 3) {
        snprintf(why, n, "a NetID is 6 hex digits (\"000013\")");
        return -1;
    }
    return 0;
}

static int check_prefix(const char *v, char *why, size_t n)
{
    ns_prefix_t p;
    if (ns_prefix_parse(v, &p) != 0) {
        snprintf(why, n, "a DevAddr prefix is 8 hex digits, '/', a length 1..32 (\"26000000/7\")");
        return -1;
    }
    return 0;
}

static int check_js(const char *v, char *why, size_t n)
{
    const char *eq = strchr(v, '=');
    const char *sl = strchr(v, '/');
    if (eq == NULL || sl == NULL || sl > eq || sl - v != 16 ||
        (strncmp(eq + 1, "http://", 7) != 0 && strncmp(eq + 1, "https://", 8) != 0)) {
        snprintf(why, n,
                 "a Join Server range is JOINEUI/LEN=URI (\"70b3d57ed0000000/32=https://"
                 "js.example.com/\")");
        return -1;
    }
    return 0;
}

/* RFC 6750 §2.1 b64token (letters, digits, "-._~+/", then "="s): it goes into a header. */
static int check_token(const char *v, char *why, size_t n)
{
    size_t l = strlen(v), i = 0;
    while (i < l && (isalnum((unsigned char)v[i]) || strchr("-._~+/", v[i]) != NULL))
        i++;
    bool body = i > 0;
    while (i < l && v[i] == '=')
        i++;
    if (l > 0 && (l > 256 || !body || i != l)) {
        snprintf(why, n, "a Bearer token is 1 to 256 characters: letters, digits, -._~+/, then =");
        return -1;
    }
    return 0;
}

static int check_kek(const char *v, char *why, size_t n)
{
    uint8_t b[32];
    size_t l = strlen(v);
    if (l == 0)
        return 0;
    if ((l != 32 && l != 48 && l != 64) || lw_hex_decode(v, b, sizeof b) < 0) {
        snprintf(why, n, "a KEK is 16, 24 or 32 bytes of hex");
        return -1;
    }
    return 0;
}

static const lw_cfg_opt_t ns_config[] = {
    {.key = "ns.net-id",
     .type = LW_CFG_STRING,
     .def = "000000",
     .check = check_net_id,
     .help = "NetID of this network (6 hex digits); its DevAddr prefix is used when "
             "ns.dev-addr-prefixes is empty."},
    {.key = "ns.dev-addr-prefixes",
     .type = LW_CFG_LIST,
     .check = check_prefix,
     .help = "DevAddr prefixes to assign from (\"26000000/7\", at most 8); empty: the NetID's. "
             "A tenant's configuration (default_cluster.ns.dev_addr_prefixes) overrides them."},
    {.key = "ns.deduplication-window",
     .type = LW_CFG_DURATION,
     .def = "200ms",
     .min = 1,
     .max = 10000,
     .help = "How long the gateway copies of an uplink are gathered before it is processed, "
             "counted from when the Gateway Server received the first copy."},
    {.key = "ns.deduplication-window-min",
     .type = LW_CFG_DURATION,
     .def = "20ms",
     .min = 0,
     .max = 10000,
     .help = "The least time copies are gathered after the first one reached the device "
             "worker (when the bus delivered it late or the clocks disagree)."},
    {.key = "ns.cooldown-window",
     .type = LW_CFG_DURATION,
     .def = "1s",
     .min = 0,
     .max = 60000,
     .help = "How long after processing late copies of an uplink are dropped as duplicates."},
    {.key = "ns.join-server-uri",
     .type = LW_CFG_STRING,
     .def = "http://127.0.0.1:1886/",
     .help = "Backend Interfaces URI of the Join Server for JoinEUIs no ns.join-servers range "
             "matches (the cluster's own by default)."},
    {.key = "ns.join-server-token",
     .type = LW_CFG_STRING,
     .def = "",
     .flags = LW_CFG_SECRET,
     .check = check_token,
     .help = "Bearer token sent as `Authorization: Bearer` with every Backend Interfaces "
             "request to ns.join-server-uri (the cluster's Join Server, which knows it as "
             "js.bi.tokens.<ns.net-id>); never to an ns.join-servers range: another "
             "operator's Join Server must not learn a credential ours accepts. Empty: none "
             "sent."},
    {.key = "ns.join-servers",
     .type = LW_CFG_LIST,
     .check = check_js,
     .help = "External Join Servers by JoinEUI range: JOINEUI/LEN=URI (at most 15)."},
    {.key = "ns.keks.*",
     .type = LW_CFG_MAP,
     .flags = LW_CFG_SECRET,
     .help = "Key-encryption keys by label (hex, 16/24/32 bytes) for the session keys Join "
             "Servers send wrapped (Backend Interfaces KeyEnvelope.KEKLabel)."},
    {.key = "ns.key-encryption-key",
     .type = LW_CFG_STRING,
     .def = "",
     .flags = LW_CFG_SECRET,
     .check = check_kek,
     .help = "KEK (hex, 16/24/32 bytes) wrapping session keys at rest in PostgreSQL (RFC 3394). "
             "Empty: stored in clear."},
    {.key = "ns.key-encryption-key-label",
     .type = LW_CFG_STRING,
     .def = "ns-at-rest",
     .help = "Label stored next to the keys wrapped with ns.key-encryption-key."},
    {.key = "ns.matcher.key-contexts",
     .type = LW_CFG_INT,
     .def = "4096",
     .min = 1,
     .max = 100000000,
     .help = "Expanded integrity keys the matcher keeps (about 720 bytes each), for the "
             "sessions matched most recently; another session's key is expanded when its "
             "device speaks (about half a microsecond: at 5,000 uplinks/s from 10,000 "
             "devices, 4096 and 65536 cost the same CPU per uplink)."},
    {.key = "ns.downlink-queue-capacity",
     .type = LW_CFG_INT,
     .def = "16",
     .min = 1,
     .max = 1024,
     .help = "Application downlinks queued per device; a push beyond them fails with "
             "downlink_queue_capacity."},
    {.key = "ns.downlink-tx-ack-timeout",
     .type = LW_CFG_DURATION,
     .def = "15s",
     .min = 100,
     .max = 600000,
     .help = "How long a downlink handed to the Gateway Servers waits for its transmission "
             "result; beyond it the downlink fails with no_tx_ack."},
    {.key = "ns.persist-interval",
     .type = LW_CFG_DURATION,
     .def = "20ms",
     .min = 1,
     .max = 10000,
     .help = "How often the device worker writes the state it changed (one transaction); "
             "offsets are committed after it."},
    {.key = "ns.cluster-id",
     .type = LW_CFG_STRING,
     .def = "",
     .help = "Cluster ID reported in uplinks' network_ids."},
};

static int ns_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "ns", ns_config, sizeof ns_config / sizeof ns_config[0]);
}

static void kek_each(void *arg, const char *sub, const char *value);

void ns_keys_load(ns_t *ns, const lw_config_t *cfg)
{
    lw_config_map_each(cfg, "ns.keks", kek_each, ns);
    const char *kek = lw_config_str(cfg, "ns.key-encryption-key");
    if (kek != NULL && kek[0] != '\0') {
        int kl = lw_hex_decode(kek, ns->at_rest.key, sizeof ns->at_rest.key);
        ns->at_rest.len = kl > 0 ? (size_t)kl : 0;
        ns->at_rest.label = lw_config_str(cfg, "ns.key-encryption-key-label");
    }
}

static void kek_each(void *arg, const char *sub, const char *value)
{
    ns_t *ns = arg;
    if (ns->nkeks >= sizeof ns->keks / sizeof ns->keks[0])
        return;
    ns_kek_t *k = &ns->keks[ns->nkeks];
    int n = lw_hex_decode(value, k->key, sizeof k->key);
    if (n != 16 && n != 24 && n != 32) {
        lw_log(LW_LOG_WARN, "ns", "ns.keks entry ignored: not 16/24/32 bytes of hex", "label", sub,
               NULL);
        return;
    }
    k->len = (size_t)n;
    snprintf(ns->kek_labels[ns->nkeks], sizeof ns->kek_labels[0], "%s", sub);
    k->label = ns->kek_labels[ns->nkeks];
    ns->nkeks++;
}

static int parse_js(ns_t *ns, const char *v)
{
    ns_join_server_t *j = &ns->js[ns->njs];
    uint8_t b[8];
    char eui[17];
    memcpy(eui, v, 16);
    eui[16] = '\0';
    if (lw_hex_decode(eui, b, sizeof b) != 8)
        return -1;
    j->prefix = 0;
    for (int i = 0; i < 8; i++)
        j->prefix = j->prefix << 8 | b[i];
    const char *eq = strchr(v, '=');
    j->len = (uint8_t)atoi(v + 17);
    if (j->len > 64)
        return -1;
    if (j->len < 64)
        j->prefix &= j->len == 0 ? 0 : ~0ull << (64 - j->len);
    snprintf(j->uri, sizeof j->uri, "%s", eq + 1);
    ns->njs++;
    return 0;
}

static void ns_free(void *state)
{
    ns_t *ns = state;
    if (ns == NULL)
        return;
    ns_worker_free(ns);
    free(ns->due);
    free(ns->txq);
    ns_matcher_free(ns->matcher);
    lw_http_client_free(ns->http);
    memset(ns->keks, 0, sizeof ns->keks);
    memset(ns->js_authorization, 0, sizeof ns->js_authorization);
    memset(&ns->at_rest, 0, sizeof ns->at_rest);
    free(ns);
}

/* A tenant that stops being active: its traffic is dropped from now on (the matcher and the
 * worker look the state up per message); this says so once. */
static void on_tenant_change(void *arg, const tn_tenant_t *t)
{
    (void)arg;
    if (t->deleted || !tn_state_active(t->state))
        lw_log(LW_LOG_INFO, "ns", "tenant not active: its device traffic is dropped", "tenant",
               t->id, "state", t->deleted ? "deleted" : tn_state_name(t->state), NULL);
}

static int ns_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the network server needs the tenant module");
    ns_t *ns = lw_calloc(1, sizeof *ns);
    lw_config_t *cfg = lw_rt_config(rt);
    ns->rt = rt;
    ns->loop = lw_rt_loop(rt);
    ns->db = lw_rt_db(rt);
    ns->bus = lw_rt_bus(rt);
    ns->tn = tn;
    ns->access = tn_access_from_runtime(rt);
    ns->usage = tn_usage_from_runtime(rt);
    tn_usage_producer_add(ns->usage, "ns");
    ns->env = (lw_api_env_t){.db = ns->db, .work = lw_rt_work(rt), .module = "ns"};
    uint8_t nid[3];
    lw_hex_decode(lw_config_str(cfg, "ns.net-id"), nid, sizeof nid);
    ns->net_id = (uint32_t)nid[0] << 16 | (uint32_t)nid[1] << 8 | nid[2];
    size_t n = 0;
    const char *const *pfx = lw_config_list(cfg, "ns.dev-addr-prefixes", &n);
    for (size_t i = 0; i < n && ns->nprefixes < NS_MAX_PREFIXES; i++)
        if (ns_prefix_parse(pfx[i], &ns->prefixes[ns->nprefixes]) == 0)
            ns->nprefixes++;
    if (ns->nprefixes == 0 && ns_prefix_from_net_id(ns->net_id, &ns->prefixes[0]) == 0)
        ns->nprefixes = 1;
    ns->dedup_ms = (uint64_t)lw_config_duration_ms(cfg, "ns.deduplication-window");
    ns->dedup_min_ms = (uint64_t)lw_config_duration_ms(cfg, "ns.deduplication-window-min");
    ns->cooldown_ms = (uint64_t)lw_config_duration_ms(cfg, "ns.cooldown-window");
    ns->queue_max = (size_t)lw_config_int(cfg, "ns.downlink-queue-capacity");
    ns->key_contexts = (size_t)lw_config_int(cfg, "ns.matcher.key-contexts");
    ns->tx_ack_timeout_ms = (uint64_t)lw_config_duration_ms(cfg, "ns.downlink-tx-ack-timeout");
    ns->flush_ms = (uint64_t)lw_config_duration_ms(cfg, "ns.persist-interval");
    snprintf(ns->cluster_id, sizeof ns->cluster_id, "%s", lw_config_str(cfg, "ns.cluster-id"));
    const char *const *js = lw_config_list(cfg, "ns.join-servers", &n);
    for (size_t i = 0; i < n && ns->njs < 15; i++)
        parse_js(ns, js[i]);
    ns_join_server_t *def = &ns->js[ns->njs++];
    def->len = 0;
    def->cluster = true;
    snprintf(def->uri, sizeof def->uri, "%s", lw_config_str(cfg, "ns.join-server-uri"));
    const char *jst = lw_config_str(cfg, "ns.join-server-token");
    if (jst != NULL && jst[0] != '\0')
        snprintf(ns->js_authorization, sizeof ns->js_authorization, "Bearer %s", jst);
    ns_keys_load(ns, cfg);
    lw_metrics_t *mx = lw_rt_metrics(rt);
    static const char *const result[] = {"result", NULL};
    static const char *const reason[] = {"reason", NULL};
    ns->m_up = lw_metrics_counter(mx, "lwstack_ns_uplinks_total",
                                  "Uplinks through the Network Server, by stage result", result);
    ns->m_drop = lw_metrics_counter(mx, "lwstack_ns_dropped_total",
                                    "Messages the Network Server dropped, by reason", reason);
    ns->m_down = lw_metrics_counter(mx, "lwstack_ns_downlinks_total",
                                    "Downlinks of the Network Server, by kind and result", result);
    ns->m_join = lw_metrics_counter(mx, "lwstack_ns_joins_total",
                                    "Join-requests answered by the Network Server", result);
    ns->matcher = ns_matcher_new(ns);
    if (tn_changes_subscribe(tn, on_tenant_change, ns, err) != 0) {
        ns_free(ns);
        return -1;
    }
    if (ns_api_routes(ns) != 0) {
        ns_free(ns);
        return lw_err_set(err, &lw_err_internal, "cannot register the network server's routes");
    }
    *state = ns;
    return 0;
}

/* lw.events: a device deleted in the Identity Server loses its NS part (the row goes with
 * the registry's by ON DELETE CASCADE); its owner forgets it and the matchers drop it. */
static void on_event(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    ns_t *ns = arg;
    /* Every event of the deployment passes here, several per uplink (gs.up.receive, MAC):
     * only a deletion is parsed. Events are compact JSON of our own writing, so a deletion
     * always holds the quoted name; the parse below decides. */
    static const char del[] = "\"end_device.delete\"";
    if (memmem(msg->value, msg->value_len, del, sizeof del - 1) == NULL) {
        lw_bus_commit(c, msg);
        return;
    }
    json_t *ev = json_loadb(msg->value, msg->value_len, 0, NULL);
    const char *name = json_string_value(json_object_get(ev, "name"));
    if (name != NULL && strcmp(name, "end_device.delete") == 0) {
        const char *tenant =
            json_string_value(json_object_get(json_object_get(ev, "context"), "tenant-id"));
        json_t *ids =
            json_object_get(json_array_get(json_object_get(ev, "identifiers"), 0), "device_ids");
        const char *dev = json_string_value(json_object_get(ids, "device_id"));
        const char *app = json_string_value(
            json_object_get(json_object_get(ids, "application_ids"), "application_id"));
        lw_err_t e;
        if (tenant != NULL && dev != NULL && app != NULL &&
            tn_id_validate(tenant, 3, "tenant", &e) == 0 &&
            tn_id_validate(app, 2, "application", &e) == 0 &&
            tn_id_validate(dev, 2, "device", &e) == 0) {
            Lw__Msg__NsDev d = LW__MSG__NS_DEV__INIT;
            Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
            uint8_t id[LW_MSG_ID_LEN];
            ns_random_id(id);
            env.id.data = id;
            env.id.len = sizeof id;
            env.tenant_id = (char *)tenant;
            env.schema_version = LW_MSG_SCHEMA_VERSION;
            d.envelope = &env;
            d.control = LW__MSG__NS_DEV_CONTROL__DELETE;
            uint8_t buf[256];
            size_t len = 0;
            char key[NS_DEV_KEY_MAX + 1];
            snprintf(key, sizeof key, "%s/%s/%s", tenant, app, dev);
            if (lw_msg_ns_dev_encode(&d, buf, sizeof buf, &len) == 0)
                ns_publish(ns, "ns.dev", key, buf, len);
            ns_sessions_publish(ns, tenant, app, dev);
        }
    }
    json_decref(ev);
    lw_bus_commit(c, msg);
}

static int ns_start(void *state, lw_err_t *err)
{
    ns_t *ns = state;
    lw_http_client_opts_t ho = {.name = "ns-join", .metrics = lw_rt_metrics(ns->rt)};
    ns->http = lw_http_client_new(ns->loop, &ho, err);
    if (ns->http == NULL)
        return -1;
    char t[96];
    const char *topics[] = {lw_bus_topic(ns->bus, "ns.sessions", t, sizeof t)};
    if (lw_bus_ensure_topics(ns->bus, topics, 1, err) != 0)
        return -1;
    ns_downlink_start(ns);
    if (ns_matcher_start(ns->matcher, err) != 0 || ns_worker_start(ns, err) != 0)
        return -1;
    static const char *const ev[] = {"events"};
    static const lw_bus_handler_t eh = {.on_message = on_event};
    ns->events_c = lw_bus_subscribe(ns->bus, "ns-events", ev, 1, &eh, ns, err);
    if (ns->events_c == NULL)
        return -1;
    ns->started = true;
    char addr[24];
    snprintf(addr, sizeof addr, "%08" PRIx32 "/%u", ns->prefixes[0].addr, ns->prefixes[0].len);
    lw_log(LW_LOG_INFO, "ns", "network server started", "dev_addr_prefix", addr, "keys_at_rest",
           ns->at_rest.len > 0 ? "wrapped" : "clear", NULL);
    return 0;
}

static void stop_check(uv_timer_t *t)
{
    ns_t *ns = t->data;
    if (ns->inflight > 0 || ns->flushing)
        return;
    ns->stopped = true;
    uv_timer_stop(t);
    ns_matcher_stop(ns->matcher);
    uv_close((uv_handle_t *)&ns->win_timer, NULL);
    uv_close((uv_handle_t *)&ns->flush_timer, NULL);
    ns_downlink_stop(ns);
    uv_close((uv_handle_t *)t, NULL);
    void (*done)(void *) = ns->stop_done;
    ns->stop_done = NULL;
    lw_http_client_close(ns->http, done, ns->stop_arg);
}

static void ns_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    ns_t *ns = state;
    ns->stopping = true;
    if (!ns->started) {
        done(done_arg);
        return;
    }
    ns_worker_stop(ns);
    ns->stop_done = done;
    ns->stop_arg = done_arg;
    uv_timer_init(ns->loop, &ns->stop_timer);
    ns->stop_timer.data = ns;
    uv_timer_start(&ns->stop_timer, stop_check, 0, 10);
}

const lw_component_t ns_component = {
    .name = "ns",
    .help = "Network Server: DevAddr matching, device state, MAC, downlinks, joins",
    .config_register = ns_config_register,
    .init = ns_init,
    .start = ns_start,
    .stop = ns_stop,
    .free = ns_free,
};
