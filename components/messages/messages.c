/* components/messages: envelope validation and the per-kind codec wrappers (messages.h). */
#include <stdlib.h>
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

/* ---- one block per decoded message ---------------------------------------------------------
 *
 * protobuf-c's unpack allocates every sub-message, repeated array, string and bytes field on
 * its own: a data-path message costs 20 to 40 malloc and as many free calls (a seventh of
 * the Network Server's CPU at 5,000 uplinks/s). The default decode (a == NULL) instead
 * carves them from one block, sized from the wire length (more blocks are chained if it
 * runs out), and _free releases the chain at once. Each piece is preceded by a pointer to
 * its block, so the top message finds it whatever order protobuf-c allocates in. Pieces are
 * never freed one by one (protobuf-c frees only what it allocated, and only on a decode
 * error, which drops the whole block). */
typedef struct msg_blk {
    struct msg_blk *more; /* chained blocks (first block only) */
    struct msg_blk *cur;  /* the block being filled (first block only) */
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} msg_blk_t;

#define BLK_ALIGN 8u

static msg_blk_t *blk_new(size_t cap)
{
    msg_blk_t *b = malloc(sizeof *b + cap);
    if (b == NULL)
        return NULL;
    b->more = NULL;
    b->cur = b;
    b->used = 0;
    b->cap = cap;
    return b;
}

static void blk_destroy(msg_blk_t *first)
{
    msg_blk_t *b = first->more;
    while (b != NULL) {
        msg_blk_t *n = b->more;
        free(b);
        b = n;
    }
    free(first);
}

static void *blk_alloc(void *data, size_t size)
{
    msg_blk_t *first = data;
    size_t need = sizeof(msg_blk_t *) + ((size + BLK_ALIGN - 1) & ~(size_t)(BLK_ALIGN - 1));
    msg_blk_t *b = first->cur;
    if (b->cap - b->used < need) {
        msg_blk_t *n = blk_new(need > 2 * b->cap ? need : 2 * b->cap);
        if (n == NULL)
            return NULL;       /* protobuf-c fails the unpack */
        n->more = first->more; /* chained after the first, newest first */
        first->more = n;
        first->cur = b = n;
    }
    unsigned char *p = b->data + b->used;
    b->used += need;
    memcpy(p, &first, sizeof first);
    return p + sizeof(msg_blk_t *);
}

static void blk_free(void *data, void *p)
{
    (void)data;
    (void)p; /* released with the block */
}

static void msg_free_default(ProtobufCMessage *m)
{
    msg_blk_t *first;
    memcpy(&first, (unsigned char *)m - sizeof first, sizeof first);
    blk_destroy(first);
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
    msg_blk_t *blk = NULL;
    ProtobufCAllocator ba;
    if (a == NULL) {
        /* Room for the message struct and what the wire length suggests; grows if needed. */
        blk = blk_new(d->sizeof_message + 64 + 3 * len);
        if (blk == NULL)
            return LW_MSG_E_MALFORMED;
        ba = (ProtobufCAllocator){.alloc = blk_alloc, .free = blk_free, .allocator_data = blk};
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, blk != NULL ? &ba : a, len, len > 0 ? buf : empty);
    if (m == NULL) {
        if (blk != NULL)
            blk_destroy(blk);
        return LW_MSG_E_MALFORMED;
    }
    int rc = has_field_zero(m) ? LW_MSG_E_MALFORMED : check_envelope(m);
    if (rc != 0) {
        if (blk != NULL)
            blk_destroy(blk);
        else
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
        if (m == NULL)                                                                             \
            return;                                                                                \
        if (a == NULL)                                                                             \
            msg_free_default(&m->base);                                                            \
        else                                                                                       \
            protobuf_c_message_free_unpacked(&m->base, a);                                         \
    }                                                                                              \
    void lw_msg_##kind##_free(Kind *m)                                                             \
    {                                                                                              \
        lw_msg_##kind##_free_alloc(m, NULL);                                                       \
    }
LW_MSG_KINDS(LW_MSG_DEFINE)
#undef LW_MSG_DEFINE
