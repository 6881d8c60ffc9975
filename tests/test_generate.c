/* The generator (gf_generator_*) against independent computations:
 *
 *  - its ids equal a hand-written prefill / decode / gf_sample loop (the one
 *    griffin generate ran before), greedy and seeded, at batch 1 and 3, with
 *    and without the repeat penalty (computed directly in the loop);
 *  - stop ids end a sequence without emitting or feeding the id; max_tokens;
 *    a chat's next turn continues from the state;
 *  - stop strings, matched on the text across token boundaries and held back
 *    until they cannot match (the matcher alone, and min-p and the repeat
 *    penalty on small logits: test_sampling.c);
 *  - a saved sequence restored (into another generator, another row, or
 *    back in time) gives exactly the ids and text the original gave;
 *  - bad parameters and out-of-range ids are one-line errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate/stop.h"
#include "train/trainable.h"
#include "alloc_count.h"
#include "testutil.h"

#define GOLDEN_STRIDE 0x9e3779b97f4a7c15ull


/* ---- the reference loop ------------------------------------------------------ */

typedef struct {
    float temp, top_p, min_p, penalty;
    int top_k, last_n;
    uint64_t seed;
} rparams;

/* Whether id is among hist[from..to). */
static int seen_in(const int32_t *hist, int from, int to, int id) {
    for (int i = from; i < to; i++)
        if (hist[i] == id) return 1;
    return 0;
}

/* griffin generate's loop before the generator: all but the last prompt id
 * prefilled into a batch-1 state and copied to every row, the last decoded;
 * then each step every running row samples (its logits penalised first,
 * directly: every id among the last last_n of its context), a stop id ends it
 * unfed, and the kept ids are decoded together (an ended row fed its last
 * id). out [B, n]: the ids, -1 once a row has stopped. */
static void reference(const gf_model *m, int B, const int32_t *prompt, int P, int n, const rparams *rp,
                      const int32_t *stops, int n_stops, int V_sample, int32_t *out) {
    gf_error err;
    int V = gf_model_config(m)->vocab_size;
    gf_state *one = gf_state_new(m, 1, &err), *st = gf_state_new(m, B, &err);
    assert_non_null(one);
    assert_non_null(st);
    float *logits = malloc(sizeof(float) * (size_t)B * V), *work = malloc(sizeof(float) * V),
          *p = malloc(sizeof(float) * V);
    int *idx = malloc(sizeof(int) * V), *done = calloc((size_t)B, sizeof(int));
    int32_t *toks = malloc(sizeof(int32_t) * B), *hist = malloc(sizeof(int32_t) * (size_t)B * (P + n));
    int *hlen = malloc(sizeof(int) * B);
    gf_sampler *smp = malloc(sizeof(gf_sampler) * B);
    if (P > 1) {
        assert_int_equal(gf_prefill(m, 1, P - 1, prompt, NULL, NULL, NULL, one, &err), 0);
        for (int b = 0; b < B; b++) assert_int_equal(gf_state_copy(st, b, one, 0, &err), 0);
    }
    for (int b = 0; b < B; b++) {
        toks[b] = prompt[P - 1];
        gf_sampler_init(&smp[b], rp->temp, rp->top_k, rp->top_p, rp->seed + GOLDEN_STRIDE * (uint64_t)b);
        smp[b].min_p = rp->min_p;
        memcpy(hist + (size_t)b * (P + n), prompt, sizeof(int32_t) * P);
        hlen[b] = P;
    }
    assert_int_equal(gf_decode_step(m, st, toks, NULL, logits, &err), 0);
    for (int step = 0; step < n; step++) {
        int alive = 0;
        for (int b = 0; b < B; b++) {
            out[(size_t)b * n + step] = -1;
            if (done[b]) continue;
            const float *l = logits + (size_t)b * V;
            if (rp->penalty != 1.0f && rp->last_n > 0) {
                int32_t *h = hist + (size_t)b * (P + n);
                int from = hlen[b] > rp->last_n ? hlen[b] - rp->last_n : 0;
                for (int i = 0; i < V_sample; i++) {
                    work[i] = l[i];
                    if (seen_in(h, from, hlen[b], i)) work[i] = l[i] > 0 ? l[i] / rp->penalty : l[i] * rp->penalty;
                }
                l = work;
            }
            int next = gf_sample(&smp[b], l, V_sample, p, idx);
            toks[b] = next;
            if (seen_in(stops, 0, n_stops, next)) {
                done[b] = 1;
                continue;
            }
            out[(size_t)b * n + step] = next;
            hist[(size_t)b * (P + n) + hlen[b]++] = next;
            alive++;
        }
        if (step + 1 < n && alive > 0) assert_int_equal(gf_decode_step(m, st, toks, NULL, logits, &err), 0);
    }
    gf_state_free(one);
    gf_state_free(st);
    free(logits); free(work); free(p); free(idx); free(done); free(toks); free(hist); free(hlen); free(smp);
}

static gf_gen_params gen_params(const rparams *rp, long max_tokens) {
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = rp->temp;
    gp.top_k = rp->top_k;
    gp.top_p = rp->top_p;
    gp.min_p = rp->min_p;
    gp.repeat_penalty = rp->penalty;
    gp.repeat_last_n = rp->last_n;
    gp.seed = rp->seed;
    gp.max_tokens = max_tokens;
    return gp;
}

/* Steps g until every sequence stops (at most n steps); out [B, n] as
 * reference's. Returns the steps taken. */
static int run_steps(gf_generator *g, int n, int32_t *out) {
    int B = gf_generator_batch(g);
    int32_t *toks = malloc(sizeof(int32_t) * B);
    gf_error err;
    for (size_t i = 0; i < (size_t)B * n; i++) out[i] = -1;
    int s = 0;
    for (; s < n; s++) {
        int r = gf_generator_step(g, toks, &err);
        if (r < 0) fail_msg("%s", err.msg);
        for (int b = 0; b < B; b++) out[(size_t)b * n + s] = toks[b];
        if (r == 0) break;
    }
    free(toks);
    return s + 1;
}

static void check_against_reference(const gf_model *m, int B, const rparams *rp, const int32_t *prompt, int P) {
    enum { N = 24 };
    int32_t want[3 * N], got[3 * N];
    reference(m, B, prompt, P, N, rp, NULL, 0, 256, want);
    gf_gen_params gp = gen_params(rp, N);
    gf_error err;
    gf_generator *g = gf_generator_new(m, NULL, B, &gp, &err);
    if (!g) fail_msg("%s", err.msg);
    assert_int_equal(gf_generator_feed(g, prompt, (size_t)P, &err), 0);
    assert_int_equal(run_steps(g, N, got), N);
    assert_memory_equal(got, want, sizeof(int32_t) * B * N);
    for (int b = 0; b < B; b++) {
        assert_int_equal(gf_generator_stop_reason(g, b), GF_GEN_MAX_TOKENS);
        assert_int_equal(gf_generator_generated(g, b), N);
        assert_int_equal(gf_generator_context(g, b), P + N);
    }
    gf_gen_counts c;
    gf_generator_counts(g, &c);
    assert_int_equal(c.fed, P);
    assert_int_equal(c.generated, B * N);
    assert_int_equal(c.decoded, B * (N - 1)); /* the last ids were never needed */
    /* stepping on changes nothing */
    int32_t t[3];
    assert_int_equal(gf_generator_step(g, t, &err), 0);
    for (int b = 0; b < B; b++) assert_int_equal(t[b], -1);
    gf_generator_free(g);
}

static void test_matches_reference_loop(void **state) {
    (void)state;
    const int32_t prompt[] = {2, 17, 33, 101, 7};
    const rparams greedy = {0.0f, 1.0f, 0.0f, 1.0f, 0, 0, 1};
    const rparams seeded = {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 7};
    const rparams usual = {0.8f, 0.95f, 0.0f, 1.0f, 40, 64, 3};
    const rparams minp = {1.2f, 1.0f, 0.05f, 1.0f, 0, 0, 5};
    const rparams penal = {0.0f, 1.0f, 0.0f, 1.5f, 0, 6, 1};
    const rparams all = {1.0f, 0.9f, 0.02f, 1.3f, 50, 5, 9};
    gf_model *hawk = td_golden_model("hawk"), *griffin = td_golden_model("griffin");
    gf_trainable *rh = td_random_trainable("hawk", 256, 1), *rg = td_random_trainable("griffin", 256, 2);
    const gf_model *models[] = {hawk, griffin, gf_trainable_model(rh), gf_trainable_model(rg)};
    for (int i = 0; i < 4; i++)
        for (int B = 1; B <= 3; B += 2) {
            check_against_reference(models[i], B, &greedy, prompt, 5);
            check_against_reference(models[i], B, &seeded, prompt, 5);
            check_against_reference(models[i], B, &usual, prompt, 5);
            check_against_reference(models[i], B, &minp, prompt, 5);
            check_against_reference(models[i], B, &penal, prompt, 5);
            check_against_reference(models[i], B, &all, prompt, 5);
            check_against_reference(models[i], B, &seeded, prompt + 3, 1); /* no prefill */
        }
    /* the penalty changes the greedy ids (so the check above could fail) */
    int32_t a[24], b[24];
    reference(hawk, 1, prompt, 5, 24, &greedy, NULL, 0, 256, a);
    reference(hawk, 1, prompt, 5, 24, &penal, NULL, 0, 256, b);
    assert_memory_not_equal(a, b, sizeof a);
    gf_model_free(hawk);
    gf_model_free(griffin);
    gf_trainable_free(rh);
    gf_trainable_free(rg);
}

/* ---- stop ids, max_tokens, turns ------------------------------------------------- */

static void test_stop_ids(void **state) {
    (void)state;
    enum { N = 30, B = 3 };
    const int32_t prompt[] = {5, 6, 7};
    const rparams rp = {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 21};
    gf_model *m = td_golden_model("hawk");
    int32_t free_run[B * N], want[B * N], got[B * N];
    reference(m, B, prompt, 3, N, &rp, NULL, 0, 256, free_run);
    /* stop at what row 1 emitted at step 4 and row 2 at step 9 */
    int32_t stops[2] = {free_run[1 * N + 4], free_run[2 * N + 9]};
    reference(m, B, prompt, 3, N, &rp, stops, 2, 256, want);
    gf_gen_params gp = gen_params(&rp, N);
    gp.stop_ids = stops;
    gp.n_stop_ids = 2;
    gf_error err;
    gf_generator *g = gf_generator_new(m, NULL, B, &gp, &err);
    assert_non_null(g);
    assert_int_equal(gf_generator_feed(g, prompt, 3, &err), 0);
    int steps = run_steps(g, N, got);
    assert_memory_equal(got, want, sizeof got);
    int64_t emitted = 0;
    for (int b = 0; b < B; b++) {
        int k = 0;
        while (k < N && want[b * N + k] >= 0) k++;
        emitted += k;
        /* the stop id itself never appears, and the row ended at its first draw */
        for (int i = 0; i < k; i++) assert_true(want[b * N + i] != stops[0] && want[b * N + i] != stops[1]);
        assert_int_equal(gf_generator_generated(g, b), k);
        assert_int_equal(gf_generator_stop_reason(g, b), k < N ? GF_GEN_STOP_ID : GF_GEN_MAX_TOKENS);
    }
    assert_int_equal(gf_generator_stop_reason(g, 1), GF_GEN_STOP_ID);
    assert_true(gf_generator_generated(g, 1) <= 4);
    gf_gen_counts c;
    gf_generator_counts(g, &c);
    assert_int_equal(c.generated, emitted);
    assert_true(steps <= N);
    /* row 1 stopped while others went on: its state moved on, so it cannot be
     * saved, nor the batch fed, until it is restored or reset */
    assert_null(gf_generator_save(g, 1, &err));
    td_expect_one_line(&err, "stepped after it stopped");
    assert_int_equal(gf_generator_feed(g, prompt, 1, &err), -1);
    td_expect_one_line(&err, "sequence 1");
    gf_generator_reset(g);
    assert_int_equal(gf_generator_stop_reason(g, 1), GF_GEN_IDLE);
    assert_int_equal(gf_generator_context(g, 1), 0);
    assert_int_equal(gf_generator_feed(g, prompt, 3, &err), 0);
    gf_generator_free(g);
    gf_model_free(m);
}

static void test_max_tokens(void **state) {
    (void)state;
    gf_model *m = td_golden_model("hawk");
    const int32_t prompt[] = {5, 6};
    const rparams rp = {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 4};
    gf_gen_params gp = gen_params(&rp, 0);
    gf_error err;
    int32_t t[2];
    gf_generator *g = gf_generator_new(m, NULL, 2, &gp, &err);
    /* nothing fed: nothing runs */
    assert_int_equal(gf_generator_step(g, t, &err), 0);
    assert_int_equal(gf_generator_stop_reason(g, 0), GF_GEN_IDLE);
    assert_int_equal(gf_generator_feed(g, prompt, 2, &err), 0);
    assert_int_equal(gf_generator_stop_reason(g, 0), GF_GEN_RUNNING);
    assert_int_equal(gf_generator_step(g, t, &err), 0);
    assert_int_equal(t[0], -1);
    assert_int_equal(t[1], -1);
    assert_int_equal(gf_generator_stop_reason(g, 1), GF_GEN_MAX_TOKENS);
    assert_string_equal(gf_gen_stop_name(GF_GEN_MAX_TOKENS), "max tokens");
    gf_generator_free(g);
    /* 3: three steps emit, the third says none is running */
    gp.max_tokens = 3;
    g = gf_generator_new(m, NULL, 2, &gp, &err);
    assert_int_equal(gf_generator_feed(g, prompt, 2, &err), 0);
    assert_int_equal(gf_generator_step(g, t, &err), 2);
    assert_true(t[0] >= 0 && t[1] >= 0);
    assert_int_equal(gf_generator_step(g, t, &err), 2);
    assert_int_equal(gf_generator_step(g, t, &err), 0);
    assert_true(t[0] >= 0 && t[1] >= 0);
    assert_int_equal(gf_generator_step(g, t, &err), 0);
    assert_int_equal(t[0], -1);
    /* no limit: still going after 40 */
    gf_generator_free(g);
    gp.max_tokens = -1;
    g = gf_generator_new(m, NULL, 1, &gp, &err);
    assert_int_equal(gf_generator_feed(g, prompt, 2, &err), 0);
    for (int i = 0; i < 40; i++) assert_int_equal(gf_generator_step(g, t, &err), 1);
    /* cancelled */
    assert_int_equal(gf_generator_cancel(g, 0), 0);
    assert_int_equal(gf_generator_stop_reason(g, 0), GF_GEN_CANCELLED);
    assert_int_equal(gf_generator_step(g, t, &err), 0);
    assert_int_equal(gf_generator_cancel(g, 1), -1);
    gf_generator_free(g);
    gf_model_free(m);
}

/* A chat's turns: a prompt, a reply of at most 5 ids, the next turn's ids fed
 * after it, a second reply; against decode steps written out, where the stop
 * id (stop < 0: none) is not fed and every other reply id is. want: the
 * replies' ids, both turns; returns their count. */
static int chat_turns(int32_t stop, int32_t *want) {
    gf_model *m = td_golden_model("hawk");
    gf_error err;
    const int32_t turn1[] = {2, 40, 41, 42, 43}, turn2[] = {5, 44, 45};
    const rparams rp = {0.9f, 1.0f, 0.0f, 1.0f, 0, 0, 13};
    gf_state *st = gf_state_new(m, 1, &err);
    float logits[256], p[256];
    int idx[256];
    gf_sampler smp;
    gf_sampler_init(&smp, rp.temp, rp.top_k, rp.top_p, rp.seed);
    int nw = 0, first = 0;
    assert_int_equal(gf_prefill(m, 1, 4, turn1, NULL, NULL, NULL, st, &err), 0);
    assert_int_equal(gf_decode_step(m, st, &turn1[4], NULL, logits, &err), 0);
    for (int turn = 0; turn < 2; turn++) {
        if (turn == 1)
            for (int i = 0; i < 3; i++) assert_int_equal(gf_decode_step(m, st, &turn2[i], NULL, logits, &err), 0);
        for (int i = 0; i < 5; i++) {
            int32_t t = gf_sample(&smp, logits, 256, p, idx);
            if (t == stop) break;
            want[nw++] = t;
            assert_int_equal(gf_decode_step(m, st, &t, NULL, logits, &err), 0);
        }
        if (turn == 0) first = nw;
    }
    gf_state_free(st);
    /* the generator */
    gf_gen_params gp = gen_params(&rp, 5);
    gp.stop_ids = &stop;
    gp.n_stop_ids = stop >= 0;
    gf_generator *g = gf_generator_new(m, NULL, 1, &gp, &err);
    int32_t got[16], t;
    int ng = 0;
    assert_int_equal(gf_generator_feed(g, turn1, 5, &err), 0);
    for (int r = 1; r > 0;) {
        r = gf_generator_step(g, &t, &err);
        if (t >= 0) got[ng++] = t;
    }
    assert_int_equal(ng, first);
    assert_int_equal(gf_generator_stop_reason(g, 0), first < 5 ? GF_GEN_STOP_ID : GF_GEN_MAX_TOKENS);
    assert_int_equal(gf_generator_context(g, 0), 5 + first);
    assert_int_equal(gf_generator_feed(g, turn2, 3, &err), 0);
    assert_int_equal(gf_generator_generated(g, 0), 0); /* max_tokens counts afresh */
    assert_int_equal(gf_generator_stop_reason(g, 0), GF_GEN_RUNNING);
    for (int r = 1; r > 0;) {
        r = gf_generator_step(g, &t, &err);
        if (t >= 0) got[ng++] = t;
    }
    assert_int_equal(ng, nw);
    assert_memory_equal(got, want, sizeof(int32_t) * ng);
    gf_generator_free(g);
    gf_model_free(m);
    return nw;
}

static void test_chat_turns(void **state) {
    (void)state;
    int32_t a[16], b[16];
    int n = chat_turns(-1, a);
    assert_int_equal(n, 10);
    /* stopping at an id the first reply gives after others: the reply ends
     * before it, and the second turn follows a state without it */
    int j = 1;
    while (j < 5 && seen_in(a, 0, j, a[j])) j++;
    assert_true(j < 5);
    int k = chat_turns(a[j], b);
    assert_true(k < n);
    assert_memory_equal(b, a, sizeof(int32_t) * j);
    print_message("    free: %d ids; stopping at %d (reply id %d): %d ids\n", n, a[j], j, k);
}

/* ---- stop strings ----------------------------------------------------------------- */

typedef struct {
    int32_t toks[128];
    size_t ends[128]; /* text length after each step */
    char text[1 << 14];
    size_t len;
    int steps, reason;
} text_run;

static void run_text(gf_generator *g, text_run *r) {
    gf_error err;
    memset(r, 0, sizeof *r);
    for (int s = 0; s < 128; s++) {
        int32_t t;
        int k = gf_generator_step(g, &t, &err);
        if (k < 0) fail_msg("%s", err.msg);
        size_t len;
        const char *txt = gf_generator_text(g, 0, &len);
        assert_int_equal(strlen(txt), len);
        assert_true(r->len + len < sizeof r->text);
        memcpy(r->text + r->len, txt, len);
        r->len += len;
        r->text[r->len] = 0;
        r->toks[s] = t;
        r->ends[s] = r->len;
        r->steps = s + 1;
        if (k == 0) break;
    }
    r->reason = gf_generator_stop_reason(g, 0);
}

static size_t find(const char *h, size_t n, const char *needle, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(h + i, needle, k)) return i;
    return n;
}

static void test_stop_strings(void **state) {
    (void)state;
    enum { N = 60 };
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_trainable *tm = td_random_trainable("hawk", 4000, 3);
    const gf_model *m = gf_trainable_model(tm);
    gf_error err;
    const rparams rp = {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 11};
    gf_gen_params gp = gen_params(&rp, N);
    const int32_t prompt[] = {2, 100, 200, 300};
    static text_run free_run, run;
    gf_generator *g = gf_generator_new(m, tk, 1, &gp, &err);
    if (!g) fail_msg("%s", err.msg);
    assert_int_equal(gf_generator_feed(g, prompt, 4, &err), 0);
    run_text(g, &free_run);
    gf_generator_free(g);
    assert_int_equal(free_run.steps, N);
    /* the streamed text is the detokenizer's text of the ids */
    gf_detok_stream *ds = gf_detok_stream_new(tk, 0, &err);
    char whole[1 << 14];
    size_t wl = 0;
    const char *t;
    size_t l;
    for (int s = 0; s < N; s++) {
        assert_int_equal(gf_detok_stream_push(ds, free_run.toks[s], &t, &l, &err), 0);
        memcpy(whole + wl, t, l);
        wl += l;
    }
    gf_detok_stream_flush(ds, &t, &l);
    memcpy(whole + wl, t, l);
    wl += l;
    gf_detok_stream_free(ds);
    assert_int_equal(wl, free_run.len);
    assert_memory_equal(whole, free_run.text, wl);
    print_message("    free run: %zu bytes: %.60s...\n", free_run.len, free_run.text);
    /* a stop string across a token boundary: two bytes either side of the end
     * of step s's text, whose first occurrence spans a boundary */
    char stop[8];
    size_t sl = 0, at = 0;
    int found = 0;
    for (int s = 10; s + 1 < N && !found; s++) {
        size_t a = free_run.ends[s] - free_run.ends[s - 1], c = free_run.ends[s + 1] - free_run.ends[s];
        if (a < 2 || c < 2) continue;
        memcpy(stop, free_run.text + free_run.ends[s] - 2, 4);
        sl = 4;
        stop[4] = 0;
        if (memchr(stop, 0, 4)) continue;
        at = find(free_run.text, free_run.len, stop, sl);
        for (int k = 0; k < N; k++)
            if (free_run.ends[k] > at && free_run.ends[k] < at + sl) found = 1;
    }
    assert_true(found);
    int last = 0; /* the step whose text completes it */
    while (free_run.ends[last] < at + sl) last++;
    const char *stops[] = {"\x01never\x02", stop};
    gp.stop_strings = stops;
    gp.n_stop_strings = 2;
    g = gf_generator_new(m, tk, 1, &gp, &err);
    assert_int_equal(gf_generator_feed(g, prompt, 4, &err), 0);
    run_text(g, &run);
    print_message("    stop '%s' at byte %zu, step %d\n", stop, at, last);
    assert_int_equal(run.reason, GF_GEN_STOP_STRING);
    assert_int_equal(run.steps, last + 1);
    assert_memory_equal(run.toks, free_run.toks, sizeof(int32_t) * (last + 1)); /* the last one emitted */
    assert_int_equal(run.len, at);
    assert_memory_equal(run.text, free_run.text, at);
    for (int s = 0; s < run.steps; s++) assert_true(run.ends[s] <= at); /* held back, never emitted */
    assert_int_equal(gf_generator_context(g, 0), 4 + last + 1);
    gf_generator_free(g);
    /* one that starts the same but never completes: held, then released */
    char never[16];
    memcpy(never, stop, sl);
    memcpy(never + sl, "\x01\x02", 3);
    const char *stops2[] = {never};
    gp.stop_strings = stops2;
    gp.n_stop_strings = 1;
    g = gf_generator_new(m, tk, 1, &gp, &err);
    assert_int_equal(gf_generator_feed(g, prompt, 4, &err), 0);
    run_text(g, &run);
    assert_int_equal(run.reason, GF_GEN_MAX_TOKENS);
    assert_int_equal(run.steps, N);
    assert_memory_equal(run.toks, free_run.toks, sizeof(int32_t) * N);
    assert_int_equal(run.len, free_run.len);
    assert_memory_equal(run.text, free_run.text, run.len);
    int held = 0;
    for (int s = 0; s < N; s++) {
        assert_true(run.ends[s] <= free_run.ends[s]);
        held |= run.ends[s] < free_run.ends[s];
    }
    assert_true(held);
    gf_generator_free(g);
    gf_trainable_free(tm);
    gf_tokenizer_free(tk);
}

/* A model with more ids than its tokenizer never samples the extra ones. */
static void test_padded_vocabulary(void **state) {
    (void)state;
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_trainable *tm = td_random_trainable("hawk", 4096, 5);
    gf_error err;
    const rparams rp = {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 1};
    gf_gen_params gp = gen_params(&rp, 200);
    gf_generator *g = gf_generator_new(gf_trainable_model(tm), tk, 1, &gp, &err);
    const int32_t prompt[] = {2, 50};
    assert_int_equal(gf_generator_feed(g, prompt, 2, &err), 0);
    int32_t t;
    int n = 0;
    for (int r = 1; r > 0; n++) {
        r = gf_generator_step(g, &t, &err);
        assert_true(t >= 0 && t < 4000);
    }
    assert_int_equal(n, 200);
    gf_generator_free(g);
    /* without the tokenizer the whole vocabulary: some of the 96 extra ids
     * appear in 200 draws at temperature 1 (~99 %; fixed seed) */
    g = gf_generator_new(gf_trainable_model(tm), NULL, 1, &gp, &err);
    assert_int_equal(gf_generator_feed(g, prompt, 2, &err), 0);
    int extra = 0;
    for (int r = 1; r > 0;) {
        r = gf_generator_step(g, &t, &err);
        extra += t >= 4000;
    }
    assert_true(extra > 0);
    gf_generator_free(g);
    gf_trainable_free(tm);
    gf_tokenizer_free(tk);
}

/* ---- save and restore ---------------------------------------------------------------- */

static void test_save_restore_batch(void **state) {
    (void)state;
    enum { B = 3, K = 7, N = 12 };
    gf_trainable *tm = td_random_trainable("griffin", 256, 4);
    const gf_model *m = gf_trainable_model(tm);
    gf_error err;
    const rparams rp = {1.0f, 0.95f, 0.02f, 1.2f, 40, 6, 17};
    gf_gen_params gp = gen_params(&rp, -1);
    const int32_t prompt[] = {2, 9, 8, 7};
    gf_generator *g = gf_generator_new(m, NULL, B, &gp, &err);
    assert_int_equal(gf_generator_feed(g, prompt, 4, &err), 0);
    int32_t skip[B * K], want[B * N], got[B * N];
    run_steps(g, K, skip);
    gf_gen_snapshot *snap[B];
    for (int b = 0; b < B; b++) {
        snap[b] = gf_generator_save(g, b, &err);
        if (!snap[b]) fail_msg("%s", err.msg);
        assert_true(gf_gen_snapshot_bytes(snap[b]) > gf_state_bytes_per_seq(gf_model_config(m)));
    }
    run_steps(g, N, want);
    /* into a fresh generator, rows permuted */
    gf_generator *g2 = gf_generator_new(m, NULL, B, &gp, &err);
    const int perm[B] = {2, 0, 1};
    for (int b = 0; b < B; b++) assert_int_equal(gf_generator_restore(g2, b, snap[perm[b]], &err), 0);
    run_steps(g2, N, got);
    for (int b = 0; b < B; b++) assert_memory_equal(got + b * N, want + perm[b] * N, sizeof(int32_t) * N);
    assert_int_equal(gf_generator_context(g2, 0), gf_generator_context(g, 2));
    /* back in time in the original */
    for (int b = 0; b < B; b++) assert_int_equal(gf_generator_restore(g, b, snap[b], &err), 0);
    run_steps(g, N, got);
    assert_memory_equal(got, want, sizeof got);
    /* one row into a batch-1 generator */
    gf_generator *g1 = gf_generator_new(m, NULL, 1, &gp, &err);
    assert_int_equal(gf_generator_restore(g1, 0, snap[1], &err), 0);
    run_steps(g1, N, got);
    assert_memory_equal(got, want + N, sizeof(int32_t) * N);
    /* a snapshot taken right after a feed (no id to feed, its logits ready)
     * restored into a row while the other row has an id to feed: each goes
     * on as it would have alone */
    gf_generator *ga = gf_generator_new(m, NULL, 1, &gp, &err), *gb = gf_generator_new(m, NULL, 2, &gp, &err),
                 *gc = gf_generator_new(m, NULL, 2, &gp, &err);
    const int32_t other[] = {2, 30, 31};
    assert_int_equal(gf_generator_feed(ga, other, 3, &err), 0);
    gf_gen_snapshot *fresh = gf_generator_save(ga, 0, &err);
    int32_t wa[N], wc[2 * (3 + N)], gbt[2 * N];
    run_steps(ga, N, wa);
    assert_int_equal(gf_generator_feed(gb, prompt, 4, &err), 0);
    assert_int_equal(gf_generator_feed(gc, prompt, 4, &err), 0);
    run_steps(gb, 3, got);
    run_steps(gc, 3 + N, wc);
    assert_int_equal(gf_generator_restore(gb, 0, fresh, &err), 0);
    run_steps(gb, N, gbt);
    assert_memory_equal(gbt, wa, sizeof wa);
    assert_memory_equal(gbt + N, wc + (3 + N) + 3, sizeof(int32_t) * N);
    gf_gen_snapshot_free(fresh);
    gf_generator_free(ga);
    gf_generator_free(gb);
    gf_generator_free(gc);
    /* another model's snapshot is refused */
    gf_model *h = td_golden_model("griffin");
    gf_generator *gh = gf_generator_new(h, NULL, 1, &gp, &err);
    assert_int_equal(gf_generator_restore(gh, 0, snap[0], &err), -1);
    td_expect_one_line(&err, "another model");
    assert_int_equal(gf_generator_restore(g1, 1, snap[0], &err), -1);
    td_expect_one_line(&err, "outside the batch");
    gf_generator_free(gh);
    gf_model_free(h);
    for (int b = 0; b < B; b++) gf_gen_snapshot_free(snap[b]);
    gf_generator_free(g);
    gf_generator_free(g1);
    gf_generator_free(g2);
    gf_trainable_free(tm);
}

/* Text with bytes pending in the detokenizer and held back for a stop
 * string: a snapshot after every step, restored into another generator,
 * continues with exactly the original's ids and text. A 256-id model with
 * the fixture tokenizer samples mostly byte pieces (ids 9..255), so UTF-8
 * characters are often split across steps; a stop string starts with
 * U+FFFD, which random bytes often give, and rarely completes. */
static void test_save_restore_text(void **state) {
    (void)state;
    enum { N = 80 };
    gf_trainable *tm = td_random_trainable("hawk", 256, 6);
    const gf_model *m = gf_trainable_model(tm);
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_error err;
    const rparams rp = {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 5};
    gf_gen_params gp = gen_params(&rp, N);
    /* and 36 that start with a letter or digit, so what is held back varies */
    static char many[37][8];
    const char *stops[37];
    strcpy(many[0], "\xEF\xBF\xBDzq");
    for (int i = 1; i < 37; i++) {
        many[i][0] = "abcdefghijklmnopqrstuvwxyz0123456789"[i - 1];
        strcpy(many[i] + 1, "\x01\x7f");
    }
    for (int i = 0; i < 37; i++) stops[i] = many[i];
    gp.stop_strings = stops;
    gp.n_stop_strings = 37;
    const int32_t prompt[] = {2, 72, 110};
    gf_generator *g = gf_generator_new(m, tk, 1, &gp, &err);
    assert_non_null(g);
    assert_int_equal(gf_generator_feed(g, prompt, 3, &err), 0);
    static gf_gen_snapshot *snap[N + 1];
    static int32_t toks[N];
    static size_t ends[N];
    static char text[1 << 15];
    size_t len = 0;
    int steps = 0, held = 0;
    snap[0] = gf_generator_save(g, 0, &err); /* right after the feed: logits, no id pending */
    for (int r = 1; r > 0 && steps < N;) {
        r = gf_generator_step(g, &toks[steps], &err);
        assert_true(r >= 0);
        size_t l;
        const char *t = gf_generator_text(g, 0, &l);
        memcpy(text + len, t, l);
        len += l;
        ends[steps++] = len;
        snap[steps] = gf_generator_save(g, 0, &err);
        assert_non_null(snap[steps]);
    }
    /* steps that emitted an id and no text (bytes of a UTF-8 character
     * pending, or a U+FFFD held back); the snapshots that hold text back for
     * the stop string are counted below */
    for (int s = 0; s < steps; s++) held += ends[s] == (s ? ends[s - 1] : 0);
    print_message("    %d steps, %zu bytes, %d steps gave no text\n", steps, len, held);
    assert_true(held >= 2);
    gf_generator *g2 = gf_generator_new(m, tk, 1, &gp, &err);
    for (int k = 0; k <= steps; k++) {
        assert_int_equal(gf_generator_restore(g2, 0, snap[k], &err), 0);
        size_t start = k ? ends[k - 1] : 0, l2 = start;
        static char text2[1 << 15];
        int s = k;
        for (int r = gf_generator_stop_reason(g2, 0) == GF_GEN_RUNNING; r > 0; s++) {
            int32_t t;
            r = gf_generator_step(g2, &t, &err);
            assert_true(r >= 0);
            assert_true(s < steps);
            assert_int_equal(t, toks[s]);
            size_t l;
            const char *tx = gf_generator_text(g2, 0, &l);
            memcpy(text2 + l2, tx, l);
            l2 += l;
            assert_int_equal(l2, ends[s]);
        }
        assert_int_equal(s, steps);
        assert_int_equal(l2, len);
        assert_memory_equal(text2 + start, text + start, len - start);
    }
    assert_int_equal(gf_generator_stop_reason(g2, 0), gf_generator_stop_reason(g, 0));
    /* a generator without stop strings cannot hold a snapshot's held-back text */
    gf_gen_params plain = gen_params(&rp, N);
    gf_generator *g3 = gf_generator_new(m, tk, 1, &plain, &err);
    int refused = 0;
    for (int k = 0; k <= steps; k++)
        if (gf_generator_restore(g3, 0, snap[k], &err)) {
            td_expect_one_line(&err, "holds back");
            refused++;
        }
    print_message("    %d of %d snapshots hold text back\n", refused, steps + 1);
    assert_true(refused >= 5);
    for (int k = 0; k <= steps; k++) gf_gen_snapshot_free(snap[k]);
    gf_generator_free(g);
    gf_generator_free(g2);
    gf_generator_free(g3);
    gf_tokenizer_free(tk);
    gf_trainable_free(tm);
}

/* Steps of a batch with a tokenizer, stop strings, the penalty and min-p
 * allocate nothing (the text buffers and the detokenizers' were sized at
 * creation), and neither does the step that ends them. */
static void test_step_allocates_nothing(void **state) {
    (void)state;
#if TD_COUNT_ALLOCS
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_trainable *tm = td_random_trainable("griffin", 4000, 8);
    gf_error err;
    const rparams rp = {1.0f, 0.95f, 0.01f, 1.1f, 40, 16, 2};
    gf_gen_params gp = gen_params(&rp, 40);
    const char *stops[] = {"\x01\x02", "the end", "\xEF\xBF\xBD\xEF\xBF\xBD"};
    gp.stop_strings = stops;
    gp.n_stop_strings = 3;
    gf_generator *g = gf_generator_new(gf_trainable_model(tm), tk, 3, &gp, &err);
    assert_non_null(g);
    const int32_t prompt[] = {2, 100, 101, 102};
    assert_int_equal(gf_generator_feed(g, prompt, 4, &err), 0);
    int32_t t[3];
    /* (the feed's decode steps have started the thread team and BLAS) */
    td_alloc_count_start();
    int steps = 0;
    for (int r = 1; r > 0; steps++) r = gf_generator_step(g, t, &err);
    long allocs = td_alloc_count_stop();
    print_message("    %d steps, %ld allocations\n", steps, allocs);
    assert_int_equal(allocs, 0);
    assert_int_equal(steps, 40);
    gf_generator_free(g);
    gf_trainable_free(tm);
    gf_tokenizer_free(tk);
#else
    skip();
#endif
}

/* ---- errors ---------------------------------------------------------------------------- */

/* Logits that hold a NaN are never sampled: the step fails with one line
 * naming the decode step, every sequence stops with GF_GEN_ERROR and emits
 * nothing. The model's weight is poisoned in memory after two good steps,
 * as the load check cannot see (a trainable's arena). */
static void test_nonfinite_logits(void **state) {
    (void)state;
    gf_trainable *tm = td_random_trainable("griffin", 256, 5);
    const gf_model *m = gf_trainable_model(tm);
    const rparams rp = {1.0f, 1.0f, 0.0f, 1.0f, 0, 0, 4};
    gf_gen_params gp = gen_params(&rp, 20);
    gf_error err;
    int32_t t[2];
    gf_generator *g = gf_generator_new(m, NULL, 2, &gp, &err);
    assert_non_null(g);
    const int32_t prompt[] = {2, 7, 9};
    assert_int_equal(gf_generator_feed(g, prompt, 3, &err), 0);
    assert_int_equal(gf_generator_step(g, t, &err), 2);
    assert_int_equal(gf_generator_step(g, t, &err), 2);
    float *p = &tm->params[tm->n_params / 2], keep = *p;
    *p = NAN;
    memset(&err, 0, sizeof err);
    assert_int_equal(gf_generator_step(g, t, &err), -1);
    td_expect_one_line(&err, "decode step 3: non-finite logits (NaN for token id 0)");
    assert_int_equal(t[0], -1);
    assert_int_equal(t[1], -1);
    assert_int_equal(gf_generator_stop_reason(g, 0), GF_GEN_ERROR);
    assert_int_equal(gf_generator_stop_reason(g, 1), GF_GEN_ERROR);
    assert_int_equal(gf_generator_step(g, t, &err), 0); /* nothing runs any more */
    /* from the prompt's own logits: step 1 */
    gf_generator_reset(g);
    assert_int_equal(gf_generator_feed(g, prompt, 3, &err), 0);
    assert_int_equal(gf_generator_step(g, t, &err), -1);
    td_expect_one_line(&err, "decode step 1: non-finite logits");
    /* the weight mended, the generator works again */
    *p = keep;
    gf_generator_reset(g);
    assert_int_equal(gf_generator_feed(g, prompt, 3, &err), 0);
    assert_int_equal(gf_generator_step(g, t, &err), 2);
    gf_generator_free(g);
    gf_trainable_free(tm);
}

static void test_bad_input(void **state) {
    (void)state;
    gf_model *m = td_golden_model("hawk");
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    assert_null(gf_generator_new(m, NULL, 0, &gp, &err));
    td_expect_one_line(&err, "batch 0");
    assert_null(gf_generator_new(m, NULL, -3, &gp, &err));
    td_expect_one_line(&err, "batch -3");
    gp.temperature = NAN;
    assert_null(gf_generator_new(m, NULL, 1, &gp, &err));
    td_expect_one_line(&err, "temperature");
    gf_gen_params_default(&gp);
    gp.top_p = NAN;
    assert_null(gf_generator_new(m, NULL, 1, &gp, &err));
    td_expect_one_line(&err, "top_p");
    gf_gen_params_default(&gp);
    gp.min_p = 1.5f;
    assert_null(gf_generator_new(m, NULL, 1, &gp, &err));
    td_expect_one_line(&err, "min_p");
    gf_gen_params_default(&gp);
    gp.repeat_penalty = 0.0f;
    assert_null(gf_generator_new(m, NULL, 1, &gp, &err));
    td_expect_one_line(&err, "repeat_penalty");
    gf_gen_params_default(&gp);
    gp.repeat_last_n = -1;
    assert_null(gf_generator_new(m, NULL, 1, &gp, &err));
    td_expect_one_line(&err, "repeat_last_n");
    gf_gen_params_default(&gp);
    int32_t bad_stop = 256;
    gp.stop_ids = &bad_stop;
    gp.n_stop_ids = 1;
    assert_null(gf_generator_new(m, NULL, 1, &gp, &err));
    td_expect_one_line(&err, "stop id 256");
    gf_gen_params_default(&gp);
    const char *ss[] = {"x"}, *empty[] = {""};
    gp.stop_strings = ss;
    gp.n_stop_strings = 1;
    assert_null(gf_generator_new(m, NULL, 1, &gp, &err));
    td_expect_one_line(&err, "tokenizer");
    gf_tokenizer *tk = td_gemma_tokenizer();
    gp.stop_strings = empty;
    assert_null(gf_generator_new(m, tk, 1, &gp, &err));
    td_expect_one_line(&err, "empty");
    gf_tokenizer_free(tk);
    /* ids outside the vocabulary change nothing */
    gf_gen_params_default(&gp);
    gp.seed = 3;
    gp.max_tokens = 10;
    gf_generator *g = gf_generator_new(m, NULL, 2, &gp, &err), *fresh = gf_generator_new(m, NULL, 2, &gp, &err);
    const int32_t bad[] = {5, 256}, neg[] = {-1}, good[] = {5, 6, 7};
    assert_int_equal(gf_generator_feed(g, bad, 2, &err), -1);
    td_expect_one_line(&err, "id 256");
    td_expect_one_line(&err, "vocabulary");
    assert_int_equal(gf_generator_feed(g, neg, 1, &err), -1);
    td_expect_one_line(&err, "id -1");
    assert_int_equal(gf_generator_feed(g, good, 0, &err), -1);
    td_expect_one_line(&err, "nothing to feed");
    assert_int_equal(gf_generator_context(g, 0), 0);
    int32_t a[20], b[20];
    assert_int_equal(gf_generator_feed(g, good, 3, &err), 0);
    assert_int_equal(gf_generator_feed(fresh, good, 3, &err), 0);
    run_steps(g, 10, a);
    run_steps(fresh, 10, b);
    assert_memory_equal(a, b, sizeof a);
    /* and a bad id after a reply leaves the reply's state */
    assert_int_equal(gf_generator_feed(g, bad, 2, &err), -1);
    assert_int_equal(gf_generator_context(g, 0), 13);
    assert_null(gf_generator_save(g, 2, &err));
    td_expect_one_line(&err, "outside the batch");
    gf_generator_free(g);
    gf_generator_free(fresh);
    gf_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference_loop),
        cmocka_unit_test(test_stop_ids),
        cmocka_unit_test(test_max_tokens),
        cmocka_unit_test(test_chat_turns),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_padded_vocabulary),
        cmocka_unit_test(test_save_restore_batch),
        cmocka_unit_test(test_save_restore_text),
        cmocka_unit_test(test_step_allocates_nothing),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_nonfinite_logits),
    };
    return cmocka_run_group_tests_name("generate", tests, NULL, NULL);
}
