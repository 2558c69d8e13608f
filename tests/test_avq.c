/* test_avq.c - anisotropic encoding on real unit-norm data (Fashion-MNIST, and GloVe-100 when
 * data/glove-100 is present) with T = 0.2, encoding raw vectors and IVF residuals (x minus its
 * k-means partition centre): the AVQ code never raises the anisotropic loss over the plain code
 * and lowers its mean, it trades a larger total squared error for a smaller parallel error, the
 * eta = 0 code is pq_encode's, the batch path matches the one-vector specification and does not
 * depend on the thread count, and the inner products of queries with their true top-10
 * neighbours are estimated better. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "avq.h"
#include "kmeans.h"
#include "testdata.h"

#define T 0.2f /* ScaNN's anisotropic_quantization_threshold for unit-norm data */
#define KSUB 16
#define TOPK 10
#define CHECK_ONE 1000 /* rows also encoded one by one (the specification path) */

/* ---- avq_eta ---------------------------------------------------------------------------- */

static void test_eta_formula_and_guards(void **state)
{
    (void)state;
    /* The paper's GloVe setting: 99 * 0.04 / 0.96. */
    assert_true(fabs((double)avq_eta(0.2f, 100, 1.0f) - (4.125f)) < 1e-5f);
    /* d = 768 gives "about 32" (DESIGN 2.4). */
    assert_true(fabs(avq_eta(0.2f, 768, 1.0f) - 767 * 0.04 / 0.96) < 1e-3);
    /* ||x|| = 2: (d - 1) T^2 / (4 - T^2). */
    assert_true(fabs(avq_eta(0.2f, 100, 4.0f) - 99 * 0.04 / 3.96) < 1e-5);
    assert_true(avq_eta(0.0f, 100, 1.0f) == 0.0f);
    assert_true(avq_eta(-0.2f, 100, 1.0f) == 0.0f);
    assert_true(avq_eta(NAN, 100, 1.0f) == 0.0f);
    assert_true(avq_eta(0.2f, 100, 0.0f) == 0.0f);  /* x = 0 */
    assert_true(avq_eta(0.2f, 100, 0.01f) == 0.0f); /* ||x|| = 0.1 < T */
    assert_true(avq_eta(0.2f, 100, 0.04f) == 0.0f); /* ||x|| = T (0.04f is just below 0.2f^2) */
    assert_true(avq_eta(0.2f, 100, NAN) == 0.0f);
    assert_true(avq_eta(0.2f, 100, INFINITY) == 0.0f);
    assert_true(avq_eta(0.2f, 1, 1.0f) == 0.0f); /* one dimension: nothing is orthogonal */
}

/* ---- real data -------------------------------------------------------------------------- */

typedef struct dataset {
    const char *name;
    float *x; /* n x d unit vectors: rows [0, ntrain) train, the rest are encoded */
    int64_t n, ntrain;
    int d;
    float *q; /* nq x d unit queries */
    int64_t nq;
    int64_t *ids; /* nq x TOPK: each query's true top rows by inner product among encoded rows */
} dataset;

static dataset fashion, glove;
static pq small; /* Fashion-MNIST codebooks for the determinism, guard and error tests */

static void normalise(float *x, int64_t n, int d)
{
    for (int64_t i = 0; i < n; i++) {
        float *r = x + (size_t)i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)r[j] * r[j];
        if (s > 0)
            for (int j = 0; j < d; j++) r[j] = (float)(r[j] / sqrt(s));
    }
}

static int setup_fashion(void)
{
    fashion = (dataset){
        .name = "fashion-mnist", .n = 15000, .ntrain = 5000, .d = TD_FASHION_DIM, .nq = 50};
    fashion.x = td_fashion(0, fashion.n);
    fashion.q = td_fashion(1, fashion.nq);
    if (!fashion.x || !fashion.q) return -1;
    normalise(fashion.x, fashion.n, fashion.d);
    normalise(fashion.q, fashion.nq, fashion.d);
    return 0;
}

/* GloVe is optional (scripts/get-data.sh): its first rows train and are encoded, the first
 * queries measure scores. */
static void setup_glove(void)
{
    const char *dir = getenv("SCANN_TEST_DATA");
    char path[1024];
    float *base = NULL, *q = NULL;
    int64_t n = 0, nq = 0;
    int d = 0, dq = 0;
    snprintf(path, sizeof path, "%s/glove-100/base.fvecs", dir ? dir : "data");
    if (scann_vecs_read(path, &base, &n, &d) != SCANN_OK) return;
    snprintf(path, sizeof path, "%s/glove-100/query.fvecs", dir ? dir : "data");
    if (scann_vecs_read(path, &q, &nq, &dq) != SCANN_OK || dq != d || n < 20000 || nq < 200) {
        scann_buffer_free(base), scann_buffer_free(q);
        return;
    }
    glove = (dataset){.name = "glove-100", .n = 20000, .ntrain = 10000, .d = d, .nq = 200};
    glove.x = malloc(sizeof(float) * glove.n * d);
    glove.q = malloc(sizeof(float) * glove.nq * d);
    memcpy(glove.x, base, sizeof(float) * glove.n * d);
    memcpy(glove.q, q, sizeof(float) * glove.nq * d);
    scann_buffer_free(base), scann_buffer_free(q);
    normalise(glove.x, glove.n, d);
    normalise(glove.q, glove.nq, d);
}

static int group_setup(void **state)
{
    (void)state;
    if (setup_fashion()) return -1;
    setup_glove();
    if (pq_init(&small, TD_FASHION_DIM, TD_FASHION_DIM / 2, KSUB) ||
        pq_train(&small, fashion.x, 2000, 5, 3, 2, kernels_best(), NULL))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(fashion.x), free(fashion.q), free(fashion.ids);
    free(glove.x), free(glove.q), free(glove.ids);
    pq_free(&small);
    return 0;
}

/* What one encoding case measured, as means over the encoded rows. */
typedef struct outcome {
    double loss_plain, loss_avq; /* eta * e_par^2 + ||e_perp||^2 */
    double par_plain, par_avq;   /* |e_par| */
    double err_plain, err_avq;   /* ||e||^2 */
    double mae_plain, mae_avq;   /* |<q, x~> - <q, x>| over the true top-10 by inner product */
    double rounds;               /* coordinate-descent rounds that changed something */
    int changed_rows;            /* rows whose AVQ code differs from the plain code */
} outcome;

/* e = v - decode(code): |<e, x / ||x||>| and ||e||^2. */
static void error_parts(const pq *p, const float *v, const float *x, const uint8_t *code,
                        float *tmp, double *par, double *err)
{
    pq_decode(p, code, tmp);
    double xx = 0, ep = 0, ee = 0;
    for (int j = 0; j < p->d; j++) xx += (double)x[j] * x[j];
    for (int j = 0; j < p->d; j++) {
        double e = (double)v[j] - tmp[j];
        ee += e * e;
        ep += e * x[j];
    }
    *par = fabs(ep / sqrt(xx));
    *err = ee;
}

/* Mean |<q, x~> - <q, x>| over every query's true top-10 rows (by <q, x>), where
 * x~ = decode + the row's partition centre (residual case) or decode alone. */
static double score_mae(const dataset *s, const pq *p, const float *x, int64_t n,
                        const uint8_t *codes, const float *centres, const int32_t *part)
{
    const int64_t *ids = s->ids;
    float *xt = malloc(sizeof(float) * s->d);
    double sum = 0;
    for (int64_t qi = 0; qi < s->nq; qi++) {
        const float *q = s->q + (size_t)qi * s->d;
        for (int r = 0; r < TOPK; r++) {
            int64_t i = ids[qi * TOPK + r];
            assert_true(i >= 0 && i < n);
            pq_decode(p, codes + (size_t)i * p->m, xt);
            if (centres)
                for (int j = 0; j < s->d; j++) xt[j] += centres[(size_t)part[i] * s->d + j];
            sum += fabs(td_score(q, xt, s->d, 1) - td_score(q, x + (size_t)i * s->d, s->d, 1));
        }
    }
    free(xt);
    return sum / (double)(s->nq * TOPK);
}

#define NLIST 64 /* coarse partitions for the residual case */

/* IVF-style residuals: NLIST k-means centres on the training rows, every row's nearest centre
 * (part) and v = x - centre. */
static float *residuals(const dataset *s, float *centres, int32_t *part)
{
    kmeans_opts o = {.iters = 8, .seed = 5, .nthreads = 2, .dk = kernels_best()};
    assert_int_equal(kmeans_train(s->x, s->ntrain, s->d, NLIST, &o, centres, NULL), SCANN_OK);
    assert_int_equal(
        kmeans_assign(s->x, s->n, s->d, s->d, centres, NLIST, 2, kernels_best(), part, NULL),
        SCANN_OK);
    float *v = malloc(sizeof(float) * s->n * s->d);
    for (int64_t i = 0; i < s->n; i++)
        for (int j = 0; j < s->d; j++)
            v[(size_t)i * s->d + j] =
                s->x[(size_t)i * s->d + j] - centres[(size_t)part[i] * s->d + j];
    return v;
}

/* Train 4-bit codebooks with 2 dims per block on v's training rows, encode the other rows
 * plainly and anisotropically, check the invariants row by row and return the means. With
 * residual, v = x - its partition centre; otherwise v = x. */
static outcome run_case(dataset *s, int residual)
{
    int d = s->d;
    int64_t ne = s->n - s->ntrain;
    float *centres = residual ? malloc(sizeof(float) * NLIST * d) : NULL;
    int32_t *part = residual ? malloc(sizeof(int32_t) * s->n) : NULL;
    float *v = residual ? residuals(s, centres, part) : s->x;
    pq p;
    assert_int_equal(pq_init(&p, d, (d + 1) / 2, KSUB), SCANN_OK);
    assert_int_equal(pq_train(&p, v, s->ntrain, 10, 11, 2, kernels_best(), NULL), SCANN_OK);

    const float *ve = v + (size_t)s->ntrain * d, *xe = s->x + (size_t)s->ntrain * d;
    uint8_t *plain = malloc((size_t)ne * p.m), *avq = malloc((size_t)ne * p.m);
    uint8_t *one = malloc((size_t)p.m);
    assert_int_equal(pq_encode(&p, ve, ne, 2, kernels_best(), plain), SCANN_OK);
    assert_int_equal(avq_encode(&p, ve, xe, ne, T, 2, kernels_best(), avq), SCANN_OK);

    /* The specification path: eta = 0 is pq_encode's code, and the AVQ code is the batch one. */
    float *scratch = malloc(sizeof(float) * avq_scratch_floats(&p));
    outcome o = {0};
    for (int64_t i = 0; i < CHECK_ONE; i++) {
        const float *vi = ve + (size_t)i * d, *xi = xe + (size_t)i * d;
        avq_encode_one(&p, vi, xi, 0.0f, one, scratch);
        assert_memory_equal(one, plain + (size_t)i * p.m, (size_t)p.m);
        double nx = 0;
        for (int j = 0; j < d; j++) nx += (double)xi[j] * xi[j];
        o.rounds += avq_encode_one(&p, vi, xi, avq_eta(T, d, (float)nx), one, scratch);
        assert_memory_equal(one, avq + (size_t)i * p.m, (size_t)p.m);
    }
    o.rounds /= CHECK_ONE;

    float *tmp = malloc(sizeof(float) * d);
    for (int64_t i = 0; i < ne; i++) {
        const float *vi = ve + (size_t)i * d, *xi = xe + (size_t)i * d;
        const uint8_t *cp = plain + (size_t)i * p.m, *ca = avq + (size_t)i * p.m;
        double nx = 0;
        for (int j = 0; j < d; j++) nx += (double)xi[j] * xi[j];
        float eta = avq_eta(T, d, (float)nx);
        assert_true(eta > 1.0f); /* unit vectors: the parallel error weighs more */
        double lp = avq_loss(&p, vi, xi, eta, cp), la = avq_loss(&p, vi, xi, eta, ca);
        if (la > lp * (1 + 1e-6) + 1e-12)
            fail_msg("%s row %lld: AVQ loss %.9g above the plain code's %.9g", s->name,
                     (long long)i, la, lp);
        /* eta = 1 is the plain squared error, which the nearest code minimises. */
        assert_true(avq_loss(&p, vi, xi, 1.0f, cp) <= avq_loss(&p, vi, xi, 1.0f, ca) * (1 + 1e-6));
        o.loss_plain += lp, o.loss_avq += la;
        o.changed_rows += memcmp(cp, ca, (size_t)p.m) != 0;
        double par, err;
        error_parts(&p, vi, xi, cp, tmp, &par, &err);
        o.par_plain += par, o.err_plain += err;
        error_parts(&p, vi, xi, ca, tmp, &par, &err);
        o.par_avq += par, o.err_avq += err;
    }
    o.loss_plain /= ne, o.loss_avq /= ne, o.par_plain /= ne, o.par_avq /= ne;
    o.err_plain /= ne, o.err_avq /= ne;

    if (!s->ids) { /* the same for every case of a dataset: computed once */
        double *scores = malloc(sizeof(double) * s->nq * TOPK);
        s->ids = malloc(sizeof(int64_t) * s->nq * TOPK);
        td_exact_knn(xe, ne, s->q, s->nq, d, 1, TOPK, s->ids, scores);
        free(scores);
    }
    const int32_t *pe = part ? part + s->ntrain : NULL;
    o.mae_plain = score_mae(s, &p, xe, ne, plain, centres, pe);
    o.mae_avq = score_mae(s, &p, xe, ne, avq, centres, pe);

    printf("# %s %s (%lld rows, m=%d): loss %.5g -> %.5g (%.1f%% lower), |e_par| %.4g -> %.4g, "
           "||e||^2 %.4g -> %.4g, top-%d score MAE %.5g -> %.5g (%.1f%% lower), "
           "%d rows changed, %.2f rounds\n",
           s->name, residual ? "residual" : "raw", (long long)ne, p.m, o.loss_plain, o.loss_avq,
           100 * (1 - o.loss_avq / o.loss_plain), o.par_plain, o.par_avq, o.err_plain, o.err_avq,
           TOPK, o.mae_plain, o.mae_avq, 100 * (1 - o.mae_avq / o.mae_plain), o.changed_rows,
           o.rounds);
    free(tmp), free(scratch), free(one), free(plain), free(avq), free(centres), free(part);
    if (residual) free(v);
    pq_free(&p);
    return o;
}

/* What every case must show: the method's point and its price. */
static void check_outcome(const outcome *o)
{
    assert_true(o->changed_rows > 0);
    assert_true(o->loss_avq < o->loss_plain);
    assert_true(o->par_avq < o->par_plain);
    assert_true(o->err_avq > o->err_plain);
}

static void test_fashion_raw(void **state)
{
    (void)state;
    outcome o = run_case(&fashion, 0);
    check_outcome(&o);
    assert_true(o.mae_avq < o.mae_plain);
}

static void test_fashion_residual(void **state)
{
    (void)state;
    outcome o = run_case(&fashion, 1);
    check_outcome(&o);
    assert_true(o.mae_avq < o.mae_plain);
}

static void test_glove_raw(void **state)
{
    (void)state;
    if (!glove.x) skip();
    outcome o = run_case(&glove, 0);
    check_outcome(&o);
    assert_true(o.mae_avq < o.mae_plain);
}

static void test_glove_residual(void **state)
{
    (void)state;
    if (!glove.x) skip();
    outcome o = run_case(&glove, 1);
    check_outcome(&o);
    assert_true(o.mae_avq < o.mae_plain);
}

/* ---- the algorithm, transcribed ------------------------------------------------------- */

/* DESIGN.md 2.4 step by step in double precision, as plainly as possible: tables, the plain
 * code (pq_encode's, passed in codes), blocks by decreasing initial error (ties: smaller j),
 * rounds of best negative change with d_par = P'^2 - P^2 (ties: smaller k) until a round
 * changes nothing. */
static int ref_encode(const pq *p, const float *v, const float *x, double eta, uint8_t *codes)
{
    int m = p->m, K = p->ksub, rounds = 0;
    double *e = malloc(sizeof(double) * m * K), *a = malloc(sizeof(double) * m * K), xx = 0;
    int *order = malloc(sizeof(int) * m);
    for (int i = 0; i < p->d; i++) xx += (double)x[i] * x[i];
    double norm = sqrt(xx);
    for (int j = 0; j < m; j++)
        for (int k = 0; k < K; k++) {
            const float *c = pq_centre(p, j, k);
            double se = 0, sa = 0;
            for (int q = 0; q < pq_len(p, j); q++) {
                double t = (double)v[pq_off(p, j) + q] - c[q];
                se += t * t;
                sa += t * x[pq_off(p, j) + q] / norm;
            }
            e[j * K + k] = se, a[j * K + k] = sa;
        }
    for (int i = 0; i < m; i++) { /* insertion sort: stable, so ties keep smaller j first */
        int j = i;
        while (j > 0 && e[order[j - 1] * K + codes[order[j - 1]]] < e[i * K + codes[i]]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int r = 0; r < 10; r++) {
        double P = 0;
        for (int j = 0; j < m; j++) P += a[j * K + codes[j]];
        int changed = 0;
        for (int i = 0; i < m; i++) {
            int j = order[i], c = codes[j], best_k = c;
            double best = 0;
            for (int k = 0; k < K; k++) {
                if (k == c) continue;
                double Pn = P - a[j * K + c] + a[j * K + k], d_par = Pn * Pn - P * P;
                if (d_par > 0) continue;
                double d_perp = (e[j * K + k] - e[j * K + c]) - d_par;
                double change = eta * d_par + d_perp;
                if (change < best) best = change, best_k = k;
            }
            if (best_k != c) {
                P += a[j * K + best_k] - a[j * K + c];
                codes[j] = (uint8_t)best_k;
                changed = 1;
            }
        }
        if (!changed) break;
        rounds++;
    }
    free(e), free(a), free(order);
    return rounds;
}

/* avq_encode_one against the transcription on Fashion-MNIST rows: the same codes, except where
 * float rounding breaks a near-tie the other way, which must then cost nothing measurable. */
static void test_matches_transcription(void **state)
{
    (void)state;
    const pq *p = &small;
    enum { N = 500 };
    const float *rows = fashion.x + (size_t)4000 * TD_FASHION_DIM;
    uint8_t *c = malloc((size_t)p->m), *r = malloc((size_t)N * p->m);
    float *scratch = malloc(sizeof(float) * avq_scratch_floats(p));
    assert_int_equal(pq_encode(p, rows, N, 2, kernels_best(), r), SCANN_OK);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        const float *x = rows + (size_t)i * TD_FASHION_DIM;
        float eta = avq_eta(T, TD_FASHION_DIM, 1.0f);
        int rounds = avq_encode_one(p, x, x, eta, c, scratch);
        uint8_t *ri = r + (size_t)i * p->m; /* the plain code, refined in place */
        int ref_rounds = ref_encode(p, x, x, eta, ri);
        if (memcmp(c, ri, (size_t)p->m) == 0) {
            assert_int_equal(rounds, ref_rounds);
            continue;
        }
        differ++;
        double lc = avq_loss(p, x, x, eta, c), lr = avq_loss(p, x, x, eta, ri);
        if (fabs(lc - lr) > 1e-6 * lr) fail_msg("row %d: loss %.9g, transcription %.9g", i, lc, lr);
    }
    printf("# %d of %d rows differ from the double-precision transcription\n", differ, N);
    assert_true(differ <= N / 100);
    free(c), free(r), free(scratch);
}

/* ---- determinism, guards, errors -------------------------------------------------------- */

static void test_threads_deterministic(void **state)
{
    (void)state;
    const pq *p = &small;
    /* 1000 rows: four chunks of 256, the last one short. */
    const int64_t n = 1000;
    const float *x = fashion.x + (size_t)2000 * TD_FASHION_DIM;
    uint8_t *c1 = malloc((size_t)n * p->m), *c3 = malloc((size_t)n * p->m);
    assert_int_equal(avq_encode(p, x, x, n, T, 1, kernels_best(), c1), SCANN_OK);
    assert_int_equal(avq_encode(p, x, x, n, T, 3, kernels_best(), c3), SCANN_OK);
    assert_memory_equal(c1, c3, (size_t)n * p->m);
    /* More threads than chunks. */
    assert_int_equal(avq_encode(p, x, x, 10, T, 8, kernels_best(), c3), SCANN_OK);
    assert_memory_equal(c1, c3, (size_t)10 * p->m);
    free(c1), free(c3);
}

/* Every level's table kernel is a twin of the scalar one: identical codes. */
static void test_simd_matches_scalar(void **state)
{
    (void)state;
    const pq *p = &small;
    const int64_t n = 700;
    const float *x = fashion.x + (size_t)1000 * TD_FASHION_DIM;
    uint8_t *cs = malloc((size_t)n * p->m), *cv = malloc((size_t)n * p->m);
    assert_int_equal(avq_encode(p, x, x, n, T, 2, kernels_for(ISA_SCALAR), cs), SCANN_OK);
    for (int isa = ISA_SCALAR; isa <= (int)cpu_detect(); isa++) {
        assert_int_equal(avq_encode(p, x, x, n, T, 2, kernels_for((cpu_isa)isa), cv), SCANN_OK);
        assert_memory_equal(cs, cv, (size_t)n * p->m);
    }
    free(cs), free(cv);
}

/* pq_tables16, SCANN's query tables: on every level the same bits as the scalar twin, and the
 * values of pq_lut_l2 / pq_lut_ip (== compares, so the sign of a zero may differ: those sum
 * from +0), for block widths 1 to 5 with and without a short last block. */
static void test_pq_tables16(void **state)
{
    (void)state;
    static const int shapes[][2] = {{784, 392}, {784, 196}, {784, 157}, {100, 50},
                                    {100, 34},  {7, 3},     {1, 1},     {128, 128}};
    const kernels *ks = kernels_for(ISA_SCALAR);
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int d = shapes[i][0], m = shapes[i][1];
        pq p;
        assert_int_equal(pq_init(&p, d, m, 16), SCANN_OK);
        for (size_t c = 0; c < (size_t)16 * d; c++) {
            r = r * 1664525u + 1013904223u;
            p.codebooks[c] = (float)((int32_t)(r >> 8) % 2001 - 1000) / 64.0f; /* zeros too */
        }
        float *ct = pq_transpose(&p), *ref = malloc(sizeof(float) * 16 * m),
              *spec = malloc(sizeof(float) * 16 * m), *got = malloc(sizeof(float) * 16 * m);
        assert_non_null(ct);
        for (int rep = 0; rep < 3; rep++) {
            const float *q = fashion.x + (size_t)(rep * 977) * TD_FASHION_DIM; /* d <= 784 */
            for (int l2 = 0; l2 < 2; l2++) {
                (l2 ? pq_lut_l2 : pq_lut_ip)(&p, q, ref);
                ks->pq_tables16(ct, d, p.dsub, q, l2, spec);
                for (int e = 0; e < 16 * m; e++)
                    if (!(spec[e] == ref[e]))
                        fail_msg("d=%d m=%d l2=%d entry %d: %g, pq_lut %g", d, m, l2, e,
                                 (double)spec[e], (double)ref[e]);
                for (int isa = ISA_SCALAR; isa <= (int)cpu_detect(); isa++) {
                    kernels_for((cpu_isa)isa)->pq_tables16(ct, d, p.dsub, q, l2, got);
                    assert_memory_equal(spec, got, sizeof(float) * 16 * m);
                }
            }
        }
        free(ct), free(ref), free(spec), free(got);
        pq_free(&p);
    }
}

/* Rows the guards switch off (x = 0, ||x|| <= T, threshold 0) get exactly the plain code, and
 * a code's loss with the guard's eta of 0 is just its perpendicular error. */
static void test_guards_give_plain_codes(void **state)
{
    (void)state;
    const pq *p = &small;
    enum { N = 4, D = TD_FASHION_DIM };
    float *v = malloc(sizeof(float) * N * D), *x = malloc(sizeof(float) * N * D);
    memcpy(v, fashion.x + (size_t)3000 * D, sizeof(float) * N * D);
    memcpy(x, v, sizeof(float) * N * D);
    memset(x, 0, sizeof(float) * D);                  /* row 0: x = 0 */
    for (int j = 0; j < D; j++) x[D + j] *= 0.19f;    /* row 1: ||x|| just below T */
    for (int j = 0; j < D; j++) x[2 * D + j] *= 0.1f; /* row 2: ||x|| < T */
    uint8_t *plain = malloc((size_t)N * p->m), *c = malloc((size_t)N * p->m);
    assert_int_equal(pq_encode(p, v, N, 1, kernels_best(), plain), SCANN_OK);
    assert_int_equal(avq_encode(p, v, x, N, T, 1, kernels_best(), c), SCANN_OK);
    assert_memory_equal(c, plain, (size_t)3 * p->m);
    assert_memory_not_equal(c + 3 * p->m, plain + 3 * p->m, (size_t)p->m); /* row 3 is normal */
    assert_int_equal(avq_encode(p, v, x, N, 0.0f, 1, kernels_best(), c), SCANN_OK);
    assert_memory_equal(c, plain, (size_t)N * p->m);
    assert_int_equal(avq_encode(p, v, x, N, NAN, 1, kernels_best(), c), SCANN_OK);
    assert_memory_equal(c, plain, (size_t)N * p->m);
    /* avq_encode_one with x = 0 and a positive eta: no direction, so no anisotropic weight. */
    float *scratch = malloc(sizeof(float) * avq_scratch_floats(p));
    assert_int_equal(avq_encode_one(p, v, x, 4.0f, c, scratch), 0);
    assert_memory_equal(c, plain, (size_t)p->m);
    assert_true(avq_loss(p, v, x, 4.0f, c) == avq_loss(p, v, x, 1.0f, c));
    free(scratch), free(v), free(x), free(plain), free(c);
}

static void test_errors(void **state)
{
    (void)state;
    const pq *p = &small;
    uint8_t c[TD_FASHION_DIM];
    const float *x = fashion.x;
    assert_int_equal(avq_encode(p, x, x, -1, T, 1, kernels_best(), c), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(avq_encode(p, x, x, 1, T, 0, kernels_best(), c), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(avq_encode(p, NULL, x, 1, T, 1, kernels_best(), c),
                     SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(avq_encode(p, x, x, 0, T, 1, kernels_best(), NULL),
                     SCANN_OK); /* nothing to do */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eta_formula_and_guards),
        cmocka_unit_test(test_fashion_raw),
        cmocka_unit_test(test_fashion_residual),
        cmocka_unit_test(test_glove_raw),
        cmocka_unit_test(test_glove_residual),
        cmocka_unit_test(test_matches_transcription),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_simd_matches_scalar),
        cmocka_unit_test(test_pq_tables16),
        cmocka_unit_test(test_guards_give_plain_codes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
