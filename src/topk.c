/* topk.c - bounded max-heap, and the reservoir with its select and sort; see topk.h. */
#include <stdlib.h>
#include <string.h>

#include "topk.h"

static void sift_down(float *s, int64_t *id, int n, int i)
{
    float vs = s[i];
    int64_t vi = id[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && topk_worse(s[c + 1], id[c + 1], s[c], id[c])) c++;
        if (!topk_worse(s[c], id[c], vs, vi)) break;
        s[i] = s[c];
        id[i] = id[c];
        i = c;
    }
    s[i] = vs;
    id[i] = vi;
}

void topk_push_slow(topk *h, float s, int64_t id)
{
    if (s != s) return; /* NaN */
    if (h->size < h->k) {
        int i = h->size++;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!topk_worse(s, id, h->score[p], h->id[p])) break;
            h->score[i] = h->score[p];
            h->id[i] = h->id[p];
            i = p;
        }
        h->score[i] = s;
        h->id[i] = id;
        return;
    }
    if (h->k == 0 || !topk_worse(h->score[0], h->id[0], s, id)) return;
    h->score[0] = s;
    h->id[0] = id;
    sift_down(h->score, h->id, h->size, 0);
}

void topk_finish(topk *h, float *out_score, int64_t *out_id)
{
    /* In-place heap sort: repeatedly move the worst to the end. */
    int n = h->size;
    for (int end = n - 1; end > 0; end--) {
        float ts = h->score[0];
        int64_t ti = h->id[0];
        h->score[0] = h->score[end];
        h->id[0] = h->id[end];
        h->score[end] = ts;
        h->id[end] = ti;
        sift_down(h->score, h->id, end, 0);
    }
    for (int i = 0; i < n; i++) {
        out_score[i] = h->score[i];
        out_id[i] = h->id[i];
    }
    for (int i = n; i < h->k; i++) {
        out_score[i] = INFINITY;
        out_id[i] = -1;
    }
    h->size = 0;
}

/* ---- reservoir: introselect / introsort on parallel (score, id) arrays ------------------- */

enum { SMALL = 16 }; /* ranges this short are insertion-sorted */

static inline int pair_less(float sa, int64_t ia, float sb, int64_t ib)
{
    return topk_worse(sb, ib, sa, ia);
}

static inline void pair_swap(float *s, int64_t *id, int a, int b)
{
    float ts = s[a];
    int64_t ti = id[a];
    s[a] = s[b];
    id[a] = id[b];
    s[b] = ts;
    id[b] = ti;
}

static void insertion_sort(float *s, int64_t *id, int lo, int hi)
{
    for (int i = lo + 1; i <= hi; i++) {
        float vs = s[i];
        int64_t vi = id[i];
        int j = i;
        for (; j > lo && pair_less(vs, vi, s[j - 1], id[j - 1]); j--) {
            s[j] = s[j - 1];
            id[j] = id[j - 1];
        }
        s[j] = vs;
        id[j] = vi;
    }
}

/* The fallback that bounds the worst case: heap sort of [lo, hi] with topk's sift_down. */
static void heap_sort(float *s, int64_t *id, int lo, int hi)
{
    float *hs = s + lo;
    int64_t *hid = id + lo;
    int n = hi - lo + 1;
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(hs, hid, n, i);
    for (int end = n - 1; end > 0; end--) {
        pair_swap(hs, hid, 0, end);
        sift_down(hs, hid, end, 0);
    }
}

/* Partition [lo, hi] (hi - lo >= 2) around the median of its first, middle and last pairs:
 * returns the pivot's final position p, every pair in [lo, p) below it and every pair in
 * (p, hi] not. Lomuto's scheme with an unconditional swap, so the loop has no data-dependent
 * branch: on a reservoir's random scores a branchy (Hoare) partition mispredicted about every
 * other element and made the reservoir as slow as the heap it replaces. */
static int partition(float *s, int64_t *id, int lo, int hi)
{
    int mid = lo + (hi - lo) / 2;
    if (pair_less(s[mid], id[mid], s[lo], id[lo])) pair_swap(s, id, mid, lo);
    if (pair_less(s[hi], id[hi], s[lo], id[lo])) pair_swap(s, id, hi, lo);
    if (pair_less(s[hi], id[hi], s[mid], id[mid])) pair_swap(s, id, hi, mid);
    pair_swap(s, id, lo, mid); /* the pivot waits at lo */
    float ps = s[lo];
    int64_t pi = id[lo];
    int store = lo + 1; /* [lo + 1, store) below the pivot, [store, i) not */
    for (int i = lo + 1; i <= hi; i++) {
        float xs = s[i];
        int64_t xi = id[i];
        int below = (xs < ps) | ((xs == ps) & (xi < pi));
        s[i] = s[store];
        id[i] = id[store];
        s[store] = xs;
        id[store] = xi;
        store += below;
    }
    pair_swap(s, id, lo, store - 1);
    return store - 1;
}

static int depth_limit(int n)
{
    int d = 0;
    while (n > 1) n >>= 1, d++;
    return 2 * d;
}

static void sort_range(float *s, int64_t *id, int lo, int hi, int depth)
{
    while (hi - lo + 1 > SMALL) {
        if (depth-- == 0) {
            heap_sort(s, id, lo, hi);
            return;
        }
        int p = partition(s, id, lo, hi);
        /* Recurse into the smaller side, loop on the larger: O(log n) stack. */
        if (p - lo < hi - p) {
            sort_range(s, id, lo, p - 1, depth);
            lo = p + 1;
        } else {
            sort_range(s, id, p + 1, hi, depth);
            hi = p - 1;
        }
    }
    insertion_sort(s, id, lo, hi);
}

void topk_sort_pairs(float *score, int64_t *id, int n)
{
    if (n > 1) sort_range(score, id, 0, n - 1, depth_limit(n));
}

/* Rearrange [0, n) so that position k - 1 holds the k-th smallest pair and [0, k - 1) the
 * smaller ones (in no order). 0 < k <= n. */
static void select_k(float *s, int64_t *id, int n, int k)
{
    int lo = 0, hi = n - 1, depth = depth_limit(n);
    while (hi - lo + 1 > SMALL) {
        if (depth-- == 0) break;
        int p = partition(s, id, lo, hi);
        if (p == k - 1) return;
        if (k - 1 < p)
            hi = p - 1;
        else
            lo = p + 1;
    }
    sort_range(s, id, lo, hi, depth_limit(hi - lo + 1));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The score's bits mapped to an unsigned order (-0 made +0 first, so that it ties with +0, as
 * float compares do); scores are never NaN here (topk_res_push rejects them). */
static inline uint32_t score_key(float s)
{
    uint32_t u;
    s += 0.0f;
    memcpy(&u, &s, sizeof u);
    return u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);
}

enum { FAST_SELECT = 1024 }; /* longest buffer select_k_fast takes (its stack arrays) */

/* select_k for a reservoir buffer (0 < k < n <= FAST_SELECT): the k-th smallest score v is
 * found on 32-bit keys alone, then one pass keeps the pairs scoring below v in place and sets
 * the ties aside, and the ties with the smallest ids fill the rest, the largest of them last
 * (at k - 1). select_k's quickselect moves 12-byte pairs and compares a float and an id per
 * step; a reservoir's selections took 8-11% of a SIFT-1M or Fashion-MNIST search with it. */
static void select_k_fast(float *s, int64_t *id, int n, int k)
{
    uint32_t key[FAST_SELECT], buf[FAST_SELECT];
    for (int i = 0; i < n; i++) key[i] = score_key(s[i]);
    /* Quickselect with a three-way partition through buf: each key is written to both ends
     * and the end of its side grows (keys equal to the pivot go to neither), so no step reads
     * what the one before wrote. key keeps absolute ranks: [lo, hi] holds ranks lo..hi. */
    int lo = 0, hi = n - 1, found = 0, depth = 2 * depth_limit(n);
    uint32_t v = 0;
    while (hi - lo > 8 && depth-- > 0) {
        uint32_t x = key[lo], y = key[lo + (hi - lo) / 2], z = key[hi];
        uint32_t pv = (x < y) == (y < z) ? y : (y < x) == (x < z) ? x : z; /* median */
        int below = 0, last = hi - lo;
        for (int i = lo; i <= hi; i++) {
            uint32_t u = key[i];
            buf[below] = u;
            buf[last] = u;
            below += u < pv;
            last -= u > pv;
        }
        memcpy(key + lo, buf, (size_t)below * sizeof *key);
        memcpy(key + lo + last + 1, buf + last + 1, (size_t)(hi - lo - last) * sizeof *key);
        if (k - 1 < lo + below) {
            hi = lo + below - 1;
        } else if (k - 1 <= lo + last) {
            v = pv, found = 1; /* ranks lo + below .. lo + last are all pv */
            break;
        } else {
            lo = lo + last + 1;
        }
    }
    if (!found && hi - lo > 8) { /* bad pivots all along: sort what is left */
        qsort(key + lo, (size_t)(hi - lo + 1), sizeof *key, cmp_u32);
        v = key[k - 1];
    } else if (!found) {
        for (int i = lo + 1; i <= hi; i++) { /* a short range: insertion sort */
            uint32_t u = key[i];
            int j = i;
            for (; j > lo && key[j - 1] > u; j--) key[j] = key[j - 1];
            key[j] = u;
        }
        v = key[k - 1];
    }
    /* Keep the pairs below v in place (w <= i: only slots already read are written). */
    float ts[FAST_SELECT];
    int64_t tid[FAST_SELECT];
    int w = 0, nt = 0;
    for (int i = 0; i < n; i++) { /* branch-free: a third of the buffer is kept, at random */
        uint32_t u = score_key(s[i]);
        float si = s[i];
        int64_t ii = id[i];
        s[w] = si, id[w] = ii;
        ts[nt] = si, tid[nt] = ii;
        w += u < v;
        nt += u == v;
    }
    /* w < k <= w + nt: the k - w ties with the smallest ids, in id order (all score v). */
    topk_sort_pairs(ts, tid, nt);
    for (int t = 0; w < k; t++, w++) s[w] = ts[t], id[w] = tid[t];
}

void topk_res_select(topk_res *r)
{
    if (r->size > r->k) {
        if (r->size <= FAST_SELECT)
            select_k_fast(r->score, r->id, r->size, r->k);
        else
            select_k(r->score, r->id, r->size, r->k);
        r->size = r->k;
        r->thr = r->score[r->k - 1];
        r->thr_id = r->id[r->k - 1];
    } else if (r->k > 0 && r->size == r->k) {
        /* First fill: the worst of the k in is the heap's root at this point. */
        int w = 0;
        for (int i = 1; i < r->size; i++)
            if (topk_worse(r->score[i], r->id[i], r->score[w], r->id[w])) w = i;
        r->thr = r->score[w];
        r->thr_id = r->id[w];
    }
    r->limit = TOPK_RES_FACTOR * r->k;
}

void topk_res_finish(topk_res *r, float *out_score, int64_t *out_id)
{
    int n = r->size;
    if (n > r->k) {
        if (n <= FAST_SELECT)
            select_k_fast(r->score, r->id, n, r->k);
        else
            select_k(r->score, r->id, n, r->k);
        n = r->k;
    }
    topk_sort_pairs(r->score, r->id, n);
    if (out_score != r->score) memmove(out_score, r->score, (size_t)n * sizeof(float));
    if (out_id != r->id) memmove(out_id, r->id, (size_t)n * sizeof(int64_t));
    for (int i = n; i < r->k; i++) {
        out_score[i] = INFINITY;
        out_id[i] = -1;
    }
    topk_res_init(r, r->k, r->score, r->id);
}
