/* The kernel tests' shared fixtures (kernel_fixtures.h). */
#include "kernel_fixtures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemv.h"
#include "kernels/quant.h"
#include "testutil.h"
#include "util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
double urand(void) { /* xorshift64*, uniform [0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * 0x1p-53;
}
float nrand(void) { return (float)(urand() * 2.0 - 1.0); }


tmat make_mat(gf_wtype t, size_t rows, size_t cols, float scale) {
    tmat a = {0};
    size_t n = rows * cols, nb = gf_q_nblocks(cols);
    float *w = malloc(n * sizeof *w);
    a.ref = malloc(n * sizeof *a.ref);
    assert_non_null(w);
    assert_non_null(a.ref);
    for (size_t i = 0; i < n; i++) w[i] = scale * nrand();
    switch (t) {
    case GF_W_F32: a.codes = malloc(n * 4); memcpy(a.codes, w, n * 4); break;
    case GF_W_BF16:
    case GF_W_F16: {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = t == GF_W_BF16 ? gf_f32_to_bf16(w[i]) : gf_f32_to_f16(w[i]);
        a.codes = h;
        break;
    }
    case GF_W_Q8:
    case GF_W_Q4:
        a.codes = malloc(rows * (t == GF_W_Q8 ? gf_q8_row_bytes(cols) : gf_q4_row_bytes(cols)));
        a.scales = malloc(rows * nb * 2);
        for (size_t r = 0; r < rows; r++) {
            if (t == GF_W_Q8) gf_q8_quantize_row(w + r * cols, cols, (int8_t *)a.codes + r * cols, a.scales + r * nb);
            else gf_q4_quantize_row(w + r * cols, cols, (uint8_t *)a.codes + r * gf_q4_row_bytes(cols), a.scales + r * nb);
        }
        break;
    case GF_W_COUNT: break;
    }
    assert_non_null(a.codes);
    a.m = (gf_mat){t, a.codes, a.scales, rows, cols, NULL, NULL, NULL};
    if (t == GF_W_Q8 || t == GF_W_Q4) {
        size_t cb = gf_q_packed_bytes(&a.m);
        a.packed = malloc(cb + gf_q_packed_scale_bytes(&a.m));
        assert_non_null(a.packed);
        gf_q_pack(&a.m, a.packed, (uint16_t *)(a.packed + cb));
    }
    gf_dequantize_rows(&a.m, 0, rows, a.ref);
    /* the element reader and the row reader agree */
    for (size_t i = 0; i < n; i += 7) assert_true(gf_mat_at(&a.m, i / cols, i % cols) == a.ref[i]);
    free(w);
    return a;
}

void free_mat(tmat *a) {
    free(a->codes);
    free(a->scales);
    free(a->packed);
    free(a->ref);
}

/* max over outputs of |got - want| / (sum_k |x_k w_k| + tiny): float
 * accumulation in another order moves a dot product by a few ulp of that sum. */
double rel_err(const float *got, const float *want, const float *x, const float *w, size_t M, size_t N,
               size_t K, size_t ldo) {
    double worst = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t r = 0; r < N; r++) {
            double mag = 1e-30;
            for (size_t k = 0; k < K; k++) mag += fabs((double)x[m * K + k] * w[r * K + k]);
            double e = fabs((double)got[m * ldo + r] - want[m * ldo + r]) / mag;
            if (e > worst) worst = e;
        }
    return worst;
}

/* sum_k x[k] w[k] in double, and sum_k |x[k] w[k]| in *mag. */
double exact_dot(const float *x, const float *w, size_t K, double *mag) {
    double s = 0, m = 1e-30;
    for (size_t k = 0; k < K; k++) {
        s += (double)x[k] * w[k];
        m += fabs((double)x[k] * w[k]);
    }
    *mag = m;
    return s;
}

/* A kernel's output for a thread's share of rows [r0, N) in got (filled
 * with 12345 before): rows outside the share untouched, then the relative
 * error of the share against want (rows before r0 taken from want). */
double share_error(float *got, const float *want, const float *x, const float *w, size_t M, size_t N, size_t K,
                   size_t ldo, size_t r0) {
    for (size_t m = 0; m < M; m++) {
        for (size_t r = 0; r < r0; r++) assert_true(got[m * ldo + r] == 12345.0f);
        for (size_t r = N; r < ldo; r++) assert_true(got[m * ldo + r] == 12345.0f);
        for (size_t r = 0; r < r0; r++) got[m * ldo + r] = want[m * ldo + r];
    }
    return rel_err(got, want, x, w, M, N, K, ldo);
}
