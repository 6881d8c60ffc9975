/* Small-batch matrix products that stream each weight row once for all M
 * input rows: the decode step's products (M = the batch) and, for quantised
 * weights, every product. One scalar twin and SIMD versions (AVX2, AVX-512)
 * for every weight type; tests compare each SIMD version with the twin. */
#ifndef GF_GEMV_H
#define GF_GEMV_H

#include "cpu.h"
#include "kernels.h"


/* out[m * ldo + r] = sum_k x[m * ldx + k] * W[r, k] for m < M and
 * r0 <= r < r1: rows [r0, r1) of one thread's share. W of any type. */
void gf_gemv_rows(gf_isa isa, const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                  size_t ldo, size_t r0, size_t r1);

/* The three implementations behind it. */
void gf_gemv_rows_scalar(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                         size_t ldo, size_t r0, size_t r1);
void gf_gemv_rows_avx2(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                       size_t ldo, size_t r0, size_t r1);
void gf_gemv_rows_avx512(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                         size_t ldo, size_t r0, size_t r1);

/* The same product for many input rows on AVX2 (prefill, large batches):
 * W's rows widened 16 at a time into panel (gf_gemm_panel_floats(K) floats
 * of the caller's, 32-byte aligned) and met by a 6 x 16 register kernel. */
void gf_gemm_rows_avx2(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out, size_t ldo, size_t r0,
                       size_t r1, float *panel);
static inline size_t gf_gemm_panel_floats(size_t K) { return 16 * K; }

/* Defines `name`, an entry point of the gf_gemv_rows_* signature, over a
 * file's own `rows_of(type, ...)`: one instance per weight type (compiled
 * with the file's target attribute, so the type is a constant inside) and a
 * table that picks the instance for W->type. */
#define GF_GEMV_ENTRY(name, attr)                                                                  \
    static attr void name##_f32(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out, \
                                size_t ldo, size_t r0, size_t r1) {                                \
        rows_of(GF_W_F32, W, x, ldx, M, out, ldo, r0, r1);                                         \
    }                                                                                              \
    static attr void name##_bf16(const gf_mat *W, const float *x, size_t ldx, size_t M,            \
                                 float *out, size_t ldo, size_t r0, size_t r1) {                   \
        rows_of(GF_W_BF16, W, x, ldx, M, out, ldo, r0, r1);                                        \
    }                                                                                              \
    static attr void name##_f16(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out, \
                                size_t ldo, size_t r0, size_t r1) {                                \
        rows_of(GF_W_F16, W, x, ldx, M, out, ldo, r0, r1);                                         \
    }                                                                                              \
    static attr void name##_q8(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,  \
                               size_t ldo, size_t r0, size_t r1) {                                 \
        rows_of(GF_W_Q8, W, x, ldx, M, out, ldo, r0, r1);                                          \
    }                                                                                              \
    static attr void name##_q4(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,  \
                               size_t ldo, size_t r0, size_t r1) {                                 \
        rows_of(GF_W_Q4, W, x, ldx, M, out, ldo, r0, r1);                                          \
    }                                                                                              \
    void name(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out, size_t ldo,       \
              size_t r0, size_t r1) {                                                              \
        static void (*const by_type[GF_W_COUNT])(const gf_mat *, const float *, size_t, size_t,    \
                                                 float *, size_t, size_t, size_t) = {              \
            name##_f32, name##_bf16, name##_f16, name##_q8, name##_q4};                            \
        by_type[W->type](W, x, ldx, M, out, ldo, r0, r1);                                          \
    }

/* The AVX-512 kernels' walk over output rows [r0, r1) x input rows [0, M):
 * tiles of 4 x 4 where they fit, narrower at the ends, each done by
 * TILE(MT, NT, r, m) (MT input rows from m, NT weight rows from r) with MT
 * and NT constants, so that a kernel's always-inline tile is compiled once
 * per shape. The tiles of one row block run back to back: its weights come
 * from memory for the first and from cache for the others. */
#define GF_EACH_TILE(r0, r1, M, TILE)                                                              \
    do {                                                                                           \
        size_t r_ = (r0);                                                                          \
        for (; r_ + 4 <= (r1); r_ += 4) GF_TILE_ROW_(4, r_, M, TILE);                              \
        for (; r_ < (r1); r_++) GF_TILE_ROW_(1, r_, M, TILE);                                      \
    } while (0)
#define GF_TILE_ROW_(NT, r, M, TILE)                                                               \
    do {                                                                                           \
        size_t m_ = 0;                                                                             \
        for (; m_ + 4 <= (M); m_ += 4) TILE(4, NT, r, m_);                                         \
        switch ((M) - m_) {                                                                        \
        case 3: TILE(3, NT, r, m_); break;                                                         \
        case 2: TILE(2, NT, r, m_); break;                                                         \
        case 1: TILE(1, NT, r, m_); break;                                                         \
        }                                                                                          \
    } while (0)

/* Rows [r0, r1) of W as float, out[(r - r0) * cols + k]. */
void gf_dequantize_rows(const gf_mat *W, size_t r0, size_t r1, float *out);



#include "quant.h"
#include "util.h"

/* One element of W as float (the SIMD versions' short tails). */
static inline float gf_mat_at(const gf_mat *W, size_t r, size_t k) {
    size_t K = W->cols;
    switch (W->type) {
    case GF_W_F32: return ((const float *)W->data)[r * K + k];
    case GF_W_BF16: return gf_bf16_to_f32(((const uint16_t *)W->data)[r * K + k]);
    case GF_W_F16: return gf_f16_to_f32(((const uint16_t *)W->data)[r * K + k]);
    case GF_W_Q8:
        return gf_f16_to_f32(W->scale[r * gf_q_nblocks(K) + k / GF_QBLOCK]) *
               (float)((const int8_t *)W->data)[r * K + k];
    case GF_W_Q4: {
        size_t b = k / GF_QBLOCK, j = k % GF_QBLOCK;
        uint8_t byte = ((const uint8_t *)W->data)[r * gf_q4_row_bytes(K) + b * 16 + j % 16];
        int nib = j < 16 ? byte & 15 : byte >> 4;
        return gf_f16_to_f32(W->scale[r * gf_q_nblocks(K) + b]) * (float)(nib - 8);
    }
    case GF_W_COUNT: break;
    }
    return 0.0f;
}
/* Asks for the cache lines of block kb (32 columns) of row r ahead of use,
 * and for Q8 / Q4 its scale: the next tile's rows are fetched while this
 * tile computes, so memory and arithmetic overlap (the hardware prefetcher
 * alone left Q4's decode well short of the bandwidth). One request per
 * cache line, at the block whose bytes start it; into L2 (locality 2,
 * prefetcht1 on x86): into L1, the F32 batch-16 step of the bench's model
 * was 7 % slower on the 2-core Xeon with AMX (97.6-97.8 against 89.8-91.0
 * ms). Used by the AVX2 and AVX-512 kernels. */
static inline __attribute__((always_inline)) void gf_prefetch_block(const gf_wtype t, const gf_mat *W, size_t r,
                                                                    size_t kb) {
    if (r >= W->rows) return;
    size_t K = W->cols, bytes;
    const char *p;
    switch (t) {
    case GF_W_F32: p = (const char *)W->data + (r * K + kb * GF_QBLOCK) * 4; bytes = 128; break;
    case GF_W_BF16:
    case GF_W_F16: p = (const char *)W->data + (r * K + kb * GF_QBLOCK) * 2; bytes = 64; break;
    case GF_W_Q8: p = (const char *)W->data + r * K + kb * GF_QBLOCK; bytes = 32; break;
    case GF_W_Q4: p = (const char *)W->data + r * gf_q4_row_bytes(K) + kb * 16; bytes = 16; break;
    default: return;
    }
    for (size_t o = 0; o < bytes; o += 64)
        if (((uintptr_t)(p + o) & 63) < (bytes < 64 ? bytes : 64)) __builtin_prefetch(p + o, 0, 2);
    if (t == GF_W_Q8 || t == GF_W_Q4) {
        const char *sp = (const char *)(W->scale + r * gf_q_nblocks(K) + kb);
        if (((uintptr_t)sp & 63) < 2) __builtin_prefetch(sp, 0, 2);
    }
}
#endif
