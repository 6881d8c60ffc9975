/* decode_throughput: the largest decode throughput each of MQA Transformer,
 * Hawk and Griffin (equal parameter count) reaches when weights and decode
 * state share one memory budget — the analogue of the paper's Figure 1(b)
 * (§5.2): a small fixed state lets Hawk and Griffin decode many more
 * sequences at once than a KV cache that must hold every position.
 *
 * For each generation length N (sampling N tokens from an empty prompt):
 *   state(N) = gf_state_bytes_per_seq of the model configured for N: the MQA
 *     Transformer with window N (its KV ring is allocated at the window, and
 *     it must see every position); Griffin with window min(W, N) (a ring
 *     longer than the sequence holds nothing; W = --griffin-window); Hawk's
 *     state does not depend on N;
 *   batch = min(--max-batch, floor((budget - weight bytes) / state(N)));
 *   time  = N x the mean of the median decode-step time at --points
 *     positions (k + 1/2) N / points, k = 0..points-1 (the midpoint rule: exact
 *     for a step time affine in the position, as global attention's is);
 *     --full instead times every one of the N steps from an empty state;
 *   tokens/s = batch x N / time.
 * Steps are greedy (logits computed every step; the argmax outside the
 * timing). The logits buffer (batch x vocab floats) is not counted in the
 * budget; its size is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static const char *PROG = "decode_throughput";

static const char *USAGE =
    "usage: decode_throughput [options]\n"
    "  Max decode throughput under one memory budget for weights + batch x state.\n"
    "  --archs LIST         mqa,hawk,griffin (default all three)\n"
    "  --lengths LIST       generation lengths N (default 512,1024,2048,4096)\n"
    "  --budget SIZE        weights + batch x state(N), e.g. 2G, 1536M (default 2G = 2 GiB)\n"
    "  --max-batch N        cap on the batch (default 256): beyond it decode is compute-bound\n"
    "                       and a step takes long to time on 2 cores\n"
    "  --points K           positions timed per N (default 4, midpoint rule)\n"
    "  --steps N            timed steps per position (default 3; median)\n"
    "  --warmup N           untimed steps before them (default 1)\n"
    "  --full               time all N steps from an empty state instead (slow: for checks)\n"
    "  --width D --layers N --heads H --vocab V --mlp-width E\n"
    "                       model shape (default 768, 12, 6, 32000, 3 D for Griffin; MQA's and\n"
    "                       Hawk's MLP resized to Griffin's parameter count)\n"
    "  --griffin-window W   Griffin's local attention window (default 1024)\n"
    "  --threads N          OpenBLAS / OpenMP threads (default: all cores)\n"
    "  --tmp DIR            where the random models are written (default $TMPDIR or /tmp)\n"
    "  --seed S             weight seed (default 1)\n"
    "  --out FILE           CSV output (default stdout)\n"
    "  -h, --help           this text\n";

static const char *const OPTIONS[] = {
    "--archs", "--lengths", "--budget", "--max-batch", "--points", "--steps", "--warmup",
    "--width", "--layers", "--heads", "--vocab", "--mlp-width", "--griffin-window", "--threads",
    "--seed", "--tmp", "--out", NULL};

typedef struct {
    bench_models mo;
    long *lengths;
    int n_lengths;
    size_t budget;
    long max_batch, points, steps, warmup;
    int full;
    const char *out;
} opts;

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    bench_set_prog(PROG);
    bench_models_init(&o->mo, (bench_shape){32000, 768, 12, 6, 0});
    o->budget = (size_t)2 << 30;
    o->max_batch = 256;
    o->points = 4;
    o->steps = 3;
    o->warmup = 1;
    const char *lengths = "512,1024,2048,4096";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (!strcmp(a, "--full")) {
            o->full = 1;
            continue;
        }
        if (!(v = bench_value(PROG, argc, argv, &i, OPTIONS))) return -1;
        int taken = bench_models_option(&o->mo, a, v);
        if (taken < 0) return -1;
        if (taken) continue;
        if (!strcmp(a, "--lengths")) lengths = v;
        else if (!strcmp(a, "--budget")) { if (bench_parse_bytes(a, v, &o->budget)) return -1; }
        else if (!strcmp(a, "--max-batch")) { if (bench_parse_long(a, v, 1, 1 << 16, &o->max_batch)) return -1; }
        else if (!strcmp(a, "--points")) { if (bench_parse_long(a, v, 1, 1000, &o->points)) return -1; }
        else if (!strcmp(a, "--steps")) { if (bench_parse_long(a, v, 1, 100000, &o->steps)) return -1; }
        else if (!strcmp(a, "--warmup")) { if (bench_parse_long(a, v, 0, 100000, &o->warmup)) return -1; }
        else if (!strcmp(a, "--out")) o->out = v;
        else return bench_error(PROG, "unknown option '%s' (see --help)", a), -1;
    }
    bench_models_done(&o->mo);
    if (bench_parse_list("--lengths", lengths, 1, 1 << 20, &o->lengths, &o->n_lengths)) return -1;
    return 0;
}

/* Mean step time (s) over the sampled positions, or the whole generation's
 * time when full; *lo / *hi: the smallest and largest median seen. */
static int time_generation(const char *name, const gf_model *m, gf_state *st, const opts *o, int N,
                           float *logits, int32_t *tok, double *gen_s, double *lo, double *hi, gf_error *err) {
    const gf_config *c = gf_model_config(m);
    int B = gf_state_batch(st);
    if (o->full) {
        gf_state_reset(st);
        for (int b = 0; b < B; b++) tok[b] = 3 + b;
        double t0 = bench_now();
        for (int i = 0; i < N; i++) {
            if (gf_decode_step(m, st, tok, NULL, logits, err) != 0) return -1;
            bench_argmax_rows(logits, B, c->vocab_size, tok); /* part of a real generation */
        }
        *gen_s = bench_now() - t0;
        *lo = *hi = *gen_s / N;
        return 0;
    }
    double *t = malloc((size_t)o->steps * sizeof *t);
    if (!t) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    double sum = 0;
    for (long k = 0; k < o->points; k++) {
        int pos = (int)(((double)k + 0.5) * N / (double)o->points);
        if (bench_state_at(m, st, pos, o->mo.seed, err) != 0) {
            free(t);
            return -1;
        }
        for (int b = 0; b < B; b++) tok[b] = 3 + b;
        for (long i = 0; i < o->warmup + o->steps; i++) {
            double t0 = bench_now();
            if (gf_decode_step(m, st, tok, NULL, logits, err) != 0) {
                free(t);
                return -1;
            }
            double dt = bench_now() - t0;
            if (i >= o->warmup) t[i - o->warmup] = dt;
            bench_argmax_rows(logits, B, c->vocab_size, tok);
        }
        double med = bench_median(t, (int)o->steps);
        if (k == 0 || med < *lo) *lo = med;
        if (k == 0 || med > *hi) *hi = med;
        sum += med;
        fprintf(stderr, "%s:   %s N=%d B=%d position %d: %.1f ms/step\n", PROG, name, N, B,
                pos, med * 1e3);
    }
    free(t);
    *gen_s = (double)N * sum / (double)o->points;
    return 0;
}

/* One (architecture, N) point: the model reconfigured for N, the batch
 * that fits, the timing, one CSV row. *mp may be replaced (reloaded). */
static int run_point(const opts *o, bench_arch a, const gf_config *basecfg, gf_model **mp, const char *dir, int N,
                     FILE *out, gf_error *err) {
    const char *name = bench_arch_name(a);
    gf_config c = *basecfg;
    if (a == BENCH_MQA) c.window = N;
    else if (a == BENCH_GRIFFIN) c.window = N < o->mo.griffin_window ? N : (int)o->mo.griffin_window;
    if (c.window != gf_model_config(*mp)->window) {
        /* the weights are written once; only config.json's window changes
         * with N (the window does not change the parameters) */
        char cfg_path[4200];
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
        gf_model_free(*mp);
        *mp = NULL;
        if (gf_config_save(&c, cfg_path, err) != 0 || !(*mp = bench_model_load(dir, err))) return -1;
    }
    const gf_model *m = *mp;
    size_t wbytes = gf_model_weight_bytes(m), sbytes = gf_state_bytes_per_seq(&c);
    if (wbytes >= o->budget) {
        snprintf(err->msg, sizeof err->msg, "weights (%.1f MB) do not fit the budget (%.1f MB)", wbytes / 1e6,
                 o->budget / 1e6);
        return -1;
    }
    size_t fit = (o->budget - wbytes) / sbytes;
    int win = gf_config_num_attention_layers(&c) ? c.window : 0; /* 0: no attention layer */
    int B = fit < (size_t)o->max_batch ? (int)fit : (int)o->max_batch;
    const char *limit = fit < (size_t)o->max_batch ? "memory" : "cap";
    if (B < 1) {
        fprintf(out, "%s,%d,%d,%zu,%zu,%zu,%zu,0,0,memory,%s,,,,,0,0\n", name, N, win, gf_config_num_params(&c), wbytes,
                sbytes, o->budget, o->full ? "full" : "midpoint");
        fprintf(stderr, "%s: %s N=%d: not even one sequence fits\n", PROG, name, N);
        return 0;
    }
    size_t lbytes = (size_t)B * (size_t)c.vocab_size * sizeof(float);
    gf_state *st = gf_state_new(m, B, err);
    float *logits = st ? malloc(lbytes) : NULL;
    int32_t *tok = logits ? malloc((size_t)B * sizeof *tok) : NULL;
    int rc = 0;
    if (!tok) {
        if (st) snprintf(err->msg, sizeof err->msg, "batch %d: out of memory", B);
        rc = -1;
    } else {
        fprintf(stderr, "%s: %s N=%d: window %d, %.2f MB state/seq, batch %d (%s)\n", PROG, name, N, win, sbytes / 1e6,
                B, limit);
        double gen_s = 0, lo = 0, hi = 0;
        rc = time_generation(name, m, st, o, N, logits, tok, &gen_s, &lo, &hi, err);
        if (rc == 0) {
            double tps = (double)B * N / gen_s;
            fprintf(out, "%s,%d,%d,%zu,%zu,%zu,%zu,%zu,%d,%s,%s,%.3f,%.3f,%.3f,%.3f,%.2f,%zu\n", name, N, win,
                    gf_config_num_params(&c), wbytes, sbytes, o->budget, fit, B, limit, o->full ? "full" : "midpoint",
                    gen_s / N * 1e3, lo * 1e3, hi * 1e3, gen_s, tps, lbytes);
            fflush(out);
            fprintf(stderr, "%s: %s N=%d B=%d: %.1f tokens/s\n", PROG, name, N, B, tps);
        }
    }
    gf_state_free(st);
    free(logits);
    free(tok);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o) != 0) return 1;
    bench_set_threads((int)o.mo.threads);
    gf_error err;
    gf_config base[BENCH_NARCH];
    int windows[BENCH_NARCH] = {1024, (int)o.mo.griffin_window, (int)o.mo.griffin_window}; /* MQA's set per N */
    if (bench_configs_matched(&o.mo.shape, windows, base, &err) != 0) return bench_error(PROG, "%s", err.msg);
    FILE *out = stdout;
    if (o.out && !(out = fopen(o.out, "w"))) return bench_error(PROG, "%s: cannot write", o.out);
    fprintf(out, "arch,gen_length,window,params,weight_bytes,state_bytes_per_seq,budget_bytes,batch_fits_budget,batch,"
                 "batch_limited_by,method,mean_step_ms,min_step_ms,max_step_ms,est_generation_s,tokens_per_s,"
                 "logits_bytes_not_in_budget\n");
    int rc = 0;
    /* All models stay loaded (their weights are mapped, not counted twice in
     * any budget: each point's budget is its own model's) and the
     * architectures take turns at every N, so that a change in a shared
     * machine's load falls on all three alike. */
    gf_model *m[BENCH_NARCH] = {0};
    char dir[BENCH_NARCH][4096] = {{0}};
    rc = bench_models_load(&o.mo, base, m, dir);
    for (int li = 0; li < o.n_lengths && rc == 0; li++)
        for (int a = 0; a < BENCH_NARCH && rc == 0; a++)
            if (o.mo.want[a] && run_point(&o, (bench_arch)a, &base[a], &m[a], dir[a], (int)o.lengths[li], out, &err) != 0)
                rc = bench_error(PROG, "%s N=%ld: %s", bench_arch_name((bench_arch)a), o.lengths[li], err.msg);
    for (int a = 0; a < BENCH_NARCH; a++) {
        if (m[a]) gf_model_free(m[a]);
        if (o.mo.want[a] && dir[a][0]) bench_rm_model_dir(dir[a]);
    }
    if (o.out && fclose(out) != 0 && rc == 0) rc = bench_error(PROG, "%s: write failed", o.out);
    free(o.lengths);
    return rc;
}
