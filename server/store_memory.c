/* A store that forgets everything at exit: for tests, and only when chosen
 * explicitly (`store memory`). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/lru_map.h"
#include "server/store.h"

typedef struct {
    lru_node node;
    uint8_t *val;
    size_t vlen;
} mem_entry;

typedef struct {
    store base;
    pthread_mutex_t lock;
    lru_map map;
} mem_store;

static void entry_free(mem_entry *x)
{
    free(x->node.key);
    free(x->val);
    free(x);
}

static int mem_get(store *base, const char *key, size_t klen, uint8_t **val, size_t *vlen, mr_error *e)
{
    mem_store *s = (mem_store *)base;
    int out = 0;
    pthread_mutex_lock(&s->lock);
    mem_entry *x = (mem_entry *)lru_find(&s->map, key, klen);
    if (x) {
        *val = malloc(x->vlen ? x->vlen : 1);
        if (*val) {
            memcpy(*val, x->val, x->vlen);
            *vlen = x->vlen;
            out = 1;
        } else {
            out = mr_errorf(e, "out of memory");
        }
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

static int mem_commit_all(mem_store *s, const store_write *w, size_t n, mr_error *e)
{
    /* allocate everything first so the batch applies whole or not at all */
    mem_entry **fresh = calloc(n ? n : 1, sizeof *fresh);
    if (!fresh)
        return mr_errorf(e, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!w[i].val)
            continue;
        mem_entry *x = calloc(1, sizeof *x);
        if (x) {
            x->node.key = malloc(w[i].klen);
            x->val = malloc(w[i].vlen ? w[i].vlen : 1);
        }
        if (!x || !x->node.key || !x->val) {
            if (x)
                entry_free(x);
            for (size_t j = 0; j < i; j++)
                if (fresh[j])
                    entry_free(fresh[j]);
            free(fresh);
            return mr_errorf(e, "out of memory");
        }
        memcpy(x->node.key, w[i].key, w[i].klen);
        x->node.klen = w[i].klen;
        memcpy(x->val, w[i].val, w[i].vlen);
        x->vlen = w[i].vlen;
        fresh[i] = x;
    }
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        mem_entry *old = (mem_entry *)lru_find(&s->map, w[i].key, w[i].klen);
        if (old) {
            lru_remove(&s->map, &old->node);
            entry_free(old);
        }
        if (fresh[i])
            lru_insert(&s->map, &fresh[i]->node);
    }
    pthread_mutex_unlock(&s->lock);
    free(fresh);
    return 0;
}

static int mem_commit(store *base, const store_write *w, size_t n, int *results, mr_error *e)
{
    int rc = mem_commit_all((mem_store *)base, w, n, e);
    for (size_t i = 0; i < n; i++)
        results[i] = rc ? STORE_FAILED : STORE_OK;
    return rc;
}

static int mem_sync(store *base, mr_error *e)
{
    return 0;
}

static uint64_t mem_count(store *base)
{
    mem_store *s = (mem_store *)base;
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->map.count;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void mem_close(store *base)
{
    mem_store *s = (mem_store *)base;
    while (lru_oldest(&s->map)) {
        mem_entry *x = (mem_entry *)lru_oldest(&s->map);
        lru_remove(&s->map, &x->node);
        entry_free(x);
    }
    lru_destroy(&s->map);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

store *store_memory_open(mr_error *e)
{
    mem_store *s = calloc(1, sizeof *s);
    if (!s || lru_init(&s->map, 1024) != 0) {
        free(s);
        mr_errorf(e, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->base = (store){"memory", mem_get, mem_commit, mem_sync, mem_count, mem_close, NULL};
    return &s->base;
}
