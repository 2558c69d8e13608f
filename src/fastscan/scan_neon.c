/*
 * scan_neon.c - NEON FastScan block kernels: one vqtbl1q_u8 per nibble per sub-space.
 *
 * Sub-space j's 16 code bytes and its 16 table bytes (block + 16 * j, lut + 16 * j) each fill
 * one Q register, so one table lookup with the low nibbles gives vectors 0..15 and one with the
 * high nibbles vectors 16..31, in natural order. The bytes are widened into four uint16x8
 * accumulators (vectors 0-7, 8-15, 16-23, 24-31), which wrap mod 2^16 exactly as the scalar
 * kernel truncates its sums: bit-identical to fs_scan_block_scalar. The multi-query kernel splits
 * each code load's nibbles once for up to four queries (16 of the 32 Q registers).
 */
#include "fastscan.h"

#if defined(__aarch64__)
#include <arm_neon.h>

static inline __attribute__((always_inline)) void sub_step(uint16x8_t *acc, uint8x16_t c_lo,
                                                           uint8x16_t c_hi, const uint8_t *lut)
{
    uint8x16_t tab = vld1q_u8(lut);
    uint8x16_t r_lo = vqtbl1q_u8(tab, c_lo), r_hi = vqtbl1q_u8(tab, c_hi);
    acc[0] = vaddw_u8(acc[0], vget_low_u8(r_lo));
    acc[1] = vaddw_high_u8(acc[1], r_lo);
    acc[2] = vaddw_u8(acc[2], vget_low_u8(r_hi));
    acc[3] = vaddw_high_u8(acc[3], r_hi);
}

/* Store the 32 sums; bit i of the mask = (S[i] <= thr), 8 lanes at a time by a horizontal add of
 * per-lane bits. */
static inline uint32_t finish(const uint16x8_t *acc, uint16_t thr, uint16_t *sums)
{
    static const uint16_t bit[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    uint16x8_t bits = vld1q_u16(bit), t = vdupq_n_u16(thr);
    uint32_t mask = 0;
    for (int g = 0; g < 4; g++) {
        vst1q_u16(sums + 8 * g, acc[g]);
        mask |= (uint32_t)vaddvq_u16(vandq_u16(vcleq_u16(acc[g], t), bits)) << (8 * g);
    }
    return mask;
}

/* NQ (a constant at each call) queries over one block. */
static inline __attribute__((always_inline)) void multi_nq(const uint8_t *block,
                                                           const uint8_t *const *luts, const int NQ,
                                                           int npairs, const uint16_t *thr,
                                                           uint16_t *sums, uint32_t *masks)
{
    const uint8x16_t low4 = vdupq_n_u8(15);
    uint16x8_t acc[FS_MAX_QB][4];
    for (int t = 0; t < NQ; t++)
        for (int g = 0; g < 4; g++) acc[t][g] = vdupq_n_u16(0);
    for (int j = 0; j < 2 * npairs; j++) {
        uint8x16_t c = vld1q_u8(block + 16 * j);
        uint8x16_t c_lo = vandq_u8(c, low4), c_hi = vshrq_n_u8(c, 4);
        for (int t = 0; t < NQ; t++) sub_step(acc[t], c_lo, c_hi, luts[t] + 16 * j);
    }
    for (int t = 0; t < NQ; t++) masks[t] = finish(acc[t], thr[t], sums + FS_BLOCK * t);
}

uint32_t fs_scan_block_neon(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                            uint16_t *sums)
{
    uint32_t mask;
    multi_nq(block, &lut, 1, npairs, &thr, sums, &mask);
    return mask;
}

void fs_scan_block_multi_neon(const uint8_t *block, const uint8_t *const *luts, int nq, int npairs,
                              const uint16_t *thr, uint16_t *sums, uint32_t *masks)
{
    int t = 0;
    for (; t + 4 <= nq; t += 4)
        multi_nq(block, luts + t, 4, npairs, thr + t, sums + FS_BLOCK * t, masks + t);
    int r = nq - t;
    if (r == 3) multi_nq(block, luts + t, 3, npairs, thr + t, sums + FS_BLOCK * t, masks + t);
    if (r == 2) multi_nq(block, luts + t, 2, npairs, thr + t, sums + FS_BLOCK * t, masks + t);
    if (r == 1) multi_nq(block, luts + t, 1, npairs, thr + t, sums + FS_BLOCK * t, masks + t);
}
#endif
