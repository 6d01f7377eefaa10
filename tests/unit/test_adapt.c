/* Stage 2: the Hedge target against the formula (and at tau = 1e-4), the
 * router cross-entropy gradient by finite differences (linear and MLP, every
 * router parameter), budget selection, and that adapt raises held-out routed
 * accuracy over the stage-1 router. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/adapt.h"
#include "core/dataset.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/rng.h"
#include "core/synth.h"
#include "core/train.h"
#include "tests/unit/run_suite.h"

START_TEST(hedge_matches_formula)
{
    double pi[3] = {0.2, 0.5, 0.3}, L[3] = {0.1, 2.0, 0.7}, lp[3], om[3];
    for (int k = 0; k < 3; k++)
        lp[k] = log(pi[k]);
    double tau = 0.5, z = 0, want[3];
    for (int k = 0; k < 3; k++)
        z += want[k] = pi[k] * exp(-L[k] / tau);
    mr_hedge_target(lp, L, 3, tau, om);
    for (int k = 0; k < 3; k++)
        ck_assert_double_eq_tol(om[k], want[k] / z, 1e-12);
    /* tau = 1e-4: exp(-L/tau) underflows in linear space; in log space the
     * lowest loss takes (almost) everything and nothing is NaN */
    mr_hedge_target(lp, L, 3, 1e-4, om);
    ck_assert_double_eq_tol(om[0], 1.0, 1e-12);
    ck_assert(om[1] >= 0 && om[1] < 1e-12 && om[2] >= 0 && om[2] < 1e-12);
    /* equal losses: omega is the prior */
    double same[3] = {5, 5, 5};
    mr_hedge_target(lp, same, 3, 1e-4, om);
    for (int k = 0; k < 3; k++)
        ck_assert_double_eq_tol(om[k], pi[k], 1e-12);
    /* a masked head (log pi = -inf) gets 0 even with the lowest loss */
    lp[0] = -INFINITY;
    mr_hedge_target(lp, L, 3, 1e-3, om);
    ck_assert(om[0] == 0.0);
    ck_assert_double_eq_tol(om[2], 1.0, 1e-12);
}
END_TEST

START_TEST(route_ce_gradient)
{
    double g[4] = {0.3, -1.2, 2.0, 0.1}, om[4] = {0.1, 0.2, 0.6, 0.1}, dg[4];
    double ce = mr_route_ce(g, om, NULL, 4, dg);
    double lse = log(exp(0.3) + exp(-1.2) + exp(2.0) + exp(0.1));
    double want = 0;
    for (int k = 0; k < 4; k++)
        want -= om[k] * (g[k] - lse);
    ck_assert_double_eq_tol(ce, want, 1e-12);
    for (int k = 0; k < 4; k++) {
        double h = 1e-6, keep = g[k];
        g[k] = keep + h;
        double p = mr_route_ce(g, om, NULL, 4, NULL);
        g[k] = keep - h;
        double m = mr_route_ce(g, om, NULL, 4, NULL);
        g[k] = keep;
        ck_assert_double_eq_tol(dg[k], (p - m) / (2 * h), 1e-7);
        ck_assert_double_eq_tol(dg[k], exp(g[k] - lse) - om[k], 1e-12);
    }
    unsigned char mask[4] = {0, 1, 0, 0};
    double om2[4] = {0.2, 0.0, 0.7, 0.1};
    mr_route_ce(g, om2, mask, 4, dg);
    ck_assert(dg[1] == 0.0);
}
END_TEST

static void stage2_fd(mr_router_kind kind)
{
    mr_error e;
    int d = 4, dc = 5, H = 6, K = 3, nb = 7;
    mr_model *m = mr_model_new(K, d, dc, kind, H, &e);
    ck_assert_ptr_nonnull(m);
    mr_rng r;
    mr_rng_seed(&r, 11 + (uint64_t)kind);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)(0.5 * mr_rng_normal(&r));
    float U[7 * 5];
    double om[7 * 3];
    for (int i = 0; i < nb * dc; i++)
        U[i] = (float)mr_rng_normal(&r);
    for (int i = 0; i < nb; i++) {
        double z = 0;
        for (int k = 0; k < K; k++)
            z += om[i * K + k] = mr_rng_uniform(&r);
        for (int k = 0; k < K; k++)
            om[i * K + k] /= z;
    }
    float *grad = malloc(m->n_params * sizeof(float));
    mr_batch_ws ws;
    ck_assert_int_eq(mr_batch_ws_init(&ws, m, nb, &e), 0);
    mr_stage2_loss_grad(m, U, om, nb, grad, &ws);
    size_t r0 = mr_router_offset(m);
    for (size_t i = 0; i < m->n_params; i++) {
        if (i < r0) {
            ck_assert_msg(grad[i] == 0.0f, "head parameter %zu has a stage-2 gradient", i);
            continue;
        }
        float keep = m->params[i], h = 1e-2f;
        m->params[i] = keep + h;
        double lp = mr_stage2_loss_grad(m, U, om, nb, NULL, &ws);
        m->params[i] = keep - h;
        double lm = mr_stage2_loss_grad(m, U, om, nb, NULL, &ws);
        m->params[i] = keep;
        double fd = (lp - lm) / (2.0 * h);
        ck_assert_msg(fabs(fd - grad[i]) < 3e-3 + 1e-2 * fabs(fd), "%s router param %zu: analytic %.6g vs fd %.6g",
                      kind == MR_ROUTER_MLP ? "mlp" : "linear", i - r0, (double)grad[i], fd);
    }
    mr_batch_ws_free(&ws);
    free(grad);
    mr_model_free(m);
}

START_TEST(stage2_fd_linear) { stage2_fd(MR_ROUTER_LINEAR); }
END_TEST
START_TEST(stage2_fd_mlp) { stage2_fd(MR_ROUTER_MLP); }
END_TEST

static char tmpdir[256], train_p[300], test_p[300];

static void synth_small(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mr_test_adapt_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(train_p, sizeof train_p, "%s/train.safetensors", tmpdir);
    snprintf(test_p, sizeof test_p, "%s/test.safetensors", tmpdir);
    mr_synth_opts so;
    mr_synth_opts_default(&so);
    so.n_train = 6000;
    so.n_test = 1500;
    so.d = so.dc = 32;
    so.K = 3;
    so.A = 6;
    so.topics = 12;
    so.topic_concentration = 8;
    so.reversal = 0.1;
    so.context_strength = 3;
    so.margin = 6.0;
    so.label_noise = 0.0;
    so.seed = 5;
    mr_error e;
    ck_assert_msg(mr_synth(&so, train_p, test_p, NULL, &e) == 0, "%s", e.msg);
}

static void cleanup(void)
{
    unlink(train_p);
    unlink(test_p);
    rmdir(tmpdir);
}

START_TEST(budget_selection)
{
    synth_small();
    mr_error e;
    mr_dataset ds;
    ck_assert_int_eq(mr_dataset_open(&ds, train_p, &e), 0);
    int64_t *a = NULL, *b = NULL, na, nb;
    ck_assert_int_eq(mr_adapt_select(&ds, 5, 1, &a, &na, &e), 0);
    ck_assert_int_eq(na, 5 * 6);
    int per[6] = {0};
    for (int64_t i = 0; i < na; i++)
        per[ds.attribute[a[i]]]++;
    for (int k = 0; k < 6; k++)
        ck_assert_int_eq(per[k], 5);
    /* same seed, same rows; a bigger budget keeps the smaller one's rows */
    ck_assert_int_eq(mr_adapt_select(&ds, 10, 1, &b, &nb, &e), 0);
    for (int64_t i = 0; i < na; i++) {
        int found = 0;
        for (int64_t j = 0; j < nb; j++)
            found |= b[j] == a[i];
        ck_assert(found);
    }
    free(a);
    free(b);
    ck_assert_int_eq(mr_adapt_select(&ds, 0, 1, &a, &na, &e), 0);
    ck_assert_int_eq(na, ds.n);
    free(a);
    mr_dataset_close(&ds);
    cleanup();
}
END_TEST

static void adapt_improves(mr_router_kind kind)
{
    synth_small();
    mr_error e;
    mr_dataset tr, te;
    ck_assert_int_eq(mr_dataset_open(&tr, train_p, &e), 0);
    ck_assert_int_eq(mr_dataset_open(&te, test_p, &e), 0);
    mr_model *m = mr_model_new(3, 32, 32, kind, 8, &e);
    mr_train_opts o;
    mr_train_opts_default(&o);
    o.epochs = 20;
    o.lr = 1e-2;
    o.reg = MR_REG_BATCH;
    ck_assert_msg(mr_train(m, &tr, &o, NULL, &e) == 0, "%s", e.msg);
    mr_eval_result before, after;
    ck_assert_int_eq(mr_evaluate(m, &te, &before, &e), 0);
    mr_adapt_opts ao;
    mr_adapt_opts_default(&ao);
    ao.budget = 50;
    if (kind == MR_ROUTER_MLP)
        ao.lr = 1e-2; /* the MLP's first layer has to move too (microrm adapt's default for mlp) */
    mr_adapt_result res;
    ck_assert_msg(mr_adapt(m, &tr, &ao, &res, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(res.examples, 50 * 6);
    ck_assert_msg(res.last_ce < res.first_ce, "cross-entropy %g -> %g", res.first_ce, res.last_ce);
    ck_assert_int_eq(mr_evaluate(m, &te, &after, &e), 0);
    int last = before.rows - 1;
    ck_assert_msg(after.routed[last] > before.routed[last] + 0.05,
                  "routed accuracy %.3f -> %.3f (best heads %.3f)", before.routed[last], after.routed[last],
                  after.best_head[last]);
    /* routed on the context comes near the per-attribute oracle */
    ck_assert_msg(after.routed[last] > after.best_head[last] - 0.08, "routed %.3f vs best heads %.3f",
                  after.routed[last], after.best_head[last]);
    /* heads are untouched by stage 2 */
    for (int k = 0; k < 3; k++)
        ck_assert_double_eq_tol(after.head[(size_t)last * 3 + k], before.head[(size_t)last * 3 + k], 1e-12);
    mr_eval_result_free(&before);
    mr_eval_result_free(&after);
    mr_model_free(m);
    mr_dataset_close(&tr);
    mr_dataset_close(&te);
    cleanup();
}

START_TEST(adapt_improves_linear) { adapt_improves(MR_ROUTER_LINEAR); }
END_TEST
START_TEST(adapt_improves_mlp) { adapt_improves(MR_ROUTER_MLP); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("adapt");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hedge_matches_formula);
    tcase_add_test(tc, route_ce_gradient);
    tcase_add_test(tc, stage2_fd_linear);
    tcase_add_test(tc, stage2_fd_mlp);
    tcase_add_test(tc, budget_selection);
    tcase_add_test(tc, adapt_improves_linear);
    tcase_add_test(tc, adapt_improves_mlp);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
