/* Per-request CPU of POST /score without HTTP: the handler (parse, score,
 * answer) on a body file, single-threaded, median of runs. Tells how much of
 * a request's cost is ours and how much is the HTTP server's.
 *   handler_bench MODEL BODY [iterations] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/handlers.h"
#include "api/score_request.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: handler_bench MODEL BODY [iterations]\n");
        return 2;
    }
    int iters = argc > 3 ? atoi(argv[3]) : 2000;
    openblas_set_num_threads(1);
    mr_error e = {{0}};
    mr_model *m = mr_model_load(argv[1], &e);
    size_t len = 0;
    char *body = read_file(argv[2], &len);
    if (!m || !body || iters < 1) {
        fprintf(stderr, "handler_bench: %s\n", m ? "cannot read the body" : e.msg);
        return 1;
    }
    mr_config cfg;
    if (mr_config_defaults(&cfg, &e) != 0)
        return 1;
    api_ctx ctx = {.model = m, .cfg = &cfg, .ready = true};
    api_request req = {.method = "POST", .path = "/score", .body = body, .body_len = len};
    mr_score_limits lim = {m->d, m->dc, cfg.max_responses, cfg.max_batch, cfg.max_pairs};

    enum { RUNS = 7 };
    double handler[RUNS], parse[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++) {
            api_response res = {0};
            api_handle_score(&ctx, &req, &res);
            if (res.status != 200) {
                fprintf(stderr, "handler_bench: status %d: %s\n", res.status, res.body);
                return 1;
            }
            free(res.body);
        }
        handler[r] = (now_us() - t0) / iters;
        t0 = now_us();
        for (int i = 0; i < iters; i++) {
            mr_score_body b;
            api_error err;
            if (mr_parse_score_body(body, len, &lim, &b, &err) != 0)
                return 1;
            mr_score_body_free(&b);
        }
        parse[r] = (now_us() - t0) / iters;
    }
    qsort(handler, RUNS, sizeof handler[0], cmp_double);
    qsort(parse, RUNS, sizeof parse[0], cmp_double);
    printf("%s: %zu bytes  handler %.1f us/request (parse %.1f, score + answer %.1f)  [median of %d x %d]\n",
           argv[2], len, handler[RUNS / 2], parse[RUNS / 2], handler[RUNS / 2] - parse[RUNS / 2], RUNS, iters);
    mr_config_free(&cfg);
    mr_model_free(m);
    free(body);
    return 0;
}
