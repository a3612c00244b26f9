/* lw.is.revocations messages (tenant/revocation.h) on their protobuf-c code. */
#include <stdio.h>
#include <string.h>

#include "revocation.pb-c.h"
#include "tenant/revocation.h"

size_t tn_revocation_encode(const tn_revocation_t *r, uint8_t *buf, size_t cap)
{
    Lwstack__Is__Revocation msg = LWSTACK__IS__REVOCATION__INIT;
    msg.tenant_id = (char *)r->tenant_id;
    msg.key_id = (char *)r->key_id;
    msg.entity_type = (char *)r->entity_type;
    msg.entity_id = (char *)r->entity_id;
    msg.at_ms = r->at_ms;
    msg.origin.data = (uint8_t *)r->origin;
    msg.origin.len = r->origin_len;
    size_t len = lwstack__is__revocation__get_packed_size(&msg);
    if (len > cap)
        return 0;
    return lwstack__is__revocation__pack(&msg, buf);
}

static int copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= cap)
        return -1;
    memcpy(dst, src != NULL ? src : "", n + 1);
    return 0;
}

int tn_revocation_decode(const void *buf, size_t len, tn_revocation_t *out)
{
    memset(out, 0, sizeof *out);
    Lwstack__Is__Revocation *msg = lwstack__is__revocation__unpack(NULL, len, buf);
    if (msg == NULL)
        return -1;
    int rc = 0;
    rc |= copy_field(out->tenant_id, sizeof out->tenant_id, msg->tenant_id);
    rc |= copy_field(out->key_id, sizeof out->key_id, msg->key_id);
    rc |= copy_field(out->entity_type, sizeof out->entity_type, msg->entity_type);
    rc |= copy_field(out->entity_id, sizeof out->entity_id, msg->entity_id);
    out->at_ms = msg->at_ms;
    if (msg->origin.len == sizeof out->origin) {
        memcpy(out->origin, msg->origin.data, sizeof out->origin);
        out->origin_len = sizeof out->origin;
    }
    lwstack__is__revocation__free_unpacked(msg, NULL);
    return rc == 0 ? 0 : -1;
}
