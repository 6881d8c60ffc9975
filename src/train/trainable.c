/* The trainable's parameter and gradient arenas, built from a loaded model,
 * and writing them out as a model directory or a gradient file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainable.h"
#include "kernels/gemv.h"
#include "util.h"

/* One walk over the tensors serves three purposes: counting (t->info NULL),
 * recording names and offsets, and binding the model's views, the gradient
 * pointers and the source weights. */
typedef struct {
    gf_trainable *t;
    const gf_model *src; /* copy from here when non-NULL */
    size_t next;         /* floats used so far */
    int n;               /* tensors so far */
} walker;

static size_t numel3(int ndim, const size_t *s) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= s[i];
    return n;
}

/* Registers a tensor; returns its parameter and gradient pointers (NULL
 * while counting). */
static float *tensor(walker *w, const char *name, int ndim, size_t d0, size_t d1, size_t d2,
                     int decay, float **grad) {
    size_t shape[3] = {d0, d1, d2};
    size_t n = numel3(ndim, shape);
    float *p = NULL;
    *grad = NULL;
    if (w->t->info) {
        gf_tensor_info *ti = &w->t->info[w->n];
        snprintf(w->t->names[w->n], sizeof w->t->names[w->n], "%s", name);
        ti->name = w->t->names[w->n];
        ti->ndim = ndim;
        memcpy(ti->shape, shape, sizeof shape);
        ti->numel = n;
        ti->offset = w->next;
        ti->decay = decay;
        p = w->t->params + w->next;
        *grad = w->t->grads + w->next;
    }
    w->next += n;
    w->n++;
    return p;
}

static void mat(walker *w, const char *name, size_t rows, size_t cols, gf_mat *view, float **grad,
                const gf_mat *src) {
    float *p = tensor(w, name, 2, rows, cols, 0, 1, grad);
    if (!p) return;
    *view = (gf_mat){GF_W_F32, p, NULL, rows, cols, NULL, NULL, NULL};
    if (w->src)
        for (size_t r = 0; r < rows; r++) gf_mat_row(src, r, p + r * cols);
}

static void vec(walker *w, const char *name, int ndim, size_t d0, size_t d1, int decay,
                const float **view, float **grad, const float *src) {
    float *p = tensor(w, name, ndim, d0, d1, 0, decay, grad);
    if (!p) return;
    *view = p;
    if (w->src) memcpy(p, src, numel3(ndim, (size_t[]){d0, d1}) * sizeof *p);
}

static void walk(walker *w, const gf_config *c) {
    gf_trainable *t = w->t;
    const gf_model *s = w->src;
    gf_model *m = t->model;
    size_t D = (size_t)c->width, E = (size_t)c->mlp_width, L = (size_t)c->lru_width;
    size_t H = (size_t)c->num_heads, hd = (size_t)c->head_dim, W = (size_t)c->conv_width;
    size_t bw = L / H;
    mat(w, "model.embed_tokens.weight", (size_t)c->vocab_size, D, m ? &m->embed : NULL, &t->d_embed,
        s ? &s->embed : NULL);
    vec(w, "model.final_norm.weight", 1, D, 0, 0, m ? &m->final_norm : NULL, &t->d_final_norm,
        s ? s->final_norm : NULL);
    gf_layer_weights dummy_w;
    gf_layer_grads dummy_g;
    for (int i = 0; i < c->num_layers; i++) {
        gf_layer_weights *lw = m ? &m->layers[i] : &dummy_w;
        gf_layer_grads *g = m ? &t->lgrads[i] : &dummy_g;
        const gf_layer_weights *sl = s ? &s->layers[i] : NULL;
        char n[128];
#define NAME(suffix) (snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix), n)
#define SRC(field) (sl ? sl->field : NULL)
#define SRCM(field) (sl ? &sl->field : NULL)
        lw->type = (gf_block_type)c->block_types[i];
        vec(w, NAME("temporal_pre_norm.weight"), 1, D, 0, 0, &lw->temporal_norm, &g->temporal_norm, SRC(temporal_norm));
        vec(w, NAME("channel_pre_norm.weight"), 1, D, 0, 0, &lw->channel_norm, &g->channel_norm, SRC(channel_norm));
        mat(w, NAME("mlp_block.gate_proj.weight"), E, D, &lw->gate, &g->gate, SRCM(gate));
        vec(w, NAME("mlp_block.gate_proj.bias"), 1, E, 0, 0, &lw->gate_b, &g->gate_b, SRC(gate_b));
        mat(w, NAME("mlp_block.up_proj.weight"), E, D, &lw->up, &g->up, SRCM(up));
        vec(w, NAME("mlp_block.up_proj.bias"), 1, E, 0, 0, &lw->up_b, &g->up_b, SRC(up_b));
        mat(w, NAME("mlp_block.down_proj.weight"), D, E, &lw->down, &g->down, SRCM(down));
        vec(w, NAME("mlp_block.down_proj.bias"), 1, D, 0, 0, &lw->down_b, &g->down_b, SRC(down_b));
        if (c->block_types[i] == GF_BLOCK_ATTENTION) {
            mat(w, NAME("temporal_block.q_proj.weight"), D, D, &lw->q, &g->q, SRCM(q));
            mat(w, NAME("temporal_block.k_proj.weight"), hd, D, &lw->k, &g->k, SRCM(k));
            mat(w, NAME("temporal_block.v_proj.weight"), hd, D, &lw->v, &g->v, SRCM(v));
            mat(w, NAME("temporal_block.o_proj.weight"), D, D, &lw->o, &g->o, SRCM(o));
            vec(w, NAME("temporal_block.o_proj.bias"), 1, D, 0, 0, &lw->o_b, &g->o_b, SRC(o_b));
            continue;
        }
        mat(w, NAME("temporal_block.linear_x.weight"), L, D, &lw->lin_x, &g->lin_x, SRCM(lin_x));
        vec(w, NAME("temporal_block.linear_x.bias"), 1, L, 0, 0, &lw->lin_x_b, &g->lin_x_b, SRC(lin_x_b));
        mat(w, NAME("temporal_block.linear_y.weight"), L, D, &lw->lin_y, &g->lin_y, SRCM(lin_y));
        vec(w, NAME("temporal_block.linear_y.bias"), 1, L, 0, 0, &lw->lin_y_b, &g->lin_y_b, SRC(lin_y_b));
        mat(w, NAME("temporal_block.linear_out.weight"), D, L, &lw->lin_out, &g->lin_out, SRCM(lin_out));
        vec(w, NAME("temporal_block.linear_out.bias"), 1, D, 0, 0, &lw->lin_out_b, &g->lin_out_b, SRC(lin_out_b));
        /* held as the kernels' [W, L]; the file's [L, 1, W] is made on saving */
        float *cw = tensor(w, NAME("temporal_block.conv_1d.weight"), 3, L, 1, W, 1, &g->conv_w);
        if (cw) {
            lw->conv_w = cw;
            if (sl) memcpy(cw, sl->conv_w, W * L * sizeof *cw);
        }
        vec(w, NAME("temporal_block.conv_1d.bias"), 1, L, 0, 0, &lw->conv_b, &g->conv_b, SRC(conv_b));
        vec(w, NAME("temporal_block.rg_lru.recurrent_param"), 1, L, 0, 0, &lw->a_param, &g->a_param, SRC(a_param));
        float *ig = tensor(w, NAME("temporal_block.rg_lru.input_gate_weight"), 3, H, bw, bw, 1, &g->input_gate);
        if (ig) {
            lw->input_gate = (gf_mat){GF_W_F32, ig, NULL, L, bw, NULL, NULL, NULL};
            if (sl) gf_dequantize_rows(&sl->input_gate, 0, L, ig);
        }
        vec(w, NAME("temporal_block.rg_lru.input_gate_bias"), 2, H, bw, 0, &lw->input_gate_b, &g->input_gate_b, SRC(input_gate_b));
        float *ag = tensor(w, NAME("temporal_block.rg_lru.recurrent_gate_weight"), 3, H, bw, bw, 1, &g->a_gate);
        if (ag) {
            lw->a_gate = (gf_mat){GF_W_F32, ag, NULL, L, bw, NULL, NULL, NULL};
            if (sl) gf_dequantize_rows(&sl->a_gate, 0, L, ag);
        }
        vec(w, NAME("temporal_block.rg_lru.recurrent_gate_bias"), 2, H, bw, 0, &lw->a_gate_b, &g->a_gate_b, SRC(a_gate_b));
#undef NAME
#undef SRC
#undef SRCM
    }
}

/* A trainable of this shape; its parameters copied from src, or zero. */
static gf_trainable *build(const gf_config *c, const gf_model *src, gf_error *err) {
    gf_trainable *t = gf_calloc(1, sizeof *t, "trainable", err);
    if (!t) return NULL;
    walker w = {t, NULL, 0, 0};
    walk(&w, c); /* count */
    t->n_params = w.next;
    t->n_info = w.n;
    t->model = gf_calloc(1, sizeof *t->model, "trainable model", err);
    if (!t->model) goto fail;
    t->model->cfg = *c;
    t->model->all_f32 = 1;
    t->model->dtype_name = "F32";
    t->model->weight_bytes = t->n_params * sizeof(float);
    t->model->layers = gf_calloc((size_t)c->num_layers, sizeof *t->model->layers, "trainable layers", err);
    t->lgrads = gf_calloc((size_t)c->num_layers, sizeof *t->lgrads, "gradient layers", err);
    t->info = gf_calloc((size_t)t->n_info, sizeof *t->info, "tensor table", err);
    t->names = gf_calloc((size_t)t->n_info, sizeof *t->names, "tensor names", err);
    t->params = gf_calloc(t->n_params, sizeof(float), "parameters", err);
    t->grads = gf_calloc(t->n_params, sizeof(float), "gradients", err);
    if (!t->model->layers || !t->lgrads || !t->info || !t->names || !t->params || !t->grads) goto fail;
    w = (walker){t, src, 0, 0};
    walk(&w, c);
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
    free(t->names);
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

static int is_conv(const gf_tensor_info *ti) {
    size_t n = strlen(ti->name), k = strlen("conv_1d.weight");
    return n >= k && !strcmp(ti->name + n - k, "conv_1d.weight");
}

/* Writes one arena's tensors (params or grads) under their names, the conv
 * weights turned back into the file layout [L, 1, W]; extra (may be NULL) is
 * one more entry. */
static int write_arena(const gf_trainable *t, const float *arena, const gf_st_entry *extra,
                       const char *path, gf_error *err) {
    size_t n = (size_t)t->n_info + (extra != NULL), conv_floats = 0;
    for (int i = 0; i < t->n_info; i++)
        if (is_conv(&t->info[i])) conv_floats += t->info[i].numel;
    gf_st_entry *e = gf_calloc(n, sizeof *e, "tensor list", err);
    float *conv = gf_calloc(conv_floats, sizeof *conv, "conv weights", err);
    int rc = -1;
    if (!e || !conv) goto out;
    float *cp = conv;
    for (int i = 0; i < t->n_info; i++) {
        const gf_tensor_info *ti = &t->info[i];
        e[i] = (gf_st_entry){ti->name, GF_DT_F32, ti->ndim, {ti->shape[0], ti->shape[1], ti->shape[2]},
                             arena + ti->offset};
        if (is_conv(ti)) { /* [W, L] -> [L, 1, W] */
            size_t L = ti->shape[0], W = ti->shape[2];
            const float *src = arena + ti->offset;
            for (size_t k = 0; k < W; k++)
                for (size_t ch = 0; ch < L; ch++) cp[ch * W + k] = src[k * L + ch];
            e[i].data = cp;
            cp += ti->numel;
        }
    }
    if (extra) e[n - 1] = *extra;
    rc = gf_st_write(path, e, n, err);
out:
    free(e);
    free(conv);
    return rc;
}

int gf_trainable_save(const gf_trainable *t, const char *dir, gf_error *err) {
    char path[4096];
    if (gf_mkdir_p(dir, err) || gf_path_join(path, sizeof path, dir, "model.safetensors", err) ||
        write_arena(t, t->params, NULL, path, err) ||
        gf_path_join(path, sizeof path, dir, "config.json", err) ||
        gf_config_save(&t->model->cfg, path, err))
        return -1;
    return 0;
}

int gf_trainable_save_grads(const gf_trainable *t, float loss, const char *path, gf_error *err) {
    gf_st_entry le = {"loss", GF_DT_F32, 1, {1}, &loss};
    return write_arena(t, t->grads, &le, path, err);
}
