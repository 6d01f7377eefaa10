/* A MiCRo model: K linear reward heads over response embeddings and a router
 * (linear or one-hidden-layer MLP) over context embeddings. All parameters
 * live in one contiguous float buffer (llm.c style); the named pointers are
 * views into it, in this order: head_w, head_b, r1_w, r1_b, r_w, r_b. */
#ifndef MICRORM_CORE_MODEL_H
#define MICRORM_CORE_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/safetensors.h"

typedef enum { MR_ROUTER_LINEAR = 0, MR_ROUTER_MLP = 1 } mr_router_kind;
typedef enum { MR_SCORE_LINEAR = 0, MR_SCORE_LOGSIGMOID = 1 } mr_score_mode;

#define MR_MAX_HEADS 256
#define MR_FINGERPRINT_HEX 64

typedef struct {
    int K;                 /* heads */
    int d;                 /* response embedding size */
    int dc;                /* context embedding size */
    int H;                 /* MLP hidden size; 0 for a linear router */
    mr_router_kind router;
    mr_score_mode score_mode;

    float *params;         /* every parameter, contiguous */
    size_t n_params;
    float *head_w;         /* [K, d] */
    float *head_b;         /* [K] (zeros when the file has no bias) */
    float *r1_w;           /* [H, dc]  MLP first layer, NULL for linear */
    float *r1_b;           /* [H]      NULL for linear */
    float *r_w;            /* [K, F] router output layer, F = router_features() */
    float *r_b;            /* [K] */

    unsigned char mask[MR_MAX_HEADS];  /* 1 = head masked (pi_k = 0) */
    char **head_names;     /* K names ("head0".. when the file names none) */
    char *backbone;        /* from metadata, "" if unknown */
    char *source_path;
    char source_dtype[8];  /* dtype of the head weights in the file */
    char fingerprint[MR_FINGERPRINT_HEX + 1];  /* sha256 hex of the tensors used */
} mr_model;

/* Zero-initialised model with the given shape (for training and tests). */
mr_model *mr_model_new(int K, int d, int dc, mr_router_kind router, int H, mr_error *e);
void mr_model_free(mr_model *m);

/* Load a model: a safetensors file with DESIGN §6 names, an authors'
 * checkpoint (score.weight + router.*, BF16), a directory holding
 * model.safetensors or model.safetensors.index.json, or such an index file.
 * Only the tensors the model uses are read. Validates shapes and finiteness,
 * and computes the fingerprint. */
mr_model *mr_model_load(const char *path, mr_error *e);

/* The same from one already opened safetensors file (st_open or st_open_mem),
 * which stays the caller's to close; source_path is f->path. */
mr_model *mr_model_load_st(const st_file *f, mr_error *e);

/* Save as F32 safetensors with DESIGN §6 names and metadata (head names,
 * backbone, score mode); atomic. */
int mr_model_save(const mr_model *m, const char *path, mr_error *e);

/* Save with the weights stored as `dtype`, an st_dtype: ST_F32, ST_BF16 or
 * ST_F16 (the demo model and tests write authors'-style BF16 files). */
int mr_model_save_dtype(const mr_model *m, const char *path, int dtype, mr_error *e);

/* Replace the K head names (copied; non-empty, unique, not numbers, no comma). */
int mr_model_set_head_names(mr_model *m, const char *const *names, mr_error *e);

/* Recompute m->fingerprint from the parameters (sha256, nettle). */
void mr_model_fingerprint(mr_model *m);

/* Apply a mask spec: comma list of head indices or names ("" clears). At
 * least one head must stay unmasked. */
int mr_model_set_mask(mr_model *m, const char *spec, mr_error *e);

/* Parse "linear" | "logsigmoid". */
int mr_score_mode_parse(const char *s, mr_score_mode *out);
const char *mr_score_mode_name(mr_score_mode m);
const char *mr_router_kind_name(mr_router_kind k);

/* Size of the router features the output layer reads: H for MLP, dc for linear. */
static inline int mr_router_features(const mr_model *m) { return m->router == MR_ROUTER_MLP ? m->H : m->dc; }

#endif
