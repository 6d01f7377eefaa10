/* `microrm demo-model`: writes a small random MiCRo model reproducibly, for
 * the server's default start, the examples and the benchmarks. The PRNG is
 * our own (splitmix64 + Box-Muller) so the bytes do not depend on the libc. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/model.h"
#include "core/safetensors.h"

typedef struct {
    uint64_t state;
    double spare;
    int has_spare;
} rng;

static uint64_t splitmix64(rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so log() below is finite. */
static double uniform(rng *r)
{
    return ((double)(splitmix64(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double gauss(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double rad = sqrt(-2.0 * log(uniform(r)));
    double th = 2.0 * M_PI * uniform(r);
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}

static void fill(rng *r, float *p, size_t n, double std)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(gauss(r) * std);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: microrm demo-model --out PATH [--heads K] [--d D] [--dc DC]\n"
            "                          [--router mlp|linear] [--hidden H] [--seed S]\n"
            "                          [--dtype f32|bf16|f16] [--score-mode linear|logsigmoid]\n"
            "\n"
            "Write a random MiCRo model (weights ~ N(0, 1/sqrt(fan_in)), biases ~ N(0, 0.1))\n"
            "as safetensors, byte-for-byte reproducible from the seed.\n"
            "Defaults: --heads 4 --d 64 --dc D --router mlp --hidden 16 --seed 1 --dtype f32.\n"
            "With 4 heads they are named helpfulness, harmlessness, humor, conciseness.\n");
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "microrm demo-model: %s '%s': expected an integer in %d..%d\n", flag, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cmd_demo_model(int argc, char **argv)
{
    const char *out = NULL, *router_s = "mlp", *dtype_s = "f32", *mode_s = "linear";
    int K = 4, d = 64, dc = -1, H = 16;
    uint64_t seed = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "microrm demo-model: %s: unknown option or missing value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--heads"))
            rc = parse_int(a, v, 1, MR_MAX_HEADS, &K);
        else if (!strcmp(a, "--d"))
            rc = parse_int(a, v, 1, 1 << 20, &d);
        else if (!strcmp(a, "--dc"))
            rc = parse_int(a, v, 1, 1 << 20, &dc);
        else if (!strcmp(a, "--hidden"))
            rc = parse_int(a, v, 1, 1 << 20, &H);
        else if (!strcmp(a, "--router"))
            router_s = v;
        else if (!strcmp(a, "--dtype"))
            dtype_s = v;
        else if (!strcmp(a, "--score-mode"))
            mode_s = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "microrm demo-model: --seed '%s': expected a non-negative integer\n", v);
                rc = -1;
            }
        } else {
            fprintf(stderr, "microrm demo-model: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (rc)
            return 2;
    }
    if (!out) {
        fprintf(stderr, "microrm demo-model: --out PATH is required\n");
        usage(stderr);
        return 2;
    }
    if (dc < 0)
        dc = d;
    mr_router_kind kind;
    if (!strcmp(router_s, "mlp"))
        kind = MR_ROUTER_MLP;
    else if (!strcmp(router_s, "linear"))
        kind = MR_ROUTER_LINEAR;
    else {
        fprintf(stderr, "microrm demo-model: --router '%s': expected mlp or linear\n", router_s);
        return 2;
    }
    int dtype;
    if (!strcmp(dtype_s, "f32"))
        dtype = ST_F32;
    else if (!strcmp(dtype_s, "bf16"))
        dtype = ST_BF16;
    else if (!strcmp(dtype_s, "f16"))
        dtype = ST_F16;
    else {
        fprintf(stderr, "microrm demo-model: --dtype '%s': expected f32, bf16 or f16\n", dtype_s);
        return 2;
    }
    mr_score_mode mode;
    if (mr_score_mode_parse(mode_s, &mode)) {
        fprintf(stderr, "microrm demo-model: --score-mode '%s': expected linear or logsigmoid\n", mode_s);
        return 2;
    }

    mr_error err;
    mr_model *m = mr_model_new(K, d, dc, kind, H, &err);
    if (!m) {
        fprintf(stderr, "microrm demo-model: %s\n", err.msg);
        return 2;
    }
    m->score_mode = mode;
    free(m->backbone);
    m->backbone = strdup("microrm-demo");
    static const char *const names4[] = {"helpfulness", "harmlessness", "humor", "conciseness"};
    if (!m->backbone || (K == 4 && mr_model_set_head_names(m, names4, &err))) {
        fprintf(stderr, "microrm demo-model: out of memory\n");
        mr_model_free(m);
        return 1;
    }

    /* Parameters in buffer order, each block from the same stream. */
    rng r = {seed, 0, 0};
    int F = mr_router_features(m);
    fill(&r, m->head_w, (size_t)K * d, 1.0 / sqrt(d));
    fill(&r, m->head_b, (size_t)K, 0.1);
    if (kind == MR_ROUTER_MLP) {
        fill(&r, m->r1_w, (size_t)H * dc, 1.0 / sqrt(dc));
        fill(&r, m->r1_b, (size_t)H, 0.1);
    }
    fill(&r, m->r_w, (size_t)K * F, 1.0 / sqrt(F));
    fill(&r, m->r_b, (size_t)K, 0.1);

    int rc = mr_model_save_dtype(m, out, dtype, &err);
    if (rc)
        fprintf(stderr, "microrm demo-model: %s\n", err.msg);
    else {
        fprintf(stderr, "microrm demo-model: wrote %s (K=%d d=%d dc=%d router=%s H=%d, %zu "
                "parameters, %s)\n", out, K, d, dc, mr_router_kind_name(kind), m->H, m->n_params,
                dtype_s);
    }
    mr_model_free(m);
    return rc ? 1 : 0;
}
