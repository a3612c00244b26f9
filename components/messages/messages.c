/* components/messages: envelope validation and the per-kind codec wrappers (messages.h). */
#include <string.h>

#include "messages/messages.h"

static const struct {
    int code;
    const char *name;
    const char *meaning;
} msg_codes[] = {
#define LW_MSG_ERR(sym, val, name, meaning) {sym, name, meaning},
#include "messages/codes.def"
#undef LW_MSG_ERR
};

const char *lw_msg_strerror(int err)
{
    if (err == 0)
        return "ok";
    for (size_t i = 0; i < sizeof(msg_codes) / sizeof(msg_codes[0]); i++)
        if (msg_codes[i].code == err)
            return msg_codes[i].name;
    return "unknown";
}

const char *lw_msg_describe(int err)
{
    for (size_t i = 0; i < sizeof(msg_codes) / sizeof(msg_codes[0]); i++)
        if (msg_codes[i].code == err)
            return msg_codes[i].meaning;
    return "";
}

bool lw_msg_tenant_id_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n < 3 || n > 36 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (c != '-' || s[i + 1] == '-'))
            return false;
    }
    return true;
}

/* Every top-level message has its Envelope as field 1; found through the descriptor so that
 * no struct layout is assumed. */
static int check_envelope(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(m->descriptor, 1);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return LW_MSG_E_PARAM;
    const Lw__Msg__Envelope *env = *(const Lw__Msg__Envelope *const *)((const char *)m + f->offset);
    if (env == NULL)
        return LW_MSG_E_NO_ENVELOPE;
    if (env->schema_version == 0 || env->schema_version > LW_MSG_SCHEMA_VERSION)
        return LW_MSG_E_VERSION;
    if (env->id.len != LW_MSG_ID_LEN || env->id.data == NULL)
        return LW_MSG_E_ID;
    if (!lw_msg_tenant_id_valid(env->tenant_id))
        return LW_MSG_E_TENANT;
    return 0;
}

/* protobuf-c keeps an unknown field numbered 0 (a tag written as a non-minimal varint) that
 * it would refuse when reading its own re-encoding; such a message is malformed. */
static bool has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *p = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *subs = *(ProtobufCMessage *const *const *)p;
            for (size_t k = 0; k < n; k++)
                if (has_field_zero(subs[k]))
                    return true;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (sub != NULL && has_field_zero(sub))
            return true;
    }
    return false;
}

static int msg_encode(const ProtobufCMessage *m, uint8_t *buf, size_t cap, size_t *len)
{
    if (m == NULL || len == NULL || (buf == NULL && cap > 0))
        return LW_MSG_E_PARAM;
    *len = 0;
    int rc = check_envelope(m);
    if (rc != 0)
        return rc;
    size_t need = protobuf_c_message_get_packed_size(m);
    if (need > LW_MSG_MAX_LEN)
        return LW_MSG_E_TOO_LARGE;
    if (need > cap) {
        *len = need;
        return LW_MSG_E_BUF;
    }
    *len = protobuf_c_message_pack(m, buf);
    return 0;
}

static int msg_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                      ProtobufCAllocator *a, ProtobufCMessage **out)
{
    if (out == NULL)
        return LW_MSG_E_PARAM;
    *out = NULL;
    if (buf == NULL && len > 0)
        return LW_MSG_E_PARAM;
    if (len > LW_MSG_MAX_LEN)
        return LW_MSG_E_TOO_LARGE;
    static const uint8_t empty[1];
    ProtobufCMessage *m = protobuf_c_message_unpack(d, a, len, len > 0 ? buf : empty);
    if (m == NULL)
        return LW_MSG_E_MALFORMED;
    int rc = has_field_zero(m) ? LW_MSG_E_MALFORMED : check_envelope(m);
    if (rc != 0) {
        protobuf_c_message_free_unpacked(m, a);
        return rc;
    }
    *out = m;
    return 0;
}

#define LW_MSG_DEFINE(kind, Kind, desc)                                                            \
    int lw_msg_##kind##_encode(const Kind *m, uint8_t *buf, size_t cap, size_t *len)               \
    {                                                                                              \
        return msg_encode(m != NULL ? &m->base : NULL, buf, cap, len);                             \
    }                                                                                              \
    int lw_msg_##kind##_decode_alloc(const uint8_t *buf, size_t len, ProtobufCAllocator *a,        \
                                     Kind **out)                                                   \
    {                                                                                              \
        return msg_decode(&desc, buf, len, a, (ProtobufCMessage **)out);                           \
    }                                                                                              \
    int lw_msg_##kind##_decode(const uint8_t *buf, size_t len, Kind **out)                         \
    {                                                                                              \
        return lw_msg_##kind##_decode_alloc(buf, len, NULL, out);                                  \
    }                                                                                              \
    void lw_msg_##kind##_free_alloc(Kind *m, ProtobufCAllocator *a)                                \
    {                                                                                              \
        if (m != NULL)                                                                             \
            protobuf_c_message_free_unpacked(&m->base, a);                                         \
    }                                                                                              \
    void lw_msg_##kind##_free(Kind *m)                                                             \
    {                                                                                              \
        lw_msg_##kind##_free_alloc(m, NULL);                                                       \
    }
LW_MSG_KINDS(LW_MSG_DEFINE)
#undef LW_MSG_DEFINE
