/*
 * distance.h - float32 L2 and inner-product kernels, one set per instruction set (reached
 * through the kernel table, kernels.h).
 *
 * The scalar kernels are the specification. All variants compute exactly the same float:
 * 16 accumulator lanes (lane l takes elements i with i % 16 == l), each updated with one fused
 * multiply-add per element, a zero-padded tail, and the fixed reduction tree
 * s8[l] = acc[l] + acc[l+8], s4[l] = s8[l] + s8[l+4], s2[l] = s4[l] + s4[l+2], s2[0] + s2[1].
 * AVX2 holds the 16 lanes in two YMM registers, AVX-512 in one ZMM, NEON in four Q registers;
 * the tree is the natural register-halving order of all three, so tests can demand bit-equal
 * results.
 *
 * *_rows: one query against n contiguous rows of d floats, out[i] = dist(q, x + i*d). They run
 * four rows at a time for instruction-level parallelism without changing any row's order.
 */
#ifndef SCANN_DISTANCE_H
#define SCANN_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

typedef float (*dist_fn)(const float *a, const float *b, size_t d);
typedef void (*dist_rows_fn)(const float *q, const float *x, size_t n, size_t d, float *out);
/* sum q_i * x_i over narrow stored values read from bytes (no alignment): int8 (two's
 * complement) or bf16 (little-endian, the top half of an f32), each widened exactly to float;
 * the same 16 lanes and fmaf as dist_ip. */
typedef float (*dist_narrow_fn)(const float *q, const uint8_t *x, size_t d);

float dist_l2_scalar(const float *a, const float *b, size_t d);
float dist_ip_scalar(const float *a, const float *b, size_t d);
void dist_l2_rows_scalar(const float *q, const float *x, size_t n, size_t d, float *out);
void dist_ip_rows_scalar(const float *q, const float *x, size_t n, size_t d, float *out);
float dist_ip_i8_scalar(const float *q, const uint8_t *x, size_t d);
float dist_ip_bf16_scalar(const float *q, const uint8_t *x, size_t d);

#if defined(__x86_64__)
#define SCANN_HAVE_X86 1
float dist_l2_avx2(const float *a, const float *b, size_t d);
float dist_ip_avx2(const float *a, const float *b, size_t d);
void dist_l2_rows_avx2(const float *q, const float *x, size_t n, size_t d, float *out);
void dist_ip_rows_avx2(const float *q, const float *x, size_t n, size_t d, float *out);
float dist_ip_i8_avx2(const float *q, const uint8_t *x, size_t d);
float dist_ip_bf16_avx2(const float *q, const uint8_t *x, size_t d);
float dist_l2_avx512(const float *a, const float *b, size_t d);
float dist_ip_avx512(const float *a, const float *b, size_t d);
void dist_l2_rows_avx512(const float *q, const float *x, size_t n, size_t d, float *out);
void dist_ip_rows_avx512(const float *q, const float *x, size_t n, size_t d, float *out);
float dist_ip_i8_avx512(const float *q, const uint8_t *x, size_t d);
float dist_ip_bf16_avx512(const float *q, const uint8_t *x, size_t d);
#endif
#if defined(__aarch64__)
float dist_l2_neon(const float *a, const float *b, size_t d);
float dist_ip_neon(const float *a, const float *b, size_t d);
void dist_l2_rows_neon(const float *q, const float *x, size_t n, size_t d, float *out);
void dist_ip_rows_neon(const float *q, const float *x, size_t n, size_t d, float *out);
float dist_ip_i8_neon(const float *q, const uint8_t *x, size_t d);
float dist_ip_bf16_neon(const float *q, const uint8_t *x, size_t d);
#endif

#endif
