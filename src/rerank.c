/*
 * rerank.c - float32 / bfloat16 / int8 copies of the vectors and exact re-scoring against them.
 *
 * Invariants:
 * - row_bytes is 4d (FLOAT), 2d (BF16), d (INT8) or 0 (NONE); a row is a plain byte array with
 *   no alignment promise (rows sit next to codes in list order), so every multi-byte element is
 *   read and written through memcpy.
 * - INT8: scale[j] = 127 / max_i |train_ij| (finite values only) and inv_scale[j] = 1 / scale[j];
 *   both are 0 for a dimension that is 0 over all training rows, which then always encodes and
 *   decodes to 0. Encoded values lie in [-127, 127]: -128 is never used, so the code is
 *   symmetric and negating a vector negates its code.
 * - Scores decode the row into float scratch and call the same kernels as FLAT, so a FLOAT store
 *   scores bit-equal to dk->l2 / dk->ip on the original vector.
 * - scale / inv_scale are owned by the store: NULL unless kind is INT8; rerank_free is
 *   idempotent and safe on a zeroed struct.
 */
#include "rerank.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

uint16_t rerank_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    /* Keep sign and payload top bits and force the quiet bit: plain truncation could turn a
     * NaN whose payload lives in the low 16 bits into infinity. */
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    /* Round to nearest even: adding 0x7fff rounds up exactly when the dropped half exceeds
     * 0x8000, and the kept lsb breaks the tie. A carry into the exponent is the correct result
     * (including overflow of the largest finite values to infinity, as IEEE rounding does). */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float rerank_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static size_t row_bytes_for(scann_reorder kind, int d)
{
    switch (kind) {
    case SCANN_REORDER_FLOAT: return (size_t)d * sizeof(float);
    case SCANN_REORDER_BF16: return (size_t)d * sizeof(uint16_t);
    case SCANN_REORDER_INT8: return (size_t)d;
    case SCANN_REORDER_NONE: return 0;
    }
    return 0;
}

/* Per-dimension int8 scales from the largest finite |x_ij| of the training rows. NaN and
 * infinity are skipped: one bad value would otherwise zero (inf) or poison (NaN) a dimension. */
static void int8_train_scales(rerank_store *s, const float *train, int64_t n)
{
    int d = s->d;
    for (int j = 0; j < d; j++) s->scale[j] = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float *x = train + (size_t)i * d;
        for (int j = 0; j < d; j++) {
            float a = fabsf(x[j]);
            if (a > s->scale[j] && a <= FLT_MAX) s->scale[j] = a;
        }
    }
    for (int j = 0; j < d; j++) {
        float m = s->scale[j];
        if (m == 0.0f) {
            s->inv_scale[j] = 0.0f;
            continue;
        }
        /* 127 / m overflows float for m below ~3.7e-37; capping keeps codes finite (they
         * then do not reach 127, i.e. lose precision on an absurdly tiny dimension). */
        double sc = 127.0 / m;
        s->scale[j] = sc > FLT_MAX ? FLT_MAX : (float)sc;
        s->inv_scale[j] = 1.0f / s->scale[j];
    }
}

scann_status rerank_init(rerank_store *s, scann_reorder kind, int d, const float *train,
                         int64_t n)
{
    if (!s) return err_set(SCANN_ERR_INVALID_ARGUMENT, "rerank store is NULL");
    memset(s, 0, sizeof *s); /* a failed init leaves a store rerank_free accepts */
    if (kind < SCANN_REORDER_FLOAT || kind > SCANN_REORDER_NONE)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "unknown reorder kind %d", (int)kind);
    if (d < 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT, "rerank dimension d=%d (must be >= 1)", d);
    s->kind = kind;
    s->d = d;
    s->row_bytes = row_bytes_for(kind, d);
    if (kind != SCANN_REORDER_INT8) return SCANN_OK;

    if (!train || n < 1)
        return err_set(SCANN_ERR_INVALID_ARGUMENT,
                       "int8 rerank needs training data (n=%lld, train=%s)", (long long)n,
                       train ? "set" : "NULL");
    s->scale = malloc((size_t)d * sizeof(float));
    s->inv_scale = malloc((size_t)d * sizeof(float));
    if (!s->scale || !s->inv_scale) {
        rerank_free(s);
        return err_nomem("int8 rerank scales", 2 * (size_t)d * sizeof(float));
    }
    int8_train_scales(s, train, n);
    return SCANN_OK;
}

void rerank_free(rerank_store *s)
{
    if (!s) return;
    free(s->scale);
    free(s->inv_scale);
    s->scale = NULL;
    s->inv_scale = NULL;
}

/* round(v) to [-127, 127], ties away from zero. Explicit rather than lrintf so the result does
 * not depend on the floating-point environment's rounding mode and needs no libm call on
 * baseline x86-64; v - trunc(v) is exact in float for |v| <= 127, so the tie test is exact. NaN
 * (0 * inf with a zero scale, or a NaN input) encodes as 0. */
static int8_t int8_round(float v)
{
    if (v != v) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -127.0f) return -127;
    int t = (int)v;
    float frac = v - (float)t;
    t += (frac >= 0.5f) - (frac <= -0.5f);
    return (int8_t)t;
}

void rerank_encode(const rerank_store *s, const float *x, uint8_t *out)
{
    int d = s->d;
    switch (s->kind) {
    case SCANN_REORDER_FLOAT: memcpy(out, x, (size_t)d * sizeof(float)); break;
    case SCANN_REORDER_BF16:
        for (int j = 0; j < d; j++) {
            uint16_t h = rerank_f32_to_bf16(x[j]);
            memcpy(out + 2 * (size_t)j, &h, sizeof h);
        }
        break;
    case SCANN_REORDER_INT8:
        for (int j = 0; j < d; j++) {
            int8_t q = int8_round(x[j] * s->scale[j]);
            memcpy(out + j, &q, 1);
        }
        break;
    case SCANN_REORDER_NONE: break;
    }
}

void rerank_decode(const rerank_store *s, const uint8_t *row, float *out)
{
    int d = s->d;
    switch (s->kind) {
    case SCANN_REORDER_FLOAT: memcpy(out, row, (size_t)d * sizeof(float)); break;
    case SCANN_REORDER_BF16:
        for (int j = 0; j < d; j++) {
            uint16_t h;
            memcpy(&h, row + 2 * (size_t)j, sizeof h);
            out[j] = rerank_bf16_to_f32(h);
        }
        break;
    case SCANN_REORDER_INT8:
        for (int j = 0; j < d; j++) {
            int8_t q;
            memcpy(&q, row + j, 1);
            out[j] = (float)q * s->inv_scale[j];
        }
        break;
    case SCANN_REORDER_NONE: break;
    }
}

float rerank_score(const rerank_store *s, const dist_kernels *dk, int ip, const float *q,
                   const uint8_t *row, float *tmp)
{
    /* A NONE store has no rows: the caller must keep the code-based scores instead. */
    assert(s->kind != SCANN_REORDER_NONE);
    if (s->kind == SCANN_REORDER_NONE) return 0.0f;
    size_t d = (size_t)s->d;
    const float *x = tmp;
    /* FLOAT rows that happen to be float-aligned are used in place: the kernels load unaligned,
     * but a misaligned float pointer is undefined behaviour in C, so other rows are copied. */
    if (s->kind == SCANN_REORDER_FLOAT && (uintptr_t)row % _Alignof(float) == 0)
        x = (const float *)(const void *)row;
    else
        rerank_decode(s, row, tmp);
    return ip ? -dk->ip(q, x, d) : dk->l2(q, x, d);
}
