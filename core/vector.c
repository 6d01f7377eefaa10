/* Base64 embedding vectors (float32 / bfloat16 / float16, little-endian) to
 * float32, with the size and finiteness checks a request needs. Every dtype
 * decodes straight into the caller's float buffer (the 2-byte types fill its
 * first half and widen in place, from the end), so no scratch memory. */
#include "core/vector.h"

#include <stdint.h>
#include <string.h>

#include "core/base64.h"
#include "core/half.h"

int mr_vec_dtype_parse(const char *s, size_t len, mr_vec_dtype *out)
{
    static const struct { const char *name; mr_vec_dtype dt; } names[] = {
        { "float32", MR_DTYPE_F32 },
        { "bfloat16", MR_DTYPE_BF16 },
        { "float16", MR_DTYPE_F16 },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, s, len) == 0) {
            *out = names[i].dt;
            return 0;
        }
    }
    return -1;
}

size_t mr_vec_dtype_size(mr_vec_dtype dt)
{
    return dt == MR_DTYPE_F32 ? 4 : 2;
}

static const char *dtype_name(mr_vec_dtype dt)
{
    return dt == MR_DTYPE_F32 ? "float32" : dt == MR_DTYPE_BF16 ? "bfloat16" : "float16";
}

static int is_b64_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static void bswap32_n(float *v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&v[i], &u, 4);
    }
#else
    (void)v;
    (void)n;
#endif
}

int mr_vec_decode_base64(const char *b64, size_t len, mr_vec_dtype dt, int dim, float *out, mr_error *e)
{
    return mr_vec_decode_base64_kind(b64, len, dt, dim, out, e) == MR_VEC_OK ? 0 : -1;
}

static mr_vec_status check_size(size_t nbytes, mr_vec_dtype dt, int dim, mr_error *e)
{
    size_t esz = mr_vec_dtype_size(dt);
    if (nbytes % esz != 0) {
        mr_errorf(e, "base64 decodes to %zu bytes, not a multiple of %zu (%s)", nbytes, esz, dtype_name(dt));
        return MR_VEC_BAD_SIZE;
    }
    if (dim < 0 || nbytes / esz != (size_t)dim) {
        mr_errorf(e, "expected %d values, got %zu", dim, nbytes / esz);
        return MR_VEC_BAD_SIZE;
    }
    return MR_VEC_OK;
}

/* Widen the dim 2-byte values at the start of out to float32 in place: from
 * the end, value i (bytes 2i, 2i+1) is read before float i (bytes 4i..4i+3)
 * is written, and no later float overlaps an earlier unread value. */
static void widen_in_place(float *out, int dim, mr_vec_dtype dt)
{
    const unsigned char *p = (const unsigned char *)out;
    for (int i = dim - 1; i >= 0; i--) {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        out[i] = dt == MR_DTYPE_BF16 ? mr_bf16_to_f32(h) : mr_f16_to_f32(h);
    }
}

/* Index of the first NaN/Inf, or -1. Exponent bits all ones is what carries
 * into bit 31 when 2^23 is added to them; the OR of that over the block is
 * branch-free, so it vectorises, and the index is looked for on failure. */
static long first_non_finite(const float *v, size_t n)
{
    const uint32_t E = 0x7F800000u;
    uint32_t any = 0;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        any |= (u & E) + 0x00800000u;
    }
    if (!(any & 0x80000000u))
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        if ((u & E) == E)
            return (long)i;
    }
    return -1;
}

/* The decoded bytes sit at the start of out: to float32, then finiteness. */
static mr_vec_status finish(float *out, mr_vec_dtype dt, int dim, mr_error *e)
{
    if (dt == MR_DTYPE_F32)
        bswap32_n(out, (size_t)dim);
    else
        widen_in_place(out, dim, dt);
    long bad = first_non_finite(out, (size_t)dim);
    if (bad >= 0) {
        mr_errorf(e, "value %ld is not finite", bad);
        return MR_VEC_NON_FINITE;
    }
    return MR_VEC_OK;
}

mr_vec_status mr_vec_from_decoded(float *out, size_t nbytes, mr_vec_dtype dt, int dim, mr_error *e)
{
    mr_vec_status st = check_size(nbytes, dt, dim, e);
    return st != MR_VEC_OK ? st : finish(out, dt, dim, e);
}

mr_vec_status mr_vec_decode_base64_kind(const char *b64, size_t len, mr_vec_dtype dt, int dim, float *out,
                                        mr_error *e)
{
    if (len % 4 != 0) {
        mr_errorf(e, "base64 length %zu is not a multiple of 4", len);
        return MR_VEC_BAD_BASE64;
    }
    /* Decoded size from the text alone, so a wrong size is reported before
     * any byte is written. */
    size_t pad = 0;
    if (len >= 4)
        pad = (size_t)(b64[len - 1] == '=') + (size_t)(b64[len - 1] == '=' && b64[len - 2] == '=');
    size_t nbytes = mr_base64_decoded_max(len) - pad;
    mr_vec_status st = check_size(nbytes, dt, dim, e);
    if (st != MR_VEC_OK)
        return st;

    size_t bad_at = 0;
    if (mr_base64_decode(b64, len, (uint8_t *)out, &bad_at) < 0) {
        if (bad_at >= len || b64[bad_at] == '=')
            mr_errorf(e, "invalid base64 padding at offset %zu", bad_at);
        else if (is_b64_alpha(b64[bad_at]))
            mr_errorf(e, "base64 has non-zero padding bits at offset %zu", bad_at);
        else
            mr_errorf(e, "invalid base64 character at offset %zu", bad_at);
        return MR_VEC_BAD_BASE64;
    }
    return finish(out, dt, dim, e);
}
