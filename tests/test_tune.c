/* test_tune.c - scann_index_tune on real Fashion-MNIST: the recall it promises holds on other
 * held-out queries, the choice becomes the default search and survives save/load, a target no
 * setting reaches changes nothing, and bad arguments fail cleanly. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scann.h"
#include "testdata.h"

#define NB 10000 /* base: the first train images */
#define NT 500   /* tuning queries: the first test images ... */
#define NH 1500  /* ... and the held-out check: the next ones */
#define K 10
#define D TD_FASHION_DIM
#define CAP 256

typedef struct fixture {
    float *base, *query; /* NB rows; NT + NH rows */
    int64_t *truth;      /* exact top-K of every query (FLAT search) */
    scann_index *scann;  /* SCANN,nlist=64,dims_per_block=4 on the base */
    scann_index *ivf;    /* IVF_FLAT,nlist=64 */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = td_fashion(0, NB);
    f->query = td_fashion(1, NT + NH);
    if (!f->base || !f->query) return -1;
    f->truth = malloc(sizeof(int64_t) * (NT + NH) * K);
    float *dist = malloc(sizeof(float) * (NT + NH) * K);
    scann_index *flat = td_build("FLAT", SCANN_METRIC_L2, D, f->base, NB, 0);
    if (scann_index_search(flat, NT + NH, D, f->query, K, NULL, dist, f->truth)) return -1;
    scann_index_free(flat);
    free(dist);
    f->scann = td_build("SCANN,nlist=64,dims_per_block=4", SCANN_METRIC_L2, D, f->base, NB, 0);
    f->ivf = td_build("IVF_FLAT,nlist=64", SCANN_METRIC_L2, D, f->base, NB, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    scann_index_free(f->scann), scann_index_free(f->ivf);
    free(f->base), free(f->query), free(f->truth), free(f);
    return 0;
}

/* Recall@K of the held-out queries; sp NULL = the index's defaults. ids (NH * K) kept. */
static double heldout(const fixture *f, const scann_index *ix, const scann_search_params *sp,
                      int64_t *ids)
{
    float *dist = malloc(sizeof(float) * NH * K);
    TD_EXPECT(scann_index_search(ix, NH, D, f->query + (size_t)NT * D, K, sp, dist, ids), SCANN_OK,
              NULL);
    free(dist);
    int64_t hits = 0;
    const int64_t *g = f->truth + (size_t)NT * K;
    for (int q = 0; q < NH; q++)
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) hits += ids[q * K + i] == g[q * K + j];
    return (double)hits / (NH * K);
}

/* Tune ix to target with tp, then: the promise holds on the held-out queries, the default
 * search is the chosen setting's, and it survives a save/load. */
static void tune_and_check(const fixture *f, scann_index *ix, double target, scann_tune_params *tp,
                           const char *what)
{
    scann_tune_point curve[CAP];
    tp->curve = curve;
    tp->curve_cap = CAP;
    scann_tune_result r;
    TD_EXPECT(scann_index_tune(ix, NT, D, f->query, K, target, tp, &r), SCANN_OK, NULL);
    print_message("%s, target %.2f: nprobe=%d reorder_k=%d recall %.4f, %d settings, %d "
                  "searches\n",
                  what, target, r.nprobe, r.reorder_k, r.recall, r.npoints, r.nsearches);
    assert_int_equal(r.met, 1);
    assert_true(r.recall >= target);
    assert_true(r.qps > 0);
    assert_true(r.nprobe >= 1 && r.nprobe < 64); /* a real choice, not everything */
    assert_true(r.npoints >= 1 && r.npoints <= CAP);
    /* The curve holds the choice, sorted by reorder_k then nprobe. */
    int seen = 0;
    for (int i = 0; i < r.npoints; i++) {
        seen |= curve[i].nprobe == r.nprobe && curve[i].reorder_k == r.reorder_k;
        if (i > 0)
            assert_true(curve[i - 1].reorder_k < curve[i].reorder_k ||
                        (curve[i - 1].reorder_k == curve[i].reorder_k &&
                         curve[i - 1].nprobe < curve[i].nprobe));
    }
    assert_true(seen);

    int64_t *ids = malloc(sizeof(int64_t) * NH * K), *want = malloc(sizeof(int64_t) * NH * K);
    double got = heldout(f, ix, NULL, ids);
    print_message("%s, target %.2f: held-out recall %.4f\n", what, target, got);
    if (got < target - 0.02)
        fail_msg("%s: tuned for %.2f, held-out recall %.4f", what, target, got);
    scann_search_params sp = {.nprobe = r.nprobe, .reorder_k = r.reorder_k};
    heldout(f, ix, &sp, want);
    assert_memory_equal(ids, want, sizeof(int64_t) * NH * K);

    char desc[256], expect[64];
    TD_EXPECT(scann_index_describe(ix, desc, sizeof desc), SCANN_OK, NULL);
    snprintf(expect, sizeof expect, r.reorder_k ? ",nprobe=%d,reorder_k=%d," : ",nprobe=%d",
             r.nprobe, r.reorder_k);
    if (!strstr(desc, expect)) fail_msg("describe '%s' lacks '%s'", desc, expect);

    void *buf;
    size_t len;
    scann_index *back = NULL;
    TD_EXPECT(scann_index_save_buffer(ix, &buf, &len), SCANN_OK, NULL);
    TD_EXPECT(scann_index_load_buffer(buf, len, &back), SCANN_OK, NULL);
    scann_buffer_free(buf);
    char desc2[256];
    TD_EXPECT(scann_index_describe(back, desc2, sizeof desc2), SCANN_OK, NULL);
    assert_string_equal(desc, desc2);
    heldout(f, back, NULL, ids);
    assert_memory_equal(ids, want, sizeof(int64_t) * NH * K);
    scann_index_free(back);
    free(ids), free(want);
}

static void test_tune_scann_with_base(void **state)
{
    fixture *f = *state;
    scann_tune_params tp = {.base = f->base, .nbase = NB};
    tune_and_check(f, f->scann, 0.9, &tp, "SCANN, base");
    tune_and_check(f, f->scann, 0.95, &tp, "SCANN, base");
}

static void test_tune_scann_with_truth(void **state)
{
    fixture *f = *state;
    scann_tune_params tp = {.truth = f->truth, .truth_stride = K};
    tune_and_check(f, f->scann, 0.93, &tp, "SCANN, truth");
}

static void test_tune_ivf_flat_exact_itself(void **state)
{
    fixture *f = *state;
    scann_tune_params tp = {0}; /* no truth, no base: IVF_FLAT's full search is exact */
    tune_and_check(f, f->ivf, 0.9, &tp, "IVF_FLAT");
    tune_and_check(f, f->ivf, 0.95, &tp, "IVF_FLAT");
}

/* A recall no setting reaches: status OK, met 0, the best recall reported, nothing changed. */
static void test_tune_unreachable_changes_nothing(void **state)
{
    fixture *f = *state;
    scann_index *ix = td_build("SCANN,nlist=16,dims_per_block=4,reorder=none", SCANN_METRIC_L2, D,
                               f->base, 3000, 0);
    char before[256], after[256];
    TD_EXPECT(scann_index_describe(ix, before, sizeof before), SCANN_OK, NULL);
    scann_tune_params tp = {.truth = f->truth, .truth_stride = K};
    scann_tune_result r;
    /* truth is for the full base: with 3000 vectors most true neighbours are absent. */
    TD_EXPECT(scann_index_tune(ix, NT, D, f->query, K, 0.99, &tp, &r), SCANN_OK, NULL);
    assert_int_equal(r.met, 0);
    assert_true(r.recall < 0.99 && r.recall > 0);
    assert_int_equal(r.reorder_k, 0); /* no rerank store: nothing to re-score */
    TD_EXPECT(scann_index_describe(ix, after, sizeof after), SCANN_OK, NULL);
    assert_string_equal(before, after);
    scann_index_free(ix);
}

/* dry_run measures and chooses but leaves the defaults; a small curve_cap truncates. */
static void test_tune_dry_run(void **state)
{
    fixture *f = *state;
    char before[256], after[256];
    TD_EXPECT(scann_index_describe(f->ivf, before, sizeof before), SCANN_OK, NULL);
    scann_tune_point two[2];
    scann_tune_params tp = {.dry_run = 1, .curve = two, .curve_cap = 2};
    scann_tune_result r;
    TD_EXPECT(scann_index_tune(f->ivf, NT, D, f->query, K, 0.95, &tp, &r), SCANN_OK, NULL);
    assert_int_equal(r.met, 1);
    assert_true(r.npoints > 2);
    assert_true(two[0].nprobe < two[1].nprobe);
    TD_EXPECT(scann_index_describe(f->ivf, after, sizeof after), SCANN_OK, NULL);
    assert_string_equal(before, after);
}

static void test_tune_bad_arguments(void **state)
{
    fixture *f = *state;
    scann_tune_result r;
    scann_tune_params base = {.base = f->base, .nbase = NB};
    char before[256], after[256];
    TD_EXPECT(scann_index_describe(f->scann, before, sizeof before), SCANN_OK, NULL);
    const float *q = f->query;
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 0.0, &base, &r), SCANN_ERR_INVALID_ARGUMENT,
              "target_recall=0");
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 1.01, &base, &r), SCANN_ERR_INVALID_ARGUMENT,
              "target_recall=1.01");
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, NAN, &base, &r), SCANN_ERR_INVALID_ARGUMENT,
              "target_recall");
    TD_EXPECT(scann_index_tune(f->scann, 0, D, q, K, 0.9, &base, &r), SCANN_ERR_INVALID_ARGUMENT,
              "nq=0");
    TD_EXPECT(scann_index_tune(f->scann, NT, D - 1, q, K, 0.9, &base, &r), SCANN_ERR_DIMENSION,
              "dimension 783");
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, 0, 0.9, &base, &r), SCANN_ERR_INVALID_ARGUMENT,
              "k=0");
    TD_EXPECT(scann_index_tune(f->ivf, NT, D, q, NB + 1, 0.9, NULL, &r), SCANN_ERR_INVALID_ARGUMENT,
              "ntotal");
    TD_EXPECT(scann_index_tune(f->scann, NT, D, NULL, K, 0.9, &base, &r),
              SCANN_ERR_INVALID_ARGUMENT, "NULL");
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 0.9, &base, NULL), SCANN_ERR_INVALID_ARGUMENT,
              "NULL");
    TD_EXPECT(scann_index_tune(NULL, NT, D, q, K, 0.9, &base, &r), SCANN_ERR_INVALID_ARGUMENT,
              "NULL");
    /* SCANN has no exact search of its own: truth or base is needed. */
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 0.9, NULL, &r), SCANN_ERR_INVALID_ARGUMENT,
              "truth");
    scann_tune_params tp = {.truth = f->truth, .truth_stride = K - 1};
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 0.9, &tp, &r), SCANN_ERR_INVALID_ARGUMENT,
              "truth_stride=9");
    tp = (scann_tune_params){.base = f->base, .nbase = K - 1};
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 0.9, &tp, &r), SCANN_ERR_INVALID_ARGUMENT,
              "nbase=9");
    tp = (scann_tune_params){.base = f->base, .nbase = NB, .curve_cap = 4};
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 0.9, &tp, &r), SCANN_ERR_INVALID_ARGUMENT,
              "curve_cap=4");
    tp = (scann_tune_params){.base = f->base, .nbase = NB, .num_threads = -1};
    TD_EXPECT(scann_index_tune(f->scann, NT, D, q, K, 0.9, &tp, &r), SCANN_ERR_INVALID_ARGUMENT,
              "num_threads=-1");
    /* A NaN in the queries is the search's error, before any change. */
    float *bad = malloc(sizeof(float) * D);
    memcpy(bad, q, sizeof(float) * D);
    bad[3] = NAN;
    TD_EXPECT(scann_index_tune(f->scann, 1, D, bad, K, 0.9, &base, &r), SCANN_ERR_INVALID_DATA,
              "NaN");
    free(bad);
    TD_EXPECT(scann_index_describe(f->scann, after, sizeof after), SCANN_OK, NULL);
    assert_string_equal(before, after);

    /* FLAT is exact: nothing to tune. An untrained or empty index cannot be searched. */
    scann_index *ix;
    TD_EXPECT(scann_index_create_from_spec("FLAT", D, SCANN_METRIC_L2, &ix), SCANN_OK, NULL);
    TD_EXPECT(scann_index_tune(ix, NT, D, q, K, 0.9, NULL, &r), SCANN_ERR_UNSUPPORTED, "FLAT");
    scann_index_free(ix);
    TD_EXPECT(scann_index_create_from_spec("IVF_FLAT,nlist=4", D, SCANN_METRIC_L2, &ix), SCANN_OK,
              NULL);
    TD_EXPECT(scann_index_tune(ix, NT, D, q, K, 0.9, NULL, &r), SCANN_ERR_NOT_TRAINED, NULL);
    TD_EXPECT(scann_index_train(ix, 500, D, f->base), SCANN_OK, NULL);
    TD_EXPECT(scann_index_tune(ix, NT, D, q, K, 0.9, NULL, &r), SCANN_ERR_EMPTY, NULL);
    scann_index_free(ix);
}

/* The reorder_k default: a spec sets it, a search uses at least k, a bad value is refused. */
static void test_reorder_k_default(void **state)
{
    fixture *f = *state;
    scann_index *ix = td_build("SCANN,nlist=16,dims_per_block=4,nprobe=4,reorder_k=12",
                               SCANN_METRIC_L2, D, f->base, 3000, 0);
    float dist[20 * 20];
    int64_t a[20 * 20], b[20 * 20];
    scann_search_params sp = {.reorder_k = 12};
    TD_EXPECT(scann_index_search(ix, 20, D, f->query, 10, NULL, dist, a), SCANN_OK, NULL);
    TD_EXPECT(scann_index_search(ix, 20, D, f->query, 10, &sp, dist, b), SCANN_OK, NULL);
    assert_memory_equal(a, b, sizeof(int64_t) * 20 * 10);
    /* k = 20 above the default 12: the search re-scores k candidates, as reorder_k = k. */
    sp.reorder_k = 20;
    TD_EXPECT(scann_index_search(ix, 20, D, f->query, 20, NULL, dist, a), SCANN_OK, NULL);
    TD_EXPECT(scann_index_search(ix, 20, D, f->query, 20, &sp, dist, b), SCANN_OK, NULL);
    assert_memory_equal(a, b, sizeof(int64_t) * 20 * 20);
    scann_index_free(ix);
    scann_index_params p;
    TD_EXPECT(scann_index_params_parse("SCANN,reorder_k=0", D, SCANN_METRIC_L2, &p),
              SCANN_ERR_INVALID_ARGUMENT, "reorder_k=0");
    TD_EXPECT(scann_index_params_parse("SCANN", D, SCANN_METRIC_L2, &p), SCANN_OK, NULL);
    p.reorder_k = -3;
    TD_EXPECT(scann_index_create(&p, &ix), SCANN_ERR_INVALID_ARGUMENT, "reorder_k=-3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_bad_arguments),
        cmocka_unit_test(test_reorder_k_default),
        cmocka_unit_test(test_tune_dry_run),
        cmocka_unit_test(test_tune_scann_with_base),
        cmocka_unit_test(test_tune_scann_with_truth),
        cmocka_unit_test(test_tune_ivf_flat_exact_itself),
        cmocka_unit_test(test_tune_unreachable_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
