/* gf_gen_snapshot_write / gf_gen_snapshot_read: a sequence saved to a file
 * and read back continues with exactly the ids and text the original gives
 * (the state, logits, sampler, penalty ids and held-back text all travel),
 * and every kind of bad file is one line of error naming the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define V 4000

/* A generator that samples (temperature, a repeat penalty, a stop string),
 * so that the sampler's random state, the penalty's ids and the held-back
 * text all matter to what comes next. */
static gf_generator *new_gen(const gf_model *m, const gf_tokenizer *tk) {
    gf_gen_params gp;
    gf_gen_params_default(&gp);
    gp.temperature = 0.9f;
    gp.seed = 11;
    gp.max_tokens = 200;
    gp.repeat_penalty = 1.3f;
    gp.repeat_last_n = 16;
    static const char *const stops[] = {"zzqqzz"};
    gp.stop_strings = stops;
    gp.n_stop_strings = 1;
    gf_error err;
    gf_generator *g = gf_generator_new(m, tk, 1, &gp, &err);
    if (!g) fail_msg("%s", err.msg);
    return g;
}

/* Steps g n times; the ids into ids and the text appended to text. */
static void steps(gf_generator *g, int n, int32_t *ids, char *text, size_t cap) {
    gf_error err;
    for (int i = 0; i < n; i++) {
        int r = gf_generator_step(g, &ids[i], &err);
        if (r < 0) fail_msg("%s", err.msg);
        size_t len;
        const char *t = gf_generator_text(g, 0, &len);
        assert_true(strlen(text) + len < cap);
        strncat(text, t, len);
    }
}

static const int32_t prompt[] = {2, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400};

static void test_round_trip(void **state) {
    (void)state;
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_trainable *tm = td_random_trainable("griffin", V, 21);
    const gf_model *m = gf_trainable_model(tm);
    gf_error err;
    gf_generator *a = new_gen(m, tk);
    if (gf_generator_feed(a, prompt, sizeof prompt / sizeof *prompt, &err)) fail_msg("%s", err.msg);
    int32_t ids[64];
    static char text[8192];
    text[0] = 0;
    steps(a, 20, ids, text, sizeof text); /* past the attention window (8 in the golden griffin) */
    gf_gen_snapshot *s = gf_generator_save(a, 0, &err);
    if (!s) fail_msg("%s", err.msg);
    char path[4096];
    snprintf(path, sizeof path, "%s/a.snap", td_tmpdir());
    if (gf_gen_snapshot_write(s, path, &err)) fail_msg("%s", err.msg);
    gf_gen_snapshot *r = gf_gen_snapshot_read(m, path, &err);
    if (!r) fail_msg("%s", err.msg);
    assert_int_equal(gf_gen_snapshot_context(r), gf_gen_snapshot_context(s));
    assert_int_equal(gf_gen_snapshot_bytes(r), gf_gen_snapshot_bytes(s));
    /* the file is fixed in size: the state, logits, ids, a header */
    size_t n;
    free(td_read(path, &n));
    size_t st = gf_state_bytes_per_seq(gf_model_config(m));
    print_message("    snapshot file %zu bytes (state %zu, logits %d)\n", n, st, V * 4);
    assert_true(n > st + V * 4 && n < st + V * 4 + 1024);

    /* the original goes on; a fresh generator restored from the file gives the same */
    int32_t want[64], got[64];
    static char want_text[8192], got_text[8192];
    want_text[0] = got_text[0] = 0;
    steps(a, 30, want, want_text, sizeof want_text);
    gf_generator *b = new_gen(m, tk);
    if (gf_generator_restore(b, 0, r, &err)) fail_msg("%s", err.msg);
    assert_int_equal(gf_generator_context(b, 0), gf_gen_snapshot_context(s));
    steps(b, 30, got, got_text, sizeof got_text);
    assert_memory_equal(want, got, sizeof want[0] * 30);
    assert_string_equal(want_text, got_text);
    /* and a new turn fed to both continues alike */
    const int32_t turn[] = {5, 7, 9, 11};
    if (gf_generator_feed(a, turn, 4, &err) || gf_generator_feed(b, turn, 4, &err)) fail_msg("%s", err.msg);
    want_text[0] = got_text[0] = 0;
    steps(a, 10, want, want_text, sizeof want_text);
    steps(b, 10, got, got_text, sizeof got_text);
    assert_memory_equal(want, got, sizeof want[0] * 10);

    /* writing again over the file works (through the .tmp.PID beside it) */
    if (gf_gen_snapshot_write(r, path, &err)) fail_msg("%s", err.msg);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "rb");
    assert_null(f);
    /* a folder that does not exist: an error, no file */
    snprintf(tmp, sizeof tmp, "%s/no/such/dir/x.snap", td_tmpdir());
    assert_int_equal(gf_gen_snapshot_write(r, tmp, &err), -1);
    td_expect_one_line(&err, "cannot write");
    gf_gen_snapshot_free(s);
    gf_gen_snapshot_free(r);
    gf_generator_free(a);
    gf_generator_free(b);
    gf_trainable_free(tm);
    gf_tokenizer_free(tk);
}

/* Writes data [n] to a file of its own and expects reading it for m to
 * fail with needle. */
static void expect_bad(const gf_model *m, const char *name, const void *data, size_t n, const char *needle) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", td_tmpdir(), name);
    td_write(path, data, n);
    gf_error err;
    gf_gen_snapshot *s = gf_gen_snapshot_read(m, path, &err);
    if (s) fail_msg("%s: read, wanted an error with '%s'", name, needle);
    td_expect_one_line(&err, needle);
    print_message("    %s: %s\n", name, err.msg);
}

/* The snapshot's closing FNV-1a checksum of the bytes before it, made
 * right again after an edit (snapshot_file.c). */
static void fix_checksum(uint8_t *b, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n - 8; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++) b[n - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
}

static void test_bad_files(void **state) {
    (void)state;
    gf_trainable *tm = td_random_trainable("griffin", V, 21);
    gf_trainable *other_w = td_random_trainable("griffin", V, 22); /* same shape, other weights */
    gf_trainable *other_s = td_random_trainable("hawk", V, 21);    /* another shape */
    const gf_model *m = gf_trainable_model(tm);
    gf_error err;
    gf_tokenizer *tk = td_gemma_tokenizer();
    gf_generator *g = new_gen(m, tk);
    if (gf_generator_feed(g, prompt, 6, &err)) fail_msg("%s", err.msg);
    gf_gen_snapshot *s = gf_generator_save(g, 0, &err);
    if (!s) fail_msg("%s", err.msg);
    char path[4096];
    snprintf(path, sizeof path, "%s/good.snap", td_tmpdir());
    if (gf_gen_snapshot_write(s, path, &err)) fail_msg("%s", err.msg);
    size_t n;
    uint8_t *good = td_read(path, &n);
    uint8_t *bad = malloc(n + 16);
    assert_non_null(bad);

    expect_bad(gf_trainable_model(other_s), "good.snap", good, n, "another model (");
    expect_bad(gf_trainable_model(other_w), "good.snap", good, n, "another model of the same shape");
    expect_bad(m, "empty.snap", "", 0, "not a griffin snapshot");
    expect_bad(m, "text.snap", "hello there, this is not a snapshot\n", 36, "not a griffin snapshot");
    memcpy(bad, good, n);
    bad[8] = 9;
    expect_bad(m, "version.snap", bad, n, "version 9");
    expect_bad(m, "trunc-header.snap", good, 30, "truncated");
    expect_bad(m, "trunc-half.snap", good, n / 2, "truncated");
    expect_bad(m, "trunc-last.snap", good, n - 1, "truncated");
    memcpy(bad, good, n);
    bad[n] = 0;
    expect_bad(m, "long.snap", bad, n + 1, "corrupt");
    for (size_t at = n / 3; at < n; at += n / 3 - 1) { /* a flipped bit in the state or logits */
        memcpy(bad, good, n);
        bad[at] ^= 0x10;
        expect_bad(m, "flip.snap", bad, n, "checksum");
    }
    /* a length in the header grown beyond the limit is refused before any allocation */
    memcpy(bad, good, n);
    const gf_config *c = gf_model_config(m);
    size_t ring_at = 8 + 4 + 9 * 4 + (size_t)c->num_layers + 8 + 8 + 12 + 4 + 32 + 12 + 8 + 4 + 12;
    bad[ring_at + 3] = 0x7f;
    expect_bad(m, "ring.snap", bad, n, "penalty ids");
    /* A NaN among the logits, an infinity in the state, with the checksum
     * made right (fuzz_snapshot's find: such a file loaded, and the next
     * step failed with non-finite logits blamed on the weights). The
     * logits [V] and the state's floats (gf_state_bytes_per_seq but for its
     * token count) end the file, before the checksum. */
    size_t state_bytes = gf_state_bytes_per_seq(c) - sizeof(int64_t);
    size_t logits_at = n - 8 - state_bytes - (size_t)c->vocab_size * 4;
    const float nan = NAN, inf = INFINITY;
    memcpy(bad, good, n);
    memcpy(bad + logits_at + 4 * 7, &nan, 4);
    fix_checksum(bad, n);
    expect_bad(m, "nan-logit.snap", bad, n, "non-finite logit");
    memcpy(bad, good, n);
    memcpy(bad + n - 8 - 4, &inf, 4);
    fix_checksum(bad, n);
    expect_bad(m, "inf-state.snap", bad, n, "non-finite value in layer");
    /* finite values in the same places read: the refusals are for the values */
    const float quarter = 0.25f;
    memcpy(bad, good, n);
    memcpy(bad + logits_at + 4 * 7, &quarter, 4);
    memcpy(bad + n - 8 - 4, &quarter, 4);
    fix_checksum(bad, n);
    snprintf(path, sizeof path, "%s/finite-edit.snap", td_tmpdir());
    td_write(path, bad, n);
    gf_gen_snapshot *edited = gf_gen_snapshot_read(m, path, &err);
    if (!edited) fail_msg("%s", err.msg);
    gf_gen_snapshot_free(edited);
    snprintf(path, sizeof path, "%s/good.snap", td_tmpdir());
    /* a missing file, a folder */
    char miss[4200];
    snprintf(miss, sizeof miss, "%s/missing.snap", td_tmpdir());
    assert_null(gf_gen_snapshot_read(m, miss, &err));
    td_expect_one_line(&err, "missing.snap");
    assert_null(gf_gen_snapshot_read(m, td_tmpdir(), &err));
    td_expect_one_line(&err, td_tmpdir());
    /* the good file still reads (so the cases above fail for their own reason) */
    gf_gen_snapshot *ok = gf_gen_snapshot_read(m, path, &err);
    if (!ok) fail_msg("%s", err.msg);
    gf_gen_snapshot_free(ok);
    gf_gen_snapshot_free(s);
    free(good);
    free(bad);
    gf_generator_free(g);
    gf_trainable_free(tm);
    gf_trainable_free(other_w);
    gf_trainable_free(other_s);
    gf_tokenizer_free(tk);
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
