/* The group-commit writer thread (see committer.h). */
#include "server/committer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"

/* A write's phase: queued, a waiter attached, or settled. Whoever moves it
 * second (the waiter after settling, or the writer after the waiter) runs
 * the callback, so it runs exactly once. */
enum { PHASE_QUEUED = 0, PHASE_WAITING = 1, PHASE_SETTLED = 2, PHASE_ABANDONED = 3 };

#define MAX_BATCH 4096

api_commit *commit_new(const char *key, size_t klen, const uint8_t *val, size_t vlen)
{
    api_commit *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->key = malloc(klen ? klen : 1);
    c->val = val ? malloc(vlen ? vlen : 1) : NULL;
    if (!c->key || (val && !c->val)) {
        commit_free(c);
        return NULL;
    }
    memcpy(c->key, key, klen);
    c->klen = klen;
    if (val)
        memcpy(c->val, val, vlen);
    c->vlen = vlen;
    atomic_init(&c->phase, PHASE_QUEUED);
    return c;
}

void commit_free(api_commit *c)
{
    if (!c)
        return;
    free(c->key);
    free(c->val);
    free(c);
}

void commit_wait(api_commit *c, commit_cb cb, void *arg)
{
    c->on_done = cb;
    c->on_done_arg = arg;
    int expected = PHASE_QUEUED;
    if (!atomic_compare_exchange_strong(&c->phase, &expected, PHASE_WAITING))
        cb(c, arg);   /* already settled */
}

static void settle(committer *cm, api_commit *c, int status, const char *error)
{
    c->status = status;
    if (status)
        snprintf(c->error, sizeof c->error, "%s", error);
    if (cm->settled)
        cm->settled(cm->settled_arg, c);
    int was = atomic_exchange(&c->phase, PHASE_SETTLED);
    if (was == PHASE_WAITING)
        c->on_done(c, c->on_done_arg);
    else if (was == PHASE_ABANDONED)
        commit_free(c);   /* its request is gone */
}

void commit_abandon(api_commit *c)
{
    int expected = PHASE_WAITING;
    if (!atomic_compare_exchange_strong(&c->phase, &expected, PHASE_ABANDONED))
        commit_free(c);   /* already settled: nobody else holds it */
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void commit_batch(committer *cm, api_commit *batch)
{
    store_write w[MAX_BATCH];
    int results[MAX_BATCH];
    while (batch) {
        size_t n = 0;
        api_commit *first = batch;
        for (; batch && n < MAX_BATCH; batch = batch->next, n++)
            w[n] = (store_write){batch->key, batch->klen, batch->val, batch->vlen,
                                 batch->expect_version, batch->new_version};
        api_commit *rest = batch;
        mr_error e = {{0}};
        uint64_t t0 = mono_us();
        int rc = cm->st->commit(cm->st, w, n, results, &e);
        metrics_record_commit(cm->metrics, rc == 0, n, mono_us() - t0);
        if (rc)
            log_msg(LOG_ERROR, "store commit of %zu write(s) failed: %s", n, e.msg);
        size_t i = 0;
        for (api_commit *c = first, *next; c != rest; c = next, i++) {
            next = c->next;   /* the waiter may free c */
            settle(cm, c, results[i], results[i] == STORE_CONFLICT ? "version conflict" : e.msg);
        }
    }
}

static void *writer_main(void *arg)
{
    committer *cm = arg;
    bool dirty = false;
    uint64_t last_sync = mono_us();
    pthread_mutex_lock(&cm->lock);
    for (;;) {
        while (!cm->head && !cm->stopping) {
            if (!(cm->relaxed && dirty)) {
                pthread_cond_wait(&cm->wake, &cm->lock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)cm->sync_interval_ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            if (pthread_cond_timedwait(&cm->wake, &cm->lock, &until) == ETIMEDOUT)
                break;
        }
        api_commit *batch = cm->head;
        cm->head = cm->tail = NULL;
        bool stopping = cm->stopping;
        pthread_mutex_unlock(&cm->lock);

        if (batch) {
            commit_batch(cm, batch);
            dirty = true;
        }
        if (cm->relaxed && dirty &&
            (stopping || mono_us() - last_sync >= (uint64_t)cm->sync_interval_ms * 1000u)) {
            mr_error e = {{0}};
            if (cm->st->sync(cm->st, &e) != 0)
                log_msg(LOG_ERROR, "store sync failed: %s", e.msg);
            dirty = false;
            last_sync = mono_us();
        }
        pthread_mutex_lock(&cm->lock);
        if (stopping && !cm->head)
            break;
    }
    pthread_mutex_unlock(&cm->lock);
    return NULL;
}

int committer_start(committer *cm, mr_error *e)
{
    cm->head = cm->tail = NULL;
    cm->stopping = false;
    if (pthread_mutex_init(&cm->lock, NULL) != 0 || pthread_cond_init(&cm->wake, NULL) != 0)
        return mr_errorf(e, "cannot create the committer's lock");
    int rc = pthread_create(&cm->thread, NULL, writer_main, cm);
    if (rc != 0)
        return mr_errorf(e, "cannot start the committer thread: %s", strerror(rc));
    cm->started = true;
    return 0;
}

void committer_submit(committer *cm, api_commit *c)
{
    c->next = NULL;
    pthread_mutex_lock(&cm->lock);
    if (cm->tail)
        cm->tail->next = c;
    else
        cm->head = c;
    cm->tail = c;
    pthread_cond_signal(&cm->wake);
    pthread_mutex_unlock(&cm->lock);
}

void committer_stop(committer *cm)
{
    if (!cm->started)
        return;
    pthread_mutex_lock(&cm->lock);
    cm->stopping = true;
    pthread_cond_signal(&cm->wake);
    pthread_mutex_unlock(&cm->lock);
    pthread_join(cm->thread, NULL);
    pthread_cond_destroy(&cm->wake);
    pthread_mutex_destroy(&cm->lock);
    cm->started = false;
}
