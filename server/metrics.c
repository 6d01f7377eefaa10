/* Prometheus metrics: request counts by endpoint and status, latency
 * histograms, in-flight gauge, model info, reloads. */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_codes[METRICS_N_STATUS] = {
    200, 204, 400, 401, 404, 405, 409, 413, 415, 422, 429, 500, 503, 0 /* other: the last slot */
};

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t bucket_us[METRICS_N_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};

void metrics_init(metrics *m)
{
    memset(m, 0, sizeof *m);
}

static int bucket_of_us(uint64_t us);

static int endpoint_slot(int endpoint)
{
    return endpoint >= 0 && endpoint < api_n_routes ? endpoint : api_n_routes;
}

void metrics_record(metrics *m, int endpoint, int status, uint64_t latency_us)
{
    int e = endpoint_slot(endpoint);
    int s = METRICS_N_STATUS - 1;
    for (int i = 0; i < METRICS_N_STATUS - 1; i++)
        if (status_codes[i] == status)
            s = i;
    atomic_fetch_add(&m->requests[e][s], 1);
    atomic_fetch_add(&m->latency_bucket[e][bucket_of_us(latency_us)], 1);
    atomic_fetch_add(&m->latency_sum_us[e], latency_us);
    atomic_fetch_add(&m->latency_count[e], 1);
}

static int bucket_of_us(uint64_t us)
{
    int b = 0;
    while (b < METRICS_N_BUCKETS - 1 && us > bucket_us[b])
        b++;
    return b;
}

void metrics_record_commit(metrics *m, bool ok, size_t writes, uint64_t latency_us)
{
    atomic_fetch_add(ok ? &m->commits_ok : &m->commits_failed, 1);
    if (ok)
        atomic_fetch_add(&m->writes_committed, writes);
    atomic_fetch_add(&m->commit_bucket[bucket_of_us(latency_us)], 1);
    atomic_fetch_add(&m->commit_sum_us, latency_us);
    int b = 0;
    while (b < 9 && writes > ((size_t)1 << b))
        b++;
    atomic_fetch_add(&m->batch_bucket[b], 1);
}

void metrics_record_feedback(metrics *m, unsigned n, unsigned correct, double logloss)
{
    atomic_fetch_add(&m->feedback_total, n);
    atomic_fetch_add(&m->feedback_correct, correct);
    atomic_fetch_add(&m->feedback_logloss_micro, (uint64_t)(logloss * 1e6 + 0.5));
}

/* A growing text buffer; after the first failure every append is a no-op
 * and the result is NULL. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} textbuf;

static void tb_printf(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(textbuf *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

static const char *endpoint_name(int e)
{
    return e < api_n_routes ? api_routes[e].endpoint : "other";
}

static const char *method_name(int e)
{
    return e < api_n_routes ? api_routes[e].method : "other";
}

static void render_requests(textbuf *t, metrics *m)
{
    tb_printf(t, "# HELP microrm_http_requests_total HTTP requests answered, by endpoint and status.\n"
                 "# TYPE microrm_http_requests_total counter\n");
    for (int e = 0; e <= api_n_routes; e++)
        for (int s = 0; s < METRICS_N_STATUS; s++) {
            uint64_t v = atomic_load(&m->requests[e][s]);
            if (!v)
                continue;
            char code[8];
            snprintf(code, sizeof code, "%d", status_codes[s]);
            tb_printf(t, "microrm_http_requests_total{method=\"%s\",endpoint=\"%s\",status=\"%s\"} %llu\n",
                      method_name(e), endpoint_name(e), s == METRICS_N_STATUS - 1 ? "other" : code, (unsigned long long)v);
        }
}

static void render_latency(textbuf *t, metrics *m)
{
    tb_printf(t, "# HELP microrm_http_request_duration_seconds Time from request start to answer.\n"
                 "# TYPE microrm_http_request_duration_seconds histogram\n");
    for (int e = 0; e <= api_n_routes; e++) {
        uint64_t count = atomic_load(&m->latency_count[e]);
        if (!count)
            continue;
        uint64_t cum = 0;
        for (int b = 0; b < METRICS_N_BUCKETS; b++) {
            cum += atomic_load(&m->latency_bucket[e][b]);
            if (b < METRICS_N_BUCKETS - 1)
                tb_printf(t, "microrm_http_request_duration_seconds_bucket{method=\"%s\",endpoint=\"%s\",le=\"%g\"} %llu\n",
                          method_name(e), endpoint_name(e), (double)bucket_us[b] / 1e6, (unsigned long long)cum);
            else
                tb_printf(t, "microrm_http_request_duration_seconds_bucket{method=\"%s\",endpoint=\"%s\",le=\"+Inf\"} %llu\n",
                          method_name(e), endpoint_name(e), (unsigned long long)cum);
        }
        tb_printf(t, "microrm_http_request_duration_seconds_sum{method=\"%s\",endpoint=\"%s\"} %.6f\n",
                  method_name(e), endpoint_name(e), (double)atomic_load(&m->latency_sum_us[e]) / 1e6);
        tb_printf(t, "microrm_http_request_duration_seconds_count{method=\"%s\",endpoint=\"%s\"} %llu\n",
                  method_name(e), endpoint_name(e), (unsigned long long)count);
    }
}

static void counter(textbuf *t, const char *name, const char *help, uint64_t v)
{
    tb_printf(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

static void gauge(textbuf *t, const char *name, const char *help, long long v)
{
    tb_printf(t, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

static void render_store(textbuf *t, metrics *m)
{
    tb_printf(t, "# HELP microrm_store_commit_duration_seconds Time of one group commit (write + sync).\n"
                 "# TYPE microrm_store_commit_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < METRICS_N_BUCKETS; b++) {
        cum += atomic_load(&m->commit_bucket[b]);
        if (b < METRICS_N_BUCKETS - 1)
            tb_printf(t, "microrm_store_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                      (double)bucket_us[b] / 1e6, (unsigned long long)cum);
        else
            tb_printf(t, "microrm_store_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                      (unsigned long long)cum);
    }
    tb_printf(t, "microrm_store_commit_duration_seconds_sum %.6f\n"
                 "microrm_store_commit_duration_seconds_count %llu\n",
              (double)atomic_load(&m->commit_sum_us) / 1e6, (unsigned long long)cum);
    tb_printf(t, "# HELP microrm_store_writes_per_commit User writes served by one commit (one sync).\n"
                 "# TYPE microrm_store_writes_per_commit histogram\n");
    cum = 0;
    for (int b = 0; b < 10; b++) {
        cum += atomic_load(&m->batch_bucket[b]);
        if (b < 9)
            tb_printf(t, "microrm_store_writes_per_commit_bucket{le=\"%d\"} %llu\n", 1 << b,
                      (unsigned long long)cum);
        else
            tb_printf(t, "microrm_store_writes_per_commit_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    tb_printf(t, "microrm_store_writes_per_commit_sum %llu\nmicrorm_store_writes_per_commit_count %llu\n",
              (unsigned long long)atomic_load(&m->writes_committed), (unsigned long long)cum);
    tb_printf(t, "# HELP microrm_store_syncs_total Group commits (each one sync under strict durability), by result.\n"
                 "# TYPE microrm_store_syncs_total counter\n"
                 "microrm_store_syncs_total{result=\"ok\"} %llu\n"
                 "microrm_store_syncs_total{result=\"failed\"} %llu\n",
              (unsigned long long)atomic_load(&m->commits_ok), (unsigned long long)atomic_load(&m->commits_failed));
}

static void render_routing(textbuf *t, metrics *m, const metrics_gauges *g)
{
    counter(t, "microrm_feedback_total", "Feedbacks applied (acknowledged).", atomic_load(&m->feedback_total));
    counter(t, "microrm_feedback_correct_total",
            "Feedbacks the user's routing already ranked right before learning from them (prequential).",
            atomic_load(&m->feedback_correct));
    tb_printf(t, "# HELP microrm_feedback_logloss_sum Sum of -log P(chosen > rejected) before each update.\n"
                 "# TYPE microrm_feedback_logloss_sum counter\nmicrorm_feedback_logloss_sum %.6f\n",
              (double)atomic_load(&m->feedback_logloss_micro) / 1e6);
    counter(t, "microrm_user_resets_total", "User states trained against another model, reset to the prior.",
            atomic_load(&m->user_resets));
    counter(t, "microrm_idempotent_replays_total", "Feedback retries answered without applying them again.",
            atomic_load(&m->idempotent_replays));
    counter(t, "microrm_events_stored_total", "Scorings kept for event feedback.", atomic_load(&m->events_stored));
    tb_printf(t, "# HELP microrm_events_evicted_total Events dropped before any feedback, by reason.\n"
                 "# TYPE microrm_events_evicted_total counter\n"
                 "microrm_events_evicted_total{reason=\"ttl\"} %llu\n"
                 "microrm_events_evicted_total{reason=\"memory\"} %llu\n",
              (unsigned long long)atomic_load(&m->events_evicted_ttl),
              (unsigned long long)atomic_load(&m->events_evicted_memory));
    if (!g)
        return;
    gauge(t, "microrm_events_kept", "Events kept for feedback now.", g->events_kept);
    gauge(t, "microrm_events_bytes", "Memory held by kept events.", g->events_bytes);
    gauge(t, "microrm_users_cached", "User states in the memory cache.", g->users_cached);
    if (g->users_stored >= 0)
        gauge(t, "microrm_users_stored", "User states in the store.", g->users_stored);
}

char *metrics_render(metrics *m, const mr_model *model, const metrics_gauges *g)
{
    textbuf t = {.cap = 8192};
    t.p = malloc(t.cap);
    if (!t.p)
        return NULL;
    t.p[0] = '\0';
    render_requests(&t, m);
    render_latency(&t, m);
    tb_printf(&t, "# HELP microrm_http_requests_in_flight Requests being processed.\n"
                  "# TYPE microrm_http_requests_in_flight gauge\n"
                  "microrm_http_requests_in_flight %lld\n",
              (long long)atomic_load(&m->in_flight));
    tb_printf(&t, "# HELP microrm_http_requests_shed_total Requests answered 503 because max_in_flight was reached.\n"
                  "# TYPE microrm_http_requests_shed_total counter\n"
                  "microrm_http_requests_shed_total %llu\n",
              (unsigned long long)atomic_load(&m->shed));
    tb_printf(&t, "# HELP microrm_model_reloads_total Model reloads (SIGHUP), by result.\n"
                  "# TYPE microrm_model_reloads_total counter\n"
                  "microrm_model_reloads_total{result=\"ok\"} %llu\n"
                  "microrm_model_reloads_total{result=\"failed\"} %llu\n",
              (unsigned long long)atomic_load(&m->reloads_ok),
              (unsigned long long)atomic_load(&m->reloads_failed));
    render_routing(&t, m, g);
    render_store(&t, m);
    if (model)
        tb_printf(&t, "# HELP microrm_model_info The served model; the value is always 1.\n"
                      "# TYPE microrm_model_info gauge\n"
                      "microrm_model_info{fingerprint=\"%s\",heads=\"%d\",d=\"%d\",dc=\"%d\","
                      "router=\"%s\",score_mode=\"%s\"} 1\n",
                  model->fingerprint, model->K, model->d, model->dc,
                  mr_router_kind_name(model->router), mr_score_mode_name(model->score_mode));
    if (t.failed) {
        free(t.p);
        return NULL;
    }
    return t.p;
}
