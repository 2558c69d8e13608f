/* blas.c - see blas.h. */
#include "blas.h"

#include <cblas.h>

void blas_sgemm_abt(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                    int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c,
                ldc);
}
