#include "kernels.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#include "actq.h"
#include "gemv.h"
#include "quant.h"

const char *gf_wtype_name(gf_wtype t) {
    switch (t) {
    case GF_W_F32: return "F32";
    case GF_W_BF16: return "BF16";
    case GF_W_F16: return "F16";
    case GF_W_Q8: return "Q8";
    case GF_W_Q4: return "Q4";
    case GF_W_COUNT: break;
    }
    return "?";
}

size_t gf_mat_row_bytes(const gf_mat *W) {
    switch (W->type) {
    case GF_W_F32: return W->cols * 4;
    case GF_W_BF16:
    case GF_W_F16: return W->cols * 2;
    case GF_W_Q8: return gf_q8_row_bytes(W->cols);
    case GF_W_Q4: return gf_q4_row_bytes(W->cols);
    case GF_W_COUNT: break;
    }
    return 0;
}

size_t gf_mat_bytes(const gf_mat *W) {
    size_t scales = W->type == GF_W_Q8 || W->type == GF_W_Q4 ? gf_q_nblocks(W->cols) * 2 : 0;
    return W->rows * (gf_mat_row_bytes(W) + scales);
}

size_t gf_kernel_scratch_floats(size_t max_block) { return max_block * max_block; }

void gf_mat_row(const gf_mat *W, size_t r, float *out) { gf_dequantize_rows(W, r, r + 1, out); }

/* Whether OpenBLAS runs AVX-512 kernels of its own here. The Debian build
 * picks its kernels from the CPU model: on Intel CPUs with AVX-512 it takes
 * its SkylakeX / Cooperlake / SapphireRapids ones, on CPUs it does not know
 * (Zen 4 and 5 in this OpenBLAS 0.3.21) its AVX2 Haswell ones. */
static int openblas_has_avx512(void) {
    static _Atomic int known = -1;
    int v = known;
    if (v < 0) {
        const char *core = openblas_get_corename();
        v = core && (!strcmp(core, "SkylakeX") || !strcmp(core, "Cooperlake") ||
                     !strcmp(core, "SapphireRapids"));
        known = v;
    }
    return v;
}

/* Which F32 products of many input rows go to OpenBLAS sgemm, by kernel
 * set (checked by measurement: `griffin bench` times both on the prefill
 * and training shapes, says which this rule took and whether it was the
 * faster, and bench/REPORT.md has the figures):
 * - AVX-512 sets: griffin's kernels, unless OpenBLAS runs AVX-512 kernels
 *   of its own. The Debian build picks its kernels from the CPU model: its
 *   SkylakeX / Cooperlake / SapphireRapids ones on Intel CPUs with AVX-512,
 *   its AVX2 Haswell ones on CPUs it does not know (Zen 4 and 5 in OpenBLAS
 *   0.3.21). Those lose to griffin's AVX-512 tiles at every size: 160
 *   against 127 GFLOP/s a core at M = 512, 145 against 78 at M = 16 (Zen
 *   5); OpenBLAS's own AVX-512 kernels win (an F32 prefill of 512 tokens
 *   of the bench's 412M model 0.61-0.63 s against 0.79-0.83 s on a 2-core
 *   Xeon with AMX).
 * - avx2 sets: griffin's panel kernel (gemv_avx2.c): on 2 cores of a Zen 5
 *   with the avx2 set it did 166-179 GFLOP/s at M = 64 (K = 1024) against
 *   OpenBLAS's Haswell kernels' 137-158, and 200-207 against 190-202 at the
 *   prefill's 512 rows; at training's 2048 the two were within 4 %.
 * - scalar: OpenBLAS, whatever it runs. */
#define GF_SGEMM_MIN_ROWS 64
static int use_sgemm(gf_wtype t, size_t M) {
    if (t != GF_W_F32 || M < GF_SGEMM_MIN_ROWS) return 0;
    switch (gf_cpu_isa()) {
    case GF_ISA_AVX512: return openblas_has_avx512();
    case GF_ISA_AVX2: return 0;
    case GF_ISA_SCALAR: break;
    }
    return 1;
}

int gf_f32_uses_sgemm(size_t M) { return use_sgemm(GF_W_F32, M); }

/* Input rows from which AVX2 products without a narrow-input path take
 * the panel kernel (gemv_avx2.c) instead of the 4 x 3 tiles: at M = 16 the
 * tiles did 137-140 (F32) and 156-166 (BF16) GFLOP/s against the panels'
 * 113-121 and 122-131, at M = 64 the panels 166-179 and 166-174 against
 * 138-153 and 165-174 (2 cores of a Zen 5 with the avx2 set). */
#define GF_PANEL_MIN_ROWS 32

/* Work below which threads cost more than they save (floats of weight x rows). */
#define GF_PAR_MIN_WORK (1u << 16)

/* Bytes of one narrowed input row: int8 codes with their scales, or
 * bfloat16 values. */
static size_t narrow_row_bytes(gf_wtype t, size_t K) {
    return t == GF_W_BF16 ? gf_bf16x_cols(K) * sizeof(uint16_t) : gf_actq_row_bytes(K);
}

size_t gf_xq_bytes(size_t M, size_t K) {
    size_t a = gf_actq_row_bytes(K), b = gf_bf16x_cols(K) * sizeof(uint16_t);
    return M * (a > b ? a : b);
}

/* Whether the products take a narrow-input path: all of one type that has
 * one (Q8 / Q4: int8 and VNNI; BF16: bfloat16 and AVX512-BF16), room for
 * the narrowed input, and a CPU with the instructions. */
static int use_narrow(const gf_product *p, int n, size_t M, const gf_xq *xq) {
    gf_wtype t = p[0].W->type;
    if (!xq || !xq->buf || !(gf_actq_type(t) || t == GF_W_BF16)) return 0;
    for (int i = 0; i < n; i++)
        if (p[i].W->type != t || (t != GF_W_BF16 && !p[i].W->packed)) return 0;
    if (gf_xq_bytes(M, p[0].W->cols) > xq->bytes) return 0;
    return t == GF_W_BF16 ? gf_cpu_has_avx512bf16() : gf_cpu_has_int8_dot();
}

/* Whether BF16 products of M inputs take the AMX kernel. */
static int bf16_amx(size_t M) { return M >= GF_AMX_MIN_INPUTS_BF16 && gf_cpu_has_amx(); }

/* out[m, r0 .. r1) = tanh(out / cap) * cap for every input row m: the soft cap
 * of gf_product. In 512-bit vectors where the CPU has them: GCC tunes Intel
 * CPUs for 256, and the division and exp made the cap 9 % of a Q4 batch-16
 * step there (about 4 % in 512). Only in builds for AVX-512 (where it
 * matters); the Makefile's -fno-trapping-math is what lets the loop
 * vectorise without AVX-512's masks. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__)
__attribute__((target("prefer-vector-width=512")))
#endif
static void soft_cap_rows(float *out, size_t M, size_t N, size_t r0, size_t r1, float cap) {
    float k = 2.0f / cap;
    for (size_t m = 0; m < M; m++) {
        float *o = out + m * N;
#pragma omp simd
        for (size_t r = r0; r < r1; r++) o[r] = gf_soft_capf(o[r], cap, k);
    }
}

/* Rows of a capped product per piece: 16 input rows of them (128 KiB) stay
 * in L2 from the kernel's stores to the cap. */
#define GF_CAP_PIECE_ROWS ((size_t)2048)

/* Rows [g0, g1) (in groups of gs: 4, or the packed weights' 16) of the
 * products' stacked rows, for all M
 * input rows in chunks, bias added: one thread's share of gf_linear_many.
 * The input is x (float), or q (narrowed for the weights' type) when q is
 * given. A chunk of it stays in the core's L2 cache (about 256 KiB of it)
 * while every weight row of the share meets it, so the weights are read
 * once per chunk and the input once per tile. */
static void many_share(gf_isa isa, const float *x, const uint8_t *q, size_t M, const gf_product *p,
                       int n, size_t gs, size_t g0, size_t g1) {
    size_t K = p[0].W->cols, base = 0;
    /* AVX2 with many input rows: the panel kernel, over all M at once (its
     * panel is built once per 16 weight rows whatever M is) */
    float *panel = !q && isa == GF_ISA_AVX2 && M >= GF_PANEL_MIN_ROWS
                       ? aligned_alloc(32, gf_gemm_panel_floats(K) * sizeof(float)) : NULL;
    size_t row_bytes = q ? narrow_row_bytes(p[0].W->type, K) : K * sizeof(float);
    /* chunks of whole 16-row steps of the AMX kernels */
    size_t mc = (256u << 10) / row_bytes / 16 * 16;
    if (mc < 16) mc = 16;
    for (int i = 0; i < n && base < g1; i++) {
        size_t N = p[i].W->rows, groups = (N + gs - 1) / gs;
        size_t lo = g0 > base ? g0 - base : 0, hi = g1 - base < groups ? g1 - base : groups;
        base += groups;
        if (lo >= hi) continue;
        size_t r0 = lo * gs, r1 = hi * gs < N ? hi * gs : N;
        /* uncapped: the whole share at once; capped: pieces of whole groups */
        size_t piece = p[i].cap > 0.0f ? GF_CAP_PIECE_ROWS : r1 - r0;
        for (size_t a = r0; a < r1; a += piece) {
            size_t z = r1 - a < piece ? r1 : a + piece;
            for (size_t m0 = 0; m0 < M; m0 += mc) {
                size_t mn = M - m0 < mc ? M - m0 : mc;
                if (panel) {
                    gf_gemm_rows_avx2(p[i].W, x, K, M, p[i].out, N, a, z, panel);
                    break;
                }
                if (!q) gf_gemv_rows(isa, p[i].W, x + m0 * K, K, mn, p[i].out + m0 * N, N, a, z);
                else if (p[i].W->type == GF_W_BF16 && bf16_amx(mn))
                    gf_gemv_bf16x_rows_amx(p[i].W, (const uint16_t *)(q + m0 * row_bytes), mn, p[i].out + m0 * N,
                                           N, a, z);
                else if (p[i].W->type == GF_W_BF16)
                    gf_gemv_bf16x_rows_avx512bf16(p[i].W, (const uint16_t *)(q + m0 * row_bytes), mn,
                                                  p[i].out + m0 * N, N, a, z);
                else gf_gemv_actq_rows(p[i].W, q + m0 * row_bytes, mn, p[i].out + m0 * N, N, a, z);
            }
            if (p[i].bias)
                for (size_t m = 0; m < M; m++)
                    for (size_t r = a; r < z; r++) p[i].out[m * N + r] += p[i].bias[r];
            if (p[i].cap > 0.0f) soft_cap_rows(p[i].out, M, N, a, z, p[i].cap);
        }
    }
    free(panel);
}

static void add_bias(float *out, const float *bias, size_t M, size_t N) {
    int par = M * N >= GF_PAR_MIN_WORK;
#pragma omp parallel for if (par) schedule(static)
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) out[m * N + n] += bias[n];
}

/* out [M, N] = x W^T (+ bias) through OpenBLAS (W F32). */
static void sgemm_product(float *out, const float *x, const gf_mat *W, const float *bias, size_t M) {
    size_t N = W->rows, K = W->cols;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x, (int)K,
                W->data, (int)K, 0.0f, out, (int)N);
    if (bias) add_bias(out, bias, M, N);
}

/* The products p[0..n) through griffin's kernels, whatever use_sgemm says. */
static void own_products(const float *x, size_t M, const gf_product *p, int n, const gf_xq *xq) {
    size_t K = p[0].W->cols, groups = 0, work = 0;
    for (int i = 0; i < n; i++) {
        groups += (p[i].W->rows + 3) / 4;
        work += p[i].W->rows * K * M;
    }
    int par = work >= GF_PAR_MIN_WORK && groups >= 2;
    if (use_narrow(p, n, M, xq)) {
        gf_wtype t = p[0].W->type;
        /* shares of whole 16-row groups for the packed and the AMX kernels */
        size_t rb = narrow_row_bytes(t, K), gs = t == GF_W_BF16 && !bf16_amx(M) ? 4 : GF_QPACK_ROWS;
        if (gs != 4) {
            groups = 0;
            for (int i = 0; i < n; i++) groups += (p[i].W->rows + gs - 1) / gs;
            par = work >= GF_PAR_MIN_WORK && groups >= 2;
        }
#pragma omp parallel if (par)
        {
#pragma omp for schedule(static)
            for (size_t m = 0; m < M; m++) {
                if (t == GF_W_BF16) gf_bf16x_round(x + m * K, K, 1, K, (uint16_t *)(xq->buf + m * rb));
                else gf_actq_quantize(t, x + m * K, K, 1, K, xq->buf + m * rb);
            }
#ifdef _OPENMP
            int id = omp_get_thread_num(), nt = omp_get_num_threads();
#else
            int id = 0, nt = 1;
#endif
            many_share(GF_ISA_AVX512, NULL, xq->buf, M, p, n, gs, groups * (size_t)id / (size_t)nt,
                       groups * (size_t)(id + 1) / (size_t)nt);
        }
        return;
    }
    gf_isa isa = gf_cpu_isa();
    /* one team for all the products: a decode step forks and joins once per
     * group of products that read the same input, not once per product */
#pragma omp parallel if (par)
    {
#ifdef _OPENMP
        int id = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        int id = 0, nt = 1;
#endif
        many_share(isa, x, NULL, M, p, n, 4, groups * (size_t)id / (size_t)nt, groups * (size_t)(id + 1) / (size_t)nt);
    }
}

void gf_linear_many(const float *x, size_t M, const gf_product *p, int n, const gf_xq *xq) {
    if (M == 0 || n <= 0) return;
    int any_sgemm = 0;
    for (int i = 0; i < n; i++) any_sgemm |= use_sgemm(p[i].W->type, M);
    if (!any_sgemm) {
        own_products(x, M, p, n, xq);
        return;
    }
    /* OpenBLAS threads each product itself; the cap is a pass after it */
    for (int i = 0; i < n; i++) {
        gf_linear(p[i].out, x, p[i].W, p[i].bias, M, NULL);
        if (p[i].cap > 0.0f) {
            size_t N = p[i].W->rows;
#pragma omp parallel for schedule(static) if (M * N >= GF_PAR_MIN_WORK)
            for (size_t m = 0; m < M; m++) soft_cap_rows(p[i].out + m * N, 1, N, 0, N, p[i].cap);
        }
    }
}

void gf_linear(float *out, const float *x, const gf_mat *W, const float *bias, size_t M,
               const gf_xq *xq) {
    if (M == 0 || W->rows == 0) return;
    gf_product p = {W, out, bias, 0};
    if (use_sgemm(W->type, M)) sgemm_product(out, x, W, bias, M);
    else own_products(x, M, &p, 1, xq);
}

void gf_linear_f32_via(float *out, const float *x, const gf_mat *W, size_t M, int sgemm) {
    if (M == 0 || W->rows == 0) return;
    gf_product p = {W, out, NULL, 0};
    if (sgemm) sgemm_product(out, x, W, NULL, M);
    else own_products(x, M, &p, 1, NULL);
}

void gf_block_diag(float *out, const float *x, const gf_mat *W, const float *bias, size_t M,
                   size_t H, size_t bw, float *scratch) {
    size_t L = H * bw;
    /* On AVX-512 the gemv kernels at any M, as in gf_linear: OpenBLAS called
     * between the layers' OpenMP regions competed for the two cores with the
     * idle OpenMP thread still spinning, and this one change made a batch-256
     * Hawk decode step 1.9x and an F32 prefill of 512 tokens 1.1-1.4x faster
     * (with the pthreads OpenBLAS of the time). */
    if (W->blocks_t && (M < GF_SGEMM_MIN_ROWS || gf_cpu_isa() == GF_ISA_AVX512)) {
        gf_isa isa = gf_cpu_isa();
        size_t groups = (bw + 3) / 4, jobs = H * groups;
        int par = L * bw * M >= GF_PAR_MIN_WORK;
        /* every (block, 4 output rows) pair is one job */
#pragma omp parallel for if (par) schedule(static)
        for (size_t job = 0; job < jobs; job++) {
            size_t h = job / groups, j0 = job % groups * 4, j1 = j0 + 4 < bw ? j0 + 4 : bw;
            gf_mat blk = {GF_W_F32, W->blocks_t + h * bw * bw, NULL, bw, bw, NULL, NULL, NULL};
            gf_gemv_rows(isa, &blk, x + h * bw, L, M, out + h * bw, L, j0, j1);
        }
        if (bias) add_bias(out, bias, M, L);
        return;
    }
    for (size_t h = 0; h < H; h++) {
        const float *w = (const float *)W->data + h * bw * bw;
        if (W->type != GF_W_F32) {
            gf_dequantize_rows(W, h * bw, (h + 1) * bw, scratch);
            w = scratch;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)bw, (int)bw, 1.0f,
                    x + h * bw, (int)L, w, (int)bw, 0.0f, out + h * bw, (int)L);
    }
    if (bias) add_bias(out, bias, M, L);
}

void gf_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                        const float *W, size_t M, size_t N, size_t K, int dx_accumulate) {
    if (M == 0 || N == 0 || K == 0) return;
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1.0f, dy,
                    (int)N, W, (int)K, dx_accumulate ? 1.0f : 0.0f, dx, (int)K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1.0f, dy, (int)N,
                x, (int)K, 1.0f, dW, (int)K);
    if (db)
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) db[n] += dy[m * N + n];
}

void gf_block_diag_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                            const float *W, size_t M, size_t H, size_t bw) {
    size_t L = H * bw;
    for (size_t h = 0; h < H; h++) {
        const float *w = W + h * bw * bw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)bw, (int)bw, 1.0f,
                    dy + h * bw, (int)L, w, (int)bw, 1.0f, dx + h * bw, (int)L);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)bw, (int)bw, (int)M, 1.0f,
                    x + h * bw, (int)L, dy + h * bw, (int)L, 1.0f, dW + h * bw * bw, (int)bw);
    }
    for (size_t m = 0; m < M; m++)
        for (size_t j = 0; j < L; j++) db[j] += dy[m * L + j];
}
