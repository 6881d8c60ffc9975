/* The machine's own limits, which every speed figure is a share of: how fast
 * memory streams into the cores (the bound on batch-1 decode, which reads
 * every weight once per token) and how fast OpenBLAS multiplies F32
 * matrices (the bound on prefill and training). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/actq.h"
#include "kernels/gemv.h"
#include "util.h"
#include "bench_limits.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sum of a slice read as 4 streams (its quarters, side by side), with
 * independent accumulators, so the loads, not the adds' latency, set the
 * pace. One stream a core read 20-35 % below what sgemv or a decode step
 * drew from this host in its slow phases; four read at least as much as
 * either. */
static float slice_sum(const float *x, size_t n) {
    size_t q = n / 4 / 16 * 16;
    float acc[4][16] = {{0}};
    for (size_t i = 0; i < q; i += 16)
        for (int s = 0; s < 4; s++)
            for (int k = 0; k < 16; k++) acc[s][k] += x[(size_t)s * q + i + k];
    float t = 0;
    for (size_t i = 4 * q; i < n; i++) t += x[i];
    for (int s = 0; s < 4; s++)
        for (int k = 0; k < 16; k++) t += acc[s][k];
    return t;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* 16 independent chains of FMAs on registers (more than latency x ports on
 * any x86 core): how fast one core multiplies and adds when nothing else
 * limits it. Returns the flops done. */
__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters, float seed) {
    __m512 a[16], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps(seed + (float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * 16 * 16 * 2;
}
__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters, float seed) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(seed + (float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    volatile float sink = v[0];
    (void)sink;
    return (double)iters * 12 * 8 * 2;
}
/* One instruction OP on each of the 12 sums a0..a11, with the operands w
 * and x: the body of the dot-product loops below. */
#define CHAINS12(op)                                                                               \
    __asm__(CHAINS12_TEXT(op)                                                                      \
            : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),      \
              "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11)                                             \
            : "v"(w), "v"(x))
#define CHAINS12_TEXT(op)                                                                          \
    op " %13, %12, %0\n\t" op " %13, %12, %1\n\t" op " %13, %12, %2\n\t" op " %13, %12, %3\n\t"   \
    op " %13, %12, %4\n\t" op " %13, %12, %5\n\t" op " %13, %12, %6\n\t" op " %13, %12, %7\n\t"   \
    op " %13, %12, %8\n\t" op " %13, %12, %9\n\t" op " %13, %12, %10\n\t" op " %13, %12, %11"

/* The same for the Q8 / Q4 products' instruction: 12 chains of vpdpbusd
 * (64 byte multiply-adds each), written out in one asm statement: through the
 * intrinsic GCC keeps such an array of sums on the stack or copies them
 * between registers, and that would be measured instead. Returns the ops
 * done, 2 a multiply-add. */
__attribute__((target("avx512f,avx512vnni"))) static double dot_loop_vnni(long iters, int seed) {
    __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(-2);
    __m512i a0 = _mm512_set1_epi32(seed), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
            a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    for (long it = 0; it < iters; it++)
        CHAINS12("vpdpbusd");
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                 _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
    /* the sums wrap around (the instruction does not saturate), so they are
     * kept, not added up in C */
    int32_t v[16];
    _mm512_storeu_si512(v, s);
    volatile int32_t sink = v[0] ^ v[15];
    (void)sink;
    return (double)iters * 12 * 64 * 2;
}

/* The same for BF16 weights with bfloat16 inputs: vdpbf16ps adds the
 * products of 32 pairs of bfloat16 into 16 float lanes, 2 multiply-adds a
 * lane. 12 chains, so that its latency never binds. Returns the flops. */
__attribute__((target("avx512f,avx512bf16"))) static double dot_loop_bf16(long iters, int seed) {
    __m512i w = _mm512_set1_epi16(0x3f80), x = _mm512_set1_epi16(0x3f7f); /* 1.0 and 0.996 */
    __m512 a0 = _mm512_set1_ps((float)seed), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
           a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    for (long it = 0; it < iters; it++)
        CHAINS12("vdpbf16ps");
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * 12 * 32 * 2;
}
#endif

static double fma_loop_scalar(long iters, float seed) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = seed + (float)i;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) a[i] = a[i] * 0.999999f + 1e-7f;
    volatile float sink = a[0] + a[7];
    (void)sink;
    return (double)iters * 8 * 2;
}

static double fma_loop(gf_isa isa, long iters, float seed) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == GF_ISA_AVX512) return fma_loop_avx512(iters, seed);
    if (isa == GF_ISA_AVX2) return fma_loop_avx2(iters, seed);
#endif
    return fma_loop_scalar(iters, seed);
}

struct gf_bw_probe {
    float *x;
    size_t n;
    int threads;
    volatile float sink; /* keeps the sums, so the reads are not dropped */
};

gf_bw_probe *gf_bw_probe_new(size_t bytes, int threads, gf_error *err) {
    size_t n = bytes / sizeof(float);
    if (n < (1u << 16)) return gf_fail(err, "bandwidth buffer of %zu bytes is too small", bytes), NULL;
    gf_bw_probe *p = gf_calloc(1, sizeof *p, "bandwidth probe", err);
    if (!p) return NULL;
    p->x = gf_calloc(n, sizeof *p->x, "bandwidth buffer", err);
    if (!p->x) {
        free(p);
        return NULL;
    }
    p->n = n;
#ifdef _OPENMP
    p->threads = threads > 0 ? threads : omp_get_max_threads();
#else
    p->threads = 1;
    (void)threads;
#endif
    /* touch every page from the threads that will read it */
    float *x = p->x;
#pragma omp parallel for num_threads(p->threads) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 7);
    return p;
}

double gf_bw_probe_run(gf_bw_probe *p) {
    const float *x = p->x;
    size_t n = p->n;
    double t0 = now();
    float total = 0;
#pragma omp parallel num_threads(p->threads) reduction(+ : total)
    {
#ifdef _OPENMP
        int id = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        int id = 0, nt = 1;
#endif
        size_t a = n * (size_t)id / (size_t)nt, z = n * (size_t)(id + 1) / (size_t)nt;
        total += slice_sum(x + a, z - a);
    }
    double t = now() - t0;
    p->sink += total;
    return (double)n * sizeof(float) / t / 1e9;
}

void gf_bw_probe_free(gf_bw_probe *p) {
    if (!p) return;
    free(p->x);
    free(p);
}

enum { PEAK_FMA, PEAK_INT8, PEAK_BF16, PEAK_AMX_INT8, PEAK_AMX_BF16 };

/* Operations a second of one of the register-only loops, run by all T
 * threads at once: the best of 5 passes. */
static double peak_rate(int T, int which, gf_isa isa) {
    double best = 1e30, ops = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now(), f = 0;
#pragma omp parallel num_threads(T) reduction(+ : f)
        {
#if defined(__x86_64__) && defined(__GNUC__)
            if (which == PEAK_AMX_INT8 || which == PEAK_AMX_BF16) f += gf_amx_peak_loop(which == PEAK_AMX_BF16, 300000);
            else if (which == PEAK_INT8) f += dot_loop_vnni(2000000, r);
            else if (which == PEAK_BF16) f += dot_loop_bf16(1000000, r);
            else
#endif
                f += fma_loop(isa, 2000000, (float)r);
        }
        double t = now() - t0;
        if (t < best) {
            best = t;
            ops = f;
        }
    }
    return ops / best / 1e9;
}

int gf_measure_limits(size_t bytes, int threads, gf_limits *out, gf_error *err) {
    memset(out, 0, sizeof *out);
    gf_bw_probe *probe = gf_bw_probe_new(bytes, threads, err);
    if (!probe) return -1;
    int T = probe->threads;
    size_t n = probe->n;
    const float *x = probe->x;
    /* every thread's FMA loop at once, first: OpenBLAS's threads spin for a
     * while after each of its calls and would take a core from it */
    gf_isa isa = gf_cpu_isa();
    out->isa = gf_kernels_name();
    out->fma_gflop_s = peak_rate(T, PEAK_FMA, isa);
#if defined(__x86_64__) && defined(__GNUC__)
    if (gf_cpu_has_vnni()) out->int8_gop_s = peak_rate(T, PEAK_INT8, isa);
    if (gf_cpu_has_avx512bf16()) out->bf16_gflop_s = peak_rate(T, PEAK_BF16, isa);
    if (gf_cpu_has_amx()) {
        out->amx_int8_gop_s = peak_rate(T, PEAK_AMX_INT8, isa);
        out->amx_bf16_gflop_s = peak_rate(T, PEAK_AMX_BF16, isa);
    }
#endif
    double best, bw_best = 0;
    for (int r = 0; r < 10; r++) {
        double g = gf_bw_probe_run(probe);
        if (g > bw_best) bw_best = g;
    }
    out->read_gb_s = bw_best;
    /* the same bytes through OpenBLAS sgemv, which streams a matrix as
     * decode does: a second reading of the same limit */
    size_t cols = 4096, rows = n / cols;
    float *v = gf_calloc(cols + rows, sizeof *v, "sgemv vectors", err);
    if (!v) {
        gf_bw_probe_free(probe);
        return -1;
    }
    best = 1e30;
    for (int r = 0; r < 10; r++) {
        double t0 = now();
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, x, (int)cols, v, 1, 0.0f, v + cols, 1);
        double t = now() - t0;
        if (t < best) best = t;
    }
    out->sgemv_gb_s = (double)rows * cols * sizeof(float) / best / 1e9;
    free(v);
    gf_bw_probe_free(probe);
    /* sgemm on square products large enough to reach the kernel's peak */
    int m = 2048;
    size_t mm = (size_t)m * m;
    float *a = gf_calloc(3 * mm, sizeof *a, "sgemm buffers", err);
    if (!a) return -1;
    for (size_t i = 0; i < 2 * mm; i++) a[i] = (float)(i % 7) * 0.1f;
    best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1.0f, a, m, a + mm, m, 0.0f, a + 2 * mm, m);
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(a);
    out->sgemm_gflop_s = 2.0 * (double)m * m * m / best / 1e9;
    out->threads = T;
    return 0;
}

int gf_measure_f32_products(size_t M, size_t N, size_t K, gf_product_rates *out, gf_error *err) {
    memset(out, 0, sizeof *out);
    float *x = gf_calloc(M * K + N * K + 2 * M * N + M * K + N * K, sizeof *x, "product buffers", err);
    if (!x) return -1;
    float *w = x + M * K, *y = w + N * K, *dy = y + M * N, *dx = dy + M * N, *dw = dx + M * K;
    for (size_t i = 0; i < M * K; i++) x[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (size_t i = 0; i < N * K; i++) w[i] = (float)(i % 11) * 0.01f - 0.05f;
    for (size_t i = 0; i < M * N; i++) dy[i] = (float)(i % 5) * 0.01f - 0.02f;
    gf_mat W = {GF_W_F32, w, NULL, N, K, NULL, NULL, NULL};
    double best[3] = {1e30, 1e30, 1e30};
    /* interleaved, so that a host's drift touches both ways alike; the
     * first round warms up */
    for (int r = 0; r < 6; r++)
        for (int way = 0; way < 3; way++) {
            double t0 = now();
            if (way < 2) gf_linear_f32_via(y, x, &W, M, way == 0);
            else gf_linear_backward(dx, dw, NULL, dy, x, w, M, N, K, 0);
            double t = now() - t0;
            if (r > 0 && t < best[way]) best[way] = t;
        }
    free(x);
    double flops = 2.0 * (double)M * (double)N * (double)K;
    out->sgemm_gflop_s = flops / best[0] / 1e9;
    out->own_gflop_s = flops / best[1] / 1e9;
    out->backward_gflop_s = 2.0 * flops / best[2] / 1e9;
    out->rule_sgemm = gf_f32_uses_sgemm(M);
    return 0;
}
