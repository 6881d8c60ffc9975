/* AVX512-VNNI products of Q8 / Q4 weights with int8-quantised inputs
 * (actq.h), over the packed weights (quant.h): one 64-byte load holds 4
 * columns of 16 weight rows, one per 32-bit lane, so one vpdpbusd with the
 * input's 4 codes broadcast from memory adds 64 products into 16 rows' sums
 * at once. A block's 8 such steps accumulate in an int32 register that
 * starts from the input's correction for the zero code; then one convert and
 * one multiply-add by (16 rows' weight scales x the input's scale) take it
 * to float. That is about 12 instructions per 512 products and no horizontal sums,
 * where a row-major layout needs 4 per 64 (a convert, a scale product and a
 * multiply-add for every vpdpbusd, as each lane holds a different block's
 * sum) and a reduction per row.
 *
 * A tile is MT input rows x NG groups of 16 weight rows; each chunk of
 * weights is loaded once and used for the tile's MT inputs, each input's
 * broadcast codes once and used for the NG groups. Compiled for
 * AVX512-VNNI whatever the build flags are; called only on CPUs that have
 * it. */
#include "actq.h"
#include "gemv.h"

#include "quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

/* 4 input codes as one int32, to be broadcast to every lane. */
INL __m512i x4(const uint8_t *codes, size_t dword) {
    int32_t v;
    __builtin_memcpy(&v, codes + 4 * dword, 4);
    return _mm512_set1_epi32(v);
}

/* out[i * ldo + 16 (g + j) + l] for i < MT, j < NG, l < 16 (the rows in
 * [r0, r1) only): groups g .. g + NG - 1 against input rows q + i * row_bytes. */
INL void tile(const gf_wtype t, const int MT, const int NG, const gf_mat *W, size_t g,
              const uint8_t *q, size_t row_bytes, float *out, size_t ldo, size_t r0, size_t r1,
              const uint8_t *pf, size_t pf_step, const uint8_t *pf_end) {
    size_t K = W->cols, nb = gf_q_nblocks(K), piece = GF_QPACK_BYTES(t), stride = nb * piece;
    size_t dxo = gf_actq_dx_offset(K), co = gf_actq_corr_offset(K);
    const uint8_t *wc = W->packed + g * stride;
    const uint16_t *ws = W->packed_scale + g * nb * GF_QPACK_ROWS;
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    __m512 acc[4][4];
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NG; j++) acc[i][j] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *wb = wc + b * piece;
        if (!pf_step) /* the same block of the next NG groups */
            for (int j = 0; pf && j < NG; j++)
                for (const uint8_t *a = pf + (size_t)j * stride + b * piece, *e = a + piece; a < e && a < pf_end; a += 64)
                    _mm_prefetch((const char *)a, _MM_HINT_T1);
        else /* the next pf_step bytes from pf */
            for (const uint8_t *a = pf + b * pf_step, *e = a + pf_step; a < e && a < pf_end; a += 64)
                _mm_prefetch((const char *)a, _MM_HINT_T1);
        /* with one group, a second set of sums (odd chunks, high nibbles)
         * halves the chain of dependent vpdpbusd each sum waits on, which
         * bounds a batch-1 tile; two groups have chains enough */
        const int split = NG == 1;
        __m512i s[4][4], u[4][4];
        for (int i = 0; i < MT; i++) {
            u[i][0] = _mm512_setzero_si512();
            int32_t corr;
            __builtin_memcpy(&corr, q + (size_t)i * row_bytes + co + 4 * b, 4);
            for (int j = 0; j < NG; j++) s[i][j] = _mm512_set1_epi32(corr);
        }
        /* each input's broadcast codes are loaded once per step and used
         * for the NG groups: loads, not multiplies, bound this loop when
         * they are not shared */
        if (t == GF_W_Q8) {
            for (size_t c = 0; c < 8; c++) {
                __m512i xb[4];
                for (int i = 0; i < MT; i++) xb[i] = x4(q + (size_t)i * row_bytes, 8 * b + c);
                for (int j = 0; j < NG; j++) {
                    __m512i w = _mm512_loadu_si512(wb + (size_t)j * stride + c * 64);
                    for (int i = 0; i < MT; i++) {
                        if (split && (c & 1)) u[i][j] = _mm512_dpbusd_epi32(u[i][j], w, xb[i]);
                        else s[i][j] = _mm512_dpbusd_epi32(s[i][j], w, xb[i]);
                    }
                }
            }
        } else {
            for (size_t c = 0; c < 4; c++) {
                __m512i xl[4], xh[4];
                for (int i = 0; i < MT; i++) {
                    xl[i] = x4(q + (size_t)i * row_bytes, 8 * b + c);
                    xh[i] = x4(q + (size_t)i * row_bytes, 8 * b + 4 + c);
                }
                for (int j = 0; j < NG; j++) {
                    __m512i v = _mm512_loadu_si512(wb + (size_t)j * stride + c * 64);
                    __m512i lo = _mm512_and_si512(v, low4);
                    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
                    for (int i = 0; i < MT; i++) {
                        s[i][j] = _mm512_dpbusd_epi32(s[i][j], lo, xl[i]);
                        if (split) u[i][j] = _mm512_dpbusd_epi32(u[i][j], hi, xh[i]);
                        else s[i][j] = _mm512_dpbusd_epi32(s[i][j], hi, xh[i]);
                    }
                }
            }
        }
        for (int j = 0; j < NG; j++) {
            __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ws + ((size_t)j * nb + b) * GF_QPACK_ROWS)));
            for (int i = 0; i < MT; i++) {
                float dx;
                __builtin_memcpy(&dx, q + (size_t)i * row_bytes + dxo + 4 * b, 4);
                __m512i sum = split ? _mm512_add_epi32(s[i][j], u[i][j]) : s[i][j];
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(dx)),
                                            acc[i][j]);
            }
        }
    }
    for (int j = 0; j < NG; j++) {
        size_t r = (g + (size_t)j) * GF_QPACK_ROWS;
        unsigned hi = r + 16 <= r1 ? 16 : (unsigned)(r1 - r), lo = r0 > r ? (unsigned)(r0 - r) : 0;
        __mmask16 k = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        for (int i = 0; i < MT; i++) _mm512_mask_storeu_ps(out + (size_t)i * ldo + r, k, acc[i][j]);
    }
}

/* How many groups ahead a tile of up to 4 inputs prefetches, at the block
 * it is at. Tiles of one group with the rows 2 groups ahead prefetched were
 * the fastest for batch 1 and 4 on this machine, by 10-25 % over tiles of 2
 * or 4 groups (more streams at once) with or without prefetching. */
#define PF_GROUPS 2

/* The codes and scales the tiles ask for ahead go to L2 (T1), not L1: on
 * the 2-core Xeon with AMX, requests into L1 capped a thread's stream from
 * memory (decode steps of the bench's model: Q4 batch 1 10.8-10.9 -> 9.4
 * ms, Q8 batch 1 16.9-17.2 -> 15.8-16.0, batch 8 25.6-26.4 -> 23.0-23.7,
 * batch 16 30.6-31.5 -> 28.7-29.6; the hardware prefetcher takes the lines
 * from L2 to L1 in time). */

/* Prefetches the scales of groups [g, g + ng) (clipped to g1): 1 KiB a
 * group of 1024 columns, a stream of its own beside the codes. Left to the
 * hardware prefetcher, it had made the batch-16 Q4 product from memory
 * 15-20 % slower than from L2 (593-613 against 755-795 GOP/s on one core;
 * 675-740 with this). */
INL void prefetch_scales(const gf_mat *W, size_t g, size_t ng, size_t g1) {
    if (g >= g1) return;
    if (g + ng > g1) ng = g1 - g;
    size_t bytes = ng * gf_q_nblocks(W->cols) * GF_QPACK_ROWS * sizeof(uint16_t);
    const char *s = (const char *)(W->packed_scale + g * gf_q_nblocks(W->cols) * GF_QPACK_ROWS);
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(s + o, _MM_HINT_T1);
}

/* The walk over groups [g0, g1) x inputs [0, M). Up to 4 inputs: one tile
 * per group. More: tiles of 4 inputs x 2 groups (16 accumulators), whose
 * weights meet every input in turn while they are in cache, each prefetching
 * the next tile's weights spread over its blocks and its passes, so that
 * memory streams while the kernel computes. */
INL void rows_of(const gf_wtype t, const gf_mat *W, const uint8_t *q, size_t M, float *out,
                 size_t ldo, size_t r0, size_t r1) {
    size_t nb = gf_q_nblocks(W->cols), stride = nb * GF_QPACK_BYTES(t);
    size_t rb = gf_actq_row_bytes(W->cols), g0 = r0 / GF_QPACK_ROWS, g1 = gf_q_groups(r1);
    const uint8_t *end = W->packed + g1 * stride;
#define TILE(MT, NG, g, m, pf, step) tile(t, MT, NG, W, g, q + (m) * rb, rb, out + (m) * ldo, ldo, r0, r1, pf, step, end)
    if (M <= 4) {
        for (size_t g = g0; g < g1; g++) {
            const uint8_t *pf = W->packed + (g + PF_GROUPS) * stride;
            prefetch_scales(W, g + PF_GROUPS, 1, g1);
            switch (M) {
            case 1: TILE(1, 1, g, 0, pf, 0); break;
            case 2: TILE(2, 1, g, 0, pf, 0); break;
            case 3: TILE(3, 1, g, 0, pf, 0); break;
            default: TILE(4, 1, g, 0, pf, 0); break;
            }
        }
        return;
    }
    size_t passes = (M + 3) / 4;
    for (size_t g = g0; g < g1; g += 2) {
        int ng = g + 2 <= g1 ? 2 : 1;
        const uint8_t *next = W->packed + (g + (size_t)ng) * stride;
        size_t share = ((size_t)ng * stride + passes - 1) / passes, step = ((share + nb - 1) / nb + 63) / 64 * 64;
        prefetch_scales(W, g + (size_t)ng, (size_t)ng, g1);
        size_t m = 0;
        for (size_t pass = 0; m + 4 <= M; m += 4, pass++) {
            const uint8_t *pf = next + pass * share;
            if (ng == 2) TILE(4, 2, g, m, pf, step);
            else TILE(4, 1, g, m, pf, step);
        }
        const uint8_t *pf = next + (passes - 1) * share;
        switch (M - m) {
        case 3: if (ng == 2) TILE(3, 2, g, m, pf, step); else TILE(3, 1, g, m, pf, step); break;
        case 2: if (ng == 2) TILE(2, 2, g, m, pf, step); else TILE(2, 1, g, m, pf, step); break;
        case 1: if (ng == 2) TILE(1, 2, g, m, pf, step); else TILE(1, 1, g, m, pf, step); break;
        }
    }
#undef TILE
}

static TGT void rows_q8(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                        size_t r0, size_t r1) {
    rows_of(GF_W_Q8, W, q, M, out, ldo, r0, r1);
}
static TGT void rows_q4(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                        size_t r0, size_t r1) {
    rows_of(GF_W_Q4, W, q, M, out, ldo, r0, r1);
}

void gf_gemv_actq_rows_vnni(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1) {
    if (W->type == GF_W_Q8) rows_q8(W, q, M, out, ldo, r0, r1);
    else rows_q4(W, q, M, out, ldo, r0, r1);
}

#else
void gf_gemv_actq_rows_vnni(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1) {
    gf_gemv_actq_rows_scalar(W, q, M, out, ldo, r0, r1);
}
#endif
