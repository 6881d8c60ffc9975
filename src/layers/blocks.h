/* The three temporal-mixing / channel-mixing blocks, composed from layers.
 * Each reads the normed input acts->xn [M, D] and writes acts->tmp [M, D]. */
#ifndef GF_BLOCKS_H
#define GF_BLOCKS_H

#include "model/model.h"
#include "train/trainable.h"

/* decode = 0: a prefill of T tokens per sequence from an empty state, which it
 * leaves filled; decode = 1: T = 1 step from the state, which it advances. */
void gf_recurrent_block_forward(const gf_model *m, const gf_layer_weights *lw, gf_acts *a,
                             size_t B, size_t T, const int32_t *segment_pos, float *h,
                             float *conv_tail, int decode);
void gf_attention_block_forward(const gf_model *m, const gf_layer_weights *lw, gf_acts *a,
                             size_t B, size_t T, const int32_t *segment_pos, float *ring_k,
                             float *ring_v, const int64_t *num_tokens, int decode);

/* Training: the forward of a whole sequence from a zero state, reading
 * la->xn1 and keeping what the backward needs in la; out [M, D]. */
void gf_recurrent_block_forward_train(const gf_model *m, const gf_layer_weights *lw, gf_layer_acts *la,
                                   size_t B, size_t T, const int32_t *segment_pos, float *out,
                                   gf_train_work *w);
void gf_attention_block_forward_train(const gf_model *m, const gf_layer_weights *lw, gf_layer_acts *la,
                                   size_t B, size_t T, const int32_t *segment_pos, float *out,
                                   gf_train_work *w);
/* Their backwards: dout [M, D] in; dxn [M, D] = d/d(the block's input);
 * parameter gradients added into g. */
void gf_recurrent_block_backward(const gf_model *m, const gf_layer_weights *lw, gf_layer_grads *g,
                              const gf_layer_acts *la, size_t B, size_t T,
                              const int32_t *segment_pos, const float *dout, float *dxn,
                              gf_train_work *w);
void gf_attention_block_backward(const gf_model *m, const gf_layer_weights *lw, gf_layer_grads *g,
                              const gf_layer_acts *la, size_t B, size_t T,
                              const int32_t *segment_pos, const float *dout, float *dxn,
                              gf_train_work *w);

#endif
