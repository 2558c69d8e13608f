/*
 * avq_tune.c - choose the anisotropic threshold from the data at train time; see avq.h.
 *
 * An absolute threshold T is not scale-free: eta = (d - 1) T^2 / (||x||^2 - T^2) grows with d
 * and falls with the norms, so ScaNN's 0.2, right for unit vectors at d = 100 (eta about 4),
 * gives eta about 21 at d = 512 and there cut recall at a fixed candidate count from 0.875
 * (plain PQ) to 0.76. Rather than a formula in d, the weight is measured: a few candidate etas
 * each encode the same held-out database sample, and the one whose quantized scores keep the
 * most of each held-out query's true top-k among its best candidates wins. That is the loss
 * the anisotropic weight exists to reduce, judged on this data and these codebooks.
 *
 * Cost: one sgemm of nq x ns exact scores, then per candidate one encoding of ns vectors and
 * one sgemm of approximate scores: with the sizes below, six encodings of 20k vectors.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avq.h"
#include "blas.h"
#include "error.h"
#include "sample.h"
#include "topk.h"

#define TUNE_NQ 200   /* held-out queries */
#define TUNE_NS 20000 /* held-out database vectors */
#define TUNE_K 10     /* true neighbours per query */

/* eta candidates: 0 is plain PQ; the paper's GloVe setting is about 4. */
static const float tune_etas[] = {0.0f, 1.0f, 2.0f, 4.0f, 8.0f, 16.0f};
#define TUNE_NETA (int)(sizeof tune_etas / sizeof tune_etas[0])

/* Row indices of the kk largest scores of each of nq rows (ns columns), best first. */
static scann_status top_rows(const float *s, int nq, int ns, int kk, int32_t *out)
{
    float *score = malloc((size_t)kk * sizeof(float));
    int64_t *id = malloc((size_t)kk * sizeof(int64_t));
    if (!score || !id) {
        free(score), free(id);
        return err_nomem("threshold tuning", (size_t)kk * 12);
    }
    for (int q = 0; q < nq; q++) {
        topk h;
        topk_init(&h, kk, score, id);
        const float *row = s + (size_t)q * ns;
        for (int i = 0; i < ns; i++)
            if (-row[i] <= topk_threshold(&h)) topk_push(&h, -row[i], i);
        topk_finish(&h, score, id);
        for (int i = 0; i < kk; i++) out[(size_t)q * kk + i] = (int32_t)id[i];
    }
    free(score), free(id);
    return SCANN_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

scann_status avq_choose_threshold(const pq *p, const float *x, const float *v, int64_t n,
                                  const float *centres, const int32_t *assign, uint64_t seed,
                                  int nthreads, const kernels *dk, float *threshold, float *eta_out)
{
    int d = p->d;
    int nq = n / 10 < TUNE_NQ ? (int)(n / 10) : TUNE_NQ;
    int64_t ns64 = n - nq < TUNE_NS ? n - nq : TUNE_NS;
    int ns = (int)ns64, kk = 2 * TUNE_K;
    *threshold = 0.0f;
    *eta_out = 0.0f;
    if (nq < 10 || ns < 10 * kk) return SCANN_OK; /* too little data to judge: plain PQ */

    /* Disjoint random rows: the sample keeps the input's order, which may be meaningful. */
    int64_t *perm = malloc((size_t)n * sizeof(int64_t));
    float *q = malloc((size_t)nq * d * sizeof(float));
    float *xs = malloc((size_t)ns * d * sizeof(float)),
          *vs = malloc((size_t)ns * d * sizeof(float));
    float *approx = malloc((size_t)ns * d * sizeof(float));
    float *exact = malloc((size_t)nq * ns * sizeof(float));
    int32_t *truth = malloc((size_t)nq * kk * sizeof(int32_t));
    int32_t *found = malloc((size_t)nq * kk * sizeof(int32_t));
    uint8_t *codes = malloc((size_t)ns * p->m);
    double *norm2 = malloc((size_t)ns * sizeof(double));
    scann_status st = SCANN_OK;
    if (!perm || !q || !xs || !vs || !approx || !exact || !truth || !found || !codes || !norm2) {
        st = err_nomem("threshold tuning", (size_t)nq * ns * 4 + (size_t)ns * d * 12);
        goto done;
    }
    rng r = {seed};
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = 0; i < nq + ns; i++) {
        int64_t j = i + (int64_t)rng_below(&r, (uint64_t)(n - i)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < nq; i++)
        memcpy(q + (size_t)i * d, x + (size_t)perm[i] * d, d * sizeof(float));
    for (int i = 0; i < ns; i++) {
        memcpy(xs + (size_t)i * d, x + (size_t)perm[nq + i] * d, d * sizeof(float));
        memcpy(vs + (size_t)i * d, v + (size_t)perm[nq + i] * d, d * sizeof(float));
        double s = 0;
        for (int t = 0; t < d; t++) s += (double)xs[(size_t)i * d + t] * xs[(size_t)i * d + t];
        norm2[i] = s;
    }
    /* True neighbours: the TUNE_K best exact inner products of each query. */
    blas_sgemm_abt(nq, ns, d, q, d, xs, d, exact, ns);
    if ((st = top_rows(exact, nq, ns, TUNE_K, truth))) goto done;

    /* The candidates' eta at the typical norm: T^2 = eta ||x||^2 / (d - 1 + eta). The median
     * squared norm of the sample stands for ||x||^2 (1 for cosine). */
    double m2;
    {
        double *sorted = malloc((size_t)ns * sizeof(double));
        if (!sorted) {
            st = err_nomem("threshold tuning", (size_t)ns * 8);
            goto done;
        }
        memcpy(sorted, norm2, (size_t)ns * sizeof(double));
        qsort(sorted, (size_t)ns, sizeof(double), cmp_double);
        m2 = sorted[ns / 2];
        free(sorted);
    }
    double best_score = -1;
    for (int e = 0; e < TUNE_NETA; e++) {
        float eta = tune_etas[e];
        float T = eta > 0 && m2 > 0 ? (float)sqrt(eta * m2 / (d - 1 + eta)) : 0.0f;
        if ((st = avq_encode(p, vs, xs, ns, T, nthreads, dk, codes))) goto done;
        for (int i = 0; i < ns; i++) {
            float *a = approx + (size_t)i * d;
            pq_decode(p, codes + (size_t)i * p->m, a);
            /* v = x - centre: the score is <q, centre + v~>. */
            if (centres) {
                const float *c = centres + (size_t)assign[perm[nq + i]] * d;
                for (int t = 0; t < d; t++) a[t] += c[t];
            }
        }
        blas_sgemm_abt(nq, ns, d, q, d, approx, d, exact, ns);
        if ((st = top_rows(exact, nq, ns, kk, found))) goto done;
        /* Recall of the true top-k among the best k and 2k candidates, summed. */
        int64_t hit_k = 0, hit_2k = 0;
        for (int qi = 0; qi < nq; qi++)
            for (int t = 0; t < TUNE_K; t++) {
                int32_t want = truth[(size_t)qi * TUNE_K + t];
                for (int c = 0; c < kk; c++)
                    if (found[(size_t)qi * kk + c] == want) {
                        hit_2k++;
                        hit_k += c < TUNE_K;
                        break;
                    }
            }
        double score = (double)(hit_k + hit_2k) / (2.0 * nq * TUNE_K);
        if (score > best_score + 1e-9) { /* ties keep the smaller eta */
            best_score = score;
            *threshold = T;
            *eta_out = eta;
        }
    }
done:
    free(perm), free(q), free(xs), free(vs), free(approx), free(exact), free(truth), free(found);
    free(codes), free(norm2);
    return st;
}

scann_status avq_train_codebooks(pq *p, const float *x, const float *v, int64_t n,
                                 const float *centres, const int32_t *assign, int residual,
                                 uint64_t seed, int nthreads, const kernels *dk,
                                 const poll_hook *poll, float *threshold)
{
    scann_status st = pq_train(p, v, n, AVQ_PQ_ITERS, seed, nthreads, dk, poll);
    float eta;
    if (*threshold < 0 && !residual) *threshold = 0.0f;
    if (!st && *threshold < 0)
        st = avq_choose_threshold(p, x, v, n, centres, assign, seed + 1, nthreads, dk, threshold,
                                  &eta);
    return st;
}
