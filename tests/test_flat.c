/* test_flat.c - FLAT returns the exact neighbours of a double-precision loop on real data, and
 * the batch (sgemm) path, the single-query path and every thread count agree exactly. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scann.h"
#include "testdata.h"

#define NB 6000
#define NQ 300
#define K 10
#define D TD_FASHION_DIM

typedef struct fixture {
    float *base, *query;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = td_fashion(0, NB);
    f->query = td_fashion(1, NQ);
    if (!f->base || !f->query) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->base);
    free(f->query);
    free(f);
    return 0;
}

static scann_index *make_flat(scann_metric m, const float *base, int64_t n, int threads)
{
    return td_build("FLAT", m, D, base, n, threads);
}

/* Ids must match the double loop except where two candidates are tied within float error. */
static void check_exact(const fixture *f, scann_metric m)
{
    int ip = m != SCANN_METRIC_L2;
    float *base = f->base, *query = f->query;
    if (m == SCANN_METRIC_COSINE) {
        base = malloc(sizeof(float) * NB * D);
        query = malloc(sizeof(float) * NQ * D);
        memcpy(base, f->base, sizeof(float) * NB * D);
        memcpy(query, f->query, sizeof(float) * NQ * D);
        td_normalize(base, NB, D);
        td_normalize(query, NQ, D);
    }
    int64_t *ref_ids = malloc(sizeof(int64_t) * NQ * K);
    double *ref_sc = malloc(sizeof(double) * NQ * K);
    td_exact_knn(base, NB, query, NQ, D, ip, K, ref_ids, ref_sc);

    scann_index *ix = make_flat(m, f->base, NB, 2);
    float *dist = malloc(sizeof(float) * NQ * K), *one_d = malloc(sizeof(float) * K);
    int64_t *ids = malloc(sizeof(int64_t) * NQ * K), *one_i = malloc(sizeof(int64_t) * K);
    assert_int_equal(scann_index_search(ix, NQ, D, f->query, K, NULL, dist, ids), SCANN_OK);
    int mismatches = 0;
    for (int q = 0; q < NQ; q++) {
        for (int j = 0; j < K; j++) {
            int64_t got = ids[q * K + j], want = ref_ids[q * K + j];
            double s_got = td_score(query + q * D, base + got * D, D, ip);
            double rel = fabs(s_got - ref_sc[q * K + j]) / (fabs(ref_sc[q * K + j]) + 1e-30);
            if (got != want) {
                mismatches++;
                assert_true(rel < 1e-6); /* a tie within float precision, not a wrong answer */
            }
            /* Reported distance is the true one within float accuracy. */
            double reported = ip ? -(double)dist[q * K + j] : dist[q * K + j];
            assert_true(fabs(reported - s_got) <= 1e-5 * (fabs(s_got) + 1e-3));
        }
        /* Single-query path (no BLAS) agrees exactly with the batch path. */
        assert_int_equal(scann_index_search(ix, 1, D, f->query + q * D, K, NULL, one_d, one_i),
                         SCANN_OK);
        assert_memory_equal(one_i, ids + q * K, sizeof(int64_t) * K);
        assert_memory_equal(one_d, dist + q * K, sizeof(float) * K);
    }
    assert_true(mismatches <= NQ * K / 1000);
    scann_index_free(ix);
    free(dist), free(ids), free(one_d), free(one_i), free(ref_ids), free(ref_sc);
    if (base != f->base) free(base), free(query);
}

static void test_flat_l2_exact(void **state) { check_exact(*state, SCANN_METRIC_L2); }
static void test_flat_ip_exact(void **state) { check_exact(*state, SCANN_METRIC_IP); }
static void test_flat_cosine_exact(void **state) { check_exact(*state, SCANN_METRIC_COSINE); }

static void test_flat_threads_agree(void **state)
{
    fixture *f = *state;
    float *d1 = malloc(sizeof(float) * NQ * K), *d2 = malloc(sizeof(float) * NQ * K);
    int64_t *i1 = malloc(sizeof(int64_t) * NQ * K), *i2 = malloc(sizeof(int64_t) * NQ * K);
    scann_index *a = make_flat(SCANN_METRIC_L2, f->base, NB, 1);
    scann_index *b = make_flat(SCANN_METRIC_L2, f->base, NB, 3);
    for (int nq = 1; nq <= NQ; nq = nq * 3 + 1) {
        assert_int_equal(scann_index_search(a, nq, D, f->query, K, NULL, d1, i1), SCANN_OK);
        assert_int_equal(scann_index_search(b, nq, D, f->query, K, NULL, d2, i2), SCANN_OK);
        assert_memory_equal(i1, i2, sizeof(int64_t) * nq * K);
        assert_memory_equal(d1, d2, sizeof(float) * nq * K);
    }
    scann_index_free(a), scann_index_free(b);
    free(d1), free(d2), free(i1), free(i2);
}

static void test_flat_external_ids_and_k_equals_n(void **state)
{
    fixture *f = *state;
    scann_index *ix;
    assert_int_equal(scann_index_create_from_spec("FLAT", D, SCANN_METRIC_L2, &ix), SCANN_OK);
    int64_t ids[50];
    for (int i = 0; i < 50; i++) ids[i] = 1000000007LL * (i + 1);
    assert_int_equal(scann_index_add(ix, 50, D, f->base, ids), SCANN_OK);
    float dist[50];
    int64_t out[50];
    /* Query = stored row 7: it must come first at distance 0; k = n returns every id once. */
    assert_int_equal(scann_index_search(ix, 1, D, f->base + 7 * D, 50, NULL, dist, out), SCANN_OK);
    assert_int_equal(out[0], ids[7]);
    assert_true(dist[0] == 0.0f);
    for (int i = 1; i < 50; i++) assert_true(dist[i] >= dist[i - 1]);
    int seen = 0;
    for (int i = 0; i < 50; i++)
        for (int j = 0; j < 50; j++) seen += out[i] == ids[j];
    assert_int_equal(seen, 50);
    size_t mem = 0;
    assert_int_equal(scann_index_memory(ix, &mem), SCANN_OK);
    assert_true(mem >= 50 * (D * 4 + 8));
    scann_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_l2_exact),
        cmocka_unit_test(test_flat_ip_exact),
        cmocka_unit_test(test_flat_cosine_exact),
        cmocka_unit_test(test_flat_threads_agree),
        cmocka_unit_test(test_flat_external_ids_and_k_equals_n),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
