/* 9-significant-digit JSON numbers (see real_format.h).
 *
 * For 1e-14 <= |v| < 1e9 the nine digits are the integer nearest to
 * y = |v| * 10^p, p = 8 - floor(log10|v|), so that 1e8 <= y < 1e9. 10^p is
 * exact in a double for p <= 22, and fma gives the product's rounding error
 * exactly, so "is the exact product's fraction above, below or at one half"
 * has an exact answer: printf's correctly rounded digits, ties to even. */
#include "core/real_format.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DIGITS 9

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* jansson's touch-ups of printf's text: a decimal point whatever the locale,
 * ".0" on what would read back as an integer, exponent without '+' or
 * leading zeros. */
static size_t jansson_style(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-' && s[i] != '+' && s[i] != 'e' &&
            s[i] != 'n' && s[i] != 'a' && s[i] != 'i' && s[i] != 'f')
            s[i] = '.';
    char *e = memchr(s, 'e', n);
    if (!e) {
        if (!memchr(s, '.', n) && !memchr(s, 'n', n)) {
            memcpy(s + n, ".0", 3);
            n += 2;
        }
        return n;
    }
    char *from = e + 1, *to = e + 1;
    if (*from == '+')
        from++;
    else if (*from == '-')
        *to++ = *from++;
    while (*from == '0' && from[1])
        from++;
    memmove(to, from, (size_t)(s + n - from) + 1);
    return (size_t)(to - s) + (size_t)(s + n - from);
}

static size_t slow_path(char *out, double v)
{
    int n = snprintf(out, MR_REAL_FORMAT_MAX - 3, "%.9g", v);
    if (n < 0 || n >= MR_REAL_FORMAT_MAX - 3) {
        out[0] = '\0';
        return 0;
    }
    return jansson_style(out, (size_t)n);
}

/* Nine digits of |v| and its decimal exponent, or false when the fast
 * path does not apply. */
static bool nine_digits(double a, uint32_t *digits, int *exp10)
{
    if (!(a >= 1e-14 && a < 1e9))
        return false;
    int e = (int)floor(log10(a));
    double y = 0;
    /* log10 can be one off next to a power of ten: settle e on y itself */
    for (int tries = 0; tries < 3; tries++) {
        int p = DIGITS - 1 - e;
        if (p < 0 || p > 22)
            return false;
        y = a * pow10_exact[p];
        if (y >= 1e9)
            e++;
        else if (y < 1e8)
            e--;
        else
            break;
    }
    if (!(y >= 1e8 && y < 1e9))
        return false;
    double err = fma(a, pow10_exact[DIGITS - 1 - e], -y);   /* exact: a*10^p = y + err */
    double whole = floor(y);
    double above_half = ((y - whole) - 0.5) + err;           /* sign is exact */
    uint32_t n = (uint32_t)whole;
    if (above_half > 0 || (above_half == 0 && (n & 1)))
        n++;
    if (n == 1000000000u) {
        n = 100000000u;
        e++;
    }
    *digits = n;
    *exp10 = e;
    return true;
}

size_t mr_format_real9(char *out, double v)
{
    uint32_t n;
    int e;
    if (!nine_digits(fabs(v), &n, &e))
        return slow_path(out, v);
    char d[DIGITS];
    for (int i = DIGITS - 1; i >= 0; i--) {
        d[i] = (char)('0' + n % 10);
        n /= 10;
    }
    int last = DIGITS - 1;   /* %g drops trailing zeros */
    while (last > 0 && d[last] == '0')
        last--;
    char *p = out;
    if (v < 0)
        *p++ = '-';
    if (e < -4 || e >= DIGITS) {
        *p++ = d[0];
        if (last > 0) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)last);
            p += last;
        }
        *p++ = 'e';
        if (e < 0) {
            *p++ = '-';
            e = -e;
        }
        if (e >= 10)
            *p++ = (char)('0' + e / 10);
        *p++ = (char)('0' + e % 10);
    } else if (e >= 0) {
        memcpy(p, d, (size_t)e + 1);
        p += e + 1;
        *p++ = '.';
        if (last > e) {
            memcpy(p, d + e + 1, (size_t)(last - e));
            p += last - e;
        } else {
            *p++ = '0';   /* jansson's ".0": it must not read back as an integer */
        }
    } else {
        *p++ = '0';
        *p++ = '.';
        for (int z = 0; z < -e - 1; z++)
            *p++ = '0';
        memcpy(p, d, (size_t)last + 1);
        p += last + 1;
    }
    *p = '\0';
    return (size_t)(p - out);
}
