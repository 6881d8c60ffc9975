/* Decode state: one arena for every layer's state of every sequence, and one
 * for the activations of a decode step, so decoding allocates nothing. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

/* Floats per sequence of a layer's two state parts: a = RG-LRU h [L] or keys
 * [w, hd]; b = conv tail [W-1, L] or values [w, hd]. Each part is stored as
 * one [B, n] block, so sequence b's part starts at b * n. */
void gf_state_layer_parts(const gf_config *c, int i, size_t *na, size_t *nb) {
    if (c->block_types[i] == GF_BLOCK_ATTENTION) {
        *na = *nb = (size_t)c->window * (size_t)c->head_dim;
    } else {
        *na = (size_t)c->lru_width;
        *nb = (size_t)(c->conv_width - 1) * (size_t)c->lru_width;
    }
}

static size_t layer_floats(const gf_config *c, int i) {
    size_t na, nb;
    gf_state_layer_parts(c, i, &na, &nb);
    return na + nb;
}

size_t gf_state_bytes_per_seq(const gf_config *c) {
    size_t n = 0;
    for (int i = 0; i < c->num_layers; i++) n += layer_floats(c, i);
    return n * sizeof(float) + sizeof(int64_t);
}

/* The state arena, zeroed. From 8 MiB on it is in 2 MiB pages
 * (gf_alloc_huge): a step reads the whole of a long key/value cache (800 MB
 * for the MQA of bench/decode_latency at batch 16 and 4096 positions), and
 * that step took 44-45 ms in huge pages against 50-57 ms in small ones.
 * Smaller states keep calloc's pages, which cost nothing until used. */
static float *state_arena(size_t floats, gf_error *err) {
    size_t bytes = gf_mul_sat(floats, sizeof(float));
    if (bytes == SIZE_MAX || bytes < ((size_t)8 << 20)) return gf_calloc(floats, sizeof(float), "decode state", err);
    float *p = gf_alloc_huge(bytes);
    if (!p) {
        gf_fail(err, "decode state: out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

gf_state *gf_state_new(const gf_model *m, int batch, gf_error *err) {
    const gf_config *c = &m->cfg;
    if (batch <= 0 || batch > (1 << 20)) {
        gf_fail(err, "batch size %d must be in 1..%d", batch, 1 << 20);
        return NULL;
    }
    gf_state *s = gf_calloc(1, sizeof *s, "decode state", err);
    if (!s) return NULL;
    s->model = m;
    s->B = batch;
    size_t B = (size_t)batch, total = 0;
    for (int i = 0; i < c->num_layers; i++) total += B * layer_floats(c, i);
    /* A large state is zeroed at once (state_arena), so one past the memory
     * the system has available could only end with the process killed; and
     * the config alone sizes it: an attention window of 2^24 with head_dim 4
     * asks for 512 MiB per attention layer and sequence, with weights of a
     * few KiB. */
    size_t bytes = gf_mul_sat(total, sizeof(float)), avail = bytes >= ((size_t)8 << 20) ? gf_mem_available() : 0;
    if (avail && bytes > avail) {
        gf_fail(err, "decode state: %zu MiB for batch %d with attention window %d, more than the %zu MiB of memory available",
                bytes >> 20, batch, c->window, avail >> 20);
        gf_state_free(s);
        return NULL;
    }
    s->num_tokens = gf_calloc(B, sizeof *s->num_tokens, "decode state", err);
    s->layer_a = gf_calloc((size_t)c->num_layers, sizeof *s->layer_a, "decode state", err);
    s->layer_b = s->layer_a ? gf_calloc((size_t)c->num_layers, sizeof *s->layer_b, "decode state", err) : NULL;
    s->arena = s->layer_b ? state_arena(total, err) : NULL;
    s->work = s->arena ? gf_calloc(gf_acts_floats(m, B), sizeof(float), "decode activations", err) : NULL;
    s->positions = s->work ? gf_calloc(B, sizeof *s->positions, "decode state", err) : NULL;
    if (!s->num_tokens || !s->positions) {
        gf_state_free(s);
        return NULL;
    }
    float *p = s->arena;
    for (int i = 0; i < c->num_layers; i++) {
        size_t na, nb;
        gf_state_layer_parts(c, i, &na, &nb);
        s->layer_a[i] = p;
        s->layer_b[i] = p + B * na;
        p += B * (na + nb);
    }
    gf_acts_carve(m, B, s->work, &s->acts);
    return s;
}

void gf_state_free(gf_state *s) {
    if (!s) return;
    free(s->num_tokens);
    free(s->layer_a);
    free(s->layer_b);
    free(s->arena);
    free(s->work);
    free(s->positions);
    free(s);
}

void gf_state_reset(gf_state *s) {
    const gf_config *c = &s->model->cfg;
    size_t total = 0;
    for (int i = 0; i < c->num_layers; i++) total += (size_t)s->B * layer_floats(c, i);
    memset(s->arena, 0, total * sizeof(float));
    memset(s->num_tokens, 0, (size_t)s->B * sizeof *s->num_tokens);
}

int gf_state_copy(gf_state *dst, int dst_b, const gf_state *src, int src_b, gf_error *err) {
    if (dst->model != src->model) return gf_fail(err, "state copy: the states belong to different models");
    if (dst_b < 0 || dst_b >= dst->B || src_b < 0 || src_b >= src->B)
        return gf_fail(err, "state copy: sequence %d -> %d outside batches of %d and %d", src_b, dst_b, src->B, dst->B);
    const gf_config *c = &src->model->cfg;
    for (int i = 0; i < c->num_layers; i++) {
        size_t na, nb;
        gf_state_layer_parts(c, i, &na, &nb);
        memcpy(dst->layer_a[i] + (size_t)dst_b * na, src->layer_a[i] + (size_t)src_b * na, na * sizeof(float));
        memcpy(dst->layer_b[i] + (size_t)dst_b * nb, src->layer_b[i] + (size_t)src_b * nb, nb * sizeof(float));
    }
    dst->num_tokens[dst_b] = src->num_tokens[src_b];
    return 0;
}

int gf_state_batch(const gf_state *s) { return s->B; }

int64_t gf_state_num_tokens(const gf_state *s, int b) {
    return b >= 0 && b < s->B ? s->num_tokens[b] : -1;
}

int gf_state_layer(gf_state *s, int layer, int b, gf_layer_state *out) {
    const gf_config *c = &s->model->cfg;
    memset(out, 0, sizeof *out);
    if (layer < 0 || layer >= c->num_layers || b < 0 || b >= s->B) return -1;
    size_t na, nb;
    gf_state_layer_parts(c, layer, &na, &nb);
    float *a = s->layer_a[layer] + (size_t)b * na, *pb = s->layer_b[layer] + (size_t)b * nb;
    if (c->block_types[layer] == GF_BLOCK_ATTENTION) {
        out->keys = a;
        out->values = pb;
    } else {
        out->rg_lru = a;
        out->conv = pb;
    }
    return 0;
}
