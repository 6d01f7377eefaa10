/* Stage-1 training: finite-difference checks of the hand-written gradients
 * (every parameter, linear and MLP router, every objective), the optimiser and
 * schedule against hand-computed values, planted-direction recovery, loss
 * decrease, and byte-identical models for the same seed. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dataset.h"
#include "core/model.h"
#include "core/rng.h"
#include "core/synth.h"
#include "core/train.h"
#include "tests/unit/run_suite.h"

static void fill_normal(mr_rng *r, float *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * mr_rng_normal(r));
}

/* Central differences in float32 with a step large enough to beat rounding:
 * agreement to a few 1e-3 relative is what float math allows, and a wrong
 * gradient term is off by O(1). */
static void check_fd(mr_router_kind kind, mr_objective obj, int K, mr_reg_kind reg)
{
    mr_error e;
    int d = 6, dc = 5, H = 7, nb = 9;
    mr_model *m = mr_model_new(K, d, dc, kind, H, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    mr_rng r;
    mr_rng_seed(&r, 42 + (uint64_t)obj * 7 + (uint64_t)kind);
    fill_normal(&r, m->params, m->n_params, 0.5);
    if (obj != MR_OBJ_MICRO) { /* fixed-router objectives: the router weight is frozen at 0 */
        memset(m->r_w, 0, (size_t)K * (size_t)dc * sizeof(float));
        if (obj != MR_OBJ_STATIC)
            memset(m->r_b, 0, (size_t)K * sizeof(float));
    }
    float *U = malloc((size_t)nb * dc * sizeof(float)), *D = malloc((size_t)nb * d * sizeof(float));
    float *grad = malloc(m->n_params * sizeof(float));
    fill_normal(&r, U, (size_t)nb * dc, 1.0);
    fill_normal(&r, D, (size_t)nb * d, 1.0);
    mr_batch_ws ws;
    ck_assert_int_eq(mr_batch_ws_init(&ws, m, nb, &e), 0);
    double alpha = 0.5;
    mr_stage1_loss_grad(m, obj, alpha, reg, U, D, nb, grad, &ws);
    int checked = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        float keep = m->params[i];
        float h = 1e-2f;
        m->params[i] = keep + h;
        double lp = mr_stage1_loss_grad(m, obj, alpha, reg, U, D, nb, NULL, &ws);
        m->params[i] = keep - h;
        double lm = mr_stage1_loss_grad(m, obj, alpha, reg, U, D, nb, NULL, &ws);
        m->params[i] = keep;
        double fd = (lp - lm) / (2.0 * h);
        int frozen = (m->params + i >= m->head_b && m->params + i < m->head_b + K) ||
                     (obj == MR_OBJ_STATIC && m->params + i >= m->r_w && m->params + i < m->r_w + K * dc) ||
                     ((obj == MR_OBJ_SINGLE || obj == MR_OBJ_SHARED) && m->params + i >= m->params + mr_router_offset(m));
        if (frozen) {
            /* head biases cancel in s; frozen router parts report 0 */
            ck_assert_msg(grad[i] == 0.0f, "param %zu should have a zero gradient, got %g", i, (double)grad[i]);
            if (m->params + i >= m->head_b && m->params + i < m->head_b + K)
                ck_assert_msg(fabs(fd) < 1e-5, "head bias %zu moves the loss: fd %g", i, fd);
            continue;
        }
        double tol = 3e-3 + 1e-2 * fabs(fd);
        ck_assert_msg(fabs(fd - grad[i]) < tol, "%s/%s param %zu: analytic %.6g vs finite difference %.6g",
                      mr_objective_name(obj), kind == MR_ROUTER_MLP ? "mlp" : "linear", i, (double)grad[i], fd);
        checked++;
    }
    ck_assert_int_ge(checked, K * d);
    mr_batch_ws_free(&ws);
    free(U);
    free(D);
    free(grad);
    mr_model_free(m);
}

START_TEST(fd_micro_linear) { check_fd(MR_ROUTER_LINEAR, MR_OBJ_MICRO, 3, MR_REG_EXAMPLE); }
END_TEST
START_TEST(fd_micro_mlp) { check_fd(MR_ROUTER_MLP, MR_OBJ_MICRO, 3, MR_REG_EXAMPLE); }
END_TEST
START_TEST(fd_micro_batch_reg) { check_fd(MR_ROUTER_MLP, MR_OBJ_MICRO, 3, MR_REG_BATCH); }
END_TEST
START_TEST(fd_static_batch_reg) { check_fd(MR_ROUTER_LINEAR, MR_OBJ_STATIC, 3, MR_REG_BATCH); }
END_TEST
START_TEST(fd_static) { check_fd(MR_ROUTER_LINEAR, MR_OBJ_STATIC, 3, MR_REG_EXAMPLE); }
END_TEST
START_TEST(fd_shared) { check_fd(MR_ROUTER_LINEAR, MR_OBJ_SHARED, 3, MR_REG_EXAMPLE); }
END_TEST
START_TEST(fd_single) { check_fd(MR_ROUTER_LINEAR, MR_OBJ_SINGLE, 1, MR_REG_EXAMPLE); }
END_TEST

/* The loss itself against a hand computation for one pair. */
START_TEST(loss_by_hand)
{
    mr_error e;
    mr_model *m = mr_model_new(2, 1, 1, MR_ROUTER_LINEAR, 0, &e);
    ck_assert_ptr_nonnull(m);
    m->head_w[0] = 1.0f;  /* s_0 = 2 */
    m->head_w[1] = -0.5f; /* s_1 = -1 */
    m->r_w[0] = 0.0f;
    m->r_w[1] = 1.0f;     /* g = (0, 0.5) for u = 0.5 */
    float U[1] = {0.5f}, D[1] = {2.0f}, grad[8];
    mr_batch_ws ws;
    ck_assert_int_eq(mr_batch_ws_init(&ws, m, 1, &e), 0);
    double pi0 = 1.0 / (1.0 + exp(0.5)), pi1 = 1.0 - pi0;
    double sig0 = 1.0 / (1.0 + exp(-2.0)), sig1 = 1.0 / (1.0 + exp(1.0));
    double nll = -log(pi0 * sig0 + pi1 * sig1);
    double reg = pi0 * log(pi0) + pi1 * log(pi1);
    double got = mr_stage1_loss_grad(m, MR_OBJ_MICRO, 0.5, MR_REG_EXAMPLE, U, D, 1, grad, &ws);
    ck_assert_double_eq_tol(got, nll + 0.5 * reg, 1e-6);
    /* d nll / d s_0 = -p_0 (1 - sig_0), p_0 = pi0 sig0 / (pi0 sig0 + pi1 sig1); dW = ds * D */
    double p0 = pi0 * sig0 / (pi0 * sig0 + pi1 * sig1);
    ck_assert_double_eq_tol(grad[0], -p0 * (1 - sig0) * 2.0, 1e-6);
    got = mr_stage1_loss_grad(m, MR_OBJ_SHARED, 0.5, MR_REG_EXAMPLE, U, D, 1, NULL, &ws);
    ck_assert_double_eq_tol(got, 0.5 * (-log(sig0) - log(sig1)), 1e-6);
    mr_batch_ws_free(&ws);
    mr_model_free(m);
}
END_TEST

START_TEST(adamw_and_schedule)
{
    mr_error e;
    mr_adamw opt;
    ck_assert_int_eq(mr_adamw_init(&opt, 2, 0.0, &e), 0);
    float p[2] = {1.0f, -1.0f}, g[2] = {0.5f, -2.0f};
    /* first Adam step moves every parameter by lr against the gradient's sign */
    mr_adamw_step(&opt, p, g, 0.1);
    ck_assert_double_eq_tol(p[0], 0.9, 1e-6);
    ck_assert_double_eq_tol(p[1], -0.9, 1e-6);
    /* second step with the same gradient: m_hat = g, v_hat = g^2 -> again lr */
    mr_adamw_step(&opt, p, g, 0.1);
    ck_assert_double_eq_tol(p[0], 0.8, 1e-5);
    mr_adamw_free(&opt);
    ck_assert_int_eq(mr_adamw_init(&opt, 1, 0.5, &e), 0);
    float q[1] = {2.0f}, z[1] = {0.0f};
    mr_adamw_step(&opt, q, z, 0.1); /* decoupled decay only: 2 * (1 - 0.1 * 0.5) */
    ck_assert_double_eq_tol(q[0], 1.9, 1e-6);
    mr_adamw_free(&opt);

    /* 100 steps, 5% warm-up: 5 warm-up steps lr*(t+1)/5, then cosine to 0 */
    ck_assert_double_eq_tol(mr_cosine_lr(1.0, 0, 100, 0.05), 0.2, 1e-12);
    ck_assert_double_eq_tol(mr_cosine_lr(1.0, 4, 100, 0.05), 1.0, 1e-12);
    ck_assert_double_eq_tol(mr_cosine_lr(1.0, 5, 100, 0.05), 1.0, 1e-12);
    ck_assert_double_eq_tol(mr_cosine_lr(1.0, 5 + 95 / 2.0, 100, 0.05), 0.5, 0.02);
    ck_assert_double_eq_tol(mr_cosine_lr(1.0, 100, 100, 0.05), 0.0, 1e-12);
}
END_TEST

/* The vector AdamW must equal the plain formula bit for bit (same IEEE
 * operations in the same order), on lengths that leave a scalar tail. */
START_TEST(adamw_vector_equals_scalar)
{
    mr_error e;
    const size_t n = 37;
    mr_adamw opt;
    ck_assert_int_eq(mr_adamw_init(&opt, n, 0.01, &e), 0);
    float p[37], q[37], g[37], m[37] = {0}, v[37] = {0};
    mr_rng r;
    mr_rng_seed(&r, 9);
    for (size_t i = 0; i < n; i++)
        p[i] = q[i] = (float)mr_rng_normal(&r);
    for (int t = 1; t <= 3; t++) {
        for (size_t i = 0; i < n; i++)
            g[i] = (float)mr_rng_normal(&r);
        double lr = 0.01 * t;
        mr_adamw_step(&opt, p, g, lr);
        float c1 = (float)(1.0 / (1.0 - pow(0.9, t))), c2 = (float)(1.0 / (1.0 - pow(0.999, t)));
        for (size_t i = 0; i < n; i++) {
            m[i] = 0.9f * m[i] + (1.0f - 0.9f) * g[i];
            v[i] = 0.999f * v[i] + (1.0f - 0.999f) * g[i] * g[i];
            q[i] = q[i] * (float)(1.0 - lr * 0.01) - (float)lr * (m[i] * c1) / (sqrtf(v[i] * c2) + 1e-8f);
        }
    }
    ck_assert_msg(memcmp(p, q, sizeof p) == 0, "vector AdamW differs from the scalar formula");
    mr_adamw_free(&opt);
}
END_TEST

static char tmpdir[256];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mr_test_train_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmp(const char *const *files, int n)
{
    char p[512];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

/* Easy data (no label noise, no reversals, big margin): after matching heads
 * to the planted directions, every cosine is > 0.9, and the loss goes down. */
START_TEST(recovers_planted_directions)
{
    make_tmp();
    char train[300], test[300];
    snprintf(train, sizeof train, "%s/train.safetensors", tmpdir);
    snprintf(test, sizeof test, "%s/test.safetensors", tmpdir);
    mr_synth_opts so;
    mr_synth_opts_default(&so);
    so.n_train = 6000;
    so.n_test = 100;
    so.d = so.dc = 16;
    so.K = 3;
    so.A = 3;
    so.margin = 6.0;
    so.label_noise = 0.0;
    so.reversal = 0.0;
    so.focus = 1.0;
    so.context_noise = 0.2;
    so.seed = 3;
    mr_error e;
    ck_assert_msg(mr_synth(&so, train, test, NULL, &e) == 0, "%s", e.msg);
    float v[3 * 16];
    ck_assert_int_eq(mr_synth_directions(&so, v, &e), 0);
    mr_dataset ds;
    ck_assert_msg(mr_dataset_open(&ds, train, &e) == 0, "%s", e.msg);
    mr_model *m = mr_model_new(3, 16, 16, MR_ROUTER_LINEAR, 0, &e);
    mr_train_opts o;
    mr_train_opts_default(&o);
    o.epochs = 40; /* the mixture breaks its symmetry slowly: give it steps */
    o.lr = 1e-2;
    mr_train_result res;
    ck_assert_msg(mr_train(m, &ds, &o, &res, &e) == 0, "%s", e.msg);
    ck_assert_msg(res.last_epoch_loss < res.first_epoch_loss - 0.05, "loss %g -> %g", res.first_epoch_loss,
                  res.last_epoch_loss);
    /* greedy matching on |cos| is enough at these margins; check each pairing */
    int used[3] = {0, 0, 0};
    for (int z = 0; z < 3; z++) {
        double best = -2;
        int bk = -1;
        for (int k = 0; k < 3; k++) {
            if (used[k])
                continue;
            double dot = 0, n1 = 0, n2 = 0;
            for (int j = 0; j < 16; j++) {
                dot += (double)m->head_w[k * 16 + j] * v[z * 16 + j];
                n1 += (double)m->head_w[k * 16 + j] * m->head_w[k * 16 + j];
                n2 += (double)v[z * 16 + j] * v[z * 16 + j];
            }
            double c = dot / sqrt(n1 * n2);
            if (c > best) {
                best = c;
                bk = k;
            }
        }
        used[bk] = 1;
        ck_assert_msg(best > 0.9, "direction %d: best head cosine %.3f", z, best);
    }
    mr_model_free(m);
    mr_dataset_close(&ds);
    const char *files[] = {"train.safetensors", "test.safetensors"};
    rm_tmp(files, 2);
}
END_TEST

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* Same seed -> the same bytes; another seed -> other bytes. */
START_TEST(same_seed_same_file)
{
    make_tmp();
    char train[300], test[300], out[3][300];
    snprintf(train, sizeof train, "%s/train.safetensors", tmpdir);
    snprintf(test, sizeof test, "%s/test.safetensors", tmpdir);
    mr_synth_opts so;
    mr_synth_opts_default(&so);
    so.n_train = 500;
    so.n_test = 10;
    so.d = so.dc = 8;
    mr_error e;
    ck_assert_int_eq(mr_synth(&so, train, test, NULL, &e), 0);
    mr_dataset ds;
    ck_assert_int_eq(mr_dataset_open(&ds, train, &e), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(out[i], sizeof out[i], "%s/m%d.safetensors", tmpdir, i);
        mr_model *m = mr_model_new(4, 8, 8, MR_ROUTER_MLP, 5, &e);
        mr_train_opts o;
        mr_train_opts_default(&o);
        o.epochs = 2;
        o.seed = i == 2 ? 8 : 7;
        ck_assert_int_eq(mr_train(m, &ds, &o, NULL, &e), 0);
        ck_assert_int_eq(mr_model_save(m, out[i], &e), 0);
        mr_model_free(m);
    }
    size_t l0, l1, l2;
    unsigned char *b0 = slurp(out[0], &l0), *b1 = slurp(out[1], &l1), *b2 = slurp(out[2], &l2);
    ck_assert_uint_eq(l0, l1);
    ck_assert_msg(memcmp(b0, b1, l0) == 0, "same seed gave different model files");
    ck_assert_msg(l0 != l2 || memcmp(b0, b2, l0) != 0, "another seed gave the same model file");
    free(b0);
    free(b1);
    free(b2);
    mr_dataset_close(&ds);
    const char *files[] = {"train.safetensors", "test.safetensors", "m0.safetensors", "m1.safetensors",
                           "m2.safetensors"};
    rm_tmp(files, 5);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fd_micro_linear);
    tcase_add_test(tc, fd_micro_mlp);
    tcase_add_test(tc, fd_micro_batch_reg);
    tcase_add_test(tc, fd_static_batch_reg);
    tcase_add_test(tc, fd_static);
    tcase_add_test(tc, fd_shared);
    tcase_add_test(tc, fd_single);
    tcase_add_test(tc, loss_by_hand);
    tcase_add_test(tc, adamw_and_schedule);
    tcase_add_test(tc, adamw_vector_equals_scalar);
    tcase_add_test(tc, recovers_planted_directions);
    tcase_add_test(tc, same_seed_same_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
