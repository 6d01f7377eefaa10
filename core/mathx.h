/* Numerically careful scalar kernels shared by scoring, routing and training:
 * log-sigmoid, sigmoid, softmax and log-sum-exp with max subtraction. */
#ifndef MICRORM_CORE_MATHX_H
#define MICRORM_CORE_MATHX_H

#include <math.h>
#include <stddef.h>

/* log(sigmoid(s)) without overflow: -log1p(exp(-s)) for s >= 0, s - log1p(exp(s)) otherwise. */
static inline double mr_logsigmoid(double s)
{
    return s >= 0 ? -log1p(exp(-s)) : s - log1p(exp(s));
}

static inline double mr_sigmoid(double s)
{
    if (s >= 0)
        return 1.0 / (1.0 + exp(-s));
    double e = exp(s);
    return e / (1.0 + e);
}

/* log(sum exp(x[i])) over the n entries whose mask is 0 (mask may be NULL). -INFINITY if none. */
double mr_logsumexp(const double *x, const unsigned char *mask, size_t n);

/* out = log softmax(x) over unmasked entries, computed from x - max so it
 * stays right for huge logits; masked entries (or all, if all are masked)
 * get -INFINITY. x and out may alias. */
void mr_log_softmax(const double *x, const unsigned char *mask, size_t n, double *out);

/* out = softmax(x) over unmasked entries; masked entries get exactly 0.
 * x and out may alias. If every entry is masked, out is all 0. */
void mr_softmax(const double *x, const unsigned char *mask, size_t n, double *out);

#endif
