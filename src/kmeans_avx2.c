/*
 * kmeans_avx2.c - AVX2 twins of kmeans_scalar.c: the same per-lane first minima and exact
 * direct sums, 8 lanes per register, two chains, then km_merge_lanes; bit-identical results.
 */
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__)
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define KM_AVX2 __attribute__((target("avx2"), always_inline)) static inline

KM_AVX2 v8f load8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

KM_AVX2 void keep8(const v8f *v, v8i idx, v8f *lv, v8i *li)
{
    v8i lt = *v < *lv;
    *lv = (v8f)(((v8i)*v & lt) | ((v8i)*lv & ~lt));
    *li = (idx & lt) | (*li & ~lt);
}

KM_AVX2 int finish8(const v8f *a, const v8f *b, const v8i *ia, const v8i *ib, const float *s, int t,
                    int m, float *val)
{
    float lv[16];
    int32_t li[16];
    memcpy(lv, a, 32), memcpy(lv + 8, b, 32), memcpy(li, ia, 32), memcpy(li + 8, ib, 32);
    return km_merge_lanes(lv, li, 16, s, t, m, val);
}

__attribute__((target("avx2"))) int km_argmin_avx2(const float *s, int m, float *val)
{
    if (m < 32) return km_argmin_scalar(s, m, val);
    v8f a = load8(s), b = load8(s + 8);
    v8i ia = {0, 1, 2, 3, 4, 5, 6, 7}, ib = ia + 8, ix = ia;
    int t = 16;
    for (; t + 16 <= m; t += 16) {
        ix += 16;
        v8f va = load8(s + t), vb = load8(s + t + 8);
        keep8(&va, ix, &a, &ia);
        keep8(&vb, ix + 8, &b, &ib);
    }
    return finish8(&a, &b, &ia, &ib, s, t, m, val);
}

KM_AVX2 v8f direct8(const float *xr, int d, const float *ct, int kp)
{
    v8f t = xr[0] - load8(ct), acc = t * t;
    for (int q = 1; q < d; q++) {
        t = xr[q] - load8(ct + (size_t)q * kp);
        acc += t * t;
    }
    return acc;
}

__attribute__((target("avx2"))) int km_direct_avx2(const float *xr, int d, const float *ct, int kp,
                                                   float *val)
{
    v8f a = direct8(xr, d, ct, kp), b = direct8(xr, d, ct + 8, kp);
    v8i ia = {0, 1, 2, 3, 4, 5, 6, 7}, ib = ia + 8, ix = ia;
    for (int c = 16; c < kp; c += 16) {
        ix += 16;
        v8f va = direct8(xr, d, ct + c, kp), vb = direct8(xr, d, ct + c + 8, kp);
        keep8(&va, ix, &a, &ia);
        keep8(&vb, ix + 8, &b, &ib);
    }
    return finish8(&a, &b, &ia, &ib, NULL, 0, 0, val);
}
#endif
