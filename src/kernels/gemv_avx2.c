/* AVX2 + FMA small-batch products, for x86-64 CPUs without AVX-512 (and the
 * avx2 kernel sets of those with it). 16 registers of 8 floats shape the
 * plan:
 *
 * - One input row (decode at batch 1): one weight row at a time, front to
 *   back, so the matrix is read as a single stream the hardware prefetcher
 *   keeps ahead of, with four independent sums per row (one FMA chain would
 *   stall on its latency, 4 cycles, where memory delivers a vector in
 *   about one).
 * - Several input rows: tiles of up to 4 input rows x 3 weight rows, 12
 *   sums, 3 widened weight vectors and the input vector in the 16
 *   registers: each weight vector is loaded (and for BF16 / F16 / Q8 / Q4
 *   widened) once per tile and meets 4 inputs, 7 loads to 12 FMAs. The
 *   tiles of a row block run back to back, and each prefetches its share
 *   of the next block's rows, so that memory and arithmetic overlap.
 *
 * A short last block goes through the scalar element reader (AVX2 has no
 * byte-masked loads). */
#include "gemv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

/* Q8 / Q4: block kb's scale of row r in every lane (unused otherwise). */
INL __m256 block_scale(const gf_wtype t, const gf_mat *W, size_t r, size_t kb) {
    if (t != GF_W_Q8 && t != GF_W_Q4) return _mm256_setzero_ps();
    return _mm256_set1_ps(_cvtsh_ss(W->scale[r * gf_q_nblocks(W->cols) + kb]));
}

/* Columns 32 kb + 8 q .. + 7 of row r as floats; d: block_scale's. */
INL __m256 load_quarter(const gf_wtype t, const gf_mat *W, size_t r, size_t kb, int q, __m256 d) {
    size_t K = W->cols, k = kb * GF_QBLOCK + 8 * (size_t)q;
    switch (t) {
    case GF_W_F32: return _mm256_loadu_ps((const float *)W->data + r * K + k);
    case GF_W_BF16: {
        __m128i a = _mm_loadu_si128((const __m128i *)((const uint16_t *)W->data + r * K + k));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(a), 16));
    }
    case GF_W_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)W->data + r * K + k)));
    case GF_W_Q8: {
        __m128i a = _mm_loadl_epi64((const __m128i *)((const int8_t *)W->data + r * K + k));
        return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(a)));
    }
    case GF_W_Q4: {
        __m128i b = _mm_loadu_si128((const __m128i *)((const uint8_t *)W->data + r * gf_q4_row_bytes(K) + kb * 16));
        if (q & 1) b = _mm_srli_si128(b, 8);
        __m256i v = _mm256_cvtepu8_epi32(b);
        v = q < 2 ? _mm256_and_si256(v, _mm256_set1_epi32(15)) : _mm256_srli_epi32(v, 4);
        return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(v, _mm256_set1_epi32(8))));
    }
    case GF_W_COUNT: break;
    }
    return _mm256_setzero_ps();
}

INL float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* sum_k x[k] W[r, k] for columns past the last full block. */
static inline float tail(const gf_mat *W, size_t r, const float *x) {
    size_t K = W->cols;
    float s = 0.0f;
    for (size_t k = K / GF_QBLOCK * GF_QBLOCK; k < K; k++) s += x[k] * gf_mat_at(W, r, k);
    return s;
}

/* out[r] for one input row: the row's quarters into four sums. */
INL void one_row(const gf_wtype t, const gf_mat *W, size_t r, const float *x, float *out) {
    size_t nfull = W->cols / GF_QBLOCK;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t kb = 0; kb < nfull; kb++) {
        __m256 d = block_scale(t, W, r, kb);
        for (int q = 0; q < 4; q++)
            acc[q] = _mm256_fmadd_ps(_mm256_loadu_ps(x + kb * GF_QBLOCK + 8 * (size_t)q),
                                     load_quarter(t, W, r, kb, q, d), acc[q]);
    }
    out[r] = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) + tail(W, r, x);
}

/* out[i * ldo + r + j] for i < MT, j < NT. The next NT rows are prefetched
 * a share at a time: blocks kb = pf_phase (mod pf_period) here, each tile
 * of the row block taking its turn (pf_period 0: none). */
INL void tile(const gf_wtype t, const int MT, const int NT, const gf_mat *W, size_t r, const float *x,
              size_t ldx, float *out, size_t ldo, size_t pf_phase, size_t pf_period) {
    size_t nfull = W->cols / GF_QBLOCK;
    __m256 acc[4][3];
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) acc[i][j] = _mm256_setzero_ps();
    for (size_t kb = 0; kb < nfull; kb++) {
        if (pf_period && kb % pf_period == pf_phase)
            for (int j = 0; j < NT; j++) gf_prefetch_block(t, W, r + (size_t)(NT + j), kb);
        __m256 d[3];
        for (int j = 0; j < NT; j++) d[j] = block_scale(t, W, r + (size_t)j, kb);
        for (int q = 0; q < 4; q++) {
            __m256 w[3];
            for (int j = 0; j < NT; j++) {
                w[j] = load_quarter(t, W, r + (size_t)j, kb, q, d[j]);
                /* opaque to the compiler, so the widened weights stay in
                 * registers for the MT inputs instead of being reloaded
                 * (and re-widened) at every FMA */
                __asm__("" : "+x"(w[j]));
            }
            for (int i = 0; i < MT; i++) {
                __m256 xv = _mm256_loadu_ps(x + (size_t)i * ldx + kb * GF_QBLOCK + 8 * (size_t)q);
                for (int j = 0; j < NT; j++) acc[i][j] = _mm256_fmadd_ps(xv, w[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++)
            out[(size_t)i * ldo + r + (size_t)j] = hsum(acc[i][j]) + tail(W, r + (size_t)j, x + (size_t)i * ldx);
}

/* One row block (NT rows from r) against every input row, 4 at a time. */
INL void block_rows(const gf_wtype t, const int NT, const gf_mat *W, size_t r, const float *x, size_t ldx,
                    size_t M, float *out, size_t ldo) {
    size_t groups = (M + 3) / 4, m = 0;
#define TILE(MT) tile(t, MT, NT, W, r, x + m * ldx, ldx, out + m * ldo, ldo, m / 4, groups)
    for (; m + 4 <= M; m += 4) TILE(4);
    switch (M - m) {
    case 3: TILE(3); break;
    case 2: TILE(2); break;
    case 1: TILE(1); break;
    }
#undef TILE
}

INL void rows_of(const gf_wtype t, const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                 size_t ldo, size_t r0, size_t r1) {
    if (M == 1) {
        for (size_t r = r0; r < r1; r++) one_row(t, W, r, x, out);
        return;
    }
    size_t r = r0;
    for (; r + 3 <= r1; r += 3) block_rows(t, 3, W, r, x, ldx, M, out, ldo);
    for (; r < r1; r++) block_rows(t, 1, W, r, x, ldx, M, out, ldo);
}

GF_GEMV_ENTRY(gf_gemv_rows_avx2, TGT)

/* ---- Many input rows (prefill, large batches): panels -------------------
 * A thread widens 16 weight rows at a time into a panel of floats stored
 * column by column, panel[16 k + j] = W[n0 + j, k] (zeros past the last
 * row), then runs a 6 x 16 register kernel over it: per column k, the
 * panel's 16 values are two vector loads and each of 6 input rows one
 * broadcast, for 12 FMAs into 12 sums (6 rows x 16 outputs), 8 loads to
 * 12 FMAs, the shape sgemm kernels for AVX2 use. The weights are read and
 * widened once per panel whatever M is, and the panel (64 KiB at K = 1024)
 * stays in L2 while every input row meets it. */

/* Transposes the 8 x 8 floats in r[0..7] (row i in r[i]) in place. */
INL void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* Rows [n0, n0 + nr) of W (nr <= 16) into panel[16 K]. */
INL void build_panel(const gf_wtype t, const gf_mat *W, size_t n0, size_t nr, float *panel) {
    size_t K = W->cols, nfull = K / GF_QBLOCK;
    for (size_t kb = 0; kb < nfull; kb++)
        for (int h = 0; h < 2; h++) { /* rows 8h .. 8h + 7 */
            /* the next panel's rows, while this one's are widened and then
             * meet the inputs */
            for (int j = 0; j < 8; j++) gf_prefetch_block(t, W, n0 + 16 + (size_t)(8 * h + j), kb);
            __m256 d[8];
            for (int j = 0; j < 8; j++)
                d[j] = (size_t)(8 * h + j) < nr ? block_scale(t, W, n0 + (size_t)(8 * h + j), kb) : _mm256_setzero_ps();
            for (int q = 0; q < 4; q++) {
                __m256 v[8];
                for (int j = 0; j < 8; j++)
                    v[j] = (size_t)(8 * h + j) < nr ? load_quarter(t, W, n0 + (size_t)(8 * h + j), kb, q, d[j])
                                                   : _mm256_setzero_ps();
                transpose8(v);
                float *p = panel + (kb * GF_QBLOCK + 8 * (size_t)q) * 16 + 8 * (size_t)h;
                for (int c = 0; c < 8; c++) _mm256_storeu_ps(p + 16 * (size_t)c, v[c]);
            }
        }
    for (size_t k = nfull * GF_QBLOCK; k < K; k++)
        for (size_t j = 0; j < 16; j++) panel[k * 16 + j] = j < nr ? gf_mat_at(W, n0 + j, k) : 0.0f;
}

/* out[i * ldo + j] (j < nr) = sum_k x[i * ldx + k] panel[16 k + j], i < MT.
 * The 12 sums are named variables: as an array GCC kept them in memory. */
INL void panel_tile(const int MT, const float *panel, size_t K, const float *x, size_t ldx, float *out, size_t ldo,
                    size_t nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
           c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx, *x4 = x + 4 * ldx, *x5 = x + 5 * ldx;
#define ROW(i)                                                                                                 \
    if (MT > i) {                                                                                              \
        __m256 a = _mm256_broadcast_ss(x##i + k);                                                              \
        c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0);                                                             \
        c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);                                                             \
    }
    for (size_t k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(panel + 16 * k), b1 = _mm256_loadu_ps(panel + 16 * k + 8);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
    }
#undef ROW
    __m256 sums[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int i = 0; i < MT; i++) {
        float *o = out + (size_t)i * ldo;
        if (nr == 16) {
            _mm256_storeu_ps(o, sums[i][0]);
            _mm256_storeu_ps(o + 8, sums[i][1]);
        } else {
            float v[16];
            _mm256_storeu_ps(v, sums[i][0]);
            _mm256_storeu_ps(v + 8, sums[i][1]);
            for (size_t j = 0; j < nr; j++) o[j] = v[j];
        }
    }
}

INL void panel_rows_of(const gf_wtype t, const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                       size_t ldo, size_t r0, size_t r1, float *panel) {
    size_t K = W->cols;
    for (size_t n0 = r0; n0 < r1; n0 += 16) {
        size_t nr = r1 - n0 < 16 ? r1 - n0 : 16, m = 0;
        build_panel(t, W, n0, nr, panel);
        for (; m + 6 <= M; m += 6) panel_tile(6, panel, K, x + m * ldx, ldx, out + m * ldo + n0, ldo, nr);
        switch (M - m) {
        case 5: panel_tile(5, panel, K, x + m * ldx, ldx, out + m * ldo + n0, ldo, nr); break;
        case 4: panel_tile(4, panel, K, x + m * ldx, ldx, out + m * ldo + n0, ldo, nr); break;
        case 3: panel_tile(3, panel, K, x + m * ldx, ldx, out + m * ldo + n0, ldo, nr); break;
        case 2: panel_tile(2, panel, K, x + m * ldx, ldx, out + m * ldo + n0, ldo, nr); break;
        case 1: panel_tile(1, panel, K, x + m * ldx, ldx, out + m * ldo + n0, ldo, nr); break;
        }
    }
}

#define PANEL_ENTRY(suffix, type)                                                                        \
    static TGT void panel_##suffix(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,  \
                                   size_t ldo, size_t r0, size_t r1, float *panel) {                   \
        panel_rows_of(type, W, x, ldx, M, out, ldo, r0, r1, panel);                                     \
    }
PANEL_ENTRY(f32, GF_W_F32)
PANEL_ENTRY(bf16, GF_W_BF16)
PANEL_ENTRY(f16, GF_W_F16)
PANEL_ENTRY(q8, GF_W_Q8)
PANEL_ENTRY(q4, GF_W_Q4)
#undef PANEL_ENTRY

void gf_gemm_rows_avx2(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out, size_t ldo, size_t r0,
                       size_t r1, float *panel) {
    static void (*const by_type[GF_W_COUNT])(const gf_mat *, const float *, size_t, size_t, float *, size_t, size_t,
                                             size_t, float *) = {panel_f32, panel_bf16, panel_f16, panel_q8, panel_q4};
    by_type[W->type](W, x, ldx, M, out, ldo, r0, r1, panel);
}

#else
void gf_gemv_rows_avx2(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                       size_t ldo, size_t r0, size_t r1) {
    gf_gemv_rows_scalar(W, x, ldx, M, out, ldo, r0, r1);
}
void gf_gemm_rows_avx2(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out, size_t ldo, size_t r0,
                       size_t r1, float *panel) {
    (void)panel;
    gf_gemv_rows_scalar(W, x, ldx, M, out, ldo, r0, r1);
}
#endif
