/*
 * kmeans_scalar.c - k-means' nearest-centre kernels (kernels.h), the specification their SIMD
 * twins (kmeans_avx2.c, kmeans_neon.c) match bit for bit.
 *
 * Compilers do not vectorize an argmin by themselves, and after sgemm it is the largest cost of
 * an assignment, so even these use GCC/Clang vector types (4 lanes: the baseline SSE2 of x86-64
 * and any other target). Each lane keeps the first minimum of its own columns (strict <), then
 * the lanes are merged by (value, index) and any tail by strict <: every variant returns the
 * overall first minimum, the same answer bit for bit. Whatever the scores (NaN included), the
 * index returned is one of the m (or k) real ones.
 *
 * The direct kernels (d <= 8) compute exact ||x - c||^2 for 8 or 16 centres per step from
 * centres stored transposed (d x kp): each centre's sum runs over q in order, so the score is
 * the same float as a scalar loop's (-ffp-contract=off: no FMA), and is never stored.
 */
#include <string.h>

#include "kernels.h"

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

int km_merge_lanes(const float *lv, const int32_t *li, int nl, const float *s, int t, int m,
                   float *val)
{
    float bv = lv[0];
    int best = li[0];
    for (int l = 1; l < nl; l++)
        if (lv[l] < bv || (lv[l] == bv && li[l] < best)) bv = lv[l], best = li[l];
    for (; t < m; t++)
        if (s[t] < bv) bv = s[t], best = t;
    *val = bv;
    return best;
}

static v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Lanes where v beats the running minimum take v and its index. */
static inline __attribute__((always_inline)) void keep4(v4f v, v4i idx, v4f *lv, v4i *li)
{
    v4i lt = v < *lv;
    *lv = (v4f)(((v4i)v & lt) | ((v4i)*lv & ~lt));
    *li = (idx & lt) | (*li & ~lt);
}

static int finish4(v4f a, v4f b, v4i ia, v4i ib, const float *s, int t, int m, float *val)
{
    float lv[8];
    int32_t li[8];
    memcpy(lv, &a, 16), memcpy(lv + 4, &b, 16), memcpy(li, &ia, 16), memcpy(li + 4, &ib, 16);
    return km_merge_lanes(lv, li, 8, s, t, m, val);
}

/* First index of the smallest of s[0..m); two 4-lane chains keep the pipeline busy. */
int km_argmin_scalar(const float *s, int m, float *val)
{
    if (m < 16) {
        float lv = s[0];
        int32_t li = 0;
        return km_merge_lanes(&lv, &li, 1, s, 1, m, val);
    }
    v4f a = load4(s), b = load4(s + 4);
    v4i ia = {0, 1, 2, 3}, ib = ia + 4, ix = ia;
    int t = 8;
    for (; t + 8 <= m; t += 8) {
        ix += 8;
        keep4(load4(s + t), ix, &a, &ia);
        keep4(load4(s + t + 4), ix + 4, &b, &ib);
    }
    return finish4(a, b, ia, ib, s, t, m, val);
}

/* ||x - c||^2 for the 4 centres whose transposed columns start at ct. */
static inline __attribute__((always_inline)) v4f direct4(const float *xr, int d, const float *ct,
                                                         int kp)
{
    v4f t = xr[0] - load4(ct), acc = t * t;
    for (int q = 1; q < d; q++) {
        t = xr[q] - load4(ct + (size_t)q * kp);
        acc += t * t;
    }
    return acc;
}

int km_direct_scalar(const float *xr, int d, const float *ct, int kp, float *val)
{
    v4f a = direct4(xr, d, ct, kp), b = direct4(xr, d, ct + 4, kp);
    v4i ia = {0, 1, 2, 3}, ib = ia + 4, ix = ia;
    for (int c = 8; c < kp; c += 8) {
        ix += 8;
        keep4(direct4(xr, d, ct + c, kp), ix, &a, &ia);
        keep4(direct4(xr, d, ct + c + 4, kp), ix + 4, &b, &ib);
    }
    return finish4(a, b, ia, ib, NULL, 0, 0, val);
}
