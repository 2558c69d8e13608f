/*
 * neon_check.c - every NEON kernel against its scalar twin, bit for bit, on random inputs with
 * odd lengths and tails (make test-neon: cross-compiled for aarch64, run under qemu-user). It
 * links only the kernel files, their scalar twins and cpu.c (the tables and detection), so it
 * needs neither cmocka nor BLAS for arm64. Exit status 1 and a message name the first mismatch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if !defined(__aarch64__)
#error "neon_check.c tests the aarch64 NEON kernels: build it with an aarch64 compiler"
#endif

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static long checks;

static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17; /* xorshift64 */
    return (uint32_t)(rng >> 16);
}

/* Mostly in [-2, 2); one value in 16 from a tiny set, so argmins meet ties and exact zeros. */
static float rnd(void)
{
    uint32_t r = next();
    if ((r & 15) == 0) return (float)((r >> 4) % 3) * 0.5f;
    return (float)(r % 4000000u) / 1e6f - 2.0f;
}

static void fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = rnd();
}

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "neon-check: FAIL: " __VA_ARGS__);                                     \
            fputc('\n', stderr);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static int same(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_distance(const kernels *k, const kernels *s)
{
    enum { MAXD = 1040, ROWS = 9 };
    float *q = malloc(MAXD * sizeof(float)), *x = malloc(ROWS * MAXD * sizeof(float));
    float ok[ROWS], os[ROWS];
    for (size_t d = 1; d <= MAXD; d += d < 70 ? 1 : 97) {
        fill(q, d), fill(x, ROWS * d);
        for (size_t r = 0; r < ROWS; r++) {
            const float *xr = x + r * d;
            EXPECT(same(k->l2(q, xr, d), s->l2(q, xr, d)), "l2 d=%zu", d);
            EXPECT(same(k->ip(q, xr, d), s->ip(q, xr, d)), "ip d=%zu", d);
            /* narrow rows from this row's bytes: int8 any value, bf16 whatever finite or not */
            const uint8_t *xb = (const uint8_t *)(const void *)xr + r % 3;
            EXPECT(same(k->ip_i8(q, xb, d), s->ip_i8(q, xb, d)), "ip_i8 d=%zu", d);
            float bk = k->ip_bf16(q, xb, d), bs = s->ip_bf16(q, xb, d);
            EXPECT(same(bk, bs) || (bk != bk && bs != bs), "ip_bf16 d=%zu", d);
        }
        for (size_t n = 0; n <= ROWS; n++) {
            k->l2_rows(q, x, n, d, ok), s->l2_rows(q, x, n, d, os);
            EXPECT(!memcmp(ok, os, n * sizeof(float)), "l2_rows n=%zu d=%zu", n, d);
            k->ip_rows(q, x, n, d, ok), s->ip_rows(q, x, n, d, os);
            EXPECT(!memcmp(ok, os, n * sizeof(float)), "ip_rows n=%zu d=%zu", n, d);
        }
    }
    free(q), free(x);
}

static void check_fastscan(const kernels *k, const kernels *s)
{
    enum { MAXP = 130 };
    uint8_t *block = malloc(32 * MAXP), *luts[FS_MAX_QB];
    for (int t = 0; t < FS_MAX_QB; t++) luts[t] = malloc(32 * MAXP);
    uint16_t sk[FS_BLOCK * FS_MAX_QB], ss[FS_BLOCK * FS_MAX_QB], thr[FS_MAX_QB];
    uint32_t mk[FS_MAX_QB], ms[FS_MAX_QB];
    for (int iter = 0; iter < 400; iter++) {
        int npairs = 1 + (int)(next() % MAXP);
        for (int i = 0; i < 32 * npairs; i++) block[i] = (uint8_t)next();
        /* Full bytes: sums past 16 bits must wrap the same way too. Thresholds: mostly one of
         * the sums itself, so S == thr (the edge of S <= thr) is tested, else 0 or 65535. */
        for (int t = 0; t < FS_MAX_QB; t++) {
            for (int i = 0; i < 32 * npairs; i++) luts[t][i] = (uint8_t)next();
            s->fs_block(block, luts[t], npairs, 0, ss);
            thr[t] = iter % 7 == 0 ? 65535 : iter % 11 == 0 ? 0 : ss[next() % FS_BLOCK];
        }
        uint32_t a = k->fs_block(block, luts[0], npairs, thr[0], sk);
        uint32_t b = s->fs_block(block, luts[0], npairs, thr[0], ss);
        EXPECT(a == b && !memcmp(sk, ss, sizeof(uint16_t) * FS_BLOCK), "scan npairs=%d", npairs);
        for (int nq = 1; nq <= FS_MAX_QB; nq++) {
            k->fs_multi(block, (const uint8_t *const *)luts, nq, npairs, thr, sk, mk);
            s->fs_multi(block, (const uint8_t *const *)luts, nq, npairs, thr, ss, ms);
            EXPECT(!memcmp(mk, ms, nq * sizeof(uint32_t)) &&
                       !memcmp(sk, ss, sizeof(uint16_t) * FS_BLOCK * nq),
                   "multi-query scan nq=%d npairs=%d", nq, npairs);
        }
    }
    free(block);
    for (int t = 0; t < FS_MAX_QB; t++) free(luts[t]);
}

static void check_avq(const kernels *k, const kernels *s)
{
    static const int ksubs[] = {1, 3, 4, 5, 16, 17, 31, 256};
    float ct[8 * 256], v[8], x[8], ek[256], es[256], pk[256], ps[256];
    for (size_t i = 0; i < sizeof ksubs / sizeof *ksubs; i++)
        for (int len = 1; len <= 8; len++)
            for (int rep = 0; rep < 8; rep++) {
                int ksub = ksubs[i];
                fill(ct, (size_t)len * ksub), fill(v, len), fill(x, len);
                float inv = 0.25f + (float)(next() % 1000) / 1000.0f;
                k->avq_tables(ct, ksub, len, v, x, inv, ek, pk);
                s->avq_tables(ct, ksub, len, v, x, inv, es, ps);
                EXPECT(!memcmp(ek, es, ksub * sizeof(float)) &&
                           !memcmp(pk, ps, ksub * sizeof(float)),
                       "avq tables ksub=%d len=%d", ksub, len);
            }
}

static void check_pq_tables16(const kernels *k, const kernels *s)
{
    enum { MAXD = 70 };
    float ct[16 * MAXD], q[MAXD], ok[16 * MAXD], os[16 * MAXD];
    for (int d = 1; d <= MAXD; d += d < 12 ? 1 : 7)
        for (int dsub = 1; dsub <= 6 && dsub <= d; dsub++)
            for (int l2 = 0; l2 < 2; l2++) {
                int m = (d + dsub - 1) / dsub;
                fill(ct, (size_t)16 * d), fill(q, d);
                k->pq_tables16(ct, d, dsub, q, l2, ok);
                s->pq_tables16(ct, d, dsub, q, l2, os);
                EXPECT(!memcmp(ok, os, (size_t)16 * m * sizeof(float)),
                       "pq tables16 d=%d dsub=%d l2=%d", d, dsub, l2);
            }
}

static void check_kmeans(const kernels *k, const kernels *s)
{
    enum { MAXM = 1100, MAXK = 300 };
    float *sc = malloc(MAXM * sizeof(float)), *ct = malloc(8 * 304 * sizeof(float)), xr[8], a, b;
    for (int m = 1; m <= MAXM; m += m < 80 ? 1 : 53)
        for (int rep = 0; rep < 4; rep++) {
            fill(sc, m);
            int ik = k->km_argmin(sc, m, &a), is = s->km_argmin(sc, m, &b);
            EXPECT(ik == is && same(a, b), "argmin m=%d: %d vs %d", m, ik, is);
        }
    for (int d = 1; d <= 8; d++)
        for (int kc = 1; kc <= MAXK; kc += kc < 40 ? 1 : 37) {
            int kp = (kc + 15) / 16 * 16; /* padded as kmeans.c does, with +inf centres */
            for (int q = 0; q < d; q++)
                for (int c = 0; c < kp; c++) ct[q * kp + c] = c < kc ? rnd() : __builtin_inff();
            fill(xr, d);
            int ik = k->km_direct(xr, d, ct, kp, &a), is = s->km_direct(xr, d, ct, kp, &b);
            EXPECT(ik == is && same(a, b), "direct d=%d k=%d: %d vs %d", d, kc, ik, is);
        }
    free(sc), free(ct);
}

int main(void)
{
    const kernels *k = kernels_for(ISA_NEON), *s = kernels_for(ISA_SCALAR);
    EXPECT(cpu_detect() == ISA_NEON, "cpu_detect() is not neon on aarch64");
    EXPECT(!strcmp(k->name, "neon") && !strcmp(s->name, "scalar"), "table names");
    setenv("SCANN_FORCE_ISA", "scalar", 1);
    EXPECT(kernels_best() == s, "SCANN_FORCE_ISA=scalar");
    setenv("SCANN_FORCE_ISA", "avx2", 1);
    EXPECT(kernels_best() == s, "SCANN_FORCE_ISA=avx2 on aarch64 must mean scalar");
    setenv("SCANN_FORCE_ISA", "neon", 1);
    EXPECT(kernels_best() == k, "SCANN_FORCE_ISA=neon");
    unsetenv("SCANN_FORCE_ISA");
    EXPECT(kernels_best() == k, "default table");
    long before = checks;
    check_distance(k, s);
    printf("neon-check: distance l2/ip/rows: %ld comparisons\n", checks - before);
    before = checks;
    check_fastscan(k, s);
    printf("neon-check: fastscan single + multi-query: %ld comparisons\n", checks - before);
    before = checks;
    check_avq(k, s);
    printf("neon-check: avq tables: %ld comparisons\n", checks - before);
    before = checks;
    check_pq_tables16(k, s);
    printf("neon-check: pq tables16: %ld comparisons\n", checks - before);
    before = checks;
    check_kmeans(k, s);
    printf("neon-check: k-means argmin + direct: %ld comparisons\n", checks - before);
    printf("neon-check: all %ld NEON results bit-identical to the scalar twins\n", checks);
    return 0;
}
