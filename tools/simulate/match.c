/* The uplink table: reception time → device (sim_private.h). Open addressing with linear
 * probing; deletion shifts the following entries back (Knuth 6.4, algorithm R), so there
 * are no tombstones and a long run never degrades. */
#include "sim_private.h"

static uint32_t slot_of(const sim_match_t *m, uint32_t key)
{
    return (key * 2654435761u) & (m->cap - 1); /* Knuth's multiplicative hash */
}

void sim_match_init(sim_match_t *m, uint32_t *keys, uint32_t *vals, uint32_t cap)
{
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->n = 0;
    for (uint32_t i = 0; i < cap; i++)
        keys[i] = 0;
}

static bool find(const sim_match_t *m, uint32_t key, uint32_t *slot)
{
    uint32_t i = slot_of(m, key);
    for (uint32_t probes = 0; probes < m->cap; probes++) {
        if (m->keys[i] == key) {
            *slot = i;
            return true;
        }
        if (m->keys[i] == 0) {
            *slot = i;
            return false;
        }
        i = (i + 1) & (m->cap - 1);
    }
    *slot = m->cap;
    return false;
}

int sim_match_put(sim_match_t *m, uint32_t key, uint32_t val)
{
    if (key == 0)
        return -1;
    uint32_t i;
    if (find(m, key, &i)) {
        m->vals[i] = val;
        return 0;
    }
    if ((uint64_t)(m->n + 1) * 4 > (uint64_t)m->cap * 3 || i == m->cap)
        return -1;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return 0;
}

bool sim_match_get(const sim_match_t *m, uint32_t key, uint32_t *val)
{
    uint32_t i;
    if (key == 0 || !find(m, key, &i))
        return false;
    *val = m->vals[i];
    return true;
}

bool sim_match_del(sim_match_t *m, uint32_t key)
{
    uint32_t i;
    if (key == 0 || !find(m, key, &i))
        return false;
    uint32_t mask = m->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->keys[j] == 0)
            break;
        uint32_t k = slot_of(m, m->keys[j]);
        /* The entry at j stays when its home slot k lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = 0;
    m->n--;
    return true;
}

const char *sim_window_name(sim_window_t w)
{
    switch (w) {
    case SIM_WIN_RX1:
        return "rx1";
    case SIM_WIN_RX2:
        return "rx2";
    case SIM_WIN_IMMEDIATE:
        return "immediate";
    case SIM_WIN_SCHEDULED:
        return "scheduled";
    default:
        return "none";
    }
}

sim_window_t sim_window_classify(bool join_accept, uint8_t rx1_delay_s, uint32_t delay_us)
{
    uint32_t rx1 = join_accept ? SIM_JOIN_ACCEPT_DELAY1_S : (rx1_delay_s == 0 ? 1u : rx1_delay_s);
    if (delay_us == rx1 * 1000000u)
        return SIM_WIN_RX1;
    if (delay_us == (rx1 + 1) * 1000000u) /* RECEIVE_DELAY2 = RECEIVE_DELAY1 + 1 s */
        return SIM_WIN_RX2;
    return SIM_WIN_NONE;
}
