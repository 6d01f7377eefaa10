/* core/base64: RFC 4648 test vectors, every strictness rule with the offset
 * it reports, and round trips against an independent encoder. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"

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

int main(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rfc4648_vectors);
    tcase_add_test(tc, strict_rejections);
    tcase_add_test(tc, round_trips);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
