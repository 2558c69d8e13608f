/*
 * scan_avx2.c - AVX2 FastScan block kernel: one 256-bit pshufb per nibble per pair of sub-spaces.
 *
 * A pair's 32 code bytes load as one register: the low 128-bit lane holds sub-space 2p, the high
 * lane 2p + 1, matching the pair's 32 table bytes, so one in-lane pshufb looks up both sub-spaces.
 * Low nibbles give vectors 0..15, high nibbles vectors 16..31.
 *
 * 16-bit accumulation of byte results: adding the shuffled bytes as epi16 puts vector 2k's value
 * in the low byte of lane k and lets vector 2k+1's ride along in the high byte (times 256);
 * a second accumulator adds the odd bytes alone (srli 8). At the end even -= odd << 8 cancels the
 * riders exactly (mod 2^16), so the even sums are exact whenever the true sums fit 16 bits, and
 * equal the scalar kernel's wrapped sums otherwise. All arithmetic is integer: results are
 * bit-identical to fs_scan_block_scalar. fs_scan_block_multi_avx2 serves several queries per
 * code load, two per pass.
 */
#include "fastscan.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

typedef struct acc4 {
    __m256i even_lo, odd_lo; /* vectors 0..15: lane k = vector 2k / 2k+1 */
    __m256i even_hi, odd_hi; /* vectors 16..31 */
} acc4;

/* One pair of sub-spaces: 2 loads, 2 shuffles, 3 logic ops, 4 adds, 2 shifts. */
AVX2 static inline __attribute__((always_inline)) void pair_step(acc4 *a, const uint8_t *codes,
                                                                 const uint8_t *lut)
{
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256i c = _mm256_loadu_si256((const __m256i *)codes);
    __m256i t = _mm256_loadu_si256((const __m256i *)lut);
    __m256i r_lo = _mm256_shuffle_epi8(t, _mm256_and_si256(c, low4));
    __m256i r_hi = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), low4));
    a->even_lo = _mm256_add_epi16(a->even_lo, r_lo);
    a->odd_lo = _mm256_add_epi16(a->odd_lo, _mm256_srli_epi16(r_lo, 8));
    a->even_hi = _mm256_add_epi16(a->even_hi, r_hi);
    a->odd_hi = _mm256_add_epi16(a->odd_hi, _mm256_srli_epi16(r_hi, 8));
}

/* Cancel the riders, add the two sub-space lanes, restore natural order, store, compare. */
AVX2 static inline __attribute__((always_inline)) uint32_t finish(acc4 a, uint16_t thr,
                                                                  uint16_t *sums)
{
    __m256i el = _mm256_sub_epi16(a.even_lo, _mm256_slli_epi16(a.odd_lo, 8));
    __m256i eh = _mm256_sub_epi16(a.even_hi, _mm256_slli_epi16(a.odd_hi, 8));
    /* lane 0 = even sub-spaces, lane 1 = odd ones; after the add: lane 0 = vectors 0..15,
     * lane 1 = vectors 16..31 (even slots in e, odd slots in o). */
    __m256i e = _mm256_add_epi16(_mm256_permute2x128_si256(el, eh, 0x20),
                                 _mm256_permute2x128_si256(el, eh, 0x31));
    __m256i o = _mm256_add_epi16(_mm256_permute2x128_si256(a.odd_lo, a.odd_hi, 0x20),
                                 _mm256_permute2x128_si256(a.odd_lo, a.odd_hi, 0x31));
    __m256i s_a = _mm256_unpacklo_epi16(e, o); /* vectors 0..7  | 16..23 */
    __m256i s_b = _mm256_unpackhi_epi16(e, o); /* vectors 8..15 | 24..31 */
    _mm256_storeu_si256((__m256i *)sums, _mm256_permute2x128_si256(s_a, s_b, 0x20));
    _mm256_storeu_si256((__m256i *)(sums + 16), _mm256_permute2x128_si256(s_a, s_b, 0x31));

    /* S <= thr as min(S, thr) == S (no unsigned 16-bit compare in AVX2). packs works per lane,
     * so packing (s_a, s_b) yields the bytes of vectors 0..15 | 16..31 in order. */
    const __m256i t = _mm256_set1_epi16((short)thr);
    __m256i le_a = _mm256_cmpeq_epi16(_mm256_min_epu16(s_a, t), s_a);
    __m256i le_b = _mm256_cmpeq_epi16(_mm256_min_epu16(s_b, t), s_b);
    return (uint32_t)_mm256_movemask_epi8(_mm256_packs_epi16(le_a, le_b));
}

AVX2 uint32_t fs_scan_block_avx2(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                                 uint16_t *sums)
{
    acc4 a = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
              _mm256_setzero_si256()};
    /* Two pairs per iteration: 27 instead of 30 ns per block at m = 50 on Zen 4. The loop is
     * bound by vector-op throughput (~3 cycles per pair), not by latency, so more unrolling or
     * more accumulators buys nothing. */
#pragma GCC unroll 2
    for (int p = 0; p < npairs; p++) pair_step(&a, block + 32 * p, lut + 32 * p);
    return finish(a, thr, sums);
}

/* NQ queries over one block: per pair, one code load and one nibble split serve every query's
 * shuffles. NQ is a constant in each instantiation, so the accumulators live in registers. */
AVX2 static inline __attribute__((always_inline)) void
multi_nq(const uint8_t *block, const uint8_t *const *luts, const int NQ, int npairs,
         const uint16_t *thr, uint16_t *sums, uint32_t *masks)
{
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    acc4 a[FS_MAX_QB];
    for (int t = 0; t < NQ; t++)
        a[t] = (acc4){_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                      _mm256_setzero_si256()};
#pragma GCC unroll 2
    for (int p = 0; p < npairs; p++) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(block + 32 * p));
        __m256i c_lo = _mm256_and_si256(c, low4);
        __m256i c_hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), low4);
#pragma GCC unroll 4
        for (int t = 0; t < NQ; t++) {
            __m256i tab = _mm256_loadu_si256((const __m256i *)(luts[t] + 32 * p));
            __m256i r_lo = _mm256_shuffle_epi8(tab, c_lo);
            __m256i r_hi = _mm256_shuffle_epi8(tab, c_hi);
            a[t].even_lo = _mm256_add_epi16(a[t].even_lo, r_lo);
            a[t].odd_lo = _mm256_add_epi16(a[t].odd_lo, _mm256_srli_epi16(r_lo, 8));
            a[t].even_hi = _mm256_add_epi16(a[t].even_hi, r_hi);
            a[t].odd_hi = _mm256_add_epi16(a[t].odd_hi, _mm256_srli_epi16(r_hi, 8));
        }
    }
    for (int t = 0; t < NQ; t++) masks[t] = finish(a[t], thr[t], sums + FS_BLOCK * t);
}

AVX2 void fs_scan_block_multi_avx2(const uint8_t *block, const uint8_t *const *luts, int nq,
                                   int npairs, const uint16_t *thr, uint16_t *sums, uint32_t *masks)
{
    /* Two queries per pass: 8 accumulators plus the shared codes fit the 16 YMM registers.
     * Three or four in one pass spill accumulators to the stack and measured slower per query
     * than single-query scanning (m = 50 on Zen 4: 32 and 36 ns vs 27 ns per block and query;
     * two: 23 ns), so more queries take further passes over the block, in L1 by then. */
    int t = 0;
    for (; t + 2 <= nq; t += 2)
        multi_nq(block, luts + t, 2, npairs, thr + t, sums + FS_BLOCK * t, masks + t);
    if (t < nq) masks[t] = fs_scan_block_avx2(block, luts[t], npairs, thr[t], sums + FS_BLOCK * t);
}
#endif
