/*
 * scann_codec.h - the codec-level public API of libscann: the SCANN index's pieces (partitions,
 * anisotropic 4-bit codes in 32-vector FastScan blocks, per-query uint8 tables, rerank rows)
 * for engines that keep the lists in their own storage (a database's pages, a key-value store).
 *
 * The engine owns the lists; the codec owns only what it learned (centres, codebooks):
 *
 *   train:  scann_codec_create + scann_codec_train on a sample, scann_codec_save the bytes
 *           somewhere durable; later scann_codec_load (or _load_into caller memory)
 *   add:    scann_codec_encode(x) -> (list, code, rerank row); scann_codec_block_set writes
 *           the code into slot i (0..31) of one of that list's blocks (block_bytes each)
 *   search: scann_codec_query_init(q) in caller memory (query_bytes) -> scann_codec_probe
 *           (best lists and their centre scores) -> for each block of each probed list
 *           scann_codec_scan_block (32 approximate scores and a mask of those under a bound)
 *           -> rerank the best candidates: scann_codec_score_row (a rerank row kept by the
 *           engine) or scann_codec_score_vector (the float vector, e.g. from the base table)
 *
 * Conventions
 * - Every function returns scann_status (scann.h); scann_last_error() names the bad argument.
 * - Scores are "smaller is better" for every metric: squared L2 distance, minus the inner
 *   product (SCANN_METRIC_IP), or minus the cosine similarity (SCANN_METRIC_COSINE: the codec
 *   normalises vectors and queries itself; a zero vector stays zero). Approximate scores from
 *   scan_block are on the same scale as the exact ones, so one bound serves both.
 * - The scan path (query_init, probe, scan_block, score_row, score_vector, block_*) allocates
 *   nothing and never blocks: every buffer comes from the caller, so a database can use its own
 *   allocator and scan blocks straight from its buffer cache. A trained codec is read-only:
 *   any number of threads may use one codec at once, each with its own query memory.
 * - Saved bytes are little-endian, versioned and checksummed; scann_codec_load validates every
 *   size before use (SCANN_ERR_FORMAT for anything else).
 * - A block's vectors are addressed by slot 0..31; a block must start zeroed (code 0 in unused
 *   slots, which the engine masks by its own count). Codes are m bytes, one 4-bit value
 *   (0..15) per sub-space, unpacked.
 */
#ifndef SCANN_CODEC_H
#define SCANN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "scann.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define SCANN_CODEC_BLOCK 32 /* vectors per FastScan block */

typedef struct scann_codec scann_codec;
typedef struct scann_codec_query scann_codec_query;

typedef struct scann_codec_params {
    int dim;               /* vector dimension, >= 1 */
    scann_metric metric;   /* L2, IP or COSINE */
    int nlist;             /* partitions, >= 1 (train needs at least nlist and 16 vectors) */
    int dims_per_block;    /* dimensions per 4-bit sub-space; 0 = from dim, as scann.h says */
    float aq_threshold;    /* anisotropic threshold T: < 0 = chosen at train from the data
                           * (ip/cosine; L2 uses plain codes), 0 = plain PQ */
    scann_reorder reorder; /* rerank row kept per vector: FLOAT, BF16, INT8 or NONE (no row: the
                           * engine re-scores from its own copy, or not at all) */
    int64_t train_size;    /* k-means sample; 0 = 100k or 64 per list, whichever is larger */
    int kmeans_iters;      /* Lloyd iterations; 0 = 12 */
    uint64_t seed;         /* same seed and data: same codec */
    int num_threads;       /* threads of train; 0 = 1 (an embedding engine owns its threads) */
} scann_codec_params;

/* What an engine needs to lay out its storage and scratch. */
typedef struct scann_codec_info {
    int dim;
    scann_metric metric;
    int nlist;
    int m; /* sub-spaces: code bytes per vector (unpacked) */
    int dims_per_block;
    scann_reorder reorder;
    float aq_threshold; /* the threshold in use (after train's choice) */
    int trained;
    size_t block_bytes;  /* bytes of one 32-vector block */
    size_t row_bytes;    /* bytes of one rerank row (0 for NONE) */
    size_t query_bytes;  /* caller memory for scann_codec_query_init (any alignment) */
    size_t encode_bytes; /* caller scratch for scann_codec_encode / _assign (any alignment) */
    size_t saved_bytes;  /* bytes scann_codec_save writes (trained codecs) */
    const char *kernel;  /* FastScan kernel chosen for this CPU: "scalar", "avx2", "avx512", ... */
} scann_codec_info;

/* ---- life cycle --------------------------------------------------------------------------- */

/* Defaults for a metric and dimension (nlist 0: the caller must set it). */
scann_status scann_codec_params_init(scann_codec_params *p, scann_metric metric, int dim);
/* The dims_per_block a codec (and a SCANN index) uses for this dimension when left at 0: the
 * smallest power of two >= 2 that keeps dim / dims_per_block <= 200 blocks. */
int scann_codec_default_dims_per_block(int dim);
/* An untrained codec; free it with scann_codec_free. */
scann_status scann_codec_create(const scann_codec_params *p, scann_codec **out);
/* Release a codec from create or load (a no-op for one from load_into, and for NULL). */
void scann_codec_free(scann_codec *c);

/* Learn centres (k-means, spherical for ip/cosine), codebooks of the residuals (ip/cosine) or
 * of the vectors (L2), and the anisotropic threshold, from n rows of x. NaN or infinite values
 * give SCANN_ERR_INVALID_DATA. May be called again to retrain (the engine must re-encode). */
scann_status scann_codec_train(scann_codec *c, int64_t n, int dim, const float *x);

scann_status scann_codec_get_info(const scann_codec *c, scann_codec_info *info);

/* ---- persistence -------------------------------------------------------------------------- */

/* Write the trained codec into buf (cap bytes); *len gets the size written. buf NULL: only
 * *len is set (the size needed). Too small a cap gives SCANN_ERR_INVALID_ARGUMENT. */
scann_status scann_codec_save(const scann_codec *c, void *buf, size_t cap, size_t *len);
/* A codec from saved bytes, in memory the library allocates (scann_codec_free). */
scann_status scann_codec_load(const void *buf, size_t len, scann_codec **out);
/* Bytes of caller memory scann_codec_load_into needs for these saved bytes (validated). */
scann_status scann_codec_load_size(const void *buf, size_t len, size_t *bytes);
/* Load into caller memory mem (mem_bytes >= load_size, any alignment); the codec lives there
 * (nothing else is allocated) until the caller releases mem. */
scann_status scann_codec_load_into(const void *buf, size_t len, void *mem, size_t mem_bytes,
                                   scann_codec **out);

/* ---- add ---------------------------------------------------------------------------------- */

/* The list x goes to: nearest centre by L2 (after normalisation for cosine). scratch:
 * info.encode_bytes. NaN or infinite values give SCANN_ERR_INVALID_DATA. */
scann_status scann_codec_assign(const scann_codec *c, int dim, const float *x, void *scratch,
                                int32_t *list);
/* Assign and encode one vector: *list, code (m bytes) and, unless reorder is NONE, its rerank
 * row (row_bytes; row may be NULL to skip it). scratch: info.encode_bytes. */
scann_status scann_codec_encode(const scann_codec *c, int dim, const float *x, void *scratch,
                                int32_t *list, uint8_t *code, uint8_t *row);

/* Write code (m bytes) into slot (0..31) of block, replacing what the slot held. */
scann_status scann_codec_block_set(const scann_codec *c, uint8_t *block, int slot,
                                   const uint8_t *code);
/* Read slot's code back (m bytes). */
scann_status scann_codec_block_get(const scann_codec *c, const uint8_t *block, int slot,
                                   uint8_t *code);
/* Move slot `from` of block src into slot `to` of block dst (which may be src), then zero slot
 * `from` (unless it is the same slot), so the tail of a list keeps the zero padding. */
scann_status scann_codec_block_move(const scann_codec *c, uint8_t *dst, int to, uint8_t *src,
                                    int from);

/* ---- search ------------------------------------------------------------------------------- */

/* Prepare query q in mem (info.query_bytes): normalised copy, float and uint8 tables. *out
 * points into mem and stays valid while mem does; nothing to free. */
scann_status scann_codec_query_init(const scann_codec *c, int dim, const float *q, void *mem,
                                    size_t mem_bytes, scann_codec_query **out);
/* The nprobe (1..nlist) best lists for the query, best first, with their centre scores (the
 * query's score against the centre: squared L2, or minus the inner product). Ties go to the
 * smaller list number. nprobe = nlist orders every list (for scans that keep going). */
scann_status scann_codec_probe(const scann_codec *c, const scann_codec_query *q, int nprobe,
                               int32_t *lists, float *centre_scores);
/*
 * FastScan one block of a list whose centre score (from probe) is centre_score: the first
 * count (1..32) slots get approximate scores in scores[0..count) (other entries untouched) and
 * *mask bit i is set when slot i's score is <= bound (+INFINITY: every slot). Slots whose
 * uint16 table sum already exceeds the bound are rejected inside the SIMD kernel and their
 * scores are left untouched too: read scores only where the mask says.
 */
scann_status scann_codec_scan_block(const scann_codec *c, const scann_codec_query *q,
                                    float centre_score, const uint8_t *block, int count,
                                    float bound, float *scores, uint32_t *mask);
/* Exact-as-the-row-allows score of a rerank row. list, block and slot locate the vector's code:
 * BF16 and INT8 rows hold the code's error x - x~ (about 3x finer than x itself), which is
 * added back to the reconstruction; FLOAT rows ignore them. SCANN_ERR_UNSUPPORTED for NONE. */
scann_status scann_codec_score_row(const scann_codec *c, const scann_codec_query *q, int32_t list,
                                   const uint8_t *block, int slot, const uint8_t *row,
                                   float *score);
/* Exact score of a float vector (normalised first for cosine). */
scann_status scann_codec_score_vector(const scann_codec *c, const scann_codec_query *q, int dim,
                                      const float *x, float *score);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* SCANN_CODEC_H */
