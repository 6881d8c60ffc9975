/* The machine's own limit for training arithmetic: OpenBLAS sgemm GFLOP/s on
 * square F32 products (best of 5), for the README's ratio of a training run's
 * useful FLOP/s (6 x parameters x tokens/s) to what this machine can do.
 *
 * usage: build/sgemm_peak [N (default 2048)] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048;
    if (n < 64 || n > 16384) {
        fprintf(stderr, "sgemm_peak: N must be in 64..16384\n");
        return 1;
    }
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "sgemm_peak: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < nn; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.2f, c[i] = 0;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    double gflops = 2.0 * (double)n * n * n / best / 1e9;
    printf("sgemm %d x %d x %d: %.1f GFLOP/s (best of 5, %d OpenBLAS threads)\n", n, n, n, gflops,
           openblas_get_num_threads());
    free(a);
    free(b);
    free(c);
    return 0;
}
