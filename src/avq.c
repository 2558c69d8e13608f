/*
 * avq.c - anisotropic (score-aware) PQ encoding by coordinate descent (DESIGN.md 2.4); see avq.h.
 *
 * Per vector, two m x ksub tables are built: err2[j][k] = ||v_j - C_j[k]||^2 and
 * par[j][k] = <v_j - C_j[k], xh_j>. With P = sum_j par[j][code_j] (the parallel error) and
 * E = sum_j err2[j][code_j], the loss is eta * P^2 + (E - P^2), so changing one block's code moves
 * it by eta * dP2 + (dE - dP2) and a whole round of trials costs O(m * ksub) from the tables.
 *
 * Invariants:
 * - The starting code is the plain nearest-centre code, bit for bit pq_encode's for blocks of up
 *   to 8 dims: err2 is summed in float over a block's dims in order, starting from the first
 *   squared difference (kmeans' direct path), and the first minimum wins. (Wider blocks go through
 *   sgemm in pq_encode, which can break near-ties the other way.)
 * - Only moves that lower the table loss are taken, so the result never has a higher loss than the
 *   plain code, up to the float rounding of the tables.
 * - A vector's code depends only on that vector and the codebooks: the batch path builds the same
 *   table floats as avq_encode_one (from a transposed codebook copy through the kernel table's
 *   avq_tables, whose twins keep every entry's order of operations; no FMA contraction),
 *   whatever the instruction set, chunk or thread count.
 */
#include "avq.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "threads.h"

#define AVQ_MAX_ROUNDS 10 /* ScaNN's bound; measured: about one changing round per vector */
#define AVQ_CHUNK 256     /* vectors per parallel task: fixed, so tasks never depend on threads */

float avq_eta(float threshold, int d, float x_norm2)
{
    /* Written as !(a > b) so NaN threshold or norm falls into "off". */
    if (!(threshold > 0.0f) || d < 1) return 0.0f;
    double t2 = (double)threshold * threshold;
    if (!((double)x_norm2 > t2) || !isfinite(x_norm2)) return 0.0f;
    return (float)((double)(d - 1) * t2 / ((double)x_norm2 - t2));
}

size_t avq_scratch_floats(const pq *p)
{
    /* err2 and par tables, then the block sort's keys and order, twice (radix ping-pong). */
    return 2 * (size_t)p->m * p->ksub + 4 * (size_t)p->m;
}

/* ---- tables --------------------------------------------------------------------------------- */

/* ||x||^2 summed in double in index order: eta and the direction of every path come from it. */
static double norm2_of(const float *x, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)x[i] * x[i];
    return s;
}

/* The specification: centres as pq stores them, c[k * len + q]. v and x point at the block. */
static void tables_rows(const float *c, int ksub, int len, const float *v, const float *x,
                        float inv, float *err2, float *par)
{
    for (int k = 0; k < ksub; k++) {
        const float *ck = c + (size_t)k * len;
        float t = v[0] - ck[0], e = t * t, a = t * (x[0] * inv);
        for (int q = 1; q < len; q++) {
            t = v[q] - ck[q];
            e += t * t;
            a += t * (x[q] * inv);
        }
        err2[k] = e;
        par[k] = a;
    }
}

/* ---- coordinate descent --------------------------------------------------------------------- */

/* The scans below work on float bit patterns as int32: for non-negative floats they order like
 * the floats, and integer compares vectorize where float ones do not (GCC keeps a branch for a
 * float compare under the default -ftrapping-math). */
static inline int32_t fbits(float f)
{
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* First index of the smallest err2, kmeans_assign's tie rule: the minimum, then its first
 * occurrence. */
static int nearest(const float *err2, int ksub)
{
    int32_t lo = INT32_MAX;
    for (int k = 0; k < ksub; k++) {
        int32_t b = fbits(err2[k]);
        lo = b < lo ? b : lo;
    }
    for (int k = 0; k < ksub; k++)
        if (fbits(err2[k]) == lo) return k;
    return 0; /* only with NaN */
}

/* Blocks in decreasing order of their initial error, ties by smaller index: an LSD radix sort
 * of the float bits (non-negative floats order like their bit patterns, and ~bits reverses
 * that), stable, so equal errors keep ascending j. A comparison sort spent most of the encoding
 * time on mispredicted branches at m = 392. Passes whose byte is the same in every key (often
 * the exponent's) are skipped. buf holds 4 * m; returns the order (inside buf). */
static const uint32_t *sort_blocks(const float *err2, int m, int ksub, const uint8_t *codes,
                                   uint32_t *buf)
{
    uint32_t *key = buf, *order = buf + m, *key2 = buf + 2 * m, *order2 = buf + 3 * m;
    uint32_t count[4][256] = {{0}};
    for (int j = 0; j < m; j++) {
        uint32_t bits;
        memcpy(&bits, &err2[(size_t)j * ksub + codes[j]], sizeof bits);
        key[j] = ~bits;
        order[j] = (uint32_t)j;
        for (int d = 0; d < 4; d++) count[d][(key[j] >> (8 * d)) & 255]++;
    }
    for (int d = 0; d < 4; d++) {
        uint32_t *cnt = count[d], sum = 0;
        if (cnt[(key[0] >> (8 * d)) & 255] == (uint32_t)m) continue;
        for (int b = 0; b < 256; b++) {
            uint32_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (int j = 0; j < m; j++) {
            uint32_t pos = cnt[(key[j] >> (8 * d)) & 255]++;
            key2[pos] = key[j];
            order2[pos] = order[j];
        }
        uint32_t *t = key;
        key = key2, key2 = t;
        t = order, order = order2, order2 = t;
    }
    return order;
}

/*
 * Best move for one block given the current parallel error P: the centre with the most negative
 * loss change (first on ties), or c itself when none lowers the loss. With P' = P - a[c] + a[k],
 * d_par = P'^2 - P^2 is evaluated as (a[k] - a[c]) * (P' + P), which does not cancel, so float
 * is enough; it is exactly 0 for k = c, so c never counts as a move. A candidate's gain is the
 * magnitude bits of its change when the change is negative and d_par <= 0 (DESIGN 2.4: never
 * trade a larger e_par), else 0; the largest gain is the most negative change. All branch-free,
 * so the loop over centres vectorizes.
 */
static int best_move(const float *e, const float *a, int ksub, int c, double P, float eta,
                     int32_t *restrict gain)
{
    float ac = a[c], ec = e[c], sum = (float)(2.0 * P - ac); /* P' + P = sum + a[k] */
    int32_t hi = 0;
    for (int k = 0; k < ksub; k++) {
        float d_par = (a[k] - ac) * (sum + a[k]);
        float d_perp = (e[k] - ec) - d_par;
        int32_t ch = fbits(eta * d_par + d_perp), dp = fbits(d_par);
        int32_t ok = (ch < 0) & ((dp < 0) | (dp == 0)); /* change < 0, d_par <= 0 (or -0) */
        int32_t g = (ch & INT32_MAX) & -ok;
        gain[k] = g;
        hi = g > hi ? g : hi;
    }
    if (hi == 0) return c;
    for (int k = 0; k < ksub; k++)
        if (gain[k] == hi) return k;
    return c;
}

/* Rounds over the blocks in decreasing initial-error order until one changes nothing. P is
 * re-summed at the start of each round so incremental updates cannot drift. */
static int descend(const float *err2, const float *par, int m, int ksub, float eta, uint8_t *codes,
                   uint32_t *buf)
{
    const uint32_t *order = sort_blocks(err2, m, ksub, codes, buf);
    int32_t gain[256]; /* ksub <= 256 (one-byte codes) */
    int rounds = 0;
    for (int r = 0; r < AVQ_MAX_ROUNDS; r++) {
        double P = 0.0;
        for (int j = 0; j < m; j++) P += par[(size_t)j * ksub + codes[j]];
        int changed = 0;
        for (int i = 0; i < m; i++) {
            int j = (int)order[i], c = codes[j];
            const float *a = par + (size_t)j * ksub;
            int k = best_move(err2 + (size_t)j * ksub, a, ksub, c, P, eta, gain);
            if (k == c) continue;
            P = P - a[c] + a[k];
            codes[j] = (uint8_t)k;
            changed = 1;
        }
        if (!changed) break;
        rounds++;
    }
    return rounds;
}

/* One vector. ct: transposed codebooks for the fast tables, or NULL for the specification path
 * straight from p's layout. */
static int encode_vec(const pq *p, const float *ct, avq_tables_fn tables, const float *v,
                      const float *x, double norm2, float eta, uint8_t *codes, float *scratch)
{
    int m = p->m, ksub = p->ksub;
    float *err2 = scratch, *par = scratch + (size_t)m * ksub;
    uint32_t *buf = (uint32_t *)(par + (size_t)m * ksub);
    /* xh = x * inv; for x = 0 (or a non-finite norm) par is all 0 and the code stays plain. */
    float inv = norm2 > 0 && isfinite(norm2) ? (float)(1.0 / sqrt(norm2)) : 0.0f;
    for (int j = 0; j < m; j++) {
        int off = pq_off(p, j), len = pq_len(p, j);
        float *ej = err2 + (size_t)j * ksub, *aj = par + (size_t)j * ksub;
        if (ct)
            tables(ct + (size_t)ksub * off, ksub, len, v + off, x + off, inv, ej, aj);
        else
            tables_rows(pq_centre(p, j, 0), ksub, len, v + off, x + off, inv, ej, aj);
        codes[j] = (uint8_t)nearest(ej, ksub);
    }
    /* eta <= 0 is the documented switch to the plain code; x = 0 has no direction to weigh. */
    if (!(eta > 0.0f) || inv == 0.0f) return 0;
    if (eta > FLT_MAX) eta = FLT_MAX; /* inf * 0 would make NaN changes; avq_eta can overflow */
    return descend(err2, par, m, ksub, eta, codes, buf);
}

int avq_encode_one(const pq *p, const float *v, const float *x, float eta, uint8_t *codes,
                   float *scratch)
{
    return encode_vec(p, NULL, NULL, v, x, norm2_of(x, p->d), eta, codes, scratch);
}

double avq_loss(const pq *p, const float *v, const float *x, float eta, const uint8_t *codes)
{
    double xx = norm2_of(x, p->d), ee = 0, ep = 0;
    double inv = xx > 0 && isfinite(xx) ? 1.0 / sqrt(xx) : 0.0; /* x = 0: all error is "perp" */
    for (int j = 0; j < p->m; j++) {
        const float *c = pq_centre(p, j, codes[j]);
        int off = pq_off(p, j);
        for (int q = 0; q < pq_len(p, j); q++) {
            double e = (double)v[off + q] - c[q];
            ee += e * e;
            ep += e * x[off + q] * inv;
        }
    }
    return eta * ep * ep + (ee - ep * ep);
}

/* ---- batch ---------------------------------------------------------------------------------- */

typedef struct encode_job {
    const pq *p;
    const float *ct;      /* codebooks with every block transposed to len x ksub */
    avq_tables_fn tables; /* from the caller's kernel table */
    const float *v, *x;
    int64_t n;
    float threshold;
    float *scratch; /* per worker: avq_scratch_floats(p) */
    size_t scratch_per;
    uint8_t *codes;
} encode_job;

static void encode_task(void *ctx, int64_t task, int worker)
{
    const encode_job *j = ctx;
    const pq *p = j->p;
    int64_t lo = task * AVQ_CHUNK, hi = lo + AVQ_CHUNK < j->n ? lo + AVQ_CHUNK : j->n;
    float *scratch = j->scratch + (size_t)worker * j->scratch_per;
    for (int64_t i = lo; i < hi; i++) {
        const float *v = j->v + (size_t)i * p->d, *x = j->x + (size_t)i * p->d;
        double norm2 = norm2_of(x, p->d);
        float eta = avq_eta(j->threshold, p->d, (float)norm2);
        encode_vec(p, j->ct, j->tables, v, x, norm2, eta, j->codes + (size_t)i * p->m, scratch);
    }
}

scann_status avq_encode(const pq *p, const float *v, const float *x, int64_t n, float threshold,
                        int nthreads, const kernels *dk, uint8_t *codes)
{
    if (!p || !p->codebooks || !dk || (n > 0 && (!v || !x || !codes)))
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "avq_encode: codebooks, kernels, v, x and "
                                                   "codes are required");
    if (p->ksub < 1 || p->ksub > 256)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "avq_encode: ksub = %d must be in [1, 256] "
                       "(one-byte codes)",
                       p->ksub);
    if (n < 0 || nthreads < 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "avq_encode: n = %lld and nthreads = %d must "
                       "be >= 0 and >= 1",
                       (long long)n, nthreads);
    if (n == 0) return SCANN_OK;
    int64_t ntasks = (n + AVQ_CHUNK - 1) / AVQ_CHUNK;
    if (nthreads > ntasks) nthreads = (int)ntasks;
    size_t per = avq_scratch_floats(p);
    float *ct = pq_transpose(p);
    float *scratch = malloc((size_t)nthreads * per * sizeof(float));
    scann_status st = SCANN_OK;
    if (!ct || !scratch) {
        st = err_nomem("avq encoding scratch",
                       ((size_t)p->ksub * p->d + (size_t)nthreads * per) * sizeof(float));
    } else {
        encode_job j = {p, ct, dk->avq_tables, v, x, n, threshold, scratch, per, codes};
        par_for(NULL, nthreads, ntasks, encode_task, &j);
    }
    free(ct);
    free(scratch);
    return st;
}
