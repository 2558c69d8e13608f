/* test_rerank.c - rerank stores: bf16 rounding to the bit, int8 error bounds and clamping on
 * Fashion-MNIST, ranking quality of each store against the exact top-10, exact FLOAT scores on
 * aligned and unaligned rows, row sizes and argument errors. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu.h"
#include "distance/distance.h"
#include "rerank.h"
#include "testdata.h"

#define D TD_FASHION_DIM
#define NTRAIN 2000 /* rows that train int8 scales, and the base of the ranking test */
#define NTEST 500   /* test-set rows encoded with those scales */
#define NQ 50       /* queries of the ranking test */
#define K 10

typedef struct fixture {
    float *train, *test;           /* raw pixels in [0, 255] */
    float *train_unit, *test_unit; /* the same rows scaled to unit length */
} fixture;

static float *unit_rows(const float *x, int64_t n)
{
    float *u = malloc(sizeof(float) * n * D);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)x[i * D + j] * x[i * D + j];
        for (int j = 0; j < D; j++) u[i * D + j] = (float)(x[i * D + j] / sqrt(s));
    }
    return u;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->train = td_fashion(0, NTRAIN);
    f->test = td_fashion(1, NTEST);
    if (!f->train || !f->test) return -1;
    f->train_unit = unit_rows(f->train, NTRAIN);
    f->test_unit = unit_rows(f->test, NTEST);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->train), free(f->test), free(f->train_unit), free(f->test_unit);
    free(f);
    return 0;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- bfloat16 ------------------------------------------------------------------------------ */

/* Every non-NaN bf16 value is a float whose low 16 bits are 0: converting it back must give the
 * same 16 bits (both zeros, subnormals, the largest finite value and the infinities included). */
static void test_bf16_exact_when_representable(void **state)
{
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = rerank_bf16_to_f32((uint16_t)h);
        assert_int_equal(f2u(f), h << 16);
        if (isnan(f)) continue;
        assert_int_equal(rerank_f32_to_bf16(f), h);
    }
    /* Integers up to 256 have at most 8 significant bits, so raw pixels are exact. */
    for (int v = -256; v <= 256; v++)
        assert_true(rerank_bf16_to_f32(rerank_f32_to_bf16((float)v)) == (float)v);
}

/* The kept 16 bits h plus a dropped half `low`: below 0x8000 rounds down, above rounds up, and
 * exactly 0x8000 (a tie) goes to the even neighbour. Carries into the exponent included. */
static void test_bf16_round_to_nearest_even(void **state)
{
    static const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff};
    for (uint32_t h = 0; h <= 0xffff; h++) {
        if ((h & 0x7f80) == 0x7f80) continue; /* inf / NaN exponent */
        for (size_t i = 0; i < sizeof lows / sizeof lows[0]; i++) {
            uint32_t low = lows[i];
            uint32_t want = low < 0x8000 ? h : low > 0x8000 ? h + 1 : h + (h & 1);
            assert_int_equal(rerank_f32_to_bf16(u2f(h << 16 | low)), want);
        }
    }
    /* The same rule on readable values: bf16 has 8 significant bits, so near 1 the step is
     * 2^-7 and 1 + 2^-8 is a tie between 1 (even) and 1 + 2^-7 (odd). */
    assert_true(rerank_bf16_to_f32(rerank_f32_to_bf16(1.0f + 0x1p-8f)) == 1.0f);
    assert_true(rerank_bf16_to_f32(rerank_f32_to_bf16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);
    assert_true(rerank_bf16_to_f32(rerank_f32_to_bf16(-(1.0f + 3 * 0x1p-8f))) == -1.0f - 0x1p-6f);
    assert_true(rerank_bf16_to_f32(rerank_f32_to_bf16(257.0f)) == 256.0f); /* tie, to even */
    assert_true(rerank_bf16_to_f32(rerank_f32_to_bf16(259.0f)) == 260.0f); /* tie, to even */
    /* The largest finite float is above the largest finite bf16 by more than half a step. */
    assert_true(isinf(rerank_bf16_to_f32(rerank_f32_to_bf16(FLT_MAX))));
}

static void test_bf16_nan_and_inf(void **state)
{
    /* Quiet, negative, and signalling NaNs whose payload sits only in the dropped low bits
     * (plain truncation would turn the last into infinity). */
    static const uint32_t nans[] = {0x7fc00000, 0xffc00001, 0x7f800001, 0xff800001, 0x7fbfffff,
                                    0x7fffffff};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = rerank_f32_to_bf16(u2f(nans[i]));
        assert_true(isnan(rerank_bf16_to_f32(h)));
        assert_true(h & 0x0040);                                /* quiet */
        assert_int_equal(h & 0x8000, (nans[i] >> 16) & 0x8000); /* sign kept */
    }
    assert_int_equal(rerank_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(rerank_f32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(rerank_f32_to_bf16(-0.0f), 0x8000);
}

/* Real data through a store, on rows at an odd address: each component within 2^-8 relative
 * (half a step of an 8-bit significand), and the bound is nearly reached so it is not vacuous. */
static void test_bf16_store_relative_error(void **state)
{
    fixture *f = *state;
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_BF16, D, NULL, 0), SCANN_OK);
    uint8_t *buf = malloc(s.row_bytes + 1), *row = buf + 1;
    float out[D];
    double worst = 0;
    for (int i = 0; i < NTEST; i++) {
        const float *x = f->test_unit + (size_t)i * D;
        rerank_encode(&s, x, row);
        rerank_decode(&s, row, out);
        for (int j = 0; j < D; j++) {
            if (x[j] == 0.0f) {
                assert_true(out[j] == 0.0f);
                continue;
            }
            double rel = fabs((double)out[j] - x[j]) / fabs(x[j]);
            assert_true(rel <= 0x1p-8);
            if (rel > worst) worst = rel;
        }
    }
    assert_true(worst > 0x1p-9);
    rerank_free(&s);
    free(buf);
}

/* ---- int8 ---------------------------------------------------------------------------------- */

static void test_int8_error_and_clamp(void **state)
{
    fixture *f = *state;
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, D, f->train, NTRAIN), SCANN_OK);
    float maxv[D] = {0};
    for (int i = 0; i < NTRAIN; i++)
        for (int j = 0; j < D; j++) maxv[j] = fmaxf(maxv[j], fabsf(f->train[i * D + j]));
    for (int j = 0; j < D; j++) {
        assert_true(s.scale[j] == (maxv[j] > 0 ? 127.0f / maxv[j] : 0.0f));
        assert_true(s.inv_scale[j] == (maxv[j] > 0 ? 1.0f / s.scale[j] : 0.0f));
    }

    uint8_t row[D];
    float out[D];
    int in_range = 0, clamped = 0;
    for (int i = 0; i < NTEST; i++) {
        const float *x = f->test + (size_t)i * D;
        rerank_encode(&s, x, row);
        rerank_decode(&s, row, out);
        for (int j = 0; j < D; j++) {
            int8_t q = (int8_t)row[j];
            if (maxv[j] == 0) {
                assert_int_equal(q, 0); /* pixel never lit in training */
                assert_true(out[j] == 0.0f);
            } else if (x[j] > maxv[j]) {
                assert_int_equal(q, 127); /* brighter than any training pixel: clamped */
                clamped++;
            } else {
                /* Half a quantisation step, plus float rounding of x * scale and of 1 / scale. */
                assert_true(fabsf(out[j] - x[j]) <= 0.5f / s.scale[j] + 1e-4f);
                in_range++;
            }
        }
    }
    assert_true(clamped > 0); /* about 1 test row in 10 has a pixel above the training max */
    assert_true(in_range > NTEST * D / 2);

    /* Negative values beyond the range clamp to -127 (never -128), and the code is symmetric. */
    float neg[D];
    uint8_t row_neg[D];
    for (int j = 0; j < D; j++) neg[j] = -2.0f * maxv[j] - 1.0f;
    rerank_encode(&s, neg, row_neg);
    for (int j = 0; j < D; j++) assert_int_equal((int8_t)row_neg[j], maxv[j] > 0 ? -127 : 0);
    for (int j = 0; j < D; j++) neg[j] = -f->test[j];
    rerank_encode(&s, f->test, row);
    rerank_encode(&s, neg, row_neg);
    for (int j = 0; j < D; j++) assert_int_equal((int8_t)row_neg[j], -(int8_t)row[j]);
    rerank_free(&s);
}

/* Fashion-MNIST's first pixel is 0 in all of the first 2000 training images (the test set has
 * it up to 4): its scale is 0, and anything there - huge, infinite, NaN - decodes to 0. */
static void test_int8_zero_dimension(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < NTRAIN; i++) assert_true(f->train[(size_t)i * D] == 0.0f);
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, D, f->train, NTRAIN), SCANN_OK);
    assert_true(s.scale[0] == 0.0f && s.inv_scale[0] == 0.0f);
    static const float probes[] = {0.0f, 4.0f, 1e30f, -1e30f, INFINITY, NAN};
    float x[D], out[D];
    uint8_t row[D];
    memcpy(x, f->test, sizeof x);
    for (size_t p = 0; p < sizeof probes / sizeof probes[0]; p++) {
        x[0] = probes[p];
        rerank_encode(&s, x, row);
        rerank_decode(&s, row, out);
        assert_int_equal((int8_t)row[0], 0);
        assert_true(out[0] == 0.0f && !signbit(out[0]));
        for (int j = 0; j < D; j++) assert_false(isnan(out[j]));
    }
    rerank_free(&s);
}

/* ---- ranking quality ----------------------------------------------------------------------- */

/* Indices of the k smallest scores, ties by smaller index (k passes: n is small). */
static void top_k(const float *score, int n, int k, int64_t *out)
{
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int u = 0; u < t; u++) taken |= out[u] == i;
            if (!taken && (best < 0 || score[i] < score[best])) best = i;
        }
        out[t] = best;
    }
}

/* Mean fraction of the exact (double-precision) top-K that the store's scores also put in
 * their top-K, over NQ queries against the NTRAIN base rows. */
static double store_overlap(scann_reorder kind, const float *base, const float *query, int ip)
{
    const dist_kernels *dk = dist_kernels_for(cpu_select());
    rerank_store s;
    assert_int_equal(rerank_init(&s, kind, D, base, NTRAIN), SCANN_OK);
    uint8_t *rows = malloc(s.row_bytes * NTRAIN);
    for (int i = 0; i < NTRAIN; i++)
        rerank_encode(&s, base + (size_t)i * D, rows + s.row_bytes * i);
    int64_t exact[NQ * K], got[K];
    double exact_sc[NQ * K];
    td_exact_knn(base, NTRAIN, query, NQ, D, ip, K, exact, exact_sc);
    float *score = malloc(sizeof(float) * NTRAIN), tmp[D];
    int hits = 0;
    for (int q = 0; q < NQ; q++) {
        for (int i = 0; i < NTRAIN; i++)
            score[i] = rerank_score(&s, dk, ip, query + (size_t)q * D, rows + s.row_bytes * i, tmp);
        top_k(score, NTRAIN, K, got);
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++) hits += got[a] == exact[q * K + b];
    }
    rerank_free(&s);
    free(rows), free(score);
    return (double)hits / (NQ * K);
}

static void test_ranking_overlap(void **state)
{
    fixture *f = *state;
    double fl = store_overlap(SCANN_REORDER_FLOAT, f->train, f->test, 0);
    double bf_l2 = store_overlap(SCANN_REORDER_BF16, f->train, f->test, 0);
    double bf_ip = store_overlap(SCANN_REORDER_BF16, f->train_unit, f->test_unit, 1);
    double i8_l2 = store_overlap(SCANN_REORDER_INT8, f->train, f->test, 0);
    double i8_ip = store_overlap(SCANN_REORDER_INT8, f->train_unit, f->test_unit, 1);
    print_message("overlap@%d: float %.3f  bf16 l2 %.3f ip %.3f  int8 l2 %.3f ip %.3f\n", K, fl,
                  bf_l2, bf_ip, i8_l2, i8_ip);
    /* Raw pixels are exact in bf16, so its L2 ranking is the float store's. Measured (every
     * kernel set; 500 neighbours, so one miss is 0.002): float 1.000, bf16 l2 1.000, bf16 ip on
     * unit vectors 0.986, int8 l2 0.996, int8 ip 0.988. Floors sit a few misses below. */
    assert_true(bf_l2 == fl);
    assert_true(fl >= 0.99);
    assert_true(bf_ip >= 0.97);
    assert_true(i8_l2 >= 0.98);
    assert_true(i8_ip >= 0.97);
}

/* ---- FLOAT store, sizes, errors ------------------------------------------------------------ */

/* A FLOAT row scores bit-equal to the kernel on the original vector, whether the row is
 * float-aligned (used in place) or not (copied to scratch), for every kernel set. */
static void test_float_store_exact(void **state)
{
    fixture *f = *state;
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_FLOAT, D, NULL, 0), SCANN_OK);
    uint8_t *buf = malloc(s.row_bytes + 8);
    float tmp[D];
    for (int isa = ISA_SCALAR; isa <= (int)cpu_select(); isa++) {
        const dist_kernels *dk = dist_kernels_for((cpu_isa)isa);
        for (int i = 0; i < 200; i++) {
            const float *q = f->test + (size_t)(i % NQ) * D, *x = f->train + (size_t)i * D;
            for (int off = 0; off < 8; off += 3) { /* offsets 0, 3, 6: aligned and not */
                rerank_encode(&s, x, buf + off);
                float l2 = rerank_score(&s, dk, 0, q, buf + off, tmp);
                float ip = rerank_score(&s, dk, 1, q, buf + off, tmp);
                assert_int_equal(f2u(l2), f2u(dk->l2(q, x, D)));
                assert_int_equal(f2u(ip), f2u(-dk->ip(q, x, D)));
            }
        }
    }
    rerank_free(&s);
    free(buf);
}

static void test_row_bytes(void **state)
{
    static const scann_reorder kinds[] = {SCANN_REORDER_FLOAT, SCANN_REORDER_BF16,
                                          SCANN_REORDER_INT8, SCANN_REORDER_NONE};
    static const size_t per_dim[] = {4, 2, 1, 0};
    float train[2 * D];
    for (int j = 0; j < 2 * D; j++) train[j] = (float)(j % 7) - 3.0f;
    for (int d = 1; d <= D; d += D - 1) {
        for (int k = 0; k < 4; k++) {
            rerank_store s;
            assert_int_equal(rerank_init(&s, kinds[k], d, train, 2), SCANN_OK);
            assert_int_equal(s.row_bytes, per_dim[k] * d);
            assert_int_equal(s.d, d);
            /* Only int8 carries per-dimension state. */
            assert_int_equal(s.scale != NULL, kinds[k] == SCANN_REORDER_INT8);
            rerank_free(&s);
        }
    }
}

static void test_bad_arguments(void **state)
{
    float train[4] = {1, 2, 3, 4};
    rerank_store s;
    assert_int_equal(rerank_init(&s, (scann_reorder)4, 4, NULL, 0), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(rerank_init(&s, (scann_reorder)-1, 4, NULL, 0), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(rerank_init(&s, SCANN_REORDER_FLOAT, 0, NULL, 0), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(rerank_init(&s, SCANN_REORDER_BF16, -3, NULL, 0), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, 4, train, 0), SCANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(scann_last_error(), "int8 rerank needs training data"));
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, 4, NULL, 1), SCANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(rerank_init(NULL, SCANN_REORDER_FLOAT, 4, NULL, 0),
                     SCANN_ERR_INVALID_ARGUMENT);
    /* A failed init leaves nothing to free; free is idempotent and accepts a zeroed store. */
    assert_null(s.scale);
    rerank_free(&s);
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, 4, train, 1), SCANN_OK);
    rerank_free(&s);
    assert_null(s.scale);
    assert_null(s.inv_scale);
    rerank_free(&s);
    rerank_store z;
    memset(&z, 0, sizeof z);
    rerank_free(&z);
    rerank_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_exact_when_representable),
        cmocka_unit_test(test_bf16_round_to_nearest_even),
        cmocka_unit_test(test_bf16_nan_and_inf),
        cmocka_unit_test(test_bf16_store_relative_error),
        cmocka_unit_test(test_int8_error_and_clamp),
        cmocka_unit_test(test_int8_zero_dimension),
        cmocka_unit_test(test_ranking_overlap),
        cmocka_unit_test(test_float_store_exact),
        cmocka_unit_test(test_row_bytes),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
