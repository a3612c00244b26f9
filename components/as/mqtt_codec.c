/* The MQTT 3.1.1 / 5.0 codec (contract in mqtt_codec_private.h). Pure. */
#include <string.h>

#include "as/mqtt_codec_private.h"

static const char *const mqtt_err_names[] = {"ok",
#define MQTT_X_NAME(e, name, doc) name,
                                             MQTT_ERRORS(MQTT_X_NAME)
#undef MQTT_X_NAME
};

const char *mqtt_err_name(int err)
{
    int i = err < 0 ? -err : err;
    if (i >= (int)(sizeof(mqtt_err_names) / sizeof(mqtt_err_names[0])))
        return "unknown";
    return mqtt_err_names[i];
}

/* Errors are returned negative: MQTT_E_X as -MQTT_E_X. */
#define ERR(e) (-(int)(e))

uint8_t mqtt_err_reason(int err)
{
    switch (-err) {
    case MQTT_E_TOO_LARGE:
        return MQTT5_PACKET_TOO_LARGE;
    case MQTT_E_PROTOCOL_VERSION:
        return MQTT5_UNSUPPORTED_VERSION;
    case MQTT_E_FILTER:
        return MQTT5_TOPIC_FILTER_INVALID;
    case MQTT_E_TOPIC_WILDCARD:
    case MQTT_E_TOPIC_EMPTY:
        return MQTT5_TOPIC_NAME_INVALID;
    case MQTT_E_PACKET_ID:
    case MQTT_E_PROPERTY_DUP:
    case MQTT_E_PROPERTY_VALUE:
    case MQTT_E_QOS:
    case MQTT_E_PACKET_TYPE:
        return MQTT5_PROTOCOL_ERROR;
    default:
        return MQTT5_MALFORMED_PACKET;
    }
}

/* ---- Reading ---- */

typedef struct rd {
    const uint8_t *p;
    size_t len, off;
} rd_t;

static int rd_u8(rd_t *r, uint8_t *v)
{
    if (r->len - r->off < 1)
        return ERR(MQTT_E_TRUNCATED);
    *v = r->p[r->off++];
    return MQTT_OK;
}

static int rd_u16(rd_t *r, uint16_t *v)
{
    if (r->len - r->off < 2)
        return ERR(MQTT_E_TRUNCATED);
    *v = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
    r->off += 2;
    return MQTT_OK;
}

static int rd_u32(rd_t *r, uint32_t *v)
{
    if (r->len - r->off < 4)
        return ERR(MQTT_E_TRUNCATED);
    const uint8_t *b = r->p + r->off;
    *v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    r->off += 4;
    return MQTT_OK;
}

/* Variable Byte Integer (5.0 §1.5.5; 3.1.1 §2.2.3 for the Remaining Length): at most four
 * bytes. */
static int rd_varint(rd_t *r, uint32_t *v)
{
    uint32_t val = 0;
    for (int i = 0; i < 4; i++) {
        if (r->off >= r->len)
            return ERR(MQTT_E_TRUNCATED);
        uint8_t b = r->p[r->off++];
        val |= (uint32_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = val;
            return MQTT_OK;
        }
    }
    return ERR(MQTT_E_REMAINING_LENGTH);
}

/* Binary Data: two-byte length then bytes (5.0 §1.5.6). */
static int rd_bin(rd_t *r, mqtt_str_t *s)
{
    uint16_t n;
    int rc = rd_u16(r, &n);
    if (rc != MQTT_OK)
        return rc;
    if (r->len - r->off < n)
        return ERR(MQTT_E_TRUNCATED);
    s->p = r->p + r->off;
    s->len = n;
    r->off += n;
    return MQTT_OK;
}

static int rd_str(rd_t *r, mqtt_str_t *s)
{
    int rc = rd_bin(r, s);
    if (rc != MQTT_OK)
        return rc;
    return mqtt_utf8_check(s->p, s->len);
}

int mqtt_utf8_check(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c == 0)
            return ERR(MQTT_E_UTF8);
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return ERR(MQTT_E_UTF8);
        }
        if (len - i < n)
            return ERR(MQTT_E_UTF8);
        for (size_t k = 1; k < n; k++) {
            uint8_t cc = p[i + k];
            if ((cc & 0xc0) != 0x80)
                return ERR(MQTT_E_UTF8);
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return ERR(MQTT_E_UTF8);
        i += n;
    }
    return MQTT_OK;
}

int mqtt_topic_name_check(const uint8_t *p, size_t len)
{
    if (len == 0)
        return ERR(MQTT_E_TOPIC_EMPTY);
    int rc = mqtt_utf8_check(p, len);
    if (rc != MQTT_OK)
        return rc;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '+' || p[i] == '#')
            return ERR(MQTT_E_TOPIC_WILDCARD);
    return MQTT_OK;
}

int mqtt_topic_filter_check(const uint8_t *p, size_t len)
{
    if (len == 0)
        return ERR(MQTT_E_TOPIC_EMPTY);
    int rc = mqtt_utf8_check(p, len);
    if (rc != MQTT_OK)
        return rc;
    /* §4.7.1: '#' alone in the last level; '+' alone in its level. */
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '+' && p[i] != '#')
            continue;
        bool starts = i == 0 || p[i - 1] == '/';
        bool ends = i + 1 == len || p[i + 1] == '/';
        if (!starts || !ends)
            return ERR(MQTT_E_FILTER);
        if (p[i] == '#' && i + 1 != len)
            return ERR(MQTT_E_FILTER);
    }
    return MQTT_OK;
}

/* ---- 5.0 properties (§2.2.2.2) ---- */

enum { PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_UTF8, PT_BIN, PT_PAIR };

/* Where a property may appear, of the packets the server decodes. */
enum {
    IN_CONNECT = 1u << 0,
    IN_WILL = 1u << 1,
    IN_PUBLISH = 1u << 2,
    IN_ACK = 1u << 3,
    IN_SUBSCRIBE = 1u << 4,
    IN_UNSUBSCRIBE = 1u << 5,
    IN_DISCONNECT = 1u << 6,
    IN_AUTH = 1u << 7,
};

typedef struct prop_def {
    uint8_t type;
    uint8_t in;
} prop_def_t;

/* 5.0 §2.2.2.2 table 2-4. A client's PUBLISH never carries a Subscription Identifier
 * (§3.3.4-6), so it is not allowed there; server-only properties appear nowhere. */
static const prop_def_t prop_defs[0x2b] = {
    [MQTT_PROP_PAYLOAD_FORMAT] = {PT_BYTE, IN_PUBLISH | IN_WILL},
    [MQTT_PROP_MESSAGE_EXPIRY] = {PT_U32, IN_PUBLISH | IN_WILL},
    [MQTT_PROP_CONTENT_TYPE] = {PT_UTF8, IN_PUBLISH | IN_WILL},
    [MQTT_PROP_RESPONSE_TOPIC] = {PT_UTF8, IN_PUBLISH | IN_WILL},
    [MQTT_PROP_CORRELATION_DATA] = {PT_BIN, IN_PUBLISH | IN_WILL},
    [MQTT_PROP_SUBSCRIPTION_ID] = {PT_VARINT, IN_SUBSCRIBE},
    [MQTT_PROP_SESSION_EXPIRY] = {PT_U32, IN_CONNECT | IN_DISCONNECT},
    [MQTT_PROP_AUTH_METHOD] = {PT_UTF8, IN_CONNECT | IN_AUTH},
    [MQTT_PROP_AUTH_DATA] = {PT_BIN, IN_CONNECT | IN_AUTH},
    [MQTT_PROP_REQUEST_PROBLEM_INFO] = {PT_BYTE, IN_CONNECT},
    [MQTT_PROP_WILL_DELAY] = {PT_U32, IN_WILL},
    [MQTT_PROP_REQUEST_RESPONSE_INFO] = {PT_BYTE, IN_CONNECT},
    [MQTT_PROP_SERVER_REFERENCE] = {PT_UTF8, IN_DISCONNECT},
    [MQTT_PROP_REASON_STRING] = {PT_UTF8, IN_ACK | IN_DISCONNECT | IN_AUTH},
    [MQTT_PROP_RECEIVE_MAXIMUM] = {PT_U16, IN_CONNECT},
    [MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = {PT_U16, IN_CONNECT},
    [MQTT_PROP_TOPIC_ALIAS] = {PT_U16, IN_PUBLISH},
    [MQTT_PROP_USER] = {PT_PAIR, 0xff},
    [MQTT_PROP_MAXIMUM_PACKET_SIZE] = {PT_U32, IN_CONNECT},
};

static int rd_props(rd_t *r, unsigned in, mqtt_props_t *pr)
{
    memset(pr, 0, sizeof(*pr));
    uint32_t plen;
    int rc = rd_varint(r, &plen);
    if (rc != MQTT_OK)
        return rc == ERR(MQTT_E_REMAINING_LENGTH) ? ERR(MQTT_E_PROPERTY_VALUE) : rc;
    if (r->len - r->off < plen)
        return ERR(MQTT_E_TRUNCATED);
    rd_t s = {r->p + r->off, plen, 0};
    r->off += plen;
    while (s.off < s.len) {
        uint32_t id;
        rc = rd_varint(&s, &id);
        if (rc != MQTT_OK)
            return ERR(MQTT_E_PROPERTY);
        if (id >= sizeof(prop_defs) / sizeof(prop_defs[0]) || (prop_defs[id].in & in) == 0)
            return ERR(MQTT_E_PROPERTY);
        if (id != MQTT_PROP_USER && (pr->present & MQTT_PROP_BIT(id)))
            return ERR(MQTT_E_PROPERTY_DUP);
        pr->present |= MQTT_PROP_BIT(id);
        uint8_t b = 0;
        uint16_t u16 = 0;
        uint32_t u32 = 0;
        mqtt_str_t str = {0}, str2 = {0};
        switch (prop_defs[id].type) {
        case PT_BYTE:
            rc = rd_u8(&s, &b);
            break;
        case PT_U16:
            rc = rd_u16(&s, &u16);
            break;
        case PT_U32:
            rc = rd_u32(&s, &u32);
            break;
        case PT_VARINT:
            rc = rd_varint(&s, &u32);
            if (rc == ERR(MQTT_E_REMAINING_LENGTH))
                rc = ERR(MQTT_E_PROPERTY_VALUE);
            break;
        case PT_UTF8:
            rc = rd_str(&s, &str);
            break;
        case PT_BIN:
            rc = rd_bin(&s, &str);
            break;
        default: /* PT_PAIR */
            rc = rd_str(&s, &str);
            if (rc == MQTT_OK)
                rc = rd_str(&s, &str2);
            break;
        }
        if (rc != MQTT_OK)
            return rc;
        switch (id) {
        case MQTT_PROP_PAYLOAD_FORMAT:
            if (b > 1)
                return ERR(MQTT_E_PROPERTY_VALUE);
            pr->payload_format = b;
            break;
        case MQTT_PROP_REQUEST_PROBLEM_INFO:
        case MQTT_PROP_REQUEST_RESPONSE_INFO:
            if (b > 1)
                return ERR(MQTT_E_PROPERTY_VALUE);
            break;
        case MQTT_PROP_MESSAGE_EXPIRY:
            pr->message_expiry_s = u32;
            break;
        case MQTT_PROP_RESPONSE_TOPIC:
            if (mqtt_topic_name_check(str.p, str.len) != MQTT_OK)
                return ERR(MQTT_E_PROPERTY_VALUE);
            break;
        case MQTT_PROP_SUBSCRIPTION_ID:
            if (u32 == 0)
                return ERR(MQTT_E_PROPERTY_VALUE);
            pr->subscription_id = u32;
            break;
        case MQTT_PROP_SESSION_EXPIRY:
            pr->session_expiry_s = u32;
            break;
        case MQTT_PROP_AUTH_METHOD:
            pr->auth_method = str;
            break;
        case MQTT_PROP_REASON_STRING:
            pr->reason_string = str;
            break;
        case MQTT_PROP_RECEIVE_MAXIMUM:
            if (u16 == 0)
                return ERR(MQTT_E_PROPERTY_VALUE);
            pr->receive_maximum = u16;
            break;
        case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
            pr->topic_alias_maximum = u16;
            break;
        case MQTT_PROP_TOPIC_ALIAS:
            if (u16 == 0)
                return ERR(MQTT_E_PROPERTY_VALUE);
            pr->topic_alias = u16;
            break;
        case MQTT_PROP_MAXIMUM_PACKET_SIZE:
            if (u32 == 0)
                return ERR(MQTT_E_PROPERTY_VALUE);
            pr->maximum_packet_size = u32;
            break;
        case MQTT_PROP_USER:
            if (pr->n_user < MQTT_USER_PROPS_MAX) {
                pr->user_key[pr->n_user] = str;
                pr->user_value[pr->n_user] = str2;
            }
            pr->n_user++;
            break;
        default:
            break;
        }
    }
    return MQTT_OK;
}

/* ---- Framing ---- */

int mqtt_frame(const uint8_t *buf, size_t len, size_t max_packet, mqtt_fixed_t *out)
{
    if (len < 1)
        return 0;
    uint8_t type = buf[0] >> 4, flags = buf[0] & 0x0f;
    switch (type) {
    case 0:
    case MQTT_CONNACK:
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
    case MQTT_PINGRESP:
        return ERR(MQTT_E_PACKET_TYPE);
    case MQTT_PUBLISH:
        break;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        /* 3.1.1 §3.6.1 / §3.8.1 / §3.10.1, 5.0 the same: flags 0010. */
        if (flags != 0x2)
            return ERR(MQTT_E_FLAGS);
        break;
    default:
        if (flags != 0)
            return ERR(MQTT_E_FLAGS);
        break;
    }
    rd_t r = {buf, len, 1};
    uint32_t remaining;
    int rc = rd_varint(&r, &remaining);
    if (rc == ERR(MQTT_E_TRUNCATED))
        return 0;
    if (rc != MQTT_OK)
        return rc;
    if (max_packet == 0 || max_packet > (size_t)MQTT_REMAINING_MAX + 5)
        max_packet = (size_t)MQTT_REMAINING_MAX + 5;
    if ((size_t)remaining + r.off > max_packet)
        return ERR(MQTT_E_TOO_LARGE);
    out->type = type;
    out->flags = flags;
    out->remaining = remaining;
    out->header_len = (uint8_t)r.off;
    return len - r.off >= remaining ? 1 : 0;
}

/* ---- Packets ---- */

static int dec_connect(rd_t *r, mqtt_connect_t *c)
{
    memset(c, 0, sizeof(*c));
    mqtt_str_t name;
    int rc = rd_bin(r, &name);
    if (rc != MQTT_OK)
        return rc;
    uint8_t level;
    if ((rc = rd_u8(r, &level)) != MQTT_OK)
        return rc;
    c->version = level;
    /* MQTT 3.1 ("MQIsdp", level 3) is a version this server does not speak: CONNACK 0x01. */
    if (name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0)
        return ERR(MQTT_E_PROTOCOL_VERSION);
    if (name.len != 4 || memcmp(name.p, "MQTT", 4) != 0)
        return ERR(MQTT_E_PROTOCOL_NAME);
    if (level != MQTT_V311 && level != MQTT_V5)
        return ERR(MQTT_E_PROTOCOL_VERSION);
    uint8_t flags;
    if ((rc = rd_u8(r, &flags)) != MQTT_OK)
        return rc;
    /* §3.1.2.3: bit 0 reserved, 0. */
    if (flags & 0x01)
        return ERR(MQTT_E_CONNECT_FLAGS);
    c->clean_start = (flags & 0x02) != 0;
    c->has_will = (flags & 0x04) != 0;
    c->will_qos = (flags >> 3) & 0x3;
    c->will_retain = (flags & 0x20) != 0;
    c->has_password = (flags & 0x40) != 0;
    c->has_username = (flags & 0x80) != 0;
    if (!c->has_will && (c->will_qos != 0 || c->will_retain))
        return ERR(MQTT_E_CONNECT_FLAGS);
    if (c->will_qos == 3)
        return ERR(MQTT_E_QOS);
    /* 3.1.1 §3.1.2.9: no password without a user name (5.0 allows it). */
    if (level == MQTT_V311 && c->has_password && !c->has_username)
        return ERR(MQTT_E_CONNECT_FLAGS);
    if ((rc = rd_u16(r, &c->keepalive_s)) != MQTT_OK)
        return rc;
    if (level == MQTT_V5 && (rc = rd_props(r, IN_CONNECT, &c->props)) != MQTT_OK)
        return rc;
    if ((rc = rd_str(r, &c->client_id)) != MQTT_OK)
        return rc;
    if (c->has_will) {
        if (level == MQTT_V5 && (rc = rd_props(r, IN_WILL, &c->will_props)) != MQTT_OK)
            return rc;
        if ((rc = rd_str(r, &c->will_topic)) != MQTT_OK)
            return rc;
        if ((rc = mqtt_topic_name_check(c->will_topic.p, c->will_topic.len)) != MQTT_OK)
            return rc;
        if ((rc = rd_bin(r, &c->will_payload)) != MQTT_OK)
            return rc;
    }
    if (c->has_username && (rc = rd_str(r, &c->username)) != MQTT_OK)
        return rc;
    if (c->has_password && (rc = rd_bin(r, &c->password)) != MQTT_OK)
        return rc;
    return MQTT_OK;
}

static int dec_publish(uint8_t version, uint8_t flags, rd_t *r, mqtt_publish_t *p)
{
    memset(p, 0, sizeof(*p));
    p->dup = (flags & 0x8) != 0;
    p->qos = (flags >> 1) & 0x3;
    p->retain = (flags & 0x1) != 0;
    if (p->qos == 3)
        return ERR(MQTT_E_QOS);
    /* 3.1.1 §3.3.1.1, 5.0 §3.3.1.1: DUP is 0 for QoS 0. */
    if (p->qos == 0 && p->dup)
        return ERR(MQTT_E_FLAGS);
    int rc = rd_str(r, &p->topic);
    if (rc != MQTT_OK)
        return rc;
    if (p->qos > 0) {
        if ((rc = rd_u16(r, &p->packet_id)) != MQTT_OK)
            return rc;
        if (p->packet_id == 0)
            return ERR(MQTT_E_PACKET_ID);
    }
    if (version == MQTT_V5 && (rc = rd_props(r, IN_PUBLISH, &p->props)) != MQTT_OK)
        return rc;
    /* 5.0 §3.3.2.1: an empty topic name only with a Topic Alias. */
    if (p->topic.len == 0 && version == MQTT_V5 &&
        (p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)))
        ;
    else if ((rc = mqtt_topic_name_check(p->topic.p, p->topic.len)) != MQTT_OK)
        return rc;
    p->payload.p = r->p + r->off;
    p->payload.len = r->len - r->off;
    r->off = r->len;
    return MQTT_OK;
}

static bool ack_reason_ok(uint8_t type, uint8_t reason)
{
    if (type == MQTT_PUBREL || type == MQTT_PUBCOMP)
        return reason == 0x00 || reason == 0x92;
    /* PUBACK, PUBREC (5.0 §3.4.2.1, §3.5.2.1). */
    static const uint8_t ok[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    for (size_t i = 0; i < sizeof(ok); i++)
        if (ok[i] == reason)
            return true;
    return false;
}

static int dec_ack(uint8_t version, uint8_t type, rd_t *r, mqtt_ack_t *a)
{
    memset(a, 0, sizeof(*a));
    a->type = type;
    int rc = rd_u16(r, &a->packet_id);
    if (rc != MQTT_OK)
        return rc;
    if (a->packet_id == 0)
        return ERR(MQTT_E_PACKET_ID);
    if (version == MQTT_V5 && r->off < r->len) {
        if ((rc = rd_u8(r, &a->reason)) != MQTT_OK)
            return rc;
        if (!ack_reason_ok(type, a->reason))
            return ERR(MQTT_E_REASON);
        if (r->off < r->len && (rc = rd_props(r, IN_ACK, &a->props)) != MQTT_OK)
            return rc;
    }
    return MQTT_OK;
}

static int dec_subscribe(uint8_t version, bool unsub, rd_t *r, mqtt_subscribe_t *s)
{
    s->n = 0;
    int rc = rd_u16(r, &s->packet_id);
    if (rc != MQTT_OK)
        return rc;
    if (s->packet_id == 0)
        return ERR(MQTT_E_PACKET_ID);
    if (version == MQTT_V5) {
        if ((rc = rd_props(r, unsub ? IN_UNSUBSCRIBE : IN_SUBSCRIBE, &s->props)) != MQTT_OK)
            return rc;
    } else {
        memset(&s->props, 0, sizeof(s->props));
    }
    if (r->off == r->len)
        return ERR(MQTT_E_NO_FILTERS);
    while (r->off < r->len) {
        if (s->n == MQTT_FILTERS_MAX)
            return ERR(MQTT_E_TOO_MANY_FILTERS);
        mqtt_filter_t *f = &s->f[s->n];
        memset(f, 0, sizeof(*f));
        if ((rc = rd_str(r, &f->filter)) != MQTT_OK)
            return rc;
        if ((rc = mqtt_topic_filter_check(f->filter.p, f->filter.len)) != MQTT_OK)
            return rc;
        if (!unsub) {
            uint8_t o;
            if ((rc = rd_u8(r, &o)) != MQTT_OK)
                return rc;
            /* 3.1.1 §3.8.3.1: bits 2-7 reserved; 5.0 §3.8.3.1: bits 6-7, Retain Handling 3. */
            if (version == MQTT_V311 ? (o & 0xfc) != 0 : (o & 0xc0) != 0 || ((o >> 4) & 3) == 3)
                return ERR(MQTT_E_SUB_OPTIONS);
            f->qos = o & 0x3;
            if (f->qos == 3)
                return ERR(MQTT_E_QOS);
            f->no_local = (o & 0x04) != 0;
            f->retain_as_published = (o & 0x08) != 0;
            f->retain_handling = (o >> 4) & 0x3;
        }
        s->n++;
    }
    return MQTT_OK;
}

static bool disconnect_reason_ok(uint8_t reason)
{
    /* 5.0 §3.14.2.1, the codes a client may send. */
    static const uint8_t ok[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95,
                                 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f, 0xa0};
    for (size_t i = 0; i < sizeof(ok); i++)
        if (ok[i] == reason)
            return true;
    return false;
}

static int dec_disconnect(uint8_t version, uint8_t type, rd_t *r, mqtt_disconnect_t *d)
{
    memset(d, 0, sizeof(*d));
    if (version != MQTT_V5 || r->off == r->len)
        return MQTT_OK;
    int rc = rd_u8(r, &d->reason);
    if (rc != MQTT_OK)
        return rc;
    if (type == MQTT_AUTH ? (d->reason != 0x00 && d->reason != 0x18 && d->reason != 0x19)
                          : !disconnect_reason_ok(d->reason))
        return ERR(MQTT_E_REASON);
    if (r->off < r->len &&
        (rc = rd_props(r, type == MQTT_AUTH ? IN_AUTH : IN_DISCONNECT, &d->props)) != MQTT_OK)
        return rc;
    return MQTT_OK;
}

int mqtt_decode(uint8_t version, const uint8_t *buf, size_t len, size_t max_packet,
                mqtt_packet_t *out)
{
    int rc = mqtt_frame(buf, len, max_packet, &out->fh);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return ERR(MQTT_E_TRUNCATED);
    if ((size_t)out->fh.header_len + out->fh.remaining != len)
        return ERR(MQTT_E_TRAILING);
    rd_t r = {buf + out->fh.header_len, out->fh.remaining, 0};
    switch (out->fh.type) {
    case MQTT_CONNECT:
        rc = dec_connect(&r, &out->u.connect);
        break;
    case MQTT_PUBLISH:
        rc = dec_publish(version, out->fh.flags, &r, &out->u.publish);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        rc = dec_ack(version, out->fh.type, &r, &out->u.ack);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        rc = dec_subscribe(version, out->fh.type == MQTT_UNSUBSCRIBE, &r, &out->u.subscribe);
        break;
    case MQTT_PINGREQ:
        rc = MQTT_OK;
        break;
    case MQTT_AUTH:
        /* Type 15 is reserved in 3.1.1 (§2.2.1). */
        if (version != MQTT_V5)
            return ERR(MQTT_E_PACKET_TYPE);
        rc = dec_disconnect(version, out->fh.type, &r, &out->u.disconnect);
        break;
    default: /* MQTT_DISCONNECT: mqtt_frame refused the server-only types */
        rc = dec_disconnect(version, out->fh.type, &r, &out->u.disconnect);
        break;
    }
    if (rc != MQTT_OK)
        return rc;
    if (r.off != r.len)
        return ERR(MQTT_E_TRAILING);
    return MQTT_OK;
}

/* ---- Writing ---- */

typedef struct wr {
    uint8_t *p;
    size_t cap, off;
    bool overflow;
} wr_t;

static void wr_u8(wr_t *w, uint8_t v)
{
    if (w->off + 1 > w->cap) {
        w->overflow = true;
        return;
    }
    w->p[w->off++] = v;
}

static void wr_u16(wr_t *w, uint16_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)v);
}

static void wr_u32(wr_t *w, uint32_t v)
{
    wr_u16(w, (uint16_t)(v >> 16));
    wr_u16(w, (uint16_t)v);
}

static void wr_bytes(wr_t *w, const void *p, size_t n)
{
    if (n > w->cap - w->off || w->off > w->cap) {
        w->overflow = true;
        return;
    }
    if (n > 0)
        memcpy(w->p + w->off, p, n);
    w->off += n;
}

static size_t varint_size(uint32_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

static void wr_varint(wr_t *w, uint32_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        wr_u8(w, v ? (uint8_t)(b | 0x80) : b);
    } while (v);
}

static void wr_str(wr_t *w, const char *s, size_t n)
{
    wr_u16(w, (uint16_t)n);
    wr_bytes(w, s, n);
}

static size_t wr_done(const wr_t *w)
{
    return w->overflow ? 0 : w->off;
}

size_t mqtt_encode_connack(uint8_t version, bool session_present, uint8_t code,
                           const mqtt_connack_props_t *props, uint8_t *buf, size_t cap)
{
    wr_t w = {buf, cap, 0, false};
    if (version != MQTT_V5) {
        wr_u8(&w, MQTT_CONNACK << 4);
        wr_u8(&w, 2);
        wr_u8(&w, session_present ? 1 : 0);
        wr_u8(&w, code);
        return wr_done(&w);
    }
    /* Properties first into a scratch buffer, to know their length. */
    uint8_t pb[600];
    wr_t p = {pb, sizeof(pb), 0, false};
    if (props != NULL) {
        if (props->has_session_expiry) {
            wr_u8(&p, MQTT_PROP_SESSION_EXPIRY);
            wr_u32(&p, props->session_expiry_s);
        }
        if (props->receive_maximum) {
            wr_u8(&p, MQTT_PROP_RECEIVE_MAXIMUM);
            wr_u16(&p, props->receive_maximum);
        }
        if (props->announce_limits) {
            wr_u8(&p, MQTT_PROP_MAXIMUM_QOS);
            wr_u8(&p, 1);
            wr_u8(&p, MQTT_PROP_RETAIN_AVAILABLE);
            wr_u8(&p, 0);
        }
        if (props->maximum_packet_size) {
            wr_u8(&p, MQTT_PROP_MAXIMUM_PACKET_SIZE);
            wr_u32(&p, props->maximum_packet_size);
        }
        if (props->assigned_client_id != NULL) {
            size_t n = strlen(props->assigned_client_id);
            wr_u8(&p, MQTT_PROP_ASSIGNED_CLIENT_ID);
            wr_str(&p, props->assigned_client_id, n > 256 ? 256 : n);
        }
        if (props->reason_string != NULL) {
            size_t n = strlen(props->reason_string);
            wr_u8(&p, MQTT_PROP_REASON_STRING);
            wr_str(&p, props->reason_string, n > 256 ? 256 : n);
        }
        if (props->announce_limits) {
            wr_u8(&p, MQTT_PROP_SUB_ID_AVAILABLE);
            wr_u8(&p, 0);
            wr_u8(&p, MQTT_PROP_SHARED_SUB_AVAILABLE);
            wr_u8(&p, 0);
        }
        if (props->has_server_keepalive) {
            wr_u8(&p, MQTT_PROP_SERVER_KEEP_ALIVE);
            wr_u16(&p, props->server_keepalive_s);
        }
    }
    if (p.overflow)
        return 0;
    uint32_t rl = (uint32_t)(2 + varint_size((uint32_t)p.off) + p.off);
    wr_u8(&w, MQTT_CONNACK << 4);
    wr_varint(&w, rl);
    wr_u8(&w, session_present ? 1 : 0);
    wr_u8(&w, code);
    wr_varint(&w, (uint32_t)p.off);
    wr_bytes(&w, pb, p.off);
    return wr_done(&w);
}

static uint32_t publish_remaining(uint8_t version, uint8_t qos, size_t topic_len,
                                  size_t payload_len)
{
    return (uint32_t)(2 + topic_len + (qos ? 2 : 0) + (version == MQTT_V5 ? 1 : 0) + payload_len);
}

size_t mqtt_publish_size(uint8_t version, uint8_t qos, size_t topic_len, size_t payload_len)
{
    uint32_t rl = publish_remaining(version, qos, topic_len, payload_len);
    return 1 + varint_size(rl) + rl;
}

size_t mqtt_encode_publish(uint8_t version, uint8_t qos, bool dup, bool retain, const char *topic,
                           size_t topic_len, uint16_t packet_id, const uint8_t *payload,
                           size_t payload_len, uint8_t *buf, size_t cap)
{
    if (topic_len > 65535 || payload_len > MQTT_REMAINING_MAX - 8 - topic_len)
        return 0;
    wr_t w = {buf, cap, 0, false};
    wr_u8(&w,
          (uint8_t)((MQTT_PUBLISH << 4) | (dup ? 0x8 : 0) | ((qos & 3) << 1) | (retain ? 1 : 0)));
    wr_varint(&w, publish_remaining(version, qos, topic_len, payload_len));
    wr_str(&w, topic, topic_len);
    if (qos)
        wr_u16(&w, packet_id);
    if (version == MQTT_V5)
        wr_u8(&w, 0); /* no properties */
    wr_bytes(&w, payload, payload_len);
    return wr_done(&w);
}

size_t mqtt_encode_ack(uint8_t version, uint8_t type, uint16_t packet_id, uint8_t reason,
                       uint8_t *buf, size_t cap)
{
    wr_t w = {buf, cap, 0, false};
    wr_u8(&w, (uint8_t)((type << 4) | (type == MQTT_PUBREL ? 0x2 : 0)));
    /* 5.0 §3.4.2.1: the reason code may be left out when it is 0x00 and there are no
     * properties. */
    bool with_reason = version == MQTT_V5 && reason != 0;
    wr_u8(&w, with_reason ? 3 : 2);
    wr_u16(&w, packet_id);
    if (with_reason)
        wr_u8(&w, reason);
    return wr_done(&w);
}

size_t mqtt_encode_suback(uint8_t version, uint8_t type, uint16_t packet_id, const uint8_t *codes,
                          size_t n, uint8_t *buf, size_t cap)
{
    wr_t w = {buf, cap, 0, false};
    bool with_codes = type == MQTT_SUBACK || version == MQTT_V5;
    if (!with_codes)
        n = 0;
    uint32_t rl = (uint32_t)(2 + (version == MQTT_V5 ? 1 : 0) + n);
    wr_u8(&w, (uint8_t)(type << 4));
    wr_varint(&w, rl);
    wr_u16(&w, packet_id);
    if (version == MQTT_V5)
        wr_u8(&w, 0);
    wr_bytes(&w, codes, n);
    return wr_done(&w);
}

size_t mqtt_encode_pingresp(uint8_t *buf, size_t cap)
{
    wr_t w = {buf, cap, 0, false};
    wr_u8(&w, MQTT_PINGRESP << 4);
    wr_u8(&w, 0);
    return wr_done(&w);
}

size_t mqtt_encode_disconnect(uint8_t version, uint8_t reason, const char *reason_string,
                              uint8_t *buf, size_t cap)
{
    if (version != MQTT_V5)
        return 0;
    wr_t w = {buf, cap, 0, false};
    size_t rs = reason_string != NULL ? strlen(reason_string) : 0;
    if (rs > 256)
        rs = 256;
    size_t plen = reason_string != NULL ? 3 + rs : 0;
    wr_u8(&w, MQTT_DISCONNECT << 4);
    wr_varint(&w, (uint32_t)(1 + varint_size((uint32_t)plen) + plen));
    wr_u8(&w, reason);
    wr_varint(&w, (uint32_t)plen);
    if (reason_string != NULL) {
        wr_u8(&w, MQTT_PROP_REASON_STRING);
        wr_str(&w, reason_string, rs);
    }
    return wr_done(&w);
}
