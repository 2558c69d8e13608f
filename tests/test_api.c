/* test_api.c - bad input returns a clear error, never crashes, and leaves the index as it was. */
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

#define D 16

static void test_create_errors(void **state)
{
    (void)state;
    scann_index *ix = (scann_index *)0x1;
    TD_EXPECT(scann_index_create_from_spec("FLAT", 0, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "dim=0");
    TD_EXPECT(scann_index_create_from_spec("HNSW", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "HNSW");
    TD_EXPECT(scann_index_create_from_spec("FLAT,bogus=1", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "bogus");
    TD_EXPECT(scann_index_create_from_spec("FLAT,nlist=x", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "nlist=x");
    TD_EXPECT(scann_index_create_from_spec("IVF_FLAT,nlist= 8", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "nlist= 8");
    TD_EXPECT(scann_index_create_from_spec("IVF_FLAT,nlist=+8", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "nlist=+8");
    TD_EXPECT(scann_index_create_from_spec("FLAT,nlist", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "key=value");
    TD_EXPECT(scann_index_create_from_spec(NULL, D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, NULL);
    TD_EXPECT(scann_index_create_from_spec("FLAT", D, (scann_metric)7, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "metric");
    TD_EXPECT(scann_index_create(NULL, &ix), SCANN_ERR_INVALID_ARGUMENT, NULL);
    assert_ptr_equal(ix, (scann_index *)0x1); /* untouched on failure */
    scann_metric m;
    TD_EXPECT(scann_metric_parse("hamming", &m), SCANN_ERR_INVALID_ARGUMENT, "hamming");
    TD_EXPECT(scann_metric_parse("0", &m), SCANN_ERR_INVALID_ARGUMENT, "'0'");
    const char *names[] = {"L2",  "squared_l2", "Euclidean", "ip", "DOT_PRODUCT", "inner_product",
                           "dot", "cosine",     "Angular"};
    const scann_metric want[] = {SCANN_METRIC_L2, SCANN_METRIC_L2,     SCANN_METRIC_L2,
                                 SCANN_METRIC_IP, SCANN_METRIC_IP,     SCANN_METRIC_IP,
                                 SCANN_METRIC_IP, SCANN_METRIC_COSINE, SCANN_METRIC_COSINE};
    for (int i = 0; i < 9; i++) {
        TD_EXPECT(scann_metric_parse(names[i], &m), SCANN_OK, NULL);
        assert_int_equal(m, want[i]);
    }
    scann_index_free(NULL);
}

static void test_add_search_errors(void **state)
{
    (void)state;
    scann_index *ix;
    TD_EXPECT(scann_index_create_from_spec("FLAT", D, SCANN_METRIC_L2, &ix), SCANN_OK, NULL);
    float *x = td_random(20, D, 1), q[D] = {0}, dist[32];
    int64_t ids[32];

    TD_EXPECT(scann_index_search(ix, 1, D, q, 1, NULL, dist, ids), SCANN_ERR_EMPTY, "no vectors");
    TD_EXPECT(scann_index_add(ix, 20, D + 1, x, NULL), SCANN_ERR_DIMENSION, "dimension 17");
    TD_EXPECT(scann_index_add(ix, -1, D, x, NULL), SCANN_ERR_INVALID_ARGUMENT, "n=-1");
    TD_EXPECT(scann_index_add(ix, 5, D, NULL, NULL), SCANN_ERR_INVALID_ARGUMENT, "NULL");
    x[3 * D + 5] = NAN;
    TD_EXPECT(scann_index_add(ix, 20, D, x, NULL), SCANN_ERR_INVALID_DATA,
              "vector 3, component 5 is NaN");
    x[3 * D + 5] = INFINITY;
    TD_EXPECT(scann_index_add(ix, 20, D, x, NULL), SCANN_ERR_INVALID_DATA, "infinite");
    assert_int_equal(scann_index_ntotal(ix), 0); /* nothing was added by the failed calls */
    x[3 * D + 5] = 0.5f;
    int64_t bad_ids[20] = {0};
    bad_ids[4] = -3;
    TD_EXPECT(scann_index_add(ix, 20, D, x, bad_ids), SCANN_ERR_INVALID_ARGUMENT, "ids[4]=-3");
    TD_EXPECT(scann_index_add(ix, 0, D, NULL, NULL), SCANN_OK, NULL);
    TD_EXPECT(scann_index_add(ix, 20, D, x, NULL), SCANN_OK, NULL);
    assert_int_equal(scann_index_ntotal(ix), 20);

    TD_EXPECT(scann_index_search(ix, 1, D, q, 0, NULL, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              "k=0");
    TD_EXPECT(scann_index_search(ix, 1, D, q, 21, NULL, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              "k=21");
    TD_EXPECT(scann_index_search(ix, 1, D - 1, q, 5, NULL, dist, ids), SCANN_ERR_DIMENSION,
              "dimension 15");
    TD_EXPECT(scann_index_search(ix, 1, D, q, 5, NULL, NULL, ids), SCANN_ERR_INVALID_ARGUMENT,
              "NULL");
    TD_EXPECT(scann_index_search(NULL, 1, D, q, 5, NULL, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              NULL);
    q[2] = NAN;
    TD_EXPECT(scann_index_search(ix, 1, D, q, 5, NULL, dist, ids), SCANN_ERR_INVALID_DATA, "NaN");
    q[2] = 0;
    scann_search_params sp = {.nprobe = -1};
    TD_EXPECT(scann_index_search(ix, 1, D, q, 5, &sp, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              "nprobe=-1");
    sp = (scann_search_params){.reorder_k = 3};
    TD_EXPECT(scann_index_search(ix, 1, D, q, 5, &sp, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              "reorder_k=3");
    TD_EXPECT(scann_index_search(ix, 0, D, q, 5, NULL, dist, ids), SCANN_OK, NULL);
    TD_EXPECT(scann_index_search(ix, 1, D, q, 20, NULL, dist, ids), SCANN_OK, NULL);
    TD_EXPECT(scann_index_train(ix, 20, D + 2, x), SCANN_ERR_DIMENSION, NULL);
    char buf[4];
    TD_EXPECT(scann_index_describe(ix, buf, sizeof buf), SCANN_ERR_INVALID_ARGUMENT, "too small");
    char big[64];
    TD_EXPECT(scann_index_describe(ix, big, sizeof big), SCANN_OK, NULL);
    assert_string_equal(big, "FLAT");
    free(x);
    scann_index_free(ix);
}

static void test_inspection_on_null(void **state)
{
    (void)state;
    assert_int_equal(scann_index_ntotal(NULL), 0);
    assert_int_equal(scann_index_dim(NULL), 0);
    size_t m;
    TD_EXPECT(scann_index_memory(NULL, &m), SCANN_ERR_INVALID_ARGUMENT, NULL);
    assert_string_equal(scann_status_name(SCANN_ERR_DIMENSION), "SCANN_ERR_DIMENSION");
}

static void test_cosine_zero_vector(void **state)
{
    (void)state;
    scann_index *ix;
    TD_EXPECT(scann_index_create_from_spec("FLAT", D, SCANN_METRIC_COSINE, &ix), SCANN_OK, NULL);
    float x[2 * D] = {0};
    x[D] = 3.0f; /* row 0 is all zeros, row 1 is 3*e0 */
    TD_EXPECT(scann_index_add(ix, 2, D, x, NULL), SCANN_OK, NULL);
    float q[D] = {0}, dist[2];
    int64_t ids[2];
    q[0] = 0.5f;
    TD_EXPECT(scann_index_search(ix, 1, D, q, 2, NULL, dist, ids), SCANN_OK, NULL);
    assert_int_equal(ids[0], 1);
    assert_true(fabsf(dist[0] - 1.0f) < 1e-6f); /* cosine similarity, not raw inner product */
    assert_true(dist[1] == 0.0f);
    scann_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_add_search_errors),
        cmocka_unit_test(test_inspection_on_null),
        cmocka_unit_test(test_cosine_zero_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
