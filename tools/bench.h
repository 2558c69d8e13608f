/*
 * bench.h - the benchmark harness shared by `scann bench` and the peer driver `scann-peers`.
 *
 * One harness measures every backend (this library's index kinds, hnswlib, faiss) the same way:
 * build once (timed), then for each point of the search grid: recall@k over all queries, batch
 * QPS (all queries in one call on `threads` threads) and single-query p50/p99 latency (one
 * thread, one query at a time, over up to 1,000 queries taken at an even stride across the whole
 * query file, so the sample is not the file's first rows).
 *
 * A backend is a small struct of function pointers. Each returns 0 on success, or non-zero with
 * a message in err.
 */
#ifndef SCANN_BENCH_H
#define SCANN_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scann.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_MAX_KV 8

typedef struct bench_kv {
    char key[32];
    char value[32];
} bench_kv;

/* One point of the search grid, e.g. {nprobe=8, reorder_k=100}. */
typedef struct bench_point {
    bench_kv kv[BENCH_MAX_KV];
    int nkv;
    char text[256]; /* "nprobe=8,reorder_k=100" (the CSV's params column) */
} bench_point;

typedef struct bench_data {
    float *base; /* n x dim, as read from the file (not normalised) */
    int64_t n;
    float *query; /* nq x dim */
    int64_t nq;
    int dim;
    int32_t *gt; /* nq x gt_k exact neighbours (row indices of base) */
    int gt_k;
    scann_metric metric;
} bench_data;

typedef struct bench_backend {
    char label[160]; /* the row's "index" column, e.g. "hnswlib M=16,efC=200" */
    void *self;
    int (*build)(void *self, const bench_data *d, int threads, char *err, size_t errlen);
    int (*set_params)(void *self, const bench_point *p, char *err, size_t errlen);
    /* nq queries (rows of q), k results each into ids (nq * k), on `threads` threads. */
    int (*search)(void *self, const float *q, int64_t nq, int k, int threads, int64_t *ids,
                  char *err, size_t errlen);
    size_t (*memory)(void *self);
    void (*destroy)(void *self);
} bench_backend;

typedef struct bench_opts {
    const char *base_path, *query_path, *gt_path;
    scann_metric metric;
    int k;
    int threads;
    const char *grid;     /* "nprobe=8,16;reorder_k=50,100" or NULL for one default point */
    const char *csv_path; /* NULL: no CSV */
    int print_header;     /* print the table header (the first backend of a run does) */
    int latency_queries;  /* how many queries to time one at a time (default 1000) */
    int64_t limit;        /* use the first limit base vectors; 0 = all */
} bench_opts;

/* Load base (its first o->limit rows when set), queries and ground truth; checks that
 * dimensions and counts agree and that the ground truth's ids are rows of the base. */
int bench_data_load(const bench_opts *o, bench_data *d, char *err, size_t errlen);
void bench_data_free(bench_data *d);

/* Parse "a=1,2;b=x,y" into the cartesian product of points. *out is malloc'ed. */
int bench_grid_parse(const char *grid, bench_point **out, int *npoints, char *err, size_t errlen);

/* Build b, sweep the grid, print one table row per point to stdout and to the CSV. */
int bench_run(bench_backend *b, const bench_data *d, const bench_opts *o);

/* Helpers for backends. */
void bench_normalize_rows(float *x, int64_t n, int dim);
double bench_now(void); /* monotonic seconds */
/* Look up key in p; returns its value or NULL. */
const char *bench_point_get(const bench_point *p, const char *key);

#ifdef __cplusplus
}
#endif
#endif
