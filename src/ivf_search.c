/*
 * ivf_search.c - the one search driver of the IVF kinds: probe, scan the probed lists with the
 * kind's list codec into collectors (collect.h), then rerank or convert; see ivf.h.
 *
 * What the kinds supply is only what differs between them: per-query tables (begin_query), a
 * list scan (scan_list), optionally a batch scan that serves several queries per pass over a
 * list (FastScan), and a conversion of approximate scores back to floats (finish). Defaults
 * (nprobe, the candidate count), buffers, threading, the filter and the rerank tail live here,
 * once. Range search is the same pipeline with range collectors.
 */
#include <string.h>

#include "collect.h"
#include "error.h"
#include "ivf.h"
#include "rerank.h"
#include "scratch.h"
#include "threads.h"

int ivf_parts_per_query(int64_t nq, int nprobe, int nthreads)
{
    if (nq >= nthreads) return 1;
    int parts = (int)((nthreads + nq - 1) / nq);
    return parts > nprobe ? nprobe : parts;
}

/* ---- scanning ------------------------------------------------------------------------------ */

typedef struct scan_job {
    const ivf_codec *codec;
    int kk, nprobe, parts;
    const int32_t *lists;
    const float *cscore;
    float *score; /* (nq * parts) * kk; k-NN */
    int64_t *key;
    float *res_score; /* per worker: topk_res_slots(kk) slots, for a reservoir collector */
    int64_t *res_key;
    range_list *range; /* nq lists; range search */
    float radius;
    const search_ctx *sc;
} scan_job;

static void scan_task(void *ctx, int64_t task, int worker)
{
    scan_job *j = ctx;
    const ivf_codec *cd = j->codec;
    int64_t qi = task / j->parts;
    int part = (int)(task % j->parts);
    const int32_t *lists = j->lists + qi * j->nprobe;
    const float *cscore = j->cscore + qi * j->nprobe;
    float *out_score = j->score ? j->score + (size_t)task * j->kk : NULL;
    int64_t *out_key = j->key ? j->key + (size_t)task * j->kk : NULL;
    collector c;
    if (j->range) {
        collect_init_range(&c, j->radius, &j->range[qi], j->sc);
    } else if (cd->mode == COLLECT_RES) {
        size_t slots = (size_t)topk_res_slots(j->kk);
        collect_init_res(&c, j->kk, j->res_score + worker * slots, j->res_key + worker * slots,
                         j->sc);
    } else {
        collect_init_heap(&c, j->kk, out_score, out_key, j->sc);
    }
    cd->begin_query(cd->ctx, qi, worker, &c);
    for (int p = part; p < j->nprobe; p += j->parts)
        cd->scan_list(cd->ctx, qi, lists[p], cscore[p], &c, worker);
    collect_finish(&c, out_score, out_key);
}

/* k-NN: the kk best keys per query into out (nq * kk). Parallel over queries, or over (query,
 * part) with the partial results merged when there are fewer queries than threads. */
static scann_status scan_knn(const ivf_codec *cd, int64_t nq, int kk, int nprobe, int nthreads,
                             const int32_t *lists, const float *cscore, const search_ctx *sc,
                             float *out_score, int64_t *out_key)
{
    int parts = ivf_parts_per_query(nq, nprobe, nthreads);
    scan_job j = {cd,      kk,   nprobe, parts, lists, cscore, out_score,
                  out_key, NULL, NULL,   NULL,  0,     sc};
    if (cd->mode == COLLECT_RES) {
        size_t slots = (size_t)nthreads * topk_res_slots(kk);
        j.res_score = scratch_alloc(sc->mem, slots * sizeof(float));
        j.res_key = scratch_alloc(sc->mem, slots * sizeof(int64_t));
        if (!j.res_score || !j.res_key) return err_nomem("scan reservoirs", slots * 12);
    }
    if (parts == 1) {
        par_for(sc->pool, nthreads, nq, scan_task, &j);
        return SCANN_OK;
    }
    size_t slots = (size_t)nq * parts * kk;
    float *ps = scratch_alloc(sc->mem, slots * sizeof(float));
    int64_t *pk = scratch_alloc(sc->mem, slots * sizeof(int64_t));
    if (!ps || !pk) return err_nomem("partial results", slots * 12);
    j.score = ps;
    j.key = pk;
    par_for(sc->pool, nthreads, nq * parts, scan_task, &j);
    for (int64_t qi = 0; qi < nq; qi++) {
        topk h;
        topk_init(&h, kk, out_score + (size_t)qi * kk, out_key + (size_t)qi * kk);
        for (size_t c = (size_t)qi * parts * kk; c < (size_t)(qi + 1) * parts * kk; c++)
            if (pk[c] >= 0) topk_push(&h, ps[c], pk[c]);
        topk_finish(&h, h.score, h.id);
    }
    return SCANN_OK;
}

/* ---- rerank ------------------------------------------------------------------------------ */

typedef struct rerank_job {
    const ivf *v;
    const rerank_store *rr;
    const kernels *dk;
    int ip, k, kk;
    const float *q;
    const int64_t *cand_loc;
    float *cand_score; /* the scan's scores of the candidates, overwritten with exact ones */
    float *score;
    int64_t *ids;
    float *tmp; /* per worker: d floats */
    const ivf_rerank_base *base;
    uint8_t *bscratch; /* per worker: base->scratch_bytes, rounded up to 64 */
    const int32_t *lists;
    const float *cscore;
    int nprobe;
    range_list *range; /* range search: nq lists, rescored in place */
    float radius;
} rerank_job;

static const uint8_t *row_at(const rerank_job *j, int64_t loc)
{
    return j->v->lists[ivf_loc_list(loc)].extra + (size_t)ivf_loc_offset(loc) * j->v->extra_size;
}

/* One prefetch per 64 bytes from the row's start. Covering the extra line a row straddles when
 * its size is not a multiple of 64 (int8 rows with their codes) measured no faster on int8,
 * and 5% slower on float rows (SIFT-1M). */
static void prefetch_row(const rerank_job *j, int64_t loc)
{
    const uint8_t *row = row_at(j, loc);
    for (size_t b = 0; b < j->v->extra_size; b += 64) __builtin_prefetch(row + b);
}

/* Rows are scattered over the lists, so each is a trip to memory: the rerank keeps the rows of
 * the next RERANK_AHEAD candidates in flight while it scores one. Against one ahead, batch QPS
 * at the 0.90 points: SIFT-1M float +3.6%, GloVe float +4.3%, USE-512 int8 +8.7%, Fashion-MNIST
 * int8 +5.5%; 2 was about half that, 8 no better (worse on Fashion-MNIST's 0.9 KB int8 rows). */
#define RERANK_AHEAD 4

static size_t base_stride(const ivf_rerank_base *b)
{
    return b ? (b->scratch_bytes + 63) & ~(size_t)63 : 0;
}

/* Exact score of query vector qv against the vector at loc (bs: the base's query scratch). */
static float rerank_one(const rerank_job *j, int64_t loc, const float *qv, float *tmp,
                        const void *bs)
{
    if (!j->base) return rerank_score(j->rr, j->dk, j->ip, qv, row_at(j, loc), tmp);
    return j->base->score(j->base->ctx, bs, qv, loc, row_at(j, loc), tmp);
}

static void rerank_task(void *ctx, int64_t qi, int worker)
{
    rerank_job *j = ctx;
    size_t d = (size_t)j->v->d;
    const float *qv = j->q + (size_t)qi * d;
    float *tmp = j->tmp + worker * d;
    void *bs = j->base ? j->bscratch + (size_t)worker * base_stride(j->base) : NULL;
    if (j->base && j->base->begin)
        j->base->begin(j->base->ctx, qv, j->lists + (size_t)qi * j->nprobe,
                       j->cscore + (size_t)qi * j->nprobe, j->nprobe, bs);
    if (j->range) { /* every candidate, kept when its exact score is within the radius */
        range_list *l = &j->range[qi];
        int64_t n = 0;
        for (int64_t a = 0; a < RERANK_AHEAD && a < l->n; a++) prefetch_row(j, l->key[a]);
        for (int64_t c = 0; c < l->n; c++) {
            if (c + RERANK_AHEAD < l->n) prefetch_row(j, l->key[c + RERANK_AHEAD]);
            float s = rerank_one(j, l->key[c], qv, tmp, bs);
            if (s <= j->radius) {
                l->score[n] = s;
                l->key[n++] = j->v->lists[ivf_loc_list(l->key[c])].ids[ivf_loc_offset(l->key[c])];
            }
        }
        l->n = n;
        return;
    }
    float *out_s = j->score + (size_t)qi * j->k, *cs = j->cand_score + (size_t)qi * j->kk;
    int64_t *out_id = j->ids + (size_t)qi * j->k;
    const int64_t *cand = j->cand_loc + (size_t)qi * j->kk;
    /* First the exact scores and the k-th best of them (ties by candidate rank), with no id
     * read: ids are scattered like the rows, and reading every candidate's stalled the rerank
     * (SIFT-1M, int8 rows: a seventh of the search at one load). */
    topk h;
    topk_init(&h, j->k, out_s, out_id);
    for (int a = 0; a < RERANK_AHEAD && a < j->kk && cand[a] >= 0; a++) prefetch_row(j, cand[a]);
    int n = 0;
    for (; n < j->kk; n++) {
        int64_t loc = cand[n];
        if (loc < 0) break; /* candidates are sorted best first: the rest are empty too */
        if (n + RERANK_AHEAD < j->kk && cand[n + RERANK_AHEAD] >= 0)
            prefetch_row(j, cand[n + RERANK_AHEAD]);
        cs[n] = rerank_one(j, loc, qv, tmp, bs);
        topk_push(&h, cs[n], n);
    }
    /* Then the k best by (score, id) among the candidates within that score: about k ids. */
    float thr = topk_threshold(&h);
    topk_init(&h, j->k, out_s, out_id);
    for (int c = 0; c < n; c++)
        if (cs[c] <= thr)
            topk_push(&h, cs[c], j->v->lists[ivf_loc_list(cand[c])].ids[ivf_loc_offset(cand[c])]);
    topk_finish(&h, h.score, h.id);
}

/* ---- the driver ---------------------------------------------------------------------------- */

scann_status ivf_search(const scann_index *ix, const ivf *v, const rerank_store *rr,
                        const ivf_rerank_base *base, const ivf_codec *cd, int64_t nq,
                        const float *q, int k, const search_ctx *sc, float *score, int64_t *ids)
{
    int nprobe = sc->nprobe, nt = sc->num_threads, ip = index_uses_ip(ix);
    scann_status st = SCANN_OK;
    int rerank = rr && rr->kind != SCANN_REORDER_NONE;
    const range_req *range = sc->range;
    int kk = rerank ? sc->reorder_k : k;
    if (kk > ix->ntotal) kk = (int)ix->ntotal;
    if (kk < k) kk = k;
    if (range) kk = 0;
    int32_t *lists = scratch_alloc(sc->mem, (size_t)nq * nprobe * sizeof(int32_t));
    float *cscore = scratch_alloc(sc->mem, (size_t)nq * nprobe * sizeof(float));
    float *cs = rerank && !range ? scratch_alloc(sc->mem, (size_t)nq * kk * sizeof(float)) : score;
    int64_t *cl =
        rerank && !range ? scratch_alloc(sc->mem, (size_t)nq * kk * sizeof(int64_t)) : ids;
    if (!lists || !cscore || (!range && (!cs || !cl)))
        return err_nomem("IVF search buffers", (size_t)nq * (nprobe + kk) * 12);
    if ((st = ivf_probe(v, ix->dk, q, nq, ip, nprobe, nt, sc->pool, sc->mem, lists, cscore)))
        return st;
    if (range) {
        scan_job j = {cd,   0,    nprobe, 1,          lists,         cscore, NULL,
                      NULL, NULL, NULL,   range->out, range->radius, sc};
        par_for(sc->pool, nt, nq, scan_task, &j);
        for (int64_t qi = 0; qi < nq; qi++)
            if (range->out[qi].nomem)
                return err_nomem("range search results", (size_t)range->out[qi].cap * 24);
    } else if (!cd->scan_batch ||
               !cd->scan_batch(cd->ctx, nq, kk, nprobe, nt, lists, cscore, cs, cl, &st)) {
        st = scan_knn(cd, nq, kk, nprobe, nt, lists, cscore, sc, cs, cl);
    }
    if (st) return st;
    if (rerank) {
        float *tmp = scratch_alloc(sc->mem, (size_t)nt * v->d * sizeof(float));
        uint8_t *bs = base ? scratch_alloc(sc->mem, (size_t)nt * base_stride(base)) : NULL;
        if (!tmp || (base && !bs))
            return err_nomem("rerank scratch", (size_t)nt * (v->d * 4 + base_stride(base)));
        rerank_job j = {v,
                        rr,
                        ix->dk,
                        ip,
                        k,
                        kk,
                        q,
                        cl,
                        cs,
                        score,
                        ids,
                        tmp,
                        base,
                        bs,
                        lists,
                        cscore,
                        nprobe,
                        range ? range->out : NULL,
                        range ? range->radius : 0};
        par_for(sc->pool, nt, nq, rerank_task, &j);
    } else if (cd->finish) {
        for (int64_t qi = 0; qi < nq; qi++) {
            if (range) {
                range_list *l = &range->out[qi];
                cd->finish(cd->ctx, qi, l->score, l->key, l->n);
            } else {
                cd->finish(cd->ctx, qi, score + (size_t)qi * k, ids + (size_t)qi * k, k);
            }
        }
    }
    /* Range: a converted score may cross the radius by a rounding (api.c sorts the rest). */
    if (range)
        for (int64_t qi = 0; qi < nq; qi++) {
            range_list *l = &range->out[qi];
            int64_t n = 0;
            for (int64_t c = 0; c < l->n; c++)
                if (l->score[c] <= range->radius)
                    l->score[n] = l->score[c], l->key[n++] = l->key[c];
            l->n = n;
        }
    return SCANN_OK;
}
