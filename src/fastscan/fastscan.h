/*
 * fastscan.h - 4-bit PQ FastScan: packed 32-vector code blocks, uint8 lookup tables, and the
 * block kernels (scalar reference, AVX2, AVX-512, NEON) that sum them with byte shuffles; the
 * kernel table (kernels.h) holds the one each level runs.
 *
 * Sub-spaces. A code has m 4-bit sub-codes. The layout pads m to m4 = m rounded up to a
 * multiple of 4 (padding sub-codes are 0 and their table rows are all 0), so the AVX2 kernel
 * takes two sub-spaces per 256-bit shuffle and the AVX-512 kernel four per 512-bit shuffle,
 * over the same bytes.
 *
 * Block layout (one block = 32 vectors, fs_block_bytes(m) = 16 * m4 bytes). For each pair of
 * sub-spaces p (sub-spaces 2p and 2p+1) there are 32 bytes at offset 32 * p:
 *   byte 16 * h + i (h = 0, 1; i = 0..15) = code[2p + h] of vector i        (low nibble)
 *                                         | code[2p + h] of vector i + 16   (high nibble) << 4
 * so in a 256-bit register the low 128-bit lane holds sub-space 2p, the high lane 2p + 1, and
 * vectors keep their natural order (no faiss-style permutation): the kernels un-interleave the
 * even/odd 16-bit accumulators at the end. A list is padded to whole blocks with code 0;
 * callers mask padded slots by the list size.
 *
 * Tables. fs_lut_quantize turns a float table L[j][k] (m x 16, smaller is better) into uint8
 * q[j][k] = round((L[j][k] - min_k L[j][k]) * a) with a = min(255 / max_j span_j,
 * (65535 - m) / sum_j span_j) (the - m absorbs rounding up, lut.c): every q fits a byte and any
 * sum over sub-spaces fits uint16, so 16-bit accumulation cannot overflow for any m. Above ~256
 * sub-spaces the second bound shrinks a and costs precision (documented trade-off; ScaNN
 * flushes to int32 instead). The float score is recovered as bias + S / a with bias =
 * sum_j min_k L[j][k]. The table layout matches the codes: for pair p, 32 bytes = q[2p][0..15]
 * then q[2p+1][0..15] (fs_lut_bytes(m) = 16 * m4).
 *
 * Kernels. fs_scan_block computes the 32 uint16 sums S[i] = sum_j q[j][code_j(i)] of one block
 * and returns the mask of vectors with S[i] <= thr (bit i = vector i). Every ISA returns
 * exactly the scalar kernel's sums and mask: integer arithmetic from one shared table.
 */
#ifndef SCANN_FASTSCAN_H
#define SCANN_FASTSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "scann.h"

#define FS_BLOCK 32 /* vectors per block */

static inline int fs_m4(int m) { return (m + 3) & ~3; }
static inline size_t fs_block_bytes(int m) { return (size_t)16 * fs_m4(m); }
static inline size_t fs_lut_bytes(int m) { return (size_t)16 * fs_m4(m); }

/* Write vector slot i (0..31) of a block from its m unpacked 4-bit codes (values 0..15, one per
 * byte). The block must have been zeroed (or hold this slot's old codes to overwrite). */
void fs_pack_one(uint8_t *block, int m, int i, const uint8_t *codes);
/* The code of sub-space j of vector slot i (0..31), straight from the layout above. */
static inline int fs_code_at(const uint8_t *block, int j, int i)
{
    uint8_t b = block[16 * j + (i & 15)];
    return i < 16 ? b & 15 : b >> 4;
}

/* Set the code of sub-space j of vector slot i (c in 0..15), leaving the other nibble alone. */
static inline void fs_set_code(uint8_t *block, int j, int i, int c)
{
    uint8_t *b = &block[16 * j + (i & 15)];
    *b = i < 16 ? (uint8_t)((*b & 0xF0) | c) : (uint8_t)((*b & 0x0F) | c << 4);
}

/* Read vector slot i of a block back into m unpacked codes. */
void fs_unpack_one(const uint8_t *block, int m, int i, uint8_t *codes);

/* Move vector slot `from` of block src to slot `to` of block dst, then zero slot `from`, so a
 * list's padding stays zero (dst == src and to == from: only zero it). */
void fs_move_one(uint8_t *dst, int to, uint8_t *src, int from, int m);

/* A list's codes: fs_blocks_for(size) blocks of fs_block_bytes(m), slot s in block s / 32 at
 * slot s % 32, unused slots zero. cap is the blocks of room; cap 0 with data set: the blocks
 * belong to a read-only file mapping and are never freed or grown. in_slab: the room is part
 * of a buffer the index owns for all its lists (one allocation that can take 2 MB pages,
 * hugemem.h), never freed here, and left for a heap copy when the list outgrows it. */
typedef struct fs_list {
    uint8_t *data;
    int64_t cap;
    int in_slab;
} fs_list;

static inline int64_t fs_blocks_for(int64_t n) { return (n + FS_BLOCK - 1) / FS_BLOCK; }
static inline uint8_t *fs_list_block(const fs_list *L, int m, int64_t slot)
{
    return L->data + (size_t)(slot / FS_BLOCK) * fs_block_bytes(m);
}
/* Room for n vectors (zero-filled; grows by half again at least, so vector-at-a-time adds stay
 * amortised O(1)). */
scann_status fs_list_reserve(fs_list *L, int m, int64_t n);
/* Slot `from` to slot `to` (fs_move_one) within one list. Cannot fail. */
void fs_list_move(fs_list *L, int m, int64_t from, int64_t to);
void fs_list_free(fs_list *L);

/* Quantize a float table (m x 16, row j = sub-space j) into out (fs_lut_bytes(m) bytes). Returns
 * the scale a through *scale and the sum of row minima through *bias. A table whose spans are
 * all 0 gets a = 1. */
void fs_lut_quantize(const float *lut, int m, uint8_t *out, float *scale, float *bias);

/* Sums and threshold mask of one block; npairs = fs_m4(m) / 2. */
typedef uint32_t (*fs_block_fn)(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                                uint16_t *sums);

uint32_t fs_scan_block_scalar(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                              uint16_t *sums);
#if defined(__x86_64__)
uint32_t fs_scan_block_avx2(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                            uint16_t *sums);
uint32_t fs_scan_block_avx512(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                              uint16_t *sums);
uint32_t fs_scan_block_avx512icl(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                                 uint16_t *sums);
#endif
#if defined(__aarch64__)
uint32_t fs_scan_block_neon(const uint8_t *block, const uint8_t *lut, int npairs, uint16_t thr,
                            uint16_t *sums);
#endif

/*
 * Multi-query kernels (faiss's "qbs" batching, DESIGN.md 2.5): nq queries (1..FS_MAX_QB) share
 * one pass over a block. Each pair's 32 code bytes are loaded and split into nibbles once, then
 * shuffled with every query's table luts[t]; query t gets its sums at sums + 32 * t and its
 * mask (S <= thr[t]) in masks[t]. The result is, for every t, exactly fs_scan_block_scalar's
 * for (block, luts[t], npairs, thr[t]) on every ISA: the scalar twin is that loop.
 *
 * FS_MAX_QB follows the register budget, as in faiss (up to 4): a query needs four 16-bit
 * accumulators, so four queries take 16 of AVX-512's 32 registers. AVX2 has 16 and runs them
 * two per pass (a third spills; scan_avx2.c). Measured on Zen 4, m = 50, per block and query:
 * AVX-512 25 ns alone, 21 ns four at a time; AVX2 27 ns alone, 23 ns two at a time.
 */
#define FS_MAX_QB 4

typedef void (*fs_multi_fn)(const uint8_t *block, const uint8_t *const *luts, int nq, int npairs,
                            const uint16_t *thr, uint16_t *sums, uint32_t *masks);

void fs_scan_block_multi_scalar(const uint8_t *block, const uint8_t *const *luts, int nq,
                                int npairs, const uint16_t *thr, uint16_t *sums, uint32_t *masks);
#if defined(__x86_64__)
void fs_scan_block_multi_avx2(const uint8_t *block, const uint8_t *const *luts, int nq, int npairs,
                              const uint16_t *thr, uint16_t *sums, uint32_t *masks);
void fs_scan_block_multi_avx512(const uint8_t *block, const uint8_t *const *luts, int nq,
                                int npairs, const uint16_t *thr, uint16_t *sums, uint32_t *masks);
void fs_scan_block_multi_avx512icl(const uint8_t *block, const uint8_t *const *luts, int nq,
                                   int npairs, const uint16_t *thr, uint16_t *sums,
                                   uint32_t *masks);
#endif
#if defined(__aarch64__)
void fs_scan_block_multi_neon(const uint8_t *block, const uint8_t *const *luts, int nq, int npairs,
                              const uint16_t *thr, uint16_t *sums, uint32_t *masks);
#endif

#endif
