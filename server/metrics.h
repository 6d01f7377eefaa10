/* Process metrics, updated lock-free from the HTTP threads and rendered in
 * the Prometheus text format 0.0.4 for GET /metrics. No label ever carries a
 * user id or any other client-chosen string. */
#ifndef MICRORM_SERVER_METRICS_H
#define MICRORM_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/routes.h"
#include "core/model.h"

#define METRICS_MAX_ENDPOINTS 16    /* the routes, plus one slot for unmatched paths */
#define METRICS_N_STATUS 14
#define METRICS_N_BUCKETS 15

typedef struct {
    atomic_uint_fast64_t requests[METRICS_MAX_ENDPOINTS][METRICS_N_STATUS];
    atomic_uint_fast64_t latency_bucket[METRICS_MAX_ENDPOINTS][METRICS_N_BUCKETS];
    atomic_uint_fast64_t latency_sum_us[METRICS_MAX_ENDPOINTS];
    atomic_uint_fast64_t latency_count[METRICS_MAX_ENDPOINTS];
    atomic_int_fast64_t in_flight;
    atomic_uint_fast64_t shed;                     /* answered 503 for max_in_flight */
    atomic_uint_fast64_t reloads_ok, reloads_failed;

    /* online routing (prequential: each feedback scored before it is applied) */
    atomic_uint_fast64_t feedback_total, feedback_correct;
    atomic_uint_fast64_t feedback_logloss_micro;   /* sum of log-losses, in 1e-6 */
    atomic_uint_fast64_t user_resets;              /* states from another model reset */
    atomic_uint_fast64_t idempotent_replays;

    /* the store's group commits */
    atomic_uint_fast64_t commits_ok, commits_failed, writes_committed;
    atomic_uint_fast64_t commit_bucket[METRICS_N_BUCKETS];
    atomic_uint_fast64_t commit_sum_us;
    atomic_uint_fast64_t batch_bucket[10];         /* writes per commit: 1,2,4,..,256,+Inf */

    /* events kept for feedback */
    atomic_uint_fast64_t events_stored, events_evicted_ttl, events_evicted_memory;
} metrics;

/* Gauges read when rendering, from the parts that own them. */
typedef struct {
    long long users_cached;
    long long users_stored;      /* -1 when unknown */
    long long events_kept;
    long long events_bytes;
} metrics_gauges;

void metrics_init(metrics *m);

/* endpoint: an api_routes index, or -1 for requests that matched no route. */
void metrics_record(metrics *m, int endpoint, int status, uint64_t latency_us);

void metrics_record_commit(metrics *m, bool ok, size_t writes, uint64_t latency_us);
void metrics_record_feedback(metrics *m, unsigned n, unsigned correct, double logloss);

/* The whole exposition (malloc'd), with the served model's info gauge. */
char *metrics_render(metrics *m, const mr_model *model, const metrics_gauges *g);

#endif
