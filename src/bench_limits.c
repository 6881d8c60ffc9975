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

#include "util.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sum of a slice with independent accumulators, so the loads, not the adds'
 * latency, set the pace. */
static float slice_sum(const float *x, size_t n) {
    float acc[64] = {0};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 64; k++) acc[k] += x[i + k];
    for (; i < n; i++) acc[0] += x[i];
    float s = 0;
    for (int k = 0; k < 64; k++) s += acc[k];
    return s;
}

int gf_measure_limits(size_t bytes, int threads, gf_limits *out, gf_error *err) {
    memset(out, 0, sizeof *out);
    size_t n = bytes / sizeof(float);
    if (n < (1u << 16)) return gf_fail(err, "bandwidth buffer of %zu bytes is too small", bytes);
    float *x = gf_calloc(n, sizeof *x, "bandwidth buffer", err);
    if (!x) return -1;
#ifdef _OPENMP
    int T = threads > 0 ? threads : omp_get_max_threads();
#else
    int T = 1;
    (void)threads;
#endif
    /* touch every page from the threads that will read it */
#pragma omp parallel for num_threads(T) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 7);
    double best = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < 10; r++) {
        double t0 = now();
        float total = 0;
#pragma omp parallel num_threads(T) reduction(+ : total)
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
        sink += total;
        if (t < best) best = t;
    }
    (void)sink;
    out->read_gb_s = (double)n * sizeof(float) / best / 1e9;
    /* the same bytes through OpenBLAS sgemv, which streams a matrix as
     * decode does: a second reading of the same limit */
    size_t cols = 4096, rows = n / cols;
    float *v = gf_calloc(cols + rows, sizeof *v, "sgemv vectors", err);
    if (!v) {
        free(x);
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
    free(x);
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
