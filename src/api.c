/*
 * api.c - the public entry points: argument checks, cosine normalisation, defaults, and the
 * dispatch to the index kind's vtable (index.h says what a kind may assume).
 *
 * Every check happens before anything is modified, so a rejected call leaves the index as it
 * was. Messages name the argument and its value.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "collect.h"
#include "error.h"
#include "idset.h"
#include "index.h"
#include "pq.h"
#include "spec.h"
#include "threads.h"

#define SCANN_MAX_DIM 65536
#define SCANN_MAX_THREADS 4096
/* Largest squared norm accepted: 2^100 keeps every distance the kinds form (at most a few
 * times 16 * 2^100, residuals and codebooks included) far below FLT_MAX, so no score can
 * overflow to infinity and drop a result. */
#define SCANN_MAX_NORM2 0x1p100
/* SCANN's L2 codes by default: raw x (0) or the residual x - c (1); see README for the
 * measurements behind the choice. */
#define SCANN_DEFAULT_L2_RESIDUAL 0

scann_status scann_index_params_init(scann_index_params *p, scann_index_kind kind,
                                     scann_metric metric, int dim)
{
    if (!p) return err_set(SCANN_ERR_INVALID_ARGUMENT, "params is NULL");
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->metric = metric;
    p->dim = dim;
    p->seed = 1234;
    /* Inner products: chosen at train time from the data (avq_tune.c); L2: off. */
    p->aq_threshold = metric == SCANN_METRIC_L2 ? 0.0f : -1.0f;
    /* SCANN re-ranks with floats by default; IVF_PQ is the classic codes-only baseline. */
    p->reorder = kind == SCANN_INDEX_IVF_PQ ? SCANN_REORDER_NONE : SCANN_REORDER_FLOAT;
    p->l2_residual = SCANN_DEFAULT_L2_RESIDUAL;
    return SCANN_OK;
}

static scann_status check_params(const scann_index_params *p)
{
    if ((unsigned)p->kind > SCANN_INDEX_SCANN)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.kind=%d is not an index kind", p->kind);
    if ((unsigned)p->metric > SCANN_METRIC_COSINE)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.metric=%d is not a metric", p->metric);
    if (p->dim < 1 || p->dim > SCANN_MAX_DIM)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.dim=%d is outside [1, %d]", p->dim,
                       SCANN_MAX_DIM);
    if (p->num_threads < 0 || p->num_threads > SCANN_MAX_THREADS)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.num_threads=%d is outside [0, %d]",
                       p->num_threads, SCANN_MAX_THREADS);
    if (p->nlist < 0 || p->nprobe < 0 || p->train_size < 0 || p->kmeans_iters < 0 || p->pq_m < 0 ||
        p->dims_per_block < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "params: nlist=%d, train_size=%lld, kmeans_iters=%d, pq_m=%d, "
                       "dims_per_block=%d must not be negative",
                       p->nlist, (long long)p->train_size, p->kmeans_iters, p->pq_m,
                       p->dims_per_block);
    if (p->reorder_k < 0 || p->reorder_k > 1 << 30)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.reorder_k=%d is outside [0, 2^30]",
                       p->reorder_k);
    if ((unsigned)p->reorder > SCANN_REORDER_NONE)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.reorder=%d is not a reorder store",
                       p->reorder);
    if (p->l2_residual != 0 && p->l2_residual != 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.l2_residual=%d is not 0 or 1",
                       p->l2_residual);
    if (p->nlist > 0 && p->nprobe > p->nlist)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "params.nprobe=%d is larger than nlist=%d",
                       p->nprobe, p->nlist);
    return SCANN_OK;
}

scann_status scann_index_create(const scann_index_params *p, scann_index **out)
{
    if (!p || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "params or out is NULL");
    scann_status st = check_params(p);
    if (st) return st;
    scann_index *ix = calloc(1, sizeof *ix);
    if (!ix) return err_nomem("index", sizeof *ix);
    ix->p = *p;
    /* Only SCANN with L2 reads it: 0 elsewhere keeps describe and saved files canonical. */
    if (p->kind != SCANN_INDEX_SCANN || p->metric != SCANN_METRIC_L2) ix->p.l2_residual = 0;
    if (ix->p.num_threads == 0) ix->p.num_threads = threads_online();
    ix->dk = dist_kernels_for(cpu_best_isa());
    /* Writers first: a steady stream of searches must not starve an add (seen from Python). */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lock_failed = pthread_rwlock_init(&ix->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lock_failed) {
        free(ix);
        return err_set(SCANN_ERR_OUT_OF_MEMORY, "index: cannot create its lock");
    }
    switch (p->kind) {
    case SCANN_INDEX_FLAT: st = flat_init(ix); break;
    case SCANN_INDEX_IVF_FLAT: st = ivfflat_init(ix); break;
    case SCANN_INDEX_IVF_PQ: st = ivfpq_init(ix); break;
    default: st = ivffs_init(ix); break;
    }
    if (st) {
        pthread_rwlock_destroy(&ix->lock);
        free(ix);
        return st;
    }
    *out = ix;
    return SCANN_OK;
}

scann_status scann_index_create_from_spec(const char *spec, int dim, scann_metric metric,
                                          scann_index **out)
{
    scann_index_params p;
    scann_status st = scann_index_params_parse(spec, dim, metric, &p);
    return st ? st : scann_index_create(&p, out);
}

void scann_index_free(scann_index *ix)
{
    if (!ix) return;
    if (ix->ops) ix->ops->destroy(ix);
    if (ix->map_base) munmap(ix->map_base, ix->map_len); /* after destroy: arrays point in */
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

/* ---- input checks shared by train, add and search -------------------------------------- */

static scann_status check_vectors(const scann_index *ix, int64_t n, int dim, const float *x,
                                  const char *what)
{
    if (!ix) return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: index is NULL", what);
    if (n < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: n=%lld is negative", what, (long long)n);
    if (dim != ix->p.dim)
        return err_set(SCANN_ERR_DIMENSION, "%s: vectors have dimension %d, the index has %d", what,
                       dim, ix->p.dim);
    if (n > 0 && !x)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: vectors pointer is NULL", what);
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + (size_t)i * (size_t)dim;
        double norm2 = 0;
        for (int j = 0; j < dim; j++) {
            if (!isfinite(row[j]))
                return err_set(SCANN_ERR_INVALID_DATA, "%s: vector %lld, component %d is %s", what,
                               (long long)i, j, isnan(row[j]) ? "NaN" : "infinite");
            norm2 += (double)row[j] * row[j];
        }
        if (norm2 > SCANN_MAX_NORM2)
            return err_set(SCANN_ERR_INVALID_DATA,
                           "%s: vector %lld has squared norm %.3g, above the 2^100 (%.3g) that "
                           "keeps distances finite in float",
                           what, (long long)i, norm2, SCANN_MAX_NORM2);
    }
    return SCANN_OK;
}

/* Cosine: unit-normalised copy (zero vectors stay zero). Other metrics: *out = x, no copy. */
static scann_status maybe_normalize(const scann_index *ix, int64_t n, const float *x,
                                    const float **out, float **owned)
{
    *owned = NULL;
    *out = x;
    if (ix->p.metric != SCANN_METRIC_COSINE || n == 0) return SCANN_OK;
    size_t d = (size_t)ix->p.dim;
    float *y = malloc((size_t)n * d * sizeof(float));
    if (!y) return err_nomem("normalised copy", (size_t)n * d * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        const float *src = x + (size_t)i * d;
        float *dst = y + (size_t)i * d;
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)src[j] * src[j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (size_t j = 0; j < d; j++) dst[j] = src[j] * inv;
    }
    *owned = y;
    *out = y;
    return SCANN_OK;
}

scann_status scann_index_train(scann_index *ix, int64_t n, int dim, const float *x)
{
    scann_status st = check_vectors(ix, n, dim, x, "train");
    if (st) return st;
    if (ix->map_base)
        return err_set(SCANN_ERR_UNSUPPORTED, "train: read-only (memory-mapped) index");
    const float *xs;
    float *owned;
    if ((st = maybe_normalize(ix, n, x, &xs, &owned))) return st;
    pthread_rwlock_wrlock(&ix->lock);
    st = ix->ops->train(ix, n, xs);
    /* nprobe given with nlist left to train (about sqrt(n)) may exceed the nlist it chose. */
    if (!st && ix->p.nlist > 0 && ix->p.nprobe > ix->p.nlist) ix->p.nprobe = ix->p.nlist;
    pthread_rwlock_unlock(&ix->lock);
    free(owned);
    return st;
}

/*
 * Add under the write lock, replacing vectors whose ids already exist (upsert): find the old
 * copies first, add (all or nothing), then drop the old copies, a step that cannot fail. Adds
 * only append, so the locations found before the add still point at the old copies. Automatic
 * ids (auto_ids, filled here) come from next_id under the same lock, so two concurrent adds
 * never draw the same ids, and need no upsert check: no vector can hold them yet.
 */
static scann_status add_locked(scann_index *ix, int64_t n, const float *x, const int64_t *ids,
                               int64_t *auto_ids)
{
    idset set = {0};
    int64_t *old = NULL, nold = 0, dup = -1, max_id = -1;
    scann_status st = SCANN_OK;
    if (!auto_ids) {
        if ((st = idset_build(&set, ids, n, &dup))) return st;
        if (dup >= 0) {
            idset_free(&set);
            return err_set(SCANN_ERR_INVALID_ARGUMENT,
                           "add: ids[%lld]=%lld appears twice in this call", (long long)dup,
                           (long long)ids[dup]);
        }
        for (int64_t i = 0; i < n; i++)
            if (ids[i] > max_id) max_id = ids[i];
    }
    pthread_rwlock_wrlock(&ix->lock);
    if (auto_ids) {
        if (n > INT64_MAX - ix->next_id) {
            st = err_set(SCANN_ERR_INVALID_ARGUMENT,
                         "add: no automatic ids left (the next is %lld; pass ids)",
                         (long long)ix->next_id);
        } else {
            for (int64_t i = 0; i < n; i++) auto_ids[i] = ix->next_id + i;
            ids = auto_ids;
            max_id = ix->next_id + n - 1;
        }
    } else if (ix->ntotal > 0) {
        st = ix->ops->collect(ix, &set, &old, &nold);
    }
    if (!st) st = ix->ops->add(ix, n, x, ids);
    if (!st) {
        if (nold > 0) {
            ix->ops->remove_locs(ix, old, nold);
            ix->ntotal -= nold;
        }
        if (max_id >= ix->next_id) ix->next_id = max_id < INT64_MAX ? max_id + 1 : INT64_MAX;
    }
    pthread_rwlock_unlock(&ix->lock);
    free(old);
    idset_free(&set);
    return st;
}

scann_status scann_index_remove(scann_index *ix, int64_t n, const int64_t *ids, int64_t *removed)
{
    if (!ix) return err_set(SCANN_ERR_INVALID_ARGUMENT, "remove: index is NULL");
    if (n < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "remove: n=%lld is negative", (long long)n);
    if (n > 0 && !ids) return err_set(SCANN_ERR_INVALID_ARGUMENT, "remove: ids is NULL");
    if (removed) *removed = 0;
    if (n == 0) return SCANN_OK;
    if (ix->map_base)
        return err_set(SCANN_ERR_UNSUPPORTED, "remove: read-only (memory-mapped) index");
    idset set;
    int64_t dup, *locs = NULL, nlocs = 0;
    scann_status st = idset_build(&set, ids, n, &dup);
    if (st) return st;
    pthread_rwlock_wrlock(&ix->lock);
    if (ix->trained && ix->ntotal > 0) st = ix->ops->collect(ix, &set, &locs, &nlocs);
    if (!st && nlocs > 0) {
        ix->ops->remove_locs(ix, locs, nlocs);
        ix->ntotal -= nlocs;
    }
    pthread_rwlock_unlock(&ix->lock);
    if (!st && removed) *removed = nlocs;
    free(locs);
    idset_free(&set);
    return st;
}

scann_status scann_index_reconstruct(const scann_index *ix, int64_t n, const int64_t *ids,
                                     float *out)
{
    if (!ix) return err_set(SCANN_ERR_INVALID_ARGUMENT, "reconstruct: index is NULL");
    if (n < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "reconstruct: n=%lld is negative", (long long)n);
    if (n > 0 && (!ids || !out))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "reconstruct: ids or out is NULL");
    scann_status st = SCANN_OK;
    /* The write lock, through the const handle as searches take the read lock: the first call
     * may build the kind's id map, the index's only change. */
    scann_index *w = (scann_index *)ix;
    pthread_rwlock_wrlock(&w->lock);
    for (int64_t i = 0; i < n && !st; i++) {
        int found = 0;
        if (w->trained) st = w->ops->reconstruct(w, ids[i], out + (size_t)i * w->p.dim, &found);
        if (!st && !found)
            st = err_set(SCANN_ERR_INVALID_ARGUMENT,
                         "reconstruct: ids[%lld]=%lld is not in the index", (long long)i,
                         (long long)ids[i]);
    }
    pthread_rwlock_unlock(&w->lock);
    return st;
}

scann_status scann_index_add(scann_index *ix, int64_t n, int dim, const float *x,
                             const int64_t *ids)
{
    scann_status st = check_vectors(ix, n, dim, x, "add");
    if (st) return st;
    if (ix->map_base) return err_set(SCANN_ERR_UNSUPPORTED, "add: read-only (memory-mapped) index");
    if (!ix->trained)
        return err_set(SCANN_ERR_NOT_TRAINED, "add: %s index must be trained before add",
                       scann_index_kind_name(ix->p.kind));
    if (n == 0) return SCANN_OK;
    if (ids)
        for (int64_t i = 0; i < n; i++)
            if (ids[i] < 0)
                return err_set(SCANN_ERR_INVALID_ARGUMENT, "add: ids[%lld]=%lld is negative",
                               (long long)i, (long long)ids[i]);
    int64_t *own_ids = NULL;
    if (!ids && !(own_ids = malloc((size_t)n * sizeof(int64_t))))
        return err_nomem("ids", (size_t)n * sizeof(int64_t));
    const float *xs;
    float *owned = NULL;
    st = maybe_normalize(ix, n, x, &xs, &owned);
    if (!st) st = add_locked(ix, n, xs, ids, own_ids);
    free(owned);
    free(own_ids);
    return st;
}

/*
 * A selective filter can leave a query's probed lists with fewer than k allowed vectors. Such a
 * query is searched again over every list, which finds all allowed vectors' candidates; for
 * FLAT the first search already saw every vector.
 */
static scann_status filtered_fallback(const scann_index *ix, int64_t nq, const float *q, int k,
                                      const search_ctx *sc, float *dist, int64_t *ids)
{
    if (ix->p.kind == SCANN_INDEX_FLAT) return SCANN_OK;
    search_ctx all = *sc;
    all.nprobe = ix->p.nlist;
    if (all.reorder_k < k) all.reorder_k = k;
    size_t d = (size_t)ix->p.dim;
    for (int64_t i = 0; i < nq; i++) {
        if (ids[i * k + k - 1] >= 0) continue;
        scann_status st =
            ix->ops->search(ix, 1, q + (size_t)i * d, k, &all, dist + i * k, ids + i * k);
        if (st) return st;
    }
    return SCANN_OK;
}

/*
 * Threads worth using for a search. Starting and joining a thread costs tens of microseconds,
 * about what one query of a fast index takes, so splitting small calls across threads made a
 * loop of one-query searches 2x slower than one thread. A call that does not set its own
 * num_threads gets one thread per SEARCH_NS_PER_THREAD of estimated work, at most nthreads.
 * The estimate counts the elements a query touches times a per-element cost: float rows
 * ~0.3 ns per dimension and 8-bit PQ ~1.4 ns per byte (from one-query timings on Fashion-MNIST,
 * one AVX-512 core, 2026), 4-bit FastScan ~0.05 ns per byte (an estimate, not timed). Being
 * off by 2x only moves the point where a second thread starts.
 */
#define SEARCH_NS_PER_THREAD 200000.0
static int search_threads(const scann_index *ix, int64_t nq, const search_ctx *sc)
{
    const scann_index_params *p = &ix->p;
    double d = p->dim, n = (double)ix->ntotal, per_q;
    double frac = 1.0; /* share of the vectors a query's lists hold */
    if (p->kind != SCANN_INDEX_FLAT && p->nlist > 0) {
        int np = sc->nprobe  ? sc->nprobe
                 : p->nprobe ? p->nprobe
                             : (p->nlist / 16 > 1 ? p->nlist / 16 : 1);
        frac = np >= p->nlist ? 1.0 : (double)np / p->nlist;
    }
    double rerank = p->reorder != SCANN_REORDER_NONE ? (double)sc->reorder_k * d * 0.3 : 0.0;
    switch (p->kind) {
    case SCANN_INDEX_FLAT: per_q = n * d * 0.3; break;
    case SCANN_INDEX_IVF_FLAT: per_q = n * frac * d * 0.3; break;
    case SCANN_INDEX_IVF_PQ: per_q = n * frac * (p->pq_m ? p->pq_m : d / 4) * 1.4 + rerank; break;
    default:
        per_q = n * frac *
                    (d / (2.0 * (p->dims_per_block ? p->dims_per_block
                                                   : pq_default_dims_per_block(p->dim)))) *
                    0.05 +
                rerank + d * 16 * 2.0; /* tables: 16 entries a block */
    }
    double want = (double)nq * per_q / SEARCH_NS_PER_THREAD;
    return want >= sc->num_threads ? sc->num_threads : want < 1 ? 1 : (int)want;
}

/* Searches take the lock through a const handle: the lock is the one mutable part of it. */
static pthread_rwlock_t *lock_of(const scann_index *ix) { return (pthread_rwlock_t *)&ix->lock; }

/* Checks of the index's state for a search; called under the read lock. */
static scann_status check_searchable(const scann_index *ix, int k)
{
    if (!ix->trained)
        return err_set(SCANN_ERR_NOT_TRAINED, "search: %s index is not trained",
                       scann_index_kind_name(ix->p.kind));
    if (ix->ntotal == 0) return err_set(SCANN_ERR_EMPTY, "search: the index holds no vectors");
    if (k < 1 || k > ix->ntotal)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: k=%d is outside [1, %lld] (ntotal)", k,
                       (long long)ix->ntotal);
    return SCANN_OK;
}

/* The call's search params into *sc (defaults still 0); k = 0 for a range search. */
static scann_status parse_search_params(const scann_search_params *params, int k, search_ctx *sc)
{
    memset(sc, 0, sizeof *sc);
    if (!params) return SCANN_OK;
    if (params->nprobe < 0 || params->reorder_k < 0 || params->num_threads < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "search: nprobe=%d, reorder_k=%d, num_threads=%d must not be negative",
                       params->nprobe, params->reorder_k, params->num_threads);
    if (params->num_threads > SCANN_MAX_THREADS)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: num_threads=%d is above %d",
                       params->num_threads, SCANN_MAX_THREADS);
    if (k > 0 && params->reorder_k > 0 && params->reorder_k < k)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: reorder_k=%d is smaller than k=%d",
                       params->reorder_k, k);
    if (params->allow_bits && params->allow_nbits < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: allow_nbits=%lld is negative",
                       (long long)params->allow_nbits);
    sc->nprobe = params->nprobe;
    sc->reorder_k = params->reorder_k;
    sc->num_threads = params->num_threads;
    if (params->allow_bits || params->allow_fn) sc->filter = params;
    return SCANN_OK;
}

/* A count the call asks for is used as given; the index's default is what small calls must
 * not pay for. Under the read lock. */
static void resolve_threads(const scann_index *ix, int64_t nq, search_ctx *sc)
{
    if (sc->num_threads) return;
    sc->num_threads = ix->p.num_threads;
    sc->num_threads = search_threads(ix, nq, sc);
}

scann_status scann_index_search(const scann_index *ix, int64_t nq, int dim, const float *q, int k,
                                const scann_search_params *params, float *dist, int64_t *ids)
{
    scann_status st = check_vectors(ix, nq, dim, q, "search");
    if (st) return st;
    if (k < 1) return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: k=%d must be at least 1", k);
    if (nq > 0 && (!dist || !ids))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: dist or ids output is NULL");
    search_ctx sc;
    if ((st = parse_search_params(params, k, &sc))) return st;
    const float *qs;
    float *owned = NULL;
    pthread_rwlock_rdlock(lock_of(ix));
    /* Under the lock: scann_index_tune changes the index's reorder_k. In 64 bits: k may be up
     * to INT_MAX here (checked against ntotal below), and the kinds clamp reorder_k to ntotal. */
    if (sc.reorder_k == 0)
        sc.reorder_k = ix->p.reorder_k ? (ix->p.reorder_k > k ? ix->p.reorder_k : k)
                                       : (int)(10LL * k < INT_MAX ? 10LL * k : INT_MAX);
    resolve_threads(ix, nq, &sc);
    st = check_searchable(ix, k);
    if (!st && nq > 0) st = maybe_normalize(ix, nq, q, &qs, &owned);
    if (!st && nq > 0) st = ix->ops->search(ix, nq, qs, k, &sc, dist, ids);
    if (!st && nq > 0 && sc.filter) st = filtered_fallback(ix, nq, qs, k, &sc, dist, ids);
    pthread_rwlock_unlock(lock_of(ix));
    free(owned);
    if (st) return st;
    if (index_uses_ip(ix))
        for (size_t i = 0; i < (size_t)nq * (size_t)k; i++) dist[i] = -dist[i];
    return SCANN_OK;
}

void scann_range_result_free(scann_range_result *r)
{
    if (!r) return;
    free(r->lims);
    free(r->dist);
    free(r->ids);
    free(r);
}

/* The nq sorted lists as one result in the user's convention. */
static scann_status range_gather(const scann_index *ix, int64_t nq, range_list *lists,
                                 scann_range_result **out)
{
    int64_t total = 0;
    for (int64_t i = 0; i < nq; i++) {
        if (lists[i].n > INT_MAX)
            return err_set(SCANN_ERR_UNSUPPORTED,
                           "range_search: query %lld matches %lld vectors, above 2^31 - 1",
                           (long long)i, (long long)lists[i].n);
        total += lists[i].n;
    }
    scann_range_result *r = calloc(1, sizeof *r);
    if (r) {
        r->nq = nq;
        r->lims = malloc((size_t)(nq + 1) * sizeof(int64_t));
        r->dist = malloc((size_t)(total ? total : 1) * sizeof(float));
        r->ids = malloc((size_t)(total ? total : 1) * sizeof(int64_t));
    }
    if (!r || !r->lims || !r->dist || !r->ids) {
        scann_range_result_free(r);
        return err_nomem("range search result", (size_t)total * 12);
    }
    r->lims[0] = 0;
    for (int64_t i = 0; i < nq; i++) {
        range_list *l = &lists[i];
        topk_sort_pairs(l->score, l->key, (int)l->n);
        int64_t o = r->lims[i];
        for (int64_t c = 0; c < l->n; c++) {
            r->dist[o + c] = index_uses_ip(ix) ? -l->score[c] : l->score[c];
            r->ids[o + c] = l->key[c];
        }
        r->lims[i + 1] = o + l->n;
    }
    *out = r;
    return SCANN_OK;
}

scann_status scann_index_range_search(const scann_index *ix, int64_t nq, int dim, const float *q,
                                      float radius, const scann_search_params *params,
                                      scann_range_result **out)
{
    scann_status st = check_vectors(ix, nq, dim, q, "range_search");
    if (st) return st;
    if (!out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "range_search: out is NULL");
    if (radius != radius) return err_set(SCANN_ERR_INVALID_ARGUMENT, "range_search: radius is NaN");
    search_ctx sc;
    if ((st = parse_search_params(params, 0, &sc))) return st;
    /* Internal scores are smaller-is-better and the bound is strict: the largest float below
     * radius (L2) or below -radius (-similarity). */
    range_req req = {nextafterf(index_uses_ip(ix) ? -radius : radius, -INFINITY), NULL};
    if (!(req.out = calloc((size_t)(nq ? nq : 1), sizeof(range_list))))
        return err_nomem("range lists", (size_t)nq * sizeof(range_list));
    sc.range = &req;
    const float *qs;
    float *owned = NULL;
    pthread_rwlock_rdlock(lock_of(ix));
    resolve_threads(ix, nq, &sc);
    if (!ix->trained)
        st = err_set(SCANN_ERR_NOT_TRAINED, "range_search: %s index is not trained",
                     scann_index_kind_name(ix->p.kind));
    if (!st && nq > 0 && ix->ntotal > 0) st = maybe_normalize(ix, nq, q, &qs, &owned);
    if (!st && nq > 0 && ix->ntotal > 0) st = ix->ops->search(ix, nq, qs, 0, &sc, NULL, NULL);
    pthread_rwlock_unlock(lock_of(ix));
    free(owned);
    if (!st) st = range_gather(ix, nq, req.out, out);
    for (int64_t i = 0; i < nq; i++) range_list_free(&req.out[i]);
    free(req.out);
    return st;
}

scann_status scann_index_set_num_threads(scann_index *ix, int num_threads)
{
    if (!ix) return err_set(SCANN_ERR_INVALID_ARGUMENT, "set_num_threads: index is NULL");
    if (num_threads < 0 || num_threads > SCANN_MAX_THREADS)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "set_num_threads: num_threads=%d is outside "
                       "[0, %d]",
                       num_threads, SCANN_MAX_THREADS);
    /* Under the write lock: searches, adds and trains read it under theirs. */
    pthread_rwlock_wrlock(&ix->lock);
    ix->p.num_threads = num_threads ? num_threads : threads_online();
    pthread_rwlock_unlock(&ix->lock);
    return SCANN_OK;
}

/* ---- inspection ------------------------------------------------------------------------- */

/* Fields an add, remove or train changes are read under the read lock. dim, kind and metric
 * never change after create. */
int64_t scann_index_ntotal(const scann_index *ix)
{
    if (!ix) return 0;
    pthread_rwlock_rdlock(lock_of(ix));
    int64_t n = ix->ntotal;
    pthread_rwlock_unlock(lock_of(ix));
    return n;
}

int scann_index_is_trained(const scann_index *ix)
{
    if (!ix) return 0;
    pthread_rwlock_rdlock(lock_of(ix));
    int t = ix->trained;
    pthread_rwlock_unlock(lock_of(ix));
    return t;
}

int scann_index_dim(const scann_index *ix) { return ix ? ix->p.dim : 0; }
scann_index_kind scann_index_get_kind(const scann_index *ix) { return ix ? ix->p.kind : 0; }
scann_metric scann_index_get_metric(const scann_index *ix) { return ix ? ix->p.metric : 0; }
const char *scann_index_kernel_name(const scann_index *ix) { return ix ? ix->dk->name : ""; }
const char *scann_kernels_name(void) { return cpu_isa_name(cpu_best_isa()); }

scann_status scann_index_memory(const scann_index *ix, size_t *bytes)
{
    if (!ix || !bytes) return err_set(SCANN_ERR_INVALID_ARGUMENT, "index or bytes is NULL");
    pthread_rwlock_rdlock(lock_of(ix));
    *bytes = sizeof *ix + ix->ops->memory(ix);
    pthread_rwlock_unlock(lock_of(ix));
    return SCANN_OK;
}

scann_status scann_index_describe(const scann_index *ix, char *buf, size_t buflen)
{
    if (!ix || !buf || buflen == 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "index or buffer is NULL/empty");
    pthread_rwlock_rdlock(lock_of(ix));
    scann_index_params p = ix->p;
    pthread_rwlock_unlock(lock_of(ix));
    return spec_describe(&p, buf, buflen);
}
