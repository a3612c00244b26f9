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
#include "tenant/access.h"
#include "tenant/revocation.h"

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
    /* This process's access checker forgets at once; the others hear it from the bus. An
     * entity's revocation drops the tenant's answers: which keys reach the entity through
     * memberships is not the checker's knowledge. */
    tn_access_forget(tn_access_from_runtime(is->rt), tenant, r->key_id);
    if (is->bus == NULL)
        return;
    tn_revocation_t msg;
    memset(&msg, 0, sizeof msg);
    snprintf(msg.tenant_id, sizeof msg.tenant_id, "%s", tenant);
    snprintf(msg.key_id, sizeof msg.key_id, "%s", r->key_id);
    if (r->key_id[0] == '\0' && !r->rights_only) {
        snprintf(msg.entity_type, sizeof msg.entity_type, "%s", is_ent_type_name(r->ent));
        snprintf(msg.entity_id, sizeof msg.entity_id, "%s", r->ent_id);
    }
    msg.at_ms = revoke_wall_ms();
    memcpy(msg.origin, is->origin, sizeof msg.origin);
    msg.origin_len = sizeof msg.origin;
    uint8_t buf[TN_REVOCATION_MAX_BYTES];
    size_t len = tn_revocation_encode(&msg, buf, sizeof buf);
    lw_err_t err;
    lw_err_clear(&err);
    if (len == 0) /* IDs are bounded: not expected */
        lw_err_set(&err, &lw_err_internal, "revocation message too long");
    if (err.def != NULL ||
        lw_bus_publish(is->bus, TN_REVOCATIONS_TOPIC, tenant, strlen(tenant), buf, len, &err) != 0)
        lw_log(LW_LOG_ERROR, "is", "revocation not published", "tenant", tenant, "key_id",
               r->key_id, "entity_id", r->ent_id, "error", err.message, NULL);
}

static void revoke_on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    is_t *is = arg;
    tn_revocation_t msg;
    if (tn_revocation_decode(m->value, m->value_len, &msg) != 0) {
        lw_log(LW_LOG_WARN, "is", "undecodable revocation dropped", "id", m->id, NULL);
        return;
    }
    lw_err_t err;
    is_ent_t ent = IS_ENT_USER;
    if (msg.origin_len == sizeof is->origin &&
        memcmp(msg.origin, is->origin, sizeof is->origin) == 0)
        return; /* ours: forgotten when made */
    if (is->cache_used == 0 ||
        msg.at_ms < revoke_wall_ms() - is->cache_ttl_ms - REVOKE_CLOCK_SKEW_MS)
        return; /* nothing it could name is cached */
    if (tn_id_validate(msg.tenant_id, 3, "tenant_id", &err) != 0)
        return;
    if (msg.key_id[0] != '\0') {
        if (strlen(msg.key_id) <= IS_TOKEN_ID_LEN)
            is_cache_forget(is, msg.tenant_id, msg.key_id, ent, "");
    } else if (is_ent_parse(msg.entity_type, &ent) == 0) {
        is_cache_forget(is, msg.tenant_id, NULL, ent, msg.entity_id);
    }
    lw_log(LW_LOG_DEBUG, "is", "revocation applied", "tenant", msg.tenant_id, "key_id", msg.key_id,
           "entity_id", msg.entity_id, NULL);
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
    const char *topics[] = {lw_bus_topic(is->bus, TN_REVOCATIONS_TOPIC, topic, sizeof topic)};
    if (lw_bus_ensure_topics(is->bus, topics, 1, err) != 0)
        return -1;
    static const lw_bus_handler_t handler = {.on_message = revoke_on_message,
                                             .on_assign = revoke_on_assign};
    static const lw_bus_sub_opts_t opts = {.from_beginning = true};
    const char *names[] = {TN_REVOCATIONS_TOPIC};
    is->revocations = lw_bus_subscribe_opts(is->bus, NULL, names, 1, &handler, is, &opts, err);
    return is->revocations == NULL ? -1 : 0;
}
