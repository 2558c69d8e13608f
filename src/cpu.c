/*
 * cpu.c - CPU feature detection and the kernel table of each level (kernels.h). On x86, CPUID
 * alone is not enough: the OS must also have enabled saving of the wide registers (OSXSAVE,
 * then XGETBV's XCR0 bits), or AVX code faults.
 */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void)
{
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

cpu_isa cpu_detect(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return ISA_SCALAR;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma) return ISA_SCALAR;
    unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return ISA_SCALAR; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return ISA_SCALAR;
    int avx2 = (b >> 5) & 1;
    if (!avx2) return ISA_SCALAR;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
        avx512vl = (b >> 31) & 1;
    /* opmask, upper ZMM0-15 and ZMM16-31 state */
    if (!(avx512f && avx512dq && avx512bw && avx512vl && (xcr0 & 0xe0) == 0xe0)) return ISA_AVX2;
    int vbmi = (c >> 1) & 1, vnni = (c >> 11) & 1;
    return vbmi && vnni ? ISA_AVX512ICL : ISA_AVX512;
}
#elif defined(__aarch64__)
/* Advanced SIMD is mandatory in AArch64 (and always enabled by the OS): no HWCAP to check. */
cpu_isa cpu_detect(void) { return ISA_NEON; }
#else
cpu_isa cpu_detect(void) { return ISA_SCALAR; }
#endif

cpu_isa cpu_best_isa(void)
{
    cpu_isa best = cpu_detect();
    const char *force = getenv("SCANN_FORCE_ISA");
    if (!force || !*force) return best;
    /* Any other value caps at scalar: the variable exists to hold kernels back, so a typo
     * must not quietly leave the fastest ones in place. */
    cpu_isa want = ISA_SCALAR;
    if (strcasecmp(force, "avx2") == 0)
        want = ISA_AVX2;
    else if (strcasecmp(force, "avx512") == 0)
        want = ISA_AVX512;
    else if (strcasecmp(force, "avx512icl") == 0)
        want = ISA_AVX512ICL;
    else if (strcasecmp(force, "neon") == 0)
        want = ISA_NEON;
    if ((want == ISA_NEON) != (best == ISA_NEON)) return ISA_SCALAR; /* the other architecture */
    return want < best ? want : best;
}

const char *cpu_isa_name(cpu_isa isa)
{
    switch (isa) {
    case ISA_AVX2: return "avx2";
    case ISA_AVX512: return "avx512";
    case ISA_AVX512ICL: return "avx512icl";
    case ISA_NEON: return "neon";
    default: return "scalar";
    }
}

static const kernels k_scalar = {"scalar",
                                 ISA_SCALAR,
                                 dist_l2_scalar,
                                 dist_ip_scalar,
                                 dist_l2_rows_scalar,
                                 dist_ip_rows_scalar,
                                 dist_ip_i8_scalar,
                                 dist_ip_bf16_scalar,
                                 fs_scan_block_scalar,
                                 fs_scan_block_multi_scalar,
                                 avq_tables_scalar,
                                 pq_tables16_scalar,
                                 km_argmin_scalar,
                                 km_direct_scalar};
#if defined(__x86_64__)
static const kernels k_avx2 = {"avx2",
                               ISA_AVX2,
                               dist_l2_avx2,
                               dist_ip_avx2,
                               dist_l2_rows_avx2,
                               dist_ip_rows_avx2,
                               dist_ip_i8_avx2,
                               dist_ip_bf16_avx2,
                               fs_scan_block_avx2,
                               fs_scan_block_multi_avx2,
                               avq_tables_avx2,
                               pq_tables16_avx2,
                               km_argmin_avx2,
                               km_direct_avx2};
static const kernels k_avx512 = {"avx512",
                                 ISA_AVX512,
                                 dist_l2_avx512,
                                 dist_ip_avx512,
                                 dist_l2_rows_avx512,
                                 dist_ip_rows_avx512,
                                 dist_ip_i8_avx512,
                                 dist_ip_bf16_avx512,
                                 fs_scan_block_avx512,
                                 fs_scan_block_multi_avx512,
                                 avq_tables_avx2,
                                 pq_tables16_avx2,
                                 km_argmin_avx2,
                                 km_direct_avx2};
/* avx512 with the VBMI/VNNI FastScan kernels (scan_avx512icl.c); the rest is avx512's. */
static const kernels k_avx512icl = {"avx512icl",
                                    ISA_AVX512ICL,
                                    dist_l2_avx512,
                                    dist_ip_avx512,
                                    dist_l2_rows_avx512,
                                    dist_ip_rows_avx512,
                                    dist_ip_i8_avx512,
                                    dist_ip_bf16_avx512,
                                    fs_scan_block_avx512icl,
                                    fs_scan_block_multi_avx512icl,
                                    avq_tables_avx2,
                                    pq_tables16_avx2,
                                    km_argmin_avx2,
                                    km_direct_avx2};
#endif
#if defined(__aarch64__)
static const kernels k_neon = {"neon",
                               ISA_NEON,
                               dist_l2_neon,
                               dist_ip_neon,
                               dist_l2_rows_neon,
                               dist_ip_rows_neon,
                               dist_ip_i8_neon,
                               dist_ip_bf16_neon,
                               fs_scan_block_neon,
                               fs_scan_block_multi_neon,
                               avq_tables_neon,
                               pq_tables16_neon,
                               km_argmin_neon,
                               km_direct_neon};
#endif

const kernels *kernels_for(cpu_isa isa)
{
#if defined(__x86_64__)
    if (isa == ISA_AVX512ICL) return &k_avx512icl;
    if (isa == ISA_AVX512) return &k_avx512;
    if (isa == ISA_AVX2) return &k_avx2;
#elif defined(__aarch64__)
    if (isa == ISA_NEON) return &k_neon;
#endif
    (void)isa;
    return &k_scalar;
}

const kernels *kernels_best(void) { return kernels_for(cpu_best_isa()); }
