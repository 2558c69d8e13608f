/* test_rerank.c - rerank stores: bf16 rounding to the bit, per-vector int8 error bounds on
 * Fashion-MNIST and on awkward vectors (one huge component, all zero, NaN / infinity), ranking
 * quality of each store against the exact top-10, exact FLOAT scores on aligned and unaligned
 * rows, row sizes and argument errors. */
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
#include "kernels.h"
#include "rerank.h"
#include "testdata.h"

#define D TD_FASHION_DIM
#define NTRAIN 2000 /* the base of the ranking test */
#define NTEST 500   /* test-set rows for the error bounds; the first NQ are the queries */
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
    static const uint32_t nans[] = {0x7fc00000, 0xffc00001, 0x7f800001,
                                    0xff800001, 0x7fbfffff, 0x7fffffff};
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

#define I8_BYTES (sizeof(float) + D) /* one int8 row */

/* The row's decode multiplier and code j (the row is a byte array: read through memcpy). */
static float i8_step(const uint8_t *row)
{
    float step;
    memcpy(&step, row, sizeof step);
    return step;
}

static int i8_code(const uint8_t *row, int j) { return (int8_t)row[sizeof(float) + j]; }

/* Largest finite |x_j|: what the step is computed from. */
static float finite_max(const float *x, int d)
{
    float m = 0.0f;
    for (int j = 0; j < d; j++)
        if (isfinite(x[j]) && fabsf(x[j]) > m) m = fabsf(x[j]);
    return m;
}

/* Half a quantisation step, plus the float rounding of 127 / m, of x * inv and of q * step
 * (each a few 2^-24 relative on values up to 127 steps). */
static float i8_bound(float step) { return 0.5f * step * (1.0f + 1e-4f); }

/* Real data (raw pixels and unit vectors) on rows at an odd address: the step is m / 127, the
 * codes cover [-127, 127] with the largest component at +-127, every component is within half
 * a step, and the bound is nearly reached, so it is not vacuous. */
static void test_int8_error_bound(void **state)
{
    fixture *f = *state;
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, D, NULL, 0), SCANN_OK);
    uint8_t *buf = malloc(s.row_bytes + 1), *row = buf + 1;
    float out[D];
    for (int set = 0; set < 2; set++) {
        const float *xs = set ? f->test_unit : f->test;
        double worst = 0; /* in steps */
        for (int i = 0; i < NTEST; i++) {
            const float *x = xs + (size_t)i * D;
            float m = finite_max(x, D);
            rerank_encode(&s, x, row);
            rerank_decode(&s, row, out);
            float step = i8_step(row);
            assert_true(m > 0);
            assert_true(step == (float)((double)m / 127.0));
            int top = 0;
            for (int j = 0; j < D; j++) {
                int q = i8_code(row, j);
                assert_true(q >= -127 && q <= 127);
                top |= q == 127 && x[j] == m;
                if (x[j] == 0.0f) assert_int_equal(q, 0);
                double err = fabs((double)out[j] - x[j]);
                assert_true(err <= i8_bound(step));
                if (err / step > worst) worst = err / step;
            }
            assert_true(top); /* the largest component uses the whole range */
        }
        assert_true(worst > 0.45);
    }
    rerank_free(&s);
    free(buf);
}

/* One component far above the rest sets the step: the others then quantise to 0 or small codes
 * (no overflow, no clamping needed), each still within half a step; the huge one round-trips
 * to within half a step too, at the largest finite float included (no infinity on decode). */
static void test_int8_huge_component(void **state)
{
    fixture *f = *state;
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, D, NULL, 0), SCANN_OK);
    static const float huge[] = {1e4f, -3e6f, 1e30f, FLT_MAX, -FLT_MAX};
    float x[D], out[D];
    uint8_t row[I8_BYTES];
    for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
        memcpy(x, f->test, sizeof x); /* pixels in [0, 255] */
        x[100] = huge[h];
        rerank_encode(&s, x, row);
        rerank_decode(&s, row, out);
        float step = i8_step(row), want = (float)((double)fabsf(huge[h]) / 127.0);
        /* At +-FLT_MAX the step may be one float lower, so that 127 * step stays finite. */
        assert_true(step == want || (fabsf(huge[h]) == FLT_MAX && step == nextafterf(want, 0)));
        assert_true(isfinite(127.0f * step));
        assert_int_equal(i8_code(row, 100), huge[h] > 0 ? 127 : -127);
        int small = 0;
        for (int j = 0; j < D; j++) {
            assert_true(isfinite(out[j]));
            assert_true(fabs((double)out[j] - x[j]) <= i8_bound(step));
            if (j == 100) continue;
            int q = i8_code(row, j);
            assert_true(q >= 0 && q <= 3); /* 255 / 1e4 * 127 rounds to 3 */
            small += q == 0;
        }
        assert_true(small > D / 2);
    }
    rerank_free(&s);
}

/* An all-zero vector (and a -0 one) has step 0, all codes 0, and decodes to +0, never NaN.
 * Vectors whose components are all non-finite behave the same. */
static void test_int8_zero_vector(void **state)
{
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, D, NULL, 0), SCANN_OK);
    float x[D], out[D];
    uint8_t row[I8_BYTES];
    static const float fills[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY};
    for (size_t p = 0; p < sizeof fills / sizeof fills[0]; p++) {
        for (int j = 0; j < D; j++) x[j] = fills[p];
        if (p >= 2) x[7] = -INFINITY, x[8] = NAN; /* mixed non-finite values */
        memset(out, 0xff, sizeof out);            /* NaN bits: decode must overwrite them */
        rerank_encode(&s, x, row);
        rerank_decode(&s, row, out);
        assert_true(i8_step(row) == 0.0f);
        for (int j = 0; j < D; j++) {
            assert_int_equal(i8_code(row, j), 0);
            assert_true(out[j] == 0.0f && !signbit(out[j]));
        }
    }
    rerank_free(&s);
}

/* NaN and infinite components are left out of the step and decode to 0; the finite ones
 * round-trip within half a step of the step set by the finite maximum alone. */
static void test_int8_non_finite(void **state)
{
    fixture *f = *state;
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, D, NULL, 0), SCANN_OK);
    static const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    float x[D], out[D];
    uint8_t row[I8_BYTES];
    for (int i = 0; i < 20; i++) {
        memcpy(x, f->test + (size_t)i * D, sizeof x);
        for (int j = i; j < D; j += 37) x[j] = bad[(j / 37) % 4];
        float m = finite_max(x, D);
        rerank_encode(&s, x, row);
        rerank_decode(&s, row, out);
        float step = i8_step(row);
        assert_true(step == (float)((double)m / 127.0));
        for (int j = 0; j < D; j++) {
            assert_false(isnan(out[j]));
            if (!isfinite(x[j])) {
                assert_int_equal(i8_code(row, j), 0);
                assert_true(out[j] == 0.0f);
            } else {
                assert_true(fabs((double)out[j] - x[j]) <= i8_bound(step));
            }
        }
    }
    rerank_free(&s);
}

/* -128 is never used and rounding is symmetric, so negating a vector negates its codes and
 * keeps its step. Checked on pixels, unit vectors, and values with exact .5 ties. */
static void test_int8_negation_symmetry(void **state)
{
    fixture *f = *state;
    rerank_store s;
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, D, NULL, 0), SCANN_OK);
    float neg[D], ties[D];
    uint8_t row[I8_BYTES], row_neg[I8_BYTES];
    for (int j = 0; j < D; j++) ties[j] = (float)(j % 255) - 127.0f + 0.5f * (j % 2);
    for (int i = 0; i < 2 * NQ + 1; i++) {
        const float *x = i == 2 * NQ ? ties : (i % 2 ? f->test_unit : f->test) + (size_t)i * D;
        for (int j = 0; j < D; j++) neg[j] = -x[j];
        rerank_encode(&s, x, row);
        rerank_encode(&s, neg, row_neg);
        assert_true(i8_step(row) == i8_step(row_neg));
        for (int j = 0; j < D; j++) {
            assert_int_equal(i8_code(row_neg, j), -i8_code(row, j));
            assert_true(i8_code(row, j) != -128);
        }
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
    const kernels *dk = kernels_best();
    rerank_store s;
    assert_int_equal(rerank_init(&s, kind, D, NULL, 0), SCANN_OK); /* no store needs training */
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
     * unit vectors 0.986, int8 (per-vector scale) l2 0.996, int8 ip 0.978. The per-dimension
     * int8 store this replaced measured l2 0.996, ip 0.988 here: Fashion-MNIST's dark border
     * pixels suit per-dimension scales, and near-duplicate images share one grid there, so the
     * per-vector store is not better on this data (it is on GloVe-100, see rerank.c). Floors
     * sit a few misses below. */
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
    for (int isa = ISA_SCALAR; isa <= (int)cpu_best_isa(); isa++) {
        const kernels *dk = kernels_for((cpu_isa)isa);
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
    static const size_t per_dim[] = {4, 2, 1, 0}, fixed[] = {0, 0, 4, 0}; /* int8: d + 4 */
    float train[2 * D];
    for (int j = 0; j < 2 * D; j++) train[j] = (float)(j % 7) - 3.0f;
    for (int d = 1; d <= D; d += D - 1) {
        for (int k = 0; k < 4; k++) {
            /* Training data is ignored: with or without it the store is the same. */
            rerank_store s, t;
            assert_int_equal(rerank_init(&s, kinds[k], d, NULL, 0), SCANN_OK);
            assert_int_equal(rerank_init(&t, kinds[k], d, train, 2), SCANN_OK);
            assert_int_equal(s.row_bytes, per_dim[k] * d + fixed[k]);
            assert_int_equal(s.d, d);
            assert_int_equal(t.row_bytes, s.row_bytes);
            rerank_free(&s), rerank_free(&t);
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
    assert_int_equal(rerank_init(NULL, SCANN_REORDER_FLOAT, 4, NULL, 0),
                     SCANN_ERR_INVALID_ARGUMENT);
    /* int8 needs no training data: NULL / 0, rows without a count, or a count without rows. */
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, 4, NULL, 0), SCANN_OK);
    assert_int_equal(s.row_bytes, 8);
    rerank_free(&s);
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, 4, train, 0), SCANN_OK);
    rerank_free(&s);
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, 4, NULL, 1), SCANN_OK);
    rerank_free(&s);
    /* A failed init leaves a store free accepts; free is idempotent and accepts a zeroed store. */
    assert_int_equal(rerank_init(&s, SCANN_REORDER_INT8, 0, NULL, 0), SCANN_ERR_INVALID_ARGUMENT);
    rerank_free(&s);
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
        cmocka_unit_test(test_int8_error_bound),
        cmocka_unit_test(test_int8_huge_component),
        cmocka_unit_test(test_int8_zero_vector),
        cmocka_unit_test(test_int8_non_finite),
        cmocka_unit_test(test_int8_negation_symmetry),
        cmocka_unit_test(test_ranking_overlap),
        cmocka_unit_test(test_float_store_exact),
        cmocka_unit_test(test_row_bytes),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
