/* The command-line tool as users and later checks call it: `forward` in its
 * four modes against the official logits, `generate`, `info`, `init`, and
 * bad input giving exit status 1 with a single-line message that names the
 * file. The binary comes from GRIFFIN_BIN (default build/griffin). */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "kernels/actq.h"

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void forward_matches(const char *model, const char *extra, const char *golden) {
    char cmd[8192], err[4096], out[512];
    snprintf(out, sizeof out, "%s/%s_%s.npy", td_tmpdir(), model, golden);
    snprintf(cmd, sizeof cmd, "%s forward --model %s --tokens %s %s --out %s", td_bin(), td_path("golden/%s", model),
             td_path("golden/%s/tokens.npy", model), extra, out);
    int rc = td_run(cmd, err, sizeof err);
    if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
    gf_npy got, want;
    td_npy(out, &got);
    td_npy(td_path("golden/%s/%s.npy", model, golden), &want);
    assert_int_equal(got.ndim, 3);
    assert_int_equal(got.count, want.count);
    double d = td_max_abs_diff(got.data, want.data, got.count);
    print_message("    forward %s %-24s max |dlogit| = %.3g\n", model, golden, d);
    assert_true(d <= 1e-4);
    gf_npy_free(&got);
    gf_npy_free(&want);
}

static void test_forward_modes(void **state) {
    (void)state;
    const char *models[] = {"griffin", "hawk", "mqa"};
    for (int i = 0; i < 3; i++) {
        const char *m = models[i];
        forward_matches(m, "", "logits_prefill");
        forward_matches(m, "--prefill 0", "logits_decode");
        forward_matches(m, "--prefill 13 --threads 1", "logits_prefill13_decode");
        char sp[1024];
        snprintf(sp, sizeof sp, "--segment-pos %s", td_path("golden/%s/segment_pos_reset.npy", m));
        forward_matches(m, sp, "logits_reset");
    }
}

static void test_forward_bad_input(void **state) {
    (void)state;
    const char *g = td_path("golden/griffin");
    char args[4096];
    const char *tmp = td_tmpdir();
    int32_t ids[4] = {1, 2, 3, 256};
    size_t s22[2] = {2, 2}, s3[3] = {1, 2, 2}, s1[1] = {4};
    td_write_npy("oov.npy", GF_NPY_I32, s22, 2, ids, NULL);
    ids[3] = -1;
    td_write_npy("neg.npy", GF_NPY_I32, s22, 2, ids, NULL);
    ids[3] = 4;
    td_write_npy("rank3.npy", GF_NPY_I32, s3, 3, ids, NULL);
    td_write_npy("rank1.npy", GF_NPY_I32, s1, 1, ids, NULL);
    td_write_npy("good.npy", GF_NPY_I32, s22, 2, ids, NULL);
    float fl[4] = {1, 2, 3, 4};
    td_write_npy("float.npy", GF_NPY_F32, s22, 2, fl, NULL);
    size_t s23[2] = {2, 3};
    int32_t six[6] = {0};
    td_write_npy("pos23.npy", GF_NPY_I32, s23, 2, six, NULL);
    /* a header that promises more data than the file holds */
    char p[600];
    snprintf(p, sizeof p, "%s/good.npy", tmp);
    size_t n;
    char *bytes = td_read(p, &n);
    snprintf(p, sizeof p, "%s/lying.npy", tmp);
    td_write(p, bytes, n - 4);
    free(bytes);

    /* tokens file, extra options, what the message must name */
    static const struct {
        const char *tokens, *extra, *needle1, *needle2;
    } cases[] = {
        {"oov.npy", "", "oov.npy", "vocabulary"},
        {"neg.npy", "", "neg.npy", "-1"},
        {"rank3.npy", "", "rank3.npy", "2-D"},
        {"rank1.npy", "", "rank1.npy", "2-D"},
        {"float.npy", "", "float.npy", "int32"},
        {"lying.npy", "", "lying.npy", "promises"},
        {"good.npy", "--segment-pos %s/pos23.npy", "pos23.npy", "shape"},
        {"good.npy", "--prefill 3", "--prefill", "good.npy"},
        {"good.npy", "--prefill -2", "--prefill", "-2"},
        {"missing.npy", "", "missing.npy", "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char extra[1024];
        snprintf(extra, sizeof extra, cases[i].extra, tmp);
        snprintf(args, sizeof args, "forward --model %s --tokens %s/%s %s --out %s/o.npy", g, tmp,
                 cases[i].tokens, extra, tmp);
        td_expect_cli_error(args, cases[i].needle1, cases[i].needle2);
    }
    snprintf(args, sizeof args, "forward --model %s/nonexistent --tokens %s/good.npy --out %s/o.npy", tmp, tmp, tmp);
    td_expect_cli_error(args, "nonexistent/config.json", "cannot open");
    snprintf(args, sizeof args, "forward --model %s --tokens %s/good.npy --out %s/no/such/dir/o.npy", g, tmp, tmp);
    td_expect_cli_error(args, "no/such/dir/o.npy", NULL);
    /* A FIFO in place of a file is refused, not waited on. */
    char fifo_dir[600], cmdline[2048];
    snprintf(fifo_dir, sizeof fifo_dir, "%s/fifo-model", tmp);
    snprintf(cmdline, sizeof cmdline, "mkdir -p %s && cp %s/config.json %s/ && mkfifo %s/model.safetensors", fifo_dir, g, fifo_dir, fifo_dir);
    assert_int_equal(system(cmdline), 0);
    snprintf(args, sizeof args, "info --model %s", fifo_dir);
    td_expect_cli_error(args, "model.safetensors", "regular file");
    td_expect_cli_error("forward --model", "--model", "value");
    td_expect_cli_error("forward --bogus 1", "--bogus", NULL);
    td_expect_cli_error("frobnicate", "frobnicate", NULL);
}

/* Reads stdout of a command into buf. */
static int run_stdout(const char *cmd, char *buf, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = 0;
    int st = pclose(p);
    return st;
}

static void test_generate(void **state) {
    (void)state;
    const char *g = td_path("golden/griffin");
    char cmd[4096], out[8192], out2[8192];
    /* Greedy: each generated token must be the argmax of a fresh prefill of
     * everything before it (an independent path through the engine). */
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 2,17,33,101 -n 12 --temp 0 --no-eos 2>/dev/null", td_bin(), g);
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    int32_t seq[64] = {2, 17, 33, 101};
    int n = 4;
    char *s = out, *end;
    for (long v; (v = strtol(s, &end, 10)), end != s; s = end) seq[n++] = (int32_t)v;
    assert_int_equal(n, 16);
    gf_error err;
    gf_model *m = gf_model_load(g, &err);
    assert_non_null(m);
    float *logits = malloc(sizeof(float) * 16 * 256);
    assert_int_equal(gf_prefill(m, 1, n - 1, seq, NULL, logits, NULL, NULL, &err), 0);
    for (int t = 3; t < n - 1; t++) {
        const float *l = logits + (size_t)t * 256;
        int best = 0;
        for (int v = 1; v < 256; v++)
            if (l[v] > l[best]) best = v;
        assert_int_equal(best, seq[t + 1]);
    }
    free(logits);
    gf_model_free(m);
    /* the default run copied the weights without a note; --mmap (weights
     * read from the mapping) generates the same */
    char errs[8192];
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 2,17,33,101 -n 12 --temp 0 --no-eos", td_bin(), g);
    assert_int_equal(td_run(cmd, errs, sizeof errs), 0);
    assert_null(strstr(errs, "note:"));
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 2,17,33,101 -n 12 --temp 0 --no-eos --mmap 2>/dev/null", td_bin(), g);
    assert_int_equal(run_stdout(cmd, out2, sizeof out2), 0);
    assert_string_equal(out, out2);
    /* Sampling is reproducible by seed, and a batch prints one line a
     * sequence. (The random hawk model: the golden griffin's logits are so
     * peaked that every seed samples the same tokens.) */
    const char *h = td_path("golden/hawk");
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 5,6 -n 20 --seed 7 --batch 3 --temp 1 --no-eos 2>/dev/null", td_bin(), h);
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    assert_int_equal(run_stdout(cmd, out2, sizeof out2), 0);
    assert_string_equal(out, out2);
    assert_int_equal(count_lines(out), 3);
    assert_non_null(strstr(out, "[2]"));
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 5,6 -n 20 --seed 8 --batch 3 --temp 1 --no-eos 2>/dev/null", td_bin(), h);
    assert_int_equal(run_stdout(cmd, out2, sizeof out2), 0);
    assert_string_not_equal(out, out2);
    /* Speed is reported on stderr. */
    char err2[4096];
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 5 -n 4 --seed 1", td_bin(), g);
    assert_int_equal(td_run(cmd, err2, sizeof err2), 0);
    assert_non_null(strstr(err2, "tokens/s"));
    /* Bad prompts. */
    char args[2048];
    snprintf(args, sizeof args, "generate --model %s --prompt-ids 2,999", g);
    td_expect_cli_error(args, "--prompt-ids", "vocabulary");
    snprintf(args, sizeof args, "generate --model %s --prompt-ids 2,x", g);
    td_expect_cli_error(args, "--prompt-ids", "comma");
    snprintf(args, sizeof args, "generate --model %s --prompt hello", g);
    td_expect_cli_error(args, "tokenizer.model", "--prompt-ids");
    snprintf(args, sizeof args, "generate --model %s --prompt-ids 1 --top-p 2", g);
    td_expect_cli_error(args, "--top-p", NULL);
}

static void test_info_and_init(void **state) {
    (void)state;
    char cmd[4096], out[8192];
    snprintf(cmd, sizeof cmd, "%s info --model %s", td_bin(), td_path("golden/griffin"));
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Griffin"));
    assert_non_null(strstr(out, "RRARRA"));
    assert_non_null(strstr(out, "334144")); /* parameters of the golden griffin */
    assert_non_null(strstr(out, "(8200 bytes)"));  /* decode state per sequence */
    snprintf(cmd, sizeof cmd, "%s info --model %s", td_bin(), td_path("golden/hawk"));
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Hawk"));
    snprintf(cmd, sizeof cmd, "%s info --model %s", td_bin(), td_path("golden/mqa"));
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "MQA"));
    /* init writes a loadable model that generate runs. */
    char dir[512], cfgp[600];
    snprintf(dir, sizeof dir, "%s/inited", td_tmpdir());
    snprintf(cfgp, sizeof cfgp, "%s/cfg.json", td_tmpdir());
    const char *cfg = "{\"vocab_size\": 300, \"hidden_size\": 48, \"intermediate_size\": 192,"
                      "\"num_hidden_layers\": 3, \"num_attention_heads\": 3, \"attention_window_size\": 16,"
                      "\"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}";
    td_write(cfgp, cfg, strlen(cfg));
    snprintf(cmd, sizeof cmd, "%s init --config %s --out %s --seed 3 2>/dev/null", td_bin(), cfgp, dir);
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-ids 2,3 -n 5 --temp 0 --no-eos 2>/dev/null", td_bin(), dir);
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    int k = 0;
    char *s = out, *end;
    for (long v; (v = strtol(s, &end, 10)), end != s; s = end) {
        assert_true(v >= 0 && v < 300);
        k++;
    }
    assert_int_equal(k, 5);
    char args[2048];
    snprintf(cfgp, sizeof cfgp, "%s/badcfg.json", td_tmpdir());
    td_write(cfgp, "{\"hidden_size\": 48", 18);
    snprintf(args, sizeof args, "init --config %s --out %s/x", cfgp, td_tmpdir());
    td_expect_cli_error(args, "badcfg.json", "JSON");
    snprintf(args, sizeof args, "info --model %s/does-not-exist", td_tmpdir());
    td_expect_cli_error(args, "does-not-exist", NULL);
}

/* Every command: a mistyped option is named as unknown, even as the last
 * word, and a real option with nothing after it is named as short of a value. */
static void test_option_errors(void **state) {
    (void)state;
    static const struct {
        const char *cmd, *value_opt;
    } cmds[] = {{"forward", "--tokens"}, {"generate", "--prompt"}, {"chat", "--system"}, {"info", "--model"},
                {"init", "--config"},    {"tokenize", "--input"},  {"detokenize", "--tokenizer"},
                {"grad", "--tokens"},    {"train", "--data"},      {"prepare", "--out"},
                {"eval", "--seq"},       {"bench", "--csv"},       {"task", "--out"}};
    char args[256], want[256];
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        snprintf(args, sizeof args, "%s --bogus", cmds[i].cmd);
        snprintf(want, sizeof want, "%s: unknown option '--bogus'", cmds[i].cmd);
        td_expect_cli_error(args, want, NULL);
        snprintf(args, sizeof args, "%s --bogus 3", cmds[i].cmd);
        td_expect_cli_error(args, want, NULL);
        snprintf(args, sizeof args, "%s %s", cmds[i].cmd, cmds[i].value_opt);
        snprintf(want, sizeof want, "%s: option %s needs a value", cmds[i].cmd, cmds[i].value_opt);
        td_expect_cli_error(args, want, NULL);
        /* --option=VALUE is one option with its value: what comes next is
         * read as an option of its own */
        snprintf(args, sizeof args, "%s %s=1 --bogus", cmds[i].cmd, cmds[i].value_opt);
        snprintf(want, sizeof want, "%s: unknown option '--bogus'", cmds[i].cmd);
        td_expect_cli_error(args, want, NULL);
        snprintf(args, sizeof args, "%s --bogus=3", cmds[i].cmd);
        snprintf(want, sizeof want, "%s: unknown option '--bogus=3'", cmds[i].cmd);
        td_expect_cli_error(args, want, NULL);
    }
    /* a value that itself looks like --x=y stays whole */
    td_expect_cli_error("generate --model=/nonexistent/m --prompt --x=y", "/nonexistent/m", "no such model directory");
    /* the = form is the option it names: info --config=F sizes F as --config F does */
    static char a[8192], b[8192];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s info --config %s", td_bin(), td_path("golden/griffin/config.json"));
    if (td_run_all(cmd, a, sizeof a) != 0) fail_msg("%s: %s", cmd, a);
    snprintf(cmd, sizeof cmd, "%s info --config=%s", td_bin(), td_path("golden/griffin/config.json"));
    if (td_run_all(cmd, b, sizeof b) != 0) fail_msg("%s: %s", cmd, b);
    assert_non_null(strstr(a, "parameters"));
    assert_string_equal(a, b);
}

static void test_version(void **state) {
    (void)state;
    char out[4096], cmd[4096];
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s %s", td_bin(), k ? "version" : "--version");
        assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
        /* griffin.pc's version: the Makefile's VERSION */
        FILE *f = fopen("Makefile", "r");
        if (!f) skip(); /* not run from the repository */
        char line[512], want[600] = "";
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VERSION  := ", 12)) snprintf(want, sizeof want, "griffin %s", line + 12);
        fclose(f);
        assert_string_equal(out, want);
    }
}

/* A dot-product peak in bench's printed limits (line "LABEL value") and as
 * its CSV limit row (ROW pass 0, the value in the gflop_s column): in both
 * with the same value when the CPU has the instruction, in neither when not. */
static void expect_peak(const char *out, const char *csv, const char *label, const char *row, int has) {
    const char *p = strstr(out, label), *r = strstr(csv, row);
    if (!has) {
        assert_null(p);
        assert_null(r);
        return;
    }
    char fmt[64];
    double v = 0, vc = 0;
    assert_non_null(p);
    assert_non_null(r);
    snprintf(fmt, sizeof fmt, "%s %%lf", label);
    assert_int_equal(sscanf(p, fmt, &v), 1);
    snprintf(fmt, sizeof fmt, "%s0,0,0,0,0,0,%%lf", row);
    assert_int_equal(sscanf(r, fmt, &vc), 1);
    assert_true(v > 0 && fabs(vc - v) < 0.1);
}

/* bench measures and reports; what it measures is never asserted, only that
 * it produced figures, that they hang together (tokens/s = tokens / seconds,
 * shares = figure / limit) and that the CSV holds the same ones. */
static void test_bench_limits(void **state) {
    (void)state;
    char cmd[4096], out[8192], csv[600];
    snprintf(csv, sizeof csv, "%s/limits.csv", td_tmpdir());
    snprintf(cmd, sizeof cmd, "%s bench --buffer-mb 8 --threads 1 --limits-only --csv %s", td_bin(), csv);
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    double bw = 0, gf = 0, fma = 0;
    const char *p = strstr(out, "memory read:"), *q = strstr(out, "sgemm F32:"), *r = strstr(out, "FMA peak F32:");
    assert_true(p && q && r);
    assert_int_equal(sscanf(p, "memory read: %lf", &bw), 1);
    assert_int_equal(sscanf(q, "sgemm F32: %lf", &gf), 1);
    assert_int_equal(sscanf(r, "FMA peak F32: %lf", &fma), 1);
    assert_true(bw > 0 && gf > 0 && fma > 0);
    assert_null(strstr(out, "decode"));
    size_t n;
    char *c = td_read(csv, &n);
    double bw2, gf2;
    assert_non_null(strstr(c, "section,weights,batch,tokens,seconds,tokens_per_s,weight_gb_s,pct_read_bw,gflop_s,pct_sgemm,pct_fma,pct_read_bw_then,pct_int8,pct_read_bw_paired,pct_bf16\n"));
    assert_int_equal(sscanf(strstr(c, "limit,read,"), "limit,read,0,0,0,0,%lf", &bw2), 1);
    assert_int_equal(sscanf(strstr(c, "limit,sgemm,"), "limit,sgemm,0,0,0,0,0,0,%lf", &gf2), 1);
    assert_true(fabs(bw2 - bw) < 0.1 && fabs(gf2 - gf) < 0.1);
    /* the int8 and bfloat16 dot peaks where the CPU has the instructions, in both */
    expect_peak(out, c, "int8 dot peak:", "limit,int8,", gf_cpu_has_vnni());
    expect_peak(out, c, "bf16 dot peak:", "limit,bf16,", gf_cpu_has_avx512bf16());
    free(c);
    snprintf(cmd, sizeof cmd, "bench --buffer-mb 8 --limits-only --csv %s/no/such/dir/x.csv", td_tmpdir());
    td_expect_cli_error(cmd, "x.csv", "cannot write");
    snprintf(cmd, sizeof cmd, "bench --limits-only --types f32,q5");
    td_expect_cli_error(cmd, "q5", "--types");
    snprintf(cmd, sizeof cmd, "bench --model %s --types q8", td_path("golden/hawk"));
    td_expect_cli_error(cmd, "--types", "own type");
}

/* The tables on a small model: decode at two batches, prefill, training. */
static void test_bench_tables(void **state) {
    (void)state;
    char cmd[4096], out[8192], csv[600];
    snprintf(csv, sizeof csv, "%s/tables.csv", td_tmpdir());
    snprintf(cmd, sizeof cmd,
             "%s bench --buffer-mb 8 --threads 1 --model %s --batches 1,3 --prefill 16 --train-config %s "
             "--train-batch 2 --train-seq 12 --csv %s",
             td_bin(), td_path("golden/hawk"), td_path("golden/griffin/config.json"), csv);
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "prefill 16 tokens"));
    assert_non_null(strstr(out, "MFU"));
    /* batch 3 over batch 1, measured and as the rooflines' ratio (at most 3) */
    const char *sc = strstr(out, "batch B over batch 1 (tokens/s): measured");
    assert_non_null(sc);
    double x3 = 0, roof3 = 0;
    assert_int_equal(sscanf(sc, "batch B over batch 1 (tokens/s): measured x%lf at 3", &x3), 1);
    const char *rf = strstr(sc, "roofline's ratio");
    assert_non_null(rf);
    rf = strstr(rf, "):");
    assert_non_null(rf);
    assert_int_equal(sscanf(rf, "): x%lf", &roof3), 1);
    assert_true(roof3 > 0 && roof3 <= 3.05);
    double sec1 = 0, sec3 = 0;
    size_t n;
    char *c = td_read(csv, &n);
    int seen = 0;
    for (char *line = strtok(c, "\n"); line; line = strtok(NULL, "\n")) {
        char section[32], weights[32];
        int batch;
        long tokens;
        double sec, tps, gbs, pbw, gfs, psg, pfma, pthen, pi8, ppair, pb16;
        if (sscanf(line, "%31[^,],%31[^,],%d,%ld,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", section, weights, &batch,
                   &tokens, &sec, &tps, &gbs, &pbw, &gfs, &psg, &pfma, &pthen, &pi8, &ppair, &pb16) != 15 ||
            !strcmp(section, "limit"))
            continue;
        if (!strcmp(section, "products")) { /* the F32 products checked both ways: rate and share */
            assert_true(gfs > 0 && psg > 0);
            assert_true(batch == 0 || batch == 1); /* whether the rule takes this way */
            assert_true(tokens == 64); /* --prefill 16 and 2 x 12 training rows: the 64-row floor */
            seen |= 16;
            continue;
        }
        assert_true(sec > 0 && tps > 0 && gfs > 0);
        assert_true(fabs(tps - tokens / sec) <= 0.01 * tps + 0.01);
        if (!strcmp(section, "decode")) {
            assert_string_equal(weights, "F32");
            assert_true(batch == 1 || batch == 3);
            assert_int_equal(tokens, batch);
            assert_true(gbs > 0 && pbw > 0);
            /* each step against the probe right before it: a share, not a copy of another column */
            assert_true(isfinite(ppair) && ppair > 0);
            /* F32 weights: no int8 or bfloat16 dot products to take a share of */
            assert_true(pi8 == 0 && pb16 == 0);
            if (batch == 1) sec1 = sec;
            else sec3 = sec;
            seen |= batch == 1 ? 1 : 2;
        } else if (!strcmp(section, "prefill")) {
            assert_int_equal(tokens, 16);
            seen |= 4;
        } else if (!strcmp(section, "train")) {
            assert_int_equal(tokens, 24);
            assert_true(psg > 0);
            seen |= 8;
        }
    }
    assert_int_equal(seen, 31);
    assert_non_null(strstr(out, "kernels:          "));
    assert_non_null(strstr(out, "F32 products, 64 x 1024 -> 6144 (prefill): OpenBLAS "));
    assert_non_null(strstr(out, "F32 products, training backward"));
    /* the printed ratio is the CSV's tokens/s over batch 1's, to its one decimal */
    assert_true(fabs(x3 - 3 * sec1 / sec3) <= 0.051 + 1e-3 * x3);
    free(c);
}

/* Without --model the bench quantises its F32 model (found in --work, or
 * written there) to each type asked for, whether or not F32 is one. */
static void test_bench_work_types(void **state) {
    (void)state;
    char cmd[4096], out[8192], csv[600], work[600];
    snprintf(work, sizeof work, "%s/bench-work", td_tmpdir());
    snprintf(csv, sizeof csv, "%s/work.csv", td_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s/f32 && cp %s/* %s/f32/", work, td_path("golden/hawk"), work);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "%s bench --buffer-mb 8 --threads 1 --work %s --types q8,q4 --batches 1 --prefill 8 --no-train --csv %s",
             td_bin(), work, csv);
    assert_int_equal(run_stdout(cmd, out, sizeof out), 0);
    size_t n;
    char *c = td_read(csv, &n);
    assert_non_null(strstr(c, "decode,Q8,1,"));
    assert_non_null(strstr(c, "decode,Q4,1,"));
    assert_null(strstr(c, "decode,F32,"));
    free(c);
    /* the F32 model it quantised from is still the one placed there */
    snprintf(cmd, sizeof cmd, "cmp -s %s/f32/model.safetensors %s/model.safetensors", work, td_path("golden/hawk"));
    assert_int_equal(system(cmd), 0);
}

/* Entries of dir named griffin-bench-* (with `sub` inside them, when not
 * NULL); -1 when dir cannot be read. */
static int bench_folders(const char *dir, const char *sub) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "griffin-bench-", 14)) continue;
        char p[1200];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s/%s", dir, e->d_name, sub ? sub : "");
        n += !sub || stat(p, &st) == 0;
    }
    closedir(d);
    return n;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A bench killed while it writes its models into its own temporary folder
 * leaves no folder behind (its cleaner child removes it). */
static void test_bench_killed_leaves_nothing(void **state) {
    (void)state;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/killed-bench", td_tmpdir());
    assert_int_equal(mkdir(tmp, 0700), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("TMPDIR", tmp, 1);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(td_bin(), td_bin(), "bench", "--buffer-mb", "8", "--threads", "1", "--types", "f32", "--batches",
              "1", "--no-train", (char *)NULL);
        _exit(127);
    }
    /* the folder appears once the limits are measured, its f32/ (after the
     * cleaner has been forked) when the 412M model starts being written,
     * which takes seconds: the kill lands while it is */
    int seen = 0;
    for (int i = 0; i < 3000 && !seen; i++) {
        seen = bench_folders(tmp, "f32") > 0;
        if (!seen) sleep_ms(20);
    }
    if (!seen) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("no griffin-bench-*/f32 in %s within a minute", tmp);
    }
    assert_int_equal(kill(pid, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    int left = 1;
    for (int i = 0; i < 1500 && left; i++) {
        left = bench_folders(tmp, NULL) != 0;
        if (left) sleep_ms(20);
    }
    if (left) fail_msg("%s still holds the killed bench's folder", tmp);
}

/* GRIFFIN_ISA on the command line: `griffin info` names the set in use and
 * lists the CPU's; a bad name is one line on stderr and exit 1, before any
 * work, for every command. */
static void test_kernel_set_option(void **state) {
    (void)state;
    char cmd[8192], out[8192];
    const char *best = gf_kernels_best();
    snprintf(cmd, sizeof cmd, "env -u GRIFFIN_ISA %s info", td_bin());
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    char want[128];
    snprintf(want, sizeof want, "kernels:          %s\n", best);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "kernel sets:      scalar"));
    snprintf(cmd, sizeof cmd, "GRIFFIN_ISA=scalar %s info --kernel-sets", td_bin());
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    assert_true(!strncmp(out, "scalar\n", 7));
    snprintf(cmd, sizeof cmd, "GRIFFIN_ISA=scalar %s info --model %s", td_bin(), td_path("golden/hawk"));
    assert_int_equal(td_run_all(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "kernels:          scalar\n"));
    assert_non_null(strstr(out, "architecture:"));
    const char *bad[] = {"avx3", "AVX2", NULL}; /* unknown; names are lower case */
    for (int i = 0; bad[i]; i++) {
        char err[4096];
        snprintf(cmd, sizeof cmd, "GRIFFIN_ISA=%s %s forward --model %s --tokens %s --out %s/never.npy", bad[i], td_bin(),
                 td_path("golden/hawk"), td_path("golden/hawk/tokens.npy"), td_tmpdir());
        assert_int_equal(td_run(cmd, err, sizeof err), 1);
        assert_int_equal(count_lines(err), 1);
        assert_non_null(strstr(err, "griffin: error: GRIFFIN_ISA="));
        assert_non_null(strstr(err, "unknown kernel set"));
        snprintf(want, sizeof want, "%s/never.npy", td_tmpdir());
        assert_true(access(want, F_OK) != 0);
    }
    if (strcmp(best, "amx")) { /* a set this CPU lacks */
        char err[4096];
        snprintf(cmd, sizeof cmd, "GRIFFIN_ISA=amx %s info", td_bin());
        assert_int_equal(td_run(cmd, err, sizeof err), 1);
        assert_int_equal(count_lines(err), 1);
        assert_non_null(strstr(err, "GRIFFIN_ISA=amx: this CPU does not have it"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_work_types),
        cmocka_unit_test(test_bench_killed_leaves_nothing),
        cmocka_unit_test(test_bench_limits),
        cmocka_unit_test(test_bench_tables),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_forward_modes),
        cmocka_unit_test(test_forward_bad_input),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_info_and_init),
        cmocka_unit_test(test_kernel_set_option),
    };
    atexit(td_remove_tmpdir);
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
