/* sample.c - see sample.h. Selection sampling (Knuth's Algorithm S) keeps rows in order and
 * needs no index array: row i is taken with probability (still needed) / (still left). */
#include "sample.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

scann_status sample_rows(const float *x, int64_t n, int d, int64_t max, uint64_t seed,
                         const float **out, float **owned, int64_t *nout)
{
    *owned = NULL;
    if (max <= 0 || n <= max) {
        *out = x;
        *nout = n;
        return SCANN_OK;
    }
    float *y = malloc((size_t)max * d * sizeof(float));
    if (!y) return err_nomem("training sample", (size_t)max * d * sizeof(float));
    rng r = {seed};
    int64_t taken = 0;
    for (int64_t i = 0; i < n && taken < max; i++)
        if ((int64_t)rng_below(&r, (uint64_t)(n - i)) < max - taken)
            memcpy(y + (size_t)taken++ * d, x + (size_t)i * d, (size_t)d * sizeof(float));
    *out = *owned = y;
    *nout = taken;
    return SCANN_OK;
}
