/* The registry of device parts (tenant/devparts.h). Written by the composition root before
 * any thread starts, read-only afterwards. */
#include <string.h>

#include "tenant/devparts.h"

static const tn_devpart_t *parts[TN_DEVPARTS_MAX];
static size_t nparts;

int tn_devparts_register(const tn_devpart_t *part)
{
    if (part == NULL || part->name == NULL || nparts == TN_DEVPARTS_MAX)
        return -1;
    for (size_t i = 0; i < nparts; i++)
        if (strcmp(parts[i]->name, part->name) == 0)
            return -1;
    parts[nparts++] = part;
    return 0;
}

const tn_devpart_t *const *tn_devparts(size_t *n)
{
    *n = nparts;
    return parts;
}

const tn_devpart_t *tn_devparts_owner(const char *path)
{
    const tn_devpart_t *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < nparts; i++)
        for (const char *const *p = parts[i]->paths; p != NULL && *p != NULL; p++) {
            size_t len = strlen(*p);
            if (len > best_len && strncmp(path, *p, len) == 0 &&
                (path[len] == '\0' || path[len] == '.')) {
                best = parts[i];
                best_len = len;
            }
        }
    return best;
}
