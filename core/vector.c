/* Base64 embedding vectors (float32 / bfloat16 / float16, little-endian) to
 * float32, with the size and finiteness checks a request needs. float32
 * decodes straight into the caller's buffer; the half types go through a
 * scratch buffer and core/half. */
#include "core/vector.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
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
    size_t esz = mr_vec_dtype_size(dt);
    if (nbytes % esz != 0) {
        mr_errorf(e, "base64 decodes to %zu bytes, not a multiple of %zu (%s)", nbytes, esz, dtype_name(dt));
        return MR_VEC_BAD_SIZE;
    }
    if (dim < 0 || nbytes / esz != (size_t)dim) {
        mr_errorf(e, "expected %d values, got %zu", dim, nbytes / esz);
        return MR_VEC_BAD_SIZE;
    }

    size_t bad_at = 0;
    if (dt == MR_DTYPE_F32) {
        if (mr_base64_decode(b64, len, (uint8_t *)out, &bad_at) < 0)
            goto bad_b64;
        bswap32_n(out, (size_t)dim);
    } else {
        uint8_t *tmp = mr_malloc(nbytes ? nbytes : 1);
        if (!tmp) {
            mr_errorf(e, "out of memory decoding %zu bytes", nbytes);
            return MR_VEC_NOMEM;
        }
        if (mr_base64_decode(b64, len, tmp, &bad_at) < 0) {
            free(tmp);
            goto bad_b64;
        }
        if (dt == MR_DTYPE_BF16)
            mr_bf16_to_f32_n(tmp, out, (size_t)dim);
        else
            mr_f16_to_f32_n(tmp, out, (size_t)dim);
        free(tmp);
    }

    for (int i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &out[i], 4);
        if ((u & 0x7F800000u) == 0x7F800000u) {
            mr_errorf(e, "value %d is not finite", i);
            return MR_VEC_NON_FINITE;
        }
    }
    return MR_VEC_OK;

bad_b64:
    if (bad_at >= len || b64[bad_at] == '=')
        mr_errorf(e, "invalid base64 padding at offset %zu", bad_at);
    else if (is_b64_alpha(b64[bad_at]))
        mr_errorf(e, "base64 has non-zero padding bits at offset %zu", bad_at);
    else
        mr_errorf(e, "invalid base64 character at offset %zu", bad_at);
    return MR_VEC_BAD_BASE64;
}
