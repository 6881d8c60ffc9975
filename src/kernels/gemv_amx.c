/* AMX products for batches and prefill: Intel's tile unit multiplies a
 * 16 x 64-byte tile of int8 (or 16 x 32 bfloat16) by another in one
 * instruction, 16 x 16 x 64 multiply-adds, where AVX512-VNNI's vpdpbusd does
 * 64. Measured on one core of the 2-core Xeon this was written on, in
 * register-only loops: 1.7 T int8 multiply-adds a second on a 32-column block
 * (3.6 T on 64 columns) against VNNI's 0.45 T; 3.5 TFLOP/s of bfloat16
 * against vdpbf16ps's 0.12.
 *
 * Q8 / Q4 (actq.h): C[16 inputs, 16 weight rows] = A x B with A the inputs'
 * int8 codes of one 32-column block (16 rows x 32 bytes, read in place) and B
 * that block of a packed group (quant.h): its 8 chunks of 16 rows x 4 columns
 * are the tile unit's B layout already (a row of B is 4 consecutive columns
 * for each of 16 outputs). A group's codes are first copied without their
 * zero code (Q8 - 128, nibble - 8) once for all the inputs, so that each C
 * tile starts from zero and tdpbssd's sums are the signed ones. Every block
 * has its own scales, so every block's C tile is stored and its rows take the
 * VNNI kernel's float steps, in the same order: convert, times (weight scales
 * x input scale), added. The integer sums being exact, the results equal the
 * VNNI kernel's bit for bit. That store and those steps, not the tile
 * unit, bound the kernel: on the bench's 412M Q4 model a batch-16 step went
 * from 23.5-24.1 to 18.9-19.9 ms; Q8 (twice the codes to copy) gained
 * nothing, and gf_gemv_actq_rows takes this kernel for Q4 only.
 *
 * BF16 (gemv_bf16x.c's rounded inputs): C[16 weight rows, 16 inputs] = A x B
 * with A 16 weight rows x 32 columns read in place (row-major, as stored)
 * and B the inputs in the tile unit's pair order (a row of B is 2 consecutive
 * columns for each of 16 inputs), made once per call. There are no block
 * scales, so C sums the whole row; it is stored once and transposed into
 * the output. The tile unit's own order and rounding of the float sums
 * differ from vdpbf16ps's, so the results match the scalar twin within
 * rounding, not bit for bit. A BF16 batch-16 step of the 412M model went
 * from 89.8 to 39.5 ms, its prefill of 512 tokens from 0.89 to 0.22 s.
 *
 * Linux hands the tile registers to a process only when it asks
 * (arch_prctl ARCH_REQ_XCOMP_PERM); cpu.c asks once. The
 * environment variable GRIFFIN_AMX=0 turns these kernels off (for
 * comparisons). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actq.h"
#include "cpu.h"
#include "gemv.h"
#include "quant.h"

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <immintrin.h>

#define TGT                                                                                                  \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx2,fma,f16c,gfni,amx-tile," \
                          "amx-int8,amx-bf16")))

/* The tile configuration (palette 1): colsb[i] bytes in each of rows[i]
 * rows of tile i. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

static TGT void set_tile(tile_config *c, int i, int rows, int colsb) {
    c->rows[i] = (uint8_t)rows;
    c->colsb[i] = (uint16_t)colsb;
}

/* ---- Q8 / Q4 ---- */

/* One block of a group's codes as signed bytes (Q8 - 128, Q4's nibbles -
 * 8) in the tile unit's B order, 8 rows of 64 bytes: the packed order
 * already is that one, so this only takes away the zero code, and a C tile
 * can start from zero (tdpbssd) instead of being loaded with the inputs'
 * corrections, a tile load of 16 rows a block on the tile unit. */
static inline __attribute__((always_inline)) TGT void signed_block(const gf_wtype t, const uint8_t *p, int8_t *o) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    /* A nibble v less 8, sign-extended, is bit-linear in v: bits 0-2 are
     * v's, bits 3-7 all NOT v's bit 3. So one GFNI affine transform (an 8 x 8
     * bit matrix per byte, plus a constant) does the shift, mask and
     * subtraction of each half: 2 instructions for 64 bytes where and /
     * shift / subtract took 5; this copy had been a fifth of the kernel. */
    const __m512i lo = _mm512_set1_epi64(0x0102040808080808ll), hi = _mm512_set1_epi64(0x1020408080808080ll);
    if (t == GF_W_Q8) {
        for (int c = 0; c < 8; c++)
            _mm512_store_si512(o + 64 * c, _mm512_xor_si512(_mm512_loadu_si512(p + 64 * c), bias));
    } else {
        for (int c = 0; c < 4; c++) {
            __m512i v = _mm512_loadu_si512(p + 64 * c);
            _mm512_store_si512(o + 64 * c, _mm512_gf2p8affine_epi64_epi8(v, lo, 0xf8));
            _mm512_store_si512(o + 64 * (4 + c), _mm512_gf2p8affine_epi64_epi8(v, hi, 0xf8));
        }
    }
}

/* Group g's blocks so, block b at s + 512 b. */
static TGT void signed_group(const gf_wtype t, const gf_mat *W, size_t g, int8_t *s) {
    size_t nb = gf_q_nblocks(W->cols), piece = GF_QPACK_BYTES(t);
    const uint8_t *src = W->packed + g * nb * piece;
    for (size_t b = 0; b < nb; b++) signed_block(t, src + b * piece, s + b * 512);
}

/* The 16 accumulators as named variables: an array of them was kept on the
 * stack, a load and a store more per row and block. */
#define EACH16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* acc_i += block b's sums of input row i (c: 16 x 16 int32) x (weight
 * scales x the input's scale), as the VNNI kernel does. */
#define ROW_SUM(i)                                                                                            \
    {                                                                                                         \
        float dx;                                                                                             \
        memcpy(&dx, qa + (size_t)(i) * rb + dxo + 4 * bb, 4);                                                \
        acc##i = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cc + 16 * (i))),                      \
                                 _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc##i);                              \
    }
#define BLOCK_SUMS(c, b)                                                                                      \
    do {                                                                                                      \
        const int32_t *cc = (c);                                                                              \
        size_t bb = (b);                                                                                      \
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ws + bb * GF_QPACK_ROWS)));         \
        EACH16(ROW_SUM)                                                                                       \
    } while (0)

/* Block b: C tile tc from zero plus A (16 inputs' codes, tile ta) x B (the
 * group's signed codes, tile tb), and a share of the prefetches of the
 * group PF_AHEAD on: its codes a block at a time, its scales over the
 * first blocks. Tile numbers must be literals. The zeros are loaded from
 * memory: in a loop of products alone, tilezero before each cost 3x the
 * product (15.5 against 4.9 ns) where a load of 16 zero rows from L1 cost
 * nothing measurable (in this kernel the two were within noise). */
#define ISSUE(ta, tb, tc, b)                                                                   \
    do {                                                                                       \
        if (pf) {                                                                              \
            for (size_t a_ = 0; a_ < piece; a_ += 64) _mm_prefetch(pf + (b) * piece + a_, _MM_HINT_T1); \
            if ((b) * 64 < scale_bytes) _mm_prefetch(pfs + (b) * 64, _MM_HINT_T1);           \
        }                                                                                      \
        _tile_loadd(tc, zeros, 64);                                                            \
        _tile_loadd(ta, qa + 32 * (b), rb);                                                    \
        _tile_loadd(tb, ws8 + 512 * (src ? (b) & (RING - 1) : (b)), 64);                      \
        _tile_dpbssd(tc, ta, tb);                                                              \
    } while (0)

/* How many groups ahead the codes are prefetched: while a group's tiles
 * run, the vector units read its codes once (to make them signed). Into L2
 * (T1): into L1 the batch-16 step was 5 % slower. */
#define PF_AHEAD 2

/* For 16 inputs or fewer (one pass over the group), its signed codes are
 * made a few blocks ahead of the tiles in a ring of RING blocks (4 KiB):
 * made whole before the tiles, 16 KiB at K = 1024, they had pushed the
 * tiles' own data out of L1 (48 KiB here, with the inputs' 20 KiB). */
#define RING 8
#define RING_AHEAD 4

/* One step of the pipeline at block b (b = 4 k + j, the tiles of phase j):
 * block b is issued, block b - 2's sums are stored, block b - 3's scaled.
 * Blocks alternate between two A and two B tiles and rotate through four C
 * tiles and four buffers, so no tile is loaded while an instruction that
 * reads it may still run, and the sums are read a step after the tile
 * unit stored them (read at once, the loads waited on the stores). */
#define STEP(ta, tb, tc, ts, b)                                                \
    do {                                                                       \
        if (src && (b) + RING_AHEAD < nb)                                      \
            signed_block(t, src + ((b) + RING_AHEAD) * piece, ws8 + 512 * (((b) + RING_AHEAD) & (RING - 1))); \
        if ((b) < nb) ISSUE(ta, tb, tc, b);                                    \
        if ((b) >= 2 && (b) - 2 < nb) _tile_stored(ts, c[((b) - 2) & 3], 64);  \
        if ((b) >= 3 && (b) - 3 < nb) BLOCK_SUMS(c[((b) - 3) & 3], (b) - 3);   \
    } while (0)

/* Input rows [0, 16) of qa (16 rows, rb bytes apart) against group g
 * (signed codes ws8 in B order), into out rows [0, mr), columns [r0, r1)
 * of the group; pf, pfs: the codes and scales to prefetch, or NULL. With
 * src (the group's packed codes), ws8 is a ring of RING blocks that the
 * loop fills RING_AHEAD blocks ahead of the tiles; without, it holds the
 * whole group, made signed before. */
static TGT void actq_tile(const gf_wtype t, const gf_mat *W, size_t g, int8_t *ws8, const uint8_t *src,
                          const uint8_t *qa, size_t rb, size_t mr, float *out, size_t ldo, size_t r0, size_t r1,
                          const char *pf, const char *pfs) {
    size_t K = W->cols, nb = gf_q_nblocks(K), dxo = gf_actq_dx_offset(K), piece = GF_QPACK_BYTES(t);
    size_t scale_bytes = nb * GF_QPACK_ROWS * sizeof(uint16_t);
    const uint16_t *ws = W->packed_scale + g * nb * GF_QPACK_ROWS;
    int32_t c[4][256] __attribute__((aligned(64)));
    static const int32_t zeros[256] __attribute__((aligned(64)));
#define ZERO(i) __m512 acc##i = _mm512_setzero_ps();
    EACH16(ZERO)
#undef ZERO
    if (src)
        for (size_t b = 0; b < RING_AHEAD && b < nb; b++) signed_block(t, src + b * piece, ws8 + 512 * b);
    for (size_t b = 0; b < nb + 3; b += 4) {
        STEP(0, 2, 4, 6, b);
        STEP(1, 3, 5, 7, b + 1);
        STEP(0, 2, 6, 4, b + 2);
        STEP(1, 3, 7, 5, b + 3);
    }
    __m512 acc[16] = {acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11, acc12, acc13, acc14, acc15};
    size_t r = g * GF_QPACK_ROWS;
    unsigned hi = r + 16 <= r1 ? 16 : (unsigned)(r1 - r), lo = r0 > r ? (unsigned)(r0 - r) : 0;
    __mmask16 k = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
    for (size_t i = 0; i < mr; i++) _mm512_mask_storeu_ps(out + i * ldo + r, k, acc[i]);
}

/* Prefetches group g's codes and scales (the first groups of a call; the
 * tiles ask for the later ones as they go). */
static TGT void prefetch_group(const gf_wtype t, const gf_mat *W, size_t g) {
    size_t nb = gf_q_nblocks(W->cols), stride = nb * GF_QPACK_BYTES(t);
    const char *c = (const char *)(W->packed + g * stride);
    for (size_t a = 0; a < stride; a += 64) _mm_prefetch(c + a, _MM_HINT_T0);
    const char *sc = (const char *)(W->packed_scale + g * nb * GF_QPACK_ROWS);
    for (size_t a = 0; a < nb * GF_QPACK_ROWS * sizeof(uint16_t); a += 64) _mm_prefetch(sc + a, _MM_HINT_T0);
}

/* work: the group's signed codes (nb x 512 bytes), then the last inputs
 * padded to 16 rows. */
static TGT void actq_rows(const gf_wtype t, const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                          size_t r0, size_t r1, uint8_t *work) {
    size_t K = W->cols, nb = gf_q_nblocks(K), rb = gf_actq_row_bytes(K), stride = nb * GF_QPACK_BYTES(t);
    size_t g0 = r0 / GF_QPACK_ROWS, g1 = gf_q_groups(r1), full = M / 16 * 16;
    int8_t *ws8 = (int8_t *)work;
    uint8_t *qpad = work + nb * 512;
    if (full < M) { /* the last inputs, padded with zero rows (codes and scales 0) */
        memset(qpad, 0, 16 * rb);
        memcpy(qpad, q + full * rb, (M - full) * rb);
    }
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 2; i++) {
        set_tile(&cfg, i, 16, 32);    /* A: 16 inputs x one block's codes */
        set_tile(&cfg, 2 + i, 8, 64); /* B: 8 rows of 4 columns x 16 weight rows */
    }
    for (int i = 4; i < 8; i++) set_tile(&cfg, i, 16, 64); /* C: 16 x 16 int32 */
    _tile_loadconfig(&cfg);
    for (size_t g = g0; g < g0 + PF_AHEAD && g < g1; g++) prefetch_group(t, W, g);
    int ring = M <= 16;
    for (size_t g = g0; g < g1; g++) {
        const uint8_t *src = ring ? W->packed + g * stride : NULL;
        if (!ring) signed_group(t, W, g, ws8);
        const char *pf = NULL, *pfs = NULL;
        if (g + PF_AHEAD < g1) {
            pf = (const char *)(W->packed + (g + PF_AHEAD) * stride);
            pfs = (const char *)(W->packed_scale + (g + PF_AHEAD) * nb * GF_QPACK_ROWS);
        }
        for (size_t m = 0; m < M; m += 16) {
            const uint8_t *qa = m < full ? q + m * rb : qpad;
            actq_tile(t, W, g, ws8, src, qa, rb, M - m < 16 ? M - m : 16, out + m * ldo, ldo, r0, r1, m ? NULL : pf,
                      m ? NULL : pfs);
        }
    }
    _tile_release();
}

void gf_gemv_actq_rows_amx(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                           size_t r1) {
    size_t K = W->cols, nb = gf_q_nblocks(K), rb = gf_actq_row_bytes(K);
    /* without the memory for the work, the VNNI kernel */
    uint8_t *work = gf_cpu_has_amx() ? aligned_alloc(64, nb * 512 + (16 * rb + 63) / 64 * 64) : NULL;
    if (!work) {
        gf_gemv_actq_rows_vnni(W, q, M, out, ldo, r0, r1);
        return;
    }
    actq_rows(W->type, W, q, M, out, ldo, r0, r1, work);
    free(work);
}

/* ---- BF16 ---- */

/* Inputs [m0, m0 + 16) of xb (rows of Kp values, zero rows past M) in pair
 * order: block b's 16 rows of 16 pairs at p + 256 b (uint32 units). */
static TGT void pair_order(const uint16_t *xb, size_t Kp, size_t M, size_t m0, uint32_t *p) {
    size_t nb = Kp / 32;
    for (size_t b = 0; b < nb; b++)
        for (size_t i = 0; i < 16; i++) {
            uint32_t *o = p + 256 * b + i;
            if (m0 + i >= M) {
                for (int kk = 0; kk < 16; kk++) o[16 * kk] = 0;
                continue;
            }
            const uint16_t *x = xb + (m0 + i) * Kp + 32 * b;
            for (int kk = 0; kk < 16; kk++) {
                uint32_t v;
                memcpy(&v, x + 2 * kk, 4);
                o[16 * kk] = v;
            }
        }
}

/* c[j] (16 weight rows x 16 inputs) into out rows m0 + 16 j + i, i < the
 * inputs left, columns r .. r + 15. */
static TGT void bf16_store(const float *c, size_t m0, size_t M, float *out, size_t ldo, size_t r) {
    const __m512i col = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(16));
    for (size_t i = 0; i < 16 && m0 + i < M; i++)
        _mm512_storeu_ps(out + (m0 + i) * ldo + r,
                         _mm512_i32gather_ps(_mm512_add_epi32(col, _mm512_set1_epi32((int)i)), c, 4));
}

/* Weight rows 16 g .. 16 g + 15 (all present) against up to 4 chunks of 16
 * inputs (pair order p, chunk j at p + j * 256 nb), in C tiles 2 .. 5. */
static TGT void bf16_group(const gf_mat *W, size_t g, const uint32_t *p, size_t nb, int nc, size_t m0, size_t M,
                           float *out, size_t ldo, const uint16_t *pf) {
    size_t K = W->cols;
    const uint16_t *w = (const uint16_t *)W->data + g * 16 * K;
    float c[256] __attribute__((aligned(64)));
    _tile_zero(2);
    _tile_zero(3);
    _tile_zero(4);
    _tile_zero(5);
    for (size_t b = 0; b < nb; b++) {
        /* the next group's rows: 32 KiB at K = 1024, a block's share at a
         * time, into L2 (into L1, batch 64 was 7 % slower) */
        if (pf)
            for (size_t a = 0; a < 16; a++) _mm_prefetch((const char *)(pf + a * K + 32 * b), _MM_HINT_T1);
        _tile_loadd(0, w + 32 * b, K * 2);
        _tile_loadd(1, p + 256 * b, 64);
        _tile_dpbf16ps(2, 0, 1);
        if (nc > 1) {
            _tile_loadd(1, p + 256 * (nb + b), 64);
            _tile_dpbf16ps(3, 0, 1);
        }
        if (nc > 2) {
            _tile_loadd(1, p + 256 * (2 * nb + b), 64);
            _tile_dpbf16ps(4, 0, 1);
        }
        if (nc > 3) {
            _tile_loadd(1, p + 256 * (3 * nb + b), 64);
            _tile_dpbf16ps(5, 0, 1);
        }
    }
    _tile_stored(2, c, 64);
    bf16_store(c, m0, M, out, ldo, g * 16);
    if (nc > 1) {
        _tile_stored(3, c, 64);
        bf16_store(c, m0 + 16, M, out, ldo, g * 16);
    }
    if (nc > 2) {
        _tile_stored(4, c, 64);
        bf16_store(c, m0 + 32, M, out, ldo, g * 16);
    }
    if (nc > 3) {
        _tile_stored(5, c, 64);
        bf16_store(c, m0 + 48, M, out, ldo, g * 16);
    }
}

static TGT void bf16_rows(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo, size_t g0,
                          size_t g1, uint32_t *p) {
    size_t Kp = gf_bf16x_cols(W->cols), nb = Kp / 32, chunks = (M + 15) / 16;
    for (size_t j = 0; j < chunks; j++) pair_order(xb, Kp, M, 16 * j, p + j * 256 * nb);
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    set_tile(&cfg, 0, 16, 64); /* A: 16 weight rows x 32 columns */
    set_tile(&cfg, 1, 16, 64); /* B: 16 column pairs x 16 inputs */
    for (int i = 2; i < 6; i++) set_tile(&cfg, i, 16, 64);
    _tile_loadconfig(&cfg);
    /* up to 4 chunks of inputs share each load of a weight tile */
    for (size_t j = 0; j < chunks; j += 4) {
        int nc = chunks - j < 4 ? (int)(chunks - j) : 4;
        for (size_t g = g0; g < g1; g++) {
            const uint16_t *pf = g + 1 < g1 ? (const uint16_t *)W->data + (g + 1) * 16 * W->cols : NULL;
            bf16_group(W, g, p + j * 256 * nb, nb, nc, 16 * j, M, out, ldo, pf);
        }
    }
    _tile_release();
}

void gf_gemv_bf16x_rows_amx(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo, size_t r0,
                            size_t r1) {
    size_t K = W->cols, Kp = gf_bf16x_cols(K);
    /* whole groups of 16 rows here; the rows around them, or a K that is not
     * a multiple of 32 (the tiles would read past a row), go to AVX512-BF16 */
    size_t g0 = (r0 + 15) / 16, g1 = r1 / 16;
    size_t bytes = (M + 15) / 16 * 16 * Kp * sizeof(uint16_t); /* Kp a multiple of 32: of 64 bytes too */
    uint32_t *p = K % 32 == 0 && g0 < g1 ? aligned_alloc(64, bytes) : NULL;
    if (!p || !gf_cpu_has_amx()) {
        free(p);
        gf_gemv_bf16x_rows_avx512bf16(W, xb, M, out, ldo, r0, r1);
        return;
    }
    if (r0 < 16 * g0) gf_gemv_bf16x_rows_avx512bf16(W, xb, M, out, ldo, r0, 16 * g0);
    bf16_rows(W, xb, M, out, ldo, g0, g1, p);
    if (16 * g1 < r1) gf_gemv_bf16x_rows_avx512bf16(W, xb, M, out, ldo, 16 * g1, r1);
    free(p);
}

/* The tile unit's ceiling: iters x 4 independent products of full tiles
 * (16 x 16 x 64 int8, or 16 x 16 x 32 bfloat16 pairs) on registers only.
 * Returns the operations done, 2 a multiply-add; 0 without AMX. */
static TGT double peak_loop(int bf16, long iters) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) set_tile(&cfg, i, 16, 64);
    _tile_loadconfig(&cfg);
    int32_t c[256] __attribute__((aligned(64)));
    _tile_zero(0); /* zeros: the unit's speed does not depend on the values */
    _tile_zero(1);
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
    if (bf16)
        for (long it = 0; it < iters; it++) {
            _tile_dpbf16ps(4, 0, 1);
            _tile_dpbf16ps(5, 0, 1);
            _tile_dpbf16ps(6, 0, 1);
            _tile_dpbf16ps(7, 0, 1);
        }
    else
        for (long it = 0; it < iters; it++) {
            _tile_dpbssd(4, 0, 1);
            _tile_dpbssd(5, 0, 1);
            _tile_dpbssd(6, 0, 1);
            _tile_dpbssd(7, 0, 1);
        }
    _tile_stored(4, c, 64); /* the sums are kept, so the products are not dropped */
    volatile int32_t sink = c[0];
    (void)sink;
    _tile_release();
    return (double)iters * 4 * 16 * 16 * (bf16 ? 32 : 64) * 2;
}

double gf_amx_peak_loop(int bf16, long iters) { return gf_cpu_has_amx() ? peak_loop(bf16, iters) : 0.0; }

#else
double gf_amx_peak_loop(int bf16, long iters) {
    (void)bf16;
    (void)iters;
    return 0.0;
}
void gf_gemv_actq_rows_amx(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                           size_t r1) {
    gf_gemv_actq_rows(W, q, M, out, ldo, r0, r1);
}
void gf_gemv_bf16x_rows_amx(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo, size_t r0,
                            size_t r1) {
    gf_gemv_bf16x_rows_avx512bf16(W, xb, M, out, ldo, r0, r1);
}
#endif

