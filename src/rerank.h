/*
 * rerank.h - compact copies of vectors for exact re-scoring of the best candidates.
 *
 * A store row is row_bytes bytes per vector: float32 (4d), bfloat16 (2d), int8 (d + 4) or
 * nothing (0). The index keeps rows next to its codes (in list order), so the rerank stage
 * touches only the candidates' rows. An int8 row is a per-vector float step = max_j |x_j| / 127
 * (finite components only) followed by d codes round(x_j / step) in [-127, 127]; decoding is
 * q_j * step, so no training data is needed and nothing is clamped. Scores decode the row and
 * use the exact float kernels, so every store ranks by the same arithmetic up to its rounding.
 */
#ifndef SCANN_RERANK_H
#define SCANN_RERANK_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "scann.h"

typedef struct rerank_store {
    scann_reorder kind;
    int d;
    size_t row_bytes; /* 4d, 2d, d + 4 or 0 (SCANN_REORDER_NONE) */
} rerank_store;

/* Set up a store of the given kind for dimension d. train / n are unused (int8 scales are per
 * vector now) and may be NULL / 0; they stay for compatibility. Free with rerank_free. */
scann_status rerank_init(rerank_store *s, scann_reorder kind, int d, const float *train, int64_t n);
void rerank_free(rerank_store *s);

/* Encode one vector into row_bytes bytes at out. */
void rerank_encode(const rerank_store *s, const float *x, uint8_t *out);
/* Decode one row into d floats (the store's approximation of the vector). */
void rerank_decode(const rerank_store *s, const uint8_t *row, float *out);
/* Internal score (smaller is better) of query q against a stored row: squared L2, or minus the
 * inner product when ip is set. tmp is d floats of scratch. */
/* <q, x~> for a bf16 or int8 row x~, straight from its bytes (no decode): the SIMD kernels
 * widen the values in registers. int8 takes step * <q, codes>, one rounding more than
 * decoding first. */
float rerank_ip(const rerank_store *s, const kernels *dk, const float *q, const uint8_t *row);
float rerank_score(const rerank_store *s, const kernels *dk, int ip, const float *q,
                   const uint8_t *row, float *tmp);

/* bfloat16 conversion, round to nearest even (NaN stays NaN). */
uint16_t rerank_f32_to_bf16(float f);
float rerank_bf16_to_f32(uint16_t h);

#endif
