/* dist_neon.c - NEON twins of dist_scalar.c: the 16 canonical lanes in four Q registers
 * (a[0] = lanes 0-3 .. a[3] = lanes 12-15), vfmaq_f32 being fmaf per lane. A tail reads as
 * zeros past d, as AVX2's masked loads do. */
#include "distance.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

/* The tree of distance.h: s8 = lanes l + (l + 8), s4 = s8 halves, s2 = s4 halves, s2[0] + s2[1]. */
static inline float reduce(const float32x4_t *a)
{
    float32x4_t s4 = vaddq_f32(vaddq_f32(a[0], a[2]), vaddq_f32(a[1], a[3]));
    float32x2_t s2 = vadd_f32(vget_low_f32(s4), vget_high_f32(s4));
    return vget_lane_f32(s2, 0) + vget_lane_f32(s2, 1);
}

/* One step of 16 elements; `l2` is a compile-time constant at every call site. */
static inline __attribute__((always_inline)) void step(float32x4_t *a, const float *q,
                                                       const float *x, int l2)
{
    for (int g = 0; g < 4; g++) {
        float32x4_t qv = vld1q_f32(q + 4 * g), xv = vld1q_f32(x + 4 * g);
        if (l2) {
            float32x4_t t = vsubq_f32(qv, xv);
            a[g] = vfmaq_f32(a[g], t, t);
        } else {
            a[g] = vfmaq_f32(a[g], qv, xv);
        }
    }
}

/* NR rows (a constant at each call) from x, d floats apart, each in the canonical order. */
static inline __attribute__((always_inline)) void rows_nr(const float *q, const float *x, size_t d,
                                                          float *out, const int NR, int l2)
{
    float32x4_t a[4][4];
    for (int j = 0; j < NR; j++)
        for (int g = 0; g < 4; g++) a[j][g] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 16 <= d; i += 16)
        for (int j = 0; j < NR; j++) step(a[j], q + i, x + j * d + i, l2);
    if (i < d) {
        float qt[16] = {0}, xt[16] = {0};
        memcpy(qt, q + i, (d - i) * sizeof(float));
        for (int j = 0; j < NR; j++) {
            memcpy(xt, x + j * d + i, (d - i) * sizeof(float));
            step(a[j], qt, xt, l2);
        }
    }
    for (int j = 0; j < NR; j++) out[j] = reduce(a[j]);
}

/* Four rows at once: sixteen independent FMA chains hide the FMA latency. */
static inline __attribute__((always_inline)) void rows(const float *q, const float *x, size_t n,
                                                       size_t d, float *out, int l2)
{
    size_t r = 0;
    for (; r + 4 <= n; r += 4) rows_nr(q, x + r * d, d, out + r, 4, l2);
    for (; r < n; r++) rows_nr(q, x + r * d, d, out + r, 1, l2);
}

float dist_l2_neon(const float *a, const float *b, size_t d)
{
    float out;
    rows(a, b, 1, d, &out, 1);
    return out;
}

float dist_ip_neon(const float *a, const float *b, size_t d)
{
    float out;
    rows(a, b, 1, d, &out, 0);
    return out;
}

void dist_l2_rows_neon(const float *q, const float *x, size_t n, size_t d, float *out)
{
    rows(q, x, n, d, out, 1);
}

void dist_ip_rows_neon(const float *q, const float *x, size_t n, size_t d, float *out)
{
    rows(q, x, n, d, out, 0);
}
/* Narrow rows: 16 values widened per step into the four lane groups; a tail is copied into
 * zeroed buffers (q too), as the float kernels do. */
static inline void narrow_step(float32x4_t *a, const float *q, const float32x4_t *x)
{
    for (int g = 0; g < 4; g++) a[g] = vfmaq_f32(a[g], vld1q_f32(q + 4 * g), x[g]);
}

static inline void widen_i8(const uint8_t *p, float32x4_t *x)
{
    int8x16_t b = vreinterpretq_s8_u8(vld1q_u8(p));
    int16x8_t lo = vmovl_s8(vget_low_s8(b)), hi = vmovl_s8(vget_high_s8(b));
    x[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    x[1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
    x[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    x[3] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
}

static inline void widen_bf16(const uint8_t *p, float32x4_t *x)
{
    for (int g = 0; g < 2; g++) {
        uint16x8_t h = vld1q_u16((const uint16_t *)(const void *)(p + 16 * g));
        x[2 * g] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        x[2 * g + 1] = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
    }
}

float dist_ip_i8_neon(const float *q, const uint8_t *x, size_t d)
{
    float32x4_t a[4], xv[4];
    for (int g = 0; g < 4; g++) a[g] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        widen_i8(x + i, xv);
        narrow_step(a, q + i, xv);
    }
    if (i < d) {
        float qt[16] = {0};
        uint8_t xt[16] = {0};
        memcpy(qt, q + i, (d - i) * sizeof(float));
        memcpy(xt, x + i, d - i);
        widen_i8(xt, xv);
        narrow_step(a, qt, xv);
    }
    return reduce(a);
}

float dist_ip_bf16_neon(const float *q, const uint8_t *x, size_t d)
{
    float32x4_t a[4], xv[4];
    for (int g = 0; g < 4; g++) a[g] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        widen_bf16(x + 2 * i, xv);
        narrow_step(a, q + i, xv);
    }
    if (i < d) {
        float qt[16] = {0};
        uint8_t xt[32] = {0};
        memcpy(qt, q + i, (d - i) * sizeof(float));
        memcpy(xt, x + 2 * i, 2 * (d - i));
        widen_bf16(xt, xv);
        narrow_step(a, qt, xv);
    }
    return reduce(a);
}
#endif
