/*
 * ivf_build.c - the one build recipe of the IVF kinds: train (partitions, then the codec's
 * codebooks on a sample of what the lists will encode, then the rerank store) and add
 * (assign, reserve, encode in chunks, append; all or nothing); see ivf.h.
 */
#include <stdlib.h>

#include "error.h"
#include "index.h"
#include "ivf.h"
#include "rerank.h"
#include "sample.h"

#define IVF_ADD_CHUNK 16384 /* vectors encoded per step: bounds the scratch, paces the polls */

scann_status ivf_build_train(scann_index *ix, int64_t n, const float *x, const ivf_trainer *t)
{
    if (ix->ntotal > 0)
        return err_set(SCANN_ERR_UNSUPPORTED, "train: the index already holds %lld vectors",
                       (long long)ix->ntotal);
    int d = ix->p.dim, nt = ix->p.num_threads, nlist;
    scann_status st = ivf_resolve_nlist(ix->p.nlist, n, &nlist);
    if (st) return st;
    if (n < t->min_n)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "train: %s needs at least %lld training vectors, got %lld",
                       scann_index_kind_name(ix->p.kind), (long long)t->min_n, (long long)n);
    if ((st = ivf_init(t->v, nlist, d, t->code_size, 0))) return st;
    double share = t->train_codes ? t->kmeans_share : 1.0;
    poll_hook poll = index_poll(ix, "train", 0, share);
    if ((st = ivf_train(t->v, x, n, index_uses_ip(ix), ix->p.train_size, ix->p.kmeans_iters,
                        ix->p.seed, nt, ix->dk, &poll)))
        return st;
    if (!t->train_codes) return SCANN_OK;
    /* Codebooks learn from a sample of what the lists will store: residuals x - centre, or x. */
    const float *smp = NULL;
    float *smp_owned = NULL, *res = NULL;
    int32_t *assign = NULL;
    int64_t ns = 0;
    poll = index_poll(ix, "train", share, 1);
    if ((st = sample_rows(x, n, d, t->sample, ix->p.seed + 1, &smp, &smp_owned, &ns))) goto done;
    const float *rows = smp;
    if (t->residual) {
        assign = malloc((size_t)ns * sizeof(int32_t));
        res = malloc((size_t)ns * d * sizeof(float));
        if (!assign || !res) {
            st = err_nomem("training residuals", (size_t)ns * d * 4);
            goto done;
        }
        if ((st = ivf_assign(t->v, smp, ns, nt, ix->dk, assign))) goto done;
        ivf_residuals(t->v, smp, ns, assign, res);
        rows = res;
    }
    if ((st = t->train_codes(t->ctx, ix, rows, smp, ns, assign, &poll))) goto done;
    if (t->rr) {
        if ((st = rerank_init(t->rr, ix->p.reorder, d, smp, ns))) goto done;
        t->v->extra_size = t->rr->row_bytes; /* the lists are still empty */
    }
done:
    free(smp_owned);
    free(res);
    free(assign);
    return st;
}

scann_status ivf_build_add(scann_index *ix, int64_t n, const float *x, const int64_t *ids,
                           const ivf_adder *a)
{
    ivf *v = a->v;
    size_t d = (size_t)ix->p.dim, rb = v->extra_size;
    int nt = ix->p.num_threads;
    int64_t chunk = n < IVF_ADD_CHUNK ? n : IVF_ADD_CHUNK;
    int32_t *assign = malloc((size_t)n * sizeof(int32_t));
    float *res = a->residual ? malloc((size_t)chunk * d * sizeof(float)) : NULL;
    uint8_t *codes = a->encode ? malloc((size_t)chunk * a->code_bytes) : NULL;
    uint8_t *row = malloc(rb ? rb : 1);
    int64_t *mark = NULL;
    scann_status st = SCANN_OK;
    if (!assign || (a->residual && !res) || (a->encode && !codes) || !row) {
        st = err_nomem("add scratch", (size_t)chunk * d * 4);
        goto done;
    }
    /* Assign and reserve everything first: after this point the add cannot fail halfway, and
     * a cancel rolls the lists back to their marked sizes. */
    poll_hook poll = index_poll(ix, "add", 0, 0.3);
    if ((st = ivf_assign_polled(v, x, n, nt, ix->dk, &poll, assign)) ||
        (st = ivf_reserve(v, assign, n)) || (a->reserve && (st = a->reserve(a->ctx, assign, n))) ||
        (st = ivf_mark(v, &mark)))
        goto done;
    poll = index_poll(ix, "add", 0.3, 1);
    for (int64_t c = 0; c < n; c += chunk) {
        int64_t rows = n - c < chunk ? n - c : chunk;
        const float *xc = x + (size_t)c * d, *enc = xc;
        if (a->residual) {
            ivf_residuals(v, xc, rows, assign + c, res);
            enc = res;
        }
        if (a->encode && (st = a->encode(a->ctx, ix, enc, xc, rows, codes))) break;
        for (int64_t i = 0; i < rows; i++) {
            int32_t l = assign[c + i];
            const float *xi = xc + (size_t)i * d;
            const uint8_t *code =
                a->encode ? codes + (size_t)i * a->code_bytes : (const uint8_t *)xi;
            if (a->place)
                a->place(a->ctx, l, v->lists[l].size, code, xi, row);
            else if (rb)
                rerank_encode(a->rr, xi, row);
            ivf_append(v, l, ids[c + i], code, row);
        }
        if ((st = poll_progress(&poll, (double)(c + rows) / n))) break;
    }
    if (st)
        ivf_rollback(v, mark, a->move, a->ctx);
    else
        ix->ntotal += n;
done:
    free(assign);
    free(res);
    free(codes);
    free(row);
    free(mark);
    return st;
}
