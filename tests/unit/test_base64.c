/* core/base64: RFC 4648 test vectors, every strictness rule with the offset
 * it reports, and round trips against an independent encoder; the vector
 * decoders (SSSE3, AVX2) against the scalar one on every byte value at every
 * position of a block; the one-pass decoder of JSON strings (decode_run). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "tests/unit/run_suite.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Reference encoder, written the slow obvious way: bit by bit. */
static size_t encode(const uint8_t *src, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n * 8; i += 6) {
        unsigned v = 0;
        for (size_t b = i; b < i + 6; b++) {
            unsigned bit = b < n * 8 ? (src[b / 8] >> (7 - b % 8)) & 1 : 0;
            v = v << 1 | bit;
        }
        out[o++] = alphabet[v];
    }
    while (o % 4)
        out[o++] = '=';
    out[o] = 0;
    return o;
}

static long dec(const char *s, uint8_t *out, size_t *bad)
{
    *bad = 12345;
    return mr_base64_decode(s, strlen(s), out, bad);
}

START_TEST(rfc4648_vectors)
{
    static const struct { const char *b64, *plain; } v[] = {
        { "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
        { "Zm9vYg==", "foob" }, { "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" },
        { "+/+/", "\xfb\xff\xbf" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t out[16];
        size_t bad;
        long n = dec(v[i].b64, out, &bad);
        ck_assert_int_eq(n, (long)strlen(v[i].plain));
        ck_assert_mem_eq(out, v[i].plain, (size_t)n);
        ck_assert_uint_eq(mr_base64_decoded_max(strlen(v[i].b64)), strlen(v[i].b64) / 4 * 3);
    }
}
END_TEST

START_TEST(strict_rejections)
{
    static const struct { const char *b64; size_t bad_at; } v[] = {
        { "Zg=", 3 },          /* length not a multiple of 4: reported at the end */
        { "Zm9vY", 5 },
        { "Zg", 2 },
        { "Zm-v", 2 },         /* URL-safe alphabet is not ours */
        { "Zm_v", 2 },
        { "Zm9 ", 3 },         /* no whitespace */
        { "Zm9v\nZm9v", 9 },   /* (length 9) */
        { "Zm9v\nZm9", 4 },
        { "Zg==Zm9v", 2 },     /* padding only at the end */
        { "Z===", 1 },         /* at most two '=' */
        { "====", 0 },
        { "Zg=v", 2 },         /* '=' then data */
        { "Zh==", 1 },         /* non-zero bits after the last byte */
        { "Zm9=", 2 },
        { "Zm8\x80", 3 },      /* non-ASCII */
        { "Zm8\0", 3 },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t out[16];
        size_t bad = 999;
        size_t len = strlen(v[i].b64);
        if (i == sizeof v / sizeof v[0] - 1)
            len = 4; /* the embedded NUL case */
        long n = mr_base64_decode(v[i].b64, len, out, &bad);
        ck_assert_msg(n == -1, "accepted case %zu", i);
        ck_assert_msg(bad == v[i].bad_at, "case %zu: bad_at %zu, want %zu", i, bad, v[i].bad_at);
    }
}
END_TEST

START_TEST(round_trips)
{
    uint64_t s = 88172645463325252ull;
    uint8_t src[300], out[300];
    char text[512];
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(it % 300);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            src[i] = (uint8_t)s;
        }
        size_t len = encode(src, n, text);
        size_t bad;
        long got = mr_base64_decode(text, len, out, &bad);
        if (got != (long)n || memcmp(out, src, n) != 0)
            ck_abort_msg("round trip failed for length %zu", n);
        /* A character outside the alphabet is reported at its own offset. */
        size_t at = len ? (size_t)(s % len) : 0;
        if (len && text[at] != '=') {
            char saved = text[at];
            text[at] = '*';
            if (mr_base64_decode(text, len, out, &bad) != -1 || bad != at)
                ck_abort_msg("corruption at %zu of %zu not caught", at, len);
            text[at] = saved;
        }
    }
}
END_TEST

static const int levels[] = { MR_B64_SCALAR, MR_B64_SSSE3, MR_B64_AVX2, MR_B64_AUTO };
#define NLEVELS (sizeof levels / sizeof levels[0])

static uint64_t xs = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    xs ^= xs << 13;
    xs ^= xs >> 7;
    xs ^= xs << 17;
    return xs;
}

START_TEST(vector_decoders_every_byte)
{
    /* 160 chars: the AVX2 loop (64 and 32), SSSE3 (16) and scalar all see
     * the bad byte somewhere; each level must name the same offset. */
    uint8_t src[120], out[130];
    char text[200];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 37 + 11);
    size_t len = encode(src, sizeof src, text);
    ck_assert_uint_eq(len, 160);
    for (size_t l = 0; l < NLEVELS; l++) {
        if (!mr_base64_level_supported(levels[l]))
            continue;
        size_t bad = 0;
        ck_assert_int_eq(mr_base64_decode_with(levels[l], text, len, out, &bad), 120);
        ck_assert_mem_eq(out, src, 120);
        for (int c = 0; c < 256; c++) {
            int valid = c != 0 && strchr(alphabet, c) != NULL;
            for (size_t at = 0; at < len - 4; at++) { /* the last quantum: padding rules */
                char saved = text[at];
                text[at] = (char)c;
                long n = mr_base64_decode_with(levels[l], text, len, out, &bad);
                if (valid ? n != 120 : (n != -1 || bad != at))
                    ck_abort_msg("level %d byte 0x%02x at %zu: got %ld (bad_at %zu)", levels[l], c, at, n, bad);
                text[at] = saved;
            }
        }
    }
}
END_TEST

START_TEST(vector_decoders_round_trips)
{
    uint8_t src[700], want[700], out[700];
    char text[1000];
    for (int it = 0; it < 3000; it++) {
        size_t n = (size_t)(rnd() % 700);
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)rnd();
        size_t len = encode(src, n, text);
        size_t at = len ? (size_t)(rnd() % len) : 0;
        static const char junk[] = "=\"\\ -_.,:@[`{\x7f\x80\xff\n";
        int corrupt = len && it % 2;
        if (corrupt)
            text[at] = junk[rnd() % (sizeof junk - 1)];
        size_t want_bad = 0, bad;
        long want_n = mr_base64_decode_with(MR_B64_SCALAR, text, len, want, &want_bad);
        if (!corrupt && (want_n != (long)n || memcmp(want, src, n) != 0))
            ck_abort_msg("scalar round trip failed at length %zu", n);
        for (size_t l = 1; l < NLEVELS; l++) {
            if (!mr_base64_level_supported(levels[l]))
                continue;
            bad = 0;
            long got = mr_base64_decode_with(levels[l], text, len, out, &bad);
            if (got != want_n || (got < 0 && bad != want_bad) || (got > 0 && memcmp(out, want, (size_t)got) != 0))
                ck_abort_msg("level %d disagrees with scalar at length %zu (corrupt at %zu)", levels[l], len, at);
        }
    }
}
END_TEST

/* decode_run on text + tail, at every level; returns the length (or -1). */
static long run(int level, const char *text, const char *tail, size_t cap, uint8_t *out, size_t *used)
{
    char buf[1200];
    size_t n = strlen(text), t = strlen(tail);
    memcpy(buf, text, n);
    memcpy(buf + n, tail, t);
    char *heap = malloc(n + t ? n + t : 1); /* exact size: ASan sees any over-read */
    ck_assert_ptr_nonnull(heap);
    memcpy(heap, buf, n + t);
    *used = 999999;
    long r = mr_base64_decode_run_with(level, heap, n + t, out, cap, used);
    free(heap);
    return r;
}

START_TEST(decode_run_ends_and_rejects)
{
    static const struct { const char *text, *tail; size_t cap; long want; size_t used; } v[] = {
        { "Zm9vYmFy", "\"", 6, 6, 8 },     /* ends at the quote */
        { "Zm9vYmFy", "\",1", 64, 6, 8 },
        { "Zm9vYmFy", "", 64, 6, 8 },      /* or at the end of the buffer */
        { "Zm9vYg==", "\"", 64, 4, 8 },
        { "Zm9vYmE=", "\"}", 5, 5, 8 },
        { "", "\"", 0, 0, 0 },
        { "Zm9vYmFy", "\"", 5, -1, 0 },    /* longer than cap */
        { "Zm9vYmE=", "\"", 4, -1, 0 },
        { "Zm9vYg==", "\"", 3, -1, 0 },
        { "Zm9vYmF", "\"", 64, -1, 0 },    /* ends inside a quantum */
        { "Zm9vY", "\"", 64, -1, 0 },
        { "Zm9vYmF", "", 64, -1, 0 },
        { "Zm9v\\/", "\"", 64, 3, 4 },     /* ends at the backslash (the caller wants a quote) */
        { "Zm9vY\\/", "\"", 64, -1, 0 },   /* inside a quantum */
        { "Zh==", "\"", 64, -1, 0 },       /* non-zero padding bits */
        { "Zm9=", "\"", 64, -1, 0 },
        { "Zg==Zm9v", "\"", 64, -1, 0 },   /* padding inside */
        { "Zg==", "=\"", 64, -1, 0 },
        { "Z===", "\"", 64, -1, 0 },
        { "====", "\"", 64, -1, 0 },
        { "Zm9v", "=\"", 64, -1, 0 },
        { "Zg=", "\"", 64, -1, 0 },
    };
    for (size_t l = 0; l < NLEVELS; l++) {
        if (!mr_base64_level_supported(levels[l]))
            continue;
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            uint8_t out[64];
            size_t used;
            long got = run(levels[l], v[i].text, v[i].tail, v[i].cap, out, &used);
            ck_assert_msg(got == v[i].want, "level %d case %zu: got %ld", levels[l], i, got);
            if (got >= 0)
                ck_assert_uint_eq(used, v[i].used);
        }
    }
}
END_TEST

START_TEST(decode_run_equals_strict)
{
    /* Long texts so the vector loops run; a stray byte anywhere makes it -1,
     * a clean text decodes exactly as mr_base64_decode does. */
    uint8_t src[700], want[700], out[720];
    char text[1000];
    for (int it = 0; it < 2000; it++) {
        size_t n = (size_t)(rnd() % 700);
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)rnd();
        size_t len = encode(src, n, text);
        int corrupt = len && it % 3 == 0;
        if (corrupt)
            text[rnd() % len] = "\"\\ =,"[rnd() % 5];
        size_t bad;
        long strict = mr_base64_decode_with(MR_B64_SCALAR, text, len, want, &bad);
        for (size_t l = 0; l < NLEVELS; l++) {
            if (!mr_base64_level_supported(levels[l]))
                continue;
            size_t used;
            size_t cap = it % 5 == 0 ? n : n + (size_t)(rnd() % 20);
            long got = run(levels[l], text, "\"xyz", cap, out, &used);
            if (corrupt && got >= 0 && used < len) {
                /* A stray byte on a quantum boundary ends the text there. */
                uint8_t pre[700];
                size_t b2;
                long np = mr_base64_decode_with(MR_B64_SCALAR, text, used, pre, &b2);
                if (used % 4 || strchr(alphabet, text[used]) || text[used] == '=' || np != got ||
                    memcmp(out, pre, (size_t)got) != 0)
                    ck_abort_msg("level %d length %zu: early end at %zu wrong", levels[l], len, used);
                continue;
            }
            if (strict >= 0 ? (got != strict || used != len || memcmp(out, want, (size_t)got) != 0) : got != -1)
                ck_abort_msg("level %d length %zu: strict %ld, run %ld", levels[l], len, strict, got);
        }
        /* A cap one short of the decoded size is refused, at every level. */
        if (strict > 0) {
            size_t used;
            if (run(MR_B64_AUTO, text, "\"", (size_t)strict - 1, out, &used) != -1)
                ck_abort_msg("cap %ld - 1 accepted", strict);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rfc4648_vectors);
    tcase_add_test(tc, strict_rejections);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, vector_decoders_every_byte);
    tcase_add_test(tc, vector_decoders_round_trips);
    tcase_add_test(tc, decode_run_ends_and_rejects);
    tcase_add_test(tc, decode_run_equals_strict);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
