/* Stage 1 training: batched forward/backward of the MiCRo mixture loss and
 * its baselines, AdamW, cosine schedule, and the epoch loop. */
#include "core/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core/mathx.h"
#include "core/rng.h"

static const char *const obj_names[] = {"micro", "single", "static", "shared-base"};

int mr_objective_parse(const char *s, mr_objective *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, obj_names[i])) {
            *out = (mr_objective)i;
            return 0;
        }
    return -1;
}

const char *mr_objective_name(mr_objective o) { return (unsigned)o < 4 ? obj_names[o] : "?"; }

void mr_batch_ws_free(mr_batch_ws *ws)
{
    float **bufs[] = {&ws->D, &ws->R, &ws->U, &ws->S, &ws->G, &ws->Hp, &ws->Hh, &ws->dS, &ws->dG, &ws->dH};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
}

int mr_batch_ws_init(mr_batch_ws *ws, const mr_model *m, int B, mr_error *e)
{
    memset(ws, 0, sizeof *ws);
    ws->B = B;
    size_t b = (size_t)B, H = m->H > 0 ? (size_t)m->H : 1;
    ws->D = malloc(b * (size_t)m->d * sizeof(float));
    ws->R = malloc(b * (size_t)m->d * sizeof(float));
    ws->U = malloc(b * (size_t)m->dc * sizeof(float));
    ws->S = malloc(b * (size_t)m->K * sizeof(float));
    ws->G = malloc(b * (size_t)m->K * sizeof(float));
    ws->dS = malloc(b * (size_t)m->K * sizeof(float));
    ws->dG = malloc(b * (size_t)m->K * sizeof(float));
    ws->Hp = malloc(b * H * sizeof(float));
    ws->Hh = malloc(b * H * sizeof(float));
    ws->dH = malloc(b * H * sizeof(float));
    if (!ws->D || !ws->R || !ws->U || !ws->S || !ws->G || !ws->dS || !ws->dG || !ws->Hp || !ws->Hh || !ws->dH) {
        mr_batch_ws_free(ws);
        return mr_errorf(e, "out of memory for a training batch of %d pairs", B);
    }
    return 0;
}

void mr_router_forward(const mr_model *m, const float *U, int nb, int static_router, mr_batch_ws *ws)
{
    int K = m->K, dc = m->dc, H = m->H;
    for (int i = 0; i < nb; i++)
        memcpy(ws->G + (size_t)i * K, m->r_b, (size_t)K * sizeof(float));
    if (static_router)
        return;
    const float *feat = U;
    int F = dc;
    if (m->router == MR_ROUTER_MLP) {
        for (int i = 0; i < nb; i++)
            memcpy(ws->Hp + (size_t)i * H, m->r1_b, (size_t)H * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, H, dc, 1.0f, U, dc, m->r1_w, dc, 1.0f, ws->Hp, H);
        for (size_t i = 0; i < (size_t)nb * (size_t)H; i++)
            ws->Hh[i] = ws->Hp[i] > 0 ? ws->Hp[i] : 0.0f;
        feat = ws->Hh;
        F = H;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, K, F, 1.0f, feat, F, m->r_w, F, 1.0f, ws->G, K);
}

void mr_forward_batch(const mr_model *m, const float *U, const float *D, int nb, int static_router, mr_batch_ws *ws)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, m->K, m->d, 1.0f, D, m->d, m->head_w, m->d, 0.0f,
                ws->S, m->K);
    mr_router_forward(m, U, nb, static_router, ws);
}

void mr_router_backward(const mr_model *m, const float *U, int nb, int static_router, mr_batch_ws *ws, float *grad)
{
    int K = m->K, dc = m->dc, H = m->H;
    float *g_rw = grad + (m->r_w - m->params);
    float *g_rb = grad + (m->r_b - m->params);
    memset(grad + mr_router_offset(m), 0, (m->n_params - mr_router_offset(m)) * sizeof(float));
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < K; k++)
            g_rb[k] += ws->dG[(size_t)i * K + k];
    if (static_router)
        return;
    if (m->router == MR_ROUTER_LINEAR) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, dc, nb, 1.0f, ws->dG, K, U, dc, 0.0f, g_rw, dc);
        return;
    }
    float *g_w1 = grad + (m->r1_w - m->params);
    float *g_b1 = grad + (m->r1_b - m->params);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, H, nb, 1.0f, ws->dG, K, ws->Hh, H, 0.0f, g_rw, H);
    /* dH[nb,H] = dG W2, through the relu */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, H, K, 1.0f, ws->dG, K, m->r_w, H, 0.0f, ws->dH, H);
    for (size_t i = 0; i < (size_t)nb * (size_t)H; i++)
        if (ws->Hp[i] <= 0)
            ws->dH[i] = 0.0f;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, dc, nb, 1.0f, ws->dH, H, U, dc, 0.0f, g_w1, dc);
    for (int i = 0; i < nb; i++)
        for (int h = 0; h < H; h++)
            g_b1[h] += ws->dH[(size_t)i * H + h];
}

/* Per-pair loss and the gradients w.r.t. s and the router logits, in double.
 * Returns the pair's loss; ds_out, dg_out are scaled by `scale`. */
static double pair_loss(mr_objective obj, double alpha, int K, const float *s, const float *g, double scale,
                        float *ds_out, float *dg_out)
{
    double lp[MR_MAX_HEADS], t[MR_MAX_HEADS], pi[MR_MAX_HEADS], sig[MR_MAX_HEADS];
    if (K < 1 || K > MR_MAX_HEADS)
        return 0.0;
    for (int k = 0; k < K; k++)
        sig[k] = mr_sigmoid(s[k]);
    if (obj == MR_OBJ_SHARED) {
        double loss = 0;
        for (int k = 0; k < K; k++) {
            loss -= mr_logsigmoid(s[k]);
            ds_out[k] = (float)(-(1.0 - sig[k]) * scale / K);
            dg_out[k] = 0.0f;
        }
        return loss / K;
    }
    double gmax = g[0], zsum = 0;
    for (int k = 1; k < K; k++)
        gmax = g[k] > gmax ? g[k] : gmax;
    for (int k = 0; k < K; k++)
        zsum += exp(g[k] - gmax);
    double lse_g = gmax + log(zsum);
    double reg = 0;
    for (int k = 0; k < K; k++) {
        lp[k] = g[k] - lse_g;
        pi[k] = exp(lp[k]);
        reg += pi[k] * lp[k];
        t[k] = lp[k] + mr_logsigmoid(s[k]);
    }
    double tmax = t[0], tsum = 0;
    for (int k = 1; k < K; k++)
        tmax = t[k] > tmax ? t[k] : tmax;
    for (int k = 0; k < K; k++)
        tsum += exp(t[k] - tmax);
    double lse_t = tmax + log(tsum);
    int router_free = obj == MR_OBJ_MICRO || obj == MR_OBJ_STATIC;
    for (int k = 0; k < K; k++) {
        double p = exp(t[k] - lse_t); /* head k's responsibility for this pair */
        ds_out[k] = (float)(-p * (1.0 - sig[k]) * scale);
        dg_out[k] = router_free ? (float)((pi[k] - p + alpha * pi[k] * (lp[k] - reg)) * scale) : 0.0f;
    }
    return -lse_t + (router_free ? alpha * reg : 0.0);
}

double mr_stage1_loss_grad(const mr_model *m, mr_objective obj, double alpha, mr_reg_kind reg, const float *U,
                           const float *D, int nb, float *grad, mr_batch_ws *ws)
{
    int K = m->K;
    int static_router = obj != MR_OBJ_MICRO;
    int batch_reg = reg == MR_REG_BATCH && (obj == MR_OBJ_MICRO || obj == MR_OBJ_STATIC) && alpha > 0;
    mr_forward_batch(m, U, D, nb, static_router, ws);
    double total = 0, scale = 1.0 / nb;
    for (int i = 0; i < nb; i++)
        total += pair_loss(obj, batch_reg ? 0.0 : alpha, K, ws->S + (size_t)i * K, ws->G + (size_t)i * K, scale,
                           ws->dS + (size_t)i * K, ws->dG + (size_t)i * K);
    if (batch_reg) {
        /* alpha * sum_k pibar_k log pibar_k on the batch-mean weights pibar:
         * d/dg_ij = (1/nb) pi_ij (log pibar_j - sum_k pi_ik log pibar_k) */
        double pibar[MR_MAX_HEADS] = {0}, lpb[MR_MAX_HEADS], pi[MR_MAX_HEADS], x[MR_MAX_HEADS];
        for (int i = 0; i < nb; i++) {
            for (int k = 0; k < K; k++)
                x[k] = ws->G[(size_t)i * K + k];
            mr_softmax(x, NULL, (size_t)K, pi);
            for (int k = 0; k < K; k++)
                pibar[k] += pi[k] * scale;
        }
        double R = 0;
        for (int k = 0; k < K; k++) {
            lpb[k] = log(pibar[k] > 1e-300 ? pibar[k] : 1e-300);
            R += pibar[k] * lpb[k];
        }
        total += alpha * R * nb;
        for (int i = 0; i < nb; i++) {
            for (int k = 0; k < K; k++)
                x[k] = ws->G[(size_t)i * K + k];
            mr_softmax(x, NULL, (size_t)K, pi);
            double c = 0;
            for (int k = 0; k < K; k++)
                c += pi[k] * lpb[k];
            for (int k = 0; k < K; k++)
                ws->dG[(size_t)i * K + k] += (float)(alpha * scale * pi[k] * (lpb[k] - c));
        }
    }
    if (!grad)
        return total / nb;

    memset(grad, 0, m->n_params * sizeof(float));
    /* dWh[K,d] = dS^T D; head biases cancel in s and keep a zero gradient */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m->K, m->d, nb, 1.0f, ws->dS, m->K, D, m->d, 0.0f,
                grad + (m->head_w - m->params), m->d);
    if (obj == MR_OBJ_MICRO || obj == MR_OBJ_STATIC)
        mr_router_backward(m, U, nb, static_router, ws, grad);
    return total / nb;
}

static void init_uniform(mr_rng *r, float *w, size_t n, int fan_in)
{
    double a = 1.0 / sqrt((double)fan_in);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * mr_rng_uniform(r) - 1.0) * a);
}

void mr_train_init_params(mr_model *m, mr_objective obj, uint64_t seed)
{
    mr_rng r;
    mr_rng_seed(&r, seed);
    memset(m->params, 0, m->n_params * sizeof(float));
    init_uniform(&r, m->head_w, (size_t)m->K * (size_t)m->d, m->d);
    if (obj != MR_OBJ_MICRO)
        return;
    if (m->router == MR_ROUTER_MLP) {
        init_uniform(&r, m->r1_w, (size_t)m->H * (size_t)m->dc, m->dc);
        init_uniform(&r, m->r_w, (size_t)m->K * (size_t)m->H, m->H);
    } else {
        init_uniform(&r, m->r_w, (size_t)m->K * (size_t)m->dc, m->dc);
    }
}

int mr_adamw_init(mr_adamw *opt, size_t n, double weight_decay, mr_error *e)
{
    memset(opt, 0, sizeof *opt);
    opt->m = calloc(n, sizeof(float));
    opt->v = calloc(n, sizeof(float));
    if (!opt->m || !opt->v) {
        mr_adamw_free(opt);
        return mr_errorf(e, "out of memory for optimiser state (%zu parameters)", n);
    }
    opt->n = n;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = 1e-8;
    opt->weight_decay = weight_decay;
    return 0;
}

void mr_adamw_free(mr_adamw *opt)
{
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

/* The update runs over every parameter each step, so it has to be vector
 * code; compilers keep sqrtf scalar for its errno path, hence intrinsics.
 * Every lane does the same IEEE operations in the same order as the scalar
 * tail (no FMA), so the result is bitwise the same on every path. */
typedef struct {
    float b1, b2, c1, c2, lr, decay, eps;
} adamw_coef;

static void adamw_scalar(size_t i, size_t n, float *p, float *m, float *v, const float *g, const adamw_coef *k)
{
    for (; i < n; i++) {
        m[i] = k->b1 * m[i] + (1.0f - k->b1) * g[i];
        v[i] = k->b2 * v[i] + (1.0f - k->b2) * g[i] * g[i];
        p[i] = p[i] * k->decay - k->lr * (m[i] * k->c1) / (sqrtf(v[i] * k->c2) + k->eps);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx"))) static void adamw_avx(size_t n, float *p, float *m, float *v, const float *g,
                                                     const adamw_coef *k)
{
    const __m256 b1 = _mm256_set1_ps(k->b1), b2 = _mm256_set1_ps(k->b2), nb1 = _mm256_set1_ps(1.0f - k->b1),
                 nb2 = _mm256_set1_ps(1.0f - k->b2), c1 = _mm256_set1_ps(k->c1), c2 = _mm256_set1_ps(k->c2),
                 lr = _mm256_set1_ps(k->lr), decay = _mm256_set1_ps(k->decay), eps = _mm256_set1_ps(k->eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(nb1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(nb2, gi), gi));
        __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, c2)), eps);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(lr, _mm256_mul_ps(mi, c1)), den);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), decay), step));
    }
    adamw_scalar(i, n, p, m, v, g, k);
}

static void adamw_sse(size_t n, float *p, float *m, float *v, const float *g, const adamw_coef *k)
{
    const __m128 b1 = _mm_set1_ps(k->b1), b2 = _mm_set1_ps(k->b2), nb1 = _mm_set1_ps(1.0f - k->b1),
                 nb2 = _mm_set1_ps(1.0f - k->b2), c1 = _mm_set1_ps(k->c1), c2 = _mm_set1_ps(k->c2),
                 lr = _mm_set1_ps(k->lr), decay = _mm_set1_ps(k->decay), eps = _mm_set1_ps(k->eps);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 gi = _mm_loadu_ps(g + i);
        __m128 mi = _mm_add_ps(_mm_mul_ps(b1, _mm_loadu_ps(m + i)), _mm_mul_ps(nb1, gi));
        __m128 vi = _mm_add_ps(_mm_mul_ps(b2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(nb2, gi), gi));
        __m128 den = _mm_add_ps(_mm_sqrt_ps(_mm_mul_ps(vi, c2)), eps);
        __m128 step = _mm_div_ps(_mm_mul_ps(lr, _mm_mul_ps(mi, c1)), den);
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        _mm_storeu_ps(p + i, _mm_sub_ps(_mm_mul_ps(_mm_loadu_ps(p + i), decay), step));
    }
    adamw_scalar(i, n, p, m, v, g, k);
}

static void adamw_kernel(size_t n, float *p, float *m, float *v, const float *g, const adamw_coef *k)
{
    if (__builtin_cpu_supports("avx"))
        adamw_avx(n, p, m, v, g, k);
    else
        adamw_sse(n, p, m, v, g, k);
}
#else
static void adamw_kernel(size_t n, float *p, float *m, float *v, const float *g, const adamw_coef *k)
{
    adamw_scalar(0, n, p, m, v, g, k);
}
#endif

void mr_adamw_step(mr_adamw *opt, float *params, const float *grad, double lr)
{
    opt->t++;
    adamw_coef k = {
        .b1 = (float)opt->beta1,
        .b2 = (float)opt->beta2,
        .c1 = (float)(1.0 / (1.0 - pow(opt->beta1, (double)opt->t))),
        .c2 = (float)(1.0 / (1.0 - pow(opt->beta2, (double)opt->t))),
        .lr = (float)lr,
        .decay = (float)(1.0 - lr * opt->weight_decay),
        .eps = (float)opt->eps,
    };
    adamw_kernel(opt->n, params, opt->m, opt->v, grad, &k);
}

double mr_cosine_lr(double lr, int64_t step, int64_t total, double warmup)
{
    int64_t w = (int64_t)ceil(warmup * (double)total);
    if (step < w)
        return lr * (double)(step + 1) / (double)w;
    if (total <= w)
        return lr;
    double progress = (double)(step - w) / (double)(total - w);
    return lr * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}

void mr_train_opts_default(mr_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->objective = MR_OBJ_MICRO;
    o->epochs = 1;
    o->batch = 32;
    o->lr = 2e-3;
    o->alpha = 0.5;
    o->weight_decay = 0.0;
    o->warmup = 0.05;
    o->seed = 0;
    o->progress_every = 50;
}

int mr_train(mr_model *m, const mr_dataset *ds, const mr_train_opts *o, mr_train_result *res, mr_error *e)
{
    if (m->d != ds->d || m->dc != ds->dc)
        return mr_errorf(e, "model shape d=%d dc=%d does not match the dataset (d=%d dc=%d)", m->d, m->dc, ds->d,
                         ds->dc);
    if (o->batch < 1 || o->epochs < 1 || !(o->lr > 0) || !(o->alpha >= 0))
        return mr_errorf(e, "training needs batch >= 1, epochs >= 1, lr > 0, alpha >= 0");
    if (o->objective == MR_OBJ_SINGLE && m->K != 1)
        return mr_errorf(e, "the single baseline has K = 1 (got K = %d)", m->K);
    if (o->objective != MR_OBJ_MICRO && m->router != MR_ROUTER_LINEAR)
        return mr_errorf(e, "baseline %s has an input-independent router: use the linear router kind",
                         mr_objective_name(o->objective));
    mr_batch_ws ws;
    mr_adamw opt;
    float *grad = malloc(m->n_params * sizeof(float));
    int64_t *idx = malloc((size_t)ds->n * sizeof(int64_t));
    if (!grad || !idx) {
        free(grad);
        free(idx);
        return mr_errorf(e, "out of memory for training (%lld pairs)", (long long)ds->n);
    }
    if (mr_batch_ws_init(&ws, m, o->batch, e) < 0) {
        free(grad);
        free(idx);
        return -1;
    }
    if (mr_adamw_init(&opt, m->n_params, o->weight_decay, e) < 0) {
        mr_batch_ws_free(&ws);
        free(grad);
        free(idx);
        return -1;
    }
    mr_train_init_params(m, o->objective, o->seed);
    mr_rng shuffle;
    mr_rng_seed(&shuffle, o->seed ^ 0x5eed5eed5eedULL);
    for (int64_t i = 0; i < ds->n; i++)
        idx[i] = i;

    int64_t per_epoch = (ds->n + o->batch - 1) / o->batch;
    mr_train_status st = {.epochs = o->epochs, .steps = per_epoch * o->epochs};
    int every = o->progress_every > 0 ? o->progress_every : 1;
    int rc = 0;
    for (int ep = 0; ep < o->epochs; ep++) {
        mr_rng_shuffle(&shuffle, idx, ds->n);
        double sum = 0;
        int64_t seen = 0;
        st.epoch = ep + 1;
        for (int64_t b0 = 0; b0 < ds->n; b0 += o->batch) {
            int nb = (int)(ds->n - b0 < o->batch ? ds->n - b0 : o->batch);
            mr_dataset_gather_diff(ds, idx + b0, nb, ws.D, ws.R);
            mr_dataset_gather(ds, MR_COL_PROMPT, idx + b0, nb, ws.U);
            double loss = mr_stage1_loss_grad(m, o->objective, o->alpha, o->reg, ws.U, ws.D, nb, grad, &ws);
            if (!isfinite(loss)) {
                rc = mr_errorf(e, "loss became %g at epoch %d step %lld (lower --lr?)", loss, ep + 1,
                               (long long)st.step);
                goto done;
            }
            st.lr = mr_cosine_lr(o->lr, st.step, st.steps, o->warmup);
            mr_adamw_step(&opt, m->params, grad, st.lr);
            sum += loss * nb;
            seen += nb;
            st.step++;
            st.pairs += nb;
            st.loss = sum / (double)seen;
            st.epoch_done = b0 + o->batch >= ds->n;
            if (o->progress && (st.step % every == 0 || st.epoch_done))
                o->progress(o->progress_ud, &st);
        }
        if (res) {
            if (ep == 0)
                res->first_epoch_loss = st.loss;
            res->last_epoch_loss = st.loss;
            res->steps = st.step;
        }
    }
done:
    mr_adamw_free(&opt);
    mr_batch_ws_free(&ws);
    free(grad);
    free(idx);
    return rc;
}
