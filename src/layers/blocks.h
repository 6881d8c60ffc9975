/* The two temporal-mixing blocks (recurrent, local attention), composed from
 * the layers, forward and backward side by side. The MLP block is a layer
 * (layers.h). One forward serves inference and training: given `keep`, it
 * keeps what the backward needs there. */
#ifndef GF_BLOCKS_H
#define GF_BLOCKS_H

#include "model/model.h"

/* What one layer's forward keeps for the backward when training (NULL in
 * inference, where the buffers of gf_acts are reused layer after layer). */
typedef struct {
    float *x_in;                        /* [M, D] residual stream entering the layer */
    float *xn1;                         /* temporal-norm output */
    float *x_mid;                       /* stream after the temporal block's residual */
    float *xn2;                         /* channel-norm output */
    float *g, *u;                       /* [M, E] MLP pre-activations */
    float *yp, *xb, *xc, *gi, *ga, *h;  /* [M, L] recurrent block */
    float *q, *k, *v, *o;               /* attention: q, o [M, D]; k, v [M, hd] */
    float *lse;                         /* attention: [M, H] the forward's log-normalisers */
} gf_layer_acts;

/* Work space of one training step's backward, shared by the layers. */
typedef struct {
    float *ds, *dn, *tmp;        /* [M, D]: stream gradient, norm-output gradient, branch work */
    float *e1, *e2;              /* [M, E] */
    float *l1, *l2, *l3, *l4;    /* [M, L] */
    float *dq;                   /* [M, D] */
    float *dk, *dv;              /* [M, hd] */
    float *scores, *dscores;     /* [score_slots, gf_attention_scores_floats]: a slot per thread */
    size_t score_slots;          /* threads the attention loops may use (gf_par_slots at carving) */
    float *att_stats;            /* [M, H] attention backward: each query's do . o */
    float *rstd;                 /* [M] rmsnorm backward: each row's 1 / rms */
    float *h0;                   /* [B, L] the zero state the training forward starts from */
    float *logits;               /* [chunk, V] */
    float *row_loss;             /* [chunk, 2] each row's loss as float + remainder, summed in order */
} gf_backward_work;

/* How the blocks (and gf_forward_layers) meet the state. */
enum {
    GF_FWD_PREFILL = 0, /* T tokens per sequence from an empty state, which
                         * they leave filled (its parts NULL: training, from
                         * a zero h and without filling a cache) */
    GF_FWD_DECODE = 1,  /* T = 1 step from the state, which they advance */
    GF_FWD_EXTEND = 2   /* B = 1 sequence, T more tokens after those the
                         * state holds (num_tokens[0] of them; segment
                         * positions continue from there, so no document
                         * starts inside the chunk but at position 0): as
                         * T decode steps, with the prefill's products */
};

/* xn [M, D] (the temporal norm's output) in, out [M, D]; a: the activation
 * buffers, which the intermediates use unless keep is given. mode: a
 * GF_FWD_ value (named decode, as 0 and 1 were first). */
void gf_recurrent_block_forward(const gf_model *m, const gf_layer_weights *lw, const float *xn,
                                float *out, gf_acts *a, size_t B, size_t T,
                                const int32_t *segment_pos, float *h, float *conv_tail, int decode,
                                gf_layer_acts *keep);
void gf_attention_block_forward(const gf_model *m, const gf_layer_weights *lw, const float *xn,
                                float *out, gf_acts *a, size_t B, size_t T,
                                const int32_t *segment_pos, float *ring_k, float *ring_v,
                                const int64_t *num_tokens, int decode, gf_layer_acts *keep);

/* Their backwards: dout [M, D] in; dxn [M, D] = d/d(the block's input);
 * parameter gradients added into g. */
void gf_recurrent_block_backward(const gf_model *m, const gf_layer_weights *lw, gf_layer_grads *g,
                                 const gf_layer_acts *la, size_t B, size_t T,
                                 const int32_t *segment_pos, const float *dout, float *dxn,
                                 gf_backward_work *w);
void gf_attention_block_backward(const gf_model *m, const gf_layer_weights *lw, gf_layer_grads *g,
                                 const gf_layer_acts *la, size_t B, size_t T,
                                 const int32_t *segment_pos, const float *dout, float *dxn,
                                 gf_backward_work *w);

/* The layer stack over M = B * T rows: the scaled embedding in a->x (in
 * keep[0].x_in when training) in, the final-normed stream in a->xn out
 * (the last layer's stream in a->x). st: the decode state the blocks read and
 * fill (NULL when training: a zero start in a->h0, no cache). keep: [num_layers]
 * or NULL. trace, when given, receives the stream after each layer and the
 * final norm (at trace + (i + 1) * M * D). */
void gf_forward_layers(const gf_model *m, gf_acts *a, size_t B, size_t T, const int32_t *segment_pos,
                       gf_state *st, int decode, gf_layer_acts *keep, float *trace);

#endif
