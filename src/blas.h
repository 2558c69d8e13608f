/*
 * blas.h - the one BLAS call the library makes, behind a name that says what it computes.
 *
 * OpenBLAS's own threads are not used: callers split work over their own threads (par_for)
 * and each calls sgemm on its block. Debian's default OpenBLAS is the pthreads build; inside a
 * worker of ours we want it single-threaded, which blas_sgemm_abt arranges per call where the
 * library exposes a way (see blas.c).
 */
#ifndef SCANN_BLAS_H
#define SCANN_BLAS_H

/* C[m x n] = A[m x k] * B[n x k]^T, all row-major with leading dimensions lda, ldb, ldc. */
void blas_sgemm_abt(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                    int ldc);

#endif
