/* Slots (gf_generator_join / _round / _leave): sequences that join and
 * leave a running batch, against batch-1 generators fed only their prompt:
 *
 *  - 16 greedy sequences with different prompts and lengths, joined at
 *    different rounds (while others prefill and decode) into fewer slots,
 *    with chunks of 1, 3 and 256 prompt ids a round, each give exactly the
 *    ids a batch-1 generator gives (golden and random models);
 *  - seeded sampling (top-k, top-p, min-p, the repeat penalty) likewise,
 *    each slot with its own seed;
 *  - a prompt's lone last id rides in the decode step (no prefill of its
 *    own: gf_gen_counts.prefills) and gives what batch 1 gives;
 *  - a slot that leaves (decoding, or still prefilling) is free at once
 *    and the others go on unchanged;
 *  - joining from a snapshot and more ids gives what joining with the whole
 *    context gives; a snapshot's context is the prompt and every id emitted;
 *  - per-slot stop strings, stop ids and max_tokens, with their text;
 *  - a round with no slot joining allocates nothing;
 *  - errors: all slots busy, bad ids and parameters, batch calls refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "train/trainable.h"
#include "testutil.h"


#define MAX_TOKS 64
#define MAX_TEXT 8192

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* ---- a sequence's run ------------------------------------------------------------ */

typedef struct {
    int32_t toks[MAX_TOKS];
    int n;
    char text[MAX_TEXT];
    size_t len;
    int reason;
} run;

/* What a batch-1 generator fed only the prompt gives. */
static void reference(const gf_model *m, const gf_tokenizer *tk, const int32_t *prompt, size_t n,
                      const gf_gen_params *p, run *out) {
    gf_error err;
    gf_generator *g = gf_generator_new(m, tk, 1, p, &err);
    if (!g) fail_msg("%s", err.msg);
    memset(out, 0, sizeof *out);
    if (gf_generator_feed(g, prompt, n, &err)) fail_msg("%s", err.msg);
    for (int r = 1; r > 0;) {
        int32_t t;
        r = gf_generator_step(g, &t, &err);
        if (r < 0) fail_msg("%s", err.msg);
        if (t >= 0) {
            assert_true(out->n < MAX_TOKS);
            out->toks[out->n++] = t;
        }
        size_t len;
        const char *s = gf_generator_text(g, 0, &len);
        assert_true(out->len + len < MAX_TEXT);
        memcpy(out->text + out->len, s, len);
        out->len += len;
    }
    out->reason = gf_generator_stop_reason(g, 0);
    gf_generator_free(g);
}

typedef struct {
    int32_t prompt[96];
    size_t n;
    gf_gen_params p;
    int at;          /* the first round it may join */
    int leave_after; /* leave once it has this many ids (-1: never) */
    int leave_round; /* or at this round, prompt done or not (-1: never) */
    /* what happened */
    int slot, joined, done, prompts_done, left;
    run got;
} job;

/* Runs jobs through g: each joins at its round or, when every slot is busy,
 * as soon as one is free (in order); collects the events. Returns the
 * rounds taken. */
static int run_jobs(gf_generator *g, job *jobs, int nj) {
    gf_error err;
    int B = gf_generator_batch(g);
    gf_gen_event *ev = malloc(sizeof *ev * (size_t)B);
    int *owner = malloc(sizeof(int) * (size_t)B);
    for (int s = 0; s < B; s++) owner[s] = -1;
    int next = 0, round = 0, busy_seen = 0;
    for (int j = 0; j < nj; j++) jobs[j].slot = -1, memset(&jobs[j].got, 0, sizeof jobs[j].got);
    for (;;) {
        while (next < nj && jobs[next].at <= round) {
            job *J = &jobs[next];
            int s = gf_generator_join(g, J->prompt, J->n, &J->p, &err);
            if (s < 0) {
                td_expect_one_line(&err, "slots are in use");
                assert_int_equal(gf_generator_slots_in_use(g), B);
                busy_seen++;
                break;
            }
            assert_true(s < B);
            assert_int_equal(owner[s], -1);
            owner[s] = next;
            J->slot = s;
            J->joined = 1;
            assert_int_equal(gf_generator_context(g, s), (int64_t)J->n);
            assert_int_equal(gf_generator_stop_reason(g, s), GF_GEN_RUNNING);
            next++;
        }
        if (next == nj && gf_generator_slots_in_use(g) == 0) break;
        int n_ev = -1, in_use = gf_generator_round(g, ev, &n_ev, &err);
        if (in_use < 0) fail_msg("%s", err.msg);
        assert_true(n_ev >= 0 && n_ev <= B);
        round++;
        assert_true(round < 20000);
        for (int i = 0; i < n_ev; i++) {
            gf_gen_event *e = &ev[i];
            if (i > 0) assert_true(e->slot > ev[i - 1].slot);
            int j = owner[e->slot];
            assert_true(j >= 0);
            job *J = &jobs[j];
            if (e->prompt_done) J->prompts_done++;
            assert_true(J->prompts_done == 1); /* nothing comes before its prompt is done */
            if (e->token >= 0) {
                assert_true(J->got.n < MAX_TOKS);
                J->got.toks[J->got.n++] = e->token;
            }
            assert_int_equal(strlen(e->text), e->len);
            assert_true(J->got.len + e->len < MAX_TEXT);
            memcpy(J->got.text + J->got.len, e->text, e->len);
            J->got.len += e->len;
            assert_true(e->token >= 0 || e->len > 0 || e->finished || e->prompt_done);
            if (e->finished) {
                assert_true(e->reason != GF_GEN_RUNNING);
                assert_int_equal(gf_generator_stop_reason(g, e->slot), e->reason);
                J->got.reason = e->reason;
                J->done = 1;
                owner[e->slot] = -1;
            } else {
                assert_int_equal(e->reason, GF_GEN_RUNNING);
            }
        }
        /* leaving: a client gone */
        for (int j = 0; j < next; j++) {
            job *J = &jobs[j];
            if (J->done || J->left) continue;
            if ((J->leave_after >= 0 && J->got.n >= J->leave_after) || (J->leave_round >= 0 && round >= J->leave_round)) {
                int before = gf_generator_slots_in_use(g);
                assert_int_equal(gf_generator_leave(g, J->slot), 0);
                assert_int_equal(gf_generator_slots_in_use(g), before - 1);
                assert_int_equal(gf_generator_leave(g, J->slot), -1); /* already free */
                assert_int_equal(gf_generator_context(g, J->slot), 0);
                owner[J->slot] = -1;
                J->left = 1;
            }
        }
        int live = 0;
        for (int s = 0; s < B; s++) live += owner[s] >= 0;
        assert_int_equal(gf_generator_slots_in_use(g), live);
    }
    for (int j = 0; j < nj; j++) assert_true(jobs[j].done || jobs[j].left);
    free(ev);
    free(owner);
    (void)busy_seen;
    return round;
}

/* Jobs: 16 prompts of 1 .. 40 ids (some longer than a chunk), max_tokens
 * 3 .. 22, joining at rounds 0 .. 30. */
static void make_jobs(job *jobs, int nj, int V, const gf_gen_params *base, uint64_t seed) {
    uint64_t s = seed;
    for (int j = 0; j < nj; j++) {
        job *J = &jobs[j];
        memset(J, 0, sizeof *J);
        J->n = j == 0 ? 1 : 1 + lcg(&s) % 40;
        for (size_t i = 0; i < J->n; i++) J->prompt[i] = (int32_t)(lcg(&s) % (uint64_t)V);
        J->p = *base;
        J->p.max_tokens = 3 + (long)(lcg(&s) % 20);
        J->p.seed = base->seed + 1000 * (uint64_t)j;
        J->at = (int)(j < 4 ? 0 : lcg(&s) % 30);
        J->leave_after = J->leave_round = -1;
    }
    /* in order of joining */
    for (int a = 1; a < nj; a++)
        for (int b = a; b > 0 && jobs[b].at < jobs[b - 1].at; b--) {
            job t = jobs[b];
            jobs[b] = jobs[b - 1];
            jobs[b - 1] = t;
        }
}

static void check_jobs(const gf_model *m, const gf_tokenizer *tk, job *jobs, int nj) {
    for (int j = 0; j < nj; j++) {
        run want;
        reference(m, tk, jobs[j].prompt, jobs[j].n, &jobs[j].p, &want);
        const run *got = &jobs[j].got;
        if (jobs[j].left) {
            assert_true(got->n <= want.n);
            assert_memory_equal(got->toks, want.toks, sizeof(int32_t) * (size_t)got->n);
            continue;
        }
        if (got->n != want.n || memcmp(got->toks, want.toks, sizeof(int32_t) * (size_t)got->n)) {
            for (int i = 0; i < want.n || i < got->n; i++)
                print_message("  job %d id %d: want %d got %d\n", j, i, i < want.n ? want.toks[i] : -9,
                              i < got->n ? got->toks[i] : -9);
            fail_msg("job %d (prompt %zu ids) differs from its batch-1 run", j, jobs[j].n);
        }
        assert_int_equal(got->reason, want.reason);
        assert_int_equal(got->len, want.len);
        assert_memory_equal(got->text, want.text, want.len);
    }
}

static void run_and_check(const gf_model *m, const gf_tokenizer *tk, int B, int chunk, job *jobs, int nj) {
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gf_generator *g = gf_generator_new(m, tk, B, &gp, &err);
    if (!g) fail_msg("%s", err.msg);
    gf_generator_set_chunk(g, chunk);
    int rounds = run_jobs(g, jobs, nj);
    gf_gen_counts c;
    gf_generator_counts(g, &c);
    int64_t fed = 0, emitted = 0;
    for (int j = 0; j < nj; j++) fed += (int64_t)jobs[j].n, emitted += jobs[j].got.n;
    assert_int_equal(c.fed, fed);
    assert_int_equal(c.generated, emitted);
    /* a prompt's last id rides in a decode step: with one prompt id a round,
     * a prompt of n ids takes n - 1 prefills of its own */
    int64_t own = 0, any_left = 0;
    for (int j = 0; j < nj; j++) own += (int64_t)jobs[j].n - 1, any_left |= jobs[j].left;
    if (chunk == 1 && !any_left) assert_int_equal(c.prefills, own);
    assert_int_equal(gf_generator_slots_in_use(g), 0);
    check_jobs(m, tk, jobs, nj);
    print_message("    B %d, chunk %3d: %d rounds, %lld ids emitted, %lld fed back\n", B, chunk, rounds,
                  (long long)c.generated, (long long)c.decoded);
    gf_generator_free(g);
}

/* ---- equality with batch 1 ------------------------------------------------------- */

static void equal_runs(const gf_gen_params *base, uint64_t seed) {
    enum { NJ = 16 };
    static job jobs[NJ];
    gf_model *hawk = td_golden_model("hawk"), *griffin = td_golden_model("griffin"), *mqa = td_golden_model("mqa");
    gf_trainable *rh = td_random_trainable("hawk", 256, 11), *rg = td_random_trainable("griffin", 1000, 12),
                 *rm = td_random_trainable("mqa", 512, 13);
    const gf_model *models[] = {hawk, griffin, mqa, gf_trainable_model(rh), gf_trainable_model(rg), gf_trainable_model(rm)};
    const int chunks[] = {1, 3, 256};
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++) {
            int V = gf_model_config(models[i])->vocab_size;
            make_jobs(jobs, NJ, V, base, seed + (uint64_t)i);
            run_and_check(models[i], NULL, 5, chunks[c], jobs, NJ);
        }
    /* one slot (no spare state): one after another */
    make_jobs(jobs, 6, 1000, base, seed);
    run_and_check(gf_trainable_model(rg), NULL, 1, 3, jobs, 6);
    /* as many slots as sequences: all at once */
    make_jobs(jobs, NJ, 1000, base, seed);
    run_and_check(gf_trainable_model(rg), NULL, NJ, 7, jobs, NJ);
    gf_model_free(hawk);
    gf_model_free(griffin);
    gf_model_free(mqa);
    gf_trainable_free(rh);
    gf_trainable_free(rg);
    gf_trainable_free(rm);
}

static void test_greedy_equals_batch1(void **state) {
    (void)state;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 0.0f;
    equal_runs(&gp, 1);
}

static void test_seeded_equals_batch1(void **state) {
    (void)state;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 1.0f;
    gp.top_k = 40;
    gp.top_p = 0.95f;
    gp.min_p = 0.02f;
    gp.repeat_penalty = 1.2f;
    gp.repeat_last_n = 8;
    gp.seed = 77;
    equal_runs(&gp, 2);
}

/* Different parameters side by side: greedy, seeded, penalised slots in one
 * batch. */
static void test_mixed_params(void **state) {
    (void)state;
    enum { NJ = 12 };
    static job jobs[NJ];
    gf_trainable *rg = td_random_trainable("griffin", 1000, 21);
    const gf_model *m = gf_trainable_model(rg);
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    make_jobs(jobs, NJ, 1000, &gp, 5);
    for (int j = 0; j < NJ; j++) {
        gf_gen_params *p = &jobs[j].p;
        switch (j % 4) {
        case 0: p->temperature = 0.0f; break;
        case 1: p->temperature = 1.3f, p->top_k = 0, p->top_p = 1.0f; break;
        case 2: p->temperature = 0.7f, p->repeat_penalty = 1.5f, p->repeat_last_n = 4 + j; break;
        case 3: p->temperature = 1.0f, p->min_p = 0.1f, p->max_tokens = 0; break;
        }
    }
    run_and_check(m, NULL, 4, 5, jobs, NJ);
    for (int j = 3; j < NJ; j += 4) {
        assert_int_equal(jobs[j].got.n, 0);
        assert_int_equal(jobs[j].got.reason, GF_GEN_MAX_TOKENS);
    }
    gf_trainable_free(rg);
}

/* Riders: one-id prompts joining beside decoding slots cost no prefill of
 * their own (their id goes through the decode step) and give what batch 1
 * gives; the multi-id prompts beside them take one prefill each. */
static void test_riders(void **state) {
    (void)state;
    enum { NJ = 8 };
    static job jobs[NJ];
    const char *kinds[] = {"hawk", "griffin", "mqa"};
    for (int k = 0; k < 3; k++) {
        gf_trainable *t = td_random_trainable(kinds[k], 700, 41 + (uint64_t)k);
        const gf_model *m = gf_trainable_model(t);
        gf_gen_params gp;
        gf_gen_params_default(&gp);
        gp.temperature = 0.0f;
        make_jobs(jobs, NJ, 700, &gp, 9);
        const size_t n[NJ] = {10, 1, 7, 12, 1, 1, 1, 1};
        const int at[NJ] = {0, 0, 0, 0, 2, 2, 2, 5};
        for (int j = 0; j < NJ; j++) jobs[j].n = n[j], jobs[j].at = at[j], jobs[j].p.max_tokens = 12;
        gf_error err;
        gf_generator *g = gf_generator_new(m, NULL, NJ, &gp, &err);
        if (!g) fail_msg("%s", err.msg);
        run_jobs(g, jobs, NJ);
        gf_gen_counts c;
        gf_generator_counts(g, &c);
        assert_int_equal(c.prefills, 3); /* the 10-, 7- and 12-id prompts */
        check_jobs(m, NULL, jobs, NJ);
        gf_generator_free(g);
        gf_trainable_free(t);
    }
}

/* ---- rounds: chunks and time between tokens --------------------------------------- */

static void test_chunks(void **state) {
    (void)state;
    gf_trainable *rh = td_random_trainable("hawk", 300, 31);
    const gf_model *m = gf_trainable_model(rh);
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 0.0f;
    gp.max_tokens = -1;
    gf_generator *g = gf_generator_new(m, NULL, 3, &gp, &err);
    gf_generator_set_chunk(g, 4);
    int32_t a[] = {1, 2}, b[23];
    for (int i = 0; i < 23; i++) b[i] = (int32_t)(7 * i + 3);
    gf_gen_event ev[3];
    int n_ev;
    assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 0); /* nothing joined: nothing done */
    assert_int_equal(n_ev, 0);
    int sa = gf_generator_join(g, a, 2, NULL, &err);
    assert_int_equal(sa, 0);
    assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 1);
    assert_int_equal(n_ev, 1);
    assert_true(ev[0].prompt_done && ev[0].token >= 0 && !ev[0].finished); /* the first id with it */
    int sb = gf_generator_join(g, b, 23, NULL, &err);
    assert_int_equal(sb, 1);
    assert_int_equal(gf_generator_context(g, sb), 23);
    /* 23 ids in chunks of 4: done in the 6th round; meanwhile a emits every round */
    for (int r = 1; r <= 6; r++) {
        assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 2);
        assert_int_equal(ev[0].slot, sa);
        assert_true(ev[0].token >= 0);
        assert_int_equal(gf_generator_context(g, sb), 23 + (r == 6));
        if (r < 6) {
            assert_int_equal(n_ev, 1);
            assert_null(gf_generator_save(g, sb, &err)); /* still prefilling */
            td_expect_one_line(&err, "prefilling");
        } else {
            assert_int_equal(n_ev, 2);
            assert_true(ev[1].prompt_done && ev[1].token >= 0);
        }
    }
    assert_int_equal(gf_generator_context(g, sa), 2 + 7);
    assert_int_equal(gf_generator_generated(g, sa), 7);
    gf_generator_free(g);
    gf_trainable_free(rh);
}

/* ---- non-finite logits -------------------------------------------------------------- */

/* A slot whose logits hold a NaN draws nothing: the round fails with one
 * line naming the decode step, the slot finishes with GF_GEN_ERROR in the
 * events, and the other slot goes on (what the server answers with a 500
 * for that request alone). The damage is in the embedding row of an id
 * only the second prompt holds, so only its sequence meets it. */
static void test_nonfinite_logits(void **state) {
    (void)state;
    gf_trainable *rh = td_random_trainable("griffin", 300, 33); /* soft-capped */
    const gf_model *m = gf_trainable_model(rh);
    assert_string_equal(rh->info[0].name, "model.embed_tokens.weight");
    size_t D = (size_t)gf_model_config(m)->width;
    const int32_t bad_id = 299;
    /* one huge (finite) weight: the tied unembedding turns it into a large
     * logit the soft cap bounds, but fed as an input it overflows the
     * residual stream (Inf x the norm's 0 = NaN) */
    float *row = rh->params + rh->info[0].offset + (size_t)bad_id * D;
    for (size_t i = 0; i < D; i++) row[i] = 0.0f;
    row[0] = 3e38f;
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 0.0f;
    gp.max_tokens = 1; /* (a's one id could be 299 itself: the capped logit is large) */
    gf_generator *g = gf_generator_new(m, NULL, 2, &gp, &err);
    int32_t a[] = {1, 2, 3}, b[] = {4, bad_id, 6};
    int sa = gf_generator_join(g, a, 3, NULL, &err), sb = gf_generator_join(g, b, 3, NULL, &err);
    assert_true(sa >= 0 && sb >= 0 && sa != sb);
    gf_gen_event ev[2];
    int n_ev;
    memset(&err, 0, sizeof err);
    int rounds = 0, rc;
    while ((rc = gf_generator_round(g, ev, &n_ev, &err)) > 0 && ++rounds < 10) {
    }
    print_message("    round %d: %s\n", rounds + 1, err.msg);
    assert_int_equal(rc, -1);
    td_expect_one_line(&err, "decode step 1: non-finite logits");
    int seen_a = 0, seen_b = 0;
    for (int i = 0; i < n_ev; i++) {
        if (ev[i].slot == sb) {
            seen_b = 1;
            assert_true(ev[i].finished);
            assert_int_equal(ev[i].reason, GF_GEN_ERROR);
            assert_int_equal(ev[i].token, -1);
        } else {
            seen_a = 1;
            assert_true(ev[i].finished && ev[i].token >= 0);
            assert_int_equal(ev[i].reason, GF_GEN_MAX_TOKENS);
        }
    }
    assert_true(seen_a && seen_b);
    assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 0); /* both done */
    assert_int_equal(gf_generator_generated(g, sa), 1);
    assert_int_equal(gf_generator_generated(g, sb), 0);
    gf_generator_free(g);
    gf_trainable_free(rh);
}

/* ---- leaving ------------------------------------------------------------------------ */

static void test_leave(void **state) {
    (void)state;
    enum { NJ = 12 };
    static job jobs[NJ];
    gf_trainable *rg = td_random_trainable("griffin", 1000, 41);
    const gf_model *m = gf_trainable_model(rg);
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 0.9f;
    for (int c = 1; c <= 8; c += 7) {
        make_jobs(jobs, NJ, 1000, &gp, 9 + (uint64_t)c);
        for (int j = 0; j < NJ; j++) jobs[j].p.max_tokens = 20;
        jobs[1].leave_after = 3;  /* decoding */
        jobs[4].leave_after = 1;  /* right after its first id */
        jobs[6].n = 60;           /* still prefilling (chunk 1 or 8) */
        for (size_t i = 0; i < 60; i++) jobs[6].prompt[i] = (int32_t)(i * 13 % 1000);
        jobs[6].leave_round = jobs[6].at + 2;
        run_and_check(m, NULL, 4, c, jobs, NJ);
        assert_true(jobs[1].left && jobs[4].left && jobs[6].left);
        assert_int_equal(jobs[1].got.n, 3);
        assert_int_equal(jobs[4].got.n, 1);
        assert_int_equal(jobs[6].got.n, 0);
    }
    /* a finished slot dropped by leave; leave outside; leave in batch mode */
    gf_error err;
    gf_generator *g = gf_generator_new(m, NULL, 2, &gp, &err);
    assert_int_equal(gf_generator_leave(g, 0), -1);
    int32_t p[] = {3, 4, 5};
    gf_gen_params one = gp;
    one.max_tokens = 1;
    int s = gf_generator_join(g, p, 3, &one, &err);
    gf_gen_event ev[2];
    int n_ev;
    assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 0);
    assert_true(ev[0].finished && ev[0].reason == GF_GEN_MAX_TOKENS);
    assert_int_equal(gf_generator_slots_in_use(g), 0);
    assert_int_equal(gf_generator_context(g, s), 4);
    assert_int_equal(gf_generator_leave(g, s), 0);
    assert_int_equal(gf_generator_context(g, s), 0);
    assert_null(gf_generator_save(g, s, &err));
    td_expect_one_line(&err, "holds no sequence");
    assert_int_equal(gf_generator_leave(g, 2), -1);
    assert_int_equal(gf_generator_leave(g, -1), -1);
    gf_generator_free(g);
    gf_trainable_free(rg);
}

/* ---- snapshots ---------------------------------------------------------------------- */

/* The ids of a fresh join of prompt (with p), run alone to its end. */
static void alone(const gf_model *m, const int32_t *prompt, size_t n, const gf_gen_params *p, const gf_gen_snapshot *from,
                  run *out) {
    gf_error err;
    gf_generator *g = gf_generator_new(m, NULL, 2, p, &err);
    int s = from ? gf_generator_join_from(g, from, prompt, n, p, &err) : gf_generator_join(g, prompt, n, p, &err);
    if (s < 0) fail_msg("%s", err.msg);
    memset(out, 0, sizeof *out);
    gf_gen_event ev[2];
    int n_ev;
    for (int r = 1; r > 0;) {
        r = gf_generator_round(g, ev, &n_ev, &err);
        assert_true(r >= 0);
        for (int i = 0; i < n_ev; i++) {
            if (ev[i].token >= 0) out->toks[out->n++] = ev[i].token;
            if (ev[i].finished) out->reason = ev[i].reason;
        }
    }
    gf_generator_free(g);
}

static void test_join_from(void **state) {
    (void)state;
    gf_trainable *rg = td_random_trainable("griffin", 1000, 51);
    const gf_model *m = gf_trainable_model(rg);
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 0.8f;
    gp.repeat_penalty = 1.3f;
    gp.repeat_last_n = 16;
    gp.max_tokens = 6;
    gf_gen_params cont = gp;
    cont.seed = 99;
    cont.max_tokens = 10;
    gf_generator *g = gf_generator_new(m, NULL, 3, &gp, &err);
    gf_generator_set_chunk(g, 5);
    const int32_t pa[] = {5, 6, 7, 8, 9, 10, 11}, pb[] = {100, 200, 300}, more[] = {42, 43, 44, 45};
    int32_t ctx_a[64], ctx_b[64];
    size_t na = 7, nb = 3;
    memcpy(ctx_a, pa, sizeof pa);
    memcpy(ctx_b, pb, sizeof pb);
    gf_gen_params pb_params = gp;
    pb_params.max_tokens = 30;
    pb_params.seed = 5;
    int sa = gf_generator_join(g, pa, na, NULL, &err), sb = gf_generator_join(g, pb, nb, &pb_params, &err);
    assert_true(sa >= 0 && sb >= 0 && sa != sb);
    gf_gen_snapshot *fin = NULL, *mid = NULL;
    size_t mid_len = 0;
    int32_t ctx_mid[64];
    gf_gen_event ev[3];
    int n_ev, rounds = 0;
    while (gf_generator_slots_in_use(g) > 0) {
        assert_true(gf_generator_round(g, ev, &n_ev, &err) >= 0);
        rounds++;
        for (int i = 0; i < n_ev; i++) {
            if (ev[i].slot == sa && ev[i].token >= 0) ctx_a[na++] = ev[i].token;
            if (ev[i].slot == sb && ev[i].token >= 0) ctx_b[nb++] = ev[i].token;
            if (ev[i].slot == sa && ev[i].finished) {
                /* right in the event handling */
                fin = gf_generator_save(g, sa, &err);
                if (!fin) fail_msg("%s", err.msg);
            }
        }
        if (rounds == 4) { /* b between rounds, decoding */
            mid = gf_generator_save(g, sb, &err);
            if (!mid) fail_msg("%s", err.msg);
            mid_len = nb;
            memcpy(ctx_mid, ctx_b, nb * sizeof *ctx_b);
            assert_int_equal(gf_gen_snapshot_context(mid), nb);
        }
    }
    assert_non_null(fin);
    assert_int_equal(na, 7 + 6);
    assert_int_equal(gf_gen_snapshot_context(fin), na); /* the prompt and all 6 ids emitted */
    /* a finished slot keeps its state until a join takes it: saved again
     * after b ran on, the same context */
    gf_gen_snapshot *fin2 = gf_generator_save(g, sa, &err);
    assert_non_null(fin2);
    assert_int_equal(gf_gen_snapshot_context(fin2), na);
    /* continuing a from the snapshot with more ids = joining its whole context and them */
    run x, y;
    memcpy(ctx_a + na, more, sizeof more);
    alone(m, more, 4, &cont, fin, &x);
    alone(m, ctx_a, na + 4, &cont, NULL, &y);
    assert_int_equal(x.n, 10);
    assert_int_equal(x.n, y.n);
    assert_memory_equal(x.toks, y.toks, sizeof(int32_t) * (size_t)x.n);
    alone(m, more, 4, &cont, fin2, &x);
    assert_memory_equal(x.toks, y.toks, sizeof(int32_t) * (size_t)x.n);
    /* nothing more: sampling on from the context (its last id fed first) */
    alone(m, NULL, 0, &cont, fin, &x);
    alone(m, ctx_a, na, &cont, NULL, &y);
    assert_memory_equal(x.toks, y.toks, sizeof(int32_t) * 10);
    /* b's snapshot between rounds */
    assert_true(mid_len > 3);
    memcpy(ctx_mid + mid_len, more, sizeof more);
    alone(m, more, 2, &cont, mid, &x);
    alone(m, ctx_mid, mid_len + 2, &cont, NULL, &y);
    assert_memory_equal(x.toks, y.toks, sizeof(int32_t) * 10);
    /* the same generator: join_from into a running batch */
    assert_int_equal(gf_generator_join(g, pb, 3, &pb_params, &err) >= 0, 1);
    int sx = gf_generator_join_from(g, fin, more, 4, &cont, &err);
    assert_true(sx >= 0);
    assert_int_equal(gf_generator_context(g, sx), (int64_t)(na + 4));
    run z;
    memset(&z, 0, sizeof z);
    while (gf_generator_slots_in_use(g) > 0) {
        assert_true(gf_generator_round(g, ev, &n_ev, &err) >= 0);
        for (int i = 0; i < n_ev; i++)
            if (ev[i].slot == sx && ev[i].token >= 0) z.toks[z.n++] = ev[i].token;
    }
    alone(m, ctx_a, na + 4, &cont, NULL, &y);
    assert_int_equal(z.n, y.n);
    assert_memory_equal(z.toks, y.toks, sizeof(int32_t) * (size_t)z.n);
    /* a batch-mode snapshot right after a feed: its logits ready, nothing to
     * feed; join_from with no ids samples from them */
    gf_generator *f = gf_generator_new(m, NULL, 1, &gp, &err);
    assert_int_equal(gf_generator_feed(f, pa, 7, &err), 0);
    gf_gen_snapshot *fed = gf_generator_save(f, 0, &err);
    assert_int_equal(gf_gen_snapshot_context(fed), 7);
    alone(m, NULL, 0, &cont, fed, &x);
    run w;
    reference(m, NULL, pa, 7, &cont, &w);
    assert_int_equal(x.n, w.n);
    assert_memory_equal(x.toks, w.toks, sizeof(int32_t) * (size_t)x.n);
    /* a snapshot of nothing cannot be sampled from */
    gf_generator_reset(f);
    gf_gen_snapshot *empty = gf_generator_save(f, 0, &err);
    assert_non_null(empty);
    assert_int_equal(gf_gen_snapshot_context(empty), 0);
    gf_generator *h = gf_generator_new(m, NULL, 1, &gp, &err);
    assert_int_equal(gf_generator_join_from(h, empty, NULL, 0, NULL, &err), -1);
    td_expect_one_line(&err, "holds no context");
    assert_int_equal(gf_generator_slots_in_use(h), 0);
    int se = gf_generator_join_from(h, empty, pa, 7, &cont, &err); /* with ids it is a join */
    assert_int_equal(se, 0);
    z.n = 0;
    while (gf_generator_slots_in_use(h) > 0) {
        assert_true(gf_generator_round(h, ev, &n_ev, &err) >= 0);
        for (int i = 0; i < n_ev; i++)
            if (ev[i].token >= 0) z.toks[z.n++] = ev[i].token;
    }
    assert_int_equal(z.n, w.n);
    assert_memory_equal(z.toks, w.toks, sizeof(int32_t) * (size_t)z.n);
    /* another model's */
    gf_model *hawk = td_golden_model("hawk");
    gf_generator *gh = gf_generator_new(hawk, NULL, 1, &gp, &err);
    assert_int_equal(gf_generator_join_from(gh, fin, more, 4, NULL, &err), -1);
    td_expect_one_line(&err, "another model");
    gf_generator_free(gh);
    gf_model_free(hawk);
    gf_gen_snapshot_free(fin);
    gf_gen_snapshot_free(fin2);
    gf_gen_snapshot_free(mid);
    gf_gen_snapshot_free(fed);
    gf_gen_snapshot_free(empty);
    gf_generator_free(f);
    gf_generator_free(h);
    gf_generator_free(g);
    gf_trainable_free(rg);
}

/* A stop id ends a slot without emitting or feeding it: the context is the
 * prompt and the ids before it. */
static void test_stop_id_context(void **state) {
    (void)state;
    gf_trainable *rh = td_random_trainable("hawk", 256, 61);
    const gf_model *m = gf_trainable_model(rh);
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 1.0f;
    gp.seed = 3;
    gp.max_tokens = 30;
    const int32_t prompt[] = {9, 8, 7, 6};
    run free_run, want;
    reference(m, NULL, prompt, 4, &gp, &free_run);
    int32_t stop = free_run.toks[5];
    int k = 0;
    while (free_run.toks[k] != stop) k++;
    gf_gen_params sp = gp;
    sp.stop_ids = &stop;
    sp.n_stop_ids = 1;
    reference(m, NULL, prompt, 4, &sp, &want);
    assert_int_equal(want.n, k);
    assert_int_equal(want.reason, GF_GEN_STOP_ID);
    gf_generator *g = gf_generator_new(m, NULL, 2, &gp, &err);
    int32_t copy[1] = {stop};
    sp.stop_ids = copy;
    int s = gf_generator_join(g, prompt, 4, &sp, &err);
    copy[0] = -5; /* the caller's array may change or go after the join */
    gf_gen_event ev[2];
    int n_ev, n = 0, fin = 0;
    int32_t got[64];
    while (!fin) {
        assert_true(gf_generator_round(g, ev, &n_ev, &err) >= 0);
        for (int i = 0; i < n_ev; i++) {
            if (ev[i].token >= 0) got[n++] = ev[i].token;
            if (ev[i].finished) {
                fin = 1;
                assert_int_equal(ev[i].reason, GF_GEN_STOP_ID);
                assert_int_equal(ev[i].token, -1);
            }
        }
    }
    assert_int_equal(n, k);
    assert_memory_equal(got, want.toks, sizeof(int32_t) * (size_t)k);
    gf_gen_snapshot *snap = gf_generator_save(g, s, &err);
    assert_int_equal(gf_gen_snapshot_context(snap), (size_t)(4 + k));
    assert_int_equal(gf_generator_context(g, s), 4 + k);
    gf_gen_snapshot_free(snap);
    gf_generator_free(g);
    gf_trainable_free(rh);
}

/* ---- text, stop strings, max_tokens per slot ------------------------------------------- */

static void test_stop_strings(void **state) {
    (void)state;
    enum { NJ = 10 };
    static job jobs[NJ];
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_trainable *tm = td_random_trainable("hawk", 4000, 71);
    const gf_model *m = gf_trainable_model(tm);
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 1.0f;
    gp.top_k = 0;
    gp.top_p = 1.0f;
    /* stop strings: bytes of each job's free run, from its middle */
    static char stops[NJ][3][16];
    static const char *stop_ptrs[NJ][3];
    int32_t eos = 1;
    for (int pass = 0; pass < 2; pass++) {
        make_jobs(jobs, NJ, 4000, &gp, 81);
        for (int j = 0; j < NJ; j++) {
            job *J = &jobs[j];
            J->p.max_tokens = 12 + j * 3;
            if (pass == 0) continue;
            run free_run;
            gf_gen_params fp = J->p;
            reference(m, tk, J->prompt, J->n, &fp, &free_run);
            int ns = 0;
            if (j % 3 != 2 && free_run.len > 10) {
                size_t at = free_run.len / 2, l = j % 2 ? 2 : 3;
                memcpy(stops[j][ns], free_run.text + at, l);
                stops[j][ns][l] = 0;
                if (strlen(stops[j][ns]) == l) ns++;
            }
            snprintf(stops[j][ns], 16, "\x01zz%d", j); /* never met */
            ns++;
            for (int i = 0; i < ns; i++) stop_ptrs[j][i] = stops[j][i];
            J->p.stop_strings = stop_ptrs[j];
            J->p.n_stop_strings = ns;
            if (j == 4) J->p.stop_ids = &eos, J->p.n_stop_ids = 1;
        }
        gf_error err;
        gf_generator *g = gf_generator_new(m, tk, 4, &gp, &err);
        assert_non_null(g);
        gf_generator_set_chunk(g, 6);
        run_jobs(g, jobs, NJ);
        check_jobs(m, tk, jobs, NJ); /* ids, text and reason of each */
        int by_string = 0, by_max = 0;
        for (int j = 0; j < NJ; j++) {
            by_string += jobs[j].got.reason == GF_GEN_STOP_STRING;
            by_max += jobs[j].got.reason == GF_GEN_MAX_TOKENS;
        }
        print_message("    pass %d: %d stopped by a string, %d by max_tokens\n", pass, by_string, by_max);
        if (pass == 1) assert_true(by_string >= 3);
        assert_true(by_max >= 1);
        gf_generator_free(g);
    }
    gf_trainable_free(tm);
    gf_tokenizer_free(tk);
}

/* ---- allocations ---------------------------------------------------------------------- */

static void test_round_allocates_nothing(void **state) {
    (void)state;
#if TD_COUNT_ALLOCS
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_trainable *tm = td_random_trainable("griffin", 4000, 91);
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 1.0f;
    gp.min_p = 0.01f;
    gp.repeat_penalty = 1.1f;
    gp.repeat_last_n = 16;
    const char *stops[] = {"\x01\x02", "the end", "\xEF\xBF\xBD\xEF\xBF\xBD"};
    gp.stop_strings = stops;
    gp.n_stop_strings = 3;
    gf_generator *g = gf_generator_new(gf_trainable_model(tm), tk, 4, &gp, &err);
    assert_non_null(g);
    const int32_t prompt[] = {2, 100, 101, 102, 103};
    for (int j = 0; j < 4; j++) {
        gf_gen_params p = gp;
        p.seed = (uint64_t)j;
        p.max_tokens = 10 + 7 * j;
        p.repeat_last_n = 8 * (j + 1);
        assert_true(gf_generator_join(g, prompt + (j % 2), 5 - (size_t)(j % 2), &p, &err) >= 0);
    }
    gf_gen_event ev[4];
    int n_ev;
    assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 4); /* the prompts (chunk 256) */
    assert_int_equal(n_ev, 4);
    td_alloc_count_start();
    int rounds = 0, left = 0;
    for (int r = 1; r > 0; rounds++) {
        r = gf_generator_round(g, ev, &n_ev, &err);
        if (rounds == 5) left = gf_generator_leave(g, 2) == 0; /* a client gone, mid-batch */
    }
    long allocs = td_alloc_count_stop();
    print_message("    %d rounds, %ld allocations\n", rounds, allocs);
    assert_int_equal(allocs, 0);
    assert_true(left);
    assert_true(rounds >= 6 && rounds <= 30); /* the longest: 31 ids at most, the first with its prompt */
    gf_generator_free(g);
    gf_trainable_free(tm);
    gf_tokenizer_free(tk);
#else
    skip();
#endif
}

/* ---- modes and errors ------------------------------------------------------------------ */

static void test_errors(void **state) {
    (void)state;
    gf_model *m = td_golden_model("hawk");
    gf_error err;
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.max_tokens = 4;
    gf_generator *g = gf_generator_new(m, NULL, 2, &gp, &err);
    const int32_t ids[] = {5, 6, 7}, bad[] = {5, 256};
    /* bad input changes nothing: still a batch generator */
    assert_int_equal(gf_generator_join(g, bad, 2, NULL, &err), -1);
    td_expect_one_line(&err, "id 256");
    assert_int_equal(gf_generator_join(g, ids, 0, NULL, &err), -1);
    td_expect_one_line(&err, "empty prompt");
    gf_gen_params nan = gp;
    nan.temperature = NAN;
    assert_int_equal(gf_generator_join(g, ids, 3, &nan, &err), -1);
    td_expect_one_line(&err, "join: temperature");
    gf_gen_params ss = gp;
    const char *s1[] = {"x"};
    ss.stop_strings = s1;
    ss.n_stop_strings = 1;
    assert_int_equal(gf_generator_join(g, ids, 3, &ss, &err), -1);
    td_expect_one_line(&err, "tokenizer");
    assert_int_equal(gf_generator_slots_in_use(g), 0);
    assert_int_equal(gf_generator_feed(g, ids, 3, &err), 0);
    /* fed as a batch: no slots until a reset */
    assert_int_equal(gf_generator_join(g, ids, 3, NULL, &err), -1);
    td_expect_one_line(&err, "reset");
    gf_generator_reset(g);
    /* all busy */
    assert_int_equal(gf_generator_join(g, ids, 3, NULL, &err), 0);
    assert_int_equal(gf_generator_join(g, ids, 2, NULL, &err), 1);
    assert_int_equal(gf_generator_join(g, ids, 1, NULL, &err), -1);
    td_expect_one_line(&err, "all 2 slots are in use");
    assert_int_equal(gf_generator_slots_in_use(g), 2);
    /* batch calls refused while it runs slots */
    int32_t t[2];
    assert_int_equal(gf_generator_feed(g, ids, 3, &err), -1);
    td_expect_one_line(&err, "runs slots");
    assert_int_equal(gf_generator_step(g, t, &err), -1);
    td_expect_one_line(&err, "runs slots");
    assert_int_equal(gf_generator_cancel(g, 0), -1);
    gf_gen_event ev[2];
    int n_ev;
    assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 2);
    gf_gen_snapshot *s = gf_generator_save(g, 0, &err);
    assert_non_null(s);
    assert_int_equal(gf_generator_restore(g, 1, s, &err), -1);
    td_expect_one_line(&err, "join_from");
    /* a slot freed by leave is joined again at once */
    assert_int_equal(gf_generator_leave(g, 1), 0);
    assert_int_equal(gf_generator_join(g, ids, 3, NULL, &err), 1);
    /* reset: a batch again, with the samplers it had (a fresh generator's ids) */
    gf_generator_reset(g);
    assert_int_equal(gf_generator_slots_in_use(g), 0);
    assert_int_equal(gf_generator_round(g, ev, &n_ev, &err), 0);
    gf_generator *fresh = gf_generator_new(m, NULL, 2, &gp, &err);
    assert_int_equal(gf_generator_feed(g, ids, 3, &err), 0);
    assert_int_equal(gf_generator_feed(fresh, ids, 3, &err), 0);
    for (int i = 0; i < 4; i++) {
        int32_t a[2], b[2];
        assert_int_equal(gf_generator_step(g, a, &err), gf_generator_step(fresh, b, &err));
        assert_memory_equal(a, b, sizeof a);
    }
    gf_gen_snapshot_free(s);
    gf_generator_free(g);
    gf_generator_free(fresh);
    gf_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_equals_batch1),
        cmocka_unit_test(test_seeded_equals_batch1),
        cmocka_unit_test(test_mixed_params),
        cmocka_unit_test(test_riders),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_nonfinite_logits),
        cmocka_unit_test(test_leave),
        cmocka_unit_test(test_join_from),
        cmocka_unit_test(test_stop_id_context),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_round_allocates_nothing),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("slots", tests, NULL, NULL);
}
