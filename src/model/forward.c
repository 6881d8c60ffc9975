/* The layer stack, run two ways: prefill (B sequences of T tokens at once,
 * matrix-matrix products) and decode (one token per sequence from the state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/blocks.h"
#include "layers/layers.h"
#include "parallel.h"
#include "util.h"

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

/* acts->x [B*T, D] in, final-normed stream in acts->xn out. trace, when
 * given, receives the residual stream after each layer and the final norm. */
static void run_layers(const gf_model *m, gf_state *st, gf_acts *a, size_t B, size_t T,
                       const int32_t *segment_pos, int decode, float *trace) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, D = (size_t)c->width;
    for (int i = 0; i < c->num_layers; i++) {
        const gf_layer_weights *lw = &m->layers[i];
        gf_rmsnorm_forward(a->xn, a->x, lw->temporal_norm, M, D, c->rms_eps);
        if (lw->type == GF_BLOCK_RECURRENT)
            gf_recurrent_block_forward(m, lw, a, B, T, segment_pos, st->layer_a[i], st->layer_b[i],
                                    decode);
        else
            gf_attention_block_forward(m, lw, a, B, T, segment_pos, st->layer_a[i], st->layer_b[i],
                                    st->num_tokens, decode);
        gf_add(a->x, a->x, a->tmp, M * D);
        gf_rmsnorm_forward(a->xn, a->x, lw->channel_norm, M, D, c->rms_eps);
        gf_mlp_forward(a->tmp, a->xn, lw, M, D, (size_t)c->mlp_width, a->g, a->u, &a->xq);
        gf_add(a->x, a->x, a->tmp, M * D);
        if (trace) memcpy(trace + (size_t)(i + 1) * M * D, a->x, M * D * sizeof *trace);
    }
    gf_rmsnorm_forward(a->xn, a->x, m->final_norm, M, D, c->rms_eps);
    if (trace) memcpy(trace + (size_t)(c->num_layers + 1) * M * D, a->xn, M * D * sizeof *trace);
}

int gf_prefill(const gf_model *m, int B, int T, const int32_t *tokens,
               const int32_t *segment_pos, float *logits, float *trace, gf_state *state,
               gf_error *err) {
    if (B <= 0 || T <= 0) return gf_fail(err, "prefill needs at least one sequence and one token (got B=%d, T=%d)", B, T);
    if ((size_t)B * (size_t)T > (size_t)INT32_MAX)
        return gf_fail(err, "prefill of %d x %d tokens is more than one pass can take (%d)", B, T, INT32_MAX);
    if (state && (state->model != m || state->B != B))
        return gf_fail(err, "prefill: the state was made for another model or batch size");
    size_t M = (size_t)B * (size_t)T, D = (size_t)m->cfg.width;
    int32_t *pos_owned = NULL;
    float *work = NULL;
    gf_state *tmp_state = NULL;
    int rc = -1;
    if (!segment_pos) {
        pos_owned = gf_calloc(M, sizeof *pos_owned, "segment positions", err);
        if (!pos_owned) goto out;
        for (size_t i = 0; i < M; i++) pos_owned[i] = (int32_t)(i % (size_t)T);
        segment_pos = pos_owned;
    }
    if (!state) {
        tmp_state = gf_state_new(m, B, err);
        if (!tmp_state) goto out;
        state = tmp_state;
    }
    work = gf_calloc(gf_acts_floats(m, M), sizeof(float), "prefill activations", err);
    if (!work) goto out;
    gf_acts a;
    gf_acts_carve(m, M, work, &a);
    if (gf_embed_tokens(m, tokens, M, a.x, err) != 0) goto out;
    if (state != tmp_state) gf_state_reset(state); /* a new state is already zero */
    /* The official cache counts tokens from the last segment position. */
    for (int b = 0; b < B; b++) state->num_tokens[b] = (int64_t)segment_pos[(size_t)b * T + T - 1] + 1;
    if (trace) memcpy(trace, a.x, M * D * sizeof *trace);
    run_layers(m, state, &a, (size_t)B, (size_t)T, segment_pos, 0, trace);
    if (logits) gf_unembed(m, a.xn, M, logits, &a.xq);
    rc = 0;
out:
    free(work);
    free(pos_owned);
    gf_state_free(tmp_state);
    return rc;
}

int gf_decode_step(const gf_model *m, gf_state *s, const int32_t *tokens,
                   const int32_t *segment_pos, float *logits, gf_error *err) {
    if (s->model != m) return gf_fail(err, "decode: the state was made for another model");
    size_t B = (size_t)s->B;
    gf_acts *a = &s->acts;
    if (gf_embed_tokens(m, tokens, B, a->x, err) != 0) return -1;
    if (!segment_pos) {
        for (size_t b = 0; b < B; b++) {
            int64_t n = s->num_tokens[b];
            if (n < 0 || n > INT32_MAX) return gf_fail(err, "decode: sequence %zu is at position %lld, outside int32", b, (long long)n);
            s->positions[b] = (int32_t)n;
        }
        segment_pos = s->positions;
    }
    run_layers(m, s, a, B, 1, segment_pos, 1, NULL);
    if (logits) gf_unembed(m, a->xn, B, logits, &a->xq);
    for (size_t b = 0; b < B; b++) s->num_tokens[b]++;
    return 0;
}
