/* test_kmeans.c - k-means on real Fashion-MNIST: the objective falls, centres are bit-identical
 * for every thread count, duplicates and empty clusters never yield NaN, spherical centres are
 * unit vectors, and assignment (sgemm and direct paths, sub-space views, several centre
 * blocks) picks the nearest centre of a double-precision loop. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kmeans.h"
#include "testdata.h"

#define NB 5000
#define D TD_FASHION_DIM

static int setup(void **state)
{
    float *x = td_fashion(0, NB);
    if (!x) return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static kmeans_opts opts(int iters, uint64_t seed, int nthreads)
{
    kmeans_opts o = {.iters = iters, .seed = seed, .nthreads = nthreads, .dk = kernels_best()};
    return o;
}

/* Columns [off, off + d) of n rows of width D, packed. */
static float *columns(const float *x, int64_t n, int off, int d)
{
    float *out = malloc(sizeof(float) * n * d);
    for (int64_t i = 0; i < n; i++) memcpy(out + i * d, x + i * D + off, sizeof(float) * d);
    return out;
}

static double l2d(const float *a, const float *b, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

static void test_kmeans_objective_decreases(void **state)
{
    const float *x = *state;
    enum { K = 64 };
    float *c = malloc(sizeof(float) * K * D);
    kmeans_opts o = opts(8, 42, 2);
    kmeans_stats st;
    assert_int_equal(kmeans_train(x, NB, D, K, &o, c, &st), SCANN_OK);
    assert_true(st.objective_first > 0);
    assert_true(st.objective_last < st.objective_first);
    /* Lloyd from k-means++ seeds should improve a good deal more than rounding noise. */
    assert_true(st.objective_last < 0.95 * st.objective_first);

    /* The reported objective is the true one of the final assignment's centres. */
    int32_t *a = malloc(sizeof(int32_t) * NB);
    float *d2 = malloc(sizeof(float) * NB);
    assert_int_equal(kmeans_assign(x, NB, D, D, c, K, 2, kernels_best(), a, d2), SCANN_OK);
    double obj = 0;
    for (int i = 0; i < NB; i++) obj += d2[i];
    assert_true(obj <= st.objective_last * 1.0001); /* one more update cannot make it worse */
    free(c), free(a), free(d2);
}

static void train_check_threads(const float *x, int64_t n, int d, int k, int64_t max_sample)
{
    float *c1 = malloc(sizeof(float) * k * d), *c2 = malloc(sizeof(float) * k * d);
    kmeans_stats s1, s2;
    kmeans_opts o = opts(4, 7, 1);
    o.max_sample = max_sample;
    assert_int_equal(kmeans_train(x, n, d, k, &o, c1, &s1), SCANN_OK);
    for (int t = 2; t <= 3; t++) {
        o.nthreads = t;
        assert_int_equal(kmeans_train(x, n, d, k, &o, c2, &s2), SCANN_OK);
        assert_memory_equal(c1, c2, sizeof(float) * k * d);
        assert_true(s1.objective_first == s2.objective_first);
        assert_true(s1.objective_last == s2.objective_last);
        assert_int_equal(s1.splits, s2.splits);
    }
    /* The scalar kernels are the specification: the SIMD argmin and distance paths must give
     * the very same centres. */
    o.dk = kernels_for(ISA_SCALAR);
    assert_int_equal(kmeans_train(x, n, d, k, &o, c2, NULL), SCANN_OK);
    assert_memory_equal(c1, c2, sizeof(float) * k * d);
    o.seed = 8;
    assert_int_equal(kmeans_train(x, n, d, k, &o, c2, NULL), SCANN_OK);
    assert_true(memcmp(c1, c2, sizeof(float) * k * d) != 0);
    free(c1), free(c2);
}

static void test_kmeans_deterministic_across_threads(void **state)
{
    const float *x = *state;
    /* sgemm path, trained on a sample; then the direct path on a 4-column sub-space. */
    train_check_threads(x, NB, D, 48, 3000);
    float *sub = columns(x, NB, 400, 4);
    train_check_threads(sub, NB, 4, 16, 0);
    free(sub);
}

/* 300 points that are only 10 distinct vectors, k = 20: clusters must go empty and be split. */
static void check_duplicates(int d)
{
    enum { N = 300, DISTINCT = 10, K = 20 };
    float *base = td_random(DISTINCT, d, 3), *x = malloc(sizeof(float) * N * d);
    for (int i = 0; i < N; i++) memcpy(x + i * d, base + (i % DISTINCT) * d, sizeof(float) * d);
    float *c = malloc(sizeof(float) * K * d);
    kmeans_opts o = opts(5, 1, 2);
    kmeans_stats st;
    assert_int_equal(kmeans_train(x, N, d, K, &o, c, &st), SCANN_OK);
    for (int i = 0; i < K * d; i++) assert_true(isfinite(c[i]));
    assert_true(st.splits > 0);
    /* Every point sits on a centre, up to the split nudge (each coordinate off by at most
     * 1/1024 of |c_j| <= 1) and sgemm rounding. */
    double nudge = d * (2.0 / 1024) * (2.0 / 1024);
    assert_true(st.objective_last < N * nudge);
    int32_t a[N];
    float d2[N];
    assert_int_equal(kmeans_assign(x, N, d, d, c, K, 1, kernels_best(), a, d2), SCANN_OK);
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0 && a[i] < K);
        assert_true(isfinite(d2[i]) && d2[i] < nudge);
    }
    free(base), free(x), free(c);
}

static void test_kmeans_duplicates_and_empty_clusters(void **state)
{
    check_duplicates(16); /* sgemm path */
    check_duplicates(3);  /* direct path */
}

static void test_kmeans_spherical_unit_norm(void **state)
{
    const float *x = *state;
    enum { K = 16 };
    float *c = malloc(sizeof(float) * K * D);
    kmeans_opts o = opts(4, 5, 2);
    o.spherical = 1;
    o.max_sample = 2000;
    assert_int_equal(kmeans_train(x, NB, D, K, &o, c, NULL), SCANN_OK);
    for (int i = 0; i < K; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)c[i * D + j] * c[i * D + j];
        assert_true(fabs(sqrt(s) - 1.0) < 1e-5);
    }
    free(c);
}

/* Rows of x (stride ldx, d used) against k packed centres: the chosen centre is the double
 * loop's nearest (the first one on ties), dist2 its distance, and thread counts and the scalar
 * kernels agree bit for bit. Fashion-MNIST pixels are integers below 256, so with d <= 64 every
 * product, sum and score is an integer below 2^24, exact in float in any order: then the
 * answer must be exactly the double loop's, ties included. Otherwise the sgemm expansion errs
 * by ~eps * (||x||^2 + ||c||^2) and a near-tie may flip. */
static void check_assign(const float *x, int64_t n, int d, int ldx, const float *c, int k,
                         int exact)
{
    int32_t *a = malloc(sizeof(int32_t) * n), *a3 = malloc(sizeof(int32_t) * n);
    float *d2 = malloc(sizeof(float) * n), *d23 = malloc(sizeof(float) * n);
    assert_int_equal(kmeans_assign(x, n, d, ldx, c, k, 1, kernels_best(), a, d2), SCANN_OK);
    assert_int_equal(kmeans_assign(x, n, d, ldx, c, k, 3, kernels_best(), a3, d23), SCANN_OK);
    assert_memory_equal(a, a3, sizeof(int32_t) * n);
    assert_memory_equal(d2, d23, sizeof(float) * n);
    assert_int_equal(kmeans_assign(x, n, d, ldx, c, k, 2, kernels_for(ISA_SCALAR), a3, d23),
                     SCANN_OK);
    assert_memory_equal(a, a3, sizeof(int32_t) * n);
    assert_memory_equal(d2, d23, sizeof(float) * n);
    int same = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * ldx;
        double best = INFINITY, xn = 0, cmax = 0;
        int bi = -1;
        for (int j = 0; j < d; j++) xn += (double)xi[j] * xi[j];
        for (int cc = 0; cc < k; cc++) {
            double s = l2d(xi, c + (size_t)cc * d, d), cn = 0;
            for (int j = 0; j < d; j++) cn += (double)c[cc * d + j] * c[cc * d + j];
            cmax = cn > cmax ? cn : cmax;
            if (s < best) best = s, bi = cc;
        }
        assert_true(a[i] >= 0 && a[i] < k);
        double got = l2d(xi, c + (size_t)a[i] * d, d);
        if (exact) {
            assert_int_equal(a[i], bi);
            assert_true(d2[i] == got);
        }
        double tol = 1e-5 * (xn + cmax) + 1e-6;
        assert_true(got - best <= tol);
        assert_true(fabs(d2[i] - got) <= tol);
        same += a[i] == bi;
    }
    assert_true(same >= n * 9 / 10);
    free(a), free(a3), free(d2), free(d23);
}

static void test_kmeans_assign_matches_double(void **state)
{
    const float *x = *state;
    /* Full rows, k = 37 centres taken from other images (not a multiple of any block). */
    check_assign(x, 500, D, D, x + 4000 * D, 37, 0);
    /* A 64-column sub-space read in place (ldx = 784) against 1100 centres, two sgemm blocks
     * of centres; the last 76 repeat the first 76, so exact ties cross the block boundary. */
    float *c64 = columns(x + 3000 * D, 1100, 300, 64);
    memcpy(c64 + 1024 * 64, c64, sizeof(float) * 76 * 64);
    check_assign(x + 300, 300, 64, D, c64, 1100, 1);
    free(c64);
    /* The direct path: 4-column sub-space, 256 and 13 centres (many exact ties: blank pixels),
     * then 45 whose last 13 repeat the first 13, so ties also fall in the vector tail. */
    float *c4 = columns(x + 2000 * D, 256, 380, 4);
    check_assign(x + 380, 1000, 4, D, c4, 256, 1);
    check_assign(x + 380, 1000, 4, D, c4, 13, 1);
    memcpy(c4 + 32 * 4, c4, sizeof(float) * 13 * 4);
    check_assign(x + 380, 1000, 4, D, c4, 45, 1);
    free(c4);
    /* Random data, k = 1 and k = 100. */
    float *r = td_random(700, 20, 9);
    check_assign(r, 600, 20, 20, r + 600 * 20, 1, 0);
    check_assign(r, 600, 20, 20, r + 600 * 20, 100, 0);
    free(r);
}

static void test_kmeans_bad_args(void **state)
{
    const float *x = *state;
    float c[4 * D];
    int32_t a[10];
    kmeans_opts o = opts(3, 1, 1);
    assert_int_equal(kmeans_train(x, 10, D, 0, &o, c, NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(scann_last_error(), "k = 0"));
    assert_int_equal(kmeans_train(x, 3, D, 4, &o, c, NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(scann_last_error(), "n = 3"));
    assert_int_equal(kmeans_train(x, 10, 0, 4, &o, c, NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(kmeans_train(NULL, 10, D, 4, &o, c, NULL), SCANN_ERR_INVALID_ARGUMENT);
    o.iters = 0;
    assert_int_equal(kmeans_train(x, 10, D, 4, &o, c, NULL), SCANN_ERR_INVALID_ARGUMENT);
    o = opts(3, 1, 0);
    assert_int_equal(kmeans_train(x, 10, D, 4, &o, c, NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(kmeans_assign(x, 10, D, D - 1, c, 4, 1, kernels_best(), a, NULL),
                     SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(kmeans_assign(x, 10, D, D, c, 0, 1, kernels_best(), a, NULL),
                     SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(kmeans_assign(x, 10, D, D, c, 4, 0, kernels_best(), a, NULL),
                     SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(kmeans_assign(x, 10, D, D, c, 4, 1, NULL, a, NULL),
                     SCANN_ERR_INVALID_ARGUMENT);
    o.dk = NULL; /* the kernel table is required: no stage picks one by itself */
    assert_int_equal(kmeans_train(x, 10, D, 4, &o, c, NULL), SCANN_ERR_INVALID_ARGUMENT);
    /* k = n works, and a sample smaller than k is widened to k points. */
    o = opts(2, 1, 1);
    o.max_sample = 2;
    assert_int_equal(kmeans_train(x, 4, D, 4, &o, c, NULL), SCANN_OK);
    assert_int_equal(kmeans_train(x, 100, D, 4, &o, c, NULL), SCANN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_objective_decreases),
        cmocka_unit_test(test_kmeans_deterministic_across_threads),
        cmocka_unit_test(test_kmeans_duplicates_and_empty_clusters),
        cmocka_unit_test(test_kmeans_spherical_unit_norm),
        cmocka_unit_test(test_kmeans_assign_matches_double),
        cmocka_unit_test(test_kmeans_bad_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
