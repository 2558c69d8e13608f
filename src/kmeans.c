/*
 * kmeans.c - Lloyd k-means (plain or spherical) on a seeded sample; assignment through sgemm.
 *
 * Train: sample the points (selection sampling, so sampled rows keep their input order), seed
 * the centres with k-means++ on a smaller subsample, then `iters` rounds of: assign every point
 * to its nearest centre, move each centre to the mean of its points, re-seed empty clusters by
 * splitting the largest one, and (spherical) re-normalise.
 *
 * Assign: for d > KM_DIRECT_MAX_D, blocks of KM_ROWS points times blocks of KM_CENTRES centres
 * go through sgemm for <x, c>, and the argmin is taken on ||c||^2 - 2<x, c> (||x||^2 is the
 * same for every centre). For tiny d (product-quantizer sub-spaces) sgemm is mostly overhead,
 * so a fused, exact ||x - c||^2 + argmin kernel over transposed centres is used instead. Both
 * kernels come from the caller's table (kernels.h; kmeans_scalar.c is their specification).
 *
 * Determinism: the same data, k and seed give bit-identical centres whatever nthreads is.
 * - All randomness comes from one local splitmix64 stream seeded by opts.seed, drawn serially.
 * - Block shapes depend on n, d and k only; a point's result depends only on its block's
 *   scores, and ties go to the smaller centre index. Threads only pick who runs which block.
 * - A centre's mean is summed in double over its points in ascending point order; k-means++
 *   distance sums are per fixed chunk, combined in chunk order.
 */
#include "kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "error.h"
#include "threads.h"

#define KM_ROWS 256           /* points per assignment block (fixed: determinism) */
#define KM_CENTRES 1024       /* centres per sgemm call: scratch is KM_ROWS x this = 1 MiB */
#define KM_DIRECT_MAX_D 8     /* at or below this d, a direct loop beats sgemm (k = 256) */
#define KM_DIRECT_PAD 16      /* direct path: centres padded to whole steps of the widest kernel */
#define KM_PP_MIN 4096        /* k-means++ subsample: at least this many points ... */
#define KM_PP_PER_CENTRE 8    /* ... or this many per centre: init < one Lloyd round */
#define KM_PP_CHUNK 1024      /* k-means++ distance updates per task */
#define KM_PAR_MIN_WORK 65536 /* fewer floats touched than this: threads cost more than they save */
#define KM_SPLIT_EPS (1.0f / 1024.0f)

/* ---- seeded randomness: splitmix64, local state only ---------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 bits. */
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* Copy m of the n rows of d floats, chosen uniformly without replacement, in input order
 * (Knuth's selection sampling: row i is taken with probability need / left, which always ends
 * with exactly m rows). */
static void sample_rows(const float *x, int64_t n, int d, int64_t m, uint64_t *rng, float *out)
{
    int64_t need = m;
    for (int64_t i = 0; i < n && need > 0; i++) {
        if ((double)(n - i) * rng_unit(rng) >= (double)need) continue;
        memcpy(out, x + (size_t)i * d, (size_t)d * sizeof(float));
        out += d;
        need--;
    }
}

/* ---- assignment ----------------------------------------------------------------------------- */

typedef struct assign_job {
    const float *x;
    int64_t n;
    int d, ldx, k;
    const float *c;     /* k x d centres */
    const float *cnorm; /* sgemm path: ||c||^2 */
    const float *ct;    /* direct path: centres transposed, d x kp, padded with +inf */
    int kp;             /* direct path: k rounded up to KM_DIRECT_PAD */
    int cb;             /* sgemm path: centres per block, min(k, KM_CENTRES) */
    const kernels *dk;  /* argmin, direct, and ||x||^2 the same way on every path and thread */
    float *scratch;     /* sgemm path, per worker: KM_ROWS x cb scores + KM_ROWS best */
    int32_t *best_idx;  /* sgemm path, per worker: KM_ROWS */
    size_t scratch_per;
    int32_t *assign;
    float *dist2;
} assign_job;

static void assign_gemm_task(void *ctx, int64_t task, int worker)
{
    const assign_job *j = ctx;
    int64_t i0 = task * KM_ROWS;
    int rows = (int)(j->n - i0 < KM_ROWS ? j->n - i0 : KM_ROWS);
    const float *xb = j->x + (size_t)i0 * j->ldx;
    float *S = j->scratch + (size_t)worker * j->scratch_per;
    float *best = S + (size_t)KM_ROWS * j->cb;
    int32_t *bi = j->best_idx + (size_t)worker * KM_ROWS;
    for (int r = 0; r < rows; r++) best[r] = INFINITY, bi[r] = 0;
    for (int c0 = 0; c0 < j->k; c0 += j->cb) {
        int cb = j->k - c0 < j->cb ? j->k - c0 : j->cb;
        const float *cn = j->cnorm + c0;
        blas_sgemm_abt(rows, cb, j->d, xb, j->ldx, j->c + (size_t)c0 * j->d, j->d, S, cb);
        for (int r = 0; r < rows; r++) {
            float *s = S + (size_t)r * cb, v;
            for (int t = 0; t < cb; t++) s[t] = cn[t] - 2.0f * s[t];
            int a = j->dk->km_argmin(s, cb, &v);
            /* Strict: on a tie the earlier centre block (smaller index) keeps the point. */
            if (v < best[r]) best[r] = v, bi[r] = c0 + a;
        }
    }
    for (int r = 0; r < rows; r++) {
        j->assign[i0 + r] = bi[r];
        if (!j->dist2) continue;
        const float *xr = xb + (size_t)r * j->ldx;
        float d2 = j->dk->ip(xr, xr, (size_t)j->d) + best[r];
        j->dist2[i0 + r] = d2 > 0.0f ? d2 : 0.0f; /* cancellation can dip below zero */
    }
}

static void assign_direct_task(void *ctx, int64_t task, int worker)
{
    const assign_job *j = ctx;
    int64_t i0 = task * KM_ROWS;
    int rows = (int)(j->n - i0 < KM_ROWS ? j->n - i0 : KM_ROWS);
    for (int r = 0; r < rows; r++) {
        float v;
        j->assign[i0 + r] =
            j->dk->km_direct(j->x + (size_t)(i0 + r) * j->ldx, j->d, j->ct, j->kp, &v);
        if (j->dist2) j->dist2[i0 + r] = v;
    }
}

/* Centre-side tables: the transposed copy (direct path) or norms and scratch (sgemm path).
 * Padding centres sit at +inf: their scores are +inf (or NaN), which never beat a real one, and
 * lane merging prefers the smaller (real) index on equal values. */
static scann_status assign_prepare(assign_job *j, int nthreads)
{
    size_t k = (size_t)j->k, d = (size_t)j->d;
    if (j->d <= KM_DIRECT_MAX_D) {
        j->kp = (j->k + KM_DIRECT_PAD - 1) / KM_DIRECT_PAD * KM_DIRECT_PAD;
        size_t kp = (size_t)j->kp;
        float *ct = malloc(d * kp * sizeof(float));
        j->ct = ct;
        if (!ct) return err_nomem("k-means transposed centres", d * kp * sizeof(float));
        for (size_t q = 0; q < d; q++)
            for (size_t c = 0; c < kp; c++) ct[q * kp + c] = c < k ? j->c[c * d + q] : INFINITY;
        return SCANN_OK;
    }
    j->cb = j->k < KM_CENTRES ? j->k : KM_CENTRES;
    j->scratch_per = (size_t)KM_ROWS * j->cb + KM_ROWS;
    float *cn = malloc(k * sizeof(float));
    j->cnorm = cn;
    j->scratch = malloc((size_t)nthreads * j->scratch_per * sizeof(float));
    j->best_idx = malloc((size_t)nthreads * KM_ROWS * sizeof(int32_t));
    if (!cn || !j->scratch || !j->best_idx)
        return err_nomem("k-means assignment scratch", (size_t)nthreads * j->scratch_per * 4);
    for (size_t c = 0; c < k; c++) cn[c] = j->dk->ip(j->c + c * d, j->c + c * d, d);
    return SCANN_OK;
}

static scann_status assign_run(const float *x, int64_t n, int d, int ldx, const float *centres,
                               int k, int nthreads, const kernels *dk, int32_t *assign,
                               float *dist2)
{
    int64_t ntasks = (n + KM_ROWS - 1) / KM_ROWS;
    if (nthreads > ntasks) nthreads = (int)(ntasks > 0 ? ntasks : 1);
    assign_job j = {.x = x,
                    .n = n,
                    .d = d,
                    .ldx = ldx,
                    .k = k,
                    .c = centres,
                    .dk = dk,
                    .assign = assign,
                    .dist2 = dist2};
    scann_status st = assign_prepare(&j, nthreads);
    if (st == SCANN_OK)
        par_for(NULL, nthreads, ntasks,
                d <= KM_DIRECT_MAX_D ? assign_direct_task : assign_gemm_task, &j);
    free((void *)j.cnorm);
    free((void *)j.ct);
    free(j.scratch);
    free(j.best_idx);
    return st;
}

scann_status kmeans_assign(const float *x, int64_t n, int d, int ldx, const float *centres, int k,
                           int nthreads, const kernels *dk, int32_t *assign, float *dist2)
{
    if (!x || !centres || !dk || !assign)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "kmeans_assign: x, centres, kernels and "
                                                   "assign are required");
    if (n < 0 || d < 1 || ldx < d || k < 1 || nthreads < 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "kmeans_assign: bad shape n = %lld, d = %d, ldx = %d, k = %d, "
                       "nthreads = %d",
                       (long long)n, d, ldx, k, nthreads);
    if (n == 0) return SCANN_OK;
    return assign_run(x, n, d, ldx, centres, k, nthreads, dk, assign, dist2);
}

/* ---- k-means++ initialisation --------------------------------------------------------------- */

typedef struct pp_job {
    const float *x;
    int64_t n;
    int d;
    const float *centre; /* the centre just chosen */
    const kernels *dk;
    float *mind;  /* squared distance to the nearest chosen centre */
    double *part; /* per chunk: sum of mind, in row order */
    float *tmp;   /* per worker: KM_PP_CHUNK */
    int first;
} pp_job;

static void pp_task(void *ctx, int64_t ch, int worker)
{
    const pp_job *j = ctx;
    int64_t lo = ch * KM_PP_CHUNK, hi = lo + KM_PP_CHUNK < j->n ? lo + KM_PP_CHUNK : j->n;
    float *tmp = j->tmp + (size_t)worker * KM_PP_CHUNK, *mind = j->mind + lo;
    size_t m = (size_t)(hi - lo);
    j->dk->l2_rows(j->centre, j->x + (size_t)lo * j->d, m, (size_t)j->d, tmp);
    double sum = 0;
    for (size_t i = 0; i < m; i++) {
        if (j->first || tmp[i] < mind[i]) mind[i] = tmp[i];
        sum += mind[i];
    }
    j->part[ch] = sum;
}

/* D^2 sampling: the row where the running sum of mind first exceeds u * total. Rows with
 * mind = 0 (already chosen, or duplicates of a centre) can never be picked that way. When
 * rounding (or NaN input) leaves no such row, fall back to the last row with mind > 0, and
 * when all are 0 (fewer distinct rows than centres) to a uniform pick. */
static int64_t pp_pick(const pp_job *j, int64_t nch, uint64_t *rng)
{
    double total = 0;
    for (int64_t ch = 0; ch < nch; ch++) total += j->part[ch];
    double r = rng_unit(rng) * total, acc = 0;
    for (int64_t ch = 0; ch < nch; ch++) {
        if (acc + j->part[ch] > r) {
            int64_t lo = ch * KM_PP_CHUNK, hi = lo + KM_PP_CHUNK < j->n ? lo + KM_PP_CHUNK : j->n;
            double a = acc;
            for (int64_t i = lo; i < hi; i++)
                if ((a += j->mind[i]) > r) return i;
        }
        acc += j->part[ch];
    }
    for (int64_t i = j->n - 1; i >= 0; i--)
        if (j->mind[i] > 0) return i;
    return (int64_t)(rng_next(rng) % (uint64_t)j->n);
}

static scann_status kmeans_pp(const float *x, int64_t n, int d, int k, const kernels *dk,
                              int nthreads, uint64_t *rng, float *centres)
{
    int64_t nch = (n + KM_PP_CHUNK - 1) / KM_PP_CHUNK;
    if ((double)n * d < KM_PAR_MIN_WORK) nthreads = 1;
    if (nthreads > nch) nthreads = (int)nch;
    pp_job j = {.x = x,
                .n = n,
                .d = d,
                .dk = dk,
                .first = 1,
                .mind = malloc((size_t)n * sizeof(float)),
                .part = malloc((size_t)nch * sizeof(double)),
                .tmp = malloc((size_t)nthreads * KM_PP_CHUNK * sizeof(float))};
    scann_status st = SCANN_OK;
    if (!j.mind || !j.part || !j.tmp) {
        st = err_nomem("k-means++ distances", (size_t)n * sizeof(float));
        goto done;
    }
    int64_t pick = (int64_t)(rng_next(rng) % (uint64_t)n);
    for (int c = 0; c < k; c++) {
        float *dst = centres + (size_t)c * d;
        memcpy(dst, x + (size_t)pick * d, (size_t)d * sizeof(float));
        if (c == k - 1) break;
        j.centre = dst;
        par_for(NULL, nthreads, nch, pp_task, &j);
        j.first = 0;
        pick = pp_pick(&j, nch, rng);
    }
done:
    free(j.mind);
    free(j.part);
    free(j.tmp);
    return st;
}

/* k-means++ on a random subsample of the training points: a few points per centre are enough
 * to spread the seeds, and its cost (subsample x k distances, one centre at a time) then stays
 * below that of one Lloyd round over the whole sample. */
static scann_status init_centres(const float *x, int64_t n, int d, int k, const kmeans_opts *o,
                                 const kernels *dk, uint64_t *rng, float *centres)
{
    int64_t m = (int64_t)k * KM_PP_PER_CENTRE;
    if (m < KM_PP_MIN) m = KM_PP_MIN;
    if (m >= n) return kmeans_pp(x, n, d, k, dk, o->nthreads, rng, centres);
    float *sub = malloc((size_t)m * d * sizeof(float));
    if (!sub) return err_nomem("k-means++ subsample", (size_t)m * d * sizeof(float));
    sample_rows(x, n, d, m, rng, sub);
    scann_status st = kmeans_pp(sub, m, d, k, dk, o->nthreads, rng, centres);
    free(sub);
    return st;
}

/* ---- Lloyd iterations ----------------------------------------------------------------------- */

typedef struct lloyd {
    const float *x; /* n x d training points */
    int64_t n;
    int d, k;
    float *c;        /* k x d centres (the caller's buffer) */
    int32_t *assign; /* n */
    float *dist2;    /* n */
    int64_t *count;  /* k: points per centre (then halved by splits) */
    int64_t *start;  /* k + 1: centre c's points are order[start[c] .. start[c + 1]) */
    int64_t *order;  /* n: point numbers grouped by centre, ascending within a centre */
    double *acc;     /* per worker: d */
} lloyd;

/* Group point numbers by centre (a stable counting sort), so each centre's mean can be summed
 * by one task in point order: the same sum whatever the thread count. */
static void group_by_centre(lloyd *L)
{
    memset(L->count, 0, (size_t)L->k * sizeof(int64_t));
    for (int64_t i = 0; i < L->n; i++) L->count[L->assign[i]]++;
    L->start[0] = 0;
    for (int c = 0; c < L->k; c++) L->start[c + 1] = L->start[c] + L->count[c];
    for (int64_t i = 0; i < L->n; i++) L->order[L->start[L->assign[i]]++] = i;
    for (int c = L->k; c > 0; c--) L->start[c] = L->start[c - 1];
    L->start[0] = 0;
}

/* Centre c := mean of its points; an empty centre is left for split_empty. */
static void mean_task(void *ctx, int64_t c, int worker)
{
    const lloyd *L = ctx;
    int d = L->d;
    if (L->count[c] == 0) return;
    double *acc = L->acc + (size_t)worker * d;
    memset(acc, 0, (size_t)d * sizeof(double));
    for (int64_t p = L->start[c]; p < L->start[c + 1]; p++) {
        const float *row = L->x + (size_t)L->order[p] * d;
        for (int q = 0; q < d; q++) acc[q] += row[q];
    }
    float *dst = L->c + (size_t)c * d;
    double cnt = (double)L->count[c];
    for (int q = 0; q < d; q++) dst[q] = (float)(acc[q] / cnt);
}

/* Give every empty cluster half of the currently largest one (ties: smaller index). The two
 * copies of the centre are nudged apart per dimension with alternating signs, as faiss does,
 * so the next assignment can tell them apart; the halved count steers later picks elsewhere. */
static int split_empty(float *c, int64_t *count, int k, int d)
{
    int splits = 0;
    for (int e = 0; e < k; e++) {
        if (count[e] > 0) continue;
        int big = 0;
        for (int b = 1; b < k; b++)
            if (count[b] > count[big]) big = b;
        float *ce = c + (size_t)e * d, *cb = c + (size_t)big * d;
        memcpy(ce, cb, (size_t)d * sizeof(float));
        for (int q = 0; q < d; q++) {
            float up = 1.0f + KM_SPLIT_EPS, down = 1.0f - KM_SPLIT_EPS;
            ce[q] *= q % 2 == 0 ? up : down;
            cb[q] *= q % 2 == 0 ? down : up;
        }
        count[e] = count[big] / 2;
        count[big] -= count[e];
        splits++;
    }
    return splits;
}

static void normalise_rows(float *c, int k, int d)
{
    for (int i = 0; i < k; i++) {
        float *row = c + (size_t)i * d;
        double s = 0;
        for (int q = 0; q < d; q++) s += (double)row[q] * row[q];
        if (!(s > 0)) continue; /* zero (or NaN) norm: leave it rather than divide by it */
        double inv = 1.0 / sqrt(s);
        for (int q = 0; q < d; q++) row[q] = (float)(row[q] * inv);
    }
}

static scann_status lloyd_run(lloyd *L, const kmeans_opts *o, const kernels *dk,
                              kmeans_stats *stats)
{
    int update_threads = (double)L->n * L->d < KM_PAR_MIN_WORK ? 1 : o->nthreads;
    if (o->spherical) normalise_rows(L->c, L->k, L->d);
    for (int it = 0; it < o->iters; it++) {
        scann_status st =
            assign_run(L->x, L->n, L->d, L->d, L->c, L->k, o->nthreads, dk, L->assign, L->dist2);
        if (st) return st;
        double obj = 0;
        for (int64_t i = 0; i < L->n; i++) obj += L->dist2[i];
        if (it == 0) stats->objective_first = obj;
        stats->objective_last = obj;
        group_by_centre(L);
        par_for(NULL, update_threads, L->k, mean_task, L);
        stats->splits += split_empty(L->c, L->count, L->k, L->d);
        if (o->spherical) normalise_rows(L->c, L->k, L->d);
        if ((st = poll_progress(o->poll, (double)(it + 1) / o->iters))) return st;
    }
    return SCANN_OK;
}

static scann_status lloyd_train(const float *x, int64_t n, int d, int k, const kmeans_opts *o,
                                const kernels *dk, float *centres, kmeans_stats *stats)
{
    lloyd L = {.x = x,
               .n = n,
               .d = d,
               .k = k,
               .c = centres,
               .assign = malloc((size_t)n * sizeof(int32_t)),
               .dist2 = malloc((size_t)n * sizeof(float)),
               .count = malloc((size_t)k * sizeof(int64_t)),
               .start = malloc(((size_t)k + 1) * sizeof(int64_t)),
               .order = malloc((size_t)n * sizeof(int64_t)),
               .acc = malloc((size_t)o->nthreads * d * sizeof(double))};
    scann_status st;
    if (!L.assign || !L.dist2 || !L.count || !L.start || !L.order || !L.acc)
        st = err_nomem("k-means working arrays", (size_t)n * 16 + (size_t)k * 16);
    else
        st = lloyd_run(&L, o, dk, stats);
    free(L.assign);
    free(L.dist2);
    free(L.count);
    free(L.start);
    free(L.order);
    free(L.acc);
    return st;
}

static scann_status check_train_args(const float *x, int64_t n, int d, int k, const kmeans_opts *o,
                                     const float *centres)
{
    if (!x || !o || !o->dk || !centres)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "kmeans_train: x, opts, opts->dk and centres are required");
    if (k < 1 || k > n)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "kmeans_train: k = %d centres needs 1 <= k <= n, the number of training "
                       "points (n = %lld)",
                       k, (long long)n);
    if (d < 1) return err_set(SCANN_ERR_INVALID_ARGUMENT, "kmeans_train: d = %d must be >= 1", d);
    if (o->iters < 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "kmeans_train: iters = %d must be >= 1",
                       o->iters);
    if (o->nthreads < 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "kmeans_train: nthreads = %d must be >= 1",
                       o->nthreads);
    if (o->max_sample < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "kmeans_train: max_sample = %lld must be >= 0",
                       (long long)o->max_sample);
    return SCANN_OK;
}

scann_status kmeans_train(const float *x, int64_t n, int d, int k, const kmeans_opts *o,
                          float *centres, kmeans_stats *stats)
{
    scann_status st = check_train_args(x, n, d, k, o, centres);
    if (st) return st;
    kmeans_stats local;
    if (!stats) stats = &local;
    *stats = (kmeans_stats){0};
    const kernels *dk = o->dk;
    uint64_t rng = o->seed;
    /* A sample smaller than k could not seed k distinct clusters: take at least k points. */
    int64_t m = o->max_sample > 0 && n > o->max_sample ? o->max_sample : n;
    if (m < k) m = k;
    float *sample = NULL;
    if (m < n) {
        sample = malloc((size_t)m * d * sizeof(float));
        if (!sample) return err_nomem("k-means sample", (size_t)m * d * sizeof(float));
        sample_rows(x, n, d, m, &rng, sample);
        x = sample;
    }
    st = init_centres(x, m, d, k, o, dk, &rng, centres);
    if (st == SCANN_OK) st = lloyd_train(x, m, d, k, o, dk, centres, stats);
    free(sample);
    return st;
}
