/* The trainable's parameter and gradient arenas, built from a loaded model,
 * and writing them out as a model directory or a gradient file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainable.h"
#include "kernels/gemv.h"
#include "util.h"

/* A trainable of this shape; its parameters copied from src, or zero. The
 * tensors, their order in the arenas and their views all come from the
 * table (model/tensors.h). */
static gf_trainable *build(const gf_config *c, const gf_model *src, gf_error *err) {
    gf_trainable *t = gf_calloc(1, sizeof *t, "trainable", err);
    if (!t) return NULL;
    t->model = gf_calloc(1, sizeof *t->model, "trainable model", err);
    if (!t->model) goto fail;
    gf_model *m = t->model;
    m->cfg = *c;
    m->all_f32 = 1;
    m->dtype_name = "F32";
    m->n_slots = t->n_info = gf_tensor_slots(c, NULL);
    m->slots = gf_calloc((size_t)m->n_slots, sizeof *m->slots, "tensor table", err);
    m->layers = gf_calloc((size_t)c->num_layers, sizeof *m->layers, "trainable layers", err);
    t->lgrads = gf_calloc((size_t)c->num_layers, sizeof *t->lgrads, "gradient layers", err);
    t->info = gf_calloc((size_t)t->n_info, sizeof *t->info, "tensor table", err);
    if (!m->slots || !m->layers || !t->lgrads || !t->info) goto fail;
    gf_tensor_slots(c, m->slots);
    for (int i = 0; i < m->n_slots; i++) t->n_params += m->slots[i].numel;
    m->weight_bytes = t->n_params * sizeof(float);
    t->params = gf_calloc(t->n_params, sizeof(float), "parameters", err);
    t->grads = gf_calloc(t->n_params, sizeof(float), "gradients", err);
    if (!t->params || !t->grads) goto fail;
    for (int i = 0; i < c->num_layers; i++) m->layers[i].type = (gf_block_type)c->block_types[i];
    size_t off = 0;
    for (int i = 0; i < m->n_slots; i++) {
        const gf_tensor_slot *s = &m->slots[i];
        float *p = t->params + off;
        t->info[i] = (gf_tensor_info){s->name, s->ndim, {s->shape[0], s->shape[1], s->shape[2]}, s->numel,
                                      off, s->def->decay};
        *gf_tensor_grad(&t->top, t->lgrads, s) = t->grads + off;
        void *view = gf_tensor_view(m, s);
        const void *from = src ? gf_tensor_view((gf_model *)src, s) : NULL;
        switch (s->def->kind) {
        case GF_TK_MAT:
        case GF_TK_GATES: { /* the gates' [H, bw, bw] as [H*bw, bw] */
            size_t cols = s->shape[s->ndim - 1], rows = s->numel / cols;
            *(gf_mat *)view = (gf_mat){GF_W_F32, p, NULL, rows, cols, NULL, NULL, NULL};
            if (from) gf_dequantize_rows(from, 0, rows, p);
            break;
        }
        case GF_TK_VEC:
        case GF_TK_CONV: /* the conv held as [W, L] in both */
            *(const float **)view = p;
            if (from) memcpy(p, *(const float *const *)from, s->numel * sizeof *p);
            break;
        }
        off += s->numel;
    }
    return t;
fail:
    gf_trainable_free(t);
    return NULL;
}

gf_trainable *gf_trainable_from_model(const gf_model *src, gf_error *err) {
    return build(&src->cfg, src, err);
}

gf_trainable *gf_trainable_new(const gf_config *cfg, uint64_t seed, gf_error *err) {
    if (gf_config_validate(cfg, "model config", err)) return NULL;
    gf_trainable *t = build(cfg, NULL, err);
    if (t) gf_trainable_init_weights(t, seed);
    return t;
}

void gf_trainable_free(gf_trainable *t) {
    if (!t) return;
    gf_model_free(t->model);
    free(t->lgrads);
    free(t->info);
    free(t->params);
    free(t->grads);
    free(t->arena);
    free(t->acts);
    free(t);
}

const gf_model *gf_trainable_model(const gf_trainable *t) { return t->model; }
size_t gf_trainable_num_params(const gf_trainable *t) { return t->n_params; }
float *gf_trainable_params(gf_trainable *t) { return t->params; }
float *gf_trainable_grads(gf_trainable *t) { return t->grads; }
int gf_trainable_num_tensors(const gf_trainable *t) { return t->n_info; }
const gf_tensor_info *gf_trainable_tensor(const gf_trainable *t, int i) {
    return i >= 0 && i < t->n_info ? &t->info[i] : NULL;
}
void gf_trainable_zero_grads(gf_trainable *t) { memset(t->grads, 0, t->n_params * sizeof *t->grads); }

/* Writes one arena's tensors (params or grads) under their names, the conv
 * weights turned back into the file layout [L, 1, W]; extra (may be NULL) is
 * one more entry. */
static int write_arena(gf_file_set *set, const gf_trainable *t, const float *arena, const gf_st_entry *extra,
                       const char *path, gf_error *err) {
    size_t n = (size_t)t->n_info + (extra != NULL), conv_floats = 0;
    const gf_tensor_slot *slots = t->model->slots;
    for (int i = 0; i < t->n_info; i++)
        if (slots[i].def->kind == GF_TK_CONV) conv_floats += t->info[i].numel;
    gf_st_entry *e = gf_calloc(n, sizeof *e, "tensor list", err);
    float *conv = gf_calloc(conv_floats, sizeof *conv, "conv weights", err);
    int rc = -1;
    if (!e || !conv) {
        if (set) gf_file_set_discard(set);
        goto out;
    }
    float *cp = conv;
    for (int i = 0; i < t->n_info; i++) {
        const gf_tensor_info *ti = &t->info[i];
        e[i] = (gf_st_entry){ti->name, GF_DT_F32, ti->ndim, {ti->shape[0], ti->shape[1], ti->shape[2]},
                             arena + ti->offset};
        if (slots[i].def->kind == GF_TK_CONV) {
            gf_conv_to_file(cp, arena + ti->offset, ti->shape[0], ti->shape[2]);
            e[i].data = cp;
            cp += ti->numel;
        }
    }
    if (extra) e[n - 1] = *extra;
    rc = gf_st_write_set(set, path, e, n, NULL, NULL, 0, err);
out:
    free(e);
    free(conv);
    return rc;
}

int gf_trainable_save(const gf_trainable *t, const char *dir, gf_error *err) {
    char path[4096], cfg_path[4096];
    /* the weights and config.json replace an earlier pair together */
    gf_file_set set = {0};
    if (gf_mkdir_p(dir, err) || gf_path_join(path, sizeof path, dir, "model.safetensors", err) ||
        gf_path_join(cfg_path, sizeof cfg_path, dir, "config.json", err) ||
        write_arena(&set, t, t->params, NULL, path, err) ||
        gf_config_save_set(&set, &t->model->cfg, cfg_path, err))
        return -1;
    return gf_file_set_commit(&set, err);
}

int gf_trainable_save_grads(const gf_trainable *t, float loss, const char *path, gf_error *err) {
    gf_st_entry le = {"loss", GF_DT_F32, 1, {1}, &loss};
    return write_arena(NULL, t, t->grads, &le, path, err);
}

void gf_trainable_init_weights(gf_trainable *t, uint64_t seed) {
    uint64_t rng[4];
    gf_rng_seed(rng, seed);
    const gf_model *m = t->model;
    for (int i = 0; i < m->n_slots; i++)
        gf_tensor_init_values(&m->slots[i], &m->cfg, t->params + t->info[i].offset, rng);
}

int gf_model_init_write(const gf_config *cfg, uint64_t seed, const char *out_dir, gf_error *err) {
    if (gf_config_validate(cfg, out_dir, err) != 0) return -1;
    gf_trainable *t = gf_trainable_new(cfg, seed, err);
    if (!t) return -1;
    int rc = gf_trainable_save(t, out_dir, err);
    gf_trainable_free(t);
    return rc;
}
