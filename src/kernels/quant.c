#include "quant.h"

#include <math.h>
#include <string.h>

#include "util.h"

void gf_q8_quantize_row(const float *w, size_t cols, int8_t *codes, uint16_t *scales) {
    for (size_t b = 0, k0 = 0; k0 < cols; b++, k0 += GF_QBLOCK) {
        size_t n = cols - k0 < GF_QBLOCK ? cols - k0 : GF_QBLOCK;
        float amax = 0.0f;
        for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[k0 + i]));
        scales[b] = gf_f32_to_f16(amax / 127.0f);
        /* F16 may round d down far enough (subnormals) that amax would clip
         * at 127 by more than half a step: the next F16 up never does. */
        if (amax > 127.5f * gf_f16_to_f32(scales[b]) && scales[b] < 0x7bff) scales[b]++;
        float d = gf_f16_to_f32(scales[b]);
        float inv = d > 0.0f ? 1.0f / d : 0.0f;
        for (size_t i = 0; i < n; i++) {
            float q = rintf(w[k0 + i] * inv);
            codes[k0 + i] = (int8_t)(q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q);
        }
    }
}

/* Codes for one block of n values against scale d (d may be negative), and
 * their squared error. */
static float q4_block(const float *w, size_t n, float d, uint8_t *q) {
    float inv = d != 0.0f ? 1.0f / d : 0.0f, e = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float c = rintf(w[i] * inv) + 8.0f;
        c = c < 0.0f ? 0.0f : c > 15.0f ? 15.0f : c;
        q[i] = (uint8_t)c;
        float r = w[i] - d * (c - 8.0f);
        e += r * r;
    }
    for (size_t i = n; i < GF_QBLOCK; i++) q[i] = 8;
    return e;
}

void gf_q4_quantize_row(const float *w, size_t cols, uint8_t *codes, uint16_t *scales) {
    for (size_t b = 0, k0 = 0; k0 < cols; b++, k0 += GF_QBLOCK) {
        size_t n = cols - k0 < GF_QBLOCK ? cols - k0 : GF_QBLOCK;
        float amax = 0.0f;
        for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[k0 + i]));
        /* Codes run -8..7: a scale of -amax/8 reaches the largest value
         * exactly when it is positive, +amax/8 when it is negative, and
         * amax/7 fits both signs without clipping; between them lie better
         * fits for most blocks. */
        uint8_t best[GF_QBLOCK], cand[GF_QBLOCK];
        float best_e = INFINITY;
        uint16_t best_s = 0;
        for (int sign = -1; sign <= 1; sign += 2)
            for (int s = 0; s <= 8; s++) {
                float div = 8.0f - (float)s / 8.0f;
                uint16_t h = gf_f32_to_f16((float)sign * amax / div);
                float e = q4_block(w + k0, n, gf_f16_to_f32(h), cand);
                if (e < best_e) {
                    best_e = e;
                    best_s = h;
                    for (int i = 0; i < GF_QBLOCK; i++) best[i] = cand[i];
                }
            }
        scales[b] = best_s;
        uint8_t *out = codes + b * (GF_QBLOCK / 2);
        for (int j = 0; j < GF_QBLOCK / 2; j++)
            out[j] = (uint8_t)(best[j] | (best[j + GF_QBLOCK / 2] << 4));
    }
}

void gf_q8_dequantize_row(const int8_t *codes, const uint16_t *scales, size_t cols, float *out) {
    for (size_t k = 0; k < cols; k++) out[k] = gf_f16_to_f32(scales[k / GF_QBLOCK]) * (float)codes[k];
}

void gf_q4_dequantize_row(const uint8_t *codes, const uint16_t *scales, size_t cols, float *out) {
    for (size_t k = 0; k < cols; k++) {
        size_t b = k / GF_QBLOCK, j = k % GF_QBLOCK;
        uint8_t byte = codes[b * (GF_QBLOCK / 2) + j % (GF_QBLOCK / 2)];
        int nib = j < GF_QBLOCK / 2 ? byte & 15 : byte >> 4;
        out[k] = gf_f16_to_f32(scales[b]) * (float)(nib - 8);
    }
}

void gf_convert_to_f32(float *dst, const void *src, gf_dtype dt, size_t n) {
    const uint16_t *h = src;
    switch (dt) {
    case GF_DT_F32: memcpy(dst, src, n * sizeof(float)); break;
    case GF_DT_BF16: for (size_t i = 0; i < n; i++) dst[i] = gf_bf16_to_f32(h[i]); break;
    case GF_DT_F16: for (size_t i = 0; i < n; i++) dst[i] = gf_f16_to_f32(h[i]); break;
    case GF_DT_I32: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; break;
    case GF_DT_I8: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i]; break;
    case GF_DT_U8: for (size_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i]; break;
    }
}
