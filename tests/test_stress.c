/* test_stress.c - every index kind under concurrent adds (automatic and explicit ids),
 * upserts, removes and searches for a bounded time; afterwards the index must hold exactly what
 * the writers' own bookkeeping says: every live id once, found by its own vector where the
 * rerank is exact, and no removed id back. Run in the TSan build too (make test). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "scann.h"
#include "testdata.h"

#define D 16
#define K 5
#define NROWS 6000
#define AUTO_ROWS 1000 /* rows [0, 1000) feed the automatic-id adder */
#define NEXPL 200      /* explicit ids BASE + [0, 200), rows 1000 + version * 200 + i */
#define VERSIONS 25
#define BASE ((int64_t)1 << 40)

static const char *kinds[] = {"FLAT", "IVF_FLAT,nlist=8", "IVF_PQ,nlist=8,m=8,reorder=float",
                              "SCANN,nlist=8", "SCANN,nlist=8,reorder=none,dims_per_block=4"};
#define NKINDS 5

static float *data;

static int setup(void **state)
{
    data = td_random(NROWS, D, 11);
    return data ? 0 : -1;
}

static int teardown(void **state)
{
    free(data);
    return 0;
}

typedef struct shared {
    scann_index *ix;
    double stop_at; /* CLOCK_MONOTONIC seconds */
    int64_t auto_added;
    int version[NEXPL]; /* explicit writer's model: -1 = not held, else the row version */
    scann_status fail;  /* first unexpected status of any thread */
    int searches;
} shared;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const float *expl_row(int i, int version)
{
    return data + (size_t)(AUTO_ROWS + version * NEXPL + i) * D;
}

static void note(shared *s, scann_status st)
{
    if (st && !s->fail) __atomic_store_n(&s->fail, st, __ATOMIC_RELAXED);
}

static void *auto_adder(void *arg)
{
    shared *s = arg;
    for (int r = 0; now() < s->stop_at; r++) {
        if (s->auto_added > 20000) { /* enough: keep the final checks short */
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            continue;
        }
        int n = 1 + r % 37;
        scann_status st =
            scann_index_add(s->ix, n, D, data + (size_t)(r * 37 % (AUTO_ROWS - 40)) * D, NULL);
        note(s, st);
        if (!st) s->auto_added += n;
    }
    return NULL;
}

/* Adds, upserts (a new version of the row) and removes explicit ids, one small batch at a
 * time, keeping its model in step: it is the only writer of these ids. */
static void *explicit_writer(void *arg)
{
    shared *s = arg;
    uint64_t rng = 99;
    /* The largest id first: automatic ids then start above the whole explicit range. */
    int64_t top = BASE + NEXPL - 1;
    note(s, scann_index_add(s->ix, 1, D, expl_row(NEXPL - 1, 0), &top));
    s->version[NEXPL - 1] = 0;
    while (now() < s->stop_at) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int i = (int)(rng >> 33) % NEXPL, op = (int)(rng >> 20) % 3;
        int64_t id = BASE + i;
        if (op < 2) { /* add or upsert */
            int v = s->version[i] + 1;
            if (v >= VERSIONS) continue;
            scann_status st = scann_index_add(s->ix, 1, D, expl_row(i, v), &id);
            note(s, st);
            if (!st) s->version[i] = v;
        } else {
            int64_t removed = -1;
            note(s, scann_index_remove(s->ix, 1, &id, &removed));
            if (removed != (s->version[i] >= 0 ? 1 : 0)) note(s, SCANN_ERR_INTERNAL);
            if (removed >= 0) s->version[i] = -1;
        }
    }
    return NULL;
}

static void *searcher(void *arg)
{
    shared *s = arg;
    float dist[4 * K];
    int64_t ids[4 * K];
    scann_search_params sp = {.nprobe = 0, .num_threads = 2};
    for (int r = 0; now() < s->stop_at; r++) {
        scann_status st = scann_index_search(s->ix, 1 + r % 4, D, data + (size_t)(r % 500) * D, K,
                                             &sp, dist, ids);
        if (st == SCANN_ERR_EMPTY || st == SCANN_ERR_INVALID_ARGUMENT) continue; /* k > ntotal */
        note(s, st);
        __atomic_add_fetch(&s->searches, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Changes the thread count and saves while everything else runs. */
static void *tinkerer(void *arg)
{
    shared *s = arg;
    for (int r = 0; now() < s->stop_at; r++) {
        note(s, scann_index_set_num_threads(s->ix, r % 3));
        void *buf;
        size_t len;
        scann_status st = scann_index_save_buffer(s->ix, &buf, &len);
        note(s, st);
        if (!st) {
            scann_index *back;
            note(s, scann_index_load_buffer(buf, len, &back));
            scann_index_free(back);
            scann_buffer_free(buf);
        }
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    for (int t = 0; t < NKINDS; t++) {
        shared s = {0};
        scann_index_params p;
        assert_int_equal(scann_index_params_parse(kinds[t], D, SCANN_METRIC_L2, &p), SCANN_OK);
        p.num_threads = 2;
        assert_int_equal(scann_index_create(&p, &s.ix), SCANN_OK);
        TD_EXPECT(scann_index_train(s.ix, 2000, D, data), SCANN_OK, NULL);
        for (int i = 0; i < NEXPL; i++) s.version[i] = -1;
        s.stop_at = now() + 1.0;
        pthread_t th[5];
        pthread_create(&th[0], NULL, auto_adder, &s);
        pthread_create(&th[1], NULL, explicit_writer, &s);
        pthread_create(&th[2], NULL, searcher, &s);
        pthread_create(&th[3], NULL, searcher, &s);
        pthread_create(&th[4], NULL, tinkerer, &s);
        for (int i = 0; i < 5; i++) pthread_join(th[i], NULL);
        assert_int_equal(s.fail, SCANN_OK);

        int64_t live = 0;
        for (int i = 0; i < NEXPL; i++) live += s.version[i] >= 0;
        print_message("%s: %lld automatic adds, %lld explicit ids live, %d searches\n", kinds[t],
                      (long long)s.auto_added, (long long)live, s.searches);
        assert_int_equal(scann_index_ntotal(s.ix), s.auto_added + live);
        /* Live explicit ids: found by their own (unique) vector where rerank is exact. */
        int exact = t < 4;
        for (int i = 0; i < NEXPL && exact; i++) {
            if (s.version[i] < 0) continue;
            float dist[K];
            int64_t ids[K];
            scann_search_params sp = {.nprobe = t == 0 ? 0 : 8, .reorder_k = 200};
            TD_EXPECT(scann_index_search(s.ix, 1, D, expl_row(i, s.version[i]), K, &sp, dist, ids),
                      SCANN_OK, NULL);
            assert_int_equal(ids[0], BASE + i);
        }
        /* Each live explicit id is held once, a removed one not at all; after removing them,
         * only the automatic adds remain, so those ids were all distinct from them too. */
        for (int i = 0; i < NEXPL; i++) {
            int64_t id = BASE + i, removed = -1;
            TD_EXPECT(scann_index_remove(s.ix, 1, &id, &removed), SCANN_OK, NULL);
            assert_int_equal(removed, s.version[i] >= 0 ? 1 : 0);
        }
        assert_int_equal(scann_index_ntotal(s.ix), s.auto_added);
        /* Automatic ids are distinct: they lie below the explicit range (adds before the
         * explicit writer's first) or right above it, and removing them one at a time removes
         * at most one vector each and all of them in the end. */
        int64_t removed = 0, starts[2] = {0, BASE + NEXPL};
        for (int r = 0; r < 2; r++)
            for (int64_t a = starts[r]; a < starts[r] + s.auto_added; a++) {
                int64_t got = 0;
                TD_EXPECT(scann_index_remove(s.ix, 1, &a, &got), SCANN_OK, NULL);
                assert_true(got <= 1);
                removed += got;
            }
        assert_int_equal(removed, s.auto_added);
        assert_int_equal(scann_index_ntotal(s.ix), 0);
        scann_index_free(s.ix);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_concurrent_updates)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
