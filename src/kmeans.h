/*
 * kmeans.h - Lloyd k-means (plain or spherical) on a sample, through sgemm.
 *
 * Used for the IVF partitions (nlist centres of dimension d) and for every product-quantizer
 * codebook (16 or 256 centres of a few dimensions). Deterministic: the same data, k and seed
 * give bit-identical centres whatever the thread count, because work is split into blocks
 * whose shape does not depend on the number of threads, and sums are reduced in a fixed order.
 */
#ifndef SCANN_KMEANS_H
#define SCANN_KMEANS_H

#include <stdint.h>

#include "kernels.h"
#include "poll.h"
#include "scann.h"

typedef struct kmeans_opts {
    int iters;             /* Lloyd iterations (>= 1) */
    int spherical;         /* re-normalise centres to unit norm after each update (IP / cosine) */
    int64_t max_sample;    /* train on at most this many points (seeded sample); 0 = all */
    uint64_t seed;         /* sampling, k-means++ init and empty-cluster splits */
    int nthreads;          /* >= 1 */
    const kernels *dk;     /* the caller's kernel table (kernels.h): required */
    const poll_hook *poll; /* polled after every Lloyd iteration; NULL = never cancelled */
} kmeans_opts;

typedef struct kmeans_stats {
    double objective_first; /* sum of squared L2 to the nearest centre after the first assignment */
    double objective_last;  /* ... after the last assignment */
    int splits;             /* empty clusters re-seeded by splitting a large one */
} kmeans_stats;

/*
 * Train k centres (k * d floats into centres, caller-owned) from n points x (row-major).
 * Requires 1 <= k <= n. Init: k-means++ on a subsample. Empty clusters are re-seeded by
 * splitting the largest cluster (its centre nudged in opposite directions). stats may be NULL.
 */
scann_status kmeans_train(const float *x, int64_t n, int d, int k, const kmeans_opts *o,
                          float *centres, kmeans_stats *stats);

/*
 * Nearest centre by squared L2 for each of n points: assign[i] in [0, k), and dist2[i] (may be
 * NULL) the squared distance. x rows have stride ldx floats (>= d), so a sub-space of wider rows
 * can be assigned in place (product quantization). nthreads >= 1; dk: the kernel table.
 */
scann_status kmeans_assign(const float *x, int64_t n, int d, int ldx, const float *centres, int k,
                           int nthreads, const kernels *dk, int32_t *assign, float *dist2);

#endif
