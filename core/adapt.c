/* Stage 2: Hedge targets, router cross-entropy, and the offline epoch loop
 * (omega recomputed once at the start of each epoch and held fixed in it). */
#include "core/adapt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core/mathx.h"
#include "core/rng.h"

void mr_hedge_target(const double *log_pi, const double *L, int K, double tau, double *omega)
{
    double mx = -INFINITY;
    for (int k = 0; k < K; k++) {
        omega[k] = log_pi[k] == -INFINITY ? -INFINITY : log_pi[k] - L[k] / tau;
        if (omega[k] > mx)
            mx = omega[k];
    }
    if (mx == -INFINITY) {
        for (int k = 0; k < K; k++)
            omega[k] = 0.0;
        return;
    }
    double z = 0;
    for (int k = 0; k < K; k++) {
        omega[k] = omega[k] == -INFINITY ? 0.0 : exp(omega[k] - mx);
        z += omega[k];
    }
    for (int k = 0; k < K; k++)
        omega[k] /= z;
}

void mr_head_losses(const float *s, int K, double *L)
{
    for (int k = 0; k < K; k++)
        L[k] = -mr_logsigmoid(s[k]);
}

double mr_route_ce(const double *g, const double *omega, const unsigned char *mask, int K, double *dg)
{
    double lps[MR_MAX_HEADS];
    mr_log_softmax(g, mask, (size_t)K, lps);   /* right for huge logits too */
    double ce = 0;
    for (int k = 0; k < K; k++) {
        if (mask && mask[k]) {
            if (dg)
                dg[k] = 0.0;
            continue;
        }
        double lp = lps[k];
        if (omega[k] > 0)
            ce -= omega[k] * lp;
        if (dg)
            dg[k] = exp(lp) - omega[k];
    }
    return ce;
}

double mr_stage2_loss_grad(const mr_model *m, const float *U, const double *omega, int nb, float *grad,
                           mr_batch_ws *ws)
{
    int K = m->K;
    double g[MR_MAX_HEADS], dg[MR_MAX_HEADS], total = 0;
    mr_router_forward(m, U, nb, 0, ws);
    for (int i = 0; i < nb; i++) {
        for (int k = 0; k < K; k++)
            g[k] = ws->G[(size_t)i * K + k];
        total += mr_route_ce(g, omega + (size_t)i * K, m->mask, K, dg);
        for (int k = 0; k < K; k++)
            ws->dG[(size_t)i * K + k] = (float)(dg[k] / nb);
    }
    if (grad) {
        memset(grad, 0, mr_router_offset(m) * sizeof(float));
        mr_router_backward(m, U, nb, 0, ws, grad);
    }
    return total / nb;
}

void mr_adapt_opts_default(mr_adapt_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->batch = 32;
    o->lr = 1e-3;
    o->tau = 1e-3;
    o->init_uniform = 1;
    o->warmup = 0.05;
}

int mr_adapt_select(const mr_dataset *ds, int budget, uint64_t seed, int64_t **out, int64_t *n_out, mr_error *e)
{
    *out = NULL;
    *n_out = 0;
    if (budget < 0)
        return mr_errorf(e, "budget must be >= 0 (examples per attribute)");
    if (budget > 0 && !ds->attribute)
        return mr_errorf(e, "a budget per attribute needs the dataset's 'attribute' tensor");
    int64_t *sel = malloc((size_t)ds->n * sizeof(int64_t));
    if (!sel)
        return mr_errorf(e, "out of memory");
    int64_t n = 0;
    if (budget == 0) {
        for (int64_t i = 0; i < ds->n; i++)
            sel[n++] = i;
    } else {
        /* shuffle all rows once, then keep the first `budget` of each attribute:
         * the same seed picks the same rows, and a larger budget is a superset */
        int64_t *perm = malloc((size_t)ds->n * sizeof(int64_t));
        int64_t *taken = calloc((size_t)ds->n_attributes, sizeof(int64_t));
        if (!perm || !taken) {
            free(perm);
            free(taken);
            free(sel);
            return mr_errorf(e, "out of memory");
        }
        for (int64_t i = 0; i < ds->n; i++)
            perm[i] = i;
        mr_rng r;
        mr_rng_seed(&r, seed ^ 0xb0d6e7ULL);
        mr_rng_shuffle(&r, perm, ds->n);
        for (int64_t i = 0; i < ds->n; i++) {
            int a = ds->attribute[perm[i]];
            if (taken[a] < budget) {
                taken[a]++;
                sel[n++] = perm[i];
            }
        }
        free(perm);
        free(taken);
    }
    *out = sel;
    *n_out = n;
    return 0;
}

int mr_adapt(mr_model *m, const mr_dataset *ds, const mr_adapt_opts *o, mr_adapt_result *res, mr_error *e)
{
    if (!mr_dataset_has_context(ds))
        return mr_errorf(e, "adapt needs a 'context' tensor [n,dc] (the prompt with the user's context)");
    if (m->d != ds->d || m->dc != ds->dc)
        return mr_errorf(e, "model shape d=%d dc=%d does not match the dataset (d=%d dc=%d)", m->d, m->dc, ds->d,
                         ds->dc);
    if (o->batch < 1 || o->epochs < 1 || !(o->lr > 0) || !(o->tau > 0))
        return mr_errorf(e, "adapt needs batch >= 1, epochs >= 1, lr > 0, tau > 0");
    int64_t *sel = NULL, n = 0;
    if (mr_adapt_select(ds, o->budget, o->seed, &sel, &n, e) < 0)
        return -1;
    int K = m->K, rc = 0;
    size_t r0 = mr_router_offset(m);
    double *L = malloc((size_t)n * (size_t)K * sizeof(double));
    double *omega = malloc((size_t)n * (size_t)K * sizeof(double));
    double *om_b = malloc((size_t)o->batch * (size_t)K * sizeof(double));
    float *grad = malloc(m->n_params * sizeof(float));
    mr_batch_ws ws;
    mr_adamw opt;
    int ws_ok = 0, opt_ok = 0;
    if (!L || !omega || !om_b || !grad) {
        rc = mr_errorf(e, "out of memory for %lld adapt examples", (long long)n);
        goto done;
    }
    if (mr_batch_ws_init(&ws, m, o->batch, e) < 0) {
        rc = -1;
        goto done;
    }
    ws_ok = 1;
    if (mr_adamw_init(&opt, m->n_params - r0, o->weight_decay, e) < 0) {
        rc = -1;
        goto done;
    }
    opt_ok = 1;

    if (o->init_uniform) {
        /* start from uniform weights: zero the output layer (an MLP keeps
         * its stage-1 features, so its first layer still gets gradients) */
        memset(m->r_w, 0, (size_t)m->K * (size_t)mr_router_features(m) * sizeof(float));
        memset(m->r_b, 0, (size_t)m->K * sizeof(float));
    }
    /* heads are frozen: each example's per-head losses are computed once */
    for (int64_t b0 = 0; b0 < n; b0 += o->batch) {
        int nb = (int)(n - b0 < o->batch ? n - b0 : o->batch);
        mr_dataset_gather_diff(ds, sel + b0, nb, ws.D, ws.R);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, K, m->d, 1.0f, ws.D, m->d, m->head_w, m->d, 0.0f,
                    ws.S, K);
        for (int i = 0; i < nb; i++)
            mr_head_losses(ws.S + (size_t)i * K, K, L + (size_t)(b0 + i) * K);
    }

    mr_rng shuffle;
    mr_rng_seed(&shuffle, o->seed ^ 0xada97ULL);
    int64_t *order = malloc((size_t)n * sizeof(int64_t)); /* positions into sel */
    if (!order) {
        rc = mr_errorf(e, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    int64_t per_epoch = (n + o->batch - 1) / o->batch;
    mr_train_status st = {.epochs = o->epochs, .steps = per_epoch * o->epochs};
    int64_t *rows = malloc((size_t)o->batch * sizeof(int64_t));
    if (!rows) {
        free(order);
        rc = mr_errorf(e, "out of memory");
        goto done;
    }
    for (int ep = 0; ep < o->epochs; ep++) {
        /* omega from the router as it stands at the start of the epoch */
        for (int64_t b0 = 0; b0 < n; b0 += o->batch) {
            int nb = (int)(n - b0 < o->batch ? n - b0 : o->batch);
            mr_dataset_gather(ds, MR_COL_CONTEXT, sel + b0, nb, ws.U);
            mr_router_forward(m, ws.U, nb, 0, &ws);
            for (int i = 0; i < nb; i++) {
                double g[MR_MAX_HEADS], lp[MR_MAX_HEADS];
                for (int k = 0; k < K; k++)
                    g[k] = ws.G[(size_t)i * K + k];
                mr_log_softmax(g, m->mask, (size_t)K, lp);
                mr_hedge_target(lp, L + (size_t)(b0 + i) * K, K, o->tau, omega + (size_t)(b0 + i) * K);
            }
        }
        mr_rng_shuffle(&shuffle, order, n);
        double sum = 0;
        st.epoch = ep + 1;
        for (int64_t b0 = 0; b0 < n; b0 += o->batch) {
            int nb = (int)(n - b0 < o->batch ? n - b0 : o->batch);
            for (int i = 0; i < nb; i++) {
                rows[i] = sel[order[b0 + i]];
                memcpy(om_b + (size_t)i * K, omega + (size_t)order[b0 + i] * K, (size_t)K * sizeof(double));
            }
            mr_dataset_gather(ds, MR_COL_CONTEXT, rows, nb, ws.U);
            double ce = mr_stage2_loss_grad(m, ws.U, om_b, nb, grad, &ws);
            if (!isfinite(ce)) {
                rc = mr_errorf(e, "router cross-entropy became %g at epoch %d (lower --lr?)", ce, ep + 1);
                break;
            }
            st.lr = mr_cosine_lr(o->lr, st.step, st.steps, o->warmup);
            mr_adamw_step(&opt, m->params + r0, grad + r0, st.lr);
            sum += ce * nb;
            st.step++;
            st.pairs += nb;
            st.loss = sum / (double)(b0 + nb);
            st.epoch_done = b0 + o->batch >= n;
            if (o->progress && st.epoch_done)
                o->progress(o->progress_ud, &st);
        }
        if (rc < 0)
            break;
        if (res) {
            if (ep == 0)
                res->first_ce = st.loss;
            res->last_ce = st.loss;
        }
    }
    if (res)
        res->examples = n;
    free(rows);
    free(order);
done:
    if (opt_ok)
        mr_adamw_free(&opt);
    if (ws_ok)
        mr_batch_ws_free(&ws);
    free(L);
    free(omega);
    free(om_b);
    free(grad);
    free(sel);
    return rc;
}
