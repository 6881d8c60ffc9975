/* The activation buffers of a forward over M rows (prefill: M = B * T;
 * decode: M = B), counted and carved out of one arena. */
#include <stdint.h>

#include "layers/layers.h"
#include "model/model.h"
#include "parallel.h"

/* Floats of the arena that hold the quantised inputs (bytes rounded up). */
static size_t xq_floats(const gf_model *m, size_t M) {
    return m->xq_cols ? (gf_xq_bytes(M, m->xq_cols) + sizeof(float) - 1) / sizeof(float) : 0;
}

/* Every buffer of the arena starts on a cache line: the kernels' 64-byte
 * loads of a row take twice as long when they straddle two lines (a third
 * off the Q4 decode step at batch 4 here). ACT_SLOTS buffers, up to 15
 * floats of padding before each. */
#define ACT_SLOTS 17
static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

size_t gf_acts_floats(const gf_model *m, size_t M) {
    const gf_config *c = &m->cfg;
    size_t D = (size_t)c->width, L = (size_t)c->lru_width, E = (size_t)c->mlp_width;
    size_t hd = (size_t)c->head_dim;
    return M * (3 * D + 5 * L + 2 * D + 2 * hd + 2 * E) +
           gf_par_slots() * gf_attention_scores_floats((size_t)c->num_heads, hd, (size_t)c->window) +
           m->scratch_floats + xq_floats(m, M) + ACT_SLOTS * 16;
}

void gf_acts_carve(const gf_model *m, size_t M, float *p, gf_acts *a) {
    const gf_config *c = &m->cfg;
    size_t D = (size_t)c->width, L = (size_t)c->lru_width, E = (size_t)c->mlp_width;
    size_t hd = (size_t)c->head_dim;
    float **slots[] = {&a->x, &a->xn, &a->tmp, &a->y, &a->xb, &a->xc, &a->gi, &a->ga,
                       &a->q, &a->o, &a->k, &a->v, &a->g, &a->u, &a->scores, &a->scratch};
    /* the same count gf_acts_floats sized the arena with */
    a->score_slots = gf_par_slots();
    size_t sizes[] = {M * D, M * D, M * D, M * L, M * L, M * L, M * L, M * L,
                      M * D, M * D, M * hd, M * hd, M * E, M * E,
                      a->score_slots * gf_attention_scores_floats((size_t)c->num_heads, hd, (size_t)c->window),
                      m->scratch_floats};
    _Static_assert(sizeof sizes / sizeof sizes[0] + 1 == ACT_SLOTS, "every buffer is counted");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *slots[i] = p = align64(p);
        p += sizes[i];
    }
    a->xq.buf = m->xq_cols ? (uint8_t *)align64(p) : NULL;
    a->xq.bytes = m->xq_cols ? gf_xq_bytes(M, m->xq_cols) : 0;
}

