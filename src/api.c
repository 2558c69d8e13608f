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

#include "collect.h"
#include "error.h"
#include "idset.h"
#include "index.h"
#include "ivf.h"
#include "kinds.h"
#include "spec.h"
#include "threads.h"

#define MAX_THREADS 4096
/* Largest squared norm accepted: 2^100 keeps every distance the kinds form (at most a few
 * times 16 * 2^100, residuals and codebooks included) far below FLT_MAX, so no score can
 * overflow to infinity and drop a result. */
#define MAX_NORM2 0x1p100

scann_status scann_index_create(const scann_index_params *p, scann_index **out)
{
    if (!p || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "params or out is NULL");
    scann_status st = params_check(p);
    return st ? st : index_new(p, out);
}

scann_status scann_index_create_from_spec(const char *spec, int dim, scann_metric metric,
                                          scann_index **out)
{
    scann_index_params p;
    scann_status st = scann_index_params_parse(spec, dim, metric, &p);
    return st ? st : scann_index_create(&p, out);
}

void scann_index_free(scann_index *ix) { index_delete(ix); }

/* ---- input checks shared by train, add and search -------------------------------------- */

/* A fast pass for the common row: its float sum of squares, in 8 independent lanes that the
 * compiler vectorizes, is finite and far below MAX_NORM2 (an infinity or NaN anywhere makes the
 * sum infinite or NaN). Float rounding cannot move a sum this far from its exact value, so such
 * a row passes the exact check below; any other row goes through it for its message. The
 * exact check alone, one component at a time in double, took 3% of a Fashion-MNIST search. */
static int row_plainly_fine(const float *row, int dim)
{
    float acc[8] = {0};
    int j = 0;
    for (; j + 8 <= dim; j += 8)
        for (int t = 0; t < 8; t++) acc[t] += row[j + t] * row[j + t];
    for (; j < dim; j++) acc[0] += row[j] * row[j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    return s < (float)(MAX_NORM2 / 4); /* false for NaN */
}

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
        if (row_plainly_fine(row, dim)) continue;
        double norm2 = 0;
        for (int j = 0; j < dim; j++) {
            if (!isfinite(row[j]))
                return err_set(SCANN_ERR_INVALID_DATA, "%s: vector %lld, component %d is %s", what,
                               (long long)i, j, isnan(row[j]) ? "NaN" : "infinite");
            norm2 += (double)row[j] * row[j];
        }
        if (norm2 > MAX_NORM2)
            return err_set(SCANN_ERR_INVALID_DATA,
                           "%s: vector %lld has squared norm %.3g, above the 2^100 (%.3g) that "
                           "keeps distances finite in float",
                           what, (long long)i, norm2, MAX_NORM2);
    }
    return SCANN_OK;
}

/* Cosine: unit-normalised copy in mem (zero vectors stay zero). Other metrics: *out = x. */
static scann_status maybe_normalize(const scann_index *ix, int64_t n, const float *x,
                                    const float **out, scratch *mem)
{
    *out = x;
    if (ix->p.metric != SCANN_METRIC_COSINE || n == 0) return SCANN_OK;
    size_t d = (size_t)ix->p.dim;
    float *y = scratch_alloc(mem, (size_t)n * d * sizeof(float));
    if (!y) return err_nomem("normalised copy", (size_t)n * d * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        const float *src = x + (size_t)i * d;
        float *dst = y + (size_t)i * d;
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)src[j] * src[j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (size_t j = 0; j < d; j++) dst[j] = src[j] * inv;
    }
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
    scratch mem; /* no cache: train and add are too long for a malloc to matter */
    scratch_begin(&mem, NULL);
    if (!(st = maybe_normalize(ix, n, x, &xs, &mem))) {
        pthread_rwlock_wrlock(&ix->lock);
        st = ix->ops->train(ix, n, xs);
        /* nprobe given with nlist left to train (about sqrt(n)) may exceed the nlist it chose. */
        if (!st && ix->p.nlist > 0 && ix->p.nprobe > ix->p.nlist) ix->p.nprobe = ix->p.nlist;
        pthread_rwlock_unlock(&ix->lock);
    }
    scratch_end(&mem);
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
    scratch mem;
    scratch_begin(&mem, NULL);
    st = maybe_normalize(ix, n, x, &xs, &mem);
    if (!st) st = add_locked(ix, n, xs, ids, own_ids);
    scratch_end(&mem);
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
    if (!(kind_get(ix->p.kind)->keys & KEY_LISTS)) return SCANN_OK;
    search_ctx all = *sc;
    all.nprobe = ix->p.nlist;
    if (all.reorder_k < k) all.reorder_k = k;
    size_t d = (size_t)ix->p.dim;
    scratch_mark m = scratch_save(sc->mem); /* each query reuses the same scratch */
    for (int64_t i = 0; i < nq; i++) {
        if (ids[i * k + k - 1] >= 0) continue;
        scann_status st =
            ix->ops->search(ix, 1, q + (size_t)i * d, k, &all, dist + i * k, ids + i * k);
        scratch_reset(sc->mem, m);
        if (st) return st;
    }
    return SCANN_OK;
}

/*
 * Threads worth using for a search. Starting and joining a thread costs tens of microseconds,
 * about what one query of a fast index takes, so splitting small calls across threads made a
 * loop of one-query searches 2x slower than one thread. The index's pool cuts that to a
 * wake-up, but on a loaded 2-core machine a one-query search on 2 pool threads was still
 * slower than on one (the second thread waits for a core). A call that does not set its own
 * num_threads gets one thread per SEARCH_NS_PER_THREAD of the kind's estimated work
 * (kinds.c), at most nthreads.
 */
#define SEARCH_NS_PER_THREAD 200000.0
static int search_threads(const scann_index *ix, int64_t nq, const search_ctx *sc)
{
    const scann_index_params *p = &ix->p;
    const kind_desc *kd = kind_get(p->kind);
    double d = p->dim, n = (double)ix->ntotal;
    double frac = 1.0; /* share of the vectors a query's lists hold */
    if ((kd->keys & KEY_LISTS) && p->nlist > 0)
        frac = sc->nprobe >= p->nlist ? 1.0 : (double)sc->nprobe / p->nlist;
    double rerank = p->reorder != SCANN_REORDER_NONE ? (double)sc->reorder_k * d * 0.3 : 0.0;
    double want = (double)nq * kd->query_ns(p, n * frac, rerank) / SEARCH_NS_PER_THREAD;
    return want >= sc->num_threads ? sc->num_threads : want < 1 ? 1 : (int)want;
}

/* Searches take the lock through a const handle: the lock, the pool and the scratch cache are
 * its mutable parts, each safe to share. */
static pthread_rwlock_t *lock_of(const scann_index *ix) { return (pthread_rwlock_t *)&ix->lock; }
static scratch_cache *scratch_of(const scann_index *ix) { return (scratch_cache *)&ix->scratch; }

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
    if (params->num_threads > MAX_THREADS)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: num_threads=%d is above %d",
                       params->num_threads, MAX_THREADS);
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

/* Every default of a search call, resolved in one place, under the read lock (tune changes the
 * index's) and on a trained index: nprobe (the call's, else the index's, else nlist / 16),
 * reorder_k (k-NN: the call's, else the index's but at least k, else 10 k; in 64 bits, as k
 * may be up to INT_MAX here and the kinds clamp it to ntotal), then threads: a count the call
 * asks for is used as given, the index's default is what small calls must not pay for. */
static scann_status resolve_defaults(const scann_index *ix, int64_t nq, int k, search_ctx *sc)
{
    if (kind_get(ix->p.kind)->keys & KEY_LISTS) {
        scann_status st = ivf_resolve_nprobe(sc->nprobe, ix->p.nprobe, ix->p.nlist, &sc->nprobe);
        if (st) return st;
    }
    if (k > 0 && sc->reorder_k == 0)
        sc->reorder_k = ix->p.reorder_k ? (ix->p.reorder_k > k ? ix->p.reorder_k : k)
                                        : (int)(10LL * k < INT_MAX ? 10LL * k : INT_MAX);
    if (sc->num_threads == 0) {
        sc->num_threads = ix->p.num_threads;
        sc->num_threads = search_threads(ix, nq, sc);
    }
    /* Several threads run on the index's pool, sized to its num_threads. */
    if (sc->num_threads > 1)
        sc->pool = par_pool_get((_Atomic(par_pool *) *)&ix->pool, ix->p.num_threads);
    return SCANN_OK;
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
    scratch mem;
    scratch_begin(&mem, scratch_of(ix));
    sc.mem = &mem;
    pthread_rwlock_rdlock(lock_of(ix));
    st = check_searchable(ix, k);
    if (!st) st = resolve_defaults(ix, nq, k, &sc);
    if (!st && nq > 0) st = maybe_normalize(ix, nq, q, &qs, &mem);
    if (!st && nq > 0) st = ix->ops->search(ix, nq, qs, k, &sc, dist, ids);
    if (!st && nq > 0 && sc.filter) st = filtered_fallback(ix, nq, qs, k, &sc, dist, ids);
    pthread_rwlock_unlock(lock_of(ix));
    scratch_end(&mem);
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
    scratch mem;
    scratch_begin(&mem, scratch_of(ix));
    sc.mem = &mem;
    pthread_rwlock_rdlock(lock_of(ix));
    if (!ix->trained)
        st = err_set(SCANN_ERR_NOT_TRAINED, "range_search: %s index is not trained",
                     scann_index_kind_name(ix->p.kind));
    if (!st) st = resolve_defaults(ix, nq, 0, &sc);
    if (!st && nq > 0 && ix->ntotal > 0) st = maybe_normalize(ix, nq, q, &qs, &mem);
    if (!st && nq > 0 && ix->ntotal > 0) st = ix->ops->search(ix, nq, qs, 0, &sc, NULL, NULL);
    pthread_rwlock_unlock(lock_of(ix));
    scratch_end(&mem);
    if (!st) st = range_gather(ix, nq, req.out, out);
    for (int64_t i = 0; i < nq; i++) range_list_free(&req.out[i]);
    free(req.out);
    return st;
}

scann_status scann_index_set_num_threads(scann_index *ix, int num_threads)
{
    if (!ix) return err_set(SCANN_ERR_INVALID_ARGUMENT, "set_num_threads: index is NULL");
    if (num_threads < 0 || num_threads > MAX_THREADS)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "set_num_threads: num_threads=%d is outside "
                       "[0, %d]",
                       num_threads, MAX_THREADS);
    /* Under the write lock: searches, adds and trains read it under theirs. */
    pthread_rwlock_wrlock(&ix->lock);
    ix->p.num_threads = num_threads ? num_threads : threads_online();
    par_pool_free(atomic_exchange(&ix->pool, NULL)); /* sized to the old count; none searches */
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
const char *scann_kernels_name(void) { return kernels_best()->name; }

scann_status scann_index_memory(const scann_index *ix, size_t *bytes)
{
    if (!ix || !bytes) return err_set(SCANN_ERR_INVALID_ARGUMENT, "index or bytes is NULL");
    pthread_rwlock_rdlock(lock_of(ix));
    *bytes = sizeof *ix + ix->ops->memory(ix) + scratch_cache_memory(&ix->scratch);
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
