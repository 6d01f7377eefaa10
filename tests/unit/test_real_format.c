/* core/real_format: hand-worked values (rounding ties to even, the switch
 * between fixed and exponent notation, jansson's touch-ups), then a
 * differential test against jansson itself over two million doubles of
 * every kind, near-ties included: the text must be the same, byte for byte. */
#include <check.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/real_format.h"
#include "core/rng.h"
#include "tests/unit/run_suite.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND 0
#endif

/* Random cases per loop: fewer under valgrind, which runs jansson's printf
 * ~50 times slower (the full count there would take minutes). */
static int cases(int n)
{
    return UNDER_VALGRIND ? n / 20 : n;
}

static void expect(double v, const char *want)
{
    char out[MR_REAL_FORMAT_MAX];
    size_t n = mr_format_real9(out, v);
    ck_assert_msg(strcmp(out, want) == 0, "%.17g -> \"%s\", want \"%s\"", v, out, want);
    ck_assert_uint_eq(n, strlen(want));
}

/* What jansson writes for v in an answer. */
static void jansson_text(double v, char *out, size_t cap)
{
    json_t *j = json_real(v);
    ck_assert_ptr_nonnull(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
    ck_assert_ptr_nonnull(s);
    snprintf(out, cap, "%s", s);
    free(s);
    json_decref(j);
}

static void same_as_jansson(double v)
{
    char ours[MR_REAL_FORMAT_MAX], theirs[64];
    size_t n = mr_format_real9(ours, v);
    jansson_text(v, theirs, sizeof theirs);
    ck_assert_msg(strcmp(ours, theirs) == 0, "%a (%.17g): ours \"%s\", jansson \"%s\"", v, v, ours, theirs);
    ck_assert_uint_eq(n, strlen(theirs));
}

START_TEST(hand_worked_values)
{
    expect(1.0, "1.0");                      /* no point, no exponent: ".0" added */
    expect(-2.5, "-2.5");
    expect(100.0, "100.0");
    expect(123456789.0, "123456789.0");
    expect(0.1, "0.1");                      /* 0.1000000000000000055... */
    expect((double)0.1f, "0.100000001");     /* the float nearest 0.1 */
    expect(0.0001, "0.0001");                /* exponent -4: still fixed */
    expect(0.00001, "1e-5");                 /* -5: exponent, no '+', no leading zero */
    expect(1.5e-7, "1.5e-7");
    expect(-3.25e-12, "-3.25e-12");
    expect(1234567891.0, "1.23456789e9");    /* ten digits: exponent form */
    expect(999999999.0, "999999999.0");
    expect(999999999.5, "1e9");              /* a tie rounding up to the next power */
    expect(0.999999999, "0.999999999");
    expect(0.9999999995, "0.999999999");     /* 0.99999999949999995...: just below the tie */
    expect(0.99999999951, "1.0");            /* rounds up into the next decade */
    /* exact ties at the ninth digit go to the even digit, as printf does */
    expect(12345678.25, "12345678.2");
    expect(12345678.75, "12345678.8");
    expect(1.000000005, "1.0");              /* 1.00000000499999996...: rounds down */
    expect(1.0000000051, "1.00000001");
    /* zeros, the far ranges and the extremes take printf's path */
    expect(0.0, "0.0");
    expect(-0.0, "-0.0");
    expect(1e-15, "1e-15");
    expect(1e9, "1e9");
    expect(1e300, "1e300");
    expect(DBL_MAX, "1.79769313e308");
    expect(DBL_TRUE_MIN, "4.94065646e-324");
}
END_TEST

START_TEST(non_finite_is_printf_text)
{
    char out[MR_REAL_FORMAT_MAX];
    mr_format_real9(out, NAN);
    ck_assert(strstr(out, "nan") != NULL);
    mr_format_real9(out, -INFINITY);
    ck_assert_str_eq(out, "-inf");
}
END_TEST

START_TEST(same_as_jansson_on_random_bit_patterns)
{
    mr_rng r;
    mr_rng_seed(&r, 11);
    for (int i = 0; i < cases(300000); i++) {
        uint64_t u = mr_rng_u64(&r);
        double v;
        memcpy(&v, &u, sizeof v);
        if (isfinite(v))
            same_as_jansson(v);
    }
}
END_TEST

START_TEST(same_as_jansson_on_floats_and_scores)
{
    mr_rng r;
    mr_rng_seed(&r, 12);
    for (int i = 0; i < cases(300000); i++) {
        uint32_t u = (uint32_t)mr_rng_u64(&r);
        float f;
        memcpy(&f, &u, sizeof f);
        if (isfinite(f))
            same_as_jansson((double)f);
        /* the values an answer holds: rewards of a few units, weights and
         * probabilities in [0, 1], sometimes tiny */
        double unit = (double)(mr_rng_u64(&r) >> 11) * 0x1p-53;
        same_as_jansson(unit);
        same_as_jansson((unit - 0.5) * 20.0);
        same_as_jansson(unit * pow(10.0, (double)(int)(mr_rng_u64(&r) % 40) - 20.0));
    }
}
END_TEST

START_TEST(same_as_jansson_next_to_ties_and_powers_of_ten)
{
    mr_rng r;
    mr_rng_seed(&r, 13);
    for (int i = 0; i < cases(150000); i++) {
        /* a nine-digit value with a 5 after it, at every scale of the fast path */
        uint64_t digits = 100000000u + mr_rng_u64(&r) % 900000000u;
        int p = (int)(mr_rng_u64(&r) % 23);
        double tie = ((double)digits + 0.5) / pow(10.0, (double)p);
        same_as_jansson(tie);
        same_as_jansson(nextafter(tie, 0.0));
        same_as_jansson(nextafter(tie, INFINITY));
        same_as_jansson(-tie);
    }
    for (int e = -20; e <= 12; e++) {
        double p10 = pow(10.0, (double)e);
        double v = p10;
        for (int k = 0; k < 4; k++) {
            same_as_jansson(v);
            v = nextafter(v, 0.0);
        }
        v = p10;
        for (int k = 0; k < 4; k++) {
            same_as_jansson(v);
            v = nextafter(v, INFINITY);
        }
        same_as_jansson(p10 * 0.9999999995);
        same_as_jansson(p10 * 0.99999999949999);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("real_format");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hand_worked_values);
    tcase_add_test(tc, non_finite_is_printf_text);
    tcase_add_test(tc, same_as_jansson_on_random_bit_patterns);
    tcase_add_test(tc, same_as_jansson_on_floats_and_scores);
    tcase_add_test(tc, same_as_jansson_next_to_ties_and_powers_of_ten);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
