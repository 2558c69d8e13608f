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

/* round-half-up of t, clamped to a byte; a NaN lands on 0 (the first test fails). */
static uint8_t quantize_one(float t)
{
    t = t > 0.0f ? t : 0.0f;
    t = floorf(t + 0.5f);
    return (uint8_t)(t < 255.0f ? t : 255.0f);
}

void fs_lut_quantize(const float *lut, int m, uint8_t *out, float *scale, float *bias)
{
    float max_span = 0.0f;
    double sum_span = 0.0, sum_min = 0.0;
    for (int j = 0; j < m; j++) {
        float lo, hi;
        row_range(lut + 16 * j, &lo, &hi);
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
        const float *row = lut + 16 * j;
        float lo, hi;
        row_range(row, &lo, &hi);
        for (int k = 0; k < 16; k++) out[16 * j + k] = quantize_one((row[k] - lo) * a);
    }
    memset(out + (size_t)16 * m, 0, (size_t)16 * (fs_m4(m) - m));
    *scale = a;
    *bias = (float)sum_min;
}
