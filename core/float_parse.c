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
 * are dropped: their weight is below 10^-18 relative.
 *
 * Before all that, a fast path for the shape embeddings print in,
 * -?(0|[1-9][0-9]*)\.[0-9]+ with an optional 1-2 digit exponent and at most
 * 15 characters from the first digit to the end of the fraction (SSSE3,
 * chosen per call; without it the general path does everything): one
 * 16-byte load classifies the bytes, one shuffle slides the integer digits
 * onto the '.', multiply-adds turn the 14 or fewer digits into two exact
 * 8-digit groups and a double V < 10^15 < 2^53 (exact); the value is V times
 * one power of ten (a correctly rounded double: 2^-53 relative), rounded to
 * double then to float, so again within 1 ulp and exact but within 2^-52 of
 * a tie. Any other shape, or fewer than 17 readable bytes, takes the
 * general path. mr_parse_json_float_run is the same in an array's loop. */
#include "core/float_parse.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <immintrin.h>
#define HAVE_FAST 1
#else
#define HAVE_FAST 0
#endif

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

#if HAVE_FAST
/* The fast path's tables in one object, so that one base register reaches
 * them all in the loop. */
#define FAST_EMIN (-80)
#define FAST_EMAX 50
static const struct {
    /* Shuffle k moves bytes 0..k-1 one place up (byte 0 becomes 0) and keeps
     * the others: k integer digits slide onto the '.' after them. */
    uint8_t slide[16][16];
    /* 16 bytes of 0xFF then 16 of 0: loading at 16 - k gives a mask of k bytes. */
    uint8_t prefix_ff[32];
    /* The weights of the two 8-digit groups, and their negatives. */
    double scale[2][2];
    /* 10^k for k = FAST_EMIN..FAST_EMAX, each the double nearest to it. */
    double pow10[FAST_EMAX - FAST_EMIN + 1];
} fast_tab = {
    .slide = {
        { 0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15 },
        { 0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 },
    },
    .prefix_ff = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF },
    .scale = { { 1e8, 1.0 }, { -1e8, -1.0 } },
    .pow10 = {
        1e-80, 1e-79, 1e-78, 1e-77, 1e-76, 1e-75, 1e-74, 1e-73, 1e-72, 1e-71, 1e-70, 1e-69, 1e-68, 1e-67,
        1e-66, 1e-65, 1e-64, 1e-63, 1e-62, 1e-61, 1e-60, 1e-59, 1e-58, 1e-57, 1e-56, 1e-55, 1e-54, 1e-53,
        1e-52, 1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39,
        1e-38, 1e-37, 1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25,
        1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11,
        1e-10, 1e-9,  1e-8,  1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,   1e1,   1e2,   1e3,
        1e4,   1e5,   1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,  1e13,  1e14,  1e15,  1e16,  1e17,
        1e18,  1e19,  1e20,  1e21,  1e22,  1e23,  1e24,  1e25,  1e26,  1e27,  1e28,  1e29,  1e30,  1e31,
        1e32,  1e33,  1e34,  1e35,  1e36,  1e37,  1e38,  1e39,  1e40,  1e41,  1e42,  1e43,  1e44,  1e45,
        1e46,  1e47,  1e48,  1e49,  1e50,
    },
};

#define FAST_TARGET __attribute__((target("ssse3")))

FAST_TARGET static inline __m128i first_bytes(size_t k) /* 0 <= k <= 16 */
{
    return _mm_loadu_si128((const __m128i *)(const void *)(fast_tab.prefix_ff + 16 - k));
}

/* The fast path: 1 with *out, *endp set; 0 to take the general path. s is
 * past the sign and 16 bytes from s are readable. */
FAST_TARGET static inline int parse_fast(const char *s, const char *end, uint32_t neg, float *out,
                                         const char **endp)
{
    __m128i w = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i t = _mm_sub_epi8(w, _mm_set1_epi8('0'));
    __m128i isdig = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t);
    /* Non-digits, with two sentinels past the window. */
    unsigned long nd = (unsigned long)(unsigned)_mm_movemask_epi8(isdig) ^ 0x3FFFFul;
    size_t k1 = (unsigned)__builtin_ctzl(nd);           /* integer digits */
    size_t e = (unsigned)__builtin_ctzl(nd & (nd - 1)); /* end of the fraction */
    if (e >= 16 || k1 == 0 || s[k1] != '.' || e == k1 + 1)
        return 0;
    if (k1 > 1 && s[0] == '0')
        return 0; /* leading zero: the general path says why */
    /* All digits side by side at bytes 1..e-1, zeros elsewhere. */
    __m128i dg = _mm_and_si128(_mm_shuffle_epi8(t, _mm_loadu_si128((const __m128i *)(const void *)fast_tab.slide[k1])),
                               first_bytes(e));
    /* Digit i weighs 10^(15-i): pairs, then groups of 4, then of 8, then the
     * two groups of 8 in double: exact, the sum is below 10^15 < 2^53. */
    __m128i pairs = _mm_maddubs_epi16(dg, _mm_set1_epi16(1 << 8 | 10));
    __m128i quads = _mm_madd_epi16(pairs, _mm_set1_epi32(100 | 1 << 16));
    __m128i octs = _mm_madd_epi16(_mm_packs_epi32(quads, quads), _mm_set1_epi32(10000 | 1 << 16));
    /* digits * 10^(16-e), signed (times -1 is exact, and makes -0 of -0.0) */
    __m128d h = _mm_mul_pd(_mm_cvtepi32_pd(octs), _mm_loadu_pd(fast_tab.scale[neg]));
    double v = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    int exp10 = (int)k1 - 15; /* value = v * 10^exp10 */

    const char *q = s + e;
    if ((*q | 0x20) == 'e') {
        q++;
        int eneg = 0;
        if (q < end && (*q == '-' || *q == '+')) {
            eneg = *q == '-';
            q++;
        }
        if (end - q < 4 || !is_digit(q[0]))
            return 0; /* (4: the byte after the number stays readable) */
        int x = q[0] - '0';
        q++;
        if (is_digit(*q)) {
            x = x * 10 + (*q - '0');
            q++;
        }
        if (is_digit(*q))
            return 0; /* three or more exponent digits */
        exp10 += eneg ? -x : x;
        if (exp10 < FAST_EMIN || exp10 > FAST_EMAX)
            return 0;
        float f = (float)(v * fast_tab.pow10[exp10 - FAST_EMIN]);
        if (isinf(f))
            return 0; /* the general path says MR_NUM_RANGE */
        *out = f;
        *endp = q;
        return 1;
    }
    *out = (float)(v * fast_tab.pow10[k1 + (size_t)(-15 - FAST_EMIN)]); /* 10^(k1-15); below 10^15: finite */
    *endp = q;
    return 1;
}

FAST_TARGET static int parse_one_fast(const char *p, const char *end, float *out, const char **endp)
{
    uint32_t neg = *p == '-';
    return parse_fast(p + neg, end, neg, out, endp);
}

FAST_TARGET static size_t run_fast(const char **pp, const char *end, float *dst, size_t cap, int *after_number);
#endif

static mr_num_status parse_general(const char *p, const char *end, float *out, const char **endp);

/* The fast path needs SSSE3 (any x86-64 since 2006); without it everything
 * takes the general path. Asked per call: no global state. */
static inline int have_fast(void)
{
#if HAVE_FAST
    return __builtin_cpu_supports("ssse3");
#else
    return 0;
#endif
}

mr_num_status mr_parse_json_float(const char *p, const char *end, float *out, const char **endp)
{
#if HAVE_FAST
    if (end - p >= 17 && have_fast() && parse_one_fast(p, end, out, endp))
        return MR_NUM_OK;
#endif
    return parse_general(p, end, out, endp);
}

size_t mr_parse_json_float_run(const char **pp, const char *end, float *dst, size_t cap, int *after_number)
{
    *after_number = 0;
#if HAVE_FAST
    if (have_fast())
        return run_fast(pp, end, dst, cap, after_number);
#else
    (void)pp, (void)end, (void)dst, (void)cap;
#endif
    return 0;
}

#if HAVE_FAST
static inline const char *skip_json_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s;
}

/* Bit i set where window[i] == ','. */
FAST_TARGET static inline uint64_t comma_mask64(const char *w)
{
    const __m128i comma = _mm_set1_epi8(',');
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(w + 16 * i));
        m |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) << (16 * i);
    }
    return m;
}

/* Two loops. The first takes a 64-byte window at a time and reads where
 * each of its numbers ends from the window's commas, so the address of the
 * next number never waits for this one's digits: several numbers are in
 * flight at once. A number that does not end exactly at its comma (spaces
 * before the comma, the array's last number, anything odd) hands over to the
 * second loop, one number after another, which stops where the general code
 * of the caller must take over. */
FAST_TARGET static size_t run_fast(const char **pp, const char *end, float *dst, size_t cap, int *after_number)
{
    const char *s = *pp;
    float *d = dst, *dend = dst + cap;
    /* 64 bytes of window, and past it what one number's parse may read */
    while (end - s >= 64 + 18 && d < dend) {
        const char *base = s;
        uint64_t commas = comma_mask64(base);
        if (!commas)
            break;
        do {
            const char *comma = base + __builtin_ctzll(commas);
            commas &= commas - 1;
            uint32_t neg = *s == '-';
            const char *np;
            if (!parse_fast(s + neg, end, neg, d, &np) || np != comma)
                goto one_by_one;
            d++;
            s = skip_json_ws(comma + 1, end);
        } while (commas && d < dend);
    }
one_by_one:
    /* From s <= limit, the 16-byte window after a sign and the byte after
     * the number (at most 4 past the window with an exponent) are readable. */
    if (end - s >= 18) {
        const char *limit = end - 18;
        while (d < dend && s <= limit) {
            uint32_t neg = *s == '-';
            const char *np;
            if (!parse_fast(s + neg, end, neg, d, &np))
                break;
            d++;
            s = np;
            if (*s != ',') {
                *after_number = 1;
                break;
            }
            s = skip_json_ws(s + 1, end);
        }
    }
    *pp = s;
    return (size_t)(d - dst);
}
#endif

/* Everything the fast path does not take. */
static mr_num_status parse_general(const char *p, const char *end, float *out, const char **endp)
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
