/* JSON request text for the body-parser tests (test_score_request.c,
 * test_update_request.c): a growing string, number arrays and base64 vectors
 * built by hand, so the parsers are checked against text no parser wrote.
 * Header-only: each test is its own program. Include after <check.h>. */
#ifndef MICRORM_TESTS_UNIT_BODY_TEXT_H
#define MICRORM_TESTS_UNIT_BODY_TEXT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    char *b;
    size_t n, cap;
} sbuf;

__attribute__((format(printf, 2, 3)))
static inline void add(sbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(w, 0);
    if (s->n + (size_t)w + 1 > s->cap) {
        s->cap = (s->n + (size_t)w + 1) * 2;
        s->b = realloc(s->b, s->cap);
        ck_assert_ptr_nonnull(s->b);
    }
    va_start(ap, fmt);
    vsnprintf(s->b + s->n, (size_t)w + 1, fmt, ap);
    va_end(ap);
    s->n += (size_t)w;
}

/* JSON array of dim values base + i/8 (exact in float32). */
static inline void arr(sbuf *s, int dim, float base)
{
    add(s, "[");
    for (int i = 0; i < dim; i++)
        add(s, "%s%.9g", i ? "," : "", (double)(base + (float)i / 8));
    add(s, "]");
}

/* The bytes at data as a quoted base64 string, padded. */
static inline void b64(sbuf *s, const void *data, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = data;
    add(s, "\"");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        add(s, "%c%c%c%c", alphabet[v >> 18 & 63], alphabet[v >> 12 & 63], i + 1 < n ? alphabet[v >> 6 & 63] : '=',
            i + 2 < n ? alphabet[v & 63] : '=');
    }
    add(s, "\"");
}

#endif
