/* AVX2 + FMA small-batch products, for x86-64 CPUs without AVX-512: the
 * AVX-512 version's plan on 8-float vectors with 16 registers, so a tile is
 * up to 2 input rows x 4 weight rows. A short last block goes through the
 * scalar element reader (AVX2 has no byte-masked loads). */
#include "gemv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

/* Columns 32 kb + 8 q .. + 7 of row r as floats. */
INL __m256 load_quarter(const gf_wtype t, const gf_mat *W, size_t r, size_t kb, int q) {
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
        __m256 d = _mm256_set1_ps(_cvtsh_ss(W->scale[r * gf_q_nblocks(K) + kb]));
        __m128i a = _mm_loadl_epi64((const __m128i *)((const int8_t *)W->data + r * K + k));
        return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(a)));
    }
    case GF_W_Q4: {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(W->scale[r * gf_q_nblocks(K) + kb]));
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

INL void tile(const gf_wtype t, const int MT, const int NT, const gf_mat *W, size_t r,
              const float *x, size_t ldx, float *out, size_t ldo) {
    size_t K = W->cols, nfull = K / GF_QBLOCK;
    __m256 acc[2][4];
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) acc[i][j] = _mm256_setzero_ps();
    for (size_t kb = 0; kb < nfull; kb++)
        for (int q = 0; q < 4; q++) {
            __m256 w[4];
            for (int j = 0; j < NT; j++) w[j] = load_quarter(t, W, r + (size_t)j, kb, q);
            for (int i = 0; i < MT; i++) {
                __m256 xv = _mm256_loadu_ps(x + (size_t)i * ldx + kb * GF_QBLOCK + 8 * (size_t)q);
                for (int j = 0; j < NT; j++) acc[i][j] = _mm256_fmadd_ps(xv, w[j], acc[i][j]);
            }
        }
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) {
            float s = hsum(acc[i][j]);
            for (size_t k = nfull * GF_QBLOCK; k < K; k++)
                s += x[(size_t)i * ldx + k] * gf_mat_at(W, r + (size_t)j, k);
            out[(size_t)i * ldo + r + (size_t)j] = s;
        }
}

INL void rows_of(const gf_wtype t, const gf_mat *W, const float *x, size_t ldx, size_t M,
                 float *out, size_t ldo, size_t r0, size_t r1) {
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        size_t m = 0;
        for (; m + 2 <= M; m += 2) tile(t, 2, 4, W, r, x + m * ldx, ldx, out + m * ldo, ldo);
        if (m < M) tile(t, 1, 4, W, r, x + m * ldx, ldx, out + m * ldo, ldo);
    }
    for (; r < r1; r++) {
        size_t m = 0;
        for (; m + 2 <= M; m += 2) tile(t, 2, 1, W, r, x + m * ldx, ldx, out + m * ldo, ldo);
        if (m < M) tile(t, 1, 1, W, r, x + m * ldx, ldx, out + m * ldo, ldo);
    }
}

GF_GEMV_ENTRY(gf_gemv_rows_avx2, TGT)

#else
void gf_gemv_rows_avx2(const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                       size_t ldo, size_t r0, size_t r1) {
    gf_gemv_rows_scalar(W, x, ldx, M, out, ldo, r0, r1);
}
#endif
