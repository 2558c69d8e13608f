/*
 * codec.c - the public codec API (include/scann_codec.h): the SCANN index's train / encode /
 * pack / table / scan / rerank steps over lists the caller stores.
 *
 * It wraps the same internals index_scann.c uses, in the same order with the same seeds
 * (k-means on the data with seed, codebooks on a sample drawn with seed + 1 trained with
 * seed + 2, the threshold chosen with seed + 3), so a codec and a SCANN index trained on the same
 * data with the same parameters learn the same centres and codebooks.
 *
 * Memory: a codec is one allocation, a header followed by centres, centre norms and codebooks
 * (carve()), so scann_codec_load_into can place it in caller memory. A query is one header plus
 * its arrays in the caller's memory. Nothing on the scan path allocates.
 *
 * Saved bytes (little-endian): "SCNCODEC" | u32 version | u32 header bytes | header fields
 * (save_header) | centres (nlist * dim f32) | codebooks (16 * dim f32) | u64 XXH64 of
 * everything before it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scann_codec.h"

#include "avq.h"
#include "container.h"
#include "error.h"
#include "fastscan/fastscan.h"
#include "ivf.h"
#include "kernels.h"
#include "pq.h"
#include "rerank.h"
#include "sample.h"

#define CODEC_KSUB 16
#define CODEC_MAGIC "SCNCODEC"
#define CODEC_VERSION 1u
#define CODEC_MAX_DIM 65536 /* bounds what a loaded header may ask for */
#define CODEC_MAX_NLIST (1 << 24)

struct scann_codec {
    scann_codec_params p;
    int trained;
    int owned; /* 1: malloc'ed by create/load (scann_codec_free releases it) */
    int m;
    int residual;   /* encode x - centre (ip/cosine) or x (L2) */
    int rr_error;   /* bf16/int8 rows hold x - x~ (as index_scann.c) */
    float *centres; /* nlist x dim */
    float *cnorm2;  /* nlist */
    pq pq;          /* codebooks point into this allocation (or a malloc'ed one) */
    rerank_store rr;
    const kernels *dk; /* this CPU's kernel table, chosen once at create */
};

struct scann_codec_query {
    float *q;          /* dim: normalised for cosine */
    float *flut;       /* m * 16 floats (built, then kept for nothing but debugging) */
    uint8_t *lut;      /* fs_lut_bytes(m) */
    float *cscore;     /* nlist: probe scratch */
    float *tmp;        /* dim: decode / normalise scratch */
    float scale, bias; /* uint8 table: float sum ~ bias + S / scale */
};

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static void *carve(uint8_t **p, size_t bytes)
{
    void *r = *p;
    *p += align64(bytes);
    return r;
}

static int codec_m(int dim, int dpb) { return (dim + dpb - 1) / dpb; }

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* out = x / ||x|| for cosine (zero stays zero), else a copy. Double accumulation, as api.c. */
static void prepare(const scann_codec *c, const float *x, float *out)
{
    size_t d = (size_t)c->p.dim;
    if (c->p.metric != SCANN_METRIC_COSINE) {
        if (out != x) memcpy(out, x, d * sizeof(float));
        return;
    }
    double s = 0;
    for (size_t i = 0; i < d; i++) s += (double)x[i] * x[i];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (size_t i = 0; i < d; i++) out[i] = x[i] * inv;
}

static scann_status check_vector(const scann_codec *c, int dim, const float *x, const char *what)
{
    if (!c || !x) return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: NULL argument", what);
    if (dim != c->p.dim)
        return err_set(SCANN_ERR_DIMENSION, "%s: dim=%d, the codec's is %d", what, dim, c->p.dim);
    if (!c->trained) return err_set(SCANN_ERR_NOT_TRAINED, "%s: the codec is not trained", what);
    if (!all_finite(x, (size_t)dim))
        return err_set(SCANN_ERR_INVALID_DATA, "%s: NaN or infinite value in the vector", what);
    return SCANN_OK;
}

/* ---- life cycle --------------------------------------------------------------------------- */

int scann_codec_default_dims_per_block(int dim)
{
    return dim < 1 ? 2 : pq_default_dims_per_block(dim);
}

scann_status scann_codec_params_init(scann_codec_params *p, scann_metric metric, int dim)
{
    if (!p) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec params: NULL");
    memset(p, 0, sizeof *p);
    p->dim = dim;
    p->metric = metric;
    p->dims_per_block = 0; /* chosen from dim at create, as the SCANN index does */
    p->aq_threshold = -1.0f;
    p->reorder = SCANN_REORDER_NONE;
    return SCANN_OK;
}

static scann_status check_params(const scann_codec_params *p)
{
    if (p->dim < 1 || p->dim > CODEC_MAX_DIM)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec: dim=%d not in [1, %d]", p->dim,
                       CODEC_MAX_DIM);
    if ((unsigned)p->metric > SCANN_METRIC_COSINE)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec: metric=%d", (int)p->metric);
    if (p->nlist < 1 || p->nlist > CODEC_MAX_NLIST)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec: nlist=%d not in [1, %d]", p->nlist,
                       CODEC_MAX_NLIST);
    if (p->dims_per_block < 0 || p->dims_per_block > p->dim)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec: dims_per_block=%d not in [0, dim=%d]",
                       p->dims_per_block, p->dim);
    if ((unsigned)p->reorder > SCANN_REORDER_NONE)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec: reorder=%d", (int)p->reorder);
    if (p->num_threads < 0 || p->num_threads > 4096 || p->train_size < 0 || p->kmeans_iters < 0)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "codec: num_threads=%d, train_size=%lld or kmeans_iters=%d out of range",
                       p->num_threads, (long long)p->train_size, p->kmeans_iters);
    int dpb = p->dims_per_block ? p->dims_per_block : pq_default_dims_per_block(p->dim);
    if (dpb > p->dim) dpb = p->dim;
    return pq_check_shape(p->dim, codec_m(p->dim, dpb));
}

/* Bytes of a codec with these parameters: header + centres + norms + codebooks. */
static size_t codec_bytes(const scann_codec_params *p)
{
    return align64(sizeof(scann_codec)) + align64((size_t)p->nlist * p->dim * sizeof(float)) +
           align64((size_t)p->nlist * sizeof(float)) +
           align64((size_t)CODEC_KSUB * p->dim * sizeof(float)) + 64;
}

/* Lay a codec out in mem (codec_bytes(p) bytes, any alignment). */
static scann_codec *codec_place(const scann_codec_params *p, void *mem)
{
    uint8_t *w = (uint8_t *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    scann_codec *c = carve(&w, sizeof *c);
    memset(c, 0, sizeof *c);
    c->p = *p;
    if (!c->p.dims_per_block) c->p.dims_per_block = pq_default_dims_per_block(c->p.dim);
    if (c->p.dims_per_block > c->p.dim) c->p.dims_per_block = c->p.dim;
    c->m = codec_m(c->p.dim, c->p.dims_per_block);
    c->residual = p->metric != SCANN_METRIC_L2;
    c->centres = carve(&w, (size_t)p->nlist * p->dim * sizeof(float));
    c->cnorm2 = carve(&w, (size_t)p->nlist * sizeof(float));
    c->pq.d = p->dim;
    c->pq.m = c->m;
    c->pq.ksub = CODEC_KSUB;
    c->pq.dsub = (p->dim + c->m - 1) / c->m;
    c->pq.codebooks = carve(&w, (size_t)CODEC_KSUB * p->dim * sizeof(float));
    c->dk = kernels_best();
    rerank_init(&c->rr, p->reorder, p->dim, NULL, 0); /* cannot fail for a valid kind */
    c->rr_error = p->reorder == SCANN_REORDER_BF16 || p->reorder == SCANN_REORDER_INT8;
    return c;
}

scann_status scann_codec_create(const scann_codec_params *p, scann_codec **out)
{
    if (!p || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec create: NULL argument");
    scann_status st = check_params(p);
    if (st) return st;
    size_t bytes = align64(codec_bytes(p));
    void *mem = aligned_alloc(64, bytes); /* 64-aligned: codec_place puts the header at mem */
    if (!mem) return err_nomem("codec", bytes);
    memset(mem, 0, bytes);
    scann_codec *c = codec_place(p, mem);
    c->owned = 1;
    *out = c;
    return SCANN_OK;
}

void scann_codec_free(scann_codec *c)
{
    if (c && c->owned) free(c);
}

scann_status scann_codec_get_info(const scann_codec *c, scann_codec_info *info)
{
    if (!c || !info) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec info: NULL argument");
    size_t d = (size_t)c->p.dim;
    memset(info, 0, sizeof *info);
    info->dim = c->p.dim;
    info->metric = c->p.metric;
    info->nlist = c->p.nlist;
    info->m = c->m;
    info->dims_per_block = c->p.dims_per_block;
    info->reorder = c->p.reorder;
    info->aq_threshold = c->p.aq_threshold;
    info->trained = c->trained;
    info->block_bytes = fs_block_bytes(c->m);
    info->row_bytes = c->rr.row_bytes;
    info->query_bytes = 64 + align64(sizeof(scann_codec_query)) + 2 * align64(d * sizeof(float)) +
                        align64((size_t)c->m * CODEC_KSUB * sizeof(float)) +
                        align64(fs_lut_bytes(c->m)) + align64((size_t)c->p.nlist * sizeof(float));
    info->encode_bytes =
        64 + 3 * align64(d * sizeof(float)) + align64(avq_scratch_floats(&c->pq) * sizeof(float));
    info->saved_bytes = 8 + 4 + 4 + 48 + ((size_t)c->p.nlist + CODEC_KSUB) * d * sizeof(float) + 8;
    info->kernel = c->dk->name;
    return SCANN_OK;
}

/* ---- train -------------------------------------------------------------------------------- */

scann_status scann_codec_train(scann_codec *c, int64_t n, int dim, const float *x)
{
    if (!c || !x) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec train: NULL argument");
    if (dim != c->p.dim)
        return err_set(SCANN_ERR_DIMENSION, "codec train: dim=%d, the codec's is %d", dim,
                       c->p.dim);
    int nlist = c->p.nlist;
    if (n < nlist || n < CODEC_KSUB)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "codec train: n=%lld vectors, need at least nlist=%d and %d", (long long)n,
                       nlist, CODEC_KSUB);
    size_t d = (size_t)dim;
    if (!all_finite(x, (size_t)n * d))
        return err_set(SCANN_ERR_INVALID_DATA, "codec train: NaN or infinite value");
    int nt = c->p.num_threads > 0 ? c->p.num_threads : 1;
    float *xn = NULL, *res = NULL, *smp_owned = NULL;
    int32_t *assign = NULL;
    scann_status st = SCANN_OK;
    if (c->p.metric == SCANN_METRIC_COSINE) {
        if (!(xn = malloc((size_t)n * d * sizeof(float)))) {
            st = err_nomem("codec train: normalised copy", (size_t)n * d * 4);
            goto done;
        }
        for (int64_t i = 0; i < n; i++) prepare(c, x + (size_t)i * d, xn + (size_t)i * d);
        x = xn;
    }
    /* Into scratch partitions and a scratch pq, as the SCANN index trains (ivf.h, avq.h): a
     * failed retrain leaves the codec. */
    pq fresh;
    memset(&fresh, 0, sizeof fresh);
    ivf v = {0};
    if ((st = pq_init(&fresh, dim, c->m, CODEC_KSUB)) || (st = ivf_init(&v, nlist, dim, 0, 0)) ||
        (st = ivf_train(&v, x, n, c->residual, c->p.train_size, c->p.kmeans_iters, c->p.seed, nt,
                        c->dk, NULL)))
        goto fail_pq;
    const float *smp;
    int64_t ns;
    int64_t pq_sample = c->p.train_size > 0 ? c->p.train_size : AVQ_TRAIN_SAMPLE;
    if ((st = sample_rows(x, n, dim, pq_sample, c->p.seed + 1, &smp, &smp_owned, &ns)))
        goto fail_pq;
    const float *train_rows = smp;
    if (c->residual) {
        assign = malloc((size_t)ns * sizeof(int32_t));
        res = malloc((size_t)ns * d * sizeof(float));
        if (!assign || !res) {
            st = err_nomem("codec train: residuals", (size_t)ns * d * 4);
            goto fail_pq;
        }
        if ((st = ivf_assign(&v, smp, ns, nt, c->dk, assign))) goto fail_pq;
        ivf_residuals(&v, smp, ns, assign, res);
        train_rows = res;
    }
    float threshold = c->p.aq_threshold;
    if ((st = avq_train_codebooks(&fresh, smp, train_rows, ns, v.centres, assign, c->residual,
                                  c->p.seed + 2, nt, c->dk, NULL, &threshold)))
        goto fail_pq;
    memcpy(c->centres, v.centres, (size_t)nlist * d * sizeof(float));
    memcpy(c->cnorm2, v.cnorm2, (size_t)nlist * sizeof(float));

    memcpy(c->pq.codebooks, fresh.codebooks, (size_t)CODEC_KSUB * d * sizeof(float));
    c->p.aq_threshold = threshold;
    c->trained = 1;
fail_pq:
    pq_free(&fresh);
    ivf_free(&v);
done:
    free(xn), free(res), free(smp_owned), free(assign);
    return st;
}

/* ---- persistence -------------------------------------------------------------------------- */

/* Header fields after magic, version and header size: 12 x 4 bytes. */
#define CODEC_HEADER_BYTES 48

static void put32(uint8_t **w, uint32_t v)
{
    memcpy(*w, &v, 4);
    *w += 4;
}

static uint32_t get32(const uint8_t **r)
{
    uint32_t v;
    memcpy(&v, *r, 4);
    *r += 4;
    return v;
}

scann_status scann_codec_save(const scann_codec *c, void *buf, size_t cap, size_t *len)
{
    if (!c || !len) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec save: NULL argument");
    if (!c->trained) return err_set(SCANN_ERR_NOT_TRAINED, "codec save: the codec is not trained");
    scann_codec_info info;
    scann_codec_get_info(c, &info);
    *len = info.saved_bytes;
    if (!buf) return SCANN_OK;
    if (cap < info.saved_bytes)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec save: cap=%zu, need %zu", cap,
                       info.saved_bytes);
    uint8_t *w = buf;
    size_t d = (size_t)c->p.dim;
    float thr = c->p.aq_threshold;
    uint32_t thr_bits;
    memcpy(&thr_bits, &thr, 4);
    memcpy(w, CODEC_MAGIC, 8), w += 8;
    put32(&w, CODEC_VERSION);
    put32(&w, CODEC_HEADER_BYTES);
    put32(&w, (uint32_t)c->p.dim), put32(&w, (uint32_t)c->p.metric);
    put32(&w, (uint32_t)c->p.nlist), put32(&w, (uint32_t)c->p.dims_per_block);
    put32(&w, (uint32_t)c->p.reorder), put32(&w, thr_bits);
    put32(&w, (uint32_t)c->p.seed), put32(&w, (uint32_t)(c->p.seed >> 32));
    put32(&w, (uint32_t)c->p.train_size), put32(&w, (uint32_t)c->p.kmeans_iters);
    put32(&w, 0), put32(&w, 0); /* reserved */
    memcpy(w, c->centres, (size_t)c->p.nlist * d * sizeof(float)), w += (size_t)c->p.nlist * d * 4;
    memcpy(w, c->pq.codebooks, CODEC_KSUB * d * sizeof(float)), w += CODEC_KSUB * d * 4;
    uint64_t h = ctr_xxh64(buf, (size_t)(w - (uint8_t *)buf), 0);
    memcpy(w, &h, 8);
    return SCANN_OK;
}

/* Validate saved bytes and read their parameters. */
static scann_status parse_saved(const void *buf, size_t len, scann_codec_params *p)
{
    const uint8_t *r = buf;
    if (!buf || len < 16 + CODEC_HEADER_BYTES + 8 || memcmp(r, CODEC_MAGIC, 8) != 0)
        return err_set(SCANN_ERR_FORMAT, "codec load: not a saved codec (%zu bytes)", len);
    r += 8;
    uint32_t version = get32(&r), hb = get32(&r);
    if (version != CODEC_VERSION || hb != CODEC_HEADER_BYTES)
        return err_set(SCANN_ERR_FORMAT, "codec load: version %u / header %u unsupported", version,
                       hb);
    memset(p, 0, sizeof *p);
    p->dim = (int)get32(&r);
    p->metric = (scann_metric)get32(&r);
    p->nlist = (int)get32(&r);
    p->dims_per_block = (int)get32(&r);
    p->reorder = (scann_reorder)get32(&r);
    uint32_t tb = get32(&r);
    memcpy(&p->aq_threshold, &tb, 4);
    uint64_t lo = get32(&r), hi = get32(&r);
    p->seed = lo | hi << 32;
    p->train_size = get32(&r);
    p->kmeans_iters = (int)get32(&r);
    if (check_params(p) != SCANN_OK || p->dims_per_block < 1)
        return err_set(SCANN_ERR_FORMAT, "codec load: bad parameters (dim %d, nlist %d)", p->dim,
                       p->nlist);
    size_t need = 16 + CODEC_HEADER_BYTES + ((size_t)p->nlist + CODEC_KSUB) * p->dim * 4;
    if (len != need + 8)
        return err_set(SCANN_ERR_FORMAT, "codec load: %zu bytes, expected %zu", len, need + 8);
    uint64_t h;
    memcpy(&h, (const uint8_t *)buf + need, 8);
    if (h != ctr_xxh64(buf, need, 0))
        return err_set(SCANN_ERR_FORMAT, "codec load: checksum mismatch");
    return SCANN_OK;
}

scann_status scann_codec_load_size(const void *buf, size_t len, size_t *bytes)
{
    scann_codec_params p;
    if (!bytes) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec load size: NULL argument");
    scann_status st = parse_saved(buf, len, &p);
    if (!st) *bytes = codec_bytes(&p);
    return st;
}

scann_status scann_codec_load_into(const void *buf, size_t len, void *mem, size_t mem_bytes,
                                   scann_codec **out)
{
    scann_codec_params p;
    if (!mem || !out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec load: NULL argument");
    scann_status st = parse_saved(buf, len, &p);
    if (st) return st;
    if (mem_bytes < codec_bytes(&p))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec load: mem_bytes=%zu, need %zu", mem_bytes,
                       codec_bytes(&p));
    scann_codec *c = codec_place(&p, mem);
    const uint8_t *r = (const uint8_t *)buf + 16 + CODEC_HEADER_BYTES;
    size_t d = (size_t)p.dim;
    memcpy(c->centres, r, (size_t)p.nlist * d * 4);
    memcpy(c->pq.codebooks, r + (size_t)p.nlist * d * 4, CODEC_KSUB * d * 4);
    if (!all_finite(c->centres, (size_t)p.nlist * d) ||
        !all_finite(c->pq.codebooks, CODEC_KSUB * d))
        return err_set(SCANN_ERR_FORMAT, "codec load: non-finite centre or codebook value");
    for (int l = 0; l < p.nlist; l++) {
        const float *cl = c->centres + (size_t)l * d;
        c->cnorm2[l] = c->dk->ip(cl, cl, d);
    }
    c->trained = 1;
    *out = c;
    return SCANN_OK;
}

scann_status scann_codec_load(const void *buf, size_t len, scann_codec **out)
{
    size_t bytes;
    if (!out) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec load: NULL argument");
    scann_status st = scann_codec_load_size(buf, len, &bytes);
    if (st) return st;
    void *mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!mem) return err_nomem("codec", bytes);
    scann_codec *c;
    if ((st = scann_codec_load_into(buf, len, mem, bytes, &c))) {
        free(mem);
        return st;
    }
    c->owned = 1; /* 64-aligned: the header sits at mem itself, which free() takes */
    *out = c;
    return SCANN_OK;
}

/* ---- add ---------------------------------------------------------------------------------- */

static int32_t nearest_centre(const scann_codec *c, const float *x)
{
    int32_t best = 0;
    float bs = INFINITY;
    for (int l = 0; l < c->p.nlist; l++) {
        float s = c->dk->l2(x, c->centres + (size_t)l * c->p.dim, (size_t)c->p.dim);
        if (s < bs) bs = s, best = l;
    }
    return best;
}

scann_status scann_codec_assign(const scann_codec *c, int dim, const float *x, void *scratch,
                                int32_t *list)
{
    scann_status st = check_vector(c, dim, x, "codec assign");
    if (st) return st;
    if (!scratch || !list) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec assign: NULL");
    float *xn = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    prepare(c, x, xn);
    *list = nearest_centre(c, xn);
    return SCANN_OK;
}

/* out += x~ of a code in list l: the centre (residual codecs) plus the decoded sub-codes. */
static void add_reconstruction(const scann_codec *c, int32_t l, const uint8_t *block, int slot,
                               float *out)
{
    const pq *p = &c->pq;
    if (c->residual) {
        const float *cl = c->centres + (size_t)l * p->d;
        for (int t = 0; t < p->d; t++) out[t] += cl[t];
    }
    for (int j = 0; j < p->m; j++) {
        const float *cc = pq_centre(p, j, fs_code_at(block, j, slot));
        float *o = out + pq_off(p, j);
        for (int t = 0; t < pq_len(p, j); t++) o[t] += cc[t];
    }
}

scann_status scann_codec_encode(const scann_codec *c, int dim, const float *x, void *scratch,
                                int32_t *list, uint8_t *code, uint8_t *row)
{
    scann_status st = check_vector(c, dim, x, "codec encode");
    if (st) return st;
    if (!scratch || !list || !code)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec encode: NULL");
    size_t d = (size_t)dim;
    uint8_t *w = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *xn = carve(&w, d * sizeof(float)), *v = carve(&w, d * sizeof(float));
    float *err = carve(&w, d * sizeof(float)), *avq = carve(&w, avq_scratch_floats(&c->pq) * 4);
    prepare(c, x, xn);
    int32_t l = nearest_centre(c, xn);
    const float *enc = xn;
    if (c->residual) {
        const float *cl = c->centres + (size_t)l * d;
        for (size_t t = 0; t < d; t++) v[t] = xn[t] - cl[t];
        enc = v;
    }
    double n2 = 0;
    for (size_t t = 0; t < d; t++) n2 += (double)xn[t] * xn[t];
    /* The weight is along the original vector x, not along the residual (DESIGN 2.4). */
    float eta = avq_eta(c->p.aq_threshold, dim, (float)n2);
    avq_encode_one(&c->pq, enc, xn, eta, code, avq);
    *list = l;
    if (row && c->rr.row_bytes) {
        if (c->rr_error) {
            /* err = x - x~ through the same reconstruction score_row adds back: pack the code
             * into a one-vector block (slot 0) in the avq scratch, which is free again. */
            uint8_t *blk = (uint8_t *)avq;
            memset(blk, 0, fs_block_bytes(c->m));
            fs_pack_one(blk, c->m, 0, code);
            for (size_t t = 0; t < d; t++) err[t] = -xn[t];
            add_reconstruction(c, l, blk, 0, err);
            for (size_t t = 0; t < d; t++) err[t] = -err[t];
            rerank_encode(&c->rr, err, row);
        } else {
            rerank_encode(&c->rr, xn, row);
        }
    }
    return SCANN_OK;
}

static scann_status check_slot(const scann_codec *c, const void *block, int slot, const char *w)
{
    if (!c || !block) return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: NULL argument", w);
    if (slot < 0 || slot >= FS_BLOCK)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "%s: slot=%d not in [0, 32)", w, slot);
    return SCANN_OK;
}

scann_status scann_codec_block_set(const scann_codec *c, uint8_t *block, int slot,
                                   const uint8_t *code)
{
    scann_status st = check_slot(c, block, slot, "codec block_set");
    if (st) return st;
    if (!code) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec block_set: NULL code");
    for (int j = 0; j < c->m; j++) {
        if (code[j] > 15)
            return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec block_set: code[%d]=%d > 15", j,
                           code[j]);
    }
    for (int j = 0; j < c->m; j++) fs_set_code(block, j, slot, code[j]);
    return SCANN_OK;
}

scann_status scann_codec_block_get(const scann_codec *c, const uint8_t *block, int slot,
                                   uint8_t *code)
{
    scann_status st = check_slot(c, block, slot, "codec block_get");
    if (st) return st;
    if (!code) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec block_get: NULL code");
    fs_unpack_one(block, c->m, slot, code);
    return SCANN_OK;
}

scann_status scann_codec_block_move(const scann_codec *c, uint8_t *dst, int to, uint8_t *src,
                                    int from)
{
    scann_status st = check_slot(c, dst, to, "codec block_move");
    if (!st) st = check_slot(c, src, from, "codec block_move");
    if (st) return st;
    if (dst != src || to != from) fs_move_one(dst, to, src, from, c->m);
    return SCANN_OK;
}

/* ---- search ------------------------------------------------------------------------------- */

scann_status scann_codec_query_init(const scann_codec *c, int dim, const float *q, void *mem,
                                    size_t mem_bytes, scann_codec_query **out)
{
    scann_status st = check_vector(c, dim, q, "codec query");
    if (st) return st;
    scann_codec_info info;
    scann_codec_get_info(c, &info);
    if (!mem || !out || mem_bytes < info.query_bytes)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec query: mem_bytes=%zu, need %zu",
                       mem ? mem_bytes : 0, info.query_bytes);
    size_t d = (size_t)dim;
    uint8_t *w = (uint8_t *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    scann_codec_query *Q = carve(&w, sizeof *Q);
    Q->q = carve(&w, d * sizeof(float));
    Q->tmp = carve(&w, d * sizeof(float));
    Q->flut = carve(&w, (size_t)c->m * CODEC_KSUB * sizeof(float));
    Q->lut = carve(&w, fs_lut_bytes(c->m));
    Q->cscore = carve(&w, (size_t)c->p.nlist * sizeof(float));
    prepare(c, q, Q->q);
    /* As index_scann.c's query_table: residual codes score -<q, r~>, L2 codes ||q - x~||^2. */
    if (c->residual) {
        pq_lut_ip(&c->pq, Q->q, Q->flut);
        for (size_t i = 0; i < (size_t)c->m * CODEC_KSUB; i++) Q->flut[i] = -Q->flut[i];
    } else {
        pq_lut_l2(&c->pq, Q->q, Q->flut);
    }
    fs_lut_quantize(Q->flut, c->m, Q->lut, &Q->scale, &Q->bias);
    *out = Q;
    return SCANN_OK;
}

/* (score, list) a is worse than b: larger score, or equal score and larger list. */
static int probe_worse(float sa, int32_t la, float sb, int32_t lb)
{
    return sa > sb || (sa == sb && la > lb);
}

static void probe_sift_down(float *s, int32_t *l, int n, int i)
{
    for (;;) {
        int a = 2 * i + 1, b = a + 1, w = i;
        if (a < n && probe_worse(s[a], l[a], s[w], l[w])) w = a;
        if (b < n && probe_worse(s[b], l[b], s[w], l[w])) w = b;
        if (w == i) return;
        float ts = s[i];
        int32_t tl = l[i];
        s[i] = s[w], l[i] = l[w], s[w] = ts, l[w] = tl;
        i = w;
    }
}

scann_status scann_codec_probe(const scann_codec *c, const scann_codec_query *q, int nprobe,
                               int32_t *lists, float *centre_scores)
{
    if (!c || !q || !lists || !centre_scores)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec probe: NULL argument");
    int nlist = c->p.nlist;
    if (nprobe < 1 || nprobe > nlist)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec probe: nprobe=%d not in [1, %d]", nprobe,
                       nlist);
    size_t d = (size_t)c->p.dim;
    /* Lists by the search metric: ||q - c||^2, or -<q, c> for inner product / cosine. */
    for (int l = 0; l < nlist; l++) {
        const float *cl = c->centres + (size_t)l * d;
        q->cscore[l] = c->residual ? -c->dk->ip(q->q, cl, d) : c->dk->l2(q->q, cl, d);
    }
    /* A max-heap of the nprobe best in the output arrays, then heap-sorted best first. */
    int n = 0;
    for (int l = 0; l < nlist; l++) {
        float s = q->cscore[l];
        if (n < nprobe) {
            int i = n++;
            centre_scores[i] = s, lists[i] = l;
            while (i > 0) {
                int p = (i - 1) / 2;
                if (!probe_worse(centre_scores[i], lists[i], centre_scores[p], lists[p])) break;
                float ts = centre_scores[i];
                int32_t tl = lists[i];
                centre_scores[i] = centre_scores[p], lists[i] = lists[p];
                centre_scores[p] = ts, lists[p] = tl;
                i = p;
            }
        } else if (probe_worse(centre_scores[0], lists[0], s, l)) {
            centre_scores[0] = s, lists[0] = l;
            probe_sift_down(centre_scores, lists, n, 0);
        }
    }
    for (int end = n - 1; end > 0; end--) {
        float ts = centre_scores[0];
        int32_t tl = lists[0];
        centre_scores[0] = centre_scores[end], lists[0] = lists[end];
        centre_scores[end] = ts, lists[end] = tl;
        probe_sift_down(centre_scores, lists, end, 0);
    }
    return SCANN_OK;
}

scann_status scann_codec_scan_block(const scann_codec *c, const scann_codec_query *q,
                                    float centre_score, const uint8_t *block, int count,
                                    float bound, float *scores, uint32_t *mask)
{
    if (!c || !q || !block || !scores || !mask)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec scan_block: NULL argument");
    if (count < 1 || count > FS_BLOCK)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec scan_block: count=%d not in [1, 32]",
                       count);
    /* score = base + S / scale, with base the list's centre score (residual codes) plus the
     * table's row minima. The kernel's integer threshold is one step generous, and the float
     * comparison below decides, so rounding never rejects a slot whose score is <= bound. */
    float base = (c->residual ? centre_score : 0.0f) + q->bias;
    uint16_t thr = 65535;
    if (!(bound >= INFINITY)) {
        double t = floor(((double)bound - base) * q->scale) + 1;
        if (!(t >= 0)) { /* also NaN bounds: nothing can pass */
            *mask = 0;
            return SCANN_OK;
        }
        if (t < 65535) thr = (uint16_t)t;
    }
    uint16_t sums[FS_BLOCK];
    uint32_t m = c->dk->fs_block(block, q->lut, fs_m4(c->m) / 2, thr, sums);
    if (count < FS_BLOCK) m &= (1u << count) - 1;
    uint32_t out = 0;
    float inv = 1.0f / q->scale;
    for (uint32_t b = m; b;) {
        int i = __builtin_ctz(b);
        b &= b - 1;
        float s = base + (float)sums[i] * inv;
        scores[i] = s;
        if (s <= bound) out |= 1u << i;
    }
    *mask = out;
    return SCANN_OK;
}

scann_status scann_codec_score_row(const scann_codec *c, const scann_codec_query *q, int32_t list,
                                   const uint8_t *block, int slot, const uint8_t *row, float *score)
{
    if (!c || !q || !row || !score)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec score_row: NULL argument");
    if (c->rr.kind == SCANN_REORDER_NONE)
        return err_set(SCANN_ERR_UNSUPPORTED, "codec score_row: the codec keeps no rerank rows");
    int ip = c->p.metric != SCANN_METRIC_L2;
    size_t d = (size_t)c->p.dim;
    if (!c->rr_error) {
        *score = rerank_score(&c->rr, c->dk, ip, q->q, row, q->tmp);
        return SCANN_OK;
    }
    scann_status st = check_slot(c, block, slot, "codec score_row");
    if (st) return st;
    if (list < 0 || list >= c->p.nlist)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec score_row: list=%d not in [0, %d)", list,
                       c->p.nlist);
    rerank_decode(&c->rr, row, q->tmp);
    add_reconstruction(c, list, block, slot, q->tmp);
    *score = ip ? -c->dk->ip(q->q, q->tmp, d) : c->dk->l2(q->q, q->tmp, d);
    return SCANN_OK;
}

scann_status scann_codec_score_vector(const scann_codec *c, const scann_codec_query *q, int dim,
                                      const float *x, float *score)
{
    scann_status st = check_vector(c, dim, x, "codec score_vector");
    if (st) return st;
    if (!q || !score) return err_set(SCANN_ERR_INVALID_ARGUMENT, "codec score_vector: NULL");
    size_t d = (size_t)dim;
    prepare(c, x, q->tmp);
    *score = c->residual ? -c->dk->ip(q->q, q->tmp, d) : c->dk->l2(q->q, q->tmp, d);
    return SCANN_OK;
}
