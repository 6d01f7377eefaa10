/* Scoring (DESIGN §1): per-head rewards by BLAS, router weights by softmax,
 * the scalar reward in `linear` or `logsigmoid` mode, and the mixture
 * preference P(i > j) = sum_k pi_k sigmoid(r_k(i) - r_k(j)). */
#ifndef MICRORM_CORE_SCORE_H
#define MICRORM_CORE_SCORE_H

#include "core/model.h"

/* Router features of context u[dc] into feat[mr_router_features(m)]:
 * relu(W1 u + b1) for MLP, u itself for linear. */
void mr_router_features_of(const mr_model *m, const float *u, float *feat);

/* Router logits g[K] = w feat + b, with an optional output layer override
 * (w,b may be NULL: use the model's). The population router's logits
 * (w = b = NULL) are all that a hedge user's update needs of a context. */
void mr_router_logits(const mr_model *m, const float *feat, const float *w, const float *b, double *g);

/* Mixture weights pi[K] from features: softmax(g + beta) with g from
 * mr_router_logits and an optional per-user logit offset beta[K] (may be
 * NULL). Masked heads get exactly 0. */
void mr_router_weights(const mr_model *m, const float *feat, const float *w, const float *b,
                       const float *beta, double *pi);

/* The same from logits already computed: softmax(g + beta). Given g from
 * mr_router_logits, bit for bit what mr_router_weights gives. */
void mr_router_weights_from_logits(const mr_model *m, const double *g, const float *beta, double *pi);

/* heads[n*K] = per-head rewards of the n responses resp[n*d] (row-major). */
void mr_head_rewards(const mr_model *m, const float *resp, int n, float *heads);

/* Scalar reward of one response from its head rewards and the weights. */
double mr_reward(const mr_model *m, const double *pi, const float *heads_row);

/* Mixture preference P(i > j) from two responses' head rewards. */
double mr_preference(const mr_model *m, const double *pi, const float *heads_i, const float *heads_j);

#endif
