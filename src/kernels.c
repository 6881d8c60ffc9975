#include "kernels.h"

#include <cblas.h>
#include <string.h>

#include "util.h"

size_t gf_kernel_scratch_floats(size_t max_cols, size_t max_block) {
    size_t a = GF_PANEL_ROWS * max_cols, b = max_block * max_block;
    return a > b ? a : b;
}

void gf_convert_to_f32(float *dst, const void *src, gf_dtype dt, size_t n) {
    const uint16_t *h = src;
    switch (dt) {
    case GF_DT_F32: memcpy(dst, src, n * sizeof(float)); break;
    case GF_DT_BF16: for (size_t i = 0; i < n; i++) dst[i] = gf_bf16_to_f32(h[i]); break;
    case GF_DT_F16: for (size_t i = 0; i < n; i++) dst[i] = gf_f16_to_f32(h[i]); break;
    case GF_DT_I32: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; break;
    }
}

void gf_mat_row(const gf_mat *W, size_t r, float *out) {
    size_t es = gf_dtype_size(W->dtype);
    gf_convert_to_f32(out, (const char *)W->data + r * W->cols * es, W->dtype, W->cols);
}

void gf_linear(float *out, const float *x, const gf_mat *W, const float *bias, size_t M,
               float *scratch) {
    size_t N = W->rows, K = W->cols;
    if (M == 0 || N == 0) return;
    if (W->dtype == GF_DT_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x,
                    (int)K, W->data, (int)K, 0.0f, out, (int)N);
    } else {
        size_t es = gf_dtype_size(W->dtype);
        for (size_t r0 = 0; r0 < N; r0 += GF_PANEL_ROWS) {
            size_t nr = N - r0 < GF_PANEL_ROWS ? N - r0 : GF_PANEL_ROWS;
            gf_convert_to_f32(scratch, (const char *)W->data + r0 * K * es, W->dtype, nr * K);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)nr, (int)K, 1.0f,
                        x, (int)K, scratch, (int)K, 0.0f, out + r0, (int)N);
        }
    }
    if (bias)
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) out[m * N + n] += bias[n];
}

void gf_block_diag(float *out, const float *x, const gf_mat *W, const float *bias, size_t M,
                   size_t H, size_t bw, float *scratch) {
    size_t L = H * bw, es = gf_dtype_size(W->dtype);
    for (size_t h = 0; h < H; h++) {
        const float *w = (const float *)((const char *)W->data + h * bw * bw * es);
        if (W->dtype != GF_DT_F32) {
            gf_convert_to_f32(scratch, (const char *)W->data + h * bw * bw * es, W->dtype, bw * bw);
            w = scratch;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)bw, (int)bw, 1.0f,
                    x + h * bw, (int)L, w, (int)bw, 0.0f, out + h * bw, (int)L);
    }
    if (bias)
        for (size_t m = 0; m < M; m++)
            for (size_t j = 0; j < L; j++) out[m * L + j] += bias[j];
}

void gf_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                        const float *W, size_t M, size_t N, size_t K, int dx_accumulate) {
    if (M == 0 || N == 0 || K == 0) return;
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1.0f, dy,
                    (int)N, W, (int)K, dx_accumulate ? 1.0f : 0.0f, dx, (int)K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1.0f, dy, (int)N,
                x, (int)K, 1.0f, dW, (int)K);
    if (db)
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) db[n] += dy[m * N + n];
}

void gf_block_diag_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                            const float *W, size_t M, size_t H, size_t bw) {
    size_t L = H * bw;
    for (size_t h = 0; h < H; h++) {
        const float *w = W + h * bw * bw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)bw, (int)bw, 1.0f,
                    dy + h * bw, (int)L, w, (int)bw, 1.0f, dx + h * bw, (int)L);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)bw, (int)bw, (int)M, 1.0f,
                    x + h * bw, (int)L, dy + h * bw, (int)L, 1.0f, dW + h * bw * bw, (int)bw);
    }
    for (size_t m = 0; m < M; m++)
        for (size_t j = 0; j < L; j++) db[j] += dy[m * L + j];
}
