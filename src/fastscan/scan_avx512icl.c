/*
 * scan_avx512icl.c - FastScan block kernels for AVX-512 with VBMI and VNNI (Ice Lake, Zen 4 and
 * later): the same blocks, tables, sums and masks as scan_avx512.c, with half the vector ops
 * per table lookup.
 *
 * scan_avx512.c looks up each sub-space in its own 128-bit lane (vpshufb) and must widen the
 * byte results to 16 bits lane by lane before adding sub-spaces (two shifts and four adds per
 * two shuffles). Here one vpermb per code load first transposes the 64 code bytes of four
 * sub-spaces so that byte 4v + j holds sub-space j of vector v (low nibble) and of vector v + 16
 * (high nibble), and the sub-space number j is or-ed into bits 4-5 of each nibble index. A
 * vpermb over the four sub-spaces' 64 table bytes then looks up all of them at once, and one
 * vpdpbusd (times 1) adds the four bytes of each vector into its 32-bit sum. Per query and four
 * sub-spaces that is two vpermb and two vpdpbusd, against two vpshufb, two shifts and four adds;
 * the transpose and nibble split are paid once per code load for all the queries of a pass.
 *
 * Sums are exact 32-bit integers, truncated to 16 bits at the end (vpmovdw) as the scalar
 * kernel does: results are bit-identical to fs_scan_block_scalar.
 */
#include "fastscan.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define ICL __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vnni,avx2")))

/* Byte 4v + j of the transposed load = byte 16j + v of the block's four sub-spaces. */
ICL static inline __m512i transpose_index(void)
{
    return _mm512_set_epi8(63, 47, 31, 15, 62, 46, 30, 14, 61, 45, 29, 13, 60, 44, 28, 12, 59, 43,
                           27, 11, 58, 42, 26, 10, 57, 41, 25, 9, 56, 40, 24, 8, 55, 39, 23, 7, 54,
                           38, 22, 6, 53, 37, 21, 5, 52, 36, 20, 4, 51, 35, 19, 3, 50, 34, 18, 2,
                           49, 33, 17, 1, 48, 32, 16, 0);
}

/* j << 4 in byte 4v + j: the table row of sub-space j within the 64 table bytes. */
ICL static inline __m512i row_bits(void) { return _mm512_set1_epi32(0x30201000); }

typedef struct split {
    __m512i lo, hi; /* table indices of vectors 0..15 and 16..31 */
} split;

/* (c & 15) | rows, and the same for the high nibbles: vpternlogd 0xEA is (A & B) | C. */
ICL static inline __attribute__((always_inline)) split split_codes(__m512i c, __m512i perm,
                                                                   __m512i rows)
{
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512i t = _mm512_permutexvar_epi8(perm, c);
    split s = {_mm512_ternarylogic_epi32(t, low4, rows, 0xEA),
               _mm512_ternarylogic_epi32(_mm512_srli_epi16(t, 4), low4, rows, 0xEA)};
    return s;
}

/* The 64 code bytes of pairs p, p + 1, or the 32 of a last odd pair with zero codes above
 * (their indices reach zero table bytes, see load_table). */
ICL static inline __m512i load_codes(const uint8_t *block, int p, int full)
{
    return full ? _mm512_loadu_si512(block + 32 * p)
                : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(block + 32 * p)));
}

ICL static inline __m512i load_table(const uint8_t *lut, int p, int full)
{
    return full ? _mm512_loadu_si512(lut + 32 * p)
                : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(lut + 32 * p)));
}

/* 32 sums from the two 32-bit accumulators, their mask against thr. */
ICL static inline __attribute__((always_inline)) uint32_t finish(__m512i lo, __m512i hi,
                                                                 uint16_t thr, uint16_t *sums)
{
    __m512i s = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(lo)),
                                   _mm512_cvtepi32_epi16(hi), 1);
    _mm512_storeu_si512(sums, s);
    return (uint32_t)_mm512_cmple_epu16_mask(s, _mm512_set1_epi16((short)thr));
}

ICL uint32_t fs_scan_block_avx512icl(const uint8_t *block, const uint8_t *lut, int npairs,
                                     uint16_t thr, uint16_t *sums)
{
    const __m512i perm = transpose_index(), rows = row_bits(), ones = _mm512_set1_epi8(1);
    /* Two sets of accumulators, for alternate pairs of pairs: one query alone is bound by
     * vpdpbusd latency otherwise. */
    __m512i lo0 = _mm512_setzero_si512(), hi0 = lo0, lo1 = lo0, hi1 = lo0;
    int p = 0;
#pragma GCC unroll 1 /* GCC -O3's unrolling here costs a quarter at m = 64 */
    for (; p + 4 <= npairs; p += 4) {
        split a = split_codes(load_codes(block, p, 1), perm, rows);
        split b = split_codes(load_codes(block, p + 2, 1), perm, rows);
        __m512i ta = load_table(lut, p, 1), tb = load_table(lut, p + 2, 1);
        lo0 = _mm512_dpbusd_epi32(lo0, _mm512_permutexvar_epi8(a.lo, ta), ones);
        hi0 = _mm512_dpbusd_epi32(hi0, _mm512_permutexvar_epi8(a.hi, ta), ones);
        lo1 = _mm512_dpbusd_epi32(lo1, _mm512_permutexvar_epi8(b.lo, tb), ones);
        hi1 = _mm512_dpbusd_epi32(hi1, _mm512_permutexvar_epi8(b.hi, tb), ones);
    }
    for (; p < npairs; p += 2) {
        int full = p + 2 <= npairs;
        split a = split_codes(load_codes(block, p, full), perm, rows);
        __m512i ta = load_table(lut, p, full);
        lo0 = _mm512_dpbusd_epi32(lo0, _mm512_permutexvar_epi8(a.lo, ta), ones);
        hi0 = _mm512_dpbusd_epi32(hi0, _mm512_permutexvar_epi8(a.hi, ta), ones);
    }
    return finish(_mm512_add_epi32(lo0, lo1), _mm512_add_epi32(hi0, hi1), thr, sums);
}

/* Pairs p, p + 1 (or the last odd pair: full = 0) of NQ queries: the codes are transposed and
 * split once for all of them. */
ICL static inline __attribute__((always_inline)) void multi_step(__m512i *lo, __m512i *hi,
                                                                 const int NQ, const uint8_t *block,
                                                                 const uint8_t *const *luts, int p,
                                                                 int full)
{
    const __m512i ones = _mm512_set1_epi8(1);
    split s = split_codes(load_codes(block, p, full), transpose_index(), row_bits());
    for (int t = 0; t < NQ; t++) {
        __m512i tab = load_table(luts[t], p, full);
        lo[t] = _mm512_dpbusd_epi32(lo[t], _mm512_permutexvar_epi8(s.lo, tab), ones);
        hi[t] = _mm512_dpbusd_epi32(hi[t], _mm512_permutexvar_epi8(s.hi, tab), ones);
    }
}

/* NQ queries over one block. */
ICL static inline __attribute__((always_inline)) void
multi_nq(const uint8_t *block, const uint8_t *const *luts, const int NQ, int npairs,
         const uint16_t *thr, uint16_t *sums, uint32_t *masks)
{
    __m512i lo[FS_MAX_QB], hi[FS_MAX_QB];
    for (int t = 0; t < NQ; t++) lo[t] = hi[t] = _mm512_setzero_si512();
    int p = 0;
#pragma GCC unroll 1
    for (; p + 2 <= npairs; p += 2) multi_step(lo, hi, NQ, block, luts, p, 1);
    if (p < npairs) multi_step(lo, hi, NQ, block, luts, p, 0);
    for (int t = 0; t < NQ; t++) masks[t] = finish(lo[t], hi[t], thr[t], sums + FS_BLOCK * t);
}

ICL void fs_scan_block_multi_avx512icl(const uint8_t *block, const uint8_t *const *luts, int nq,
                                       int npairs, const uint16_t *thr, uint16_t *sums,
                                       uint32_t *masks)
{
    switch (nq) { /* NQ must be a constant for the accumulators to stay in registers */
    case 1: masks[0] = fs_scan_block_avx512icl(block, luts[0], npairs, thr[0], sums); break;
    case 2: multi_nq(block, luts, 2, npairs, thr, sums, masks); break;
    case 3: multi_nq(block, luts, 3, npairs, thr, sums, masks); break;
    default: multi_nq(block, luts, 4, npairs, thr, sums, masks); break;
    }
}
#endif
