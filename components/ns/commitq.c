/* Offsets committed in order, once what each message produced is safe: published (the
 * matcher) or durable in PostgreSQL (the device worker). Per partition, the entries of the
 * consumed messages in arrival order; a flush commits the longest done prefix. */
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"
#include "ns/ns_private.h"

static ns_part_t *part_get(ns_commitq_t *q, const char *topic, int32_t partition)
{
    for (ns_part_t *p = q->parts; p != NULL; p = p->next)
        if (!p->revoked && p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    ns_part_t *p = lw_calloc(1, sizeof *p);
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    p->next = q->parts;
    q->parts = p;
    return p;
}

ns_entry_t *ns_commitq_add(ns_commitq_t *q, const lw_bus_msg_t *msg)
{
    ns_part_t *p = part_get(q, msg->topic, msg->partition);
    ns_entry_t *e = lw_calloc(1, sizeof *e);
    e->part = p;
    e->offset = msg->offset;
    if (p->tail != NULL)
        p->tail->next = e;
    else
        p->head = e;
    p->tail = e;
    return e;
}

void ns_commitq_done(ns_entry_t *e, uint64_t gen)
{
    if (e == NULL)
        return;
    e->done = true;
    e->gen = gen;
}

void ns_commitq_flush(ns_commitq_t *q, uint64_t durable)
{
    ns_part_t **pp = &q->parts;
    while (*pp != NULL) {
        ns_part_t *p = *pp;
        int64_t last = -1;
        while (p->head != NULL && p->head->done && p->head->gen <= durable) {
            ns_entry_t *e = p->head;
            last = e->offset;
            p->head = e->next;
            if (p->head == NULL)
                p->tail = NULL;
            free(e);
        }
        if (last >= 0 && !p->revoked && q->consumer != NULL) {
            lw_bus_msg_t m = {.topic = p->topic, .partition = p->partition, .offset = last};
            lw_bus_commit(q->consumer, &m);
        }
        if (p->revoked && p->head == NULL) {
            *pp = p->next;
            free(p);
            continue;
        }
        pp = &p->next;
    }
}

void ns_commitq_revoke(ns_commitq_t *q, const char *topic, int32_t partition)
{
    for (ns_part_t *p = q->parts; p != NULL; p = p->next)
        if (!p->revoked && p->partition == partition && strcmp(p->topic, topic) == 0)
            p->revoked = true;
}

void ns_commitq_free(ns_commitq_t *q)
{
    ns_part_t *p = q->parts;
    while (p != NULL) {
        ns_part_t *next = p->next;
        ns_entry_t *e = p->head;
        while (e != NULL) {
            ns_entry_t *en = e->next;
            free(e);
            e = en;
        }
        free(p);
        p = next;
    }
    q->parts = NULL;
}
