/* The Application Server's MQTT server (mqtt_server.c): MQTT 3.1.1 and 5.0 on cluster/tcp.h,
 * on the loop, with The Things Stack's topics (codec and topic rules: mqtt_codec_private.h).
 *
 * CONTRACT WITH THE AS (component.c wires it; tests/integration/as/mqtt_harness.c drives it
 * alone):
 *
 *  - as_mqtt_new listens on opts->listen, and with a certificate on opts->listen_tls too (MQTT
 *    over TLS through cluster/tcp.h's TLS layer: one server, sessions shared). Clients connect with
 * user name `{app}@{tenant}` and an API key as password. The server calls `auth` once per CONNECT
 * with the tenant, application and key; the AS answers with as_mqtt_auth_done exactly once (before
 * or after `auth` returns), saying whether the key holds RIGHT_APPLICATION_TRAFFIC_READ (can_read:
 * subscribe, receive) and/or RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE (can_write: publish
 * down/push|replace). Neither, a wrong key, another tenant's key, a suspended or unknown tenant →
 * AS_MQTT_AUTH_DENIED: CONNACK "not authorized" (3.1.1 code 5, 5.0 0x87). AS_MQTT_AUTH_UNAVAILABLE
 * (the IS could not be asked) → "server unavailable" (3, 0x88). The password is never logged or
 * kept after the call.
 *  - as_mqtt_publish(tenant, app, dev, suffix, payload) fans one message out on topic
 *    `v3/{app}@{tenant}/devices/{dev}/{suffix}` to every session of that application whose
 *    filters match and whose key can read. The payload is copied once and shared.
 *  - `downlink` is called for each client PUBLISH on `v3/{app}@{tenant}/devices/{dev}/
 *    down/push|replace` by a client that can write; payload is the body as received (TTS's
 *    {"downlinks":[...]}), valid during the call. QoS 1 is acknowledged once it is handed
 *    over (what the AS does with it then goes to its events, as in TTS). Publishes on other
 *    topics or without the right are dropped and counted (5.0: PUBACK 0x87).
 *  - as_mqtt_close_tenant closes every connection of a tenant at once (suspension).
 *
 * Behaviour (as TTS where TTS speaks, beyond it where TTS has only QoS 0):
 *  - Subscriptions: filters inside `v3/{app}@{tenant}/`; `#`, `v3/#`, `v3/+/...` narrowed to
 *    the client's application as TTS does; anything else refused (SUBACK 0x80 / 0x87). QoS 2
 *    asked → QoS 1 granted. No retained messages, no shared subscriptions, no subscription
 *    identifiers, no topic aliases (announced in the 5.0 CONNACK).
 *  - QoS 1 out: at most opts->inflight unacknowledged messages per client (5.0: also the
 *    client's Receive Maximum); the rest waits in the session's queue.
 *  - Sessions: 3.1.1 clean session 0, or 5.0 Session Expiry > 0, keep the session (its
 *    subscriptions and unacknowledged / queued messages) while the client is away, for at
 *    most opts->session_expiry_max_s; QoS 1 messages published meanwhile are queued, up to
 *    opts->session_queue (then new ones are dropped and counted: the client gets the oldest
 *    ones, in order, like mosquitto's max_queued_messages). On reconnect (CONNACK session
 *    present 1), unacknowledged messages are sent again with DUP, then the queue. Sessions
 *    are keyed by (application uid, client ID): two applications never share one. They live
 *    in this process's memory.
 *  - Slow subscribers: messages a connected client cannot take yet (TCP output full) wait in
 *    its queue; beyond opts->session_queue the client is disconnected
 *    (reason slow_subscriber, counted). Nothing ever waits for one client: others keep
 *    receiving.
 *  - Keepalive: a client silent for 1.5 × its keep alive is disconnected (keepalive).
 *    A connection that sends no CONNECT within opts->connect_timeout_ms is closed.
 *  - Will messages: refused cleanly, CONNACK not authorized (3.1.1: 5; 5.0: 0x83
 *    implementation specific error, reason string "will messages are not supported").
 *    5.0 enhanced authentication (CONNECT Authentication Method): CONNACK 0x8C.
 *  - QoS 2: a QoS 2 PUBLISH from a client, PUBREC, PUBREL or PUBCOMP (the server never
 *    sends QoS 2) close the connection (5.0: DISCONNECT 0x9B QoS not supported / 0x82).
 *  - Malformed packets close the connection (5.0 with DISCONNECT and the reason code), counted
 *    by the codec's reason name.
 *
 * Metrics (lwstack_as_mqtt_*): connections (gauge), sessions (gauge), connects_total{result},
 * disconnects_total{reason}, malformed_total{reason}, delivered_total{qos},
 * dropped_total{reason}, downlinks_total{result}, subscriptions_total{result}.
 *
 * Loop-thread only. */
#ifndef AS_MQTT_PRIVATE_H
#define AS_MQTT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/config.h"
#include "cluster/err.h"
#include "cluster/metrics.h"

typedef struct as_mqtt_srv as_mqtt_srv_t;

typedef enum as_mqtt_auth_status {
    AS_MQTT_AUTH_OK = 0,
    AS_MQTT_AUTH_DENIED = 1,      /* CONNACK not authorized */
    AS_MQTT_AUTH_UNAVAILABLE = 2, /* CONNACK server unavailable */
} as_mqtt_auth_status_t;

typedef struct as_mqtt_auth_result {
    as_mqtt_auth_status_t status;
    bool can_read, can_write; /* status OK: at least one is true, or the CONNACK is refused */
} as_mqtt_auth_result_t;

/* One CONNECT to authenticate. Strings are NUL-terminated and valid until
 * as_mqtt_auth_done. tenant_id and app_id are the two halves of the user name, already
 * checked to be IDs (tenant/ids.h). */
typedef struct as_mqtt_auth {
    const char *tenant_id, *app_id, *client_id;
    const char *key; /* the password: an API key; never log it */
    size_t key_len;
} as_mqtt_auth_t;

/* Answers a; a is freed inside. Exactly once per `auth` call, on the loop. It is fine to
 * answer after the client has gone or the server was freed (then it only frees). */
void as_mqtt_auth_done(as_mqtt_auth_t *a, const as_mqtt_auth_result_t *r);

typedef struct as_mqtt_callbacks {
    void *arg;
    void (*auth)(void *arg, as_mqtt_auth_t *a);
    void (*downlink)(void *arg, const char *tenant_id, const char *app_id, const char *dev_id,
                     bool replace, const uint8_t *payload, size_t len);
} as_mqtt_callbacks_t;

typedef struct as_mqtt_opts {
    const char *listen;            /* "0.0.0.0:1883", "127.0.0.1:0" */
    const char *listen_tls;        /* MQTT over TLS ("0.0.0.0:8883"); NULL/"": none */
    const char *tls_certificate;   /* PEM chain for listen_tls */
    const char *tls_key;           /* its PEM key (NULL: in the certificate file) */
    size_t max_connections;        /* 0: cluster/tcp.h's default */
    size_t max_packet;             /* largest packet accepted (input buffer): >= 1024 */
    size_t output_cap;             /* queued output bytes per connection: >= 8192 */
    size_t session_queue;          /* messages queued per session (away or lagging): >= 1 */
    uint16_t inflight;             /* unacknowledged QoS 1 messages per client: >= 1 */
    uint32_t session_expiry_max_s; /* longest a session waits for its client */
    uint32_t connect_timeout_ms;   /* CONNECT expected within */
} as_mqtt_opts_t;

/* Listens and serves. cb copied; m may be NULL (no metrics). Returns NULL with err
 * (tcp_listen_failed, invalid_argument) when it cannot listen. */
as_mqtt_srv_t *as_mqtt_new(uv_loop_t *loop, lw_metrics_t *m, const as_mqtt_opts_t *opts,
                           const as_mqtt_callbacks_t *cb, lw_err_t *err);
int as_mqtt_port(const as_mqtt_srv_t *m);
/* The TLS listener's port; 0 without one. */
int as_mqtt_port_tls(const as_mqtt_srv_t *m);

/* Fans a message out (see the contract above). suffix: "up", "join", "down/queued", ...
 * Returns the number of sessions it was delivered or queued to. */
size_t as_mqtt_publish(as_mqtt_srv_t *m, const char *tenant_id, const char *app_id,
                       const char *dev_id, const char *suffix, const uint8_t *payload, size_t len);

/* Closes every connection of tenant_id (5.0: DISCONNECT 0x98 administrative action) and
 * answers its CONNECTs in flight as not authorized. Persistent sessions stay (a client can
 * only come back when its key is accepted again). Returns the connections closed. */
size_t as_mqtt_close_tenant(as_mqtt_srv_t *m, const char *tenant_id);

/* Stops listening and closes every connection; done(arg) on the loop once all is closed.
 * Then as_mqtt_free. */
void as_mqtt_stop(as_mqtt_srv_t *m, void (*done)(void *arg), void *arg);
/* Frees the server and its sessions (after as_mqtt_stop's done; NULL: nothing). */
void as_mqtt_free(as_mqtt_srv_t *m);

/* Figures for tests and diagnostics. */
typedef struct as_mqtt_stats {
    size_t connections, sessions;
    uint64_t connects_accepted, connects_refused;
    uint64_t delivered, dropped_queue_full, slow_disconnects, keepalive_disconnects;
    uint64_t downlinks, downlinks_denied, malformed;
} as_mqtt_stats_t;
void as_mqtt_stats(const as_mqtt_srv_t *m, as_mqtt_stats_t *out);

/* ---- The server inside the AS (mqtt_as.c), called from component.c and api.c ----
 *
 * Configuration as.mqtt.* (as_mqtt_config, registered by the component): listen (default
 * :1883; empty: no server), listen-tls (default :8883, only with tls.certificate and
 * tls.key), public-address, public-tls-address, session-queue, inflight,
 * session-expiry-max, max-connections, max-packet-size, output-buffer, connect-timeout.
 * The auth callback asks tenant/access.h for the key's rights on the application
 * (Authorization "Bearer <key>"): RIGHT_APPLICATION_TRAFFIC_READ → can_read,
 * RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE → can_write; an unknown, deleted or inactive tenant is
 * refused without asking. lw.as.up (broadcast: a private group, from the end) → publish;
 * client downlinks → as_downlink_request (origin "mqtt"); a tenant that stops being active
 * (tn_changes_subscribe) → as_mqtt_close_tenant. */
struct as;
extern const lw_cfg_opt_t as_mqtt_config[];
extern const size_t as_mqtt_config_len;
/* Reads the configuration (init); 0, or -1 with err. */
int as_mqtt_component_init(struct as *as, lw_err_t *err);
/* Listens and subscribes to lw.as.up (start); 0, or -1 with err (tcp_listen_failed ...). */
int as_mqtt_component_start(struct as *as, lw_err_t *err);
/* Stops listening and closes every connection (stop); as_mqtt_component_stopped is true once
 * all is closed (or when there is no server); then as_mqtt_component_free. */
void as_mqtt_component_stop(struct as *as);
bool as_mqtt_component_stopped(const struct as *as);
void as_mqtt_component_free(struct as *as);
/* GET /api/v3/as/applications/{application_id}/mqtt-connection-info (RIGHT_APPLICATION_INFO):
 * {"public_address", "public_tls_address" (when configured), "username": "<app>@<tenant>"}. */
int as_mqtt_api_routes(struct as *as);

#endif
