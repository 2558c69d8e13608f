/* avq_neon.c - NEON twins of avq_scalar.c (avq_tables.h; pq_tables16): 4 centres per register,
 * every entry's sum over q in the same order, multiplies and adds rounded separately; a scalar
 * tail for avq_tables' last ksub % 4 centres. */
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

void pq_tables16_neon(const float *ct, int d, int dsub, const float *q, int l2, float *out)
{
    for (int off = 0; off < d; off += dsub, out += 16) {
        int len = d - off < dsub ? d - off : dsub;
        const float *c = ct + (size_t)16 * off;
        float32x4_t a[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
        for (int t = 0; t < len; t++, c += 16) {
            float32x4_t v = vdupq_n_f32(q[off + t]);
            for (int r = 0; r < 4; r++) {
                float32x4_t cr = vld1q_f32(c + 4 * r), p;
                if (l2) {
                    float32x4_t u = vsubq_f32(v, cr);
                    p = vmulq_f32(u, u);
                } else {
                    p = vmulq_f32(cr, v);
                }
                a[r] = t ? vaddq_f32(a[r], p) : p; /* the first term stored, as the scalar */
            }
        }
        for (int r = 0; r < 4; r++) vst1q_f32(out + 4 * r, a[r]);
    }
}
#endif
