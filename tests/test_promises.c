/* test_promises.c - what scann.h promises, tried adversarially (issue "keep every promise"):
 * automatic ids that never repeat, cancellation that leaves the index as it was, bounded
 * inputs, describe round trips, stale temporary files, what a load may allocate, and searches
 * from several threads sharing the index's pool and scratch. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "scann.h"
#include "testdata.h"

#define D 16
#define K 5

static const char *kinds[] = {"FLAT", "IVF_FLAT,nlist=8", "IVF_PQ,nlist=8,m=8,reorder=float",
                              "SCANN,nlist=8", "SCANN,nlist=8,reorder=none"};
#define NKINDS 5

static float *data; /* 4000 x D uniform rows */
#define NDATA 4000

static int setup(void **state)
{
    data = td_random(NDATA, D, 7);
    return data ? 0 : -1;
}

static int teardown(void **state)
{
    free(data);
    return 0;
}

static scann_index *make(const char *spec, scann_metric m, int64_t ntrain,
                         scann_progress_fn progress, void *user)
{
    scann_index_params p;
    TD_EXPECT(scann_index_params_parse(spec, D, m, &p), SCANN_OK, NULL);
    p.num_threads = 2;
    p.progress = progress;
    p.progress_user_data = user;
    scann_index *ix;
    TD_EXPECT(scann_index_create(&p, &ix), SCANN_OK, NULL);
    if (ntrain) TD_EXPECT(scann_index_train(ix, ntrain, D, data), SCANN_OK, NULL);
    return ix;
}

/* Search all lists for one stored vector's id: -1 when no vector has it. */
static int64_t count_id(scann_index *ix, int64_t id)
{
    int64_t removed = 0;
    /* remove reports how many vectors held the id; add it back is not needed by callers. */
    TD_EXPECT(scann_index_remove(ix, 1, &id, &removed), SCANN_OK, NULL);
    return removed;
}

/* ---- automatic ids ------------------------------------------------------------------------ */

static void test_auto_ids_never_repeat(void **state)
{
    for (int t = 0; t < NKINDS; t++) {
        scann_index *ix = make(kinds[t], SCANN_METRIC_L2, 1000, NULL, NULL);
        TD_EXPECT(scann_index_add(ix, 10, D, data, NULL), SCANN_OK, NULL); /* ids 0..9 */
        int64_t three = 3, removed = 0;
        TD_EXPECT(scann_index_remove(ix, 1, &three, &removed), SCANN_OK, NULL);
        assert_int_equal(removed, 1);
        TD_EXPECT(scann_index_add(ix, 1, D, data + 10 * D, NULL), SCANN_OK, NULL); /* id 10 */
        assert_int_equal(scann_index_ntotal(ix), 10);
        assert_int_equal(count_id(ix, 9), 1); /* the old bug gave id 9 twice */
        assert_int_equal(count_id(ix, 10), 1);
        /* An explicit id raises the counter: automatic ids continue above it. */
        int64_t big = 1000;
        TD_EXPECT(scann_index_add(ix, 1, D, data + 11 * D, &big), SCANN_OK, NULL);
        TD_EXPECT(scann_index_add(ix, 1, D, data + 12 * D, NULL), SCANN_OK, NULL);
        assert_int_equal(count_id(ix, 1001), 1);
        assert_int_equal(count_id(ix, 1000), 1);
        /* Removed ids stay used across save and load. */
        void *buf;
        size_t len;
        TD_EXPECT(scann_index_save_buffer(ix, &buf, &len), SCANN_OK, NULL);
        scann_index *back;
        TD_EXPECT(scann_index_load_buffer(buf, len, &back), SCANN_OK, NULL);
        TD_EXPECT(scann_index_add(back, 1, D, data + 13 * D, NULL), SCANN_OK, NULL);
        assert_int_equal(count_id(back, 1002), 1);
        scann_buffer_free(buf);
        scann_index_free(back);
        /* An id at the top of the range leaves no automatic ids: an error, not a wrap. */
        int64_t top = INT64_MAX;
        TD_EXPECT(scann_index_add(ix, 1, D, data + 14 * D, &top), SCANN_OK, NULL);
        TD_EXPECT(scann_index_add(ix, 1, D, data + 15 * D, NULL), SCANN_ERR_INVALID_ARGUMENT,
                  "automatic ids");
        scann_index_free(ix);
    }
}

typedef struct adder {
    scann_index *ix;
    int rounds, per;
    scann_status st;
} adder;

static void *add_auto(void *arg)
{
    adder *a = arg;
    for (int r = 0; r < a->rounds && !a->st; r++)
        a->st = scann_index_add(a->ix, a->per, D, data + (size_t)(r % 10) * a->per * D, NULL);
    return NULL;
}

static void test_auto_ids_concurrent(void **state)
{
    for (int t = 0; t < NKINDS; t++) {
        scann_index *ix = make(kinds[t], SCANN_METRIC_L2, 1000, NULL, NULL);
        adder a[2] = {{ix, 20, 100, SCANN_OK}, {ix, 20, 100, SCANN_OK}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, add_auto, &a[i]);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        assert_int_equal(a[0].st, SCANN_OK);
        assert_int_equal(a[1].st, SCANN_OK);
        assert_int_equal(scann_index_ntotal(ix), 4000);
        /* Every id 0..3999 held by exactly one vector. */
        int64_t *ids = malloc(4000 * sizeof(int64_t)), removed = 0;
        for (int i = 0; i < 4000; i++) ids[i] = i;
        TD_EXPECT(scann_index_remove(ix, 4000, ids, &removed), SCANN_OK, NULL);
        assert_int_equal(removed, 4000);
        assert_int_equal(scann_index_ntotal(ix), 0);
        free(ids);
        scann_index_free(ix);
    }
}

/* ---- cancellation ------------------------------------------------------------------------- */

typedef struct canceller {
    int calls;     /* polls seen */
    int cancel_at; /* cancel on this call (1-based); 0 = never */
} canceller;

static int cancel_cb(void *user, const char *stage, double frac)
{
    canceller *c = user;
    assert_true(frac >= 0 && frac <= 1.0 + 1e-9);
    c->calls++;
    return c->cancel_at && c->calls == c->cancel_at;
}

static void search_all(scann_index *ix, float *dist, int64_t *ids)
{
    scann_search_params sp = {.nprobe = scann_index_get_kind(ix) == SCANN_INDEX_FLAT ? 0 : 8,
                              .num_threads = 1};
    TD_EXPECT(scann_index_search(ix, 20, D, data + 3000 * D, K, &sp, dist, ids), SCANN_OK, NULL);
}

static void test_cancel_leaves_index_unchanged(void **state)
{
    /* FLAT trains nothing and adds with one copy, so it has no long step to poll. */
    for (int t = 1; t < NKINDS; t++) {
        /* Train: count the polls, then cancel at the first and at the last of them. */
        canceller c = {0, 0};
        scann_index *ix = make(kinds[t], SCANN_METRIC_IP, 0, cancel_cb, &c);
        TD_EXPECT(scann_index_train(ix, 2000, D, data), SCANN_OK, NULL);
        int train_polls = c.calls;
        assert_true(train_polls >= 2);
        scann_index_free(ix);
        for (int at = 1; at <= train_polls; at += train_polls - 1) {
            c = (canceller){0, at};
            ix = make(kinds[t], SCANN_METRIC_IP, 0, cancel_cb, &c);
            TD_EXPECT(scann_index_train(ix, 2000, D, data), SCANN_ERR_CANCELLED, "cancelled");
            assert_int_equal(scann_index_is_trained(ix), 0);
            scann_index_free(ix);
        }
        /* Add: a cancelled add, at any poll, leaves ntotal and every result as they were. */
        c = (canceller){0, 0};
        ix = make(kinds[t], SCANN_METRIC_IP, 2000, cancel_cb, &c);
        TD_EXPECT(scann_index_add(ix, 1000, D, data, NULL), SCANN_OK, NULL);
        float d0[20 * K], d1[20 * K];
        int64_t i0[20 * K], i1[20 * K];
        search_all(ix, d0, i0);
        c = (canceller){0, 0};
        scann_index *probe = make(kinds[t], SCANN_METRIC_IP, 2000, cancel_cb, &c);
        c = (canceller){0, 0};
        TD_EXPECT(scann_index_add(probe, 1000, D, data + 1000 * D, NULL), SCANN_OK, NULL);
        int add_polls = c.calls;
        scann_index_free(probe);
        print_message("%s: %d polls in train, %d in add\n", kinds[t], train_polls, add_polls);
        assert_true(add_polls >= 1);
        for (int at = 1; at <= add_polls; at++) {
            c = (canceller){0, at};
            TD_EXPECT(scann_index_add(ix, 1000, D, data + 1000 * D, NULL), SCANN_ERR_CANCELLED,
                      "cancelled");
            assert_int_equal(scann_index_ntotal(ix), 1000);
            search_all(ix, d1, i1);
            assert_memory_equal(i0, i1, sizeof i0);
            assert_memory_equal(d0, d1, sizeof d0);
        }
        /* And the index still works: the same add, uncancelled, lands with fresh ids. */
        c = (canceller){0, 0};
        TD_EXPECT(scann_index_add(ix, 1000, D, data + 1000 * D, NULL), SCANN_OK, NULL);
        assert_int_equal(scann_index_ntotal(ix), 2000);
        scann_index_free(ix);
    }
}

/* ---- bounded inputs ----------------------------------------------------------------------- */

static void test_bounds(void **state)
{
    scann_index *ix = make("IVF_PQ,nlist=8,m=8,reorder=float", SCANN_METRIC_L2, 1000, NULL, NULL);
    TD_EXPECT(scann_index_add(ix, 1000, D, data, NULL), SCANN_OK, NULL);
    float dist[K];
    int64_t ids[K];
    /* 10 * k overflowed an int before k was checked against ntotal. */
    TD_EXPECT(scann_index_search(ix, 1, D, data, INT_MAX, NULL, dist, ids),
              SCANN_ERR_INVALID_ARGUMENT, "k=2147483647");
    scann_search_params sp = {.num_threads = 1 << 30};
    TD_EXPECT(scann_index_search(ix, 1, D, data, K, &sp, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              "num_threads");
    scann_index_free(ix);
    /* nprobe above nlist cannot be created, from a spec or from params. */
    TD_EXPECT(scann_index_create_from_spec("IVF_FLAT,nlist=4,nprobe=8", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "nprobe=8");
    /* With nlist left to train, a larger nprobe is lowered to the nlist chosen. */
    TD_EXPECT(scann_index_create_from_spec("IVF_FLAT,nprobe=64", D, SCANN_METRIC_L2, &ix), SCANN_OK,
              NULL);
    TD_EXPECT(scann_index_train(ix, 100, D, data), SCANN_OK, NULL); /* nlist = 10 */
    TD_EXPECT(scann_index_add(ix, 100, D, data, NULL), SCANN_OK, NULL);
    TD_EXPECT(scann_index_search(ix, 1, D, data, K, NULL, dist, ids), SCANN_OK, NULL);
    scann_index_free(ix);
}

/* Values whose squares overflow float are refused; large ones that fit give k results, the
 * same in a batch as one at a time. Around the 2^100 norm bound, where the input check's fast
 * float pass hands rows to its exact one: a squared norm of 2^102 (finite in float) is refused,
 * one of 2^98 accepted. */
static void test_extreme_magnitudes(void **state)
{
    float *x = malloc((size_t)600 * D * sizeof(float));
    for (int i = 0; i < 600 * D; i++) x[i] = data[i] * 1e14f;
    for (int t = 0; t < NKINDS; t++)
        for (int m = 0; m <= 2; m++) {
            scann_index *ix;
            TD_EXPECT(scann_index_create_from_spec(kinds[t], D, (scann_metric)m, &ix), SCANN_OK,
                      NULL);
            float big[D] = {1e20f};
            TD_EXPECT(scann_index_train(ix, 1, D, big), SCANN_ERR_INVALID_DATA, "squared norm");
            TD_EXPECT(scann_index_train(ix, 600, D, x), SCANN_OK, NULL);
            TD_EXPECT(scann_index_add(ix, 1, D, big, NULL), SCANN_ERR_INVALID_DATA, "squared norm");
            TD_EXPECT(scann_index_add(ix, 600, D, x, NULL), SCANN_OK, NULL);
            float over[D] = {0x1p51f}, under[D] = {0x1p49f};
            float d0[K];
            int64_t i0[K];
            TD_EXPECT(scann_index_search(ix, 1, D, over, K, NULL, d0, i0), SCANN_ERR_INVALID_DATA,
                      "squared norm");
            TD_EXPECT(scann_index_search(ix, 1, D, under, K, NULL, d0, i0), SCANN_OK, NULL);
            scann_search_params sp = {.nprobe = t == 0 ? 0 : 8, .num_threads = 2};
            float db[8 * K], d1[K];
            int64_t ib[8 * K], i1[K];
            TD_EXPECT(scann_index_search(ix, 8, D, x, K, &sp, db, ib), SCANN_OK, NULL);
            for (int q = 0; q < 8; q++) {
                TD_EXPECT(scann_index_search(ix, 1, D, x + q * D, K, &sp, d1, i1), SCANN_OK, NULL);
                for (int j = 0; j < K; j++) {
                    assert_true(ib[q * K + j] >= 0);
                    assert_true(isfinite(db[q * K + j]));
                    assert_int_equal(ib[q * K + j], i1[j]);
                    assert_true(db[q * K + j] == d1[j]);
                }
            }
            scann_index_free(ix);
        }
    free(x);
}

/* ---- round trips -------------------------------------------------------------------------- */

static void test_describe_round_trip(void **state)
{
    const char *specs[] = {"FLAT",
                           "IVF_FLAT,nlist=8,nprobe=3,train_size=500,iters=4,seed=99",
                           "IVF_PQ,nlist=8,m=4,reorder=int8,reorder_k=50,seed=18446744073709551615",
                           "SCANN,nlist=8,dims_per_block=4,aq_threshold=0.123456789,reorder=bf16",
                           "SCANN",
                           "IVF_PQ"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
        for (int trained = 0; trained <= 1; trained++) {
            scann_index *ix;
            TD_EXPECT(scann_index_create_from_spec(specs[s], D, SCANN_METRIC_COSINE, &ix), SCANN_OK,
                      NULL);
            if (trained) TD_EXPECT(scann_index_train(ix, 1000, D, data), SCANN_OK, NULL);
            char desc[256];
            TD_EXPECT(scann_index_describe(ix, desc, sizeof desc), SCANN_OK, NULL);
            scann_index_params p;
            print_message("%s -> %s\n", specs[s], desc);
            TD_EXPECT(scann_index_params_parse(desc, D, SCANN_METRIC_COSINE, &p), SCANN_OK, NULL);
            scann_index *again;
            TD_EXPECT(scann_index_create(&p, &again), SCANN_OK, NULL);
            char desc2[256];
            TD_EXPECT(scann_index_describe(again, desc2, sizeof desc2), SCANN_OK, NULL);
            assert_string_equal(desc, desc2);
            if (trained) { /* the trained index's parameters, field by field */
                scann_index_params q;
                TD_EXPECT(scann_index_params_parse(desc2, D, SCANN_METRIC_COSINE, &q), SCANN_OK,
                          NULL);
                assert_int_equal(p.kind, q.kind);
                assert_int_equal(p.nlist, q.nlist);
                assert_int_equal(p.nprobe, q.nprobe);
                assert_int_equal(p.reorder_k, q.reorder_k);
                assert_int_equal(p.seed, q.seed);
                assert_memory_equal(&p.aq_threshold, &q.aq_threshold, sizeof(float));
                assert_int_equal(p.reorder, q.reorder);
            }
            scann_index_free(again);
            scann_index_free(ix);
        }
}

/* ---- files -------------------------------------------------------------------------------- */

static void test_stale_temp_files_removed(void **state)
{
    char dir[] = "/tmp/scann-promises-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], dead[320], live[320];
    snprintf(path, sizeof path, "%s/ix.scann", dir);
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0); /* its pid is now free: a killed saver's */
    snprintf(dead, sizeof dead, "%s.tmp.%ld.7f00aa", path, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld.7f00aa", path, (long)getppid());
    FILE *f = fopen(dead, "w");
    fputs("half a file", f);
    fclose(f);
    f = fopen(live, "w");
    fclose(f);
    scann_index *ix = make("FLAT", SCANN_METRIC_L2, 0, NULL, NULL);
    TD_EXPECT(scann_index_add(ix, 10, D, data, NULL), SCANN_OK, NULL);
    TD_EXPECT(scann_index_save(ix, path), SCANN_OK, NULL);
    struct stat sb;
    assert_int_not_equal(stat(dead, &sb), 0); /* removed */
    assert_int_equal(stat(live, &sb), 0);     /* a live process's file is left alone */
    unlink(live);
    unlink(path);
    rmdir(dir);
    scann_index_free(ix);
}

/* An IVF_PQ file with many lists and one-dimensional blocks used to make the loader allocate
 * 256 floats per (list, block): far more than the file. Now what a load allocates stays within
 * a fixed multiple of the file, and results do not depend on whether the tables were made. */
static void test_load_allocation_bounded(void **state)
{
    scann_index *ix;
    TD_EXPECT(scann_index_create_from_spec("IVF_PQ,nlist=256,m=8", D, SCANN_METRIC_L2, &ix),
              SCANN_OK, NULL);
    TD_EXPECT(scann_index_train(ix, 300, D, data), SCANN_OK, NULL);
    TD_EXPECT(scann_index_add(ix, 300, D, data, NULL), SCANN_OK, NULL);
    void *buf;
    size_t len, mem;
    TD_EXPECT(scann_index_save_buffer(ix, &buf, &len), SCANN_OK, NULL);
    scann_index *back;
    TD_EXPECT(scann_index_load_buffer(buf, len, &back), SCANN_OK, NULL);
    TD_EXPECT(scann_index_memory(back, &mem), SCANN_OK, NULL);
    print_message("IVF_PQ nlist=256 m=8: file %zu bytes, loaded index %zu bytes\n", len, mem);
    assert_true(mem <= 17 * len);
    /* Grow it until the precomputed tables pay off, and compare the two paths on the first
     * 300 ids (an allow-list and every list probed: the same candidates, so the same floats). */
    float q1[10 * K], q2[10 * K];
    int64_t i1[10 * K], i2[10 * K];
    uint64_t bits[5] = {~0ull, ~0ull, ~0ull, ~0ull, (1ull << 44) - 1};
    scann_search_params sp = {.nprobe = 256, .allow_bits = bits, .allow_nbits = 300};
    TD_EXPECT(scann_index_search(back, 10, D, data + 3000 * D, K, &sp, q1, i1), SCANN_OK, NULL);
    size_t before;
    TD_EXPECT(scann_index_memory(back, &before), SCANN_OK, NULL);
    for (int r = 0; r < 5; r++)
        TD_EXPECT(scann_index_add(back, 3500, D, data + 300 * D, NULL), SCANN_OK, NULL);
    TD_EXPECT(scann_index_memory(back, &mem), SCANN_OK, NULL);
    assert_true(mem > before + 256 * 8 * 256 * 4); /* the tables are now there */
    TD_EXPECT(scann_index_search(back, 10, D, data + 3000 * D, K, &sp, q2, i2), SCANN_OK, NULL);
    assert_memory_equal(i1, i2, sizeof i1);
    assert_memory_equal(q1, q2, sizeof q1);
    scann_buffer_free(buf);
    scann_index_free(back);
    scann_index_free(ix);
}

/* Random adds, upserts and removes against a model, checked through reconstruct after every
 * step: the id map must follow every append, move (a removal fills its hole with the list's
 * last vector) and removal. */
static void test_id_map_follows_updates(void **state)
{
    const char *exact[] = {"FLAT", "IVF_FLAT,nlist=4", "SCANN,nlist=4"};
    enum { NIDS = 300 };
    for (int t = 0; t < 3; t++) {
        scann_index *ix = make(exact[t], SCANN_METRIC_L2, 1000, NULL, NULL);
        int row[NIDS]; /* the data row id i holds, or -1 */
        for (int i = 0; i < NIDS; i++) row[i] = -1;
        uint64_t rng = 5;
        for (int step = 0; step < 400; step++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int n = 1 + (int)(rng >> 60), op = (int)(rng >> 40) % 3;
            int64_t ids[16];
            for (int i = 0; i < n; i++) { /* distinct ids in one call */
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                ids[i] = (int64_t)((rng >> 33) % NIDS);
                for (int j = 0; j < i; j++)
                    if (ids[j] == ids[i]) ids[i] = (ids[i] + 1) % NIDS, j = -1;
            }
            if (op < 2) {
                float x[16 * D];
                for (int i = 0; i < n; i++)
                    memcpy(x + i * D, data + (size_t)(step * 7 + i) % NDATA * D, sizeof(float) * D);
                TD_EXPECT(scann_index_add(ix, n, D, x, ids), SCANN_OK, NULL);
                for (int i = 0; i < n; i++) row[ids[i]] = (int)((size_t)(step * 7 + i) % NDATA);
            } else {
                int64_t removed, want = 0;
                for (int i = 0; i < n; i++) want += row[ids[i]] >= 0;
                TD_EXPECT(scann_index_remove(ix, n, ids, &removed), SCANN_OK, NULL);
                assert_int_equal(removed, want);
                for (int i = 0; i < n; i++) row[ids[i]] = -1;
            }
            if (step % 20) continue;
            int64_t live = 0;
            for (int64_t i = 0; i < NIDS; i++) {
                float got[D];
                if (row[i] < 0) {
                    TD_EXPECT(scann_index_reconstruct(ix, 1, &i, got), SCANN_ERR_INVALID_ARGUMENT,
                              "not in the index");
                    continue;
                }
                live++;
                TD_EXPECT(scann_index_reconstruct(ix, 1, &i, got), SCANN_OK, NULL);
                assert_memory_equal(got, data + (size_t)row[i] * D, sizeof got);
            }
            assert_int_equal(scann_index_ntotal(ix), live);
        }
        scann_index_free(ix);
    }
}

/* ---- searches from several threads share the index's pool and scratch ------------------- */

#define SHARE_CALLERS 4
#define SHARE_NQ 40

typedef struct share_job {
    scann_index *ix;
    const int64_t *want; /* SHARE_NQ * K ids, searched one at a time by one caller */
    int mismatches;
} share_job;

/* Alternating one-query calls and small batches on two threads: the pool is often busy with
 * another caller's search, so both the pool and the threads-per-call path run. */
static void *share_caller(void *arg)
{
    share_job *j = arg;
    scann_search_params sp = {.nprobe = 4, .num_threads = 2};
    float dist[SHARE_NQ * K];
    int64_t ids[SHARE_NQ * K];
    for (int r = 0; r < 20; r++) {
        int nq = r % 2 ? SHARE_NQ : 1;
        if (scann_index_search(j->ix, nq, D, data, K, &sp, dist, ids) != SCANN_OK) j->mismatches++;
        for (int i = 0; i < nq * K; i++) j->mismatches += ids[i] != j->want[i];
    }
    return NULL;
}

static void test_concurrent_searches_share_pool(void **state)
{
    for (int t = 0; t < NKINDS; t++) {
        scann_index *ix = make(kinds[t], SCANN_METRIC_L2, 2000, NULL, NULL);
        TD_EXPECT(scann_index_add(ix, 2000, D, data, NULL), SCANN_OK, NULL);
        size_t before, after;
        TD_EXPECT(scann_index_memory(ix, &before), SCANN_OK, NULL);
        scann_search_params one = {.nprobe = 4, .num_threads = 1};
        float dist[SHARE_NQ * K];
        int64_t want[SHARE_NQ * K];
        for (int q = 0; q < SHARE_NQ; q++)
            TD_EXPECT(scann_index_search(ix, 1, D, data + q * D, K, &one, dist, want + q * K),
                      SCANN_OK, NULL);
        pthread_t tid[SHARE_CALLERS];
        share_job jobs[SHARE_CALLERS];
        for (int c = 0; c < SHARE_CALLERS; c++) {
            jobs[c] = (share_job){ix, want, 0};
            assert_int_equal(pthread_create(&tid[c], NULL, share_caller, &jobs[c]), 0);
        }
        for (int c = 0; c < SHARE_CALLERS; c++) {
            pthread_join(tid[c], NULL);
            assert_int_equal(jobs[c].mismatches, 0);
        }
        /* What searches keep for the next ones is bounded: 4 cached blocks of 256 KiB. */
        TD_EXPECT(scann_index_memory(ix, &after), SCANN_OK, NULL);
        print_message("%s: %zu bytes of search scratch kept\n", kinds[t], after - before);
        assert_true(after >= before && after - before <= 4 * ((256 << 10) + 64));
        scann_index_free(ix); /* joins the pool */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_ids_never_repeat),
        cmocka_unit_test(test_auto_ids_concurrent),
        cmocka_unit_test(test_cancel_leaves_index_unchanged),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_extreme_magnitudes),
        cmocka_unit_test(test_describe_round_trip),
        cmocka_unit_test(test_stale_temp_files_removed),
        cmocka_unit_test(test_load_allocation_bounded),
        cmocka_unit_test(test_id_map_follows_updates),
        cmocka_unit_test(test_concurrent_searches_share_pool),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
