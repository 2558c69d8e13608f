/* dispatch.c - the FastScan block kernels (single- and multi-query) for an ISA level. Immutable:
 * selection is a lookup. */
#include "fastscan.h"

fs_block_fn fs_kernel_for(cpu_isa isa)
{
#if defined(__x86_64__)
    if (isa >= ISA_AVX512) return fs_scan_block_avx512;
    if (isa >= ISA_AVX2) return fs_scan_block_avx2;
#endif
    (void)isa;
    return fs_scan_block_scalar;
}

fs_multi_fn fs_multi_kernel_for(cpu_isa isa)
{
#if defined(__x86_64__)
    if (isa >= ISA_AVX512) return fs_scan_block_multi_avx512;
    if (isa >= ISA_AVX2) return fs_scan_block_multi_avx2;
#endif
    (void)isa;
    return fs_scan_block_multi_scalar;
}
