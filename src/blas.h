/*
 * blas.h - the one BLAS call the library makes, behind a name that says what it computes.
 *
 * Callers split work over their own threads (par_for) and each calls sgemm on its block, so
 * a multi-threaded BLAS would oversubscribe the cores (measured: k-means 1.7 s -> 2.9 s with
 * Debian's pthreads OpenBLAS on 2 cores). The BLAS thread count is process-wide state that
 * belongs to the application, so the library never changes it; programs that own their
 * process (the CLI, the tests) call blas_prefer_one_thread, and scann.h tells embedders.
 */
#ifndef SCANN_BLAS_H
#define SCANN_BLAS_H

/* C[m x n] = A[m x k] * B[n x k]^T, all row-major with leading dimensions lda, ldb, ldc. */
void blas_sgemm_abt(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                    int ldc);

/* Ask OpenBLAS (when it is the BLAS in use) to run single-threaded. Process-wide. */
void blas_prefer_one_thread(void);

#endif
