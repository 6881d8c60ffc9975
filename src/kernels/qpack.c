/* Rearranging Q8 / Q4 matrices into the packed order of quant.h. The file
 * keeps the plain row-major order (readable row by row, and what the float
 * kernels and the embedding lookup use); the packed copy exists only for the
 * integer-dot kernel, whose lanes are 16 different rows. */
#include "quant.h"

#include <string.h>

size_t gf_q_packed_bytes(const gf_mat *W) {
    return gf_q_groups(W->rows) * gf_q_nblocks(W->cols) * GF_QPACK_BYTES(W->type);
}

size_t gf_q_packed_scale_bytes(const gf_mat *W) {
    return gf_q_groups(W->rows) * gf_q_nblocks(W->cols) * GF_QPACK_ROWS * sizeof(uint16_t);
}

/* Block b of row r as 32 unsigned codes: Q8's code + 128, Q4's nibble; the
 * zero code past the end of the row or of the matrix. */
static void block_codes(const gf_mat *W, size_t r, size_t b, uint8_t u[GF_QBLOCK]) {
    size_t K = W->cols, k0 = b * GF_QBLOCK, n = r < W->rows ? K - k0 < GF_QBLOCK ? K - k0 : GF_QBLOCK : 0;
    memset(u, W->type == GF_W_Q8 ? 128 : 8, GF_QBLOCK);
    if (W->type == GF_W_Q8) {
        const int8_t *c = (const int8_t *)W->data + r * K + k0;
        for (size_t j = 0; j < n; j++) u[j] = (uint8_t)(c[j] + 128);
        return;
    }
    const uint8_t *c = (const uint8_t *)W->data + r * gf_q4_row_bytes(K) + b * 16;
    for (size_t j = 0; j < n; j++) u[j] = j < 16 ? c[j] & 15 : c[j - 16] >> 4;
}

void gf_q_pack(gf_mat *W, uint8_t *codes, uint16_t *scales) {
    size_t nb = gf_q_nblocks(W->cols), G = gf_q_groups(W->rows), piece = GF_QPACK_BYTES(W->type);
    /* a model's worth of weights passes through here at load */
#pragma omp parallel for schedule(static) if (G * nb >= 4096)
    for (size_t g = 0; g < G; g++)
        for (size_t b = 0; b < nb; b++) {
            uint8_t *p = codes + (g * nb + b) * piece;
            uint16_t *s = scales + (g * nb + b) * GF_QPACK_ROWS;
            for (size_t l = 0; l < GF_QPACK_ROWS; l++) {
                size_t r = g * GF_QPACK_ROWS + l;
                uint8_t u[GF_QBLOCK];
                block_codes(W, r, b, u);
                s[l] = r < W->rows ? W->scale[r * nb + b] : 0;
                for (size_t i = 0; i < 4; i++) {
                    if (W->type == GF_W_Q8)
                        for (size_t c = 0; c < 8; c++) p[c * 64 + 4 * l + i] = u[4 * c + i];
                    else
                        for (size_t c = 0; c < 4; c++)
                            p[c * 64 + 4 * l + i] = (uint8_t)(u[4 * c + i] | u[16 + 4 * c + i] << 4);
                }
            }
        }
    W->packed = codes;
    W->packed_scale = scales;
}
