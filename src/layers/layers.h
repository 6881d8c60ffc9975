/* The model's layers on raw float pointers with explicit sizes. Each takes
 * its inputs and writes its outputs; none allocates. Shapes in brackets,
 * row-major; B sequences of T tokens are stored as M = B*T rows. */
#ifndef GF_LAYERS_H
#define GF_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* out[M, D] = x * rsqrt(mean(x^2) + eps) * (1 + scale). out may equal x. */
void gf_rmsnorm_forward(float *out, const float *x, const float *scale, size_t M, size_t D,
                     float eps);

/* Gated GeLU MLP: out[M, D] = act Wd^T + bd, act = gelu(x Wg^T + bg) * (x Wu^T + bu).
 * g, u [M, E]: the pre-activations (kept for the backward when training);
 * act [M, E] may be g (inference: in place). */
void gf_mlp_forward(float *out, const float *x, const gf_layer_weights *lw, size_t M, size_t E,
                    float *g, float *u, float *act, const gf_xq *xq);

/* Causal depthwise Conv1D over T steps of B sequences with document masking:
 * out[b,t,c] = bias[c] + sum_s w[W-1-s, c] x[b,t-s,c], a tap dropped when it
 * crosses a position whose segment_pos is 0. x, out: [B, T, L]; w: [W, L]. */
void gf_conv1d_forward(float *out, const float *x, const int32_t *segment_pos, const float *w,
                    const float *bias, size_t B, size_t T, size_t L, size_t W);
/* Leaves in tail [B, W-1, L] the last W-1 inputs of each sequence, oldest
 * first, zero-padded at the front for short sequences. */
void gf_conv1d_tail_from_prefill(float *tail, const float *x, size_t B, size_t T, size_t L, size_t W);
/* One decode step: x, out [B, L]; tail [B, W-1, L] is read and shifted. */
void gf_conv1d_step(float *out, const float *x, float *tail, const float *w, const float *bias,
                 size_t B, size_t L, size_t W);

/* T more steps of one sequence after those its tail [W-1, L] holds (oldest
 * first): x, out [T, L]. The taps before the chunk read the tail, with no
 * document masking (as gf_conv1d_step: positions continue, so no document
 * starts inside the chunk); the tail is left holding the last W-1 inputs
 * of (tail, x). Equal to T calls of gf_conv1d_step. */
void gf_conv1d_extend(float *out, const float *x, float *tail, const float *w, const float *bias,
                      size_t T, size_t L, size_t W);

/* RG-LRU over T steps of B sequences. x [B, T, L] is the conv output; gi, ga
 * [B, T, L] are work buffers for the gates; h [B, L] holds the state before
 * the first step and is left holding the state after the last. out [B, T, L]
 * receives h_t. */
void gf_rglru_forward(float *out, const float *x, const gf_layer_weights *lw,
                   const int32_t *segment_pos, size_t B, size_t T, size_t L, size_t H,
                   float *h, float *gi, float *ga, float *scratch);

/* RoPE on the first half of each head (rotate-half pairing), in place.
 * x [M, nheads, hd]; pos [M]. */
void gf_rope_apply(float *x, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta);

/* Local multi-query attention over whole sequences: query t sees keys
 * t-w .. t of its own document. q [B, T, H, hd]; k, v [B, T, hd]; out
 * [B, T, H, hd]; scores: nslots x gf_attention_scores_floats(H, hd, w) floats, one
 * slot per thread (it runs on at most nslots threads). lse, when not NULL:
 * [B, T, H], each query's log-normaliser (log of the sum of e^score), which
 * the backward recomputes the probabilities from. */
void gf_attention_prefill(float *out, const float *q, const float *k, const float *v,
                       const int32_t *segment_pos, size_t B, size_t T, size_t H, size_t hd,
                       size_t w, float *scores, size_t nslots, float *lse);
/* gf_attention_prefill for T more tokens of one sequence that holds n0:
 * query t, at position n0 + t, sees the keys at positions n0 + t - w ..
 * n0 + t (none before 0), those before n0 read from the rings [w, hd]
 * (position p in slot p % w, as gf_attention_step keeps them), the others
 * from k, v [T, hd]; then the chunk's keys and values go into their slots
 * (the last w of them stay). q, out [T, H, hd], RoPE'd at those positions.
 * As T gf_attention_step calls would, within float rounding. */
void gf_attention_extend(float *out, const float *q, const float *k, const float *v, float *ring_k,
                         float *ring_v, size_t n0, size_t T, size_t H, size_t hd, size_t w,
                         float *scores, size_t nslots);
/* Floats of one thread's slot of the scores gf_attention_prefill, its backward
 * (each of scores, dscores) and gf_attention_step take: a tile of queries'
 * scores against its windows' keys. */
size_t gf_attention_scores_floats(size_t H, size_t hd, size_t w);
/* Fills the key/value rings [B, w, hd] from a prefill's keys and values, as
 * the official cache does (slot = position % w, never-written slots zero). */
void gf_kv_ring_from_prefill(float *ring_k, float *ring_v, const float *k, const float *v,
                          const int64_t *num_tokens, size_t B, size_t T, size_t hd, size_t w);
/* One decode step: q [B, H, hd], k, v [B, hd] for the new token at position
 * num_tokens[b]; attends over the ring and itself, then writes the new key
 * and value into slot num_tokens[b] % w. scores as in gf_attention_prefill. */
void gf_attention_step(float *out, const float *q, const float *k, const float *v,
                    float *ring_k, float *ring_v, const int64_t *num_tokens, size_t B, size_t H,
                    size_t hd, size_t w, float *scores, size_t nslots);

/* ---- the backwards (training). A backward reads the forward's saved inputs and outputs, adds
 * parameter gradients into gf_layer_grads, and writes (=) or adds (+=) the
 * input gradient as each says. Weights are F32 (a gf_trainable's). ---- */

/* dx += d/dx; dscale += d/dscale of gf_rmsnorm_forward. rstd: [M] work space
 * (each row's 1 / rms, kept between the row pass and the scale pass). */
void gf_rmsnorm_backward(float *dx, float *dscale, const float *dy, const float *x,
                      const float *scale, size_t M, size_t D, float eps, float *rstd);

/* dx = d/dx [M, D]; act, dact [M, E] work space. */
void gf_mlp_backward(float *dx, const float *dout, const float *x, const float *g, const float *u,
                  const gf_layer_weights *lw, gf_layer_grads *gr, size_t M, size_t D, size_t E,
                  float *act, float *dact);

/* dx = d/dx [B, T, L]; dw [W, L] and dbias [L] accumulate. */
void gf_conv1d_backward(float *dx, float *dw, float *dbias, const float *dout, const float *x,
                     const int32_t *segment_pos, const float *w, size_t B, size_t T, size_t L,
                     size_t W);

/* Backward of gf_rglru_forward run from a zero state: x is its input, gi and ga
 * the gate pre-activations it left, h its output. dh (d/dh [B, T, L]) is
 * consumed: the reverse scan adds each step's carry into it. dx = d/dx;
 * dgi, dga [B, T, L] are work space. */
void gf_rglru_backward(float *dx, float *dh, const float *x, const float *gi, const float *ga,
                    const float *h, const gf_layer_weights *lw, gf_layer_grads *gr,
                    const int32_t *segment_pos, size_t B, size_t T, size_t L, size_t H,
                    float *dgi, float *dga);

/* The transpose of gf_rope_apply, in place on a gradient. */
void gf_rope_backward(float *dx, const int32_t *pos, size_t M, size_t nheads, size_t hd, float theta);

/* Backward of gf_attention_prefill: dq [B, T, H, hd], dk, dv [B, T, hd] are
 * written (=). out and lse: the forward's output and log-normalisers.
 * scores, dscores: as the forward's scores, each; delta: B*T*H floats of
 * work space. */
void gf_attention_prefill_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                const float *k, const float *v, const float *out, const float *lse,
                                const int32_t *segment_pos, size_t B, size_t T, size_t H, size_t hd,
                                size_t w, float *scores, float *dscores, size_t nslots, float *delta);

#endif
