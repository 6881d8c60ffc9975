/* AVX512-VNNI products of Q8 / Q4 weights with int8-quantised inputs
 * (actq.h). A tile of up to 4 input rows x 4 weight rows, two blocks (64
 * columns) at a time: each weight row's 64 codes are loaded into one
 * register once per tile, made unsigned (Q8: + 128; Q4: the nibbles as they
 * are) and multiplied with every input row's 64 codes by one vpdpbusd, which
 * starts from the input's correction for the zero code; the 16 int32 sums
 * are then scaled by weight scale x input scale and added in float. Compiled
 * for AVX512-VNNI whatever the build flags are; called only on CPUs that
 * have it. */
#include "actq.h"
#include "gemv.h"

#include "quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "reduce_avx512.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

/* Code bytes of pair p of row r: 64 (Q8) or 32 (Q4), or in the row's last
 * pair only those inside the row (zeros after). */
INL __m512i load_pair(const gf_wtype t, const gf_mat *W, size_t r, size_t p) {
    size_t K = W->cols;
    if (t == GF_W_Q8) {
        const int8_t *c = (const int8_t *)W->data + r * K + p * 64;
        size_t n = K - p * 64;
        __m512i v = n >= 64 ? _mm512_loadu_si512(c) : _mm512_maskz_loadu_epi8(((__mmask64)1 << n) - 1, c);
        /* offset to unsigned: the zero code becomes 128 (the input's
         * correction takes 128 x its codes' sum back off); masked-off bytes
         * become 128 too, against input codes of 0 */
        return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    }
    size_t row = gf_q4_row_bytes(K);
    const uint8_t *c = (const uint8_t *)W->data + r * row + p * 32;
    __m256i h = row - p * 32 >= 32 ? _mm256_loadu_si256((const __m256i *)c)
                                            : _mm256_maskz_loadu_epi8((__mmask32)0xffff, c);
    /* low nibbles in the lower half, high nibbles in the upper: a's 0..15,
     * b's 0..15, a's 16..31, b's 16..31, the order of the input codes */
    __m512i v = _mm512_broadcast_i64x4(h);
    v = _mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

/* F16 scales of blocks kb .. kb + 15 of row r as floats (zeros past the end). */
INL __m512 load_scales(const gf_mat *W, size_t r, size_t kb) {
    size_t nb = gf_q_nblocks(W->cols), n = nb - kb < 16 ? nb - kb : 16;
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << n) - 1), W->scale + r * nb + kb));
}

INL void prefetch_pair(const gf_wtype t, const gf_mat *W, size_t r, size_t p) {
    if (r >= W->rows) return;
    size_t K = W->cols;
    const char *c = t == GF_W_Q8 ? (const char *)W->data + r * K + p * 64
                                 : (const char *)W->data + r * gf_q4_row_bytes(K) + p * 32;
    size_t bytes = t == GF_W_Q8 ? 64 : 32;
    /* one request per cache line: from the pair whose bytes start it, and the
     * line after when the pair crosses into it */
    if (((uintptr_t)c & 63) < bytes) _mm_prefetch(c, _MM_HINT_T0);
    if (((uintptr_t)c & 63) + bytes > 64) _mm_prefetch(c + bytes - 1, _MM_HINT_T0);
    const char *s = (const char *)(W->scale + r * gf_q_nblocks(K) + 2 * p);
    if (((uintptr_t)s & 63) < 4) _mm_prefetch(s, _MM_HINT_T0);
}

/* How many tiles ahead the rows are prefetched. The integer path streams
 * fast enough that the next tile's rows (2 KiB of Q4 ahead, 50 ns at the
 * bandwidth) arrive late; 4 tiles ahead was 10-12 % faster than 1 on this
 * machine's Q4 decode, 8 and 16 no better than 4. */
#define PF_TILES 4

/* out[i * ldo + r + j] for i < MT, j < NT. The rows PF_TILES tiles ahead are
 * prefetched as gemv_avx512.c does the next: pairs p = pf_phase (mod
 * pf_period) here. */
INL void tile(const gf_wtype t, const int MT, const int NT, const gf_mat *W, size_t r,
              const uint8_t *q, size_t row_bytes, float *out, size_t ldo, size_t pf_phase,
              size_t pf_period) {
    size_t np = gf_actq_pairs(W->cols);
    /* which of the pair's two blocks each int32 lane's 4 codes are from */
    const __m512i lane_block = t == GF_W_Q8 ? _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)
                                            : _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc[4][4];
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) acc[i][j] = _mm512_setzero_ps();
    __m512 sv[4] = {0};
    for (size_t p = 0; p < np; p++) {
        if ((p & 7) == 0)
            for (int j = 0; j < NT; j++) sv[j] = load_scales(W, r + (size_t)j, 2 * p);
        if (pf_period && p % pf_period == pf_phase)
            for (int j = 0; j < NT; j++) prefetch_pair(t, W, r + (size_t)(PF_TILES * NT + j), p);
        __m512i idx = _mm512_add_epi32(lane_block, _mm512_set1_epi32((int)(2 * (p & 7))));
        __m512i w[4];
        __m512 dw[4];
        for (int j = 0; j < NT; j++) {
            w[j] = load_pair(t, W, r + (size_t)j, p);
            dw[j] = _mm512_permutexvar_ps(idx, sv[j]);
            /* keeps the prepared weights in registers for the MT rows */
            __asm__("" : "+v"(w[j]), "+v"(dw[j]));
        }
        for (int i = 0; i < MT; i++) {
            const uint8_t *qp = q + (size_t)i * row_bytes + p * GF_ACTQ_PAIR_BYTES;
            __m512i xc = _mm512_loadu_si512(qp), corr = _mm512_loadu_si512(qp + 128);
            __m512 dx = _mm512_loadu_ps((const float *)(qp + 64));
            for (int j = 0; j < NT; j++) {
                __m512i d = _mm512_dpbusd_epi32(corr, w[j], xc);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(dw[j], dx), acc[i][j]);
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

INL void rows_of(const gf_wtype t, const gf_mat *W, const uint8_t *q, size_t M, float *out,
                 size_t ldo, size_t r0, size_t r1) {
    size_t rb = gf_actq_row_bytes(W->cols), groups = (M + 3) / 4;
#define TILE(MT, NT, r, m)                                                                         \
    tile(t, MT, NT, W, r, q + (m) * rb, rb, out + (m) * ldo, ldo, NT == 4 ? (m) / 4 : 0,            \
         NT == 4 ? groups : 0)
    GF_EACH_TILE(r0, r1, M, TILE);
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
