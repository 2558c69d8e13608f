/* avq_scalar.c - the specifications of the table kernels (avq_tables.h; pq_tables16, kernels.h),
 * which the avx2 and neon twins match bit for bit. */
#include "avq_tables.h"
#include "kernels.h"

void avq_tables_scalar(const float *ct, int ksub, int len, const float *v, const float *x,
                       float inv, float *err2, float *par)
{
    avq_tables_body(ct, ksub, len, v, x, inv, err2, par);
}

void pq_tables16_scalar(const float *ct, int d, int dsub, const float *q, int l2, float *out)
{
    for (int off = 0; off < d; off += dsub, out += 16) {
        int len = d - off < dsub ? d - off : dsub;
        const float *c = ct + (size_t)16 * off, *v = q + off;
        for (int k = 0; k < 16; k++) out[k] = l2 ? (v[0] - c[k]) * (v[0] - c[k]) : c[k] * v[0];
        for (int t = 1; t < len; t++)
            for (int k = 0; k < 16; k++) {
                float u = v[t] - c[16 * t + k];
                out[k] += l2 ? u * u : c[16 * t + k] * v[t];
            }
    }
}
