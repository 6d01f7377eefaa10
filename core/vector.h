/* Embedding vectors as requests carry them: base64 of little-endian float32,
 * bfloat16 or float16 (the OpenAI `encoding_format: "base64"` convention),
 * decoded to float32 with every value checked finite. JSON number arrays are
 * parsed by api/json_reader with core/float_parse. */
#ifndef MICRORM_CORE_VECTOR_H
#define MICRORM_CORE_VECTOR_H

#include <stddef.h>

#include "core/error.h"

typedef enum { MR_DTYPE_F32 = 0, MR_DTYPE_BF16 = 1, MR_DTYPE_F16 = 2 } mr_vec_dtype;

/* "float32" | "bfloat16" | "float16" -> dtype; -1 if unknown. */
int mr_vec_dtype_parse(const char *s, size_t len, mr_vec_dtype *out);
size_t mr_vec_dtype_size(mr_vec_dtype dt);

/* Decode base64 text b64[0..len) holding exactly `dim` values of `dt` into
 * out[dim]. Errors (bad character or padding, byte length not a multiple of
 * the dtype, wrong count, NaN/Inf) are written to e without any prefix; the
 * caller prefixes the field name. Returns 0 or -1. */
int mr_vec_decode_base64(const char *b64, size_t len, mr_vec_dtype dt, int dim, float *out, mr_error *e);

/* The same, also saying which kind of error it was (for API error codes). */
typedef enum {
    MR_VEC_OK = 0,
    MR_VEC_BAD_BASE64,   /* bad character, padding, or text length */
    MR_VEC_BAD_SIZE,     /* decoded size is not dim values of dt */
    MR_VEC_NON_FINITE,   /* a NaN or Inf value */
    MR_VEC_NOMEM,
} mr_vec_status;
mr_vec_status mr_vec_decode_base64_kind(const char *b64, size_t len, mr_vec_dtype dt, int dim, float *out,
                                        mr_error *e);

/* The same checks and conversion for a vector whose base64 text was already
 * decoded into out (nbytes bytes at its start; out has room for dim floats,
 * e.g. by mr_base64_decode_run with cap = 4 * dim): the errors are those
 * mr_vec_decode_base64_kind gives for that text. */
mr_vec_status mr_vec_from_decoded(float *out, size_t nbytes, mr_vec_dtype dt, int dim, mr_error *e);

#endif
