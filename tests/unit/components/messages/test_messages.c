/* Unit tests of components/messages: every kind round-trips with every field set, the wire
 * format of one small message is pinned, each validation error has its code, and unknown
 * fields from a newer writer are ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "messages/messages.h"

/* Sets every field of a message of descriptor d, recursively: scalars to 1 (enums to their
 * last value, strings to "acme-1", bytes to 16 bytes), repeated fields to two elements, and
 * of each oneof the case numbered variant (mod the number of cases). Everything is malloc'ed
 * so that protobuf_c_message_free_unpacked(m, NULL) frees it. */
static void fill_value(const ProtobufCFieldDescriptor *f, void *p, unsigned variant);

static ProtobufCMessage *fill(const ProtobufCMessageDescriptor *d, unsigned variant)
{
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    assert_non_null(m);
    protobuf_c_message_init(d, m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *p = (char *)m + f->offset;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            unsigned n = 0, idx = 0;
            for (unsigned j = 0; j < d->n_fields; j++)
                if ((d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    d->fields[j].quantifier_offset == f->quantifier_offset) {
                    if (j == i)
                        idx = n;
                    n++;
                }
            if (idx != variant % n)
                continue;
            *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t size = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
                              ? sizeof(void *)
                          : f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
                          : f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_INT64 ||
                                  f->type == PROTOBUF_C_TYPE_DOUBLE
                              ? 8
                              : 4;
            char *arr = calloc(2, size);
            assert_non_null(arr);
            for (unsigned k = 0; k < 2; k++)
                fill_value(f, arr + k * size, variant);
            *(size_t *)((char *)m + f->quantifier_offset) = 2;
            *(void **)p = arr;
        } else {
            fill_value(f, p, variant);
        }
    }
    return m;
}

static void fill_value(const ProtobufCFieldDescriptor *f, void *p, unsigned variant)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT32:
        *(uint32_t *)p = 1;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)p = e->values[e->n_values - 1].value;
        break;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_INT64:
        *(uint64_t *)p = 0x0123456789abcdefull;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = -7.25f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = 52.3740301;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = 1;
        break;
    case PROTOBUF_C_TYPE_STRING:
        *(char **)p = strdup("acme-1");
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        b->len = LW_MSG_ID_LEN;
        b->data = malloc(b->len);
        assert_non_null(b->data);
        for (size_t i = 0; i < b->len; i++)
            b->data[i] = (uint8_t)(0xa0 + i);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)p = fill(f->descriptor, variant);
        break;
    default:
        fail_msg("field %s: type %d not handled by the test filler", f->name, f->type);
    }
}

/* Asserts that every field of m is set (not its default), and of each oneof exactly the case
 * fill() chose for variant. */
static void assert_all_set(const ProtobufCMessage *m, unsigned variant)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *p = (const char *)m + f->offset;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            unsigned n = 0, idx = 0;
            for (unsigned j = 0; j < d->n_fields; j++)
                if ((d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    d->fields[j].quantifier_offset == f->quantifier_offset) {
                    if (j == i)
                        idx = n;
                    n++;
                }
            uint32_t c = *(const uint32_t *)((const char *)m + f->quantifier_offset);
            if (idx != variant % n) {
                assert_int_not_equal(c, f->id);
                continue;
            }
            assert_int_equal(c, f->id);
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            if (n != 2)
                fail_msg("%s.%s: %zu elements", d->name, f->name, n);
            if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                for (size_t k = 0; k < n; k++)
                    assert_all_set((*(ProtobufCMessage *const *const *)p)[k], variant);
            continue;
        }
        switch (f->type) {
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_INT32:
            assert_int_equal(*(const uint32_t *)p, 1);
            break;
        case PROTOBUF_C_TYPE_ENUM: {
            const ProtobufCEnumDescriptor *e = f->descriptor;
            assert_int_equal(*(const int *)p, e->values[e->n_values - 1].value);
            break;
        }
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_INT64:
            assert_true(*(const uint64_t *)p == 0x0123456789abcdefull);
            break;
        case PROTOBUF_C_TYPE_FLOAT:
            assert_true(*(const float *)p == -7.25f);
            break;
        case PROTOBUF_C_TYPE_DOUBLE:
            assert_true(*(const double *)p == 52.3740301);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            assert_true(*(const protobuf_c_boolean *)p);
            break;
        case PROTOBUF_C_TYPE_STRING:
            assert_string_equal(*(char *const *)p, "acme-1");
            break;
        case PROTOBUF_C_TYPE_BYTES: {
            const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)p;
            assert_int_equal(b->len, LW_MSG_ID_LEN);
            assert_int_equal(b->data[15], 0xaf);
            break;
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
            if (sub == NULL)
                fail_msg("%s.%s: unset", d->name, f->name);
            assert_all_set(sub, variant);
            break;
        }
        default:
            fail_msg("type %d", f->type);
        }
    }
}

/* The filler sets schema_version to 1 (== LW_MSG_SCHEMA_VERSION), ids to 16 bytes and the
 * tenant to "acme-1": a valid envelope. */
#define ROUND_TRIP(kind, Kind, desc)                                                               \
    static void round_trip_##kind(unsigned variant)                                                \
    {                                                                                              \
        Kind *m = (Kind *)fill(&desc, variant);                                                    \
        uint8_t buf[8192];                                                                         \
        size_t len = 0;                                                                            \
        assert_int_equal(lw_msg_##kind##_encode(m, buf, sizeof(buf), &len), 0);                    \
        assert_int_equal(len, protobuf_c_message_get_packed_size(&m->base));                       \
        size_t small = 0;                                                                          \
        assert_int_equal(lw_msg_##kind##_encode(m, buf, len - 1, &small), LW_MSG_E_BUF);           \
        assert_int_equal(small, len);                                                              \
        Kind *out = NULL;                                                                          \
        assert_int_equal(lw_msg_##kind##_decode(buf, len, &out), 0);                               \
        assert_non_null(out);                                                                      \
        assert_true(protobuf_c_message_check(&out->base));                                         \
        assert_all_set(&out->base, variant);                                                       \
        uint8_t again[8192];                                                                       \
        size_t len2 = 0;                                                                           \
        assert_int_equal(lw_msg_##kind##_encode(out, again, sizeof(again), &len2), 0);             \
        assert_int_equal(len2, len);                                                               \
        assert_memory_equal(again, buf, len);                                                      \
        protobuf_c_message_free_unpacked(&m->base, NULL);                                          \
        Kind *cut = out;                                                                           \
        assert_int_equal(lw_msg_##kind##_decode(buf, len - 1, &cut), LW_MSG_E_MALFORMED);          \
        assert_null(cut);                                                                          \
        lw_msg_##kind##_free(out);                                                                 \
        lw_msg_##kind##_free(NULL);                                                                \
    }
LW_MSG_KINDS(ROUND_TRIP)
#undef ROUND_TRIP

static void test_round_trip_every_kind(void **state)
{
    (void)state;
    /* Eight variants: every case of every oneof (NsUp has eight, DataRate three). */
    for (unsigned v = 0; v < 8; v++) {
#define RUN(kind, Kind, desc) round_trip_##kind(v);
        LW_MSG_KINDS(RUN)
#undef RUN
    }
}

/* A small GsTxAck: its bytes are the wire format, pinned. */
static const uint8_t txack_id[LW_MSG_ID_LEN] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t txack_wire[] = {
    0x0a, 0x1a, /* 1 envelope, 26 bytes */
    0x0a, 0x10, 0,    1,    2,   3,   4,   5,   6,   7,   8, 9, 10, 11, 12, 13, 14, 15, /* 1.1 id */
    0x12, 0x04, 'a',  'c',  'm', 'e',                     /* 1.2 tenant_id */
    0x20, 0x01,                                           /* 1.4 schema_version 1 */
    0x12, 0x02, 0xd1, 0xd2,                               /* 2 downlink_id */
    0x28, 0x02,                                           /* 5 result TOO_LATE */
    0x32, 0x08, 't',  'o',  'o', '_', 'l', 'a', 't', 'e', /* 6 error_name */
};

struct txack {
    Lw__Msg__Envelope env;
    Lw__Msg__GsTxAck ack;
    uint8_t dl[2];
};

static void txack_init(struct txack *t)
{
    lw__msg__envelope__init(&t->env);
    t->env.id.data = (uint8_t *)txack_id;
    t->env.id.len = sizeof(txack_id);
    t->env.tenant_id = "acme";
    t->env.schema_version = LW_MSG_SCHEMA_VERSION;
    lw__msg__gs_tx_ack__init(&t->ack);
    t->ack.envelope = &t->env;
    t->dl[0] = 0xd1;
    t->dl[1] = 0xd2;
    t->ack.downlink_id.data = t->dl;
    t->ack.downlink_id.len = 2;
    t->ack.result = LW__MSG__TX_ACK_RESULT__TOO_LATE;
    t->ack.error_name = "too_late";
}

static void test_wire_pinned(void **state)
{
    (void)state;
    struct txack t;
    txack_init(&t);
    uint8_t buf[128];
    size_t len = 0;
    assert_int_equal(lw_msg_gs_txack_encode(&t.ack, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, sizeof(txack_wire));
    assert_memory_equal(buf, txack_wire, len);
    Lw__Msg__GsTxAck *out = NULL;
    assert_int_equal(lw_msg_gs_txack_decode(txack_wire, sizeof(txack_wire), &out), 0);
    assert_memory_equal(out->envelope->id.data, txack_id, LW_MSG_ID_LEN);
    assert_string_equal(out->envelope->tenant_id, "acme");
    assert_int_equal(out->envelope->n_correlation_ids, 0);
    assert_int_equal(out->result, LW__MSG__TX_ACK_RESULT__TOO_LATE);
    assert_string_equal(out->error_name, "too_late");
    assert_int_equal(out->downlink_id.len, 2);
    assert_null(out->gateway_ids);
    lw_msg_gs_txack_free(out);
}

/* Packs t without lw_msg_*_encode's validation, as a foreign or buggy writer would, and
 * returns what decoding answers. */
static int decode_raw(const struct txack *t)
{
    uint8_t buf[128];
    size_t len = protobuf_c_message_pack(&t->ack.base, buf);
    Lw__Msg__GsTxAck *out = (Lw__Msg__GsTxAck *)1;
    int rc = lw_msg_gs_txack_decode(buf, len, &out);
    if (rc != 0)
        assert_null(out);
    lw_msg_gs_txack_free(out);
    return rc;
}

static void test_decode_errors(void **state)
{
    (void)state;
    Lw__Msg__GsTxAck *out = NULL;
    /* truncated anywhere inside the envelope, or inside the last field (a cut at a field
     * boundary is a shorter valid message) */
    for (size_t n = 1; n < 28; n++)
        assert_int_equal(lw_msg_gs_txack_decode(txack_wire, n, &out), LW_MSG_E_MALFORMED);
    assert_int_equal(lw_msg_gs_txack_decode(txack_wire, sizeof(txack_wire) - 1, &out),
                     LW_MSG_E_MALFORMED);
    assert_null(out);
    /* garbage: an over-long varint, a bad wire type */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(lw_msg_gs_txack_decode(garbage, sizeof(garbage), &out), LW_MSG_E_MALFORMED);
    static const uint8_t bad_type[] = {0x0f, 0x00};
    assert_int_equal(lw_msg_gs_txack_decode(bad_type, sizeof(bad_type), &out), LW_MSG_E_MALFORMED);
    /* an unknown field numbered 0 (tag as the non-minimal varint 80 00): protobuf-c would
     * keep it and then refuse its own re-encoding */
    uint8_t zero[sizeof(txack_wire) + 3];
    memcpy(zero, txack_wire, sizeof(txack_wire));
    memcpy(zero + sizeof(txack_wire), "\x80\x00\x01", 3);
    assert_int_equal(lw_msg_gs_txack_decode(zero, sizeof(zero), &out), LW_MSG_E_MALFORMED);
    assert_null(out);
    /* empty: valid protobuf, no envelope */
    assert_int_equal(lw_msg_gs_txack_decode(NULL, 0, &out), LW_MSG_E_NO_ENVELOPE);
    assert_int_equal(lw_msg_gs_txack_decode(txack_wire + 28, sizeof(txack_wire) - 28, &out),
                     LW_MSG_E_NO_ENVELOPE);
    /* over the cap: refused before parsing */
    uint8_t *big = calloc(1, LW_MSG_MAX_LEN + 1);
    assert_non_null(big);
    assert_int_equal(lw_msg_gs_txack_decode(big, LW_MSG_MAX_LEN + 1, &out), LW_MSG_E_TOO_LARGE);
    free(big);
    assert_int_equal(lw_msg_gs_txack_decode(txack_wire, sizeof(txack_wire), NULL), LW_MSG_E_PARAM);

    struct txack t;
    txack_init(&t);
    assert_int_equal(decode_raw(&t), 0);
    t.env.schema_version = 0;
    assert_int_equal(decode_raw(&t), LW_MSG_E_VERSION);
    t.env.schema_version = LW_MSG_SCHEMA_VERSION + 1;
    assert_int_equal(decode_raw(&t), LW_MSG_E_VERSION);
    t.env.schema_version = LW_MSG_SCHEMA_VERSION;
    t.env.id.len = 15;
    assert_int_equal(decode_raw(&t), LW_MSG_E_ID);
    t.env.id.len = 0;
    assert_int_equal(decode_raw(&t), LW_MSG_E_ID);
    t.env.id.len = LW_MSG_ID_LEN;
    static const char *const bad_tenants[] = {
        "",      "ab",    "Acme",   "ac_me",
        "-acme", "acme-", "ac--me", "a234567890123456789012345678901234567"};
    for (size_t i = 0; i < sizeof(bad_tenants) / sizeof(bad_tenants[0]); i++) {
        t.env.tenant_id = (char *)bad_tenants[i];
        assert_int_equal(decode_raw(&t), LW_MSG_E_TENANT);
    }
    t.env.tenant_id = "acme";
    t.ack.envelope = NULL;
    assert_int_equal(decode_raw(&t), LW_MSG_E_NO_ENVELOPE);
}

static void test_encode_errors(void **state)
{
    (void)state;
    struct txack t;
    txack_init(&t);
    uint8_t buf[128];
    size_t len = 99;
    t.env.schema_version = 0;
    assert_int_equal(lw_msg_gs_txack_encode(&t.ack, buf, sizeof(buf), &len), LW_MSG_E_VERSION);
    assert_int_equal(len, 0);
    t.env.schema_version = 1;
    t.env.tenant_id = "ACME";
    assert_int_equal(lw_msg_gs_txack_encode(&t.ack, buf, sizeof(buf), &len), LW_MSG_E_TENANT);
    t.env.tenant_id = "acme";
    t.env.id.len = 15;
    assert_int_equal(lw_msg_gs_txack_encode(&t.ack, buf, sizeof(buf), &len), LW_MSG_E_ID);
    t.env.id.len = 16;
    assert_int_equal(lw_msg_gs_txack_encode(NULL, buf, sizeof(buf), &len), LW_MSG_E_PARAM);
    assert_int_equal(lw_msg_gs_txack_encode(&t.ack, buf, sizeof(buf), NULL), LW_MSG_E_PARAM);
    assert_int_equal(lw_msg_gs_txack_encode(&t.ack, NULL, 0, &len), LW_MSG_E_BUF);
    assert_int_equal(len, sizeof(txack_wire));
    /* over the cap */
    Lw__Msg__GsDown down = LW__MSG__GS_DOWN__INIT;
    down.envelope = &t.env;
    uint8_t *big = calloc(1, LW_MSG_MAX_LEN);
    assert_non_null(big);
    down.raw_payload.data = big;
    down.raw_payload.len = LW_MSG_MAX_LEN;
    assert_int_equal(lw_msg_gs_down_encode(&down, big, LW_MSG_MAX_LEN, &len), LW_MSG_E_TOO_LARGE);
    free(big);
}

/* A newer writer's message: an unknown varint field 99 and an unknown length-delimited
 * field 100 at the top level, and an unknown field 9 inside the envelope. */
static void test_unknown_fields_ignored(void **state)
{
    (void)state;
    uint8_t buf[sizeof(txack_wire) + 16];
    size_t n = 0;
    buf[n++] = 0x0a;
    buf[n++] = 0x1a + 2;
    memcpy(buf + n, txack_wire + 2, 0x1a);
    n += 0x1a;
    buf[n++] = 0x48; /* envelope field 9, varint */
    buf[n++] = 0x07;
    memcpy(buf + n, txack_wire + 28, sizeof(txack_wire) - 28);
    n += sizeof(txack_wire) - 28;
    static const uint8_t extra[] = {0x98, 0x06, 0x01, 0xa2, 0x06, 0x03, 'x', 'y', 'z'};
    memcpy(buf + n, extra, sizeof(extra));
    n += sizeof(extra);
    Lw__Msg__GsTxAck *out = NULL;
    assert_int_equal(lw_msg_gs_txack_decode(buf, n, &out), 0);
    assert_string_equal(out->envelope->tenant_id, "acme");
    assert_int_equal(out->result, LW__MSG__TX_ACK_RESULT__TOO_LATE);
    assert_string_equal(out->error_name, "too_late");
    lw_msg_gs_txack_free(out);
}

/* decode_alloc goes through the caller's allocator, and free_alloc gives everything back. */
static size_t alloc_live, alloc_calls;

static void *count_alloc(void *data, size_t size)
{
    (void)data;
    alloc_live++;
    alloc_calls++;
    return malloc(size);
}

static void count_free(void *data, void *p)
{
    (void)data;
    if (p != NULL)
        alloc_live--;
    free(p);
}

static void test_decode_alloc(void **state)
{
    (void)state;
    ProtobufCAllocator a = {.alloc = count_alloc, .free = count_free, .allocator_data = NULL};
    Lw__Msg__GsTxAck *out = NULL;
    assert_int_equal(lw_msg_gs_txack_decode_alloc(txack_wire, sizeof(txack_wire), &a, &out), 0);
    assert_true(alloc_calls > 0);
    assert_string_equal(out->error_name, "too_late");
    lw_msg_gs_txack_free_alloc(out, &a);
    assert_int_equal(alloc_live, 0);
    /* a refused message is freed through the same allocator */
    assert_int_equal(
        lw_msg_gs_txack_decode_alloc(txack_wire + 28, sizeof(txack_wire) - 28, &a, &out),
        LW_MSG_E_NO_ENVELOPE);
    assert_int_equal(alloc_live, 0);
}

static void test_tenant_id_and_names(void **state)
{
    (void)state;
    assert_true(lw_msg_tenant_id_valid("abc"));
    assert_true(lw_msg_tenant_id_valid("acme-1"));
    assert_true(lw_msg_tenant_id_valid("a2345678901234567890123456789012345z"));
    assert_false(lw_msg_tenant_id_valid(NULL));
    assert_false(lw_msg_tenant_id_valid("a.b"));
    assert_string_equal(lw_msg_strerror(0), "ok");
    assert_string_equal(lw_msg_strerror(LW_MSG_E_MALFORMED), "malformed");
    assert_string_equal(lw_msg_strerror(LW_MSG_E_TOO_LARGE), "too_large");
    assert_string_equal(lw_msg_strerror(LW_MSG_E_VERSION), "schema_version");
    assert_string_equal(lw_msg_strerror(LW_MSG_E_ID), "message_id");
    assert_string_equal(lw_msg_strerror(LW_MSG_E_TENANT), "tenant_id");
    assert_string_equal(lw_msg_strerror(LW_MSG_E_NO_ENVELOPE), "no_envelope");
    assert_string_equal(lw_msg_strerror(-999), "unknown");
    assert_string_equal(lw_msg_describe(LW_MSG_E_BUF), "output buffer too small");
    assert_string_equal(lw_msg_describe(-999), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),  cmocka_unit_test(test_wire_pinned),
        cmocka_unit_test(test_decode_errors),          cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_unknown_fields_ignored), cmocka_unit_test(test_decode_alloc),
        cmocka_unit_test(test_tenant_id_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
