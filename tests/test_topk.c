/* test_topk.c - the bounded heap keeps exactly the k smallest (score, id) pairs. */
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
            float (*ref)[2] = malloc(sizeof(float[2]) * (n > 0 ? n : 1));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_matches_sort),
        cmocka_unit_test(test_topk_ignores_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
