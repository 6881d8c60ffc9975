/* AVX-512 small-batch products. A tile of up to 4 input rows x 4 weight
 * rows keeps 16 accumulators of 16 floats in registers; each weight block of
 * 32 columns is loaded (and for BF16/F16/Q8/Q4 widened to float) once per
 * tile and used for every input row of it, and the tiles of one weight
 * row-block run back to back so the block is read from memory once for all M
 * rows and comes from cache after the first. Short last blocks use masked
 * loads (zero past the end). Compiled for AVX-512 whatever the build flags
 * are; gf_gemv_rows only calls it when the CPU has it. */
#include "gemv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "reduce_avx512.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

/* Columns 32 kb .. 32 kb + 31 of row r as two vectors of floats; only the
 * columns in masks m0, m1 are read when !full. split (BF16 only): the even
 * columns in lo and the odd ones in hi. d: the block's scale in every lane
 * (Q8 / Q4). */
INL void load_block(const gf_wtype t, const int full, const int split, const gf_mat *W, size_t r,
                    size_t kb, __mmask16 m0, __mmask16 m1, __m512 d, __m512 *lo, __m512 *hi) {
    size_t K = W->cols, k = kb * GF_QBLOCK;
    if (full) m0 = m1 = 0xffff;
    switch (t) {
    case GF_W_F32: {
        const float *p = (const float *)W->data + r * K + k;
        *lo = full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m0, p);
        *hi = full ? _mm512_loadu_ps(p + 16) : _mm512_maskz_loadu_ps(m1, p + 16);
        break;
    }
    case GF_W_BF16: {
        const uint16_t *p = (const uint16_t *)W->data + r * K + k;
        if (split) {
            /* A bfloat16 is the top half of a float: one 512-bit load holds
             * 32, a shift gives the even columns as floats and a mask the odd
             * ones (tile() splits x the same way): two instructions where
             * widening each half takes four. Worth it for one input row;
             * for several, the split of every x row costs more. */
            __m512i v = full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(((__mmask32)m1 << 16) | m0, p);
            *lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
            *hi = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
            break;
        }
        __m256i a = full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(m0, p);
        __m256i b = full ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_maskz_loadu_epi16(m1, p + 16);
        *lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(a), 16));
        *hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
        break;
    }
    case GF_W_F16: {
        const uint16_t *p = (const uint16_t *)W->data + r * K + k;
        __m256i a = full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(m0, p);
        __m256i b = full ? _mm256_loadu_si256((const __m256i *)(p + 16)) : _mm256_maskz_loadu_epi16(m1, p + 16);
        *lo = _mm512_cvtph_ps(a);
        *hi = _mm512_cvtph_ps(b);
        break;
    }
    case GF_W_Q8: {
        const int8_t *p = (const int8_t *)W->data + r * K + k;
        __m128i a = full ? _mm_loadu_si128((const __m128i *)p) : _mm_maskz_loadu_epi8(m0, p);
        __m128i b = full ? _mm_loadu_si128((const __m128i *)(p + 16)) : _mm_maskz_loadu_epi8(m1, p + 16);
        *lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(a)));
        *hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)));
        break;
    }
    case GF_W_Q4: {
        /* A row's codes always fill whole blocks, so no mask is needed. The
         * nibble picks its value from a table of (c - 8) d: vpermps reads
         * only the index's low 4 bits, which saves masking, subtracting and
         * converting every code. */
        const uint8_t *p = (const uint8_t *)W->data + r * gf_q4_row_bytes(K) + kb * 16;
        __m512 table = _mm512_mul_ps(d, _mm512_set_ps(7, 6, 5, 4, 3, 2, 1, 0, -1, -2, -3, -4, -5, -6, -7, -8));
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
        *lo = _mm512_permutexvar_ps(v, table);
        *hi = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
        break;
    }
    case GF_W_COUNT: break;
    }
}

/* Q8 / Q4: the F16 scales of blocks kb .. kb + 15 of row r as floats (fewer
 * past the row's end), one load and one conversion for 16 blocks where a
 * scale at a time took four instructions per block and row. */
INL __m512 load_scales(const gf_wtype t, const gf_mat *W, size_t r, size_t kb) {
    if (t != GF_W_Q8 && t != GF_W_Q4) return _mm512_setzero_ps();
    size_t nb = gf_q_nblocks(W->cols), n = nb - kb < 16 ? nb - kb : 16;
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << n) - 1), W->scale + r * nb + kb));
}

/* Block kb's scale from load_scales's vector, in every lane. */
INL __m512 block_scale(const gf_wtype t, __m512 sv, size_t kb) {
    if (t != GF_W_Q8 && t != GF_W_Q4) return sv;
    return _mm512_permutexvar_ps(_mm512_set1_epi32((int)(kb & 15)), sv);
}

/* 32 consecutive floats lo | hi -> their even-indexed ones in lo, odd in hi:
 * the order load_block gives BF16 weights in. */
INL void split_even_odd(__m512 *lo, __m512 *hi) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 e = _mm512_permutex2var_ps(*lo, even, *hi), o = _mm512_permutex2var_ps(*lo, odd, *hi);
    *lo = e;
    *hi = o;
}

/* out[i * ldo + r + j] for i < MT, j < NT. The next NT rows are prefetched
 * a share at a time: blocks kb = pf_phase (mod pf_period) here, the tile of
 * each input-row group taking its turn (pf_period 0: none), so the requests
 * spread over the whole row block instead of queueing up in its first tile. */
INL void tile(const gf_wtype t, const int MT, const int NT, const gf_mat *W, size_t r,
              const float *x, size_t ldx, float *out, size_t ldo, size_t pf_phase, size_t pf_period) {
    size_t K = W->cols, nfull = K / GF_QBLOCK;
    const int split = t == GF_W_BF16 && MT == 1;
    __m512 acc[4][4];
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) acc[i][j] = _mm512_setzero_ps();
    __m512 sv[4] = {0}; /* Q8 / Q4: the scales of 16 blocks of each row */
    for (size_t kb = 0; kb < nfull; kb++) {
        __m512 wl[4], wh[4];
        if ((kb & 15) == 0)
            for (int j = 0; j < NT; j++) sv[j] = load_scales(t, W, r + (size_t)j, kb);
        if (pf_period && kb % pf_period == pf_phase)
            for (int j = 0; j < NT; j++) gf_prefetch_block(t, W, r + (size_t)(NT + j), kb);
        for (int j = 0; j < NT; j++) {
            load_block(t, 1, split, W, r + (size_t)j, kb, 0, 0, block_scale(t, sv[j], kb), &wl[j], &wh[j]);
            /* Opaque to the compiler, so it keeps the widened weights in
             * registers for the MT rows instead of reloading (and for
             * BF16..Q4 re-widening) them at every FMA. */
            __asm__("" : "+v"(wl[j]), "+v"(wh[j]));
        }
        for (int i = 0; i < MT; i++) {
            const float *xi = x + (size_t)i * ldx + kb * GF_QBLOCK;
            __m512 xl = _mm512_loadu_ps(xi), xh = _mm512_loadu_ps(xi + 16);
            if (split) split_even_odd(&xl, &xh);
            __asm__("" : "+v"(xl), "+v"(xh)); /* likewise: one load, NT uses */
            for (int j = 0; j < NT; j++) {
                acc[i][j] = _mm512_fmadd_ps(xl, wl[j], acc[i][j]);
                acc[i][j] = _mm512_fmadd_ps(xh, wh[j], acc[i][j]);
            }
        }
    }
    size_t rem = K - nfull * GF_QBLOCK;
    if (rem) {
        __mmask16 m0 = rem >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rem) - 1);
        __mmask16 m1 = rem > 16 ? (__mmask16)((1u << (rem - 16)) - 1) : 0;
        __m512 wl[4], wh[4];
        if ((nfull & 15) == 0)
            for (int j = 0; j < NT; j++) sv[j] = load_scales(t, W, r + (size_t)j, nfull);
        for (int j = 0; j < NT; j++) load_block(t, 0, split, W, r + (size_t)j, nfull, m0, m1, block_scale(t, sv[j], nfull), &wl[j], &wh[j]);
        for (int i = 0; i < MT; i++) {
            const float *xi = x + (size_t)i * ldx + nfull * GF_QBLOCK;
            __m512 xl = _mm512_maskz_loadu_ps(m0, xi), xh = _mm512_maskz_loadu_ps(m1, xi + 16);
            if (split) split_even_odd(&xl, &xh);
            for (int j = 0; j < NT; j++) {
                acc[i][j] = _mm512_fmadd_ps(xl, wl[j], acc[i][j]);
                acc[i][j] = _mm512_fmadd_ps(xh, wh[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MT; i++) {
        float *o = out + (size_t)i * ldo + r;
        if (NT == 4) _mm_storeu_ps(o, gf_reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        else
            for (int j = 0; j < NT; j++) o[j] = _mm512_reduce_add_ps(acc[i][j]);
    }
}

INL void rows_of(const gf_wtype t, const gf_mat *W, const float *x, size_t ldx, size_t M,
                 float *out, size_t ldo, size_t r0, size_t r1) {
    size_t groups = (M + 3) / 4;
    /* 4-row tiles prefetch the next rows, each input-row group its share */
#define TILE(MT, NT, r, m)                                                                         \
    tile(t, MT, NT, W, r, x + (m) * ldx, ldx, out + (m) * ldo, ldo, NT == 4 ? (m) / 4 : 0,          \
         NT == 4 ? groups : 0)
    /* F32 with one input row: one weight row at a time, so the matrix is
     * read front to back as a single stream, which the hardware prefetcher
     * keeps ahead of by itself: 4-row tiles (4 streams a row apart,
     * prefetched or not) streamed at 79-83 % of the read probe, this at
     * 94-96 %. Its one chain of FMAs (two per 128 bytes) still outruns
     * memory; narrower weights would be bound by it (Q4 halved), and with
     * more input rows the tiles win, loading each input once per 4 rows. */
    if (M == 1 && t == GF_W_F32) {
        for (size_t r = r0; r < r1; r++) TILE(1, 1, r, 0);
        return;
    }
    GF_EACH_TILE(r0, r1, M, TILE);
#undef TILE
}

GF_GEMV_ENTRY(gf_gemv_rows_avx512, TGT)

#else
void gf_gemv_rows_avx512(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                         size_t ldo, size_t r0, size_t r1) {
    gf_gemv_rows_scalar(W, x, ldx, M, out, ldo, r0, r1);
}
#endif
