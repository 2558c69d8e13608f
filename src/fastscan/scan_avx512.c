/*
 * scan_avx512.c - AVX-512 FastScan block kernel: one 512-bit pshufb per nibble per two pairs.
 *
 * 64 bytes of codes (pairs p and p + 1) put sub-spaces 2p .. 2p + 3 in the four 128-bit lanes,
 * matching 64 table bytes, because pairs are contiguous in both the block and the table. The
 * accumulation is scan_avx2.c's (even/odd 16-bit accumulators, riders cancelled at the end),
 * so sums are bit-identical to fs_scan_block_scalar. npairs is even for every m (m4 is a
 * multiple of 4); an odd last pair is still handled, with the upper 256 bits zeroed.
 * fs_scan_block_multi_avx512 does the same for up to FS_MAX_QB queries at once, splitting each
 * code load's nibbles once for all of them.
 */
#include "fastscan.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2")))

typedef struct acc4 {
    __m512i even_lo, odd_lo; /* vectors 0..15: lane k of each 128 bits = vector 2k / 2k+1 */
    __m512i even_hi, odd_hi; /* vectors 16..31 */
} acc4;

AVX512 static inline __attribute__((always_inline)) void quad_step(acc4 *a, __m512i c, __m512i t)
{
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512i r_lo = _mm512_shuffle_epi8(t, _mm512_and_si512(c, low4));
    __m512i r_hi = _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16(c, 4), low4));
    a->even_lo = _mm512_add_epi16(a->even_lo, r_lo);
    a->odd_lo = _mm512_add_epi16(a->odd_lo, _mm512_srli_epi16(r_lo, 8));
    a->even_hi = _mm512_add_epi16(a->even_hi, r_hi);
    a->odd_hi = _mm512_add_epi16(a->odd_hi, _mm512_srli_epi16(r_hi, 8));
}

/* Sum the four sub-space lanes of lo (into lanes 0, 1) and hi (into lanes 2, 3). */
AVX512 static inline __m512i lane_sum(__m512i lo, __m512i hi)
{
    __m512i x = _mm512_add_epi16(_mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_epi16(x, _mm512_shuffle_i64x2(x, x, _MM_SHUFFLE(2, 3, 0, 1)));
}

AVX512 static inline __attribute__((always_inline)) uint32_t finish(acc4 a, uint16_t thr,
                                                                    uint16_t *sums)
{
    __m512i el = _mm512_sub_epi16(a.even_lo, _mm512_slli_epi16(a.odd_lo, 8));
    __m512i eh = _mm512_sub_epi16(a.even_hi, _mm512_slli_epi16(a.odd_hi, 8));
    __m512i e = lane_sum(el, eh), o = lane_sum(a.odd_lo, a.odd_hi);
    /* Lanes of unpacklo: vectors 0..7, 0..7, 16..23, 16..23; of unpackhi: 8..15, .., 24..31.
     * Taking lanes 0, 2 from the first and 1, 3 from the second gives natural order. */
    __m512i s =
        _mm512_mask_blend_epi64(0xCC, _mm512_unpacklo_epi16(e, o), _mm512_unpackhi_epi16(e, o));
    _mm512_storeu_si512(sums, s);
    return (uint32_t)_mm512_cmple_epu16_mask(s, _mm512_set1_epi16((short)thr));
}

AVX512 uint32_t fs_scan_block_avx512(const uint8_t *block, const uint8_t *lut, int npairs,
                                     uint16_t thr, uint16_t *sums)
{
    acc4 a = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
              _mm512_setzero_si512()};
    int p = 0;
#pragma GCC unroll 2
    for (; p + 2 <= npairs; p += 2)
        quad_step(&a, _mm512_loadu_si512(block + 32 * p), _mm512_loadu_si512(lut + 32 * p));
    if (p < npairs) /* zero codes look up zero table bytes in the upper lanes */
        quad_step(&a, _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(block + 32 * p))),
                  _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(lut + 32 * p))));
    return finish(a, thr, sums);
}

/* One quad step (pairs p, p + 1) of NQ queries: the codes are split into nibbles once. */
AVX512 static inline __attribute__((always_inline)) void
multi_step(acc4 *a, const int NQ, __m512i c, const uint8_t *const *luts, int p, int full)
{
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512i c_lo = _mm512_and_si512(c, low4);
    __m512i c_hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), low4);
    for (int t = 0; t < NQ; t++) {
        __m512i tab =
            full ? _mm512_loadu_si512(luts[t] + 32 * p)
                 : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(luts[t] + 32 * p)));
        __m512i r_lo = _mm512_shuffle_epi8(tab, c_lo);
        __m512i r_hi = _mm512_shuffle_epi8(tab, c_hi);
        a[t].even_lo = _mm512_add_epi16(a[t].even_lo, r_lo);
        a[t].odd_lo = _mm512_add_epi16(a[t].odd_lo, _mm512_srli_epi16(r_lo, 8));
        a[t].even_hi = _mm512_add_epi16(a[t].even_hi, r_hi);
        a[t].odd_hi = _mm512_add_epi16(a[t].odd_hi, _mm512_srli_epi16(r_hi, 8));
    }
}

/* NQ queries over one block: two pairs' codes are loaded and split once for every query's
 * shuffles. 4 x NQ accumulators: 16 of the 32 ZMM registers at NQ = 4. */
AVX512 static inline __attribute__((always_inline)) void
multi_nq(const uint8_t *block, const uint8_t *const *luts, const int NQ, int npairs,
         const uint16_t *thr, uint16_t *sums, uint32_t *masks)
{
    acc4 a[FS_MAX_QB];
    for (int t = 0; t < NQ; t++)
        a[t] = (acc4){_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                      _mm512_setzero_si512()};
    int p = 0;
#pragma GCC unroll 2 /* 21 instead of 23 ns per block and query at NQ = 4, m = 50 */
    for (; p + 2 <= npairs; p += 2)
        multi_step(a, NQ, _mm512_loadu_si512(block + 32 * p), luts, p, 1);
    if (p < npairs) /* zero codes look up zero table bytes in the upper lanes */
        multi_step(a, NQ,
                   _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(block + 32 * p))),
                   luts, p, 0);
    for (int t = 0; t < NQ; t++) masks[t] = finish(a[t], thr[t], sums + FS_BLOCK * t);
}

AVX512 void fs_scan_block_multi_avx512(const uint8_t *block, const uint8_t *const *luts, int nq,
                                       int npairs, const uint16_t *thr, uint16_t *sums,
                                       uint32_t *masks)
{
    switch (nq) { /* NQ must be a constant for the accumulators to stay in registers */
    case 1: masks[0] = fs_scan_block_avx512(block, luts[0], npairs, thr[0], sums); break;
    case 2: multi_nq(block, luts, 2, npairs, thr, sums, masks); break;
    case 3: multi_nq(block, luts, 3, npairs, thr, sums, masks); break;
    default: multi_nq(block, luts, 4, npairs, thr, sums, masks); break;
    }
}
#endif
