/* avq_avx2.c - avq_tables.h compiled for AVX2: 8 lanes, the baseline's per-lane arithmetic; and
 * pq_tables16 with a block's 16 centres in two registers (mul and add, no FMA). */
#include "avq_tables.h"
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) void avq_tables_avx2(const float *ct, int ksub, int len,
                                                     const float *v, const float *x, float inv,
                                                     float *err2, float *par)
{
    avq_tables_body(ct, ksub, len, v, x, inv, err2, par);
}

__attribute__((target("avx2"))) void pq_tables16_avx2(const float *ct, int d, int dsub,
                                                      const float *q, int l2, float *out)
{
    for (int off = 0; off < d; off += dsub, out += 16) {
        int len = d - off < dsub ? d - off : dsub;
        const float *c = ct + (size_t)16 * off;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int t = 0; t < len; t++, c += 16) {
            __m256 v = _mm256_set1_ps(q[off + t]);
            __m256 c0 = _mm256_loadu_ps(c), c1 = _mm256_loadu_ps(c + 8), p0, p1;
            if (l2) {
                __m256 u0 = _mm256_sub_ps(v, c0), u1 = _mm256_sub_ps(v, c1);
                p0 = _mm256_mul_ps(u0, u0), p1 = _mm256_mul_ps(u1, u1);
            } else {
                p0 = _mm256_mul_ps(c0, v), p1 = _mm256_mul_ps(c1, v);
            }
            /* The first term is stored, not added to +0: -0 + +0 would turn a -0 into +0. */
            a0 = t ? _mm256_add_ps(a0, p0) : p0;
            a1 = t ? _mm256_add_ps(a1, p1) : p1;
        }
        _mm256_storeu_ps(out, a0);
        _mm256_storeu_ps(out + 8, a1);
    }
}
#endif
