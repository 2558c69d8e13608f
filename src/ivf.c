/* ivf.c - partitions, inverted lists, probing and the list-scan driver; see ivf.h. */
#include "ivf.h"

#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "error.h"
#include "hugemem.h"
#include "idset.h"
#include "kmeans.h"
#include "scratch.h"
#include "threads.h"

#define IVF_PROBE_QB 64    /* queries per sgemm probe block */
#define IVF_PROBE_MIN_NQ 8 /* below this, probe with the row kernel */

/* idmap_id_fn for an ivf: the id at an ivf_loc. */
static int64_t ivf_id_at(const void *ctx, int64_t loc)
{
    const ivf *v = ctx;
    return v->lists[ivf_loc_list(loc)].ids[ivf_loc_offset(loc)];
}

scann_status ivf_init(ivf *v, int nlist, int d, size_t code_size, size_t extra_size)
{
    memset(v, 0, sizeof *v);
    v->nlist = nlist;
    v->d = d;
    v->code_size = code_size;
    v->extra_size = extra_size;
    v->centres = calloc((size_t)nlist * d, sizeof(float));
    v->cnorm2 = calloc((size_t)nlist, sizeof(float));
    v->lists = calloc((size_t)nlist, sizeof(ivf_list));
    if (!v->centres || !v->cnorm2 || !v->lists) {
        ivf_free(v);
        return err_nomem("IVF centres and lists", (size_t)nlist * (d * 4 + 4 + sizeof(ivf_list)));
    }
    return SCANN_OK;
}

/* Whether list L's arrays are rooms of the slab (a list's three arrays always move together). */
static int in_slab(const ivf *v, const ivf_list *L)
{
    const uint8_t *p = (const uint8_t *)L->ids;
    return v->slab && p >= v->slab && p < v->slab + v->slab_bytes;
}

static void free_list(const ivf *v, ivf_list *L)
{
    if (in_slab(v, L)) return;
    free(L->ids);
    free(L->codes);
    free(L->extra);
}

void ivf_free(ivf *v)
{
    if (v->lists && !v->mapped)
        for (int l = 0; l < v->nlist; l++) free_list(v, &v->lists[l]);
    huge_free(v->slab, v->slab_bytes);
    free(v->lists);
    free(v->centres);
    free(v->cnorm2);
    idmap_free(&v->map);
    memset(v, 0, sizeof *v);
}

scann_status ivf_train(ivf *v, const float *x, int64_t n, int spherical, int64_t train_size,
                       int iters, uint64_t seed, int nthreads, const kernels *dk,
                       const poll_hook *poll)
{
    /* Defaults: 12 Lloyd iterations (ScaNN's choice); a sample of 100k points or 64 per
     * centre, whichever is larger (kmeans caps it at n). */
    if (iters <= 0) iters = 12;
    if (train_size <= 0) train_size = 64LL * v->nlist > 100000 ? 64LL * v->nlist : 100000;
    kmeans_opts o = {iters, spherical, train_size, seed, nthreads, dk, poll};
    scann_status st = kmeans_train(x, n, v->d, v->nlist, &o, v->centres, NULL);
    if (st) return st;
    for (int l = 0; l < v->nlist; l++) {
        const float *c = v->centres + (size_t)l * v->d;
        v->cnorm2[l] = dk->ip(c, c, (size_t)v->d);
    }
    return SCANN_OK;
}

scann_status ivf_assign(const ivf *v, const float *x, int64_t n, int nthreads, const kernels *dk,
                        int32_t *list)
{
    return kmeans_assign(x, n, v->d, v->d, v->centres, v->nlist, nthreads, dk, list, NULL);
}

scann_status ivf_assign_polled(const ivf *v, const float *x, int64_t n, int nthreads,
                               const kernels *dk, const poll_hook *poll, int32_t *list)
{
    /* Chunks of 64k vectors: tens of milliseconds each, and sgemm-sized. */
    const int64_t chunk = 65536;
    scann_status st = SCANN_OK;
    for (int64_t c = 0; c < n && !st; c += chunk) {
        int64_t m = n - c < chunk ? n - c : chunk;
        st = ivf_assign(v, x + (size_t)c * (size_t)v->d, m, nthreads, dk, list + c);
        if (!st) st = poll_progress(poll, (double)(c + m) / n);
    }
    return st;
}

/* Grow to at least need: exactly need for a bulk add (no slack in a freshly built index),
 * else by half again, so vector-at-a-time adds stay amortised O(1). */
static scann_status list_grow(ivf *v, ivf_list *L, int64_t need)
{
    int64_t cap = L->cap + L->cap / 2;
    if (cap < need) cap = need;
    if (in_slab(v, L)) { /* out of the slab into arrays of its own, all three or none */
        size_t n = (size_t)L->size;
        int64_t *ids = malloc((size_t)cap * sizeof(int64_t));
        uint8_t *codes = v->code_size ? malloc((size_t)cap * v->code_size) : NULL;
        uint8_t *extra = v->extra_size ? malloc((size_t)cap * v->extra_size) : NULL;
        if (!ids || (v->code_size && !codes) || (v->extra_size && !extra)) {
            free(ids), free(codes), free(extra);
            return err_nomem("IVF list", (size_t)cap * (8 + v->code_size + v->extra_size));
        }
        memcpy(ids, L->ids, n * sizeof(int64_t));
        if (codes) memcpy(codes, L->codes, n * v->code_size);
        if (extra) memcpy(extra, L->extra, n * v->extra_size);
        L->ids = ids, L->codes = codes, L->extra = extra, L->cap = cap;
        return SCANN_OK;
    }
    int64_t *ids = realloc(L->ids, (size_t)cap * sizeof(int64_t));
    if (!ids) return err_nomem("IVF list ids", (size_t)cap * 8);
    L->ids = ids;
    if (v->code_size) { /* SCANN keeps its codes in packed blocks instead: code_size 0 */
        uint8_t *codes = realloc(L->codes, (size_t)cap * v->code_size);
        if (!codes) return err_nomem("IVF list codes", (size_t)cap * v->code_size);
        L->codes = codes;
    }
    if (v->extra_size) {
        uint8_t *extra = realloc(L->extra, (size_t)cap * v->extra_size);
        if (!extra) return err_nomem("IVF list rerank rows", (size_t)cap * v->extra_size);
        L->extra = extra;
    }
    L->cap = cap;
    return SCANN_OK;
}

scann_status ivf_append(ivf *v, int32_t l, int64_t id, const uint8_t *code, const uint8_t *extra)
{
    ivf_list *L = &v->lists[l];
    if (L->size == 0xffffffffLL)
        return err_set(SCANN_ERR_UNSUPPORTED, "IVF list %d is full (2^32 - 1 vectors)", l);
    if (L->size == L->cap) {
        scann_status st = list_grow(v, L, L->size < 16 ? 16 : L->size + 1);
        if (st) return st;
    }
    L->ids[L->size] = id;
    if (idmap_built(&v->map)) idmap_insert(&v->map, id, ivf_loc(l, L->size));
    if (v->code_size) memcpy(L->codes + (size_t)L->size * v->code_size, code, v->code_size);
    if (v->extra_size) memcpy(L->extra + (size_t)L->size * v->extra_size, extra, v->extra_size);
    L->size++;
    return SCANN_OK;
}

void ivf_residuals(const ivf *v, const float *x, int64_t n, const int32_t *assign, float *out)
{
    size_t d = (size_t)v->d;
    for (int64_t i = 0; i < n; i++) {
        const float *c = v->centres + (size_t)assign[i] * d;
        for (size_t t = 0; t < d; t++) out[(size_t)i * d + t] = x[(size_t)i * d + t] - c[t];
    }
}

static size_t room_bytes(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

scann_status ivf_pack(ivf *v, const int64_t *more)
{
    size_t row = sizeof(int64_t) + v->code_size + v->extra_size, total = 0;
    for (int l = 0; l < v->nlist; l++) {
        size_t cap = (size_t)(v->lists[l].size + (more ? more[l] : 0));
        if (cap > ((size_t)1 << 40) / row) /* lists hold < 2^32 vectors: not for real sizes */
            return err_set(SCANN_ERR_UNSUPPORTED, "IVF list %d is too large to pack", l);
        total += room_bytes(cap * sizeof(int64_t)) + room_bytes(cap * v->code_size) +
                 room_bytes(cap * v->extra_size);
    }
    if (total < HUGE_MIN) return SCANN_OK;
    uint8_t *slab = huge_alloc(total), *at = slab;
    if (!slab) return err_nomem("IVF list slab", total);
    for (int l = 0; l < v->nlist; l++) {
        ivf_list *L = &v->lists[l];
        size_t cap = (size_t)(L->size + (more ? more[l] : 0)), n = (size_t)L->size;
        int64_t *ids = (int64_t *)(void *)at;
        at += room_bytes(cap * sizeof(int64_t));
        uint8_t *codes = v->code_size ? at : NULL;
        at += room_bytes(cap * v->code_size);
        uint8_t *extra = v->extra_size ? at : NULL;
        at += room_bytes(cap * v->extra_size);
        if (L->ids) { /* a list with no arrays yet only gets its room */
            memcpy(ids, L->ids, n * sizeof(int64_t));
            if (codes) memcpy(codes, L->codes, n * v->code_size);
            if (extra) memcpy(extra, L->extra, n * v->extra_size);
            free_list(v, L);
        }
        if (cap == 0) ids = NULL, codes = extra = NULL; /* a zero-size room may be the end */
        L->ids = ids, L->codes = codes, L->extra = extra, L->cap = (int64_t)cap;
    }
    huge_free(v->slab, v->slab_bytes);
    v->slab = slab;
    v->slab_bytes = total;
    return SCANN_OK;
}

scann_status ivf_reserve(ivf *v, const int32_t *assign, int64_t n)
{
    int64_t *count = calloc((size_t)v->nlist, sizeof(int64_t));
    if (!count) return err_nomem("IVF list counts", (size_t)v->nlist * 8);
    for (int64_t i = 0; i < n; i++) count[assign[i]]++;
    scann_status st = SCANN_OK;
    int64_t held = 0;
    for (int l = 0; l < v->nlist && !st; l++) {
        const ivf_list *L = &v->lists[l];
        if (L->size + count[l] > 0xffffffffLL)
            st = err_set(SCANN_ERR_UNSUPPORTED, "IVF list %d would exceed 2^32 - 1 vectors", l);
        held += L->size;
    }
    /* The first add into an empty index gets its rooms in a slab: nothing to copy, so no
     * transient second copy of the index either. Later adds grow lists one by one as before;
     * a list leaves the slab once, then grows as usual. (Repacking on later bulk adds would
     * hold the old lists and the new slab at once, up to 1.5x the index's memory while it
     * runs; a save and load packs everything again.) */
    if (!st && held == 0) st = ivf_pack(v, count);
    for (int l = 0; l < v->nlist && !st; l++) {
        ivf_list *L = &v->lists[l];
        if (L->size + count[l] > L->cap) st = list_grow(v, L, L->size + count[l]);
    }
    free(count);
    if (!st && idmap_built(&v->map)) st = idmap_reserve(&v->map, v->map.count + n, ivf_id_at, v);
    return st;
}

scann_status ivf_resolve_nlist(int requested, int64_t n, int *nlist)
{
    int64_t nl = requested;
    if (nl == 0) {
        nl = 1;
        while ((nl + 1) * (nl + 1) <= n) nl++;
    }
    if (nl > n)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "train: nlist=%lld is larger than the %lld training vectors", (long long)nl,
                       (long long)n);
    *nlist = (int)nl;
    return SCANN_OK;
}

scann_status ivf_resolve_nprobe(int call, int index_default, int nlist, int *nprobe)
{
    int np = call ? call : index_default;
    if (np == 0) np = nlist / 16 > 1 ? nlist / 16 : 1;
    if (np > nlist)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "search: nprobe=%d is larger than nlist=%d", np,
                       nlist);
    *nprobe = np;
    return SCANN_OK;
}

static int cmp_loc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Build the id map on first use: one pass over the stored ids. */
static scann_status ensure_map(ivf *v)
{
    if (idmap_built(&v->map)) return SCANN_OK;
    int64_t total = 0;
    for (int l = 0; l < v->nlist; l++) total += v->lists[l].size;
    scann_status st = idmap_reserve(&v->map, total, ivf_id_at, v);
    if (st) return st;
    for (int l = 0; l < v->nlist; l++)
        for (int64_t i = 0; i < v->lists[l].size; i++)
            idmap_insert(&v->map, v->lists[l].ids[i], ivf_loc(l, i));
    return SCANN_OK;
}

scann_status ivf_locate(ivf *v, int64_t id, int64_t *loc)
{
    scann_status st = ensure_map(v);
    if (!st) *loc = idmap_find(&v->map, id, ivf_id_at, v);
    return st;
}

scann_status ivf_collect(ivf *v, const idset *s, int64_t **locs, int64_t *n)
{
    *locs = NULL;
    *n = 0;
    scann_status st = ensure_map(v);
    if (st) return st;
    if (s->count == 0) return SCANN_OK;
    int64_t *out = malloc((size_t)s->count * sizeof(int64_t)), cnt = 0;
    if (!out) return err_nomem("removal locations", (size_t)s->count * 8);
    for (int64_t i = 0; i < s->cap; i++) {
        if (s->slot[i] < 0) continue;
        int64_t loc = idmap_find(&v->map, s->slot[i], ivf_id_at, v);
        if (loc >= 0) out[cnt++] = loc;
    }
    /* ivf_remove_locs wants increasing offsets within each list: ivf_loc order gives that. */
    qsort(out, (size_t)cnt, sizeof *out, cmp_loc);
    if (cnt == 0) {
        free(out);
        out = NULL;
    }
    *locs = out;
    *n = cnt;
    return SCANN_OK;
}

void ivf_remove_locs(ivf *v, const int64_t *locs, int64_t n,
                     void (*move)(void *ctx, int32_t l, int64_t from, int64_t to), void *ctx)
{
    /* Backwards: offsets fall within each list, so the last vector that fills a hole is never
     * one still waiting to be removed. */
    for (int64_t k = n - 1; k >= 0; k--) {
        int32_t l = ivf_loc_list(locs[k]);
        int64_t off = ivf_loc_offset(locs[k]);
        ivf_list *L = &v->lists[l];
        int64_t last = L->size - 1;
        if (idmap_built(&v->map)) {
            idmap_erase(&v->map, L->ids[off], locs[k], ivf_id_at, v);
            if (off != last) idmap_relocate(&v->map, L->ids[last], ivf_loc(l, last), locs[k]);
        }
        if (off != last) {
            L->ids[off] = L->ids[last];
            if (v->code_size)
                memcpy(L->codes + (size_t)off * v->code_size,
                       L->codes + (size_t)last * v->code_size, v->code_size);
            if (v->extra_size)
                memcpy(L->extra + (size_t)off * v->extra_size,
                       L->extra + (size_t)last * v->extra_size, v->extra_size);
        }
        if (move) move(ctx, l, last, off);
        L->size--;
    }
}

scann_status ivf_mark(const ivf *v, int64_t **sizes)
{
    *sizes = malloc((size_t)v->nlist * sizeof(int64_t));
    if (!*sizes) return err_nomem("IVF list sizes", (size_t)v->nlist * 8);
    for (int l = 0; l < v->nlist; l++) (*sizes)[l] = v->lists[l].size;
    return SCANN_OK;
}

void ivf_rollback(ivf *v, const int64_t *sizes,
                  void (*move)(void *ctx, int32_t l, int64_t from, int64_t to), void *ctx)
{
    /* Appended vectors sit at the ends of their lists: removing them moves nothing else. */
    for (int l = 0; l < v->nlist; l++) {
        ivf_list *L = &v->lists[l];
        while (L->size > sizes[l]) {
            int64_t loc = ivf_loc(l, L->size - 1);
            ivf_remove_locs(v, &loc, 1, move, ctx);
        }
    }
}

size_t ivf_memory(const ivf *v)
{
    size_t b = (size_t)v->nlist * ((size_t)v->d * sizeof(float) + sizeof(float) + sizeof(ivf_list));
    b += idmap_memory(&v->map) + v->slab_bytes;
    for (int l = 0; l < v->nlist; l++)
        if (!in_slab(v, &v->lists[l]))
            b += (size_t)v->lists[l].cap * (sizeof(int64_t) + v->code_size + v->extra_size);
    return b;
}

/* ---- probing ---------------------------------------------------------------------------- */

typedef struct probe_job {
    const ivf *v;
    const kernels *dk;
    const float *q;
    int64_t nq;
    int ip, nprobe;
    int32_t *lists;
    float *cscore;
    size_t per;     /* scratch floats per worker */
    float *scratch; /* per worker: probe_scratch_floats() */
} probe_job;

/* Per worker: qb * nlist scores (qb: queries per task, at most QB), then nlist selection keys
 * (2 floats each); rounded to 16 floats so every worker's keys stay 8-byte aligned. */
static size_t probe_scratch_floats(int64_t qb, int nlist)
{
    size_t f = (size_t)qb * nlist + (size_t)nlist * 2;
    return (f + 15) / 16 * 16;
}

/* A list's selection key: its score's bits mapped to an unsigned order (negative floats
 * reversed, -0 made +0 so it ties with +0, NaN last) above its id, so one integer compare
 * orders (score, id) as topk does: smaller score first, ties by smaller id. */
static inline uint64_t list_key(float s, int32_t l)
{
    uint32_t u;
    s += 0.0f; /* -0 + 0 = +0 */
    memcpy(&u, &s, sizeof u);
    u = u & 0x80000000u ? ~u : u | 0x80000000u;
    if (s != s) u = 0xffffffffu;
    return (uint64_t)u << 32 | (uint32_t)l;
}

static int cmp_key(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Reorder keys[0..n) so the k smallest (0 < k <= n) come first, in no order: quickselect with a
 * median-of-3 pivot and a branch-free Lomuto partition (the keys' order is random, so a branch
 * per key would mispredict half the time). */
static void select_keys(uint64_t *a, int n, int k)
{
    int lo = 0, hi = n - 1, depth = 64;
    while (hi - lo > 16 && depth-- > 0) {
        int mid = lo + (hi - lo) / 2;
        uint64_t x = a[lo], y = a[mid], z = a[hi], t;
        int pm = (x < y) == (y < z) ? mid : (y < x) == (x < z) ? lo : hi; /* median */
        t = a[lo], a[lo] = a[pm], a[pm] = t;
        uint64_t pivot = a[lo];
        int store = lo + 1;
        for (int i = lo + 1; i <= hi; i++) {
            uint64_t v = a[i];
            a[i] = a[store];
            a[store] = v;
            store += v < pivot;
        }
        int p = store - 1;
        t = a[lo], a[lo] = a[p], a[p] = t;
        if (p == k - 1) return;
        if (k - 1 < p)
            hi = p - 1;
        else
            lo = p + 1;
    }
    if (hi - lo > 16) { /* a bad case */
        qsort(a + lo, (size_t)(hi - lo + 1), sizeof *a, cmp_key);
        return;
    }
    /* At most 17 keys: an insertion sort, inline, rather than qsort's calls per compare (4% of
     * a Fashion-MNIST search, nprobe 6 of 256). */
    for (int i = lo + 1; i <= hi; i++) {
        uint64_t v = a[i];
        int t = i;
        for (; t > lo && a[t - 1] > v; t--) a[t] = a[t - 1];
        a[t] = v;
    }
}

/* When nprobe is a small part of nlist: put in keys[0..c) the keys of every list whose score
 * is at most t, a score that a sample puts a little above the nprobe-th best, and return c;
 * 0 when t lets fewer than nprobe lists in (about 1% of queries) or the case does not apply.
 * Every list kept by the full selection has a score at most t, so selecting from these c is
 * the same. The filter is one branch-free compare per list; building and partitioning all
 * nlist keys cost 6% of a SIFT-1M search (nprobe 24 of 1024). */
static int prefilter_lists(const float *s, int nlist, int np, uint64_t *keys)
{
    enum { NS = 64 }; /* sampled lists */
    if (nlist < 4 * NS || (int64_t)np * 8 > nlist) return 0;
    uint64_t smp[NS];
    for (int i = 0; i < NS; i++) {
        int l = (int)((int64_t)i * nlist / NS);
        smp[i] = list_key(s[l], l);
    }
    /* The r-th best sample: twice nprobe's share of the sample, plus 2. */
    int r = (int)(((int64_t)2 * np * NS + nlist - 1) / nlist) + 2, w = 0;
    select_keys(smp, NS, r);
    for (int i = 1; i < r; i++)
        if (smp[i] > smp[w]) w = i;
    float t = s[(uint32_t)smp[w]];
    int c = 0;
    for (int l = 0; l < nlist; l++) {
        keys[c] = (uint64_t)l;
        c += s[l] <= t; /* NaN scores (and a NaN t) never pass */
    }
    if (c < np) return 0;
    for (int i = 0; i < c; i++) keys[i] = list_key(s[keys[i]], (int32_t)keys[i]);
    return c;
}

/* Keep the nprobe best of one query's centre scores s[0..nlist), best first by (score, list
 * id): select on integer keys, then sort the nprobe chosen. On GloVe's nlist = 1024, nprobe =
 * 32 this costs about a third of a heap's pass (7 us per query), which mispredicted on every
 * update. */
static void select_lists(const probe_job *j, const float *s, int64_t qi, uint64_t *keys)
{
    int nlist = j->v->nlist, np = j->nprobe;
    int c = prefilter_lists(s, nlist, np, keys);
    if (c == 0) {
        for (int l = 0; l < nlist; l++) keys[l] = list_key(s[l], l);
        c = nlist;
    }
    if (np < c) select_keys(keys, c, np);
    if (np <= 64) {
        for (int i = 1; i < np; i++) { /* insertion sort: few keys, mostly short moves */
            uint64_t v = keys[i];
            int t = i;
            for (; t > 0 && keys[t - 1] > v; t--) keys[t] = keys[t - 1];
            keys[t] = v;
        }
    } else {
        qsort(keys, (size_t)np, sizeof *keys, cmp_key);
    }
    for (int p = 0; p < np; p++) {
        int32_t l = (int32_t)(uint32_t)keys[p];
        j->lists[qi * np + p] = l;
        j->cscore[qi * np + p] = s[l];
    }
}

static void probe_task(void *ctx, int64_t task, int worker)
{
    probe_job *j = ctx;
    const ivf *v = j->v;
    int d = v->d, nlist = v->nlist;
    float *S = j->scratch + (size_t)worker * j->per;
    int64_t q0 = task * IVF_PROBE_QB;
    int qb = (int)(j->nq - q0 < IVF_PROBE_QB ? j->nq - q0 : IVF_PROBE_QB);
    uint64_t *keys = (uint64_t *)(S + j->per - (size_t)nlist * 2); /* per is a multiple of 16 */
    const float *qblk = j->q + (size_t)q0 * d;
    if (j->nq < IVF_PROBE_MIN_NQ) {
        for (int i = 0; i < qb; i++) {
            float *s = S + (size_t)i * nlist;
            if (j->ip) {
                j->dk->ip_rows(qblk + (size_t)i * d, v->centres, (size_t)nlist, (size_t)d, s);
                for (int l = 0; l < nlist; l++) s[l] = -s[l];
            } else {
                j->dk->l2_rows(qblk + (size_t)i * d, v->centres, (size_t)nlist, (size_t)d, s);
            }
        }
    } else {
        blas_sgemm_abt(qb, nlist, d, qblk, d, v->centres, d, S, nlist);
        for (int i = 0; i < qb; i++) {
            float *s = S + (size_t)i * nlist;
            const float *qi = qblk + (size_t)i * d;
            if (j->ip) {
                for (int l = 0; l < nlist; l++) s[l] = -s[l];
            } else {
                float qn = j->dk->ip(qi, qi, (size_t)d);
                for (int l = 0; l < nlist; l++) {
                    float t = qn + v->cnorm2[l] - 2.0f * s[l];
                    s[l] = t > 0 ? t : 0;
                }
            }
        }
    }
    for (int i = 0; i < qb; i++) select_lists(j, S + (size_t)i * nlist, q0 + i, keys);
}

scann_status ivf_probe(const ivf *v, const kernels *dk, const float *q, int64_t nq, int ip,
                       int nprobe, int nthreads, par_pool *pool, scratch *mem, int32_t *lists,
                       float *cscore)
{
    int64_t ntasks = (nq + IVF_PROBE_QB - 1) / IVF_PROBE_QB;
    if (nthreads > ntasks) nthreads = (int)ntasks;
    size_t per = probe_scratch_floats(nq < IVF_PROBE_QB ? nq : IVF_PROBE_QB, v->nlist);
    float *scratch = scratch_alloc(mem, (size_t)nthreads * per * sizeof(float));
    if (!scratch) return err_nomem("probe scratch", (size_t)nthreads * per * sizeof(float));
    probe_job j = {v, dk, q, nq, ip, nprobe, lists, cscore, per, scratch};
    par_for(pool, nthreads, ntasks, probe_task, &j);
    return SCANN_OK;
}
