/* Softmax and log-sum-exp with max subtraction (DESIGN §1 numerics). */
#include "core/mathx.h"

double mr_logsumexp(const double *x, const unsigned char *mask, size_t n)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if ((!mask || !mask[i]) && x[i] > mx)
            mx = x[i];
    if (mx == -INFINITY)
        return -INFINITY;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        if (!mask || !mask[i])
            s += exp(x[i] - mx);
    return mx + log(s);
}

/* (x - max) - log(sum exp(x - max)) rather than x - logsumexp(x): once |max|
 * passes about 2^53 * log(n), max + log(sum) rounds back to max, and x - lse
 * would give every top entry log pi = 0 (weights summing to more than 1). */
void mr_log_softmax(const double *x, const unsigned char *mask, size_t n, double *out)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if ((!mask || !mask[i]) && x[i] > mx)
            mx = x[i];
    double s = 0;
    for (size_t i = 0; i < n; i++)
        if ((!mask || !mask[i]) && mx != -INFINITY)
            s += exp(x[i] - mx);
    double ls = log(s);
    for (size_t i = 0; i < n; i++)
        out[i] = (mx == -INFINITY || (mask && mask[i])) ? -INFINITY : (x[i] - mx) - ls;
}

void mr_softmax(const double *x, const unsigned char *mask, size_t n, double *out)
{
    mr_log_softmax(x, mask, n, out);
    for (size_t i = 0; i < n; i++)
        out[i] = out[i] == -INFINITY ? 0.0 : exp(out[i]);
}
