/* dist_dispatch.c - the per-ISA kernel tables. Immutable: selection is a lookup, not state. */
#include "distance.h"

static const dist_kernels k_scalar = {"scalar",       ISA_SCALAR,          dist_l2_scalar,
                                      dist_ip_scalar, dist_l2_rows_scalar, dist_ip_rows_scalar};
#if SCANN_HAVE_X86
static const dist_kernels k_avx2 = {"avx2",       ISA_AVX2,          dist_l2_avx2,
                                    dist_ip_avx2, dist_l2_rows_avx2, dist_ip_rows_avx2};
static const dist_kernels k_avx512 = {"avx512",       ISA_AVX512,          dist_l2_avx512,
                                      dist_ip_avx512, dist_l2_rows_avx512, dist_ip_rows_avx512};
#endif

const dist_kernels *dist_kernels_for(cpu_isa isa)
{
#if SCANN_HAVE_X86
    if (isa >= ISA_AVX512) return &k_avx512;
    if (isa >= ISA_AVX2) return &k_avx2;
#endif
    (void)isa;
    return &k_scalar;
}
