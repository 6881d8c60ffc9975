/* Weighted sums of rows: out[m] += sum_j p[m, j] v[j] for a few rows of
 * weights p at once, over the same rows v. It is the second half of a decode
 * step's attention (every head's probabilities times the value rows that MQA
 * shares between the heads), where the plain loop stored and reloaded its
 * sums at every row: held in registers here, a tile of up to 4 weight rows x
 * 64 columns, over value rows a block at a time so that the block stays in
 * L1 for every tile. */
#include "combine.h"

/* Value rows per block: 16 KiB of them. */
#define BLOCK_BYTES ((size_t)16384)

static size_t block_rows(size_t D) {
    size_t n = BLOCK_BYTES / (D * sizeof(float));
    return n < 8 ? 8 : n;
}

void gf_combine_rows_scalar(const float *p, size_t ldp, size_t M, const float *v, size_t ldv, size_t n,
                            size_t D, float *out, size_t ldo) {
    for (size_t m = 0; m < M; m++)
        for (size_t j = 0; j < n; j++) {
            float pj = p[m * ldp + j];
            for (size_t d = 0; d < D; d++) out[m * ldo + d] += pj * v[j * ldv + d];
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define INL static inline __attribute__((always_inline)) TGT

/* out rows [m, m + MT) x columns [d, d + 16 * NC) (the last vector masked by
 * mk) += p rows x v rows [j0, j1). */
INL void tile(const int MT, const int NC, const float *p, size_t ldp, const float *v, size_t ldv, size_t j0,
              size_t j1, float *out, size_t ldo, size_t d, __mmask16 mk) {
    __m512 acc[4][4];
    for (int i = 0; i < MT; i++)
        for (int c = 0; c < NC; c++) {
            __mmask16 k = c == NC - 1 ? mk : (__mmask16)0xffff;
            acc[i][c] = _mm512_maskz_loadu_ps(k, out + (size_t)i * ldo + d + 16 * (size_t)c);
        }
    for (size_t j = j0; j < j1; j++) {
        __m512 vv[4];
        for (int c = 0; c < NC; c++) {
            __mmask16 k = c == NC - 1 ? mk : (__mmask16)0xffff;
            vv[c] = _mm512_maskz_loadu_ps(k, v + j * ldv + d + 16 * (size_t)c);
            /* opaque, so the compiler keeps the row in a register for the MT
             * rows of weights: folded into each multiply-add as a memory
             * operand, it was loaded MT times, and the loads (one 64-byte
             * load a cycle here) held the kernel to 40 % of the FMA peak */
            __asm__("" : "+v"(vv[c]));
        }
        for (int i = 0; i < MT; i++) {
            __m512 pj = _mm512_set1_ps(p[(size_t)i * ldp + j]);
            for (int c = 0; c < NC; c++) acc[i][c] = _mm512_fmadd_ps(pj, vv[c], acc[i][c]);
        }
    }
    for (int i = 0; i < MT; i++)
        for (int c = 0; c < NC; c++) {
            __mmask16 k = c == NC - 1 ? mk : (__mmask16)0xffff;
            _mm512_mask_storeu_ps(out + (size_t)i * ldo + d + 16 * (size_t)c, k, acc[i][c]);
        }
}

/* All M weight rows for columns [d, d + 16 * NC). */
INL void columns(const int NC, const float *p, size_t ldp, size_t M, const float *v, size_t ldv, size_t j0,
                 size_t j1, float *out, size_t ldo, size_t d, __mmask16 mk) {
    size_t m = 0;
    for (; m + 4 <= M; m += 4) tile(4, NC, p + m * ldp, ldp, v, ldv, j0, j1, out + m * ldo, ldo, d, mk);
    switch (M - m) {
    case 3: tile(3, NC, p + m * ldp, ldp, v, ldv, j0, j1, out + m * ldo, ldo, d, mk); break;
    case 2: tile(2, NC, p + m * ldp, ldp, v, ldv, j0, j1, out + m * ldo, ldo, d, mk); break;
    case 1: tile(1, NC, p + m * ldp, ldp, v, ldv, j0, j1, out + m * ldo, ldo, d, mk); break;
    default: break;
    }
}

TGT void gf_combine_rows_avx512(const float *p, size_t ldp, size_t M, const float *v, size_t ldv,
                                size_t n, size_t D, float *out, size_t ldo) {
    size_t kb = block_rows(D);
    for (size_t j0 = 0; j0 < n; j0 += kb) {
        size_t j1 = n - j0 < kb ? n : j0 + kb, d = 0;
        for (; d + 64 <= D; d += 64) columns(4, p, ldp, M, v, ldv, j0, j1, out, ldo, d, 0xffff);
        size_t rest = D - d, nc = (rest + 15) / 16;
        if (!rest) continue;
        __mmask16 mk = rest % 16 ? (__mmask16)((1u << (rest % 16)) - 1) : (__mmask16)0xffff;
        switch (nc) { /* 1 to 4 vectors, the last masked */
        case 4: columns(4, p, ldp, M, v, ldv, j0, j1, out, ldo, d, mk); break;
        case 3: columns(3, p, ldp, M, v, ldv, j0, j1, out, ldo, d, mk); break;
        case 2: columns(2, p, ldp, M, v, ldv, j0, j1, out, ldo, d, mk); break;
        default: columns(1, p, ldp, M, v, ldv, j0, j1, out, ldo, d, mk); break;
        }
    }
}
#else
void gf_combine_rows_avx512(const float *p, size_t ldp, size_t M, const float *v, size_t ldv, size_t n,
                            size_t D, float *out, size_t ldo) {
    gf_combine_rows_scalar(p, ldp, M, v, ldv, n, D, out, ldo);
}
#endif

void gf_combine_rows(gf_isa isa, const float *p, size_t ldp, size_t M, const float *v, size_t ldv,
                     size_t n, size_t D, float *out, size_t ldo) {
    if (isa == GF_ISA_AVX512) gf_combine_rows_avx512(p, ldp, M, v, ldv, n, D, out, ldo);
    else gf_combine_rows_scalar(p, ldp, M, v, ldv, n, D, out, ldo);
}
