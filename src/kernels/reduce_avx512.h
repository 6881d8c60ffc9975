/* Horizontal sums for the AVX-512 kernels (included by each of them, inside
 * their x86-64 GNU C part). */
#ifndef GF_REDUCE_AVX512_H
#define GF_REDUCE_AVX512_H

#include <immintrin.h>

/* The sums of a0..a3's lanes as one vector of 4: pairs interleaved and
 * added first, so 4 reductions share their shuffles (a third of the
 * instructions of 4 separate ones; at K = 1024 they were 15 % of a tile). */
static inline __attribute__((always_inline, target("avx512f,avx512dq"))) __m128
gf_reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    __m512 s01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1)); /* a0 a1 a0 a1 | .. */
    __m512 s23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(s01, s23, 0x44), _mm512_shuffle_ps(s01, s23, 0xee)); /* a0 a1 a2 a3 | .. */
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

#endif
