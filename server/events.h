/* What the server keeps of each scoring so feedback can name it by event id
 * instead of resending embeddings (DESIGN §5): per-head rewards and the
 * population router's logits (hedge) or the router features (router mode),
 * kept for event_ttl within event_memory bytes, oldest dropped
 * first. Events arrive in time order, so the recency list is also the
 * expiry order. */
#ifndef MICRORM_SERVER_EVENTS_H
#define MICRORM_SERVER_EVENTS_H

#include <pthread.h>

#include "api/state.h"
#include "server/lru_map.h"
#include "server/metrics.h"

typedef struct {
    pthread_mutex_t lock;
    lru_map map;
    size_t bytes, max_bytes;
    uint64_t ttl_ms;
    metrics *metrics;
} events;

int events_init(events *ev, size_t max_bytes, uint64_t ttl_ms, metrics *met, mr_error *e);
void events_destroy(events *ev);

/* Keep a copy of x. An id already kept for another user is a 409. */
int events_put(events *ev, const api_event *x, api_error *err);
/* 1 and a copy (caller frees heads, feat and pop), 0 when unknown or
 * expired, -1 out of memory. */
int events_get(events *ev, const char *id, api_event *out);
void events_gauges(events *ev, long long *kept, long long *bytes);

#endif
