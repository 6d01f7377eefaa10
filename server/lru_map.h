/* A string-keyed hash map whose entries also sit on a recency list, for the
 * user cache and the event memory. Intrusive: the caller embeds an lru_node
 * in its own struct. Not thread-safe: callers hold their own lock. */
#ifndef MICRORM_SERVER_LRU_MAP_H
#define MICRORM_SERVER_LRU_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct lru_node {
    struct lru_node *hnext;          /* hash chain */
    struct lru_node *prev, *next;    /* recency list: head = oldest */
    uint64_t hash;
    char *key;                       /* owned by the caller's struct */
    size_t klen;
} lru_node;

typedef struct {
    lru_node **buckets;
    size_t nbuckets, count;
    lru_node *head, *tail;
} lru_map;

int lru_init(lru_map *m, size_t expected);
void lru_destroy(lru_map *m);        /* frees the table only, not the entries */
uint64_t lru_hash(const char *key, size_t klen);
lru_node *lru_find(const lru_map *m, const char *key, size_t klen);
/* Insert n (key, klen set by the caller; not present yet) as the newest. */
int lru_insert(lru_map *m, lru_node *n);
void lru_remove(lru_map *m, lru_node *n);
void lru_touch(lru_map *m, lru_node *n);     /* make n the newest */
static inline lru_node *lru_oldest(const lru_map *m) { return m->head; }

#endif
