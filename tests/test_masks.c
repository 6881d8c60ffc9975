/* Loss masks: masked token data (rows of whole examples, refusals of bad
 * masks), masked evaluation against examples run one by one, and `train
 * --mask`, `eval --mask` and a masked run's resume, end to end. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

/* Command lines here are built from short temporary paths into large
 * buffers; gcc cannot see that they fit. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif


/* ---- masked token data ------------------------------------------------------------ */

/* Three examples, 4, 3 and 5 tokens; the middle one has no answer. */
static const int32_t EX_TOK[12] = {2, 10, 11, 12, 2, 20, 21, 2, 30, 31, 32, 33};
static const uint8_t EX_MASK[12] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1};

static void test_masked_rows(void **state) {
    (void)state;
    char tp[4096], mp[4096];
    td_write_npy("ex.tokens.npy", GF_NPY_I32, (size_t[]){12}, 1, EX_TOK, tp);
    td_write_npy("ex.mask.npy", GF_NPY_U8, (size_t[]){12}, 1, EX_MASK, mp);
    gf_error err;
    gf_token_data *d = gf_token_data_open(tp, 64, 2, &err);
    if (!d) fail_msg("%s", err.msg);
    assert_int_equal(gf_token_data_num_docs(d), 3);
    assert_int_equal(gf_token_data_longest_doc(d), 5);
    if (gf_token_data_set_mask(d, mp, &err)) fail_msg("%s", err.msg);
    assert_true(gf_token_data_masked(d));
    assert_int_equal(gf_token_data_num_answers(d), 4);
    /* 6 positions: the first two examples (3 + 2), then padding; the third
     * (4 positions) does not fit whole */
    int32_t in[8], tg[8], pos[8];
    assert_int_equal(gf_token_data_pack(d, 0, 6, in, tg, pos), 2);
    int32_t want_in[6] = {2, 10, 11, 2, 20, 2}, want_tg[6] = {-1, 11, 12, -1, -1, -1}, want_pos[6] = {0, 1, 2, 0, 1, 0};
    assert_memory_equal(in, want_in, sizeof want_in);
    assert_memory_equal(tg, want_tg, sizeof want_tg);
    assert_memory_equal(pos, want_pos, sizeof want_pos);
    assert_int_equal(gf_token_data_pack(d, 2, 4, in, tg, pos), 1);
    int32_t want_in2[4] = {2, 30, 31, 32}, want_tg2[4] = {-1, -1, 32, 33}, want_pos2[4] = {0, 1, 2, 3};
    assert_memory_equal(in, want_in2, sizeof want_in2);
    assert_memory_equal(tg, want_tg2, sizeof want_tg2);
    assert_memory_equal(pos, want_pos2, sizeof want_pos2);
    assert_int_equal(gf_token_data_pack(d, 2, 3, in, tg, pos), 0);
    /* sampled rows start at an example with an answer, never the middle one */
    uint64_t rng[4];
    gf_rng_seed(rng, 5);
    int32_t bin[40 * 4], btg[40 * 4], bpos[40 * 4];
    assert_int_equal(gf_token_data_sample(d, rng, 40, 4, bin, btg, bpos, &err), 0);
    int firsts = 0, thirds = 0;
    for (int b = 0; b < 40; b++) {
        assert_int_equal(bin[b * 4], 2);
        assert_int_equal(bpos[b * 4], 0);
        assert_int_not_equal(bin[b * 4 + 1], 20);
        firsts += bin[b * 4 + 1] == 10, thirds += bin[b * 4 + 1] == 30;
    }
    assert_int_equal(firsts + thirds, 40);
    assert_true(firsts > 5 && thirds > 5);
    assert_int_equal(gf_token_data_sample(d, rng, 1, 3, bin, btg, bpos, &err), -1);
    assert_non_null(strstr(err.msg, "an example of 5 tokens does not fit"));
    /* the unmasked window is unchanged by the mask */
    gf_token_data_window(d, 1, 3, in, tg, pos);
    assert_int_equal(tg[0], 11);
    gf_token_data_free(d);
}

/* Each bad mask: one message naming the mask file and what is wrong. */
static void test_bad_masks(void **state) {
    (void)state;
    char tp[4096], mp[4096], bad_tp[4096];
    td_write_npy("bm.tokens.npy", GF_NPY_I32, (size_t[]){12}, 1, EX_TOK, tp);
    uint8_t m[12];
    uint16_t m16[12] = {0};
    static const struct {
        const char *what, *needle;
    } cases[] = {{"short", "11 values for 12 tokens"}, {"value 2", "mask value 2 at index 3"},
                 {"on a BOS", "mask is 1 at index 4, a BOS"}, {"all zero", "no answer token"},
                 {"uint16", "uint8"}, {"2-D", "1-D"}, {"missing", "cannot open"}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        memcpy(m, EX_MASK, sizeof m);
        size_t shape[2] = {12, 1};
        gf_npy_dtype dt = GF_NPY_U8;
        const void *data = m;
        int nd = 1;
        if (k == 0) shape[0] = 11;
        if (k == 1) m[3] = 2;
        if (k == 2) m[4] = 1;
        if (k == 3) memset(m, 0, sizeof m);
        if (k == 4) dt = GF_NPY_U16, data = m16;
        if (k == 5) nd = 2;
        char name[64];
        snprintf(name, sizeof name, "bad-mask-%zu.npy", k);
        td_write_npy(name, dt, shape, nd, data, mp);
        if (k == 6) strcat(mp, ".gone");
        gf_error err;
        gf_token_data *d = gf_token_data_open(tp, 64, 2, &err);
        assert_non_null(d);
        assert_int_equal(gf_token_data_set_mask(d, mp, &err), -1);
        if (!strstr(err.msg, name) || !strstr(err.msg, cases[k].needle))
            fail_msg("%s: '%s' (wanted the file and '%s')", cases[k].what, err.msg, cases[k].needle);
        assert_false(gf_token_data_masked(d));
        gf_token_data_free(d);
    }
    /* a token file that does not start at an example's BOS */
    int32_t shifted[12];
    memcpy(shifted, EX_TOK + 1, 11 * sizeof *shifted);
    shifted[11] = 40;
    td_write_npy("shifted.tokens.npy", GF_NPY_I32, (size_t[]){12}, 1, shifted, bad_tp);
    td_write_npy("shifted.mask.npy", GF_NPY_U8, (size_t[]){12}, 1, (uint8_t[12]){0, 1}, mp);
    gf_error err;
    gf_token_data *d = gf_token_data_open(bad_tp, 64, 2, &err);
    assert_int_equal(gf_token_data_set_mask(d, mp, &err), -1);
    assert_non_null(strstr(err.msg, "first token is 10"));
    gf_token_data_free(d);
}

/* The argmax of the logits at position t of a prefill of tok[0..t]. */
static int32_t predicted(const gf_model *m, const int32_t *tok, size_t t, float *lg) {
    gf_error err;
    size_t V = (size_t)gf_model_config(m)->vocab_size;
    if (gf_prefill(m, 1, (int)t + 1, tok, NULL, lg, NULL, NULL, &err)) fail_msg("%s", err.msg);
    const float *row = lg + t * V;
    size_t best = 0;
    for (size_t v = 1; v < V; v++)
        if (row[v] > row[best]) best = v;
    return (int32_t)best;
}

/* Masked evaluation on packed rows equals the examples run one by one, each
 * alone in a prefill of its own length: loss, token accuracy, exact match. */
static void test_masked_eval_matches_examples(void **state) {
    (void)state;
    gf_error err;
    gf_model *m = gf_model_load(td_path("golden/hawk"), &err);
    if (!m) fail_msg("%s", err.msg);
    size_t V = (size_t)gf_model_config(m)->vocab_size;
    float *lg = malloc(9 * V * sizeof *lg);
    /* examples of 5..9 random tokens (ids 3..202), the mask on the last two;
     * about half the answers are made the model's own prediction, so that
     * right and wrong answers and examples all occur */
    enum { N = 23 };
    int32_t tok[N * 9];
    uint8_t mk[N * 9];
    size_t n = 0, starts[N + 1];
    uint64_t rng[4];
    gf_rng_seed(rng, 17);
    for (int e = 0; e < N; e++) {
        size_t L = 5 + (size_t)e % 5;
        starts[e] = n;
        tok[n] = 2, mk[n] = 0;
        for (size_t j = 1; j < L; j++) tok[n + j] = 3 + (int32_t)(gf_rng_next(rng) % 200), mk[n + j] = j + 2 >= L;
        for (size_t j = L - 2; j < L; j++) {
            int32_t y = predicted(m, tok + n, j - 1, lg);
            if (gf_rng_next(rng) % 2 && y != 2) tok[n + j] = y;
        }
        n += L;
    }
    starts[N] = n;
    char tp[4096], mp[4096];
    td_write_npy("ev.tokens.npy", GF_NPY_I32, (size_t[]){n}, 1, tok, tp);
    td_write_npy("ev.mask.npy", GF_NPY_U8, (size_t[]){n}, 1, mk, mp);
    gf_token_data *d = gf_token_data_open(tp, (int)V, 2, &err);
    if (!d || gf_token_data_set_mask(d, mp, &err)) fail_msg("%s", err.msg);
    /* one by one */
    double sum = 0;
    size_t targets = 0, right = 0, ex_right = 0;
    for (int e = 0; e < N; e++) {
        size_t a = starts[e], L = starts[e + 1] - a;
        if (gf_prefill(m, 1, (int)L - 1, tok + a, NULL, lg, NULL, NULL, &err)) fail_msg("%s", err.msg);
        int all = 1;
        for (size_t t = 0; t + 1 < L; t++) {
            if (!mk[a + t + 1]) continue;
            const float *row = lg + t * V;
            size_t best = 0;
            double mx = row[0], z = 0;
            for (size_t v = 1; v < V; v++)
                if (row[v] > mx) mx = row[v], best = v;
            for (size_t v = 0; v < V; v++) z += exp((double)row[v] - mx);
            sum += log(z) + mx - row[tok[a + t + 1]];
            targets++;
            right += best == (size_t)tok[a + t + 1];
            all &= best == (size_t)tok[a + t + 1];
        }
        ex_right += (size_t)all;
    }
    free(lg);
    /* packed: rows of 20 positions hold two to four examples, two rows a prefill */
    gf_eval_stats s = {0};
    if (gf_eval_data_stats(m, d, 2, 20, 0, &s, &err)) fail_msg("%s", err.msg);
    print_message("    %zu examples in %zu rows: loss %.5f (one by one %.5f), %zu/%zu tokens right, %zu/%zu examples\n",
                  s.examples, s.windows, s.loss, sum / (double)targets, s.correct, s.targets, s.examples_correct,
                  s.examples);
    assert_int_equal(s.examples, N);
    assert_true(s.windows < N / 2);
    assert_true(right > 0 && right < targets && ex_right > 0 && ex_right < N);
    assert_int_equal(s.targets, targets);
    assert_int_equal(s.correct, right);
    assert_int_equal(s.examples_correct, ex_right);
    assert_true(fabs(s.loss - sum / (double)targets) < 1e-5);
    /* a window too short for an example, and a limit on the rows */
    assert_int_equal(gf_eval_data_stats(m, d, 2, 7, 0, &s, &err), -1);
    assert_non_null(strstr(err.msg, "an example of 9 tokens"));
    if (gf_eval_data_stats(m, d, 2, 8, 3, &s, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.windows, 3);
    assert_int_equal(s.examples, 3);
    gf_token_data_free(d);
    gf_model_free(m);
}

/* ---- the command line ---------------------------------------------------------- */

static const char *TASK_CFG =
    "{\"vocab_size\": 16, \"hidden_size\": 32, \"intermediate_size\": 96, \"num_hidden_layers\": 2,"
    " \"num_attention_heads\": 2, \"lru_width\": 32, \"attention_window_size\": 16,"
    " \"block_types\": [\"recurrent\", \"attention\"]}";

static long csv_field_count(const char *line) {
    long n = 1;
    for (; *line && *line != '\n'; line++) n += *line == ',';
    return n;
}

/* Reads "KEY VALUE" after needle in text. */
static double number_after(const char *text, const char *needle) {
    const char *p = strstr(text, needle);
    if (!p) fail_msg("'%s' not in: %s", needle, text);
    return strtod(p + strlen(needle), NULL);
}

static void test_train_and_eval_with_masks(void **state) {
    (void)state;
    const char *tmp = td_tmpdir();
    char cmd[16384], out[16384], err[4096], args[8192], cfg[4096], run[4096];
    snprintf(cfg, sizeof cfg, "%s/task-cfg.json", tmp);
    td_write(cfg, TASK_CFG, strlen(TASK_CFG));
    snprintf(cmd, sizeof cmd,
             "%s task induction-heads --out %s/ih/train --examples 200 --seq 17 --symbols 8 && "
             "%s task induction-heads --out %s/ih/val --examples 24 --seq 17 --symbols 8 --seed 2 && "
             "%s task induction-heads --out %s/ih/long --examples 4 --seq 40 --symbols 8 --seed 3",
             td_bin(), tmp, td_bin(), tmp, td_bin(), tmp);
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "vocab_size 12"));
    snprintf(run, sizeof run, "%s/ih/run", tmp);
    char data[6000];
    snprintf(data, sizeof data, "--data %s/ih/train.tokens.npy --mask %s/ih/train.mask.npy", tmp, tmp);
    snprintf(cmd, sizeof cmd,
             "%s train --config %s %s --val %s/ih/val.tokens.npy --val-mask %s/ih/val.mask.npy --out %s --steps 8 "
             "--batch 4 --seq 16 --warmup 2 --lr 3e-3 --eval-every 4 --eval-windows 10 --threads 1",
             td_bin(), cfg, data, tmp, tmp, run);
    int rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", cmd, err);
    assert_non_null(strstr(err, "loss on the 200 answer tokens of 200 examples"));
    assert_non_null(strstr(err, " acc "));
    size_t n;
    char p[8192];
    snprintf(p, sizeof p, "%s/log.csv", run);
    char *csv = td_read(p, &n);
    assert_non_null(strstr(csv, "val_loss,val_token_acc,val_exact_acc\n"));
    char *last = strstr(csv, "\n8,");
    assert_non_null(last);
    assert_int_equal(csv_field_count(last + 1), 10);
    /* the last line's val loss, token accuracy, exact match */
    double vl, va, ve;
    const char *f = last + 1;
    for (int i = 0; i < 7; i++) f = strchr(f, ',') + 1;
    assert_int_equal(sscanf(f, "%lf,%lf,%lf", &vl, &va, &ve), 3);
    free(csv);
    /* eval of the same rows: the same figures; one answer per example, so
     * token accuracy and exact match agree */
    snprintf(cmd, sizeof cmd,
             "%s eval --model %s/latest --data %s/ih/val.tokens.npy --mask %s/ih/val.mask.npy --seq 16 --windows 10 "
             "--per-position --buckets 2",
             td_bin(), run, tmp, tmp);
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    print_message("    %s", out);
    assert_non_null(strstr(out, "on 10 answer tokens"));
    assert_non_null(strstr(out, "/10 examples), over 10 windows of 16 tokens"));
    assert_true(fabs(number_after(out, "loss ") - vl) < 1e-4);
    assert_true(fabs(number_after(out, "token accuracy ") - va) < 1e-4);
    assert_true(fabs(number_after(out, "exact match ") - ve) < 1e-4);
    assert_non_null(strstr(out, "positions      0-7      no target counted"));
    assert_non_null(strstr(out, "positions      8-15     loss"));
    assert_non_null(strstr(out, "(10 answer tokens)"));
    /* examples twice the training length, evaluated as they are */
    snprintf(cmd, sizeof cmd, "%s eval --model %s/latest --data %s/ih/long.tokens.npy --mask %s/ih/long.mask.npy --seq 39",
             td_bin(), run, tmp, tmp);
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "/4 examples), over 4 windows of 39 tokens"));

    /* a mask that is not the tokens' own, to train and to eval */
    snprintf(args, sizeof args,
             "train --config %s --data %s/ih/train.tokens.npy --mask %s/ih/val.mask.npy --out %s/ih/bad --steps 2 --seq 16",
             cfg, tmp, tmp, tmp);
    td_expect_cli_error(args, "val.mask.npy", "408 values for 3400 tokens");
    snprintf(args, sizeof args, "eval --model %s/latest --data %s/ih/val.tokens.npy --mask %s/ih/train.mask.npy --seq 16",
             run, tmp, tmp);
    td_expect_cli_error(args, "train.mask.npy", "3400 values for 408 tokens");
    /* examples longer than a window, a val without its mask, a val mask alone */
    snprintf(args, sizeof args, "train --config %s %s --out %s/ih/bad --steps 2 --seq 15", cfg, data, tmp);
    td_expect_cli_error(args, "train.tokens.npy", "use --seq 16 or more");
    snprintf(args, sizeof args, "eval --model %s/latest --data %s/ih/long.tokens.npy --mask %s/ih/long.mask.npy --seq 16",
             run, tmp, tmp);
    td_expect_cli_error(args, "long.tokens.npy", "an example of 40 tokens does not fit");
    snprintf(args, sizeof args, "train --config %s %s --val %s/ih/val.tokens.npy --out %s/ih/bad --seq 16", cfg, data, tmp, tmp);
    td_expect_cli_error(args, "--val-mask", NULL);
    snprintf(args, sizeof args,
             "train --config %s --data %s/ih/train.tokens.npy --val %s/ih/val.tokens.npy --val-mask %s/ih/val.mask.npy "
             "--out %s/ih/bad", cfg, tmp, tmp, tmp, tmp);
    td_expect_cli_error(args, "--val-mask goes with --mask", NULL);
    struct stat st;
    snprintf(p, sizeof p, "%s/ih/bad/log.csv", tmp);
    assert_int_equal(stat(p, &st), -1);
    /* the resume of a masked run needs its mask; an unmasked run refuses one */
    snprintf(args, sizeof args, "train --resume %s --data %s/ih/train.tokens.npy", run, tmp);
    td_expect_cli_error(args, "give --mask again", NULL);
    /* with its mask it is accepted (and then found finished: the mask is
     * checked first) */
    snprintf(args, sizeof args, "train --resume %s %s", run, data);
    td_expect_cli_error(args, "finished at step", "--steps");
}

/* A masked run stopped after 3 of 6 steps and resumed gives the losses and
 * weights of an unbroken one. (The learning rate is constant after warm-up,
 * so a 3-step run whose state then says 6 is the first half of a 6-step run.) */
static void test_masked_resume_is_exact(void **state) {
    (void)state;
    const char *tmp = td_tmpdir();
    char cmd[16384], out[8192], err[4096], cfg[4096], a[4096], b[4096], data[6000];
    snprintf(cfg, sizeof cfg, "%s/resume-cfg.json", tmp);
    td_write(cfg, TASK_CFG, strlen(TASK_CFG));
    snprintf(cmd, sizeof cmd, "%s task selective-copy --out %s/rs/copy --examples 64 --seq 20 --data-tokens 3 --symbols 6",
             td_bin(), tmp);
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    snprintf(data, sizeof data, "--data %s/rs/copy.tokens.npy --mask %s/rs/copy.mask.npy", tmp, tmp);
    const char *hp = "--batch 3 --seq 24 --warmup 2 --min-lr 1 --lr 2e-3 --seed 9 --threads 1";
    snprintf(a, sizeof a, "%s/rs/a", tmp);
    snprintf(b, sizeof b, "%s/rs/b", tmp);
    snprintf(cmd, sizeof cmd, "%s train --config %s %s --out %s --steps 6 %s", td_bin(), cfg, data, a, hp);
    if (td_run(cmd, err, sizeof err)) fail_msg("%s: %s", cmd, err);
    snprintf(cmd, sizeof cmd, "%s train --config %s %s --out %s --steps 3 %s", td_bin(), cfg, data, b, hp);
    if (td_run(cmd, err, sizeof err)) fail_msg("%s: %s", cmd, err);
    char p[8192];
    size_t n;
    snprintf(p, sizeof p, "%s/latest/trainer_state.json", b);
    char *text = td_read(p, &n);
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "mask")));
    cJSON_SetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "adamw"), "total_steps"), 6);
    text = cJSON_Print(j);
    td_write(p, text, strlen(text));
    free(text);
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "%s train --resume %s %s", td_bin(), b, data);
    if (td_run(cmd, err, sizeof err)) fail_msg("%s: %s", cmd, err);
    static char la[7][32], lb[7][32];
    td_log_losses(a, la, 7);
    td_log_losses(b, lb, 7);
    for (int i = 1; i <= 6; i++)
        if (strcmp(la[i], lb[i])) fail_msg("step %d: loss %s resumed, %s unbroken", i, lb[i], la[i]);
    char wa[8192], wb[8192];
    snprintf(wa, sizeof wa, "%s/latest/model.safetensors", a);
    snprintf(wb, sizeof wb, "%s/latest/model.safetensors", b);
    size_t na, nb;
    void *xa = td_read(wa, &na), *xb = td_read(wb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(xa, xb, na);
    free(xa);
    free(xb);
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masked_rows),
        cmocka_unit_test(test_bad_masks),
        cmocka_unit_test(test_masked_eval_matches_examples),
        cmocka_unit_test(test_train_and_eval_with_masks),
        cmocka_unit_test(test_masked_resume_is_exact),
    };
    return cmocka_run_group_tests_name("masks", tests, NULL, NULL);
}
