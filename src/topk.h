/*
 * topk.h - the k best (smallest-score) candidates of a stream, in caller-provided buffers.
 *
 * Every index kind works in "smaller is better" scores (L2 distance, or minus the inner
 * product); the API converts back at the end. The heap is a max-heap on score, so its root is
 * the current k-th best and doubles as the rejection threshold: most candidates cost one
 * compare. Buffers come from per-thread scratch, so a query allocates nothing.
 * Ties on score are broken by the smaller id, which makes results independent of scan order.
 */
#ifndef SCANN_TOPK_H
#define SCANN_TOPK_H

#include <math.h>
#include <stdint.h>

typedef struct topk {
    float *score; /* k slots; heap order while filling */
    int64_t *id;  /* k slots, parallel to score */
    int k;        /* capacity */
    int size;     /* slots used */
} topk;

static inline void topk_init(topk *h, int k, float *score, int64_t *id)
{
    h->score = score;
    h->id = id;
    h->k = k;
    h->size = 0;
}

/* Score a candidate must beat (be below) to enter: +inf until the heap is full. */
static inline float topk_threshold(const topk *h)
{
    return h->size < h->k ? INFINITY : h->score[0];
}

static inline int topk_worse(float sa, int64_t ia, float sb, int64_t ib)
{
    return sa > sb || (sa == sb && ia > ib);
}

void topk_push_slow(topk *h, float s, int64_t id);

/* Offer a candidate. NaN scores are never kept. */
static inline void topk_push(topk *h, float s, int64_t id)
{
    if (h->size == h->k && !topk_worse(h->score[0], h->id[0], s, id)) return;
    topk_push_slow(h, s, id);
}

/* Sort the kept candidates best first into out_score/out_id (k entries each; may alias the
 * heap's buffers); slots beyond size get score +inf and id -1. Empties the heap. */
void topk_finish(topk *h, float *out_score, int64_t *out_id);

/*
 * topk_res - the same k best (score, id) as topk, collected as a reservoir (for streams with
 * many accepted candidates, like FastScan's). A candidate that beats the threshold is appended
 * to a buffer of TOPK_RES_FACTOR * k slots; when the buffer fills, a quickselect keeps the k
 * best and the threshold becomes the k-th of them. An accepted candidate costs an append plus
 * amortised O(1) branch-free partition work, where the heap pays a log k sift whose branches
 * mispredict (28% of a GloVe search's time went to sift_down). The threshold lags the heap's
 * root (it is the k-th best as of the last selection; the first one runs when k candidates are
 * in), which lets more candidates in but never changes what is kept: the heap's set, in the
 * heap's order. Invariant: every candidate offered and dropped is worse than (thr, thr_id).
 */
#define TOPK_RES_FACTOR 3 /* buffer = 3k: 4% faster GloVe search than 2k (fewer selections) */

typedef struct topk_res {
    float *score; /* topk_res_slots(k) slots */
    int64_t *id;  /* topk_res_slots(k) slots, parallel to score */
    int k;        /* candidates to keep */
    int size;     /* slots used */
    int limit;    /* size that triggers a selection: k, then TOPK_RES_FACTOR * k */
    float thr;    /* k-th best (score, id) at the last selection; +inf before (-inf if k == 0) */
    int64_t thr_id;
} topk_res;

/* Slots the buffers need for k. */
static inline int topk_res_slots(int k) { return k > 0 ? TOPK_RES_FACTOR * k : 1; }

static inline void topk_res_init(topk_res *r, int k, float *score, int64_t *id)
{
    r->score = score;
    r->id = id;
    r->k = k;
    r->size = 0;
    r->limit = k;
    r->thr = k > 0 ? INFINITY : -INFINITY;
    r->thr_id = k > 0 ? INT64_MAX : INT64_MIN;
}

/* Score a candidate must reach to be offered: one equal to it enters only with an id below
 * thr_id (the tie rule of topk_worse). */
static inline float topk_res_threshold(const topk_res *r) { return r->thr; }

/* Keep the k best of the buffer and tighten the threshold; called when size reaches limit. */
void topk_res_select(topk_res *r);

/* Offer a candidate. NaN scores are never kept (no comparison with them is true). */
static inline void topk_res_push(topk_res *r, float s, int64_t id)
{
    if (!(s < r->thr || (s == r->thr && id < r->thr_id))) return;
    r->score[r->size] = s;
    r->id[r->size] = id;
    if (++r->size == r->limit) topk_res_select(r);
}

/* As topk_finish: the kept candidates best first into out_score/out_id (k entries each; may
 * alias the reservoir's buffers), +inf and -1 beyond them. Empties the reservoir. */
void topk_res_finish(topk_res *r, float *out_score, int64_t *out_id);

/* Sort n (score, id) pairs best first (topk_worse's order), in place. */
void topk_sort_pairs(float *score, int64_t *id, int n);

#endif
