/* The daemon: owns the libuv loop (signals, timers), the HTTP daemon and its
 * threads, and the served model. Only server/ has threads and sockets. */
#ifndef MICRORM_SERVER_SERVER_H
#define MICRORM_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "api/state.h"
#include "server/committer.h"
#include "server/events.h"
#include "server/metrics.h"
#include "server/model_slot.h"
#include "server/store.h"
#include "server/users.h"
#include "server/work_pool.h"

struct MHD_Daemon;

typedef struct server {
    const mr_config *cfg;
    model_slot models;
    metrics metrics;
    struct MHD_Daemon *mhd;
    struct listener *listener;        /* accepts on the loop, hands sockets to mhd */
    work_pool workers;                /* parse and score requests with a body */
    int port;                         /* the bound port (config port 0 picks one) */

    uv_loop_t loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    struct conn_guard *guard;         /* connections that owe a whole request */
    uint64_t drain_deadline_ms;

    atomic_bool ready;                /* model loaded, store open, not draining */
    atomic_bool draining;
    atomic_uint_fast64_t next_request_id;
    uint64_t request_id_salt;

    /* per-user state: store, group commit, cache, events, and the api face of them */
    store *store;
    committer committer;
    users users;
    events events;
    mr_adapt_params adapt;
    api_state state;
    bool state_open;
    atomic_uint_fast64_t next_event_id;

    bool reloading;                   /* a reload runs on the libuv thread pool */
    uv_work_t reload_work;
    mr_model *reload_model;
    mr_error reload_error;
} server;

/* Load the model, listen, serve until SIGTERM/SIGINT and a drain. Returns the
 * process exit status (0 after a clean drain, 1 when it cannot start). */
int server_run(const mr_config *cfg);

/* Current values of the gauges that live outside metrics (for /metrics). */
void server_gauges(server *s, metrics_gauges *g);

/* Open the store and start the committer, cache and event memory. */
int state_service_open(server *s, mr_error *e);
void state_service_close(server *s);
/* The store is open and reachable (a shared store can be down for a while):
 * part of readiness. */
bool state_service_healthy(server *s);

/* Load the configured model with score_mode and mask_heads applied. */
mr_model *server_load_model(const mr_config *cfg, mr_error *e);

#endif
