/* The Join Server component: configuration, lifecycle, events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "js/js.h"
#include "js/js_private.h"
#include "cluster/event.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* A KEK in hex: 16, 24 or 32 bytes (AES-128/192/256 key wrap, RFC 3394). */
static int kek_parse(const char *value, js_kek_t *out)
{
    size_t n = value != NULL ? strlen(value) : 0;
    if (n != 32 && n != 48 && n != 64)
        return -1;
    return lorawan_hex_decode(value, n, out->key, sizeof out->key, &out->len) == 0 ? 0 : -1;
}

static int kek_check(const char *value, char *why, size_t why_len)
{
    js_kek_t k;
    int rc = kek_parse(value, &k);
    OPENSSL_cleanse(&k, sizeof k);
    if (rc != 0)
        snprintf(why, why_len, "must be 32, 48 or 64 hex digits (an AES-128/192/256 key)");
    return rc;
}

static int label_check(const char *value, char *why, size_t why_len)
{
    if (strlen(value) > JS_LABEL_MAX) {
        snprintf(why, why_len, "at most %u characters", JS_LABEL_MAX);
        return -1;
    }
    return 0;
}

static const lw_cfg_opt_t js_config[] = {
    {.key = "js.listen",
     .type = LW_CFG_STRING,
     .def = ":1886",
     .help = "Address of the LoRaWAN Backend Interfaces 1.0/1.1 listener (JoinReq, AppSKeyReq; "
             "POST on any path, as The Things Stack's interop server)."},
    {.key = "js.tls.certificate",
     .type = LW_CFG_STRING,
     .help = "PEM certificate (chain) file; with js.tls.key set, js.listen serves Backend "
             "Interfaces over HTTPS (external network servers) instead of plain HTTP."},
    {.key = "js.tls.key",
     .type = LW_CFG_STRING,
     .help = "PEM private key file of js.tls.certificate (a path, not the key)."},
    {.key = "js.key-encryption-key",
     .type = LW_CFG_STRING,
     .flags = LW_CFG_SECRET,
     .check = kek_check,
     .help = "Key (hex, 16/24/32 bytes) that wraps root keys and session keys at rest (RFC "
             "3394). Without it no device with root keys can be stored."},
    {.key = "js.keks.*",
     .type = LW_CFG_MAP,
     .flags = LW_CFG_SECRET,
     .help = "Key-encryption keys by label (js.keks.<label>: hex, 16/24/32 bytes) for the "
             "session keys sent to Network and Application Servers."},
    {.key = "js.network-server-kek-label",
     .type = LW_CFG_STRING,
     .def = "",
     .check = label_check,
     .help = "Label of the KEK (js.keks.<label>) wrapping the network session keys of a "
             "JoinAns; empty: keys in clear, for a trusted local link. A device's "
             "network_server_kek_label overrides it."},
    {.key = "js.application-server-kek-label",
     .type = LW_CFG_STRING,
     .def = "",
     .check = label_check,
     .help = "Label of the KEK wrapping the AppSKey of a JoinAns and an AppSKeyAns; empty: in "
             "clear. A device's application_server_kek_label overrides it."},
    {.key = "js.bi.tokens.*",
     .type = LW_CFG_MAP,
     .flags = LW_CFG_SECRET,
     .help = "Who may call Backend Interfaces: js.bi.tokens.<sender> is the Bearer token "
             "(Authorization header) of SenderID <sender>: a network server's NetID as six hex "
             "digits (JoinReq, HomeNSReq), an Application Server's AS-ID (AppSKeyReq). At most "
             "64 senders; a request without its sender's token is refused (401, "
             "UnknownSender)."},
    {.key = "js.bi.allow-unauthenticated",
     .type = LW_CFG_BOOL,
     .def = "false",
     .help = "Development only: accept Backend Interfaces requests without a token (or from a "
             "sender without one). A wrong token for a sender with one is still refused."},
    {.key = "js.dev-nonce-limit",
     .type = LW_CFG_INT,
     .def = "10",
     .min = 1,
     .max = JS_DEV_NONCE_LIMIT_MAX,
     .help = "Used DevNonces kept per LoRaWAN 1.0.0-1.0.3 device (a reused one is refused); "
             "1.0.4 and 1.1 devices keep only the last, which must increase."},
};

static int js_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "js", js_config, sizeof js_config / sizeof js_config[0]);
}

const js_kek_t *js_kek_find(const js_t *js, const char *label)
{
    for (size_t i = 0; i < js->n_keks; i++)
        if (strcmp(js->keks[i].label, label) == 0)
            return &js->keks[i];
    return NULL;
}

typedef struct kek_load {
    js_t *js;
    char bad[JS_LABEL_MAX + 16];
} kek_load_t;

static void kek_each(void *arg, const char *subkey, const char *value)
{
    kek_load_t *l = arg;
    js_t *js = l->js;
    if (l->bad[0] != '\0')
        return;
    if (strlen(subkey) == 0 || strlen(subkey) > JS_LABEL_MAX || js->n_keks >= JS_KEKS_MAX ||
        kek_parse(value, &js->keks[js->n_keks]) != 0) {
        snprintf(l->bad, sizeof l->bad, "%.*s", (int)JS_LABEL_MAX, subkey);
        return;
    }
    snprintf(js->keks[js->n_keks].label, sizeof js->keks[0].label, "%s", subkey);
    js->n_keks++;
}

typedef struct sender_load {
    js_t *js;
    char bad[JS_BI_ID_MAX + 16];
    const char *why;
} sender_load_t;

static void sender_each(void *arg, const char *subkey, const char *value)
{
    sender_load_t *l = arg;
    js_t *js = l->js;
    if (l->bad[0] != '\0')
        return;
    js_bi_sender_t s;
    if (js_bi_sender_init(&s, subkey, value) != 0)
        l->why = "a Bearer token of 1 to 256 characters (letters, digits, -._~+/, then =) "
                 "expected for a sender of at most 64 characters";
    else if (js->n_senders >= JS_BI_SENDERS_MAX)
        l->why = "at most 64 senders";
    for (size_t i = 0; l->why == NULL && i < js->n_senders; i++)
        if (strcmp(js->senders[i].id, s.id) == 0)
            l->why = "the sender is configured twice (sender IDs are compared in lowercase)";
    if (l->why != NULL) {
        snprintf(l->bad, sizeof l->bad, "%.*s", (int)JS_BI_ID_MAX, subkey);
        OPENSSL_cleanse(&s, sizeof s);
        return;
    }
    js->senders[js->n_senders++] = s;
    OPENSSL_cleanse(&s, sizeof s);
}

void js_inflight_add(js_t *js, int delta)
{
    js->inflight += delta;
    if (js->stopping && js->inflight == 0 && js->http_stopped && js->stop_done != NULL) {
        void (*done)(void *) = js->stop_done;
        js->stop_done = NULL;
        done(js->stop_arg);
    }
}

void js_event_publish(js_t *js, const char *tenant_id, const char *name, const char *app_id,
                      const char *dev_id, uint64_t join_eui, uint64_t dev_eui, json_t *data,
                      const char *correlation_id)
{
    json_t *ids = lw_event_device_ids(app_id, dev_id);
    json_t *dev = json_object_get(json_array_get(ids, 0), "device_ids");
    char eui[17];
    if (join_eui != 0) {
        snprintf(eui, sizeof eui, "%016llX", (unsigned long long)join_eui);
        json_object_set_new(dev, "join_eui", json_string(eui));
    }
    if (dev_eui != 0) {
        snprintf(eui, sizeof eui, "%016llX", (unsigned long long)dev_eui);
        json_object_set_new(dev, "dev_eui", json_string(eui));
    }
    char unique[160];
    if (correlation_id != NULL)
        snprintf(unique, sizeof unique, "%s/%s", correlation_id, name);
    lw_event_t e = {
        .module = "js",
        .tenant = tenant_id,
        .name = name,
        .identifiers = ids,
        .data = data,
        .correlation_id = correlation_id,
        .unique_id = correlation_id != NULL ? unique : NULL,
    };
    lw_event_publish(js->bus, &e);
}

static void js_free(void *state)
{
    js_t *js = state;
    if (js == NULL)
        return;
    lw_http_free(js->http);
    OPENSSL_cleanse(js, sizeof *js);
    free(js);
}

int js_keys_load(js_t *js, const lw_config_t *cfg, lw_err_t *err)
{
    const char *root = lw_config_str(cfg, "js.key-encryption-key");
    if (root != NULL && root[0] != '\0') {
        if (kek_parse(root, &js->root_kek) != 0) {
            return lw_err_set(err, &lw_err_config_invalid,
                              "invalid value for `js.key-encryption-key`");
        }
        js->has_root_kek = true;
    }
    kek_load_t l = {.js = js};
    lw_config_map_each(cfg, "js.keks", kek_each, &l);
    if (l.bad[0] != '\0') {
        lw_err_set(err, &lw_err_config_invalid,
                   "invalid value for `js.keks.%s`: 32, 48 or 64 hex digits expected (at most "
                   "%u KEKs, labels of at most %u characters)",
                   l.bad, JS_KEKS_MAX, JS_LABEL_MAX);
        return -1;
    }
    snprintf(js->ns_kek_label, sizeof js->ns_kek_label, "%s",
             lw_config_str(cfg, "js.network-server-kek-label"));
    snprintf(js->as_kek_label, sizeof js->as_kek_label, "%s",
             lw_config_str(cfg, "js.application-server-kek-label"));
    const char *labels[2] = {js->ns_kek_label, js->as_kek_label};
    const char *keys[2] = {"js.network-server-kek-label", "js.application-server-kek-label"};
    for (int i = 0; i < 2; i++)
        if (labels[i][0] != '\0' && js_kek_find(js, labels[i]) == NULL) {
            lw_err_set(err, &lw_err_config_invalid, "`%s` is `%s` but `js.keks.%s` is not set",
                       keys[i], labels[i], labels[i]);
            return -1;
        }
    return 0;
}

static int js_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the join server needs the tenant module");
    lw_config_t *cfg = lw_rt_config(rt);
    js_t *js = lw_calloc(1, sizeof *js);
    js->rt = rt;
    js->db = lw_rt_db(rt);
    js->bus = lw_rt_bus(rt);
    js->tn = tn;
    js->env = (lw_api_env_t){.db = js->db, .work = lw_rt_work(rt), .module = "js"};
    snprintf(js->listen, sizeof js->listen, "%s", lw_config_str(cfg, "js.listen"));
    if (js_keys_load(js, cfg, err) != 0) {
        js_free(js);
        return -1;
    }
    js->dev_nonce_limit = (size_t)lw_config_int(cfg, "js.dev-nonce-limit");
    sender_load_t sl = {.js = js};
    lw_config_map_each(cfg, "js.bi.tokens", sender_each, &sl);
    if (sl.bad[0] != '\0') {
        lw_err_set(err, &lw_err_config_invalid, "invalid value for `js.bi.tokens.%s`: %s", sl.bad,
                   sl.why);
        js_free(js);
        return -1;
    }
    js->allow_unauthenticated = lw_config_bool(cfg, "js.bi.allow-unauthenticated");

    lw_metrics_t *m = lw_rt_metrics(rt);
    js->m_joins = lw_metrics_counter(m, "lwstack_js_join_requests_total",
                                     "Join-requests handled by the Join Server, by result",
                                     (const char *const[]){"result", NULL});
    js->m_requests = lw_metrics_counter(
        m, "lwstack_js_interop_requests_total",
        "Backend Interfaces requests answered by the Join Server, by message type and result",
        (const char *const[]){"message_type", "result", NULL});

    lw_http_opts_t opts = {
        .name = "interop",
        .listen = js->listen,
        .listen_key = "js.listen",
        .tls_certificate = lw_config_str(cfg, "js.tls.certificate"),
        .tls_key = lw_config_str(cfg, "js.tls.key"),
        .max_body_bytes = 32768, /* as The Things Stack's interop server */
    };
    js->tls = opts.tls_certificate != NULL && opts.tls_certificate[0] != '\0';
    js->http = lw_http_new_opts(lw_rt_loop(rt), &opts, err);
    if (js->http == NULL) {
        js_free(js);
        return -1;
    }
    lw_http_set_metrics(js->http, m);
    if (js_bi_routes(js) != 0 || js_device_routes(js) != 0) {
        js_free(js);
        return lw_err_set(err, &lw_err_internal, "cannot register the join server's routes");
    }
    *state = js;
    return 0;
}

static int js_start(void *state, lw_err_t *err)
{
    js_t *js = state;
    if (lw_http_start(js->http, err) != 0)
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%d", lw_http_port(js->http));
    lw_log(LW_LOG_INFO, "js", "join server started", "listen", js->listen, "port", port, "tls",
           js->tls ? "true" : "false", "root_keys_at_rest",
           js->has_root_kek ? "wrapped" : "unavailable", NULL);
    if (!js->has_root_kek)
        lw_log(LW_LOG_WARN, "js",
               "js.key-encryption-key is not set: devices with root keys cannot be stored", NULL);
    char senders[16];
    snprintf(senders, sizeof senders, "%zu", js->n_senders);
    if (js->allow_unauthenticated)
        lw_log(LW_LOG_WARN, "js",
               "js.bi.allow-unauthenticated is on: Backend Interfaces requests without a token "
               "are accepted (development only)",
               "senders_with_token", senders, NULL);
    else if (js->n_senders == 0)
        lw_log(LW_LOG_WARN, "js",
               "no js.bi.tokens.<sender> is set: every Backend Interfaces request is refused",
               NULL);
    return 0;
}

static void js_free_timer_closed(uv_handle_t *h)
{
    js_t *js = h->data;
    js->http_stopped = true;
    js_inflight_add(js, 0);
}

/* The listener's memory (and h2o's timers) go while the loop still runs: the runtime closes
 * every handle left before it frees the components. */
static void js_free_http(uv_timer_t *t)
{
    js_t *js = t->data;
    lw_http_free(js->http);
    js->http = NULL;
    uv_close((uv_handle_t *)t, js_free_timer_closed);
}

static void js_http_stopped(void *arg)
{
    js_t *js = arg;
    uv_timer_init(lw_rt_loop(js->rt), &js->free_timer);
    js->free_timer.data = js;
    uv_timer_start(&js->free_timer, js_free_http, 0, 0);
}

static void js_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    js_t *js = state;
    js->stopping = true;
    js->stop_done = done;
    js->stop_arg = done_arg;
    /* Requests in flight (a join's transaction) finish, then done runs. */
    lw_http_stop(js->http, js_http_stopped, js);
}

const lw_component_t js_component = {
    .name = "js",
    .help = "Join Server: LoRaWAN Backend Interfaces (JoinReq, AppSKeyReq), root keys, nonces",
    .config_register = js_config_register,
    .init = js_init,
    .start = js_start,
    .stop = js_stop,
    .free = js_free,
};
