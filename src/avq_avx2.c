/* avq_avx2.c - avq_tables.h compiled for AVX2: 8 lanes, the baseline's per-lane arithmetic. */
#include "avq_tables.h"
#include "kernels.h"

#if defined(__x86_64__)
__attribute__((target("avx2"))) void avq_tables_avx2(const float *ct, int ksub, int len,
                                                     const float *v, const float *x, float inv,
                                                     float *err2, float *par)
{
    avq_tables_body(ct, ksub, len, v, x, inv, err2, par);
}
#endif
