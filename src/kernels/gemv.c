/* Choosing the small-batch product's implementation for this CPU. */
#include "gemv.h"

#include "cpu.h"

void gf_gemv_rows(gf_isa isa, const gf_mat *W, const float *x, size_t ldx, size_t M, float *out,
                  size_t ldo, size_t r0, size_t r1) {
    switch (isa) {
    case GF_ISA_AVX512: gf_gemv_rows_avx512(W, x, ldx, M, out, ldo, r0, r1); return;
    case GF_ISA_AVX2: gf_gemv_rows_avx2(W, x, ldx, M, out, ldo, r0, r1); return;
    case GF_ISA_SCALAR: break;
    }
    gf_gemv_rows_scalar(W, x, ldx, M, out, ldo, r0, r1);
}
