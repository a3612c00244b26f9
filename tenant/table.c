/* The in-memory table of tenants: every process's view of lw_control.tenants, read on the
 * hot path of every tenant-scoped request. */
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"
#include "tenant/tenant_private.h"

static uint64_t table_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void table_grow(tn_table_t *tab)
{
    size_t ncap = tab->cap ? tab->cap * 2 : 64;
    tn_entry_t *ns = lw_calloc(ncap, sizeof *ns);
    for (size_t i = 0; i < tab->cap; i++) {
        if (!tab->slots[i].used)
            continue;
        size_t j = table_hash(tab->slots[i].t.id) & (ncap - 1);
        while (ns[j].used)
            j = (j + 1) & (ncap - 1);
        ns[j] = tab->slots[i];
    }
    free(tab->slots);
    tab->slots = ns;
    tab->cap = ncap;
}

void tn_table_put(tn_table_t *tab, const tn_tenant_t *t, int64_t updated_at_ms)
{
    if ((tab->n + 1) * 4 >= tab->cap * 3)
        table_grow(tab);
    size_t j = table_hash(t->id) & (tab->cap - 1);
    while (tab->slots[j].used && strcmp(tab->slots[j].t.id, t->id) != 0)
        j = (j + 1) & (tab->cap - 1);
    if (!tab->slots[j].used)
        tab->n++;
    tab->slots[j] = (tn_entry_t){.t = *t, .updated_at_ms = updated_at_ms, .used = true};
}

bool tn_table_apply(tn_table_t *tab, const tn_tenant_t *t, int64_t updated_at_ms)
{
    const tn_entry_t *cur = tn_table_get(tab, t->id);
    if (cur != NULL && cur->updated_at_ms > updated_at_ms)
        return false;
    tn_table_put(tab, t, updated_at_ms);
    return true;
}

const tn_entry_t *tn_table_get(const tn_table_t *tab, const char *id)
{
    if (tab->cap == 0)
        return NULL;
    size_t j = table_hash(id) & (tab->cap - 1);
    while (tab->slots[j].used) {
        if (strcmp(tab->slots[j].t.id, id) == 0)
            return &tab->slots[j];
        j = (j + 1) & (tab->cap - 1);
    }
    return NULL;
}

void tn_table_free(tn_table_t *tab)
{
    free(tab->slots);
    *tab = (tn_table_t){0};
}

bool tn_get(const tn_t *tn, const char *id, tn_tenant_t *out)
{
    const tn_entry_t *e = tn_table_get(&tn->table, id);
    if (e == NULL || e->t.deleted)
        return false;
    if (out != NULL)
        *out = e->t;
    return true;
}
