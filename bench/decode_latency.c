/* decode_latency: time of one decode step (ms) against the position it
 * decodes at, for an MQA Transformer, Hawk and Griffin of equal parameter
 * count, at several batch sizes — the analogue of the paper's Figure 4
 * (§5.2: Hawk and Griffin decode from a fixed-size state, so their step time
 * does not grow with the sequence; the MQA Transformer reads a KV cache as
 * long as the sequence; Griffin's local attention stops growing at its
 * window).
 *
 * Method: for each sampled position p, the state is put at p (see
 * bench_state_at: the step's cost depends on the position only through the
 * number of cache slots it reads), one untimed warm-up step is run, then
 * --steps timed greedy decode steps (logits included; the argmax that picks
 * the next token is outside the timing); the median is reported. The
 * estimated time to sample N tokens from an empty prompt (the paper's
 * y-axis) integrates the median step time over positions (trapezoid rule).
 * --check-prefill P instead compares, at position P, the step time after a
 * real prefill of P tokens with the time after bench_state_at. The
 * architectures take turns at each position (all three models loaded), so
 * that a change in a shared machine's load falls on all of them alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

static const char *PROG = "decode_latency";

static const char *USAGE =
    "usage: decode_latency [options]\n"
    "  Decode step time vs position for MQA Transformer / Hawk / Griffin at equal parameters.\n"
    "  --archs LIST         mqa,hawk,griffin (default all three)\n"
    "  --batch LIST         batch sizes (default 1,16)\n"
    "  --positions LIST     positions, a,b,c or start:stop:step (default 0:8192:512)\n"
    "  --steps N            timed decode steps per point (default 5; median reported)\n"
    "  --warmup N           untimed steps before them (default 1)\n"
    "  --width D            model width (default 768)\n"
    "  --layers N           layers (default 12; Griffin repeats recurrent, recurrent, attention)\n"
    "  --heads H            attention heads / RG-LRU blocks (default 6, head_dim = D/H)\n"
    "  --vocab V            vocabulary (default 32000)\n"
    "  --mlp-width E        Griffin's MLP width (default 3 D); MQA's and Hawk's are resized\n"
    "                       so all three have Griffin's parameter count\n"
    "  --griffin-window W   Griffin's local attention window (default 1024)\n"
    "  --mqa-window W       MQA window (default: the largest position + steps + warmup, i.e.\n"
    "                       global attention over every position decoded)\n"
    "  --threads N          OpenBLAS / OpenMP threads (default: library default = all cores)\n"
    "  --tmp DIR            where the random models are written (default $TMPDIR or /tmp)\n"
    "  --seed S             weight seed (default 1)\n"
    "  --check-prefill P    instead of the sweep: at position P, median step time after a real\n"
    "                       prefill of P tokens vs after the synthetic state (validates the method)\n"
    "  --out FILE           CSV output (default stdout)\n"
    "  -h, --help           this text\n"
    "  Progress goes to stderr.\n";

static const char *const OPTIONS[] = {
    "--archs", "--batch", "--positions", "--steps", "--warmup", "--width", "--layers", "--heads",
    "--vocab", "--mlp-width", "--griffin-window", "--mqa-window", "--threads", "--check-prefill",
    "--seed", "--tmp", "--out", NULL};

typedef struct {
    bench_models mo;
    long *batches, *positions;
    int n_batches, n_positions;
    long steps, warmup, check_prefill;
    const char *out;
} opts;

/* Runs warmup + steps greedy decode steps from st's current position; the
 * median step time in seconds goes to *med, min and max too. */
static int time_steps(const gf_model *m, gf_state *st, float *logits, int32_t *tok, long warmup, long steps,
                      double *med, double *mn, double *mx, gf_error *err) {
    const gf_config *c = gf_model_config(m);
    int B = gf_state_batch(st);
    double *t = malloc((size_t)steps * sizeof *t);
    if (!t) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    for (long i = 0; i < warmup + steps; i++) {
        double t0 = bench_now();
        if (gf_decode_step(m, st, tok, NULL, logits, err) != 0) {
            free(t);
            return -1;
        }
        double dt = bench_now() - t0;
        if (i >= warmup) t[i - warmup] = dt;
        bench_argmax_rows(logits, B, c->vocab_size, tok);
    }
    *mn = *mx = t[0];
    for (long i = 1; i < steps; i++) {
        if (t[i] < *mn) *mn = t[i];
        if (t[i] > *mx) *mx = t[i];
    }
    *med = bench_median(t, (int)steps);
    free(t);
    return 0;
}

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    bench_set_prog(PROG);
    bench_models_init(&o->mo, (bench_shape){32000, 768, 12, 6, 0});
    o->steps = 5;
    o->warmup = 1;
    o->check_prefill = -1;
    const char *batches = "1,16", *positions = "0:8192:512";
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
        if (!strcmp(a, "--batch")) batches = v;
        else if (!strcmp(a, "--positions")) positions = v;
        else if (!strcmp(a, "--steps")) { if (bench_parse_long(a, v, 1, 100000, &o->steps)) return -1; }
        else if (!strcmp(a, "--warmup")) { if (bench_parse_long(a, v, 0, 100000, &o->warmup)) return -1; }
        else if (!strcmp(a, "--check-prefill")) { if (bench_parse_long(a, v, 1, 1 << 20, &o->check_prefill)) return -1; }
        else if (!strcmp(a, "--out")) o->out = v;
        else return bench_error(PROG, "unknown option '%s' (see --help)", a), -1;
    }
    bench_models_done(&o->mo);
    if (bench_parse_list("--batch", batches, 1, 4096, &o->batches, &o->n_batches)) return -1;
    if (bench_parse_list("--positions", positions, 0, 1 << 22, &o->positions, &o->n_positions)) return -1;
    long pmax = 0;
    for (int i = 0; i < o->n_positions; i++) pmax = o->positions[i] > pmax ? o->positions[i] : pmax;
    if (o->check_prefill > pmax) pmax = o->check_prefill;
    long need = pmax + o->warmup + o->steps;
    if (o->mo.mqa_window == 0) o->mo.mqa_window = need;
    else if (o->mo.mqa_window < need)
        fprintf(stderr, "%s: warning: --mqa-window %ld < %ld positions decoded: MQA attention becomes local\n", PROG,
                o->mo.mqa_window, need);
    return 0;
}

/* The method check at position P for one model and batch: a state after a
 * real prefill of P tokens and one from bench_state_at take turns step by
 * step (so that a change in the machine's load falls on both alike); one
 * CSV row for each. st is the real one; a second state is made here. */
static int check_prefill(const opts *o, bench_arch a, const gf_model *m, gf_state *st, float *logits, int32_t *tok,
                         FILE *out, gf_error *err) {
    const gf_config *c = gf_model_config(m);
    int B = gf_state_batch(st), P = (int)o->check_prefill;
    int win = gf_config_num_attention_layers(c) ? c->window : 0;
    int32_t *pt = malloc((size_t)B * (size_t)P * sizeof *pt);
    int32_t *tok2 = malloc((size_t)B * sizeof *tok2);
    double *t = malloc(2 * (size_t)o->steps * sizeof *t);
    gf_state *syn = gf_state_new(m, B, err);
    int rc = -1;
    if (!syn) goto out;
    if (!pt || !tok2 || !t) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < (size_t)B * (size_t)P; i++) pt[i] = (int32_t)(3 + (i * 7919) % (size_t)(c->vocab_size - 3));
    double tp = bench_now();
    if (gf_prefill(m, B, P, pt, NULL, NULL, NULL, st, err) != 0) goto out;
    fprintf(stderr, "%s: %s B=%d: prefill of %d tokens in %.1f s\n", PROG, bench_arch_name(a), B, P, bench_now() - tp);
    if (bench_state_at(m, syn, P, o->mo.seed, err) != 0) goto out;
    gf_state *sts[2] = {st, syn};
    int32_t *toks[2] = {tok, tok2};
    for (int b = 0; b < B; b++) tok[b] = tok2[b] = 3 + b;
    for (long i = 0; i < o->warmup + o->steps; i++) {
        for (int k = 0; k < 2; k++) {
            double t0 = bench_now();
            if (gf_decode_step(m, sts[k], toks[k], NULL, logits, err) != 0) goto out;
            double dt = bench_now() - t0;
            if (i >= o->warmup) t[k * o->steps + (i - o->warmup)] = dt;
            bench_argmax_rows(logits, B, c->vocab_size, toks[k]);
        }
    }
    for (int k = 0; k < 2; k++) {
        double *tk = t + k * o->steps, mn = tk[0], mx = tk[0];
        for (long i = 1; i < o->steps; i++) {
            if (tk[i] < mn) mn = tk[i];
            if (tk[i] > mx) mx = tk[i];
        }
        double med = bench_median(tk, (int)o->steps);
        const char *fill = k == 0 ? "prefill" : "synthetic";
        fprintf(out, "%s,%zu,%d,%d,%d,%s,%ld,%.3f,%.3f,%.3f\n", bench_arch_name(a), gf_config_num_params(c), B, P, win,
                fill, o->steps, med * 1e3, mn * 1e3, mx * 1e3);
        fprintf(stderr, "%s: %s B=%d p=%d %s: %.2f ms/step\n", PROG, bench_arch_name(a), B, P, fill, med * 1e3);
    }
    fflush(out);
    rc = 0;
out:
    gf_state_free(syn);
    free(pt);
    free(tok2);
    free(t);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o) != 0) return 1;
    bench_set_threads((int)o.mo.threads);
    gf_error err;
    gf_config cfg[BENCH_NARCH];
    int windows[BENCH_NARCH] = {(int)o.mo.mqa_window, (int)o.mo.griffin_window, (int)o.mo.griffin_window};
    if (bench_configs_matched(&o.mo.shape, windows, cfg, &err) != 0) return bench_error(PROG, "%s", err.msg);
    FILE *out = stdout;
    if (o.out && !(out = fopen(o.out, "w"))) return bench_error(PROG, "%s: cannot write", o.out);
    int checking = o.check_prefill > 0;
    if (checking)
        fprintf(out, "arch,params,batch,position,window,fill,steps,median_step_ms,min_step_ms,max_step_ms\n");
    else
        fprintf(out, "arch,params,mlp_width,window,weight_bytes,state_bytes_per_seq,batch,position,steps,"
                     "median_step_ms,min_step_ms,max_step_ms,ms_per_token,est_s_to_sample_position_tokens\n");
    int rc = 0;
    /* All models stay loaded and the architectures take turns at every
     * position: on a shared machine a change of load then falls on all three
     * alike instead of on whichever ran last. */
    gf_model *m[BENCH_NARCH] = {0};
    char dir[BENCH_NARCH][4096] = {{0}};
    rc = bench_models_load(&o.mo, cfg, m, dir);
    for (int bi = 0; bi < o.n_batches && rc == 0; bi++) {
        int B = (int)o.batches[bi];
        gf_state *st[BENCH_NARCH] = {0};
        float *logits[BENCH_NARCH] = {0};
        int32_t *tok[BENCH_NARCH] = {0};
        double cum[BENCH_NARCH] = {0}, prev_t[BENCH_NARCH] = {0};
        for (int a = 0; a < BENCH_NARCH && rc == 0; a++) {
            if (!o.mo.want[a]) continue;
            st[a] = gf_state_new(m[a], B, &err);
            logits[a] = st[a] ? malloc((size_t)B * (size_t)cfg[a].vocab_size * sizeof(float)) : NULL;
            tok[a] = logits[a] ? malloc((size_t)B * sizeof(int32_t)) : NULL;
            if (!tok[a])
                rc = bench_error(PROG, "%s: batch %d: %s", bench_arch_name((bench_arch)a), B,
                                 st[a] ? "out of memory" : err.msg);
        }
        for (int a = 0; checking && a < BENCH_NARCH && rc == 0; a++)
            if (o.mo.want[a] && check_prefill(&o, (bench_arch)a, m[a], st[a], logits[a], tok[a], out, &err) != 0)
                rc = bench_error(PROG, "%s: %s", bench_arch_name((bench_arch)a), err.msg);
        for (int pi = 0; !checking && pi < o.n_positions && rc == 0; pi++) {
            int p = (int)o.positions[pi];
            for (int a = 0; a < BENCH_NARCH && rc == 0; a++) {
                if (!o.mo.want[a]) continue;
                const char *name = bench_arch_name((bench_arch)a);
                if (bench_state_at(m[a], st[a], p, o.mo.seed, &err) != 0) {
                    rc = bench_error(PROG, "%s: position %d: %s", name, p, err.msg);
                    break;
                }
                for (int b = 0; b < B; b++) tok[a][b] = 3 + b;
                double med, mn, mx;
                if (time_steps(m[a], st[a], logits[a], tok[a], o.warmup, o.steps, &med, &mn, &mx, &err)) {
                    rc = bench_error(PROG, "%s: %s", name, err.msg);
                    break;
                }
                /* the estimate is meaningful for an increasing list of
                 * positions starting at 0 */
                if (pi > 0) cum[a] += 0.5 * (med + prev_t[a]) * (double)(p - o.positions[pi - 1]);
                prev_t[a] = med;
                fprintf(out, "%s,%zu,%d,%d,%zu,%zu,%d,%d,%ld,%.3f,%.3f,%.3f,%.4f,%.3f\n", name,
                        gf_config_num_params(&cfg[a]), cfg[a].mlp_width,
                        gf_config_num_attention_layers(&cfg[a]) ? cfg[a].window : 0, gf_model_weight_bytes(m[a]),
                        gf_state_bytes_per_seq(&cfg[a]), B, p, o.steps, med * 1e3, mn * 1e3, mx * 1e3, med * 1e3 / B,
                        cum[a]);
                fflush(out);
                fprintf(stderr, "%s: %s B=%d p=%d: %.2f ms/step\n", PROG, name, B, p, med * 1e3);
            }
        }
        for (int a = 0; a < BENCH_NARCH; a++) {
            gf_state_free(st[a]);
            free(logits[a]);
            free(tok[a]);
        }
    }
    for (int a = 0; a < BENCH_NARCH; a++) {
        if (!m[a]) continue;
        gf_model_free(m[a]);
        bench_rm_model_dir(dir[a]);
    }
    if (o.out && fclose(out) != 0 && rc == 0) rc = bench_error(PROG, "%s: write failed", o.out);
    free(o.batches);
    free(o.positions);
    return rc;
}
