/* Event memory (see events.h). */
#include "server/events.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One allocation per event: the entry, then its population logits (if
 * kept), heads and features (ev.pop, ev.heads and ev.feat point into
 * `data`; the doubles come first, so every part is aligned). */
typedef struct {
    lru_node node;        /* key points at ev.id */
    api_event ev;
    size_t bytes;
    uint64_t expires_ms;
    double data[];
} event_entry;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int events_init(events *ev, size_t max_bytes, uint64_t ttl_ms, metrics *met, mr_error *e)
{
    memset(ev, 0, sizeof *ev);
    ev->max_bytes = max_bytes;
    ev->ttl_ms = ttl_ms;
    ev->metrics = met;
    if (pthread_mutex_init(&ev->lock, NULL) != 0 || lru_init(&ev->map, 4096) != 0)
        return mr_errorf(e, "out of memory for the event memory");
    return 0;
}

static void drop(events *ev, event_entry *x)
{
    lru_remove(&ev->map, &x->node);
    ev->bytes -= x->bytes;
    free(x);
}

void events_destroy(events *ev)
{
    while (lru_oldest(&ev->map))
        drop(ev, (event_entry *)lru_oldest(&ev->map));
    lru_destroy(&ev->map);
    pthread_mutex_destroy(&ev->lock);
}

/* Drop the expired, then the oldest while over the memory bound. */
static void evict(events *ev, size_t incoming)
{
    uint64_t now = mono_ms();
    event_entry *x;
    while ((x = (event_entry *)lru_oldest(&ev->map)) && x->expires_ms <= now) {
        drop(ev, x);
        atomic_fetch_add(&ev->metrics->events_evicted_ttl, 1);
    }
    while ((x = (event_entry *)lru_oldest(&ev->map)) && ev->bytes + incoming > ev->max_bytes) {
        drop(ev, x);
        atomic_fetch_add(&ev->metrics->events_evicted_memory, 1);
    }
}

int events_put(events *ev, const api_event *src, api_error *err)
{
    size_t np = src->pop ? (size_t)src->K : 0, nh = (size_t)src->n * (size_t)src->K,
           nf = src->feat ? (size_t)src->F : 0;
    size_t bytes = sizeof(event_entry) + np * sizeof(double) + (nh + nf) * sizeof(float);
    event_entry *x = malloc(bytes);
    if (!x)
        return api_fail(err, 500, "internal", "", "out of memory keeping the event");
    memset(&x->node, 0, sizeof x->node);
    x->ev = *src;
    x->ev.F = (int)nf;
    x->ev.pop = np ? x->data : NULL;
    x->ev.heads = (float *)(x->data + np);
    x->ev.feat = nf ? x->ev.heads + nh : NULL;
    if (np)
        memcpy(x->ev.pop, src->pop, np * sizeof(double));
    memcpy(x->ev.heads, src->heads, nh * sizeof(float));
    if (nf)
        memcpy(x->ev.feat, src->feat, nf * sizeof(float));
    x->node.key = x->ev.id;
    x->node.klen = strlen(x->ev.id);
    x->bytes = bytes;
    x->expires_ms = mono_ms() + ev->ttl_ms;

    pthread_mutex_lock(&ev->lock);
    event_entry *old = (event_entry *)lru_find(&ev->map, x->node.key, x->node.klen);
    if (old && strcmp(old->ev.user, x->ev.user) != 0) {
        pthread_mutex_unlock(&ev->lock);
        free(x);
        return api_fail(err, 409, "event_conflict", "event", "event id '%s' is in use by another user",
                        src->id);
    }
    if (old)
        drop(ev, old);
    evict(ev, x->bytes);
    if (x->bytes > ev->max_bytes) {   /* larger than the whole budget: not kept */
        pthread_mutex_unlock(&ev->lock);
        free(x);
        atomic_fetch_add(&ev->metrics->events_evicted_memory, 1);
        return 0;
    }
    lru_insert(&ev->map, &x->node);
    ev->bytes += x->bytes;
    pthread_mutex_unlock(&ev->lock);
    atomic_fetch_add(&ev->metrics->events_stored, 1);
    return 0;
}

int events_get(events *ev, const char *id, api_event *out)
{
    int found = 0;
    pthread_mutex_lock(&ev->lock);
    event_entry *x = (event_entry *)lru_find(&ev->map, id, strlen(id));
    if (x && x->expires_ms > mono_ms()) {
        size_t nh = (size_t)x->ev.n * (size_t)x->ev.K, nf = (size_t)x->ev.F;
        size_t np = x->ev.pop ? (size_t)x->ev.K : 0;
        *out = x->ev;
        out->heads = malloc(nh * sizeof(float));
        out->feat = nf ? malloc(nf * sizeof(float)) : NULL;
        out->pop = np ? malloc(np * sizeof(double)) : NULL;
        if (out->heads && (out->feat || !nf) && (out->pop || !np)) {
            memcpy(out->heads, x->ev.heads, nh * sizeof(float));
            if (nf)
                memcpy(out->feat, x->ev.feat, nf * sizeof(float));
            if (np)
                memcpy(out->pop, x->ev.pop, np * sizeof(double));
            found = 1;
        } else {
            free(out->heads);
            free(out->feat);
            free(out->pop);
            out->heads = out->feat = NULL;
            out->pop = NULL;
            found = -1;
        }
    }
    pthread_mutex_unlock(&ev->lock);
    return found;
}

void events_gauges(events *ev, long long *kept, long long *bytes)
{
    pthread_mutex_lock(&ev->lock);
    *kept = (long long)ev->map.count;
    *bytes = (long long)ev->bytes;
    pthread_mutex_unlock(&ev->lock);
}
