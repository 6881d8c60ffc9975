/* The model's internal structs: weights as views into the mapped files, and
 * the decode state. Shared by the loader, prefill and decode. */
#ifndef GF_MODEL_H
#define GF_MODEL_H

#include "griffin.h"
#include "kernels/kernels.h"
#include "formats/safetensors.h"
#include "model/tensors.h"
#include "threads.h"

struct gf_model {
    gf_config cfg;
    gf_st_file *files;
    int nfiles;
    gf_mat embed;             /* [V, D], also the unembedding */
    const float *final_norm;  /* [D] */
    gf_layer_weights *layers; /* [num_layers] */
    gf_tensor_slot *slots;    /* every tensor, in file order (model/tensors.h) */
    int n_slots;
    float *small;             /* one arena: norms, biases, conv, a_param as f32 */
    float *gates_t;           /* one arena: the RG-LRU gates' blocks transposed (gf_mat.blocks_t) */
    uint8_t *packed;          /* one arena: Q8 / Q4 products' packed codes and scales (gf_mat.packed) */
    uint8_t *copied;          /* one arena: the float products' weights when copied out of the mapping */
    size_t weight_bytes;
    size_t copied_bytes;      /* the size of copied */
    size_t scratch_floats;    /* conversion scratch the kernels need */
    int has_int8_weights;     /* some products are Q8 / Q4 */
    int has_bf16_weights;     /* some products are BF16 */
    size_t xq_cols;           /* widest input of a product when the integer path is on, else 0 */
    int all_f32;
    const char *dtype_name;
};

/* Activation buffers for M rows (M = B*T in prefill, B in decode). */
typedef struct {
    float *x, *xn, *tmp;          /* [M, D] residual stream, normed input, block output */
    float *y, *xb, *xc, *gi, *ga; /* [M, L] recurrent block */
    float *q, *o;                 /* [M, D] attention */
    float *k, *v;                 /* [M, hd] */
    float *g, *u;                 /* [M, E] MLP */
    float *scores;                /* [score_slots, gf_attention_scores_floats] attention weights, a slot per thread */
    size_t score_slots;           /* threads the attention loops may use (gf_par_slots at sizing) */
    float *scratch;               /* a gate block widened to F32 (gf_block_diag) */
    gf_xq xq;                     /* narrowed inputs of the Q8 / Q4 / BF16 products (empty: none) */
    float *h0;                    /* [B, L] training: the zero state each recurrent layer starts from */
} gf_acts;

size_t gf_acts_floats(const gf_model *m, size_t M);
void gf_acts_carve(const gf_model *m, size_t M, float *base, gf_acts *a);

struct gf_state {
    const gf_model *model;
    int B;
    int64_t *num_tokens;   /* [B] */
    float **layer_a;       /* per layer: rg_lru h [B, L] or keys [B, w, hd] */
    float **layer_b;       /* per layer: conv tail [B, W-1, L] or values [B, w, hd] */
    float *arena;          /* all state floats */
    float *work;           /* decode activations for M = B */
    int32_t *positions;    /* [B] default decode positions */
    gf_acts acts;
    gf_threads *tune;      /* the owner's team-size governor (the generator's), or NULL */
};

/* Floats per sequence of layer i's two state parts: a = RG-LRU h [L] or keys
 * [w, hd]; b = conv tail [W-1, L] or values [w, hd]. Each part is one
 * [B, n] block, sequence b's at b * n. */
void gf_state_layer_parts(const gf_config *c, int i, size_t *na, size_t *nb);

/* gf_config_save into a set of files replaced together (util.h); set NULL:
 * gf_config_save. On failure the set is discarded. */
int gf_config_save_set(gf_file_set *set, const gf_config *c, const char *path, gf_error *err);

/* 0 when tensor t (of the file at path) holds only finite numbers (integer
 * codes always do); else -1, err naming the tensor, the value and its first
 * element. The loader and the quantiser refuse such a tensor. */
int gf_check_finite(const char *path, const gf_st_tensor *t, gf_error *err);

/* x [M, D] = embedding rows of tokens [M] x the embedding scale; fails on an
 * id outside the vocabulary before writing anything. */
int gf_embed_tokens(const gf_model *m, const int32_t *tokens, size_t M, float *x, gf_error *err);
/* logits [M, V] = xf [M, D] @ embedding^T, soft-capped when the model says so. */
void gf_unembed(const gf_model *m, const float *xf, size_t M, float *logits, const gf_xq *xq);

#endif
