/* The machine's limits that `griffin bench` and the bench/ programs set
 * their figures against: read bandwidth, sgemm and FMA peaks, the integer
 * and BF16 dot-product ceilings. Benchmark code, not part of the library. */
#ifndef GF_BENCH_LIMITS_H
#define GF_BENCH_LIMITS_H

#include "griffin.h"

/* ---- the machine's limits ------------------------------------------------------ */

typedef struct {
    double read_gb_s;     /* memory read bandwidth: a buffer streamed by all threads */
    double sgemv_gb_s;    /* the same bytes read as a matrix by OpenBLAS sgemv */
    double sgemm_gflop_s; /* OpenBLAS F32 sgemm, 2048 x 2048 x 2048 */
    double fma_gflop_s;   /* F32 fused multiply-adds on registers only: the cores' own ceiling */
    double int8_gop_s;    /* AVX512-VNNI int8 dot products (vpdpbusd) on registers, 2 ops a
                           * multiply-add: the integer path's ceiling; 0 without VNNI */
    double bf16_gflop_s;  /* AVX512-BF16 dot products (vdpbf16ps) on registers: the ceiling of
                           * BF16 weights with bfloat16 inputs; 0 without the instruction */
    double amx_int8_gop_s;   /* AMX tile products on registers only (16 x 16 x 64 int8, and */
    double amx_bf16_gflop_s; /* 16 x 16 x 32 bfloat16 pairs): the ceilings of the AMX kernels
                              * (batches and prefill); 0 without AMX */
    const char *isa;      /* the instruction set griffin's kernels use here */
    int threads;
} gf_limits;

/* Measures them (best of several passes) with a read buffer of `bytes` (make
 * it several times the last-level cache) and `threads` readers (0 = all). */
int gf_measure_limits(size_t bytes, int threads, gf_limits *out, gf_error *err);

/* The F32 products of prefill and training, y [M, N] = x [M, K] W^T, timed
 * (best of 5, interleaved) through OpenBLAS sgemm and through griffin's
 * kernels, and their backward (dx and dW, through OpenBLAS), with the way
 * gf_linear's rule takes for M rows on this kernel set. */
typedef struct {
    double sgemm_gflop_s, own_gflop_s, backward_gflop_s;
    int rule_sgemm;
} gf_product_rates;
int gf_measure_f32_products(size_t M, size_t N, size_t K, gf_product_rates *out, gf_error *err);

/* One read-bandwidth probe, kept to be run again and again: the benchmark
 * runs it right before every timed decode step, so that on a machine whose
 * bandwidth drifts each step is set against the limit of its own moment.
 * new: a buffer of `bytes` (several times the last-level cache), its pages
 * touched by the `threads` readers (0 = all); run: one pass, every thread
 * summing its slice, in GB/s. */
typedef struct gf_bw_probe gf_bw_probe;
gf_bw_probe *gf_bw_probe_new(size_t bytes, int threads, gf_error *err);
double gf_bw_probe_run(gf_bw_probe *p);
void gf_bw_probe_free(gf_bw_probe *p);

#endif
