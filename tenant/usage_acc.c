/* The usage accumulator (tenant/usage_private.h): per tenant, three counters and the set of
 * devices with traffic, in open-addressing tables that keep their size from one interval to
 * the next, so that counting allocates only while a tenant's traffic grows. No clock, no
 * I/O. */
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"
#include "tenant/usage_private.h"

/* A device of the set: its hash (never 0: 0 marks a free slot) and its "<app>/<dev>" in
 * the tenant's arena. */
typedef struct usage_slot {
    uint64_t hash;
    uint32_t off;
    uint32_t len;
} usage_slot_t;

typedef struct usage_tenant {
    char id[TN_ID_MAX + 1];
    uint64_t hash;
    uint64_t counts[3]; /* by tn_usage_kind_t */
    bool used;          /* something counted since the last batch */
    usage_slot_t *slots;
    size_t cap, ndev; /* cap a power of two, ndev <= cap / 2 */
    char *arena;
    size_t arena_len, arena_cap;
} usage_tenant_t;

struct tn_usage_acc {
    int64_t interval_ms;
    int64_t start_ms; /* the current interval, INT64_MIN before the first count */
    size_t max_devices;
    tn_usage_emit_cb emit;
    void *arg;
    usage_tenant_t **tenants; /* open addressing on the tenant ID's hash */
    size_t tcap, ntenants;
};

#define USAGE_FNV_OFFSET 1469598103934665603ull
#define USAGE_FNV_PRIME  1099511628211ull

static uint64_t fnv_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= USAGE_FNV_PRIME;
    }
    return h;
}

static size_t bounded_len(const char *s, size_t max)
{
    if (s == NULL)
        return 0;
    const char *end = memchr(s, '\0', max + 1);
    return end != NULL ? (size_t)(end - s) : max;
}

int64_t tn_usage_interval_start(int64_t t_ms, int64_t interval_ms)
{
    int64_t r = t_ms % interval_ms;
    if (r < 0)
        r += interval_ms;
    return t_ms - r;
}

tn_usage_acc_t *tn_usage_acc_new(int64_t interval_ms, size_t max_devices, tn_usage_emit_cb emit,
                                 void *arg)
{
    tn_usage_acc_t *a = lw_calloc(1, sizeof *a);
    a->interval_ms = interval_ms > 0 ? interval_ms : 1;
    a->start_ms = INT64_MIN;
    if (max_devices == 0 || max_devices > TN_USAGE_BATCH_DEVICES_MAX)
        max_devices = TN_USAGE_BATCH_DEVICES_MAX;
    a->max_devices = max_devices;
    a->emit = emit;
    a->arg = arg;
    a->tcap = 16;
    a->tenants = lw_calloc(a->tcap, sizeof *a->tenants);
    return a;
}

void tn_usage_acc_free(tn_usage_acc_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->tcap; i++) {
        usage_tenant_t *t = a->tenants[i];
        if (t == NULL)
            continue;
        free(t->slots);
        free(t->arena);
        free(t);
    }
    free(a->tenants);
    free(a);
}

/* ---- tenants ------------------------------------------------------------------------------ */

static void tenants_grow(tn_usage_acc_t *a)
{
    size_t ncap = a->tcap * 2;
    usage_tenant_t **nt = lw_calloc(ncap, sizeof *nt);
    for (size_t i = 0; i < a->tcap; i++) {
        usage_tenant_t *t = a->tenants[i];
        if (t == NULL)
            continue;
        size_t j = (size_t)t->hash & (ncap - 1);
        while (nt[j] != NULL)
            j = (j + 1) & (ncap - 1);
        nt[j] = t;
    }
    free(a->tenants);
    a->tenants = nt;
    a->tcap = ncap;
}

static usage_tenant_t *tenant_get(tn_usage_acc_t *a, const char *id)
{
    size_t len = bounded_len(id, TN_ID_MAX);
    uint64_t h = fnv_bytes(USAGE_FNV_OFFSET, id, len);
    size_t i = (size_t)h & (a->tcap - 1);
    for (;;) {
        usage_tenant_t *t = a->tenants[i];
        if (t == NULL)
            break;
        if (t->hash == h && strncmp(t->id, id, len) == 0 && t->id[len] == '\0')
            return t;
        i = (i + 1) & (a->tcap - 1);
    }
    usage_tenant_t *t = lw_calloc(1, sizeof *t);
    memcpy(t->id, id, len);
    t->hash = h;
    t->cap = 64;
    t->slots = lw_calloc(t->cap, sizeof *t->slots);
    t->arena_cap = 4096;
    t->arena = lw_malloc(t->arena_cap);
    a->tenants[i] = t;
    if (++a->ntenants * 2 > a->tcap)
        tenants_grow(a);
    return t;
}

/* ---- a tenant's device set ---------------------------------------------------------------- */

static bool slot_is(const usage_tenant_t *t, const usage_slot_t *s, uint64_t h, const char *app,
                    size_t alen, const char *dev, size_t dlen)
{
    const char *p = t->arena + s->off;
    return s->hash == h && s->len == alen + 1 + dlen && memcmp(p, app, alen) == 0 &&
           p[alen] == '/' && memcmp(p + alen + 1, dev, dlen) == 0;
}

static void slots_grow(usage_tenant_t *t)
{
    size_t ncap = t->cap * 2;
    usage_slot_t *ns = lw_calloc(ncap, sizeof *ns);
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].hash == 0)
            continue;
        size_t j = (size_t)t->slots[i].hash & (ncap - 1);
        while (ns[j].hash != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
}

/* Emits t's batch (interval start_ms) and empties it. */
static void tenant_emit(tn_usage_acc_t *a, usage_tenant_t *t, bool early)
{
    tn_usage_batch_t b;
    memset(&b, 0, sizeof b);
    memcpy(b.tenant_id, t->id, sizeof b.tenant_id);
    b.interval_start_ms = a->start_ms;
    b.interval_end_ms = a->start_ms + a->interval_ms;
    b.uplinks = t->counts[TN_USAGE_UPLINK];
    b.downlinks = t->counts[TN_USAGE_DOWNLINK];
    b.join_accepts = t->counts[TN_USAGE_JOIN_ACCEPT];
    char *devs_stack[64];
    char **devs = t->ndev <= 64 ? devs_stack : lw_malloc(t->ndev * sizeof *devs);
    size_t n = 0;
    /* The arena holds the devices in arrival order, NUL-ended. */
    for (size_t off = 0; off < t->arena_len && n < t->ndev; n++) {
        devs[n] = t->arena + off;
        off += strlen(t->arena + off) + 1;
    }
    b.n_active_devices = n;
    b.active_devices = devs;
    a->emit(a->arg, &b, early);
    if (devs != devs_stack)
        free(devs);
    memset(t->counts, 0, sizeof t->counts);
    if (t->ndev > 0)
        memset(t->slots, 0, t->cap * sizeof *t->slots);
    t->ndev = 0;
    t->arena_len = 0;
    t->used = false;
}

static void device_mark(tn_usage_acc_t *a, usage_tenant_t *t, const char *app, const char *dev)
{
    size_t alen = bounded_len(app, TN_ID_MAX), dlen = bounded_len(dev, TN_ID_MAX);
    if (alen == 0 && dlen == 0)
        return;
    uint64_t h = fnv_bytes(fnv_bytes(fnv_bytes(USAGE_FNV_OFFSET, app, alen), "/", 1), dev, dlen);
    if (h == 0)
        h = 1;
    size_t i = (size_t)h & (t->cap - 1);
    while (t->slots[i].hash != 0) {
        if (slot_is(t, &t->slots[i], h, app, alen, dev, dlen))
            return;
        i = (i + 1) & (t->cap - 1);
    }
    if (t->ndev >= a->max_devices) {
        /* The bound: this batch goes now, the device opens the next one. */
        tenant_emit(a, t, true);
        i = (size_t)h & (t->cap - 1);
    }
    size_t need = alen + 1 + dlen + 1;
    if (t->arena_len + need > t->arena_cap) {
        while (t->arena_len + need > t->arena_cap)
            t->arena_cap *= 2;
        t->arena = lw_realloc(t->arena, t->arena_cap);
    }
    char *p = t->arena + t->arena_len;
    memcpy(p, app, alen);
    p[alen] = '/';
    memcpy(p + alen + 1, dev, dlen);
    p[alen + 1 + dlen] = '\0';
    t->slots[i] = (usage_slot_t){
        .hash = h, .off = (uint32_t)t->arena_len, .len = (uint32_t)(alen + 1 + dlen)};
    t->arena_len += need;
    if (++t->ndev * 2 > t->cap)
        slots_grow(t);
}

/* ---- counting and flushing ---------------------------------------------------------------- */

void tn_usage_acc_flush(tn_usage_acc_t *a, int64_t now_ms)
{
    if (a->start_ms != INT64_MIN)
        for (size_t i = 0; i < a->tcap; i++)
            if (a->tenants[i] != NULL && a->tenants[i]->used)
                tenant_emit(a, a->tenants[i], false);
    int64_t start = tn_usage_interval_start(now_ms, a->interval_ms);
    if (a->start_ms == INT64_MIN || start > a->start_ms)
        a->start_ms = start;
}

void tn_usage_acc_count(tn_usage_acc_t *a, int64_t now_ms, const char *tenant_id,
                        tn_usage_kind_t kind, const char *application_id, const char *device_id,
                        uint64_t n)
{
    if (tenant_id == NULL || tenant_id[0] == '\0' || (unsigned)kind > TN_USAGE_JOIN_ACCEPT)
        return;
    if (a->start_ms == INT64_MIN)
        a->start_ms = tn_usage_interval_start(now_ms, a->interval_ms);
    else if (now_ms >= a->start_ms + a->interval_ms)
        tn_usage_acc_flush(a, now_ms);
    usage_tenant_t *t = tenant_get(a, tenant_id);
    device_mark(a, t, application_id, device_id); /* may emit t's batch so far first */
    t->counts[kind] += n;
    t->used = true;
}
