/* train_step_time: time of one training step (forward + backward through
 * gf_train_loss_grad) against the sequence length, at a fixed number of
 * tokens per batch, for an MQA Transformer, Hawk and Griffin of equal
 * parameter count — the analogue of the paper's Figure 3 (§4.3): with the
 * tokens per batch fixed, the linear layers cost the same at every sequence
 * length, global attention costs grow linearly with T (each token attends to
 * T/2 keys on average), the RG-LRU's do not, and Griffin's local attention
 * stops growing once T passes its window.
 *
 * A step is B = tokens / T rows of T random tokens (targets: the next
 * random token, every position counted), gradients accumulated into the
 * trainable's arena; the AdamW update (the same cost for every T) is not
 * part of the timed step. The three architectures take turns step by step
 * (all three trainables live at once; the same tokens for each). One
 * untimed step runs before an architecture's
 * first T (first touch of the parameters, gradients and OpenBLAS buffers);
 * a new T re-sizes the activation arena, which costs page faults of
 * ~100 MB, milliseconds against steps of seconds, so no further warm-up
 * is needed by default (--warmup adds some at every T). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static const char *PROG = "train_step_time";

static const char *USAGE =
    "usage: train_step_time [options]\n"
    "  Training step time vs sequence length at fixed tokens per batch.\n"
    "  --archs LIST         mqa,hawk,griffin (default all three)\n"
    "  --seq LIST           sequence lengths T (default 256,512,1024,2048,4096)\n"
    "  --tokens N           tokens per batch, B = N / T rows (default 4096; each T must divide it)\n"
    "  --steps N            timed steps per point (default 2; median reported)\n"
    "  --warmup N           untimed steps before them at every T (default 0; one untimed step\n"
    "                       always runs before an architecture's first T)\n"
    "  --width D --layers N --heads H --vocab V --mlp-width E\n"
    "                       model shape (default 384, 6, 3, 8192, 3 D for Griffin; MQA's and\n"
    "                       Hawk's MLP resized to Griffin's parameter count)\n"
    "  --griffin-window W   Griffin's local attention window (default 1024)\n"
    "  --mqa-window W       MQA window (default: the longest T, i.e. global attention)\n"
    "  --threads N          OpenBLAS / OpenMP threads (default: all cores)\n"
    "  --seed S             weight seed (default 1)\n"
    "  --out FILE           CSV output (default stdout)\n"
    "  -h, --help           this text\n";

static const char *const OPTIONS[] = {
    "--archs", "--seq", "--tokens", "--steps", "--warmup", "--width", "--layers", "--heads",
    "--vocab", "--mlp-width", "--griffin-window", "--mqa-window", "--threads", "--seed", "--out",
    NULL};

typedef struct {
    bench_models mo;
    long *seqs;
    int n_seqs;
    long tokens, steps, warmup;
    const char *out;
} opts;

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    bench_set_prog(PROG);
    bench_models_init(&o->mo, (bench_shape){8192, 384, 6, 3, 0});
    o->tokens = 4096;
    o->steps = 2;
    o->warmup = 0;
    const char *seqs = "256,512,1024,2048,4096";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (!(v = bench_value(PROG, argc, argv, &i, OPTIONS))) return -1;
        int taken = bench_models_option(&o->mo, a, v);
        if (taken < 0) return -1;
        if (taken) continue;
        if (!strcmp(a, "--seq")) seqs = v;
        else if (!strcmp(a, "--tokens")) { if (bench_parse_long(a, v, 2, 1L << 24, &o->tokens)) return -1; }
        else if (!strcmp(a, "--steps")) { if (bench_parse_long(a, v, 1, 100000, &o->steps)) return -1; }
        else if (!strcmp(a, "--warmup")) { if (bench_parse_long(a, v, 0, 100000, &o->warmup)) return -1; }
        else if (!strcmp(a, "--out")) o->out = v;
        else return bench_error(PROG, "unknown option '%s' (see --help)", a), -1;
    }
    bench_models_done(&o->mo);
    if (bench_parse_list("--seq", seqs, 2, 1 << 22, &o->seqs, &o->n_seqs)) return -1;
    long tmax = 0;
    for (int i = 0; i < o->n_seqs; i++) {
        if (o->tokens % o->seqs[i] != 0)
            return bench_error(PROG, "--seq %ld does not divide --tokens %ld (B = tokens / T rows)", o->seqs[i],
                               o->tokens), -1;
        tmax = o->seqs[i] > tmax ? o->seqs[i] : tmax;
    }
    if (o->mo.mqa_window == 0) o->mo.mqa_window = tmax;
    return 0;
}

/* Mean keys a query sees in a causal window w over T positions (itself
 * included): position t sees min(t, w) + 1. */
static double avg_keys(int T, int w) {
    double s = 0;
    for (int t = 0; t < T; t++) s += (t < w ? t : w) + 1;
    return s / T;
}

/* Model FLOPs of one step, the usual estimate: 6 per parameter per token for
 * the matrix products forward and backward (the tied embedding counted once,
 * as the unembedding's product), plus attention's two products QK and PV,
 * 2 x keys x D multiply-adds per token forward and twice that backward: 12 x
 * keys x D FLOPs per token per attention layer. The RG-LRU scan, norms,
 * convolution and softmax are left out (O(D) per token). */
static double step_gflop(const gf_config *c, size_t params, int T, long tokens) {
    double per_token = 6.0 * (double)params;
    per_token += 12.0 * avg_keys(T, c->window) * c->width * (double)gf_config_num_attention_layers(c);
    return per_token * (double)tokens / 1e9;
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o) != 0) return 1;
    bench_set_threads((int)o.mo.threads);
    gf_error err;
    gf_config cfg[BENCH_NARCH];
    int windows[BENCH_NARCH] = {(int)o.mo.mqa_window, (int)o.mo.griffin_window, (int)o.mo.griffin_window};
    if (bench_configs_matched(&o.mo.shape, windows, cfg, &err) != 0) return bench_error(PROG, "%s", err.msg);
    size_t N = (size_t)o.tokens;
    int32_t *in = malloc(N * sizeof *in), *tg = malloc(N * sizeof *tg);
    double *t[BENCH_NARCH] = {0};
    for (int a = 0; a < BENCH_NARCH; a++) t[a] = malloc((size_t)o.steps * sizeof *t[a]);
    if (!in || !tg || !t[0] || !t[1] || !t[2]) return bench_error(PROG, "out of memory");
    uint64_t rng[4];
    gf_rng_seed(rng, o.mo.seed + 17);
    FILE *out = stdout;
    if (o.out && !(out = fopen(o.out, "w"))) return bench_error(PROG, "%s: cannot write", o.out);
    fprintf(out, "arch,params,mlp_width,window,tokens_per_batch,seq_len,batch_rows,steps,median_step_s,min_step_s,"
                 "max_step_s,tokens_per_s,avg_keys_per_query,est_gflop_per_step,achieved_gflop_s\n");
    int rc = 0;
    /* All three trainables live at once and take turns step by step, so
     * that a change in a shared machine's load falls on all of them alike
     * instead of on whichever ran last. */
    gf_trainable *tr[BENCH_NARCH] = {0};
    for (int a = 0; a < BENCH_NARCH && rc == 0; a++) {
        if (!o.mo.want[a]) continue;
        if (!(tr[a] = gf_trainable_new(&cfg[a], o.mo.seed, &err))) {
            rc = bench_error(PROG, "%s: %s", bench_arch_name((bench_arch)a), err.msg);
            break;
        }
        fprintf(stderr, "%s: %s: %zu params (MLP %d, window %d)\n", PROG, bench_arch_name((bench_arch)a),
                gf_trainable_num_params(tr[a]), cfg[a].mlp_width,
                gf_config_num_attention_layers(&cfg[a]) ? cfg[a].window : 0);
    }
    for (int si = 0; si < o.n_seqs && rc == 0; si++) {
        int T = (int)o.seqs[si], B = (int)(o.tokens / T);
        long warm = o.warmup + (si == 0 ? 1 : 0);
        for (long s = 0; s < warm + o.steps && rc == 0; s++) {
            /* fresh random tokens each step, the same for the three; a
             * stream of N + 1 ids so every target is the next input */
            int32_t prev = (int32_t)(gf_rng_next(rng) % (uint64_t)o.mo.shape.vocab);
            for (size_t i = 0; i < N; i++) {
                in[i] = prev;
                prev = (int32_t)(gf_rng_next(rng) % (uint64_t)o.mo.shape.vocab);
                tg[i] = prev;
            }
            for (int a = 0; a < BENCH_NARCH && rc == 0; a++) {
                if (!o.mo.want[a]) continue;
                const char *name = bench_arch_name((bench_arch)a);
                gf_trainable_zero_grads(tr[a]);
                double loss, t0 = bench_now();
                if (gf_train_loss_grad(tr[a], B, T, in, tg, NULL, 1.0f, &loss, &err) != 0) {
                    rc = bench_error(PROG, "%s T=%d: %s", name, T, err.msg);
                    break;
                }
                double dt = bench_now() - t0;
                if (s >= warm) t[a][s - warm] = dt;
                fprintf(stderr, "%s:   %s T=%d B=%d step %ld: %.2f s (loss %.3f)%s\n", PROG, name, T, B, s, dt, loss,
                        s < warm ? " warm-up" : "");
            }
        }
        for (int a = 0; a < BENCH_NARCH && rc == 0; a++) {
            if (!o.mo.want[a]) continue;
            double mn = t[a][0], mx = t[a][0];
            for (long s = 1; s < o.steps; s++) {
                if (t[a][s] < mn) mn = t[a][s];
                if (t[a][s] > mx) mx = t[a][s];
            }
            double med = bench_median(t[a], (int)o.steps);
            size_t params = gf_trainable_num_params(tr[a]);
            int attn = gf_config_num_attention_layers(&cfg[a]) > 0;
            double keys = avg_keys(T, cfg[a].window), gflop = step_gflop(&cfg[a], params, T, o.tokens);
            fprintf(out, "%s,%zu,%d,%d,%ld,%d,%d,%ld,%.4f,%.4f,%.4f,%.1f,%.1f,%.2f,%.2f\n",
                    bench_arch_name((bench_arch)a), params, cfg[a].mlp_width, attn ? cfg[a].window : 0, o.tokens, T, B,
                    o.steps, med, mn, mx, (double)o.tokens / med, attn ? keys : 0.0, gflop, gflop / med);
            fflush(out);
            fprintf(stderr, "%s: %s T=%d: %.2f s/step\n", PROG, bench_arch_name((bench_arch)a), T, med);
        }
    }
    for (int a = 0; a < BENCH_NARCH; a++) {
        gf_trainable_free(tr[a]);
        free(t[a]);
    }
    if (o.out && fclose(out) != 0 && rc == 0) rc = bench_error(PROG, "%s: write failed", o.out);
    free(in);
    free(tg);
    free(o.seqs);
    return rc;
}
