/* Stage 2 of MiCRo (DESIGN §3, Algorithm 1 of the paper): fit the router on
 * examples with context. Each example's Hedge target omega weighs the router's
 * prior by how well each head explains the example; the router then minimises
 * the cross-entropy -sum_k omega_k log pi_k(u). The per-example math is
 * exposed for the online per-user `router` mode (DESIGN §4). */
#ifndef MICRORM_CORE_ADAPT_H
#define MICRORM_CORE_ADAPT_H

#include <stdint.h>

#include "core/dataset.h"
#include "core/error.h"
#include "core/model.h"
#include "core/train.h"

/* omega_k = pi_k exp(-L_k/tau) / sum_j pi_j exp(-L_j/tau), in log space (tau
 * may be 1e-4). log_pi_k = -INFINITY (a masked head) gives omega_k = 0. If
 * every head is masked omega is all 0. */
void mr_hedge_target(const double *log_pi, const double *L, int K, double tau, double *omega);

/* Head losses L_k = -log sigmoid(s_k), s_k = r_k(chosen) - r_k(rejected). */
void mr_head_losses(const float *s, int K, double *L);

/* Cross-entropy -sum_k omega_k log softmax(g)_k over the unmasked heads (mask
 * may be NULL) and, if dg is not NULL, its gradient w.r.t. the logits:
 * dg_k = pi_k - omega_k (omega sums to 1), 0 for masked heads. */
double mr_route_ce(const double *g, const double *omega, const unsigned char *mask, int K, double *dg);

/* Mean cross-entropy over nb examples (router inputs U [nb,dc], targets omega
 * [nb,K]) and, if grad is not NULL, its gradient for every router parameter
 * (m->params layout; heads get 0). */
double mr_stage2_loss_grad(const mr_model *m, const float *U, const double *omega, int nb, float *grad,
                           mr_batch_ws *ws);

typedef struct {
    int epochs, batch;
    double lr, tau, weight_decay, warmup;
    int budget;              /* examples per attribute; 0 = every row */
    int init_uniform;        /* 1: start from uniform weights (output layer zeroed); 0: from the stage-1 router */
    uint64_t seed;
    mr_progress_fn progress; /* may be NULL */
    void *progress_ud;
} mr_adapt_opts;

/* 10 epochs, batch 32, lr 1e-3, tau 1e-3, no weight decay, warm-up 5%, every
 * row, start from uniform weights, seed 0. Why uniform: the stage-1 router
 * was fitted on prompts alone and is often confidently wrong once a context
 * is prepended; in docs/reproduce.md starting from it costs ~10 points. */
void mr_adapt_opts_default(mr_adapt_opts *o);

typedef struct {
    int64_t examples;        /* rows used */
    double first_ce, last_ce;/* mean cross-entropy in the first and last epoch */
} mr_adapt_result;

/* Fit m's router (heads frozen) on ds's `context` rows. With a budget, takes
 * budget rows per attribute (seeded; fewer if an attribute has fewer). */
int mr_adapt(mr_model *m, const mr_dataset *ds, const mr_adapt_opts *o, mr_adapt_result *res, mr_error *e);

/* The rows a budget selects (shared with the tools that report it): fills
 * *out (malloc'd) and *n_out. budget 0 = every row. */
int mr_adapt_select(const mr_dataset *ds, int budget, uint64_t seed, int64_t **out, int64_t *n_out, mr_error *e);

#endif
