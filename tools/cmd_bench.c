/* griffin bench: the machine's limits, then decode, prefill and training
 * speed as shares of them.
 *
 * Limits (best of several passes): memory read bandwidth (the larger of a
 * plain multi-threaded sum and OpenBLAS sgemv over the same buffer), OpenBLAS
 * sgemm on 2048^3, and the cores' FMA ceiling (register-only FMA chains). On
 * a shared host they move from minute to minute (read bandwidth 40-76 GB/s
 * here), so they are measured again after every model and every share is of
 * the best measurement of the run; speeds are medians of several timed runs.
 * Both make the shares lean low.
 *
 * Decode: batch B steps of a model of each weight type. A step reads every
 * matrix once whatever B is (gf_model_decode_bytes); bytes / step time over
 * the read bandwidth is the roofline share that matters at small B, and
 * 2 x parameters x B / step time over sgemm the one that matters at large B.
 * Prefill: T tokens of one sequence, state only (no logits), FLOPs counted as
 * 2 x non-embedding parameters x T. Training: forward + backward + AdamW on
 * B x T tokens; model FLOPs 6 x parameters x tokens plus attention's. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "bench_limits.h"

static const char *USAGE =
    "usage: griffin bench [--threads N] [--csv FILE] [--limits-only] [--buffer-mb N]\n"
    "                     [--model DIR] [--types f32,bf16,q8,q4] [--batches 1,4,16,64]\n"
    "                     [--prefill T] [--work DIR] [--train-config FILE] [--train-batch B]\n"
    "                     [--train-seq T] [--no-train] [--float-inputs] [--mmap]\n"
    "  Measures this machine's memory read bandwidth, sgemm and FMA peaks, then\n"
    "  decode tokens/s per weight type and batch (with the share of the bandwidth\n"
    "  roofline), prefill of T tokens (default 512; share of the sgemm peak) and\n"
    "  training tokens/s with model-FLOPs utilisation. The limits are measured again\n"
    "  after every model; the shares are of the best of them. Without --model it writes a\n"
    "  412M-parameter Griffin (width 1024, 12 layers, vocabulary 256000; random\n"
    "  weights) into --work (default a temporary folder, removed after) and\n"
    "  quantises it to each type; with --model DIR it times that model only, in\n"
    "  its own type. Training uses a 21M-parameter Griffin (or --train-config).\n"
    "  --csv writes every row of the tables. --float-inputs: the products keep their\n"
    "  inputs in float (default: Q8 / Q4 round them to int8 on AVX512-VNNI or AVX2 CPUs, BF16\n"
    "  to bfloat16 on AVX512-BF16 ones). --mmap: the weights stay mapped from the files\n"
    "  (default: F32 / BF16 / F16 ones are copied into memory in huge pages, as generate does).\n";

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

/* One measured figure; printed (and written to the CSV) at the end, as a
 * share of the best limits measured during the whole run. */
typedef struct {
    char section[8], weights[16];
    char head[320]; /* a line to print before this row (a model's description), or "" */
    int batch;
    long tokens;
    double seconds, weight_bytes, flops;
    int lim_next; /* the limits measured right after this model's rows */
    double paired; /* decode: median over the steps of (weight bytes / step time) over the
                    * read bandwidth probed right before that step; 0 when not probed */
    int int8;     /* its products are int8 dot products (Q8 / Q4 with int8 inputs) */
    int bf16;     /* its products are bfloat16 dot products (BF16 with bfloat16 inputs) */
    int amx;      /* and they run on the AMX tile kernels (gf_model_amx_from) */
} row;

#define MAX_ROWS 64
#define MAX_LIMITS 8

typedef struct {
    gf_limits lim[MAX_LIMITS]; /* measured before, between and after the models */
    int nlim;
    double read_bw, sgemm, fma, int8, bf16, amx_int8, amx_bf16; /* the best of them: the read bandwidth is the larger of the two probes */
    row rows[MAX_ROWS];
    int nrows;
    /* F32 products at the prefill's and the training's shapes (gf_measure_f32_products) */
    gf_product_rates prod[2];
    size_t prod_m[2], prod_n, prod_k;
} bench;

static int measure(bench *b, size_t bytes, int threads, gf_error *err) {
    if (b->nlim == MAX_LIMITS) return 0;
    gf_limits *l = &b->lim[b->nlim];
    fprintf(stderr, "bench: measuring the machine's limits ...\n");
    if (gf_measure_limits(bytes, threads, l, err)) return -1;
    b->nlim++;
    double r = l->read_gb_s > l->sgemv_gb_s ? l->read_gb_s : l->sgemv_gb_s;
    if (r > b->read_bw) b->read_bw = r;
    if (l->sgemm_gflop_s > b->sgemm) b->sgemm = l->sgemm_gflop_s;
    if (l->fma_gflop_s > b->fma) b->fma = l->fma_gflop_s;
    if (l->int8_gop_s > b->int8) b->int8 = l->int8_gop_s;
    if (l->bf16_gflop_s > b->bf16) b->bf16 = l->bf16_gflop_s;
    if (l->amx_int8_gop_s > b->amx_int8) b->amx_int8 = l->amx_int8_gop_s;
    if (l->amx_bf16_gflop_s > b->amx_bf16) b->amx_bf16 = l->amx_bf16_gflop_s;
    return 0;
}

static row *add_row(bench *b, const char *section, const char *weights, int batch, long tokens,
                    double seconds, double weight_bytes, double flops) {
    if (b->nrows == MAX_ROWS) return NULL;
    row *r = &b->rows[b->nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->section, sizeof r->section, "%s", section);
    snprintf(r->weights, sizeof r->weights, "%s", weights);
    r->batch = batch;
    r->tokens = tokens;
    r->seconds = seconds;
    r->weight_bytes = weight_bytes;
    r->flops = flops;
    r->lim_next = b->nlim;
    return r;
}

/* The read bandwidth measured right after row r's model (the nearest in
 * time), or the best when there is none. */
static double read_bw_then(const bench *b, const row *r) {
    if (r->lim_next >= b->nlim) return b->read_bw;
    const gf_limits *l = &b->lim[r->lim_next];
    return l->read_gb_s > l->sgemv_gb_s ? l->read_gb_s : l->sgemv_gb_s;
}

static void range(const bench *b, int which, double *lo, double *hi) {
    *lo = 1e30;
    *hi = 0;
    for (int i = 0; i < b->nlim; i++) {
        const gf_limits *l = &b->lim[i];
        double v = which == 0 ? l->read_gb_s : which == 1 ? l->sgemv_gb_s : which == 2 ? l->sgemm_gflop_s
                 : which == 3 ? l->fma_gflop_s : which == 4 ? l->int8_gop_s : which == 5 ? l->bf16_gflop_s
                 : which == 6 ? l->amx_int8_gop_s : l->amx_bf16_gflop_s;
        if (v < *lo) *lo = v;
        if (v > *hi) *hi = v;
    }
}

static void print_limits(const bench *b, long mb) {
    double lo[8], hi[8];
    for (int k = 0; k < 8; k++) range(b, k, &lo[k], &hi[k]);
    printf("kernels:          %s%s\n", b->lim[0].isa, b->amx_int8 > 0 ? " (AMX tiles for batches and prefill)" : "");
    printf("threads:          %d; limits measured %d times during the run, best first\n", b->lim[0].threads, b->nlim);
    printf("memory read:      %.1f GB/s (%.1f-%.1f; a %ld MiB buffer summed by all threads)\n", hi[0], lo[0], hi[0], mb);
    printf("sgemv F32 read:   %.1f GB/s (%.1f-%.1f; the same buffer as a matrix)\n", hi[1], lo[1], hi[1]);
    printf("sgemm F32:        %.1f GFLOP/s (%.1f-%.1f; OpenBLAS, 2048^3)\n", hi[2], lo[2], hi[2]);
    printf("FMA peak F32:     %.1f GFLOP/s (%.1f-%.1f; register-only fused multiply-adds)\n", hi[3], lo[3], hi[3]);
    if (b->int8 > 0)
        printf("int8 dot peak:    %.1f GOP/s (%.1f-%.1f; register-only AVX512-VNNI vpdpbusd, 2 ops a multiply-add)\n", hi[4], lo[4], hi[4]);
    if (b->bf16 > 0)
        printf("bf16 dot peak:    %.1f GFLOP/s (%.1f-%.1f; register-only AVX512-BF16 vdpbf16ps)\n", hi[5], lo[5], hi[5]);
    if (b->amx_int8 > 0)
        printf("AMX int8 peak:    %.1f GOP/s (%.1f-%.1f; register-only tile products, 16 x 16 x 64 int8)\n", hi[6], lo[6], hi[6]);
    if (b->amx_bf16 > 0)
        printf("AMX bf16 peak:    %.1f GFLOP/s (%.1f-%.1f; register-only tile products, 16 x 16 x 32 bfloat16 pairs)\n", hi[7],
               lo[7], hi[7]);
    for (int i = 0; i < 2 && b->prod_n; i++) {
        const gf_product_rates *p = &b->prod[i];
        double took = p->rule_sgemm ? p->sgemm_gflop_s : p->own_gflop_s;
        double other = p->rule_sgemm ? p->own_gflop_s : p->sgemm_gflop_s;
        printf("F32 products, %zu x %zu -> %zu (%s): OpenBLAS %.1f GFLOP/s, griffin's kernels %.1f; the rule takes %s, "
               "%s: %.1f %% of the sgemm peak\n",
               b->prod_m[i], b->prod_k, b->prod_n, i == 0 ? "prefill" : "training forward", p->sgemm_gflop_s,
               p->own_gflop_s, p->rule_sgemm ? "OpenBLAS" : "griffin's",
               took >= other ? "the faster" : took >= 0.97 * other ? "within 3 % of the faster" : "NOT the faster",
               100 * took / b->sgemm);
        if (i == 1)
            printf("F32 products, training backward (dx and dW through OpenBLAS): %.1f GFLOP/s, %.1f %% of the sgemm peak\n",
                   p->backward_gflop_s, 100 * p->backward_gflop_s / b->sgemm);
    }
    printf("shares below are of the best: read bandwidth %.1f GB/s, sgemm %.1f, FMA %.1f GFLOP/s", b->read_bw, b->sgemm, b->fma);
    if (b->int8 > 0) printf(", int8 dot %.1f GOP/s", b->int8);
    if (b->bf16 > 0) printf(", bf16 dot %.1f GFLOP/s", b->bf16);
    if (b->amx_int8 > 0) printf(", AMX int8 %.1f GOP/s, AMX bf16 %.1f GFLOP/s", b->amx_int8, b->amx_bf16);
    printf("\n");
    if (b->nrows)
        printf("(\"%% paired\": the median over the timed steps of each step's weight streaming rate as a share of\n"
               " the read bandwidth probed right before it; \"%% bw then\", in the CSV: of the limits measured\n"
               " right after the model)\n");
}

/* The multiply-add ceiling of row r's products: the AMX tiles', the int8
 * or bfloat16 dot peak where they take that path, else the F32 FMA peak;
 * *unit names it. */
static double compute_peak(const bench *b, const row *r, const char **unit) {
    if (r->amx && r->int8 && b->amx_int8 > 0) return *unit = "GOP/s AMX int8", b->amx_int8;
    if (r->amx && r->bf16 && b->amx_bf16 > 0) return *unit = "GFLOP/s AMX bf16", b->amx_bf16;
    if (r->int8 && b->int8 > 0) return *unit = "GOP/s int8", b->int8;
    if (r->bf16 && b->bf16 > 0) return *unit = "GFLOP/s bf16", b->bf16;
    return *unit = "GFLOP/s FMA", b->fma;
}

/* After a model's decode rows (the last is rows[last]): each batch's
 * tokens/s over batch 1's, and the same ratio of the rooflines, where a step
 * of batch B takes at least the longer of reading the weights once at the
 * best bandwidth and doing its B sequences' multiply-adds at the peak. Where
 * the batch's arithmetic outlasts the read, the roofline caps the ratio
 * below B. */
static void print_scaling(const bench *b, int last) {
    int first = last;
    while (first > 0 && !b->rows[first].head[0]) first--;
    const row *one = NULL;
    for (int i = first; i <= last; i++)
        if (b->rows[i].batch == 1) one = &b->rows[i];
    if (!one || last == first) return;
    const char *unit;
    double peak = compute_peak(b, one, &unit) * 1e9, bw = b->read_bw * 1e9;
    double t1 = fmax(one->weight_bytes / bw, one->flops / peak);
    printf("  batch B over batch 1 (tokens/s): measured");
    for (int i = first; i <= last; i++)
        if (b->rows[i].batch > 1) printf("  x%.1f at %d", b->rows[i].batch * one->seconds / b->rows[i].seconds, b->rows[i].batch);
    printf("\n    roofline's ratio (weights once at %.1f GB/s, multiply-adds at %.1f %s", b->read_bw, peak / 1e9, unit);
    for (int i = first; i <= last; i++) /* the batches that run on another kernel's ceiling */
        if (b->rows[i].amx && !one->amx) {
            const char *u;
            double p = compute_peak(b, &b->rows[i], &u);
            printf(", from batch %d at %.1f %s", b->rows[i].batch, p, u);
            break;
        }
    printf("):");
    for (int i = first; i <= last; i++) {
        const row *r = &b->rows[i];
        const char *u;
        double p = compute_peak(b, r, &u) * 1e9;
        if (r->batch > 1) printf("  x%.1f", r->batch * t1 / fmax(r->weight_bytes / bw, r->flops / p));
    }
    printf("\n");
}

static void print_rows(const bench *b) {
    for (int i = 0; i < b->nrows; i++) {
        const row *r = &b->rows[i];
        double gbs = r->weight_bytes / r->seconds / 1e9, gf = r->flops / r->seconds / 1e9;
        if (r->head[0]) printf("\n%s\n", r->head);
        if (!strcmp(r->section, "decode")) {
            if (r->head[0])
                printf("  decode  batch   tokens/s   ms/step  weights GB/s  %% best bw   %% paired   GFLOP/s  %% sgemm  %% FMA%s\n",
                       r->int8 && b->int8 > 0 ? "  % int8" : r->bf16 && b->bf16 > 0 ? "  % bf16" : "");
            printf("          %5d %10.1f %9.2f %13.1f %10.1f %10.1f %9.1f %8.1f %6.1f", r->batch, r->batch / r->seconds,
                   r->seconds * 1e3, gbs, 100 * gbs / b->read_bw, 100 * r->paired, gf,
                   100 * gf / b->sgemm, 100 * gf / b->fma);
            if (r->int8 && b->int8 > 0) printf(" %8.1f", 100 * gf / b->int8);
            else if (r->bf16 && b->bf16 > 0) printf(" %8.1f", 100 * gf / b->bf16);
            printf("\n");
            if (i + 1 == b->nrows || strcmp(b->rows[i + 1].section, "decode") || b->rows[i + 1].head[0])
                print_scaling(b, i);
        } else if (!strcmp(r->section, "prefill")) {
            printf("  prefill %ld tokens (state only, no logits): %.3f s, %.0f tokens/s, %.1f GFLOP/s = %.1f %% of sgemm"
                   " (%.1f %% of the FMA peak",
                   r->tokens, r->seconds, r->tokens / r->seconds, gf, 100 * gf / b->sgemm, 100 * gf / b->fma);
            if (r->int8 && b->int8 > 0) printf(", %.1f %% of the int8 dot peak", 100 * gf / b->int8);
            else if (r->bf16 && b->bf16 > 0) printf(", %.1f %% of the bf16 dot peak", 100 * gf / b->bf16);
            printf(")\n");
        } else {
            printf("  %.3f s/step  %.0f tokens/s  %.1f GFLOP/s  MFU %.1f %% of sgemm (%.1f %% of the FMA peak)\n",
                   r->seconds, r->tokens / r->seconds, gf, 100 * gf / b->sgemm, 100 * gf / b->fma);
        }
    }
}

static int write_csv(const bench *b, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return cli_error("%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "section,weights,batch,tokens,seconds,tokens_per_s,weight_gb_s,pct_read_bw,gflop_s,pct_sgemm,pct_fma,pct_read_bw_then,pct_int8,pct_read_bw_paired,pct_bf16\n");
    for (int i = 0; i < b->nlim; i++) {
        const gf_limits *l = &b->lim[i];
        fprintf(f, "limit,read,%d,0,0,0,%.2f,%.1f,0,0,0,0,0,0,0\n", i, l->read_gb_s, 100 * l->read_gb_s / b->read_bw);
        fprintf(f, "limit,sgemv,%d,0,0,0,%.2f,%.1f,0,0,0,0,0,0,0\n", i, l->sgemv_gb_s, 100 * l->sgemv_gb_s / b->read_bw);
        fprintf(f, "limit,sgemm,%d,0,0,0,0,0,%.2f,%.1f,%.1f,0,0,0,0\n", i, l->sgemm_gflop_s, 100 * l->sgemm_gflop_s / b->sgemm, 100 * l->sgemm_gflop_s / b->fma);
        fprintf(f, "limit,fma,%d,0,0,0,0,0,%.2f,%.1f,%.1f,0,0,0,0\n", i, l->fma_gflop_s, 100 * l->fma_gflop_s / b->sgemm, 100 * l->fma_gflop_s / b->fma);
        if (b->int8 > 0)
            fprintf(f, "limit,int8,%d,0,0,0,0,0,%.2f,0,0,0,%.1f,0,0\n", i, l->int8_gop_s, 100 * l->int8_gop_s / b->int8);
        if (b->bf16 > 0)
            fprintf(f, "limit,bf16,%d,0,0,0,0,0,%.2f,%.1f,%.1f,0,0,0,%.1f\n", i, l->bf16_gflop_s, 100 * l->bf16_gflop_s / b->sgemm,
                    100 * l->bf16_gflop_s / b->fma, 100 * l->bf16_gflop_s / b->bf16);
        if (b->amx_int8 > 0) /* their rates in the gflop_s column */
            fprintf(f, "limit,amx_int8,%d,0,0,0,0,0,%.2f,0,0,0,0,0,0\nlimit,amx_bf16,%d,0,0,0,0,0,%.2f,0,0,0,0,0,0\n", i,
                    l->amx_int8_gop_s, i, l->amx_bf16_gflop_s);
    }
    for (int i = 0; i < 2 && b->prod_n; i++) { /* their rates in the gflop_s column, pct_sgemm of the best sgemm */
        const gf_product_rates *p = &b->prod[i];
        const char *what = i == 0 ? "prefill" : "train";
        fprintf(f, "products,%s_openblas,%d,%zu,0,0,0,0,%.2f,%.1f,0,0,0,0,0\n", what, p->rule_sgemm, b->prod_m[i],
                p->sgemm_gflop_s, 100 * p->sgemm_gflop_s / b->sgemm);
        fprintf(f, "products,%s_griffin,%d,%zu,0,0,0,0,%.2f,%.1f,0,0,0,0,0\n", what, !p->rule_sgemm, b->prod_m[i],
                p->own_gflop_s, 100 * p->own_gflop_s / b->sgemm);
        if (i == 1)
            fprintf(f, "products,train_backward,1,%zu,0,0,0,0,%.2f,%.1f,0,0,0,0,0\n", b->prod_m[i], p->backward_gflop_s,
                    100 * p->backward_gflop_s / b->sgemm);
    }
    for (int i = 0; i < b->nrows; i++) {
        const row *r = &b->rows[i];
        double tps = (double)r->tokens / r->seconds, gbs = r->weight_bytes / r->seconds / 1e9, gf = r->flops / r->seconds / 1e9;
        fprintf(f, "%s,%s,%d,%ld,%.9g,%.2f,%.2f,%.1f,%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", r->section, r->weights, r->batch, r->tokens,
                r->seconds, tps, gbs, r->weight_bytes > 0 ? 100 * gbs / b->read_bw : 0.0, gf, 100 * gf / b->sgemm,
                100 * gf / b->fma, r->weight_bytes > 0 ? 100 * gbs / read_bw_then(b, r) : 0.0,
                r->int8 && b->int8 > 0 ? 100 * gf / b->int8 : 0.0, 100 * r->paired,
                r->bf16 && b->bf16 > 0 ? 100 * gf / b->bf16 : 0.0);
    }
    if (fclose(f) != 0) return cli_error("%s: write failed", path);
    return 0;
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

/* Median seconds per decode step at batch B (after a short prefill). With a
 * probe, the read bandwidth is probed right before every timed step, and
 * *paired is the median of the steps' weight streaming rates (step_bytes /
 * time) as shares of their own probe's: on a host whose bandwidth drifts by
 * half within a minute this sets each step against the limit of its moment,
 * where a share of the best probe of the run mixes in the drift. */
static int time_decode(const gf_model *m, int B, gf_bw_probe *probe, double step_bytes, double *sec,
                       double *paired, gf_error *err) {
    const gf_config *c = gf_model_config(m);
    gf_state *s = gf_state_new(m, B, err);
    if (!s) return -1;
    int P = 8, rc = -1;
    int32_t *ids = malloc(sizeof *ids * (size_t)B * (size_t)P);
    float *logits = malloc(sizeof *logits * (size_t)B * (size_t)c->vocab_size);
    double times[64], shares[64];
    int n = 0;
    *paired = 0;
    if (!ids || !logits) {
        cli_error("out of memory for a decode batch of %d", B);
        goto out;
    }
    for (int i = 0; i < B * P; i++) ids[i] = rand_id(c->vocab_size);
    if (gf_prefill(m, B, P, ids, NULL, NULL, NULL, s, err)) goto out;
    double start = cli_now();
    for (int it = 0; it < 64; it++) {
        for (int b = 0; b < B; b++) ids[b] = rand_id(c->vocab_size);
        double bw = probe ? gf_bw_probe_run(probe) : 0;
        double t0 = cli_now();
        if (gf_decode_step(m, s, ids, NULL, logits, err)) goto out;
        double t = cli_now() - t0;
        if (it == 0) continue; /* warm-up: first touch of the pages and caches */
        shares[n] = probe ? step_bytes / t / 1e9 / bw : 0;
        times[n++] = t;
        if (n >= 3 && cli_now() - start > (probe ? 2.5 : 1.5)) break;
    }
    *sec = median(times, n);
    if (probe) *paired = median(shares, n);
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
    row *r = add_row(b, "train", "F32", B, (long)n, sec, 0, flops);
    if (r)
        snprintf(r->head, sizeof r->head,
                 "training: %.1fM-parameter Griffin (width %d, %d layers, vocabulary %d), batch %d x %d tokens,\n"
                 "          forward + backward + AdamW, median of %d steps",
                 (double)params / 1e6, c.width, c.num_layers, c.vocab_size, B, T, steps);
    rc = 0;
out:
    free(in);
    free(tg);
    gf_adamw_free(o);
    gf_trainable_free(t);
    return rc;
}

static void quant_progress(void *ctx, size_t done, size_t total) { (void)ctx, (void)done, (void)total; }

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The bench's own temporary folder and the models in it (children first). */
static int remove_tree(const char *dir) { return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A bench stopped before its end (Ctrl-C, a timeout's kill) would leave its
 * temporary folder of models (2.5 GB by default) behind. A child forked
 * right after the folder is made waits on a pipe whose write end only the
 * bench holds: however the bench ends, the pipe closes, the read returns and
 * the child runs `rm -rf` on the folder (on a normal end the bench has
 * already removed it). The child leaves the bench's process group, so the
 * terminal's signals and a kill of the group do not reach it, and it
 * ignores the others a session sends; the signals are blocked from before
 * the fork until then. After a fork of a process with threads the child may
 * only make async-signal-safe calls, hence the exec rather than a walk of
 * the folder here. Returns the write end, or -1 when there is no child (the
 * bench then runs without one). */
static int start_cleaner(const char *dir, pid_t *child) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &ign, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(fds[1]);
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR) continue;
        execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    close(fds[0]);
    (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    *child = pid;
    return fds[1];
}

/* The F32 products of a prefill of the bench model's MLP (prefill_T rows,
 * 1024 -> 6144) and of training's forward and backward (batch x sequence
 * rows), at least 64 rows each (where sgemm may take them): which way
 * gf_linear takes, and whether it is the faster. */
static int measure_products(bench *b, long prefill_T, long train_B, long train_T, gf_error *err) {
    size_t m[2] = {prefill_T > 64 ? (size_t)prefill_T : 64, train_B * train_T > 64 ? (size_t)(train_B * train_T) : 64};
    fprintf(stderr, "bench: timing the F32 products of prefill and training ...\n");
    for (int i = 0; i < 2; i++) {
        if (gf_measure_f32_products(m[i], 6144, 1024, &b->prod[i], err)) return -1;
        b->prod_m[i] = m[i];
    }
    b->prod_n = 6144, b->prod_k = 1024;
    return 0;
}

int cmd_bench(int argc, char **argv) {
    long mb = 512, threads = 0, prefill_T = 512, train_B = 8, train_T = 256;
    long batches[8] = {1, 4, 16, 64};
    int nbatches = 4, limits_only = 0, no_train = 0, float_inputs = 0, keep_mapped = 0;
    const char *csv = NULL, *model = NULL, *types = "f32,bf16,q8,q4", *work = NULL, *train_cfg = NULL;
    int types_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        if (!strcmp(a, "--limits-only")) { limits_only = 1; continue; }
        if (!strcmp(a, "--no-train")) { no_train = 1; continue; }
        if (!strcmp(a, "--float-inputs")) { float_inputs = 1; continue; }
        if (!strcmp(a, "--mmap")) { keep_mapped = 1; continue; }
        if (!(v = cli_value(argc, argv, &i, "bench",
                            (const char *const[]){"--buffer-mb", "--threads", "-t", "--csv", "--model", "-m", "--types",
                                                  "--batches", "--prefill", "--work", "--train-config", "--train-batch",
                                                  "--train-seq", NULL})))
            return 1;
        if (!strcmp(a, "--buffer-mb")) { if (cli_int(a, v, 1, 1 << 20, &mb)) return 1; }
        else if (!strcmp(a, "--csv")) csv = v;
        else if (!strcmp(a, "--model") || !strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "--types")) types = v, types_given = 1;
        else if (!strcmp(a, "--work")) work = v;
        else if (!strcmp(a, "--train-config")) train_cfg = v;
        else if (!strcmp(a, "--batches")) { if ((nbatches = parse_list(a, v, batches, 8, 1, 4096)) < 0) return 1; }
        else if (!strcmp(a, "--prefill")) { if (cli_int(a, v, 0, 1 << 20, &prefill_T)) return 1; }
        else if (!strcmp(a, "--train-batch")) { if (cli_int(a, v, 1, 4096, &train_B)) return 1; }
        else if (!strcmp(a, "--train-seq")) { if (cli_int(a, v, 2, 1 << 16, &train_T)) return 1; }
        else if (cli_int(a, v, 0, 1024, &threads)) return 1;
    }
    if (model && (types_given || work))
        return cli_error("bench: --types and --work are for the default model; --model DIR times DIR in its own type");
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
    static bench b; /* rows and limits: a few KiB, kept off the stack */
    memset(&b, 0, sizeof b);
    gf_error err;
    if (csv) { /* fail before measuring anything when the CSV cannot be written */
        FILE *f = fopen(csv, "w");
        if (!f) return cli_error("%s: cannot write: %s", csv, strerror(errno));
        fclose(f);
    }
    size_t buf_bytes = (size_t)mb << 20;
    if (measure(&b, buf_bytes, (int)threads, &err)) return cli_error("%s", err.msg);
    int rc = 1;
    char workdir[4096] = "";
    int made_work = 0, cleaner_fd = -1;
    pid_t cleaner = -1;
    gf_bw_probe *bw_probe = NULL;
    if (limits_only) {
        rc = measure_products(&b, prefill_T, train_B, train_T, &err) ? cli_error("%s", err.msg) : 0;
        goto done;
    }
    fprintf(stderr, "bench: the limits move from minute to minute on a shared machine: they are measured again\n"
                    "       after every model and the tables are shares of the best measurement\n");
    /* the models: --model, or the default written and quantised into workdir */
    const char *dirs[4];
    char f32dir[4200], paths[4][4200];
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
            cleaner_fd = start_cleaner(workdir, &cleaner);
        }
        if (gf_mkdir_p(workdir, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
        /* the F32 model is written (or found) first whichever types are asked
         * for: the others are quantised from it */
        snprintf(f32dir, sizeof f32dir, "%s/f32", workdir);
        char probe[4300];
        snprintf(probe, sizeof probe, "%s/model.safetensors", f32dir);
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
            fprintf(stderr, "bench: writing the %.0fM-parameter F32 model into %s ...\n", (double)gf_config_num_params(&c) / 1e6, f32dir);
            if (gf_model_init_write(&c, 1, f32dir, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
        for (int k = 0; k < ntypes; k++) {
            if (!strcmp(tnames[k], "f32")) {
                dirs[k] = f32dir;
                continue;
            }
            snprintf(paths[k], sizeof paths[k], "%s/%s", workdir, tnames[k]);
            dirs[k] = paths[k];
            snprintf(probe, sizeof probe, "%.4100s/model.safetensors", paths[k]);
            if (access(probe, R_OK) == 0) continue;
            fprintf(stderr, "bench: quantising to %s ...\n", tnames[k]);
            gf_quant_type qt = !strcmp(tnames[k], "bf16") ? GF_QUANT_BF16 : !strcmp(tnames[k], "q8") ? GF_QUANT_Q8 : GF_QUANT_Q4;
            if (gf_model_quantize(f32dir, paths[k], qt, quant_progress, NULL, &err)) {
                cli_error("%s", err.msg);
                goto done;
            }
        }
    }
    bw_probe = gf_bw_probe_new(buf_bytes, (int)threads, &err);
    if (!bw_probe) {
        cli_error("%s", err.msg);
        goto done;
    }
    for (int k = 0; k < ntypes; k++) {
        gf_model *m = gf_model_load(dirs[k], &err);
        if (!m) {
            cli_error("%s", err.msg);
            goto done;
        }
        if (float_inputs) gf_model_set_narrow_inputs(m, 0);
        cli_copy_weights(m, keep_mapped);
        const gf_config *c = gf_model_config(m);
        size_t params = gf_config_num_params(c), emb = (size_t)c->vocab_size * (size_t)c->width;
        double step_bytes = (double)gf_model_decode_bytes(m);
        const char *wt = gf_model_weight_dtype(m);
        int int8 = gf_model_narrow_inputs(m) && (!strcmp(wt, "Q8") || !strcmp(wt, "Q4"));
        int bf16 = gf_model_narrow_inputs(m) && !strcmp(wt, "BF16");
        size_t amx_from = gf_model_amx_from(m);
        for (int bi = 0; bi < nbatches; bi++) {
            int B = (int)batches[bi];
            double sec, paired;
            if (time_decode(m, B, bw_probe, step_bytes, &sec, &paired, &err)) {
                gf_model_free(m);
                cli_error("%s", err.msg);
                goto done;
            }
            fprintf(stderr, "bench: %s decode, batch %d: %.2f ms/step\n", wt, B, sec * 1e3);
            row *r = add_row(&b, "decode", wt, B, B, sec, step_bytes, 2.0 * (double)params * B);
            if (r) r->int8 = int8, r->bf16 = bf16, r->paired = paired, r->amx = amx_from && (size_t)B >= amx_from;
            if (r && bi == 0)
                snprintf(r->head, sizeof r->head, "%s weights%s: %.1fM parameters (%.1fM outside the embedding), %.1f MiB read per decode step",
                         wt, !gf_model_narrow_inputs(m) ? "" : strcmp(wt, "BF16") ? " (int8 inputs)" : " (bfloat16 inputs)", (double)params / 1e6, (double)(params - emb) / 1e6, step_bytes / (1 << 20));
        }
        if (prefill_T > 0) {
            double sec;
            if (time_prefill(m, (int)prefill_T, &sec, &err)) {
                gf_model_free(m);
                cli_error("%s", err.msg);
                goto done;
            }
            fprintf(stderr, "bench: %s prefill of %ld tokens: %.3f s\n", wt, prefill_T, sec);
            row *r = add_row(&b, "prefill", wt, 1, prefill_T, sec, 0, 2.0 * (double)(params - emb) * (double)prefill_T);
            if (r) r->int8 = int8, r->bf16 = bf16, r->amx = amx_from && (size_t)prefill_T >= amx_from;
        }
        gf_model_free(m);
        if (measure(&b, buf_bytes, (int)threads, &err)) {
            cli_error("%s", err.msg);
            goto done;
        }
    }
    if (!no_train && bench_train(&b, train_cfg, (int)train_B, (int)train_T, &err)) goto done;
    if (measure_products(&b, prefill_T, train_B, train_T, &err)) {
        cli_error("%s", err.msg);
        goto done;
    }
    rc = 0;
done:
    gf_bw_probe_free(bw_probe);
    if (made_work) remove_tree(workdir);
    if (cleaner_fd >= 0) {
        close(cleaner_fd);
        while (waitpid(cleaner, NULL, 0) < 0 && errno == EINTR) continue;
    }
    if (rc == 0) {
        print_limits(&b, mb);
        print_rows(&b);
        if (csv) rc = write_csv(&b, csv);
    }
    return rc;
}
