/*
 * collect.h - where a scan's candidates go: the one place that applies the threshold, the
 * filter and the push, for every index kind and kernel.
 *
 * A collector keeps the k best (score, key) pairs, in a heap (scans that accept few, exact
 * ones) or a reservoir (FastScan, which accepts many: topk.h), or every pair within a radius
 * (range search). Scanners ask collect_threshold() what a candidate must reach (a FastScan
 * kernel turns it into its integer threshold), then offer what passed with collect_offer() or,
 * for a kernel's 32-bit block mask, collect_block(). The filter is applied there, on the
 * external id, only to candidates that passed the threshold, so a selective filter costs
 * nothing on the rest. A new kind of query (a new filter, range search) is a new mode here,
 * not a change to every scan loop.
 *
 * The key pushed is the external id, or the (list, offset) location when a rerank stage will
 * read the candidate's row (ivf.h's ivf_loc).
 */
#ifndef SCANN_COLLECT_H
#define SCANN_COLLECT_H

#include <stdint.h>

#include "index.h"
#include "topk.h"

typedef enum collect_mode {
    COLLECT_HEAP,  /* k best, max-heap */
    COLLECT_RES,   /* k best, reservoir: the same set, cheaper when many candidates enter */
    COLLECT_RANGE, /* every candidate with score <= radius */
} collect_mode;

/* A growable (score, key) list for range search; a failed growth sets nomem and drops the
 * candidate, and the search then reports SCANN_ERR_OUT_OF_MEMORY. */
typedef struct range_list {
    float *score;
    int64_t *key;
    int64_t n, cap;
    int nomem;
} range_list;

void range_list_push_slow(range_list *l, float s, int64_t key);
void range_list_free(range_list *l);

typedef struct collector {
    collect_mode mode;
    topk h;
    topk_res r;
    range_list *range; /* COLLECT_RANGE: where candidates go */
    float radius;      /* COLLECT_RANGE: largest score kept */
    const search_ctx *sc;
} collector;

static inline void collect_init_heap(collector *c, int k, float *score, int64_t *key,
                                     const search_ctx *sc)
{
    c->mode = COLLECT_HEAP;
    topk_init(&c->h, k, score, key);
    c->sc = sc;
}

static inline void collect_init_res(collector *c, int k, float *score, int64_t *key,
                                    const search_ctx *sc)
{
    c->mode = COLLECT_RES;
    topk_res_init(&c->r, k, score, key);
    c->sc = sc;
}

static inline void collect_init_range(collector *c, float radius, range_list *out,
                                      const search_ctx *sc)
{
    c->mode = COLLECT_RANGE;
    c->radius = radius;
    c->range = out;
    c->sc = sc;
}

/* Largest score that may still enter (a tie enters the k-best modes only with a smaller key:
 * topk_worse). +inf until k candidates are in. */
static inline float collect_threshold(const collector *c)
{
    switch (c->mode) {
    case COLLECT_HEAP: return topk_threshold(&c->h);
    case COLLECT_RES: return topk_res_threshold(&c->r);
    default: return c->radius;
    }
}

/* Offer a candidate already known to pass collect_threshold() (or one the caller has not
 * tested: each mode re-checks what it needs); id is the external id the filter sees. */
static inline void collect_push(collector *c, float s, int64_t key, int64_t id)
{
    if (!search_allows(c->sc, id)) return;
    switch (c->mode) {
    case COLLECT_HEAP: topk_push(&c->h, s, key); break;
    case COLLECT_RES: topk_res_push(&c->r, s, key); break;
    default:
        if (s <= c->radius) {
            range_list *l = c->range;
            if (l->n < l->cap) {
                l->score[l->n] = s;
                l->key[l->n++] = key;
            } else {
                range_list_push_slow(l, s, key);
            }
        }
    }
}

/* Offer a candidate with its threshold test (for exact scores computed one by one). */
static inline void collect_offer(collector *c, float s, int64_t key, int64_t id)
{
    if (s <= collect_threshold(c)) collect_push(c, s, key, id);
}

/* Offer the candidates of a 32-vector block whose bits are set in mask: slot i has score
 * bias + sums[i] and sits at offset off0 + i of a list with these ids. Keys are loc0 + offset
 * (loc0 = ivf_loc(list, 0): the rerank stage reads the rows) or, when loc0 < 0, the ids. */
static inline void collect_block(collector *c, uint32_t mask, const uint16_t *sums, int64_t bias,
                                 const int64_t *ids, int64_t off0, int64_t loc0)
{
    /* With location keys and no filter the id is never looked at: not reading it matters, as
     * the ids of a large index are out of cache and one miss per candidate cost about a tenth
     * of a SIFT-1M search (perf: the load was two thirds of the scan loop's own time). */
    if (loc0 >= 0 && !c->sc->filter) {
        while (mask) {
            int i = __builtin_ctz(mask);
            mask &= mask - 1;
            collect_push(c, (float)(sums[i] + bias), loc0 + off0 + i, -1);
        }
        return;
    }
    while (mask) {
        int i = __builtin_ctz(mask);
        mask &= mask - 1;
        int64_t off = off0 + i;
        collect_push(c, (float)(sums[i] + bias), loc0 < 0 ? ids[off] : loc0 + off, ids[off]);
    }
}

/* The k best, sorted, into out_score/out_key (k slots; +inf / -1 beyond what was found). */
static inline void collect_finish(collector *c, float *out_score, int64_t *out_key)
{
    if (c->mode == COLLECT_HEAP)
        topk_finish(&c->h, out_score, out_key);
    else if (c->mode == COLLECT_RES)
        topk_res_finish(&c->r, out_score, out_key);
}

#endif
