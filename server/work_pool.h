/* A fixed pool of threads that run the heavy part of large requests
 * (parsing and scoring a body over `offload_bytes`) off libmicrohttpd's
 * polling threads, so that one big batch does not hold up every other
 * connection of its polling thread. One shared queue spreads the work over
 * every worker whichever thread the connection belongs to. */
#ifndef MICRORM_SERVER_WORK_POOL_H
#define MICRORM_SERVER_WORK_POOL_H

#include <pthread.h>
#include <stdbool.h>

#include "core/error.h"

/* A unit of work, embedded in the caller's own struct (no allocation per job). */
typedef struct work_item {
    struct work_item *next;
    void (*run)(struct work_item *item);
} work_item;

typedef struct work_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    work_item *head, *tail;     /* FIFO: oldest request first */
    bool stopping;
    bool initialized;           /* lock and wake exist: stop may run */
    unsigned n_threads;
    pthread_t *threads;
} work_pool;

/* Start n >= 1 workers. */
int work_pool_start(work_pool *p, unsigned n, mr_error *e);

/* Queue item; a worker calls item->run(item) soon. Never fails while running. */
void work_pool_submit(work_pool *p, work_item *item);

/* Run what is queued, then join the workers. Safe on a pool that failed
 * to start or is already stopped. */
void work_pool_stop(work_pool *p);

#endif
