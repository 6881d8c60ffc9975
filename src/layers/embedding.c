#include <math.h>

#include "parallel.h"
#include "layers.h"
#include "util.h"

int gf_embed_tokens(const gf_model *m, const int32_t *tokens, size_t M, float *x, gf_error *err) {
    size_t D = (size_t)m->cfg.width;
    float s = gf_config_embed_multiplier(&m->cfg);
    for (size_t i = 0; i < M; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size)
            return gf_fail(err, "token id %d at index %zu is outside the vocabulary [0, %d)",
                           tokens[i], i, m->cfg.vocab_size);
#pragma omp parallel for schedule(static) if (M * D >= GF_PAR_MIN)
    for (size_t i = 0; i < M; i++) {
        gf_mat_row(&m->embed, (size_t)tokens[i], x + i * D);
        if (s != 1.0f)
            for (size_t d = 0; d < D; d++) x[i * D + d] *= s;
    }
    return 0;
}

void gf_unembed(const gf_model *m, const float *xf, size_t M, float *logits, const gf_xq *xq) {
    /* the soft cap (when the config has one) inside the product, each
     * thread capping its logits while they are in its cache */
    gf_product p = {&m->embed, logits, NULL, m->cfg.logits_soft_cap > 0.0f ? m->cfg.logits_soft_cap : 0.0f};
    gf_linear_many(xf, M, &p, 1, xq);
}
