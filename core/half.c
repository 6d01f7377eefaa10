/* bfloat16 and IEEE binary16 <-> float32 by bit manipulation, so that the
 * result never depends on the compiler's _Float16 support or the FPU's
 * rounding mode: round-to-nearest-even, subnormals, Inf and NaN preserved. */
#include "core/half.h"

#include <string.h>

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float mr_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t mr_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)          /* NaN: keep sign, force quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    /* Adding 0x7fff plus the lowest kept bit rounds half to even; a carry
     * into the exponent is exactly right, including overflow to Inf. */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float mr_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;

    if (exp == 0x1f)                               /* Inf / NaN */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* Subnormal: normalise the mantissa, every f16 subnormal is a
         * normal float32. */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400u));
        man &= 0x3ffu;
        exp = (uint32_t)(127 - 15 - e);
        return bits_f32(sign | (exp << 23) | (man << 13));
    }
    return bits_f32(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

uint16_t mr_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;

    if (a > 0x7f800000u)                           /* NaN: quiet, keep payload top bits */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u)                          /* >= 65520 rounds to Inf (or is Inf) */
        return (uint16_t)(sign | 0x7c00u);

    int exp = (int)(a >> 23) - 127;                /* unbiased float32 exponent */
    uint32_t man = (a & 0x7fffffu) | 0x800000u;    /* 24-bit significand with the hidden bit */
    if (a < 0x00800000u)
        return sign;                               /* float32 subnormals underflow to zero */

    int shift;
    uint32_t base;
    if (exp >= -14) {                              /* normal f16 */
        shift = 13;
        base = (uint32_t)(exp + 15) << 10;
        man &= 0x7fffffu;
    } else {                                       /* subnormal f16 (or zero) */
        shift = 13 + (-14 - exp);
        if (shift > 24)
            return sign;                           /* below half the smallest subnormal */
        base = 0;
    }
    uint32_t q = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;                                       /* a carry into the exponent is correct */
    return (uint16_t)(sign | (base + q));
}

void mr_bf16_to_f32_n(const void *src, float *dst, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = mr_bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
}

void mr_f16_to_f32_n(const void *src, float *dst, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = mr_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
}
