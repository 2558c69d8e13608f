/*
 * index_flat.c - FLAT: exact k-NN over a float copy of every vector.
 *
 * Two search paths:
 * - Few queries: each query is scanned against all rows with the SIMD row kernel. No BLAS
 *   call, so a single query pays no setup; a lone query with several threads splits the rows.
 * - Batches: blocks of queries times blocks of rows go through sgemm (Q X^T), giving
 *   ||x||^2 - 2<q, x> for L2 (the ||q||^2 term is the same for every row) or -<q, x> for IP.
 *   That expansion loses digits to cancellation, so each query keeps FLAT_MARGIN more
 *   candidates than asked and re-scores them with the exact kernel before the final top k:
 *   batch results then equal the single-query path's, not an approximation of it.
 *
 * Invariants: x holds ntotal rows of dim floats; norms[i] = ||x_i||^2 (kept for L2 only);
 * ids[i] is row i's external id. Capacity grows by doubling.
 */
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "collect.h"
#include "error.h"
#include "idmap.h"
#include "idset.h"
#include "index.h"
#include "sections.h"
#include "threads.h"
#include "topk.h"

#define FLAT_MARGIN 32     /* extra sgemm candidates re-scored exactly */
#define FLAT_GEMM_MIN_NQ 8 /* below this many queries, sgemm setup is not worth it */
/* sgemm block shapes, measured with OpenBLAS 0.3.21 on AVX2/AVX-512 cores: large d wants
 * tall blocks (512 x 4096 reached ~70 GFlop/s per core at d=784, 128 x 2048 only ~40), while
 * small d is fastest at 256 x 2048 (~90 GFlop/s at d=100). */
#define FLAT_QB_SMALL_D 256
#define FLAT_QB_LARGE_D 512
#define FLAT_XB_SMALL_D 2048
#define FLAT_XB_LARGE_D 4096
#define FLAT_ROW_CHUNK 1024 /* rows scored per kernel call on the direct path */

typedef struct flat {
    float *x;
    float *norms;
    int64_t *ids;
    int64_t cap;
    int mapped; /* x and ids point into a read-only file mapping (flat_load): not freed */
    idmap map;  /* id -> row, built by the first flat_collect (idmap.h) */
} flat;

/* idmap_id_fn: the id in a row. */
static int64_t flat_id_at(const void *ctx, int64_t row) { return ((const flat *)ctx)->ids[row]; }

static scann_status flat_train(scann_index *ix, int64_t n, const float *x) { return SCANN_OK; }

static scann_status flat_reserve(scann_index *ix, flat *f, int64_t need)
{
    if (need <= f->cap) return SCANN_OK;
    int64_t cap = f->cap ? f->cap : 1024;
    while (cap < need) cap *= 2;
    size_t d = (size_t)ix->p.dim;
    float *x = realloc(f->x, (size_t)cap * d * sizeof(float));
    if (!x) return err_nomem("FLAT vectors", (size_t)cap * d * sizeof(float));
    f->x = x;
    int64_t *ids = realloc(f->ids, (size_t)cap * sizeof(int64_t));
    if (!ids) return err_nomem("FLAT ids", (size_t)cap * sizeof(int64_t));
    f->ids = ids;
    if (!index_uses_ip(ix)) {
        float *norms = realloc(f->norms, (size_t)cap * sizeof(float));
        if (!norms) return err_nomem("FLAT norms", (size_t)cap * sizeof(float));
        f->norms = norms;
    }
    f->cap = cap;
    return SCANN_OK;
}

static scann_status flat_add(scann_index *ix, int64_t n, const float *x, const int64_t *ids)
{
    flat *f = ix->impl;
    scann_status st = flat_reserve(ix, f, ix->ntotal + n);
    if (!st && idmap_built(&f->map)) st = idmap_reserve(&f->map, f->map.count + n, flat_id_at, f);
    if (st) return st;
    size_t d = (size_t)ix->p.dim;
    memcpy(f->x + (size_t)ix->ntotal * d, x, (size_t)n * d * sizeof(float));
    memcpy(f->ids + ix->ntotal, ids, (size_t)n * sizeof(int64_t));
    if (!index_uses_ip(ix))
        for (int64_t i = 0; i < n; i++) {
            const float *row = x + (size_t)i * d;
            f->norms[ix->ntotal + i] = ix->dk->ip(row, row, d);
        }
    if (idmap_built(&f->map))
        for (int64_t i = 0; i < n; i++) idmap_insert(&f->map, ids[i], ix->ntotal + i);
    ix->ntotal += n;
    return SCANN_OK;
}

/* ---- direct path: kernel scans, parallel over queries or over row ranges ------------------ */

typedef struct direct_job {
    const scann_index *ix;
    const float *q;
    int k;
    int64_t nranges;   /* row ranges per query */
    float *part_score; /* (nq * nranges) * k partial results */
    int64_t *part_id;
    const search_ctx *sc;
} direct_job;

static void direct_task(void *ctx, int64_t task, int worker)
{
    direct_job *j = ctx;
    const scann_index *ix = j->ix;
    const flat *f = ix->impl;
    size_t d = (size_t)ix->p.dim;
    int64_t qi = task / j->nranges, r = task % j->nranges;
    int64_t lo = ix->ntotal * r / j->nranges, hi = ix->ntotal * (r + 1) / j->nranges;
    const float *q = j->q + (size_t)qi * d;
    float buf[FLAT_ROW_CHUNK], *out_score = NULL;
    int64_t *out_id = NULL;
    collector c;
    if (j->sc->range) {
        collect_init_range(&c, j->sc->range->radius, &j->sc->range->out[qi], j->sc);
    } else {
        out_score = j->part_score + (size_t)task * j->k;
        out_id = j->part_id + (size_t)task * j->k;
        collect_init_heap(&c, j->k, out_score, out_id, j->sc);
    }
    for (int64_t b = lo; b < hi; b += FLAT_ROW_CHUNK) {
        size_t m = (size_t)(hi - b < FLAT_ROW_CHUNK ? hi - b : FLAT_ROW_CHUNK);
        const float *xb = f->x + (size_t)b * d;
        if (index_uses_ip(ix)) {
            ix->dk->ip_rows(q, xb, m, d, buf);
            for (size_t i = 0; i < m; i++) buf[i] = -buf[i];
        } else {
            ix->dk->l2_rows(q, xb, m, d, buf);
        }
        for (size_t i = 0; i < m; i++)
            collect_offer(&c, buf[i], f->ids[b + (int64_t)i], f->ids[b + (int64_t)i]);
    }
    collect_finish(&c, out_score, out_id);
}

static scann_status flat_search_direct(const scann_index *ix, int64_t nq, const float *q, int k,
                                       const search_ctx *sc, float *score, int64_t *ids)
{
    /* A lone query (or fewer queries than threads) is split by rows so threads still help. */
    int nthreads = sc->num_threads;
    int64_t nranges = nq >= nthreads ? 1 : (nthreads + nq - 1) / nq;
    if (nranges > ix->ntotal || sc->range) nranges = 1; /* a range list takes one writer */
    if (nranges == 1) {
        direct_job j = {ix, q, k, 1, score, ids, sc};
        par_for(sc->pool, nthreads, nq, direct_task, &j);
        return SCANN_OK;
    }
    size_t parts = (size_t)(nq * nranges) * (size_t)k;
    float *ps = scratch_alloc(sc->mem, parts * sizeof(float));
    int64_t *pi = scratch_alloc(sc->mem, parts * sizeof(int64_t));
    if (!ps || !pi) return err_nomem("FLAT partial results", parts * 12);
    direct_job j = {ix, q, k, nranges, ps, pi, sc};
    par_for(sc->pool, nthreads, nq * nranges, direct_task, &j);
    for (int64_t qi = 0; qi < nq; qi++) {
        topk h;
        topk_init(&h, k, score + (size_t)qi * k, ids + (size_t)qi * k);
        for (size_t c = (size_t)qi * nranges * k; c < (size_t)(qi + 1) * nranges * k; c++)
            if (pi[c] >= 0) topk_push(&h, ps[c], pi[c]);
        topk_finish(&h, h.score, h.id);
    }
    return SCANN_OK;
}

/* ---- batch path: sgemm blocks, then exact re-score of the best k + margin ---------------- */

typedef struct gemm_job {
    const scann_index *ix;
    const float *q;
    int64_t nq;
    int k, kk;  /* asked, and kept from sgemm scores (k + margin, at most ntotal) */
    int qb, xb; /* block shape: queries x rows */
    float *score;
    int64_t *ids;
    float *gemm_buf;   /* per worker: qb * xb */
    float *cand_score; /* per worker: qb * kk */
    int64_t *cand_row; /* per worker: qb * kk (row numbers, not external ids) */
    topk *heaps;       /* per worker: qb */
    const search_ctx *sc;
} gemm_job;

/* Offer a block of scores; a 16-wide minimum skips groups that cannot enter (most of them
 * once the heap is warm) and vectorizes. */
static void offer_block(topk *h, const float *s, int64_t row0, size_t m, const search_ctx *sc,
                        const int64_t *ids)
{
    size_t j = 0;
    for (; j + 16 <= m; j += 16) {
        float mn = s[j];
        for (int t = 1; t < 16; t++) mn = s[j + t] < mn ? s[j + t] : mn;
        if (mn > topk_threshold(h)) continue;
        for (int t = 0; t < 16; t++)
            if (s[j + t] <= topk_threshold(h) && search_allows(sc, ids[row0 + (int64_t)(j + t)]))
                topk_push(h, s[j + t], row0 + (int64_t)(j + t));
    }
    for (; j < m; j++)
        if (s[j] <= topk_threshold(h) && search_allows(sc, ids[row0 + (int64_t)j]))
            topk_push(h, s[j], row0 + (int64_t)j);
}

static void gemm_task(void *ctx, int64_t task, int worker)
{
    gemm_job *j = ctx;
    const scann_index *ix = j->ix;
    const flat *f = ix->impl;
    int d = ix->p.dim, ip = index_uses_ip(ix);
    int64_t q0 = task * j->qb;
    int qb = (int)(j->nq - q0 < j->qb ? j->nq - q0 : j->qb);
    const float *qblk = j->q + (size_t)q0 * d;
    float *S = j->gemm_buf + (size_t)worker * j->qb * j->xb;
    float *cs = j->cand_score + (size_t)worker * j->qb * j->kk;
    int64_t *cr = j->cand_row + (size_t)worker * j->qb * j->kk;
    topk *heaps = j->heaps + (size_t)worker * j->qb;
    for (int i = 0; i < qb; i++)
        topk_init(&heaps[i], j->kk, cs + (size_t)i * j->kk, cr + (size_t)i * j->kk);

    for (int64_t x0 = 0; x0 < ix->ntotal; x0 += j->xb) {
        int xb = (int)(ix->ntotal - x0 < j->xb ? ix->ntotal - x0 : j->xb);
        blas_sgemm_abt(qb, xb, d, qblk, d, f->x + (size_t)x0 * d, d, S, j->xb);
        for (int i = 0; i < qb; i++) {
            float *s = S + (size_t)i * j->xb;
            if (ip)
                for (int t = 0; t < xb; t++) s[t] = -s[t];
            else
                for (int t = 0; t < xb; t++) s[t] = f->norms[x0 + t] - 2.0f * s[t];
            offer_block(&heaps[i], s, x0, (size_t)xb, j->sc, f->ids);
        }
    }
    /* Exact re-score of the survivors with the same kernel the direct path uses. */
    for (int i = 0; i < qb; i++) {
        const float *qv = qblk + (size_t)i * d;
        topk *h = &heaps[i];
        topk out;
        int64_t qi = q0 + i;
        topk_init(&out, j->k, j->score + (size_t)qi * j->k, j->ids + (size_t)qi * j->k);
        for (int c = 0; c < h->size; c++) {
            int64_t row = h->id[c];
            topk_push(&out, index_score(ix, qv, f->x + (size_t)row * d), f->ids[row]);
        }
        topk_finish(&out, out.score, out.id);
    }
}

static scann_status flat_search_gemm(const scann_index *ix, int64_t nq, const float *q, int k,
                                     const search_ctx *sc, float *score, int64_t *ids)
{
    int nthreads = sc->num_threads;
    int large = ix->p.dim > 256;
    int qb = large ? FLAT_QB_LARGE_D : FLAT_QB_SMALL_D;
    /* Smaller blocks rather than idle threads when the batch is short. */
    int64_t fair = (nq + nthreads - 1) / nthreads;
    if (fair < qb) qb = (int)((fair + 7) / 8 * 8);
    int xb = large ? FLAT_XB_LARGE_D : FLAT_XB_SMALL_D;
    int64_t ntasks = (nq + qb - 1) / qb;
    if (nthreads > ntasks) nthreads = (int)ntasks;
    int kk = k + FLAT_MARGIN;
    if (kk > ix->ntotal) kk = (int)ix->ntotal;
    size_t gb = (size_t)nthreads * qb * xb, cb = (size_t)nthreads * qb * kk;
    gemm_job j = {ix,
                  q,
                  nq,
                  k,
                  kk,
                  qb,
                  xb,
                  score,
                  ids,
                  scratch_alloc(sc->mem, gb * sizeof(float)),
                  scratch_alloc(sc->mem, cb * sizeof(float)),
                  scratch_alloc(sc->mem, cb * sizeof(int64_t)),
                  scratch_alloc(sc->mem, (size_t)nthreads * qb * sizeof(topk)),
                  sc};
    if (!j.gemm_buf || !j.cand_score || !j.cand_row || !j.heaps)
        return err_nomem("FLAT search scratch", gb * 4 + cb * 12);
    par_for(sc->pool, nthreads, ntasks, gemm_task, &j);
    return SCANN_OK;
}

static scann_status flat_search(const scann_index *ix, int64_t nq, const float *q, int k,
                                const search_ctx *sc, float *score, int64_t *ids)
{
    /* Range search scores every row exactly, as the direct path does. */
    if (nq < FLAT_GEMM_MIN_NQ || sc->range) return flat_search_direct(ix, nq, q, k, sc, score, ids);
    return flat_search_gemm(ix, nq, q, k, sc, score, ids);
}

static size_t flat_memory(const scann_index *ix)
{
    const flat *f = ix->impl;
    size_t per =
        (size_t)ix->p.dim * sizeof(float) + sizeof(int64_t) + (f->norms ? sizeof(float) : 0);
    return sizeof(flat) + (size_t)f->cap * per + idmap_memory(&f->map);
}

static void flat_destroy(scann_index *ix)
{
    flat *f = ix->impl;
    if (!f) return;
    if (!f->mapped) {
        free(f->x);
        free(f->ids);
    }
    free(f->norms);
    idmap_free(&f->map);
    free(f);
    ix->impl = NULL;
}

static scann_status flat_save(const scann_index *ix, struct ctr_writer *w);
static scann_status flat_load(scann_index *ix, struct ctr_reader *r);

/* ---- updates: a location is a row ------------------------------------------------------ */

static int cmp_row(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static scann_status flat_collect(scann_index *ix, const idset *set, int64_t **locs, int64_t *n)
{
    flat *f = ix->impl;
    *n = 0;
    *locs = NULL;
    if (!idmap_built(&f->map)) {
        scann_status st = idmap_reserve(&f->map, ix->ntotal, flat_id_at, f);
        if (st) return st;
        for (int64_t r = 0; r < ix->ntotal; r++) idmap_insert(&f->map, f->ids[r], r);
    }
    if (set->count == 0) return SCANN_OK;
    int64_t *out = malloc((size_t)set->count * sizeof(int64_t)), cnt = 0;
    if (!out) return err_nomem("removal rows", (size_t)set->count * 8);
    for (int64_t i = 0; i < set->cap; i++) {
        if (set->slot[i] < 0) continue;
        int64_t r = idmap_find(&f->map, set->slot[i], flat_id_at, f);
        if (r >= 0) out[cnt++] = r;
    }
    if (cnt == 0) {
        free(out);
        return SCANN_OK;
    }
    qsort(out, (size_t)cnt, sizeof *out, cmp_row); /* flat_remove_locs wants increasing rows */
    *locs = out;
    *n = cnt;
    return SCANN_OK;
}

/* Backwards, filling each hole with the last row: rows still to be removed are never moved. */
static void flat_remove_locs(scann_index *ix, const int64_t *rows, int64_t n)
{
    flat *f = ix->impl;
    size_t d = (size_t)ix->p.dim;
    int64_t size = ix->ntotal;
    for (int64_t k = n - 1; k >= 0; k--) {
        int64_t r = rows[k], last = --size;
        if (idmap_built(&f->map)) {
            idmap_erase(&f->map, f->ids[r], r, flat_id_at, f);
            if (r != last) idmap_relocate(&f->map, f->ids[last], last, r);
        }
        if (r == last) continue;
        memcpy(f->x + (size_t)r * d, f->x + (size_t)last * d, d * sizeof(float));
        f->ids[r] = f->ids[last];
        if (f->norms) f->norms[r] = f->norms[last];
    }
}

static scann_status flat_reconstruct(scann_index *ix, int64_t id, float *out, int *found)
{
    flat *f = ix->impl;
    int64_t one[1] = {id};
    idset set;
    int64_t dup, *rows = NULL, n = 0;
    scann_status st = idset_build(&set, one, 1, &dup);
    if (!st) st = flat_collect(ix, &set, &rows, &n);
    idset_free(&set);
    *found = !st && n == 1;
    if (*found) memcpy(out, f->x + (size_t)rows[0] * ix->p.dim, (size_t)ix->p.dim * sizeof(float));
    free(rows);
    return st;
}

static const index_ops flat_ops = {flat_train,       flat_add,         flat_search, flat_memory,
                                   flat_destroy,     flat_save,        flat_load,   flat_collect,
                                   flat_remove_locs, flat_reconstruct, NULL};

scann_status flat_init(scann_index *ix)
{
    flat *f = calloc(1, sizeof *f);
    if (!f) return err_nomem("FLAT index", sizeof *f);
    ix->impl = f;
    ix->ops = &flat_ops;
    return SCANN_OK;
}

/* ---- persistence (container.h, docs/FORMAT.md) ------------------------------------------- */

/* Sections IDS (ntotal ids) and VECS (ntotal rows, normalised for cosine as held). Norms are
 * not stored: load recomputes them with this machine's kernel, as add would. */
static scann_status flat_save(const scann_index *ix, ctr_writer *w)
{
    const flat *f = ix->impl;
    size_t n = (size_t)ix->ntotal, d = (size_t)ix->p.dim;
    ctr_section(w, SEC_IDS, f->ids, n * sizeof(int64_t));
    return ctr_section(w, SEC_VECS, f->x, n * d * sizeof(float));
}

static scann_status flat_load(scann_index *ix, ctr_reader *r)
{
    flat *f = ix->impl;
    int64_t n = ix->ntotal;
    size_t d = (size_t)ix->p.dim;
    const uint8_t *ids, *x;
    scann_status st;
    if ((st = ctr_take(r, SEC_IDS, (uint64_t)n, sizeof(int64_t), &ids)) ||
        (st = ctr_take(r, SEC_VECS, (uint64_t)n, d * sizeof(float), &x)))
        return st;
    if (ctr_mapped(r)) {
        f->mapped = 1; /* cap stays 0: memory() counts the heap, not the mapping */
        f->ids = (int64_t *)ids;
        f->x = (float *)x;
        if (!index_uses_ip(ix) && n > 0 && !(f->norms = malloc((size_t)n * sizeof(float))))
            return err_nomem("FLAT norms", (size_t)n * sizeof(float));
    } else {
        if ((st = flat_reserve(ix, f, n))) return st;
        if (n > 0) {
            memcpy(f->ids, ids, (size_t)n * sizeof(int64_t));
            memcpy(f->x, x, (size_t)n * d * sizeof(float));
        }
    }
    for (int64_t i = 0; i < n; i++)
        if (f->ids[i] < 0)
            return ctr_fail(r, "section IDS (ids): id %lld is %lld, ids must be >= 0", (long long)i,
                            (long long)f->ids[i]);
    if ((st = ctr_check_finite(r, SEC_VECS, f->x, (size_t)n * d))) return st;
    if (!index_uses_ip(ix))
        for (int64_t i = 0; i < n; i++) {
            const float *row = f->x + (size_t)i * d;
            f->norms[i] = ix->dk->ip(row, row, d);
        }
    return SCANN_OK;
}
