/* test_topk.c - the bounded heap keeps exactly the k smallest (score, id) pairs, and the
 * reservoir keeps exactly what the heap keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <cmocka.h>

#include "testdata.h"
#include "topk.h"

static int cmp_pair(const void *a, const void *b)
{
    const float *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void test_topk_matches_sort(void **state)
{
    (void)state;
    for (int k = 1; k <= 40; k += 3) {
        for (int n = 0; n <= 200; n += 17) {
            float *v = td_random(n > 0 ? n : 1, 1, (uint64_t)(k * 1000 + n));
            /* Coarse values force ties, which must break by smaller id. */
            for (int i = 0; i < n; i++) v[i] = (float)(int)(v[i] * 8);
            float sc[64];
            int64_t id[64];
            topk h;
            topk_init(&h, k, sc, id);
            for (int i = 0; i < n; i++) topk_push(&h, v[i], i);
            topk_finish(&h, sc, id);
            float(*ref)[2] = malloc(sizeof(float[2]) * (n > 0 ? n : 1));
            for (int i = 0; i < n; i++) ref[i][0] = v[i], ref[i][1] = (float)i;
            qsort(ref, (size_t)n, sizeof ref[0], cmp_pair);
            for (int i = 0; i < k; i++) {
                if (i < n) {
                    assert_true(sc[i] == ref[i][0]);
                    assert_int_equal(id[i], (int64_t)ref[i][1]);
                } else {
                    assert_int_equal(id[i], -1);
                    assert_true(isinf(sc[i]));
                }
            }
            free(ref);
            free(v);
        }
    }
}

static void test_topk_ignores_nan(void **state)
{
    (void)state;
    float sc[2];
    int64_t id[2];
    topk h;
    topk_init(&h, 2, sc, id);
    topk_push(&h, NAN, 1);
    topk_push(&h, 3.0f, 2);
    topk_push(&h, NAN, 3);
    topk_finish(&h, sc, id);
    assert_int_equal(id[0], 2);
    assert_int_equal(id[1], -1);
}

/* The reservoir keeps exactly what the heap keeps, in the same order, on random streams with
 * many ties (coarse scores, ids sometimes repeated or in decreasing order, negative scores and
 * zeros of both signs), for k from 0 to beyond the stream length (and past the 1024-slot
 * buffers of its fast selection); and a threshold it publishes never excludes a candidate the heap
 * would keep (what a FastScan caller relies on when it filters by that threshold first). */
static void test_reservoir_matches_heap(void **state)
{
    (void)state;
    uint64_t seed = 1;
    const int ks[] = {0, 1, 2, 3, 5, 10, 16, 17, 32, 50, 100, 250, 400};
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        int k = ks[ki];
        for (int n = 0; n <= 3000; n = n < 40 ? n + 7 : n * 3) {
            for (int pattern = 0; pattern < 5; pattern++) {
                float *v = td_random(n > 0 ? n : 1, 1, seed++);
                float *hs = malloc(sizeof(float) * (k + 1)),
                      *rs = malloc(sizeof(float) * topk_res_slots(k));
                int64_t *hi = malloc(sizeof(int64_t) * (k + 1)),
                        *ri = malloc(sizeof(int64_t) * topk_res_slots(k));
                topk h;
                topk_res r;
                topk_init(&h, k, hs, hi);
                topk_res_init(&r, k, rs, ri);
                for (int i = 0; i < n; i++) {
                    float sc = (float)(int)(v[i] * (pattern == 0 ? 4 : 64)); /* many ties */
                    int64_t id = pattern == 1 ? n - i : pattern == 2 ? i % 13 : i;
                    if (pattern == 3) sc = (float)(n - i) / 8; /* improving stream, some ties */
                    if (pattern == 4) /* negative scores, and zeros of both signs (equal) */
                        sc = sc == 0.0f ? (i & 1 ? -0.0f : 0.0f) : (float)(int)(v[i] * 16) - 8;
                    /* Filter by the reservoir's published threshold first, as scann does. */
                    topk_push(&h, sc, id);
                    if (sc <= topk_res_threshold(&r)) topk_res_push(&r, sc, id);
                }
                topk_finish(&h, hs, hi);
                topk_res_finish(&r, rs, ri);
                for (int i = 0; i < k; i++) {
                    if (hi[i] != ri[i] || !(hs[i] == rs[i] || (isinf(hs[i]) && isinf(rs[i]))))
                        fail_msg(
                            "k=%d n=%d pattern=%d slot %d: heap (%g, %lld) reservoir (%g, %lld)", k,
                            n, pattern, i, hs[i], (long long)hi[i], rs[i], (long long)ri[i]);
                }
                /* Reusable after finish. */
                assert_int_equal(r.size, 0);
                assert_true(k == 0 || isinf(topk_res_threshold(&r)));
                free(v), free(hs), free(hi), free(rs), free(ri);
            }
        }
    }
}

/* NaN never enters, +inf scores do (as in the heap), and the output aliases the buffers. */
static void test_reservoir_nan_inf(void **state)
{
    (void)state;
    float sc[6];
    int64_t id[6];
    topk_res r;
    topk_res_init(&r, 3, sc, id);
    topk_res_push(&r, NAN, 1);
    topk_res_push(&r, INFINITY, 2);
    topk_res_push(&r, 3.0f, 3);
    topk_res_push(&r, NAN, 4);
    topk_res_finish(&r, sc, id);
    assert_int_equal(id[0], 3);
    assert_int_equal(id[1], 2);
    assert_true(isinf(sc[1]));
    assert_int_equal(id[2], -1);
}

/* topk_sort_pairs orders by (score, id) on long inputs, including already sorted, reversed and
 * constant-score ones (the introsort's bad cases). */
static void test_sort_pairs(void **state)
{
    (void)state;
    for (int pattern = 0; pattern < 4; pattern++) {
        int n = 5000;
        float *v = td_random(n, 1, 99 + pattern), *s = malloc(sizeof(float) * n);
        int64_t *id = malloc(sizeof(int64_t) * n);
        for (int i = 0; i < n; i++) {
            s[i] = pattern == 0   ? (float)(int)(v[i] * 50)
                   : pattern == 1 ? (float)i
                   : pattern == 2 ? (float)(n - i)
                                  : 1.0f;
            id[i] = pattern == 3 ? n - i : i * 7 % n;
        }
        topk_sort_pairs(s, id, n);
        for (int i = 1; i < n; i++)
            assert_true(s[i - 1] < s[i] || (s[i - 1] == s[i] && id[i - 1] < id[i]));
        free(v), free(s), free(id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_matches_sort),
        cmocka_unit_test(test_topk_ignores_nan),
        cmocka_unit_test(test_reservoir_matches_heap),
        cmocka_unit_test(test_reservoir_nan_inf),
        cmocka_unit_test(test_sort_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
