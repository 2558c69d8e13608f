/* pq.c - product quantizer training, encoding and tables; see pq.h. */
#include "pq.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kmeans.h"
#include "threads.h"

#define PQ_ENCODE_CHUNK 16384 /* rows per assignment call: bounds the int32 scratch */

scann_status pq_check_shape(int d, int m)
{
    if (m < 1 || m > d)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "pq: m=%d must be in [1, dim=%d]", m, d);
    int dsub = (d + m - 1) / m;
    if ((m - 1) * dsub >= d)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "pq: m=%d does not fit dim=%d: blocks of %d dims leave the last block "
                       "empty (choose m dividing %d, or with (m-1)*ceil(d/m) < d)",
                       m, d, dsub, d);
    return SCANN_OK;
}

scann_status pq_init(pq *p, int d, int m, int ksub)
{
    memset(p, 0, sizeof *p);
    scann_status st = pq_check_shape(d, m);
    if (st) return st;
    int dsub = (d + m - 1) / m;
    p->d = d;
    p->m = m;
    p->ksub = ksub;
    p->dsub = dsub;
    p->codebooks = calloc((size_t)ksub * d, sizeof(float));
    if (!p->codebooks) return err_nomem("pq codebooks", (size_t)ksub * d * 4);
    return SCANN_OK;
}

void pq_free(pq *p)
{
    free(p->codebooks);
    p->codebooks = NULL;
}

size_t pq_memory(const pq *p) { return (size_t)p->ksub * p->d * sizeof(float); }

typedef struct train_job {
    pq *p;
    int first; /* blocks first + task of this wave */
    const float *x;
    int64_t n;
    int iters;
    uint64_t seed;
    const kernels *dk;
    float *scratch;       /* per worker: n * dsub floats, one block's columns made contiguous */
    scann_status *status; /* per block */
} train_job;

static void train_block(void *ctx, int64_t task, int worker)
{
    train_job *t = ctx;
    pq *p = t->p;
    int64_t j = t->first + task;
    int len = pq_len(p, (int)j), off = pq_off(p, (int)j);
    float *sub = t->scratch + (size_t)worker * t->n * p->dsub;
    for (int64_t i = 0; i < t->n; i++)
        memcpy(sub + (size_t)i * len, t->x + (size_t)i * p->d + off, (size_t)len * sizeof(float));
    kmeans_opts o = {t->iters, 0, 0, t->seed + (uint64_t)j * 7919, 1, t->dk, NULL};
    t->status[j] =
        kmeans_train(sub, t->n, len, p->ksub, &o, p->codebooks + (size_t)p->ksub * off, NULL);
}

scann_status pq_train(pq *p, const float *x, int64_t n, int iters, uint64_t seed, int nthreads,
                      const kernels *dk, const poll_hook *poll)
{
    if (n < p->ksub)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "pq: training needs at least %d vectors (one per centre), got %lld", p->ksub,
                       (long long)n);
    if (nthreads > p->m) nthreads = p->m;
    float *scratch = malloc((size_t)nthreads * n * p->dsub * sizeof(float));
    scann_status *status = calloc((size_t)p->m, sizeof(scann_status));
    scann_status st = SCANN_OK;
    if (!scratch || !status) {
        st = err_nomem("pq training scratch", (size_t)nthreads * n * p->dsub * 4);
    } else {
        train_job t = {p, 0, x, n, iters, seed, dk, scratch, status};
        /* Waves of a few blocks per thread: short enough to poll often, long enough to keep
         * every thread busy. */
        int wave = 4 * nthreads;
        for (t.first = 0; t.first < p->m && !st; t.first += wave) {
            int cnt = p->m - t.first < wave ? p->m - t.first : wave;
            par_for(NULL, nthreads, cnt, train_block, &t);
            for (int j = t.first; j < t.first + cnt && !st; j++) st = status[j];
            if (st)
                st = err_set(st, "pq: training block failed: %s", scann_last_error());
            else
                st = poll_progress(poll, (double)(t.first + cnt) / p->m);
        }
    }
    free(scratch);
    free(status);
    return st;
}

scann_status pq_encode(const pq *p, const float *x, int64_t n, int nthreads, const kernels *dk,
                       uint8_t *codes)
{
    int64_t chunk = n < PQ_ENCODE_CHUNK ? n : PQ_ENCODE_CHUNK;
    int32_t *assign = malloc((size_t)(chunk > 0 ? chunk : 1) * sizeof(int32_t));
    if (!assign) return err_nomem("pq assignments", (size_t)chunk * 4);
    scann_status st = SCANN_OK;
    for (int64_t c = 0; c < n && !st; c += chunk) {
        int64_t rows = n - c < chunk ? n - c : chunk;
        for (int j = 0; j < p->m && !st; j++) {
            st = kmeans_assign(x + (size_t)c * p->d + pq_off(p, j), rows, pq_len(p, j), p->d,
                               pq_centre(p, j, 0), p->ksub, nthreads, dk, assign, NULL);
            for (int64_t i = 0; i < rows && !st; i++)
                codes[(size_t)(c + i) * p->m + j] = (uint8_t)assign[i];
        }
    }
    free(assign);
    return st;
}

void pq_decode(const pq *p, const uint8_t *code, float *out)
{
    for (int j = 0; j < p->m; j++)
        memcpy(out + pq_off(p, j), pq_centre(p, j, code[j]), (size_t)pq_len(p, j) * sizeof(float));
}

/* One loop nest for both tables; `l2` is a constant at each call site, so it folds away. */
static inline __attribute__((always_inline)) void lut(const pq *p, const float *q, float *out,
                                                      int l2)
{
    for (int j = 0; j < p->m; j++) {
        int len = pq_len(p, j);
        const float *qj = q + pq_off(p, j), *cj = pq_centre(p, j, 0);
        float *o = out + (size_t)j * p->ksub;
        for (int c = 0; c < p->ksub; c++) {
            float s = 0;
            for (int t = 0; t < len; t++) {
                float e = l2 ? qj[t] - cj[c * len + t] : qj[t];
                s += l2 ? e * e : e * cj[c * len + t];
            }
            o[c] = s;
        }
    }
}

void pq_lut_ip(const pq *p, const float *q, float *out) { lut(p, q, out, 0); }
void pq_lut_l2(const pq *p, const float *q, float *out) { lut(p, q, out, 1); }

float *pq_transpose(const pq *p)
{
    float *ct = malloc((size_t)p->ksub * p->d * sizeof(float));
    if (!ct) return NULL;
    for (int j = 0; j < p->m; j++) {
        int len = pq_len(p, j);
        const float *c = pq_centre(p, j, 0);
        float *out = ct + (size_t)p->ksub * pq_off(p, j);
        for (int k = 0; k < p->ksub; k++)
            for (int t = 0; t < len; t++) out[(size_t)t * p->ksub + k] = c[(size_t)k * len + t];
    }
    return ct;
}
