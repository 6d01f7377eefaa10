/* The daemon's life: load the model, listen, then let libuv run signals and
 * timers until a drain ends it. SIGTERM/SIGINT drain; SIGHUP reloads the
 * model on the libuv thread pool and swaps it in atomically. */
#include "server/server.h"

#include <cblas.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "server/http.h"
#include "server/log.h"

#define DRAIN_POLL_MS 10

mr_model *server_load_model(const mr_config *cfg, mr_error *e)
{
    mr_model *m = mr_model_load(cfg->model, e);
    if (!m)
        return NULL;
    if (cfg->score_mode && cfg->score_mode[0] &&
        mr_score_mode_parse(cfg->score_mode, &m->score_mode) != 0) {
        mr_errorf(e, "score_mode '%s': expected linear or logsigmoid", cfg->score_mode);
        mr_model_free(m);
        return NULL;
    }
    if (cfg->mask_heads && cfg->mask_heads[0] && mr_model_set_mask(m, cfg->mask_heads, e) != 0) {
        mr_model_free(m);
        return NULL;
    }
    return m;
}

static void log_model(const char *what, const mr_model *m)
{
    log_msg(LOG_INFO, "%s model %s: K=%d d=%d dc=%d router=%s score_mode=%s fingerprint=%.16s",
            what, m->source_path ? m->source_path : "?", m->K, m->d, m->dc,
            mr_router_kind_name(m->router), mr_score_mode_name(m->score_mode), m->fingerprint);
}

static void close_all_handles(server *s)
{
    uv_handle_t *handles[] = {(uv_handle_t *)&s->sig_term, (uv_handle_t *)&s->sig_int,
                              (uv_handle_t *)&s->sig_hup, (uv_handle_t *)&s->drain_timer};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        if (!uv_is_closing(handles[i]))
            uv_close(handles[i], NULL);
}

static void on_drain_tick(uv_timer_t *t)
{
    server *s = t->data;
    bool idle = atomic_load(&s->metrics.in_flight) == 0;
    if (!idle && uv_now(&s->loop) < s->drain_deadline_ms)
        return;
    if (!idle)
        log_msg(LOG_WARN, "drain timeout: closing %lld request(s) still in flight",
                (long long)atomic_load(&s->metrics.in_flight));
    http_stop(s);
    close_all_handles(s);   /* the loop then has nothing left and returns */
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (atomic_exchange(&s->draining, true)) {
        log_msg(LOG_INFO, "signal %d: already draining", signum);
        return;
    }
    atomic_store(&s->ready, false);
    log_msg(LOG_INFO, "signal %d: draining (up to %d ms)", signum, s->cfg->drain_timeout_ms);
    http_quiesce(s);
    s->drain_deadline_ms = uv_now(&s->loop) + (uint64_t)s->cfg->drain_timeout_ms;
    uv_timer_start(&s->drain_timer, on_drain_tick, 0, DRAIN_POLL_MS);
}

static void reload_work(uv_work_t *w)
{
    server *s = w->data;
    s->reload_model = server_load_model(s->cfg, &s->reload_error);
}

static void reload_done(uv_work_t *w, int status)
{
    server *s = w->data;
    s->reloading = false;
    if (!s->reload_model) {
        atomic_fetch_add(&s->metrics.reloads_failed, 1);
        log_msg(LOG_ERROR, "reload failed, still serving the old model: %s", s->reload_error.msg);
        return;
    }
    mr_model *m = s->reload_model;
    s->reload_model = NULL;
    if (model_slot_publish(&s->models, m) != 0) {
        mr_model_free(m);
        atomic_fetch_add(&s->metrics.reloads_failed, 1);
        log_msg(LOG_ERROR, "reload failed: out of memory");
        return;
    }
    atomic_fetch_add(&s->metrics.reloads_ok, 1);
    log_model("reloaded", m);
}

static void on_reload_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (s->reloading || atomic_load(&s->draining)) {
        log_msg(LOG_INFO, "SIGHUP: a reload is already running or the server is draining");
        return;
    }
    s->reloading = true;
    s->reload_work.data = s;
    int rc = uv_queue_work(&s->loop, &s->reload_work, reload_work, reload_done);
    if (rc != 0) {
        s->reloading = false;
        log_msg(LOG_ERROR, "SIGHUP: cannot start the reload: %s", uv_strerror(rc));
    } else {
        log_msg(LOG_INFO, "SIGHUP: reloading %s", s->cfg->model);
    }
}

static int start_signals(server *s)
{
    struct {
        uv_signal_t *h;
        uv_signal_cb cb;
        int sig;
    } table[] = {
        {&s->sig_term, on_stop_signal, SIGTERM},
        {&s->sig_int, on_stop_signal, SIGINT},
        {&s->sig_hup, on_reload_signal, SIGHUP},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = uv_signal_init(&s->loop, table[i].h);
        if (rc == 0) {
            table[i].h->data = s;
            rc = uv_signal_start(table[i].h, table[i].cb, table[i].sig);
        }
        if (rc != 0) {
            log_msg(LOG_ERROR, "cannot watch signal %d: %s", table[i].sig, uv_strerror(rc));
            return -1;
        }
    }
    int rc = uv_timer_init(&s->loop, &s->drain_timer);
    s->drain_timer.data = s;
    return rc == 0 ? 0 : -1;
}

static uint64_t random_salt(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return v;
}

/* Every request allocates its body and its decoded vectors (a JSON-array
 * /score body is ~170 KB) and frees them a moment later. By default glibc
 * serves blocks that size with mmap and gives freed heap tops back to the
 * kernel, so each request would pay fresh page faults for memory it had just
 * returned (measured: ~1/4 of the JSON-array /score rate). Keep such blocks
 * in the heap up to the body limit, and trim only far above it: the heap
 * stays at its high-water mark, which the request limits bound. */
static void keep_request_memory(const mr_config *cfg)
{
#if defined(__GLIBC__)
    /* 32 MiB is the largest threshold glibc takes on 64-bit */
    long body = cfg->max_body_bytes;
    int mmap_at = body < (16L << 20) ? (int)(2 * body) : (32 << 20);
    if (mmap_at < (1 << 20))
        mmap_at = 1 << 20;
    if (!mallopt(M_MMAP_THRESHOLD, mmap_at) || !mallopt(M_TRIM_THRESHOLD, 4 * mmap_at))
        log_msg(LOG_WARN, "could not tune malloc for request-sized blocks: requests may be slower");
#else
    (void)cfg;
#endif
}

int server_run(const mr_config *cfg)
{
    server *s = calloc(1, sizeof *s);
    if (!s) {
        log_msg(LOG_ERROR, "out of memory");
        return 1;
    }
    int status = 1;
    s->cfg = cfg;
    metrics_init(&s->metrics);
    s->request_id_salt = random_salt();
    /* requests are the unit of parallelism: BLAS must not spawn its own threads */
    openblas_set_num_threads(1);
    keep_request_memory(cfg);
    signal(SIGPIPE, SIG_IGN);
    if (model_slot_init(&s->models) != 0 || uv_loop_init(&s->loop) != 0) {
        log_msg(LOG_ERROR, "cannot initialise the server");
        free(s);
        return 1;
    }
    mr_error e = {{0}};
    mr_model *m = server_load_model(cfg, &e);
    if (!m) {
        log_msg(LOG_ERROR, "cannot load the model: %s", e.msg);
        goto out;
    }
    log_model("loaded", m);
    if (model_slot_publish(&s->models, m) != 0) {
        mr_model_free(m);
        log_msg(LOG_ERROR, "out of memory");
        goto out;
    }
    if (start_signals(s) != 0)
        goto out;
    if (state_service_open(s, &e) != 0) {
        log_msg(LOG_ERROR, "cannot open the user store: %s", e.msg);
        goto out;
    }
    if (http_start(s, &e) != 0) {
        log_msg(LOG_ERROR, "%s", e.msg);
        goto out;
    }
    atomic_store(&s->ready, true);
    log_msg(LOG_INFO, "listening on http://%s:%d", cfg->host, s->port);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    log_msg(LOG_INFO, "drained, exiting");
    status = 0;
out:
    http_stop(s);
    state_service_close(s);
    close_all_handles(s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s->loop) != 0)
        log_msg(LOG_WARN, "the event loop still had handles at exit");
    model_slot_destroy(&s->models);
    free(s);
    return status;
}
