/* A randomly initialised model in the Hugging Face layout, following the
 * official code's initialisers (spec §12), applied tensor by tensor to a
 * trainable's parameter table, so the list of tensors lives in one place. */
#include <math.h>
#include <string.h>

#include "train/trainable.h"
#include "util.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

void gf_trainable_init_weights(gf_trainable *t, uint64_t seed) {
    const gf_config *c = &t->model->cfg;
    double D = c->width, E = c->mlp_width, L = c->lru_width, W = c->conv_width;
    double bw = (double)c->lru_width / c->num_heads;
    double s = c->final_w_init_variance_scale > 0 ? c->final_w_init_variance_scale : 2.0 / c->num_layers;
    uint64_t rng[4];
    gf_rng_seed(rng, seed);
    memset(t->params, 0, t->n_params * sizeof *t->params); /* biases and norm scales: 0 */
    for (int i = 0; i < t->n_info; i++) {
        const gf_tensor_info *ti = &t->info[i];
        float *p = t->params + ti->offset;
        const char *n = ti->name;
        if (ends_with(n, "recurrent_param")) {
            /* a = exp(-softplus(a_param)) with a^2 uniform on [0.9^2, 0.999^2] */
            for (size_t k = 0; k < ti->numel; k++) {
                double u = 0.81 + 1e-8 + gf_rng_uniform(rng) * (0.998001 - 0.81);
                p[k] = (float)log(exp(-0.5 * log(u)) - 1.0);
            }
            continue;
        }
        double var = 0; /* 0: stays zero */
        if (ends_with(n, "embed_tokens.weight")) var = 1.0 / D;
        else if (ends_with(n, "gate_proj.weight") || ends_with(n, "up_proj.weight")) var = 1.0 / D;
        else if (ends_with(n, "down_proj.weight")) var = s / E;
        else if (ends_with(n, "q_proj.weight") || ends_with(n, "k_proj.weight") || ends_with(n, "v_proj.weight")) var = 1.0 / D;
        else if (ends_with(n, "o_proj.weight")) var = s / D;
        else if (ends_with(n, "linear_x.weight") || ends_with(n, "linear_y.weight")) var = 1.0 / D;
        else if (ends_with(n, "linear_out.weight")) var = s / L;
        else if (ends_with(n, "conv_1d.weight")) var = 0.01 / W; /* the official Conv1D default scale 0.01 */
        else if (ends_with(n, "input_gate_weight") || ends_with(n, "recurrent_gate_weight")) var = 1.0 / bw;
        double std = sqrt(var);
        if (var > 0)
            for (size_t k = 0; k < ti->numel; k++) p[k] = (float)(std * gf_rng_normal(rng));
    }
}

int gf_model_init_write(const gf_config *cfg, uint64_t seed, const char *out_dir, gf_error *err) {
    if (gf_config_validate(cfg, out_dir, err) != 0) return -1;
    gf_trainable *t = gf_trainable_new(cfg, seed, err);
    if (!t) return -1;
    int rc = gf_trainable_save(t, out_dir, err);
    gf_trainable_free(t);
    return rc;
}
