/* One training step's forward and backward through the whole stack:
 * embedding, the residual blocks, the final norm, the tied unembedding with
 * its soft cap, and the cross-entropy loss.
 *
 * The forward keeps each layer's inputs and intermediates in one arena
 * (linear in B x T; attention keeps q, k, v and recomputes its
 * probabilities inside the window in the backward). Logits are made a chunk
 * of rows at a time, so a 256k vocabulary never needs all B x T rows at once;
 * the chunk is as many rows as 4M floats hold (at least 64), so a small
 * vocabulary's unembedding runs as a few large matrix products. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/blocks.h"
#include "layers/layers.h"
#include "parallel.h"
#include "util.h"
#include "trainable.h"

#define LOGIT_FLOATS ((size_t)1 << 22) /* logits alive at once ... */
#define LOGIT_MIN_ROWS ((size_t)64)      /* ... but never fewer rows than this */

static size_t logit_rows(size_t M, size_t V) {
    size_t n = LOGIT_FLOATS / V;
    if (n < LOGIT_MIN_ROWS) n = LOGIT_MIN_ROWS;
    return n < M ? n : M;
}

/* Carves (or, with base NULL, counts) the step arena for B x T rows. */
static size_t carve(gf_trainable *t, size_t B, size_t T, float *base) {
    const gf_config *c = &t->model->cfg;
    size_t M = B * T, D = (size_t)c->width, E = (size_t)c->mlp_width, L = (size_t)c->lru_width;
    size_t hd = (size_t)c->head_dim, V = (size_t)c->vocab_size;
    size_t H = (size_t)c->num_heads, slots = gf_par_slots();
    size_t att = gf_attention_scores_floats(H, hd, (size_t)c->window);
    size_t used = 0;
#define TAKE(ptr, n)                          \
    do {                                      \
        if (base) (ptr) = base + used;        \
        used += (n);                          \
    } while (0)
    for (int i = 0; i < c->num_layers; i++) {
        gf_layer_acts dummy, *la = base ? &t->acts[i] : &dummy;
        TAKE(la->x_in, M * D);
        TAKE(la->xn1, M * D);
        TAKE(la->x_mid, M * D);
        TAKE(la->xn2, M * D);
        TAKE(la->g, M * E);
        TAKE(la->u, M * E);
        if (c->block_types[i] == GF_BLOCK_RECURRENT) {
            TAKE(la->yp, M * L);
            TAKE(la->xb, M * L);
            TAKE(la->xc, M * L);
            TAKE(la->gi, M * L);
            TAKE(la->ga, M * L);
            TAKE(la->h, M * L);
        } else {
            TAKE(la->q, M * D);
            TAKE(la->k, M * hd);
            TAKE(la->v, M * hd);
            TAKE(la->o, M * D);
            TAKE(la->lse, M * H);
        }
    }
    gf_backward_work dw, *w = base ? &t->work : &dw;
    float *xf_dummy, *xfinal_dummy;
    TAKE(*(base ? &t->x_final : &xfinal_dummy), M * D);
    TAKE(*(base ? &t->xf : &xf_dummy), M * D);
    TAKE(w->ds, M * D);
    TAKE(w->dn, M * D);
    TAKE(w->tmp, M * D);
    TAKE(w->e1, M * E);
    TAKE(w->e2, M * E);
    TAKE(w->l1, M * L);
    TAKE(w->l2, M * L);
    TAKE(w->l3, M * L);
    TAKE(w->l4, M * L);
    TAKE(w->dq, M * D);
    TAKE(w->dk, M * hd);
    TAKE(w->dv, M * hd);
    TAKE(w->scores, slots * att);
    TAKE(w->dscores, slots * att);
    w->score_slots = slots;
    TAKE(w->att_stats, M * H);
    TAKE(w->rstd, M);
    TAKE(w->h0, B * L);
    TAKE(w->logits, logit_rows(M, V) * V);
    TAKE(w->row_loss, 2 * logit_rows(M, V));
#undef TAKE
    return used;
}

static int ensure_arena(gf_trainable *t, size_t B, size_t T, gf_error *err) {
    /* the attention scratch has a slot per thread: a new thread count re-carves */
    if (t->arena && t->arena_M == B * T && t->arena_B == B && t->work.score_slots == gf_par_slots())
        return 0;
    free(t->arena);
    t->arena = NULL;
    if (!t->acts) {
        t->acts = gf_calloc((size_t)t->model->cfg.num_layers, sizeof *t->acts, "layer activations", err);
        if (!t->acts) return -1;
    }
    size_t n = carve(t, B, T, NULL);
    t->arena = gf_calloc(n, sizeof(float), "training activations", err);
    if (!t->arena) return -1;
    carve(t, B, T, t->arena);
    t->arena_M = B * T;
    t->arena_B = B;
    return 0;
}

/* Logits of rows [r0, r0 + n) of xf, the loss of their targets, and the
 * gradient flowing back: dxf rows = (d logits) E, d embed += (d logits)^T xf.
 * Returns the summed loss in double (rows summed in order, so the total does
 * not depend on the threads). */
static double loss_chunk(gf_trainable *t, const int32_t *targets, size_t r0, size_t n, float scale) {
    const gf_model *m = t->model;
    size_t D = (size_t)m->cfg.width, V = (size_t)m->cfg.vocab_size;
    float cap = m->cfg.logits_soft_cap;
    float *lg = t->work.logits, *row_loss = t->work.row_loss;
    const float *E = m->embed.data;
    gf_unembed(m, t->xf + r0 * D, n, lg, NULL);
#pragma omp parallel for schedule(static) if (n * V >= GF_PAR_MIN)
    for (size_t r = 0; r < n; r++) {
        float *row = lg + r * V;
        int32_t y = targets[r0 + r];
        row_loss[2 * r] = row_loss[2 * r + 1] = 0.0f;
        if (y < 0) {
            memset(row, 0, V * sizeof *row);
            continue;
        }
        float mx = row[0];
        /* clang 14 vectorises no float max reduction without -ffast-math's
         * no-NaN promise, and warns that it could not where asked to */
#ifndef __clang__
#pragma omp simd reduction(max : mx)
#endif
        for (size_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        double z = 0.0;
#pragma omp simd reduction(+ : z)
        for (size_t v = 0; v < V; v++) z += gf_expf(row[v] - mx);
        float target_logit = row[y];
        double lr = log(z) + mx - target_logit;
        row_loss[2 * r] = (float)lr; /* and what float leaves out: the sum stays double */
        row_loss[2 * r + 1] = (float)(lr - (double)row_loss[2 * r]);
        float inv = (float)(1.0 / z) * scale;
        /* the exponential again rather than a second row of V floats: the
         * cap's derivative 1 - (l / c)^2 needs the logit it would replace */
        for (size_t v = 0; v < V; v++) {
            float l = row[v];
            float capd = cap > 0.0f ? 1.0f - (l / cap) * (l / cap) : 1.0f;
            row[v] = gf_expf(l - mx) * inv * capd;
        }
        row[y] -= scale * (cap > 0.0f ? 1.0f - (target_logit / cap) * (target_logit / cap) : 1.0f);
    }
    double sum = 0.0;
    for (size_t r = 0; r < n; r++) sum += (double)row_loss[2 * r] + (double)row_loss[2 * r + 1];
    gf_linear_backward(t->work.ds + r0 * D, t->top.embed, NULL, lg, t->xf + r0 * D, E, n, V, D, 0);
    return sum;
}

int gf_train_loss_grad(gf_trainable *t, int B, int T, const int32_t *inputs,
                       const int32_t *targets, const int32_t *segment_pos, float grad_scale,
                       double *loss, gf_error *err) {
    return gf_train_loss_grad_part(t, B, T, inputs, targets, segment_pos, grad_scale, 0, loss, NULL, NULL, err);
}

/* The parameters of layer i: contiguous in the arenas (the tensor table
 * lays out the model's own tensors, then each layer's in turn). */
static void layer_range(const gf_trainable *t, int layer, size_t *lo, size_t *hi) {
    const gf_tensor_slot *s = t->model->slots;
    *lo = SIZE_MAX;
    *hi = 0;
    for (int k = 0; k < t->n_info; k++) {
        if (s[k].layer != layer) continue;
        if (t->info[k].offset < *lo) *lo = t->info[k].offset;
        if (t->info[k].offset + t->info[k].numel > *hi) *hi = t->info[k].offset + t->info[k].numel;
    }
}

int gf_train_loss_grad_part(gf_trainable *t, int B_, int T_, const int32_t *inputs, const int32_t *targets,
                            const int32_t *segment_pos, float grad_scale, size_t targets_all, double *loss,
                            gf_grads_ready_fn ready, void *ready_ctx, gf_error *err) {
    gf_model *m = t->model;
    const gf_config *c = &m->cfg;
    if (B_ <= 0 || T_ <= 0) return gf_fail(err, "training step needs B, T >= 1 (got %d, %d)", B_, T_);
    size_t B = (size_t)B_, T = (size_t)T_, M = B * T, D = (size_t)c->width;
    size_t E = (size_t)c->mlp_width;
    if (M > (size_t)INT32_MAX) return gf_fail(err, "training step of %zu rows is too large", M);
    size_t counted = 0;
    for (size_t i = 0; i < M; i++) {
        if (inputs[i] < 0 || inputs[i] >= c->vocab_size)
            return gf_fail(err, "input token %d at index %zu is outside the vocabulary [0, %d)", inputs[i], i, c->vocab_size);
        if (targets[i] >= c->vocab_size)
            return gf_fail(err, "target token %d at index %zu is outside the vocabulary [0, %d)", targets[i], i, c->vocab_size);
        counted += targets[i] >= 0;
    }
    if (targets_all == 0 && counted == 0) return gf_fail(err, "training step has no target to learn");
    if (targets_all != 0 && counted > targets_all)
        return gf_fail(err, "training step: %zu targets here, more than the %zu of the whole batch", counted, targets_all);
    /* the whole batch's count, so that the parts' gradients add up to its mean */
    size_t denom = targets_all ? targets_all : counted;
    int32_t *pos_owned = NULL;
    if (!segment_pos) {
        pos_owned = gf_calloc(M, sizeof *pos_owned, "segment positions", err);
        if (!pos_owned) return -1;
        for (size_t i = 0; i < M; i++) pos_owned[i] = (int32_t)(i % T);
        segment_pos = pos_owned;
    }
    if (ensure_arena(t, B, T, err)) {
        free(pos_owned);
        return -1;
    }
    gf_backward_work *w = &t->work;

    /* forward: the one layer loop inference runs, keeping each layer's
     * intermediates in t->acts; the stream ends in x_final, normed in xf */
    gf_acts a = {0};
    a.x = t->x_final;
    a.xn = t->xf;
    a.tmp = w->tmp;
    a.y = w->l1;  /* the recurrent block's product with its GeLU branch */
    a.g = w->e1;  /* the MLP's activation */
    a.scores = w->scores;
    a.score_slots = w->score_slots;
    a.h0 = w->h0;
    gf_embed_tokens(m, inputs, M, t->acts[0].x_in, NULL); /* config validation guarantees a layer */
    gf_forward_layers(m, &a, B, T, segment_pos, NULL, 0, t->acts, NULL);

    /* loss, and its gradient back to the final norm's output (in w->ds) */
    float scale = grad_scale / (float)denom;
    double sum = 0.0;
    size_t chunk = logit_rows(M, (size_t)c->vocab_size);
    for (size_t r0 = 0; r0 < M; r0 += chunk)
        sum += loss_chunk(t, targets, r0, M - r0 < chunk ? M - r0 : chunk, scale);
    *loss = targets_all ? sum : sum / (double)counted;

    /* backward: w->ds carries d/d(stream), from the top down */
    memcpy(w->dn, w->ds, M * D * sizeof *w->dn);
    memset(w->ds, 0, M * D * sizeof *w->ds);
    gf_rmsnorm_backward(w->ds, t->top.final_norm, w->dn, t->x_final, m->final_norm, M, D, c->rms_eps,
                     w->rstd);
    for (int i = c->num_layers - 1; i >= 0; i--) {
        const gf_layer_weights *lw = &m->layers[i];
        gf_layer_grads *g = &t->lgrads[i];
        const gf_layer_acts *la = &t->acts[i];
        gf_mlp_backward(w->dn, w->ds, la->xn2, la->g, la->u, lw, g, M, D, E, w->e1, w->e2);
        gf_rmsnorm_backward(w->ds, g->channel_norm, w->dn, la->x_mid, lw->channel_norm, M, D, c->rms_eps,
                         w->rstd);
        if (lw->type == GF_BLOCK_RECURRENT)
            gf_recurrent_block_backward(m, lw, g, la, B, T, segment_pos, w->ds, w->dn, w);
        else
            gf_attention_block_backward(m, lw, g, la, B, T, segment_pos, w->ds, w->dn, w);
        gf_rmsnorm_backward(w->ds, g->temporal_norm, w->dn, la->x_in, lw->temporal_norm, M, D, c->rms_eps,
                         w->rstd);
        /* layer i's gradients are final: they may leave while the layers
         * below run */
        if (ready) {
            size_t lo, hi;
            layer_range(t, i, &lo, &hi);
            ready(ready_ctx, lo, hi - lo);
        }
    }
    /* the embedding's first use: x0 = E[token] * multiplier */
    float mul = gf_config_embed_multiplier(c);
    /* A token's row gathers every place it occurs: split by column, so each
     * element is summed by one thread with the rows in order. */
    size_t ncol = (D + 63) / 64;
#pragma omp parallel for schedule(static) if (M * D >= GF_PAR_MIN)
    for (size_t j = 0; j < ncol; j++) {
        size_t k0 = j * 64, nk = D - k0 < 64 ? D - k0 : 64;
        for (size_t r = 0; r < M; r++) {
            float *de = t->top.embed + (size_t)inputs[r] * D + k0;
            const float *d = w->ds + r * D + k0;
            for (size_t k = 0; k < nk; k++) de[k] += d[k] * mul;
        }
    }
    if (ready) { /* the model's own tensors (the embedding, the final norm): done last */
        size_t lo, hi;
        layer_range(t, -1, &lo, &hi);
        ready(ready_ctx, lo, hi - lo);
    }
    free(pos_owned);
    return 0;
}
