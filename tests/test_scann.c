/* test_scann.c - the SCANN index end to end on real Fashion-MNIST: recall floors with every
 * rerank store, memory of each store, more than 256 sub-spaces, identical answers whatever the
 * kernel ISA or thread count, bad parameters, the batch path answering exactly as one query at
 * a time does, ties broken by the smaller id whatever the scan order, and bf16 / int8 rows
 * scoring exactly the vector they stand for. */
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

#define NB 8000
#define NQ 200
#define K 10
#define D TD_FASHION_DIM

typedef td_fixture fixture;

static int setup(void **state)
{
    *state = td_fashion_fixture(NB, NQ, K);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    td_fixture_free(*state);
    return 0;
}

static scann_index *build(const char *spec, scann_metric m, const float *base, int threads)
{
    return td_build(spec, m, D, base, NB, threads);
}

static double recall(const fixture *f, scann_index *ix, const int64_t *gt, int nprobe,
                     int reorder_k, int64_t *ids_out)
{
    float *dist = malloc(sizeof(float) * NQ * K);
    int64_t *ids = ids_out ? ids_out : malloc(sizeof(int64_t) * NQ * K);
    scann_search_params sp = {.nprobe = nprobe, .reorder_k = reorder_k};
    if (scann_index_search(ix, NQ, D, f->query, K, &sp, dist, ids) != SCANN_OK)
        fail_msg("search: %s", scann_last_error());
    int64_t hits = 0;
    for (int q = 0; q < NQ; q++) {
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) hits += ids[q * K + i] == gt[q * K + j];
        for (int i = 1; i < K; i++) /* sorted best first in the user's convention */
            assert_true(scann_index_get_metric(ix) == SCANN_METRIC_L2
                            ? dist[q * K + i] >= dist[q * K + i - 1]
                            : dist[q * K + i] <= dist[q * K + i - 1]);
    }
    free(dist);
    if (!ids_out) free(ids);
    return (double)hits / (NQ * K);
}

static size_t memory(scann_index *ix)
{
    size_t m = 0;
    assert_int_equal(scann_index_memory(ix, &m), SCANN_OK);
    return m;
}

/* Cosine, 2 dims per block (392 sub-spaces > 256: the uint16 precision path), all stores. */
static void test_scann_cosine_stores(void **state)
{
    fixture *f = *state;
    const char *specs[] = {"SCANN,nlist=64,reorder=float", "SCANN,nlist=64,reorder=bf16",
                           "SCANN,nlist=64,reorder=int8", "SCANN,nlist=64,reorder=none"};
    double r[4];
    size_t mem[4];
    for (int s = 0; s < 4; s++) {
        scann_index *ix = build(specs[s], SCANN_METRIC_COSINE, f->base, 2);
        mem[s] = memory(ix); /* before searching: the scratch searches keep is not the store */
        r[s] = recall(f, ix, f->gt_cos, 8, 100, NULL);
        print_message("%-32s recall@10 %.3f  memory %zu bytes (%.1f per vector)\n", specs[s], r[s],
                      mem[s], (double)mem[s] / NB);
        scann_index_free(ix);
    }
    assert_true(r[0] >= 0.95); /* measured 1.000 */
    /* Cosine on Fashion-MNIST is a hard case for narrow stores: the true neighbours'
     * similarities differ in the third or fourth digit. Measured: bf16 0.984, int8 0.979. */
    assert_true(r[1] >= r[0] - 0.03);
    assert_true(r[2] >= r[0] - 0.035);
    assert_true(r[3] >= 0.5 && r[3] < r[0]); /* 4-bit codes alone: lower, as in the seed */
    /* Store sizes: float 4d, bf16 2d, int8 d + 4 (a per-vector step), none 0 bytes a vector;
     * narrow rows also carry a float and the 392 4-bit codes (196 bytes) for the rerank. */
    assert_true(mem[0] - mem[1] >= (size_t)NB * (D * 2 - 4 - 196) - 16384);
    assert_true(mem[1] - mem[2] >= (size_t)NB * (D - 4) - 16384); /* int8 rows: d + 4 */
    assert_true(mem[2] - mem[3] >= (size_t)NB * D - 16384);
    /* reorder=none: 392 codes of 4 bits = 196 bytes + an 8-byte id a vector; on top, per list
     * a centre and at most one partly filled block, and the 16-centre codebooks. */
    size_t bound = (size_t)NB * (196 + 8) + 64 * (32 * 196 + D * 4 + 256) + 16 * D * 4 + 65536;
    print_message("reorder=none: %zu bytes, bound %zu\n", mem[3], bound);
    assert_true(mem[3] <= bound);
}

/* bf16 / int8 rows are scored from the row alone (centre score from the probe, the code's
 * table sum, the error's inner product, and for L2 the row's own term): every returned
 * distance must be the exact distance to the vector the index stands for, which reconstruct
 * rebuilds the slow way (decoded error plus centre and code read back from the blocks). An odd
 * number of sub-spaces (dims_per_block 5: 157) covers the half-filled last code byte; updates
 * and a save / load round trip (format version 3) must keep it so. */
static void test_scann_narrow_rows_score_what_they_store(void **state)
{
    fixture *f = *state;
    const char *specs[] = {"SCANN,nlist=16,reorder=int8,dims_per_block=5",
                           "SCANN,nlist=16,reorder=bf16,dims_per_block=5"};
    const scann_metric metrics[] = {SCANN_METRIC_L2, SCANN_METRIC_IP, SCANN_METRIC_COSINE};
    float *dist = malloc(sizeof(float) * NQ * K), *x = malloc(sizeof(float) * NQ * K * D);
    int64_t *ids = malloc(sizeof(int64_t) * NQ * K);
    for (int si = 0; si < 2; si++)
        for (int mi = 0; mi < 3; mi++) {
            scann_metric m = metrics[mi];
            scann_index *ix = build(specs[si], m, f->base, 2);
            for (int round = 0; round < 3; round++) {
                if (round == 1) { /* remove every third vector, add some back under new ids */
                    int64_t rm[(NB + 2) / 3], n = 0;
                    for (int64_t i = 0; i < NB; i += 3) rm[n++] = i;
                    assert_int_equal(scann_index_remove(ix, n, rm, NULL), SCANN_OK);
                    int64_t nid[100];
                    for (int i = 0; i < 100; i++) nid[i] = NB + i;
                    assert_int_equal(scann_index_add(ix, 100, D, f->base, nid), SCANN_OK);
                }
                if (round == 2) { /* through a buffer: the rows keep their code */
                    void *buf = NULL;
                    size_t len = 0;
                    assert_int_equal(scann_index_save_buffer(ix, &buf, &len), SCANN_OK);
                    scann_index_free(ix);
                    ix = NULL;
                    assert_int_equal(scann_index_load_buffer(buf, len, &ix), SCANN_OK);
                    scann_buffer_free(buf);
                }
                scann_search_params sp = {.nprobe = 16, .reorder_k = 40};
                assert_int_equal(scann_index_search(ix, NQ, D, f->query, K, &sp, dist, ids),
                                 SCANN_OK);
                assert_int_equal(scann_index_reconstruct(ix, NQ * K, ids, x), SCANN_OK);
                double worst = 0;
                for (int q = 0; q < NQ; q++) {
                    const float *qv = f->query + (size_t)q * D;
                    double qn = 0;
                    for (int t = 0; t < D; t++) qn += (double)qv[t] * qv[t];
                    for (int i = 0; i < K; i++) {
                        const float *xv = x + ((size_t)q * K + i) * D;
                        double e = 0, ip = 0, xn = 0;
                        for (int t = 0; t < D; t++) {
                            e += ((double)qv[t] - xv[t]) * ((double)qv[t] - xv[t]);
                            ip += (double)qv[t] * xv[t], xn += (double)xv[t] * xv[t];
                        }
                        /* cosine: x is stored normalised, the query is normalised by search */
                        double want = m == SCANN_METRIC_L2   ? e
                                      : m == SCANN_METRIC_IP ? ip
                                                             : ip / sqrt(qn);
                        double scale = m == SCANN_METRIC_L2   ? qn + xn
                                       : m == SCANN_METRIC_IP ? sqrt(qn * xn)
                                                              : sqrt(xn);
                        double err = fabs(dist[q * K + i] - want) / (scale > 0 ? scale : 1);
                        if (err > worst) worst = err;
                    }
                }
                print_message("%s %s round %d: worst |distance - exact| / scale %.2e\n", specs[si],
                              scann_metric_name(m), round, worst);
                assert_true(worst < 1e-5);
            }
            scann_index_free(ix);
        }
    free(dist), free(x), free(ids);
}

static void test_scann_l2(void **state)
{
    fixture *f = *state;
    scann_index *ix =
        build("SCANN,nlist=64,dims_per_block=4,reorder=float", SCANN_METRIC_L2, f->base, 2);
    double r = recall(f, ix, f->gt_l2, 8, 100, NULL);
    print_message("SCANN L2 dims_per_block=4 recall@10 %.3f\n", r);
    assert_true(r >= 0.95);
    /* Recall grows with nprobe and with reorder_k. */
    assert_true(recall(f, ix, f->gt_l2, 2, 100, NULL) < r + 1e-9);
    assert_true(recall(f, ix, f->gt_l2, 8, 10, NULL) <= r + 1e-9);
    scann_index_free(ix);
}

/* The whole pipeline gives identical ids and scores whatever the ISA and the thread count. */
static void test_scann_same_answers_everywhere(void **state)
{
    fixture *f = *state;
    int64_t *a = malloc(sizeof(int64_t) * NQ * K), *b = malloc(sizeof(int64_t) * NQ * K);
    setenv("SCANN_FORCE_ISA", "scalar", 1);
    scann_index *ix = build("SCANN,nlist=32,reorder=none", SCANN_METRIC_COSINE, f->base, 1);
    unsetenv("SCANN_FORCE_ISA");
    assert_string_equal(scann_index_kernel_name(ix), "scalar");
    double ra = recall(f, ix, f->gt_cos, 4, 0, a);
    scann_index_free(ix);
    ix = build("SCANN,nlist=32,reorder=none", SCANN_METRIC_COSINE, f->base, 3);
    double rb = recall(f, ix, f->gt_cos, 4, 0, b);
    print_message("kernel %s vs scalar: recall %.3f vs %.3f\n", scann_index_kernel_name(ix), rb,
                  ra);
    assert_memory_equal(a, b, sizeof(int64_t) * NQ * K);
    /* A single query (split over threads) finds what the batch found. */
    float dist[K];
    int64_t one[K];
    scann_search_params sp = {.nprobe = 4, .num_threads = 2};
    for (int q = 0; q < NQ; q += 37) {
        assert_int_equal(scann_index_search(ix, 1, D, f->query + q * D, K, &sp, dist, one),
                         SCANN_OK);
        assert_memory_equal(one, b + q * K, sizeof one);
    }
    scann_index_free(ix);
    free(a), free(b);
}

static void test_scann_anisotropic_helps_inner_product(void **state)
{
    fixture *f = *state;
    /* Same codes size and reorder: only the encoding loss differs. ScaNN's absolute 0.2 suits
     * d = 100 but is too heavy a weight at d = 784 (eta about 33); the threshold chosen from
     * the data must do at least as well as plain PQ, and better than that fixed 0.2. */
    scann_index *plain =
        build("SCANN,nlist=32,aq_threshold=0,reorder=none", SCANN_METRIC_COSINE, f->base, 2);
    scann_index *fixed =
        build("SCANN,nlist=32,aq_threshold=0.2,reorder=none", SCANN_METRIC_COSINE, f->base, 2);
    scann_index *avq = build("SCANN,nlist=32,reorder=none", SCANN_METRIC_COSINE, f->base, 2);
    double rp = recall(f, plain, f->gt_cos, 8, 0, NULL),
           rf = recall(f, fixed, f->gt_cos, 8, 0, NULL);
    double ra = recall(f, avq, f->gt_cos, 8, 0, NULL);
    char desc[160];
    assert_int_equal(scann_index_describe(avq, desc, sizeof desc), SCANN_OK);
    print_message("cosine, no rerank: plain PQ %.3f, T=0.2 %.3f, chosen (%s) %.3f\n", rp, rf, desc,
                  ra);
    assert_true(ra >= rp - 0.01);
    assert_true(ra >= rf);
    scann_index_free(plain), scann_index_free(fixed), scann_index_free(avq);
}

static void test_scann_bad_parameters(void **state)
{
    fixture *f = *state;
    scann_index *ix;
    TD_EXPECT(scann_index_create_from_spec("SCANN,dims_per_block=800", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "dims_per_block=800");
    TD_EXPECT(scann_index_create_from_spec("SCANN,reorder=fp8", D, SCANN_METRIC_L2, &ix),
              SCANN_ERR_INVALID_ARGUMENT, "fp8");
    /* Unnamed, the rerank store follows d (kinds.c): float below 384 dimensions, int8 from 384. */
    static const struct {
        int dim;
        const char *desc;
    } defaults[] = {{100, "SCANN,dims_per_block=2,aq_threshold=0,reorder=float"},
                    {383, "SCANN,dims_per_block=2,aq_threshold=0,reorder=float"},
                    {384, "SCANN,dims_per_block=2,aq_threshold=0,reorder=int8"},
                    {D, "SCANN,dims_per_block=4,aq_threshold=0,reorder=int8"}};
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        char d0[160];
        TD_EXPECT(scann_index_create_from_spec("SCANN", defaults[i].dim, SCANN_METRIC_L2, &ix),
                  SCANN_OK, NULL);
        TD_EXPECT(scann_index_describe(ix, d0, sizeof d0), SCANN_OK, NULL);
        assert_string_equal(d0, defaults[i].desc);
        scann_index_free(ix);
    }
    TD_EXPECT(scann_index_create_from_spec("SCANN,nlist=16,reorder=float", D, SCANN_METRIC_L2, &ix),
              SCANN_OK, NULL);
    float dist[K];
    int64_t ids[K];
    TD_EXPECT(scann_index_search(ix, 1, D, f->query, K, NULL, dist, ids), SCANN_ERR_NOT_TRAINED,
              NULL);
    TD_EXPECT(scann_index_train(ix, 8, D, f->base), SCANN_ERR_INVALID_ARGUMENT, NULL);
    TD_EXPECT(scann_index_train(ix, 500, D, f->base), SCANN_OK, NULL);
    TD_EXPECT(scann_index_add(ix, 500, D, f->base, NULL), SCANN_OK, NULL);
    scann_search_params sp = {.reorder_k = 5};
    TD_EXPECT(scann_index_search(ix, 1, D, f->query, K, &sp, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              "reorder_k=5");
    sp = (scann_search_params){.nprobe = 17};
    TD_EXPECT(scann_index_search(ix, 1, D, f->query, K, &sp, dist, ids), SCANN_ERR_INVALID_ARGUMENT,
              "nprobe=17");
    /* Lists shorter than a block and not a multiple of 32: every stored vector finds itself. */
    sp = (scann_search_params){.nprobe = 16, .reorder_k = 50};
    for (int i = 0; i < 500; i += 7) {
        TD_EXPECT(scann_index_search(ix, 1, D, f->base + i * D, K, &sp, dist, ids), SCANN_OK, NULL);
        assert_int_equal(ids[0], i);
        assert_true(dist[0] == 0.0f);
    }
    char desc[160];
    TD_EXPECT(scann_index_describe(ix, desc, sizeof desc), SCANN_OK, NULL);
    assert_string_equal(desc, "SCANN,nlist=16,dims_per_block=4,aq_threshold=0,reorder=float");
    scann_index_free(ix);
}

/* The batch path (many queries in one call: lists scanned once for several queries with the
 * multi-query kernels) returns exactly what queries searched one at a time return: the same
 * ids and the same distances, bit for bit, with and without rerank, for inner product (per
 * list bias) and L2, on every kernel ISA the CPU runs, with and without a filter. One query at
 * a time is also run on two threads, where each query's lists are split between threads. */
static void expect_batch_matches_single(const fixture *f, const char *spec, scann_metric metric,
                                        const char *isa, int nprobe, int reorder_k,
                                        const uint64_t *allow)
{
    if (isa) setenv("SCANN_FORCE_ISA", isa, 1);
    scann_index *ix = build(spec, metric, f->base, 2);
    unsetenv("SCANN_FORCE_ISA");
    float *bd = malloc(sizeof(float) * NQ * K), one_d[K];
    int64_t *bi = malloc(sizeof(int64_t) * NQ * K), one_i[K];
    scann_search_params sp = {.nprobe = nprobe,
                              .reorder_k = reorder_k,
                              .num_threads = 2,
                              .allow_bits = allow,
                              .allow_nbits = allow ? NB : 0};
    assert_int_equal(scann_index_search(ix, NQ, D, f->query, K, &sp, bd, bi), SCANN_OK);
    int found = 0;
    for (int q = 0; q < NQ; q++) {
        for (int threads = 1; threads <= 2; threads++) {
            if (threads == 2 && q % 5) continue;
            sp.num_threads = threads;
            assert_int_equal(scann_index_search(ix, 1, D, f->query + q * D, K, &sp, one_d, one_i),
                             SCANN_OK);
            for (int i = 0; i < K; i++)
                if (one_i[i] != bi[q * K + i] || memcmp(&one_d[i], &bd[q * K + i], sizeof(float)))
                    fail_msg("%s (%s, nprobe %d, reorder_k %d) query %d rank %d, %d threads: "
                             "batch (%lld, %.9g) vs alone (%lld, %.9g)",
                             spec, scann_index_kernel_name(ix), nprobe, reorder_k, q, i, threads,
                             (long long)bi[q * K + i], bd[q * K + i], (long long)one_i[i],
                             one_d[i]);
        }
        found += bi[q * K] >= 0;
        for (int i = 0; allow && i < K; i++)
            assert_true(bi[q * K + i] >= 0 &&
                        (allow[bi[q * K + i] >> 6] >> (bi[q * K + i] & 63) & 1));
    }
    assert_int_equal(found, NQ); /* not vacuous: every query found neighbours */
    print_message("batch == one at a time: %s, kernel %s, nprobe %d, reorder_k %d%s\n", spec,
                  scann_index_kernel_name(ix), nprobe, reorder_k, allow ? ", filtered" : "");
    scann_index_free(ix);
    free(bd), free(bi);
}

static void test_scann_batch_matches_single(void **state)
{
    fixture *f = *state;
    const char *isas[] = {"scalar", "avx2", "avx512", "avx512icl"};
    for (int i = 0; i < 4; i++)
        expect_batch_matches_single(f, "SCANN,nlist=32,reorder=none", SCANN_METRIC_COSINE, isas[i],
                                    6, 0, NULL);
    expect_batch_matches_single(f, "SCANN,nlist=32,reorder=float", SCANN_METRIC_COSINE, NULL, 8, 60,
                                NULL);
    expect_batch_matches_single(f, "SCANN,nlist=48,dims_per_block=4,reorder=none", SCANN_METRIC_L2,
                                NULL, 5, 0, NULL);
    expect_batch_matches_single(f, "SCANN,nlist=48,dims_per_block=4,reorder=float", SCANN_METRIC_L2,
                                NULL, 12, 150, NULL);
    /* A filter (ids that are not multiples of 3) applies in both paths alike. */
    uint64_t allow[(NB + 63) / 64] = {0};
    for (int i = 0; i < NB; i++)
        if (i % 3) allow[i >> 6] |= 1ull << (i & 63);
    expect_batch_matches_single(f, "SCANN,nlist=32,reorder=none", SCANN_METRIC_COSINE, NULL, 6, 0,
                                allow);
    expect_batch_matches_single(f, "SCANN,nlist=32,reorder=float", SCANN_METRIC_COSINE, NULL, 8, 60,
                                allow);
}

/* Ties break by the smaller id whatever the scan order: every vector is stored twice, first
 * with id 10000 + i, then with id i, so the two copies get the same code and the same score,
 * the larger id first in their list. Wherever a query's answer holds copy 10000 + i it must hold
 * copy i too (a tie with a smaller id), in the batch path and one query at a time alike: a
 * collector that let the first of two tied candidates keep the last slot would fail this for
 * about every other query. */
static void test_scann_ties_break_by_smaller_id(void **state)
{
    fixture *f = *state;
    enum { N = 2000, KO = K - 1 };
    const char *specs[] = {"SCANN,nlist=16,reorder=none", "SCANN,nlist=16,reorder=float"};
    for (int sp_i = 0; sp_i < 2; sp_i++) {
        scann_index_params p;
        assert_int_equal(scann_index_params_parse(specs[sp_i], D, SCANN_METRIC_L2, &p), SCANN_OK);
        p.num_threads = 2;
        scann_index *ix = NULL;
        assert_int_equal(scann_index_create(&p, &ix), SCANN_OK);
        int64_t *ids = malloc(sizeof(int64_t) * N);
        for (int i = 0; i < N; i++) ids[i] = 10000 + i;
        assert_int_equal(scann_index_train(ix, N, D, f->base), SCANN_OK);
        assert_int_equal(scann_index_add(ix, N, D, f->base, ids), SCANN_OK);
        for (int i = 0; i < N; i++) ids[i] = i;
        assert_int_equal(scann_index_add(ix, N, D, f->base, ids), SCANN_OK);
        float *dist = malloc(sizeof(float) * NQ * K);
        int64_t *res = malloc(sizeof(int64_t) * NQ * K);
        /* Odd k and reorder_k: the better candidates come in pairs, so the last slot of an
         * answer (or of the candidate list) falls between two twins. */
        scann_search_params sp = {.nprobe = 3, .reorder_k = 41, .num_threads = 2};
        for (int mode = 0; mode < 2; mode++) {
            if (mode == 0) {
                assert_int_equal(scann_index_search(ix, NQ, D, f->query, KO, &sp, dist, res),
                                 SCANN_OK);
            } else {
                for (int q = 0; q < NQ; q++)
                    assert_int_equal(scann_index_search(ix, 1, D, f->query + q * D, KO, &sp,
                                                        dist + q * KO, res + q * KO),
                                     SCANN_OK);
            }
            int pairs_split = 0;
            for (int q = 0; q < NQ; q++)
                for (int i = 0; i < KO; i++) {
                    int64_t id = res[q * KO + i], twin = id >= 10000 ? id - 10000 : id + 10000;
                    int has_twin = 0;
                    for (int t = 0; t < KO; t++) has_twin |= res[q * KO + t] == twin;
                    if (id >= 10000 && !has_twin)
                        fail_msg("%s %s: query %d holds %lld but not its twin %lld", specs[sp_i],
                                 mode ? "alone" : "batch", q, (long long)id, (long long)twin);
                    pairs_split += !has_twin; /* the smaller twin alone in the last slot */
                }
            print_message("%s %s: %d answers end on the smaller of two tied twins\n", specs[sp_i],
                          mode ? "alone" : "batch", pairs_split);
            assert_true(pairs_split > NQ / 4); /* the boundary falls between twins often */
        }
        free(ids), free(dist), free(res);
        scann_index_free(ix);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scann_cosine_stores),
        cmocka_unit_test(test_scann_l2),
        cmocka_unit_test(test_scann_narrow_rows_score_what_they_store),
        cmocka_unit_test(test_scann_same_answers_everywhere),
        cmocka_unit_test(test_scann_anisotropic_helps_inner_product),
        cmocka_unit_test(test_scann_bad_parameters),
        cmocka_unit_test(test_scann_batch_matches_single),
        cmocka_unit_test(test_scann_ties_break_by_smaller_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
