/* Recurrent block: y = gelu(x Wy^T + by); xb = x Wx^T + bx; xc = Conv1D(xb);
 * r = RG-LRU(xc); out = (r * y) Wout^T + bout. */
#include "blocks.h"
#include "layers/layers.h"

void recurrent_block_forward(const gf_model *m, const gf_layer_weights *lw, gf_acts *a,
                             size_t B, size_t T, const int32_t *segment_pos, float *h,
                             float *conv_tail, int decode) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, L = (size_t)c->lru_width, W = (size_t)c->conv_width;
    gf_linear(a->y, a->xn, &lw->lin_y, lw->lin_y_b, M, a->scratch);
    for (size_t i = 0; i < M * L; i++) a->y[i] = gf_gelu_tanh(a->y[i]);
    gf_linear(a->xb, a->xn, &lw->lin_x, lw->lin_x_b, M, a->scratch);
    if (decode) {
        conv1d_step(a->xc, a->xb, conv_tail, lw->conv_w, lw->conv_b, B, L, W);
    } else {
        conv1d_forward(a->xc, a->xb, segment_pos, lw->conv_w, lw->conv_b, B, T, L, W);
        conv1d_tail_from_prefill(conv_tail, a->xb, B, T, L, W);
    }
    /* h is zero after a reset state, so prefill and decode share the scan. */
    rglru_forward(a->xb, a->xc, lw, segment_pos, B, T, L, (size_t)c->num_heads, h, a->gi, a->ga,
                  a->scratch);
    for (size_t i = 0; i < M * L; i++) a->xb[i] *= a->y[i];
    gf_linear(a->tmp, a->xb, &lw->lin_out, lw->lin_out_b, M, a->scratch);
}
