/* dist_scalar.c - reference kernels: the specification the SIMD twins must match bit for bit.
 * fmaf is exact (one rounding) whether the compiler emits an instruction or calls libm. */
#include <math.h>
#include <string.h>

#include "distance.h"

static float reduce16(const float *acc)
{
    float s8[8], s4[4], s2[2];
    for (int l = 0; l < 8; l++) s8[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
    for (int l = 0; l < 2; l++) s2[l] = s4[l] + s4[l + 2];
    return s2[0] + s2[1];
}

float dist_l2_scalar(const float *a, const float *b, size_t d)
{
    float acc[16] = {0};
    for (size_t i = 0; i < d; i++) {
        float t = a[i] - b[i];
        acc[i & 15] = fmaf(t, t, acc[i & 15]);
    }
    return reduce16(acc);
}

float dist_ip_scalar(const float *a, const float *b, size_t d)
{
    float acc[16] = {0};
    for (size_t i = 0; i < d; i++) acc[i & 15] = fmaf(a[i], b[i], acc[i & 15]);
    return reduce16(acc);
}

void dist_l2_rows_scalar(const float *q, const float *x, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = dist_l2_scalar(q, x + i * d, d);
}

void dist_ip_rows_scalar(const float *q, const float *x, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = dist_ip_scalar(q, x + i * d, d);
}

float dist_ip_i8_scalar(const float *q, const uint8_t *x, size_t d)
{
    float acc[16] = {0};
    for (size_t i = 0; i < d; i++) {
        int8_t v;
        memcpy(&v, x + i, 1);
        acc[i & 15] = fmaf(q[i], (float)v, acc[i & 15]);
    }
    return reduce16(acc);
}

float dist_ip_bf16_scalar(const float *q, const uint8_t *x, size_t d)
{
    float acc[16] = {0};
    for (size_t i = 0; i < d; i++) {
        uint16_t h;
        memcpy(&h, x + 2 * i, sizeof h);
        uint32_t u = (uint32_t)h << 16;
        float v;
        memcpy(&v, &u, sizeof v);
        acc[i & 15] = fmaf(q[i], v, acc[i & 15]);
    }
    return reduce16(acc);
}
