/* In-order offset commits (cluster/bus.h): per partition, the entries of the consumed
 * messages in arrival order; a flush commits the longest prefix that is done and durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/bus.h"
#include "cluster/mem.h"

struct lw_bus_commit_entry {
    lw_bus_commit_entry_t *next;
    int64_t offset;
    uint64_t gen; /* what must be durable before the offset may go */
    bool done;
};

struct lw_bus_commit_part {
    lw_bus_commit_part_t *next;
    char topic[96];
    int32_t partition;
    lw_bus_commit_entry_t *head, *tail;
    bool revoked; /* entries dropped uncommitted; the part goes once empty */
};

static lw_bus_commit_part_t *part_get(lw_bus_commitq_t *q, const char *topic, int32_t partition)
{
    for (lw_bus_commit_part_t *p = q->parts; p != NULL; p = p->next)
        if (!p->revoked && p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    lw_bus_commit_part_t *p = lw_calloc(1, sizeof *p);
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    p->next = q->parts;
    q->parts = p;
    return p;
}

lw_bus_commit_entry_t *lw_bus_commitq_add(lw_bus_commitq_t *q, const lw_bus_msg_t *msg)
{
    lw_bus_commit_part_t *p = part_get(q, msg->topic, msg->partition);
    lw_bus_commit_entry_t *e = lw_calloc(1, sizeof *e);
    e->offset = msg->offset;
    if (p->tail != NULL)
        p->tail->next = e;
    else
        p->head = e;
    p->tail = e;
    return e;
}

void lw_bus_commitq_done(lw_bus_commit_entry_t *e, uint64_t gen)
{
    if (e == NULL)
        return;
    e->done = true;
    e->gen = gen;
}

void lw_bus_commitq_flush(lw_bus_commitq_t *q, uint64_t durable)
{
    lw_bus_commit_part_t **pp = &q->parts;
    while (*pp != NULL) {
        lw_bus_commit_part_t *p = *pp;
        int64_t last = -1;
        while (p->head != NULL && p->head->done && p->head->gen <= durable) {
            lw_bus_commit_entry_t *e = p->head;
            last = e->offset;
            p->head = e->next;
            if (p->head == NULL)
                p->tail = NULL;
            free(e);
        }
        if (last >= 0 && !p->revoked) {
            lw_bus_msg_t m = {.topic = p->topic, .partition = p->partition, .offset = last};
            if (q->commit != NULL)
                q->commit(q->commit_arg, &m);
            else if (q->consumer != NULL)
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

void lw_bus_commitq_revoke(lw_bus_commitq_t *q, const lw_bus_partition_t *parts, size_t n)
{
    for (lw_bus_commit_part_t *p = q->parts; p != NULL; p = p->next)
        for (size_t i = 0; i < n; i++)
            if (!p->revoked && p->partition == parts[i].partition &&
                strcmp(p->topic, parts[i].topic) == 0)
                p->revoked = true;
}

void lw_bus_commitq_free(lw_bus_commitq_t *q)
{
    lw_bus_commit_part_t *p = q->parts;
    while (p != NULL) {
        lw_bus_commit_part_t *next = p->next;
        for (lw_bus_commit_entry_t *e = p->head, *en; e != NULL; e = en) {
            en = e->next;
            free(e);
        }
        free(p);
        p = next;
    }
    q->parts = NULL;
}
