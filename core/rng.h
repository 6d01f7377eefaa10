/* A small seeded PRNG for training, sampling and synthetic data: xoshiro256**
 * seeded through splitmix64, so the same seed gives the same stream on every
 * platform (no libc rand, no global state). */
#ifndef MICRORM_CORE_RNG_H
#define MICRORM_CORE_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} mr_rng;

static inline uint64_t mr_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void mr_rng_seed(mr_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = mr_splitmix64(&seed);
}

static inline uint64_t mr_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t mr_rng_u64(mr_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = mr_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mr_rotl64(s[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double mr_rng_uniform(mr_rng *r) { return (double)(mr_rng_u64(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), n > 0; rejection keeps it unbiased. */
static inline uint64_t mr_rng_below(mr_rng *r, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = mr_rng_u64(r);
    while (x >= lim);
    return x % n;
}

/* Standard normal by Box-Muller (one value per call: simpler state, and
 * reproducibility matters more here than speed). */
static inline double mr_rng_normal(mr_rng *r)
{
    double u1 = 1.0 - mr_rng_uniform(r); /* (0, 1] so log is finite */
    double u2 = mr_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Fisher-Yates shuffle of idx[n]. */
static inline void mr_rng_shuffle(mr_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mr_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

#endif
