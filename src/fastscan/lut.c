/*
 * lut.c - quantize a float lookup table (m x 16) into the uint8 table the FastScan kernels scan.
 *
 * q[j][k] = round((L[j][k] - min_j) * a), a = min(255 / max_j span_j, (65535 - m) / sum_j span_j).
 *
 * Invariants:
 *  - every q is in 0..255 (the first bound, plus a clamp against float rounding);
 *  - the sum over sub-spaces of the row maxima of q is <= 65535, so a 16-bit accumulator of any
 *    code's sum cannot overflow. DESIGN.md's bound 65535 / sum span holds before rounding only:
 *    round-half-up adds up to 0.5 per row, so the sum of maxima could reach 65535 + m / 2. We
 *    use 65535 - m instead: after rounding the sum is <= (65535 - m)(1 + 3u) + 0.5m + tiny
 *    < 65535 - 0.49m, which leaves room for every float rounding error in a, t and the spans
 *    (u = 2^-24; 65535 * 3u ~ 0.012). It costs a relative m / 65535 of resolution (0.6% at
 *    m = 392), only when the sum bound is the active one, and needs no second pass (m < 65535
 *    is assumed; real m is a few hundred);
 *  - the output is the same bytes for every caller and ISA: scalar float code in a fixed order,
 *    compiled with -ffp-contract=off (no FMA contraction), sums of spans and minima in double.
 *    Non-finite inputs are not supported, but the clamp keeps them free of undefined behaviour.
 *
 * The table layout is row-major: pair p's 32 bytes (q[2p][..] then q[2p+1][..]) start at
 * 32 * p, i.e. row j at 16 * j. Padding rows m..m4-1 are 0 (padding codes are 0, and a zero row
 * adds nothing to any sum).
 */
#include <math.h>
#include <string.h>

#include "fastscan.h"

#if defined(__SSE2__)
#include <emmintrin.h>

/* SSE2 is part of x86-64, so this is the baseline path, not an ISA variant: it computes the
 * same bytes as the scalar code below (min/max are exact, the arithmetic is the same float
 * ops, truncation is the conversion instruction, and _mm_max_ps(t, 0) maps NaN to 0 as the
 * scalar compare does). It exists because this runs once per query over every table entry. */
static void row_range4(const float *row, float *lo, float *hi)
{
    __m128 a = _mm_loadu_ps(row), b = _mm_loadu_ps(row + 4), c = _mm_loadu_ps(row + 8),
           d = _mm_loadu_ps(row + 12);
    __m128 mn = _mm_min_ps(_mm_min_ps(a, b), _mm_min_ps(c, d));
    __m128 mx = _mm_max_ps(_mm_max_ps(a, b), _mm_max_ps(c, d));
    mn = _mm_min_ps(mn, _mm_shuffle_ps(mn, mn, _MM_SHUFFLE(1, 0, 3, 2)));
    mn = _mm_min_ps(mn, _mm_shuffle_ps(mn, mn, _MM_SHUFFLE(2, 3, 0, 1)));
    mx = _mm_max_ps(mx, _mm_shuffle_ps(mx, mx, _MM_SHUFFLE(1, 0, 3, 2)));
    mx = _mm_max_ps(mx, _mm_shuffle_ps(mx, mx, _MM_SHUFFLE(2, 3, 0, 1)));
    *lo = _mm_cvtss_f32(mn);
    *hi = _mm_cvtss_f32(mx);
}

static void quantize_row(const float *row, float lo, float a, uint8_t *out)
{
    __m128 vlo = _mm_set1_ps(lo), va = _mm_set1_ps(a), half = _mm_set1_ps(0.5f),
           zero = _mm_setzero_ps();
    __m128i q[4];
    for (int i = 0; i < 4; i++) {
        __m128 t = _mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(row + 4 * i), vlo), va);
        t = _mm_add_ps(_mm_max_ps(t, zero), half);
        q[i] = _mm_cvttps_epi32(t);
    }
    /* Saturating packs clamp to [0, 255], as the scalar path's t < 255 test does. */
    __m128i w = _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
    _mm_storeu_si128((__m128i *)out, w);
}
#else
static void row_range(const float *row, float *lo, float *hi)
{
    float mn = row[0], mx = row[0];
    for (int k = 1; k < 16; k++) {
        mn = row[k] < mn ? row[k] : mn;
        mx = row[k] > mx ? row[k] : mx;
    }
    *lo = mn;
    *hi = mx;
}

/* round-half-up of t, clamped to a byte; a NaN lands on 0 (the first test fails). For t >= 0
 * truncation is floor, so the conversion instruction does the rounding: floorf would be a libm
 * call per entry on baseline x86-64 (no SSE4.1), 3,000+ calls a query at 196 sub-spaces. */
static uint8_t quantize_one(float t)
{
    t = t > 0.0f ? t : 0.0f;
    t = t + 0.5f;
    return (uint8_t)(t < 255.0f ? (int)t : 255);
}

static void row_range4(const float *row, float *lo, float *hi) { row_range(row, lo, hi); }

static void quantize_row(const float *row, float lo, float a, uint8_t *out)
{
    for (int k = 0; k < 16; k++) out[k] = quantize_one((row[k] - lo) * a);
}
#endif

enum { KEEP_LO = 512 }; /* row minima kept from the first pass (the rest are recomputed) */

void fs_lut_quantize(const float *lut, int m, uint8_t *out, float *scale, float *bias)
{
    float max_span = 0.0f, keep[KEEP_LO];
    double sum_span = 0.0, sum_min = 0.0;
    for (int j = 0; j < m; j++) {
        float lo, hi;
        row_range4(lut + 16 * j, &lo, &hi);
        if (j < KEEP_LO) keep[j] = lo;
        float span = hi - lo;
        max_span = span > max_span ? span : max_span;
        sum_span += span;
        sum_min += lo;
    }

    /* All spans 0: every q is 0 whatever a is; 1 keeps bias + S / a well defined. */
    float a = 1.0f;
    if (max_span > 0.0f) {
        float a_byte = 255.0f / max_span;
        float a_sum = (float)((65535.0 - m) / sum_span); /* sum_span >= max_span > 0 */
        a = a_byte < a_sum ? a_byte : a_sum;
    }

    for (int j = 0; j < m; j++) {
        float lo = j < KEEP_LO ? keep[j] : 0.0f, hi;
        if (j >= KEEP_LO) row_range4(lut + 16 * j, &lo, &hi);
        quantize_row(lut + 16 * j, lo, a, out + 16 * j);
    }
    memset(out + (size_t)16 * m, 0, (size_t)16 * (fs_m4(m) - m));
    *scale = a;
    *bias = (float)sum_min;
}
