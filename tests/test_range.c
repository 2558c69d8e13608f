/* test_range.c - range search on every kind and metric: exact on FLAT and on IVF_FLAT with every
 * list probed, only true matches (and most of them) from reranked IVF_PQ and SCANN, sorted
 * results, filters, and bad arguments. Exact answers come from a double-precision loop. */
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

#define NB 3000
#define NQ 24
#define D 24
#define NLIST 16

typedef struct fixture {
    float *base, *query;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->base = td_random(NB, D, 11);
    f->query = td_random(NQ, D, 12);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->base), free(f->query), free(f);
    return 0;
}

/* The user-facing distance (similarity for ip / cosine) the library would report, in double. */
static double user_dist(const float *q, const float *x, scann_metric m)
{
    if (m == SCANN_METRIC_L2) return td_score(q, x, D, 0);
    double s = -td_score(q, x, D, 1);
    if (m == SCANN_METRIC_COSINE) {
        double nq = sqrt(-td_score(q, q, D, 1)), nx = sqrt(-td_score(x, x, D, 1));
        s /= nq * nx;
    }
    return s;
}

static int matches(double dist, double radius, scann_metric m)
{
    return m == SCANN_METRIC_L2 ? dist < radius : dist > radius;
}

/* A radius between the 30th and 31st match of query 0 (queries nearer the centre of the cube
 * match hundreds). */
static float pick_radius(const fixture *f, scann_metric m)
{
    double *all = malloc(sizeof(double) * NB);
    for (int i = 0; i < NB; i++) all[i] = user_dist(f->query, f->base + (size_t)i * D, m);
    /* partial selection sort of the 30 best */
    for (int a = 0; a < 30; a++)
        for (int b = a + 1; b < NB; b++)
            if (m == SCANN_METRIC_L2 ? all[b] < all[a] : all[b] > all[a]) {
                double t = all[a];
                all[a] = all[b], all[b] = t;
            }
    float r = (float)((all[29] + all[30]) / 2);
    free(all);
    return r;
}

/* Checks the result's shape and order, and counts true matches found / missed / false ones.
 * Matches within a relative 1e-5 of the radius may go either way (float rounding). */
static void score(const fixture *f, const scann_range_result *r, float radius, scann_metric m,
                  const uint64_t *allow, int64_t *found, int64_t *missed, int64_t *wrong)
{
    assert_int_equal(r->nq, NQ);
    assert_int_equal(r->lims[0], 0);
    *found = *missed = *wrong = 0;
    char *seen = malloc(NB);
    for (int q = 0; q < NQ; q++) {
        assert_true(r->lims[q + 1] >= r->lims[q]);
        memset(seen, 0, NB);
        const float *qv = f->query + (size_t)q * D;
        for (int64_t c = r->lims[q]; c < r->lims[q + 1]; c++) {
            int64_t id = r->ids[c];
            assert_true(id >= 0 && id < NB);
            assert_false(seen[id]);
            seen[id] = 1;
            if (c > r->lims[q]) { /* best first */
                float a = r->dist[c - 1], b = r->dist[c];
                assert_true(m == SCANN_METRIC_L2 ? a <= b : a >= b);
            }
            if (allow) assert_true(allow[id >> 6] >> (id & 63) & 1);
            double exact = user_dist(qv, f->base + (size_t)id * D, m);
            assert_true(matches(r->dist[c], radius, m));
            if (!matches(exact, radius, m) && fabs(exact - radius) > 1e-5 * fabs(radius))
                (*wrong)++;
        }
        for (int64_t i = 0; i < NB; i++) {
            if (seen[i] || (allow && !(allow[i >> 6] >> (i & 63) & 1))) continue;
            double exact = user_dist(qv, f->base + (size_t)i * D, m);
            if (matches(exact, radius, m) && fabs(exact - radius) > 1e-5 * fabs(radius))
                (*missed)++;
        }
        for (int64_t c = r->lims[q]; c < r->lims[q + 1]; c++) (*found)++;
    }
    free(seen);
}

static const scann_metric metrics[] = {SCANN_METRIC_L2, SCANN_METRIC_IP, SCANN_METRIC_COSINE};

static void test_exact_kinds(void **state)
{
    const fixture *f = *state;
    const char *specs[] = {"FLAT", "IVF_FLAT,nlist=16"};
    for (int s = 0; s < 2; s++)
        for (int mi = 0; mi < 3; mi++) {
            scann_metric m = metrics[mi];
            scann_index *ix = td_build(specs[s], m, D, f->base, NB, 2);
            float radius = pick_radius(f, m);
            for (int nt = 1; nt <= 2; nt++) {
                scann_search_params sp = {.nprobe = s ? NLIST : 0, .num_threads = nt};
                scann_range_result *r = NULL;
                assert_int_equal(scann_index_range_search(ix, NQ, D, f->query, radius, &sp, &r),
                                 SCANN_OK);
                int64_t found, missed, wrong;
                score(f, r, radius, m, NULL, &found, &missed, &wrong);
                assert_true(found > NQ);
                assert_int_equal(missed, 0);
                assert_int_equal(wrong, 0);
                scann_range_result_free(r);
            }
            scann_index_free(ix);
        }
}

static void test_approximate_kinds(void **state)
{
    const fixture *f = *state;
    const char *specs[] = {"IVF_PQ,nlist=16,m=12,reorder=float", "SCANN,nlist=16",
                           "SCANN,nlist=16,reorder=int8"};
    for (int s = 0; s < 3; s++)
        for (int mi = 0; mi < 3; mi++) {
            scann_metric m = metrics[mi];
            scann_index *ix = td_build(specs[s], m, D, f->base, NB, 2);
            float radius = pick_radius(f, m);
            scann_search_params sp = {.nprobe = NLIST};
            scann_range_result *r = NULL;
            assert_int_equal(scann_index_range_search(ix, NQ, D, f->query, radius, &sp, &r),
                             SCANN_OK);
            int64_t found, missed, wrong;
            score(f, r, radius, m, NULL, &found, &missed, &wrong);
            /* Reranked exactly: nothing false (int8 rows round, so a few may cross). */
            assert_true(wrong <= (s == 2 ? found / 20 : 0));
            /* Selection by approximate scores misses some near the radius. */
            assert_true(found >= 3 * missed);
            scann_range_result_free(r);
            scann_index_free(ix);
        }
}

/* Without a rerank store, SCANN returns its approximate scores, all within the radius. */
static void test_no_rerank(void **state)
{
    const fixture *f = *state;
    scann_index *ix = td_build("SCANN,nlist=16,reorder=none", SCANN_METRIC_L2, D, f->base, NB, 2);
    float radius = pick_radius(f, SCANN_METRIC_L2);
    scann_range_result *r = NULL;
    scann_search_params sp = {.nprobe = NLIST};
    assert_int_equal(scann_index_range_search(ix, NQ, D, f->query, radius, &sp, &r), SCANN_OK);
    assert_true(r->lims[NQ] > 0);
    for (int64_t c = 0; c < r->lims[NQ]; c++) assert_true(r->dist[c] < radius);
    scann_range_result_free(r);
    scann_index_free(ix);
}

static void test_filter(void **state)
{
    const fixture *f = *state;
    uint64_t allow[(NB + 63) / 64];
    for (int i = 0; i < (NB + 63) / 64; i++) allow[i] = 0x00ff00ff00ff00ffull;
    const char *specs[] = {"FLAT", "IVF_FLAT,nlist=16", "SCANN,nlist=16"};
    for (int s = 0; s < 3; s++) {
        scann_index *ix = td_build(specs[s], SCANN_METRIC_L2, D, f->base, NB, 2);
        float radius = pick_radius(f, SCANN_METRIC_L2);
        scann_search_params sp = {.nprobe = s ? NLIST : 0, .allow_bits = allow, .allow_nbits = NB};
        scann_range_result *r = NULL;
        assert_int_equal(scann_index_range_search(ix, NQ, D, f->query, radius, &sp, &r), SCANN_OK);
        int64_t found, missed, wrong;
        score(f, r, radius, SCANN_METRIC_L2, allow, &found, &missed, &wrong);
        assert_true(found > 0);
        if (s < 2) assert_int_equal(missed, 0);
        scann_range_result_free(r);
        scann_index_free(ix);
    }
}

static void test_edges(void **state)
{
    const fixture *f = *state;
    scann_index *ix = td_build("IVF_FLAT,nlist=16", SCANN_METRIC_L2, D, f->base, NB, 1);
    scann_range_result *r = NULL;
    /* Nothing within a radius of 0 (distances are never negative), everything within +inf. */
    scann_search_params all = {.nprobe = NLIST};
    assert_int_equal(scann_index_range_search(ix, 2, D, f->query, 0.0f, &all, &r), SCANN_OK);
    assert_int_equal(r->lims[2], 0);
    scann_range_result_free(r);
    assert_int_equal(scann_index_range_search(ix, 2, D, f->query, INFINITY, &all, &r), SCANN_OK);
    assert_int_equal(r->lims[1], NB);
    assert_int_equal(r->lims[2], 2 * NB);
    scann_range_result_free(r);
    /* No queries: an empty result. */
    assert_int_equal(scann_index_range_search(ix, 0, D, f->query, 1.0f, NULL, &r), SCANN_OK);
    assert_int_equal(r->nq, 0);
    assert_int_equal(r->lims[0], 0);
    scann_range_result_free(r);
    /* Bad arguments change nothing and say what is wrong. */
    r = NULL;
    TD_EXPECT(scann_index_range_search(ix, 1, D, f->query, NAN, NULL, &r),
              SCANN_ERR_INVALID_ARGUMENT, "NaN");
    TD_EXPECT(scann_index_range_search(ix, 1, D + 1, f->query, 1.0f, NULL, &r), SCANN_ERR_DIMENSION,
              "dimension");
    TD_EXPECT(scann_index_range_search(ix, 1, D, f->query, 1.0f, NULL, NULL),
              SCANN_ERR_INVALID_ARGUMENT, "out");
    scann_search_params bad = {.nprobe = NLIST + 1};
    TD_EXPECT(scann_index_range_search(ix, 1, D, f->query, 1.0f, &bad, &r),
              SCANN_ERR_INVALID_ARGUMENT, "nprobe");
    assert_null(r);
    scann_index_free(ix);
    /* Untrained: an error; trained but empty: no matches. */
    scann_index *empty = NULL;
    assert_int_equal(scann_index_create_from_spec("SCANN,nlist=4", D, SCANN_METRIC_L2, &empty),
                     SCANN_OK);
    TD_EXPECT(scann_index_range_search(empty, 1, D, f->query, 1.0f, NULL, &r),
              SCANN_ERR_NOT_TRAINED, "not trained");
    assert_int_equal(scann_index_train(empty, NB, D, f->base), SCANN_OK);
    assert_int_equal(scann_index_range_search(empty, 1, D, f->query, 1e30f, NULL, &r), SCANN_OK);
    assert_int_equal(r->lims[1], 0);
    scann_range_result_free(r);
    scann_index_free(empty);
    scann_range_result_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_kinds), cmocka_unit_test(test_approximate_kinds),
        cmocka_unit_test(test_no_rerank),   cmocka_unit_test(test_filter),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
