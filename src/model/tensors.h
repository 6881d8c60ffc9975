/* The model's tensors, defined once. Every other place that needs the list —
 * the weight and gradient structs, loading, the trainable's parameter and
 * gradient arenas, the parameter count, initialisation, saving and
 * quantisation — derives it from the two tables below: adding a tensor is
 * one line here (and its use in a layer).
 *
 * A row: X(field, kind, where, name, ndim, d0, d1, d2, decay, init)
 *   field  the member of gf_layer_weights / gf_layer_grads (or gf_model /
 *          gf_model_grads for the model-level ones)
 *   kind   MAT   a product's matrix [d0, d1]: F32 / BF16 / F16, or Q8 / Q4
 *                codes with NAME_scale beside them (the only quantisable kind)
 *          VEC   a small tensor, converted to F32 at load
 *          CONV  the Conv1D weight: [L, 1, W] in files, held as [W, L]
 *                (w[W-1] meets the current token, as the official code has it)
 *          GATES the RG-LRU gates' H blocks [H, bw, bw], viewed as one
 *                [H * bw, bw] matrix applied block by block as x @ w[h]
 *   where  MODEL (once), ANY (every layer), RECURRENT or ATTENTION layers
 *   name   the Hugging Face name (after "model.layers.N." in a layer)
 *   d0..2  the shape in files, in config sizes (D width, E MLP width, L
 *          RG-LRU width, HD head dim, H heads, BW = L / H, W conv width,
 *          V vocabulary; ONE past ndim)
 *   decay  whether AdamW's weight decay applies
 *   init   the initialiser (spec §12): ZERO; FAN_IN (variance 1 / D);
 *          OUT_E, OUT_D, OUT_L (s / fan-in, s = final_w_init_variance_scale:
 *          the projections back onto the residual stream); CONV (0.01 / W,
 *          the official Conv1D scale); GATE (1 / bw); A_PARAM (a^2 uniform
 *          on [0.9^2, 0.999^2]) */
#ifndef GF_MODEL_TENSORS_H
#define GF_MODEL_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "griffin.h"
#include "kernels/kernels.h"

#define GF_MODEL_TENSORS(X)                                                                        \
    X(embed, MAT, MODEL, "model.embed_tokens.weight", 2, V, D, ONE, 1, FAN_IN)                     \
    X(final_norm, VEC, MODEL, "model.final_norm.weight", 1, D, ONE, ONE, 0, ZERO)

#define GF_LAYER_TENSORS(X)                                                                        \
    X(temporal_norm, VEC, ANY, "temporal_pre_norm.weight", 1, D, ONE, ONE, 0, ZERO)                \
    X(channel_norm, VEC, ANY, "channel_pre_norm.weight", 1, D, ONE, ONE, 0, ZERO)                  \
    X(gate, MAT, ANY, "mlp_block.gate_proj.weight", 2, E, D, ONE, 1, FAN_IN)                       \
    X(gate_b, VEC, ANY, "mlp_block.gate_proj.bias", 1, E, ONE, ONE, 0, ZERO)                       \
    X(up, MAT, ANY, "mlp_block.up_proj.weight", 2, E, D, ONE, 1, FAN_IN)                           \
    X(up_b, VEC, ANY, "mlp_block.up_proj.bias", 1, E, ONE, ONE, 0, ZERO)                           \
    X(down, MAT, ANY, "mlp_block.down_proj.weight", 2, D, E, ONE, 1, OUT_E)                        \
    X(down_b, VEC, ANY, "mlp_block.down_proj.bias", 1, D, ONE, ONE, 0, ZERO)                       \
    X(q, MAT, ATTENTION, "temporal_block.q_proj.weight", 2, D, D, ONE, 1, FAN_IN)                  \
    X(k, MAT, ATTENTION, "temporal_block.k_proj.weight", 2, HD, D, ONE, 1, FAN_IN)                 \
    X(v, MAT, ATTENTION, "temporal_block.v_proj.weight", 2, HD, D, ONE, 1, FAN_IN)                 \
    X(o, MAT, ATTENTION, "temporal_block.o_proj.weight", 2, D, D, ONE, 1, OUT_D)                   \
    X(o_b, VEC, ATTENTION, "temporal_block.o_proj.bias", 1, D, ONE, ONE, 0, ZERO)                  \
    X(lin_x, MAT, RECURRENT, "temporal_block.linear_x.weight", 2, L, D, ONE, 1, FAN_IN)            \
    X(lin_x_b, VEC, RECURRENT, "temporal_block.linear_x.bias", 1, L, ONE, ONE, 0, ZERO)            \
    X(lin_y, MAT, RECURRENT, "temporal_block.linear_y.weight", 2, L, D, ONE, 1, FAN_IN)            \
    X(lin_y_b, VEC, RECURRENT, "temporal_block.linear_y.bias", 1, L, ONE, ONE, 0, ZERO)            \
    X(lin_out, MAT, RECURRENT, "temporal_block.linear_out.weight", 2, D, L, ONE, 1, OUT_L)         \
    X(lin_out_b, VEC, RECURRENT, "temporal_block.linear_out.bias", 1, D, ONE, ONE, 0, ZERO)        \
    X(conv_w, CONV, RECURRENT, "temporal_block.conv_1d.weight", 3, L, ONE, W, 1, CONV)             \
    X(conv_b, VEC, RECURRENT, "temporal_block.conv_1d.bias", 1, L, ONE, ONE, 0, ZERO)              \
    X(a_param, VEC, RECURRENT, "temporal_block.rg_lru.recurrent_param", 1, L, ONE, ONE, 0, A_PARAM) \
    X(input_gate, GATES, RECURRENT, "temporal_block.rg_lru.input_gate_weight", 3, H, BW, BW, 1, GATE) \
    X(input_gate_b, VEC, RECURRENT, "temporal_block.rg_lru.input_gate_bias", 2, H, BW, ONE, 0, ZERO) \
    X(a_gate, GATES, RECURRENT, "temporal_block.rg_lru.recurrent_gate_weight", 3, H, BW, BW, 1, GATE) \
    X(a_gate_b, VEC, RECURRENT, "temporal_block.rg_lru.recurrent_gate_bias", 2, H, BW, ONE, 0, ZERO)

/* How each kind is held: matrices as typed views, the rest as F32. */
#define GF_VIEW_MAT gf_mat
#define GF_VIEW_GATES gf_mat
#define GF_VIEW_VEC const float *
#define GF_VIEW_CONV const float *

/* One layer's weights: views into the mapped files (or a trainable's arena). */
typedef struct {
    gf_block_type type;
#define GF_X_VIEW(field, kind, ...) GF_VIEW_##kind field;
    GF_LAYER_TENSORS(GF_X_VIEW)
} gf_layer_weights;

/* Gradients of one layer's parameters, laid out as the weights (conv_w as
 * [W, L]); NULL for what the layer's block type lacks. */
typedef struct {
#define GF_X_GRAD(field, ...) float *field;
    GF_LAYER_TENSORS(GF_X_GRAD)
} gf_layer_grads;

/* Gradients of the model-level tensors. */
typedef struct {
    GF_MODEL_TENSORS(GF_X_GRAD)
} gf_model_grads;

typedef enum { GF_TK_MAT, GF_TK_VEC, GF_TK_CONV, GF_TK_GATES } gf_tensor_kind;
typedef enum { GF_TW_MODEL, GF_TW_ANY, GF_TW_RECURRENT, GF_TW_ATTENTION } gf_tensor_where;
typedef enum { GF_DIM_ONE, GF_DIM_V, GF_DIM_D, GF_DIM_E, GF_DIM_L, GF_DIM_HD, GF_DIM_H, GF_DIM_BW, GF_DIM_W } gf_dim;
typedef enum {
    GF_INIT_ZERO, GF_INIT_FAN_IN, GF_INIT_OUT_E, GF_INIT_OUT_D, GF_INIT_OUT_L, GF_INIT_CONV,
    GF_INIT_GATE, GF_INIT_A_PARAM
} gf_tensor_init;

/* A row of the tables. */
typedef struct {
    const char *name;
    gf_tensor_kind kind;
    gf_tensor_where where;
    int ndim;
    gf_dim dims[3];
    int decay;
    gf_tensor_init init;
    size_t view_at; /* offsetof the view in gf_layer_weights (gf_model for MODEL ones) */
    size_t grad_at; /* offsetof the pointer in gf_layer_grads (gf_model_grads) */
} gf_tensor_def;

/* One tensor of a model of a given config: a table row, its layer (-1 for
 * the model-level ones), full name and shape in files. */
typedef struct {
    const gf_tensor_def *def;
    int layer;
    char name[96];
    int ndim;
    size_t shape[3];
    size_t numel;
} gf_tensor_slot;

/* The tensors of a model of config c (validated), in file order: the
 * model-level ones, then layer by layer in table order. Returns how many;
 * fills out[0 .. n) when out is not NULL. */
int gf_tensor_slots(const gf_config *c, gf_tensor_slot *out);
/* Floats of all of them: the parameter count. */
size_t gf_tensor_count_params(const gf_config *c);
/* The table row of a Hugging Face tensor name, or NULL when the name is not
 * one of griffin's (*layer: its layer, -1 for model-level). */
const gf_tensor_def *gf_tensor_def_by_name(const char *name, int *layer);

/* Where a slot's view lives in a model: a gf_mat * (MAT, GATES) or a
 * const float ** (VEC, CONV). The struct gf_model is model.h's. */
struct gf_model;
void *gf_tensor_view(struct gf_model *m, const gf_tensor_slot *s);
/* Where a slot's gradient pointer lives. */
float **gf_tensor_grad(gf_model_grads *top, gf_layer_grads *layers, const gf_tensor_slot *s);

/* Draws a slot's initial values into p [numel] (zero for ZERO, which draws
 * no random numbers: the stream then matches the official order). */
void gf_tensor_init_values(const gf_tensor_slot *s, const gf_config *c, float *p, uint64_t rng[4]);

/* The one place the conv weight changes layout: file [L, 1, W] (any float
 * dtype) -> held [W, L], and held [W, L] -> file [L, 1, W] (F32). */
void gf_conv_from_file(float *held, const void *file, gf_dtype dtype, size_t L, size_t W);
void gf_conv_to_file(float *file, const float *held, size_t L, size_t W);

#endif
