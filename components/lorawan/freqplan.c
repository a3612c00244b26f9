#include <string.h>

#include "lorawan.h"

const lorawan_freqplan_t *lorawan_freqplan_find(const char *id)
{
    (void)id;
    return NULL;
}
size_t lorawan_freqplan_count(void)
{
    return 0;
}
const lorawan_freqplan_t *lorawan_freqplan_at(size_t i)
{
    (void)i;
    return NULL;
}
