/* Parse time of the two /score bodies (context + 4 responses, d = 3072,
 * N(0, 0.5^2) float32 values: JSON number arrays in shortest form, and
 * base64): api/score_request vs jansson's json_loadb (plus the walk into
 * floats for the arrays). Prints the median (and minimum) over runs of
 * ms/body, and the median ns/number.
 *
 *     parse_bench [runs=31]
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/score_request.h"

enum { D = 3072, R = 4, NUMBERS = D * (R + 1) };

typedef struct {
    char *b;
    size_t n, cap;
} sbuf;

static void put(sbuf *s, const char *t, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->b = realloc(s->b, s->cap);
        if (!s->b) {
            perror("realloc");
            exit(1);
        }
    }
    memcpy(s->b + s->n, t, n);
    s->n += n;
    s->b[s->n] = 0;
}

static uint64_t rs = 1;
static double uniform(void)
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}

static float gauss(void)
{
    return (float)(0.5 * sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform()));
}

static void shortest(float x, char *buf)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, 32, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x)
            return;
    }
}

static void b64(sbuf *s, const float *v, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = (const uint8_t *)v;
    size_t nb = n * 4;
    put(s, "\"", 1);
    for (size_t i = 0; i < nb; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < nb ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < nb ? p[i + 2] : 0);
        char q[4] = { a[w >> 18 & 63], a[w >> 12 & 63], i + 1 < nb ? a[w >> 6 & 63] : '=',
                      i + 2 < nb ? a[w & 63] : '=' };
        put(s, q, 4);
    }
    put(s, "\"", 1);
}

static void body(sbuf *s, float (*v)[D], int base64)
{
    char num[40];
    put(s, "{\"context\": ", 12);
    for (int r = 0; r <= R; r++) {
        if (r == 1)
            put(s, ", \"responses\": [", 16);
        else if (r > 1)
            put(s, ", ", 2);
        if (base64) {
            b64(s, v[r], D);
            continue;
        }
        put(s, "[", 1);
        for (int i = 0; i < D; i++) {
            if (i)
                put(s, ", ", 2);
            shortest(v[r][i], num);
            put(s, num, strlen(num));
        }
        put(s, "]", 1);
    }
    put(s, "]}", 2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* jansson baseline: load the tree and walk the number arrays into floats. */
static int jansson_parse(const sbuf *s, float *out)
{
    json_error_t e;
    json_t *j = json_loadb(s->b, s->n, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return -1;
    json_t *c = json_object_get(j, "context");
    size_t k = 0;
    if (json_is_array(c))
        for (size_t i = 0; i < json_array_size(c); i++)
            out[k++] = (float)json_number_value(json_array_get(c, i));
    json_t *rs_ = json_object_get(j, "responses");
    for (size_t r = 0; r < json_array_size(rs_); r++) {
        json_t *a = json_array_get(rs_, r);
        for (size_t i = 0; i < json_array_size(a); i++)
            out[k++] = (float)json_number_value(json_array_get(a, i));
    }
    json_decref(j);
    return 0;
}

/* Median (and, in *best, the minimum) ms per parse over runs. */
static double median_ms(const sbuf *s, int which, int runs, float *scratch, double *best)
{
    const mr_score_limits lim = { .d = D, .dc = D, .max_responses = 64, .max_batch = 64, .max_pairs = 64 };
    double *t = malloc((size_t)runs * sizeof *t);
    int reps = which ? 3 : 20;
    for (int k = 0; k < runs; k++) {
        double t0 = now();
        for (int i = 0; i < reps; i++) {
            if (which == 0) {
                mr_score_body b;
                api_error err;
                if (mr_parse_score_body(s->b, s->n, &lim, &b, &err)) {
                    fprintf(stderr, "parse failed: %s\n", err.message);
                    exit(1);
                }
                mr_score_body_free(&b);
            } else if (jansson_parse(s, scratch)) {
                fprintf(stderr, "jansson failed\n");
                exit(1);
            }
        }
        t[k] = (now() - t0) / reps * 1e3;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp);
    double m = t[runs / 2];
    *best = t[0];
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 31;
    if (runs < 1)
        runs = 1;
    static float v[R + 1][D], scratch[NUMBERS];
    for (int r = 0; r <= R; r++)
        for (int i = 0; i < D; i++)
            v[r][i] = gauss();
    sbuf js = { 0 }, bs = { 0 };
    body(&js, v, 0);
    body(&bs, v, 1);

    printf("parse_bench: context + %d responses, d = %d (%d numbers), median of %d runs\n", R, D, NUMBERS, runs);
    printf("%-28s %8s %9s %9s %10s\n", "body / parser", "KB", "ms/body", "(min)", "ns/number");
    static const struct { const char *name; int b64, jansson; } rows[] = {
        { "json arrays / microrm", 0, 0 },
        { "json arrays / jansson", 0, 1 },
        { "base64 / microrm", 1, 0 },
        { "base64 / jansson (tree)", 1, 1 },
    };
    for (int i = 0; i < 4; i++) {
        const sbuf *b = rows[i].b64 ? &bs : &js;
        double best, m = median_ms(b, rows[i].jansson, runs, scratch, &best);
        printf("%-28s %8.1f %9.4f %9.4f %10.1f\n", rows[i].name, (double)b->n / 1024.0, m, best, m * 1e6 / NUMBERS);
    }
    free(js.b);
    free(bs.b);
    return 0;
}
