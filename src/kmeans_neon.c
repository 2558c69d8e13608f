/*
 * kmeans_neon.c - NEON twins of kmeans_scalar.c, with kmeans_avx2.c's lane layout: 16 lanes per
 * step in four Q registers (two AVX2 chains of 8), per-lane first minima by strict <, then
 * km_merge_lanes; the direct sums multiply and add separately (no FMA). Same bits as the scalar
 * and AVX2 kernels.
 */
#include "kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

typedef struct lanes16 {
    float32x4_t v[4];
    int32x4_t i[4];
} lanes16;

/* Lanes where v beats the running minimum take v and its index. */
static inline __attribute__((always_inline)) void keep(lanes16 *L, const float32x4_t *v,
                                                       int32_t base)
{
    static const int32_t iota[4] = {0, 1, 2, 3};
    int32x4_t idx = vaddq_s32(vld1q_s32(iota), vdupq_n_s32(base));
    for (int g = 0; g < 4; g++) {
        uint32x4_t lt = vcltq_f32(v[g], L->v[g]);
        L->v[g] = vbslq_f32(lt, v[g], L->v[g]);
        L->i[g] = vbslq_s32(lt, vaddq_s32(idx, vdupq_n_s32(4 * g)), L->i[g]);
    }
}

static inline __attribute__((always_inline)) void init(lanes16 *L, const float32x4_t *v)
{
    static const int32_t iota[4] = {0, 1, 2, 3};
    for (int g = 0; g < 4; g++) {
        L->v[g] = v[g];
        L->i[g] = vaddq_s32(vld1q_s32(iota), vdupq_n_s32(4 * g));
    }
}

static int finish(const lanes16 *L, const float *s, int t, int m, float *val)
{
    float lv[16];
    int32_t li[16];
    for (int g = 0; g < 4; g++) vst1q_f32(lv + 4 * g, L->v[g]), vst1q_s32(li + 4 * g, L->i[g]);
    return km_merge_lanes(lv, li, 16, s, t, m, val);
}

int km_argmin_neon(const float *s, int m, float *val)
{
    if (m < 32) return km_argmin_scalar(s, m, val); /* as the AVX2 twin */
    float32x4_t v[4];
    lanes16 L;
    for (int g = 0; g < 4; g++) v[g] = vld1q_f32(s + 4 * g);
    init(&L, v);
    int t = 16;
    for (; t + 16 <= m; t += 16) {
        for (int g = 0; g < 4; g++) v[g] = vld1q_f32(s + t + 4 * g);
        keep(&L, v, t);
    }
    return finish(&L, s, t, m, val);
}

/* ||x - c||^2 for the 16 centres whose transposed columns start at ct. */
static inline __attribute__((always_inline)) void direct16(float32x4_t *acc, const float *xr, int d,
                                                           const float *ct, int kp)
{
    for (int g = 0; g < 4; g++) {
        float32x4_t t = vsubq_f32(vdupq_n_f32(xr[0]), vld1q_f32(ct + 4 * g));
        acc[g] = vmulq_f32(t, t);
    }
    for (int q = 1; q < d; q++)
        for (int g = 0; g < 4; g++) {
            float32x4_t t = vsubq_f32(vdupq_n_f32(xr[q]), vld1q_f32(ct + (size_t)q * kp + 4 * g));
            acc[g] = vaddq_f32(acc[g], vmulq_f32(t, t));
        }
}

int km_direct_neon(const float *xr, int d, const float *ct, int kp, float *val)
{
    float32x4_t v[4];
    lanes16 L;
    direct16(v, xr, d, ct, kp);
    init(&L, v);
    for (int c = 16; c < kp; c += 16) {
        direct16(v, xr, d, ct + c, kp);
        keep(&L, v, c);
    }
    return finish(&L, NULL, 0, 0, val);
}
#endif
