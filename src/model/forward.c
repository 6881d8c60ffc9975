/* The layer stack, run three ways: prefill (B sequences of T tokens at once,
 * matrix-matrix products), decode (one token per sequence from the state)
 * and extend (T more tokens of one sequence of a state, with the prefill's
 * products). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/blocks.h"
#include "layers/layers.h"
#include "parallel.h"
#include "util.h"

void gf_forward_layers(const gf_model *m, gf_acts *a, size_t B, size_t T, const int32_t *segment_pos,
                       gf_state *st, int decode, gf_layer_acts *keep, float *trace) {
    const gf_config *c = &m->cfg;
    size_t M = B * T, D = (size_t)c->width;
    gf_threads *tn = st ? st->tune : NULL;
    for (int i = 0; i < c->num_layers; i++) {
        const gf_layer_weights *lw = &m->layers[i];
        /* each layer a span of the governor's (threads.h) */
        int key = GF_TUNE_KEY(lw->type == GF_BLOCK_RECURRENT ? GF_TUNE_RECURRENT : GF_TUNE_ATTENTION,
                              decode == GF_FWD_DECODE);
        double t0 = tn ? (gf_threads_begin(tn, key), gf_threads_now()) : 0;
        /* inference runs every layer in the same buffers; training keeps
         * each layer's stream and normed inputs */
        gf_layer_acts *k = keep ? &keep[i] : NULL;
        float *x_in = k ? k->x_in : a->x, *xn1 = k ? k->xn1 : a->xn;
        float *x_mid = k ? k->x_mid : a->x, *xn2 = k ? k->xn2 : a->xn;
        float *x_out = k && i + 1 < c->num_layers ? keep[i + 1].x_in : a->x;
        gf_rmsnorm_forward(xn1, x_in, lw->temporal_norm, M, D, c->rms_eps);
        if (lw->type == GF_BLOCK_RECURRENT) {
            float *h = st ? st->layer_a[i] : a->h0;
            if (!st) memset(h, 0, B * (size_t)c->lru_width * sizeof *h);
            gf_recurrent_block_forward(m, lw, xn1, a->tmp, a, B, T, segment_pos, h,
                                       st ? st->layer_b[i] : NULL, decode, k);
        } else {
            gf_attention_block_forward(m, lw, xn1, a->tmp, a, B, T, segment_pos,
                                       st ? st->layer_a[i] : NULL, st ? st->layer_b[i] : NULL,
                                       st ? st->num_tokens : NULL, decode, k);
        }
        gf_add(x_mid, x_in, a->tmp, M * D);
        gf_rmsnorm_forward(xn2, x_mid, lw->channel_norm, M, D, c->rms_eps);
        gf_mlp_forward(a->tmp, xn2, lw, M, (size_t)c->mlp_width, k ? k->g : a->g, k ? k->u : a->u,
                       a->g, &a->xq);
        gf_add(x_out, x_mid, a->tmp, M * D);
        if (trace) memcpy(trace + (size_t)(i + 1) * M * D, x_out, M * D * sizeof *trace);
        if (tn) gf_threads_end(tn, key, gf_threads_now() - t0, (double)M);
    }
    gf_rmsnorm_forward(a->xn, a->x, m->final_norm, M, D, c->rms_eps);
    if (trace) memcpy(trace + (size_t)(c->num_layers + 1) * M * D, a->xn, M * D * sizeof *trace);
}

/* The logits, as a span of the governor's (tn may be NULL). */
static void unembed_span(const gf_model *m, gf_threads *tn, int decode, const float *xf, size_t M, float *logits,
                         const gf_xq *xq) {
    int key = GF_TUNE_KEY(GF_TUNE_HEAD, decode);
    double t0 = tn ? (gf_threads_begin(tn, key), gf_threads_now()) : 0;
    gf_unembed(m, xf, M, logits, xq);
    if (tn) gf_threads_end(tn, key, gf_threads_now() - t0, (double)M);
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
    gf_threads *tn = NULL;
    int rc = -1, saved = 0;
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
    tn = state->tune;
    saved = gf_threads_enter(tn, 0);
    if (gf_embed_tokens(m, tokens, M, a.x, err) != 0) goto out;
    if (state != tmp_state) gf_state_reset(state); /* a new state is already zero */
    /* The official cache counts tokens from the last segment position. */
    for (int b = 0; b < B; b++) state->num_tokens[b] = (int64_t)segment_pos[(size_t)b * T + T - 1] + 1;
    if (trace) memcpy(trace, a.x, M * D * sizeof *trace);
    gf_forward_layers(m, &a, (size_t)B, (size_t)T, segment_pos, state, GF_FWD_PREFILL, NULL, trace);
    if (logits) unembed_span(m, tn, 0, a.xn, M, logits, &a.xq);
    rc = 0;
out:
    gf_threads_leave(tn, saved);
    free(work);
    free(pos_owned);
    gf_state_free(tmp_state);
    return rc;
}

int gf_decode_step_n(const gf_model *m, gf_state *s, int n, const int32_t *tokens,
                     const int32_t *segment_pos, float *logits, gf_error *err) {
    if (s->model != m) return gf_fail(err, "decode: the state was made for another model");
    if (n < 1 || n > s->B) return gf_fail(err, "decode: %d sequences asked of a state of %d", n, s->B);
    /* every per-sequence part of the state is [B, ...] sequence-major, and
     * the activations are carved for B rows: the first n rows are a state
     * and a work space of batch n as they stand */
    size_t B = (size_t)n;
    gf_acts *a = &s->acts;
    int saved = gf_threads_enter(s->tune, 1);
    if (gf_embed_tokens(m, tokens, B, a->x, err) != 0) {
        gf_threads_leave(s->tune, saved);
        return -1;
    }
    if (!segment_pos) {
        for (size_t b = 0; b < B; b++) {
            int64_t p = s->num_tokens[b];
            if (p < 0 || p > INT32_MAX) {
                gf_threads_leave(s->tune, saved);
                return gf_fail(err, "decode: sequence %zu is at position %lld, outside int32", b, (long long)p);
            }
            s->positions[b] = (int32_t)p;
        }
        segment_pos = s->positions;
    }
    gf_forward_layers(m, a, B, 1, segment_pos, s, GF_FWD_DECODE, NULL, NULL);
    if (logits) unembed_span(m, s->tune, 1, a->xn, B, logits, &a->xq);
    gf_threads_leave(s->tune, saved);
    for (size_t b = 0; b < B; b++) s->num_tokens[b]++;
    return 0;
}

int gf_decode_step(const gf_model *m, gf_state *s, const int32_t *tokens,
                   const int32_t *segment_pos, float *logits, gf_error *err) {
    return gf_decode_step_n(m, s, s->B, tokens, segment_pos, logits, err);
}

/* Sequence b of s as a state of batch 1: its parts, its count, the first
 * row of the activations. layer_a / layer_b: num_layers pointers each. */
static void row_view(const gf_state *s, int b, gf_state *v, float **layer_a, float **layer_b) {
    const gf_config *c = &s->model->cfg;
    *v = *s;
    v->B = 1;
    v->num_tokens = s->num_tokens + b;
    v->positions = s->positions + b;
    for (int i = 0; i < c->num_layers; i++) {
        size_t na, nb;
        gf_state_layer_parts(c, i, &na, &nb);
        layer_a[i] = s->layer_a[i] + (size_t)b * na;
        layer_b[i] = s->layer_b[i] + (size_t)b * nb;
    }
    v->layer_a = layer_a;
    v->layer_b = layer_b;
}

int gf_prefill_extend(const gf_model *m, gf_state *s, int b, int T, const int32_t *tokens,
                      float *logits, gf_error *err) {
    if (s->model != m) return gf_fail(err, "extend: the state was made for another model");
    if (b < 0 || b >= s->B) return gf_fail(err, "extend: sequence %d outside a state of %d", b, s->B);
    if (T < 1) return gf_fail(err, "extend: needs at least one token (got %d)", T);
    int V = m->cfg.vocab_size;
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            return gf_fail(err, "extend: token %d at index %d is outside the vocabulary [0, %d)", tokens[t], t, V);
    int64_t n0 = s->num_tokens[b];
    if (n0 < 0 || n0 > (int64_t)INT32_MAX - T)
        return gf_fail(err, "extend: sequence %d at position %lld cannot take %d more (positions are int32)", b,
                       (long long)n0, T);
    size_t M = (size_t)T, D = (size_t)m->cfg.width;
    /* everything allocated before the state is touched: a failure leaves it
     * as it was */
    float **parts = gf_calloc(2 * (size_t)m->cfg.num_layers, sizeof *parts, "state view", err);
    int32_t *pos = parts ? gf_calloc(M, sizeof *pos, "extend positions", err) : NULL;
    float *work = pos ? gf_calloc(gf_acts_floats(m, M), sizeof(float), "extend activations", err) : NULL;
    int rc = -1, saved = 0;
    if (!work) goto out;
    for (size_t t = 0; t < M; t++) pos[t] = (int32_t)(n0 + (int64_t)t);
    gf_acts a;
    gf_acts_carve(m, M, work, &a);
    saved = gf_threads_enter(s->tune, 0);
    if (gf_embed_tokens(m, tokens, M, a.x, err) != 0) goto out;
    /* Sequence b as a state of batch 1, run as one prefill of T tokens that
     * continues from it (GF_FWD_EXTEND): the other rows are neither read
     * nor written, nor is the state's decode work space. */
    gf_state v;
    row_view(s, b, &v, parts, parts + m->cfg.num_layers);
    gf_forward_layers(m, &a, 1, M, pos, &v, GF_FWD_EXTEND, NULL, NULL);
    if (logits) unembed_span(m, s->tune, 0, a.xn + (M - 1) * D, 1, logits, &a.xq);
    s->num_tokens[b] = n0 + T;
    rc = 0;
out:
    gf_threads_leave(s->tune, saved);
    free(work);
    free(pos);
    free(parts);
    return rc;
}
