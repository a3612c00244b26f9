/* The Application Server's MQTT server (contract in mqtt_private.h): connections on
 * cluster/tcp.h, sessions and their queues, fan-out. The protocol is in mqtt_codec.c and
 * the topic rules in mqtt_topic.c; this file reads, calls them and acts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as/mqtt_codec_private.h"
#include "as/mqtt_private.h"
#include "cluster/clock.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/tcp.h"
#include "tenant/ids.h"

#define SUBS_MAX        32u  /* filters per session */
#define FILTER_MAX      256u /* bytes of one accepted filter */
#define CLIENT_ID_MAX   256u /* bytes of a client identifier */
#define UID_MAX         (2u * TN_ID_MAX + 1u)
#define BUCKETS         1024u  /* hash buckets (sessions by uid, by client) */
#define TICK_MS         25u    /* flush of lagging clients */
#define SWEEP_TICKS     40u    /* keepalive, connect timeout, session expiry: every second */
#define CONTROL_RESERVE 1024u  /* output bytes kept free of publishes for acks and pings */
#define FLUSH_CHUNK     65536u /* publishes coalesced into one socket write, at most */
#define FLUSH_AT        64u    /* pending messages that make a connection flush at once */

/* A message as published once, shared by every session it goes to. */
typedef struct msg {
    unsigned refs;
    size_t topic_len, payload_len;
    char *topic;
    uint8_t *payload;
} msg_t;

typedef struct qitem {
    struct qitem *next;
    msg_t *msg;
    uint8_t qos;
    bool dup;
    uint16_t packet_id; /* 0: not assigned yet */
} qitem_t;

typedef struct qlist {
    qitem_t *head, *tail;
    size_t n;
} qlist_t;

typedef struct sub {
    char filter[FILTER_MAX + 1]; /* accepted (narrowed) */
    char *asked;                 /* as the client sent it: UNSUBSCRIBE names it */
    uint8_t qos;
} sub_t;

typedef struct conn conn_t;

typedef struct session {
    struct session *next_uid, *next_key; /* hash chains */
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], uid[UID_MAX + 1];
    char client_id[CLIENT_ID_MAX + 1];
    uint32_t uid_hash, key_hash;
    bool persistent;
    uint32_t expiry_s;
    uint64_t away_since_ms;
    bool can_read, can_write;
    sub_t subs[SUBS_MAX];
    size_t n_subs;
    conn_t *conn;     /* NULL while away */
    qlist_t pending;  /* not written yet */
    qlist_t inflight; /* QoS 1 written, awaiting PUBACK */
    uint16_t next_pid;
} session_t;

typedef struct auth_pending auth_pending_t;

struct conn {
    conn_t *prev, *next;
    as_mqtt_srv_t *m;
    lw_tcp_conn_t *tcp;
    uint8_t version;
    bool connected; /* CONNACK accepted sent */
    bool closing;
    bool lagging;
    bool dirty; /* in m->dirty: written at the end of the loop turn */
    session_t *s;
    uint16_t keepalive_s;
    uint64_t last_rx_ms, accepted_ms;
    auth_pending_t *auth;
    uint16_t client_receive_max;
    uint32_t client_max_packet;
    /* The CONNECT being authenticated. */
    bool clean_start;
    uint32_t asked_expiry_s;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], client_id[CLIENT_ID_MAX + 1];
    bool assigned_id;
};

struct auth_pending {
    as_mqtt_auth_t pub; /* first: as_mqtt_auth_done gets it back */
    as_mqtt_srv_t *m;   /* NULL once the server is freed */
    conn_t *c;          /* NULL once the connection is gone */
    auth_pending_t *prev, *next;
    char *key;
};

struct as_mqtt_srv {
    uv_loop_t *loop;
    as_mqtt_opts_t o;
    as_mqtt_callbacks_t cb;
    lw_tcp_listener_t *l, *l_tls; /* l_tls: NULL without a certificate */
    uv_timer_t timer;
    uv_check_t check; /* writes what publishes queued during the loop turn */
    conn_t **dirty;
    size_t n_dirty, dirty_cap;
    unsigned ticks;
    conn_t *conns;
    size_t n_conns, n_sessions;
    session_t *by_uid[BUCKETS], *by_key[BUCKETS];
    auth_pending_t *auths;
    uint8_t *scratch;
    size_t scratch_cap;
    uint64_t next_client_seq;
    int closing; /* handles still closing after as_mqtt_stop */
    void (*stop_done)(void *arg);
    void *stop_arg;
    as_mqtt_stats_t st;

    lw_metric_t *f_connects, *f_disconnects, *f_malformed, *f_dropped, *f_subs;
    lw_metric_series_t *g_conns, *g_sessions, *c_deliv0, *c_deliv1, *c_down_ok, *c_down_denied;
};

/* ---- small helpers ---- */

static uint32_t hash_str(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = b != NULL ? b : ""; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static void count(lw_metric_t *f, const char *label)
{
    const char *const v[] = {label, NULL};
    lw_metric_add(f, v, 1);
}

static msg_t *msg_ref(msg_t *g)
{
    g->refs++;
    return g;
}

static void msg_unref(msg_t *g)
{
    if (g != NULL && --g->refs == 0)
        free(g);
}

static void q_push(qlist_t *q, qitem_t *it)
{
    it->next = NULL;
    if (q->tail != NULL)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->n++;
}

static qitem_t *q_pop(qlist_t *q)
{
    qitem_t *it = q->head;
    if (it == NULL)
        return NULL;
    q->head = it->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->n--;
    return it;
}

static void q_clear(qlist_t *q)
{
    qitem_t *it;
    while ((it = q_pop(q)) != NULL) {
        msg_unref(it->msg);
        free(it);
    }
}

/* ---- sessions ---- */

static void session_link(as_mqtt_srv_t *m, session_t *s)
{
    s->uid_hash = hash_str(s->uid, NULL);
    s->key_hash = hash_str(s->uid, s->client_id);
    s->next_uid = m->by_uid[s->uid_hash % BUCKETS];
    m->by_uid[s->uid_hash % BUCKETS] = s;
    s->next_key = m->by_key[s->key_hash % BUCKETS];
    m->by_key[s->key_hash % BUCKETS] = s;
    m->n_sessions++;
    lw_metric_series_set(m->g_sessions, (double)m->n_sessions);
}

static void session_free(as_mqtt_srv_t *m, session_t *s)
{
    session_t **pp = &m->by_uid[s->uid_hash % BUCKETS];
    while (*pp != s)
        pp = &(*pp)->next_uid;
    *pp = s->next_uid;
    pp = &m->by_key[s->key_hash % BUCKETS];
    while (*pp != s)
        pp = &(*pp)->next_key;
    *pp = s->next_key;
    q_clear(&s->pending);
    q_clear(&s->inflight);
    for (size_t i = 0; i < s->n_subs; i++)
        free(s->subs[i].asked);
    free(s);
    m->n_sessions--;
    lw_metric_series_set(m->g_sessions, (double)m->n_sessions);
}

static session_t *session_find(as_mqtt_srv_t *m, const char *uid, const char *client_id)
{
    uint32_t h = hash_str(uid, client_id);
    for (session_t *s = m->by_key[h % BUCKETS]; s != NULL; s = s->next_key)
        if (s->key_hash == h && strcmp(s->uid, uid) == 0 && strcmp(s->client_id, client_id) == 0)
            return s;
    return NULL;
}

/* ---- output ---- */

static void conn_disconnect(conn_t *c, const char *reason, uint8_t v5_reason);

static int conn_write(conn_t *c, const uint8_t *p, size_t n)
{
    if (c->closing)
        return -1;
    lw_err_t err;
    if (lw_tcp_conn_write(c->tcp, p, n, &err) != 0) {
        conn_disconnect(c, "output_full", 0);
        return -1;
    }
    return 0;
}

static size_t room(const conn_t *c)
{
    size_t queued = lw_tcp_conn_output_queued(c->tcp);
    size_t cap = c->m->o.output_cap - CONTROL_RESERVE;
    return queued >= cap ? 0 : cap - queued;
}

static uint16_t inflight_limit(const conn_t *c)
{
    uint16_t lim = c->m->o.inflight;
    if (c->client_receive_max != 0 && c->client_receive_max < lim)
        lim = c->client_receive_max;
    return lim;
}

static uint16_t next_pid(session_t *s)
{
    /* Skips 0 and identifiers still in flight (at most `inflight` of them). */
    for (;;) {
        if (++s->next_pid == 0)
            s->next_pid = 1;
        bool used = false;
        for (qitem_t *it = s->inflight.head; it != NULL && !used; it = it->next)
            used = it->packet_id == s->next_pid;
        if (!used)
            return s->next_pid;
    }
}

/* Writes what the session's connection can take now: QoS 1 up to the in-flight limit,
 * everything up to the output room, coalesced into writes of up to FLUSH_CHUNK bytes (one
 * system call for many messages). Returns 0, or -1 when the connection was closed. */
static int session_flush(session_t *s)
{
    conn_t *c = s->conn;
    as_mqtt_srv_t *m = c->m;
    size_t acc = 0, avail = room(c);
    bool lag = false;
    while (s->pending.head != NULL) {
        qitem_t *it = s->pending.head;
        if (it->qos == 1 && s->inflight.n >= inflight_limit(c))
            break;
        size_t need =
            mqtt_publish_size(c->version, it->qos, it->msg->topic_len, it->msg->payload_len);
        if (c->client_max_packet != 0 && need > c->client_max_packet) {
            /* 5.0 §3.1.2.11.4: a packet the client refuses is not sent; it is dropped. */
            q_pop(&s->pending);
            count(m->f_dropped, "client_maximum_packet_size");
            msg_unref(it->msg);
            free(it);
            continue;
        }
        if (acc > 0 && acc + need > FLUSH_CHUNK) {
            if (conn_write(c, m->scratch, acc) != 0)
                return -1;
            acc = 0;
            avail = room(c);
        }
        if (acc + need > avail) {
            lag = true;
            break;
        }
        if (it->qos == 1 && it->packet_id == 0)
            it->packet_id = next_pid(s);
        if (acc + need > m->scratch_cap) {
            m->scratch = lw_realloc(m->scratch, acc + need);
            m->scratch_cap = acc + need;
        }
        acc += mqtt_encode_publish(c->version, it->qos, it->dup, false, it->msg->topic,
                                   it->msg->topic_len, it->packet_id, it->msg->payload,
                                   it->msg->payload_len, m->scratch + acc, need);
        q_pop(&s->pending);
        m->st.delivered++;
        lw_metric_series_add(it->qos ? m->c_deliv1 : m->c_deliv0, 1);
        if (it->qos == 1) {
            q_push(&s->inflight, it);
        } else {
            msg_unref(it->msg);
            free(it);
        }
    }
    if (acc > 0 && conn_write(c, m->scratch, acc) != 0)
        return -1;
    c->lagging = lag;
    return 0;
}

/* The end of the loop turn: every connection that publishes queued for is written. */
static void on_check(uv_check_t *h)
{
    as_mqtt_srv_t *m = h->data;
    /* Flushing never adds to the list (it only writes), so the array stays as it is. */
    for (size_t i = 0; i < m->n_dirty; i++) {
        conn_t *c = m->dirty[i];
        c->dirty = false;
        if (!c->closing && c->s != NULL && !c->lagging)
            session_flush(c->s);
    }
    m->n_dirty = 0;
    uv_check_stop(h);
}

static void mark_dirty(as_mqtt_srv_t *m, conn_t *c)
{
    if (c->dirty)
        return;
    if (m->n_dirty == m->dirty_cap) {
        m->dirty_cap = m->dirty_cap ? 2 * m->dirty_cap : 64;
        m->dirty = lw_realloc(m->dirty, m->dirty_cap * sizeof *m->dirty);
    }
    m->dirty[m->n_dirty++] = c;
    c->dirty = true;
    if (m->n_dirty == 1)
        uv_check_start(&m->check, on_check);
}

/* ---- connections ---- */

static void conn_count_close(as_mqtt_srv_t *m, const char *reason)
{
    count(m->f_disconnects, reason);
}

/* Closes c: 5.0 clients get a DISCONNECT with v5_reason first (0: none). */
static void conn_disconnect(conn_t *c, const char *reason, uint8_t v5_reason)
{
    if (c->closing)
        return;
    as_mqtt_srv_t *m = c->m;
    conn_count_close(m, reason);
    lw_log_kv(LW_LOG_DEBUG, "as", "mqtt connection closed", LW_LOG_STR("reason", reason),
              LW_LOG_STR("uid", c->s != NULL ? c->s->uid : ""),
              LW_LOG_STR("client_id", c->s != NULL ? c->s->client_id : ""));
    if (v5_reason != 0 && c->version == MQTT_V5 && c->connected) {
        uint8_t b[8];
        size_t n = mqtt_encode_disconnect(MQTT_V5, v5_reason, NULL, b, sizeof b);
        lw_err_t err;
        if (lw_tcp_conn_write(c->tcp, b, n, &err) == 0) {
            c->closing = true;
            lw_tcp_conn_end(c->tcp);
            return;
        }
    }
    c->closing = true;
    lw_tcp_conn_close(c->tcp);
}

/* Ends c after a final reply already queued (CONNACK refusals). */
static void conn_end(conn_t *c, const char *reason)
{
    if (c->closing)
        return;
    conn_count_close(c->m, reason);
    c->closing = true;
    lw_tcp_conn_end(c->tcp);
}

static void on_accept(void *arg, lw_tcp_conn_t *tcp)
{
    as_mqtt_srv_t *m = arg;
    conn_t *c = lw_calloc(1, sizeof *c);
    c->m = m;
    c->tcp = tcp;
    c->version = MQTT_V311;
    c->accepted_ms = c->last_rx_ms = lw_clock_mono_ms();
    c->next = m->conns;
    if (m->conns != NULL)
        m->conns->prev = c;
    m->conns = c;
    m->n_conns++;
    lw_metric_series_set(m->g_conns, (double)m->n_conns);
    lw_tcp_conn_set_data(tcp, c);
}

/* The session goes away with its connection: kept when persistent (unacknowledged messages
 * back at the head of the queue, to be sent again with DUP), else freed. */
static void session_detach(as_mqtt_srv_t *m, session_t *s)
{
    s->conn = NULL;
    if (!s->persistent || s->expiry_s == 0) {
        session_free(m, s);
        return;
    }
    s->away_since_ms = lw_clock_mono_ms();
    if (s->inflight.head != NULL) {
        for (qitem_t *it = s->inflight.head; it != NULL; it = it->next)
            it->dup = true;
        s->inflight.tail->next = s->pending.head;
        if (s->pending.head == NULL)
            s->pending.tail = s->inflight.tail;
        s->pending.head = s->inflight.head;
        s->pending.n += s->inflight.n;
        s->inflight = (qlist_t){0};
    }
}

static void on_close(void *arg, lw_tcp_conn_t *tcp, const lw_err_t *why)
{
    as_mqtt_srv_t *m = arg;
    conn_t *c = lw_tcp_conn_data(tcp);
    if (c == NULL)
        return;
    if (!c->closing)
        conn_count_close(m, why != NULL && why->def == &lw_err_tcp_peer_closed
                                ? "peer_closed"
                                : "connection_failed");
    if (c->auth != NULL)
        c->auth->c = NULL;
    if (c->dirty) {
        for (size_t i = 0; i < m->n_dirty; i++)
            if (m->dirty[i] == c) {
                m->dirty[i] = m->dirty[--m->n_dirty];
                break;
            }
    }
    if (c->s != NULL)
        session_detach(m, c->s);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    m->n_conns--;
    lw_metric_series_set(m->g_conns, (double)m->n_conns);
    free(c);
}

/* ---- CONNECT ---- */

static void connack(conn_t *c, bool present, uint8_t code311, uint8_t code5,
                    const char *reason_string, const char *why)
{
    as_mqtt_srv_t *m = c->m;
    uint8_t b[700];
    size_t n;
    bool ok = code5 == MQTT5_SUCCESS;
    if (c->version == MQTT_V5) {
        mqtt_connack_props_t p = {.reason_string = reason_string};
        if (ok) {
            p.announce_limits = true;
            p.receive_maximum = m->o.inflight;
            p.maximum_packet_size = (uint32_t)m->o.max_packet;
            if (c->s != NULL && c->s->expiry_s != c->asked_expiry_s) {
                p.has_session_expiry = true;
                p.session_expiry_s = c->s->expiry_s;
            }
            if (c->assigned_id)
                p.assigned_client_id = c->client_id;
        }
        n = mqtt_encode_connack(MQTT_V5, present, code5, &p, b, sizeof b);
    } else {
        n = mqtt_encode_connack(MQTT_V311, present, code311, NULL, b, sizeof b);
    }
    count(m->f_connects, why);
    if (ok)
        m->st.connects_accepted++;
    else
        m->st.connects_refused++;
    if (conn_write(c, b, n) != 0)
        return;
    if (!ok)
        conn_end(c, why);
}

static void refuse_connect(conn_t *c, uint8_t code311, uint8_t code5, const char *reason_string,
                           const char *why)
{
    lw_log_kv(LW_LOG_INFO, "as", "mqtt connect refused", LW_LOG_STR("reason", why),
              LW_LOG_STR("tenant_id", c->tenant), LW_LOG_STR("application_id", c->app),
              LW_LOG_STR("client_id", c->client_id));
    connack(c, false, code311, code5, reason_string, why);
}

static void connect_accept(conn_t *c, const as_mqtt_auth_result_t *r)
{
    as_mqtt_srv_t *m = c->m;
    char uid[UID_MAX + 1];
    snprintf(uid, sizeof uid, "%s@%s", c->app, c->tenant);
    session_t *s = session_find(m, uid, c->client_id);
    /* 3.1.1 §3.1.4-2 / 5.0 §3.1.4-3: a second connection with the client's ID takes the
     * session over; the first is closed. */
    if (s != NULL && s->conn != NULL) {
        conn_t *old = s->conn;
        s->conn = NULL;
        old->s = NULL;
        conn_disconnect(old, "session_taken_over", MQTT5_SESSION_TAKEN_OVER);
    }
    bool persistent = c->version == MQTT_V5 ? c->asked_expiry_s > 0 : !c->clean_start;
    uint32_t expiry = c->version == MQTT_V5 ? c->asked_expiry_s : m->o.session_expiry_max_s;
    if (expiry > m->o.session_expiry_max_s)
        expiry = m->o.session_expiry_max_s;
    if (s != NULL && c->clean_start) {
        session_free(m, s);
        s = NULL;
    }
    bool present = s != NULL;
    if (s == NULL) {
        s = lw_calloc(1, sizeof *s);
        snprintf(s->tenant, sizeof s->tenant, "%s", c->tenant);
        snprintf(s->app, sizeof s->app, "%s", c->app);
        snprintf(s->uid, sizeof s->uid, "%s", uid);
        snprintf(s->client_id, sizeof s->client_id, "%s", c->client_id);
        session_link(m, s);
    }
    s->persistent = persistent;
    s->expiry_s = persistent ? expiry : 0;
    s->can_read = r->can_read;
    s->can_write = r->can_write;
    s->conn = c;
    c->s = s;
    c->connected = true;
    lw_log_kv(LW_LOG_DEBUG, "as", "mqtt client connected", LW_LOG_STR("uid", uid),
              LW_LOG_STR("client_id", c->client_id), LW_LOG_BOOL("session_present", present),
              LW_LOG_BOOL("can_read", r->can_read), LW_LOG_BOOL("can_write", r->can_write));
    connack(c, present, MQTT311_CONNACK_ACCEPTED, MQTT5_SUCCESS, NULL, "accepted");
    if (!c->closing)
        session_flush(s);
}

void as_mqtt_auth_done(as_mqtt_auth_t *pub, const as_mqtt_auth_result_t *r)
{
    auth_pending_t *a = (auth_pending_t *)pub;
    conn_t *c = a->c;
    as_mqtt_srv_t *m = a->m;
    if (m != NULL) {
        if (a->prev != NULL)
            a->prev->next = a->next;
        else
            m->auths = a->next;
        if (a->next != NULL)
            a->next->prev = a->prev;
    }
    size_t kl = a->pub.key_len;
    volatile char *k = a->key;
    for (size_t i = 0; i < kl; i++)
        k[i] = 0;
    free(a->key);
    free(a);
    if (c == NULL || m == NULL || c->closing)
        return;
    c->auth = NULL;
    if (r->status == AS_MQTT_AUTH_UNAVAILABLE)
        refuse_connect(c, MQTT311_CONNACK_SERVER_UNAVAILABLE, MQTT5_SERVER_UNAVAILABLE, NULL,
                       "unavailable");
    else if (r->status != AS_MQTT_AUTH_OK || (!r->can_read && !r->can_write))
        refuse_connect(c, MQTT311_CONNACK_NOT_AUTHORIZED, MQTT5_NOT_AUTHORIZED, NULL,
                       "not_authorized");
    else
        connect_accept(c, r);
    if (!c->closing)
        lw_tcp_conn_resume(c->tcp);
}

/* Splits "app@tenant" into IDs; -1 when it is not two valid IDs. */
static int split_username(mqtt_str_t u, char *app, char *tenant)
{
    const uint8_t *at = memchr(u.p, '@', u.len);
    if (at == NULL)
        return -1;
    size_t al = (size_t)(at - u.p), tl = u.len - al - 1;
    if (al == 0 || al > TN_ID_MAX || tl == 0 || tl > TN_ID_MAX)
        return -1;
    memcpy(app, u.p, al);
    app[al] = '\0';
    memcpy(tenant, at + 1, tl);
    tenant[tl] = '\0';
    if (tn_id_validate(app, 3, "application_id", NULL) != 0 ||
        tn_id_validate(tenant, 3, "tenant_id", NULL) != 0)
        return -1;
    return 0;
}

/* Returns 1 when the connection waits for the auth answer (stop reading), 0 otherwise. */
static int on_connect(conn_t *c, const mqtt_connect_t *k)
{
    as_mqtt_srv_t *m = c->m;
    c->version = k->version;
    c->keepalive_s = k->keepalive_s;
    c->clean_start = k->clean_start;
    c->client_receive_max = k->props.receive_maximum;
    c->client_max_packet = k->props.maximum_packet_size;
    c->asked_expiry_s = k->props.session_expiry_s;
    if (k->client_id.len > CLIENT_ID_MAX) {
        refuse_connect(c, MQTT311_CONNACK_IDENTIFIER_REJECTED, MQTT5_CLIENT_ID_NOT_VALID, NULL,
                       "identifier_rejected");
        return 0;
    }
    if (k->client_id.len == 0) {
        /* 3.1.1 §3.1.3-8: an empty client ID needs clean session 1; 5.0 §3.1.3-6: the
         * server assigns one. */
        if (k->version == MQTT_V311 && !k->clean_start) {
            refuse_connect(c, MQTT311_CONNACK_IDENTIFIER_REJECTED, MQTT5_CLIENT_ID_NOT_VALID, NULL,
                           "identifier_rejected");
            return 0;
        }
        snprintf(c->client_id, sizeof c->client_id, "lwstack-%llx-%llx",
                 (unsigned long long)lw_clock_wall_ms(), (unsigned long long)++m->next_client_seq);
        c->assigned_id = k->version == MQTT_V5;
    } else {
        memcpy(c->client_id, k->client_id.p, k->client_id.len);
        c->client_id[k->client_id.len] = '\0';
    }
    if (k->has_will) {
        refuse_connect(c, MQTT311_CONNACK_NOT_AUTHORIZED, MQTT5_IMPLEMENTATION_SPECIFIC,
                       "will messages are not supported", "will_refused");
        return 0;
    }
    if (k->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)) {
        refuse_connect(c, MQTT311_CONNACK_NOT_AUTHORIZED, MQTT5_BAD_AUTH_METHOD, NULL,
                       "bad_auth_method");
        return 0;
    }
    if (!k->has_username || !k->has_password ||
        split_username(k->username, c->app, c->tenant) != 0) {
        refuse_connect(c, MQTT311_CONNACK_BAD_CREDENTIALS, MQTT5_BAD_USERNAME_PASSWORD, NULL,
                       "bad_credentials");
        return 0;
    }
    auth_pending_t *a = lw_calloc(1, sizeof *a);
    a->m = m;
    a->c = c;
    a->key = lw_malloc(k->password.len + 1);
    memcpy(a->key, k->password.p, k->password.len);
    a->key[k->password.len] = '\0';
    a->pub.tenant_id = c->tenant;
    a->pub.app_id = c->app;
    a->pub.client_id = c->client_id;
    a->pub.key = a->key;
    a->pub.key_len = k->password.len;
    a->next = m->auths;
    if (m->auths != NULL)
        m->auths->prev = a;
    m->auths = a;
    c->auth = a;
    lw_tcp_conn_pause(c->tcp);
    m->cb.auth(m->cb.arg, &a->pub);
    /* Answered from inside: reading goes on now. */
    return c->auth != NULL ? 1 : 0;
}

/* ---- after CONNECT ---- */

static void on_publish(conn_t *c, const mqtt_publish_t *p)
{
    as_mqtt_srv_t *m = c->m;
    session_t *s = c->s;
    if (p->qos == 2) {
        conn_disconnect(c, "qos2_refused", MQTT5_QOS_NOT_SUPPORTED);
        return;
    }
    if (c->version == MQTT_V5 && p->retain) {
        conn_disconnect(c, "retain_refused", MQTT5_RETAIN_NOT_SUPPORTED);
        return;
    }
    if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)) {
        conn_disconnect(c, "topic_alias_refused", MQTT5_TOPIC_ALIAS_INVALID);
        return;
    }
    char dev[TN_ID_MAX + 1];
    bool replace = false;
    uint8_t reason = MQTT5_SUCCESS;
    if (!s->can_write || mqtt_topic_parse_downlink(s->uid, (const char *)p->topic.p, p->topic.len,
                                                   dev, sizeof dev, &replace) != 0) {
        reason = MQTT5_NOT_AUTHORIZED;
        m->st.downlinks_denied++;
        lw_metric_series_add(m->c_down_denied, 1);
        lw_log_kv(LW_LOG_DEBUG, "as", "mqtt publish refused", LW_LOG_STR("uid", s->uid),
                  LW_LOG_BOOL("can_write", s->can_write));
    } else {
        m->st.downlinks++;
        lw_metric_series_add(m->c_down_ok, 1);
        if (m->cb.downlink != NULL)
            m->cb.downlink(m->cb.arg, s->tenant, s->app, dev, replace, p->payload.p,
                           p->payload.len);
    }
    if (p->qos == 1 && !c->closing) {
        uint8_t b[8];
        size_t n = mqtt_encode_ack(c->version, MQTT_PUBACK, p->packet_id, reason, b, sizeof b);
        conn_write(c, b, n);
    }
}

static void on_puback(conn_t *c, uint16_t pid)
{
    session_t *s = c->s;
    qitem_t *prev = NULL;
    for (qitem_t *it = s->inflight.head; it != NULL; prev = it, it = it->next) {
        if (it->packet_id != pid)
            continue;
        if (prev != NULL)
            prev->next = it->next;
        else
            s->inflight.head = it->next;
        if (s->inflight.tail == it)
            s->inflight.tail = prev;
        s->inflight.n--;
        msg_unref(it->msg);
        free(it);
        break;
    }
    /* An unknown identifier is ignored (a PUBACK that crossed a reconnect). What the freed
     * slots let through goes out at the end of the loop turn, with the other PUBACKs read
     * in it. */
    if (s->pending.head != NULL && !c->lagging)
        mark_dirty(c->m, c);
}

static void on_subscribe(conn_t *c, const mqtt_subscribe_t *sub, bool unsub)
{
    as_mqtt_srv_t *m = c->m;
    session_t *s = c->s;
    uint8_t codes[MQTT_FILTERS_MAX];
    if (!unsub && (sub->props.present & MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID))) {
        conn_disconnect(c, "subscription_id_refused", MQTT5_SUB_IDS_NOT_SUPPORTED);
        return;
    }
    for (size_t i = 0; i < sub->n; i++) {
        const mqtt_filter_t *f = &sub->f[i];
        char asked[FILTER_MAX + 1];
        size_t al = f->filter.len > FILTER_MAX ? FILTER_MAX : f->filter.len;
        memcpy(asked, f->filter.p, al);
        asked[al] = '\0';
        size_t found = s->n_subs;
        for (size_t k = 0; k < s->n_subs; k++)
            if (strcmp(s->subs[k].asked, asked) == 0)
                found = k;
        if (unsub) {
            codes[i] = found < s->n_subs ? MQTT5_SUCCESS : MQTT5_NO_SUBSCRIPTION_EXISTED;
            if (found < s->n_subs) {
                free(s->subs[found].asked);
                s->subs[found] = s->subs[--s->n_subs];
            }
            continue;
        }
        char accepted[FILTER_MAX + 1];
        const char *why = NULL;
        uint8_t code5 = MQTT5_NOT_AUTHORIZED;
        if (!s->can_read)
            why = "no_read_right";
        else if (c->version == MQTT_V5 && al >= 7 && memcmp(asked, "$share/", 7) == 0)
            why = "shared", code5 = MQTT5_SHARED_SUB_NOT_SUPPORTED;
        else if (f->filter.len > FILTER_MAX ||
                 mqtt_topic_accept_filter(s->uid, asked, al, accepted, sizeof accepted) < 0)
            why = "other_application";
        else if (found == s->n_subs && s->n_subs == SUBS_MAX)
            why = "too_many", code5 = MQTT5_QUOTA_EXCEEDED;
        if (why != NULL) {
            codes[i] = c->version == MQTT_V5 ? code5 : 0x80;
            count(m->f_subs, why);
            lw_log_kv(LW_LOG_INFO, "as", "mqtt subscription refused", LW_LOG_STR("uid", s->uid),
                      LW_LOG_STR("reason", why));
            continue;
        }
        uint8_t qos = f->qos > 1 ? 1 : f->qos;
        sub_t *t = &s->subs[found];
        if (found == s->n_subs) {
            s->n_subs++;
            t->asked = lw_strdup(asked);
        }
        snprintf(t->filter, sizeof t->filter, "%s", accepted);
        t->qos = qos;
        codes[i] = qos;
        count(m->f_subs, "granted");
    }
    uint8_t b[64];
    size_t n = mqtt_encode_suback(c->version, unsub ? MQTT_UNSUBACK : MQTT_SUBACK, sub->packet_id,
                                  codes, sub->n, b, sizeof b);
    conn_write(c, b, n);
}

static void on_packet(conn_t *c, const mqtt_packet_t *pk)
{
    switch (pk->fh.type) {
    case MQTT_CONNECT:
        /* 3.1.1 §3.1.0-2 / 5.0 §3.1.0-2: a second CONNECT is a protocol violation. */
        conn_disconnect(c, "second_connect", MQTT5_PROTOCOL_ERROR);
        break;
    case MQTT_PUBLISH:
        on_publish(c, &pk->u.publish);
        break;
    case MQTT_PUBACK:
        on_puback(c, pk->u.ack.packet_id);
        break;
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        conn_disconnect(c, "qos2_refused", MQTT5_PROTOCOL_ERROR);
        break;
    case MQTT_SUBSCRIBE:
        on_subscribe(c, &pk->u.subscribe, false);
        break;
    case MQTT_UNSUBSCRIBE:
        on_subscribe(c, &pk->u.subscribe, true);
        break;
    case MQTT_PINGREQ: {
        uint8_t b[2];
        conn_write(c, b, mqtt_encode_pingresp(b, sizeof b));
        break;
    }
    case MQTT_DISCONNECT: {
        const mqtt_disconnect_t *d = &pk->u.disconnect;
        session_t *s = c->s;
        /* 5.0 §3.14.2.2.2: the client may change the session's expiry, not from 0. */
        if (d->props.present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY)) {
            if (s->expiry_s == 0 && d->props.session_expiry_s != 0) {
                conn_disconnect(c, "protocol_error", MQTT5_PROTOCOL_ERROR);
                break;
            }
            uint32_t e = d->props.session_expiry_s;
            s->expiry_s = e > c->m->o.session_expiry_max_s ? c->m->o.session_expiry_max_s : e;
            s->persistent = s->expiry_s > 0;
        }
        conn_disconnect(c, "client_disconnect", 0);
        break;
    }
    default: /* MQTT_AUTH: no enhanced authentication was agreed */
        conn_disconnect(c, "protocol_error", MQTT5_PROTOCOL_ERROR);
        break;
    }
}

static void malformed(conn_t *c, int rc)
{
    as_mqtt_srv_t *m = c->m;
    m->st.malformed++;
    count(m->f_malformed, mqtt_err_name(rc));
    lw_log_kv(LW_LOG_INFO, "as", "mqtt packet malformed", LW_LOG_STR("reason", mqtt_err_name(rc)),
              LW_LOG_STR("uid", c->s != NULL ? c->s->uid : ""));
    if (!c->connected && c->version == MQTT_V5) {
        /* A 5.0 CONNECT that failed: CONNACK with the reason (§4.13.1). */
        connack(c, false, 0, mqtt_err_reason(rc), NULL, "malformed");
        return;
    }
    conn_disconnect(c, "malformed", mqtt_err_reason(rc));
}

static size_t on_data(void *arg, lw_tcp_conn_t *tcp, const uint8_t *data, size_t len)
{
    as_mqtt_srv_t *m = arg;
    conn_t *c = lw_tcp_conn_data(tcp);
    size_t off = 0;
    mqtt_packet_t pk;
    while (off < len && !c->closing && c->auth == NULL) {
        mqtt_fixed_t fh;
        int rc = mqtt_frame(data + off, len - off, m->o.max_packet, &fh);
        if (rc == 0)
            break;
        if (rc < 0) {
            malformed(c, rc);
            break;
        }
        size_t plen = (size_t)fh.header_len + fh.remaining;
        if (!c->connected && fh.type != MQTT_CONNECT) {
            conn_disconnect(c, "no_connect", 0);
            break;
        }
        rc = mqtt_decode(c->connected ? c->version : 0, data + off, plen, m->o.max_packet, &pk);
        c->last_rx_ms = lw_clock_mono_ms();
        off += plen;
        if (rc != MQTT_OK) {
            if (fh.type == MQTT_CONNECT && rc == -MQTT_E_PROTOCOL_VERSION) {
                /* 3.1.1 §3.1.2-2: CONNACK 0x01, then close. */
                c->version = MQTT_V311;
                refuse_connect(c, MQTT311_CONNACK_BAD_VERSION, MQTT5_UNSUPPORTED_VERSION, NULL,
                               "bad_version");
                break;
            }
            if (fh.type == MQTT_CONNECT && pk.u.connect.version == MQTT_V5)
                c->version = MQTT_V5;
            malformed(c, rc);
            break;
        }
        if (fh.type == MQTT_CONNECT && !c->connected) {
            if (on_connect(c, &pk.u.connect) != 0)
                break; /* waiting for the auth answer */
            continue;
        }
        on_packet(c, &pk);
    }
    return off;
}

/* ---- timers ---- */

static void sweep(as_mqtt_srv_t *m, uint64_t now)
{
    for (conn_t *c = m->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (!c->connected && c->auth == NULL && now - c->accepted_ms > m->o.connect_timeout_ms) {
            conn_disconnect(c, "connect_timeout", 0);
            continue;
        }
        /* 3.1.1 §3.1.2.10 / 5.0 §3.1.2.10: one and a half times the keep alive. */
        if (c->connected && c->keepalive_s > 0 &&
            now - c->last_rx_ms > (uint64_t)c->keepalive_s * 1500u) {
            m->st.keepalive_disconnects++;
            conn_disconnect(c, "keepalive", MQTT5_KEEP_ALIVE_TIMEOUT);
        }
    }
    for (size_t b = 0; b < BUCKETS; b++) {
        for (session_t *s = m->by_uid[b], *next; s != NULL; s = next) {
            next = s->next_uid;
            if (s->conn == NULL && now - s->away_since_ms > (uint64_t)s->expiry_s * 1000u) {
                count(m->f_dropped, "session_expired");
                session_free(m, s);
            }
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    as_mqtt_srv_t *m = t->data;
    for (conn_t *c = m->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->lagging && !c->closing && c->s != NULL)
            session_flush(c->s);
    }
    if (++m->ticks % SWEEP_TICKS == 0)
        sweep(m, lw_clock_mono_ms());
}

/* ---- the interface ---- */

static void listener_free_cb(void *arg)
{
    lw_tcp_listener_free(arg);
}

as_mqtt_srv_t *as_mqtt_new(uv_loop_t *loop, lw_metrics_t *mx, const as_mqtt_opts_t *opts,
                           const as_mqtt_callbacks_t *cb, lw_err_t *err)
{
    if (cb == NULL || cb->auth == NULL || opts->max_packet < 1024 || opts->output_cap < 8192 ||
        opts->session_queue < 1 || opts->inflight < 1) {
        lw_err_set(err, &lw_err_invalid_argument, "invalid MQTT server options");
        return NULL;
    }
    as_mqtt_srv_t *m = lw_calloc(1, sizeof *m);
    m->loop = loop;
    m->o = *opts;
    m->cb = *cb;
    static const char *const reason[] = {"reason", NULL};
    static const char *const result[] = {"result", NULL};
    static const char *const qos[] = {"qos", NULL};
    m->f_connects = lw_metrics_counter(mx, "lwstack_as_mqtt_connects_total",
                                       "MQTT CONNECTs answered, by result", result);
    m->f_disconnects = lw_metrics_counter(mx, "lwstack_as_mqtt_disconnects_total",
                                          "MQTT connections closed, by reason", reason);
    m->f_malformed = lw_metrics_counter(mx, "lwstack_as_mqtt_malformed_total",
                                        "Malformed MQTT packets, by reason", reason);
    m->f_dropped = lw_metrics_counter(mx, "lwstack_as_mqtt_dropped_total",
                                      "MQTT messages not delivered, by reason", reason);
    m->f_subs = lw_metrics_counter(mx, "lwstack_as_mqtt_subscriptions_total",
                                   "MQTT subscriptions, granted or refused (by reason)", result);
    lw_metric_t *deliv = lw_metrics_counter(mx, "lwstack_as_mqtt_delivered_total",
                                            "MQTT messages written to subscribers, by QoS", qos);
    lw_metric_t *down = lw_metrics_counter(mx, "lwstack_as_mqtt_downlinks_total",
                                           "MQTT client publishes, by result", result);
    m->g_conns = lw_metric_series(
        lw_metrics_gauge(mx, "lwstack_as_mqtt_connections", "Open MQTT connections", NULL), NULL);
    m->g_sessions = lw_metric_series(
        lw_metrics_gauge(mx, "lwstack_as_mqtt_sessions", "MQTT sessions held", NULL), NULL);
    m->c_deliv0 = lw_metric_series(deliv, (const char *const[]){"0", NULL});
    m->c_deliv1 = lw_metric_series(deliv, (const char *const[]){"1", NULL});
    m->c_down_ok = lw_metric_series(down, (const char *const[]){"accepted", NULL});
    m->c_down_denied = lw_metric_series(down, (const char *const[]){"denied", NULL});

    lw_tcp_opts_t to = {.addr = opts->listen,
                        .max_connections = opts->max_connections,
                        .input_cap = opts->max_packet,
                        .output_cap = opts->output_cap};
    lw_tcp_handler_t h = {.on_accept = on_accept, .on_data = on_data, .on_close = on_close};
    m->l = lw_tcp_listen(loop, &to, &h, m, err);
    if (m->l == NULL) {
        free(m);
        return NULL;
    }
    if (opts->listen_tls != NULL && opts->listen_tls[0] != '\0') {
        /* The same server (sessions, subscriptions) behind both listeners. */
        to.addr = opts->listen_tls;
        to.tls_certificate = opts->tls_certificate;
        to.tls_key = opts->tls_key;
        m->l_tls = lw_tcp_listen(loop, &to, &h, m, err);
        if (m->l_tls == NULL) {
            /* The plain listener has no connection yet: it is freed once its handle closed. */
            lw_tcp_listener_close(m->l, listener_free_cb, m->l);
            free(m);
            return NULL;
        }
    }
    uv_check_init(loop, &m->check);
    m->check.data = m;
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    uv_timer_start(&m->timer, on_tick, TICK_MS, TICK_MS);
    return m;
}

int as_mqtt_port(const as_mqtt_srv_t *m)
{
    return lw_tcp_listener_port(m->l);
}

int as_mqtt_port_tls(const as_mqtt_srv_t *m)
{
    return m->l_tls != NULL ? lw_tcp_listener_port(m->l_tls) : 0;
}

size_t as_mqtt_publish(as_mqtt_srv_t *m, const char *tenant_id, const char *app_id,
                       const char *dev_id, const char *suffix, const uint8_t *payload, size_t len)
{
    char uid[UID_MAX + 1];
    snprintf(uid, sizeof uid, "%s@%s", app_id, tenant_id);
    uint32_t h = hash_str(uid, NULL);
    msg_t *g = NULL;
    size_t delivered = 0;
    for (session_t *s = m->by_uid[h % BUCKETS], *next; s != NULL; s = next) {
        next = s->next_uid;
        if (s->uid_hash != h || strcmp(s->uid, uid) != 0 || !s->can_read)
            continue;
        if (g == NULL) {
            char topic[3 + UID_MAX + 9 + TN_ID_MAX + 32];
            int tl = mqtt_topic_build(tenant_id, app_id, dev_id, suffix, topic, sizeof topic);
            if (tl < 0 || !mqtt_topic_suffix_readable(suffix))
                return 0;
            g = lw_malloc(sizeof *g + (size_t)tl + len);
            g->refs = 1;
            g->topic = (char *)(g + 1);
            g->topic_len = (size_t)tl;
            memcpy(g->topic, topic, (size_t)tl);
            g->payload = (uint8_t *)g->topic + tl;
            g->payload_len = len;
            if (len > 0)
                memcpy(g->payload, payload, len);
        }
        int qos = -1;
        for (size_t i = 0; i < s->n_subs; i++)
            if (s->subs[i].qos > qos &&
                mqtt_topic_match(s->subs[i].filter, strlen(s->subs[i].filter), g->topic,
                                 g->topic_len))
                qos = s->subs[i].qos;
        if (qos < 0)
            continue;
        if (s->conn == NULL && qos == 0)
            continue; /* QoS 0 is not kept for a client away */
        if (s->pending.n >= m->o.session_queue) {
            if (s->conn != NULL && !s->conn->closing) {
                m->st.slow_disconnects++;
                conn_disconnect(s->conn, "slow_subscriber", 0);
            }
            m->st.dropped_queue_full++;
            count(m->f_dropped, "session_queue_full");
            continue;
        }
        qitem_t *it = lw_calloc(1, sizeof *it);
        it->msg = msg_ref(g);
        it->qos = (uint8_t)qos;
        q_push(&s->pending, it);
        delivered++;
        /* Written at the end of the loop turn, with the other messages of the turn; at once
         * when enough are waiting (a burst never reaches the slow-subscriber limit). */
        conn_t *c = s->conn;
        if (c != NULL && !c->closing && !c->lagging) {
            size_t at = m->o.session_queue < FLUSH_AT ? m->o.session_queue : FLUSH_AT;
            if (s->pending.n >= at)
                session_flush(s);
            else
                mark_dirty(m, c);
        }
    }
    msg_unref(g);
    return delivered;
}

size_t as_mqtt_close_tenant(as_mqtt_srv_t *m, const char *tenant_id)
{
    size_t n = 0;
    for (conn_t *c = m->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->closing || strcmp(c->tenant, tenant_id) != 0)
            continue;
        n++;
        if (c->auth != NULL) {
            c->auth->c = NULL;
            c->auth = NULL;
            refuse_connect(c, MQTT311_CONNACK_NOT_AUTHORIZED, MQTT5_NOT_AUTHORIZED, NULL,
                           "not_authorized");
            continue;
        }
        conn_disconnect(c, "tenant_closed", MQTT5_ADMINISTRATIVE_ACTION);
    }
    return n;
}

static void closed_one(as_mqtt_srv_t *m)
{
    if (--m->closing == 0 && m->stop_done != NULL)
        m->stop_done(m->stop_arg);
}

static void on_listener_closed(void *arg)
{
    closed_one(arg);
}

static void on_timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void as_mqtt_stop(as_mqtt_srv_t *m, void (*done)(void *arg), void *arg)
{
    m->stop_done = done;
    m->stop_arg = arg;
    m->closing = m->l_tls != NULL ? 4 : 3;
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
    uv_check_stop(&m->check);
    uv_close((uv_handle_t *)&m->check, on_timer_closed);
    for (conn_t *c = m->conns; c != NULL; c = c->next)
        if (!c->closing)
            conn_disconnect(c, "server_stop", MQTT5_SERVER_SHUTTING_DOWN);
    lw_tcp_listener_close(m->l, on_listener_closed, m);
    if (m->l_tls != NULL)
        lw_tcp_listener_close(m->l_tls, on_listener_closed, m);
}

void as_mqtt_free(as_mqtt_srv_t *m)
{
    if (m == NULL)
        return;
    for (auth_pending_t *a = m->auths; a != NULL; a = a->next)
        a->m = NULL;
    for (size_t b = 0; b < BUCKETS; b++)
        while (m->by_uid[b] != NULL)
            session_free(m, m->by_uid[b]);
    lw_tcp_listener_free(m->l);
    lw_tcp_listener_free(m->l_tls);
    free(m->scratch);
    free(m->dirty);
    free(m);
}

void as_mqtt_stats(const as_mqtt_srv_t *m, as_mqtt_stats_t *out)
{
    *out = m->st;
    out->connections = m->n_conns;
    out->sessions = m->n_sessions;
}
