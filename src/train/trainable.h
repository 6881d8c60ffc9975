/* A model being trained: every parameter in F32 in one arena, the gradients
 * in a second arena of the same layout, a gf_model whose views point into
 * the parameters (so the inference code runs on it unchanged), and the
 * activation arena one training step needs. */
#ifndef GF_TRAINABLE_H
#define GF_TRAINABLE_H

#include "layers/blocks.h"
#include "model/model.h"
#include "griffin_train.h"

struct gf_trainable {
    gf_model *model;             /* views into params */
    float *params, *grads;       /* n_params floats each */
    size_t n_params;
    gf_tensor_info *info;        /* the tensors, in file order (names in model->slots) */
    int n_info;
    gf_model_grads top;          /* the embedding's and final norm's gradients */
    gf_layer_grads *lgrads;      /* [num_layers] */
    /* the step arena, sized for B x T = M rows */
    float *arena;
    size_t arena_M, arena_B;
    gf_layer_acts *acts;         /* [num_layers] */
    float *x_final, *xf;         /* [M, D] */
    gf_backward_work work;
};

#endif
