/* dist_avx2.c - AVX2+FMA twins of dist_scalar.c: lanes 0-7 in lo, 8-15 in hi. */
#include "distance.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/* Masks for a tail of r elements (0 < r < 16): lanes below r load, the rest read as zero. */
AVX2 static inline void tail_masks(size_t r, __m256i *mlo, __m256i *mhi)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i rr = _mm256_set1_epi32((int)r);
    *mlo = _mm256_cmpgt_epi32(rr, idx);
    *mhi = _mm256_cmpgt_epi32(rr, _mm256_add_epi32(idx, _mm256_set1_epi32(8)));
}

AVX2 static inline float reduce(__m256 lo, __m256 hi)
{
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

AVX2 float dist_l2_avx2(const float *a, const float *b, size_t d)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        lo = _mm256_fmadd_ps(t0, t0, lo);
        hi = _mm256_fmadd_ps(t1, t1, hi);
    }
    if (i < d) {
        __m256i mlo, mhi;
        tail_masks(d - i, &mlo, &mhi);
        __m256 t0 = _mm256_sub_ps(_mm256_maskload_ps(a + i, mlo), _mm256_maskload_ps(b + i, mlo));
        __m256 t1 =
            _mm256_sub_ps(_mm256_maskload_ps(a + i + 8, mhi), _mm256_maskload_ps(b + i + 8, mhi));
        lo = _mm256_fmadd_ps(t0, t0, lo);
        hi = _mm256_fmadd_ps(t1, t1, hi);
    }
    return reduce(lo, hi);
}

AVX2 float dist_ip_avx2(const float *a, const float *b, size_t d)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
    }
    if (i < d) {
        __m256i mlo, mhi;
        tail_masks(d - i, &mlo, &mhi);
        lo = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mlo), _mm256_maskload_ps(b + i, mlo), lo);
        hi = _mm256_fmadd_ps(_mm256_maskload_ps(a + i + 8, mhi), _mm256_maskload_ps(b + i + 8, mhi),
                             hi);
    }
    return reduce(lo, hi);
}

/* One accumulation step; `l2` is a compile-time constant at every call site. */
AVX2 static inline __attribute__((always_inline)) __m256 step(__m256 acc, __m256 qv, __m256 xv,
                                                              int l2)
{
    if (l2) {
        __m256 t = _mm256_sub_ps(qv, xv);
        return _mm256_fmadd_ps(t, t, acc);
    }
    return _mm256_fmadd_ps(qv, xv, acc);
}

/* Four rows at once: eight independent FMA chains hide the FMA latency. Each row is still
 * accumulated in the canonical order, so results equal the one-row kernel's. */
AVX2 static inline __attribute__((always_inline)) void rows(const float *q, const float *x,
                                                            size_t n, size_t d, float *out, int l2)
{
    size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *xr[4] = {x + r * d, x + (r + 1) * d, x + (r + 2) * d, x + (r + 3) * d};
        __m256 lo[4], hi[4];
        for (int j = 0; j < 4; j++) lo[j] = hi[j] = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= d; i += 16) {
            __m256 qa = _mm256_loadu_ps(q + i), qb = _mm256_loadu_ps(q + i + 8);
            for (int j = 0; j < 4; j++) {
                lo[j] = step(lo[j], qa, _mm256_loadu_ps(xr[j] + i), l2);
                hi[j] = step(hi[j], qb, _mm256_loadu_ps(xr[j] + i + 8), l2);
            }
        }
        if (i < d) {
            __m256i mlo, mhi;
            tail_masks(d - i, &mlo, &mhi);
            __m256 qa = _mm256_maskload_ps(q + i, mlo), qb = _mm256_maskload_ps(q + i + 8, mhi);
            for (int j = 0; j < 4; j++) {
                lo[j] = step(lo[j], qa, _mm256_maskload_ps(xr[j] + i, mlo), l2);
                hi[j] = step(hi[j], qb, _mm256_maskload_ps(xr[j] + i + 8, mhi), l2);
            }
        }
        for (int j = 0; j < 4; j++) out[r + j] = reduce(lo[j], hi[j]);
    }
    for (; r < n; r++) out[r] = l2 ? dist_l2_avx2(q, x + r * d, d) : dist_ip_avx2(q, x + r * d, d);
}

AVX2 void dist_l2_rows_avx2(const float *q, const float *x, size_t n, size_t d, float *out)
{
    rows(q, x, n, d, out, 1);
}

AVX2 void dist_ip_rows_avx2(const float *q, const float *x, size_t n, size_t d, float *out)
{
    rows(q, x, n, d, out, 0);
}
/* Narrow rows: 16 values a step, lanes 0-7 into lo and 8-15 into hi; a tail is copied into a
 * zeroed buffer, so lanes past d add q * 0 (q masked to 0 too), as the scalar twin adds nothing:
 * an accumulator is never -0, so adding +0 leaves it unchanged. */
AVX2 static inline void narrow_step(__m256 *lo, __m256 *hi, const float *q, __m256i mlo,
                                    __m256i mhi, __m256 xlo, __m256 xhi)
{
    *lo = _mm256_fmadd_ps(_mm256_maskload_ps(q, mlo), xlo, *lo);
    *hi = _mm256_fmadd_ps(_mm256_maskload_ps(q + 8, mhi), xhi, *hi);
}

AVX2 float dist_ip_i8_avx2(const float *q, const uint8_t *x, size_t d)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    const __m256i all = _mm256_set1_epi32(-1);
    size_t i = 0;
    for (; i <= d; i += 16) {
        __m128i b;
        __m256i mlo = all, mhi = all;
        if (i + 16 <= d) {
            b = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        } else {
            if (i == d) break;
            uint8_t t[16] = {0};
            memcpy(t, x + i, d - i);
            b = _mm_loadu_si128((const __m128i *)(const void *)t);
            tail_masks(d - i, &mlo, &mhi);
        }
        __m256 xlo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
        __m256 xhi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
        narrow_step(&lo, &hi, q + i, mlo, mhi, xlo, xhi);
    }
    return reduce(lo, hi);
}

AVX2 static inline __m256 widen_bf16_8(__m128i h)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AVX2 float dist_ip_bf16_avx2(const float *q, const uint8_t *x, size_t d)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    const __m256i all = _mm256_set1_epi32(-1);
    size_t i = 0;
    for (; i <= d; i += 16) {
        const uint8_t *src = x + 2 * i;
        uint8_t t[32] = {0};
        __m256i mlo = all, mhi = all;
        if (i + 16 > d) {
            if (i == d) break;
            memcpy(t, src, 2 * (d - i));
            src = t;
            tail_masks(d - i, &mlo, &mhi);
        }
        __m256 xlo = widen_bf16_8(_mm_loadu_si128((const __m128i *)(const void *)src));
        __m256 xhi = widen_bf16_8(_mm_loadu_si128((const __m128i *)(const void *)(src + 16)));
        narrow_step(&lo, &hi, q + i, mlo, mhi, xlo, xhi);
    }
    return reduce(lo, hi);
}
#endif
