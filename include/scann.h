/*
 * scann.h - the one public header of libscann, a ScaNN-style vector index in C.
 *
 * Model: an index is an opaque handle created from a parameter struct or a spec string, then
 * trained (kinds that learn partitions or codebooks), filled with vectors, and searched.
 *
 *   scann_index *ix;
 *   scann_index_create_from_spec("FLAT", 784, SCANN_METRIC_L2, &ix);
 *   scann_index_add(ix, n, 784, base, NULL);                 // ids 0..n-1
 *   scann_index_search(ix, nq, 784, queries, 10, NULL, dist, ids);
 *   scann_index_free(ix);
 *
 * Conventions
 * - Every function returns scann_status; SCANN_OK (0) is success. On failure nothing the caller
 *   owns was modified except output buffers, and scann_last_error() (per thread) names the bad
 *   argument and its value.
 * - The caller owns every buffer it passes in; the library copies what it keeps. Memory the
 *   library hands out (scann_vecs_read) is released with scann_buffer_free.
 * - Every call that takes vectors also takes their dimension, so a mismatch is caught.
 * - Results are sorted best first. Distances are squared L2 for SCANN_METRIC_L2 (smaller is
 *   better), the inner product for SCANN_METRIC_IP and the cosine similarity for
 *   SCANN_METRIC_COSINE (larger is better). Missing results (fewer candidates than k, possible
 *   with nprobe < nlist) have id -1.
 * - Thread safety: every call on one index may come from any thread at any time. Searches,
 *   save and the inspection calls share the index; train, add and remove take it alone (a
 *   readers-writer lock that lets a waiting writer in before new readers).
 * - No global mutable state: kernels are chosen per index from the CPU's features.
 * - Threads: the library runs up to num_threads threads of its own per call and calls BLAS
 *   (sgemm) from each of them. Searches use the index's pool of num_threads - 1 threads, made
 *   by its first multi-threaded search and joined by scann_index_free (a search that finds the
 *   pool busy with another caller's search starts threads for the call instead). With a multi-threaded BLAS, set it to one thread
 *   (OPENBLAS_NUM_THREADS=1 or openblas_set_num_threads(1)), as faiss users do, or the BLAS's
 *   threads and the library's will compete for the same cores.
 */
#ifndef SCANN_H
#define SCANN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library builds with hidden visibility; everything declared here is its exported ABI. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define SCANN_VERSION_MAJOR 0
#define SCANN_VERSION_MINOR 1
#define SCANN_VERSION_PATCH 0

typedef enum scann_status {
    SCANN_OK = 0,
    SCANN_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a count or parameter out of range */
    SCANN_ERR_DIMENSION = 2,        /* vectors' dimension differs from the index's */
    SCANN_ERR_INVALID_DATA = 3,     /* NaN or infinity in input vectors */
    SCANN_ERR_NOT_TRAINED = 4,      /* add/search before train on a kind that needs it */
    SCANN_ERR_EMPTY = 5,            /* search on an index without vectors */
    SCANN_ERR_OUT_OF_MEMORY = 6,
    SCANN_ERR_IO = 7,          /* open/read/write failed; message has errno's text */
    SCANN_ERR_FORMAT = 8,      /* a file is truncated, corrupt or of another kind */
    SCANN_ERR_UNSUPPORTED = 9, /* valid request this index kind cannot do */
    SCANN_ERR_CANCELLED = 10,  /* the progress callback asked to stop */
    SCANN_ERR_INTERNAL = 11    /* a bug: please report it with the message */
} scann_status;

typedef enum scann_metric {
    SCANN_METRIC_L2 = 0,    /* squared Euclidean distance */
    SCANN_METRIC_IP = 1,    /* inner product (maximum inner product search) */
    SCANN_METRIC_COSINE = 2 /* cosine similarity: vectors are normalised at add and at query */
} scann_metric;

typedef enum scann_index_kind {
    SCANN_INDEX_FLAT = 0,     /* exact search over float vectors */
    SCANN_INDEX_IVF_FLAT = 1, /* k-means partitions, float vectors in each list */
    SCANN_INDEX_IVF_PQ = 2,   /* k-means partitions, 8-bit product-quantized residuals */
    SCANN_INDEX_SCANN = 3     /* partitions + anisotropic 4-bit PQ FastScan + rerank */
} scann_index_kind;

/* What the SCANN index keeps for exact re-scoring of its best candidates. */
typedef enum scann_reorder {
    SCANN_REORDER_FLOAT = 0, /* float32 copy: best recall, 4 bytes a dimension */
    SCANN_REORDER_BF16 = 1,  /* bfloat16 copy: 2 bytes a dimension */
    SCANN_REORDER_INT8 = 2,  /* int8 with a per-vector scale: 1 byte a dimension + 4 */
    SCANN_REORDER_NONE = 3   /* no copy: scores come from the 4-bit codes alone */
} scann_reorder;

/*
 * Progress and cancellation hook. Called from the thread that called the library, between
 * chunks of work; frac is in [0, 1] for the named stage ("train", "add", ...). Return non-zero
 * to cancel: the call then returns SCANN_ERR_CANCELLED and the index is left as it was before
 * the call. It runs while the call holds the index alone, so it must not call functions on
 * the same index (they would wait for the call that is waiting for it).
 */
typedef int (*scann_progress_fn)(void *user_data, const char *stage, double frac);

typedef struct scann_index_params {
    scann_index_kind kind; /* which index to build */
    scann_metric metric;   /* distance; cosine normalises vectors on the way in */
    int dim;               /* vector dimension, >= 1 */
    int num_threads;       /* threads for train/add/search; 0 = number of online cores */

    /* Partitioning (IVF_FLAT, IVF_PQ, SCANN). */
    int nlist;          /* number of k-means partitions; 0 = about sqrt(n) at train */
    int nprobe;         /* partitions a search scans when the call does not say; 0 = nlist/16;
                           * at most nlist (with nlist 0, train lowers it to the nlist chosen) */
    int reorder_k;      /* candidates re-scored exactly (IVF_PQ, SCANN with a rerank store)
                           * when the call does not say; 0 = 10 * k; a search uses at least k.
                           * scann_index_tune sets it and nprobe */
    int64_t train_size; /* training sample size; 0 = kind's default (see docs) */
    int kmeans_iters;   /* Lloyd iterations; 0 = default (12) */
    uint64_t seed;      /* seed for sampling and initialisation: same seed, same index */

    /* Product quantization (IVF_PQ: pq_m sub-spaces of 8 bits; SCANN: 4-bit blocks). */
    int pq_m;              /* IVF_PQ sub-spaces; 0 = dim / 2 rounded to a divisor-friendly value */
    int dims_per_block;    /* SCANN dims per 4-bit block; 0 = from dim: the smallest power of
                           * two >= 2 keeping dim / dims_per_block <= 200 blocks (2 up to
                           * d = 400, 4 up to 800, ...) */
    float aq_threshold;    /* SCANN anisotropic threshold T; < 0 = chosen at train from the data
                           * (the default for ip/cosine), 0 or NaN = plain PQ; see docs */
    scann_reorder reorder; /* SCANN rerank store; default int8 from dim 384 up (faster and 3-4x
                            * smaller there), else float */

    scann_progress_fn progress; /* optional; NULL = silent */
    void *progress_user_data;   /* passed back to progress */
} scann_index_params;

/* Per-call search knobs. They never modify the index, so concurrent searches are safe.
 * Zero-initialise it (scann_search_params sp = {0};): every field's zero means "default" or
 * "off", and fields added in later versions keep that meaning. */
/* Filter callback: non-zero when the vector with this external id may be returned. Called from
 * the library's search threads, possibly concurrently. */
typedef int (*scann_filter_fn)(void *user_data, int64_t id);

typedef struct scann_search_params {
    int nprobe;      /* partitions to scan (IVF kinds), in [1, nlist]; 0 = the index's nprobe */
    int reorder_k;   /* candidates re-scored exactly (IVF_PQ, SCANN); 0 = the index's reorder_k
                      * (at least k), or 10 * k when that is 0 too */
    int num_threads; /* threads for this call, at most 4096; 0 = up to the index's num_threads,
                      * fewer when the call is too small to gain from them (a one-query call
                      * is never slower than on one thread) */
    /* Filtered search: only ids the filters allow are returned. A query that finds fewer
     * than k allowed vectors in its nprobe lists is searched again over every list, so k
     * results come back whenever k allowed vectors exist. */
    const uint64_t *allow_bits; /* id i allowed iff i < allow_nbits and bit i%64 of word i/64 */
    int64_t allow_nbits;        /* bits in allow_bits */
    scann_filter_fn allow_fn;   /* optional callback; with allow_bits set, both must allow */
    void *allow_user_data;      /* passed to allow_fn */
} scann_search_params;

typedef struct scann_index scann_index;

/* ---- errors ---------------------------------------------------------------------------- */

/* Message of the last failed call on this thread ("" if none). Valid until the next call. */
const char *scann_last_error(void);
/* Short constant name of a status ("SCANN_ERR_DIMENSION"). */
const char *scann_status_name(scann_status s);

/* ---- index life cycle ------------------------------------------------------------------ */

/* Fill *p with defaults for the kind, metric and dimension. Always succeeds for valid enums. */
scann_status scann_index_params_init(scann_index_params *p, scann_index_kind kind,
                                     scann_metric metric, int dim);

/* Create an empty index. *out is set only on success; free it with scann_index_free. */
scann_status scann_index_create(const scann_index_params *p, scann_index **out);

/*
 * Create from a spec string: a kind name followed by comma-separated key=value pairs, e.g.
 * "FLAT", "IVF_FLAT,nlist=1024", "IVF_PQ,nlist=1024,m=50",
 * "SCANN,nlist=1024,dims_per_block=2,aq_threshold=0.2,reorder=int8". Keys: nlist, nprobe,
 * reorder_k, train_size, iters, seed, threads, m, dims_per_block, aq_threshold,
 * reorder (float|bf16|int8|none).
 */
scann_status scann_index_create_from_spec(const char *spec, int dim, scann_metric metric,
                                          scann_index **out);

/* Parse a spec (as above) into *p, with defaults for everything the spec leaves out. Useful to
 * adjust fields (num_threads, progress) before scann_index_create. */
scann_status scann_index_params_parse(const char *spec, int dim, scann_metric metric,
                                      scann_index_params *p);

/* Release the index and everything it allocated. NULL is allowed. */
void scann_index_free(scann_index *ix);

/* Learn partitions/codebooks from n vectors (a no-op for FLAT). x is n * dim floats. */
scann_status scann_index_train(scann_index *ix, int64_t n, int dim, const float *x);

/*
 * Add n vectors. ids: n external ids (>= 0), or NULL for automatic ids: the next n integers
 * above every id this index has ever held (automatic or given, removed ones included; the
 * counter is saved with the index), so an automatic id never repeats one, even under
 * concurrent adds. Rejects NaN or infinite values, vectors whose squared norm exceeds 2^100
 * (their distances could overflow float) and a dimension mismatch before changing anything.
 * A cancel from the progress callback (SCANN_ERR_CANCELLED) leaves the index as it was.
 */
scann_status scann_index_add(scann_index *ix, int64_t n, int dim, const float *x,
                             const int64_t *ids);

/*
 * k nearest neighbours of nq queries. dist and ids are nq * k, row-major, filled best first.
 * k must be in [1, ntotal]. params may be NULL for defaults.
 */
scann_status scann_index_search(const scann_index *ix, int64_t nq, int dim, const float *q, int k,
                                const scann_search_params *params, float *dist, int64_t *ids);

/*
 * Range search (faiss's range_search semantics): for each of nq queries, every stored vector
 * closer than radius: squared L2 distance < radius, or inner product / cosine similarity >
 * radius. *out gets a new result (free it with scann_range_result_free): query i's matches are
 * ids[lims[i] .. lims[i + 1]) with their distances (similarities for ip / cosine), best first,
 * ties by smaller id. params as for search (nprobe, num_threads, filters; reorder_k is unused).
 * FLAT is exact; IVF kinds find what their nprobe lists hold; IVF_PQ and SCANN select by their
 * approximate scores, then keep what the rerank store's exact score confirms (without a store,
 * the approximate scores are returned). NaN radius is rejected.
 */
typedef struct scann_range_result {
    int64_t nq;
    int64_t *lims; /* nq + 1 offsets */
    float *dist;   /* lims[nq] distances (similarities for ip / cosine) */
    int64_t *ids;  /* lims[nq] external ids */
} scann_range_result;

scann_status scann_index_range_search(const scann_index *ix, int64_t nq, int dim, const float *q,
                                      float radius, const scann_search_params *params,
                                      scann_range_result **out);
void scann_range_result_free(scann_range_result *r);

/*
 * Remove vectors by external id; ids the index does not hold are ignored. *removed (may be
 * NULL) gets how many were removed. Removed ids are never returned again.
 * Adding an id the index already holds replaces that vector (upsert); ids repeated within one
 * add call are rejected.
 * Cost: the first remove or upsert builds an id -> location map (one pass over the stored ids,
 * then 11 to 23 bytes a vector, counted by scann_index_memory); from then on a remove or
 * upsert costs time in proportion to its batch. An index that is never updated in place never
 * pays for the map.
 */
scann_status scann_index_remove(scann_index *ix, int64_t n, const int64_t *ids, int64_t *removed);

/*
 * The stored vectors with these ids into out (n * dim floats, row i for ids[i]): exact where
 * the index keeps float vectors (FLAT, IVF_FLAT, a float rerank store; cosine vectors as
 * stored, normalised), else the index's own approximation (bf16 / int8 rows, PQ codes plus
 * their centre). An id the index does not hold fails with SCANN_ERR_INVALID_ARGUMENT naming
 * it (out is then partly written). Like remove, the first call builds the id map; it holds the
 * index alone while it runs.
 */
scann_status scann_index_reconstruct(const scann_index *ix, int64_t n, const int64_t *ids,
                                     float *out);

/* ---- persistence ----------------------------------------------------------------------- */

/*
 * Save the index (parameters, partitions, codebooks, lists, rerank rows) in the versioned
 * binary format of docs/FORMAT.md. The file is written to a temporary name, fsynced and renamed,
 * so a crash mid-save leaves any previous file intact. Safe to call while searches run.
 */
scann_status scann_index_save(const scann_index *ix, const char *path);
/* Save into a newly allocated buffer (*buf, *len); free it with scann_buffer_free. */
scann_status scann_index_save_buffer(const scann_index *ix, void **buf, size_t *len);
/*
 * Load a saved index. Every count, size, offset and checksum is validated before use: a
 * truncated, corrupt or hostile file gives SCANN_ERR_FORMAT, never a crash or an allocation
 * larger than the file justifies. num_threads of the loaded index is 0 (= all cores) unless
 * changed with scann_index_set_num_threads.
 */
scann_status scann_index_load(const char *path, scann_index **out);
scann_status scann_index_load_buffer(const void *buf, size_t len, scann_index **out);
/*
 * Map a saved file read-only and search it in place: the big arrays are not copied, so several
 * processes share one copy in the page cache. The mapping lives until scann_index_free. Such an
 * index is read-only: train, add and remove return SCANN_ERR_UNSUPPORTED.
 */
scann_status scann_index_load_mmap(const char *path, scann_index **out);

/* Threads used by calls that do not say (0 = number of online cores). */
scann_status scann_index_set_num_threads(scann_index *ix, int num_threads);

/* ---- inspection ------------------------------------------------------------------------ */

int64_t scann_index_ntotal(const scann_index *ix); /* vectors stored; 0 for NULL */
int scann_index_dim(const scann_index *ix);
scann_index_kind scann_index_get_kind(const scann_index *ix);
scann_metric scann_index_get_metric(const scann_index *ix);
int scann_index_is_trained(const scann_index *ix);
/* Bytes the index holds on the heap (vectors, codes, ids, tables, and the scratch its searches
 * keep for the next ones: at most 1 MiB), not counting malloc slack. */
scann_status scann_index_memory(const scann_index *ix, size_t *bytes);
/* A spec string that would recreate this index's parameters, into buf (NUL-terminated):
 * scann_index_params_parse of it gives the same parameters (num_threads and callbacks aside). */
scann_status scann_index_describe(const scann_index *ix, char *buf, size_t buflen);

/* Name of the kernel table (one per SIMD level: distances, FastScan, k-means, AVQ tables) this
 * index took at create: "scalar", "avx2", "avx512", "avx512icl" or "neon". */
const char *scann_index_kernel_name(const scann_index *ix);
/* The kernel table a new index gets on this machine: "scalar", "avx2", "avx512", "avx512icl" or
 * "neon", after SCANN_FORCE_ISA. */
const char *scann_kernels_name(void);

/* ---- parsing helpers shared by the CLI and bindings ------------------------------------ */

/* Metric by name, case-insensitive: l2 / squared_l2 / euclidean, ip / dot / dot_product /
 * inner_product, cosine / angular. Anything else is SCANN_ERR_INVALID_ARGUMENT. */
scann_status scann_metric_parse(const char *name, scann_metric *out);
const char *scann_metric_name(scann_metric m);
const char *scann_index_kind_name(scann_index_kind k);

/* ---- vector files ---------------------------------------------------------------------- */

/*
 * Read a vector file into a newly allocated row-major float array (*data, n rows of dim).
 * Formats by extension (case-insensitive):
 * - .fvecs (float32), .bvecs (uint8), .ivecs (int32): rows of [int32 dim][dim values];
 * - .npy, little-endian, C order, 1-d (one row) or 2-d: float32, float16, float64, uint8, int8,
 *   int32 or int64;
 * - .fbin, .u8bin, .i8bin, .ibin (big-ann-benchmarks): [uint32 n][uint32 d] then n * d float32,
 *   uint8, int8 or int32 values;
 * - .hdf5 / .h5 (ann-benchmarks), as "file.hdf5:dataset" or "file.hdf5" for the dataset
 *   "train"; SCANN_ERR_UNSUPPORTED when the library was built without libhdf5.
 * Values are converted to float32. Truncated or inconsistent files (rows of different dimension,
 * sizes that do not add up) give SCANN_ERR_FORMAT; allocations never exceed 4x the file's size
 * (HDF5 chunked datasets: 1024x, as they may be compressed). Free with scann_buffer_free.
 */
scann_status scann_vecs_read(const char *path, float **data, int64_t *n, int *dim);
/* scann_vecs_read keeping only the first max_rows rows (all when max_rows <= 0); only those
 * rows are read and allocated, but the file's size is still checked as a whole. */
scann_status scann_vecs_read_limit(const char *path, int64_t max_rows, float **data, int64_t *n,
                                   int *dim);
/* Read int32 rows (ground truth) from .ivecs, .ibin, .npy ('<i4', or '<i8' whose values fit
 * in int32) or HDF5 (an integer dataset; "neighbors" when the path names none). Free with
 * scann_buffer_free. */
scann_status scann_ivecs_read(const char *path, int32_t **data, int64_t *n, int *dim);
/* The metric an HDF5 file records in its "distance" attribute: angular -> COSINE, euclidean ->
 * L2, dot -> IP. SCANN_ERR_UNSUPPORTED for other formats, a missing attribute or another
 * distance (hamming, jaccard). */
scann_status scann_vecs_metric(const char *path, scann_metric *metric);
/* Write float rows as .fvecs or .npy (by extension). */
scann_status scann_vecs_write(const char *path, const float *data, int64_t n, int dim);
/* Write int32 rows as .ivecs or .npy (by extension). */
scann_status scann_ivecs_write(const char *path, const int32_t *data, int64_t n, int dim);
/* Write n rows of k int64 ids (search results) as .npy ('<i8'); other extensions give
 * SCANN_ERR_INVALID_ARGUMENT rather than a format that would truncate ids. */
scann_status scann_ids_write(const char *path, const int64_t *ids, int64_t n, int k);
/* Release a buffer the library allocated. NULL is allowed. */
void scann_buffer_free(void *p);

/* ---- tuning ---------------------------------------------------------------------------- */

/* One measured search setting. */
typedef struct scann_tune_point {
    int nprobe;       /* partitions scanned */
    int reorder_k;    /* candidates re-scored; 0 where the index does not re-rank */
    double recall;    /* mean recall@k on the tuning queries */
    double recall_se; /* its standard error (spread of the queries' recall / sqrt(nq)): a
                       * setting counts as reaching the target when recall - recall_se does */
    double qps;       /* queries per second of one batch search of the tuning queries (the best of
                    * several runs for the candidates compared in the end) */
} scann_tune_point;

/* Optional inputs of scann_index_tune; zero-initialise it, or pass NULL for all defaults.
 * The exact neighbours come from truth, else from base, else (IVF_FLAT only, whose search over
 * every list is exact) from the index's own exhaustive search. */
typedef struct scann_tune_params {
    const int64_t *truth; /* nq rows of truth_stride ids: each query's exact neighbours, best
                           * first (only the first k are used); ids as the index holds them */
    int truth_stride;     /* entries per truth row, >= k */
    const float *base;    /* or: the nbase vectors the index holds (dim floats each), searched
                           * exactly here; their ids are base_ids, or row numbers 0..nbase-1 */
    int64_t nbase;
    const int64_t *base_ids; /* optional, nbase ids */
    int num_threads;         /* threads of the timed searches; 0 = as a default search picks them */
    int dry_run; /* non-zero: measure and choose, but leave the index's defaults alone */
    scann_tune_point *curve; /* optional caller-owned array of curve_cap points: every setting
                              * measured, in the order measured */
    int curve_cap;
} scann_tune_params;

typedef struct scann_tune_result {
    int met;       /* 1: the target was reached; 0: no setting reached it */
    int nprobe;    /* the setting chosen: the fastest that reached the target, or, when none
                     * did, the one with the highest recall */
    int reorder_k; /* 0 where the index does not re-rank */
    double recall; /* its recall@k (and standard error) and QPS on the tuning queries */
    double recall_se;
    double qps;
    int npoints;   /* settings measured; the first min(npoints, curve_cap) are in curve */
    int nsearches; /* search calls made, timing repeats included */
} scann_tune_result;

/*
 * Autotune: find the fastest (nprobe, reorder_k) whose mean recall@k on nq tuning queries
 * reaches target_recall, and make it the index's default (params nprobe and reorder_k: searches
 * that leave them 0 use it, and scann_index_save stores it). For each reorder_k in k, 2k, 4k,
 * ... (IVF_PQ and SCANN with a rerank store; the other kinds have none) the smallest nprobe
 * that reaches the target is found by doubling then bisection, since recall grows with both;
 * these candidates are timed again and the fastest wins. A setting reaches the target when its
 * recall minus one standard error does, so that recall on other queries from the same
 * distribution stays close to the target rather than below it half the time (with 1000
 * queries the margin is about 0.005).
 * Tuning queries must not be vectors of the index itself (each would find itself): use held-out
 * queries. The index's defaults change only when the target is met and tp->dry_run is 0.
 * target_recall in (0, 1]; k in [1, ntotal]; FLAT (always exact) gives SCANN_ERR_UNSUPPORTED;
 * IVF_PQ and SCANN need tp->truth or tp->base. The searches share the index with other
 * readers; only the final update takes it alone.
 */
scann_status scann_index_tune(scann_index *ix, int64_t nq, int dim, const float *queries, int k,
                              double target_recall, const scann_tune_params *tp,
                              scann_tune_result *out);

/* ---- evaluation ------------------------------------------------------------------------ */

/*
 * Mean recall@k: for each query, |found[0..k) intersect truth[0..k)| / k, where found rows have
 * found_stride entries and truth rows truth_stride entries (truth_stride >= k).
 */
double scann_recall_at_k(int64_t nq, int k, const int64_t *found, int found_stride,
                         const int32_t *truth, int truth_stride);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* SCANN_H */
