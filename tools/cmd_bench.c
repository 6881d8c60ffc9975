/* griffin bench: the machine's limits, then decode, prefill and training
 * speed as shares of them.
 *
 * Limits (best of several passes): memory read bandwidth (the larger of a
 * plain multi-threaded sum and OpenBLAS sgemv over the same buffer), OpenBLAS
 * sgemm on 2048^3, and the cores' FMA ceiling (register-only FMA chains).
 * Speeds are medians of several timed runs, so the ratios lean low.
 *
 * Decode: batch B steps of a model of each weight type. A step reads every
 * matrix once whatever B is (gf_model_decode_bytes); bytes / step time over
 * the read bandwidth is the roofline share that matters at small B, and
 * 2 x parameters x B / step time over sgemm the one that matters at large B.
 * Prefill: T tokens of one sequence, state only (no logits), FLOPs counted as
 * 2 x non-embedding parameters x T. Training: forward + backward + AdamW on
 * B x T tokens; model FLOPs 6 x parameters x tokens plus attention's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *USAGE =
    "usage: griffin bench [--threads N] [--csv FILE] [--limits-only] [--buffer-mb N]\n"
    "                     [--model DIR] [--types f32,bf16,q8,q4] [--batches 1,4,16,64]\n"
    "                     [--prefill T] [--work DIR] [--train-config FILE] [--train-batch B]\n"
    "                     [--train-seq T] [--no-train]\n"
    "  Measures this machine's memory read bandwidth, sgemm and FMA peaks, then\n"
    "  decode tokens/s per weight type and batch (with the share of the bandwidth\n"
    "  roofline), prefill of T tokens (default 512; share of the sgemm peak) and\n"
    "  training tokens/s with model-FLOPs utilisation. Without --model it writes a\n"
    "  412M-parameter Griffin (width 1024, 12 layers, vocabulary 256000; random\n"
    "  weights) into --work (default a temporary folder, removed after) and\n"
    "  quantises it to each type; with --model DIR it times that model only, in\n"
    "  its own type. Training uses a 21M-parameter Griffin (or --train-config).\n"
    "  --csv writes every row of the tables.\n";

/* The bench's default models, as Hugging Face configs. */
static const char *BENCH_400M =
    "{\"vocab_size\": 256000, \"hidden_size\": 1024, \"intermediate_size\": 6144,"
    " \"num_hidden_layers\": 12, \"num_attention_heads\": 8, \"lru_width\": 1024,"
    " \"attention_window_size\": 2048, \"conv1d_width\": 4, \"logits_soft_cap\": 30.0,"
    " \"embeddings_scale_by_sqrt_dim\": true,"
    " \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}";
static const char *BENCH_20M =
    "{\"vocab_size\": 4096, \"hidden_size\": 512, \"intermediate_size\": 3072,"
    " \"num_hidden_layers\": 6, \"num_attention_heads\": 8, \"lru_width\": 512,"
    " \"attention_window_size\": 256, \"conv1d_width\": 4, \"logits_soft_cap\": 30.0,"
    " \"embeddings_scale_by_sqrt_dim\": true,"
    " \"block_types\": [\"recurrent\", \"recurrent\", \"attention\"]}";

typedef struct {
    FILE *csv;
    gf_limits lim;
    double read_bw; /* the larger of the two read measurements, GB/s */
} bench;

static void csv_row(bench *b, const char *section, const char *weights, int batch, long tokens,
                    double seconds, double weight_bytes, double flops) {
    if (!b->csv) return;
    double tps = (double)tokens / seconds, gbs = weight_bytes / seconds / 1e9, gf = flops / seconds / 1e9;
    fprintf(b->csv, "%s,%s,%d,%ld,%.6f,%.2f,%.2f,%.1f,%.2f,%.1f,%.1f\n", section, weights, batch, tokens,
            seconds, tps, gbs, weight_bytes > 0 ? 100 * gbs / b->read_bw : 0.0, gf,
            100 * gf / b->lim.sgemm_gflop_s, 100 * gf / b->lim.fma_gflop_s);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng = 0x853c49e6748fea9bull;
static int32_t rand_id(int V) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (int32_t)(rng % (uint64_t)V);
}

/* Parses "1,4,16" into v (at most cap); returns the count, or -1. */
static int parse_list(const char *opt, const char *s, long *v, int cap, long lo, long hi) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == cap || cli_int(opt, tok, lo, hi, &v[n])) return n == cap ? (cli_error("%s: at most %d values", opt, cap), -1) : -1;
        n++;
    }
    if (n == 0) return cli_error("%s needs at least one value", opt), -1;
    return n;
}

/* Median seconds per decode step at batch B (after a short prefill). */
static int time_decode(const gf_model *m, int B, double *sec, gf_error *err) {
    const gf_config *c = gf_model_config(m);
    gf_state *s = gf_state_new(m, B, err);
    if (!s) return -1;
    int P = 8, rc = -1;
    int32_t *ids = malloc(sizeof *ids * (size_t)B * (size_t)P);
    float *logits = malloc(sizeof *logits * (size_t)B * (size_t)c->vocab_size);
    double times[64];
    int n = 0;
    if (!ids || !logits) {
        cli_error("out of memory for a decode batch of %d", B);
        goto out;
    }
    for (int i = 0; i < B * P; i++) ids[i] = rand_id(c->vocab_size);
    if (gf_prefill(m, B, P, ids, NULL, NULL, NULL, s, err)) goto out;
    double start = cli_now();
    for (int it = 0; it < 64; it++) {
        for (int b = 0; b < B; b++) ids[b] = rand_id(c->vocab_size);
        double t0 = cli_now();
        if (gf_decode_step(m, s, ids, NULL, logits, err)) goto out;
        double t = cli_now() - t0;
        if (it == 0) continue; /* warm-up: first touch of the pages and caches */
        times[n++] = t;
        if (n >= 3 && cli_now() - start > 1.5) break;
    }
    *sec = median(times, n);
    rc = 0;
out:
    free(ids);
    free(logits);
    gf_state_free(s);
    return rc;
}

static int time_prefill(const gf_model *m, int T, double *sec, gf_error *err) {
    const gf_config *c = gf_model_config(m);
    gf_state *s = gf_state_new(m, 1, err);
    if (!s) return -1;
    int32_t *ids = malloc(sizeof *ids * (size_t)T);
    int rc = -1;
    double times[5];
    if (!ids) {
        cli_error("out of memory for a prefill of %d tokens", T);
        goto out;
    }
    for (int i = 0; i < T; i++) ids[i] = rand_id(c->vocab_size);
    for (int r = 0; r < 6; r++) {
        double t0 = cli_now();
        if (gf_prefill(m, 1, T, ids, NULL, NULL, NULL, s, err)) goto out;
        if (r) times[r - 1] = cli_now() - t0; /* the first run warms up */
    }
    *sec = median(times, 5);
    rc = 0;
out:
    free(ids);
    gf_state_free(s);
    return rc;
}

/* Attention FLOPs of one forward over T tokens: per query, 4 x heads x
 * head_dim per key seen (scores and the weighted sum). */
static double attention_flops(const gf_config *c, int T) {
    double keys = 0;
    for (int t = 0; t < T; t++) keys += (t < c->window ? t : c->window) + 1;
    return 4.0 * c->num_heads * c->head_dim * keys * (double)gf_config_num_attention_layers(c);
}

static int bench_train(bench *b, const char *cfg_path, int B, int T, gf_error *err) {
    gf_config c;
    char tmp[4096] = "";
    if (!cfg_path) {
        snprintf(tmp, sizeof tmp, "%s/griffin-bench-train-%ld.json", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f || fputs(BENCH_20M, f) < 0 || fclose(f) != 0) return cli_error("%s: cannot write", tmp);
        cfg_path = tmp;
    }
    int lrc = gf_config_load(cfg_path, &c, err);
    if (*tmp) remove(tmp);
    if (lrc) return cli_error("%s", err->msg);
    gf_trainable *t = gf_trainable_new(&c, 1, err);
    if (!t) return cli_error("%s", err->msg);
    gf_adamw *o = gf_adamw_new(t, err);
    size_t n = (size_t)B * (size_t)T;
    int32_t *in = malloc(n * sizeof *in), *tg = malloc(n * sizeof *tg);
    int rc = 1;
    if (!o || !in || !tg) {
        cli_error("%s", o ? "out of memory for the training batch" : err->msg);
        goto out;
    }
    gf_adamw_config oc = {.lr = 1e-3f, .min_lr_ratio = 0.1f, .warmup = 1, .total_steps = 100,
                          .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .clip = 1.0f};
    double times[8];
    int steps = 0;
    double start = cli_now();
    for (int it = 0; it < 9; it++) {
        for (size_t i = 0; i < n; i++) in[i] = rand_id(c.vocab_size), tg[i] = rand_id(c.vocab_size);
        double t0 = cli_now(), loss;
        gf_trainable_zero_grads(t);
        if (gf_train_loss_grad(t, B, T, in, tg, NULL, 1.0f, &loss, err)) {
            cli_error("%s", err->msg);
            goto out;
        }
        gf_adamw_update(o, t, &oc, gf_lr_at(&oc, it));
        if (it) times[steps++] = cli_now() - t0;
        if (steps >= 3 && cli_now() - start > 20) break;
    }
    double sec = median(times, steps);
    size_t params = gf_config_num_params(&c);
    double flops = 6.0 * (double)params * (double)n + 3.0 * attention_flops(&c, T) * B;
    double gf = flops / sec / 1e9;
    printf("\ntraining: %.1fM-parameter Griffin (width %d, %d layers, vocabulary %d), batch %d x %d tokens,\n"
           "          forward + backward + AdamW, median of %d steps\n",
           (double)params / 1e6, c.width, c.num_layers, c.vocab_size, B, T, steps);
    printf("  %.3f s/step  %.0f tokens/s  %.1f GFLOP/s  MFU %.1f %% of sgemm (%.1f %% of the FMA peak)\n", sec,
           (double)n / sec, gf, 100 * gf / b->lim.sgemm_gflop_s, 100 * gf / b->lim.fma_gflop_s);
    csv_row(b, "train", "F32", B, (long)n, sec, 0, flops);
    rc = 0;
out:
    free(in);
    free(tg);
    gf_adamw_free(o);
    gf_trainable_free(t);
    return rc;
}

static void quant_progress(void *ctx, size_t done, size_t total) { (void)ctx, (void)done, (void)total; }

static int remove_tree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

int cmd_bench(int argc, char **argv) {
    long mb = 512, threads = 0, prefill_T = 512, train_B = 8, train_T = 256;
    long batches[8] = {1, 4, 16, 64};
    int nbatches = 4, limits_only = 0, no_train = 0;
    const char *csv = NULL, *model = NULL, *types = "f32,bf16,q8,q4", *work = NULL, *train_cfg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--limits-only")) { limits_only = 1; continue; }
        if (!strcmp(a, "--no-train")) { no_train = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "bench",
                            (const char *const[]){"--buffer-mb", "--threads", "-t", "--csv", "--model", "-m", "--types",
                                                  "--batches", "--prefill", "--work", "--train-config", "--train-batch",
                                                  "--train-seq", NULL})))
            return 1;
        if (!strcmp(a, "--buffer-mb")) { if (cli_int(a, v, 1, 1 << 20, &mb)) return 1; }
        else if (!strcmp(a, "--csv")) csv = v;
        else if (!strcmp(a, "--model") || !strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "--types")) types = v;
        else if (!strcmp(a, "--work")) work = v;
        else if (!strcmp(a, "--train-config")) train_cfg = v;
        else if (!strcmp(a, "--batches")) { if ((nbatches = parse_list(a, v, batches, 8, 1, 4096)) < 0) return 1; }
        else if (!strcmp(a, "--prefill")) { if (cli_int(a, v, 0, 1 << 20, &prefill_T)) return 1; }
        else if (!strcmp(a, "--train-batch")) { if (cli_int(a, v, 1, 4096, &train_B)) return 1; }
        else if (!strcmp(a, "--train-seq")) { if (cli_int(a, v, 2, 1 << 16, &train_T)) return 1; }
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    const char *tnames[4] = {0};
    int ntypes = 0;
    if (!model) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", types);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            const char *known[] = {"f32", "bf16", "q8", "q4"};
            int k = 0;
            while (k < 4 && strcmp(tok, known[k])) k++;
            if (k == 4) return cli_error("bench: --types takes f32, bf16, q8, q4, not '%s'", tok);
            if (ntypes == 4) return cli_error("bench: --types lists a type twice");
            tnames[ntypes++] = known[k];
        }
    }
    cli_set_threads(threads);
    bench b = {0};
    gf_error err;
    if (csv) {
        b.csv = fopen(csv, "w");
        if (!b.csv) return cli_error("%s: cannot write: %s", csv, strerror(errno));
        fprintf(b.csv, "section,weights,batch,tokens,seconds,tokens_per_s,weight_gb_s,pct_read_bw,gflop_s,pct_sgemm,pct_fma\n");
    }
    if (gf_measure_limits((size_t)mb << 20, (int)threads, &b.lim, &err)) return cli_error("%s", err.msg);
    b.read_bw = b.lim.read_gb_s > b.lim.sgemv_gb_s ? b.lim.read_gb_s : b.lim.sgemv_gb_s;
    printf("threads:          %d (kernels: %s)\n", b.lim.threads, b.lim.isa);
    printf("memory read:      %.1f GB/s (%ld MiB buffer summed by all threads)\n", b.lim.read_gb_s, mb);
    printf("sgemv F32 read:   %.1f GB/s (the same buffer as a matrix)\n", b.lim.sgemv_gb_s);
    printf("sgemm F32:        %.1f GFLOP/s (OpenBLAS, 2048^3)\n", b.lim.sgemm_gflop_s);
    printf("FMA peak F32:     %.1f GFLOP/s (register-only fused multiply-adds)\n", b.lim.fma_gflop_s);
    if (b.csv) {
        fprintf(b.csv, "limit,read,0,0,0,0,%.2f,100,0,0,0\n", b.lim.read_gb_s);
        fprintf(b.csv, "limit,sgemv,0,0,0,0,%.2f,%.1f,0,0,0\n", b.lim.sgemv_gb_s, 100 * b.lim.sgemv_gb_s / b.read_bw);
        fprintf(b.csv, "limit,sgemm,0,0,0,0,0,0,%.2f,100,%.1f\n", b.lim.sgemm_gflop_s, 100 * b.lim.sgemm_gflop_s / b.lim.fma_gflop_s);
        fprintf(b.csv, "limit,fma,0,0,0,0,0,0,%.2f,%.1f,100\n", b.lim.fma_gflop_s, 100 * b.lim.fma_gflop_s / b.lim.sgemm_gflop_s);
    }
    int rc = 1;
    char workdir[4096] = "";
    int made_work = 0;
    if (limits_only) {
        rc = 0;
        goto done;
    }
    /* the models: --model, or the default written and quantised into workdir */
    const char *dirs[4];
    char paths[4][4200];
    if (model) {
        dirs[0] = model;
        ntypes = 1;
    } else {
        if (work) snprintf(workdir, sizeof workdir, "%s", work);
        else {
            snprintf(workdir, sizeof workdir, "%s/griffin-bench-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
            if (!mkdtemp(workdir)) {
                cli_error("%s: cannot create: %s", workdir, strerror(errno));
                goto done;
            }
            made_work = 1;
        }
        if (gf_mkdir_p(workdir, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        snprintf(paths[0], sizeof paths[0], "%s/f32", workdir);
        char probe[4300];
        snprintf(probe, sizeof probe, "%s/model.safetensors", paths[0]);
        if (access(probe, R_OK) != 0) {
            char cfgp[4300];
            snprintf(cfgp, sizeof cfgp, "%s/bench-config.json", workdir);
            FILE *f = fopen(cfgp, "w");
            if (!f || fputs(BENCH_400M, f) < 0 || fclose(f) != 0) {
                cli_error("%s: cannot write", cfgp);
                goto done;
            }
            gf_config c;
            if (gf_config_load(cfgp, &c, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
            fprintf(stderr, "bench: writing the %.0fM-parameter F32 model into %s ...\n", (double)gf_config_num_params(&c) / 1e6, paths[0]);
            if (gf_model_init_write(&c, 1, paths[0], &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
        for (int k = 0; k < ntypes; k++) {
            if (!strcmp(tnames[k], "f32")) {
                dirs[k] = paths[0];
                continue;
            }
            snprintf(paths[k], sizeof paths[k], "%s/%s", workdir, tnames[k]);
            dirs[k] = paths[k];
            snprintf(probe, sizeof probe, "%.4100s/model.safetensors", paths[k]);
            if (access(probe, R_OK) == 0) continue;
            fprintf(stderr, "bench: quantising to %s ...\n", tnames[k]);
            gf_quant_type qt = !strcmp(tnames[k], "bf16") ? GF_QUANT_BF16 : !strcmp(tnames[k], "q8") ? GF_QUANT_Q8 : GF_QUANT_Q4;
            if (gf_model_quantize(paths[0], paths[k], qt, quant_progress, NULL, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
    }
    for (int k = 0; k < ntypes; k++) {
        gf_model *m = gf_model_load(dirs[k], &err);
        if (!m) {
            cli_error("%s", err.msg);
            goto done;
        }
        const gf_config *c = gf_model_config(m);
        size_t params = gf_config_num_params(c), emb = (size_t)c->vocab_size * (size_t)c->width;
        double step_bytes = (double)gf_model_decode_bytes(m);
        const char *wt = gf_model_weight_dtype(m);
        printf("\n%s weights: %.1fM parameters (%.1fM outside the embedding), %.1f MiB read per decode step\n", wt,
               (double)params / 1e6, (double)(params - emb) / 1e6, step_bytes / (1 << 20));
        printf("  decode  batch   tokens/s   ms/step   weights GB/s  %% read bw   GFLOP/s  %% sgemm  %% FMA\n");
        for (int bi = 0; bi < nbatches; bi++) {
            int B = (int)batches[bi];
            double sec;
            if (time_decode(m, B, &sec, &err)) {
                gf_model_free(m);
                cli_error("%s", err.msg);
                goto done;
            }
            double flops = 2.0 * (double)params * B, gbs = step_bytes / sec / 1e9, gf = flops / sec / 1e9;
            printf("          %5d %10.1f %9.2f %14.1f %10.1f %9.1f %8.1f %6.1f\n", B, B / sec, sec * 1e3, gbs,
                   100 * gbs / b.read_bw, gf, 100 * gf / b.lim.sgemm_gflop_s, 100 * gf / b.lim.fma_gflop_s);
            csv_row(&b, "decode", wt, B, B, sec, step_bytes, flops);
            fflush(stdout);
        }
        if (prefill_T > 0) {
            double sec;
            if (time_prefill(m, (int)prefill_T, &sec, &err)) {
                gf_model_free(m);
                cli_error("%s", err.msg);
                goto done;
            }
            double flops = 2.0 * (double)(params - emb) * (double)prefill_T, gf = flops / sec / 1e9;
            printf("  prefill %ld tokens (state only, no logits): %.3f s, %.0f tokens/s, %.1f GFLOP/s = %.1f %% of sgemm"
                   " (%.1f %% of the FMA peak)\n",
                   prefill_T, sec, (double)prefill_T / sec, gf, 100 * gf / b.lim.sgemm_gflop_s, 100 * gf / b.lim.fma_gflop_s);
            csv_row(&b, "prefill", wt, 1, prefill_T, sec, 0, flops);
        }
        gf_model_free(m);
    }
    if (!no_train && bench_train(&b, train_cfg, (int)train_B, (int)train_T, &err)) goto done;
    rc = 0;
done:
    if (made_work) remove_tree(workdir);
    if (b.csv && fclose(b.csv) != 0 && rc == 0) rc = cli_error("%s: write failed", csv);
    return rc;
}
