/* Gateway locations reported by the Gateway Server: the IS reads the gs.status.receive
 * events on lw.events (The Things Stack's event shape, data a GatewayStatus) and, when the
 * gateway has update_location_from_status, sets its antennas' locations from the status's
 * antenna_locations with source SOURCE_GPS — as The Things Stack's GS does through the
 * registry — keeping the rest of each antenna, in one statement with the gateway index
 * (lw_control.gateways). A changed gateway gets a gateway.update event.
 *
 * One IS process handles each event (consumer group is.gateway-locations). As The Things
 * Stack (gs.update-gateway-location-debounce-time, 1 h), a gateway's reports are looked at
 * again only after is.gateway-location-debounce-time; a change of the gateway through the
 * API (its gateway.* events) ends that wait, so a gateway that turns the setting on is
 * followed at its next status. The waits are kept in a fixed table (no allocation per
 * gateway): two gateways sharing a slot only cost an extra statement. */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "is/server_private.h"

#define LOC_SLOTS        65536 /* power of two */
#define LOC_MAX_ANTENNAS 8
#define LOC_GROUP        "is.gateway-locations"
/* unique_id prefix of the gateway.update events published here: they end no wait. */
#define LOC_UNIQUE_PREFIX "is:location/"

typedef struct loc_slot {
    uint64_t h;
    uint64_t until_ms;
} loc_slot_t;

typedef struct is_locations {
    long long debounce_ms;
    loc_slot_t *slots;
    lw_bus_consumer_t *consumer;
    lw_metric_series_t *m_updated, *m_unchanged, *m_debounced, *m_dropped, *m_failed;
} is_locations_t;

/* One statement in flight, and the message to commit once it is done. */
typedef struct loc_req {
    is_t *is;
    lw_bus_consumer_t *consumer;
    char topic[128];
    int32_t partition;
    int64_t offset;
    char tenant[TN_ID_MAX + 1];
    char gateway_id[TN_ID_MAX + 1];
    char cid[128];
    uint64_t h;
} loc_req_t;

static uint64_t loc_hash(const char *tenant, const char *gateway_id)
{
    /* FNV-1a over "tenant/gateway". */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = tenant; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *p = gateway_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h | 1; /* 0 is an empty slot */
}

static loc_slot_t *loc_slot(is_locations_t *l, uint64_t h)
{
    return &l->slots[h & (LOC_SLOTS - 1)];
}

void is_location_init(is_t *is, const lw_config_t *cfg)
{
    is_locations_t *l = lw_calloc(1, sizeof *l);
    l->debounce_ms = lw_config_duration_ms(cfg, "is.gateway-location-debounce-time");
    l->slots = lw_calloc(LOC_SLOTS, sizeof *l->slots);
    static const char *const labels[] = {"result", NULL};
    lw_metric_t *f = lw_metrics_counter(lw_rt_metrics(is->rt), "lwstack_is_gateway_locations_total",
                                        "Gateway status reports with antenna locations, by what "
                                        "the IS did with them",
                                        labels);
    l->m_updated = lw_metric_series(f, (const char *const[]){"updated", NULL});
    l->m_unchanged = lw_metric_series(f, (const char *const[]){"unchanged", NULL});
    l->m_debounced = lw_metric_series(f, (const char *const[]){"debounced", NULL});
    l->m_dropped = lw_metric_series(f, (const char *const[]){"dropped", NULL});
    l->m_failed = lw_metric_series(f, (const char *const[]){"failed", NULL});
    is->locations = l;
}

void is_location_free(is_t *is)
{
    if (is->locations == NULL)
        return;
    free(is->locations->slots);
    free(is->locations);
    is->locations = NULL;
}

static void loc_commit(lw_bus_consumer_t *c, const char *topic, int32_t partition, int64_t offset)
{
    lw_bus_msg_t m = {.topic = topic, .partition = partition, .offset = offset};
    lw_bus_commit(c, &m);
}

static void loc_updated(void *arg, const PGresult *res, const lw_err_t *err)
{
    loc_req_t *r = arg;
    is_t *is = r->is;
    is_locations_t *l = is->locations;
    if (err != NULL && err->def != NULL) {
        lw_metric_series_add(l->m_failed, 1);
        lw_log(LW_LOG_WARN, "is", "gateway location not applied", "tenant", r->tenant, "gateway_id",
               r->gateway_id, "error", err->message, NULL);
    } else {
        bool changed = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") != 0;
        lw_metric_series_add(changed ? l->m_updated : l->m_unchanged, 1);
        if (l->debounce_ms > 0) {
            loc_slot_t *s = loc_slot(l, r->h);
            s->h = r->h;
            s->until_ms = uv_now(is->loop) + (uint64_t)l->debounce_ms;
        }
        if (changed) {
            char unique[192];
            snprintf(unique, sizeof unique, LOC_UNIQUE_PREFIX "%s/%s", r->tenant, r->gateway_id);
            json_t *ids = json_pack("{s{ss}}", "gateway_ids", "gateway_id", r->gateway_id);
            is_event_publish(is, r->tenant, "gateway.update", ids, r->cid, unique);
            lw_log(LW_LOG_DEBUG, "is", "gateway location updated from status", "tenant", r->tenant,
                   "gateway_id", r->gateway_id, NULL);
        }
    }
    /* The partition may have moved while the statement ran: then the commit is refused
     * and the new owner does it again, which changes nothing. */
    if (!is->stopping)
        loc_commit(r->consumer, r->topic, r->partition, r->offset);
    is_inflight_add(is, -1);
    free(r);
}

/* The locations of a GatewayStatus's antenna_locations as the IS stores them: SOURCE_GPS,
 * zero values left out (as the IS's codec stores every field). A malformed entry is null:
 * that antenna keeps what it has. Returns NULL when none is usable. */
static json_t *loc_antennas(const json_t *arr)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return NULL;
    json_t *out = json_array();
    bool any = false;
    for (size_t i = 0; i < json_array_size(arr) && i < LOC_MAX_ANTENNAS; i++) {
        const json_t *a = json_array_get(arr, i);
        const json_t *lat = json_object_get(a, "latitude");
        const json_t *lon = json_object_get(a, "longitude");
        const json_t *alt = json_object_get(a, "altitude");
        const json_t *acc = json_object_get(a, "accuracy");
        double la = json_is_number(lat) ? json_number_value(lat) : NAN;
        double lo = json_is_number(lon) ? json_number_value(lon) : NAN;
        double al = json_is_number(alt) ? json_number_value(alt) : 0;
        double ac = json_is_number(acc) ? json_number_value(acc) : 0;
        /* The Things Stack's Location bounds (the IS's codec checks the same). */
        if (!json_is_object(a) || !(la >= -90 && la <= 90) || !(lo >= -180 && lo <= 180) ||
            (alt != NULL && !json_is_number(alt)) || !(al >= -100000 && al <= 100000) ||
            (acc != NULL && !json_is_number(acc)) || !(ac >= 0 && ac <= 100000000)) {
            json_array_append_new(out, json_null());
            continue;
        }
        json_t *o = json_object();
        if (la != 0)
            json_object_set_new(o, "latitude", json_real(la));
        if (lo != 0)
            json_object_set_new(o, "longitude", json_real(lo));
        if ((long long)al != 0)
            json_object_set_new(o, "altitude", json_integer((json_int_t)al));
        if ((long long)ac != 0)
            json_object_set_new(o, "accuracy", json_integer((json_int_t)ac));
        json_object_set_new(o, "source", json_string("SOURCE_GPS"));
        json_array_append_new(out, o);
        any = true;
    }
    if (!any) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* The gateway of an event's first identifiers entry, validated into out. */
static bool loc_gateway_id(const json_t *ev, char out[TN_ID_MAX + 1])
{
    const json_t *ids = json_array_get(json_object_get(ev, "identifiers"), 0);
    const char *id =
        json_string_value(json_object_get(json_object_get(ids, "gateway_ids"), "gateway_id"));
    lw_err_t e;
    if (id == NULL || tn_id_validate(id, 3, "gateway_id", &e) != 0)
        return false;
    snprintf(out, TN_ID_MAX + 1, "%s", id);
    return true;
}

/* Sets the antennas' locations of the gateway when it allows it and they differ. */
static const char loc_sql[] =
    "WITH cur AS (SELECT gateway_id, data FROM %s.gateways WHERE gateway_id = $1 AND "
    "deleted_at IS NULL AND jsonb_typeof(data -> 'update_location_from_status') = 'boolean' "
    "AND (data ->> 'update_location_from_status')::boolean FOR UPDATE), "
    "nxt AS (SELECT cur.gateway_id, jsonb_set(cur.data, '{antennas}', (SELECT jsonb_agg("
    "CASE WHEN jsonb_typeof($2::jsonb -> i) = 'object' "
    "THEN coalesce(cur.data -> 'antennas' -> i, '{}'::jsonb) || "
    "jsonb_build_object('location', $2::jsonb -> i) "
    "ELSE coalesce(cur.data -> 'antennas' -> i, '{}'::jsonb) END ORDER BY i) "
    "FROM generate_series(0, greatest(CASE WHEN jsonb_typeof(cur.data -> 'antennas') = "
    "'array' THEN jsonb_array_length(cur.data -> 'antennas') ELSE 0 END, "
    "jsonb_array_length($2::jsonb)) - 1) AS i)) AS data FROM cur), "
    "u AS (UPDATE %s.gateways g SET data = nxt.data, updated_at = now() FROM nxt "
    "WHERE g.gateway_id = nxt.gateway_id AND g.data IS DISTINCT FROM nxt.data "
    "RETURNING g.gateway_id, g.eui, g.data::text AS data), "
    "x AS (" IS_GW_INDEX_UPSERT("$3", "u") ") SELECT count(*) FROM u";

static void loc_on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    is_t *is = arg;
    is_locations_t *l = is->locations;
    /* Most events are traffic: look at the two kinds that matter without parsing. */
    bool status = memmem(m->value, m->value_len, "\"gs.status.receive\"", 19) != NULL;
    bool gateway = memmem(m->value, m->value_len, "\"gateway.", 9) != NULL;
    if (!status && !gateway) {
        lw_bus_commit(c, m);
        return;
    }
    char tenant[TN_ID_MAX + 1];
    char gw[TN_ID_MAX + 1];
    lw_err_t e;
    json_t *ev = json_loadb(m->value, m->value_len, 0, NULL);
    const char *name = json_string_value(json_object_get(ev, "name"));
    const char *ctx_tenant =
        json_string_value(json_object_get(json_object_get(ev, "context"), "tenant-id"));
    if (name == NULL || m->key_len == 0 || m->key_len > TN_ID_MAX)
        goto drop;
    memcpy(tenant, m->key, m->key_len);
    tenant[m->key_len] = '\0';
    if (tn_id_validate(tenant, 3, "tenant_id", &e) != 0 ||
        (ctx_tenant != NULL && strcmp(ctx_tenant, tenant) != 0) || !loc_gateway_id(ev, gw))
        goto drop;
    uint64_t h = loc_hash(tenant, gw);
    loc_slot_t *s = loc_slot(l, h);
    if (strncmp(name, "gateway.", 8) == 0) {
        const char *u = json_string_value(json_object_get(ev, "unique_id"));
        if (s->h == h && (u == NULL || strncmp(u, LOC_UNIQUE_PREFIX, strlen(LOC_UNIQUE_PREFIX))))
            s->h = 0; /* changed through the API: look at its next status */
        goto done;
    }
    if (strcmp(name, "gs.status.receive") != 0)
        goto done;
    const json_t *reported = json_object_get(json_object_get(ev, "data"), "antenna_locations");
    if (reported == NULL || (json_is_array(reported) && json_array_size(reported) == 0))
        goto done; /* a status without a location: nothing to apply */
    json_t *locs = loc_antennas(reported);
    if (locs == NULL)
        goto drop; /* locations, none of them usable */
    if (s->h == h && uv_now(is->loop) < s->until_ms) {
        lw_metric_series_add(l->m_debounced, 1);
        json_decref(locs);
        goto done;
    }
    if (is->stopping) {
        /* Not committed: the group's next owner applies it. */
        json_decref(locs);
        json_decref(ev);
        return;
    }
    tn_tenant_t t;
    if (!tn_get(is->tn, tenant, &t) || !tn_state_active(t.state)) {
        json_decref(locs);
        goto drop;
    }
    loc_req_t *r = lw_calloc(1, sizeof *r);
    r->is = is;
    r->consumer = c;
    snprintf(r->topic, sizeof r->topic, "%s", m->topic);
    r->partition = m->partition;
    r->offset = m->offset;
    snprintf(r->tenant, sizeof r->tenant, "%s", tenant);
    snprintf(r->gateway_id, sizeof r->gateway_id, "%s", gw);
    const char *cid = json_string_value(json_array_get(json_object_get(ev, "correlation_ids"), 0));
    snprintf(r->cid, sizeof r->cid, "%s", cid != NULL ? cid : "is:location");
    r->h = h;
    char sq[TN_SCHEMA_MAX * 2 + 4];
    lw_db_quote_ident(t.schema, sq, sizeof sq);
    char sql[sizeof loc_sql + 2 * sizeof sq];
    snprintf(sql, sizeof sql, loc_sql, sq, sq);
    /* 15 significant digits: 4.9041 stays 4.9041 (17 would store 4.9040999999999997). */
    char *text = lw_json_dumps(locs, JSON_COMPACT);
    json_decref(locs);
    const char *p[3] = {gw, text, tenant};
    is_inflight_add(is, 1);
    int rc = lw_db_query(is->db, sql, 3, p, loc_updated, r);
    free(text);
    json_decref(ev);
    if (rc != 0) {
        is_inflight_add(is, -1);
        free(r);
        lw_metric_series_add(l->m_failed, 1); /* not committed: replayed after a restart */
    }
    return;
drop:
    lw_metric_series_add(l->m_dropped, 1);
done:
    json_decref(ev);
    lw_bus_commit(c, m);
}

int is_location_start(is_t *is, lw_err_t *err)
{
    if (is->bus == NULL)
        return 0;
    char topic[128];
    const char *topics[] = {lw_bus_topic(is->bus, "events", topic, sizeof topic)};
    if (lw_bus_ensure_topics(is->bus, topics, 1, err) != 0)
        return -1;
    static const lw_bus_handler_t handler = {.on_message = loc_on_message};
    const char *names[] = {"events"};
    is->locations->consumer = lw_bus_subscribe(is->bus, LOC_GROUP, names, 1, &handler, is, err);
    return is->locations->consumer == NULL ? -1 : 0;
}
