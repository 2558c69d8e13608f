/*
 * sample.h - seeded random numbers and row sampling for training. The generator lives in the
 * caller's struct (no global state), so the same seed always yields the same sample.
 */
#ifndef SCANN_SAMPLE_H
#define SCANN_SAMPLE_H

#include <stdint.h>

#include "scann.h"

typedef struct rng {
    uint64_t s;
} rng;

/* splitmix64: tiny, fast, and good enough to pick training rows. */
static inline uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n >= 1); the modulo bias is negligible for n far below 2^64. */
static inline uint64_t rng_below(rng *r, uint64_t n) { return rng_next(r) % n; }

/*
 * At most max rows of x (n x d), chosen without replacement and kept in their original order.
 * When n <= max (or max <= 0) no copy is made: *out = x and *owned = NULL. Otherwise *out =
 * *owned is a new buffer the caller frees.
 */
scann_status sample_rows(const float *x, int64_t n, int d, int64_t max, uint64_t seed,
                         const float **out, float **owned, int64_t *nout);

#endif
