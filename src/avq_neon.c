/* avq_neon.c - NEON twin of avq_scalar.c (avq_tables.h): 4 centres per register, every entry's
 * sum over q in the same order, multiplies and adds rounded separately; a scalar tail for the
 * last ksub % 4 centres. */
#include "kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

void avq_tables_neon(const float *ct, int ksub, int len, const float *v, const float *x, float inv,
                     float *err2, float *par)
{
    int k4 = ksub & ~3;
    float v0 = v[0], x0 = x[0] * inv;
    for (int k = 0; k < k4; k += 4) {
        float32x4_t t = vsubq_f32(vdupq_n_f32(v0), vld1q_f32(ct + k));
        vst1q_f32(err2 + k, vmulq_f32(t, t));
        vst1q_f32(par + k, vmulq_n_f32(t, x0));
    }
    for (int k = k4; k < ksub; k++) {
        float t = v0 - ct[k];
        err2[k] = t * t;
        par[k] = t * x0;
    }
    for (int q = 1; q < len; q++) {
        const float *cq = ct + (size_t)q * ksub;
        float vq = v[q], xq = x[q] * inv;
        for (int k = 0; k < k4; k += 4) {
            float32x4_t t = vsubq_f32(vdupq_n_f32(vq), vld1q_f32(cq + k));
            vst1q_f32(err2 + k, vaddq_f32(vld1q_f32(err2 + k), vmulq_f32(t, t)));
            vst1q_f32(par + k, vaddq_f32(vld1q_f32(par + k), vmulq_n_f32(t, xq)));
        }
        for (int k = k4; k < ksub; k++) {
            float t = vq - cq[k];
            err2[k] += t * t;
            par[k] += t * xq;
        }
    }
}
#endif
