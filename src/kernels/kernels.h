/* Numeric building blocks: matrix products over weights that stay in the
 * mapped file (large F32 products through OpenBLAS; small ones and every
 * BF16 / F16 / Q8 / Q4 product through griffin's SIMD kernels in kernels/,
 * which widen the weights in registers), and the pointwise functions with
 * the exact formulas of the reference. */
#ifndef GF_KERNELS_H
#define GF_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"

/* How a matrix's elements are stored. F32/BF16/F16 as in the file; Q8 and
 * Q4 are griffin's block-quantised formats (kernels/quant.h). */
typedef enum { GF_W_F32 = 0, GF_W_BF16, GF_W_F16, GF_W_Q8, GF_W_Q4, GF_W_COUNT } gf_wtype;

const char *gf_wtype_name(gf_wtype t);

/* A row-major matrix view [rows, cols] of a mapped tensor. Q8/Q4 codes lie
 * at data and their F16 block scales [rows, ceil(cols / 32)] at scale. */
typedef struct {
    gf_wtype type;
    const void *data;
    const uint16_t *scale;
    size_t rows, cols;
    /* Block-diagonal gate matrices only, optional: an F32 copy with every
     * [bw, bw] block transposed, so that a small batch reads each block's
     * output rows contiguously (gf_block_diag through the gemv kernels). */
    const float *blocks_t;
    /* Q8 / Q4 only, optional: the codes and scales again in the row-group
     * order of the integer-dot kernel (kernels/quant.h, gf_q_pack), made by
     * the loader on CPUs with AVX512-VNNI. */
    const uint8_t *packed;
    const uint16_t *packed_scale;
} gf_mat;

/* Bytes of one stored row (codes only) and of the whole matrix (codes and
 * scales): what a product reads. */
size_t gf_mat_row_bytes(const gf_mat *W);
size_t gf_mat_bytes(const gf_mat *W);

/* Floats of scratch gf_block_diag needs (a block of the gate weights widened
 * to F32; 0 when the model is all F32). */
size_t gf_kernel_scratch_floats(size_t max_block);

/* Room for the inputs of Q8 / Q4 products quantised to int8 (kernels/actq.h):
 * when a product is given one with enough bytes for its M rows
 * (gf_xq_bytes) and the CPU has AVX512-VNNI, it multiplies in integers; with
 * NULL (or an empty one) it widens the weights to float instead. */
typedef struct {
    uint8_t *buf;
    size_t bytes;
} gf_xq;

/* Bytes of gf_xq M input rows of K columns need. */
size_t gf_xq_bytes(size_t M, size_t K);

/* out[M, W.rows] = x[M, W.cols] @ W^T (+ bias[W.rows] when non-NULL). */
void gf_linear(float *out, const float *x, const gf_mat *W, const float *bias, size_t M,
               const gf_xq *xq);

/* Whether gf_linear sends F32 products of M input rows to OpenBLAS sgemm
 * (1) or to griffin's kernels (0), for the kernel set in use; and a product
 * through the one named, for the bench's check of that rule (not for use
 * while other products run). */
int gf_f32_uses_sgemm(size_t M);
void gf_linear_f32_via(float *out, const float *x, const gf_mat *W, size_t M, int sgemm);

/* One of several products of the same input: out [M, W.rows] = x W^T (+ bias
 * when non-NULL); with cap > 0, then out = tanh(out / cap) * cap (the
 * logits' soft cap, gf_soft_capf), applied by each thread to its rows a
 * piece at a time while they are in its cache, instead of a pass of its own
 * that sent batch-16 logits (16 MiB) to memory and back. */
typedef struct {
    const gf_mat *W;
    float *out;
    const float *bias;
    float cap;
} gf_product;

/* The products p[0..n) of x [M, K] (every W has K columns), their rows
 * shared among one team of threads: e.g. a block's q, k and v projections,
 * or the MLP's gate and up, in one pass. */
void gf_linear_many(const float *x, size_t M, const gf_product *p, int n, const gf_xq *xq);

/* Block-diagonal product used by the RG-LRU gates: W is [H * bw, bw] viewed as
 * H blocks w[h] of [bw, bw]; out[m, h*bw + j] = sum_i x[m, h*bw + i] w[h, i, j] + b.
 * It goes through W->blocks_t and the gemv kernels when the loader made the
 * copy and the batch is small or the CPU has AVX-512 (as gf_linear does);
 * otherwise through one sgemm per block. */
void gf_block_diag(float *out, const float *x, const gf_mat *W, const float *bias, size_t M,
                   size_t H, size_t bw, float *scratch);

/* Backward of gf_linear for an F32 weight W [N, K] (training keeps every
 * weight in F32): dx [M, K] = dy [M, N] W (added to dx when dx_accumulate;
 * skipped when dx is NULL), dW [N, K] += dy^T x, db [N] += column sums of dy
 * (skipped when NULL). */
void gf_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                        const float *W, size_t M, size_t N, size_t K, int dx_accumulate);

/* Backward of gf_block_diag for an F32 W [H, bw, bw]: dx [M, H*bw] += dy w[h]^T
 * per block, dW[h] += x_h^T dy_h, db += column sums of dy. */
void gf_block_diag_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                            const float *W, size_t M, size_t H, size_t bw);

/* Copies row r of W into out[W.cols] as float (any type). */
void gf_mat_row(const gf_mat *W, size_t r, float *out);

/* Converts n elements of dtype at src into float. */
void gf_convert_to_f32(float *dst, const void *src, gf_dtype dt, size_t n);

/* exp(x) for float x, within 3 ulp of expf wherever expf is a normal float
 * (x in [-87.3, 88.7]), written as plain arithmetic so that loops over
 * arrays vectorise: libm's expf and tanhf are calls the compiler cannot.
 * 2^k x e^r with r = x - k ln2 in [-ln2/2, ln2/2] (ln2 split in two for an
 * exact product), e^r by its degree-6 Taylor polynomial.
 *
 * Defined for every input, as expf: +Inf past 88.72 (and for +Inf), a
 * subnormal and then 0 below -87.3 (0 for -Inf), NaN for NaN. x is clamped
 * to [-104, 88.75] first, where 2^k spans 2^-150 .. 2^128: the product
 * rounds to 0 or overflows to Inf by itself, with no compare after it.
 * 2^k is built from the bits of the rounding step's sum rather than by
 * converting k to an integer (a NaN's conversion is undefined behaviour),
 * and applied in two factors, 2^(k/2) twice (about), so that both stay
 * normal floats at either end; in between the result is the same product
 * as with one factor (both are exact powers of two). Measured
 * against glibc's expf over every 61st float: 3 ulp at most, 2 subnormal
 * ulps below FLT_MIN (tests/test_units.c checks it). */
#if defined(__FMA__) || defined(__aarch64__)
/* a * b + c in one rounding where the CPU has the instruction: ISO C mode
 * (-std=c11) does not contract a * b + c by itself, and the polynomial is
 * most of the work */
#define GF_MADD(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define GF_MADD(a, b, c) ((a) * (b) + (c))
#endif
/* e^r for r = x - k ln2, with k = round(x / ln2): returns the polynomial,
 * and in *bits the bits of the rounding step's sum, 0x4b400000 + k for
 * every |k| < 2^22 (any bits for a NaN x). */
static inline float gf_exp_reduced(float x, uint32_t *bits) {
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    union { float f; uint32_t u; } sum = {x * 1.44269504f + shifter};
    float k = sum.f - shifter;
    float r = x - k * 0.693145752f - k * 1.42860677e-6f;
    float p = GF_MADD(r, 0.00138888892f, 0.00833333377f);
    p = GF_MADD(r, p, 0.0416666679f);
    p = GF_MADD(r, p, 0.166666672f);
    p = GF_MADD(r, p, 0.5f);
    p = GF_MADD(r, p, 1.0f);
    p = GF_MADD(r, p, 1.0f);
    *bits = sum.u;
    return p;
}

/* exp(x) for x in [-87, 88] (where 2^k is a normal float) or NaN (NaN): the
 * callers that bound their arguments themselves (the soft cap, tanh), two
 * integer steps cheaper than gf_expf. (bits + 127) << 23 is the float 2^k:
 * 0x4b400000 << 23 wraps to 0 in 32 bits. */
static inline float gf_expf_bounded(float x) {
    uint32_t bits;
    float p = gf_exp_reduced(x, &bits);
    union { uint32_t u; float f; } scale = {(bits + 127u) << 23};
    return p * scale.f;
}

static inline float gf_expf(float x) {
    x = x < -104.0f ? -104.0f : x > 88.75f ? 88.75f : x; /* NaN passes */
    uint32_t bits;
    float p = gf_exp_reduced(x, &bits);
    /* k + 256 in [106, 384]; its halves k1 = floor(k / 2) and k2 = k - k1
     * in [-75, 64], whose 2^k1 and 2^k2 are normal floats */
    uint32_t kb = bits - 0x4b400000u + 256u, h = kb >> 1;
    union { uint32_t u; float f; } s1 = {(h - 1u) << 23}, s2 = {(kb - h - 1u) << 23};
    return p * s1.f * s2.f;
}

/* tanh through gf_expf: 1 - 2 / (e^2x + 1), odd by construction; absolute
 * error about 1e-7 (relative error grows only where tanh itself is below
 * ~1e-3, where the callers add it to 1 or multiply it by a small cap).
 * Past 2|x| = 20 the result rounds to 1, so the exponential's argument is
 * bounded there (which also makes ±Inf give ±1); a NaN stays NaN. */
static inline float gf_tanhf(float x) {
    float a = x < 0.0f ? -x : x;
    float a2 = 2.0f * a;
    float t = 1.0f - 2.0f / (gf_expf_bounded(a2 > 20.0f ? 20.0f : a2) + 1.0f);
    return x < 0.0f ? -t : t;
}

/* The logits' soft cap tanh(x / cap) * cap, given two_over_cap = 2 / cap:
 * tanh as (e - 1) / (e + 1) with e = exp(2 |x| / cap), one division where
 * gf_tanhf(x / cap) takes two: 13 % faster per logit (a batch-16 step caps
 * 4M of them; the exp is the larger part of the cost). Same absolute error
 * as gf_tanhf (about 1e-7 of the cap). */
static inline float gf_soft_capf(float x, float cap, float two_over_cap) {
    float a = x < 0.0f ? -x : x;
    /* past 20, e - 1 and e + 1 round to e (the result is the cap, as
     * before); the bound keeps a huge or infinite x from making e Inf and
     * the quotient Inf / Inf = NaN. A NaN passes through to the result. */
    float u = a * two_over_cap;
    float e = gf_expf_bounded(u > 20.0f ? 20.0f : u);
    float t = (e - 1.0f) / (e + 1.0f) * cap;
    return x < 0.0f ? -t : t;
}

/* GeLU's tanh form. Defined for every input: NaN for NaN, and for -Inf
 * (-Inf x 0, as torch's formula gives too); a huge negative x gives 0. */
static inline float gf_gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + gf_tanhf(k * (x + 0.044715f * x * x * x)));
}

/* d gelu_tanh(x) / dx. */
static inline float gf_gelu_tanh_grad(float x) {
    const float k = 0.7978845608028654f;
    float th = gf_tanhf(k * (x + 0.044715f * x * x * x));
    float sech2 = 1.0f - th * th;
    /* where tanh has rounded to ±1 the second term is 0: computed, a huge x
     * would make it 0 x Inf = NaN */
    float rest = sech2 == 0.0f ? 0.0f : 0.5f * x * sech2 * k * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * (1.0f + th) + rest;
}

static inline float gf_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* torch.nn.functional.softplus with beta 1 and threshold 20. */
static inline float gf_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
/* Its derivative as torch computes it: 1 past the threshold, else sigmoid. */
static inline float gf_softplus_grad(float x) { return x > 20.0f ? 1.0f : gf_sigmoid(x); }

#endif
