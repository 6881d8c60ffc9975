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
 * that size at creation by pushing the worst case once). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "griffin.h"
#include "generate/stop.h"
#include "tokenizer/tokenizer.h"
#include "util.h"

#define MAX_BATCH 65536
#define MAX_REPEAT_LAST_N (1 << 20)
#define MAX_STOP_LEN 4096

typedef struct {
    gf_sampler smp;
    int32_t *ring;        /* [ring_cap]: the last ids of the context, oldest at ring_pos once full */
    int ring_n, ring_pos;
    int32_t pend;         /* sampled, emitted, not yet fed (-1: none) */
    int32_t last;         /* what the decode steps feed it while it is not running */
    int valid;            /* the state holds exactly its context (but pend) */
    int reason;           /* gf_gen_stop */
    int64_t generated;    /* emitted since the last feed */
    int32_t tail[3];      /* the last byte pieces pushed to the detokenizer, oldest first */
    int n_tail;
    gf_detok_stream *ds;
    char *hold, *out;     /* [text_cap] each */
    size_t n_hold, n_out;
} seq;

struct gf_generator {
    const gf_model *m;
    const gf_tokenizer *tk;
    int B, V, V_sample;
    gf_gen_params p;      /* stop arrays point at the copies below */
    int32_t *stop_ids;
    char **stop_str;
    size_t *stop_len, max_stop;
    size_t text_cap;      /* bytes of hold and out */
    int penalize;
    gf_state *st, *one;   /* one: batch 1, for a shared prefill (B > 1) and single-row steps */
    float *logits;        /* [B, V] */
    float *work, *probs;  /* [V]: penalised logits, sampler scratch */
    int *idx;             /* [V] */
    int32_t *sorted;      /* [repeat_last_n] */
    int32_t *toks;        /* [B] */
    seq *seq;
    gf_gen_counts counts;
};

struct gf_gen_snapshot {
    const gf_model *m;
    int V;
    gf_state *st;         /* batch 1 */
    float *logits;        /* [V] */
    seq s;                /* ring (oldest first), hold: owned by the snapshot; ds, out unused */
};

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
static int add_text(gf_generator *g, seq *q, const char *s, size_t n) {
    memcpy(q->hold + q->n_hold, s, n);
    q->n_hold += n;
    size_t held = 0, at = q->n_hold;
    if (g->p.n_stop_strings > 0)
        at = gf_stop_scan((const char *const *)g->stop_str, g->stop_len, g->p.n_stop_strings, q->hold,
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
    return add_text(g, q, s, n);
}

/* The end of a sequence's text: incomplete UTF-8 flushed, held-back text
 * emitted (up to a stop string it completes). */
static void text_finish(gf_generator *g, seq *q) {
    if (!g->tk) return;
    const char *s;
    size_t n;
    gf_detok_stream_flush(q->ds, &s, &n);
    q->n_tail = 0;
    if (!add_text(g, q, s, n)) emit(q, q->hold, q->n_hold);
    q->n_hold = 0;
}

/* A new text: whatever the detokenizer held is dropped. */
static void text_restart(gf_generator *g, seq *q) {
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

static void ring_add(gf_generator *g, seq *q, int32_t id) {
    int cap = g->p.repeat_last_n;
    if (!g->penalize) return;
    if (q->ring_n < cap) {
        q->ring[q->ring_n++] = id;
    } else {
        q->ring[q->ring_pos] = id;
        q->ring_pos = (q->ring_pos + 1) % cap;
    }
}

static int64_t context_of(const gf_generator *g, int b) {
    return gf_state_num_tokens(g->st, b) + (g->seq[b].pend >= 0);
}

static void stop_seq(gf_generator *g, seq *q, int reason) {
    q->reason = reason;
    text_finish(g, q);
}

/* ---- creation ------------------------------------------------------------------ */

static int check_params(const gf_model *m, const gf_tokenizer *tk, int batch, const gf_gen_params *p,
                        gf_error *err) {
    int V = gf_model_config(m)->vocab_size;
    if (batch <= 0 || batch > MAX_BATCH)
        return gf_fail(err, "generator: batch %d is outside 1 .. %d", batch, MAX_BATCH);
    if (isnan(p->temperature) || isinf(p->temperature))
        return gf_fail(err, "generator: temperature %g is not a finite number", (double)p->temperature);
    if (isnan(p->top_p)) return gf_fail(err, "generator: top_p is NaN");
    if (isnan(p->min_p) || p->min_p > 1.0f)
        return gf_fail(err, "generator: min_p %g is not a number in [0, 1]", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return gf_fail(err, "generator: repeat_penalty %g is not a finite number > 0", (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > MAX_REPEAT_LAST_N)
        return gf_fail(err, "generator: repeat_last_n %d is outside 0 .. %d", p->repeat_last_n, MAX_REPEAT_LAST_N);
    if (p->n_stop_ids < 0 || (p->n_stop_ids > 0 && !p->stop_ids))
        return gf_fail(err, "generator: %d stop ids but no array of them", p->n_stop_ids);
    for (int i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] < 0 || p->stop_ids[i] >= V)
            return gf_fail(err, "generator: stop id %d is outside the vocabulary [0, %d)", (int)p->stop_ids[i], V);
    if (p->n_stop_strings < 0 || (p->n_stop_strings > 0 && !p->stop_strings))
        return gf_fail(err, "generator: %d stop strings but no array of them", p->n_stop_strings);
    if (p->n_stop_strings > 0 && !tk)
        return gf_fail(err, "generator: stop strings need a tokenizer to match the text against");
    for (int i = 0; i < p->n_stop_strings; i++) {
        const char *s = p->stop_strings[i];
        if (!s || !*s) return gf_fail(err, "generator: stop string %d is empty", i);
        if (strlen(s) > MAX_STOP_LEN)
            return gf_fail(err, "generator: stop string %d is longer than %d bytes", i, MAX_STOP_LEN);
    }
    return 0;
}

gf_generator *gf_generator_new(const gf_model *m, const gf_tokenizer *tk, int batch,
                               const gf_gen_params *params, gf_error *err) {
    if (!m || !params) {
        gf_fail(err, "generator: no model or no params");
        return NULL;
    }
    if (check_params(m, tk, batch, params, err)) return NULL;
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
    g->p = *params;
    g->penalize = params->repeat_penalty != 1.0f && params->repeat_last_n > 0;
    size_t V = (size_t)g->V, B = (size_t)batch;
    int ns = params->n_stop_strings, ni = params->n_stop_ids;
    g->stop_ids = calloc(ni > 0 ? (size_t)ni : 1, sizeof *g->stop_ids);
    g->stop_str = calloc(ns > 0 ? (size_t)ns : 1, sizeof *g->stop_str);
    g->stop_len = calloc(ns > 0 ? (size_t)ns : 1, sizeof *g->stop_len);
    g->logits = malloc(B * V * sizeof *g->logits);
    g->work = malloc(V * sizeof *g->work);
    g->probs = malloc(V * sizeof *g->probs);
    g->idx = malloc(V * sizeof *g->idx);
    g->sorted = malloc((g->penalize ? (size_t)params->repeat_last_n : 1) * sizeof *g->sorted);
    g->toks = malloc(B * sizeof *g->toks);
    g->seq = calloc(B, sizeof *g->seq);
    if (!g->stop_ids || !g->stop_str || !g->stop_len || !g->logits || !g->work || !g->probs || !g->idx ||
        !g->sorted || !g->toks || !g->seq) {
        gf_fail(err, "generator: out of memory for a batch of %d over %d ids", batch, g->V);
        goto fail;
    }
    if (ni > 0) memcpy(g->stop_ids, params->stop_ids, (size_t)ni * sizeof *g->stop_ids);
    g->p.stop_ids = g->stop_ids;
    for (int i = 0; i < ns; i++) {
        g->stop_len[i] = strlen(params->stop_strings[i]);
        if (!(g->stop_str[i] = malloc(g->stop_len[i] + 1))) {
            gf_fail(err, "generator: out of memory");
            goto fail;
        }
        memcpy(g->stop_str[i], params->stop_strings[i], g->stop_len[i] + 1);
        if (g->stop_len[i] > g->max_stop) g->max_stop = g->stop_len[i];
    }
    g->p.stop_strings = (const char *const *)g->stop_str;
    /* held back: < max_stop bytes; then one push, then a flush (<= 12) */
    g->text_cap = tk ? g->max_stop + max_push_bytes(tk) + 12 + 1 : 1;
    if (!(g->st = gf_state_new(m, batch, err))) goto fail;
    if (batch > 1 && !(g->one = gf_state_new(m, 1, err))) goto fail;
    int32_t longest = tk ? longest_piece(tk) : -1;
    for (int b = 0; b < batch; b++) {
        seq *q = &g->seq[b];
        gf_sampler_init(&q->smp, params->temperature, params->top_k, params->top_p,
                        params->seed + 0x9e3779b97f4a7c15ull * (uint64_t)b);
        q->smp.min_p = params->min_p;
        q->pend = -1;
        q->valid = 1;
        q->reason = GF_GEN_IDLE;
        q->hold = malloc(g->text_cap);
        q->out = malloc(g->text_cap);
        q->ring = g->penalize ? malloc((size_t)params->repeat_last_n * sizeof *q->ring) : NULL;
        if (!q->hold || !q->out || (g->penalize && !q->ring)) {
            gf_fail(err, "generator: out of memory");
            goto fail;
        }
        q->out[0] = 0;
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
            free(g->seq[b].ring);
            free(g->seq[b].hold);
            free(g->seq[b].out);
            gf_detok_stream_free(g->seq[b].ds);
        }
    if (g->stop_str)
        for (int i = 0; i < g->p.n_stop_strings; i++) free(g->stop_str[i]);
    free(g->stop_str);
    free(g->stop_len);
    free(g->stop_ids);
    free(g->seq);
    free(g->logits);
    free(g->work);
    free(g->probs);
    free(g->idx);
    free(g->sorted);
    free(g->toks);
    gf_state_free(g->st);
    gf_state_free(g->one);
    free(g);
}

int gf_generator_batch(const gf_generator *g) { return g->B; }

/* ---- feeding ------------------------------------------------------------------- */

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
        if (pre != g->st)
            for (int b = 0; b < g->B; b++)
                if (gf_state_copy(g->st, b, pre, 0, err)) return spoil(g);
        i = n - 1;
    }
    for (; i < n; i++) {
        for (int b = 0; b < g->B; b++) g->toks[b] = ids[i];
        if (gf_decode_step(g->m, g->st, g->toks, NULL, g->logits, err)) return spoil(g);
    }
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        for (size_t k = n > (size_t)g->p.repeat_last_n ? n - (size_t)g->p.repeat_last_n : 0; k < n; k++)
            ring_add(g, q, ids[k]);
        q->reason = GF_GEN_RUNNING;
        q->generated = 0;
        q->last = ids[n - 1];
        text_restart(g, q);
    }
    g->counts.fed += (int64_t)n;
    return 0;
}

/* ---- stepping ------------------------------------------------------------------ */

static int32_t sample_seq(gf_generator *g, seq *q, const float *logits) {
    const float *l = logits;
    if (g->penalize && q->ring_n > 0) {
        memcpy(g->work, logits, (size_t)g->V_sample * sizeof *g->work);
        gf_repeat_penalty(g->work, g->V_sample, q->ring, q->ring_n, g->p.repeat_penalty, g->sorted);
        l = g->work;
    }
    return (int32_t)gf_sample(&q->smp, l, g->V_sample, g->probs, g->idx);
}

static int is_stop_id(const gf_generator *g, int32_t id) {
    for (int i = 0; i < g->p.n_stop_ids; i++)
        if (g->stop_ids[i] == id) return 1;
    return 0;
}

int gf_generator_step(gf_generator *g, int32_t *tokens, gf_error *err) {
    int running = 0, pending = 0, ready = 0;
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        q->n_out = 0;
        if (q->out) q->out[0] = 0;
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
            if (g->seq[b].reason == GF_GEN_RUNNING) stop_seq(g, &g->seq[b], GF_GEN_ERROR);
        return spoil(g);
    }
    running = 0;
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        if (q->reason != GF_GEN_RUNNING) continue;
        if (g->p.max_tokens >= 0 && q->generated >= g->p.max_tokens) {
            stop_seq(g, q, GF_GEN_MAX_TOKENS);
            continue;
        }
        if (gf_state_num_tokens(g->st, b) >= INT32_MAX) {
            stop_seq(g, q, GF_GEN_CONTEXT);
            continue;
        }
        int32_t next = sample_seq(g, q, g->logits + (size_t)b * (size_t)g->V);
        q->last = next;
        if (is_stop_id(g, next)) {
            stop_seq(g, q, GF_GEN_STOP_ID);
            continue;
        }
        tokens[b] = next;
        q->pend = next;
        q->generated++;
        g->counts.generated++;
        ring_add(g, q, next);
        int hit = text_push(g, q, next, err);
        if (hit < 0) { /* out of memory in the detokenizer: cannot happen once primed */
            stop_seq(g, q, GF_GEN_ERROR);
            return -1;
        }
        if (hit) q->reason = GF_GEN_STOP_STRING, q->n_hold = 0, q->n_tail = 0;
        else if (g->p.max_tokens >= 0 && q->generated >= g->p.max_tokens) stop_seq(g, q, GF_GEN_MAX_TOKENS);
        running += q->reason == GF_GEN_RUNNING;
    }
    return running;
}

const char *gf_generator_text(const gf_generator *g, int b, size_t *len) {
    if (b < 0 || b >= g->B || !g->seq[b].out) {
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
    if (b < 0 || b >= g->B) return -1;
    seq *q = &g->seq[b];
    if (q->reason != GF_GEN_RUNNING) return 0;
    q->n_out = 0;
    if (q->out) q->out[0] = 0;
    stop_seq(g, q, GF_GEN_CANCELLED);
    return 0;
}

void gf_generator_reset(gf_generator *g) {
    gf_state_reset(g->st);
    for (int b = 0; b < g->B; b++) {
        seq *q = &g->seq[b];
        q->ring_n = q->ring_pos = 0;
        q->pend = -1;
        q->last = 0;
        q->valid = 1;
        q->reason = GF_GEN_IDLE;
        q->generated = 0;
        text_restart(g, q);
    }
}

int64_t gf_generator_context(const gf_generator *g, int b) {
    return b >= 0 && b < g->B ? context_of(g, b) : -1;
}

int64_t gf_generator_generated(const gf_generator *g, int b) {
    return b >= 0 && b < g->B ? g->seq[b].generated : -1;
}

void gf_generator_counts(const gf_generator *g, gf_gen_counts *out) { *out = g->counts; }

/* ---- snapshots ------------------------------------------------------------------ */

gf_gen_snapshot *gf_generator_save(const gf_generator *g, int b, gf_error *err) {
    if (b < 0 || b >= g->B) {
        gf_fail(err, "generator: save: sequence %d outside the batch of %d", b, g->B);
        return NULL;
    }
    const seq *q = &g->seq[b];
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
    s->s.ds = NULL;
    s->s.out = NULL;
    s->s.ring = NULL;
    s->s.hold = NULL;
    s->logits = malloc((size_t)g->V * sizeof *s->logits);
    s->s.hold = malloc(q->n_hold + 1);
    if (q->ring_n > 0) s->s.ring = malloc((size_t)q->ring_n * sizeof *s->s.ring);
    if (!s->logits || !s->s.hold || (q->ring_n > 0 && !s->s.ring)) {
        gf_fail(err, "generator: save: out of memory");
        gf_gen_snapshot_free(s);
        return NULL;
    }
    if (!(s->st = gf_state_new(g->m, 1, err)) || gf_state_copy(s->st, 0, g->st, b, err)) {
        gf_gen_snapshot_free(s);
        return NULL;
    }
    memcpy(s->logits, g->logits + (size_t)b * (size_t)g->V, (size_t)g->V * sizeof *s->logits);
    memcpy(s->s.hold, q->hold, q->n_hold);
    /* the ring, oldest first */
    int cap = g->p.repeat_last_n;
    for (int i = 0; i < q->ring_n; i++)
        s->s.ring[i] = q->ring_n < cap ? q->ring[i] : q->ring[(q->ring_pos + i) % cap];
    s->s.ring_pos = 0;
    return s;
}

int gf_generator_restore(gf_generator *g, int b, const gf_gen_snapshot *s, gf_error *err) {
    if (b < 0 || b >= g->B) return gf_fail(err, "generator: restore: sequence %d outside the batch of %d", b, g->B);
    if (s->m != g->m || s->V != g->V)
        return gf_fail(err, "generator: restore: the snapshot was taken with another model");
    size_t hold_cap = g->tk ? (g->max_stop > 0 ? g->max_stop - 1 : 0) : 0;
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
    for (int i = 0; i < s->s.ring_n; i++) ring_add(g, q, s->s.ring[i]);
    text_restart(g, q);
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
