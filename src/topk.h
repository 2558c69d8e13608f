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

#endif
