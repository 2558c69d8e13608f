/* blas.c - see blas.h. */
#include "blas.h"

#include <cblas.h>

void blas_sgemm_abt(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                    int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c,
                ldc);
}

/* Weak: resolved only when the BLAS linked in is OpenBLAS. */
extern void openblas_set_num_threads(int n) __attribute__((weak));

void blas_prefer_one_thread(void)
{
    if (openblas_set_num_threads) openblas_set_num_threads(1);
}
