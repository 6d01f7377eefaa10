/* Per-user states: a bounded write-through cache in front of the store,
 * with one lock per stripe of users so that updates of one user are
 * serialised and users never wait on each other's math (beyond sharing a
 * stripe). Every change is staged to the committer while the stripe lock is
 * held, so a user's writes reach the store in the order they were made. */
#ifndef MICRORM_SERVER_USERS_H
#define MICRORM_SERVER_USERS_H

#include <pthread.h>
#include <stdatomic.h>

#include "api/state.h"
#include "server/committer.h"
#include "server/lru_map.h"
#include "server/metrics.h"
#include "server/store.h"

#define USER_STRIPES 64

typedef struct {
    pthread_mutex_t lock;
    lru_map map;
} user_stripe;

typedef struct {
    user_stripe stripes[USER_STRIPES];
    size_t cap_per_stripe;
    /* A store shared with other replicas: a state read from it is trusted
     * for this many ms, then read again on next use (the staleness bound of
     * scoring). -1: this process is the only writer, trust it forever. */
    int cache_ms;
    store *st;
    committer *cm;
    metrics *metrics;
    mr_adapt_params adapt;
    atomic_llong cached;
} users;

int users_init(users *u, store *st, committer *cm, metrics *met, const mr_adapt_params *adapt,
               size_t capacity, int cache_ms, mr_error *e);
void users_destroy(users *u);

int users_get(users *u, const char *user, const mr_model *m, mr_user_state *out, api_error *err);
int users_weights(users *u, const char *user, const mr_model *m, const float *feat, double *pi,
                  uint64_t *version, uint64_t *updates, api_error *err);
int users_update(users *u, const char *user, const mr_model *m, api_user_fn fn, void *arg,
                 api_commit **commit, api_error *err);
int users_delete(users *u, const char *user, api_commit **commit, api_error *err);

/* The committer's settled hook: the write's fate is known. When a write
 * fails or conflicts, the user's later writes already staged were derived
 * from it: they are marked STORE_EXPECT_NEVER (so that a shared store refuses
 * them rather than apply them on another replica's state), and after a
 * conflict the next use re-reads the user from the store at once. */
void users_settled(void *u, api_commit *c);

#endif
