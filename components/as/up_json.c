/* The ApplicationUp JSON (The Things Stack's api/ttn/lorawan/v3/messages.proto, as its JSON
 * marshaler writes it): fields in declaration order, zero values left out, bytes in base64,
 * 64-bit integers as strings, EUIs and DevAddrs in uppercase hex, times RFC 3339 in UTC with
 * Go's RFC3339Nano fraction, durations as protojson ("0.061696s"), float32 values with their
 * shortest decimal form (-35, 5.2). Pure: messages in, JSON out; no I/O, no clock. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as/as_private.h"
#include "cluster/hex.h"

void as_time_text(int64_t unix_ns, char out[40])
{
    time_t s = (time_t)(unix_ns / 1000000000);
    long ns = (long)(unix_ns % 1000000000);
    if (ns < 0) {
        ns += 1000000000;
        s -= 1;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ns > 0) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09ld", ns);
        size_t l = strlen(frac);
        while (l > 1 && frac[l - 1] == '0')
            frac[--l] = '\0';
        snprintf(out + n, 40 - n, "%sZ", frac);
    } else {
        snprintf(out + n, 40 - n, "Z");
    }
}

static json_t *time_json(int64_t unix_ns)
{
    char t[40];
    as_time_text(unix_ns, t);
    return json_string(t);
}

/* google.protobuf.Duration as protojson: 0, 3, 6 or 9 fractional digits. */
static json_t *duration_json(int64_t ns)
{
    char t[48];
    long long s = ns / 1000000000;
    long long f = ns % 1000000000;
    if (f < 0)
        f = -f;
    const char *sign = ns < 0 && s == 0 ? "-" : "";
    if (f == 0)
        snprintf(t, sizeof t, "%s%llds", sign, s);
    else if (f % 1000000 == 0)
        snprintf(t, sizeof t, "%s%lld.%03llds", sign, s, f / 1000000);
    else if (f % 1000 == 0)
        snprintf(t, sizeof t, "%s%lld.%06llds", sign, s, f / 1000);
    else
        snprintf(t, sizeof t, "%s%lld.%09llds", sign, s, f);
    return json_string(t);
}

/* A float32 as Go writes it: the shortest decimal that reads back as the same float. */
static json_t *float_json(float v)
{
    if (!isfinite(v))
        return json_null();
    if (v == floorf(v) && fabsf(v) < 1e15f)
        return json_integer((json_int_t)v);
    char t[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(t, sizeof t, "%.*g", p, (double)v);
        if (strtof(t, NULL) == v)
            break;
    }
    return json_real(strtod(t, NULL));
}

static json_t *u64_json(uint64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRIu64, v);
    return json_string(t);
}

static json_t *eui_json(uint64_t eui)
{
    char t[17];
    as_eui_text(eui, t);
    return json_string(t);
}

static void set_bytes(json_t *o, const char *k, const ProtobufCBinaryData *b)
{
    if (b->len > 0)
        json_object_set_new(o, k, as_b64_json(b->data, b->len));
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v != NULL && v[0] != '\0')
        json_object_set_new(o, k, json_string(v));
}

static void set_uint(json_t *o, const char *k, uint64_t v)
{
    if (v != 0)
        json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_time(json_t *o, const char *k, int64_t ns)
{
    if (ns != 0)
        json_object_set_new(o, k, time_json(ns));
}

static void set_float(json_t *o, const char *k, float v)
{
    if (v != 0.0f)
        json_object_set_new(o, k, float_json(v));
}

static void set_json(json_t *o, const char *k, const json_t *v)
{
    if (v != NULL && !json_is_null(v))
        json_object_set(o, k, (json_t *)v);
}

static json_t *gateway_ids_json(const Lw__Msg__GatewayIdentifiers *g)
{
    json_t *o = json_object();
    if (g == NULL)
        return o;
    set_str(o, "gateway_id", g->gateway_id);
    if (g->eui != 0)
        json_object_set_new(o, "eui", eui_json(g->eui));
    return o;
}

static json_t *rx_json(const Lw__Msg__RxMetadata *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "gateway_ids", gateway_ids_json(r->gateway_ids));
    set_uint(o, "antenna_index", r->antenna_index);
    set_time(o, "time", r->time);
    set_uint(o, "timestamp", r->timestamp);
    set_float(o, "rssi", r->rssi);
    set_float(o, "channel_rssi", r->channel_rssi);
    set_float(o, "snr", r->snr);
    if (r->location != NULL) {
        json_t *l = json_object();
        json_object_set_new(l, "latitude", json_real(r->location->latitude));
        json_object_set_new(l, "longitude", json_real(r->location->longitude));
        if (r->location->altitude != 0)
            json_object_set_new(l, "altitude", json_integer(r->location->altitude));
        if (r->location->accuracy != 0)
            json_object_set_new(l, "accuracy", json_integer(r->location->accuracy));
        set_str(l, "source", r->location->source);
        json_object_set_new(o, "location", l);
    }
    if (r->frequency_offset != 0)
        json_object_set_new(o, "frequency_offset", u64_json(r->frequency_offset));
    set_bytes(o, "uplink_token", &r->uplink_token);
    set_uint(o, "channel_index", r->channel_index);
    set_time(o, "gps_time", r->gps_time);
    set_time(o, "received_at", r->received_at);
    return o;
}

static json_t *data_rate_json(const Lw__Msg__DataRate *dr)
{
    json_t *o = json_object();
    if (dr == NULL)
        return o;
    json_t *m = json_object();
    switch (dr->modulation_case) {
    case LW__MSG__DATA_RATE__MODULATION_LORA:
        set_uint(m, "bandwidth", dr->lora->bandwidth);
        set_uint(m, "spreading_factor", dr->lora->spreading_factor);
        set_str(m, "coding_rate", dr->lora->coding_rate);
        json_object_set_new(o, "lora", m);
        break;
    case LW__MSG__DATA_RATE__MODULATION_FSK:
        set_uint(m, "bit_rate", dr->fsk->bit_rate);
        json_object_set_new(o, "fsk", m);
        break;
    case LW__MSG__DATA_RATE__MODULATION_LRFHSS:
        set_uint(m, "modulation_type", dr->lrfhss->modulation_type);
        set_uint(m, "operating_channel_width", dr->lrfhss->operating_channel_width);
        set_str(m, "coding_rate", dr->lrfhss->coding_rate);
        json_object_set_new(o, "lrfhss", m);
        break;
    default:
        json_decref(m);
        break;
    }
    return o;
}

static json_t *settings_json(const Lw__Msg__TxSettings *s)
{
    json_t *o = json_object();
    if (s == NULL)
        return o;
    json_object_set_new(o, "data_rate", data_rate_json(s->data_rate));
    if (s->frequency != 0)
        json_object_set_new(o, "frequency", u64_json(s->frequency));
    if (s->enable_crc)
        json_object_set_new(o, "enable_crc", json_true());
    set_uint(o, "timestamp", s->timestamp);
    set_time(o, "time", s->time);
    return o;
}

static json_t *network_ids_json(const Lw__Msg__NetworkIdentifiers *n)
{
    json_t *o = json_object();
    char t[17];
    snprintf(t, sizeof t, "%06" PRIX32, n->net_id);
    json_object_set_new(o, "net_id", json_string(t));
    if (n->ns_id != 0)
        json_object_set_new(o, "ns_id", eui_json(n->ns_id));
    set_str(o, "tenant_id", n->tenant_id);
    set_str(o, "cluster_id", n->cluster_id);
    set_str(o, "cluster_address", n->cluster_address);
    set_str(o, "tenant_address", n->tenant_address);
    return o;
}

static const char *const priority_names[] = {"LOWEST",       "LOW",  "BELOW_NORMAL", "NORMAL",
                                             "ABOVE_NORMAL", "HIGH", "HIGHEST"};

json_t *as_downlink_json(const Lw__Msg__ApplicationDownlink *d)
{
    json_t *o = json_object();
    set_bytes(o, "session_key_id", &d->session_key_id);
    set_uint(o, "f_port", d->f_port);
    set_uint(o, "f_cnt", d->f_cnt);
    set_bytes(o, "frm_payload", &d->frm_payload);
    if (d->confirmed)
        json_object_set_new(o, "confirmed", json_true());
    if (d->class_b_c != NULL) {
        json_t *bc = json_object();
        if (d->class_b_c->n_gateways > 0) {
            json_t *gws = json_array();
            for (size_t i = 0; i < d->class_b_c->n_gateways; i++) {
                const Lw__Msg__ClassBCGatewayIdentifiers *g = d->class_b_c->gateways[i];
                json_t *gj = json_object();
                json_object_set_new(gj, "gateway_ids", gateway_ids_json(g->gateway_ids));
                set_uint(gj, "antenna_index", g->antenna_index);
                json_array_append_new(gws, gj);
            }
            json_object_set_new(bc, "gateways", gws);
        }
        set_time(bc, "absolute_time", d->class_b_c->absolute_time);
        json_object_set_new(o, "class_b_c", bc);
    }
    if (d->priority != 0 && (unsigned)d->priority < 7)
        json_object_set_new(o, "priority", json_string(priority_names[d->priority]));
    if (d->n_correlation_ids > 0) {
        json_t *c = json_array();
        for (size_t i = 0; i < d->n_correlation_ids; i++)
            json_array_append_new(c, json_string(d->correlation_ids[i]));
        json_object_set_new(o, "correlation_ids", c);
    }
    if (d->confirmed_retry != NULL) {
        json_t *r = json_object();
        set_uint(r, "attempt", d->confirmed_retry->attempt);
        set_uint(r, "max_attempts", d->confirmed_retry->max_attempts);
        json_object_set_new(o, "confirmed_retry", r);
    }
    return o;
}

/* The fields an uplink_message and an uplink_normalized share after their payloads. */
static void uplink_meta(json_t *o, const as_up_in_t *in, const Lw__Msg__UplinkMessage *u)
{
    if (u->n_rx_metadata > 0) {
        json_t *rx = json_array();
        for (size_t i = 0; i < u->n_rx_metadata; i++)
            json_array_append_new(rx, rx_json(u->rx_metadata[i]));
        json_object_set_new(o, "rx_metadata", rx);
    }
    json_object_set_new(o, "settings", settings_json(u->settings));
    set_time(o, "received_at", u->received_at);
    if (u->confirmed)
        json_object_set_new(o, "confirmed", json_true());
    if (u->consumed_airtime != 0)
        json_object_set_new(o, "consumed_airtime", duration_json(u->consumed_airtime));
    if (json_object_size(in->version_ids) > 0)
        set_json(o, "version_ids", in->version_ids);
    if (u->network_ids != NULL)
        json_object_set_new(o, "network_ids", network_ids_json(u->network_ids));
}

static json_t *uplink_json(const as_up_in_t *in, const Lw__Msg__UplinkMessage *u)
{
    json_t *o = json_object();
    set_bytes(o, "session_key_id", &u->session_key_id);
    set_uint(o, "f_port", u->f_port);
    set_uint(o, "f_cnt", u->f_cnt);
    set_bytes(o, "frm_payload", &u->frm_payload);
    set_json(o, "decoded_payload", in->decoded_payload);
    if (json_array_size(in->decoded_payload_warnings) > 0)
        set_json(o, "decoded_payload_warnings", in->decoded_payload_warnings);
    if (json_array_size(in->normalized_payload) > 0)
        set_json(o, "normalized_payload", in->normalized_payload);
    uplink_meta(o, in, u);
    if (json_object_size(in->attributes) > 0)
        set_json(o, "attributes", in->attributes);
    return o;
}

/* TTS's ApplicationUplinkNormalized: the uplink's metadata with one item of the normalized
 * payload (and the decoder's warnings), no decoded_payload. */
static json_t *uplink_normalized_json(const as_up_in_t *in, const Lw__Msg__UplinkMessage *u)
{
    json_t *o = json_object();
    set_bytes(o, "session_key_id", &u->session_key_id);
    set_uint(o, "f_port", u->f_port);
    set_uint(o, "f_cnt", u->f_cnt);
    set_bytes(o, "frm_payload", &u->frm_payload);
    set_json(o, "normalized_payload",
             json_array_get(in->normalized_payload, in->normalized_item - 1));
    if (json_array_size(in->decoded_payload_warnings) > 0)
        set_json(o, "normalized_payload_warnings", in->decoded_payload_warnings);
    uplink_meta(o, in, u);
    return o;
}

static json_t *ids_json(const as_up_in_t *in)
{
    json_t *o = json_object();
    json_object_set_new(o, "device_id", json_string(in->dev_id));
    json_object_set_new(o, "application_ids", json_pack("{ss}", "application_id", in->app_id));
    if (in->dev_eui != 0)
        json_object_set_new(o, "dev_eui", eui_json(in->dev_eui));
    if (in->join_eui != 0)
        json_object_set_new(o, "join_eui", eui_json(in->join_eui));
    if (in->has_dev_addr) {
        char a[9];
        as_addr_text(in->dev_addr, a);
        json_object_set_new(o, "dev_addr", json_string(a));
    }
    return o;
}

json_t *as_up_json(const as_up_in_t *in, Lw__Msg__AsUpType *type)
{
    const Lw__Msg__NsUp *up = in->up;
    const char *field = NULL;
    json_t *body = NULL;
    switch (up->up_case) {
    case LW__MSG__NS_UP__UP_UPLINK_MESSAGE:
        if (in->normalized_item > 0) {
            if (in->normalized_item > json_array_size(in->normalized_payload))
                return NULL;
            *type = LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_NORMALIZED;
            body = uplink_normalized_json(in, up->uplink_message);
            break;
        }
        *type = LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_MESSAGE;
        body = uplink_json(in, up->uplink_message);
        break;
    case LW__MSG__NS_UP__UP_JOIN_ACCEPT:
        *type = LW__MSG__AS_UP_TYPE__AS_UP_JOIN_ACCEPT;
        body = json_object();
        set_bytes(body, "session_key_id", &up->join_accept->session_key_id);
        if (up->join_accept->pending_session)
            json_object_set_new(body, "pending_session", json_true());
        set_time(body, "received_at", up->join_accept->received_at);
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUED:
        *type = LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUED;
        body = as_downlink_json(up->downlink_queued);
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_SENT:
        *type = LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_SENT;
        body = as_downlink_json(up->downlink_sent);
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_ACK:
        *type = LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_ACK;
        body = as_downlink_json(up->downlink_ack);
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_NACK:
        *type = LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_NACK;
        body = as_downlink_json(up->downlink_nack);
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_FAILED: {
        *type = LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_FAILED;
        const Lw__Msg__ApplicationDownlinkFailed *f = up->downlink_failed;
        body = json_object();
        if (f->downlink != NULL)
            json_object_set_new(body, "downlink", as_downlink_json(f->downlink));
        json_t *e = json_object();
        if (f->error != NULL) {
            set_str(e, "namespace", f->error->namespace_);
            set_str(e, "name", f->error->name);
            set_str(e, "message_format", f->error->message_format);
            set_uint(e, "code", f->error->code);
        }
        json_object_set_new(body, "error", e);
        break;
    }
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_INVALIDATED: {
        *type = LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_QUEUE_INVALIDATED;
        const Lw__Msg__ApplicationInvalidatedDownlinks *inv = up->downlink_queue_invalidated;
        body = json_object();
        if (inv->n_downlinks > 0) {
            json_t *a = json_array();
            for (size_t i = 0; i < inv->n_downlinks; i++)
                json_array_append_new(a, as_downlink_json(inv->downlinks[i]));
            json_object_set_new(body, "downlinks", a);
        }
        set_uint(body, "last_f_cnt_down", inv->last_f_cnt_down);
        set_bytes(body, "session_key_id", &inv->session_key_id);
        break;
    }
    default:
        return NULL;
    }
    field = as_up_type_name(*type);
    json_t *o = json_object();
    json_object_set_new(o, "end_device_ids", ids_json(in));
    json_t *c = json_array();
    const Lw__Msg__Envelope *env = up->envelope;
    for (size_t i = 0; env != NULL && i < env->n_correlation_ids; i++)
        json_array_append_new(c, json_string(env->correlation_ids[i]));
    if (in->correlation_id != NULL)
        json_array_append_new(c, json_string(in->correlation_id));
    if (json_array_size(c) > 0)
        json_object_set_new(o, "correlation_ids", c);
    else
        json_decref(c);
    set_time(o, "received_at", in->received_at_ns);
    json_object_set_new(o, field, body);
    if (in->simulated)
        json_object_set_new(o, "simulated", json_true());
    return o;
}
