/* core/float_parse: the RFC 8259 grammar, edge values, and a differential
 * test against strtof (C locale) over a million random decimal strings:
 * every result within 1 ulp, overflow exactly where strtof overflows. */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/float_parse.h"
#include "tests/unit/run_suite.h"

/* Position of a float on the number line counted in ulps (+-Inf next to +-FLT_MAX). */
static int64_t ordered(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? -(int64_t)(u & 0x7FFFFFFFu) : (int64_t)u;
}

static mr_num_status parse(const char *s, float *f)
{
    const char *endp = NULL;
    mr_num_status st = mr_parse_json_float(s, s + strlen(s), f, &endp);
    if (st != MR_NUM_SYNTAX)
        ck_assert_ptr_eq(endp, s + strlen(s));
    return st;
}

static float ok(const char *s)
{
    float f = NAN;
    mr_num_status st = parse(s, &f);
    ck_assert_msg(st == MR_NUM_OK, "\"%s\" -> status %d", s, st);
    return f;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

START_TEST(exact_values)
{
    ck_assert_float_eq(ok("0"), 0.0f);
    ck_assert(!signbit(ok("0")));
    ck_assert(signbit(ok("-0")));
    ck_assert(signbit(ok("-0.0e5")));
    ck_assert_float_eq(ok("1"), 1.0f);
    ck_assert_float_eq(ok("-2.5"), -2.5f);
    ck_assert_float_eq(ok("1.5E2"), 150.0f);
    ck_assert_float_eq(ok("1.5e+2"), 150.0f);
    ck_assert_float_eq(ok("15e-1"), 1.5f);
    ck_assert_float_eq(ok("0.125"), 0.125f);
    ck_assert_uint_eq(bits(ok("0.1")), 0x3DCCCCCDu);
    ck_assert_uint_eq(bits(ok("3.4028234663852886e38")), 0x7F7FFFFFu); /* FLT_MAX */
    ck_assert_uint_eq(bits(ok("3.4028235e38")), 0x7F7FFFFFu);
    ck_assert_uint_eq(bits(ok("3.40282356e38")), 0x7F7FFFFFu);  /* below the halfway point to 2^128 */
    ck_assert_uint_eq(bits(ok("-3.4028235e38")), 0xFF7FFFFFu);
    ck_assert_uint_eq(bits(ok("1.17549435e-38")), 0x00800000u); /* FLT_MIN */
    ck_assert_uint_eq(bits(ok("1e-45")), 0x00000001u);          /* smallest subnormal */
    ck_assert_uint_eq(bits(ok("1.401298464324817e-45")), 0x00000001u);
    ck_assert_uint_eq(bits(ok("7.1e-46")), 0x00000001u);        /* above half of it: rounds up */
    ck_assert_uint_eq(bits(ok("7e-46")), 0x00000000u);          /* below half: zero, as strtof */
    ck_assert_uint_eq(bits(ok("-1e-50")), 0x80000000u);
    ck_assert_uint_eq(bits(ok("1e-99999999999999")), 0u);
    ck_assert_uint_eq(bits(ok("0.0000000000000000000000000000000000000000000000000000000001e58")), 0x3F800000u);
    ck_assert_uint_eq(bits(ok("16777217")), 0x4B800000u);       /* 2^24+1: tie, to even */
    ck_assert_uint_eq(bits(ok("16777219")), 0x4B800002u);       /* tie, to even (up) */
    ck_assert_float_eq(ok("1.00000000000000000000000000000000000001"), 1.0f);
    ck_assert_float_eq(ok("123456789012345678901234567890"), 1.2345679e29f);
    ck_assert_float_eq(ok("0.000000000000000000000000000000000000000000000000000000000000000000000000001e75"), 1.0f);
    ck_assert_float_eq(ok("100000000000000000000000000000000000000e-38"), 1.0f);
}
END_TEST

START_TEST(range)
{
    float f;
    ck_assert_int_eq(parse("1e39", &f), MR_NUM_RANGE);
    ck_assert_int_eq(parse("-1e39", &f), MR_NUM_RANGE);
    ck_assert_int_eq(parse("3.4028236e38", &f), MR_NUM_RANGE);
    ck_assert_int_eq(parse("3.40282357e38", &f), MR_NUM_RANGE); /* above the halfway point */
    ck_assert_int_eq(parse("1e99999999999999999", &f), MR_NUM_RANGE);
    ck_assert_int_eq(parse("340282356779733661637539395458142568447999", &f), MR_NUM_RANGE);
    ck_assert_int_eq(parse("0e99999999", &f), MR_NUM_OK);
    ck_assert_float_eq(f, 0.0f);
}
END_TEST

START_TEST(syntax)
{
    static const char *bad[] = {
        "", "-", "+1", "01", "-01", "00", "1.", ".5", "-.5", "1e", "1e+", "1E-", "e5", "NaN", "nan",
        "Infinity", "-Infinity", "inf", " 1", "\t1", "--1", "-e1", "1.e5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float f;
        const char *endp;
        ck_assert_msg(mr_parse_json_float(bad[i], bad[i] + strlen(bad[i]), &f, &endp) == MR_NUM_SYNTAX,
                      "accepted \"%s\"", bad[i]);
    }
    /* The number ends where the grammar ends; the caller judges what follows. */
    static const struct { const char *s; size_t len; } stops[] = {
        { "1.5]", 3 }, { "1,5", 1 }, { "-0 ", 2 }, { "12e3x", 4 }, { "0.5.5", 3 }, { "1e5e5", 3 }, { "0x10", 1 },
    };
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        float f;
        const char *endp = NULL;
        ck_assert_int_eq(mr_parse_json_float(stops[i].s, stops[i].s + strlen(stops[i].s), &f, &endp), MR_NUM_OK);
        ck_assert_ptr_eq(endp, stops[i].s + stops[i].len);
    }
}
END_TEST

START_TEST(never_reads_past_end)
{
    /* Heap copies without a terminator so ASan would catch an over-read. */
    const char *texts[] = { "123", "1.25", "1e5", "-0", "1.", "1e", "-" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strlen(texts[i]);
        char *b = malloc(n);
        ck_assert_ptr_nonnull(b);
        memcpy(b, texts[i], n);
        float f;
        const char *endp;
        mr_parse_json_float(b, b + n, &f, &endp);
        free(b);
    }
    float f;
    const char *endp;
    const char *s = "12345";
    ck_assert_int_eq(mr_parse_json_float(s, s + 2, &f, &endp), MR_NUM_OK);
    ck_assert_float_eq(f, 12.0f);
    ck_assert_ptr_eq(endp, s + 2);
}
END_TEST

/* xorshift64*: reproducible inputs. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void random_number(char *buf, size_t cap)
{
    size_t n = 0;
    int kind = (int)(rnd() % 4);
    if (kind == 0) {
        /* A random float32 bit pattern printed at a random precision. */
        uint32_t u = (uint32_t)rnd();
        if ((u & 0x7F800000u) == 0x7F800000u)
            u &= 0xBFFFFFFFu;
        float f;
        memcpy(&f, &u, 4);
        snprintf(buf, cap, rnd() & 1 ? "%.*e" : "%.*g", (int)(rnd() % 20) + 1, (double)f);
        return;
    }
    if (kind == 1) {
        /* Halfway points between neighbouring floats, printed exactly-ish. */
        uint32_t u = (uint32_t)rnd() & 0x7F7FFFFFu;
        float a, b;
        memcpy(&a, &u, 4);
        u++;
        memcpy(&b, &u, 4);
        snprintf(buf, cap, "%.*e", (int)(rnd() % 30) + 5, ((double)a + (double)b) / 2);
        return;
    }
    /* Free-form JSON number: varied digit counts and exponents. */
    if (rnd() & 1)
        buf[n++] = '-';
    int ndig = (int)(rnd() % 25);
    if (ndig == 0) {
        buf[n++] = '0';
    } else {
        buf[n++] = (char)('1' + rnd() % 9);
        for (int i = 1; i < ndig; i++)
            buf[n++] = (char)('0' + rnd() % 10);
    }
    if (rnd() % 3) {
        buf[n++] = '.';
        int nf = 1 + (int)(rnd() % 30);
        int zeros = (int)(rnd() % 3 == 0 ? rnd() % 40 : 0);
        for (int i = 0; i < nf; i++)
            buf[n++] = (char)('0' + (i < zeros ? 0 : rnd() % 10));
    }
    if (rnd() % 3) {
        buf[n++] = rnd() & 1 ? 'e' : 'E';
        int r = (int)(rnd() % 3);
        if (r == 1)
            buf[n++] = '+';
        int e = (int)(rnd() % 60);
        if (r == 2 || (r == 0 && rnd() & 1))
            n += (size_t)snprintf(buf + n, cap - n, "-%d", e);
        else
            n += (size_t)snprintf(buf + n, cap - n, "%d", e);
    }
    buf[n] = 0;
}

/* Our value vs strtof of the C locale, whatever the current locale is. */
static void differential(long iters)
{
    locale_t c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    ck_assert_ptr_nonnull(c_loc);
    char buf[256];
    for (long it = 0; it < iters; it++) {
        random_number(buf, sizeof buf);
        errno = 0;
        float want = strtof_l(buf, NULL, c_loc);
        float got = NAN;
        const char *endp;
        mr_num_status st = mr_parse_json_float(buf, buf + strlen(buf), &got, &endp);
        /* Plain ifs: Check records every passing assertion, too slow here. */
        if (isinf(want)) {
            if (st != MR_NUM_RANGE)
                ck_abort_msg("\"%s\": strtof overflows, we gave status %d value %.9g", buf, st, (double)got);
            continue;
        }
        if (st != MR_NUM_OK || endp != buf + strlen(buf))
            ck_abort_msg("\"%s\": status %d", buf, st);
        int64_t dist = ordered(got) - ordered(want);
        if (dist < 0)
            dist = -dist;
        if (want == 0 && got == 0 && signbit(want) == signbit(got))
            dist = 0;
        if (dist > 1)
            ck_abort_msg("\"%s\": got %.9g want %.9g (%lld ulp)", buf, (double)got, (double)want, (long long)dist);
    }
    freelocale(c_loc);
}

START_TEST(differential_vs_strtof)
{
    differential(1000000);
}
END_TEST

/* The fast path needs 16 readable bytes after the sign: numbers followed by
 * a long tail, as inside a body. Shortest float32 texts (what embeddings
 * send) must come out exactly; every shape within 1 ulp of strtof, with the
 * end where the grammar ends; and mr_parse_json_float_run must give the
 * same bits as mr_parse_json_float number by number. */
START_TEST(fast_path_in_context)
{
    locale_t c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    ck_assert_ptr_nonnull(c_loc);
    static const char *const tails[] = { ",0.5,0.25,0.125,1", "]}                 ", ", -1.5e-3, 2, 3, 4, 5",
                                         "e", "e+", ".5,1,2,3,4,5,6,7,8,9", "0123456789abcdef" };
    char num[64], buf[160];
    for (long it = 0; it < 300000; it++) {
        uint32_t u = (uint32_t)rnd();
        if ((u & 0x7F800000u) == 0x7F800000u)
            u &= 0xBFFFFFFFu;
        float x;
        memcpy(&x, &u, 4);
        int form = (int)(rnd() % 4);
        if (form == 0) {
            /* Shortest round-trip text of a float near N(0, 1) magnitudes. */
            x = (float)((double)(int32_t)rnd() / 2147483648.0 * (rnd() % 2 ? 3.0 : 0.01));
            for (int prec = 1; prec <= 9; prec++) {
                snprintf(num, sizeof num, "%.*g", prec, (double)x);
                if (strtof_l(num, NULL, c_loc) == x)
                    break;
            }
        } else if (form == 1) {
            snprintf(num, sizeof num, "%.*f", (int)(rnd() % 15) + 1, (double)((int32_t)rnd()) / (double)(1u << (rnd() % 31)));
        } else if (form == 2) {
            snprintf(num, sizeof num, "%.*e", (int)(rnd() % 12) + 1, (double)x);
        } else {
            random_number(num, sizeof num);
        }
        const char *tail = tails[rnd() % (sizeof tails / sizeof tails[0])];
        size_t n = strlen(num), tl = strlen(tail);
        memcpy(buf, num, n);
        memcpy(buf + n, tail, tl + 1);
        float want = strtof_l(num, NULL, c_loc);
        float got = NAN, got_short = NAN;
        const char *endp = NULL, *endp_short = NULL;
        mr_num_status st = mr_parse_json_float(buf, buf + n + tl, &got, &endp);
        mr_num_status st_short = mr_parse_json_float(num, num + n, &got_short, &endp_short);
        /* Same verdict and end as without the tail (the general path alone),
         * unless the tail continues the number's grammar. */
        int tail_extends = tail[0] == '.' || tail[0] == 'e' || (tail[0] >= '0' && tail[0] <= '9');
        if (!tail_extends && (st != st_short || (st != MR_NUM_SYNTAX && endp - buf != endp_short - num)))
            ck_abort_msg("\"%s\" + \"%s\": status %d end %td, alone %d end %td", num, tail, st, endp - buf, st_short,
                         endp_short - num);
        if (st != MR_NUM_OK || (size_t)(endp - buf) != n)
            continue;
        int64_t dist = ordered(got) - ordered(want);
        if (want == 0 && got == 0 && signbit(want) == signbit(got))
            dist = 0;
        if (dist > 1 || dist < -1 || (form == 0 && dist != 0))
            ck_abort_msg("\"%s\": got %.9g want %.9g (%lld ulp)", num, (double)got, (double)want, (long long)dist);
        /* The run parser on the same text gives the same bits. */
        const char *p = buf;
        float r[8];
        int after = 0;
        size_t k = mr_parse_json_float_run(&p, buf + n + tl, r, 1, &after);
        if (k == 1 && (bits(r[0]) != bits(got) || (after ? p != endp : p <= endp)))
            ck_abort_msg("\"%s\": run gave %.9g", num, (double)r[0]);
    }
    freelocale(c_loc);
}
END_TEST

START_TEST(run_stops_where_it_should)
{
    const char *s = "0.5,-1.25, 2.5,\n-0.0,3,0.75e1,01.5,0.125]                  ";
    const char *end = s + strlen(s), *p = s;
    float v[16];
    int after = -1;
    size_t k = mr_parse_json_float_run(&p, end, v, 16, &after);
    /* Stops at "3": an integer is for the general path. */
    ck_assert_uint_eq(k, 4);
    ck_assert_int_eq(after, 0);
    ck_assert_ptr_eq(p, strstr(s, "3,0.75"));
    ck_assert_float_eq(v[0], 0.5f);
    ck_assert_float_eq(v[1], -1.25f);
    ck_assert_float_eq(v[2], 2.5f);
    ck_assert_uint_eq(bits(v[3]), 0x80000000u); /* -0.0 keeps its sign */
    p = strstr(s, "0.75e1");
    k = mr_parse_json_float_run(&p, end, v, 16, &after);
    ck_assert_uint_eq(k, 1); /* then "01.5" is not for the fast path */
    ck_assert_float_eq(v[0], 7.5f);
    ck_assert_ptr_eq(p, strstr(s, "01.5"));
    p = strstr(s, "0.125");
    k = mr_parse_json_float_run(&p, end, v, 16, &after);
    ck_assert_uint_eq(k, 1);
    ck_assert_int_eq(after, 1);
    ck_assert_ptr_eq(p, strstr(s, "]"));
    /* cap: stops before storing more. */
    p = s;
    k = mr_parse_json_float_run(&p, end, v, 2, &after);
    ck_assert_uint_eq(k, 2);
    ck_assert_int_eq(after, 0);
    ck_assert_ptr_eq(p, strstr(s, " 2.5") + 1);
}
END_TEST

/* Long arrays, as in a body, exercise the run parser's 64-byte windows:
 * numbers of every shape between separators with and without whitespace.
 * Driven as the JSON reader drives it (general parse where the run stops),
 * every value must have the bits of that number parsed alone in its place,
 * in order, and
 * the run must stop exactly at a number's start or just past its end. */
START_TEST(long_arrays_match_number_by_number)
{
    static const char *const seps[] = { ",", ",", ",", ", ", " ,", ",\n  ", ",\t", " , " };
    enum { N = 400 };
    static char text[N * 72 + 64];
    const char *starts[N], *ends[N];
    float want[N], got[N];
    for (int it = 0; it < 400; it++) {
        size_t len = 0;
        int plain = it % 2; /* half the arrays: shortest floats and "," only, the fast shape */
        for (int i = 0; i < N; i++) {
            char num[64];
            if (plain || rnd() % 4) {
                float x = (float)((double)(int32_t)rnd() / 2147483648.0 * (rnd() % 2 ? 3.0 : 0.01));
                snprintf(num, sizeof num, "%.9g", (double)x);
            } else {
                random_number(num, sizeof num);
            }
            const char *end = NULL;
            float alone;
            if (mr_parse_json_float(num, num + strlen(num), &alone, &end) != MR_NUM_OK || *end)
                snprintf(num, sizeof num, "%d", (int)(rnd() % 1000)); /* out of range: an integer instead */
            starts[i] = text + len;
            len += (size_t)sprintf(text + len, "%s", num);
            ends[i] = text + len;
            const char *sep = i + 1 == N ? "]" : plain ? "," : seps[rnd() % (sizeof seps / sizeof seps[0])];
            len += (size_t)sprintf(text + len, "%s", sep);
        }
        const char *p = text, *end = text + len;
        /* each number parsed alone, in its place (the fast path may round a
         * near-tie the other way than the general path: both within 1 ulp) */
        for (int i = 0; i < N; i++) {
            const char *np = NULL;
            ck_assert_int_eq(mr_parse_json_float(starts[i], end, &want[i], &np), MR_NUM_OK);
            ck_assert_ptr_eq(np, ends[i]);
        }
        int i = 0;
        while (i < N) {
            int after = -1;
            size_t cap = rnd() % 8 ? (size_t)(N - i) : rnd() % 9;
            size_t k = mr_parse_json_float_run(&p, end, got + i, cap, &after);
            ck_assert_uint_le(k, cap);
            for (size_t j = 0; j < k; j++)
                if (bits(got[i + j]) != bits(want[i + j]))
                    ck_abort_msg("array %d number %zu \"%.*s\": got %.9g want %.9g", it, i + j,
                                 (int)(ends[i + j] - starts[i + j]), starts[i + j], (double)got[i + j],
                                 (double)want[i + j]);
            i += (int)k;
            if (after) {
                ck_assert_int_gt(k, 0);
                ck_assert_ptr_eq(p, ends[i - 1]);
            } else {
                if (i == N)
                    break;
                ck_assert_ptr_eq(p, starts[i]);
                const char *np = NULL;
                ck_assert_int_eq(mr_parse_json_float(p, end, &got[i], &np), MR_NUM_OK);
                ck_assert_uint_eq(bits(got[i]), bits(want[i]));
                i++;
                p = np;
            }
            /* the reader's part: whitespace, then ',' (or the final ']') */
            while (*p == ' ' || *p == '\n' || *p == '\t')
                p++;
            if (i == N) {
                ck_assert_int_eq(*p, ']');
                break;
            }
            ck_assert_int_eq(*p, ',');
            p++;
            while (*p == ' ' || *p == '\n' || *p == '\t')
                p++;
            ck_assert_ptr_eq(p, starts[i]);
        }
    }
}
END_TEST

START_TEST(locale_independent)
{
    /* Under a decimal-comma locale strtof would stop at '.', we must not. */
    const char *comma[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8" };
    const char *found = NULL;
    for (size_t i = 0; i < sizeof comma / sizeof comma[0] && !found; i++)
        found = setlocale(LC_NUMERIC, comma[i]) ? comma[i] : NULL;
    if (!found)
        return; /* no comma locale installed: nothing to prove here */
    ck_assert_float_eq(ok("1.5"), 1.5f);
    ck_assert_uint_eq(bits(ok("3.4028235e38")), 0x7F7FFFFFu);
    float f;
    const char *endp;
    ck_assert_int_eq(mr_parse_json_float("1,5", "1,5" + 3, &f, &endp), MR_NUM_OK);
    ck_assert_float_eq(f, 1.0f);
    differential(100000);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("float_parse");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exact_values);
    tcase_add_test(tc, range);
    tcase_add_test(tc, syntax);
    tcase_add_test(tc, never_reads_past_end);
    tcase_add_test(tc, differential_vs_strtof);
    tcase_add_test(tc, fast_path_in_context);
    tcase_add_test(tc, run_stops_where_it_should);
    tcase_add_test(tc, long_arrays_match_number_by_number);
    tcase_add_test(tc, locale_independent);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
