/* What the kernel tests (test_kernels.c, test_narrow_kernels.c) share:
 * a seeded random source, matrices of every weight type built from float
 * values, and the error measures the kernels are checked with. */
#ifndef GF_KERNEL_FIXTURES_H
#define GF_KERNEL_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* Uniform in [0, 1) and in [-1, 1), from one fixed-seed xorshift64* stream. */
double urand(void);
float nrand(void);

/* One matrix in a given type, built from float values, with its storage. */
typedef struct {
    gf_mat m;
    void *codes;
    uint16_t *scales;
    uint8_t *packed; /* Q8 / Q4: the codes and scales in the packed order */
    float *ref; /* the values the stored matrix stands for, [rows, cols] */
} tmat;

/* A rows x cols matrix of type t with values nrand() * scale (as stored:
 * ref holds what the stored codes stand for), and its release. */
tmat make_mat(gf_wtype t, size_t rows, size_t cols, float scale);
void free_mat(tmat *a);

/* The largest |got - want| over sum |x w| of the row's products, over M
 * input rows x N weight rows (outputs ldo apart). */
double rel_err(const float *got, const float *want, const float *x, const float *w, size_t M, size_t N,
               size_t K, size_t ldo);
/* sum_k x[k] w[k] in double, and sum_k |x[k] w[k]| in *mag. */
double exact_dot(const float *x, const float *w, size_t K, double *mag);
/* A kernel's output for a thread's share of rows [r0, N) in got (filled
 * with 12345 before): rows outside the share untouched, then rel_err of the
 * share against want. */
double share_error(float *got, const float *want, const float *x, const float *w, size_t M, size_t N, size_t K,
                   size_t ldo, size_t r0);

#endif
