/* Unit tests for core/score against hand-computed numbers: a K=2, d=2 model
 * with a linear router whose weights come out as exactly 3/4 and 1/4. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "core/model.h"
#include "core/score.h"
#include "tests/unit/run_suite.h"

/* head 0: w = [1, 2],  b =  0.5
 * head 1: w = [-1, .5], b = -0.5
 * router: identity, zero bias, so u = [ln 3, 0] gives pi = [3/4, 1/4].
 * a = [1, 1]:  r = [3.5, -1]
 * b = [2, -1]: r = [0.5, -3] */
static mr_model *toy(void)
{
    mr_error e;
    mr_model *m = mr_model_new(2, 2, 2, MR_ROUTER_LINEAR, 0, &e);
    ck_assert_ptr_nonnull(m);
    const float hw[4] = {1, 2, -1, 0.5f}, hb[2] = {0.5f, -0.5f}, rw[4] = {1, 0, 0, 1};
    for (int i = 0; i < 4; i++) {
        m->head_w[i] = hw[i];
        m->r_w[i] = rw[i];
    }
    m->head_b[0] = hb[0];
    m->head_b[1] = hb[1];
    return m;
}

static const float resp[4] = {1, 1, 2, -1};

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

START_TEST(head_rewards_one_and_many)
{
    mr_model *m = toy();
    float h1[2], h2[4];
    mr_head_rewards(m, resp, 1, h1);        /* sgemv */
    ck_assert_float_eq(h1[0], 3.5f);
    ck_assert_float_eq(h1[1], -1.0f);
    mr_head_rewards(m, resp, 2, h2);        /* sgemm */
    ck_assert_float_eq(h2[0], 3.5f);
    ck_assert_float_eq(h2[1], -1.0f);
    ck_assert_float_eq(h2[2], 0.5f);
    ck_assert_float_eq(h2[3], -3.0f);
    mr_model_free(m);
}
END_TEST

START_TEST(weights_reward_preference)
{
    mr_model *m = toy();
    float u[2] = {(float)log(3.0), 0}, feat[2], h[4];
    double pi[2];
    mr_router_features_of(m, u, feat);
    ck_assert_float_eq(feat[0], u[0]);
    ck_assert_float_eq(feat[1], 0.0f);
    mr_router_weights(m, feat, NULL, NULL, NULL, pi);
    ck_assert_double_eq_tol(pi[0], 0.75, 1e-7);   /* ln 3 rounded to float */
    ck_assert_double_eq_tol(pi[1], 0.25, 1e-7);
    ck_assert_double_eq_tol(pi[0] + pi[1], 1.0, 1e-15);

    mr_head_rewards(m, resp, 2, h);
    double p[2] = {0.75, 0.25};
    /* linear: 0.75 * 3.5 + 0.25 * -1 = 2.375;  0.75 * 0.5 + 0.25 * -3 = -0.375 */
    ck_assert_double_eq_tol(mr_reward(m, p, h), 2.375, 1e-12);
    ck_assert_double_eq_tol(mr_reward(m, p, h + 2), -0.375, 1e-12);
    /* P(a > b) = 0.75 sigmoid(3) + 0.25 sigmoid(2) = 0.93462986 (Python) */
    double pab = 0.75 * sig(3.0) + 0.25 * sig(2.0);
    ck_assert_double_eq_tol(pab, 0.9346298646, 1e-9);
    ck_assert_double_eq_tol(mr_preference(m, p, h, h + 2), pab, 1e-12);
    ck_assert_double_eq_tol(mr_preference(m, p, h + 2, h), 1.0 - pab, 1e-12);
    ck_assert_double_eq_tol(mr_preference(m, p, h, h), 0.5, 1e-15);

    /* logsigmoid mode: 0.75 log sigmoid(3.5) + 0.25 log sigmoid(-1) */
    m->score_mode = MR_SCORE_LOGSIGMOID;
    double want = 0.75 * log(sig(3.5)) + 0.25 * log(sig(-1.0));
    ck_assert_double_eq_tol(want, -0.3506282356, 1e-9);
    ck_assert_double_eq_tol(mr_reward(m, p, h), want, 1e-12);
    mr_model_free(m);
}
END_TEST

START_TEST(mask_beta_and_override)
{
    mr_model *m = toy();
    mr_error e;
    float feat[2] = {(float)log(3.0), 0}, h[4];
    double pi[2];
    mr_head_rewards(m, resp, 2, h);

    ck_assert_int_eq(mr_model_set_mask(m, "0", &e), 0);
    mr_router_weights(m, feat, NULL, NULL, NULL, pi);
    ck_assert_double_eq(pi[0], 0.0);
    ck_assert_double_eq(pi[1], 1.0);
    ck_assert_double_eq_tol(mr_reward(m, pi, h), -1.0, 1e-12);
    ck_assert_double_eq_tol(mr_preference(m, pi, h, h + 2), sig(2.0), 1e-12);
    ck_assert_int_eq(mr_model_set_mask(m, "", &e), 0);

    /* per-user offset beta = [0, ln 3] evens the weights out */
    float beta[2] = {0, (float)log(3.0)};
    mr_router_weights(m, feat, NULL, NULL, beta, pi);
    ck_assert_double_eq_tol(pi[0], 0.5, 1e-12);
    ck_assert_double_eq_tol(pi[1], 0.5, 1e-12);

    /* a user's own output layer: w = 0, b = [0, ln 4] -> [1/5, 4/5] */
    float w[4] = {0}, b[2] = {0, (float)log(4.0)};
    mr_router_weights(m, feat, w, b, NULL, pi);
    ck_assert_double_eq_tol(pi[0], 0.2, 1e-7);
    ck_assert_double_eq_tol(pi[1], 0.8, 1e-7);
    mr_model_free(m);
}
END_TEST

START_TEST(mlp_features)
{
    mr_error e;
    mr_model *m = mr_model_new(2, 2, 2, MR_ROUTER_MLP, 2, &e);
    /* W1 = [[1,-1],[2,0]], b1 = [0,-1]; u = [1,3]: [-2, 1] -> relu [0, 1] */
    const float w1[4] = {1, -1, 2, 0};
    for (int i = 0; i < 4; i++)
        m->r1_w[i] = w1[i];
    m->r1_b[1] = -1;
    /* W2 = [[0, 0], [0, ln 3]] so pi = softmax([0, ln 3]) = [1/4, 3/4] */
    m->r_w[3] = (float)log(3.0);
    float u[2] = {1, 3}, feat[2];
    double pi[2];
    mr_router_features_of(m, u, feat);
    ck_assert_float_eq(feat[0], 0.0f);
    ck_assert_float_eq(feat[1], 1.0f);
    mr_router_weights(m, feat, NULL, NULL, NULL, pi);
    ck_assert_double_eq_tol(pi[0], 0.25, 1e-7);
    ck_assert_double_eq_tol(pi[1], 0.75, 1e-7);
    mr_model_free(m);
}
END_TEST

START_TEST(extremes_stay_finite)
{
    mr_model *m = toy();
    /* float32 overflow in the dot product: saturates, never Inf */
    m->head_w[0] = 1e30f;
    m->head_w[1] = 1e30f;
    float big[4] = {1e30f, 1e30f, -1e30f, -1e30f}, h[4];
    mr_head_rewards(m, big, 1, h);
    ck_assert_float_eq(h[0], FLT_MAX);
    mr_head_rewards(m, big, 2, h);
    ck_assert_float_eq(h[0], FLT_MAX);
    ck_assert_float_eq(h[2], -FLT_MAX);
    for (int i = 0; i < 4; i++)
        ck_assert(isfinite(h[i]));

    /* huge logits: weights one-hot, exactly, no NaN */
    float feat[2] = {1e30f, -1e30f};
    m->r_w[0] = 1e30f;
    double pi[2];
    mr_router_weights(m, feat, NULL, NULL, NULL, pi);
    ck_assert_double_eq(pi[0], 1.0);
    ck_assert_double_eq(pi[1], 0.0);

    double r = mr_reward(m, pi, h);
    ck_assert(isfinite(r));
    ck_assert_double_eq(r, (double)FLT_MAX);
    m->score_mode = MR_SCORE_LOGSIGMOID;
    ck_assert_double_eq(mr_reward(m, pi, h), 0.0);           /* log sigmoid(+huge) */
    ck_assert_double_eq(mr_reward(m, pi, h + 2), -(double)FLT_MAX);
    double p = mr_preference(m, pi, h, h + 2);
    ck_assert_double_eq(p, 1.0);
    ck_assert_double_eq(mr_preference(m, pi, h + 2, h), 0.0);
    mr_model_free(m);
}
END_TEST

START_TEST(batch_matches_single)
{
    mr_error e;
    mr_model *m = mr_model_new(5, 37, 37, MR_ROUTER_LINEAR, 0, &e);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = (float)cos(0.37 * (double)i);
    enum { N = 7 };
    float r[N * 37], many[N * 5], one[5];
    for (int i = 0; i < N * 37; i++)
        r[i] = (float)sin(0.11 * i);
    mr_head_rewards(m, r, N, many);
    for (int i = 0; i < N; i++) {
        mr_head_rewards(m, r + i * 37, 1, one);
        for (int k = 0; k < 5; k++) {
            double want = m->head_b[k];
            for (int j = 0; j < 37; j++)
                want += (double)m->head_w[k * 37 + j] * r[i * 37 + j];
            ck_assert_double_eq_tol(many[i * 5 + k], want, 1e-4);
            ck_assert_double_eq_tol(one[k], want, 1e-4);
        }
    }
    mr_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("score");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, head_rewards_one_and_many);
    tcase_add_test(tc, weights_reward_preference);
    tcase_add_test(tc, mask_beta_and_override);
    tcase_add_test(tc, mlp_features);
    tcase_add_test(tc, extremes_stay_finite);
    tcase_add_test(tc, batch_matches_single);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
