/* Recurrent block: y = gelu(x Wy^T + by); xb = x Wx^T + bx; xc = Conv1D(xb);
 * r = RG-LRU(xc); out = (r * y) Wout^T + bout. */
#include "blocks.h"
#include "layers.h"
#include "parallel.h"

#include <string.h>

void gf_recurrent_block_forward(const gf_model *m, const gf_layer_weights *lw, gf_acts *a,
                             size_t B, size_t T, const int32_t *segment_pos, float *h,
                             float *conv_tail, int decode) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, L = (size_t)c->lru_width, W = (size_t)c->conv_width;
    gf_product yx[2] = {{&lw->lin_y, a->y, lw->lin_y_b, 0}, {&lw->lin_x, a->xb, lw->lin_x_b, 0}};
    gf_linear_many(a->xn, M, yx, 2, &a->xq);
    #pragma omp parallel for simd schedule(static) if (parallel : M * L >= GF_PAR_MIN_HEAVY)
    for (size_t i = 0; i < M * L; i++) a->y[i] = gf_gelu_tanh(a->y[i]);
    if (decode) {
        gf_conv1d_step(a->xc, a->xb, conv_tail, lw->conv_w, lw->conv_b, B, L, W);
    } else {
        gf_conv1d_forward(a->xc, a->xb, segment_pos, lw->conv_w, lw->conv_b, B, T, L, W);
        gf_conv1d_tail_from_prefill(conv_tail, a->xb, B, T, L, W);
    }
    /* h is zero after a reset state, so prefill and decode share the scan. */
    gf_rglru_forward(a->xb, a->xc, lw, segment_pos, B, T, L, (size_t)c->num_heads, h, a->gi, a->ga,
                  a->scratch);
    #pragma omp parallel for simd schedule(static) if (parallel : M * L >= GF_PAR_MIN)
    for (size_t i = 0; i < M * L; i++) a->xb[i] *= a->y[i];
    gf_linear(a->tmp, a->xb, &lw->lin_out, lw->lin_out_b, M, &a->xq);
}

void gf_recurrent_block_forward_train(const gf_model *m, const gf_layer_weights *lw, gf_layer_acts *la,
                                   size_t B, size_t T, const int32_t *segment_pos, float *out,
                                   gf_train_work *w) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, L = (size_t)c->lru_width, W = (size_t)c->conv_width;
    gf_linear(la->yp, la->xn1, &lw->lin_y, lw->lin_y_b, M, NULL);
    gf_linear(la->xb, la->xn1, &lw->lin_x, lw->lin_x_b, M, NULL);
    gf_conv1d_forward(la->xc, la->xb, segment_pos, lw->conv_w, lw->conv_b, B, T, L, W);
    memset(w->h0, 0, B * L * sizeof *w->h0);
    gf_rglru_forward(la->h, la->xc, lw, segment_pos, B, T, L, (size_t)c->num_heads, w->h0, la->gi,
                  la->ga, NULL);
    #pragma omp parallel for simd schedule(static) if (parallel : M * L >= GF_PAR_MIN)
    for (size_t i = 0; i < M * L; i++) w->l1[i] = la->h[i] * gf_gelu_tanh(la->yp[i]);
    gf_linear(out, w->l1, &lw->lin_out, lw->lin_out_b, M, NULL);
}

void gf_recurrent_block_backward(const gf_model *m, const gf_layer_weights *lw, gf_layer_grads *g,
                              const gf_layer_acts *la, size_t B, size_t T,
                              const int32_t *segment_pos, const float *dout, float *dxn,
                              gf_train_work *w) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, D = (size_t)c->width, L = (size_t)c->lru_width, W = (size_t)c->conv_width;
    /* out = (h * gelu(yp)) Wout^T + bout */
    #pragma omp parallel for simd schedule(static) if (parallel : M * L >= GF_PAR_MIN)
    for (size_t i = 0; i < M * L; i++) w->l1[i] = la->h[i] * gf_gelu_tanh(la->yp[i]);
    gf_linear_backward(w->l2, g->lin_out, g->lin_out_b, dout, w->l1, lw->lin_out.data, M, D, L, 0);
    #pragma omp parallel for simd schedule(static) if (parallel : M * L >= GF_PAR_MIN)
    for (size_t i = 0; i < M * L; i++) {
        w->l3[i] = w->l2[i] * gf_gelu_tanh(la->yp[i]);                      /* d h */
        w->l4[i] = w->l2[i] * la->h[i] * gf_gelu_tanh_grad(la->yp[i]);      /* d yp */
    }
    gf_linear_backward(dxn, g->lin_y, g->lin_y_b, w->l4, la->xn1, lw->lin_y.data, M, L, D, 0);
    gf_rglru_backward(w->l1, w->l3, la->xc, la->gi, la->ga, la->h, lw, g, segment_pos, B, T, L,
                   (size_t)c->num_heads, w->l2, w->l4);
    gf_conv1d_backward(w->l3, g->conv_w, g->conv_b, w->l1, la->xb, segment_pos, lw->conv_w, B, T, L, W);
    gf_linear_backward(dxn, g->lin_x, g->lin_x_b, w->l3, la->xn1, lw->lin_x.data, M, L, D, 1);
}
