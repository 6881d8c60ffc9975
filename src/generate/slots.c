/* Slots (griffin.h, "generation": continuous batching): sequences that join
 * a running batch and leave it, each with its own parameters, all decoded
 * together.
 *
 * A slot is a sequence's name for its life; the rows of the state it
 * occupies change. The decoding slots hold rows 0 .. n_dec-1, so one
 * gf_decode_step_n(n_dec) steps exactly them; a joining slot prefills its
 * prompt in a row after them (gf_prefill_extend, `chunk` ids a round,
 * oldest joiner first) and is swapped into row n_dec when its prompt is
 * done; a finished slot is swapped out to the end of the decoding rows and
 * keeps its row (so gf_generator_save still has its state) until a join
 * takes the slot again; a slot that leaves gives its row up at once (the
 * last decoding row moves into it). With B rows for B slots there is always
 * a row for a joiner.
 *
 * A round feeds first (the ids the decoding slots sampled the round
 * before, in one decode step, with the last prompt id of each joiner that
 * has only one left: see "riders" below), then prefills, then samples: a slot whose
 * prompt completes samples its first id in the same round, and one that
 * stops costs no decode step for an id nobody reads. Row moves copy through
 * the spare batch-1 state g->one and g->work, so a round allocates nothing
 * beyond what gf_prefill_extend does. */
#include <stdlib.h>
#include <string.h>

#include "griffin.h"
#include "generate/internal.h"
#include "util.h"

typedef gf_gen_seq seq;

/* ---- rows ------------------------------------------------------------------ */

static float *logits_row(gf_generator *g, int r) { return g->logits + (size_t)r * (size_t)g->V; }

/* Row src's state and logits into row dst (whose content is dropped); the
 * slot of src, if any, now lives in dst and src is free. */
static int move_row(gf_generator *g, int dst, int src, gf_error *err) {
    if (dst == src) return 0;
    if (gf_state_copy(g->st, dst, g->st, src, err)) return -1;
    memcpy(logits_row(g, dst), logits_row(g, src), (size_t)g->V * sizeof *g->logits);
    int s = g->slot_of[src];
    g->slot_of[dst] = s;
    if (s >= 0) g->row_of[s] = dst;
    g->slot_of[src] = -1;
    return 0;
}

/* Exchanges rows a and b, with the slots that hold them (a free row is not
 * copied). */
static int swap_rows(gf_generator *g, int a, int b, gf_error *err) {
    if (a == b) return 0;
    int sa = g->slot_of[a], sb = g->slot_of[b];
    if (sb < 0) return move_row(g, b, a, err);
    if (sa < 0) return move_row(g, a, b, err);
    if (!g->one) return gf_fail(err, "generator: no spare state to swap rows %d and %d", a, b); /* B == 1: cannot be */
    size_t bytes = (size_t)g->V * sizeof *g->logits;
    if (gf_state_copy(g->one, 0, g->st, a, err) || gf_state_copy(g->st, a, g->st, b, err) ||
        gf_state_copy(g->st, b, g->one, 0, err))
        return -1;
    memcpy(g->work, logits_row(g, a), bytes);
    memcpy(logits_row(g, a), logits_row(g, b), bytes);
    memcpy(logits_row(g, b), g->work, bytes);
    g->slot_of[a] = sb;
    g->slot_of[b] = sa;
    g->row_of[sb] = a;
    g->row_of[sa] = b;
    return 0;
}

static void queue_remove(gf_generator *g, int slot) {
    for (int i = 0; i < g->n_queue; i++)
        if (g->queue[i] == slot) {
            memmove(g->queue + i, g->queue + i + 1, (size_t)(g->n_queue - i - 1) * sizeof *g->queue);
            g->n_queue--;
            return;
        }
}

/* ---- joining ------------------------------------------------------------------- */

/* A slot for a new sequence: one that holds nothing, else the finished one
 * that finished first (its kept state is dropped); -1 when all are in use. */
static int pick_slot(const gf_generator *g) {
    if (!g->slots) return 0;
    int best = -1;
    for (int s = 0; s < g->B; s++) {
        const seq *q = &g->seq[s];
        if (q->slot == GF_SLOT_FREE || (q->slot == GF_SLOT_FINISHED && g->row_of[s] < 0)) return s;
        if (q->slot == GF_SLOT_FINISHED && (best < 0 || q->finished_at < g->seq[best].finished_at)) best = s;
    }
    return best;
}

/* A row for slot s: its own (a finished slot's), else a free one; either
 * lies after the decoding rows. */
static int pick_row(const gf_generator *g, int s) {
    if (g->row_of[s] >= 0) return g->row_of[s];
    for (int r = g->n_dec; r < g->B; r++)
        if (g->slot_of[r] < 0) return r;
    return -1; /* cannot be: fewer slots hold rows than there are rows */
}

static void enter_slot_mode(gf_generator *g) {
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        q->batch_smp = q->smp;
        q->slot = GF_SLOT_FREE;
        g->row_of[b] = g->slot_of[b] = -1;
    }
    g->slots = 1;
    g->n_dec = 0;
    g->n_queue = 0;
}

static int join(gf_generator *g, const gf_gen_snapshot *snap, const int32_t *ids, size_t n, const gf_gen_params *p,
                gf_error *err) {
    if (!g->slots)
        for (int b = 0; b < g->B; b++)
            if (g->seq[b].reason != GF_GEN_IDLE)
                return gf_fail(err, "generator: join: sequence %d was fed (gf_generator_feed) or restored: slots "
                                    "need a generator of their own, or gf_generator_reset first", b);
    if (n > 0 && !ids) return gf_fail(err, "generator: join: %zu ids but no array of them", n);
    if (!snap && n == 0) return gf_fail(err, "generator: join: an empty prompt (at least one id is needed)");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= g->V)
            return gf_fail(err, "generator: join: id %d (at %zu) is outside the vocabulary [0, %d)", (int)ids[i], i,
                           g->V);
    if (p && gf_gen_check_params(g->m, g->tk, p, "generator: join", err)) return -1;
    int64_t ctx = 0;
    int32_t pend = -1;
    if (snap) {
        if (snap->m != g->m || snap->V != g->V)
            return gf_fail(err, "generator: join: the snapshot was taken with another model");
        ctx = (int64_t)gf_gen_snapshot_context(snap);
        pend = snap->s.pend;
        if (n == 0 && pend < 0 && ctx == 0)
            return gf_fail(err, "generator: join: the snapshot holds no context, so no logits to sample from: "
                                "give at least one id");
    }
    if (n > (size_t)INT32_MAX || ctx + (int64_t)n > (int64_t)INT32_MAX)
        return gf_fail(err, "generator: join: the sequence would hold more than %d ids", INT32_MAX);
    int slot = pick_slot(g);
    if (slot < 0) return gf_fail(err, "generator: join: all %d slots are in use", g->B);
    seq *q = &g->seq[slot];
    /* what may fail first, changing nothing anyone sees */
    gf_gen_pset *own = NULL;
    if (p) {
        if (!(own = malloc(sizeof *own))) return gf_fail(err, "generator: join: out of memory");
        if (gf_gen_pset_init(own, p, err)) {
            free(own);
            return -1;
        }
    }
    const gf_gen_pset *ps = own ? own : &g->ps;
    size_t need = n + (pend >= 0);
    if (need > q->prompt_cap) {
        int32_t *pr = realloc(q->prompt, need * sizeof *pr);
        if (!pr) {
            gf_fail(err, "generator: join: out of memory for a prompt of %zu ids", n);
            goto fail;
        }
        q->prompt = pr;
        q->prompt_cap = need;
    }
    if (gf_gen_fit(g, q, ps, err)) goto fail;
    if (!g->slots) enter_slot_mode(g); /* slot 0 (pick_slot's answer) is free then */
    int row = pick_row(g, slot);
    if (row < 0) {
        gf_fail(err, "generator: join: no free row (a bug)");
        goto fail;
    }
    /* the row: the snapshot's state, or an empty one */
    int rc;
    if (snap) {
        rc = gf_state_copy(g->st, row, snap->st, 0, err);
    } else if (g->one) {
        gf_state_reset(g->one);
        rc = gf_state_copy(g->st, row, g->one, 0, err);
    } else {
        gf_state_reset(g->st);
        rc = 0;
    }
    if (rc) goto fail;
    if (need == 0) memcpy(logits_row(g, row), snap->logits, (size_t)g->V * sizeof *g->logits);
    g->slot_of[row] = slot;
    g->row_of[slot] = row;
    if (pend >= 0) q->prompt[0] = pend;
    if (n > 0) memcpy(q->prompt + (pend >= 0), ids, n * sizeof *ids);
    q->n_prompt = need;
    q->prompt_at = 0;
    if (q->own) gf_gen_pset_free(q->own);
    free(q->own);
    q->own = own;
    q->ps = ps;
    gf_sampler_init(&q->smp, ps->p.temperature, ps->p.top_k, ps->p.top_p, ps->p.seed);
    q->smp.min_p = ps->p.min_p;
    q->ring_n = q->ring_pos = 0;
    if (snap)
        for (int i = 0; i < snap->s.ring_n; i++) gf_gen_ring_add(q, snap->s.ring[i]);
    int cap = ps->p.repeat_last_n;
    for (size_t k = n > (size_t)cap ? n - (size_t)cap : 0; k < n; k++) gf_gen_ring_add(q, ids[k]);
    q->pend = -1;
    q->last = n > 0 ? ids[n - 1] : snap->s.last;
    q->valid = 1;
    q->reason = GF_GEN_RUNNING;
    q->generated = 0;
    gf_gen_text_restart(g, q);
    q->slot = GF_SLOT_JOINING;
    q->ev = 0;
    q->ev_token = -1;
    g->queue[g->n_queue++] = slot;
    g->counts.fed += (int64_t)n;
    return slot;
fail:
    if (own) gf_gen_pset_free(own);
    free(own);
    return -1;
}

int gf_generator_join(gf_generator *g, const int32_t *ids, size_t n, const gf_gen_params *p, gf_error *err) {
    return join(g, NULL, ids, n, p, err);
}

int gf_generator_join_from(gf_generator *g, const gf_gen_snapshot *s, const int32_t *ids, size_t n,
                           const gf_gen_params *p, gf_error *err) {
    if (!s) return gf_fail(err, "generator: join: no snapshot");
    return join(g, s, ids, n, p, err);
}

int gf_generator_leave(gf_generator *g, int slot) {
    if (!g->slots || slot < 0 || slot >= g->B) return -1;
    seq *q = &g->seq[slot];
    int r = g->row_of[slot];
    gf_error err;
    switch (q->slot) {
    case GF_SLOT_FREE:
        return -1;
    case GF_SLOT_JOINING:
        queue_remove(g, slot);
        break;
    case GF_SLOT_DECODING:
        /* the last decoding row into its place (a copy cannot fail here:
         * same state, rows in range), or its row freed when it is the last */
        if (r != g->n_dec - 1) {
            if (move_row(g, r, g->n_dec - 1, &err)) return -1;
            r = -1; /* row r now holds the moved slot */
        }
        g->n_dec--;
        break;
    default:
        break;
    }
    if (r >= 0) g->slot_of[r] = -1;
    g->row_of[slot] = -1;
    q->slot = GF_SLOT_FREE;
    q->reason = GF_GEN_IDLE;
    q->pend = -1;
    q->generated = 0;
    q->n_prompt = q->prompt_at = 0;
    gf_gen_text_restart(g, q);
    return 0;
}

int gf_generator_slots_in_use(const gf_generator *g) { return g->slots ? g->n_dec + g->n_queue : 0; }

void gf_generator_set_chunk(gf_generator *g, int tokens) { g->chunk = tokens < 1 ? 1 : tokens; }

/* ---- rounds ------------------------------------------------------------------- */

static void finish(gf_generator *g, seq *q) {
    q->slot = GF_SLOT_FINISHED;
    q->ev |= GF_EV_FINISHED;
    q->finished_at = g->rounds;
}

/* A slot whose state can no longer be trusted after a failed step. */
static void fail_slot(gf_generator *g, seq *q) {
    if (q->reason == GF_GEN_RUNNING) gf_gen_stop_seq(g, q, GF_GEN_ERROR);
    q->valid = 0;
    finish(g, q);
}

/* Joining slot s, its prompt fed, decodes from now on: out of the queue,
 * its row the one after the decoding rows. -1 (s still out of the queue)
 * when the rows could not be swapped. */
static int start_decoding(gf_generator *g, int s, gf_error *err) {
    queue_remove(g, s);
    if (swap_rows(g, g->row_of[s], g->n_dec, err)) return -1;
    g->n_dec++;
    g->seq[s].slot = GF_SLOT_DECODING;
    g->seq[s].ev |= GF_EV_PROMPT;
    return 0;
}

int gf_generator_round(gf_generator *g, gf_gen_event *ev, int *n_ev, gf_error *err) {
    *n_ev = 0;
    if (!g->slots) return 0;
    g->rounds++;
    gf_error e, first;
    int failed = 0;
    for (int s = 0; s < g->B; s++) {
        seq *q = &g->seq[s];
        q->n_out = 0;
        q->out[0] = 0;
        q->ev = 0;
        q->ev_token = -1;
    }
    /* 0. riders: a joining slot with one prompt id left (a one-id prompt,
     * or the id a snapshot left to feed) is fed in the decoding slots' step,
     * where it costs the step one row more, instead of in a prefill of its
     * own, which reads every weight for one id. It moves to the row after
     * the decoding ones and the riders before it. */
    int n_ride = 0;
    for (int i = 0; i < g->n_queue; i++) {
        seq *q = &g->seq[g->queue[i]];
        if (q->n_prompt - q->prompt_at != 1) continue;
        int r = g->n_dec + n_ride;
        if (swap_rows(g, g->row_of[g->queue[i]], r, &e)) { /* cannot be */
            if (!failed++) first = e;
            break;
        }
        g->toks[r] = q->prompt[q->prompt_at];
        n_ride++;
    }
    /* 1. the ids the decoding slots sampled last round and the riders' ids,
     * in one step */
    if (g->n_dec + n_ride > 0) {
        int bad = 0, n = g->n_dec + n_ride;
        for (int r = 0; r < g->n_dec; r++)
            if ((g->toks[r] = g->seq[g->slot_of[r]].pend) < 0) bad = 1; /* cannot be */
        if (bad || gf_decode_step_n(g->m, g->st, n, g->toks, NULL, g->logits, &e)) {
            if (bad) gf_fail(&e, "generator: round: a decoding slot has no id to feed (a bug)");
            if (!failed++) first = e;
            for (int r = g->n_dec; r < n; r++) {
                queue_remove(g, g->slot_of[r]);
                fail_slot(g, &g->seq[g->slot_of[r]]);
            }
            for (int r = 0; r < g->n_dec; r++) fail_slot(g, &g->seq[g->slot_of[r]]);
            g->n_dec = n_ride = 0; /* all finished; their rows are kept where they are */
        } else {
            for (int r = 0; r < g->n_dec; r++) g->seq[g->slot_of[r]].pend = -1;
            for (int r = g->n_dec; r < n; r++) g->seq[g->slot_of[r]].prompt_at++;
            g->counts.decoded += g->n_dec;
        }
    }
    /* 2. the riders decode from now on (each is at row n_dec in turn); then
     * prompts, oldest joiner first, `chunk` ids at most */
    for (int k = 0; k < n_ride; k++) start_decoding(g, g->slot_of[g->n_dec], &e); /* in place: cannot fail */
    size_t budget = (size_t)g->chunk;
    while (g->n_queue > 0) {
        int s = g->queue[0];
        seq *q = &g->seq[s];
        int r = g->row_of[s];
        size_t left = q->n_prompt - q->prompt_at;
        if (left > 0) {
            if (budget == 0) break;
            size_t k = left < budget ? left : budget;
            if (gf_prefill_extend(g->m, g->st, r, (int)k, q->prompt + q->prompt_at, k == left ? logits_row(g, r) : NULL,
                                  &e)) {
                if (!failed++) first = e;
                queue_remove(g, s);
                fail_slot(g, q);
                continue;
            }
            g->counts.prefills++;
            q->prompt_at += k;
            budget -= k;
            if (k < left) break;
        }
        if (start_decoding(g, s, &e)) { /* cannot be */
            if (!failed++) first = e;
            fail_slot(g, q);
        }
    }
    /* 3. every decoding slot samples */
    for (int r = 0; r < g->n_dec; r++) {
        seq *q = &g->seq[g->slot_of[r]];
        int32_t tok;
        if (gf_gen_next(g, q, r, &tok, &e) && !failed++) first = e;
        if (tok >= 0) q->ev |= GF_EV_TOKEN, q->ev_token = tok;
        if (q->n_out > 0) q->ev |= GF_EV_TOKEN;
        if (q->reason != GF_GEN_RUNNING) finish(g, q);
    }
    /* 4. the finished ones out of the decoding rows, keeping their state */
    for (int r = g->n_dec - 1; r >= 0; r--)
        if (g->seq[g->slot_of[r]].slot == GF_SLOT_FINISHED) {
            if (swap_rows(g, r, g->n_dec - 1, &e) && !failed++) first = e; /* cannot be */
            g->n_dec--;
        }
    /* 5. the events, by slot */
    for (int s = 0; s < g->B; s++) {
        seq *q = &g->seq[s];
        if (!q->ev) continue;
        gf_gen_event *v = &ev[(*n_ev)++];
        v->slot = s;
        v->token = q->ev_token;
        v->text = q->out;
        v->len = q->n_out;
        v->prompt_done = (q->ev & GF_EV_PROMPT) != 0;
        v->finished = (q->ev & GF_EV_FINISHED) != 0;
        v->reason = v->finished ? q->reason : GF_GEN_RUNNING;
    }
    if (failed) {
        if (err) *err = first;
        return -1;
    }
    return g->n_dec + g->n_queue;
}
