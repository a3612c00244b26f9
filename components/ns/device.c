/* What the device worker gives the MAC layer (mac_private.h): the device's band, plan and
 * settings, and the MAC state of each session. */
#include <stdlib.h>
#include <string.h>

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

ns_mac_stored_t *ns_mac_stored_new(const ns_mac_state_t *st)
{
    ns_mac_stored_t *m = lw_malloc(sizeof *m);
    ns_mac_state_store(st, m);
    return m;
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
        ns_mac_state_store(&ns->mac_work, d->st.mac);
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
        d->st.mac = lw_malloc(sizeof *d->st.mac);
        ns_mac_state_store(&ns->mac_work, d->st.mac);
    } else {
        ns_mac_state_load(d->st.mac, des, &ns->mac_work);
    }
    ns->mac_owner = d;
    return &ns->mac_work;
}
