/*
 * pq.h - product quantization: codebooks, codes (one byte per sub-space), lookup tables.
 *
 * The d dimensions are cut into m blocks of dsub = ceil(d / m) dimensions; the last block may
 * be shorter (never empty). Block j has ksub centres (256 for 8-bit IVF_PQ, 16 for SCANN's
 * 4-bit codes), stored contiguously: centre c of block j is len(j) floats at
 * codebooks + ksub * j * dsub + c * len(j). Codes here are unpacked, one byte per block; the
 * FastScan packing of 4-bit codes is a separate layer.
 */
#ifndef SCANN_PQ_H
#define SCANN_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "poll.h"
#include "scann.h"

typedef struct pq {
    int d;            /* full dimension */
    int m;            /* blocks */
    int ksub;         /* centres per block, <= 256 */
    int dsub;         /* dimensions of every block but possibly the last */
    float *codebooks; /* ksub * d floats */
} pq;

static inline int pq_off(const pq *p, int j) { return j * p->dsub; }
static inline int pq_len(const pq *p, int j)
{
    int e = (j + 1) * p->dsub;
    return (e > p->d ? p->d : e) - j * p->dsub;
}
static inline const float *pq_centre(const pq *p, int j, int c)
{
    return p->codebooks + (size_t)p->ksub * pq_off(p, j) + (size_t)c * pq_len(p, j);
}

/*
 * The 4-bit code's dimensions per block when the caller leaves it to us: the smallest power of
 * two, at least 2, that keeps the number of blocks at or below 200. ScaNN's recommendation of 2
 * holds at d = 100 (50 blocks); at d = 768 its tuned setting is 4 (192 blocks), as is ours on
 * Fashion-MNIST's 784. More blocks than about 200 make the code and the per-query table long
 * for little recall, and past 256 blocks the uint8 tables lose precision (DESIGN.md 2.5).
 */
static inline int pq_default_dims_per_block(int d)
{
    int dpb = 2;
    while ((d + dpb - 1) / dpb > 200) dpb *= 2;
    return dpb;
}

/* Whether m blocks fit d: 1 <= m <= d and no block is empty. */
scann_status pq_check_shape(int d, int m);
/* Check the shape and allocate codebooks. */
scann_status pq_init(pq *p, int d, int m, int ksub);
void pq_free(pq *p);
size_t pq_memory(const pq *p);

/* k-means per block on n training rows (needs n >= ksub); blocks train in parallel, in waves
 * between which poll (may be NULL) is asked whether to go on. */
scann_status pq_train(pq *p, const float *x, int64_t n, int iters, uint64_t seed, int nthreads,
                      const kernels *dk, const poll_hook *poll);
/* Nearest centre per block by L2: codes is n * m bytes. */
scann_status pq_encode(const pq *p, const float *x, int64_t n, int nthreads, const kernels *dk,
                       uint8_t *codes);
/* Reconstruct one vector from its m codes. */
void pq_decode(const pq *p, const uint8_t *code, float *out);
/* lut[j * ksub + c] = <q_j, C_j[c]> (m * ksub floats). */
void pq_lut_ip(const pq *p, const float *q, float *lut);
/* lut[j * ksub + c] = ||q_j - C_j[c]||^2. */
void pq_lut_l2(const pq *p, const float *q, float *lut);
/* The codebooks with every block transposed to len x ksub (ct[off_j * ksub + t * ksub + c]),
 * malloc'ed; NULL when out of memory. What the table kernels read (avq_tables; pq_tables16,
 * which gives pq_lut_l2 / pq_lut_ip from it, several times faster at high d): their lanes are
 * centres. */
float *pq_transpose(const pq *p);

#endif
