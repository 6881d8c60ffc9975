/* A randomly initialised model in the Hugging Face layout, following the
 * official code's initialisers (spec §12). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "util.h"

typedef struct {
    gf_st_entry *e;
    char (*names)[128];
    size_t n, cap;
    float *next; /* bump pointer in the parameter arena */
    uint64_t rng[4];
} builder;

static float *add(builder *b, const char *name, int ndim, size_t d0, size_t d1, size_t d2) {
    gf_st_entry *e = &b->e[b->n];
    snprintf(b->names[b->n], sizeof b->names[b->n], "%s", name);
    e->name = b->names[b->n];
    e->dtype = GF_DT_F32;
    e->ndim = ndim;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->shape[2] = d2;
    size_t numel = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
    e->data = b->next;
    float *p = b->next;
    b->next += numel;
    b->n++;
    return p;
}

static void fill_normal(builder *b, float *p, size_t n, double std) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(std * gf_rng_normal(b->rng));
}

int gf_model_init_write(const gf_config *cfg, uint64_t seed, const char *out_dir, gf_error *err) {
    if (gf_config_validate(cfg, out_dir, err) != 0) return -1;
    size_t D = (size_t)cfg->width, E = (size_t)cfg->mlp_width, L = (size_t)cfg->lru_width;
    size_t H = (size_t)cfg->num_heads, hd = (size_t)cfg->head_dim, W = (size_t)cfg->conv_width;
    size_t N = (size_t)cfg->num_layers, bw = L / H;
    double s = cfg->final_w_init_variance_scale > 0 ? cfg->final_w_init_variance_scale : 2.0 / (double)N;
    if (gf_mkdir_p(out_dir, err) != 0) return -1;
    builder b = {0};
    b.cap = 2 + N * 24; /* at most 21 tensors a layer */
    b.e = gf_calloc(b.cap, sizeof *b.e, "init", err);
    b.names = gf_calloc(b.cap, sizeof *b.names, "init", err);
    float *arena = gf_calloc(gf_config_num_params(cfg), sizeof(float), "init parameters", err);
    int rc = -1;
    if (!b.e || !b.names || !arena) goto out;
    b.next = arena;
    gf_rng_seed(b.rng, seed);
    float *p = add(&b, "model.embed_tokens.weight", 2, (size_t)cfg->vocab_size, D, 0);
    fill_normal(&b, p, (size_t)cfg->vocab_size * D, sqrt(1.0 / (double)D));
    add(&b, "model.final_norm.weight", 1, D, 0, 0); /* zero: multiplier 1 */
    for (size_t i = 0; i < N; i++) {
        char n[128];
#define NAME(suffix) (snprintf(n, sizeof n, "model.layers.%zu.%s", i, suffix), n)
        add(&b, NAME("temporal_pre_norm.weight"), 1, D, 0, 0);
        add(&b, NAME("channel_pre_norm.weight"), 1, D, 0, 0);
        fill_normal(&b, add(&b, NAME("mlp_block.gate_proj.weight"), 2, E, D, 0), E * D, sqrt(1.0 / (double)D));
        add(&b, NAME("mlp_block.gate_proj.bias"), 1, E, 0, 0);
        fill_normal(&b, add(&b, NAME("mlp_block.up_proj.weight"), 2, E, D, 0), E * D, sqrt(1.0 / (double)D));
        add(&b, NAME("mlp_block.up_proj.bias"), 1, E, 0, 0);
        fill_normal(&b, add(&b, NAME("mlp_block.down_proj.weight"), 2, D, E, 0), D * E, sqrt(s / (double)E));
        add(&b, NAME("mlp_block.down_proj.bias"), 1, D, 0, 0);
        if (cfg->block_types[i] == GF_BLOCK_ATTENTION) {
            fill_normal(&b, add(&b, NAME("temporal_block.q_proj.weight"), 2, D, D, 0), D * D, sqrt(1.0 / (double)D));
            fill_normal(&b, add(&b, NAME("temporal_block.k_proj.weight"), 2, hd, D, 0), hd * D, sqrt(1.0 / (double)D));
            fill_normal(&b, add(&b, NAME("temporal_block.v_proj.weight"), 2, hd, D, 0), hd * D, sqrt(1.0 / (double)D));
            fill_normal(&b, add(&b, NAME("temporal_block.o_proj.weight"), 2, D, D, 0), D * D, sqrt(s / (double)D));
            add(&b, NAME("temporal_block.o_proj.bias"), 1, D, 0, 0);
            continue;
        }
        fill_normal(&b, add(&b, NAME("temporal_block.linear_x.weight"), 2, L, D, 0), L * D, sqrt(1.0 / (double)D));
        add(&b, NAME("temporal_block.linear_x.bias"), 1, L, 0, 0);
        fill_normal(&b, add(&b, NAME("temporal_block.linear_y.weight"), 2, L, D, 0), L * D, sqrt(1.0 / (double)D));
        add(&b, NAME("temporal_block.linear_y.bias"), 1, L, 0, 0);
        fill_normal(&b, add(&b, NAME("temporal_block.linear_out.weight"), 2, D, L, 0), D * L, sqrt(s / (double)L));
        add(&b, NAME("temporal_block.linear_out.bias"), 1, D, 0, 0);
        /* The official Conv1D default w_init_variance_scale is 0.01. */
        fill_normal(&b, add(&b, NAME("temporal_block.conv_1d.weight"), 3, L, 1, W), L * W, sqrt(0.01 / (double)W));
        add(&b, NAME("temporal_block.conv_1d.bias"), 1, L, 0, 0);
        /* a = exp(-softplus(a_param)) with a^2 uniform on [0.9^2, 0.999^2]. */
        float *ap = add(&b, NAME("temporal_block.rg_lru.recurrent_param"), 1, L, 0, 0);
        for (size_t c = 0; c < L; c++) {
            double u = 0.81 + 1e-8 + gf_rng_uniform(b.rng) * (0.998001 - 0.81);
            double a_real = 0.5 * log(u);
            ap[c] = (float)log(exp(-a_real) - 1.0);
        }
        fill_normal(&b, add(&b, NAME("temporal_block.rg_lru.input_gate_weight"), 3, H, bw, bw), L * bw, sqrt(1.0 / (double)bw));
        add(&b, NAME("temporal_block.rg_lru.input_gate_bias"), 2, H, bw, 0);
        fill_normal(&b, add(&b, NAME("temporal_block.rg_lru.recurrent_gate_weight"), 3, H, bw, bw), L * bw, sqrt(1.0 / (double)bw));
        add(&b, NAME("temporal_block.rg_lru.recurrent_gate_bias"), 2, H, bw, 0);
#undef NAME
    }
    char path[4096];
    if (gf_path_join(path, sizeof path, out_dir, "model.safetensors", err) ||
        gf_st_write(path, b.e, b.n, err) != 0)
        goto out;
    if (gf_path_join(path, sizeof path, out_dir, "config.json", err) ||
        gf_config_save(cfg, path, err) != 0)
        goto out;
    rc = 0;
out:
    free(arena);
    free(b.e);
    free(b.names);
    return rc;
}
