/* dist_avx512.c - AVX-512 twins of dist_scalar.c: the 16 canonical lanes fill one ZMM. */
#include "distance.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

AVX512 static inline float reduce(__m512 acc)
{
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

AVX512 static inline __attribute__((always_inline)) __m512 step(__m512 acc, __m512 qv, __m512 xv,
                                                                int l2)
{
    if (l2) {
        __m512 t = _mm512_sub_ps(qv, xv);
        return _mm512_fmadd_ps(t, t, acc);
    }
    return _mm512_fmadd_ps(qv, xv, acc);
}

AVX512 static inline __attribute__((always_inline)) float one(const float *a, const float *b,
                                                              size_t d, int l2)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16)
        acc = step(acc, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), l2);
    if (i < d) {
        __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
        acc = step(acc, _mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), l2);
    }
    return reduce(acc);
}

AVX512 float dist_l2_avx512(const float *a, const float *b, size_t d) { return one(a, b, d, 1); }
AVX512 float dist_ip_avx512(const float *a, const float *b, size_t d) { return one(a, b, d, 0); }

/* Four rows at once for independent FMA chains; each row keeps the canonical order. */
AVX512 static inline __attribute__((always_inline)) void
rows(const float *q, const float *x, size_t n, size_t d, float *out, int l2)
{
    size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *xr[4] = {x + r * d, x + (r + 1) * d, x + (r + 2) * d, x + (r + 3) * d};
        __m512 acc[4];
        for (int j = 0; j < 4; j++) acc[j] = _mm512_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= d; i += 16) {
            __m512 qv = _mm512_loadu_ps(q + i);
            for (int j = 0; j < 4; j++) acc[j] = step(acc[j], qv, _mm512_loadu_ps(xr[j] + i), l2);
        }
        if (i < d) {
            __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
            for (int j = 0; j < 4; j++)
                acc[j] = step(acc[j], qv, _mm512_maskz_loadu_ps(m, xr[j] + i), l2);
        }
        for (int j = 0; j < 4; j++) out[r + j] = reduce(acc[j]);
    }
    for (; r < n; r++) out[r] = one(q, x + r * d, d, l2);
}

AVX512 void dist_l2_rows_avx512(const float *q, const float *x, size_t n, size_t d, float *out)
{
    rows(q, x, n, d, out, 1);
}

AVX512 void dist_ip_rows_avx512(const float *q, const float *x, size_t n, size_t d, float *out)
{
    rows(q, x, n, d, out, 0);
}
/* Narrow rows: 16 values widened to the 16 lanes; a tail loads zeros past d (masked). */
AVX512 static inline __m512 widen_i8(__m128i b)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
}

AVX512 static inline __m512 widen_bf16(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AVX512 float dist_ip_i8_avx512(const float *q, const uint8_t *x, size_t d)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16)
        acc =
            _mm512_fmadd_ps(_mm512_loadu_ps(q + i),
                            widen_i8(_mm_loadu_si128((const __m128i *)(const void *)(x + i))), acc);
    if (i < d) {
        __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i),
                              widen_i8(_mm_maskz_loadu_epi8(m, x + i)), acc);
    }
    return reduce(acc);
}

AVX512 float dist_ip_bf16_avx512(const float *q, const uint8_t *x, size_t d)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16)
        acc = _mm512_fmadd_ps(
            _mm512_loadu_ps(q + i),
            widen_bf16(_mm256_loadu_si256((const __m256i *)(const void *)(x + 2 * i))), acc);
    if (i < d) {
        __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i),
                              widen_bf16(_mm256_maskz_loadu_epi16(m, x + 2 * i)), acc);
    }
    return reduce(acc);
}
#endif
