/* Q8 / Q4 weights with int8-quantised inputs (actq.h) on CPUs with AVX2 but
 * not AVX512-VNNI: the integer path of gemv_vnni.c with the 256-bit
 * instructions AVX2 has, over the same packed order (quant.h). A 64-byte
 * chunk of a group is two registers, rows 0-7 and 8-15, each lane one row's
 * 4 columns; vpmaddubsw multiplies its unsigned bytes by the input's signed
 * ones and adds neighbours into 16 bits, vpmaddwd by ones adds those pairs
 * into the lane's 32-bit sum: what one vpdpbusd does, in two instructions.
 *
 * vpmaddubsw saturates its 16-bit pair sums. Q4's nibbles (0..15) times
 * codes (-127..127) stay within 2 x 15 x 127, so a block's four chunks
 * (32 columns) add up in 16 bits before one vpmaddwd. Q8's packed bytes are
 * code + 128 and two products could reach 2 x 255 x 127: the code is taken
 * back (xor 128), its magnitude goes to the unsigned side and its sign onto
 * the input (vpsignb), so the pairs stay within 2 x 127 x 127 and the sum
 * is the plain code x input one, which needs no zero-code correction.
 *
 * Each block's 32-bit sums are the same integers vpdpbusd gives, scaled the
 * same way in the same order, so the results equal the VNNI version's to
 * the bit. Compiled for AVX2 + FMA + F16C whatever the build flags are;
 * gf_gemv_actq_rows calls it only on CPUs that have them. */
#include "actq.h"
#include "gemv.h"

#include "quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

/* 4 input codes as one int32 in every lane. */
INL __m256i x4(const uint8_t *codes, size_t dword) {
    int32_t v;
    memcpy(&v, codes + 4 * dword, 4);
    return _mm256_set1_epi32(v);
}

/* out[i * ldo + 16 g + l] for i < MT (1 or 2), l < 16, the rows in [r0, r1)
 * only: group g against input rows q + i * row_bytes. The same block of the
 * group 2 ahead is prefetched as this one is read. */
INL void tile(const gf_wtype t, const int MT, const gf_mat *W, size_t g, const uint8_t *q,
              size_t row_bytes, float *out, size_t ldo, size_t r0, size_t r1) {
    size_t K = W->cols, nb = gf_q_nblocks(K), piece = GF_QPACK_BYTES(t), stride = nb * piece;
    size_t dxo = gf_actq_dx_offset(K), co = gf_actq_corr_offset(K);
    const uint8_t *wc = W->packed + g * stride;
    const uint8_t *pf = g + 2 < gf_q_groups(W->rows) ? wc + 2 * stride : NULL;
    const uint16_t *ws = W->packed_scale + g * nb * GF_QPACK_ROWS;
    const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    __m256 acc[2][2];
    for (int i = 0; i < MT; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *wb = wc + b * piece;
        if (pf)
            for (size_t o = 0; o < piece; o += 64) _mm_prefetch((const char *)(pf + b * piece + o), _MM_HINT_T0);
        __m256i s[2][2]; /* 32-bit sums: input i, rows 8h .. 8h + 7 */
        if (t == GF_W_Q4) {
            __m256i h16[2][2];
            for (int i = 0; i < MT; i++) h16[i][0] = h16[i][1] = _mm256_setzero_si256();
            for (size_t c = 0; c < 4; c++) {
                __m256i xl[2], xh[2];
                for (int i = 0; i < MT; i++) {
                    xl[i] = x4(q + (size_t)i * row_bytes, 8 * b + c);
                    xh[i] = x4(q + (size_t)i * row_bytes, 8 * b + 4 + c);
                }
                for (int h = 0; h < 2; h++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(wb + c * 64 + 32 * (size_t)h));
                    __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                    for (int i = 0; i < MT; i++)
                        h16[i][h] = _mm256_add_epi16(h16[i][h], _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl[i]),
                                                                                 _mm256_maddubs_epi16(hi, xh[i])));
                }
            }
            for (int i = 0; i < MT; i++) {
                int32_t corr;
                memcpy(&corr, q + (size_t)i * row_bytes + co + 4 * b, 4);
                for (int h = 0; h < 2; h++)
                    s[i][h] = _mm256_add_epi32(_mm256_madd_epi16(h16[i][h], ones), _mm256_set1_epi32(corr));
            }
        } else {
            for (int i = 0; i < MT; i++) s[i][0] = s[i][1] = _mm256_setzero_si256();
            for (size_t c = 0; c < 8; c++) {
                __m256i xv[2];
                for (int i = 0; i < MT; i++) xv[i] = x4(q + (size_t)i * row_bytes, 8 * b + c);
                for (int h = 0; h < 2; h++) {
                    __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wb + c * 64 + 32 * (size_t)h)), flip);
                    __m256i mag = _mm256_abs_epi8(w);
                    for (int i = 0; i < MT; i++)
                        s[i][h] = _mm256_add_epi32(
                            s[i][h], _mm256_madd_epi16(_mm256_maddubs_epi16(mag, _mm256_sign_epi8(xv[i], w)), ones));
                }
            }
        }
        for (int h = 0; h < 2; h++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ws + b * GF_QPACK_ROWS + 8 * (size_t)h)));
            for (int i = 0; i < MT; i++) {
                float dx;
                memcpy(&dx, q + (size_t)i * row_bytes + dxo + 4 * b, 4);
                acc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[i][h]), _mm256_mul_ps(dw, _mm256_set1_ps(dx)),
                                            acc[i][h]);
            }
        }
    }
    size_t r = g * GF_QPACK_ROWS, lo = r0 > r ? r0 - r : 0, hi = r + 16 <= r1 ? 16 : r1 - r;
    for (int i = 0; i < MT; i++) {
        float v[16];
        _mm256_storeu_ps(v, acc[i][0]);
        _mm256_storeu_ps(v + 8, acc[i][1]);
        memcpy(out + (size_t)i * ldo + r + lo, v + lo, (hi - lo) * sizeof *v);
    }
}

/* Groups [g0, g1) x inputs [0, M): each group's weights meet the inputs two
 * at a time, from L1 after the first pair (16 registers hold no more sums). */
INL void rows_of(const gf_wtype t, const gf_mat *W, const uint8_t *q, size_t M, float *out,
                 size_t ldo, size_t r0, size_t r1) {
    size_t rb = gf_actq_row_bytes(W->cols), g0 = r0 / GF_QPACK_ROWS, g1 = gf_q_groups(r1);
    for (size_t g = g0; g < g1; g++) {
        size_t m = 0;
        for (; m + 2 <= M; m += 2) tile(t, 2, W, g, q + m * rb, rb, out + m * ldo, ldo, r0, r1);
        if (m < M) tile(t, 1, W, g, q + m * rb, rb, out + m * ldo, ldo, r0, r1);
    }
}

static TGT void rows_q8(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                        size_t r1) {
    rows_of(GF_W_Q8, W, q, M, out, ldo, r0, r1);
}
static TGT void rows_q4(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                        size_t r1) {
    rows_of(GF_W_Q4, W, q, M, out, ldo, r0, r1);
}

void gf_gemv_actq_rows_avx2(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1) {
    if (W->type == GF_W_Q8) rows_q8(W, q, M, out, ldo, r0, r1);
    else rows_q4(W, q, M, out, ldo, r0, r1);
}

int gf_cpu_has_avx2_int8(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

#else
void gf_gemv_actq_rows_avx2(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1) {
    gf_gemv_actq_rows_scalar(W, q, M, out, ldo, r0, r1);
}
int gf_cpu_has_avx2_int8(void) { return 0; }
#endif

void gf_gemv_actq_rows(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                       size_t r1) {
    if (gf_cpu_has_vnni()) gf_gemv_actq_rows_vnni(W, q, M, out, ldo, r0, r1);
    else gf_gemv_actq_rows_avx2(W, q, M, out, ldo, r0, r1);
}

int gf_cpu_has_int8_dot(void) { return gf_cpu_has_vnni() || gf_cpu_has_avx2_int8(); }
