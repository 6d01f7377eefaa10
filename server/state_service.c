/* The server's side of api/state.h: the handlers' view of users and events,
 * wired to the store, the committer, the user cache and the event memory. */
#include <stdio.h>
#include <string.h>

#include "server/log.h"
#include "server/server.h"

static int svc_user_get(void *impl, const char *user, const mr_model *m, mr_user_state *out, api_error *err)
{
    return users_get(&((server *)impl)->users, user, m, out, err);
}

static int svc_user_weights(void *impl, const char *user, const mr_model *m, const float *feat, double *pi,
                            uint64_t *version, uint64_t *updates, api_error *err)
{
    return users_weights(&((server *)impl)->users, user, m, feat, pi, version, updates, err);
}

static int svc_user_update(void *impl, const char *user, const mr_model *m, api_user_fn fn, void *arg,
                           api_commit **commit, api_error *err)
{
    return users_update(&((server *)impl)->users, user, m, fn, arg, commit, err);
}

static int svc_user_delete(void *impl, const char *user, api_commit **commit, api_error *err)
{
    return users_delete(&((server *)impl)->users, user, commit, err);
}

static int svc_event_put(void *impl, const api_event *ev, api_error *err)
{
    return events_put(&((server *)impl)->events, ev, err);
}

static int svc_event_get(void *impl, const char *id, api_event *out)
{
    return events_get(&((server *)impl)->events, id, out);
}

static void svc_event_new_id(void *impl, char *out, size_t cap)
{
    server *s = impl;
    uint64_t n = atomic_fetch_add(&s->next_event_id, 1);
    snprintf(out, cap, "ev-%016llx-%llx", (unsigned long long)s->request_id_salt, (unsigned long long)n);
}

static int adapt_params(const mr_config *cfg, mr_adapt_params *ap, mr_error *e)
{
    if (!strcmp(cfg->adapt, "hedge"))
        ap->mode = MR_ADAPT_HEDGE;
    else if (!strcmp(cfg->adapt, "router"))
        ap->mode = MR_ADAPT_ROUTER;
    else
        return mr_errorf(e, "adapt '%s': expected hedge or router", cfg->adapt);
    ap->eta = cfg->eta;
    ap->gamma = cfg->gamma;
    ap->lr = cfg->lr;
    ap->epochs = cfg->epochs;
    ap->buffer = cfg->buffer;
    ap->tau = cfg->tau;
    return 0;
}

int state_service_open(server *s, mr_error *e)
{
    const mr_config *cfg = s->cfg;
    if (adapt_params(cfg, &s->adapt, e) != 0)
        return -1;
    s->store = store_open(cfg, e);
    if (!s->store)
        return -1;
    s->committer = (committer){
        .st = s->store,
        .relaxed = !strcmp(cfg->durability, "relaxed"),
        .sync_interval_ms = cfg->sync_interval_ms,
        .metrics = &s->metrics,
        .settled = users_settled,
        .settled_arg = &s->users,
    };
    /* only a store other replicas write can make the cache stale */
    int cache_ms = strncmp(cfg->store, "redis://", 8) ? -1 : cfg->redis_cache_ms;
    if (users_init(&s->users, s->store, &s->committer, &s->metrics, &s->adapt, (size_t)cfg->user_cache,
                   cache_ms, e) != 0 ||
        events_init(&s->events, (size_t)cfg->event_memory, (uint64_t)cfg->event_ttl * 1000u, &s->metrics, e) != 0 ||
        committer_start(&s->committer, e) != 0) {
        s->store->close(s->store);
        s->store = NULL;
        return -1;
    }
    s->state = (api_state){
        .impl = s,
        .adapt = &s->adapt,
        .user_get = svc_user_get,
        .user_weights = svc_user_weights,
        .user_update = svc_user_update,
        .user_delete = svc_user_delete,
        .event_put = svc_event_put,
        .event_get = svc_event_get,
        .event_new_id = svc_event_new_id,
    };
    s->state_open = true;
    /* a Redis url may hold a password: log what follows it */
    const char *at = strrchr(cfg->store, '@');
    log_msg(LOG_INFO, "store %s open (%s%s, durability %s, adapt %s)", s->store->name,
            at ? "redis://...@" : "",
            !strcmp(cfg->store, "lmdb") ? cfg->state_dir : !strcmp(cfg->store, "memory") ? "in memory"
            : at ? at + 1 : cfg->store,
            cfg->durability, cfg->adapt);
    return 0;
}

void state_service_close(server *s)
{
    if (!s->state_open)
        return;
    s->state_open = false;
    committer_stop(&s->committer);   /* every staged write lands first */
    users_destroy(&s->users);
    events_destroy(&s->events);
    s->store->close(s->store);
    s->store = NULL;
}

bool state_service_healthy(server *s)
{
    return s->state_open && store_healthy(s->store);
}

void server_gauges(server *s, metrics_gauges *g)
{
    memset(g, 0, sizeof *g);
    g->users_stored = -1;
    if (!s->state_open)
        return;
    g->users_cached = atomic_load(&s->users.cached);
    g->users_stored = (long long)s->store->count(s->store);
    events_gauges(&s->events, &g->events_kept, &g->events_bytes);
}
