/* A model being trained: every parameter in F32 in one arena, the gradients
 * in a second arena of the same layout, a gf_model whose views point into
 * the parameters (so the inference code runs on it unchanged), and the
 * activation arena one training step needs. */
#ifndef GF_TRAINABLE_H
#define GF_TRAINABLE_H

#include "model/model.h"
#include "griffin_train.h"

/* What one layer's training forward keeps for the backward. */
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

/* Work space of one step's backward, shared by the layers. */
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
} gf_train_work;

struct gf_trainable {
    gf_model *model;             /* views into params */
    float *params, *grads;       /* n_params floats each */
    size_t n_params;
    gf_tensor_info *info;        /* the tensors, in file order */
    int n_info;
    char (*names)[96];
    float *d_embed, *d_final_norm;
    gf_layer_grads *lgrads;      /* [num_layers] */
    /* the step arena, sized for B x T = M rows */
    float *arena;
    size_t arena_M, arena_B;
    gf_layer_acts *acts;         /* [num_layers] */
    float *x_final, *xf;         /* [M, D] */
    gf_train_work work;
};

#endif
