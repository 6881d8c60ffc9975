/* The input quantiser of the integer-dot path and its scalar twin. The twin
 * reads codes and scales one block at a time and sums in int32 exactly as the
 * instruction does; only the order of the float additions of the blocks'
 * scaled sums differs from the SIMD version. */
#include "actq.h"
#include "cpu.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "quant.h"
#include "util.h"

/* The zero code z the weights of type t carry in the product. */
static inline int32_t zero_code(gf_wtype t) { return t == GF_W_Q8 ? 128 : 8; }

/* 127 / max|x| of a block, or 0 where the codes are to be zeros: a block of
 * zeros, a non-finite one, and one whose largest is so small (under
 * 127 / FLT_MAX) that the inverse would overflow. */
static inline float block_inverse(int finite, float amax) {
    float inv = finite && amax > 0.0f ? 127.0f / amax : 0.0f;
    return inv <= FLT_MAX ? inv : 0.0f;
}

/* Block b's scale and zero-code correction into row qm of K columns. */
static inline void put_block(uint8_t *qm, size_t K, size_t b, float dx, int32_t corr) {
    memcpy(qm + gf_actq_dx_offset(K) + 4 * b, &dx, 4);
    memcpy(qm + gf_actq_corr_offset(K) + 4 * b, &corr, 4);
}

void gf_actq_quantize_scalar(gf_wtype t, const float *x, size_t ldx, size_t M, size_t K, uint8_t *q) {
    size_t nb = gf_q_nblocks(K), row_bytes = gf_actq_row_bytes(K);
    int32_t z = zero_code(t);
    for (size_t m = 0; m < M; m++) {
        const float *xm = x + m * ldx;
        uint8_t *qm = q + m * row_bytes;
        int8_t *codes = (int8_t *)qm;
        memset(qm, 0, row_bytes);
        for (size_t b = 0; b < nb; b++) {
            size_t k0 = b * GF_QBLOCK, n = K - k0 < GF_QBLOCK ? K - k0 : GF_QBLOCK;
            float amax = 0.0f;
            int finite = 1;
            for (size_t j = 0; j < n; j++) {
                float a = fabsf(xm[k0 + j]);
                finite &= a <= FLT_MAX;
                amax = a > amax ? a : amax;
            }
            /* max|x| itself codes as exactly +-127; a block of zeros codes as
             * zeros with scale 0; one with an infinity or a NaN as zeros with
             * scale NaN, so that the products come out NaN as the float ones
             * would */
            float inv = block_inverse(finite, amax), dx = finite ? amax / 127.0f : NAN;
            int32_t sum = 0;
            for (size_t j = 0; finite && j < n; j++) {
                float v = nearbyintf(xm[k0 + j] * inv);
                v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
                codes[k0 + j] = (int8_t)v;
                sum += (int32_t)v;
            }
            put_block(qm, K, b, dx, -z * sum);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The same arithmetic 16 lanes at a time (the scale and its inverse as
 * scalars, exactly as above; rounding to nearest even like nearbyintf in the
 * default mode), so the codes are the twin's to the bit: the integer path
 * quantises every product's input rows, a few per cent of a decode step when
 * done one element at a time. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void
quantize_avx512(gf_wtype t, const float *x, size_t ldx, size_t M, size_t K, uint8_t *q) {
    size_t nb = gf_q_nblocks(K), row_bytes = gf_actq_row_bytes(K);
    int32_t z = zero_code(t);
    const __m512 lim = _mm512_set1_ps(127.0f), nlim = _mm512_set1_ps(-127.0f), big = _mm512_set1_ps(FLT_MAX);
    for (size_t m = 0; m < M; m++) {
        const float *xm = x + m * ldx;
        uint8_t *qm = q + m * row_bytes;
        memset(qm, 0, row_bytes);
        for (size_t b = 0; b < nb; b++) {
            size_t k0 = b * GF_QBLOCK, n = K - k0 < GF_QBLOCK ? K - k0 : GF_QBLOCK;
            uint32_t mk = n == 32 ? 0xffffffffu : (1u << n) - 1;
            __m512 a0 = _mm512_maskz_loadu_ps((__mmask16)mk, xm + k0);
            __m512 a1 = _mm512_maskz_loadu_ps((__mmask16)(mk >> 16), xm + k0 + 16);
            __m512 b0 = _mm512_abs_ps(a0), b1 = _mm512_abs_ps(a1);
            /* NaN compares false: not finite */
            int finite = _mm512_cmp_ps_mask(b0, big, _CMP_LE_OQ) == 0xffff && _mm512_cmp_ps_mask(b1, big, _CMP_LE_OQ) == 0xffff;
            float amax = finite ? _mm512_reduce_max_ps(_mm512_max_ps(b0, b1)) : 0.0f;
            float inv = block_inverse(finite, amax), dx = finite ? amax / 127.0f : NAN;
            int32_t sum = 0;
            if (finite) {
                __m512 vi = _mm512_set1_ps(inv);
                __m512 v0 = _mm512_roundscale_ps(_mm512_mul_ps(a0, vi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                __m512 v1 = _mm512_roundscale_ps(_mm512_mul_ps(a1, vi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                __m512i i0 = _mm512_cvtps_epi32(_mm512_max_ps(_mm512_min_ps(v0, lim), nlim));
                __m512i i1 = _mm512_cvtps_epi32(_mm512_max_ps(_mm512_min_ps(v1, lim), nlim));
                /* the codes past K are zeros (loaded as zeros) */
                _mm_storeu_si128((__m128i *)(qm + k0), _mm512_cvtepi32_epi8(i0));
                _mm_storeu_si128((__m128i *)(qm + k0 + 16), _mm512_cvtepi32_epi8(i1));
                sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
            }
            put_block(qm, K, b, dx, -z * sum);
        }
    }
}

/* The same with AVX2, 8 lanes at a time, for the CPUs that run the AVX2
 * integer kernel: a short last block is copied into zeros first (AVX2 has
 * no masked loads of this kind), and the codes are packed to bytes with the
 * packs' lane order undone. */
__attribute__((target("avx2"))) void gf_actq_quantize_avx2(gf_wtype t, const float *x, size_t ldx, size_t M,
                                                           size_t K, uint8_t *q) {
    size_t nb = gf_q_nblocks(K), row_bytes = gf_actq_row_bytes(K);
    int32_t z = zero_code(t);
    const __m256 lim = _mm256_set1_ps(127.0f), nlim = _mm256_set1_ps(-127.0f), big = _mm256_set1_ps(FLT_MAX);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t m = 0; m < M; m++) {
        const float *xm = x + m * ldx;
        uint8_t *qm = q + m * row_bytes;
        memset(qm, 0, row_bytes);
        for (size_t b = 0; b < nb; b++) {
            size_t k0 = b * GF_QBLOCK, n = K - k0 < GF_QBLOCK ? K - k0 : GF_QBLOCK;
            float tail[GF_QBLOCK] = {0};
            const float *src = xm + k0;
            if (n < GF_QBLOCK) {
                memcpy(tail, src, n * sizeof *tail);
                src = tail;
            }
            __m256 a[4], v[4];
            int finite = 1;
            __m256 mx = _mm256_setzero_ps();
            for (int i = 0; i < 4; i++) {
                a[i] = _mm256_loadu_ps(src + 8 * i);
                __m256 ab = _mm256_and_ps(a[i], absmask);
                /* NaN compares false: not finite */
                finite &= _mm256_movemask_ps(_mm256_cmp_ps(ab, big, _CMP_LE_OQ)) == 0xff;
                mx = _mm256_max_ps(mx, ab);
            }
            float lanes[8], amax = 0.0f;
            _mm256_storeu_ps(lanes, mx);
            for (int i = 0; i < 8; i++) amax = lanes[i] > amax ? lanes[i] : amax;
            if (!finite) amax = 0.0f;
            float inv = block_inverse(finite, amax), dx = finite ? amax / 127.0f : NAN;
            int32_t sum = 0;
            if (finite) {
                __m256 vi = _mm256_set1_ps(inv);
                __m256i c[4], s = _mm256_setzero_si256();
                for (int i = 0; i < 4; i++) {
                    v[i] = _mm256_round_ps(_mm256_mul_ps(a[i], vi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    c[i] = _mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(v[i], lim), nlim));
                    s = _mm256_add_epi32(s, c[i]);
                }
                __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
                _mm256_storeu_si256((__m256i *)(qm + k0), _mm256_permutevar8x32_epi32(p, order));
                int32_t part[8];
                _mm256_storeu_si256((__m256i *)part, s);
                for (int i = 0; i < 8; i++) sum += part[i];
            }
            put_block(qm, K, b, dx, -z * sum);
        }
    }
}
#else
void gf_actq_quantize_avx2(gf_wtype t, const float *x, size_t ldx, size_t M, size_t K, uint8_t *q) {
    gf_actq_quantize_scalar(t, x, ldx, M, K, q);
}
#endif

void gf_actq_quantize(gf_wtype t, const float *x, size_t ldx, size_t M, size_t K, uint8_t *q) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (gf_cpu_has_vnni()) { /* the CPUs the integer path runs on */
        quantize_avx512(t, x, ldx, M, K, q);
        return;
    }
    if (gf_cpu_has_avx2_int8()) {
        gf_actq_quantize_avx2(t, x, ldx, M, K, q);
        return;
    }
#endif
    gf_actq_quantize_scalar(t, x, ldx, M, K, q);
}

/* The integer the block scale multiplies for weight (row r, column j of
 * block b): Q8's code, or Q4's nibble - 8. */
static inline int32_t weight_code(const gf_mat *W, size_t r, size_t b, size_t j) {
    size_t K = W->cols;
    if (W->type == GF_W_Q8) return ((const int8_t *)W->data)[r * K + b * GF_QBLOCK + j];
    uint8_t byte = ((const uint8_t *)W->data)[r * gf_q4_row_bytes(K) + b * 16 + j % 16];
    return (int32_t)(j < 16 ? byte & 15 : byte >> 4) - 8;
}

/* Not vectorised: with -march=native on a CPU with AVX512-VNNI, GCC 12
 * turns the signed-by-signed byte sum below into vpdpbusd, which treats one
 * side as unsigned, and the result is wrong (seen with Debian's 12.2). The
 * twin must stay the plain arithmetic the tests trust. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
void gf_gemv_actq_rows_scalar(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                              size_t r0, size_t r1) {
    size_t K = W->cols, nb = gf_q_nblocks(K), row_bytes = gf_actq_row_bytes(K);
    for (size_t m = 0; m < M; m++) {
        const uint8_t *qm = q + m * row_bytes;
        for (size_t r = r0; r < r1; r++) {
            float acc = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                size_t n = K - b * GF_QBLOCK < GF_QBLOCK ? K - b * GF_QBLOCK : GF_QBLOCK;
                int32_t sum = 0;
                for (size_t j = 0; j < n; j++)
                    sum += weight_code(W, r, b, j) * (int32_t)(int8_t)qm[b * GF_QBLOCK + j];
                float dx;
                memcpy(&dx, qm + gf_actq_dx_offset(K) + 4 * b, sizeof dx);
                acc += gf_f16_to_f32(W->scale[r * nb + b]) * dx * (float)sum;
            }
            out[m * ldo + r] = acc;
        }
    }
}

double gf_actq_error_bound(const gf_mat *W, size_t r, const float *x) {
    size_t K = W->cols, nb = gf_q_nblocks(K);
    double bound = 0.0;
    for (size_t b = 0; b < nb; b++) {
        size_t k0 = b * GF_QBLOCK, n = K - k0 < GF_QBLOCK ? K - k0 : GF_QBLOCK;
        double amax = 0.0, wsum = 0.0, d = gf_f16_to_f32(W->scale[r * nb + b]);
        for (size_t j = 0; j < n; j++) {
            amax = fmax(amax, fabs((double)x[k0 + j]));
            wsum += fabs(d * (double)weight_code(W, r, b, j));
        }
        bound += amax / 254.0 * wsum;
    }
    return bound;
}

