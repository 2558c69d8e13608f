/*
 * avq_tables.h - the body of the AVQ table kernel (kernels.h's avq_tables_fn), compiled once
 * per x86 level: avq_scalar.c at the baseline (the specification), avq_avx2.c with 8 lanes.
 * The loop over centres is innermost and contiguous, so it vectorizes without reordering any
 * single sum; avx2 only, not fma, so each lane does the baseline's arithmetic.
 */
#ifndef SCANN_AVQ_TABLES_H
#define SCANN_AVQ_TABLES_H

#include <stddef.h>

static inline __attribute__((always_inline)) void
avq_tables_body(const float *ct, int ksub, int len, const float *v, const float *x, float inv,
                float *restrict err2, float *restrict par)
{
    float v0 = v[0], x0 = x[0] * inv;
    for (int k = 0; k < ksub; k++) {
        float t = v0 - ct[k];
        err2[k] = t * t;
        par[k] = t * x0;
    }
    for (int q = 1; q < len; q++) {
        const float *cq = ct + (size_t)q * ksub;
        float vq = v[q], xq = x[q] * inv;
        for (int k = 0; k < ksub; k++) {
            float t = vq - cq[k];
            err2[k] += t * t;
            par[k] += t * xq;
        }
    }
}

#endif
