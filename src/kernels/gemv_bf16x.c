/* BF16 weights times inputs rounded to bfloat16, with AVX512-BF16's
 * vdpbf16ps: 32 multiply-adds of bfloat16 pairs into float sums in one
 * instruction, 1.8x the multiply-adds of float FMAs on this CPU (in
 * register-only loops), and the weights go in as stored, with no widening.
 * A tile of up to 4 input rows x
 * 4 weight rows, 32 columns at a time; the inputs are rounded once per
 * product (gf_bf16x_round) into rows of gf_bf16x_cols(K) values, zero past
 * K, so only the weights' last block needs a mask. */
#include <string.h>

#include "actq.h"
#include "cpu.h"
#include "gemv.h"

#include "util.h"

/* gf_f32_to_bf16 (round to nearest even, NaN kept quiet) in a form the
 * compiler vectorises: the library's is a call per value, which was 2 % of
 * a BF16 batch-16 decode step. */
static inline uint16_t bf16_rne(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, quiet = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

void gf_bf16x_round(const float *x, size_t ldx, size_t M, size_t K, uint16_t *xb) {
    size_t Kp = gf_bf16x_cols(K);
    for (size_t m = 0; m < M; m++) {
        const float *xm = x + m * ldx;
        uint16_t *o = xb + m * Kp;
#pragma omp simd
        for (size_t k = 0; k < K; k++) o[k] = bf16_rne(xm[k]);
        for (size_t k = K; k < Kp; k++) o[k] = 0;
    }
}

void gf_gemv_bf16x_rows_scalar(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo,
                               size_t r0, size_t r1) {
    size_t K = W->cols, Kp = gf_bf16x_cols(K);
    const uint16_t *w = W->data;
    for (size_t m = 0; m < M; m++)
        for (size_t r = r0; r < r1; r++) {
            float s = 0.0f;
            for (size_t k = 0; k < K; k++) s += gf_bf16_to_f32(xb[m * Kp + k]) * gf_bf16_to_f32(w[r * K + k]);
            out[m * ldo + r] = s;
        }
}


#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "reduce_avx512.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define INL static inline __attribute__((always_inline)) TGT

/* How many tiles ahead the weight rows are prefetched: the next tile's was
 * 2-3 % faster here than 4 tiles ahead (which the integer kernel prefers). */
#define PF_TILES 1

/* out[i * ldo + r + j] for i < MT, j < NT. The rows PF_TILES tiles ahead
 * are asked for a block at a time, each input-row group's tile its share:
 * blocks b = pf_phase (mod pf_period), pf_period 0 for none. Spread over
 * all the groups' tiles, the requests overlap the whole row tile's work
 * instead of queueing in its first quarter: batch 16 streamed 13-35 %
 * faster than with the first group asking for every block. */
INL void tile(const int MT, const int NT, const gf_mat *W, size_t r, const uint16_t *xb, size_t Kp,
              float *out, size_t ldo, size_t pf_phase, size_t pf_period) {
    size_t K = W->cols, nb = Kp / 32;
    const uint16_t *w = (const uint16_t *)W->data + r * K;
    /* rows PF_TILES tiles ahead, the ones that exist */
    int npf = 0;
    if (pf_period)
        for (int j = 0; j < NT; j++) npf += r + (size_t)(PF_TILES * NT + j) < W->rows;
    const uint16_t *pf = w + (size_t)(PF_TILES * NT) * K;
    __m512 acc[4][4];
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) acc[i][j] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        size_t k = b * 32;
        __mmask32 mk = K - k >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (K - k)) - 1);
        __m512i wv[4];
        for (int j = 0; j < NT; j++) wv[j] = _mm512_maskz_loadu_epi16(mk, w + (size_t)j * K + k);
        if (npf && b % pf_period == pf_phase)
            for (int j = 0; j < npf; j++) _mm_prefetch((const char *)(pf + (size_t)j * K + k), _MM_HINT_T0);
        for (int i = 0; i < MT; i++) {
            __m512i xv = _mm512_loadu_si512(xb + (size_t)i * Kp + k);
            for (int j = 0; j < NT; j++)
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)xv, (__m512bh)wv[j]);
        }
    }
    for (int i = 0; i < MT; i++) {
        float *o = out + (size_t)i * ldo + r;
        if (NT == 4) _mm_storeu_ps(o, gf_reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        else
            for (int j = 0; j < NT; j++) o[j] = _mm512_reduce_add_ps(acc[i][j]);
    }
}

/* out[r] for one input row: one weight row at a time, so the matrix is read
 * front to back as a single stream that the hardware prefetcher keeps ahead
 * of (4-row tiles, 4 streams a row apart, streamed at 72-74 % of the read
 * probe, this at 90-93 %), with two chains of sums (even and odd blocks) so
 * that vdpbf16ps's latency does not bound it. */
INL void row1(const gf_mat *W, size_t r, const uint16_t *xb, size_t Kp, float *out) {
    size_t K = W->cols, nb = Kp / 32, b = 0;
    const uint16_t *w = (const uint16_t *)W->data + r * K;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (; (b + 2) * 32 <= K; b += 2) {
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(xb + b * 32), (__m512bh)_mm512_loadu_si512(w + b * 32));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(xb + b * 32 + 32),
                              (__m512bh)_mm512_loadu_si512(w + b * 32 + 32));
    }
    for (; b < nb; b++) { /* the inputs are zero past K; the weights' last block is masked */
        size_t k = b * 32;
        __mmask32 mk = K - k >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (K - k)) - 1);
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(xb + k), (__m512bh)_mm512_maskz_loadu_epi16(mk, w + k));
    }
    out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static TGT void rows(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo, size_t r0,
                     size_t r1) {
    size_t Kp = gf_bf16x_cols(W->cols), groups = (M + 3) / 4;
    if (M == 1) {
        for (size_t r = r0; r < r1; r++) row1(W, r, xb, Kp, out);
        return;
    }
    /* 4-row tiles ask for the next rows, each input-row group its share */
#define TILE(MT, NT, r, m) \
    tile(MT, NT, W, r, xb + (m) * Kp, Kp, out + (m) * ldo, ldo, NT == 4 ? (m) / 4 : 0, NT == 4 ? groups : 0)
    GF_EACH_TILE(r0, r1, M, TILE);
#undef TILE
}

void gf_gemv_bf16x_rows_avx512bf16(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo,
                                   size_t r0, size_t r1) {
    rows(W, xb, M, out, ldo, r0, r1);
}
#else
void gf_gemv_bf16x_rows_avx512bf16(const gf_mat *W, const uint16_t *xb, size_t M, float *out, size_t ldo,
                                   size_t r0, size_t r1) {
    gf_gemv_bf16x_rows_scalar(W, xb, M, out, ldo, r0, r1);
}
#endif
