/* safetensors files: a memory-mapped, validated reader and an atomic writer.
 * Format: 8-byte little-endian header length N, N bytes of JSON header, then
 * the raw tensor bytes; offsets in the header are relative to the data start. */
#ifndef MICRORM_CORE_SAFETENSORS_H
#define MICRORM_CORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum { ST_F32, ST_F16, ST_BF16, ST_I32, ST_I64, ST_F64, ST_U8, ST_OTHER } st_dtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    st_dtype dtype;
    char dtype_name[8];   /* as written in the file, e.g. "BF16" */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    const uint8_t *data;  /* points into the mapping */
} st_tensor;

typedef struct {
    char *path;
    void *map;
    size_t map_len;
    st_tensor *tensors;
    size_t n_tensors;
    char **meta_keys;     /* __metadata__ string pairs */
    char **meta_values;
    size_t n_meta;
} st_file;

/* Map and validate path: header length in bounds, JSON well formed, known
 * dtypes, shape x dtype size == byte length, offsets within the data and not
 * overlapping. Values are not checked here (see st_tensor_to_f32). */
int st_open(st_file *f, const char *path, mr_error *e);
/* The same checks on buf[0..len), which the caller owns and keeps alive and
 * unchanged until st_close (tensor data points into it; f->map stays NULL).
 * name stands for the path in messages (for tests and fuzzing). */
int st_open_mem(st_file *f, const void *buf, size_t len, const char *name, mr_error *e);
void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key);   /* NULL if absent */
size_t st_numel(const st_tensor *t);
size_t st_dtype_size(st_dtype dt);

/* Convert a F32/F16/BF16 tensor to float32 into out[st_numel(t)]; every value
 * must be finite. Errors name the file and the tensor. */
int st_tensor_to_f32(const st_file *f, const st_tensor *t, float *out, mr_error *e);

/* Writer. Tensors are laid out in the given order; the file appears
 * atomically (written to PATH.tmp.PID, fsync'd, renamed): never a partial file. */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;     /* little-endian, st_numel x st_dtype_size bytes */
} st_out_tensor;

int st_write(const char *path, const st_out_tensor *tensors, size_t n,
             const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
             mr_error *e);

#endif
