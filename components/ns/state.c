/* A device's NS part in memory (ns_settings_t, ns_state_t) and its records at rest
 * (ns.proto NsSettings, NsState). Session keys are wrapped at rest with the KEK of
 * ns.key-encryption-key (RFC 3394, label kept next to the key); without one they are
 * stored in clear with an empty label. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster/mem.h"
#include "ns.pb-c.h"
#include "ns/ns_private.h"

void ns_settings_defaults(ns_settings_t *s)
{
    memset(s, 0, sizeof *s);
}

void ns_settings_destroy(ns_settings_t *s)
{
    free(s->mac_json);
    s->mac_json = NULL;
    free(s->desired);
    s->desired = NULL;
}

/* ---- shared settings ----------------------------------------------------------------------- */

const ns_settings_t ns_settings_none;

typedef struct ns_sref {
    struct ns_sref *next; /* hash chain */
    uint64_t hash;
    uint32_t refs;
    ns_settings_t set;
    size_t len;
    uint8_t blob[]; /* the settings encoded without EUIs: what makes two equal */
} ns_sref_t;

static ns_sref_t *sref_of(const ns_settings_t *s)
{
    return (ns_sref_t *)(void *)((char *)s - offsetof(ns_sref_t, set));
}

static void srefs_grow(ns_t *ns)
{
    size_t cap = ns->srefs_cap == 0 ? 64 : ns->srefs_cap * 2;
    ns_sref_t **b = lw_calloc(cap, sizeof *b);
    for (size_t i = 0; i < ns->srefs_cap; i++) {
        ns_sref_t *r = ns->srefs[i];
        while (r != NULL) {
            ns_sref_t *next = r->next;
            r->next = b[r->hash & (cap - 1)];
            b[r->hash & (cap - 1)] = r;
            r = next;
        }
    }
    free(ns->srefs);
    ns->srefs = b;
    ns->srefs_cap = cap;
}

const ns_settings_t *ns_settings_intern(ns_t *ns, ns_settings_t *s)
{
    s->has_dev_eui = s->has_join_eui = false;
    s->dev_eui = s->join_eui = 0;
    uint8_t *blob = NULL;
    size_t len = 0;
    ns_settings_encode(s, &blob, &len);
    uint64_t h = ns_hash64(blob, len);
    if (ns->srefs_cap == 0)
        srefs_grow(ns);
    for (ns_sref_t *r = ns->srefs[h & (ns->srefs_cap - 1)]; r != NULL; r = r->next) {
        if (r->hash == h && r->len == len && memcmp(r->blob, blob, len) == 0) {
            r->refs++;
            free(blob);
            ns_settings_destroy(s);
            return &r->set;
        }
    }
    ns_sref_t *r = lw_malloc(sizeof *r + len);
    r->hash = h;
    r->refs = 1;
    r->set = *s;
    memset(s, 0, sizeof *s);
    free(r->set.desired);
    r->set.desired = NULL;
    ns_mac_params_t buf;
    const ns_mac_params_t *des = ns_dev_desired(&(ns_dev_t){.set = &r->set}, &buf);
    if (des != NULL) {
        r->set.desired = lw_malloc(sizeof *r->set.desired);
        *r->set.desired = *des;
    }
    r->len = len;
    memcpy(r->blob, blob, len);
    free(blob);
    if (++ns->nsrefs > ns->srefs_cap)
        srefs_grow(ns);
    r->next = ns->srefs[h & (ns->srefs_cap - 1)];
    ns->srefs[h & (ns->srefs_cap - 1)] = r;
    return &r->set;
}

void ns_settings_release(ns_t *ns, const ns_settings_t *s)
{
    if (s == NULL || s == &ns_settings_none)
        return;
    ns_sref_t *r = sref_of(s);
    if (--r->refs > 0)
        return;
    ns_sref_t **pp = &ns->srefs[r->hash & (ns->srefs_cap - 1)];
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    ns->nsrefs--;
    ns_settings_destroy(&r->set);
    free(r);
}

void ns_settings_pool_free(ns_t *ns)
{
    for (size_t i = 0; i < ns->srefs_cap; i++) {
        ns_sref_t *r = ns->srefs[i];
        while (r != NULL) {
            ns_sref_t *next = r->next;
            ns_settings_destroy(&r->set);
            free(r);
            r = next;
        }
    }
    free(ns->srefs);
    ns->srefs = NULL;
    ns->srefs_cap = ns->nsrefs = 0;
}

void ns_state_init(ns_state_t *st)
{
    memset(st, 0, sizeof *st);
}

static const ns_session_t state_no_session;

const ns_session_t *ns_state_pending(const ns_state_t *st)
{
    return st->pending != NULL ? st->pending : &state_no_session;
}

void ns_state_set_pending(ns_state_t *st, const ns_session_t *s)
{
    if (st->pending == NULL)
        st->pending = lw_malloc(sizeof *st->pending);
    *st->pending = *s;
}

void ns_state_clear_pending(ns_state_t *st)
{
    if (st->pending == NULL)
        return;
    memset(st->pending, 0, sizeof *st->pending); /* keys wiped */
    free(st->pending);
    st->pending = NULL;
}

void ns_state_destroy(ns_state_t *st)
{
    ns_state_clear_pending(st);
    free(st->queue);
    free(st->mac);
    free(st->pending_mac);
    free(st->awaiting_ack);
    ns_flight_free(st->flight);
    free(st->c_paths);
    free(st->last_gw);
    /* Keys in memory are wiped with their state. */
    memset(st, 0, sizeof *st);
}

void ns_flight_free(ns_flight_t *f)
{
    if (f == NULL)
        return;
    free(f->app);
    free(f->events);
    free(f->gs_down);
    free(f->paths);
    free(f);
}

void ns_state_take_queue(ns_state_t *st, ns_queued_t **out, size_t *n)
{
    *out = st->queue;
    *n = st->nqueue;
    st->queue = NULL;
    st->nqueue = 0;
}

static uint64_t recent_of(const uint8_t *id)
{
    uint64_t lo, hi;
    memcpy(&lo, id, sizeof lo);
    memcpy(&hi, id + sizeof lo, sizeof hi);
    return lo ^ hi;
}

bool ns_state_recent_has(const ns_state_t *st, const uint8_t id[LW_MSG_ID_LEN])
{
    uint64_t v = recent_of(id);
    for (unsigned i = 0; i < st->nrecent; i++)
        if (st->recent[i] == v)
            return true;
    return false;
}

static void recent_put(ns_state_t *st, uint64_t v)
{
    for (unsigned i = 0; i < st->nrecent; i++)
        if (st->recent[i] == v)
            return;
    st->recent[st->recent_next] = v;
    st->recent_next = (uint8_t)((st->recent_next + 1) % NS_RECENT_IDS);
    if (st->nrecent < NS_RECENT_IDS)
        st->nrecent++;
}

void ns_state_recent_add(ns_state_t *st, const uint8_t id[LW_MSG_ID_LEN])
{
    recent_put(st, recent_of(id));
}

/* ---- settings ------------------------------------------------------------------------------ */

int ns_settings_encode(const ns_settings_t *s, uint8_t **out, size_t *len)
{
    Lw__Ns__NsSettings m = LW__NS__NS_SETTINGS__INIT;
    m.lorawan_version = (char *)s->lorawan_version;
    m.lorawan_phy_version = (char *)s->phy_version;
    m.frequency_plan_id = (char *)s->fp_id;
    m.supports_join = s->supports_join;
    m.supports_class_c = s->supports_class_c;
    m.mac_settings = s->mac_json != NULL ? s->mac_json : (char *)"";
    m.dev_eui = s->dev_eui;
    m.join_eui = s->join_eui;
    m.has_dev_eui = s->has_dev_eui;
    m.has_join_eui = s->has_join_eui;
    *len = lw__ns__ns_settings__get_packed_size(&m);
    *out = lw_malloc(*len + 1);
    lw__ns__ns_settings__pack(&m, *out);
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

int ns_settings_decode(const uint8_t *buf, size_t len, ns_settings_t *s)
{
    ns_settings_defaults(s);
    Lw__Ns__NsSettings *m = lw__ns__ns_settings__unpack(NULL, len, buf);
    if (m == NULL)
        return -1;
    copy_str(s->lorawan_version, sizeof s->lorawan_version, m->lorawan_version);
    copy_str(s->phy_version, sizeof s->phy_version, m->lorawan_phy_version);
    copy_str(s->fp_id, sizeof s->fp_id, m->frequency_plan_id);
    s->supports_join = m->supports_join;
    s->supports_class_c = m->supports_class_c;
    s->dev_eui = m->dev_eui;
    s->join_eui = m->join_eui;
    s->has_dev_eui = m->has_dev_eui;
    s->has_join_eui = m->has_join_eui;
    int rc = 0;
    if (m->mac_settings != NULL && m->mac_settings[0] != '\0') {
        json_t *j = json_loads(m->mac_settings, 0, NULL);
        lw_err_t e;
        if (j == NULL || ns_mac_settings_parse(j, "mac_settings", s, &e) != 0)
            rc = -1;
        else
            s->mac_json = lw_strdup(m->mac_settings);
        json_decref(j);
    }
    lw__ns__ns_settings__free_unpacked(m, NULL);
    return rc;
}

/* ---- state --------------------------------------------------------------------------------- */

typedef struct key_buf {
    Lw__Ns__NsKey k;
    uint8_t wrapped[LORAWAN_KEY_LEN + 8];
} key_buf_t;

static int key_out(key_buf_t *b, const uint8_t key[LORAWAN_KEY_LEN], const ns_kek_t *kek)
{
    lw__ns__ns_key__init(&b->k);
    if (kek == NULL || kek->len == 0) {
        b->k.kek_label = (char *)"";
        memcpy(b->wrapped, key, LORAWAN_KEY_LEN);
        b->k.key.data = b->wrapped;
        b->k.key.len = LORAWAN_KEY_LEN;
        return 0;
    }
    size_t n = 0;
    if (lorawan_key_wrap(kek->key, kek->len, key, LORAWAN_KEY_LEN, b->wrapped, sizeof b->wrapped,
                         &n) != 0)
        return -1;
    b->k.kek_label = (char *)kek->label;
    b->k.key.data = b->wrapped;
    b->k.key.len = n;
    return 0;
}

static int key_in(const Lw__Ns__NsKey *k, ns_kek_lookup_fn lookup, void *arg,
                  uint8_t out[LORAWAN_KEY_LEN])
{
    if (k == NULL)
        return -1;
    if (k->kek_label == NULL || k->kek_label[0] == '\0') {
        if (k->key.len != LORAWAN_KEY_LEN)
            return -1;
        memcpy(out, k->key.data, LORAWAN_KEY_LEN);
        return 0;
    }
    const ns_kek_t *kek = lookup != NULL ? lookup(arg, k->kek_label) : NULL;
    if (kek == NULL)
        return -1;
    size_t n = 0;
    uint8_t plain[32];
    if (lorawan_key_unwrap(kek->key, kek->len, k->key.data, k->key.len, plain, sizeof plain, &n) !=
            0 ||
        n != LORAWAN_KEY_LEN)
        return -1;
    memcpy(out, plain, LORAWAN_KEY_LEN);
    memset(plain, 0, sizeof plain);
    return 0;
}

typedef struct session_buf {
    Lw__Ns__NsSession s;
    key_buf_t f, sn, e;
} session_buf_t;

static int session_out(session_buf_t *b, const ns_session_t *s, const ns_kek_t *kek)
{
    lw__ns__ns_session__init(&b->s);
    b->s.dev_addr = s->dev_addr;
    b->s.session_key_id.data = (uint8_t *)s->key_id;
    b->s.session_key_id.len = s->key_id_len;
    if (key_out(&b->f, s->f_nwk_s_int_key, kek) != 0 ||
        key_out(&b->sn, s->s_nwk_s_int_key, kek) != 0 || key_out(&b->e, s->nwk_s_enc_key, kek) != 0)
        return -1;
    b->s.f_nwk_s_int_key = &b->f.k;
    b->s.s_nwk_s_int_key = &b->sn.k;
    b->s.nwk_s_enc_key = &b->e.k;
    b->s.last_f_cnt_up = s->last_f_cnt_up;
    b->s.has_f_cnt_up = s->has_f_cnt_up;
    b->s.last_n_f_cnt_down = s->last_n_f_cnt_down;
    b->s.last_a_f_cnt_down = s->last_a_f_cnt_down;
    b->s.has_n_f_cnt_down = s->has_n_f_cnt_down;
    b->s.has_a_f_cnt_down = s->has_a_f_cnt_down;
    b->s.started_at = s->started_at_ns;
    return 0;
}

static int session_in(const Lw__Ns__NsSession *m, ns_kek_lookup_fn lookup, void *arg,
                      ns_session_t *s)
{
    memset(s, 0, sizeof *s);
    if (m == NULL)
        return 0;
    s->valid = true;
    s->dev_addr = m->dev_addr;
    if (m->session_key_id.len > NS_KEY_ID_MAX)
        return -1;
    if (m->session_key_id.len > 0)
        memcpy(s->key_id, m->session_key_id.data, m->session_key_id.len);
    s->key_id_len = (uint8_t)m->session_key_id.len;
    if (key_in(m->f_nwk_s_int_key, lookup, arg, s->f_nwk_s_int_key) != 0 ||
        key_in(m->s_nwk_s_int_key, lookup, arg, s->s_nwk_s_int_key) != 0 ||
        key_in(m->nwk_s_enc_key, lookup, arg, s->nwk_s_enc_key) != 0)
        return -1;
    s->last_f_cnt_up = m->last_f_cnt_up;
    s->has_f_cnt_up = m->has_f_cnt_up;
    s->last_n_f_cnt_down = m->last_n_f_cnt_down;
    s->last_a_f_cnt_down = m->last_a_f_cnt_down;
    s->has_n_f_cnt_down = m->has_n_f_cnt_down;
    s->has_a_f_cnt_down = m->has_a_f_cnt_down;
    s->started_at_ns = m->started_at;
    /* kek_label_app_s_key / app_s_key of records written before: not needed any more. */
    return 0;
}

static void queued_out(Lw__Ns__NsQueued *q, const ns_queued_t *in, char **corr)
{
    lw__ns__ns_queued__init(q);
    q->session_key_id.data = (uint8_t *)in->key_id;
    q->session_key_id.len = in->key_id_len;
    q->f_port = in->f_port;
    q->f_cnt = in->f_cnt;
    q->frm_payload.data = (uint8_t *)in->payload;
    q->frm_payload.len = in->len;
    q->confirmed = in->confirmed;
    q->priority = in->priority;
    q->retry_attempt = in->retry_attempt;
    q->retry_max_attempts = in->retry_max;
    if (in->corr[0] != '\0') {
        *corr = (char *)in->corr;
        q->correlation_ids = corr;
        q->n_correlation_ids = 1;
    }
}

static int queued_in(const Lw__Ns__NsQueued *q, ns_queued_t *out)
{
    memset(out, 0, sizeof *out);
    if (q->session_key_id.len > NS_KEY_ID_MAX || q->frm_payload.len > LORAWAN_PHY_MAX_LEN)
        return -1;
    if (q->session_key_id.len > 0)
        memcpy(out->key_id, q->session_key_id.data, q->session_key_id.len);
    out->key_id_len = (uint8_t)q->session_key_id.len;
    out->f_port = (uint8_t)q->f_port;
    out->f_cnt = q->f_cnt;
    if (q->frm_payload.len > 0)
        memcpy(out->payload, q->frm_payload.data, q->frm_payload.len);
    out->len = (uint16_t)q->frm_payload.len;
    out->confirmed = q->confirmed;
    out->priority = (uint8_t)q->priority;
    out->retry_attempt = q->retry_attempt;
    out->retry_max = q->retry_max_attempts;
    if (q->n_correlation_ids > 0)
        copy_str(out->corr, sizeof out->corr, q->correlation_ids[0]);
    return 0;
}

static void path_out(Lw__Ns__NsPath *o, const ns_path_t *p)
{
    lw__ns__ns_path__init(o);
    o->gateway_id = (char *)p->gateway_id;
    o->tenant_id = (char *)p->tenant_id;
    o->eui = p->eui;
    o->antenna_index = p->antenna;
    o->timestamp = p->timestamp;
    o->uplink_token.data = (uint8_t *)p->token;
    o->uplink_token.len = p->token_len;
}

static int path_in(const Lw__Ns__NsPath *o, ns_path_t *p)
{
    memset(p, 0, sizeof *p);
    if (o->uplink_token.len > NS_TOKEN_MAX)
        return -1;
    copy_str(p->gateway_id, sizeof p->gateway_id, o->gateway_id);
    copy_str(p->tenant_id, sizeof p->tenant_id, o->tenant_id);
    p->eui = o->eui;
    p->antenna = o->antenna_index;
    p->timestamp = o->timestamp;
    if (o->uplink_token.len > 0)
        memcpy(p->token, o->uplink_token.data, o->uplink_token.len);
    p->token_len = (uint8_t)o->uplink_token.len;
    return 0;
}

/* paths[0..n) as NsPath records into (*recs, *ptrs), malloc'd (NULL when n is 0). */
static void paths_out(const ns_path_t *paths, size_t n, Lw__Ns__NsPath **recs,
                      Lw__Ns__NsPath ***ptrs)
{
    *recs = n > 0 ? lw_calloc(n, sizeof **recs) : NULL;
    *ptrs = n > 0 ? lw_calloc(n, sizeof **ptrs) : NULL;
    for (size_t i = 0; i < n; i++) {
        path_out(&(*recs)[i], &paths[i]);
        (*ptrs)[i] = &(*recs)[i];
    }
}

static int paths_in(Lw__Ns__NsPath *const *recs, size_t n, ns_path_t **out, uint8_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    if (n > NS_PATHS_MAX)
        n = NS_PATHS_MAX;
    *out = lw_calloc(n, sizeof **out);
    for (size_t i = 0; i < n; i++)
        if (path_in(recs[i], &(*out)[i]) != 0)
            return -1;
    *nout = (uint8_t)n;
    return 0;
}

int ns_state_encode(const ns_state_t *st, const ns_kek_t *kek, uint8_t **out, size_t *len)
{
    int rc = -1;
    Lw__Ns__NsState m = LW__NS__NS_STATE__INIT;
    session_buf_t sb, pb;
    if (st->session.valid) {
        if (session_out(&sb, &st->session, kek) != 0)
            return -1;
        m.session = &sb.s;
    }
    if (st->pending != NULL && st->pending->valid) {
        if (session_out(&pb, st->pending, kek) != 0)
            return -1;
        m.pending_session = &pb.s;
    }
    Lw__Ns__NsMacState mac = LW__NS__NS_MAC_STATE__INIT;
    mac.version = NS_MAC_STORED_VERSION; /* mac: the stored form; pending_mac: whole */
    if (st->mac != NULL) {
        mac.mac.data = st->mac->b;
        mac.mac.len = st->mac->len;
    }
    if (st->pending_mac != NULL) {
        mac.pending_mac.data = (uint8_t *)st->pending_mac;
        mac.pending_mac.len = sizeof *st->pending_mac;
    }
    mac.last_uplink_dr = st->radio.last_dr;
    mac.last_uplink_channel = st->radio.last_ch;
    mac.last_uplink_frequency = st->radio.last_freq_hz;
    m.mac_state = &mac;

    Lw__Ns__NsQueued *qs = st->nqueue > 0 ? lw_calloc(st->nqueue, sizeof *qs) : NULL;
    Lw__Ns__NsQueued **qp = st->nqueue > 0 ? lw_calloc(st->nqueue, sizeof *qp) : NULL;
    char **corrs = st->nqueue > 0 ? lw_calloc(st->nqueue, sizeof *corrs) : NULL;
    for (size_t i = 0; i < st->nqueue; i++) {
        queued_out(&qs[i], &st->queue[i], &corrs[i]);
        qp[i] = &qs[i];
    }
    m.queue = qp;
    m.n_queue = st->nqueue;

    ProtobufCBinaryData ids[NS_RECENT_IDS];
    for (unsigned i = 0; i < st->nrecent; i++) {
        ids[i].data = (uint8_t *)&st->recent[i];
        ids[i].len = sizeof st->recent[i];
    }
    m.recent_ids = ids;
    m.n_recent_ids = st->nrecent;
    m.last_seen_at = st->last_seen_at_ns;

    Lw__Ns__NsGateway gw = LW__NS__NS_GATEWAY__INIT;
    if (st->last_gw != NULL && st->last_gw->valid) {
        gw.gateway_id = (char *)st->last_gw->gateway_id;
        gw.tenant_id = (char *)st->last_gw->tenant_id;
        gw.eui = st->last_gw->eui;
        gw.antenna_index = st->last_gw->antenna;
        gw.uplink_token.data = (uint8_t *)st->last_gw->token;
        gw.uplink_token.len = st->last_gw->token_len;
        gw.snr = st->last_gw->snr;
        gw.rssi = st->last_gw->rssi;
        m.last_gateway = &gw;
    }
    Lw__Ns__NsInflight inf = LW__NS__NS_INFLIGHT__INIT;
    Lw__Ns__NsPath *fpaths = NULL, *cpaths = NULL;
    Lw__Ns__NsQueued infq, ackq;
    char *infc = NULL, *ackc = NULL;
    const ns_flight_t *fl = st->flight;
    if (fl != NULL) {
        inf.downlink_id.data = (uint8_t *)fl->id;
        inf.downlink_id.len = LW_MSG_ID_LEN;
        inf.f_cnt = fl->f_cnt;
        inf.confirmed = fl->confirmed;
        if (fl->app != NULL) {
            queued_out(&infq, fl->app, &infc);
            inf.has_app = true;
            inf.app = &infq;
        }
        inf.gs_down.data = fl->gs_down;
        inf.gs_down.len = fl->gs_down_len;
        paths_out(fl->paths, fl->npaths, &fpaths, &inf.paths);
        inf.n_paths = fl->npaths;
        inf.window_end = fl->window_end_ns;
        inf.attempts = fl->attempts;
        inf.class_c = fl->class_c;
        inf.rollback = fl->rollback;
        inf.rollback_a = fl->rollback_a;
        inf.rollback_has = fl->rollback_has;
        inf.rollback_f_cnt = fl->rollback_f_cnt;
        m.inflight = &inf;
    }
    paths_out(st->c_paths, st->n_c_paths, &cpaths, &m.class_c_paths);
    m.n_class_c_paths = st->n_c_paths;
    m.awaiting_ack_at = st->awaiting_at_ns;
    m.awaiting_class_c = st->awaiting_class_c;
    if (st->awaiting_ack != NULL) {
        queued_out(&ackq, st->awaiting_ack, &ackc);
        m.awaiting_ack = &ackq;
        m.has_awaiting_ack = true;
    }
    m.last_join_at = st->last_join_at_ns;

    *len = lw__ns__ns_state__get_packed_size(&m);
    *out = lw_malloc(*len + 1);
    lw__ns__ns_state__pack(&m, *out);
    rc = 0;
    free(qs);
    free(qp);
    free(corrs);
    free(fpaths);
    free(inf.paths);
    free(cpaths);
    free(m.class_c_paths);
    return rc;
}

int ns_state_decode(const uint8_t *buf, size_t len, ns_kek_lookup_fn lookup, void *arg,
                    ns_state_t *st)
{
    ns_state_init(st);
    Lw__Ns__NsState *m = lw__ns__ns_state__unpack(NULL, len, buf);
    if (m == NULL)
        return -1;
    int rc = -1;
    if (session_in(m->session, lookup, arg, &st->session) != 0)
        goto out;
    if (m->pending_session != NULL) {
        ns_session_t p;
        int prc = session_in(m->pending_session, lookup, arg, &p);
        if (prc == 0)
            ns_state_set_pending(st, &p);
        memset(&p, 0, sizeof p);
        if (prc != 0)
            goto out;
    }
    if (m->mac_state != NULL) {
        const Lw__Ns__NsMacState *mac = m->mac_state;
        st->radio.last_dr = (uint8_t)mac->last_uplink_dr;
        st->radio.last_ch = (uint8_t)mac->last_uplink_channel;
        st->radio.last_freq_hz = (uint32_t)mac->last_uplink_frequency;
        /* NS_MAC_STORED_VERSION: `mac` in its stored form; NS_MAC_STATE_VERSION (before the
         * stored form): a whole state, stored now. Both keep pending_mac whole. MAC state of
         * another layout version is dropped: the worker starts it again from the settings
         * (as for a new session). */
        bool known = mac->version == NS_MAC_STORED_VERSION || mac->version == NS_MAC_STATE_VERSION;
        if (mac->version == NS_MAC_STORED_VERSION && mac->mac.len > 0 &&
            mac->mac.len <= NS_MAC_PACKED_MAX) {
            /* Kept packed, unpacked when used (ns_dev_mac, which checks it). */
            st->mac = lw_malloc(sizeof *st->mac + mac->mac.len);
            st->mac->len = st->mac->cap = (uint16_t)mac->mac.len;
            memcpy(st->mac->b, mac->mac.data, mac->mac.len);
        } else if (mac->version == NS_MAC_STATE_VERSION && mac->mac.len == sizeof(ns_mac_state_t)) {
            ns_mac_state_t *full = lw_malloc(sizeof *full);
            memcpy(full, mac->mac.data, sizeof *full);
            st->mac = ns_mac_stored_put(NULL, full);
            free(full);
        }
        if (known && mac->pending_mac.len == sizeof *st->pending_mac) {
            st->pending_mac = lw_calloc(1, sizeof *st->pending_mac);
            memcpy(st->pending_mac, mac->pending_mac.data, sizeof *st->pending_mac);
        }
    }
    if (m->n_queue > 0) {
        st->queue = lw_calloc(m->n_queue, sizeof *st->queue);
        for (size_t i = 0; i < m->n_queue; i++)
            if (queued_in(m->queue[i], &st->queue[i]) != 0)
                goto out;
        st->nqueue = m->n_queue;
    }
    for (size_t i = 0; i < m->n_recent_ids && i < NS_RECENT_IDS; i++)
        /* Folded to 8 bytes since the compact state; the whole id (16) before. */
        if (m->recent_ids[i].len == LW_MSG_ID_LEN) {
            ns_state_recent_add(st, m->recent_ids[i].data);
        } else if (m->recent_ids[i].len == sizeof(uint64_t)) {
            uint64_t v;
            memcpy(&v, m->recent_ids[i].data, sizeof v);
            recent_put(st, v);
        }
    st->last_seen_at_ns = m->last_seen_at;
    if (m->last_gateway != NULL) {
        const Lw__Ns__NsGateway *gw = m->last_gateway;
        st->last_gw = lw_calloc(1, sizeof *st->last_gw);
        st->last_gw->valid = true;
        copy_str(st->last_gw->gateway_id, sizeof st->last_gw->gateway_id, gw->gateway_id);
        copy_str(st->last_gw->tenant_id, sizeof st->last_gw->tenant_id, gw->tenant_id);
        st->last_gw->eui = gw->eui;
        st->last_gw->antenna = gw->antenna_index;
        if (gw->uplink_token.len <= NS_TOKEN_MAX) {
            if (gw->uplink_token.len > 0)
                memcpy(st->last_gw->token, gw->uplink_token.data, gw->uplink_token.len);
            st->last_gw->token_len = (uint8_t)gw->uplink_token.len;
        }
        st->last_gw->snr = gw->snr;
        st->last_gw->rssi = gw->rssi;
    }
    if (m->inflight != NULL && m->inflight->downlink_id.len == LW_MSG_ID_LEN) {
        const Lw__Ns__NsInflight *inf = m->inflight;
        ns_flight_t *fl = lw_calloc(1, sizeof *fl);
        st->flight = fl;
        memcpy(fl->id, inf->downlink_id.data, LW_MSG_ID_LEN);
        fl->f_cnt = inf->f_cnt;
        fl->confirmed = inf->confirmed;
        if (inf->has_app && inf->app != NULL) {
            fl->app = lw_calloc(1, sizeof *fl->app);
            if (queued_in(inf->app, fl->app) != 0)
                goto out;
        }
        if (inf->gs_down.len > 0) {
            fl->gs_down = lw_malloc(inf->gs_down.len);
            memcpy(fl->gs_down, inf->gs_down.data, inf->gs_down.len);
            fl->gs_down_len = inf->gs_down.len;
            if (paths_in(inf->paths, inf->n_paths, &fl->paths, &fl->npaths) != 0)
                goto out;
            fl->window_end_ns = inf->window_end;
            fl->attempts = (uint8_t)(inf->attempts < 255 ? inf->attempts : 255);
            fl->class_c = inf->class_c;
            fl->rollback = inf->rollback;
            fl->rollback_a = inf->rollback_a;
            fl->rollback_has = inf->rollback_has;
            fl->rollback_f_cnt = inf->rollback_f_cnt;
        }
    }
    if (paths_in(m->class_c_paths, m->n_class_c_paths, &st->c_paths, &st->n_c_paths) != 0)
        goto out;
    st->awaiting_at_ns = m->awaiting_ack_at;
    st->awaiting_class_c = m->awaiting_class_c;
    if (m->has_awaiting_ack && m->awaiting_ack != NULL) {
        st->awaiting_ack = lw_calloc(1, sizeof *st->awaiting_ack);
        if (queued_in(m->awaiting_ack, st->awaiting_ack) != 0)
            goto out;
    }
    st->last_join_at_ns = m->last_join_at;
    rc = 0;
out:
    lw__ns__ns_state__free_unpacked(m, NULL);
    if (rc != 0)
        ns_state_destroy(st);
    return rc;
}
