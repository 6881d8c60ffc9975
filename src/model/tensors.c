/* The tensor tables of tensors.h made into rows, and what every user of the
 * list shares: sizes from the config, names, views, initialisers and the
 * conv weight's change of layout. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

#define GF_X_DEF(field, kind, where, name, ndim, d0, d1, d2, decay, init)                           \
    {name, GF_TK_##kind, GF_TW_##where, ndim, {GF_DIM_##d0, GF_DIM_##d1, GF_DIM_##d2}, decay,       \
     GF_INIT_##init, offsetof(OWNER, field), offsetof(GRADS, field)},

#define OWNER struct gf_model
#define GRADS gf_model_grads
static const gf_tensor_def MODEL_DEFS[] = {GF_MODEL_TENSORS(GF_X_DEF)};
#undef OWNER
#undef GRADS
#define OWNER gf_layer_weights
#define GRADS gf_layer_grads
static const gf_tensor_def LAYER_DEFS[] = {GF_LAYER_TENSORS(GF_X_DEF)};
#undef OWNER
#undef GRADS

#define N_MODEL_DEFS (sizeof MODEL_DEFS / sizeof *MODEL_DEFS)
#define N_LAYER_DEFS (sizeof LAYER_DEFS / sizeof *LAYER_DEFS)

static size_t dim_size(const gf_config *c, gf_dim d) {
    switch (d) {
    case GF_DIM_V: return (size_t)c->vocab_size;
    case GF_DIM_D: return (size_t)c->width;
    case GF_DIM_E: return (size_t)c->mlp_width;
    case GF_DIM_L: return (size_t)c->lru_width;
    case GF_DIM_HD: return (size_t)c->head_dim;
    case GF_DIM_H: return (size_t)c->num_heads;
    case GF_DIM_BW: return (size_t)c->lru_width / (size_t)c->num_heads;
    case GF_DIM_W: return (size_t)c->conv_width;
    case GF_DIM_ONE: break;
    }
    return 1;
}

static int in_layer(const gf_tensor_def *d, gf_block_type type) {
    return d->where == GF_TW_ANY || (d->where == GF_TW_RECURRENT && type == GF_BLOCK_RECURRENT) ||
           (d->where == GF_TW_ATTENTION && type == GF_BLOCK_ATTENTION);
}

static void fill(gf_tensor_slot *s, const gf_tensor_def *d, int layer, const gf_config *c) {
    s->def = d;
    s->layer = layer;
    if (layer < 0) snprintf(s->name, sizeof s->name, "%s", d->name);
    else snprintf(s->name, sizeof s->name, "model.layers.%d.%s", layer, d->name);
    s->ndim = d->ndim;
    s->numel = 1;
    for (int k = 0; k < 3; k++) {
        s->shape[k] = k < d->ndim ? dim_size(c, d->dims[k]) : 0;
        if (k < d->ndim) s->numel *= s->shape[k];
    }
}

int gf_tensor_slots(const gf_config *c, gf_tensor_slot *out) {
    int n = 0;
    for (size_t k = 0; k < N_MODEL_DEFS; k++, n++)
        if (out) fill(&out[n], &MODEL_DEFS[k], -1, c);
    for (int i = 0; i < c->num_layers; i++)
        for (size_t k = 0; k < N_LAYER_DEFS; k++) {
            if (!in_layer(&LAYER_DEFS[k], (gf_block_type)c->block_types[i])) continue;
            if (out) fill(&out[n], &LAYER_DEFS[k], i, c);
            n++;
        }
    return n;
}

size_t gf_tensor_count_params(const gf_config *c) {
    size_t n = 0;
    gf_tensor_slot s;
    for (size_t k = 0; k < N_MODEL_DEFS; k++) {
        fill(&s, &MODEL_DEFS[k], -1, c);
        n += s.numel;
    }
    for (int i = 0; i < c->num_layers; i++)
        for (size_t k = 0; k < N_LAYER_DEFS; k++)
            if (in_layer(&LAYER_DEFS[k], (gf_block_type)c->block_types[i])) {
                fill(&s, &LAYER_DEFS[k], i, c);
                n += s.numel;
            }
    return n;
}

const gf_tensor_def *gf_tensor_def_by_name(const char *name, int *layer) {
    *layer = -1;
    for (size_t k = 0; k < N_MODEL_DEFS; k++)
        if (!strcmp(name, MODEL_DEFS[k].name)) return &MODEL_DEFS[k];
    static const char prefix[] = "model.layers.";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) return NULL;
    const char *p = name + sizeof prefix - 1;
    long i = 0;
    if (*p < '0' || *p > '9') return NULL;
    while (*p >= '0' && *p <= '9' && i <= GF_MAX_LAYERS) i = i * 10 + (*p++ - '0');
    if (*p++ != '.' || i >= GF_MAX_LAYERS) return NULL;
    for (size_t k = 0; k < N_LAYER_DEFS; k++)
        if (!strcmp(p, LAYER_DEFS[k].name)) {
            *layer = (int)i;
            return &LAYER_DEFS[k];
        }
    return NULL;
}

void *gf_tensor_view(struct gf_model *m, const gf_tensor_slot *s) {
    char *owner = s->layer < 0 ? (char *)m : (char *)&m->layers[s->layer];
    return owner + s->def->view_at;
}

float **gf_tensor_grad(gf_model_grads *top, gf_layer_grads *layers, const gf_tensor_slot *s) {
    char *owner = s->layer < 0 ? (char *)top : (char *)&layers[s->layer];
    return (float **)(owner + s->def->grad_at);
}

void gf_tensor_init_values(const gf_tensor_slot *s, const gf_config *c, float *p, uint64_t rng[4]) {
    double D = c->width, E = c->mlp_width, L = c->lru_width, W = c->conv_width;
    double bw = (double)c->lru_width / c->num_heads;
    double scale = c->final_w_init_variance_scale > 0 ? c->final_w_init_variance_scale : 2.0 / c->num_layers;
    double var = 0.0;
    switch (s->def->init) {
    case GF_INIT_ZERO: break;
    case GF_INIT_FAN_IN: var = 1.0 / D; break;
    case GF_INIT_OUT_E: var = scale / E; break;
    case GF_INIT_OUT_D: var = scale / D; break;
    case GF_INIT_OUT_L: var = scale / L; break;
    case GF_INIT_CONV: var = 0.01 / W; break;
    case GF_INIT_GATE: var = 1.0 / bw; break;
    case GF_INIT_A_PARAM:
        /* a = exp(-softplus(a_param)) with a^2 uniform on [0.9^2, 0.999^2] */
        for (size_t k = 0; k < s->numel; k++) {
            double u = 0.81 + 1e-8 + gf_rng_uniform(rng) * (0.998001 - 0.81);
            p[k] = (float)log(exp(-0.5 * log(u)) - 1.0);
        }
        return;
    }
    if (var <= 0.0) {
        memset(p, 0, s->numel * sizeof *p);
        return;
    }
    double sd = sqrt(var);
    for (size_t k = 0; k < s->numel; k++) p[k] = (float)(sd * gf_rng_normal(rng));
}

void gf_conv_from_file(float *held, const void *file, gf_dtype dtype, size_t L, size_t W) {
    size_t es = gf_dtype_size(dtype);
    for (size_t k = 0; k < W; k++)
        for (size_t ch = 0; ch < L; ch++)
            gf_convert_to_f32(&held[k * L + ch], (const char *)file + (ch * W + k) * es, dtype, 1);
}

void gf_conv_to_file(float *file, const float *held, size_t L, size_t W) {
    for (size_t k = 0; k < W; k++)
        for (size_t ch = 0; ch < L; ch++) file[ch * W + k] = held[k * L + ch];
}
