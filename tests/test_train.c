/* Training: the optimiser and schedule against their formulas, the data
 * windows' document resets, checkpoints that survive SIGKILL at random
 * moments and resume bit for bit, full disks and unwritable folders, bad
 * token files refused before any step, and prepare / eval end to end. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "testutil.h"

/* Command lines here are built from short temporary paths into large
 * buffers; gcc cannot see that they fit. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static const char *TINY =
    "{\"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 96, \"num_hidden_layers\": 3,"
    " \"num_attention_heads\": 2, \"lru_width\": 32, \"attention_window_size\": 8, \"bos_token_id\": 2,"
    " \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}";

static char cfg_path[4096], data_path[4096], val_path[4096];

/* Documents of a learnable pattern: BOS, then a run counting up by a
 * per-document step from a random start, mod 60, offset past the specials. */
static void write_tokens(const char *path, size_t n, uint64_t seed) {
    uint64_t rng[4];
    gf_rng_seed(rng, seed);
    uint16_t *t = malloc(n * sizeof *t);
    size_t i = 0;
    while (i < n) {
        t[i++] = 2;
        size_t len = 5 + gf_rng_next(rng) % 40, step = 1 + gf_rng_next(rng) % 3, x = gf_rng_next(rng) % 60;
        for (size_t k = 0; k < len && i < n; k++, x += step) t[i++] = (uint16_t)(4 + x % 60);
    }
    gf_error err;
    if (gf_npy_write(path, GF_NPY_U16, (size_t[]){n}, 1, t, &err)) fail_msg("%s", err.msg);
    free(t);
}

static int setup(void **state) {
    (void)state;
    snprintf(cfg_path, sizeof cfg_path, "%s/tiny.json", td_tmpdir());
    td_write(cfg_path, TINY, strlen(TINY));
    snprintf(data_path, sizeof data_path, "%s/train.npy", td_tmpdir());
    snprintf(val_path, sizeof val_path, "%s/val.npy", td_tmpdir());
    write_tokens(data_path, 20000, 1);
    write_tokens(val_path, 3000, 2);
    return 0;
}

static int run(const char *fmt, const char *a, const char *b, char *err, size_t cap) {
    char cmd[16384], inner[12288];
    snprintf(inner, sizeof inner, fmt, a, b);
    snprintf(cmd, sizeof cmd, "(%s)", inner);
    return td_run(cmd, err, cap);
}

/* ---- library ---------------------------------------------------------------- */

static void test_lr_schedule(void **state) {
    (void)state;
    gf_adamw_config c = {.lr = 1e-2f, .min_lr_ratio = 0.1f, .warmup = 10, .total_steps = 110};
    assert_true(fabsf(gf_lr_at(&c, 0) - 1e-3f) < 1e-9f);   /* 1/10 of the way up */
    assert_true(fabsf(gf_lr_at(&c, 9) - 1e-2f) < 1e-9f);   /* the peak */
    assert_true(fabsf(gf_lr_at(&c, 10) - 1e-2f) < 1e-9f);  /* cosine starts at the peak */
    assert_true(fabsf(gf_lr_at(&c, 60) - 5.5e-3f) < 1e-8f); /* halfway: the mean of peak and floor */
    assert_true(fabsf(gf_lr_at(&c, 110) - 1e-3f) < 1e-9f);  /* the floor */
    assert_true(fabsf(gf_lr_at(&c, 500) - 1e-3f) < 1e-9f);  /* and it stays there */
}

/* One AdamW update against the formula, with clipping and decay only where
 * the tensor table says. */
static void test_adamw_update(void **state) {
    (void)state;
    gf_error err;
    gf_trainable *t = td_golden_trainable("hawk");
    gf_adamw *o = gf_adamw_new(t, &err);
    size_t n = gf_trainable_num_params(t);
    float *p = gf_trainable_params(t), *g = gf_trainable_grads(t);
    float *p0 = malloc(n * sizeof *p0);
    memcpy(p0, p, n * sizeof *p0);
    for (size_t i = 0; i < n; i++) g[i] = (float)((i % 7) - 3) * 0.01f;
    double norm = gf_grad_norm(t), want = 0;
    for (size_t i = 0; i < n; i++) want += (double)g[i] * g[i];
    assert_true(fabs(norm - sqrt(want)) < 1e-9 * sqrt(want));
    gf_adamw_config c = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                         .clip = (float)(norm / 2)};
    assert_true(fabs(gf_adamw_update(o, t, &c, 1e-2f) - norm) < 1e-12);
    assert_int_equal(gf_adamw_step_count(o), 1);
    for (int k = 0; k < gf_trainable_num_tensors(t); k++) {
        const gf_tensor_info *ti = gf_trainable_tensor(t, k);
        for (size_t j = 0; j < ti->numel; j++) {
            size_t i = ti->offset + j;
            /* step 1: m^ = g', v^ = g'^2 with g' = g / 2 (clipped), so the
             * step is lr * sign(g') (up to eps), plus the decay */
            double gc = g[i] * 0.5, upd = gc / (fabs(gc) + 1e-8);
            double w = p0[i] - 1e-2 * upd - (ti->decay ? 1e-2 * 0.1 * p0[i] : 0);
            if (fabs(p[i] - w) > 1e-6 * (1 + fabs(w)))
                fail_msg("%s[%zu]: %.9g after the update, wanted %.9g", ti->name, j, p[i], w);
        }
    }
    /* norms, biases and recurrent_param carry no decay */
    for (int k = 0; k < gf_trainable_num_tensors(t); k++) {
        const gf_tensor_info *ti = gf_trainable_tensor(t, k);
        int vector = strstr(ti->name, "norm") || strstr(ti->name, "bias") || strstr(ti->name, "recurrent_param");
        assert_int_equal(ti->decay, !vector);
    }
    /* a non-finite gradient is left unapplied: weights, moments and the
     * step count as they were, the norm returned non-finite */
    memcpy(p0, p, n * sizeof *p0);
    float *mv = gf_adamw_moments(o), *mv0 = malloc(2 * n * sizeof *mv0);
    memcpy(mv0, mv, 2 * n * sizeof *mv0);
    g[n / 3] = NAN;
    assert_true(isnan(gf_adamw_update(o, t, &c, 1e-2f)));
    g[n / 3] = INFINITY;
    assert_true(isinf(gf_adamw_update(o, t, &c, 1e-2f)));
    assert_int_equal(gf_adamw_step_count(o), 1);
    assert_memory_equal(p, p0, n * sizeof *p0);
    assert_memory_equal(mv, mv0, 2 * n * sizeof *mv0);
    free(mv0);
    free(p0);
    gf_adamw_free(o);
    gf_trainable_free(t);
}

/* Windows restart segment positions at every BOS, and a window starting
 * inside a document gets its true position there. */
static void test_data_windows(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/w.npy", td_tmpdir());
    int32_t tok[12] = {2, 10, 11, 12, 2, 20, 21, 2, 30, 31, 32, 33};
    gf_error err;
    if (gf_npy_write(path, GF_NPY_I32, (size_t[]){12}, 1, tok, &err)) fail_msg("%s", err.msg);
    gf_token_data *d = gf_token_data_open(path, 64, 2, &err);
    if (!d) fail_msg("%s", err.msg);
    int32_t in[6], tg[6], pos[6];
    gf_token_data_window(d, 2, 6, in, tg, pos);
    int32_t want_in[6] = {11, 12, 2, 20, 21, 2}, want_tg[6] = {12, 2, 20, 21, 2, 30}, want_pos[6] = {2, 3, 0, 1, 2, 0};
    assert_memory_equal(in, want_in, sizeof in);
    assert_memory_equal(tg, want_tg, sizeof tg);
    assert_memory_equal(pos, want_pos, sizeof pos);
    uint64_t rng[4];
    gf_rng_seed(rng, 3);
    int32_t bin[3 * 11], btg[3 * 11], bpos[3 * 11];
    assert_int_equal(gf_token_data_sample(d, rng, 3, 11, bin, btg, bpos, &err), 0);
    assert_memory_equal(bin, tok, 11 * sizeof *tok); /* a window of 12 fits only at 0 */
    assert_int_equal(gf_token_data_sample(d, rng, 1, 12, bin, btg, bpos, &err), -1);
    assert_non_null(strstr(err.msg, "fewer than a window"));
    gf_token_data_free(d);
    /* a header of odd length leaves the data unaligned in the mapping (legal
     * in the format; UBSan would catch a cast) */
    {
        char odd[4096];
        snprintf(odd, sizeof odd, "%s/odd.npy", td_tmpdir());
        const char *h = "{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }   \n";
        size_t hl = strlen(h);
        unsigned char buf[256] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hl, 0};
        memcpy(buf + 10, h, hl);
        unsigned char data[6] = {2, 0, 7, 0, 9, 0};
        memcpy(buf + 10 + hl, data, 6);
        assert_true((10 + hl) % 2 == 1);
        td_write(odd, buf, 10 + hl + 6);
        gf_token_data *od = gf_token_data_open(odd, 64, 2, &err);
        if (!od) fail_msg("%s", err.msg);
        assert_int_equal(gf_token_data_at(od, 1), 7);
        assert_int_equal(gf_token_data_at(od, 2), 9);
        assert_int_equal(gf_token_data_at(od, 3), -1);
        gf_token_data_free(od);
    }
    /* ids outside the vocabulary, the wrong dtype or shape: refused on opening */
    assert_null(gf_token_data_open(path, 33, 2, &err));
    assert_non_null(strstr(err.msg, "token 33 at index 11"));
    float f[2] = {1, 2};
    if (gf_npy_write(path, GF_NPY_F32, (size_t[]){2}, 1, f, &err)) fail_msg("%s", err.msg);
    assert_null(gf_token_data_open(path, 64, 2, &err));
    assert_non_null(strstr(err.msg, "not float32"));
    if (gf_npy_write(path, GF_NPY_I32, (size_t[]){3, 4}, 2, tok, &err)) fail_msg("%s", err.msg);
    assert_null(gf_token_data_open(path, 64, 2, &err));
    assert_non_null(strstr(err.msg, "1-D"));
}

/* ---- the command -------------------------------------------------------------- */

static void *read_file(const char *dir, const char *name, size_t *n) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return td_read(p, n);
}

/* SIGKILL at random moments, 25 times, with a checkpoint after every step
 * (so much of the time is spent saving); after each kill, OUT/latest must
 * name a complete checkpoint that loads, never one older than before. Then
 * the run is finished by --resume, and its losses and final weights must
 * equal an unbroken run's exactly. */
static const char *KILL_ARGS = "--steps 150 --batch 2 --seq 16 --warmup 4 --lr 3e-3 --save-every 1 --seed 5 --threads 1";

static long timed_run(const char *cmd, char *err, int want_rc) {
    struct timespec a0, a1;
    clock_gettime(CLOCK_MONOTONIC, &a0);
    int rc = td_run(cmd, err, 4096);
    clock_gettime(CLOCK_MONOTONIC, &a1);
    if (rc != want_rc) fail_msg("%s: exit %d (wanted %d): %s", cmd, rc, want_rc, err);
    return (a1.tv_sec - a0.tv_sec) * 1000 + (a1.tv_nsec - a0.tv_nsec) / 1000000;
}

static void test_kill_and_resume(void **state) {
    (void)state;
    char ref[4096], out[4096], err[4096], cmd[16384];
    snprintf(ref, sizeof ref, "%s/ref", td_tmpdir());
    snprintf(out, sizeof out, "%s/killed", td_tmpdir());
    snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s %s", td_bin(), cfg_path, data_path, ref, KILL_ARGS);
    long run_ms = timed_run(cmd, err, 0);
    /* a resumed run's start-up (loading the checkpoint): resuming the
     * finished run, which is refused once it is loaded */
    char cmd1[16384];
    snprintf(cmd1, sizeof cmd1, "%s train --resume %s --data %s", td_bin(), ref, data_path);
    long start_ms = timed_run(cmd1, err, 1);
    /* Kill between the start-up's end and six steps (with saves) later:
     * each run gets at most a few steps done, so 25 kills cannot finish the
     * 150 steps, and every kill lands in training or saving. */
    long step_ms = run_ms / 150 > 1 ? run_ms / 150 : 1;
    print_message("    an unbroken run: %ld ms; start-up %ld ms; a step with its save ~%ld ms\n", run_ms, start_ms, step_ms);
    uint64_t rng[4];
    gf_rng_seed(rng, 99);
    int64_t last_step = 0;
    int kills = 0, loads = 0;
    char latest[8192];
    snprintf(latest, sizeof latest, "%s/latest", out);
    for (int i = 0; i < 25; i++) {
        struct stat st;
        int have = lstat(latest, &st) == 0;
        long ms = start_ms + (long)(gf_rng_next(rng) % (uint64_t)(6 * step_ms + 1));
        if (have)
            snprintf(cmd, sizeof cmd, "%s train --resume %s --data %s", td_bin(), out, data_path);
        else
            snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s %s", td_bin(), cfg_path, data_path, out,
                     KILL_ARGS);
        char sh[20000];
        snprintf(sh, sizeof sh,
                 "%s 2>/dev/null & pid=$!; sleep %ld.%03ld; kill -9 $pid 2>/dev/null && echo killed >&2; wait $pid; true",
                 cmd, ms / 1000, ms % 1000);
        run("%s%s", sh, "", err, sizeof err);
        kills += strstr(err, "killed") != NULL;
        if (lstat(latest, &st) != 0) continue; /* killed before the first save */
        gf_trainable *t;
        gf_adamw *o;
        gf_train_state s;
        gf_error e;
        if (gf_checkpoint_load(out, &t, &o, &s, &e)) fail_msg("after kill %d: %s", i, e.msg);
        loads++;
        assert_true(s.step >= last_step);
        /* Steps run faster now than in the timed run (a busy machine then,
         * an idle one now), or the start-up was shorter than the timed one:
         * more than 6 steps got done, so take the surplus off the start-up
         * estimate and shorten the step's, or the runs would reach step
         * 150 before 25 kills (under the sanitizers, where the start-up is
         * ~100 ms against ~8 ms a step, shortening the step alone left
         * 17-24 kills in some runs). */
        if (s.step - last_step > 8) {
            long cut = ((long)(s.step - last_step) - 6) * step_ms;
            start_ms = start_ms > cut ? start_ms - cut : 0;
            step_ms = step_ms * 6 / (long)(s.step - last_step) + 1;
        }
        last_step = s.step;
        gf_trainable_free(t);
        gf_adamw_free(o);
        if (s.step == 150) break;
    }
    print_message("    %d runs killed, %d checkpoints loaded after a kill, last at step %lld\n", kills, loads,
                  (long long)last_step);
    assert_true(kills >= 20);
    /* finish */
    if (last_step < 150) {
        snprintf(cmd, sizeof cmd, "%s train --resume %s --data %s", td_bin(), out, data_path);
        int rc = td_run(cmd, err, sizeof err);
        if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
    }
    static char a[151][32], b[151][32];
    td_log_losses(ref, a, 151);
    td_log_losses(out, b, 151);
    for (int i = 1; i <= 150; i++)
        if (b[i][0] && strcmp(a[i], b[i]) != 0) fail_msg("step %d: loss %s after kills and resumes, %s unbroken", i, b[i], a[i]);
    size_t n1, n2;
    char d1[8192], d2[8192];
    snprintf(d1, sizeof d1, "%s/latest", ref);
    snprintf(d2, sizeof d2, "%s/latest", out);
    void *w1 = read_file(d1, "model.safetensors", &n1), *w2 = read_file(d2, "model.safetensors", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(w1, w2, n1);
    free(w1);
    free(w2);
    w1 = read_file(d1, "optimizer.safetensors", &n1), w2 = read_file(d2, "optimizer.safetensors", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(w1, w2, n1);
    free(w1);
    free(w2);
}

/* A write that fails (a file-size limit stands in for a full disk: the same
 * failed write()) or a folder that cannot be made: one clear line, exit 1,
 * and the previous checkpoint still the latest and whole. */
static void test_failed_saves_keep_the_last_checkpoint(void **state) {
    (void)state;
    char out[4096], err[4096], cmd[16384];
    snprintf(out, sizeof out, "%s/full", td_tmpdir());
    char args[512];
    snprintf(args, sizeof args, "--steps 3 --batch 2 --seq 16 --warmup 1 --save-every 3 --threads 1");
    snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s %s", td_bin(), cfg_path, data_path, out, args);
    int rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", cmd, err);
    size_t n0;
    char latest[8192];
    snprintf(latest, sizeof latest, "%s/latest", out);
    void *before = read_file(latest, "model.safetensors", &n0);
    /* continue a second run from the saved model into the same folder */
    snprintf(cmd, sizeof cmd,
             "sh -c 'trap \"\" XFSZ; ulimit -f 60; exec %s train --model %s/latest --data %s --out %s --steps 6 "
             "--batch 2 --seq 16 --warmup 1 --save-every 6 --threads 1'",
             td_bin(), out, data_path, out);
    rc = td_run(cmd, err, sizeof err);
    assert_int_equal(rc, 1);
    if (!strstr(err, "File too large") || !strstr(err, "model.safetensors")) fail_msg("stderr: %s", err);
    size_t n1;
    void *after = read_file(latest, "model.safetensors", &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    gf_trainable *t;
    gf_adamw *o;
    gf_train_state s;
    gf_error e;
    if (gf_checkpoint_load(out, &t, &o, &s, &e)) fail_msg("%s", e.msg);
    assert_int_equal(s.step, 3);
    gf_trainable_free(t);
    gf_adamw_free(o);
    free(before);
    free(after);
    /* an output folder that cannot exist: under a regular file */
    snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s/tiny.json/run --steps 2 --batch 2 --seq 16",
             td_bin(), cfg_path, data_path, td_tmpdir());
    assert_int_equal(td_run(cmd, err, sizeof err), 1);
    if (!strstr(err, "tiny.json/run") || !strstr(err, "Not a directory")) fail_msg("stderr: %s", err);
}

/* Writes 3e38 (finite: the checkpoint loads) over the first 100 elements of
 * tensor `name` of file `path`, an F32 safetensors file. */
static void huge_values(const char *path, const char *name) {
    gf_st_file f;
    gf_error err;
    if (gf_st_open(path, &f, &err)) fail_msg("%s", err.msg);
    const gf_st_tensor *t = gf_st_find(&f, name);
    assert_non_null(t);
    assert_true(t->dtype == GF_DT_F32 && t->numel >= 100);
    size_t off = (size_t)((const uint8_t *)t->data - (const uint8_t *)f.map.data);
    gf_st_close(&f);
    size_t n;
    uint8_t *b = td_read(path, &n);
    const float big = 3e38f;
    for (size_t i = 0; i < 100; i++) memcpy(b + off + 4 * i, &big, 4);
    td_write(path, b, n);
    free(b);
}

/* A run whose numbers go non-finite stops with one line naming the step and
 * exits 1, saving nothing: the last checkpoint stays the latest, unchanged,
 * and loads. Two ways in, from a 3-step checkpoint extended to 6 steps:
 * huge weights (the loss overflows at once) and a huge first moment (the
 * update makes the weights infinite; the save of that step refuses them). */
static void test_nonfinite_run_stops(void **state) {
    (void)state;
    static const struct {
        const char *file, *tensor, *want;
    } cases[] = {{"model.safetensors", "model.layers.0.mlp_block.down_proj.weight", "step 4: non-finite loss"},
                 {"optimizer.safetensors", "adam_m", "step 4: tensor '"}};
    for (int c = 0; c < 2; c++) {
        char out[4096], cmd[16384], err[4096], p[8192];
        snprintf(out, sizeof out, "%s/nonfinite%d", td_tmpdir(), c);
        snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s --steps 3 --batch 2 --seq 16 --warmup 1 --save-every 1 --seed 5 --threads 1",
                 td_bin(), cfg_path, data_path, out);
        if (td_run(cmd, err, sizeof err)) fail_msg("%s: %s", cmd, err);
        /* three steps more for --resume: the state's total_steps 3 -> 6 */
        snprintf(p, sizeof p, "%s/step-00000003/trainer_state.json", out);
        size_t n;
        char *js = td_read(p, &n), *at = strstr(js, "\"total_steps\":\t3");
        assert_non_null(at);
        at[strlen("\"total_steps\":\t")] = '6';
        td_write(p, js, n);
        free(js);
        snprintf(p, sizeof p, "%s/step-00000003/%s", out, cases[c].file);
        huge_values(p, cases[c].tensor);
        size_t before_n;
        void *before = td_read(p, &before_n);
        snprintf(cmd, sizeof cmd, "%s train --resume %s --data %s", td_bin(), out, data_path);
        assert_int_equal(td_run(cmd, err, sizeof err), 1);
        const char *line = strstr(err, "griffin: error: ");
        if (!line || !strstr(line, cases[c].want) || !strstr(line, "the last checkpoint is intact") ||
            strchr(line, '\n') != line + strlen(line) - 1)
            fail_msg("wanted one error line with '%s': %s", cases[c].want, err);
        print_message("    %s", line);
        /* latest: still step 3, the same bytes, and it loads */
        char latest[8192], target[64] = {0};
        snprintf(latest, sizeof latest, "%s/latest", out);
        assert_true(readlink(latest, target, sizeof target - 1) > 0);
        assert_string_equal(target, "step-00000003");
        snprintf(p, sizeof p, "%s/step-00000004", out);
        struct stat st;
        assert_int_not_equal(stat(p, &st), 0);
        snprintf(p, sizeof p, "%s/step-00000003/%s", out, cases[c].file);
        size_t after_n;
        void *after = td_read(p, &after_n);
        assert_int_equal(after_n, before_n);
        assert_memory_equal(after, before, before_n);
        free(before);
        free(after);
        gf_trainable *t;
        gf_adamw *o;
        gf_train_state s;
        gf_error e;
        if (gf_checkpoint_load(out, &t, &o, &s, &e)) fail_msg("%s", e.msg);
        assert_int_equal(s.step, 3);
        gf_trainable_free(t);
        gf_adamw_free(o);
    }
}

/* Writes v over element i of tensor `name` of the F32 safetensors file path. */
static void put_value(const char *path, const char *name, size_t i, float v) {
    gf_st_file f;
    gf_error err;
    if (gf_st_open(path, &f, &err)) fail_msg("%s", err.msg);
    const gf_st_tensor *t = gf_st_find(&f, name);
    assert_non_null(t);
    assert_true(t->dtype == GF_DT_F32 && t->numel > i);
    size_t off = (size_t)((const uint8_t *)t->data - (const uint8_t *)f.map.data) + 4 * i;
    gf_st_close(&f);
    size_t n;
    uint8_t *b = td_read(path, &n);
    memcpy(b + off, &v, 4);
    td_write(path, b, n);
    free(b);
}

/* Moments a save never writes are refused at load with one line naming the
 * tensor (fuzz_checkpoint's find: a negative adam_v loaded, and the first
 * update after the resume took its square root): a negative second moment,
 * a NaN or an infinity in either; -0 and a huge finite value load. */
static void test_bad_moments_refused(void **state) {
    (void)state;
    char out[4096], cmd[16384], err[4096], p[8192];
    snprintf(out, sizeof out, "%s/moments", td_tmpdir());
    snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s --steps 1 --batch 2 --seq 16 --warmup 1 --threads 1",
             td_bin(), cfg_path, data_path, out);
    if (td_run(cmd, err, sizeof err)) fail_msg("%s: %s", cmd, err);
    snprintf(p, sizeof p, "%s/step-00000001/optimizer.safetensors", out);
    size_t n;
    void *orig = td_read(p, &n);
    static const struct {
        const char *tensor;
        size_t at;
        float v;
        const char *want; /* NULL: loads */
    } cases[] = {{"adam_v", 7, -1e-12f, "'adam_v' holds -1e-12 at element 7"},
                 {"adam_m", 3, NAN, "'adam_m' holds nan at element 3"},
                 {"adam_v", 0, INFINITY, "'adam_v' holds inf at element 0"},
                 {"adam_m", 5, -INFINITY, "'adam_m' holds -inf at element 5"},
                 {"adam_v", 2, -0.0f, NULL},
                 {"adam_m", 1, -3e38f, NULL}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        td_write(p, orig, n);
        put_value(p, cases[c].tensor, cases[c].at, cases[c].v);
        gf_trainable *t;
        gf_adamw *o;
        gf_train_state s;
        gf_error e;
        int rc = gf_checkpoint_load(out, &t, &o, &s, &e);
        if (!cases[c].want) {
            if (rc) fail_msg("%s[%zu] = %g: %s", cases[c].tensor, cases[c].at, cases[c].v, e.msg);
            gf_trainable_free(t);
            gf_adamw_free(o);
            continue;
        }
        assert_int_equal(rc, -1);
        td_expect_one_line(&e, cases[c].want);
        td_expect_one_line(&e, "optimizer.safetensors");
        print_message("    %s\n", e.msg);
    }
    free(orig);
}

/* Bad data is refused before any step: nothing logged, nothing saved. */
static void test_bad_data_refused_before_training(void **state) {
    (void)state;
    char out[4096], err[4096], cmd[16384], bad[4096];
    snprintf(bad, sizeof bad, "%s/bad.npy", td_tmpdir());
    gf_error e;
    struct {
        const char *what, *needle;
        int kind;
    } cases[] = {{"id past the vocabulary", "token 64 at index 3", 0},
                 {"float32 tokens", "not float32", 1},
                 {"shorter than a window", "fewer than one window", 2}};
    for (int k = 0; k < 3; k++) {
        int32_t ids[5] = {2, 5, 6, 64, 7};
        float f[5] = {0};
        if (cases[k].kind == 0) gf_npy_write(bad, GF_NPY_I32, (size_t[]){5}, 1, ids, &e);
        if (cases[k].kind == 1) gf_npy_write(bad, GF_NPY_F32, (size_t[]){5}, 1, f, &e);
        if (cases[k].kind == 2) {
            ids[3] = 8;
            gf_npy_write(bad, GF_NPY_I32, (size_t[]){5}, 1, ids, &e);
        }
        snprintf(out, sizeof out, "%s/bad-run-%d", td_tmpdir(), k);
        snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s --steps 2 --batch 2 --seq 16", td_bin(),
                 cfg_path, bad, out);
        assert_int_equal(td_run(cmd, err, sizeof err), 1);
        if (!strstr(err, "bad.npy") || !strstr(err, cases[k].needle))
            fail_msg("%s: stderr: %s (wanted '%s')", cases[k].what, err, cases[k].needle);
        char p[8192];
        snprintf(p, sizeof p, "%s/latest", out);
        struct stat st;
        assert_int_equal(lstat(p, &st), -1);
        snprintf(p, sizeof p, "%s/log.csv", out);
        assert_int_equal(stat(p, &st), -1);
    }
}

/* prepare -> train -> eval on text, end to end: the trained model beats the
 * unigram baseline prepare reports, and eval agrees with train's own
 * held-out figure for the same windows. */
static void test_prepare_train_eval(void **state) {
    (void)state;
    char dir[4096], err[4096], cmd[16384], text[4096], tok[4096];
    snprintf(dir, sizeof dir, "%s/prep", td_tmpdir());
    snprintf(text, sizeof text, "%s/docs.txt", td_tmpdir());
    snprintf(tok, sizeof tok, "%s/gemma_bpe.model", td_spm_fixtures());
    FILE *f = fopen(text, "w");
    const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "it", "was", "red"};
    uint64_t rng[4];
    gf_rng_seed(rng, 4);
    /* each document walks the word list in order from a random word: the
     * next word is certain given the last, while the unigram sees 13 */
    for (int d = 0; d < 400; d++) {
        size_t at = gf_rng_next(rng) % 13;
        for (int w = 0; w < 30; w++) fprintf(f, "%s%s", w ? " " : "", words[(at + (size_t)w) % 13]);
        fputc('\n', f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s prepare --tokenizer %s --out %s --doc-per line --val-fraction 0.1 %s > %s/prep.txt",
             td_bin(), tok, dir, text, dir);
    int rc = run("mkdir -p %s && %s", dir, cmd, err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", cmd, err);
    size_t n;
    char *rep = read_file(dir, "prep.txt", &n);
    double base;
    char *b = strstr(rep, "unigram baseline on val ");
    assert_non_null(b);
    assert_int_equal(sscanf(b, "unigram baseline on val %lf", &base), 1);
    assert_non_null(strstr(rep, "documents 400 (every 10-th to val)"));
    free(rep);
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    const char *c = "{\"vocab_size\": 4000, \"hidden_size\": 32, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
                    " \"num_attention_heads\": 2, \"lru_width\": 32, \"attention_window_size\": 8, \"bos_token_id\": 2,"
                    " \"block_types\": [\"recurrent\", \"attention\"]}";
    td_write(cfg, c, strlen(c));
    snprintf(cmd, sizeof cmd,
             "%s train --config %s --data %s/train.npy --val %s/val.npy --out %s/run --steps 60 --batch 4 --seq 32 "
             "--warmup 5 --lr 1e-2 --eval-every 60 --eval-windows 8 --threads 1 --tokenizer %s",
             td_bin(), cfg, dir, dir, dir, tok);
    rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", cmd, err);
    char run_dir[8192];
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    char ls[61][32];
    td_log_losses(run_dir, ls, 61);
    rep = read_file(run_dir, "log.csv", &n);
    char *last = strstr(rep, "\n60,");
    assert_non_null(last);
    double vtrain;
    char *comma = strrchr(last, ',');
    assert_int_equal(sscanf(comma + 1, "%lf", &vtrain), 1);
    free(rep);
    snprintf(cmd, sizeof cmd, "%s eval --model %s/run/latest --data %s/val.npy --seq 32 --windows 8 --per-position --buckets 2 > %s/eval.txt",
             td_bin(), dir, dir, dir);
    rc = run("%s%s", cmd, "", err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", cmd, err);
    rep = read_file(dir, "eval.txt", &n);
    double veval;
    assert_int_equal(sscanf(rep, "loss %lf", &veval), 1);
    assert_non_null(strstr(rep, "positions      0-15"));
    free(rep);
    print_message("    unigram baseline %.4f nats; after 60 steps: train's val %.4f, eval %.4f\n", base, vtrain, veval);
    /* the checkpoint carries the tokenizer: it is a model directory that
     * generates text, and the learnt walk through the words shows */
    snprintf(cmd, sizeof cmd, "%s generate --model %s/run/latest --prompt 'cat sat on' -n 12 --temp 0 > %s/gen.txt",
             td_bin(), dir, dir);
    rc = run("%s%s", cmd, "", err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", cmd, err);
    rep = read_file(dir, "gen.txt", &n);
    print_message("    generated: %s", rep);
    assert_non_null(strstr(rep, "a mat and"));
    free(rep);
    assert_true(fabs(vtrain - veval) < 1e-4);
    assert_true(veval < base - 0.5);
}

/* The lr column of RUN/log.csv at step (the last line for it). */
static void log_lr(const char *run_dir, int step, char *out, size_t cap) {
    size_t n;
    char *log = read_file(run_dir, "log.csv", &n), *line = log, *found = NULL;
    char head[32];
    snprintf(head, sizeof head, "%d,", step);
    while (line && *line) {
        if (!strncmp(line, head, strlen(head))) found = line;
        line = strchr(line, '\n');
        if (line) line++;
    }
    if (!found) fail_msg("%s/log.csv: no step %d", run_dir, step);
    const char *lr = strchr(found + strlen(head), ',') + 1;
    size_t len = strcspn(lr, ",");
    assert_true(len < cap);
    memcpy(out, lr, len);
    out[len] = 0;
    free(log);
}

/* --resume with --steps N extends a run (a finished one too): it runs to
 * step N on a cosine stretched to end there; without --steps a finished run
 * is an error that says so, as is an N not above the steps done. */
static void test_resume_extends(void **state) {
    (void)state;
    char out[4096], err[4096], cmd[16384], args[16384];
    snprintf(out, sizeof out, "%s/extend", td_tmpdir());
    const char *hp = "--batch 2 --seq 16 --warmup 2 --lr 2e-3 --min-lr 0.1 --save-every 4 --threads 1";
    snprintf(cmd, sizeof cmd, "%s train --config %s --data %s --out %s --steps 4 %s", td_bin(), cfg_path, data_path, out, hp);
    if (td_run(cmd, err, sizeof err) != 0) fail_msg("%s: %s", cmd, err);
    snprintf(args, sizeof args, "train --resume %s --data %s", out, data_path);
    td_expect_cli_error(args, "finished at step 4 of 4", "--steps");
    snprintf(args, sizeof args, "train --resume %s --data %s --steps 3", out, data_path);
    td_expect_cli_error(args, "--steps 3", "done 4 steps");
    snprintf(args, sizeof args, "train --resume %s --data %s --steps 4", out, data_path);
    td_expect_cli_error(args, "--steps 4", "done 4 steps");
    snprintf(args, sizeof args, "train --resume %s --data %s --steps 9 --lr 1", out, data_path);
    td_expect_cli_error(args, "--resume keeps", "--lr");
    snprintf(args, sizeof args, "train --resume %s", out);
    td_expect_cli_error(args, "--data", "again to resume");
    snprintf(cmd, sizeof cmd, "%s train --resume %s --data %s --steps 9", td_bin(), out, data_path);
    if (td_run(cmd, err, sizeof err) != 0) fail_msg("%s: %s", cmd, err);
    gf_trainable *t;
    gf_adamw *o;
    gf_train_state st;
    gf_error e;
    if (gf_checkpoint_load(out, &t, &o, &st, &e)) fail_msg("%s", e.msg);
    assert_int_equal(st.step, 9);
    assert_int_equal(st.opt.total_steps, 9);
    gf_trainable_free(t);
    gf_adamw_free(o);
    /* the new steps' learning rates are the 9-step schedule's, the old
     * ones the 4-step one's */
    gf_adamw_config c4 = {.lr = 2e-3f, .min_lr_ratio = 0.1f, .warmup = 2, .total_steps = 4}, c9 = c4;
    c9.total_steps = 9;
    for (int step = 1; step <= 9; step++) {
        char got[64], want[64];
        log_lr(out, step, got, sizeof got);
        snprintf(want, sizeof want, "%.6e", (double)gf_lr_at(step <= 4 ? &c4 : &c9, step - 1));
        if (strcmp(got, want)) fail_msg("step %d: lr %s in log.csv, wanted %s", step, got, want);
    }
    /* and it is finished again */
    snprintf(args, sizeof args, "train --resume %s --data %s", out, data_path);
    td_expect_cli_error(args, "finished at step 9 of 9", "--steps");
}

/* train --config C --tokenizer T: config.json gets T's BOS / EOS where C
 * leaves them to the defaults, and a C that sets others is refused. The
 * nfkc fixture has spm_train's default ids (BOS 1, EOS 2), not the
 * defaults' Gemma ones (BOS 2, EOS 1). */
static void test_tokenizer_ids_into_config(void **state) {
    (void)state;
    char tok[4096], cfg[4096], out[4096], err[4096], cmd[16384], args[16384];
    snprintf(tok, sizeof tok, "%s/nfkc_bpe.model", td_spm_fixtures());
    gf_error e;
    gf_tokenizer *tk = gf_tokenizer_load(tok, &e);
    if (!tk) fail_msg("%s", e.msg);
    int bos = gf_tokenizer_bos_id(tk), eos = gf_tokenizer_eos_id(tk);
    gf_tokenizer_free(tk);
    assert_true(bos >= 0 && eos >= 0 && (bos != 2 || eos != 1));
    const char *shape = "\"vocab_size\": 3000, \"hidden_size\": 32, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
                        " \"num_attention_heads\": 2, \"lru_width\": 32, \"attention_window_size\": 8,"
                        " \"block_types\": [\"recurrent\", \"attention\"]";
    char text[2048];
    snprintf(cfg, sizeof cfg, "%s/ids.json", td_tmpdir());
    snprintf(text, sizeof text, "{%s}", shape);
    td_write(cfg, text, strlen(text));
    snprintf(out, sizeof out, "%s/ids-run", td_tmpdir());
    snprintf(cmd, sizeof cmd, "%s train --config %s --tokenizer %s --data %s --out %s --steps 1 --batch 2 --seq 16 --threads 1",
             td_bin(), cfg, tok, data_path, out);
    if (td_run(cmd, err, sizeof err) != 0) fail_msg("%s: %s", cmd, err);
    gf_config c;
    char path[8192];
    snprintf(path, sizeof path, "%s/latest/config.json", out);
    if (gf_config_load(path, &c, &e)) fail_msg("%s", e.msg);
    assert_int_equal(c.bos_id, bos);
    assert_int_equal(c.eos_id, eos);
    /* generate trusts it without a warning */
    snprintf(cmd, sizeof cmd, "%s generate --model %s/latest --prompt hi -n 2", td_bin(), out);
    if (td_run(cmd, err, sizeof err) != 0) fail_msg("%s: %s", cmd, err);
    if (strstr(err, "warning")) fail_msg("stderr: %s", err);
    /* an explicit id that agrees is fine; one that does not is refused */
    snprintf(text, sizeof text, "{%s, \"eos_token_id\": %d, \"bos_token_id\": %d}", shape, eos, bos + 1);
    td_write(cfg, text, strlen(text));
    snprintf(out, sizeof out, "%s/ids-run-2", td_tmpdir());
    snprintf(args, sizeof args, "train --config %s --tokenizer %s --data %s --out %s --steps 1 --batch 2 --seq 16",
             cfg, tok, data_path, out);
    char want[64];
    snprintf(want, sizeof want, "bos_token_id is %d", bos + 1);
    td_expect_cli_error(args, want, "nfkc_bpe.model has");
    /* a tokenizer larger than the vocabulary */
    snprintf(args, sizeof args, "train --config %s --tokenizer %s --data %s --out %s --steps 1 --batch 2 --seq 16",
             cfg_path, tok, data_path, out);
    td_expect_cli_error(args, "3000 pieces", "vocab_size 64");
}

int main(void) {
    atexit(td_remove_tmpdir);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_adamw_update),
        cmocka_unit_test(test_data_windows),
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_failed_saves_keep_the_last_checkpoint),
        cmocka_unit_test(test_bad_data_refused_before_training),
        cmocka_unit_test(test_nonfinite_run_stops),
        cmocka_unit_test(test_bad_moments_refused),
        cmocka_unit_test(test_prepare_train_eval),
        cmocka_unit_test(test_resume_extends),
        cmocka_unit_test(test_tokenizer_ids_into_config),
    };
    return cmocka_run_group_tests_name("train", tests, setup, NULL);
}
