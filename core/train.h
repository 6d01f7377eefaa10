/* Stage 1 of MiCRo (DESIGN §2): the mixture NLL + alpha * negative entropy of
 * the router, and the baselines trained by the same loop (single BT head,
 * static mixture, shared-base ensemble). Explicit forward and backward with
 * hand-written gradients; the batch products go through cblas_sgemm. AdamW
 * with a cosine schedule and linear warm-up. Deterministic for a seed given a
 * single-threaded BLAS (the caller sets the BLAS thread count). */
#ifndef MICRORM_CORE_TRAIN_H
#define MICRORM_CORE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/dataset.h"
#include "core/error.h"
#include "core/model.h"

typedef enum {
    MR_OBJ_MICRO = 0,  /* mixture NLL + alpha * sum pi log pi, router on the prompt */
    MR_OBJ_SINGLE,     /* K = 1 Bradley-Terry */
    MR_OBJ_STATIC,     /* same mixture loss, router = K free logits (the bias), weight frozen at 0 */
    MR_OBJ_SHARED,     /* uniform weights, mean over heads of per-head BT losses; router frozen at 0 */
} mr_objective;

/* Where the router's negative entropy is taken. DESIGN §2: per example
 * (sum_k pi_k(u) log pi_k(u), averaged), which keeps every router soft. The
 * batch form applies it to the batch-mean weights instead (a load-balancing
 * term: heads stay in use, single examples may route sharply). */
typedef enum { MR_REG_EXAMPLE = 0, MR_REG_BATCH = 1 } mr_reg_kind;

/* "micro" | "single" | "static" | "shared-base"; -1 if unknown. */
int mr_objective_parse(const char *s, mr_objective *out);
const char *mr_objective_name(mr_objective o);

/* Scratch for one batch of up to B pairs. */
typedef struct {
    int B;
    float *D;     /* [B,d]  chosen - rejected (head biases cancel in a difference) */
    float *R;     /* [B,d]  rejected rows while gathering */
    float *U;     /* [B,dc] router input */
    float *S;     /* [B,K]  s_k = r_k(chosen) - r_k(rejected) */
    float *G;     /* [B,K]  router logits */
    float *Hp;    /* [B,H]  MLP pre-activation */
    float *Hh;    /* [B,H]  relu(Hp) */
    float *dS;    /* [B,K] */
    float *dG;    /* [B,K] */
    float *dH;    /* [B,H] */
} mr_batch_ws;

int mr_batch_ws_init(mr_batch_ws *ws, const mr_model *m, int B, mr_error *e);
void mr_batch_ws_free(mr_batch_ws *ws);

/* Forward of nb pairs: S = D Wh^T, G = router(U) (ws->Hp/Hh filled for MLP).
 * With `static_router`, G is the bias alone. */
void mr_forward_batch(const mr_model *m, const float *U, const float *D, int nb, int static_router,
                      mr_batch_ws *ws);

/* Router logits only: ws->G = g(U) (bias alone with static_router). */
void mr_router_forward(const mr_model *m, const float *U, int nb, int static_router, mr_batch_ws *ws);

/* Router backward from ws->dG [nb,K] (after mr_router_forward on the same U):
 * writes the gradient of every router parameter into grad (m->params layout;
 * the router block is overwritten, the heads block is left alone). */
void mr_router_backward(const mr_model *m, const float *U, int nb, int static_router, mr_batch_ws *ws, float *grad);

/* Router parameters are the tail of m->params from this offset (r1_w for an
 * MLP, r_w for a linear router). */
static inline size_t mr_router_offset(const mr_model *m)
{
    return (size_t)((m->router == MR_ROUTER_MLP ? m->r1_w : m->r_w) - m->params);
}

/* Mean stage-1 loss over the nb pairs (U [nb,dc], D [nb,d]) and, if grad is
 * not NULL, its gradient written into grad (the layout of m->params, every
 * entry overwritten; frozen parameters get 0). */
double mr_stage1_loss_grad(const mr_model *m, mr_objective obj, double alpha, mr_reg_kind reg, const float *U,
                           const float *D, int nb, float *grad, mr_batch_ws *ws);

/* PyTorch-style initialisation for the objective: weights U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)), biases 0; baselines with a fixed router get a zero router. */
void mr_train_init_params(mr_model *m, mr_objective obj, uint64_t seed);

/* AdamW (decoupled weight decay), moments in float. */
typedef struct {
    float *m, *v;
    size_t n;
    int64_t t;
    double beta1, beta2, eps, weight_decay;
} mr_adamw;

int mr_adamw_init(mr_adamw *opt, size_t n, double weight_decay, mr_error *e);
void mr_adamw_free(mr_adamw *opt);
void mr_adamw_step(mr_adamw *opt, float *params, const float *grad, double lr);

/* Learning rate at step (0-based) of total: linear warm-up over the first
 * ceil(warmup * total) steps, then cosine decay to 0. */
double mr_cosine_lr(double lr, int64_t step, int64_t total, double warmup);

typedef struct {
    int epoch, epochs;       /* 1-based epoch */
    int64_t step, steps;     /* steps done so far, total steps */
    int64_t pairs;           /* pairs processed so far */
    double loss;             /* running mean loss of this epoch */
    double lr;
    int epoch_done;          /* 1 on the last call of an epoch */
} mr_train_status;

typedef void (*mr_progress_fn)(void *ud, const mr_train_status *st);

typedef struct {
    mr_objective objective;
    int epochs, batch;
    double lr, alpha, weight_decay, warmup;
    mr_reg_kind reg;
    uint64_t seed;
    mr_progress_fn progress;   /* may be NULL */
    void *progress_ud;
    int progress_every;        /* steps between progress calls (>= 1) */
} mr_train_opts;

/* The authors' settings: micro, 1 epoch, batch 32, lr 2e-3, alpha 0.5, wd 0,
 * warm-up 5%, seed 0. */
void mr_train_opts_default(mr_train_opts *o);

typedef struct {
    double first_epoch_loss, last_epoch_loss;
    int64_t steps;
} mr_train_result;

/* Initialise m (see mr_train_init_params) and train it on ds (prompt, chosen,
 * rejected). m's shape must match ds (d, dc). */
int mr_train(mr_model *m, const mr_dataset *ds, const mr_train_opts *o, mr_train_result *res, mr_error *e);

#endif
