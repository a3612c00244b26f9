/* Credentials ended in every process at once: the topic lw.is.revocations, on which each
 * Identity Server process publishes what its requests revoked (after their commit) and from
 * which every other forgets it, and the tenant change listener that drops a tenant's cached
 * credentials when it is deleted, purged, created again or changes state.
 *
 * Every process reads the topic with a private group from the oldest message kept: "latest"
 * would be resolved only after the assignment and could skip a revocation published in
 * between. Messages older than a cached credential can live (is.auth-cache-ttl, plus a
 * margin for clocks that disagree) are skipped unread, so the history costs little. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "cluster/log.h"
#include "is/server_private.h"
#include "revocation.pb-c.h"

/* How far the clocks of two processes may disagree before an old-looking revocation is
 * wrongly skipped (the credential then lives until its TTL, as without the bus). */
#define REVOKE_CLOCK_SKEW_MS 60000

static int64_t revoke_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void is_revoke_publish(is_t *is, const char *tenant, const is_revoke_t *r)
{
    if (is->bus == NULL)
        return;
    Lwstack__Is__Revocation msg = LWSTACK__IS__REVOCATION__INIT;
    msg.tenant_id = (char *)tenant;
    msg.key_id = (char *)r->key_id;
    msg.entity_type = (char *)(r->key_id[0] == '\0' ? is_ent_type_name(r->ent) : "");
    msg.entity_id = (char *)(r->key_id[0] == '\0' ? r->ent_id : "");
    msg.at_ms = revoke_wall_ms();
    msg.origin.data = is->origin;
    msg.origin.len = sizeof is->origin;
    uint8_t buf[256];
    size_t len = lwstack__is__revocation__get_packed_size(&msg);
    lw_err_t err;
    lw_err_clear(&err);
    if (len > sizeof buf) /* IDs are bounded: not expected */
        lw_err_set(&err, &lw_err_internal, "revocation message too long");
    else
        lwstack__is__revocation__pack(&msg, buf);
    if (err.def != NULL ||
        lw_bus_publish(is->bus, "is.revocations", tenant, strlen(tenant), buf, len, &err) != 0)
        lw_log(LW_LOG_ERROR, "is", "revocation not published", "tenant", tenant, "key_id",
               r->key_id, "entity_id", r->ent_id, "error", err.message, NULL);
}

static void revoke_on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    is_t *is = arg;
    Lwstack__Is__Revocation *msg = lwstack__is__revocation__unpack(NULL, m->value_len, m->value);
    if (msg == NULL) {
        lw_log(LW_LOG_WARN, "is", "undecodable revocation dropped", "id", m->id, NULL);
        return;
    }
    lw_err_t err;
    is_ent_t ent = IS_ENT_USER;
    if (msg->origin.len == sizeof is->origin &&
        memcmp(msg->origin.data, is->origin, sizeof is->origin) == 0)
        goto out; /* ours: forgotten when made */
    if (is->cache_used == 0 ||
        msg->at_ms < revoke_wall_ms() - is->cache_ttl_ms - REVOKE_CLOCK_SKEW_MS)
        goto out; /* nothing it could name is cached */
    if (tn_id_validate(msg->tenant_id, 3, "tenant_id", &err) != 0)
        goto out;
    if (msg->key_id[0] != '\0') {
        if (strlen(msg->key_id) <= IS_TOKEN_ID_LEN)
            is_cache_forget(is, msg->tenant_id, msg->key_id, ent, "");
    } else if (is_ent_parse(msg->entity_type, &ent) == 0) {
        is_cache_forget(is, msg->tenant_id, NULL, ent, msg->entity_id);
    }
    lw_log(LW_LOG_DEBUG, "is", "revocation applied", "tenant", msg->tenant_id, "key_id",
           msg->key_id, "entity_id", msg->entity_id, NULL);
out:
    lwstack__is__revocation__free_unpacked(msg, NULL);
}

static void revoke_on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts,
                             size_t n)
{
    (void)c;
    (void)parts;
    (void)n;
    /* Assigned again after a lost session (a broker outage): what was published meanwhile
     * may come late or not at all, so nothing cached before is trusted. */
    is_cache_forget_tenant(arg, NULL);
}

/* Any change of a tenant's state, deletion or incarnation: its cached credentials go. A
 * purged tenant's rows are gone, a deleted or suspended one's requests are refused before
 * authentication, and a new incarnation's credentials are verified against its own rows. */
static void revoke_tenant_changed(void *arg, const tn_tenant_t *t)
{
    is_t *is = arg;
    is_cache_forget_tenant(is, t->id);
    lw_log(LW_LOG_DEBUG, "is", "tenant credentials forgotten", "tenant", t->id, "deleted",
           t->deleted ? "true" : "false", NULL);
}

int is_revoke_init(is_t *is, lw_err_t *err)
{
    RAND_bytes(is->origin, sizeof is->origin);
    return tn_changes_subscribe(is->tn, revoke_tenant_changed, is, err);
}

int is_revoke_start(is_t *is, lw_err_t *err)
{
    if (is->bus == NULL)
        return 0;
    char topic[128];
    const char *topics[] = {lw_bus_topic(is->bus, "is.revocations", topic, sizeof topic)};
    if (lw_bus_ensure_topics(is->bus, topics, 1, err) != 0)
        return -1;
    static const lw_bus_handler_t handler = {.on_message = revoke_on_message,
                                             .on_assign = revoke_on_assign};
    static const lw_bus_sub_opts_t opts = {.from_beginning = true};
    const char *names[] = {"is.revocations"};
    is->revocations = lw_bus_subscribe_opts(is->bus, NULL, names, 1, &handler, is, &opts, err);
    return is->revocations == NULL ? -1 : 0;
}
