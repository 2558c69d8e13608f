/* test_updates.c - add after build, remove, upsert, filtered search and concurrent use, for
 * every index kind, on real Fashion-MNIST vectors. */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
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
#define D TD_FASHION_DIM
#define K 10

static const char *kinds[] = {"FLAT", "IVF_FLAT,nlist=16", "IVF_PQ,nlist=16,m=98,reorder=float",
                              "SCANN,nlist=16,dims_per_block=4", "SCANN,nlist=16,reorder=none"};
#define NKINDS 5

static float *base;

static int setup(void **state)
{
    base = td_fashion(0, NB);
    return base ? 0 : -1;
}

static int teardown(void **state)
{
    free(base);
    return 0;
}

static scann_index *build(const char *spec, int64_t n, int threads)
{
    scann_index_params p;
    assert_int_equal(scann_index_params_parse(spec, D, SCANN_METRIC_L2, &p), SCANN_OK);
    p.num_threads = threads;
    scann_index *ix;
    assert_int_equal(scann_index_create(&p, &ix), SCANN_OK);
    assert_int_equal(scann_index_train(ix, n, D, base), SCANN_OK);
    return ix;
}

/* Search every list with a generous rerank, so a stored vector must find itself first. */
static int64_t find_self(scann_index *ix, int64_t row, const scann_search_params *extra)
{
    scann_search_params sp = {.nprobe = 16, .reorder_k = 100};
    if (scann_index_get_kind(ix) == SCANN_INDEX_FLAT) sp.nprobe = 0;
    if (extra) {
        sp.allow_bits = extra->allow_bits;
        sp.allow_nbits = extra->allow_nbits;
        sp.allow_fn = extra->allow_fn;
        sp.allow_user_data = extra->allow_user_data;
    }
    float dist[K];
    int64_t ids[K];
    int k = scann_index_ntotal(ix) < K ? (int)scann_index_ntotal(ix) : K;
    if (scann_index_search(ix, 1, D, base + row * D, k, &sp, dist, ids) != SCANN_OK)
        fail_msg("search: %s", scann_last_error());
    return ids[0];
}

static void test_remove_and_upsert(void **state)
{
    for (int s = 0; s < NKINDS; s++) {
        scann_index *ix = build(kinds[s], NB, 2);
        /* Ids 1000 + row, added in two batches (add after build keeps the training). */
        int64_t *ids = malloc(sizeof(int64_t) * NB);
        for (int i = 0; i < NB; i++) ids[i] = 1000 + i;
        assert_int_equal(scann_index_add(ix, 2000, D, base, ids), SCANN_OK);
        assert_int_equal(scann_index_add(ix, NB - 2000, D, base + 2000 * D, ids + 2000), SCANN_OK);
        assert_int_equal(scann_index_ntotal(ix), NB);
        assert_int_equal(find_self(ix, 2500, NULL), 3500);

        /* Remove every third id (and one that does not exist). */
        int64_t del[1001], nd = 0, removed = -1;
        for (int i = 0; i < NB; i += 3) del[nd++] = 1000 + i;
        del[nd++] = 999999;
        assert_int_equal(scann_index_remove(ix, nd, del, &removed), SCANN_OK);
        assert_int_equal(removed, nd - 1);
        assert_int_equal(scann_index_ntotal(ix), NB - (nd - 1));
        for (int i = 0; i < NB; i += 7) {
            int64_t got = find_self(ix, i, NULL);
            if (i % 3 == 0)
                assert_true(got != 1000 + i); /* removed ids never come back */
            else
                assert_int_equal(got, 1000 + i); /* the rest are still found */
        }

        /* Upsert: id 1001 now points to row 5's vector; row 1's vector is gone. */
        int64_t up = 1001;
        assert_int_equal(scann_index_add(ix, 1, D, base + 5 * D, &up), SCANN_OK);
        assert_int_equal(scann_index_ntotal(ix), NB - (nd - 1));
        assert_true(find_self(ix, 1, NULL) != 1001);
        int64_t got = find_self(ix, 5, NULL);
        assert_true(got == 1001 || got == 1005); /* two identical vectors now */

        /* Duplicate ids inside one batch are rejected, and nothing changes. */
        int64_t dup[2] = {77777, 77777};
        assert_int_equal(scann_index_add(ix, 2, D, base, dup), SCANN_ERR_INVALID_ARGUMENT);
        assert_int_equal(scann_index_ntotal(ix), NB - (nd - 1));
        scann_index_free(ix);
        free(ids);
    }
}

static int allow_even(void *ud, int64_t id)
{
    (void)ud;
    return id % 2 == 0;
}

static void test_filtered_search(void **state)
{
    for (int s = 0; s < NKINDS; s++) {
        scann_index *ix = build(kinds[s], NB, 2);
        assert_int_equal(scann_index_add(ix, NB, D, base, NULL), SCANN_OK);
        uint64_t bits[(NB + 63) / 64] = {0};
        /* A very selective bitset: only 12 ids allowed, scattered over the lists. */
        int64_t allowed[12];
        for (int i = 0; i < 12; i++) {
            allowed[i] = 17 + 241 * i;
            bits[allowed[i] / 64] |= 1ull << (allowed[i] % 64);
        }
        scann_search_params sp = {
            .nprobe = 1, .reorder_k = 20, .allow_bits = bits, .allow_nbits = NB};
        if (scann_index_get_kind(ix) == SCANN_INDEX_FLAT) sp.nprobe = 0;
        float dist[K];
        int64_t ids[K];
        assert_int_equal(scann_index_search(ix, 1, D, base + 100 * D, K, &sp, dist, ids), SCANN_OK);
        for (int i = 0; i < K; i++) { /* k results although nprobe = 1: the exact fallback */
            int ok = 0;
            for (int j = 0; j < 12; j++) ok |= ids[i] == allowed[j];
            if (!ok)
                fail_msg("%s: result %d is id %lld, not allowed", kinds[s], i, (long long)ids[i]);
        }
        /* A callback filter: only even ids, and a stored even vector still finds itself. */
        scann_search_params cb = {.allow_fn = allow_even};
        assert_int_equal(find_self(ix, 444, &cb), 444);
        assert_true(find_self(ix, 445, &cb) % 2 == 0);
        scann_index_free(ix);
    }
}

/* ---- concurrency: searches while others add and remove ------------------------------------ */

typedef struct stress {
    scann_index *ix;
    int stop;
    int64_t searches;
} stress;

static void *searcher(void *arg)
{
    stress *st = arg;
    float dist[K];
    int64_t ids[K];
    scann_search_params sp = {.nprobe = 4, .num_threads = 1};
    for (int i = 0; !__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE); i = (i + 37) % NB) {
        scann_status s = scann_index_search(st->ix, 1, D, base + i * D, K, &sp, dist, ids);
        if (s != SCANN_OK) fail_msg("concurrent search: %s", scann_last_error());
        __atomic_add_fetch(&st->searches, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_concurrent_search_add_remove(void **state)
{
    const char *specs[] = {"FLAT", "SCANN,nlist=16,dims_per_block=4", "IVF_FLAT,nlist=16"};
    for (int s = 0; s < 3; s++) {
        scann_index *ix = build(specs[s], NB, 1);
        assert_int_equal(scann_index_add(ix, 1000, D, base, NULL), SCANN_OK);
        stress st = {ix, 0, 0};
        pthread_t t[3];
        for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, searcher, &st);
        /* Writer: add rows 1000.. in small batches, removing every fifth id as it goes. Before
         * each batch it waits (up to 2 s) for a search to have run since the last one: the
         * lock lets writers in first, so without this a fast writer could finish before any
         * search started and the test would prove nothing. */
        int64_t batch = 0;
        for (int64_t r = 1000; r < NB; r += 50, batch++) {
            struct timespec t0, t;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            do {
                sched_yield();
                clock_gettime(CLOCK_MONOTONIC, &t);
            } while (__atomic_load_n(&st.searches, __ATOMIC_RELAXED) <= batch &&
                     (t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 2000000000L);
            int64_t ids[50];
            for (int i = 0; i < 50; i++) ids[i] = r + i;
            assert_int_equal(scann_index_add(ix, 50, D, base + r * D, ids), SCANN_OK);
            int64_t del[10];
            for (int i = 0; i < 10; i++) del[i] = r + 5 * i;
            assert_int_equal(scann_index_remove(ix, 10, del, NULL), SCANN_OK);
        }
        __atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
        for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
        assert_true(st.searches > batch); /* searches really ran between the writes */
        /* Every live id is found by its own vector; removed ids never appear. */
        for (int64_t r = 0; r < NB; r += 11) {
            int removed = r >= 1000 && (r - 1000) % 50 < 50 && ((r - 1000) % 50) % 5 == 0;
            int64_t got = find_self(ix, r, NULL);
            if (removed)
                assert_true(got != r);
            else
                assert_int_equal(got, r);
        }
        scann_index_free(ix);
    }
}

/* The lists' arrays live in one huge-page slab after the first add (ivf_pack), and move out of
 * it one list at a time when later adds outgrow their room; a save and load packs them again.
 * Through all of that, an index built in pieces answers exactly as one built by a single add of
 * the same rows: same ids, same distances. */
static void test_list_storage_moves(void **state)
{
    (void)state;
    static const char *specs[] = {"IVF_FLAT,nlist=16", "SCANN,nlist=16,dims_per_block=4",
                                  "SCANN,nlist=16,reorder=int8"};
    enum { NQ = 40, PIECE = 1200, ONES = 60 };
    for (int s = 0; s < 3; s++) {
        scann_index *whole = build(specs[s], NB, 2), *parts = build(specs[s], NB, 2);
        assert_int_equal(scann_index_add(whole, NB, D, base, NULL), SCANN_OK);
        int64_t *ids = malloc(sizeof(int64_t) * NB);
        for (int i = 0; i < NB; i++) ids[i] = i;
        /* A first add (packed), vectors one at a time (their lists leave the slab), a small
         * batch, then the rest. */
        assert_int_equal(scann_index_add(parts, PIECE, D, base, ids), SCANN_OK);
        for (int i = PIECE; i < PIECE + ONES; i++)
            assert_int_equal(scann_index_add(parts, 1, D, base + (size_t)i * D, ids + i), SCANN_OK);
        int at = PIECE + ONES;
        assert_int_equal(scann_index_add(parts, 100, D, base + (size_t)at * D, ids + at), SCANN_OK);
        at += 100;
        assert_int_equal(scann_index_add(parts, NB - at, D, base + (size_t)at * D, ids + at),
                         SCANN_OK);
        assert_int_equal(scann_index_ntotal(parts), NB);
        scann_search_params sp = {.nprobe = 16, .reorder_k = 50};
        float dw[NQ * K], dp[NQ * K];
        int64_t iw[NQ * K], ip[NQ * K];
        const float *q = base + (size_t)7 * D; /* stored rows, every 37th */
        for (int i = 0; i < NQ; i++) {
            assert_int_equal(scann_index_search(whole, 1, D, q + (size_t)i * 37 * D, K, &sp,
                                                dw + i * K, iw + i * K),
                             SCANN_OK);
            assert_int_equal(scann_index_search(parts, 1, D, q + (size_t)i * 37 * D, K, &sp,
                                                dp + i * K, ip + i * K),
                             SCANN_OK);
        }
        assert_memory_equal(iw, ip, sizeof iw);
        assert_memory_equal(dw, dp, sizeof dw);
        /* Saved and loaded (packed again), it still answers the same. */
        void *bytes = NULL;
        size_t nbytes = 0;
        scann_index *back = NULL;
        assert_int_equal(scann_index_save_buffer(parts, &bytes, &nbytes), SCANN_OK);
        assert_int_equal(scann_index_load_buffer(bytes, nbytes, &back), SCANN_OK);
        scann_buffer_free(bytes);
        for (int i = 0; i < NQ; i++)
            assert_int_equal(scann_index_search(back, 1, D, q + (size_t)i * 37 * D, K, &sp,
                                                dp + i * K, ip + i * K),
                             SCANN_OK);
        assert_memory_equal(iw, ip, sizeof iw);
        assert_memory_equal(dw, dp, sizeof dw);
        scann_index_free(back);
        /* Removing from packed and loose lists alike keeps every other vector findable. */
        int64_t del[NB / 4];
        for (int i = 0; i < NB / 4; i++) del[i] = 4 * i;
        assert_int_equal(scann_index_remove(parts, NB / 4, del, NULL), SCANN_OK);
        for (int i = 1; i < NB; i += 13)
            if (i % 4) assert_int_equal(find_self(parts, i, NULL), i);
        free(ids);
        scann_index_free(whole);
        scann_index_free(parts);
    }
}

static void test_remove_errors(void **state)
{
    scann_index *ix;
    assert_int_equal(scann_index_create_from_spec("IVF_FLAT,nlist=4", D, SCANN_METRIC_L2, &ix),
                     SCANN_OK);
    int64_t id = 3, removed = 9;
    assert_int_equal(scann_index_remove(ix, 1, &id, &removed), SCANN_OK); /* empty: nothing */
    assert_int_equal(removed, 0);
    assert_int_equal(scann_index_remove(ix, -1, &id, NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_remove(ix, 1, NULL, NULL), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(scann_index_remove(NULL, 1, &id, NULL), SCANN_ERR_INVALID_ARGUMENT);
    scann_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remove_and_upsert),
        cmocka_unit_test(test_filtered_search),
        cmocka_unit_test(test_concurrent_search_add_remove),
        cmocka_unit_test(test_list_storage_moves),
        cmocka_unit_test(test_remove_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
