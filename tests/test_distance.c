/* test_distance.c - every SIMD distance kernel the CPU runs equals the scalar reference bit for
 * bit, on real Fashion-MNIST rows and on random data at every tail length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu.h"
#include "kernels.h"
#include "scann.h"
#include "testdata.h"

static void expect_same_bits(float a, float b, const char *what, int isa, size_t d)
{
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    if (ua != ub)
        fail_msg("%s isa=%s d=%zu: %.9g (0x%08x) vs scalar %.9g (0x%08x)", what,
                 cpu_isa_name((cpu_isa)isa), d, a, ua, b, ub);
}

/* Compare kernels of isa with scalar over n pairs of rows of dimension d. */
static void compare(cpu_isa isa, const float *x, size_t n, size_t d)
{
    const kernels *k = kernels_for(isa), *s = kernels_for(ISA_SCALAR);
    assert_int_equal(k->isa, isa);
    float *rk = malloc(n * sizeof(float)), *rs = malloc(n * sizeof(float));
    for (size_t i = 0; i + 1 < n; i++) {
        expect_same_bits(k->l2(x + i * d, x + (i + 1) * d, d), s->l2(x + i * d, x + (i + 1) * d, d),
                         "l2", isa, d);
        expect_same_bits(k->ip(x + i * d, x + (i + 1) * d, d), s->ip(x + i * d, x + (i + 1) * d, d),
                         "ip", isa, d);
    }
    /* Row kernels: query = row 0, every row count 0..n-1 exercises the 4-row blocks and tails. */
    for (size_t m = 0; m < n; m += (m < 9 ? 1 : 7)) {
        k->l2_rows(x, x + d, m, d, rk);
        for (size_t i = 0; i < m; i++)
            expect_same_bits(rk[i], s->l2(x, x + (i + 1) * d, d), "l2_rows", isa, d);
        k->ip_rows(x, x + d, m, d, rk);
        for (size_t i = 0; i < m; i++)
            expect_same_bits(rk[i], s->ip(x, x + (i + 1) * d, d), "ip_rows", isa, d);
    }
    free(rk);
    free(rs);
}

static void test_kernels_match_scalar_on_fashion(void **state)
{
    (void)state;
    float *x = td_fashion(0, 64);
    assert_non_null(x);
    cpu_isa best = cpu_detect();
    for (int isa = ISA_AVX2; isa <= (int)best; isa++) {
        compare((cpu_isa)isa, x, 60, TD_FASHION_DIM);
        /* Prefixes of real rows give every tail length. */
        for (size_t d = 1; d <= 40; d++) compare((cpu_isa)isa, x, 12, d);
    }
    free(x);
    if (best == ISA_SCALAR) skip();
}

static void test_kernels_match_scalar_random(void **state)
{
    (void)state;
    cpu_isa best = cpu_detect();
    if (best == ISA_SCALAR) skip();
    for (size_t d = 1; d <= 130; d++) {
        float *x = td_random(20, (int)d, d);
        for (int isa = ISA_AVX2; isa <= (int)best; isa++) compare((cpu_isa)isa, x, 20, d);
        free(x);
    }
}

/* The narrow-row kernels (int8, bf16 read from bytes) at every tail length, from odd byte
 * offsets (rows are unaligned), on random bytes: every int8 value and finite bf16 patterns
 * (exponent bits kept below the top so no value is inf or NaN). */
static void test_narrow_kernels_match_scalar(void **state)
{
    (void)state;
    cpu_isa best = cpu_detect();
    if (best == ISA_SCALAR) skip();
    const kernels *s = kernels_for(ISA_SCALAR);
    enum { MAXD = 300 };
    uint8_t *buf = malloc(2 * MAXD + 8);
    uint64_t z = 12345;
    for (size_t d = 1; d <= MAXD; d++) {
        float *q = td_random(1, (int)d, d + 7);
        for (size_t i = 0; i < 2 * d + 8; i++) {
            z = z * 6364136223846793005ull + 1442695040888963407ull;
            buf[i] = (uint8_t)(z >> 56);
            if (i % 2 == 0) buf[i] &= 0xbf; /* bf16's high byte (odd offset below) kept finite */
        }
        for (int isa = ISA_AVX2; isa <= (int)best; isa++) {
            const kernels *k = kernels_for((cpu_isa)isa);
            for (size_t off = 0; off < 3; off++) {
                expect_same_bits(k->ip_i8(q, buf + off, d), s->ip_i8(q, buf + off, d), "ip_i8", isa,
                                 d);
                /* bf16 high bytes sit at odd positions from buf + 1 + 2i (kept finite above) */
                expect_same_bits(k->ip_bf16(q, buf + 1, d), s->ip_bf16(q, buf + 1, d), "ip_bf16",
                                 isa, d);
            }
        }
        free(q);
    }
    free(buf);
}

static void test_scalar_is_accurate(void **state)
{
    (void)state;
    float *x = td_fashion(0, 20);
    assert_non_null(x);
    const kernels *s = kernels_for(ISA_SCALAR);
    for (int i = 0; i + 1 < 20; i++) {
        const float *a = x + i * 784, *b = x + (i + 1) * 784;
        double l2 = td_score(a, b, 784, 0), ip = -td_score(a, b, 784, 1);
        assert_true(fabs(s->l2(a, b, 784) - l2) <= 1e-6 * l2);
        assert_true(fabs(s->ip(a, b, 784) - ip) <= 1e-6 * ip);
    }
    free(x);
}

static void test_force_isa_caps_level(void **state)
{
    (void)state;
    setenv("SCANN_FORCE_ISA", "scalar", 1);
    assert_int_equal(cpu_best_isa(), ISA_SCALAR);
    cpu_isa hw = cpu_detect(), x86 = hw == ISA_NEON ? ISA_SCALAR : hw; /* x86 levels run here */
    setenv("SCANN_FORCE_ISA", "avx512icl", 1);
    assert_int_equal(cpu_best_isa(), x86); /* the top x86 level: never above the hardware */
    setenv("SCANN_FORCE_ISA", "avx512", 1);
    assert_int_equal(cpu_best_isa(), x86 < ISA_AVX512 ? x86 : ISA_AVX512);
    setenv("SCANN_FORCE_ISA", "AVX2", 1); /* any case */
    assert_int_equal(cpu_best_isa(), cpu_detect() < ISA_AVX2 ? cpu_detect() : ISA_AVX2);
    setenv("SCANN_FORCE_ISA", "avx-2", 1); /* a typo caps at scalar rather than being ignored */
    assert_int_equal(cpu_best_isa(), ISA_SCALAR);
    setenv("SCANN_FORCE_ISA", "neon", 1); /* another architecture's level: scalar here */
    assert_int_equal(cpu_best_isa(), cpu_detect() == ISA_NEON ? ISA_NEON : ISA_SCALAR);
    assert_string_equal(scann_kernels_name(), kernels_for(cpu_best_isa())->name);
    unsetenv("SCANN_FORCE_ISA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_match_scalar_on_fashion),
        cmocka_unit_test(test_kernels_match_scalar_random),
        cmocka_unit_test(test_narrow_kernels_match_scalar),
        cmocka_unit_test(test_scalar_is_accurate),
        cmocka_unit_test(test_force_isa_caps_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
