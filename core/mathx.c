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

void mr_softmax(const double *x, const unsigned char *mask, size_t n, double *out)
{
    double lse = mr_logsumexp(x, mask, n);
    for (size_t i = 0; i < n; i++)
        out[i] = (lse == -INFINITY || (mask && mask[i])) ? 0.0 : exp(x[i] - lse);
}
