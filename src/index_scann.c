/*
 * index_scann.c - SCANN: IVF partitions + anisotropic 4-bit PQ scanned with FastScan + rerank.
 *
 * Train: k-means partitions (spherical for inner product / cosine); 16-centre codebooks per
 * block of dims_per_block dimensions, learned on a sample of what the lists will encode;
 * the rerank store (int8 scales need the sample too).
 * Add: nearest partition by L2; encode with the anisotropic loss (avq.c) the residual x - c for
 * inner product / cosine, or x itself for L2 (ScaNN's choice: one table per query then serves
 * every list, where L2 residuals would need a table per probed list); pack into 32-vector
 * blocks (fastscan.h); keep the external id and the rerank row at the same list offset.
 * Search (the IVF driver, ivf_search.c, with this file's codec): probe nprobe lists; one float table per query, quantized to uint8 with scale a; per
 * list the centre score becomes an integer bias round(a * cscore) (DESIGN.md 2.5) added to
 * the uint16 block sums, so scores of all lists share one integer scale. The heap's k-th
 * score, minus the list's bias, is the kernel's threshold: a list whose bias alone exceeds
 * it is skipped, and most blocks return an empty mask without touching the heap. The best
 * reorder_k candidates are re-scored exactly by the driver, or, with reorder=none, their
 * integer scores are turned back into floats (bias + S / a).
 *
 * Invariant: list l has v.lists[l].size vectors; their codes fill the first
 * ceil(size / 32) blocks of codes[l], unused slots of the last block are zero.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avq.h"
#include "collect.h"
#include "error.h"
#include "hugemem.h"
#include "idset.h"
#include "fastscan/fastscan.h"
#include "index.h"
#include "ivf.h"
#include "pq.h"
#include "rerank.h"
#include "sections.h"
#include "threads.h"

#define SCANN_KSUB 16

typedef struct ivffs_impl {
    ivf v;          /* partitions; lists carry ids and rerank rows (code_size 0) */
    fs_list *codes; /* nlist packed code arrays */
    uint8_t *slab;  /* the lists' blocks in one buffer (fs_list.in_slab), or NULL */
    size_t slab_bytes;
    pq pq;     /* 16 centres per block */
    float *ct; /* the codebooks transposed (pq_transpose), for the query tables */
    rerank_store rr;
    int residual; /* encode x - c (inner product) or x (L2) */
    int rr_error; /* bf16/int8 rows hold x - x~ (x~ = centre + decoded code), not x */
    int rr_codes; /* and after that payload an L2 term and the packed code (fused_score); 0 in
                   * files saved before rows carried them, which rebuild x~ from the blocks */
} ivffs_impl;

/* A narrow row with its code: the payload (rerank.c: x - x~), a float 2<x~, e~> + ||e~||^2 (e~
 * the decoded payload; L2 only, 0 otherwise) and the m 4-bit codes, two a byte, low nibble
 * first. Reading the code here instead of from its block keeps a candidate's rerank to one
 * short row: the block spreads one vector's code over all of its 16m bytes. */
static size_t coded_row_bytes(size_t payload, int m) { return payload + 4 + (size_t)(m + 1) / 2; }

static void ivffs_release(ivffs_impl *s)
{
    if (s->codes) /* mapped lists (cap 0) point into the file and stay */
        for (int l = 0; l < s->v.nlist; l++) fs_list_free(&s->codes[l]);
    free(s->codes);
    s->codes = NULL;
    huge_free(s->slab, s->slab_bytes);
    s->slab = NULL;
    s->slab_bytes = 0;
    ivf_free(&s->v);
    pq_free(&s->pq);
    free(s->ct);
    s->ct = NULL;
    rerank_free(&s->rr);
}

/* ---- train ------------------------------------------------------------------------------- */

typedef struct train_ctx {
    ivffs_impl *s;
    float threshold; /* the anisotropic threshold the codes will use */
} train_ctx;

static scann_status ivffs_train_codes(void *ctx, const scann_index *ix, const float *rows,
                                      const float *x, int64_t n, const int32_t *assign,
                                      const poll_hook *poll)
{
    train_ctx *t = ctx;
    t->threshold = ix->p.aq_threshold;
    return avq_train_codebooks(&t->s->pq, x, rows, n, t->s->v.centres, assign, t->s->residual,
                               ix->p.seed + 2, ix->p.num_threads, ix->dk, poll, &t->threshold);
}

static scann_status ivffs_train(scann_index *ix, int64_t n, const float *x)
{
    ivffs_impl *s = ix->impl;
    int d = ix->p.dim, m = (d + ix->p.dims_per_block - 1) / ix->p.dims_per_block;
    ivffs_impl fresh = {0};
    fresh.residual = index_uses_ip(ix);
    train_ctx tc = {&fresh, 0};
    ivf_trainer t = {&tc,
                     &fresh.v,
                     0,
                     SCANN_KSUB,
                     0.6,
                     ix->p.train_size > 0 ? ix->p.train_size : AVQ_TRAIN_SAMPLE,
                     fresh.residual,
                     ivffs_train_codes,
                     &fresh.rr};
    scann_status st = pq_init(&fresh.pq, d, m, SCANN_KSUB);
    if (!st) st = ivf_build_train(ix, n, x, &t);
    if (!st && !(fresh.codes = calloc((size_t)fresh.v.nlist, sizeof(fs_list))))
        st = err_nomem("SCANN code lists", (size_t)fresh.v.nlist * sizeof(fs_list));
    if (!st && !(fresh.ct = pq_transpose(&fresh.pq)))
        st = err_nomem("SCANN codebooks", pq_memory(&fresh.pq));
    if (st) {
        ivffs_release(&fresh);
        return st;
    }
    /* Narrow stores keep the 4-bit code's error, a third of x's norm or less, so their 8 or 16
     * bits resolve it about 3x finer (GloVe int8: recall gap to float 0.009 -> see notes). */
    fresh.rr_error = fresh.rr.kind == SCANN_REORDER_BF16 || fresh.rr.kind == SCANN_REORDER_INT8;
    fresh.rr_codes = fresh.rr_error;
    if (fresh.rr_codes) /* the lists are still empty */
        fresh.v.extra_size = coded_row_bytes(fresh.rr.row_bytes, m);
    ivffs_release(s);
    *s = fresh;
    ix->p.nlist = fresh.v.nlist;
    ix->p.aq_threshold = tc.threshold;
    ix->trained = 1;
    return SCANN_OK;
}

/* out += x~ of the vector in slot `slot` of list l: its centre (residual encoding) plus the
 * decoded 4-bit code. */
static void add_reconstruction(const ivffs_impl *s, int32_t l, int64_t slot, float *out)
{
    const pq *p = &s->pq;
    const uint8_t *block = fs_list_block(&s->codes[l], p->m, slot);
    int i = (int)(slot % FS_BLOCK);
    if (s->residual) {
        const float *c = s->v.centres + (size_t)l * p->d;
        for (int t = 0; t < p->d; t++) out[t] += c[t];
    }
    for (int j = 0; j < p->m; j++) {
        const float *cc = pq_centre(p, j, fs_code_at(block, j, i));
        float *o = out + pq_off(p, j);
        for (int t = 0; t < pq_len(p, j); t++) o[t] += cc[t];
    }
}

/* ---- add --------------------------------------------------------------------------------- */

/* The blocks of every list in one new buffer: nb[l] blocks of room for list l, its current
 * blocks copied from src (src == NULL: from the list itself), the rest zero. The codes of a
 * large index are scanned list after list from memory, and in 4 KB pages every list costs
 * TLB misses (SIFT-1M, 32 MB of codes: the batch search 2-7% faster from one 2 MB-page buffer
 * than from a heap buffer per list). */
static scann_status codes_to_slab(ivffs_impl *s, const int64_t *nb, const uint8_t *src)
{
    size_t bb = fs_block_bytes(s->pq.m), total = 0;
    for (int l = 0; l < s->v.nlist; l++) total += (size_t)nb[l] * bb;
    if (total == 0) return SCANN_OK;
    uint8_t *slab = huge_alloc(total), *at = slab;
    if (!slab) return err_nomem("SCANN code blocks", total);
    for (int l = 0; l < s->v.nlist; l++) {
        fs_list *B = &s->codes[l];
        size_t used = (size_t)fs_blocks_for(s->v.lists[l].size) * bb, room = (size_t)nb[l] * bb;
        if (used) memcpy(at, src ? src : B->data, used);
        memset(at + used, 0, room - used);
        if (src) src += used;
        fs_list_free(B);
        if (room) B->data = at, B->cap = nb[l], B->in_slab = 1;
        at += room;
    }
    huge_free(s->slab, s->slab_bytes);
    s->slab = slab;
    s->slab_bytes = total;
    return SCANN_OK;
}

/* Room for every new vector's code slot, before anything is appended: in a fresh slab when the
 * index is empty (its first add, usually all of it), else list by list. */
static scann_status reserve_blocks(ivffs_impl *s, const int32_t *assign, int64_t n)
{
    int64_t *count = calloc((size_t)s->v.nlist, sizeof(int64_t));
    if (!count) return err_nomem("SCANN list counts", (size_t)s->v.nlist * 8);
    for (int64_t i = 0; i < n; i++) count[assign[i]]++;
    scann_status st = SCANN_OK;
    int64_t held = 0;
    for (int l = 0; l < s->v.nlist; l++) held += s->v.lists[l].size;
    if (held == 0) {
        for (int l = 0; l < s->v.nlist; l++) count[l] = fs_blocks_for(count[l]);
        st = codes_to_slab(s, count, NULL);
        free(count);
        return st;
    }
    for (int l = 0; l < s->v.nlist && !st; l++)
        st = fs_list_reserve(&s->codes[l], s->pq.m, s->v.lists[l].size + count[l]);
    free(count);
    return st;
}

static void move_code(void *ctx, int32_t l, int64_t from, int64_t to);

typedef struct add_ctx {
    ivffs_impl *s;
    float *err; /* 2d floats: a vector's quantization error, then x~ */
} add_ctx;

static scann_status add_reserve(void *ctx, const int32_t *assign, int64_t n)
{
    return reserve_blocks(((add_ctx *)ctx)->s, assign, n);
}

/* The weight is along the original vector x, not along the residual (DESIGN 2.4). */
static scann_status add_encode(void *ctx, const scann_index *ix, const float *rows, const float *x,
                               int64_t n, uint8_t *codes)
{
    return avq_encode(&((const add_ctx *)ctx)->s->pq, rows, x, n, ix->p.aq_threshold,
                      ix->p.num_threads, ix->dk, codes);
}

/* Pack the code into its block slot; the rerank row holds x, or for narrow stores x - x~,
 * computed as -(x~ - x) through the same reconstruction the rerank stage adds back. */
static void add_place(void *ctx, int32_t l, int64_t slot, const uint8_t *code, const float *x,
                      uint8_t *row)
{
    const add_ctx *a = ctx;
    ivffs_impl *s = a->s;
    size_t d = (size_t)s->pq.d;
    fs_pack_one(fs_list_block(&s->codes[l], s->pq.m, slot), s->pq.m, (int)(slot % FS_BLOCK), code);
    if (s->rr_error) {
        float *e = a->err, *xr = a->err + d;
        memset(xr, 0, d * sizeof(float));
        add_reconstruction(s, l, slot, xr);
        for (size_t t = 0; t < d; t++) e[t] = x[t] - xr[t];
        rerank_encode(&s->rr, e, row);
        if (s->rr_codes) {
            /* What the row stands for is x~ + e~: the L2 term is taken on the decoded e~, so
             * fused_score is exactly ||q - (x~ + e~)||^2 but for rounding. */
            float aux = 0.0f;
            if (!s->residual) {
                rerank_decode(&s->rr, row, e);
                double sum = 0;
                for (size_t t = 0; t < d; t++) sum += (2.0 * xr[t] + e[t]) * e[t];
                aux = (float)sum;
            }
            uint8_t *cb = row + s->rr.row_bytes;
            memcpy(cb, &aux, sizeof aux);
            cb += sizeof aux;
            memset(cb, 0, (size_t)(s->pq.m + 1) / 2);
            for (int j = 0; j < s->pq.m; j++)
                cb[j >> 1] |= (uint8_t)((code[j] & 15) << (4 * (j & 1)));
        }
    } else if (s->rr.row_bytes) {
        rerank_encode(&s->rr, x, row);
    }
}

static void add_move(void *ctx, int32_t l, int64_t from, int64_t to)
{
    move_code(((add_ctx *)ctx)->s, l, from, to);
}

static scann_status ivffs_add(scann_index *ix, int64_t n, const float *x, const int64_t *ids)
{
    ivffs_impl *s = ix->impl;
    add_ctx ac = {s, malloc(2 * (size_t)ix->p.dim * sizeof(float))};
    if (!ac.err) return err_nomem("SCANN add scratch", 2 * (size_t)ix->p.dim * sizeof(float));
    ivf_adder a = {&ac,         &s->v,      s->residual, (size_t)s->pq.m, &s->rr,
                   add_reserve, add_encode, add_place,   add_move};
    scann_status st = ivf_build_add(ix, n, x, ids, &a);
    free(ac.err);
    return st;
}

/* ---- search ------------------------------------------------------------------------------ */

typedef struct ivffs_scan {
    const scann_index *ix;
    const float *q;
    int use_loc;          /* push (list, offset) for the rerank stage, else external ids */
    uint8_t *scratch;     /* per worker: float table, uint8 table */
    float *qscale;        /* per query: table scale a */
    float *qbias;         /* per query: sum of table row minima */
    const search_ctx *sc; /* the batch path's filter */
} ivffs_scan;

/* A worker's scratch on the one-query path: float table, uint8 table, then the query's scale
 * and bias. Kept per worker because two workers may share a query (its lists split between
 * them), and each needs the values while the other may be writing them. */
static size_t worker_bytes(int m)
{
    return ((size_t)m * SCANN_KSUB * sizeof(float) + fs_lut_bytes(m) + 2 * sizeof(float) + 63) &
           ~(size_t)63;
}

static float *worker_scale(const ivffs_scan *c, int worker)
{
    int m = ((const ivffs_impl *)c->ix->impl)->pq.m;
    return (float *)(c->scratch + (size_t)worker * worker_bytes(m) +
                     (size_t)m * SCANN_KSUB * sizeof(float) + fs_lut_bytes(m));
}

/* Query q's uint8 table into out (fs_lut_bytes(m)), its scale and bias; lut: m * 16 floats of
 * scratch. The one routine behind both search paths, so they scan identical tables. */
static void query_table(const ivffs_impl *s, const kernels *dk, const float *q, float *lut,
                        uint8_t *out, float *scale, float *bias)
{
    const pq *p = &s->pq;
    dk->pq_tables16(s->ct, p->d, p->dsub, q, !s->residual, lut);
    if (s->residual)
        for (size_t i = 0; i < (size_t)p->m * SCANN_KSUB; i++) lut[i] = -lut[i];
    fs_lut_quantize(lut, p->m, out, scale, bias);
}

/* A range search's radius as an integer score S + bias (score ~ qbias + (S + bias) / qscale),
 * rounded down so the kernel's S <= threshold keeps exactly the integer scores within it;
 * clamped to +-2^41 (beyond any list bias, list_bias) so no conversion overflows. */
static float integer_radius(float radius, float qscale, float qbias)
{
    float r = floorf((radius - qbias) * qscale);
    return r != r || r < -0x1p41f ? -0x1p41f : r > 0x1p41f ? INFINITY : r;
}

static void ivffs_begin(void *ctx, int64_t qi, int worker, collector *col)
{
    const ivffs_scan *c = ctx;
    const ivffs_impl *s = c->ix->impl;
    const pq *p = &s->pq;
    uint8_t *w = c->scratch + (size_t)worker * worker_bytes(p->m);
    float *sb = worker_scale(c, worker);
    query_table(s, c->ix->dk, c->q + (size_t)qi * p->d, (float *)w,
                w + (size_t)p->m * SCANN_KSUB * sizeof(float), &sb[0], &sb[1]);
    /* For the conversion after the scan; workers sharing qi store the same bits. */
    __atomic_store(&c->qscale[qi], &sb[0], __ATOMIC_RELAXED);
    __atomic_store(&c->qbias[qi], &sb[1], __ATOMIC_RELAXED);
    if (col->mode == COLLECT_RANGE) /* the radius on this query's integer scale */
        col->radius = integer_radius(col->radius, sb[0], sb[1]);
}

/* The centre's score on query qi's integer scale; 0 for L2, where codes are not residual.
 * Clamped to +-2^40, far beyond real scores, so that extreme centres or codebooks (a hostile
 * index file, or one whose code tables have near-zero spans) cannot overflow the int64
 * arithmetic of the scans; NaN goes to +2^40, which skips the list. */
static inline int64_t list_bias(const ivffs_scan *c, float qscale, float cscore)
{
    const ivffs_impl *s = c->ix->impl;
    float biasf = s->residual ? cscore * qscale : 0.0f;
    return fabsf(biasf) < 0x1p40f ? (int64_t)lrintf(biasf)
           : biasf < 0            ? -(INT64_C(1) << 40)
                                  : INT64_C(1) << 40;
}

/* The kernel's threshold for a collector threshold thr_f and a list bias: S + bias <= thr_f.
 * Collector scores are integers (S + bias), so the conversion is exact. A tie with the
 * threshold must pass the kernel: the collector lets it in when its id is smaller, which keeps
 * the kept set "the kk best by (score, id)", independent of the order lists are scanned in
 * (the batch path scans them in another order than a lone query). Negative: the bias alone is
 * worse than the threshold, and the rest of the list can be skipped. */
static inline int64_t kernel_threshold(float thr_f, int64_t bias)
{
    int64_t thr = isinf(thr_f) ? 65535 : (int64_t)thr_f - bias;
    return thr > 65535 ? 65535 : thr;
}

static void ivffs_scan_list(void *ctx, int64_t qi, int32_t l, float cscore, collector *col,
                            int worker)
{
    const ivffs_scan *c = ctx;
    const ivffs_impl *s = c->ix->impl;
    const ivf_list *L = &s->v.lists[l];
    if (L->size == 0) return;
    int m = s->pq.m, npairs = fs_m4(m) / 2;
    const uint8_t *lut =
        c->scratch + (size_t)worker * worker_bytes(m) + (size_t)m * SCANN_KSUB * sizeof(float);
    int64_t bias = list_bias(c, worker_scale(c, worker)[0], cscore);
    size_t bb = fs_block_bytes(m);
    fs_block_fn scan = c->ix->dk->fs_block;
    uint16_t sums[FS_BLOCK];
    int nb = fs_blocks_for(L->size);
    for (int b = 0; b < nb; b++) {
        int64_t thr = kernel_threshold(collect_threshold(col), bias);
        if (thr < 0) return;
        uint32_t mask = scan(s->codes[l].data + (size_t)b * bb, lut, npairs, (uint16_t)thr, sums);
        if (b == nb - 1 && L->size % FS_BLOCK) mask &= (1u << (L->size % FS_BLOCK)) - 1;
        collect_block(col, mask, sums, bias, L->ids, (int64_t)b * FS_BLOCK,
                      c->use_loc ? ivf_loc(l, 0) : -1);
    }
}

/* ---- batch search: several queries per pass over a list ----------------------------------
 *
 * A task takes a chunk of queries, builds their tables, groups their (query, list) probes by
 * list (counting sort), and scans each probed list once for all the chunk's queries that probe
 * it (once per wave of probe ranks, see batch_task): per block, the multi-query kernel serves
 * up to FS_MAX_QB queries per call, loading and splitting the block's codes once for them.
 * Each query keeps its own reservoir, bias and threshold, so its candidates are exactly what
 * ivffs_scan_list finds: the kept set does not depend on the order lists are scanned in
 * (kernel_threshold). On a 2-core Zen 4 the kernel costs about 15% less per query and block
 * (AVX-512 four queries a call, AVX2 two; GloVe at nprobe 32 averages 3 per call) and a GloVe
 * batch runs 6-7% faster than one query at a time (nprobe 64: 10%). GloVe's codes (8.6 MB) stay
 * in cache either way: the gain is the shared work, not memory traffic. */

#define SCANN_BATCH_MIN_NQ 64          /* smaller batches: one query at a time (ivffs_scan_list) */
#define SCANN_CHUNK 512                /* queries per batch task, at most */
#define SCANN_CHUNK_TABLES (512 << 10) /* and their uint8 tables within this (L2) */
#define SCANN_CHUNK_RES (1 << 20)      /* and their reservoirs within this */
#define SCANN_FIRST_MAX 8192           /* longest list first_list takes (its sums buffer) */

typedef struct probe_ref {
    int32_t q;    /* query, within the chunk */
    float cscore; /* its centre score for the list */
} probe_ref;

typedef struct batch_job {
    const ivffs_scan *c;
    int nprobe, kk, chunk;
    int64_t nq;
    const int32_t *lists;
    const float *cscore;
    float *out_score; /* nq * kk */
    int64_t *out_id;
    fs_multi_fn kernel;
    uint8_t *scratch; /* per worker: batch_bytes() */
} batch_job;

/* One worker's scratch for a chunk of `chunk` queries, in the order of batch_task's carving;
 * every piece starts 64-byte aligned. */
static size_t batch_bytes(int m, int nlist, int nprobe, int kk, int chunk)
{
    size_t a = 0;
    a += ((size_t)m * SCANN_KSUB * sizeof(float) + 63) & ~(size_t)63; /* float table */
    a += (size_t)chunk * ((fs_lut_bytes(m) + 63) & ~(size_t)63);      /* tables */
    a += (((size_t)chunk * topk_res_slots(kk) * sizeof(float)) + 63) & ~(size_t)63;   /* scores */
    a += (((size_t)chunk * topk_res_slots(kk) * sizeof(int64_t)) + 63) & ~(size_t)63; /* ids */
    a += (((size_t)chunk * sizeof(collector)) + 63) & ~(size_t)63;     /* reservoirs */
    a += (((size_t)(nlist + 1) * sizeof(int32_t)) + 63) & ~(size_t)63; /* list runs */
    a += ((size_t)nlist + 63) & ~(size_t)63;                           /* lists done */
    a += (((size_t)nlist * sizeof(int32_t)) + 63) & ~(size_t)63;       /* list order */
    a += (SCANN_FIRST_MAX + 4096) * sizeof(uint16_t); /* first_list's sums and histograms */
    a += (((size_t)chunk * nprobe * sizeof(probe_ref)) + 63) & ~(size_t)63; /* probes */
    return a;
}

static void *carve(uint8_t **p, size_t bytes)
{
    void *r = *p;
    *p += (bytes + 63) & ~(size_t)63;
    return r;
}

/* The next list's codes, fetched a share per block while a list is scanned (see
 * scan_list_multi). */
typedef struct prefetcher {
    const uint8_t *at;
    size_t left, step;
} prefetcher;

static prefetcher prefetch_start(const ivffs_impl *s, int32_t next, int nb)
{
    prefetcher p = {NULL, 0, 0};
    if (next < 0 || nb == 0) return p;
    p.at = s->codes[next].data;
    p.left = (size_t)fs_blocks_for(s->v.lists[next].size) * fs_block_bytes(s->pq.m);
    p.step = ((p.left + nb - 1) / nb + 63) & ~(size_t)63;
    return p;
}

static inline void prefetch_step(prefetcher *p)
{
    if (!p->left) return;
    size_t step = p->step < p->left ? p->step : p->left;
    for (size_t o = 0; o < step; o += 64) __builtin_prefetch(p->at + o, 0, 1);
    p->at += step, p->left -= step;
}

/* A query's first list, into its empty reservoir: all the list's sums first, then only the
 * candidates up to a bound just above the list's k-th best. Pushed as they come, they would
 * meet a threshold that starts at +inf and tightens only at each selection: on SIFT-1M (k = 50
 * of ~1000 codes) the first list cost about a tenth of the search that way. The bound is the
 * top of the histogram bucket (64 sum units wide) that holds the k-th sum; four interleaved
 * histograms keep equal neighbours from waiting on each other's count. hist: 4 * 1024 counts,
 * sums: SCANN_FIRST_MAX slots. */
static void first_list(const ivffs_scan *c, int32_t l, const uint8_t *lut, collector *col,
                       int64_t bias, uint16_t *sums, uint16_t *hist, prefetcher *pf)
{
    const ivffs_impl *s = c->ix->impl;
    const ivf_list *L = &s->v.lists[l];
    int m = s->pq.m, npairs = fs_m4(m) / 2, nb = fs_blocks_for(L->size), n = (int)L->size;
    size_t bb = fs_block_bytes(m);
    for (int b = 0; b < nb; b++) {
        prefetch_step(pf);
        c->ix->dk->fs_block(s->codes[l].data + (size_t)b * bb, lut, npairs, 0, sums + FS_BLOCK * b);
    }
    memset(hist, 0, 4 * 1024 * sizeof *hist);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        hist[sums[i] >> 6]++;
        hist[1024 + (sums[i + 1] >> 6)]++;
        hist[2048 + (sums[i + 2] >> 6)]++;
        hist[3072 + (sums[i + 3] >> 6)]++;
    }
    for (; i < n; i++) hist[sums[i] >> 6]++;
    int need = col->r.k, bucket = 0;
    for (;; bucket++) {
        int h = hist[bucket] + hist[1024 + bucket] + hist[2048 + bucket] + hist[3072 + bucket];
        if (h >= need) break;
        need -= h;
    }
    uint16_t bound = (uint16_t)(bucket << 6 | 63);
    int64_t loc0 = c->use_loc ? ivf_loc(l, 0) : -1;
    for (int b = 0; b < nb; b++) {
        uint32_t mask = 0;
        for (int t = 0; t < FS_BLOCK; t++) mask |= (uint32_t)(sums[FS_BLOCK * b + t] <= bound) << t;
        if (b == nb - 1 && n % FS_BLOCK) mask &= (1u << (n % FS_BLOCK)) - 1;
        if (mask)
            collect_block(col, mask, sums + FS_BLOCK * b, bias, L->ids, (int64_t)b * FS_BLOCK,
                          loc0);
    }
}

/* Scan list l for the chunk's probes refs[0..n): the queries go through the kernel FS_MAX_QB at
 * a time, each group over the whole list (its codes stay in L1/L2 for the next group). A
 * query's threshold is read again only after one of its blocks let candidates through, and
 * the query leaves the list for good once it falls below its bias (thresholds only tighten),
 * as in ivffs_scan_list. Reading every threshold at every block (a group per block, all
 * groups) cost about a tenth of a SIFT-1M search. */
static void scan_list_multi(const batch_job *j, int32_t l, const probe_ref *refs, int n,
                            const uint8_t *tables, size_t tstride, collector *res, int64_t q0,
                            int32_t next, uint16_t *first)
{
    const ivffs_scan *c = j->c;
    const ivffs_impl *s = c->ix->impl;
    const ivf_list *L = &s->v.lists[l];
    if (L->size == 0) return;
    int m = s->pq.m, npairs = fs_m4(m) / 2, nb = fs_blocks_for(L->size);
    size_t bb = fs_block_bytes(m);
    uint32_t tail = L->size % FS_BLOCK ? (1u << (L->size % FS_BLOCK)) - 1 : ~0u;
    int64_t loc0 = c->use_loc ? ivf_loc(l, 0) : -1;
    /* The next list's codes are prefetched, a share per block, during this list's first group
     * of queries: a list's first pass otherwise waits on memory when the codes outgrow the
     * caches (SIFT-1M: 32 MB, 4% faster search). Hint 1 (prefetcht2) measured faster than 3
     * (prefetcht0), which would evict the list being scanned from L1. */
    prefetcher pf = prefetch_start(s, next, nb);
    for (int r = 0; r < n;) {
        const uint8_t *luts[FS_MAX_QB];
        uint16_t thr[FS_MAX_QB], sums[FS_MAX_QB * FS_BLOCK];
        uint32_t masks[FS_MAX_QB];
        collector *col[FS_MAX_QB];
        int64_t bias[FS_MAX_QB];
        int g = 0;
        for (; r < n && g < FS_MAX_QB; r++) {
            collector *cr = &res[refs[r].q];
            int64_t bi = list_bias(c, c->qscale[q0 + refs[r].q], refs[r].cscore);
            int64_t t = kernel_threshold(collect_threshold(cr), bi);
            if (t < 0) continue;
            if (cr->mode == COLLECT_RES && cr->r.size == 0 && L->size > cr->r.k &&
                L->size <= SCANN_FIRST_MAX && !c->sc->filter) {
                first_list(c, l, tables + (size_t)refs[r].q * tstride, cr, bi, first,
                           first + SCANN_FIRST_MAX, &pf);
                continue;
            }
            luts[g] = tables + (size_t)refs[r].q * tstride;
            col[g] = cr, bias[g] = bi, thr[g++] = (uint16_t)t;
        }
        for (int b = 0; b < nb && g > 0; b++) {
            prefetch_step(&pf);
            j->kernel(s->codes[l].data + (size_t)b * bb, luts, g, npairs, thr, sums, masks);
            uint32_t keep = b == nb - 1 ? tail : ~0u;
            for (int t = 0; t < g; t++) {
                if (!(masks[t] & keep)) continue;
                collect_block(col[t], masks[t] & keep, sums + FS_BLOCK * t, bias[t], L->ids,
                              (int64_t)b * FS_BLOCK, loc0);
                int64_t nt = kernel_threshold(collect_threshold(col[t]), bias[t]);
                if (nt >= 0) {
                    thr[t] = (uint16_t)nt;
                    continue;
                }
                g--; /* done with this list: the last query of the group takes its place */
                luts[t] = luts[g], col[t] = col[g], bias[t] = bias[g], thr[t] = thr[g];
                memmove(sums + FS_BLOCK * t, sums + FS_BLOCK * g, FS_BLOCK * sizeof *sums);
                masks[t] = masks[g];
                t--;
            }
        }
    }
}

static void batch_task(void *ctx, int64_t task, int worker)
{
    const batch_job *j = ctx;
    const ivffs_scan *c = j->c;
    const ivffs_impl *s = c->ix->impl;
    int m = s->pq.m, nlist = s->v.nlist, nprobe = j->nprobe, kk = j->kk;
    int64_t q0 = task * j->chunk;
    int nq = (int)(j->nq - q0 < j->chunk ? j->nq - q0 : j->chunk);
    if (nlist < 1) return; /* never (a trained index has lists); tells GCC the sizes are sane */
    uint8_t *w = j->scratch + (size_t)worker * batch_bytes(m, nlist, nprobe, kk, j->chunk);
    size_t tstride = (fs_lut_bytes(m) + 63) & ~(size_t)63, slots = (size_t)topk_res_slots(kk);
    float *flut = carve(&w, (size_t)m * SCANN_KSUB * sizeof(float));
    uint8_t *tables = carve(&w, (size_t)j->chunk * tstride);
    float *rs = carve(&w, (size_t)j->chunk * slots * sizeof(float));
    int64_t *ri = carve(&w, (size_t)j->chunk * slots * sizeof(int64_t));
    collector *res = carve(&w, (size_t)j->chunk * sizeof(collector));
    int32_t *start = carve(&w, (size_t)(nlist + 1) * sizeof(int32_t));
    uint8_t *done = carve(&w, (size_t)nlist);
    int32_t *order = carve(&w, (size_t)nlist * sizeof(int32_t));
    uint16_t *first = carve(&w, (SCANN_FIRST_MAX + 4096) * sizeof(uint16_t));
    probe_ref *refs = carve(&w, (size_t)j->chunk * nprobe * sizeof(probe_ref));
    for (int i = 0; i < nq; i++) {
        int64_t qi = q0 + i;
        query_table(s, c->ix->dk, c->q + (size_t)qi * s->pq.d, flut, tables + (size_t)i * tstride,
                    &c->qscale[qi], &c->qbias[qi]);
        collect_init_res(&res[i], kk, rs + (size_t)i * slots, ri + (size_t)i * slots, c->sc);
    }
    /* Two waves of probe ranks, [0, 1) and [1, nprobe): every query first scans its nearest
     * list, which sets a threshold close to its final one (one pass over all probes in list
     * order let 35% more candidates through on GloVe), and then all its other lists, shared
     * with as many of the chunk's queries as probe them. Within a wave the probes are grouped
     * by list (counting sort; a list's queries stay in order), and lists go in the order their
     * best-ranked probe comes. Doubling waves ([1, 2), [2, 4), ...) tighten thresholds a little
     * sooner but split each list's queries over several passes: on SIFT-1M, whose codes (32
     * MB) come from DRAM on every pass, two waves are 7-13% faster; GloVe, Fashion-MNIST and
     * USE-512 run the same either way (measured on a 2-core Zen 4, 2 threads). */
    const int32_t *pl = j->lists + (size_t)q0 * nprobe;
    const float *pc = j->cscore + (size_t)q0 * nprobe;
    for (int w0 = 0, w1 = 1; w0 < nprobe; w0 = w1, w1 = nprobe) {
        memset(start, 0, (size_t)(nlist + 1) * sizeof(int32_t));
        for (int i = 0; i < nq; i++)
            for (int p = w0; p < w1; p++) start[pl[(size_t)i * nprobe + p] + 1]++;
        for (int l = 0; l < nlist; l++) start[l + 1] += start[l];
        for (int i = 0; i < nq; i++)
            for (int p = w0; p < w1; p++) {
                size_t e = (size_t)i * nprobe + p;
                refs[start[pl[e]]++] = (probe_ref){i, pc[e]};
            }
        /* start[l] is now the end of list l's run and start[l - 1] its beginning. */
        memset(done, 0, (size_t)nlist);
        int no = 0;
        for (int p = w0; p < w1; p++)
            for (int i = 0; i < nq; i++) {
                int32_t l = pl[(size_t)i * nprobe + p];
                if (done[l]) continue;
                done[l] = 1;
                order[no++] = l;
            }
        for (int o = 0; o < no; o++) {
            int32_t l = order[o];
            int from = l > 0 ? start[l - 1] : 0;
            scan_list_multi(j, l, refs + from, start[l] - from, tables, tstride, res, q0,
                            o + 1 < no ? order[o + 1] : -1, first);
        }
    }
    for (int i = 0; i < nq; i++)
        collect_finish(&res[i], j->out_score + (size_t)(q0 + i) * kk,
                       j->out_id + (size_t)(q0 + i) * kk);
}

/* The batch path for nq queries on nt threads; false when one query at a time fits better
 * (few queries, or fewer queries than threads, where the driver splits each query). */
static int use_batch(int64_t nq, int nprobe, int nt)
{
    return nq >= SCANN_BATCH_MIN_NQ && ivf_parts_per_query(nq, nprobe, nt) == 1;
}

static scann_status search_batch(const ivffs_scan *c, int64_t nq, int nprobe, int kk, int nt,
                                 const int32_t *lists, const float *cscore, float *out_score,
                                 int64_t *out_id)
{
    const ivffs_impl *s = c->ix->impl;
    /* Large chunks put more queries on each list (more sharing), within the budgets, but at
     * least 4 chunks per thread so the threads balance. */
    int64_t chunk = SCANN_CHUNK;
    int64_t by_tables = SCANN_CHUNK_TABLES / (int64_t)fs_lut_bytes(s->pq.m);
    int64_t by_res = SCANN_CHUNK_RES / ((int64_t)topk_res_slots(kk) * 12);
    if (chunk > by_tables) chunk = by_tables;
    if (chunk > by_res) chunk = by_res;
    if (chunk > (nq + 4 * nt - 1) / (4 * nt)) chunk = (nq + 4 * nt - 1) / (4 * nt);
    if (chunk < 16) chunk = 16;
    int64_t ntasks = (nq + chunk - 1) / chunk;
    if (nt > ntasks) nt = (int)ntasks;
    size_t per = batch_bytes(s->pq.m, s->v.nlist, nprobe, kk, (int)chunk);
    uint8_t *scratch = scratch_alloc(c->sc->mem, (size_t)nt * per); /* 64-byte aligned */
    if (!scratch) return err_nomem("SCANN batch scratch", (size_t)nt * per);
    batch_job j = {c,      nprobe,    kk,     (int)chunk,          nq,     lists,
                   cscore, out_score, out_id, c->ix->dk->fs_multi, scratch};
    par_for(c->sc->pool, nt, ntasks, batch_task, &j);
    return SCANN_OK;
}

static int ivffs_scan_batch(void *ctx, int64_t nq, int kk, int nprobe, int nt, const int32_t *lists,
                            const float *cscore, float *out_score, int64_t *out_key,
                            scann_status *st)
{
    if (!use_batch(nq, nprobe, nt)) return 0;
    *st = search_batch(ctx, nq, nprobe, kk, nt, lists, cscore, out_score, out_key);
    return 1;
}

/* Back from the integer scale: score ~ sum of row minima + (S + bias) / a. */
static void ivffs_finish(void *ctx, int64_t qi, float *score, const int64_t *key, int64_t n)
{
    const ivffs_scan *c = ctx;
    for (int64_t i = 0; i < n; i++)
        if (key[i] >= 0) score[i] = c->qbias[qi] + score[i] / c->qscale[qi];
}

/* ---- rerank of narrow rows (ivf_rerank_base) --------------------------------------------- */

typedef struct narrow_ctx {
    const ivffs_impl *s;
    const kernels *dk;
} narrow_ctx;

/* Rows without their code (older files): decode e~, add back x~ from the centre and the
 * block, then score like a float row. */
static float rebuilt_score(const void *ctx, const void *scratch, const float *q, int64_t loc,
                           const uint8_t *row, float *tmp)
{
    const narrow_ctx *n = ctx;
    (void)scratch;
    size_t d = (size_t)n->s->pq.d;
    rerank_decode(&n->s->rr, row, tmp);
    add_reconstruction(n->s, ivf_loc_list(loc), ivf_loc_offset(loc), tmp);
    return n->s->residual ? -n->dk->ip(q, tmp, d) : n->dk->l2(q, tmp, d);
}

/* Per query: the float table (m * 16: <q_j, C_jc>, or ||q_j - C_jc||^2 for L2) and, for
 * residual codes, each probed list's centre score by list number. */
static size_t fused_scratch_bytes(const ivffs_impl *s)
{
    return ((size_t)s->pq.m * SCANN_KSUB + (s->residual ? (size_t)s->v.nlist : 0)) * sizeof(float);
}

static void fused_begin(const void *ctx, const float *q, const int32_t *lists, const float *cscore,
                        int nprobe, void *scratch)
{
    const narrow_ctx *n = ctx;
    const ivffs_impl *s = n->s;
    float *lut = scratch;
    n->dk->pq_tables16(s->ct, s->pq.d, s->pq.dsub, q, !s->residual, lut);
    if (s->residual) {
        float *cs = lut + (size_t)s->pq.m * SCANN_KSUB;
        for (int p = 0; p < nprobe; p++) cs[lists[p]] = cscore[p];
    }
}

/* x = c + x~ + e~ (c = 0 for L2): the centre's score comes from the probe, x~'s from the table
 * and the row's code, e~'s from the payload; L2 expands ||q - x~ - e~||^2 with the row's term. */
static float fused_score(const void *ctx, const void *scratch, const float *q, int64_t loc,
                         const uint8_t *row, float *tmp)
{
    const narrow_ctx *n = ctx;
    const ivffs_impl *s = n->s;
    const float *lut = scratch;
    int m = s->pq.m;
    float aux;
    memcpy(&aux, row + s->rr.row_bytes, sizeof aux);
    const uint8_t *cb = row + s->rr.row_bytes + sizeof aux;
    /* Four chains: the adds' latency, not the loads, bounds this sum. */
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    int j = 0;
    for (; j + 3 < m; j += 4) {
        uint8_t b0 = cb[j >> 1], b1 = cb[(j >> 1) + 1];
        a0 += lut[(size_t)j * SCANN_KSUB + (b0 & 15)];
        a1 += lut[(size_t)(j + 1) * SCANN_KSUB + (b0 >> 4)];
        a2 += lut[(size_t)(j + 2) * SCANN_KSUB + (b1 & 15)];
        a3 += lut[(size_t)(j + 3) * SCANN_KSUB + (b1 >> 4)];
    }
    for (; j < m; j++) a0 += lut[(size_t)j * SCANN_KSUB + (cb[j >> 1] >> (4 * (j & 1)) & 15)];
    float approx = (a0 + a1) + (a2 + a3);
    (void)tmp;
    float qe = rerank_ip(&s->rr, n->dk, q, row);
    if (s->residual) {
        const float *cs = lut + (size_t)m * SCANN_KSUB;
        return cs[ivf_loc_list(loc)] - approx - qe;
    }
    float l2 = approx - 2.0f * qe + aux;
    return l2 > 0.0f ? l2 : 0.0f;
}

static scann_status ivffs_search(const scann_index *ix, int64_t nq, const float *q, int k,
                                 const search_ctx *sc, float *score, int64_t *ids)
{
    const ivffs_impl *s = ix->impl;
    int nt = sc->num_threads;
    uint8_t *scratch = scratch_alloc(sc->mem, (size_t)nt * worker_bytes(s->pq.m));
    float *qscale = scratch_alloc(sc->mem, (size_t)nq * sizeof(float));
    float *qbias = scratch_alloc(sc->mem, (size_t)nq * sizeof(float));
    if (!scratch || !qscale || !qbias)
        return err_nomem("SCANN search scratch", (size_t)nt * worker_bytes(s->pq.m) + nq * 8);
    ivffs_scan ctx = {ix, q, s->rr.kind != SCANN_REORDER_NONE, scratch, qscale, qbias, sc};
    ivf_codec codec = {&ctx,        COLLECT_RES, ivffs_begin, ivffs_scan_list, ivffs_scan_batch,
                       ivffs_finish};
    narrow_ctx nc = {s, ix->dk};
    ivf_rerank_base base =
        s->rr_codes ? (ivf_rerank_base){&nc, fused_scratch_bytes(s), fused_begin, fused_score}
                    : (ivf_rerank_base){&nc, 0, NULL, rebuilt_score};
    return ivf_search(ix, &s->v, &s->rr, s->rr_error ? &base : NULL, &codec, nq, q, k, sc, score,
                      ids);
}

static size_t ivffs_memory(const scann_index *ix)
{
    const ivffs_impl *s = ix->impl;
    size_t b = sizeof *s + ivf_memory(&s->v) + 2 * pq_memory(&s->pq); /* codebooks and ct */
    if (s->codes)
        for (int l = 0; l < s->v.nlist; l++)
            b += sizeof(fs_list) +
                 (s->codes[l].in_slab ? 0 : (size_t)s->codes[l].cap * fs_block_bytes(s->pq.m));
    return b + s->slab_bytes;
}

static void ivffs_destroy(scann_index *ix)
{
    ivffs_impl *s = ix->impl;
    if (!s) return;
    ivffs_release(s);
    free(s);
    ix->impl = NULL;
}

static scann_status ivffs_save(const scann_index *ix, struct ctr_writer *w);
static scann_status ivffs_load(scann_index *ix, struct ctr_reader *r);

/* ---- updates ----------------------------------------------------------------------------- */

static scann_status ivffs_collect(scann_index *ix, const idset *set, int64_t **locs, int64_t *n)
{
    return ivf_collect(&((ivffs_impl *)ix->impl)->v, set, locs, n);
}

/* The packed code follows its id: slot `from` moves to `to`, then slot `from` is cleared so the
 * padding of a list's last block stays zero. Nibble by nibble: no buffer, cannot fail. */
static void move_code(void *ctx, int32_t l, int64_t from, int64_t to)
{
    ivffs_impl *s = ctx;
    fs_list_move(&s->codes[l], s->pq.m, from, to);
}

static void ivffs_remove_locs(scann_index *ix, const int64_t *locs, int64_t n)
{
    ivffs_impl *s = ix->impl;
    ivf_remove_locs(&s->v, locs, n, move_code, s);
}

/* The float rerank row (x itself); a bf16 / int8 row holds x's quantization error, so x is that
 * plus the 4-bit reconstruction; with no rerank store, the 4-bit reconstruction alone. */
static scann_status ivffs_reconstruct(scann_index *ix, int64_t id, float *out, int *found)
{
    ivffs_impl *s = ix->impl;
    int64_t loc;
    scann_status st = ivf_locate(&s->v, id, &loc);
    *found = !st && loc >= 0;
    if (!*found) return st;
    const ivf_list *L = &s->v.lists[ivf_loc_list(loc)];
    size_t off = (size_t)ivf_loc_offset(loc);
    if (s->rr.kind != SCANN_REORDER_NONE)
        rerank_decode(&s->rr, L->extra + off * s->v.extra_size, out);
    else
        memset(out, 0, (size_t)s->pq.d * sizeof(float));
    if (s->rr.kind == SCANN_REORDER_NONE || s->rr_error)
        add_reconstruction(s, ivf_loc_list(loc), (int64_t)off, out);
    return SCANN_OK;
}

/* Rows with their code need version 3; anything else stays readable by version 2 readers (and
 * a version 2 file saves back to the same bytes). */
static uint32_t ivffs_save_version(const scann_index *ix)
{
    return ((const ivffs_impl *)ix->impl)->rr_codes ? 3u : 2u;
}

static const index_ops ivffs_ops = {
    ivffs_train, ivffs_add,     ivffs_search,      ivffs_memory,      ivffs_destroy,     ivffs_save,
    ivffs_load,  ivffs_collect, ivffs_remove_locs, ivffs_reconstruct, ivffs_save_version};

scann_status ivffs_init(scann_index *ix)
{
    if (ix->p.dims_per_block == 0) ix->p.dims_per_block = pq_default_dims_per_block(ix->p.dim);
    if (ix->p.dims_per_block > ix->p.dim)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "SCANN: dims_per_block=%d exceeds dim=%d",
                       ix->p.dims_per_block, ix->p.dim);
    int m = (ix->p.dim + ix->p.dims_per_block - 1) / ix->p.dims_per_block;
    scann_status st = pq_check_shape(ix->p.dim, m);
    if (st) return st;
    ivffs_impl *s = calloc(1, sizeof *s);
    if (!s) return err_nomem("SCANN index", sizeof *s);
    ix->impl = s;
    ix->ops = &ivffs_ops;
    return SCANN_OK;
}

/* ---- persistence (container.h, docs/FORMAT.md) ------------------------------------------- */

/* The ivf sections (no CODE: code_size is 0; RROW when reorder is not none), CDBK, and BLKS:
 * each list's ceil(size / 32) packed blocks, lists in order. */
static scann_status ivffs_save(const scann_index *ix, ctr_writer *w)
{
    const ivffs_impl *s = ix->impl;
    size_t bb = fs_block_bytes(s->pq.m);
    ivf_save(w, &s->v);
    ctr_section(w, SEC_CDBK, s->pq.codebooks, pq_memory(&s->pq));
    ctr_begin(w, SEC_BLKS);
    for (int l = 0; l < s->v.nlist; l++)
        ctr_put(w, s->codes[l].data, (size_t)fs_blocks_for(s->v.lists[l].size) * bb);
    return ctr_end(w);
}

static scann_status ivffs_load(scann_index *ix, ctr_reader *r)
{
    ivffs_impl *s = ix->impl;
    int d = ix->p.dim, m = (d + ix->p.dims_per_block - 1) / ix->p.dims_per_block;
    scann_status st;
    s->residual = index_uses_ip(ix);
    if ((st = pq_init(&s->pq, d, m, SCANN_KSUB)) ||
        (st = ctr_take_floats(r, SEC_CDBK, (size_t)SCANN_KSUB * d, s->pq.codebooks)) ||
        (st = rerank_init(&s->rr, ix->p.reorder, d, NULL, 0)))
        return st;
    if (!(s->ct = pq_transpose(&s->pq))) return err_nomem("SCANN codebooks", pq_memory(&s->pq));
    /* as ivffs_train decides it: narrow stores hold the code's error, and rows carry the code
     * from format version 3 on */
    s->rr_error = s->rr.kind == SCANN_REORDER_BF16 || s->rr.kind == SCANN_REORDER_INT8;
    s->rr_codes = s->rr_error && r->version >= 3;
    size_t rb = s->rr_codes ? coded_row_bytes(s->rr.row_bytes, m) : s->rr.row_bytes;
    if ((st = ivf_load(r, &s->v, ix->p.nlist, d, ix->ntotal, ix->dk, 0, rb))) return st;
    size_t bb = fs_block_bytes(m);
    uint64_t nblocks = 0;
    for (int l = 0; l < s->v.nlist; l++) nblocks += (uint64_t)fs_blocks_for(s->v.lists[l].size);
    const uint8_t *blk;
    if ((st = ctr_take(r, SEC_BLKS, nblocks, bb, &blk))) return st;
    s->codes = calloc((size_t)s->v.nlist, sizeof(fs_list));
    if (!s->codes) return err_nomem("SCANN code lists", (size_t)s->v.nlist * sizeof(fs_list));
    if (!s->v.mapped) {
        int64_t *nb = malloc((size_t)s->v.nlist * sizeof(int64_t));
        if (!nb) return err_nomem("SCANN list blocks", (size_t)s->v.nlist * sizeof(int64_t));
        for (int l = 0; l < s->v.nlist; l++) nb[l] = fs_blocks_for(s->v.lists[l].size);
        st = codes_to_slab(s, nb, blk);
        free(nb);
        return st;
    }
    for (int l = 0; l < s->v.nlist; l++) { /* 64-byte aligned: bb is a multiple of 64 */
        size_t nb = (size_t)fs_blocks_for(s->v.lists[l].size);
        if (nb) s->codes[l].data = (uint8_t *)blk; /* cap 0: not on the heap */
        blk += nb * bb;
    }
    return SCANN_OK;
}
