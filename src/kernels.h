/*
 * kernels.h - the one table of SIMD kernels per CPU level (scalar, avx2, avx512, avx512icl,
 * neon).
 *
 * Every stage that has a SIMD kernel reaches it through this table: the index handle (and a
 * codec) picks it once at create with kernels_best() and hands it down, so no stage asks the
 * CPU again and one index never mixes levels. The tables are static const: choosing one is a
 * lookup, not state.
 *
 * Each kernel exists once per level, in a file named after it (*_scalar.c is the
 * specification; *_avx2.c, *_avx512.c, *_neon.c are its twins and return the same bits). A
 * level without its own variant of a family reuses the one below (avx512 runs the avx2 AVQ, PQ
 * table and k-means kernels; avx512icl has only its own FastScan kernels, scan_avx512icl.c, and
 * runs avx512's others). The uint8 FastScan tables are built by one shared routine
 * (fs_lut_quantize) on purpose, so every level scans identical bytes; it is not in the table.
 */
#ifndef SCANN_KERNELS_H
#define SCANN_KERNELS_H

#include "cpu.h"
#include "distance/distance.h"
#include "fastscan/fastscan.h"

/* AVQ (avq.c): for one block of len dims, from centres transposed to ct[q * ksub + k],
 * err2[k] = ||v - c_k||^2 and par[k] = <v - c_k, x * inv>, each summed over q in order from the
 * first term, multiplies and adds rounded separately (no FMA). */
typedef void (*avq_tables_fn)(const float *ct, int ksub, int len, const float *v, const float *x,
                              float inv, float *err2, float *par);
/* PQ query tables of 16 centres per block, all blocks in one call (SCANN's scan and rerank
 * tables): block j covers dims [j * dsub, min(d, (j + 1) * dsub)) of centres transposed to
 * ct[t * 16 + c] (pq_transpose), and out[16 * j + c] = sum_t (q_t - ct_tc)^2 when l2, else
 * sum_t ct_tc * q_t, summed over t in order from the first term, multiplies and adds rounded
 * separately. That is avq_tables' err2 (v = q), and its par with v = 0, x = q, inv = -1 up to
 * the sign of a zero, without avq_tables' second table or a call per block (a tenth of a
 * Fashion-MNIST int8 search went to those). */
typedef void (*pq_tables16_fn)(const float *ct, int d, int dsub, const float *q, int l2,
                               float *out);
/* k-means (kmeans.c): the first index of the smallest of s[0..m) and that value. */
typedef int (*km_argmin_fn)(const float *s, int m, float *val);
/* k-means, d <= 8: the nearest of kp centres transposed to ct[q * kp + c] (kp a multiple of
 * 16) by exact ||x - c||^2 summed over q in order, and that squared distance. */
typedef int (*km_direct_fn)(const float *xr, int d, const float *ct, int kp, float *val);

typedef struct kernels {
    const char *name; /* "scalar", "avx2", "avx512", "avx512icl", "neon" */
    cpu_isa isa;
    dist_fn l2; /* distance.h: sum (a_i - b_i)^2 */
    dist_fn ip; /* sum a_i * b_i */
    dist_rows_fn l2_rows;
    dist_rows_fn ip_rows;
    dist_narrow_fn ip_i8; /* <q, x> over int8 / bf16 values (rerank rows) */
    dist_narrow_fn ip_bf16;
    fs_block_fn fs_block; /* fastscan.h: one query's table over one 32-vector block */
    fs_multi_fn fs_multi; /* up to FS_MAX_QB queries' tables over one block */
    avq_tables_fn avq_tables;
    pq_tables16_fn pq_tables16;
    km_argmin_fn km_argmin;
    km_direct_fn km_direct;
} kernels;

/* The table for isa (the best compiled one at or below it; scalar for a level this build
 * cannot run, such as neon on x86). */
const kernels *kernels_for(cpu_isa isa);
/* kernels_for(cpu_best_isa()): what an index or codec takes at create. */
const kernels *kernels_best(void);

void avq_tables_scalar(const float *ct, int ksub, int len, const float *v, const float *x,
                       float inv, float *err2, float *par);
void pq_tables16_scalar(const float *ct, int d, int dsub, const float *q, int l2, float *out);
int km_argmin_scalar(const float *s, int m, float *val);
int km_direct_scalar(const float *xr, int d, const float *ct, int kp, float *val);
/* The lane merge every k-means twin ends with (kmeans_scalar.c): the first minimum over nl
 * lane minima (value, index), then strict < over the tail s[t..m). */
int km_merge_lanes(const float *lv, const int32_t *li, int nl, const float *s, int t, int m,
                   float *val);
#if defined(__x86_64__)
void avq_tables_avx2(const float *ct, int ksub, int len, const float *v, const float *x, float inv,
                     float *err2, float *par);
void pq_tables16_avx2(const float *ct, int d, int dsub, const float *q, int l2, float *out);
int km_argmin_avx2(const float *s, int m, float *val);
int km_direct_avx2(const float *xr, int d, const float *ct, int kp, float *val);
#endif
#if defined(__aarch64__)
void avq_tables_neon(const float *ct, int ksub, int len, const float *v, const float *x, float inv,
                     float *err2, float *par);
void pq_tables16_neon(const float *ct, int d, int dsub, const float *q, int l2, float *out);
int km_argmin_neon(const float *s, int m, float *val);
int km_direct_neon(const float *xr, int d, const float *ct, int kp, float *val);
#endif

#endif
