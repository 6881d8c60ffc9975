/* The scalar twin: one weight row at a time, converted to float, then a plain
 * dot product with each input row. Simple enough to trust; the SIMD versions
 * are tested against it. */
#include "gemv.h"

#include "quant.h"

void gf_dequantize_rows(const gf_mat *W, size_t r0, size_t r1, float *out) {
    size_t K = W->cols, nb = gf_q_nblocks(K);
    for (size_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * K;
        switch (W->type) {
        case GF_W_F32: gf_convert_to_f32(o, (const float *)W->data + r * K, GF_DT_F32, K); break;
        case GF_W_BF16: gf_convert_to_f32(o, (const uint16_t *)W->data + r * K, GF_DT_BF16, K); break;
        case GF_W_F16: gf_convert_to_f32(o, (const uint16_t *)W->data + r * K, GF_DT_F16, K); break;
        case GF_W_Q8:
            gf_q8_dequantize_row((const int8_t *)W->data + r * K, W->scale + r * nb, K, o);
            break;
        case GF_W_Q4:
            gf_q4_dequantize_row((const uint8_t *)W->data + r * gf_q4_row_bytes(K),
                                 W->scale + r * nb, K, o);
            break;
        case GF_W_COUNT: break;
        }
    }
}

void gf_gemv_rows_scalar(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                         size_t ldo, size_t r0, size_t r1) {
    size_t K = W->cols;
    float row[1024];
    for (size_t r = r0; r < r1; r++) {
        for (size_t m = 0; m < M; m++) out[m * ldo + r] = 0.0f;
        /* a row in pieces of 1024 columns (32 quantisation blocks), so the
         * twin needs no scratch from the caller */
        for (size_t k0 = 0; k0 < K; k0 += 1024) {
            size_t n = K - k0 < 1024 ? K - k0 : 1024;
            gf_mat piece = *W;
            piece.cols = n;
            switch (W->type) {
            case GF_W_F32: piece.data = (const float *)W->data + r * K + k0; break;
            case GF_W_BF16:
            case GF_W_F16: piece.data = (const uint16_t *)W->data + r * K + k0; break;
            case GF_W_Q8:
                piece.data = (const int8_t *)W->data + r * K + k0;
                piece.scale = W->scale + r * gf_q_nblocks(K) + k0 / GF_QBLOCK;
                break;
            case GF_W_Q4:
                piece.data = (const uint8_t *)W->data + r * gf_q4_row_bytes(K) + k0 / 2;
                piece.scale = W->scale + r * gf_q_nblocks(K) + k0 / GF_QBLOCK;
                break;
            case GF_W_COUNT: break;
            }
            gf_dequantize_rows(&piece, 0, 1, row);
            for (size_t m = 0; m < M; m++) {
                const float *xm = x + m * ldx + k0;
                float s = 0.0f;
                for (size_t k = 0; k < n; k++) s += xm[k] * row[k];
                out[m * ldo + r] += s;
            }
        }
    }
}
