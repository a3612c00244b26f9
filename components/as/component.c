/* The Application Server component: configuration, lifecycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "as/as_private.h"
#include "as/fmt_private.h"
#include "as/mqtt_private.h"
#include "as/webhook_private.h"
#include "as/storage_private.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

/* A KEK in hex: 16, 24 or 32 bytes (AES-128/192/256 key wrap, RFC 3394). */
static int kek_parse(const char *value, as_kek_t *out)
{
    size_t n = value != NULL ? strlen(value) : 0;
    if (n != 32 && n != 48 && n != 64)
        return -1;
    int len = lw_hex_decode(value, out->key, sizeof out->key);
    if (len != (int)n / 2)
        return -1;
    out->len = (size_t)len;
    return 0;
}

static int kek_check(const char *value, char *why, size_t why_len)
{
    if (value == NULL || value[0] == '\0')
        return 0;
    as_kek_t k;
    int rc = kek_parse(value, &k);
    OPENSSL_cleanse(&k, sizeof k);
    if (rc != 0)
        snprintf(why, why_len, "must be 32, 48 or 64 hex digits (an AES-128/192/256 key)");
    return rc;
}

static const lw_cfg_opt_t as_config[] = {
    {.key = "as.keks.*",
     .type = LW_CFG_MAP,
     .flags = LW_CFG_SECRET,
     .help = "Key-encryption keys by label (as.keks.<label>: hex, 16/24/32 bytes) that unwrap "
             "the AppSKeys Join Servers send (JoinAccept app_s_key.kek_label; the Join "
             "Server's js.keks.<label> of js.application-server-kek-label)."},
    {.key = "as.key-encryption-key",
     .type = LW_CFG_STRING,
     .def = "",
     .flags = LW_CFG_SECRET,
     .check = kek_check,
     .help = "KEK (hex, 16/24/32 bytes) wrapping AppSKeys at rest in PostgreSQL (RFC 3394). "
             "Empty: stored in clear."},
    {.key = "as.key-encryption-key-label",
     .type = LW_CFG_STRING,
     .def = "as-at-rest",
     .help = "Label stored next to the keys wrapped with as.key-encryption-key."},
    {.key = "as.downlinks.confirmation.default-retry-attempts",
     .type = LW_CFG_INT,
     .def = "8",
     .min = 1,
     .max = 32,
     .help = "Attempts of a confirmed downlink that is not acknowledged (downlink_nack: "
             "encrypted again for a new FCnt and queued again) when its confirmed_retry sets "
             "none."},
    {.key = "as.downlinks.confirmation.max-retry-attempts",
     .type = LW_CFG_INT,
     .def = "32",
     .min = 1,
     .max = 1024,
     .help = "Upper bound of a downlink's confirmed_retry.max_attempts."},
    {.key = "as.downlink-list-timeout",
     .type = LW_CFG_DURATION,
     .def = "5s",
     .min = 100,
     .max = 60000,
     .help = "How long GET .../down waits for the Network Server's answer."},
};

static int as_config_register(lw_config_t *cfg)
{
    if (lw_config_register(cfg, "as", as_config, sizeof as_config / sizeof as_config[0]) != 0)
        return -1;
    if (lw_config_register(cfg, "as", as_mqtt_config, as_mqtt_config_len) != 0) /* mqtt_as.c */
        return -1;
    /* webhook.c, storage.c, fmt.c */
    if (lw_config_register(cfg, "as", as_webhook_config, as_webhook_config_len) != 0 ||
        lw_config_register(cfg, "as", as_storage_config, as_storage_config_len) != 0)
        return -1;
    return lw_config_register(cfg, "as", fmt_config, fmt_config_len);
}

const as_kek_t *as_kek_find(const as_t *as, const char *label)
{
    if (label == NULL)
        return NULL;
    for (size_t i = 0; i < as->nkeks; i++)
        if (strcmp(as->keks[i].label, label) == 0)
            return &as->keks[i];
    if (as->at_rest.len > 0 && strcmp(as->at_rest.label, label) == 0)
        return &as->at_rest;
    return NULL;
}

typedef struct kek_load {
    as_t *as;
    char bad[AS_LABEL_MAX + 16];
} kek_load_t;

static void kek_each(void *arg, const char *subkey, const char *value)
{
    kek_load_t *l = arg;
    as_t *as = l->as;
    if (l->bad[0] != '\0')
        return;
    if (strlen(subkey) == 0 || strlen(subkey) > AS_LABEL_MAX || as->nkeks >= AS_KEKS_MAX ||
        kek_parse(value, &as->keks[as->nkeks]) != 0) {
        snprintf(l->bad, sizeof l->bad, "%.*s", (int)AS_LABEL_MAX, subkey);
        return;
    }
    snprintf(as->keks[as->nkeks].label, sizeof as->keks[0].label, "%s", subkey);
    as->nkeks++;
}

void as_fmt_install(as_t *as, const as_fmt_ops_t *ops)
{
    if (ops == NULL)
        memset(&as->fmt_ops, 0, sizeof as->fmt_ops);
    else
        as->fmt_ops = *ops;
}

void as_count_drop(as_t *as, const char *reason)
{
    const char *const v[] = {reason, NULL};
    lw_metric_add(as->m_drop, v, 1);
}

static void as_free(void *state)
{
    as_t *as = state;
    if (as == NULL)
        return;
    as_worker_free(as);
    as_mqtt_component_free(as);
    as_webhooks_free(as);
    as_storage_free(as);
    OPENSSL_cleanse(as->keks, sizeof as->keks);
    OPENSSL_cleanse(&as->at_rest, sizeof as->at_rest);
    free(as);
}

int as_keys_load(as_t *as, const lw_config_t *cfg, lw_err_t *err)
{
    kek_load_t l = {.as = as};
    lw_config_map_each(cfg, "as.keks", kek_each, &l);
    if (l.bad[0] != '\0') {
        lw_err_set(err, &lw_err_config_invalid,
                   "invalid value for `as.keks.%s`: 32, 48 or 64 hex digits expected (at most "
                   "%u KEKs, labels of at most %u characters)",
                   l.bad, AS_KEKS_MAX, AS_LABEL_MAX);
        return -1;
    }
    const char *kek = lw_config_str(cfg, "as.key-encryption-key");
    if (kek != NULL && kek[0] != '\0') {
        if (kek_parse(kek, &as->at_rest) != 0) {
            return lw_err_set(err, &lw_err_config_invalid,
                              "invalid value for `as.key-encryption-key`");
        }
        const char *label = lw_config_str(cfg, "as.key-encryption-key-label");
        snprintf(as->at_rest.label, sizeof as->at_rest.label, "%s",
                 label != NULL && label[0] != '\0' ? label : "as-at-rest");
    }
    return 0;
}

static int as_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the application server needs the tenant module");
    lw_config_t *cfg = lw_rt_config(rt);
    as_t *as = lw_calloc(1, sizeof *as);
    as->rt = rt;
    as->loop = lw_rt_loop(rt);
    as->db = lw_rt_db(rt);
    as->bus = lw_rt_bus(rt);
    as->tn = tn;
    as->access = tn_access_from_runtime(rt);
    as->metrics = lw_rt_metrics(rt);
    as->env = (lw_api_env_t){.db = as->db, .work = lw_rt_work(rt), .module = "as"};

    if (as_keys_load(as, cfg, err) != 0) {
        as_free(as);
        return -1;
    }
    as->retry_default =
        (uint32_t)lw_config_int(cfg, "as.downlinks.confirmation.default-retry-attempts");
    as->retry_max = (uint32_t)lw_config_int(cfg, "as.downlinks.confirmation.max-retry-attempts");
    if (as->retry_default > as->retry_max)
        as->retry_default = as->retry_max;
    as->list_timeout_ms = (uint64_t)lw_config_duration_ms(cfg, "as.downlink-list-timeout");

    static const char *const result[] = {"result", NULL};
    static const char *const reason[] = {"reason", NULL};
    as->m_up = lw_metrics_counter(as->metrics, "lwstack_as_uplinks_total",
                                  "Results of lw.ns.up handled by the Application Server, by "
                                  "message type",
                                  result);
    as->m_drop = lw_metrics_counter(as->metrics, "lwstack_as_dropped_total",
                                    "Messages the Application Server dropped, by reason", reason);
    as->m_down =
        lw_metrics_counter(as->metrics, "lwstack_as_downlinks_total",
                           "Downlink requests of the Application Server, by result", result);
    if (as_mqtt_component_init(as, err) != 0) { /* mqtt_as.c */
        as_free(as);
        return -1;
    }
    if (as_webhooks_init(as, err) != 0) { /* webhook.c */
        as_free(as);
        return -1;
    }
    if (as_storage_init(as, err) != 0) { /* storage.c */
        as_free(as);
        return -1;
    }
    if (as_api_routes(as) != 0) {
        as_free(as);
        return lw_err_set(err, &lw_err_internal, "cannot register the application server's routes");
    }
    *state = as;
    return 0;
}

static int as_start(void *state, lw_err_t *err)
{
    as_t *as = state;
    char t[96], tl[96], tr[96];
    const char *topics[] = {lw_bus_topic(as->bus, "as.up", t, sizeof t),
                            lw_bus_topic(as->bus, "as.links", tl, sizeof tl),
                            lw_bus_topic(as->bus, "as.replies", tr, sizeof tr)};
    if (lw_bus_ensure_topics(as->bus, topics, 3, err) != 0)
        return -1;
    /* Formatters before traffic (fmt.c: worker processes, ops installed). */
    if (as_fmt_start(as, lw_rt_config(as->rt), err) != 0)
        return -1;
    if (as_downlink_start(as, err) != 0 || as_worker_start(as, err) != 0)
        return -1;
    if (as_mqtt_component_start(as, err) != 0) /* after the worker: lw.as.up to clients */
        return -1;
    if (as_webhooks_start(as, err) != 0) /* webhook.c: lw.as.up to webhooks */
        return -1;
    if (as_storage_start(as, err) != 0) /* lw.as.up into PostgreSQL */
        return -1;
    as->started = true;
    char nkeks[16];
    snprintf(nkeks, sizeof nkeks, "%zu", as->nkeks);
    lw_log(LW_LOG_INFO, "as", "application server started", "keks", nkeks, "keys_at_rest",
           as->at_rest.len > 0 ? "wrapped" : "clear", NULL);
    return 0;
}

static void stop_check(uv_timer_t *t)
{
    as_t *as = t->data;
    if (as->inflight > 0 || !as_worker_idle(as) || !as_mqtt_component_stopped(as) ||
        !as_webhooks_stopped(as) || !as_storage_idle(as))
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    void (*done)(void *) = as->stop_done;
    as->stop_done = NULL;
    /* Nothing waits for a formatter any more: the workers go last. */
    as_fmt_stop(as, done, as->stop_arg);
}

static void as_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    as_t *as = state;
    as->stopping = true;
    if (!as->started) {
        done(done_arg);
        return;
    }
    as_worker_stop(as);
    as_mqtt_component_stop(as); /* closes the MQTT connections */
    as_webhooks_stop(as);       /* cancels webhook requests, writes the outbox's last batch */
    as_storage_stop(as);        /* writes what is batched */
    as->stop_done = done;
    as->stop_arg = done_arg;
    uv_timer_init(as->loop, &as->stop_timer);
    as->stop_timer.data = as;
    uv_timer_start(&as->stop_timer, stop_check, 0, 10);
}

const lw_component_t as_component = {
    .name = "as",
    .help = "Application Server: AppSKeys, payload crypto, ApplicationUp on lw.as.up, downlinks",
    .config_register = as_config_register,
    .init = as_init,
    .start = as_start,
    .stop = as_stop,
    .free = as_free,
};
