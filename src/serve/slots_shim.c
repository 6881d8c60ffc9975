/* TEMPORARY — branch wt-serve only (see slots_shim.h): the generator's slot
 * API on top of the existing one, one batch-1 gf_generator per slot, made at
 * join with the sequence's params and freed at leave. A joining sequence's
 * prompt is fed whole in its first round (gf_generator_feed: a prefill, or
 * decode steps after a snapshot), and every running slot steps on its own:
 * the ids and text are the real API's, the speed is not. A sequence joined
 * from a snapshot keeps the snapshot's sampler (gf_generator_restore) rather
 * than one seeded from its params: the same for greedy requests. */
#define GF_SLOTS_SHIM_IMPL
#include "serve/slots_shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gf_generator *g1;   /* NULL: the slot is free */
    int32_t *ids;       /* [n]: prompt ids not fed yet (NULL once fed) */
    size_t n;
    int finished;
} shim_slot;

typedef struct {
    const gf_model *m;
    const gf_tokenizer *tk;
    int batch, chunk;
    shim_slot *slot;    /* [batch] */
} shim_gen;

typedef struct {
    gf_gen_snapshot *real;
    size_t context;
} shim_snap;

static int fail(gf_error *err, const char *msg) {
    if (err) snprintf(err->msg, sizeof err->msg, "%s", msg);
    return -1;
}

gf_generator *shim_generator_new(const gf_model *m, const gf_tokenizer *tk, int batch,
                                 const gf_gen_params *params, gf_error *err) {
    (void)params;
    if (!m || batch < 1 || batch > 65536) {
        fail(err, "generator: no model, or a batch outside 1 .. 65536");
        return NULL;
    }
    shim_gen *s = calloc(1, sizeof *s);
    if (!s || !(s->slot = calloc((size_t)batch, sizeof *s->slot))) {
        free(s);
        fail(err, "generator: out of memory");
        return NULL;
    }
    s->m = m;
    s->tk = tk;
    s->batch = batch;
    s->chunk = 512;
    return (gf_generator *)s;
}

void shim_generator_free(gf_generator *g) {
    shim_gen *s = (shim_gen *)g;
    if (!s) return;
    for (int i = 0; i < s->batch; i++) gf_generator_leave(g, i);
    free(s->slot);
    free(s);
}

int shim_generator_batch(const gf_generator *g) { return ((const shim_gen *)g)->batch; }

static int join(gf_generator *g, const shim_snap *snap, const int32_t *ids, size_t n, const gf_gen_params *p,
                gf_error *err) {
    shim_gen *s = (shim_gen *)g;
    int V = gf_model_config(s->m)->vocab_size;
    if (n == 0 || !ids) return fail(err, "generator: join: no prompt ids");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) return fail(err, "generator: join: an id outside the vocabulary");
    int b = 0;
    while (b < s->batch && s->slot[b].g1) b++;
    if (b == s->batch) return fail(err, "generator: join: every slot is in use");
    shim_slot *q = &s->slot[b];
    if (!(q->g1 = gf_generator_new(s->m, s->tk, 1, p, err))) return -1;
    int bad = snap && gf_generator_restore(q->g1, 0, snap->real, err);
    if (!bad && !(q->ids = malloc(n * sizeof *ids))) bad = fail(err, "generator: join: out of memory");
    if (bad) {
        gf_generator_free(q->g1);
        q->g1 = NULL;
        return -1;
    }
    memcpy(q->ids, ids, n * sizeof *ids);
    q->n = n;
    q->finished = 0;
    return b;
}

int gf_generator_join(gf_generator *g, const int32_t *ids, size_t n, const gf_gen_params *p, gf_error *err) {
    return join(g, NULL, ids, n, p, err);
}

int gf_generator_join_from(gf_generator *g, const gf_gen_snapshot *s, const int32_t *ids, size_t n,
                           const gf_gen_params *p, gf_error *err) {
    return join(g, (const shim_snap *)s, ids, n, p, err);
}

int gf_generator_leave(gf_generator *g, int slot) {
    shim_gen *s = (shim_gen *)g;
    if (slot < 0 || slot >= s->batch || !s->slot[slot].g1) return -1;
    shim_slot *q = &s->slot[slot];
    gf_generator_free(q->g1);
    free(q->ids);
    memset(q, 0, sizeof *q);
    return 0;
}

int gf_generator_slots_in_use(const gf_generator *g) {
    const shim_gen *s = (const shim_gen *)g;
    int n = 0;
    for (int i = 0; i < s->batch; i++) n += s->slot[i].g1 != NULL;
    return n;
}

void gf_generator_set_chunk(gf_generator *g, int tokens) {
    ((shim_gen *)g)->chunk = tokens > 0 ? tokens : 1;
}

int gf_generator_round(gf_generator *g, gf_gen_event *ev, int *n_ev, gf_error *err) {
    shim_gen *s = (shim_gen *)g;
    int k = 0;
    for (int b = 0; b < s->batch; b++) {
        shim_slot *q = &s->slot[b];
        if (!q->g1 || q->finished) continue;
        gf_gen_event *e = &ev[k++];
        memset(e, 0, sizeof *e);
        e->slot = b;
        e->token = -1;
        e->text = "";
        if (q->ids) {
            int rc = gf_generator_feed(q->g1, q->ids, q->n, err);
            free(q->ids);
            q->ids = NULL;
            e->prompt_done = 1;
            if (rc) {
                e->finished = q->finished = 1;
                e->reason = GF_GEN_ERROR;
                continue;
            }
        }
        int32_t tok;
        int running = gf_generator_step(q->g1, &tok, err);
        e->token = running < 0 ? -1 : tok;
        e->text = gf_generator_text(q->g1, 0, &e->len);
        if (running <= 0) {
            e->finished = q->finished = 1;
            e->reason = running < 0 ? GF_GEN_ERROR : gf_generator_stop_reason(q->g1, 0);
        }
    }
    *n_ev = k;
    return gf_generator_slots_in_use(g);
}

gf_gen_snapshot *shim_generator_save(const gf_generator *g, int slot, gf_error *err) {
    const shim_gen *s = (const shim_gen *)g;
    if (slot < 0 || slot >= s->batch || !s->slot[slot].g1) {
        fail(err, "generator: save: the slot is not in use");
        return NULL;
    }
    shim_snap *snap = malloc(sizeof *snap);
    if (!snap) {
        fail(err, "generator: save: out of memory");
        return NULL;
    }
    if (!(snap->real = gf_generator_save(s->slot[slot].g1, 0, err))) {
        free(snap);
        return NULL;
    }
    snap->context = (size_t)gf_generator_context(s->slot[slot].g1, 0);
    return (gf_gen_snapshot *)snap;
}

void shim_gen_snapshot_free(gf_gen_snapshot *s) {
    shim_snap *snap = (shim_snap *)s;
    if (!snap) return;
    gf_gen_snapshot_free(snap->real);
    free(snap);
}

size_t shim_gen_snapshot_bytes(const gf_gen_snapshot *s) {
    const shim_snap *snap = (const shim_snap *)s;
    return sizeof *snap + gf_gen_snapshot_bytes(snap->real);
}

size_t gf_gen_snapshot_context(const gf_gen_snapshot *s) { return ((const shim_snap *)s)->context; }
