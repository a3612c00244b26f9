/* components/messages: the bus messages of the data path (DESIGN.md §3) and their codecs.
 *
 * Pure: no I/O, no clock, no logging; depends on protobuf-c only. The schemas are
 * messages.proto; the structs are protoc-c's (Lw__Msg__GsUp, ...), included below, and are
 * built and read directly (LW__MSG__GS_UP__INIT, fields by name).
 *
 * One set of functions per message kind, <kind> and <Kind> from LW_MSG_KINDS:
 *
 *   int lw_msg_<kind>_encode(const <Kind> *m, uint8_t *buf, size_t cap, size_t *len);
 *       Validates the envelope (as decode does) and packs m into buf. *len = bytes written.
 *       LW_MSG_E_BUF when cap is too small (*len = the size needed), LW_MSG_E_TOO_LARGE
 *       when the encoding is over LW_MSG_MAX_LEN. Never publishes what a reader refuses.
 *   int lw_msg_<kind>_decode(const uint8_t *buf, size_t len, <Kind> **out);
 *   int lw_msg_<kind>_decode_alloc(const uint8_t *buf, size_t len, ProtobufCAllocator *a,
 *                                  <Kind> **out);
 *       Unpacks and validates; *out is NULL on error. Decoding allocates (protobuf-c does):
 *       with the default allocator (a == NULL: one malloc'ed block per message, released
 *       whole) free with lw_msg_<kind>_free, and never free, replace or keep a piece of it
 *       beyond that (its fields live in the block; copy what must outlive it). The
 *       _alloc form takes a protobuf-c allocator so that the hot path can decode a batch
 *       into a per-batch arena and drop it whole (then never call _free).
 *       Unknown fields (from a newer writer) are ignored.
 *   void lw_msg_<kind>_free(<Kind> *m);     NULL is a no-op.
 *   void lw_msg_<kind>_free_alloc(<Kind> *m, ProtobufCAllocator *a);
 *
 * Validation (decode and encode): at most LW_MSG_MAX_LEN bytes; a well-formed protobuf; an
 * envelope (field 1) with an id of exactly LW_MSG_ID_LEN bytes, schema_version in
 * 1..LW_MSG_SCHEMA_VERSION, and a tenant_id of the tenant ID shape (lw_msg_tenant_id_valid).
 * The payload fields are the consumer's to check. Functions return 0 or a negative
 * LW_MSG_E_* code (codes.def). */
#ifndef LW_MESSAGES_H
#define LW_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "messages/messages.pb-c.h"

/* The schema version this code writes and the newest it reads. A reader accepts every
 * version up to its own (older writers' messages lack newer fields, which read as unset). */
#define LW_MSG_SCHEMA_VERSION 1u
/* Envelope id length: 16 random bytes, the lw-id header of the bus message. */
#define LW_MSG_ID_LEN 16
/* Largest encoded message accepted or produced (the broker's limit is far above). */
#define LW_MSG_MAX_LEN (256u * 1024u)

enum {
#define LW_MSG_ERR(sym, val, name, meaning) sym = (val),
#include "messages/codes.def"
#undef LW_MSG_ERR
};

/* Returns the stable name of a LW_MSG_E_* code ("malformed", ...), "ok" for 0, and
 * "unknown" for any other value. Never NULL. */
const char *lw_msg_strerror(int err);

/* Returns a one-line description for people, "" for unknown codes. Never NULL. */
const char *lw_msg_describe(int err);

/* True when s is a tenant ID: 3 to 36 characters of lowercase letters, digits and dashes,
 * starting and ending with a letter or digit, no two dashes in a row. Same rule as
 * tenant/ids.h, kept here because this library depends on nothing of ours. */
bool lw_msg_tenant_id_valid(const char *s);

/* X(kind, Kind, desc): every message kind (named after its topic), its protoc-c struct and
 * its protoc-c descriptor. */
#define LW_MSG_KINDS(X)                                                                            \
    X(gs_up, Lw__Msg__GsUp, lw__msg__gs_up__descriptor)                                            \
    X(ns_dev, Lw__Msg__NsDev, lw__msg__ns_dev__descriptor)                                         \
    X(ns_up, Lw__Msg__NsUp, lw__msg__ns_up__descriptor)                                            \
    X(as_down, Lw__Msg__AsDown, lw__msg__as_down__descriptor)                                      \
    X(gs_down, Lw__Msg__GsDown, lw__msg__gs_down__descriptor)                                      \
    X(gs_txack, Lw__Msg__GsTxAck, lw__msg__gs_tx_ack__descriptor)                                  \
    X(as_up, Lw__Msg__AsUp, lw__msg__as_up__descriptor)                                            \
    X(as_webhook_changed, Lw__Msg__AsWebhookChanged, lw__msg__as_webhook_changed__descriptor)      \
    X(as_link, Lw__Msg__AsLinkChange, lw__msg__as_link_change__descriptor)                         \
    X(as_reply, Lw__Msg__AsListReply, lw__msg__as_list_reply__descriptor)

#define LW_MSG_DECLARE(kind, Kind, desc)                                                           \
    int lw_msg_##kind##_encode(const Kind *m, uint8_t *buf, size_t cap, size_t *len);              \
    int lw_msg_##kind##_decode(const uint8_t *buf, size_t len, Kind **out);                        \
    int lw_msg_##kind##_decode_alloc(const uint8_t *buf, size_t len, ProtobufCAllocator *a,        \
                                     Kind **out);                                                  \
    void lw_msg_##kind##_free(Kind *m);                                                            \
    void lw_msg_##kind##_free_alloc(Kind *m, ProtobufCAllocator *a);
LW_MSG_KINDS(LW_MSG_DECLARE)
#undef LW_MSG_DECLARE

#endif
