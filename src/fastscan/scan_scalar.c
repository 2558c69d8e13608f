/*
 * scan_scalar.c - the reference FastScan block kernel: the specification every SIMD twin must
 * match exactly (sums and mask), and the fallback on CPUs without AVX2.
 *
 * Sub-space j's 16 code bytes are at block + 16 * j and its table row at lut + 16 * j (pair p =
 * sub-spaces 2p, 2p+1 at 32 * p in both); byte i holds vector i (low nibble) and i + 16 (high).
 * Sums are accumulated in 32 bits and truncated to 16, which is what the SIMD kernels' 16-bit
 * lanes compute too: the true sum whenever the table obeys fs_lut_quantize's bound, and the same
 * wrapped value on every ISA otherwise.
 */
#include "fastscan.h"

enum { COLS = 4 }; /* byte columns per pass: 8 sums stay in registers */

/* Sums of vectors i .. i + COLS - 1 and i + 16 .. i + 16 + COLS - 1. Walking a few columns down
 * all sub-spaces, rather than all 32 sums per sub-space, keeps the sums out of memory and gives
 * GCC nothing to vectorize with emulated gathers (that version ran 3x slower). */
static void column_sums(const uint8_t *block, const uint8_t *lut, int nsub, int i, uint16_t *sums)
{
    uint32_t acc[2 * COLS] = {0};
    for (int j = 0; j < nsub; j++) {
        const uint8_t *codes = block + 16 * j + i, *row = lut + 16 * j;
        for (int t = 0; t < COLS; t++) {
            acc[t] += row[codes[t] & 15];
            acc[COLS + t] += row[codes[t] >> 4];
        }
    }
    for (int t = 0; t < COLS; t++) {
        sums[i + t] = (uint16_t)acc[t];
        sums[i + 16 + t] = (uint16_t)acc[COLS + t];
    }
}

uint32_t fs_scan_block_scalar(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                              uint16_t *sums)
{
    for (int i = 0; i < 16; i += COLS) column_sums(block, lut, 2 * npairs, i, sums);
    uint32_t mask = 0;
    for (int i = 0; i < FS_BLOCK; i++) mask |= (uint32_t)(sums[i] <= thr) << i;
    return mask;
}

/* The multi-query specification: the single-query kernel once per query. */
void fs_scan_block_multi_scalar(const uint8_t *block, const uint8_t *const *luts, int nq,
                                int npairs, const uint16_t *thr, uint16_t *sums, uint32_t *masks)
{
    for (int t = 0; t < nq; t++)
        masks[t] = fs_scan_block_scalar(block, luts[t], npairs, thr[t], sums + FS_BLOCK * t);
}
