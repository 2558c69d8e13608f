/*
 * index.h - what every index kind shares: the handle behind scann_index and the small vtable
 * each kind fills (index_flat.c, index_ivf_*.c, index_scann.c; kinds.c lists them).
 *
 * Division of labour: api.c checks arguments (NULLs, dimension, NaN, k range), normalises
 * vectors for cosine, resolves per-call defaults and converts scores back to the user's
 * convention. A kind therefore sees only valid, already-normalised input, works in
 * "smaller is better" scores (L2 distance or minus the inner product) and never re-checks.
 */
#ifndef SCANN_INDEX_H
#define SCANN_INDEX_H

#include <pthread.h>

#include "kernels.h"
#include "poll.h"
#include "scann.h"
#include "scratch.h"
#include "threads.h"

struct ctr_writer;
struct ctr_reader;

struct range_list;

/* Range search (scann_index_range_search): every vector with internal score <= radius goes to
 * out[qi] (nq lists, collect.h), unsorted, with external ids as keys. */
typedef struct range_req {
    float radius;
    struct range_list *out;
} range_req;

/* Search knobs after defaults are resolved; see scann_search_params. */
typedef struct search_ctx {
    int nprobe;
    int reorder_k;
    int num_threads;
    const scann_search_params *filter; /* NULL = no filter; else its allow_* fields apply */
    const range_req *range;            /* NULL = k-NN; else a range search (k is unused) */
    par_pool *pool;                    /* the index's pool for par_for; NULL = threads per call */
    scratch *mem;                      /* the call's scratch (api.c ends it): nothing to free */
} search_ctx;

/* Whether a search may return this external id (search_ctx.filter). */
static inline int search_allows(const search_ctx *sc, int64_t id)
{
    const scann_search_params *f = sc->filter;
    if (!f) return 1;
    if (f->allow_bits && (id >= f->allow_nbits || !(f->allow_bits[id >> 6] >> (id & 63) & 1)))
        return 0;
    return !f->allow_fn || f->allow_fn(f->allow_user_data, id);
}

struct idset;

typedef struct index_ops {
    scann_status (*train)(scann_index *ix, int64_t n, const float *x);
    /* ids are final (api.c fills 0..n-1 style ids when the caller gave none). */
    scann_status (*add)(scann_index *ix, int64_t n, const float *x, const int64_t *ids);
    /* Writes nq * k internal scores (smaller is better) and ids; missing slots: +inf, -1. With
     * sc->range: fills the range lists instead (k, score and ids unused). */
    scann_status (*search)(const scann_index *ix, int64_t nq, const float *q, int k,
                           const search_ctx *sc, float *score, int64_t *ids);
    size_t (*memory)(const scann_index *ix);
    void (*destroy)(scann_index *ix);
    /* Persistence (persist.c, container.h, docs/FORMAT.md). save writes the kind's sections.
     * load fills an index just created from the file's parameters, with ntotal already set,
     * from validated sections; on failure the caller frees the index, so destroy must cope
     * with a partial load. Only trained indexes reach either. */
    scann_status (*save)(const scann_index *ix, struct ctr_writer *w);
    scann_status (*load)(scann_index *ix, struct ctr_reader *r);
    /* Updates. A location ("loc") is the kind's handle on a stored vector: a row for FLAT,
     * ivf_loc(list, offset) for the IVF kinds. collect finds the locations of the ids in the
     * set (malloc'ed array, in increasing order within each list) through the kind's id map
     * (idmap.h), which the first call builds; remove_locs deletes them and cannot fail. Adding
     * appends, so locations collected before an add stay valid. */
    scann_status (*collect)(scann_index *ix, const struct idset *set, int64_t **locs, int64_t *n);
    void (*remove_locs)(scann_index *ix, const int64_t *locs, int64_t n);
    /* The stored vector with this id, as the index can rebuild it (exact where it keeps float
     * rows, else its best approximation), into out (dim floats); *found = 0 when no vector
     * has the id. May build the id map: called under the write lock. */
    scann_status (*reconstruct)(scann_index *ix, int64_t id, float *out, int *found);
    /* The lowest format version that describes this index (persist.c), so that files which
     * need nothing newer stay readable by older readers; NULL: version 2. */
    uint32_t (*save_version)(const scann_index *ix);
} index_ops;

struct scann_index {
    scann_index_params p; /* as given, with defaults filled in */
    const index_ops *ops; /* the kind's implementation */
    const kernels *dk;    /* this CPU's kernel table (kernels.h), chosen once at create and
                            * handed to every stage */
    int64_t ntotal;       /* vectors stored */
    int64_t next_id;      /* above every id an add has used: automatic ids start here, so
                               * they never repeat one, even a removed one (saved in the file) */
    int trained;          /* train succeeded (FLAT: always 1) */
    void *impl;           /* the kind's own state */
    /* scann_index_load_mmap: the read-only file mapping the kind's arrays point into, unmapped
     * by scann_index_free after destroy; NULL otherwise. A mapped index rejects train/add. */
    void *map_base;
    size_t map_len;
    pthread_rwlock_t lock; /* searches share it; train, add and remove hold it alone */
    /* Reused by searches (threads.h, scratch.h): created on first use, freed with the index. */
    _Atomic(par_pool *) pool;
    scratch_cache scratch;
};

/* Metric as the kinds see it: cosine is inner product on normalised vectors. */
static inline int index_uses_ip(const scann_index *ix) { return ix->p.metric != SCANN_METRIC_L2; }

/* Internal score of q against one stored vector (smaller is better). */
static inline float index_score(const scann_index *ix, const float *q, const float *x)
{
    size_t d = (size_t)ix->p.dim;
    return index_uses_ip(ix) ? -ix->dk->ip(q, x, d) : ix->dk->l2(q, x, d);
}

/* The caller's progress callback as a poll hook for the part [lo, hi] of a call (poll.h). */
static inline poll_hook index_poll(const scann_index *ix, const char *stage, double lo, double hi)
{
    poll_hook h = {ix->p.progress, ix->p.progress_user_data, stage, lo, hi};
    return h;
}

/* Each kind's constructor (its row in kinds.c): sets ix->ops and ix->impl. */
scann_status flat_init(scann_index *ix);
scann_status ivfflat_init(scann_index *ix);
scann_status ivfpq_init(scann_index *ix);
scann_status ivffs_init(scann_index *ix);

#endif
