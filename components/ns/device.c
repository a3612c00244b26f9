/* What the device worker gives the MAC layer (mac_private.h): the device's band, plan and
 * settings, and the MAC state of each session. */
#include <stdlib.h>
#include <string.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"

int ns_dev_mac_ctx(const ns_dev_t *d, ns_mac_ctx_t *ctx, lorawan_rp_rev_t *rev,
                   ns_mac_version_t *ver)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->fp = lorawan_freqplan_find(d->set->fp_id);
    ctx->band = ctx->fp != NULL ? lorawan_band_get(ctx->fp->band) : NULL;
    ctx->settings = &d->set->mac;
    *rev = LORAWAN_RP002_1_0_3;
    ns_phy_version_parse(d->set->phy_version, rev);
    *ver = NS_MAC_V1_0_3;
    ns_mac_version_parse(d->set->lorawan_version, ver);
    return ctx->band != NULL ? 0 : -1;
}

ns_mac_state_t *ns_dev_mac_new(const ns_dev_t *d)
{
    ns_mac_ctx_t ctx;
    lorawan_rp_rev_t rev;
    ns_mac_version_t ver;
    if (ns_dev_mac_ctx(d, &ctx, &rev, &ver) != 0)
        return NULL;
    ns_mac_state_t *st = lw_calloc(1, sizeof *st);
    if (ns_mac_state_init(st, &ctx, rev, ver,
                          d->set->supports_class_c ? NS_MAC_CLASS_C : NS_MAC_CLASS_A) != 0) {
        free(st);
        return NULL;
    }
    return st;
}

ns_mac_stored_t *ns_mac_stored_put(ns_mac_stored_t *m, const ns_mac_state_t *st)
{
    uint8_t b[NS_MAC_PACKED_MAX];
    size_t n = ns_mac_state_pack(st, b);
    if (m == NULL || m->cap < n) {
        /* Rounded up: a state grows a little with its first uplinks, then keeps its size. */
        size_t cap = (n + 31u) & ~(size_t)31u;
        m = lw_realloc(m, sizeof *m + cap);
        m->cap = (uint16_t)cap;
    }
    memcpy(m->b, b, n);
    m->len = (uint16_t)n;
    return m;
}

int ns_mac_stored_get(const ns_mac_stored_t *m, const ns_mac_params_t *desired, ns_mac_state_t *st)
{
    return ns_mac_state_unpack(m->b, m->len, desired, st) == 0 ? 0 : -1;
}

const ns_mac_params_t *ns_dev_desired(const ns_dev_t *d, ns_mac_params_t *buf)
{
    if (d->set->desired != NULL)
        return d->set->desired;
    ns_mac_state_t *st = ns_dev_mac_new(d);
    if (st == NULL)
        return NULL;
    *buf = st->desired_parameters;
    free(st);
    return buf;
}

void ns_dev_mac_sync(ns_t *ns, ns_dev_t *d)
{
    if (ns->mac_owner == d && d->st.mac != NULL)
        d->st.mac = ns_mac_stored_put(d->st.mac, &ns->mac_work);
}

void ns_dev_mac_drop(ns_t *ns, ns_dev_t *d)
{
    if (ns->mac_owner == d)
        ns->mac_owner = NULL;
}

ns_mac_state_t *ns_dev_mac(ns_t *ns, ns_dev_t *d)
{
    if (ns->mac_owner == d)
        return &ns->mac_work;
    if (!d->st.session.valid)
        return NULL;
    ns_mac_params_t buf;
    const ns_mac_params_t *des = ns_dev_desired(d, &buf);
    if (des == NULL)
        return NULL;
    if (ns->mac_owner != NULL) {
        ns_dev_mac_sync(ns, ns->mac_owner);
        ns->mac_owner = NULL;
    }
    if (d->st.mac == NULL) {
        ns_mac_state_t *st = ns_dev_mac_new(d);
        if (st == NULL)
            return NULL;
        ns->mac_work = *st;
        free(st);
        d->st.mac = ns_mac_stored_put(NULL, &ns->mac_work);
    } else if (ns_mac_stored_get(d->st.mac, des, &ns->mac_work) != 0) {
        /* Not a state (a corrupt record): it starts again from the settings. */
        lw_log(LW_LOG_WARN, "ns", "MAC state unreadable, started again", "device", d->key, NULL);
        ns_mac_state_t *st = ns_dev_mac_new(d);
        if (st == NULL)
            return NULL;
        ns->mac_work = *st;
        free(st);
        d->st.mac = ns_mac_stored_put(d->st.mac, &ns->mac_work);
    }
    ns->mac_owner = d;
    return &ns->mac_work;
}
