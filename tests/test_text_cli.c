/* Text in, text out, end to end: a model directory made with `griffin init`
 * plus a tokenizer trained by spm_train (the Gemma-like fixture), driven
 * through `griffin generate --prompt` and `griffin chat`.
 *
 *  - generate's streamed text is what spm_decode makes of the ids it
 *    sampled, and its prompt is BOS + spm_encode's ids;
 *  - generation stops at <end_of_turn> (a model is edited so that token is
 *    the certain next one);
 *  - chat keeps its state between turns: its second reply equals what
 *    generate produces from the whole conversation's ids, fed afresh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "testutil.h"

/* Runs cmd; its stdout into out (cap bytes), stderr into err. */
static void run(const char *cmd, char *out, size_t cap, char *err, size_t err_cap) {
    char full[16384], path[4096];
    snprintf(path, sizeof path, "%s/stdout.txt", td_tmpdir());
    /* a subshell, so td_run's own stdout redirection does not override ours */
    snprintf(full, sizeof full, "((%s) > %s)", cmd, path);
    int rc = td_run(full, err, err_cap);
    if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
    size_t n;
    char *s = td_read(path, &n);
    assert_true(n < cap);
    memcpy(out, s, n);
    out[n] = 0;
    free(s);
}

static char model_dir[4096];

/* A tiny Griffin config with the given vocabulary size. */
static void write_config(const char *path, int vocab) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"vocab_size\": %d, \"hidden_size\": 64, \"intermediate_size\": 192,"
            " \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"lru_width\": 64,"
            " \"attention_window_size\": 16, \"conv1d_width\": 4, \"logits_soft_cap\": 30.0,"
            " \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}\n", vocab);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    char cmd[16384], err[4096], cfg[4096];
    snprintf(model_dir, sizeof model_dir, "%s/model", td_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/config.json", td_tmpdir());
    /* 4000 ids as the fixture tokenizer; Gemma's special ids (pad 0, eos 1,
     * bos 2), which the fixture was trained with. */
    write_config(cfg, 4000);
    snprintf(cmd, sizeof cmd, "%s init --config %s --out %s --seed 7 && cp %s/gemma_bpe.model %s/tokenizer.model",
             td_bin(), cfg, model_dir, td_spm_fixtures(), model_dir);
    if (td_run(cmd, err, sizeof err) != 0) {
        print_message("setup failed: %s\n", err);
        return -1;
    }
    return 0;
}

static void test_generate_text_matches_spm_decode(void **state) {
    (void)state;
    static char ids_out[1 << 16], text_out[1 << 16], want[1 << 16], err[4096], enc[1 << 16];
    char cmd[16384];
    const char *prompt = "The quick brown fox 123";
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt '%s' -n 40 --temp 0.9 --seed 5 --ids", td_bin(),
             model_dir, prompt);
    run(cmd, ids_out, sizeof ids_out, err, sizeof err);
    /* prompt length: BOS + spm_encode's ids */
    snprintf(cmd, sizeof cmd, "printf '%%s\\n' '%s' | spm_encode --model=%s/tokenizer.model --output_format=id",
             prompt, model_dir);
    run(cmd, enc, sizeof enc, want, sizeof want);
    int32_t ids[4096];
    size_t n_prompt = td_parse_ids(enc, ids, 4096) + 1;
    char needle[64];
    snprintf(needle, sizeof needle, "prompt %zu tokens", n_prompt);
    if (!strstr(err, needle)) fail_msg("wanted '%s' in: %s", needle, err);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt '%s' -n 40 --temp 0.9 --seed 5", td_bin(), model_dir,
             prompt);
    run(cmd, text_out, sizeof text_out, err, sizeof err);
    char ids_file[4096];
    snprintf(ids_file, sizeof ids_file, "%s/gen.ids", td_tmpdir());
    td_write(ids_file, ids_out, strlen(ids_out));
    snprintf(cmd, sizeof cmd, "spm_decode --model=%s/tokenizer.model --input_format=id < %s", model_dir, ids_file);
    run(cmd, want, sizeof want, err, sizeof err);
    size_t n_gen = td_parse_ids(ids_out, ids, 4096);
    print_message("    generated %zu tokens; text: %.60s...\n", n_gen, text_out);
    assert_true(n_gen > 0);
    /* The Gemma-like tokenizer adds no dummy prefix, so the continuation's
     * text is spm_decode's text of the same ids. */
    assert_string_equal(text_out, want);
}

/* Makes <end_of_turn> the certain next token: the last layer's MLP bias is
 * set to a large multiple of that token's (tied) embedding row, so the final
 * stream points along it and its logit dominates. */
static void force_end_of_turn(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    gf_st_file f;
    gf_error err;
    if (gf_st_open(path, &f, &err)) fail_msg("%s", err.msg);
    const gf_st_tensor *emb = gf_st_find(&f, "model.embed_tokens.weight");
    const gf_st_tensor *bias = gf_st_find(&f, "model.layers.2.mlp_block.down_proj.bias");
    assert_non_null(emb);
    assert_non_null(bias);
    size_t D = emb->shape[1];
    int eot = 5; /* <end_of_turn>: the fixture's second user-defined symbol after 4 specials */
    float *row = malloc(D * sizeof *row);
    memcpy(row, (const float *)emb->data + (size_t)eot * D, D * sizeof *row);
    for (size_t i = 0; i < D; i++) row[i] *= 1000.0f;
    size_t off = (size_t)((const uint8_t *)bias->data - (const uint8_t *)f.map.data);
    gf_st_close(&f);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)off, SEEK_SET), 0);
    assert_int_equal(fwrite(row, sizeof *row, D, fp), D);
    fclose(fp);
    free(row);
}

static void test_stops_at_end_of_turn(void **state) {
    (void)state;
    static char out[1 << 16], err[4096];
    char cmd[16384], dir[4096];
    snprintf(dir, sizeof dir, "%s/eot-model", td_tmpdir());
    snprintf(cmd, sizeof cmd, "cp -r %s %s", model_dir, dir);
    assert_int_equal(td_run(cmd, err, sizeof err), 0);
    /* the fixture puts <end_of_turn> at id 5 */
    snprintf(cmd, sizeof cmd, "echo 5 | spm_decode --model=%s/tokenizer.model --input_format=id", dir);
    run(cmd, out, sizeof out, err, sizeof err);
    assert_string_equal(out, "<end_of_turn>\n");
    force_end_of_turn(dir);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hello -n 8 --temp 0", td_bin(), dir);
    run(cmd, out, sizeof out, err, sizeof err);
    assert_string_equal(out, "\n");
    assert_non_null(strstr(err, "generated 0 tokens"));
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hello -n 2 --temp 0 --no-eos", td_bin(), dir);
    run(cmd, out, sizeof out, err, sizeof err);
    assert_string_equal(out, "<end_of_turn><end_of_turn>\n");
    /* chat: every reply is empty, and the next turn starts by closing it */
    snprintf(cmd, sizeof cmd, "printf 'hi\\nagain\\n' | %s chat --model %s --temp 0 --log-ids %s/eot.log", td_bin(), dir,
             td_tmpdir());
    run(cmd, out, sizeof out, err, sizeof err);
    assert_string_equal(out, "\n\n");
}

static void test_chat_keeps_state(void **state) {
    (void)state;
    static char out[1 << 16], err[4096], gen[1 << 16], logbuf[1 << 16];
    char cmd[16384], log[4096];
    snprintf(log, sizeof log, "%s/chat.log", td_tmpdir());
    remove(log);
    snprintf(cmd, sizeof cmd,
             "printf 'Hello, who are you?\\nTell me more \\\\\\nabout that.\\n' | %s chat --model %s --temp 0 -n 12 "
             "--log-ids %s",
             td_bin(), model_dir, log);
    run(cmd, out, sizeof out, err, sizeof err);
    /* log: turn-1 prompt, reply 1, turn-2 prompt, reply 2 */
    size_t n;
    char *l = td_read(log, &n);
    assert_true(n < sizeof logbuf);
    memcpy(logbuf, l, n);
    logbuf[n] = 0;
    free(l);
    char *line[4];
    char *p = logbuf;
    for (int i = 0; i < 4; i++) {
        line[i] = p;
        p = strchr(p, '\n');
        assert_non_null(p);
        *p++ = 0;
    }
    static int32_t hist[8192], reply2[512], want2[512];
    size_t nh = 0;
    for (int i = 0; i < 3; i++) nh += td_parse_ids(line[i], hist + nh, 8192 - nh);
    size_t nr = td_parse_ids(line[3], reply2, 512);
    assert_int_equal(hist[0], 2);            /* BOS */
    assert_true(nr > 0);
    /* turn 2 starts by closing turn 1 with <end_of_turn> */
    assert_int_equal(strtol(line[2], NULL, 10), 5);
    /* Fed afresh, the whole history gives the same second reply. */
    char *ids_arg = malloc(nh * 8 + 1), *w = ids_arg;
    for (size_t i = 0; i < nh; i++) w += sprintf(w, "%s%d", i ? "," : "", hist[i]);
    size_t cmd_len = strlen(ids_arg) + 1024;
    char *gcmd = malloc(cmd_len);
    snprintf(gcmd, cmd_len, "%s generate --model %s --prompt-ids %s -n %zu --temp 0 --ids", td_bin(), model_dir,
             ids_arg, nr);
    run(gcmd, gen, sizeof gen, err, sizeof err);
    size_t ng = td_parse_ids(gen, want2, 512);
    print_message("    history %zu tokens; second reply %zu tokens, fresh run %zu tokens\n", nh, nr, ng);
    assert_int_equal(ng, nr);
    assert_memory_equal(want2, reply2, nr * sizeof *reply2);
    free(ids_arg);
    free(gcmd);
}

/* A model with more ids than the tokenizer has pieces (4096 vs 4000) never
 * samples an id the tokenizer cannot print. Unmasked, 200 draws at
 * temperature 1 over the whole vocabulary would hit one of the 96 extra ids
 * with probability ~99%. */
static void test_padded_vocabulary(void **state) {
    (void)state;
    static char out[1 << 16], err[4096];
    char cmd[16384], dir[4096], cfg[4096];
    snprintf(dir, sizeof dir, "%s/padded", td_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/padded.json", td_tmpdir());
    write_config(cfg, 4096);
    snprintf(cmd, sizeof cmd, "%s init --config %s --out %s --seed 3 && cp %s/gemma_bpe.model %s/tokenizer.model",
             td_bin(), cfg, dir, td_spm_fixtures(), dir);
    if (td_run(cmd, err, sizeof err) != 0) fail_msg("%s: %s", cmd, err);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi -n 200 --temp 1 --top-k 0 --top-p 1 --seed 1 --ids --no-eos",
             td_bin(), dir);
    run(cmd, out, sizeof out, err, sizeof err);
    static int32_t ids[512];
    size_t n = td_parse_ids(out, ids, 512);
    assert_int_equal(n, 200);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < 4000);
}

static void test_prompt_needs_tokenizer(void **state) {
    (void)state;
    char cmd[16384], err[4096], dir[4096];
    snprintf(dir, sizeof dir, "%s/no-tok", td_tmpdir());
    snprintf(cmd, sizeof cmd, "cp -r %s %s && rm %s/tokenizer.model", model_dir, dir, dir);
    assert_int_equal(td_run(cmd, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi", td_bin(), dir);
    assert_int_equal(td_run(cmd, err, sizeof err), 1);
    assert_non_null(strstr(err, "tokenizer.model"));
    snprintf(cmd, sizeof cmd, "echo hi | %s chat --model %s", td_bin(), dir);
    assert_int_equal(td_run(cmd, err, sizeof err), 1);
    assert_non_null(strstr(err, "tokenizer.model"));
    /* a message past the token limit (the fixture tokenizer splits digits:
     * one token each) is refused before anything is fed */
    snprintf(cmd, sizeof cmd, "python3 -c 'print(\"7\" * 1100000)' | %s chat --model %s", td_bin(), model_dir);
    assert_int_equal(td_run(cmd, err, sizeof err), 1);
    if (!strstr(err, "message: ") || !strstr(err, "more than the 1048576 allowed")) fail_msg("stderr: %s", err);
    /* a tokenizer without the turn pieces cannot chat */
    snprintf(cmd, sizeof cmd, "cp %s/nfkc_bpe.model %s/tokenizer.model && echo hi | %s chat --model %s", td_spm_fixtures(),
             dir, td_bin(), dir);
    assert_int_equal(td_run(cmd, err, sizeof err), 1);
    assert_non_null(strstr(err, "<start_of_turn>"));
}

/* ---- sampling options ---------------------------------------------------- */

/* The continuation text of `generate ARGS` (its closing newline dropped). */
static void gen_text(const char *args, char *out, size_t cap) {
    static char err[8192];
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt 'The quick brown fox' %s", td_bin(), model_dir, args);
    run(cmd, out, cap, err, sizeof err);
    size_t n = strlen(out);
    assert_true(n > 0 && out[n - 1] == '\n');
    out[n - 1] = 0;
}

/* The byte length of the first k UTF-8 characters of s (fewer if s ends). */
static size_t utf8_chars(const char *s, size_t k) {
    size_t i = 0;
    while (k-- > 0 && s[i]) {
        i++;
        while ((s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

/* --stop ends the text right before the first place any of the strings
 * starts; the expected text is cut from an unstopped greedy run. */
static void test_stop_strings(void **state) {
    (void)state;
    static char full[1 << 16], out[1 << 16], want[1 << 16];
    /* the penalty keeps greedy decoding from looping, so the text varies */
    const char *base = "-n 40 --temp 0 --repeat-penalty 3";
    gen_text(base, full, sizeof full);
    size_t at = utf8_chars(full, 12), len = utf8_chars(full + at, 3);
    assert_true(len > 0);
    char stop[64], later[64], args[512];
    assert_true(len < sizeof stop);
    memcpy(stop, full + at, len);
    stop[len] = 0;
    const char *first = strstr(full, stop); /* the string may occur before where it was taken */
    memcpy(want, full, (size_t)(first - full));
    want[first - full] = 0;
    snprintf(args, sizeof args, "%s --stop '%s'", base, stop);
    gen_text(args, out, sizeof out);
    print_message("    unstopped: %.80s...\n    --stop '%s': '%s'\n", full, stop, out);
    assert_string_equal(out, want);
    assert_true(strlen(out) < strlen(full));
    /* repeatable: the earliest of several wins, in either order */
    size_t at2 = utf8_chars(full, 25), len2 = utf8_chars(full + at2, 2);
    memcpy(later, full + at2, len2);
    later[len2] = 0;
    const char *first2 = strstr(full, later);
    size_t cut = (size_t)((first2 && first2 < first ? first2 : first) - full);
    memcpy(want, full, cut);
    want[cut] = 0;
    snprintf(args, sizeof args, "%s --stop '%s' --stop='%s'", base, later, stop);
    gen_text(args, out, sizeof out);
    assert_string_equal(out, want);
    /* a string that never comes changes nothing */
    snprintf(args, sizeof args, "%s --stop 'no such text, surely'", base);
    gen_text(args, out, sizeof out);
    assert_string_equal(out, full);
}

static size_t distinct_ids(const int32_t *ids, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && ids[j] != ids[i]) j++;
        d += j == i;
    }
    return d;
}

/* Greedy decoding of the random model loops on a couple of tokens; a
 * penalty on the last 64 breaks the loop, and a window of 0 turns it off. */
static void test_repeat_penalty(void **state) {
    (void)state;
    static char greedy[1 << 16], pen[1 << 16], off[1 << 16];
    static int32_t a[256], b[256];
    gen_text("-n 40 --temp 0 --ids", greedy, sizeof greedy);
    gen_text("-n 40 --temp 0 --ids --repeat-penalty 3", pen, sizeof pen);
    gen_text("-n 40 --temp 0 --ids --repeat-penalty 3 --repeat-last-n 0", off, sizeof off);
    size_t na = td_parse_ids(greedy, a, 256), nb = td_parse_ids(pen, b, 256);
    size_t da = distinct_ids(a, na), db = distinct_ids(b, nb);
    print_message("    greedy: %zu distinct ids of %zu; --repeat-penalty 3: %zu of %zu\n", da, na, db, nb);
    assert_int_equal(na, 40);
    assert_int_equal(nb, 40);
    assert_true(da <= 10);     /* it loops */
    assert_true(db >= 30);     /* it does not */
    assert_string_equal(off, greedy);
}

/* --min-p 1 keeps only the likeliest token: sampling at temperature 1 gives
 * the greedy output, whatever the seed. */
static void test_min_p_one_is_greedy(void **state) {
    (void)state;
    static char greedy[1 << 16], minp[1 << 16], plain[1 << 16];
    gen_text("-n 30 --temp 0 --ids", greedy, sizeof greedy);
    gen_text("-n 30 --temp 1 --top-k 0 --top-p 1 --min-p 1 --seed 3 --ids", minp, sizeof minp);
    gen_text("-n 30 --temp 1 --top-k 0 --top-p 1 --seed 3 --ids", plain, sizeof plain);
    assert_string_equal(minp, greedy);
    assert_string_not_equal(plain, greedy); /* the seed alone would not have done it */
}

/* -n -1 runs until the end-of-sequence id: with the same seed, the run
 * that ignores EOS (--no-eos) shows where the first one comes. */
static void test_n_until_eos(void **state) {
    (void)state;
    static char all[1 << 18], until[1 << 18], err[4096];
    static int32_t ids[20001], got[20001];
    char cmd[16384];
    int found = 0;
    for (int seed = 1; seed <= 8 && !found; seed++) {
        snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi -n 20000 --temp 1 --top-k 0 --top-p 1 --seed %d --ids --no-eos",
                 td_bin(), model_dir, seed);
        run(cmd, all, sizeof all, err, sizeof err);
        size_t n = td_parse_ids(all, ids, 20001), p = 0;
        while (p < n && ids[p] != 1) p++; /* eos_token_id 1 (the config's default) */
        if (p == n || p <= 64) continue; /* no EOS, or within the default -n */
        found = 1;
        snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi -n -1 --temp 1 --top-k 0 --top-p 1 --seed %d --ids",
                 td_bin(), model_dir, seed);
        run(cmd, until, sizeof until, err, sizeof err);
        size_t m = td_parse_ids(until, got, 20001);
        print_message("    seed %d: the first EOS after %zu tokens; -n -1 generated %zu\n", seed, p, m);
        assert_int_equal(m, p);
        assert_memory_equal(got, ids, p * sizeof *ids);
        if (!strstr(err, "stopped by stop id")) fail_msg("stderr: %s", err);
    }
    assert_true(found);
}

/* Bad sampling values: one line naming the option, exit 1. */
static void test_bad_sampling_values(void **state) {
    (void)state;
    static const struct {
        const char *args, *needle;
    } cases[] = {{"--min-p 1.5", "--min-p"},           {"--min-p nan", "--min-p"},
                 {"--repeat-penalty 0", "--repeat-penalty"}, {"--repeat-penalty -1", "--repeat-penalty"},
                 {"--repeat-penalty inf", "--repeat-penalty"}, {"--repeat-last-n -1", "--repeat-last-n"},
                 {"--repeat-last-n 2000000", "--repeat-last-n"}, {"--stop ''", "--stop"},
                 {"-n -2", "-n"},                      {"--temp=x", "--temp"},
                 {"--top-k=-1", "--top-k"}};
    char args[8192];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(args, sizeof args, "generate --model %s --prompt hi %s", model_dir, cases[i].args);
        td_expect_cli_error(args, cases[i].needle, NULL);
        snprintf(args, sizeof args, "chat --model %s %s < /dev/null", model_dir, cases[i].args);
        td_expect_cli_error(args, cases[i].needle, NULL);
    }
    /* chat takes no -n 0 (a reply of nothing) */
    snprintf(args, sizeof args, "chat --model %s -n 0 < /dev/null", model_dir);
    td_expect_cli_error(args, "-n", "-1");
    /* stop strings are matched against text: ids alone have none */
    char dir[4096], cmd[16384], err[4096];
    snprintf(dir, sizeof dir, "%s/no-tok-stop", td_tmpdir());
    snprintf(cmd, sizeof cmd, "cp -r %s %s && rm %s/tokenizer.model", model_dir, dir, dir);
    assert_int_equal(td_run(cmd, err, sizeof err), 0);
    snprintf(args, sizeof args, "generate --model %s --prompt-ids 2,5 --stop x", dir);
    td_expect_cli_error(args, "stop strings", "tokenizer");
}

/* ---- prompts from files and stdin ---------------------------------------- */

static void test_prompt_from_file_and_stdin(void **state) {
    (void)state;
    static char a[1 << 16], b[1 << 16], c[1 << 16], err[4096];
    char cmd[16384], file[4096], args[16384];
    snprintf(file, sizeof file, "%s/prompt.txt", td_tmpdir());
    td_write(file, "The quick brown fox\n", 20); /* the trailing newline is dropped */
    gen_text("-n 12 --temp 0 --ids", a, sizeof a);
    snprintf(cmd, sizeof cmd, "%s generate -m %s -f %s -n 12 --temp 0 --ids", td_bin(), model_dir, file);
    run(cmd, b, sizeof b, err, sizeof err);
    snprintf(cmd, sizeof cmd, "%s generate --model=%s --prompt - --n-predict=12 --temp=0 --ids < %s", td_bin(), model_dir, file);
    run(cmd, c, sizeof c, err, sizeof err);
    assert_int_equal(strlen(b), strlen(a) + 1);
    assert_memory_equal(a, b, strlen(a));
    assert_string_equal(b, c);
    /* past the shell's 128 KiB argument limit: BOS + spm_encode's ids */
    char big[4096];
    snprintf(big, sizeof big, "%s/big.txt", td_tmpdir());
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import sys; sys.stdout.write(\"the cat sat on a mat \" * 12000)' > %s && "
             "spm_encode --model=%s/tokenizer.model --output_format=id < %s | wc -w",
             big, model_dir, big);
    run(cmd, a, sizeof a, err, sizeof err);
    long want = strtol(a, NULL, 10) + 1;
    snprintf(cmd, sizeof cmd, "%s generate -m %s -f %s -n 1 --temp 0 --threads 1", td_bin(), model_dir, big);
    run(cmd, b, sizeof b, err, sizeof err);
    char needle[64];
    snprintf(needle, sizeof needle, "prompt %ld tokens", want);
    print_message("    a %d-byte prompt file: %s\n", 21 * 12000, needle);
    if (want < 12000 || !strstr(err, needle)) fail_msg("wanted '%s' in: %s", needle, err);
    /* what cannot be a prompt */
    snprintf(args, sizeof args, "generate -m %s -f %s/none.txt", model_dir, td_tmpdir());
    td_expect_cli_error(args, "none.txt", "No such file");
    snprintf(args, sizeof args, "generate -m %s -f %s", model_dir, td_tmpdir());
    td_expect_cli_error(args, "-f", "not a regular file");
    snprintf(cmd, sizeof cmd, "truncate -s 65M %s/huge.txt", td_tmpdir());
    assert_int_equal(td_run(cmd, err, sizeof err), 0);
    snprintf(args, sizeof args, "generate -m %s -f %s/huge.txt", model_dir, td_tmpdir());
    td_expect_cli_error(args, "huge.txt", "more than the 67108864 bytes allowed");
    snprintf(args, sizeof args, "generate -m %s --prompt - < %s/huge.txt", model_dir, td_tmpdir());
    td_expect_cli_error(args, "stdin", "more than the 67108864 bytes allowed");
    snprintf(cmd, sizeof cmd, "chmod 000 %s/prompt.txt && ! cat %s/prompt.txt 2>/dev/null", td_tmpdir(), td_tmpdir());
    if (td_run(cmd, err, sizeof err) == 0) { /* not as root, where nothing is unreadable */
        snprintf(args, sizeof args, "generate -m %s -f %s", model_dir, file);
        td_expect_cli_error(args, "prompt.txt", "Permission denied");
    }
}

/* Errors that name the real problem. */
static void test_misleading_errors(void **state) {
    (void)state;
    char args[8192];
    td_expect_cli_error("generate --model /nonexistent/model --prompt hi", "/nonexistent/model", "no such model directory");
    td_expect_cli_error("chat --model /nonexistent/model", "/nonexistent/model", "no such model directory");
    char cmd[16384], err[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/empty-dir", td_tmpdir());
    assert_int_equal(td_run(cmd, err, sizeof err), 0);
    snprintf(args, sizeof args, "generate --model %s/empty-dir --prompt hi", td_tmpdir());
    td_expect_cli_error(args, "not a model directory", "no config.json");
    snprintf(args, sizeof args, "generate --model %s --prompt hi --prompt-ids 2", model_dir);
    td_expect_cli_error(args, "--prompt and --prompt-ids", "mutually exclusive");
    snprintf(args, sizeof args, "generate --model %s -f x.txt --prompt-ids 2", model_dir);
    td_expect_cli_error(args, "-f and --prompt-ids", "mutually exclusive");
    snprintf(args, sizeof args, "generate --model %s", model_dir);
    td_expect_cli_error(args, "needs a prompt", "-f FILE");
}

int main(void) {
    atexit(td_remove_tmpdir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_text_matches_spm_decode),
        cmocka_unit_test(test_stops_at_end_of_turn),
        cmocka_unit_test(test_chat_keeps_state),
        cmocka_unit_test(test_padded_vocabulary),
        cmocka_unit_test(test_prompt_needs_tokenizer),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_min_p_one_is_greedy),
        cmocka_unit_test(test_n_until_eos),
        cmocka_unit_test(test_bad_sampling_values),
        cmocka_unit_test(test_prompt_from_file_and_stdin),
        cmocka_unit_test(test_misleading_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
