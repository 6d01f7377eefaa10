/* core/vector: base64 float32 / bfloat16 / float16 vectors to float32, and
 * the exact messages a client sees for each kind of bad vector. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/vector.h"
#include "tests/unit/run_suite.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Independent encoder: 3 bytes -> 4 chars, '=' padded. Returns malloc'd text. */
static char *b64(const void *data, size_t n)
{
    const uint8_t *s = data;
    char *o = malloc((n + 2) / 3 * 4 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        o[k++] = alphabet[v >> 18 & 63];
        o[k++] = alphabet[v >> 12 & 63];
        o[k++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    o[k] = 0;
    return o;
}

/* Little-endian bytes of float32 values, spelled out byte by byte. */
static void le32(const float *v, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int b = 0; b < 4; b++)
            out[4 * i + (size_t)b] = (uint8_t)(u >> (8 * b));
    }
}

START_TEST(dtype_names)
{
    mr_vec_dtype dt;
    ck_assert_int_eq(mr_vec_dtype_parse("float32", 7, &dt), 0);
    ck_assert_int_eq(dt, MR_DTYPE_F32);
    ck_assert_int_eq(mr_vec_dtype_parse("bfloat16", 8, &dt), 0);
    ck_assert_int_eq(dt, MR_DTYPE_BF16);
    ck_assert_int_eq(mr_vec_dtype_parse("float16", 7, &dt), 0);
    ck_assert_int_eq(dt, MR_DTYPE_F16);
    ck_assert_int_eq(mr_vec_dtype_parse("float1", 6, &dt), -1);
    ck_assert_int_eq(mr_vec_dtype_parse("float32x", 8, &dt), -1);
    ck_assert_int_eq(mr_vec_dtype_parse("fp16", 4, &dt), -1);
    ck_assert_int_eq(mr_vec_dtype_parse("", 0, &dt), -1);
    ck_assert_uint_eq(mr_vec_dtype_size(MR_DTYPE_F32), 4);
    ck_assert_uint_eq(mr_vec_dtype_size(MR_DTYPE_BF16), 2);
    ck_assert_uint_eq(mr_vec_dtype_size(MR_DTYPE_F16), 2);
}
END_TEST

START_TEST(float32_values)
{
    const float v[5] = { 1.0f, -2.5f, 3.4028235e38f, 1e-45f, -0.0f };
    uint8_t bytes[20];
    le32(v, 5, bytes);
    char *t = b64(bytes, 20);
    float out[5];
    mr_error e;
    ck_assert_int_eq(mr_vec_decode_base64(t, strlen(t), MR_DTYPE_F32, 5, out, &e), 0);
    ck_assert_mem_eq(out, v, sizeof v);
    free(t);
    /* "AACAPw==" is the float32 1.0 (00 00 80 3f) */
    ck_assert_int_eq(mr_vec_decode_base64("AACAPw==", 8, MR_DTYPE_F32, 1, out, &e), 0);
    ck_assert_float_eq(out[0], 1.0f);
}
END_TEST

START_TEST(half_values)
{
    /* bfloat16 1.0 = 0x3F80, -2.0 = 0xC000; float16 1.0 = 0x3C00, 0.5 = 0x3800,
     * 65504 = 0x7BFF, smallest subnormal 2^-24 = 0x0001. */
    const uint8_t bf[4] = { 0x80, 0x3F, 0x00, 0xC0 };
    const uint8_t hf[8] = { 0x00, 0x3C, 0x00, 0x38, 0xFF, 0x7B, 0x01, 0x00 };
    float out[4];
    mr_error e;
    char *t = b64(bf, 4);
    ck_assert_int_eq(mr_vec_decode_base64(t, strlen(t), MR_DTYPE_BF16, 2, out, &e), 0);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.0f);
    free(t);
    t = b64(hf, 8);
    ck_assert_int_eq(mr_vec_decode_base64(t, strlen(t), MR_DTYPE_F16, 4, out, &e), 0);
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], 0.5f);
    ck_assert_float_eq(out[2], 65504.0f);
    ck_assert_float_eq(out[3], ldexpf(1.0f, -24));
    /* The same text read as float32: 8 bytes, 2 values, not 4. */
    ck_assert_int_eq(mr_vec_decode_base64(t, strlen(t), MR_DTYPE_F32, 4, out, &e), -1);
    ck_assert_str_eq(e.msg, "expected 4 values, got 2");
    free(t);
    /* float16 Inf (0x7C00) and bfloat16 NaN (0x7FC0) are not finite. */
    const uint8_t hinf[4] = { 0x00, 0x3C, 0x00, 0x7C };
    t = b64(hinf, 4);
    ck_assert_int_eq(mr_vec_decode_base64(t, strlen(t), MR_DTYPE_F16, 2, out, &e), -1);
    ck_assert_str_eq(e.msg, "value 1 is not finite");
    ck_assert_int_eq(mr_vec_decode_base64(t, strlen(t), MR_DTYPE_BF16, 2, out, &e), 0); /* 0x7C00 bf16 is finite */
    free(t);
    const uint8_t bnan[2] = { 0xC0, 0x7F };
    t = b64(bnan, 2);
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, strlen(t), MR_DTYPE_BF16, 1, out, &e), MR_VEC_NON_FINITE);
    ck_assert_str_eq(e.msg, "value 0 is not finite");
    free(t);
}
END_TEST

START_TEST(error_messages)
{
    enum { D = 3072 };
    float *v = calloc(D + 1, sizeof(float));
    uint8_t *bytes = calloc((D + 1) * 4, 1);
    float *out = malloc((D + 1) * sizeof(float));
    mr_error e;

    le32(v, D - 1, bytes);
    char *t = b64(bytes, (D - 1) * 4);
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, strlen(t), MR_DTYPE_F32, D, out, &e), MR_VEC_BAD_SIZE);
    ck_assert_str_eq(e.msg, "expected 3072 values, got 3071");
    free(t);

    t = b64(bytes, D * 4 - 2);
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, strlen(t), MR_DTYPE_F32, D, out, &e), MR_VEC_BAD_SIZE);
    ck_assert_str_eq(e.msg, "base64 decodes to 12286 bytes, not a multiple of 4 (float32)");
    free(t);

    t = b64(bytes, 7);
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, strlen(t), MR_DTYPE_BF16, 3, out, &e), MR_VEC_BAD_SIZE);
    ck_assert_str_eq(e.msg, "base64 decodes to 7 bytes, not a multiple of 2 (bfloat16)");
    free(t);

    v[5] = INFINITY;
    le32(v, 8, bytes);
    t = b64(bytes, 32);
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, strlen(t), MR_DTYPE_F32, 8, out, &e), MR_VEC_NON_FINITE);
    ck_assert_str_eq(e.msg, "value 5 is not finite");
    v[5] = NAN;
    le32(v, 8, bytes);
    free(t);
    t = b64(bytes, 32);
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, strlen(t), MR_DTYPE_F32, 8, out, &e), MR_VEC_NON_FINITE);
    ck_assert_str_eq(e.msg, "value 5 is not finite");
    v[5] = 0;
    le32(v, 8, bytes);
    free(t);
    t = b64(bytes, 32);
    t[17] = '-';
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, strlen(t), MR_DTYPE_F32, 8, out, &e), MR_VEC_BAD_BASE64);
    ck_assert_str_eq(e.msg, "invalid base64 character at offset 17");
    ck_assert_int_eq(mr_vec_decode_base64_kind(t, 43, MR_DTYPE_F32, 8, out, &e), MR_VEC_BAD_BASE64);
    ck_assert_str_eq(e.msg, "base64 length 43 is not a multiple of 4");
    free(t);
    /* Non-zero bits after the last byte. "AACAPx==" would also be 1.0. */
    ck_assert_int_eq(mr_vec_decode_base64_kind("AACAPx==", 8, MR_DTYPE_F32, 1, out, &e), MR_VEC_BAD_BASE64);
    ck_assert_str_eq(e.msg, "base64 has non-zero padding bits at offset 5");
    ck_assert_int_eq(mr_vec_decode_base64("", 0, MR_DTYPE_F32, 3, out, &e), -1);
    ck_assert_str_eq(e.msg, "expected 3 values, got 0");
    free(v);
    free(bytes);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vector");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, dtype_names);
    tcase_add_test(tc, float32_values);
    tcase_add_test(tc, half_values);
    tcase_add_test(tc, error_messages);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
