/* Unit tests for core/mathx: log-sigmoid, sigmoid, softmax and log-sum-exp
 * at the extremes where naive formulas overflow or lose everything. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "core/mathx.h"
#include "tests/unit/run_suite.h"

START_TEST(logsigmoid_values)
{
    ck_assert_double_eq_tol(mr_logsigmoid(0.0), -0.69314718055994530942, 1e-16);
    /* log sigmoid(50) = -log1p(e^-50) ~ -e^-50 = -1.9287498479639178e-22 */
    ck_assert_double_eq_tol(mr_logsigmoid(50.0) / -1.9287498479639178e-22, 1.0, 1e-12);
    /* log sigmoid(-50) = -50 - log1p(e^-50): -50 to double precision */
    ck_assert_double_eq(mr_logsigmoid(-50.0), -50.0);
    /* Exact asymptotes, no overflow: 0 and s itself */
    ck_assert(isfinite(mr_logsigmoid(1000.0)));
    ck_assert_double_eq(mr_logsigmoid(1000.0), 0.0);
    ck_assert_double_eq(mr_logsigmoid(-1000.0), -1000.0);
    /* log sigmoid(2) = -log(1 + e^-2) = -0.12692801104297263 */
    ck_assert_double_eq_tol(mr_logsigmoid(2.0), -0.12692801104297263, 1e-15);
    ck_assert_double_eq_tol(mr_logsigmoid(-2.0), -2.1269280110429727, 1e-15);
}
END_TEST

START_TEST(sigmoid_values)
{
    ck_assert_double_eq(mr_sigmoid(0.0), 0.5);
    ck_assert_double_eq(mr_sigmoid(1000.0), 1.0);
    ck_assert_double_eq(mr_sigmoid(-1000.0), 0.0);
    ck_assert(isfinite(mr_sigmoid(-1e308)) && isfinite(mr_sigmoid(1e308)));
    ck_assert_double_eq_tol(mr_sigmoid(-50.0) / 1.9287498479639178e-22, 1.0, 1e-12);
    ck_assert_double_eq_tol(mr_sigmoid(1.0), 0.7310585786300049, 1e-15);
    /* symmetry: sigmoid(s) + sigmoid(-s) = 1 */
    ck_assert_double_eq_tol(mr_sigmoid(3.0) + mr_sigmoid(-3.0), 1.0, 1e-15);
}
END_TEST

START_TEST(softmax_extremes)
{
    double x[3] = {1000.0, 0.0, -1000.0}, out[3];
    mr_softmax(x, NULL, 3, out);
    ck_assert_double_eq(out[0], 1.0);
    ck_assert_double_eq(out[1], 0.0);   /* e^-1000 underflows to exactly 0, no NaN */
    ck_assert_double_eq(out[2], 0.0);
    ck_assert_double_eq(mr_logsumexp(x, NULL, 3), 1000.0);

    double y[2] = {1000.0, 1000.0};
    ck_assert_double_eq_tol(mr_logsumexp(y, NULL, 2), 1000.0 + log(2.0), 1e-12);
}
END_TEST

/* Found by fuzz_user_state: logits near 1e30 made max + log(sum) round back
 * to max, and softmax gave [1, 1] for two equal logits. */
START_TEST(softmax_huge_logits)
{
    double x[3] = {1e30, 1e30, 1e30 - 1e15}, out[3], lp[3];
    mr_softmax(x, NULL, 3, out);
    ck_assert_double_eq_tol(out[0], 0.5, 1e-15);
    ck_assert_double_eq_tol(out[1], 0.5, 1e-15);
    ck_assert_double_eq(out[2], 0.0);
    mr_log_softmax(x, NULL, 3, lp);
    ck_assert_double_eq_tol(lp[0], -log(2.0), 1e-15);
    ck_assert_double_eq_tol(lp[1], -log(2.0), 1e-15);
    ck_assert_double_eq_tol(lp[2], (x[2] - x[0]) - log(2.0), 1.0);   /* x[2] - x[0] is exact, about -1e15 */
    double y[2] = {-3e38, 3e38};
    unsigned char mask[2] = {0, 1};
    mr_log_softmax(y, mask, 2, lp);
    ck_assert_double_eq(lp[0], 0.0);
    ck_assert(lp[1] == -INFINITY);
    mr_softmax(y, mask, 2, out);
    ck_assert_double_eq(out[0], 1.0);
    ck_assert_double_eq(out[1], 0.0);
}
END_TEST

START_TEST(softmax_values_and_mask)
{
    double x[3] = {0.0, log(2.0), 0.0}, out[3];
    mr_softmax(x, NULL, 3, out);
    ck_assert_double_eq_tol(out[0], 0.25, 1e-15);
    ck_assert_double_eq_tol(out[1], 0.5, 1e-15);
    ck_assert_double_eq_tol(out[2], 0.25, 1e-15);

    unsigned char mask[3] = {0, 1, 0};
    mr_softmax(x, mask, 3, out);
    ck_assert_double_eq_tol(out[0], 0.5, 1e-15);
    ck_assert_double_eq(out[1], 0.0);
    ck_assert_double_eq_tol(out[2], 0.5, 1e-15);

    /* masking the dominant entry must not leave 0/0 behind */
    double z[3] = {1000.0, 0.0, -1000.0};
    unsigned char m0[3] = {1, 0, 0};
    mr_softmax(z, m0, 3, out);
    ck_assert_double_eq(out[0], 0.0);
    ck_assert_double_eq(out[1], 1.0);
    ck_assert_double_eq(out[2], 0.0);

    /* in place */
    double w[2] = {log(3.0), 0.0};
    mr_softmax(w, NULL, 2, w);
    ck_assert_double_eq_tol(w[0], 0.75, 1e-15);
    ck_assert_double_eq_tol(w[1], 0.25, 1e-15);
}
END_TEST

START_TEST(softmax_all_masked)
{
    double x[2] = {1.0, 2.0}, out[2] = {7, 7};
    unsigned char mask[2] = {1, 1};
    mr_softmax(x, mask, 2, out);
    ck_assert_double_eq(out[0], 0.0);
    ck_assert_double_eq(out[1], 0.0);
    ck_assert(isinf(mr_logsumexp(x, mask, 2)) && mr_logsumexp(x, mask, 2) < 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mathx");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, logsigmoid_values);
    tcase_add_test(tc, sigmoid_values);
    tcase_add_test(tc, softmax_extremes);
    tcase_add_test(tc, softmax_values_and_mask);
    tcase_add_test(tc, softmax_all_masked);
    tcase_add_test(tc, softmax_huge_logits);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
