/* Synthetic mixture-of-Bradley-Terry preference data (see synth.h). */
#include "core/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/mathx.h"
#include "core/rng.h"

static const char *const criteria[] = {"helpfulness", "harmlessness", "honesty",   "conciseness", "detail",
                                       "humor",       "formality",    "creativity", "empathy",     "accuracy"};

const char *mr_synth_attribute_name(int i, char *buf, int len)
{
    if (i >= 0 && i < (int)(sizeof criteria / sizeof criteria[0]))
        return criteria[i];
    snprintf(buf, (size_t)len, "attr%d", i);
    return buf;
}

void mr_synth_opts_default(mr_synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_train = 20000;
    o->n_test = 5000;
    o->d = o->dc = 64;
    o->K = 4;
    o->A = 8;
    o->topics = 8;
    o->margin = 3.0;
    o->label_noise = 0.05;
    o->context_strength = 1.0;
    o->context_noise = 1.0;
    o->reversal = 0.3;
    o->topic_concentration = 1.5;
    o->focus = 2.0;
    o->seed = 0;
    o->dtype = ST_F32;
}

typedef struct {
    int K, A, T, d, dc;
    double *V;      /* [K,d] directions */
    double *C;      /* [T,dc] topic centres */
    double *P;      /* [T,A] attribute distribution per topic */
    double *E;      /* [A,dc] attribute embeddings */
} world;

static void world_free(world *w)
{
    free(w->V);
    free(w->C);
    free(w->P);
    free(w->E);
}

static int check_opts(const mr_synth_opts *o, mr_error *e)
{
    if (o->d < 1 || o->dc < 1 || o->d > 65536 || o->dc > 65536)
        return mr_errorf(e, "synth: d and dc must be in [1, 65536]");
    if (o->K < 1 || o->K > 256)
        return mr_errorf(e, "synth: --heads (true subpopulations) must be in [1, 256]");
    if (o->A < 1 || o->A > MR_SYNTH_MAX_ATTR)
        return mr_errorf(e, "synth: --attributes must be in [1, %d]", MR_SYNTH_MAX_ATTR);
    if (o->topics < 1 || o->topics > 4096)
        return mr_errorf(e, "synth: --topics must be in [1, 4096]");
    if (o->n_train < 1 || o->n_test < 1)
        return mr_errorf(e, "synth: --n and --test-n must be >= 1");
    if (!(o->margin > 0) || !(o->label_noise >= 0 && o->label_noise <= 0.5) || !(o->reversal >= 0 && o->reversal <= 1) ||
        !(o->context_noise >= 0) || !(o->context_strength >= 0) || !(o->topic_concentration >= 0) || !(o->focus > 0))
        return mr_errorf(e, "synth: need margin > 0, 0 <= label-noise <= 0.5, 0 <= reversal <= 1, "
                            "context noise/strength and concentration >= 0, focus > 0");
    return 0;
}

static int world_make(world *w, const mr_synth_opts *o, mr_error *e)
{
    memset(w, 0, sizeof *w);
    w->K = o->K;
    w->A = o->A;
    w->T = o->topics;
    w->d = o->d;
    w->dc = o->dc;
    w->V = malloc((size_t)o->K * (size_t)o->d * sizeof(double));
    w->C = malloc((size_t)o->topics * (size_t)o->dc * sizeof(double));
    w->P = malloc((size_t)o->topics * (size_t)o->A * sizeof(double));
    w->E = malloc((size_t)o->A * (size_t)o->dc * sizeof(double));
    if (!w->V || !w->C || !w->P || !w->E) {
        world_free(w);
        return mr_errorf(e, "synth: out of memory");
    }
    mr_rng r;
    mr_rng_seed(&r, o->seed);
    /* directions: Gram-Schmidt while K <= d, so heads can be matched cleanly */
    for (int k = 0; k < o->K; k++) {
        double *v = w->V + (size_t)k * o->d;
        for (int j = 0; j < o->d; j++)
            v[j] = mr_rng_normal(&r);
        for (int q = 0; q < k && k < o->d; q++) {
            const double *u = w->V + (size_t)q * o->d;
            double dot = 0;
            for (int j = 0; j < o->d; j++)
                dot += u[j] * v[j];
            for (int j = 0; j < o->d; j++)
                v[j] -= dot * u[j];
        }
        double nrm = 0;
        for (int j = 0; j < o->d; j++)
            nrm += v[j] * v[j];
        nrm = sqrt(nrm);
        for (int j = 0; j < o->d; j++)
            v[j] = nrm > 0 ? v[j] / nrm : 0;
    }
    for (size_t i = 0; i < (size_t)o->topics * (size_t)o->dc; i++)
        w->C[i] = mr_rng_normal(&r);
    for (int t = 0; t < o->topics; t++) {
        double *p = w->P + (size_t)t * o->A;
        for (int a = 0; a < o->A; a++)
            p[a] = o->topic_concentration * mr_rng_normal(&r);
        mr_softmax(p, NULL, (size_t)o->A, p);
    }
    for (size_t i = 0; i < (size_t)o->A * (size_t)o->dc; i++)
        w->E[i] = mr_rng_normal(&r);
    return 0;
}

int mr_synth_directions(const mr_synth_opts *o, float *v, mr_error *e)
{
    world w;
    if (check_opts(o, e) < 0 || world_make(&w, o, e) < 0)
        return -1;
    for (size_t i = 0; i < (size_t)o->K * (size_t)o->d; i++)
        v[i] = (float)w.V[i];
    world_free(&w);
    return 0;
}

static int sample_cat(mr_rng *r, const double *p, int n)
{
    double x = mr_rng_uniform(r), c = 0;
    for (int i = 0; i < n; i++) {
        c += p[i];
        if (x < c)
            return i;
    }
    return n - 1;
}

typedef struct {
    double *u, *h, *xa, *xb;
    float *fu, *fc, *fa, *fb;
} scratch;

/* One split. rep may be NULL (the training split): only test rows count. */
static int write_split(const world *w, const mr_synth_opts *o, const char *path, int64_t n, uint64_t stream,
                       scratch *sc, mr_synth_report *rep, int64_t *twins, mr_error *e)
{
    char buf[MR_SYNTH_MAX_ATTR][32];
    const char *names[MR_SYNTH_MAX_ATTR];
    for (int a = 0; a < w->A; a++)
        names[a] = mr_synth_attribute_name(a, buf[a], 32);
    mr_dataset_writer wr;
    if (mr_dataset_writer_open(&wr, path, n, w->d, w->dc, true, w->A, names, o->dtype, e) < 0)
        return -1;
    mr_rng r;
    mr_rng_seed(&r, o->seed * 0x9e3779b97f4a7c15ULL + stream);
    int d = w->d, dc = w->dc, K = w->K;
    double eps = o->label_noise;
    int64_t row = 0;
    double sum_ctx = 0, sum_prompt = 0, agree = 0;
    while (row < n) {
        int t = (int)mr_rng_below(&r, (uint64_t)w->T);
        for (int j = 0; j < dc; j++)
            sc->u[j] = w->C[(size_t)t * dc + j] + mr_rng_normal(&r);
        for (int j = 0; j < d; j++) {
            sc->h[j] = mr_rng_normal(&r);
            sc->xa[j] = mr_rng_normal(&r);
            sc->xb[j] = mr_rng_normal(&r);
        }
        int attrs[2], n_rows = 1;
        attrs[0] = sample_cat(&r, w->P + (size_t)t * w->A, w->A);
        int distinct = K > 1 && w->A > 1;
        /* responses differ most along what they are judged on: scale the
         * difference along the judging attribute's direction by `focus` */
        if (o->focus != 1.0) {
            const double *v1 = w->V + (size_t)(attrs[0] % K) * d;
            double diff1 = 0;
            for (int j = 0; j < d; j++)
                diff1 += v1[j] * (sc->xa[j] - sc->xb[j]);
            for (int j = 0; j < d; j++) {
                sc->xa[j] += 0.5 * (o->focus - 1.0) * diff1 * v1[j];
                sc->xb[j] -= 0.5 * (o->focus - 1.0) * diff1 * v1[j];
            }
        }
        if (distinct && n - row >= 2 && mr_rng_uniform(&r) < o->reversal) {
            int a2;
            do
                a2 = (int)mr_rng_below(&r, (uint64_t)w->A);
            while (a2 % K == attrs[0] % K);
            attrs[1] = a2;
            n_rows = 2;
            /* set the pair's difference along the two directions to opposite
             * signs: the same responses, reversed preferences */
            const double *v1 = w->V + (size_t)(attrs[0] % K) * d, *v2 = w->V + (size_t)(a2 % K) * d;
            double diff1 = 0, diff2 = 0;
            for (int j = 0; j < d; j++) {
                diff1 += v1[j] * (sc->xa[j] - sc->xb[j]);
                diff2 += v2[j] * (sc->xa[j] - sc->xb[j]);
            }
            double c1 = fabs(mr_rng_normal(&r)) * sqrt(2.0) * o->focus, c2 = -fabs(mr_rng_normal(&r)) * sqrt(2.0) * o->focus;
            for (int j = 0; j < d; j++) {
                double adj = (c1 - diff1) * v1[j] + (c2 - diff2) * v2[j];
                sc->xa[j] += 0.5 * adj;
                sc->xb[j] -= 0.5 * adj;
            }
            if (twins)
                (*twins)++;
        }
        /* the effective P(a beats b) under each subpopulation */
        double pz[256];
        for (int z = 0; z < K; z++) {
            double s = 0;
            const double *v = w->V + (size_t)z * d;
            for (int j = 0; j < d; j++)
                s += v[j] * (sc->xa[j] - sc->xb[j]);
            double p = mr_sigmoid(o->margin * s);
            pz[z] = (1 - eps) * p + eps * (1 - p);
        }
        double q = 0; /* P(a beats b) knowing the topic only */
        for (int a = 0; a < w->A; a++)
            q += w->P[(size_t)t * w->A + a] * pz[a % K];
        for (int j = 0; j < d; j++) {
            sc->fa[j] = (float)(sc->h[j] + sc->xa[j]);
            sc->fb[j] = (float)(sc->h[j] + sc->xb[j]);
        }
        for (int j = 0; j < dc; j++)
            sc->fu[j] = (float)sc->u[j];
        for (int k = 0; k < n_rows; k++) {
            int a = attrs[k];
            double p = pz[a % K];
            int a_wins = mr_rng_uniform(&r) < p;
            for (int j = 0; j < dc; j++)
                sc->fc[j] = (float)(sc->u[j] + o->context_strength * w->E[(size_t)a * dc + j] +
                                    o->context_noise * mr_rng_normal(&r));
            if (mr_dataset_writer_row(&wr, row, sc->fu, a_wins ? sc->fa : sc->fb, a_wins ? sc->fb : sc->fa, sc->fc,
                                      a, e) < 0) {
                mr_dataset_writer_abort(&wr);
                return -1;
            }
            row++;
            if (rep) {
                double best = p > 0.5 ? p : 1 - p;
                sum_ctx += best;
                rep->bayes_attr[a] += best;
                rep->count_attr[a]++;
                sum_prompt += q > 0.5 ? p : 1 - p;
                agree += (a_wins == (p > 0.5));
            }
        }
    }
    if (rep) {
        rep->bayes_context = sum_ctx / (double)n;
        rep->bayes_prompt = sum_prompt / (double)n;
        rep->empirical_context = agree / (double)n;
        for (int a = 0; a < w->A; a++)
            if (rep->count_attr[a])
                rep->bayes_attr[a] /= (double)rep->count_attr[a];
    }
    return mr_dataset_writer_finish(&wr, e);
}

int mr_synth(const mr_synth_opts *o, const char *train_path, const char *test_path, mr_synth_report *rep,
             mr_error *e)
{
    world w;
    mr_synth_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (check_opts(o, e) < 0 || world_make(&w, o, e) < 0)
        return -1;
    scratch sc;
    int mx = o->d > o->dc ? o->d : o->dc;
    sc.u = malloc((size_t)mx * sizeof(double));
    sc.h = malloc((size_t)mx * sizeof(double));
    sc.xa = malloc((size_t)mx * sizeof(double));
    sc.xb = malloc((size_t)mx * sizeof(double));
    sc.fu = malloc((size_t)mx * sizeof(float));
    sc.fc = malloc((size_t)mx * sizeof(float));
    sc.fa = malloc((size_t)mx * sizeof(float));
    sc.fb = malloc((size_t)mx * sizeof(float));
    int rc;
    if (!sc.u || !sc.h || !sc.xa || !sc.xb || !sc.fu || !sc.fc || !sc.fa || !sc.fb)
        rc = mr_errorf(e, "synth: out of memory");
    else if ((rc = write_split(&w, o, train_path, o->n_train, 1, &sc, NULL, &rep->twins_train, e)) == 0)
        rc = write_split(&w, o, test_path, o->n_test, 2, &sc, rep, NULL, e);
    free(sc.u);
    free(sc.h);
    free(sc.xa);
    free(sc.xb);
    free(sc.fu);
    free(sc.fc);
    free(sc.fa);
    free(sc.fb);
    world_free(&w);
    return rc;
}
