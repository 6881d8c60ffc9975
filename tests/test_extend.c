/* gf_prefill_extend (T more tokens of one sequence of a state, in one pass)
 * and gf_decode_step_n (the first n sequences of a state), against the token
 * by token reference: gf_decode_step_n(n = 1) on a batch-1 state, one token
 * per call, whose decode path test_golden holds to the official code.
 *
 * Models: the three golden ones (Griffin and the MQA Transformer with a
 * window of 8, Hawk without attention), two random Griffin-shaped ones with
 * more attention (window 3, which a chunk wraps many times and each 64-key
 * block of the batched attention crosses, and window 70, whose ring part
 * spans a 64-key block boundary and a wrap), and the golden ones quantised
 * to BF16, Q8 and Q4.
 *
 * Tolerances. F32 weights: logits within 1e-4 absolute, the bound test_golden
 * holds prefill and decode each to the official logits to (and test_quantize
 * float-input decode to prefill): every model here caps its logits at 30
 * (logits_soft_cap), so that is 3e-6 of their largest possible magnitude,
 * a few float32 roundings of sums taken in another order (the chunk's
 * products go to OpenBLAS, a step's to the gemv kernels; the attention sums
 * its keys in 64-key blocks with a running max, a step in one softmax).
 * States: within 1e-5 of the largest magnitude of the part compared (keys,
 * values, h, conv tail), test_golden's state bound (the official prefill
 * and decode states agree to 1.5e-6), relative here as the random models'
 * parts are not of the golden ones' size. Quantised weights with the inputs
 * narrowed to int8 / bfloat16 (on by default where the CPU has the
 * instructions): logits within 0.05 of max |logit| (test_quantize's
 * NARROW_TOL), as an activation a rounding apart can land on the other side
 * of a half-way point of the int8 grid and take the next code
 * (test_quantize's test_narrow_decode_vs_prefill says why decode and prefill
 * part there); the same models with the inputs left float: 1e-4 as F32.
 *
 * Bit for bit: the rows of a state an extend or a decode_step_n does not
 * name (and the whole state after a refused call); a row extended inside a
 * batch of 3 against the same extend on a batch-1 copy of it; the first two
 * rows of a batch-4 decode_step_n(2) against a batch-2 decode step.
 *
 * test_speed prints extend of 512 tokens against gf_prefill of 512 on a
 * model of configs/griffin-demo.json (no assertion on time; skipped under
 * the sanitizers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define LOGIT_TOL 1e-4
#define STATE_REL_TOL 1e-5
#define NARROW_TOL 0.05

typedef struct {
    const char *name;
    gf_model *m;        /* loaded (golden) */
    gf_trainable *t;    /* or random */
    const gf_model *model;
    int V;
} fixture;

/* A random Griffin of the golden shape with 4 heads of 16, attention in
 * two of three layers and this window. */
static gf_trainable *random_model(int window, uint64_t seed) {
    gf_config cfg;
    gf_error err;
    if (gf_config_load(td_path("golden/griffin/config.json"), &cfg, &err)) fail_msg("%s", err.msg);
    cfg.num_heads = 4;
    cfg.head_dim = cfg.width / 4;
    cfg.num_layers = 3;
    cfg.block_types[0] = GF_BLOCK_ATTENTION;
    cfg.block_types[1] = GF_BLOCK_RECURRENT;
    cfg.block_types[2] = GF_BLOCK_ATTENTION;
    cfg.window = window;
    gf_trainable *t = gf_trainable_new(&cfg, seed, &err);
    if (!t) fail_msg("%s", err.msg);
    return t;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->name = *state;
    gf_error err;
    if (!strcmp(f->name, "window3")) {
        f->t = random_model(3, 11);
        f->model = gf_trainable_model(f->t);
    } else if (!strcmp(f->name, "window70")) {
        f->t = random_model(70, 12);
        f->model = gf_trainable_model(f->t);
    } else {
        f->m = gf_model_load(td_path("golden/%s", f->name), &err);
        if (!f->m) fail_msg("%s", err.msg);
        f->model = f->m;
    }
    f->V = gf_model_config(f->model)->vocab_size;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    gf_model_free(f->m);
    gf_trainable_free(f->t);
    free(f);
    return 0;
}

/* n ids in [0, V) from seed (xorshift). */
static void random_ids(int32_t *ids, int n, int V, uint64_t seed) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)V);
    }
}

static gf_state *new_state(const gf_model *m, int B) {
    gf_error err;
    gf_state *s = gf_state_new(m, B, &err);
    if (!s) fail_msg("%s", err.msg);
    return s;
}

/* Floats of each part of layer i's state of one sequence. */
static void part_sizes(const gf_config *c, int i, size_t *na, size_t *nb) {
    if (c->block_types[i] == GF_BLOCK_ATTENTION) {
        *na = *nb = (size_t)c->window * (size_t)c->head_dim;
    } else {
        *na = (size_t)c->lru_width;
        *nb = (size_t)(c->conv_width - 1) * (size_t)c->lru_width;
    }
}

/* Row b of a against row e of s: the worst part's max |d| relative to its
 * largest magnitude (at least 1e-3 of absolute scale, for parts all but
 * zero); their token counts must be equal. */
static double state_rel_diff(const gf_model *m, gf_state *a, int b, gf_state *s, int e) {
    const gf_config *c = gf_model_config(m);
    assert_int_equal(gf_state_num_tokens(a, b), gf_state_num_tokens(s, e));
    double worst = 0.0;
    for (int i = 0; i < c->num_layers; i++) {
        gf_layer_state la, ls;
        assert_int_equal(gf_state_layer(a, i, b, &la), 0);
        assert_int_equal(gf_state_layer(s, i, e, &ls), 0);
        size_t na, nb;
        part_sizes(c, i, &na, &nb);
        const float *pa[2] = {la.keys ? la.keys : la.rg_lru, la.keys ? la.values : la.conv};
        const float *ps[2] = {ls.keys ? ls.keys : ls.rg_lru, ls.keys ? ls.values : ls.conv};
        size_t n[2] = {na, nb};
        for (int j = 0; j < 2; j++) {
            if (!n[j]) continue;
            double d = td_max_abs_diff(pa[j], ps[j], n[j]), top = fmax(td_max_abs(ps[j], n[j]), 1e-3);
            worst = fmax(worst, d / top);
        }
    }
    return worst;
}

/* Whether row b of a and row e of s are the same bits (and count). */
static int state_rows_identical(const gf_model *m, gf_state *a, int b, gf_state *s, int e) {
    const gf_config *c = gf_model_config(m);
    if (gf_state_num_tokens(a, b) != gf_state_num_tokens(s, e)) return 0;
    for (int i = 0; i < c->num_layers; i++) {
        gf_layer_state la, ls;
        gf_state_layer(a, i, b, &la);
        gf_state_layer(s, i, e, &ls);
        size_t na, nb;
        part_sizes(c, i, &na, &nb);
        const float *pa[2] = {la.keys ? la.keys : la.rg_lru, la.keys ? la.values : la.conv};
        const float *ps[2] = {ls.keys ? ls.keys : ls.rg_lru, ls.keys ? ls.values : ls.conv};
        if (memcmp(pa[0], ps[0], na * sizeof(float)) || (nb && memcmp(pa[1], ps[1], nb * sizeof(float)))) return 0;
    }
    return 1;
}

/* A copy of every row of s. */
static gf_state *snapshot(const gf_model *m, gf_state *s) {
    gf_error err;
    gf_state *c = new_state(m, gf_state_batch(s));
    for (int b = 0; b < gf_state_batch(s); b++)
        if (gf_state_copy(c, b, s, b, &err)) fail_msg("%s", err.msg);
    return c;
}

static void expect_state_unchanged(const gf_model *m, gf_state *s, gf_state *snap, const char *what) {
    for (int b = 0; b < gf_state_batch(s); b++)
        if (!state_rows_identical(m, s, b, snap, b)) fail_msg("%s: row %d of the state changed", what, b);
}

/* The reference: n tokens fed one per gf_decode_step_n(n = 1) call to the
 * batch-1 state one; logits [n, V] after each. */
static void stepwise(const gf_model *m, gf_state *one, const int32_t *ids, int n, float *logits) {
    gf_error err;
    int V = gf_model_config(m)->vocab_size;
    for (int t = 0; t < n; t++)
        if (gf_decode_step_n(m, one, 1, ids + t, NULL, logits + (size_t)t * V, &err)) fail_msg("%s", err.msg);
}

/* Logits against the reference's: the worst |d| (absolute), and the
 * reference's max |logit| into *top when wanted. */
static double logit_diff(const float *got, const float *want, int V, double *top) {
    if (top) *top = fmax(*top, td_max_abs(want, (size_t)V));
    return td_max_abs_diff(got, want, (size_t)V);
}

/* Feeds the ids of seq[0 .. total) to a batch-1 state in chunks of the
 * given sizes (kind[i]: 'p' the first by gf_prefill, 'e' gf_prefill_extend,
 * 'd' that many gf_decode_step calls), and the same ids token by token to
 * another; after each chunk compares the logits of its last token and the
 * states. Returns the worst logit |d|; *state_d the worst state difference,
 * *top the largest |logit| seen. */
static double run_chunks(const gf_model *m, const int32_t *ids, const int *sizes, const char *kind, int n,
                         double *state_d, double *top) {
    gf_error err;
    int V = gf_model_config(m)->vocab_size, total = 0;
    for (int i = 0; i < n; i++) total += sizes[i];
    float *ref = malloc((size_t)total * V * sizeof *ref), *got = malloc((size_t)total * V * sizeof *got);
    assert_true(ref && got);
    gf_state *one = new_state(m, 1), *s = new_state(m, 1);
    double worst = 0.0;
    *state_d = 0.0;
    int at = 0;
    for (int i = 0; i < n; i++) {
        int T = sizes[i];
        stepwise(m, one, ids + at, T, ref + (size_t)at * V);
        float *last = got + (size_t)(at + T - 1) * V;
        if (kind[i] == 'p') {
            assert_int_equal(at, 0);
            float *all = malloc((size_t)T * V * sizeof *all);
            if (gf_prefill(m, 1, T, ids, NULL, all, NULL, s, &err)) fail_msg("%s", err.msg);
            memcpy(got, all, (size_t)T * V * sizeof *all);
            free(all);
        } else if (kind[i] == 'e') {
            if (gf_prefill_extend(m, s, 0, T, ids + at, last, &err)) fail_msg("%s", err.msg);
        } else {
            for (int t = 0; t < T; t++)
                if (gf_decode_step(m, s, ids + at + t, NULL, got + (size_t)(at + t) * V, &err)) fail_msg("%s", err.msg);
        }
        /* every position the chunk gave logits for */
        int from = kind[i] == 'e' ? at + T - 1 : at;
        for (int t = from; t < at + T; t++)
            worst = fmax(worst, logit_diff(got + (size_t)t * V, ref + (size_t)t * V, V, top));
        assert_int_equal(gf_state_num_tokens(s, 0), at + T);
        *state_d = fmax(*state_d, state_rel_diff(m, s, 0, one, 0));
        at += T;
    }
    gf_state_free(one);
    gf_state_free(s);
    free(ref);
    free(got);
    return worst;
}

static void check(const char *what, const char *model, double d, double tol, double sd) {
    print_message("    %-8s %-26s logits max |d| %.3g (bound %.0e), state %.3g of max |part| (bound %.0e)\n",
                  model, what, d, tol, sd, STATE_REL_TOL);
    if (!(d <= tol)) fail_msg("%s %s: logits differ by %.3g > %g", model, what, d, tol);
    if (!(sd <= STATE_REL_TOL)) fail_msg("%s %s: state differs by %.3g > %g", model, what, sd, STATE_REL_TOL);
}

/* Extend from an empty state against gf_prefill: the last logits and the
 * state (and both against the token-by-token reference). */
static void test_from_empty(void **state) {
    fixture *f = *state;
    const gf_model *m = f->model;
    gf_error err;
    int V = f->V;
    const int Ts[] = {1, 2, 7, 20, 150};
    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
        int T = Ts[k];
        int32_t *ids = malloc((size_t)T * sizeof *ids);
        float *all = malloc((size_t)T * V * sizeof *all), *last = malloc((size_t)V * sizeof *last);
        random_ids(ids, T, V, 100 + k);
        gf_state *pre = new_state(m, 1), *ext = new_state(m, 1);
        if (gf_prefill(m, 1, T, ids, NULL, all, NULL, pre, &err)) fail_msg("%s", err.msg);
        if (gf_prefill_extend(m, ext, 0, T, ids, last, &err)) fail_msg("%s", err.msg);
        double d = logit_diff(last, all + (size_t)(T - 1) * V, V, NULL);
        double sd = state_rel_diff(m, ext, 0, pre, 0);
        char what[64];
        snprintf(what, sizeof what, "empty + %d = prefill", T);
        check(what, f->name, d, LOGIT_TOL, sd);
        /* and without logits: the same state */
        gf_state *ext2 = new_state(m, 1);
        if (gf_prefill_extend(m, ext2, 0, T, ids, NULL, &err)) fail_msg("%s", err.msg);
        assert_true(state_rows_identical(m, ext2, 0, ext, 0));
        double sdr;
        int sizes[] = {T};
        d = run_chunks(m, ids, sizes, "e", 1, &sdr, &(double){0});
        snprintf(what, sizeof what, "empty + %d = steps", T);
        check(what, f->name, d, LOGIT_TOL, sdr);
        gf_state_free(pre);
        gf_state_free(ext);
        gf_state_free(ext2);
        free(ids);
        free(all);
        free(last);
    }
}

/* Prefill 5, extend 7, extend 1, decode 3: as 16 tokens token by token. */
static void test_chain(void **state) {
    fixture *f = *state;
    int32_t ids[16];
    random_ids(ids, 16, f->V, 7);
    int sizes[] = {5, 7, 1, 3};
    double sd, d = run_chunks(f->model, ids, sizes, "peed", 4, &sd, &(double){0});
    check("p5 e7 e1 d3 = steps", f->name, d, LOGIT_TOL, sd);
}

/* Chunks that cross the window's boundary several times, and chunks of
 * several tiles and blocks of the batched attention (16 queries, 64 keys),
 * between decode steps and from an extend's own start. */
static void test_window_crossings(void **state) {
    fixture *f = *state;
    const gf_config *c = gf_model_config(f->model);
    int w = c->window;
    int sizes[] = {3, w - 1 > 0 ? w - 1 : 1, 1, w, w + 1, 2, 3 * w + 2, 1, 17, 5 * w + 3, 2 * w, 130, 1};
    char kind[] = "eeeeedeeeedee";
    int n = (int)(sizeof sizes / sizeof sizes[0]), total = 0;
    for (int i = 0; i < n; i++) total += sizes[i];
    int32_t *ids = malloc((size_t)(total + 2 * w + 5) * sizeof *ids); /* room for the second run's */
    random_ids(ids, total + 2 * w + 5, f->V, 99);
    double sd, d = run_chunks(f->model, ids, sizes, kind, n, &sd, &(double){0});
    char what[64];
    snprintf(what, sizeof what, "%d tokens, w = %d", total, w);
    check(what, f->name, d, LOGIT_TOL, sd);
    /* a prefill first, then chunks */
    sizes[0] = 2 * w + 5;
    kind[0] = 'p';
    d = run_chunks(f->model, ids, sizes, kind, n, &sd, &(double){0});
    snprintf(what, sizeof what, "prefill %d, then chunks", sizes[0]);
    check(what, f->name, d, LOGIT_TOL, sd);
    free(ids);
}

/* Row 1 of a batch-3 state extended: rows 0 and 2 the same bits, row 1 the
 * bits of the same extend on a batch-1 copy of it, and within the bounds of
 * the token-by-token reference. */
static void test_one_row_of_three(void **state) {
    fixture *f = *state;
    const gf_model *m = f->model;
    gf_error err;
    int V = f->V, T0 = 6, T = 23;
    int32_t pre_ids[3 * 6], ids[23], step[3];
    random_ids(pre_ids, 3 * T0, V, 5);
    random_ids(ids, T, V, 6);
    gf_state *s = new_state(m, 3);
    if (gf_prefill(m, 3, T0, pre_ids, NULL, NULL, NULL, s, &err)) fail_msg("%s", err.msg);
    for (int k = 0; k < 4; k++) { /* rows at different points */
        random_ids(step, 3, V, 50 + k);
        if (gf_decode_step(m, s, step, NULL, NULL, &err)) fail_msg("%s", err.msg);
    }
    if (gf_prefill_extend(m, s, 2, 3, ids, NULL, &err)) fail_msg("%s", err.msg);
    gf_state *snap = snapshot(m, s), *one = new_state(m, 1), *ref = new_state(m, 1);
    if (gf_state_copy(one, 0, s, 1, &err) || gf_state_copy(ref, 0, s, 1, &err)) fail_msg("%s", err.msg);
    float *got = malloc((size_t)V * sizeof *got), *want = malloc((size_t)V * sizeof *want);
    float *steps = malloc((size_t)T * V * sizeof *steps);
    if (gf_prefill_extend(m, s, 1, T, ids, got, &err)) fail_msg("%s", err.msg);
    if (!state_rows_identical(m, s, 0, snap, 0) || !state_rows_identical(m, s, 2, snap, 2))
        fail_msg("%s: extending row 1 changed another row", f->name);
    if (gf_prefill_extend(m, one, 0, T, ids, want, &err)) fail_msg("%s", err.msg);
    if (memcmp(got, want, (size_t)V * sizeof *got) || !state_rows_identical(m, s, 1, one, 0))
        fail_msg("%s: row 1 of 3 extended is not the batch-1 extend", f->name);
    assert_int_equal(gf_state_num_tokens(s, 1), T0 + 4 + T);
    stepwise(m, ref, ids, T, steps);
    check("row 1 of 3 = steps", f->name, logit_diff(got, steps + (size_t)(T - 1) * V, V, NULL), LOGIT_TOL,
          state_rel_diff(m, s, 1, ref, 0));
    gf_state_free(s);
    gf_state_free(snap);
    gf_state_free(one);
    gf_state_free(ref);
    free(got);
    free(want);
    free(steps);
}

/* decode_step_n(n = 2) on a batch-4 state: rows 2 and 3 the same bits, rows
 * 0 and 1 (and their logits) the bits of a decode step of batch 2. */
static void test_decode_step_n(void **state) {
    fixture *f = *state;
    const gf_model *m = f->model;
    gf_error err;
    int V = f->V;
    int32_t pre_ids[4 * 9], ids[2];
    random_ids(pre_ids, 4 * 9, V, 3);
    gf_state *s = new_state(m, 4), *two = new_state(m, 2);
    if (gf_prefill(m, 4, 9, pre_ids, NULL, NULL, NULL, s, &err)) fail_msg("%s", err.msg);
    if (gf_prefill_extend(m, s, 0, 5, pre_ids, NULL, &err)) fail_msg("%s", err.msg); /* row 0 further on */
    float *got = malloc(2 * (size_t)V * sizeof *got), *want = malloc(2 * (size_t)V * sizeof *want);
    for (int k = 0; k < 3; k++) {
        gf_state *snap = snapshot(m, s);
        for (int b = 0; b < 2; b++)
            if (gf_state_copy(two, b, s, b, &err)) fail_msg("%s", err.msg);
        random_ids(ids, 2, V, 20 + k);
        if (gf_decode_step_n(m, s, 2, ids, NULL, got, &err)) fail_msg("%s", err.msg);
        if (gf_decode_step(m, two, ids, NULL, want, &err)) fail_msg("%s", err.msg);
        if (!state_rows_identical(m, s, 2, snap, 2) || !state_rows_identical(m, s, 3, snap, 3))
            fail_msg("%s: decode_step_n(2) changed row 2 or 3", f->name);
        if (memcmp(got, want, 2 * (size_t)V * sizeof *got) || !state_rows_identical(m, s, 0, two, 0) ||
            !state_rows_identical(m, s, 1, two, 1))
            fail_msg("%s: decode_step_n(2) of 4 is not a decode step of batch 2", f->name);
        gf_state_free(snap);
    }
    gf_state_free(s);
    gf_state_free(two);
    free(got);
    free(want);
}

static void expect_refused(const gf_model *m, int rc, const gf_error *err, const char *needle, gf_state *s, gf_state *snap,
                           const char *what) {
    if (rc != -1) fail_msg("%s: accepted", what);
    if (!strstr(err->msg, needle)) fail_msg("%s: wanted '%s' in: %s", what, needle, err->msg);
    if (strchr(err->msg, '\n')) fail_msg("%s: error of more than one line: %s", what, err->msg);
    expect_state_unchanged(m, s, snap, what);
}

/* Refusals: one line, and the state as it was. */
static void test_bad_input(void **state) {
    fixture *f = *state;
    const gf_model *m = f->model;
    gf_error err;
    int V = f->V;
    int32_t ids[12];
    random_ids(ids, 12, V, 1);
    gf_state *s = new_state(m, 3);
    if (gf_prefill(m, 3, 4, ids, NULL, NULL, NULL, s, &err)) fail_msg("%s", err.msg);
    gf_state *snap = snapshot(m, s);
    float *logits = malloc((size_t)V * sizeof *logits);
    expect_refused(m, gf_prefill_extend(m, s, -1, 3, ids, logits, &err), &err, "sequence -1", s, snap, "b = -1");
    expect_refused(m, gf_prefill_extend(m, s, 3, 3, ids, logits, &err), &err, "sequence 3", s, snap, "b = B");
    expect_refused(m, gf_prefill_extend(m, s, 1, 0, ids, logits, &err), &err, "at least one token", s, snap, "T = 0");
    expect_refused(m, gf_prefill_extend(m, s, 1, -4, ids, logits, &err), &err, "at least one token", s, snap, "T < 0");
    int32_t bad[5] = {ids[0], ids[1], V, ids[2], ids[3]};
    expect_refused(m, gf_prefill_extend(m, s, 1, 5, bad, logits, &err), &err, "outside the vocabulary", s, snap,
                   "token = V");
    bad[2] = -1;
    expect_refused(m, gf_prefill_extend(m, s, 1, 5, bad, logits, &err), &err, "outside the vocabulary", s, snap,
                   "token = -1");
    /* another model's state: one of the same shape, loaded again */
    gf_trainable *other = gf_trainable_from_model(m, &err);
    if (!other) fail_msg("%s", err.msg);
    expect_refused(m, gf_prefill_extend(gf_trainable_model(other), s, 1, 3, ids, logits, &err), &err,
                   "another model", s, snap, "wrong model");
    expect_refused(m, gf_decode_step_n(gf_trainable_model(other), s, 2, ids, NULL, logits, &err), &err,
                   "another model", s, snap, "decode_step_n wrong model");
    expect_refused(m, gf_decode_step_n(m, s, 0, ids, NULL, logits, &err), &err, "0 sequences", s, snap, "n = 0");
    expect_refused(m, gf_decode_step_n(m, s, 4, ids, NULL, logits, &err), &err, "4 sequences", s, snap, "n = 4");
    /* and it still works after */
    if (gf_prefill_extend(m, s, 1, 3, ids, logits, &err)) fail_msg("%s", err.msg);
    assert_int_equal(gf_state_num_tokens(s, 1), 7);
    gf_trainable_free(other);
    gf_state_free(s);
    gf_state_free(snap);
    free(logits);
}

/* The golden models quantised (BF16, Q8, Q4): the chain and the window
 * crossings with the inputs narrowed (where the CPU can) and left float. */
static void test_quantized(void **state) {
    (void)state;
    static const char *const models[] = {"griffin", "hawk", "mqa"}, *const types[] = {"bf16", "q8", "q4"};
    for (int mi = 0; mi < 3; mi++)
        for (int ti = 0; ti < 3; ti++) {
            char out[4096];
            gf_error err;
            snprintf(out, sizeof out, "%s/%s-%s", td_tmpdir(), models[mi], types[ti]);
            if (gf_model_quantize(td_path("golden/%s", models[mi]), out, (gf_quant_type)ti, NULL, NULL, &err))
                fail_msg("%s", err.msg);
            gf_model *q = gf_model_load(out, &err);
            if (!q) fail_msg("%s", err.msg);
            int V = gf_model_config(q)->vocab_size, w = gf_model_config(q)->window;
            int sizes[] = {5, 7, 1, 3, 2 * w + 3, 40, 1};
            int n = (int)(sizeof sizes / sizeof sizes[0]), total = 0;
            for (int i = 0; i < n; i++) total += sizes[i];
            int32_t ids[128];
            assert_true(total <= 128);
            random_ids(ids, total, V, 31 + (uint64_t)ti);
            for (int narrow = gf_model_narrow_inputs(q); narrow >= 0; narrow--) {
                gf_model_set_narrow_inputs(q, narrow);
                double sd, top = 0.0, d = run_chunks(q, ids, sizes, "peedeee", n, &sd, &top);
                double bound = narrow ? NARROW_TOL * top : LOGIT_TOL;
                print_message("    %-7s %-4s %s inputs: logits max |d| %.3g (bound %.3g%s), state %.3g of max |part|\n",
                              models[mi], types[ti], narrow ? "narrow" : "float ", d, bound,
                              narrow ? " = 0.05 of max |logit|" : "", sd);
                if (!(d <= bound)) fail_msg("%s %s narrow %d: logits differ by %.3g > %.3g", models[mi], types[ti], narrow, d, bound);
                /* the state: within the float bound where the inputs stay
                 * float; narrowed, a code one apart moves it as much as
                 * the logits, so only the logits are bounded */
                if (!narrow && !(sd <= STATE_REL_TOL)) fail_msg("%s %s: state differs by %.3g", models[mi], types[ti], sd);
            }
            gf_model_free(q);
        }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Extend of 512 tokens against gf_prefill of 512 (and the token-by-token
 * loop) on a model of configs/griffin-demo.json: best of a few runs,
 * printed. */
static void test_speed(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip(); /* times of an instrumented build say nothing (and took 77 s) */
#endif
    gf_config cfg;
    gf_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s/../../configs/griffin-demo.json", td_root());
    if (gf_config_load(path, &cfg, &err)) fail_msg("%s", err.msg);
    gf_trainable *t = gf_trainable_new(&cfg, 1, &err);
    if (!t) fail_msg("%s", err.msg);
    const gf_model *m = gf_trainable_model(t);
    enum { T = 512, REPS = 5 };
    int V = cfg.vocab_size;
    int32_t *ids = malloc(2 * T * sizeof *ids);
    float *logits = malloc((size_t)T * V * sizeof *logits);
    random_ids(ids, 2 * T, V, 4);
    gf_state *s = new_state(m, 1);
    double pre = 1e9, pre_nl = 1e9, ext = 1e9, ext2 = 1e9, steps = 1e9;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        if (gf_prefill(m, 1, T, ids, NULL, logits, NULL, s, &err)) fail_msg("%s", err.msg);
        double t1 = now_s();
        if (gf_prefill(m, 1, T, ids, NULL, NULL, NULL, s, &err)) fail_msg("%s", err.msg);
        pre_nl = fmin(pre_nl, now_s() - t1);
        gf_state_reset(s);
        double t2 = now_s();
        if (gf_prefill_extend(m, s, 0, T, ids, logits, &err)) fail_msg("%s", err.msg);
        double t3 = now_s();
        if (gf_prefill_extend(m, s, 0, T, ids + T, logits, &err)) fail_msg("%s", err.msg); /* after 512 */
        double t4 = now_s();
        pre = fmin(pre, t1 - t0);
        ext = fmin(ext, t3 - t2);
        ext2 = fmin(ext2, t4 - t3);
        gf_state_reset(s);
    }
    for (int r = 0; r < 2; r++) {
        gf_state_reset(s);
        double t0 = now_s();
        for (int i = 0; i < T; i++)
            if (gf_decode_step(m, s, ids + i, NULL, i + 1 == T ? logits : NULL, &err)) fail_msg("%s", err.msg);
        steps = fmin(steps, now_s() - t0);
    }
    /* prefill's own logits are T rows of the unembedding, extend's one:
     * the ratios are to prefill without logits */
    print_message("    griffin-demo (D %d, %d layers, w %d), %d tokens, best of %d: prefill %.1f ms (%.1f ms with "
                  "all logits); extend from empty %.1f ms (%.2f x prefill), after %d tokens %.1f ms (%.2f x); "
                  "token by token %.1f ms (%.1f x)\n",
                  cfg.width, cfg.num_layers, cfg.window, T, REPS, 1e3 * pre_nl, 1e3 * pre, 1e3 * ext, ext / pre_nl,
                  T, 1e3 * ext2, ext2 / pre_nl, 1e3 * steps, steps / pre_nl);
    gf_state_free(s);
    free(ids);
    free(logits);
    gf_trainable_free(t);
}

#define MODEL_TESTS(name)                                                                   \
    cmocka_unit_test_prestate_setup_teardown(test_from_empty, setup, teardown, name),       \
    cmocka_unit_test_prestate_setup_teardown(test_chain, setup, teardown, name),            \
    cmocka_unit_test_prestate_setup_teardown(test_window_crossings, setup, teardown, name), \
    cmocka_unit_test_prestate_setup_teardown(test_one_row_of_three, setup, teardown, name), \
    cmocka_unit_test_prestate_setup_teardown(test_decode_step_n, setup, teardown, name),    \
    cmocka_unit_test_prestate_setup_teardown(test_bad_input, setup, teardown, name)

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        MODEL_TESTS("griffin"), MODEL_TESTS("hawk"), MODEL_TESTS("mqa"), MODEL_TESTS("window3"),
        MODEL_TESTS("window70"), cmocka_unit_test(test_quantized), cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests_name("extend", tests, NULL, NULL);
}
