/*
 * tune.c - autotuning of the search defaults (scann_index_tune): the fastest (nprobe,
 * reorder_k) whose mean recall@k on the caller's tuning queries reaches a target, stored as the
 * index's default search parameters.
 *
 * Exact neighbours come first: the caller's truth, a FLAT search of the caller's base vectors,
 * or, for IVF_FLAT only, the index's own search over every list (exact there; for the
 * quantized kinds no setting is exact, so they need one of the other two).
 *
 * The search: recall grows with nprobe and with reorder_k, so for each reorder_k of a doubling
 * ladder (k, 2k, 4k, ...; one rung for kinds that do not re-rank) the smallest nprobe reaching
 * the target is found by bisection. A rung with no upper bound gallops up from nprobe 1, cheap
 * settings first; a later rung bisects below the previous rung's answer, which a larger
 * reorder_k can only lower. The ladder stops when the answer reaches 1 or stops falling for two
 * rungs (more re-scoring then only costs time). Each rung's answer is a candidate; candidates
 * are timed again, best of several runs (one run on a shared machine is noisy), and the
 * fastest wins. Then, since recall jumps where one more partition holds many neighbours, the
 * winner's neighbourhood is searched in finer reorder_k steps: less re-scoring at its nprobe,
 * or one partition fewer with more re-scoring.
 *
 * "Reaches the target" means recall minus its standard error over the tuning queries does: the
 * smallest setting that passes on the tuning queries is, by selection, one they happened to
 * favour, so without the margin held-out recall falls below the target about half the time.
 *
 * Every measurement goes through scann_index_search, so what is timed is what a default
 * search will do, its choice of threads included, and the tuner needs nothing from the kinds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "index.h"
#include "kinds.h"

#define TUNE_MAX_RUNGS 12         /* reorder_k up to 2^11 * k */
#define TUNE_TIME_MIN_RUNS 3      /* a candidate's QPS: best of at least this many runs ... */
#define TUNE_TIME_MIN_SECONDS 0.2 /* ... and of at least this long in all ... */
#define TUNE_TIME_MAX_RUNS 20     /* ... but never more runs than this */

typedef struct tuner {
    scann_index *ix;
    int64_t nq;
    int dim, k, nlist, nthreads;
    const float *q;
    const int64_t *truth; /* nq rows of tstride */
    int tstride;
    double target;
    float *dist; /* nq * k scratch for the searches */
    int64_t *ids;
    scann_tune_point *pts; /* every setting measured, in order */
    int npts, cap;
    int nsearches;
} tuner;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean over queries of |found row ∩ first k of truth row| / k, and its standard error;
 * missing results (-1) miss. */
static double recall_of(const tuner *t, double *se)
{
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < t->nq; i++) {
        const int64_t *f = t->ids + i * t->k, *g = t->truth + i * t->tstride;
        int hit = 0;
        for (int a = 0; a < t->k; a++) {
            if (f[a] < 0) continue;
            for (int b = 0; b < t->k; b++)
                if (f[a] == g[b]) {
                    hit++;
                    break;
                }
        }
        double r = (double)hit / t->k;
        sum += r;
        sum2 += r * r;
    }
    double n = (double)t->nq, mean = sum / n;
    double var = n > 1 ? (sum2 - n * mean * mean) / (n - 1) : 0;
    *se = var > 0 ? sqrt(var / n) : 0;
    return mean;
}

/* Whether a measured setting reaches the target, by the margin scann.h promises. */
static int reaches(const tuner *t, const scann_tune_point *p)
{
    return p->recall - p->recall_se >= t->target;
}

/* One timed batch search at (nprobe, reorder_k); *secs = its wall time. */
static scann_status run(tuner *t, int nprobe, int reorder_k, double *secs)
{
    scann_search_params sp = {0};
    sp.nprobe = nprobe;
    sp.reorder_k = reorder_k;
    sp.num_threads = t->nthreads;
    double t0 = now_s();
    scann_status st = scann_index_search(t->ix, t->nq, t->dim, t->q, t->k, &sp, t->dist, t->ids);
    *secs = now_s() - t0;
    t->nsearches++;
    return st;
}

/* The point for (nprobe, reorder_k), measured now unless it was before. */
static scann_status measure(tuner *t, int nprobe, int reorder_k, scann_tune_point **out)
{
    for (int i = 0; i < t->npts; i++)
        if (t->pts[i].nprobe == nprobe && t->pts[i].reorder_k == reorder_k) {
            *out = &t->pts[i];
            return SCANN_OK;
        }
    if (t->npts == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        scann_tune_point *p = realloc(t->pts, (size_t)cap * sizeof *p);
        if (!p) return err_nomem("tune points", (size_t)cap * sizeof *p);
        t->pts = p;
        t->cap = cap;
    }
    double secs;
    scann_status st = run(t, nprobe, reorder_k, &secs);
    if (st) return st;
    scann_tune_point *p = &t->pts[t->npts++];
    p->nprobe = nprobe;
    p->reorder_k = reorder_k;
    p->recall = recall_of(t, &p->recall_se);
    p->qps = secs > 0 ? (double)t->nq / secs : INFINITY;
    *out = p;
    return SCANN_OK;
}

static scann_status meets(tuner *t, int nprobe, int reorder_k, int *yes)
{
    scann_tune_point *p;
    scann_status st = measure(t, nprobe, reorder_k, &p);
    if (!st) *yes = reaches(t, p);
    return st;
}

/*
 * The smallest nprobe reaching the target at this reorder_k into *answer, -1 when even
 * nprobe = nlist does not. hint > 0: an nprobe expected to reach it (the previous rung's
 * answer); bisect below it. Otherwise gallop up from 1 to bracket the answer first.
 */
static scann_status smallest_nprobe(tuner *t, int reorder_k, int hint, int *answer)
{
    int lo = 1, hi = hint > 0 ? hint : 1, yes = 0, steps = 0;
    double r_back2 = 0, r_back1 = 0; /* recall two and one gallop steps back */
    scann_status st;
    for (;; steps++) { /* hi reaches the target, or nothing does */
        scann_tune_point *p;
        if ((st = measure(t, hi, reorder_k, &p))) return st;
        double r = p->recall;
        if (reaches(t, p)) break;
        /* A plateau: were the remaining doublings to nlist to gain even as much each as the
         * last two did together, the target would stay out of reach (recall flattens as
         * nprobe grows: the candidates' re-scoring, not the probes, limits it). This spares
         * the most expensive searches of a rung that cannot succeed. */
        double left = log2((double)t->nlist / hi);
        if (hi == t->nlist ||
            (steps >= 2 && (r - r_back2) * left < t->target - (r - p->recall_se))) {
            *answer = -1;
            return SCANN_OK;
        }
        r_back2 = r_back1;
        r_back1 = r;
        lo = hi + 1;
        hi = hi > t->nlist / 2 ? t->nlist : 2 * hi;
    }
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if ((st = meets(t, mid, reorder_k, &yes))) return st;
        if (yes)
            hi = mid;
        else
            lo = mid + 1;
    }
    *answer = hi;
    return SCANN_OK;
}

/* The smallest reorder_k in [lo, hi] reaching the target at nprobe, to within hi / 16 (finer
 * steps change the time little); (nprobe, hi) should reach it (consider checks). */
static scann_status smallest_reorder(tuner *t, int nprobe, int lo, int hi, int *answer)
{
    int yes;
    while (lo < hi && hi - lo > hi / 16) {
        int mid = lo + (hi - lo) / 2;
        scann_status st = meets(t, nprobe, mid, &yes);
        if (st) return st;
        if (yes)
            hi = mid;
        else
            lo = mid + 1;
    }
    *answer = hi;
    return SCANN_OK;
}

/* Re-time a candidate: the best of several runs, so one noisy run cannot pick the winner. */
static scann_status retime(tuner *t, scann_tune_point *p)
{
    double best = INFINITY, total = 0, secs;
    for (int r = 0; r < TUNE_TIME_MAX_RUNS; r++) {
        if (r >= TUNE_TIME_MIN_RUNS && total >= TUNE_TIME_MIN_SECONDS) break;
        scann_status st = run(t, p->nprobe, p->reorder_k, &secs);
        if (st) return st;
        total += secs;
        if (secs < best) best = secs;
    }
    p->qps = best > 0 ? (double)t->nq / best : INFINITY;
    return SCANN_OK;
}

/* A candidate (one that reached the target), timed again unless it was; *best: the index in
 * t->pts of the fastest so far, or -1. */
static scann_status consider(tuner *t, int nprobe, int reorder_k, int *best)
{
    scann_tune_point *p;
    scann_status st = measure(t, nprobe, reorder_k, &p);
    if (st) return st;
    int i = (int)(p - t->pts);
    if (i == *best || !reaches(t, p)) return SCANN_OK; /* the latter: not monotone */
    if ((st = retime(t, p))) return st;
    if (*best < 0 || p->qps > t->pts[*best].qps) *best = i;
    return SCANN_OK;
}

/* Copy the library's last message out of its thread-local buffer, then prefix it. */
static scann_status rewrap(scann_status st, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", scann_last_error());
    return err_set(st, "tune: %s: %s", what, msg);
}

/* The k exact neighbours of every tuning query by a FLAT search of the caller's base. */
static scann_status truth_from_base(const tuner *t, scann_metric metric,
                                    const scann_tune_params *tp, int64_t *truth)
{
    scann_index_params p;
    scann_index *flat = NULL;
    scann_status st = scann_index_params_init(&p, SCANN_INDEX_FLAT, metric, t->dim);
    p.num_threads = t->ix->p.num_threads;
    if (!st) st = scann_index_create(&p, &flat);
    if (!st) st = scann_index_add(flat, tp->nbase, t->dim, tp->base, tp->base_ids);
    if (!st) st = scann_index_search(flat, t->nq, t->dim, t->q, t->k, NULL, t->dist, truth);
    scann_index_free(flat);
    return st ? rewrap(st, "exact neighbours from base") : SCANN_OK;
}

static int by_setting(const void *a, const void *b)
{
    const scann_tune_point *x = a, *y = b;
    if (x->reorder_k != y->reorder_k) return x->reorder_k < y->reorder_k ? -1 : 1;
    return (x->nprobe > y->nprobe) - (x->nprobe < y->nprobe);
}

static scann_status check_args(const scann_index *ix, int64_t nq, int dim, const float *queries,
                               int k, double target, const scann_tune_params *tp,
                               const scann_tune_result *out)
{
    if (!ix || !queries || !out)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: index, queries or out is NULL");
    if (nq < 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: nq=%lld, at least one query is needed",
                       (long long)nq);
    if (dim != ix->p.dim)
        return err_set(SCANN_ERR_DIMENSION, "tune: queries have dimension %d, the index has %d",
                       dim, ix->p.dim);
    if (!(target > 0 && target <= 1))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: target_recall=%g is outside (0, 1]",
                       target);
    if (k < 1) return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: k=%d must be at least 1", k);
    if (!(kind_get(ix->p.kind)->keys & KEY_LISTS))
        return err_set(SCANN_ERR_UNSUPPORTED, "tune: a %s index is exact: it has nothing to tune",
                       scann_index_kind_name(ix->p.kind));
    if (!tp) return SCANN_OK;
    if (tp->truth && tp->truth_stride < k)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: truth_stride=%d is smaller than k=%d",
                       tp->truth_stride, k);
    if (!tp->truth && tp->base && tp->nbase < k)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: nbase=%lld is smaller than k=%d",
                       (long long)tp->nbase, k);
    if (tp->num_threads < 0 || tp->num_threads > 4096)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: num_threads=%d is outside [0, 4096]",
                       tp->num_threads);
    if (tp->curve_cap < 0 || (tp->curve_cap > 0 && !tp->curve))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: curve_cap=%d with curve %s",
                       tp->curve_cap, tp->curve ? "set" : "NULL");
    return SCANN_OK;
}

scann_status scann_index_tune(scann_index *ix, int64_t nq, int dim, const float *queries, int k,
                              double target_recall, const scann_tune_params *tp,
                              scann_tune_result *out)
{
    scann_status st = check_args(ix, nq, dim, queries, k, target_recall, tp, out);
    if (st) return st;
    scann_tune_params none = {0};
    if (!tp) tp = &none;

    /* The parameters searches depend on, read once under the lock (train may change nlist). */
    pthread_rwlock_rdlock(&ix->lock);
    scann_index_params p = ix->p;
    int trained = ix->trained;
    int64_t ntotal = ix->ntotal;
    pthread_rwlock_unlock(&ix->lock);
    if (!trained)
        return err_set(SCANN_ERR_NOT_TRAINED, "tune: %s index is not trained",
                       scann_index_kind_name(p.kind));
    if (ntotal == 0) return err_set(SCANN_ERR_EMPTY, "tune: the index holds no vectors");
    if (k > ntotal)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "tune: k=%d is larger than ntotal=%lld", k,
                       (long long)ntotal);
    if (!tp->truth && !tp->base && !kind_get(p.kind)->exact)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "tune: a %s index has no exact search: pass "
                       "the exact neighbours (truth) or the base vectors",
                       scann_index_kind_name(p.kind));

    tuner t = {ix,
               nq,
               dim,
               k,
               p.nlist,
               tp->num_threads,
               queries,
               tp->truth,
               tp->truth_stride,
               target_recall,
               NULL,
               NULL,
               NULL,
               0,
               0,
               0};
    int64_t *own_truth = NULL;
    t.dist = malloc((size_t)nq * k * sizeof(float));
    t.ids = malloc((size_t)nq * k * sizeof(int64_t));
    if (!tp->truth) own_truth = malloc((size_t)nq * k * sizeof(int64_t));
    if (!t.dist || !t.ids || (!tp->truth && !own_truth)) {
        st = err_nomem("tune scratch", (size_t)nq * k * 20);
        goto done;
    }
    if (!tp->truth) {
        t.truth = own_truth;
        t.tstride = k;
        if (tp->base) {
            st = truth_from_base(&t, p.metric, tp, own_truth);
        } else { /* IVF_FLAT over every list is exact */
            double secs;
            st = run(&t, t.nlist, 0, &secs);
            if (st)
                st = rewrap(st, "exact search");
            else
                memcpy(own_truth, t.ids, (size_t)nq * k * sizeof(int64_t));
        }
        if (st) goto done;
    }

    /* The ladder of reorder_k: one rung (0, unused) for kinds that do not re-rank. */
    int rerank = (kind_get(p.kind)->keys & KEY_REORDER) && p.reorder != SCANN_REORDER_NONE;
    int64_t rk_max = ntotal < (1 << 30) ? ntotal : (1 << 30);
    int cand_np[TUNE_MAX_RUNGS], cand_rk[TUNE_MAX_RUNGS], ncand = 0;
    int prev = -1, stalls = 0;
    int64_t rk = rerank ? k : 0;
    for (int rung = 0; rung < TUNE_MAX_RUNGS; rung++) {
        int answer;
        if ((st = smallest_nprobe(&t, (int)rk, prev, &answer))) goto done;
        if (answer > 0) {
            cand_np[ncand] = answer;
            cand_rk[ncand++] = (int)rk;
            stalls = prev > 0 && answer >= prev ? stalls + 1 : 0;
            prev = answer;
        }
        if (!rerank || answer == 1 || stalls == 2 || rk >= rk_max) break;
        rk = 2 * rk < rk_max ? 2 * rk : rk_max;
    }

    /* Candidates timed again; the fastest wins. Without any, the best recall measured. */
    int bi = -1; /* an index into t.pts, which measure may move */
    for (int c = 0; c < ncand; c++)
        if ((st = consider(&t, cand_np[c], cand_rk[c], &bi))) goto done;
    /* The ladder moves reorder_k in steps of 2x and nprobe in steps of one partition, coarse
     * where recall jumps with one more partition. Between the winner's rung and the next,
     * look for less re-scoring at the same nprobe, or one probe fewer with more re-scoring. */
    if (rerank && bi >= 0) {
        int np = t.pts[bi].nprobe, rkw = t.pts[bi].reorder_k, fewer = -1, more = -1;
        if ((st = smallest_reorder(&t, np, rkw / 2 > k ? rkw / 2 : k, rkw, &fewer))) goto done;
        for (int c = 0; c < ncand && more < 0; c++) /* a rung that met the target below np */
            if (cand_rk[c] > rkw && cand_np[c] < np &&
                (st = smallest_reorder(&t, np - 1, rkw + 1, cand_rk[c], &more)))
                goto done;
        if ((st = consider(&t, np, fewer, &bi))) goto done;
        if (more > 0 && (st = consider(&t, np - 1, more, &bi))) goto done;
    }
    if (ncand == 0) /* every rung measured at least one point */
        for (int i = 0; i < t.npts; i++)
            if (bi < 0 || t.pts[i].recall > t.pts[bi].recall ||
                (t.pts[i].recall == t.pts[bi].recall && t.pts[i].qps > t.pts[bi].qps))
                bi = i;
    const scann_tune_point *best = &t.pts[bi];
    memset(out, 0, sizeof *out);
    out->met = ncand > 0;
    out->nprobe = best->nprobe;
    out->reorder_k = best->reorder_k;
    out->recall = best->recall;
    out->recall_se = best->recall_se;
    out->qps = best->qps;
    out->npoints = t.npts;
    out->nsearches = t.nsearches;
    if (out->met && !tp->dry_run) {
        pthread_rwlock_wrlock(&ix->lock);
        ix->p.nprobe = best->nprobe;
        if (rerank) ix->p.reorder_k = best->reorder_k;
        pthread_rwlock_unlock(&ix->lock);
    }
    qsort(t.pts, (size_t)t.npts, sizeof *t.pts, by_setting);
    for (int i = 0; i < t.npts && i < tp->curve_cap; i++) tp->curve[i] = t.pts[i];
done:
    free(t.dist);
    free(t.ids);
    free(own_truth);
    free(t.pts);
    return st;
}
