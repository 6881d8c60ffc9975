/* Recurrent block: y = gelu(x Wy^T + by); xb = x Wx^T + bx; xc = Conv1D(xb);
 * r = RG-LRU(xc); out = (r * y) Wout^T + bout. */
#include "blocks.h"
#include "layers.h"
#include "parallel.h"


void gf_recurrent_block_forward(const gf_model *m, const gf_layer_weights *lw, const float *xn,
                                float *out, gf_acts *a, size_t B, size_t T,
                                const int32_t *segment_pos, float *h, float *conv_tail, int decode,
                                gf_layer_acts *keep) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, L = (size_t)c->lru_width, W = (size_t)c->conv_width;
    float *yp = keep ? keep->yp : a->y, *xb = keep ? keep->xb : a->xb, *xc = keep ? keep->xc : a->xc;
    float *gi = keep ? keep->gi : a->gi, *ga = keep ? keep->ga : a->ga;
    /* In inference the RG-LRU's output, and then its product with the GeLU
     * branch, overwrite xb, which the conv has read by then. Training keeps
     * h and makes the product in a->y. */
    float *hs = keep ? keep->h : a->xb, *prod = keep ? a->y : a->xb;
    gf_product yx[2] = {{&lw->lin_y, yp, lw->lin_y_b, 0}, {&lw->lin_x, xb, lw->lin_x_b, 0}};
    gf_linear_many(xn, M, yx, 2, &a->xq);
    if (decode == GF_FWD_DECODE) {
        gf_conv1d_step(xc, xb, conv_tail, lw->conv_w, lw->conv_b, B, L, W);
    } else if (decode == GF_FWD_EXTEND) { /* B = 1: the chunk after the tail */
        gf_conv1d_extend(xc, xb, conv_tail, lw->conv_w, lw->conv_b, T, L, W);
    } else {
        gf_conv1d_forward(xc, xb, segment_pos, lw->conv_w, lw->conv_b, B, T, L, W);
        if (conv_tail) gf_conv1d_tail_from_prefill(conv_tail, xb, B, T, L, W);
    }
    /* h is zero after a reset state, so prefill, decode and extend share
     * the scan: extend's from the h its sequence holds (its positions go
     * on from the state's count: the only reset in a chunk is at position
     * 0, as a decode step there has). */
    gf_rglru_forward(hs, xc, lw, segment_pos, B, T, L, (size_t)c->num_heads, h, gi, ga, a->scratch);
    #pragma omp parallel for simd schedule(static) if (parallel : M * L >= GF_PAR_MIN_HEAVY)
    for (size_t i = 0; i < M * L; i++) prod[i] = hs[i] * gf_gelu_tanh(yp[i]);
    gf_linear(out, prod, &lw->lin_out, lw->lin_out_b, M, &a->xq);
}

void gf_recurrent_block_backward(const gf_model *m, const gf_layer_weights *lw, gf_layer_grads *g,
                              const gf_layer_acts *la, size_t B, size_t T,
                              const int32_t *segment_pos, const float *dout, float *dxn,
                              gf_backward_work *w) {
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
