/*
 * testdata.h - real vectors for tests, read straight from Debian's dataset-fashion-mnist
 * package (no conversion step), plus small helpers tests share.
 */
#ifndef SCANN_TESTDATA_H
#define SCANN_TESTDATA_H

#include <stdint.h>

#include "scann.h"

#define TD_FASHION_DIM 784

/* First `rows` images of Fashion-MNIST's train (which=0) or test (which=1) set as floats in
 * [0, 255]. Returns NULL (and says why on stderr) when the package is not installed. */
float *td_fashion(int which, int64_t rows);
/* Uniform floats in [-1, 1) from a fixed-seed generator (for shapes real data lacks). */
float *td_random(int64_t n, int dim, uint64_t seed);
/* Exact k-NN by a double-precision loop: ids (nq x k) and scores (nq x k, smaller is better:
 * squared L2 or minus the inner product), ties by smaller row. */
void td_exact_knn(const float *base, int64_t n, const float *q, int64_t nq, int dim, int ip, int k,
                  int64_t *ids, double *scores);
/* Double-precision score of q against x (same convention). */
double td_score(const float *q, const float *x, int dim, int ip);

/* Create an index from spec, train it on the n rows of x and add them (ids 0..n-1); fails the
 * current test with the library's message on any error. */
scann_index *td_build(const char *spec, scann_metric m, int dim, const float *x, int64_t n,
                      int threads);
/* Scale each of n rows of dim floats to unit length, in double (zero rows stay zero). */
void td_normalize(float *x, int64_t n, int dim);

/* Fashion-MNIST's first nb train and nq test images with their exact top-k neighbours by L2
 * and by cosine (the fixture several tests share). NULL when the data set is missing. */
typedef struct td_fixture {
    float *base, *query;
    int64_t *gt_l2, *gt_cos; /* nq x k */
} td_fixture;
td_fixture *td_fashion_fixture(int64_t nb, int64_t nq, int k);
void td_fixture_free(td_fixture *f);

/* Fail the current cmocka test unless got == want and, when needle is not NULL, the last
 * error message contains needle. (cmocka.h must be included before this header.) */
#define TD_EXPECT(got, want, needle) td_expect_impl((got), (want), (needle), __FILE__, __LINE__)
void td_expect_impl(scann_status got, scann_status want, const char *needle, const char *file,
                    int line);

#endif
