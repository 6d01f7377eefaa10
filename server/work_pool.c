/* The request worker pool (see work_pool.h). */
#include "server/work_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *worker_main(void *arg)
{
    work_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        work_item *item = p->head;
        if (!item)
            break;   /* stopping, and nothing left to run */
        p->head = item->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        item->run(item);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int work_pool_start(work_pool *p, unsigned n, mr_error *e)
{
    memset(p, 0, sizeof *p);
    if (n < 1)
        n = 1;
    int rc = pthread_mutex_init(&p->lock, NULL);
    if (rc != 0)
        return mr_errorf(e, "worker pool: mutex: %s", strerror(rc));
    if ((rc = pthread_cond_init(&p->wake, NULL)) != 0) {
        pthread_mutex_destroy(&p->lock);
        return mr_errorf(e, "worker pool: condition variable: %s", strerror(rc));
    }
    p->initialized = true;
    p->threads = calloc(n, sizeof *p->threads);
    if (!p->threads) {
        work_pool_stop(p);
        return mr_errorf(e, "worker pool: out of memory");
    }
    for (; p->n_threads < n; p->n_threads++) {
        if ((rc = pthread_create(&p->threads[p->n_threads], NULL, worker_main, p)) != 0) {
            work_pool_stop(p);
            return mr_errorf(e, "worker pool: cannot start thread %u of %u: %s", p->n_threads + 1, n,
                             strerror(rc));
        }
        char name[16];
        snprintf(name, sizeof name, "worker-%u", p->n_threads);
        pthread_setname_np(p->threads[p->n_threads], name);
    }
    return 0;
}

void work_pool_submit(work_pool *p, work_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = item;
    else
        p->head = item;
    p->tail = item;
    pthread_mutex_unlock(&p->lock);
    pthread_cond_signal(&p->wake);
}

void work_pool_stop(work_pool *p)
{
    if (!p->initialized)
        return;
    if (p->threads) {
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_mutex_unlock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        for (unsigned i = 0; i < p->n_threads; i++)
            pthread_join(p->threads[i], NULL);
        free(p->threads);
        p->threads = NULL;
    }
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    p->n_threads = 0;
    p->initialized = false;
}
