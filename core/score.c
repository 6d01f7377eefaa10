/* Scoring (DESIGN §1). The heavy part, per-head rewards, is one BLAS call
 * (sgemv for one response, sgemm for many); everything downstream of the
 * K head rewards is tiny and done in double so that weights, rewards and
 * preferences stay finite and accurate whatever the inputs' magnitudes. */
#include "core/score.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/mathx.h"

/* Float32 accumulation can overflow for finite but huge inputs; redo that
 * entry in double and saturate, so that no Inf ever leaves the core. */
static float saturate_row(const float *w, const float *x, int n, float bias)
{
    double s = bias;
    for (int j = 0; j < n; j++)
        s += (double)w[j] * (double)x[j];
    if (!(s == s))
        return 0.0f;          /* only reachable with non-finite inputs */
    if (s > FLT_MAX)
        return FLT_MAX;
    if (s < -FLT_MAX)
        return -FLT_MAX;
    return (float)s;
}

void mr_head_rewards(const mr_model *m, const float *resp, int n, float *heads)
{
    const int K = m->K, d = m->d;
    if (n <= 0)
        return;
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, K, d, 1.0f, m->head_w, d, resp, 1, 0.0f, heads, 1);
    else /* heads[n,K] = resp[n,d] x head_w^T[d,K] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, K, d, 1.0f, resp, d, m->head_w, d,
                    0.0f, heads, K);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            float *h = &heads[(size_t)i * K + k];
            *h += m->head_b[k];
            if (!isfinite(*h))
                *h = saturate_row(m->head_w + (size_t)k * d, resp + (size_t)i * d, d, m->head_b[k]);
        }
}

void mr_router_features_of(const mr_model *m, const float *u, float *feat)
{
    if (m->router == MR_ROUTER_LINEAR) {
        memcpy(feat, u, (size_t)m->dc * sizeof(float));
        return;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, m->H, m->dc, 1.0f, m->r1_w, m->dc, u, 1, 0.0f, feat, 1);
    for (int h = 0; h < m->H; h++) {
        float v = feat[h] + m->r1_b[h];
        if (!isfinite(v))
            v = saturate_row(m->r1_w + (size_t)h * m->dc, u, m->dc, m->r1_b[h]);
        feat[h] = v > 0.0f ? v : 0.0f;
    }
}

void mr_router_logits(const mr_model *m, const float *feat, const float *w, const float *b, double *g)
{
    const int K = m->K, F = mr_router_features(m);
    if (!w)
        w = m->r_w;
    if (!b)
        b = m->r_b;
    /* K <= MR_MAX_HEADS: the logits live on the stack. BLAS in float32 is
     * the fast path (a linear router reads dc = 3072 features per head); a
     * row whose float dot product overflows is redone in double, where a dot
     * product of finite floats is always finite (|x| < 1e77 * F). */
    float g32[MR_MAX_HEADS];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, K, F, 1.0f, w, F, feat, 1, 0.0f, g32, 1);
    for (int k = 0; k < K; k++) {
        double s = g32[k];
        if (!isfinite(g32[k])) {
            const float *row = w + (size_t)k * F;
            s = 0.0;
            for (int j = 0; j < F; j++)
                s += (double)row[j] * (double)feat[j];
        }
        g[k] = s + b[k];
    }
}

void mr_router_weights_from_logits(const mr_model *m, const double *g, const float *beta, double *pi)
{
    double x[MR_MAX_HEADS];
    for (int k = 0; k < m->K; k++)
        x[k] = beta ? g[k] + beta[k] : g[k];
    mr_softmax(x, m->mask, (size_t)m->K, pi);
}

void mr_router_weights(const mr_model *m, const float *feat, const float *w, const float *b,
                       const float *beta, double *pi)
{
    double g[MR_MAX_HEADS];
    mr_router_logits(m, feat, w, b, g);
    mr_router_weights_from_logits(m, g, beta, pi);
}

double mr_reward(const mr_model *m, const double *pi, const float *heads_row)
{
    double r = 0.0;
    for (int k = 0; k < m->K; k++) {
        if (pi[k] == 0.0)
            continue;        /* masked heads contribute nothing, not even 0 * huge */
        r += pi[k] * (m->score_mode == MR_SCORE_LOGSIGMOID ? mr_logsigmoid(heads_row[k])
                                                           : (double)heads_row[k]);
    }
    return r;
}

double mr_preference(const mr_model *m, const double *pi, const float *heads_i, const float *heads_j)
{
    double p = 0.0;
    for (int k = 0; k < m->K; k++)
        if (pi[k] != 0.0)
            p += pi[k] * mr_sigmoid((double)heads_i[k] - (double)heads_j[k]);
    /* The weights sum to 1 only up to rounding: keep P a probability. */
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}
