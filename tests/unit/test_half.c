/* Unit tests for core/half: bfloat16 and float16 bit patterns, rounding
 * ties to even, subnormals, overflow, Inf and NaN, unaligned bulk reads. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "tests/unit/run_suite.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

START_TEST(bf16_patterns)
{
    ck_assert_uint_eq(mr_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(mr_f32_to_bf16(-2.0f), 0xc000);
    ck_assert_uint_eq(mr_f32_to_bf16(0.0f), 0x0000);
    ck_assert_uint_eq(mr_f32_to_bf16(-0.0f), 0x8000);
    ck_assert_uint_eq(mr_f32_to_bf16(INFINITY), 0x7f80);
    ck_assert_uint_eq(mr_f32_to_bf16(-INFINITY), 0xff80);
    ck_assert_float_eq(mr_bf16_to_f32(0x3f80), 1.0f);
    ck_assert_float_eq(mr_bf16_to_f32(0xc000), -2.0f);
    ck_assert(isinf(mr_bf16_to_f32(0x7f80)));
    ck_assert(isnan(mr_bf16_to_f32(0x7fc0)));
    /* NaN stays NaN, even a payload living only in the dropped low bits */
    uint16_t n = mr_f32_to_bf16(from_bits(0x7f800001u));
    ck_assert_uint_eq(n & 0x7f80, 0x7f80);
    ck_assert_uint_ne(n & 0x007f, 0);
    ck_assert(isnan(mr_bf16_to_f32(mr_f32_to_bf16(NAN))));
}
END_TEST

START_TEST(bf16_rounding)
{
    /* 1 + 2^-8 is exactly between 0x3f80 and 0x3f81: ties go to the even 0x3f80 */
    ck_assert_uint_eq(mr_f32_to_bf16(from_bits(0x3f808000u)), 0x3f80);
    /* between 0x3f81 (odd) and 0x3f82: up to the even one */
    ck_assert_uint_eq(mr_f32_to_bf16(from_bits(0x3f818000u)), 0x3f82);
    /* just above the tie rounds up, just below rounds down */
    ck_assert_uint_eq(mr_f32_to_bf16(from_bits(0x3f808001u)), 0x3f81);
    ck_assert_uint_eq(mr_f32_to_bf16(from_bits(0x3f807fffu)), 0x3f80);
    /* FLT_MAX is past the last bf16 plus half an ulp: rounds to Inf */
    ck_assert_uint_eq(mr_f32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80);
    /* the largest finite bf16 survives */
    ck_assert_uint_eq(mr_f32_to_bf16(from_bits(0x7f7f0000u)), 0x7f7f);
}
END_TEST

START_TEST(f16_patterns)
{
    ck_assert_uint_eq(mr_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(mr_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(mr_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(mr_f32_to_f16(0x1p-24f), 0x0001);     /* smallest subnormal */
    ck_assert_uint_eq(mr_f32_to_f16(0x1p-14f), 0x0400);     /* smallest normal */
    ck_assert_uint_eq(mr_f32_to_f16(1023 * 0x1p-24f), 0x03ff);
    ck_assert_uint_eq(mr_f32_to_f16(INFINITY), 0x7c00);
    ck_assert_uint_eq(mr_f32_to_f16(-INFINITY), 0xfc00);
    ck_assert_uint_eq(mr_f32_to_f16(-0.0f), 0x8000);
    uint16_t n = mr_f32_to_f16(NAN);
    ck_assert_uint_eq(n & 0x7c00, 0x7c00);
    ck_assert_uint_ne(n & 0x03ff, 0);

    ck_assert_float_eq(mr_f16_to_f32(0x3c00), 1.0f);
    ck_assert_float_eq(mr_f16_to_f32(0xc000), -2.0f);
    ck_assert_float_eq(mr_f16_to_f32(0x7bff), 65504.0f);
    ck_assert_float_eq(mr_f16_to_f32(0x0001), 0x1p-24f);
    ck_assert_float_eq(mr_f16_to_f32(0x03ff), 1023 * 0x1p-24f);
    ck_assert_float_eq(mr_f16_to_f32(0x0400), 0x1p-14f);
    ck_assert(isinf(mr_f16_to_f32(0x7c00)) && mr_f16_to_f32(0x7c00) > 0);
    ck_assert(isinf(mr_f16_to_f32(0xfc00)) && mr_f16_to_f32(0xfc00) < 0);
    ck_assert(isnan(mr_f16_to_f32(0x7e00)));
    ck_assert(signbit(mr_f16_to_f32(0x8000)) && mr_f16_to_f32(0x8000) == 0.0f);
}
END_TEST

START_TEST(f16_rounding)
{
    /* 1 + 2^-11 is the tie between 1 and 1 + 2^-10: even wins */
    ck_assert_uint_eq(mr_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    ck_assert_uint_eq(mr_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    /* overflow: 65519 rounds down, 65520 (the tie past 65504) goes to Inf */
    ck_assert_uint_eq(mr_f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(mr_f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(mr_f32_to_f16(1e10f), 0x7c00);
    /* subnormal ties: 2^-25 -> 0 (even), 3 * 2^-25 -> 2 * 2^-24 (even) */
    ck_assert_uint_eq(mr_f32_to_f16(0x1p-25f), 0x0000);
    ck_assert_uint_eq(mr_f32_to_f16(3 * 0x1p-25f), 0x0002);
    ck_assert_uint_eq(mr_f32_to_f16(1.5f * 0x1p-25f), 0x0001);
    ck_assert_uint_eq(mr_f32_to_f16(0x1p-30f), 0x0000);
    ck_assert_uint_eq(mr_f32_to_f16(-0x1p-30f), 0x8000);
    /* the top subnormal rounds up into the smallest normal */
    ck_assert_uint_eq(mr_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400);
}
END_TEST

START_TEST(f16_round_trip_all)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = mr_f16_to_f32((uint16_t)h);
        if (isnan(f))
            continue;
        ck_assert_uint_eq(mr_f32_to_f16(f), h);
    }
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = mr_bf16_to_f32((uint16_t)h);
        if (isnan(f))
            continue;
        ck_assert_uint_eq(mr_f32_to_bf16(f), h);
    }
}
END_TEST

START_TEST(bulk_unaligned)
{
    /* little-endian 1.0, -2.0, 2^-24 starting at an odd address */
    unsigned char buf[1 + 6] = {0xaa, 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00};
    float out[3];
    mr_f16_to_f32_n(buf + 1, out, 3);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.0f);
    ck_assert_float_eq(out[2], 0x1p-24f);
    unsigned char bb[1 + 4] = {0x55, 0x80, 0x3f, 0x00, 0xc0};
    mr_bf16_to_f32_n(bb + 1, out, 2);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.0f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("half");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bf16_patterns);
    tcase_add_test(tc, bf16_rounding);
    tcase_add_test(tc, f16_patterns);
    tcase_add_test(tc, f16_rounding);
    tcase_add_test(tc, f16_round_trip_all);
    tcase_add_test(tc, bulk_unaligned);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
