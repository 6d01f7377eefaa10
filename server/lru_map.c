/* Chained hash table plus a doubly linked recency list (see lru_map.h). */
#include "server/lru_map.h"

#include <stdlib.h>
#include <string.h>

int lru_init(lru_map *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->nbuckets = 64;
    while (m->nbuckets < expected)
        m->nbuckets *= 2;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    return m->buckets ? 0 : -1;
}

void lru_destroy(lru_map *m)
{
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

uint64_t lru_hash(const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < klen; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

lru_node *lru_find(const lru_map *m, const char *key, size_t klen)
{
    uint64_t h = lru_hash(key, klen);
    for (lru_node *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->hnext)
        if (n->hash == h && n->klen == klen && memcmp(n->key, key, klen) == 0)
            return n;
    return NULL;
}

/* Double the table when it is full; a failed grow only costs speed. */
static void maybe_grow(lru_map *m)
{
    if (m->count < m->nbuckets)
        return;
    size_t nb = m->nbuckets * 2;
    lru_node **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (lru_node *n = m->buckets[i], *next; n; n = next) {
            next = n->hnext;
            n->hnext = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

static void list_append(lru_map *m, lru_node *n)
{
    n->next = NULL;
    n->prev = m->tail;
    if (m->tail)
        m->tail->next = n;
    else
        m->head = n;
    m->tail = n;
}

static void list_unlink(lru_map *m, lru_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        m->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        m->tail = n->prev;
    n->prev = n->next = NULL;
}

int lru_insert(lru_map *m, lru_node *n)
{
    maybe_grow(m);
    n->hash = lru_hash(n->key, n->klen);
    lru_node **slot = &m->buckets[n->hash & (m->nbuckets - 1)];
    n->hnext = *slot;
    *slot = n;
    list_append(m, n);
    m->count++;
    return 0;
}

void lru_remove(lru_map *m, lru_node *n)
{
    lru_node **p = &m->buckets[n->hash & (m->nbuckets - 1)];
    while (*p && *p != n)
        p = &(*p)->hnext;
    if (*p)
        *p = n->hnext;
    list_unlink(m, n);
    m->count--;
}

void lru_touch(lru_map *m, lru_node *n)
{
    list_unlink(m, n);
    list_append(m, n);
}
