/* Weighted sums of rows (combine.c): the value half of decode attention. */
#ifndef GF_COMBINE_H
#define GF_COMBINE_H

#include <stddef.h>

#include "gemv.h"

/* out[m * ldo + d] += sum_{j < n} p[m * ldp + j] * v[j * ldv + d] for m < M,
 * d < D, each sum taken in order of j. The AVX-512 version uses fused
 * multiply-adds, so it differs from the scalar twin by rounding only; on
 * other CPUs the twin (which the compiler vectorises over d) does the work. */
void gf_combine_rows(gf_isa isa, const float *p, size_t ldp, size_t M, const float *v, size_t ldv,
                     size_t n, size_t D, float *out, size_t ldo);
void gf_combine_rows_scalar(const float *p, size_t ldp, size_t M, const float *v, size_t ldv, size_t n,
                            size_t D, float *out, size_t ldo);
void gf_combine_rows_avx512(const float *p, size_t ldp, size_t M, const float *v, size_t ldv, size_t n,
                            size_t D, float *out, size_t ldo);

#endif
