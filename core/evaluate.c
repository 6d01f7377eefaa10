/* Evaluation: two passes over the dataset, the first for the population-
 * average router weights (the static mixture), the second for accuracies. */
#include "core/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mathx.h"
#include "core/train.h"

void mr_eval_result_free(mr_eval_result *r)
{
    free(r->count);
    free(r->head);
    free(r->best_head);
    free(r->best_index);
    free(r->static_mix);
    free(r->prompt_routed);
    free(r->routed);
    free(r->static_weights);
    memset(r, 0, sizeof *r);
}

static double mixture_p(const double *pi, const float *s, int K)
{
    double p = 0;
    for (int k = 0; k < K; k++)
        if (pi[k] > 0)
            p += pi[k] * mr_sigmoid(s[k]);
    return p;
}

static double hit(double margin) { return margin > 0 ? 1.0 : margin == 0 ? 0.5 : 0.0; }

static void weights(const mr_model *m, const float *g, double *pi)
{
    double x[MR_MAX_HEADS];
    for (int k = 0; k < m->K; k++)
        x[k] = g[k];
    mr_softmax(x, m->mask, (size_t)m->K, pi);
}

int mr_evaluate(const mr_model *m, const mr_dataset *ds, mr_eval_result *r, mr_error *e)
{
    memset(r, 0, sizeof *r);
    if (m->d != ds->d || m->dc != ds->dc)
        return mr_errorf(e, "model shape d=%d dc=%d does not match the dataset (d=%d dc=%d)", m->d, m->dc, ds->d,
                         ds->dc);
    int K = m->K, A = ds->attribute ? ds->n_attributes : 0, rows = A + 1;
    r->K = K;
    r->rows = rows;
    r->by_attribute = A > 0;
    r->has_context = mr_dataset_has_context(ds);
    r->names = (const char *const *)ds->attribute_names;
    r->count = calloc((size_t)rows, sizeof(int64_t));
    r->head = calloc((size_t)rows * (size_t)K, sizeof(double));
    r->best_head = calloc((size_t)rows, sizeof(double));
    r->best_index = calloc((size_t)rows, sizeof(int));
    r->static_mix = calloc((size_t)rows, sizeof(double));
    r->prompt_routed = calloc((size_t)rows, sizeof(double));
    r->routed = calloc((size_t)rows, sizeof(double));
    r->static_weights = calloc((size_t)K, sizeof(double));
    const int B = 256;
    mr_batch_ws ws, wc;
    int64_t idx[256];
    if (!r->count || !r->head || !r->best_head || !r->best_index || !r->static_mix || !r->prompt_routed ||
        !r->routed || !r->static_weights) {
        mr_eval_result_free(r);
        return mr_errorf(e, "out of memory for evaluation");
    }
    if (mr_batch_ws_init(&ws, m, B, e) < 0) {
        mr_eval_result_free(r);
        return -1;
    }
    if (mr_batch_ws_init(&wc, m, B, e) < 0) {
        mr_batch_ws_free(&ws);
        mr_eval_result_free(r);
        return -1;
    }
    double pi[MR_MAX_HEADS], pc[MR_MAX_HEADS];
    for (int64_t b0 = 0; b0 < ds->n; b0 += B) {
        int nb = (int)(ds->n - b0 < B ? ds->n - b0 : B);
        for (int i = 0; i < nb; i++)
            idx[i] = b0 + i;
        mr_dataset_gather(ds, MR_COL_PROMPT, idx, nb, ws.U);
        mr_router_forward(m, ws.U, nb, 0, &ws);
        for (int i = 0; i < nb; i++) {
            weights(m, ws.G + (size_t)i * K, pi);
            for (int k = 0; k < K; k++)
                r->static_weights[k] += pi[k] / (double)ds->n;
        }
    }
    double nll = 0;
    for (int64_t b0 = 0; b0 < ds->n; b0 += B) {
        int nb = (int)(ds->n - b0 < B ? ds->n - b0 : B);
        for (int i = 0; i < nb; i++)
            idx[i] = b0 + i;
        mr_dataset_gather_diff(ds, idx, nb, ws.D, ws.R);
        mr_dataset_gather(ds, MR_COL_PROMPT, idx, nb, ws.U);
        mr_forward_batch(m, ws.U, ws.D, nb, 0, &ws);
        if (r->has_context) {
            mr_dataset_gather(ds, MR_COL_CONTEXT, idx, nb, wc.U);
            mr_router_forward(m, wc.U, nb, 0, &wc);
        }
        for (int i = 0; i < nb; i++) {
            const float *s = ws.S + (size_t)i * K;
            int row = A > 0 ? ds->attribute[b0 + i] : 0;
            weights(m, ws.G + (size_t)i * K, pi);
            weights(m, (r->has_context ? wc.G : ws.G) + (size_t)i * K, pc);
            double p_ctx = mixture_p(pc, s, K);
            r->count[row]++;
            for (int k = 0; k < K; k++)
                r->head[(size_t)row * K + k] += hit(s[k]);
            r->static_mix[row] += hit(mixture_p(r->static_weights, s, K) - 0.5);
            r->prompt_routed[row] += hit(mixture_p(pi, s, K) - 0.5);
            r->routed[row] += hit(p_ctx - 0.5);
            nll -= log(p_ctx > 1e-300 ? p_ctx : 1e-300);
        }
    }
    r->nll_routed = nll / (double)ds->n;
    mr_batch_ws_free(&ws);
    mr_batch_ws_free(&wc);

    /* per-row means; the summary row is the mean over attributes (as the
     * paper's "Average" column), or over all pairs without attributes */
    int last = rows - 1;
    int used = 0;
    for (int a = 0; a < (A > 0 ? A : 1); a++) {
        int64_t c = r->count[a];
        if (!c) {
            r->best_index[a] = -1;
            continue;
        }
        used++;
        r->best_index[a] = 0;
        for (int k = 0; k < K; k++) {
            r->head[(size_t)a * K + k] /= (double)c;
            if (r->head[(size_t)a * K + k] > r->head[(size_t)a * K + r->best_index[a]])
                r->best_index[a] = k;
        }
        r->best_head[a] = r->head[(size_t)a * K + r->best_index[a]];
        r->static_mix[a] /= (double)c;
        r->prompt_routed[a] /= (double)c;
        r->routed[a] /= (double)c;
    }
    if (A == 0)  /* a single row: it is the summary */
        return 0;
    r->count[last] = ds->n;
    r->best_index[last] = -1;
    for (int a = 0; a < A; a++) {
        if (!r->count[a])
            continue;
        for (int k = 0; k < K; k++)
            r->head[(size_t)last * K + k] += r->head[(size_t)a * K + k] / used;
        r->best_head[last] += r->best_head[a] / used;
        r->static_mix[last] += r->static_mix[a] / used;
        r->prompt_routed[last] += r->prompt_routed[a] / used;
        r->routed[last] += r->routed[a] / used;
    }
    return 0;
}
