/* JSON number -> float32 without strtof: request bodies carry hundreds of
 * thousands of numbers, strtof is locale-dependent and slow.
 *
 * The decimal significand (at most 19 significant digits, exact in uint64)
 * is scaled by a power of ten in x87 long double (64-bit significand), then
 * rounded once more to float. The long double step errs by at most a few
 * units of 2^-64 relative, so the float result is within 1 ulp of the
 * correctly rounded one (in practice it is the correctly rounded one except
 * within ~2^-40 ulp of a tie). Digits past the 19th are dropped: their weight
 * is below 10^-18 relative, far under a float ulp (2^-24). */
#include "core/float_parse.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

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

mr_num_status mr_parse_json_float(const char *p, const char *end, float *out, const char **endp)
{
    const char *s = p;
    int neg = 0;
    if (s < end && *s == '-') {
        neg = 1;
        s++;
    }
    if (s >= end || !is_digit(*s))
        return MR_NUM_SYNTAX;

    uint64_t m = 0;   /* first <= 19 significant digits */
    int nsig = 0;     /* significant digits kept in m */
    int dropped = 0;  /* integer-part digits beyond the 19th (raise the exponent) */
    int exp10 = 0;

    /* Integer part: "0" alone or [1-9][0-9]*. */
    if (*s == '0') {
        s++;
        if (s < end && is_digit(*s))
            return MR_NUM_SYNTAX; /* leading zero */
    } else {
        while (s < end && is_digit(*s)) {
            if (nsig < 19) {
                m = m * 10 + (uint64_t)(*s - '0');
                nsig++;
            } else {
                dropped++;
            }
            s++;
        }
    }
    exp10 = dropped;

    if (s < end && *s == '.') {
        s++;
        if (s >= end || !is_digit(*s))
            return MR_NUM_SYNTAX;
        while (s < end && is_digit(*s)) {
            if (nsig < 19) {
                if (m != 0 || *s != '0') { /* leading fraction zeros are not significant */
                    m = m * 10 + (uint64_t)(*s - '0');
                    nsig++;
                }
                exp10--;
            }
            s++;
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
        while (s < end && is_digit(*s)) {
            if (e < 100000) /* saturate: far beyond any float exponent */
                e = e * 10 + (*s - '0');
            s++;
        }
        exp10 += eneg ? -e : e;
    }
    *endp = s;

    float f;
    if (m == 0) {
        f = 0.0f;
    } else {
        /* Decimal magnitude: value = m * 10^exp10 with 10^(nsig-1) <= m. */
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
    *out = neg ? -f : f;
    return MR_NUM_OK;
}
