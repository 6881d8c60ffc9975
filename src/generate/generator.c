/* The generator (griffin.h, "generation"): the one prefill -> decode ->
 * sample loop that `griffin generate`, `griffin chat` and a server share.
 *
 * Per sequence it keeps a sampler, a ring of the last repeat_last_n ids of
 * the context (for the repeat penalty), the id it sampled and has yet to feed,
 * a detokenizer and the text held back for the stop strings. A step feeds the
 * ids the previous step kept (one gf_decode_step for the batch), then samples
 * each running sequence from its logits; feeding late means a sequence that
 * stops by max_tokens costs no decode step, and a snapshot taken between
 * steps needs no logits but those already computed.
 *
 * Everything a step touches is allocated by gf_generator_new: the state, the
 * logits [B, V], the sampler's scratch, the text buffers, sized for the
 * longest output one detokenizer push can give (its own buffer is grown to
 * that size at creation by pushing the worst case once).
 *
 * Parameters live in a gf_gen_pset each sequence points at: the
 * generator's, or (slots.c) a slot's own; a join grows the ring, text
 * buffers and penalty scratch to fit its parameters. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "griffin.h"
#include "generate/internal.h"
#include "generate/stop.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "util.h"

#define MAX_BATCH 65536
#define MAX_REPEAT_LAST_N (1 << 20)
#define MAX_STOP_LEN 4096

typedef gf_gen_seq seq;

void gf_gen_params_default(gf_gen_params *p) {
    memset(p, 0, sizeof *p);
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
    p->max_tokens = 64;
}

const char *gf_gen_stop_name(int reason) {
    static const char *const names[] = {"running", "idle", "stop id", "stop string",
                                        "max tokens", "context", "cancelled", "error"};
    return reason >= 0 && reason < (int)(sizeof names / sizeof *names) ? names[reason] : "?";
}

/* ---- text ------------------------------------------------------------------ */

static int is_byte_piece(const gf_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_pieces && t->type[id] == SPM_BYTE;
}

/* The piece whose text is longest (the unknown piece's surface counted), or
 * -1 when every piece is a control or byte piece. */
static int32_t longest_piece(const gf_tokenizer *t) {
    int32_t best = -1;
    size_t best_len = 0;
    for (int32_t id = 0; id < t->n_pieces; id++) {
        if (t->type[id] == SPM_CONTROL || t->type[id] == SPM_BYTE) continue;
        size_t l = t->type[id] == SPM_UNKNOWN ? strlen(t->unk_surface) : t->piece_len[id];
        if (best < 0 || l > best_len) best = id, best_len = l;
    }
    return best;
}

/* Grows a fresh stream's buffer to the longest output a push can give: three
 * pending bytes flushed as U+FFFD each, then the longest piece. The stream is
 * left as gf_detok_stream_new(at_start = 0) leaves it: nothing pending, past
 * the start of the text. */
static int prime_stream(const gf_tokenizer *t, int32_t longest, gf_detok_stream *ds, gf_error *err) {
    const char *s;
    size_t n;
    const int lead[3] = {0xF0, 0x90, 0x80};
    for (int i = 0; i < 3; i++) {
        int32_t id = t->byte_id[lead[i]];
        if (is_byte_piece(t, id) && gf_detok_stream_push(ds, id, &s, &n, err)) return -1;
    }
    if (longest >= 0 && gf_detok_stream_push(ds, longest, &s, &n, err)) return -1;
    gf_detok_stream_flush(ds, &s, &n);
    return 0;
}

/* The most bytes one push can give: up to 3 pending bytes as U+FFFD and a
 * piece (a byte piece: up to 4 bytes decided, as U+FFFD at worst). */
static size_t max_push_bytes(const gf_tokenizer *t) {
    size_t mx = strlen(t->unk_surface);
    for (int32_t id = 0; id < t->n_pieces; id++)
        if (t->piece_len[id] > mx) mx = t->piece_len[id];
    return (mx + 9 > 12 ? mx + 9 : 12);
}

static void emit(seq *q, const char *s, size_t n) {
    memcpy(q->out + q->n_out, s, n);
    q->n_out += n;
    q->out[q->n_out] = 0;
}

/* Adds text s[0..n) after what is held back, emits what no stop string can
 * claim; returns 1 when a stop string completed (the text before it emitted,
 * the rest dropped). */
static int add_text(seq *q, const char *s, size_t n) {
    memcpy(q->hold + q->n_hold, s, n);
    q->n_hold += n;
    size_t held = 0, at = q->n_hold;
    const gf_gen_pset *ps = q->ps;
    if (ps->p.n_stop_strings > 0)
        at = gf_stop_scan((const char *const *)ps->stop_str, ps->stop_len, ps->p.n_stop_strings, q->hold,
                          q->n_hold, &held);
    if (at < q->n_hold) {
        emit(q, q->hold, at);
        q->n_hold = 0;
        return 1;
    }
    emit(q, q->hold, q->n_hold - held);
    memmove(q->hold, q->hold + q->n_hold - held, held);
    q->n_hold = held;
    return 0;
}

/* Pushes an emitted id through the detokenizer; 1 when a stop string completed. */
static int text_push(gf_generator *g, seq *q, int32_t id, gf_error *err) {
    if (!g->tk) return 0;
    const char *s;
    size_t n;
    if (gf_detok_stream_push(q->ds, id, &s, &n, err)) return -1;
    if (is_byte_piece(g->tk, id)) {
        if (q->n_tail == 3) memmove(q->tail, q->tail + 1, 2 * sizeof *q->tail), q->n_tail--;
        q->tail[q->n_tail++] = id;
    } else {
        q->n_tail = 0;
    }
    return add_text(q, s, n);
}

/* The end of a sequence's text: incomplete UTF-8 flushed, held-back text
 * emitted (up to a stop string it completes). */
static void text_finish(gf_generator *g, seq *q) {
    if (!g->tk) return;
    const char *s;
    size_t n;
    gf_detok_stream_flush(q->ds, &s, &n);
    q->n_tail = 0;
    if (!add_text(q, s, n)) emit(q, q->hold, q->n_hold);
    q->n_hold = 0;
}

void gf_gen_text_restart(gf_generator *g, seq *q) {
    q->n_out = 0;
    q->n_hold = 0;
    q->n_tail = 0;
    if (q->out) q->out[0] = 0;
    if (g->tk) {
        const char *s;
        size_t n;
        gf_detok_stream_flush(q->ds, &s, &n);
    }
}

/* ---- context ---------------------------------------------------------------- */

/* Kept whenever repeat_last_n > 0, the penalty on or not, so that a
 * snapshot carries the ids a join_from with the penalty on looks at. */
void gf_gen_ring_add(seq *q, int32_t id) {
    int cap = q->ps->p.repeat_last_n;
    if (cap <= 0 || q->ring_cap < cap) return;
    if (q->ring_n < cap) {
        q->ring[q->ring_n++] = id;
    } else {
        q->ring[q->ring_pos] = id;
        q->ring_pos = (q->ring_pos + 1) % cap;
    }
}

/* Ids in sequence b's context: those its state holds, the one it has yet
 * to feed, and (a joining slot) the prompt ids still to prefill. */
static int64_t context_of(const gf_generator *g, int b) {
    const seq *q = &g->seq[b];
    int r = g->row_of[b];
    if (r < 0) return 0;
    int64_t c = gf_state_num_tokens(g->st, r) + (q->pend >= 0);
    if (q->slot == GF_SLOT_JOINING) c += (int64_t)(q->n_prompt - q->prompt_at);
    return c;
}

void gf_gen_stop_seq(gf_generator *g, seq *q, int reason) {
    q->reason = reason;
    text_finish(g, q);
}

/* ---- creation ------------------------------------------------------------------ */

int gf_gen_check_params(const gf_model *m, const gf_tokenizer *tk, const gf_gen_params *p, const char *what,
                        gf_error *err) {
    int V = gf_model_config(m)->vocab_size;
    if (isnan(p->temperature) || isinf(p->temperature))
        return gf_fail(err, "%s: temperature %g is not a finite number", what, (double)p->temperature);
    if (isnan(p->top_p)) return gf_fail(err, "%s: top_p is NaN", what);
    if (isnan(p->min_p) || p->min_p > 1.0f)
        return gf_fail(err, "%s: min_p %g is not a number in [0, 1]", what, (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return gf_fail(err, "%s: repeat_penalty %g is not a finite number > 0", what, (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > MAX_REPEAT_LAST_N)
        return gf_fail(err, "%s: repeat_last_n %d is outside 0 .. %d", what, p->repeat_last_n, MAX_REPEAT_LAST_N);
    if (p->n_stop_ids < 0 || (p->n_stop_ids > 0 && !p->stop_ids))
        return gf_fail(err, "%s: %d stop ids but no array of them", what, p->n_stop_ids);
    for (int i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] < 0 || p->stop_ids[i] >= V)
            return gf_fail(err, "%s: stop id %d is outside the vocabulary [0, %d)", what, (int)p->stop_ids[i], V);
    if (p->n_stop_strings < 0 || (p->n_stop_strings > 0 && !p->stop_strings))
        return gf_fail(err, "%s: %d stop strings but no array of them", what, p->n_stop_strings);
    if (p->n_stop_strings > 0 && !tk)
        return gf_fail(err, "%s: stop strings need a tokenizer to match the text against", what);
    for (int i = 0; i < p->n_stop_strings; i++) {
        const char *s = p->stop_strings[i];
        if (!s || !*s) return gf_fail(err, "%s: stop string %d is empty", what, i);
        if (strlen(s) > MAX_STOP_LEN)
            return gf_fail(err, "%s: stop string %d is longer than %d bytes", what, i, MAX_STOP_LEN);
    }
    return 0;
}

void gf_gen_pset_free(gf_gen_pset *ps) {
    if (ps->stop_str)
        for (int i = 0; i < ps->p.n_stop_strings; i++) free(ps->stop_str[i]);
    free(ps->stop_str);
    free(ps->stop_len);
    free(ps->stop_ids);
    memset(ps, 0, sizeof *ps);
}

int gf_gen_pset_init(gf_gen_pset *ps, const gf_gen_params *p, gf_error *err) {
    memset(ps, 0, sizeof *ps);
    ps->p = *p;
    ps->penalize = p->repeat_penalty != 1.0f && p->repeat_last_n > 0;
    int ns = p->n_stop_strings, ni = p->n_stop_ids;
    ps->stop_ids = calloc(ni > 0 ? (size_t)ni : 1, sizeof *ps->stop_ids);
    ps->stop_str = calloc(ns > 0 ? (size_t)ns : 1, sizeof *ps->stop_str);
    ps->stop_len = calloc(ns > 0 ? (size_t)ns : 1, sizeof *ps->stop_len);
    if (!ps->stop_ids || !ps->stop_str || !ps->stop_len) goto oom;
    if (ni > 0) memcpy(ps->stop_ids, p->stop_ids, (size_t)ni * sizeof *ps->stop_ids);
    for (int i = 0; i < ns; i++) {
        ps->stop_len[i] = strlen(p->stop_strings[i]);
        if (!(ps->stop_str[i] = malloc(ps->stop_len[i] + 1))) goto oom;
        memcpy(ps->stop_str[i], p->stop_strings[i], ps->stop_len[i] + 1);
        if (ps->stop_len[i] > ps->max_stop) ps->max_stop = ps->stop_len[i];
    }
    ps->p.stop_ids = ps->stop_ids;
    ps->p.stop_strings = (const char *const *)ps->stop_str;
    return 0;
oom:
    gf_gen_pset_free(ps);
    return gf_fail(err, "generator: out of memory for the parameters");
}

size_t gf_gen_text_cap(const gf_generator *g, const gf_gen_pset *ps) {
    /* held back: < max_stop bytes; then one push, then a flush (<= 12) */
    return g->tk ? ps->max_stop + g->push_bytes + 12 + 1 : 1;
}

int gf_gen_fit(gf_generator *g, seq *q, const gf_gen_pset *ps, gf_error *err) {
    int n = ps->p.repeat_last_n;
    if (n > q->ring_cap) {
        int32_t *r = realloc(q->ring, (size_t)n * sizeof *r);
        if (!r) return gf_fail(err, "generator: out of memory for %d ids of context", n);
        q->ring = r;
        q->ring_cap = n;
    }
    if (ps->penalize && (size_t)n > g->sorted_cap) {
        int32_t *s = realloc(g->sorted, (size_t)n * sizeof *s);
        if (!s) return gf_fail(err, "generator: out of memory for %d ids of context", n);
        g->sorted = s;
        g->sorted_cap = (size_t)n;
    }
    size_t cap = gf_gen_text_cap(g, ps);
    if (cap > q->text_cap) {
        char *h = realloc(q->hold, cap);
        if (!h) return gf_fail(err, "generator: out of memory for text");
        q->hold = h;
        char *o = realloc(q->out, cap);
        if (!o) return gf_fail(err, "generator: out of memory for text");
        q->out = o;
        if (q->text_cap == 0) o[0] = 0;
        q->text_cap = cap;
    }
    return 0;
}

gf_generator *gf_generator_new(const gf_model *m, const gf_tokenizer *tk, int batch,
                               const gf_gen_params *params, gf_error *err) {
    if (!m || !params) {
        gf_fail(err, "generator: no model or no params");
        return NULL;
    }
    if (batch <= 0 || batch > MAX_BATCH) {
        gf_fail(err, "generator: batch %d is outside 1 .. %d", batch, MAX_BATCH);
        return NULL;
    }
    if (gf_gen_check_params(m, tk, params, "generator", err)) return NULL;
    gf_generator *g = calloc(1, sizeof *g);
    if (!g) {
        gf_fail(err, "generator: out of memory");
        return NULL;
    }
    g->m = m;
    g->tk = tk;
    g->B = batch;
    g->V = gf_model_config(m)->vocab_size;
    g->V_sample = tk && gf_tokenizer_vocab_size(tk) < g->V ? gf_tokenizer_vocab_size(tk) : g->V;
    g->push_bytes = tk ? max_push_bytes(tk) : 0;
    g->chunk = 256;
    size_t V = (size_t)g->V, B = (size_t)batch;
    if (gf_gen_pset_init(&g->ps, params, err)) {
        free(g);
        return NULL;
    }
    g->logits = malloc(B * V * sizeof *g->logits);
    g->work = malloc(V * sizeof *g->work);
    g->probs = malloc(V * sizeof *g->probs);
    g->idx = malloc(V * sizeof *g->idx);
    g->toks = malloc(B * sizeof *g->toks);
    g->seq = calloc(B, sizeof *g->seq);
    g->row_of = malloc(B * sizeof *g->row_of);
    g->slot_of = malloc(B * sizeof *g->slot_of);
    g->queue = malloc(B * sizeof *g->queue);
    if (!g->logits || !g->work || !g->probs || !g->idx || !g->toks || !g->seq || !g->row_of || !g->slot_of ||
        !g->queue) {
        gf_fail(err, "generator: out of memory for a batch of %d over %d ids", batch, g->V);
        goto fail;
    }
    if (!(g->st = gf_state_new(m, batch, err))) goto fail;
    if (batch > 1 && !(g->one = gf_state_new(m, 1, err))) goto fail;
    gf_threads_init(&g->threads, (int)g->st->acts.score_slots, 0);
    g->st->tune = &g->threads;
    if (g->one) g->one->tune = &g->threads;
    int32_t longest = tk ? longest_piece(tk) : -1;
    for (int b = 0; b < batch; b++) {
        seq *q = &g->seq[b];
        g->row_of[b] = g->slot_of[b] = b;
        q->ps = &g->ps;
        gf_sampler_init(&q->smp, params->temperature, params->top_k, params->top_p,
                        params->seed + 0x9e3779b97f4a7c15ull * (uint64_t)b);
        q->smp.min_p = params->min_p;
        q->pend = -1;
        q->valid = 1;
        q->reason = GF_GEN_IDLE;
        if (gf_gen_fit(g, q, &g->ps, err)) goto fail;
        if (tk) {
            if (!(q->ds = gf_detok_stream_new(tk, 0, err)) || prime_stream(tk, longest, q->ds, err)) goto fail;
        }
    }
    return g;
fail:
    gf_generator_free(g);
    return NULL;
}

void gf_generator_free(gf_generator *g) {
    if (!g) return;
    if (g->seq)
        for (int b = 0; b < g->B; b++) {
            seq *q = &g->seq[b];
            free(q->ring);
            free(q->hold);
            free(q->out);
            free(q->prompt);
            if (q->own) gf_gen_pset_free(q->own);
            free(q->own);
            gf_detok_stream_free(q->ds);
        }
    gf_gen_pset_free(&g->ps);
    free(g->seq);
    free(g->logits);
    free(g->work);
    free(g->probs);
    free(g->idx);
    free(g->sorted);
    free(g->toks);
    free(g->row_of);
    free(g->slot_of);
    free(g->queue);
    gf_state_free(g->st);
    gf_state_free(g->one);
    free(g);
}

int gf_generator_batch(const gf_generator *g) { return g->B; }

/* ---- feeding ------------------------------------------------------------------- */

static int slot_mode_error(gf_error *err, const char *what) {
    return gf_fail(err, "generator: %s: the generator runs slots (gf_generator_join); gf_generator_reset it first", what);
}

/* Feeds the ids the last step kept: in one batch step when every sequence
 * has one; else one by one through the batch-1 state, so those without are
 * left as they are. */
static int flush_pending(gf_generator *g, gf_error *err) {
    int with = 0, without = 0;
    for (int b = 0; b < g->B; b++) {
        if (g->seq[b].pend >= 0) with++;
        else without++;
    }
    if (with == 0) return 0;
    size_t V = (size_t)g->V;
    if (without == 0) {
        for (int b = 0; b < g->B; b++) g->toks[b] = g->seq[b].pend;
        if (gf_decode_step(g->m, g->st, g->toks, NULL, g->logits, err)) return -1;
    } else {
        for (int b = 0; b < g->B; b++) {
            seq *q = &g->seq[b];
            if (q->pend < 0) continue;
            if (gf_state_copy(g->one, 0, g->st, b, err) ||
                gf_decode_step(g->m, g->one, &q->pend, NULL, g->logits + (size_t)b * V, err) ||
                gf_state_copy(g->st, b, g->one, 0, err))
                return -1;
        }
    }
    for (int b = 0; b < g->B; b++)
        if (g->seq[b].pend >= 0) {
            g->seq[b].pend = -1;
            g->counts.decoded++;
        }
    return 0;
}

/* After a decode step failed part way: no state can be trusted. */
static int spoil(gf_generator *g) {
    for (int b = 0; b < g->B; b++) g->seq[b].valid = 0;
    return -1;
}

int gf_generator_feed(gf_generator *g, const int32_t *ids, size_t n, gf_error *err) {
    if (g->slots) return slot_mode_error(err, "feed");
    if (n == 0 || !ids) return gf_fail(err, "generator: nothing to feed");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= g->V)
            return gf_fail(err, "generator: id %d (at %zu) is outside the vocabulary [0, %d)", (int)ids[i], i, g->V);
    int empty = 1;
    for (int b = 0; b < g->B; b++) {
        if (!g->seq[b].valid)
            return gf_fail(err, "generator: sequence %d was stepped after it stopped, so its state no longer "
                                "holds its context; reset or restore it first", b);
        int64_t c = context_of(g, b);
        if (n > (size_t)INT32_MAX || c + (int64_t)n > (int64_t)INT32_MAX)
            return gf_fail(err, "generator: sequence %d would hold more than %d ids", b, INT32_MAX);
        if (c > 0) empty = 0;
    }
    if (flush_pending(g, err)) return spoil(g);
    size_t i = 0;
    if (empty && n > 1) {
        gf_state *pre = g->B > 1 ? g->one : g->st;
        if (gf_prefill(g->m, 1, (int)(n - 1), ids, NULL, NULL, NULL, pre, err)) return spoil(g);
        g->counts.prefills++;
        if (pre != g->st)
            for (int b = 0; b < g->B; b++)
                if (gf_state_copy(g->st, b, pre, 0, err)) return spoil(g);
        i = n - 1;
    } else if (n > 1) {
        /* a chat's next turn: each sequence extended by all the ids at once */
        for (int b = 0; b < g->B; b++) {
            if (gf_prefill_extend(g->m, g->st, b, (int)n, ids, g->logits + (size_t)b * (size_t)g->V, err))
                return spoil(g);
            g->counts.prefills++;
        }
        i = n;
    }
    for (; i < n; i++) {
        for (int b = 0; b < g->B; b++) g->toks[b] = ids[i];
        if (gf_decode_step(g->m, g->st, g->toks, NULL, g->logits, err)) return spoil(g);
    }
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        int cap = q->ps->p.repeat_last_n;
        for (size_t k = n > (size_t)cap ? n - (size_t)cap : 0; k < n; k++) gf_gen_ring_add(q, ids[k]);
        q->reason = GF_GEN_RUNNING;
        q->generated = 0;
        q->last = ids[n - 1];
        gf_gen_text_restart(g, q);
    }
    g->counts.fed += (int64_t)n;
    return 0;
}

/* ---- stepping ------------------------------------------------------------------ */

static int32_t sample_seq(gf_generator *g, seq *q, const float *logits) {
    const float *l = logits;
    const gf_gen_pset *ps = q->ps;
    if (ps->penalize && q->ring_n > 0) {
        memcpy(g->work, logits, (size_t)g->V_sample * sizeof *g->work);
        gf_repeat_penalty(g->work, g->V_sample, q->ring, q->ring_n, ps->p.repeat_penalty, g->sorted);
        l = g->work;
    }
    return (int32_t)gf_sample(&q->smp, l, g->V_sample, g->probs, g->idx);
}

/* The first of n logits that is NaN or infinite, or n. A damaged model
 * (weights past what the load check sees: finite but so large that a
 * product overflows; or ones changed in memory) gives such logits, and a
 * sampler would draw from them whatever its comparisons made of the NaNs.
 * The magnitudes' bits, max-reduced in a loop that vectorises: a pass over
 * V floats per token, next to the V x D product that made them. */
static int first_nonfinite_logit(const float *l, int n) {
    const uint32_t inf = 0x7f800000u;
    uint32_t mx = 0;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &l[i], 4);
        u &= 0x7fffffffu;
        mx = u > mx ? u : mx;
    }
    if (mx < inf) return n;
    for (int i = 0; i < n; i++)
        if (!isfinite(l[i])) return i;
    return n;
}

static int is_stop_id(const gf_gen_pset *ps, int32_t id) {
    for (int i = 0; i < ps->p.n_stop_ids; i++)
        if (ps->stop_ids[i] == id) return 1;
    return 0;
}

int gf_gen_next(gf_generator *g, seq *q, int row, int32_t *tok, gf_error *err) {
    const gf_gen_pset *ps = q->ps;
    *tok = -1;
    if (ps->p.max_tokens >= 0 && q->generated >= ps->p.max_tokens) {
        gf_gen_stop_seq(g, q, GF_GEN_MAX_TOKENS);
        return 0;
    }
    if (gf_state_num_tokens(g->st, row) >= INT32_MAX) {
        gf_gen_stop_seq(g, q, GF_GEN_CONTEXT);
        return 0;
    }
    const float *logits = g->logits + (size_t)row * (size_t)g->V;
    int bad = first_nonfinite_logit(logits, g->V_sample);
    if (bad < g->V_sample) {
        /* never sampled: the sequence ends with an error naming the step */
        gf_fail(err, "decode step %lld: non-finite logits (%s for token id %d); the model's weights are damaged",
                (long long)q->generated + 1, isnan(logits[bad]) ? "NaN" : logits[bad] > 0 ? "+Inf" : "-Inf", bad);
        q->valid = 0;
        gf_gen_stop_seq(g, q, GF_GEN_ERROR);
        return -1;
    }
    int32_t next = sample_seq(g, q, logits);
    q->last = next;
    if (is_stop_id(ps, next)) {
        gf_gen_stop_seq(g, q, GF_GEN_STOP_ID);
        return 0;
    }
    *tok = next;
    q->pend = next;
    q->generated++;
    g->counts.generated++;
    gf_gen_ring_add(q, next);
    int hit = text_push(g, q, next, err);
    if (hit < 0) { /* out of memory in the detokenizer: cannot happen once primed */
        gf_gen_stop_seq(g, q, GF_GEN_ERROR);
        return -1;
    }
    if (hit) q->reason = GF_GEN_STOP_STRING, q->n_hold = 0, q->n_tail = 0;
    else if (ps->p.max_tokens >= 0 && q->generated >= ps->p.max_tokens) gf_gen_stop_seq(g, q, GF_GEN_MAX_TOKENS);
    return 0;
}

int gf_generator_step(gf_generator *g, int32_t *tokens, gf_error *err) {
    if (g->slots) {
        for (int b = 0; b < g->B; b++) tokens[b] = -1;
        return slot_mode_error(err, "step");
    }
    int running = 0, pending = 0, ready = 0;
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        q->n_out = 0;
        q->out[0] = 0;
        tokens[b] = -1;
        running += q->reason == GF_GEN_RUNNING;
        pending += q->pend >= 0;
        ready += q->reason == GF_GEN_RUNNING && q->pend < 0; /* its logits are ready (restored) */
    }
    if (running == 0) return 0;
    int rc = 0;
    if (pending > 0 && ready > 0) {
        /* one by one, leaving the ready ones as they are (rare: a restore) */
        rc = flush_pending(g, err);
    } else if (pending > 0) {
        /* the kept ids in, in one step; a sequence without one (not running)
         * is fed its last id again and no longer matches its state */
        for (int b = 0; b < g->B; b++) g->toks[b] = g->seq[b].pend >= 0 ? g->seq[b].pend : g->seq[b].last;
        rc = gf_decode_step(g->m, g->st, g->toks, NULL, g->logits, err);
        for (int b = 0; b < g->B && !rc; b++) {
            seq *q = &g->seq[b];
            if (q->pend >= 0) {
                q->pend = -1;
                g->counts.decoded++;
            } else {
                q->valid = 0;
            }
        }
    }
    if (rc) {
        for (int b = 0; b < g->B; b++)
            if (g->seq[b].reason == GF_GEN_RUNNING) gf_gen_stop_seq(g, &g->seq[b], GF_GEN_ERROR);
        return spoil(g);
    }
    running = 0;
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        if (q->reason != GF_GEN_RUNNING) continue;
        if (gf_gen_next(g, q, b, &tokens[b], err)) {
            /* as for a failed decode step: every running sequence stops */
            for (int c = 0; c < g->B; c++)
                if (g->seq[c].reason == GF_GEN_RUNNING) gf_gen_stop_seq(g, &g->seq[c], GF_GEN_ERROR);
            return -1;
        }
        running += q->reason == GF_GEN_RUNNING;
    }
    return running;
}

const char *gf_generator_text(const gf_generator *g, int b, size_t *len) {
    if (b < 0 || b >= g->B) {
        *len = 0;
        return "";
    }
    *len = g->seq[b].n_out;
    return g->seq[b].out;
}

int gf_generator_stop_reason(const gf_generator *g, int b) {
    return b >= 0 && b < g->B ? g->seq[b].reason : -1;
}

int gf_generator_cancel(gf_generator *g, int b) {
    if (b < 0 || b >= g->B || g->slots) return -1;
    seq *q = &g->seq[b];
    if (q->reason != GF_GEN_RUNNING) return 0;
    q->n_out = 0;
    q->out[0] = 0;
    gf_gen_stop_seq(g, q, GF_GEN_CANCELLED);
    return 0;
}

void gf_generator_reset(gf_generator *g) {
    gf_state_reset(g->st);
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        if (g->slots) { /* back to batch mode: the generator's parameters and samplers */
            q->smp = q->batch_smp;
            q->ps = &g->ps;
            q->slot = GF_SLOT_FREE;
            q->n_prompt = q->prompt_at = 0;
            q->ev = 0;
        }
        g->row_of[b] = g->slot_of[b] = b;
        q->ring_n = q->ring_pos = 0;
        q->pend = -1;
        q->last = 0;
        q->valid = 1;
        q->reason = GF_GEN_IDLE;
        q->generated = 0;
        gf_gen_text_restart(g, q);
    }
    g->slots = 0;
    g->n_dec = 0;
    g->n_queue = 0;
}

int64_t gf_generator_context(const gf_generator *g, int b) {
    return b >= 0 && b < g->B ? context_of(g, b) : -1;
}

int64_t gf_generator_generated(const gf_generator *g, int b) {
    return b >= 0 && b < g->B ? g->seq[b].generated : -1;
}

void gf_generator_counts(const gf_generator *g, gf_gen_counts *out) { *out = g->counts; }

int gf_generator_set_threads(gf_generator *g, int n, gf_error *err) {
    if (n < 0 || n > 4096) return gf_fail(err, "generator: %d threads is outside 0 .. 4096", n);
    /* the measuring sizes stay those of gf_generator_new's team, which the
     * attention's scratch was sized for */
    int max = g->st->acts.score_slots > 0 ? (int)g->st->acts.score_slots : 1;
    gf_threads_init(&g->threads, max, n);
    return 0;
}

int gf_generator_threads(const gf_generator *g) {
    return gf_threads_current(&g->threads, GF_TUNE_KEY(GF_TUNE_RECURRENT, 1));
}

/* ---- snapshots ------------------------------------------------------------------ */

gf_gen_snapshot *gf_generator_save(const gf_generator *g, int b, gf_error *err) {
    if (b < 0 || b >= g->B) {
        gf_fail(err, "generator: save: sequence %d outside the batch of %d", b, g->B);
        return NULL;
    }
    const seq *q = &g->seq[b];
    int row = g->row_of[b];
    if (g->slots && (q->slot == GF_SLOT_FREE || row < 0)) {
        gf_fail(err, "generator: save: slot %d holds no sequence", b);
        return NULL;
    }
    if (g->slots && q->slot == GF_SLOT_JOINING) {
        gf_fail(err, "generator: save: slot %d is still prefilling its prompt", b);
        return NULL;
    }
    if (!q->valid) {
        gf_fail(err, "generator: save: sequence %d was stepped after it stopped, so its state no longer "
                     "holds its context", b);
        return NULL;
    }
    gf_gen_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        gf_fail(err, "generator: save: out of memory");
        return NULL;
    }
    s->m = g->m;
    s->V = g->V;
    s->s = *q;
    s->s.ps = NULL;
    s->s.own = NULL;
    s->s.ds = NULL;
    s->s.out = NULL;
    s->s.ring = NULL;
    s->s.hold = NULL;
    s->s.prompt = NULL;
    s->logits = malloc((size_t)g->V * sizeof *s->logits);
    s->s.hold = malloc(q->n_hold + 1);
    if (q->ring_n > 0) s->s.ring = malloc((size_t)q->ring_n * sizeof *s->s.ring);
    if (!s->logits || !s->s.hold || (q->ring_n > 0 && !s->s.ring)) {
        gf_fail(err, "generator: save: out of memory");
        gf_gen_snapshot_free(s);
        return NULL;
    }
    if (!(s->st = gf_state_new(g->m, 1, err)) || gf_state_copy(s->st, 0, g->st, row, err)) {
        gf_gen_snapshot_free(s);
        return NULL;
    }
    memcpy(s->logits, g->logits + (size_t)row * (size_t)g->V, (size_t)g->V * sizeof *s->logits);
    memcpy(s->s.hold, q->hold, q->n_hold);
    /* the ring, oldest first */
    int cap = q->ps->p.repeat_last_n;
    for (int i = 0; i < q->ring_n; i++)
        s->s.ring[i] = q->ring_n < cap ? q->ring[i] : q->ring[(q->ring_pos + i) % cap];
    s->s.ring_pos = 0;
    s->s.ring_cap = q->ring_n;
    return s;
}

int gf_generator_restore(gf_generator *g, int b, const gf_gen_snapshot *s, gf_error *err) {
    if (g->slots) return slot_mode_error(err, "restore (gf_generator_join_from starts a slot from a snapshot)");
    if (b < 0 || b >= g->B) return gf_fail(err, "generator: restore: sequence %d outside the batch of %d", b, g->B);
    if (s->m != g->m || s->V != g->V)
        return gf_fail(err, "generator: restore: the snapshot was taken with another model");
    size_t hold_cap = g->tk ? (g->ps.max_stop > 0 ? g->ps.max_stop - 1 : 0) : 0;
    if (s->s.n_hold > hold_cap)
        return gf_fail(err, "generator: restore: the snapshot holds back %zu bytes of text, more than this "
                            "generator's stop strings allow (%zu)", s->s.n_hold, hold_cap);
    if (s->s.n_tail > 0 && !g->tk)
        return gf_fail(err, "generator: restore: the snapshot has text pending and this generator no tokenizer");
    if (gf_state_copy(g->st, b, s->st, 0, err)) return -1;
    seq *q = &g->seq[b];
    memcpy(g->logits + (size_t)b * (size_t)g->V, s->logits, (size_t)g->V * sizeof *s->logits);
    q->smp = s->s.smp;
    q->pend = s->s.pend;
    q->last = s->s.last;
    q->valid = 1;
    q->reason = s->s.reason;
    q->generated = s->s.generated;
    q->ring_n = q->ring_pos = 0;
    for (int i = 0; i < s->s.ring_n; i++) gf_gen_ring_add(q, s->s.ring[i]);
    gf_gen_text_restart(g, q);
    memcpy(q->hold, s->s.hold, s->s.n_hold);
    q->n_hold = s->s.n_hold;
    /* the detokenizer's pending bytes: they are a suffix of the last (at most
     * 3) byte pieces pushed, and pushing those again into an empty stream
     * leaves exactly them pending (what it writes was written before) */
    for (int i = 0; i < s->s.n_tail; i++) {
        const char *t;
        size_t n;
        if (gf_detok_stream_push(q->ds, s->s.tail[i], &t, &n, err)) return -1;
        q->tail[i] = s->s.tail[i];
    }
    q->n_tail = s->s.n_tail;
    return 0;
}

void gf_gen_snapshot_free(gf_gen_snapshot *s) {
    if (!s) return;
    gf_state_free(s->st);
    free(s->logits);
    free(s->s.ring);
    free(s->s.hold);
    free(s);
}

size_t gf_gen_snapshot_bytes(const gf_gen_snapshot *s) {
    return sizeof *s + gf_state_bytes_per_seq(gf_model_config(s->m)) + (size_t)s->V * sizeof *s->logits +
           (size_t)s->s.ring_n * sizeof *s->s.ring + s->s.n_hold + 1;
}

size_t gf_gen_snapshot_context(const gf_gen_snapshot *s) {
    return (size_t)gf_state_num_tokens(s->st, 0) + (s->s.pend >= 0);
}
