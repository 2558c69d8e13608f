/* avq_scalar.c - the AVQ table kernel's specification (avq_tables.h), which the avx2 and neon
 * twins match bit for bit. */
#include "avq_tables.h"
#include "kernels.h"

void avq_tables_scalar(const float *ct, int ksub, int len, const float *v, const float *x,
                       float inv, float *err2, float *par)
{
    avq_tables_body(ct, ksub, len, v, x, inv, err2, par);
}
