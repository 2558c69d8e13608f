/*
 * cpu.c - CPU feature detection. CPUID alone is not enough: the OS must also have enabled
 * saving of the wide registers (OSXSAVE, then XGETBV's XCR0 bits), or AVX code faults.
 */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    if (avx512f && avx512dq && avx512bw && avx512vl && (xcr0 & 0xe0) == 0xe0) return ISA_AVX512;
    return ISA_AVX2;
}
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
    return want < best ? want : best;
}

const char *cpu_isa_name(cpu_isa isa)
{
    switch (isa) {
    case ISA_AVX2: return "avx2";
    case ISA_AVX512: return "avx512";
    default: return "scalar";
    }
}
