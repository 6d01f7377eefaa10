/* Preference datasets for offline training (DESIGN §2-§3): a safetensors file
 * with `prompt` [n,dc], `chosen` [n,d], `rejected` [n,d], optional `context`
 * [n,dc] and `attribute` I32 [n] (names in __metadata__ "attributes", a JSON
 * array string). Embeddings may be F32, BF16 or F16. The file stays mapped;
 * rows are gathered (and converted) on demand, so memory does not grow with n.
 * Also a streaming writer, so synthetic sets of any size need no buffer. */
#ifndef MICRORM_CORE_DATASET_H
#define MICRORM_CORE_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/safetensors.h"

typedef enum { MR_COL_PROMPT = 0, MR_COL_CHOSEN, MR_COL_REJECTED, MR_COL_CONTEXT, MR_COL_COUNT } mr_column;

typedef struct {
    st_file file;
    int64_t n;
    int d, dc;
    const st_tensor *col[MR_COL_COUNT];  /* col[MR_COL_CONTEXT] NULL when absent */
    int32_t *attribute;                  /* [n], NULL when absent (4 bytes a row: copied) */
    int n_attributes;                    /* 0 when absent */
    char **attribute_names;              /* [n_attributes] */
} mr_dataset;

/* Map and validate: tensors present, 2-D, same n, chosen/rejected widths
 * equal, context width == prompt width, every embedding finite, attributes in
 * range. Errors name the file, the tensor and the row. */
int mr_dataset_open(mr_dataset *ds, const char *path, mr_error *e);
void mr_dataset_close(mr_dataset *ds);

static inline bool mr_dataset_has_context(const mr_dataset *ds) { return ds->col[MR_COL_CONTEXT] != NULL; }
static inline int mr_dataset_width(const mr_dataset *ds, mr_column c)
{
    return (c == MR_COL_CHOSEN || c == MR_COL_REJECTED) ? ds->d : ds->dc;
}

/* Gather rows idx[0..nb) of a column as float32 into out[nb * width]. */
void mr_dataset_gather(const mr_dataset *ds, mr_column c, const int64_t *idx, int nb, float *out);

/* out[nb * d] = chosen - rejected of rows idx[0..nb): one pass straight from
 * the mapping for aligned F32 files; scratch[nb * d] is used otherwise. */
void mr_dataset_gather_diff(const mr_dataset *ds, const int64_t *idx, int nb, float *out, float *scratch);

/* Streaming writer: the header is fixed up front from the shapes, rows are
 * written in place with pwrite, and the file appears atomically (PATH.tmp.PID,
 * fsync, rename) on finish; abort removes the temporary. */
typedef struct {
    int fd;
    char *path, *tmp;
    int64_t n;
    int d, dc;
    bool has_context, has_attribute;
    st_dtype dtype;
    uint64_t base;                     /* file offset of the data section */
    uint64_t off[MR_COL_COUNT + 1];    /* data offsets; [MR_COL_COUNT] = attribute */
    void *scratch;                     /* one converted row */
} mr_dataset_writer;

/* dtype: ST_F32, ST_BF16 or ST_F16. names may be NULL when n_attributes is 0
 * (no attribute tensor). has_context adds the context tensor. */
int mr_dataset_writer_open(mr_dataset_writer *w, const char *path, int64_t n, int d, int dc,
                           bool has_context, int n_attributes, const char *const *names,
                           st_dtype dtype, mr_error *e);
/* Row i (any order). context may be NULL without the context tensor; attribute
 * is ignored without the attribute tensor. */
int mr_dataset_writer_row(mr_dataset_writer *w, int64_t i, const float *prompt, const float *chosen,
                          const float *rejected, const float *context, int32_t attribute, mr_error *e);
int mr_dataset_writer_finish(mr_dataset_writer *w, mr_error *e);
void mr_dataset_writer_abort(mr_dataset_writer *w);

#endif
