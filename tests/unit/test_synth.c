/* Synthetic data: reproducible bytes for a seed, Bayes accuracies that are
 * consistent with each other and with the labels drawn, reversed twins that
 * really reverse, a context whose attribute signal is tunable, and label
 * noise that behaves as its name says. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dataset.h"
#include "core/synth.h"
#include "tests/unit/run_suite.h"

static char dir[256], tr[300], te[300];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mr_test_synth_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(tr, sizeof tr, "%s/train.safetensors", dir);
    snprintf(te, sizeof te, "%s/test.safetensors", dir);
}

static void teardown(void)
{
    unlink(tr);
    unlink(te);
    rmdir(dir);
}

static unsigned char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

START_TEST(same_seed_same_bytes)
{
    setup();
    mr_synth_opts o;
    mr_synth_opts_default(&o);
    o.n_train = 300;
    o.n_test = 50;
    o.d = o.dc = 8;
    mr_error e;
    size_t l1, l2, l3;
    ck_assert_int_eq(mr_synth(&o, tr, te, NULL, &e), 0);
    unsigned char *a = slurp(tr, &l1);
    ck_assert_int_eq(mr_synth(&o, tr, te, NULL, &e), 0);
    unsigned char *b = slurp(tr, &l2);
    o.seed = 1;
    ck_assert_int_eq(mr_synth(&o, tr, te, NULL, &e), 0);
    unsigned char *c = slurp(tr, &l3);
    ck_assert_uint_eq(l1, l2);
    ck_assert(memcmp(a, b, l1) == 0);
    ck_assert(l1 != l3 || memcmp(a, c, l1) != 0);
    free(a);
    free(b);
    free(c);
    teardown();
}
END_TEST

START_TEST(bayes_is_consistent)
{
    setup();
    mr_synth_opts o;
    mr_synth_opts_default(&o);
    o.n_train = 10;
    o.n_test = 6000;
    o.d = o.dc = 16;
    mr_synth_report r;
    mr_error e;
    ck_assert_int_eq(mr_synth(&o, tr, te, &r, &e), 0);
    ck_assert(r.bayes_prompt >= 0.5 && r.bayes_prompt <= r.bayes_context && r.bayes_context <= 1.0);
    /* labels are drawn from the model: their agreement with the Bayes
     * decision is a binomial around the expected accuracy */
    ck_assert_msg(fabs(r.empirical_context - r.bayes_context) < 0.02, "empirical %.3f vs expected %.3f",
                  r.empirical_context, r.bayes_context);
    int64_t total = 0;
    for (int a = 0; a < o.A; a++)
        total += r.count_attr[a];
    ck_assert_int_eq(total, o.n_test);
    /* a label flipped half the time carries no information */
    o.label_noise = 0.5;
    ck_assert_int_eq(mr_synth(&o, tr, te, &r, &e), 0);
    ck_assert_double_eq_tol(r.bayes_context, 0.5, 1e-9);
    /* a prompt that pins down the attribute mix helps the prompt-only decision */
    o.label_noise = 0.0;
    o.reversal = 0.0;
    o.topic_concentration = 0.0;
    ck_assert_int_eq(mr_synth(&o, tr, te, &r, &e), 0);
    double flat = r.bayes_prompt;
    o.topic_concentration = 8.0;
    ck_assert_int_eq(mr_synth(&o, tr, te, &r, &e), 0);
    ck_assert_msg(r.bayes_prompt > flat + 0.05, "prompt-only Bayes %.3f (peaked topics) vs %.3f (flat)", r.bayes_prompt,
                  flat);
    teardown();
}
END_TEST

/* With reversal 1 every pair is a twin: same prompt, same two responses,
 * opposite labels under two attributes of different subpopulations. */
START_TEST(twins_reverse)
{
    setup();
    mr_synth_opts o;
    mr_synth_opts_default(&o);
    o.n_train = 400;
    o.n_test = 2;
    o.d = o.dc = 8;
    o.K = 2;
    o.A = 4;
    o.reversal = 1.0;
    o.label_noise = 0.0;
    o.margin = 20.0;
    mr_error e;
    mr_synth_report r;
    ck_assert_int_eq(mr_synth(&o, tr, te, &r, &e), 0);
    ck_assert_int_eq(r.twins_train, 200);
    mr_dataset ds;
    ck_assert_int_eq(mr_dataset_open(&ds, tr, &e), 0);
    int reversed = 0;
    for (int64_t i = 0; i < 400; i += 2) {
        int64_t idx[2] = {i, i + 1};
        float p[16], c[16], rj[16];
        mr_dataset_gather(&ds, MR_COL_PROMPT, idx, 2, p);
        mr_dataset_gather(&ds, MR_COL_CHOSEN, idx, 2, c);
        mr_dataset_gather(&ds, MR_COL_REJECTED, idx, 2, rj);
        ck_assert(memcmp(p, p + 8, 8 * sizeof(float)) == 0);
        ck_assert_int_ne(ds.attribute[i] % 2, ds.attribute[i + 1] % 2);
        reversed += memcmp(c, rj + 8, 8 * sizeof(float)) == 0 && memcmp(rj, c + 8, 8 * sizeof(float)) == 0;
    }
    ck_assert_msg(reversed >= 190, "only %d of 200 twins reversed", reversed);
    mr_dataset_close(&ds);
    teardown();
}
END_TEST

/* Nearest-centroid of (context - prompt) recovers the attribute when the
 * context noise is low, and falls towards chance when it is high. */
static double context_reveals(double noise)
{
    setup();
    mr_synth_opts o;
    mr_synth_opts_default(&o);
    o.n_train = 2000;
    o.n_test = 2;
    o.d = o.dc = 32;
    o.A = 4;
    o.context_noise = noise;
    mr_error e;
    ck_assert_int_eq(mr_synth(&o, tr, te, NULL, &e), 0);
    mr_dataset ds;
    ck_assert_int_eq(mr_dataset_open(&ds, tr, &e), 0);
    double cent[4][32] = {{0}};
    int cnt[4] = {0};
    float p[32], c[32];
    for (int64_t i = 0; i < 1000; i++) {
        mr_dataset_gather(&ds, MR_COL_PROMPT, &i, 1, p);
        mr_dataset_gather(&ds, MR_COL_CONTEXT, &i, 1, c);
        int a = ds.attribute[i];
        cnt[a]++;
        for (int j = 0; j < 32; j++)
            cent[a][j] += c[j] - p[j];
    }
    for (int a = 0; a < 4; a++)
        for (int j = 0; j < 32; j++)
            cent[a][j] /= cnt[a] ? cnt[a] : 1;
    int hit = 0;
    for (int64_t i = 1000; i < 2000; i++) {
        mr_dataset_gather(&ds, MR_COL_PROMPT, &i, 1, p);
        mr_dataset_gather(&ds, MR_COL_CONTEXT, &i, 1, c);
        int best = 0;
        double bd = 1e300;
        for (int a = 0; a < 4; a++) {
            double dd = 0;
            for (int j = 0; j < 32; j++)
                dd += (c[j] - p[j] - cent[a][j]) * (c[j] - p[j] - cent[a][j]);
            if (dd < bd) {
                bd = dd;
                best = a;
            }
        }
        hit += best == ds.attribute[i];
    }
    mr_dataset_close(&ds);
    teardown();
    return hit / 1000.0;
}

START_TEST(context_signal_is_tunable)
{
    double clean = context_reveals(1.0), noisy = context_reveals(30.0);
    ck_assert_msg(clean > 0.95, "context noise 1: attribute recovered %.3f", clean);
    ck_assert_msg(noisy < 0.6, "context noise 30: attribute recovered %.3f", noisy);
}
END_TEST

START_TEST(bad_options)
{
    setup();
    mr_synth_opts o;
    mr_synth_opts_default(&o);
    mr_error e;
    o.label_noise = 0.7;
    ck_assert_int_eq(mr_synth(&o, tr, te, NULL, &e), -1);
    ck_assert(strstr(e.msg, "label-noise") != NULL);
    mr_synth_opts_default(&o);
    o.A = 1000;
    ck_assert_int_eq(mr_synth(&o, tr, te, NULL, &e), -1);
    ck_assert(strstr(e.msg, "attributes") != NULL);
    ck_assert_int_ne(access(tr, F_OK), 0);
    teardown();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, same_seed_same_bytes);
    tcase_add_test(tc, bayes_is_consistent);
    tcase_add_test(tc, twins_reverse);
    tcase_add_test(tc, context_signal_is_tunable);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
