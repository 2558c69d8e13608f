/* test_fastscan.c - FastScan: the block layout matches the header byte for byte, table
 * quantization keeps its error and overflow bounds on adversarial and real tables, every SIMD
 * kernel returns exactly the scalar kernel's sums and mask, the scalar kernel equals a naive sum,
 * and bias + S / a approximates the float score within m / (2a); every multi-query kernel
 * returns, for each of its 1..FS_MAX_QB queries, exactly the single-query scalar result. Ends
 * with timing reports (single- and multi-query). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "cpu.h"
#include "fastscan/fastscan.h"
#include "testdata.h"

static const int k_ms[] = {1, 2, 3, 4, 5, 7, 8, 50, 52, 98, 196, 392};
#define N_MS (int)(sizeof k_ms / sizeof k_ms[0])

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_unit(uint64_t *s) { return (float)((rng_next(s) >> 40) * (1.0 / (1 << 24))); }

/* 32 x m random codes, packed into a fresh block of exactly fs_block_bytes(m) bytes. */
static uint8_t *random_block(int m, uint64_t *s, uint8_t *codes)
{
    uint8_t *block = calloc(1, fs_block_bytes(m));
    for (int i = 0; i < FS_BLOCK; i++) {
        for (int j = 0; j < m; j++) codes[i * m + j] = (uint8_t)(rng_next(s) & 15);
        fs_pack_one(block, m, i, codes + i * m);
    }
    return block;
}

/* The independent reference: sum the table row-major from unpacked codes, in 32 bits. */
static void naive_sums(const uint8_t *codes, const uint8_t *q, int m, uint32_t *out)
{
    for (int i = 0; i < FS_BLOCK; i++) {
        out[i] = 0;
        for (int j = 0; j < m; j++) out[i] += q[16 * j + codes[i * m + j]];
    }
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* Every ISA the CPU runs returns the scalar sums and mask for thresholds 0, max, median and a
 * random one; the scalar mask is exactly S <= thr. Returns the scalar sums in `ref`. */
static void expect_kernels_agree(const uint8_t *block, const uint8_t *q, int npairs, uint64_t *s,
                                 uint16_t *ref)
{
    uint16_t *sums = malloc(FS_BLOCK * sizeof(uint16_t)), sorted[FS_BLOCK];
    fs_scan_block_scalar(block, q, npairs, 0, ref);
    memcpy(sorted, ref, sizeof sorted);
    qsort(sorted, FS_BLOCK, sizeof(uint16_t), cmp_u16);
    const uint16_t thrs[] = {
        0, 65535, sorted[FS_BLOCK / 2], sorted[0], sorted[FS_BLOCK - 1], (uint16_t)rng_next(s)};
    for (size_t t = 0; t < sizeof thrs / sizeof thrs[0]; t++) {
        uint32_t want = fs_scan_block_scalar(block, q, npairs, thrs[t], sums);
        assert_memory_equal(sums, ref, sizeof sorted);
        for (int i = 0; i < FS_BLOCK; i++) assert_int_equal((want >> i) & 1, ref[i] <= thrs[t]);
        for (int isa = ISA_AVX2; isa <= (int)cpu_detect(); isa++) {
            memset(sums, 0xA5, FS_BLOCK * sizeof(uint16_t));
            uint32_t got = fs_kernel_for((cpu_isa)isa)(block, q, npairs, thrs[t], sums);
            int i = 0;
            while (i < FS_BLOCK && sums[i] == ref[i]) i++;
            if (i < FS_BLOCK || got != want)
                fail_msg("isa=%s npairs=%d thr=%u: mask 0x%08x vs scalar 0x%08x, sums[%d] %u vs %u",
                         cpu_isa_name((cpu_isa)isa), npairs, thrs[t], got, want, i % FS_BLOCK,
                         sums[i % FS_BLOCK], ref[i % FS_BLOCK]);
        }
    }
    free(sums);
}

static void test_pack_matches_layout(void **state)
{
    (void)state;
    const int ms[] = {1, 2, 3, 4, 5, 50, 52, 196, 392};
    uint64_t s = 1;
    for (size_t t = 0; t < sizeof ms / sizeof ms[0]; t++) {
        int m = ms[t], m4 = fs_m4(m);
        size_t nb = fs_block_bytes(m);
        assert_int_equal(nb, 16 * (size_t)m4);
        uint8_t *codes = malloc((size_t)FS_BLOCK * m), *back = malloc((size_t)m4);
        uint8_t *block = random_block(m, &s, codes);
        /* The header's formula, written out independently of pack.c. */
        uint8_t *want = calloc(1, nb);
        for (int p = 0; p < m4 / 2; p++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < 16 && 2 * p + h < m; i++)
                    want[32 * p + 16 * h + i] =
                        (uint8_t)(codes[i * m + 2 * p + h] | codes[(i + 16) * m + 2 * p + h] << 4);
        assert_memory_equal(block, want, nb);
        for (int i = 0; i < FS_BLOCK; i++) {
            fs_unpack_one(block, m, i, back);
            assert_memory_equal(back, codes + i * m, (size_t)m);
            fs_unpack_one(block, m4, i, back); /* padding sub-codes read as 0 */
            for (int j = m; j < m4; j++) assert_int_equal(back[j], 0);
        }
        /* Packing over garbage (in reverse slot order) gives the same bytes: each slot owns its
         * nibbles, padding included. */
        uint8_t *dirty = malloc(nb);
        memset(dirty, 0xFF, nb);
        for (int i = FS_BLOCK - 1; i >= 0; i--) fs_pack_one(dirty, m, i, codes + i * m);
        assert_memory_equal(dirty, want, nb);
        /* Overwriting one slot leaves every other slot alone. */
        for (int j = 0; j < m; j++) codes[17 * m + j] = (uint8_t)(15 - codes[17 * m + j]);
        fs_pack_one(dirty, m, 17, codes + 17 * m);
        for (int i = 0; i < FS_BLOCK; i++) {
            fs_unpack_one(dirty, m, i, back);
            assert_memory_equal(back, codes + i * m, (size_t)m);
        }
        free(codes), free(back), free(block), free(want), free(dirty);
    }
}

/* Checks every documented property of one quantized table; returns the sum of row maxima and
 * (when binds is non-NULL) whether the uint16 sum bound, not the byte bound, set a. */
static long check_quantized(const float *lut, int m, const uint8_t *q, float a, float bias,
                            int *binds)
{
    assert_true(a > 0.0f && isfinite(a));
    double sum_min = 0, max_span = 0, sum_span = 0;
    long sum_max = 0;
    for (int j = 0; j < m; j++) {
        float lo = lut[16 * j], hi = lut[16 * j];
        for (int k = 1; k < 16; k++) {
            lo = fminf(lo, lut[16 * j + k]);
            hi = fmaxf(hi, lut[16 * j + k]);
        }
        sum_min += lo;
        max_span = fmax(max_span, (double)hi - lo);
        sum_span += (double)hi - lo;
        int row_max = 0;
        for (int k = 0; k < 16; k++) {
            double t = ((double)lut[16 * j + k] - lo) * a;
            if (fabs(q[16 * j + k] - t) > 0.5 + 1e-3)
                fail_msg("m=%d q[%d][%d]=%d but (L - min) * a = %.6f", m, j, k, q[16 * j + k], t);
            row_max = q[16 * j + k] > row_max ? q[16 * j + k] : row_max;
        }
        sum_max += row_max;
    }
    for (int j = m; j < fs_m4(m); j++)
        for (int k = 0; k < 16; k++) assert_int_equal(q[16 * j + k], 0);
    assert_true(fabs(bias - sum_min) <= 1e-6 * fabs(sum_min) + 1e-6);
    if (max_span > 0) {
        /* a is the documented one: the tighter of the two bounds, within float rounding. */
        double want = fmin(255.0 / max_span, (65535.0 - m) / sum_span);
        assert_true(fabs(a - want) <= 1e-6 * want);
    }
    if (binds) *binds = max_span > 0 && (65535.0 - m) / sum_span < 255.0 / max_span;
    if (sum_max > 65535) fail_msg("m=%d: row maxima of q sum to %ld > 65535", m, sum_max);
    return sum_max;
}

static void quantize_and_check(const float *lut, int m)
{
    uint8_t *q = malloc(fs_lut_bytes(m));
    float a, bias;
    fs_lut_quantize(lut, m, q, &a, &bias);
    check_quantized(lut, m, q, a, bias, NULL);
    free(q);
}

static void test_lut_bounds_adversarial(void **state)
{
    (void)state;
    uint64_t s = 7;
    float *lut = malloc(16 * 400 * sizeof(float));
    for (int m = 1; m <= 400; m++) {
        for (int pattern = 0; pattern < 6; pattern++) {
            for (int j = 0; j < m; j++) {
                float span = 1.0f, base = 0.0f;
                if (pattern == 1) span = j == 0 ? 1e6f : 1.0f;       /* one huge span */
                if (pattern == 2) span = j == m / 2 ? 1e-3f : 1e3f;  /* one tiny span */
                if (pattern == 3) span = rng_unit(&s);               /* random spans */
                if (pattern == 4) base = 1e6f, span = 3.0f;          /* L - min cancels */
                if (pattern == 5) span = 1.0f + (float)(j % 7) / 13; /* 7 span sizes */
                for (int k = 0; k < 16; k++)
                    lut[16 * j + k] = base + span * (k == 15 ? 1.0f : rng_unit(&s));
                /* k = 15 holds the row maximum and a random other entry the minimum, so the
                 * span is exact; equal spans make every row round the same way (up, for about
                 * half of the m in 258..400 where the sum bound binds). */
                lut[16 * j + (int)(rng_next(&s) % 15)] = base;
            }
            quantize_and_check(lut, m);
        }
    }
    free(lut);
}

static void test_lut_flat_and_byte_bound(void **state)
{
    (void)state;
    float lut[16 * 6];
    uint8_t q[16 * 8];
    float a, bias;
    /* All rows constant: a = 1, all q 0, bias = sum of the constants. */
    for (int j = 0; j < 6; j++)
        for (int k = 0; k < 16; k++) lut[16 * j + k] = (float)j - 2.5f;
    memset(q, 0x77, sizeof q);
    fs_lut_quantize(lut, 6, q, &a, &bias);
    assert_true(a == 1.0f);
    assert_true(bias == 0.0f + -2.5f - 1.5f - 0.5f + 0.5f + 1.5f + 2.5f);
    for (int i = 0; i < 16 * 8; i++) assert_int_equal(q[i], 0);
    /* Few sub-spaces: the byte bound is active and the widest row uses the full 0..255. */
    for (int j = 0; j < 6; j++)
        for (int k = 0; k < 16; k++) lut[16 * j + k] = (float)(k * (j + 1)) * 0.37f;
    fs_lut_quantize(lut, 6, q, &a, &bias);
    assert_true(fabsf(a - 255.0f / (15 * 6 * 0.37f)) <= 1e-4f * a);
    assert_int_equal(q[16 * 5 + 15], 255);
    check_quantized(lut, 6, q, a, bias, NULL);
}

/* The two-pass quantization of a sum qt + lt (SCANN's L2 residual tables, one per probed list
 * sharing one scale) writes exactly the bytes fs_lut_quantize writes for the summed table with
 * the same scale, and its statistics give that table's scale and bias: so the shared-scale
 * tables inherit every bound checked above. Lists whose spans differ share the largest. */
static void test_lut_sum_matches_quantize(void **state)
{
    (void)state;
    uint64_t s = 11;
    enum { MAXM = 300, NL = 3 };
    float *qt = malloc(16 * MAXM * sizeof(float)), *lt = malloc(NL * 16 * MAXM * sizeof(float));
    float *sum = malloc(16 * MAXM * sizeof(float));
    uint8_t *q1 = malloc(fs_lut_bytes(MAXM)), *q2 = malloc(fs_lut_bytes(MAXM));
    const int ms[] = {1, 5, 64, 196, 257, 258, 300};
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
        int m = ms[mi];
        for (int i = 0; i < 16 * m; i++) qt[i] = 1e3f * (rng_unit(&s) - 0.5f);
        for (int l = 0; l < NL; l++) /* large opposite parts that cancel, as -2<q,C> + 2<c,C> */
            for (int i = 0; i < 16 * m; i++)
                lt[l * 16 * m + i] = -qt[i] + (float)(l + 1) * rng_unit(&s) + 5.0f * l;
        float max_span = 0.0f;
        double max_sum = 0.0, ss[NL], sm[NL];
        for (int l = 0; l < NL; l++) {
            fs_lut_sum_stats(qt, lt + l * 16 * m, m, &max_span, &ss[l], &sm[l]);
            max_sum = ss[l] > max_sum ? ss[l] : max_sum;
        }
        float a = fs_lut_scale(m, max_span, max_sum);
        for (int l = 0; l < NL; l++) {
            for (int i = 0; i < 16 * m; i++) sum[i] = qt[i] + lt[l * 16 * m + i];
            float a1, bias1, one_span = 0.0f;
            double one_sum, one_min;
            fs_lut_quantize(sum, m, q1, &a1, &bias1);
            fs_lut_sum_stats(qt, lt + l * 16 * m, m, &one_span, &one_sum, &one_min);
            /* one list alone: the same scale and bias as quantizing its summed table */
            assert_true(fs_lut_scale(m, one_span, one_sum) == a1);
            assert_true((float)one_min == bias1);
            /* with the shared scale: fs_lut_quantize's bytes for that scale */
            fs_lut_sum_quantize(qt, lt + l * 16 * m, m, a, q2);
            for (int j = 0; j < m; j++) {
                float lo = sum[16 * j];
                for (int k = 1; k < 16; k++) lo = sum[16 * j + k] < lo ? sum[16 * j + k] : lo;
                for (int k = 0; k < 16; k++) {
                    float t = (sum[16 * j + k] - lo) * a + 0.5f;
                    int want = t < 255.0f ? (int)t : 255;
                    if (q2[16 * j + k] != want)
                        fail_msg("m=%d list %d row %d k %d: %d, want %d", m, l, j, k,
                                 q2[16 * j + k], want);
                }
            }
            long sum_max = 0;
            for (int j = 0; j < m; j++) {
                int mx = 0;
                for (int k = 0; k < 16; k++) mx = q2[16 * j + k] > mx ? q2[16 * j + k] : mx;
                sum_max += mx;
            }
            assert_true(sum_max <= 65535); /* the uint16 bound holds for every list */
            for (size_t i = (size_t)16 * m; i < fs_lut_bytes(m); i++) assert_int_equal(q2[i], 0);
        }
    }
    free(qt), free(lt), free(sum), free(q1), free(q2);
}

static void test_kernels_match_scalar_random(void **state)
{
    (void)state;
    uint64_t s = 3;
    for (int t = 0; t < N_MS; t++) {
        int m = k_ms[t], npairs = fs_m4(m) / 2;
        uint8_t *codes = malloc((size_t)FS_BLOCK * m), *q = calloc(1, fs_lut_bytes(m));
        uint16_t ref[FS_BLOCK];
        uint32_t naive[FS_BLOCK];
        for (int trial = 0; trial < 16; trial++) {
            uint8_t *block = random_block(m, &s, codes);
            for (int i = 0; i < 16 * m; i++) q[i] = (uint8_t)rng_next(&s); /* padding stays 0 */
            if (trial == 0) memset(q, 255, (size_t)16 * m); /* largest sums, wrap at m > 257 */
            expect_kernels_agree(block, q, npairs, &s, ref);
            naive_sums(codes, q, m, naive);
            for (int i = 0; i < FS_BLOCK; i++) assert_int_equal(ref[i], (uint16_t)naive[i]);
            free(block);
        }
        free(codes), free(q);
    }
    /* Odd pair counts lie outside fs_m4's contract; the kernels still agree on them, and on
     * blocks at an odd address (no alignment is promised). */
    for (int npairs = 1; npairs <= 5; npairs += 2) {
        uint8_t *buf = malloc((size_t)32 * npairs + 1), *q = malloc((size_t)32 * npairs);
        uint8_t *block = buf + 1;
        uint16_t ref[FS_BLOCK];
        for (int i = 0; i < 32 * npairs; i++) {
            block[i] = (uint8_t)rng_next(&s);
            q[i] = (uint8_t)rng_next(&s);
        }
        expect_kernels_agree(block, q, npairs, &s, ref);
        free(buf), free(q);
    }
    if (cpu_detect() == ISA_SCALAR) skip();
}

/* Float table for a query against 16 centres per 2-dim sub-space, the centres being sub-vectors
 * of other rows (realistic spans: many zero rows at the image border, large ones inside). */
static void float_table(const float *query, const float *centres, int m, float *lut)
{
    for (int j = 0; j < m; j++)
        for (int k = 0; k < 16; k++) {
            float d0 = query[2 * j] - centres[k * 2 * m + 2 * j];
            float d1 = query[2 * j + 1] - centres[k * 2 * m + 2 * j + 1];
            lut[16 * j + k] = d0 * d0 + d1 * d1;
        }
}

/* Nearest centre per sub-space for each of n rows. */
static void encode(const float *x, int n, const float *centres, int m, uint8_t *codes)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            float best = INFINITY;
            for (int k = 0; k < 16; k++) {
                float d0 = x[i * 2 * m + 2 * j] - centres[k * 2 * m + 2 * j];
                float d1 = x[i * 2 * m + 2 * j + 1] - centres[k * 2 * m + 2 * j + 1];
                if (d0 * d0 + d1 * d1 < best) {
                    best = d0 * d0 + d1 * d1;
                    codes[i * m + j] = (uint8_t)k;
                }
            }
        }
}

/* 4 blocks of rows scored against nq queries: kernels agree, no sum overflowed, and the
 * dequantized score is within m / (2a) of the float one. Returns how often the sum bound was
 * the active one. */
static int check_real_tables(const float *base, const float *queries, int nq, int m)
{
    enum { NBLK = 4, N = NBLK * FS_BLOCK };
    const float *centres = base, *rows = base + 16 * 2 * m;
    uint8_t *codes = malloc((size_t)N * m), *q = malloc(fs_lut_bytes(m));
    uint8_t *blocks = calloc(NBLK, fs_block_bytes(m));
    float *lut = malloc((size_t)16 * m * sizeof(float));
    uint64_t s = 11;
    int sum_bound_active = 0;
    encode(rows, N, centres, m, codes);
    for (int i = 0; i < N; i++)
        fs_pack_one(blocks + (i / FS_BLOCK) * fs_block_bytes(m), m, i % FS_BLOCK, codes + i * m);
    for (int iq = 0; iq < nq; iq++) {
        float a, bias;
        float_table(queries + (size_t)iq * 2 * m, centres, m, lut);
        fs_lut_quantize(lut, m, q, &a, &bias);
        int binds;
        long worst = check_quantized(lut, m, q, a, bias, &binds);
        sum_bound_active += binds;
        /* Slot 0 of block 0 takes every row's largest entry: the worst-case sum. */
        for (int j = 0; j < m; j++)
            for (int k = 0; k < 16; k++)
                if (q[16 * j + k] >= q[16 * j + codes[j]]) codes[j] = (uint8_t)k;
        fs_pack_one(blocks, m, 0, codes);
        /* When the sum bound binds, the worst case uses nearly all of 16 bits: the sum of the
         * rounded row maxima is (65535 - m) +- m / 2. */
        if (binds) assert_true(worst >= 65535 - 2 * m);
        for (int b = 0; b < NBLK; b++) {
            uint16_t ref[FS_BLOCK];
            uint32_t naive[FS_BLOCK];
            expect_kernels_agree(blocks + b * fs_block_bytes(m), q, fs_m4(m) / 2, &s, ref);
            naive_sums(codes + (size_t)b * FS_BLOCK * m, q, m, naive);
            if (b == 0) assert_int_equal(naive[0], worst);
            for (int i = 0; i < FS_BLOCK; i++) {
                assert_int_equal(naive[i], ref[i]); /* 32-bit sum == 16-bit sum: no overflow */
                double exact = 0;
                const uint8_t *c = codes + (size_t)(b * FS_BLOCK + i) * m;
                for (int j = 0; j < m; j++) exact += lut[16 * j + c[j]];
                double approx = bias + ref[i] / (double)a;
                double bound = m * 0.5 / a + 1e-6 * exact + 1e-3;
                if (fabs(approx - exact) > bound)
                    fail_msg("m=%d q%d v%d: bias + S/a = %.3f vs %.3f (bound %.3f)", m, iq,
                             b * FS_BLOCK + i, approx, exact, bound);
            }
        }
    }
    free(codes), free(q), free(blocks), free(lut);
    return sum_bound_active;
}

static void test_real_tables(void **state)
{
    (void)state;
    const int nq = 8, m = TD_FASHION_DIM / 2; /* 392 sub-spaces: the > 256 precision path */
    float *base = td_fashion(0, 16 + 4 * FS_BLOCK), *queries = td_fashion(1, nq);
    assert_non_null(base);
    assert_non_null(queries);
    int active = check_real_tables(base, queries, nq, m);
    /* Real spans differ too much across sub-spaces (empty image borders) for the uint16 sum
     * bound to bind. Queries far from random centres give near-equal spans, so it does here. */
    float *rb = td_random(16 + 4 * FS_BLOCK, TD_FASHION_DIM, 5);
    float *rq = td_random(nq, TD_FASHION_DIM, 6);
    for (int i = 0; i < nq * TD_FASHION_DIM; i++) rq[i] += 8.0f;
    int active_random = check_real_tables(rb, rq, nq, m);
    assert_int_equal(active_random, nq);
    print_message("fastscan: m=%d, sum bound active for %d/%d Fashion-MNIST and %d/%d random "
                  "queries\n",
                  m, active, nq, active_random, nq);
    /* Glove-like shape too: m = 50 (d = 100). */
    check_real_tables(rb, rq, nq, 50);
    free(base), free(queries), free(rb), free(rq);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per block over `nblocks` consecutive blocks, best of `reps` passes. */
static double time_kernel(fs_block_fn fn, const uint8_t *blocks, int nblocks, int m,
                          const uint8_t *q, int reps, uint32_t *sink)
{
    uint16_t sums[FS_BLOCK];
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = now_ns();
        for (int b = 0; b < nblocks; b++)
            *sink += fn(blocks + (size_t)b * fs_block_bytes(m), q, fs_m4(m) / 2, 30000, sums) +
                     sums[b & 31];
        best = fmin(best, (now_ns() - t0) / nblocks);
    }
    return best;
}

/* ns per block of every ISA for m sub-spaces over a list of nblocks (~8 MB, streamed from L2/L3)
 * and over 64 hot blocks (L1/L2). */
static void report_timings(int m, int nblocks)
{
    uint64_t s = 9;
    uint8_t *blocks = malloc(fs_block_bytes(m) * nblocks), *q = malloc(fs_lut_bytes(m));
    float *lut = malloc((size_t)16 * m * sizeof(float));
    for (size_t i = 0; i < fs_block_bytes(m) * nblocks; i++) blocks[i] = (uint8_t)rng_next(&s);
    for (int i = 0; i < 16 * m; i++) lut[i] = rng_unit(&s);
    float a, bias;
    fs_lut_quantize(lut, m, q, &a, &bias);
    uint32_t sink = 0;
    for (int isa = ISA_SCALAR; isa <= (int)cpu_detect(); isa++) {
        fs_block_fn fn = fs_kernel_for((cpu_isa)isa);
        double list = time_kernel(fn, blocks, nblocks, m, q, isa == ISA_SCALAR ? 3 : 10, &sink);
        double hot = time_kernel(fn, blocks, 64, m, q, isa == ISA_SCALAR ? 20 : 2000, &sink);
        print_message("fastscan m=%d (%d pairs) %-6s: %7.1f ns/block over %d blocks, %7.1f "
                      "ns/block hot (64 blocks)\n",
                      m, fs_m4(m) / 2, cpu_isa_name((cpu_isa)isa), list, nblocks, hot);
    }
    print_message("(sink %u)\n", sink);
    free(blocks), free(q), free(lut);
}

/* Timing report only, never asserted: the glove shape (d = 100, 2 dims per block: m = 50, 26
 * pairs) over a 10,000-block list, and Fashion-MNIST's PQ196x4fs shape. */
static void test_report_timings(void **state)
{
    (void)state;
    report_timings(50, 10000);
    report_timings(196, 2500);
}

/* ---- multi-query kernels -------------------------------------------------------------- */

static const int k_multi_ms[] = {1, 2, 3, 5, 50, 52, 196, 392};
#define N_MULTI_MS (int)(sizeof k_multi_ms / sizeof k_multi_ms[0])

/* Every multi-query kernel the CPU runs (the scalar twin included), for every nq in
 * 1..FS_MAX_QB, returns for query t exactly fs_scan_block_scalar(block, luts[t], thr[t]): the
 * sums byte for byte and the mask bit for bit. Thresholds mix 0, 65535, each query's median and
 * random values; queries of one call get different ones. */
static void expect_multi_agree(const uint8_t *block, uint8_t *const *luts, int nluts, int npairs,
                               uint64_t *s)
{
    enum { NT = 4 };
    uint16_t want_sums[FS_MAX_QB * FS_BLOCK], got_sums[FS_MAX_QB * FS_BLOCK];
    uint32_t want_masks[FS_MAX_QB], got_masks[FS_MAX_QB];
    for (int nq = 1; nq <= FS_MAX_QB; nq++) {
        for (int trial = 0; trial < NT; trial++) {
            const uint8_t *sel[FS_MAX_QB];
            uint16_t thr[FS_MAX_QB];
            for (int t = 0; t < nq; t++) {
                /* The same table may serve two slots: the kernel must not care. */
                sel[t] = luts[(t + trial) % nluts];
                uint16_t sorted[FS_BLOCK];
                fs_scan_block_scalar(block, sel[t], npairs, 0, sorted);
                qsort(sorted, FS_BLOCK, sizeof(uint16_t), cmp_u16);
                switch ((trial + t) % 4) {
                case 0: thr[t] = sorted[FS_BLOCK / 2]; break;
                case 1: thr[t] = (uint16_t)rng_next(s); break;
                case 2: thr[t] = trial == 0 ? 0 : sorted[0]; break;
                default: thr[t] = trial == 0 ? 65535 : sorted[FS_BLOCK - 1]; break;
                }
                want_masks[t] =
                    fs_scan_block_scalar(block, sel[t], npairs, thr[t], want_sums + FS_BLOCK * t);
            }
            for (int isa = ISA_SCALAR; isa <= (int)cpu_detect(); isa++) {
                memset(got_sums, 0xA5, sizeof got_sums);
                memset(got_masks, 0xA5, sizeof got_masks);
                fs_multi_kernel_for((cpu_isa)isa)(block, sel, nq, npairs, thr, got_sums, got_masks);
                for (int t = 0; t < nq; t++) {
                    int i = 0;
                    while (i < FS_BLOCK &&
                           got_sums[FS_BLOCK * t + i] == want_sums[FS_BLOCK * t + i])
                        i++;
                    if (i < FS_BLOCK || got_masks[t] != want_masks[t])
                        fail_msg("multi isa=%s nq=%d query %d npairs=%d thr=%u: mask 0x%08x vs "
                                 "0x%08x, sums[%d] %u vs %u",
                                 cpu_isa_name((cpu_isa)isa), nq, t, npairs, thr[t], got_masks[t],
                                 want_masks[t], i % FS_BLOCK, got_sums[FS_BLOCK * t + i % FS_BLOCK],
                                 want_sums[FS_BLOCK * t + i % FS_BLOCK]);
                }
                /* Nothing written beyond nq queries. */
                for (int i = FS_BLOCK * nq; i < FS_MAX_QB * FS_BLOCK; i++)
                    assert_int_equal(got_sums[i], 0xA5A5);
                for (int t = nq; t < FS_MAX_QB; t++) assert_int_equal(got_masks[t], 0xA5A5A5A5u);
            }
        }
    }
}

static void test_multi_kernels_random_tables(void **state)
{
    (void)state;
    uint64_t s = 21;
    enum { NL = FS_MAX_QB + 1 };
    for (int t = 0; t < N_MULTI_MS; t++) {
        int m = k_multi_ms[t], npairs = fs_m4(m) / 2;
        uint8_t *codes = malloc((size_t)FS_BLOCK * m), *luts[NL];
        for (int l = 0; l < NL; l++) luts[l] = calloc(1, fs_lut_bytes(m));
        for (int trial = 0; trial < 6; trial++) {
            uint8_t *block = random_block(m, &s, codes);
            for (int l = 0; l < NL; l++) {
                for (int i = 0; i < 16 * m; i++) luts[l][i] = (uint8_t)rng_next(&s);
                if (trial == 0 && l == 0)
                    memset(luts[l], 255, (size_t)16 * m); /* wraps at m > 257 */
            }
            expect_multi_agree(block, luts, NL, npairs, &s);
            free(block);
        }
        free(codes);
        for (int l = 0; l < NL; l++) free(luts[l]);
    }
    /* Odd pair counts (outside fs_m4's contract, the AVX-512 tail) and a block at an odd address. */
    for (int npairs = 1; npairs <= 5; npairs += 2) {
        uint8_t *buf = malloc((size_t)32 * npairs + 1), *block = buf + 1, *luts[FS_MAX_QB];
        for (int i = 0; i < 32 * npairs; i++) block[i] = (uint8_t)rng_next(&s);
        for (int l = 0; l < FS_MAX_QB; l++) {
            luts[l] = malloc((size_t)32 * npairs);
            for (int i = 0; i < 32 * npairs; i++) luts[l][i] = (uint8_t)rng_next(&s);
        }
        expect_multi_agree(block, luts, FS_MAX_QB, npairs, &s);
        free(buf);
        for (int l = 0; l < FS_MAX_QB; l++) free(luts[l]);
    }
}

/* Real tables: Fashion-MNIST queries against codes of Fashion-MNIST rows (2 dims per sub-space,
 * centres taken from other rows, as in check_real_tables), quantized by fs_lut_quantize, for
 * every m of the list (the first 2m dimensions). */
static void test_multi_kernels_real_tables(void **state)
{
    (void)state;
    enum { NQ = 6, NBLK = 3, N = NBLK * FS_BLOCK };
    const int dim = TD_FASHION_DIM;
    float *base = td_fashion(0, 16 + N), *queries = td_fashion(1, NQ);
    assert_non_null(base);
    assert_non_null(queries);
    uint64_t s = 23;
    for (int t = 0; t < N_MULTI_MS; t++) {
        int m = k_multi_ms[t];
        assert_true(2 * m <= dim);
        /* Sub-vectors of the first 2m dimensions, repacked densely for float_table/encode. */
        float *cen = malloc(sizeof(float) * 16 * 2 * m), *rows = malloc(sizeof(float) * N * 2 * m);
        float *qs = malloc(sizeof(float) * NQ * 2 * m), *lut = malloc(sizeof(float) * 16 * m);
        for (int i = 0; i < 16; i++)
            memcpy(cen + i * 2 * m, base + (size_t)i * dim, sizeof(float) * 2 * m);
        for (int i = 0; i < N; i++)
            memcpy(rows + i * 2 * m, base + (size_t)(16 + i) * dim, sizeof(float) * 2 * m);
        for (int i = 0; i < NQ; i++)
            memcpy(qs + i * 2 * m, queries + (size_t)i * dim, sizeof(float) * 2 * m);
        uint8_t *codes = malloc((size_t)N * m), *blocks = calloc(NBLK, fs_block_bytes(m)),
                *luts[NQ];
        encode(rows, N, cen, m, codes);
        for (int i = 0; i < N; i++)
            fs_pack_one(blocks + (i / FS_BLOCK) * fs_block_bytes(m), m, i % FS_BLOCK,
                        codes + i * m);
        for (int q = 0; q < NQ; q++) {
            float a, bias;
            luts[q] = malloc(fs_lut_bytes(m));
            float_table(qs + q * 2 * m, cen, m, lut);
            fs_lut_quantize(lut, m, luts[q], &a, &bias);
        }
        for (int b = 0; b < NBLK; b++)
            expect_multi_agree(blocks + b * fs_block_bytes(m), luts, NQ, fs_m4(m) / 2, &s);
        for (int q = 0; q < NQ; q++) free(luts[q]);
        free(cen), free(rows), free(qs), free(lut), free(codes), free(blocks);
    }
    free(base), free(queries);
}

/* Timing report only, never asserted: ns per block per query of the single kernel and of the
 * multi kernel at every nq, over a list of nblocks (glove shape m = 50). */
static void test_report_multi_timings(void **state)
{
    (void)state;
    const int ms[] = {50, 196};
    for (int mi = 0; mi < 2; mi++) {
        int m = ms[mi], nblocks = m == 50 ? 2000 : 500, npairs = fs_m4(m) / 2;
        uint64_t s = 31;
        size_t bb = fs_block_bytes(m);
        uint8_t *blocks = malloc(bb * nblocks), *luts[FS_MAX_QB];
        for (size_t i = 0; i < bb * nblocks; i++) blocks[i] = (uint8_t)rng_next(&s);
        float *lut = malloc((size_t)16 * m * sizeof(float));
        for (int l = 0; l < FS_MAX_QB; l++) {
            float a, bias;
            for (int i = 0; i < 16 * m; i++) lut[i] = rng_unit(&s);
            luts[l] = malloc(fs_lut_bytes(m));
            fs_lut_quantize(lut, m, luts[l], &a, &bias);
        }
        uint16_t thr[FS_MAX_QB] = {30000, 30000, 30000, 30000}, sums[FS_MAX_QB * FS_BLOCK];
        uint32_t masks[FS_MAX_QB], sink = 0;
        for (int isa = ISA_SCALAR; isa <= (int)cpu_detect(); isa++) {
            fs_block_fn one = fs_kernel_for((cpu_isa)isa);
            fs_multi_fn multi = fs_multi_kernel_for((cpu_isa)isa);
            int reps = isa == ISA_SCALAR ? 2 : 20;
            double best1 = INFINITY;
            for (int r = 0; r < reps; r++) {
                double t0 = now_ns();
                for (int b = 0; b < nblocks; b++)
                    for (int q = 0; q < FS_MAX_QB; q++)
                        sink += one(blocks + b * bb, luts[q], npairs, thr[q], sums);
                best1 = fmin(best1, (now_ns() - t0) / nblocks / FS_MAX_QB);
            }
            print_message("fastscan m=%d %-6s single: %6.1f ns/block/query;", m,
                          cpu_isa_name((cpu_isa)isa), best1);
            for (int nq = 1; nq <= FS_MAX_QB; nq++) {
                double best = INFINITY;
                for (int r = 0; r < reps; r++) {
                    double t0 = now_ns();
                    for (int b = 0; b < nblocks; b++)
                        for (int q = 0; q + nq <= FS_MAX_QB; q += nq) {
                            multi(blocks + b * bb, (const uint8_t *const *)luts + q, nq, npairs,
                                  thr, sums, masks);
                            sink += masks[0];
                        }
                    best = fmin(best, (now_ns() - t0) / nblocks / (FS_MAX_QB / nq * nq));
                }
                print_message(" nq=%d %6.1f", nq, best);
            }
            print_message("\n");
        }
        print_message("(sink %u)\n", sink);
        free(blocks), free(lut);
        for (int l = 0; l < FS_MAX_QB; l++) free(luts[l]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_matches_layout),
        cmocka_unit_test(test_lut_bounds_adversarial),
        cmocka_unit_test(test_lut_flat_and_byte_bound),
        cmocka_unit_test(test_lut_sum_matches_quantize),
        cmocka_unit_test(test_kernels_match_scalar_random),
        cmocka_unit_test(test_real_tables),
        cmocka_unit_test(test_report_timings),
        cmocka_unit_test(test_multi_kernels_random_tables),
        cmocka_unit_test(test_multi_kernels_real_tables),
        cmocka_unit_test(test_report_multi_timings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
