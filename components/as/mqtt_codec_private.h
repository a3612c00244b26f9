/* The MQTT codec of the Application Server's MQTT server: MQTT 3.1.1 (OASIS Standard,
 * 29 October 2014) and MQTT 5.0 (OASIS Standard, 7 March 2019). Pure: no I/O, clock,
 * allocation or globals. Decoders fill caller-provided structs whose strings point into the
 * input (not NUL-terminated: pointer + length); encoders write into caller-provided buffers.
 *
 * Scope: the server's side. Decoded: what a client sends (CONNECT, PUBLISH, PUBACK, PUBREC,
 * PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH). Encoded: what the
 * server sends (CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP, DISCONNECT). A packet
 * type only a server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP) is malformed when it comes
 * from a client (MQTT_E_PACKET_TYPE).
 *
 * QoS 2: the server supports QoS 0 and 1 only (MQTT 5.0 announces Maximum QoS 1 in CONNACK).
 * The codec decodes a QoS 2 PUBLISH and PUBREC/PUBREL/PUBCOMP so that the server can refuse
 * them by name: it grants QoS 1 to a subscription that asks for 2 (both versions allow the
 * downgrade, 3.1.1 §3.8.4, 5.0 §3.8.4), and closes a connection that publishes at QoS 2 or
 * sends PUBREC/PUBREL/PUBCOMP (it never sent a QoS 2 message) — 5.0 with DISCONNECT 0x9B
 * "QoS not supported" (§3.3.2-... Maximum QoS) or 0x82 protocol error.
 *
 * Every malformed packet gets a named reason (mqtt_err_name): the rules of both
 * specifications on the fixed header (reserved flags, §2.2.2), the Remaining Length (at most
 * four bytes, §1.5.5 / §2.2.3), UTF-8 strings (well-formed, no U+0000, no surrogates,
 * §1.5.3 / §1.5.4), topic names and filters (§4.7), packet identifiers (non-zero, §2.3.1 /
 * §2.2.1) and 5.0 properties (known for the packet, at most once unless the spec allows
 * more, values in range, §2.2.2). */
#ifndef AS_MQTT_CODEC_PRIVATE_H
#define AS_MQTT_CODEC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol Level byte of CONNECT (3.1.1 §3.1.2.2, 5.0 §3.1.2.2). */
#define MQTT_V311 4u
#define MQTT_V5   5u

/* Control packet types (3.1.1 §2.2.1, 5.0 §2.1.2). */
enum {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
};

/* 3.1.1 §1.5.3 / 5.0 §1.5.4: a string is at most 65,535 bytes; the Remaining Length at most
 * 268,435,455 (four bytes of seven bits, §2.2.3). */
#define MQTT_REMAINING_MAX 268435455u
/* Topic filters per SUBSCRIBE / UNSUBSCRIBE the decoder holds; more is refused
 * (MQTT_E_TOO_MANY_FILTERS): mosquitto_sub sends one per -t, applications a handful. */
#define MQTT_FILTERS_MAX 16u
/* User Properties the decoder keeps per packet (more are validated and skipped). */
#define MQTT_USER_PROPS_MAX 4u

/* Decode errors: name (stable, for logs and metrics) and meaning. Functions return them
 * negated (-MQTT_E_TRUNCATED); MQTT 5.0 reason codes follow from them (mqtt_err_reason). */
#define MQTT_ERRORS(X)                                                                             \
    X(MQTT_E_PACKET_TYPE, "packet_type", "reserved type 0, or a type only a server sends")         \
    X(MQTT_E_FLAGS, "reserved_flags", "fixed-header flags other than the spec's for the type")     \
    X(MQTT_E_REMAINING_LENGTH, "remaining_length", "Remaining Length longer than four bytes")      \
    X(MQTT_E_TOO_LARGE, "packet_too_large", "the packet exceeds the server's maximum size")        \
    X(MQTT_E_TRUNCATED, "truncated", "a field runs past the end of the packet")                    \
    X(MQTT_E_TRAILING, "trailing_bytes", "bytes after the last field of the packet")               \
    X(MQTT_E_UTF8, "utf8_invalid", "a string is not well-formed UTF-8 or holds U+0000")            \
    X(MQTT_E_PROTOCOL_NAME, "protocol_name", "CONNECT's protocol name is not \"MQTT\"")            \
    X(MQTT_E_PROTOCOL_VERSION, "protocol_version", "protocol level other than 4 (3.1.1) or 5")     \
    X(MQTT_E_CONNECT_FLAGS, "connect_flags", "CONNECT's reserved flag, or will flags unset")       \
    X(MQTT_E_QOS, "qos_invalid", "QoS 3")                                                          \
    X(MQTT_E_TOPIC_EMPTY, "topic_empty", "a zero-length topic name or filter")                     \
    X(MQTT_E_TOPIC_WILDCARD, "topic_wildcard", "a topic name (PUBLISH) holds + or #")              \
    X(MQTT_E_FILTER, "topic_filter_invalid", "+ or # not alone in its level, # not last")          \
    X(MQTT_E_PACKET_ID, "packet_id_zero", "a packet identifier of 0")                              \
    X(MQTT_E_NO_FILTERS, "no_topic_filters", "SUBSCRIBE or UNSUBSCRIBE without a filter")          \
    X(MQTT_E_TOO_MANY_FILTERS, "too_many_filters", "more filters in one packet than held")         \
    X(MQTT_E_SUB_OPTIONS, "subscription_options", "reserved bits of subscription options set")     \
    X(MQTT_E_PROPERTY, "property_invalid", "unknown property, or not allowed in the packet")       \
    X(MQTT_E_PROPERTY_DUP, "property_duplicate", "a property that may appear once appears twice")  \
    X(MQTT_E_PROPERTY_VALUE, "property_value", "a property's value out of its range")              \
    X(MQTT_E_REASON, "reason_code", "a reason code not defined for the packet")

typedef enum mqtt_err {
    MQTT_OK = 0,
#define MQTT_X_ENUM(e, name, doc) e,
    MQTT_ERRORS(MQTT_X_ENUM)
#undef MQTT_X_ENUM
        MQTT_E_COUNT
} mqtt_err_t;

/* "remaining_length", ... for -MQTT_E_REMAINING_LENGTH (or +); "ok" for MQTT_OK; "unknown"
 * out of range. */
const char *mqtt_err_name(int err);
/* The MQTT 5.0 reason code a server answers err with (§2.4): 0x81 malformed packet, 0x82
 * protocol error, 0x95 packet too large, 0x8F topic filter invalid, 0x90 topic name
 * invalid, 0x84 unsupported protocol version. */
uint8_t mqtt_err_reason(int err);

/* A string or binary field: bytes inside the decoded packet, not NUL-terminated. */
typedef struct mqtt_str {
    const uint8_t *p;
    size_t len;
} mqtt_str_t;

/* The fixed header (§2.2): type, flags (low nibble of the first byte), the Remaining
 * Length and how many bytes the header took. */
typedef struct mqtt_fixed {
    uint8_t type;
    uint8_t flags;
    uint32_t remaining;
    uint8_t header_len; /* 2..5 */
} mqtt_fixed_t;

/* Frames one packet at the start of buf[0..len): returns 1 with *out when the whole packet
 * (out->header_len + out->remaining bytes) is there, 0 when more bytes are needed, or a
 * negative mqtt_err_t: MQTT_E_REMAINING_LENGTH, MQTT_E_TOO_LARGE (the whole packet would be
 * more than max_packet bytes; 0: the spec's maximum), MQTT_E_PACKET_TYPE, MQTT_E_FLAGS.
 * The type and flags are checked as soon as the first byte is there. */
int mqtt_frame(const uint8_t *buf, size_t len, size_t max_packet, mqtt_fixed_t *out);

/* MQTT 5.0 properties (§2.2.2.2) of the packets the server reads, those it acts on; every
 * other known property is validated and skipped. `present` holds MQTT_PROP_BIT(id). */
#define MQTT_PROP_BIT(id) (1ull << (id))
enum {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER = 0x26,
    MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

typedef struct mqtt_props {
    uint64_t present;
    uint32_t session_expiry_s;    /* CONNECT */
    uint16_t receive_maximum;     /* CONNECT: > 0 */
    uint32_t maximum_packet_size; /* CONNECT: > 0 */
    uint16_t topic_alias_maximum; /* CONNECT */
    uint16_t topic_alias;         /* PUBLISH: > 0 */
    uint8_t payload_format;       /* PUBLISH, will: 0 or 1 */
    uint32_t message_expiry_s;    /* PUBLISH, will */
    uint32_t subscription_id;     /* SUBSCRIBE: 1..268,435,455 */
    mqtt_str_t auth_method;       /* CONNECT, AUTH */
    mqtt_str_t reason_string;     /* acks, DISCONNECT, AUTH */
    size_t n_user;                /* User Properties seen (all of them) */
    mqtt_str_t user_key[MQTT_USER_PROPS_MAX], user_value[MQTT_USER_PROPS_MAX];
} mqtt_props_t;

typedef struct mqtt_connect {
    uint8_t version;  /* MQTT_V311 | MQTT_V5 */
    bool clean_start; /* 3.1.1 Clean Session, 5.0 Clean Start */
    uint16_t keepalive_s;
    mqtt_str_t client_id;
    bool has_will;
    uint8_t will_qos;
    bool will_retain;
    mqtt_str_t will_topic, will_payload;
    bool has_username, has_password;
    mqtt_str_t username, password;
    mqtt_props_t props;      /* 5.0 */
    mqtt_props_t will_props; /* 5.0 */
} mqtt_connect_t;

typedef struct mqtt_publish {
    bool dup, retain;
    uint8_t qos;
    mqtt_str_t topic;   /* never empty in 3.1.1; empty in 5.0 only with a Topic Alias */
    uint16_t packet_id; /* QoS > 0 */
    mqtt_props_t props; /* 5.0 */
    mqtt_str_t payload;
} mqtt_publish_t;

/* PUBACK, PUBREC, PUBREL, PUBCOMP (5.0: reason code, 0x00 when absent, and properties). */
typedef struct mqtt_ack {
    uint8_t type;
    uint16_t packet_id;
    uint8_t reason;
    mqtt_props_t props;
} mqtt_ack_t;

typedef struct mqtt_filter {
    mqtt_str_t filter;
    uint8_t qos;                        /* SUBSCRIBE: maximum QoS asked (0..2) */
    bool no_local, retain_as_published; /* 5.0 */
    uint8_t retain_handling;            /* 5.0: 0..2 */
} mqtt_filter_t;

/* SUBSCRIBE and UNSUBSCRIBE. */
typedef struct mqtt_subscribe {
    uint16_t packet_id;
    mqtt_props_t props;
    size_t n;
    mqtt_filter_t f[MQTT_FILTERS_MAX];
} mqtt_subscribe_t;

/* DISCONNECT and AUTH (5.0: reason code and properties; 3.1.1: empty). */
typedef struct mqtt_disconnect {
    uint8_t reason;
    mqtt_props_t props;
} mqtt_disconnect_t;

typedef struct mqtt_packet {
    mqtt_fixed_t fh;
    union {
        mqtt_connect_t connect;
        mqtt_publish_t publish;
        mqtt_ack_t ack;
        mqtt_subscribe_t subscribe;   /* SUBSCRIBE, UNSUBSCRIBE */
        mqtt_disconnect_t disconnect; /* DISCONNECT, AUTH */
    } u;
} mqtt_packet_t;

/* Decodes one whole packet buf[0..len) as framed by mqtt_frame (len = header_len +
 * remaining), sent by a client speaking `version` (MQTT_V311 | MQTT_V5; for CONNECT the
 * version comes from the packet itself and `version` is ignored). Returns MQTT_OK or a
 * negative mqtt_err_t; on error *out is unspecified. Strings point into buf. */
int mqtt_decode(uint8_t version, const uint8_t *buf, size_t len, size_t max_packet,
                mqtt_packet_t *out);

/* Topic names and filters (3.1.1 §4.7, 5.0 §4.7): MQTT_OK or MQTT_E_TOPIC_EMPTY /
 * MQTT_E_TOPIC_WILDCARD / MQTT_E_FILTER / MQTT_E_UTF8. */
int mqtt_topic_name_check(const uint8_t *p, size_t len);
int mqtt_topic_filter_check(const uint8_t *p, size_t len);
/* MQTT_OK when p[0..len) is a well-formed UTF-8 string allowed in MQTT (no U+0000, no
 * surrogates, no overlong forms: 3.1.1 §1.5.3, 5.0 §1.5.4), else MQTT_E_UTF8. */
int mqtt_utf8_check(const uint8_t *p, size_t len);

/* ---- Encoders: each returns the bytes written, or 0 when cap is too small. ---- */

/* What the server says in a 5.0 CONNACK (ignored for 3.1.1). */
typedef struct mqtt_connack_props {
    bool has_session_expiry;
    uint32_t session_expiry_s;
    uint16_t receive_maximum;     /* 0: omitted */
    uint32_t maximum_packet_size; /* 0: omitted */
    bool announce_limits;         /* Maximum QoS 1, Retain Available 0, Subscription
                                     Identifiers / Shared Subscriptions Available 0 */
    bool has_server_keepalive;
    uint16_t server_keepalive_s;
    const char *assigned_client_id; /* NULL: omitted */
    const char *reason_string;      /* NULL: omitted */
} mqtt_connack_props_t;

/* CONNACK: 3.1.1 return code (0..5) or 5.0 reason code in `code`. */
size_t mqtt_encode_connack(uint8_t version, bool session_present, uint8_t code,
                           const mqtt_connack_props_t *props, uint8_t *buf, size_t cap);
/* PUBLISH from the server (no properties in 5.0). packet_id only when qos > 0. */
size_t mqtt_encode_publish(uint8_t version, uint8_t qos, bool dup, bool retain, const char *topic,
                           size_t topic_len, uint16_t packet_id, const uint8_t *payload,
                           size_t payload_len, uint8_t *buf, size_t cap);
/* The size mqtt_encode_publish needs. */
size_t mqtt_publish_size(uint8_t version, uint8_t qos, size_t topic_len, size_t payload_len);
/* PUBACK (and PUBREC/PUBREL/PUBCOMP by type); 5.0: the reason code is written when not 0. */
size_t mqtt_encode_ack(uint8_t version, uint8_t type, uint16_t packet_id, uint8_t reason,
                       uint8_t *buf, size_t cap);
/* SUBACK / UNSUBACK (type) with n codes: SUBACK granted QoS or 0x80 (3.1.1) / reason codes
 * (5.0); UNSUBACK codes only in 5.0 (3.1.1 has none: codes ignored). */
size_t mqtt_encode_suback(uint8_t version, uint8_t type, uint16_t packet_id, const uint8_t *codes,
                          size_t n, uint8_t *buf, size_t cap);
size_t mqtt_encode_pingresp(uint8_t *buf, size_t cap);
/* 5.0 DISCONNECT from the server with a reason code and optional Reason String (3.1.1 has
 * no server DISCONNECT: returns 0). */
size_t mqtt_encode_disconnect(uint8_t version, uint8_t reason, const char *reason_string,
                              uint8_t *buf, size_t cap);

/* 3.1.1 CONNACK return codes (§3.2.2.3) and the 5.0 reason codes the server uses (§2.4). */
#define MQTT311_CONNACK_ACCEPTED            0x00
#define MQTT311_CONNACK_BAD_VERSION         0x01
#define MQTT311_CONNACK_IDENTIFIER_REJECTED 0x02
#define MQTT311_CONNACK_SERVER_UNAVAILABLE  0x03
#define MQTT311_CONNACK_BAD_CREDENTIALS     0x04
#define MQTT311_CONNACK_NOT_AUTHORIZED      0x05
#define MQTT5_SUCCESS                       0x00
#define MQTT5_GRANTED_QOS_1                 0x01
#define MQTT5_NO_SUBSCRIPTION_EXISTED       0x11
#define MQTT5_UNSPECIFIED_ERROR             0x80
#define MQTT5_MALFORMED_PACKET              0x81
#define MQTT5_PROTOCOL_ERROR                0x82
#define MQTT5_IMPLEMENTATION_SPECIFIC       0x83
#define MQTT5_UNSUPPORTED_VERSION           0x84
#define MQTT5_CLIENT_ID_NOT_VALID           0x85
#define MQTT5_BAD_USERNAME_PASSWORD         0x86
#define MQTT5_NOT_AUTHORIZED                0x87
#define MQTT5_SERVER_UNAVAILABLE            0x88
#define MQTT5_SERVER_BUSY                   0x89
#define MQTT5_SERVER_SHUTTING_DOWN          0x8B
#define MQTT5_BAD_AUTH_METHOD               0x8C
#define MQTT5_KEEP_ALIVE_TIMEOUT            0x8D
#define MQTT5_SESSION_TAKEN_OVER            0x8E
#define MQTT5_TOPIC_FILTER_INVALID          0x8F
#define MQTT5_TOPIC_NAME_INVALID            0x90
#define MQTT5_PACKET_ID_NOT_FOUND           0x92
#define MQTT5_RECEIVE_MAXIMUM_EXCEEDED      0x93
#define MQTT5_TOPIC_ALIAS_INVALID           0x94
#define MQTT5_PACKET_TOO_LARGE              0x95
#define MQTT5_QUOTA_EXCEEDED                0x97
#define MQTT5_ADMINISTRATIVE_ACTION         0x98
#define MQTT5_RETAIN_NOT_SUPPORTED          0x9A
#define MQTT5_QOS_NOT_SUPPORTED             0x9B
#define MQTT5_SHARED_SUB_NOT_SUPPORTED      0x9E
#define MQTT5_SUB_IDS_NOT_SUPPORTED         0xA1
#define MQTT5_WILDCARD_NOT_SUPPORTED        0xA2

/* ---- Topics of the Application Server (mqtt_topic.c, pure) ----
 *
 * The Things Stack's layout (pkg/applicationserver/io/mqtt/topics/v3.go): everything of an
 * application lives under `v3/{app}@{tenant}/devices/{dev}/...`, where `{app}@{tenant}` is the
 * client's MQTT user name (its "uid"). */

/* MQTT topic filter matching (3.1.1 §4.7, 5.0 §4.7): `+` one level, `#` this level and
 * everything below (including the parent: "a/#" matches "a"); a filter starting with a
 * wildcard does not match a topic starting with '$' (§4.7.2). filter and topic valid. */
bool mqtt_topic_match(const char *filter, size_t filter_len, const char *topic, size_t topic_len);

/* The filter a client of `uid` may subscribe with, as The Things Stack accepts it
 * (topics/v3.go AcceptedTopic): `#` and `v3/#` become `v3/{uid}/#`; `v3/+/...` becomes
 * `v3/{uid}/...`; `v3/{uid}/...` stays; anything else (another application, `+/...`,
 * `$SYS/...`, `$share/...`) is refused. Writes the accepted filter, NUL-terminated, to
 * out[0..cap) and returns its length, or -1 when refused or when it does not fit. */
int mqtt_topic_accept_filter(const char *uid, const char *filter, size_t filter_len, char *out,
                             size_t cap);

/* Message types a client with RIGHT_APPLICATION_TRAFFIC_READ may receive: the suffix after
 * `v3/{uid}/devices/{dev}/`. True for up, up/normalized, join, down/queued, down/sent,
 * down/ack, down/nack, down/failed, down/invalidated, service/data, location/solved. */
bool mqtt_topic_suffix_readable(const char *suffix);

/* A client publish: when topic is `v3/{uid}/devices/{dev}/down/push` or `.../down/replace`
 * with a valid device ID (tenant/ids.h rules), copies the device ID (NUL-terminated) into
 * dev[0..dev_cap), sets *replace and returns 0; otherwise -1. */
int mqtt_topic_parse_downlink(const char *uid, const char *topic, size_t topic_len, char *dev,
                              size_t dev_cap, bool *replace);

/* Writes `v3/{app}@{tenant}/devices/{dev}/{suffix}` NUL-terminated to out[0..cap); returns
 * its length, or -1 when it does not fit. */
int mqtt_topic_build(const char *tenant, const char *app, const char *dev, const char *suffix,
                     char *out, size_t cap);

#endif
