/*
 * index_ivf_flat.c - IVF_FLAT: k-means partitions whose lists hold full float vectors.
 *
 * Search = probe the nprobe best lists (ivf_probe), then score every vector of those lists
 * with the SIMD row kernel (exact distances, so nprobe = nlist gives FLAT's answer). The list
 * code is the vector itself: code_size = 4 * dim bytes, stored contiguously per list so the row
 * kernel streams it.
 */
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "error.h"
#include "idset.h"
#include "index.h"
#include "ivf.h"
#include "sections.h"
#include "threads.h"

#define IVFFLAT_ROW_CHUNK 512 /* rows scored per kernel call: a 2 KB stack buffer */

typedef struct ivfflat {
    ivf v;
} ivfflat;

static scann_status ivfflat_train(scann_index *ix, int64_t n, const float *x)
{
    ivfflat *f = ix->impl;
    ivf fresh = {0};
    ivf_trainer t = {NULL, &fresh, (size_t)ix->p.dim * sizeof(float), 1, 1.0, 0, 0, NULL, NULL};
    scann_status st = ivf_build_train(ix, n, x, &t);
    if (st) {
        ivf_free(&fresh);
        return st;
    }
    ivf_free(&f->v);
    f->v = fresh;
    ix->p.nlist = fresh.nlist;
    ix->trained = 1;
    return SCANN_OK;
}

/* The list code is the float vector itself. */
static scann_status ivfflat_add(scann_index *ix, int64_t n, const float *x, const int64_t *ids)
{
    ivf_adder a = {NULL, &((ivfflat *)ix->impl)->v, 0, 0, NULL, NULL, NULL, NULL, NULL};
    return ivf_build_add(ix, n, x, ids, &a);
}

typedef struct ivfflat_scan {
    const scann_index *ix;
    const float *q;
} ivfflat_scan;

static void ivfflat_begin(void *ctx, int64_t qi, int worker, collector *c) {}

static void ivfflat_scan_list(void *ctx, int64_t qi, int32_t l, float cscore, collector *c,
                              int worker)
{
    const ivfflat_scan *s = ctx;
    const scann_index *ix = s->ix;
    const ivf_list *L = &((const ivfflat *)ix->impl)->v.lists[l];
    size_t d = (size_t)ix->p.dim;
    const float *q = s->q + (size_t)qi * d;
    int ip = index_uses_ip(ix);
    float buf[IVFFLAT_ROW_CHUNK];
    for (int64_t b = 0; b < L->size; b += IVFFLAT_ROW_CHUNK) {
        size_t m = (size_t)(L->size - b < IVFFLAT_ROW_CHUNK ? L->size - b : IVFFLAT_ROW_CHUNK);
        const float *xb = (const float *)L->codes + (size_t)b * d;
        if (ip) {
            ix->dk->ip_rows(q, xb, m, d, buf);
            for (size_t i = 0; i < m; i++) buf[i] = -buf[i];
        } else {
            ix->dk->l2_rows(q, xb, m, d, buf);
        }
        for (size_t i = 0; i < m; i++)
            collect_offer(c, buf[i], L->ids[b + (int64_t)i], L->ids[b + (int64_t)i]);
    }
}

/* Exact scores: no rerank store, no conversion. */
static scann_status ivfflat_search(const scann_index *ix, int64_t nq, const float *q, int k,
                                   const search_ctx *sc, float *score, int64_t *ids)
{
    ivfflat_scan ctx = {ix, q};
    ivf_codec codec = {&ctx, COLLECT_HEAP, ivfflat_begin, ivfflat_scan_list, NULL, NULL};
    return ivf_search(ix, &((const ivfflat *)ix->impl)->v, NULL, NULL, &codec, nq, q, k, sc, score,
                      ids);
}

static size_t ivfflat_memory(const scann_index *ix)
{
    const ivfflat *f = ix->impl;
    return sizeof *f + ivf_memory(&f->v);
}

static void ivfflat_destroy(scann_index *ix)
{
    ivfflat *f = ix->impl;
    if (!f) return;
    ivf_free(&f->v);
    free(f);
    ix->impl = NULL;
}

static scann_status ivfflat_save(const scann_index *ix, struct ctr_writer *w);
static scann_status ivfflat_load(scann_index *ix, struct ctr_reader *r);

static scann_status ivfflat_collect(scann_index *ix, const idset *set, int64_t **locs, int64_t *n)
{
    return ivf_collect(&((ivfflat *)ix->impl)->v, set, locs, n);
}

static void ivfflat_remove_locs(scann_index *ix, const int64_t *locs, int64_t n)
{
    ivf_remove_locs(&((ivfflat *)ix->impl)->v, locs, n, NULL, NULL);
}

static scann_status ivfflat_reconstruct(scann_index *ix, int64_t id, float *out, int *found)
{
    ivf *v = &((ivfflat *)ix->impl)->v;
    int64_t loc;
    scann_status st = ivf_locate(v, id, &loc);
    *found = !st && loc >= 0;
    if (*found)
        memcpy(out, v->lists[ivf_loc_list(loc)].codes + (size_t)ivf_loc_offset(loc) * v->code_size,
               v->code_size);
    return st;
}

static const index_ops ivfflat_ops = {
    ivfflat_train, ivfflat_add,  ivfflat_search,  ivfflat_memory,      ivfflat_destroy,
    ivfflat_save,  ivfflat_load, ivfflat_collect, ivfflat_remove_locs, ivfflat_reconstruct,
    NULL};

scann_status ivfflat_init(scann_index *ix)
{
    ivfflat *f = calloc(1, sizeof *f);
    if (!f) return err_nomem("IVF_FLAT index", sizeof *f);
    ix->impl = f;
    ix->ops = &ivfflat_ops;
    return SCANN_OK;
}

/* ---- persistence (container.h, docs/FORMAT.md) ------------------------------------------- */

/* The ivf sections; CODE holds the float vectors in list order. */
static scann_status ivfflat_save(const scann_index *ix, ctr_writer *w)
{
    return ivf_save(w, &((const ivfflat *)ix->impl)->v);
}

static scann_status ivfflat_load(scann_index *ix, ctr_reader *r)
{
    ivfflat *f = ix->impl;
    size_t d = (size_t)ix->p.dim;
    scann_status st = ivf_load(r, &f->v, ix->p.nlist, d, ix->ntotal, ix->dk, d * sizeof(float), 0);
    for (int l = 0; l < f->v.nlist && !st; l++) {
        const ivf_list *L = &f->v.lists[l];
        st = ctr_check_finite(r, SEC_CODE, (const float *)L->codes, (size_t)L->size * d);
    }
    return st;
}
