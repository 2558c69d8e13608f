/*
 * ivf.h - partitions and inverted lists shared by IVF_FLAT, IVF_PQ and SCANN.
 *
 * A trained ivf has nlist centres. Each list holds, for its vectors in insertion order, the
 * external id, a fixed-size code (the kind's codec: floats for IVF_FLAT, PQ bytes for IVF_PQ)
 * and an optional fixed-size "extra" row (rerank data), all at the same offset, so a candidate
 * is fully identified by (list, offset): ivf_loc packs the pair into the int64 a topk slot
 * carries until the final answer needs the external id.
 *
 * Database vectors go to their nearest centre by L2; queries choose lists by the search metric
 * (largest <q, c> for inner product / cosine), as ScaNN and faiss do.
 */
#ifndef SCANN_IVF_H
#define SCANN_IVF_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "idmap.h"
#include "poll.h"
#include "scann.h"
#include "topk.h"

typedef struct ivf_list {
    int64_t *ids;   /* size external ids */
    uint8_t *codes; /* size * code_size bytes */
    uint8_t *extra; /* size * extra_size bytes, NULL when extra_size == 0 */
    int64_t size;   /* vectors in the list */
    int64_t cap;    /* vectors the buffers can hold */
} ivf_list;

typedef struct ivf {
    int nlist;
    int d;
    size_t code_size;  /* bytes of codec payload per vector */
    size_t extra_size; /* bytes of rerank row per vector (0 = none) */
    float *centres;    /* nlist x d */
    float *cnorm2;     /* nlist squared norms (L2 probing through sgemm) */
    ivf_list *lists;   /* nlist lists */
    int mapped;        /* list arrays point into a read-only file mapping (ivf_io.c): ivf_free
                        * leaves them alone, and nothing may append */
    idmap map;         /* id -> ivf_loc, built by the first ivf_collect (idmap.h) */
    uint8_t *slab;     /* one huge_alloc buffer (hugemem.h) holding the arrays of the lists
                        * ivf_pack placed there (the first add into an empty index, a load); a
                        * list that outgrows its room there moves to malloc'd arrays of its
                        * own, and its old room stays dead until the index is freed */
    size_t slab_bytes;
} ivf;

static inline int64_t ivf_loc(int32_t list, int64_t offset) { return (int64_t)list << 32 | offset; }
static inline int32_t ivf_loc_list(int64_t loc) { return (int32_t)(loc >> 32); }
static inline int64_t ivf_loc_offset(int64_t loc) { return loc & 0xffffffffLL; }

/* Allocate centres and empty lists. Frees nothing on failure beyond what it allocated. */
scann_status ivf_init(ivf *v, int nlist, int d, size_t code_size, size_t extra_size);
void ivf_free(ivf *v);

/* Persistence (ivf_io.c, docs/FORMAT.md): sections CENT, LSIZ, IDS, then CODE (code_size > 0)
 * and RROW (extra_size > 0), lists concatenated in list order. ivf_load rebuilds v from them:
 * list sizes must sum to n and each fit 2^32 - 1, ids must be >= 0, centres finite; cnorm2 is
 * recomputed with dk. Lists point into a mapping (v->mapped set, cap 0) or own exact-size
 * copies (cap = size). On failure v is released and zeroed. */
struct ctr_writer;
struct ctr_reader;
scann_status ivf_save(struct ctr_writer *w, const ivf *v);
scann_status ivf_load(struct ctr_reader *r, ivf *v, int nlist, int d, int64_t n, const kernels *dk,
                      size_t code_size, size_t extra_size);

/* k-means on (a sample of) x; spherical for inner-product metrics. */
scann_status ivf_train(ivf *v, const float *x, int64_t n, int spherical, int64_t train_size,
                       int iters, uint64_t seed, int nthreads, const kernels *dk,
                       const poll_hook *poll);

/* Nearest centre (L2) of each of n vectors. */
scann_status ivf_assign(const ivf *v, const float *x, int64_t n, int nthreads, const kernels *dk,
                        int32_t *list);

/* ivf_assign in chunks, polling between them (poll may be NULL). */
scann_status ivf_assign_polled(const ivf *v, const float *x, int64_t n, int nthreads,
                               const kernels *dk, const poll_hook *poll, int32_t *list);

/* out[i] = x[i] - centre(assign[i]) for n rows: what IVF_PQ and SCANN encode. */
void ivf_residuals(const ivf *v, const float *x, int64_t n, const int32_t *assign, float *out);

/* Make room for n more vectors assigned to lists assign[0..n): after it succeeds, ivf_append
 * of those vectors cannot fail, so an add either happens whole or not at all. */
scann_status ivf_reserve(ivf *v, const int32_t *assign, int64_t n);

/* Move every list's arrays into one new slab with room for more[l] (NULL: 0) more vectors each,
 * when that slab would reach HUGE_MIN bytes (else nothing changes): random row reads then stay
 * within a few huge pages' TLB entries. Lists with no arrays yet (NULL ids) just get their room.
 * On failure nothing changes. */
scann_status ivf_pack(ivf *v, const int64_t *more);

/* Append one vector's id, code and extra row to list l (grows by doubling). */
scann_status ivf_append(ivf *v, int32_t l, int64_t id, const uint8_t *code, const uint8_t *extra);

/* Heap bytes of centres and lists (capacity, not size: what the process really holds). */
size_t ivf_memory(const ivf *v);

struct par_pool;
struct scratch;
/*
 * The nprobe best lists of each query, best first: lists[q * nprobe + j] and cscore, the
 * internal score of that centre (||q - c||^2 for L2, -<q, c> for inner product). Batches go
 * through sgemm; a few queries use the row kernel. Threads from pool (may be NULL), scratch
 * from mem.
 */
scann_status ivf_probe(const ivf *v, const kernels *dk, const float *q, int64_t nq, int ip,
                       int nprobe, int nthreads, struct par_pool *pool, struct scratch *mem,
                       int32_t *lists, float *cscore);

/* ---- build (ivf_build.c) ----------------------------------------------------------------- */

struct rerank_store;
struct scann_index;

/*
 * A kind's list codec, train side. ivf_build_train checks the index is empty and n >= min_n,
 * resolves nlist, initialises *v (code_size bytes per vector in the lists, 0 when the kind
 * keeps its codes elsewhere) and trains its partitions; then, when train_codes is set, samples
 * `sample` rows (seed + 1), forms their residuals when `residual` (assign gets their lists;
 * else assign is NULL), calls train_codes (rows: what the lists will encode; x: the sample
 * itself), and sets up *rr (when not NULL) and the lists' rerank row size. The caller swaps
 * the trained state in on success and frees it on failure.
 */
typedef struct ivf_trainer {
    void *ctx; /* the kind's fresh state */
    ivf *v;    /* its partitions */
    size_t code_size;
    int64_t min_n;
    double kmeans_share; /* of the train's progress */
    int64_t sample;
    int residual;
    scann_status (*train_codes)(void *ctx, const struct scann_index *ix, const float *rows,
                                const float *x, int64_t n, const int32_t *assign,
                                const poll_hook *poll);
    struct rerank_store *rr;
} ivf_trainer;

/*
 * A kind's list codec, add side. ivf_build_add assigns every vector to its nearest list,
 * reserves room (lists, then reserve() for what the kind keeps outside them), and then, chunk
 * by chunk, encodes (encode: rows = residuals when `residual`, else x; NULL = the code is the
 * float vector itself) and appends; place(), when set, stores what the kind keeps outside the
 * list for the vector about to take `slot` of list l and fills its rerank row, else the row is
 * rerank_encode(rr, x). A failure or cancel rolls back (move as ivf_rollback's).
 */
typedef struct ivf_adder {
    void *ctx;
    ivf *v;
    int residual;
    size_t code_bytes; /* encode's output per vector */
    const struct rerank_store *rr;
    scann_status (*reserve)(void *ctx, const int32_t *assign, int64_t n);
    scann_status (*encode)(void *ctx, const struct scann_index *ix, const float *rows,
                           const float *x, int64_t n, uint8_t *codes);
    void (*place)(void *ctx, int32_t l, int64_t slot, const uint8_t *code, const float *x,
                  uint8_t *row);
    void (*move)(void *ctx, int32_t l, int64_t from, int64_t to);
} ivf_adder;

scann_status ivf_build_train(struct scann_index *ix, int64_t n, const float *x,
                             const ivf_trainer *t);
/* ids are final; adds n to ix->ntotal on success. */
scann_status ivf_build_add(struct scann_index *ix, int64_t n, const float *x, const int64_t *ids,
                           const ivf_adder *a);

/* ---- search (ivf_search.c) --------------------------------------------------------------- */

struct collector;
struct search_ctx;

/*
 * A kind's list codec, search side: what the one driver needs from it. ctx is the kind's
 * per-call state (tables, scratch for every worker of the call).
 * - begin_query runs once per (query, worker) before that worker scans the query's lists (per
 *   query tables go there); a range collector's radius is on the kind's float scale, and a
 *   kind that scans on another scale (FastScan's integers) converts it here.
 * - scan_list offers the list's vectors to the collector (collect.h), keys = ivf_loc when the
 *   driver reranks (the kind's rerank store is not NONE), else external ids.
 * - scan_batch (optional, k-NN only): serves all queries at once when it pays (several queries
 *   per pass over a list); returns 0 to decline, else 1 with *st set and out filled as
 *   scan_list would (nq * kk keys, best first).
 * - finish (optional): without rerank, turns query qi's n scores back to the float scale.
 */
typedef struct ivf_codec {
    void *ctx;
    int mode; /* collect_mode for k-NN: COLLECT_HEAP, or COLLECT_RES when many candidates enter */
    void (*begin_query)(void *ctx, int64_t qi, int worker, struct collector *c);
    void (*scan_list)(void *ctx, int64_t qi, int32_t list, float cscore, struct collector *c,
                      int worker);
    int (*scan_batch)(void *ctx, int64_t nq, int kk, int nprobe, int nthreads, const int32_t *lists,
                      const float *cscore, float *out_score, int64_t *out_key, scann_status *st);
    void (*finish)(void *ctx, int64_t qi, float *score, const int64_t *key, int64_t n);
} ivf_codec;

/* Rerank rows the kind scores itself, because they are not the plain vector (SCANN's narrow
 * stores keep x's quantization error beside the code). Per query, begin (may be NULL) fills
 * scratch_bytes of per-worker scratch from the query and its probes (lists, centre scores:
 * nprobe each); then score(ctx, scratch, q, loc, row, tmp) is the exact score of the vector at
 * loc, whose row is `row` (tmp: d floats of scratch). */
typedef struct ivf_rerank_base {
    void *ctx;
    size_t scratch_bytes;
    void (*begin)(const void *ctx, const float *q, const int32_t *lists, const float *cscore,
                  int nprobe, void *scratch);
    float (*score)(const void *ctx, const void *scratch, const float *q, int64_t loc,
                   const uint8_t *row, float *tmp);
} ivf_rerank_base;

/*
 * Search an IVF kind with sc's knobs (api.c resolved every default): probe, scan the lists with the
 * codec (threads over queries, or over parts of a query's lists when there are fewer queries
 * than threads), then re-score the best reorder_k candidates exactly with the rerank store rr
 * (plus base, when not NULL) or let the codec convert its scores. k-NN writes nq * k internal
 * scores and ids (+inf / -1 where missing); with sc->range it fills the range lists instead
 * (unsorted, exact where rr reranks) and ignores k, score and ids.
 */
scann_status ivf_search(const struct scann_index *ix, const ivf *v, const struct rerank_store *rr,
                        const ivf_rerank_base *base, const ivf_codec *codec, int64_t nq,
                        const float *q, int k, const struct search_ctx *sc, float *score,
                        int64_t *ids);

/* Threads a search may use for nq queries split into parts: the parts per query. */
int ivf_parts_per_query(int64_t nq, int nprobe, int nthreads);

struct idset;
/* Locations (ivf_loc) of the stored vectors whose ids are in s, list by list, increasing
 * offsets; *locs is malloc'ed (NULL when none). The first call builds v's id map, so this and
 * every later call cost time in proportion to the set, not to the index. */
scann_status ivf_collect(ivf *v, const struct idset *s, int64_t **locs, int64_t *n);
/* *loc = the location of id, or -1 when no vector has it (builds the id map on first use). */
scann_status ivf_locate(ivf *v, int64_t id, int64_t *loc);
/*
 * Remove the vectors at locs (as ivf_collect returns them): each hole is filled with its list's
 * last vector. move(ctx, l, from, to) lets a kind move what it stores outside the list in the
 * same way (from == to: only clear slot from); may be NULL. Cannot fail.
 */
void ivf_remove_locs(ivf *v, const int64_t *locs, int64_t n,
                     void (*move)(void *ctx, int32_t l, int64_t from, int64_t to), void *ctx);

/* List sizes before an add (malloc'ed, nlist entries), and the undo: remove whatever was appended
 * since, so a cancelled add leaves the index as it was. Cannot fail. */
scann_status ivf_mark(const ivf *v, int64_t **sizes);
void ivf_rollback(ivf *v, const int64_t *sizes,
                  void (*move)(void *ctx, int32_t l, int64_t from, int64_t to), void *ctx);

/* nlist for n training vectors: params' nlist, or about sqrt(n); errors when nlist > n. */
scann_status ivf_resolve_nlist(int requested, int64_t n, int *nlist);
/* nprobe for a search: the call's, else the index's, else max(1, nlist / 16); must be <= nlist. */
scann_status ivf_resolve_nprobe(int call, int index_default, int nlist, int *nprobe);

#endif
