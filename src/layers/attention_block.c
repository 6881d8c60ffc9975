/* Local MQA block: H query heads share one key/value head; RoPE on the first
 * half of each head; a query sees itself and the w tokens before it. */
#include "blocks.h"
#include "layers.h"

void gf_attention_block_forward(const gf_model *m, const gf_layer_weights *lw, const float *xn,
                                float *out, gf_acts *a, size_t B, size_t T,
                                const int32_t *segment_pos, float *ring_k, float *ring_v,
                                const int64_t *num_tokens, int decode, gf_layer_acts *keep) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, H = (size_t)c->num_heads, hd = (size_t)c->head_dim, w = (size_t)c->window;
    float *q = keep ? keep->q : a->q, *k = keep ? keep->k : a->k, *v = keep ? keep->v : a->v;
    float *o = keep ? keep->o : a->o;
    gf_product qkv[3] = {{&lw->q, q, NULL, 0}, {&lw->k, k, NULL, 0}, {&lw->v, v, NULL, 0}};
    gf_linear_many(xn, M, qkv, 3, &a->xq);
    gf_rope_apply(q, segment_pos, M, H, hd, c->rope_theta);
    gf_rope_apply(k, segment_pos, M, 1, hd, c->rope_theta);
    if (decode == GF_FWD_DECODE) {
        gf_attention_step(o, q, k, v, ring_k, ring_v, num_tokens, B, H, hd, w, a->scores, a->score_slots);
    } else if (decode == GF_FWD_EXTEND) { /* B = 1: the chunk after the ring */
        gf_attention_extend(o, q, k, v, ring_k, ring_v, (size_t)num_tokens[0], T, H, hd, w, a->scores,
                            a->score_slots);
    } else {
        gf_attention_prefill(o, q, k, v, segment_pos, B, T, H, hd, w, a->scores, a->score_slots,
                             keep ? keep->lse : NULL);
        if (ring_k) gf_kv_ring_from_prefill(ring_k, ring_v, k, v, num_tokens, B, T, hd, w);
    }
    gf_linear(out, o, &lw->o, lw->o_b, M, &a->xq);
}

void gf_attention_block_backward(const gf_model *m, const gf_layer_weights *lw, gf_layer_grads *g,
                              const gf_layer_acts *la, size_t B, size_t T,
                              const int32_t *segment_pos, const float *dout, float *dxn,
                              gf_backward_work *w) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, D = (size_t)c->width, H = (size_t)c->num_heads, hd = (size_t)c->head_dim;
    gf_linear_backward(w->tmp, g->o, g->o_b, dout, la->o, lw->o.data, M, D, D, 0);
    gf_attention_prefill_backward(w->dq, w->dk, w->dv, w->tmp, la->q, la->k, la->v, la->o, la->lse,
                               segment_pos, B, T, H, hd, (size_t)c->window, w->scores, w->dscores,
                               w->score_slots, w->att_stats);
    gf_rope_backward(w->dq, segment_pos, M, H, hd, c->rope_theta);
    gf_rope_backward(w->dk, segment_pos, M, 1, hd, c->rope_theta);
    gf_linear_backward(dxn, g->q, NULL, w->dq, la->xn1, lw->q.data, M, D, D, 0);
    gf_linear_backward(dxn, g->k, NULL, w->dk, la->xn1, lw->k.data, M, hd, D, 1);
    gf_linear_backward(dxn, g->v, NULL, w->dv, la->xn1, lw->v.data, M, hd, D, 1);
}
