/* Integer dot products for Q8 / Q4 weights: the input rows of a product are
 * quantised to int8 per block of 32 columns, like the weights, so a block's
 * dot product is a sum of 8-bit products in 32-bit integers (AVX512-VNNI
 * vpdpbusd: 64 multiply-adds in one instruction) and only its result is
 * scaled in float. Widening every weight to float and multiplying in float
 * costs several instructions per 16 weights, which on 2 cores keeps Q4's
 * decode well below the memory bandwidth and the quantised types' batch-16
 * decode below 8x batch 1.
 *
 * The price is the rounding of the inputs: each is replaced by the nearest
 * multiple of its block's max|x| / 127, an error of at most max|x| / 254 per
 * input. gf_actq_error_bound gives the resulting bound on a product.
 *
 * Layout of one quantised input row of K columns, nb = ceil(K / 32) blocks:
 *   int8  codes[nb * 32]  in column order, 0 past K
 *   float dx[nb]          block b's scale: codes[32 b + j] x dx[b] ~ x[32 b + j]
 *   int32 corr[nb]        -z x the sum of block b's codes, z the weights' zero
 *                         code in the packed order (Q8 + 128, Q4's nibbles
 *                         8), so that the unsigned-by-signed instruction's
 *                         sum starts from the correction
 * and padding to a multiple of 64 bytes. */
#ifndef GF_ACTQ_H
#define GF_ACTQ_H

#include "cpu.h"
#include "kernels.h"

static inline size_t gf_actq_row_bytes(size_t K) { return ((K + 31) / 32 * 40 + 63) / 64 * 64; }
/* Where a row's scales and corrections start. */
static inline size_t gf_actq_dx_offset(size_t K) { return (K + 31) / 32 * 32; }
static inline size_t gf_actq_corr_offset(size_t K) { return (K + 31) / 32 * 36; }

/* Whether products with weights of type t can take this path at all. */
static inline int gf_actq_type(gf_wtype t) { return t == GF_W_Q8 || t == GF_W_Q4; }

/* Rows x[m * ldx + k], m < M, k < K, quantised for weights of type t (Q8 or
 * Q4) into q, row m at q + m * gf_actq_row_bytes(K). */
void gf_actq_quantize(gf_wtype t, const float *x, size_t ldx, size_t M, size_t K, uint8_t *q);
/* Its scalar twin (gf_actq_quantize is an AVX-512 version of it on the CPUs
 * the integer path runs on, with the same bytes out). */
void gf_actq_quantize_scalar(gf_wtype t, const float *x, size_t ldx, size_t M, size_t K, uint8_t *q);
/* The AVX2 version (the same bytes), which gf_actq_quantize runs on CPUs
 * with the AVX2 integer kernel and no AVX-512. */
void gf_actq_quantize_avx2(gf_wtype t, const float *x, size_t ldx, size_t M, size_t K, uint8_t *q);

/* out[m * ldo + r] = the product of quantised row m with weight row r, for m
 * < M and r0 <= r < r1 (W of type Q8 or Q4, q from gf_actq_quantize for that
 * type). The scalar twin, which reads W's row-major codes, and the
 * AVX512-VNNI version, which reads the packed ones (W->packed, quant.h);
 * it computes whole groups of 16 rows, so shares that start and end on a
 * multiple of 16 waste nothing. */
void gf_gemv_actq_rows_scalar(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                              size_t r0, size_t r1);
void gf_gemv_actq_rows_vnni(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1);
/* The same over the same packed order with AVX2's vpmaddubsw / vpmaddwd
 * (gemv_actq_avx2.c), for CPUs without VNNI: equal to the VNNI version's
 * results bit for bit. */
void gf_gemv_actq_rows_avx2(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1);
/* And with AVX-VNNI (the 256-bit vpdpbusd of CPUs with it but no AVX-512:
 * Alder Lake and later, Zen 5), the same again. */
void gf_gemv_actq_rows_avxvnni(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                               size_t r0, size_t r1);
/* And with AMX-INT8's tile products (gemv_amx.c), 16 inputs a step: the
 * same results as the VNNI version, bit for bit, at any M (the last inputs
 * padded to 16); for batches and prefill. */
void gf_gemv_actq_rows_amx(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                           size_t r0, size_t r1);
/* Inputs from which gf_gemv_actq_rows takes the AMX version for Q4
 * weights, and the BF16 products theirs, as measured in decode steps of the
 * bench's 412M model on a 2-core Xeon: Q4 from 16 (batch 16: 18.9-19.9
 * against 23.5-24.1 ms; batches 8 and 12 were 3-18 % slower); BF16 from 8
 * (batch 16: 38.5-39.5 against 89.8 ms). Q8 stays on VNNI: the AMX version
 * was within 5 % of it at batches 8 and 16, 3-10 % slower at 32 and 64, and
 * 4 % faster in prefill (its codes, twice Q4's bytes, are copied to signed ones
 * for the tiles, which is nearly all of Q4's advantage). */
#define GF_AMX_MIN_INPUTS_Q4 16
#define GF_AMX_MIN_INPUTS_BF16 8
/* The fastest of these this CPU runs for M inputs. */
void gf_gemv_actq_rows(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                       size_t r0, size_t r1);

/* The register-only loop of the bench's AMX peaks (bench_limits.c):
 * iters x 4 full-tile products, int8 (bf16 0) or bfloat16 (1); returns the
 * operations done, 2 a multiply-add, or 0 without AMX. */
double gf_amx_peak_loop(int bf16, long iters);

/* The same idea for BF16 weights (gemv_bf16x.c): the inputs rounded to
 * bfloat16 (to nearest, ties to even), rows of gf_bf16x_cols(K) values with
 * zeros after K, multiplied by AVX512-BF16's vdpbf16ps into float sums. Each
 * input moves by at most 2^-8 of itself. */
static inline size_t gf_bf16x_cols(size_t K) { return (K + 31) / 32 * 32; }
void gf_bf16x_round(const float *x, size_t ldx, size_t M, size_t K, uint16_t *xb);
void gf_gemv_bf16x_rows_scalar(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo,
                               size_t r0, size_t r1);
void gf_gemv_bf16x_rows_avx512bf16(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo,
                                   size_t r0, size_t r1);
/* The AMX-BF16 version: whole groups of 16 rows with the tile unit, the rows
 * around them (and any K that is not a multiple of 32) with AVX512-BF16;
 * equal to the scalar twin within the float sums' rounding. */
void gf_gemv_bf16x_rows_amx(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1);

/* An upper bound on |product with quantised x - product with exact x| for
 * row x[K] and weight row r: sum over blocks of (max|x| / 254) x sum|w|. */
double gf_actq_error_bound(const gf_mat *W, size_t r, const float *x);

#endif
