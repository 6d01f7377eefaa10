/* JSON number -> float32 without strtof: request bodies carry tens of
 * thousands of numbers, and strtof is locale-dependent and slow.
 *
 * The decimal significand (at most 19 significant digits, exact in uint64)
 * is scaled by a power of ten and rounded to float. Usual case (embeddings
 * print with <= 9 digits): significand <= 2^53 and |exponent| <= 22, scaled
 * in double, ~2^-52 relative error. Otherwise x87 long double (64-bit
 * significand) does the scaling, a few units of 2^-64. Either error is far
 * below a float ulp (2^-24), so the result is within 1 ulp of strtof's and
 * equal to it except within a hair of a rounding tie. Digits past the 19th
 * are dropped: their weight is below 10^-18 relative. */
#include "core/float_parse.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* 10^0..10^27 are exact in a 64-bit significand (5^27 < 2^64). */
static const long double pow10_exact[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L,
};

static long double pow10_ld(int k) /* 0 <= k <= ~120 */
{
    long double r = 1.0L;
    while (k > 27) {
        r *= pow10_exact[27];
        k -= 27;
    }
    return r * pow10_exact[k];
}

static inline int is_digit(char c) { return (unsigned)(c - '0') < 10u; }

/* The run of ASCII digits at the start of the 8 bytes at s: returns its
 * length k (0..8) and stores its value. Branch-free, so the varying digit
 * counts of real numbers cost no mispredictions (SWAR, little-endian only;
 * 8 bytes must be readable). */
static inline int digit_run(const char *s, uint64_t *val)
{
    uint64_t v;
    memcpy(&v, s, 8);
    /* High bit of each byte that is not '0'..'9'; exact up to the first such
     * byte, which is all that is used. */
    uint64_t nd = ((v + 0x4646464646464646ull) | (v - 0x3030303030303030ull)) & 0x8080808080808080ull;
    int k = nd ? __builtin_ctzll(nd) >> 3 : 8;
    if (k == 0) {
        *val = 0;
        return 0;
    }
    /* Keep the k digits, moved to the top: the zero bytes below are leading zeros. */
    uint64_t t = (v - 0x3030303030303030ull) << (8 * (8 - k));
    t = t * 10 + (t >> 8); /* pairs of digits in the even bytes */
    t = ((t & 0x000000FF000000FFull) * (100 + (1000000ull << 32)) +
         ((t >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32))) >> 32;
    *val = t & 0xFFFFFFFFull;
    return k;
}

static const uint64_t pow10_u64[9] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000 };

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HAVE_SWAR 1
#else
#define HAVE_SWAR 0
#endif

/* Powers of ten exact in a double (5^22 < 2^53), and their reciprocals
 * rounded to nearest (relative error <= 2^-53). */
static const double pow10_d[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
static const double pow10_neg_d[23] = {
    1e-0,  1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,  1e-8,  1e-9,  1e-10, 1e-11,
    1e-12, 1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22,
};

mr_num_status mr_parse_json_float(const char *p, const char *end, float *out, const char **endp)
{
    const char *s = p;
    if (s >= end)
        return MR_NUM_SYNTAX;
    uint32_t neg = *s == '-'; /* no branch: signs are random */
    s += neg;
    if (s >= end || !is_digit(*s))
        return MR_NUM_SYNTAX;

    uint64_t m = 0;   /* first <= 19 significant digits */
    int nsig = 0;     /* significant digits kept in m */
    int exp10 = 0;    /* value = m * 10^exp10 (before the exponent part) */
    uint64_t run;
    int k;

    /* Integer part: "0" alone or [1-9][0-9]*. */
    if (*s == '0') {
        s++;
        if (s < end && is_digit(*s))
            return MR_NUM_SYNTAX; /* leading zero */
    } else {
        do {
            if (!HAVE_SWAR || nsig > 11 || end - s < 8)
                break;
            k = digit_run(s, &run);
            m = m * pow10_u64[k] + run;
            nsig += k;
            s += k;
        } while (k == 8);
        for (; s < end && is_digit(*s); s++) {
            if (nsig < 19) {
                m = m * 10 + (uint64_t)(*s - '0');
                nsig++;
            } else {
                exp10++; /* dropped integer digit */
            }
        }
    }

    if (s < end && *s == '.') {
        s++;
        if (s >= end || !is_digit(*s))
            return MR_NUM_SYNTAX;
        if (m == 0) /* leading fraction zeros are not significant */
            for (; s < end && *s == '0'; s++)
                exp10--;
        do {
            if (!HAVE_SWAR || nsig > 11 || end - s < 8)
                break;
            k = digit_run(s, &run);
            m = m * pow10_u64[k] + run;
            nsig += k;
            exp10 -= k;
            s += k;
        } while (k == 8);
        for (; s < end && is_digit(*s); s++) {
            if (nsig < 19) {
                m = m * 10 + (uint64_t)(*s - '0');
                if (m)
                    nsig++;
                exp10--;
            }
        }
    }

    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = 0;
        if (s < end && (*s == '+' || *s == '-')) {
            eneg = *s == '-';
            s++;
        }
        if (s >= end || !is_digit(*s))
            return MR_NUM_SYNTAX;
        int e = 0;
        for (; s < end && is_digit(*s); s++)
            if (e < 100000) /* saturate: far beyond any float exponent */
                e = e * 10 + (*s - '0');
        exp10 += eneg ? -e : e;
    }
    *endp = s;

    float f;
    if (m == 0) {
        f = 0.0f;
    } else if (m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        /* m exact; multiplying by 10^-k (not dividing by 10^k: a division
         * costs ~20% of the whole parse) errs by ~2^-52 relative, 2^-28 of a
         * float ulp, so the float is within 1 ulp and nearly always exact. */
        double d = (double)m;
        d = exp10 < 0 ? d * pow10_neg_d[-exp10] : d * pow10_d[exp10];
        f = (float)d;
        if (isinf(f))
            return MR_NUM_RANGE;
    } else {
        /* Decimal magnitude: 10^mag <= value < 10^(mag+1). */
        int mag = nsig - 1 + exp10;
        if (mag > 39) {
            return MR_NUM_RANGE;
        } else if (mag < -47) {
            f = 0.0f; /* below half the smallest subnormal (1.4e-45) */
        } else {
            long double v = (long double)m;
            if (exp10 > 0)
                v *= exp10 <= 27 ? pow10_exact[exp10] : pow10_ld(exp10);
            else if (exp10 < 0)
                v /= -exp10 <= 27 ? pow10_exact[-exp10] : pow10_ld(-exp10);
            f = (float)v;
            if (isinf(f))
                return MR_NUM_RANGE;
        }
    }
    uint32_t u;
    memcpy(&u, &f, 4);
    u ^= neg << 31;
    memcpy(out, &u, 4);
    return MR_NUM_OK;
}
