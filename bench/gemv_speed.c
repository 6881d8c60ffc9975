/* The products by themselves: gf_linear on one matrix of about --mb MiB per
 * weight type (far past the caches), at batches 1, 4, 16 and 64, against
 * this machine's limits measured first (read bandwidth, FMA and int8 dot
 * peaks). What a decode step costs beyond its products is left out, so this
 * says how close the kernels come to the roofline and the decode step's
 * figures (griffin bench) how much the rest adds. Each timed product comes
 * right after a pass of a read-bandwidth probe, and "% paired" is the median
 * of the products' streaming rates as shares of their own probes: the
 * host's bandwidth drifts between the limits measured before and after.
 *
 * usage: gemv_speed [--mb 256] [--cols 4096] [--reps 10] [--types f32,bf16,q8,q4] [--float-inputs] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bench_limits.h"
#include "griffin.h"
#include "kernels/kernels.h"
#include "kernels/actq.h"
#include "kernels/quant.h"
#include "util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * 0x1p-53) - 0.5f;
}

static void *must(void *p, const char *what) {
    if (!p) {
        fprintf(stderr, "gemv_speed: out of memory for %s\n", what);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv) {
    size_t mb = 256, K = 4096;
    int reps = 10, float_inputs = 0;
    const char *types = "f32,bf16,q8,q4";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--cols") && i + 1 < argc) K = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--types") && i + 1 < argc) types = argv[++i];
        else if (!strcmp(argv[i], "--float-inputs")) float_inputs = 1;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: gemv_speed [--mb 256] [--cols 4096] [--reps 10] [--types f32,bf16,q8,q4] [--float-inputs]\n"
                   "  gf_linear alone on one matrix of about MB MiB per weight type, batches 1, 4, 16 and 64\n"
                   "  (best of REPS), as shares of the machine's limits measured before and after.\n");
            return 0;
        } else {
            fprintf(stderr, "usage: gemv_speed [--mb 256] [--cols 4096] [--reps 10] [--types f32,bf16,q8,q4] [--float-inputs]\n");
            return 2;
        }
    }
    if (mb < 1 || K < 32 || reps < 1) {
        fprintf(stderr, "gemv_speed: --mb, --cols (>= 32) and --reps must be positive\n");
        return 2;
    }
    gf_error err;
    gf_limits lim;
    if (gf_measure_limits(512u << 20, 0, &lim, &err)) {
        fprintf(stderr, "gemv_speed: %s\n", err.msg);
        return 1;
    }
    double bw = lim.read_gb_s > lim.sgemv_gb_s ? lim.read_gb_s : lim.sgemv_gb_s;
    printf("limits before: read %.1f GB/s, FMA %.1f GFLOP/s, int8 dot %.1f GOP/s (%d threads, %s)\n", bw,
           lim.fma_gflop_s, lim.int8_gop_s, lim.threads, lim.isa);
    gf_bw_probe *bw_probe = gf_bw_probe_new(512u << 20, 0, &err);
    if (!bw_probe) {
        fprintf(stderr, "gemv_speed: %s\n", err.msg);
        return 1;
    }
    double *shares = must(malloc((size_t)reps * sizeof *shares), "shares");
    const size_t Ms[] = {1, 4, 16, 64};
    size_t Mmax = 64;
    float *x = must(malloc(Mmax * K * sizeof *x), "inputs");
    for (size_t i = 0; i < Mmax * K; i++) x[i] = frand();
    gf_xq xq = {NULL, 0};
    if (!float_inputs) {
        xq.bytes = gf_xq_bytes(Mmax, K);
        xq.buf = must(aligned_alloc(64, (xq.bytes + 63) / 64 * 64), "narrow inputs");
    }
    /* the rows are printed at the end, as shares of the best limits of the
     * two measurements (before and after): a shared host's limits move */
    char *lines = must(calloc(64, 160), "results");
    int nlines = 0;
    const char *names[] = {"f32", "bf16", "q8", "q4"};
    const gf_wtype wt[] = {GF_W_F32, GF_W_BF16, GF_W_Q8, GF_W_Q4};
    for (int ti = 0; ti < 4; ti++) {
        if (!strstr(types, names[ti])) continue;
        gf_mat probe = {wt[ti], NULL, NULL, 1, K, NULL, NULL, NULL};
        size_t nb = gf_q_nblocks(K), per_row = gf_mat_bytes(&probe);
        size_t N = ((mb << 20) / per_row + 15) / 16 * 16;
        /* in huge pages, as the engine holds its weights (gf_alloc_huge) */
        void *codes = must(gf_alloc_huge(N * gf_mat_row_bytes(&probe)), "weights");
        uint16_t *scales = wt[ti] == GF_W_Q8 || wt[ti] == GF_W_Q4 ? must(malloc(N * nb * 2), "scales") : NULL;
        float *row = must(malloc(K * sizeof *row), "a row");
        for (size_t r = 0; r < N; r++) {
            for (size_t k = 0; k < K; k++) row[k] = frand();
            switch (wt[ti]) {
            case GF_W_F32: memcpy((float *)codes + r * K, row, K * sizeof *row); break;
            case GF_W_BF16:
                for (size_t k = 0; k < K; k++) ((uint16_t *)codes)[r * K + k] = gf_f32_to_bf16(row[k]);
                break;
            case GF_W_Q8: gf_q8_quantize_row(row, K, (int8_t *)codes + r * K, scales + r * nb); break;
            default: gf_q4_quantize_row(row, K, (uint8_t *)codes + r * gf_q4_row_bytes(K), scales + r * nb); break;
            }
        }
        gf_mat W = {wt[ti], codes, scales, N, K, NULL, NULL, NULL};
        uint8_t *packed = NULL;
        int int8 = 0;
        if (scales && gf_cpu_has_int8_dot()) { /* as the loader does */
            size_t cb = gf_q_packed_bytes(&W);
            packed = must(gf_alloc_huge(cb + gf_q_packed_scale_bytes(&W)), "packed weights");
            gf_q_pack(&W, packed, (uint16_t *)(packed + cb));
            int8 = !float_inputs;
        }
        float *out = must(malloc(Mmax * N * sizeof *out), "outputs");
        double bytes = (double)gf_mat_bytes(&W);
        snprintf(lines + nlines++ * 160, 160, "H\n%s: %zu x %zu, %.1f MiB%s", gf_wtype_name(wt[ti]), N, K, bytes / (1 << 20),
                 int8 ? " (int8 inputs)" : wt[ti] == GF_W_BF16 && !float_inputs && gf_cpu_has_avx512bf16() ? " (bfloat16 inputs)" : "");
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
            size_t M = Ms[mi];
            gf_linear(out, x, &W, NULL, M, &xq);
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double pb = gf_bw_probe_run(bw_probe);
                double t0 = bench_now();
                gf_linear(out, x, &W, NULL, M, &xq);
                double t = bench_now() - t0;
                if (t < best) best = t;
                shares[r] = bytes / t / 1e9 / pb;
            }
            double paired = bench_median(shares, reps);
            char *line = lines + nlines++ * 160;
            snprintf(line, 160, "%d %zu %.9g %.9g %.9g %.9g", int8, M, best, bytes, 2.0 * (double)N * (double)K * (double)M,
                     paired);
        }
        free(out);
        free(packed);
        free(row);
        free(scales);
        free(codes);
    }
    gf_limits after;
    if (gf_measure_limits(512u << 20, 0, &after, &err)) {
        fprintf(stderr, "gemv_speed: %s\n", err.msg);
        return 1;
    }
    double bw2 = after.read_gb_s > after.sgemv_gb_s ? after.read_gb_s : after.sgemv_gb_s;
    printf("limits after:  read %.1f GB/s, FMA %.1f GFLOP/s, int8 dot %.1f GOP/s\n", bw2, after.fma_gflop_s, after.int8_gop_s);
    if (bw2 > bw) bw = bw2;
    double fma = after.fma_gflop_s > lim.fma_gflop_s ? after.fma_gflop_s : lim.fma_gflop_s;
    double i8 = after.int8_gop_s > lim.int8_gop_s ? after.int8_gop_s : lim.int8_gop_s;
    printf("shares of the best: read %.1f GB/s, FMA %.1f GFLOP/s, int8 dot %.1f GOP/s\n", bw, fma, i8);
    for (int i = 0; i < nlines; i++) {
        const char *l = lines + i * 160;
        if (l[0] == 'H') {
            int int8 = strstr(l, "(int8 inputs)") != NULL;
            printf("%s\n  batch   ms/product   weights GB/s  %% bw  %% paired   GFLOP/s  %% FMA%s\n", l + 1, int8 ? "  % int8" : "");
            continue;
        }
        int int8;
        size_t M;
        double best, bytes, flops, paired;
        if (sscanf(l, "%d %zu %lf %lf %lf %lf", &int8, &M, &best, &bytes, &flops, &paired) != 6) continue;
        double gbs = bytes / best / 1e9, gf = flops / best / 1e9;
        printf("  %5zu %12.3f %14.1f %5.1f %9.1f %9.1f %6.1f", M, best * 1e3, gbs, 100 * gbs / bw, 100 * paired, gf,
               100 * gf / fma);
        if (int8 && i8 > 0) printf(" %7.1f", 100 * gf / i8);
        printf("\n");
    }
    free(lines);
    free(shares);
    gf_bw_probe_free(bw_probe);
    free(xq.buf);
    free(x);
    return 0;
}
