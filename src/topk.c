/* topk.c - bounded max-heap; see topk.h. */
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
