/* test_codec.c - the public codec API (scann_codec.h) as an embedding engine uses it: lists
 * built from encode + block_set, searched with probe + scan_block + score_row, on real
 * Fashion-MNIST. Checks recall against exact neighbours and agreement with scann_index_search
 * on the same data and parameters, the save/load round trip (also into caller memory), the
 * block slot operations, and the errors a caller can cause. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scann.h"
#include "scann_codec.h"
#include "testdata.h"
#include "topk.h"

#define NB 8000
#define NQ 100
#define K 10
#define D TD_FASHION_DIM
#define NLIST 64
#define NPROBE 4
#define REORDER_K 30

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

/* An engine's lists, kept the simplest way: per list, blocks, ids and rerank rows. */
typedef struct lists {
    scann_codec_info info;
    int64_t *size;
    uint8_t **blocks; /* ceil(size / 32) blocks */
    int64_t **ids;
    uint8_t **rows;
} lists;

static void lists_build(lists *L, const scann_codec *c, const float *x, int64_t n)
{
    assert_int_equal(scann_codec_get_info(c, &L->info), SCANN_OK);
    int nl = L->info.nlist;
    size_t bb = L->info.block_bytes, rb = L->info.row_bytes;
    L->size = calloc(nl, sizeof(int64_t));
    L->blocks = calloc(nl, sizeof(uint8_t *));
    L->ids = calloc(nl, sizeof(int64_t *));
    L->rows = calloc(nl, sizeof(uint8_t *));
    for (int l = 0; l < nl; l++) { /* room for n everywhere: simple, and only a test */
        L->blocks[l] = calloc((size_t)(n + 31) / 32, bb);
        L->ids[l] = malloc(sizeof(int64_t) * n);
        L->rows[l] = malloc(rb ? rb * n : 1);
    }
    void *scratch = malloc(L->info.encode_bytes);
    uint8_t *code = malloc(L->info.m);
    for (int64_t i = 0; i < n; i++) {
        int32_t l, l2;
        int64_t s = L->size[l = 0];
        assert_int_equal(
            scann_codec_encode(c, D, x + (size_t)i * D, scratch, &l, code, rb ? L->rows[0] : NULL),
            SCANN_OK);
        assert_int_equal(scann_codec_assign(c, D, x + (size_t)i * D, scratch, &l2), SCANN_OK);
        assert_int_equal(l, l2);
        s = L->size[l]++;
        if (rb) /* encode wrote the row into list 0's first slot: re-encode into place */
            assert_int_equal(
                scann_codec_encode(c, D, x + (size_t)i * D, scratch, &l, code, L->rows[l] + rb * s),
                SCANN_OK);
        assert_int_equal(
            scann_codec_block_set(c, L->blocks[l] + bb * (s / 32), (int)(s % 32), code), SCANN_OK);
        L->ids[l][s] = i;
    }
    free(scratch), free(code);
}

static void lists_free(lists *L)
{
    for (int l = 0; l < L->info.nlist; l++) free(L->blocks[l]), free(L->ids[l]), free(L->rows[l]);
    free(L->size), free(L->blocks), free(L->ids), free(L->rows);
}

/* One query the way an engine runs it: probe, FastScan every block with the reservoir's
 * threshold as the bound, rerank the best reorder_k by their rows (or keep the codes' scores
 * when the codec keeps no rows). ids, scores: the kout best. */
static void codec_search(const scann_codec *c, const lists *L, const float *q, int nprobe,
                         int reorder_k, int kout, int64_t *ids, float *scores)
{
    size_t bb = L->info.block_bytes, rb = L->info.row_bytes;
    void *mem = malloc(L->info.query_bytes);
    scann_codec_query *Q;
    assert_int_equal(scann_codec_query_init(c, D, q, mem, L->info.query_bytes, &Q), SCANN_OK);
    int32_t pl[NLIST];
    float pc[NLIST];
    assert_int_equal(scann_codec_probe(c, Q, nprobe, pl, pc), SCANN_OK);
    for (int i = 1; i < nprobe; i++) assert_true(pc[i - 1] <= pc[i]);
    int slots = topk_res_slots(reorder_k);
    float *rs = malloc(sizeof(float) * slots);
    int64_t *ri = malloc(sizeof(int64_t) * slots);
    topk_res r;
    topk_res_init(&r, reorder_k, rs, ri);
    for (int p = 0; p < nprobe; p++) {
        int32_t l = pl[p];
        for (int64_t b = 0; b * 32 < L->size[l]; b++) {
            int count = L->size[l] - b * 32 < 32 ? (int)(L->size[l] - b * 32) : 32;
            float sc[32];
            uint32_t mask;
            assert_int_equal(scann_codec_scan_block(c, Q, pc[p], L->blocks[l] + bb * b, count,
                                                    topk_res_threshold(&r), sc, &mask),
                             SCANN_OK);
            while (mask) {
                int i = __builtin_ctz(mask);
                mask &= mask - 1;
                topk_res_push(&r, sc[i], (int64_t)l << 32 | (b * 32 + i)); /* location */
            }
        }
    }
    float *cs = malloc(sizeof(float) * reorder_k);
    int64_t *cl = malloc(sizeof(int64_t) * reorder_k);
    topk_res_finish(&r, cs, cl);
    float *hs = malloc(sizeof(float) * kout);
    int64_t *hi = malloc(sizeof(int64_t) * kout);
    topk h;
    topk_init(&h, kout, hs, hi);
    for (int i = 0; i < reorder_k && cl[i] >= 0; i++) {
        int32_t l = (int32_t)(cl[i] >> 32);
        int64_t off = cl[i] & 0xffffffff;
        float s = cs[i];
        if (rb)
            assert_int_equal(scann_codec_score_row(c, Q, l, L->blocks[l] + bb * (off / 32),
                                                   (int)(off % 32), L->rows[l] + rb * off, &s),
                             SCANN_OK);
        topk_push(&h, s, L->ids[l][off]);
    }
    topk_finish(&h, scores, ids);
    free(hs), free(hi);
    free(mem), free(rs), free(ri), free(cs), free(cl);
}

static double recall_of(const int64_t *found, const int64_t *gt)
{
    int hit = 0;
    for (int q = 0; q < NQ; q++)
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                if (found[q * K + i] == gt[q * K + j]) hit++;
    return (double)hit / (NQ * K);
}

static scann_codec *train_codec(const float *x, scann_metric metric, scann_reorder reorder)
{
    scann_codec_params p;
    assert_int_equal(scann_codec_params_init(&p, metric, D), SCANN_OK);
    p.nlist = NLIST;
    p.reorder = reorder;
    p.seed = 7;
    scann_codec *c;
    assert_int_equal(scann_codec_create(&p, &c), SCANN_OK);
    assert_int_equal(scann_codec_train(c, NB, D, x), SCANN_OK);
    return c;
}

/* Recall on real data, and the same answers as the SCANN index with the same parameters. */
static void check_against_index(const fixture *f, scann_metric metric, scann_reorder reorder,
                                const char *spec, const int64_t *gt, double floor)
{
    scann_codec *c = train_codec(f->base, metric, reorder);
    lists L;
    lists_build(&L, c, f->base, NB);
    int64_t *ids = malloc(sizeof(int64_t) * NQ * K);
    float *sc = malloc(sizeof(float) * NQ * K);
    for (int q = 0; q < NQ; q++)
        codec_search(c, &L, f->query + (size_t)q * D, NPROBE, REORDER_K, K, ids + q * K,
                     sc + q * K);
    double rc = recall_of(ids, gt);

    scann_index *ix = td_build(spec, metric, D, f->base, NB, 1);
    scann_search_params sp = {.nprobe = NPROBE, .reorder_k = REORDER_K};
    int64_t *xi = malloc(sizeof(int64_t) * NQ * K);
    float *xs = malloc(sizeof(float) * NQ * K);
    assert_int_equal(scann_index_search(ix, NQ, D, f->query, K, &sp, xs, xi), SCANN_OK);
    double ri = recall_of(xi, gt), agree = recall_of(ids, xi);
    print_message("codec %s: recall@10 %.3f, index %.3f, agreement %.3f\n", spec, rc, ri, agree);
    assert_true(rc >= floor);
    assert_true(fabs(rc - ri) <= 0.02);
    assert_true(agree >= 0.99);
    scann_index_free(ix);
    free(xi), free(xs), free(ids), free(sc);
    lists_free(&L);
    scann_codec_free(c);
}

static void test_l2_float(void **state)
{
    fixture *f = *state;
    check_against_index(f, SCANN_METRIC_L2, SCANN_REORDER_FLOAT,
                        "SCANN,nlist=64,seed=7,reorder=float", f->gt_l2, 0.95);
}

static void test_cosine_int8(void **state)
{
    fixture *f = *state;
    check_against_index(f, SCANN_METRIC_COSINE, SCANN_REORDER_INT8,
                        "SCANN,nlist=64,seed=7,reorder=int8", f->gt_cos, 0.95);
}

/* No rerank rows: the engine re-scores from its own float copy (score_vector), as the
 * PostgreSQL extension does from the heap. */
static void test_rerank_from_vectors(void **state)
{
    fixture *f = *state;
    scann_codec *c = train_codec(f->base, SCANN_METRIC_COSINE, SCANN_REORDER_NONE);
    lists L;
    lists_build(&L, c, f->base, NB);
    assert_int_equal(L.info.row_bytes, 0);
    int64_t *ids = malloc(sizeof(int64_t) * NQ * K);
    void *mem = malloc(L.info.query_bytes);
    for (int q = 0; q < NQ; q++) {
        int64_t cand[REORDER_K];
        float cs[REORDER_K];
        codec_search(c, &L, f->query + (size_t)q * D, NPROBE, REORDER_K, REORDER_K, cand, cs);
        for (int i = 1; i < REORDER_K && cand[i] >= 0; i++) assert_true(cs[i - 1] <= cs[i]);
        scann_codec_query *Q;
        assert_int_equal(
            scann_codec_query_init(c, D, f->query + (size_t)q * D, mem, L.info.query_bytes, &Q),
            SCANN_OK);
        float hs[K], os[K];
        int64_t hi[K];
        topk h;
        topk_init(&h, K, hs, hi);
        for (int i = 0; i < REORDER_K && cand[i] >= 0; i++) {
            float s;
            assert_int_equal(scann_codec_score_vector(c, Q, D, f->base + (size_t)cand[i] * D, &s),
                             SCANN_OK);
            topk_push(&h, s, cand[i]);
        }
        topk_finish(&h, os, ids + q * K);
    }
    double rc = recall_of(ids, f->gt_cos);
    print_message("codec cosine, no rows, exact re-score of the vectors: recall@10 %.3f\n", rc);
    assert_true(rc >= 0.9);
    free(ids), free(mem);
    lists_free(&L);
    scann_codec_free(c);
}

static void test_save_load(void **state)
{
    fixture *f = *state;
    scann_codec *c = train_codec(f->base, SCANN_METRIC_IP, SCANN_REORDER_BF16);
    size_t len, len2;
    assert_int_equal(scann_codec_save(c, NULL, 0, &len), SCANN_OK);
    uint8_t *buf = malloc(len);
    TD_EXPECT(scann_codec_save(c, buf, len - 1, &len2), SCANN_ERR_INVALID_ARGUMENT, "cap");
    assert_int_equal(scann_codec_save(c, buf, len, &len2), SCANN_OK);
    assert_int_equal(len, len2);
    scann_codec *a, *b;
    assert_int_equal(scann_codec_load(buf, len, &a), SCANN_OK);
    size_t need;
    assert_int_equal(scann_codec_load_size(buf, len, &need), SCANN_OK);
    uint8_t *mem = malloc(need + 1);
    TD_EXPECT(scann_codec_load_into(buf, len, mem + 1, need - 1, &b), SCANN_ERR_INVALID_ARGUMENT,
              "mem_bytes");
    assert_int_equal(scann_codec_load_into(buf, len, mem + 1, need, &b), SCANN_OK); /* unaligned */
    scann_codec_info ic, ia, ib;
    scann_codec_get_info(c, &ic), scann_codec_get_info(a, &ia), scann_codec_get_info(b, &ib);
    assert_int_equal(ic.m, ib.m);
    assert_int_equal(ia.row_bytes, ic.row_bytes);
    assert_true(ic.aq_threshold == ib.aq_threshold);
    /* Same encodings and table scores from all three. */
    void *scr = malloc(ic.encode_bytes), *qm = malloc(ic.query_bytes);
    uint8_t *code[3], *row[3], *blk[3];
    const scann_codec *cs[3] = {c, a, b};
    float s[3][32];
    for (int t = 0; t < 3; t++) {
        int32_t l;
        code[t] = malloc(ic.m), row[t] = malloc(ic.row_bytes), blk[t] = calloc(1, ic.block_bytes);
        assert_int_equal(scann_codec_encode(cs[t], D, f->base + 5 * D, scr, &l, code[t], row[t]),
                         SCANN_OK);
        assert_int_equal(scann_codec_block_set(cs[t], blk[t], 3, code[t]), SCANN_OK);
        scann_codec_query *Q;
        assert_int_equal(scann_codec_query_init(cs[t], D, f->query, qm, ic.query_bytes, &Q),
                         SCANN_OK);
        int32_t pl;
        float pc;
        uint32_t mask;
        assert_int_equal(scann_codec_probe(cs[t], Q, 1, &pl, &pc), SCANN_OK);
        assert_int_equal(scann_codec_scan_block(cs[t], Q, pc, blk[t], 4, INFINITY, s[t], &mask),
                         SCANN_OK);
        assert_int_equal(mask, 0xf);
        assert_int_equal(scann_codec_score_row(cs[t], Q, l, blk[t], 3, row[t], &s[t][31]),
                         SCANN_OK);
    }
    for (int t = 1; t < 3; t++) {
        assert_memory_equal(code[0], code[t], ic.m);
        assert_memory_equal(row[0], row[t], ic.row_bytes);
        assert_true(s[0][3] == s[t][3] && s[0][31] == s[t][31]);
    }
    /* Corrupt bytes are refused. */
    buf[100] ^= 1;
    TD_EXPECT(scann_codec_load(buf, len, &b), SCANN_ERR_FORMAT, "checksum");
    buf[100] ^= 1;
    TD_EXPECT(scann_codec_load(buf, len - 1, &b), SCANN_ERR_FORMAT, NULL);
    TD_EXPECT(scann_codec_load(buf, 10, &b), SCANN_ERR_FORMAT, NULL);
    for (int t = 0; t < 3; t++) free(code[t]), free(row[t]), free(blk[t]);
    scann_codec_free(a);
    scann_codec_free(b); /* placed in caller memory: a no-op, before that memory goes */
    scann_codec_free(c);
    free(scr), free(qm), free(buf), free(mem);
}

static void test_block_slots(void **state)
{
    fixture *f = *state;
    scann_codec *c = train_codec(f->base, SCANN_METRIC_L2, SCANN_REORDER_NONE);
    scann_codec_info in;
    scann_codec_get_info(c, &in);
    uint8_t *blk = calloc(1, in.block_bytes), *code = malloc(in.m), *back = malloc(in.m);
    for (int j = 0; j < in.m; j++) code[j] = (uint8_t)(j * 7 % 16);
    for (int slot = 0; slot < 32; slot += 15) {
        assert_int_equal(scann_codec_block_set(c, blk, slot, code), SCANN_OK);
        assert_int_equal(scann_codec_block_get(c, blk, slot, back), SCANN_OK);
        assert_memory_equal(code, back, in.m);
    }
    /* Move slot 30 to slot 2: slot 2 gets the code and slot 30 is zero again. */
    assert_int_equal(scann_codec_block_move(c, blk, 2, blk, 30), SCANN_OK);
    assert_int_equal(scann_codec_block_get(c, blk, 2, back), SCANN_OK);
    assert_memory_equal(code, back, in.m);
    assert_int_equal(scann_codec_block_get(c, blk, 30, back), SCANN_OK);
    for (int j = 0; j < in.m; j++) assert_int_equal(back[j], 0);
    code[0] = 16;
    TD_EXPECT(scann_codec_block_set(c, blk, 0, code), SCANN_ERR_INVALID_ARGUMENT, "code[0]=16");
    TD_EXPECT(scann_codec_block_set(c, blk, 32, back), SCANN_ERR_INVALID_ARGUMENT, "slot=32");
    free(blk), free(code), free(back);
    scann_codec_free(c);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    scann_codec_params p;
    scann_codec *c;
    scann_codec_params_init(&p, SCANN_METRIC_L2, D);
    TD_EXPECT(scann_codec_create(&p, &c), SCANN_ERR_INVALID_ARGUMENT, "nlist=0");
    p.nlist = 4;
    p.dims_per_block = D + 1;
    TD_EXPECT(scann_codec_create(&p, &c), SCANN_ERR_INVALID_ARGUMENT, "dims_per_block");
    p.dims_per_block = 0;
    assert_int_equal(scann_codec_create(&p, &c), SCANN_OK);
    scann_codec_info in;
    scann_codec_get_info(c, &in);
    void *scr = malloc(in.encode_bytes), *qm = malloc(in.query_bytes);
    uint8_t *code = malloc(in.m);
    int32_t l;
    scann_codec_query *Q;
    size_t len;
    TD_EXPECT(scann_codec_encode(c, D, f->base, scr, &l, code, NULL), SCANN_ERR_NOT_TRAINED, NULL);
    TD_EXPECT(scann_codec_save(c, NULL, 0, &len), SCANN_ERR_NOT_TRAINED, NULL);
    TD_EXPECT(scann_codec_train(c, 3, D, f->base), SCANN_ERR_INVALID_ARGUMENT, "n=3");
    TD_EXPECT(scann_codec_train(c, 100, D - 1, f->base), SCANN_ERR_DIMENSION, NULL);
    assert_int_equal(scann_codec_train(c, 1000, D, f->base), SCANN_OK);
    TD_EXPECT(scann_codec_encode(c, D - 1, f->base, scr, &l, code, NULL), SCANN_ERR_DIMENSION,
              NULL);
    float *bad = malloc(sizeof(float) * D);
    memcpy(bad, f->base, sizeof(float) * D);
    bad[10] = NAN;
    TD_EXPECT(scann_codec_encode(c, D, bad, scr, &l, code, NULL), SCANN_ERR_INVALID_DATA, "NaN");
    TD_EXPECT(scann_codec_query_init(c, D, bad, qm, in.query_bytes, &Q), SCANN_ERR_INVALID_DATA,
              NULL);
    TD_EXPECT(scann_codec_query_init(c, D, f->base, qm, in.query_bytes - 1, &Q),
              SCANN_ERR_INVALID_ARGUMENT, "mem_bytes");
    assert_int_equal(scann_codec_query_init(c, D, f->base, qm, in.query_bytes, &Q), SCANN_OK);
    int32_t pl[5];
    float pc[5];
    TD_EXPECT(scann_codec_probe(c, Q, 5, pl, pc), SCANN_ERR_INVALID_ARGUMENT, "nprobe=5");
    uint8_t *blk = calloc(1, in.block_bytes);
    float sc[32];
    uint32_t mask;
    TD_EXPECT(scann_codec_scan_block(c, Q, 0, blk, 33, INFINITY, sc, &mask),
              SCANN_ERR_INVALID_ARGUMENT, "count=33");
    TD_EXPECT(scann_codec_score_row(c, Q, 0, blk, 0, blk, sc), SCANN_ERR_UNSUPPORTED, NULL);
    /* A bound below every score lets nothing through. */
    assert_int_equal(scann_codec_scan_block(c, Q, 0, blk, 32, -1e30f, sc, &mask), SCANN_OK);
    assert_int_equal(mask, 0);
    free(scr), free(qm), free(code), free(bad), free(blk);
    scann_codec_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l2_float),
        cmocka_unit_test(test_cosine_int8),
        cmocka_unit_test(test_rerank_from_vectors),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_block_slots),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
