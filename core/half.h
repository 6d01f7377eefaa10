/* IEEE half (float16) and bfloat16 <-> float32 conversion, round-to-nearest-even. */
#ifndef MICRORM_CORE_HALF_H
#define MICRORM_CORE_HALF_H

#include <stddef.h>
#include <stdint.h>

float mr_bf16_to_f32(uint16_t h);
float mr_f16_to_f32(uint16_t h);
uint16_t mr_f32_to_bf16(float f);  /* nearest-even; NaN stays NaN */
uint16_t mr_f32_to_f16(float f);   /* nearest-even; overflow -> Inf */

/* Convert n little-endian 2-byte values at src (any alignment) to float32. */
void mr_bf16_to_f32_n(const void *src, float *dst, size_t n);
void mr_f16_to_f32_n(const void *src, float *dst, size_t n);

#endif
