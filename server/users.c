/* The user cache and its rules (see users.h). */
#include "server/users.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/score.h"
#include "core/user_state.h"
#include "server/log.h"

/* A staged write not settled yet, with the entry's generation when staged. */
typedef struct {
    api_commit *c;
    uint64_t gen;
} pending_write;

typedef struct {
    lru_node node;            /* key: the user id */
    mr_user_state st;
    bool present;             /* a state exists (false: known absent, e.g. deleted) */
    bool rejected;            /* the stored record failed its checks: the next write replaces it */
    bool stale;               /* a write failed: reload from the store once none is pending */
    bool reload;              /* another replica wrote first: reload on next use, pending or not */
    uint64_t gen;             /* +1 per read from the store; older pending writes are another lineage */
    int64_t fresh_ms;         /* when memory was last known to match the store (monotonic) */
    pending_write *pend;      /* in staging order; never evicted while any */
    size_t npend, cap;
} user_entry;

static user_stripe *stripe_of(users *u, const char *key, size_t klen)
{
    return &u->stripes[lru_hash(key, klen) % USER_STRIPES];
}

static void entry_free(user_entry *x)
{
    if (x->present)
        mr_user_free(&x->st);
    free(x->pend);
    free(x->node.key);
    free(x);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int users_init(users *u, store *st, committer *cm, metrics *met, const mr_adapt_params *adapt,
               size_t capacity, int cache_ms, mr_error *e)
{
    memset(u, 0, sizeof *u);
    u->cache_ms = cache_ms;
    u->st = st;
    u->cm = cm;
    u->metrics = met;
    u->adapt = *adapt;
    u->cap_per_stripe = capacity / USER_STRIPES + 1;
    for (int i = 0; i < USER_STRIPES; i++) {
        if (pthread_mutex_init(&u->stripes[i].lock, NULL) != 0 || lru_init(&u->stripes[i].map, 64) != 0)
            return mr_errorf(e, "out of memory for the user cache");
    }
    return 0;
}

void users_destroy(users *u)
{
    for (int i = 0; i < USER_STRIPES; i++) {
        user_stripe *s = &u->stripes[i];
        while (lru_oldest(&s->map)) {
            user_entry *x = (user_entry *)lru_oldest(&s->map);
            lru_remove(&s->map, &x->node);
            entry_free(x);
        }
        lru_destroy(&s->map);
        pthread_mutex_destroy(&s->lock);
    }
}

static void evict_over_capacity(users *u, user_stripe *s)
{
    lru_node *n = lru_oldest(&s->map);
    while (s->map.count > u->cap_per_stripe && n) {
        user_entry *x = (user_entry *)n;
        n = n->next;
        if (x->npend > 0)
            continue;
        lru_remove(&s->map, &x->node);
        entry_free(x);
        atomic_fetch_sub(&u->cached, 1);
    }
}

/* Read the user's record from the store into x (present or not). A record
 * that fails its checks is logged and treated as absent, never misread. */
static int load_from_store(users *u, user_entry *x, api_error *err)
{
    uint8_t *val = NULL;
    size_t vlen = 0;
    mr_error e = {{0}};
    int rc = u->st->get(u->st, x->node.key, x->node.klen, &val, &vlen, &e);
    if (rc < 0)
        return api_fail(err, 503, "store_unavailable", "", "the user store cannot be read: %s", e.msg);
    if (x->present)
        mr_user_free(&x->st);
    x->present = false;
    x->rejected = false;
    x->stale = false;
    x->reload = false;
    x->gen++;
    x->fresh_ms = mono_ms();
    if (rc == 1) {
        if (mr_user_deserialize(&x->st, val, vlen, &e) == 0) {
            x->present = true;
        } else {
            x->rejected = true;
            char who[64];
            log_msg(LOG_ERROR, "user %s: stored state rejected, starting from the prior: %s",
                    log_escape(x->node.key, x->node.klen, who, sizeof who), e.msg);
        }
    }
    free(val);
    return 0;
}

/* The cache entry of user (loading it on a miss), with its stripe locked.
 * Returns NULL (stripe unlocked) on error. */
static user_entry *lookup_locked(users *u, const char *user, user_stripe **sp, api_error *err)
{
    size_t klen = strlen(user);
    user_stripe *s = stripe_of(u, user, klen);
    pthread_mutex_lock(&s->lock);
    user_entry *x = (user_entry *)lru_find(&s->map, user, klen);
    if (x) {
        lru_touch(&s->map, &x->node);
        bool wrong = x->reload || (x->stale && x->npend == 0);
        bool expired = !wrong && u->cache_ms >= 0 && x->npend == 0 &&
                       mono_ms() - x->fresh_ms >= u->cache_ms;
        /* While a shared store is down, scoring goes on from the cache, even
         * from an entry holding a write the store refused (its version check
         * keeps such an entry from being written back). A single writer's
         * known-wrong entry is never served. */
        if ((wrong || expired) && load_from_store(u, x, err) != 0 && u->cache_ms < 0) {
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        *sp = s;
        return x;
    }
    x = calloc(1, sizeof *x);
    if (!x || !(x->node.key = malloc(klen + 1))) {
        free(x);
        pthread_mutex_unlock(&s->lock);
        api_fail(err, 500, "internal", "", "out of memory");
        return NULL;
    }
    memcpy(x->node.key, user, klen + 1);
    x->node.klen = klen;
    if (load_from_store(u, x, err) != 0) {
        entry_free(x);
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    lru_insert(&s->map, &x->node);
    atomic_fetch_add(&u->cached, 1);
    evict_over_capacity(u, s);
    *sp = s;
    return x;
}

static bool usable(const users *u, const user_entry *x, const mr_model *m)
{
    return x->present && mr_user_matches(&x->st, m, &u->adapt);
}

int users_get(users *u, const char *user, const mr_model *m, mr_user_state *out, api_error *err)
{
    user_stripe *s;
    user_entry *x = lookup_locked(u, user, &s, err);
    if (!x)
        return -1;
    int rc = 0;
    if (usable(u, x, m)) {
        mr_error e = {{0}};
        rc = mr_user_copy(out, &x->st, &e) == 0 ? 1 : api_fail(err, 500, "internal", "", "%s", e.msg);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int users_weights(users *u, const char *user, const mr_model *m, const float *feat, double *pi,
                  uint64_t *version, uint64_t *updates, api_error *err)
{
    user_stripe *s;
    user_entry *x = lookup_locked(u, user, &s, err);
    if (!x)
        return -1;
    int rc = 0;
    /* Hedge needs only the K log-weights: copy them and do the router's
     * math after unlocking, so that many requests for one popular user do
     * not queue on its stripe. A private router layer is used in place. */
    float beta[MR_MAX_HEADS];
    bool hedge = false;
    if (usable(u, x, m)) {
        hedge = x->st.mode == MR_ADAPT_HEDGE;
        if (hedge)
            memcpy(beta, x->st.beta, sizeof(float) * (size_t)m->K);
        else
            mr_user_weights(&x->st, m, feat, pi);
        *version = x->st.version;
        *updates = x->st.updates;
        rc = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (hedge)
        mr_router_weights(m, feat, NULL, NULL, beta, pi);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Room for one more pending write, taken before anything changes. */
static int reserve_pending(user_entry *x, api_error *err)
{
    if (x->npend < x->cap)
        return 0;
    size_t cap = x->cap ? x->cap * 2 : 4;
    pending_write *p = realloc(x->pend, cap * sizeof *p);
    if (!p)
        return api_fail(err, 500, "internal", "", "out of memory staging a write");
    x->pend = p;
    x->cap = cap;
    return 0;
}

/* Under the stripe lock, in order: this user's writes reach the store in the
 * order they were made. */
static void stage(users *u, user_entry *x, api_commit *c)
{
    x->pend[x->npend++] = (pending_write){c, x->gen};
    c->cache_entry = x;
    committer_submit(u->cm, c);
}

/* The state fn starts from: a copy of the user's, or the prior. */
static int starting_state(users *u, user_entry *x, const mr_model *m, mr_user_state *st, api_error *err)
{
    mr_error e = {{0}};
    if (usable(u, x, m))
        return mr_user_copy(st, &x->st, &e) == 0 ? 0 : api_fail(err, 500, "internal", "", "%s", e.msg);
    if (x->present) {
        /* trained against another model (or mode): never misapplied */
        atomic_fetch_add(&u->metrics->user_resets, 1);
        char who[64];
        log_msg(LOG_INFO, "user %s: state from model %.16s reset to the prior of %.16s",
                log_escape(x->node.key, x->node.klen, who, sizeof who), x->st.fingerprint, m->fingerprint);
    }
    if (mr_user_init(st, m, &u->adapt, &e) != 0)
        return api_fail(err, 500, "internal", "", "%s", e.msg);
    st->created_ms = now_ms();
    return 0;
}

int users_update(users *u, const char *user, const mr_model *m, api_user_fn fn, void *arg,
                 api_commit **commit, api_error *err)
{
    *commit = NULL;
    user_stripe *s;
    user_entry *x = lookup_locked(u, user, &s, err);
    if (!x)
        return -1;
    mr_user_state st;
    if (reserve_pending(x, err) != 0 || starting_state(u, x, m, &st, err) != 0) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    int rc = fn(&st, arg, err);
    if (rc != 0) {
        mr_user_free(&st);
        pthread_mutex_unlock(&s->lock);
        return rc < 0 ? -1 : 0;
    }
    st.updated_ms = now_ms();
    int64_t expect = x->rejected ? -1 : x->present ? (int64_t)x->st.version : 0;
    size_t n = mr_user_serialized_size(&st);
    uint8_t *buf = malloc(n);
    api_commit *c = NULL;
    if (buf) {
        mr_user_serialize(&st, buf);
        c = commit_new(x->node.key, x->node.klen, buf, n);
        free(buf);
    }
    if (!c) {
        mr_user_free(&st);
        pthread_mutex_unlock(&s->lock);
        return api_fail(err, 500, "internal", "", "out of memory staging the update");
    }
    c->expect_version = expect;
    c->new_version = (int64_t)st.version;
    if (x->present)
        mr_user_free(&x->st);
    x->st = st;
    x->present = true;
    x->rejected = false;
    stage(u, x, c);
    pthread_mutex_unlock(&s->lock);
    *commit = c;
    return 0;
}

int users_delete(users *u, const char *user, api_commit **commit, api_error *err)
{
    *commit = NULL;
    user_stripe *s;
    user_entry *x = lookup_locked(u, user, &s, err);
    if (!x)
        return -1;
    int existed = x->present;
    api_commit *c = reserve_pending(x, err) == 0 ? commit_new(x->node.key, x->node.klen, NULL, 0) : NULL;
    if (!c) {
        pthread_mutex_unlock(&s->lock);
        return api_fail(err, 500, "internal", "", "out of memory staging the delete");
    }
    c->expect_version = -1;   /* a delete wins whatever the version */
    if (x->present)
        mr_user_free(&x->st);
    x->present = false;
    x->rejected = false;
    stage(u, x, c);
    pthread_mutex_unlock(&s->lock);
    *commit = c;
    return existed;
}

void users_settled(void *arg, api_commit *c)
{
    users *u = arg;
    user_entry *x = c->cache_entry;
    if (!x)
        return;
    user_stripe *s = stripe_of(u, c->key, c->klen);
    pthread_mutex_lock(&s->lock);
    size_t i = 0;
    while (i < x->npend && x->pend[i].c != c)
        i++;
    if (i == x->npend) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    uint64_t gen = x->pend[i].gen;
    memmove(&x->pend[i], &x->pend[i + 1], (x->npend - i - 1) * sizeof *x->pend);
    x->npend--;
    if (gen == x->gen && c->status == STORE_OK) {
        x->fresh_ms = mono_ms();
    } else if (gen == x->gen) {
        /* memory is ahead of the store, and so are the writes staged after
         * this one: a shared store must not apply them on another state */
        for (size_t j = 0; j < x->npend; j++)
            if (x->pend[j].gen == gen)
                x->pend[j].c->expect_version = STORE_EXPECT_NEVER;
        if (c->status == STORE_CONFLICT)
            x->reload = true;   /* another replica wrote first: reread now */
        else
            x->stale = true;    /* reread when quiet */
    }
    pthread_mutex_unlock(&s->lock);
}
