/* Local MQA block: H query heads share one key/value head; RoPE on the first
 * half of each head; a query sees itself and the w tokens before it. */
#include "blocks.h"
#include "layers/layers.h"

void attention_block_forward(const gf_model *m, const gf_layer_weights *lw, gf_acts *a,
                             size_t B, size_t T, const int32_t *segment_pos, float *ring_k,
                             float *ring_v, const int64_t *num_tokens, int decode) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, H = (size_t)c->num_heads, hd = (size_t)c->head_dim, w = (size_t)c->window;
    gf_linear(a->q, a->xn, &lw->q, NULL, M, a->scratch);
    gf_linear(a->k, a->xn, &lw->k, NULL, M, a->scratch);
    gf_linear(a->v, a->xn, &lw->v, NULL, M, a->scratch);
    rope_apply(a->q, segment_pos, M, H, hd, c->rope_theta);
    rope_apply(a->k, segment_pos, M, 1, hd, c->rope_theta);
    if (decode) {
        attention_step(a->o, a->q, a->k, a->v, ring_k, ring_v, num_tokens, B, H, hd, w, a->scores);
    } else {
        attention_prefill(a->o, a->q, a->k, a->v, segment_pos, B, T, H, hd, w, a->scores);
        kv_ring_from_prefill(ring_k, ring_v, a->k, a->v, num_tokens, B, T, hd, w);
    }
    gf_linear(a->tmp, a->o, &lw->o, lw->o_b, M, a->scratch);
}
