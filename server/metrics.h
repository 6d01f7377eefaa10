/* Process metrics, updated lock-free from the HTTP threads and rendered in
 * the Prometheus text format 0.0.4 for GET /metrics. No label ever carries a
 * user id or any other client-chosen string. */
#ifndef MICRORM_SERVER_METRICS_H
#define MICRORM_SERVER_METRICS_H

#include <stdatomic.h>
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
    atomic_uint_fast64_t reloads_ok, reloads_failed;
} metrics;

void metrics_init(metrics *m);

/* endpoint: an api_routes index, or -1 for requests that matched no route. */
void metrics_record(metrics *m, int endpoint, int status, uint64_t latency_us);

/* The whole exposition (malloc'd), with the served model's info gauge. */
char *metrics_render(metrics *m, const mr_model *model);

#endif
