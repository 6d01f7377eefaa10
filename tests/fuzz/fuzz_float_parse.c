/* libFuzzer: mr_parse_json_float vs an independent grammar (a POSIX regex,
 * leftmost-longest) and vs strtof in the C locale. Aborts on a grammar
 * disagreement or on a value more than 1 ulp from strtof; then again with a
 * long tail after the text, which lets the fast path take it. */
#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/float_parse.h"

static int64_t ordered(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x80000000u) ? -(int64_t)(u & 0x7FFFFFFFu) : (int64_t)u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static regex_t re;
    static locale_t c_loc;
    if (!c_loc) {
        c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (!c_loc || regcomp(&re, "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?", REG_EXTENDED))
            abort();
    }
    if (size > 4096)
        return 0;
    size_t n = strnlen((const char *)data, size); /* regexec and strtof need a C string */
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, data, n);
    s[n] = 0;

    float got = 0;
    const char *endp = NULL;
    mr_num_status st = mr_parse_json_float(s, s + n, &got, &endp);
    regmatch_t g[4];
    int matched = regexec(&re, s, 4, g, 0) == 0;
    if (st == MR_NUM_SYNTAX) {
        /* The regex takes the longest valid prefix; the parser also refuses a
         * number whose next part starts but is incomplete or malformed: a digit
         * after a leading zero ("01"), "1." and "1e". */
        if (matched) {
            char c = s[g[0].rm_eo];
            int has_frac = g[2].rm_so >= 0, has_exp = g[3].rm_so >= 0;
            int zero = g[1].rm_eo - g[1].rm_so == 1 && s[g[1].rm_so] == '0';
            int ok = (c >= '0' && c <= '9' && zero && !has_frac && !has_exp) ||
                     (c == '.' && !has_frac && !has_exp) || ((c == 'e' || c == 'E') && !has_exp);
            if (!ok)
                abort();
        }
    } else {
        if (!matched || (size_t)g[0].rm_eo != (size_t)(endp - s))
            abort();
        /* strtof on the number alone (it would read on into "0x1p3", "1e5" of "0e5x"...). */
        size_t k = (size_t)(endp - s);
        char num[4097];
        memcpy(num, s, k);
        num[k] = 0;
        char *e2;
        float want = strtof_l(num, &e2, c_loc);
        if (e2 != num + k)
            abort();
        if (st == MR_NUM_RANGE) {
            if (!isinf(want))
                abort();
        } else {
            if (isinf(want) || isnan(got))
                abort();
            int64_t d = ordered(got) - ordered(want);
            if (!(got == 0 && want == 0) && (d > 1 || d < -1))
                abort();
        }
    }
    /* The same text followed by a long tail, so the 16-byte fast path runs:
     * same verdict, end and value (bits may differ by 1 ulp at most). */
    char *t = malloc(n + 24);
    if (t) {
        memcpy(t, s, n);
        memset(t + n, ']', 24);
        float got2 = 0;
        const char *endp2 = NULL;
        mr_num_status st2 = mr_parse_json_float(t, t + n + 24, &got2, &endp2);
        if (st2 != st || (st != MR_NUM_SYNTAX && endp2 - t != endp - s))
            abort();
        if (st == MR_NUM_OK) {
            int64_t d2 = ordered(got2) - ordered(got);
            if (!(got == 0 && got2 == 0 && signbit(got) == signbit(got2)) && (d2 > 1 || d2 < -1))
                abort();
        }
        free(t);
    }
    free(s);
    return 0;
}
