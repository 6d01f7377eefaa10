/* Unit tests for core/user_state: both update rules against hand-computed
 * numbers and an independent double-loop reference, the prequential score,
 * idempotency keys, the binary record (round trips, every flipped byte and
 * every truncation rejected), extremes staying finite, and the acceptance
 * check of issue 3: a simulated user whose taste is one head gets weights
 * concentrated on that head and beats the population router. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/model.h"
#include "core/rng.h"
#include "core/score.h"
#include "core/user_state.h"
#include "tests/unit/run_suite.h"

#define TOL 1e-6

/* K=2, d=dc=2, linear router with zero weights: the population weights are
 * [1/2, 1/2] for every context. The heads are never used by the update
 * (it takes head rewards), so they stay zero. */
static mr_model *toy(int K, mr_router_kind kind, int H)
{
    mr_error e;
    mr_model *m = mr_model_new(K, 2, 2, kind, H, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    mr_model_fingerprint(m);
    return m;
}

static mr_adapt_params hedge_params(double eta, double gamma)
{
    mr_adapt_params ap = {.mode = MR_ADAPT_HEDGE, .eta = eta, .gamma = gamma,
                          .lr = 0.1, .epochs = 1, .buffer = 32, .tau = 1e-3};
    return ap;
}

static mr_adapt_params router_params(double lr, int epochs, int buffer, double tau)
{
    mr_adapt_params ap = {.mode = MR_ADAPT_ROUTER, .eta = 0.5, .gamma = 0,
                          .lr = lr, .epochs = epochs, .buffer = buffer, .tau = tau};
    return ap;
}

static void update_ok(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, const float *feat,
                      const float *hc, const float *hr, mr_before *bf)
{
    mr_error e;
    int rc = mr_user_update(st, m, ap, feat, hc, hr, bf, &e);
    ck_assert_msg(rc == 0, "%s", e.msg);
}

/* ---- hedge ---- */

/* Found by fuzz_user_state: a record may carry scored = 2^64 - 1 (and a
 * logloss_sum near DBL_MAX); one more feedback wrapped scored to 0 and left
 * correct > scored, a state that no longer deserialised. Counters saturate. */
START_TEST(counters_saturate)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = hedge_params(0.5, 0);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    st.updates = st.scored = UINT64_MAX;
    st.correct = UINT64_MAX - 1;
    st.logloss_sum = DBL_MAX;
    const float feat[2] = {0, 0}, hc[2] = {3, 3}, hr[2] = {0, 0};
    mr_before bf;
    update_ok(&st, m, &ap, feat, hc, hr, &bf);
    ck_assert(bf.correct);
    ck_assert_uint_eq(st.updates, UINT64_MAX);
    ck_assert_uint_eq(st.scored, UINT64_MAX);
    ck_assert_uint_eq(st.correct, UINT64_MAX - 1);
    ck_assert_double_eq(st.logloss_sum, DBL_MAX);
    size_t n = mr_user_serialized_size(&st);
    uint8_t *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    mr_user_serialize(&st, buf);
    mr_user_state back;
    ck_assert_msg(mr_user_deserialize(&back, buf, n, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(back.scored, UINT64_MAX);
    mr_user_free(&back);
    free(buf);
    /* below the limit they still count */
    st.scored = 10;
    st.correct = 4;
    st.updates = 7;
    st.logloss_sum = 1.0;
    update_ok(&st, m, &ap, feat, hc, hr, &bf);
    ck_assert_uint_eq(st.scored, 11);
    ck_assert_uint_eq(st.correct, 5);
    ck_assert_uint_eq(st.updates, 8);
    ck_assert_double_eq_tol(st.logloss_sum, 1.0 + bf.logloss, 1e-15);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

START_TEST(hedge_one_step)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = hedge_params(1.0, 0.0);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    ck_assert_int_eq(st.K, 2);
    ck_assert_int_eq(st.F, 2);
    ck_assert_str_eq(st.fingerprint, m->fingerprint);
    ck_assert(st.beta[0] == 0.0f && st.beta[1] == 0.0f);

    /* s = hc - hr = [2, 0]:
     *   L0 = log(1 + e^-2) = 0.12692801104, L1 = log 2 = 0.69314718056
     *   beta = -eta L = [-0.126928, -0.693147]; re-centred: [0, -0.56621916952]
     *   (with eta = 1 the weights are the Bayes posterior pi_k sigmoid(s_k):
     *    w0 = sig(2) / (sig(2) + sig(0)) = 0.63789031135)
     * before: p = .5 sig(2) + .5 sig(0) = 0.69039853899, -log p = 0.37048625540 */
    const float feat[2] = {0.3f, -1.0f}, hc[2] = {2, 0}, hr[2] = {0, 0};
    mr_before bf;
    update_ok(&st, m, &ap, feat, hc, hr, &bf);
    ck_assert_double_eq_tol(st.beta[0], 0.0, TOL);
    ck_assert_double_eq_tol(st.beta[1], -0.56621916952, TOL);
    ck_assert_double_eq_tol(bf.p_chosen, 0.69039853899, 1e-9);
    ck_assert(bf.correct);
    ck_assert_double_eq_tol(bf.logloss, 0.37048625540, 1e-9);
    ck_assert_uint_eq(st.updates, 1);
    ck_assert_uint_eq(st.scored, 1);
    ck_assert_uint_eq(st.correct, 1);
    ck_assert_uint_eq(st.version, 0);   /* the caller bumps the version per request */

    double pi[2];
    mr_user_prior(&st, m, pi);
    ck_assert_double_eq_tol(pi[0], 0.63789031135, TOL);
    ck_assert_double_eq_tol(pi[1], 1 - 0.63789031135, TOL);
    /* zero router: the contextual weights are the prior's */
    mr_user_weights(&st, m, feat, pi);
    ck_assert_double_eq_tol(pi[0], 0.63789031135, TOL);

    /* with a router, beta offsets its logits: identity router, u = [ln 3, 0]
     * g + beta = [ln 3, -0.566219]: pi0 = 3 / (3 + e^-0.566219) = 0.84088550318 */
    m->r_w[0] = m->r_w[3] = 1;
    const float u[2] = {(float)log(3.0), 0};
    mr_user_weights(&st, m, u, pi);
    ck_assert_double_eq_tol(pi[0], 3 / (3 + 0.56766764161), TOL);
    ck_assert_double_eq_tol(pi[1], 0.56766764161 / (3 + 0.56766764161), TOL);
    /* and the prequential score uses those weights: a tie (s = 0) and
     * s = [0, 4]: p = pi0 / 2 + pi1 sig(4) */
    const float tie[2] = {1, 1}, s04[2] = {0, 4}, zero[2] = {0, 0};
    update_ok(&st, m, &ap, u, tie, tie, &bf);
    ck_assert_double_eq_tol(bf.p_chosen, 0.5, 1e-12);
    ck_assert(bf.correct == (bf.p_chosen > 0.5));
    ck_assert_double_eq_tol(st.beta[1], -0.56621916952, TOL);   /* equal losses: beta unmoved */
    update_ok(&st, m, &ap, u, s04, zero, &bf);
    ck_assert_double_eq_tol(bf.p_chosen, 0.84088550318 / 2 + (1 - 0.84088550318) / (1 + exp(-4.0)), 1e-7);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

/* What an event keeps for a hedge user is the population router's logits
 * at the context, not its features: the update and the weights from those
 * must be the ones from the features, bit for bit (linear and MLP routers,
 * a masked head, many steps). A router-mode state cannot take them. */
START_TEST(hedge_from_population_logits_is_bit_identical)
{
    mr_rng rng;
    mr_rng_seed(&rng, 77);
    for (int variant = 0; variant < 3; variant++) {
        mr_error e;
        mr_router_kind kind = variant == 1 ? MR_ROUTER_MLP : MR_ROUTER_LINEAR;
        mr_model *m = mr_model_new(5, 8, 300, kind, kind == MR_ROUTER_MLP ? 40 : 0, &e);
        ck_assert_msg(m != NULL, "%s", e.msg);
        const int K = m->K, F = mr_router_features(m);
        for (int i = 0; i < K * F; i++)
            m->r_w[i] = (float)(0.1 * mr_rng_normal(&rng));
        for (int k = 0; k < K; k++)
            m->r_b[k] = (float)mr_rng_normal(&rng);
        mr_model_fingerprint(m);
        if (variant == 2)
            ck_assert_int_eq(mr_model_set_mask(m, "3", &e), 0);
        mr_adapt_params ap = hedge_params(0.5, 0.01);
        mr_user_state by_feat, by_pop;
        ck_assert_int_eq(mr_user_init(&by_feat, m, &ap, &e), 0);
        ck_assert_int_eq(mr_user_init(&by_pop, m, &ap, &e), 0);
        float *feat = malloc(sizeof(float) * (size_t)F);
        ck_assert_ptr_nonnull(feat);
        for (int step = 0; step < 50; step++) {
            float hc[5], hr[5];
            for (int j = 0; j < F; j++)
                feat[j] = (float)fabs(mr_rng_normal(&rng));
            for (int k = 0; k < K; k++) {
                hc[k] = (float)(2 * mr_rng_normal(&rng));
                hr[k] = (float)(2 * mr_rng_normal(&rng));
            }
            double pop[5], pi_feat[5], pi_pop[5];
            mr_router_logits(m, feat, NULL, NULL, pop);
            mr_before b1, b2;
            update_ok(&by_feat, m, &ap, feat, hc, hr, &b1);
            ck_assert_int_eq(mr_user_update_pop(&by_pop, m, &ap, pop, hc, hr, &b2, &e), 0);
            ck_assert(b1.p_chosen == b2.p_chosen && b1.logloss == b2.logloss && b1.correct == b2.correct);
            ck_assert(memcmp(by_feat.beta, by_pop.beta, sizeof(float) * (size_t)K) == 0);
            mr_user_weights(&by_feat, m, feat, pi_feat);
            mr_user_weights_pop(&by_pop, m, pop, pi_pop);
            ck_assert(memcmp(pi_feat, pi_pop, sizeof pi_feat) == 0);
        }
        ck_assert(by_feat.updates == 50 && by_pop.updates == 50);
        free(feat);
        mr_user_free(&by_feat);
        mr_user_free(&by_pop);

        /* a router-mode state needs the features */
        mr_adapt_params rp = router_params(0.1, 1, 8, 1e-3);
        mr_user_state rs;
        ck_assert_int_eq(mr_user_init(&rs, m, &rp, &e), 0);
        double pop[5] = {0};
        const float h[5] = {1, 0, 0, 0, 0};
        ck_assert_int_eq(mr_user_update_pop(&rs, m, &rp, pop, h, h, NULL, &e), -1);
        ck_assert_ptr_nonnull(strstr(e.msg, "router features"));
        ck_assert_uint_eq(rs.updates, 0);
        mr_user_free(&rs);
        mr_model_free(m);
    }
}
END_TEST

START_TEST(tie_is_not_correct)
{
    /* K = 1: p = sigmoid(0) = 1/2 exactly, which is not > 1/2 */
    mr_error e;
    mr_model *m = mr_model_new(1, 2, 2, MR_ROUTER_LINEAR, 0, &e);
    ck_assert_ptr_nonnull(m);
    mr_adapt_params ap = hedge_params(0.5, 0);
    mr_user_state st;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    const float feat[2] = {1, 2}, h[1] = {3};
    mr_before bf;
    update_ok(&st, m, &ap, feat, h, h, &bf);
    ck_assert(bf.p_chosen == 0.5);
    ck_assert(!bf.correct);
    ck_assert_double_eq_tol(bf.logloss, log(2.0), 1e-15);
    ck_assert_uint_eq(st.correct, 0);
    ck_assert(st.beta[0] == 0.0f);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

START_TEST(hedge_several_steps_and_prequential)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = hedge_params(0.5, 0.0);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    /* beta = -eta * (sum of L so far), minus its max:
     *   s=[2,0]:    cumL = [0.126928, 0.693147]            -> beta [0, -0.28310958476]
     *   s=[-1,1]:   cumL += [1.313262, 0.313262] = [1.440190, 1.006409]
     *                                                      -> beta [-0.21689041524, 0]
     *   s=[.5,-3]:  cumL += [0.474077, 3.048587]           -> beta [0, -1.07036476846]
     * before each step p = sum pi_k sig(s_k) with pi = softmax(beta before):
     *   0.69039853899, 0.46750927530, 0.30388444719; 1 correct; logloss sum 2.32193010338 */
    const float feat[2] = {1, 1};
    const float hc[3][2] = {{2, 0}, {-1, 1}, {0.5f, -3}}, hr[2] = {0, 0};
    const double want_beta[3][2] = {{0, -0.28310958476}, {-0.21689041524, 0}, {0, -1.07036476846}};
    const double want_p[3] = {0.69039853899, 0.46750927530, 0.30388444719};
    for (int i = 0; i < 3; i++) {
        mr_before bf;
        update_ok(&st, m, &ap, feat, hc[i], hr, &bf);
        ck_assert_double_eq_tol(bf.p_chosen, want_p[i], 1e-7);
        ck_assert_int_eq(bf.correct, want_p[i] > 0.5);
        ck_assert_double_eq_tol(bf.logloss, -log(want_p[i]), 1e-7);
        ck_assert_double_eq_tol(st.beta[0], want_beta[i][0], TOL);
        ck_assert_double_eq_tol(st.beta[1], want_beta[i][1], TOL);
    }
    ck_assert_uint_eq(st.updates, 3);
    ck_assert_uint_eq(st.scored, 3);
    ck_assert_uint_eq(st.correct, 1);
    ck_assert_double_eq_tol(st.logloss_sum, 2.32193010338, 1e-7);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

START_TEST(hedge_recentres)
{
    /* K=3, random-ish feedback: after every step max beta is exactly 0 and
     * beta equals -eta * cumulative L re-centred (computed here independently) */
    mr_model *m = toy(3, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = hedge_params(0.7, 0.0);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    double cum[3] = {0, 0, 0};
    const float feat[2] = {0, 0}, hr[3] = {0, 0, 0};
    for (int i = 0; i < 20; i++) {
        float hc[3] = {(float)sin(i), (float)cos(1.7 * i) * 2, (float)(i % 3) - 1};
        for (int k = 0; k < 3; k++)
            cum[k] += 0.7 * log1p(exp(-(double)hc[k]));
        update_ok(&st, m, &ap, feat, hc, hr, NULL);
        double mn = fmin(cum[0], fmin(cum[1], cum[2]));
        float mx = fmaxf(st.beta[0], fmaxf(st.beta[1], st.beta[2]));
        ck_assert(mx == 0.0f);
        for (int k = 0; k < 3; k++)
            ck_assert_double_eq_tol(st.beta[k], -(cum[k] - mn), 1e-5);
    }
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

START_TEST(hedge_fixed_share)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = hedge_params(1.0, 0.2);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    /* as hedge_one_step, w = [0.63789031135, 0.36210968865], then
     * w = 0.8 w + 0.2/2 = [0.61031224908, 0.38968775092], beta = log w
     *   = [-0.49378456905, -0.94240949920] (not re-centred afterwards) */
    const float feat[2] = {0, 0}, hc[2] = {2, 0}, hr[2] = {0, 0};
    update_ok(&st, m, &ap, feat, hc, hr, NULL);
    ck_assert_double_eq_tol(st.beta[0], -0.49378456905, TOL);
    ck_assert_double_eq_tol(st.beta[1], -0.94240949920, TOL);

    /* a long losing streak for head 1 cannot take it below gamma/K */
    const float bad[2] = {20, -20};
    for (int i = 0; i < 200; i++)
        update_ok(&st, m, &ap, feat, bad, hr, NULL);
    double pi[2];
    mr_user_prior(&st, m, pi);
    ck_assert(pi[1] >= 0.1 - 1e-6);
    ck_assert_double_eq_tol(pi[1], 0.1, 1e-4);
    /* and it comes back once the taste turns */
    const float turn[2] = {-20, 20};
    for (int i = 0; i < 3; i++)
        update_ok(&st, m, &ap, feat, turn, hr, NULL);
    mr_user_prior(&st, m, pi);
    ck_assert(pi[1] > 0.85);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

START_TEST(hedge_masked_head)
{
    mr_model *m = toy(3, MR_ROUTER_LINEAR, 0);
    mr_error e;
    ck_assert_int_eq(mr_model_set_mask(m, "1", &e), 0);
    mr_adapt_params ap = hedge_params(1.0, 0.0);
    mr_user_state st;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    /* s = [1, -5, -1]: L0 = log(1+e^-1) = 0.31326168752, L2 = log(1+e) = 1.31326168752
     * (L(-s) - L(s) = s). Head 1 is masked: its huge loss must not move the
     * re-centring, and its beta stays 0.  beta = [0, 0, -1].
     * before: pi = [1/2, 0, 1/2], p = (sig(1) + sig(-1)) / 2 = 1/2 (with head 1
     * counted it would be (sig(1) + sig(-5) + sig(-1)) / 3 = 0.3355) */
    const float feat[2] = {0, 0}, hc[3] = {1, -5, -1}, hr[3] = {0, 0, 0};
    mr_before bf;
    update_ok(&st, m, &ap, feat, hc, hr, &bf);
    ck_assert_double_eq_tol(bf.p_chosen, 0.5, 1e-12);
    ck_assert_double_eq_tol(st.beta[0], 0.0, TOL);
    ck_assert(st.beta[1] == 0.0f);
    ck_assert_double_eq_tol(st.beta[2], -1.0, TOL);
    double pi[3];
    mr_user_prior(&st, m, pi);
    ck_assert_double_eq_tol(pi[0], 0.73105857863, TOL);   /* 1 / (1 + e^-1) */
    ck_assert(pi[1] == 0.0);
    ck_assert_double_eq_tol(pi[2], 0.26894142137, TOL);
    mr_user_weights(&st, m, feat, pi);
    ck_assert(pi[1] == 0.0);

    /* with fixed share the mixing counts the 2 unmasked heads:
     * w = 0.5 [0.731059, 0.268941] + 0.25 = [0.61552928932, 0.38447071068] */
    mr_user_free(&st);
    ap = hedge_params(1.0, 0.5);
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    update_ok(&st, m, &ap, feat, hc, hr, &bf);
    ck_assert_double_eq_tol(st.beta[0], log(0.61552928932), TOL);
    ck_assert(st.beta[1] == 0.0f);
    ck_assert_double_eq_tol(st.beta[2], log(0.38447071068), TOL);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

/* ---- router mode: an independent reference in plain double loops ---- */

typedef struct {
    int K, F, n;
    double W[64], b[8];
    double f[16][8], L[16][8];
} ref_state;

static void ref_log_pi(const ref_state *r, const unsigned char *mask, const double *f, double *lp)
{
    double g[8], mx = -INFINITY, z = 0;
    for (int k = 0; k < r->K; k++) {
        g[k] = r->b[k];
        for (int j = 0; j < r->F; j++)
            g[k] += r->W[k * r->F + j] * f[j];
        if (!mask[k] && g[k] > mx)
            mx = g[k];
    }
    for (int k = 0; k < r->K; k++)
        if (!mask[k])
            z += exp(g[k] - mx);
    for (int k = 0; k < r->K; k++)
        lp[k] = mask[k] ? -INFINITY : g[k] - mx - log(z);
}

/* append (f, L), omega from the current weights, then epochs steps of
 * W -= lr mean_i (pi_i - omega_i) f_i^T, b -= lr mean_i (pi_i - omega_i) */
static void ref_update(ref_state *r, const unsigned char *mask, const float *f, const float *hc,
                       const float *hr, double tau, double lr, int epochs)
{
    for (int j = 0; j < r->F; j++)
        r->f[r->n][j] = f[j];
    for (int k = 0; k < r->K; k++) {
        double s = (double)hc[k] - hr[k];
        r->L[r->n][k] = (float)log1p(exp(-s));   /* the ring keeps L as float */
    }
    r->n++;
    double omega[16][8], lp[8];
    for (int i = 0; i < r->n; i++) {
        ref_log_pi(r, mask, r->f[i], lp);
        double mx = -INFINITY, z = 0;
        for (int k = 0; k < r->K; k++)
            if (!mask[k] && lp[k] - r->L[i][k] / tau > mx)
                mx = lp[k] - r->L[i][k] / tau;
        for (int k = 0; k < r->K; k++)
            z += omega[i][k] = mask[k] ? 0 : exp(lp[k] - r->L[i][k] / tau - mx);
        for (int k = 0; k < r->K; k++)
            omega[i][k] /= z;
    }
    for (int ep = 0; ep < epochs; ep++) {
        double dW[64] = {0}, db[8] = {0};
        for (int i = 0; i < r->n; i++) {
            ref_log_pi(r, mask, r->f[i], lp);
            for (int k = 0; k < r->K; k++) {
                double d = mask[k] ? 0 : exp(lp[k]) - omega[i][k];
                for (int j = 0; j < r->F; j++)
                    dW[k * r->F + j] += d * r->f[i][j] / r->n;
                db[k] += d / r->n;
            }
        }
        for (int k = 0; k < r->K * r->F; k++)
            r->W[k] -= lr * dW[k];
        for (int k = 0; k < r->K; k++)
            r->b[k] -= lr * db[k];
    }
}

START_TEST(router_one_step_by_hand)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = router_params(1.0, 1, 4, 1.0);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    ck_assert_int_eq(st.buffer, 4);
    /* W = 0, b = 0: pi = [1/2, 1/2]. s = [2, 0], tau = 1:
     *   omega ∝ pi_k e^{-L_k} = pi_k sig(s_k): omega0 = sig(2)/(sig(2)+1/2) = 0.63789031135
     *   pi - omega = [-0.13789031135, 0.13789031135]
     *   one example, f = [1, 2], lr = 1:
     *   W = -[[-0.137890, -0.275781], [0.137890, 0.275781]], b = [0.137890, -0.137890] */
    const float feat[2] = {1, 2}, hc[2] = {2, 0}, hr[2] = {0, 0};
    mr_before bf;
    update_ok(&st, m, &ap, feat, hc, hr, &bf);
    const double g = 0.13789031135;
    ck_assert_double_eq_tol(st.w[0], g, TOL);
    ck_assert_double_eq_tol(st.w[1], 2 * g, TOL);
    ck_assert_double_eq_tol(st.w[2], -g, TOL);
    ck_assert_double_eq_tol(st.w[3], -2 * g, TOL);
    ck_assert_double_eq_tol(st.b[0], g, TOL);
    ck_assert_double_eq_tol(st.b[1], -g, TOL);
    ck_assert_double_eq_tol(bf.p_chosen, 0.69039853899, 1e-9);
    ck_assert_int_eq(st.ring_n, 1);
    ck_assert_double_eq_tol(st.ring_loss[0], 0.12692801104, 1e-7);
    ck_assert_double_eq_tol(st.ring_loss[1], 0.69314718056, 1e-7);
    /* the model's own router is untouched (the user owns a copy) */
    for (int i = 0; i < 4; i++)
        ck_assert(m->r_w[i] == 0.0f);
    /* prior = softmax(b) = [1/(1+e^{-2g}), ...] */
    double pi[2];
    mr_user_prior(&st, m, pi);
    ck_assert_double_eq_tol(pi[0], 1 / (1 + exp(-2 * g)), TOL);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

/* Linear router (F = dc = 2, K = 3, one head masked) and MLP router (F = H = 3):
 * many feedbacks, ring wrapping around, several epochs, against the reference. */
static void router_vs_reference(mr_router_kind kind, const char *mask_spec)
{
    const int K = 3, H = 3;
    mr_model *m = toy(K, kind, H);
    mr_error e;
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)(0.5 * sin(1.3 * (double)i + 0.2));
    mr_model_fingerprint(m);
    if (mask_spec)
        ck_assert_int_eq(mr_model_set_mask(m, mask_spec, &e), 0);
    const int F = mr_router_features(m), B = 5, steps = 9;
    mr_adapt_params ap = router_params(0.3, 3, B, 0.5);
    mr_user_state st;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    ref_state ref = {.K = K, .F = F, .n = 0};
    for (int i = 0; i < K * F; i++)
        ref.W[i] = m->r_w[i];
    for (int k = 0; k < K; k++)
        ref.b[k] = m->r_b[k];
    for (int t = 0; t < steps; t++) {
        float u[2] = {(float)cos(t), (float)sin(2.0 * t) + 0.5f}, feat[8];
        mr_router_features_of(m, u, feat);
        float hc[3] = {(float)(t % 3) - 1, 0.5f * (float)t - 2, (float)sin(t)}, hr[3] = {0, 1, -0.5f};
        /* the reference's ring: drop the oldest once full */
        if (ref.n == B) {
            memmove(ref.f, ref.f + 1, sizeof ref.f[0] * (B - 1));
            memmove(ref.L, ref.L + 1, sizeof ref.L[0] * (B - 1));
            ref.n--;
        }
        /* prequential from the weights before the update */
        double lp[8], p = 0, fd[8];
        for (int j = 0; j < F; j++)
            fd[j] = feat[j];
        ref_log_pi(&ref, m->mask, fd, lp);
        for (int k = 0; k < K; k++)
            if (!m->mask[k])
                p += exp(lp[k]) / (1 + exp(-((double)hc[k] - hr[k])));
        ref_update(&ref, m->mask, feat, hc, hr, ap.tau, ap.lr, ap.epochs);
        mr_before bf;
        update_ok(&st, m, &ap, feat, hc, hr, &bf);
        ck_assert_double_eq_tol(bf.p_chosen, p, 1e-6);
        for (int i = 0; i < K * F; i++)
            ck_assert_double_eq_tol(st.w[i], ref.W[i], 1e-5);
        for (int k = 0; k < K; k++)
            ck_assert_double_eq_tol(st.b[k], ref.b[k], 1e-5);
        ck_assert_int_eq(st.ring_n, t + 1 < B ? t + 1 : B);
    }
    if (mask_spec) {   /* a masked head's output row never moves */
        for (int j = 0; j < F; j++)
            ck_assert(st.w[1 * F + j] == m->r_w[1 * F + j]);
        ck_assert(st.b[1] == m->r_b[1]);
        double pi[3];
        mr_user_prior(&st, m, pi);
        ck_assert(pi[1] == 0.0);
    }
    mr_user_free(&st);
    mr_model_free(m);
}

START_TEST(router_linear_vs_reference) { router_vs_reference(MR_ROUTER_LINEAR, NULL); }
END_TEST

START_TEST(router_linear_masked_vs_reference) { router_vs_reference(MR_ROUTER_LINEAR, "1"); }
END_TEST

START_TEST(router_mlp_vs_reference) { router_vs_reference(MR_ROUTER_MLP, NULL); }
END_TEST

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

START_TEST(extremes_stay_finite)
{
    /* tau 1e-4, rewards +-1e4 and +-FLT_MAX, large features: both modes */
    mr_model *m = toy(3, MR_ROUTER_LINEAR, 0);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)cos((double)i);
    mr_model_fingerprint(m);
    const mr_adapt_params aps[4] = {hedge_params(0.5, 0.0), hedge_params(1000, 1e-9),
                                    router_params(0.1, 2, 4, 1e-4), router_params(1000, 3, 4, 1e-4)};
    for (int a = 0; a < 4; a++) {
        mr_user_state st;
        mr_error e;
        ck_assert_int_eq(mr_user_init(&st, m, &aps[a], &e), 0);
        for (int t = 0; t < 40; t++) {
            float big = t % 5 == 4 ? FLT_MAX : 1e4f;
            float sgn = (t % 2) ? 1.0f : -1.0f;
            float feat[2] = {sgn * (t % 3 == 0 ? 1e4f : 0.5f), 1e-3f};
            float hc[3] = {sgn * big, -sgn * big, 0}, hr[3] = {-sgn * big, sgn * big, (float)t};
            mr_before bf;
            update_ok(&st, m, &aps[a], feat, hc, hr, &bf);
            ck_assert(isfinite(bf.p_chosen) && bf.p_chosen >= 0 && bf.p_chosen <= 1);
            ck_assert(isfinite(bf.logloss) && bf.logloss >= 0);
            size_t np = st.mode == MR_ADAPT_HEDGE ? 3 : 3 * 2 + 3;
            ck_assert(all_finite(st.params, np));
            if (st.mode == MR_ADAPT_ROUTER)
                ck_assert(all_finite(st.ring_loss, (size_t)st.ring_n * 3));
            double pi[3], sum = 0;
            mr_user_weights(&st, m, feat, pi);
            for (int k = 0; k < 3; k++) {
                ck_assert(isfinite(pi[k]));
                sum += pi[k];
            }
            ck_assert_double_eq_tol(sum, 1.0, 1e-9);
        }
        ck_assert(isfinite(st.logloss_sum));
        mr_user_free(&st);
    }
    mr_model_free(m);
}
END_TEST

START_TEST(mismatch_rejected_state_unchanged)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0), *m3 = toy(3, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = hedge_params(0.5, 0), apr = router_params(0.1, 1, 4, 1e-3);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    const float feat[2] = {1, 1}, hc[3] = {1, 0, 0}, hr[3] = {0, 0, 0};
    update_ok(&st, m, &ap, feat, hc, hr, NULL);
    uint8_t before[512], after[512];
    ck_assert_uint_le(mr_user_serialized_size(&st), sizeof before);
    mr_user_serialize(&st, before);
    ck_assert(mr_user_matches(&st, m, &ap));
    ck_assert(!mr_user_matches(&st, m, &apr));     /* other mode */
    ck_assert(!mr_user_matches(&st, m3, &ap));     /* other shape */
    ck_assert_int_eq(mr_user_update(&st, m3, &ap, feat, hc, hr, NULL, &e), -1);
    ck_assert_int_eq(mr_user_update(&st, m, &apr, feat, hc, hr, NULL, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "user state"));
    mr_user_serialize(&st, after);
    ck_assert(memcmp(before, after, mr_user_serialized_size(&st)) == 0);
    /* same shape, another model: the fingerprint tells them apart */
    m->params[0] = 1;
    mr_model_fingerprint(m);
    ck_assert(!mr_user_matches(&st, m, &ap));
    /* bad parameters are refused at init */
    mr_adapt_params bad = router_params(0.1, 1, 0, 1e-3);
    mr_user_state st2;
    ck_assert_int_eq(mr_user_init(&st2, m, &bad, &e), -1);
    bad = hedge_params(0.5, 1.5);
    ck_assert_int_eq(mr_user_init(&st2, m, &bad, &e), -1);
    mr_user_free(&st);
    mr_model_free(m);
    mr_model_free(m3);
}
END_TEST

/* ---- idempotency ---- */

START_TEST(idem_hash_and_ring)
{
    /* FNV-1a 64 test vectors */
    ck_assert_uint_eq(mr_idem_hash("", 0), 0xcbf29ce484222325ULL);
    ck_assert_uint_eq(mr_idem_hash("a", 1), 0xaf63dc4c8601ec8cULL);
    ck_assert_uint_eq(mr_idem_hash("foobar", 6), 0x85944171f73967e8ULL);
    ck_assert_uint_ne(mr_idem_hash("req-1", 5), mr_idem_hash("req-2", 5));

    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params ap = hedge_params(0.5, 0);
    mr_user_state st;
    mr_error e;
    ck_assert_int_eq(mr_user_init(&st, m, &ap, &e), 0);
    ck_assert_ptr_null(mr_user_find_key(&st, 1));
    char key[32];
    for (int i = 0; i < 70; i++) {
        int n = snprintf(key, sizeof key, "request-%d", i);
        mr_idem_entry en = {.key_hash = mr_idem_hash(key, (size_t)n), .version = (uint64_t)i + 1,
                            .updates = (uint64_t)2 * i, .p_chosen = 0.25f, .correct = 0};
        mr_user_remember_key(&st, &en);
        ck_assert_int_eq(st.idem_n, i + 1 < MR_IDEM_KEYS ? i + 1 : MR_IDEM_KEYS);
    }
    /* the 6 oldest were overwritten, the last 64 answer with their entries */
    for (int i = 0; i < 70; i++) {
        int n = snprintf(key, sizeof key, "request-%d", i);
        const mr_idem_entry *en = mr_user_find_key(&st, mr_idem_hash(key, (size_t)n));
        if (i < 6) {
            ck_assert_ptr_null(en);
        } else {
            ck_assert_ptr_nonnull(en);
            ck_assert_uint_eq(en->version, (uint64_t)i + 1);
            ck_assert_uint_eq(en->updates, (uint64_t)2 * i);
        }
    }
    /* remembering a known key again replaces it rather than taking a slot */
    int n = snprintf(key, sizeof key, "request-%d", 69);
    mr_idem_entry again = {.key_hash = mr_idem_hash(key, (size_t)n), .version = 999, .p_chosen = 1, .correct = 1};
    mr_user_remember_key(&st, &again);
    n = snprintf(key, sizeof key, "request-%d", 6);
    ck_assert_ptr_nonnull(mr_user_find_key(&st, mr_idem_hash(key, (size_t)n)));
    ck_assert_uint_eq(mr_user_find_key(&st, again.key_hash)->version, 999);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

/* ---- binary form ---- */

static uint8_t *serialize(const mr_user_state *st, size_t *len)
{
    *len = mr_user_serialized_size(st);
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    mr_user_serialize(st, buf);
    return buf;
}

/* Equal in everything observable, ring and keys compared oldest first. */
static void assert_same(const mr_user_state *a, const mr_user_state *b)
{
    ck_assert_int_eq(a->mode, b->mode);
    ck_assert_int_eq(a->K, b->K);
    ck_assert_int_eq(a->F, b->F);
    ck_assert_int_eq(a->buffer, b->buffer);
    ck_assert_uint_eq(a->version, b->version);
    ck_assert_uint_eq(a->updates, b->updates);
    ck_assert_uint_eq(a->scored, b->scored);
    ck_assert_uint_eq(a->correct, b->correct);
    ck_assert(a->logloss_sum == b->logloss_sum);
    ck_assert_int_eq(a->created_ms, b->created_ms);
    ck_assert_int_eq(a->updated_ms, b->updated_ms);
    ck_assert_str_eq(a->fingerprint, b->fingerprint);
    ck_assert_int_eq(a->idem_n, b->idem_n);
    for (int i = 0; i < a->idem_n; i++) {
        const mr_idem_entry *x = &a->idem[(a->idem_head - a->idem_n + i + 2 * MR_IDEM_KEYS) % MR_IDEM_KEYS];
        const mr_idem_entry *y = &b->idem[(b->idem_head - b->idem_n + i + 2 * MR_IDEM_KEYS) % MR_IDEM_KEYS];
        ck_assert_uint_eq(x->key_hash, y->key_hash);
        ck_assert_uint_eq(x->version, y->version);
        ck_assert_uint_eq(x->updates, y->updates);
        ck_assert(x->p_chosen == y->p_chosen);
        ck_assert_int_eq(x->correct, y->correct);
    }
    size_t np = a->mode == MR_ADAPT_HEDGE ? (size_t)a->K : (size_t)a->K * (a->F + 1);
    ck_assert(memcmp(a->params, b->params, np * sizeof(float)) == 0);
    ck_assert_int_eq(a->ring_n, b->ring_n);
    for (int i = 0; i < a->ring_n; i++) {
        int ra = (a->ring_head - a->ring_n + i + 2 * a->buffer) % a->buffer;
        int rb = (b->ring_head - b->ring_n + i + 2 * b->buffer) % b->buffer;
        ck_assert(memcmp(a->ring_feat + (size_t)ra * a->F, b->ring_feat + (size_t)rb * b->F,
                         (size_t)a->F * sizeof(float)) == 0);
        ck_assert(memcmp(a->ring_loss + (size_t)ra * a->K, b->ring_loss + (size_t)rb * b->K,
                         (size_t)a->K * sizeof(float)) == 0);
    }
}

/* A state with n feedbacks and n_keys idempotency keys. */
static void fill(mr_user_state *st, const mr_model *m, const mr_adapt_params *ap, int n, int n_keys)
{
    mr_error e;
    ck_assert_int_eq(mr_user_init(st, m, ap, &e), 0);
    for (int t = 0; t < n; t++) {
        float feat[8] = {(float)sin(t), (float)cos(3.0 * t), 0.5f};
        float hc[3] = {(float)t, 1, -1}, hr[3] = {0, (float)(t % 2), 1};
        update_ok(st, m, ap, feat, hc, hr, NULL);
        st->version++;
    }
    for (int i = 0; i < n_keys; i++) {
        mr_idem_entry en = {.key_hash = 1000 + (uint64_t)i, .version = (uint64_t)i, .updates = 7,
                            .p_chosen = 0.5f + 0.001f * (float)i, .correct = (uint8_t)(i % 2)};
        mr_user_remember_key(st, &en);
    }
    st->created_ms = 1700000000123;
    st->updated_ms = -5;   /* any value survives, even a silly one */
}

static void round_trip(const mr_model *m, const mr_adapt_params *ap, int n, int n_keys)
{
    mr_user_state st, back, copy;
    mr_error e;
    fill(&st, m, ap, n, n_keys);
    size_t len;
    uint8_t *buf = serialize(&st, &len);
    ck_assert_int_eq(mr_user_deserialize(&back, buf, len, &e), 0);
    assert_same(&st, &back);
    ck_assert(mr_user_matches(&back, m, ap));
    /* re-serialising gives the same bytes (the form is canonical) */
    size_t len2;
    uint8_t *buf2 = serialize(&back, &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert(memcmp(buf, buf2, len) == 0);
    /* a deep copy too */
    ck_assert_int_eq(mr_user_copy(&copy, &st, &e), 0);
    ck_assert_ptr_ne(copy.params, st.params);
    assert_same(&st, &copy);
    /* and all three take the next feedback identically */
    const float feat[8] = {0.25f, -2, 1}, hc[3] = {1, -1, 0.5f}, hr[3] = {0, 0, 0};
    update_ok(&st, m, ap, feat, hc, hr, NULL);
    update_ok(&back, m, ap, feat, hc, hr, NULL);
    update_ok(&copy, m, ap, feat, hc, hr, NULL);
    assert_same(&st, &back);
    assert_same(&st, &copy);
    free(buf);
    free(buf2);
    mr_user_free(&st);
    mr_user_free(&back);
    mr_user_free(&copy);
}

START_TEST(serialization_round_trips)
{
    mr_model *lin = toy(3, MR_ROUTER_LINEAR, 0), *mlp = toy(3, MR_ROUTER_MLP, 3);
    for (size_t i = 0; i < lin->n_params; i++)
        lin->params[i] = (float)sin((double)i);
    for (size_t i = 0; i < mlp->n_params; i++)
        mlp->params[i] = (float)cos((double)i);
    mr_model_fingerprint(lin);
    mr_model_fingerprint(mlp);
    mr_adapt_params h = hedge_params(0.5, 0.1), r = router_params(0.2, 2, 5, 1e-3);
    round_trip(lin, &h, 0, 0);     /* fresh */
    round_trip(lin, &h, 4, 3);
    round_trip(lin, &h, 4, 100);   /* key ring wrapped */
    round_trip(lin, &r, 0, 0);     /* empty ring */
    round_trip(lin, &r, 3, 10);    /* ring partially filled */
    round_trip(lin, &r, 5, 64);    /* exactly full */
    round_trip(lin, &r, 13, 65);   /* wrapped */
    round_trip(mlp, &r, 8, 1);
    /* sizes: header 148 + keys 29 each + params + ring_n + ring + crc */
    mr_user_state st;
    fill(&st, lin, &h, 1, 2);
    ck_assert_uint_eq(mr_user_serialized_size(&st), 148 + 2 * 29 + 3 * 4 + 4 + 4);
    mr_user_free(&st);
    fill(&st, lin, &r, 3, 0);
    ck_assert_uint_eq(mr_user_serialized_size(&st), 148 + (3 * 2 + 3) * 4 + 4 + 3 * (2 + 3) * 4 + 4);
    mr_user_free(&st);
    mr_model_free(lin);
    mr_model_free(mlp);
}
END_TEST

static void corruption_rejected(const mr_model *m, const mr_adapt_params *ap)
{
    mr_user_state st, back;
    mr_error e;
    fill(&st, m, ap, 3, 2);
    size_t len;
    uint8_t *buf = serialize(&st, &len);
    int checksum_msgs = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {   /* the low bit, and the high bit */
            buf[i] ^= (uint8_t)(1u << bit);
            e.msg[0] = '\0';
            int rc = mr_user_deserialize(&back, buf, len, &e);
            ck_assert_msg(rc == -1, "flipped bit %d of byte %zu accepted", bit, i);
            ck_assert_ptr_null(back.params);
            ck_assert_msg(strncmp(e.msg, "user state: ", 12) == 0, "message '%s'", e.msg);
            checksum_msgs += strstr(e.msg, "checksum mismatch") != NULL;
            buf[i] ^= (uint8_t)(1u << bit);
        }
        /* a whole byte replaced */
        uint8_t old = buf[i];
        buf[i] = (uint8_t)~old;
        ck_assert_int_eq(mr_user_deserialize(&back, buf, len, &e), -1);
        buf[i] = old;
    }
    ck_assert_int_gt(checksum_msgs, (int)len);   /* most flips are caught by the CRC */
    for (size_t n = 0; n < len; n++)
        ck_assert_msg(mr_user_deserialize(&back, buf, n, &e) == -1, "truncated to %zu accepted", n);
    /* trailing garbage too */
    uint8_t *longer = calloc(len + 4, 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, buf, len);
    ck_assert_int_eq(mr_user_deserialize(&back, longer, len + 4, &e), -1);
    free(longer);
    ck_assert_int_eq(mr_user_deserialize(&back, buf, len, &e), 0);
    mr_user_free(&back);
    free(buf);
    mr_user_free(&st);
}

START_TEST(every_corruption_rejected)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params h = hedge_params(0.5, 0), r = router_params(0.2, 1, 3, 1e-3);
    corruption_rejected(m, &h);
    corruption_rejected(m, &r);
    mr_model_free(m);
}
END_TEST

/* Rewrite the CRC after an edit, as a buggy (or future) writer would. */
static void reseal(uint8_t *buf, size_t len)
{
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(len - 4));
    for (int i = 0; i < 4; i++)
        buf[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(version_and_fields_checked)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params r = router_params(0.2, 1, 3, 1e-3);
    mr_user_state st, back;
    mr_error e;
    fill(&st, m, &r, 2, 1);
    size_t len;
    uint8_t *buf = serialize(&st, &len);
    ck_assert(memcmp(buf, "MRUS", 4) == 0);
    ck_assert_int_eq(buf[4], 1);   /* format version 1, little-endian */
    uint8_t *b2 = malloc(len);
    ck_assert_ptr_nonnull(b2);

    memcpy(b2, buf, len);
    put32(b2 + 4, 7);
    reseal(b2, len);
    ck_assert_int_eq(mr_user_deserialize(&back, b2, len, &e), -1);
    ck_assert_msg(strstr(e.msg, "user state: format version 7 is not supported") != NULL, "%s", e.msg);

    memcpy(b2, buf, len);
    b2[20] ^= 0x10;   /* inside the header, CRC not updated */
    ck_assert_int_eq(mr_user_deserialize(&back, b2, len, &e), -1);
    ck_assert_msg(strstr(e.msg, "user state: checksum mismatch") != NULL, "%s", e.msg);

    memcpy(b2, buf, len);
    memcpy(b2, "MRUX", 4);
    ck_assert_int_eq(mr_user_deserialize(&back, b2, len, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "magic"));

    /* sealed with a valid CRC but inconsistent: K too large, K changed,
     * ring_n above capacity, a NaN parameter, an unknown mode */
    const struct { size_t off; uint32_t v; const char *msg; } edits[] = {
        {12, 300, "K=300"}, {12, 3, NULL}, {16, 9, NULL}, {8, 5, "mode"},
        {20, 0, "capacity"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(b2, buf, len);
        put32(b2 + edits[i].off, edits[i].v);
        reseal(b2, len);
        ck_assert_int_eq(mr_user_deserialize(&back, b2, len, &e), -1);
        ck_assert_msg(strncmp(e.msg, "user state: ", 12) == 0, "edit %zu: %s", i, e.msg);
        if (edits[i].msg)
            ck_assert_msg(strstr(e.msg, edits[i].msg) != NULL, "edit %zu: %s", i, e.msg);
    }
    /* the ring count is the u32 after header + 1 key + 6 params */
    size_t ring_n_off = 148 + 29 + 6 * 4;
    ck_assert_int_eq(buf[ring_n_off], 2);
    memcpy(b2, buf, len);
    put32(b2 + ring_n_off, 4);
    reseal(b2, len);
    ck_assert_int_eq(mr_user_deserialize(&back, b2, len, &e), -1);
    ck_assert_msg(strstr(e.msg, "capacity") != NULL, "%s", e.msg);
    memcpy(b2, buf, len);
    put32(b2 + 148 + 29, 0x7fc00000u);   /* W[0] = NaN */
    reseal(b2, len);
    ck_assert_int_eq(mr_user_deserialize(&back, b2, len, &e), -1);
    ck_assert_msg(strstr(e.msg, "non-finite") != NULL, "%s", e.msg);
    free(b2);
    free(buf);
    mr_user_free(&st);
    mr_model_free(m);
}
END_TEST

/* Records that pass the CRC but carry random edits (what a buggy writer
 * could produce): each is either rejected with a message or read into a
 * sane state that writes back the very same bytes. ASan checks the reads. */
START_TEST(resealed_random_edits)
{
    mr_model *m = toy(2, MR_ROUTER_LINEAR, 0);
    mr_adapt_params aps[2] = {hedge_params(0.5, 0), router_params(0.2, 1, 3, 1e-3)};
    mr_rng rng;
    mr_rng_seed(&rng, 77);
    int accepted = 0, rejected = 0;
    for (int a = 0; a < 2; a++) {
        mr_user_state st, back;
        mr_error e;
        fill(&st, m, &aps[a], 4, 3);
        size_t len;
        uint8_t *buf = serialize(&st, &len);
        uint8_t *b2 = malloc(len);
        ck_assert_ptr_nonnull(b2);
        for (int it = 0; it < 3000; it++) {
            memcpy(b2, buf, len);
            int edits = 1 + (int)mr_rng_below(&rng, 3);
            for (int j = 0; j < edits; j++) {
                size_t at = 8 + (size_t)mr_rng_below(&rng, len - 12);   /* past magic and version */
                b2[at] = it % 2 ? (uint8_t)mr_rng_u64(&rng) : (uint8_t)(b2[at] ^ 1);
            }
            size_t n = len - (it % 7 == 0 ? 4 * (1 + mr_rng_below(&rng, 3)) : 0);   /* sometimes cut */
            reseal(b2, n);
            if (mr_user_deserialize(&back, b2, n, &e) != 0) {
                ck_assert_msg(strncmp(e.msg, "user state: ", 12) == 0, "%s", e.msg);
                ck_assert_ptr_null(back.params);
                rejected++;
                continue;
            }
            accepted++;
            ck_assert(back.K >= 1 && back.K <= MR_MAX_HEADS && back.ring_n <= back.buffer);
            size_t n2;
            uint8_t *again = serialize(&back, &n2);
            ck_assert_uint_eq(n2, n);
            ck_assert(memcmp(again, b2, n) == 0);
            free(again);
            mr_user_free(&back);
        }
        free(b2);
        free(buf);
        mr_user_free(&st);
    }
    ck_assert_int_gt(accepted, 100);   /* edits of counters and weights are legal values */
    ck_assert_int_gt(rejected, 100);
    mr_model_free(m);
}
END_TEST

/* ---- the acceptance check: personalisation works ---- */

typedef struct {
    double w_star;        /* the user's mean weight on k* over fresh contexts */
    double prior_star;    /* mr_user_prior()[k*] */
    double acc_user, acc_pop;   /* prequential accuracy, last half of the stream */
} perso_result;

enum { PD = 16, PK = 4, PN = 300, KSTAR = 2 };

static perso_result personalise(const mr_adapt_params *ap)
{
    mr_error e;
    mr_model *m = mr_model_new(PK, PD, PD, MR_ROUTER_LINEAR, 0, &e);
    ck_assert_ptr_nonnull(m);
    mr_rng rng;
    mr_rng_seed(&rng, 20260501);
    /* heads with reward std ~2 on unit-normal embeddings; a population router
     * that mixes them depending on the context */
    for (int i = 0; i < PK * PD; i++)
        m->head_w[i] = (float)(mr_rng_normal(&rng) * 2.0 / sqrt(PD));
    for (int i = 0; i < PK * PD; i++)
        m->r_w[i] = (float)(mr_rng_normal(&rng) * 0.5 / sqrt(PD));
    mr_model_fingerprint(m);
    mr_user_state st;
    ck_assert_int_eq(mr_user_init(&st, m, ap, &e), 0);

    int right_user = 0, right_pop = 0, n_half = 0;
    for (int t = 0; t < PN; t++) {
        float u[PD], resp[2 * PD], heads[2 * PK], feat[PD];
        for (int j = 0; j < PD; j++)
            u[j] = (float)mr_rng_normal(&rng);
        for (int j = 0; j < 2 * PD; j++)
            resp[j] = (float)mr_rng_normal(&rng);
        mr_head_rewards(m, resp, 2, heads);
        mr_router_features_of(m, u, feat);
        /* the user's label: a draw from head k*'s Bradley-Terry model */
        double p_a = 1 / (1 + exp(-((double)heads[KSTAR] - heads[PK + KSTAR])));
        int a_wins = mr_rng_uniform(&rng) < p_a;
        const float *hc = a_wins ? heads : heads + PK, *hr = a_wins ? heads + PK : heads;
        double pi_pop[PK];
        mr_router_weights(m, feat, NULL, NULL, NULL, pi_pop);
        double p_pop = mr_preference(m, pi_pop, hc, hr);
        mr_before bf;
        ck_assert_int_eq(mr_user_update(&st, m, ap, feat, hc, hr, &bf, &e), 0);
        if (t >= PN / 2) {
            n_half++;
            right_user += bf.correct;
            right_pop += p_pop > 0.5;
        }
    }
    perso_result res = {0};
    double pi[PK];
    for (int t = 0; t < 200; t++) {
        float u[PD];
        for (int j = 0; j < PD; j++)
            u[j] = (float)mr_rng_normal(&rng);
        mr_user_weights(&st, m, u, pi);   /* linear router: features = u */
        res.w_star += pi[KSTAR] / 200;
    }
    mr_user_prior(&st, m, pi);
    res.prior_star = pi[KSTAR];
    res.acc_user = (double)right_user / n_half;
    res.acc_pop = (double)right_pop / n_half;
    ck_assert_uint_eq(st.scored, PN);
    mr_user_free(&st);
    mr_model_free(m);
    return res;
}

START_TEST(personalisation_hedge)
{
    mr_adapt_params ap = hedge_params(0.5, 0.0);   /* the service's defaults */
    perso_result r = personalise(&ap);
    printf("personalisation hedge:  weight on k* %.3f (prior %.3f); accuracy, last %d: user %.3f, population %.3f\n",
           r.w_star, r.prior_star, PN / 2, r.acc_user, r.acc_pop);
    ck_assert_msg(r.w_star > 0.6, "hedge weight on k* only %.3f", r.w_star);
    ck_assert_msg(r.acc_user > r.acc_pop, "user %.3f vs population %.3f", r.acc_user, r.acc_pop);
}
END_TEST

START_TEST(personalisation_router)
{
    mr_adapt_params ap = router_params(0.1, 1, 32, 1e-3);   /* the service's defaults */
    perso_result r = personalise(&ap);
    printf("personalisation router: weight on k* %.3f (prior %.3f); accuracy, last %d: user %.3f, population %.3f\n",
           r.w_star, r.prior_star, PN / 2, r.acc_user, r.acc_pop);
    ck_assert_msg(r.w_star > 0.4, "router weight on k* only %.3f", r.w_star);
    ck_assert_msg(r.acc_user > r.acc_pop, "user %.3f vs population %.3f", r.acc_user, r.acc_pop);
    /* With tau = 1e-3 omega is nearly one-hot on the head with the largest
     * margin for the chosen response, which is k* only part of the time;
     * over 30 seeds the weight on k* averages 0.43 (min 0.18), accuracy beats
     * the population's on all 30. tau = 1 makes omega the posterior
     * pi_k sig(s_k) / sum: 0.75 on average. */
    ap.tau = 1.0;
    r = personalise(&ap);
    printf("personalisation router, tau 1: weight on k* %.3f (prior %.3f); accuracy, last %d: user %.3f, population %.3f\n",
           r.w_star, r.prior_star, PN / 2, r.acc_user, r.acc_pop);
    ck_assert_msg(r.w_star > 0.6, "router weight on k* only %.3f", r.w_star);
    ck_assert_msg(r.acc_user > r.acc_pop, "user %.3f vs population %.3f", r.acc_user, r.acc_pop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("user_state");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hedge_one_step);
    tcase_add_test(tc, counters_saturate);
    tcase_add_test(tc, tie_is_not_correct);
    tcase_add_test(tc, hedge_from_population_logits_is_bit_identical);
    tcase_add_test(tc, hedge_several_steps_and_prequential);
    tcase_add_test(tc, hedge_recentres);
    tcase_add_test(tc, hedge_fixed_share);
    tcase_add_test(tc, hedge_masked_head);
    tcase_add_test(tc, router_one_step_by_hand);
    tcase_add_test(tc, router_linear_vs_reference);
    tcase_add_test(tc, router_linear_masked_vs_reference);
    tcase_add_test(tc, router_mlp_vs_reference);
    tcase_add_test(tc, extremes_stay_finite);
    tcase_add_test(tc, mismatch_rejected_state_unchanged);
    tcase_add_test(tc, idem_hash_and_ring);
    tcase_add_test(tc, serialization_round_trips);
    tcase_add_test(tc, every_corruption_rejected);
    tcase_add_test(tc, version_and_fields_checked);
    tcase_add_test(tc, resealed_random_edits);
    tcase_add_test(tc, personalisation_hedge);
    tcase_add_test(tc, personalisation_router);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
