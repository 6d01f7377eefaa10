/* Group commit: one writer thread takes every staged user write that has
 * arrived, applies them in one store transaction (one fsync under strict
 * durability), then completes each write's waiter. While a sync runs, new
 * writes queue up for the next one, so one sync serves many updates. */
#ifndef MICRORM_SERVER_COMMITTER_H
#define MICRORM_SERVER_COMMITTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "api/state.h"
#include "server/metrics.h"
#include "server/store.h"

typedef void (*commit_cb)(api_commit *c, void *arg);

struct api_commit {
    api_commit *next;
    char *key;
    size_t klen;
    uint8_t *val;             /* NULL: delete */
    size_t vlen;
    int64_t expect_version;   /* see store_write */
    int64_t new_version;
    int status;               /* after completion: STORE_OK, STORE_CONFLICT or STORE_FAILED */
    char error[sizeof(mr_error)];
    atomic_int phase;         /* see committer.c */
    commit_cb on_done;        /* the request waiting for it */
    void *on_done_arg;
    void *cache_entry;        /* for the cache's bookkeeping (settled hook) */
};

typedef struct {
    store *st;
    bool relaxed;
    int sync_interval_ms;
    metrics *metrics;
    /* called on the writer thread for each write once its fate is known,
     * before its waiter runs */
    void (*settled)(void *arg, api_commit *c);
    void *settled_arg;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    api_commit *head, *tail;
    bool stopping, started;
} committer;

/* key/val are copied. Returns NULL on out-of-memory. */
api_commit *commit_new(const char *key, size_t klen, const uint8_t *val, size_t vlen);
void commit_free(api_commit *c);

int committer_start(committer *cm, mr_error *e);
void committer_submit(committer *cm, api_commit *c);
/* Run cb(c, arg) once c is settled: now, on this thread, if it already is;
 * otherwise later, on the writer thread. */
void commit_wait(api_commit *c, commit_cb cb, void *arg);
/* The waiter is gone (its connection closed): the writer frees c once
 * settled, or this frees it now if it already is. */
void commit_abandon(api_commit *c);
/* Commit what is queued, then stop the thread. */
void committer_stop(committer *cm);

#endif
