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

#include "error.h"
#include "idset.h"
#include "index.h"
#include "ivf.h"
#include "pq.h"
#include "rerank.h"
#include "sample.h"
#include "sections.h"
#include "threads.h"

#define IVFPQ_KSUB 256
#define IVFPQ_TRAIN_PQ 65536 /* PQ training rows: 256 per centre, faiss's default */
#define IVFPQ_PQ_ITERS 12    /* codebook k-means rounds (ScaNN trains its codebooks for 10) */
#define IVFPQ_ADD_CHUNK 16384
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

static scann_status ivfpq_train(scann_index *ix, int64_t n, const float *x)
{
    ivfpq *f = ix->impl;
    if (ix->ntotal > 0)
        return err_set(SCANN_ERR_UNSUPPORTED, "train: the index already holds %lld vectors",
                       (long long)ix->ntotal);
    int d = ix->p.dim, m = ix->p.pq_m ? ix->p.pq_m : default_m(d), nlist;
    scann_status st = ivf_resolve_nlist(ix->p.nlist, n, &nlist);
    if (st) return st;
    ivfpq fresh = {0};
    const float *smp = NULL;
    float *smp_owned = NULL, *res = NULL;
    int32_t *assign = NULL;
    int64_t ns = 0;
    if ((st = pq_init(&fresh.pq, d, m, IVFPQ_KSUB))) goto fail;
    if (n < IVFPQ_KSUB) {
        st = err_set(SCANN_ERR_INVALID_ARGUMENT,
                     "train: IVF_PQ needs at least %d training vectors, got %lld", IVFPQ_KSUB,
                     (long long)n);
        goto fail;
    }
    if ((st = ivf_init(&fresh.v, nlist, d, (size_t)m, 0))) goto fail;
    poll_hook poll = index_poll(ix, "train", 0, 0.5);
    if ((st = ivf_train(&fresh.v, x, n, index_uses_ip(ix), ix->p.train_size, ix->p.kmeans_iters,
                        ix->p.seed, ix->p.num_threads, ix->dk, &poll)))
        goto fail;
    poll = index_poll(ix, "train", 0.5, 1);
    /* Codebooks learn the residuals of a sample, as the lists will store them. */
    if ((st = sample_rows(x, n, d, IVFPQ_TRAIN_PQ, ix->p.seed + 1, &smp, &smp_owned, &ns)))
        goto fail;
    assign = malloc((size_t)ns * sizeof(int32_t));
    res = malloc((size_t)ns * d * sizeof(float));
    if (!assign || !res) {
        st = err_nomem("IVF_PQ training residuals", (size_t)ns * d * 4);
        goto fail;
    }
    if ((st = ivf_assign(&fresh.v, smp, ns, ix->p.num_threads, assign))) goto fail;
    ivf_residuals(&fresh.v, smp, ns, assign, res);
    if ((st = pq_train(&fresh.pq, res, ns, IVFPQ_PQ_ITERS, ix->p.seed + 2, ix->p.num_threads,
                       ix->dk, &poll)))
        goto fail;
    if ((st = rerank_init(&fresh.rr, ix->p.reorder, d, smp, ns))) goto fail;
    /* The lists are still empty, so their rerank row size can be set now. */
    fresh.v.extra_size = fresh.rr.row_bytes;
    if (!index_uses_ip(ix)) {
        if ((st = build_cnorm(&fresh))) goto fail;
        maybe_precomp(&fresh, 0);
    }
    ivfpq_release(f);
    *f = fresh;
    ix->p.nlist = nlist;
    ix->p.pq_m = m;
    ix->trained = 1;
    free(smp_owned);
    free(res);
    free(assign);
    return SCANN_OK;
fail:
    ivfpq_release(&fresh);
    free(smp_owned);
    free(res);
    free(assign);
    return st;
}

static scann_status ivfpq_add(scann_index *ix, int64_t n, const float *x, const int64_t *ids)
{
    ivfpq *f = ix->impl;
    size_t d = (size_t)ix->p.dim, m = (size_t)f->pq.m, rb = f->rr.row_bytes;
    int32_t *assign = malloc((size_t)n * sizeof(int32_t));
    int64_t chunk = n < IVFPQ_ADD_CHUNK ? n : IVFPQ_ADD_CHUNK;
    float *res = malloc((size_t)chunk * d * sizeof(float));
    uint8_t *codes = malloc((size_t)chunk * m), *row = malloc(rb ? rb : 1);
    int64_t *mark = NULL;
    scann_status st = SCANN_OK;
    if (!assign || !res || !codes || !row) {
        st = err_nomem("IVF_PQ add scratch", (size_t)chunk * d * 4);
        goto done;
    }
    /* Assign everything and reserve list space first, so the add cannot fail halfway; a
     * cancel after the first append rolls the lists back to their marked sizes. */
    poll_hook poll = index_poll(ix, "add", 0, 0.3);
    if ((st = ivf_assign_polled(&f->v, x, n, ix->p.num_threads, &poll, assign))) goto done;
    if ((st = ivf_reserve(&f->v, assign, n)) || (st = ivf_mark(&f->v, &mark))) goto done;
    poll = index_poll(ix, "add", 0.3, 1);
    for (int64_t c = 0; c < n; c += chunk) {
        int64_t rows = n - c < chunk ? n - c : chunk;
        const float *xc = x + (size_t)c * d;
        ivf_residuals(&f->v, xc, rows, assign + c, res);
        if ((st = pq_encode(&f->pq, res, rows, ix->p.num_threads, codes))) break;
        for (int64_t i = 0; i < rows; i++) {
            if (rb) rerank_encode(&f->rr, xc + (size_t)i * d, row);
            ivf_append(&f->v, assign[c + i], ids[c + i], codes + (size_t)i * m, row);
        }
        if ((st = poll_progress(&poll, (double)(c + rows) / n))) break;
    }
    if (st) {
        ivf_rollback(&f->v, mark, NULL, NULL);
    } else {
        ix->ntotal += n;
        maybe_precomp(f, ix->ntotal);
    }
done:
    free(mark);
    free(assign);
    free(res);
    free(codes);
    free(row);
    return st;
}

/* ---- search ------------------------------------------------------------------------------ */

typedef struct ivfpq_scan {
    const scann_index *ix;
    const float *q;
    int use_loc;    /* push (list, offset) locations for the rerank stage, else external ids */
    float *scratch; /* per worker: query table, list table (m * 256 each) */
    const search_ctx *sc;
} ivfpq_scan;

static float *worker_tables(const ivfpq_scan *s, int worker)
{
    const ivfpq *f = s->ix->impl;
    return s->scratch + (size_t)worker * 2 * f->pq.m * IVFPQ_KSUB;
}

static void ivfpq_begin(void *ctx, int64_t qi, int worker)
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

static void ivfpq_scan_list(void *ctx, int64_t qi, int32_t l, float cscore, topk *h, int worker)
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
        float sc = cscore + ((a0 + a1) + (a2 + a3));
        if (sc <= topk_threshold(h) && search_allows(s->sc, L->ids[i]))
            topk_push(h, sc, s->use_loc ? ivf_loc(l, i) : L->ids[i]);
    }
}

static scann_status ivfpq_search(const scann_index *ix, int64_t nq, const float *q, int k,
                                 const search_ctx *sc, float *score, int64_t *ids)
{
    const ivfpq *f = ix->impl;
    int nprobe, nt = sc->num_threads;
    scann_status st = ivf_resolve_nprobe(sc->nprobe, ix->p.nprobe, f->v.nlist, &nprobe);
    if (st) return st;
    int rerank = f->rr.kind != SCANN_REORDER_NONE;
    int kk = rerank ? sc->reorder_k : k;
    if (kk > ix->ntotal) kk = (int)ix->ntotal;
    if (kk < k) kk = k;
    size_t tabs = (size_t)2 * f->pq.m * IVFPQ_KSUB;
    int32_t *lists = malloc((size_t)nq * nprobe * sizeof(int32_t));
    float *cscore = malloc((size_t)nq * nprobe * sizeof(float));
    float *scratch = malloc((size_t)nt * tabs * sizeof(float));
    float *cs = rerank ? malloc((size_t)nq * kk * sizeof(float)) : score;
    int64_t *cl = rerank ? malloc((size_t)nq * kk * sizeof(int64_t)) : ids;
    if (!lists || !cscore || !scratch || !cs || !cl) {
        st = err_nomem("IVF_PQ search scratch", (size_t)nq * (nprobe + kk) * 12);
        goto done;
    }
    if ((st = ivf_probe(&f->v, ix->dk, q, nq, index_uses_ip(ix), nprobe, nt, lists, cscore)))
        goto done;
    ivfpq_scan ctx = {ix, q, rerank, scratch, sc};
    ivf_scanner scanner = {&ctx, ivfpq_begin, ivfpq_scan_list};
    if ((st = ivf_search_lists(nq, kk, nprobe, nt, lists, cscore, &scanner, cs, cl))) goto done;
    if (rerank)
        st = ivf_rerank(&f->v, &f->rr, ix->dk, index_uses_ip(ix), q, nq, k, kk, cl, NULL, nt, score,
                        ids);
done:
    free(lists);
    free(cscore);
    free(scratch);
    if (cs != score) free(cs);
    if (cl != ids) free(cl);
    return st;
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
    ivfpq_train, ivfpq_add,  ivfpq_search,  ivfpq_memory,      ivfpq_destroy,
    ivfpq_save,  ivfpq_load, ivfpq_collect, ivfpq_remove_locs, ivfpq_reconstruct};

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
