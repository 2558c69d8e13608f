/*
 * avq.h - anisotropic (score-aware) vector quantization, ScaNN's loss (Guo et al. 2020).
 *
 * For a vector x and its quantized residual, the error e = v - v~ is split into the component
 * parallel to x (e_par = <e, x/||x||>) and the rest; the loss eta * e_par^2 + ||e_perp||^2
 * weights the parallel part more, because only it moves <q, x> for queries near x. Encoding is
 * coordinate descent over the PQ blocks starting from the plain (nearest-centre) code, so it
 * can only lower the loss (DESIGN.md 2.4).
 */
#ifndef SCANN_AVQ_H
#define SCANN_AVQ_H

#include <stdint.h>

#include "kernels.h"
#include "pq.h"

/*
 * eta = (d - 1) * T^2 / (||x||^2 - T^2), with ||x|| of the ORIGINAL vector and d the full
 * dimension. Returns 0 ("no anisotropic weight: use the plain code") when T <= 0 or T is NaN,
 * when x is 0 or ||x|| <= T.
 */
float avq_eta(float threshold, int d, float x_norm2);

/*
 * Encode one vector: v is what the codebooks quantize (the residual x - c for IVF, or x
 * itself), x the original vector whose direction defines "parallel". codes gets m bytes
 * (values < p->ksub). eta <= 0 gives the plain nearest-centre code. scratch holds at least
 * 2 * m * ksub floats + m ints (avq_scratch_floats). Returns the number of coordinate-descent
 * rounds that changed something (0..10), for statistics and tests.
 */
int avq_encode_one(const pq *p, const float *v, const float *x, float eta, uint8_t *codes,
                   float *scratch);
size_t avq_scratch_floats(const pq *p);

/* The loss eta * e_par^2 + ||e_perp||^2 of a given code (e = v - decode(codes), parallel to
 * x). With eta = 1 it is the plain squared error. */
double avq_loss(const pq *p, const float *v, const float *x, float eta, const uint8_t *codes);

/* Encode n vectors in parallel (nthreads) with dk's table kernel: v and x are n x d (x may
 * equal v). eta per vector from avq_eta(threshold, d, ||x_i||^2). codes is n x m. */
scann_status avq_encode(const pq *p, const float *v, const float *x, int64_t n, float threshold,
                        int nthreads, const kernels *dk, uint8_t *codes);

/*
 * Choose the anisotropic threshold for this data (avq_tune.c): n training rows x (original
 * vectors), v what is encoded (x - centres[assign[i]] for residual encoding, then centres and
 * assign are given; else v = x and centres = NULL). Candidate weights eta each encode a
 * held-out sample; the threshold whose codes best keep held-out queries' true top-k among
 * their best scores wins (0 = plain PQ). *eta_out gets the chosen eta at the median norm.
 */
scann_status avq_choose_threshold(const pq *p, const float *x, const float *v, int64_t n,
                                  const float *centres, const int32_t *assign, uint64_t seed,
                                  int nthreads, const kernels *dk, float *threshold,
                                  float *eta_out);

/*
 * SCANN's 4-bit codebooks, as the index and the codec API train them: PQ codebooks (16 centres
 * a block) learned from v (n rows of what the lists will encode: residuals x - centre when
 * `residual`, with assign their lists, else x itself) for AVQ_PQ_ITERS rounds (seed), then the
 * anisotropic threshold: *threshold as given when >= 0, else chosen from the data
 * (avq_choose_threshold, seed + 1) for residual codes, 0 for raw ones (the score-aware loss is
 * about inner products).
 */
#define AVQ_TRAIN_SAMPLE 100000 /* rows the codebooks learn from (DESIGN.md 2.3) */
#define AVQ_PQ_ITERS 15
scann_status avq_train_codebooks(pq *p, const float *x, const float *v, int64_t n,
                                 const float *centres, const int32_t *assign, int residual,
                                 uint64_t seed, int nthreads, const kernels *dk,
                                 const poll_hook *poll, float *threshold);

#endif
