/*
 * index_ivf_pq.c - IVF_PQ: k-means partitions, 8-bit product-quantized residuals r = x - c_list,
 * asymmetric distance with float lookup tables, optional exact rerank.
 *
 * Tables (DESIGN.md 2.2):
 * - Inner product: <q, x~> = <q, c> + sum_j <q_j, C_j[code_j]>, so one table per query serves
 *   every list and the list adds its centre score as a bias.
 * - L2: faiss's precomputed-table identity
 *   ||q - c - r~||^2 = ||q - c||^2 + sum_j (||C_j[k]||^2 + 2<c_j, C_j[k]>) - 2 sum_j <q_j, C_j[k]>.
 *   The middle term depends only on (list, j, k). Per probed list the query table is added to
 *   it (m * 256 adds). It is precomputed (nlist * m * 256 floats, counted in the index memory)
 *   once the index holds enough to justify it: at most IVFPQ_PRECOMP_RATIO times the bytes of
 *   centres, codebooks and codes, so a load never allocates far more than its file holds (a
 *   3.9 MB file once asked for 780 MB); until then each probed list computes its term, with
 *   the same float operations, so results do not depend on which path ran.
 * Candidates carry their (list, offset) location so the rerank stage reads only their rows.
 */
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "error.h"
#include "idset.h"
#include "index.h"
#include "ivf.h"
#include "pq.h"
#include "rerank.h"
#include "sections.h"
#include "threads.h"

#define IVFPQ_KSUB 256
#define IVFPQ_TRAIN_PQ 65536   /* PQ training rows: 256 per centre, faiss's default */
#define IVFPQ_PQ_ITERS 12      /* codebook k-means rounds (ScaNN trains its codebooks for 10) */
#define IVFPQ_PRECOMP_RATIO 16 /* precomputed tables <= 16 x (centres + codebooks + codes) */

typedef struct ivfpq {
    ivf v;
    pq pq;
    rerank_store rr;
    float *cnorm;   /* L2 only: m x 256 squared norms ||C_j[k]||^2 */
    float *precomp; /* L2 only, once justified: nlist x m x 256 middle terms */
} ivfpq;

static void ivfpq_release(ivfpq *f)
{
    ivf_free(&f->v);
    pq_free(&f->pq);
    rerank_free(&f->rr);
    free(f->cnorm);
    free(f->precomp);
    f->cnorm = f->precomp = NULL;
}

static int default_m(int d) { return d >= 4 ? d / 4 : 1; }

/* The codebooks' squared norms (L2 tables need them per list). */
static scann_status build_cnorm(ivfpq *f)
{
    const pq *p = &f->pq;
    size_t per = (size_t)p->m * IVFPQ_KSUB;
    if (!(f->cnorm = malloc(per * sizeof(float))))
        return err_nomem("IVF_PQ codebook norms", per * sizeof(float));
    for (int j = 0; j < p->m; j++)
        for (int c = 0; c < IVFPQ_KSUB; c++) {
            const float *cc = pq_centre(p, j, c);
            float s = 0;
            for (int t = 0; t < pq_len(p, j); t++) s += cc[t] * cc[t];
            f->cnorm[(size_t)j * IVFPQ_KSUB + c] = s;
        }
    return SCANN_OK;
}

/* List l's middle term ||C_j[k]||^2 + 2<c_j, C_j[k]> into tab (m * 256). */
static void list_term(const ivfpq *f, int32_t l, float *tab)
{
    size_t per = (size_t)f->pq.m * IVFPQ_KSUB;
    pq_lut_ip(&f->pq, f->v.centres + (size_t)l * f->pq.d, tab);
    for (size_t i = 0; i < per; i++) tab[i] = f->cnorm[i] + 2.0f * tab[i];
}

/* Precompute every list's term when the index is large enough to justify the table (see the
 * file comment). An allocation failure only leaves the per-list path in use. */
static void maybe_precomp(ivfpq *f, int64_t ntotal)
{
    if (f->precomp || !f->cnorm) return;
    size_t per = (size_t)f->pq.m * IVFPQ_KSUB;
    double table = (double)f->v.nlist * per * sizeof(float);
    double held =
        ((double)f->v.nlist + IVFPQ_KSUB) * f->pq.d * sizeof(float) + (double)ntotal * f->pq.m;
    if (table > IVFPQ_PRECOMP_RATIO * held) return;
    float *pre = malloc((size_t)table);
    if (!pre) return;
    for (int l = 0; l < f->v.nlist; l++) list_term(f, l, pre + (size_t)l * per);
    f->precomp = pre;
}

/* Codebooks on the sample's residuals; L2 tables need the codebooks' norms. */
static scann_status ivfpq_train_codes(void *ctx, const scann_index *ix, const float *rows,
                                      const float *x, int64_t n, const int32_t *assign,
                                      const poll_hook *poll)
{
    ivfpq *f = ctx;
    scann_status st =
        pq_train(&f->pq, rows, n, IVFPQ_PQ_ITERS, ix->p.seed + 2, ix->p.num_threads, ix->dk, poll);
    return st || index_uses_ip(ix) ? st : build_cnorm(f);
}

static scann_status ivfpq_train(scann_index *ix, int64_t n, const float *x)
{
    ivfpq *f = ix->impl;
    int d = ix->p.dim, m = ix->p.pq_m ? ix->p.pq_m : default_m(d);
    ivfpq fresh = {0};
    ivf_trainer t = {&fresh,         &fresh.v, (size_t)m,         IVFPQ_KSUB, 0.5,
                     IVFPQ_TRAIN_PQ, 1,        ivfpq_train_codes, &fresh.rr};
    scann_status st = pq_init(&fresh.pq, d, m, IVFPQ_KSUB);
    if (!st) st = ivf_build_train(ix, n, x, &t);
    if (st) {
        ivfpq_release(&fresh);
        return st;
    }
    maybe_precomp(&fresh, 0);
    ivfpq_release(f);
    *f = fresh;
    ix->p.nlist = fresh.v.nlist;
    ix->p.pq_m = m;
    ix->trained = 1;
    return SCANN_OK;
}

static scann_status ivfpq_encode(void *ctx, const scann_index *ix, const float *rows,
                                 const float *x, int64_t n, uint8_t *codes)
{
    return pq_encode(&((ivfpq *)ctx)->pq, rows, n, ix->p.num_threads, ix->dk, codes);
}

static scann_status ivfpq_add(scann_index *ix, int64_t n, const float *x, const int64_t *ids)
{
    ivfpq *f = ix->impl;
    ivf_adder a = {f, &f->v, 1, (size_t)f->pq.m, &f->rr, NULL, ivfpq_encode, NULL, NULL};
    scann_status st = ivf_build_add(ix, n, x, ids, &a);
    if (!st) maybe_precomp(f, ix->ntotal);
    return st;
}

/* ---- search ------------------------------------------------------------------------------ */

typedef struct ivfpq_scan {
    const scann_index *ix;
    const float *q;
    int use_loc;    /* push (list, offset) locations for the rerank stage, else external ids */
    float *scratch; /* per worker: query table, list table (m * 256 each) */
} ivfpq_scan;

static float *worker_tables(const ivfpq_scan *s, int worker)
{
    const ivfpq *f = s->ix->impl;
    return s->scratch + (size_t)worker * 2 * f->pq.m * IVFPQ_KSUB;
}

static void ivfpq_begin(void *ctx, int64_t qi, int worker, collector *c)
{
    const ivfpq_scan *s = ctx;
    const ivfpq *f = s->ix->impl;
    float *lut = worker_tables(s, worker);
    size_t n = (size_t)f->pq.m * IVFPQ_KSUB;
    pq_lut_ip(&f->pq, s->q + (size_t)qi * f->pq.d, lut);
    /* Internal scores are "smaller is better": -<q_j, C> for IP, -2<q_j, C> for L2. */
    float mul = index_uses_ip(s->ix) ? -1.0f : -2.0f;
    for (size_t i = 0; i < n; i++) lut[i] *= mul;
}

static void ivfpq_scan_list(void *ctx, int64_t qi, int32_t l, float cscore, collector *c,
                            int worker)
{
    const ivfpq_scan *s = ctx;
    const ivfpq *f = s->ix->impl;
    const ivf_list *L = &f->v.lists[l];
    int m = f->pq.m;
    size_t n = (size_t)m * IVFPQ_KSUB;
    const float *tab = worker_tables(s, worker);
    if (f->cnorm) { /* L2: add the list's term, precomputed or made now */
        float *lt = worker_tables(s, worker) + n;
        const float *pre = f->precomp ? f->precomp + (size_t)l * n : lt;
        if (!f->precomp) list_term(f, l, lt);
        for (size_t i = 0; i < n; i++) lt[i] = pre[i] + tab[i];
        tab = lt;
    }
    for (int64_t i = 0; i < L->size; i++) {
        const uint8_t *code = L->codes + (size_t)i * m;
        /* Four independent sums hide the load latency of the table gathers. */
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int j = 0;
        for (; j + 4 <= m; j += 4) {
            a0 += tab[(size_t)j * IVFPQ_KSUB + code[j]];
            a1 += tab[(size_t)(j + 1) * IVFPQ_KSUB + code[j + 1]];
            a2 += tab[(size_t)(j + 2) * IVFPQ_KSUB + code[j + 2]];
            a3 += tab[(size_t)(j + 3) * IVFPQ_KSUB + code[j + 3]];
        }
        for (; j < m; j++) a0 += tab[(size_t)j * IVFPQ_KSUB + code[j]];
        collect_offer(c, cscore + ((a0 + a1) + (a2 + a3)), s->use_loc ? ivf_loc(l, i) : L->ids[i],
                      L->ids[i]);
    }
}

static scann_status ivfpq_search(const scann_index *ix, int64_t nq, const float *q, int k,
                                 const search_ctx *sc, float *score, int64_t *ids)
{
    const ivfpq *f = ix->impl;
    size_t tabs = (size_t)2 * f->pq.m * IVFPQ_KSUB;
    float *scratch = scratch_alloc(sc->mem, (size_t)sc->num_threads * tabs * sizeof(float));
    if (!scratch) return err_nomem("IVF_PQ tables", (size_t)sc->num_threads * tabs * 4);
    ivfpq_scan ctx = {ix, q, f->rr.kind != SCANN_REORDER_NONE, scratch};
    ivf_codec codec = {&ctx, COLLECT_HEAP, ivfpq_begin, ivfpq_scan_list, NULL, NULL};
    return ivf_search(ix, &f->v, &f->rr, NULL, &codec, nq, q, k, sc, score, ids);
}

static size_t ivfpq_memory(const scann_index *ix)
{
    const ivfpq *f = ix->impl;
    size_t per = (size_t)f->pq.m * IVFPQ_KSUB * sizeof(float);
    size_t pre = (f->precomp ? (size_t)f->v.nlist * per : 0) + (f->cnorm ? per : 0);
    return sizeof *f + ivf_memory(&f->v) + pq_memory(&f->pq) + pre;
}

static void ivfpq_destroy(scann_index *ix)
{
    ivfpq *f = ix->impl;
    if (!f) return;
    ivfpq_release(f);
    free(f);
    ix->impl = NULL;
}

static scann_status ivfpq_save(const scann_index *ix, struct ctr_writer *w);
static scann_status ivfpq_load(scann_index *ix, struct ctr_reader *r);

static scann_status ivfpq_collect(scann_index *ix, const idset *set, int64_t **locs, int64_t *n)
{
    return ivf_collect(&((ivfpq *)ix->impl)->v, set, locs, n);
}

static void ivfpq_remove_locs(scann_index *ix, const int64_t *locs, int64_t n)
{
    ivf_remove_locs(&((ivfpq *)ix->impl)->v, locs, n, NULL, NULL);
}

/* The rerank row when there is one (it holds x), else centre + decoded residual. */
static scann_status ivfpq_reconstruct(scann_index *ix, int64_t id, float *out, int *found)
{
    ivfpq *f = ix->impl;
    int64_t loc;
    scann_status st = ivf_locate(&f->v, id, &loc);
    *found = !st && loc >= 0;
    if (!*found) return st;
    const ivf_list *L = &f->v.lists[ivf_loc_list(loc)];
    size_t off = (size_t)ivf_loc_offset(loc);
    if (f->rr.kind != SCANN_REORDER_NONE) {
        rerank_decode(&f->rr, L->extra + off * f->v.extra_size, out);
        return SCANN_OK;
    }
    pq_decode(&f->pq, L->codes + off * f->v.code_size, out);
    const float *c = f->v.centres + (size_t)ivf_loc_list(loc) * f->pq.d;
    for (int t = 0; t < f->pq.d; t++) out[t] += c[t];
    return SCANN_OK;
}

static const index_ops ivfpq_ops = {
    ivfpq_train, ivfpq_add,     ivfpq_search,      ivfpq_memory,      ivfpq_destroy, ivfpq_save,
    ivfpq_load,  ivfpq_collect, ivfpq_remove_locs, ivfpq_reconstruct, NULL};

scann_status ivfpq_init(scann_index *ix)
{
    /* Reject an m that cannot cut dim into blocks now, not after minutes of k-means. */
    scann_status st = pq_check_shape(ix->p.dim, ix->p.pq_m ? ix->p.pq_m : default_m(ix->p.dim));
    if (st) return st;
    ivfpq *f = calloc(1, sizeof *f);
    if (!f) return err_nomem("IVF_PQ index", sizeof *f);
    ix->impl = f;
    ix->ops = &ivfpq_ops;
    return SCANN_OK;
}

/* ---- persistence (container.h, docs/FORMAT.md) ------------------------------------------- */

/* The ivf sections (CODE: m bytes a vector; RROW when reorder is not none) and CDBK. The L2
 * tables are not stored: rebuilding them at load is cheaper than reading them. */
static scann_status ivfpq_save(const scann_index *ix, ctr_writer *w)
{
    const ivfpq *f = ix->impl;
    ivf_save(w, &f->v);
    return ctr_section(w, SEC_CDBK, f->pq.codebooks, pq_memory(&f->pq));
}

static scann_status ivfpq_load(scann_index *ix, ctr_reader *r)
{
    ivfpq *f = ix->impl;
    int d = ix->p.dim, m = ix->p.pq_m;
    scann_status st;
    if (m < 1) return ctr_fail(r, "header: pq_m=%d in a trained IVF_PQ index", m);
    if ((st = pq_init(&f->pq, d, m, IVFPQ_KSUB)) ||
        (st = ctr_take_floats(r, SEC_CDBK, (size_t)IVFPQ_KSUB * d, f->pq.codebooks)) ||
        (st = rerank_init(&f->rr, ix->p.reorder, d, NULL, 0)) ||
        (st = ivf_load(r, &f->v, ix->p.nlist, d, ix->ntotal, ix->dk, (size_t)m, f->rr.row_bytes)))
        return st;
    if (index_uses_ip(ix)) return SCANN_OK;
    if ((st = build_cnorm(f))) return st;
    maybe_precomp(f, ix->ntotal);
    return SCANN_OK;
}
