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
 * the bit. On CPUs with AVX-VNNI (no AVX-512, but the 256-bit vpdpbusd) a
 * second copy of the kernel uses that instruction instead, the sums then
 * starting from the zero-code correction as in gemv_vnni.c; the two copies
 * come from one text, actq_avx2_tile.h. Compiled for their instruction sets
 * whatever the build flags are; gf_gemv_actq_rows calls each only on CPUs
 * that have it. */
#include "actq.h"
#include "cpu.h"
#include "gemv.h"

#include "quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <string.h>

#define INL static inline __attribute__((always_inline)) __attribute__((target("avx2,fma,f16c")))

/* 4 input codes as one int32 in every lane. */
INL __m256i x4(const uint8_t *codes, size_t dword) {
    int32_t v;
    memcpy(&v, codes + 4 * dword, 4);
    return _mm256_set1_epi32(v);
}

#define KX(name) name##_avx2
#define KX_TGT __attribute__((target("avx2,fma,f16c")))
#define KX_VNNI 0
#undef INL
#define INL static inline __attribute__((always_inline)) KX_TGT
#include "actq_avx2_tile.h"
#undef KX
#undef KX_TGT
#undef KX_VNNI
#undef INL

#define KX(name) name##_avxvnni
#define KX_TGT __attribute__((target("avx2,fma,f16c,avxvnni")))
#define KX_VNNI 1
#define INL static inline __attribute__((always_inline)) KX_TGT
#include "actq_avx2_tile.h"
#undef KX
#undef KX_TGT
#undef KX_VNNI

void gf_gemv_actq_rows_avx2(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1) {
    if (W->type == GF_W_Q8) rows_q8_avx2(W, q, M, out, ldo, r0, r1);
    else rows_q4_avx2(W, q, M, out, ldo, r0, r1);
}

void gf_gemv_actq_rows_avxvnni(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                               size_t r0, size_t r1) {
    if (W->type == GF_W_Q8) rows_q8_avxvnni(W, q, M, out, ldo, r0, r1);
    else rows_q4_avxvnni(W, q, M, out, ldo, r0, r1);
}

#else
void gf_gemv_actq_rows_avx2(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                            size_t r0, size_t r1) {
    gf_gemv_actq_rows_scalar(W, q, M, out, ldo, r0, r1);
}
void gf_gemv_actq_rows_avxvnni(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo,
                               size_t r0, size_t r1) {
    gf_gemv_actq_rows_scalar(W, q, M, out, ldo, r0, r1);
}
#endif


void gf_gemv_actq_rows(const gf_mat *W, const uint8_t *q, size_t M, float *out, size_t ldo, size_t r0,
                       size_t r1) {
    if (W->type == GF_W_Q4 && M >= GF_AMX_MIN_INPUTS_Q4 && gf_cpu_has_amx())
        gf_gemv_actq_rows_amx(W, q, M, out, ldo, r0, r1);
    else if (gf_cpu_has_vnni()) gf_gemv_actq_rows_vnni(W, q, M, out, ldo, r0, r1);
    else if (gf_cpu_has_avxvnni()) gf_gemv_actq_rows_avxvnni(W, q, M, out, ldo, r0, r1);
    else gf_gemv_actq_rows_avx2(W, q, M, out, ldo, r0, r1);
}

